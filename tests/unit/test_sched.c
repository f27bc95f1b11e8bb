/* The placement engine (src/sched/vr_sched.c): fitting on the real
 * topologies of tests/data/caps (shared, thread, core and isolate CPUs,
 * virtual NUMA, huge pages, PCI and SR-IOV devices), filters, rank and
 * VM-group roles, the explanation of a refusal, holding and releasing
 * plans, host refreshes, plans as JSON, a randomized property test whose
 * invariants are computed from the plans independently of the scheduler
 * (seed printed; VIREO_SCHED_SEED=N replays one), and many threads placing
 * at once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "test_data.h"

#include "vr_json.h"
#include "node_priv.h"
#include "vr_sched.h"

/* ---- test data */

enum { DESKTOP, SERVER, QUAD, ASYM, NTOPO };

static const char *const topo_files[NTOPO] = {
    "caps/desktop-1s.xml",
    "caps/server-2s-smt.xml",
    "caps/quad-cell.xml",
    "caps/asymmetric.xml",
};

static const char *const dev_files[] = {
    "nodedev/sata-no-numa.xml", /* 0000:00:17.0 8086:a182 class 010601 */
    "nodedev/nvidia-t4.xml",    /* 0000:3b:00.0 10de:1eb8 030200 cell 0 */
    "nodedev/x710-pf.xml",      /* 0000:af:00.0 8086:1572 020000 cell 1 */
    "nodedev/x710-vf0.xml",     /* 0000:af:02.0 8086:154c, PF af:00.0 */
    "nodedev/x710-vf1.xml",     /* 0000:af:02.1 8086:154c, PF af:00.0 */
};

#define T4 "0000:3b:00.0"
#define SATA "0000:00:17.0"
#define X710_PF "0000:af:00.0"
#define X710_VF0 "0000:af:02.0"
#define X710_VF1 "0000:af:02.1"

static struct vr_host_caps *caps_cache[NTOPO];
static struct vr_host_dev devs_cache[VR_ARRAY_SIZE(dev_files)];

static const struct vr_host_caps *topo(int t)
{
    if (!caps_cache[t]) {
        struct vr_host_caps *c = vr_calloc(1, sizeof(*c));
        struct vr_error err = VR_ERROR_INIT;
        char *xml = load(topo_files[t]);
        if (vr_caps_parse(xml, c, &err) < 0)
            fail_msg("%s: %s", topo_files[t], err.msg);
        free(xml);
        /* what the node adds from virNodeGetInfo */
        c->cpus = c->ncpu_topo;
        for (int i = 0; i < c->ncells; i++)
            c->memory_kib += c->cells[i].memory_kib;
        c->disk_free_mib = 1 << 20;
        caps_cache[t] = c;
    }
    return caps_cache[t];
}

static const struct vr_host_dev *dev(int i)
{
    if (!devs_cache[i].addr[0]) {
        struct vr_error err = VR_ERROR_INIT;
        char *xml = load(dev_files[i]);
        if (vr_nodedev_parse(xml, &devs_cache[i], &err) != 1)
            fail_msg("%s: %s", dev_files[i], err.msg);
        free(xml);
    }
    return &devs_cache[i];
}

static int setup(void **state)
{
    (void)state;
    for (int t = 0; t < NTOPO; t++)
        topo(t);
    for (size_t i = 0; i < VR_ARRAY_SIZE(dev_files); i++)
        dev((int)i);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int t = 0; t < NTOPO; t++) {
        free(caps_cache[t]);
        caps_cache[t] = NULL;
    }
    return 0;
}

/* A monitored, enabled KVM host of topology `t` (on the heap: its caps
 * are large). */
static struct vr_host *new_host(int64_t id, const char *name, int t,
                                const char *dedicated, const char *reserved)
{
    struct vr_host *h = vr_calloc(1, sizeof(*h));

    h->hdr.id = id;
    vr_strlcpy(h->hdr.name, name, sizeof(h->hdr.name));
    h->state = VR_HOST_MONITORED;
    h->enabled = true;
    vr_strlcpy(h->transport, "local", sizeof(h->transport));
    vr_strlcpy(h->hypervisor, "kvm", sizeof(h->hypervisor));
    h->caps = *topo(t);
    vr_host_conf_defaults(&h->conf);
    vr_strlcpy(h->conf.dedicated_cpus, dedicated ? dedicated : "",
               sizeof(h->conf.dedicated_cpus));
    vr_strlcpy(h->conf.reserved_cpus, reserved ? reserved : "",
               sizeof(h->conf.reserved_cpus));
    return h;
}

static void add_devs(struct vr_host *h)
{
    for (size_t i = 0; i < VR_ARRAY_SIZE(dev_files); i++)
        h->caps.devs[h->caps.ndevs++] = *dev((int)i);
}

static void allow_pci(struct vr_host *h, const char *spec)
{
    vr_strlcpy(h->conf.pci[h->conf.npci++], spec, sizeof(h->conf.pci[0]));
}

static void add_pool(struct vr_host *h, const char *name, const char *pf)
{
    vr_strlcpy(h->conf.pools[h->conf.npools].name, name,
               sizeof(h->conf.pools[0].name));
    vr_strlcpy(h->conf.pools[h->conf.npools].pf, pf,
               sizeof(h->conf.pools[0].pf));
    h->conf.npools++;
}

static void add_label(struct vr_host *h, const char *l)
{
    vr_strlcpy(h->conf.labels[h->conf.nlabels++], l,
               sizeof(h->conf.labels[0]));
}

static void host_set(struct vr_sched *s, const struct vr_host *h)
{
    struct vr_error err = VR_ERROR_INIT;
    if (vr_sched_host_set(s, h, &err) < 0)
        fail_msg("host_set %s: %s", h->hdr.name, err.msg);
}

/* The four reference hosts, ids 1-4: the desktop, the 2-socket server,
 * the quad-cell server and the asymmetric box, with these dedicated CPU
 * sets and none reserved, set into s. */
static void four_hosts(struct vr_sched *s, struct vr_host *hs[4],
                       const char *desk, const char *server, const char *quad,
                       const char *asym)
{
    hs[0] = new_host(1, "desk", DESKTOP, desk, NULL);
    hs[1] = new_host(2, "server", SERVER, server, NULL);
    hs[2] = new_host(3, "quad", QUAD, quad, NULL);
    hs[3] = new_host(4, "asym", ASYM, asym, NULL);
    for (int i = 0; i < 4; i++)
        host_set(s, hs[i]);
}

static void free_hosts(struct vr_host **hs, int n)
{
    for (int i = 0; i < n; i++)
        free(hs[i]);
}

static struct vr_sched_req req(int64_t vm_id, int vcpus, uint64_t mem,
                               enum vr_cpu_policy policy)
{
    struct vr_sched_req r;
    memset(&r, 0, sizeof(r));
    r.vm_id = vm_id;
    r.vcpus = vcpus;
    r.memory_mib = mem;
    r.policy = policy;
    return r;
}

/* req() limited to the host with id `host`. */
static struct vr_sched_req req_on(int64_t host, int64_t vm_id, int vcpus,
                                  uint64_t mem, enum vr_cpu_policy policy)
{
    struct vr_sched_req r = req(vm_id, vcpus, mem, policy);
    r.nhosts = 1;
    r.hosts[0] = host;
    return r;
}

static void vnode(struct vr_sched_req *r, int vcpus, uint64_t mem)
{
    r->vnodes[r->nvnodes].vcpus = vcpus;
    r->vnodes[r->nvnodes].memory_mib = mem;
    r->nvnodes++;
}

static void want_pci(struct vr_sched_req *r, const char *spec)
{
    struct vr_error err = VR_ERROR_INIT;
    if (vr_pci_spec_parse(spec, &r->pci[r->npci], &err) < 0)
        fail_msg("%s: %s", spec, err.msg);
    r->npci++;
}

static void want_sriov(struct vr_sched_req *r, const char *pool)
{
    vr_strlcpy(r->sriov[r->nsriov++], pool, sizeof(r->sriov[0]));
}

static struct vr_sched_plan place(struct vr_sched *s,
                                  const struct vr_sched_req *r)
{
    struct vr_sched_plan p;
    struct vr_sched_why why;
    struct vr_error err = VR_ERROR_INIT;

    if (vr_sched_place(s, r, &p, &why, &err) < 0)
        fail_msg("vm %lld: %s", (long long)r->vm_id, err.msg);
    return p;
}

/* A refusal with error `code` whose message is exactly `msg` (NULL: not
 * checked). */
static void refuse(struct vr_sched *s, const struct vr_sched_req *r,
                   enum vr_error_code code, const char *msg)
{
    struct vr_sched_plan p;
    struct vr_sched_why why;
    struct vr_error err = VR_ERROR_INIT;

    if (vr_sched_place(s, r, &p, &why, &err) == 0)
        fail_msg("vm %lld placed on host %lld, expected a refusal%s%s",
                 (long long)r->vm_id, (long long)p.host_id,
                 msg ? ": " : "", msg ? msg : "");
    assert_int_equal(err.code, code);
    if (msg && strcmp(err.msg, msg) != 0)
        fail_msg("refusal:\n  got  '%s'\n  want '%s'", err.msg, msg);
}

static const char *filter_texts[] = {
#define VR_X(e, s) [e] = s,
    VR_SCHED_FILTERS(VR_X)
#undef VR_X
};

#define INTS(...) (const int[]){__VA_ARGS__}, \
    (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int))

/* The plan pins vCPU i to want[i]. */
static void assert_pins(const struct vr_sched_plan *p, const int *want, int n)
{
    assert_int_equal(p->nvcpus, n);
    for (int i = 0; i < n; i++)
        if (p->vcpu_cpu[i] != want[i])
            fail_msg("vCPU %d on host CPU %d, want %d", i, p->vcpu_cpu[i],
                     want[i]);
}

static int cmp_i16(const void *a, const void *b)
{
    return *(const int16_t *)a - *(const int16_t *)b;
}

/* The plan holds exactly the threads `want` (any order). */
static void assert_held(const struct vr_sched_plan *p, const int *want, int n)
{
    int16_t got[VR_ARRAY_SIZE(p->held)];
    int w[VR_ARRAY_SIZE(p->held)];

    assert_int_equal(p->nheld, n);
    memcpy(got, p->held, sizeof(got[0]) * (size_t)n);
    qsort(got, (size_t)n, sizeof(got[0]), cmp_i16);
    memcpy(w, want, sizeof(w[0]) * (size_t)n);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (w[j] < w[i]) {
                int t = w[i];
                w[i] = w[j];
                w[j] = t;
            }
    for (int i = 0; i < n; i++)
        if (got[i] != w[i])
            fail_msg("held thread #%d is %d, want %d", i, got[i], w[i]);
}

static void assert_vnode(const struct vr_sched_plan *p, int v, int cell,
                         int first, int nvcpus, uint64_t mem)
{
    assert_true(v < p->nvnodes);
    assert_int_equal(p->vnodes[v].cell, cell);
    assert_int_equal(p->vnodes[v].first_vcpu, first);
    assert_int_equal(p->vnodes[v].nvcpus, nvcpus);
    assert_int_equal(p->vnodes[v].memory_mib, mem);
}

static void assert_shared(const struct vr_sched_plan *p, int vcpus)
{
    assert_int_equal(p->policy, VR_CPU_SHARED);
    assert_int_equal(p->nvcpus, vcpus);
    assert_int_equal(p->nheld, 0);
    for (int i = 0; i < vcpus; i++)
        assert_int_equal(p->vcpu_cpu[i], -1);
}

/* ---- a host's usage, as vr_sched_host_usage says */

static json_t *usage(struct vr_sched *s, int64_t host)
{
    json_t *j = vr_sched_host_usage(s, host);
    assert_non_null(j);
    return j;
}

static const json_t *usage_cell(const json_t *u, int ci)
{
    return json_array_get(json_object_get(u, "cells"), (size_t)ci);
}

static void assert_free_cpus(struct vr_sched *s, int64_t host, int ci,
                             const char *list)
{
    json_t *u = usage(s, host);
    const char *got = json_string_value(
        json_object_get(usage_cell(u, ci), "free_dedicated_cpus"));
    if (!got || strcmp(got, list) != 0)
        fail_msg("host %lld cell %d: free dedicated CPUs '%s', want '%s'",
                 (long long)host, ci, got ? got : "(null)", list);
    json_decref(u);
}

static int64_t free_pages(struct vr_sched *s, int64_t host, int ci,
                          int size_kib)
{
    json_t *u = usage(s, host);
    const json_t *pages = json_object_get(usage_cell(u, ci), "hugepages"), *p;
    size_t i;
    int64_t n = -1;

    json_array_foreach(pages, i, p) {
        if (json_integer_value(json_object_get(p, "size_kib")) == size_kib)
            n = json_integer_value(json_object_get(p, "free"));
    }
    json_decref(u);
    return n;
}

static int64_t bound_mib(struct vr_sched *s, int64_t host, int ci)
{
    json_t *u = usage(s, host);
    int64_t n = json_integer_value(
        json_object_get(usage_cell(u, ci), "bound_memory_mib"));
    json_decref(u);
    return n;
}

static char *usage_text(struct vr_sched *s, int64_t host)
{
    json_t *u = usage(s, host);
    char *t = json_dumps(u, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(u);
    return t;
}

/* Same socket and core in the capabilities (SMT siblings); true for a
 * thread and itself. */
static bool siblings(const struct vr_host_caps *c, int a, int b)
{
    const struct vr_host_cpu *x = NULL, *y = NULL;
    for (int i = 0; i < c->ncpu_topo; i++) {
        if (c->cpu_topo[i].id == a)
            x = &c->cpu_topo[i];
        if (c->cpu_topo[i].id == b)
            y = &c->cpu_topo[i];
    }
    return x && y && x->socket >= 0 && x->socket == y->socket &&
           x->core >= 0 && x->core == y->core;
}

static int cell_of(const struct vr_host_caps *c, int t)
{
    for (int i = 0; i < c->ncpu_topo; i++)
        if (c->cpu_topo[i].id == t)
            return c->cpu_topo[i].cell;
    return -1;
}

/* ---- 1. fitting on the real topologies */

/* Shared VMs float over the shared CPUs (not dedicated, not reserved),
 * overcommitted by cpu_ratio, and bind no cell. */
static void test_shared(void **state)
{
    struct vr_sched s;
    struct vr_host *h = new_host(1, "desk", DESKTOP, "2-3,6-7", "0");
    struct vr_sched_plan p;
    struct vr_sched_req r;
    json_t *u;

    (void)state;
    h->conf.cpu_ratio = 2;
    vr_sched_init(&s, VR_RANK_PACK);
    host_set(&s, h);
    /* shared CPUs 1,4,5: 3 x 2 = 6 vCPUs */
    u = usage(&s, 1);
    assert_string_equal(json_string_value(json_object_get(u, "shared_cpus")),
                        "1,4-5");
    assert_true(json_real_value(json_object_get(u, "shared_vcpus_capacity")) ==
                6.0);
    json_decref(u);
    for (int i = 0; i < 3; i++) {
        r = req(10 + i, 2, 1024, VR_CPU_SHARED);
        p = place(&s, &r);
        assert_int_equal(p.host_id, 1);
        assert_shared(&p, 2);
        assert_int_equal(p.nvnodes, 0);
        assert_int_equal(p.memory_mib, 1024);
    }
    r = req(20, 1, 1024, VR_CPU_SHARED);
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 1 host: 1 lack shared CPU capacity");
    /* the dedicated CPUs are untouched by shared VMs */
    assert_free_cpus(&s, 1, 0, "2-3,6-7");
    free(h);
    vr_sched_release(&s);
}

/* thread: each vCPU on its own dedicated thread, in the cell with the
 * most free dedicated threads (ties: the lowest cell), threads in id
 * order; the memory is bound to that cell. */
static void test_thread(void **state)
{
    struct vr_sched s;
    struct vr_host *hs[4];
    struct vr_sched_plan p;
    struct vr_sched_req r;

    (void)state;
    vr_sched_init(&s, VR_RANK_PACK);
    four_hosts(&s, hs, "2-3,6-7", "2-3,10-11,4-7,12-15", "8-23,40-55",
               "4-5,14-15,6-9");

    /* desktop */
    r = req_on(1, 1, 3, 2048, VR_CPU_THREAD);
    p = place(&s, &r);
    assert_int_equal(p.host_id, 1);
    assert_int_equal(p.policy, VR_CPU_THREAD);
    assert_pins(&p, INTS(2, 3, 6));
    assert_held(&p, INTS(2, 3, 6));
    assert_int_equal(p.nvnodes, 1);
    assert_vnode(&p, 0, 0, 0, 3, 2048);
    assert_int_equal(bound_mib(&s, 1, 0), 2048);
    assert_free_cpus(&s, 1, 0, "7");
    r.vm_id = 2;
    r.vcpus = 2;
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 4 hosts: 3 are not in the VM's host list, 1 lack "
           "2 free dedicated threads on one cell");
    r.vcpus = 1;
    p = place(&s, &r);
    assert_pins(&p, INTS(7));

    /* server: cell 1 has 8 free threads, cell 0 has 4 */
    r = req_on(2, 3, 4, 4096, VR_CPU_THREAD);
    p = place(&s, &r);
    assert_pins(&p, INTS(4, 5, 6, 7));
    assert_vnode(&p, 0, 1, 0, 4, 4096);
    r.vm_id = 4;
    p = place(&s, &r); /* 4 and 4: the lower cell */
    assert_pins(&p, INTS(2, 3, 10, 11));
    assert_vnode(&p, 0, 0, 0, 4, 4096);
    r.vm_id = 5;
    p = place(&s, &r);
    assert_pins(&p, INTS(12, 13, 14, 15));
    r.vm_id = 6;
    r.vcpus = 1;
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 4 hosts: 3 are not in the VM's host list, 1 lack "
           "1 free dedicated thread on one cell");

    /* quad: cells 1 and 2 dedicated */
    r = req_on(3, 7, 6, 8192, VR_CPU_THREAD);
    p = place(&s, &r);
    assert_pins(&p, INTS(8, 9, 10, 11, 12, 13));
    assert_vnode(&p, 0, 1, 0, 6, 8192);
    /* a VM needing more than one cell's threads never spans cells */
    r.vm_id = 8;
    r.vcpus = 17;
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL);

    /* asymmetric: 4 free threads in each cell */
    r = req_on(4, 9, 4, 1024, VR_CPU_THREAD);
    p = place(&s, &r);
    assert_pins(&p, INTS(4, 5, 14, 15));
    assert_vnode(&p, 0, 0, 0, 4, 1024);
    r.vm_id = 10;
    p = place(&s, &r);
    assert_pins(&p, INTS(6, 7, 8, 9));
    assert_vnode(&p, 0, 1, 0, 4, 1024);

    free_hosts(hs, 4);
    vr_sched_release(&s);
}

/* core: each vCPU a whole dedicated core, on its first thread; the
 * siblings are held idle by the VM. */
static void test_core(void **state)
{
    struct vr_sched s;
    struct vr_host *hs[4];
    struct vr_sched_plan p;
    struct vr_sched_req r;

    (void)state;
    vr_sched_init(&s, VR_RANK_PACK);
    four_hosts(&s, hs, "2-3,6-7", "2-3,10-11,4-7,12-15", "0-63",
               "4-5,14-15,6-9");

    r = req_on(1, 1, 2, 1024, VR_CPU_CORE);
    p = place(&s, &r);
    assert_int_equal(p.policy, VR_CPU_CORE);
    assert_pins(&p, INTS(2, 3));
    assert_held(&p, INTS(2, 3, 6, 7));
    assert_vnode(&p, 0, 0, 0, 2, 1024);
    assert_free_cpus(&s, 1, 0, "");

    /* a thread VM first: its sibling's core is no longer whole */
    r = req_on(2, 2, 1, 1024, VR_CPU_THREAD);
    p = place(&s, &r);
    assert_pins(&p, INTS(4));
    r = req_on(2, 3, 3, 1024, VR_CPU_CORE);
    p = place(&s, &r); /* cell 1: cores 5/13, 6/14, 7/15 */
    assert_pins(&p, INTS(5, 6, 7));
    assert_held(&p, INTS(5, 13, 6, 14, 7, 15));
    assert_vnode(&p, 0, 1, 0, 3, 1024);
    r.vm_id = 4;
    r.vcpus = 2;
    p = place(&s, &r); /* cell 0 */
    assert_pins(&p, INTS(2, 3));
    assert_held(&p, INTS(2, 10, 3, 11));
    /* 12 is free but its core is not whole */
    assert_free_cpus(&s, 2, 1, "12");
    r.vm_id = 5;
    r.vcpus = 1;
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 4 hosts: 3 are not in the VM's host list, 1 lack "
           "1 free whole core on one cell");

    /* quad: 8 cores of cell 0 */
    r = req_on(3, 6, 8, 1024, VR_CPU_CORE);
    p = place(&s, &r);
    assert_pins(&p, INTS(0, 1, 2, 3, 4, 5, 6, 7));
    assert_held(&p, INTS(0, 1, 2, 3, 4, 5, 6, 7, 32, 33, 34, 35, 36, 37, 38,
                         39));
    assert_vnode(&p, 0, 0, 0, 8, 1024);
    for (int i = 0; i < 8; i++) /* the idle thread is the SMT sibling */
        assert_true(siblings(&hs[2]->caps, p.vcpu_cpu[i], p.vcpu_cpu[i] + 32));
    r.vm_id = 7;
    r.vcpus = 9; /* 8 cores a cell */
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL);

    /* asymmetric: cell 0 (4,14 and 5,15), then cell 1 (one thread a core) */
    r = req_on(4, 8, 2, 1024, VR_CPU_CORE);
    p = place(&s, &r);
    assert_pins(&p, INTS(4, 5));
    assert_held(&p, INTS(4, 5, 14, 15));
    r.vm_id = 9;
    r.vcpus = 3;
    p = place(&s, &r);
    assert_pins(&p, INTS(6, 7, 8));
    assert_held(&p, INTS(6, 7, 8));
    assert_vnode(&p, 0, 1, 0, 3, 1024);

    free_hosts(hs, 4);
    vr_sched_release(&s);
}

/* isolate: the vCPUs fill whole cores; no other VM on any thread of
 * them. */
static void test_isolate(void **state)
{
    struct vr_sched s;
    struct vr_host *hs[4];
    struct vr_sched_plan p;
    struct vr_sched_req r;

    (void)state;
    vr_sched_init(&s, VR_RANK_PACK);
    four_hosts(&s, hs, "0-7", "2-3,10-11,4-7,12-15", "8-23,40-55",
               "6-9");

    r = req_on(1, 1, 3, 1024, VR_CPU_ISOLATE);
    p = place(&s, &r);
    assert_int_equal(p.policy, VR_CPU_ISOLATE);
    assert_pins(&p, INTS(0, 4, 1));
    assert_held(&p, INTS(0, 1, 4, 5));
    assert_free_cpus(&s, 1, 0, "2-3,6-7");
    r.vm_id = 2;
    r.vcpus = 4;
    p = place(&s, &r);
    assert_pins(&p, INTS(2, 6, 3, 7));
    r = req_on(1, 3, 1, 1024, VR_CPU_THREAD);
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL); /* 5 stays idle */

    r = req_on(2, 4, 3, 1024, VR_CPU_ISOLATE);
    p = place(&s, &r);
    assert_pins(&p, INTS(4, 12, 5));
    assert_held(&p, INTS(4, 5, 12, 13));
    /* 13 is never given to anyone: 4 threads a cell remain */
    r = req_on(2, 5, 5, 1024, VR_CPU_THREAD);
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL);
    r.vcpus = 4;
    p = place(&s, &r);
    assert_pins(&p, INTS(2, 3, 10, 11));
    r.vm_id = 6;
    p = place(&s, &r);
    assert_pins(&p, INTS(6, 7, 14, 15));
    r.vm_id = 7;
    r.vcpus = 1;
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL);

    /* quad: 5 vCPUs on 3 cores of cell 1 */
    r = req_on(3, 8, 5, 1024, VR_CPU_ISOLATE);
    p = place(&s, &r);
    assert_pins(&p, INTS(8, 40, 9, 41, 10));
    assert_held(&p, INTS(8, 9, 10, 40, 41, 42));
    assert_vnode(&p, 0, 1, 0, 5, 1024);

    /* asymmetric cell 1: no SMT, a core a vCPU */
    r = req_on(4, 9, 3, 1024, VR_CPU_ISOLATE);
    p = place(&s, &r);
    assert_pins(&p, INTS(6, 7, 8));
    assert_held(&p, INTS(6, 7, 8));
    assert_vnode(&p, 0, 1, 0, 3, 1024);
    r.vm_id = 10;
    r.vcpus = 2;
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 4 hosts: 3 are not in the VM's host list, 1 lack "
           "free whole cores for 2 vCPUs on one cell");

    free_hosts(hs, 4);
    vr_sched_release(&s);
}

/* Pinned VMs only on dedicated CPUs (never reserved or shared ones, even
 * when listed as both dedicated and reserved), shared VMs never on
 * dedicated ones; the pinned VM's implicit node is one cell. */
static void test_pinned_sets(void **state)
{
    struct vr_sched s;
    /* 2 is dedicated and reserved: reserved wins */
    struct vr_host *h = new_host(1, "server", SERVER, "1-2,9,4-5", "2,0,8");
    struct vr_sched_plan p;
    struct vr_sched_req r;
    json_t *u;
    int n = 0, got[16];

    (void)state;
    vr_sched_init(&s, VR_RANK_PACK);
    host_set(&s, h);
    u = usage(&s, 1);
    /* shared: all but dedicated and reserved */
    assert_string_equal(json_string_value(json_object_get(u, "shared_cpus")),
                        "3,6-7,10-15");
    json_decref(u);
    assert_free_cpus(&s, 1, 0, "1,9");
    assert_free_cpus(&s, 1, 1, "4-5");
    for (int vm = 1;; vm++) {
        struct vr_sched_why why;
        struct vr_error err = VR_ERROR_INIT;
        r = req(vm, 1, 512, VR_CPU_THREAD);
        if (vr_sched_place(&s, &r, &p, &why, &err) < 0) {
            assert_int_equal(err.code, VR_E_UNAVAILABLE);
            break;
        }
        assert_int_equal(p.nvnodes, 1);
        assert_int_equal(p.vnodes[0].cell, cell_of(&h->caps, p.vcpu_cpu[0]));
        got[n++] = p.vcpu_cpu[0];
    }
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++)
        assert_true(got[i] == 1 || got[i] == 9 || got[i] == 4 || got[i] == 5);
    /* 1 and 9 are siblings, both dedicated: a core VM could have had them;
     * now nothing whole is left */
    r = req(99, 1, 512, VR_CPU_CORE);
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL);
    free(h);
    vr_sched_release(&s);
}

/* Offline CPUs (libvirt lists them with an id only): their cores have
 * fewer threads; an isolate VM still goes where its vCPUs fit. */
static void test_offline_cpus(void **state)
{
    struct vr_sched s;
    struct vr_host *h = new_host(1, "server", SERVER, "0-3,4-5,12-13", NULL);
    struct vr_sched_plan p;
    struct vr_sched_req r;

    (void)state;
    /* 10 and 11 offline: cores 2 and 3 of cell 0 have one thread each;
     * cores 0 and 1 are not whole (8 and 9 are not dedicated) */
    for (int i = 0; i < h->caps.ncpu_topo; i++)
        if (h->caps.cpu_topo[i].id == 10 || h->caps.cpu_topo[i].id == 11)
            h->caps.cpu_topo[i].socket = h->caps.cpu_topo[i].core = -1;
    vr_sched_init(&s, VR_RANK_PACK);
    host_set(&s, h);
    assert_free_cpus(&s, 1, 0, "0-3");
    assert_free_cpus(&s, 1, 1, "4-5,12-13");
    /* cell 0 comes first (4 free threads, as many as cell 1) but its whole
     * cores have 2 threads in all: 4 vCPUs fit only cell 1 */
    r = req(1, 4, 1024, VR_CPU_ISOLATE);
    p = place(&s, &r);
    assert_vnode(&p, 0, 1, 0, 4, 1024);
    assert_pins(&p, INTS(4, 12, 5, 13));
    /* 2 vCPUs on the one-thread cores of cell 0 */
    r = req(2, 2, 1024, VR_CPU_ISOLATE);
    p = place(&s, &r);
    assert_vnode(&p, 0, 0, 0, 2, 1024);
    assert_pins(&p, INTS(2, 3));
    assert_held(&p, INTS(2, 3));
    r = req(3, 1, 1024, VR_CPU_ISOLATE);
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL);
    r = req(4, 2, 1024, VR_CPU_THREAD);
    p = place(&s, &r);
    assert_pins(&p, INTS(0, 1));
    free(h);
    vr_sched_release(&s);
}

/* A topology naming a cell the host does not list (a record from another
 * source than libvirt): those CPUs are never used, nothing breaks. */
static void test_unknown_cell(void **state)
{
    struct vr_sched s;
    struct vr_host *h = new_host(1, "desk", DESKTOP, "2-3,6-7", NULL);
    struct vr_sched_plan p;
    struct vr_sched_req r;
    json_t *u;

    (void)state;
    for (int i = 0; i < h->caps.ncpu_topo; i++)
        if (h->caps.cpu_topo[i].id == 1 || h->caps.cpu_topo[i].id == 5 ||
            h->caps.cpu_topo[i].id == 3 || h->caps.cpu_topo[i].id == 7)
            h->caps.cpu_topo[i].cell = 9;
    vr_sched_init(&s, VR_RANK_PACK);
    host_set(&s, h);
    u = usage(&s, 1);
    assert_int_equal(json_array_size(json_object_get(u, "cells")), 1);
    assert_string_equal(json_string_value(json_object_get(u, "shared_cpus")),
                        "0,4");
    json_decref(u);
    assert_free_cpus(&s, 1, 0, "2,6");
    r = req(1, 2, 1024, VR_CPU_THREAD);
    p = place(&s, &r);
    assert_pins(&p, INTS(2, 6));
    r = req(2, 1, 1024, VR_CPU_THREAD);
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL);
    r = req(3, 8, 1024, VR_CPU_SHARED); /* 2 shared CPUs x 4 */
    p = place(&s, &r);
    assert_shared(&p, 8);
    free(h);
    vr_sched_release(&s);
}

/* ---- 2. virtual NUMA */

static void test_vnuma(void **state)
{
    struct vr_sched s;
    struct vr_host *q = new_host(1, "quad", QUAD, "0-63", NULL);
    struct vr_host *a = new_host(2, "asym", ASYM, "0-15", NULL);
    struct vr_sched_plan p;
    struct vr_sched_req r;

    (void)state;
    vr_sched_init(&s, VR_RANK_PACK);
    host_set(&s, q);
    host_set(&s, a);

    /* quad: uneven nodes on cells 0, 1, 2 */
    r = req(1, 8, 28672, VR_CPU_THREAD);
    vnode(&r, 4, 16384);
    vnode(&r, 2, 8192);
    vnode(&r, 2, 4096);
    r.nhosts = 1;
    r.hosts[0] = 1;
    p = place(&s, &r);
    assert_int_equal(p.nvnodes, 3);
    assert_vnode(&p, 0, 0, 0, 4, 16384);
    assert_vnode(&p, 1, 1, 4, 2, 8192);
    assert_vnode(&p, 2, 2, 6, 2, 4096);
    assert_pins(&p, INTS(0, 1, 2, 3, 8, 9, 16, 17));
    assert_int_equal(bound_mib(&s, 1, 0), 16384);
    assert_int_equal(bound_mib(&s, 1, 1), 8192);
    assert_int_equal(bound_mib(&s, 1, 2), 4096);
    assert_int_equal(bound_mib(&s, 1, 3), 0);
    /* 5 nodes on 4 cells: never */
    r = req(2, 5, 5120, VR_CPU_THREAD);
    for (int i = 0; i < 5; i++)
        vnode(&r, 1, 1024);
    r.nhosts = 1;
    r.hosts[0] = 1;
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 2 hosts: 1 are not in the VM's host list, 1 cannot "
           "fit the NUMA topology on their cells");

    /* asymmetric: a small node first and a big one; the big one only fits
     * cell 0 (12 threads), so the small one goes to cell 1 */
    r = req(3, 10, 65536, VR_CPU_THREAD);
    vnode(&r, 2, 24576);
    vnode(&r, 8, 40960);
    r.nhosts = 1;
    r.hosts[0] = 2;
    p = place(&s, &r);
    assert_int_equal(p.nvnodes, 2);
    assert_vnode(&p, 0, 1, 0, 2, 24576);
    assert_vnode(&p, 1, 0, 2, 8, 40960);
    assert_pins(&p, INTS(6, 7, 0, 1, 2, 3, 4, 5, 10, 11));
    assert_int_equal(bound_mib(&s, 2, 0), 40960);
    assert_int_equal(bound_mib(&s, 2, 1), 24576);
    vr_sched_release_plan(&s, &p, 3);

    /* node memory: cell 1 has 32 GiB less 2 GiB of 2M pages; 31 GiB does
     * not fit there, and the 2-vCPU node cannot go elsewhere */
    r = req(4, 12, 31744 + 8192, VR_CPU_THREAD);
    vnode(&r, 4, 31744);
    vnode(&r, 8, 8192);
    r.nhosts = 1;
    r.hosts[0] = 2;
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL);
    r.vnodes[0].memory_mib = 30720;
    r.memory_mib = 30720 + 8192;
    p = place(&s, &r);
    assert_vnode(&p, 0, 1, 0, 4, 30720);
    assert_vnode(&p, 1, 0, 4, 8, 8192);

    /* shared VMs with nodes: distinct cells, the most free memory first */
    r = req(5, 4, 4096, VR_CPU_SHARED);
    vnode(&r, 1, 1024);
    vnode(&r, 3, 3072);
    r.nhosts = 1;
    r.hosts[0] = 1;
    q->conf.dedicated_cpus[0] = '\0';
    host_set(&s, q);
    p = place(&s, &r);
    assert_shared(&p, 4);
    assert_int_equal(p.nvnodes, 2);
    /* free normal memory: cell 3 (no pools), then cell 2 (half pools) */
    assert_vnode(&p, 0, 3, 0, 1, 1024);
    assert_vnode(&p, 1, 2, 1, 3, 3072);
    free(q);
    free(a);
    vr_sched_release(&s);
}

/* ---- 3. huge pages: a per-cell resource */

static void test_hugepages(void **state)
{
    struct vr_sched s;
    struct vr_host *q = new_host(1, "quad", QUAD, NULL, NULL);
    struct vr_sched_plan p[8];
    struct vr_sched_req r;
    json_t *u;
    uint64_t used;
    char *before;

    (void)state;
    vr_sched_init(&s, VR_RANK_PACK);
    host_set(&s, q);
    /* 2M pools: 4096, 4096, 2048, 0; 1G pools: 16, 16, 8, 0 */
    assert_int_equal(free_pages(&s, 1, 0, 2048), 4096);
    assert_int_equal(free_pages(&s, 1, 3, 1048576), 0);
    before = usage_text(&s, 1);

    /* 4 GiB of 2M pages (2048 pages): the cell with the most free wins,
     * ties to the lower cell */
    static const int cells2m[] = {0, 1, 0, 1, 2};
    for (int i = 0; i < 5; i++) {
        r = req(1 + i, 2, 4096, VR_CPU_SHARED);
        r.page_kib = 2048;
        p[i] = place(&s, &r);
        assert_shared(&p[i], 2);
        assert_int_equal(p[i].page_kib, 2048);
        assert_int_equal(p[i].nvnodes, 1);
        assert_vnode(&p[i], 0, cells2m[i], 0, 2, 4096);
    }
    for (int c = 0; c < 4; c++)
        assert_int_equal(free_pages(&s, 1, c, 2048), 0);
    /* huge pages are not normal memory */
    u = usage(&s, 1);
    used = (uint64_t)json_integer_value(json_object_get(u, "memory_mib_used"));
    assert_int_equal(used, 0);
    json_decref(u);
    r = req(6, 2, 4096, VR_CPU_SHARED);
    r.page_kib = 2048;
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 1 host: 1 lack 4096 MiB of free 2M huge pages on "
           "one cell");
    /* a release gives back exactly its pages, in its cell */
    vr_sched_release_plan(&s, &p[2], 3);
    assert_int_equal(free_pages(&s, 1, 0, 2048), 2048);
    assert_int_equal(free_pages(&s, 1, 1, 2048), 0);
    p[2] = place(&s, &r);
    assert_vnode(&p[2], 0, 0, 0, 2, 4096);
    assert_int_equal(free_pages(&s, 1, 0, 2048), 0);

    /* 8 GiB of 1G pages */
    static const int cells1g[] = {0, 1, 0, 1, 2};
    struct vr_sched_plan g[5];
    for (int i = 0; i < 5; i++) {
        r = req(20 + i, 1, 8192, VR_CPU_SHARED);
        r.page_kib = 1048576;
        g[i] = place(&s, &r);
        assert_vnode(&g[i], 0, cells1g[i], 0, 1, 8192);
    }
    r = req(30, 1, 1024, VR_CPU_SHARED);
    r.page_kib = 1048576;
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 1 host: 1 lack 1024 MiB of free 1G huge pages on "
           "one cell");
    for (int i = 4; i >= 0; i--)
        vr_sched_release_plan(&s, &g[i], 20 + i);
    for (int i = 0; i < 5; i++)
        vr_sched_release_plan(&s, &p[i], i == 2 ? 6 : 1 + i);
    /* everything back: the usage is as it was */
    {
        char *after = usage_text(&s, 1);
        assert_string_equal(after, before);
        free(after);
    }

    /* a pinned VM with huge pages: its CPUs in the pages' cell */
    q->conf.cpu_ratio = 4;
    vr_strlcpy(q->conf.dedicated_cpus, "0-63", sizeof(q->conf.dedicated_cpus));
    host_set(&s, q);
    r = req(40, 2, 16384, VR_CPU_THREAD);
    r.page_kib = 1048576;
    p[0] = place(&s, &r);
    assert_vnode(&p[0], 0, 0, 0, 2, 16384);
    assert_pins(&p[0], INTS(0, 1));
    r.vm_id = 41;
    p[1] = place(&s, &r);
    assert_vnode(&p[1], 0, 1, 0, 2, 16384);
    assert_pins(&p[1], INTS(8, 9));
    /* virtual NUMA with huge pages: each node's pages in its cell */
    r = req(42, 2, 8192 + 2048, VR_CPU_THREAD);
    r.page_kib = 2048;
    vnode(&r, 1, 8192);
    vnode(&r, 1, 2048);
    p[2] = place(&s, &r);
    assert_int_equal(p[2].nvnodes, 2);
    assert_vnode(&p[2], 0, 0, 0, 1, 8192);
    assert_vnode(&p[2], 1, 1, 1, 1, 2048);
    assert_pins(&p[2], INTS(2, 10));
    assert_int_equal(free_pages(&s, 1, 0, 2048), 0);
    assert_int_equal(free_pages(&s, 1, 1, 2048), 3072);
    assert_int_equal(free_pages(&s, 1, 0, 1048576), 0);
    assert_int_equal(free_pages(&s, 1, 1, 1048576), 0);
    free(before);
    free(q);
    vr_sched_release(&s);
}

/* ---- 4. PCI devices and SR-IOV VFs */

static void assert_dev(const struct vr_sched_plan *p, int i, const char *addr,
                       const char *pool)
{
    assert_true(i < p->ndevs);
    assert_string_equal(p->devs[i].addr, addr);
    assert_string_equal(p->devs[i].pool, pool);
}

static void test_pci(void **state)
{
    struct vr_sched s;
    struct vr_host *h = new_host(1, "server", SERVER, NULL, NULL);
    struct vr_sched_plan p, p2;
    struct vr_sched_req r;
    uint64_t gen;

    (void)state;
    add_devs(h);
    allow_pci(h, "10de:1eb8");
    vr_sched_init(&s, VR_RANK_PACK);
    host_set(&s, h);

    /* by vendor:product */
    r = req(1, 2, 1024, VR_CPU_SHARED);
    want_pci(&r, "10de:1eb8");
    p = place(&s, &r);
    assert_int_equal(p.ndevs, 1);
    assert_dev(&p, 0, T4, "");
    r.vm_id = 2;
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 1 host: 1 lack the PCI devices");
    vr_sched_release_plan(&s, &p, 1);
    /* by class (display controller, 3D) and by address */
    r = req(3, 2, 1024, VR_CPU_SHARED);
    want_pci(&r, "class=0x03");
    p = place(&s, &r);
    assert_dev(&p, 0, T4, "");
    vr_sched_release_plan(&s, &p, 3);
    r = req(4, 2, 1024, VR_CPU_SHARED);
    want_pci(&r, "class=0x0302");
    p = place(&s, &r);
    assert_dev(&p, 0, T4, "");
    vr_sched_release_plan(&s, &p, 4);
    r = req(5, 2, 1024, VR_CPU_SHARED);
    want_pci(&r, T4);
    p = place(&s, &r);
    assert_dev(&p, 0, T4, "");
    vr_sched_release_plan(&s, &p, 5);

    /* not in the allow-list: never given, whatever the spec */
    r = req(6, 1, 1024, VR_CPU_SHARED);
    want_pci(&r, SATA);
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 1 host: 1 lack the PCI devices");
    r = req(6, 1, 1024, VR_CPU_SHARED);
    want_pci(&r, "class=0x0106");
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL);
    r = req(6, 1, 1024, VR_CPU_SHARED);
    want_pci(&r, "8086:1572");
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL);
    /* listing it (a configuration change) makes capacity appear */
    gen = vr_sched_generation(&s);
    allow_pci(h, SATA);
    host_set(&s, h);
    assert_true(vr_sched_generation(&s) > gen);
    r = req(6, 1, 1024, VR_CPU_SHARED);
    want_pci(&r, "class=0x0106");
    p = place(&s, &r);
    assert_dev(&p, 0, SATA, "");
    /* two devices at once */
    r = req(7, 1, 1024, VR_CPU_SHARED);
    want_pci(&r, "10de:1eb8");
    want_pci(&r, "class=0x01");
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL); /* the SATA one is taken */
    vr_sched_release_plan(&s, &p, 6);
    p = place(&s, &r);
    assert_int_equal(p.ndevs, 2);
    assert_dev(&p, 0, T4, "");
    assert_dev(&p, 1, SATA, "");
    vr_sched_release_plan(&s, &p, 7);

    /* a PF given whole while it lends no VFs... */
    allow_pci(h, "8086:1572");
    allow_pci(h, "8086:154c");
    host_set(&s, h);
    r = req(8, 1, 1024, VR_CPU_SHARED);
    want_pci(&r, "8086:1572");
    p = place(&s, &r);
    assert_dev(&p, 0, X710_PF, "");
    vr_sched_release_plan(&s, &p, 8);
    /* ... VFs too ... */
    r = req(9, 1, 1024, VR_CPU_SHARED);
    want_pci(&r, "8086:154c");
    want_pci(&r, "8086:154c");
    p = place(&s, &r);
    assert_dev(&p, 0, X710_VF0, "");
    assert_dev(&p, 1, X710_VF1, "");
    vr_sched_release_plan(&s, &p, 9);
    /* ... but once the PF backs an SR-IOV pool, neither the PF nor its VFs
     * are handed out as PCI devices */
    add_pool(h, "physnet1", X710_PF);
    host_set(&s, h);
    r = req(10, 1, 1024, VR_CPU_SHARED);
    want_pci(&r, "8086:1572");
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL);
    r = req(10, 1, 1024, VR_CPU_SHARED);
    want_pci(&r, X710_VF0);
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL);

    /* SR-IOV: VFs of the pool's PF, one each */
    r = req(11, 1, 1024, VR_CPU_SHARED);
    want_sriov(&r, "physnet1");
    p = place(&s, &r);
    assert_int_equal(p.ndevs, 1);
    assert_dev(&p, 0, X710_VF0, "physnet1");
    r.vm_id = 12;
    p2 = place(&s, &r);
    assert_dev(&p2, 0, X710_VF1, "physnet1");
    r.vm_id = 13;
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 1 host: 1 lack the SR-IOV VFs");
    r = req(14, 1, 1024, VR_CPU_SHARED);
    want_sriov(&r, "physnet9");
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 1 host: 1 lack the SR-IOV VFs");
    vr_sched_release_plan(&s, &p, 11);
    /* a PCI device and a VF in one VM */
    r = req(15, 1, 1024, VR_CPU_SHARED);
    want_pci(&r, "10de:1eb8");
    want_sriov(&r, "physnet1");
    p = place(&s, &r);
    assert_int_equal(p.ndevs, 2);
    assert_dev(&p, 0, T4, "");
    assert_dev(&p, 1, X710_VF0, "physnet1");
    {
        json_t *u = usage(&s, 1);
        const json_t *d;
        size_t i;
        int owned = 0;
        json_array_foreach(json_object_get(u, "devices"), i, d) {
            int64_t vm = json_integer_value(json_object_get(d, "vm_id"));
            const char *a = json_string_value(json_object_get(d, "address"));
            if (strcmp(a, T4) == 0 || strcmp(a, X710_VF0) == 0)
                assert_int_equal(vm, 15);
            else if (strcmp(a, X710_VF1) == 0)
                assert_int_equal(vm, 12);
            else
                assert_int_equal(vm, 0);
            owned += vm != 0;
        }
        assert_int_equal(owned, 3);
        json_decref(u);
    }
    free(h);
    vr_sched_release(&s);
}

/* IO-NUMA: a pinned VM with a device lands on the device's cell first. */
static void test_io_numa(void **state)
{
    struct vr_sched s;
    /* cell 0: 2 free dedicated threads, cell 1: 8 */
    struct vr_host *h = new_host(1, "server", SERVER, "2-3,4-7,12-15", NULL);
    struct vr_sched_plan p;
    struct vr_sched_req r;

    (void)state;
    add_devs(h);
    allow_pci(h, "10de:1eb8");
    add_pool(h, "physnet1", X710_PF);
    vr_sched_init(&s, VR_RANK_PACK);
    host_set(&s, h);

    r = req(1, 2, 1024, VR_CPU_THREAD);
    p = place(&s, &r);
    assert_vnode(&p, 0, 1, 0, 2, 1024); /* no device: the freer cell */
    assert_pins(&p, INTS(4, 5));
    vr_sched_release_plan(&s, &p, 1);

    r = req(2, 2, 1024, VR_CPU_THREAD);
    want_pci(&r, "10de:1eb8"); /* the T4 is on cell 0 */
    p = place(&s, &r);
    assert_vnode(&p, 0, 0, 0, 2, 1024);
    assert_pins(&p, INTS(2, 3));
    assert_dev(&p, 0, T4, "");

    /* the device's cell is full: the VM still gets it, remote */
    r = req(3, 2, 1024, VR_CPU_THREAD);
    want_pci(&r, "10de:1eb8");
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 1 host: 1 lack the PCI devices"); /* taken */
    vr_sched_release_plan(&s, &p, 2);
    {
        struct vr_sched_plan full;
        struct vr_error err = VR_ERROR_INIT;
        memset(&full, 0, sizeof(full));
        full.host_id = 1;
        full.policy = VR_CPU_THREAD;
        full.nvcpus = 2;
        full.vcpu_cpu[0] = full.held[0] = 2;
        full.vcpu_cpu[1] = full.held[1] = 3;
        full.nheld = 2;
        full.nvnodes = 1;
        full.vnodes[0].nvcpus = 2;
        full.vnodes[0].memory_mib = 1024;
        full.memory_mib = 1024;
        assert_int_equal(vr_sched_hold(&s, &full, 5, &err), 0);
        r = req(6, 2, 1024, VR_CPU_THREAD);
        want_pci(&r, "10de:1eb8");
        p = place(&s, &r);
        assert_vnode(&p, 0, 1, 0, 2, 1024);
        assert_pins(&p, INTS(4, 5));
        assert_dev(&p, 0, T4, "");
        vr_sched_release_plan(&s, &p, 6);
        vr_sched_release_plan(&s, &full, 5);
    }

    /* a VF of the pool on cell 1, even when cell 0 is freer */
    vr_strlcpy(h->conf.dedicated_cpus, "0-3,8-11,4-5",
               sizeof(h->conf.dedicated_cpus));
    host_set(&s, h);
    r = req(7, 1, 1024, VR_CPU_THREAD);
    p = place(&s, &r);
    assert_vnode(&p, 0, 0, 0, 1, 1024);
    vr_sched_release_plan(&s, &p, 7);
    want_sriov(&r, "physnet1");
    p = place(&s, &r);
    assert_vnode(&p, 0, 1, 0, 1, 1024);
    assert_pins(&p, INTS(4));
    assert_dev(&p, 0, X710_VF0, "physnet1");
    /* devices of both cells: both given, wherever the CPUs are */
    r = req(8, 1, 1024, VR_CPU_THREAD);
    want_sriov(&r, "physnet1");
    want_pci(&r, "10de:1eb8");
    p = place(&s, &r);
    assert_int_equal(p.ndevs, 2);
    assert_dev(&p, 0, T4, "");
    assert_dev(&p, 1, X710_VF1, "physnet1");
    free(h);
    vr_sched_release(&s);
}

/* ---- 5. requirements, rank, host lists, force, VM-group roles */

static struct vr_expr *expr(const char *src, bool want_bool)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_expr *e = vr_expr_compile(src, vr_sched_schema(), want_bool,
                                        &err);
    if (!e)
        fail_msg("'%s': %s", src, err.msg);
    return e;
}

/* Three hosts: a (desktop, id 1), b (server, id 2), c (quad, id 3). */
struct trio {
    struct vr_sched s;
    struct vr_host *h[3];
};

static void trio_init(struct trio *t, enum vr_sched_rank rank)
{
    static const char *const names[] = {"a", "b", "c"};
    static const int topos[] = {DESKTOP, SERVER, QUAD};

    vr_sched_init(&t->s, rank);
    for (int i = 0; i < 3; i++) {
        t->h[i] = new_host(i + 1, names[i], topos[i], NULL, NULL);
        host_set(&t->s, t->h[i]);
    }
}

static void trio_release(struct trio *t)
{
    for (int i = 0; i < 3; i++)
        free(t->h[i]);
    vr_sched_release(&t->s);
}

static int64_t place_on(struct vr_sched *s, struct vr_sched_req *r)
{
    struct vr_sched_plan p = place(s, r);
    return p.host_id;
}

static void test_requirements(void **state)
{
    struct trio t;
    struct vr_sched_req r;
    struct vr_expr *e;

    (void)state;
    trio_init(&t, VR_RANK_PACK);
    add_label(t.h[1], "ssd");
    add_label(t.h[1], "rack=b12");
    add_label(t.h[2], "gpu");
    /* a: 31999 MiB less 1 GiB of pages less 28000 reserved: 2975 MiB */
    t.h[0]->conf.reserved_memory_mib = 28000;
    for (int i = 0; i < 3; i++)
        host_set(&t.s, t.h[i]);

    r = req(1, 1, 1024, VR_CPU_SHARED);
    assert_int_equal(place_on(&t.s, &r), 1); /* packing, all empty: id order */

    e = expr("LABELS has \"ssd\"", true);
    r = req(2, 1, 1024, VR_CPU_SHARED);
    r.requirements = e;
    assert_int_equal(place_on(&t.s, &r), 2);
    vr_expr_free(e);

    e = expr("!(LABELS has \"ssd\") & LABELS has \"gpu\"", true);
    r = req(3, 1, 1024, VR_CPU_SHARED);
    r.requirements = e;
    assert_int_equal(place_on(&t.s, &r), 3);
    vr_expr_free(e);

    /* a has 2975 - 1024 MiB free: packing would pick it */
    e = expr("FREE_MEMORY > 4G", true);
    r = req(4, 1, 1024, VR_CPU_SHARED);
    r.requirements = e;
    assert_int_not_equal(place_on(&t.s, &r), 1);
    vr_expr_free(e);
    e = expr("FREE_MEMORY > 1G", true);
    r = req(5, 1, 512, VR_CPU_SHARED);
    r.requirements = e;
    assert_int_equal(place_on(&t.s, &r), 1);
    /* now a has 1439 MiB */
    r.vm_id = 6;
    assert_int_equal(place_on(&t.s, &r), 1);
    r.vm_id = 7;
    r.nhosts = 1;
    r.hosts[0] = 1;
    refuse(&t.s, &r, VR_E_UNAVAILABLE,
           "no host fits: 3 hosts: 2 are not in the VM's host list, 1 fail "
           "the requirements");
    vr_expr_free(e);

    e = expr("HOST = \"c\"", true);
    r = req(8, 1, 1024, VR_CPU_SHARED);
    r.requirements = e;
    assert_int_equal(place_on(&t.s, &r), 3);
    vr_expr_free(e);
    e = expr("HOST = \"x\"", true);
    r.requirements = e;
    r.vm_id = 9;
    r.memory_mib = 512; /* a has 927 MiB left */
    refuse(&t.s, &r, VR_E_UNAVAILABLE,
           "no host fits: 3 hosts: 3 fail the requirements");
    vr_expr_free(e);
    e = expr("CPUS >= 16 & CELLS = 2 & HYPERVISOR = \"kvm\" & "
             "CPU_MODEL = \"Skylake-Server-IBRS\"",
             true);
    r.requirements = e;
    r.vm_id = 10;
    assert_int_equal(place_on(&t.s, &r), 2);
    vr_expr_free(e);
    trio_release(&t);
}

/* Clusters: their attributes, their default requirements and rank for
 * VMs without their own, and the request's defaults below them. */
static void test_clusters(void **state)
{
    static const char labels[][32] = {"prod", "edge"};
    struct vr_error err = VR_ERROR_INIT;
    struct trio t;
    struct vr_sched_req r;
    struct vr_expr *e, *d;

    (void)state;
    trio_init(&t, VR_RANK_PACK);
    /* a and b in cluster 10 "edge"; c in cluster 20 "core" */
    t.h[0]->cluster_id = t.h[1]->cluster_id = 10;
    t.h[2]->cluster_id = 20;
    for (int i = 0; i < 3; i++)
        host_set(&t.s, t.h[i]);
    /* hosts may come before their cluster: they join it when it comes */
    assert_int_equal(vr_sched_cluster_set(&t.s, 10, "edge", labels, 2, "",
                                          "", &err), 0);
    assert_int_equal(vr_sched_cluster_set(&t.s, 20, "core", NULL, 0, "", "",
                                          &err), 0);

    e = expr("CLUSTER = \"core\"", true);
    r = req(1, 1, 512, VR_CPU_SHARED);
    r.requirements = e;
    assert_int_equal(place_on(&t.s, &r), 3);
    vr_expr_free(e);
    e = expr("CLUSTER_LABELS has \"edge\" & CLUSTER_ID = 10 & HOST != \"a\"",
             true);
    r = req(2, 1, 512, VR_CPU_SHARED);
    r.requirements = e;
    assert_int_equal(place_on(&t.s, &r), 2);
    vr_expr_free(e);

    /* edge's default requirements keep VMs without their own off a and b;
     * a VM's own requirements override them */
    assert_int_equal(vr_sched_cluster_set(&t.s, 10, "edge", labels, 2,
                                          "LABELS has \"ssd\"", "", &err), 0);
    r = req(3, 1, 512, VR_CPU_SHARED);
    assert_int_equal(place_on(&t.s, &r), 3);
    e = expr("HOST = \"a\"", true);
    r = req(4, 1, 512, VR_CPU_SHARED);
    r.requirements = e;
    assert_int_equal(place_on(&t.s, &r), 1);
    vr_expr_free(e);
    /* the request's defaults judge only hosts whose cluster has none */
    d = expr("CPUS > 1000", true);
    r = req(5, 1, 512, VR_CPU_SHARED);
    r.default_requirements = d;
    refuse(&t.s, &r, VR_E_UNAVAILABLE,
           "no host fits: 3 hosts: 3 fail the requirements");
    add_label(t.h[1], "ssd");
    host_set(&t.s, t.h[1]);
    assert_int_equal(place_on(&t.s, &r), 2);
    vr_expr_free(d);

    /* a cluster's rank orders its hosts for VMs without a rank: packing
     * would take a (the fuller, in proportion), edge's rank HOST_ID
     * prefers b */
    assert_int_equal(vr_sched_cluster_set(&t.s, 10, "edge", labels, 2, "",
                                          "HOST_ID", &err), 0);
    e = expr("CLUSTER = \"edge\"", true);
    r = req(6, 1, 512, VR_CPU_SHARED);
    r.requirements = e;
    assert_int_equal(place_on(&t.s, &r), 2);
    vr_expr_free(e);

    /* a broken expression is refused with its column, nothing changes */
    assert_int_equal(vr_sched_cluster_set(&t.s, 10, "edge", NULL, 0,
                                          "FREE_MEMORY >", "", &err), -1);
    assert_non_null(strstr(err.msg, "requirements"));
    assert_non_null(strstr(err.msg, "column"));
    e = expr("CLUSTER_LABELS has \"prod\"", true);
    r = req(7, 1, 512, VR_CPU_SHARED);
    r.requirements = e;
    assert_int_not_equal(place_on(&t.s, &r), 3);

    /* without its cluster a host has no cluster attributes */
    vr_sched_cluster_remove(&t.s, 10);
    r.vm_id = 8;
    refuse(&t.s, &r, VR_E_UNAVAILABLE,
           "no host fits: 3 hosts: 3 fail the requirements");
    vr_expr_free(e);
    e = expr("CLUSTER = \"\" & CLUSTER_ID = 10", true);
    r = req(9, 1, 512, VR_CPU_SHARED);
    r.requirements = e;
    assert_int_not_equal(place_on(&t.s, &r), 3);
    vr_expr_free(e);
    trio_release(&t);
}

static void test_rank(void **state)
{
    struct trio t;
    struct vr_sched_req r;
    struct vr_expr *e;

    (void)state;
    /* rank expressions */
    trio_init(&t, VR_RANK_PACK);
    vr_sched_running(&t.s, 1, 3);
    vr_sched_running(&t.s, 2, 1);
    vr_sched_running(&t.s, 3, 2);
    e = expr("-RUNNING_VMS", false);
    r = req(1, 1, 1024, VR_CPU_SHARED);
    r.rank = e;
    assert_int_equal(place_on(&t.s, &r), 2);
    vr_sched_running(&t.s, 2, 5);
    r.vm_id = 2;
    assert_int_equal(place_on(&t.s, &r), 3);
    vr_expr_free(e);
    /* FREE_CPU: shared capacity left, 4 vCPUs a shared CPU */
    e = expr("FREE_CPU", false);
    r = req(3, 1, 1024, VR_CPU_SHARED);
    r.rank = e;
    assert_int_equal(place_on(&t.s, &r), 3); /* 256 - 1 */
    vr_strlcpy(t.h[2]->conf.dedicated_cpus, "0-55",
               sizeof(t.h[2]->conf.dedicated_cpus));
    host_set(&t.s, t.h[2]); /* c: 8 shared CPUs, 32 vCPUs, 2 used */
    r.vm_id = 4;
    assert_int_equal(place_on(&t.s, &r), 2); /* 64 */
    vr_expr_free(e);
    e = expr("-HOST_ID", false);
    r = req(5, 1, 1024, VR_CPU_SHARED);
    r.rank = e;
    assert_int_equal(place_on(&t.s, &r), 1);
    vr_expr_free(e);
    trio_release(&t);

    /* packing: the busiest host (memory used / capacity) first */
    trio_init(&t, VR_RANK_PACK);
    r = req_on(3, 1, 1, 4096, VR_CPU_SHARED);
    assert_int_equal(place_on(&t.s, &r), 3);
    r = req(2, 1, 1024, VR_CPU_SHARED);
    assert_int_equal(place_on(&t.s, &r), 3);
    r = req(3, 1, 4096, VR_CPU_SHARED);
    r.nhosts = 1;
    r.hosts[0] = 1; /* a is smaller: 4 GiB is a larger share of it */
    assert_int_equal(place_on(&t.s, &r), 1);
    r = req(4, 1, 1024, VR_CPU_SHARED);
    assert_int_equal(place_on(&t.s, &r), 1);
    trio_release(&t);

    /* striping: the most free memory first */
    trio_init(&t, VR_RANK_STRIPE);
    r = req(1, 1, 1024, VR_CPU_SHARED);
    assert_int_equal(place_on(&t.s, &r), 3);
    r = req(2, 1, 400000, VR_CPU_SHARED); /* c: 462377 MiB */
    assert_int_equal(place_on(&t.s, &r), 3);
    r = req(3, 1, 1024, VR_CPU_SHARED); /* b: 113468 MiB, c: 61353 */
    assert_int_equal(place_on(&t.s, &r), 2);
    trio_release(&t);

    /* a host whose capacity shrank below what its VMs use (more memory
     * reserved) has nothing free: striping puts a huge-page VM elsewhere */
    trio_init(&t, VR_RANK_STRIPE);
    r = req(1, 1, 300000, VR_CPU_SHARED);
    assert_int_equal(place_on(&t.s, &r), 3);
    t.h[2]->conf.reserved_memory_mib = 200000;
    host_set(&t.s, t.h[2]); /* c: 262377 MiB for 300000 used */
    r = req(2, 1, 2048, VR_CPU_SHARED);
    r.page_kib = 2048;
    assert_int_equal(place_on(&t.s, &r), 2);
    trio_release(&t);

    /* load: the fewest running VMs first */
    trio_init(&t, VR_RANK_LOAD);
    vr_sched_running(&t.s, 1, 2);
    vr_sched_running(&t.s, 3, 1);
    r = req(1, 1, 1024, VR_CPU_SHARED);
    assert_int_equal(place_on(&t.s, &r), 2);
    vr_sched_running(&t.s, 2, 3);
    r.vm_id = 2;
    assert_int_equal(place_on(&t.s, &r), 3);
    vr_sched_running(&t.s, 1, -2);
    r.vm_id = 3;
    assert_int_equal(place_on(&t.s, &r), 1);
    trio_release(&t);
}

static void test_hostlist_force(void **state)
{
    struct trio t;
    struct vr_sched_req r;
    struct vr_sched_plan p;
    struct vr_expr *e;

    (void)state;
    trio_init(&t, VR_RANK_STRIPE);
    r = req(1, 1, 1024, VR_CPU_SHARED);
    r.nhosts = 2;
    r.hosts[0] = 1;
    r.hosts[1] = 2;
    assert_int_equal(place_on(&t.s, &r), 2); /* striping, within the list */
    r.vm_id = 2;
    r.nhosts = 1;
    r.hosts[0] = 99;
    refuse(&t.s, &r, VR_E_UNAVAILABLE,
           "no host fits: 3 hosts: 3 are not in the VM's host list");

    /* a disabled host, and one not monitored */
    t.h[0]->enabled = false;
    host_set(&t.s, t.h[0]);
    t.h[1]->state = VR_HOST_ERROR;
    host_set(&t.s, t.h[1]);
    r = req(3, 1, 1024, VR_CPU_SHARED);
    r.nhosts = 2;
    r.hosts[0] = 1;
    r.hosts[1] = 2;
    refuse(&t.s, &r, VR_E_UNAVAILABLE,
           "no host fits: 3 hosts: 1 are not in the VM's host list, 1 are "
           "disabled, 1 are not monitored");
    /* force: the first host of the list without the filters... */
    e = expr("HOST = \"nowhere\"", true);
    r.requirements = e;
    r.force = true;
    p = place(&t.s, &r);
    assert_int_equal(p.host_id, 1);
    assert_shared(&p, 1);
    vr_expr_free(e);
    /* ... but it must fit */
    r = req(4, 4, 1024, VR_CPU_THREAD);
    r.force = true;
    r.nhosts = 1;
    r.hosts[0] = 1;
    refuse(&t.s, &r, VR_E_UNAVAILABLE,
           "no host fits: 1 host: 1 lack 4 free dedicated threads on one cell "
           "(even forced, the VM must fit the host's CPUs, memory and "
           "devices)");
    r = req(5, 1, 40000, VR_CPU_SHARED);
    r.force = true;
    r.nhosts = 1;
    r.hosts[0] = 1;
    refuse(&t.s, &r, VR_E_UNAVAILABLE,
           "no host fits: 1 host: 1 lack memory (even forced, the VM must "
           "fit the host's CPUs, memory and devices)");
    r.hosts[0] = 42;
    refuse(&t.s, &r, VR_E_NOT_FOUND, "host 42 not found");
    trio_release(&t);
}

static void role(struct vr_sched_req *r, const char *key,
                 enum vr_affinity aff, bool hard)
{
    vr_strlcpy(r->role_key, key, sizeof(r->role_key));
    r->affinity = aff;
    r->affinity_hard = hard;
}

static void test_roles(void **state)
{
    struct trio t;
    struct vr_sched_req r;
    struct vr_sched_plan p[4];
    struct vr_expr *e = expr("-HOST_ID", false); /* prefers a, then b */

    (void)state;
    trio_init(&t, VR_RANK_PACK);
    /* hard affinity: the first VM goes where it may, the others follow */
    r = req(1, 1, 1024, VR_CPU_SHARED);
    role(&r, "7/web", VR_AFF_AFFINE, true);
    r.nhosts = 1;
    r.hosts[0] = 3;
    p[0] = place(&t.s, &r);
    assert_int_equal(p[0].host_id, 3);
    assert_string_equal(p[0].role_key, "7/web");
    r = req(2, 1, 1024, VR_CPU_SHARED);
    role(&r, "7/web", VR_AFF_AFFINE, true);
    r.rank = e;
    assert_int_equal(place_on(&t.s, &r), 3);
    /* c cannot take it: refused, not placed elsewhere */
    r = req(3, 1, 1024, VR_CPU_THREAD);
    role(&r, "7/web", VR_AFF_AFFINE, true);
    refuse(&t.s, &r, VR_E_UNAVAILABLE,
           "no host fits: 3 hosts: 2 break the VM group's affinity, 1 lack "
           "1 free dedicated thread on one cell");
    /* another role of the group is not bound by it */
    r = req(4, 1, 1024, VR_CPU_SHARED);
    role(&r, "7/db", VR_AFF_AFFINE, true);
    r.rank = e;
    assert_int_equal(place_on(&t.s, &r), 1);
    trio_release(&t);

    /* hard anti-affinity: one a host */
    trio_init(&t, VR_RANK_PACK);
    for (int i = 0; i < 3; i++) {
        r = req(10 + i, 1, 1024, VR_CPU_SHARED);
        role(&r, "8/db", VR_AFF_ANTI, true);
        p[i] = place(&t.s, &r);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(p[i].host_id, p[j].host_id);
    }
    r = req(13, 1, 1024, VR_CPU_SHARED);
    role(&r, "8/db", VR_AFF_ANTI, true);
    refuse(&t.s, &r, VR_E_UNAVAILABLE,
           "no host fits: 3 hosts: 3 break the VM group's anti-affinity");
    /* one leaves: its host is free for the role again */
    vr_sched_release_plan(&t.s, &p[1], 11);
    assert_int_equal(place_on(&t.s, &r), p[1].host_id);
    trio_release(&t);

    /* soft affinity: the rank prefers a, the role pulls to c */
    trio_init(&t, VR_RANK_PACK);
    r = req(20, 1, 1024, VR_CPU_SHARED);
    role(&r, "9/app", VR_AFF_AFFINE, false);
    r.nhosts = 1;
    r.hosts[0] = 3;
    assert_int_equal(place_on(&t.s, &r), 3);
    r = req(21, 1, 1024, VR_CPU_SHARED);
    role(&r, "9/app", VR_AFF_AFFINE, false);
    r.rank = e;
    assert_int_equal(place_on(&t.s, &r), 3);
    /* but a full c does not stop it */
    r = req(22, 1, 400000, VR_CPU_SHARED);
    role(&r, "9/app", VR_AFF_AFFINE, false);
    r.rank = e;
    assert_int_equal(place_on(&t.s, &r), 3);
    r = req(23, 1, 100000, VR_CPU_SHARED);
    role(&r, "9/app", VR_AFF_AFFINE, false);
    r.rank = e;
    assert_int_equal(place_on(&t.s, &r), 2);
    trio_release(&t);

    /* soft anti-affinity: spread, then keep placing */
    trio_init(&t, VR_RANK_PACK);
    static const int64_t want[] = {1, 2, 3, 1, 2, 3, 1};
    for (int i = 0; i < 7; i++) {
        r = req(30 + i, 1, 512, VR_CPU_SHARED);
        role(&r, "9/cache", VR_AFF_ANTI, false);
        r.rank = e;
        assert_int_equal(place_on(&t.s, &r), want[i]);
    }
    trio_release(&t);
    vr_expr_free(e);
}

/* ---- 6. explaining a refusal; requests that are never valid */

static void test_why_format(void **state)
{
    struct vr_sched_why w;
    struct vr_sched_req r;
    char out[512], small[40];

    (void)state;
    memset(&w, 0, sizeof(w));
    w.hosts = 1250;
    w.count[VR_F_DEDICATED] = 1180;
    w.count[VR_F_REQS] = 60;
    w.count[VR_F_DISABLED] = 10;
    r = req(1, 4, 1024, VR_CPU_CORE);
    vr_sched_why_format(&w, &r, out, sizeof(out));
    assert_string_equal(out, "no host fits: 1250 hosts: 1180 lack 4 free "
                             "whole cores on one cell, 60 fail the "
                             "requirements, 10 are disabled");
    r.policy = VR_CPU_THREAD;
    vnode(&r, 3, 512);
    vnode(&r, 1, 512);
    vr_sched_why_format(&w, &r, out, sizeof(out));
    assert_string_equal(out, "no host fits: 1250 hosts: 1180 lack 3 free "
                             "dedicated threads per cell, 60 fail the "
                             "requirements, 10 are disabled");
    /* ties: in filter order */
    memset(&w, 0, sizeof(w));
    w.hosts = 4;
    w.count[VR_F_SRIOV] = 1;
    w.count[VR_F_MONITOR] = 1;
    w.count[VR_F_PAGES] = 2;
    r = req(1, 2, 3072, VR_CPU_SHARED);
    r.page_kib = 1048576;
    vr_sched_why_format(&w, &r, out, sizeof(out));
    assert_string_equal(out, "no host fits: 4 hosts: 2 lack 3072 MiB of free "
                             "1G huge pages on one cell, 1 are not "
                             "monitored, 1 lack the SR-IOV VFs");
    memset(&w, 0, sizeof(w));
    vr_sched_why_format(&w, NULL, out, sizeof(out));
    assert_string_equal(out, "no host fits: 0 hosts");
    w.hosts = 1;
    w.count[VR_F_DEDICATED] = 1;
    vr_sched_why_format(&w, NULL, out, sizeof(out)); /* no request: no detail */
    assert_string_equal(out,
                        "no host fits: 1 host: 1 lack the dedicated CPUs");
    /* truncated, never overrun */
    memset(small, 'x', sizeof(small));
    w.count[VR_F_REQS] = 7;
    vr_sched_why_format(&w, &r, small, 20);
    assert_int_equal(strlen(small), 19);
    assert_int_equal(small[20], 'x');
    assert_true(strncmp(small, "no host fits: 1 hos", 19) == 0);
}

/* The explanation that vr_sched_place gives, from real hosts. */
static void test_explain(void **state)
{
    struct vr_sched s;
    struct vr_host *h[4];
    struct vr_sched_req r;
    struct vr_expr *e;
    struct vr_sched_why why;
    struct vr_sched_plan p;
    struct vr_error err = VR_ERROR_INIT;

    (void)state;
    vr_sched_init(&s, VR_RANK_PACK);
    h[0] = new_host(1, "a", DESKTOP, NULL, NULL);
    h[0]->enabled = false;
    host_set(&s, h[0]);
    refuse(&s, &(struct vr_sched_req){.vm_id = 1, .vcpus = 1,
                                      .memory_mib = 512},
           VR_E_UNAVAILABLE, "no host fits: 1 host: 1 are disabled");
    h[1] = new_host(2, "b", SERVER, "4-7,12-15", NULL);
    h[1]->state = VR_HOST_INIT;
    host_set(&s, h[1]);
    h[2] = new_host(3, "c", QUAD, "0-3,32-35", NULL);
    host_set(&s, h[2]);
    h[3] = new_host(4, "d", ASYM, "0-1,10-11", NULL);
    host_set(&s, h[3]);

    /* the counts add up to the hosts, and vr_sched_why says the same */
    r = req(1, 5, 1024, VR_CPU_CORE);
    assert_int_equal(vr_sched_place(&s, &r, &p, &why, &err), -1);
    assert_int_equal(err.code, VR_E_UNAVAILABLE);
    assert_string_equal(err.msg,
                        "no host fits: 4 hosts: 2 lack 5 free whole cores on "
                        "one cell, 1 are disabled, 1 are not monitored");
    assert_int_equal(why.hosts, 4);
    assert_int_equal(why.count[VR_F_DISABLED], 1);
    assert_int_equal(why.count[VR_F_MONITOR], 1);
    assert_int_equal(why.count[VR_F_DEDICATED], 2);

    e = expr("LABELS has \"ssd\"", true);
    r = req(2, 1, 1024, VR_CPU_SHARED);
    r.requirements = e;
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 4 hosts: 2 fail the requirements, 1 are disabled, "
           "1 are not monitored");
    vr_expr_free(e);
    /* the filters of the fitting count too (one a host that passed) */
    r = req(3, 1, 1024, VR_CPU_SHARED);
    want_pci(&r, "10de:1eb8");
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 4 hosts: 2 lack the PCI devices, 1 are disabled, "
           "1 are not monitored");
    r = req(4, 1, 1u << 22, VR_CPU_SHARED);
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 4 hosts: 2 lack memory, 1 are disabled, 1 are not "
           "monitored");
    /* candidates: the same filters, no decision */
    {
        int64_t ids[4];
        size_t n;
        r = req(5, 2, 1024, VR_CPU_THREAD);
        assert_int_equal(
            vr_sched_candidates(&s, &r, ids, 4, &n, &why, &err), 0);
        assert_int_equal(n, 2);
        assert_int_equal(ids[0], 3);
        assert_int_equal(ids[1], 4);
        assert_int_equal(why.count[VR_F_DISABLED], 1);
        r.vcpus = 5; /* d has 4 dedicated threads */
        assert_int_equal(
            vr_sched_candidates(&s, &r, ids, 4, &n, &why, &err), 0);
        assert_int_equal(n, 1);
        assert_int_equal(ids[0], 3);
        assert_int_equal(why.count[VR_F_DEDICATED], 1);
    }
    for (int i = 0; i < 4; i++)
        free(h[i]);
    vr_sched_release(&s);
}

static void invalid(struct vr_sched *s, const struct vr_sched_req *r,
                    const char *msg)
{
    struct vr_error err = VR_ERROR_INIT;
    assert_int_equal(vr_sched_req_check(r, &err), -1);
    assert_int_equal(err.code, VR_E_INVALID);
    if (msg && strcmp(err.msg, msg) != 0)
        fail_msg("check: got '%s', want '%s'", err.msg, msg);
    refuse(s, r, VR_E_INVALID, msg);
}

static void test_invalid(void **state)
{
    struct vr_sched s;
    struct vr_host *h = new_host(1, "q", QUAD, "0-63", NULL);
    struct vr_sched_req r;
    struct vr_error err = VR_ERROR_INIT;

    (void)state;
    vr_sched_init(&s, VR_RANK_PACK);
    host_set(&s, h);
    r = req(1, 0, 1024, VR_CPU_SHARED);
    invalid(&s, &r, "vcpus must be between 1 and 256");
    r.vcpus = 257;
    invalid(&s, &r, "vcpus must be between 1 and 256");
    r = req(1, 9, 9 * 1024, VR_CPU_THREAD);
    for (int i = 0; i < 8; i++)
        vnode(&r, 1, 1024);
    r.nvnodes = 9;
    invalid(&s, &r, "at most 8 NUMA nodes");
    r = req(1, 4, 2048, VR_CPU_THREAD);
    vnode(&r, 4, 1024);
    vnode(&r, 0, 1024);
    invalid(&s, &r, "NUMA node 1 needs at least one vCPU and some memory");
    r = req(1, 4, 2048, VR_CPU_THREAD);
    vnode(&r, 3, 1024);
    vnode(&r, 2, 1024);
    invalid(&s, &r, "the NUMA nodes hold 5 vCPUs and 2048 MiB; the VM has 4 "
                    "and 2048");
    r.vnodes[1].vcpus = 1;
    r.vnodes[1].memory_mib = 512;
    invalid(&s, &r, "the NUMA nodes hold 4 vCPUs and 1536 MiB; the VM has 4 "
                    "and 2048");
    r = req(1, 1, 2048, VR_CPU_SHARED);
    r.page_kib = 4;
    invalid(&s, &r, "huge pages are 2M or 1G");
    r.page_kib = 2048;
    r.memory_mib = 1025;
    invalid(&s, &r, "memory 1025 MiB is not a whole number of 2M pages");
    r = req(1, 2, 3072, VR_CPU_SHARED);
    r.page_kib = 1048576;
    vnode(&r, 1, 1536);
    vnode(&r, 1, 1536);
    invalid(&s, &r, "memory 1536 MiB is not a whole number of 1G pages");
    r = req(1, 1, 1024, VR_CPU_SHARED);
    for (int i = 0; i < 5; i++)
        want_pci(&r, "10de:1eb8");
    for (int i = 0; i < 4; i++)
        want_sriov(&r, "physnet1");
    invalid(&s, &r, "at most 8 devices");
    r = req(1, 1, 1024, VR_CPU_SHARED);
    r.nsriov = -1;
    invalid(&s, &r, "at most 8 devices");
    r = req(1, 1, 1024, VR_CPU_SHARED);
    r.nhosts = VR_SCHED_MAX_HOSTS_LIST + 1;
    invalid(&s, &r, NULL);
    r = req(1, 1, 1024, (enum vr_cpu_policy)7);
    invalid(&s, &r, NULL);
    /* what a VM holds is marked with its id: it needs one */
    r = req(0, 1, 1024, VR_CPU_THREAD);
    assert_int_equal(vr_sched_req_check(&r, &err), 0);
    refuse(&s, &r, VR_E_INVALID, "a placement needs the VM's id");
    /* candidates check the same way */
    {
        int64_t ids[1];
        size_t n = 9;
        struct vr_sched_why why;
        r = req(1, 0, 1024, VR_CPU_SHARED);
        assert_int_equal(vr_sched_candidates(&s, &r, ids, 1, &n, &why, &err),
                         -1);
        assert_int_equal(err.code, VR_E_INVALID);
        assert_int_equal(n, 0);
    }
    /* valid ones pass, whatever the hosts */
    r = req(1, 256, 4096, VR_CPU_ISOLATE);
    for (int i = 0; i < 8; i++)
        vnode(&r, 32, 512);
    r.page_kib = 2048;
    assert_int_equal(vr_sched_req_check(&r, &err), 0);
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 1 host: 1 cannot fit the NUMA topology on their "
           "cells");
    free(h);
    vr_sched_release(&s);
}

/* PCI specs and CPU lists, the small parsers of vr_sched.h. */
static void test_parsers(void **state)
{
    struct vr_pci_spec sp;
    struct vr_error err = VR_ERROR_INIT;
    char out[64];
    uint8_t bits[16];
    enum vr_cpu_policy pol;
    enum vr_sched_rank rk;
    static const char *const bad[] = {
        "", "8086", "8086:", "8086:15721", "class=", "class=0x", "class=xyz",
        "class=0x1234567", "0000:3b:00", "0000:3b:00.0x", "g086:1572",
    };

    (void)state;
    assert_int_equal(vr_pci_spec_parse("8086:1572", &sp, &err), 0);
    assert_int_equal(sp.vendor, 0x8086);
    assert_int_equal(sp.product, 0x1572);
    vr_pci_spec_format(&sp, out, sizeof(out));
    assert_string_equal(out, "8086:1572");
    assert_int_equal(vr_pci_spec_parse("class=0x02", &sp, &err), 0);
    assert_int_equal(sp.pci_class, 0x020000);
    assert_int_equal(sp.class_mask, 0xff0000);
    /* formatted as written: stored and parsed again, the same spec (a
     * base class stays a base class) */
    vr_pci_spec_format(&sp, out, sizeof(out));
    assert_string_equal(out, "class=0x02");
    assert_int_equal(vr_pci_spec_parse("class=030200", &sp, &err), 0);
    assert_int_equal(sp.pci_class, 0x030200);
    assert_int_equal(sp.class_mask, 0xffffff);
    {
        static const char *const specs[] = {
            "class=0x0", "class=0x03", "class=0x030", "class=0x0302",
            "class=0x03020", "class=0x030200", "class=03", "8086:1572",
            "10de:1EB8", "0000:af:02.1"};
        for (size_t i = 0; i < VR_ARRAY_SIZE(specs); i++) {
            struct vr_pci_spec again;
            assert_int_equal(vr_pci_spec_parse(specs[i], &sp, &err), 0);
            vr_pci_spec_format(&sp, out, sizeof(out));
            assert_int_equal(vr_pci_spec_parse(out, &again, &err), 0);
            if (memcmp(&sp, &again, sizeof(sp)) != 0)
                fail_msg("'%s' formats as '%s', another spec", specs[i],
                         out);
        }
    }
    assert_int_equal(vr_pci_spec_parse("0000:3B:00.1", &sp, &err), 0);
    assert_string_equal(sp.addr, "0000:3b:00.1");
    for (size_t i = 0; i < VR_ARRAY_SIZE(bad); i++) {
        if (vr_pci_spec_parse(bad[i], &sp, &err) == 0)
            fail_msg("'%s' parsed", bad[i]);
        assert_int_equal(err.code, VR_E_INVALID);
    }

    assert_int_equal(vr_cpulist_parse("0-3,8,10-11", bits, 16), 0);
    vr_cpulist_format(bits, 16, out, sizeof(out));
    assert_string_equal(out, "0-3,8,10-11");
    assert_int_equal(vr_cpulist_parse("", bits, 16), 0);
    vr_cpulist_format(bits, 16, out, sizeof(out));
    assert_string_equal(out, "");
    assert_int_equal(vr_cpulist_parse("16", bits, 16), -1);
    assert_int_equal(vr_cpulist_parse("3-1", bits, 16), -1);
    assert_int_equal(vr_cpulist_parse("1,,2", bits, 16), -1);
    assert_int_equal(vr_cpulist_parse("1-", bits, 16), -1);
    assert_int_equal(vr_cpulist_parse(" 1", bits, 16), -1);

    assert_int_equal(vr_cpu_policy_parse("isolate", &pol), 0);
    assert_int_equal(pol, VR_CPU_ISOLATE);
    assert_int_equal(vr_cpu_policy_parse("dedicated", &pol), -1);
    assert_string_equal(vr_cpu_policy_name(VR_CPU_CORE), "core");
    assert_int_equal(vr_sched_rank_parse("striping", &rk), 0);
    assert_int_equal(rk, VR_RANK_STRIPE);
    assert_int_equal(vr_sched_rank_parse("fast", &rk), -1);
}

/* ---- 7. holding and releasing plans, refreshes, JSON */

static void test_hold_release(void **state)
{
    struct vr_sched s;
    struct vr_host *h = new_host(1, "server", SERVER, "0-15", NULL);
    struct vr_sched_plan p1, p2, p3, x;
    struct vr_sched_req r;
    struct vr_error err = VR_ERROR_INIT;
    char *empty, *one, *now;
    uint64_t gen;

    (void)state;
    add_devs(h);
    allow_pci(h, "class=0x03");
    add_pool(h, "physnet1", X710_PF);
    vr_sched_init(&s, VR_RANK_PACK);
    host_set(&s, h);
    empty = usage_text(&s, 1);

    r = req(1, 3, 2048, VR_CPU_CORE);
    r.page_kib = 2048;
    want_pci(&r, "class=0x0302");
    want_sriov(&r, "physnet1");
    vr_strlcpy(r.role_key, "5/web", sizeof(r.role_key));
    p1 = place(&s, &r);
    one = usage_text(&s, 1);
    assert_string_not_equal(one, empty);

    /* release, then hold the same plan: the same usage */
    gen = vr_sched_generation(&s);
    vr_sched_release_plan(&s, &p1, 1);
    assert_true(vr_sched_generation(&s) > gen); /* capacity appeared */
    now = usage_text(&s, 1);
    assert_string_equal(now, empty);
    free(now);
    assert_int_equal(vr_sched_hold(&s, &p1, 1, &err), 0);
    now = usage_text(&s, 1);
    assert_string_equal(now, one);
    free(now);

    /* another VM's plan naming a held thread, or a held device: refused,
     * and nothing of it is held */
    x = p1;
    x.ndevs = 0;
    x.page_kib = 0;
    x.nvnodes = 0;
    x.role_key[0] = '\0';
    x.nheld = 1; /* a sibling held idle */
    x.held[0] = p1.held[1];
    assert_int_equal(vr_sched_hold(&s, &x, 2, &err), -1);
    assert_int_equal(err.code, VR_E_CONFLICT);
    now = usage_text(&s, 1);
    assert_string_equal(now, one);
    free(now);
    memset(&x, 0, sizeof(x));
    x.host_id = 1;
    x.policy = VR_CPU_SHARED;
    x.nvcpus = 1;
    x.vcpu_cpu[0] = -1;
    x.memory_mib = 512;
    x.ndevs = 1;
    vr_strlcpy(x.devs[0].addr, X710_VF0, sizeof(x.devs[0].addr));
    vr_strlcpy(x.devs[0].pool, "physnet1", sizeof(x.devs[0].pool));
    assert_int_equal(vr_sched_hold(&s, &x, 3, &err), -1);
    assert_int_equal(err.code, VR_E_CONFLICT);
    assert_non_null(strstr(err.msg, X710_VF0));
    x.nheld = 1;
    x.held[0] = 99; /* no such CPU */
    vr_strlcpy(x.devs[0].addr, X710_VF1, sizeof(x.devs[0].addr));
    assert_int_equal(vr_sched_hold(&s, &x, 3, &err), -1);
    assert_int_equal(err.code, VR_E_CONFLICT);
    x.host_id = 77;
    assert_int_equal(vr_sched_hold(&s, &x, 3, &err), -1);
    assert_int_equal(err.code, VR_E_NOT_FOUND);
    now = usage_text(&s, 1);
    assert_string_equal(now, one);
    free(now);
    /* the free VF can be held */
    x.host_id = 1;
    x.nheld = 0;
    assert_int_equal(vr_sched_hold(&s, &x, 3, &err), 0);

    /* a plan released twice, or released after its threads went to
     * another VM, takes nothing from that VM */
    r = req(4, 2, 1024, VR_CPU_THREAD);
    p2 = place(&s, &r);
    vr_sched_release_plan(&s, &p2, 4);
    r.vm_id = 5;
    p3 = place(&s, &r);
    assert_int_equal(p3.vcpu_cpu[0], p2.vcpu_cpu[0]); /* the same threads */
    now = usage_text(&s, 1);
    vr_sched_release_plan(&s, &p2, 4); /* stale */
    {
        char *after = usage_text(&s, 1);
        assert_string_equal(after, now);
        free(after);
    }
    free(now);
    r.vm_id = 6;
    p2 = place(&s, &r);
    for (int i = 0; i < p2.nheld; i++)
        for (int j = 0; j < p3.nheld; j++)
            assert_int_not_equal(p2.held[i], p3.held[j]);
    vr_sched_release_plan(&s, &p2, 6);
    vr_sched_release_plan(&s, &p3, 5);
    vr_sched_release_plan(&s, &x, 3);
    vr_sched_release_plan(&s, &p1, 1);
    now = usage_text(&s, 1);
    assert_string_equal(now, empty);
    free(now);
    /* holding what it holds again changes nothing; another plan of the
     * same VM on the host would count it twice */
    assert_int_equal(vr_sched_hold(&s, &p1, 1, &err), 0);
    assert_int_equal(vr_sched_hold(&s, &p1, 1, &err), 0);
    now = usage_text(&s, 1);
    assert_string_equal(now, one);
    free(now);
    x = p1;
    x.memory_mib += 1024;
    assert_int_equal(vr_sched_hold(&s, &x, 1, &err), -1);
    assert_int_equal(err.code, VR_E_CONFLICT);
    /* a VM without an id holds nothing */
    assert_int_equal(vr_sched_hold(&s, &p1, 0, &err), -1);
    assert_int_equal(err.code, VR_E_INVALID);
    vr_sched_release_plan(&s, &p1, 1);
    /* a plan whose hold failed is not released either */
    assert_int_equal(vr_sched_hold(&s, &p1, 1, &err), 0);
    assert_int_equal(vr_sched_hold(&s, &p1, 7, &err), -1);
    vr_sched_release_plan(&s, &p1, 7);
    now = usage_text(&s, 1);
    assert_string_equal(now, one);
    free(now);
    vr_sched_release_plan(&s, &p1, 1);

    free(empty);
    free(one);
    free(h);
    vr_sched_release(&s);
}

/* Free disk that grows by a step (counted from the least it was, so a
 * trickle adds up) is capacity: a create waiting for datastore space is
 * tried again; smaller moves are not. */
static void test_disk_growth_is_capacity(void **state)
{
    struct vr_sched s;
    struct vr_host *h = new_host(1, "desk", DESKTOP, NULL, NULL);
    struct vr_sched_req r = req(1, 1, 512, VR_CPU_SHARED);
    struct vr_sched_plan p;
    struct vr_sched_why why;
    struct vr_error err = VR_ERROR_INIT;
    uint64_t gen;
    const uint64_t step = VR_SCHED_DISK_STEP_MIB;

    (void)state;
    vr_sched_init(&s, VR_RANK_PACK);
    h->caps.disk_free_mib = 1000;
    host_set(&s, h);
    r.disk_mib = 1000 + step;
    assert_int_equal(vr_sched_place(&s, &r, &p, &why, &err), -1);
    assert_non_null(strstr(err.msg, "lack datastore space"));
    gen = vr_sched_generation(&s);

    /* noise, down then up: not capacity */
    h->caps.disk_free_mib = 900;
    host_set(&s, h);
    h->caps.disk_free_mib = 900 + step - 1;
    host_set(&s, h);
    assert_int_equal(vr_sched_generation(&s), gen);
    /* a trickle that adds up to a step above the least: capacity */
    h->caps.disk_free_mib = 900 + step;
    host_set(&s, h);
    assert_true(vr_sched_generation(&s) > gen);
    gen = vr_sched_generation(&s);
    /* counted again from there */
    h->caps.disk_free_mib = 900 + step + step / 2;
    host_set(&s, h);
    assert_int_equal(vr_sched_generation(&s), gen);
    h->caps.disk_free_mib = 900 + 2 * step;
    host_set(&s, h);
    assert_true(vr_sched_generation(&s) > gen);
    /* and now the create fits */
    vr_err_clear(&err);
    assert_int_equal(vr_sched_place(&s, &r, &p, &why, &err), 0);
    assert_int_equal(p.host_id, 1);
    vr_sched_release(&s);
    free(h);
}

/* A refresh keeps what the VMs hold; the generation moves only when what
 * placement reads changed. */
static void test_refresh(void **state)
{
    struct vr_sched s;
    struct vr_host *h = new_host(1, "quad", QUAD, "8-15,40-47", NULL);
    struct vr_host *h2;
    struct vr_sched_plan p1, p2, p3;
    struct vr_sched_req r;
    char *before, *now;
    uint64_t gen;

    (void)state;
    add_devs(h);
    allow_pci(h, "10de:1eb8");
    vr_sched_init(&s, VR_RANK_PACK);
    gen = vr_sched_generation(&s);
    host_set(&s, h);
    assert_true(vr_sched_generation(&s) > gen); /* a new host */
    r = req(1, 4, 8192, VR_CPU_ISOLATE);
    p1 = place(&s, &r);
    r = req(2, 2, 4096, VR_CPU_SHARED);
    r.page_kib = 1048576;
    want_pci(&r, "10de:1eb8");
    vr_strlcpy(r.role_key, "3/db", sizeof(r.role_key));
    p2 = place(&s, &r);
    r = req(3, 2, 4096, VR_CPU_SHARED);
    p3 = place(&s, &r);
    vr_sched_running(&s, 1, 2);
    before = usage_text(&s, 1);

    /* live usage (free memory, free pages) is not capacity */
    gen = vr_sched_generation(&s);
    h2 = vr_calloc(1, sizeof(*h2));
    *h2 = *h;
    h2->caps.free_memory_kib = 12345678;
    h2->caps.cells[0].pages[0].free = 17;
    h2->monitored_at = 1700000000000;
    host_set(&s, h2);
    assert_int_equal(vr_sched_generation(&s), gen);
    now = usage_text(&s, 1);
    assert_string_equal(now, before);
    free(now);

    /* nor is the driver a device is bound to (libvirt rebinds a managed
     * device to vfio-pci while a VM uses it), nor leftovers after the end
     * of a string */
    vr_strlcpy(h2->caps.devs[1].driver, "vfio-pci",
               sizeof(h2->caps.devs[1].driver));
    host_set(&s, h2);
    assert_int_equal(vr_sched_generation(&s), gen);
    vr_strlcpy(h2->conf.dedicated_cpus, "8-15,40-47,99",
               sizeof(h2->conf.dedicated_cpus));
    vr_strlcpy(h2->conf.dedicated_cpus, "8-15,40-47",
               sizeof(h2->conf.dedicated_cpus));
    host_set(&s, h2);
    assert_int_equal(vr_sched_generation(&s), gen);

    /* a label: capacity may have appeared for some VM */
    add_label(h2, "ssd");
    host_set(&s, h2);
    assert_true(vr_sched_generation(&s) > gen);
    gen = vr_sched_generation(&s);
    now = usage_text(&s, 1);
    assert_string_equal(now, before);
    free(now);
    /* the same record again: nothing */
    host_set(&s, h2);
    assert_int_equal(vr_sched_generation(&s), gen);

    /* more dedicated CPUs: the VMs keep theirs, the new ones are free */
    vr_strlcpy(h2->conf.dedicated_cpus, "8-23,40-55",
               sizeof(h2->conf.dedicated_cpus));
    host_set(&s, h2);
    assert_true(vr_sched_generation(&s) > gen);
    assert_free_cpus(&s, 1, 1, "10-15,42-47");
    assert_free_cpus(&s, 1, 2, "16-23,48-55");
    {
        json_t *u = usage(&s, 1);
        assert_int_equal(json_integer_value(json_object_get(u, "vms")), 3);
        assert_int_equal(
            json_integer_value(json_object_get(u, "running_vms")), 2);
        assert_true(json_real_value(json_object_get(u, "shared_vcpus_used")) ==
                    4.0);
        assert_int_equal(
            json_integer_value(json_object_get(u, "memory_mib_used")),
            8192 + 4096);
        json_decref(u);
    }
    assert_int_equal(free_pages(&s, 1, p2.vnodes[0].cell, 1048576), 12);
    /* the role and the device moved over too */
    r = req(4, 1, 1024, VR_CPU_SHARED);
    want_pci(&r, "10de:1eb8");
    refuse(&s, &r, VR_E_UNAVAILABLE, NULL);
    r = req(5, 1, 1024, VR_CPU_SHARED);
    vr_strlcpy(r.role_key, "3/db", sizeof(r.role_key));
    r.affinity = VR_AFF_ANTI;
    r.affinity_hard = true;
    refuse(&s, &r, VR_E_UNAVAILABLE,
           "no host fits: 1 host: 1 break the VM group's anti-affinity");
    /* releasing after the refresh gives everything back */
    vr_sched_release_plan(&s, &p1, 1);
    vr_sched_release_plan(&s, &p2, 2);
    vr_sched_release_plan(&s, &p3, 3);
    assert_free_cpus(&s, 1, 1, "8-15,40-47");
    assert_int_equal(free_pages(&s, 1, 0, 1048576), 16);
    place(&s, &r);

    /* disabled and back: both moves are changes */
    gen = vr_sched_generation(&s);
    h2->enabled = false;
    host_set(&s, h2);
    h2->enabled = true;
    host_set(&s, h2);
    assert_true(vr_sched_generation(&s) >= gen + 1);
    /* an inconsistent configuration is refused, the old view kept */
    {
        struct vr_error err = VR_ERROR_INIT;
        vr_strlcpy(h2->conf.dedicated_cpus, "60-70",
                   sizeof(h2->conf.dedicated_cpus));
        assert_int_equal(vr_sched_host_set(&s, h2, &err), -1);
        assert_int_equal(err.code, VR_E_INVALID);
        assert_free_cpus(&s, 1, 1, "8-15,40-47");
    }
    vr_sched_host_remove(&s, 1);
    assert_null(vr_sched_host_usage(&s, 1));
    refuse(&s, &r, VR_E_UNAVAILABLE, "no host fits: 0 hosts");
    free(before);
    free(h);
    free(h2);
    vr_sched_release(&s);
}

static void json_round_trip(const struct vr_sched_plan *p)
{
    struct vr_sched_plan back;
    struct vr_error err = VR_ERROR_INIT;
    json_t *j = vr_sched_plan_to_json(p), *k;
    char *text = vr_json_dump(j);

    k = json_loads(text, 0, NULL);
    assert_non_null(k);
    assert_int_equal(vr_sched_plan_from_json(&back, k, &err), 0);
    assert_memory_equal(&back, p, sizeof(back));
    json_decref(j);
    json_decref(k);
    free(text);
}

static void test_plan_json(void **state)
{
    struct vr_sched s;
    struct vr_host *h = new_host(1, "server", SERVER, "0-1,8-9", NULL);
    struct vr_sched_plan p;
    struct vr_sched_req r;
    struct vr_error err = VR_ERROR_INIT;
    json_t *j;

    (void)state;
    add_devs(h);
    allow_pci(h, "10de:1eb8");
    add_pool(h, "physnet1", X710_PF);
    vr_sched_init(&s, VR_RANK_PACK);
    host_set(&s, h);

    r = req(1, 2, 1024, VR_CPU_SHARED);
    p = place(&s, &r);
    json_round_trip(&p);
    r = req(2, 2, 3072, VR_CPU_CORE);
    r.page_kib = 1048576;
    want_pci(&r, "10de:1eb8");
    want_sriov(&r, "physnet1");
    r.disk_mib = 20480;
    vr_strlcpy(r.role_key, "12/web", sizeof(r.role_key));
    p = place(&s, &r);
    json_round_trip(&p);
    j = vr_sched_plan_to_json(&p);
    assert_string_equal(json_string_value(json_object_get(j, "cpu_policy")),
                        "core");
    assert_int_equal(json_array_size(json_object_get(j, "held_cpus")), 4);
    assert_int_equal(json_integer_value(json_object_get(j, "hugepage_kib")),
                     1048576);
    assert_string_equal(json_string_value(json_object_get(j, "role")),
                        "12/web");
    json_decref(j);
    r = req(3, 4, 4096, VR_CPU_SHARED);
    vnode(&r, 1, 1024);
    vnode(&r, 3, 3072);
    p = place(&s, &r);
    json_round_trip(&p);

    j = json_pack("{s:I, s:s, s:i}", "host_id", (json_int_t)1, "cpu_policy",
                  "fast", "vcpus", 1);
    assert_int_equal(vr_sched_plan_from_json(&p, j, &err), -1);
    json_decref(j);
    j = json_pack("{s:I, s:s, s:i}", "host_id", (json_int_t)1, "cpu_policy",
                  "thread", "vcpus", 9999);
    assert_int_equal(vr_sched_plan_from_json(&p, j, &err), -1);
    json_decref(j);
    assert_int_equal(vr_sched_plan_from_json(&p, NULL, &err), -1);
    free(h);
    vr_sched_release(&s);
}

/* ---- 8. randomized property test */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static int rn(int n) /* 0 .. n-1 */
{
    return (int)(rnd() % (uint64_t)n);
}

static bool chance(int percent)
{
    return rn(100) < percent;
}

#define MAXCPU 64
#define PMAX_HOSTS 8
#define PMAX_VMS 256

static const char *const label_pool[] = {"ssd", "gpu", "rack=a", "rack=b"};
static const char *const pool_names[] = {"net1", "net2"};
static const char *const role_keys[] = {"1/web", "1/db", "2/web"};

/* A requirement as data, evaluated here against the model (never by
 * vr_expr), and as text for the scheduler. */
enum { RQ_HAS, RQ_HASNOT, RQ_FREEMEM, RQ_HOST, RQ_NOTHOST, RQ_CPUS,
       RQ_FREEDED, RQ_VMS, RQ__LAST };
struct mterm {
    int kind;
    char s[32];
    double x;
};
struct mreqs {
    int nterms;        /* 0: none */
    bool or;           /* terms joined by | (else &) */
    struct mterm t[2];
};

/* The model's view of a host, from its record only. */
struct mhost {
    struct vr_host *rec;
    int ncpu;
    uint8_t ded[MAXCPU];       /* dedicated, not reserved, online */
    int16_t cell[MAXCPU], sock[MAXCPU], core[MAXCPU];
    uint64_t cell_mem[VR_HOST_MAX_CELLS];  /* normal memory, MiB, by index */
    uint64_t mem_cap;
    int nshared;
};

struct mvm {
    int64_t id;
    struct vr_sched_req r;
    struct mreqs reqs;
    struct vr_sched_plan plan;
};

struct model {
    struct vr_sched s;
    int nhosts;
    struct mhost h[PMAX_HOSTS];
    int nvms;
    struct mvm vms[PMAX_VMS];
    int64_t next_vm;
    /* statistics */
    long placed, refused, invalid, released, refreshed;
    long by_policy[VR_CPU__LAST];
    long judged;                /* refusals checked for completeness */
    long with_pages, with_vnodes, with_devs, with_reqs, with_roles, forced;
};

static bool in_list(const char *list, int cpu)
{
    uint8_t bits[VR_HOST_MAX_CPUS];
    /* our own lists: "a,b-c" */
    memset(bits, 0, sizeof(bits));
    for (const char *p = list; *p;) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (*end == '-')
            b = strtol(end + 1, &end, 10);
        for (long i = a; i <= b && i < VR_HOST_MAX_CPUS; i++)
            bits[i] = 1;
        p = *end == ',' ? end + 1 : end;
    }
    return cpu < VR_HOST_MAX_CPUS && bits[cpu];
}

static void list_add(char *list, size_t size, int cpu)
{
    size_t n = strlen(list);
    snprintf(list + n, size - n, "%s%d", n ? "," : "", cpu);
}

static void mhost_derive(struct mhost *m)
{
    const struct vr_host *h = m->rec;
    const struct vr_host_caps *c = &h->caps;
    uint64_t total = c->memory_kib / 1024, pools = 0, normal;

    m->ncpu = 0;
    m->nshared = 0;
    for (int i = 0; i < MAXCPU; i++) {
        m->ded[i] = 0;
        m->cell[i] = m->sock[i] = m->core[i] = -1;
    }
    for (int i = 0; i < c->ncpu_topo; i++) {
        const struct vr_host_cpu *t = &c->cpu_topo[i];
        m->cell[t->id] = t->cell;
        m->sock[t->id] = t->socket;
        m->core[t->id] = t->core;
        if (t->id + 1 > m->ncpu)
            m->ncpu = t->id + 1;
    }
    for (int t = 0; t < m->ncpu; t++) {
        bool d = in_list(h->conf.dedicated_cpus, t);
        bool r = in_list(h->conf.reserved_cpus, t);
        m->ded[t] = d && !r && m->sock[t] >= 0;
        m->nshared += !d && !r && m->sock[t] >= 0;
    }
    for (int i = 0; i < c->ncells; i++) {
        uint64_t pool = 0;
        for (int p = 0; p < c->cells[i].npages; p++)
            pool += c->cells[i].pages[p].total * c->cells[i].pages[p].size_kib /
                    1024;
        pools += pool;
        m->cell_mem[i] = c->cells[i].memory_kib / 1024 - pool;
    }
    normal = total - pools;
    normal = normal > h->conf.reserved_memory_mib
                 ? normal - h->conf.reserved_memory_mib
                 : 0;
    m->mem_cap = (uint64_t)((double)normal *
                            (h->conf.mem_ratio > 0 ? h->conf.mem_ratio : 1));
}

static int cell_idx(const struct mhost *m, int cell_id)
{
    for (int i = 0; i < m->rec->caps.ncells; i++)
        if (m->rec->caps.cells[i].id == cell_id)
            return i;
    return -1;
}

static bool msib(const struct mhost *m, int a, int b)
{
    return m->sock[a] >= 0 && m->sock[a] == m->sock[b] &&
           m->core[a] == m->core[b];
}

static uint64_t pages_of(uint64_t mib, uint32_t page_kib)
{
    return (mib * 1024 + page_kib - 1) / page_kib;
}

static struct mhost *mhost_by_id(struct model *w, int64_t id)
{
    for (int i = 0; i < w->nhosts; i++)
        if (w->h[i].rec->hdr.id == id)
            return &w->h[i];
    return NULL;
}

static const struct vr_host_dev *mdev(const struct mhost *m, const char *addr)
{
    for (int i = 0; i < m->rec->caps.ndevs; i++)
        if (strcmp(m->rec->caps.devs[i].addr, addr) == 0)
            return &m->rec->caps.devs[i];
    return NULL;
}

/* Our own reading of an allow-list entry or request spec. */
static bool mspec_matches(const char *spec, const struct vr_host_dev *d)
{
    unsigned v, p, cls;
    if (strncmp(spec, "class=0x", 8) == 0) {
        size_t digits = strlen(spec + 8);
        sscanf(spec + 8, "%x", &cls);
        return (d->pci_class >> (4 * (6 - digits))) == cls;
    }
    if (strlen(spec) == 9 && sscanf(spec, "%4x:%4x", &v, &p) == 2)
        return d->vendor == v && d->product == p;
    return strcmp(spec, d->addr) == 0;
}

static const char *pool_pf(const struct mhost *m, const char *pool)
{
    for (int i = 0; i < m->rec->conf.npools; i++)
        if (strcmp(m->rec->conf.pools[i].name, pool) == 0)
            return m->rec->conf.pools[i].pf;
    return NULL;
}

static bool in_a_pool(const struct mhost *m, const struct vr_host_dev *d)
{
    for (int i = 0; i < m->rec->conf.npools; i++)
        if (strcmp(m->rec->conf.pools[i].pf, d->addr) == 0 ||
            (d->pf[0] && strcmp(m->rec->conf.pools[i].pf, d->pf) == 0))
            return true;
    return false;
}

static bool allowed(const struct mhost *m, const struct vr_host_dev *d)
{
    for (int i = 0; i < m->rec->conf.npci; i++)
        if (mspec_matches(m->rec->conf.pci[i], d))
            return true;
    return false;
}

/* Live values the model computes from its plans. */
static int held_by(const struct model *w, const struct mhost *m, int t)
{
    for (int v = 0; v < w->nvms; v++) {
        const struct vr_sched_plan *p = &w->vms[v].plan;
        if (p->host_id != m->rec->hdr.id)
            continue;
        for (int i = 0; i < p->nheld; i++)
            if (p->held[i] == t)
                return v;
    }
    return -1;
}

static uint64_t mem_used(const struct model *w, const struct mhost *m)
{
    uint64_t u = 0;
    for (int v = 0; v < w->nvms; v++)
        if (w->vms[v].plan.host_id == m->rec->hdr.id &&
            !w->vms[v].plan.page_kib)
            u += w->vms[v].plan.memory_mib;
    return u;
}

static int vms_on(const struct model *w, const struct mhost *m)
{
    int n = 0;
    for (int v = 0; v < w->nvms; v++)
        n += w->vms[v].plan.host_id == m->rec->hdr.id;
    return n;
}

static int role_on(const struct model *w, const struct mhost *m,
                   const char *key)
{
    int n = 0;
    for (int v = 0; v < w->nvms; v++)
        n += (!m || w->vms[v].plan.host_id == m->rec->hdr.id) &&
             strcmp(w->vms[v].plan.role_key, key) == 0;
    return n;
}

static bool term_true(const struct model *w, const struct mhost *m,
                      const struct mterm *t)
{
    const struct vr_host_conf *c = &m->rec->conf;
    bool has = false;
    int n = 0;

    switch (t->kind) {
    case RQ_HAS:
    case RQ_HASNOT:
        for (int i = 0; i < c->nlabels; i++)
            has = has || strcmp(c->labels[i], t->s) == 0;
        return t->kind == RQ_HAS ? has : !has;
    case RQ_FREEMEM: {
        uint64_t u = mem_used(w, m);
        return (double)(m->mem_cap > u ? m->mem_cap - u : 0) > t->x;
    }
    case RQ_HOST:
        return strcmp(m->rec->hdr.name, t->s) == 0;
    case RQ_NOTHOST:
        return strcmp(m->rec->hdr.name, t->s) != 0;
    case RQ_CPUS:
        return m->ncpu >= t->x;
    case RQ_FREEDED:
        for (int i = 0; i < m->ncpu; i++)
            n += m->ded[i] && held_by(w, m, i) < 0;
        return n >= t->x;
    case RQ_VMS:
        return vms_on(w, m) < t->x;
    }
    return false;
}

static bool mreqs_true(const struct model *w, const struct mhost *m,
                       const struct mreqs *q)
{
    if (!q->nterms)
        return true;
    if (q->nterms == 1)
        return term_true(w, m, &q->t[0]);
    return q->or ? term_true(w, m, &q->t[0]) || term_true(w, m, &q->t[1])
                 : term_true(w, m, &q->t[0]) && term_true(w, m, &q->t[1]);
}

static void term_text(const struct mterm *t, char *out, size_t size)
{
    switch (t->kind) {
    case RQ_HAS:
        snprintf(out, size, "LABELS has \"%s\"", t->s);
        break;
    case RQ_HASNOT:
        snprintf(out, size, "!(LABELS has \"%s\")", t->s);
        break;
    case RQ_FREEMEM:
        snprintf(out, size, "FREE_MEMORY > %.0fM", t->x);
        break;
    case RQ_HOST:
        snprintf(out, size, "HOST = \"%s\"", t->s);
        break;
    case RQ_NOTHOST:
        snprintf(out, size, "HOST != \"%s\"", t->s);
        break;
    case RQ_CPUS:
        snprintf(out, size, "CPUS >= %.0f", t->x);
        break;
    case RQ_FREEDED:
        snprintf(out, size, "FREE_DEDICATED_CPUS >= %.0f", t->x);
        break;
    case RQ_VMS:
        snprintf(out, size, "VMS < %.0f", t->x);
        break;
    }
}

static struct mterm random_term(void)
{
    struct mterm t;
    memset(&t, 0, sizeof(t));
    t.kind = rn(RQ__LAST);
    switch (t.kind) {
    case RQ_HAS:
    case RQ_HASNOT:
        vr_strlcpy(t.s, label_pool[rn(4)], sizeof(t.s));
        break;
    case RQ_HOST:
    case RQ_NOTHOST:
        snprintf(t.s, sizeof(t.s), "h%d", 1 + rn(PMAX_HOSTS));
        break;
    case RQ_FREEMEM:
        t.x = 1024 * (1 + rn(64));
        break;
    case RQ_CPUS:
        t.x = 8 * (1 + rn(8));
        break;
    case RQ_FREEDED:
        t.x = rn(16);
        break;
    case RQ_VMS:
        t.x = 1 + rn(12);
        break;
    }
    return t;
}

/* "0000:bb:ss.f" into a 16-byte address field */
static void pci_addr(char *out, int bus, int slot, int fn)
{
    char t[32];
    snprintf(t, sizeof(t), "0000:%02x:%02x.%x", (unsigned)bus & 0xff,
             (unsigned)slot & 0x1f, (unsigned)fn & 7);
    vr_strlcpy(out, t, 16);
}

static void random_host(struct model *w, int i)
{
    struct mhost *m = &w->h[i];
    char name[16], ded[256] = "", res[256] = "";
    struct vr_host *h;
    struct vr_host_caps *c;
    int mode[MAXCPU];
    static const double ratios[] = {0.5, 1, 2, 4};

    snprintf(name, sizeof(name), "h%d", i + 1);
    h = new_host(i + 1, name, rn(NTOPO), NULL, NULL);
    c = &h->caps;
    m->rec = h;
    if (chance(15)) /* some CPUs offline: cores of fewer threads */
        for (int k = 0; k < c->ncpu_topo; k++)
            if (chance(12))
                c->cpu_topo[k].socket = c->cpu_topo[k].core = -1;
    mhost_derive(m); /* topology only, for the siblings */
    for (int t = 0; t < m->ncpu; t++) {
        int leader = t;
        for (int u = 0; u < t; u++)
            if (msib(m, u, t)) {
                leader = u;
                break;
            }
        if (leader == t) {
            int x = rn(100);
            mode[t] = x < 50 ? 0 : x < 88 ? 1 : 2;
        }
        mode[t] = mode[leader];
        if (mode[t] == 1 || (mode[t] == 2 && t == leader)) {
            list_add(ded, sizeof(ded), t);
            if (chance(3))
                list_add(res, sizeof(res), t); /* both: reserved wins */
        } else if (chance(8)) {
            list_add(res, sizeof(res), t);
        }
    }
    vr_strlcpy(h->conf.dedicated_cpus, ded, sizeof(h->conf.dedicated_cpus));
    vr_strlcpy(h->conf.reserved_cpus, res, sizeof(h->conf.reserved_cpus));
    h->enabled = !chance(8);
    h->state = chance(8) ? VR_HOST_INIT : VR_HOST_MONITORED;
    h->conf.cpu_ratio = ratios[rn(4)];
    h->conf.mem_ratio = chance(30) ? 1.5 : 1;
    h->conf.reserved_memory_mib = (uint64_t)rn(8) * 1024;
    for (int ci = 0; ci < c->ncells; ci++)
        for (int p = 0; p < c->cells[ci].npages; p++)
            c->cells[ci].pages[p].total =
                c->cells[ci].pages[p].size_kib == 2048 ? (uint64_t)rn(5) * 512
                                                       : (uint64_t)rn(9);
    for (int l = 0; l < 4; l++)
        if (chance(40))
            add_label(h, label_pool[l]);
    /* devices: GPUs, and NICs whose VFs may back a pool */
    for (int g = rn(3), k = 0; k < g; k++) {
        struct vr_host_dev *d = &c->devs[c->ndevs++];
        memset(d, 0, sizeof(*d));
        pci_addr(d->addr, 0x10 + k, 0, 0);
        d->vendor = 0x10de;
        d->product = 0x1eb8;
        d->pci_class = 0x030200;
        d->cell = chance(15) ? -1 : (int16_t)c->cells[rn(c->ncells)].id;
    }
    for (int n = rn(3), k = 0; k < n; k++) {
        struct vr_host_dev *pf = &c->devs[c->ndevs++];
        int cell = c->cells[rn(c->ncells)].id;
        memset(pf, 0, sizeof(*pf));
        pci_addr(pf->addr, 0x40 + k, 0, 0);
        pf->vendor = 0x8086;
        pf->product = 0x1572;
        pf->pci_class = 0x020000;
        pf->cell = (int16_t)cell;
        pf->max_vfs = 64;
        for (int v = 0, nv = 1 + rn(3); v < nv; v++) {
            struct vr_host_dev *vf = &c->devs[c->ndevs++];
            memset(vf, 0, sizeof(*vf));
            pci_addr(vf->addr, 0x40 + k, 2, v);
            vf->vendor = 0x8086;
            vf->product = 0x154c;
            vf->pci_class = 0x020000;
            vf->cell = (int16_t)cell;
            pci_addr(vf->pf, 0x40 + k, 0, 0);
        }
        if (k < 2 && chance(70))
            add_pool(h, pool_names[k], pf->addr);
    }
    if (chance(50))
        allow_pci(h, "10de:1eb8");
    if (chance(20))
        allow_pci(h, "class=0x03");
    if (chance(30))
        allow_pci(h, "8086:1572");
    if (chance(30))
        allow_pci(h, "8086:154c");
    if (chance(20))
        allow_pci(h, "0000:10:00.0");
    mhost_derive(m);
    host_set(&w->s, h);
}

static const char *const pci_wants[] = {"10de:1eb8", "class=0x03", "8086:1572",
                                        "8086:154c", "0000:10:00.0",
                                        "0000:40:02.0"};

/* Our own idea of a request that can never be valid. */
static bool mvalid(const struct vr_sched_req *r)
{
    int sv = 0;
    uint64_t sm = 0;

    if (r->vcpus < 1 || r->vcpus > 256 || r->nvnodes < 0 || r->nvnodes > 8)
        return false;
    if ((unsigned)r->policy >= VR_CPU__LAST || r->nhosts < 0 ||
        r->nhosts > VR_SCHED_MAX_HOSTS_LIST)
        return false;
    for (int i = 0; i < r->nvnodes; i++) {
        if (r->vnodes[i].vcpus < 1 || !r->vnodes[i].memory_mib)
            return false;
        sv += r->vnodes[i].vcpus;
        sm += r->vnodes[i].memory_mib;
        if (r->page_kib && (r->vnodes[i].memory_mib * 1024) % r->page_kib)
            return false;
    }
    if (r->nvnodes && (sv != r->vcpus || sm != r->memory_mib))
        return false;
    if (r->page_kib && r->page_kib != 2048 && r->page_kib != 1048576)
        return false;
    if (r->page_kib && (r->memory_mib * 1024) % r->page_kib)
        return false;
    return r->npci >= 0 && r->nsriov >= 0 && r->npci + r->nsriov <= 8;
}

static void random_vm(struct model *w, struct mvm *vm)
{
    struct vr_sched_req *r = &vm->r;
    int x = rn(100);

    memset(vm, 0, sizeof(*vm));
    vm->id = ++w->next_vm;
    r->vm_id = vm->id;
    r->policy = x < 40 ? VR_CPU_SHARED
                : x < 60 ? VR_CPU_THREAD
                : x < 80 ? VR_CPU_CORE
                         : VR_CPU_ISOLATE;
    r->vcpus = chance(10) ? 1 + rn(16) : 1 + rn(6);
    r->memory_mib = 1024 * (uint64_t)(1 + rn(8));
    if (chance(20) && r->vcpus >= 2) {
        int n = 2 + rn(r->vcpus >= 3 ? 2 : 1), left = r->vcpus - n;
        r->memory_mib = 0;
        for (int i = 0; i < n; i++) {
            int extra = i == n - 1 ? left : rn(left + 1);
            left -= extra;
            vnode(r, 1 + extra, 1024 * (uint64_t)(1 + rn(4)));
            r->memory_mib += r->vnodes[i].memory_mib;
        }
    }
    x = rn(100);
    if (x < 20)
        r->page_kib = 2048;
    else if (x < 28)
        r->page_kib = 1048576;
    else if (x < 35 && !r->nvnodes)
        r->memory_mib = 512;
    if (chance(15))
        for (int n = 1 + rn(2); n > 0; n--)
            want_pci(r, pci_wants[rn(VR_ARRAY_SIZE(pci_wants))]);
    if (chance(10))
        want_sriov(r, pool_names[rn(2)]);
    if (chance(25)) {
        vm->reqs.nterms = 1 + rn(2);
        vm->reqs.or = chance(50);
        for (int i = 0; i < vm->reqs.nterms; i++)
            vm->reqs.t[i] = random_term();
    }
    if (chance(10)) {
        r->nhosts = 1 + rn(3);
        for (int i = 0; i < r->nhosts; i++)
            r->hosts[i] = chance(5) ? 99 : 1 + rn(w->nhosts);
        r->force = chance(25);
    }
    if (chance(20)) {
        vr_strlcpy(r->role_key, role_keys[rn(3)], sizeof(r->role_key));
        r->affinity = chance(50) ? VR_AFF_AFFINE : VR_AFF_ANTI;
        r->affinity_hard = chance(50);
    }
    if (chance(5))
        r->disk_mib = 1024;
    if (chance(3)) {
        switch (rn(5)) {
        case 0:
            r->vcpus = 0;
            break;
        case 1:
            r->vcpus++;
            if (!r->nvnodes)
                vnode(r, r->vcpus - 1, r->memory_mib);
            break;
        case 2:
            r->page_kib = 2048;
            r->memory_mib += 1;
            r->nvnodes = 0;
            break;
        case 3:
            r->npci = 5;
            r->nsriov = 4;
            for (int i = 0; i < 5; i++)
                vr_pci_spec_parse("10de:1eb8", &r->pci[i], NULL);
            for (int i = 0; i < 4; i++)
                vr_strlcpy(r->sriov[i], "net1", sizeof(r->sriov[0]));
            break;
        default:
            r->nhosts = VR_SCHED_MAX_HOSTS_LIST + 3;
            break;
        }
    }
}

/* A refusal names a filter: its text, or for the dedicated CPUs and huge
 * pages what the VM lacks ("lack 2 free whole cores on one cell"). */
static bool mentions_filter(const char *msg)
{
    static const char *const details[] = {
        " free dedicated thread", " free whole core", "lack free whole cores "
        "for ", " huge pages"};
    for (int f = 0; f < VR_F__LAST; f++)
        if (strstr(msg, filter_texts[f]))
            return true;
    for (size_t i = 0; i < VR_ARRAY_SIZE(details); i++)
        if (strstr(msg, details[i]))
            return true;
    return false;
}

static uint64_t bound_in(const struct model *w, const struct mhost *m,
                         int cell_id)
{
    uint64_t b = 0;
    for (int v = 0; v < w->nvms; v++) {
        const struct vr_sched_plan *p = &w->vms[v].plan;
        if (p->host_id != m->rec->hdr.id || p->page_kib)
            continue;
        for (int n = 0; n < p->nvnodes; n++)
            if (p->vnodes[n].cell == cell_id)
                b += p->vnodes[n].memory_mib;
    }
    return b;
}

static double shared_used(const struct model *w, const struct mhost *m)
{
    double u = 0;
    for (int v = 0; v < w->nvms; v++)
        if (w->vms[v].plan.host_id == m->rec->hdr.id &&
            w->vms[v].plan.policy == VR_CPU_SHARED)
            u += w->vms[v].plan.nvcpus;
    return u;
}

/* A free device of host `m` for want `i` of `r` (PCI or SR-IOV), by our
 * own reading of the configuration. */
static bool free_device_for(const struct model *w, const struct mhost *m,
                            const struct vr_sched_req *r, int i)
{
    const struct vr_host_caps *c = &m->rec->caps;
    char spec[32];

    if (i < r->npci)
        vr_pci_spec_format(&r->pci[i], spec, sizeof(spec));
    for (int k = 0; k < c->ndevs; k++) {
        const struct vr_host_dev *d = &c->devs[k];
        bool ok, taken = false;
        if (i < r->npci) {
            ok = allowed(m, d) && !in_a_pool(m, d) && mspec_matches(spec, d);
        } else {
            const char *pf = pool_pf(m, r->sriov[i - r->npci]);
            ok = pf && d->pf[0] && strcmp(d->pf, pf) == 0;
        }
        for (int v = 0; ok && v < w->nvms; v++) {
            const struct vr_sched_plan *p = &w->vms[v].plan;
            for (int j = 0; p->host_id == m->rec->hdr.id && j < p->ndevs; j++)
                taken = taken || strcmp(p->devs[j].addr, d->addr) == 0;
        }
        if (ok && !taken)
            return true;
    }
    return false;
}

/* For a request the model can judge (no requirements, role, host list,
 * guest nodes or disk; at most one device): is there a host that can take
 * it?  Then a refusal is a bug. */
static bool judgeable(const struct mvm *vm)
{
    const struct vr_sched_req *r = &vm->r;
    return !vm->reqs.nterms && !r->role_key[0] && !r->nhosts &&
           !r->nvnodes && !r->disk_mib && r->npci + r->nsriov <= 1;
}

static bool fits_somewhere(const struct model *w, const struct vr_sched_req *r)
{
    for (int i = 0; i < w->nhosts; i++) {
        const struct mhost *m = &w->h[i];
        const struct vr_host_caps *c = &m->rec->caps;
        bool cpu_ok = true;
        if (!m->rec->enabled || m->rec->state != VR_HOST_MONITORED)
            continue;
        if (!r->page_kib && mem_used(w, m) + r->memory_mib > m->mem_cap)
            continue;
        if (r->npci + r->nsriov && !free_device_for(w, m, r, 0))
            continue;
        if (r->policy == VR_CPU_SHARED)
            cpu_ok = shared_used(w, m) + r->vcpus <=
                     m->nshared * m->rec->conf.cpu_ratio + 1e-9;
        if (!cpu_ok)
            continue;
        if (r->policy == VR_CPU_SHARED && !r->page_kib)
            return true; /* floats: no cell */
        /* one cell with the CPUs and the memory or pages */
        for (int ci = 0; ci < c->ncells; ci++) {
            int id = c->cells[ci].id, threads = 0, cores = 0, core_thr = 0;
            int shared = 0;
            if (r->page_kib) {
                uint64_t total = 0, used = 0;
                for (int p = 0; p < c->cells[ci].npages; p++)
                    if (c->cells[ci].pages[p].size_kib == r->page_kib)
                        total = c->cells[ci].pages[p].total;
                for (int v = 0; v < w->nvms; v++) {
                    const struct vr_sched_plan *p = &w->vms[v].plan;
                    for (int n = 0; p->host_id == m->rec->hdr.id &&
                                    p->page_kib == r->page_kib &&
                                    n < p->nvnodes; n++)
                        if (p->vnodes[n].cell == id)
                            used += pages_of(p->vnodes[n].memory_mib,
                                             p->page_kib);
                }
                if (total - used < pages_of(r->memory_mib, r->page_kib))
                    continue;
            } else if (bound_in(w, m, id) + r->memory_mib > m->cell_mem[ci]) {
                continue;
            }
            for (int t = 0; t < m->ncpu; t++) {
                bool whole = true;
                int n = 0;
                if (m->cell[t] != id || m->sock[t] < 0)
                    continue;
                shared += !in_list(m->rec->conf.dedicated_cpus, t) &&
                          !in_list(m->rec->conf.reserved_cpus, t);
                threads += m->ded[t] && held_by(w, m, t) < 0;
                for (int u = 0; u < m->ncpu; u++)
                    if (msib(m, t, u)) {
                        n++;
                        whole = whole && m->ded[u] && held_by(w, m, u) < 0;
                        if (u < t)
                            whole = false; /* count a core once */
                    }
                cores += whole;
                core_thr += whole ? n : 0;
            }
            if (r->policy == VR_CPU_SHARED && shared > 0)
                return true;
            if (r->policy == VR_CPU_THREAD && threads >= r->vcpus)
                return true;
            if (r->policy == VR_CPU_CORE && cores >= r->vcpus)
                return true;
            if (r->policy == VR_CPU_ISOLATE && core_thr >= r->vcpus)
                return true;
        }
    }
    return false;
}

static bool plan_holds(const struct vr_sched_plan *p, int t)
{
    for (int i = 0; i < p->nheld; i++)
        if (p->held[i] == t)
            return true;
    return false;
}

#define PCHECK(cond, fmt, ...)                                             \
    do {                                                                   \
        if (!(cond))                                                       \
            fail_msg("seed %llu step %ld: " fmt, (unsigned long long)seed, \
                     step, ##__VA_ARGS__);                                 \
    } while (0)

static uint64_t seed;
static long step;

/* "pins 4,12,5 held 4,5,12,13 nodes 1:0+3" for messages */
static const char *plan_text(const struct vr_sched_plan *p, char *out,
                             size_t size)
{
    size_t n = (size_t)snprintf(out, size, "pins");
    for (int i = 0; i < p->nvcpus && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%d", i ? "," : " ",
                              p->vcpu_cpu[i]);
    for (int i = 0; i < p->nheld && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%d",
                              i ? "," : " held ", p->held[i]);
    for (int i = 0; i < p->nvnodes && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%d:%d+%d",
                              i ? " " : " nodes ", p->vnodes[i].cell,
                              p->vnodes[i].first_vcpu, p->vnodes[i].nvcpus);
    return out;
}

/* Everything the plans of one host must satisfy, computed from the plans
 * and the host record alone. */
static void check_host(const struct model *w, const struct mhost *m)
{
    const struct vr_host_caps *c = &m->rec->caps;
    int owner[MAXCPU];
    uint64_t pages[VR_HOST_MAX_CELLS][2], bound[VR_HOST_MAX_CELLS], mem = 0;
    int dev_owner[VR_HOST_MAX_DEVS];
    double sv = 0;
    char text[512];

    memset(pages, 0, sizeof(pages));
    memset(bound, 0, sizeof(bound));
    for (int t = 0; t < MAXCPU; t++)
        owner[t] = -1;
    for (int d = 0; d < VR_HOST_MAX_DEVS; d++)
        dev_owner[d] = -1;
    for (int v = 0; v < w->nvms; v++) {
        const struct vr_sched_plan *p = &w->vms[v].plan;
        int64_t id = w->vms[v].id;
        int vsum = 0;
        uint64_t msum = 0;

        if (p->host_id != m->rec->hdr.id)
            continue;
        /* threads: existing, online, held once */
        for (int i = 0; i < p->nheld; i++) {
            int t = p->held[i];
            PCHECK(t >= 0 && t < m->ncpu && m->sock[t] >= 0,
                   "vm %lld holds CPU %d", (long long)id, t);
            PCHECK(owner[t] < 0, "CPU %d of host %lld held by vms %lld and "
                   "%lld", t, (long long)m->rec->hdr.id,
                   (long long)w->vms[owner[t]].id, (long long)id);
            owner[t] = v;
        }
        if (p->policy == VR_CPU_SHARED) {
            PCHECK(p->nheld == 0, "shared vm %lld holds CPUs", (long long)id);
            for (int i = 0; i < p->nvcpus; i++)
                PCHECK(p->vcpu_cpu[i] == -1, "shared vm %lld pinned",
                       (long long)id);
            sv += p->nvcpus;
        } else {
            for (int i = 0; i < p->nvcpus; i++) {
                int t = p->vcpu_cpu[i];
                PCHECK(t >= 0 && t < m->ncpu, "vm %lld vCPU %d on %d",
                       (long long)id, i, t);
                PCHECK(m->ded[t], "vm %lld vCPU %d on CPU %d, not dedicated "
                       "(dedicated '%s', reserved '%s')", (long long)id, i,
                       t, m->rec->conf.dedicated_cpus,
                       m->rec->conf.reserved_cpus);
                PCHECK(plan_holds(p, t), "vm %lld pins CPU %d it does not "
                       "hold", (long long)id, t);
                for (int j = 0; j < i; j++) {
                    PCHECK(p->vcpu_cpu[j] != t, "vm %lld: two vCPUs on %d",
                           (long long)id, t);
                    if (p->policy == VR_CPU_CORE)
                        PCHECK(!msib(m, p->vcpu_cpu[j], t),
                               "core vm %lld: vCPUs on siblings %d and %d",
                               (long long)id, p->vcpu_cpu[j], t);
                }
            }
            if (p->policy == VR_CPU_THREAD)
                PCHECK(p->nheld == p->nvcpus, "thread vm %lld holds %d",
                       (long long)id, p->nheld);
            if (p->policy == VR_CPU_CORE || p->policy == VR_CPU_ISOLATE) {
                /* held = exactly the threads of the vCPUs' cores */
                int cores = 0;
                for (int i = 0; i < p->nvcpus; i++)
                    for (int s = 0; s < m->ncpu; s++)
                        if (msib(m, p->vcpu_cpu[i], s))
                            PCHECK(plan_holds(p, s),
                                   "vm %lld (%s): sibling %d of its CPU %d "
                                   "not held",
                                   (long long)id, vr_cpu_policy_name(p->policy),
                                   s, p->vcpu_cpu[i]);
                for (int i = 0; i < p->nheld; i++) {
                    bool mine = false;
                    for (int k = 0; k < p->nvcpus; k++)
                        mine = mine || msib(m, p->vcpu_cpu[k], p->held[i]);
                    PCHECK(mine, "vm %lld holds %d, no vCPU's core",
                           (long long)id, p->held[i]);
                }
                for (int i = 0; i < p->nheld; i++) {
                    bool first = true;
                    for (int k = 0; k < i; k++)
                        first = first && !msib(m, p->held[k], p->held[i]);
                    cores += first;
                }
                if (p->policy == VR_CPU_CORE)
                    PCHECK(cores == p->nvcpus, "core vm %lld: %d cores",
                           (long long)id, cores);
                /* isolate: the vCPUs of each node fill whole cores of its
                 * cell: at most one of them has idle threads (on
                 * homogeneous cores: ceil(vCPUs / threads a core) cores) */
                for (int n = 0; p->policy == VR_CPU_ISOLATE && n < p->nvnodes;
                     n++) {
                    int a0 = p->vnodes[n].first_vcpu, nv = p->vnodes[n].nvcpus;
                    int used = 0, partial = 0, per = 1, least = 1 << 20;
                    for (int i = a0; i < a0 + nv; i++) {
                        bool first = true;
                        int k = 0, busy = 0;
                        for (int j = a0; j < i; j++)
                            first = first && !msib(m, p->vcpu_cpu[j],
                                                   p->vcpu_cpu[i]);
                        if (!first)
                            continue;
                        used++;
                        for (int t = 0; t < m->ncpu; t++)
                            k += msib(m, p->vcpu_cpu[i], t);
                        for (int j = a0; j < a0 + nv; j++)
                            busy += msib(m, p->vcpu_cpu[j], p->vcpu_cpu[i]);
                        partial += busy < k;
                        per = k > per ? k : per;
                        least = k < least ? k : least;
                    }
                    PCHECK(partial <= 1 &&
                               (least != per || used == (nv + per - 1) / per),
                           "isolate vm %lld node %d: %d cores (%d partly "
                           "idle) for %d vCPUs (%s) on host %s",
                           (long long)id, n, used, partial, nv,
                           plan_text(p, text, sizeof(text)),
                           m->rec->hdr.name);
                }
            }
        }
        /* nodes: distinct cells, the vCPUs and memory add up */
        PCHECK(p->nvnodes >= (p->policy != VR_CPU_SHARED || p->page_kib ||
                              w->vms[v].r.nvnodes ? 1 : 0),
               "vm %lld binds no cell", (long long)id);
        for (int n = 0; n < p->nvnodes; n++) {
            int ci = cell_idx(m, p->vnodes[n].cell);
            PCHECK(ci >= 0, "vm %lld on cell %d", (long long)id,
                   p->vnodes[n].cell);
            for (int k = 0; k < n; k++)
                PCHECK(p->vnodes[k].cell != p->vnodes[n].cell,
                       "vm %lld: two nodes on cell %d", (long long)id,
                       p->vnodes[n].cell);
            PCHECK(p->vnodes[n].first_vcpu == vsum, "vm %lld node %d",
                   (long long)id, n);
            for (int i = vsum; p->policy != VR_CPU_SHARED &&
                               i < vsum + p->vnodes[n].nvcpus; i++)
                PCHECK(m->cell[p->vcpu_cpu[i]] == p->vnodes[n].cell,
                       "vm %lld vCPU %d on CPU %d outside its cell %d",
                       (long long)id, i, p->vcpu_cpu[i], p->vnodes[n].cell);
            vsum += p->vnodes[n].nvcpus;
            msum += p->vnodes[n].memory_mib;
            if (p->page_kib)
                pages[ci][p->page_kib == 2048 ? 0 : 1] +=
                    pages_of(p->vnodes[n].memory_mib, p->page_kib);
            else
                bound[ci] += p->vnodes[n].memory_mib;
        }
        if (p->nvnodes)
            PCHECK(vsum == p->nvcpus && msum == p->memory_mib,
                   "vm %lld: nodes hold %d vCPUs, %llu MiB", (long long)id,
                   vsum, (unsigned long long)msum);
        if (!p->page_kib)
            mem += p->memory_mib;
        /* devices: once, allowed, of the right pool */
        for (int d = 0; d < p->ndevs; d++) {
            int k;
            const struct vr_host_dev *hd = NULL;
            for (k = 0; k < c->ndevs; k++)
                if (strcmp(c->devs[k].addr, p->devs[d].addr) == 0) {
                    hd = &c->devs[k];
                    break;
                }
            PCHECK(hd, "vm %lld: device %s", (long long)id, p->devs[d].addr);
            PCHECK(dev_owner[k] < 0, "device %s held by vms %lld and %lld",
                   hd->addr, (long long)w->vms[dev_owner[k]].id,
                   (long long)id);
            dev_owner[k] = v;
            if (p->devs[d].pool[0]) {
                const char *pf = pool_pf(m, p->devs[d].pool);
                PCHECK(pf && strcmp(hd->pf, pf) == 0,
                       "vm %lld: %s is no VF of pool %s", (long long)id,
                       hd->addr, p->devs[d].pool);
            } else {
                PCHECK(allowed(m, hd) && !in_a_pool(m, hd),
                       "vm %lld: device %s may not be given", (long long)id,
                       hd->addr);
            }
        }
    }
    for (int ci = 0; ci < c->ncells; ci++) {
        for (int p = 0; p < c->cells[ci].npages; p++) {
            int k = c->cells[ci].pages[p].size_kib == 2048 ? 0 : 1;
            PCHECK(pages[ci][k] <= c->cells[ci].pages[p].total,
                   "host %lld cell %d: %llu pages of %u KiB used of %llu",
                   (long long)m->rec->hdr.id, c->cells[ci].id,
                   (unsigned long long)pages[ci][k],
                   c->cells[ci].pages[p].size_kib,
                   (unsigned long long)c->cells[ci].pages[p].total);
            pages[ci][k] = 0;
        }
        PCHECK(!pages[ci][0] && !pages[ci][1], "host %lld cell %d: pages of "
               "a size it has no pool of", (long long)m->rec->hdr.id,
               c->cells[ci].id);
        PCHECK(bound[ci] <= m->cell_mem[ci], "host %lld cell %d: %llu MiB "
               "bound of %llu", (long long)m->rec->hdr.id, c->cells[ci].id,
               (unsigned long long)bound[ci],
               (unsigned long long)m->cell_mem[ci]);
    }
    PCHECK(mem <= m->mem_cap, "host %lld: %llu MiB of %llu",
           (long long)m->rec->hdr.id, (unsigned long long)mem,
           (unsigned long long)m->mem_cap);
    PCHECK(sv <= m->nshared * m->rec->conf.cpu_ratio + 1e-9,
           "host %lld: %.1f shared vCPUs", (long long)m->rec->hdr.id, sv);
}

/* The scheduler's own count of free dedicated CPUs and pages agrees with
 * the plans. */
static void check_usage(struct model *w, const struct mhost *m)
{
    json_t *u = vr_sched_host_usage(&w->s, m->rec->hdr.id);
    const json_t *cell;
    size_t i;

    PCHECK(u, "host %lld unknown", (long long)m->rec->hdr.id);
    json_array_foreach(json_object_get(u, "cells"), i, cell) {
        int id = (int)json_integer_value(json_object_get(cell, "id"));
        int n = 0;
        for (int t = 0; t < m->ncpu; t++)
            n += m->cell[t] == id && m->ded[t] && held_by(w, m, t) < 0;
        PCHECK(json_integer_value(json_object_get(cell, "free_threads")) == n,
               "host %lld cell %d: scheduler says %lld free threads, the "
               "plans leave %d",
               (long long)m->rec->hdr.id, id,
               (long long)json_integer_value(
                   json_object_get(cell, "free_threads")),
               n);
        PCHECK((uint64_t)json_integer_value(
                   json_object_get(cell, "bound_memory_mib")) ==
                   bound_in(w, m, id),
               "host %lld cell %d: bound memory", (long long)m->rec->hdr.id,
               id);
    }
    PCHECK((uint64_t)json_integer_value(json_object_get(u, "memory_mib_used")) ==
               mem_used(w, m),
           "host %lld: memory used", (long long)m->rec->hdr.id);
    PCHECK(json_integer_value(json_object_get(u, "vms")) == vms_on(w, m),
           "host %lld: %lld vms, the plans say %d", (long long)m->rec->hdr.id,
           (long long)json_integer_value(json_object_get(u, "vms")),
           vms_on(w, m));
    json_decref(u);
}

static void check_all(struct model *w, bool usage_too)
{
    for (int i = 0; i < w->nhosts; i++) {
        check_host(w, &w->h[i]);
        if (usage_too)
            check_usage(w, &w->h[i]);
    }
}

static void compile_vm(const struct mvm *vm, struct vr_sched_req *r,
                       struct vr_expr **reqs, struct vr_expr **rank)
{
    char text[256] = "", t[96];

    *r = vm->r;
    *reqs = *rank = NULL;
    for (int i = 0; i < vm->reqs.nterms; i++) {
        term_text(&vm->reqs.t[i], t, sizeof(t));
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s(%s)",
                 i ? (vm->reqs.or ? " | " : " & ") : "", t);
    }
    if (text[0])
        *reqs = expr(text, true);
    r->requirements = *reqs;
    if (vm->id % 10 == 3)
        *rank = expr(vm->id % 20 == 3 ? "-RUNNING_VMS" : "FREE_CPU - VMS",
                     false);
    r->rank = *rank;
}

static void step_place(struct model *w)
{
    struct mvm *vm = &w->vms[w->nvms];
    struct vr_sched_req r;
    struct vr_expr *reqs, *rank;
    struct vr_sched_plan p;
    struct vr_sched_why why;
    struct vr_error err = VR_ERROR_INIT;
    bool valid, plain;
    int rc;

    random_vm(w, vm);
    valid = mvalid(&vm->r);
    compile_vm(vm, &r, &reqs, &rank);
    rc = vr_sched_place(&w->s, &r, &p, &why, &err);
    vr_expr_free(reqs);
    vr_expr_free(rank);
    plain = judgeable(vm);
    if (rc < 0) {
        if (!valid) {
            PCHECK(err.code == VR_E_INVALID, "invalid vm %lld: %s",
                   (long long)vm->id, err.msg);
            w->invalid++;
            return;
        }
        PCHECK(err.code == VR_E_UNAVAILABLE ||
                   (err.code == VR_E_NOT_FOUND && r.force),
               "vm %lld: error %d: %s", (long long)vm->id, err.code, err.msg);
        if (err.code == VR_E_UNAVAILABLE)
            PCHECK(mentions_filter(err.msg), "vm %lld: '%s' names no filter",
                   (long long)vm->id, err.msg);
        PCHECK(!plain || !fits_somewhere(w, &r),
               "vm %lld (%s, %d vCPUs, %llu MiB) refused but fits: %s",
               (long long)vm->id, vr_cpu_policy_name(r.policy), r.vcpus,
               (unsigned long long)r.memory_mib, err.msg);
        w->refused++;
        w->judged += plain;
        return;
    }
    PCHECK(valid, "invalid vm %lld placed", (long long)vm->id);
    {
        const struct mhost *m = mhost_by_id(w, p.host_id);
        PCHECK(m, "vm %lld on unknown host %lld", (long long)vm->id,
               (long long)p.host_id);
        if (r.force) {
            PCHECK(p.host_id == r.hosts[0], "forced vm %lld elsewhere",
                   (long long)vm->id);
            w->forced++;
        } else {
            bool in = !r.nhosts;
            for (int i = 0; i < r.nhosts; i++)
                in = in || r.hosts[i] == p.host_id;
            PCHECK(in, "vm %lld outside its host list", (long long)vm->id);
            PCHECK(m->rec->enabled && m->rec->state == VR_HOST_MONITORED,
                   "vm %lld on a disabled or unmonitored host",
                   (long long)vm->id);
            PCHECK(mreqs_true(w, m, &vm->reqs),
                   "vm %lld on host %s against its requirements",
                   (long long)vm->id, m->rec->hdr.name);
            if (r.role_key[0] && r.affinity_hard &&
                r.affinity == VR_AFF_AFFINE && role_on(w, NULL, r.role_key))
                PCHECK(role_on(w, m, r.role_key) > 0,
                       "vm %lld breaks hard affinity", (long long)vm->id);
            if (r.role_key[0] && r.affinity_hard && r.affinity == VR_AFF_ANTI)
                PCHECK(role_on(w, m, r.role_key) == 0,
                       "vm %lld breaks hard anti-affinity", (long long)vm->id);
        }
        /* the plan is the request's */
        PCHECK(p.policy == r.policy && p.nvcpus == r.vcpus &&
                   p.memory_mib == r.memory_mib && p.page_kib == r.page_kib &&
                   p.disk_mib == r.disk_mib &&
                   strcmp(p.role_key, r.role_key) == 0 &&
                   p.ndevs == r.npci + r.nsriov,
               "vm %lld: plan differs from the request", (long long)vm->id);
        for (int i = 0; i < r.nvnodes; i++)
            PCHECK(p.nvnodes == r.nvnodes &&
                       p.vnodes[i].nvcpus == r.vnodes[i].vcpus &&
                       p.vnodes[i].memory_mib == r.vnodes[i].memory_mib,
                   "vm %lld: node %d differs", (long long)vm->id, i);
        for (int i = 0; i < r.nsriov; i++)
            PCHECK(strcmp(p.devs[r.npci + i].pool, r.sriov[i]) == 0,
                   "vm %lld: VF pool", (long long)vm->id);
        for (int i = 0; i < r.npci; i++) {
            char spec[32];
            vr_pci_spec_format(&r.pci[i], spec, sizeof(spec));
            PCHECK(mspec_matches(spec, mdev(m, p.devs[i].addr)),
                   "vm %lld: device %s is no %s", (long long)vm->id,
                   p.devs[i].addr, spec);
        }
    }
    vm->plan = p;
    w->nvms++;
    w->placed++;
    w->by_policy[r.policy]++;
    w->with_pages += r.page_kib != 0;
    w->with_vnodes += r.nvnodes != 0;
    w->with_devs += p.ndevs != 0;
    w->with_reqs += vm->reqs.nterms != 0;
    w->with_roles += r.role_key[0] != 0;
}

static void step_release(struct model *w)
{
    int v = rn(w->nvms);
    struct mvm *vm = &w->vms[v];
    uint64_t gen = vr_sched_generation(&w->s);

    vr_sched_release_plan(&w->s, &vm->plan, vm->id);
    PCHECK(vr_sched_generation(&w->s) > gen, "release: same generation");
    if (chance(10)) /* a stale second release changes nothing */
        vr_sched_release_plan(&w->s, &vm->plan, vm->id);
    *vm = w->vms[--w->nvms];
    w->released++;
}

/* Release a plan and hold it again (a restart), through its JSON. */
static void step_rehold(struct model *w)
{
    struct mvm *vm = &w->vms[rn(w->nvms)];
    struct vr_sched_plan back;
    struct vr_error err = VR_ERROR_INIT;
    json_t *j = vr_sched_plan_to_json(&vm->plan);

    PCHECK(vr_sched_plan_from_json(&back, j, &err) == 0, "from_json: %s",
           err.msg);
    json_decref(j);
    PCHECK(memcmp(&back, &vm->plan, sizeof(back)) == 0,
           "vm %lld: JSON round trip", (long long)vm->id);
    vr_sched_release_plan(&w->s, &vm->plan, vm->id);
    PCHECK(vr_sched_hold(&w->s, &back, vm->id, &err) == 0,
           "vm %lld: hold again: %s", (long long)vm->id, err.msg);
    /* and nobody else may hold it now */
    if (vm->plan.nheld || vm->plan.ndevs)
        PCHECK(vr_sched_hold(&w->s, &back, vm->id + 100000, &err) < 0,
               "vm %lld: plan held twice", (long long)vm->id);
}

static void step_refresh(struct model *w)
{
    struct mhost *m = &w->h[rn(w->nhosts)];
    uint64_t gen = vr_sched_generation(&w->s);
    bool change = chance(30);

    m->rec->caps.free_memory_kib = rnd() % (1ULL << 30);
    if (change) {
        if (m->rec->conf.nlabels && chance(50))
            m->rec->conf.nlabels--;
        else if (m->rec->conf.nlabels < VR_HOST_MAX_LABELS)
            add_label(m->rec, label_pool[rn(4)]);
    }
    host_set(&w->s, m->rec);
    if (change)
        PCHECK(vr_sched_generation(&w->s) > gen, "a label: no new generation");
    else
        PCHECK(vr_sched_generation(&w->s) == gen,
               "a refresh without change: new generation");
    w->refreshed++;
}

static void test_property(void **state)
{
    const char *env = getenv("VIREO_SCHED_SEED");
    const char *renv = getenv("VIREO_SCHED_ROUNDS");
    int rounds = renv ? atoi(renv) : 480;
    struct model *w = vr_calloc(1, sizeof(*w));
    long hosts = 0;

    (void)state;
    seed = env ? strtoull(env, NULL, 0) : 0x5eedf00dULL;
    print_message("test_sched: property test seed %llu (VIREO_SCHED_SEED=%llu "
                  "replays it), %d rounds\n",
                  (unsigned long long)seed, (unsigned long long)seed, rounds);
    rng_state = seed ? seed : 1;
    step = 0;
    for (int round = 0; round < rounds; round++) {
        int nsteps = 90;
        memset(w->vms, 0, sizeof(w->vms));
        w->nvms = 0;
        vr_sched_init(&w->s, (enum vr_sched_rank)rn(3));
        w->nhosts = 2 + rn(PMAX_HOSTS - 1);
        hosts += w->nhosts;
        for (int i = 0; i < w->nhosts; i++)
            random_host(w, i);
        for (int k = 0; k < nsteps; k++, step++) {
            int x = rn(100);
            if (x < 62 && w->nvms < PMAX_VMS)
                step_place(w);
            else if (x < 86 && w->nvms)
                step_release(w);
            else if (x < 92 && w->nvms)
                step_rehold(w);
            else if (x < 97)
                step_refresh(w);
            else
                vr_sched_running(&w->s, 1 + rn(w->nhosts), chance(70) ? 1 : -1);
            check_all(w, k % 8 == 0);
        }
        /* everything released: every host as new */
        while (w->nvms)
            step_release(w);
        check_all(w, true);
        for (int i = 0; i < w->nhosts; i++)
            free(w->h[i].rec);
        vr_sched_release(&w->s);
    }
    print_message("test_sched: %ld hosts, %ld placed (shared %ld, thread %ld, "
                  "core %ld, isolate %ld; %ld with huge pages, %ld with "
                  "nodes, %ld with devices, %ld with requirements, %ld in "
                  "roles, %ld forced), %ld refused (%ld judged), %ld "
                  "invalid, %ld released, %ld refreshes\n",
                  hosts, w->placed, w->by_policy[VR_CPU_SHARED],
                  w->by_policy[VR_CPU_THREAD], w->by_policy[VR_CPU_CORE],
                  w->by_policy[VR_CPU_ISOLATE], w->with_pages,
                  w->with_vnodes, w->with_devs, w->with_reqs, w->with_roles,
                  w->forced, w->refused, w->judged, w->invalid, w->released,
                  w->refreshed);
    assert_true(w->by_policy[VR_CPU_ISOLATE] > 100);
    assert_true(w->with_devs > 50 && w->with_pages > 100 &&
                w->with_vnodes > 100 && w->forced > 5);
    free(w);
}

/* ---- 9. many threads placing at once */

#define NTHREADS 50

struct racer {
    struct vr_sched *s;
    pthread_barrier_t *start;
    int64_t vm;
    enum vr_cpu_policy policy;
    int rc;
    struct vr_error err;
    struct vr_sched_plan plan;
};

static void *race(void *arg)
{
    struct racer *x = arg;
    struct vr_sched_req r = req(x->vm, 1, 1024, x->policy);
    struct vr_sched_why why;

    pthread_barrier_wait(x->start);
    x->rc = vr_sched_place(x->s, &r, &x->plan, &why, &x->err);
    return NULL;
}

static int run_race(struct vr_sched *s, struct racer *x, int n,
                    enum vr_cpu_policy (*policy)(int))
{
    pthread_t th[NTHREADS];
    pthread_barrier_t start;
    int placed = 0;

    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        memset(&x[i], 0, sizeof(x[i]));
        x[i].s = s;
        x[i].start = &start;
        x[i].vm = 1000 + i;
        x[i].policy = policy(i);
        assert_int_equal(pthread_create(&th[i], NULL, race, &x[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < n; i++) {
        if (x[i].rc == 0) {
            placed++;
        } else {
            assert_int_equal(x[i].err.code, VR_E_UNAVAILABLE);
            assert_true(mentions_filter(x[i].err.msg));
        }
    }
    return placed;
}

/* No thread of any host in two plans. */
static void assert_no_double_booking(const struct racer *x, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            if (x[i].rc || x[j].rc || x[i].plan.host_id != x[j].plan.host_id)
                continue;
            for (int a = 0; a < x[i].plan.nheld; a++)
                for (int b = 0; b < x[j].plan.nheld; b++)
                    if (x[i].plan.held[a] == x[j].plan.held[b])
                        fail_msg("host %lld CPU %d in vms %lld and %lld",
                                 (long long)x[i].plan.host_id,
                                 x[i].plan.held[a], (long long)x[i].vm,
                                 (long long)x[j].vm);
        }
}

static enum vr_cpu_policy all_core(int i)
{
    (void)i;
    return VR_CPU_CORE;
}

static enum vr_cpu_policy mixed(int i)
{
    return i % 3 == 0 ? VR_CPU_CORE : i % 3 == 1 ? VR_CPU_THREAD
                                                 : VR_CPU_ISOLATE;
}

static void test_concurrent(void **state)
{
    struct vr_sched s;
    struct vr_host *h[4];
    struct racer *x = vr_calloc(NTHREADS, sizeof(*x));
    int placed, threads;

    (void)state;
    vr_sched_init(&s, VR_RANK_PACK);
    /* 2 + 3 + 2 + 1 whole dedicated cores */
    h[0] = new_host(1, "a", DESKTOP, "2-3,6-7", NULL);
    h[1] = new_host(2, "b", SERVER, "2,10,5-6,13-14", NULL);
    h[2] = new_host(3, "c", QUAD, "9,41,20,52,30", NULL);
    h[3] = new_host(4, "d", ASYM, "9", NULL);
    for (int i = 0; i < 4; i++)
        host_set(&s, h[i]);

    for (int round = 0; round < 10; round++) {
        placed = run_race(&s, x, NTHREADS, all_core);
        assert_int_equal(placed, 8);
        assert_no_double_booking(x, NTHREADS);
        for (int i = 0; i < NTHREADS; i++)
            if (x[i].rc == 0)
                vr_sched_release_plan(&s, &x[i].plan, x[i].vm);
    }
    /* mixed: whatever the order, never more than the threads there are,
     * and as many VMs as fit */
    placed = run_race(&s, x, NTHREADS, mixed);
    assert_no_double_booking(x, NTHREADS);
    threads = 0;
    for (int i = 0; i < NTHREADS; i++)
        if (x[i].rc == 0)
            threads += x[i].plan.nheld;
    assert_true(threads <= 16);
    assert_true(placed >= 8);
    {
        /* what is left: a 1-vCPU thread VM fits iff a dedicated thread is
         * free */
        int free_threads = 16 - threads;
        struct vr_sched_req r = req(1, 1, 1024, VR_CPU_THREAD);
        struct vr_sched_plan p;
        struct vr_sched_why why;
        struct vr_error err = VR_ERROR_INIT;
        for (int k = 0; k < free_threads; k++) {
            r.vm_id = 5000 + k;
            assert_int_equal(vr_sched_place(&s, &r, &p, &why, &err), 0);
        }
        r.vm_id = 6000;
        assert_int_equal(vr_sched_place(&s, &r, &p, &why, &err), -1);
    }
    for (int i = 0; i < 4; i++)
        free(h[i]);
    free(x);
    vr_sched_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared),
        cmocka_unit_test(test_thread),
        cmocka_unit_test(test_core),
        cmocka_unit_test(test_isolate),
        cmocka_unit_test(test_pinned_sets),
        cmocka_unit_test(test_offline_cpus),
        cmocka_unit_test(test_unknown_cell),
        cmocka_unit_test(test_vnuma),
        cmocka_unit_test(test_hugepages),
        cmocka_unit_test(test_pci),
        cmocka_unit_test(test_io_numa),
        cmocka_unit_test(test_requirements),
        cmocka_unit_test(test_clusters),
        cmocka_unit_test(test_rank),
        cmocka_unit_test(test_hostlist_force),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_why_format),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_hold_release),
        cmocka_unit_test(test_refresh),
        cmocka_unit_test(test_plan_json),
        cmocka_unit_test(test_disk_growth_is_capacity),
        cmocka_unit_test(test_property),
        cmocka_unit_test(test_concurrent),
    };
    /* VIREO_TEST_FILTER=test_property runs one test (cmocka's glob) */
    if (getenv("VIREO_TEST_FILTER"))
        cmocka_set_test_filter(getenv("VIREO_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
