/*
 * vr_log.h - leveled logging with a module name.
 *
 * The sink and the level are process-wide: they are set once by main()
 * before any thread starts (vr_log_init) and only read afterwards; the level
 * is an atomic so a later change (SIGHUP, tests) is still race-free.  A
 * message below the level is not formatted at all.
 */
#ifndef VR_LOG_H
#define VR_LOG_H

#include <stdio.h>

#include "vr_enum.h"

#define VR_LOG_LEVELS(X)                                                   \
    X(VR_LOG_DEBUG, "debug")                                               \
    X(VR_LOG_INFO, "info")                                                 \
    X(VR_LOG_WARN, "warn")                                                 \
    X(VR_LOG_ERROR, "error")

VR_ENUM_TYPE(vr_log_level, VR_LOG_LEVELS, VR_LOG__LAST);
VR_ENUM_DECLARE(vr_log_level, vr_log_level);

/* `out` is borrowed and must outlive all logging; NULL means stderr. */
void vr_log_init(FILE *out, enum vr_log_level level);
void vr_log_set_level(enum vr_log_level level);
int vr_log_enabled(enum vr_log_level level);

void vr_log_msg(enum vr_log_level level, const char *module, const char *fmt,
                ...) __attribute__((format(printf, 3, 4)));

#define VR_LOG(level, module, ...)                                         \
    do {                                                                   \
        if (vr_log_enabled(level))                                         \
            vr_log_msg(level, module, __VA_ARGS__);                        \
    } while (0)

#define VR_DEBUG(mod, ...) VR_LOG(VR_LOG_DEBUG, mod, __VA_ARGS__)
#define VR_INFO(mod, ...) VR_LOG(VR_LOG_INFO, mod, __VA_ARGS__)
#define VR_WARN(mod, ...) VR_LOG(VR_LOG_WARN, mod, __VA_ARGS__)
#define VR_ERROR(mod, ...) VR_LOG(VR_LOG_ERROR, mod, __VA_ARGS__)

#endif
