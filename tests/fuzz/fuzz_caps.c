/*
 * fuzz_caps.c - the capabilities document a superuser gives a simulated
 * host (POST /api/v1/hosts, field `capabilities`): libvirt capabilities
 * XML read by vr_node_sim_caps_from_xml (libxml2 underneath, no network, no
 * entities).
 *
 * Checked: a refusal has a message; an accepted document gives CPUs and
 * memory (the sums of its cells), counts within the record's bounds, and
 * capabilities that survive the host record's JSON unchanged (what the
 * store keeps is what was read).
 */
#include <jansson.h>

#include "fuzz.h"
#include "vr_host.h"
#include "vr_node_sim.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *xml = fuzz_str(data, size);
    struct vr_host_caps *caps = vr_malloc(sizeof(*caps));
    struct vr_host_caps *back = vr_malloc(sizeof(*back));
    struct vr_error err = VR_ERROR_INIT;
    uint64_t mem = 0;

    if (vr_node_sim_caps_from_xml(xml, caps, &err) < 0) {
        FUZZ_CHECK(fuzz_err_ok(&err));
    } else {
        json_t *j, *k;
        char *a, *b;

        FUZZ_CHECK(caps->cpus >= 1 && caps->cpus <= VR_HOST_MAX_CPUS);
        FUZZ_CHECK(caps->ncpu_topo == caps->cpus);
        FUZZ_CHECK(caps->ncells >= 0 && caps->ncells <= VR_HOST_MAX_CELLS);
        FUZZ_CHECK(caps->ndevs >= 0 && caps->ndevs <= VR_HOST_MAX_DEVS);
        for (int i = 0; i < caps->ncells; i++) {
            FUZZ_CHECK(caps->cells[i].npages >= 0 &&
                       caps->cells[i].npages <= VR_HOST_MAX_PAGESIZES);
            mem += caps->cells[i].memory_kib;
        }
        FUZZ_CHECK(caps->memory_kib == mem && mem > 0);
        FUZZ_CHECK(caps->sockets >= 1 && caps->threads >= 1);
        /* the record's JSON keeps them as read */
        j = vr_host_caps_to_json(caps);
        memset(back, 0, sizeof(*back));
        vr_host_caps_from_json(back, j);
        k = vr_host_caps_to_json(back);
        a = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
        b = json_dumps(k, JSON_SORT_KEYS | JSON_COMPACT);
        FUZZ_CHECK(a && b && strcmp(a, b) == 0);
        free(a);
        free(b);
        json_decref(j);
        json_decref(k);
    }
    free(back);
    free(caps);
    free(xml);
    return 0;
}
