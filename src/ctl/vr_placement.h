/*
 * vr_placement.h - the controller's side of the scheduler: it feeds the
 * scheduler the hosts and the plans from the store, turns a VM record
 * into a request, asks an external placement service when one is
 * configured, parks creates that no host can take until capacity
 * appears, and renders a plan into the domain spec the node enforces.
 */
#ifndef VR_PLACEMENT_H
#define VR_PLACEMENT_H

#include "vr_ctl.h"
#include "vr_vmgroup.h"

/* Load every host and hold every placed VM's plan (start-up). */
int vr_placement_init(struct vr_ctl *ctl, struct vr_error *err);
void vr_placement_release_all(struct vr_ctl *ctl);

/* A host record changed: refresh the scheduler's view of it; wake parked
 * creates if placement-relevant data changed. */
void vr_placement_host_changed(struct vr_ctl *ctl, int64_t host_id);
/* A VM record changed or went: keep RUNNING_VMS counts. */
void vr_placement_vm_changed(struct vr_ctl *ctl, int64_t vm_id, bool gone,
                             int64_t host_id);

/* Check what a create request asks of placement (expressions compile,
 * topology and NUMA nodes add up, whole huge pages, device counts)
 * before it is accepted; needs no state. */
int vr_placement_check(const struct vr_vm_want *w, int vcpus,
                       uint64_t memory_mib, struct vr_error *err);

/* Why no host fits, said twice: `reasons` names the reasons only (for
 * the VM's owner, who may not see hosts); `detail` counts the hosts each
 * reason turned away (for operators). */
struct vr_placement_why {
    char reasons[512];
    char detail[512];
};

/* Decide and hold a placement for `vm`.  0: *plan filled and held; 1: no
 * host fits now (`why` says why; *gen is the scheduler's generation the
 * decision saw, for vr_placement_park); -1: err. */
int vr_placement_place(struct vr_ctl *ctl, const struct vr_vm *vm,
                       struct vr_sched_plan *plan,
                       struct vr_placement_why *why, uint64_t *gen,
                       struct vr_error *err);
/* Give back what a placed VM holds, and wake parked creates. */
void vr_placement_release(struct vr_ctl *ctl, const struct vr_vm *vm);

/* A create job that waits for capacity; re-queued when capacity may have
 * appeared (a plan released, a host added, enabled or reconfigured) -
 * at once if that happened since its decision saw generation `gen`. */
void vr_placement_park(struct vr_ctl *ctl, int64_t job_id, uint64_t gen);
void vr_placement_unpark(struct vr_ctl *ctl, int64_t job_id);

/* The placement part of a domain spec: topology, pinning, NUMA, huge
 * pages, host devices. */
void vr_placement_spec(struct vr_ctl *ctl, const struct vr_vm *vm,
                       struct vr_dom_spec *spec);

/* JSON of a host's allocation (free dedicated CPUs, pages, devices). */
json_t *vr_placement_host_usage(struct vr_ctl *ctl, int64_t host_id);

/* A change to a host's placement settings: the fields marked are taken
 * from `conf`, the rest kept. */
struct vr_host_patch {
    bool set_enabled, enabled;
    bool set_cluster;
    int64_t cluster_id;
    bool set_dedicated, set_reserved, set_reserved_memory;
    bool set_cpu_ratio, set_mem_ratio, set_labels, set_pools, set_pci;
    struct vr_host_conf conf;
};
/* Check the result against the host (its CPUs and devices) and the VMs
 * placed on it (a pinned thread stays dedicated), then store it. */
int vr_placement_host_configure(struct vr_ctl *ctl, int64_t host_id,
                                const struct vr_host_patch *p,
                                struct vr_error *err);

/* VM groups: create one owned by the caller (in its session's group);
 * delete one no VM belongs to (a VM the caller `who` may not see is never
 * named; NULL: the system). */
int vr_vm_groups_create(struct vr_ctl *ctl, const struct vr_principal *who,
                        struct vr_vm_group *g, struct vr_error *err);
int vr_vm_groups_delete(struct vr_ctl *ctl, const struct vr_principal *who,
                        int64_t id, struct vr_error *err);

/* Clusters.  bootstrap: make the "default" cluster if it is missing and
 * put every host that belongs to none in it (at start, before the local
 * host is read).  A patch sets each field flagged (0 / "" / none: back to
 * inheriting); create takes c as the whole cluster.  delete refuses the
 * default cluster and one that still has hosts. */
struct vr_cluster_patch {
    bool set_cpu_ratio, set_mem_ratio, set_labels, set_requirements,
        set_rank;
    struct vr_cluster c;
};
/* A ratio is 0 (inherited) or within its range: cpu 0.1-64, mem 0.1-4. */
int vr_placement_ratios_check(double cpu_ratio, double mem_ratio,
                              struct vr_error *err);
int vr_clusters_bootstrap(struct vr_ctl *ctl, struct vr_error *err);
int64_t vr_clusters_default(struct vr_ctl *ctl);
int vr_clusters_create(struct vr_ctl *ctl, struct vr_cluster *c,
                       struct vr_error *err);
int vr_clusters_update(struct vr_ctl *ctl, int64_t id,
                       const struct vr_cluster_patch *p, struct vr_error *err);
int vr_clusters_delete(struct vr_ctl *ctl, int64_t id, struct vr_error *err);
/* The scheduler follows a cluster's change (called on every commit). */
void vr_placement_cluster_changed(struct vr_ctl *ctl, int64_t cluster_id);

#endif
