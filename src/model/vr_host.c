#include "vr_host.h"

#include <string.h>

#include "vr_json.h"

static const char *const host_state_names[] = {
#define VR_X(e, s) [e] = s,
    VR_HOST_STATES(VR_X)
#undef VR_X
};
_Static_assert(VR_ARRAY_SIZE(host_state_names) == VR_HOST__LAST, "names");

const char *vr_host_state_name(enum vr_host_state s)
{
    return (unsigned)s < VR_HOST__LAST ? host_state_names[s] : "UNKNOWN";
}

json_t *vr_host_caps_to_json(const struct vr_host_caps *c)
{
    json_t *j = json_object(), *cells = json_array();

    json_object_set_new(j, "hostname", json_string(c->hostname));
    json_object_set_new(j, "uuid", json_string(c->uuid));
    json_object_set_new(j, "arch", json_string(c->arch));
    json_object_set_new(j, "cpu_model", json_string(c->cpu_model));
    json_object_set_new(j, "cpu_vendor", json_string(c->cpu_vendor));
    json_object_set_new(j, "cpus", json_integer(c->cpus));
    json_object_set_new(j, "sockets", json_integer(c->sockets));
    json_object_set_new(j, "cores", json_integer(c->cores));
    json_object_set_new(j, "threads", json_integer(c->threads));
    json_object_set_new(j, "mhz", json_integer(c->mhz));
    json_object_set_new(j, "memory_kib", json_integer((json_int_t)c->memory_kib));
    json_object_set_new(j, "free_memory_kib",
                        json_integer((json_int_t)c->free_memory_kib));
    for (int i = 0; i < c->ncells; i++) {
        json_t *jc = json_object();
        json_object_set_new(jc, "id", json_integer(c->cells[i].id));
        json_object_set_new(jc, "memory_kib",
                            json_integer((json_int_t)c->cells[i].memory_kib));
        json_object_set_new(jc, "ncpus", json_integer(c->cells[i].ncpus));
        json_object_set_new(jc, "cpus", json_string(c->cells[i].cpus));
        json_array_append_new(cells, jc);
    }
    json_object_set_new(j, "numa_cells", cells);
    json_object_set_new(j, "libvirt_version", json_string(c->libvirt_version));
    json_object_set_new(j, "hypervisor_version", json_string(c->hv_version));
    return j;
}

void vr_host_caps_from_json(struct vr_host_caps *c, const json_t *j)
{
    const json_t *cells = json_object_get(j, "numa_cells"), *v;
    size_t i;

    memset(c, 0, sizeof(*c));
    vr_json_copy_str(j, "hostname", c->hostname, sizeof(c->hostname));
    vr_json_copy_str(j, "uuid", c->uuid, sizeof(c->uuid));
    vr_json_copy_str(j, "arch", c->arch, sizeof(c->arch));
    vr_json_copy_str(j, "cpu_model", c->cpu_model, sizeof(c->cpu_model));
    vr_json_copy_str(j, "cpu_vendor", c->cpu_vendor, sizeof(c->cpu_vendor));
    c->cpus = (int)vr_json_get_i64(j, "cpus");
    c->sockets = (int)vr_json_get_i64(j, "sockets");
    c->cores = (int)vr_json_get_i64(j, "cores");
    c->threads = (int)vr_json_get_i64(j, "threads");
    c->mhz = (int)vr_json_get_i64(j, "mhz");
    c->memory_kib = (uint64_t)vr_json_get_i64(j, "memory_kib");
    c->free_memory_kib = (uint64_t)vr_json_get_i64(j, "free_memory_kib");
    json_array_foreach(cells, i, v) {
        struct vr_host_cell *cell;
        if (c->ncells >= VR_HOST_MAX_CELLS)
            break;
        cell = &c->cells[c->ncells++];
        cell->id = (int)vr_json_get_i64(v, "id");
        cell->memory_kib = (uint64_t)vr_json_get_i64(v, "memory_kib");
        cell->ncpus = (int)vr_json_get_i64(v, "ncpus");
        vr_json_copy_str(v, "cpus", cell->cpus, sizeof(cell->cpus));
    }
    vr_json_copy_str(j, "libvirt_version", c->libvirt_version,
                     sizeof(c->libvirt_version));
    vr_json_copy_str(j, "hypervisor_version", c->hv_version,
                     sizeof(c->hv_version));
}

static json_t *host_to_json(const void *obj, bool internal)
{
    const struct vr_host *h = obj;
    json_t *j = json_object();

    (void)internal;
    vr_obj_hdr_to_json(&h->hdr, j);
    json_object_set_new(j, "state", json_string(vr_host_state_name(h->state)));
    json_object_set_new(j, "enabled", json_boolean(h->enabled));
    json_object_set_new(j, "transport", json_string(h->transport));
    json_object_set_new(j, "hypervisor", json_string(h->hypervisor));
    json_object_set_new(j, "hypervisor_detail",
                        json_string(h->hypervisor_detail));
    json_object_set_new(j, "capabilities", vr_host_caps_to_json(&h->caps));
    vr_json_set_time(j, "monitored_at", h->monitored_at);
    vr_json_set_str_or_null(j, "error", h->error);
    return j;
}

static int host_from_json(void *obj, const json_t *j, struct vr_error *err)
{
    struct vr_host *h = obj;
    const char *st = json_string_value(json_object_get(j, "state"));

    (void)err;
    vr_obj_hdr_from_json(&h->hdr, j);
    h->state = VR_HOST_INIT;
    for (int i = 0; i < VR_HOST__LAST; i++)
        if (st && strcmp(st, host_state_names[i]) == 0)
            h->state = (enum vr_host_state)i;
    h->enabled = json_is_true(json_object_get(j, "enabled"));
    vr_json_copy_str(j, "transport", h->transport, sizeof(h->transport));
    vr_json_copy_str(j, "hypervisor", h->hypervisor, sizeof(h->hypervisor));
    vr_json_copy_str(j, "hypervisor_detail", h->hypervisor_detail,
                     sizeof(h->hypervisor_detail));
    vr_host_caps_from_json(&h->caps, json_object_get(j, "capabilities"));
    h->monitored_at = vr_json_get_time(j, "monitored_at");
    vr_json_copy_str(j, "error", h->error, sizeof(h->error));
    return 0;
}

static void host_copy(void *dst, const void *src)
{
    memcpy(dst, src, sizeof(struct vr_host));
}

const struct vr_kind vr_host_kind = {
    .name = "host",
    .table = "hosts",
    .size = sizeof(struct vr_host),
    .names = VR_NAMES_GLOBAL,
    .to_json = host_to_json,
    .from_json = host_from_json,
    .copy = host_copy,
};
