/*
 * vr_hosts.h - hosts added by an operator, and the nodes that serve them.
 *
 * The local host registers itself (vr_ctl.c); other hosts are added
 * through the API with the transport that reaches them.  Today that is
 * "sim", the simulated node (vr_node_sim.h): in the same process, its
 * domains kept in <state_dir>/sim/<host uuid>.json and its faults read
 * from <state_dir>/sim/<host uuid>.faults.  Remote nodes come with the
 * node agent.
 */
#ifndef VR_HOSTS_H
#define VR_HOSTS_H

#include "vr_ctl.h"

struct vr_host_add_req {
    const char *name;
    const char *transport;          /* "sim" */
    const struct vr_host_caps *caps; /* NULL: synthetic from cpus/memory */
    int cpus;                       /* 0: 16 */
    uint64_t memory_mib;            /* 0: 64 GiB */
    int64_t cluster_id;             /* 0: the default cluster */
};

/* Add a host and open its node; it is MONITORED when this returns. */
int vr_hosts_add(struct vr_ctl *ctl, const struct vr_host_add_req *req,
                 int64_t *host_id, struct vr_error *err);
/* Remove a host: refused while VMs are on it, or for the host served in
 * this process. */
int vr_hosts_delete(struct vr_ctl *ctl, int64_t host_id, struct vr_error *err);
/* At start: open the node of every recorded host but the local one (a
 * host whose node cannot be opened is OFFLINE, with the reason). */
void vr_hosts_open_all(struct vr_ctl *ctl);
/* The node of a simulated host (tests reach it to inject faults). */
struct vr_node *vr_hosts_sim_node(struct vr_ctl *ctl, int64_t host_id);

#endif
