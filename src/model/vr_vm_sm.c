/*
 * vr_vm_sm.c - the VM state machine, in one table.
 *
 *                   create (job: disks, define, boot)
 *          (new) ──────────────► PENDING
 *                                   │ boot ok            │ start=false
 *                                   ▼                    ▼
 *     reboot, reset ┌──────────► RUNNING ──stop/poweroff──► POWEROFF
 *                   └───────────┘ │  ▲ ▲  ◄──────start──────┘   ▲
 *                          pause  │  │ │ resume/start           │ poweroff
 *                                 ▼  │ │                        │ (discard)
 *                              PAUSED ─┼──suspend──► SUSPENDED ─┘
 *                                 ▲    └──resume─────┘
 *        RUNNING ──suspend────────┼──────────────► SUSPENDED
 *
 *   FAILED: an operation failed part-way (the task keeps its op, phase and
 *   job); or the hypervisor reported a crash.  Leaves through
 *   `recover --retry | --success | --failure` or `delete`.
 *
 *   Any stable state may also be *observed* from libvirt when no job runs
 *   (a guest that powers itself off becomes POWEROFF).  Only the create job
 *   leaves PENDING, and nothing returns to PENDING except a create being
 *   retried.
 *
 * Every request is decided by vr_vm_sm_check() (the table plus the task
 * rules); every change of state goes through vr_vm_set_state().
 */
#include "vr_vm.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

VR_ENUM_DEFINE(vr_vm_state, vr_vm_state, VR_VM_STATES, VR_VM__LAST, 0,
               "UNKNOWN")
VR_ENUM_DEFINE(vr_vm_op, vr_vm_op, VR_VM_OPS, VR_OP__LAST, 1, "unknown")
VR_ENUM_DEFINE(vr_task_status, vr_task_status, VR_TASK_STATUSES, VR_TASK__LAST,
               0, "unknown")

#define P (1 << VR_VM_PENDING)
#define R (1 << VR_VM_RUNNING)
#define A (1 << VR_VM_PAUSED)
#define S (1 << VR_VM_SUSPENDED)
#define O (1 << VR_VM_POWEROFF)
#define F (1 << VR_VM_FAILED)

/* For each operation, the set of states in which it may be requested.  This
 * is the table in docs/vm-states.md (a unit test keeps them equal). */
static const unsigned allowed_in[VR_OP__LAST] = {
    [VR_OP_NONE] = 0,
    [VR_OP_CREATE] = 0,               /* only the API creates */
    [VR_OP_START] = O | S,
    [VR_OP_STOP] = R,
    [VR_OP_POWEROFF] = R | A | S,
    [VR_OP_REBOOT] = R,
    [VR_OP_RESET] = R,
    [VR_OP_PAUSE] = R,
    [VR_OP_RESUME] = A | S,
    [VR_OP_SUSPEND] = R | A,
    [VR_OP_DELETE] = P | R | A | S | O | F,
    [VR_OP_RECOVER] = P | R | A | S | O | F, /* needs a task or FAILED */
};

#undef P
#undef R
#undef A
#undef S
#undef O
#undef F

bool vr_vm_sm_allowed(enum vr_vm_state state, enum vr_vm_op op)
{
    if ((unsigned)state >= VR_VM__LAST || (unsigned)op >= VR_OP__LAST)
        return false;
    return (allowed_in[op] >> state) & 1u;
}

int vr_vm_sm_check(const struct vr_vm *vm, enum vr_vm_op op,
                   struct vr_error *err)
{
    const char *st = vr_vm_state_name(vm->state);

    /* delete is taken in every state: it stops what runs (but another
     * delete) and cleans up */
    if (vm->task.status == VR_TASK_ACTIVE && op != VR_OP_RECOVER &&
        (op != VR_OP_DELETE || vm->task.op == VR_OP_DELETE))
        return vr_err(err, VR_E_STATE,
                      "vm '%s' is %s and busy: '%s' is in progress "
                      "(job %lld, phase '%s'); wait for it, delete it or "
                      "use recover",
                      vm->hdr.name, st, vr_vm_op_name(vm->task.op),
                      (long long)vm->task.job_id, vm->task.phase);
    if (vm->task.status == VR_TASK_FAILED && op != VR_OP_RECOVER &&
        op != VR_OP_DELETE)
        return vr_err(err, VR_E_STATE,
                      "vm '%s' is %s: '%s' failed in phase '%s'; use "
                      "recover (--retry, --success or --failure) or delete",
                      vm->hdr.name, st, vr_vm_op_name(vm->task.op),
                      vm->task.phase);
    if (op == VR_OP_RECOVER && vm->task.status == VR_TASK_NONE &&
        vm->state != VR_VM_FAILED)
        return vr_err(err, VR_E_STATE,
                      "vm '%s' is %s with no failed or stuck operation; "
                      "there is nothing to recover", vm->hdr.name, st);
    if (!vr_vm_sm_allowed(vm->state, op))
        return vr_err(err, VR_E_STATE,
                      "cannot %s vm '%s': it is %s", vr_vm_op_name(op),
                      vm->hdr.name, st);
    return 0;
}

enum vr_vm_state vr_vm_sm_target(const struct vr_vm *vm, enum vr_vm_op op)
{
    switch (op) {
    case VR_OP_CREATE:
        return vm->start ? VR_VM_RUNNING : VR_VM_POWEROFF;
    case VR_OP_START:
    case VR_OP_REBOOT:
    case VR_OP_RESET:
    case VR_OP_RESUME:
        return VR_VM_RUNNING;
    case VR_OP_STOP:
    case VR_OP_POWEROFF:
        return VR_VM_POWEROFF;
    case VR_OP_PAUSE:
        return VR_VM_PAUSED;
    case VR_OP_SUSPEND:
        return VR_VM_SUSPENDED;
    case VR_OP_NONE:
    case VR_OP_DELETE:
    case VR_OP_RECOVER:
    case VR_OP__LAST:
        break;
    }
    return vm->state;
}

void vr_vm_set_state(struct vr_vm *vm, enum vr_vm_state to, int64_t now_ms)
{
    assert((unsigned)to < VR_VM__LAST);
    /* Nothing returns to PENDING but a create being retried. */
    assert(to != VR_VM_PENDING || vm->state == VR_VM_PENDING ||
           (vm->task.op == VR_OP_CREATE) || vm->state == VR_VM_FAILED);
    if (vm->state != to)
        vm->state_at = now_ms;
    vm->state = to;
}

bool vr_vm_waiting_for_host(const struct vr_vm *vm)
{
    return vm->state == VR_VM_PENDING && vm->task.status == VR_TASK_ACTIVE &&
           vm->task.op == VR_OP_CREATE &&
           strcmp(vm->task.phase, "waiting") == 0;
}

void vr_vm_task_begin(struct vr_vm *vm, enum vr_vm_op op, int64_t job_id)
{
    vm->task.op = op;
    vm->task.status = VR_TASK_ACTIVE;
    vm->task.job_id = job_id;
    vr_strlcpy(vm->task.phase, "queued", sizeof(vm->task.phase));
}

void vr_vm_task_clear(struct vr_vm *vm)
{
    memset(&vm->task, 0, sizeof(vm->task));
}

void vr_vm_domain_name(const struct vr_vm *vm, char *out, size_t size)
{
    snprintf(out, size, "vireo-%s", vm->hdr.uuid);
}
