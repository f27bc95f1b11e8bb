/*
 * vr_qimg.h - qemu-img, the tool for every disk image operation.
 *
 * Images are always opened with an explicit format; the format is never
 * probed from content, except to *refuse* a raw image whose content looks
 * like another format (a classic escape).
 */
#ifndef VR_QIMG_H
#define VR_QIMG_H

#include <stdbool.h>
#include <stdint.h>

#include "vr_error.h"

struct vr_qimg_info {
    char format[16];
    uint64_t virtual_size;     /* bytes */
    uint64_t actual_size;      /* bytes */
    bool has_backing;
    bool has_data_file;
    bool corrupt;
    bool encrypted;            /* qcow2 AES/LUKS, or a LUKS image */
    uint64_t cluster_size;     /* qcow2; 0 otherwise */
};

/* `qemu-img info -f FORMAT --output=json`.  VR_E_UNPROCESSABLE when the
 * file is not an image of that format. */
int vr_qimg_info(const char *path, const char *format,
                 struct vr_qimg_info *out, struct vr_error *err);

/* Validate an image for the datastore: readable as `format`, no backing
 * file, no external data file, not marked corrupt, not encrypted, virtual
 * size at most `max_vsize`; a qcow2 image must pass `qemu-img check`
 * (leaked clusters are harmless and allowed) and every cluster it maps
 * must lie inside the file (a truncated image is refused even where check
 * misses it); a raw image must be a whole number of 512-byte sectors and
 * must not contain another format's header.  VR_E_UNPROCESSABLE if not. */
int vr_qimg_validate(const char *path, const char *format, uint64_t max_vsize,
                     struct vr_qimg_info *out, struct vr_error *err);

/* New qcow2 `path` on top of `base` (format base_fmt); size_bytes 0 keeps
 * the base's virtual size. */
int vr_qimg_create_overlay(const char *path, const char *base,
                           const char *base_fmt, uint64_t size_bytes,
                           struct vr_error *err);
/* New empty thin qcow2. */
int vr_qimg_create(const char *path, uint64_t size_bytes, struct vr_error *err);
/* Full copy of `src` to a standalone qcow2 `dst`. */
int vr_qimg_convert(const char *src, const char *src_fmt, const char *dst,
                    struct vr_error *err);

#endif
