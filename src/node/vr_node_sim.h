/*
 * vr_node_sim.h - the simulated node transport ("sim").
 *
 * An in-memory hypervisor behind the node interface: it keeps domains and
 * VM storage, reports states and sends events as a libvirt host would,
 * and takes the capabilities it is given (a libvirt capabilities document
 * parsed into struct vr_host_caps, or a synthetic machine).  It serves
 * fast tests of the controller without root or libvirt, mixed
 * installations in end-to-end tests (one real host plus simulated ones)
 * and scale benchmarks.
 *
 * Faults can be injected at any operation: fail, hang (until released or
 * past the call's deadline), "late" (done, but reported as timed out),
 * unreachable, or done with its event lost.  They come from the calls
 * below (tests in the same process) or from a fault file read when it
 * changes (tests of a running vireod), one per line:
 *
 *     OP KIND [COUNT]       OP: an operation name ("dom_start") or "*";
 *                           KIND: fail | hang | late | unreachable |
 *                           lose-event; COUNT: how many calls (default:
 *                           every call until the line is removed)
 *
 * Domains and storage are written to a state file when one is given, so
 * a simulated host keeps its guests across a restart of vireod.
 */
#ifndef VR_NODE_SIM_H
#define VR_NODE_SIM_H

#include "vr_node.h"

struct vr_node_sim_cfg {
    const char *uuid;             /* the host's UUID */
    const char *hostname;
    const struct vr_host_caps *caps; /* NULL: synthetic (below) */
    int cpus;                     /* synthetic: CPUs (default 16) */
    uint64_t memory_mib;          /* synthetic: memory (default 64 GiB) */
    const char *instance;         /* the installation it serves */
    const char *state_file;       /* NULL: in memory only */
    const char *fault_file;       /* NULL: faults from calls only */
    int timeout_ms;               /* deadline of every call (default 30 s) */
    int shutdown_ms;              /* how long a guest takes to stop on
                                   * ACPI (default 50; -1: it ignores it) */
};

struct vr_node *vr_node_sim_open(const struct vr_node_sim_cfg *cfg,
                                 vr_node_event_fn on_event, void *ctx,
                                 struct vr_error *err);

/* Synthetic capabilities: `cpus` CPUs in one socket (2 threads per
 * core), `memory_mib` in one NUMA cell. */
void vr_node_sim_caps(struct vr_host_caps *caps, int cpus,
                      uint64_t memory_mib);

/* Capabilities from a libvirt capabilities document (`virsh
 * capabilities`; what a simulated host may be given): topology, cells,
 * huge pages; CPUs and memory summed from the cells.  -1 with err
 * (VR_E_INVALID) if it cannot be read or names no CPU or memory. */
int vr_node_sim_caps_from_xml(const char *xml, struct vr_host_caps *caps,
                              struct vr_error *err);

/* ---- faults and probes (tests) */

enum vr_sim_fault {
    VR_SIM_FAIL,          /* not done; a hypervisor error */
    VR_SIM_HANG,          /* not done; blocks until released or past the
                           * deadline, then "timed out" */
    VR_SIM_LATE,          /* done, but reported as timed out */
    VR_SIM_UNREACHABLE,   /* not done; the host cannot be reached */
    VR_SIM_LOSE_EVENT,    /* done, its event never sent */
};

/* Inject `kind` at operation `op` ("*": every operation) for the next
 * `count` calls (0: until cleared).  -1 if `op` is no operation. */
int vr_node_sim_fault(struct vr_node *n, const char *op,
                      enum vr_sim_fault kind, int count);
void vr_node_sim_clear(struct vr_node *n);
/* Let every hung call go on (it then runs as if never held). */
void vr_node_sim_release(struct vr_node *n);
/* How many calls of `op` were made (whatever their outcome), and how
 * many are inside the node now (all operations). */
int vr_node_sim_calls(struct vr_node *n, const char *op);
int vr_node_sim_active(struct vr_node *n);
/* How long a guest takes to stop on ACPI (-1: it ignores it). */
void vr_node_sim_shutdown_ms(struct vr_node *n, int ms);
/* The guest crashes (its QEMU dies); `quiet`: its event is lost. */
int vr_node_sim_crash(struct vr_node *n, const char *uuid, bool quiet);
/* Put a domain of another installation (or of none: "") on the host. */
void vr_node_sim_plant(struct vr_node *n, const char *uuid,
                       const char *instance);
/* A domain's state (VR_DOM_NONE if none), and how many domains and VM
 * directories of the installation the host holds. */
enum vr_dom_state vr_node_sim_state(struct vr_node *n, const char *uuid);
/* How often a domain was booted (started, rebooted, reset). */
int vr_node_sim_boots(struct vr_node *n, const char *uuid);
size_t vr_node_sim_domains(struct vr_node *n);
size_t vr_node_sim_dirs(struct vr_node *n);

#endif
