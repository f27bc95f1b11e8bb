/*
 * bench-sched: placement decisions per second at scale.
 *
 * Synthetic hosts, each a 2-socket server with 2 x 24 cores and SMT (96
 * threads), 512 GiB in two NUMA cells with 64 GiB of 2 MiB huge pages per
 * cell, and an SR-IOV NIC per socket lending 16 VFs to the pool "data".
 * Per host: CPU 0 and its sibling reserved for the host, cores 12-23 of
 * each socket (with their siblings) dedicated to pinned VMs, the rest
 * shared with a CPU ratio of 4; half the hosts carry the label "ssd".
 *
 * VMs, mixed as a cloud with some telco tenants: 70% shared (1-4 vCPUs,
 * 1-8 GiB), 20% pinned `core` (2 or 4 vCPUs, 4 or 8 GiB), 10% 2 MiB huge
 * pages (4 GiB) with one VF.  Each decision is the whole of
 * vr_sched_place: every filter on every host, ranking, the exact fit and
 * the reservation.
 *
 * Usage: bench-sched [--hosts N] [--vms N] [--seed S] [--requirements E]
 *                    [--policy packing|striping|load]
 * Prints one JSON object on its last line.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "vr_host.h"
#include "vr_sched.h"
#include "vr_util.h"
#include "vr_vm.h"



/* Resident set size in MiB, from /proc/self/status. */

static unsigned next(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

static void add_dev(struct vr_host_caps *c, const char *addr, const char *pf,
                    int cell, int max_vfs)
{
    struct vr_host_dev *d = &c->devs[c->ndevs++];
    vr_strlcpy(d->addr, addr, sizeof(d->addr));
    d->vendor = 0x8086;
    d->product = pf[0] ? 0x154c : 0x1572;
    d->pci_class = 0x020000;
    d->cell = (int16_t)cell;
    vr_strlcpy(d->pf, pf, sizeof(d->pf));
    d->max_vfs = (int16_t)max_vfs;
    snprintf(d->name, sizeof(d->name), "pci_%s", addr);
}

/* Host `i`: see the top of this file.  Linux numbers a 2-socket SMT box
 * as socket 0 cores, socket 1 cores, then their siblings. */
static void make_host(struct vr_host *h, int i)
{
    struct vr_host_caps *c = &h->caps;
    static const char *const pfs[2] = {"0000:3b:00.0", "0000:af:00.0"};

    memset(h, 0, sizeof(*h));
    h->hdr.id = i + 1;
    snprintf(h->hdr.name, sizeof(h->hdr.name), "node%05d", i + 1);
    h->state = VR_HOST_MONITORED;
    h->enabled = true;
    vr_strlcpy(h->hypervisor, "kvm", sizeof(h->hypervisor));
    vr_strlcpy(c->cpu_model, "Cascadelake-Server", sizeof(c->cpu_model));
    c->cpus = 96;
    c->sockets = 1;
    c->cores = 24;
    c->threads = 2;
    c->memory_kib = 512ULL << 20;
    c->ncells = 2;
    for (int s = 0; s < 2; s++) {
        struct vr_host_cell *cell = &c->cells[s];
        cell->id = s;
        cell->memory_kib = 256ULL << 20;
        cell->ncpus = 48;
        snprintf(cell->cpus, sizeof(cell->cpus), "%d-%d,%d-%d", s * 24,
                 s * 24 + 23, 48 + s * 24, 48 + s * 24 + 23);
        cell->npages = 2;
        cell->pages[0].size_kib = 2048;
        cell->pages[0].total = cell->pages[0].free = 32768;
        cell->pages[1].size_kib = 1048576;
    }
    c->ncpu_topo = 96;
    for (int t = 0; t < 96; t++) {
        int socket = (t % 48) / 24;
        c->cpu_topo[t].id = (int16_t)t;
        c->cpu_topo[t].cell = (int16_t)socket;
        c->cpu_topo[t].socket = (int16_t)socket;
        c->cpu_topo[t].core = (int16_t)(t % 24);
    }
    for (int s = 0; s < 2; s++) {
        add_dev(c, pfs[s], "", s, 16);
        for (int v = 0; v < 16; v++) {
            char addr[16];
            snprintf(addr, sizeof(addr), "%.7s%02x.%d", pfs[s], 2 + v / 8,
                     v % 8);
            add_dev(c, addr, pfs[s], s, 0);
        }
    }
    c->disk_free_mib = 10ULL << 20;
    vr_host_conf_defaults(&h->conf);
    vr_strlcpy(h->conf.dedicated_cpus, "12-23,36-47,60-71,84-95",
               sizeof(h->conf.dedicated_cpus));
    vr_strlcpy(h->conf.reserved_cpus, "0,48", sizeof(h->conf.reserved_cpus));
    if (i % 2 == 0)
        vr_strlcpy(h->conf.labels[h->conf.nlabels++], "ssd",
                   sizeof(h->conf.labels[0]));
    for (int s = 0; s < 2; s++) {
        vr_strlcpy(h->conf.pools[s].name, "data",
                   sizeof(h->conf.pools[0].name));
        vr_strlcpy(h->conf.pools[s].pf, pfs[s], sizeof(h->conf.pools[0].pf));
    }
    h->conf.npools = 2;
}

static void make_vm(struct vr_sched_req *r, int64_t id, unsigned *seed,
                    const struct vr_expr *reqs)
{
    unsigned k = next(seed) % 100;

    memset(r, 0, sizeof(*r));
    r->vm_id = id;
    r->disk_mib = 10240;
    r->requirements = reqs;
    if (k < 70) {
        r->policy = VR_CPU_SHARED;
        r->vcpus = 1 + (int)(next(seed) % 4);
        r->memory_mib = 1024ULL << (next(seed) % 4);
    } else if (k < 90) {
        r->policy = VR_CPU_CORE;
        r->vcpus = next(seed) % 2 ? 4 : 2;
        r->memory_mib = next(seed) % 2 ? 8192 : 4096;
    } else {
        r->policy = VR_CPU_SHARED;
        r->vcpus = 2;
        r->memory_mib = 4096;
        r->page_kib = 2048;
        r->nsriov = 1;
        vr_strlcpy(r->sriov[0], "data", sizeof(r->sriov[0]));
    }
}

int main(int argc, char **argv)
{
    int nhosts = 1250, nvms = 20000;
    unsigned seed = 42, seed0;
    const char *reqsrc = NULL, *policy = "packing";
    struct vr_error err = VR_ERROR_INIT;
    struct vr_expr *reqs = NULL;
    struct vr_sched s;
    enum vr_sched_rank rank;
    struct vr_host *h = vr_malloc(sizeof(*h));
    double *lat, t0, total = 0, rss0, rss1, rss2;
    int placed = 0, refused = 0;
    char why[512] = "";

    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--hosts") == 0 && v)
            nhosts = atoi(v), i++;
        else if (strcmp(argv[i], "--vms") == 0 && v)
            nvms = atoi(v), i++;
        else if (strcmp(argv[i], "--seed") == 0 && v)
            seed = (unsigned)strtoul(v, NULL, 10), i++;
        else if (strcmp(argv[i], "--requirements") == 0 && v)
            reqsrc = v, i++;
        else if (strcmp(argv[i], "--policy") == 0 && v)
            policy = v, i++;
        else {
            fprintf(stderr, "usage: bench-sched [--hosts N] [--vms N] "
                    "[--seed S] [--requirements EXPR] [--policy P]\n");
            return 2;
        }
    }
    if (nhosts < 1 || nvms < 1 || vr_sched_rank_parse(policy, &rank) < 0) {
        fprintf(stderr, "bench-sched: bad --hosts, --vms or --policy\n");
        return 2;
    }
    if (reqsrc && !(reqs = vr_expr_compile(reqsrc, vr_sched_schema(), true,
                                           &err))) {
        fprintf(stderr, "bench-sched: --requirements: %s\n", err.msg);
        return 2;
    }

    seed0 = seed;
    rss0 = rss_mb();
    vr_sched_init(&s, rank);
    t0 = now_ns();
    for (int i = 0; i < nhosts; i++) {
        make_host(h, i);
        if (vr_sched_host_set(&s, h, &err) < 0) {
            fprintf(stderr, "bench-sched: %s\n", err.msg);
            return 1;
        }
    }
    fprintf(stderr, "%d hosts loaded in %.0f ms\n", nhosts,
            (now_ns() - t0) / 1e6);
    rss1 = rss_mb();

    lat = vr_malloc((size_t)nvms * sizeof(*lat));
    for (int i = 0; i < nvms; i++) {
        struct vr_sched_req r;
        struct vr_sched_plan plan;
        struct vr_sched_why w;
        double a;

        make_vm(&r, i + 1, &seed, reqs);
        a = now_ns();
        if (vr_sched_place(&s, &r, &plan, &w, &err) == 0) {
            placed++;
        } else {
            if (!refused)
                vr_strlcpy(why, err.msg, sizeof(why));
            refused++;
        }
        lat[i] = now_ns() - a;
        total += lat[i];
    }
    rss2 = rss_mb();
    qsort(lat, (size_t)nvms, sizeof(*lat), cmp_double);
    if (refused)
        fprintf(stderr, "%d refused; the first: %s\n", refused, why);
    {
        json_t *rq = reqsrc ? json_string(reqsrc) : json_null();
        char *rqs = json_dumps(rq, JSON_ENCODE_ANY);
        printf("{\"hosts\": %d, \"vms\": %d, \"placed\": %d, "
               "\"refused\": %d, \"policy\": \"%s\", \"requirements\": %s, "
               "\"total_s\": %.3f, \"decisions_per_s\": %.0f, "
               "\"mean_ms\": %.4f, \"p50_ms\": %.4f, \"p99_ms\": %.4f, "
               "\"max_ms\": %.4f, \"rss_mb\": %.1f, "
               "\"sched_kib_per_host\": %.1f, \"sched_bytes_per_vm\": %.0f, "
               "\"plan_bytes\": %zu, \"vm_record_bytes\": %zu, "
               "\"host_record_bytes\": %zu, \"seed\": %u}\n",
               nhosts, nvms, placed, refused, policy, rqs, total / 1e9,
               nvms / (total / 1e9), total / nvms / 1e6, lat[nvms / 2] / 1e6,
               lat[(size_t)((double)nvms * 0.99)] / 1e6, lat[nvms - 1] / 1e6,
               rss2, (rss1 - rss0) * 1024.0 / nhosts,
               (rss2 - rss1) * 1048576.0 / nvms,
               sizeof(struct vr_sched_plan), sizeof(struct vr_vm),
               sizeof(struct vr_host), seed0);
        free(rqs);
        json_decref(rq);
    }
    free(lat);
    free(h);
    vr_expr_free(reqs);
    vr_sched_release(&s);
    return 0;
}
