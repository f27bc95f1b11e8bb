/*
 * vr_config.h - vireod settings: built-in defaults, then the config file
 * (`key = value` lines, '#' comments), then command-line options.
 * The documented list of keys is docs/operations.md.
 */
#ifndef VR_CONFIG_H
#define VR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "vr_error.h"

struct vr_config {
    char *state_dir;        /* /var/lib/vireo */
    char *listen;           /* "127.0.0.1:8780" */
    char *store_url;        /* "sqlite:<state_dir>/vireo.db" */
    char *libvirt_uri;      /* "qemu:///system" */
    char *image_dir;        /* <state_dir>/datastores/images */
    char *system_dir;       /* <state_dir>/datastores/system */
    char *import_dirs;      /* ':'-separated; <state_dir>/import */
    char *probe_kernel;     /* KVM probe guest kernel */
    char *probe_initrd;
    int probe_timeout_s;
    char *hypervisor;       /* "" probe, or "qemu"/"kvm" to force */
    char *log_file;         /* "" = stderr */
    char *log_level;        /* "info" */
    uint64_t max_image_vsize;
    uint64_t max_body;      /* JSON request bodies */
    uint64_t max_upload;    /* image uploads */
    int workers;            /* job worker threads */
    int http_max_conns;
    int stop_timeout_s;     /* ACPI grace before power-off */
    int token_ttl_s;
    int poll_interval_s;    /* safety-net poll of libvirt and hosts */
    int job_retention_s;    /* finished jobs kept this long */
};

/* Defaults for `state_dir` (NULL: /var/lib/vireo). */
void vr_config_defaults(struct vr_config *cfg, const char *state_dir);
/* Read a config file; unknown keys and bad values are errors. */
int vr_config_load(struct vr_config *cfg, const char *path,
                   struct vr_error *err);
/* Set one key (also used for command-line overrides). */
int vr_config_set(struct vr_config *cfg, const char *key, const char *value,
                  struct vr_error *err);
/* Fill paths derived from state_dir that were not set explicitly. */
void vr_config_finish(struct vr_config *cfg);
void vr_config_release(struct vr_config *cfg);

#endif
