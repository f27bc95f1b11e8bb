/* vr_api_priv.h - what the handler files share (and the unit tests
 * use): reply helpers, body parsing, the request parsers. */
#ifndef VR_API_PRIV_H
#define VR_API_PRIV_H

#include <jansson.h>

#include "vr_ctl.h"
#include "vr_http.h"

/* ---- replies */
enum MHD_Result vr_api_fail(struct vr_req *r, struct vr_error *err);
enum MHD_Result vr_api_fail_msg(struct vr_req *r, enum vr_error_code code,
                                const char *msg);
/* One object as JSON, from its pool. */
enum MHD_Result vr_api_send_object(struct vr_req *r, struct vr_pool *pool,
                                   int64_t id, int status);
/* A page of what the caller may see (and `keep`, if given, keeps). */
typedef bool (*vr_api_keep_fn)(const void *obj, void *ctx);
enum MHD_Result vr_api_send_list(struct vr_req *r, enum vr_route_obj obj,
                                 vr_api_keep_fn keep, void *ctx);
/* keep: the object is named `ctx` (a string; NULL keeps all). */
bool vr_api_keep_named(const void *obj, void *ctx);

/* ---- request bodies */
/* Parse the JSON body (absent allowed when !required) and refuse unknown
 * fields (allowed NULL: any).  *out is NULL for an absent body. */
int vr_api_body(struct vr_req *r, bool required, const char *const allowed[],
                json_t **out, struct vr_error *err);
/* A size given as an integer (MiB) or a string with a unit ("2G"):
 * 1 and *out set, 0 absent (and not required), -1 err. */
int vr_api_size_mib(const json_t *obj, const char *key, bool required,
                    uint64_t *out, struct vr_error *err);

/* Turn a VM create body into a request and run the stateless checks.
 * Strings in *req point into `body` (or `idbuf` for a numeric image). */
int vr_api_parse_vm_create(const json_t *body, struct vr_vm_create_req *req,
                           char idbuf[24], struct vr_error *err);
/* The placement fields of a VM create body (vr_api_sched.c). */
int vr_api_parse_placement(const json_t *body, struct vr_vm_create_req *req,
                           struct vr_error *err);

/* ---- handlers in vr_api_sched.c */
enum MHD_Result vr_api_host_update(struct vr_req *r);
enum MHD_Result vr_api_host_create(struct vr_req *r);
enum MHD_Result vr_api_host_delete(struct vr_req *r);
enum MHD_Result vr_api_host_get(struct vr_req *r);
enum MHD_Result vr_api_vmgroup_list(struct vr_req *r);
enum MHD_Result vr_api_vmgroup_create(struct vr_req *r);
enum MHD_Result vr_api_vmgroup_get(struct vr_req *r);
enum MHD_Result vr_api_vmgroup_delete(struct vr_req *r);
enum MHD_Result vr_api_cluster_list(struct vr_req *r);
enum MHD_Result vr_api_cluster_create(struct vr_req *r);
enum MHD_Result vr_api_cluster_get(struct vr_req *r);
enum MHD_Result vr_api_cluster_update(struct vr_req *r);
enum MHD_Result vr_api_cluster_delete(struct vr_req *r);

#endif
