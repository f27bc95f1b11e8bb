#include "vr_qimg.h"

#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr_util.h"

#define QIMG_TIMEOUT_MS (30 * 1000)
#define QIMG_COPY_TIMEOUT_MS (60 * 60 * 1000)

static int run_qimg(const char *const argv[], int timeout_ms, char **out,
                    enum vr_error_code fail_code, struct vr_error *err)
{
    vr_autofree char *errout = NULL;
    int st = vr_run(argv, timeout_ms, out, &errout, err);

    if (st < 0)
        return -1;
    if (st != 0) {
        size_t n = strlen(errout);
        while (n && (errout[n - 1] == '\n' || errout[n - 1] == ' '))
            errout[--n] = '\0';
        /* one line: messages end up in one-line errors */
        for (char *p = errout; *p; p++)
            if (*p == '\n' || *p == '\r' || *p == '\t')
                *p = ' ';
        if (out) {
            free(*out);
            *out = NULL;
        }
        return vr_err(err, fail_code, "qemu-img %s failed: %s", argv[1],
                      errout[0] ? errout : "no message");
    }
    return 0;
}

int vr_qimg_info(const char *path, const char *format,
                 struct vr_qimg_info *out, struct vr_error *err)
{
    const char *argv[] = {"qemu-img", "info", "--force-share", "-f", format,
                          "--output=json", path, NULL};
    vr_autofree char *text = NULL;
    json_t *j, *spec, *data;
    json_error_t jerr;

    memset(out, 0, sizeof(*out));
    if (run_qimg(argv, QIMG_TIMEOUT_MS, &text, VR_E_UNPROCESSABLE, err) < 0)
        return -1;
    j = json_loads(text, 0, &jerr);
    if (!j)
        return vr_err(err, VR_E_INTERNAL, "qemu-img info: bad output: %s",
                      jerr.text);
    vr_strlcpy(out->format, json_string_value(json_object_get(j, "format"))
                                ? json_string_value(json_object_get(j, "format"))
                                : "", sizeof(out->format));
    out->virtual_size = (uint64_t)json_integer_value(json_object_get(j, "virtual-size"));
    out->actual_size = (uint64_t)json_integer_value(json_object_get(j, "actual-size"));
    out->has_backing = json_object_get(j, "backing-filename") != NULL ||
                       json_object_get(j, "full-backing-filename") != NULL;
    out->corrupt = json_is_true(json_object_get(j, "dirty-flag"));
    out->encrypted = json_is_true(json_object_get(j, "encrypted"));
    out->cluster_size =
        (uint64_t)json_integer_value(json_object_get(j, "cluster-size"));
    spec = json_object_get(j, "format-specific");
    data = json_object_get(spec, "data");
    if (data) {
        if (json_object_get(data, "data-file"))
            out->has_data_file = true;
        if (json_is_true(json_object_get(data, "corrupt")))
            out->corrupt = true;
        if (json_object_get(data, "encrypt"))
            out->encrypted = true;
    }
    if (strcmp(out->format, "luks") == 0)
        out->encrypted = true;
    json_decref(j);
    return 0;
}

/* Magic numbers of formats a "raw" upload must not be. */
static const char *foreign_format(const char *path)
{
    static const struct {
        size_t off;
        const char *magic;
        size_t len;
        const char *name;
    } magics[] = {
        {0, "QFI\xfb", 4, "qcow2"},
        {0, "KDMV", 4, "vmdk"},
        {0, "conectix", 8, "vpc"},
        {0, "vhdxfile", 8, "vhdx"},
        {0, "<<< Oracle VM VirtualBox Disk Image >>>", 39, "vdi"},
        {0, "QED\0", 4, "qed"},
        {0, "LUKS\xba\xbe", 6, "luks"},
    };
    unsigned char hdr[64];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    n = read(fd, hdr, sizeof(hdr));
    close(fd);
    for (size_t i = 0; i < VR_ARRAY_SIZE(magics); i++)
        if (n >= (ssize_t)(magics[i].off + magics[i].len) &&
            memcmp(hdr + magics[i].off, magics[i].magic, magics[i].len) == 0)
            return magics[i].name;
    return NULL;
}

/* `qemu-img check`: its exit status says it all (0 clean, 3 leaked
 * clusters only, 2 corrupt, 1 not checkable); then the end of the data
 * it counts must lie inside the file. */
static int qcow2_check(const char *path, uint64_t file_size,
                       uint64_t cluster, struct vr_error *err)
{
    const char *argv[] = {"qemu-img", "check", "-f", "qcow2",
                          "--output=json", path, NULL};
    vr_autofree char *out = NULL;
    vr_autofree char *errout = NULL;
    json_t *j;
    uint64_t end, limit;
    int st = vr_run(argv, QIMG_COPY_TIMEOUT_MS, &out, &errout, err);

    if (st < 0)
        return -1;
    j = out ? json_loads(out, 0, NULL) : NULL;
    if (st == 2 || json_integer_value(json_object_get(j, "corruptions"))) {
        long long n = json_integer_value(json_object_get(j, "corruptions"));
        json_decref(j);
        return vr_err(err, VR_E_UNPROCESSABLE, "the image is corrupt (qemu-img "
                      "check found %lld corruption%s): truncated or damaged",
                      n, n == 1 ? "" : "s");
    }
    if ((st != 0 && st != 3) || !j ||
        json_integer_value(json_object_get(j, "check-errors"))) {
        json_decref(j);
        return vr_err(err, VR_E_UNPROCESSABLE, "the image cannot be checked "
                      "(qemu-img check exited with %d)", st);
    }
    end = (uint64_t)json_integer_value(json_object_get(j, "image-end-offset"));
    json_decref(j);
    /* the file may end inside its last cluster, not before it */
    limit = cluster ? (file_size + cluster - 1) / cluster * cluster
                    : file_size;
    if (end > limit)
        return vr_err(err, VR_E_UNPROCESSABLE, "the image is truncated: its "
                      "data ends at byte %llu, the file at %llu",
                      (unsigned long long)end,
                      (unsigned long long)file_size);
    return 0;
}

struct map_scan {
    uint64_t file_size;
    long long bad_offset;      /* -1: none yet */
    bool parsed;               /* at least one extent read */
};

/* One line of `qemu-img map --output=json`: one extent, as
 * `[{ "start": 0, ..., "offset": 327680},` or `{...}]`. */
static void map_line(const char *line, void *ctx)
{
    struct map_scan *ms = ctx;
    const char *b = strchr(line, '{'), *e = strrchr(line, '}');
    json_t *x, *off;
    uint64_t len;

    if (!b || !e || e < b)
        return;
    x = json_loadb(b, (size_t)(e - b + 1), 0, NULL);
    if (!x)
        return;
    ms->parsed = true;
    off = json_object_get(x, "offset");
    len = (uint64_t)json_integer_value(json_object_get(x, "length"));
    /* depth 0: this file (no backing file is allowed anyway); compressed
     * extents have no offset */
    if (json_integer_value(json_object_get(x, "depth")) == 0 &&
        json_is_integer(off) && ms->bad_offset < 0 &&
        (uint64_t)json_integer_value(off) + len > ms->file_size)
        ms->bad_offset = (long long)json_integer_value(off);
    json_decref(x);
}

/* Every extent the image maps to its own file must lie inside the file
 * (`qemu-img check` misses a cut inside the last cluster).  The map is
 * read line by line: a large, fragmented image makes a long one. */
static int qcow2_map_inside(const char *path, uint64_t file_size,
                            struct vr_error *err)
{
    const char *argv[] = {"qemu-img", "map", "-f", "qcow2", "--output=json",
                          path, NULL};
    struct map_scan ms = {file_size, -1, false};
    vr_autofree char *errout = NULL;
    int st = vr_run_lines(argv, QIMG_COPY_TIMEOUT_MS, map_line, &ms, NULL,
                          &errout, err);

    if (st < 0)
        return -1;
    if (st != 0 || !ms.parsed)
        return vr_err(err, VR_E_UNPROCESSABLE, "the image cannot be mapped "
                      "(qemu-img map exited with %d)", st);
    if (ms.bad_offset >= 0)
        return vr_err(err, VR_E_UNPROCESSABLE, "the image is truncated: "
                      "data at byte %lld lies beyond the end of the file "
                      "(%llu bytes)", ms.bad_offset,
                      (unsigned long long)file_size);
    return 0;
}

int vr_qimg_validate(const char *path, const char *format, uint64_t max_vsize,
                     struct vr_qimg_info *out, struct vr_error *err)
{
    struct stat st;

    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return vr_err(err, VR_E_UNPROCESSABLE, "'%s' is not a regular file",
                      path);
    if (st.st_size == 0)
        return vr_err(err, VR_E_UNPROCESSABLE, "the image is empty");
    if (strcmp(format, "raw") == 0) {
        const char *other = foreign_format(path);
        if (other)
            return vr_err(err, VR_E_UNPROCESSABLE,
                          "declared raw but the content is a %s image; "
                          "give its real format", other);
        if (st.st_size % 512)
            return vr_err(err, VR_E_UNPROCESSABLE,
                          "not a disk image: a raw image must be a whole "
                          "number of 512-byte sectors (size is %lld bytes)",
                          (long long)st.st_size);
    }
    if (vr_qimg_info(path, format, out, err) < 0) {
        if (err && err->code == VR_E_UNPROCESSABLE)
            vr_err_prefix(err, "not a valid %s image", format);
        return -1;
    }
    if (strcmp(out->format, format) != 0)
        return vr_err(err, VR_E_UNPROCESSABLE,
                      "qemu-img read it as '%s', not '%s'", out->format,
                      format);
    if (out->has_backing)
        return vr_err(err, VR_E_UNPROCESSABLE,
                      "the image has a backing file; only standalone images "
                      "are accepted");
    if (out->has_data_file)
        return vr_err(err, VR_E_UNPROCESSABLE,
                      "the image has an external data file; refused");
    if (out->corrupt)
        return vr_err(err, VR_E_UNPROCESSABLE, "the image is marked corrupt");
    if (out->encrypted)
        return vr_err(err, VR_E_UNPROCESSABLE, "the image is encrypted; only "
                      "unencrypted images are accepted (the datastore holds "
                      "no keys)");
    if (strcmp(format, "qcow2") == 0 &&
        (qcow2_check(path, (uint64_t)st.st_size, out->cluster_size, err) < 0 ||
         qcow2_map_inside(path, (uint64_t)st.st_size, err) < 0))
        return -1;
    if (out->virtual_size == 0)
        return vr_err(err, VR_E_UNPROCESSABLE, "the image has no size");
    if (out->virtual_size > max_vsize)
        return vr_err(err, VR_E_UNPROCESSABLE,
                      "virtual size %llu bytes is over the limit of %llu",
                      (unsigned long long)out->virtual_size,
                      (unsigned long long)max_vsize);
    return 0;
}

int vr_qimg_create_overlay(const char *path, const char *base,
                           const char *base_fmt, uint64_t size_bytes,
                           struct vr_error *err)
{
    char size[32];
    const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F",
                          base_fmt, "-b", base, path,
                          size_bytes ? size : NULL, NULL};
    snprintf(size, sizeof(size), "%llu", (unsigned long long)size_bytes);
    return run_qimg(argv, QIMG_TIMEOUT_MS, NULL, VR_E_INTERNAL, err);
}

int vr_qimg_create(const char *path, uint64_t size_bytes, struct vr_error *err)
{
    char size[32];
    const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", path,
                          size, NULL};
    snprintf(size, sizeof(size), "%llu", (unsigned long long)size_bytes);
    return run_qimg(argv, QIMG_TIMEOUT_MS, NULL, VR_E_INTERNAL, err);
}

int vr_qimg_convert(const char *src, const char *src_fmt, const char *dst,
                    struct vr_error *err)
{
    const char *argv[] = {"qemu-img", "convert", "-f", src_fmt, "-O", "qcow2",
                          src, dst, NULL};
    return run_qimg(argv, QIMG_COPY_TIMEOUT_MS, NULL, VR_E_INTERNAL, err);
}
