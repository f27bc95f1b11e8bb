/*
 * vr_node.c - what every node transport shares: state names, the handle's
 * reference count, events.
 */
#include <stdlib.h>

#include "vr_node.h"

static const char *const dom_state_names[] = {
#define VR_X(e, s) [e] = s,
    VR_DOM_STATES(VR_X)
#undef VR_X
};
_Static_assert(VR_ARRAY_SIZE(dom_state_names) == VR_DOM__LAST, "names");

const char *vr_dom_state_name(enum vr_dom_state s)
{
    return (unsigned)s < VR_DOM__LAST ? dom_state_names[s] : "unknown";
}

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
    free(n);
}
