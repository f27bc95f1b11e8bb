#include "vr_quota.h"

#include <string.h>

#include "vr_util.h"

void vr_quota_fill(struct vr_quota *q, int64_t v)
{
#define VR_X(f, key, human, unit) q->f = v;
    VR_QUOTA_FIELDS(VR_X)
#undef VR_X
}

void vr_quota_effective(const struct vr_quota *own, const struct vr_quota *dflt,
                        struct vr_quota *out)
{
#define VR_X(f, key, human, unit)                                          \
    out->f = own->f == VR_QUOTA_DEFAULT ? dflt->f : own->f;                \
    if (out->f == VR_QUOTA_DEFAULT)                                        \
        out->f = VR_QUOTA_UNLIMITED;
    VR_QUOTA_FIELDS(VR_X)
#undef VR_X
}

int vr_quota_check(const struct vr_quota *limit, const struct vr_quota *usage,
                   const struct vr_quota *add, const char *whose,
                   struct vr_error *err)
{
#define VR_X(f, key, human, unit)                                          \
    if (add->f > 0 && limit->f >= 0 && usage->f + add->f > limit->f)       \
        return vr_err(err, VR_E_CONFLICT,                                  \
                      "quota exceeded: %s of %s would be %lld%s, the "     \
                      "limit is %lld%s", human, whose,                     \
                      (long long)(usage->f + add->f), unit,                \
                      (long long)limit->f, unit);
    VR_QUOTA_FIELDS(VR_X)
#undef VR_X
    return 0;
}

void vr_quota_add(struct vr_quota *usage, const struct vr_quota *delta,
                  int sign)
{
#define VR_X(f, key, human, unit)                                          \
    usage->f += sign * delta->f;                                           \
    if (usage->f < 0)                                                      \
        usage->f = 0;
    VR_QUOTA_FIELDS(VR_X)
#undef VR_X
}

bool vr_quota_equal(const struct vr_quota *a, const struct vr_quota *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

static json_t *limit_json(int64_t v)
{
    if (v == VR_QUOTA_UNLIMITED)
        return json_string("unlimited");
    if (v == VR_QUOTA_DEFAULT)
        return json_string("default");
    return json_integer(v);
}

json_t *vr_quota_limits_to_json(const struct vr_quota *q)
{
    json_t *j = json_object();
#define VR_X(f, key, human, unit) json_object_set_new(j, key, limit_json(q->f));
    VR_QUOTA_FIELDS(VR_X)
#undef VR_X
    return j;
}

json_t *vr_quota_usage_to_json(const struct vr_quota *q)
{
    json_t *j = json_object();
#define VR_X(f, key, human, unit) json_object_set_new(j, key, json_integer(q->f));
    VR_QUOTA_FIELDS(VR_X)
#undef VR_X
    return j;
}

static int64_t limit_from(const json_t *v, int64_t dflt)
{
    const char *s = json_string_value(v);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (s && strcmp(s, "unlimited") == 0)
        return VR_QUOTA_UNLIMITED;
    if (s && strcmp(s, "default") == 0)
        return VR_QUOTA_DEFAULT;
    return dflt;
}

void vr_quota_from_json(struct vr_quota *q, const json_t *j, int64_t dflt)
{
#define VR_X(f, key, human, unit) q->f = limit_from(json_object_get(j, key), dflt);
    VR_QUOTA_FIELDS(VR_X)
#undef VR_X
}

static int parse_limit(const json_t *v, const char *key, bool is_size,
                       bool allow_default, int64_t *out, struct vr_error *err)
{
    const char *s = json_string_value(v);
    uint64_t bytes;

    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 0 || n > (json_int_t)1 << 50)
            return vr_err(err, VR_E_INVALID, "quota '%s' must be a "
                          "non-negative integer, \"unlimited\" or "
                          "\"default\"", key);
        *out = n;
        return 0;
    }
    if (s && strcmp(s, "unlimited") == 0) {
        *out = VR_QUOTA_UNLIMITED;
        return 0;
    }
    if (s && strcmp(s, "default") == 0) {
        if (!allow_default)
            return vr_err(err, VR_E_INVALID, "quota '%s': \"default\" is "
                          "for users only", key);
        *out = VR_QUOTA_DEFAULT;
        return 0;
    }
    if (s && is_size) {
        if (vr_parse_size(s, 1ULL << 20, &bytes, err) < 0) {
            vr_err_prefix(err, "quota '%s'", key);
            return -1;
        }
        if (bytes % (1ULL << 20))
            return vr_err(err, VR_E_INVALID, "quota '%s' must be a whole "
                          "number of MiB", key);
        *out = (int64_t)(bytes >> 20);
        return 0;
    }
    return vr_err(err, VR_E_INVALID, "quota '%s' must be a non-negative "
                  "integer%s, \"unlimited\" or \"default\"", key,
                  is_size ? " (MiB) or a size like \"4G\"" : "");
}

int vr_quota_parse_request(struct vr_quota *q, const json_t *j,
                           bool allow_default, struct vr_error *err)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)j, key, v) {
        int64_t *slot = NULL;
        bool is_size = false;
#define VR_X(f, k, human, unit)                                            \
        if (strcmp(key, k) == 0) {                                         \
            slot = &q->f;                                                  \
            is_size = unit[0] != '\0';                                     \
        }
        VR_QUOTA_FIELDS(VR_X)
#undef VR_X
        if (!slot)
            return vr_err(err, VR_E_INVALID, "unknown quota '%.32s'; use "
                          "vms, vcpus, memory_mib, disk_mib, images, "
                          "image_mib", key);
        if (parse_limit(v, key, is_size, allow_default, slot, err) < 0)
            return -1;
    }
    return 0;
}
