/*
 * cli_vm.c - `vireo vm ...` and `vireo job ...`, and following a job to
 * its end (--wait).
 *
 * An accepted operation answers {"vm", "job"}.  Without --wait the command
 * prints "job N: OP of vm 'X' accepted".  With --wait it long-polls
 * GET /jobs/{id}?wait=30&phase=<last phase seen>, which returns as soon as
 * the phase changes or the job ends, and keeps a one-line status on a
 * terminal's stderr; at the end it prints the VM as `vm show` would, or
 * the job's error.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_cmds.h"
#include "vr_util.h"

#define WAIT_POLL_S 30
#define RECONNECT_MS 60000
#define RECONNECT_PAUSE_MS 2000
#define CONSOLE_MAX (1u << 20)

enum {
    OPT_IMAGE = 256,
    OPT_CPU,
    OPT_MEMORY,
    OPT_DISK,
    OPT_UUID,
    OPT_FULL_CLONE,
    OPT_NO_START,
    OPT_WAIT,
    OPT_TIMEOUT,
    OPT_RETRY,
    OPT_SUCCESS,
    OPT_FAILURE,
    OPT_TAIL,
    /* vm create: placement (OPT_CPU_POLICY to OPT_VM_GROUP) */
    OPT_CPU_POLICY,
    OPT_SOCKETS,
    OPT_CORES,
    OPT_THREADS,
    OPT_NUMA_NODES,
    OPT_NUMA_NODE,
    OPT_HUGEPAGES,
    OPT_PCI,
    OPT_SRIOV,
    OPT_REQUIREMENTS,
    OPT_RANK,
    OPT_HOST,
    OPT_FORCE,
    OPT_VM_GROUP,
    /* vm-group create */
    OPT_ROLE,
};

#define WAIT_HELP                                                              \
    "  --wait             follow the job to its end, showing its progress,\n"  \
    "                     then print the VM (or that it was deleted); exit\n"  \
    "                     1 if the job failed\n"

#define CREATE_WAIT_HELP                                                       \
    "  --wait             follow the job to its end, showing its progress,\n"  \
    "                     then print the VM; exit 1 if the job failed.  A\n"   \
    "                     create waiting for a host is followed until one\n"   \
    "                     fits (^C stops following; the VM keeps waiting)\n"

#define OUTPUT_HELP                                                            \
    "  -o, --output FMT   table or json\n"                                     \
    "  -h, --help         show this help\n"

static const char vm_help[] =
    "Usage: vireo vm COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  create NAME --image IMG --memory SIZE [--cpu N] [--disk SIZE]...\n"
    "         [--cpu-policy P] [--numa-nodes N] [--requirements EXPR]...\n"
    "                       create a VM from an image on a host that fits\n"
    "                       it (and start it)\n"
    "  list [--state S]     list VMs: ID NAME STATE TASK HOST VCPUS MEMORY\n"
    "  show VM              show a VM (id, UUID or name) and its placement\n"
    "  start VM             start a VM that is off or suspended\n"
    "  stop VM [--timeout S]  shut down through the guest (ACPI)\n"
    "  poweroff VM          cut the power\n"
    "  reboot VM            reboot through the guest\n"
    "  reset VM             hard reset\n"
    "  pause VM             freeze the vCPUs\n"
    "  resume VM            continue a paused or suspended VM\n"
    "  suspend VM           save the memory to disk and stop\n"
    "  recover VM --retry|--success|--failure\n"
    "                       settle a VM whose operation failed or hangs\n"
    "  delete VM            destroy a VM and its disks\n"
    "  console-log VM [--tail BYTES]\n"
    "                       print the serial console log\n"
    "\n"
    "Operations are jobs: the commands return once the server accepted\n"
    "them, or follow them to their end with --wait.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char job_help[] =
    "Usage: vireo job COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  list [--vm VM]   list jobs: ID OP OBJECT STATUS PHASE\n"
    "  show ID          show a job\n"
    "  wait ID          wait for a job to end, showing its progress\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

/* ---- printing a VM: its record as key: value lines, with the placement
 * (what the VM asked for and what it got) summed up at the end. */

#define KEY_WIDTH 14

/* "  key:          value" (the value made safe for the terminal); an
 * empty key continues the previous value on a new line. */
static void kv(FILE *out, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void kv(FILE *out, const char *key, const char *fmt, ...)
{
    char line[1024];
    char k[32];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    cli_sanitize(line);
    snprintf(k, sizeof(k), "%s%s", key, *key ? ":" : "");
    fprintf(out, "  %-*s %s\n", KEY_WIDTH, k, line);
}

static void mib_text(json_int_t mib, char *buf, size_t size)
{
    vr_format_size(mib > 0 ? (uint64_t)mib << 20 : 0, buf, size);
}

static int cmp_int(const void *a, const void *b)
{
    json_int_t x = *(const json_int_t *)a, y = *(const json_int_t *)b;
    return (x > y) - (x < y);
}

/* The integers of `a` as a sorted CPU list ("0-3,8") in `b`. */
static void cpu_list(const json_t *a, struct vr_buf *b)
{
    size_t n = json_array_size(a), i = 0;
    json_int_t *v = vr_calloc(n + 1, sizeof(*v));

    for (size_t k = 0; k < n; k++)
        v[k] = json_integer_value(json_array_get(a, k));
    qsort(v, n, sizeof(*v), cmp_int);
    while (i < n) {
        size_t j = i;
        while (j + 1 < n && v[j + 1] <= v[j] + 1)
            j++;
        vr_buf_addf(b, "%s%lld", b->len ? "," : "", (long long)v[i]);
        if (v[j] != v[i])
            vr_buf_addf(b, "-%lld", (long long)v[j]);
        i = j + 1;
    }
    free(v);
}

/* "vCPUs a-b" or "vCPU a" for `n` vCPUs from `first`. */
static void vcpu_range(json_int_t first, json_int_t n, char *buf, size_t size)
{
    if (n <= 1)
        snprintf(buf, size, "vCPU %lld", (long long)first);
    else
        snprintf(buf, size, "vCPUs %lld-%lld", (long long)first,
                 (long long)(first + n - 1));
}

/* vcpu_pins ([host CPU per vCPU, -1 floating]) as runs: "0-3 -> 4-7, 4 ->
 * 10". */
static void pin_runs(const json_t *pins, struct vr_buf *b)
{
    size_t n = json_array_size(pins), i = 0;

    while (i < n) {
        json_int_t c = json_integer_value(json_array_get(pins, i));
        size_t j = i;

        while (j + 1 < n) {
            json_int_t d = json_integer_value(json_array_get(pins, j + 1));
            if (c < 0 ? d >= 0 : d != c + (json_int_t)(j + 1 - i))
                break;
            j++;
        }
        vr_buf_addf(b, "%s%zu", b->len ? ", " : "", i);
        if (j > i)
            vr_buf_addf(b, "-%zu", j);
        if (c < 0)
            vr_buf_adds(b, " float");
        else if (j > i)
            vr_buf_addf(b, " -> %lld-%lld", (long long)c,
                        (long long)(c + (json_int_t)(j - i)));
        else
            vr_buf_addf(b, " -> %lld", (long long)c);
        i = j + 1;
    }
}

/* The strings of an array joined with ", " in `b`. */
static void join_strings(const json_t *a, struct vr_buf *b)
{
    const json_t *v;
    size_t i;

    json_array_foreach(a, i, v)
        vr_buf_addf(b, "%s%s", i ? ", " : "",
                    json_is_string(v) ? json_string_value(v) : "?");
}

/* The name of VM group `id`, or its id if it cannot be read. */
static void vm_group_name(struct cli *cli, json_int_t id, char *buf,
                          size_t size)
{
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *path = vr_asprintf("/api/v1/vm-groups/%lld",
                                         (long long)id);
    json_t *g = NULL;

    snprintf(buf, size, "%lld", (long long)id);
    if (cli_http_call(cli->http, "GET", path, NULL, 0, &g, &err) == 0 &&
        json_string_value(json_object_get(g, "name")))
        snprintf(buf, size, "%s", json_string_value(json_object_get(g, "name")));
    json_decref(g);
}

/* Where the VM runs and what it holds there (a plan). */
static void print_plan(FILE *out, const json_t *vm, const json_t *want,
                       const json_t *plan)
{
    const json_t *numa = json_object_get(plan, "numa");
    const json_t *devs = json_object_get(plan, "devices");
    const json_t *pins = json_object_get(plan, "vcpu_pins");
    const char *policy = cli_jstr(plan, "cpu_policy");
    bool guest_numa = json_array_size(json_object_get(want, "numa_nodes")) > 0;
    json_int_t page_kib =
        json_integer_value(json_object_get(plan, "hugepage_kib"));
    struct vr_buf b;
    const json_t *v;
    char range[64], mem[16];
    size_t i;

    if (json_is_string(json_object_get(vm, "host")))
        kv(out, "host", "%s", cli_jstr(vm, "host"));
    else
        kv(out, "host", "%lld",
           (long long)json_integer_value(json_object_get(plan, "host_id")));
    kv(out, "CPU policy", "%s", policy);
    if (strcmp(policy, "shared") == 0) {
        kv(out, "vCPU pinning", "none (the vCPUs float over the host's "
                                "shared CPUs)");
    } else {
        vr_buf_init(&b);
        pin_runs(pins, &b);
        kv(out, "vCPU pinning", "%s (vCPU -> host CPU)", b.data);
        vr_buf_release(&b);
        /* core and isolate hold the sibling threads too */
        if (json_array_size(json_object_get(plan, "held_cpus")) !=
            json_array_size(pins)) {
            vr_buf_init(&b);
            cpu_list(json_object_get(plan, "held_cpus"), &b);
            kv(out, "held CPUs", "%s", b.data);
            vr_buf_release(&b);
        }
    }
    if (json_array_size(numa) == 0)
        kv(out, "NUMA binding", "none");
    json_array_foreach(numa, i, v) {
        vcpu_range(json_integer_value(json_object_get(v, "first_vcpu")),
                   json_integer_value(json_object_get(v, "vcpus")), range,
                   sizeof(range));
        mib_text(json_integer_value(json_object_get(v, "memory_mib")), mem,
                 sizeof(mem));
        if (guest_numa)
            kv(out, i ? "" : "NUMA binding", "vnode %zu (%s, %s) -> host cell "
               "%lld", i, range, mem,
               (long long)json_integer_value(json_object_get(v, "cell")));
        else
            kv(out, i ? "" : "NUMA binding", "host cell %lld (%s, %s)",
               (long long)json_integer_value(json_object_get(v, "cell")),
               range, mem);
    }
    if (page_kib > 0) {
        vr_format_size((uint64_t)page_kib << 10, mem, sizeof(mem));
        kv(out, "huge pages", "%s", mem);
    } else {
        kv(out, "huge pages", "none");
    }
    if (json_array_size(devs) == 0)
        kv(out, "devices", "none");
    json_array_foreach(devs, i, v) {
        const char *pool = json_string_value(json_object_get(v, "pool"));
        if (pool && *pool)
            kv(out, i ? "" : "devices", "%s (VF of SR-IOV pool %s)",
               cli_jstr(v, "address"), pool);
        else
            kv(out, i ? "" : "devices", "%s", cli_jstr(v, "address"));
    }
}

/* What a VM not placed yet asks for. */
static void print_want(FILE *out, const json_t *want)
{
    const json_t *numa = json_object_get(want, "numa_nodes");
    struct vr_buf b;
    const json_t *v;
    json_int_t first = 0;
    char range[64], mem[16];
    size_t i;

    kv(out, "CPU policy", "%s", cli_jstr(want, "cpu_policy"));
    json_array_foreach(numa, i, v) {
        json_int_t n = json_integer_value(json_object_get(v, "vcpus"));
        vcpu_range(first, n, range, sizeof(range));
        mib_text(json_integer_value(json_object_get(v, "memory_mib")), mem,
                 sizeof(mem));
        kv(out, i ? "" : "NUMA nodes", "vnode %zu (%s, %s)", i, range, mem);
        first += n;
    }
    if (json_is_string(json_object_get(want, "hugepages")))
        kv(out, "huge pages", "%s", cli_jstr(want, "hugepages"));
    if (json_array_size(json_object_get(want, "pci"))) {
        vr_buf_init(&b);
        join_strings(json_object_get(want, "pci"), &b);
        kv(out, "PCI devices", "%s", b.data);
        vr_buf_release(&b);
    }
    if (json_array_size(json_object_get(want, "sriov"))) {
        vr_buf_init(&b);
        join_strings(json_object_get(want, "sriov"), &b);
        kv(out, "SR-IOV pools", "%s", b.data);
        vr_buf_release(&b);
    }
}

static void print_placement(struct cli *cli, FILE *out, const json_t *vm)
{
    const json_t *p = json_object_get(vm, "placement");
    const json_t *plan = json_object_get(p, "plan");
    const json_t *topo = json_object_get(p, "topology");
    const char *why = json_string_value(json_object_get(p, "why"));
    /* a superuser is also told the hosts counted */
    const char *why_hosts = json_string_value(json_object_get(p,
                                                              "why_hosts"));
    json_int_t group = json_integer_value(json_object_get(p, "vm_group"));

    if (!json_is_object(p))
        return;
    fprintf(out, "placement:\n");
    if (json_is_object(plan)) {
        print_plan(out, vm, p, plan);
    } else {
        if (why_hosts && *why_hosts)
            kv(out, "status", "waiting for a host: %s", why_hosts);
        else if (why && *why)
            kv(out, "status", "waiting for a host: %s", why);
        else
            kv(out, "status", "not placed");
        print_want(out, p);
    }
    if (json_is_object(topo))
        kv(out, "topology", "%lldx%lldx%lld (sockets x cores x threads)",
           (long long)json_integer_value(json_object_get(topo, "sockets")),
           (long long)json_integer_value(json_object_get(topo, "cores")),
           (long long)json_integer_value(json_object_get(topo, "threads")));
    if (json_is_string(json_object_get(p, "requirements")))
        kv(out, "requirements", "%s", cli_jstr(p, "requirements"));
    if (json_is_string(json_object_get(p, "rank")))
        kv(out, "rank", "%s", cli_jstr(p, "rank"));
    if (json_array_size(json_object_get(p, "hosts"))) {
        struct vr_buf b;
        const json_t *v;
        size_t i;

        vr_buf_init(&b);
        json_array_foreach(json_object_get(p, "hosts"), i, v)
            vr_buf_addf(&b, "%s%lld", i ? ", " : "",
                        (long long)json_integer_value(v));
        kv(out, "host ids", "%s%s", b.data,
           json_is_true(json_object_get(p, "force")) ? " (forced)" : "");
        vr_buf_release(&b);
    }
    if (group > 0) {
        char name[80];
        vm_group_name(cli, group, name, sizeof(name));
        kv(out, "VM group", "%s, role %s", name, cli_jstr(p, "vm_group_role"));
    }
}

/* A VM as `vm show` prints it. */
static void vm_output(struct cli *cli, const json_t *vm)
{
    json_t *top;

    if (cli->output == CLI_OUT_JSON || !json_is_object(vm)) {
        cli_print_item(cli, vm);
        return;
    }
    top = json_copy((json_t *)vm);
    json_object_del(top, "placement");
    cli_print_object(stdout, top);
    json_decref(top);
    print_placement(cli, stdout, vm);
}

/* ---- following jobs */

static bool job_finished(const json_t *job)
{
    const char *s = json_string_value(json_object_get(job, "status"));
    return s && (strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0 ||
                 strcmp(s, "cancelled") == 0);
}

static bool job_succeeded(const json_t *job)
{
    const char *s = json_string_value(json_object_get(job, "status"));
    return s && strcmp(s, "succeeded") == 0;
}

static void job_status_line(const struct cli *cli, const json_t *job,
                            const char *note)
{
    cli_status_line(
        cli, "%s %s '%s': %s (%lld%%)%s", cli_jstr(job, "op"),
        cli_jstr(job, "object_kind"), cli_jstr(job, "object_name"),
        cli_jstr(job, "phase"),
        (long long)json_integer_value(json_object_get(job, "progress")), note);
}

/* The loop of wait_job(). */
static int follow_job(struct cli *cli, long long id, json_t **job,
                      struct vr_error *err)
{
    int64_t lost_since = 0;

    while (!job_finished(*job) && !cli_interrupted) {
        vr_autofree char *phase = cli_http_escape(
            json_string_value(json_object_get(*job, "phase"))
                ? json_string_value(json_object_get(*job, "phase"))
                : "");
        vr_autofree char *path = vr_asprintf(
            "/api/v1/jobs/%lld?wait=%d&phase=%s", id, WAIT_POLL_S, phase);
        json_t *next;

        job_status_line(cli, *job,
                        strcmp(cli_jstr(*job, "phase"), "waiting") == 0
                            ? " - no host fits yet ('vireo vm show' says why)"
                            : "");
        if (cli_http_call(cli->http, "GET", path, NULL, CLI_HTTP_LONG, &next,
                          err) < 0) {
            /* too many waits of ours at once on the server: ask again */
            if (cli_http_status(cli->http) == 429 && !cli_interrupted) {
                vr_sleep_ms(1000);
                continue;
            }
            if (cli_http_status(cli->http) == 0 &&
                (err->code == VR_E_UNAVAILABLE || err->code == VR_E_TIMEOUT) &&
                !cli_interrupted) {
                if (!lost_since)
                    lost_since = vr_mono_ms();
                if (vr_mono_ms() - lost_since < RECONNECT_MS) {
                    job_status_line(cli, *job, " - server lost, retrying");
                    vr_sleep_ms(RECONNECT_PAUSE_MS);
                    continue;
                }
            }
            return -1;
        }
        lost_since = 0;
        if (!json_is_object(next)) {
            json_decref(next);
            return vr_err(err, VR_E_INTERNAL, "the server sent no job");
        }
        json_decref(*job);
        *job = next;
    }
    if (cli_interrupted)
        return vr_err(err, VR_E_INTERNAL, "interrupted");
    return 0;
}

/* Follow the job until it is finished; *job is replaced by each new
 * state.  Short losses of the server (a restart) are ridden out; ^C stops
 * following (the job goes on). */
static int wait_job(struct cli *cli, json_t **job, struct vr_error *err)
{
    long long id = (long long)json_integer_value(json_object_get(*job, "id"));
    int ret;

    cli_catch_signals(true);
    ret = follow_job(cli, id, job, err);
    cli_catch_signals(false);
    cli_status_clear(cli);
    if (ret < 0 && cli_interrupted)
        vr_err(err, VR_E_INTERNAL,
               "interrupted; job %lld goes on ('vireo "
               "job wait %lld' follows it)",
               id, id);
    return ret;
}

/* "vireo: create of vm 'x' failed in phase 'disks': <error>" */
static int job_failure(const struct cli *cli, const json_t *job)
{
    const char *error = json_string_value(json_object_get(job, "error"));
    vr_autofree char *e = vr_strdup(error ? error : "");

    if (cli->output == CLI_OUT_JSON)
        cli_print_json(job);
    cli_sanitize(e);
    return cli_failf("%s of %s '%s' failed in phase '%s'%s%s",
                     cli_jstr(job, "op"), cli_jstr(job, "object_kind"),
                     cli_jstr(job, "object_name"), cli_jstr(job, "phase"),
                     *e ? ": " : "", e);
}

/* After a successful job on a VM: print what `vm show` prints, or that
 * the VM is gone. */
static int print_job_result(struct cli *cli, const json_t *job)
{
    struct vr_error err = VR_ERROR_INIT;
    const char *op = json_string_value(json_object_get(job, "op"));
    vr_autofree char *path = NULL;
    json_t *vm;

    if (op && strcmp(op, "delete") == 0) {
        if (cli->output == CLI_OUT_JSON)
            cli_print_json(job);
        else
            printf("%s '%s' deleted\n", cli_jstr(job, "object_kind"),
                   cli_jstr(job, "object_name"));
        return CLI_OK;
    }
    path = vr_asprintf(
        "/api/v1/vms/%lld",
        (long long)json_integer_value(json_object_get(job, "object_id")));
    if (cli_http_call(cli->http, "GET", path, NULL, 0, &vm, &err) < 0) {
        if (cli_http_status(cli->http) != 404)
            return cli_fail(&err);
        /* recover --success of a delete drops the record */
        printf("%s '%s' deleted\n", cli_jstr(job, "object_kind"),
               cli_jstr(job, "object_name"));
        return CLI_OK;
    }
    vm_output(cli, vm);
    json_decref(vm);
    return CLI_OK;
}

/* Print an accepted operation ({"vm", "job"}), or follow it (--wait). */
static int finish_accepted(struct cli *cli, json_t *ans, bool wait)
{
    struct vr_error err = VR_ERROR_INIT;
    json_t *job = json_object_get(ans, "job");
    int rc;

    if (!json_is_object(job))
        return cli_failf("the server's answer names no job");
    if (!wait) {
        if (cli->output == CLI_OUT_JSON)
            cli_print_json(ans);
        else
            printf("job %lld: %s of %s '%s' accepted\n",
                   (long long)json_integer_value(json_object_get(job, "id")),
                   cli_jstr(job, "op"), cli_jstr(job, "object_kind"),
                   cli_jstr(job, "object_name"));
        return CLI_OK;
    }
    json_incref(job);
    if (wait_job(cli, &job, &err) < 0) {
        json_decref(job);
        return cli_fail(&err);
    }
    rc =
        job_succeeded(job) ? print_job_result(cli, job) : job_failure(cli, job);
    json_decref(job);
    return rc;
}

/* Send an operation on VMs (takes `body`, which may be NULL), then print
 * or follow (`wait`) the job it starts.  Returns the exit status. */
static int send_operation(struct cli *cli, const char *method, const char *path,
                          json_t *body, bool wait)
{
    struct vr_error err = VR_ERROR_INIT;
    json_t *ans;
    int ret, status;

    ret = cli_http_call(cli->http, method, path, body, 0, &ans, &err);
    json_decref(body);
    if (ret < 0)
        return cli_fail(&err);
    status = finish_accepted(cli, ans, wait);
    json_decref(ans);
    return status;
}

/* ---- vm create */

static const char vm_create_help[] =
    "Usage: vireo vm create NAME --image IMAGE --memory SIZE [--cpu N]\n"
    "                       [--disk SIZE]... [--uuid UUID] [--full-clone]\n"
    "                       [--no-start] [--wait] [PLACEMENT OPTIONS]\n"
    "\n"
    "Create a VM whose boot disk is a copy-on-write clone of IMAGE, and\n"
    "start it.  The scheduler picks a host that fits it; while none does,\n"
    "the VM stays PENDING, its create job waits (phase 'waiting'), and\n"
    "'vireo vm show' says why.\n"
    "\n"
    "Options:\n"
    "  --image IMAGE      base image, by name or id (required)\n"
    "  --memory SIZE      memory, e.g. 512M or 2G; a bare number is MiB\n"
    "                     (required)\n"
    "  --cpu N            number of virtual CPUs (default 1)\n"
    "  --disk SIZE        add an empty data disk of SIZE (e.g. 10G);\n"
    "                     repeat for more disks\n"
    "  --uuid UUID        use this UUID instead of a random one\n"
    "  --full-clone       copy the whole image instead of a copy-on-write\n"
    "                     overlay\n"
    "  --no-start         define the VM and leave it powered off\n"
        CREATE_WAIT_HELP OUTPUT_HELP
    "\n"
    "Placement options:\n"
    "  --cpu-policy P     shared (the default: the vCPUs float over the\n"
    "                     host's shared CPUs), thread (each vCPU pinned to\n"
    "                     a dedicated host thread), core (each vCPU gets a\n"
    "                     whole dedicated core) or isolate (the vCPUs fill\n"
    "                     whole dedicated cores that nothing else uses)\n"
    "  --sockets N, --cores N, --threads N\n"
    "                     the guest's CPU topology (each 1 if not given);\n"
    "                     sockets x cores x threads must be --cpu\n"
    "  --numa-nodes N     N guest NUMA nodes sharing the vCPUs and the\n"
    "                     memory evenly\n"
    "  --numa-node VCPUS:MEMORY\n"
    "                     one guest NUMA node, e.g. 2:1G; repeat it for each\n"
    "                     node, in order (not with --numa-nodes)\n"
    "  --hugepages SIZE   back the memory with huge pages of SIZE: 2M or 1G\n"
    "  --pci SPEC         pass a host PCI device through: VENDOR:PRODUCT\n"
    "                     (8086:1572), class=HEX (class=0x0302) or an\n"
    "                     address (0000:3b:00.0); repeat for more devices\n"
    "  --sriov POOL       add a VF of the SR-IOV pool POOL; repeat for more\n"
    "  --requirements EXPR\n"
    "                     only hosts where EXPR holds, e.g.\n"
    "                     'FREE_MEMORY > 4G & LABELS has \"ssd\"'\n"
    "  --rank EXPR        prefer the hosts where EXPR is highest, e.g.\n"
    "                     -RUNNING_VMS (spread) or RUNNING_VMS (pack)\n"
    "  --host H           only on host H (name or id); repeat to allow\n"
    "                     several hosts\n"
    "  --force            place on the one --host given without checking\n"
    "                     that it fits (superusers only)\n"
    "  --vm-group G[:ROLE]\n"
    "                     join VM group G (name or id) in role ROLE (default:\n"
    "                     the group's first role)\n"
    "\n"
    "The server checks the expressions and the devices; its error names\n"
    "what is wrong.  See docs/scheduler.md for the expression language.\n";

/* A size in whole MiB for option `opt`. */
static int parse_mib(const struct cli *cli, const char *opt, const char *s,
                     int64_t *mib)
{
    uint64_t bytes;
    int rc = cli_parse_size(cli, opt, s, 1ULL << 20, &bytes);

    if (rc != CLI_OK)
        return rc;
    if (bytes < (1ULL << 20) || bytes % (1ULL << 20) ||
        bytes >> 20 > (1ULL << 40))
        return cli_usage(cli,
                         "%s must be a whole number of MiB (at least "
                         "1M), not '%.32s'",
                         opt, s);
    *mib = (int64_t)(bytes >> 20);
    return CLI_OK;
}

/* ---- vm create: placement options, gathered into an object that is
 * merged into the body.  Only the syntax of the command line is checked
 * here; the server checks the meaning (policies fit, devices exist,
 * expressions compile) and its problem detail is the error. */

/* `s` as a JSON string for option `opt`; NULL after a usage error. */
static json_t *opt_string(const struct cli *cli, const char *opt, const char *s,
                          int *status)
{
    json_t *j = json_string(s);

    if (!j)
        *status = cli_usage(cli, "the value of %s is not valid UTF-8", opt);
    return j;
}

/* Append `v` (taken; NULL after a usage error) to the array `key` of
 * `place`, made on first use. */
static void place_append(json_t *place, const char *key, json_t *v)
{
    json_t *a = json_object_get(place, key);

    if (!v)
        return;
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(place, key, a);
    }
    json_array_append_new(a, v);
}

/* A whole number of at least 1 at *p, up to `stop` (a character that must
 * follow it, or '\0' for the end); *p moves past it and `stop`. */
static bool take_count(const char **p, char stop, int64_t max, int64_t *out)
{
    char *end;
    long long n;

    if (!isdigit((unsigned char)**p))
        return false;
    errno = 0;
    n = strtoll(*p, &end, 10);
    if (errno || n < 1 || n > max || *end != stop)
        return false;
    *out = n;
    *p = *end ? end + 1 : end;
    return true;
}

/* --sockets, --cores, --threads: one member of the topology object (the
 * others 1 until given). */
static int topology_option(const struct cli *cli, int c, const char *arg,
                           json_t *place)
{
    static const char *const keys[] = {"sockets", "cores", "threads"};
    const char *key = keys[c - OPT_SOCKETS];
    json_t *t = json_object_get(place, "topology");
    char opt[16];
    int64_t n;
    int status;

    snprintf(opt, sizeof(opt), "--%s", key);
    if ((status = cli_parse_int(cli, opt, arg, 1, 4096, &n)) != CLI_OK)
        return status;
    if (!t) {
        t = json_pack("{s:i, s:i, s:i}", "sockets", 1, "cores", 1,
                      "threads", 1);
        json_object_set_new(place, "topology", t);
    }
    json_object_set_new(t, key, json_integer((json_int_t)n));
    return CLI_OK;
}

/* --numa-node VCPUS:MEMORY */
static int parse_numa_node(const struct cli *cli, const char *s, json_t **out)
{
    const char *p = s;
    int64_t vcpus, mib;
    int rc;

    if (!take_count(&p, ':', 4096, &vcpus) || !*p)
        return cli_usage(cli,
                         "--numa-node must be VCPUS:MEMORY, e.g. 2:1G, "
                         "not '%.40s'",
                         s);
    if ((rc = parse_mib(cli, "the memory of --numa-node", p, &mib)) != CLI_OK)
        return rc;
    *out = json_pack("{s:I, s:I}", "vcpus", (json_int_t)vcpus, "memory",
                     (json_int_t)mib);
    return CLI_OK;
}

/* --host H: an id (all digits) or a name. */
static json_t *host_ref(const char *s)
{
    const char *p = s;
    int64_t id;

    if (take_count(&p, '\0', INT64_MAX, &id))
        return json_integer((json_int_t)id);
    return json_string(s);
}

/* One placement option (c from OPT_CPU_POLICY to OPT_VM_GROUP) into
 * `place`.  Returns CLI_OK or the status of a usage error. */
static int placement_option(const struct cli *cli, int c, const char *arg,
                            json_t *place)
{
    static const char *const policies[] = {"shared", "thread", "core",
                                           "isolate"};
    const json_t *numa = json_object_get(place, "numa_nodes");
    int status = CLI_OK;
    int64_t n;
    json_t *v = NULL;
    size_t i;

    switch (c) {
    case OPT_CPU_POLICY:
        for (i = 0; i < VR_ARRAY_SIZE(policies); i++)
            if (strcmp(arg, policies[i]) == 0)
                break;
        if (i == VR_ARRAY_SIZE(policies))
            return cli_usage(cli,
                             "--cpu-policy must be shared, thread, core or "
                             "isolate, not '%.40s'",
                             arg);
        json_object_set_new(place, "cpu_policy", json_string(arg));
        break;
    case OPT_SOCKETS:
    case OPT_CORES:
    case OPT_THREADS:
        status = topology_option(cli, c, arg, place);
        break;
    case OPT_NUMA_NODES:
    case OPT_NUMA_NODE:
        if ((c == OPT_NUMA_NODES && json_is_array(numa)) ||
            (c == OPT_NUMA_NODE && json_is_integer(numa)))
            return cli_usage(cli, "give either --numa-nodes N or "
                                  "--numa-node VCPUS:MEMORY for each node");
        if (c == OPT_NUMA_NODES) {
            if ((status = cli_parse_int(cli, "--numa-nodes", arg, 1, 4096,
                                        &n)) == CLI_OK)
                json_object_set_new(place, "numa_nodes",
                                    json_integer((json_int_t)n));
        } else if ((status = parse_numa_node(cli, arg, &v)) == CLI_OK) {
            place_append(place, "numa_nodes", v);
        }
        break;
    case OPT_HUGEPAGES:
        if (strcasecmp(arg, "2M") != 0 && strcasecmp(arg, "1G") != 0)
            return cli_usage(cli, "--hugepages must be 2M or 1G, not '%.40s'",
                             arg);
        json_object_set_new(place, "hugepages",
                            json_string(arg[0] == '2' ? "2M" : "1G"));
        break;
    case OPT_PCI:
        place_append(place, "pci", opt_string(cli, "--pci", arg, &status));
        break;
    case OPT_SRIOV:
        place_append(place, "sriov", opt_string(cli, "--sriov", arg, &status));
        break;
    case OPT_REQUIREMENTS:
    case OPT_RANK:
        v = opt_string(cli, c == OPT_RANK ? "--rank" : "--requirements", arg,
                       &status);
        if (v)
            json_object_set_new(
                place, c == OPT_RANK ? "rank" : "requirements", v);
        break;
    case OPT_HOST:
        v = host_ref(arg);
        if (!v)
            status = cli_usage(cli, "the value of --host is not valid UTF-8");
        place_append(place, "hosts", v);
        break;
    case OPT_FORCE:
        json_object_set_new(place, "force", json_true());
        break;
    case OPT_VM_GROUP: {
        const char *colon = strchr(arg, ':');
        vr_autofree char *group =
            vr_strndup(arg, colon ? (size_t)(colon - arg) : strlen(arg));

        if (!*group || (colon && !colon[1]))
            return cli_usage(cli,
                             "--vm-group must be GROUP or GROUP:ROLE, not "
                             "'%.40s'",
                             arg);
        if (!(v = opt_string(cli, "--vm-group", group, &status)))
            break;
        json_object_set_new(place, "vm_group", v);
        if (colon)
            json_object_set_new(place, "vm_group_role",
                                opt_string(cli, "--vm-group", colon + 1,
                                           &status));
        else
            json_object_del(place, "vm_group_role");
        break;
    }
    default:
        break;
    }
    return status;
}

static int vm_create(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"image", required_argument, NULL, OPT_IMAGE},
        {"cpu", required_argument, NULL, OPT_CPU},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"disk", required_argument, NULL, OPT_DISK},
        {"uuid", required_argument, NULL, OPT_UUID},
        {"full-clone", no_argument, NULL, OPT_FULL_CLONE},
        {"no-start", no_argument, NULL, OPT_NO_START},
        {"wait", no_argument, NULL, OPT_WAIT},
        {"cpu-policy", required_argument, NULL, OPT_CPU_POLICY},
        {"sockets", required_argument, NULL, OPT_SOCKETS},
        {"cores", required_argument, NULL, OPT_CORES},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"numa-nodes", required_argument, NULL, OPT_NUMA_NODES},
        {"numa-node", required_argument, NULL, OPT_NUMA_NODE},
        {"hugepages", required_argument, NULL, OPT_HUGEPAGES},
        {"pci", required_argument, NULL, OPT_PCI},
        {"sriov", required_argument, NULL, OPT_SRIOV},
        {"requirements", required_argument, NULL, OPT_REQUIREMENTS},
        {"rank", required_argument, NULL, OPT_RANK},
        {"host", required_argument, NULL, OPT_HOST},
        {"force", no_argument, NULL, OPT_FORCE},
        {"vm-group", required_argument, NULL, OPT_VM_GROUP},
        CLI_COMMON_OPTIONS,
        {0}};
    struct vr_error err = VR_ERROR_INIT;
    const char *image = NULL, *uuid = NULL, *name;
    int64_t cpus = 1, memory = 0, mib;
    bool full_clone = false, start = true, wait = false;
    json_t *disks = json_array();
    json_t *place = json_object();
    json_t *body;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, vm_create_help,
                           &status)) != -1) {
        switch (c) {
        case OPT_IMAGE:
            image = optarg;
            break;
        case OPT_CPU:
            status = cli_parse_int(cli, "--cpu", optarg, 1, 4096, &cpus);
            break;
        case OPT_MEMORY:
            status = parse_mib(cli, "--memory", optarg, &memory);
            break;
        case OPT_DISK:
            status = parse_mib(cli, "--disk", optarg, &mib);
            if (status == CLI_OK)
                json_array_append_new(
                    disks, json_pack("{s:I}", "size", (json_int_t)mib));
            break;
        case OPT_UUID:
            uuid = optarg;
            break;
        case OPT_FULL_CLONE:
            full_clone = true;
            break;
        case OPT_NO_START:
            start = false;
            break;
        case OPT_WAIT:
            wait = true;
            break;
        default:
            if (c >= OPT_CPU_POLICY && c <= OPT_VM_GROUP)
                status = placement_option(cli, c, optarg, place);
            break;
        }
        if (c == CLI_OPT_EXIT || status != CLI_OK) {
            json_decref(disks);
            json_decref(place);
            return status;
        }
    }
    if ((status = cli_check_args(cli, argc - optind, 1, 1, "NAME")) == CLI_OK) {
        name = argv[optind];
        if (vr_name_check(name, "vm name", &err) < 0)
            status = cli_usage(cli, "%s", err.msg);
        else if (!image)
            status = cli_usage(cli, "--image is required");
        else if (!memory)
            status = cli_usage(cli, "--memory is required");
        else if (uuid && !vr_uuid_valid(uuid))
            status = cli_usage(cli, "--uuid '%.40s' is not a UUID", uuid);
    }
    if (status != CLI_OK || (status = cli_connect(cli)) != CLI_OK) {
        json_decref(disks);
        json_decref(place);
        return status;
    }
    body = json_pack("{s:s, s:s, s:I, s:I, s:o, s:b, s:b}", "name", name,
                     "image", image, "vcpus", (json_int_t)cpus, "memory",
                     (json_int_t)memory, "disks", disks, "full_clone",
                     full_clone, "start", start);
    if (!body) {
        json_decref(place);
        return cli_failf("the name or the image is not valid UTF-8");
    }
    json_object_update(body, place);
    json_decref(place);
    if (uuid)
        json_object_set_new(body, "uuid", json_string(uuid));
    return send_operation(cli, "POST", "/api/v1/vms", body, wait);
}

/* ---- vm list / show */

static const char vm_list_help[] =
    "Usage: vireo vm list [--state STATE]\n"
    "\n"
    "List VMs: ID NAME STATE TASK HOST VCPUS MEMORY.  TASK is the\n"
    "operation in progress and its phase, or the operation that failed.\n"
    "\n"
    "Options:\n"
    "  --state STATE      only VMs in STATE: PENDING, RUNNING, PAUSED,\n"
    "                     SUSPENDED, POWEROFF or FAILED\n" OUTPUT_HELP;

static void vm_task_text(const json_t *vm, char *buf, size_t size)
{
    const json_t *t = json_object_get(vm, "task");
    const char *status = json_string_value(json_object_get(t, "status"));

    if (!json_is_object(t))
        snprintf(buf, size, "-");
    else if (status && strcmp(status, "failed") == 0)
        snprintf(buf, size, "%s:failed", cli_jstr(t, "op"));
    else
        snprintf(buf, size, "%s:%s", cli_jstr(t, "op"), cli_jstr(t, "phase"));
}

/* ID NAME STATE TASK HOST VCPUS MEMORY */
static void vm_row(struct cli_table *t, const json_t *vm)
{
    char id[24], cpus[24], mem[16], task[80];
    const char *row[7];

    vm_task_text(vm, task, sizeof(task));
    row[0] = cli_jint(vm, "id", id, sizeof(id));
    row[1] = cli_jstr(vm, "name");
    row[2] = cli_jstr(vm, "state");
    row[3] = task;
    row[4] = cli_jstr(vm, "host");
    row[5] = cli_jint(vm, "vcpus", cpus, sizeof(cpus));
    row[6] = cli_jsize(vm, "memory_mib", 1ULL << 20, mem, sizeof(mem));
    cli_table_add(t, row);
}

/* --state STATE: "state=STATE", upper-cased. */
static int vm_state_query(struct cli *cli, const char *state, char **query)
{
    vr_autofree char *esc = cli_http_escape(state);

    (void)cli;
    for (char *p = esc; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    *query = vr_asprintf("state=%s", esc);
    return CLI_OK;
}

static int vm_list(struct cli *cli, int argc, char **argv)
{
    static const char *const head[] = {"ID",   "NAME",  "STATE", "TASK",
                                       "HOST", "VCPUS", "MEMORY"};
    static const struct cli_list l = {
        .help = vm_list_help,
        .path = "/api/v1/vms",
        .head = head,
        .ncols = VR_ARRAY_SIZE(head),
        .add_row = vm_row,
        .filter = "state",
        .filter_query = vm_state_query,
    };
    return cli_cmd_list(cli, argc, argv, &l);
}

static const char vm_show_help[] =
    "Usage: vireo vm show VM\n"
    "\n"
    "Show a VM (by id, UUID or name): state, task, sizes, disks, NICs,\n"
    "host and console, then its placement: the host, the CPU policy, which\n"
    "host CPU each vCPU is pinned to, the host NUMA cell of each guest NUMA\n"
    "node and its memory, huge pages and devices; or, while no host fits\n"
    "it, why ('waiting for a host: ...').\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static int vm_show(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *path = NULL;
    json_t *vm;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, vm_show_help,
                           &status)) != -1)
        return status;
    if ((status = cli_check_args(cli, argc - optind, 1, 1, "VM")) != CLI_OK ||
        !(path = cli_ref_path(cli, "vms", argv[optind], "", &status)) ||
        (status = cli_connect(cli)) != CLI_OK)
        return status;
    if (cli_http_call(cli->http, "GET", path, NULL, 0, &vm, &err) < 0)
        return cli_fail(&err);
    vm_output(cli, vm);
    json_decref(vm);
    return CLI_OK;
}

/* ---- vm actions (start, stop, ..., recover, delete) */

struct vm_action {
    const char *name;
    const char *what; /* the help's description */
    const struct option *opts;
    const char *opts_help; /* the options besides --wait */
};

static const struct option plain_opts[] = {
    {"wait", no_argument, NULL, OPT_WAIT}, CLI_COMMON_OPTIONS, {0}};
static const struct option stop_opts[] = {
    {"wait", no_argument, NULL, OPT_WAIT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    CLI_COMMON_OPTIONS,
    {0}};
static const struct option recover_opts[] = {
    {"wait", no_argument, NULL, OPT_WAIT},
    {"retry", no_argument, NULL, OPT_RETRY},
    {"success", no_argument, NULL, OPT_SUCCESS},
    {"failure", no_argument, NULL, OPT_FAILURE},
    CLI_COMMON_OPTIONS,
    {0}};

static const struct vm_action vm_actions[] = {
    {"start", "Start a VM that is powered off or suspended.", plain_opts, ""},
    {"stop",
     "Shut a VM down through the guest (ACPI power button); if it\n"
     "is still running after the timeout, cut the power.",
     stop_opts,
     "  --timeout S        seconds to wait for the guest (1-3600; default:\n"
     "                     the server's setting)\n"},
    {"poweroff", "Cut a VM's power at once (the guest gets no warning).",
     plain_opts, ""},
    {"reboot", "Reboot a running VM through the guest.", plain_opts, ""},
    {"reset", "Hard-reset a running VM.", plain_opts, ""},
    {"pause", "Freeze a running VM's vCPUs (its memory stays in use).",
     plain_opts, ""},
    {"resume", "Continue a paused or suspended VM.", plain_opts, ""},
    {"suspend",
     "Save a VM's memory to disk and stop it; 'start' or\n"
     "'resume' brings it back.",
     plain_opts, ""},
    {"recover",
     "Settle a VM whose last operation failed (its TASK shows\n"
     "OP:failed) or hangs.",
     recover_opts,
     "  --retry            run the failed operation again\n"
     "  --success          consider it done: move the VM to the state the\n"
     "                     operation would have reached\n"
     "  --failure          give it up: the VM returns to its state before\n"
     "                     the operation (after a failed create it stays\n"
     "                     FAILED, to be deleted)\n"},
    {"delete", "Destroy a VM and delete its disks.", plain_opts, ""},
};

static int vm_action(struct cli *cli, int argc, char **argv)
{
    const struct vm_action *a = NULL;
    vr_autofree char *help = NULL;
    vr_autofree char *suffix = NULL;
    vr_autofree char *path = NULL;
    const char *mode = NULL;
    int64_t timeout = 0;
    bool wait = false, is_delete;
    json_t *body = NULL;
    int c, status = CLI_OK;

    for (size_t i = 0; i < VR_ARRAY_SIZE(vm_actions); i++)
        if (strcmp(argv[0], vm_actions[i].name) == 0)
            a = &vm_actions[i];
    if (!a)
        return cli_failf("unknown action '%s'", argv[0]);
    is_delete = strcmp(a->name, "delete") == 0;
    help =
        vr_asprintf("Usage: vireo vm %s VM%s [--wait]\n\n%s\n\nOptions:\n"
                    "%s" WAIT_HELP OUTPUT_HELP,
                    a->name,
                    a->opts == stop_opts      ? " [--timeout S]"
                    : a->opts == recover_opts ? " --retry|--success|--failure"
                                              : "",
                    a->what, a->opts_help);
    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", a->opts, help, &status)) !=
           -1) {
        switch (c) {
        case OPT_WAIT:
            wait = true;
            break;
        case OPT_TIMEOUT:
            status = cli_parse_int(cli, "--timeout", optarg, 1, 3600, &timeout);
            break;
        case OPT_RETRY:
        case OPT_SUCCESS:
        case OPT_FAILURE:
            if (mode)
                status = cli_usage(cli, "give only one of --retry, "
                                        "--success and --failure");
            mode = c == OPT_RETRY     ? "retry"
                   : c == OPT_SUCCESS ? "success"
                                      : "failure";
            break;
        default:
            return status;
        }
        if (status != CLI_OK)
            return status;
    }
    if ((status = cli_check_args(cli, argc - optind, 1, 1, "VM")) != CLI_OK)
        return status;
    if (a->opts == recover_opts && !mode)
        return cli_usage(cli, "say how to recover: --retry, --success or "
                              "--failure");
    suffix = is_delete ? vr_strdup("") : vr_asprintf("/%s", a->name);
    if (!(path = cli_ref_path(cli, "vms", argv[optind], suffix, &status)) ||
        (status = cli_connect(cli)) != CLI_OK)
        return status;
    if (timeout)
        body = json_pack("{s:I}", "timeout", (json_int_t)timeout);
    else if (mode)
        body = json_pack("{s:s}", "mode", mode);
    return send_operation(cli, is_delete ? "DELETE" : "POST", path, body, wait);
}

/* ---- vm console-log */

static const char vm_console_help[] =
    "Usage: vireo vm console-log VM [--tail BYTES]\n"
    "\n"
    "Print the VM's serial console log (by default its last 64 KiB).\n"
    "\n"
    "Options:\n"
    "  --tail BYTES       print the last BYTES of the log (e.g. 4K; at most\n"
    "                     1M)\n"
    "  -h, --help         show this help\n";

static int vm_console_log(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"tail", required_argument, NULL, OPT_TAIL}, CLI_COMMON_OPTIONS, {0}};
    struct vr_error err = VR_ERROR_INIT;
    struct vr_buf log = VR_BUF_INIT;
    vr_autofree char *query = NULL;
    vr_autofree char *path = NULL;
    uint64_t tail = 0;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, vm_console_help,
                           &status)) != -1) {
        if (c != OPT_TAIL)
            return status;
        if ((status = cli_parse_size(cli, "--tail", optarg, 1, &tail)) !=
            CLI_OK)
            return status;
        if (tail < 1 || tail > CONSOLE_MAX)
            return cli_usage(cli, "--tail must be from 1 byte to 1M");
    }
    if (tail)
        query = vr_asprintf("/console-log?offset=-%llu&limit=%llu",
                            (unsigned long long)tail, (unsigned long long)tail);
    else
        query = vr_strdup("/console-log");
    if ((status = cli_check_args(cli, argc - optind, 1, 1, "VM")) != CLI_OK ||
        !(path = cli_ref_path(cli, "vms", argv[optind], query, &status)) ||
        (status = cli_connect(cli)) != CLI_OK)
        return status;
    vr_buf_init(&log);
    if (cli_http_get_raw(cli->http, path, CLI_HTTP_NOCAP, &log, &err) < 0) {
        vr_buf_release(&log);
        return cli_fail(&err);
    }
    fwrite(log.data, 1, log.len, stdout);
    vr_buf_release(&log);
    return CLI_OK;
}

int cli_cmd_vm(struct cli *cli, int argc, char **argv)
{
    static const struct cli_subcmd cmds[] = {
        {"create", vm_create},  {"list", vm_list},
        {"show", vm_show},      {"start", vm_action},
        {"stop", vm_action},    {"poweroff", vm_action},
        {"reboot", vm_action},  {"reset", vm_action},
        {"pause", vm_action},   {"resume", vm_action},
        {"suspend", vm_action}, {"recover", vm_action},
        {"delete", vm_action},  {"console-log", vm_console_log},
    };
    return cli_dispatch(cli, argc, argv, cmds, VR_ARRAY_SIZE(cmds), vm_help);
}

/* ---- jobs */

static const char job_list_help[] = "Usage: vireo job list [--vm VM]\n"
                                    "\n"
                                    "List jobs: ID OP OBJECT STATUS PHASE.\n"
                                    "\n"
                                    "Options:\n"
                                    "  --vm VM            only the jobs of "
                                    "this VM (id, UUID or name)\n" OUTPUT_HELP;

static const char job_show_help[] =
    "Usage: vireo job show ID\n"
    "\n"
    "Show a job: its operation, object, status, phase, progress and error.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char job_wait_help[] =
    "Usage: vireo job wait ID\n"
    "\n"
    "Wait until a job has ended, showing its phase and progress on a\n"
    "terminal, then print it.  Exit 1 if it failed or was cancelled.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

/* The id of a VM given by id, UUID or name. */
static int vm_id(struct cli *cli, const char *ref, long long *id)
{
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *path = NULL;
    int status = CLI_OK;
    char *end;
    json_t *vm;

    *id = strtoll(ref, &end, 10);
    if (*ref && !*end && *id > 0)
        return CLI_OK;
    if (!(path = cli_ref_path(cli, "vms", ref, "", &status)))
        return status;
    if (cli_http_call(cli->http, "GET", path, NULL, 0, &vm, &err) < 0)
        return cli_fail(&err);
    *id = (long long)json_integer_value(json_object_get(vm, "id"));
    json_decref(vm);
    return CLI_OK;
}

/* --vm VM: "vm=ID". */
static int job_vm_query(struct cli *cli, const char *vm, char **query)
{
    long long id;
    int status = vm_id(cli, vm, &id);

    if (status == CLI_OK)
        *query = vr_asprintf("vm=%lld", id);
    return status;
}

/* ID OP OBJECT STATUS PHASE; PHASE has the progress of a running job */
static void job_row(struct cli_table *t, const json_t *job)
{
    char id[24], object[96], phase[64];
    const char *row[5];

    snprintf(object, sizeof(object), "%s/%s", cli_jstr(job, "object_kind"),
             cli_jstr(job, "object_name"));
    if (job_finished(job))
        snprintf(phase, sizeof(phase), "%s", cli_jstr(job, "phase"));
    else
        snprintf(
            phase, sizeof(phase), "%s (%lld%%)", cli_jstr(job, "phase"),
            (long long)json_integer_value(json_object_get(job, "progress")));
    row[0] = cli_jint(job, "id", id, sizeof(id));
    row[1] = cli_jstr(job, "op");
    row[2] = object;
    row[3] = cli_jstr(job, "status");
    row[4] = phase;
    cli_table_add(t, row);
}

static int job_list(struct cli *cli, int argc, char **argv)
{
    static const char *const head[] = {"ID", "OP", "OBJECT", "STATUS", "PHASE"};
    static const struct cli_list l = {
        .help = job_list_help,
        .path = "/api/v1/jobs",
        .head = head,
        .ncols = VR_ARRAY_SIZE(head),
        .add_row = job_row,
        .filter = "vm",
        .filter_query = job_vm_query,
    };
    return cli_cmd_list(cli, argc, argv, &l);
}

static int job_show(struct cli *cli, int argc, char **argv)
{
    return cli_cmd_show(cli, argc, argv, job_show_help, "jobs", "ID");
}

static int job_wait(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *path = NULL;
    json_t *job;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, job_wait_help,
                           &status)) != -1)
        return status;
    if ((status = cli_check_args(cli, argc - optind, 1, 1, "ID")) != CLI_OK ||
        !(path = cli_ref_path(cli, "jobs", argv[optind], "", &status)) ||
        (status = cli_connect(cli)) != CLI_OK)
        return status;
    if (cli_http_call(cli->http, "GET", path, NULL, 0, &job, &err) < 0)
        return cli_fail(&err);
    if (wait_job(cli, &job, &err) < 0) {
        json_decref(job);
        return cli_fail(&err);
    }
    if (job_succeeded(job)) {
        cli_print_item(cli, job);
        status = CLI_OK;
    } else {
        status = job_failure(cli, job);
    }
    json_decref(job);
    return status;
}

int cli_cmd_job(struct cli *cli, int argc, char **argv)
{
    static const struct cli_subcmd cmds[] = {
        {"list", job_list},
        {"show", job_show},
        {"wait", job_wait},
    };
    return cli_dispatch(cli, argc, argv, cmds, VR_ARRAY_SIZE(cmds), job_help);
}

/* ---- vm-group */

static const char vm_group_help[] =
    "Usage: vireo vm-group COMMAND [ARGS]\n"
    "\n"
    "A VM group has roles; the VMs of a role are kept together on one host\n"
    "(affinity) or apart on different hosts (anti-affinity), strictly\n"
    "(hard) or when possible.  A VM joins a role when it is created: 'vireo\n"
    "vm create --vm-group GROUP:ROLE'.\n"
    "\n"
    "Commands:\n"
    "  create NAME --role NAME[:POLICY[:hard]]...\n"
    "                     create a VM group\n"
    "  list               list VM groups: ID NAME ROLES\n"
    "  show GROUP         show a VM group (id or name) and its roles\n"
    "  delete GROUP       delete a VM group no VM belongs to\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char vm_group_create_help[] =
    "Usage: vireo vm-group create NAME --role NAME[:POLICY[:hard]]...\n"
    "\n"
    "Create a VM group with one or more roles (at most 8).  POLICY is how\n"
    "the VMs of the role relate: none (the default), affinity (on the same\n"
    "host) or anti-affinity (each on another host).  ':hard' makes the\n"
    "policy a rule (a VM waits rather than break it); without it the\n"
    "scheduler only prefers hosts that keep it.\n"
    "\n"
    "Options:\n"
    "  --role SPEC        a role: NAME, NAME:POLICY or NAME:POLICY:hard,\n"
    "                     e.g. db:anti-affinity:hard; repeat for each role\n"
    "                     (the first is the default role of a VM)\n" OUTPUT_HELP;

static const char vm_group_list_help[] =
    "Usage: vireo vm-group list\n"
    "\n"
    "List the VM groups you may see: ID NAME ROLES, the roles written as\n"
    "--role takes them (NAME:POLICY[:hard]).\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char vm_group_show_help[] =
    "Usage: vireo vm-group show GROUP\n"
    "\n"
    "Show a VM group (id or name): its record, then its roles: ROLE\n"
    "POLICY HARD.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char vm_group_delete_help[] =
    "Usage: vireo vm-group delete GROUP\n"
    "\n"
    "Delete a VM group (id or name).  It is refused while a VM belongs to\n"
    "the group: delete those VMs first.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

/* --role NAME[:POLICY[:hard]] as {"name", "policy", "hard"}. */
static int parse_role(const struct cli *cli, const char *s, json_t **out)
{
    static const char *const policies[] = {"none", "affinity",
                                           "anti-affinity"};
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *copy = vr_strdup(s);
    char *name = copy, *policy = NULL, *hard = NULL;
    size_t i;

    if ((policy = strchr(name, ':'))) {
        *policy++ = '\0';
        if ((hard = strchr(policy, ':')))
            *hard++ = '\0';
    }
    if (vr_name_check(name, "role name", &err) < 0)
        return cli_usage(cli, "--role '%.64s': %s", s, err.msg);
    if (policy) {
        for (i = 0; i < VR_ARRAY_SIZE(policies); i++)
            if (strcmp(policy, policies[i]) == 0)
                break;
        if (i == VR_ARRAY_SIZE(policies))
            return cli_usage(cli,
                             "--role '%.64s': the policy must be none, "
                             "affinity or anti-affinity",
                             s);
    }
    if (hard && strcmp(hard, "hard") != 0)
        return cli_usage(cli,
                         "--role '%.64s' must be NAME[:POLICY[:hard]]", s);
    *out = json_pack("{s:s, s:s, s:b}", "name", name, "policy",
                     policy ? policy : "none", "hard", hard != NULL);
    return CLI_OK;
}

/* The roles as --role takes them: "db:anti-affinity:hard, web". */
static void roles_text(const json_t *roles, struct vr_buf *b)
{
    const json_t *r;
    size_t i;

    json_array_foreach(roles, i, r) {
        const char *policy = cli_jstr(r, "policy");
        vr_buf_addf(b, "%s%s", i ? ", " : "", cli_jstr(r, "name"));
        if (strcmp(policy, "none") != 0 ||
            json_is_true(json_object_get(r, "hard")))
            vr_buf_addf(b, ":%s", policy);
        if (json_is_true(json_object_get(r, "hard")))
            vr_buf_adds(b, ":hard");
    }
}

/* A VM group as key: value lines, then its roles as a table. */
static void vm_group_print(const struct cli *cli, const json_t *g)
{
    static const char *const head[] = {"ROLE", "POLICY", "HARD"};
    const json_t *r;
    struct cli_table t;
    json_t *top;
    size_t i;

    if (cli->output == CLI_OUT_JSON) {
        cli_print_json(g);
        return;
    }
    top = json_copy((json_t *)g);
    json_object_del(top, "roles");
    cli_print_object(stdout, top);
    json_decref(top);
    printf("\n");
    cli_table_init(&t, head, VR_ARRAY_SIZE(head));
    json_array_foreach(json_object_get(g, "roles"), i, r) {
        const char *row[] = {
            cli_jstr(r, "name"), cli_jstr(r, "policy"),
            json_is_true(json_object_get(r, "hard")) ? "yes" : "no"};
        cli_table_add(&t, row);
    }
    cli_table_print(&t, stdout);
    cli_table_release(&t);
}

static int vm_group_create(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"role", required_argument, NULL, OPT_ROLE}, CLI_COMMON_OPTIONS, {0}};
    struct vr_error err = VR_ERROR_INIT;
    json_t *roles = json_array(), *role = NULL, *body, *ans = NULL;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, vm_group_create_help,
                           &status)) != -1) {
        if (c != OPT_ROLE ||
            (status = parse_role(cli, optarg, &role)) != CLI_OK) {
            json_decref(roles);
            return status;
        }
        json_array_append_new(roles, role);
    }
    if ((status = cli_check_args(cli, argc - optind, 1, 1, "NAME")) == CLI_OK) {
        if (vr_name_check(argv[optind], "vm group name", &err) < 0)
            status = cli_usage(cli, "%s", err.msg);
        else if (json_array_size(roles) == 0)
            status = cli_usage(cli, "give the group's roles with --role");
    }
    if (status != CLI_OK || (status = cli_connect(cli)) != CLI_OK) {
        json_decref(roles);
        return status;
    }
    body = json_pack("{s:s, s:o}", "name", argv[optind], "roles", roles);
    if (cli_http_call(cli->http, "POST", "/api/v1/vm-groups", body, 0, &ans,
                      &err) < 0) {
        json_decref(body);
        return cli_fail(&err);
    }
    json_decref(body);
    vm_group_print(cli, ans);
    json_decref(ans);
    return CLI_OK;
}

/* ID NAME ROLES */
static void vm_group_row(struct cli_table *t, const json_t *g)
{
    struct vr_buf roles;
    char id[24];

    vr_buf_init(&roles);
    roles_text(json_object_get(g, "roles"), &roles);
    {
        const char *row[] = {cli_jint(g, "id", id, sizeof(id)),
                             cli_jstr(g, "name"), roles.data};
        cli_table_add(t, row);
    }
    vr_buf_release(&roles);
}

static int vm_group_list(struct cli *cli, int argc, char **argv)
{
    static const char *const head[] = {"ID", "NAME", "ROLES"};
    static const struct cli_list l = {
        .help = vm_group_list_help,
        .path = "/api/v1/vm-groups",
        .head = head,
        .ncols = VR_ARRAY_SIZE(head),
        .add_row = vm_group_row,
    };
    return cli_cmd_list(cli, argc, argv, &l);
}

/* The common options and one GROUP argument, then the connection; *path
 * gets the group's URL.  Returns 0, or -1 when the command ends with
 * *status (help was printed, or an error reported). */
static int vm_group_ref(struct cli *cli, int argc, char **argv,
                        const char *help, char **path, int *status)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    int c;

    *path = NULL;
    *status = CLI_OK;
    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, help, status)) != -1)
        return -1;
    if ((*status = cli_check_args(cli, argc - optind, 1, 1, "GROUP")) !=
            CLI_OK ||
        !(*path = cli_ref_path(cli, "vm-groups", argv[optind], "", status)) ||
        (*status = cli_connect(cli)) != CLI_OK)
        return -1;
    return 0;
}

static int vm_group_show(struct cli *cli, int argc, char **argv)
{
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *path = NULL;
    json_t *g;
    int status;

    if (vm_group_ref(cli, argc, argv, vm_group_show_help, &path, &status) < 0)
        return status;
    if (cli_http_call(cli->http, "GET", path, NULL, 0, &g, &err) < 0)
        return cli_fail(&err);
    vm_group_print(cli, g);
    json_decref(g);
    return CLI_OK;
}

static int vm_group_delete(struct cli *cli, int argc, char **argv)
{
    static const struct cli_delete d = {vm_group_delete_help, "vm-groups",
                                        "GROUP", "vm_group", "vm group",
                                        "deleted"};
    return cli_cmd_delete(cli, argc, argv, &d);
}

int cli_cmd_vm_group(struct cli *cli, int argc, char **argv)
{
    static const struct cli_subcmd cmds[] = {
        {"create", vm_group_create},
        {"list", vm_group_list},
        {"show", vm_group_show},
        {"delete", vm_group_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, VR_ARRAY_SIZE(cmds),
                        vm_group_help);
}
