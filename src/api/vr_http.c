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
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "vr_http.h"
#include "vr_log.h"

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
    ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
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
    if (status >= 500)
        VR_WARN(MOD, "%s %s: %d %s", r->method, r->path ? r->path : "?",
                status, err->msg);
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
    for (size_t i = 0; qc->allowed && qc->allowed[i]; i++)
        if (strcmp(key, qc->allowed[i]) == 0)
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
    return vr_auth_token(r->ctl, h, &r->who, err);
}

static int first_call(struct vr_req *r, struct vr_error *err)
{
    const char *cl, *ct;
    struct qcheck qc = {NULL, err, false};
    uint64_t len = 0;

    if (vr_http_route(r, err) < 0)
        return -1;
    if (!(r->route->flags & VR_R_PUBLIC) && authenticate(r, err) < 0)
        return -1;
    qc.allowed = r->route->query;
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_query_arg,
                              &qc);
    if (qc.bad)
        return -1;
    cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl)
        len = strtoull(cl, NULL, 10);
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
    if (len > 0 && !(r->route->flags & VR_R_BODY))
        return vr_err(err, VR_E_INVALID, "this request takes no body");
    if (len > 0 && (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
                    (ct[16] != '\0' && ct[16] != ';')))
        return vr_err(err, VR_E_MEDIA,
                      "request body must be application/json");
    return 0;
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
        r = vr_calloc(1, sizeof(*r));
        *con_cls = r;
        r->api = api;
        r->ctl = api->ctl;
        r->conn = conn;
        r->path = vr_strdup(url);
        vr_strlcpy(r->method, method, sizeof(r->method));
        vr_buf_init(&r->body);
        if (first_call(r, &r->err) < 0) {
            r->failed = true;
            return vr_http_problem(r, &r->err);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->failed)
            return MHD_YES;
        r->body_started = true;
        if (r->route->flags & VR_R_UPLOAD) {
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
    if (r->status)
        return MHD_YES; /* already answered */
    if (r->failed)
        return vr_http_problem(r, &r->err);
    return r->route->handler(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct vr_req *r = *con_cls;

    (void)cls;
    (void)conn;
    if (!r)
        return;
    if (r->upload)
        vr_upload_abort(r->upload, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK
                                       ? "upload not completed"
                                       : "the connection closed before the "
                                         "upload completed");
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
    /* plain HTTP is for loopback only (TLS arrives with issue #3) */
    if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127)
        return vr_err(err, VR_E_INVALID, "plain HTTP may only listen on "
                      "loopback (127.0.0.0/8), not '%s'", listen);
    return 0;
}

int vr_api_check_listen(const char *listen, struct vr_error *err)
{
    struct sockaddr_in sa;
    return parse_listen(listen, &sa, err);
}

struct vr_api *vr_api_start(struct vr_ctl *ctl, struct vr_error *err)
{
    struct vr_api *api = vr_calloc(1, sizeof(*api));
    struct sockaddr_in sa;

    if (parse_listen(ctl->cfg->listen, &sa, err) < 0) {
        free(api);
        return NULL;
    }
    api->ctl = ctl;
    api->mhd = MHD_start_daemon(
        MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, api,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)ctl->cfg->http_max_conns,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)511,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_END);
    if (!api->mhd) {
        vr_err(err, VR_E_INTERNAL, "unable to listen on %s (is another "
               "vireod running?)", ctl->cfg->listen);
        free(api);
        return NULL;
    }
    VR_INFO(MOD, "API listening on http://%s/api/v1", ctl->cfg->listen);
    return api;
}

void vr_api_stop(struct vr_api *api)
{
    if (!api)
        return;
    MHD_stop_daemon(api->mhd);
    free(api);
}
