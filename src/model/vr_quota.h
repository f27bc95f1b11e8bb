/*
 * vr_quota.h - quota limits and usage of a user or a group.
 *
 * Limits: VR_QUOTA_UNLIMITED (-1), VR_QUOTA_DEFAULT (-2: a user takes its
 * group's default user quota for that resource), or a number (memory and
 * sizes in MiB).  Usage counts what exists: VMs of every state, their
 * vCPUs, memory and disks; images and their stored size.
 */
#ifndef VR_QUOTA_H
#define VR_QUOTA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "vr_error.h"

#define VR_QUOTA_UNLIMITED (-1)
#define VR_QUOTA_DEFAULT (-2)

/* X-macro: field, JSON key, what a human calls it, unit. */
#define VR_QUOTA_FIELDS(X)                                                 \
    X(vms, "vms", "VMs", "")                                               \
    X(vcpus, "vcpus", "vCPUs", "")                                         \
    X(memory_mib, "memory_mib", "memory", " MiB")                          \
    X(disk_mib, "disk_mib", "system disk", " MiB")                         \
    X(images, "images", "images", "")                                      \
    X(image_mib, "image_mib", "image storage", " MiB")

struct vr_quota {
#define VR_X(f, key, human, unit) int64_t f;
    VR_QUOTA_FIELDS(VR_X)
#undef VR_X
};

/* Every limit set to `v` (VR_QUOTA_UNLIMITED, VR_QUOTA_DEFAULT, 0...). */
void vr_quota_fill(struct vr_quota *q, int64_t v);
/* The limits that apply: each DEFAULT in `own` replaced by `dflt`'s. */
void vr_quota_effective(const struct vr_quota *own, const struct vr_quota *dflt,
                        struct vr_quota *out);
/* Would `usage + add` stay within `limit`?  If not, err (VR_E_CONFLICT,
 * 409) names the first resource over quota and `whose` ("user 'bob'"). */
int vr_quota_check(const struct vr_quota *limit, const struct vr_quota *usage,
                   const struct vr_quota *add, const char *whose,
                   struct vr_error *err);
/* usage += sign * delta (never below 0). */
void vr_quota_add(struct vr_quota *usage, const struct vr_quota *delta,
                  int sign);
bool vr_quota_equal(const struct vr_quota *a, const struct vr_quota *b);

/* Limits as JSON: numbers, "unlimited" and "default" spelled out. */
json_t *vr_quota_limits_to_json(const struct vr_quota *q);
json_t *vr_quota_usage_to_json(const struct vr_quota *q);
void vr_quota_from_json(struct vr_quota *q, const json_t *j, int64_t dflt);
/* Parse a request body's limits (unknown keys refused; a value is a
 * non-negative integer, "unlimited", "default" (users only), or a size
 * string for memory/disk/image storage).  Absent keys are left as they
 * are. */
int vr_quota_parse_request(struct vr_quota *q, const json_t *j,
                           bool allow_default, struct vr_error *err);

#endif
