/*
 * vr_vm.h - the virtual machine object and its state machine.
 *
 * A VM has one stable `state` and, while an operation is under way or after
 * one failed, a `task` naming that operation, its current phase and its job.
 * Every decision "may operation X run now" is made by vr_vm_sm_check(), and
 * every state change goes through vr_vm_set_state(); see vr_vm_sm.c for the
 * diagram and docs/vm-states.md for the table users read.
 */
#ifndef VR_VM_H
#define VR_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "vr_obj.h"
#include "vr_sched.h"

/* Stable states.  Persisted by name; values never renumbered. */
#define VR_VM_STATES(X)                                                    \
    X(VR_VM_PENDING, "PENDING")                                            \
    X(VR_VM_RUNNING, "RUNNING")                                            \
    X(VR_VM_PAUSED, "PAUSED")                                              \
    X(VR_VM_SUSPENDED, "SUSPENDED")                                        \
    X(VR_VM_POWEROFF, "POWEROFF")                                          \
    X(VR_VM_FAILED, "FAILED")

VR_ENUM_TYPE(vr_vm_state, VR_VM_STATES, VR_VM__LAST);

/* Operations (API actions and internal ones). */
#define VR_VM_OPS(X)                                                       \
    X(VR_OP_NONE, "none")                                                  \
    X(VR_OP_CREATE, "create")                                              \
    X(VR_OP_START, "start")                                                \
    X(VR_OP_STOP, "stop")                                                  \
    X(VR_OP_POWEROFF, "poweroff")                                          \
    X(VR_OP_REBOOT, "reboot")                                              \
    X(VR_OP_RESET, "reset")                                                \
    X(VR_OP_PAUSE, "pause")                                                \
    X(VR_OP_RESUME, "resume")                                              \
    X(VR_OP_SUSPEND, "suspend")                                            \
    X(VR_OP_DELETE, "delete")                                              \
    X(VR_OP_RECOVER, "recover")

VR_ENUM_TYPE(vr_vm_op, VR_VM_OPS, VR_OP__LAST);

/* Where the task stands. */
#define VR_TASK_STATUSES(X)                                                \
    X(VR_TASK_NONE, "none")      /* no operation */                        \
    X(VR_TASK_ACTIVE, "active")  /* a job is queued or running */          \
    X(VR_TASK_FAILED, "failed")  /* the job failed; the VM waits for       \
                                  * recover or delete */

VR_ENUM_TYPE(vr_task_status, VR_TASK_STATUSES, VR_TASK__LAST);

#define VR_VM_MAX_DISKS 16
#define VR_VM_MAX_NICS 8
#define VR_VM_MIN_MEMORY_MIB 16
#define VR_VM_MAX_MEMORY_MIB (4ULL * 1024 * 1024) /* 4 TiB */
#define VR_VM_MAX_VCPUS 255
#define VR_VM_MAX_DISK_MIB (64ULL * 1024 * 1024)  /* 64 TiB */

struct vr_vm_disk {
    char target[8];        /* "vda" */
    bool boot;
    uint64_t size_mib;     /* virtual size */
    char format[8];        /* "qcow2" | "raw" */
    char path[256];        /* on the host, set by the node */
};

struct vr_vm_nic {
    char model[16];        /* "virtio" */
    char mode[16];         /* "user" */
    char mac[18];          /* "52:54:00:xx:xx:xx" */
};

struct vr_vm_task {
    enum vr_vm_op op;
    enum vr_task_status status;
    char phase[32];
    int64_t job_id;
};

/* What a VM asks of placement (kept for re-placement). */
struct vr_vm_want {
    enum vr_cpu_policy cpu_policy;
    int sockets, cores, threads;   /* guest CPU topology, 0: flat */
    int nvnodes;                   /* guest NUMA nodes, 0: none */
    struct {
        int vcpus;
        uint64_t memory_mib;
    } vnodes[VR_SCHED_MAX_VNODES];
    uint32_t hugepage_kib;         /* 0, 2048, 1048576 */
    int npci;
    struct vr_pci_spec pci[VR_SCHED_MAX_DEVS];
    int nsriov;
    char sriov[VR_SCHED_MAX_DEVS][32];
    char requirements[512];
    char rank[256];
    int nhosts;                    /* host affinity list */
    int64_t hosts[VR_SCHED_MAX_HOSTS_LIST];
    bool force;                    /* hosts[0], filters skipped */
    int64_t vm_group;              /* 0: none */
    char vm_group_role[32];
};

struct vr_vm {
    struct vr_obj hdr;
    enum vr_vm_state state;
    struct vr_vm_task task;
    char error[VR_ERROR_MSG_SIZE]; /* last failure, "" if none */
    int vcpus;
    uint64_t memory_mib;
    int64_t image_id;
    bool full_clone;
    bool start;                    /* boot after create */
    int ndisks;
    struct vr_vm_disk disks[VR_VM_MAX_DISKS];
    int nnics;
    struct vr_vm_nic nics[VR_VM_MAX_NICS];
    int64_t host_id;
    char host_name[VR_NAME_SIZE];
    char vnc_socket[108];          /* VNC's UNIX socket on the host, ""
                                    * when unknown */
    char console_log[256];         /* path on the host */
    int64_t state_at;              /* when `state` last changed */

    /* placement: what the VM asks for (kept for re-placement) ... */
    struct vr_vm_want want;
    /* ... and what it got */
    bool placed;                   /* `plan` holds resources */
    struct vr_sched_plan plan;
    char placement_why[512];       /* while PENDING: why no host fits,
                                    * the reasons only (its owner may not
                                    * see hosts) */
    char placement_detail[512];    /* the same with the hosts counted, for
                                    * operators: stored, not in the API's
                                    * JSON (vr_vm_placement_detail) */
};

extern const struct vr_kind vr_vm_kind;

VR_ENUM_DECLARE(vr_vm_state, vr_vm_state);
/* (parse: "none" is no operation one may ask for) */
VR_ENUM_DECLARE(vr_vm_op, vr_vm_op);
VR_ENUM_DECLARE(vr_task_status, vr_task_status);

/* The table: may `op` be requested while the VM is in `state` (ignoring any
 * task)?  Used by vr_vm_sm_check and by the docs consistency test. */
bool vr_vm_sm_allowed(enum vr_vm_state state, enum vr_vm_op op);

/* Decide whether `op` may start now on `vm`: the state table plus the task
 * rules (an active job makes the VM busy; a failed task admits only
 * recover and delete).  On refusal sets err (VR_E_STATE, HTTP 409) naming
 * the current state and returns -1. */
int vr_vm_sm_check(const struct vr_vm *vm, enum vr_vm_op op,
                   struct vr_error *err);

/* State reached when `op` succeeds from `from`. */
enum vr_vm_state vr_vm_sm_target(const struct vr_vm *vm, enum vr_vm_op op);

/* Change the state (asserts the transition is legal) and stamp state_at. */
void vr_vm_set_state(struct vr_vm *vm, enum vr_vm_state to, int64_t now_ms);

/* Begin / end a task on the record (no I/O). */
/* A create that waits for a host with capacity (job phase "waiting"):
 * the one busy VM that may still be deleted. */
bool vr_vm_waiting_for_host(const struct vr_vm *vm);
void vr_vm_task_begin(struct vr_vm *vm, enum vr_vm_op op, int64_t job_id);
void vr_vm_task_clear(struct vr_vm *vm);

/* libvirt-facing name of the VM's domain: "vireo-<uuid>". out >= 48. */
void vr_vm_domain_name(const struct vr_vm *vm, char *out, size_t size);

#endif
