/*
 * vr_reconcile.c - after a start (clean or after kill -9), make records,
 * jobs and the hosts agree before any new work is accepted:
 *
 *   1. a VM whose task points to a finished or missing job loses the task;
 *   2. every unfinished job is queued again, in id order (its phases are
 *      idempotent, so it converges: finished or failed, never doubled);
 *   3. a VM with no job takes the state its host reports;
 *   4. a domain of this installation with no VM record is destroyed and
 *      undefined, and a VM directory marked as this installation's with
 *      no VM record is removed.  What is not provably this installation's
 *      (another instance's metadata or mark, or none) is never touched.
 *
 * Steps 3 and 4 run per host (vr_ctl_reconcile_host): at start for every
 * host that answers, and later for a host when it answers again after it
 * could not be reached.
 */
#include <stdlib.h>
#include <string.h>

#include "vr_ctl.h"
#include "vr_log.h"

#define MOD "reconcile"

struct scan {
    struct vr_ctl *ctl;
    int64_t *vm_ids;
    size_t nvms, vcap;
    int64_t *job_ids;
    size_t njobs, jcap;
};

static void push(int64_t **a, size_t *n, size_t *cap, int64_t v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *a = vr_realloc(*a, *cap * sizeof(**a));
    }
    (*a)[(*n)++] = v;
}

static int scan_vm(const void *obj, void *opaque)
{
    const struct vr_vm *vm = obj;
    struct scan *sc = opaque;
    push(&sc->vm_ids, &sc->nvms, &sc->vcap, vm->hdr.id);
    return 0;
}

static int scan_job(const void *obj, void *opaque)
{
    const struct vr_job *job = obj;
    struct scan *sc = opaque;
    if (!vr_job_finished(job))
        push(&sc->job_ids, &sc->njobs, &sc->jcap, job->hdr.id);
    return 0;
}

/* A VM record of this installation has this UUID. */
static bool has_record(const char *uuid, void *ctx)
{
    struct vr_ctl *ctl = ctx;
    return vr_pool_id_by_uuid(&ctl->db.vms, uuid) != 0;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Step 1 for one VM. */
static void fix_stale_task(struct vr_ctl *ctl, int64_t vm_id)
{
    struct vr_tx tx;
    struct vr_vm vm;
    struct vr_job job;

    if (vr_tx_begin(&ctl->db, &tx, NULL) < 0)
        return;
    if (vr_pool_get(&ctl->db.vms, vm_id, &vm) < 0 ||
        vm.task.status != VR_TASK_ACTIVE ||
        (vr_pool_get(&ctl->db.jobs, vm.task.job_id, &job) == 0 &&
         !vr_job_finished(&job))) {
        vr_tx_abort(&tx);
        return;
    }
    VR_WARN(MOD, "vm '%s': its task '%s' had no live job; cleared",
            vm.hdr.name, vr_vm_op_name(vm.task.op));
    vr_vm_task_clear(&vm);
    if (vr_tx_put(&tx, &ctl->db.vms, &vm, NULL) < 0) {
        vr_tx_abort(&tx);
        return;
    }
    vr_tx_commit(&tx, NULL);
}

int vr_ctl_reconcile_host(struct vr_ctl *ctl, int64_t host_id,
                          struct vr_node *node, struct vr_error *err)
{
    struct vr_dom_info *doms = NULL;
    size_t ndoms = 0, nuuids = 0;
    char **uuids = NULL;
    int removed_doms = 0, removed_dirs = 0, corrected;

    /* 3 */
    corrected = vr_ctl_observe_host(ctl, host_id, node, &doms, &ndoms, err);
    if (corrected < 0)
        return -1;

    /* 4: domains */
    for (size_t k = 0; k < ndoms; k++) {
        struct vr_error e = VR_ERROR_INIT;
        if (vr_pool_id_by_uuid(&ctl->db.vms, doms[k].uuid))
            continue;
        VR_WARN(MOD, "domain %s (vm id %lld) has no vm record: removing it",
                doms[k].uuid, (long long)doms[k].vm_id);
        if (VR_NODE_CALL(node, dom_undefine, &e, doms[k].uuid) < 0)
            VR_WARN(MOD, "unable to remove domain %s: %s", doms[k].uuid, e.msg);
        else
            removed_doms++;
    }
    free(doms);

    /* 4: storage (only directories marked as this installation's; an
     * unmarked one from before marks is marked when a record of ours has
     * its UUID, else it is not ours to remove) */
    if (VR_NODE_CALL(node, vm_storage_list, err, has_record, ctl, &uuids,
                     &nuuids) < 0)
        return -1;
    for (size_t k = 0; k < nuuids; k++) {
        struct vr_error e = VR_ERROR_INIT;
        if (!vr_pool_id_by_uuid(&ctl->db.vms, uuids[k])) {
            VR_WARN(MOD, "vm directory %s has no vm record: removing it",
                    uuids[k]);
            if (VR_NODE_CALL(node, vm_storage_remove, &e, uuids[k]) < 0)
                VR_WARN(MOD, "unable to remove %s: %s", uuids[k], e.msg);
            else
                removed_dirs++;
        }
        free(uuids[k]);
    }
    free(uuids);
    vr_nodes_set_reconciled(&ctl->nodes, host_id, true);
    VR_INFO(MOD, "host %lld: %d states corrected, %d orphan domains and %d "
            "orphan directories removed", (long long)host_id, corrected,
            removed_doms, removed_dirs);
    return 0;
}

int vr_ctl_reconcile(struct vr_ctl *ctl, struct vr_error *err)
{
    struct scan sc;
    size_t nhosts;
    int64_t *hosts;
    int requeued = 0;

    (void)err;
    memset(&sc, 0, sizeof(sc));
    sc.ctl = ctl;
    vr_pool_foreach(&ctl->db.vms, scan_vm, &sc);

    /* 1 */
    for (size_t i = 0; i < sc.nvms; i++)
        fix_stale_task(ctl, sc.vm_ids[i]);

    /* 3 and 4, host by host: one that does not answer now is reconciled
     * by the monitor when it does (its VMs' records stay as they are) */
    hosts = vr_nodes_hosts(&ctl->nodes, &nhosts);
    for (size_t i = 0; i < nhosts; i++) {
        struct vr_node *node = vr_nodes_get(&ctl->nodes, hosts[i]);
        struct vr_error e = VR_ERROR_INIT;
        if (node && vr_ctl_reconcile_host(ctl, hosts[i], node, &e) < 0)
            VR_WARN(MOD, "host %lld: not reconciled now (%s); it will be "
                    "when it answers", (long long)hosts[i], e.msg);
        vr_node_close(node);
    }
    free(hosts);

    /* 2 */
    vr_pool_foreach(&ctl->db.jobs, scan_job, &sc);
    if (sc.njobs)
        qsort(sc.job_ids, sc.njobs, sizeof(*sc.job_ids), cmp_id);
    for (size_t i = 0; i < sc.njobs; i++) {
        vr_orch_enqueue(ctl, sc.job_ids[i]);
        requeued++;
    }
    VR_INFO(MOD, "%zu vms, %zu hosts, %d jobs resumed", sc.nvms, nhosts,
            requeued);
    free(sc.vm_ids);
    free(sc.job_ids);
    return 0;
}
