#include "vr_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr_json.h"
#include "vr_log.h"
#include "vr_map.h"

/* Refusals before authentication are summed up per source per minute;
 * at most this many sources are counted apart, the rest as one. */
#define REFUSED_WINDOW_MS 60000
#define REFUSED_SOURCES 4096

VR_ENUM_DEFINE(vr_audit_kind, vr_audit_kind, VR_AUDIT_KINDS, VR_AUDIT__LAST,
               VR_AUDIT_NONE + 1, "")

struct refused {
    char source[64];
    int64_t first_ms, last_ms;
    uint64_t count;
    int status;                    /* of the last one */
    char method[8];
    char path[256];                /* of the last one */
};

struct vr_audit {
    pthread_mutex_t lock;
    int fd;
    char *path;
    uint64_t size;                 /* of the current file */
    uint64_t max_size;
    int keep;
    struct vr_map refused;         /* source -> struct refused * */
};

struct vr_audit *vr_audit_open(const char *path, uint64_t max_size, int keep,
                               struct vr_error *err)
{
    struct vr_audit *a;
    struct stat st;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0) {
        vr_err(err, VR_E_INTERNAL, "unable to open the audit log '%s': %s",
               path, strerror(errno));
        return NULL;
    }
    a = vr_calloc(1, sizeof(*a));
    pthread_mutex_init(&a->lock, NULL);
    a->fd = fd;
    a->path = vr_strdup(path);
    a->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    a->max_size = max_size;
    a->keep = keep > 0 ? keep : 1;
    vr_map_init_str(&a->refused);
    return a;
}

static void flush_locked(struct vr_audit *a, int64_t now, bool all);

void vr_audit_close(struct vr_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    flush_locked(a, 0, true);
    pthread_mutex_unlock(&a->lock);
    close(a->fd);
    vr_map_release(&a->refused);
    pthread_mutex_destroy(&a->lock);
    free(a->path);
    free(a);
}

/* <path>.<n> */
static char *rotated(const struct vr_audit *a, int n)
{
    return n ? vr_asprintf("%s.%d", a->path, n) : vr_strdup(a->path);
}

/* a->lock held: the current file becomes .1, .1 becomes .2, ...; the
 * oldest kept is dropped. */
static void rotate_locked(struct vr_audit *a)
{
    int fd;

    for (int n = a->keep; n >= 1; n--) {
        vr_autofree char *from = rotated(a, n - 1);
        vr_autofree char *to = rotated(a, n);
        if (rename(from, to) < 0 && errno != ENOENT)
            VR_ERROR("audit", "unable to rotate %s: %s", from,
                     strerror(errno));
    }
    fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        VR_ERROR("audit", "unable to open %s: %s", a->path, strerror(errno));
        return;      /* keep writing to the renamed file */
    }
    close(a->fd);
    a->fd = fd;
    a->size = 0;
}

static void append_locked(struct vr_audit *a, char *line, size_t len)
{
    line[len] = '\n';
    if (write(a->fd, line, len + 1) != (ssize_t)(len + 1))
        VR_ERROR("audit", "unable to append to %s: %s", a->path,
                 strerror(errno));
    a->size += len + 1;
    if (a->max_size && a->size >= a->max_size)
        rotate_locked(a);
}

static void set_str(json_t *j, const char *key, const char *s)
{
    /* keep it valid JSON whatever bytes a client sent */
    char clean[256];
    size_t n = 0;
    for (; *s && n < sizeof(clean) - 1; s++)
        clean[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    clean[n] = '\0';
    json_object_set_new(j, key, json_string(clean));
}

static json_t *entry_json(const struct vr_audit_entry *e)
{
    json_t *j = json_object();

    vr_json_set_time(j, "time", e->time_ms);
    json_object_set_new(j, "user_id", json_integer(e->user_id));
    set_str(j, "user", e->user);
    json_object_set_new(j, "token_id", json_integer(e->token_id));
    json_object_set_new(j, "group_id", json_integer(e->group_id));
    set_str(j, "source", e->source);
    set_str(j, "method", e->method);
    set_str(j, "path", e->path);
    set_str(j, "kind", e->kind);
    json_object_set_new(j, "object_id", json_integer(e->object_id));
    set_str(j, "object_name", e->object_name);
    json_object_set_new(j, "status", json_integer(e->status));
    json_object_set_new(j, "result",
                        json_string(e->status < 400 ? "success" : "failure"));
    if (e->detail[0])
        set_str(j, "detail", e->detail);
    return j;
}

static void write_json_locked(struct vr_audit *a, json_t *j)
{
    char *line = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    if (!line)
        return;
    /* json_dumps leaves room for nothing: copy with one byte more */
    {
        size_t len = strlen(line);
        char *buf = vr_malloc(len + 1);
        memcpy(buf, line, len);
        free(line);
        append_locked(a, buf, len);
        free(buf);
    }
}

void vr_audit_write(struct vr_audit *a, const struct vr_audit_entry *e)
{
    json_t *j;

    if (!a)
        return;
    j = entry_json(e);
    pthread_mutex_lock(&a->lock);
    write_json_locked(a, j);
    pthread_mutex_unlock(&a->lock);
}

/* One summary line for a source's refusals. */
static void write_refused_locked(struct vr_audit *a, const struct refused *x)
{
    struct vr_audit_entry e;
    json_t *j;

    memset(&e, 0, sizeof(e));
    e.time_ms = x->last_ms;
    vr_strlcpy(e.source, x->source, sizeof(e.source));
    vr_strlcpy(e.method, x->method, sizeof(e.method));
    vr_strlcpy(e.path, x->path, sizeof(e.path));
    e.status = x->status;
    snprintf(e.detail, sizeof(e.detail), "%llu request%s refused before "
             "authentication (last shown)", (unsigned long long)x->count,
             x->count == 1 ? "" : "s");
    j = entry_json(&e);
    json_object_set_new(j, "count", json_integer((json_int_t)x->count));
    vr_json_set_time(j, "first_time", x->first_ms);
    write_json_locked(a, j);
}

static void flush_locked(struct vr_audit *a, int64_t now, bool all)
{
    struct refused **done = NULL;
    struct refused *x;
    size_t pos = 0, n = 0;

    if (!a->refused.count)
        return;
    done = vr_malloc(a->refused.count * sizeof(*done));
    while ((x = vr_map_next(&a->refused, &pos)))
        if (all || now - x->first_ms >= REFUSED_WINDOW_MS)
            done[n++] = x;
    for (size_t i = 0; i < n; i++) {
        write_refused_locked(a, done[i]);
        vr_map_del_str(&a->refused, done[i]->source);
        free(done[i]);
    }
    free(done);
}

void vr_audit_refused(struct vr_audit *a, const struct vr_audit_entry *e)
{
    struct refused *x;
    const char *key = e->source;

    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    flush_locked(a, e->time_ms, false);
    if (!vr_map_get_str(&a->refused, key) &&
        a->refused.count >= REFUSED_SOURCES)
        key = "*";           /* a flood of sources: counted together */
    x = vr_map_get_str(&a->refused, key);
    if (!x) {
        x = vr_calloc(1, sizeof(*x));
        vr_strlcpy(x->source, key, sizeof(x->source));
        x->first_ms = e->time_ms;
        vr_map_put_str(&a->refused, x->source, x);
    }
    x->count++;
    x->last_ms = e->time_ms;
    x->status = e->status;
    vr_strlcpy(x->method, e->method, sizeof(x->method));
    vr_strlcpy(x->path, e->path, sizeof(x->path));
    pthread_mutex_unlock(&a->lock);
}

void vr_audit_flush(struct vr_audit *a, int64_t now_ms)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    flush_locked(a, now_ms, false);
    pthread_mutex_unlock(&a->lock);
}

static bool matches(const json_t *j, const struct vr_audit_filter *f)
{
    const char *s;

    if (f->user && (!(s = json_string_value(json_object_get(j, "user"))) ||
                    strcmp(s, f->user) != 0))
        return false;
    if (f->kind && (!(s = json_string_value(json_object_get(j, "kind"))) ||
                    strcmp(s, f->kind) != 0))
        return false;
    if (f->object_id &&
        json_integer_value(json_object_get(j, "object_id")) != f->object_id)
        return false;
    if (f->since_ms && vr_json_get_time(j, "time") < f->since_ms)
        return false;
    return true;
}

/* A cheap test before parsing: the line holds `"key":"value"` (our lines
 * are compact JSON, names have no characters JSON escapes). */
static bool has_pair(const char *line, size_t len, const char *key,
                     const char *value)
{
    char pat[160];
    int n = snprintf(pat, sizeof(pat), "\"%s\":\"%s\"", key, value);

    return n > 0 && (size_t)n < sizeof(pat) &&
           memmem(line, len, pat, (size_t)n) != NULL;
}

/* Walk one file's lines newest first. */
static int read_file_rev(const char *path, const struct vr_audit_filter *f,
                         size_t offset, size_t limit, struct vr_buf *out,
                         size_t *total, size_t *shown, struct vr_error *err)
{
    char *data = NULL, *end;
    size_t size = 0;

    if (vr_read_file(path, (size_t)1 << 34, &data, &size, NULL) < 0) {
        if (errno == ENOENT || !vr_path_exists(path))
            return 0;
        return vr_err(err, VR_E_INTERNAL, "unable to read the audit log");
    }
    end = data + size;
    while (end > data) {
        char *line;
        json_t *j;
        if (end[-1] == '\n')
            end--;
        line = end;
        while (line > data && line[-1] != '\n')
            line--;
        if (line == end) {
            end = line;
            continue;
        }
        if ((f->user && !has_pair(line, (size_t)(end - line), "user",
                                  f->user)) ||
            (f->kind && !has_pair(line, (size_t)(end - line), "kind",
                                  f->kind))) {
            end = line;
            continue;
        }
        j = json_loadb(line, (size_t)(end - line), 0, NULL);
        if (j && matches(j, f)) {
            if (*total >= offset && *shown < limit) {
                char *s = json_dumps(j, JSON_COMPACT);
                if (*shown)
                    vr_buf_adds(out, ",");
                vr_buf_adds(out, s ? s : "null");
                free(s);
                (*shown)++;
            }
            (*total)++;
        }
        json_decref(j);
        end = line;
    }
    free(data);
    return 0;
}

int vr_audit_read(struct vr_audit *a, const struct vr_audit_filter *f,
                  size_t offset, size_t limit, struct vr_buf *out,
                  size_t *total, struct vr_error *err)
{
    size_t shown = 0;
    int keep;

    *total = 0;
    vr_buf_adds(out, "[");
    pthread_mutex_lock(&a->lock);
    keep = a->keep;
    pthread_mutex_unlock(&a->lock);
    /* newest first: the current file, then .1, .2, ...  (a rotation
     * during the walk may show a few lines twice or not at all) */
    for (int n = 0; n <= keep; n++) {
        vr_autofree char *path = rotated(a, n);
        if (read_file_rev(path, f, offset, limit, out, total, &shown,
                          err) < 0) {
            vr_buf_adds(out, "]");
            return -1;
        }
    }
    vr_buf_adds(out, "]");
    return 0;
}
