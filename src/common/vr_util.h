/*
 * vr_util.h - small helpers shared by every module: allocation, cleanup
 * attributes, growable buffers, sizes, names, UUIDs, time, files and
 * running external programs.
 *
 * Allocation: vr_malloc() and friends abort on out-of-memory (as glib does);
 * callers never test their result.  Every pointer returned by a function in
 * this header is owned by the caller and freed with free() unless said
 * otherwise.
 */
#ifndef VR_UTIL_H
#define VR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

#include "vr_error.h"

#define VR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VR_UNUSED __attribute__((unused))

void *vr_malloc(size_t size);
void *vr_calloc(size_t n, size_t size);
void *vr_realloc(void *p, size_t size);
char *vr_strdup(const char *s);            /* NULL in, NULL out */
char *vr_strndup(const char *s, size_t n);
char *vr_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Cleanup attributes: the variable is freed when it leaves scope. */
static inline void vr_freep(void *p)
{
    free(*(void **)p);
}
#define vr_autofree __attribute__((cleanup(vr_freep)))

/* Take a pointer out of an auto-cleaned variable: ownership moves out. */
#define vr_steal_ptr(pp)                                                   \
    ({                                                                     \
        __typeof__(*(pp)) vr_tmp_ = *(pp);                                 \
        *(pp) = NULL;                                                      \
        vr_tmp_;                                                           \
    })

/* Copy a C string into a fixed array; returns -1 if it did not fit. */
int vr_strlcpy(char *dst, const char *src, size_t size);

/* ---- growable buffer: `data` is always NUL terminated, never NULL after
 * vr_buf_init. */
struct vr_buf {
    char *data;
    size_t len;
    size_t cap;
};
#define VR_BUF_INIT {NULL, 0, 0}
void vr_buf_init(struct vr_buf *b);
void vr_buf_release(struct vr_buf *b);
void vr_buf_add(struct vr_buf *b, const void *data, size_t len);
void vr_buf_adds(struct vr_buf *b, const char *s);
void vr_buf_addf(struct vr_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *vr_buf_detach(struct vr_buf *b); /* caller owns; buffer reset */

/* ---- sizes: "512M", "1G", "1.5GiB", "1024" (in default_unit bytes).
 * Units are binary (K = 1024).  Rejects negatives, overflow, junk. */
int vr_parse_size(const char *s, uint64_t default_unit, uint64_t *bytes,
                  struct vr_error *err);
/* Human form, e.g. "512M", "1.5G"; out must be >= 16 bytes. */
void vr_format_size(uint64_t bytes, char *out, size_t size);

/* ---- names of objects: 1..63 chars of [A-Za-z0-9._-], starting with a
 * letter or digit, not all digits (an all-digit string is an id), no "..".
 * `what` names the field in the message ("vm name"). */
int vr_name_check(const char *name, const char *what, struct vr_error *err);

/* ---- UUIDs (random, version 4), lower case, 36 chars + NUL. */
#define VR_UUID_LEN 37
void vr_uuid_generate(char out[VR_UUID_LEN]);
bool vr_uuid_valid(const char *s);
/* Copy `in` lower-cased into out; -1 if not a UUID. */
int vr_uuid_normalize(const char *in, char out[VR_UUID_LEN]);

/* Fill `out` with `n` random bytes from the kernel CSPRNG. */
void vr_random_bytes(void *out, size_t n);
/* Lower-case hex of `n` bytes into out (2n+1). */
void vr_hex(const void *data, size_t n, char *out);

/* ---- time */
int64_t vr_now_ms(void);       /* wall clock, ms since the epoch */
int64_t vr_mono_ms(void);      /* monotonic */
void vr_sleep_ms(int64_t ms);
/* RFC 3339 UTC "2026-11-21T10:00:00.123Z"; out >= 32 bytes; 0 → "". */
void vr_time_format(int64_t ms, char *out, size_t size);
/* Parse an RFC 3339 date-time, "YYYY-MM-DDTHH:MM:SS[.frac]" and a zone,
 * "Z" or "+HH:MM"/"-HH:MM" ("T" and "Z" in either case; digits past the
 * millisecond are dropped; a leap second counts as :59.999), into ms
 * since the epoch.  0, or -1 if `s` is anything else: a time without a
 * zone is refused, not guessed. */
int vr_time_parse(const char *s, int64_t *ms);

/* ---- files */
int vr_mkdir_p(const char *path, mode_t mode, struct vr_error *err);
/* Remove a file or a directory tree; a missing path is success. */
int vr_rm_rf(const char *path, struct vr_error *err);
bool vr_path_exists(const char *path);
/* Read a whole file (at most max bytes, else VR_E_TOO_LARGE). */
int vr_read_file(const char *path, size_t max, char **out, size_t *len,
                 struct vr_error *err);
/* Write via a temporary file, fsync and rename. */
int vr_write_file_atomic(const char *path, const void *data, size_t len,
                         mode_t mode, struct vr_error *err);
/* Resolve `path` (symlinks included) and check that it lies inside `dir`
 * (also resolved).  On success *out is the resolved path. */
int vr_path_confine(const char *path, const char *dir, char **out,
                    struct vr_error *err);

/* ---- external programs
 * Run argv (argv[0] looked up in PATH) with stdin from /dev/null, capture
 * stdout and stderr (each up to 1 MiB) and wait at most timeout_ms
 * (killing the child after).  Returns the exit status (0..255), or -1 with
 * `err` set if it could not run, was killed or timed out.  `out`/`errout`
 * may be NULL. */
int vr_run(const char *const argv[], int timeout_ms, char **out, char **errout,
           struct vr_error *err);
/* vr_run, with each line of stdout (without its newline) handed to
 * `line_cb` as it arrives instead of being kept: no size limit (`out`
 * then gets nothing but may be NULL). */
typedef void (*vr_line_fn)(const char *line, void *ctx);
int vr_run_lines(const char *const argv[], int timeout_ms, vr_line_fn line_cb,
                 void *ctx, char **out, char **errout, struct vr_error *err);

#endif
