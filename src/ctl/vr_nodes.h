/*
 * vr_nodes.h - the node registry: one node handle per host.
 *
 * Every caller that talks to a host (orchestrator, observer, monitor,
 * reconciler, the console log) finds the host's node here, by host id,
 * and holds its own reference while it uses it: a host removed meanwhile
 * closes its node only when the last user is done.  The registry also
 * remembers, per host, whether the host was reconciled since it last
 * answered (a host that stopped answering is reconciled again when it
 * answers).  Thread-safe (one mutex, held only to look up).
 */
#ifndef VR_NODES_H
#define VR_NODES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vr_map.h"
#include "vr_node.h"

struct vr_nodes {
    pthread_mutex_t lock;
    struct vr_map by_host;     /* host id -> struct vr_node_slot * */
};

void vr_nodes_init(struct vr_nodes *r);
/* Close every node (once their users are done). */
void vr_nodes_release(struct vr_nodes *r);

/* Register `n` (its reference passes to the registry) as the node of
 * `host_id`; a node registered before for it is closed. */
void vr_nodes_add(struct vr_nodes *r, int64_t host_id, struct vr_node *n);
/* Unregister a host's node (closed when its last user is done). */
void vr_nodes_remove(struct vr_nodes *r, int64_t host_id);
/* The node of `host_id` with a new reference (vr_node_close it), or NULL
 * if the host has none. */
struct vr_node *vr_nodes_get(struct vr_nodes *r, int64_t host_id);
/* The ids of the hosts that have a node, ascending (caller frees). */
int64_t *vr_nodes_hosts(struct vr_nodes *r, size_t *count);

/* Whether the host was reconciled since it last answered; set by the
 * reconciler, cleared when a call to the host finds it unreachable. */
bool vr_nodes_reconciled(struct vr_nodes *r, int64_t host_id);
/* A host's event number `seq` arrived: true if events before it were
 * lost (the host is then marked not reconciled). */
bool vr_nodes_event_gap(struct vr_nodes *r, int64_t host_id, uint64_t seq,
                        uint64_t *expected);
void vr_nodes_set_reconciled(struct vr_nodes *r, int64_t host_id, bool yes);

#endif
