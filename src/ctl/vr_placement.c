/* vr_placement.c - see vr_placement.h. */
#include "vr_placement.h"

#include <curl/curl.h>
#include <string.h>

#include "vr_json.h"
#include "vr_log.h"

#define MOD "placement"

/* ---- start-up */

static int hold_vm(const void *obj, void *ctx)
{
    const struct vr_vm *vm = obj;
    struct vr_ctl *ctl = ctx;
    struct vr_error err = VR_ERROR_INIT;

    if (vm->placed &&
        vr_sched_hold(&ctl->sched, &vm->plan, vm->hdr.id, &err) < 0)
        VR_WARN(MOD, "vm '%s': its placement no longer holds: %s", vm->hdr.name,
                err.msg);
    if (vm->placed && vm->state == VR_VM_RUNNING)
        vr_sched_running(&ctl->sched, vm->plan.host_id, +1);
    pthread_mutex_lock(&ctl->plock);
    if (vm->state == VR_VM_RUNNING)
        vr_map_put_int(
            &ctl->running, vm->hdr.id,
            (void *)(intptr_t)(vm->placed ? vm->plan.host_id : vm->host_id));
    pthread_mutex_unlock(&ctl->plock);
    return 0;
}

/* VMs from before placement plans (a host but no plan) */
static bool is_legacy(const void *obj, void *ctx)
{
    const struct vr_vm *vm = obj;

    (void)ctx;
    return !vm->placed && vm->host_id;
}

/* Give such a VM the plan it would have had: shared CPUs on its host. */
static void adopt_legacy(struct vr_ctl *ctl, int64_t vm_id)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_vm vm;
    struct vr_sched_plan *p = &vm.plan;

    if (vr_pool_get(&ctl->db.vms, vm_id, &vm) < 0)
        return;
    memset(p, 0, sizeof(*p));
    p->host_id = vm.host_id;
    p->policy = VR_CPU_SHARED;
    p->nvcpus = vm.vcpus;
    for (int i = 0; i < VR_SCHED_MAX_VCPUS; i++)
        p->vcpu_cpu[i] = -1;
    p->memory_mib = vm.memory_mib;
    for (int i = 0; i < vm.ndisks; i++)
        p->disk_mib += vm.disks[i].size_mib;
    vm.placed = true;
    if (vr_sched_hold(&ctl->sched, p, vm.hdr.id, &err) < 0 ||
        vr_db_put(&ctl->db, &ctl->db.vms, &vm, &err) < 0) {
        VR_WARN(MOD, "vm '%s': unable to record its placement: %s", vm.hdr.name,
                err.msg);
        return;
    }
    VR_INFO(MOD, "vm '%s': recorded its placement on host %lld", vm.hdr.name,
            (long long)vm.host_id);
}

/* Give the scheduler host `src` with the ratios in effect: its own,
 * else its cluster's, else the daemon's settings. */
static void sched_host_set(struct vr_ctl *ctl, const struct vr_host *src)
{
    struct vr_host *h = vr_malloc(sizeof(*h));
    struct vr_error err = VR_ERROR_INIT;
    struct vr_cluster c;

    *h = *src;
    if (vr_pool_get(&ctl->db.clusters, h->cluster_id, &c) < 0)
        memset(&c, 0, sizeof(c));
    if (!(h->conf.cpu_ratio > 0))
        h->conf.cpu_ratio = c.cpu_ratio > 0 ? c.cpu_ratio
                                            : ctl->host_cpu_ratio;
    if (!(h->conf.mem_ratio > 0))
        h->conf.mem_ratio = c.mem_ratio > 0 ? c.mem_ratio
                                            : ctl->host_mem_ratio;
    if (vr_sched_host_set(&ctl->sched, h, &err) < 0)
        VR_WARN(MOD, "%s", err.msg);
    free(h);
}

static int add_host(const void *obj, void *ctx)
{
    sched_host_set(ctx, obj);
    return 0;
}

static void sched_cluster_set(struct vr_ctl *ctl, const struct vr_cluster *c)
{
    struct vr_error err = VR_ERROR_INIT;

    if (vr_sched_cluster_set(&ctl->sched, c->hdr.id, c->hdr.name, c->labels,
                             c->nlabels, c->requirements, c->rank, &err) < 0)
        VR_WARN(MOD, "cluster '%s': %s", c->hdr.name, err.msg);
}

static int add_cluster(const void *obj, void *ctx)
{
    sched_cluster_set(ctx, obj);
    return 0;
}

/* Compile expression `src` ("": none, *out NULL); an error is prefixed
 * with `name`. */
static int compile_setting(const char *src, const char *name, bool want_bool,
                           struct vr_expr **out, struct vr_error *err)
{
    *out = NULL;
    if (!src[0])
        return 0;
    *out = vr_expr_compile(src, vr_sched_schema(), want_bool, err);
    if (!*out) {
        vr_err_prefix(err, "%s", name);
        return -1;
    }
    return 0;
}

/* Whether `src` compiles. */
static int check_setting(const char *src, const char *name, bool want_bool,
                         struct vr_error *err)
{
    struct vr_expr *e;

    if (compile_setting(src, name, want_bool, &e, err) < 0)
        return -1;
    vr_expr_free(e);
    return 0;
}

int vr_placement_init(struct vr_ctl *ctl, struct vr_error *err)
{
    enum vr_sched_rank rank;

    if (vr_sched_rank_parse(ctl->cfg->sched_policy, &rank) < 0)
        return vr_err(err, VR_E_INVALID,
                      "sched_policy must be packing, "
                      "striping or load");
    /* the defaults for VMs that give none: compiled once */
    if (compile_setting(ctl->cfg->sched_requirements,
                        "setting 'sched_requirements'", true,
                        &ctl->default_reqs, err) < 0)
        return -1;
    if (compile_setting(ctl->cfg->sched_rank, "setting 'sched_rank'", false,
                        &ctl->default_rank, err) < 0) {
        vr_expr_free(ctl->default_reqs);
        ctl->default_reqs = NULL;
        return -1;
    }
    vr_sched_init(&ctl->sched, rank);
    pthread_mutex_init(&ctl->plock, NULL);
    vr_map_init_int(&ctl->running);
    ctl->parked = NULL;
    ctl->nparked = ctl->parked_cap = 0;
    vr_pool_foreach(&ctl->db.clusters, add_cluster, ctl);
    vr_pool_foreach(&ctl->db.hosts, add_host, ctl);
    vr_pool_foreach(&ctl->db.vms, hold_vm, ctl);
    {
        size_t n;
        int64_t *ids = vr_pool_ids(&ctl->db.vms, is_legacy, NULL, &n);
        ctl->placement_ready = true;
        for (size_t i = 0; i < n; i++)
            adopt_legacy(ctl, ids[i]);
        free(ids);
    }
    ctl->sched_seen = vr_sched_generation(&ctl->sched);
    ctl->placement_ready = true;
    return 0;
}

void vr_placement_release_all(struct vr_ctl *ctl)
{
    if (!ctl->placement_ready)
        return;
    vr_sched_release(&ctl->sched);
    vr_map_release(&ctl->running);
    vr_expr_free(ctl->default_reqs);
    vr_expr_free(ctl->default_rank);
    ctl->default_reqs = ctl->default_rank = NULL;
    free(ctl->parked);
    ctl->parked = NULL;
    pthread_mutex_destroy(&ctl->plock);
    ctl->placement_ready = false;
}

/* ---- parked creates */

void vr_placement_park(struct vr_ctl *ctl, int64_t job_id, uint64_t gen)
{
    if (vr_sched_generation(&ctl->sched) != gen) {
        vr_orch_enqueue(ctl, job_id);
        return;
    }
    pthread_mutex_lock(&ctl->plock);
    for (size_t i = 0; i < ctl->nparked; i++)
        if (ctl->parked[i] == job_id) {
            pthread_mutex_unlock(&ctl->plock);
            return;
        }
    if (ctl->nparked == ctl->parked_cap) {
        ctl->parked_cap = ctl->parked_cap ? ctl->parked_cap * 2 : 16;
        ctl->parked =
            vr_realloc(ctl->parked, ctl->parked_cap * sizeof(*ctl->parked));
    }
    ctl->parked[ctl->nparked++] = job_id;
    pthread_mutex_unlock(&ctl->plock);
}

void vr_placement_unpark(struct vr_ctl *ctl, int64_t job_id)
{
    pthread_mutex_lock(&ctl->plock);
    for (size_t i = 0; i < ctl->nparked; i++)
        if (ctl->parked[i] == job_id)
            ctl->parked[i--] = ctl->parked[--ctl->nparked];
    pthread_mutex_unlock(&ctl->plock);
}

/* Capacity may have appeared: give every parked create another try. */
static void wake_parked(struct vr_ctl *ctl)
{
    int64_t *jobs;
    size_t n;

    uint64_t gen = vr_sched_generation(&ctl->sched);

    pthread_mutex_lock(&ctl->plock);
    if (gen == ctl->sched_seen || !ctl->nparked) {
        ctl->sched_seen = gen;
        pthread_mutex_unlock(&ctl->plock);
        return;
    }
    ctl->sched_seen = gen;
    jobs = ctl->parked;
    n = ctl->nparked;
    ctl->parked = NULL;
    ctl->nparked = ctl->parked_cap = 0;
    pthread_mutex_unlock(&ctl->plock);
    VR_INFO(MOD, "capacity changed: retrying %zu waiting creates", n);
    for (size_t i = 0; i < n; i++)
        vr_orch_enqueue(ctl, jobs[i]);
    free(jobs);
}

void vr_placement_host_changed(struct vr_ctl *ctl, int64_t host_id)
{
    struct vr_host *h;

    if (!ctl->placement_ready)
        return;
    h = vr_pool_dup(&ctl->db.hosts, host_id);
    if (!h) {
        vr_sched_host_remove(&ctl->sched, host_id);
        return;
    }
    sched_host_set(ctl, h);
    vr_obj_free(&vr_host_kind, h);
    wake_parked(ctl);
}

/* A host (an ACL rule) in the cluster *(int64_t *)ctx. */
static bool host_in_cluster(const void *obj, void *ctx)
{
    return ((const struct vr_host *)obj)->cluster_id == *(int64_t *)ctx;
}

static bool acl_in_cluster(const void *obj, void *ctx)
{
    return ((const struct vr_acl *)obj)->cluster_id == *(int64_t *)ctx;
}

void vr_placement_cluster_changed(struct vr_ctl *ctl, int64_t cluster_id)
{
    struct vr_cluster c;
    int64_t *ids;
    size_t n;

    if (!ctl->placement_ready)
        return;
    if (vr_pool_get(&ctl->db.clusters, cluster_id, &c) == 0)
        sched_cluster_set(ctl, &c);
    else
        vr_sched_cluster_remove(&ctl->sched, cluster_id);
    /* its hosts' ratios may come from it */
    ids = vr_pool_ids(&ctl->db.hosts, host_in_cluster, &cluster_id, &n);
    for (size_t i = 0; i < n; i++) {
        struct vr_host *h = vr_pool_dup(&ctl->db.hosts, ids[i]);
        if (h) {
            sched_host_set(ctl, h);
            vr_obj_free(&vr_host_kind, h);
        }
    }
    free(ids);
    wake_parked(ctl);
}

void vr_placement_vm_changed(struct vr_ctl *ctl, int64_t vm_id, bool gone,
                             int64_t host_id)
{
    struct vr_vm vm;
    bool was, now = false;
    int64_t was_host;

    if (!ctl->placement_ready)
        return;
    if (!gone && vr_pool_get(&ctl->db.vms, vm_id, &vm) == 0) {
        now = vm.state == VR_VM_RUNNING;
        host_id = vm.placed ? vm.plan.host_id : vm.host_id;
    }
    pthread_mutex_lock(&ctl->plock);
    was_host = (int64_t)(intptr_t)vr_map_get_int(&ctl->running, vm_id);
    was = was_host != 0;
    if (now)
        vr_map_put_int(&ctl->running, vm_id, (void *)(intptr_t)host_id);
    else
        vr_map_del_int(&ctl->running, vm_id);
    pthread_mutex_unlock(&ctl->plock);
    if (was && (!now || was_host != host_id))
        vr_sched_running(&ctl->sched, was_host, -1);
    if (now && (!was || was_host != host_id))
        vr_sched_running(&ctl->sched, host_id, +1);
}

/* ---- requests */

static void want_to_req(const struct vr_vm_want *w, int vcpus,
                        uint64_t memory_mib, struct vr_sched_req *r)
{
    memset(r, 0, sizeof(*r));
    r->vcpus = vcpus;
    r->memory_mib = memory_mib;
    r->policy = w->cpu_policy;
    r->nvnodes = w->nvnodes;
    for (int i = 0; i < w->nvnodes && i < VR_SCHED_MAX_VNODES; i++) {
        r->vnodes[i].vcpus = w->vnodes[i].vcpus;
        r->vnodes[i].memory_mib = w->vnodes[i].memory_mib;
    }
    r->page_kib = w->hugepage_kib;
    r->npci = w->npci;
    memcpy(r->pci, w->pci, sizeof(r->pci));
    r->nsriov = w->nsriov;
    memcpy(r->sriov, w->sriov, sizeof(r->sriov));
    r->nhosts = w->nhosts;
    memcpy(r->hosts, w->hosts, sizeof(r->hosts));
    r->force = w->force;
}

/* reqs/rank: the VM's own expressions (NULL: none); dreqs/drank: the
 * daemon's defaults, for hosts whose cluster has none either. */
static void build_req(struct vr_ctl *ctl, const struct vr_vm *vm,
                      struct vr_sched_req *r, const struct vr_expr *reqs,
                      const struct vr_expr *rank, const struct vr_expr *dreqs,
                      const struct vr_expr *drank)
{
    want_to_req(&vm->want, vm->vcpus, vm->memory_mib, r);
    r->vm_id = vm->hdr.id;
    for (int i = 0; i < vm->ndisks; i++)
        r->disk_mib += vm->disks[i].size_mib;
    r->requirements = reqs;
    r->rank = rank;
    r->default_requirements = dreqs;
    r->default_rank = drank;
    if (vm->want.vm_group) {
        struct vr_vm_group g;
        if (vr_pool_get(&ctl->db.vm_groups, vm->want.vm_group, &g) == 0) {
            int k = vr_vm_group_role(&g, vm->want.vm_group_role);
            if (k >= 0) {
                snprintf(r->role_key, sizeof(r->role_key), "%lld/%s",
                         (long long)g.hdr.id, g.roles[k].name);
                r->affinity = g.roles[k].affinity;
                r->affinity_hard = g.roles[k].hard;
            }
        }
    }
}

int vr_placement_check(const struct vr_vm_want *w, int vcpus,
                       uint64_t memory_mib, struct vr_error *err)
{
    struct vr_sched_req r;

    if (check_setting(w->requirements, "requirements", true, err) < 0 ||
        check_setting(w->rank, "rank", false, err) < 0)
        return -1;
    if (w->sockets && w->sockets * w->cores * w->threads != vcpus)
        return vr_err(err, VR_E_INVALID,
                      "topology %d sockets x %d cores x "
                      "%d threads is %d vCPUs, not %d",
                      w->sockets, w->cores, w->threads,
                      w->sockets * w->cores * w->threads, vcpus);
    if (w->force && w->nhosts != 1)
        return vr_err(err, VR_E_INVALID, "force needs exactly one host");
    want_to_req(w, vcpus, memory_mib, &r);
    return vr_sched_req_check(&r, err);
}

/* ---- an external placement service */

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
    struct vr_buf *b = ctx;
    if (b->len + size * n > (1u << 20))
        return 0;
    vr_buf_add(b, data, size * n);
    return size * n;
}

/* POST the VM's needs and the candidates; the service answers
 * {"host_id": N} (or {"host": "name"}).  Returns the chosen id, or 0 with
 * err when the service failed or named a host not among the candidates. */
static int64_t ask_service(struct vr_ctl *ctl, const struct vr_vm *vm,
                           const int64_t *ids, size_t n, struct vr_error *err)
{
    json_t *j = json_object(), *cands = json_array(), *ans;
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    struct vr_buf body = VR_BUF_INIT;
    char *payload;
    long code = 0;
    int64_t chosen = 0;
    CURLcode rc;

    json_object_set_new(j, "vm", vr_vm_kind.to_json(vm, false));
    for (size_t i = 0; i < n; i++) {
        struct vr_host h;
        json_t *hj;
        if (vr_pool_get(&ctl->db.hosts, ids[i], &h) < 0)
            continue;
        hj = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)h.hdr.id, "name",
                       h.hdr.name, "hypervisor", h.hypervisor);
        json_object_set_new(hj, "usage",
                            vr_sched_host_usage(&ctl->sched, h.hdr.id));
        json_array_append_new(cands, hj);
    }
    json_object_set_new(j, "candidates", cands);
    payload = vr_json_dump(j);
    json_decref(j);
    vr_buf_init(&body);
    if (!c) {
        free(payload);
        vr_buf_release(&body);
        vr_err(err, VR_E_UNAVAILABLE, "placement service: no HTTP client");
        return 0;
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, ctl->cfg->sched_external_url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     (long)ctl->cfg->sched_external_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    free(payload);
    if (rc != CURLE_OK || code != 200) {
        vr_err(err, VR_E_UNAVAILABLE, "placement service: %s",
               rc != CURLE_OK ? curl_easy_strerror(rc) : "bad HTTP status");
        vr_buf_release(&body);
        return 0;
    }
    ans = json_loadb(body.data, body.len, 0, NULL);
    vr_buf_release(&body);
    if (ans) {
        const char *name = json_string_value(json_object_get(ans, "host"));
        chosen = json_integer_value(json_object_get(ans, "host_id"));
        if (!chosen && name)
            chosen = vr_pool_id_by_name(&ctl->db.hosts, name);
        json_decref(ans);
    }
    for (size_t i = 0; chosen && i < n; i++)
        if (ids[i] == chosen)
            return chosen;
    vr_err(err, VR_E_UNAVAILABLE,
           "placement service: its answer names no "
           "candidate host");
    return 0;
}

int vr_placement_place(struct vr_ctl *ctl, const struct vr_vm *vm,
                       struct vr_sched_plan *plan,
                       struct vr_placement_why *why, uint64_t *gen,
                       struct vr_error *err)
{
    /* the VM's own requirements and rank; the configured defaults (for
     * hosts whose cluster gives none) were compiled at start */
    struct vr_expr *reqs = NULL, *rank = NULL;
    struct vr_sched_req r;
    struct vr_sched_why w;
    struct vr_error perr = VR_ERROR_INIT;
    int ret = -1;

    why->reasons[0] = why->detail[0] = '\0';
    memset(&w, 0, sizeof(w));
    if (compile_setting(vm->want.requirements, "requirements", true, &reqs,
                        err) < 0 ||
        compile_setting(vm->want.rank, "rank", false, &rank, err) < 0)
        goto out;
    build_req(ctl, vm, &r, reqs, rank, ctl->default_reqs, ctl->default_rank);
    *gen = vr_sched_generation(&ctl->sched);
    if (ctl->cfg->sched_external_url[0] && !vm->want.force) {
        int64_t ids[256];
        size_t n = 0;
        if (vr_sched_candidates(&ctl->sched, &r, ids, VR_ARRAY_SIZE(ids), &n,
                                &w, err) < 0)
            goto out;
        if (n) {
            int64_t chosen = ask_service(ctl, vm, ids, n, &perr);
            if (chosen) {
                struct vr_sched_req one = r;
                one.nhosts = 1;
                one.hosts[0] = chosen;
                if (vr_sched_place(&ctl->sched, &one, plan, &w, &perr) == 0) {
                    VR_INFO(MOD,
                            "vm '%s': the placement service chose host "
                            "%lld",
                            vm->hdr.name, (long long)chosen);
                    ret = 0;
                    goto out;
                }
            }
            if (!ctl->cfg->sched_external_fallback) {
                if (err)
                    *err = perr;
                goto out;
            }
            VR_WARN(MOD, "vm '%s': %s; placing it ourselves", vm->hdr.name,
                    perr.msg);
        }
    }
    if (vr_sched_place(&ctl->sched, &r, plan, &w, &perr) == 0) {
        ret = 0;
    } else if (perr.code == VR_E_UNAVAILABLE) {
        vr_strlcpy(why->detail, perr.msg, sizeof(why->detail));
        vr_sched_why_reasons(&w, &r, why->reasons, sizeof(why->reasons));
        ret = 1;
    } else if (err) {
        *err = perr;
    }
out:
    vr_expr_free(reqs);
    vr_expr_free(rank);
    return ret;
}

void vr_placement_release(struct vr_ctl *ctl, const struct vr_vm *vm)
{
    if (!vm->placed || !ctl->placement_ready)
        return;
    vr_sched_release_plan(&ctl->sched, &vm->plan, vm->hdr.id);
    wake_parked(ctl);
}

/* ---- the domain spec */

/* The host CPUs not dedicated and not reserved (in the cells marked in
 * `cells`, or all with NULL), as a list; "" when that is every CPU of the
 * host (no need to restrict anything). */
static void shared_list(const struct vr_host *h, const uint8_t *cells,
                        char *out, size_t size)
{
    int max = VR_HOST_MAX_CPUS;
    uint8_t *ded = vr_calloc((size_t)max, 1), *res = vr_calloc((size_t)max, 1);
    uint8_t *sh = vr_calloc((size_t)max, 1);
    bool all = true;

    vr_cpulist_parse(h->conf.dedicated_cpus, ded, max);
    vr_cpulist_parse(h->conf.reserved_cpus, res, max);
    for (int i = 0; i < h->caps.ncpu_topo; i++) {
        const struct vr_host_cpu *c = &h->caps.cpu_topo[i];
        bool mine = !cells || (c->cell >= 0 && c->cell < VR_HOST_MAX_CELLS &&
                               cells[c->cell]);
        if (c->id < 0 || c->id >= max)
            continue;
        sh[c->id] = mine && !ded[c->id] && !res[c->id];
        if (!sh[c->id])
            all = false;
    }
    if (all)
        out[0] = '\0';
    else
        vr_cpulist_format(sh, max, out, size);
    free(ded);
    free(res);
    free(sh);
}

void vr_placement_spec(struct vr_ctl *ctl, const struct vr_vm *vm,
                       struct vr_dom_spec *spec)
{
    const struct vr_sched_plan *p = &vm->plan;
    struct vr_host *h;
    uint8_t cells[VR_HOST_MAX_CELLS];

    spec->sockets = vm->want.sockets;
    spec->cores = vm->want.cores;
    spec->threads = vm->want.threads;
    for (int i = 0; i < VR_SCHED_MAX_VCPUS; i++)
        spec->vcpupin[i] = -1;
    if (!vm->placed)
        return;
    h = vr_pool_dup(&ctl->db.hosts, p->host_id);
    if (!h)
        return;
    memset(cells, 0, sizeof(cells));
    for (int v = 0; v < p->nvnodes; v++)
        if (p->vnodes[v].cell >= 0 && p->vnodes[v].cell < VR_HOST_MAX_CELLS)
            cells[p->vnodes[v].cell] = 1;
    spec->hugepage_kib = p->page_kib;
    if (p->policy == VR_CPU_SHARED) {
        /* float over the shared CPUs of the bound cells (all without) */
        shared_list(h, p->nvnodes ? cells : NULL, spec->cpuset,
                    sizeof(spec->cpuset));
    } else {
        spec->pinned = true;
        for (int i = 0; i < p->nvcpus && i < VR_SCHED_MAX_VCPUS; i++)
            spec->vcpupin[i] = p->vcpu_cpu[i];
        shared_list(h, NULL, spec->emulatorpin, sizeof(spec->emulatorpin));
        if (!spec->emulatorpin[0]) {
            /* no shared CPU at all: the emulator with the vCPUs */
            uint8_t bits[VR_HOST_MAX_CPUS];
            memset(bits, 0, sizeof(bits));
            for (int i = 0; i < p->nheld; i++)
                if (p->held[i] >= 0 && p->held[i] < VR_HOST_MAX_CPUS)
                    bits[p->held[i]] = 1;
            vr_cpulist_format(bits, VR_HOST_MAX_CPUS, spec->emulatorpin,
                              sizeof(spec->emulatorpin));
        }
    }
    if (p->nvnodes)
        vr_cpulist_format(cells, VR_HOST_MAX_CELLS, spec->nodeset,
                          sizeof(spec->nodeset));
    /* guest NUMA cells only when the VM asked for a topology */
    if (vm->want.nvnodes) {
        spec->ncells = p->nvnodes;
        for (int v = 0; v < p->nvnodes; v++) {
            int a = p->vnodes[v].first_vcpu, b = a + p->vnodes[v].nvcpus - 1;
            if (a == b)
                snprintf(spec->cells[v].vcpus, sizeof(spec->cells[v].vcpus),
                         "%d", a);
            else
                snprintf(spec->cells[v].vcpus, sizeof(spec->cells[v].vcpus),
                         "%d-%d", a, b);
            spec->cells[v].memory_mib = p->vnodes[v].memory_mib;
            spec->cells[v].host_cell = p->vnodes[v].cell;
        }
    }
    spec->nhostdevs = 0;
    for (int d = 0; d < p->ndevs && d < (int)VR_ARRAY_SIZE(spec->hostdevs); d++)
        vr_strlcpy(spec->hostdevs[spec->nhostdevs++], p->devs[d].addr,
                   sizeof(spec->hostdevs[0]));
    vr_obj_free(&vr_host_kind, h);
}

json_t *vr_placement_host_usage(struct vr_ctl *ctl, int64_t host_id)
{
    return ctl->placement_ready ? vr_sched_host_usage(&ctl->sched, host_id)
                                : NULL;
}

/* ---- host settings */

static int check_cpulist(const struct vr_host *h, const char *what,
                         const char *list, uint8_t *bits, struct vr_error *err)
{
    int max = VR_HOST_MAX_CPUS;

    memset(bits, 0, (size_t)max);
    if (vr_cpulist_parse(list, bits, max) < 0)
        return vr_err(err, VR_E_INVALID,
                      "%s '%.64s' is not a CPU list like "
                      "\"2-7,10\"",
                      what, list);
    for (int c = 0; c < max; c++) {
        bool found = false;
        if (!bits[c])
            continue;
        for (int i = 0; i < h->caps.ncpu_topo && !found; i++)
            found =
                h->caps.cpu_topo[i].id == c && h->caps.cpu_topo[i].socket >= 0;
        if (!found && !(h->caps.ncpu_topo == 0 && c < h->caps.cpus))
            return vr_err(err, VR_E_INVALID, "%s: host '%s' has no CPU %d",
                          what, h->hdr.name, c);
    }
    return 0;
}

struct pinned_check {
    int64_t host_id;
    const uint8_t *dedicated;
    char vm[VR_NAME_SIZE];
    int cpu;
};

static int find_unpinned(const void *obj, void *ctx)
{
    const struct vr_vm *vm = obj;
    struct pinned_check *pc = ctx;

    if (!vm->placed || vm->plan.host_id != pc->host_id ||
        vm->plan.policy == VR_CPU_SHARED)
        return 0;
    for (int i = 0; i < vm->plan.nheld; i++) {
        int c = vm->plan.held[i];
        if (c >= 0 && c < VR_HOST_MAX_CPUS && !pc->dedicated[c]) {
            vr_strlcpy(pc->vm, vm->hdr.name, sizeof(pc->vm));
            pc->cpu = c;
            return 1;
        }
    }
    return 0;
}

static int check_conf(struct vr_ctl *ctl, const struct vr_host *h,
                      const struct vr_host_conf *c, struct vr_error *err)
{
    uint8_t ded[VR_HOST_MAX_CPUS], res[VR_HOST_MAX_CPUS];
    struct pinned_check pc;

    if (check_cpulist(h, "dedicated_cpus", c->dedicated_cpus, ded, err) < 0 ||
        check_cpulist(h, "reserved_cpus", c->reserved_cpus, res, err) < 0)
        return -1;
    for (int i = 0; i < VR_HOST_MAX_CPUS; i++)
        if (ded[i] && res[i])
            return vr_err(err, VR_E_INVALID,
                          "CPU %d cannot be both dedicated "
                          "and reserved",
                          i);
    if (vr_placement_ratios_check(c->cpu_ratio, c->mem_ratio, err) < 0)
        return -1;
    if (c->reserved_memory_mib * 1024 > h->caps.memory_kib)
        return vr_err(err, VR_E_INVALID,
                      "reserved_memory is more than host "
                      "'%s' has",
                      h->hdr.name);
    for (int i = 0; i < c->npools; i++) {
        bool pf = false;
        /* a pool may span several PFs; a PF lends to one pool */
        for (int k = 0; k < i; k++)
            if (strcmp(c->pools[k].pf, c->pools[i].pf) == 0)
                return vr_err(err, VR_E_INVALID, "sriov_pools: PF '%s' is "
                              "listed twice", c->pools[i].pf);
        for (int d = 0; d < h->caps.ndevs && !pf; d++)
            pf = strcmp(h->caps.devs[d].addr, c->pools[i].pf) == 0 &&
                 h->caps.devs[d].max_vfs > 0;
        if (!pf)
            return vr_err(err, VR_E_INVALID,
                          "sriov_pools: '%s' is not an "
                          "SR-IOV physical function of host '%s'",
                          c->pools[i].pf, h->hdr.name);
    }
    for (int i = 0; i < c->npci; i++) {
        struct vr_pci_spec spec;
        if (vr_pci_spec_parse(c->pci[i], &spec, err) < 0) {
            vr_err_prefix(err, "pci_passthrough");
            return -1;
        }
    }
    /* VMs pinned here keep their threads: those stay dedicated */
    memset(&pc, 0, sizeof(pc));
    pc.host_id = h->hdr.id;
    pc.dedicated = ded;
    vr_pool_foreach(&ctl->db.vms, find_unpinned, &pc);
    if (pc.vm[0])
        return vr_err(err, VR_E_CONFLICT,
                      "CPU %d is pinned to vm '%s'; it "
                      "must stay dedicated while that vm is placed there",
                      pc.cpu, pc.vm);
    return 0;
}

int vr_placement_host_configure(struct vr_ctl *ctl, int64_t host_id,
                                const struct vr_host_patch *p,
                                struct vr_error *err)
{
    struct vr_host *h = vr_malloc(sizeof(*h));
    struct vr_host_conf *c = &h->conf;
    struct vr_tx tx;
    int rc = -1;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0) {
        free(h);
        return -1;
    }
    if (vr_pool_get(&ctl->db.hosts, host_id, h) < 0) {
        vr_err(err, VR_E_NOT_FOUND, "host %lld not found", (long long)host_id);
        goto out;
    }
    if (p->set_dedicated)
        memcpy(c->dedicated_cpus, p->conf.dedicated_cpus,
               sizeof(c->dedicated_cpus));
    if (p->set_reserved)
        memcpy(c->reserved_cpus, p->conf.reserved_cpus,
               sizeof(c->reserved_cpus));
    if (p->set_reserved_memory)
        c->reserved_memory_mib = p->conf.reserved_memory_mib;
    if (p->set_cluster) {
        if (!vr_pool_has(&ctl->db.clusters, p->cluster_id)) {
            vr_err(err, VR_E_NOT_FOUND, "cluster %lld not found",
                   (long long)p->cluster_id);
            goto out;
        }
        h->cluster_id = p->cluster_id;
    }
    if (p->set_cpu_ratio)
        c->cpu_ratio = p->conf.cpu_ratio;
    if (p->set_mem_ratio)
        c->mem_ratio = p->conf.mem_ratio;
    if (p->set_labels) {
        c->nlabels = p->conf.nlabels;
        memcpy(c->labels, p->conf.labels, sizeof(c->labels));
    }
    if (p->set_pools) {
        c->npools = p->conf.npools;
        memcpy(c->pools, p->conf.pools, sizeof(c->pools));
    }
    if (p->set_pci) {
        c->npci = p->conf.npci;
        memcpy(c->pci, p->conf.pci, sizeof(c->pci));
    }
    if (check_conf(ctl, h, c, err) < 0)
        goto out;
    if (p->set_enabled && p->enabled != h->enabled) {
        h->enabled = p->enabled;
        if (h->state == VR_HOST_MONITORED || h->state == VR_HOST_DISABLED)
            h->state = h->enabled ? VR_HOST_MONITORED : VR_HOST_DISABLED;
    }
    if (vr_tx_put(&tx, &ctl->db.hosts, h, err) < 0)
        goto out;
    rc = vr_tx_commit(&tx, err);
    free(h);
    if (rc == 0)
        VR_INFO(MOD, "host %lld: placement settings changed",
                (long long)host_id);
    return rc;
out:
    vr_tx_abort(&tx);
    free(h);
    return rc;
}

/* ---- VM groups */

int vr_vm_groups_create(struct vr_ctl *ctl, const struct vr_principal *who,
                        struct vr_vm_group *g, struct vr_error *err)
{
    struct vr_tx tx;

    if (vr_name_check(g->hdr.name, "vm group name", err) < 0)
        return -1;
    if (g->nroles < 1)
        return vr_err(err, VR_E_INVALID,
                      "a vm group needs at least one "
                      "role");
    for (int i = 0; i < g->nroles; i++) {
        if (vr_name_check(g->roles[i].name, "role name", err) < 0)
            return -1;
        for (int k = 0; k < i; k++)
            if (strcmp(g->roles[k].name, g->roles[i].name) == 0)
                return vr_err(err, VR_E_INVALID, "role '%s' is named twice",
                              g->roles[i].name);
    }
    g->hdr.owner_id = who->user_id;
    g->hdr.group_id = who->group_id;
    g->hdr.perms = VR_PERMS_DEFAULT;
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_id_by_owner_name(&ctl->db.vm_groups, who->user_id,
                                 g->hdr.name)) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_CONFLICT,
                      "a vm group named '%s' already "
                      "exists",
                      g->hdr.name);
    }
    g->hdr.id = vr_pool_next_id(&ctl->db.vm_groups);
    if (vr_tx_put(&tx, &ctl->db.vm_groups, g, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

struct group_user {
    struct vr_ctl *ctl;
    const struct vr_principal *who;
    int64_t group;
    int count;
    char vm[VR_NAME_SIZE];         /* the first the caller may see */
};

static int find_group_user(const void *obj, void *ctx)
{
    const struct vr_vm *vm = obj;
    struct group_user *gu = ctx;
    if (vm->want.vm_group != gu->group)
        return 0;
    gu->count++;
    if (!gu->vm[0] &&
        (!gu->who || vr_authz_can(&gu->ctl->authz, gu->who, VR_RES_VM,
                                  &vm->hdr, VR_RIGHT_USE)))
        vr_strlcpy(gu->vm, vm->hdr.name, sizeof(gu->vm));
    return 0;
}

int vr_vm_groups_delete(struct vr_ctl *ctl, const struct vr_principal *who,
                        int64_t id, struct vr_error *err)
{
    struct group_user gu = {ctl, who, id, 0, ""};
    struct vr_tx tx;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    /* under the write lock: no VM can join it meanwhile */
    vr_pool_foreach(&ctl->db.vms, find_group_user, &gu);
    if (gu.count) {
        vr_tx_abort(&tx);
        if (gu.vm[0])
            return vr_err(err, VR_E_CONFLICT, "vm '%s' belongs to this vm "
                          "group; delete its vms first", gu.vm);
        return vr_err(err, VR_E_CONFLICT, "vms you cannot see belong to "
                      "this vm group; ask their owners or an administrator");
    }
    if (vr_tx_del(&tx, &ctl->db.vm_groups, id, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

/* ---- clusters */

int vr_placement_ratios_check(double cpu_ratio, double mem_ratio,
                              struct vr_error *err)
{
    /* 0: inherited */
    if (cpu_ratio != 0 && !(cpu_ratio >= 0.1 && cpu_ratio <= 64))
        return vr_err(err, VR_E_INVALID,
                      "cpu_ratio must be between 0.1 and 64");
    if (mem_ratio != 0 && !(mem_ratio >= 0.1 && mem_ratio <= 4))
        return vr_err(err, VR_E_INVALID,
                      "mem_ratio must be between 0.1 and 4");
    return 0;
}

static int check_cluster(const struct vr_cluster *c, struct vr_error *err)
{
    if (vr_name_check(c->hdr.name, "cluster name", err) < 0 ||
        vr_placement_ratios_check(c->cpu_ratio, c->mem_ratio, err) < 0)
        return -1;
    for (int i = 0; i < c->nlabels; i++) {
        if (vr_name_check(c->labels[i], "label", err) < 0) {
            vr_err_prefix(err, "labels[%d]", i);
            return -1;
        }
    }
    if (check_setting(c->requirements, "requirements", true, err) < 0 ||
        check_setting(c->rank, "rank", false, err) < 0)
        return -1;
    return 0;
}

int64_t vr_clusters_default(struct vr_ctl *ctl)
{
    return vr_pool_id_by_name(&ctl->db.clusters, VR_CLUSTER_DEFAULT);
}

/* A host of no existing cluster (ctx: the clusters' pool). */
static bool host_orphan(const void *obj, void *ctx)
{
    return !vr_pool_has(ctx, ((const struct vr_host *)obj)->cluster_id);
}

int vr_clusters_bootstrap(struct vr_ctl *ctl, struct vr_error *err)
{
    int64_t *ids;
    size_t n;
    struct vr_host *h;
    struct vr_tx tx;
    int64_t def;
    int rc = -1;

    if (!vr_clusters_default(ctl)) {
        struct vr_cluster c;
        memset(&c, 0, sizeof(c));
        vr_strlcpy(c.hdr.name, VR_CLUSTER_DEFAULT, sizeof(c.hdr.name));
        if (vr_clusters_create(ctl, &c, err) < 0)
            return -1;
        VR_INFO(MOD, "created the cluster '%s'", VR_CLUSTER_DEFAULT);
    }
    def = vr_clusters_default(ctl);
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    ids = vr_pool_ids(&ctl->db.hosts, host_orphan, &ctl->db.clusters, &n);
    h = vr_malloc(sizeof(*h));
    for (size_t i = 0; i < n; i++) {
        if (vr_pool_get(&ctl->db.hosts, ids[i], h) < 0)
            continue;
        h->cluster_id = def;
        if (vr_tx_put(&tx, &ctl->db.hosts, h, err) < 0) {
            vr_tx_abort(&tx);
            goto out;
        }
    }
    rc = vr_tx_commit(&tx, err);
out:
    free(h);
    free(ids);
    return rc;
}

int vr_clusters_create(struct vr_ctl *ctl, struct vr_cluster *c,
                       struct vr_error *err)
{
    struct vr_tx tx;

    if (check_cluster(c, err) < 0)
        return -1;
    /* like hosts: the system's, seen by superusers (and ACL rules) */
    c->hdr.owner_id = 0;
    c->hdr.group_id = 0;
    c->hdr.perms = 0;
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_id_by_name(&ctl->db.clusters, c->hdr.name)) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_CONFLICT, "cluster '%s' already exists",
                      c->hdr.name);
    }
    c->hdr.id = vr_pool_next_id(&ctl->db.clusters);
    if (vr_tx_put(&tx, &ctl->db.clusters, c, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

/* Begin a transaction and read cluster `id` in it (404 if missing). */
static int cluster_begin(struct vr_ctl *ctl, int64_t id, struct vr_tx *tx,
                         struct vr_cluster *c, struct vr_error *err)
{
    if (vr_tx_begin(&ctl->db, tx, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.clusters, id, c) < 0) {
        vr_tx_abort(tx);
        return vr_err(err, VR_E_NOT_FOUND, "cluster %lld not found",
                      (long long)id);
    }
    return 0;
}

int vr_clusters_update(struct vr_ctl *ctl, int64_t id,
                       const struct vr_cluster_patch *p, struct vr_error *err)
{
    struct vr_cluster c;
    struct vr_tx tx;

    if (cluster_begin(ctl, id, &tx, &c, err) < 0)
        return -1;
    if (p->set_cpu_ratio)
        c.cpu_ratio = p->c.cpu_ratio;
    if (p->set_mem_ratio)
        c.mem_ratio = p->c.mem_ratio;
    if (p->set_labels) {
        c.nlabels = p->c.nlabels;
        memcpy(c.labels, p->c.labels, sizeof(c.labels));
    }
    if (p->set_requirements)
        memcpy(c.requirements, p->c.requirements, sizeof(c.requirements));
    if (p->set_rank)
        memcpy(c.rank, p->c.rank, sizeof(c.rank));
    if (check_cluster(&c, err) < 0 ||
        vr_tx_put(&tx, &ctl->db.clusters, &c, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

int vr_clusters_delete(struct vr_ctl *ctl, int64_t id, struct vr_error *err)
{
    struct vr_cluster c;
    struct vr_tx tx;
    int64_t *ids;
    size_t n;

    if (cluster_begin(ctl, id, &tx, &c, err) < 0)
        return -1;
    if (strcmp(c.hdr.name, VR_CLUSTER_DEFAULT) == 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_CONFLICT, "the cluster '%s' cannot be "
                      "deleted: new hosts join it", VR_CLUSTER_DEFAULT);
    }
    free(vr_pool_ids(&ctl->db.hosts, host_in_cluster, &id, &n));
    if (n) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_CONFLICT, "cluster '%s' still has %zu "
                      "host%s; move them to another cluster first",
                      c.hdr.name, n, n == 1 ? "" : "s");
    }
    /* the ACL rules scoped to it go with it */
    ids = vr_pool_ids(&ctl->db.acls, acl_in_cluster, &id, &n);
    for (size_t i = 0; i < n; i++) {
        if (vr_tx_del(&tx, &ctl->db.acls, ids[i], err) < 0) {
            free(ids);
            vr_tx_abort(&tx);
            return -1;
        }
    }
    free(ids);
    if (vr_tx_del(&tx, &ctl->db.clusters, id, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}
