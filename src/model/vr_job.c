#include "vr_job.h"

#include <string.h>

#include "vr_json.h"

VR_ENUM_DEFINE(vr_job_status, vr_job_status, VR_JOB_STATUSES, VR_JOB__LAST, 0,
               "unknown")
VR_ENUM_DEFINE(vr_recover_mode, vr_recover_mode, VR_RECOVER_MODES,
               VR_RECOVER__LAST, 1, "")

bool vr_job_finished(const struct vr_job *job)
{
    return job->status == VR_JOB_SUCCEEDED || job->status == VR_JOB_FAILED ||
           job->status == VR_JOB_CANCELLED;
}

static json_t *job_to_json(const void *obj, bool internal)
{
    const struct vr_job *job = obj;
    json_t *j = json_object();

    (void)internal;
    vr_obj_hdr_to_json(&job->hdr, j);
    json_object_set_new(j, "requested_by", json_integer(job->requested_by));
    json_object_set_new(j, "op", json_string(vr_vm_op_name(job->op)));
    json_object_set_new(j, "object_kind", json_string(job->object_kind));
    json_object_set_new(j, "object_id", json_integer(job->object_id));
    json_object_set_new(j, "object_name", json_string(job->object_name));
    json_object_set_new(j, "status", json_string(vr_job_status_name(job->status)));
    json_object_set_new(j, "phase", json_string(job->phase));
    json_object_set_new(j, "progress", json_integer(job->progress));
    json_object_set_new(j, "origin_state",
                        json_string(vr_vm_state_name(job->origin)));
    if (job->timeout_s)
        json_object_set_new(j, "timeout", json_integer(job->timeout_s));
    if (job->recover) {
        json_object_set_new(j, "recover",
                            json_string(vr_recover_mode_name(job->recover)));
        json_object_set_new(j, "recover_op",
                            json_string(vr_vm_op_name(job->target_op)));
    }
    json_object_set_new(j, "attempts", json_integer(job->attempts));
    vr_json_set_str_or_null(j, "error", job->error);
    vr_json_set_time(j, "started_at", job->started_at);
    vr_json_set_time(j, "finished_at", job->finished_at);
    return j;
}

static int job_from_json(void *obj, const json_t *j, struct vr_error *err)
{
    struct vr_job *job = obj;
    const char *st = json_string_value(json_object_get(j, "status"));
    const char *rec = json_string_value(json_object_get(j, "recover"));

    vr_obj_hdr_from_json(&job->hdr, j);
    if (vr_vm_op_parse(json_string_value(json_object_get(j, "op")),
                       &job->op) < 0)
        return vr_err(err, VR_E_INTERNAL, "job %lld: bad op in record",
                      (long long)job->hdr.id);
    if (vr_job_status_parse(st, &job->status) < 0)
        return vr_err(err, VR_E_INTERNAL, "job %lld: bad status in record",
                      (long long)job->hdr.id);
    vr_json_copy_str(j, "object_kind", job->object_kind,
                     sizeof(job->object_kind));
    job->object_id = vr_json_get_i64(j, "object_id");
    job->requested_by = vr_json_get_i64(j, "requested_by");
    vr_json_copy_str(j, "object_name", job->object_name,
                     sizeof(job->object_name));
    vr_json_copy_str(j, "phase", job->phase, sizeof(job->phase));
    job->progress = (int)vr_json_get_i64(j, "progress");
    if (vr_vm_state_parse(json_string_value(json_object_get(j, "origin_state")),
                          &job->origin) < 0)
        job->origin = VR_VM_PENDING;
    job->timeout_s = (int)vr_json_get_i64(j, "timeout");
    if (!rec || vr_recover_mode_parse(rec, &job->recover) < 0)
        job->recover = VR_RECOVER_NONE;
    if (vr_vm_op_parse(json_string_value(json_object_get(j, "recover_op")),
                       &job->target_op) < 0)
        job->target_op = VR_OP_NONE;
    job->attempts = (int)vr_json_get_i64(j, "attempts");
    vr_json_copy_str(j, "error", job->error, sizeof(job->error));
    job->started_at = vr_json_get_time(j, "started_at");
    job->finished_at = vr_json_get_time(j, "finished_at");
    return 0;
}

static void job_refs(const void *obj, int64_t refs[2])
{
    const struct vr_job *job = obj;
    refs[0] = job->object_id;   /* informational: no foreign key */
    refs[1] = 0;
}

const struct vr_kind vr_job_kind = {
    .name = "job",
    .table = "jobs",
    .size = sizeof(struct vr_job),
    .names = VR_NAMES_NONE,
    .to_json = job_to_json,
    .from_json = job_from_json,
    .refs = job_refs,
};
