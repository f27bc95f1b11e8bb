/* vr_api_priv.h - API internals exported for the unit tests only. */
#ifndef VR_API_PRIV_H
#define VR_API_PRIV_H

#include <jansson.h>

#include "vr_ctl.h"

/* Turn a VM create body into a request and run the stateless checks.
 * Strings in *req point into `body` (or `idbuf` for a numeric image). */
int vr_api_parse_vm_create(const json_t *body, struct vr_vm_create_req *req,
                           char idbuf[24], struct vr_error *err);

#endif
