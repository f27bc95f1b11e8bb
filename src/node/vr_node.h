/*
 * vr_node.h - the node interface: what the controller asks of a host.
 *
 * One struct of operations with, today, two transports in process: the
 * local libvirt driver (node_local.c) and a simulated host (node_sim.c,
 * vr_node_sim.h).  A remote transport
 * (HTTPS/JSON to `vireod --role node`) implements the same table; every
 * argument is plain data (no pointers into controller objects) so that it
 * can cross the wire: the types are the node protocol's (vr_wire.h), with
 * its JSON codecs.  A NULL op means "unsupported".
 *
 * Every operation is idempotent where the controller relies on it to
 * resume an interrupted job: defining an already defined domain redefines
 * it, starting a running domain succeeds, destroying or undefining a
 * missing domain succeeds, preparing a disk that is complete succeeds.
 *
 * A node serves one installation (its `instance` id) and touches only
 * what it can prove is that installation's: a domain whose Vireo metadata
 * names this instance, a VM directory whose owner mark names it.  A
 * domain of another installation (or with no Vireo metadata) with the
 * UUID asked for is never defined over, started, stopped, destroyed or
 * undefined: to the ops that need the domain it is an error
 * (VR_E_CONFLICT), to those that make it absent (shutdown, destroy,
 * undefine) "ours is not there" (success, nothing done), and dom_info
 * reports VR_DOM_NONE with `foreign` set.
 */
#ifndef VR_NODE_H
#define VR_NODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vr_error.h"
#include "vr_host.h"
#include "vr_util.h"
#include "vr_wire.h"

struct vr_node;

/* Called (from the node's event thread) when a domain changes state on
 * the host `host_id` (the node's, as the registry set it).  An event is
 * a hint: the controller reads the domain's state again before acting.
 * `seq` numbers the node's events from 1 without gaps: a gap means
 * events were lost, and the host must be read again (resync). */
typedef void (*vr_node_event_fn)(void *ctx, int64_t host_id, uint64_t seq,
                                 const char *uuid, enum vr_dom_state state,
                                 const char *why);

struct vr_node_ops {
    const char *name;
    int (*host_info)(struct vr_node *n, struct vr_host_caps *caps,
                     struct vr_error *err);
    /* Decide the hypervisor: "kvm" only if a probe guest really ran under
     * KVM, else "qemu" (TCG).  `detail` says why (>= 256 bytes). */
    int (*probe_hypervisor)(struct vr_node *n, char hv[8], char *detail,
                            size_t detail_size, struct vr_error *err);
    int (*disk_prepare)(struct vr_node *n, const struct vr_disk_req *req,
                        struct vr_disk_made *out, struct vr_error *err);
    /* Remove everything stored for the VM (disks, console log); a
     * directory marked as another installation's is left alone. */
    int (*vm_storage_remove)(struct vr_node *n, const char *vm_uuid,
                             struct vr_error *err);
    /* UUIDs of the VM directories in the system datastore that are
     * marked as this installation's (caller frees the array and each
     * string); an unmarked one (made before marks existed) is marked
     * when `mark` holds its UUID (the controller's records), else left
     * out. */
    int (*vm_storage_list)(struct vr_node *n,
                           bool (*mark)(const char *uuid, void *ctx),
                           void *mark_ctx, char ***uuids, size_t *count,
                           struct vr_error *err);
    /* Define (or redefine) the persistent domain; fills spec->console_log
     * when it is empty. */
    int (*dom_define)(struct vr_node *n, struct vr_dom_spec *spec,
                      struct vr_error *err);
    int (*dom_start)(struct vr_node *n, const char *uuid, struct vr_error *err);
    int (*dom_shutdown)(struct vr_node *n, const char *uuid,
                        struct vr_error *err);
    int (*dom_destroy)(struct vr_node *n, const char *uuid,
                       struct vr_error *err);
    /* Not idempotent: `request_id` (1 to VR_NODE_REQID_SIZE - 1 bytes)
     * names the request, and the node does it once per id: a repeat of
     * one that was done (a retry after "timed out, may have happened")
     * succeeds without acting again; one that failed may be retried. */
    int (*dom_reboot)(struct vr_node *n, const char *uuid,
                      const char *request_id, struct vr_error *err);
    int (*dom_reset)(struct vr_node *n, const char *uuid,
                     const char *request_id, struct vr_error *err);
    int (*dom_pause)(struct vr_node *n, const char *uuid, struct vr_error *err);
    int (*dom_resume)(struct vr_node *n, const char *uuid,
                      struct vr_error *err);
    int (*dom_save)(struct vr_node *n, const char *uuid, struct vr_error *err);
    int (*dom_discard_save)(struct vr_node *n, const char *uuid,
                            struct vr_error *err);
    int (*dom_undefine)(struct vr_node *n, const char *uuid,
                        struct vr_error *err);
    /* State of one domain; VR_DOM_NONE if it is not defined. */
    int (*dom_info)(struct vr_node *n, const char *uuid,
                    struct vr_dom_info *out, struct vr_error *err);
    /* Domains carrying Vireo metadata of installation `instance` (caller
     * frees *out). */
    int (*dom_list)(struct vr_node *n, const char *instance,
                    struct vr_dom_info **out, size_t *count,
                    struct vr_error *err);
    /* Read up to `max` bytes of the serial console log from `offset`
     * (negative: that many bytes from the end). */
    int (*console_read)(struct vr_node *n, const char *uuid, int64_t offset,
                        size_t max, char **data, size_t *len,
                        struct vr_error *err);
    void (*close)(struct vr_node *n);
};

/* A node handle.  Shared: the registry holds one reference, and every
 * caller that uses it beyond the registry's lock takes its own
 * (vr_node_ref); the last vr_node_close closes the transport. */
struct vr_node {
    const struct vr_node_ops *ops;
    void *priv;
    vr_node_event_fn on_event;
    void *on_event_ctx;
    atomic_int refs;                  /* 1 when opened */
    atomic_int_least64_t host_id;     /* the host it serves (0: not yet
                                       * registered), set by the registry */
    atomic_uint_least64_t seq;        /* the last event's number */
    pthread_mutex_t req_lock;         /* protects what follows */
    struct vr_node_req *reqs;         /* recent request ids (a ring of
                                       * VR_NODE_REQIDS), on first use */
    unsigned req_next;
};

#define VR_NODE_REQID_SIZE 64
#define VR_NODE_REQIDS 32

/* For the transports, around a non-idempotent operation: begin returns
 * 1 when `id` was done already, is in progress or may have been done
 * (the call's outcome is then *rc and err: 0, or 409), 0 to go on (the
 * id is marked in progress); end records the outcome: a success is
 * remembered, a failure forgotten (the request may be retried), one
 * that may have happened (`uncertain`: the hypervisor did not answer)
 * is never done again under that id.  A bad id: 1 with VR_E_INVALID. */
int vr_node_request_begin(struct vr_node *n, const char *id, int *rc,
                          struct vr_error *err);
void vr_node_request_end(struct vr_node *n, const char *id, int rc,
                         bool uncertain);

/* A new handle of transport `ops` (one reference). */
struct vr_node *vr_node_new(const struct vr_node_ops *ops, void *priv,
                            vr_node_event_fn on_event, void *ctx);
struct vr_node *vr_node_ref(struct vr_node *n);  /* NULL-safe */
/* Hand a domain event to the controller, with the node's host id and
 * the event's number. */
void vr_node_emit(struct vr_node *n, const char *uuid, enum vr_dom_state state,
                  const char *why);
/* An event that will never arrive (the transport lost it, or may have):
 * its number is used, so the next event shows the gap. */
void vr_node_lose_event(struct vr_node *n);

/* Settings of the local (libvirt) node. */
struct vr_node_local_cfg {
    const char *libvirt_uri;      /* "qemu:///system" */
    const char *system_dir;       /* VM disks: <system_dir>/<uuid>/ */
    const char *probe_kernel;     /* KVM probe guest; NULL: no probe */
    const char *probe_initrd;
    int probe_timeout_s;
    int timeout_s;                /* deadline of a call to libvirtd */
    const char *force_hypervisor; /* "qemu" or "kvm" to skip the probe */
    const char *instance;         /* the installation it serves */
};

/* Open the local node; events go to `on_event(ctx, ...)`.  NULL on error. */
struct vr_node *vr_node_local_open(const struct vr_node_local_cfg *cfg,
                                   vr_node_event_fn on_event, void *ctx,
                                   struct vr_error *err);
/* Drop a reference; the last one closes the transport (NULL-safe). */
void vr_node_close(struct vr_node *n);

/* Dispatch helpers: call the op or fail with VR_E_UNSUPPORTED (a caller
 * may fall back; it is not a failure of the host). */
#define VR_NODE_CALL(n, op, err, ...)                                      \
    ((n)->ops->op ? (n)->ops->op((n), __VA_ARGS__, (err))                  \
                  : vr_err((err), VR_E_UNSUPPORTED,                        \
                           "node transport '%s' does not support '%s'",    \
                           (n)->ops->name, #op))

#endif
