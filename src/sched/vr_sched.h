/*
 * vr_sched.h - placement: which host, and on it which CPUs, NUMA cells,
 * huge pages and PCI devices a VM gets.
 *
 * The scheduler keeps, for every host, its topology (from libvirt, in
 * struct vr_host) and what the VMs placed on it hold: threads, memory per
 * cell, huge pages per cell and size, devices, shared vCPUs.  A decision
 * runs every filter on every host, ranks the hosts that pass, fits the VM
 * on the best one and reserves what the plan names, all under one lock:
 * two decisions cannot take the same thread, page or device.  When no host
 * fits, the answer says how many hosts each filter turned away.
 *
 * Pure logic: no I/O, no store.  The controller feeds it hosts and plans
 * (vr_placement.c) and persists the plans it returns.
 *
 * CPU policies:
 *   shared   vCPUs float over the host's shared CPUs (all but the dedicated
 *            and reserved ones), overcommitted by the host's cpu_ratio;
 *   thread   each vCPU pinned to its own dedicated host thread;
 *   core     each vCPU gets a whole dedicated core, its sibling threads
 *            left idle (held by the VM);
 *   isolate  the VM's vCPUs fill whole dedicated cores; no other VM runs on
 *            any thread of those cores.
 * Pinned and shared CPU sets never overlap: a host CPU is dedicated,
 * reserved or shared by configuration.
 */
#ifndef VR_SCHED_H
#define VR_SCHED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vr_enum.h"
#include "vr_error.h"
#include "vr_expr.h"
#include "vr_host.h"
#include "vr_map.h"

#define VR_SCHED_MAX_VCPUS 256
#define VR_SCHED_MAX_VNODES 8
#define VR_SCHED_MAX_DEVS 8
#define VR_SCHED_MAX_HOSTS_LIST 16
/* Free disk on a host that grew by this much (since the least it was
 * read at, or the last time it grew so) is capacity that may place a
 * waiting create; less is noise (logs, temporary files). */
#define VR_SCHED_DISK_STEP_MIB 256

#define VR_CPU_POLICIES(X)                                                 \
    X(VR_CPU_SHARED, "shared")                                             \
    X(VR_CPU_THREAD, "thread")                                             \
    X(VR_CPU_CORE, "core")                                                 \
    X(VR_CPU_ISOLATE, "isolate")

VR_ENUM_TYPE(vr_cpu_policy, VR_CPU_POLICIES, VR_CPU__LAST);
VR_ENUM_DECLARE(vr_cpu_policy, vr_cpu_policy);

/* A PCI device a VM asks for: by address, or by vendor/product and/or
 * class (zero fields match anything). */
struct vr_pci_spec {
    char addr[16];
    uint16_t vendor, product;
    uint32_t pci_class, class_mask;
};
/* "8086:1572", "class=0x0302", "0000:3b:00.0" */
int vr_pci_spec_parse(const char *s, struct vr_pci_spec *out,
                      struct vr_error *err);
void vr_pci_spec_format(const struct vr_pci_spec *s, char *out, size_t size);

/* How VMs of one VM-group role relate to each other. */
#define VR_AFFINITIES(X)                                                   \
    X(VR_AFF_NONE, "none")                                                 \
    X(VR_AFF_AFFINE, "affinity")                                           \
    X(VR_AFF_ANTI, "anti-affinity")

VR_ENUM_TYPE(vr_affinity, VR_AFFINITIES, VR_AFF__LAST);

/* What a VM needs: plain data, copied in. */
struct vr_sched_req {
    int64_t vm_id;
    int vcpus;
    uint64_t memory_mib;
    uint64_t disk_mib;
    enum vr_cpu_policy policy;
    int nvnodes;                       /* 0: no guest NUMA topology */
    struct {
        int vcpus;
        uint64_t memory_mib;
    } vnodes[VR_SCHED_MAX_VNODES];
    uint32_t page_kib;                 /* 0, 2048 or 1048576 */
    int npci;
    struct vr_pci_spec pci[VR_SCHED_MAX_DEVS];
    int nsriov;
    char sriov[VR_SCHED_MAX_DEVS][32]; /* SR-IOV network (pool) names */
    const struct vr_expr *requirements; /* borrowed, NULL: none */
    const struct vr_expr *rank;        /* borrowed, NULL: the policy's */
    /* Without the VM's own requirements (rank), a host is judged by its
     * cluster's (vr_sched_cluster_set), else by these (borrowed, NULL:
     * none, the policy's). */
    const struct vr_expr *default_requirements;
    const struct vr_expr *default_rank;
    int nhosts;                        /* host affinity list (ids) */
    int64_t hosts[VR_SCHED_MAX_HOSTS_LIST];
    bool force;                        /* hosts[0] without the filters */
    /* VM-group role: key "group/role", how its VMs relate */
    char role_key[48];
    enum vr_affinity affinity;
    bool affinity_hard;
};

/* Where a VM was placed and what it holds there. */
struct vr_sched_plan {
    int64_t host_id;
    enum vr_cpu_policy policy;
    int nvcpus;
    int16_t vcpu_cpu[VR_SCHED_MAX_VCPUS];  /* host CPU per vCPU, -1 float */
    int nheld;                             /* threads held (pinned+idle) */
    int16_t held[VR_SCHED_MAX_VCPUS * 2];
    int nvnodes;                           /* cells the VM is bound to */
    struct {
        int16_t cell;                      /* host cell */
        int16_t first_vcpu;
        int16_t nvcpus;
        uint64_t memory_mib;
    } vnodes[VR_SCHED_MAX_VNODES];
    uint32_t page_kib;                     /* huge pages of vnodes' cells */
    int ndevs;
    struct {
        char addr[16];
        char pool[32];                     /* SR-IOV network, "" for PCI */
    } devs[VR_SCHED_MAX_DEVS * 2];
    uint64_t memory_mib;
    uint64_t disk_mib;
    char role_key[48];
};

json_t *vr_sched_plan_to_json(const struct vr_sched_plan *p);
int vr_sched_plan_from_json(struct vr_sched_plan *p, const json_t *j,
                            struct vr_error *err);

/* Filters, in the order they run; a refusal is counted under the first
 * filter that turns a host away. */
#define VR_SCHED_FILTERS(X)                                                \
    X(VR_F_HOSTLIST, "are not in the VM's host list")                      \
    X(VR_F_DISABLED, "are disabled")                                       \
    X(VR_F_MONITOR, "are not monitored")                                   \
    X(VR_F_CPU, "lack shared CPU capacity")                                \
    X(VR_F_MEMORY, "lack memory")                                          \
    X(VR_F_DISK, "lack datastore space")                                   \
    X(VR_F_REQS, "fail the requirements")                                  \
    X(VR_F_AFFINITY, "break the VM group's affinity")                      \
    X(VR_F_ANTI, "break the VM group's anti-affinity")                     \
    X(VR_F_DEDICATED, "lack the dedicated CPUs")                           \
    X(VR_F_NUMA, "cannot fit the NUMA topology on their cells")            \
    X(VR_F_PAGES, "lack the huge pages")                                   \
    X(VR_F_PCI, "lack the PCI devices")                                    \
    X(VR_F_SRIOV, "lack the SR-IOV VFs")

enum vr_sched_filter {
#define VR_X(e, s) e,
    VR_SCHED_FILTERS(VR_X)
#undef VR_X
    VR_F__LAST
};

/* Why no host fitted: how many hosts each filter turned away. */
struct vr_sched_why {
    int hosts;
    int count[VR_F__LAST];
};
/* "no host fits: 1250 hosts: 1180 lack 4 free whole cores on one cell,
 * 60 fail the requirements, 10 are disabled" (most common first) */
void vr_sched_why_format(const struct vr_sched_why *w,
                         const struct vr_sched_req *req, char *out,
                         size_t size);
/* The same reasons without counting hosts, for those who may not see
 * them: "no host fits: hosts lack 4 free whole cores on one cell, fail the
 * requirements, are disabled" */
void vr_sched_why_reasons(const struct vr_sched_why *w,
                          const struct vr_sched_req *req, char *out,
                          size_t size);

/* Ranking when the VM has no rank expression. */
#define VR_SCHED_RANKS(X)                                                  \
    X(VR_RANK_PACK, "packing")     /* fill the busiest host first */       \
    X(VR_RANK_STRIPE, "striping")  /* spread: the most free memory first */ \
    X(VR_RANK_LOAD, "load")        /* the fewest running VMs first */

VR_ENUM_TYPE(vr_sched_rank, VR_SCHED_RANKS, VR_RANK__LAST);
VR_ENUM_DECLARE(vr_sched_rank, vr_sched_rank);

struct vr_sched_host;
struct vr_sched_hot;

struct vr_sched {
    pthread_mutex_t lock;
    struct vr_map by_id;               /* id -> struct vr_sched_host * */
    struct vr_sched_host **hosts;      /* iteration order: by id */
    struct vr_sched_hot *hot;          /* per host, same order: what most
                                        * decisions read, packed */
    size_t nhosts, cap;
    enum vr_sched_rank rank;
    uint64_t generation;               /* bumped when capacity frees up */
    struct vr_map clusters;            /* id -> struct vr_sched_cluster * */
    bool cluster_used[32];             /* attributes the clusters'
                                        * expressions read */
    int cluster_exprs;                 /* clusters with an expression */
};

void vr_sched_init(struct vr_sched *s, enum vr_sched_rank rank);
void vr_sched_release(struct vr_sched *s);

/* The generation: it changes whenever capacity may have appeared. */
uint64_t vr_sched_generation(struct vr_sched *s);

/* The attribute schema of requirements and rank expressions. */
const struct vr_expr_schema *vr_sched_schema(void);

/* Add or refresh a host from its record (topology, configuration, state);
 * what its VMs hold is kept.  -1 if the configuration is inconsistent
 * (e.g. a dedicated CPU that does not exist). */
int vr_sched_host_set(struct vr_sched *s, const struct vr_host *h,
                      struct vr_error *err);
void vr_sched_host_remove(struct vr_sched *s, int64_t host_id);

/* Add or change a cluster: its name and labels (the attributes CLUSTER,
 * CLUSTER_ID, CLUSTER_LABELS of its hosts) and its default requirements
 * and rank ("" none), which judge its hosts for a VM without its own.
 * Hosts join by their record's cluster_id.  -1 if an expression does not
 * compile (err says where). */
int vr_sched_cluster_set(struct vr_sched *s, int64_t id, const char *name,
                         const char (*labels)[32], int nlabels,
                         const char *requirements, const char *rank,
                         struct vr_error *err);
void vr_sched_cluster_remove(struct vr_sched *s, int64_t id);

/* The checks of a request that need no host: sizes, NUMA nodes adding
 * up, whole huge pages, device counts (VR_E_INVALID). */
int vr_sched_req_check(const struct vr_sched_req *r, struct vr_error *err);

/* Decide and reserve: on success *plan is filled and its resources are
 * held until vr_sched_release_plan.  On failure -1, with *why filled when
 * no host fits (err: VR_E_UNAVAILABLE with the summary) or err alone for
 * a request that can never fit (VR_E_INVALID). */
int vr_sched_place(struct vr_sched *s, const struct vr_sched_req *req,
                   struct vr_sched_plan *plan, struct vr_sched_why *why,
                   struct vr_error *err);
/* The hosts that pass every filter for `req`, best rank first (at most
 * `max`), without deciding: for an external placement service, which then
 * names one for vr_sched_place (req.hosts). */
int vr_sched_candidates(struct vr_sched *s, const struct vr_sched_req *req,
                        int64_t *ids, size_t max, size_t *n,
                        struct vr_sched_why *why, struct vr_error *err);

/* Hold what an existing plan names (start-up: plans read from the
 * store).  -1 if it collides with what is already held. */
int vr_sched_hold(struct vr_sched *s, const struct vr_sched_plan *plan,
                  int64_t vm_id, struct vr_error *err);
/* Give back what a plan holds. */
void vr_sched_release_plan(struct vr_sched *s, const struct vr_sched_plan *p,
                           int64_t vm_id);
/* A VM started or stopped running (for RUNNING_VMS). */
void vr_sched_running(struct vr_sched *s, int64_t host_id, int delta);

/* A host's allocation for display: JSON with per cell the free dedicated
 * threads and whole cores, free pages per size, free memory; free and used
 * devices; shared vCPUs used / capacity. */
json_t *vr_sched_host_usage(struct vr_sched *s, int64_t host_id);

/* Parse a CPU list "0-3,8,10-11" into a bitmap of `max` bits; -1 if bad. */
int vr_cpulist_parse(const char *s, uint8_t *bits, int max);
void vr_cpulist_format(const uint8_t *bits, int max, char *out, size_t size);

#endif
