/*
 * vr_node.c - what every node transport shares: state names, the handle's
 * reference count, events.
 */
#include <stdlib.h>
#include <string.h>

#include "vr_node.h"

struct vr_node_req {
    char id[VR_NODE_REQID_SIZE];
    enum { REQ_RUNNING, REQ_DONE, REQ_UNCERTAIN } state;
};

struct vr_node *vr_node_new(const struct vr_node_ops *ops, void *priv,
                            vr_node_event_fn on_event, void *ctx)
{
    struct vr_node *n = vr_calloc(1, sizeof(*n));

    n->ops = ops;
    n->priv = priv;
    n->on_event = on_event;
    n->on_event_ctx = ctx;
    atomic_init(&n->refs, 1);
    atomic_init(&n->host_id, 0);
    atomic_init(&n->seq, 0);
    pthread_mutex_init(&n->req_lock, NULL);
    return n;
}

struct vr_node *vr_node_ref(struct vr_node *n)
{
    if (n)
        atomic_fetch_add(&n->refs, 1);
    return n;
}

void vr_node_emit(struct vr_node *n, const char *uuid, enum vr_dom_state state,
                  const char *why)
{
    uint64_t seq = atomic_fetch_add(&n->seq, 1) + 1;

    if (n->on_event)
        n->on_event(n->on_event_ctx, atomic_load(&n->host_id), seq, uuid,
                    state, why);
}

void vr_node_lose_event(struct vr_node *n)
{
    atomic_fetch_add(&n->seq, 1);
}

void vr_node_close(struct vr_node *n)
{
    if (!n || atomic_fetch_sub(&n->refs, 1) != 1)
        return;
    n->ops->close(n);
    pthread_mutex_destroy(&n->req_lock);
    free(n->reqs);
    free(n);
}

static struct vr_node_req *req_find(struct vr_node *n, const char *id)
{
    for (int i = 0; n->reqs && i < VR_NODE_REQIDS; i++)
        if (n->reqs[i].id[0] && strcmp(n->reqs[i].id, id) == 0)
            return &n->reqs[i];
    return NULL;
}

int vr_node_request_begin(struct vr_node *n, const char *id, int *rc,
                          struct vr_error *err)
{
    struct vr_node_req *r;
    size_t len = id ? strlen(id) : 0;

    if (len == 0 || len >= VR_NODE_REQID_SIZE) {
        *rc = vr_err(err, VR_E_INVALID, "a request id of 1 to %d bytes is "
                     "needed", VR_NODE_REQID_SIZE - 1);
        return 1;
    }
    pthread_mutex_lock(&n->req_lock);
    r = req_find(n, id);
    if (r) {
        if (r->state == REQ_DONE)
            *rc = 0;
        else if (r->state == REQ_RUNNING)
            *rc = vr_err(err, VR_E_CONFLICT, "request %s is in progress",
                         id);
        else
            *rc = vr_err(err, VR_E_CONFLICT, "request %s may have been "
                         "done (the hypervisor did not answer): it is not "
                         "done again; look at the guest, and ask anew", id);
        pthread_mutex_unlock(&n->req_lock);
        return 1;
    }
    if (!n->reqs)
        n->reqs = vr_calloc(VR_NODE_REQIDS, sizeof(*n->reqs));
    /* the oldest goes (one still in progress after VR_NODE_REQIDS
     * newer requests is forgotten: its end finds nothing) */
    r = &n->reqs[n->req_next++ % VR_NODE_REQIDS];
    vr_strlcpy(r->id, id, sizeof(r->id));
    r->state = REQ_RUNNING;
    pthread_mutex_unlock(&n->req_lock);
    return 0;
}

void vr_node_request_end(struct vr_node *n, const char *id, int rc,
                         bool uncertain)
{
    struct vr_node_req *r;

    pthread_mutex_lock(&n->req_lock);
    r = req_find(n, id);
    if (r && rc == 0)
        r->state = REQ_DONE;
    else if (r && uncertain)
        r->state = REQ_UNCERTAIN;
    else if (r)
        r->id[0] = '\0';
    pthread_mutex_unlock(&n->req_lock);
}
