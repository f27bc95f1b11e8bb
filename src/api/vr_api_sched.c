/*
 * vr_api_sched.c - the placement side of the API: what a VM create may
 * ask of the scheduler, host placement settings, VM groups.
 * docs/scheduler.md explains the fields; docs/openapi.json lists them.
 */
#include <string.h>

#include "vr_api_priv.h"
#include "vr_hosts.h"
#include "vr_node_sim.h"
#include "vr_json.h"
#include "vr_placement.h"

/* ---- VM create: placement fields */

static int parse_topology(const json_t *t, struct vr_vm_want *w,
                          struct vr_error *err)
{
    static const char *const allowed[] = {"sockets", "cores", "threads", NULL};
    int64_t so = 1, co = 1, th = 1;

    if (!json_is_object(t))
        return vr_err(err, VR_E_INVALID,
                      "field 'topology' must be an object "
                      "like {\"sockets\": 1, \"cores\": 2, \"threads\": 2}");
    if (vr_json_only(t, allowed, err) < 0 ||
        vr_json_int(t, "sockets", true, 1, VR_SCHED_MAX_VCPUS, &so, err) < 0 ||
        vr_json_int(t, "cores", true, 1, VR_SCHED_MAX_VCPUS, &co, err) < 0 ||
        vr_json_int(t, "threads", false, 1, 8, &th, err) < 0) {
        vr_err_prefix(err, "topology");
        return -1;
    }
    w->sockets = (int)so;
    w->cores = (int)co;
    w->threads = (int)th;
    return 0;
}

static int parse_numa(const json_t *v, const struct vr_vm_create_req *req,
                      struct vr_vm_want *w, struct vr_error *err)
{
    const json_t *n;
    size_t i;

    if (json_is_integer(v)) {
        /* N nodes sharing vCPUs and memory evenly */
        json_int_t k = json_integer_value(v);
        if (k < 1 || k > VR_SCHED_MAX_VNODES)
            return vr_err(err, VR_E_INVALID,
                          "numa_nodes must be between 1 "
                          "and %d",
                          VR_SCHED_MAX_VNODES);
        if (req->vcpus % k || req->memory_mib % (uint64_t)k)
            return vr_err(err, VR_E_INVALID,
                          "%d vCPUs and %llu MiB do not "
                          "split evenly over %lld NUMA nodes; list the "
                          "nodes instead",
                          req->vcpus, (unsigned long long)req->memory_mib,
                          (long long)k);
        w->nvnodes = (int)k;
        for (int j = 0; j < w->nvnodes; j++) {
            w->vnodes[j].vcpus = req->vcpus / (int)k;
            w->vnodes[j].memory_mib = req->memory_mib / (uint64_t)k;
        }
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) < 1 ||
        json_array_size(v) > VR_SCHED_MAX_VNODES)
        return vr_err(err, VR_E_INVALID,
                      "field 'numa_nodes' must be a count "
                      "or a list of 1 to %d nodes like {\"vcpus\": 2, "
                      "\"memory\": \"1G\"}",
                      VR_SCHED_MAX_VNODES);
    json_array_foreach(v, i, n)
    {
        static const char *const allowed[] = {"vcpus", "memory", NULL};
        int64_t vc = 0;
        if (!json_is_object(n) || vr_json_only(n, allowed, err) < 0 ||
            vr_json_int(n, "vcpus", true, 1, VR_SCHED_MAX_VCPUS, &vc, err) <
                0 ||
            vr_api_size_mib(n, "memory", true, &w->vnodes[i].memory_mib, err) <
                0) {
            if (!json_is_object(n))
                vr_err(err, VR_E_INVALID, "must be an object");
            vr_err_prefix(err, "numa_nodes[%zu]", i);
            return -1;
        }
        w->vnodes[i].vcpus = (int)vc;
        w->nvnodes++;
    }
    return 0;
}

/* A list of strings (at most `max`, each shorter than `size`). */
static int string_list(const json_t *v, const char *key, int max, size_t size,
                       const char **out, int *n, struct vr_error *err)
{
    const json_t *s;
    size_t i;

    if (!json_is_array(v) || json_array_size(v) > (size_t)max)
        return vr_err(err, VR_E_INVALID,
                      "field '%s' must be a list of at "
                      "most %d strings",
                      key, max);
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s) || !*json_string_value(s) ||
            strlen(json_string_value(s)) >= size)
            return vr_err(err, VR_E_INVALID,
                          "%s[%zu] must be a string of 1 "
                          "to %zu characters",
                          key, i, size - 1);
        out[(*n)++] = json_string_value(s);
    }
    return 0;
}

static int copy_str(const json_t *body, const char *key, char *dst, size_t size,
                    struct vr_error *err)
{
    const char *s = NULL;
    int rc = vr_json_str(body, key, false, &s, err);

    if (rc <= 0)
        return rc;
    if (strlen(s) >= size)
        return vr_err(err, VR_E_INVALID,
                      "field '%s' is longer than %zu "
                      "characters",
                      key, size - 1);
    vr_strlcpy(dst, s, size);
    return 1;
}

int vr_api_parse_placement(const json_t *body, struct vr_vm_create_req *req,
                           struct vr_error *err)
{
    struct vr_vm_want *w = &req->want;
    const char *strs[VR_SCHED_MAX_HOSTS_LIST];
    const json_t *v;
    const char *s = NULL;
    size_t i;
    int n;

    memset(w, 0, sizeof(*w));
    if (vr_json_str(body, "cpu_policy", false, &s, err) < 0)
        return -1;
    if (s && vr_cpu_policy_parse(s, &w->cpu_policy) < 0)
        return vr_err(err, VR_E_INVALID,
                      "field 'cpu_policy' must be shared, "
                      "thread, core or isolate");
    v = json_object_get(body, "topology");
    if (v && !json_is_null(v) && parse_topology(v, w, err) < 0)
        return -1;
    v = json_object_get(body, "numa_nodes");
    if (v && !json_is_null(v) && parse_numa(v, req, w, err) < 0)
        return -1;
    s = NULL;
    if (vr_json_str(body, "hugepages", false, &s, err) < 0)
        return -1;
    if (s) {
        if (strcmp(s, "2M") == 0)
            w->hugepage_kib = 2048;
        else if (strcmp(s, "1G") == 0)
            w->hugepage_kib = 1048576;
        else
            return vr_err(err, VR_E_INVALID,
                          "field 'hugepages' must be "
                          "\"2M\" or \"1G\"");
    }
    v = json_object_get(body, "pci");
    if (v && !json_is_null(v)) {
        n = 0;
        if (string_list(v, "pci", VR_SCHED_MAX_DEVS, 32, strs, &n, err) < 0)
            return -1;
        for (int k = 0; k < n; k++) {
            if (vr_pci_spec_parse(strs[k], &w->pci[k], err) < 0) {
                vr_err_prefix(err, "pci[%d]", k);
                return -1;
            }
        }
        w->npci = n;
    }
    v = json_object_get(body, "sriov");
    if (v && !json_is_null(v)) {
        n = 0;
        if (string_list(v, "sriov", VR_SCHED_MAX_DEVS, sizeof(w->sriov[0]),
                        strs, &n, err) < 0)
            return -1;
        for (int k = 0; k < n; k++)
            vr_strlcpy(w->sriov[k], strs[k], sizeof(w->sriov[0]));
        w->nsriov = n;
    }
    if (copy_str(body, "requirements", w->requirements, sizeof(w->requirements),
                 err) < 0 ||
        copy_str(body, "rank", w->rank, sizeof(w->rank), err) < 0 ||
        copy_str(body, "vm_group_role", w->vm_group_role,
                 sizeof(w->vm_group_role), err) < 0 ||
        vr_json_bool(body, "force", false, &w->force, err) < 0)
        return -1;
    v = json_object_get(body, "hosts");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) > VR_SCHED_MAX_HOSTS_LIST)
            return vr_err(err, VR_E_INVALID,
                          "field 'hosts' must be a list "
                          "of at most %d host names or ids",
                          VR_SCHED_MAX_HOSTS_LIST);
        for (i = 0; i < json_array_size(v); i++) {
            const json_t *h = json_array_get(v, i);
            if (json_is_integer(h) && json_integer_value(h) > 0) {
                w->hosts[i] = json_integer_value(h);
            } else if (json_is_string(h) && *json_string_value(h) &&
                       strlen(json_string_value(h)) < VR_NAME_SIZE) {
                req->host_refs[i] = json_string_value(h);
            } else {
                return vr_err(err, VR_E_INVALID,
                              "hosts[%zu] must be a host "
                              "name or id",
                              i);
            }
            w->nhosts++;
        }
    }
    v = json_object_get(body, "vm_group");
    if (json_is_integer(v) && json_integer_value(v) > 0)
        w->vm_group = json_integer_value(v);
    else if (json_is_string(v) && *json_string_value(v) &&
             strlen(json_string_value(v)) < VR_NAME_SIZE)
        req->vm_group = json_string_value(v);
    else if (v && !json_is_null(v))
        return vr_err(err, VR_E_INVALID,
                      "field 'vm_group' must be a vm "
                      "group name or id");
    return 0;
}

/* A cluster named in a body by name or id; null: the default cluster. */
static int cluster_ref(struct vr_req *r, const json_t *v, int64_t *out,
                       struct vr_error *err)
{
    if (!json_is_string(v) && !json_is_integer(v) && !json_is_null(v))
        return vr_err(err, VR_E_INVALID, "field 'cluster' must be a "
                      "cluster's name or id");
    *out = json_is_null(v) ? vr_clusters_default(r->ctl)
           : json_is_integer(v)
               ? (vr_pool_has(&r->ctl->db.clusters, json_integer_value(v))
                      ? json_integer_value(v)
                      : 0)
               : vr_pool_resolve(&r->ctl->db.clusters, json_string_value(v));
    if (!*out)
        return json_is_string(v)
                   ? vr_err(err, VR_E_NOT_FOUND, "cluster '%.64s' not found",
                            json_string_value(v))
                   : vr_err(err, VR_E_NOT_FOUND, "cluster %lld not found",
                            (long long)json_integer_value(v));
    return 0;
}

/* ---- hosts */

static enum MHD_Result vr_api_host_get_status(struct vr_req *r, int status);

enum MHD_Result vr_api_host_get(struct vr_req *r)
{
    return vr_api_host_get_status(r, 200);
}

static enum MHD_Result vr_api_host_get_status(struct vr_req *r, int status)
{
    char *text = vr_pool_get_json(&r->ctl->db.hosts, r->obj_id, NULL);
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    json_t *usage;
    enum MHD_Result ret;
    char *out;

    free(text);
    if (!j)
        return vr_api_fail_msg(r, VR_E_NOT_FOUND, "host not found");
    /* what placement has handed out there, as the scheduler sees it */
    usage = vr_placement_host_usage(r->ctl, r->obj_id);
    json_object_set_new(j, "allocation", usage ? usage : json_null());
    out = vr_json_dump(j);
    json_decref(j);
    ret = vr_http_json(r, status, out, strlen(out));
    free(out);
    return ret;
}

/* Add a host reached through `transport` ("sim" today: a simulated
 * host, its capabilities from a libvirt capabilities document or made
 * up from cpus and memory). */
enum MHD_Result vr_api_host_create(struct vr_req *r)
{
    static const char *const allowed[] = {"name", "transport", "capabilities",
                                          "cpus", "memory", "cluster", NULL};
    struct vr_error err = VR_ERROR_INIT;
    struct vr_host_add_req req;
    struct vr_host_caps *caps = NULL;
    const char *xml = NULL;
    const json_t *v;
    int64_t cpus = 0, id = 0;
    json_t *body;
    int rc = -1;

    memset(&req, 0, sizeof(req));
    if (vr_api_body(r, true, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (vr_json_str(body, "name", true, &req.name, &err) < 0 ||
        vr_json_str(body, "transport", true, &req.transport, &err) < 0 ||
        vr_json_str(body, "capabilities", false, &xml, &err) < 0 ||
        vr_json_int(body, "cpus", false, 2, VR_HOST_MAX_CPUS, &cpus, &err) <
            0 ||
        vr_api_size_mib(body, "memory", false, &req.memory_mib, &err) < 0)
        goto out;
    if ((v = json_object_get(body, "cluster")) != NULL &&
        cluster_ref(r, v, &req.cluster_id, &err) < 0)
        goto out;
    if (xml && (cpus || req.memory_mib)) {
        vr_err(&err, VR_E_INVALID, "give either 'capabilities' or "
               "'cpus' and 'memory'");
        goto out;
    }
    if (xml) {
        caps = vr_malloc(sizeof(*caps));
        if (vr_node_sim_caps_from_xml(xml, caps, &err) < 0) {
            vr_err_prefix(&err, "field 'capabilities'");
            goto out;
        }
        req.caps = caps;
    }
    req.cpus = (int)cpus;
    rc = vr_hosts_add(r->ctl, &req, &id, &err);
    if (rc == 0) {
        r->audit_kind = VR_AUDIT_HOST;
        r->audit_id = id;
        vr_strlcpy(r->audit_name, req.name, sizeof(r->audit_name));
    }
out:
    json_decref(body);
    free(caps);
    if (rc < 0)
        return vr_api_fail(r, &err);
    r->obj_id = id;
    return vr_api_host_get_status(r, 201);
}

enum MHD_Result vr_api_host_delete(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;

    if (vr_hosts_delete(r->ctl, r->obj_id, &err) < 0)
        return vr_api_fail(r, &err);
    return vr_http_empty(r, 204);
}

/* A ratio field: a number in range, or null (0: inherited). */
static int parse_ratio(const json_t *v, const char *key, double max,
                       double *out, struct vr_error *err)
{
    if (json_is_null(v)) {
        *out = 0;
        return 0;
    }
    if (!json_is_number(v) || !(json_number_value(v) >= 0.1 &&
                                json_number_value(v) <= max))
        return vr_err(err, VR_E_INVALID, "%s must be between 0.1 and %g "
                      "(or null: inherited)", key, max);
    *out = json_number_value(v);
    return 0;
}

/* Labels: a list of names (null: none). */
static int parse_labels(const json_t *v, char (*labels)[32], int *nlabels,
                        struct vr_error *err)
{
    const char *strs[VR_HOST_MAX_LABELS];
    int n = 0;

    *nlabels = 0;
    if (json_is_null(v))
        return 0;
    if (string_list(v, "labels", VR_HOST_MAX_LABELS, sizeof(labels[0]), strs,
                    &n, err) < 0)
        return -1;
    for (int k = 0; k < n; k++) {
        if (vr_name_check(strs[k], "label", err) < 0) {
            vr_err_prefix(err, "labels[%d]", k);
            return -1;
        }
        vr_strlcpy(labels[k], strs[k], sizeof(labels[0]));
    }
    *nlabels = n;
    return 0;
}

/* What hosts and clusters both set: cpu_ratio, mem_ratio and labels, each
 * flagged when the body gives it. */
static int parse_shared(const json_t *body, bool *set_cpu, double *cpu,
                        bool *set_mem, double *mem, bool *set_labels,
                        char (*labels)[32], int *nlabels,
                        struct vr_error *err)
{
    const json_t *v;

    if ((v = json_object_get(body, "cpu_ratio")) != NULL) {
        *set_cpu = true;
        if (parse_ratio(v, "cpu_ratio", 64, cpu, err) < 0)
            return -1;
    }
    if ((v = json_object_get(body, "mem_ratio")) != NULL) {
        *set_mem = true;
        if (parse_ratio(v, "mem_ratio", 4, mem, err) < 0)
            return -1;
    }
    if ((v = json_object_get(body, "labels")) != NULL) {
        *set_labels = true;
        if (parse_labels(v, labels, nlabels, err) < 0)
            return -1;
    }
    return 0;
}

/* A host settings change: each field given is set; null sets it back
 * to its default (vr_host_conf_defaults: ratios inherited). */
static int parse_host_patch(struct vr_req *r, const json_t *body,
                            struct vr_host_patch *p, struct vr_error *err)
{
    struct vr_host_conf *c = &p->conf;
    const char *strs[VR_HOST_MAX_LABELS];
    const json_t *v, *e;
    size_t i;
    int rc, n;

    memset(p, 0, sizeof(*p));
    vr_host_conf_defaults(c);
    if ((rc = vr_json_bool(body, "enabled", false, &p->enabled, err)) < 0)
        return -1;
    p->set_enabled = rc == 1;
    if ((v = json_object_get(body, "cluster")) != NULL) {
        if (cluster_ref(r, v, &p->cluster_id, err) < 0)
            return -1;
        p->set_cluster = true;
    }

#define PRESENT(key, flag)                                                 \
    ((v = json_object_get(body, key)) != NULL &&                           \
     (p->flag = true, !json_is_null(v)))

    if (PRESENT("dedicated_cpus", set_dedicated) &&
        copy_str(body, "dedicated_cpus", c->dedicated_cpus,
                 sizeof(c->dedicated_cpus), err) < 0)
        return -1;
    if (PRESENT("reserved_cpus", set_reserved) &&
        copy_str(body, "reserved_cpus", c->reserved_cpus,
                 sizeof(c->reserved_cpus), err) < 0)
        return -1;
    if (PRESENT("reserved_memory", set_reserved_memory) &&
        !(json_is_integer(v) && json_integer_value(v) == 0) &&
        vr_api_size_mib(body, "reserved_memory", false,
                        &c->reserved_memory_mib, err) < 0)
        return -1;
    if (parse_shared(body, &p->set_cpu_ratio, &c->cpu_ratio, &p->set_mem_ratio,
                     &c->mem_ratio, &p->set_labels, c->labels, &c->nlabels,
                     err) < 0)
        return -1;
    if (PRESENT("pci_passthrough", set_pci)) {
        n = 0;
        if (string_list(v, "pci_passthrough", VR_HOST_MAX_PCI,
                        sizeof(c->pci[0]), strs, &n, err) < 0)
            return -1;
        for (int k = 0; k < n; k++)
            vr_strlcpy(c->pci[k], strs[k], sizeof(c->pci[0]));
        c->npci = n;
    }
    if (PRESENT("sriov_pools", set_pools)) {
        if (!json_is_array(v) || json_array_size(v) > VR_HOST_MAX_POOLS)
            return vr_err(err, VR_E_INVALID, "field 'sriov_pools' must be a "
                          "list of at most %d {\"name\": ..., \"pf\": ...}",
                          VR_HOST_MAX_POOLS);
        json_array_foreach(v, i, e) {
            static const char *const allowed[] = {"name", "pf", NULL};
            const char *name = NULL, *pf = NULL;
            if (!json_is_object(e) || vr_json_only(e, allowed, err) < 0 ||
                vr_json_str(e, "name", true, &name, err) < 0 ||
                vr_json_str(e, "pf", true, &pf, err) < 0 ||
                vr_name_check(name, "pool name", err) < 0) {
                if (!json_is_object(e))
                    vr_err(err, VR_E_INVALID, "must be an object");
                vr_err_prefix(err, "sriov_pools[%zu]", i);
                return -1;
            }
            if (strlen(name) >= sizeof(c->pools[0].name) ||
                strlen(pf) >= sizeof(c->pools[0].pf))
                return vr_err(err, VR_E_INVALID, "sriov_pools[%zu]: name or "
                              "pf too long", i);
            vr_strlcpy(c->pools[c->npools].name, name,
                       sizeof(c->pools[0].name));
            vr_strlcpy(c->pools[c->npools].pf, pf, sizeof(c->pools[0].pf));
            c->npools++;
        }
    }
#undef PRESENT
    return 0;
}

enum MHD_Result vr_api_host_update(struct vr_req *r)
{
    static const char *const allowed[] = {"enabled",         "dedicated_cpus",
                                          "reserved_cpus",   "reserved_memory",
                                          "cpu_ratio",       "mem_ratio",
                                          "labels",          "sriov_pools",
                                          "pci_passthrough", "cluster",
                                          NULL};
    struct vr_error err = VR_ERROR_INIT;
    struct vr_host_patch *p = vr_malloc(sizeof(*p));
    json_t *body;
    int rc;

    if (vr_api_body(r, true, allowed, &body, &err) < 0) {
        free(p);
        return vr_api_fail(r, &err);
    }
    rc = parse_host_patch(r, body, p, &err);
    json_decref(body);
    if (rc == 0)
        rc = vr_placement_host_configure(r->ctl, r->obj_id, p, &err);
    free(p);
    if (rc < 0)
        return vr_api_fail(r, &err);
    return vr_api_host_get(r);
}

/* ---- VM groups */

enum MHD_Result vr_api_vmgroup_list(struct vr_req *r)
{
    return vr_api_send_list(r, VR_O_VMGROUP, vr_api_keep_named,
                            (void *)vr_http_query(r, "name"));
}

enum MHD_Result vr_api_vmgroup_get(struct vr_req *r)
{
    return vr_api_send_object(r, &r->ctl->db.vm_groups, r->obj_id, 200);
}

enum MHD_Result vr_api_vmgroup_create(struct vr_req *r)
{
    static const char *const allowed[] = {"name", "roles", NULL};
    struct vr_error err = VR_ERROR_INIT;
    struct vr_vm_group g;
    const char *name = NULL;
    const json_t *roles, *e;
    json_t *body;
    size_t i;

    memset(&g, 0, sizeof(g));
    if (vr_api_body(r, true, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (vr_json_str(body, "name", true, &name, &err) < 0)
        goto fail;
    if (strlen(name) >= sizeof(g.hdr.name)) {
        vr_err(&err, VR_E_INVALID, "field 'name' is too long");
        goto fail;
    }
    vr_strlcpy(g.hdr.name, name, sizeof(g.hdr.name));
    roles = json_object_get(body, "roles");
    if (!json_is_array(roles) || json_array_size(roles) < 1 ||
        json_array_size(roles) > VR_VMGROUP_MAX_ROLES) {
        vr_err(&err, VR_E_INVALID,
               "field 'roles' must list 1 to %d roles "
               "like {\"name\": \"db\", \"policy\": \"anti-affinity\", "
               "\"hard\": true}",
               VR_VMGROUP_MAX_ROLES);
        goto fail;
    }
    json_array_foreach(roles, i, e)
    {
        static const char *const rallowed[] = {"name", "policy", "hard", NULL};
        const char *rn = NULL, *pol = NULL;
        bool hard = false;
        if (!json_is_object(e) || vr_json_only(e, rallowed, &err) < 0 ||
            vr_json_str(e, "name", true, &rn, &err) < 0 ||
            vr_json_str(e, "policy", false, &pol, &err) < 0 ||
            vr_json_bool(e, "hard", false, &hard, &err) < 0) {
            if (!json_is_object(e))
                vr_err(&err, VR_E_INVALID, "must be an object");
            vr_err_prefix(&err, "roles[%zu]", i);
            goto fail;
        }
        if (strlen(rn) >= sizeof(g.roles[0].name)) {
            vr_err(&err, VR_E_INVALID, "roles[%zu]: name too long", i);
            goto fail;
        }
        vr_strlcpy(g.roles[i].name, rn, sizeof(g.roles[0].name));
        if (pol && vr_affinity_parse(pol, &g.roles[i].affinity) < 0) {
            vr_err(&err, VR_E_INVALID,
                   "roles[%zu]: policy must be none, "
                   "affinity or anti-affinity",
                   i);
            goto fail;
        }
        g.roles[i].hard = hard;
        g.nroles++;
    }
    if (vr_vm_groups_create(r->ctl, &r->who, &g, &err) < 0)
        goto fail;
    json_decref(body);
    r->audit_kind = VR_AUDIT_VMGROUP;
    r->audit_id = g.hdr.id;
    vr_strlcpy(r->audit_name, g.hdr.name, sizeof(r->audit_name));
    return vr_api_send_object(r, &r->ctl->db.vm_groups, g.hdr.id, 201);
fail:
    json_decref(body);
    return vr_api_fail(r, &err);
}

enum MHD_Result vr_api_vmgroup_delete(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;

    if (vr_vm_groups_delete(r->ctl, &r->who, r->obj_id, &err) < 0)
        return vr_api_fail(r, &err);
    return vr_http_empty(r, 204);
}

/* ---- clusters */

enum MHD_Result vr_api_cluster_list(struct vr_req *r)
{
    return vr_api_send_list(r, VR_O_CLUSTER, vr_api_keep_named,
                            (void *)vr_http_query(r, "name"));
}

enum MHD_Result vr_api_cluster_get(struct vr_req *r)
{
    return vr_api_send_object(r, &r->ctl->db.clusters, r->obj_id, 200);
}

/* The fields of a cluster a body gives: each one present is flagged in
 * p; null sets it back to none (inherited). */
static int parse_cluster(const json_t *body, struct vr_cluster_patch *p,
                         struct vr_error *err)
{
    struct vr_cluster *c = &p->c;
    const json_t *v;

    if (parse_shared(body, &p->set_cpu_ratio, &c->cpu_ratio, &p->set_mem_ratio,
                     &c->mem_ratio, &p->set_labels, c->labels, &c->nlabels,
                     err) < 0)
        return -1;
    if ((v = json_object_get(body, "requirements")) != NULL) {
        p->set_requirements = true;
        if (!json_is_null(v) && copy_str(body, "requirements", c->requirements,
                                         sizeof(c->requirements), err) < 0)
            return -1;
    }
    if ((v = json_object_get(body, "rank")) != NULL) {
        p->set_rank = true;
        if (!json_is_null(v) &&
            copy_str(body, "rank", c->rank, sizeof(c->rank), err) < 0)
            return -1;
    }
    return 0;
}

static const char *const cluster_fields[] = {
    "name", "cpu_ratio", "mem_ratio", "labels", "requirements", "rank", NULL};

enum MHD_Result vr_api_cluster_create(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_cluster_patch *p = vr_calloc(1, sizeof(*p));
    const char *name = NULL;
    json_t *body;
    int64_t id;
    int rc = -1;

    if (vr_api_body(r, true, cluster_fields, &body, &err) < 0) {
        free(p);
        return vr_api_fail(r, &err);
    }
    if (vr_json_str(body, "name", true, &name, &err) == 1 &&
        strlen(name) >= sizeof(p->c.hdr.name))
        vr_err(&err, VR_E_INVALID, "field 'name' is too long");
    else if (name && parse_cluster(body, p, &err) == 0) {
        vr_strlcpy(p->c.hdr.name, name, sizeof(p->c.hdr.name));
        rc = vr_clusters_create(r->ctl, &p->c, &err);
    }
    json_decref(body);
    id = p->c.hdr.id;
    if (rc == 0) {
        r->audit_kind = VR_AUDIT_CLUSTER;
        r->audit_id = id;
        vr_strlcpy(r->audit_name, p->c.hdr.name, sizeof(r->audit_name));
    }
    free(p);
    if (rc < 0)
        return vr_api_fail(r, &err);
    return vr_api_send_object(r, &r->ctl->db.clusters, id, 201);
}

enum MHD_Result vr_api_cluster_update(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_cluster_patch *p = vr_calloc(1, sizeof(*p));
    json_t *body;
    int rc = -1;

    if (vr_api_body(r, true, cluster_fields + 1, &body, &err) < 0) {
        free(p);
        return vr_api_fail(r, &err);
    }
    if (parse_cluster(body, p, &err) == 0)
        rc = vr_clusters_update(r->ctl, r->obj_id, p, &err);
    json_decref(body);
    free(p);
    if (rc < 0)
        return vr_api_fail(r, &err);
    return vr_api_send_object(r, &r->ctl->db.clusters, r->obj_id, 200);
}

enum MHD_Result vr_api_cluster_delete(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;

    if (vr_clusters_delete(r->ctl, r->obj_id, &err) < 0)
        return vr_api_fail(r, &err);
    return vr_http_empty(r, 204);
}
