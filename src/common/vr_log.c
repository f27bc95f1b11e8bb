#include "vr_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Process-wide sink; see the header for why this state is global. */
static FILE *_Atomic vr_log_out;
static atomic_int vr_log_level = VR_LOG_INFO;

VR_ENUM_DEFINE(vr_log_level, vr_log_level, VR_LOG_LEVELS, VR_LOG__LAST, 0,
               "?")

void vr_log_init(FILE *out, enum vr_log_level level)
{
    atomic_store(&vr_log_out, out);
    atomic_store(&vr_log_level, (int)level);
}

void vr_log_set_level(enum vr_log_level level)
{
    atomic_store(&vr_log_level, (int)level);
}

int vr_log_enabled(enum vr_log_level level)
{
    return (int)level >= atomic_load(&vr_log_level);
}

/* Copy `in` to `out` (size bytes) with every control character (and DEL)
 * written as \xNN and a backslash as \\, so that one message stays one
 * line whatever a client sent (a user name with a newline cannot forge a
 * log entry). */
static void escape_controls(const char *in, char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '\\') {
            if (n + 5 > size - 1)
                break;
            out[n++] = '\\';
            if (*p == '\\') {
                out[n++] = '\\';
                continue;
            }
            out[n++] = 'x';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        } else {
            if (n + 1 > size - 1)
                break;
            out[n++] = (char)*p;
        }
    }
    out[n] = '\0';
}

void vr_log_msg(enum vr_log_level level, const char *module, const char *fmt,
                ...)
{
    FILE *out = atomic_load(&vr_log_out);
    struct timeval tv;
    struct tm tm;
    char ts[32], raw[2048], msg[4 * sizeof(raw)];
    va_list ap;

    if (!out)
        out = stderr;
    if (!fmt)       /* never, but GCC's sanitizer builds cannot prove it */
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    escape_controls(raw, msg, sizeof(msg));

    flockfile(out);
    fprintf(out, "%s.%03ldZ %-5s %-8s %s\n", ts, (long)(tv.tv_usec / 1000),
            vr_log_level_name(level), module, msg);
    fflush(out);
    funlockfile(out);
}
