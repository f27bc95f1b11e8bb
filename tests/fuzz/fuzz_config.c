/*
 * fuzz_config.c - the settings parser (vr_config.h): a whole config file
 * read by vr_config_load, each of its `key = value` lines applied with
 * vr_config_set, then vr_config_finish and vr_config_release.
 *
 * Checked: the file reader agrees with a reference reader written here
 * from the documented format (lines of any length, '#' comments, blank
 * lines, `key = value` with spaces trimmed), in success and in the
 * resulting settings; integer settings stay within their documented
 * ranges (docs/operations.md); a refusal has a message.
 */
#include <ctype.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "vr_config.h"

static int memfd = -1;
static char memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memfd = memfd_create("vireo-fuzz-config", MFD_CLOEXEC);
    FUZZ_CHECK(memfd >= 0);
    snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
    return 0;
}

static const struct {
    size_t off;
    int min, max;
} int_settings[] = {
    {offsetof(struct vr_config, probe_timeout_s), 1, 600},
    {offsetof(struct vr_config, workers), 1, 64},
    {offsetof(struct vr_config, http_max_conns), 4, 65536},
    {offsetof(struct vr_config, http_max_conns_per_address), 1, 65536},
    {offsetof(struct vr_config, http_threads), 1, 64},
    {offsetof(struct vr_config, http_workers), 1, 256},
    {offsetof(struct vr_config, http_header_timeout_s), 1, 3600},
    {offsetof(struct vr_config, http_idle_timeout_s), 5, 3600},
    {offsetof(struct vr_config, http_min_body_rate), 0, 1 << 30},
    {offsetof(struct vr_config, http_max_streams_per_user), 1, 65536},
    {offsetof(struct vr_config, http_max_waits_per_user), 1, 65536},
    {offsetof(struct vr_config, max_uploads_per_user), 1, 64},
    {offsetof(struct vr_config, audit_max_size_mib), 1, 1 << 20},
    {offsetof(struct vr_config, audit_keep), 1, 1000},
    {offsetof(struct vr_config, stop_timeout_s), 1, 3600},
    {offsetof(struct vr_config, token_ttl_s), 60, 365 * 86400},
    {offsetof(struct vr_config, poll_interval_s), 1, 3600},
    {offsetof(struct vr_config, node_timeout_s), 1, 3600},
    {offsetof(struct vr_config, job_retention_s), 60, 365 * 86400},
};

static void check_ranges(const struct vr_config *cfg)
{
    for (size_t i = 0; i < VR_ARRAY_SIZE(int_settings); i++) {
        int v = *(const int *)((const char *)cfg + int_settings[i].off);
        FUZZ_CHECK(v >= int_settings[i].min && v <= int_settings[i].max);
    }
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_config(const struct vr_config *a, const struct vr_config *b)
{
    return str_eq(a->state_dir, b->state_dir) &&
           str_eq(a->listen, b->listen) &&
           str_eq(a->store_url, b->store_url) &&
           str_eq(a->libvirt_uri, b->libvirt_uri) &&
           str_eq(a->image_dir, b->image_dir) &&
           str_eq(a->system_dir, b->system_dir) &&
           str_eq(a->import_dirs, b->import_dirs) &&
           str_eq(a->probe_kernel, b->probe_kernel) &&
           str_eq(a->probe_initrd, b->probe_initrd) &&
           str_eq(a->hypervisor, b->hypervisor) &&
           str_eq(a->log_file, b->log_file) &&
           str_eq(a->log_level, b->log_level) &&
           a->probe_timeout_s == b->probe_timeout_s &&
           a->max_image_vsize == b->max_image_vsize &&
           a->max_body == b->max_body && a->max_upload == b->max_upload &&
           a->workers == b->workers &&
           a->http_max_conns == b->http_max_conns &&
           a->http_max_conns_per_address == b->http_max_conns_per_address &&
           a->http_threads == b->http_threads &&
           a->http_workers == b->http_workers &&
           a->http_header_timeout_s == b->http_header_timeout_s &&
           a->http_idle_timeout_s == b->http_idle_timeout_s &&
           a->http_min_body_rate == b->http_min_body_rate &&
           a->http_max_streams_per_user == b->http_max_streams_per_user &&
           a->http_max_waits_per_user == b->http_max_waits_per_user &&
           a->max_uploads_per_user == b->max_uploads_per_user &&
           a->audit_max_size_mib == b->audit_max_size_mib &&
           a->audit_keep == b->audit_keep &&
           a->stop_timeout_s == b->stop_timeout_s &&
           a->token_ttl_s == b->token_ttl_s &&
           a->poll_interval_s == b->poll_interval_s &&
           a->job_retention_s == b->job_retention_s;
}

static char *trim(char *s)
{
    char *e = s + strlen(s);
    while (isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* The documented format, one '\n'-terminated line at a time (a line is a
 * C string: it ends at a NUL byte). */
static int ref_load(struct vr_config *cfg, char *text, size_t len)
{
    char *end = text + len;

    for (char *line = text; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        char *next = nl ? nl + 1 : end;
        char *s, *eq;

        if (nl)
            *nl = '\0';
        s = trim(line);
        line = next;
        if (!*s || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (!eq)
            return -1;
        *eq = '\0';
        if (vr_config_set(cfg, trim(s), trim(eq + 1), NULL) < 0)
            return -1;
        check_ranges(cfg);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_config cfg, ref;
    char *text = fuzz_str(data, size);
    int rc, ref_rc;

    FUZZ_CHECK(ftruncate(memfd, 0) == 0);
    FUZZ_CHECK(pwrite(memfd, data, size, 0) == (ssize_t)size);

    vr_config_defaults(&cfg, "/var/lib/vireo-fuzz");
    vr_config_defaults(&ref, "/var/lib/vireo-fuzz");
    rc = vr_config_load(&cfg, memfd_path, &err);
    ref_rc = ref_load(&ref, text, size);
    FUZZ_CHECK(rc == ref_rc);
    if (rc < 0) {
        FUZZ_CHECK(fuzz_err_ok(&err) && err.code == VR_E_INVALID);
    } else {
        check_ranges(&cfg);
        FUZZ_CHECK(same_config(&cfg, &ref));
        vr_config_finish(&cfg);
        FUZZ_CHECK(cfg.store_url && *cfg.store_url && cfg.image_dir &&
                   *cfg.image_dir && cfg.system_dir && *cfg.system_dir &&
                   cfg.import_dirs && *cfg.import_dirs);
    }
    vr_config_release(&cfg);
    vr_config_release(&ref);
    free(text);
    return 0;
}
