#include "vr_util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void vr_oom(void)
{
    fputs("vireo: out of memory\n", stderr);
    abort();
}

void *vr_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        vr_oom();
    return p;
}

void *vr_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        vr_oom();
    return p;
}

void *vr_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        vr_oom();
    return q;
}

char *vr_strdup(const char *s)
{
    char *p;
    if (!s)
        return NULL;
    p = strdup(s);
    if (!p)
        vr_oom();
    return p;
}

char *vr_strndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        vr_oom();
    return p;
}

char *vr_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        vr_oom();
    return s;
}

int vr_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (n >= size) {
        if (size) {
            memcpy(dst, src, size - 1);
            dst[size - 1] = '\0';
        }
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

/* ---- buffer */

void vr_buf_init(struct vr_buf *b)
{
    b->cap = 64;
    b->len = 0;
    b->data = vr_malloc(b->cap);
    b->data[0] = '\0';
}

void vr_buf_release(struct vr_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static void vr_buf_grow(struct vr_buf *b, size_t extra)
{
    if (!b->data)
        vr_buf_init(b);
    if (b->len + extra + 1 <= b->cap)
        return;
    while (b->len + extra + 1 > b->cap)
        b->cap *= 2;
    b->data = vr_realloc(b->data, b->cap);
}

void vr_buf_add(struct vr_buf *b, const void *data, size_t len)
{
    vr_buf_grow(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void vr_buf_adds(struct vr_buf *b, const char *s)
{
    vr_buf_add(b, s, strlen(s));
}

void vr_buf_addf(struct vr_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    vr_buf_grow(b, 64);
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        vr_buf_grow(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

char *vr_buf_detach(struct vr_buf *b)
{
    char *p;
    if (!b->data)
        vr_buf_init(b);
    p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ---- sizes */

int vr_parse_size(const char *s, uint64_t default_unit, uint64_t *bytes,
                  struct vr_error *err)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {
        {"", 0},      {"b", 1},         {"k", 1ULL << 10}, {"kb", 1ULL << 10},
        {"kib", 1ULL << 10}, {"m", 1ULL << 20}, {"mb", 1ULL << 20},
        {"mib", 1ULL << 20}, {"g", 1ULL << 30}, {"gb", 1ULL << 30},
        {"gib", 1ULL << 30}, {"t", 1ULL << 40}, {"tb", 1ULL << 40},
        {"tib", 1ULL << 40},
    };
    const char *p = s;
    char unit[8];
    size_t ul = 0;
    uint64_t whole = 0, mult = 0;
    uint64_t frac_num = 0, frac_den = 1;

    if (!s || !*s)
        return vr_err(err, VR_E_INVALID, "size is empty");
    if (!isdigit((unsigned char)*p))
        return vr_err(err, VR_E_INVALID,
                      "invalid size '%.32s': expected a number with an "
                      "optional unit (K, M, G, T)", s);
    while (isdigit((unsigned char)*p)) {
        uint64_t digit = (uint64_t)(*p - '0');
        if (whole > (UINT64_MAX - digit) / 10)
            return vr_err(err, VR_E_INVALID, "size '%.32s' is too large", s);
        whole = whole * 10 + digit;
        p++;
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return vr_err(err, VR_E_INVALID, "invalid size '%.32s'", s);
        while (isdigit((unsigned char)*p)) {
            if (frac_den < 1000000) {
                frac_num = frac_num * 10 + (uint64_t)(*p - '0');
                frac_den *= 10;
            }
            p++;
        }
    }
    while (*p && ul < sizeof(unit) - 1)
        unit[ul++] = (char)tolower((unsigned char)*p++);
    unit[ul] = '\0';
    if (*p)
        return vr_err(err, VR_E_INVALID, "invalid unit in size '%.32s'", s);
    for (size_t i = 0; i < VR_ARRAY_SIZE(units); i++) {
        if (strcmp(unit, units[i].suffix) == 0) {
            mult = units[i].mult ? units[i].mult : default_unit;
            break;
        }
    }
    if (!mult)
        return vr_err(err, VR_E_INVALID,
                      "invalid unit '%s' in size '%.32s' (use K, M, G or T)",
                      unit, s);
    if (whole > UINT64_MAX / mult)
        return vr_err(err, VR_E_INVALID, "size '%.32s' is too large", s);
    *bytes = whole * mult + (frac_num * mult) / frac_den;
    return 0;
}

void vr_format_size(uint64_t bytes, char *out, size_t size)
{
    static const char units[] = "BKMGTP";
    double v = (double)bytes;
    int u = 0;

    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, size, "%lluB", (unsigned long long)bytes);
    else if (fabs(v - round(v)) < 0.05)
        snprintf(out, size, "%.0f%c", v, units[u]);
    else
        snprintf(out, size, "%.1f%c", v, units[u]);
}

/* ---- names */

int vr_name_check(const char *name, const char *what, struct vr_error *err)
{
    size_t n;
    bool all_digits = true;

    if (!name || !*name)
        return vr_err(err, VR_E_INVALID, "%s is empty", what);
    n = strlen(name);
    if (n > 63)
        return vr_err(err, VR_E_INVALID,
                      "%s is too long (%zu characters, at most 63)", what, n);
    if (!isalnum((unsigned char)name[0]))
        return vr_err(err, VR_E_INVALID,
                      "%s '%.63s' must start with a letter or a digit", what,
                      name);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.')
            return vr_err(err, VR_E_INVALID,
                          "%s contains the character %s%c%s at position %zu; "
                          "allowed are letters, digits, '-', '_' and '.'",
                          what, isprint(c) ? "'" : "",
                          isprint(c) ? (char)c : '?', isprint(c) ? "'" : "",
                          i + 1);
        if (!isdigit(c))
            all_digits = false;
    }
    if (strstr(name, ".."))
        return vr_err(err, VR_E_INVALID, "%s must not contain '..'", what);
    if (all_digits)
        return vr_err(err, VR_E_INVALID,
                      "%s '%s' must not be all digits (that is an id)", what,
                      name);
    return 0;
}

/* ---- random, uuid */

void vr_random_bytes(void *out, size_t n)
{
    unsigned char *p = out;
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            abort();
        }
        p += r;
        n -= (size_t)r;
    }
}

void vr_hex(const void *data, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void vr_uuid_generate(char out[VR_UUID_LEN])
{
    unsigned char b[16];
    char hex[33];

    vr_random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    vr_hex(b, 16, hex);
    snprintf(out, VR_UUID_LEN, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
             hex + 12, hex + 16, hex + 20);
}

bool vr_uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

int vr_uuid_normalize(const char *in, char out[VR_UUID_LEN])
{
    if (!vr_uuid_valid(in))
        return -1;
    for (int i = 0; i < 36; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[36] = '\0';
    return 0;
}

/* ---- time */

int64_t vr_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t vr_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vr_sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void vr_time_format(int64_t ms, char *out, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char base[24];

    if (ms <= 0) {
        if (size)
            out[0] = '\0';
        return;
    }
    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03dZ", base, (int)(ms % 1000));
}

/* `n` decimal digits at *p, advancing it; -1 if they are not there. */
static int digits(const char **p, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

/* `c` at *p (advancing it), or one of `alt` when it is not 0. */
static bool skip(const char **p, char c, char alt)
{
    if (**p != c && (!alt || **p != alt))
        return false;
    (*p)++;
    return true;
}

static bool leap_year(int y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

int vr_time_parse(const char *s, int64_t *ms)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                                31};
    const char *p = s;
    int y, mo, d, h, mi, sec, frac = 0, off = 0;
    struct tm tm;

    /* full-date */
    y = digits(&p, 4);
    if (y < 0 || !skip(&p, '-', 0))
        return -1;
    mo = digits(&p, 2);
    if (mo < 1 || mo > 12 || !skip(&p, '-', 0))
        return -1;
    d = digits(&p, 2);
    if (d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap_year(y)))
        return -1;
    /* "T" partial-time */
    if (!skip(&p, 'T', 't'))
        return -1;
    h = digits(&p, 2);
    if (h < 0 || h > 23 || !skip(&p, ':', 0))
        return -1;
    mi = digits(&p, 2);
    if (mi < 0 || mi > 59 || !skip(&p, ':', 0))
        return -1;
    sec = digits(&p, 2);
    if (sec < 0 || sec > 60)
        return -1;
    if (skip(&p, '.', 0)) {
        int n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                frac = frac * 10 + (*p - '0');
        if (!n)
            return -1;
        for (; n < 3; n++)
            frac *= 10;
    }
    if (sec == 60) {
        sec = 59;
        frac = 999;
    }
    /* time-offset: required */
    if (!skip(&p, 'Z', 'z')) {
        int sign = *p == '-' ? -1 : 1, oh, om;
        if (!skip(&p, '+', '-'))
            return -1;
        oh = digits(&p, 2);
        if (oh < 0 || oh > 23 || !skip(&p, ':', 0))
            return -1;
        om = digits(&p, 2);
        if (om < 0 || om > 59)
            return -1;
        off = sign * (oh * 60 + om);
    }
    if (*p)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ms = ((int64_t)timegm(&tm) - (int64_t)off * 60) * 1000 + frac;
    return 0;
}

/* ---- files */

int vr_mkdir_p(const char *path, mode_t mode, struct vr_error *err)
{
    char tmp[PATH_MAX];
    size_t n;

    if (vr_strlcpy(tmp, path, sizeof(tmp)) < 0)
        return vr_err(err, VR_E_INVALID, "path '%.64s...' is too long", path);
    n = strlen(tmp);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, mode) < 0 && errno != EEXIST)
                return vr_err(err, VR_E_INTERNAL,
                              "unable to create directory '%s': %s", tmp,
                              strerror(errno));
            tmp[i] = c;
        }
    }
    return 0;
}

bool vr_path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int vr_rm_rf(const char *path, struct vr_error *err)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    int ret = 0;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return vr_err(err, VR_E_INTERNAL, "unable to stat '%s': %s", path,
                      strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return vr_err(err, VR_E_INTERNAL, "unable to remove '%s': %s",
                          path, strerror(errno));
        return 0;
    }
    d = opendir(path);
    if (!d)
        return vr_err(err, VR_E_INTERNAL, "unable to open '%s': %s", path,
                      strerror(errno));
    while ((de = readdir(d))) {
        char *child;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        child = vr_asprintf("%s/%s", path, de->d_name);
        if (vr_rm_rf(child, err) < 0)
            ret = -1;
        free(child);
    }
    closedir(d);
    if (ret == 0 && rmdir(path) < 0 && errno != ENOENT)
        return vr_err(err, VR_E_INTERNAL, "unable to remove '%s': %s", path,
                      strerror(errno));
    return ret;
}

int vr_read_file(const char *path, size_t max, char **out, size_t *len,
                 struct vr_error *err)
{
    struct vr_buf b = VR_BUF_INIT;
    char chunk[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return vr_err(err, errno == ENOENT ? VR_E_NOT_FOUND : VR_E_INTERNAL,
                      "unable to open '%s': %s", path, strerror(errno));
    vr_buf_init(&b);
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            vr_err(err, VR_E_INTERNAL, "unable to read '%s': %s", path,
                   strerror(errno));
            close(fd);
            vr_buf_release(&b);
            return -1;
        }
        if (r == 0)
            break;
        if (b.len + (size_t)r > max) {
            close(fd);
            vr_buf_release(&b);
            return vr_err(err, VR_E_TOO_LARGE, "file '%s' is larger than %zu "
                          "bytes", path, max);
        }
        vr_buf_add(&b, chunk, (size_t)r);
    }
    close(fd);
    if (len)
        *len = b.len;
    *out = vr_buf_detach(&b);
    return 0;
}

int vr_write_file_atomic(const char *path, const void *data, size_t len,
                         mode_t mode, struct vr_error *err)
{
    vr_autofree char *tmp = vr_asprintf("%s.tmp.%d", path, (int)getpid());
    const char *p = data;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    if (fd < 0)
        return vr_err(err, VR_E_INTERNAL, "unable to create '%s': %s", tmp,
                      strerror(errno));
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            vr_err(err, VR_E_INTERNAL, "unable to write '%s': %s", tmp,
                   strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || close(fd) < 0) {
        vr_err(err, VR_E_INTERNAL, "unable to write '%s': %s", tmp,
               strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        vr_err(err, VR_E_INTERNAL, "unable to rename '%s': %s", tmp,
               strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int vr_path_confine(const char *path, const char *dir, char **out,
                    struct vr_error *err)
{
    char rpath[PATH_MAX], rdir[PATH_MAX];
    size_t n;

    if (!path || path[0] != '/')
        return vr_err(err, VR_E_INVALID, "path must be absolute");
    if (!realpath(dir, rdir))
        return vr_err(err, VR_E_INVALID,
                      "directory '%s' is not available: %s", dir,
                      strerror(errno));
    if (!realpath(path, rpath))
        return vr_err(err, errno == ENOENT ? VR_E_NOT_FOUND : VR_E_INVALID,
                      "path '%.200s' cannot be resolved: %s", path,
                      strerror(errno));
    n = strlen(rdir);
    if (strncmp(rpath, rdir, n) != 0 || (rpath[n] != '/' && n != 1))
        return vr_err(err, VR_E_FORBIDDEN,
                      "path '%.200s' is outside the allowed directory '%s'",
                      path, dir);
    *out = vr_strdup(rpath);
    return 0;
}

/* ---- external programs */

/* Read what is there.  With a line callback, complete lines go to it as
 * they arrive (`b` holds only the unfinished one, so there is no size
 * limit); without, the first MiB is kept. */
static void vr_drain(int fd, struct vr_buf *b, bool *open_,
                     vr_line_fn line_cb, void *ctx)
{
    char chunk[4096];
    ssize_t r = read(fd, chunk, sizeof(chunk));
    if (r > 0) {
        if (line_cb) {
            vr_buf_add(b, chunk, (size_t)r);
            for (;;) {
                char *nl = memchr(b->data, '\n', b->len);
                size_t n;
                if (!nl)
                    break;
                *nl = '\0';
                line_cb(b->data, ctx);
                n = (size_t)(nl - b->data) + 1;
                memmove(b->data, b->data + n, b->len - n);
                b->len -= n;
                b->data[b->len] = '\0';
            }
            /* a "line" of a MiB is no line: cut it */
            if (b->len > (1u << 20)) {
                line_cb(b->data, ctx);
                b->len = 0;
                b->data[0] = '\0';
            }
        } else if (b->len < (1u << 20)) {
            vr_buf_add(b, chunk, (size_t)r);
        }
    } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        *open_ = false;
        if (line_cb && b->len) {
            line_cb(b->data, ctx);
            b->len = 0;
            b->data[0] = '\0';
        }
    }
}

int vr_run(const char *const argv[], int timeout_ms, char **out, char **errout,
           struct vr_error *err)
{
    return vr_run_lines(argv, timeout_ms, NULL, NULL, out, errout, err);
}

int vr_run_lines(const char *const argv[], int timeout_ms, vr_line_fn line_cb,
                 void *ctx, char **out, char **errout, struct vr_error *err)
{
    int po[2], pe[2];
    pid_t pid;
    struct vr_buf bo = VR_BUF_INIT, be = VR_BUF_INIT;
    bool oo = true, eo = true, timed_out = false;
    int64_t deadline = vr_mono_ms() + timeout_ms;
    int status = 0;

    if (pipe2(po, O_CLOEXEC) < 0)
        return vr_err(err, VR_E_INTERNAL, "pipe: %s", strerror(errno));
    if (pipe2(pe, O_CLOEXEC) < 0) {
        close(po[0]);
        close(po[1]);
        return vr_err(err, VR_E_INTERNAL, "pipe: %s", strerror(errno));
    }
    pid = fork();
    if (pid < 0) {
        close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
        return vr_err(err, VR_E_INTERNAL, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execvp(argv[0], (char *const *)argv);
        dprintf(2, "unable to run '%s': %s", argv[0], strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    vr_buf_init(&bo);
    vr_buf_init(&be);
    while (oo || eo) {
        struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
        int64_t left = deadline - vr_mono_ms();
        int r;
        if (left <= 0) {
            timed_out = true;
            break;
        }
        fds[0].fd = oo ? po[0] : -1;
        fds[1].fd = eo ? pe[0] : -1;
        r = poll(fds, 2, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        if (fds[0].revents)
            vr_drain(po[0], &bo, &oo, line_cb, ctx);
        if (fds[1].revents)
            vr_drain(pe[0], &be, &eo, NULL, NULL);
    }
    close(po[0]);
    close(pe[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        vr_buf_release(&bo);
        vr_buf_release(&be);
        return vr_err(err, VR_E_TIMEOUT, "'%s' did not finish in %d ms",
                      argv[0], timeout_ms);
    }
    if (!WIFEXITED(status)) {
        vr_buf_release(&bo);
        vr_buf_release(&be);
        return vr_err(err, VR_E_INTERNAL, "'%s' was killed by signal %d",
                      argv[0], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    if (out)
        *out = vr_buf_detach(&bo);
    else
        vr_buf_release(&bo);
    if (errout)
        *errout = vr_buf_detach(&be);
    else
        vr_buf_release(&be);
    return WEXITSTATUS(status);
}
