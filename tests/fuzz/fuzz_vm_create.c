/*
 * fuzz_vm_create.c - the body of POST /api/v1/vms, as h_vm_create reads
 * it: vr_json_parse_body, then vr_api_parse_vm_create (field types, sizes
 * as "512M" or MiB, extra disks, then the stateless checks of
 * vr_orch_vm_create_check).
 *
 * Checked: a refusal is a 400 with a message; an accepted request is one
 * vr_orch_vm_create may act on: a valid name, vcpus, memory and disk sizes
 * within the documented limits, a UUID or none, an image reference, and
 * its strings point into the body (or the id buffer).
 */
#include <jansson.h>

#include "fuzz.h"
#include "vr_api_priv.h"
#include "vr_json.h"
#include "vr_vm.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1);
    return 0;
}

static bool points_into(const json_t *body, const char *key, const char *s)
{
    const json_t *v = json_object_get(body, key);
    return json_is_string(v) && json_string_value(v) == s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_vm_create_req req;
    char idbuf[24];
    json_t *body;

    body = vr_json_parse_body((const char *)data, size, &err);
    if (!body)
        return 0;
    if (vr_api_parse_vm_create(body, &req, idbuf, &err) < 0) {
        FUZZ_CHECK(fuzz_err_ok(&err) && err.code == VR_E_INVALID);
        json_decref(body);
        return 0;
    }
    FUZZ_CHECK(err.code == VR_E_NONE);
    FUZZ_CHECK(vr_name_check(req.name, "vm name", NULL) == 0);
    FUZZ_CHECK(points_into(body, "name", req.name));
    FUZZ_CHECK(req.vcpus >= 1 && req.vcpus <= VR_VM_MAX_VCPUS);
    FUZZ_CHECK(req.memory_mib >= VR_VM_MIN_MEMORY_MIB &&
               req.memory_mib <= VR_VM_MAX_MEMORY_MIB);
    FUZZ_CHECK(req.nextra >= 0 && req.nextra <= VR_VM_MAX_DISKS - 1);
    FUZZ_CHECK((size_t)req.nextra ==
               json_array_size(json_object_get(body, "disks")));
    for (int i = 0; i < req.nextra; i++)
        FUZZ_CHECK(req.extra_mib[i] >= 1 &&
                   req.extra_mib[i] <= VR_VM_MAX_DISK_MIB);
    FUZZ_CHECK(!req.uuid || !*req.uuid || vr_uuid_valid(req.uuid));
    FUZZ_CHECK(!req.uuid || points_into(body, "uuid", req.uuid));
    FUZZ_CHECK(req.image && *req.image);
    FUZZ_CHECK(points_into(body, "image", req.image) ||
               (req.image == idbuf &&
                json_is_integer(json_object_get(body, "image")) &&
                strtoll(idbuf, NULL, 10) ==
                    json_integer_value(json_object_get(body, "image"))));
    if (req.uuid && *req.uuid) {
        char uuid[VR_UUID_LEN];
        FUZZ_CHECK(vr_uuid_normalize(req.uuid, uuid) == 0);
    }
    /* placement: what was accepted adds up */
    {
        const struct vr_vm_want *w = &req.want;
        int vcpus = 0;
        uint64_t mib = 0;
        FUZZ_CHECK((unsigned)w->cpu_policy < VR_CPU__LAST);
        FUZZ_CHECK(w->nvnodes >= 0 && w->nvnodes <= VR_SCHED_MAX_VNODES);
        for (int i = 0; i < w->nvnodes; i++) {
            vcpus += w->vnodes[i].vcpus;
            mib += w->vnodes[i].memory_mib;
        }
        FUZZ_CHECK(!w->nvnodes ||
                   (vcpus == req.vcpus && mib == req.memory_mib));
        FUZZ_CHECK(!w->sockets ||
                   w->sockets * w->cores * w->threads == req.vcpus);
        FUZZ_CHECK(!w->hugepage_kib || w->hugepage_kib == 2048 ||
                   w->hugepage_kib == 1048576);
        FUZZ_CHECK(!w->hugepage_kib ||
                   (req.memory_mib * 1024) % w->hugepage_kib == 0);
        FUZZ_CHECK(w->npci + w->nsriov <= VR_SCHED_MAX_DEVS);
        FUZZ_CHECK(w->nhosts >= 0 && w->nhosts <= VR_SCHED_MAX_HOSTS_LIST);
        FUZZ_CHECK(!w->force || w->nhosts == 1);
        for (int i = 0; i < w->nhosts; i++)
            FUZZ_CHECK(w->hosts[i] > 0 || req.host_refs[i]);
    }
    json_decref(body);
    return 0;
}
