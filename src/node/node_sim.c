/*
 * node_sim.c - the simulated node transport (vr_node_sim.h).
 *
 * One mutex guards the host's domains, storage and faults; a call takes
 * it to decide and to act, never while it waits (a hung call waits on a
 * condition variable) or sends an event (events go out after the lock is
 * released, from the calling thread).  No thread of its own: a guest's
 * ACPI stop completes when it is due, at the first call that comes after
 * (the stop job and the monitor keep asking), so a thousand simulated
 * hosts cost no thread and no wake-up.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "vr_json.h"
#include "vr_log.h"
#include "vr_map.h"
#include "vr_node_sim.h"
#include "vr_wire.h"
#include "node_priv.h"

#define MOD "sim"

#define SIM_OPS(X)                                                         \
    X(host_info) X(probe_hypervisor) X(disk_prepare) X(vm_storage_remove)  \
    X(vm_storage_list) X(dom_define) X(dom_start) X(dom_shutdown)          \
    X(dom_destroy) X(dom_reboot) X(dom_reset) X(dom_pause) X(dom_resume)   \
    X(dom_save) X(dom_discard_save) X(dom_undefine) X(dom_info)            \
    X(dom_list) X(console_read)

enum sim_op {
#define VR_X(o) OP_##o,
    SIM_OPS(VR_X)
#undef VR_X
    OP__LAST
};

static const char *const op_names[] = {
#define VR_X(o) #o,
    SIM_OPS(VR_X)
#undef VR_X
};
_Static_assert(VR_ARRAY_SIZE(op_names) == OP__LAST, "names");

static const char *const fault_names[] = {"fail", "hang", "late",
                                          "unreachable", "lose-event"};

#define MAX_FAULTS 32

struct fault {
    int op;                      /* -1: every operation */
    enum vr_sim_fault kind;
    int left;                    /* calls still to fault; 0: every call */
};

struct sim_dom {
    char uuid[VR_UUID_LEN];
    int64_t vm_id;
    char instance[VR_UUID_LEN];
    enum vr_dom_state state;
    int vcpus;
    uint64_t memory_mib;
    int64_t stop_at;             /* mono ms an ACPI stop completes; 0 */
    int boots;
};

struct sim_node {
    struct vr_node *node;
    pthread_mutex_t lock;
    pthread_cond_t cond;         /* hung calls wait here */
    struct vr_host_caps caps;
    char instance[VR_UUID_LEN];
    char *state_file, *fault_file;
    int timeout_ms, shutdown_ms;

    struct vr_map doms;          /* uuid -> struct sim_dom * */
    struct vr_map dirs;          /* uuid -> owner instance (strdup'd) */

    struct fault faults[MAX_FAULTS];      /* from calls */
    int nfaults;
    struct fault file_faults[MAX_FAULTS]; /* from the fault file */
    int nfile_faults;
    int64_t file_mtime_ns;
    off_t file_size;
    uint64_t released;           /* bumped by vr_node_sim_release */

    int calls[OP__LAST];
    int active;

    /* guests whose ACPI stop completed, their events still to send */
    char (*stopped)[VR_UUID_LEN];
    size_t nstopped;
    bool stop;
};

#define SN(n) ((struct sim_node *)(n)->priv)

/* ---- persistence (lock held) */

static void save(struct sim_node *sn)
{
    json_t *doms = json_array(), *dirs = json_array(), *j;
    size_t pos = 0;
    struct sim_dom *d;
    char *text;
    struct vr_error err = VR_ERROR_INIT;

    if (!sn->state_file)
        return;
    while ((d = vr_map_next(&sn->doms, &pos)))
        json_array_append_new(
            doms, json_pack("{s:s, s:I, s:s, s:s, s:i, s:I, s:i}", "uuid",
                            d->uuid, "vm_id", (json_int_t)d->vm_id,
                            "instance", d->instance, "state",
                            vr_dom_state_name(d->state), "vcpus", d->vcpus,
                            "memory_mib", (json_int_t)d->memory_mib, "boots",
                            d->boots));
    pos = 0;
    {
        /* each value is "<uuid> <owner instance>" */
        char *owner;
        while ((owner = vr_map_next(&sn->dirs, &pos)))
            json_array_append_new(dirs, json_string(owner));
    }
    j = json_pack("{s:o, s:o}", "domains", doms, "dirs", dirs);
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (vr_write_file_atomic(sn->state_file, text, strlen(text), 0600, &err) <
        0)
        VR_WARN(MOD, "unable to save the simulated host: %s", err.msg);
    free(text);
}

static enum vr_dom_state state_parse(const char *s)
{
    for (int i = 0; i < VR_DOM__LAST; i++)
        if (s && strcmp(s, vr_dom_state_name((enum vr_dom_state)i)) == 0)
            return (enum vr_dom_state)i;
    return VR_DOM_SHUTOFF;
}

static void dir_put(struct sim_node *sn, const char *uuid,
                    const char *instance)
{
    free(vr_map_put_str(&sn->dirs, uuid,
                        vr_asprintf("%s %s", uuid, instance)));
}

static int load(struct sim_node *sn, struct vr_error *err)
{
    json_t *j, *v;
    json_error_t je;
    size_t i;

    if (!sn->state_file || !vr_path_exists(sn->state_file))
        return 0;
    j = json_load_file(sn->state_file, 0, &je);
    if (!j)
        return vr_err(err, VR_E_INTERNAL, "simulated host state '%s': %s",
                      sn->state_file, je.text);
    json_array_foreach(json_object_get(j, "domains"), i, v) {
        struct sim_dom *d = vr_calloc(1, sizeof(*d));
        vr_json_copy_str(v, "uuid", d->uuid, sizeof(d->uuid));
        d->vm_id = vr_json_get_i64(v, "vm_id");
        vr_json_copy_str(v, "instance", d->instance, sizeof(d->instance));
        d->state = state_parse(
            json_string_value(json_object_get(v, "state")));
        d->vcpus = (int)vr_json_get_i64(v, "vcpus");
        d->memory_mib = (uint64_t)vr_json_get_i64(v, "memory_mib");
        d->boots = (int)vr_json_get_i64(v, "boots");
        free(vr_map_put_str(&sn->doms, d->uuid, d));
    }
    json_array_foreach(json_object_get(j, "dirs"), i, v) {
        const char *s = json_string_value(v);
        char uuid[VR_UUID_LEN];
        if (!s || strlen(s) < VR_UUID_LEN)
            continue;
        vr_strlcpy(uuid, s, sizeof(uuid));
        dir_put(sn, uuid, s + VR_UUID_LEN);
    }
    json_decref(j);
    return 0;
}

/* ---- faults */

static int op_parse(const char *s)
{
    if (strcmp(s, "*") == 0)
        return -1;
    for (int i = 0; i < OP__LAST; i++)
        if (strcmp(s, op_names[i]) == 0)
            return i;
    return -2;
}

/* Read the fault file again if it changed (lock held).  A line that
 * cannot be read is skipped, with a warning. */
static void read_fault_file(struct sim_node *sn)
{
    struct stat st;
    char *text = NULL, *line, *save_ptr = NULL;
    size_t len;
    int64_t mtime;

    if (!sn->fault_file)
        return;
    if (stat(sn->fault_file, &st) < 0) {
        sn->nfile_faults = 0;
        sn->file_mtime_ns = 0;
        return;
    }
    mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (mtime == sn->file_mtime_ns && st.st_size == sn->file_size)
        return;
    sn->file_mtime_ns = mtime;
    sn->file_size = st.st_size;
    sn->nfile_faults = 0;
    if (vr_read_file(sn->fault_file, 64 * 1024, &text, &len, NULL) < 0)
        return;
    for (line = strtok_r(text, "\n", &save_ptr); line;
         line = strtok_r(NULL, "\n", &save_ptr)) {
        char op[32], kind[16];
        int count = 0, n, k = -1, o;
        if (line[0] == '#')
            continue;
        n = sscanf(line, "%31s %15s %d", op, kind, &count);
        if (n < 2)
            continue;
        for (size_t i = 0; i < VR_ARRAY_SIZE(fault_names); i++)
            if (strcmp(kind, fault_names[i]) == 0)
                k = (int)i;
        o = op_parse(op);
        if (k < 0 || o == -2 || count < 0 ||
            sn->nfile_faults == MAX_FAULTS) {
            VR_WARN(MOD, "%s: line '%.64s' ignored", sn->fault_file, line);
            continue;
        }
        sn->file_faults[sn->nfile_faults++] =
            (struct fault){o, (enum vr_sim_fault)k, count};
    }
    free(text);
}

/* The fault for this call of `op`, consumed (lock held); -1: none. */
static int take_fault(struct fault *f, int *n, int op)
{
    for (int i = 0; i < *n; i++) {
        if (f[i].op != -1 && f[i].op != op)
            continue;
        int kind = (int)f[i].kind;
        if (f[i].left > 0 && --f[i].left == 0) {
            memmove(&f[i], &f[i + 1], (size_t)(*n - i - 1) * sizeof(*f));
            (*n)--;
        }
        return kind;
    }
    return -1;
}

static int64_t deadline_ts(int ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
    return 0;
}

/* Complete the ACPI stops that are due (lock held): their events go out
 * when the lock is released (leave). */
static void settle(struct sim_node *sn)
{
    int64_t now = vr_mono_ms();
    size_t pos = 0;
    struct sim_dom *d;

    while ((d = vr_map_next(&sn->doms, &pos))) {
        if (!d->stop_at || d->stop_at > now)
            continue;
        d->stop_at = 0;
        if (d->state != VR_DOM_RUNNING)
            continue;
        d->state = VR_DOM_SHUTOFF;
        sn->stopped = vr_realloc(sn->stopped,
                                 (sn->nstopped + 1) * sizeof(*sn->stopped));
        memcpy(sn->stopped[sn->nstopped++], d->uuid, VR_UUID_LEN);
    }
}

/* Release the lock (held) and send the events of completed stops. */
static void unlock_and_send(struct sim_node *sn, bool changed)
{
    char (*stopped)[VR_UUID_LEN] = sn->stopped;
    size_t n = sn->nstopped;

    sn->stopped = NULL;
    sn->nstopped = 0;
    if (changed || n)
        save(sn);
    pthread_mutex_unlock(&sn->lock);
    for (size_t i = 0; i < n; i++)
        vr_node_emit(sn->node, stopped[i], VR_DOM_SHUTOFF,
                     "the guest shut down");
    free(stopped);
}

/* Enter an operation: count it, apply a fault.  Returns with the lock
 * held and 0 to go on (*lose_event set for a lost event, *late for a
 * late answer), or -1 with err and the lock released. */
static int enter(struct sim_node *sn, enum sim_op op, bool *lose_event,
                 bool *late, struct vr_error *err)
{
    int kind;

    pthread_mutex_lock(&sn->lock);
    sn->calls[op]++;
    settle(sn);
    read_fault_file(sn);
    kind = take_fault(sn->faults, &sn->nfaults, op);
    if (kind < 0)
        kind = take_fault(sn->file_faults, &sn->nfile_faults, op);
    *lose_event = kind == VR_SIM_LOSE_EVENT;
    *late = kind == VR_SIM_LATE;
    switch (kind) {
    case VR_SIM_FAIL:
        pthread_mutex_unlock(&sn->lock);
        return vr_err(err, VR_E_HYPERVISOR, "%s: injected failure",
                      op_names[op]);
    case VR_SIM_UNREACHABLE:
        pthread_mutex_unlock(&sn->lock);
        return vr_err(err, VR_E_UNAVAILABLE, "host '%s' cannot be reached "
                      "(simulated)", sn->caps.hostname);
    case VR_SIM_HANG: {
        struct timespec ts;
        uint64_t gen = sn->released;
        int rc = 0;
        deadline_ts(sn->timeout_ms, &ts);
        sn->active++;
        while (gen == sn->released && !sn->stop && rc == 0)
            rc = pthread_cond_timedwait(&sn->cond, &sn->lock, &ts);
        sn->active--;
        if (gen == sn->released) {
            pthread_mutex_unlock(&sn->lock);
            return vr_err(err, VR_E_TIMEOUT, "%s: no answer from host '%s' "
                          "in %d ms", op_names[op], sn->caps.hostname,
                          sn->timeout_ms);
        }
        break; /* released: go on */
    }
    default:
        break;
    }
    return 0;
}

/* Leave an operation (lock held): save, unlock, send the event.  A late
 * answer turns success into "timed out" (the work was done). */
static int leave(struct sim_node *sn, enum sim_op op, int rc, bool changed,
                 const char *uuid, enum vr_dom_state ev, bool lose_event,
                 bool late, struct vr_error *err)
{
    unlock_and_send(sn, changed);
    if (rc == 0 && uuid && ev != VR_DOM__LAST) {
        if (lose_event)
            vr_node_lose_event(sn->node);
        else
            vr_node_emit(sn->node, uuid, ev, op_names[op]);
    }
    if (rc == 0 && late)
        return vr_err(err, VR_E_TIMEOUT, "%s: the host answered too late "
                      "(simulated; it was done)", op_names[op]);
    return rc;
}

static struct sim_dom *ours(struct sim_node *sn, const char *uuid)
{
    struct sim_dom *d = vr_map_get_str(&sn->doms, uuid);
    return d && strcmp(d->instance, sn->instance) == 0 ? d : NULL;
}

/* ---- operations */

static int sim_host_info(struct vr_node *n, struct vr_host_caps *caps,
                         struct vr_error *err)
{
    struct sim_node *sn = SN(n);
    bool lose, late;
    uint64_t used = 0;
    size_t pos = 0;
    struct sim_dom *d;

    if (enter(sn, OP_host_info, &lose, &late, err) < 0)
        return -1;
    *caps = sn->caps;
    while ((d = vr_map_next(&sn->doms, &pos)))
        if (d->state == VR_DOM_RUNNING || d->state == VR_DOM_PAUSED)
            used += d->memory_mib * 1024;
    caps->free_memory_kib =
        caps->memory_kib > used ? caps->memory_kib - used : 0;
    return leave(sn, OP_host_info, 0, false, NULL, VR_DOM__LAST, lose, late,
                 err);
}

static int sim_probe(struct vr_node *n, char hv[8], char *detail,
                     size_t detail_size, struct vr_error *err)
{
    struct sim_node *sn = SN(n);
    bool lose, late;

    if (enter(sn, OP_probe_hypervisor, &lose, &late, err) < 0)
        return -1;
    vr_strlcpy(hv, "qemu", 8);
    snprintf(detail, detail_size, "a simulated host: no guest runs");
    return leave(sn, OP_probe_hypervisor, 0, false, NULL, VR_DOM__LAST, lose,
                 late, err);
}

static int sim_disk_prepare(struct vr_node *n, const struct vr_disk_req *req,
                            struct vr_disk_made *out, struct vr_error *err)
{
    struct sim_node *sn = SN(n);
    bool lose, late;
    const char *owner;

    if (!vr_uuid_valid(req->vm_uuid) || req->index < 0 ||
        req->index >= VR_WIRE_MAX_DISKS)
        return vr_err(err, VR_E_INTERNAL, "bad disk request");
    if (enter(sn, OP_disk_prepare, &lose, &late, err) < 0)
        return -1;
    owner = vr_map_get_str(&sn->dirs, req->vm_uuid);
    if (owner && strcmp(owner + VR_UUID_LEN, sn->instance) != 0) {
        pthread_mutex_unlock(&sn->lock);
        return vr_err(err, VR_E_CONFLICT, "the directory of vm %s belongs to "
                      "another installation", req->vm_uuid);
    }
    if (!owner)
        dir_put(sn, req->vm_uuid, sn->instance);
    snprintf(out->path, sizeof(out->path), "sim:%s/disk-%d.qcow2",
             req->vm_uuid, req->index);
    vr_strlcpy(out->format, "qcow2", sizeof(out->format));
    out->size_mib = req->size_mib ? req->size_mib : 1024;
    return leave(sn, OP_disk_prepare, 0, !owner, NULL, VR_DOM__LAST, lose,
                 late, err);
}

static int sim_storage_remove(struct vr_node *n, const char *uuid,
                              struct vr_error *err)
{
    struct sim_node *sn = SN(n);
    bool lose, late, changed = false;
    char *owner;

    if (enter(sn, OP_vm_storage_remove, &lose, &late, err) < 0)
        return -1;
    owner = vr_map_get_str(&sn->dirs, uuid);
    if (owner && strcmp(owner + VR_UUID_LEN, sn->instance) == 0) {
        free(vr_map_del_str(&sn->dirs, uuid));
        changed = true;
    }
    return leave(sn, OP_vm_storage_remove, 0, changed, NULL, VR_DOM__LAST,
                 lose, late, err);
}

static int sim_storage_list(struct vr_node *n,
                            bool (*mark)(const char *uuid, void *ctx),
                            void *mark_ctx, char ***uuids, size_t *count,
                            struct vr_error *err)
{
    struct sim_node *sn = SN(n);
    bool lose, late;
    size_t pos = 0, k = 0;
    char *owner;

    (void)mark;
    (void)mark_ctx;
    if (enter(sn, OP_vm_storage_list, &lose, &late, err) < 0)
        return -1;
    *uuids = vr_calloc(sn->dirs.count + 1, sizeof(**uuids));
    while ((owner = vr_map_next(&sn->dirs, &pos)))
        if (strcmp(owner + VR_UUID_LEN, sn->instance) == 0) {
            char *u = vr_strdup(owner);
            u[VR_UUID_LEN - 1] = '\0';
            (*uuids)[k++] = u;
        }
    *count = k;
    return leave(sn, OP_vm_storage_list, 0, false, NULL, VR_DOM__LAST, lose,
                 late, err);
}

static int sim_define(struct vr_node *n, struct vr_dom_spec *spec,
                      struct vr_error *err)
{
    struct sim_node *sn = SN(n);
    bool lose, late;
    struct sim_dom *d;

    if (!vr_uuid_valid(spec->uuid))
        return vr_err(err, VR_E_INTERNAL, "bad uuid");
    if (enter(sn, OP_dom_define, &lose, &late, err) < 0)
        return -1;
    d = vr_map_get_str(&sn->doms, spec->uuid);
    if (d && strcmp(d->instance, sn->instance) != 0) {
        pthread_mutex_unlock(&sn->lock);
        return vr_err(err, VR_E_CONFLICT, "a domain with uuid %s that is not "
                      "this installation's exists on host '%s'", spec->uuid,
                      sn->caps.hostname);
    }
    if (!d) {
        d = vr_calloc(1, sizeof(*d));
        vr_strlcpy(d->uuid, spec->uuid, sizeof(d->uuid));
        vr_strlcpy(d->instance, sn->instance, sizeof(d->instance));
        d->state = VR_DOM_SHUTOFF;
        vr_map_put_str(&sn->doms, d->uuid, d);
    }
    d->vm_id = spec->vm_id;
    d->vcpus = spec->vcpus;
    d->memory_mib = spec->memory_mib;
    if (!spec->console_log[0])
        snprintf(spec->console_log, sizeof(spec->console_log),
                 "sim:%s/console.log", spec->uuid);
    return leave(sn, OP_dom_define, 0, true, NULL, VR_DOM__LAST, lose, late,
                 err);
}

/* The state changes of the simple domain operations.  `request_id`:
 * that of a non-idempotent one (reboot, reset), done once per id; NULL
 * for the others. */
static int sim_action(struct vr_node *n, enum sim_op op, const char *uuid,
                      const char *request_id, struct vr_error *err)
{
    struct sim_node *sn = SN(n);
    bool lose, late, changed = false;
    enum vr_dom_state ev = VR_DOM__LAST;
    struct sim_dom *d;
    int rc = 0;

    if (request_id && vr_node_request_begin(n, request_id, &rc, err))
        return rc;
    if (enter(sn, op, &lose, &late, err) < 0) {
        if (request_id)
            vr_node_request_end(n, request_id, -1, false);
        return -1;
    }
    d = ours(sn, uuid);
    if (!d) {
        /* making it absent is done; acting on it needs it */
        if (op != OP_dom_shutdown && op != OP_dom_destroy &&
            op != OP_dom_undefine)
            rc = vr_err(err, VR_E_HYPERVISOR, "%s: domain %s not found on "
                        "host '%s'", op_names[op], uuid, sn->caps.hostname);
        if (request_id)
            vr_node_request_end(n, request_id, rc, false);
        return leave(sn, op, rc, false, NULL, ev, lose, late, err);
    }
    switch (op) {
    case OP_dom_start:
        if (d->state != VR_DOM_RUNNING && d->state != VR_DOM_PAUSED) {
            d->state = VR_DOM_RUNNING;
            d->boots++;
            d->stop_at = 0;
            ev = VR_DOM_RUNNING;
        }
        break;
    case OP_dom_shutdown:
        if (d->state == VR_DOM_RUNNING && sn->shutdown_ms == 0) {
            d->state = VR_DOM_SHUTOFF;
            ev = VR_DOM_SHUTOFF;
        } else if (d->state == VR_DOM_RUNNING && sn->shutdown_ms > 0 &&
                   !d->stop_at) {
            d->stop_at = vr_mono_ms() + sn->shutdown_ms;
        }
        break;
    case OP_dom_destroy:
        if (d->state == VR_DOM_RUNNING || d->state == VR_DOM_PAUSED ||
            d->state == VR_DOM_CRASHED || d->state == VR_DOM_BUSY) {
            d->state = VR_DOM_SHUTOFF;
            d->stop_at = 0;
            ev = VR_DOM_SHUTOFF;
        }
        break;
    case OP_dom_reboot:
    case OP_dom_reset:
        if (d->state != VR_DOM_RUNNING)
            rc = vr_err(err, VR_E_HYPERVISOR, "%s: domain %s is not running",
                        op_names[op], uuid);
        else
            d->boots++;
        break;
    case OP_dom_pause:
        if (d->state == VR_DOM_RUNNING) {
            d->state = VR_DOM_PAUSED;
            ev = VR_DOM_PAUSED;
        } else if (d->state != VR_DOM_PAUSED) {
            rc = vr_err(err, VR_E_HYPERVISOR, "pause: domain %s is not "
                        "running", uuid);
        }
        break;
    case OP_dom_resume:
        if (d->state == VR_DOM_PAUSED) {
            d->state = VR_DOM_RUNNING;
            ev = VR_DOM_RUNNING;
        } else if (d->state != VR_DOM_RUNNING) {
            rc = vr_err(err, VR_E_HYPERVISOR, "resume: domain %s is not "
                        "paused", uuid);
        }
        break;
    case OP_dom_save:
        if (d->state == VR_DOM_RUNNING || d->state == VR_DOM_PAUSED) {
            d->state = VR_DOM_SAVED;
            d->stop_at = 0;
            ev = VR_DOM_SAVED;
        } else if (d->state != VR_DOM_SAVED) {
            rc = vr_err(err, VR_E_HYPERVISOR, "save: domain %s is not "
                        "running", uuid);
        }
        break;
    case OP_dom_discard_save:
        if (d->state == VR_DOM_SAVED)
            d->state = VR_DOM_SHUTOFF;
        break;
    case OP_dom_undefine:
        vr_map_del_str(&sn->doms, uuid);
        free(d);
        d = NULL;
        ev = VR_DOM_NONE;
        break;
    default:
        rc = vr_err(err, VR_E_INTERNAL, "not an action");
        break;
    }
    changed = rc == 0;
    /* (what was done is remembered also when the answer comes "late") */
    if (request_id)
        vr_node_request_end(n, request_id, rc, false);
    return leave(sn, op, rc, changed, uuid, ev, lose, late, err);
}

#define SIM_ACTION(name)                                                   \
    static int sim_##name(struct vr_node *n, const char *uuid,            \
                          struct vr_error *err)                           \
    {                                                                      \
        return sim_action(n, OP_##name, uuid, NULL, err);                  \
    }
#define SIM_ONCE(name)                                                     \
    static int sim_##name(struct vr_node *n, const char *uuid,            \
                          const char *request_id, struct vr_error *err)   \
    {                                                                      \
        return sim_action(n, OP_##name, uuid, request_id, err);            \
    }
SIM_ACTION(dom_start)
SIM_ACTION(dom_shutdown)
SIM_ACTION(dom_destroy)
SIM_ONCE(dom_reboot)
SIM_ONCE(dom_reset)
SIM_ACTION(dom_pause)
SIM_ACTION(dom_resume)
SIM_ACTION(dom_save)
SIM_ACTION(dom_discard_save)
SIM_ACTION(dom_undefine)

static void dom_to_info(struct sim_node *sn, const struct sim_dom *d,
                        struct vr_dom_info *out)
{
    memset(out, 0, sizeof(*out));
    vr_strlcpy(out->uuid, d->uuid, sizeof(out->uuid));
    if (strcmp(d->instance, sn->instance) != 0) {
        out->state = VR_DOM_NONE;
        out->foreign = true;
        return;
    }
    out->vm_id = d->vm_id;
    vr_strlcpy(out->instance, d->instance, sizeof(out->instance));
    out->state = d->state;
}

static int sim_dom_info(struct vr_node *n, const char *uuid,
                        struct vr_dom_info *out, struct vr_error *err)
{
    struct sim_node *sn = SN(n);
    bool lose, late;
    struct sim_dom *d;

    if (enter(sn, OP_dom_info, &lose, &late, err) < 0)
        return -1;
    d = vr_map_get_str(&sn->doms, uuid);
    if (d) {
        dom_to_info(sn, d, out);
    } else {
        memset(out, 0, sizeof(*out));
        vr_strlcpy(out->uuid, uuid, sizeof(out->uuid));
        out->state = VR_DOM_NONE;
    }
    return leave(sn, OP_dom_info, 0, false, NULL, VR_DOM__LAST, lose, late,
                 err);
}

static int sim_dom_list(struct vr_node *n, const char *instance,
                        struct vr_dom_info **out, size_t *count,
                        struct vr_error *err)
{
    struct sim_node *sn = SN(n);
    bool lose, late;
    size_t pos = 0, k = 0;
    struct sim_dom *d;

    if (enter(sn, OP_dom_list, &lose, &late, err) < 0)
        return -1;
    *out = vr_calloc(sn->doms.count + 1, sizeof(**out));
    while ((d = vr_map_next(&sn->doms, &pos)))
        if (strcmp(d->instance, instance) == 0 &&
            strcmp(d->instance, sn->instance) == 0)
            dom_to_info(sn, d, &(*out)[k++]);
    *count = k;
    return leave(sn, OP_dom_list, 0, false, NULL, VR_DOM__LAST, lose, late,
                 err);
}

static int sim_console_read(struct vr_node *n, const char *uuid,
                            int64_t offset, size_t max, char **data,
                            size_t *len, struct vr_error *err)
{
    struct sim_node *sn = SN(n);
    bool lose, late;
    struct sim_dom *d;
    struct vr_buf b = VR_BUF_INIT;
    size_t start;

    if (enter(sn, OP_console_read, &lose, &late, err) < 0)
        return -1;
    d = ours(sn, uuid);
    vr_buf_init(&b);
    for (int i = 0; d && i < d->boots; i++)
        vr_buf_addf(&b, "simulated guest %s: boot %d\n", uuid, i + 1);
    if (offset < 0)
        start = (size_t)-offset >= b.len ? 0 : b.len - (size_t)-offset;
    else
        start = (size_t)offset > b.len ? b.len : (size_t)offset;
    *len = b.len - start < max ? b.len - start : max;
    *data = vr_malloc(*len + 1);
    memcpy(*data, (b.data ? b.data : "") + start, *len);
    (*data)[*len] = '\0';
    vr_buf_release(&b);
    return leave(sn, OP_console_read, 0, false, NULL, VR_DOM__LAST, lose,
                 late, err);
}

/* Free everything of a simulated host (no call may be inside it). */
static void sim_free(struct sim_node *sn)
{
    size_t pos = 0;
    void *v;

    free(sn->stopped);
    while ((v = vr_map_next(&sn->doms, &pos)))
        free(v);
    pos = 0;
    while ((v = vr_map_next(&sn->dirs, &pos)))
        free(v);
    vr_map_release(&sn->doms);
    vr_map_release(&sn->dirs);
    pthread_mutex_destroy(&sn->lock);
    pthread_cond_destroy(&sn->cond);
    free(sn->state_file);
    free(sn->fault_file);
    free(sn);
}

static void sim_close(struct vr_node *n)
{
    struct sim_node *sn = SN(n);

    if (!sn)
        return;
    pthread_mutex_lock(&sn->lock);
    sn->stop = true;
    pthread_cond_broadcast(&sn->cond);
    pthread_mutex_unlock(&sn->lock);
    sim_free(sn);
    n->priv = NULL;
}

/* ---- over the wire
 *
 * The simulated host takes its arguments and gives its answers the way a
 * remote node would: each is written as a node protocol message
 * (vr_wire.h), as text, and read back by the strict decoder before it is
 * used.  A field that the codecs forget is lost here as on the network,
 * and the controller's tests over `sim` notice. */

/* `body` (stolen) as the message `op`, through its text and back: the
 * body as received (a new reference), or NULL with err. */
static json_t *wire_pass(const char *op, json_t *body, struct vr_error *err)
{
    json_t *msg = vr_wire_message(op, body), *back;
    char *text = vr_json_dump(msg);
    const json_t *got;
    const char *got_op;

    json_decref(msg);
    back = json_loads(text, 0, NULL);
    free(text);
    if (!back) {
        vr_err(err, VR_E_INTERNAL, "%s: the message does not read back", op);
        return NULL;
    }
    if (vr_wire_message_open(back, &got_op, &got, err) < 0 ||
        strcmp(got_op, op) != 0) {
        if (err->code == VR_E_NONE)
            vr_err(err, VR_E_INTERNAL, "%s: the message changed op", op);
        json_decref(back);
        return NULL;
    }
    json_incref((json_t *)got);
    json_decref(back);
    return (json_t *)got;
}

#define WIRE(op, to_json, from_json, in, out, err)                         \
    do {                                                                   \
        json_t *j_ = wire_pass((op), to_json(in), (err));                  \
        int r_ = j_ ? from_json(j_, (out), (err)) : -1;                    \
        json_decref(j_);                                                   \
        if (r_ < 0) {                                                      \
            vr_err_prefix((err), "node protocol, %s", (op));               \
            return -1;                                                     \
        }                                                                  \
    } while (0)

static int wire_dom_define(struct vr_node *n, struct vr_dom_spec *spec,
                           struct vr_error *err)
{
    struct vr_dom_spec *got = vr_malloc(sizeof(*got));
    int rc = -1;

    {
        json_t *j = wire_pass("dom_define", vr_wire_spec_to_json(spec), err);
        int r = j ? vr_wire_spec_from_json(j, got, err) : -1;
        json_decref(j);
        if (r < 0) {
            vr_err_prefix(err, "node protocol, dom_define");
            goto out;
        }
    }
    rc = sim_define(n, got, err);
    /* the node fills in the console log's place */
    if (rc == 0)
        vr_strlcpy(spec->console_log, got->console_log,
                   sizeof(spec->console_log));
out:
    free(got);
    return rc;
}

static int wire_disk_prepare(struct vr_node *n, const struct vr_disk_req *req,
                             struct vr_disk_made *out, struct vr_error *err)
{
    struct vr_disk_req got;
    struct vr_disk_made made;

    WIRE("disk_prepare", vr_wire_disk_req_to_json,
         vr_wire_disk_req_from_json, req, &got, err);
    memset(&made, 0, sizeof(made));
    if (sim_disk_prepare(n, &got, &made, err) < 0)
        return -1;
    WIRE("disk_made", vr_wire_disk_made_to_json,
         vr_wire_disk_made_from_json, &made, out, err);
    return 0;
}

static int wire_dom_info(struct vr_node *n, const char *uuid,
                         struct vr_dom_info *out, struct vr_error *err)
{
    struct vr_dom_info info;

    if (sim_dom_info(n, uuid, &info, err) < 0)
        return -1;
    WIRE("dom_info", vr_wire_dom_info_to_json,
         vr_wire_dom_info_from_json, &info, out, err);
    return 0;
}

static int wire_dom_list(struct vr_node *n, const char *instance,
                         struct vr_dom_info **out, size_t *count,
                         struct vr_error *err)
{
    if (sim_dom_list(n, instance, out, count, err) < 0)
        return -1;
    for (size_t i = 0; i < *count; i++) {
        struct vr_dom_info info = (*out)[i];
        json_t *j = wire_pass("dom_info", vr_wire_dom_info_to_json(&info),
                              err);
        int r = j ? vr_wire_dom_info_from_json(j, &(*out)[i], err) : -1;
        json_decref(j);
        if (r < 0) {
            vr_err_prefix(err, "node protocol, dom_list");
            free(*out);
            *out = NULL;
            *count = 0;
            return -1;
        }
    }
    return 0;
}

static int wire_host_info(struct vr_node *n, struct vr_host_caps *caps,
                          struct vr_error *err)
{
    struct vr_host_caps *got;
    json_t *j;

    if (sim_host_info(n, caps, err) < 0)
        return -1;
    j = wire_pass("host_info", vr_host_caps_to_json(caps), err);
    if (!j)
        return -1;
    got = vr_malloc(sizeof(*got));
    vr_host_caps_from_json(got, j);
    json_decref(j);
    *caps = *got;
    free(got);
    return 0;
}

static const struct vr_node_ops sim_ops = {
    .name = "sim",
    .host_info = wire_host_info,
    .probe_hypervisor = sim_probe,
    .disk_prepare = wire_disk_prepare,
    .vm_storage_remove = sim_storage_remove,
    .vm_storage_list = sim_storage_list,
    .dom_define = wire_dom_define,
    .dom_start = sim_dom_start,
    .dom_shutdown = sim_dom_shutdown,
    .dom_destroy = sim_dom_destroy,
    .dom_reboot = sim_dom_reboot,
    .dom_reset = sim_dom_reset,
    .dom_pause = sim_dom_pause,
    .dom_resume = sim_dom_resume,
    .dom_save = sim_dom_save,
    .dom_discard_save = sim_dom_discard_save,
    .dom_undefine = sim_dom_undefine,
    .dom_info = wire_dom_info,
    .dom_list = wire_dom_list,
    .console_read = sim_console_read,
    .close = sim_close,
};

void vr_node_sim_caps(struct vr_host_caps *caps, int cpus,
                      uint64_t memory_mib)
{
    memset(caps, 0, sizeof(*caps));
    if (cpus < 2)
        cpus = 2;
    if (cpus > VR_HOST_MAX_CPUS)
        cpus = VR_HOST_MAX_CPUS;
    cpus &= ~1;
    vr_strlcpy(caps->arch, "x86_64", sizeof(caps->arch));
    vr_strlcpy(caps->cpu_model, "sim", sizeof(caps->cpu_model));
    vr_strlcpy(caps->cpu_vendor, "Vireo", sizeof(caps->cpu_vendor));
    caps->cpus = cpus;
    caps->sockets = 1;
    caps->cores = cpus / 2;
    caps->threads = 2;
    caps->mhz = 2000;
    caps->memory_kib = memory_mib * 1024;
    caps->free_memory_kib = caps->memory_kib;
    caps->ncells = 1;
    caps->cells[0].id = 0;
    caps->cells[0].memory_kib = caps->memory_kib;
    caps->cells[0].ncpus = cpus;
    snprintf(caps->cells[0].cpus, sizeof(caps->cells[0].cpus), "0-%d",
             cpus - 1);
    caps->ncpu_topo = cpus;
    for (int i = 0; i < cpus; i++) {
        /* thread siblings: i and i + cpus/2 share a core */
        caps->cpu_topo[i].id = (int16_t)i;
        caps->cpu_topo[i].cell = 0;
        caps->cpu_topo[i].socket = 0;
        caps->cpu_topo[i].core = (int16_t)(i % (cpus / 2));
    }
    vr_strlcpy(caps->libvirt_version, "sim", sizeof(caps->libvirt_version));
    vr_strlcpy(caps->hv_version, "sim", sizeof(caps->hv_version));
    caps->disk_free_mib = 1024 * 1024;
}

int vr_node_sim_caps_from_xml(const char *xml, struct vr_host_caps *caps,
                          struct vr_error *err)
{
    uint64_t mem = 0;

    memset(caps, 0, sizeof(*caps));
    if (vr_caps_parse(xml, caps, err) < 0)
        return -1;
    for (int i = 0; i < caps->ncells; i++) {
        /* at most 1 PiB a cell: sums stay far from overflowing */
        if (caps->cells[i].memory_kib > (1ULL << 40))
            return vr_err(err, VR_E_INVALID, "cell %d: memory of %llu KiB "
                          "is not believable", caps->cells[i].id,
                          (unsigned long long)caps->cells[i].memory_kib);
        mem += caps->cells[i].memory_kib;
    }
    caps->cpus = caps->ncpu_topo;
    caps->memory_kib = mem;
    if (!caps->cpus || !caps->memory_kib)
        return vr_err(err, VR_E_INVALID, "the document names no CPU or no "
                      "memory (a <host><topology> with cells is needed)");
    if (!caps->sockets)
        caps->sockets = 1;
    if (!caps->threads)
        caps->threads = 1;
    if (!caps->cores)
        caps->cores = caps->cpus / caps->sockets / caps->threads;
    caps->free_memory_kib = caps->memory_kib;
    caps->disk_free_mib = 1024 * 1024;
    return 0;
}

struct vr_node *vr_node_sim_open(const struct vr_node_sim_cfg *cfg,
                                 vr_node_event_fn on_event, void *ctx,
                                 struct vr_error *err)
{
    struct sim_node *sn = vr_calloc(1, sizeof(*sn));
    struct vr_node *n;
    pthread_condattr_t ca;

    if (!cfg->instance || !vr_uuid_valid(cfg->instance) || !cfg->uuid ||
        !vr_uuid_valid(cfg->uuid)) {
        free(sn);
        vr_err(err, VR_E_INTERNAL, "a simulated host needs its UUID and the "
               "installation's id");
        return NULL;
    }
    if (cfg->caps)
        sn->caps = *cfg->caps;
    else
        vr_node_sim_caps(&sn->caps, cfg->cpus ? cfg->cpus : 16,
                         cfg->memory_mib ? cfg->memory_mib : 64 * 1024);
    vr_strlcpy(sn->caps.uuid, cfg->uuid, sizeof(sn->caps.uuid));
    vr_strlcpy(sn->caps.hostname, cfg->hostname ? cfg->hostname : "sim",
               sizeof(sn->caps.hostname));
    vr_strlcpy(sn->instance, cfg->instance, sizeof(sn->instance));
    sn->state_file = cfg->state_file ? vr_strdup(cfg->state_file) : NULL;
    sn->fault_file = cfg->fault_file ? vr_strdup(cfg->fault_file) : NULL;
    sn->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
    sn->shutdown_ms = cfg->shutdown_ms ? cfg->shutdown_ms : 50;
    if (sn->shutdown_ms < -1)
        sn->shutdown_ms = -1;
    pthread_mutex_init(&sn->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sn->cond, &ca);
    pthread_condattr_destroy(&ca);
    vr_map_init_str(&sn->doms);
    vr_map_init_str(&sn->dirs);
    n = vr_node_new(&sim_ops, sn, on_event, ctx);
    sn->node = n;
    if (load(sn, err) < 0) {
        sim_free(sn);
        free(n);
        return NULL;
    }
    return n;
}

/* ---- test hooks */

int vr_node_sim_fault(struct vr_node *n, const char *op,
                      enum vr_sim_fault kind, int count)
{
    struct sim_node *sn = SN(n);
    int o = op_parse(op);

    if (o == -2 || count < 0)
        return -1;
    pthread_mutex_lock(&sn->lock);
    if (sn->nfaults < MAX_FAULTS)
        sn->faults[sn->nfaults++] = (struct fault){o, kind, count};
    pthread_mutex_unlock(&sn->lock);
    return 0;
}

void vr_node_sim_clear(struct vr_node *n)
{
    struct sim_node *sn = SN(n);

    pthread_mutex_lock(&sn->lock);
    sn->nfaults = 0;
    pthread_mutex_unlock(&sn->lock);
}

void vr_node_sim_release(struct vr_node *n)
{
    struct sim_node *sn = SN(n);

    pthread_mutex_lock(&sn->lock);
    sn->released++;
    pthread_cond_broadcast(&sn->cond);
    pthread_mutex_unlock(&sn->lock);
}

int vr_node_sim_calls(struct vr_node *n, const char *op)
{
    struct sim_node *sn = SN(n);
    int o = op_parse(op), c = 0;

    pthread_mutex_lock(&sn->lock);
    for (int i = 0; i < OP__LAST; i++)
        if (o == -1 || o == i)
            c += sn->calls[i];
    pthread_mutex_unlock(&sn->lock);
    return c;
}

int vr_node_sim_active(struct vr_node *n)
{
    struct sim_node *sn = SN(n);
    int a;

    pthread_mutex_lock(&sn->lock);
    a = sn->active;
    pthread_mutex_unlock(&sn->lock);
    return a;
}

void vr_node_sim_shutdown_ms(struct vr_node *n, int ms)
{
    struct sim_node *sn = SN(n);

    pthread_mutex_lock(&sn->lock);
    sn->shutdown_ms = ms < 0 ? -1 : ms;
    pthread_mutex_unlock(&sn->lock);
}

int vr_node_sim_crash(struct vr_node *n, const char *uuid, bool quiet)
{
    struct sim_node *sn = SN(n);
    struct sim_dom *d;

    pthread_mutex_lock(&sn->lock);
    d = ours(sn, uuid);
    if (!d || d->state != VR_DOM_RUNNING) {
        pthread_mutex_unlock(&sn->lock);
        return -1;
    }
    d->state = VR_DOM_CRASHED;
    save(sn);
    pthread_mutex_unlock(&sn->lock);
    if (quiet)
        vr_node_lose_event(n);
    else
        vr_node_emit(n, uuid, VR_DOM_CRASHED, "the guest crashed");
    return 0;
}

void vr_node_sim_plant(struct vr_node *n, const char *uuid,
                       const char *instance)
{
    struct sim_node *sn = SN(n);
    struct sim_dom *d = vr_calloc(1, sizeof(*d));

    vr_strlcpy(d->uuid, uuid, sizeof(d->uuid));
    vr_strlcpy(d->instance, instance, sizeof(d->instance));
    d->state = VR_DOM_RUNNING;
    pthread_mutex_lock(&sn->lock);
    free(vr_map_put_str(&sn->doms, d->uuid, d));
    save(sn);
    pthread_mutex_unlock(&sn->lock);
}

enum vr_dom_state vr_node_sim_state(struct vr_node *n, const char *uuid)
{
    struct sim_node *sn = SN(n);
    struct sim_dom *d;
    enum vr_dom_state s;

    pthread_mutex_lock(&sn->lock);
    d = vr_map_get_str(&sn->doms, uuid);
    s = d ? d->state : VR_DOM_NONE;
    pthread_mutex_unlock(&sn->lock);
    return s;
}

int vr_node_sim_boots(struct vr_node *n, const char *uuid)
{
    struct sim_node *sn = SN(n);
    struct sim_dom *d;
    int boots;

    pthread_mutex_lock(&sn->lock);
    d = vr_map_get_str(&sn->doms, uuid);
    boots = d ? d->boots : 0;
    pthread_mutex_unlock(&sn->lock);
    return boots;
}

size_t vr_node_sim_domains(struct vr_node *n)
{
    struct sim_node *sn = SN(n);
    size_t pos = 0, k = 0;
    struct sim_dom *d;

    pthread_mutex_lock(&sn->lock);
    while ((d = vr_map_next(&sn->doms, &pos)))
        k += strcmp(d->instance, sn->instance) == 0;
    pthread_mutex_unlock(&sn->lock);
    return k;
}

size_t vr_node_sim_dirs(struct vr_node *n)
{
    struct sim_node *sn = SN(n);
    size_t pos = 0, k = 0;
    const char *owner;

    pthread_mutex_lock(&sn->lock);
    while ((owner = vr_map_next(&sn->dirs, &pos)))
        k += strcmp(owner + VR_UUID_LEN, sn->instance) == 0;
    pthread_mutex_unlock(&sn->lock);
    return k;
}
