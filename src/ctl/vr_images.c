/*
 * vr_images.c - the image datastore: upload (streamed, checksummed),
 * import from an allowed server directory, validation, delete.
 *
 * A file enters the datastore only after it was written completely under a
 * temporary name, its SHA-256 matched (when the client gave one) and
 * qemu-img accepted it with the declared format; then it is renamed into
 * place, made read-only, and the image becomes READY.  Nothing half-written
 * is ever READY.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr_ctl.h"
#include "vr_log.h"
#include "vr_qimg.h"
#include "vr_tenancy.h"

#define MOD "images"

struct vr_upload {
    struct vr_ctl *ctl;
    int64_t image_id;
    char *tmp_path;
    int fd;
    uint64_t written;
    crypto_hash_sha256_state sha;
};

static int sha256_check(const char *s, struct vr_error *err)
{
    if (!s)
        return 0;
    if (strlen(s) != 64)
        return vr_err(err, VR_E_INVALID, "sha256 must be 64 hex digits");
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return vr_err(err, VR_E_INVALID,
                          "sha256 must be 64 lower-case hex digits");
    return 0;
}

static void sha_hex(crypto_hash_sha256_state *st, char out[65])
{
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(st, d);
    vr_hex(d, sizeof(d), out);
}

static int write_all(int fd, const void *data, size_t len, struct vr_error *err)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return vr_err(err, VR_E_INTERNAL, "unable to write the image: %s",
                          strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Replace `path` (a server-internal file) by "the image" in a message. */
static void hide_path(struct vr_error *err, const char *path)
{
    char out[VR_ERROR_MSG_SIZE];
    size_t plen = strlen(path), n = 0;
    const char *p;

    if (!err)
        return;
    for (p = err->msg; *p && n < sizeof(out) - 1;) {
        if (strncmp(p, path, plen) == 0) {
            const char *rep = "the image";
            while (*rep && n < sizeof(out) - 1)
                out[n++] = *rep++;
            p += plen;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    memcpy(err->msg, out, n + 1);
}

/* Validate the complete temporary file and move it into place; fills the
 * image's size fields and path. */
static int seal(struct vr_ctl *ctl, struct vr_image *im, const char *tmp,
                const char *sha, struct vr_error *err)
{
    struct vr_qimg_info info;
    struct stat st;
    char *final;

    if (im->expected_sha256[0] && strcmp(im->expected_sha256, sha) != 0)
        return vr_err(err, VR_E_UNPROCESSABLE,
                      "checksum mismatch: expected sha256 %s, received %s",
                      im->expected_sha256, sha);
    if (vr_qimg_validate(tmp, im->format, ctl->cfg->max_image_vsize, &info,
                         err) < 0) {
        hide_path(err, tmp);
        return -1;
    }
    if (stat(tmp, &st) < 0)
        return vr_err(err, VR_E_INTERNAL, "stat: %s", strerror(errno));
    final = vr_asprintf("%s/%s.%s", ctl->cfg->image_dir, im->hdr.uuid,
                        im->format);
    if (chmod(tmp, 0444) < 0 || rename(tmp, final) < 0) {
        vr_err(err, VR_E_INTERNAL, "unable to store the image: %s",
               strerror(errno));
        free(final);
        return -1;
    }
    vr_strlcpy(im->path, final, sizeof(im->path));
    free(final);
    vr_strlcpy(im->sha256, sha, sizeof(im->sha256));
    im->size = (uint64_t)st.st_size;
    im->virtual_size = info.virtual_size;
    im->state = VR_IMAGE_READY;
    im->error[0] = '\0';
    return 0;
}

/* Copy `src` to `dst` computing its SHA-256. */
static int copy_hashing(const char *src, const char *dst, uint64_t max,
                        char sha[65], struct vr_error *err)
{
    crypto_hash_sha256_state st;
    char buf[1 << 16];
    uint64_t total = 0;
    int in, out, ret = 0;

    in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return vr_err(err, VR_E_INVALID, "unable to open '%s': %s", src,
                      strerror(errno));
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return vr_err(err, VR_E_INTERNAL, "unable to create '%s': %s", dst,
                      strerror(errno));
    }
    crypto_hash_sha256_init(&st);
    for (;;) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ret = vr_err(err, VR_E_INTERNAL, "unable to read '%s': %s", src,
                         strerror(errno));
            break;
        }
        if (r == 0)
            break;
        total += (uint64_t)r;
        if (total > max) {
            ret = vr_err(err, VR_E_TOO_LARGE, "the file is larger than the "
                         "upload limit (%llu bytes)", (unsigned long long)max);
            break;
        }
        crypto_hash_sha256_update(&st, (unsigned char *)buf, (size_t)r);
        if (write_all(out, buf, (size_t)r, err) < 0) {
            ret = -1;
            break;
        }
    }
    close(in);
    if (ret == 0 && fsync(out) < 0)
        ret = vr_err(err, VR_E_INTERNAL, "fsync: %s", strerror(errno));
    close(out);
    if (ret == 0)
        sha_hex(&st, sha);
    return ret;
}

/* Resolve `path` (symlinks included) and accept it only inside one of the
 * ':'-separated import directories (also resolved).  Returns the resolved
 * path (caller frees) or NULL with err. */
static char *confine_import(struct vr_ctl *ctl, const char *path,
                            struct vr_error *err)
{
    vr_autofree char *dirs = vr_strdup(ctl->cfg->import_dirs);
    char rpath[PATH_MAX], rdir[PATH_MAX];
    char *save = NULL;

    if (path[0] != '/')
        return vr_err(err, VR_E_INVALID, "path must be absolute"), NULL;
    if (!realpath(path, rpath))
        return vr_err(err, errno == ENOENT ? VR_E_NOT_FOUND : VR_E_INVALID,
                      "path '%.200s' cannot be resolved: %s", path,
                      strerror(errno)), NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        size_t n;
        if (!realpath(d, rdir))
            continue;
        n = strlen(rdir);
        if (strncmp(rpath, rdir, n) == 0 && rpath[n] == '/')
            return vr_strdup(rpath);
    }
    vr_err(err, VR_E_FORBIDDEN,
           "path '%.200s' is outside the allowed import directories (%s)",
           path, ctl->cfg->import_dirs);
    return NULL;
}

/* Write a new or changed image and charge (sign +1) or release (-1) its
 * quota delta in one transaction. */
static int put_charged(struct vr_ctl *ctl, struct vr_image *im,
                       const struct vr_quota *delta, bool must_exist,
                       struct vr_error *err)
{
    struct vr_tx tx;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (must_exist && !vr_pool_has(&ctl->db.images, im->hdr.id)) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "the image was deleted meanwhile");
    }
    if (vr_quota_charge(ctl, &tx, im->hdr.owner_id, im->hdr.group_id, delta,
                        1, err) < 0 ||
        vr_tx_put(&tx, &ctl->db.images, im, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

int vr_images_create(struct vr_ctl *ctl, const struct vr_image_create_req *req,
                     const struct vr_principal *who, int64_t *image_id,
                     struct vr_error *err)
{
    struct vr_image im;
    struct vr_quota charge;
    struct stat st;

    if (vr_name_check(req->name, "image name", err) < 0 ||
        vr_image_format_check(req->format, err) < 0 ||
        sha256_check(req->sha256, err) < 0)
        return -1;
    if (vr_pool_id_by_owner_name(&ctl->db.images, who->user_id, req->name))
        return vr_err(err, VR_E_CONFLICT, "an image named '%s' already exists "
                      "for this owner", req->name);
    memset(&im, 0, sizeof(im));
    im.hdr.id = vr_pool_next_id(&ctl->db.images);
    vr_uuid_generate(im.hdr.uuid);
    vr_strlcpy(im.hdr.name, req->name, sizeof(im.hdr.name));
    im.hdr.owner_id = who->user_id;
    im.hdr.group_id = who->group_id;
    im.hdr.perms = VR_PERMS_DEFAULT;
    im.state = VR_IMAGE_PENDING;
    vr_strlcpy(im.format, req->format, sizeof(im.format));
    if (req->sha256)
        vr_strlcpy(im.expected_sha256, req->sha256, sizeof(im.expected_sha256));
    vr_strlcpy(im.source, req->path ? "import" : "upload", sizeof(im.source));

    if (req->path) {
        vr_autofree char *src = confine_import(ctl, req->path, err);
        vr_autofree char *tmp = NULL;
        char sha[65];

        if (!src)
            return -1;
        if (stat(src, &st) < 0 || !S_ISREG(st.st_mode))
            return vr_err(err, VR_E_INVALID, "'%.200s' is not a regular file",
                          req->path);
        tmp = vr_asprintf("%s/.import-%lld.part", ctl->cfg->image_dir,
                          (long long)im.hdr.id);
        if (copy_hashing(src, tmp, ctl->cfg->max_upload, sha, err) < 0 ||
            seal(ctl, &im, tmp, sha, err) < 0) {
            unlink(tmp);
            return -1;
        }
        vr_quota_of_image(&im, &charge);
        if (put_charged(ctl, &im, &charge, false, err) < 0) {
            unlink(im.path);
            return -1;
        }
        VR_INFO(MOD, "imported image '%s' from %s", im.hdr.name, src);
    } else {
        vr_quota_of_image(&im, &charge);
        if (put_charged(ctl, &im, &charge, false, err) < 0)
            return -1;
    }
    *image_id = im.hdr.id;
    return 0;
}

struct use_ctx {
    int64_t image_id;
    int count;
    char first[VR_NAME_SIZE];
};

static int count_users(const void *obj, void *opaque)
{
    const struct vr_vm *vm = obj;
    struct use_ctx *uc = opaque;

    if (vm->image_id == uc->image_id && !vm->full_clone) {
        if (!uc->count++)
            vr_strlcpy(uc->first, vm->hdr.name, sizeof(uc->first));
    }
    return 0;
}

int vr_images_delete(struct vr_ctl *ctl, int64_t image_id,
                     struct vr_error *err)
{
    struct vr_image im;
    struct use_ctx uc = {image_id, 0, ""};
    struct vr_tx tx;
    bool uploading;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.images, image_id, &im) < 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "image %lld not found",
                      (long long)image_id);
    }
    vr_pool_foreach(&ctl->db.vms, count_users, &uc);
    if (uc.count) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_CONFLICT,
                      "image '%s' is used by %d vm%s (first: '%s'); delete "
                      "them first", im.hdr.name, uc.count,
                      uc.count == 1 ? "" : "s", uc.first);
    }
    pthread_mutex_lock(&ctl->ulock);
    uploading = vr_map_get_int(&ctl->uploads, image_id) != NULL;
    pthread_mutex_unlock(&ctl->ulock);
    if (uploading) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_CONFLICT, "image '%s' is being uploaded",
                      im.hdr.name);
    }
    {
        struct vr_quota q;
        vr_quota_of_image(&im, &q);
        if (vr_quota_charge(ctl, &tx, im.hdr.owner_id, im.hdr.group_id, &q,
                            -1, err) < 0 ||
            vr_tx_del(&tx, &ctl->db.images, image_id, err) < 0) {
            vr_tx_abort(&tx);
            return -1;
        }
    }
    if (vr_tx_commit(&tx, err) < 0)
        return -1;
    if (im.path[0] && unlink(im.path) < 0 && errno != ENOENT)
        VR_WARN(MOD, "unable to remove %s: %s", im.path, strerror(errno));
    VR_INFO(MOD, "deleted image '%s'", im.hdr.name);
    return 0;
}

/* ---- uploads */

struct vr_upload *vr_upload_begin(struct vr_ctl *ctl, int64_t image_id,
                                  uint64_t declared_size,
                                  struct vr_error *err)
{
    struct vr_image im;
    struct vr_upload *up;

    if (vr_pool_get(&ctl->db.images, image_id, &im) < 0) {
        vr_err(err, VR_E_NOT_FOUND, "image %lld not found",
               (long long)image_id);
        return NULL;
    }
    if (im.state != VR_IMAGE_PENDING) {
        vr_err(err, VR_E_CONFLICT, "image '%s' is %s: its data can only be "
               "uploaded once", im.hdr.name, vr_image_state_name(im.state));
        return NULL;
    }
    if (declared_size > ctl->cfg->max_upload) {
        vr_err(err, VR_E_TOO_LARGE, "upload of %llu bytes is over the limit "
               "of %llu", (unsigned long long)declared_size,
               (unsigned long long)ctl->cfg->max_upload);
        return NULL;
    }
    pthread_mutex_lock(&ctl->ulock);
    if (vr_map_get_int(&ctl->uploads, image_id)) {
        pthread_mutex_unlock(&ctl->ulock);
        vr_err(err, VR_E_CONFLICT, "an upload to image '%s' is already in "
               "progress", im.hdr.name);
        return NULL;
    }
    up = vr_calloc(1, sizeof(*up));
    vr_map_put_int(&ctl->uploads, image_id, up);
    pthread_mutex_unlock(&ctl->ulock);

    up->ctl = ctl;
    up->image_id = image_id;
    up->tmp_path = vr_asprintf("%s/.upload-%lld.part", ctl->cfg->image_dir,
                               (long long)image_id);
    up->fd = open(up->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0644);
    if (up->fd < 0) {
        vr_err(err, VR_E_INTERNAL, "unable to create '%s': %s", up->tmp_path,
               strerror(errno));
        vr_upload_free(up);
        return NULL;
    }
    crypto_hash_sha256_init(&up->sha);
    return up;
}

int vr_upload_write(struct vr_upload *up, const void *data, size_t len,
                    struct vr_error *err)
{
    if (up->written + len > up->ctl->cfg->max_upload)
        return vr_err(err, VR_E_TOO_LARGE, "upload is over the limit of %llu "
                      "bytes", (unsigned long long)up->ctl->cfg->max_upload);
    crypto_hash_sha256_update(&up->sha, data, len);
    if (write_all(up->fd, data, len, err) < 0)
        return -1;
    up->written += len;
    return 0;
}

static void record_error(struct vr_ctl *ctl, int64_t image_id, const char *msg)
{
    struct vr_tx tx;
    struct vr_image im;

    if (vr_tx_begin(&ctl->db, &tx, NULL) < 0)
        return;
    if (vr_pool_get(&ctl->db.images, image_id, &im) < 0 ||
        im.state != VR_IMAGE_PENDING) {
        vr_tx_abort(&tx);
        return;
    }
    vr_strlcpy(im.error, msg, sizeof(im.error));
    if (vr_tx_put(&tx, &ctl->db.images, &im, NULL) < 0) {
        vr_tx_abort(&tx);
        return;
    }
    vr_tx_commit(&tx, NULL);
}

int vr_upload_finish(struct vr_upload *up, struct vr_error *err)
{
    struct vr_ctl *ctl = up->ctl;
    struct vr_image im;
    struct vr_quota charge;
    char sha[65];

    if (fsync(up->fd) < 0) {
        vr_err(err, VR_E_INTERNAL, "fsync: %s", strerror(errno));
        goto fail;
    }
    close(up->fd);
    up->fd = -1;
    sha_hex(&up->sha, sha);
    if (vr_pool_get(&ctl->db.images, up->image_id, &im) < 0) {
        vr_err(err, VR_E_NOT_FOUND, "the image was deleted during the upload");
        goto fail;
    }
    if (seal(ctl, &im, up->tmp_path, sha, err) < 0)
        goto fail;
    /* the stored size counts against the image storage quota */
    memset(&charge, 0, sizeof(charge));
    charge.image_mib = (int64_t)((im.size + (1 << 20) - 1) >> 20);
    if (put_charged(ctl, &im, &charge, true, err) < 0)
        goto fail_sealed;
    VR_INFO(MOD, "image '%s' uploaded: %llu bytes, sha256 %s", im.hdr.name,
            (unsigned long long)im.size, im.sha256);
    vr_upload_free(up);
    return 0;
fail_sealed:
    unlink(im.path);
fail:
    record_error(ctl, up->image_id, err ? err->msg : "upload failed");
    vr_upload_free(up);
    return -1;
}

void vr_upload_abort(struct vr_upload *up, const char *why)
{
    if (!up)
        return;
    record_error(up->ctl, up->image_id, why);
    VR_WARN(MOD, "upload to image %lld abandoned: %s",
            (long long)up->image_id, why);
    vr_upload_free(up);
}

void vr_upload_free(struct vr_upload *up)
{
    if (!up)
        return;
    if (up->fd >= 0)
        close(up->fd);
    if (up->tmp_path)
        unlink(up->tmp_path);
    pthread_mutex_lock(&up->ctl->ulock);
    vr_map_del_int(&up->ctl->uploads, up->image_id);
    pthread_mutex_unlock(&up->ctl->ulock);
    free(up->tmp_path);
    free(up);
}
