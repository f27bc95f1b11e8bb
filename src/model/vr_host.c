#include "vr_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_json.h"

VR_ENUM_DEFINE(vr_host_state, vr_host_state, VR_HOST_STATES, VR_HOST__LAST, 0,
               "UNKNOWN")

/* [{"size_kib": 2048, "total": 512, "free": 500}, ...] */
static json_t *pages_to_json(const struct vr_host_cell *cell)
{
    json_t *a = json_array();

    for (int i = 0; i < cell->npages && i < VR_HOST_MAX_PAGESIZES; i++) {
        const struct vr_host_pages *p = &cell->pages[i];
        json_array_append_new(a, json_pack("{s:I, s:I, s:I}",
                                           "size_kib", (json_int_t)p->size_kib,
                                           "total", (json_int_t)p->total,
                                           "free", (json_int_t)p->free));
    }
    return a;
}

/* One [id, cell, socket, core] array a thread: compact for 500 threads. */
static json_t *topo_to_json(const struct vr_host_caps *c)
{
    json_t *a = json_array();

    for (int i = 0; i < c->ncpu_topo && i < VR_HOST_MAX_CPUS; i++) {
        const struct vr_host_cpu *t = &c->cpu_topo[i];
        json_array_append_new(a, json_pack("[i, i, i, i]", t->id, t->cell,
                                           t->socket, t->core));
    }
    return a;
}

static json_t *devs_to_json(const struct vr_host_caps *c)
{
    json_t *a = json_array();

    for (int i = 0; i < c->ndevs && i < VR_HOST_MAX_DEVS; i++) {
        const struct vr_host_dev *d = &c->devs[i];
        json_t *jd = json_object();
        char hex[8];

        json_object_set_new(jd, "address", json_string(d->addr));
        snprintf(hex, sizeof(hex), "%04x", d->vendor);
        json_object_set_new(jd, "vendor", json_string(hex));
        snprintf(hex, sizeof(hex), "%04x", d->product);
        json_object_set_new(jd, "product", json_string(hex));
        snprintf(hex, sizeof(hex), "%06x", d->pci_class & 0xffffffu);
        json_object_set_new(jd, "class", json_string(hex));
        json_object_set_new(jd, "cell", d->cell >= 0 ? json_integer(d->cell)
                                                     : json_null());
        vr_json_set_str_or_null(jd, "pf", d->pf);
        json_object_set_new(jd, "max_vfs", json_integer(d->max_vfs));
        json_object_set_new(jd, "name", json_string(d->name));
        vr_json_set_str_or_null(jd, "driver", d->driver);
        json_array_append_new(a, jd);
    }
    return a;
}

/* A hex string member ("8086") as a number; 0 if absent or not hex. */
static unsigned long get_hex(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    char *end;
    unsigned long v;

    if (!s || !*s)
        return 0;
    v = strtoul(s, &end, 16);
    return *end ? 0 : v;
}

static void pages_from_json(struct vr_host_cell *cell, const json_t *a)
{
    const json_t *v;
    size_t i;

    json_array_foreach(a, i, v) {
        struct vr_host_pages *p;
        if (cell->npages >= VR_HOST_MAX_PAGESIZES)
            break;
        p = &cell->pages[cell->npages++];
        p->size_kib = (uint32_t)vr_json_get_i64(v, "size_kib");
        p->total = (uint64_t)vr_json_get_i64(v, "total");
        p->free = (uint64_t)vr_json_get_i64(v, "free");
    }
}

static void topo_from_json(struct vr_host_caps *c, const json_t *a)
{
    const json_t *v;
    size_t i;

    json_array_foreach(a, i, v) {
        struct vr_host_cpu *t;
        if (c->ncpu_topo >= VR_HOST_MAX_CPUS)
            break;
        if (!json_is_array(v) || json_array_size(v) != 4)
            continue;
        t = &c->cpu_topo[c->ncpu_topo++];
        t->id = (int16_t)json_integer_value(json_array_get(v, 0));
        t->cell = (int16_t)json_integer_value(json_array_get(v, 1));
        t->socket = (int16_t)json_integer_value(json_array_get(v, 2));
        t->core = (int16_t)json_integer_value(json_array_get(v, 3));
    }
}

static void devs_from_json(struct vr_host_caps *c, const json_t *a)
{
    const json_t *v;
    size_t i;

    json_array_foreach(a, i, v) {
        struct vr_host_dev *d;
        if (c->ndevs >= VR_HOST_MAX_DEVS)
            break;
        if (!json_is_object(v))
            continue;
        d = &c->devs[c->ndevs++];
        vr_json_copy_str(v, "address", d->addr, sizeof(d->addr));
        d->vendor = (uint16_t)get_hex(v, "vendor");
        d->product = (uint16_t)get_hex(v, "product");
        d->pci_class = (uint32_t)get_hex(v, "class") & 0xffffffu;
        d->cell = json_is_integer(json_object_get(v, "cell"))
                      ? (int16_t)vr_json_get_i64(v, "cell")
                      : -1;
        vr_json_copy_str(v, "pf", d->pf, sizeof(d->pf));
        d->max_vfs = (int16_t)vr_json_get_i64(v, "max_vfs");
        vr_json_copy_str(v, "name", d->name, sizeof(d->name));
        vr_json_copy_str(v, "driver", d->driver, sizeof(d->driver));
    }
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
    json_object_set_new(j, "disk_free_mib",
                        json_integer((json_int_t)c->disk_free_mib));
    for (int i = 0; i < c->ncells; i++) {
        json_t *jc = json_object();
        json_object_set_new(jc, "id", json_integer(c->cells[i].id));
        json_object_set_new(jc, "memory_kib",
                            json_integer((json_int_t)c->cells[i].memory_kib));
        json_object_set_new(jc, "ncpus", json_integer(c->cells[i].ncpus));
        json_object_set_new(jc, "cpus", json_string(c->cells[i].cpus));
        json_object_set_new(jc, "pages", pages_to_json(&c->cells[i]));
        json_array_append_new(cells, jc);
    }
    json_object_set_new(j, "numa_cells", cells);
    json_object_set_new(j, "cpu_topology", topo_to_json(c));
    json_object_set_new(j, "devices", devs_to_json(c));
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
        pages_from_json(cell, json_object_get(v, "pages"));
    }
    topo_from_json(c, json_object_get(j, "cpu_topology"));
    devs_from_json(c, json_object_get(j, "devices"));
    c->disk_free_mib = (uint64_t)vr_json_get_i64(j, "disk_free_mib");
    vr_json_copy_str(j, "libvirt_version", c->libvirt_version,
                     sizeof(c->libvirt_version));
    vr_json_copy_str(j, "hypervisor_version", c->hv_version,
                     sizeof(c->hv_version));
}

void vr_host_conf_defaults(struct vr_host_conf *c)
{
    memset(c, 0, sizeof(*c));
}

/* A ratio: a number, or null for 0 (inherited). */
static json_t *ratio_json(double r)
{
    return r > 0 ? json_real(r) : json_null();
}

json_t *vr_host_conf_to_json(const struct vr_host_conf *c)
{
    json_t *j = json_object(), *labels = json_array(), *pools = json_array();

    json_object_set_new(j, "dedicated_cpus", json_string(c->dedicated_cpus));
    json_object_set_new(j, "reserved_cpus", json_string(c->reserved_cpus));
    json_object_set_new(j, "reserved_memory_mib",
                        json_integer((json_int_t)c->reserved_memory_mib));
    json_object_set_new(j, "cpu_ratio", ratio_json(c->cpu_ratio));
    json_object_set_new(j, "mem_ratio", ratio_json(c->mem_ratio));
    for (int i = 0; i < c->nlabels && i < VR_HOST_MAX_LABELS; i++)
        json_array_append_new(labels, json_string(c->labels[i]));
    json_object_set_new(j, "labels", labels);
    for (int i = 0; i < c->npools && i < VR_HOST_MAX_POOLS; i++)
        json_array_append_new(pools,
                              json_pack("{s:s, s:s}", "name", c->pools[i].name,
                                        "pf", c->pools[i].pf));
    json_object_set_new(j, "sriov_pools", pools);
    {
        json_t *pci = json_array();
        for (int i = 0; i < c->npci && i < VR_HOST_MAX_PCI; i++)
            json_array_append_new(pci, json_string(c->pci[i]));
        json_object_set_new(j, "pci_passthrough", pci);
    }
    return j;
}

void vr_host_conf_from_json(struct vr_host_conf *c, const json_t *j)
{
    const json_t *v;
    size_t i;

    vr_host_conf_defaults(c);
    if (!json_is_object(j))
        return;
    vr_json_copy_str(j, "dedicated_cpus", c->dedicated_cpus,
                     sizeof(c->dedicated_cpus));
    vr_json_copy_str(j, "reserved_cpus", c->reserved_cpus,
                     sizeof(c->reserved_cpus));
    c->reserved_memory_mib = (uint64_t)vr_json_get_i64(j, "reserved_memory_mib");
    if (json_is_number(json_object_get(j, "cpu_ratio")))
        c->cpu_ratio = json_number_value(json_object_get(j, "cpu_ratio"));
    if (json_is_number(json_object_get(j, "mem_ratio")))
        c->mem_ratio = json_number_value(json_object_get(j, "mem_ratio"));
    json_array_foreach(json_object_get(j, "labels"), i, v) {
        if (c->nlabels >= VR_HOST_MAX_LABELS)
            break;
        if (json_is_string(v))
            vr_strlcpy(c->labels[c->nlabels++], json_string_value(v),
                       sizeof(c->labels[0]));
    }
    json_array_foreach(json_object_get(j, "sriov_pools"), i, v) {
        if (c->npools >= VR_HOST_MAX_POOLS)
            break;
        if (!json_is_object(v))
            continue;
        vr_json_copy_str(v, "name", c->pools[c->npools].name,
                         sizeof(c->pools[0].name));
        vr_json_copy_str(v, "pf", c->pools[c->npools].pf,
                         sizeof(c->pools[0].pf));
        c->npools++;
    }
    json_array_foreach(json_object_get(j, "pci_passthrough"), i, v) {
        if (c->npci >= VR_HOST_MAX_PCI)
            break;
        if (json_is_string(v))
            vr_strlcpy(c->pci[c->npci++], json_string_value(v),
                       sizeof(c->pci[0]));
    }
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
    json_object_set_new(j, "cluster_id", json_integer(h->cluster_id));
    json_object_set_new(j, "hypervisor", json_string(h->hypervisor));
    json_object_set_new(j, "hypervisor_detail",
                        json_string(h->hypervisor_detail));
    json_object_set_new(j, "config", vr_host_conf_to_json(&h->conf));
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
    if (!st || vr_host_state_parse(st, &h->state) < 0)
        h->state = VR_HOST_INIT;
    h->enabled = json_is_true(json_object_get(j, "enabled"));
    vr_json_copy_str(j, "transport", h->transport, sizeof(h->transport));
    h->cluster_id = vr_json_get_i64(j, "cluster_id");
    vr_json_copy_str(j, "hypervisor", h->hypervisor, sizeof(h->hypervisor));
    vr_json_copy_str(j, "hypervisor_detail", h->hypervisor_detail,
                     sizeof(h->hypervisor_detail));
    /* a record written before hosts had a config gets the defaults */
    vr_host_conf_from_json(&h->conf, json_object_get(j, "config"));
    vr_host_caps_from_json(&h->caps, json_object_get(j, "capabilities"));
    h->monitored_at = vr_json_get_time(j, "monitored_at");
    vr_json_copy_str(j, "error", h->error, sizeof(h->error));
    return 0;
}

const struct vr_kind vr_host_kind = {
    .name = "host",
    .table = "hosts",
    .size = sizeof(struct vr_host),
    .names = VR_NAMES_GLOBAL,
    .to_json = host_to_json,
    .from_json = host_from_json,
};
