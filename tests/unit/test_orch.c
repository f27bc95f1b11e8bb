/* The orchestrator, the monitor and the reconciler over simulated hosts:
 * the whole controller (store, jobs, placement) on the `sim` transport,
 * with faults injected at the node calls of every operation (fail, hang
 * past the deadline, answer late, lose the event, host unreachable) and
 * with the daemon killed between phases (in a child process).  No root,
 * no libvirt. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "vr_ctl.h"
#include "vr_hosts.h"
#include "vr_log.h"
#include "vr_node_sim.h"
#include "vr_placement.h"

struct fx {
    char dir[64];
    struct vr_config cfg;
    struct vr_ctl ctl;
    bool up;
    struct vr_principal admin;
    int64_t host;
    struct vr_node *sim;
};

static void config(struct fx *f)
{
    vr_config_defaults(&f->cfg, f->dir);
    f->cfg.local_host = false;
    f->cfg.node_timeout_s = 1;
    f->cfg.poll_interval_s = 1;
    f->cfg.stop_timeout_s = 2;
    vr_config_finish(&f->cfg);
}

static void principal(struct fx *f)
{
    struct vr_principal *p = &f->admin;

    memset(p, 0, sizeof(*p));
    p->user_id = vr_pool_id_by_name(&f->ctl.db.users, "admin");
    p->group_id = vr_pool_id_by_name(&f->ctl.db.groups, "superusers");
    p->super = true;
    p->ngroups = 1;
    p->groups[0] = p->group_id;
    vr_strlcpy(p->name, "admin", sizeof(p->name));
    vr_strlcpy(p->group_name, "superusers", sizeof(p->group_name));
    assert_true(p->user_id > 0 && p->group_id > 0);
}

/* Open the controller on f->dir (a second time: as after a restart). */
static void ctl_up(struct fx *f)
{
    struct vr_error err = VR_ERROR_INIT;

    if (vr_ctl_init(&f->ctl, &f->cfg, &err) < 0 ||
        vr_ctl_start(&f->ctl, &err) < 0)
        fail_msg("controller: %s", err.msg);
    f->up = true;
    principal(f);
    f->host = vr_pool_id_by_name(&f->ctl.db.hosts, "sim1");
    if (f->host)
        f->sim = vr_hosts_sim_node(&f->ctl, f->host);
}

static void ctl_down(struct fx *f)
{
    vr_node_close(f->sim);
    f->sim = NULL;
    if (f->up) {
        vr_ctl_stop_begin(&f->ctl);
        vr_ctl_shutdown(&f->ctl);
        f->up = false;
    }
}

static void add_image(struct fx *f)
{
    struct vr_image img;
    struct vr_error err = VR_ERROR_INIT;
    struct vr_tx tx;

    memset(&img, 0, sizeof(img));
    img.hdr.id = vr_pool_next_id(&f->ctl.db.images);
    vr_strlcpy(img.hdr.name, "img", sizeof(img.hdr.name));
    img.hdr.owner_id = f->admin.user_id;
    img.hdr.group_id = f->admin.group_id;
    img.hdr.perms = VR_PERMS_DEFAULT;
    img.state = VR_IMAGE_READY;
    vr_strlcpy(img.format, "qcow2", sizeof(img.format));
    img.virtual_size = 1ULL << 30;
    img.size = 1 << 20;
    vr_uuid_generate(img.hdr.uuid);
    /* the simulated hosts never read it; the image reconciler wants it */
    snprintf(img.path, sizeof(img.path), "%s/%s.qcow2", f->cfg.image_dir,
             img.hdr.uuid);
    assert_int_equal(vr_write_file_atomic(img.path, "sim", 3, 0400, &err), 0);
    assert_int_equal(vr_tx_begin(&f->ctl.db, &tx, &err), 0);
    assert_int_equal(vr_tx_put(&tx, &f->ctl.db.images, &img, &err), 0);
    assert_int_equal(vr_tx_commit(&tx, &err), 0);
}

static int setup(void **state)
{
    struct fx *f = vr_calloc(1, sizeof(*f));
    struct vr_error err = VR_ERROR_INIT;
    struct vr_host_add_req req = {.name = "sim1", .transport = "sim",
                                  .cpus = 16, .memory_mib = 65536};

    vr_log_set_level(getenv("VIREO_TEST_LOG") ? VR_LOG_DEBUG : VR_LOG_ERROR);
    strcpy(f->dir, "/tmp/vr-orch-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    config(f);
    ctl_up(f);
    if (vr_hosts_add(&f->ctl, &req, &f->host, &err) < 0)
        fail_msg("host add: %s", err.msg);
    f->sim = vr_hosts_sim_node(&f->ctl, f->host);
    assert_non_null(f->sim);
    add_image(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    ctl_down(f);
    vr_config_release(&f->cfg);
    vr_rm_rf(f->dir, NULL);
    free(f);
    return 0;
}

/* ---- helpers */

static struct vr_job wait_job(struct fx *f, int64_t id)
{
    struct vr_job job;
    int64_t until = vr_mono_ms() + 15000;

    for (;;) {
        assert_int_equal(vr_pool_get(&f->ctl.db.jobs, id, &job), 0);
        if (vr_job_finished(&job))
            return job;
        if (vr_mono_ms() > until)
            fail_msg("job %lld still %s in phase '%s'", (long long)id,
                     vr_job_status_name(job.status), job.phase);
        vr_sleep_ms(5);
    }
}

static struct vr_vm vm_get(struct fx *f, int64_t id)
{
    struct vr_vm vm;
    assert_int_equal(vr_pool_get(&f->ctl.db.vms, id, &vm), 0);
    return vm;
}

/* A create request of the tests: 1 vCPU, 256 MiB, started. */
static struct vr_vm_create_req small_vm(const char *name)
{
    struct vr_vm_create_req req;

    memset(&req, 0, sizeof(req));
    req.name = name;
    req.image = "img";
    req.vcpus = 1;
    req.memory_mib = 256;
    req.start = true;
    return req;
}

static int64_t create(struct fx *f, const char *name, bool expect_ok)
{
    struct vr_vm_create_req req = small_vm(name);
    struct vr_error err = VR_ERROR_INIT;
    int64_t vm, job;
    struct vr_job j;

    if (vr_orch_vm_create(&f->ctl, &req, &f->admin, &vm, &job, &err) < 0)
        fail_msg("create: %s", err.msg);
    j = wait_job(f, job);
    if (expect_ok && j.status != VR_JOB_SUCCEEDED)
        fail_msg("create of %s: %s", name, j.error);
    return vm;
}

/* Request an operation, wait for its job; returns its status. */
static enum vr_job_status op(struct fx *f, int64_t vm, enum vr_vm_op o,
                             enum vr_recover_mode mode)
{
    struct vr_error err = VR_ERROR_INIT;
    int64_t job;

    if (vr_orch_vm_request(&f->ctl, vm, o, 0, mode, &f->admin, &job, &err) <
        0)
        fail_msg("%s: %s", vr_vm_op_name(o), err.msg);
    return wait_job(f, job).status;
}

static void expect_state(struct fx *f, int64_t vm, enum vr_vm_state st)
{
    struct vr_vm v = vm_get(f, vm);
    if (v.state != st)
        fail_msg("vm '%s' is %s, not %s (%s)", v.hdr.name,
                 vr_vm_state_name(v.state), vr_vm_state_name(st), v.error);
}

/* What the simulated host holds agrees with the records: a domain and a
 * directory for every VM placed there, nothing else. */
static bool any(const void *obj, void *ctx)
{
    (void)obj;
    (void)ctx;
    return true;
}

static void no_orphans(struct fx *f)
{
    size_t n;
    int64_t *ids = vr_pool_ids(&f->ctl.db.vms, any, NULL, &n);
    size_t doms = 0;

    for (size_t i = 0; i < n; i++) {
        struct vr_vm v = vm_get(f, ids[i]);
        doms += vr_node_sim_state(f->sim, v.hdr.uuid) != VR_DOM_NONE;
    }
    free(ids);
    assert_int_equal(vr_node_sim_domains(f->sim), doms);
    assert_true(vr_node_sim_dirs(f->sim) <= n);
}

static bool wait_for(bool (*cond)(struct fx *, int64_t), struct fx *f,
                     int64_t arg, int ms)
{
    int64_t until = vr_mono_ms() + ms;
    while (vr_mono_ms() < until) {
        if (cond(f, arg))
            return true;
        vr_sleep_ms(10);
    }
    return cond(f, arg);
}

static enum vr_host_state host_state(struct fx *f, int64_t host)
{
    struct vr_host *h = vr_pool_dup(&f->ctl.db.hosts, host);
    enum vr_host_state st = h ? h->state : VR_HOST__LAST;
    vr_obj_free(&vr_host_kind, h);
    return st;
}

static bool host_is_offline(struct fx *f, int64_t host)
{
    return host_state(f, host) == VR_HOST_OFFLINE;
}

static bool host_is_monitored(struct fx *f, int64_t host)
{
    return host_state(f, host) == VR_HOST_MONITORED;
}

static bool vm_is_failed(struct fx *f, int64_t vm)
{
    return vm_get(f, vm).state == VR_VM_FAILED;
}

/* ---- tests */

static void test_life_cycle(void **state)
{
    struct fx *f = *state;
    int64_t vm = create(f, "web", true);
    struct vr_vm v = vm_get(f, vm);

    assert_int_equal(v.host_id, f->host);
    assert_int_equal(vr_node_sim_state(f->sim, v.hdr.uuid), VR_DOM_RUNNING);
    assert_int_equal(op(f, vm, VR_OP_STOP, 0), VR_JOB_SUCCEEDED);
    expect_state(f, vm, VR_VM_POWEROFF);
    assert_int_equal(op(f, vm, VR_OP_START, 0), VR_JOB_SUCCEEDED);
    expect_state(f, vm, VR_VM_RUNNING);
    assert_int_equal(op(f, vm, VR_OP_PAUSE, 0), VR_JOB_SUCCEEDED);
    expect_state(f, vm, VR_VM_PAUSED);
    assert_int_equal(op(f, vm, VR_OP_RESUME, 0), VR_JOB_SUCCEEDED);
    assert_int_equal(op(f, vm, VR_OP_SUSPEND, 0), VR_JOB_SUCCEEDED);
    expect_state(f, vm, VR_VM_SUSPENDED);
    assert_int_equal(vr_node_sim_state(f->sim, v.hdr.uuid), VR_DOM_SAVED);
    assert_int_equal(op(f, vm, VR_OP_RESUME, 0), VR_JOB_SUCCEEDED);
    expect_state(f, vm, VR_VM_RUNNING);
    assert_int_equal(op(f, vm, VR_OP_REBOOT, 0), VR_JOB_SUCCEEDED);
    assert_int_equal(op(f, vm, VR_OP_POWEROFF, 0), VR_JOB_SUCCEEDED);
    expect_state(f, vm, VR_VM_POWEROFF);
    no_orphans(f);
    assert_int_equal(op(f, vm, VR_OP_DELETE, 0), VR_JOB_SUCCEEDED);
    assert_false(vr_pool_has(&f->ctl.db.vms, vm));
    assert_int_equal(vr_node_sim_domains(f->sim), 0);
    assert_int_equal(vr_node_sim_dirs(f->sim), 0);
}

/* A node call fails: the job fails, the VM ends where its host says (or
 * FAILED after a create or a delete, which recover or delete finish). */
static void test_fail_at_every_call(void **state)
{
    static const struct {
        enum vr_vm_op op;
        enum vr_vm_state from;     /* brought there first */
        const char *call;
        enum vr_vm_state after;
    } cases[] = {
        {VR_OP_CREATE, VR_VM_PENDING, "disk_prepare", VR_VM_FAILED},
        {VR_OP_CREATE, VR_VM_PENDING, "dom_define", VR_VM_FAILED},
        {VR_OP_CREATE, VR_VM_PENDING, "dom_start", VR_VM_FAILED},
        {VR_OP_START, VR_VM_POWEROFF, "dom_define", VR_VM_POWEROFF},
        {VR_OP_START, VR_VM_POWEROFF, "dom_start", VR_VM_POWEROFF},
        {VR_OP_STOP, VR_VM_RUNNING, "dom_shutdown", VR_VM_RUNNING},
        {VR_OP_SUSPEND, VR_VM_RUNNING, "dom_save", VR_VM_RUNNING},
        {VR_OP_RESUME, VR_VM_SUSPENDED, "dom_start", VR_VM_SUSPENDED},
        {VR_OP_POWEROFF, VR_VM_RUNNING, "dom_destroy", VR_VM_RUNNING},
        {VR_OP_DELETE, VR_VM_RUNNING, "dom_destroy", VR_VM_FAILED},
        {VR_OP_DELETE, VR_VM_POWEROFF, "dom_undefine", VR_VM_FAILED},
        {VR_OP_DELETE, VR_VM_POWEROFF, "vm_storage_remove", VR_VM_FAILED},
    };
    struct fx *f = *state;

    for (size_t i = 0; i < VR_ARRAY_SIZE(cases); i++) {
        char name[32];
        int64_t vm;

        snprintf(name, sizeof(name), "vm-%zu", i);
        if (cases[i].op == VR_OP_CREATE) {
            vr_node_sim_fault(f->sim, cases[i].call, VR_SIM_FAIL, 1);
            vm = create(f, name, false);
        } else {
            vm = create(f, name, true);
            if (cases[i].from == VR_VM_POWEROFF)
                assert_int_equal(op(f, vm, VR_OP_POWEROFF, 0),
                                 VR_JOB_SUCCEEDED);
            if (cases[i].from == VR_VM_SUSPENDED)
                assert_int_equal(op(f, vm, VR_OP_SUSPEND, 0),
                                 VR_JOB_SUCCEEDED);
            vr_node_sim_fault(f->sim, cases[i].call, VR_SIM_FAIL, 1);
            assert_int_equal(op(f, vm, cases[i].op, 0), VR_JOB_FAILED);
        }
        expect_state(f, vm, cases[i].after);
        no_orphans(f);
        /* whatever is left, delete ends it: nothing stays behind */
        if (cases[i].after == VR_VM_FAILED &&
            vm_get(f, vm).task.status == VR_TASK_FAILED)
            assert_int_equal(op(f, vm, VR_OP_RECOVER, VR_RECOVER_RETRY),
                             VR_JOB_SUCCEEDED);
        if (vr_pool_has(&f->ctl.db.vms, vm))
            assert_int_equal(op(f, vm, VR_OP_DELETE, 0), VR_JOB_SUCCEEDED);
        assert_false(vr_pool_has(&f->ctl.db.vms, vm));
        assert_int_equal(vr_node_sim_domains(f->sim), 0);
        assert_int_equal(vr_node_sim_dirs(f->sim), 0);
    }
}

/* A call hangs past the deadline (not done), or answers late (done):
 * both are "timed out"; recover --retry converges either way. */
static void test_hang_and_late(void **state)
{
    struct fx *f = *state;
    int64_t a, b;
    int64_t t0 = vr_mono_ms();

    vr_node_sim_fault(f->sim, "dom_start", VR_SIM_HANG, 1);
    a = create(f, "hung", false);
    /* the deadline (node_timeout 1 s) ended it, not the test's wait */
    assert_true(vr_mono_ms() - t0 < 5000);
    expect_state(f, a, VR_VM_FAILED);
    assert_non_null(strstr(vm_get(f, a).error, "no answer"));
    assert_int_equal(vr_node_sim_state(f->sim, vm_get(f, a).hdr.uuid),
                     VR_DOM_SHUTOFF);

    vr_node_sim_fault(f->sim, "dom_start", VR_SIM_LATE, 1);
    b = create(f, "late", false);
    expect_state(f, b, VR_VM_FAILED);
    /* it did start: the host has it running */
    assert_int_equal(vr_node_sim_state(f->sim, vm_get(f, b).hdr.uuid),
                     VR_DOM_RUNNING);

    assert_int_equal(op(f, a, VR_OP_RECOVER, VR_RECOVER_RETRY),
                     VR_JOB_SUCCEEDED);
    assert_int_equal(op(f, b, VR_OP_RECOVER, VR_RECOVER_RETRY),
                     VR_JOB_SUCCEEDED);
    expect_state(f, a, VR_VM_RUNNING);
    expect_state(f, b, VR_VM_RUNNING);
    /* one domain each, started once more at most: no duplicate */
    assert_int_equal(vr_node_sim_domains(f->sim), 2);
    no_orphans(f);
}

/* A guest that crashes with its event lost is found by the monitor's
 * poll. */
static void test_lost_event(void **state)
{
    struct fx *f = *state;
    int64_t vm = create(f, "quiet", true);

    assert_int_equal(vr_node_sim_crash(f->sim, vm_get(f, vm).hdr.uuid, true),
                     0);
    assert_true(wait_for(vm_is_failed, f, vm, 5000));
    /* and with its event, at once (no poll needed: well under one) */
    assert_int_equal(op(f, vm, VR_OP_RECOVER, VR_RECOVER_RETRY),
                     VR_JOB_SUCCEEDED);
    expect_state(f, vm, VR_VM_RUNNING);
    vr_node_sim_fault(f->sim, "dom_destroy", VR_SIM_LOSE_EVENT, 1);
    assert_int_equal(op(f, vm, VR_OP_POWEROFF, 0), VR_JOB_SUCCEEDED);
    expect_state(f, vm, VR_VM_POWEROFF);
}

/* Events are numbered: a lost one shows as a gap at the next event, and
 * the host is read again at once (the safety-net poll is an hour away
 * here). */
static void test_event_gap_resyncs(void **state)
{
    struct fx *f = *state;
    int64_t a, b;

    ctl_down(f);
    f->cfg.poll_interval_s = 3600;
    ctl_up(f);
    a = create(f, "gap-a", true);
    b = create(f, "gap-b", true);
    /* a crash whose event is lost: nobody knows yet */
    assert_int_equal(vr_node_sim_crash(f->sim, vm_get(f, a).hdr.uuid, true),
                     0);
    vr_sleep_ms(300);
    expect_state(f, a, VR_VM_RUNNING);
    /* the next event (b powered off) carries a number one too far */
    assert_int_equal(op(f, b, VR_OP_POWEROFF, 0), VR_JOB_SUCCEEDED);
    assert_true(wait_for(vm_is_failed, f, a, 3000));
}

/* A host that cannot be reached goes OFFLINE; its VMs keep their records
 * until it answers, then it is reconciled. */
static void test_unreachable_host(void **state)
{
    struct fx *f = *state;
    int64_t vm = create(f, "far", true);
    struct vr_vm v = vm_get(f, vm);

    vr_node_sim_fault(f->sim, "*", VR_SIM_UNREACHABLE, 0);
    assert_true(wait_for(host_is_offline, f, f->host, 5000));
    /* meanwhile the guest crashed: nobody can know yet */
    vr_node_sim_crash(f->sim, v.hdr.uuid, true);
    vr_sleep_ms(1500);
    expect_state(f, vm, VR_VM_RUNNING);
    /* an operation fails, and changes nothing */
    assert_int_equal(op(f, vm, VR_OP_STOP, 0), VR_JOB_FAILED);
    expect_state(f, vm, VR_VM_RUNNING);
    vr_node_sim_clear(f->sim);
    assert_true(wait_for(host_is_monitored, f, f->host, 5000));
    assert_true(wait_for(vm_is_failed, f, vm, 5000));
}

/* A domain of this installation that no record names (a create whose
 * record was lost) is removed when the host is reconciled; one of
 * another installation is never touched. */
static void test_reconcile_orphans(void **state)
{
    struct fx *f = *state;
    char mine[VR_UUID_LEN], theirs[VR_UUID_LEN], other[VR_UUID_LEN];

    vr_uuid_generate(mine);
    vr_uuid_generate(theirs);
    vr_uuid_generate(other);
    vr_node_sim_plant(f->sim, mine, f->ctl.instance);
    vr_node_sim_plant(f->sim, theirs, other);
    vr_node_sim_fault(f->sim, "*", VR_SIM_UNREACHABLE, 0);
    assert_true(wait_for(host_is_offline, f, f->host, 5000));
    vr_node_sim_clear(f->sim);
    assert_true(wait_for(host_is_monitored, f, f->host, 5000));
    vr_sleep_ms(200);
    assert_int_equal(vr_node_sim_state(f->sim, mine), VR_DOM_NONE);
    assert_int_equal(vr_node_sim_state(f->sim, theirs), VR_DOM_RUNNING);
}

/* vireod killed between the phases of an operation: after a restart the
 * job resumes and converges, with nothing left over or doubled. */
static void test_crash_between_phases(void **state)
{
    static const struct {
        const char *point;
        enum vr_vm_op op;
        enum vr_vm_state from, final;  /* final PENDING: deleted */
    } cases[] = {
        {"create.schedule", VR_OP_CREATE, 0, VR_VM_RUNNING},
        {"create.disks", VR_OP_CREATE, 0, VR_VM_RUNNING},
        {"create.define", VR_OP_CREATE, 0, VR_VM_RUNNING},
        {"create.boot", VR_OP_CREATE, 0, VR_VM_RUNNING},
        {"create.finish", VR_OP_CREATE, 0, VR_VM_RUNNING},
        {"start.boot", VR_OP_START, VR_VM_POWEROFF, VR_VM_RUNNING},
        {"stop.shutdown", VR_OP_STOP, VR_VM_RUNNING, VR_VM_POWEROFF},
        {"stop.finish", VR_OP_STOP, VR_VM_RUNNING, VR_VM_POWEROFF},
        {"suspend.save", VR_OP_SUSPEND, VR_VM_RUNNING, VR_VM_SUSPENDED},
        {"resume.restore", VR_OP_RESUME, VR_VM_SUSPENDED, VR_VM_RUNNING},
        {"delete.poweroff", VR_OP_DELETE, VR_VM_RUNNING, VR_VM_PENDING},
        {"delete.undefine", VR_OP_DELETE, VR_VM_RUNNING, VR_VM_PENDING},
        {"delete.storage", VR_OP_DELETE, VR_VM_RUNNING, VR_VM_PENDING},
        {"delete.finish", VR_OP_DELETE, VR_VM_RUNNING, VR_VM_PENDING},
    };
    struct fx *f = *state;

    for (size_t i = 0; i < VR_ARRAY_SIZE(cases); i++) {
        char name[32];
        int64_t vm = 0, job = 0;
        int status;
        pid_t pid;

        snprintf(name, sizeof(name), "crash-%zu", i);
        if (cases[i].op != VR_OP_CREATE) {
            vm = create(f, name, true);
            if (cases[i].from == VR_VM_POWEROFF)
                op(f, vm, VR_OP_POWEROFF, 0);
            if (cases[i].from == VR_VM_SUSPENDED)
                op(f, vm, VR_OP_SUSPEND, 0);
            expect_state(f, vm, cases[i].from);
        }
        /* the child is this controller, killed at the point; the parent
         * stops its own first (one store, one set of workers) */
        ctl_down(f);
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct vr_error err = VR_ERROR_INIT;
            setenv("VIREO_FAULT_POINT", cases[i].point, 1);
            ctl_up(f);
            if (cases[i].op == VR_OP_CREATE) {
                struct vr_vm_create_req req = small_vm(name);
                if (vr_orch_vm_create(&f->ctl, &req, &f->admin, &vm, &job,
                                      &err) < 0) {
                    fprintf(stderr, "child: create: %s\n", err.msg);
                    _exit(2);
                }
            } else if (vr_orch_vm_request(&f->ctl, vm, cases[i].op, 0, 0,
                                          &f->admin, &job, &err) < 0) {
                fprintf(stderr, "child: %s: %s\n",
                        vr_vm_op_name(cases[i].op), err.msg);
                _exit(2);
            }
            vr_sleep_ms(10000);
            _exit(3); /* the point was never reached */
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fail_msg("%s: the child was not killed there (status %d)",
                     cases[i].point, status);
        ctl_up(f);
        if (!vm)
            vm = vr_pool_id_by_owner_name(&f->ctl.db.vms, f->admin.user_id,
                                          name);
        assert_true(vm > 0);
        {
            /* the resumed job ends, as the VM's task says */
            int64_t until = vr_mono_ms() + 15000;
            while (vr_pool_has(&f->ctl.db.vms, vm) &&
                   vm_get(f, vm).task.status == VR_TASK_ACTIVE &&
                   vr_mono_ms() < until)
                vr_sleep_ms(5);
        }
        if (cases[i].final == VR_VM_PENDING) {
            if (vr_pool_has(&f->ctl.db.vms, vm))
                fail_msg("%s: the vm was not deleted", cases[i].point);
        } else {
            expect_state(f, vm, cases[i].final);
            assert_int_equal(vm_get(f, vm).task.status, VR_TASK_NONE);
        }
        no_orphans(f);
        if (vr_pool_has(&f->ctl.db.vms, vm))
            assert_int_equal(op(f, vm, VR_OP_DELETE, 0), VR_JOB_SUCCEEDED);
        assert_int_equal(vr_node_sim_domains(f->sim), 0);
        assert_int_equal(vr_node_sim_dirs(f->sim), 0);
    }
}

/* A create that waits for a host is retried at each capacity change, and
 * one that does not help it writes nothing (no transaction, no fsync). */
static void test_parked_create(void **state)
{
    struct fx *f = *state;
    struct vr_vm_create_req req;
    struct vr_error err = VR_ERROR_INIT;
    struct vr_host_add_req small = {.name = "small", .transport = "sim",
                                    .cpus = 4, .memory_mib = 8192};
    struct vr_host_add_req big = {.name = "big", .transport = "sim",
                                  .cpus = 4, .memory_mib = 262144};
    int64_t vm, job, h;
    struct vr_job j;
    struct vr_vm v;
    uint64_t rev;
    int attempts;

    req = small_vm("patient");
    vr_strlcpy(req.want.requirements, "MEMORY > 100G",
               sizeof(req.want.requirements));
    if (vr_orch_vm_create(&f->ctl, &req, &f->admin, &vm, &job, &err) < 0)
        fail_msg("create: %s", err.msg);
    for (int i = 0; i < 500; i++) {
        assert_int_equal(vr_pool_get(&f->ctl.db.jobs, job, &j), 0);
        if (strcmp(j.phase, "waiting") == 0)
            break;
        vr_sleep_ms(5);
    }
    assert_string_equal(j.phase, "waiting");
    vr_sleep_ms(100);
    assert_int_equal(vr_pool_get(&f->ctl.db.jobs, job, &j), 0);
    attempts = j.attempts;
    v = vm_get(f, vm);
    rev = v.hdr.rev;
    assert_non_null(strstr(v.placement_why, "requirements"));
    /* a capacity change that does not help (more CPU overcommit on the
     * host): the create is tried, and writes nothing */
    {
        struct vr_host_patch p;
        memset(&p, 0, sizeof(p));
        vr_host_conf_defaults(&p.conf);
        p.set_cpu_ratio = true;
        p.conf.cpu_ratio = 8;
        assert_int_equal(vr_placement_host_configure(&f->ctl, f->host, &p,
                                                     &err), 0);
    }
    vr_sleep_ms(300);
    assert_int_equal(vr_pool_get(&f->ctl.db.jobs, job, &j), 0);
    assert_int_equal(j.attempts, attempts);
    assert_string_equal(j.phase, "waiting");
    assert_true(vm_get(f, vm).hdr.rev == rev);
    /* one that changes its reasons (a second host, failing too): the VM
     * says so, in one write, and the job is not run for it */
    assert_int_equal(vr_hosts_add(&f->ctl, &small, &h, &err), 0);
    for (int i = 0; i < 300 &&
                    !strstr(vm_get(f, vm).placement_detail, "2 hosts");
         i++)
        vr_sleep_ms(5);
    assert_non_null(strstr(vm_get(f, vm).placement_detail, "2 hosts"));
    assert_int_equal(vr_pool_get(&f->ctl.db.jobs, job, &j), 0);
    assert_int_equal(j.attempts, attempts);
    assert_string_equal(j.phase, "waiting");
    /* one that helps: placed there, at once */
    assert_int_equal(vr_hosts_add(&f->ctl, &big, &h, &err), 0);
    j = wait_job(f, job);
    assert_int_equal(j.status, VR_JOB_SUCCEEDED);
    v = vm_get(f, vm);
    assert_int_equal(v.host_id, h);
    expect_state(f, vm, VR_VM_RUNNING);
}

/* recover --retry while the create's worker is inside a call to the host
 * (held open): the recover waits for that worker to stop, and never
 * calls the host beside it. */
static void test_recover_waits_for_the_worker(void **state)
{
    struct fx *f = *state;
    struct vr_vm_create_req req;
    struct vr_error err = VR_ERROR_INIT;
    int64_t vm, job, rjob;
    int prepares, defines;

    req = small_vm("held");
    vr_node_sim_fault(f->sim, "dom_start", VR_SIM_HANG, 1);
    assert_int_equal(vr_orch_vm_create(&f->ctl, &req, &f->admin, &vm, &job,
                                       &err), 0);
    for (int i = 0; i < 200 && vr_node_sim_active(f->sim) == 0; i++)
        vr_sleep_ms(5);
    assert_int_equal(vr_node_sim_active(f->sim), 1);
    prepares = vr_node_sim_calls(f->sim, "disk_prepare");
    defines = vr_node_sim_calls(f->sim, "dom_define");
    assert_int_equal(vr_orch_vm_request(&f->ctl, vm, VR_OP_RECOVER, 0,
                                        VR_RECOVER_RETRY, &f->admin, &rjob,
                                        &err), 0);
    vr_sleep_ms(400);
    /* the recover waits: no call of its own while the create is inside */
    assert_int_equal(vr_node_sim_calls(f->sim, "disk_prepare"), prepares);
    assert_int_equal(vr_node_sim_calls(f->sim, "dom_define"), defines);
    vr_node_sim_release(f->sim);
    assert_int_equal(wait_job(f, rjob).status, VR_JOB_SUCCEEDED);
    assert_int_equal(wait_job(f, job).status, VR_JOB_CANCELLED);
    expect_state(f, vm, VR_VM_RUNNING);
    no_orphans(f);
}

/* Delete is taken in every state: during a create in flight, during a
 * stop that waits for a guest that ignores ACPI, and of a VM waiting for
 * a host.  Nothing is left on the host. */
static void test_delete_in_any_state(void **state)
{
    struct fx *f = *state;
    struct vr_vm_create_req req;
    struct vr_error err = VR_ERROR_INIT;
    int64_t vm, job, djob, stop;

    /* a create in flight (inside its define) */
    req = small_vm("in-flight");
    vr_node_sim_fault(f->sim, "dom_define", VR_SIM_HANG, 1);
    assert_int_equal(vr_orch_vm_create(&f->ctl, &req, &f->admin, &vm, &job,
                                       &err), 0);
    for (int i = 0; i < 200 && vr_node_sim_active(f->sim) == 0; i++)
        vr_sleep_ms(5);
    assert_int_equal(vr_orch_vm_request(&f->ctl, vm, VR_OP_DELETE, 0, 0,
                                        &f->admin, &djob, &err), 0);
    vr_node_sim_release(f->sim);
    assert_int_equal(wait_job(f, djob).status, VR_JOB_SUCCEEDED);
    assert_int_equal(wait_job(f, job).status, VR_JOB_CANCELLED);
    assert_false(vr_pool_has(&f->ctl.db.vms, vm));

    /* a stop waiting for a guest that ignores ACPI (stop_timeout 2 s) */
    vm = create(f, "stubborn", true);
    vr_node_sim_shutdown_ms(f->sim, -1);
    assert_int_equal(vr_orch_vm_request(&f->ctl, vm, VR_OP_STOP, 0, 0,
                                        &f->admin, &stop, &err), 0);
    vr_sleep_ms(300);
    assert_int_equal(vm_get(f, vm).task.op, VR_OP_STOP);
    assert_int_equal(vr_orch_vm_request(&f->ctl, vm, VR_OP_DELETE, 0, 0,
                                        &f->admin, &djob, &err), 0);
    assert_int_equal(wait_job(f, djob).status, VR_JOB_SUCCEEDED);
    assert_int_equal(wait_job(f, stop).status, VR_JOB_CANCELLED);
    assert_false(vr_pool_has(&f->ctl.db.vms, vm));
    vr_node_sim_shutdown_ms(f->sim, 50);

    /* a second delete while one runs is refused (busy) */
    vm = create(f, "twice", true);
    vr_node_sim_fault(f->sim, "dom_destroy", VR_SIM_HANG, 1);
    assert_int_equal(vr_orch_vm_request(&f->ctl, vm, VR_OP_DELETE, 0, 0,
                                        &f->admin, &djob, &err), 0);
    for (int i = 0; i < 200 && vr_node_sim_active(f->sim) == 0; i++)
        vr_sleep_ms(5);
    assert_int_equal(vr_orch_vm_request(&f->ctl, vm, VR_OP_DELETE, 0, 0,
                                        &f->admin, &job, &err), -1);
    assert_int_equal(err.code, VR_E_STATE);
    vr_node_sim_release(f->sim);
    assert_int_equal(wait_job(f, djob).status, VR_JOB_SUCCEEDED);

    assert_int_equal(vr_node_sim_domains(f->sim), 0);
    assert_int_equal(vr_node_sim_dirs(f->sim), 0);
}

/* A host is removed only when no VM is on it, and never the host served
 * in this process. */
/* A guest that ignores ACPI holds no worker while its stop waits: with
 * one worker, another VM's stop is done long before it, and a third
 * VM's delete too; the ignored stop ends by its timeout, powered off. */
static void test_ignored_acpi_holds_no_worker(void **state)
{
    struct fx *f = *state;
    struct vr_error err = VR_ERROR_INIT;
    int64_t deaf, other, third, job, job2, job3;
    int64_t t0;
    struct vr_job j;

    ctl_down(f);
    f->cfg.workers = 1;
    ctl_up(f);
    deaf = create(f, "deaf", true);
    other = create(f, "other", true);
    third = create(f, "third", true);
    vr_node_sim_shutdown_ms(f->sim, -1);
    t0 = vr_mono_ms();
    assert_int_equal(vr_orch_vm_request(&f->ctl, deaf, VR_OP_STOP, 3, 0,
                                        &f->admin, &job, &err), 0);
    /* the deaf guest's stop has sent its ACPI press and waits */
    while (vr_node_sim_calls(f->sim, "dom_shutdown") < 1)
        vr_sleep_ms(5);
    vr_node_sim_shutdown_ms(f->sim, 50);
    assert_int_equal(vr_orch_vm_request(&f->ctl, other, VR_OP_STOP, 0, 0,
                                        &f->admin, &job2, &err), 0);
    assert_int_equal(vr_orch_vm_request(&f->ctl, third, VR_OP_DELETE, 0, 0,
                                        &f->admin, &job3, &err), 0);
    assert_int_equal(wait_job(f, job2).status, VR_JOB_SUCCEEDED);
    assert_int_equal(wait_job(f, job3).status, VR_JOB_SUCCEEDED);
    expect_state(f, other, VR_VM_POWEROFF);
    assert_true(vr_mono_ms() - t0 < 2000);
    /* still waiting for its guest, with one attempt recorded */
    assert_int_equal(vr_pool_get(&f->ctl.db.jobs, job, &j), 0);
    assert_int_equal(j.status, VR_JOB_RUNNING);
    assert_string_equal(j.phase, "shutdown");
    assert_int_equal(j.attempts, 1);
    /* its timeout: powered off */
    j = wait_job(f, job);
    assert_int_equal(j.status, VR_JOB_SUCCEEDED);
    assert_true(vr_mono_ms() - t0 >= 3000);
    assert_int_equal(j.attempts, 1);
    expect_state(f, deaf, VR_VM_POWEROFF);
    assert_int_equal(vr_node_sim_state(f->sim, vm_get(f, deaf).hdr.uuid),
                     VR_DOM_SHUTOFF);
    assert_int_equal(vr_node_sim_calls(f->sim, "dom_destroy"), 2);
    no_orphans(f);
}

/* A guest that shuts down while its stop waits ends the stop at the next
 * look (a simulated guest settles when asked: no event comes), without a
 * new attempt recorded. */
static void test_waiting_stop_looks_again(void **state)
{
    struct fx *f = *state;
    struct vr_error err = VR_ERROR_INIT;
    int64_t vm, job, t0;
    struct vr_job j;

    vm = create(f, "slow", true);
    vr_node_sim_shutdown_ms(f->sim, 300);
    t0 = vr_mono_ms();
    assert_int_equal(vr_orch_vm_request(&f->ctl, vm, VR_OP_STOP, 0, 0,
                                        &f->admin, &job, &err), 0);
    j = wait_job(f, job);
    assert_int_equal(j.status, VR_JOB_SUCCEEDED);
    assert_int_equal(j.attempts, 1);
    assert_true(vr_mono_ms() - t0 < 1800);
    expect_state(f, vm, VR_VM_POWEROFF);
}

/* Reboot and reset are done once per request id: a repeat of one done
 * (also one answered "late") succeeds without acting; one that failed is
 * done when asked again. */
static void test_request_ids(void **state)
{
    struct fx *f = *state;
    struct vr_error err = VR_ERROR_INIT;
    int64_t vm = create(f, "once", true);
    struct vr_vm v = vm_get(f, vm);
    const char *u = v.hdr.uuid;
    int boots = vr_node_sim_boots(f->sim, u);

    assert_int_equal(VR_NODE_CALL(f->sim, dom_reboot, &err, u, "r1"), 0);
    assert_int_equal(vr_node_sim_boots(f->sim, u), boots + 1);
    assert_int_equal(VR_NODE_CALL(f->sim, dom_reboot, &err, u, "r1"), 0);
    assert_int_equal(vr_node_sim_boots(f->sim, u), boots + 1);
    /* failed: not remembered */
    assert_int_equal(vr_node_sim_fault(f->sim, "dom_reset", VR_SIM_FAIL, 1),
                     0);
    assert_int_equal(VR_NODE_CALL(f->sim, dom_reset, &err, u, "r2"), -1);
    assert_int_equal(vr_node_sim_boots(f->sim, u), boots + 1);
    vr_err_clear(&err);
    assert_int_equal(VR_NODE_CALL(f->sim, dom_reset, &err, u, "r2"), 0);
    assert_int_equal(vr_node_sim_boots(f->sim, u), boots + 2);
    /* done, answered late ("timed out, may have happened"): the retry
     * does not reboot it a second time */
    assert_int_equal(vr_node_sim_fault(f->sim, "dom_reboot", VR_SIM_LATE, 1),
                     0);
    assert_int_equal(VR_NODE_CALL(f->sim, dom_reboot, &err, u, "r3"), -1);
    assert_int_equal(err.code, VR_E_TIMEOUT);
    assert_int_equal(vr_node_sim_boots(f->sim, u), boots + 3);
    vr_err_clear(&err);
    assert_int_equal(VR_NODE_CALL(f->sim, dom_reboot, &err, u, "r3"), 0);
    assert_int_equal(vr_node_sim_boots(f->sim, u), boots + 3);
    /* no id, or one too long: refused */
    assert_int_equal(VR_NODE_CALL(f->sim, dom_reboot, &err, u, ""), -1);
    assert_int_equal(err.code, VR_E_INVALID);
    /* the orchestrator names each reboot by its job */
    assert_int_equal(op(f, vm, VR_OP_REBOOT, 0), VR_JOB_SUCCEEDED);
    assert_int_equal(op(f, vm, VR_OP_RESET, 0), VR_JOB_SUCCEEDED);
    assert_int_equal(vr_node_sim_boots(f->sim, u), boots + 5);
    expect_state(f, vm, VR_VM_RUNNING);
}

static void test_host_remove(void **state)
{
    struct fx *f = *state;
    struct vr_error err = VR_ERROR_INIT;
    int64_t vm = create(f, "pin", true);

    assert_int_equal(vr_hosts_delete(&f->ctl, f->host, &err), -1);
    assert_int_equal(err.code, VR_E_CONFLICT);
    assert_int_equal(op(f, vm, VR_OP_DELETE, 0), VR_JOB_SUCCEEDED);
    vr_err_clear(&err);
    assert_int_equal(vr_hosts_delete(&f->ctl, f->host, &err), 0);
    assert_false(vr_pool_has(&f->ctl.db.hosts, f->host));
    assert_null(vr_nodes_get(&f->ctl.nodes, f->host));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_life_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_at_every_call, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hang_and_late, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_host, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_event_gap_resyncs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_orphans, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_phases, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_parked_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_waits_for_the_worker,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_in_any_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_host_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignored_acpi_holds_no_worker,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiting_stop_looks_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_ids, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
