/*
 * vr_http.h - the request object shared by the HTTP glue (vr_http.c) and
 * the handlers (vr_api.c), and the route table type.
 */
#ifndef VR_HTTP_H
#define VR_HTTP_H

#include <microhttpd.h>

#include "vr_api.h"
#include "vr_json.h"

#define VR_MAX_PARAMS 3

struct vr_req;
typedef enum MHD_Result (*vr_handler)(struct vr_req *r);

enum vr_route_flags {
    VR_R_PUBLIC = 1 << 0,     /* no token needed */
    VR_R_UPLOAD = 1 << 1,     /* body streamed to an image upload */
    VR_R_BODY = 1 << 2,       /* takes a JSON body */
    VR_R_SUPER = 1 << 3,      /* a superuser session only */
    VR_R_CREATE = 1 << 4,     /* needs the CREATE right on `obj`'s kind */
    VR_R_WORKER = 1 << 5,     /* a GET that may wait or take long: on a
                               * worker (other GETs run in the socket
                               * thread: memory reads only) */
};

/* The kind of object a route's first path parameter names. */
enum vr_route_obj {
    VR_O_NONE,
    VR_O_VM,
    VR_O_IMAGE,
    VR_O_HOST,
    VR_O_JOB,                 /* authorized as its VM */
    VR_O_USER,                /* "me" is the caller */
    VR_O_GROUP,
    VR_O_ACL,
    VR_O_TOKEN,               /* "current" is the caller's */
    VR_O_VMGROUP,
    VR_O_CLUSTER,
};

/* A route.  Authorization is declared here and decided before the handler
 * runs: with `obj` and `need` (VR_RIGHT_USE/MANAGE/ADMIN), the object
 * named by the first path parameter is resolved; if the caller may not
 * USE it, it does not exist for the caller (404); if it lacks `need`, 403.
 * The handler finds the object's id in r->obj_id. */
struct vr_route {
    const char *method;
    const char *pattern;      /* "/api/v1/vms/{}/{}" */
    vr_handler handler;
    unsigned flags;
    const char *const *query; /* allowed query parameters, NULL: none */
    enum vr_route_obj obj;
    unsigned need;
};

struct vr_http_rt;   /* connections, workers, waiters (vr_http.c) */
struct vr_conn_info; /* one per TCP connection (vr_http.c) */

struct vr_api {
    struct vr_ctl *ctl;
    struct MHD_Daemon *mhd;
    char *tls_cert;      /* PEM chain given to MHD, NULL for plain HTTP */
    char *tls_key;       /* PEM key given to MHD (wiped when freed) */
    size_t tls_key_size;
    struct vr_http_rt *rt;
};

struct vr_req {
    struct vr_api *api;
    struct vr_ctl *ctl;
    struct MHD_Connection *conn;
    const struct vr_route *route;
    char method[8];
    char allow[48];                   /* methods of a matched path (405) */
    char *path;                       /* owned copy of the URL path */
    char *params[VR_MAX_PARAMS];      /* point into `segs` */
    char *segs;                       /* owned, split copy of the path */
    struct vr_buf body;
    bool body_started;
    bool body_pending;                /* a body was announced and is not
                                       * all in yet */
    struct vr_error err;              /* an error decided before the body */
    bool failed;
    struct vr_principal who;
    bool authed;                      /* `who` is set */
    int64_t obj_id;                   /* the object in the path, resolved */
    struct vr_upload *upload;         /* VR_R_UPLOAD routes */
    int status;                       /* status of the queued response */
    /* the connection model (vr_http.c): handlers run on worker threads
     * while the connection is suspended; what they queue waits here
     * until MHD takes it back */
    struct vr_conn_info *ci;
    struct MHD_Response *pending_resp;
    int pending_status;
    bool pending;                     /* a response waits for MHD */
    bool close_conn;                  /* the handler said MHD_NO */
    bool dispatched;                  /* handed to a worker */
    bool owed;                        /* counted in the suspended */
    bool in_worker;
    bool parked;                      /* waits (vr_http_park) */
    bool counted_wait;                /* holds one of its user's waits */
    int64_t wake_at;                  /* parked: run again at (mono ms) */
    struct vr_req *qnext;             /* worker queue / waiters list */
    struct vr_req *qprev;
    /* for the audit log: what the request acted on */
    char audit_user[VR_NAME_SIZE];    /* a login's user name */
    enum vr_audit_kind audit_kind;
    int64_t audit_id;
    char audit_name[VR_NAME_SIZE];
    char audit_detail[160];           /* the error, when it failed */
    int retry_after_s;                /* > 0: a Retry-After header on the
                                       * problem (429) */
};

/* Resolve and authorize the route's object (see struct vr_route). */
int vr_http_authorize(struct vr_req *r, struct vr_error *err);
/* Resolve a reference to an object of kind `obj` that the caller may
 * USE: returns its id, or 0 with err (404; 409 if a name is ambiguous).
 * Then, if `need` is set and lacking, 403. */
int64_t vr_http_resolve(struct vr_req *r, enum vr_route_obj obj,
                        const char *ref, unsigned need, struct vr_error *err);
/* The authorization kind and pool of an object kind. */
enum vr_res vr_http_res(enum vr_route_obj obj);
struct vr_pool *vr_http_pool(struct vr_ctl *ctl, enum vr_route_obj obj);
/* May the caller USE this object (list filters, events)? */
bool vr_http_visible(struct vr_req *r, enum vr_route_obj obj,
                     const void *o);

/* The client's address, "" if unknown. */
void vr_http_source(struct vr_req *r, char *out, size_t size);

/* The routes (vr_api.c). */
extern const struct vr_route vr_routes[];
extern const size_t vr_nroutes;

/* Responses. `json` is copied. */
enum MHD_Result vr_http_json(struct vr_req *r, int status, const char *json,
                             size_t len);
enum MHD_Result vr_http_jsonj(struct vr_req *r, int status, json_t *j);
enum MHD_Result vr_http_problem(struct vr_req *r, const struct vr_error *err);
enum MHD_Result vr_http_text(struct vr_req *r, int status,
                             const char *content_type, const char *data,
                             size_t len);
enum MHD_Result vr_http_empty(struct vr_req *r, int status);
/* Queue a prepared response (takes ownership of `resp`). */
enum MHD_Result vr_http_queue(struct vr_req *r, int status,
                              struct MHD_Response *resp);

/* Park the request being handled (on a worker): it stays suspended and
 * its handler runs again when an event is published, at `wake_at` (a
 * vr_mono_ms() time), or when the daemon stops; the handler then answers
 * or parks again.  At most http_max_waits_per_user parked requests per
 * user.  0 parked (return MHD_YES without answering); -1 with err: over
 * the cap (VR_E_THROTTLED) or stopping (VR_E_UNAVAILABLE): answer now. */
int vr_http_park(struct vr_req *r, int64_t wake_at, struct vr_error *err);

/* A response streamed without end (Server-Sent Events).  `fill` appends
 * what is ready to `out` without blocking and returns 1, 0 if nothing is
 * (the connection is then suspended, costing no thread, until an event
 * is published or `keepalive_ms` passes: fill is then called with `idle`
 * set and may add a comment), or -1 to end the stream.  `free` releases
 * ctx when the stream ends.  At most http_max_streams_per_user streams
 * per user (429). */
struct vr_http_stream_ops {
    int (*fill)(void *ctx, bool idle, struct vr_buf *out);
    void (*free)(void *ctx);
    int keepalive_ms;
};
enum MHD_Result vr_http_stream(struct vr_req *r, const char *content_type,
                               const struct vr_http_stream_ops *ops,
                               void *ctx);

/* May the caller's event stream replay `events` past events?  Each user
 * has a budget (5,000 events, refilled at 1,000 a second) shared by its
 * streams: reconnecting in a loop with an old Last-Event-ID gets resets,
 * not replays.  Takes the events from the budget when it says yes. */
bool vr_http_replay_allowed(struct vr_req *r, uint64_t events);

/* Open the upload to the image named in the path, before any body byte
 * is read (vr_api.c). */
int vr_api_upload_begin(struct vr_req *r, uint64_t declared,
                        struct vr_error *err);
/* Feed upload bytes to it. */
int vr_api_upload_chunk(struct vr_req *r, const char *data, size_t len,
                        struct vr_error *err);

/* Match r->method and r->path against the route table: sets r->route and
 * r->params (pointing into r->segs, which it allocates), or fails with
 * 404 or 405 (r->allow then lists the path's methods). */
int vr_http_route(struct vr_req *r, struct vr_error *err);

/* An integer query value, strictly: digits only, within [min, max]. */
int vr_http_parse_int(const char *key, const char *v, int64_t min,
                      int64_t max, int64_t *out, struct vr_error *err);

/* Whether query parameter `key` is in the NULL-terminated `allowed` list
 * of a route (NULL: the route takes none). */
bool vr_http_query_allowed(const char *const allowed[], const char *key);

/* Query parameters (already checked against the route's list). */
const char *vr_http_query(struct vr_req *r, const char *key);
int vr_http_query_int(struct vr_req *r, const char *key, int64_t min,
                      int64_t max, int64_t dflt, int64_t *out,
                      struct vr_error *err);

#endif
