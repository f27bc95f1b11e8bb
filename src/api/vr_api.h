/*
 * vr_api.h - the REST API under /api/v1 (libmicrohttpd).
 *
 * Sockets are served by a few epoll threads; handlers run on a pool of
 * workers while their connection is suspended; event streams and job
 * long-polls wait as suspended connections woken by the event bus (see
 * vr_http.c).  All state lives in the controller, so handlers are short
 * and never touch a hypervisor themselves.
 */
#ifndef VR_API_H
#define VR_API_H

#include "vr_ctl.h"

struct vr_api;

/* Check the API's settings before anything starts: `listen` is
 * "IPV4:PORT" (any address with TLS, loopback only with insecure_http),
 * and tls_cert and tls_key are set together. */
int vr_api_check_listen(const struct vr_config *cfg, struct vr_error *err);

/* Make sure the TLS certificate and key are there and belong together:
 * when neither tls_cert nor tls_key was set, the CA and the server
 * certificate in tls_dir are made on first start (vr_tls_ensure).  Nothing
 * to do with insecure_http.  Call it once the state directory is locked. */
int vr_api_tls_prepare(const struct vr_config *cfg, struct vr_error *err);

/* Start serving on cfg->listen: HTTPS with tls_cert and tls_key, or plain
 * HTTP with insecure_http.  NULL with err on failure. */
struct vr_api *vr_api_start(struct vr_ctl *ctl, struct vr_error *err);
/* Stop accepting, wait for connections to end, free.  NULL-safe.  Call
 * vr_events_shutdown first so that streams end. */
void vr_api_stop(struct vr_api *api);

/* The embedded OpenAPI document (generated from docs/openapi.json). */
extern const char vr_openapi_json[];
extern const unsigned long vr_openapi_json_len;

#endif
