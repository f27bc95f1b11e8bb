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

#define MOD "api"

#define DEFAULT_LIMIT 1000
#define MAX_LIMIT 100000
#define CONSOLE_DEFAULT (64 * 1024)
#define CONSOLE_MAX (1024 * 1024)

/* ---- helpers */

static enum MHD_Result fail(struct vr_req *r, struct vr_error *err)
{
    return vr_http_problem(r, err);
}

static enum MHD_Result fail_msg(struct vr_req *r, enum vr_error_code code,
                                const char *msg)
{
    struct vr_error err;
    vr_err(&err, code, "%s", msg);
    return vr_http_problem(r, &err);
}

/* Parse the JSON body (absent allowed when !required) and refuse unknown
 * fields.  *out is NULL for an absent body. */
static int body_json(struct vr_req *r, bool required,
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

/* An object reference in the path: id, UUID or name. */
static int64_t path_ref(struct vr_req *r, struct vr_pool *pool, int i,
                        struct vr_error *err)
{
    int64_t id = vr_pool_resolve(pool, r->params[i]);
    if (!id) {
        char printable[72];
        size_t n = 0;
        for (const char *p = r->params[i]; *p && n < 64; p++)
            printable[n++] = (*p > 0x20 && *p < 0x7f) ? *p : '?';
        printable[n] = '\0';
        vr_err(err, VR_E_NOT_FOUND, "%s '%s' not found", pool->kind->name,
               printable);
    }
    return id;
}

static enum MHD_Result send_object(struct vr_req *r, struct vr_pool *pool,
                                   int64_t id, int status)
{
    size_t len;
    char *json = vr_pool_get_json(pool, id, &len);
    enum MHD_Result ret;

    if (!json)
        return fail_msg(r, VR_E_NOT_FOUND, "not found");
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
    resp = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
    vr_buf_release(&b);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    snprintf(loc, sizeof(loc), "/api/v1/jobs/%lld", (long long)job_id);
    MHD_add_response_header(resp, "Location", loc);
    ret = vr_http_queue(r, 202, resp);
    return ret;
}

typedef bool (*keep_fn)(const void *obj, void *ctx);

static enum MHD_Result send_list(struct vr_req *r, struct vr_pool *pool,
                                 keep_fn keep, void *ctx)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_buf b = VR_BUF_INIT;
    int64_t limit, offset;
    size_t total = 0;
    enum MHD_Result ret;

    if (vr_http_query_int(r, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT, &limit,
                          &err) < 0 ||
        vr_http_query_int(r, "offset", 0, INT64_MAX, 0, &offset, &err) < 0)
        return fail(r, &err);
    vr_buf_init(&b);
    vr_buf_adds(&b, "{\"items\":");
    vr_pool_list_json(pool, keep, ctx, (size_t)offset, (size_t)limit, &b,
                      &total);
    vr_buf_addf(&b, ",\"total\":%zu,\"offset\":%lld,\"limit\":%lld}", total,
                (long long)offset, (long long)limit);
    ret = vr_http_json(r, 200, b.data, b.len);
    vr_buf_release(&b);
    return ret;
}

/* Size given as an integer (MiB) or a string with a unit. */
static int json_size_mib(const json_t *obj, const char *key, bool required,
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
                          "host_id", (json_int_t)r->ctl->host_id);
    return vr_http_jsonj(r, 200, j);
}

static enum MHD_Result h_openapi(struct vr_req *r)
{
    return vr_http_json(r, 200, vr_openapi_json, vr_openapi_json_len);
}

/* ---- tokens */

static enum MHD_Result h_token_create(struct vr_req *r)
{
    static const char *const allowed[] = {"user", "password", "ttl", NULL};
    struct vr_error err = VR_ERROR_INIT;
    json_t *body;
    const char *user = NULL, *password = NULL;
    int64_t ttl = 0, token_id;
    char *token = NULL;
    struct vr_token t;
    json_t *j;

    if (body_json(r, true, allowed, &body, &err) < 0)
        return fail(r, &err);
    if (vr_json_str(body, "user", true, &user, &err) < 0 ||
        vr_json_str(body, "password", true, &password, &err) < 0 ||
        vr_json_int(body, "ttl", false, 60, 365 * 86400, &ttl, &err) < 0 ||
        vr_auth_login(r->ctl, user, password, (int)ttl, &token, &token_id,
                      &err) < 0) {
        json_decref(body);
        return fail(r, &err);
    }
    json_decref(body);
    vr_pool_get(&r->ctl->db.tokens, token_id, &t);
    j = json_object();
    json_object_set_new(j, "id", json_integer(token_id));
    json_object_set_new(j, "token", json_string(token));
    json_object_set_new(j, "user_id", json_integer(t.hdr.owner_id));
    vr_json_set_time(j, "expires_at", t.expires_at);
    free(token);
    return vr_http_jsonj(r, 201, j);
}

static bool keep_own_token(const void *obj, void *ctx)
{
    const struct vr_req *r = ctx;
    return ((const struct vr_obj *)obj)->owner_id == r->who.user_id;
}

static enum MHD_Result h_token_list(struct vr_req *r)
{
    return send_list(r, &r->ctl->db.tokens, keep_own_token, r);
}

static enum MHD_Result h_token_delete(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_token t;
    int64_t id;

    if (strcmp(r->params[0], "current") == 0)
        id = r->who.token_id;
    else
        id = vr_pool_resolve(&r->ctl->db.tokens, r->params[0]);
    if (!id || vr_pool_get(&r->ctl->db.tokens, id, &t) < 0 ||
        (t.hdr.owner_id != r->who.user_id && !r->who.admin))
        return fail_msg(r, VR_E_NOT_FOUND, "token not found");
    if (vr_auth_revoke(r->ctl, id, &err) < 0)
        return fail(r, &err);
    return vr_http_empty(r, 204);
}

/* ---- hosts */

static enum MHD_Result h_host_list(struct vr_req *r)
{
    return send_list(r, &r->ctl->db.hosts, NULL, NULL);
}

static enum MHD_Result h_host_get(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    int64_t id = path_ref(r, &r->ctl->db.hosts, 0, &err);
    if (!id)
        return fail(r, &err);
    return send_object(r, &r->ctl->db.hosts, id, 200);
}

/* ---- images */

static bool keep_image(const void *obj, void *ctx)
{
    const struct vr_image *im = obj;
    const char *name = ctx;
    return !name || strcmp(im->hdr.name, name) == 0;
}

static enum MHD_Result h_image_list(struct vr_req *r)
{
    return send_list(r, &r->ctl->db.images, keep_image,
                     (void *)vr_http_query(r, "name"));
}

static enum MHD_Result h_image_get(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    int64_t id = path_ref(r, &r->ctl->db.images, 0, &err);
    if (!id)
        return fail(r, &err);
    return send_object(r, &r->ctl->db.images, id, 200);
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
    if (body_json(r, true, allowed, &body, &err) < 0)
        return fail(r, &err);
    if (vr_json_str(body, "name", true, &req.name, &err) < 0 ||
        vr_json_str(body, "format", true, &req.format, &err) < 0 ||
        vr_json_str(body, "sha256", false, &req.sha256, &err) < 0 ||
        vr_json_str(body, "path", false, &req.path, &err) < 0 ||
        vr_images_create(r->ctl, &req, r->who.user_id, &id, &err) < 0) {
        json_decref(body);
        return fail(r, &err);
    }
    json_decref(body);
    return send_object(r, &r->ctl->db.images, id, 201);
}

static enum MHD_Result h_image_delete(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    int64_t id = path_ref(r, &r->ctl->db.images, 0, &err);
    if (!id || vr_images_delete(r->ctl, id, &err) < 0)
        return fail(r, &err);
    return vr_http_empty(r, 204);
}

int vr_api_upload_begin(struct vr_req *r, uint64_t declared,
                        struct vr_error *err)
{
    int64_t id = path_ref(r, &r->ctl->db.images, 0, err);
    if (!id)
        return -1;
    r->upload = vr_upload_begin(r->ctl, id, declared, err);
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
    int64_t id = path_ref(r, &r->ctl->db.images, 0, &err);

    if (!id)
        return fail(r, &err);
    if (!up)
        return fail_msg(r, VR_E_INVALID, "the upload ended early");
    r->upload = NULL; /* vr_upload_finish frees it either way */
    if (vr_upload_finish(up, &err) < 0)
        return fail(r, &err);
    return send_object(r, &r->ctl->db.images, id, 200);
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
            return fail_msg(r, VR_E_INVALID,
                            "query parameter 'state' must be one of PENDING, "
                            "RUNNING, PAUSED, SUSPENDED, POWEROFF, FAILED");
        f.has_state = true;
    }
    return send_list(r, &r->ctl->db.vms, keep_vm, &f);
}

static enum MHD_Result h_vm_get(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    int64_t id = path_ref(r, &r->ctl->db.vms, 0, &err);
    if (!id)
        return fail(r, &err);
    return send_object(r, &r->ctl->db.vms, id, 200);
}

int vr_api_parse_vm_create(const json_t *body, struct vr_vm_create_req *req,
                           char idbuf[24], struct vr_error *err)
{
    static const char *const allowed[] = {"name", "uuid", "image", "vcpus",
                                          "memory", "disks", "full_clone",
                                          "start", NULL};
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
        json_size_mib(body, "memory", true, &req->memory_mib, err) < 0 ||
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
            rc = json_size_mib(d, "size", true, &req->extra_mib[i], err);
            if (rc < 0) {
                vr_err_prefix(err, "disks[%zu]", i);
                return -1;
            }
            req->nextra++;
        }
    }
    return vr_orch_vm_create_check(req, err);
}

static enum MHD_Result h_vm_create(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_vm_create_req req;
    int64_t vm_id, job_id;
    char idbuf[24];
    json_t *body;

    if (body_json(r, true, NULL, &body, &err) < 0)
        return fail(r, &err);
    if (vr_api_parse_vm_create(body, &req, idbuf, &err) < 0) {
        json_decref(body);
        return fail(r, &err);
    }
    if (vr_orch_vm_create(r->ctl, &req, r->who.user_id, &vm_id, &job_id,
                          &err) < 0) {
        json_decref(body);
        return fail(r, &err);
    }
    json_decref(body);
    return send_accepted(r, vm_id, job_id);
}

static enum MHD_Result h_vm_delete(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    int64_t job_id;
    int64_t id = path_ref(r, &r->ctl->db.vms, 0, &err);

    if (!id || vr_orch_vm_request(r->ctl, id, VR_OP_DELETE, 0,
                                  VR_RECOVER_NONE, r->who.user_id, &job_id,
                                  &err) < 0)
        return fail(r, &err);
    return send_accepted(r, id, job_id);
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
    int64_t id = path_ref(r, &r->ctl->db.vms, 0, &err);

    if (!id)
        return fail(r, &err);
    if (vr_vm_op_parse(r->params[1], &op) < 0 || op == VR_OP_CREATE ||
        op == VR_OP_DELETE)
        return fail_msg(r, VR_E_NOT_FOUND,
                        "unknown action; use start, stop, poweroff, reboot, "
                        "reset, pause, resume, suspend or recover");
    if (body_json(r, false, allowed, &body, &err) < 0)
        return fail(r, &err);
    if (body) {
        if ((op != VR_OP_STOP && json_object_get(body, "timeout")) ||
            (op != VR_OP_RECOVER && json_object_get(body, "mode"))) {
            json_decref(body);
            return fail_msg(r, VR_E_INVALID, "'timeout' belongs to stop and "
                            "'mode' to recover");
        }
        if (vr_json_int(body, "timeout", false, 1, 3600, &timeout, &err) < 0 ||
            vr_json_str(body, "mode", false, &m, &err) < 0) {
            json_decref(body);
            return fail(r, &err);
        }
        if (m && vr_recover_mode_parse(m, &mode) < 0) {
            json_decref(body);
            return fail_msg(r, VR_E_INVALID,
                            "field 'mode' must be retry, success or failure");
        }
    }
    json_decref(body);
    if (vr_orch_vm_request(r->ctl, id, op, (int)timeout, mode,
                           r->who.user_id, &job_id, &err) < 0)
        return fail(r, &err);
    return send_accepted(r, id, job_id);
}

static enum MHD_Result h_vm_console(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_vm vm;
    int64_t offset, limit;
    char *data = NULL;
    size_t len = 0;
    enum MHD_Result ret;
    int64_t id = path_ref(r, &r->ctl->db.vms, 0, &err);

    if (!id)
        return fail(r, &err);
    if (vr_pool_get(&r->ctl->db.vms, id, &vm) < 0)
        return fail_msg(r, VR_E_NOT_FOUND, "the vm was deleted");
    if (vr_http_query_int(r, "offset", INT64_MIN / 2, INT64_MAX / 2,
                          -CONSOLE_DEFAULT, &offset, &err) < 0 ||
        vr_http_query_int(r, "limit", 1, CONSOLE_MAX, CONSOLE_DEFAULT, &limit,
                          &err) < 0)
        return fail(r, &err);
    if (VR_NODE_CALL(r->ctl->node, console_read, &err, vm.hdr.uuid, offset,
                     (size_t)limit, &data, &len) < 0)
        return fail(r, &err);
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
        vm = vr_pool_resolve(&r->ctl->db.vms, ref);
        if (!vm) {
            char *end;
            long long id = strtoll(ref, &end, 10);
            if (*ref && !*end && id > 0)
                vm = id;
            else
                return fail_msg(r, VR_E_NOT_FOUND, "vm not found");
        }
    }
    return send_list(r, &r->ctl->db.jobs, keep_job, &vm);
}

/* GET /jobs/{id}?wait=S[&phase=P]: with wait, return as soon as the job is
 * finished or its phase differs from P, or after S seconds. */
static enum MHD_Result h_job_get(struct vr_req *r)
{
    struct vr_error err = VR_ERROR_INIT;
    int64_t wait_s;
    const char *phase = vr_http_query(r, "phase");
    int64_t id = path_ref(r, &r->ctl->db.jobs, 0, &err);
    int64_t deadline;

    if (!id)
        return fail(r, &err);
    if (vr_http_query_int(r, "wait", 0, 60, 0, &wait_s, &err) < 0)
        return fail(r, &err);
    deadline = vr_mono_ms() + wait_s * 1000;
    for (;;) {
        uint64_t seq = vr_events_head(r->ctl->events);
        struct vr_job job;
        int64_t left = deadline - vr_mono_ms();

        if (vr_pool_get(&r->ctl->db.jobs, id, &job) < 0 || left <= 0 ||
            vr_job_finished(&job) || (phase && strcmp(phase, job.phase) != 0) ||
            atomic_load(&r->ctl->stopping))
            break;
        vr_events_wait(r->ctl->events, seq, (int)left);
    }
    return send_object(r, &r->ctl->db.jobs, id, 200);
}

/* ---- events (Server-Sent Events) */

struct sse {
    struct vr_ctl *ctl;
    uint64_t cursor;
    unsigned kinds;           /* bit per kind; 0 = all */
    struct vr_buf pending;
    size_t sent;
};

static const char *const event_kinds[] = {"vm", "job", "image", "host"};

static bool sse_filter(const char *name, const char *data, void *ctx)
{
    const struct sse *s = ctx;
    (void)data;
    if (!s->kinds)
        return strcmp(name, "token") != 0 && strcmp(name, "user") != 0;
    for (size_t i = 0; i < VR_ARRAY_SIZE(event_kinds); i++)
        if ((s->kinds & (1u << i)) && strcmp(name, event_kinds[i]) == 0)
            return true;
    return false;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sse *s = cls;
    size_t n;

    (void)pos;
    while (s->sent >= s->pending.len) {
        int rc;
        s->pending.len = 0;
        s->pending.data[0] = '\0';
        s->sent = 0;
        rc = vr_events_read(s->ctl->events, &s->cursor, 15000, sse_filter, s,
                            &s->pending);
        if (rc < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (rc == 0)
            vr_buf_adds(&s->pending, ": keep-alive\n\n");
    }
    n = s->pending.len - s->sent;
    if (n > max)
        n = max;
    memcpy(buf, s->pending.data + s->sent, n);
    s->sent += n;
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    struct sse *s = cls;
    vr_buf_release(&s->pending);
    free(s);
}

static enum MHD_Result h_events(struct vr_req *r)
{
    const char *kinds = vr_http_query(r, "kinds");
    const char *last = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                   "Last-Event-ID");
    struct sse *s = vr_calloc(1, sizeof(*s));
    struct MHD_Response *resp;

    s->ctl = r->ctl;
    vr_buf_init(&s->pending);
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
                return fail_msg(r, VR_E_INVALID, "query parameter 'kinds' is "
                                "a comma-separated list of vm, job, image, "
                                "host");
            }
            s->kinds |= 1u << i;
        }
    }
    s->cursor = vr_events_head(r->ctl->events);
    if (last) {
        char *end;
        unsigned long long v;
        errno = 0;
        v = strtoull(last, &end, 10);
        if (errno || end == last || *end)
            return sse_free(s), fail_msg(r, VR_E_INVALID,
                                         "Last-Event-ID must be a number");
        if (v <= s->cursor) {
            s->cursor = v;
        } else {
            /* from before a daemon restart: the client missed an unknown
             * number of events and must re-read its state */
            vr_buf_adds(&s->pending, "event: reset\ndata: {\"missed\":null}"
                        "\n\n");
        }
    }
    /* tell the client at once that the stream is open */
    vr_buf_adds(&s->pending, ": vireo event stream\n\n");
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read,
                                             s, sse_free);
    if (!resp) {
        sse_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    return vr_http_queue(r, 200, resp);
}

/* ---- the route table */

static const char *const q_list[] = {"limit", "offset", "name", NULL};
static const char *const q_vm_list[] = {"limit", "offset", "name", "state",
                                        NULL};
static const char *const q_page[] = {"limit", "offset", NULL};
static const char *const q_job_list[] = {"limit", "offset", "vm", NULL};
static const char *const q_job_get[] = {"wait", "phase", NULL};
static const char *const q_console[] = {"offset", "limit", NULL};
static const char *const q_events[] = {"kinds", NULL};

const struct vr_route vr_routes[] = {
    {"GET", "/api/v1/health", h_health, VR_R_PUBLIC, NULL},
    {"GET", "/api/v1/openapi.json", h_openapi, VR_R_PUBLIC, NULL},
    {"POST", "/api/v1/tokens", h_token_create, VR_R_PUBLIC | VR_R_BODY, NULL},
    {"GET", "/api/v1/tokens", h_token_list, 0, q_page},
    {"DELETE", "/api/v1/tokens/{}", h_token_delete, 0, NULL},
    {"GET", "/api/v1/hosts", h_host_list, 0, q_page},
    {"GET", "/api/v1/hosts/{}", h_host_get, 0, NULL},
    {"GET", "/api/v1/images", h_image_list, 0, q_list},
    {"POST", "/api/v1/images", h_image_create, VR_R_BODY, NULL},
    {"GET", "/api/v1/images/{}", h_image_get, 0, NULL},
    {"DELETE", "/api/v1/images/{}", h_image_delete, 0, NULL},
    {"PUT", "/api/v1/images/{}/data", h_image_upload, VR_R_UPLOAD, NULL},
    {"GET", "/api/v1/vms", h_vm_list, 0, q_vm_list},
    {"POST", "/api/v1/vms", h_vm_create, VR_R_BODY, NULL},
    {"GET", "/api/v1/vms/{}", h_vm_get, 0, NULL},
    {"DELETE", "/api/v1/vms/{}", h_vm_delete, 0, NULL},
    {"POST", "/api/v1/vms/{}/{}", h_vm_action, VR_R_BODY, NULL},
    {"GET", "/api/v1/vms/{}/console-log", h_vm_console, 0, q_console},
    {"GET", "/api/v1/jobs", h_job_list, 0, q_job_list},
    {"GET", "/api/v1/jobs/{}", h_job_get, 0, q_job_get},
    {"GET", "/api/v1/events", h_events, 0, q_events},
};

const size_t vr_nroutes = VR_ARRAY_SIZE(vr_routes);
