/*
 * vr_enum.h - enums whose values have names, from one list per enum:
 *
 *     #define VR_COLORS(X) X(VR_RED, "red") X(VR_GREEN, "green")
 *     VR_ENUM_TYPE(vr_color, VR_COLORS, VR_COLOR__LAST);   (a header)
 *     VR_ENUM_DECLARE(vr_color, vr_color);                  (a header)
 *     VR_ENUM_DEFINE(vr_color, vr_color, VR_COLORS, VR_COLOR__LAST, 0,
 *                    "unknown")                             (one .c)
 *
 * give `enum vr_color { VR_RED, VR_GREEN, VR_COLOR__LAST }` and
 *
 *     const char *vr_color_name(enum vr_color v);   `unknown` if out of range
 *     int vr_color_parse(const char *s, enum vr_color *out);   0 or -1
 *
 * where parse accepts the names of values `first` and up (1 leaves out a
 * "none" that no one may ask for), exactly as written.  A value without a
 * name, or a name without a value, does not compile.
 */
#ifndef VR_ENUM_H
#define VR_ENUM_H

#include <stddef.h>
#include <string.h>

#define VR_ENUM_VALUE_(e, s) e,
#define VR_ENUM_NAME_(e, s) [e] = s,

#define VR_ENUM_TYPE(type, LIST, LAST)                                     \
    enum type { LIST(VR_ENUM_VALUE_) LAST }

#define VR_ENUM_DECLARE(fn, type)                                          \
    const char *fn##_name(enum type v);                                    \
    int fn##_parse(const char *s, enum type *out)

#define VR_ENUM_DEFINE(fn, type, LIST, LAST, first, unknown)               \
    static const char *const fn##_names_[] = {LIST(VR_ENUM_NAME_)};        \
    _Static_assert(sizeof(fn##_names_) / sizeof(fn##_names_[0]) ==         \
                       (size_t)(LAST), #fn ": one name per value");        \
    const char *fn##_name(enum type v)                                     \
    {                                                                      \
        return vr_enum_name_(fn##_names_, (int)(LAST), (int)v, unknown);   \
    }                                                                      \
    int fn##_parse(const char *s, enum type *out)                          \
    {                                                                      \
        int i_ = vr_enum_parse_(fn##_names_, (first), (int)(LAST), s);     \
        if (i_ < 0)                                                        \
            return -1;                                                     \
        *out = (enum type)i_;                                              \
        return 0;                                                          \
    }

static inline const char *vr_enum_name_(const char *const *names, int n,
                                        int v, const char *unknown)
{
    return v >= 0 && v < n && names[v] ? names[v] : unknown;
}

static inline int vr_enum_parse_(const char *const *names, int first, int n,
                                 const char *s)
{
    for (int i = first; s && i < n; i++)
        if (names[i] && strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

#endif
