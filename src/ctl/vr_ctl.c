/*
 * vr_ctl.c - controller life cycle: start-up, the local host, the event
 * plumbing (store changes -> event bus; libvirt events -> observer), and
 * the monitor (safety-net poll, token expiry, job retention).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vr_ctl.h"
#include "vr_hosts.h"
#include "vr_ldap.h"
#include "vr_log.h"
#include "vr_placement.h"
#include "vr_tenancy.h"

#define MOD "ctl"

/* ---- store changes: the ACL index and the scheduler follow at once
 * (under the write lock: the next transaction sees them); the event
 * stream after the lock is released (in commit order) */

static void on_commit(void *opaque, const struct vr_kind *kind,
                      const void *obj, const char *json)
{
    struct vr_ctl *ctl = opaque;
    const struct vr_obj *hdr = obj;

    if (kind == &vr_acl_kind)
        vr_authz_reload(&ctl->authz, &ctl->db.acls);
    /* the scheduler follows hosts and which VMs run */
    if (kind == &vr_host_kind)
        vr_placement_host_changed(ctl, hdr->id);
    else if (kind == &vr_cluster_kind)
        vr_placement_cluster_changed(ctl, hdr->id);
    else if (kind == &vr_vm_kind)
        vr_placement_vm_changed(ctl, hdr->id, json == NULL, 0);
}

/* The resource kind an event of `kind` is authorized as, -1 for kinds
 * that are nobody's business on the stream (tokens, users, groups, ACL
 * rules: their events carry no object, and only superusers get them). */
static int event_res(const struct vr_kind *kind)
{
    if (kind == &vr_vm_kind || kind == &vr_job_kind)
        return VR_RES_VM;
    if (kind == &vr_image_kind)
        return VR_RES_IMAGE;
    if (kind == &vr_host_kind)
        return VR_RES_HOST;
    if (kind == &vr_vm_group_kind)
        return VR_RES_VMGROUP;
    if (kind == &vr_cluster_kind)
        return VR_RES_CLUSTER;
    return -1;
}

static void after_commit(void *opaque, const struct vr_kind *kind,
                         const void *obj, const char *json)
{
    struct vr_ctl *ctl = opaque;
    const struct vr_obj *hdr = obj;
    struct vr_event_meta meta;
    struct vr_buf b = VR_BUF_INIT;
    int res = event_res(kind);
    char perms[4];

    /* who the object belongs to travels with every event, deletes too, so
     * that each stream shows only what its caller may see */
    memset(&meta, 0, sizeof(meta));
    meta.res = res;
    meta.id = hdr->id;
    meta.owner_id = hdr->owner_id;
    meta.group_id = hdr->group_id;
    meta.perms = hdr->perms;
    if (kind == &vr_host_kind)
        meta.cluster_id = ((const struct vr_host *)obj)->cluster_id;
    else if (kind == &vr_cluster_kind)
        meta.cluster_id = hdr->id;
    vr_perms_format(hdr->perms, perms);
    vr_buf_init(&b);
    vr_buf_addf(&b, "{\"kind\":\"%s\",\"action\":\"%s\",\"id\":%lld,"
                "\"owner_id\":%lld,\"group_id\":%lld,\"permissions\":"
                "\"%s\"", kind->name, json ? "updated" : "deleted",
                (long long)hdr->id, (long long)hdr->owner_id,
                (long long)hdr->group_id, perms);
    if (json && res >= 0) {
        vr_buf_adds(&b, ",\"object\":");
        vr_buf_adds(&b, json);
    }
    vr_buf_adds(&b, "}");
    vr_events_publish(ctl->events, kind->name, &meta, b.data);
    vr_buf_release(&b);
}

/* ---- libvirt events: hints for the observer */

void vr_ctl_node_event(void *opaque, int64_t host_id, uint64_t seq,
                       const char *uuid, enum vr_dom_state state,
                       const char *why)
{
    struct vr_ctl *ctl = opaque;
    uint64_t expected = 0;

    (void)state;
    (void)why;
    if (vr_nodes_event_gap(&ctl->nodes, host_id, seq, &expected)) {
        /* events were lost: the host is read again at once (the monitor
         * reconciles a host not reconciled since) */
        VR_WARN(MOD, "host %lld: events %llu to %llu were lost; reading "
                "the host again", (long long)host_id,
                (unsigned long long)expected, (unsigned long long)seq - 1);
        atomic_store(&ctl->monitor_kick, true);
    }
    pthread_mutex_lock(&ctl->olock);
    for (size_t i = 0; i < ctl->nhints; i++) {
        if (ctl->hints[i].host == host_id &&
            strcmp(ctl->hints[i].uuid, uuid) == 0) {
            pthread_mutex_unlock(&ctl->olock);
            vr_orch_domain_changed(ctl);
            return;
        }
    }
    if (ctl->nhints == ctl->hcap) {
        ctl->hcap = ctl->hcap ? ctl->hcap * 2 : 16;
        ctl->hints = vr_realloc(ctl->hints, ctl->hcap * sizeof(*ctl->hints));
    }
    ctl->hints[ctl->nhints].host = host_id;
    vr_strlcpy(ctl->hints[ctl->nhints].uuid, uuid, VR_UUID_LEN);
    ctl->nhints++;
    pthread_cond_signal(&ctl->ocond);
    pthread_mutex_unlock(&ctl->olock);
    vr_orch_domain_changed(ctl);
}

struct vr_node *vr_ctl_node(struct vr_ctl *ctl, int64_t host_id,
                            struct vr_error *err)
{
    struct vr_node *n = host_id ? vr_nodes_get(&ctl->nodes, host_id) : NULL;

    if (!n)
        vr_err(err, VR_E_UNAVAILABLE, "host %lld is not connected",
               (long long)host_id);
    return n;
}

bool vr_ctl_unreachable(const struct vr_error *err)
{
    return err->code == VR_E_UNAVAILABLE || err->code == VR_E_TIMEOUT;
}

enum vr_vm_state vr_ctl_seen_state(const struct vr_dom_info *info,
                                   enum vr_vm_state meant)
{
    switch (info->state) {
    case VR_DOM_RUNNING:
        return VR_VM_RUNNING;
    case VR_DOM_PAUSED:
        return VR_VM_PAUSED;
    case VR_DOM_SAVED:
        return VR_VM_SUSPENDED;
    case VR_DOM_SHUTOFF:
        return VR_VM_POWEROFF;
    case VR_DOM_NONE:
        /* a FAILED VM that never got (or lost) its domain is not "off":
         * it needs recover or delete */
        return meant == VR_VM_FAILED ? VR_VM_FAILED : VR_VM_POWEROFF;
    case VR_DOM_CRASHED:
        /* libvirt keeps "shut off (crashed)" until the next start: a crash
         * already recorded, or dealt with (the VM is meant to be off), is
         * not a new one */
        return meant == VR_VM_POWEROFF || meant == VR_VM_FAILED
                   ? meant
                   : VR_VM_FAILED;
    case VR_DOM_BUSY:
    case VR_DOM__LAST:
        break;
    }
    return meant;
}

int vr_ctl_observe_vm(struct vr_ctl *ctl, int64_t vm_id, uint64_t rev,
                      const struct vr_dom_info *info)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_tx tx;
    struct vr_vm vm;
    enum vr_vm_state to;

    if (vr_tx_begin(&ctl->db, &tx, &err) < 0)
        return 0;
    /* a job owns the VM, or it awaits recover, or is not created yet; or
     * the record changed since the host was read (a job ran meanwhile:
     * what was read may be older than what the job recorded) */
    if (vr_pool_get(&ctl->db.vms, vm_id, &vm) < 0 ||
        vm.task.status != VR_TASK_NONE || vm.state == VR_VM_PENDING ||
        vm.hdr.rev != rev) {
        vr_tx_abort(&tx);
        return 0;
    }
    to = vr_ctl_seen_state(info, vm.state);
    if (vm.state == to && strcmp(vm.vnc_socket, info->vnc_socket) == 0) {
        vr_tx_abort(&tx);
        return 0;
    }
    if (vm.state != to) {
        VR_INFO(MOD, "vm '%s': %s -> %s (observed on the host: %s)",
                vm.hdr.name, vr_vm_state_name(vm.state),
                vr_vm_state_name(to), vr_dom_state_name(info->state));
        if (to == VR_VM_FAILED)
            vr_strlcpy(vm.error,
                       "the guest crashed or its QEMU process failed; use "
                       "recover or delete", sizeof(vm.error));
        vr_vm_set_state(&vm, to, vr_now_ms());
    }
    vr_strlcpy(vm.vnc_socket, info->vnc_socket, sizeof(vm.vnc_socket));
    if (vr_tx_put(&tx, &ctl->db.vms, &vm, &err) < 0) {
        vr_tx_abort(&tx);
        VR_WARN(MOD, "vm '%s': unable to record its state: %s", vm.hdr.name,
                err.msg);
        return 0;
    }
    if (vr_tx_commit(&tx, &err) < 0)
        return 0;
    return 1;
}

static void *observer_main(void *arg)
{
    struct vr_ctl *ctl = arg;

    for (;;) {
        struct vr_hint hint;
        struct vr_dom_info info;
        struct vr_error err = VR_ERROR_INIT;
        struct vr_node *node;
        int64_t vm_id, on_host;
        uint64_t rev;
        int rc;

        pthread_mutex_lock(&ctl->olock);
        while (ctl->nhints == 0 && !atomic_load(&ctl->stopping))
            pthread_cond_wait(&ctl->ocond, &ctl->olock);
        if (atomic_load(&ctl->stopping)) {
            pthread_mutex_unlock(&ctl->olock);
            return NULL;
        }
        hint = ctl->hints[0];
        memmove(ctl->hints, ctl->hints + 1,
                (ctl->nhints - 1) * sizeof(*ctl->hints));
        ctl->nhints--;
        pthread_mutex_unlock(&ctl->olock);

        vm_id = vr_pool_id_by_uuid(&ctl->db.vms, hint.uuid);
        if (!vm_id)
            continue;
        /* only the VM's own host speaks for it (the same UUID may be
         * defined elsewhere: a migration's other end, a leftover) */
        {
            struct vr_vm *vm = vr_pool_dup(&ctl->db.vms, vm_id);
            on_host = vm ? vm->host_id : 0;
            rev = vm ? vm->hdr.rev : 0;
            vr_obj_free(&vr_vm_kind, vm);
        }
        if (on_host != hint.host)
            continue;
        node = vr_nodes_get(&ctl->nodes, hint.host);
        if (!node)
            continue;
        /* the event is a hint: read the truth */
        rc = VR_NODE_CALL(node, dom_info, &err, hint.uuid, &info);
        vr_node_close(node);
        if (rc < 0) {
            VR_WARN(MOD, "unable to read domain %s: %s", hint.uuid, err.msg);
            continue;
        }
        vr_ctl_observe_vm(ctl, vm_id, rev, &info);
    }
}

/* ---- the local host */

/* Whether two readings differ only in live usage (free memory, free huge
 * pages, free disk), which is written at most once a minute. */
static bool caps_same_shape(const struct vr_host_caps *a,
                            const struct vr_host_caps *b)
{
    struct vr_host_caps *x = vr_malloc(sizeof(*x));
    bool same;

    *x = *a;
    x->free_memory_kib = b->free_memory_kib;
    x->disk_free_mib = b->disk_free_mib;
    for (int i = 0; i < x->ncells && i < b->ncells; i++)
        for (int p = 0; p < x->cells[i].npages && p < b->cells[i].npages; p++)
            x->cells[i].pages[p].free = b->cells[i].pages[p].free;
    same = memcmp(x, b, sizeof(*x)) == 0;
    free(x);
    return same;
}

/* Store what the monitor learnt of a host (`seen`: caps, state, error,
 * hypervisor) over the record as it is now, under the write lock: what an
 * operator changed meanwhile (enabled, placement settings, owner) stays. */
static int host_store(struct vr_ctl *ctl, const struct vr_host *seen,
                      struct vr_error *err)
{
    struct vr_host *cur = vr_malloc(sizeof(*cur));
    struct vr_tx tx;
    int rc = -1;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0) {
        free(cur);
        return -1;
    }
    if (vr_pool_get(&ctl->db.hosts, seen->hdr.id, cur) == 0) {
        cur->caps = seen->caps;
        vr_strlcpy(cur->hdr.uuid, seen->hdr.uuid, sizeof(cur->hdr.uuid));
        vr_strlcpy(cur->hypervisor, seen->hypervisor,
                   sizeof(cur->hypervisor));
        vr_strlcpy(cur->hypervisor_detail, seen->hypervisor_detail,
                   sizeof(cur->hypervisor_detail));
        vr_strlcpy(cur->error, seen->error, sizeof(cur->error));
        cur->monitored_at = seen->monitored_at;
        cur->state = seen->state == VR_HOST_ERROR ||
                             seen->state == VR_HOST_OFFLINE
                         ? seen->state
                     : cur->enabled ? VR_HOST_MONITORED
                                    : VR_HOST_DISABLED;
    } else {
        *cur = *seen;
    }
    if (vr_tx_put(&tx, &ctl->db.hosts, cur, err) < 0)
        vr_tx_abort(&tx);
    else
        rc = vr_tx_commit(&tx, err);
    free(cur);
    return rc;
}

/* The one host reached through the local transport (installations from
 * before "local_host" was recorded); -1 once a second one is seen. */
static int find_local(const void *obj, void *ctx)
{
    const struct vr_host *h = obj;
    int64_t *lid = ctx;
    if (strcmp(h->transport, "local") != 0)
        return 0;
    *lid = *lid ? -1 : h->hdr.id;
    return 0;
}

/* Register the host served in this process (the first time: a new
 * record, named after the machine, probed), or find its record again. */
static int register_local_host(struct vr_ctl *ctl, struct vr_node *node,
                               struct vr_error *err)
{
    struct vr_host_caps caps;
    struct vr_host host;
    int64_t id;

    if (VR_NODE_CALL(node, host_info, err, &caps) < 0)
        return -1;
    id = vr_pool_id_by_uuid(&ctl->db.hosts, caps.uuid);
    if (!id) {
        /* libvirt without a stable host UUID (no SMBIOS, no host_uuid)
         * makes up a new one at each start: the local node is still the
         * same host, the one recorded as local */
        char *local = vr_db_meta_get(&ctl->db, "local_host");
        int64_t lid = local ? strtoll(local, NULL, 10) : 0;
        free(local);
        if (!local)
            vr_pool_foreach(&ctl->db.hosts, find_local, &lid);
        if (lid > 0 && vr_pool_get(&ctl->db.hosts, lid, &host) == 0 &&
            strcmp(host.transport, "local") == 0) {
            VR_WARN(MOD, "host '%s': libvirt's host UUID changed from %s to "
                    "%s (set host_uuid_source = \"machine-id\" in "
                    "libvirtd.conf to keep it)", host.hdr.name,
                    host.hdr.uuid, caps.uuid);
            id = lid;
        }
    }
    if (id) {
        if (vr_pool_get(&ctl->db.hosts, id, &host) < 0)
            return vr_err(err, VR_E_INTERNAL, "host %lld vanished",
                          (long long)id);
        vr_strlcpy(host.hdr.uuid, caps.uuid, sizeof(host.hdr.uuid));
    } else {
        memset(&host, 0, sizeof(host));
        /* ratios inherited from the cluster, else the settings */
        vr_host_conf_defaults(&host.conf);
        host.cluster_id = vr_clusters_default(ctl);
        host.hdr.id = vr_pool_next_id(&ctl->db.hosts);
        vr_strlcpy(host.hdr.uuid, caps.uuid, sizeof(host.hdr.uuid));
        if (vr_name_check(caps.hostname, "host name", NULL) == 0 &&
            !vr_pool_id_by_name(&ctl->db.hosts, caps.hostname))
            vr_strlcpy(host.hdr.name, caps.hostname, sizeof(host.hdr.name));
        else
            snprintf(host.hdr.name, sizeof(host.hdr.name), "host-%lld",
                     (long long)host.hdr.id);
        host.enabled = true;
        vr_strlcpy(host.transport, "local", sizeof(host.transport));
    }
    /* Probe when the host is new or the configuration forces a type. */
    if (!host.hypervisor[0] ||
        (ctl->cfg->hypervisor[0] &&
         strcmp(ctl->cfg->hypervisor, host.hypervisor) != 0)) {
        char hv[8], detail[256];
        if (VR_NODE_CALL(node, probe_hypervisor, err, hv, detail,
                         sizeof(detail)) < 0)
            return -1;
        vr_strlcpy(host.hypervisor, hv, sizeof(host.hypervisor));
        vr_strlcpy(host.hypervisor_detail, detail,
                   sizeof(host.hypervisor_detail));
        VR_INFO(MOD, "host '%s': hypervisor %s (%s)", host.hdr.name, hv,
                detail);
    }
    host.caps = caps;
    host.state = host.enabled ? VR_HOST_MONITORED : VR_HOST_DISABLED;
    host.error[0] = '\0';
    host.monitored_at = vr_now_ms();
    if (host_store(ctl, &host, err) < 0)
        return -1;
    if (!id) {
        char lid[24];
        snprintf(lid, sizeof(lid), "%lld", (long long)host.hdr.id);
        if (vr_db_meta_put(&ctl->db, "local_host", lid, err) < 0)
            return -1;
        VR_INFO(MOD, "registered the local host '%s' (%s, %d CPUs, %llu MiB)",
                host.hdr.name, caps.cpu_model, caps.cpus,
                (unsigned long long)(caps.memory_kib / 1024));
    }
    ctl->local_host = host.hdr.id;
    return 0;
}

/* ---- monitor: the safety net, per host */

/* A host's node failed a call: the host goes OFFLINE (it does not
 * answer) or ERROR (it answers with errors); its VMs' records stay as
 * they are, and it is reconciled again once it answers. */
void vr_ctl_host_failed(struct vr_ctl *ctl, int64_t host_id,
                        const struct vr_error *nerr)
{
    struct vr_host *host = vr_pool_dup(&ctl->db.hosts, host_id);
    enum vr_host_state st = vr_ctl_unreachable(nerr) ? VR_HOST_OFFLINE
                                                     : VR_HOST_ERROR;

    vr_nodes_set_reconciled(&ctl->nodes, host_id, false);
    if (host && (host->state != st || strcmp(host->error, nerr->msg))) {
        host->state = st;
        vr_strlcpy(host->error, nerr->msg, sizeof(host->error));
        host_store(ctl, host, NULL);
        VR_WARN(MOD, "host '%s' is %s: %s", host->hdr.name,
                vr_host_state_name(st), nerr->msg);
    }
    vr_obj_free(&vr_host_kind, host);
}

/* Read a host's capabilities and state through its node, write what
 * changed (live usage at most once a minute). */
static int refresh_host(struct vr_ctl *ctl, int64_t host_id,
                        struct vr_node *node)
{
    struct vr_host_caps *caps = vr_malloc(sizeof(*caps));
    struct vr_host *host = vr_pool_dup(&ctl->db.hosts, host_id);
    struct vr_error nerr = VR_ERROR_INIT;
    enum vr_host_state st;
    int64_t age;
    int rc = -1;

    if (!host)
        goto out;
    if (VR_NODE_CALL(node, host_info, &nerr, caps) < 0) {
        vr_ctl_host_failed(ctl, host_id, &nerr);
        goto out;
    }
    rc = 0;
    /* Write only what changed, and live usage (free memory) at most once
     * a minute: the store and the event stream stay quiet. */
    st = host->enabled ? VR_HOST_MONITORED : VR_HOST_DISABLED;
    age = vr_now_ms() - host->monitored_at;
    /* (a wall clock stepped back gives a negative age: written now, not
     * an hour from now) */
    /* (free disk that grew by a step is written at once: a create may
     * be waiting for it) */
    if (host->state == st && !host->error[0] &&
        strcmp(host->hdr.uuid, caps->uuid) == 0 &&
        caps_same_shape(caps, &host->caps) && age >= 0 && age < 60 * 1000 &&
        caps->disk_free_mib <
            host->caps.disk_free_mib + VR_SCHED_DISK_STEP_MIB)
        goto out;
    if (host->state != st && host->state != VR_HOST_INIT)
        VR_INFO(MOD, "host '%s' answers again: %s", host->hdr.name,
                vr_host_state_name(st));
    vr_strlcpy(host->hdr.uuid, caps->uuid, sizeof(host->hdr.uuid));
    host->caps = *caps;
    host->state = st;
    host->error[0] = '\0';
    host->monitored_at = vr_now_ms();
    rc = host_store(ctl, host, &nerr);
    if (rc < 0)
        VR_WARN(MOD, "host '%s': unable to record its state: %s",
                host->hdr.name, nerr.msg);
out:
    vr_obj_free(&vr_host_kind, host);
    free(caps);
    return rc;
}

struct poll_ctx {
    int64_t host_id;
    struct vr_vm_snap {
        int64_t id;
        uint64_t rev;
        char uuid[VR_UUID_LEN];
    } *vms;
    size_t n, cap;
};

static void push_vm(struct poll_ctx *pc, const struct vr_vm *vm);

static int collect_vm(const void *obj, void *opaque)
{
    const struct vr_vm *vm = obj;
    struct poll_ctx *pc = opaque;

    if (vm->host_id != pc->host_id || vm->task.status != VR_TASK_NONE ||
        vm->state == VR_VM_PENDING)
        return 0;
    push_vm(pc, vm);
    return 0;
}

static void push_vm(struct poll_ctx *pc, const struct vr_vm *vm)
{
    if (pc->n == pc->cap) {
        pc->cap = pc->cap ? pc->cap * 2 : 64;
        pc->vms = vr_realloc(pc->vms, pc->cap * sizeof(*pc->vms));
    }
    pc->vms[pc->n].id = vm->hdr.id;
    pc->vms[pc->n].rev = vm->hdr.rev;
    memcpy(pc->vms[pc->n].uuid, vm->hdr.uuid, VR_UUID_LEN);
    pc->n++;
}

/* Observe the VMs collected in `pc` (taken before the host is asked)
 * against the domains the host lists. */
static int observe_collected(struct vr_ctl *ctl, struct vr_node *node,
                             const struct poll_ctx *pc,
                             struct vr_dom_info **doms_out, size_t *ndoms_out,
                             struct vr_error *err)
{
    struct vr_map by_uuid;
    struct vr_dom_info *doms = NULL;
    size_t ndoms = 0;
    int changed = 0;

    if (VR_NODE_CALL(node, dom_list, err, ctl->instance, &doms, &ndoms) < 0)
        return -1;
    vr_map_init_str(&by_uuid);
    for (size_t i = 0; i < ndoms; i++)
        vr_map_put_str(&by_uuid, doms[i].uuid, &doms[i]);
    for (size_t i = 0; i < pc->n; i++) {
        const struct vr_dom_info *dom = vr_map_get_str(&by_uuid,
                                                       pc->vms[i].uuid);
        struct vr_dom_info none;
        if (!dom) {
            memset(&none, 0, sizeof(none));
            vr_strlcpy(none.uuid, pc->vms[i].uuid, sizeof(none.uuid));
            none.state = VR_DOM_NONE;
            dom = &none;
        }
        changed += vr_ctl_observe_vm(ctl, pc->vms[i].id, pc->vms[i].rev, dom);
    }
    vr_map_release(&by_uuid);
    if (doms_out) {
        *doms_out = doms;
        *ndoms_out = ndoms;
    } else {
        free(doms);
    }
    return changed;
}

int vr_ctl_observe_host(struct vr_ctl *ctl, int64_t host_id,
                        struct vr_node *node, struct vr_dom_info **doms_out,
                        size_t *ndoms_out, struct vr_error *err)
{
    struct poll_ctx pc;
    int changed;

    /* the records first, then the host: a VM whose record changes after
     * this is not judged on what the host said before */
    memset(&pc, 0, sizeof(pc));
    pc.host_id = host_id;
    vr_pool_foreach(&ctl->db.vms, collect_vm, &pc);
    changed = observe_collected(ctl, node, &pc, doms_out, ndoms_out, err);
    free(pc.vms);
    return changed;
}

/* The VMs of every host, in one walk of the pool (a monitor pass): host
 * id -> struct poll_ctx. */
static int index_vm(const void *obj, void *opaque)
{
    const struct vr_vm *vm = obj;
    struct vr_map *by_host = opaque;
    struct poll_ctx *pc;

    if (!vm->host_id || vm->task.status != VR_TASK_NONE ||
        vm->state == VR_VM_PENDING)
        return 0;
    pc = vr_map_get_int(by_host, vm->host_id);
    if (!pc) {
        pc = vr_calloc(1, sizeof(*pc));
        pc->host_id = vm->host_id;
        vr_map_put_int(by_host, vm->host_id, pc);
    }
    push_vm(pc, vm);
    return 0;
}

/* One host: its state, then its VMs (a host not reconciled since it last
 * answered is reconciled, which observes them too).  `pc`: its VMs as
 * collected at the start of the monitor's pass (NULL: collect them). */
static void monitor_host(struct vr_ctl *ctl, int64_t host_id,
                         const struct poll_ctx *pc)
{
    struct vr_node *node = vr_nodes_get(&ctl->nodes, host_id);
    struct vr_error err = VR_ERROR_INIT;

    if (!node)
        return;
    if (refresh_host(ctl, host_id, node) < 0)
        goto out;
    if (!vr_nodes_reconciled(&ctl->nodes, host_id)) {
        if (vr_ctl_reconcile_host(ctl, host_id, node, &err) < 0)
            vr_ctl_host_failed(ctl, host_id, &err);
        goto out;
    }
    if ((pc ? observe_collected(ctl, node, pc, NULL, NULL, &err)
            : vr_ctl_observe_host(ctl, host_id, node, NULL, NULL, &err)) < 0)
        vr_ctl_host_failed(ctl, host_id, &err);
out:
    vr_node_close(node);
}

/* A job finished before the cutoff *(int64_t *)ctx. */
static bool job_expired(const void *obj, void *ctx)
{
    const struct vr_job *job = obj;

    return vr_job_finished(job) && job->finished_at < *(int64_t *)ctx;
}

static void prune_jobs(struct vr_ctl *ctl)
{
    int64_t cutoff =
        vr_now_ms() - (int64_t)ctl->cfg->job_retention_s * 1000;
    size_t n;
    int64_t *ids = vr_pool_ids(&ctl->db.jobs, job_expired, &cutoff, &n);

    for (size_t i = 0; i < n; i += VR_TX_MAX) {
        struct vr_tx tx;
        if (vr_tx_begin(&ctl->db, &tx, NULL) < 0)
            break;
        for (size_t k = i; k < n && k < i + VR_TX_MAX; k++)
            vr_tx_del(&tx, &ctl->db.jobs, ids[k], NULL);
        vr_tx_commit(&tx, NULL);
    }
    free(ids);
}

static void *monitor_main(void *arg)
{
    struct vr_ctl *ctl = arg;
    int64_t next = vr_mono_ms();

    while (!atomic_load(&ctl->stopping)) {
        vr_orch_requeue_due(ctl);
        if (atomic_exchange(&ctl->monitor_kick, false) &&
            vr_mono_ms() < next) {
            /* a host lost events: reconcile the hosts that need it now */
            size_t n;
            int64_t *hosts = vr_nodes_hosts(&ctl->nodes, &n);
            for (size_t i = 0; i < n && !atomic_load(&ctl->stopping); i++)
                if (!vr_nodes_reconciled(&ctl->nodes, hosts[i]))
                    monitor_host(ctl, hosts[i], NULL);
            free(hosts);
        }
        if (vr_mono_ms() >= next) {
            /* every host's VMs in one walk of the pool, before any host
             * is asked (not one walk per host) */
            static const struct poll_ctx none;
            struct vr_map by_host;
            size_t n, pos = 0;
            int64_t *hosts = vr_nodes_hosts(&ctl->nodes, &n);
            struct poll_ctx *pc;

            vr_map_init_int(&by_host);
            vr_pool_foreach(&ctl->db.vms, index_vm, &by_host);
            for (size_t i = 0; i < n && !atomic_load(&ctl->stopping); i++) {
                pc = vr_map_get_int(&by_host, hosts[i]);
                monitor_host(ctl, hosts[i], pc ? pc : &none);
            }
            while ((pc = vr_map_next(&by_host, &pos))) {
                free(pc->vms);
                free(pc);
            }
            vr_map_release(&by_host);
            free(hosts);
            vr_auth_expire(ctl);
            prune_jobs(ctl);
            vr_audit_flush(ctl->audit, vr_now_ms());
            next = vr_mono_ms() + (int64_t)ctl->cfg->poll_interval_s * 1000;
        }
        vr_sleep_ms(200);
    }
    return NULL;
}

/* ---- life cycle */

static int parse_ratio(const char *s, const char *name, double max,
                       double *out, struct vr_error *err)
{
    char *end = NULL;
    double v = s ? strtod(s, &end) : 0;

    if (!s || end == s || *end || !(v >= 0.1 && v <= max))
        return vr_err(err, VR_E_INVALID, "setting '%s' must be a number "
                      "from 0.1 to %g", name, max);
    *out = v;
    return 0;
}

/* ---- file modes
 *
 * Nothing under the state directory is readable by other local users:
 * the store (password hashes, every tenant's data), its WAL, the logs,
 * the keys, the images and the VMs' disks are 0600 (0400 for images),
 * directories 0700, but those QEMU (an unprivileged user) must pass
 * through to reach disks and images, which are 0711: it may traverse
 * them, not list them, and libvirt gives it each file it needs (its own
 * ownership handling).  vireod runs with umask 077; at each start the
 * modes of what exists are brought back to these, whatever an older
 * version or an operator left. */

/* chmod `dir` 0711 and each of its parents up to the state directory. */
static void traversable(const struct vr_config *cfg, const char *dir)
{
    vr_autofree char *p = vr_strdup(dir);
    size_t root = strlen(cfg->state_dir);

    for (;;) {
        char *slash;
        chmod(p, 0711);
        if (strncmp(p, cfg->state_dir, root) != 0 || strlen(p) <= root)
            break;
        slash = strrchr(p, '/');
        if (!slash || slash == p)
            break;
        *slash = '\0';
    }
}

/* Files under `dir` (one level and, with `deep`, the directories in it):
 * drop every right of group and others (files `fmode`, directories
 * 0711). */
static void tighten(const char *dir, mode_t fmode, bool deep)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d))) {
        vr_autofree char *path = NULL;
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        path = vr_asprintf("%s/%s", dir, de->d_name);
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && deep) {
            chmod(path, 0711);
            tighten(path, fmode, false);
        } else if (S_ISREG(st.st_mode) && (st.st_mode & 077)) {
            chmod(path, (st.st_mode & 0700 & fmode) | (fmode & 0400));
        }
    }
    closedir(d);
}

static void secure_state_dir(const struct vr_config *cfg)
{
    static const char *const secrets[] = {"admin-password", "audit.log",
                                          "instance", "vireod.pid",
                                          "vireod.lock", "vireod.log"};
    const char *db = strncmp(cfg->store_url, "sqlite:", 7) == 0
                         ? cfg->store_url + 7
                         : NULL;

    traversable(cfg, cfg->image_dir);
    traversable(cfg, cfg->system_dir);
    chmod(cfg->state_dir, 0711);
    for (size_t i = 0; i < VR_ARRAY_SIZE(secrets); i++) {
        vr_autofree char *p = vr_asprintf("%s/%s", cfg->state_dir,
                                          secrets[i]);
        chmod(p, 0600);
    }
    if (cfg->log_file && cfg->log_file[0])
        chmod(cfg->log_file, 0600);
    if (db) {
        static const char *const ext[] = {"", "-wal", "-shm", "-journal"};
        for (size_t i = 0; i < VR_ARRAY_SIZE(ext); i++) {
            vr_autofree char *p = vr_asprintf("%s%s", db, ext[i]);
            chmod(p, 0600);
        }
    }
    if (cfg->tls_generate) {
        chmod(cfg->tls_dir, 0700);
        tighten(cfg->tls_dir, 0600, false);
    }
    /* images are read-only: 0400; disks and logs of VMs: 0600 */
    tighten(cfg->image_dir, 0400, false);
    tighten(cfg->system_dir, 0600, true);
}

/* ---- whose state directory this is
 *
 * <state_dir>/instance holds the id of the installation that uses the
 * directory, beside the store's own copy.  An empty or missing store over
 * a directory that holds data (a mark, the admin password, VM directories
 * or images) is not a new installation: it is a lost or wrong store, and
 * starting as new would make a new id and lose track of every VM; so
 * vireod refuses, unless told --new-installation (and even then nothing
 * of the old installation is touched: its domains and directories carry
 * its own id). */

#define INSTANCE_MARK "instance"

static char *read_instance_mark(const struct vr_config *cfg)
{
    vr_autofree char *path = vr_asprintf("%s/" INSTANCE_MARK, cfg->state_dir);
    char *text = NULL;
    size_t n = 0;

    if (vr_read_file(path, 256, &text, &n, NULL) < 0)
        return NULL;
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    return text;
}

static int write_instance_mark(const struct vr_config *cfg,
                               const char *instance, struct vr_error *err)
{
    vr_autofree char *path = vr_asprintf("%s/" INSTANCE_MARK, cfg->state_dir);
    vr_autofree char *mark = read_instance_mark(cfg);
    vr_autofree char *line = NULL;

    if (mark && strcmp(mark, instance) == 0)
        return 0;
    line = vr_asprintf("%s\n", instance);
    return vr_write_file_atomic(path, line, strlen(line), 0600, err);
}

/* Has `dir` any entry (but . and ..)? */
static bool dir_has_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool any = false;

    if (!d)
        return false;
    while (!any && (de = readdir(d)))
        any = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return any;
}

/* `inst`: the store's installation id, NULL for an empty store. */
static int check_instance(const struct vr_config *cfg, const char *inst,
                          struct vr_error *err)
{
    vr_autofree char *mark = read_instance_mark(cfg);
    vr_autofree char *pw = vr_asprintf("%s/admin-password", cfg->state_dir);
    const char *holds = NULL;

    if (inst) {
        if (mark && strcmp(mark, inst) != 0)
            return vr_err(err, VR_E_CONFLICT, "the store '%s' belongs to "
                          "installation %s but the state directory '%s' to "
                          "installation %s: is 'store' the right one?",
                          cfg->store_url, inst, cfg->state_dir, mark);
        return 0;
    }
    if (mark)
        holds = "the mark of installation";
    else if (vr_path_exists(pw))
        holds = "an admin password";
    else if (dir_has_entries(cfg->system_dir))
        holds = "VM directories";
    else if (dir_has_entries(cfg->image_dir))
        holds = "images";
    if (!holds)
        return 0;
    if (cfg->new_installation) {
        VR_WARN(MOD, "the store '%s' is empty and the state directory '%s' "
                "holds %s%s%s: starting a new installation as told "
                "(--new-installation); the old one's domains and files are "
                "left alone", cfg->store_url, cfg->state_dir, holds,
                mark ? " " : "", mark ? mark : "");
        return 0;
    }
    return vr_err(err, VR_E_CONFLICT, "the store '%s' is empty but the state "
                  "directory '%s' holds %s%s%s: the store was lost or "
                  "'store' names the wrong one.  Restore it from a backup "
                  "(nothing was changed), or start with --new-installation "
                  "to begin a new installation beside the old data (which "
                  "it will not touch)", cfg->store_url, cfg->state_dir, holds,
                  mark ? " " : "", mark ? mark : "");
}

int vr_ctl_init(struct vr_ctl *ctl, const struct vr_config *cfg,
                struct vr_error *err)
{
    struct vr_node_local_cfg ncfg;
    struct vr_node *node;
    char *inst;
    pthread_condattr_t ca;

    memset(ctl, 0, sizeof(*ctl));
    ctl->cfg = cfg;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&ctl->qlock, NULL);
    pthread_cond_init(&ctl->qcond, &ca);    /* workers sleep until a
                                             * wait is due */
    pthread_mutex_init(&ctl->olock, NULL);
    pthread_cond_init(&ctl->ocond, NULL);
    pthread_mutex_init(&ctl->hlock, NULL);
    pthread_cond_init(&ctl->hcond, &ca);
    vr_map_init_int(&ctl->holders);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&ctl->ulock, NULL);
    vr_map_init_int(&ctl->uploads);
    vr_nodes_init(&ctl->nodes);
    vr_authz_init(&ctl->authz);
    /* per user: 5 failures free, then 1 s, 2 s, 4 s ... up to 5 minutes;
     * per address (many users may share one): 30 free */
    vr_throttle_init(&ctl->throttle_user, 5, 1000, 5 * 60 * 1000);
    vr_throttle_init(&ctl->throttle_addr, 30, 1000, 5 * 60 * 1000);
    /* a user name found taken: 10 free per caller, then slower */
    vr_throttle_init(&ctl->throttle_names, 10, 1000, 5 * 60 * 1000);
    ctl->events = vr_events_new(4096);

    if (parse_ratio(cfg->host_cpu_ratio, "host_cpu_ratio", 64,
                    &ctl->host_cpu_ratio, err) < 0 ||
        parse_ratio(cfg->host_mem_ratio, "host_mem_ratio", 4,
                    &ctl->host_mem_ratio, err) < 0)
        return -1;

    /* LDAP settings are checked before anything is opened: a mistake in
     * them stops the start at once (no server is contacted) */
    if (cfg->ldap_uri && *cfg->ldap_uri) {
        if (vr_name_check(cfg->ldap_group, "setting 'ldap_group'", err) < 0)
            return -1;
        ctl->ldap = vr_ldap_open(cfg, err);
        if (!ctl->ldap)
            return -1;
        vr_strlcpy(ctl->ldap->group, cfg->ldap_group,
                   sizeof(ctl->ldap->group));
    }

    if (vr_mkdir_p(cfg->state_dir, 0711, err) < 0 ||
        vr_mkdir_p(cfg->image_dir, 0711, err) < 0 ||
        vr_mkdir_p(cfg->system_dir, 0711, err) < 0)
        return -1;
    secure_state_dir(cfg);
    {
        char *path = vr_asprintf("%s/audit.log", cfg->state_dir);
        ctl->audit = vr_audit_open(path,
                                   (uint64_t)cfg->audit_max_size_mib << 20,
                                   cfg->audit_keep, err);
        free(path);
        if (!ctl->audit)
            return -1;
    }
    if (vr_db_open(&ctl->db, cfg->store_url, err) < 0)
        return -1;
    inst = vr_db_meta_get(&ctl->db, "instance");
    if (check_instance(cfg, inst, err) < 0) {
        free(inst);
        return -1;
    }
    if (!inst) {
        char fresh[VR_UUID_LEN];
        vr_uuid_generate(fresh);
        if (vr_db_meta_put(&ctl->db, "instance", fresh, err) < 0)
            return -1;
        inst = vr_strdup(fresh);
        VR_INFO(MOD, "a new installation: %s", fresh);
    }
    vr_strlcpy(ctl->instance, inst, sizeof(ctl->instance));
    free(inst);
    if (write_instance_mark(cfg, ctl->instance, err) < 0)
        return -1;
    vr_db_set_listeners(&ctl->db, on_commit, after_commit, ctl);

    if (vr_clusters_bootstrap(ctl, err) < 0)
        return -1;
    if (cfg->local_host) {
        memset(&ncfg, 0, sizeof(ncfg));
        ncfg.libvirt_uri = cfg->libvirt_uri;
        ncfg.system_dir = cfg->system_dir;
        ncfg.probe_kernel = cfg->probe_kernel;
        ncfg.probe_initrd = cfg->probe_initrd;
        ncfg.probe_timeout_s = cfg->probe_timeout_s;
        ncfg.timeout_s = cfg->node_timeout_s;
        ncfg.force_hypervisor = cfg->hypervisor;
        ncfg.instance = ctl->instance;
        node = vr_node_local_open(&ncfg, vr_ctl_node_event, ctl, err);
        if (!node)
            return -1;
        if (register_local_host(ctl, node, err) < 0) {
            vr_node_close(node);
            return -1;
        }
        vr_nodes_add(&ctl->nodes, ctl->local_host, node);
    }
    /* the other hosts' nodes (one that cannot be opened is OFFLINE) */
    vr_hosts_open_all(ctl);
    if (vr_auth_bootstrap(ctl, err) < 0)
        return -1;
    if (ctl->ldap && !vr_pool_resolve(&ctl->db.groups, ctl->ldap->group))
        VR_WARN(MOD, "group '%s' (setting 'ldap_group') does not exist; "
                "users created at their first LDAP login go to 'users' "
                "until it does", ctl->ldap->group);
    return vr_placement_init(ctl, err);
}

int vr_ctl_start(struct vr_ctl *ctl, struct vr_error *err)
{
    if (vr_images_reconcile(ctl, err) < 0 || vr_quota_recount(ctl, err) < 0 ||
        vr_ctl_reconcile(ctl, err) < 0)
        return -1;
    if (vr_orch_start_workers(ctl, err) < 0)
        return -1;
    if (pthread_create(&ctl->observer, NULL, observer_main, ctl) != 0 ||
        pthread_create(&ctl->monitor, NULL, monitor_main, ctl) != 0)
        return vr_err(err, VR_E_INTERNAL, "unable to start threads");
    ctl->threads_started = true;
    return 0;
}

void vr_ctl_stop_begin(struct vr_ctl *ctl)
{
    atomic_store(&ctl->stopping, true);
    if (ctl->events)
        vr_events_shutdown(ctl->events);
    vr_orch_domain_changed(ctl);
}

void vr_ctl_shutdown(struct vr_ctl *ctl)
{
    atomic_store(&ctl->stopping, true);
    if (ctl->events)
        vr_events_shutdown(ctl->events);
    vr_orch_stop_workers(ctl);
    if (ctl->threads_started) {
        pthread_mutex_lock(&ctl->olock);
        pthread_cond_broadcast(&ctl->ocond);
        pthread_mutex_unlock(&ctl->olock);
        pthread_join(ctl->observer, NULL);
        pthread_join(ctl->monitor, NULL);
        ctl->threads_started = false;
    }
    vr_placement_release_all(ctl);
    vr_nodes_release(&ctl->nodes);
    if (ctl->db.users.kind)
        vr_db_close(&ctl->db);
    vr_events_free(ctl->events);
    ctl->events = NULL;
    free(ctl->queue);
    free(ctl->later);
    free(ctl->waits);
    free(ctl->hints);
    vr_map_release(&ctl->uploads);
    if (ctl->ldap && ctl->ldap->close)
        ctl->ldap->close(ctl->ldap);
    ctl->ldap = NULL;
    vr_authz_release(&ctl->authz);
    vr_throttle_release(&ctl->throttle_user);
    vr_throttle_release(&ctl->throttle_addr);
    vr_throttle_release(&ctl->throttle_names);
    vr_audit_close(ctl->audit);
    ctl->audit = NULL;
    pthread_mutex_destroy(&ctl->qlock);
    pthread_cond_destroy(&ctl->qcond);
    pthread_mutex_destroy(&ctl->olock);
    pthread_cond_destroy(&ctl->ocond);
    pthread_mutex_destroy(&ctl->hlock);
    pthread_cond_destroy(&ctl->hcond);
    vr_map_release(&ctl->holders);
    pthread_mutex_destroy(&ctl->ulock);
}
