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
    bool insecure_http;     /* plain HTTP (loopback only) instead of TLS */
    char *tls_dir;          /* <state_dir>/tls: the generated CA and cert */
    char *tls_cert;         /* PEM; <tls_dir>/server.pem */
    char *tls_key;          /* PEM; <tls_dir>/server-key.pem */
    bool tls_generate;      /* neither was set: vireod makes them */
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
    int http_max_conns;     /* connections at once, in all */
    int http_max_conns_per_address;
    int http_threads;       /* threads serving sockets (epoll) */
    int http_workers;       /* threads running handlers */
    int http_header_timeout_s; /* from connect (or the end of the
                               * previous request) to complete headers */
    int http_idle_timeout_s;   /* no byte moved for this long: closed */
    int http_min_body_rate; /* bytes/s a body must average after 10 s */
    int http_max_streams_per_user; /* event streams at once */
    int http_max_waits_per_user;   /* job long-polls at once */
    int max_uploads_per_user; /* image uploads at once, per user */
    int audit_max_size_mib; /* audit.log rotates past this size */
    int audit_keep;         /* rotated audit files kept */
    int stop_timeout_s;     /* ACPI grace before power-off */
    int token_ttl_s;
    int poll_interval_s;    /* safety-net poll of libvirt and hosts */
    bool local_host;        /* serve this machine's libvirt as a host */
    int node_timeout_s;     /* deadline of a call to a node */
    int job_retention_s;    /* finished jobs kept this long */
    /* placement (vr_sched.h, docs/scheduler.md) */
    char *sched_policy;     /* "packing" | "striping" | "load" */
    char *sched_requirements; /* for VMs that give none ("" none) */
    char *sched_rank;       /* for VMs that give none ("": sched_policy) */
    char *host_cpu_ratio;   /* overcommit of a newly registered host */
    char *host_mem_ratio;
    char *sched_external_url; /* "" none; else POSTed the candidates */
    int sched_external_timeout_ms;
    bool sched_external_fallback; /* on a failing service: place anyway */
    /* LDAP / Active Directory logins (vr_ldap.h); ldap_uri "" = off */
    char *ldap_uri;         /* "ldap://dir.example:389/" */
    char *ldap_user_dn;     /* bind-name template with one %s */
    char *ldap_group;       /* group of users made at first login; "users" */
    bool ldap_starttls;
    char *ldap_ca_file;     /* "" = libldap's default CAs */
    int ldap_timeout_s;     /* connection and each operation; 5 */
    /* not a setting: `vireod --new-installation` (start a new installation
     * with an empty store over a state directory that holds data) */
    bool new_installation;
};

/* Defaults for `state_dir` (NULL: /var/lib/vireo). */
void vr_config_defaults(struct vr_config *cfg, const char *state_dir);
/* Read a config file; unknown keys and bad values are errors. */
int vr_config_load(struct vr_config *cfg, const char *path,
                   struct vr_error *err);
/* Set one key (also used for command-line overrides). */
int vr_config_set(struct vr_config *cfg, const char *key, const char *value,
                  struct vr_error *err);
/* Fill paths derived from state_dir that were not set explicitly.  When
 * neither tls_cert nor tls_key was set, they name the files in tls_dir and
 * tls_generate is set; when only one was, the other stays empty (an error
 * for vr_api_check_listen). */
void vr_config_finish(struct vr_config *cfg);
void vr_config_release(struct vr_config *cfg);

#endif
