#include "vr_config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "vr_tls.h"
#include "vr_util.h"

enum opt_type { OPT_STR, OPT_INT, OPT_SIZE, OPT_BOOL };

static const struct {
    const char *key;
    enum opt_type type;
    size_t off;
    int64_t min, max;
} options[] = {
#define S(k, f) {k, OPT_STR, offsetof(struct vr_config, f), 0, 0}
#define I(k, f, lo, hi) {k, OPT_INT, offsetof(struct vr_config, f), lo, hi}
#define Z(k, f) {k, OPT_SIZE, offsetof(struct vr_config, f), 0, 0}
#define B(k, f) {k, OPT_BOOL, offsetof(struct vr_config, f), 0, 0}
    S("state_dir", state_dir),
    S("listen", listen),
    B("insecure_http", insecure_http),
    S("tls_dir", tls_dir),
    S("tls_cert", tls_cert),
    S("tls_key", tls_key),
    S("store", store_url),
    S("libvirt_uri", libvirt_uri),
    S("image_dir", image_dir),
    S("system_dir", system_dir),
    S("import_dirs", import_dirs),
    S("probe_kernel", probe_kernel),
    S("probe_initrd", probe_initrd),
    I("probe_timeout", probe_timeout_s, 1, 600),
    S("hypervisor", hypervisor),
    S("log_file", log_file),
    S("log_level", log_level),
    Z("max_image_virtual_size", max_image_vsize),
    Z("max_body", max_body),
    Z("max_upload", max_upload),
    I("workers", workers, 1, 64),
    I("http_max_connections", http_max_conns, 4, 65536),
    I("http_max_connections_per_address", http_max_conns_per_address, 1,
      65536),
    I("http_threads", http_threads, 1, 64),
    I("http_workers", http_workers, 1, 256),
    I("http_header_timeout", http_header_timeout_s, 1, 3600),
    I("http_idle_timeout", http_idle_timeout_s, 5, 3600),
    I("http_min_body_rate", http_min_body_rate, 0, 1 << 30),
    I("http_max_streams_per_user", http_max_streams_per_user, 1, 65536),
    I("http_max_waits_per_user", http_max_waits_per_user, 1, 65536),
    I("audit_max_size", audit_max_size_mib, 1, 1 << 20),
    I("audit_keep", audit_keep, 1, 1000),
    I("max_uploads_per_user", max_uploads_per_user, 1, 64),
    I("stop_timeout", stop_timeout_s, 1, 3600),
    I("token_ttl", token_ttl_s, 60, 365 * 86400),
    I("poll_interval", poll_interval_s, 1, 3600),
    B("local_host", local_host),
    I("node_timeout", node_timeout_s, 1, 3600),
    I("job_retention", job_retention_s, 60, 365 * 86400),
    S("sched_policy", sched_policy),
    S("host_cpu_ratio", host_cpu_ratio),
    S("host_mem_ratio", host_mem_ratio),
    S("sched_requirements", sched_requirements),
    S("sched_rank", sched_rank),
    S("sched_external_url", sched_external_url),
    I("sched_external_timeout_ms", sched_external_timeout_ms, 10, 600000),
    B("sched_external_fallback", sched_external_fallback),
    S("ldap_uri", ldap_uri),
    S("ldap_user_dn", ldap_user_dn),
    S("ldap_group", ldap_group),
    B("ldap_starttls", ldap_starttls),
    S("ldap_ca_file", ldap_ca_file),
    I("ldap_timeout", ldap_timeout_s, 1, 120),
#undef S
#undef I
#undef Z
#undef B
};

void vr_config_defaults(struct vr_config *cfg, const char *state_dir)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->state_dir = vr_strdup(state_dir ? state_dir : "/var/lib/vireo");
    cfg->listen = vr_strdup("127.0.0.1:8780");
    cfg->libvirt_uri = vr_strdup("qemu:///system");
    cfg->probe_kernel = vr_strdup("/var/cache/vireo/guest/vmlinuz");
    cfg->probe_initrd = vr_strdup("/var/cache/vireo/guest/initrd.img");
    cfg->probe_timeout_s = 20;
    cfg->hypervisor = vr_strdup("");
    cfg->log_file = vr_strdup("");
    cfg->log_level = vr_strdup("info");
    cfg->max_image_vsize = 2ULL << 40;
    cfg->max_body = 1 << 20;
    cfg->max_upload = 256ULL << 30;
    cfg->workers = 4;
    cfg->http_max_conns = 1024;
    cfg->http_max_conns_per_address = 64;
    cfg->http_threads = 2;
    cfg->http_workers = 8;
    cfg->http_header_timeout_s = 10;
    cfg->http_idle_timeout_s = 60;
    cfg->http_min_body_rate = 1024;
    cfg->http_max_streams_per_user = 8;
    cfg->http_max_waits_per_user = 16;
    cfg->audit_max_size_mib = 64;
    cfg->audit_keep = 8;
    cfg->max_uploads_per_user = 2;
    cfg->stop_timeout_s = 60;
    cfg->token_ttl_s = 7 * 86400;
    cfg->poll_interval_s = 10;
    cfg->local_host = true;
    cfg->node_timeout_s = 30;
    cfg->job_retention_s = 7 * 86400;
    cfg->sched_policy = vr_strdup("packing");
    cfg->host_cpu_ratio = vr_strdup("4");
    cfg->host_mem_ratio = vr_strdup("1");
    cfg->sched_requirements = vr_strdup("");
    cfg->sched_rank = vr_strdup("");
    cfg->sched_external_url = vr_strdup("");
    cfg->sched_external_timeout_ms = 2000;
    cfg->sched_external_fallback = true;
    cfg->ldap_uri = vr_strdup("");
    cfg->ldap_user_dn = vr_strdup("");
    cfg->ldap_group = vr_strdup("users");
    cfg->ldap_ca_file = vr_strdup("");
    cfg->ldap_timeout_s = 5;
}

int vr_config_set(struct vr_config *cfg, const char *key, const char *value,
                  struct vr_error *err)
{
    for (size_t i = 0; i < VR_ARRAY_SIZE(options); i++) {
        char *base = (char *)cfg + options[i].off;
        if (strcmp(key, options[i].key) != 0)
            continue;
        switch (options[i].type) {
        case OPT_STR: {
            char **p = (char **)base;
            free(*p);
            *p = vr_strdup(value);
            return 0;
        }
        case OPT_INT: {
            char *end;
            long long v;
            errno = 0;
            v = strtoll(value, &end, 10);
            if (errno || end == value || *end || v < options[i].min ||
                v > options[i].max)
                return vr_err(err, VR_E_INVALID,
                              "setting '%s' must be an integer between %lld "
                              "and %lld", key, (long long)options[i].min,
                              (long long)options[i].max);
            *(int *)base = (int)v;
            return 0;
        }
        case OPT_SIZE: {
            uint64_t v;
            if (vr_parse_size(value, 1, &v, err) < 0) {
                vr_err_prefix(err, "setting '%s'", key);
                return -1;
            }
            *(uint64_t *)base = v;
            return 0;
        }
        case OPT_BOOL:
            if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 ||
                strcmp(value, "on") == 0 || strcmp(value, "1") == 0) {
                *(bool *)base = true;
                return 0;
            }
            if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
                strcmp(value, "off") == 0 || strcmp(value, "0") == 0) {
                *(bool *)base = false;
                return 0;
            }
            return vr_err(err, VR_E_INVALID,
                          "setting '%s' must be true or false", key);
        }
    }
    return vr_err(err, VR_E_INVALID, "unknown setting '%s'", key);
}

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int vr_config_load(struct vr_config *cfg, const char *path,
                   struct vr_error *err)
{
    FILE *f = fopen(path, "re");
    char *line = NULL; /* a line of any length: never cut in two */
    size_t cap = 0;
    int lineno = 0;

    if (!f)
        return vr_err(err, errno == ENOENT ? VR_E_NOT_FOUND : VR_E_INVALID,
                      "unable to open config '%s': %s", path, strerror(errno));
    while (getline(&line, &cap, f) >= 0) {
        char *s = trim(line), *eq, *key, *val;
        lineno++;
        if (!*s || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (!eq) {
            free(line);
            fclose(f);
            return vr_err(err, VR_E_INVALID, "%s:%d: expected 'key = value'",
                          path, lineno);
        }
        *eq = '\0';
        key = trim(s);
        val = trim(eq + 1);
        if (vr_config_set(cfg, key, val, err) < 0) {
            free(line);
            fclose(f);
            vr_err_prefix(err, "%s:%d", path, lineno);
            return -1;
        }
    }
    free(line);
    fclose(f);
    return 0;
}

void vr_config_finish(struct vr_config *cfg)
{
    if (!cfg->store_url || !*cfg->store_url) {
        free(cfg->store_url);
        cfg->store_url = vr_asprintf("sqlite:%s/vireo.db", cfg->state_dir);
    }
    if (!cfg->image_dir || !*cfg->image_dir) {
        free(cfg->image_dir);
        cfg->image_dir = vr_asprintf("%s/datastores/images", cfg->state_dir);
    }
    if (!cfg->system_dir || !*cfg->system_dir) {
        free(cfg->system_dir);
        cfg->system_dir = vr_asprintf("%s/datastores/system", cfg->state_dir);
    }
    if (!cfg->import_dirs || !*cfg->import_dirs) {
        free(cfg->import_dirs);
        cfg->import_dirs = vr_asprintf("%s/import", cfg->state_dir);
    }
    if (!cfg->tls_dir || !*cfg->tls_dir) {
        free(cfg->tls_dir);
        cfg->tls_dir = vr_asprintf("%s/tls", cfg->state_dir);
    }
    cfg->tls_generate = (!cfg->tls_cert || !*cfg->tls_cert) &&
                        (!cfg->tls_key || !*cfg->tls_key);
    if (cfg->tls_generate) {
        free(cfg->tls_cert);
        free(cfg->tls_key);
        cfg->tls_cert = vr_asprintf("%s/" VR_TLS_SERVER_CERT, cfg->tls_dir);
        cfg->tls_key = vr_asprintf("%s/" VR_TLS_SERVER_KEY, cfg->tls_dir);
    }
}

void vr_config_release(struct vr_config *cfg)
{
    for (size_t i = 0; i < VR_ARRAY_SIZE(options); i++) {
        if (options[i].type == OPT_STR) {
            char **p = (char **)((char *)cfg + options[i].off);
            free(*p);
            *p = NULL;
        }
    }
}
