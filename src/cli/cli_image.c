/*
 * cli_image.c - `vireo image ...`.
 *
 * Uploading an image (image create) is three steps:
 *   1. hash the local file (SHA-256, streamed) and detect its format;
 *   2. POST /images {name, format, sha256}: a PENDING image;
 *   3. PUT /images/{id}/data, streamed from the file; the server checks the
 *      checksum and the format and makes the image READY.
 * If step 3 fails, or is interrupted, the pending image is deleted, so
 * that a bad upload leaves nothing behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_cmds.h"
#include "vr_util.h"

#define HASH_CHUNK (1u << 20)
#define PROGRESS_EVERY_MS 200
#define DELETE_TRIES 10
#define DELETE_PAUSE_MS 500

enum {
    OPT_FILE = 256,
    OPT_FORMAT,
    OPT_PATH,
};

#define OUTPUT_HELP                                                            \
    "  -o, --output FMT   table or json\n"                                     \
    "  -h, --help         show this help\n"

static const char image_help[] =
    "Usage: vireo image COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  create NAME --file PATH [--format qcow2|raw]\n"
    "                     upload a local disk image\n"
    "  import NAME --path SERVER_PATH [--format qcow2|raw]\n"
    "                     register a file that is already on the server\n"
    "  list               list images: ID NAME STATE FORMAT SIZE VIRTUAL\n"
    "  show IMAGE         show an image (id, UUID or name)\n"
    "  delete IMAGE       delete an image no VM uses\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char image_create_help[] =
    "Usage: vireo image create NAME --file PATH [--format qcow2|raw]\n"
    "\n"
    "Upload a disk image.  Its SHA-256 is computed here first and checked by\n"
    "the server, which also checks the format; if the upload fails nothing\n"
    "is left behind.  Progress is shown when stderr is a terminal.\n"
    "\n"
    "Options:\n"
    "  --file PATH        the local image file (required)\n"
    "  --format FMT       qcow2 or raw (default: qcow2 if the file starts\n"
    "                     with the qcow2 magic, else raw)\n" OUTPUT_HELP;

static const char image_import_help[] =
    "Usage: vireo image import NAME --path SERVER_PATH [--format qcow2|raw]\n"
    "\n"
    "Register an image from a file on the server's machine, in a directory\n"
    "the server allows imports from.  The file is copied into the image\n"
    "datastore.\n"
    "\n"
    "Options:\n"
    "  --path PATH        the file on the server (required)\n"
    "  --format FMT       qcow2 or raw (default qcow2)\n" OUTPUT_HELP;

static const char image_list_help[] =
    "Usage: vireo image list\n"
    "\n"
    "List images: ID NAME STATE FORMAT SIZE VIRTUAL (SIZE is the file,\n"
    "VIRTUAL the disk the guest sees).\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char image_show_help[] = "Usage: vireo image show IMAGE\n"
                                      "\n"
                                      "Show an image (by id, UUID or name).\n"
                                      "\n"
                                      "Options:\n" OUTPUT_HELP;

static const char image_delete_help[] =
    "Usage: vireo image delete IMAGE\n"
    "\n"
    "Delete an image (by id, UUID or name) and its file.  An image that a\n"
    "VM uses cannot be deleted.\n"
    "\n"
    "Options:\n"
    "  -h, --help         show this help\n";

static bool format_ok(const char *f)
{
    return strcmp(f, "qcow2") == 0 || strcmp(f, "raw") == 0;
}

/* The command line of image create and import. */
struct image_args {
    const char *src;    /* the source option's value (--file, --path) */
    const char *format; /* --format, or the default set by the caller */
    const char *name;   /* NAME */
};

/* Parse NAME, the source option that opts[0] describes (required) and
 * --format into `a`.  Returns 0, or -1 when the command ends with *status
 * (help was printed, or a usage error reported). */
static int parse_image_args(struct cli *cli, int argc, char **argv,
                            const struct option *opts, const char *help,
                            struct image_args *a, int *status)
{
    struct vr_error err = VR_ERROR_INIT;
    int c;

    *status = CLI_OK;
    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, help, status)) != -1) {
        if (c == opts[0].val)
            a->src = optarg;
        else if (c == OPT_FORMAT)
            a->format = optarg;
        else
            return -1;
    }
    if ((*status = cli_check_args(cli, argc - optind, 1, 1, "NAME")) != CLI_OK)
        return -1;
    a->name = argv[optind];
    if (vr_name_check(a->name, "image name", &err) < 0)
        *status = cli_usage(cli, "%s", err.msg);
    else if (!a->src)
        *status = cli_usage(cli, "--%s is required", opts[0].name);
    else if (a->format && !format_ok(a->format))
        *status = cli_usage(cli, "--format must be qcow2 or raw, not '%.32s'",
                            a->format);
    return *status == CLI_OK ? 0 : -1;
}

/* ---- image create */

struct progress {
    const struct cli *cli;
    const char *what; /* "checksum" or "upload" */
    const char *name;
    int64_t started;
    int64_t shown;
};

static void progress_show(struct progress *p, uint64_t done, uint64_t total,
                          bool force)
{
    int64_t now = vr_mono_ms();
    double secs = (double)(now - p->started) / 1000.0;
    double rate = secs > 0 ? (double)done / secs / (1024.0 * 1024.0) : 0;

    if (!p->cli->tty_err || (!force && now - p->shown < PROGRESS_EVERY_MS))
        return;
    p->shown = now;
    if (secs < 0.5)
        cli_status_line(p->cli, "%s '%s': %3d%%", p->what, p->name,
                        total ? (int)(done * 100 / total) : 100);
    else
        cli_status_line(p->cli, "%s '%s': %3d%% (%.1f MiB/s)", p->what, p->name,
                        total ? (int)(done * 100 / total) : 100, rate);
}

static void on_upload_progress(uint64_t done, uint64_t total, void *ctx)
{
    progress_show(ctx, done, total, false);
}

/* SHA-256 of the open file as lower-case hex. */
static int hash_file(int fd, uint64_t size, struct progress *p, char hex[65],
                     struct vr_error *err)
{
    crypto_hash_sha256_state st;
    unsigned char digest[crypto_hash_sha256_BYTES];
    vr_autofree unsigned char *buf = vr_malloc(HASH_CHUNK);
    uint64_t done = 0;

    crypto_hash_sha256_init(&st);
    for (;;) {
        ssize_t r = read(fd, buf, HASH_CHUNK);
        if (r < 0 && errno == EINTR && !cli_interrupted)
            continue;
        if (cli_interrupted)
            return vr_err(err, VR_E_INTERNAL, "interrupted");
        if (r < 0)
            return vr_err(err, VR_E_INTERNAL, "unable to read the file: %s",
                          strerror(errno));
        if (r == 0)
            break;
        crypto_hash_sha256_update(&st, buf, (unsigned long long)r);
        done += (uint64_t)r;
        progress_show(p, done, size, false);
    }
    if (done != size)
        return vr_err(err, VR_E_INTERNAL,
                      "the file changed size while it "
                      "was read");
    crypto_hash_sha256_final(&st, digest);
    vr_hex(digest, sizeof(digest), hex);
    return 0;
}

/* Delete the pending image after a failed upload.  The server may still
 * be closing the upload for a moment (409): try again briefly. */
static int delete_pending(struct cli *cli, long long id, struct vr_error *err)
{
    vr_autofree char *path = vr_asprintf("/api/v1/images/%lld", id);

    for (int i = 0;; i++) {
        if (cli_http_call(cli->http, "DELETE", path, NULL, 0, NULL, err) == 0 ||
            cli_http_status(cli->http) == 404)
            return 0;
        if (cli_http_status(cli->http) != 409 || i + 1 == DELETE_TRIES)
            return -1;
        vr_sleep_ms(DELETE_PAUSE_MS);
    }
}

/* Steps 2 and 3 on an open, hashed file.  Returns the exit status. */
static int upload(struct cli *cli, const char *name, const char *format,
                  const char *sha, int fd, uint64_t size, struct progress *p)
{
    struct vr_error err = VR_ERROR_INIT, derr = VR_ERROR_INIT;
    vr_autofree char *path = NULL;
    json_t *body, *image, *ready;
    long long id;
    int ret;

    body = json_pack("{s:s, s:s, s:s}", "name", name, "format", format,
                     "sha256", sha);
    if (!body)
        return cli_failf("the image name is not valid UTF-8");
    ret = cli_http_call(cli->http, "POST", "/api/v1/images", body, 0, &image,
                        &err);
    json_decref(body);
    if (ret < 0)
        return cli_fail(&err);
    id = (long long)json_integer_value(json_object_get(image, "id"));
    json_decref(image);
    if (id <= 0)
        return cli_failf("the server's answer names no image id");

    path = vr_asprintf("/api/v1/images/%lld/data", id);
    p->what = "upload";
    p->started = vr_mono_ms();
    p->shown = 0;
    ret = cli_http_upload(cli->http, path, fd, size, on_upload_progress, p,
                          &ready, &err);
    if (ret == 0)
        progress_show(p, size, size, true);
    cli_status_clear(cli);
    if (ret < 0) {
        /* a second ^C during the clean-up ends the program */
        cli_catch_signals(false);
        cli_interrupted = 0;
        if (delete_pending(cli, id, &derr) < 0)
            return cli_failf("%s (and the pending image %lld could not be "
                             "deleted: %s)",
                             err.msg, id, derr.msg);
        return cli_fail(&err);
    }
    cli_print_item(cli, ready);
    json_decref(ready);
    return CLI_OK;
}

static int image_create(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, OPT_FILE},
        {"format", required_argument, NULL, OPT_FORMAT},
        CLI_COMMON_OPTIONS,
        {0}};
    struct vr_error err = VR_ERROR_INIT;
    struct image_args a = {NULL, NULL, NULL};
    struct progress p;
    struct stat st;
    unsigned char magic[4];
    char sha[65];
    int status, fd;

    if (parse_image_args(cli, argc, argv, opts, image_create_help, &a,
                         &status) < 0)
        return status;
    fd = open(a.src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cli_failf("unable to open '%s': %s", a.src, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cli_failf("'%s' is not a regular file", a.src);
    }
    if (st.st_size == 0) {
        close(fd);
        return cli_failf("'%s' is empty", a.src);
    }
    if (!a.format)
        a.format = pread(fd, magic, sizeof(magic), 0) == sizeof(magic) &&
                           memcmp(magic, "QFI\xfb", 4) == 0
                       ? "qcow2"
                       : "raw";
    if ((status = cli_connect(cli)) != CLI_OK) {
        close(fd);
        return status;
    }
    memset(&p, 0, sizeof(p));
    p.cli = cli;
    p.name = a.name;
    p.what = "checksum";
    p.started = vr_mono_ms();
    cli_catch_signals(true);
    if (hash_file(fd, (uint64_t)st.st_size, &p, sha, &err) < 0) {
        cli_catch_signals(false);
        cli_status_clear(cli);
        close(fd);
        return cli_fail(&err);
    }
    status = upload(cli, a.name, a.format, sha, fd, (uint64_t)st.st_size, &p);
    cli_catch_signals(false);
    close(fd);
    return status;
}

/* ---- image import / list / show / delete */

static int image_import(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"path", required_argument, NULL, OPT_PATH},
        {"format", required_argument, NULL, OPT_FORMAT},
        CLI_COMMON_OPTIONS,
        {0}};
    struct vr_error err = VR_ERROR_INIT;
    struct image_args a = {NULL, "qcow2", NULL};
    json_t *body, *image;
    int status, ret;

    if (parse_image_args(cli, argc, argv, opts, image_import_help, &a,
                         &status) < 0 ||
        (status = cli_connect(cli)) != CLI_OK)
        return status;
    body = json_pack("{s:s, s:s, s:s}", "name", a.name, "format", a.format,
                     "path", a.src);
    if (!body)
        return cli_failf("the path is not valid UTF-8");
    /* the server copies the file before it answers */
    ret = cli_http_call(cli->http, "POST", "/api/v1/images", body,
                        CLI_HTTP_LONG, &image, &err);
    json_decref(body);
    if (ret < 0)
        return cli_fail(&err);
    cli_print_item(cli, image);
    json_decref(image);
    return CLI_OK;
}

/* ID NAME STATE FORMAT SIZE VIRTUAL; a pending image has no sizes yet */
static void image_row(struct cli_table *t, const json_t *im)
{
    char id[24], size[16], vsize[16];
    const bool pending = strcmp(cli_jstr(im, "state"), "PENDING") == 0;
    const char *row[] = {
        cli_jint(im, "id", id, sizeof(id)),
        cli_jstr(im, "name"),
        cli_jstr(im, "state"),
        cli_jstr(im, "format"),
        pending ? "-" : cli_jsize(im, "size", 1, size, sizeof(size)),
        pending ? "-" : cli_jsize(im, "virtual_size", 1, vsize, sizeof(vsize))};

    cli_table_add(t, row);
}

static int image_list(struct cli *cli, int argc, char **argv)
{
    static const char *const head[] = {"ID",     "NAME", "STATE",
                                       "FORMAT", "SIZE", "VIRTUAL"};
    static const struct cli_list l = {
        .help = image_list_help,
        .path = "/api/v1/images",
        .head = head,
        .ncols = VR_ARRAY_SIZE(head),
        .add_row = image_row,
    };
    return cli_cmd_list(cli, argc, argv, &l);
}

static int image_show(struct cli *cli, int argc, char **argv)
{
    return cli_cmd_show(cli, argc, argv, image_show_help, "images", "IMAGE");
}

static int image_delete(struct cli *cli, int argc, char **argv)
{
    static const struct cli_delete d = {image_delete_help, "images", "IMAGE",
                                        "image", "image", "deleted"};
    return cli_cmd_delete(cli, argc, argv, &d);
}

int cli_cmd_image(struct cli *cli, int argc, char **argv)
{
    static const struct cli_subcmd cmds[] = {
        {"create", image_create}, {"import", image_import},
        {"list", image_list},     {"show", image_show},
        {"delete", image_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, VR_ARRAY_SIZE(cmds), image_help);
}
