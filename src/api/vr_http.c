/*
 * vr_http.c - libmicrohttpd glue: routing, authentication, body limits,
 * streaming uploads, problem+json errors.
 *
 * Request flow (MHD calls the access handler several times):
 *   1st call: route the method and path (404/405), authenticate (401),
 *             check query parameters (400) and Content-Length (413), open
 *             an upload; an error here is answered at once, without
 *             reading the body.
 *   body:     JSON bodies are collected up to max_body; uploads are
 *             written through to the image datastore as they arrive.
 *   last:     the handler runs and queues exactly one response.
 * An answer given before the body was read ends the connection; its
 * socket then lingers (see "lingering close") so that the client, still
 * sending, receives the answer rather than a reset.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vr_http.h"
#include "vr_log.h"
#include "vr_tls.h"

#define MOD "http"

/* ---- responses */

enum MHD_Result vr_http_queue(struct vr_req *r, int status,
                              struct MHD_Response *resp)
{
    enum MHD_Result ret;

    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    r->status = status;
    if (r->in_worker) {
        /* the connection is suspended: MHD takes the response when it
         * is resumed (on_request) */
        if (r->pending_resp)
            MHD_destroy_response(r->pending_resp);
        r->pending_resp = resp;
        r->pending_status = status;
        r->pending = true;
        return MHD_YES;
    }
    ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result vr_http_text(struct vr_req *r, int status,
                             const char *content_type, const char *data,
                             size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data,
                                        MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", content_type);
    return vr_http_queue(r, status, resp);
}

enum MHD_Result vr_http_json(struct vr_req *r, int status, const char *json,
                             size_t len)
{
    return vr_http_text(r, status, "application/json", json, len);
}

enum MHD_Result vr_http_jsonj(struct vr_req *r, int status, json_t *j)
{
    char *s = vr_json_dump(j);
    enum MHD_Result ret = vr_http_json(r, status, s, strlen(s));
    free(s);
    json_decref(j);
    return ret;
}

enum MHD_Result vr_http_empty(struct vr_req *r, int status)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    return vr_http_queue(r, status, resp);
}

enum MHD_Result vr_http_problem(struct vr_req *r, const struct vr_error *err)
{
    enum vr_error_code code = err->code == VR_E_NONE ? VR_E_INTERNAL
                                                     : err->code;
    int status = vr_err_http_status(code);
    json_t *j = json_object();
    struct MHD_Response *resp;
    char *s;

    json_object_set_new(j, "type", json_sprintf("https://vireo.dev/problems/%s",
                                                vr_err_slug(code)));
    json_object_set_new(j, "title", json_string(vr_err_title(code)));
    json_object_set_new(j, "status", json_integer(status));
    /* messages may quote user input: keep printable ASCII only */
    {
        char detail[VR_ERROR_MSG_SIZE];
        size_t n = 0;
        for (const char *p = err->msg; *p && n < sizeof(detail) - 1; p++)
            detail[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
        detail[n] = '\0';
        json_object_set_new(j, "detail", json_string(detail));
    }
    if (r->path)
        json_object_set_new(j, "instance", json_string(r->path));
    s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(j);
    if (!s)
        s = vr_strdup("{\"title\":\"Internal error\",\"status\":500}");
    resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/problem+json");
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate",
                                "Bearer realm=\"vireo\"");
    if (code == VR_E_METHOD && r->allow[0])
        MHD_add_response_header(resp, "Allow", r->allow);
    if (r->retry_after_s > 0) {
        char ra[24];
        snprintf(ra, sizeof(ra), "%d", r->retry_after_s);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (status >= 500)
        VR_WARN(MOD, "%s %s: %d %s", r->method, r->path ? r->path : "?",
                status, err->msg);
    vr_strlcpy(r->audit_detail, err->msg, sizeof(r->audit_detail));
    return vr_http_queue(r, status, resp);
}

/* ---- query */

const char *vr_http_query(struct vr_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

int vr_http_parse_int(const char *key, const char *v, int64_t min,
                      int64_t max, int64_t *out, struct vr_error *err)
{
    char *end;
    long long n;

    errno = 0;
    n = strtoll(v, &end, 10);
    /* digits only (an optional '-'): no spaces, '+' or hex */
    if (!*v || errno || *end || n < min || n > max ||
        !((*v >= '0' && *v <= '9') || (v[0] == '-' && v[1] >= '0' &&
                                       v[1] <= '9')))
        return vr_err(err, VR_E_INVALID,
                      "query parameter '%s' must be an integer between %lld "
                      "and %lld", key, (long long)min, (long long)max);
    *out = n;
    return 0;
}

int vr_http_query_int(struct vr_req *r, const char *key, int64_t min,
                      int64_t max, int64_t dflt, int64_t *out,
                      struct vr_error *err)
{
    const char *v = vr_http_query(r, key);

    if (!v) {
        *out = dflt;
        return 0;
    }
    return vr_http_parse_int(key, v, min, max, out, err);
}

bool vr_http_query_allowed(const char *const allowed[], const char *key)
{
    for (size_t i = 0; allowed && allowed[i]; i++)
        if (strcmp(key, allowed[i]) == 0)
            return true;
    return false;
}

struct qcheck {
    const char *const *allowed;
    struct vr_error *err;
    bool bad;
};

static enum MHD_Result check_query_arg(void *cls, enum MHD_ValueKind kind,
                                       const char *key, const char *value)
{
    struct qcheck *qc = cls;
    (void)kind;
    (void)value;
    if (vr_http_query_allowed(qc->allowed, key))
        return MHD_YES;
    {
        char printable[48];
        size_t n = 0;
        for (const char *p = key; *p && n < sizeof(printable) - 1; p++)
            printable[n++] = (*p > 0x20 && *p < 0x7f) ? *p : '?';
        printable[n] = '\0';
        vr_err(qc->err, VR_E_INVALID, "unknown query parameter '%s'",
               printable);
    }
    qc->bad = true;
    return MHD_NO;
}

/* ---- routing */

int vr_http_route(struct vr_req *r, struct vr_error *err)
{
    char *segv[16];
    int nseg = 0;
    bool path_matched = false;
    size_t plen = strlen(r->path);

    if (plen > 1024)
        return vr_err(err, VR_E_NOT_FOUND, "no such resource");
    r->segs = vr_strdup(r->path);
    for (char *s = r->segs; *s;) {
        while (*s == '/')
            *s++ = '\0';
        if (!*s)
            break;
        if (nseg == (int)VR_ARRAY_SIZE(segv))
            return vr_err(err, VR_E_NOT_FOUND, "no such resource");
        segv[nseg++] = s;
        while (*s && *s != '/')
            s++;
    }
    for (size_t i = 0; i < vr_nroutes; i++) {
        const struct vr_route *rt = &vr_routes[i];
        char pat[128];
        char *save = NULL, *p;
        int k = 0, np = 0;
        bool ok = true;
        char *params[VR_MAX_PARAMS];

        vr_strlcpy(pat, rt->pattern, sizeof(pat));
        for (p = strtok_r(pat, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
            if (k >= nseg) {
                ok = false;
                break;
            }
            if (strcmp(p, "{}") == 0) {
                if (np < VR_MAX_PARAMS)
                    params[np++] = segv[k];
            } else if (strcmp(p, segv[k]) != 0) {
                ok = false;
                break;
            }
            k++;
        }
        if (!ok || k != nseg)
            continue;
        path_matched = true;
        if (!strstr(r->allow, rt->method)) {
            size_t n = strlen(r->allow), m = strlen(rt->method);
            if (n + m + 3 <= sizeof(r->allow)) {
                if (n) {
                    memcpy(r->allow + n, ", ", 2);
                    n += 2;
                }
                memcpy(r->allow + n, rt->method, m + 1);
            }
        }
        if (strcmp(rt->method, r->method) != 0)
            continue;
        r->route = rt;
        for (int j = 0; j < np; j++)
            r->params[j] = params[j];
        return 0;
    }
    if (path_matched)
        return vr_err(err, VR_E_METHOD, "method %s is not allowed on %s; "
                      "allowed: %s", r->method, r->path, r->allow);
    return vr_err(err, VR_E_NOT_FOUND, "no such resource: %s", r->path);
}

/* ---- authorization: the route table's declarations, decided here */

enum vr_res vr_http_res(enum vr_route_obj obj)
{
    switch (obj) {
    case VR_O_IMAGE:
        return VR_RES_IMAGE;
    case VR_O_HOST:
        return VR_RES_HOST;
    case VR_O_USER:
        return VR_RES_USER;
    case VR_O_GROUP:
        return VR_RES_GROUP;
    case VR_O_VMGROUP:
        return VR_RES_VMGROUP;
    case VR_O_CLUSTER:
        return VR_RES_CLUSTER;
    case VR_O_VM:
    case VR_O_JOB:
    case VR_O_ACL:
    case VR_O_TOKEN:
    case VR_O_NONE:
        break;
    }
    return VR_RES_VM;
}

struct vr_pool *vr_http_pool(struct vr_ctl *ctl, enum vr_route_obj obj)
{
    switch (obj) {
    case VR_O_VM:
        return &ctl->db.vms;
    case VR_O_IMAGE:
        return &ctl->db.images;
    case VR_O_HOST:
        return &ctl->db.hosts;
    case VR_O_JOB:
        return &ctl->db.jobs;
    case VR_O_USER:
        return &ctl->db.users;
    case VR_O_GROUP:
        return &ctl->db.groups;
    case VR_O_ACL:
        return &ctl->db.acls;
    case VR_O_TOKEN:
        return &ctl->db.tokens;
    case VR_O_VMGROUP:
        return &ctl->db.vm_groups;
    case VR_O_CLUSTER:
        return &ctl->db.clusters;
    case VR_O_NONE:
        break;
    }
    return NULL;
}

static bool can(struct vr_req *r, enum vr_route_obj obj, const void *o,
                unsigned right)
{
    const struct vr_obj *h = o;

    if (obj == VR_O_ACL)
        return r->who.super;
    if (obj == VR_O_TOKEN)
        return r->who.super || h->owner_id == r->who.user_id;
    if (obj == VR_O_JOB) {
        /* a job is its VM's: decided on the VM as it is now, or on the
         * copy the job kept once the VM is gone */
        struct vr_vm vm;
        const struct vr_job *job = o;
        if (vr_pool_get(&r->ctl->db.vms, job->object_id, &vm) == 0)
            return vr_authz_can(&r->ctl->authz, &r->who, VR_RES_VM, &vm.hdr,
                                right);
    }
    if (obj == VR_O_USER) /* bounded by the user's groups */
        return vr_authz_can_user(&r->ctl->authz, &r->who, o,
                                 &r->ctl->db.groups, right);
    if (obj == VR_O_HOST) /* ACL rules of its cluster apply */
        return vr_authz_can_in(&r->ctl->authz, &r->who, VR_RES_HOST, h,
                               ((const struct vr_host *)o)->cluster_id,
                               right);
    return vr_authz_can(&r->ctl->authz, &r->who, vr_http_res(obj), h, right);
}

bool vr_http_visible(struct vr_req *r, enum vr_route_obj obj, const void *o)
{
    return can(r, obj, o, VR_RIGHT_USE);
}

struct vis_ctx {
    struct vr_req *r;
    enum vr_route_obj obj;
};

static bool vis_cb(const void *o, void *ctx)
{
    struct vis_ctx *v = ctx;
    return vr_http_visible(v->r, v->obj, o);
}

static const char *printable(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; *s && n < size - 1; s++)
        buf[n++] = (*s > 0x20 && *s < 0x7f) ? *s : '?';
    buf[n] = '\0';
    return buf;
}

int64_t vr_http_resolve(struct vr_req *r, enum vr_route_obj obj,
                        const char *ref, unsigned need, struct vr_error *err)
{
    struct vr_pool *pool = vr_http_pool(r->ctl, obj);
    struct vis_ctx vc = {r, obj};
    char shown[72];
    void *o;
    int64_t id;

    if (!pool || !ref)
        return vr_err(err, VR_E_NOT_FOUND, "not found"), 0;
    if (obj == VR_O_USER && strcmp(ref, "me") == 0)
        id = r->who.user_id;
    else if (obj == VR_O_TOKEN && strcmp(ref, "current") == 0)
        id = r->who.token_id;
    else
        id = vr_pool_find(pool, ref, r->who.user_id, vis_cb, &vc);
    if (id < 0)
        return vr_err(err, VR_E_CONFLICT, "several %ss are named '%s'; use "
                      "the id", pool->kind->name,
                      printable(ref, shown, 64)), 0;
    o = id ? vr_pool_dup(pool, id) : NULL;
    /* an object the caller may not see does not exist for it */
    if (!o || !vr_http_visible(r, obj, o)) {
        vr_obj_free(pool->kind, o);
        return vr_err(err, VR_E_NOT_FOUND, "%s '%s' not found",
                      pool->kind->name, printable(ref, shown, 64)), 0;
    }
    if (need && !can(r, obj, o, need)) {
        vr_err(err, VR_E_FORBIDDEN, "not allowed to %s %s '%s'",
               need & VR_RIGHT_ADMIN ? "administer" :
               need & VR_RIGHT_MANAGE ? "manage" : "use",
               pool->kind->name, ((const struct vr_obj *)o)->name[0]
                                     ? ((const struct vr_obj *)o)->name
                                     : printable(ref, shown, 64));
        vr_obj_free(pool->kind, o);
        return 0;
    }
    /* every kind of the pools is an audit kind (test_openapi) */
    if (vr_audit_kind_parse(pool->kind->name, &r->audit_kind) < 0)
        r->audit_kind = VR_AUDIT_NONE;
    r->audit_id = id;
    vr_strlcpy(r->audit_name, ((const struct vr_obj *)o)->name,
               sizeof(r->audit_name));
    vr_obj_free(pool->kind, o);
    return id;
}

int vr_http_authorize(struct vr_req *r, struct vr_error *err)
{
    const struct vr_route *rt = r->route;

    if (rt->flags & VR_R_PUBLIC)
        return 0;
    if ((rt->flags & VR_R_SUPER) && !r->who.super)
        return vr_err(err, VR_E_FORBIDDEN, "only a session working in the "
                      "superuser group may do this");
    if ((rt->flags & VR_R_CREATE) &&
        !vr_authz_can_create(&r->ctl->authz, &r->who, vr_http_res(rt->obj)))
        return vr_err(err, VR_E_FORBIDDEN, "not allowed to create %ss in "
                      "group '%s'", vr_res_name(vr_http_res(rt->obj)),
                      r->who.group_name);
    if (rt->obj != VR_O_NONE && rt->need) {
        r->obj_id = vr_http_resolve(r, rt->obj, r->params[0], rt->need, err);
        if (!r->obj_id)
            return -1;
    }
    return 0;
}

static int authenticate(struct vr_req *r, struct vr_error *err)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h)
        return vr_err(err, VR_E_UNAUTHENTICATED,
                      "authentication required: send 'Authorization: Bearer "
                      "TOKEN' (POST /api/v1/tokens gives one)");
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return vr_err(err, VR_E_UNAUTHENTICATED,
                      "only Bearer tokens are accepted");
    h += 7;
    while (*h == ' ')
        h++;
    if (vr_auth_token(r->ctl, h, &r->who, err) < 0)
        return -1;
    r->authed = true;
    return 0;
}

static int first_call(struct vr_req *r, struct vr_error *err)
{
    const char *cl, *ct, *te;
    bool chunked = false;
    struct qcheck qc = {NULL, err, false};
    uint64_t len = 0;

    cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                     MHD_HTTP_HEADER_TRANSFER_ENCODING);
    /* a chunked body has no length: it is a body all the same, and every
     * check below applies to it (its size is checked as it arrives) */
    if (te)
        len = 0, chunked = true;
    else if (cl)
        len = strtoull(cl, NULL, 10);
    /* until the last call: a refusal now leaves it unread (lingering
     * close) */
    r->body_pending = len > 0 || chunked;
    if (vr_http_route(r, err) < 0)
        return -1;
    if (!(r->route->flags & VR_R_PUBLIC) && authenticate(r, err) < 0)
        return -1;
    qc.allowed = r->route->query;
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_query_arg,
                              &qc);
    if (qc.bad)
        return -1;
    if (vr_http_authorize(r, err) < 0)
        return -1;
    ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                     MHD_HTTP_HEADER_CONTENT_TYPE);
    if (r->route->flags & VR_R_UPLOAD) {
        if (ct && (strncasecmp(ct, "application/octet-stream", 24) != 0 ||
                   (ct[24] != '\0' && ct[24] != ';')))
            return vr_err(err, VR_E_MEDIA,
                          "image data must be sent as "
                          "application/octet-stream");
        /* 404, 409 and 413 before a byte of the body is read */
        return vr_api_upload_begin(r, len, err);
    }
    if (len > r->ctl->cfg->max_body)
        return vr_err(err, VR_E_TOO_LARGE,
                      "request body of %llu bytes is over the limit of %llu",
                      (unsigned long long)len,
                      (unsigned long long)r->ctl->cfg->max_body);
    if ((len > 0 || chunked) && !(r->route->flags & VR_R_BODY))
        return vr_err(err, VR_E_INVALID, "this request takes no body");
    if ((len > 0 || chunked) &&
        (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
         (ct[16] != '\0' && ct[16] != ';')))
        return vr_err(err, VR_E_MEDIA,
                      "request body must be application/json");
    return 0;
}

/* ---- the connection model
 *
 * Sockets are served by a few epoll threads (http_threads): an open
 * connection costs a slot and some memory, never a thread.  Handlers run
 * on a pool of workers (http_workers) while their connection is
 * suspended, so a slow handler (a password hash, an LDAP bind, an image
 * check) never stalls the sockets of others.  Requests that wait (job
 * long-polls) and event streams are suspended connections woken by the
 * event bus or a timer: waiting costs no thread either.
 *
 * Slow clients are cut: a connection must complete its request headers
 * (the TLS handshake included) within http_header_timeout of connecting
 * or of the end of its previous request, and a body must average at
 * least http_min_body_rate bytes/s after its first 10 s; a connection
 * where no byte moves for http_idle_timeout is closed by MHD.  Limits:
 * http_max_connections in all, http_max_connections_per_address from
 * one address, http_max_streams_per_user event streams and
 * http_max_waits_per_user parked long-polls per user.
 *
 *   connection:  HEADERS --headers done--> BODY --body done--> BUSY
 *                   ^                                            |
 *                   +---------- response sent (keep-alive) ------+
 * The reaper (the waker thread, every 250 ms) shuts down the socket of a
 * connection past its deadline in HEADERS or too slow in BODY; BUSY
 * (handler, wait, stream, response) has no deadline but the idle one. */

#define BODY_GRACE_MS 10000
#define WAKER_MS 250

/* The runtime's lists (connections, streams, parked requests) are
 * intrusive and doubly linked through the fields named PREV and NEXT. */
#define DL_PUSH(head, x, PREV, NEXT)                                       \
    do {                                                                   \
        (x)->PREV = NULL;                                                  \
        (x)->NEXT = (head);                                                \
        if (head)                                                          \
            (head)->PREV = (x);                                            \
        (head) = (x);                                                      \
    } while (0)
#define DL_UNLINK(head, x, PREV, NEXT)                                     \
    do {                                                                   \
        if ((x)->PREV)                                                     \
            (x)->PREV->NEXT = (x)->NEXT;                                   \
        else                                                               \
            (head) = (x)->NEXT;                                            \
        if ((x)->NEXT)                                                     \
            (x)->NEXT->PREV = (x)->PREV;                                   \
    } while (0)

enum conn_phase { PH_HEADERS, PH_BODY, PH_BUSY };

struct vr_conn_info {
    struct vr_conn_info *prev, *next;   /* under rt->conn_lock */
    int fd;
    atomic_int phase;
    _Atomic int64_t since;              /* vr_mono_ms of the phase start */
    _Atomic uint64_t bytes;             /* body bytes so far */
    bool cut;                           /* shut down already */
    bool linger;                        /* answered before its request's
                                         * body was read: linger at close */
};

/* An event stream (vr_http_stream). */
struct stream {
    struct stream *prev, *next;         /* under rt->wait_lock */
    struct vr_http_rt *rt;
    struct MHD_Connection *conn;
    const struct vr_http_stream_ops *ops;
    void *ctx;
    int64_t user_id;
    atomic_int refs;                    /* MHD's, and wakers' for a while */
    pthread_mutex_t lock;               /* suspended, kick */
    bool suspended;
    bool kick;                          /* woken while not suspended */
    bool owed;                          /* counted in rt->suspended */
    struct vr_buf out;
    size_t sent;
    int64_t last_out;                   /* vr_mono_ms of the last bytes */
};

/* ---- lingering close
 *
 * A request refused from its headers (an upload to an image that is not
 * there or READY already, over a quota; a body over max_body; a bad
 * token) is answered before its body is read, and MHD then ends the
 * connection.  Most clients send the whole body before they read the
 * answer: if the socket were closed with their bytes unread, the kernel
 * would reset the connection and they would see a broken pipe, not the
 * answer.  So such a socket outlives MHD's use of it (a duplicate
 * descriptor, after MHD's shutdown(SHUT_WR) or TLS close): what still
 * arrives is read and dropped until the client closes, LINGER_IDLE_MS
 * pass without a byte, or LINGER_MAX_MS in all.  At most LINGER_SOCKETS
 * linger at once; others are closed at once, as before. */

#define LINGER_SOCKETS 256
#define LINGER_IDLE_MS 2000
#define LINGER_MAX_MS 30000

struct lingering {
    int fd;
    int64_t started, last;              /* vr_mono_ms */
};

struct user_count {
    int streams, waits;
    /* events replayed to this user's streams: a bucket of REPLAY_BURST
     * refilled at REPLAY_RATE per second */
    double replay_tokens;
    int64_t replay_at;             /* vr_mono_ms of the last refill */
};

#define REPLAY_BURST 5000.0
#define REPLAY_RATE 1000.0

struct vr_http_rt {
    struct vr_api *api;
    const struct vr_config *cfg;
    atomic_bool stopping;
    atomic_bool quit;                   /* workers leave (after MHD stopped) */
    atomic_int suspended;               /* connections suspended now */

    pthread_mutex_t conn_lock;
    struct vr_conn_info *conns;
    size_t nconns;

    /* handlers to run: requests whose connection is suspended */
    pthread_mutex_t q_lock;
    pthread_cond_t q_cond;
    struct vr_req *q_head, *q_tail;
    int busy;                           /* workers running a handler */
    pthread_t *workers;
    int nworkers;

    /* what waits for events or time: parked requests and streams */
    pthread_mutex_t wait_lock;
    struct vr_req *parked;
    struct stream *streams;
    struct vr_map users;                /* user id -> struct user_count */

    /* the bus published: the waker wakes streams and waits (a commit
     * only raises this flag, it never walks them itself) */
    pthread_mutex_t wake_lock;
    pthread_cond_t wake_cond;
    bool event_seen;

    pthread_t waker;
    bool waker_started;

    /* sockets closed by MHD with a request body still coming in */
    pthread_mutex_t linger_lock;
    struct lingering lingering[LINGER_SOCKETS];
    int nlingering;
    int linger_efd;                     /* wakes the lingerer */
    pthread_t lingerer;
    bool lingerer_started;
};

static struct user_count *user_count(struct vr_http_rt *rt, int64_t user)
{
    struct user_count *c = vr_map_get_int(&rt->users, user);
    if (!c) {
        c = vr_calloc(1, sizeof(*c));
        c->replay_tokens = REPLAY_BURST;
        c->replay_at = vr_mono_ms();
        vr_map_put_int(&rt->users, user, c);
    }
    return c;
}

static void user_count_drop(struct vr_http_rt *rt, int64_t user)
{
    struct user_count *c = vr_map_get_int(&rt->users, user);
    /* a user with streams or waits, or who replayed lately, is kept */
    if (c && !c->streams && !c->waits &&
        c->replay_tokens + (double)(vr_mono_ms() - c->replay_at) *
                               REPLAY_RATE / 1000.0 >= REPLAY_BURST)
        free(vr_map_del_int(&rt->users, user));
}

bool vr_http_replay_allowed(struct vr_req *r, uint64_t events)
{
    struct vr_http_rt *rt = r->api->rt;
    int64_t now = vr_mono_ms();
    struct user_count *c;
    bool ok;

    pthread_mutex_lock(&rt->wait_lock);
    c = vr_map_get_int(&rt->users, r->who.user_id);
    if (!c) {
        c = user_count(rt, r->who.user_id);
        c->replay_tokens = REPLAY_BURST;
        c->replay_at = now;
    }
    c->replay_tokens += (double)(now - c->replay_at) * REPLAY_RATE / 1000.0;
    if (c->replay_tokens > REPLAY_BURST)
        c->replay_tokens = REPLAY_BURST;
    c->replay_at = now;
    ok = (double)events <= c->replay_tokens;
    if (ok)
        c->replay_tokens -= (double)events;
    pthread_mutex_unlock(&rt->wait_lock);
    return ok;
}

/* ---- workers */

static void enqueue(struct vr_http_rt *rt, struct vr_req *r)
{
    r->qnext = NULL;
    pthread_mutex_lock(&rt->q_lock);
    if (rt->q_tail)
        rt->q_tail->qnext = r;
    else
        rt->q_head = r;
    rt->q_tail = r;
    pthread_cond_signal(&rt->q_cond);
    pthread_mutex_unlock(&rt->q_lock);
}

/* `suspended` counts connections MHD has not taken back yet: it goes
 * down when MHD calls the handler (or the stream) again, or ends the
 * request, not at MHD_resume_connection, so that the stop knows when
 * MHD is done with every one of them. */
static void resume(struct vr_http_rt *rt, struct MHD_Connection *conn)
{
    (void)rt;
    MHD_resume_connection(conn);
}

static void taken_back(struct vr_http_rt *rt, bool *owed)
{
    if (*owed) {
        *owed = false;
        atomic_fetch_sub(&rt->suspended, 1);
    }
}

/* A parked request joins the waiters once its handler has returned (so
 * that no waker runs it twice at once); if an event was published since
 * the handler began, it runs again at once instead: no wake-up is lost
 * (on_event takes wait_lock after the bus moved its head). */
static void park_now(struct vr_http_rt *rt, struct vr_req *r,
                     uint64_t head_before)
{
    pthread_mutex_lock(&rt->wait_lock);
    if (vr_events_head(r->ctl->events) != head_before ||
        atomic_load(&rt->stopping)) {
        pthread_mutex_unlock(&rt->wait_lock);
        enqueue(rt, r);
        return;
    }
    DL_PUSH(rt->parked, r, qprev, qnext);
    pthread_mutex_unlock(&rt->wait_lock);
}

static void run_handler(struct vr_http_rt *rt, struct vr_req *r)
{
    uint64_t head = vr_events_head(r->ctl->events);
    enum MHD_Result ret;

    r->in_worker = true;
    r->parked = false;
    ret = r->route->handler(r);
    r->in_worker = false;
    if (r->parked) {
        park_now(rt, r, head);
        return;             /* stays suspended: woken by an event or time */
    }
    if (!r->pending && ret == MHD_NO)
        r->close_conn = true;
    if (!r->pending && !r->close_conn) {
        /* a handler that answered nothing: never, but never hang */
        struct vr_error err;
        r->in_worker = true;
        vr_err(&err, VR_E_INTERNAL, "no answer");
        vr_http_problem(r, &err);
        r->in_worker = false;
    }
    resume(rt, r->conn);
}

static void *worker_main(void *arg)
{
    struct vr_http_rt *rt = arg;

    for (;;) {
        struct vr_req *r;
        pthread_mutex_lock(&rt->q_lock);
        /* not `stopping`: a request that saw the daemon running just
         * before the stop began is still enqueued after it, and must run
         * (its connection stays suspended until then); the workers leave
         * only once MHD has stopped and nothing can be enqueued */
        while (!rt->q_head && !atomic_load(&rt->quit))
            pthread_cond_wait(&rt->q_cond, &rt->q_lock);
        r = rt->q_head;
        if (!r) {
            pthread_mutex_unlock(&rt->q_lock);
            return NULL;    /* MHD stopped, nothing left */
        }
        rt->q_head = r->qnext;
        if (!rt->q_head)
            rt->q_tail = NULL;
        rt->busy++;
        pthread_mutex_unlock(&rt->q_lock);
        run_handler(rt, r);
        pthread_mutex_lock(&rt->q_lock);
        rt->busy--;
        pthread_cond_broadcast(&rt->q_cond);
        pthread_mutex_unlock(&rt->q_lock);
    }
}

/* ---- parked requests */

int vr_http_park(struct vr_req *r, int64_t wake_at, struct vr_error *err)
{
    struct vr_http_rt *rt = r->api->rt;

    if (!r->in_worker)
        return vr_err(err, VR_E_INTERNAL, "only a running handler parks");
    if (atomic_load(&rt->stopping) || atomic_load(&r->ctl->stopping))
        return vr_err(err, VR_E_UNAVAILABLE, "the server is stopping");
    pthread_mutex_lock(&rt->wait_lock);
    if (!r->counted_wait) {
        struct user_count *c = user_count(rt, r->who.user_id);
        if (c->waits >= rt->cfg->http_max_waits_per_user) {
            pthread_mutex_unlock(&rt->wait_lock);
            return vr_err(err, VR_E_THROTTLED, "%d waits of yours are open "
                          "already (at most %d at once)", c->waits,
                          rt->cfg->http_max_waits_per_user);
        }
        c->waits++;
        r->counted_wait = true;
    }
    pthread_mutex_unlock(&rt->wait_lock);
    r->parked = true;
    r->wake_at = wake_at;
    return 0;
}

/* Release the wait a finished request held (its connection is done). */
static void release_wait(struct vr_http_rt *rt, struct vr_req *r)
{
    if (!r->counted_wait)
        return;
    pthread_mutex_lock(&rt->wait_lock);
    user_count(rt, r->who.user_id)->waits--;
    user_count_drop(rt, r->who.user_id);
    pthread_mutex_unlock(&rt->wait_lock);
    r->counted_wait = false;
}

/* Run again the parked requests due (all, with `all`); wait_lock held. */
static void wake_parked(struct vr_http_rt *rt, bool all, int64_t now)
{
    struct vr_req *r = rt->parked, *next;

    for (; r; r = next) {
        next = r->qnext;
        if (!all && r->wake_at > now)
            continue;
        DL_UNLINK(rt->parked, r, qprev, qnext);
        enqueue(rt, r);
    }
}

/* ---- streams */

static void stream_wake(struct stream *st)
{
    pthread_mutex_lock(&st->lock);
    if (st->suspended) {
        st->suspended = false;
        resume(st->rt, st->conn);
    } else {
        st->kick = true;
    }
    pthread_mutex_unlock(&st->lock);
}

static void stream_unref(struct stream *st)
{
    if (atomic_fetch_sub(&st->refs, 1) != 1)
        return;
    st->ops->free(st->ctx);
    vr_buf_release(&st->out);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* Wake the streams (all, or those due a keep-alive at `now`).  MHD is
 * called outside wait_lock: MHD may hold its own locks when it frees a
 * stream (stream_free takes wait_lock). */
static void wake_streams(struct vr_http_rt *rt, bool all, int64_t now)
{
    struct stream **due = NULL;
    size_t n = 0, cap = 0;

    pthread_mutex_lock(&rt->wait_lock);
    for (struct stream *st = rt->streams; st; st = st->next) {
        if (!all && now - st->last_out < st->ops->keepalive_ms)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            due = vr_realloc(due, cap * sizeof(*due));
        }
        atomic_fetch_add(&st->refs, 1);
        due[n++] = st;
    }
    pthread_mutex_unlock(&rt->wait_lock);
    for (size_t i = 0; i < n; i++) {
        stream_wake(due[i]);
        stream_unref(due[i]);
    }
    free(due);
}

/* Has the client closed its end?  (A FIN or a reset waits in the
 * socket; TLS records it may still send are data, not a close.) */
static bool peer_gone(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    char c;
    ssize_t n;

    if (!fi || fi->connect_fd < 0)
        return false;
    n = recv(fi->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 ||
           (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    struct vr_http_rt *rt = st->rt;
    size_t n;

    (void)pos;
    pthread_mutex_lock(&st->lock);
    taken_back(rt, &st->owed);
    pthread_mutex_unlock(&st->lock);
    while (st->sent >= st->out.len) {
        bool idle = vr_mono_ms() - st->last_out >= st->ops->keepalive_ms;
        int rc;
        st->out.len = 0;
        st->out.data[0] = '\0';
        st->sent = 0;
        if (atomic_load(&rt->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        /* a suspended connection is not watched: a client that left is
         * found out here, at the latest at the next keep-alive, and its
         * slot given back */
        if (idle && peer_gone(st->conn))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        pthread_mutex_lock(&st->lock);
        st->kick = false;
        pthread_mutex_unlock(&st->lock);
        rc = st->ops->fill(st->ctx, idle, &st->out);
        if (rc < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (st->out.len)
            break;
        /* nothing to send: suspend until an event, the keep-alive time
         * or the stop wakes us (an event published while fill ran set
         * kick: look again) */
        pthread_mutex_lock(&st->lock);
        if (st->kick || atomic_load(&rt->stopping)) {
            pthread_mutex_unlock(&st->lock);
            continue;
        }
        st->suspended = true;
        st->owed = true;
        atomic_fetch_add(&rt->suspended, 1);
        MHD_suspend_connection(st->conn);
        pthread_mutex_unlock(&st->lock);
        return 0;
    }
    n = st->out.len - st->sent;
    if (n > max)
        n = max;
    memcpy(buf, st->out.data + st->sent, n);
    st->sent += n;
    st->last_out = vr_mono_ms();
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream *st = cls;
    struct vr_http_rt *rt = st->rt;

    pthread_mutex_lock(&st->lock);
    taken_back(rt, &st->owed);
    pthread_mutex_unlock(&st->lock);
    pthread_mutex_lock(&rt->wait_lock);
    DL_UNLINK(rt->streams, st, prev, next);
    user_count(rt, st->user_id)->streams--;
    user_count_drop(rt, st->user_id);
    pthread_mutex_unlock(&rt->wait_lock);
    stream_unref(st);
}

enum MHD_Result vr_http_stream(struct vr_req *r, const char *content_type,
                               const struct vr_http_stream_ops *ops,
                               void *ctx)
{
    struct vr_http_rt *rt = r->api->rt;
    struct stream *st;
    struct MHD_Response *resp;
    struct user_count *c;
    struct vr_error err;

    pthread_mutex_lock(&rt->wait_lock);
    c = user_count(rt, r->who.user_id);
    if (c->streams >= rt->cfg->http_max_streams_per_user) {
        int n = c->streams;
        pthread_mutex_unlock(&rt->wait_lock);
        ops->free(ctx);
        vr_err(&err, VR_E_THROTTLED, "%d event streams of yours are open "
               "already (at most %d at once)", n,
               rt->cfg->http_max_streams_per_user);
        return vr_http_problem(r, &err);
    }
    c->streams++;
    st = vr_calloc(1, sizeof(*st));
    st->rt = rt;
    st->conn = r->conn;
    st->ops = ops;
    st->ctx = ctx;
    st->user_id = r->who.user_id;
    st->last_out = vr_mono_ms();
    atomic_init(&st->refs, 1);
    pthread_mutex_init(&st->lock, NULL);
    vr_buf_init(&st->out);
    DL_PUSH(rt->streams, st, prev, next);
    pthread_mutex_unlock(&rt->wait_lock);
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
                                             stream_read, st, stream_free);
    if (!resp) {
        stream_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    return vr_http_queue(r, 200, resp);
}

/* The event bus published (or shut down): every stream and parked
 * request will look again.  Runs in the publisher's thread, after a
 * commit: it only tells the waker, which wakes them all (many events in a
 * row wake them once). */
static void on_event(void *ctx, uint64_t head)
{
    struct vr_http_rt *rt = ctx;

    (void)head;
    pthread_mutex_lock(&rt->wake_lock);
    rt->event_seen = true;
    pthread_cond_signal(&rt->wake_cond);
    pthread_mutex_unlock(&rt->wake_lock);
}

/* Take over a duplicate of a socket MHD is closing (see "lingering
 * close"). */
static void linger_add(struct vr_http_rt *rt, int fd)
{
    int64_t now = vr_mono_ms();
    int dupfd;

    if (rt->linger_efd < 0 || atomic_load(&rt->stopping))
        return;
    pthread_mutex_lock(&rt->linger_lock);
    if (rt->nlingering < LINGER_SOCKETS &&
        (dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0) {
        rt->lingering[rt->nlingering++] =
            (struct lingering){dupfd, now, now};
        eventfd_write(rt->linger_efd, 1);
    }
    pthread_mutex_unlock(&rt->linger_lock);
}

/* Read and drop what is waiting on `fd`: 0, or -1 when the peer closed
 * or the socket failed. */
static int linger_drain(int fd)
{
    char buf[65536];

    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                      errno == EINTR))
            return 0;
        return -1;
    }
    return 0;
}

static void *linger_main(void *arg)
{
    struct vr_http_rt *rt = arg;
    struct pollfd pfd[LINGER_SOCKETS + 1];

    while (!atomic_load(&rt->quit)) {
        int n;
        int64_t now;

        pfd[0] = (struct pollfd){rt->linger_efd, POLLIN, 0};
        pthread_mutex_lock(&rt->linger_lock);
        n = rt->nlingering;
        for (int i = 0; i < n; i++)
            pfd[i + 1] = (struct pollfd){rt->lingering[i].fd, POLLIN, 0};
        pthread_mutex_unlock(&rt->linger_lock);
        if (poll(pfd, (nfds_t)n + 1, n ? WAKER_MS : 1000) < 0 &&
            errno != EINTR)
            vr_sleep_ms(WAKER_MS);
        if (pfd[0].revents & POLLIN) {
            eventfd_t v;
            eventfd_read(rt->linger_efd, &v);
        }
        now = vr_mono_ms();
        /* only this thread removes entries: the first n are still the
         * ones polled */
        pthread_mutex_lock(&rt->linger_lock);
        for (int i = n - 1; i >= 0; i--) {
            struct lingering *l = &rt->lingering[i];
            bool done = false;
            if (pfd[i + 1].revents) {
                done = linger_drain(l->fd) < 0;
                l->last = now;
            }
            if (done || now - l->last > LINGER_IDLE_MS ||
                now - l->started > LINGER_MAX_MS) {
                close(l->fd);
                *l = rt->lingering[--rt->nlingering];
            }
        }
        pthread_mutex_unlock(&rt->linger_lock);
    }
    return NULL;
}

/* ---- connections */

static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct vr_http_rt *rt = cls;
    struct vr_conn_info *ci = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        ci = vr_calloc(1, sizeof(*ci));
        ci->fd = fi ? fi->connect_fd : -1;
        atomic_init(&ci->phase, PH_HEADERS);
        atomic_init(&ci->since, vr_mono_ms());
        atomic_init(&ci->bytes, 0);
        pthread_mutex_lock(&rt->conn_lock);
        DL_PUSH(rt->conns, ci, prev, next);
        rt->nconns++;
        pthread_mutex_unlock(&rt->conn_lock);
        *socket_context = ci;
        return;
    }
    /* closed: MHD closes the socket only after this returns, so the
     * reaper (under conn_lock) never shuts down a reused descriptor */
    if (!ci)
        return;
    if (ci->linger && !ci->cut && ci->fd >= 0)
        linger_add(rt, ci->fd);
    pthread_mutex_lock(&rt->conn_lock);
    DL_UNLINK(rt->conns, ci, prev, next);
    rt->nconns--;
    pthread_mutex_unlock(&rt->conn_lock);
    free(ci);
    *socket_context = NULL;
}

static void set_phase(struct vr_conn_info *ci, enum conn_phase ph)
{
    if (!ci)
        return;
    atomic_store(&ci->since, vr_mono_ms());
    atomic_store(&ci->bytes, 0);
    atomic_store(&ci->phase, ph);
}

/* Cut the connections past their deadline. */
static void reap(struct vr_http_rt *rt, int64_t now)
{
    int64_t header_ms = (int64_t)rt->cfg->http_header_timeout_s * 1000;
    uint64_t rate = (uint64_t)rt->cfg->http_min_body_rate;

    pthread_mutex_lock(&rt->conn_lock);
    for (struct vr_conn_info *ci = rt->conns; ci; ci = ci->next) {
        /* phase first: set_phase writes it last */
        int ph = atomic_load(&ci->phase);
        int64_t age = now - atomic_load(&ci->since);
        bool cut = false;
        if (ci->cut || ci->fd < 0)
            continue;
        if (ph == PH_HEADERS && age > header_ms)
            cut = true;
        else if (ph == PH_BODY && rate && age > BODY_GRACE_MS &&
                 atomic_load(&ci->bytes) * 1000 / (uint64_t)age < rate)
            cut = true;
        if (cut) {
            shutdown(ci->fd, SHUT_RDWR);
            ci->cut = true;
        }
    }
    pthread_mutex_unlock(&rt->conn_lock);
}

/* Timers: parked requests due, streams due a keep-alive, slow clients. */
static void *waker_main(void *arg)
{
    struct vr_http_rt *rt = arg;

    int64_t next_tick = 0;

    while (!atomic_load(&rt->stopping)) {
        int64_t now = vr_mono_ms();
        bool all;

        pthread_mutex_lock(&rt->wake_lock);
        if (!rt->event_seen && now < next_tick) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)(next_tick - now) * 1000000L;
            while (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&rt->wake_cond, &rt->wake_lock, &ts);
        }
        all = rt->event_seen;
        rt->event_seen = false;
        pthread_mutex_unlock(&rt->wake_lock);
        now = vr_mono_ms();
        pthread_mutex_lock(&rt->wait_lock);
        wake_parked(rt, all, now);
        pthread_mutex_unlock(&rt->wait_lock);
        wake_streams(rt, all, now);
        if (now >= next_tick) {
            reap(rt, now);
            next_tick = now + WAKER_MS;
        }
    }
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct vr_api *api = cls;
    struct vr_req *r = *con_cls;

    (void)version;
    if (!r) {
        const union MHD_ConnectionInfo *sc =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r = vr_calloc(1, sizeof(*r));
        *con_cls = r;
        r->api = api;
        r->ctl = api->ctl;
        r->conn = conn;
        r->ci = sc ? sc->socket_context : NULL;
        set_phase(r->ci, PH_BODY);
        r->path = vr_strdup(url);
        vr_strlcpy(r->method, method, sizeof(r->method));
        vr_buf_init(&r->body);
        if (first_call(r, &r->err) < 0) {
            r->failed = true;
            set_phase(r->ci, PH_BUSY);
            return vr_http_problem(r, &r->err);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->ci)
            atomic_fetch_add(&r->ci->bytes, n);
        if (r->failed)
            return MHD_YES;
        r->body_started = true;
        if (!(r->route->flags & (VR_R_UPLOAD | VR_R_BODY))) {
            /* never reached: first_call refused a body already */
            vr_err(&r->err, VR_E_INVALID, "this request takes no body");
            r->failed = true;
        } else if (r->route->flags & VR_R_UPLOAD) {
            if (vr_api_upload_chunk(r, upload_data, n, &r->err) < 0)
                r->failed = true;
        } else if (r->body.len + n > r->ctl->cfg->max_body) {
            vr_err(&r->err, VR_E_TOO_LARGE,
                   "request body is over the limit of %llu bytes",
                   (unsigned long long)r->ctl->cfg->max_body);
            r->failed = true;
        } else {
            vr_buf_add(&r->body, upload_data, n);
        }
        return MHD_YES;
    }
    r->body_pending = false; /* the last call: the body is all in */
    taken_back(api->rt, &r->owed);
    if (r->pending) {
        /* back from a worker: hand its answer to MHD */
        enum MHD_Result ret = MHD_queue_response(conn,
                                                 (unsigned)r->pending_status,
                                                 r->pending_resp);
        MHD_destroy_response(r->pending_resp);
        r->pending_resp = NULL;
        r->pending = false;
        return ret;
    }
    if (r->close_conn)
        return MHD_NO;
    if (r->status || r->dispatched)
        return MHD_YES; /* already answered, or still with a worker */
    set_phase(r->ci, PH_BUSY);
    if (r->failed)
        return vr_http_problem(r, &r->err);
    /* a read of memory (a GET) is answered here, at once: handing it to
     * a worker would cost more than it does */
    if (strcmp(r->method, "GET") == 0 && !(r->route->flags & VR_R_WORKER))
        return r->route->handler(r);
    /* the handler runs on a worker; the connection waits, suspended
     * (counted before `stopping` is read: the stop reads them the other
     * way round, so one of the two sees the other) */
    atomic_fetch_add(&api->rt->suspended, 1);
    if (atomic_load(&api->rt->stopping)) {
        struct vr_error err;
        atomic_fetch_sub(&api->rt->suspended, 1);
        vr_err(&err, VR_E_UNAVAILABLE, "the server is stopping");
        return vr_http_problem(r, &err);
    }
    r->dispatched = true;
    r->owed = true;
    MHD_suspend_connection(conn);
    enqueue(api->rt, r);
    return MHD_YES;
}

/* Every call that changes something, and every login attempt, is written
 * to the audit log when it ends, with its outcome. */
void vr_http_source(struct vr_req *r, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    out[0] = '\0';
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET,
                  &((const struct sockaddr_in *)ci->client_addr)->sin_addr,
                  out, (socklen_t)size);
}

static void audit(struct vr_req *r, struct MHD_Connection *conn)
{
    struct vr_audit_entry e;

    if (!r->route || strcmp(r->method, "GET") == 0)
        return;
    memset(&e, 0, sizeof(e));
    e.time_ms = vr_now_ms();
    if (r->authed) {
        e.user_id = r->who.user_id;
        vr_strlcpy(e.user, r->who.name, sizeof(e.user));
        e.token_id = r->who.token_id;
        e.group_id = r->who.group_id;
    } else {
        vr_strlcpy(e.user, r->audit_user, sizeof(e.user));
    }
    (void)conn;
    vr_http_source(r, e.source, sizeof(e.source));
    vr_strlcpy(e.method, r->method, sizeof(e.method));
    vr_strlcpy(e.path, r->path ? r->path : "", sizeof(e.path));
    vr_strlcpy(e.kind, vr_audit_kind_name(r->audit_kind), sizeof(e.kind));
    e.object_id = r->audit_id;
    vr_strlcpy(e.object_name, r->audit_name, sizeof(e.object_name));
    e.status = r->status ? r->status : 499;
    vr_strlcpy(e.detail, r->audit_detail, sizeof(e.detail));
    /* Refused before anyone was authenticated (no or a bad token, a
     * throttled login, a bad body): counted per source, not one line each,
     * or an unauthenticated client could fill the disk.  A login whose
     * password was checked (201 or 401) is written on its own. */
    if (!r->authed && !((r->route->flags & VR_R_PUBLIC) &&
                        (e.status == 201 || e.status == 401)))
        vr_audit_refused(r->ctl->audit, &e);
    else
        vr_audit_write(r->ctl->audit, &e);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct vr_req *r = *con_cls;

    (void)cls;
    (void)conn;
    if (!r)
        return;
    /* the connection may carry another request: its headers are due
     * within the header timeout from now */
    set_phase(r->ci, PH_HEADERS);
    if (r->ci && r->status && r->body_pending)
        r->ci->linger = true;
    taken_back(r->api->rt, &r->owed);
    release_wait(r->api->rt, r);
    if (r->pending_resp)
        MHD_destroy_response(r->pending_resp);
    if (r->upload)
        vr_upload_abort(r->upload, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK
                                       ? "upload not completed"
                                       : "the connection closed before the "
                                         "upload completed");
    audit(r, conn);
    vr_buf_release(&r->body);
    free(r->path);
    free(r->segs);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    VR_DEBUG(MOD, "%s", msg);
}

/* The API's TLS parameters: TLS 1.2 and 1.3 only, GnuTLS's defaults
 * otherwise. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define MAX_PEM (1u << 20)

static int parse_listen(const char *listen, struct sockaddr_in *sa,
                        struct vr_error *err)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    long port;

    if (!colon || (size_t)(colon - listen) >= sizeof(host))
        return vr_err(err, VR_E_INVALID, "listen address '%s' is not "
                      "ADDRESS:PORT", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    port = strtol(colon + 1, NULL, 10);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (port < 1 || port > 65535 || inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return vr_err(err, VR_E_INVALID, "listen address '%s' is not "
                      "IPV4:PORT", listen);
    return 0;
}

int vr_api_check_listen(const struct vr_config *cfg, struct vr_error *err)
{
    struct sockaddr_in sa;

    if (parse_listen(cfg->listen, &sa, err) < 0)
        return -1;
    if (cfg->insecure_http) {
        if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127)
            return vr_err(err, VR_E_INVALID, "insecure_http (plain HTTP) may "
                          "only listen on loopback (127.0.0.0/8), not '%s'",
                          cfg->listen);
        return 0;
    }
    if (!cfg->tls_cert || !*cfg->tls_cert || !cfg->tls_key || !*cfg->tls_key)
        return vr_err(err, VR_E_INVALID, "tls_cert and tls_key must be set "
                      "together");
    return 0;
}

int vr_api_tls_prepare(const struct vr_config *cfg, struct vr_error *err)
{
    struct sockaddr_in sa;
    char ip[INET_ADDRSTRLEN] = "", host[256] = "";
    const char *ips[2] = {NULL, NULL};

    if (cfg->insecure_http)
        return 0;
    if (parse_listen(cfg->listen, &sa, err) < 0)
        return -1;
    /* a specific address is named in the certificate; 0.0.0.0 is not */
    if (sa.sin_addr.s_addr != htonl(INADDR_ANY) &&
        inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip)))
        ips[0] = ip;
    if (cfg->tls_generate) {
        if (gethostname(host, sizeof(host)) < 0)
            host[0] = '\0';
        host[sizeof(host) - 1] = '\0';
        if (vr_tls_ensure(cfg->tls_dir, host, ips, err) < 0)
            return -1;
    }
    if (vr_tls_check_pair(cfg->tls_cert, cfg->tls_key, err) < 0)
        return -1;
    if (ips[0] && vr_tls_cert_names_ip(cfg->tls_cert, ip, NULL) == 0)
        VR_WARN(MOD, "certificate '%s' does not name the listen address %s: "
                "clients that connect to that address will refuse it%s",
                cfg->tls_cert, ip,
                cfg->tls_generate ? " (remove the certificate, not its key, "
                                    "and restart: a new one is made for the "
                                    "same key)"
                                  : "");
    return 0;
}

static void api_free(struct vr_api *api)
{
    if (api->tls_key) {
        memset(api->tls_key, 0, api->tls_key_size);
        free(api->tls_key);
    }
    free(api->tls_cert);
    free(api);
}

/* Read the certificate (with the generated CA after it, so that clients
 * see the whole chain) and the key for MHD; `pin` gets the certificate's
 * public-key pin. */
static int load_tls(struct vr_api *api, const struct vr_config *cfg,
                    char pin[VR_TLS_PIN_SIZE], struct vr_error *err)
{
    size_t n = 0;

    if (vr_read_file(cfg->tls_cert, MAX_PEM, &api->tls_cert, &n, err) < 0 ||
        vr_tls_pin_pem(api->tls_cert, n, pin, err) < 0 ||
        vr_read_file(cfg->tls_key, MAX_PEM, &api->tls_key, &api->tls_key_size,
                     err) < 0)
        return -1;
    if (cfg->tls_generate) {
        vr_autofree char *path = vr_asprintf("%s/" VR_TLS_CA_CERT,
                                             cfg->tls_dir);
        vr_autofree char *ca = NULL;
        char *chain;

        /* the CA may have been moved away; the chain is only a help */
        if (vr_read_file(path, MAX_PEM, &ca, NULL, NULL) == 0) {
            chain = vr_asprintf("%s%s%s", api->tls_cert,
                                n && api->tls_cert[n - 1] != '\n' ? "\n" : "",
                                ca);
            free(api->tls_cert);
            api->tls_cert = chain;
        }
    }
    return 0;
}

/* Room for every connection: the soft limit on descriptors is raised to
 * what http_max_connections needs (within the hard limit). */
static void raise_nofile(const struct vr_config *cfg)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)cfg->http_max_conns + 256;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want
                      ? want
                      : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
        VR_WARN(MOD, "open files are limited to %llu: fewer than "
                "http_max_connections (%d) may be served",
                (unsigned long long)rl.rlim_cur, cfg->http_max_conns);
}

static struct vr_http_rt *rt_new(struct vr_api *api)
{
    struct vr_http_rt *rt = vr_calloc(1, sizeof(*rt));

    rt->api = api;
    rt->cfg = api->ctl->cfg;
    atomic_init(&rt->stopping, false);
    atomic_init(&rt->quit, false);
    atomic_init(&rt->suspended, 0);
    pthread_mutex_init(&rt->conn_lock, NULL);
    pthread_mutex_init(&rt->q_lock, NULL);
    pthread_cond_init(&rt->q_cond, NULL);
    pthread_mutex_init(&rt->wait_lock, NULL);
    pthread_mutex_init(&rt->wake_lock, NULL);
    pthread_cond_init(&rt->wake_cond, NULL);
    vr_map_init_int(&rt->users);
    pthread_mutex_init(&rt->linger_lock, NULL);
    rt->linger_efd = -1;
    return rt;
}

static int rt_start(struct vr_http_rt *rt, struct vr_error *err)
{
    rt->nworkers = rt->cfg->http_workers;
    rt->workers = vr_calloc((size_t)rt->nworkers, sizeof(*rt->workers));
    for (int i = 0; i < rt->nworkers; i++)
        if (pthread_create(&rt->workers[i], NULL, worker_main, rt) != 0) {
            rt->nworkers = i;
            return vr_err(err, VR_E_INTERNAL, "unable to start workers");
        }
    if (pthread_create(&rt->waker, NULL, waker_main, rt) != 0)
        return vr_err(err, VR_E_INTERNAL, "unable to start a thread");
    rt->waker_started = true;
    rt->linger_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (rt->linger_efd < 0)
        return vr_err(err, VR_E_INTERNAL, "unable to make an eventfd: %s",
                      strerror(errno));
    if (pthread_create(&rt->lingerer, NULL, linger_main, rt) != 0)
        return vr_err(err, VR_E_INTERNAL, "unable to start a thread");
    rt->lingerer_started = true;
    vr_events_set_notify(rt->api->ctl->events, on_event, rt);
    return 0;
}

/* Stop: no suspended connection may be left when MHD stops, so every
 * parked request runs (its handler sees the daemon stopping and answers)
 * and every stream is woken (and ends), then the workers drain. */
static void rt_stop(struct vr_http_rt *rt)
{
    int64_t warn_at = vr_mono_ms() + 5000;

    atomic_store(&rt->stopping, true);
    /* waits until no notification is under way any more */
    vr_events_set_notify(rt->api->ctl->events, NULL, NULL);
    for (;;) {
        bool idle;
        wake_streams(rt, true, 0);
        pthread_mutex_lock(&rt->wait_lock);
        wake_parked(rt, true, 0);
        pthread_mutex_unlock(&rt->wait_lock);
        pthread_mutex_lock(&rt->q_lock);
        idle = !rt->q_head && !rt->busy;
        pthread_cond_broadcast(&rt->q_cond);
        pthread_mutex_unlock(&rt->q_lock);
        /* MHD must not stop while a connection is suspended (it aborts):
         * a handler still running (a long import) is waited for */
        if (idle && atomic_load(&rt->suspended) == 0)
            break;
        if (vr_mono_ms() > warn_at) {
            int queued = 0, busy;
            pthread_mutex_lock(&rt->q_lock);
            for (struct vr_req *q = rt->q_head; q; q = q->qnext)
                queued++;
            busy = rt->busy;
            pthread_mutex_unlock(&rt->q_lock);
            VR_WARN(MOD, "stopping: %d requests still suspended (%d being "
                    "handled, %d queued)", atomic_load(&rt->suspended), busy,
                    queued);
            warn_at = vr_mono_ms() + 5000;
        }
        vr_sleep_ms(20);
    }
}

static void rt_free(struct vr_http_rt *rt)
{
    size_t pos = 0;
    void *c;

    if (!rt)
        return;
    atomic_store(&rt->stopping, true);
    pthread_mutex_lock(&rt->q_lock);
    atomic_store(&rt->quit, true);
    pthread_cond_broadcast(&rt->q_cond);
    pthread_mutex_unlock(&rt->q_lock);
    for (int i = 0; i < rt->nworkers; i++)
        pthread_join(rt->workers[i], NULL);
    pthread_mutex_lock(&rt->wake_lock);
    pthread_cond_signal(&rt->wake_cond);
    pthread_mutex_unlock(&rt->wake_lock);
    if (rt->waker_started)
        pthread_join(rt->waker, NULL);
    if (rt->lingerer_started) {
        eventfd_write(rt->linger_efd, 1);
        pthread_join(rt->lingerer, NULL);
    }
    for (int i = 0; i < rt->nlingering; i++)
        close(rt->lingering[i].fd);
    if (rt->linger_efd >= 0)
        close(rt->linger_efd);
    pthread_mutex_destroy(&rt->linger_lock);
    free(rt->workers);
    while ((c = vr_map_next(&rt->users, &pos)))
        free(c);
    vr_map_release(&rt->users);
    pthread_mutex_destroy(&rt->conn_lock);
    pthread_mutex_destroy(&rt->q_lock);
    pthread_cond_destroy(&rt->q_cond);
    pthread_mutex_destroy(&rt->wait_lock);
    pthread_mutex_destroy(&rt->wake_lock);
    pthread_cond_destroy(&rt->wake_cond);
    free(rt);
}

struct vr_api *vr_api_start(struct vr_ctl *ctl, struct vr_error *err)
{
    const struct vr_config *cfg = ctl->cfg;
    struct vr_api *api = vr_calloc(1, sizeof(*api));
    struct MHD_OptionItem tls_opts[4];
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    char pin[VR_TLS_PIN_SIZE] = "";
    struct sockaddr_in sa;

    if (parse_listen(cfg->listen, &sa, err) < 0) {
        api_free(api);
        return NULL;
    }
    memset(tls_opts, 0, sizeof(tls_opts));
    tls_opts[0].option = MHD_OPTION_END;
    if (!cfg->insecure_http) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            vr_err(err, VR_E_INTERNAL, "this libmicrohttpd has no TLS "
                   "support");
            api_free(api);
            return NULL;
        }
        if (load_tls(api, cfg, pin, err) < 0) {
            api_free(api);
            return NULL;
        }
        flags |= MHD_USE_TLS;
        tls_opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                              api->tls_key};
        tls_opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                              api->tls_cert};
        tls_opts[2] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                              (void *)TLS_PRIORITIES};
        tls_opts[3] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    api->ctl = ctl;
    api->rt = rt_new(api);
    if (rt_start(api->rt, err) < 0) {
        rt_stop(api->rt);
        rt_free(api->rt);
        api->rt = NULL;
        api_free(api);
        return NULL;
    }
    raise_nofile(cfg);
    api->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, api,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->http_max_conns,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)cfg->http_max_conns_per_address,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->http_idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)511,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, api->rt,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
    if (!api->mhd) {
        vr_err(err, VR_E_INTERNAL, "unable to listen on %s (is another "
               "vireod running?)", cfg->listen);
        rt_stop(api->rt);
        rt_free(api->rt);
        api->rt = NULL;
        api_free(api);
        return NULL;
    }
    if (cfg->insecure_http)
        VR_WARN(MOD, "API listening on http://%s/api/v1 (insecure_http: "
                "plain HTTP, loopback only)", cfg->listen);
    else
        VR_INFO(MOD, "API listening on https://%s/api/v1 (public key pin %s, "
                "certificate %s%s%s%s)", cfg->listen, pin, cfg->tls_cert,
                cfg->tls_generate ? ", CA " : "",
                cfg->tls_generate ? cfg->tls_dir : "",
                cfg->tls_generate ? "/" VR_TLS_CA_CERT : "");
    return api;
}

void vr_api_stop(struct vr_api *api)
{
    if (!api)
        return;
    rt_stop(api->rt);
    MHD_stop_daemon(api->mhd);
    rt_free(api->rt);
    api_free(api);
}
