/*
 * vr_wire.c - the node protocol's codecs (see vr_wire.h).
 */
#include <string.h>

#include "vr_json.h"
#include "vr_wire.h"

VR_ENUM_DEFINE(vr_dom_state, vr_dom_state, VR_DOM_STATES, VR_DOM__LAST, 0,
               "unknown")
VR_ENUM_DEFINE(vr_disk_kind, vr_disk_kind, VR_DISK_KINDS, VR_DISK__LAST, 0,
               "unknown")

/* ---- strict readers: absent is empty, zero or false */

static int get_str(const json_t *o, const char *key, char *dst, size_t size,
                   struct vr_error *err)
{
    const char *s = "";

    if (vr_json_str(o, key, false, &s, err) < 0)
        return -1;
    if (strlen(s) >= size)
        return vr_err(err, VR_E_INVALID, "field '%s' is longer than %zu "
                      "bytes", key, size - 1);
    vr_strlcpy(dst, s, size);
    return 0;
}

static int get_int(const json_t *o, const char *key, int64_t min,
                   int64_t max, int64_t *out, struct vr_error *err)
{
    *out = 0;
    return vr_json_int(o, key, false, min, max, out, err) < 0 ? -1 : 0;
}

static int get_bool(const json_t *o, const char *key, bool *out,
                    struct vr_error *err)
{
    *out = false;
    return vr_json_bool(o, key, false, out, err) < 0 ? -1 : 0;
}

/* An array member of at most `max` elements (NULL and 0 if absent). */
static int get_array(const json_t *o, const char *key, size_t max,
                     const json_t **out, size_t *n, struct vr_error *err)
{
    const json_t *a = json_object_get(o, key);

    *out = NULL;
    *n = 0;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return vr_err(err, VR_E_INVALID, "field '%s' must be an array", key);
    if (json_array_size(a) > max)
        return vr_err(err, VR_E_INVALID, "field '%s' has more than %zu "
                      "elements", key, max);
    *out = a;
    *n = json_array_size(a);
    return 0;
}

static int need_object(const json_t *j, const char *what,
                       const char *const allowed[], struct vr_error *err)
{
    if (!json_is_object(j))
        return vr_err(err, VR_E_INVALID, "%s must be a JSON object", what);
    if (vr_json_only(j, allowed, err) < 0) {
        vr_err_prefix(err, "%s", what);
        return -1;
    }
    return 0;
}

#define GET_INT(o, key, min, max, dst, err)                                \
    do {                                                                   \
        int64_t v_;                                                        \
        if (get_int((o), (key), (min), (max), &v_, (err)) < 0)             \
            return -1;                                                     \
        (dst) = v_;                                                        \
    } while (0)

#define GET_STR(o, key, dst, err)                                          \
    do {                                                                   \
        if (get_str((o), (key), (dst), sizeof(dst), (err)) < 0)            \
            return -1;                                                     \
    } while (0)

/* ---- the domain spec */

json_t *vr_wire_spec_to_json(const struct vr_dom_spec *s)
{
    json_t *j = json_object(), *disks = json_array(), *nics = json_array();
    json_t *cells = json_array(), *devs = json_array();

    json_object_set_new(j, "uuid", json_string(s->uuid));
    json_object_set_new(j, "vm_name", json_string(s->vm_name));
    json_object_set_new(j, "vm_id", json_integer(s->vm_id));
    json_object_set_new(j, "instance", json_string(s->instance));
    json_object_set_new(j, "hypervisor", json_string(s->hypervisor));
    json_object_set_new(j, "vcpus", json_integer(s->vcpus));
    json_object_set_new(j, "memory_mib", json_integer((json_int_t)s->memory_mib));
    for (int i = 0; i < s->ndisks && i < VR_WIRE_MAX_DISKS; i++)
        json_array_append_new(disks, json_pack(
            "{s:s, s:s, s:s, s:b}", "target", s->disks[i].target, "path",
            s->disks[i].path, "format", s->disks[i].format, "boot",
            s->disks[i].boot));
    json_object_set_new(j, "disks", disks);
    for (int i = 0; i < s->nnics && i < VR_WIRE_MAX_NICS; i++)
        json_array_append_new(nics, json_pack(
            "{s:s, s:s, s:s}", "model", s->nics[i].model, "mode",
            s->nics[i].mode, "mac", s->nics[i].mac));
    json_object_set_new(j, "nics", nics);
    json_object_set_new(j, "console_log", json_string(s->console_log));
    json_object_set_new(j, "sockets", json_integer(s->sockets));
    json_object_set_new(j, "cores", json_integer(s->cores));
    json_object_set_new(j, "threads", json_integer(s->threads));
    json_object_set_new(j, "cpuset", json_string(s->cpuset));
    json_object_set_new(j, "pinned", json_boolean(s->pinned));
    if (s->pinned) {
        json_t *pins = json_array();
        for (int i = 0; i < s->vcpus && i < VR_WIRE_MAX_VCPUS; i++)
            json_array_append_new(pins, json_integer(s->vcpupin[i]));
        json_object_set_new(j, "vcpupin", pins);
    }
    json_object_set_new(j, "emulatorpin", json_string(s->emulatorpin));
    json_object_set_new(j, "nodeset", json_string(s->nodeset));
    for (int i = 0; i < s->ncells && i < VR_WIRE_MAX_CELLS; i++)
        json_array_append_new(cells, json_pack(
            "{s:s, s:I, s:i}", "vcpus", s->cells[i].vcpus, "memory_mib",
            (json_int_t)s->cells[i].memory_mib, "host_cell",
            s->cells[i].host_cell));
    json_object_set_new(j, "cells", cells);
    json_object_set_new(j, "hugepage_kib", json_integer(s->hugepage_kib));
    for (int i = 0; i < s->nhostdevs && i < VR_WIRE_MAX_HOSTDEVS; i++)
        json_array_append_new(devs, json_string(s->hostdevs[i]));
    json_object_set_new(j, "hostdevs", devs);
    return j;
}

static int spec_disk(const json_t *d, struct vr_dom_disk *out,
                     struct vr_error *err)
{
    static const char *const keys[] = {"target", "path", "format", "boot",
                                       NULL};

    if (need_object(d, "a disk", keys, err) < 0)
        return -1;
    GET_STR(d, "target", out->target, err);
    GET_STR(d, "path", out->path, err);
    GET_STR(d, "format", out->format, err);
    return get_bool(d, "boot", &out->boot, err);
}

static int spec_nic(const json_t *d, struct vr_dom_nic *out,
                    struct vr_error *err)
{
    static const char *const keys[] = {"model", "mode", "mac", NULL};

    if (need_object(d, "a NIC", keys, err) < 0)
        return -1;
    GET_STR(d, "model", out->model, err);
    GET_STR(d, "mode", out->mode, err);
    GET_STR(d, "mac", out->mac, err);
    return 0;
}

static int spec_cell(const json_t *d, struct vr_dom_spec *s, int i,
                     struct vr_error *err)
{
    static const char *const keys[] = {"vcpus", "memory_mib", "host_cell",
                                       NULL};

    if (need_object(d, "a cell", keys, err) < 0)
        return -1;
    GET_STR(d, "vcpus", s->cells[i].vcpus, err);
    GET_INT(d, "memory_mib", 0, INT64_MAX, s->cells[i].memory_mib, err);
    GET_INT(d, "host_cell", -1, INT32_MAX, s->cells[i].host_cell, err);
    return 0;
}

int vr_wire_spec_from_json(const json_t *j, struct vr_dom_spec *s,
                           struct vr_error *err)
{
    static const char *const keys[] = {
        "uuid", "vm_name", "vm_id", "instance", "hypervisor", "vcpus",
        "memory_mib", "disks", "nics", "console_log", "sockets", "cores",
        "threads", "cpuset", "pinned", "vcpupin", "emulatorpin", "nodeset",
        "cells", "hugepage_kib", "hostdevs", NULL};
    const json_t *a;
    size_t n;

    memset(s, 0, sizeof(*s));
    for (int i = 0; i < VR_WIRE_MAX_VCPUS; i++)
        s->vcpupin[i] = -1;
    if (need_object(j, "a domain spec", keys, err) < 0)
        return -1;
    GET_STR(j, "uuid", s->uuid, err);
    GET_STR(j, "vm_name", s->vm_name, err);
    GET_INT(j, "vm_id", 0, INT64_MAX, s->vm_id, err);
    GET_STR(j, "instance", s->instance, err);
    GET_STR(j, "hypervisor", s->hypervisor, err);
    GET_INT(j, "vcpus", 0, VR_WIRE_MAX_VCPUS, s->vcpus, err);
    GET_INT(j, "memory_mib", 0, INT64_MAX, s->memory_mib, err);
    if (get_array(j, "disks", VR_WIRE_MAX_DISKS, &a, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (spec_disk(json_array_get(a, i), &s->disks[i], err) < 0)
            return -1;
    s->ndisks = (int)n;
    if (get_array(j, "nics", VR_WIRE_MAX_NICS, &a, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (spec_nic(json_array_get(a, i), &s->nics[i], err) < 0)
            return -1;
    s->nnics = (int)n;
    GET_STR(j, "console_log", s->console_log, err);
    GET_INT(j, "sockets", 0, VR_WIRE_MAX_VCPUS, s->sockets, err);
    GET_INT(j, "cores", 0, VR_WIRE_MAX_VCPUS, s->cores, err);
    GET_INT(j, "threads", 0, VR_WIRE_MAX_VCPUS, s->threads, err);
    GET_STR(j, "cpuset", s->cpuset, err);
    if (get_bool(j, "pinned", &s->pinned, err) < 0 ||
        get_array(j, "vcpupin", (size_t)s->vcpus, &a, &n, err) < 0)
        return -1;
    if (s->pinned ? n != (size_t)s->vcpus : n != 0)
        return vr_err(err, VR_E_INVALID, "a pinned domain needs one "
                      "'vcpupin' per vCPU, and only a pinned one has them");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < -1 ||
            json_integer_value(v) > INT16_MAX)
            return vr_err(err, VR_E_INVALID, "'vcpupin' holds host CPU "
                          "numbers (or -1)");
        s->vcpupin[i] = (int16_t)json_integer_value(v);
    }
    GET_STR(j, "emulatorpin", s->emulatorpin, err);
    GET_STR(j, "nodeset", s->nodeset, err);
    if (get_array(j, "cells", VR_WIRE_MAX_CELLS, &a, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (spec_cell(json_array_get(a, i), s, (int)i, err) < 0)
            return -1;
    s->ncells = (int)n;
    GET_INT(j, "hugepage_kib", 0, UINT32_MAX, s->hugepage_kib, err);
    if (get_array(j, "hostdevs", VR_WIRE_MAX_HOSTDEVS, &a, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_string(v) ||
            json_string_length(v) >= sizeof(s->hostdevs[0]) ||
            strlen(json_string_value(v)) != json_string_length(v))
            return vr_err(err, VR_E_INVALID, "'hostdevs' holds PCI "
                          "addresses");
        vr_strlcpy(s->hostdevs[i], json_string_value(v),
                   sizeof(s->hostdevs[0]));
    }
    s->nhostdevs = (int)n;
    return 0;
}

/* ---- disks */

json_t *vr_wire_disk_req_to_json(const struct vr_disk_req *r)
{
    return json_pack("{s:s, s:i, s:s, s:s, s:s, s:I}", "vm_uuid", r->vm_uuid,
                     "index", r->index, "kind", vr_disk_kind_name(r->kind),
                     "base_path", r->base_path, "base_format",
                     r->base_format, "size_mib", (json_int_t)r->size_mib);
}

int vr_wire_disk_req_from_json(const json_t *j, struct vr_disk_req *r,
                               struct vr_error *err)
{
    static const char *const keys[] = {"vm_uuid", "index", "kind",
                                       "base_path", "base_format",
                                       "size_mib", NULL};
    char kind[16];

    memset(r, 0, sizeof(*r));
    if (need_object(j, "a disk request", keys, err) < 0)
        return -1;
    GET_STR(j, "vm_uuid", r->vm_uuid, err);
    GET_INT(j, "index", 0, VR_WIRE_MAX_DISKS - 1, r->index, err);
    GET_STR(j, "kind", kind, err);
    if (vr_disk_kind_parse(kind, &r->kind) < 0)
        return vr_err(err, VR_E_INVALID, "unknown disk kind '%s'", kind);
    GET_STR(j, "base_path", r->base_path, err);
    GET_STR(j, "base_format", r->base_format, err);
    GET_INT(j, "size_mib", 0, INT64_MAX, r->size_mib, err);
    return 0;
}

json_t *vr_wire_disk_made_to_json(const struct vr_disk_made *d)
{
    return json_pack("{s:s, s:s, s:I}", "path", d->path, "format", d->format,
                     "size_mib", (json_int_t)d->size_mib);
}

int vr_wire_disk_made_from_json(const json_t *j, struct vr_disk_made *d,
                                struct vr_error *err)
{
    static const char *const keys[] = {"path", "format", "size_mib", NULL};

    memset(d, 0, sizeof(*d));
    if (need_object(j, "a disk", keys, err) < 0)
        return -1;
    GET_STR(j, "path", d->path, err);
    GET_STR(j, "format", d->format, err);
    GET_INT(j, "size_mib", 0, INT64_MAX, d->size_mib, err);
    return 0;
}

/* ---- domains found */

json_t *vr_wire_dom_info_to_json(const struct vr_dom_info *d)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:s, s:b}", "uuid", d->uuid,
                     "vm_id", (json_int_t)d->vm_id, "instance", d->instance,
                     "state", vr_dom_state_name(d->state), "vnc_socket",
                     d->vnc_socket, "foreign", d->foreign);
}

int vr_wire_dom_info_from_json(const json_t *j, struct vr_dom_info *d,
                               struct vr_error *err)
{
    static const char *const keys[] = {"uuid", "vm_id", "instance", "state",
                                       "vnc_socket", "foreign", NULL};
    char state[16];

    memset(d, 0, sizeof(*d));
    if (need_object(j, "a domain", keys, err) < 0)
        return -1;
    GET_STR(j, "uuid", d->uuid, err);
    GET_INT(j, "vm_id", 0, INT64_MAX, d->vm_id, err);
    GET_STR(j, "instance", d->instance, err);
    GET_STR(j, "state", state, err);
    if (vr_dom_state_parse(state, &d->state) < 0)
        return vr_err(err, VR_E_INVALID, "unknown domain state '%s'", state);
    GET_STR(j, "vnc_socket", d->vnc_socket, err);
    return get_bool(j, "foreign", &d->foreign, err);
}

/* ---- messages */

json_t *vr_wire_message(const char *op, json_t *body)
{
    return json_pack("{s:i, s:s, s:o}", "protocol", VR_NODE_PROTOCOL, "op",
                     op, "body", body ? body : json_null());
}

int vr_wire_message_open(const json_t *msg, const char **op,
                         const json_t **body, struct vr_error *err)
{
    static const char *const keys[] = {"protocol", "op", "body", NULL};
    int64_t version = 0;

    if (need_object(msg, "a node message", keys, err) < 0 ||
        vr_json_int(msg, "protocol", true, 0, INT32_MAX, &version, err) < 0)
        return -1;
    if (version != VR_NODE_PROTOCOL)
        return vr_err(err, VR_E_UNSUPPORTED, "node protocol %lld is not "
                      "this one's (%d)", (long long)version,
                      VR_NODE_PROTOCOL);
    if (vr_json_str(msg, "op", true, op, err) < 0)
        return -1;
    *body = json_object_get(msg, "body");
    return 0;
}
