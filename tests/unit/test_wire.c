/* The node protocol (src/node/vr_wire.h): every field of every message
 * survives its codec, the decoders refuse what does not fit, and a
 * message of another protocol version is refused as such. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vr_json.h"
#include "vr_node.h"
#include "vr_wire.h"

/* A spec with every field set (and counts at their largest where it
 * matters). */
static struct vr_dom_spec *full_spec(void)
{
    struct vr_dom_spec *s = vr_calloc(1, sizeof(*s));

    vr_strlcpy(s->uuid, "0b3f2a4e-1111-4222-8333-944455556666",
               sizeof(s->uuid));
    vr_strlcpy(s->vm_name, "web-1", sizeof(s->vm_name));
    s->vm_id = 42;
    vr_strlcpy(s->instance, "5948df19-f3b3-4de2-a50a-2a23f4502fa0",
               sizeof(s->instance));
    vr_strlcpy(s->hypervisor, "kvm", sizeof(s->hypervisor));
    s->vcpus = 4;
    s->memory_mib = 8192;
    s->ndisks = VR_WIRE_MAX_DISKS;
    for (int i = 0; i < s->ndisks; i++) {
        snprintf(s->disks[i].target, sizeof(s->disks[i].target), "vd%c",
                 'a' + i);
        snprintf(s->disks[i].path, sizeof(s->disks[i].path),
                 "/var/lib/vireo/x/disk-%d.qcow2", i);
        vr_strlcpy(s->disks[i].format, i ? "raw" : "qcow2",
                   sizeof(s->disks[i].format));
        s->disks[i].boot = i == 0;
    }
    s->nnics = 2;
    for (int i = 0; i < s->nnics; i++) {
        vr_strlcpy(s->nics[i].model, "virtio", sizeof(s->nics[i].model));
        vr_strlcpy(s->nics[i].mode, "user", sizeof(s->nics[i].mode));
        snprintf(s->nics[i].mac, sizeof(s->nics[i].mac),
                 "52:54:00:00:00:%02x", (unsigned)i & 0xff);
    }
    vr_strlcpy(s->console_log, "/var/lib/vireo/x/console.log",
               sizeof(s->console_log));
    s->sockets = 1;
    s->cores = 2;
    s->threads = 2;
    vr_strlcpy(s->cpuset, "0-3,8", sizeof(s->cpuset));
    for (int i = 0; i < VR_WIRE_MAX_VCPUS; i++)
        s->vcpupin[i] = -1;
    s->pinned = true;
    for (int i = 0; i < s->vcpus; i++)
        s->vcpupin[i] = (int16_t)(8 + i);
    vr_strlcpy(s->emulatorpin, "0-1", sizeof(s->emulatorpin));
    vr_strlcpy(s->nodeset, "0-1", sizeof(s->nodeset));
    s->ncells = 2;
    for (int i = 0; i < 2; i++) {
        snprintf(s->cells[i].vcpus, sizeof(s->cells[i].vcpus), "%d-%d",
                 2 * i, 2 * i + 1);
        s->cells[i].memory_mib = 4096;
        s->cells[i].host_cell = i;
    }
    s->hugepage_kib = 1048576;
    s->nhostdevs = 2;
    vr_strlcpy(s->hostdevs[0], "0000:3b:00.1", sizeof(s->hostdevs[0]));
    vr_strlcpy(s->hostdevs[1], "0000:af:10.2", sizeof(s->hostdevs[1]));
    return s;
}

/* Through a message's text and back, as the remote transport will. */
static json_t *over_the_wire(const char *op, json_t *body)
{
    json_t *msg = vr_wire_message(op, body), *back;
    char *text = vr_json_dump(msg);
    const json_t *got;
    const char *got_op;
    struct vr_error err = VR_ERROR_INIT;

    json_decref(msg);
    back = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(back);
    assert_int_equal(vr_wire_message_open(back, &got_op, &got, &err), 0);
    assert_string_equal(got_op, op);
    json_incref((json_t *)got);
    json_decref(back);
    return (json_t *)got;
}

static void test_spec_round_trip(void **state)
{
    struct vr_dom_spec *s = full_spec(), *back = vr_malloc(sizeof(*back));
    struct vr_error err = VR_ERROR_INIT;
    json_t *j;

    (void)state;
    j = over_the_wire("dom_define", vr_wire_spec_to_json(s));
    assert_int_equal(vr_wire_spec_from_json(j, back, &err), 0);
    json_decref(j);
    assert_memory_equal(s, back, sizeof(*s));
    /* unpinned: no vcpupin on the wire, all -1 on arrival */
    s->pinned = false;
    for (int i = 0; i < s->vcpus; i++)
        s->vcpupin[i] = -1;
    j = vr_wire_spec_to_json(s);
    assert_null(json_object_get(j, "vcpupin"));
    assert_int_equal(vr_wire_spec_from_json(j, back, &err), 0);
    json_decref(j);
    assert_memory_equal(s, back, sizeof(*s));
    free(s);
    free(back);
}

static void test_other_messages_round_trip(void **state)
{
    struct vr_disk_req r = {.index = 3, .kind = VR_DISK_COPY,
                            .size_mib = 2048}, r2;
    struct vr_disk_made d = {.size_mib = 10240}, d2;
    struct vr_dom_info i = {.vm_id = 9, .state = VR_DOM_PAUSED,
                            .foreign = true}, i2;
    struct vr_error err = VR_ERROR_INIT;
    json_t *j;

    (void)state;
    vr_strlcpy(r.vm_uuid, "0b3f2a4e-1111-4222-8333-944455556666",
               sizeof(r.vm_uuid));
    vr_strlcpy(r.base_path, "/var/lib/vireo/images/u.qcow2",
               sizeof(r.base_path));
    vr_strlcpy(r.base_format, "qcow2", sizeof(r.base_format));
    j = over_the_wire("disk_prepare", vr_wire_disk_req_to_json(&r));
    assert_int_equal(vr_wire_disk_req_from_json(j, &r2, &err), 0);
    json_decref(j);
    assert_memory_equal(&r, &r2, sizeof(r));

    memset(&d, 0, sizeof(d));
    d.size_mib = 10240;
    vr_strlcpy(d.path, "/a/disk-1.qcow2", sizeof(d.path));
    vr_strlcpy(d.format, "qcow2", sizeof(d.format));
    j = over_the_wire("disk_made", vr_wire_disk_made_to_json(&d));
    assert_int_equal(vr_wire_disk_made_from_json(j, &d2, &err), 0);
    json_decref(j);
    assert_memory_equal(&d, &d2, sizeof(d));

    memset(&i, 0, sizeof(i));
    i.vm_id = 9;
    i.state = VR_DOM_PAUSED;
    i.foreign = true;
    vr_strlcpy(i.uuid, r.vm_uuid, sizeof(i.uuid));
    vr_strlcpy(i.instance, "other", sizeof(i.instance));
    vr_strlcpy(i.vnc_socket, "/run/libvirt/qemu/x.vnc", sizeof(i.vnc_socket));
    j = over_the_wire("dom_info", vr_wire_dom_info_to_json(&i));
    assert_int_equal(vr_wire_dom_info_from_json(j, &i2, &err), 0);
    json_decref(j);
    assert_memory_equal(&i, &i2, sizeof(i));
}

/* What a decoder must refuse, each with VR_E_INVALID and a message. */
static void refused(const char *text, const char *says)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_dom_spec *s = vr_malloc(sizeof(*s));
    json_t *j = json_loads(text, 0, NULL);

    assert_non_null(j);
    assert_int_equal(vr_wire_spec_from_json(j, s, &err), -1);
    assert_int_equal(err.code, VR_E_INVALID);
    if (!strstr(err.msg, says))
        fail_msg("'%s': '%s' does not say '%s'", text, err.msg, says);
    json_decref(j);
    free(s);
}

static void test_decoders_are_strict(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_dom_info info;
    struct vr_disk_req req;
    json_t *j;

    (void)state;
    refused("[]", "must be a JSON object");
    refused("{\"color\":\"red\"}", "unknown field 'color'");
    refused("{\"uuid\":\"0123456789012345678901234567890123456789\"}",
            "field 'uuid' is longer than 36 bytes");
    refused("{\"vcpus\":257}", "field 'vcpus' is 257");
    refused("{\"vcpus\":\"2\"}", "field 'vcpus' must be an integer");
    refused("{\"disks\":[{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},"
            "{}]}", "field 'disks' has more than 16 elements");
    refused("{\"disks\":[{\"size\":1}]}", "a disk: unknown field 'size'");
    refused("{\"vcpus\":2,\"pinned\":true,\"vcpupin\":[1]}",
            "one 'vcpupin' per vCPU");
    refused("{\"vcpus\":2,\"vcpupin\":[1,2]}", "only a pinned one");
    refused("{\"vcpus\":1,\"pinned\":true,\"vcpupin\":[40000]}",
            "host CPU numbers");
    refused("{\"hostdevs\":[\"0000:3b:00.1-and-more\"]}", "PCI addresses");

    j = json_pack("{s:s}", "state", "dancing");
    assert_int_equal(vr_wire_dom_info_from_json(j, &info, &err), -1);
    assert_non_null(strstr(err.msg, "unknown domain state 'dancing'"));
    json_decref(j);
    j = json_pack("{s:s}", "kind", "thick");
    assert_int_equal(vr_wire_disk_req_from_json(j, &req, &err), -1);
    assert_non_null(strstr(err.msg, "unknown disk kind 'thick'"));
    json_decref(j);
}

static void test_protocol_version(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    const json_t *body;
    const char *op;
    json_t *m;

    (void)state;
    m = json_pack("{s:i, s:s, s:{}}", "protocol", VR_NODE_PROTOCOL + 1, "op",
                  "dom_info", "body");
    assert_int_equal(vr_wire_message_open(m, &op, &body, &err), -1);
    assert_int_equal(err.code, VR_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "node protocol 2 is not this one's (1)"));
    json_decref(m);
    m = json_pack("{s:s, s:{}}", "op", "dom_info", "body");
    assert_int_equal(vr_wire_message_open(m, &op, &body, &err), -1);
    assert_int_equal(err.code, VR_E_INVALID);
    json_decref(m);
    m = json_pack("{s:i, s:s, s:{}, s:i}", "protocol", VR_NODE_PROTOCOL, "op",
                  "dom_info", "body", "extra", 1);
    assert_int_equal(vr_wire_message_open(m, &op, &body, &err), -1);
    json_decref(m);
}

static void noop_close(struct vr_node *n)
{
    (void)n;
}

/* The request ids of non-idempotent calls (vr_node_request_begin/end),
 * as every transport keeps them. */
static void test_request_ids(void **state)
{
    static const struct vr_node_ops ops = {.name = "test",
                                           .close = noop_close};
    struct vr_node *n = vr_node_new(&ops, NULL, NULL, NULL);
    struct vr_error err = VR_ERROR_INIT;
    char id[16];
    int rc = 7;

    (void)state;
    /* done: a repeat succeeds without acting */
    assert_int_equal(vr_node_request_begin(n, "a", &rc, &err), 0);
    /* in progress: a repeat is refused */
    assert_int_equal(vr_node_request_begin(n, "a", &rc, &err), 1);
    assert_int_equal(rc, -1);
    assert_int_equal(err.code, VR_E_CONFLICT);
    vr_node_request_end(n, "a", 0, false);
    assert_int_equal(vr_node_request_begin(n, "a", &rc, &err), 1);
    assert_int_equal(rc, 0);
    /* failed: forgotten, may be done again */
    assert_int_equal(vr_node_request_begin(n, "b", &rc, &err), 0);
    vr_node_request_end(n, "b", -1, false);
    assert_int_equal(vr_node_request_begin(n, "b", &rc, &err), 0);
    vr_node_request_end(n, "b", 0, false);
    /* may have happened: never again under that id */
    assert_int_equal(vr_node_request_begin(n, "c", &rc, &err), 0);
    vr_node_request_end(n, "c", -1, true);
    vr_err_clear(&err);
    assert_int_equal(vr_node_request_begin(n, "c", &rc, &err), 1);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.msg, "may have been done"));
    /* the ring keeps the last VR_NODE_REQIDS: "a" is forgotten after as
     * many newer ones */
    for (int i = 0; i < VR_NODE_REQIDS; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        assert_int_equal(vr_node_request_begin(n, id, &rc, &err), 0);
        vr_node_request_end(n, id, 0, false);
    }
    assert_int_equal(vr_node_request_begin(n, "a", &rc, &err), 0);
    /* no id, or a too long one */
    assert_int_equal(vr_node_request_begin(n, "", &rc, &err), 1);
    assert_int_equal(err.code, VR_E_INVALID);
    vr_node_close(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_round_trip),
        cmocka_unit_test(test_other_messages_round_trip),
        cmocka_unit_test(test_decoders_are_strict),
        cmocka_unit_test(test_protocol_version),
        cmocka_unit_test(test_request_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
