#include "vr_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "vr_json.h"
#include "vr_log.h"

/* Reading looks at the newest part of the file only. */
#define READ_WINDOW (64u << 20)

struct vr_audit {
    pthread_mutex_t lock;
    int fd;
    char *path;
};

struct vr_audit *vr_audit_open(const char *path, struct vr_error *err)
{
    struct vr_audit *a;
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
    return a;
}

void vr_audit_close(struct vr_audit *a)
{
    if (!a)
        return;
    close(a->fd);
    pthread_mutex_destroy(&a->lock);
    free(a->path);
    free(a);
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

void vr_audit_write(struct vr_audit *a, const struct vr_audit_entry *e)
{
    json_t *j = json_object();
    char *line;
    size_t len;

    if (!a)
        return;
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
    line = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!line)
        return;
    len = strlen(line);
    line[len] = '\n';
    pthread_mutex_lock(&a->lock);
    if (write(a->fd, line, len + 1) != (ssize_t)(len + 1))
        VR_ERROR("audit", "unable to append to %s: %s", a->path,
                 strerror(errno));
    pthread_mutex_unlock(&a->lock);
    free(line);
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

int vr_audit_read(struct vr_audit *a, const struct vr_audit_filter *f,
                  size_t offset, size_t limit, struct vr_buf *out,
                  size_t *total, struct vr_error *err)
{
    int fd = open(a->path, O_RDONLY | O_CLOEXEC);
    off_t size, start;
    char *data, *end;
    ssize_t got;
    size_t shown = 0;

    *total = 0;
    vr_buf_adds(out, "[");
    if (fd < 0) {
        vr_buf_adds(out, "]");
        return errno == ENOENT ? 0 : vr_err(err, VR_E_INTERNAL,
                                            "unable to read the audit log: %s",
                                            strerror(errno));
    }
    size = lseek(fd, 0, SEEK_END);
    start = size > (off_t)READ_WINDOW ? size - (off_t)READ_WINDOW : 0;
    data = vr_malloc((size_t)(size - start) + 1);
    got = pread(fd, data, (size_t)(size - start), start);
    close(fd);
    if (got < 0) {
        free(data);
        vr_buf_adds(out, "]");
        return vr_err(err, VR_E_INTERNAL, "unable to read the audit log");
    }
    data[got] = '\0';
    /* walk lines from the end: newest first */
    end = data + got;
    while (end > data) {
        char *line = end;
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
        j = json_loadb(line, (size_t)(end - line), 0, NULL);
        if (j && matches(j, f)) {
            if (*total >= offset && shown < limit) {
                char *s = json_dumps(j, JSON_COMPACT);
                if (shown)
                    vr_buf_adds(out, ",");
                vr_buf_adds(out, s ? s : "null");
                free(s);
                shown++;
            }
            (*total)++;
        }
        json_decref(j);
        end = line;
        /* a line cut by the read window is skipped */
        if (start > 0 && line == data)
            break;
    }
    free(data);
    vr_buf_adds(out, "]");
    return 0;
}
