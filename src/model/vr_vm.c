/* vr_vm.c - the VM kind: JSON form (API and store) and copying. */
#include "vr_vm.h"

#include <string.h>

#include "vr_json.h"

static json_t *placement_to_json(const struct vr_vm *vm)
{
    json_t *p = json_object(), *a;
    char buf[32];

    json_object_set_new(p, "cpu_policy",
                        json_string(vr_cpu_policy_name(vm->want.cpu_policy)));
    if (vm->want.sockets)
        json_object_set_new(p, "topology",
                            json_pack("{s:i, s:i, s:i}", "sockets",
                                      vm->want.sockets, "cores", vm->want.cores,
                                      "threads", vm->want.threads));
    else
        json_object_set_new(p, "topology", json_null());
    a = json_array();
    for (int i = 0; i < vm->want.nvnodes; i++)
        json_array_append_new(
            a,
            json_pack("{s:i, s:I}", "vcpus", vm->want.vnodes[i].vcpus,
                      "memory_mib", (json_int_t)vm->want.vnodes[i].memory_mib));
    json_object_set_new(p, "numa_nodes", a);
    json_object_set_new(p, "hugepages",
                        vm->want.hugepage_kib == 2048      ? json_string("2M")
                        : vm->want.hugepage_kib == 1048576 ? json_string("1G")
                                                      : json_null());
    a = json_array();
    for (int i = 0; i < vm->want.npci; i++) {
        vr_pci_spec_format(&vm->want.pci[i], buf, sizeof(buf));
        json_array_append_new(a, json_string(buf));
    }
    json_object_set_new(p, "pci", a);
    a = json_array();
    for (int i = 0; i < vm->want.nsriov; i++)
        json_array_append_new(a, json_string(vm->want.sriov[i]));
    json_object_set_new(p, "sriov", a);
    vr_json_set_str_or_null(p, "requirements", vm->want.requirements);
    vr_json_set_str_or_null(p, "rank", vm->want.rank);
    a = json_array();
    for (int i = 0; i < vm->want.nhosts; i++)
        json_array_append_new(a, json_integer(vm->want.hosts[i]));
    json_object_set_new(p, "hosts", a);
    json_object_set_new(p, "force", json_boolean(vm->want.force));
    json_object_set_new(p, "vm_group",
                        vm->want.vm_group ? json_integer(vm->want.vm_group)
                                          : json_null());
    vr_json_set_str_or_null(p, "vm_group_role", vm->want.vm_group_role);
    json_object_set_new(p, "plan", vm->placed ? vr_sched_plan_to_json(&vm->plan)
                                              : json_null());
    vr_json_set_str_or_null(p, "why", vm->placement_why);
    return p;
}

static void placement_from_json(struct vr_vm *vm, const json_t *p)
{
    const json_t *a, *v;
    size_t i;
    const char *hp;

    if (!json_is_object(p))
        return;
    if (vr_cpu_policy_parse(json_string_value(json_object_get(p, "cpu_policy")),
                            &vm->want.cpu_policy) < 0)
        vm->want.cpu_policy = VR_CPU_SHARED;
    a = json_object_get(p, "topology");
    if (json_is_object(a)) {
        vm->want.sockets = (int)vr_json_get_i64(a, "sockets");
        vm->want.cores = (int)vr_json_get_i64(a, "cores");
        vm->want.threads = (int)vr_json_get_i64(a, "threads");
    }
    a = json_object_get(p, "numa_nodes");
    json_array_foreach(a, i, v) {
        if (vm->want.nvnodes >= VR_SCHED_MAX_VNODES)
            break;
        vm->want.vnodes[vm->want.nvnodes].vcpus =
            (int)vr_json_get_i64(v, "vcpus");
        vm->want.vnodes[vm->want.nvnodes].memory_mib =
            (uint64_t)vr_json_get_i64(v, "memory_mib");
        vm->want.nvnodes++;
    }
    hp = json_string_value(json_object_get(p, "hugepages"));
    vm->want.hugepage_kib = hp && strcmp(hp, "2M") == 0   ? 2048
                       : hp && strcmp(hp, "1G") == 0 ? 1048576
                                                     : 0;
    a = json_object_get(p, "pci");
    json_array_foreach(a, i, v) {
        if (vm->want.npci < VR_SCHED_MAX_DEVS &&
            vr_pci_spec_parse(json_string_value(v),
                              &vm->want.pci[vm->want.npci], NULL) == 0)
            vm->want.npci++;
    }
    a = json_object_get(p, "sriov");
    json_array_foreach(a, i, v) {
        if (vm->want.nsriov < VR_SCHED_MAX_DEVS && json_is_string(v))
            vr_strlcpy(vm->want.sriov[vm->want.nsriov++], json_string_value(v),
                       sizeof(vm->want.sriov[0]));
    }
    vr_json_copy_str(p, "requirements", vm->want.requirements,
                     sizeof(vm->want.requirements));
    vr_json_copy_str(p, "rank", vm->want.rank, sizeof(vm->want.rank));
    a = json_object_get(p, "hosts");
    json_array_foreach(a, i, v) {
        if (vm->want.nhosts < VR_SCHED_MAX_HOSTS_LIST)
            vm->want.hosts[vm->want.nhosts++] = json_integer_value(v);
    }
    vm->want.force = json_is_true(json_object_get(p, "force"));
    vm->want.vm_group = vr_json_get_i64(p, "vm_group");
    vr_json_copy_str(p, "vm_group_role", vm->want.vm_group_role,
                     sizeof(vm->want.vm_group_role));
    a = json_object_get(p, "plan");
    vm->placed = json_is_object(a) &&
                 vr_sched_plan_from_json(&vm->plan, a, NULL) == 0;
    vr_json_copy_str(p, "why", vm->placement_why, sizeof(vm->placement_why));
    vr_json_copy_str(p, "why_hosts", vm->placement_detail,
                     sizeof(vm->placement_detail));
}

static json_t *vm_to_json(const void *obj, bool internal)
{
    const struct vr_vm *vm = obj;
    json_t *j = json_object();
    json_t *disks = json_array(), *nics = json_array();

    /* nothing secret in a VM; what counts hosts is kept from tenants */
    vr_obj_hdr_to_json(&vm->hdr, j);
    json_object_set_new(j, "state", json_string(vr_vm_state_name(vm->state)));
    vr_json_set_time(j, "state_changed_at", vm->state_at);
    if (vm->task.status != VR_TASK_NONE) {
        json_t *t = json_object();
        json_object_set_new(t, "op", json_string(vr_vm_op_name(vm->task.op)));
        json_object_set_new(t, "status",
                            json_string(vr_task_status_name(vm->task.status)));
        json_object_set_new(t, "phase", json_string(vm->task.phase));
        json_object_set_new(t, "job_id", json_integer(vm->task.job_id));
        json_object_set_new(j, "task", t);
    } else {
        json_object_set_new(j, "task", json_null());
    }
    vr_json_set_str_or_null(j, "error", vm->error);
    json_object_set_new(j, "vcpus", json_integer(vm->vcpus));
    json_object_set_new(j, "memory_mib",
                        json_integer((json_int_t)vm->memory_mib));
    json_object_set_new(j, "image_id", json_integer(vm->image_id));
    json_object_set_new(j, "full_clone", json_boolean(vm->full_clone));
    json_object_set_new(j, "start", json_boolean(vm->start));
    for (int i = 0; i < vm->ndisks; i++) {
        const struct vr_vm_disk *d = &vm->disks[i];
        json_t *jd = json_object();
        json_object_set_new(jd, "target", json_string(d->target));
        json_object_set_new(jd, "boot", json_boolean(d->boot));
        json_object_set_new(jd, "size_mib",
                            json_integer((json_int_t)d->size_mib));
        json_object_set_new(jd, "format", json_string(d->format));
        vr_json_set_str_or_null(jd, "path", d->path);
        json_array_append_new(disks, jd);
    }
    json_object_set_new(j, "disks", disks);
    for (int i = 0; i < vm->nnics; i++) {
        const struct vr_vm_nic *n = &vm->nics[i];
        json_t *jn = json_object();
        json_object_set_new(jn, "model", json_string(n->model));
        json_object_set_new(jn, "mode", json_string(n->mode));
        json_object_set_new(jn, "mac", json_string(n->mac));
        json_array_append_new(nics, jn);
    }
    json_object_set_new(j, "nics", nics);
    json_object_set_new(j, "host_id", vm->host_id ? json_integer(vm->host_id)
                                                  : json_null());
    vr_json_set_str_or_null(j, "host", vm->host_name);
    if (vm->vnc_socket[0]) {
        json_t *c = json_object();
        json_object_set_new(c, "vnc", json_sprintf("unix:%s", vm->vnc_socket));
        json_object_set_new(j, "console", c);
    } else {
        json_object_set_new(j, "console", json_null());
    }
    vr_json_set_str_or_null(j, "console_log", vm->console_log);
    json_object_set_new(j, "placement", placement_to_json(vm));
    if (internal && vm->placement_detail[0])
        json_object_set_new(json_object_get(j, "placement"), "why_hosts",
                            json_string(vm->placement_detail));
    return j;
}

static int vm_from_json(void *obj, const json_t *j, struct vr_error *err)
{
    struct vr_vm *vm = obj;
    const json_t *t = json_object_get(j, "task");
    const json_t *a, *v;
    size_t i;

    vr_obj_hdr_from_json(&vm->hdr, j);
    if (vr_vm_state_parse(json_string_value(json_object_get(j, "state")),
                          &vm->state) < 0)
        return vr_err(err, VR_E_INTERNAL, "vm %lld: bad state in record",
                      (long long)vm->hdr.id);
    vm->state_at = vr_json_get_time(j, "state_changed_at");
    if (json_is_object(t)) {
        const char *st = json_string_value(json_object_get(t, "status"));
        if (vr_vm_op_parse(json_string_value(json_object_get(t, "op")),
                           &vm->task.op) < 0)
            return vr_err(err, VR_E_INTERNAL, "vm %lld: bad task in record",
                          (long long)vm->hdr.id);
        vm->task.status = st && strcmp(st, "failed") == 0 ? VR_TASK_FAILED
                                                          : VR_TASK_ACTIVE;
        vr_json_copy_str(t, "phase", vm->task.phase, sizeof(vm->task.phase));
        vm->task.job_id = vr_json_get_i64(t, "job_id");
    }
    vr_json_copy_str(j, "error", vm->error, sizeof(vm->error));
    vm->vcpus = (int)vr_json_get_i64(j, "vcpus");
    vm->memory_mib = (uint64_t)vr_json_get_i64(j, "memory_mib");
    vm->image_id = vr_json_get_i64(j, "image_id");
    vm->full_clone = json_is_true(json_object_get(j, "full_clone"));
    vm->start = json_is_true(json_object_get(j, "start"));
    a = json_object_get(j, "disks");
    json_array_foreach(a, i, v) {
        struct vr_vm_disk *d;
        if (vm->ndisks >= VR_VM_MAX_DISKS)
            break;
        d = &vm->disks[vm->ndisks++];
        vr_json_copy_str(v, "target", d->target, sizeof(d->target));
        d->boot = json_is_true(json_object_get(v, "boot"));
        d->size_mib = (uint64_t)vr_json_get_i64(v, "size_mib");
        vr_json_copy_str(v, "format", d->format, sizeof(d->format));
        vr_json_copy_str(v, "path", d->path, sizeof(d->path));
    }
    a = json_object_get(j, "nics");
    json_array_foreach(a, i, v) {
        struct vr_vm_nic *n;
        if (vm->nnics >= VR_VM_MAX_NICS)
            break;
        n = &vm->nics[vm->nnics++];
        vr_json_copy_str(v, "model", n->model, sizeof(n->model));
        vr_json_copy_str(v, "mode", n->mode, sizeof(n->mode));
        vr_json_copy_str(v, "mac", n->mac, sizeof(n->mac));
    }
    vm->host_id = vr_json_get_i64(j, "host_id");
    vr_json_copy_str(j, "host", vm->host_name, sizeof(vm->host_name));
    t = json_object_get(j, "console");
    if (json_is_object(t)) {
        const char *vnc = json_string_value(json_object_get(t, "vnc"));
        /* "unix:PATH"; an address from before sockets is forgotten (the
         * next look at the domain finds its socket) */
        if (vnc && strncmp(vnc, "unix:", 5) == 0)
            vr_strlcpy(vm->vnc_socket, vnc + 5, sizeof(vm->vnc_socket));
    }
    vr_json_copy_str(j, "console_log", vm->console_log,
                     sizeof(vm->console_log));
    placement_from_json(vm, json_object_get(j, "placement"));
    return 0;
}

static void vm_refs(const void *obj, int64_t refs[2])
{
    const struct vr_vm *vm = obj;
    refs[0] = vm->host_id;
    /* A linked clone depends on its image; a full clone does not. */
    refs[1] = vm->full_clone ? 0 : vm->image_id;
}

const struct vr_kind vr_vm_kind = {
    .name = "vm",
    .table = "vms",
    .size = sizeof(struct vr_vm),
    .names = VR_NAMES_OWNER,
    .to_json = vm_to_json,
    .from_json = vm_from_json,
    .release = NULL,
    .refs = vm_refs,
};
