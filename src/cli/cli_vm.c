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
#include <string.h>

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
};

#define WAIT_HELP                                                              \
    "  --wait             follow the job to its end, showing its progress,\n"  \
    "                     then print the VM (or that it was deleted); exit\n"  \
    "                     1 if the job failed\n"

#define OUTPUT_HELP                                                            \
    "  -o, --output FMT   table or json\n"                                     \
    "  -h, --help         show this help\n"

static const char vm_help[] =
    "Usage: vireo vm COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  create NAME --image IMG --memory SIZE [--cpu N] [--disk SIZE]...\n"
    "                       create a VM from an image (and start it)\n"
    "  list [--state S]     list VMs: ID NAME STATE TASK HOST VCPUS MEMORY\n"
    "  show VM              show a VM (id, UUID or name)\n"
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

        job_status_line(cli, *job, "");
        if (cli_http_call(cli->http, "GET", path, NULL, CLI_HTTP_LONG, &next,
                          err) < 0) {
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
    cli_print_item(cli, vm);
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
    "                       [--no-start] [--wait]\n"
    "\n"
    "Create a VM whose boot disk is a copy-on-write clone of IMAGE, and\n"
    "start it.\n"
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
    "  --no-start         define the VM and leave it powered off\n" WAIT_HELP
        OUTPUT_HELP;

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
        CLI_COMMON_OPTIONS,
        {0}};
    struct vr_error err = VR_ERROR_INIT;
    const char *image = NULL, *uuid = NULL, *name;
    int64_t cpus = 1, memory = 0, mib;
    bool full_clone = false, start = true, wait = false;
    json_t *disks = json_array();
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
            break;
        }
        if (c == CLI_OPT_EXIT || status != CLI_OK) {
            json_decref(disks);
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
        return status;
    }
    body = json_pack("{s:s, s:s, s:I, s:I, s:o, s:b, s:b}", "name", name,
                     "image", image, "vcpus", (json_int_t)cpus, "memory",
                     (json_int_t)memory, "disks", disks, "full_clone",
                     full_clone, "start", start);
    if (!body)
        return cli_failf("the name or the image is not valid UTF-8");
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
    "host and console.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static int vm_show(struct cli *cli, int argc, char **argv)
{
    return cli_cmd_show(cli, argc, argv, vm_show_help, "vms", "VM");
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
