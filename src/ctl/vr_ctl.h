/*
 * vr_ctl.h - the controller role: object pools, orchestrator (jobs and the
 * VM state machine), reconciler, monitor, images, authentication.
 *
 * One `struct vr_ctl` per daemon, passed to everything that needs it (no
 * global state).  The controller reaches hosts only through the node
 * interface (vr_node.h).
 */
#ifndef VR_CTL_H
#define VR_CTL_H

#include <pthread.h>
#include <stdatomic.h>

#include "vr_audit.h"
#include "vr_authz.h"
#include "vr_config.h"
#include "vr_db.h"
#include "vr_events.h"
#include "vr_node.h"
#include "vr_nodes.h"
#include "vr_sched.h"
#include "vr_throttle.h"

struct vr_ctl {
    const struct vr_config *cfg;
    struct vr_db db;
    struct vr_events *events;
    struct vr_nodes nodes;         /* a node per host (vr_nodes.h) */
    int64_t local_host;            /* the host served in this process
                                    * (0: none) */
    char instance[VR_UUID_LEN];    /* this installation's id */
    atomic_bool stopping;
    atomic_bool monitor_kick;      /* reconcile hosts that lost events */

    /* job queue, served by `nworkers` threads */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    int64_t *queue;
    size_t qhead, qlen, qcap;
    struct {                       /* jobs the store could not record,
                                    * run again when due (vr_orch.c) */
        int64_t job, due;
    } *later;
    size_t nlater, later_cap;
    struct {                       /* jobs that wait with no worker (a
                                    * stop for its guest): looked at
                                    * again when due, or at a domain
                                    * event, until their deadline;
                                    * due INT64_MAX: being looked at */
        int64_t job, due, deadline;
    } *waits;
    size_t nwaits, waits_cap;
    pthread_t *workers;
    int nworkers;

    /* the job that holds each VM for its whole run (vr_orch.c
     * hold_object): a VM is worked on by one worker at a time; recover
     * and delete wait for the job they cancelled to stop */
    pthread_mutex_t hlock;
    pthread_cond_t hcond;
    struct vr_map holders;         /* vm id -> job id (intptr_t) */


    /* domain hints from node events, served by the observer thread */
    pthread_mutex_t olock;
    pthread_cond_t ocond;
    struct vr_hint {
        int64_t host;              /* the host whose node sent it */
        char uuid[VR_UUID_LEN];
    } *hints;
    size_t nhints, hcap;
    pthread_t observer;
    pthread_t monitor;
    bool threads_started;

    /* authorization, login throttling, external password backend */
    struct vr_authz authz;
    struct vr_throttle throttle_user;    /* failed logins per user name */
    struct vr_throttle throttle_addr;    /* ... and per source address */
    struct vr_throttle throttle_names;   /* names found taken, per caller:
                                          * user names are one namespace,
                                          * so a taken one is a probe */
    struct vr_auth_backend *ldap;  /* NULL: local accounts only */
    struct vr_audit *audit;

    /* placement (vr_placement.c): the scheduler's view of hosts and
     * plans; creates waiting for capacity (job ids) and which VMs run
     * where (for RUNNING_VMS), under plock */
    struct vr_sched sched;
    pthread_mutex_t plock;
    struct vr_map running;
    int64_t *parked;
    size_t nparked, parked_cap;
    uint64_t sched_seen;
    bool placement_ready;
    /* settings sched_requirements, sched_rank compiled (NULL: none) */
    struct vr_expr *default_reqs, *default_rank;
    double host_cpu_ratio, host_mem_ratio; /* settings: ratios of hosts and
                                            * clusters that set none */

    /* image uploads in progress (ids), to refuse a second one */
    pthread_mutex_t ulock;
    struct vr_map uploads;
};

/* ---- life cycle (vr_ctl.c) */
/* Open the store, load pools, open the local node, register the local
 * host (probing the hypervisor the first time), bootstrap the admin
 * account.  Does not start threads. */
int vr_ctl_init(struct vr_ctl *ctl, const struct vr_config *cfg,
                struct vr_error *err);
/* Reconcile records, jobs and libvirt, then start workers, observer and
 * monitor. */
int vr_ctl_start(struct vr_ctl *ctl, struct vr_error *err);
/* Tell everything to stop: workers leave at their next phase boundary,
 * event streams and long-polls end.  Returns at once. */
void vr_ctl_stop_begin(struct vr_ctl *ctl);
/* Stop threads (running jobs are left to resume at next start) and free. */
void vr_ctl_shutdown(struct vr_ctl *ctl);

/* Reconciler (vr_reconcile.c): compare jobs, records and the hosts;
 * requeue interrupted jobs, then reconcile every host that answers (a
 * host that does not is reconciled by the monitor when it answers). */
int vr_ctl_reconcile(struct vr_ctl *ctl, struct vr_error *err);
/* Reconcile one host through its node: its VMs take the state the host
 * reports, and this installation's domains and VM directories on it that
 * no VM record names are removed.  Other hosts' VMs are not looked at. */
int vr_ctl_reconcile_host(struct vr_ctl *ctl, int64_t host_id,
                          struct vr_node *node, struct vr_error *err);
/* A node's event (vr_node_event_fn): a hint for the observer; a gap in
 * the host's event numbers has the monitor reconcile it at once. */
void vr_ctl_node_event(void *ctl, int64_t host_id, uint64_t seq,
                       const char *uuid, enum vr_dom_state state,
                       const char *why);
/* The node of a host, with a reference (vr_node_close it); NULL with
 * VR_E_UNAVAILABLE if the host has none. */
struct vr_node *vr_ctl_node(struct vr_ctl *ctl, int64_t host_id,
                            struct vr_error *err);
/* Whether a node call failed because the host could not be reached (or
 * did not answer in time), rather than answering with an error. */
bool vr_ctl_unreachable(const struct vr_error *err);
/* A host's node failed (`nerr`): the host is OFFLINE if unreachable,
 * else ERROR, with the message; its VMs' records stay as they are and it
 * is reconciled again when it answers. */
void vr_ctl_host_failed(struct vr_ctl *ctl, int64_t host_id,
                        const struct vr_error *nerr);

/* The VM state a domain's state means, for a VM meant to be in `meant`
 * (which is kept when the domain is in transition). */
enum vr_vm_state vr_ctl_seen_state(const struct vr_dom_info *info,
                                   enum vr_vm_state meant);

/* Bring a VM record in line with what its host says, when no job owns
 * it and the record is still at revision `rev` (as read before the host
 * was asked: a record written since may be newer than `info`).  Returns
 * 1 if the record changed. */
int vr_ctl_observe_vm(struct vr_ctl *ctl, int64_t vm_id, uint64_t rev,
                      const struct vr_dom_info *info);

/* Observe the VMs recorded on host `host_id` (but those a job owns)
 * against the domains its node lists (a VM whose domain is not listed is
 * seen as VR_DOM_NONE).  Returns how many records changed, or -1 with
 * err if the node could not list them; the list goes to *doms (caller
 * frees) when doms is not NULL. */
int vr_ctl_observe_host(struct vr_ctl *ctl, int64_t host_id,
                        struct vr_node *node, struct vr_dom_info **doms,
                        size_t *ndoms, struct vr_error *err);

/* ---- orchestrator (vr_orch.c) */
struct vr_vm_create_req {
    const char *name;
    const char *uuid;              /* NULL: generated */
    const char *image;             /* id or name */
    int vcpus;
    uint64_t memory_mib;
    int nextra;                    /* extra empty disks */
    uint64_t extra_mib[VR_VM_MAX_DISKS - 1];
    bool full_clone;
    bool start;
    /* placement (docs/scheduler.md): what the VM asks for; hosts named in
     * host_refs and a VM group named in vm_group are resolved (visible to
     * the caller) when the request is accepted */
    struct vr_vm_want want;
    const char *host_refs[VR_SCHED_MAX_HOSTS_LIST]; /* NULL: want.hosts[i] */
    const char *vm_group;          /* NULL: want.vm_group (0: none) */
};

/* The checks of a create request that need no state (name, sizes, UUID
 * format).  vr_orch_vm_create runs them first. */
int vr_orch_vm_create_check(const struct vr_vm_create_req *req,
                            struct vr_error *err);
/* Validate, reserve (quotas) and persist a new VM (PENDING) owned by the
 * caller in its session's group, and its create job, then queue the job.
 * The image must be one the caller may use.  On success *vm_id and
 * *job_id are set. */
int vr_orch_vm_create(struct vr_ctl *ctl, const struct vr_vm_create_req *req,
                      const struct vr_principal *who, int64_t *vm_id,
                      int64_t *job_id, struct vr_error *err);
/* Request an operation on a VM: checked against the state machine and
 * persisted as a job atomically, then queued.  `timeout_s` is used by
 * stop (0: default); `mode` by recover. */
int vr_orch_vm_request(struct vr_ctl *ctl, int64_t vm_id, enum vr_vm_op op,
                       int timeout_s, enum vr_recover_mode mode,
                       const struct vr_principal *who, int64_t *job_id,
                       struct vr_error *err);
/* Queue a persisted job id for the workers. */
void vr_orch_enqueue(struct vr_ctl *ctl, int64_t job_id);
/* Queue the jobs whose retry (after the store refused them) is due. */
void vr_orch_requeue_due(struct vr_ctl *ctl);
int vr_orch_start_workers(struct vr_ctl *ctl, struct vr_error *err);
void vr_orch_stop_workers(struct vr_ctl *ctl);
/* Signal waiters that some domain changed (from node events). */
void vr_orch_domain_changed(struct vr_ctl *ctl);

/* ---- images (vr_images.c) */
struct vr_image_create_req {
    const char *name;
    const char *format;            /* "qcow2" | "raw" */
    const char *sha256;            /* expected, optional */
    const char *path;              /* import from this server path */
};
int vr_images_create(struct vr_ctl *ctl, const struct vr_image_create_req *req,
                     const struct vr_principal *who, int64_t *image_id,
                     struct vr_error *err);
/* Refused while VMs use the image (named only if `who` may see them;
 * NULL: the system). */
int vr_images_delete(struct vr_ctl *ctl, const struct vr_principal *who,
                     int64_t image_id, struct vr_error *err);

/* A streamed upload into a PENDING image, by user `user_id` (at most
 * max_uploads_per_user at once).  The declared size (0: unknown, a
 * chunked body) is reserved against the image storage quota before any
 * byte is written; an unknown one reserves as it grows. */
struct vr_upload;
struct vr_upload *vr_upload_begin(struct vr_ctl *ctl, int64_t image_id,
                                  int64_t user_id, uint64_t declared_size,
                                  struct vr_error *err);
int vr_upload_write(struct vr_upload *up, const void *data, size_t len,
                    struct vr_error *err);
/* Verify checksum and format, move into the datastore, mark READY. */
int vr_upload_finish(struct vr_upload *up, struct vr_error *err);
/* Drop a failed or abandoned upload: its reservation goes back and the
 * image records `why` (NULL-safe; frees `up`). */
void vr_upload_abort(struct vr_upload *up, const char *why);
void vr_upload_free(struct vr_upload *up);
/* After a start: remove this installation's leftover temporary files in
 * the image datastore, finish or undo deletes cut by a crash, give back
 * the reservations of uploads cut by the restart, flag READY images whose
 * file is missing.  Files that do not carry this installation's id are
 * left alone. */
int vr_images_reconcile(struct vr_ctl *ctl, struct vr_error *err);

/* ---- authentication (vr_auth.c) */

/* Create the groups "superusers" and "users", the "admin" account (its
 * random password written to <state_dir>/admin-password, 0600) and the
 * default ACL rules on first start; give objects from before tenancy an
 * owner, a group and permissions. */
int vr_auth_bootstrap(struct vr_ctl *ctl, struct vr_error *err);

/* Check a user's password (local Argon2id or a backend such as LDAP) and
 * issue a token working in `group` (NULL: the user's primary group).  The
 * secret is returned once in *token_out (caller frees).  Failed attempts
 * are throttled per user and per `source` address (VR_E_THROTTLED, with
 * *retry_ms set).  ttl_s 0: the default. */
int vr_auth_login(struct vr_ctl *ctl, const char *user, const char *password,
                  const char *group, const char *source, int ttl_s,
                  char **token_out, int64_t *token_id, int64_t *retry_ms,
                  struct vr_error *err);
/* Issue a new token for the caller, working in another of its groups; it
 * expires no later than the caller's token. */
int vr_auth_switch(struct vr_ctl *ctl, const struct vr_principal *who,
                   const char *group, int ttl_s, char **token_out,
                   int64_t *token_id, struct vr_error *err);
/* Resolve a bearer token to its principal; VR_E_UNAUTHENTICATED if
 * unknown, expired or its user is disabled. */
int vr_auth_token(struct vr_ctl *ctl, const char *token,
                  struct vr_principal *who, struct vr_error *err);
/* The principal of a token id, checked as vr_auth_token does (long-lived
 * requests re-check their caller with it). */
int vr_auth_principal(struct vr_ctl *ctl, int64_t token_id,
                      struct vr_principal *who, struct vr_error *err);
/* Revoke a token and its family: every token switched from it, directly
 * or not (a switched token never outlives its parent's revocation). */
int vr_auth_revoke(struct vr_ctl *ctl, int64_t token_id, struct vr_error *err);
/* The same inside a transaction. */
int vr_auth_revoke_tx(struct vr_ctl *ctl, struct vr_tx *tx, int64_t token_id,
                      struct vr_error *err);
/* Inside a transaction: revoke every token of a user but `keep` (0:
 * none), as a password change or reset does. */
int vr_auth_revoke_user(struct vr_ctl *ctl, struct vr_tx *tx, int64_t user_id,
                        int64_t keep, struct vr_error *err);
/* Check the current password of a local user who changes its own
 * (throttled like a login): 0 if right; VR_E_FORBIDDEN if wrong,
 * VR_E_THROTTLED after too many failures. */
int vr_auth_check_current(struct vr_ctl *ctl, int64_t user_id,
                          const char *password, struct vr_error *err);
/* Remove the tokens that expired more than a day ago (until then their
 * holders are told "token expired"). */
void vr_auth_expire(struct vr_ctl *ctl);
int vr_auth_hash_password(const char *password, char out[VR_PWHASH_SIZE],
                          struct vr_error *err);

/* An external password checker (LDAP/AD).  verify: 1 right, 0 wrong or
 * unknown user, -1 backend error (err). */
struct vr_auth_backend {
    const char *name;
    int (*verify)(struct vr_auth_backend *b, const char *user,
                  const char *password, struct vr_error *err);
    void (*close)(struct vr_auth_backend *b);
    char group[VR_NAME_SIZE];      /* primary group of users it creates */
    void *priv;
};

#endif
