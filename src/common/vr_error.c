#include "vr_error.h"

#include <stdio.h>
#include <string.h>

static const struct {
    int status;
    const char *slug;
    const char *title;
} vr_error_table[] = {
#define VR_X_ROW(c, s, slug, title) [c] = {s, slug, title},
    VR_ERROR_CODES(VR_X_ROW)
#undef VR_X_ROW
};

_Static_assert(sizeof(vr_error_table) / sizeof(vr_error_table[0]) == VR_E__LAST,
               "error table out of sync with enum");

int vr_verr(struct vr_error *err, enum vr_error_code code, const char *fmt,
            va_list ap)
{
    if (!err)
        return -1;
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return -1;
}

int vr_err(struct vr_error *err, enum vr_error_code code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vr_verr(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

void vr_err_prefix(struct vr_error *err, const char *fmt, ...)
{
    char joined[2 * VR_ERROR_MSG_SIZE + 4];
    size_t n;
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(joined, VR_ERROR_MSG_SIZE, fmt, ap);
    va_end(ap);
    n = strlen(joined);
    memcpy(joined + n, ": ", 2);
    memcpy(joined + n + 2, err->msg, sizeof(err->msg));
    joined[n + 2 + sizeof(err->msg) - 1] = '\0';
    memcpy(err->msg, joined, sizeof(err->msg) - 1);
    err->msg[sizeof(err->msg) - 1] = '\0';
}

void vr_err_clear(struct vr_error *err)
{
    if (!err)
        return;
    err->code = VR_E_NONE;
    err->msg[0] = '\0';
}

int vr_err_http_status(enum vr_error_code code)
{
    if ((unsigned)code >= VR_E__LAST)
        return 500;
    return vr_error_table[code].status;
}

const char *vr_err_slug(enum vr_error_code code)
{
    if ((unsigned)code >= VR_E__LAST)
        return "internal";
    return vr_error_table[code].slug;
}

const char *vr_err_title(enum vr_error_code code)
{
    if ((unsigned)code >= VR_E__LAST)
        return "Internal error";
    return vr_error_table[code].title;
}
