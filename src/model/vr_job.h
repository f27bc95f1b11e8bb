/*
 * vr_job.h - a persisted intended transition.
 *
 * A job is written to the store before anything is asked of a host; the
 * orchestrator runs it phase by phase, recording each phase, so that after
 * a crash the reconciler can finish it (every phase is idempotent) or roll
 * it back.
 */
#ifndef VR_JOB_H
#define VR_JOB_H

#include "vr_obj.h"
#include "vr_vm.h"

#define VR_JOB_STATUSES(X)                                                 \
    X(VR_JOB_QUEUED, "queued")                                             \
    X(VR_JOB_RUNNING, "running")                                           \
    X(VR_JOB_SUCCEEDED, "succeeded")                                       \
    X(VR_JOB_FAILED, "failed")                                             \
    X(VR_JOB_CANCELLED, "cancelled")

VR_ENUM_TYPE(vr_job_status, VR_JOB_STATUSES, VR_JOB__LAST);

#define VR_RECOVER_MODES(X)                                                \
    X(VR_RECOVER_NONE, "")                                                 \
    X(VR_RECOVER_RETRY, "retry")                                           \
    X(VR_RECOVER_SUCCESS, "success")                                       \
    X(VR_RECOVER_FAILURE, "failure")

VR_ENUM_TYPE(vr_recover_mode, VR_RECOVER_MODES, VR_RECOVER__LAST);

struct vr_job {
    struct vr_obj hdr;             /* owner, group, permissions: the VM's */
    int64_t requested_by;          /* the user who asked */
    enum vr_vm_op op;
    char object_kind[8];           /* "vm" */
    int64_t object_id;
    char object_name[VR_NAME_SIZE];
    enum vr_job_status status;
    char phase[32];
    int progress;                  /* 0..100 */
    enum vr_vm_state origin;       /* VM state when the job was accepted */
    int timeout_s;                 /* stop: ACPI grace period */
    enum vr_recover_mode recover;  /* recover: what to do */
    enum vr_vm_op target_op;       /* recover: the operation recovered */
    int attempts;                  /* times a worker picked it up */
    char error[VR_ERROR_MSG_SIZE];
    int64_t started_at;
    int64_t finished_at;
};

extern const struct vr_kind vr_job_kind;

VR_ENUM_DECLARE(vr_job_status, vr_job_status);
bool vr_job_finished(const struct vr_job *job);
/* (parse: "" is no mode one may ask for) */
VR_ENUM_DECLARE(vr_recover_mode, vr_recover_mode);

#endif
