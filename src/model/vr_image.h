/* vr_image.h - a disk image in the image datastore. */
#ifndef VR_IMAGE_H
#define VR_IMAGE_H

#include "vr_obj.h"

/* PENDING: created, waiting for its data (upload); READY: validated and
 * usable.  A failed upload leaves it PENDING with `error` set. */
#define VR_IMAGE_STATES(X)                                                 \
    X(VR_IMAGE_PENDING, "PENDING")                                         \
    X(VR_IMAGE_READY, "READY")

VR_ENUM_TYPE(vr_image_state, VR_IMAGE_STATES, VR_IMAGE__LAST);

/* Largest virtual size accepted unless configured otherwise: 2 TiB. */
#define VR_IMAGE_DEFAULT_MAX_VSIZE (2ULL << 40)

struct vr_image {
    struct vr_obj hdr;
    enum vr_image_state state;
    char format[8];            /* "qcow2" | "raw" */
    uint64_t size;             /* bytes on disk */
    uint64_t virtual_size;     /* bytes */
    char sha256[65];           /* of the stored file, once READY */
    char expected_sha256[65];  /* given by the client, "" if none */
    char source[16];           /* "upload" | "import" */
    char path[256];            /* in the image datastore */
    char error[VR_ERROR_MSG_SIZE];
    uint64_t reserved_mib;     /* image storage held for an upload in
                                * progress (its declared size, or what a
                                * chunked one has reached, rounded up) */
};

extern const struct vr_kind vr_image_kind;

VR_ENUM_DECLARE(vr_image_state, vr_image_state);
/* "qcow2" or "raw"; -1 with err otherwise. */
int vr_image_format_check(const char *fmt, struct vr_error *err);

#endif
