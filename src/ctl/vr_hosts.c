/*
 * vr_hosts.c - hosts added by an operator (vr_hosts.h).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vr_hosts.h"
#include "vr_log.h"
#include "vr_node_sim.h"
#include "vr_placement.h"

#define MOD "hosts"

static char *sim_path(struct vr_ctl *ctl, const char *uuid, const char *ext)
{
    return vr_asprintf("%s/sim/%s.%s", ctl->cfg->state_dir, uuid, ext);
}

static struct vr_node *open_sim(struct vr_ctl *ctl, const char *uuid,
                                const char *name,
                                const struct vr_host_caps *caps, int cpus,
                                uint64_t memory_mib, struct vr_error *err)
{
    vr_autofree char *dir = vr_asprintf("%s/sim", ctl->cfg->state_dir);
    vr_autofree char *state = sim_path(ctl, uuid, "json");
    vr_autofree char *faults = sim_path(ctl, uuid, "faults");
    struct vr_node_sim_cfg cfg;

    if (vr_mkdir_p(dir, 0700, err) < 0)
        return NULL;
    memset(&cfg, 0, sizeof(cfg));
    cfg.uuid = uuid;
    cfg.hostname = name;
    cfg.caps = caps;
    cfg.cpus = cpus;
    cfg.memory_mib = memory_mib;
    cfg.instance = ctl->instance;
    cfg.state_file = state;
    cfg.fault_file = faults;
    cfg.timeout_ms = ctl->cfg->node_timeout_s * 1000;
    return vr_node_sim_open(&cfg, vr_ctl_node_event, ctl, err);
}

int vr_hosts_add(struct vr_ctl *ctl, const struct vr_host_add_req *req,
                 int64_t *host_id, struct vr_error *err)
{
    struct vr_host *h = NULL;
    struct vr_node *node = NULL;
    char uuid[VR_UUID_LEN], hv[8], detail[256];
    struct vr_tx tx;
    int rc = -1;

    if (vr_name_check(req->name, "host name", err) < 0)
        return -1;
    if (!req->transport || strcmp(req->transport, "sim") != 0)
        return vr_err(err, VR_E_INVALID, "transport must be 'sim' (hosts "
                      "with a node agent join with a token)");
    if (req->cpus < 0 || req->cpus > VR_HOST_MAX_CPUS)
        return vr_err(err, VR_E_INVALID, "cpus must be between 2 and %d",
                      VR_HOST_MAX_CPUS);
    if (req->caps && (req->caps->cpus < 1 || !req->caps->memory_kib))
        return vr_err(err, VR_E_INVALID, "the capabilities name no CPU or "
                      "no memory");
    if (req->cluster_id && !vr_pool_has(&ctl->db.clusters, req->cluster_id))
        return vr_err(err, VR_E_NOT_FOUND, "cluster %lld not found",
                      (long long)req->cluster_id);
    if (vr_pool_id_by_name(&ctl->db.hosts, req->name))
        return vr_err(err, VR_E_CONFLICT, "a host named '%s' exists",
                      req->name);
    vr_uuid_generate(uuid);
    node = open_sim(ctl, uuid, req->name, req->caps, req->cpus,
                    req->memory_mib, err);
    if (!node)
        return -1;
    h = vr_calloc(1, sizeof(*h));
    if (VR_NODE_CALL(node, host_info, err, &h->caps) < 0 ||
        VR_NODE_CALL(node, probe_hypervisor, err, hv, detail,
                     sizeof(detail)) < 0)
        goto out;
    vr_host_conf_defaults(&h->conf);
    h->cluster_id = req->cluster_id ? req->cluster_id
                                    : vr_clusters_default(ctl);
    h->hdr.id = vr_pool_next_id(&ctl->db.hosts);
    vr_strlcpy(h->hdr.uuid, uuid, sizeof(h->hdr.uuid));
    vr_strlcpy(h->hdr.name, req->name, sizeof(h->hdr.name));
    h->enabled = true;
    h->state = VR_HOST_MONITORED;
    h->monitored_at = vr_now_ms();
    vr_strlcpy(h->transport, req->transport, sizeof(h->transport));
    vr_strlcpy(h->hypervisor, hv, sizeof(h->hypervisor));
    vr_strlcpy(h->hypervisor_detail, detail, sizeof(h->hypervisor_detail));
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        goto out;
    /* the node first: when the record appears, it is reachable */
    vr_nodes_add(&ctl->nodes, h->hdr.id, node);
    vr_nodes_set_reconciled(&ctl->nodes, h->hdr.id, true);
    node = NULL;
    if (vr_tx_put(&tx, &ctl->db.hosts, h, err) < 0) {
        vr_tx_abort(&tx);
        vr_nodes_remove(&ctl->nodes, h->hdr.id);
        goto out;
    }
    if (vr_tx_commit(&tx, err) < 0) {
        vr_nodes_remove(&ctl->nodes, h->hdr.id);
        goto out;
    }
    VR_INFO(MOD, "added host '%s' (%s, %d CPUs, %llu MiB)", h->hdr.name,
            h->transport, h->caps.cpus,
            (unsigned long long)(h->caps.memory_kib / 1024));
    *host_id = h->hdr.id;
    rc = 0;
out:
    if (rc < 0 && node) {
        vr_autofree char *state = sim_path(ctl, uuid, "json");
        vr_node_close(node);
        unlink(state);
    }
    vr_obj_free(&vr_host_kind, h);
    return rc;
}

static bool vm_on_host(const void *obj, void *ctx)
{
    return ((const struct vr_vm *)obj)->host_id == *(const int64_t *)ctx;
}

int vr_hosts_delete(struct vr_ctl *ctl, int64_t host_id, struct vr_error *err)
{
    struct vr_host *h;
    struct vr_tx tx;
    size_t nvms;
    int64_t *ids;
    char uuid[VR_UUID_LEN], name[VR_NAME_SIZE], transport[16];

    if (host_id == ctl->local_host)
        return vr_err(err, VR_E_CONFLICT, "the host served by this vireod "
                      "cannot be removed (disable it, or set local_host = "
                      "false)");
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    h = vr_pool_dup(&ctl->db.hosts, host_id);
    if (!h) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "host %lld not found",
                      (long long)host_id);
    }
    vr_strlcpy(uuid, h->hdr.uuid, sizeof(uuid));
    vr_strlcpy(name, h->hdr.name, sizeof(name));
    vr_strlcpy(transport, h->transport, sizeof(transport));
    vr_obj_free(&vr_host_kind, h);
    /* under the write lock: no VM is placed there meanwhile */
    ids = vr_pool_ids(&ctl->db.vms, vm_on_host, &host_id, &nvms);
    free(ids);
    if (nvms) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_CONFLICT, "host '%s' holds %zu vm%s: move or "
                      "delete them first", name, nvms, nvms == 1 ? "" : "s");
    }
    if (vr_tx_del(&tx, &ctl->db.hosts, host_id, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    if (vr_tx_commit(&tx, err) < 0)
        return -1;
    vr_nodes_remove(&ctl->nodes, host_id);
    if (strcmp(transport, "sim") == 0) {
        vr_autofree char *state = sim_path(ctl, uuid, "json");
        vr_autofree char *faults = sim_path(ctl, uuid, "faults");
        unlink(state);
        unlink(faults);
    }
    VR_INFO(MOD, "removed host '%s'", name);
    return 0;
}

struct open_ctx {
    struct vr_ctl *ctl;
    int64_t *ids;
    size_t n, cap;
};

static int collect_host(const void *obj, void *opaque)
{
    const struct vr_host *h = obj;
    struct open_ctx *oc = opaque;

    if (h->hdr.id == oc->ctl->local_host)
        return 0;
    if (oc->n == oc->cap) {
        oc->cap = oc->cap ? oc->cap * 2 : 64;
        oc->ids = vr_realloc(oc->ids, oc->cap * sizeof(*oc->ids));
    }
    oc->ids[oc->n++] = h->hdr.id;
    return 0;
}

void vr_hosts_open_all(struct vr_ctl *ctl)
{
    struct open_ctx oc = {ctl, NULL, 0, 0};

    vr_pool_foreach(&ctl->db.hosts, collect_host, &oc);
    for (size_t i = 0; i < oc.n; i++) {
        struct vr_host *h = vr_pool_dup(&ctl->db.hosts, oc.ids[i]);
        struct vr_error err = VR_ERROR_INIT;
        struct vr_node *node = NULL;

        if (!h)
            continue;
        if (strcmp(h->transport, "sim") == 0)
            node = open_sim(ctl, h->hdr.uuid, h->hdr.name, &h->caps, 0, 0,
                            &err);
        else if (strcmp(h->transport, "local") == 0)
            vr_err(&err, VR_E_UNAVAILABLE, "this vireod does not serve the "
                   "local host (setting local_host)");
        else
            vr_err(&err, VR_E_UNAVAILABLE, "transport '%s' is not known "
                   "to this vireod", h->transport);
        if (node) {
            vr_nodes_add(&ctl->nodes, h->hdr.id, node);
        } else {
            /* no node: the host cannot be reached (OFFLINE) */
            err.code = VR_E_UNAVAILABLE;
            vr_ctl_host_failed(ctl, h->hdr.id, &err);
        }
        vr_obj_free(&vr_host_kind, h);
    }
    free(oc.ids);
}

struct vr_node *vr_hosts_sim_node(struct vr_ctl *ctl, int64_t host_id)
{
    struct vr_node *n = vr_nodes_get(&ctl->nodes, host_id);

    if (n && strcmp(n->ops->name, "sim") != 0) {
        vr_node_close(n);
        return NULL;
    }
    return n;
}
