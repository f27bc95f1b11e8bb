/*
 * vr_nodes.c - the node registry (vr_nodes.h).
 */
#include <stdlib.h>

#include "vr_nodes.h"

struct vr_node_slot {
    struct vr_node *node;
    bool reconciled;
    uint64_t last_seq;         /* the last event number seen */
};

void vr_nodes_init(struct vr_nodes *r)
{
    pthread_mutex_init(&r->lock, NULL);
    vr_map_init_int(&r->by_host);
}

void vr_nodes_release(struct vr_nodes *r)
{
    size_t pos = 0;
    struct vr_node_slot *s;

    while ((s = vr_map_next(&r->by_host, &pos))) {
        vr_node_close(s->node);
        free(s);
    }
    vr_map_release(&r->by_host);
    pthread_mutex_destroy(&r->lock);
}

void vr_nodes_add(struct vr_nodes *r, int64_t host_id, struct vr_node *n)
{
    struct vr_node_slot *s = vr_calloc(1, sizeof(*s)), *old;

    atomic_store(&n->host_id, host_id);
    s->node = n;
    /* events sent before it was registered went to no host */
    s->last_seq = atomic_load(&n->seq);
    pthread_mutex_lock(&r->lock);
    old = vr_map_put_int(&r->by_host, host_id, s);
    pthread_mutex_unlock(&r->lock);
    if (old) {
        vr_node_close(old->node);
        free(old);
    }
}

void vr_nodes_remove(struct vr_nodes *r, int64_t host_id)
{
    struct vr_node_slot *s;

    pthread_mutex_lock(&r->lock);
    s = vr_map_del_int(&r->by_host, host_id);
    pthread_mutex_unlock(&r->lock);
    if (s) {
        vr_node_close(s->node);
        free(s);
    }
}

struct vr_node *vr_nodes_get(struct vr_nodes *r, int64_t host_id)
{
    struct vr_node_slot *s;
    struct vr_node *n = NULL;

    pthread_mutex_lock(&r->lock);
    s = vr_map_get_int(&r->by_host, host_id);
    if (s)
        n = vr_node_ref(s->node);
    pthread_mutex_unlock(&r->lock);
    return n;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t *vr_nodes_hosts(struct vr_nodes *r, size_t *count)
{
    size_t pos = 0, n = 0;
    struct vr_node_slot *s;
    int64_t *ids;

    pthread_mutex_lock(&r->lock);
    ids = vr_malloc((r->by_host.count + 1) * sizeof(*ids));
    while ((s = vr_map_next(&r->by_host, &pos)))
        ids[n++] = atomic_load(&s->node->host_id);
    pthread_mutex_unlock(&r->lock);
    qsort(ids, n, sizeof(*ids), cmp_id);
    *count = n;
    return ids;
}

bool vr_nodes_reconciled(struct vr_nodes *r, int64_t host_id)
{
    struct vr_node_slot *s;
    bool yes;

    pthread_mutex_lock(&r->lock);
    s = vr_map_get_int(&r->by_host, host_id);
    yes = s && s->reconciled;
    pthread_mutex_unlock(&r->lock);
    return yes;
}

void vr_nodes_set_reconciled(struct vr_nodes *r, int64_t host_id, bool yes)
{
    struct vr_node_slot *s;

    pthread_mutex_lock(&r->lock);
    s = vr_map_get_int(&r->by_host, host_id);
    if (s)
        s->reconciled = yes;
    pthread_mutex_unlock(&r->lock);
}

bool vr_nodes_event_gap(struct vr_nodes *r, int64_t host_id, uint64_t seq,
                        uint64_t *expected)
{
    struct vr_node_slot *s;
    bool gap = false;

    pthread_mutex_lock(&r->lock);
    s = vr_map_get_int(&r->by_host, host_id);
    if (s) {
        *expected = s->last_seq + 1;
        gap = seq > s->last_seq + 1;
        if (seq > s->last_seq)
            s->last_seq = seq;
        if (gap)
            s->reconciled = false;
    }
    pthread_mutex_unlock(&r->lock);
    return gap;
}
