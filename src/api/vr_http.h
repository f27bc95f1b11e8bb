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
};

struct vr_route {
    const char *method;
    const char *pattern;      /* "/api/v1/vms/{}/{}" */
    vr_handler handler;
    unsigned flags;
    const char *const *query; /* allowed query parameters, NULL: none */
};

struct vr_api {
    struct vr_ctl *ctl;
    struct MHD_Daemon *mhd;
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
    struct vr_error err;              /* an error decided before the body */
    bool failed;
    struct vr_principal who;
    struct vr_upload *upload;         /* VR_R_UPLOAD routes */
    int status;                       /* status of the queued response */
};

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

/* Query parameters (already checked against the route's list). */
const char *vr_http_query(struct vr_req *r, const char *key);
int vr_http_query_int(struct vr_req *r, const char *key, int64_t min,
                      int64_t max, int64_t dflt, int64_t *out,
                      struct vr_error *err);

#endif
