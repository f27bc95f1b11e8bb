/*
 * vr_api.c - the REST handlers and the route table.  docs/openapi.json
 * describes every route here (a test checks that they agree).
 */
#include <errno.h>
#include <string.h>

#include "vr_api_priv.h"
#include "vr_http.h"
#include "vr_json.h"
#include "vr_log.h"
#include "vr_tenancy.h"

#define MOD "api"

#define DEFAULT_LIMIT 1000
#define MAX_LIMIT 100000
#define CONSOLE_DEFAULT (64 * 1024)
#define CONSOLE_MAX (1024 * 1024)

/* ---- helpers */

enum MHD_Result vr_api_fail(struct vr_req *r, struct vr_error *err)
{
    return vr_http_problem(r, err);
}

enum MHD_Result vr_api_fail_msg(struct vr_req *r, enum vr_error_code code,
                                const char *msg)
{
    struct vr_error err;
    vr_err(&err, code, "%s", msg);
    return vr_http_problem(r, &err);
}

/* Parse the JSON body (absent allowed when !required) and refuse unknown
 * fields.  *out is NULL for an absent body. */
int vr_api_body(struct vr_req *r, bool required,
                     const char *const allowed[], json_t **out,
                     struct vr_error *err)
{
    *out = NULL;
    if (r->body.len == 0) {
        if (required)
            return vr_err(err, VR_E_INVALID,
                          "a JSON object is required in the request body");
        return 0;
    }
    *out = vr_json_parse_body(r->body.data, r->body.len, err);
    if (!*out)
        return -1;
    if (allowed && vr_json_only(*out, allowed, err) < 0) {
        json_decref(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

enum MHD_Result vr_api_send_object(struct vr_req *r, struct vr_pool *pool,
                                   int64_t id, int status)
{
    size_t len;
    char *json = vr_pool_get_json(pool, id, &len);
    enum MHD_Result ret;

    if (!json)
        return vr_api_fail_msg(r, VR_E_NOT_FOUND, "not found");
    ret = vr_http_json(r, status, json, len);
    free(json);
    return ret;
}

/* {"vm": {...}, "job": {...}} for accepted operations. */
static enum MHD_Result send_accepted(struct vr_req *r, int64_t vm_id,
                                     int64_t job_id)
{
    struct vr_buf b = VR_BUF_INIT;
    char *vm = vr_pool_get_json(&r->ctl->db.vms, vm_id, NULL);
    char *job = vr_pool_get_json(&r->ctl->db.jobs, job_id, NULL);
    enum MHD_Result ret;
    struct MHD_Response *resp;
    char loc[64];

    vr_buf_init(&b);
    vr_buf_addf(&b, "{\"vm\":%s,\"job\":%s}", vm ? vm : "null",
                job ? job : "null");
    free(vm);
    free(job);
    resp =
        MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
    vr_buf_release(&b);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    snprintf(loc, sizeof(loc), "/api/v1/jobs/%lld", (long long)job_id);
    MHD_add_response_header(resp, "Location", loc);
    ret = vr_http_queue(r, 202, resp);
    return ret;
}

/* A list filter: the caller may USE the object, and `more` (if any)
 * keeps it. */
struct list_ctx {
    struct vr_req *r;
    enum vr_route_obj obj;
    vr_api_keep_fn more;
    void *more_ctx;
};

static bool keep_visible(const void *obj, void *ctx)
{
    struct list_ctx *lc = ctx;
    return vr_http_visible(lc->r, lc->obj, obj) &&
           (!lc->more || lc->more(obj, lc->more_ctx));
}

/* A list of what the caller may see: a tenant never learns that other
 * objects exist, not even how many. */
enum MHD_Result vr_api_send_list(struct vr_req *r, enum vr_route_obj obj,
                                 vr_api_keep_fn keep, void *ctx)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_buf b = VR_BUF_INIT;
    struct list_ctx lc = {r, obj, keep, ctx};
    int64_t limit, offset;
    size_t total = 0;
    enum MHD_Result ret;

    if (vr_http_query_int(r, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT, &limit,
                          &err) < 0 ||
        vr_http_query_int(r, "offset", 0, INT64_MAX, 0, &offset, &err) < 0)
        return vr_api_fail(r, &err);
    vr_buf_init(&b);
    vr_buf_adds(&b, "{\"items\":");
    vr_pool_list_json(vr_http_pool(r->ctl, obj), keep_visible, &lc,
                      (size_t)offset, (size_t)limit, &b, &total);
    vr_buf_addf(&b, ",\"total\":%zu,\"offset\":%lld,\"limit\":%lld}",
                total, (long long)offset, (long long)limit);
    ret = vr_http_json(r, 200, b.data, b.len);
    vr_buf_release(&b);
    return ret;
}

/* Size given as an integer (MiB) or a string with a unit. */
int vr_api_size_mib(const json_t *obj, const char *key, bool required,
                         uint64_t *out, struct vr_error *err)
{
    json_t *v = json_object_get(obj, key);
    uint64_t bytes;

    if (!v || json_is_null(v)) {
        if (required)
            return vr_err(err, VR_E_INVALID, "field '%s' is required", key);
        return 0;
    }
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 1 || n > (json_int_t)(1ULL << 40))
            return vr_err(err, VR_E_INVALID,
                          "field '%s' is %lld MiB; it must be positive and "
                          "sane", key, (long long)n);
        *out = (uint64_t)n;
        return 1;
    }
    if (!json_is_string(v))
        return vr_err(err, VR_E_INVALID, "field '%s' must be a size like "
                      "\"512M\" or an integer number of MiB", key);
    if (vr_parse_size(json_string_value(v), 1ULL << 20, &bytes, err) < 0) {
        vr_err_prefix(err, "field '%s'", key);
        return -1;
    }
    if (bytes % (1ULL << 20))
        return vr_err(err, VR_E_INVALID, "field '%s' must be a whole number "
                      "of MiB", key);
    *out = bytes >> 20;
    return 1;
}

/* ---- misc */

static enum MHD_Result h_health(struct vr_req *r)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:I}", "status", "ok", "version",
                          VIREO_VERSION, "instance", r->ctl->instance,
                          "host_id", (json_int_t)r->ctl->local_host);
    return vr_http_jsonj(r, 200, j);
}

static enum MHD_Result h_openapi(struct vr_req *r)
{
    return vr_http_json(r, 200, vr_openapi_json, vr_openapi_json_len);
}

/* ---- tokens */

static enum MHD_Result token_created(struct vr_req *r, char *token,
                                     int64_t token_id)
{
    struct vr_token t;
    json_t *j = json_object();

    vr_pool_get(&r->ctl->db.tokens, token_id, &t);
    json_object_set_new(j, "id", json_integer(token_id));
    json_object_set_new(j, "token", json_string(token));
    json_object_set_new(j, "user_id", json_integer(t.hdr.owner_id));
    json_object_set_new(j, "group_id", json_integer(t.hdr.group_id));
    vr_json_set_time(j, "expires_at", t.expires_at);
    r->audit_kind = VR_AUDIT_TOKEN;
    r->audit_id = token_id;
    free(token);
    return vr_http_jsonj(r, 201, j);
}

static enum MHD_Result h_token_create(struct vr_req *r)
{
    static const char *const allowed[] = {"user", "password", "group", "ttl",
                                          NULL};
    struct vr_error err = VR_ERROR_INIT;
    const char *user = NULL, *password = NULL, *group = NULL;
    int64_t ttl = 0, token_id, retry = 0;
    char *token = NULL, source[64];
    json_t *body;

    if (vr_api_body(r, true, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (vr_json_str(body, "user", true, &user, &err) < 0 ||
        vr_json_str(body, "password", true, &password, &err) < 0 ||
        vr_json_str(body, "group", false, &group, &err) < 0 ||
        vr_json_int(body, "ttl", false, 1, 365 * 86400, &ttl, &err) < 0) {
        json_decref(body);
        return vr_api_fail(r, &err);
    }
    vr_strlcpy(r->audit_user, user, sizeof(r->audit_user));
    vr_http_source(r, source, sizeof(source));
    if (vr_auth_login(r->ctl, user, password, group, source, (int)ttl, &token,
                      &token_id, &retry, &err) < 0) {
        json_decref(body);
        if (err.code == VR_E_THROTTLED)
            r->retry_after_s = (int)((retry + 999) / 1000);
        return vr_api_fail(r, &err);
    }
    json_decref(body);
    return token_created(r, token, token_id);
}

/* A new token for the caller, working in another of its groups. */
static enum MHD_Result h_token_switch(struct vr_req *r)
{
    static const char *const allowed[] = {"group", "ttl", NULL};
    struct vr_error err = VR_ERROR_INIT;
    const char *group = NULL;
    int64_t ttl = 0, token_id;
    char *token = NULL;
    json_t *body;

    if (vr_api_body(r, true, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (vr_json_str(body, "group", true, &group, &err) < 0 ||
        vr_json_int(body, "ttl", false, 1, 365 * 86400, &ttl, &err) < 0 ||
        vr_auth_switch(r->ctl, &r->who, group, (int)ttl, &token, &token_id,
                       &err) < 0) {
        json_decref(body);
        return vr_api_fail(r, &err);
    }
    json_decref(body);
    return token_created(r, token, token_id);
}

static enum MHD_Result h_token_list(struct vr_req *r)
{
    return vr_api_send_list(r, VR_O_TOKEN, NULL, NULL);
}

static enum MHD_Result h_token_delete(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    if (vr_auth_revoke(r->ctl, r->obj_id, &err) < 0)
        return vr_api_fail(r, &err);
    return vr_http_empty(r, 204);
}

/* ---- hosts */

static enum MHD_Result h_host_list(struct vr_req *r)
{
    return vr_api_send_list(r, VR_O_HOST, NULL, NULL);
}

/* ---- images */

bool vr_api_keep_named(const void *obj, void *ctx)
{
    const char *name = ctx;
    return !name || strcmp(((const struct vr_obj *)obj)->name, name) == 0;
}

static enum MHD_Result h_image_list(struct vr_req *r)
{
    return vr_api_send_list(r, VR_O_IMAGE, vr_api_keep_named,
                            (void *)vr_http_query(r, "name"));
}

static enum MHD_Result h_image_get(struct vr_req *r)
{
    return vr_api_send_object(r, &r->ctl->db.images, r->obj_id, 200);
}

static enum MHD_Result h_image_create(struct vr_req *r)
{
    static const char *const allowed[] = {"name", "format", "sha256", "path",
                                          NULL};
    struct vr_error err = VR_ERROR_INIT;
    struct vr_image_create_req req;
    int64_t id;
    json_t *body;

    memset(&req, 0, sizeof(req));
    if (vr_api_body(r, true, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (vr_json_str(body, "name", true, &req.name, &err) < 0 ||
        vr_json_str(body, "format", true, &req.format, &err) < 0 ||
        vr_json_str(body, "sha256", false, &req.sha256, &err) < 0 ||
        vr_json_str(body, "path", false, &req.path, &err) < 0) {
        json_decref(body);
        return vr_api_fail(r, &err);
    }
    /* importing a file of the server's is an operator's act */
    if (req.path && !r->who.super) {
        json_decref(body);
        return vr_api_fail_msg(r, VR_E_FORBIDDEN,
                               "only a superuser may import an "
                               "image from a server path; upload it instead");
    }
    if (vr_images_create(r->ctl, &req, &r->who, &id, &err) < 0) {
        json_decref(body);
        return vr_api_fail(r, &err);
    }
    r->audit_id = id;
    r->audit_kind = VR_AUDIT_IMAGE;
    vr_strlcpy(r->audit_name, req.name, sizeof(r->audit_name));
    json_decref(body);
    return vr_api_send_object(r, &r->ctl->db.images, id, 201);
}

static enum MHD_Result h_image_delete(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    if (vr_images_delete(r->ctl, &r->who, r->obj_id, &err) < 0)
        return vr_api_fail(r, &err);
    return vr_http_empty(r, 204);
}

int vr_api_upload_begin(struct vr_req *r, uint64_t declared,
                        struct vr_error *err)
{
    r->upload = vr_upload_begin(r->ctl, r->obj_id, r->who.user_id, declared,
                                err);
    return r->upload ? 0 : -1;
}

int vr_api_upload_chunk(struct vr_req *r, const char *data, size_t len,
                        struct vr_error *err)
{
    if (!r->upload)
        return vr_err(err, VR_E_INTERNAL, "no upload in progress");
    if (vr_upload_write(r->upload, data, len, err) < 0) {
        vr_upload_abort(r->upload, err->msg);
        r->upload = NULL;
        return -1;
    }
    return 0;
}

static enum MHD_Result h_image_upload(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_upload *up = r->upload;

    if (!up)
        return vr_api_fail_msg(r, VR_E_INVALID, "the upload ended early");
    r->upload = NULL; /* vr_upload_finish frees it either way */
    if (vr_upload_finish(up, &err) < 0)
        return vr_api_fail(r, &err);
    return vr_api_send_object(r, &r->ctl->db.images, r->obj_id, 200);
}

/* ---- VMs */

struct vm_filter {
    const char *name;
    bool has_state;
    enum vr_vm_state state;
};

static bool keep_vm(const void *obj, void *ctx)
{
    const struct vr_vm *vm = obj;
    const struct vm_filter *f = ctx;
    if (f->name && strcmp(vm->hdr.name, f->name) != 0)
        return false;
    if (f->has_state && vm->state != f->state)
        return false;
    return true;
}

static enum MHD_Result h_vm_list(struct vr_req *r)
{
    struct vm_filter f = {vr_http_query(r, "name"), false, VR_VM_PENDING};
    const char *st = vr_http_query(r, "state");

    if (st) {
        if (vr_vm_state_parse(st, &f.state) < 0)
            return vr_api_fail_msg(
                r, VR_E_INVALID,
                "query parameter 'state' must be one of PENDING, "
                "RUNNING, PAUSED, SUSPENDED, POWEROFF, FAILED");
        f.has_state = true;
    }
    return vr_api_send_list(r, VR_O_VM, keep_vm, &f);
}

/* A superuser is also told how many hosts each reason turned away from a
 * VM waiting for one (placement.why_hosts); its owner, who may not see
 * hosts, only the reasons. */
static enum MHD_Result h_vm_get(struct vr_req *r)
{
    struct vr_vm *vm;
    json_t *j, *p;
    char *json;
    size_t len = 0;

    if (!r->who.super)
        return vr_api_send_object(r, &r->ctl->db.vms, r->obj_id, 200);
    json = vr_pool_get_json(&r->ctl->db.vms, r->obj_id, &len);
    /* a VM not waiting for a host (nearly all) has nothing more to say:
     * its JSON goes out as it is */
    if (json && strstr(json, "\"why\":null")) {
        enum MHD_Result ret = vr_http_json(r, 200, json, len);
        free(json);
        return ret;
    }
    vm = vr_pool_dup(&r->ctl->db.vms, r->obj_id);
    j = json ? json_loads(json, 0, NULL) : NULL;
    free(json);
    if (!vm || !j) {
        vr_obj_free(&vr_vm_kind, vm);
        json_decref(j);
        return vr_api_fail_msg(r, VR_E_NOT_FOUND, "not found");
    }
    p = json_object_get(j, "placement");
    if (vm->placement_detail[0] && json_is_object(p))
        json_object_set_new(p, "why_hosts",
                            json_string(vm->placement_detail));
    vr_obj_free(&vr_vm_kind, vm);
    return vr_http_jsonj(r, 200, j);
}

int vr_api_parse_vm_create(const json_t *body, struct vr_vm_create_req *req,
                           char idbuf[24], struct vr_error *err)
{
    static const char *const allowed[] = {
        "name", "uuid", "image", "vcpus", "memory", "disks", "full_clone",
        "start", "cpu_policy", "topology", "numa_nodes", "hugepages", "pci",
        "sriov", "requirements", "rank", "hosts", "force", "vm_group",
        "vm_group_role", NULL};
    int64_t vcpus = 1;
    const json_t *disks, *d;
    size_t i;
    int rc;

    memset(req, 0, sizeof(*req));
    req->start = true;
    if (vr_json_only(body, allowed, err) < 0 ||
        vr_json_str(body, "name", true, &req->name, err) < 0 ||
        vr_json_str(body, "uuid", false, &req->uuid, err) < 0 ||
        vr_json_int(body, "vcpus", false, 1, VR_VM_MAX_VCPUS, &vcpus,
                    err) < 0 ||
        vr_api_size_mib(body, "memory", true, &req->memory_mib, err) < 0 ||
        vr_json_bool(body, "full_clone", false, &req->full_clone, err) < 0 ||
        vr_json_bool(body, "start", false, &req->start, err) < 0)
        return -1;
    req->vcpus = (int)vcpus;
    d = json_object_get(body, "image");
    if (json_is_string(d)) {
        req->image = json_string_value(d);
    } else if (json_is_integer(d)) {
        snprintf(idbuf, 24, "%lld", (long long)json_integer_value(d));
        req->image = idbuf;
    } else {
        return vr_err(err, VR_E_INVALID,
                      "field 'image' is required: an image name or id");
    }
    disks = json_object_get(body, "disks");
    if (disks && !json_is_null(disks)) {
        if (!json_is_array(disks))
            return vr_err(err, VR_E_INVALID, "field 'disks' must be an array");
        if (json_array_size(disks) > VR_VM_MAX_DISKS - 1)
            return vr_err(err, VR_E_INVALID, "at most %d extra disks",
                          VR_VM_MAX_DISKS - 1);
        json_array_foreach(disks, i, d) {
            static const char *const dallowed[] = {"size", NULL};
            if (!json_is_object(d))
                return vr_err(err, VR_E_INVALID,
                              "disks[%zu] must be an object like "
                              "{\"size\": \"1G\"}", i);
            if (vr_json_only(d, dallowed, err) < 0) {
                vr_err_prefix(err, "disks[%zu]", i);
                return -1;
            }
            rc = vr_api_size_mib(d, "size", true, &req->extra_mib[i], err);
            if (rc < 0) {
                vr_err_prefix(err, "disks[%zu]", i);
                return -1;
            }
            req->nextra++;
        }
    }
    if (vr_api_parse_placement(body, req, err) < 0)
        return -1;
    return vr_orch_vm_create_check(req, err);
}

static enum MHD_Result h_vm_create(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_vm_create_req req;
    int64_t vm_id, job_id;
    char idbuf[24];
    json_t *body;

    if (vr_api_body(r, true, NULL, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (vr_api_parse_vm_create(body, &req, idbuf, &err) < 0 ||
        vr_orch_vm_create(r->ctl, &req, &r->who, &vm_id, &job_id, &err) < 0) {
        json_decref(body);
        return vr_api_fail(r, &err);
    }
    r->audit_kind = VR_AUDIT_VM;
    r->audit_id = vm_id;
    vr_strlcpy(r->audit_name, req.name, sizeof(r->audit_name));
    json_decref(body);   /* req.name points into it */
    return send_accepted(r, vm_id, job_id);
}

static enum MHD_Result h_vm_delete(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    int64_t job_id;

    if (vr_orch_vm_request(r->ctl, r->obj_id, VR_OP_DELETE, 0,
                           VR_RECOVER_NONE, &r->who, &job_id, &err) < 0)
        return vr_api_fail(r, &err);
    return send_accepted(r, r->obj_id, job_id);
}

static enum MHD_Result h_vm_action(struct vr_req *r)
{
    static const char *const allowed[] = {"timeout", "mode", NULL};
    struct vr_error err = VR_ERROR_INIT;
    enum vr_vm_op op;
    enum vr_recover_mode mode = VR_RECOVER_NONE;
    int64_t timeout = 0, job_id;
    const char *m = NULL;
    json_t *body;

    if (vr_vm_op_parse(r->params[1], &op) < 0 || op == VR_OP_CREATE ||
        op == VR_OP_DELETE)
        return vr_api_fail_msg(
            r, VR_E_NOT_FOUND,
            "unknown action; use start, stop, poweroff, reboot, "
            "reset, pause, resume, suspend or recover");
    if (vr_api_body(r, false, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (body) {
        if ((op != VR_OP_STOP && json_object_get(body, "timeout")) ||
            (op != VR_OP_RECOVER && json_object_get(body, "mode"))) {
            json_decref(body);
            return vr_api_fail_msg(r, VR_E_INVALID,
                                   "'timeout' belongs to stop and "
                                   "'mode' to recover");
        }
        if (vr_json_int(body, "timeout", false, 1, 3600, &timeout, &err) < 0 ||
            vr_json_str(body, "mode", false, &m, &err) < 0) {
            json_decref(body);
            return vr_api_fail(r, &err);
        }
        if (m && vr_recover_mode_parse(m, &mode) < 0) {
            json_decref(body);
            return vr_api_fail_msg(
                r, VR_E_INVALID,
                "field 'mode' must be retry, success or failure");
        }
    }
    json_decref(body);
    if (vr_orch_vm_request(r->ctl, r->obj_id, op, (int)timeout, mode,
                           &r->who, &job_id, &err) < 0)
        return vr_api_fail(r, &err);
    return send_accepted(r, r->obj_id, job_id);
}

static enum MHD_Result h_vm_console(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_vm vm;
    struct vr_node *node;
    int64_t offset, limit;
    char *data = NULL;
    size_t len = 0;
    enum MHD_Result ret;
    int rc;

    if (vr_pool_get(&r->ctl->db.vms, r->obj_id, &vm) < 0)
        return vr_api_fail_msg(r, VR_E_NOT_FOUND, "the vm was deleted");
    if (vr_http_query_int(r, "offset", INT64_MIN / 2, INT64_MAX / 2,
                          -CONSOLE_DEFAULT, &offset, &err) < 0 ||
        vr_http_query_int(r, "limit", 1, CONSOLE_MAX, CONSOLE_DEFAULT, &limit,
                          &err) < 0)
        return vr_api_fail(r, &err);
    if (!vm.host_id)
        return vr_http_text(r, 200, "text/plain", "", 0); /* not placed */
    node = vr_ctl_node(r->ctl, vm.host_id, &err);
    if (!node)
        return vr_api_fail(r, &err);
    rc = VR_NODE_CALL(node, console_read, &err, vm.hdr.uuid, offset,
                      (size_t)limit, &data, &len);
    vr_node_close(node);
    if (rc < 0)
        return vr_api_fail(r, &err);
    /* what the guest wrote, byte for byte: no charset is promised */
    ret = vr_http_text(r, 200, "text/plain", data, len);
    free(data);
    return ret;
}

/* ---- jobs */

static bool keep_job(const void *obj, void *ctx)
{
    const struct vr_job *job = obj;
    const int64_t *vm = ctx;
    return !*vm || job->object_id == *vm;
}

static enum MHD_Result h_job_list(struct vr_req *r)
{
    const char *ref = vr_http_query(r, "vm");
    int64_t vm = 0;

    /* a VM may be gone while its jobs remain: a bare id is taken as is */
    if (ref) {
        struct vr_error err = VR_ERROR_INIT;
        char *end;
        long long id = strtoll(ref, &end, 10);
        if (*ref && !*end && id > 0)
            vm = id;
        else if (!(vm = vr_http_resolve(r, VR_O_VM, ref, 0, &err)))
            return vr_api_fail(r, &err);
    }
    return vr_api_send_list(r, VR_O_JOB, keep_job, &vm);
}

/* GET /jobs/{id}?wait=S[&phase=P]: with wait, answer as soon as the job is
 * finished or its phase differs from P, or after S seconds.  Waiting
 * costs no thread: the request is parked (vr_http_park) and looked at
 * again when an event is published. */
static enum MHD_Result h_job_get(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    int64_t wait_s;
    const char *phase = vr_http_query(r, "phase");
    struct vr_job job;

    if (vr_http_query_int(r, "wait", 0, 60, 0, &wait_s, &err) < 0)
        return vr_api_fail(r, &err);
    if (!r->wake_at)
        r->wake_at = vr_mono_ms() + wait_s * 1000;
    else if (vr_auth_principal(r->ctl, r->who.token_id, &r->who, &err) < 0)
        return vr_api_fail(r, &err);   /* revoked while it waited */
    if (vr_pool_get(&r->ctl->db.jobs, r->obj_id, &job) == 0 &&
        vr_mono_ms() < r->wake_at && !vr_job_finished(&job) &&
        !(phase && strcmp(phase, job.phase) != 0) &&
        !atomic_load(&r->ctl->stopping)) {
        if (vr_http_park(r, r->wake_at, &err) == 0)
            return MHD_YES;
        if (err.code == VR_E_THROTTLED)
            return vr_api_fail(r, &err);
    }
    return vr_api_send_object(r, &r->ctl->db.jobs, r->obj_id, 200);
}

/* ---- users */

static enum MHD_Result h_user_list(struct vr_req *r)
{
    return vr_api_send_list(r, VR_O_USER, vr_api_keep_named,
                            (void *)vr_http_query(r, "name"));
}

static enum MHD_Result h_user_get(struct vr_req *r)
{
    return vr_api_send_object(r, &r->ctl->db.users, r->obj_id, 200);
}

/* Read a NULL-terminated list of group references from a JSON array;
 * *out points into `body` and must be freed. */
static int group_list(const json_t *body, const char *key, const char ***out,
                      bool *present, struct vr_error *err)
{
    const json_t *a = json_object_get(body, key), *v;
    size_t i;

    *out = NULL;
    *present = a && !json_is_null(a);
    if (!*present)
        return 0;
    if (!json_is_array(a) || json_array_size(a) >= VR_USER_MAX_GROUPS)
        return vr_err(err, VR_E_INVALID, "field '%s' must be an array of at "
                      "most %d groups", key, VR_USER_MAX_GROUPS - 1);
    *out = vr_calloc(json_array_size(a) + 1, sizeof(char *));
    json_array_foreach(a, i, v) {
        if (!json_is_string(v)) {
            free(*out);
            *out = NULL;
            return vr_err(err, VR_E_INVALID, "field '%s' lists group names "
                          "or ids as strings", key);
        }
        (*out)[i] = json_string_value(v);
    }
    return 0;
}

static enum MHD_Result h_user_create(struct vr_req *r)
{
    static const char *const allowed[] = {"name", "password", "group",
                                          "groups", "enabled", NULL};
    struct vr_error err = VR_ERROR_INIT;
    struct vr_user_req req;
    const char **groups = NULL;
    int64_t id, gid, wait;
    bool have_groups, enabled = true;
    char pkey[32];
    json_t *body;

    memset(&req, 0, sizeof(req));
    if (vr_api_body(r, true, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (vr_json_str(body, "name", true, &req.name, &err) < 0 ||
        vr_json_str(body, "password", false, &req.password, &err) < 0 ||
        vr_json_str(body, "group", false, &req.group, &err) < 0 ||
        vr_json_bool(body, "enabled", false, &enabled, &err) < 0 ||
        group_list(body, "groups", &groups, &have_groups, &err) < 0)
        goto fail;
    if (!req.group)
        req.group = r->who.group_name;
    /* creating a user in a group takes ADMIN on that group: a superuser,
     * or an administrator of the group working in it; every secondary
     * group likewise */
    gid = vr_http_resolve(r, VR_O_GROUP, req.group, VR_RIGHT_ADMIN, &err);
    if (!gid)
        goto fail;
    for (size_t i = 0; groups && groups[i]; i++)
        if (!vr_http_resolve(r, VR_O_GROUP, groups[i], VR_RIGHT_ADMIN, &err))
            goto fail;
    req.groups = groups;
    req.enabled = enabled;
    /* User names are one namespace for every tenant (logins need it), so
     * "already exists" tells a group administrator that a name is taken
     * somewhere: such probes are throttled per caller. */
    snprintf(pkey, sizeof(pkey), "n:%lld", (long long)r->who.user_id);
    if (!r->who.super &&
        (wait = vr_throttle_wait(&r->ctl->throttle_names, pkey,
                                 vr_mono_ms()))) {
        vr_err(&err, VR_E_THROTTLED, "too many user names found taken; try "
               "again in %lld s", (long long)(wait + 999) / 1000);
        goto fail;
    }
    if (vr_users_create(r->ctl, &req, &id, &err) < 0) {
        if (err.code == VR_E_CONFLICT && !r->who.super)
            vr_throttle_fail(&r->ctl->throttle_names, pkey, vr_mono_ms());
        goto fail;
    }
    free(groups);
    r->audit_kind = VR_AUDIT_USER;
    r->audit_id = id;
    vr_strlcpy(r->audit_name, req.name, sizeof(r->audit_name));
    json_decref(body);   /* req.name points into it */
    return vr_api_send_object(r, &r->ctl->db.users, id, 201);
fail:
    free(groups);
    json_decref(body);
    return vr_api_fail(r, &err);
}

static enum MHD_Result h_user_delete(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    if (r->obj_id == r->who.user_id)
        return vr_api_fail_msg(r, VR_E_CONFLICT, "a user cannot delete itself");
    if (vr_users_delete(r->ctl, &r->who, r->obj_id, &err) < 0)
        return vr_api_fail(r, &err);
    return vr_http_empty(r, 204);
}

/* POST /users/{u}/password: a reset by who may manage the user, or a
 * change of one's own password (with the current one).  Either way every
 * other session of the user ends. */
static enum MHD_Result h_user_password(struct vr_req *r)
{
    static const char *const allowed[] = {"password", "current_password",
                                          NULL};
    struct vr_error err = VR_ERROR_INIT;
    const char *pw = NULL, *current = NULL;
    json_t *body;

    if (vr_api_body(r, true, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (vr_json_str(body, "password", true, &pw, &err) < 0 ||
        vr_json_str(body, "current_password", false, &current, &err) < 0 ||
        vr_users_passwd(r->ctl, &r->who, r->obj_id, pw, current, &err) < 0) {
        json_decref(body);
        return vr_api_fail(r, &err);
    }
    json_decref(body);
    return vr_http_empty(r, 204);
}

/* PATCH /users/{u}: enable/disable (ADMIN on the user); groups: a
 * superuser's act. */
static enum MHD_Result h_user_update(struct vr_req *r)
{
    static const char *const allowed[] = {"enabled", "group", "groups", NULL};
    struct vr_error err = VR_ERROR_INIT;
    const char **groups = NULL;
    const char *group = NULL;
    bool have_groups, enabled, have_enabled;
    json_t *body;
    int rc;

    if (vr_api_body(r, true, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if ((rc = vr_json_bool(body, "enabled", false, &enabled, &err)) < 0 ||
        vr_json_str(body, "group", false, &group, &err) < 0 ||
        group_list(body, "groups", &groups, &have_groups, &err) < 0)
        goto fail;
    have_enabled = rc == 1;
    /* every check before any change */
    if ((group || have_groups) && !r->who.super) {
        vr_err(&err, VR_E_FORBIDDEN, "only a superuser may change a user's "
               "groups");
        goto fail;
    }
    if (have_enabled && !enabled && r->obj_id == r->who.user_id) {
        vr_err(&err, VR_E_CONFLICT, "a user cannot disable itself");
        goto fail;
    }
    if ((group || have_groups) &&
        vr_users_set_groups(r->ctl, r->obj_id, group, groups, have_groups,
                            &err) < 0)
        goto fail;
    if (have_enabled &&
        vr_users_set_enabled(r->ctl, &r->who, r->obj_id, enabled, &err) < 0)
        goto fail;
    free(groups);
    json_decref(body);
    return vr_api_send_object(r, &r->ctl->db.users, r->obj_id, 200);
fail:
    free(groups);
    json_decref(body);
    return vr_api_fail(r, &err);
}

static int quota_body(struct vr_req *r, const char *const allowed[],
                      json_t **body, struct vr_error *err)
{
    return vr_api_body(r, true, allowed, body, err);
}

static void quota_keep(struct vr_quota *q)
{
    vr_quota_fill(q, VR_QUOTA_KEEP);
}

static enum MHD_Result h_user_quota(struct vr_req *r)
{
    static const char *const allowed[] = {"vms", "vcpus", "memory_mib",
                                          "disk_mib", "images", "image_mib",
                                          NULL};
    struct vr_error err = VR_ERROR_INIT;
    struct vr_quota q;
    json_t *body;

    quota_keep(&q);
    if (quota_body(r, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (vr_quota_parse_request(&q, body, true, &err) < 0 ||
        vr_quota_set_user(r->ctl, r->obj_id, &q, &err) < 0) {
        json_decref(body);
        return vr_api_fail(r, &err);
    }
    json_decref(body);
    return vr_api_send_object(r, &r->ctl->db.users, r->obj_id, 200);
}

/* ---- groups */

static enum MHD_Result h_group_list(struct vr_req *r)
{
    return vr_api_send_list(r, VR_O_GROUP, vr_api_keep_named,
                            (void *)vr_http_query(r, "name"));
}

static enum MHD_Result h_group_get(struct vr_req *r)
{
    return vr_api_send_object(r, &r->ctl->db.groups, r->obj_id, 200);
}

static enum MHD_Result h_group_create(struct vr_req *r)
{
    static const char *const allowed[] = {"name", NULL};
    struct vr_error err = VR_ERROR_INIT;
    const char *name = NULL;
    int64_t id;
    json_t *body;

    if (vr_api_body(r, true, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (vr_json_str(body, "name", true, &name, &err) < 0 ||
        vr_groups_create(r->ctl, name, r->who.user_id, &id, &err) < 0) {
        json_decref(body);
        return vr_api_fail(r, &err);
    }
    r->audit_kind = VR_AUDIT_GROUP;
    r->audit_id = id;
    vr_strlcpy(r->audit_name, name, sizeof(r->audit_name));
    json_decref(body);   /* `name` points into it */
    return vr_api_send_object(r, &r->ctl->db.groups, id, 201);
}

static enum MHD_Result h_group_delete(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    if (vr_groups_delete(r->ctl, r->obj_id, &err) < 0)
        return vr_api_fail(r, &err);
    return vr_http_empty(r, 204);
}

static enum MHD_Result h_group_quota(struct vr_req *r)
{
    static const char *const allowed[] = {"vms", "vcpus", "memory_mib",
                                          "disk_mib", "images", "image_mib",
                                          "user_quota", NULL};
    struct vr_error err = VR_ERROR_INIT;
    struct vr_quota q, uq;
    json_t *body, *user;

    quota_keep(&q);
    quota_keep(&uq);
    if (quota_body(r, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    user = json_object_get(body, "user_quota");
    if (user) {
        json_incref(user);
        json_object_del(body, "user_quota");
        if (!json_is_object(user)) {
            json_decref(user);
            json_decref(body);
            return vr_api_fail_msg(r, VR_E_INVALID,
                                   "'user_quota' must be an object "
                                   "of limits");
        }
    }
    if (vr_quota_parse_request(&q, body, false, &err) < 0 ||
        (user && vr_quota_parse_request(&uq, user, false, &err) < 0) ||
        vr_quota_set_group(r->ctl, r->obj_id, &q, &uq, &err) < 0) {
        json_decref(user);
        json_decref(body);
        return vr_api_fail(r, &err);
    }
    json_decref(user);
    json_decref(body);
    return vr_api_send_object(r, &r->ctl->db.groups, r->obj_id, 200);
}

static enum MHD_Result h_group_admin_add(struct vr_req *r)
{
    static const char *const allowed[] = {"user", NULL};
    struct vr_error err = VR_ERROR_INIT;
    const char *user = NULL;
    int64_t uid;
    json_t *body;

    if (vr_api_body(r, true, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (vr_json_str(body, "user", true, &user, &err) < 0 ||
        !(uid = vr_http_resolve(r, VR_O_USER, user, 0, &err)) ||
        vr_groups_set_admin(r->ctl, r->obj_id, uid, true, &err) < 0) {
        json_decref(body);
        return vr_api_fail(r, &err);
    }
    json_decref(body);
    return vr_api_send_object(r, &r->ctl->db.groups, r->obj_id, 200);
}

static enum MHD_Result h_group_admin_del(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    int64_t uid = vr_http_resolve(r, VR_O_USER, r->params[1], 0, &err);

    if (!uid || vr_groups_set_admin(r->ctl, r->obj_id, uid, false, &err) < 0)
        return vr_api_fail(r, &err);
    return vr_api_send_object(r, &r->ctl->db.groups, r->obj_id, 200);
}

/* ---- ACL rules */

static enum MHD_Result h_acl_list(struct vr_req *r)
{
    return vr_api_send_list(r, VR_O_ACL, NULL, NULL);
}

static enum MHD_Result h_acl_create(struct vr_req *r)
{
    static const char *const allowed[] = {"who", "user", "group",
                                          "resources", "resource_id",
                                          "cluster", "rights", NULL};
    struct vr_error err = VR_ERROR_INIT;
    struct vr_acl_req req;
    const char *who = NULL, *rights = NULL, *user = NULL, *group = NULL;
    const json_t *res, *v;
    int64_t id;
    size_t i;
    json_t *body;

    memset(&req, 0, sizeof(req));
    if (vr_api_body(r, true, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (vr_json_str(body, "who", true, &who, &err) < 0 ||
        vr_json_str(body, "user", false, &user, &err) < 0 ||
        vr_json_str(body, "group", false, &group, &err) < 0 ||
        vr_json_str(body, "rights", true, &rights, &err) < 0 ||
        vr_json_int(body, "resource_id", false, 1, INT64_MAX,
                    &req.resource_id, &err) < 0 ||
        vr_rights_parse(rights, &req.rights, &err) < 0)
        goto fail;
    if ((v = json_object_get(body, "cluster")) != NULL) {
        /* a cluster by name or id */
        if (json_is_integer(v) && json_integer_value(v) > 0) {
            snprintf(req.cluster_ref, sizeof(req.cluster_ref), "%lld",
                     (long long)json_integer_value(v));
        } else if (json_is_string(v) && *json_string_value(v) &&
                   strlen(json_string_value(v)) < sizeof(req.cluster_ref)) {
            vr_strlcpy(req.cluster_ref, json_string_value(v),
                       sizeof(req.cluster_ref));
        } else {
            vr_err(&err, VR_E_INVALID, "'cluster' is a cluster's name or id");
            goto fail;
        }
    }
    if (strcmp(who, "user") == 0 && user && !group) {
        req.who = VR_ACL_USER;
        req.who_ref = user;
    } else if (strcmp(who, "group") == 0 && group && !user) {
        req.who = VR_ACL_GROUP;
        req.who_ref = group;
    } else if (strcmp(who, "all") == 0 && !user && !group) {
        req.who = VR_ACL_ALL;
    } else {
        vr_err(&err, VR_E_INVALID, "'who' is user (with 'user'), group (with "
               "'group') or all");
        goto fail;
    }
    res = json_object_get(body, "resources");
    if (!json_is_array(res) || !json_array_size(res)) {
        vr_err(&err, VR_E_INVALID, "'resources' is a non-empty array of vm, "
               "image, host, user, group, vm_group, cluster");
        goto fail;
    }
    json_array_foreach(res, i, v) {
        enum vr_res k;
        if (vr_res_parse(json_string_value(v), &k) < 0) {
            vr_err(&err, VR_E_INVALID, "'resources' is a non-empty array of "
                   "vm, image, host, user, group, vm_group, cluster");
            goto fail;
        }
        req.resources |= 1u << k;
    }
    if (vr_acls_create(r->ctl, &req, r->who.user_id, &id, &err) < 0)
        goto fail;
    json_decref(body);
    r->audit_kind = VR_AUDIT_ACL;
    r->audit_id = id;
    return vr_api_send_object(r, &r->ctl->db.acls, id, 201);
fail:
    json_decref(body);
    return vr_api_fail(r, &err);
}

static enum MHD_Result h_acl_delete(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    if (vr_acls_delete(r->ctl, r->obj_id, &err) < 0)
        return vr_api_fail(r, &err);
    return vr_http_empty(r, 204);
}

/* ---- ownership (chown, chgrp, chmod), in bulk */

static enum MHD_Result h_ownership(struct vr_req *r)
{
    static const char *const allowed[] = {"kind", "ids", "user", "group",
                                          "permissions", NULL};
    struct vr_error err = VR_ERROR_INIT;
    struct vr_owner_req req;
    const char *kind = NULL, *user = NULL, *group = NULL, *perms = NULL;
    int64_t *ids = NULL;
    const json_t *a, *v;
    unsigned p;
    size_t i;
    json_t *body;
    enum vr_route_obj obj;

    memset(&req, 0, sizeof(req));
    req.perms = -1;
    if (vr_api_body(r, true, allowed, &body, &err) < 0)
        return vr_api_fail(r, &err);
    if (vr_json_str(body, "kind", true, &kind, &err) < 0 ||
        vr_json_str(body, "user", false, &user, &err) < 0 ||
        vr_json_str(body, "group", false, &group, &err) < 0 ||
        vr_json_str(body, "permissions", false, &perms, &err) < 0)
        goto fail;
    if (vr_res_parse(kind, &req.res) < 0 ||
        (req.res != VR_RES_VM && req.res != VR_RES_IMAGE &&
         req.res != VR_RES_HOST && req.res != VR_RES_VMGROUP)) {
        vr_err(&err, VR_E_INVALID, "'kind' is vm, image, host or vm_group");
        goto fail;
    }
    obj = req.res == VR_RES_VM      ? VR_O_VM
          : req.res == VR_RES_IMAGE ? VR_O_IMAGE
          : req.res == VR_RES_HOST  ? VR_O_HOST
                                    : VR_O_VMGROUP;
    if (!user && !group && !perms) {
        vr_err(&err, VR_E_INVALID, "give a new 'user', 'group' or "
               "'permissions'");
        goto fail;
    }
    if (perms) {
        if (vr_perms_parse(perms, &p) < 0) {
            vr_err(&err, VR_E_INVALID, "'permissions' is three octal digits "
                   "like \"640\" (use 4, manage 2, admin 1)");
            goto fail;
        }
        req.perms = (int)p;
    }
    /* the new owner and group are named like any object: one the caller
     * may not see is not found */
    if (user && !(req.user_id = vr_http_resolve(r, VR_O_USER, user, 0, &err)))
        goto fail;
    if (group &&
        !(req.group_id = vr_http_resolve(r, VR_O_GROUP, group, 0, &err)))
        goto fail;
    a = json_object_get(body, "ids");
    if (!json_is_array(a) || !json_array_size(a)) {
        vr_err(&err, VR_E_INVALID, "'ids' is a non-empty array of ids or "
               "names");
        goto fail;
    }
    ids = vr_calloc(json_array_size(a), sizeof(*ids));
    json_array_foreach(a, i, v) {
        char ref[32];
        const char *s = json_string_value(v);
        if (json_is_integer(v)) {
            snprintf(ref, sizeof(ref), "%lld",
                     (long long)json_integer_value(v));
            s = ref;
        }
        if (!s) {
            vr_err(&err, VR_E_INVALID, "'ids' lists ids or names");
            goto fail;
        }
        ids[i] = vr_http_resolve(r, obj, s, 0, &err);
        if (!ids[i])
            goto fail;
    }
    req.ids = ids;
    req.nids = json_array_size(a);
    if (vr_ownership_set(r->ctl, &r->who, &req, &err) < 0)
        goto fail;
    free(ids);
    json_decref(body);
    return vr_http_empty(r, 204);
fail:
    free(ids);
    json_decref(body);
    return vr_api_fail(r, &err);
}

/* ---- audit */

static enum MHD_Result h_audit(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_audit_filter f;
    struct vr_buf b = VR_BUF_INIT;
    int64_t limit, offset, obj;
    size_t total = 0;
    const char *since = vr_http_query(r, "since");
    enum vr_audit_kind kind;
    enum MHD_Result ret;

    memset(&f, 0, sizeof(f));
    f.user = vr_http_query(r, "user");
    f.kind = vr_http_query(r, "kind");
    if (f.kind && vr_audit_kind_parse(f.kind, &kind) < 0) {
        vr_buf_init(&b);
        for (int i = VR_AUDIT_NONE + 1; i < VR_AUDIT__LAST; i++)
            vr_buf_addf(&b, "%s%s", i > VR_AUDIT_NONE + 1 ? ", " : "",
                        vr_audit_kind_name((enum vr_audit_kind)i));
        vr_err(&err, VR_E_INVALID, "query parameter 'kind' must be one of "
               "%s", b.data);
        vr_buf_release(&b);
        return vr_api_fail(r, &err);
    }
    if (vr_http_query_int(r, "limit", 1, 10000, 100, &limit, &err) < 0 ||
        vr_http_query_int(r, "offset", 0, INT64_MAX, 0, &offset, &err) < 0 ||
        vr_http_query_int(r, "object_id", 1, INT64_MAX, 0, &obj, &err) < 0)
        return vr_api_fail(r, &err);
    f.object_id = obj;
    /* a time without a zone would be a guess: refused */
    if (since && (vr_time_parse(since, &f.since_ms) < 0 || f.since_ms <= 0))
        return vr_api_fail_msg(r, VR_E_INVALID,
                               "query parameter 'since' must be an RFC 3339 "
                               "time with a zone, like 2026-11-21T10:00:00Z "
                               "or 2026-11-21T11:00:00+01:00");
    vr_buf_init(&b);
    vr_buf_adds(&b, "{\"items\":");
    if (vr_audit_read(r->ctl->audit, &f, (size_t)offset, (size_t)limit, &b,
                      &total, &err) < 0) {
        vr_buf_release(&b);
        return vr_api_fail(r, &err);
    }
    vr_buf_addf(&b, ",\"total\":%zu,\"offset\":%lld,\"limit\":%lld}", total,
                (long long)offset, (long long)limit);
    ret = vr_http_json(r, 200, b.data, b.len);
    vr_buf_release(&b);
    return ret;
}

/* ---- events (Server-Sent Events) */

/* A stream sees only the objects its caller may USE, decided per event
 * with the same function as every request, on the ownership the event
 * carries (no JSON is parsed, no lock of the bus is held); it ends when
 * its token is revoked or expires.  A stream costs no thread: between
 * events its connection is suspended (vr_http_stream). */
struct sse {
    struct vr_ctl *ctl;
    struct vr_principal who;       /* a copy: the stream outlives nothing */
    uint64_t cursor;
    unsigned kinds;                /* bit per kind; 0 = all */
    struct vr_buf first;           /* sent before any event */
};

/* Events sent per call of sse_fill: a replay goes out in slices, each
 * after the socket took the previous one, fairly with other clients. */
#define SSE_BATCH 64
/* A client that asks (Last-Event-ID) for more than this many past events
 * is told it missed them ("reset"): replays are bounded. */
#define SSE_REPLAY_MAX 1000
/* with nothing to send for this long, a comment is sent (and the token
 * looked at again, as at every wake) */
#define SSE_KEEPALIVE_MS 5000

static const char *const event_kinds[] = {"vm", "job", "image", "host"};

static bool sse_wants(const struct sse *s, const struct vr_event *e)
{
    const struct vr_event_meta *m = vr_event_meta(e);
    struct vr_obj h;
    size_t i;

    for (i = 0; i < VR_ARRAY_SIZE(event_kinds); i++)
        if (strcmp(vr_event_name(e), event_kinds[i]) == 0)
            break;
    if (i == VR_ARRAY_SIZE(event_kinds) || m->res < 0)
        return false;
    if (s->kinds && !(s->kinds & (1u << i)))
        return false;
    memset(&h, 0, sizeof(h));
    h.id = m->id;
    h.owner_id = m->owner_id;
    h.group_id = m->group_id;
    h.perms = m->perms;
    /* a host lies in its cluster */
    return vr_authz_can_in(&s->ctl->authz, &s->who, (enum vr_res)m->res, &h,
                           m->cluster_id, VR_RIGHT_USE);
}

static int sse_fill(void *ctx, bool idle, struct vr_buf *out)
{
    struct sse *s = ctx;
    struct vr_event *batch[SSE_BATCH];
    uint64_t missed;
    size_t n;

    /* rights as they are now: a revoked or expired token, a disabled
     * user or a group left ends the stream */
    if (vr_events_is_shutdown(s->ctl->events) ||
        atomic_load(&s->ctl->stopping))
        return -1;
    if (vr_auth_principal(s->ctl, s->who.token_id, &s->who, NULL) < 0)
        return -1;
    if (s->first.len) {
        vr_buf_add(out, s->first.data, s->first.len);
        s->first.len = 0;
    }
    n = vr_events_take(s->ctl->events, &s->cursor, batch, SSE_BATCH,
                       &missed);
    if (missed)
        vr_buf_addf(out, "id: %llu\nevent: reset\ndata: {\"missed\":%llu}"
                    "\n\n", (unsigned long long)(vr_event_seq(batch[0]) - 1),
                    (unsigned long long)missed);
    for (size_t i = 0; i < n; i++) {
        if (sse_wants(s, batch[i])) {
            size_t len;
            const char *t = vr_event_text(batch[i], &len);
            vr_buf_add(out, t, len);
        }
        vr_event_unref(batch[i]);
    }
    if (!out->len && idle)
        vr_buf_adds(out, ": keep-alive\n\n");
    return out->len ? 1 : 0;
}

static void sse_free(void *ctx)
{
    struct sse *s = ctx;
    vr_buf_release(&s->first);
    free(s);
}

static const struct vr_http_stream_ops sse_ops = {
    .fill = sse_fill,
    .free = sse_free,
    .keepalive_ms = SSE_KEEPALIVE_MS,
};

static enum MHD_Result h_events(struct vr_req *r)
{
    const char *kinds = vr_http_query(r, "kinds");
    const char *last = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                   "Last-Event-ID");
    struct sse *s = vr_calloc(1, sizeof(*s));
    uint64_t head = vr_events_head(r->ctl->events);

    s->ctl = r->ctl;
    s->who = r->who;
    vr_buf_init(&s->first);
    if (kinds) {
        vr_autofree char *copy = vr_strdup(kinds);
        char *save = NULL;
        for (char *k = strtok_r(copy, ",", &save); k;
             k = strtok_r(NULL, ",", &save)) {
            size_t i;
            for (i = 0; i < VR_ARRAY_SIZE(event_kinds); i++)
                if (strcmp(k, event_kinds[i]) == 0)
                    break;
            if (i == VR_ARRAY_SIZE(event_kinds)) {
                sse_free(s);
                return vr_api_fail_msg(
                    r, VR_E_INVALID,
                    "query parameter 'kinds' is "
                    "a comma-separated list of vm, job, image, "
                    "host");
            }
            s->kinds |= 1u << i;
        }
    }
    /* tell the client at once that the stream is open */
    vr_buf_adds(&s->first, ": vireo event stream\n\n");
    s->cursor = head;
    if (last) {
        char *end;
        unsigned long long v;
        errno = 0;
        v = strtoull(last, &end, 10);
        if (errno || end == last || *end) {
            sse_free(s);
            return vr_api_fail_msg(r, VR_E_INVALID,
                                   "Last-Event-ID must be a number");
        }
        if (v <= head && head - v <= SSE_REPLAY_MAX &&
            vr_http_replay_allowed(r, head - v)) {
            s->cursor = v;
        } else {
            /* from before a daemon restart, further back than a replay
             * goes, or past the user's replay budget: the client missed
             * events and must re-read its state */
            vr_buf_addf(&s->first, "id: %llu\nevent: reset\ndata: "
                        "{\"missed\":%s}\n\n", (unsigned long long)head,
                        v <= head ? "\"more than a replay gives\"" : "null");
        }
    }
    return vr_http_stream(r, "text/event-stream", &sse_ops, s);
}

/* ---- the route table
 *
 * Authorization is declared here, one line per route: PUBLIC, SUPER
 * (superuser sessions), CREATE (the CREATE right on the object kind), or
 * the right needed on the object named in the path (USE, MANAGE, ADMIN).
 * Lists filter by USE.  tests/e2e/test_authz_matrix.py checks every route
 * against every kind of caller. */

#define PUB VR_R_PUBLIC
#define SUP VR_R_SUPER
#define NONE VR_O_NONE, 0
#define USE VR_RIGHT_USE
#define MAN VR_RIGHT_MANAGE
#define ADM VR_RIGHT_ADMIN

static const char *const q_list[] = {"limit", "offset", "name", NULL};
static const char *const q_vm_list[] = {"limit", "offset", "name", "state",
                                        NULL};
static const char *const q_page[] = {"limit", "offset", NULL};
static const char *const q_job_list[] = {"limit", "offset", "vm", NULL};
static const char *const q_job_get[] = {"wait", "phase", NULL};
static const char *const q_console[] = {"offset", "limit", NULL};
static const char *const q_events[] = {"kinds", NULL};
static const char *const q_audit[] = {"limit", "offset", "user", "kind",
                                      "object_id", "since", NULL};

const struct vr_route vr_routes[] = {
    {"GET", "/api/v1/health", h_health, PUB, NULL, NONE},
    {"GET", "/api/v1/openapi.json", h_openapi, PUB, NULL, NONE},
    {"POST", "/api/v1/tokens", h_token_create, PUB | VR_R_BODY, NULL, NONE},
    {"POST", "/api/v1/tokens/switch", h_token_switch, VR_R_BODY, NULL, NONE},
    {"GET", "/api/v1/tokens", h_token_list, 0, q_page, NONE},
    {"DELETE", "/api/v1/tokens/{}", h_token_delete, 0, NULL, VR_O_TOKEN, MAN},
    {"GET", "/api/v1/hosts", h_host_list, 0, q_page, NONE},
    {"POST", "/api/v1/hosts", vr_api_host_create, SUP | VR_R_BODY, NULL,
     NONE},
    {"GET", "/api/v1/hosts/{}", vr_api_host_get, 0, NULL, VR_O_HOST, USE},
    {"PATCH", "/api/v1/hosts/{}", vr_api_host_update, SUP | VR_R_BODY, NULL,
     VR_O_HOST, USE},
    {"DELETE", "/api/v1/hosts/{}", vr_api_host_delete, SUP, NULL, VR_O_HOST,
     USE},
    {"GET", "/api/v1/clusters", vr_api_cluster_list, 0, q_list, NONE},
    {"POST", "/api/v1/clusters", vr_api_cluster_create, SUP | VR_R_BODY,
     NULL, NONE},
    {"GET", "/api/v1/clusters/{}", vr_api_cluster_get, 0, NULL, VR_O_CLUSTER,
     USE},
    {"PATCH", "/api/v1/clusters/{}", vr_api_cluster_update, SUP | VR_R_BODY,
     NULL, VR_O_CLUSTER, USE},
    {"DELETE", "/api/v1/clusters/{}", vr_api_cluster_delete, SUP, NULL,
     VR_O_CLUSTER, USE},
    {"GET", "/api/v1/vm-groups", vr_api_vmgroup_list, 0, q_list, NONE},
    {"POST", "/api/v1/vm-groups", vr_api_vmgroup_create,
     VR_R_CREATE | VR_R_BODY, NULL, VR_O_VMGROUP, 0},
    {"GET", "/api/v1/vm-groups/{}", vr_api_vmgroup_get, 0, NULL, VR_O_VMGROUP,
     USE},
    {"DELETE", "/api/v1/vm-groups/{}", vr_api_vmgroup_delete, 0, NULL,
     VR_O_VMGROUP, MAN},
    {"GET", "/api/v1/images", h_image_list, 0, q_list, NONE},
    {"POST", "/api/v1/images", h_image_create, VR_R_CREATE | VR_R_BODY, NULL,
     VR_O_IMAGE, 0},
    {"GET", "/api/v1/images/{}", h_image_get, 0, NULL, VR_O_IMAGE, USE},
    {"DELETE", "/api/v1/images/{}", h_image_delete, 0, NULL, VR_O_IMAGE, MAN},
    {"PUT", "/api/v1/images/{}/data", h_image_upload, VR_R_UPLOAD, NULL,
     VR_O_IMAGE, MAN},
    {"GET", "/api/v1/vms", h_vm_list, 0, q_vm_list, NONE},
    {"POST", "/api/v1/vms", h_vm_create, VR_R_CREATE | VR_R_BODY, NULL,
     VR_O_VM, 0},
    {"GET", "/api/v1/vms/{}", h_vm_get, 0, NULL, VR_O_VM, USE},
    {"DELETE", "/api/v1/vms/{}", h_vm_delete, 0, NULL, VR_O_VM, MAN},
    {"POST", "/api/v1/vms/{}/{}", h_vm_action, VR_R_BODY, NULL, VR_O_VM, MAN},
    {"GET", "/api/v1/vms/{}/console-log", h_vm_console, 0, q_console, VR_O_VM,
     MAN},
    {"GET", "/api/v1/jobs", h_job_list, 0, q_job_list, NONE},
    {"GET", "/api/v1/jobs/{}", h_job_get, VR_R_WORKER, q_job_get, VR_O_JOB,
     USE},
    {"GET", "/api/v1/events", h_events, 0, q_events, NONE},
    {"GET", "/api/v1/users", h_user_list, 0, q_list, NONE},
    {"POST", "/api/v1/users", h_user_create, VR_R_BODY, NULL, NONE},
    {"GET", "/api/v1/users/{}", h_user_get, 0, NULL, VR_O_USER, USE},
    {"PATCH", "/api/v1/users/{}", h_user_update, VR_R_BODY, NULL, VR_O_USER,
     ADM},
    {"DELETE", "/api/v1/users/{}", h_user_delete, 0, NULL, VR_O_USER, ADM},
    {"POST", "/api/v1/users/{}/password", h_user_password, VR_R_BODY, NULL,
     VR_O_USER, MAN},
    {"PUT", "/api/v1/users/{}/quota", h_user_quota, SUP | VR_R_BODY, NULL,
     VR_O_USER, USE},
    {"GET", "/api/v1/groups", h_group_list, 0, q_list, NONE},
    {"POST", "/api/v1/groups", h_group_create, SUP | VR_R_BODY, NULL, NONE},
    {"GET", "/api/v1/groups/{}", h_group_get, 0, NULL, VR_O_GROUP, USE},
    {"DELETE", "/api/v1/groups/{}", h_group_delete, SUP, NULL, VR_O_GROUP,
     USE},
    {"PUT", "/api/v1/groups/{}/quota", h_group_quota, SUP | VR_R_BODY, NULL,
     VR_O_GROUP, USE},
    {"POST", "/api/v1/groups/{}/admins", h_group_admin_add, SUP | VR_R_BODY,
     NULL, VR_O_GROUP, USE},
    {"DELETE", "/api/v1/groups/{}/admins/{}", h_group_admin_del, SUP, NULL,
     VR_O_GROUP, USE},
    {"GET", "/api/v1/acls", h_acl_list, SUP, q_page, NONE},
    {"POST", "/api/v1/acls", h_acl_create, SUP | VR_R_BODY, NULL, NONE},
    {"DELETE", "/api/v1/acls/{}", h_acl_delete, SUP, NULL, VR_O_ACL, USE},
    {"POST", "/api/v1/ownership", h_ownership, VR_R_BODY, NULL, NONE},
    {"GET", "/api/v1/audit", h_audit, SUP | VR_R_WORKER, q_audit, NONE},
};

const size_t vr_nroutes = VR_ARRAY_SIZE(vr_routes);
