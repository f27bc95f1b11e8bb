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
#include <dirent.h>
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
    int64_t user_id;           /* who uploads (uploads per user are
                                * bounded) */
    char *tmp_path;
    int fd;
    uint64_t written;
    uint64_t reserved_mib;     /* image storage charged to the quota so
                                * far (on the image record too) */
    bool declared;             /* the size was given (Content-Length) */
    crypto_hash_sha256_state sha;
};

/* Temporary files in the image datastore carry the installation's id, so
 * that the start-up reconcile removes only its own. */
static char *temp_path(struct vr_ctl *ctl, const char *what, int64_t id)
{
    return vr_asprintf("%s/.%s-%s-%lld.part", ctl->cfg->image_dir, what,
                       ctl->instance, (long long)id);
}

/* Where a deleted image's file waits for the commit of its delete. */
static char *trash_path(struct vr_ctl *ctl, const struct vr_image *im)
{
    return vr_asprintf("%s/.deleted-%s-%s.%s", ctl->cfg->image_dir,
                       ctl->instance, im->hdr.uuid, im->format);
}

static uint64_t mib_up(uint64_t bytes)
{
    return (bytes + (1ULL << 20) - 1) >> 20;
}

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
    /* read-only, and for no one else (QEMU gets it through libvirt) */
    if (chmod(tmp, 0400) < 0 || rename(tmp, final) < 0) {
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
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
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

/* Write a new or changed image and charge its quota delta in one
 * transaction: `delta` counted against the limits (sign +1) or given back
 * (sign -1, never refused). */
static int put_charged(struct vr_ctl *ctl, struct vr_image *im,
                       const struct vr_quota *delta, int sign,
                       bool must_exist, struct vr_error *err)
{
    struct vr_tx tx;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (must_exist && !vr_pool_has(&ctl->db.images, im->hdr.id)) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "the image was deleted meanwhile");
    }
    if (vr_quota_charge(ctl, &tx, im->hdr.owner_id, im->hdr.group_id, delta,
                        sign, err) < 0 ||
        vr_tx_put(&tx, &ctl->db.images, im, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

/* Set the upload's reservation to `mib` (the record as it is now, under
 * the write lock), charging or giving back the difference; with `error`,
 * record it too (the upload ended). */
static int set_reserved(struct vr_ctl *ctl, int64_t image_id, uint64_t mib,
                        const char *error, struct vr_error *err)
{
    struct vr_image im;
    struct vr_quota d;
    struct vr_tx tx;
    int sign;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.images, image_id, &im) < 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "the image was deleted meanwhile");
    }
    memset(&d, 0, sizeof(d));
    /* what counts is max(stored size, reservation): a PENDING image
     * stores nothing, so the reservation alone */
    sign = mib >= im.reserved_mib ? 1 : -1;
    d.image_mib = (int64_t)(sign > 0 ? mib - im.reserved_mib
                                     : im.reserved_mib - mib);
    im.reserved_mib = mib;
    if (error && im.state == VR_IMAGE_PENDING)
        vr_strlcpy(im.error, error, sizeof(im.error));
    if (vr_quota_charge(ctl, &tx, im.hdr.owner_id, im.hdr.group_id, &d, sign,
                        err) < 0 ||
        vr_tx_put(&tx, &ctl->db.images, &im, err) < 0) {
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
        tmp = temp_path(ctl, "import", im.hdr.id);
        if (copy_hashing(src, tmp, ctl->cfg->max_upload, sha, err) < 0 ||
            seal(ctl, &im, tmp, sha, err) < 0) {
            unlink(tmp);
            return -1;
        }
        vr_quota_of_image(&im, &charge);
        if (put_charged(ctl, &im, &charge, 1, false, err) < 0) {
            unlink(im.path);
            return -1;
        }
        VR_INFO(MOD, "imported image '%s' from %s", im.hdr.name, src);
    } else {
        vr_quota_of_image(&im, &charge);
        if (put_charged(ctl, &im, &charge, 1, false, err) < 0)
            return -1;
    }
    *image_id = im.hdr.id;
    return 0;
}

struct use_ctx {
    struct vr_ctl *ctl;
    const struct vr_principal *who;
    int64_t image_id;
    int count;
    char first[VR_NAME_SIZE];      /* the first the caller may see */
};

static int count_users(const void *obj, void *opaque)
{
    const struct vr_vm *vm = obj;
    struct use_ctx *uc = opaque;

    if (vm->image_id == uc->image_id && !vm->full_clone) {
        uc->count++;
        if (!uc->first[0] &&
            (!uc->who || vr_authz_can(&uc->ctl->authz, uc->who, VR_RES_VM,
                                      &vm->hdr, VR_RIGHT_USE)))
            vr_strlcpy(uc->first, vm->hdr.name, sizeof(uc->first));
    }
    return 0;
}

int vr_images_delete(struct vr_ctl *ctl, const struct vr_principal *who,
                     int64_t image_id, struct vr_error *err)
{
    struct vr_image im;
    struct use_ctx uc = {ctl, who, image_id, 0, ""};
    struct vr_tx tx;
    bool uploading;
    char *trash = NULL;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.images, image_id, &im) < 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "image %lld not found",
                      (long long)image_id);
    }
    vr_pool_foreach(&ctl->db.vms, count_users, &uc);
    if (uc.count) {
        /* VMs of other tenants may use a shared image: they are never
         * named, nor counted apart */
        vr_tx_abort(&tx);
        if (uc.first[0])
            return vr_err(err, VR_E_CONFLICT, "image '%s' is used by vms "
                          "(one of them: '%s'); delete them first",
                          im.hdr.name, uc.first);
        return vr_err(err, VR_E_CONFLICT, "image '%s' is used by vms you "
                      "cannot see; ask their owners or an administrator",
                      im.hdr.name);
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
    /* The file goes to the trash (a name carrying this installation's id)
     * before the commit and is removed after it: a crash in between never
     * leaves a datastore file no record names, nor a record without its
     * file (the start-up reconcile restores or removes the trash). */
    if (im.path[0]) {
        trash = trash_path(ctl, &im);
        if (rename(im.path, trash) < 0 && errno != ENOENT) {
            vr_err(err, VR_E_INTERNAL, "unable to remove the image file: %s",
                   strerror(errno));
            free(trash);
            vr_tx_abort(&tx);
            return -1;
        }
    }
    if (vr_tx_commit(&tx, err) < 0) {
        if (trash && rename(trash, im.path) < 0)
            VR_WARN(MOD, "unable to restore %s: %s", im.path, strerror(errno));
        free(trash);
        return -1;
    }
    if (trash && unlink(trash) < 0 && errno != ENOENT)
        VR_WARN(MOD, "unable to remove %s: %s", trash, strerror(errno));
    free(trash);
    VR_INFO(MOD, "deleted image '%s'", im.hdr.name);
    return 0;
}

/* ---- uploads */

/* A chunked upload (no size given) reserves as it goes: at least 1 MiB
 * more, or an eighth of what it has reached, at most 1 GiB at a time. */
static uint64_t next_reservation(uint64_t written)
{
    uint64_t step = mib_up(written) / 8;

    if (step < 1)
        step = 1;
    if (step > 1024)
        step = 1024;
    return mib_up(written) + step;
}

static int count_user_uploads(struct vr_ctl *ctl, int64_t user_id)
{
    size_t pos = 0;
    struct vr_upload *u;
    int n = 0;

    while ((u = vr_map_next(&ctl->uploads, &pos)))
        n += u->user_id == user_id;
    return n;
}

struct vr_upload *vr_upload_begin(struct vr_ctl *ctl, int64_t image_id,
                                  int64_t user_id, uint64_t declared_size,
                                  struct vr_error *err)
{
    struct vr_image im;
    struct vr_upload *up;
    int mine;

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
    mine = count_user_uploads(ctl, user_id);
    if (mine >= ctl->cfg->max_uploads_per_user) {
        pthread_mutex_unlock(&ctl->ulock);
        vr_err(err, VR_E_THROTTLED, "%d uploads of yours are in progress "
               "already (at most %d at once)", mine,
               ctl->cfg->max_uploads_per_user);
        return NULL;
    }
    up = vr_calloc(1, sizeof(*up));
    up->ctl = ctl;
    up->image_id = image_id;
    up->user_id = user_id;
    up->fd = -1;
    vr_map_put_int(&ctl->uploads, image_id, up);
    pthread_mutex_unlock(&ctl->ulock);

    /* The declared size is charged to the image storage quota before a
     * byte is written: an upload over quota is refused at once (413 or
     * 409 before the body is read), never after filling the disk. */
    up->declared = declared_size > 0;
    up->reserved_mib = up->declared ? mib_up(declared_size)
                                    : next_reservation(0);
    if (set_reserved(ctl, image_id, up->reserved_mib, NULL, err) < 0) {
        up->reserved_mib = 0;
        vr_upload_free(up);
        return NULL;
    }
    up->tmp_path = temp_path(ctl, "upload", image_id);
    up->fd = open(up->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0600);
    if (up->fd < 0) {
        vr_err(err, VR_E_INTERNAL, "unable to create '%s': %s", up->tmp_path,
               strerror(errno));
        vr_upload_abort(up, "the datastore refused the upload");
        return NULL;
    }
    crypto_hash_sha256_init(&up->sha);
    return up;
}

int vr_upload_write(struct vr_upload *up, const void *data, size_t len,
                    struct vr_error *err)
{
    uint64_t after = up->written + len;

    if (after > up->ctl->cfg->max_upload)
        return vr_err(err, VR_E_TOO_LARGE, "upload is over the limit of %llu "
                      "bytes", (unsigned long long)up->ctl->cfg->max_upload);
    if (mib_up(after) > up->reserved_mib) {
        /* a declared size is never passed (the HTTP layer holds the body
         * to Content-Length); a chunked upload reserves more, and stops
         * here when the quota says no */
        uint64_t more = next_reservation(after);
        if (up->declared)
            return vr_err(err, VR_E_INVALID, "more data than declared");
        if (set_reserved(up->ctl, up->image_id, more, NULL, err) < 0)
            return -1;
        up->reserved_mib = more;
    }
    crypto_hash_sha256_update(&up->sha, data, len);
    if (write_all(up->fd, data, len, err) < 0)
        return -1;
    up->written = after;
    return 0;
}

int vr_upload_finish(struct vr_upload *up, struct vr_error *err)
{
    struct vr_ctl *ctl = up->ctl;
    struct vr_image im;
    struct vr_quota charge;
    char sha[65];
    int sign;

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
    /* the stored size replaces the reservation */
    memset(&charge, 0, sizeof(charge));
    sign = mib_up(im.size) >= im.reserved_mib ? 1 : -1;
    charge.image_mib = (int64_t)(sign > 0 ? mib_up(im.size) - im.reserved_mib
                                          : im.reserved_mib - mib_up(im.size));
    im.reserved_mib = 0;
    if (put_charged(ctl, &im, &charge, sign, true, err) < 0)
        goto fail_sealed;
    up->reserved_mib = 0;
    VR_INFO(MOD, "image '%s' uploaded: %llu bytes, sha256 %s", im.hdr.name,
            (unsigned long long)im.size, im.sha256);
    vr_upload_free(up);
    return 0;
fail_sealed:
    unlink(im.path);
fail:
    vr_upload_abort(up, err ? err->msg : "upload failed");
    return -1;
}

void vr_upload_abort(struct vr_upload *up, const char *why)
{
    if (!up)
        return;
    VR_WARN(MOD, "upload to image %lld abandoned: %s",
            (long long)up->image_id, why);
    /* the reservation goes back, and the image says why it is empty */
    if (set_reserved(up->ctl, up->image_id, 0, why, NULL) == 0)
        up->reserved_mib = 0;
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

/* ---- the datastore after a start */

/* "<what>-<instance>-" at the start of `name` (after the dot)? */
static bool ours_named(struct vr_ctl *ctl, const char *name,
                       const char *what)
{
    size_t w = strlen(what), i = strlen(ctl->instance);
    return name[0] == '.' && strncmp(name + 1, what, w) == 0 &&
           name[1 + w] == '-' &&
           strncmp(name + 2 + w, ctl->instance, i) == 0 &&
           name[2 + w + i] == '-';
}

static int find_by_uuid(const void *obj, void *ctx)
{
    const struct vr_image *im = obj;
    const char **uuid = ctx;
    if (strcmp(im->hdr.uuid, *uuid) == 0) {
        *uuid = NULL;  /* found */
        return 1;
    }
    return 0;
}

struct fixes {
    int64_t *ids;
    size_t n, cap;
};

static int pending_or_broken(const void *obj, void *ctx)
{
    const struct vr_image *im = obj;
    struct fixes *f = ctx;
    if (im->state == VR_IMAGE_PENDING || !im->error[0]) {
        if (f->n == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 16;
            f->ids = vr_realloc(f->ids, f->cap * sizeof(*f->ids));
        }
        f->ids[f->n++] = im->hdr.id;
    }
    return 0;
}

int vr_images_reconcile(struct vr_ctl *ctl, struct vr_error *err)
{
    DIR *d = opendir(ctl->cfg->image_dir);
    struct dirent *de;
    struct fixes f = {NULL, 0, 0};
    int removed = 0, restored = 0, fixed = 0;

    if (!d)
        return errno == ENOENT ? 0
                               : vr_err(err, VR_E_INTERNAL, "unable to read "
                                        "'%s': %s", ctl->cfg->image_dir,
                                        strerror(errno));
    /* 1. files of this installation's that no upload, import or delete
     * needs any more (none runs yet) */
    while ((de = readdir(d))) {
        vr_autofree char *path = NULL;
        const char *name = de->d_name;
        if (name[0] != '.')
            continue;
        path = vr_asprintf("%s/%s", ctl->cfg->image_dir, name);
        if (ours_named(ctl, name, "upload") || ours_named(ctl, name,
                                                          "import")) {
            if (unlink(path) == 0)
                removed++;
        } else if (ours_named(ctl, name, "deleted")) {
            /* .deleted-<instance>-<uuid>.<format>: the delete committed
             * (no record): remove; it did not (a record): put it back */
            char uuid[VR_UUID_LEN];
            const char *u = name + strlen(".deleted-") +
                            strlen(ctl->instance) + 1;
            const char *probe = uuid;
            vr_strlcpy(uuid, u, sizeof(uuid));
            vr_pool_foreach(&ctl->db.images, find_by_uuid, &probe);
            if (probe) {
                if (unlink(path) == 0)
                    removed++;
            } else {
                vr_autofree char *back = vr_asprintf("%s/%s",
                                                     ctl->cfg->image_dir,
                                                     u);
                if (rename(path, back) == 0)
                    restored++;
            }
        } else if (strncmp(name, ".upload-", 8) == 0 ||
                   strncmp(name, ".import-", 8) == 0 ||
                   strncmp(name, ".deleted-", 9) == 0) {
            VR_WARN(MOD, "'%s' is not this installation's (or is from "
                    "before files carried its id): left alone", path);
        }
    }
    closedir(d);
    /* 2. records: an upload cut by the restart gives back its
     * reservation and says so (a file it had already moved into place is
     * its own: the record has its UUID); a READY image whose file is gone
     * says that */
    vr_pool_foreach(&ctl->db.images, pending_or_broken, &f);
    for (size_t i = 0; i < f.n; i++) {
        struct vr_image im;
        char final[VR_ERROR_MSG_SIZE + 64];
        if (vr_pool_get(&ctl->db.images, f.ids[i], &im) < 0)
            continue;
        snprintf(final, sizeof(final), "%s/%s.%s", ctl->cfg->image_dir,
                 im.hdr.uuid, im.format);
        if (im.state == VR_IMAGE_PENDING) {
            if (unlink(final) == 0)
                removed++;
            if (im.reserved_mib &&
                set_reserved(ctl, im.hdr.id, 0, "the upload was cut short "
                             "by a restart of vireod; upload again", NULL) == 0)
                fixed++;
        } else if (!vr_path_exists(im.path)) {
            struct vr_tx tx;
            VR_WARN(MOD, "image '%s': its file %s is missing", im.hdr.name,
                    im.path);
            if (vr_tx_begin(&ctl->db, &tx, NULL) == 0) {
                vr_strlcpy(im.error, "its file is missing from the image "
                           "datastore", sizeof(im.error));
                if (vr_tx_put(&tx, &ctl->db.images, &im, NULL) == 0 &&
                    vr_tx_commit(&tx, NULL) == 0)
                    fixed++;
                else
                    vr_tx_abort(&tx);
            }
        }
    }
    free(f.ids);
    if (removed || restored || fixed)
        VR_INFO(MOD, "image datastore: %d leftover files removed, %d "
                "restored, %d images corrected", removed, restored, fixed);
    return 0;
}
