/*
 * vr_sched.c - the scheduler: filters, rank, and the fitting of CPUs, NUMA
 * cells, huge pages and devices (see vr_sched.h).
 *
 * Per host the state that decisions read is kept as counters that are
 * updated when a plan is held or released (free dedicated threads and free
 * whole cores per cell, huge pages used per cell and size, memory bound
 * per cell, shared vCPUs, memory, devices), so that the filters of one
 * host cost a few comparisons; the exact fitting runs on the best-ranked
 * candidates only, in rank order, until one fits.
 */
#include "vr_sched.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr_json.h"
#include "vr_util.h"

#define MAX_CELLS VR_HOST_MAX_CELLS
#define MAX_THREADS_PER_CORE 8

VR_ENUM_DEFINE(vr_cpu_policy, vr_cpu_policy, VR_CPU_POLICIES, VR_CPU__LAST, 0,
               "unknown")
VR_ENUM_DEFINE(vr_sched_rank, vr_sched_rank, VR_SCHED_RANKS, VR_RANK__LAST, 0,
               "unknown")

static const char *const filter_texts[] = {
#define VR_X(e, s) [e] = s,
    VR_SCHED_FILTERS(VR_X)
#undef VR_X
};
_Static_assert(VR_ARRAY_SIZE(filter_texts) == VR_F__LAST, "filter texts");

/* ---- CPU lists */

int vr_cpulist_parse(const char *s, uint8_t *bits, int max)
{
    const char *p = s;

    memset(bits, 0, (size_t)max);
    if (!s)
        return 0;
    while (*p) {
        long a, b;
        char *end;
        if (!isdigit((unsigned char)*p))
            return -1;
        a = strtol(p, &end, 10);
        b = a;
        p = end;
        if (*p == '-') {
            p++;
            if (!isdigit((unsigned char)*p))
                return -1;
            b = strtol(p, &end, 10);
            p = end;
        }
        if (a < 0 || b < a || b >= max)
            return -1;
        for (long i = a; i <= b; i++)
            bits[i] = 1;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return 0;
}

void vr_cpulist_format(const uint8_t *bits, int max, char *out, size_t size)
{
    size_t n = 0;

    out[0] = '\0';
    for (int i = 0; i < max; i++) {
        int j = i;
        if (!bits[i])
            continue;
        while (j + 1 < max && bits[j + 1])
            j++;
        if (n < size)
            n += (size_t)snprintf(out + n, size - n, j > i ? "%s%d-%d" : "%s%d",
                                  n ? "," : "", i, j);
        i = j;
    }
}

/* ---- PCI specs */

int vr_pci_spec_parse(const char *s, struct vr_pci_spec *out,
                      struct vr_error *err)
{
    unsigned a, b, c, d;
    char tail;

    memset(out, 0, sizeof(*out));
    if (!s || !*s)
        return vr_err(err, VR_E_INVALID, "empty PCI device");
    if (sscanf(s, "%4x:%2x:%2x.%1x%c", &a, &b, &c, &d, &tail) == 4 &&
        strlen(s) == 12) {
        snprintf(out->addr, sizeof(out->addr), "%04x:%02x:%02x.%x", a, b, c,
                 d);
        return 0;
    }
    if (strncmp(s, "class=", 6) == 0) {
        char *end;
        unsigned long v = strtoul(s + 6, &end, 16);
        size_t digits = strlen(s + 6) - (strncmp(s + 6, "0x", 2) ? 0 : 2);
        if (*end || v > 0xffffff || !digits || digits > 6)
            return vr_err(err, VR_E_INVALID, "PCI class '%.32s' is not hex",
                          s + 6);
        /* "class=0x02" names a base class, "0x0200" a subclass, ... */
        out->pci_class = (uint32_t)(v << (4 * (6 - digits)));
        out->class_mask = 0xffffffu << (4 * (6 - digits)) & 0xffffff;
        return 0;
    }
    if (sscanf(s, "%4x:%4x%c", &a, &b, &tail) == 2 && strlen(s) == 9) {
        out->vendor = (uint16_t)a;
        out->product = (uint16_t)b;
        return 0;
    }
    return vr_err(err, VR_E_INVALID, "PCI device '%.32s' must be "
                  "VENDOR:PRODUCT (hex, e.g. 8086:1572), class=HEX or an "
                  "address like 0000:3b:00.0", s);
}

void vr_pci_spec_format(const struct vr_pci_spec *s, char *out, size_t size)
{
    if (s->addr[0]) {
        snprintf(out, size, "%s", s->addr);
    } else if (s->class_mask) {
        /* as many digits as the mask covers: "class=0x03" stays a base
         * class when it is stored and parsed again */
        int digits = 6;
        while (digits > 1 && !(s->class_mask & (0xfu << (4 * (6 - digits)))))
            digits--;
        snprintf(out, size, "class=0x%0*x", digits,
                 s->pci_class >> (4 * (6 - digits)));
    } else {
        snprintf(out, size, "%04x:%04x", s->vendor, s->product);
    }
}

/* ---- the scheduler's view of a host */

struct sched_core {
    int16_t cell;
    int16_t nthreads;
    int16_t threads[MAX_THREADS_PER_CORE];
    bool dedicated;            /* every thread is dedicated */
};

struct sched_cell {
    int id;
    uint64_t mem_mib;          /* normal memory: total minus page pools */
    uint64_t bound_mib;        /* held by VMs bound to this cell */
    int npagesz;
    uint32_t page_kib[VR_HOST_MAX_PAGESIZES];
    uint64_t pages_total[VR_HOST_MAX_PAGESIZES];
    uint64_t pages_used[VR_HOST_MAX_PAGESIZES];
    int free_threads;          /* dedicated threads not held */
    int free_cores;            /* dedicated cores with no thread held */
    int free_core_threads;     /* the threads of those cores */
    int nshared;               /* shared CPUs in the cell */
    int tpc;                   /* threads per core (the most of any core) */
};

struct sched_dev {
    char addr[16];
    uint16_t vendor, product;
    uint32_t pci_class;
    int cell;                  /* index into cells[], -1 unknown */
    char pool[32];             /* a VF of this SR-IOV pool */
    bool pool_pf;              /* a PF lending its VFs: never given whole */
    bool allowed;              /* in the host's pci_passthrough list */
    int64_t owner;             /* VM holding it, 0 free */
};

/* A cluster: what its hosts show to expressions, and its defaults. */
struct vr_sched_cluster {
    int64_t id;
    char name[VR_NAME_SIZE];
    int nlabels;
    char labels[VR_HOST_MAX_LABELS][32];
    const char *label_ptr[VR_HOST_MAX_LABELS];
    struct vr_expr *reqs;      /* NULL: none */
    struct vr_expr *rank;      /* NULL: none */
};

struct vr_sched_host {
    int64_t id;
    int64_t cluster_id;
    const struct vr_sched_cluster *cl;  /* NULL: none (yet) */
    size_t slot;               /* index in s->hosts and s->hot */
    uint64_t fingerprint;      /* of what placement reads from the record */
    char name[VR_NAME_SIZE];
    bool enabled, monitored;
    char cpu_model[64];
    char hypervisor[8];
    int nlabels;
    char labels[VR_HOST_MAX_LABELS][32];
    const char *label_ptr[VR_HOST_MAX_LABELS];
    int nthreads;              /* host CPUs (max id + 1) */
    int16_t *thread_core;      /* thread -> core index, -1 none */
    int16_t *thread_cell;      /* thread -> cell index, -1 none */
    uint8_t *dedicated;
    uint8_t *shared;
    int64_t *owner;            /* thread -> VM holding it */
    int ncores;
    struct sched_core *cores;
    int ncells;
    struct sched_cell cells[MAX_CELLS];
    int nshared;
    double cpu_ratio, mem_ratio;
    double shared_used;        /* vCPUs of shared VMs */
    uint64_t mem_cap_mib;      /* (normal memory - reserved) * ratio */
    uint64_t mem_used_mib;     /* VMs without huge pages */
    uint64_t disk_free_mib;
    uint64_t disk_held_mib;    /* placed since the last refresh */
    uint64_t disk_low_mib;     /* free disk when it last grew by a step,
                                * or less since: growth is measured from
                                * here, so a trickle adds up */
    int ndevs;
    struct sched_dev *devs;
    int vms, running;
    struct vr_map roles;       /* role key -> (intptr_t) VMs of it here */
    struct vr_map held;        /* vm id -> plan_hash() of the plan it
                                * holds here: only that plan is released */
};

/* What the first filters and the default rank read of a host, packed in
 * one array (s->hot, in s->hosts' order) so that a decision walks a few
 * cache lines per host instead of each host's whole view.  Kept in step
 * by hot_sync() whenever a host's counters change. */
struct vr_sched_hot {
    int64_t id;
    struct vr_sched_host *h;
    bool enabled, monitored;
    double cpu_left;           /* shared vCPUs that still fit */
    double shared_used;
    uint64_t mem_used, mem_cap;
    uint64_t disk_left;        /* UINT64_MAX: unknown (not a limit) */
    int running;
};

static void host_free(struct vr_sched_host *h)
{
    if (!h)
        return;
    free(h->thread_core);
    free(h->thread_cell);
    free(h->dedicated);
    free(h->shared);
    free(h->owner);
    free(h->cores);
    free(h->devs);
    vr_map_release(&h->roles);
    vr_map_release(&h->held);
    free(h);
}

static void hot_sync(struct vr_sched *s, const struct vr_sched_host *h)
{
    struct vr_sched_hot *x = &s->hot[h->slot];

    x->id = h->id;
    x->h = (struct vr_sched_host *)h;
    x->enabled = h->enabled;
    x->monitored = h->monitored;
    x->cpu_left = h->nshared * h->cpu_ratio - h->shared_used;
    x->shared_used = h->shared_used;
    x->mem_used = h->mem_used_mib;
    x->mem_cap = h->mem_cap_mib;
    x->disk_left = !h->disk_free_mib ? UINT64_MAX
                   : h->disk_free_mib > h->disk_held_mib
                       ? h->disk_free_mib - h->disk_held_mib
                       : 0;
    x->running = h->running;
}

/* Slots of hosts[from..]: after an insert or a removal. */
static void hot_reslot(struct vr_sched *s, size_t from)
{
    for (size_t i = from; i < s->nhosts; i++) {
        s->hosts[i]->slot = i;
        hot_sync(s, s->hosts[i]);
    }
}

uint64_t vr_sched_generation(struct vr_sched *s)
{
    uint64_t g;
    pthread_mutex_lock(&s->lock);
    g = s->generation;
    pthread_mutex_unlock(&s->lock);
    return g;
}

void vr_sched_init(struct vr_sched *s, enum vr_sched_rank rank)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    vr_map_init_int(&s->by_id);
    vr_map_init_int(&s->clusters);
    s->rank = rank;
}

static void cluster_free(struct vr_sched_cluster *c)
{
    if (!c)
        return;
    vr_expr_free(c->reqs);
    vr_expr_free(c->rank);
    free(c);
}

void vr_sched_release(struct vr_sched *s)
{
    struct vr_sched_cluster *c;
    size_t pos = 0;

    while ((c = vr_map_next(&s->clusters, &pos)))
        cluster_free(c);
    vr_map_release(&s->clusters);
    for (size_t i = 0; i < s->nhosts; i++)
        host_free(s->hosts[i]);
    free(s->hosts);
    free(s->hot);
    vr_map_release(&s->by_id);
    pthread_mutex_destroy(&s->lock);
}

static int cell_index(const struct vr_sched_host *h, int cell_id)
{
    for (int i = 0; i < h->ncells; i++)
        if (h->cells[i].id == cell_id)
            return i;
    return -1;
}

static bool core_free(const struct vr_sched_host *h, const struct sched_core *c)
{
    if (!c->dedicated)
        return false;
    for (int t = 0; t < c->nthreads; t++)
        if (h->owner[c->threads[t]])
            return false;
    return true;
}

/* Recount the free threads and cores of every cell. */
static void recount(struct vr_sched_host *h)
{
    for (int i = 0; i < h->ncells; i++) {
        h->cells[i].free_threads = 0;
        h->cells[i].free_cores = 0;
        h->cells[i].free_core_threads = 0;
    }
    for (int t = 0; t < h->nthreads; t++)
        if (h->dedicated[t] && !h->owner[t] && h->thread_cell[t] >= 0)
            h->cells[h->thread_cell[t]].free_threads++;
    for (int c = 0; c < h->ncores; c++)
        if (h->cores[c].cell >= 0 && core_free(h, &h->cores[c])) {
            h->cells[h->cores[c].cell].free_cores++;
            h->cells[h->cores[c].cell].free_core_threads +=
                h->cores[c].nthreads;
        }
}

static bool spec_matches(const struct sched_dev *d,
                         const struct vr_pci_spec *s);

/* Move held resources from an old view of a host to its new one. */
static void carry_over(struct vr_sched_host *nh, const struct vr_sched_host *oh)
{
    nh->shared_used = oh->shared_used;
    nh->mem_used_mib = oh->mem_used_mib;
    nh->vms = oh->vms;
    nh->running = oh->running;
    /* disk placed since the datastore was last read: still to subtract
     * until a new reading (which includes it) arrives */
    if (nh->disk_free_mib == oh->disk_free_mib)
        nh->disk_held_mib = oh->disk_held_mib;
    nh->disk_low_mib = oh->disk_low_mib < nh->disk_free_mib
                           ? oh->disk_low_mib : nh->disk_free_mib;
    for (int t = 0; t < oh->nthreads && t < nh->nthreads; t++)
        nh->owner[t] = oh->owner[t];
    for (int i = 0; i < oh->ncells; i++) {
        int k = cell_index(nh, oh->cells[i].id);
        if (k < 0)
            continue;
        nh->cells[k].bound_mib = oh->cells[i].bound_mib;
        for (int p = 0; p < oh->cells[i].npagesz; p++)
            for (int q = 0; q < nh->cells[k].npagesz; q++)
                if (nh->cells[k].page_kib[q] == oh->cells[i].page_kib[p])
                    nh->cells[k].pages_used[q] = oh->cells[i].pages_used[p];
    }
    for (int i = 0; i < oh->ndevs; i++)
        for (int k = 0; k < nh->ndevs; k++)
            if (strcmp(nh->devs[k].addr, oh->devs[i].addr) == 0)
                nh->devs[k].owner = oh->devs[i].owner;
}

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s, size_t size)
{
    return fnv(h, s, strnlen(s, size) + 1);
}

/* A hash of what placement reads from a host record (not live usage such
 * as free memory): a change means capacity may have appeared. */
static uint64_t host_fingerprint(const struct vr_host *h)
{
    const struct vr_host_caps *c = &h->caps;
    uint64_t f = 1469598103934665603ULL;
    bool monitored = h->state == VR_HOST_MONITORED;
    const struct vr_host_conf *k = &h->conf;

    f = fnv(f, &h->enabled, sizeof(h->enabled));
    f = fnv(f, &monitored, sizeof(monitored));
    f = fnv(f, &h->cluster_id, sizeof(h->cluster_id));
    f = fnv(f, h->hdr.name, strlen(h->hdr.name));
    f = fnv(f, h->hypervisor, strlen(h->hypervisor));
    /* the configuration field by field: not the bytes after a string's
     * end, nor padding */
    f = fnv_str(f, k->dedicated_cpus, sizeof(k->dedicated_cpus));
    f = fnv_str(f, k->reserved_cpus, sizeof(k->reserved_cpus));
    f = fnv(f, &k->reserved_memory_mib, sizeof(k->reserved_memory_mib));
    f = fnv(f, &k->cpu_ratio, sizeof(k->cpu_ratio));
    f = fnv(f, &k->mem_ratio, sizeof(k->mem_ratio));
    f = fnv(f, &k->nlabels, sizeof(k->nlabels));
    for (int i = 0; i < k->nlabels && i < VR_HOST_MAX_LABELS; i++)
        f = fnv_str(f, k->labels[i], sizeof(k->labels[i]));
    f = fnv(f, &k->npci, sizeof(k->npci));
    for (int i = 0; i < k->npci && i < VR_HOST_MAX_PCI; i++)
        f = fnv_str(f, k->pci[i], sizeof(k->pci[i]));
    f = fnv(f, &k->npools, sizeof(k->npools));
    for (int i = 0; i < k->npools && i < VR_HOST_MAX_POOLS; i++) {
        f = fnv_str(f, k->pools[i].name, sizeof(k->pools[i].name));
        f = fnv_str(f, k->pools[i].pf, sizeof(k->pools[i].pf));
    }
    f = fnv(f, &c->cpus, sizeof(c->cpus));
    f = fnv(f, &c->memory_kib, sizeof(c->memory_kib));
    f = fnv(f, c->cpu_model, strlen(c->cpu_model));
    for (int i = 0; i < c->ncells; i++) {
        f = fnv(f, &c->cells[i].id, sizeof(c->cells[i].id));
        f = fnv(f, &c->cells[i].memory_kib, sizeof(c->cells[i].memory_kib));
        for (int p = 0; p < c->cells[i].npages; p++)
            f = fnv(f, &c->cells[i].pages[p].total,
                    sizeof(c->cells[i].pages[p].total));
    }
    f = fnv(f, c->cpu_topo, (size_t)c->ncpu_topo * sizeof(c->cpu_topo[0]));
    /* devices: what placement matches on, not the driver they are bound
     * to (libvirt rebinds a managed device while a VM uses it) */
    for (int i = 0; i < c->ndevs && i < VR_HOST_MAX_DEVS; i++) {
        const struct vr_host_dev *d = &c->devs[i];
        f = fnv_str(f, d->addr, sizeof(d->addr));
        f = fnv(f, &d->vendor, sizeof(d->vendor));
        f = fnv(f, &d->product, sizeof(d->product));
        f = fnv(f, &d->pci_class, sizeof(d->pci_class));
        f = fnv(f, &d->cell, sizeof(d->cell));
        f = fnv_str(f, d->pf, sizeof(d->pf));
    }
    return f;
}

int vr_sched_host_set(struct vr_sched *s, const struct vr_host *src,
                      struct vr_error *err)
{
    struct vr_sched_host *h = vr_calloc(1, sizeof(*h)), *old;
    const struct vr_host_caps *c = &src->caps;
    const struct vr_host_conf *conf = &src->conf;
    uint8_t *reserved;
    struct vr_host_cpu *core_key;
    uint64_t pools_mib = 0;
    int maxid = c->cpus;

    h->id = src->hdr.id;
    h->cluster_id = src->cluster_id;
    h->fingerprint = host_fingerprint(src);
    vr_strlcpy(h->name, src->hdr.name, sizeof(h->name));
    h->enabled = src->enabled;
    h->monitored = src->state == VR_HOST_MONITORED;
    vr_strlcpy(h->cpu_model, c->cpu_model, sizeof(h->cpu_model));
    vr_strlcpy(h->hypervisor, src->hypervisor, sizeof(h->hypervisor));
    h->nlabels = conf->nlabels;
    for (int i = 0; i < conf->nlabels; i++) {
        vr_strlcpy(h->labels[i], conf->labels[i], sizeof(h->labels[i]));
        h->label_ptr[i] = h->labels[i];
    }
    for (int i = 0; i < c->ncpu_topo; i++)
        if (c->cpu_topo[i].id + 1 > maxid)
            maxid = c->cpu_topo[i].id + 1;
    if (maxid < 1)
        maxid = 1;
    h->nthreads = maxid;
    h->thread_core = vr_malloc((size_t)maxid * sizeof(int16_t));
    h->thread_cell = vr_malloc((size_t)maxid * sizeof(int16_t));
    for (int i = 0; i < maxid; i++)
        h->thread_core[i] = h->thread_cell[i] = -1;
    h->dedicated = vr_calloc((size_t)maxid, 1);
    h->shared = vr_calloc((size_t)maxid, 1);
    h->owner = vr_calloc((size_t)maxid, sizeof(int64_t));
    reserved = vr_calloc((size_t)maxid, 1);
    vr_map_init_str(&h->roles);
    vr_map_init_int(&h->held);

    if (vr_cpulist_parse(conf->dedicated_cpus, h->dedicated, maxid) < 0 ||
        vr_cpulist_parse(conf->reserved_cpus, reserved, maxid) < 0) {
        free(reserved);
        host_free(h);
        return vr_err(err, VR_E_INVALID, "host '%s': a dedicated or reserved "
                      "CPU list is not a list of this host's CPUs (0-%d)",
                      src->hdr.name, maxid - 1);
    }

    /* cells */
    for (int i = 0; i < c->ncells && i < MAX_CELLS; i++) {
        struct sched_cell *cell = &h->cells[h->ncells++];
        cell->id = c->cells[i].id;
        cell->npagesz = c->cells[i].npages;
        for (int p = 0; p < c->cells[i].npages; p++) {
            cell->page_kib[p] = c->cells[i].pages[p].size_kib;
            cell->pages_total[p] = c->cells[i].pages[p].total;
            pools_mib += c->cells[i].pages[p].total *
                         c->cells[i].pages[p].size_kib / 1024;
        }
        {
            uint64_t pool = 0;
            for (int p = 0; p < cell->npagesz; p++)
                pool += cell->pages_total[p] * cell->page_kib[p] / 1024;
            cell->mem_mib = c->cells[i].memory_kib / 1024 > pool
                                ? c->cells[i].memory_kib / 1024 - pool
                                : 0;
        }
    }
    if (!h->ncells) {
        /* no NUMA information: one cell with everything */
        h->ncells = 1;
        h->cells[0].id = 0;
        h->cells[0].mem_mib = c->memory_kib / 1024;
    }

    /* cores: threads sharing (socket, core) */
    h->cores = vr_calloc((size_t)maxid, sizeof(*h->cores));
    core_key = vr_calloc((size_t)maxid + 1, sizeof(*core_key));
    for (int i = 0; i < c->ncpu_topo; i++) {
        const struct vr_host_cpu *cpu = &c->cpu_topo[i];
        int k, cell = cell_index(h, cpu->cell);
        const struct vr_host_cpu *key;
        /* an offline CPU (socket and core unknown), or one of a cell the
         * host does not list, is never used */
        if (cpu->socket < 0 || cpu->core < 0 || cpu->id < 0 ||
            cpu->id >= maxid || cell < 0)
            continue;
        for (k = 0; k < h->ncores; k++) {
            key = &core_key[k];
            if (key->socket == cpu->socket && key->core == cpu->core &&
                key->cell == cpu->cell)
                break;
        }
        if (k == h->ncores)
            core_key[k] = *cpu;
        if (k == h->ncores) {
            h->cores[k].cell = (int16_t)cell;
            h->cores[k].dedicated = true;
            h->ncores++;
        }
        if (h->cores[k].nthreads < MAX_THREADS_PER_CORE)
            h->cores[k].threads[h->cores[k].nthreads++] = cpu->id;
        h->thread_core[cpu->id] = (int16_t)k;
        h->thread_cell[cpu->id] = (int16_t)cell;
    }
    if (!c->ncpu_topo) {
        /* no topology: every CPU its own core in cell 0 */
        for (int t = 0; t < maxid && t < c->cpus; t++) {
            h->cores[h->ncores].cell = 0;
            h->cores[h->ncores].dedicated = true;
            h->cores[h->ncores].threads[0] = (int16_t)t;
            h->cores[h->ncores].nthreads = 1;
            h->thread_core[t] = (int16_t)h->ncores++;
            h->thread_cell[t] = 0;
        }
    }
    for (int t = 0; t < maxid; t++) {
        if (h->thread_core[t] < 0) {
            h->dedicated[t] = 0;
            continue;
        }
        if (reserved[t])
            h->dedicated[t] = 0;
        h->shared[t] = !h->dedicated[t] && !reserved[t];
        if (h->shared[t]) {
            h->nshared++;
            h->cells[h->thread_cell[t]].nshared++;
        }
        if (!h->dedicated[t])
            h->cores[h->thread_core[t]].dedicated = false;
    }
    free(reserved);
    free(core_key);
    for (int i = 0; i < h->ncells; i++)
        h->cells[i].tpc = 1;
    for (int k = 0; k < h->ncores; k++) {
        struct sched_cell *cell = h->cores[k].cell >= 0
                                      ? &h->cells[h->cores[k].cell]
                                      : NULL;
        if (cell && h->cores[k].nthreads > cell->tpc)
            cell->tpc = h->cores[k].nthreads;
    }

    h->cpu_ratio = conf->cpu_ratio > 0 ? conf->cpu_ratio : VR_CPU_RATIO_DEFAULT;
    h->mem_ratio = conf->mem_ratio > 0 ? conf->mem_ratio : VR_MEM_RATIO_DEFAULT;
    {
        uint64_t total = c->memory_kib / 1024;
        uint64_t normal = total > pools_mib ? total - pools_mib : 0;
        normal = normal > conf->reserved_memory_mib
                     ? normal - conf->reserved_memory_mib
                     : 0;
        h->mem_cap_mib = (uint64_t)((double)normal * h->mem_ratio);
    }
    h->disk_free_mib = c->disk_free_mib;
    h->disk_low_mib = c->disk_free_mib;

    /* devices */
    h->devs = vr_calloc((size_t)c->ndevs + 1, sizeof(*h->devs));
    for (int i = 0; i < c->ndevs; i++) {
        const struct vr_host_dev *d = &c->devs[i];
        struct sched_dev *sd = &h->devs[h->ndevs++];
        vr_strlcpy(sd->addr, d->addr, sizeof(sd->addr));
        sd->vendor = d->vendor;
        sd->product = d->product;
        sd->pci_class = d->pci_class;
        sd->cell = d->cell >= 0 ? cell_index(h, d->cell) : -1;
        for (int p = 0; p < conf->npci; p++) {
            struct vr_pci_spec spec;
            if (vr_pci_spec_parse(conf->pci[p], &spec, NULL) == 0 &&
                spec_matches(sd, &spec))
                sd->allowed = true;
        }
        for (int p = 0; p < conf->npools; p++) {
            if (d->pf[0] && strcmp(d->pf, conf->pools[p].pf) == 0)
                vr_strlcpy(sd->pool, conf->pools[p].name, sizeof(sd->pool));
            if (strcmp(d->addr, conf->pools[p].pf) == 0)
                sd->pool_pf = true;
        }
    }

    pthread_mutex_lock(&s->lock);
    h->cl = vr_map_get_int(&s->clusters, h->cluster_id);
    old = vr_map_get_int(&s->by_id, h->id);
    if (old) {
        carry_over(h, old);
        /* the VM-group role counts move over whole */
        vr_map_release(&h->roles);
        h->roles = old->roles;
        memset(&old->roles, 0, sizeof(old->roles));
        vr_map_release(&h->held);
        h->held = old->held;
        memset(&old->held, 0, sizeof(old->held));
        h->slot = old->slot;
        s->hosts[h->slot] = h;
        if (old->fingerprint != h->fingerprint)
            s->generation++;
        /* free disk grew by a step: a create waiting for disk may fit */
        if (h->disk_free_mib >= h->disk_low_mib + VR_SCHED_DISK_STEP_MIB) {
            s->generation++;
            h->disk_low_mib = h->disk_free_mib;
        }
        host_free(old);
        recount(h);
        hot_sync(s, h);
    } else {
        size_t at;
        if (s->nhosts == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 16;
            s->hosts = vr_realloc(s->hosts, s->cap * sizeof(*s->hosts));
            s->hot = vr_realloc(s->hot, s->cap * sizeof(*s->hot));
        }
        /* keep id order */
        at = s->nhosts;
        while (at > 0 && s->hosts[at - 1]->id > h->id) {
            s->hosts[at] = s->hosts[at - 1];
            at--;
        }
        s->hosts[at] = h;
        s->nhosts++;
        s->generation++;
        recount(h);
        hot_reslot(s, at);
    }
    vr_map_put_int(&s->by_id, h->id, h);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

void vr_sched_host_remove(struct vr_sched *s, int64_t host_id)
{
    struct vr_sched_host *h;

    pthread_mutex_lock(&s->lock);
    h = vr_map_del_int(&s->by_id, host_id);
    if (h) {
        size_t k = 0;
        for (size_t i = 0; i < s->nhosts; i++)
            if (s->hosts[i] != h)
                s->hosts[k++] = s->hosts[i];
        s->nhosts = k;
        hot_reslot(s, h->slot);
        host_free(h);
    }
    pthread_mutex_unlock(&s->lock);
}

/* ---- expression attributes */

enum {
    A_HOST, A_HOST_ID, A_CPU_MODEL, A_HYPERVISOR, A_LABELS, A_CPUS,
    A_FREE_CPU, A_USED_CPU, A_MEMORY, A_FREE_MEMORY, A_USED_MEMORY,
    A_RUNNING_VMS, A_VMS, A_FREE_DEDICATED, A_FREE_CORES, A_CELLS,
    A_FREE_PAGES_2M, A_FREE_PAGES_1G, A_DISK_FREE, A_CLUSTER, A_CLUSTER_ID,
    A_CLUSTER_LABELS, A__LAST
};
_Static_assert(A__LAST <= VR_ARRAY_SIZE(((struct vr_sched *)0)->cluster_used),
               "cluster_used holds every attribute");

static const struct vr_expr_attr attrs[] = {
    [A_HOST] = {"HOST", VR_EXPR_STR},
    [A_HOST_ID] = {"HOST_ID", VR_EXPR_NUM},
    [A_CPU_MODEL] = {"CPU_MODEL", VR_EXPR_STR},
    [A_HYPERVISOR] = {"HYPERVISOR", VR_EXPR_STR},
    [A_LABELS] = {"LABELS", VR_EXPR_LIST},
    [A_CPUS] = {"CPUS", VR_EXPR_NUM},
    [A_FREE_CPU] = {"FREE_CPU", VR_EXPR_NUM},
    [A_USED_CPU] = {"USED_CPU", VR_EXPR_NUM},
    [A_MEMORY] = {"MEMORY", VR_EXPR_NUM},
    [A_FREE_MEMORY] = {"FREE_MEMORY", VR_EXPR_NUM},
    [A_USED_MEMORY] = {"USED_MEMORY", VR_EXPR_NUM},
    [A_RUNNING_VMS] = {"RUNNING_VMS", VR_EXPR_NUM},
    [A_VMS] = {"VMS", VR_EXPR_NUM},
    [A_FREE_DEDICATED] = {"FREE_DEDICATED_CPUS", VR_EXPR_NUM},
    [A_FREE_CORES] = {"FREE_CORES", VR_EXPR_NUM},
    [A_CELLS] = {"CELLS", VR_EXPR_NUM},
    [A_FREE_PAGES_2M] = {"FREE_HUGEPAGES_2M", VR_EXPR_NUM},
    [A_FREE_PAGES_1G] = {"FREE_HUGEPAGES_1G", VR_EXPR_NUM},
    [A_DISK_FREE] = {"FREE_DISK", VR_EXPR_NUM},
    [A_CLUSTER] = {"CLUSTER", VR_EXPR_STR},
    [A_CLUSTER_ID] = {"CLUSTER_ID", VR_EXPR_NUM},
    [A_CLUSTER_LABELS] = {"CLUSTER_LABELS", VR_EXPR_LIST},
};
_Static_assert(VR_ARRAY_SIZE(attrs) == A__LAST, "attributes");

static const struct vr_expr_schema schema = {attrs, A__LAST};

const struct vr_expr_schema *vr_sched_schema(void)
{
    return &schema;
}

static uint64_t free_pages(const struct sched_cell *c, uint32_t kib)
{
    for (int p = 0; p < c->npagesz; p++)
        if (c->page_kib[p] == kib)
            return c->pages_total[p] - c->pages_used[p];
    return 0;
}

/* The attribute values of host `h` for an expression, only those marked
 * in `used` (an array of A__LAST). */
static void host_values(const struct vr_sched_host *h, const bool *used,
                        struct vr_expr_value *v)
{
    if (used[A_FREE_DEDICATED] || used[A_FREE_CORES] ||
        used[A_FREE_PAGES_2M] || used[A_FREE_PAGES_1G]) {
        double free_ded = 0, free_cores = 0, p2m = 0, p1g = 0;
        for (int i = 0; i < h->ncells; i++) {
            free_ded += h->cells[i].free_threads;
            free_cores += h->cells[i].free_cores;
            p2m += (double)free_pages(&h->cells[i], 2048);
            p1g += (double)free_pages(&h->cells[i], 1048576);
        }
        v[A_FREE_DEDICATED].num = free_ded;
        v[A_FREE_CORES].num = free_cores;
        v[A_FREE_PAGES_2M].num = p2m;
        v[A_FREE_PAGES_1G].num = p1g;
    }
    v[A_HOST].str = h->name;
    v[A_HOST_ID].num = (double)h->id;
    v[A_CPU_MODEL].str = h->cpu_model;
    v[A_HYPERVISOR].str = h->hypervisor;
    v[A_LABELS].list = h->label_ptr;
    v[A_LABELS].nlist = (size_t)h->nlabels;
    v[A_CPUS].num = h->nthreads;
    v[A_FREE_CPU].num = h->nshared * h->cpu_ratio - h->shared_used;
    v[A_USED_CPU].num = h->shared_used;
    v[A_MEMORY].num = (double)h->mem_cap_mib;
    v[A_FREE_MEMORY].num = h->mem_cap_mib > h->mem_used_mib
                               ? (double)(h->mem_cap_mib - h->mem_used_mib)
                               : 0;
    v[A_USED_MEMORY].num = (double)h->mem_used_mib;
    v[A_RUNNING_VMS].num = h->running;
    v[A_VMS].num = h->vms;
    v[A_CELLS].num = h->ncells;
    v[A_DISK_FREE].num = (double)(h->disk_free_mib > h->disk_held_mib
                                      ? h->disk_free_mib - h->disk_held_mib
                                      : 0);
    v[A_CLUSTER].str = h->cl ? h->cl->name : "";
    v[A_CLUSTER_ID].num = (double)h->cluster_id;
    v[A_CLUSTER_LABELS].list = h->cl ? h->cl->label_ptr : NULL;
    v[A_CLUSTER_LABELS].nlist = h->cl ? (size_t)h->cl->nlabels : 0;
}

/* ---- clusters */

/* What every cluster's expressions read, and how many have one.  Called
 * with the lock held. */
static void clusters_recount(struct vr_sched *s)
{
    struct vr_sched_cluster *c;
    size_t pos = 0;

    memset(s->cluster_used, 0, sizeof(s->cluster_used));
    s->cluster_exprs = 0;
    while ((c = vr_map_next(&s->clusters, &pos))) {
        if (c->reqs)
            vr_expr_mark_used(c->reqs, s->cluster_used);
        if (c->rank)
            vr_expr_mark_used(c->rank, s->cluster_used);
        if (c->reqs || c->rank)
            s->cluster_exprs++;
    }
}

int vr_sched_cluster_set(struct vr_sched *s, int64_t id, const char *name,
                         const char (*labels)[32], int nlabels,
                         const char *requirements, const char *rank,
                         struct vr_error *err)
{
    struct vr_sched_cluster *c = vr_calloc(1, sizeof(*c)), *old;

    c->id = id;
    vr_strlcpy(c->name, name, sizeof(c->name));
    for (int i = 0; i < nlabels && i < VR_HOST_MAX_LABELS; i++) {
        vr_strlcpy(c->labels[i], labels[i], sizeof(c->labels[i]));
        c->label_ptr[i] = c->labels[i];
        c->nlabels++;
    }
    if (requirements && requirements[0] &&
        !(c->reqs = vr_expr_compile(requirements, &schema, true, err))) {
        vr_err_prefix(err, "requirements");
        cluster_free(c);
        return -1;
    }
    if (rank && rank[0] &&
        !(c->rank = vr_expr_compile(rank, &schema, false, err))) {
        vr_err_prefix(err, "rank");
        cluster_free(c);
        return -1;
    }
    pthread_mutex_lock(&s->lock);
    old = vr_map_put_int(&s->clusters, id, c);
    for (size_t i = 0; i < s->nhosts; i++)
        if (s->hosts[i]->cluster_id == id)
            s->hosts[i]->cl = c;
    cluster_free(old);
    clusters_recount(s);
    /* other defaults may let a waiting VM in */
    s->generation++;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

void vr_sched_cluster_remove(struct vr_sched *s, int64_t id)
{
    struct vr_sched_cluster *c;

    pthread_mutex_lock(&s->lock);
    c = vr_map_del_int(&s->clusters, id);
    if (c) {
        for (size_t i = 0; i < s->nhosts; i++)
            if (s->hosts[i]->cl == c)
                s->hosts[i]->cl = NULL;
        cluster_free(c);
        clusters_recount(s);
        s->generation++;
    }
    pthread_mutex_unlock(&s->lock);
}

/* ---- the fitting */

static bool pinned(enum vr_cpu_policy p)
{
    return p != VR_CPU_SHARED;
}

/* The guest NUMA nodes a request binds: its own, or one implicit node for
 * a pinned or huge-page VM (its CPUs and memory must come from one cell). */
static int req_vnodes(const struct vr_sched_req *r, int vcpus[],
                      uint64_t mem[])
{
    if (r->nvnodes > 0) {
        for (int i = 0; i < r->nvnodes; i++) {
            vcpus[i] = r->vnodes[i].vcpus;
            mem[i] = r->vnodes[i].memory_mib;
        }
        return r->nvnodes;
    }
    if (pinned(r->policy) || r->page_kib) {
        vcpus[0] = r->vcpus;
        mem[0] = r->memory_mib;
        return 1;
    }
    return 0;
}

/* Dedicated cores an isolate vnode of `n` vCPUs takes in a cell whose
 * cores have `tpc` threads. */
static int cores_for(enum vr_cpu_policy p, int n, int tpc)
{
    if (p == VR_CPU_CORE)
        return n;
    if (p == VR_CPU_ISOLATE)
        return (n + tpc - 1) / (tpc > 0 ? tpc : 1);
    return 0;
}

static int cell_tpc(const struct vr_sched_host *h, int cell)
{
    return h->cells[cell].tpc;
}

static bool spec_matches(const struct sched_dev *d,
                         const struct vr_pci_spec *s)
{
    if (s->addr[0])
        return strcmp(s->addr, d->addr) == 0;
    if (s->vendor && (d->vendor != s->vendor || d->product != s->product))
        return false;
    if (s->class_mask && (d->pci_class & s->class_mask) != s->pci_class)
        return false;
    return s->vendor || s->class_mask;
}

/* A device a VM may be given whole: the operator listed it, and it does
 * not lend its VFs to (or serve as a VF of) an SR-IOV pool. */
static bool dev_matches(const struct sched_dev *d, const struct vr_pci_spec *s)
{
    if (!d->allowed || d->pool_pf || d->pool[0])
        return false;
    return spec_matches(d, s);
}

/* Pick devices for a request, preferring `cell` (-1: any).  Fills the
 * plan's devices (marking them in `taken`, indexes into h->devs).
 * Returns VR_F__LAST on success or the failing filter. */
static int pick_devices(const struct vr_sched_host *h,
                        const struct vr_sched_req *r, int cell,
                        struct vr_sched_plan *plan, bool *taken)
{
    plan->ndevs = 0;
    for (int want = 0; want < r->npci + r->nsriov; want++) {
        int best = -1;
        for (int d = 0; d < h->ndevs; d++) {
            const struct sched_dev *dev = &h->devs[d];
            bool ok;
            if (dev->owner || taken[d])
                continue;
            if (want < r->npci)
                ok = dev_matches(dev, &r->pci[want]);
            else
                ok = dev->pool[0] &&
                     strcmp(dev->pool, r->sriov[want - r->npci]) == 0;
            if (!ok)
                continue;
            if (best < 0 || (cell >= 0 && dev->cell == cell &&
                             h->devs[best].cell != cell))
                best = d;
            if (cell < 0 || dev->cell == cell)
                break;
        }
        if (best < 0)
            return want < r->npci ? VR_F_PCI : VR_F_SRIOV;
        taken[best] = true;
        vr_strlcpy(plan->devs[plan->ndevs].addr, h->devs[best].addr,
                   sizeof(plan->devs[0].addr));
        vr_strlcpy(plan->devs[plan->ndevs].pool,
                   want < r->npci ? "" : r->sriov[want - r->npci],
                   sizeof(plan->devs[0].pool));
        plan->ndevs++;
    }
    return VR_F__LAST;
}

/* Can cell `ci` take a vnode of `nv` vCPUs and `mem` MiB? */
static int cell_fits(const struct vr_sched_host *h, int ci,
                     const struct vr_sched_req *r, int nv, uint64_t mem)
{
    const struct sched_cell *c = &h->cells[ci];

    switch (r->policy) {
    case VR_CPU_SHARED:
        if (!c->nshared)
            return VR_F_NUMA;
        break;
    case VR_CPU_THREAD:
        if (c->free_threads < nv)
            return VR_F_DEDICATED;
        break;
    case VR_CPU_CORE:
    case VR_CPU_ISOLATE:
        if (c->free_cores < cores_for(r->policy, nv, cell_tpc(h, ci)))
            return VR_F_DEDICATED;
        /* isolate fills every thread of its cores: where some cores have
         * fewer threads (an offline sibling), count the threads */
        if (r->policy == VR_CPU_ISOLATE && c->free_core_threads < nv)
            return VR_F_DEDICATED;
        break;
    case VR_CPU__LAST:
        return VR_F_NUMA;
    }
    if (r->page_kib) {
        uint64_t need = (mem * 1024 + r->page_kib - 1) / r->page_kib;
        if (free_pages(c, r->page_kib) < need)
            return VR_F_PAGES;
    } else if (c->bound_mib + mem > c->mem_mib) {
        return VR_F_NUMA;
    }
    return VR_F__LAST;
}

/* Choose a distinct cell for each vnode (small backtracking search),
 * preferring cells with the requested devices, then the most free pages
 * (huge pages) or the most free dedicated CPUs / memory. */
static int64_t cell_score(const struct vr_sched_host *h, int ci,
                          const struct vr_sched_req *r, bool devcell)
{
    const struct sched_cell *c = &h->cells[ci];
    int64_t score = devcell ? (int64_t)1 << 50 : 0;
    if (r->page_kib)
        score += (int64_t)free_pages(c, r->page_kib);
    else if (pinned(r->policy))
        score += c->free_threads;
    else
        score += (int64_t)(c->mem_mib - c->bound_mib);
    return score;
}

struct cell_search {
    const struct vr_sched_host *h;
    const struct vr_sched_req *r;
    int n;
    int vcpus[VR_SCHED_MAX_VNODES];
    uint64_t mem[VR_SCHED_MAX_VNODES];
    int order[MAX_CELLS];          /* cells by preference */
    int chosen[VR_SCHED_MAX_VNODES];
    bool used[MAX_CELLS];
    int worst;                     /* the filter that failed deepest */
};

static bool search_cells(struct cell_search *cs, int v)
{
    if (v == cs->n)
        return true;
    for (int k = 0; k < cs->h->ncells; k++) {
        int ci = cs->order[k], f;
        if (cs->used[ci])
            continue;
        f = cell_fits(cs->h, ci, cs->r, cs->vcpus[v], cs->mem[v]);
        if (f != VR_F__LAST) {
            if (cs->worst == VR_F__LAST || f > cs->worst)
                cs->worst = f;
            continue;
        }
        cs->used[ci] = true;
        cs->chosen[v] = ci;
        if (search_cells(cs, v + 1))
            return true;
        cs->used[ci] = false;
    }
    return false;
}

/* Fit the request on host `h`: fill `plan` without changing the host.
 * Returns VR_F__LAST on success or the filter that failed. */
static int fit_host(const struct vr_sched_host *h,
                    const struct vr_sched_req *r, struct vr_sched_plan *plan)
{
    struct cell_search cs;
    bool *taken;
    int f, vcpu = 0, dev_cell = -1;

    memset(plan, 0, sizeof(*plan));
    plan->host_id = h->id;
    plan->policy = r->policy;
    plan->nvcpus = r->vcpus;
    plan->memory_mib = r->memory_mib;
    plan->disk_mib = r->disk_mib;
    plan->page_kib = r->page_kib;
    vr_strlcpy(plan->role_key, r->role_key, sizeof(plan->role_key));
    for (int i = 0; i < r->vcpus; i++)
        plan->vcpu_cpu[i] = -1;

    /* global capacities */
    if (r->policy == VR_CPU_SHARED &&
        h->shared_used + r->vcpus > h->nshared * h->cpu_ratio + 1e-9)
        return VR_F_CPU;
    if (!r->page_kib && h->mem_used_mib + r->memory_mib > h->mem_cap_mib)
        return VR_F_MEMORY;

    memset(&cs, 0, sizeof(cs));
    cs.h = h;
    cs.r = r;
    cs.worst = VR_F__LAST;
    cs.n = req_vnodes(r, cs.vcpus, cs.mem);
    if (cs.n > h->ncells)
        return VR_F_NUMA;
    taken = vr_calloc((size_t)h->ndevs + 1, sizeof(bool));
    if (cs.n) {
        int64_t scores[MAX_CELLS];
        bool devcell[MAX_CELLS];
        /* IO-NUMA: cells holding a free device of the request first */
        for (int ci = 0; ci < h->ncells; ci++) {
            struct vr_sched_plan probe;
            memset(taken, 0, (size_t)h->ndevs + 1);
            devcell[ci] = (r->npci || r->nsriov) &&
                          pick_devices(h, r, ci, &probe, taken) ==
                              VR_F__LAST &&
                          probe.ndevs && (r->npci + r->nsriov > 0);
            /* count only when every device landed in this cell */
            if (devcell[ci]) {
                for (int d = 0; d < h->ndevs; d++)
                    if (taken[d] && h->devs[d].cell != ci)
                        devcell[ci] = false;
            }
            scores[ci] = cell_score(h, ci, r, devcell[ci]);
            cs.order[ci] = ci;
        }
        for (int i = 1; i < h->ncells; i++)
            for (int j = i; j > 0 && scores[cs.order[j]] >
                                         scores[cs.order[j - 1]]; j--) {
                int t = cs.order[j];
                cs.order[j] = cs.order[j - 1];
                cs.order[j - 1] = t;
            }
        if (!search_cells(&cs, 0)) {
            free(taken);
            return cs.worst == VR_F__LAST ? VR_F_NUMA : cs.worst;
        }
        dev_cell = cs.chosen[0];
    }

    /* CPUs of each vnode on its cell */
    plan->nvnodes = cs.n;
    for (int v = 0; v < cs.n; v++) {
        int ci = cs.chosen[v], need = cs.vcpus[v], got = 0;
        plan->vnodes[v].cell = (int16_t)h->cells[ci].id;
        plan->vnodes[v].first_vcpu = (int16_t)vcpu;
        plan->vnodes[v].nvcpus = (int16_t)need;
        plan->vnodes[v].memory_mib = cs.mem[v];
        if (r->policy == VR_CPU_THREAD) {
            for (int t = 0; t < h->nthreads && got < need; t++) {
                if (h->thread_cell[t] != ci || !h->dedicated[t] || h->owner[t])
                    continue;
                plan->vcpu_cpu[vcpu + got++] = (int16_t)t;
                plan->held[plan->nheld++] = (int16_t)t;
            }
        } else if (r->policy == VR_CPU_CORE || r->policy == VR_CPU_ISOLATE) {
            for (int c = 0; c < h->ncores && got < need; c++) {
                const struct sched_core *co = &h->cores[c];
                if (co->cell != ci || !core_free(h, co))
                    continue;
                for (int t = 0; t < co->nthreads; t++)
                    plan->held[plan->nheld++] = co->threads[t];
                if (r->policy == VR_CPU_CORE) {
                    plan->vcpu_cpu[vcpu + got++] = co->threads[0];
                } else {
                    for (int t = 0; t < co->nthreads && got < need; t++)
                        plan->vcpu_cpu[vcpu + got++] = co->threads[t];
                }
            }
        } else {
            got = need; /* shared: float over the cell's shared CPUs */
        }
        if (got < need) {
            free(taken);
            return VR_F_DEDICATED;
        }
        vcpu += need;
    }
    if (r->policy != VR_CPU_SHARED && vcpu != r->vcpus) {
        free(taken);
        return VR_F_NUMA;
    }

    memset(taken, 0, (size_t)h->ndevs + 1);
    f = pick_devices(h, r, dev_cell, plan, taken);
    free(taken);
    return f;
}

/* ---- holding and releasing */

/* What a plan holds, hashed (never 0): a VM's plan is released only if it
 * is the one the VM holds, so that a stale or repeated release (a plan
 * whose hold failed at start-up, a plan released twice) never frees what
 * another VM, or a newer plan, holds. */
static uintptr_t plan_hash(const struct vr_sched_plan *p)
{
    uint64_t f = 1469598103934665603ULL;

    f = fnv(f, &p->host_id, sizeof(p->host_id));
    f = fnv(f, &p->policy, sizeof(p->policy));
    f = fnv(f, &p->nvcpus, sizeof(p->nvcpus));
    if (p->nvcpus > 0 && p->nvcpus <= VR_SCHED_MAX_VCPUS)
        f = fnv(f, p->vcpu_cpu, (size_t)p->nvcpus * sizeof(p->vcpu_cpu[0]));
    f = fnv(f, &p->nheld, sizeof(p->nheld));
    if (p->nheld > 0 && p->nheld <= (int)VR_ARRAY_SIZE(p->held))
        f = fnv(f, p->held, (size_t)p->nheld * sizeof(p->held[0]));
    for (int v = 0; v < p->nvnodes && v < VR_SCHED_MAX_VNODES; v++) {
        f = fnv(f, &p->vnodes[v].cell, sizeof(p->vnodes[v].cell));
        f = fnv(f, &p->vnodes[v].nvcpus, sizeof(p->vnodes[v].nvcpus));
        f = fnv(f, &p->vnodes[v].memory_mib, sizeof(p->vnodes[v].memory_mib));
    }
    f = fnv(f, &p->page_kib, sizeof(p->page_kib));
    for (int d = 0; d < p->ndevs && d < (int)VR_ARRAY_SIZE(p->devs); d++)
        f = fnv(f, p->devs[d].addr, strnlen(p->devs[d].addr,
                                            sizeof(p->devs[d].addr)) + 1);
    f = fnv(f, &p->memory_mib, sizeof(p->memory_mib));
    f = fnv(f, p->role_key, strnlen(p->role_key, sizeof(p->role_key)));
    return (uintptr_t)f | 1;
}

static void apply(struct vr_sched *s, struct vr_sched_host *h,
                  const struct vr_sched_plan *p,
                  int64_t vm_id, int sign)
{
    intptr_t roles;

    if (sign > 0)
        vr_map_put_int(&h->held, vm_id, (void *)plan_hash(p));
    else
        vr_map_del_int(&h->held, vm_id);

    for (int i = 0; i < p->nheld; i++) {
        int t = p->held[i];
        if (t >= 0 && t < h->nthreads)
            h->owner[t] = sign > 0 ? vm_id : 0;
    }
    if (p->policy == VR_CPU_SHARED)
        h->shared_used += sign * (double)p->nvcpus;
    if (!p->page_kib) {
        if (sign > 0)
            h->mem_used_mib += p->memory_mib;
        else
            h->mem_used_mib -= p->memory_mib < h->mem_used_mib
                                   ? p->memory_mib : h->mem_used_mib;
    }
    for (int v = 0; v < p->nvnodes; v++) {
        int ci = cell_index(h, p->vnodes[v].cell);
        struct sched_cell *c;
        if (ci < 0)
            continue;
        c = &h->cells[ci];
        if (p->page_kib) {
            uint64_t n = (p->vnodes[v].memory_mib * 1024 + p->page_kib - 1) /
                         p->page_kib;
            for (int q = 0; q < c->npagesz; q++)
                if (c->page_kib[q] == p->page_kib)
                    c->pages_used[q] = sign > 0 ? c->pages_used[q] + n
                                       : c->pages_used[q] > n
                                           ? c->pages_used[q] - n : 0;
        } else {
            c->bound_mib = sign > 0 ? c->bound_mib + p->vnodes[v].memory_mib
                           : c->bound_mib > p->vnodes[v].memory_mib
                               ? c->bound_mib - p->vnodes[v].memory_mib : 0;
        }
    }
    for (int d = 0; d < p->ndevs; d++)
        for (int k = 0; k < h->ndevs; k++)
            if (strcmp(h->devs[k].addr, p->devs[d].addr) == 0)
                h->devs[k].owner = sign > 0 ? vm_id : 0;
    if (sign > 0)
        h->disk_held_mib += p->disk_mib;
    h->vms += sign;
    if (p->role_key[0]) {
        roles = (intptr_t)vr_map_get_str(&h->roles, p->role_key) + sign;
        if (roles > 0)
            vr_map_put_str(&h->roles, p->role_key, (void *)roles);
        else
            vr_map_del_str(&h->roles, p->role_key);
    }
    recount(h);
    hot_sync(s, h);
}

/* Collisions: a plan may only take what is free. */
static int check_free(const struct vr_sched_host *h,
                      const struct vr_sched_plan *p, int64_t vm_id,
                      struct vr_error *err)
{
    for (int i = 0; i < p->nheld; i++) {
        int t = p->held[i];
        if (t < 0 || t >= h->nthreads)
            return vr_err(err, VR_E_CONFLICT, "host CPU %d does not exist on "
                          "host '%s'", t, h->name);
        if (h->owner[t] && h->owner[t] != vm_id)
            return vr_err(err, VR_E_CONFLICT, "host CPU %d of '%s' is held "
                          "by vm %lld", t, h->name, (long long)h->owner[t]);
    }
    for (int d = 0; d < p->ndevs; d++)
        for (int k = 0; k < h->ndevs; k++)
            if (strcmp(h->devs[k].addr, p->devs[d].addr) == 0 &&
                h->devs[k].owner && h->devs[k].owner != vm_id)
                return vr_err(err, VR_E_CONFLICT, "device %s of '%s' is held "
                              "by vm %lld", p->devs[d].addr, h->name,
                              (long long)h->devs[k].owner);
    return 0;
}

int vr_sched_hold(struct vr_sched *s, const struct vr_sched_plan *plan,
                  int64_t vm_id, struct vr_error *err)
{
    struct vr_sched_host *h;
    int ret = 0;

    if (vm_id <= 0)
        return vr_err(err, VR_E_INVALID, "a placement needs the VM's id");
    pthread_mutex_lock(&s->lock);
    h = vr_map_get_int(&s->by_id, plan->host_id);
    if (!h) {
        ret = vr_err(err, VR_E_NOT_FOUND, "host %lld is not known to the "
                     "scheduler", (long long)plan->host_id);
    } else if (vr_map_get_int(&h->held, vm_id)) {
        /* holding the same plan again changes nothing; another one would
         * count the VM twice */
        if ((uintptr_t)vr_map_get_int(&h->held, vm_id) != plan_hash(plan))
            ret = vr_err(err, VR_E_CONFLICT, "vm %lld already holds another "
                         "placement on host '%s'", (long long)vm_id, h->name);
    } else if ((ret = check_free(h, plan, vm_id, err)) == 0) {
        apply(s, h, plan, vm_id, +1);
    }
    pthread_mutex_unlock(&s->lock);
    return ret;
}

void vr_sched_release_plan(struct vr_sched *s, const struct vr_sched_plan *p,
                           int64_t vm_id)
{
    struct vr_sched_host *h;

    pthread_mutex_lock(&s->lock);
    h = vr_map_get_int(&s->by_id, p->host_id);
    /* only the plan the VM holds there (see plan_hash) */
    if (h && (uintptr_t)vr_map_get_int(&h->held, vm_id) == plan_hash(p)) {
        apply(s, h, p, vm_id, -1);
        s->generation++;
    }
    pthread_mutex_unlock(&s->lock);
}

void vr_sched_running(struct vr_sched *s, int64_t host_id, int delta)
{
    struct vr_sched_host *h;
    pthread_mutex_lock(&s->lock);
    h = vr_map_get_int(&s->by_id, host_id);
    if (h) {
        h->running += delta;
        hot_sync(s, h);
    }
    pthread_mutex_unlock(&s->lock);
}

/* ---- deciding */

struct candidate {
    struct vr_sched_host *h;
    int64_t id;
    double rank;
};

static int cmp_candidate(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? 1 : -1;   /* higher rank first */
    return (x->id > y->id) - (x->id < y->id);
}

/* Cheap necessary conditions from the counters (the exact fit comes
 * later): total free dedicated threads/cores, pages, devices. */
static int quick_epa(const struct vr_sched_host *h,
                     const struct vr_sched_req *r)
{
    int free_threads = 0, free_cores = 0, cells_ok = 0;
    uint64_t pages = 0;
    bool cells = pinned(r->policy) || r->page_kib || r->nvnodes;

    if (r->nvnodes > h->ncells)
        return VR_F_NUMA;
    if (!cells)
        return VR_F__LAST;   /* a floating VM: the capacities said it all */
    for (int i = 0; i < h->ncells; i++) {
        free_threads += h->cells[i].free_threads;
        free_cores += h->cells[i].free_cores;
        if (r->page_kib)
            pages += free_pages(&h->cells[i], r->page_kib);
        if (!cells_ok &&
            cell_fits(h, i, r, r->nvnodes ? r->vnodes[0].vcpus : r->vcpus,
                      r->nvnodes ? r->vnodes[0].memory_mib : r->memory_mib) ==
                VR_F__LAST)
            cells_ok++;
    }
    if (r->policy == VR_CPU_THREAD && free_threads < r->vcpus)
        return VR_F_DEDICATED;
    if ((r->policy == VR_CPU_CORE || r->policy == VR_CPU_ISOLATE) &&
        free_cores < cores_for(r->policy, r->vcpus, 8))
        return VR_F_DEDICATED;
    if (r->page_kib &&
        pages < (r->memory_mib * 1024 + r->page_kib - 1) / r->page_kib)
        return VR_F_PAGES;
    if (!cells_ok) {
        /* name what the best cell lacks */
        int f = VR_F__LAST;
        for (int i = 0; i < h->ncells && f != VR_F_NUMA; i++) {
            int g = cell_fits(h, i, r, r->nvnodes ? r->vnodes[0].vcpus
                                                  : r->vcpus,
                              r->nvnodes ? r->vnodes[0].memory_mib
                                         : r->memory_mib);
            if (f == VR_F__LAST || g < f)
                f = g;
        }
        return f == VR_F__LAST ? VR_F_NUMA : f;
    }
    return VR_F__LAST;
}

static int role_total(const struct vr_sched *s, const char *key)
{
    int n = 0;
    for (size_t i = 0; i < s->nhosts; i++)
        n += (int)(intptr_t)vr_map_get_str(&s->hosts[i]->roles, key);
    return n;
}

/* The first filters, on a host's packed summary; VR_F__LAST if it
 * passes them. */
static int filter_hot(const struct vr_sched_hot *x,
                      const struct vr_sched_req *r)
{
    if (r->nhosts) {
        bool in = false;
        for (int i = 0; i < r->nhosts; i++)
            in = in || r->hosts[i] == x->id;
        if (!in)
            return VR_F_HOSTLIST;
    }
    if (!x->enabled)
        return VR_F_DISABLED;
    if (!x->monitored)
        return VR_F_MONITOR;
    if (r->policy == VR_CPU_SHARED && r->vcpus > x->cpu_left + 1e-9)
        return VR_F_CPU;
    if (!r->page_kib && x->mem_used + r->memory_mib > x->mem_cap)
        return VR_F_MEMORY;
    if (r->disk_mib > x->disk_left)
        return VR_F_DISK;
    return VR_F__LAST;
}

/* What a request needs beyond the packed summary: the rest of the
 * filters read the host's whole view. */
static bool needs_host(const struct vr_sched *s, const struct vr_sched_req *r)
{
    return r->requirements || r->default_requirements ||
           s->cluster_exprs > 0 || (r->role_key[0] && r->affinity_hard) ||
           pinned(r->policy) || r->page_kib || r->nvnodes || r->npci ||
           r->nsriov;
}

/* The rest of the filters, in order; VR_F__LAST if the host passes. */
/* The requirements (rank) that judge host h for request r: the VM's
 * own, else its cluster's, else the request's defaults; NULL: none. */
static const struct vr_expr *host_reqs(const struct vr_sched_host *h,
                                       const struct vr_sched_req *r)
{
    if (r->requirements)
        return r->requirements;
    if (h->cl && h->cl->reqs)
        return h->cl->reqs;
    return r->default_requirements;
}

static const struct vr_expr *host_rank(const struct vr_sched_host *h,
                                       const struct vr_sched_req *r)
{
    if (r->rank)
        return r->rank;
    if (h->cl && h->cl->rank)
        return h->cl->rank;
    return r->default_rank;
}

static int filter_rest(const struct vr_sched_host *h,
                       const struct vr_sched_req *r, int role_vms,
                       const bool *used, struct vr_expr_value *vals)
{
    const struct vr_expr *reqs = host_reqs(h, r);

    if (reqs) {
        bool ok = false;
        host_values(h, used, vals);
        if (vr_expr_eval_bool(reqs, vals, &ok) < 0 || !ok)
            return VR_F_REQS;
    }
    if (r->role_key[0] && r->affinity_hard) {
        int here = (int)(intptr_t)vr_map_get_str(&h->roles, r->role_key);
        if (r->affinity == VR_AFF_AFFINE && role_vms > 0 && here == 0)
            return VR_F_AFFINITY;
        if (r->affinity == VR_AFF_ANTI && here > 0)
            return VR_F_ANTI;
    }
    return quick_epa(h, r);
}

static double default_rank(const struct vr_sched *s,
                           const struct vr_sched_hot *x)
{
    double cap = (double)(x->mem_cap ? x->mem_cap : 1);
    switch (s->rank) {
    case VR_RANK_PACK:
        return (double)x->mem_used / cap + x->shared_used * 1e-6;
    case VR_RANK_STRIPE:
        /* negative when the capacity shrank below what is used */
        return (double)x->mem_cap - (double)x->mem_used;
    case VR_RANK_LOAD:
        return -(double)x->running - x->shared_used * 1e-3;
    case VR_RANK__LAST:
        break;
    }
    return 0;
}

int vr_sched_req_check(const struct vr_sched_req *r, struct vr_error *err)
{
    int sum = 0;
    uint64_t mem = 0;

    if (r->vcpus < 1 || r->vcpus > VR_SCHED_MAX_VCPUS)
        return vr_err(err, VR_E_INVALID, "vcpus must be between 1 and %d",
                      VR_SCHED_MAX_VCPUS);
    if ((unsigned)r->policy >= VR_CPU__LAST)
        return vr_err(err, VR_E_INVALID, "unknown CPU policy %d",
                      (int)r->policy);
    if (r->nhosts < 0 || r->nhosts > VR_SCHED_MAX_HOSTS_LIST)
        return vr_err(err, VR_E_INVALID, "at most %d hosts in the host list",
                      VR_SCHED_MAX_HOSTS_LIST);
    if (r->nvnodes < 0 || r->nvnodes > VR_SCHED_MAX_VNODES)
        return vr_err(err, VR_E_INVALID, "at most %d NUMA nodes",
                      VR_SCHED_MAX_VNODES);
    for (int i = 0; i < r->nvnodes; i++) {
        if (r->vnodes[i].vcpus < 1 || r->vnodes[i].memory_mib < 1)
            return vr_err(err, VR_E_INVALID, "NUMA node %d needs at least one "
                          "vCPU and some memory", i);
        sum += r->vnodes[i].vcpus;
        mem += r->vnodes[i].memory_mib;
    }
    if (r->nvnodes && (sum != r->vcpus || mem != r->memory_mib))
        return vr_err(err, VR_E_INVALID, "the NUMA nodes hold %d vCPUs and "
                      "%llu MiB; the VM has %d and %llu", sum,
                      (unsigned long long)mem, r->vcpus,
                      (unsigned long long)r->memory_mib);
    if (r->page_kib && r->page_kib != 2048 && r->page_kib != 1048576)
        return vr_err(err, VR_E_INVALID, "huge pages are 2M or 1G");
    if (r->page_kib) {
        for (int i = 0; i < (r->nvnodes ? r->nvnodes : 1); i++) {
            uint64_t m = r->nvnodes ? r->vnodes[i].memory_mib : r->memory_mib;
            if ((m * 1024) % r->page_kib)
                return vr_err(err, VR_E_INVALID, "memory %llu MiB is not a "
                              "whole number of %s pages",
                              (unsigned long long)m,
                              r->page_kib == 2048 ? "2M" : "1G");
        }
    }
    if (r->npci < 0 || r->nsriov < 0 ||
        r->npci + r->nsriov > VR_SCHED_MAX_DEVS)
        return vr_err(err, VR_E_INVALID, "at most %d devices",
                      VR_SCHED_MAX_DEVS);
    return 0;
}

/* Run the filters on every host; fill `cand` (room for every host) with
 * the hosts that pass (best rank first if `sorted`); count the others in
 * `why`.
 * Called with the lock held. */
static size_t rank_hosts(struct vr_sched *s, const struct vr_sched_req *r,
                         struct candidate *cand, struct vr_sched_why *why,
                         bool sorted)
{
    struct vr_expr_value vals[A__LAST];
    bool used[A__LAST];
    bool more = needs_host(s, r);
    bool ranked = r->rank || r->default_rank || s->cluster_exprs;
    size_t ncand = 0;
    int role_vms = 0;

    /* only the attributes the expressions read are computed */
    memset(used, 0, sizeof(used));
    memset(vals, 0, sizeof(vals));
    if (r->requirements)
        vr_expr_mark_used(r->requirements, used);
    else if (r->default_requirements)
        vr_expr_mark_used(r->default_requirements, used);
    if (r->rank)
        vr_expr_mark_used(r->rank, used);
    else if (r->default_rank)
        vr_expr_mark_used(r->default_rank, used);
    if ((!r->requirements || !r->rank) && s->cluster_exprs)
        for (int a = 0; a < A__LAST; a++)
            used[a] = used[a] || s->cluster_used[a];
    if (r->role_key[0])
        role_vms = role_total(s, r->role_key);
    for (size_t i = 0; i < s->nhosts; i++) {
        const struct vr_sched_hot *x = &s->hot[i];
        int f = filter_hot(x, r);
        double rank;
        if (f == VR_F__LAST && more)
            f = filter_rest(x->h, r, role_vms, used, vals);
        if (f != VR_F__LAST) {
            why->count[f]++;
            continue;
        }
        /* the host's view only when some rank expression may apply: the
         * default rank reads the packed row alone */
        const struct vr_expr *rx = ranked ? host_rank(x->h, r) : NULL;
        if (rx) {
            host_values(x->h, used, vals);
            vr_expr_eval_num(rx, vals, &rank);
        } else {
            rank = default_rank(s, x);
        }
        if (r->role_key[0] && !r->affinity_hard) {
            int here = (int)(intptr_t)vr_map_get_str(&x->h->roles,
                                                     r->role_key);
            if (r->affinity == VR_AFF_AFFINE && here)
                rank += 1e12;
            if (r->affinity == VR_AFF_ANTI && here)
                rank -= 1e12 * here;
        }
        cand[ncand].h = x->h;
        cand[ncand].id = x->id;
        cand[ncand].rank = rank;
        ncand++;
    }
    if (sorted)
        qsort(cand, ncand, sizeof(*cand), cmp_candidate);
    return ncand;
}

/* Move the best of cand[from..n) to cand[from] (one linear pass: the
 * first candidate nearly always fits, so a full sort would be wasted). */
static void select_best(struct candidate *cand, size_t from, size_t n)
{
    size_t best = from;
    struct candidate t;

    for (size_t i = from + 1; i < n; i++)
        if (cmp_candidate(&cand[i], &cand[best]) < 0)
            best = i;
    t = cand[from];
    cand[from] = cand[best];
    cand[best] = t;
}

int vr_sched_candidates(struct vr_sched *s, const struct vr_sched_req *r,
                        int64_t *ids, size_t max, size_t *n,
                        struct vr_sched_why *why, struct vr_error *err)
{
    struct candidate *cand;
    size_t nc;

    memset(why, 0, sizeof(*why));
    *n = 0;
    if (vr_sched_req_check(r, err) < 0)
        return -1;
    pthread_mutex_lock(&s->lock);
    why->hosts = (int)s->nhosts;
    cand = vr_malloc((s->nhosts + 1) * sizeof(*cand));
    nc = rank_hosts(s, r, cand, why, true);
    for (size_t i = 0; i < nc && *n < max; i++) {
        /* only hosts the VM really fits on (the exact fit, not kept) */
        struct vr_sched_plan *probe = vr_malloc(sizeof(*probe));
        int f = fit_host(cand[i].h, r, probe);
        free(probe);
        if (f != VR_F__LAST) {
            why->count[f]++;
            continue;
        }
        ids[(*n)++] = cand[i].h->id;
    }
    free(cand);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int vr_sched_place(struct vr_sched *s, const struct vr_sched_req *r,
                   struct vr_sched_plan *plan, struct vr_sched_why *why,
                   struct vr_error *err)
{
    struct candidate *cand;
    size_t ncand = 0;
    int ret = -1;
    char text[512];

    memset(why, 0, sizeof(*why));
    if (vr_sched_req_check(r, err) < 0)
        return -1;
    if (r->vm_id <= 0) /* what it holds is marked with its id */
        return vr_err(err, VR_E_INVALID, "a placement needs the VM's id");
    pthread_mutex_lock(&s->lock);
    why->hosts = (int)s->nhosts;
    if (r->force && r->nhosts) {
        struct vr_sched_host *h = vr_map_get_int(&s->by_id, r->hosts[0]);
        int f;
        if (!h) {
            pthread_mutex_unlock(&s->lock);
            return vr_err(err, VR_E_NOT_FOUND, "host %lld not found",
                          (long long)r->hosts[0]);
        }
        f = fit_host(h, r, plan);
        if (f == VR_F__LAST) {
            apply(s, h, plan, r->vm_id, +1);
            pthread_mutex_unlock(&s->lock);
            return 0;
        }
        why->hosts = 1;
        why->count[f] = 1;
        pthread_mutex_unlock(&s->lock);
        vr_sched_why_format(why, r, text, sizeof(text));
        return vr_err(err, VR_E_UNAVAILABLE, "%s (even forced, the VM must "
                      "fit the host's CPUs, memory and devices)", text);
    }
    cand = vr_malloc((s->nhosts + 1) * sizeof(*cand));
    ncand = rank_hosts(s, r, cand, why, false);
    for (size_t i = 0; i < ncand; i++) {
        int f;
        select_best(cand, i, ncand);
        f = fit_host(cand[i].h, r, plan);
        if (f == VR_F__LAST) {
            apply(s, cand[i].h, plan, r->vm_id, +1);
            ret = 0;
            break;
        }
        why->count[f]++;
    }
    free(cand);
    pthread_mutex_unlock(&s->lock);
    if (ret < 0) {
        vr_sched_why_format(why, r, text, sizeof(text));
        vr_err(err, VR_E_UNAVAILABLE, "%s", text);
    }
    return ret;
}

/* counts: with the number of hosts and per reason (for operators); else
 * the reasons only (for tenants, who need not learn how many hosts there
 * are). */
static void why_format(const struct vr_sched_why *w,
                       const struct vr_sched_req *r, bool counts, char *out,
                       size_t size)
{
    struct {
        int f, n;
    } rows[VR_F__LAST];
    int nrows = 0;
    size_t n;

    if (counts)
        n = (size_t)snprintf(out, size, "no host fits: %d host%s", w->hosts,
                             w->hosts == 1 ? "" : "s");
    else
        n = (size_t)snprintf(out, size, "no host fits");
    for (int f = 0; f < VR_F__LAST; f++)
        if (w->count[f]) {
            rows[nrows].f = f;
            rows[nrows].n = w->count[f];
            nrows++;
        }
    /* most common reason first */
    for (int i = 1; i < nrows; i++)
        for (int j = i; j > 0 && rows[j].n > rows[j - 1].n; j--) {
            int tf = rows[j].f, tn = rows[j].n;
            rows[j] = rows[j - 1];
            rows[j - 1].f = tf;
            rows[j - 1].n = tn;
        }
    for (int i = 0; i < nrows && n < size; i++) {
        /* what the VM needs, where that says more than the filter */
        char text[128];
        int per = r ? (r->nvnodes ? r->vnodes[0].vcpus : r->vcpus) : 0;
        const char *cell = r && r->nvnodes > 1 ? " per cell" : " on one cell";
        if (rows[i].f == VR_F_DEDICATED && r && r->policy == VR_CPU_THREAD)
            snprintf(text, sizeof(text), "lack %d free dedicated thread%s%s",
                     per, per == 1 ? "" : "s", cell);
        else if (rows[i].f == VR_F_DEDICATED && r &&
                 r->policy == VR_CPU_CORE)
            snprintf(text, sizeof(text), "lack %d free whole core%s%s", per,
                     per == 1 ? "" : "s", cell);
        else if (rows[i].f == VR_F_DEDICATED && r)
            snprintf(text, sizeof(text), "lack free whole cores for %d "
                     "vCPU%s%s", per, per == 1 ? "" : "s", cell);
        else if (rows[i].f == VR_F_PAGES && r)
            snprintf(text, sizeof(text), "lack %llu MiB of free %s huge "
                     "pages%s", (unsigned long long)(r->nvnodes
                                     ? r->vnodes[0].memory_mib
                                     : r->memory_mib),
                     r->page_kib == 2048 ? "2M" : "1G", cell);
        else
            vr_strlcpy(text, filter_texts[rows[i].f], sizeof(text));
        if (counts)
            n += (size_t)snprintf(out + n, size - n, "%s %d %s",
                                  i ? "," : ":", rows[i].n, text);
        else
            n += (size_t)snprintf(out + n, size - n, "%s %s",
                                  i ? "," : ": hosts", text);
    }
}

void vr_sched_why_format(const struct vr_sched_why *w,
                         const struct vr_sched_req *r, char *out, size_t size)
{
    why_format(w, r, true, out, size);
}

void vr_sched_why_reasons(const struct vr_sched_why *w,
                          const struct vr_sched_req *r, char *out,
                          size_t size)
{
    why_format(w, r, false, out, size);
}

/* ---- plans as JSON (stored on the VM) */

json_t *vr_sched_plan_to_json(const struct vr_sched_plan *p)
{
    json_t *j = json_object(), *pins = json_array(), *held = json_array(),
           *nodes = json_array(), *devs = json_array();

    json_object_set_new(j, "host_id", json_integer(p->host_id));
    json_object_set_new(j, "cpu_policy",
                        json_string(vr_cpu_policy_name(p->policy)));
    json_object_set_new(j, "vcpus", json_integer(p->nvcpus));
    for (int i = 0; i < p->nvcpus; i++)
        json_array_append_new(pins, json_integer(p->vcpu_cpu[i]));
    json_object_set_new(j, "vcpu_pins", pins);
    for (int i = 0; i < p->nheld; i++)
        json_array_append_new(held, json_integer(p->held[i]));
    json_object_set_new(j, "held_cpus", held);
    for (int i = 0; i < p->nvnodes; i++)
        json_array_append_new(nodes, json_pack("{s:i, s:i, s:i, s:I}",
                                               "cell", p->vnodes[i].cell,
                                               "first_vcpu",
                                               p->vnodes[i].first_vcpu,
                                               "vcpus", p->vnodes[i].nvcpus,
                                               "memory_mib",
                                               (json_int_t)p->vnodes[i]
                                                   .memory_mib));
    json_object_set_new(j, "numa", nodes);
    if (p->page_kib)
        json_object_set_new(j, "hugepage_kib", json_integer(p->page_kib));
    for (int i = 0; i < p->ndevs; i++)
        json_array_append_new(devs, json_pack("{s:s, s:s}", "address",
                                              p->devs[i].addr, "pool",
                                              p->devs[i].pool));
    json_object_set_new(j, "devices", devs);
    json_object_set_new(j, "memory_mib",
                        json_integer((json_int_t)p->memory_mib));
    json_object_set_new(j, "disk_mib", json_integer((json_int_t)p->disk_mib));
    if (p->role_key[0])
        json_object_set_new(j, "role", json_string(p->role_key));
    return j;
}

int vr_sched_plan_from_json(struct vr_sched_plan *p, const json_t *j,
                            struct vr_error *err)
{
    const json_t *a, *v;
    size_t i;

    memset(p, 0, sizeof(*p));
    if (!json_is_object(j))
        return vr_err(err, VR_E_INTERNAL, "bad placement record");
    p->host_id = vr_json_get_i64(j, "host_id");
    if (vr_cpu_policy_parse(json_string_value(json_object_get(j, "cpu_policy")),
                            &p->policy) < 0)
        return vr_err(err, VR_E_INTERNAL, "bad placement record");
    p->nvcpus = (int)vr_json_get_i64(j, "vcpus");
    if (p->nvcpus < 0 || p->nvcpus > VR_SCHED_MAX_VCPUS)
        return vr_err(err, VR_E_INTERNAL, "bad placement record");
    a = json_object_get(j, "vcpu_pins");
    json_array_foreach(a, i, v) {
        if ((int)i < VR_SCHED_MAX_VCPUS)
            p->vcpu_cpu[i] = (int16_t)json_integer_value(v);
    }
    a = json_object_get(j, "held_cpus");
    json_array_foreach(a, i, v) {
        if (p->nheld < (int)VR_ARRAY_SIZE(p->held))
            p->held[p->nheld++] = (int16_t)json_integer_value(v);
    }
    a = json_object_get(j, "numa");
    json_array_foreach(a, i, v) {
        if (p->nvnodes >= VR_SCHED_MAX_VNODES)
            break;
        p->vnodes[p->nvnodes].cell = (int16_t)vr_json_get_i64(v, "cell");
        p->vnodes[p->nvnodes].first_vcpu =
            (int16_t)vr_json_get_i64(v, "first_vcpu");
        p->vnodes[p->nvnodes].nvcpus = (int16_t)vr_json_get_i64(v, "vcpus");
        p->vnodes[p->nvnodes].memory_mib =
            (uint64_t)vr_json_get_i64(v, "memory_mib");
        p->nvnodes++;
    }
    p->page_kib = (uint32_t)vr_json_get_i64(j, "hugepage_kib");
    a = json_object_get(j, "devices");
    json_array_foreach(a, i, v) {
        if (p->ndevs >= (int)VR_ARRAY_SIZE(p->devs))
            break;
        vr_json_copy_str(v, "address", p->devs[p->ndevs].addr,
                         sizeof(p->devs[0].addr));
        vr_json_copy_str(v, "pool", p->devs[p->ndevs].pool,
                         sizeof(p->devs[0].pool));
        p->ndevs++;
    }
    p->memory_mib = (uint64_t)vr_json_get_i64(j, "memory_mib");
    p->disk_mib = (uint64_t)vr_json_get_i64(j, "disk_mib");
    vr_json_copy_str(j, "role", p->role_key, sizeof(p->role_key));
    return 0;
}

/* ---- display */

json_t *vr_sched_host_usage(struct vr_sched *s, int64_t host_id)
{
    struct vr_sched_host *h;
    json_t *j = NULL, *cells, *devs;

    pthread_mutex_lock(&s->lock);
    h = vr_map_get_int(&s->by_id, host_id);
    if (h) {
        uint8_t *bits = vr_calloc((size_t)h->nthreads, 1);
        char list[512];

        j = json_object();
        cells = json_array();
        for (int i = 0; i < h->ncells; i++) {
            const struct sched_cell *c = &h->cells[i];
            json_t *jc = json_object(), *pages = json_array();
            memset(bits, 0, (size_t)h->nthreads);
            for (int t = 0; t < h->nthreads; t++)
                bits[t] = h->thread_cell[t] == i && h->dedicated[t] &&
                          !h->owner[t];
            vr_cpulist_format(bits, h->nthreads, list, sizeof(list));
            json_object_set_new(jc, "id", json_integer(c->id));
            json_object_set_new(jc, "free_dedicated_cpus", json_string(list));
            json_object_set_new(jc, "free_threads",
                                json_integer(c->free_threads));
            json_object_set_new(jc, "free_cores", json_integer(c->free_cores));
            json_object_set_new(jc, "shared_cpus", json_integer(c->nshared));
            json_object_set_new(jc, "bound_memory_mib",
                                json_integer((json_int_t)c->bound_mib));
            json_object_set_new(jc, "memory_mib",
                                json_integer((json_int_t)c->mem_mib));
            for (int p = 0; p < c->npagesz; p++)
                json_array_append_new(pages, json_pack(
                    "{s:i, s:I, s:I}", "size_kib", (int)c->page_kib[p],
                    "total", (json_int_t)c->pages_total[p], "free",
                    (json_int_t)(c->pages_total[p] - c->pages_used[p])));
            json_object_set_new(jc, "hugepages", pages);
            json_array_append_new(cells, jc);
        }
        json_object_set_new(j, "cells", cells);
        memset(bits, 0, (size_t)h->nthreads);
        for (int t = 0; t < h->nthreads; t++)
            bits[t] = h->shared[t];
        vr_cpulist_format(bits, h->nthreads, list, sizeof(list));
        json_object_set_new(j, "shared_cpus", json_string(list));
        json_object_set_new(j, "shared_vcpus_used", json_real(h->shared_used));
        json_object_set_new(j, "shared_vcpus_capacity",
                            json_real(h->nshared * h->cpu_ratio));
        json_object_set_new(j, "memory_mib_used",
                            json_integer((json_int_t)h->mem_used_mib));
        json_object_set_new(j, "memory_mib_capacity",
                            json_integer((json_int_t)h->mem_cap_mib));
        /* in effect: the host's own, else its cluster's, else the
         * daemon's */
        json_object_set_new(j, "cpu_ratio", json_real(h->cpu_ratio));
        json_object_set_new(j, "mem_ratio", json_real(h->mem_ratio));
        devs = json_array();
        for (int d = 0; d < h->ndevs; d++)
            json_array_append_new(devs, json_pack(
                "{s:s, s:s, s:b, s:I}", "address", h->devs[d].addr, "pool",
                h->devs[d].pool, "assignable",
                (h->devs[d].allowed && !h->devs[d].pool_pf) ||
                    h->devs[d].pool[0],
                "vm_id", (json_int_t)h->devs[d].owner));
        json_object_set_new(j, "devices", devs);
        json_object_set_new(j, "vms", json_integer(h->vms));
        json_object_set_new(j, "running_vms", json_integer(h->running));
        free(bits);
    }
    pthread_mutex_unlock(&s->lock);
    return j;
}
