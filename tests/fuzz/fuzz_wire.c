/*
 * fuzz_wire.c - a message of the node protocol (src/node/vr_wire.h) as a
 * node or a controller receives it from the network: JSON, its envelope
 * (protocol version, op), then the body's strict decoder for the op
 * (dom_define: a domain spec; disk_prepare: a disk request; disk_made;
 * dom_info).
 *
 * Checked: a refusal has a message; what a decoder accepts is within the
 * protocol's bounds, and encodes to JSON that decodes to the same struct
 * (what crosses the wire twice is what crossed it once).
 */
#include <jansson.h>

#include "fuzz.h"
#include "vr_json.h"
#include "vr_wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

#define ROUND_TRIP(type, to_json, from_json, check)                        \
    do {                                                                   \
        type *a = vr_calloc(1, sizeof(type)), *b = vr_calloc(1, sizeof(type)); \
        if (from_json(body, a, &err) < 0) {                                \
            FUZZ_CHECK(fuzz_err_ok(&err));                                 \
        } else {                                                           \
            json_t *j = to_json(a);                                        \
            check;                                                         \
            FUZZ_CHECK(j != NULL);                                         \
            FUZZ_CHECK(from_json(j, b, &err) == 0);                        \
            FUZZ_CHECK(memcmp(a, b, sizeof(type)) == 0);                   \
            json_decref(j);                                                \
        }                                                                  \
        free(a);                                                           \
        free(b);                                                           \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vr_error err = VR_ERROR_INIT;
    json_t *msg = vr_json_parse_body((const char *)data, size, &err);
    const json_t *body = NULL;
    const char *op = NULL;

    if (!msg) {
        FUZZ_CHECK(fuzz_err_ok(&err));
        return 0;
    }
    if (vr_wire_message_open(msg, &op, &body, &err) < 0) {
        FUZZ_CHECK(fuzz_err_ok(&err));
        json_decref(msg);
        return 0;
    }
    FUZZ_CHECK(op != NULL);
    if (strcmp(op, "dom_define") == 0)
        ROUND_TRIP(struct vr_dom_spec, vr_wire_spec_to_json,
                   vr_wire_spec_from_json,
                   FUZZ_CHECK(a->ndisks <= VR_WIRE_MAX_DISKS &&
                              a->nnics <= VR_WIRE_MAX_NICS &&
                              a->ncells <= VR_WIRE_MAX_CELLS &&
                              a->nhostdevs <= VR_WIRE_MAX_HOSTDEVS &&
                              a->vcpus <= VR_WIRE_MAX_VCPUS));
    else if (strcmp(op, "disk_prepare") == 0)
        ROUND_TRIP(struct vr_disk_req, vr_wire_disk_req_to_json,
                   vr_wire_disk_req_from_json,
                   FUZZ_CHECK(a->kind < VR_DISK__LAST &&
                              a->index < VR_WIRE_MAX_DISKS));
    else if (strcmp(op, "disk_made") == 0)
        ROUND_TRIP(struct vr_disk_made, vr_wire_disk_made_to_json,
                   vr_wire_disk_made_from_json, (void)0);
    else if (strcmp(op, "dom_info") == 0)
        ROUND_TRIP(struct vr_dom_info, vr_wire_dom_info_to_json,
                   vr_wire_dom_info_from_json,
                   FUZZ_CHECK(a->state < VR_DOM__LAST));
    json_decref(msg);
    return 0;
}
