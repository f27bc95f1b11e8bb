/*
 * vr_orch.c - the orchestrator: requests become persisted jobs, worker
 * threads run them phase by phase through the node interface.
 *
 * Rules:
 *  - A request is checked by the state machine (vr_vm_sm_check) and
 *    persisted together with its job in one transaction, under the write
 *    lock, before it is queued: two requests cannot both pass the check.
 *  - Every phase is recorded (job and VM task) before it acts, and every
 *    phase is idempotent, so a job interrupted by a crash is simply run
 *    again from the start by the reconciler and converges.
 *  - No transaction is held across a call to a host.
 *  - A job that was cancelled (recover) while its worker was busy has its
 *    outcome discarded.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vr_ctl.h"
#include "vr_fault.h"
#include "vr_log.h"
#include "vr_placement.h"
#include "vr_tenancy.h"
#include "vr_vmgroup.h"

#define MOD "orch"

/* what a VM may have fits in the node protocol's domain spec */
_Static_assert(VR_VM_MAX_DISKS <= VR_WIRE_MAX_DISKS, "disks");
_Static_assert(VR_VM_MAX_NICS <= VR_WIRE_MAX_NICS, "nics");
_Static_assert(VR_NAME_SIZE <= VR_WIRE_NAME_SIZE, "names");
_Static_assert(VR_VM_MIN_MEMORY_MIB >= VR_DOM_MIN_MEMORY_MIB, "memory");
_Static_assert(VR_SCHED_MAX_VCPUS <= VR_WIRE_MAX_VCPUS, "vcpus");
_Static_assert(VR_SCHED_MAX_VNODES <= VR_WIRE_MAX_CELLS, "cells");
_Static_assert(VR_SCHED_MAX_DEVS * 2 <= VR_WIRE_MAX_HOSTDEVS, "devices");

/* Job outcomes.  A parked job waits for capacity (vr_placement_park) and
 * runs again from the start when some may have appeared.  A waiting job
 * waits for its guest (wait_arm) with no worker and goes on where it
 * was when due. */
enum {
    JOB_OK = 0,
    JOB_FAILED = -1,
    JOB_INTERRUPTED = -2,
    JOB_PARKED = -3,
    JOB_WAITING = -4,
};

struct job_ctx {
    struct vr_ctl *ctl;
    struct vr_node *node;
    struct vr_job job;
    struct vr_vm vm;              /* snapshot, refreshed by jc_update */
    enum vr_vm_op op;             /* the operation carried out */
    enum vr_vm_state final;       /* state on success */
    bool remove_record;           /* delete: drop the VM on success */
    bool have_plan;               /* a waiting create found a host before
                                   * it ran: `plan` is held for it */
    struct vr_sched_plan plan;
};

/* The job talks to the node of its VM's host (a reference held until
 * the job ends, or until the VM moves to another host). */
static void jc_node(struct job_ctx *jc)
{
    if (jc->node && atomic_load(&jc->node->host_id) == jc->vm.host_id)
        return;
    vr_node_close(jc->node);
    jc->node = jc->vm.host_id ? vr_nodes_get(&jc->ctl->nodes, jc->vm.host_id)
                              : NULL;
}

/* ------------------------------------------------------------------ */
/* request side                                                        */

static void random_mac(char out[18])
{
    unsigned char b[3];
    vr_random_bytes(b, sizeof(b));
    snprintf(out, 18, "52:54:00:%02x:%02x:%02x", b[0], b[1], b[2]);
}

void vr_orch_enqueue(struct vr_ctl *ctl, int64_t job_id)
{
    pthread_mutex_lock(&ctl->qlock);
    if (ctl->qlen == ctl->qcap) {
        size_t ncap = ctl->qcap ? ctl->qcap * 2 : 64;
        int64_t *nq = vr_malloc(ncap * sizeof(*nq));
        for (size_t i = 0; i < ctl->qlen; i++)
            nq[i] = ctl->queue[(ctl->qhead + i) % ctl->qcap];
        free(ctl->queue);
        ctl->queue = nq;
        ctl->qcap = ncap;
        ctl->qhead = 0;
    }
    ctl->queue[(ctl->qhead + ctl->qlen) % ctl->qcap] = job_id;
    ctl->qlen++;
    pthread_cond_signal(&ctl->qcond);
    pthread_mutex_unlock(&ctl->qlock);
}

static void job_init(struct vr_ctl *ctl, struct vr_job *job, enum vr_vm_op op,
                     const struct vr_vm *vm, int64_t user_id)
{
    memset(job, 0, sizeof(*job));
    job->hdr.id = vr_pool_next_id(&ctl->db.jobs);
    /* who may see a job is who may see its VM */
    job->hdr.owner_id = vm->hdr.owner_id;
    job->hdr.group_id = vm->hdr.group_id;
    job->hdr.perms = vm->hdr.perms;
    job->requested_by = user_id;
    job->op = op;
    vr_strlcpy(job->object_kind, "vm", sizeof(job->object_kind));
    job->object_id = vm->hdr.id;
    vr_strlcpy(job->object_name, vm->hdr.name, sizeof(job->object_name));
    job->status = VR_JOB_QUEUED;
    vr_strlcpy(job->phase, "queued", sizeof(job->phase));
    job->origin = vm->state;
}

int vr_orch_vm_create_check(const struct vr_vm_create_req *req,
                            struct vr_error *err)
{
    if (vr_name_check(req->name, "vm name", err) < 0)
        return -1;
    if (req->vcpus < 1 || req->vcpus > VR_VM_MAX_VCPUS)
        return vr_err(err, VR_E_INVALID, "vcpus must be between 1 and %d",
                      VR_VM_MAX_VCPUS);
    if (req->memory_mib < VR_VM_MIN_MEMORY_MIB ||
        req->memory_mib > VR_VM_MAX_MEMORY_MIB)
        return vr_err(err, VR_E_INVALID,
                      "memory must be between %d MiB and 4 TiB",
                      VR_VM_MIN_MEMORY_MIB);
    if (req->nextra < 0 || req->nextra > VR_VM_MAX_DISKS - 1)
        return vr_err(err, VR_E_INVALID, "at most %d extra disks",
                      VR_VM_MAX_DISKS - 1);
    for (int i = 0; i < req->nextra; i++)
        if (req->extra_mib[i] < 1 || req->extra_mib[i] > VR_VM_MAX_DISK_MIB)
            return vr_err(err, VR_E_INVALID,
                          "disk %d: size must be between 1 MiB and 64 TiB",
                          i + 1);
    if (req->uuid && *req->uuid && !vr_uuid_valid(req->uuid))
        return vr_err(err, VR_E_INVALID, "uuid '%.40s' is not a UUID",
                      req->uuid);
    if (!req->image || !*req->image)
        return vr_err(err, VR_E_INVALID, "an image is required");
    return vr_placement_check(&req->want, req->vcpus, req->memory_mib, err);
}

struct usable {
    struct vr_ctl *ctl;
    const struct vr_principal *who;
};

static bool image_usable(const void *obj, void *ctx)
{
    const struct usable *u = ctx;
    return vr_authz_can(&u->ctl->authz, u->who, VR_RES_IMAGE, obj,
                        VR_RIGHT_USE);
}

static int largest_host(const void *obj, void *ctx)
{
    const struct vr_host *h = obj;
    uint64_t *largest = ctx;
    if (h->caps.memory_kib > *largest)
        *largest = h->caps.memory_kib;
    return 0;
}

static bool vm_group_usable(const void *obj, void *ctx)
{
    const struct usable *u = ctx;
    return vr_authz_can(&u->ctl->authz, u->who, VR_RES_VMGROUP, obj,
                        VR_RIGHT_USE);
}

/* Resolve what a create names (hosts, a VM group) and check who may ask
 * for it: forcing a host is for superusers. */
static int resolve_want(struct vr_ctl *ctl, const struct vr_vm_create_req *req,
                        const struct vr_principal *who, struct vr_vm_want *w,
                        struct vr_error *err)
{
    struct usable usable = {ctl, who};
    struct vr_vm_group g;

    if (w->force && !who->super)
        return vr_err(err, VR_E_FORBIDDEN, "only a session working in the "
                      "superuser group may force a host");
    for (int i = 0; i < w->nhosts; i++) {
        /* a host is named like in a path (id or name); one the caller
         * may not use does not exist for it */
        const char *ref = req->host_refs[i];
        struct vr_host *h;
        if (ref)
            w->hosts[i] = vr_pool_resolve(&ctl->db.hosts, ref);
        h = w->hosts[i] ? vr_pool_dup(&ctl->db.hosts, w->hosts[i]) : NULL;
        if (!h || !vr_authz_can_in(&ctl->authz, who, VR_RES_HOST, &h->hdr,
                                   h->cluster_id, VR_RIGHT_USE)) {
            vr_obj_free(&vr_host_kind, h);
            if (ref)
                return vr_err(err, VR_E_NOT_FOUND, "host '%.64s' not found",
                              ref);
            return vr_err(err, VR_E_NOT_FOUND, "host %lld not found",
                          (long long)w->hosts[i]);
        }
        vr_obj_free(&vr_host_kind, h);
    }
    if (req->vm_group) {
        int64_t id = vr_pool_find(&ctl->db.vm_groups, req->vm_group,
                                  who->user_id, vm_group_usable, &usable);
        if (id < 0)
            return vr_err(err, VR_E_CONFLICT, "several vm groups are named "
                          "'%.64s'; give its id", req->vm_group);
        if (!id)
            return vr_err(err, VR_E_NOT_FOUND, "vm group '%.64s' not found",
                          req->vm_group);
        w->vm_group = id;
    }
    if (w->vm_group) {
        if (vr_pool_get(&ctl->db.vm_groups, w->vm_group, &g) < 0 ||
            !vm_group_usable(&g, &usable)) {
            if (req->vm_group)
                return vr_err(err, VR_E_NOT_FOUND, "vm group '%.64s' not "
                              "found", req->vm_group);
            return vr_err(err, VR_E_NOT_FOUND, "vm group %lld not found",
                          (long long)w->vm_group);
        }
        if (vr_vm_group_role(&g, w->vm_group_role) < 0)
            return vr_err(err, VR_E_INVALID, "vm group '%s' has no role "
                          "'%.32s'", g.hdr.name, w->vm_group_role);
        if (!w->vm_group_role[0])
            vr_strlcpy(w->vm_group_role, g.roles[0].name,
                       sizeof(w->vm_group_role));
    } else if (w->vm_group_role[0]) {
        return vr_err(err, VR_E_INVALID, "vm_group_role needs a vm_group");
    }
    return 0;
}

/* Does libvirt know this UUID already (any domain, ours or not, running
 * or only defined)?  A requested UUID must be new to the hosts too: a
 * domain of another installation (or of no one) is never taken over.  0:
 * unknown; -1 with err (409 if known). */
static int uuid_known(struct vr_ctl *ctl, const char *uuid,
                      struct vr_error *err)
{
    size_t n;
    int64_t *hosts = vr_nodes_hosts(&ctl->nodes, &n);
    int rc = 0;

    /* every host that answers (one that does not refuses the UUID when
     * the VM is defined there: a node never defines over a domain that
     * is not this installation's) */
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct vr_node *node = vr_nodes_get(&ctl->nodes, hosts[i]);
        struct vr_dom_info info;
        struct vr_error e = VR_ERROR_INIT;

        if (node && VR_NODE_CALL(node, dom_info, &e, uuid, &info) == 0 &&
            (info.state != VR_DOM_NONE || info.foreign))
            rc = vr_err(err, VR_E_CONFLICT, "uuid '%s' is already in use by "
                        "a domain on a host; choose another", uuid);
        vr_node_close(node);
    }
    free(hosts);
    return rc;
}

int vr_orch_vm_create(struct vr_ctl *ctl, const struct vr_vm_create_req *req,
                      const struct vr_principal *who, int64_t *vm_id,
                      int64_t *job_id, struct vr_error *err)
{
    struct usable usable = {ctl, who};
    struct vr_quota charge;
    struct vr_vm vm;
    struct vr_job job;
    struct vr_image image;
    int64_t image_id;
    struct vr_tx tx;
    char sz[16];

    if (vr_orch_vm_create_check(req, err) < 0)
        return -1;

    memset(&vm, 0, sizeof(vm));
    if (req->uuid && *req->uuid) {
        if (vr_uuid_normalize(req->uuid, vm.hdr.uuid) < 0)
            return vr_err(err, VR_E_INVALID, "uuid '%.40s' is not a UUID",
                          req->uuid);
        if (vr_pool_id_by_uuid(&ctl->db.vms, vm.hdr.uuid))
            return vr_err(err, VR_E_CONFLICT,
                          "a vm with uuid '%s' already exists", vm.hdr.uuid);
        if (uuid_known(ctl, vm.hdr.uuid, err) != 0)
            return -1;
    } else {
        vr_uuid_generate(vm.hdr.uuid);
    }

    image_id = vr_pool_find(&ctl->db.images, req->image, who->user_id,
                            image_usable, &usable);
    if (image_id < 0)
        return vr_err(err, VR_E_CONFLICT, "several images are named '%.64s'; "
                      "give its id", req->image);
    if (!image_id || vr_pool_get(&ctl->db.images, image_id, &image) < 0 ||
        !image_usable(&image, &usable))
        return vr_err(err, VR_E_NOT_FOUND, "image '%.64s' not found",
                      req->image ? req->image : "");
    if (image.state != VR_IMAGE_READY)
        return vr_err(err, VR_E_CONFLICT,
                      "image '%s' is %s: upload its data first",
                      image.hdr.name, vr_image_state_name(image.state));
    if (image.error[0])
        return vr_err(err, VR_E_CONFLICT, "image '%s' is unusable: %s",
                      image.hdr.name, image.error);
    {
        uint64_t largest = 0;
        vr_pool_foreach(&ctl->db.hosts, largest_host, &largest);
        if (!largest)
            return vr_err(err, VR_E_UNAVAILABLE, "no host is registered");
        if (req->memory_mib * 1024 > largest) {
            vr_format_size(largest * 1024, sz, sizeof(sz));
            return vr_err(err, VR_E_UNPROCESSABLE,
                          "memory %llu MiB is more than any host has "
                          "(largest: %s)",
                          (unsigned long long)req->memory_mib, sz);
        }
    }
    vm.want = req->want;
    if (resolve_want(ctl, req, who, &vm.want, err) < 0)
        return -1;

    vm.hdr.id = vr_pool_next_id(&ctl->db.vms);
    vr_strlcpy(vm.hdr.name, req->name, sizeof(vm.hdr.name));
    vm.hdr.owner_id = who->user_id;
    vm.hdr.group_id = who->group_id;
    vm.hdr.perms = VR_PERMS_DEFAULT;
    vm.state = VR_VM_PENDING;
    vm.state_at = vr_now_ms();
    vm.vcpus = req->vcpus;
    vm.memory_mib = req->memory_mib;
    vm.image_id = image.hdr.id;
    vm.full_clone = req->full_clone;
    vm.start = req->start;
    vm.ndisks = 1 + req->nextra;
    for (int i = 0; i < vm.ndisks; i++) {
        struct vr_vm_disk *d = &vm.disks[i];
        snprintf(d->target, sizeof(d->target), "vd%c", 'a' + i);
        d->boot = i == 0;
        d->size_mib = i == 0 ? (image.virtual_size + (1 << 20) - 1) >> 20
                             : req->extra_mib[i - 1];
        vr_strlcpy(d->format, "qcow2", sizeof(d->format));
    }
    vm.nnics = 1;
    vr_strlcpy(vm.nics[0].model, "virtio", sizeof(vm.nics[0].model));
    vr_strlcpy(vm.nics[0].mode, "user", sizeof(vm.nics[0].mode));
    random_mac(vm.nics[0].mac);

    job_init(ctl, &job, VR_OP_CREATE, &vm, who->user_id);
    vr_vm_task_begin(&vm, VR_OP_CREATE, job.hdr.id);
    vr_quota_of_vm(&vm, &charge);

    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    /* the image may have been deleted since we looked: check under lock */
    if (vr_pool_get(&ctl->db.images, image.hdr.id, &image) < 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "image '%s' not found",
                      req->image);
    }
    if (vm.want.vm_group && !vr_pool_has(&ctl->db.vm_groups,
                                         vm.want.vm_group)) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "vm group %lld not found",
                      (long long)vm.want.vm_group);
    }
    /* quotas are checked and charged in the same transaction: concurrent
     * creates cannot overshoot them */
    if (vr_quota_charge(ctl, &tx, vm.hdr.owner_id, vm.hdr.group_id, &charge,
                        1, err) < 0 ||
        vr_tx_put(&tx, &ctl->db.vms, &vm, err) < 0 ||
        vr_tx_put(&tx, &ctl->db.jobs, &job, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    if (vr_tx_commit(&tx, err) < 0)
        return -1;
    VR_INFO(MOD, "vm %lld '%s' accepted (job %lld)", (long long)vm.hdr.id,
            vm.hdr.name, (long long)job.hdr.id);
    vr_orch_enqueue(ctl, job.hdr.id);
    *vm_id = vm.hdr.id;
    *job_id = job.hdr.id;
    return 0;
}

int vr_orch_vm_request(struct vr_ctl *ctl, int64_t vm_id, enum vr_vm_op op,
                       int timeout_s, enum vr_recover_mode mode,
                       const struct vr_principal *who, int64_t *job_id,
                       struct vr_error *err)
{
    int64_t user_id = who->user_id;
    struct vr_vm vm;
    struct vr_job job, old;
    struct vr_tx tx;
    bool have_old = false;

    if (op == VR_OP_CREATE || op == VR_OP_NONE || op >= VR_OP__LAST)
        return vr_err(err, VR_E_INVALID, "unknown operation");
    if (op == VR_OP_RECOVER && mode == VR_RECOVER_NONE)
        return vr_err(err, VR_E_INVALID,
                      "recover needs a mode: retry, success or failure");
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.vms, vm_id, &vm) < 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "vm %lld not found",
                      (long long)vm_id);
    }
    if (vr_vm_sm_check(&vm, op, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    job_init(ctl, &job, op, &vm, user_id);
    job.timeout_s = timeout_s;
    if (op == VR_OP_DELETE && vm.task.status == VR_TASK_ACTIVE &&
        vr_pool_get(&ctl->db.jobs, vm.task.job_id, &old) == 0 &&
        !vr_job_finished(&old)) {
        /* what runs (a create in flight, a stop waiting for the guest, a
         * create waiting for a host) ends here: its worker stops at its
         * next step, and the delete waits for it (hold_object) */
        have_old = true;
        old.status = VR_JOB_CANCELLED;
        old.finished_at = vr_now_ms();
        snprintf(old.error, sizeof(old.error),
                 "cancelled: the vm was deleted%s (job %lld)",
                 vr_vm_waiting_for_host(&vm) ? " while waiting for a host"
                                             : "",
                 (long long)job.hdr.id);
    }
    if (op == VR_OP_RECOVER) {
        job.recover = mode;
        job.target_op = vm.task.status != VR_TASK_NONE ? vm.task.op
                                                       : VR_OP_NONE;
        if (vm.task.job_id &&
            vr_pool_get(&ctl->db.jobs, vm.task.job_id, &old) == 0) {
            have_old = true;
            job.origin = old.origin;
            job.timeout_s = old.timeout_s;
            if (!vr_job_finished(&old)) {
                old.status = VR_JOB_CANCELLED;
                old.finished_at = vr_now_ms();
                snprintf(old.error, sizeof(old.error),
                         "cancelled by recover --%s (job %lld)",
                         vr_recover_mode_name(mode), (long long)job.hdr.id);
            }
        }
        /* recovering a recover: recover what it was recovering */
        if (job.target_op == VR_OP_RECOVER && have_old)
            job.target_op = old.target_op;
    }
    vr_vm_task_begin(&vm, op, job.hdr.id);
    vm.error[0] = '\0';
    if ((have_old && vr_tx_put(&tx, &ctl->db.jobs, &old, err) < 0) ||
        vr_tx_put(&tx, &ctl->db.vms, &vm, err) < 0 ||
        vr_tx_put(&tx, &ctl->db.jobs, &job, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    if (vr_tx_commit(&tx, err) < 0)
        return -1;
    if (have_old && old.status == VR_JOB_CANCELLED)
        vr_placement_unpark(ctl, old.hdr.id);
    VR_INFO(MOD, "vm %lld '%s': %s accepted (job %lld)", (long long)vm_id,
            vm.hdr.name, vr_vm_op_name(op), (long long)job.hdr.id);
    vr_orch_enqueue(ctl, job.hdr.id);
    *job_id = job.hdr.id;
    return 0;
}

/* ------------------------------------------------------------------ */
/* job side                                                            */

typedef void (*vm_mutator)(struct vr_vm *vm, const void *arg);

static bool job_cancelled(struct job_ctx *jc);

/* Record a phase (job and VM task) and optionally change VM fields, in one
 * transaction.  Refreshes jc->vm.  Returns JOB_INTERRUPTED when the job
 * was cancelled or the daemon is stopping. */
static int jc_update(struct job_ctx *jc, const char *phase, int progress,
                     vm_mutator mut, const void *arg, struct vr_error *err)
{
    struct vr_ctl *ctl = jc->ctl;
    struct vr_tx tx;
    struct vr_job job;
    struct vr_vm vm;
    char point[64];

    if (atomic_load(&ctl->stopping))
        return JOB_INTERRUPTED;
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return JOB_FAILED;
    if (vr_pool_get(&ctl->db.jobs, jc->job.hdr.id, &job) < 0 ||
        job.status != VR_JOB_RUNNING) {
        vr_tx_abort(&tx);
        return JOB_INTERRUPTED;
    }
    if (phase) {
        vr_strlcpy(job.phase, phase, sizeof(job.phase));
        job.progress = progress;
    }
    if (vr_pool_get(&ctl->db.vms, job.object_id, &vm) == 0) {
        if (vm.task.job_id == job.hdr.id && phase)
            vr_strlcpy(vm.task.phase, phase, sizeof(vm.task.phase));
        if (mut)
            mut(&vm, arg);
        if (vr_tx_put(&tx, &ctl->db.vms, &vm, err) < 0) {
            vr_tx_abort(&tx);
            return JOB_FAILED;
        }
        jc->vm = vm;
    }
    if (vr_tx_put(&tx, &ctl->db.jobs, &job, err) < 0) {
        vr_tx_abort(&tx);
        return JOB_FAILED;
    }
    if (vr_tx_commit(&tx, err) < 0)
        return JOB_FAILED;
    jc->job = job;
    if (phase) {
        snprintf(point, sizeof(point), "%s.%s", vr_vm_op_name(jc->op), phase);
        vr_fault_point(point);
        /* a job cancelled while it was held up here does not act */
        if (job_cancelled(jc))
            return JOB_INTERRUPTED;
    }
    return JOB_OK;
}

#define PHASE(jc, name, pct, err)                                          \
    do {                                                                   \
        int rc_ = jc_update((jc), (name), (pct), NULL, NULL, (err));       \
        if (rc_ != JOB_OK)                                                 \
            return rc_;                                                    \
    } while (0)

#define NODE(jc, op, err, ...)                                             \
    do {                                                                   \
        if (!(jc)->node)                                                   \
            return no_node((jc), (err));                                   \
        if (VR_NODE_CALL((jc)->node, op, (err), __VA_ARGS__) < 0)          \
            return JOB_FAILED;                                             \
    } while (0)

static int no_node(struct job_ctx *jc, struct vr_error *err)
{
    if (!jc->vm.host_id)
        vr_err(err, VR_E_STATE, "vm '%s' is on no host", jc->vm.hdr.name);
    else
        vr_err(err, VR_E_UNAVAILABLE, "host %lld of vm '%s' is not "
               "connected", (long long)jc->vm.host_id, jc->vm.hdr.name);
    return JOB_FAILED;
}

static bool job_cancelled(struct job_ctx *jc)
{
    struct vr_job job;
    if (atomic_load(&jc->ctl->stopping))
        return true;
    return vr_pool_get(&jc->ctl->db.jobs, jc->job.hdr.id, &job) < 0 ||
           job.status != VR_JOB_RUNNING;
}

/* ---- waits that hold no worker
 *
 * A job that waits for its guest (a stop for the guest to shut down)
 * arms a wait and leaves its worker: a guest that ignores ACPI must not
 * hold one of the few workers, and so every other VM's operations, for
 * its whole stop timeout.  A worker with nothing queued takes the wait
 * when it is due (or at once when a domain changes), and the job goes
 * on from where it was, without recording a new attempt.  Waits live in
 * memory: after a restart the job resumes from its recorded phase. */

#define WAIT_LOOK_MS 1000          /* look again at least this often */
#define WAIT_TAKEN INT64_MAX       /* `due` of a wait being looked at */

static ssize_t wait_index(struct vr_ctl *ctl, int64_t job)   /* qlock */
{
    for (size_t i = 0; i < ctl->nwaits; i++)
        if (ctl->waits[i].job == job)
            return (ssize_t)i;
    return -1;
}

/* The deadline of the job's wait; false if it has none. */
static bool wait_deadline(struct vr_ctl *ctl, int64_t job, int64_t *deadline)
{
    ssize_t i;

    pthread_mutex_lock(&ctl->qlock);
    i = wait_index(ctl, job);
    if (i >= 0 && deadline)
        *deadline = ctl->waits[i].deadline;
    pthread_mutex_unlock(&ctl->qlock);
    return i >= 0;
}

/* Look at the job again at `due` (or at a domain event), until
 * `deadline`. */
static void wait_arm(struct vr_ctl *ctl, int64_t job, int64_t due,
                     int64_t deadline)
{
    ssize_t i;

    pthread_mutex_lock(&ctl->qlock);
    i = wait_index(ctl, job);
    if (i < 0) {
        if (ctl->nwaits == ctl->waits_cap) {
            ctl->waits_cap = ctl->waits_cap ? ctl->waits_cap * 2 : 16;
            ctl->waits = vr_realloc(ctl->waits,
                                    ctl->waits_cap * sizeof(*ctl->waits));
        }
        i = (ssize_t)ctl->nwaits++;
        ctl->waits[i].job = job;
    }
    ctl->waits[i].due = due;
    ctl->waits[i].deadline = deadline;
    pthread_cond_signal(&ctl->qcond);
    pthread_mutex_unlock(&ctl->qlock);
}

static void wait_drop(struct vr_ctl *ctl, int64_t job)
{
    ssize_t i;

    pthread_mutex_lock(&ctl->qlock);
    i = wait_index(ctl, job);
    if (i >= 0)
        ctl->waits[i] = ctl->waits[--ctl->nwaits];
    pthread_mutex_unlock(&ctl->qlock);
}

/* A wait that is due (qlock held): taken, its job id in *job. */
static bool wait_take_due(struct vr_ctl *ctl, int64_t now, int64_t *job)
{
    for (size_t i = 0; i < ctl->nwaits; i++)
        if (ctl->waits[i].due <= now) {
            ctl->waits[i].due = WAIT_TAKEN;
            *job = ctl->waits[i].job;
            return true;
        }
    return false;
}

/* When the next wait is due (qlock held); INT64_MAX: none. */
static int64_t wait_next_due(struct vr_ctl *ctl)
{
    int64_t next = INT64_MAX;

    for (size_t i = 0; i < ctl->nwaits; i++)
        if (ctl->waits[i].due < next)
            next = ctl->waits[i].due;
    return next;
}

void vr_orch_domain_changed(struct vr_ctl *ctl)
{
    int64_t now = vr_mono_ms();

    /* a waiting job may be done: look now */
    pthread_mutex_lock(&ctl->qlock);
    for (size_t i = 0; i < ctl->nwaits; i++)
        if (ctl->waits[i].due != WAIT_TAKEN && ctl->waits[i].due > now)
            ctl->waits[i].due = now;
    if (ctl->nwaits)
        pthread_cond_broadcast(&ctl->qcond);
    pthread_mutex_unlock(&ctl->qlock);
}

static void build_spec(struct job_ctx *jc, struct vr_dom_spec *spec)
{
    const struct vr_vm *vm = &jc->vm;
    struct vr_host host;

    memset(spec, 0, sizeof(*spec));
    vr_strlcpy(spec->uuid, vm->hdr.uuid, sizeof(spec->uuid));
    vr_strlcpy(spec->vm_name, vm->hdr.name, sizeof(spec->vm_name));
    spec->vm_id = vm->hdr.id;
    vr_strlcpy(spec->instance, jc->ctl->instance, sizeof(spec->instance));
    if (vr_pool_get(&jc->ctl->db.hosts, vm->host_id, &host) == 0 &&
        host.hypervisor[0])
        vr_strlcpy(spec->hypervisor, host.hypervisor, sizeof(spec->hypervisor));
    else
        vr_strlcpy(spec->hypervisor, "qemu", sizeof(spec->hypervisor));
    spec->vcpus = vm->vcpus;
    spec->memory_mib = vm->memory_mib;
    spec->ndisks = vm->ndisks;
    for (int i = 0; i < vm->ndisks; i++) {
        vr_strlcpy(spec->disks[i].target, vm->disks[i].target,
                   sizeof(spec->disks[i].target));
        vr_strlcpy(spec->disks[i].path, vm->disks[i].path,
                   sizeof(spec->disks[i].path));
        vr_strlcpy(spec->disks[i].format, vm->disks[i].format,
                   sizeof(spec->disks[i].format));
        spec->disks[i].boot = vm->disks[i].boot;
    }
    spec->nnics = vm->nnics;
    for (int i = 0; i < vm->nnics; i++) {
        vr_strlcpy(spec->nics[i].model, vm->nics[i].model,
                   sizeof(spec->nics[i].model));
        vr_strlcpy(spec->nics[i].mode, vm->nics[i].mode,
                   sizeof(spec->nics[i].mode));
        vr_strlcpy(spec->nics[i].mac, vm->nics[i].mac,
                   sizeof(spec->nics[i].mac));
    }
    vr_strlcpy(spec->console_log, vm->console_log, sizeof(spec->console_log));
    vr_placement_spec(jc->ctl, vm, spec);
}

/* ---- mutators */

struct disk_arg {
    int index;
    const struct vr_disk_made *disk;
};

static void mut_disk(struct vr_vm *vm, const void *arg)
{
    const struct disk_arg *d = arg;
    struct vr_vm_disk *t = &vm->disks[d->index];
    vr_strlcpy(t->path, d->disk->path, sizeof(t->path));
    vr_strlcpy(t->format, d->disk->format, sizeof(t->format));
    t->size_mib = d->disk->size_mib;
}

static void mut_console(struct vr_vm *vm, const void *arg)
{
    vr_strlcpy(vm->console_log, arg, sizeof(vm->console_log));
}

struct placed_arg {
    const struct vr_sched_plan *plan;
    const char *host_name;
};

static void mut_placed(struct vr_vm *vm, const void *arg)
{
    const struct placed_arg *p = arg;
    vm->placed = true;
    vm->plan = *p->plan;
    vm->placement_why[0] = '\0';
    vm->placement_detail[0] = '\0';
    vm->host_id = p->plan->host_id;
    vr_strlcpy(vm->host_name, p->host_name, sizeof(vm->host_name));
}

static void mut_why(struct vr_vm *vm, const void *arg)
{
    const struct vr_placement_why *w = arg;
    vr_strlcpy(vm->placement_why, w->reasons, sizeof(vm->placement_why));
    vr_strlcpy(vm->placement_detail, w->detail,
               sizeof(vm->placement_detail));
}

static void mut_pending(struct vr_vm *vm, const void *arg)
{
    (void)arg;
    vr_vm_set_state(vm, VR_VM_PENDING, vr_now_ms());
}

/* ---- operations */

/* Define the domain, then record where its console goes (if that
 * changed) and the `next` phase (if any), in one transaction. */
static int do_define(struct job_ctx *jc, const char *next, int progress,
                     struct vr_error *err)
{
    struct vr_dom_spec spec;
    bool moved;

    build_spec(jc, &spec);
    NODE(jc, dom_define, err, &spec);
    moved = strcmp(spec.console_log, jc->vm.console_log) != 0;
    if (!moved && !next)
        return JOB_OK;
    return jc_update(jc, next, progress, moved ? mut_console : NULL,
                     spec.console_log, err);
}

static int op_create(struct job_ctx *jc, struct vr_error *err)
{
    struct vr_ctl *ctl = jc->ctl;
    struct vr_host host;
    struct vr_image image;
    int rc;

    if (jc->vm.state != VR_VM_PENDING) {
        rc = jc_update(jc, NULL, 0, mut_pending, NULL, err);
        if (rc != JOB_OK)
            return rc;
    }
    PHASE(jc, "schedule", 5, err);
    if (!jc->vm.placed) {
        struct vr_sched_plan plan;
        struct placed_arg pa = {&plan, ""};
        struct vr_placement_why why;
        uint64_t gen = 0;

        if (jc->have_plan) {
            /* decided by retry_parked() before the job ran */
            plan = jc->plan;
            jc->have_plan = false;
            rc = 0;
        } else {
            rc = vr_placement_place(ctl, &jc->vm, &plan, &why, &gen, err);
        }
        if (rc < 0)
            return JOB_FAILED;
        if (rc == 1) {
            /* no host can take it now: wait (the VM stays PENDING and
             * says why) until capacity appears */
            if (strcmp(why.detail, jc->vm.placement_detail) != 0)
                VR_INFO(MOD, "vm '%s' waits for a host: %s", jc->vm.hdr.name,
                        why.detail);
            rc = jc_update(jc, "waiting", 5, mut_why, &why, err);
            if (rc != JOB_OK)
                return rc;
            vr_placement_park(ctl, jc->job.hdr.id, gen);
            return JOB_PARKED;
        }
        if (vr_pool_get(&ctl->db.hosts, plan.host_id, &host) == 0)
            pa.host_name = host.hdr.name;
        /* the placement and the next phase: one transaction */
        rc = jc_update(jc, "disks", 20, mut_placed, &pa, err);
        if (rc != JOB_OK) {
            /* not recorded: what the plan holds goes back (recorded, and
             * the job told to stop only then: the VM keeps it) */
            struct vr_vm cur;
            if (vr_pool_get(&ctl->db.vms, jc->vm.hdr.id, &cur) < 0 ||
                !cur.placed)
                vr_sched_release_plan(&ctl->sched, &plan, jc->vm.hdr.id);
            return rc;
        }
        VR_INFO(MOD, "vm '%s' placed on host '%s'", jc->vm.hdr.name,
                pa.host_name);
    } else {
        PHASE(jc, "disks", 20, err);
    }
    jc_node(jc);

    if (vr_pool_get(&ctl->db.images, jc->vm.image_id, &image) < 0 &&
        !jc->vm.disks[0].path[0])
        return vr_err(err, VR_E_NOT_FOUND, "image %lld is gone",
                      (long long)jc->vm.image_id), JOB_FAILED;
    for (int i = 0; i < jc->vm.ndisks; i++) {
        struct vr_disk_req req;
        struct vr_disk_made out;
        struct disk_arg da = {i, &out};

        memset(&req, 0, sizeof(req));
        memset(&out, 0, sizeof(out));
        vr_strlcpy(req.vm_uuid, jc->vm.hdr.uuid, sizeof(req.vm_uuid));
        req.index = i;
        if (i == 0) {
            req.kind = jc->vm.full_clone ? VR_DISK_COPY : VR_DISK_OVERLAY;
            vr_strlcpy(req.base_path, image.path, sizeof(req.base_path));
            vr_strlcpy(req.base_format, image.format, sizeof(req.base_format));
        } else {
            req.kind = VR_DISK_EMPTY;
            req.size_mib = jc->vm.disks[i].size_mib;
        }
        NODE(jc, disk_prepare, err, &req, &out);
        /* the last disk's result and the next phase: one transaction */
        if (i == jc->vm.ndisks - 1)
            rc = jc_update(jc, "define", 60, mut_disk, &da, err);
        else
            rc = jc_update(jc, NULL, 0, mut_disk, &da, err);
        if (rc != JOB_OK)
            return rc;
    }
    if (jc->vm.ndisks == 0)
        PHASE(jc, "define", 60, err);
    rc = do_define(jc, jc->vm.start ? "boot" : NULL, 80, err);
    if (rc != JOB_OK)
        return rc;
    if (jc->vm.start) {
        NODE(jc, dom_start, err, jc->vm.hdr.uuid);
        jc->final = VR_VM_RUNNING;
    } else {
        jc->final = VR_VM_POWEROFF;
    }
    return JOB_OK;
}

static int op_start(struct job_ctx *jc, struct vr_error *err)
{
    struct vr_dom_info info;
    int rc;

    NODE(jc, dom_info, err, jc->vm.hdr.uuid, &info);
    /* a managed save restores with the definition it was saved with */
    if (info.state != VR_DOM_SAVED) {
        PHASE(jc, "define", 30, err);
        rc = do_define(jc, "boot", 60, err);
        if (rc != JOB_OK)
            return rc;
    } else {
        PHASE(jc, "boot", 60, err);
    }
    NODE(jc, dom_start, err, jc->vm.hdr.uuid);
    jc->final = VR_VM_RUNNING;
    return JOB_OK;
}

/* Send the guest ACPI power-off, then wait for it with no worker (see
 * "waits" above); past the timeout, power it off. */
static int op_stop(struct job_ctx *jc, struct vr_error *err)
{
    struct vr_dom_info info;
    int timeout = jc->job.timeout_s > 0 ? jc->job.timeout_s
                                        : jc->ctl->cfg->stop_timeout_s;
    int64_t deadline, now;

    if (strcmp(jc->job.phase, "shutdown") != 0 ||
        !wait_deadline(jc->ctl, jc->job.hdr.id, &deadline)) {
        PHASE(jc, "shutdown", 20, err);
        NODE(jc, dom_shutdown, err, jc->vm.hdr.uuid);
        deadline = vr_mono_ms() + (int64_t)timeout * 1000;
    }
    NODE(jc, dom_info, err, jc->vm.hdr.uuid, &info);
    if (info.state == VR_DOM_SHUTOFF || info.state == VR_DOM_NONE ||
        info.state == VR_DOM_CRASHED) {
        jc->final = VR_VM_POWEROFF;
        return JOB_OK;
    }
    now = vr_mono_ms();
    if (now >= deadline) {
        VR_INFO(MOD, "vm '%s' did not shut down in %d s: powering off",
                jc->vm.hdr.name, timeout);
        PHASE(jc, "poweroff", 80, err);
        NODE(jc, dom_destroy, err, jc->vm.hdr.uuid);
        jc->final = VR_VM_POWEROFF;
        return JOB_OK;
    }
    if (job_cancelled(jc))
        return JOB_INTERRUPTED;
    wait_arm(jc->ctl, jc->job.hdr.id,
             now + WAIT_LOOK_MS < deadline ? now + WAIT_LOOK_MS : deadline,
             deadline);
    return JOB_WAITING;
}

static int op_poweroff(struct job_ctx *jc, struct vr_error *err)
{
    struct vr_dom_info info;

    NODE(jc, dom_info, err, jc->vm.hdr.uuid, &info);
    if (info.state == VR_DOM_SAVED) {
        PHASE(jc, "discard", 50, err);
        NODE(jc, dom_discard_save, err, jc->vm.hdr.uuid);
    } else {
        PHASE(jc, "poweroff", 50, err);
        NODE(jc, dom_destroy, err, jc->vm.hdr.uuid);
    }
    jc->final = VR_VM_POWEROFF;
    return JOB_OK;
}

/* One node call in one phase. */
static int op_simple(struct job_ctx *jc, const char *phase,
                     int (*fn)(struct vr_node *, const char *,
                               struct vr_error *),
                     enum vr_vm_state final, struct vr_error *err)
{
    if (!jc->node)
        return no_node(jc, err);
    if (!fn)
        return vr_err(err, VR_E_UNSUPPORTED, "node transport '%s' cannot %s",
                      jc->node->ops->name, phase), JOB_FAILED;
    PHASE(jc, phase, 50, err);
    if (fn(jc->node, jc->vm.hdr.uuid, err) < 0)
        return JOB_FAILED;
    jc->final = final;
    return JOB_OK;
}

/* A node call that is not idempotent (a reboot, a reset), named by a
 * request id of the job's: a node that remembers does it once however
 * often it is asked.  A job resumed after a crash, once its phase was
 * recorded, does not ask again (an in-process node forgot). */
static int op_once(struct job_ctx *jc, const char *phase,
                   int (*fn)(struct vr_node *, const char *, const char *,
                             struct vr_error *),
                   struct vr_error *err)
{
    char reqid[VR_NODE_REQID_SIZE];
    bool resumed = jc->job.attempts > 1 && strcmp(jc->job.phase, phase) == 0;

    if (!jc->node)
        return no_node(jc, err);
    if (!fn)
        return vr_err(err, VR_E_UNSUPPORTED, "node transport '%s' cannot %s",
                      jc->node->ops->name, phase), JOB_FAILED;
    PHASE(jc, phase, 50, err);
    snprintf(reqid, sizeof(reqid), "%.36s/job-%lld", jc->ctl->instance,
             (long long)jc->job.hdr.id);
    if (!resumed && fn(jc->node, jc->vm.hdr.uuid, reqid, err) < 0)
        return JOB_FAILED;
    jc->final = VR_VM_RUNNING;
    return JOB_OK;
}

static int op_resume(struct job_ctx *jc, struct vr_error *err)
{
    struct vr_dom_info info;

    NODE(jc, dom_info, err, jc->vm.hdr.uuid, &info);
    if (info.state == VR_DOM_SAVED) {
        PHASE(jc, "restore", 50, err);
        NODE(jc, dom_start, err, jc->vm.hdr.uuid);
    } else {
        PHASE(jc, "resume", 50, err);
        NODE(jc, dom_resume, err, jc->vm.hdr.uuid);
    }
    jc->final = VR_VM_RUNNING;
    return JOB_OK;
}

static int op_delete(struct job_ctx *jc, struct vr_error *err)
{
    if (!jc->vm.host_id) {
        /* never placed: nothing of it is on any host */
        jc->remove_record = true;
        return JOB_OK;
    }
    PHASE(jc, "poweroff", 20, err);
    NODE(jc, dom_destroy, err, jc->vm.hdr.uuid);
    PHASE(jc, "undefine", 50, err);
    NODE(jc, dom_undefine, err, jc->vm.hdr.uuid);
    PHASE(jc, "storage", 80, err);
    NODE(jc, vm_storage_remove, err, jc->vm.hdr.uuid);
    jc->remove_record = true;
    return JOB_OK;
}

static int run_op(struct job_ctx *jc, enum vr_vm_op op, struct vr_error *err);

static int op_recover(struct job_ctx *jc, struct vr_error *err)
{
    enum vr_vm_op target = jc->job.target_op;
    struct vr_dom_info info;

    switch (jc->job.recover) {
    case VR_RECOVER_RETRY:
        if (target == VR_OP_NONE || target == VR_OP_RECOVER)
            target = VR_OP_START;   /* a crashed guest: boot it again */
        jc->op = target;
        return run_op(jc, target, err);
    case VR_RECOVER_SUCCESS:
        PHASE(jc, "success", 50, err);
        if (target == VR_OP_DELETE) {
            /* as if deleted: make it so, best effort, and drop the record */
            if (jc->node) {
                VR_NODE_CALL(jc->node, dom_undefine, NULL, jc->vm.hdr.uuid);
                VR_NODE_CALL(jc->node, vm_storage_remove, NULL,
                             jc->vm.hdr.uuid);
            }
            jc->remove_record = true;
            return JOB_OK;
        }
        if (target != VR_OP_NONE) {
            struct vr_vm tmp = jc->vm;
            jc->final = vr_vm_sm_target(&tmp, target);
            return JOB_OK;
        }
        break;
    case VR_RECOVER_FAILURE:
        PHASE(jc, "failure", 50, err);
        if (target == VR_OP_CREATE) {
            jc->final = VR_VM_FAILED;
            return JOB_OK;
        }
        if (target != VR_OP_NONE) {
            jc->final = jc->job.origin;
            return JOB_OK;
        }
        break;
    case VR_RECOVER_NONE:
    case VR_RECOVER__LAST:
        return vr_err(err, VR_E_INVALID, "bad recover mode"), JOB_FAILED;
    }
    /* no operation to recover (a crashed guest): follow libvirt; a crashed
     * domain is powered off */
    NODE(jc, dom_info, err, jc->vm.hdr.uuid, &info);
    if (info.state == VR_DOM_CRASHED) {
        NODE(jc, dom_destroy, err, jc->vm.hdr.uuid);
        info.state = VR_DOM_SHUTOFF;
    }
    jc->final = vr_ctl_seen_state(&info, VR_VM_POWEROFF);
    return JOB_OK;
}

static int run_op(struct job_ctx *jc, enum vr_vm_op op, struct vr_error *err)
{
    const struct vr_node_ops *ops;

    jc_node(jc);
    ops = jc->node ? jc->node->ops : NULL;
    switch (op) {
    case VR_OP_CREATE:
        return op_create(jc, err);
    case VR_OP_START:
        return op_start(jc, err);
    case VR_OP_STOP:
        return op_stop(jc, err);
    case VR_OP_POWEROFF:
        return op_poweroff(jc, err);
    case VR_OP_REBOOT:
        return op_once(jc, "reboot", ops ? ops->dom_reboot : NULL, err);
    case VR_OP_RESET:
        return op_once(jc, "reset", ops ? ops->dom_reset : NULL, err);
    case VR_OP_PAUSE:
        return op_simple(jc, "pause", ops ? ops->dom_pause : NULL,
                         VR_VM_PAUSED, err);
    case VR_OP_RESUME:
        return op_resume(jc, err);
    case VR_OP_SUSPEND:
        return op_simple(jc, "save", ops ? ops->dom_save : NULL,
                         VR_VM_SUSPENDED, err);
    case VR_OP_DELETE:
        return op_delete(jc, err);
    case VR_OP_RECOVER:
        return op_recover(jc, err);
    case VR_OP_NONE:
    case VR_OP__LAST:
        break;
    }
    return vr_err(err, VR_E_INTERNAL, "unknown operation"), JOB_FAILED;
}

/* Whether a failure of `op` leaves the VM in an unknown, partial state
 * (FAILED, recover needed) rather than simply where libvirt says it is. */
static bool failure_is_partial(enum vr_vm_op op)
{
    return op == VR_OP_CREATE || op == VR_OP_DELETE;
}

/* Record a job's end.  -1 if it could not be (the store refused: the job
 * is run again later, see retry_later). */
static int finish_job(struct job_ctx *jc, int rc, const struct vr_error *jerr)
{
    struct vr_ctl *ctl = jc->ctl;
    struct vr_error err = VR_ERROR_INIT;
    struct vr_dom_info info;
    bool have_info = false;
    struct vr_tx tx;
    struct vr_job job;
    struct vr_vm vm;
    bool have_vm;
    struct vr_vm *removed = NULL;  /* a VM whose plan goes back */
    int64_t now;
    char point[64];

    snprintf(point, sizeof(point), "%s.finish", vr_vm_op_name(jc->op));
    vr_fault_point(point);
    /* what the host says, read before taking the write lock */
    memset(&info, 0, sizeof(info));
    if (jc->node && !jc->remove_record &&
        (rc == JOB_OK || !failure_is_partial(jc->op)))
        have_info = VR_NODE_CALL(jc->node, dom_info, &err, jc->vm.hdr.uuid,
                                 &info) == 0;

    if (vr_tx_begin(&ctl->db, &tx, &err) < 0) {
        VR_ERROR(MOD, "job %lld: unable to record its end: %s",
                 (long long)jc->job.hdr.id, err.msg);
        return -1;
    }
    if (vr_pool_get(&ctl->db.jobs, jc->job.hdr.id, &job) < 0 ||
        job.status != VR_JOB_RUNNING) {
        /* cancelled by recover meanwhile: its outcome no longer matters */
        vr_tx_abort(&tx);
        VR_INFO(MOD, "job %lld was cancelled; discarding its outcome",
                (long long)jc->job.hdr.id);
        return 0;
    }
    now = vr_now_ms();
    have_vm = vr_pool_get(&ctl->db.vms, job.object_id, &vm) == 0;
    job.finished_at = now;
    if (rc == JOB_OK) {
        job.status = VR_JOB_SUCCEEDED;
        job.progress = 100;
        vr_strlcpy(job.phase, "done", sizeof(job.phase));
        if (have_vm && jc->remove_record) {
            struct vr_quota q;
            removed = vr_malloc(sizeof(*removed));
            *removed = vm;
            vr_quota_of_vm(&vm, &q);
            if (vr_quota_charge(ctl, &tx, vm.hdr.owner_id, vm.hdr.group_id,
                                &q, -1, &err) < 0 ||
                vr_tx_del(&tx, &ctl->db.vms, vm.hdr.id, &err) < 0)
                goto fail;
            have_vm = false;
        } else if (have_vm) {
            enum vr_vm_state st = jc->final;
            /* the record says what runs: if the host disagrees with the
             * expected outcome, the host wins (and we say so) */
            if (have_info && st != VR_VM_FAILED) {
                enum vr_vm_state seen = vr_ctl_seen_state(&info, st);
                if (seen != st)
                    VR_WARN(MOD, "job %lld: %s of vm '%s' ends %s, not %s as "
                            "expected (the host says %s)",
                            (long long)job.hdr.id, vr_vm_op_name(job.op),
                            vm.hdr.name, vr_vm_state_name(seen),
                            vr_vm_state_name(st),
                            vr_dom_state_name(info.state));
                st = seen;
            }
            vr_vm_task_clear(&vm);
            vm.error[0] = '\0';
            vr_vm_set_state(&vm, st, now);
            if (have_info)
                vr_strlcpy(vm.vnc_socket, info.vnc_socket,
                           sizeof(vm.vnc_socket));
        }
    } else {
        job.status = VR_JOB_FAILED;
        vr_strlcpy(job.error, jerr->msg, sizeof(job.error));
        if (have_vm) {
            vr_strlcpy(vm.error, jerr->msg, sizeof(vm.error));
            if (failure_is_partial(jc->op)) {
                vm.task.op = jc->op;
                vm.task.status = VR_TASK_FAILED;
                vm.task.job_id = job.hdr.id;
                vr_strlcpy(vm.task.phase, job.phase, sizeof(vm.task.phase));
                vr_vm_set_state(&vm, VR_VM_FAILED, now);
            } else {
                vr_vm_task_clear(&vm);
                vr_vm_set_state(&vm,
                                have_info ? vr_ctl_seen_state(&info, vm.state)
                                          : vm.state,
                                now);
                if (have_info)
                    vr_strlcpy(vm.vnc_socket, info.vnc_socket,
                           sizeof(vm.vnc_socket));
            }
        }
    }
    /* a create that failed (or was declared failed) gives back what its
     * placement held; recover --retry places it again */
    if (have_vm && vm.placed && vm.state == VR_VM_FAILED &&
        (jc->op == VR_OP_CREATE || job.target_op == VR_OP_CREATE)) {
        removed = vr_malloc(sizeof(*removed));
        *removed = vm;
        vm.placed = false;
        memset(&vm.plan, 0, sizeof(vm.plan));
    }
    if ((have_vm && vr_tx_put(&tx, &ctl->db.vms, &vm, &err) < 0) ||
        vr_tx_put(&tx, &ctl->db.jobs, &job, &err) < 0)
        goto fail;
    if (vr_tx_commit(&tx, &err) < 0) {
        VR_ERROR(MOD, "job %lld: unable to record its end: %s",
                 (long long)job.hdr.id, err.msg);
        free(removed);
        return -1;
    }
    if (removed)
        vr_placement_release(ctl, removed);
    free(removed);
    if (rc == JOB_OK)
        VR_INFO(MOD, "job %lld: %s of vm '%s' succeeded", (long long)job.hdr.id,
                vr_vm_op_name(job.op), job.object_name);
    else
        VR_WARN(MOD, "job %lld: %s of vm '%s' failed in phase '%s': %s",
                (long long)job.hdr.id, vr_vm_op_name(job.op),
                job.object_name, job.phase, jerr->msg);
    return 0;
fail:
    vr_tx_abort(&tx);
    free(removed);
    VR_ERROR(MOD, "job %lld: unable to record its end: %s",
             (long long)jc->job.hdr.id, err.msg);
    return -1;
}

/* ---- jobs the store could not record
 *
 * A job whose progress or end the store refuses (its disk is full) is
 * not lost: it runs again from the start a few seconds later, and again,
 * until the store takes it (its phases are idempotent, as after a
 * crash). */

#define RETRY_MS 5000

static void retry_later(struct vr_ctl *ctl, int64_t job_id,
                        const struct vr_error *why)
{
    pthread_mutex_lock(&ctl->qlock);
    for (size_t i = 0; i < ctl->nlater; i++)
        if (ctl->later[i].job == job_id) {
            pthread_mutex_unlock(&ctl->qlock);
            return;
        }
    if (ctl->nlater == ctl->later_cap) {
        ctl->later_cap = ctl->later_cap ? ctl->later_cap * 2 : 16;
        ctl->later =
            vr_realloc(ctl->later, ctl->later_cap * sizeof(*ctl->later));
    }
    ctl->later[ctl->nlater].job = job_id;
    ctl->later[ctl->nlater].due = vr_mono_ms() + RETRY_MS;
    ctl->nlater++;
    pthread_mutex_unlock(&ctl->qlock);
    VR_WARN(MOD, "job %lld could not be recorded (%s); it runs again in %d s",
            (long long)job_id, why->msg, RETRY_MS / 1000);
}

void vr_orch_requeue_due(struct vr_ctl *ctl)
{
    int64_t now = vr_mono_ms(), due[64];
    size_t n = 0;

    pthread_mutex_lock(&ctl->qlock);
    for (size_t i = 0; i < ctl->nlater && n < VR_ARRAY_SIZE(due); i++)
        if (ctl->later[i].due <= now) {
            due[n++] = ctl->later[i].job;
            ctl->later[i--] = ctl->later[--ctl->nlater];
        }
    pthread_mutex_unlock(&ctl->qlock);
    for (size_t i = 0; i < n; i++)
        vr_orch_enqueue(ctl, due[i]);
}

/* ---- one job at a time per VM
 *
 * A worker holds its job's VM for the whole run.  Another job of the same
 * VM (a recover or a delete that cancelled it: the state machine lets no
 * other through) waits until the holder stops: the holder sees its job
 * cancelled at its next step and leaves; a call to a host it is inside
 * ends by the node's deadline.  A holder that does not stop in time (a
 * host call with no deadline) fails the waiting job, which may be asked
 * again. */

static int hold_object(struct vr_ctl *ctl, const struct vr_job *job,
                       struct vr_error *err)
{
    int64_t deadline =
        vr_mono_ms() + ((int64_t)ctl->cfg->node_timeout_s * 2 + 10) * 1000;
    int64_t holder, said = 0;
    int rc = 0;

    pthread_mutex_lock(&ctl->hlock);
    while ((holder = (int64_t)(intptr_t)vr_map_get_int(&ctl->holders,
                                                       job->object_id))) {
        struct timespec ts;
        if (atomic_load(&ctl->stopping)) {
            rc = JOB_INTERRUPTED;
            break;
        }
        if (vr_mono_ms() > deadline) {
            rc = vr_err(err, VR_E_CONFLICT, "job %lld of vm '%s' does not "
                        "stop (it waits for its host); try again later",
                        (long long)holder, job->object_name);
            break;
        }
        if (said != holder) {
            VR_INFO(MOD, "job %lld waits for job %lld of vm '%s' to stop",
                    (long long)job->hdr.id, (long long)holder,
                    job->object_name);
            said = holder;
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 200 * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&ctl->hcond, &ctl->hlock, &ts);
    }
    if (rc == 0)
        vr_map_put_int(&ctl->holders, job->object_id,
                       (void *)(intptr_t)job->hdr.id);
    pthread_mutex_unlock(&ctl->hlock);
    return rc;
}

static void release_object(struct vr_ctl *ctl, const struct vr_job *job)
{
    pthread_mutex_lock(&ctl->hlock);
    if ((int64_t)(intptr_t)vr_map_get_int(&ctl->holders, job->object_id) ==
        job->hdr.id)
        vr_map_del_int(&ctl->holders, job->object_id);
    pthread_cond_broadcast(&ctl->hcond);
    pthread_mutex_unlock(&ctl->hlock);
}

/* A create waiting for a host, woken by a capacity change: try to place
 * it before anything is written.  Still no host, for the same reasons:
 * it waits again with no transaction (a capacity change costs nothing to
 * the creates it does not help); for new reasons: one transaction that
 * records them on the VM.  1: parked again; 0: run the job (with
 * jc->plan held if a host was found). */
static int retry_parked(struct job_ctx *jc)
{
    struct vr_ctl *ctl = jc->ctl;
    struct vr_placement_why why;
    struct vr_error err = VR_ERROR_INIT;
    uint64_t gen = 0;
    struct vr_vm *vm;
    bool same;
    int rc;

    if (jc->job.op != VR_OP_CREATE || jc->job.status != VR_JOB_RUNNING ||
        strcmp(jc->job.phase, "waiting") != 0)
        return 0;
    vm = vr_pool_dup(&ctl->db.vms, jc->job.object_id);
    if (!vm || vm->placed || vm->task.job_id != jc->job.hdr.id) {
        vr_obj_free(&vr_vm_kind, vm);
        return 0;
    }
    rc = vr_placement_place(ctl, vm, &jc->plan, &why, &gen, &err);
    same = rc == 1 && strcmp(why.detail, vm->placement_detail) == 0;
    vr_obj_free(&vr_vm_kind, vm);
    if (rc == 0)
        jc->have_plan = true;
    if (rc != 1)
        return 0;
    if (!same) {
        /* new reasons: the VM says them (one transaction, the job's
         * record untouched), and waits again */
        struct vr_tx tx;
        struct vr_vm cur;
        if (vr_tx_begin(&ctl->db, &tx, &err) < 0)
            return 0;
        if (vr_pool_get(&ctl->db.vms, jc->job.object_id, &cur) < 0 ||
            cur.placed || cur.task.job_id != jc->job.hdr.id) {
            vr_tx_abort(&tx);
            return 0;
        }
        mut_why(&cur, &why);
        if (vr_tx_put(&tx, &ctl->db.vms, &cur, &err) < 0) {
            vr_tx_abort(&tx);
            return 0;
        }
        if (vr_tx_commit(&tx, &err) < 0)
            return 0;
        VR_INFO(MOD, "vm '%s' waits for a host: %s", cur.hdr.name,
                why.detail);
    }
    vr_placement_park(ctl, jc->job.hdr.id, gen);
    return 1;
}

static void run_job(struct vr_ctl *ctl, int64_t job_id)
{
    struct job_ctx jc;
    struct vr_error err = VR_ERROR_INIT;
    struct vr_tx tx;
    bool held = false, held_fail = false;
    int rc;

    memset(&jc, 0, sizeof(jc));
    jc.ctl = ctl;
    if (vr_pool_get(&ctl->db.jobs, job_id, &jc.job) < 0 ||
        vr_job_finished(&jc.job)) {
        wait_drop(ctl, job_id);     /* (a waiting job deleted meanwhile) */
        return;
    }
    if ((rc = hold_object(ctl, &jc.job, &err)) != 0) {
        if (rc == JOB_INTERRUPTED)
            return;
        /* recorded as failed below, with the VM left as it is */
        held_fail = true;
    } else {
        held = true;
    }
    if (held && retry_parked(&jc) == 1)
        goto out;
    if (held && wait_deadline(ctl, job_id, NULL)) {
        /* a waiting job looks again: no new attempt is recorded */
        if (vr_pool_get(&ctl->db.jobs, job_id, &jc.job) < 0 ||
            vr_job_finished(&jc.job) ||
            vr_pool_get(&ctl->db.vms, jc.job.object_id, &jc.vm) < 0) {
            wait_drop(ctl, job_id);
            goto out;
        }
        jc.op = jc.job.op;
        rc = run_op(&jc, jc.job.op, &err);
        goto outcome;
    }
    if (vr_tx_begin(&ctl->db, &tx, &err) < 0)
        goto early_fail;
    if (vr_pool_get(&ctl->db.jobs, job_id, &jc.job) < 0 ||
        vr_job_finished(&jc.job)) {
        vr_tx_abort(&tx);
        goto out;
    }
    if (vr_pool_get(&ctl->db.vms, jc.job.object_id, &jc.vm) < 0) {
        jc.job.status = VR_JOB_FAILED;
        jc.job.finished_at = vr_now_ms();
        vr_strlcpy(jc.job.error, "the vm no longer exists",
                   sizeof(jc.job.error));
        if (vr_tx_put(&tx, &ctl->db.jobs, &jc.job, &err) < 0) {
            vr_tx_abort(&tx);
            goto early_fail;
        }
        vr_tx_commit(&tx, &err);
        goto out;
    }
    jc.job.status = VR_JOB_RUNNING;
    jc.job.attempts++;
    if (!jc.job.started_at)
        jc.job.started_at = vr_now_ms();
    if (vr_tx_put(&tx, &ctl->db.jobs, &jc.job, &err) < 0) {
        vr_tx_abort(&tx);
        goto early_fail;
    }
    if (vr_tx_commit(&tx, &err) < 0)
        goto early_fail;

    jc.op = jc.job.op;
    rc = held_fail ? JOB_FAILED : run_op(&jc, jc.job.op, &err);
outcome:
    if (rc != JOB_WAITING)
        wait_drop(ctl, job_id);
    if (rc == JOB_INTERRUPTED)
        VR_INFO(MOD, "job %lld interrupted in phase '%s'; it resumes later",
                (long long)job_id, jc.job.phase);
    if (rc == JOB_FAILED && err.code == VR_E_STORAGE_FULL) {
        /* a phase could not be recorded: not the operation's failure */
        retry_later(ctl, job_id, &err);
    } else if (rc != JOB_INTERRUPTED && rc != JOB_PARKED &&
               rc != JOB_WAITING) {
        if (rc == JOB_FAILED && err.code == VR_E_NONE)
            vr_err(&err, VR_E_INTERNAL, "failed without a message");
        if (finish_job(&jc, rc, &err) < 0)
            retry_later(ctl, job_id, &err);
    }
    goto out;
early_fail:
    VR_ERROR(MOD, "job %lld: %s", (long long)job_id, err.msg);
    retry_later(ctl, job_id, &err);
out:
    /* a wait taken by this run and not armed again is over */
    if (rc != JOB_WAITING)
        wait_drop(ctl, job_id);
    /* a plan found before the job ran and never recorded goes back */
    if (jc.have_plan)
        vr_sched_release_plan(&ctl->sched, &jc.plan, jc.job.object_id);
    vr_node_close(jc.node);
    if (held)
        release_object(ctl, &jc.job);
}

static void *worker_main(void *arg)
{
    struct vr_ctl *ctl = arg;

    for (;;) {
        int64_t id = 0;

        pthread_mutex_lock(&ctl->qlock);
        for (;;) {
            int64_t now = vr_mono_ms(), next, ms;
            struct timespec ts;

            if (atomic_load(&ctl->stopping)) {
                pthread_mutex_unlock(&ctl->qlock);
                return NULL;
            }
            if (ctl->qlen > 0) {
                id = ctl->queue[ctl->qhead];
                ctl->qhead = (ctl->qhead + 1) % ctl->qcap;
                ctl->qlen--;
                break;
            }
            if (wait_take_due(ctl, now, &id))
                break;
            /* sleep until the next wait is due (qcond's clock is the
             * monotonic one) */
            next = wait_next_due(ctl);
            ms = next == INT64_MAX || next - now > 60000 ? 60000
                                                         : next - now;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += (long)(ms > 0 ? ms : 1) * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&ctl->qcond, &ctl->qlock, &ts);
        }
        pthread_mutex_unlock(&ctl->qlock);
        run_job(ctl, id);
    }
}

int vr_orch_start_workers(struct vr_ctl *ctl, struct vr_error *err)
{
    ctl->workers = vr_calloc((size_t)ctl->cfg->workers, sizeof(pthread_t));
    for (int i = 0; i < ctl->cfg->workers; i++) {
        if (pthread_create(&ctl->workers[i], NULL, worker_main, ctl) != 0)
            return vr_err(err, VR_E_INTERNAL, "unable to start workers");
        ctl->nworkers++;
    }
    return 0;
}

void vr_orch_stop_workers(struct vr_ctl *ctl)
{
    pthread_mutex_lock(&ctl->qlock);
    pthread_cond_broadcast(&ctl->qcond);
    pthread_mutex_unlock(&ctl->qlock);
    vr_orch_domain_changed(ctl);
    for (int i = 0; i < ctl->nworkers; i++)
        pthread_join(ctl->workers[i], NULL);
    free(ctl->workers);
    ctl->workers = NULL;
    ctl->nworkers = 0;
}
