/*
 * vr_error.h - the one error type of Vireo.
 *
 * An error is a value: a code (which fixes the HTTP status and the
 * problem+json "type"/"title") and a human message.  It is set once, where
 * the failure happens, and passed up unchanged.  Functions that can fail
 * return 0 / -1 (or a pointer / NULL) and take a `struct vr_error *err`
 * that may be NULL when the caller does not care.
 */
#ifndef VR_ERROR_H
#define VR_ERROR_H

#include <stdarg.h>

/* X-macro: code, HTTP status, slug (problem "type" suffix), title. */
#define VR_ERROR_CODES(X)                                                  \
    X(VR_E_NONE, 200, "ok", "OK")                                          \
    X(VR_E_INVALID, 400, "invalid-request", "Invalid request")             \
    X(VR_E_UNAUTHENTICATED, 401, "unauthenticated", "Authentication required") \
    X(VR_E_FORBIDDEN, 403, "forbidden", "Forbidden")                       \
    X(VR_E_NOT_FOUND, 404, "not-found", "Not found")                       \
    X(VR_E_METHOD, 405, "method-not-allowed", "Method not allowed")        \
    X(VR_E_CONFLICT, 409, "conflict", "Conflict")                          \
    X(VR_E_STATE, 409, "invalid-state", "Operation not allowed in this state") \
    X(VR_E_TOO_LARGE, 413, "too-large", "Request body too large")          \
    X(VR_E_MEDIA, 415, "unsupported-media-type", "Unsupported media type") \
    X(VR_E_UNPROCESSABLE, 422, "unprocessable", "Unprocessable content")   \
    X(VR_E_THROTTLED, 429, "throttled", "Too many requests")               \
    X(VR_E_INTERNAL, 500, "internal", "Internal error")                    \
    X(VR_E_UNSUPPORTED, 501, "unsupported", "Not supported")               \
    X(VR_E_HYPERVISOR, 502, "hypervisor", "Hypervisor error")              \
    X(VR_E_UNAVAILABLE, 503, "unavailable", "Service unavailable")         \
    X(VR_E_TIMEOUT, 504, "timeout", "Operation timed out")                 \
    X(VR_E_STORAGE_FULL, 507, "insufficient-storage", "Insufficient storage")

enum vr_error_code {
#define VR_X_ENUM(c, s, slug, title) c,
    VR_ERROR_CODES(VR_X_ENUM)
#undef VR_X_ENUM
    VR_E__LAST
};

#define VR_ERROR_MSG_SIZE 512

/* An error value; `code == VR_E_NONE` means no error. */
struct vr_error {
    enum vr_error_code code;
    char msg[VR_ERROR_MSG_SIZE];
};

#define VR_ERROR_INIT {VR_E_NONE, ""}

/* Record an error.  NULL-safe: a NULL `err` discards it.  Returns -1 so a
 * caller can write `return vr_err(err, VR_E_INVALID, "...")`. */
int vr_err(struct vr_error *err, enum vr_error_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int vr_verr(struct vr_error *err, enum vr_error_code code, const char *fmt,
            va_list ap);

/* Prefix an existing message with context: "ctx: old message". */
void vr_err_prefix(struct vr_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void vr_err_clear(struct vr_error *err);

int vr_err_http_status(enum vr_error_code code);
const char *vr_err_slug(enum vr_error_code code);
const char *vr_err_title(enum vr_error_code code);

#endif
