/* vr_host.h - a hypervisor host: identity, capabilities, probed hypervisor. */
#ifndef VR_HOST_H
#define VR_HOST_H

#include "vr_obj.h"

#define VR_HOST_MAX_CELLS 16

/* What a ratio inherited all the way (host, cluster, daemon settings
 * unset) means. */
#define VR_CPU_RATIO_DEFAULT 4.0
#define VR_MEM_RATIO_DEFAULT 1.0

#define VR_HOST_STATES(X)                                                  \
    X(VR_HOST_INIT, "INIT")                                                \
    X(VR_HOST_MONITORED, "MONITORED")                                      \
    X(VR_HOST_ERROR, "ERROR")          /* its node answers with errors */  \
    X(VR_HOST_DISABLED, "DISABLED")                                        \
    X(VR_HOST_OFFLINE, "OFFLINE")      /* its node does not answer */

VR_ENUM_TYPE(vr_host_state, VR_HOST_STATES, VR_HOST__LAST);

#define VR_HOST_MAX_CPUS 512
#define VR_HOST_MAX_DEVS 256
#define VR_HOST_MAX_PAGESIZES 2        /* huge pages: 2 MiB and 1 GiB */

/* One host CPU (a hardware thread).  Threads with the same socket and core
 * are siblings (SMT). */
struct vr_host_cpu {
    int16_t id;
    int16_t cell;              /* NUMA cell id */
    int16_t socket;
    int16_t core;              /* core id within its socket */
};

/* Huge pages of one size in one cell. */
struct vr_host_pages {
    uint32_t size_kib;         /* 2048 or 1048576 */
    uint64_t total;            /* pages in the pool */
    uint64_t free;             /* free when last read */
};

struct vr_host_cell {
    int id;
    uint64_t memory_kib;
    int ncpus;
    char cpus[128];            /* host CPU list, e.g. "0-3,8-11" */
    int npages;
    struct vr_host_pages pages[VR_HOST_MAX_PAGESIZES];
};

/* A PCI device that can be given to a guest (libvirt node device). */
struct vr_host_dev {
    char addr[16];             /* "0000:3b:00.1" */
    uint16_t vendor, product;
    uint32_t pci_class;        /* 24-bit PCI class code, e.g. 0x020000 */
    int16_t cell;              /* NUMA cell, -1 if unknown */
    char pf[16];               /* an SR-IOV VF: its PF's address; else "" */
    int16_t max_vfs;           /* an SR-IOV PF: how many VFs it supports */
    char name[48];             /* libvirt's "pci_0000_3b_00_1" */
    char driver[16];           /* bound driver, "" if none */
};

/* What an operator sets on a host for placement. */
#define VR_HOST_MAX_LABELS 16
#define VR_HOST_MAX_POOLS 8
#define VR_HOST_MAX_PCI 8
struct vr_host_conf {
    char dedicated_cpus[256];  /* CPUs for pinned vCPUs ("" none) */
    char reserved_cpus[256];   /* CPUs kept for the host itself */
    uint64_t reserved_memory_mib;
    double cpu_ratio;          /* shared vCPUs per shared host CPU;
                                * 0: the cluster's, else the daemon's */
    double mem_ratio;          /* memory overcommit (1.0: none); 0 as
                                * cpu_ratio */
    int nlabels;
    char labels[VR_HOST_MAX_LABELS][32];
    int npci;                  /* devices VMs may be given whole:
                                * PCI specs ("8086:1572", "class=0x0302",
                                * "0000:3b:00.0"); none by default */
    char pci[VR_HOST_MAX_PCI][32];
    int npools;                /* SR-IOV networks: name -> a PF's VFs */
    struct {
        char name[32];
        char pf[16];
    } pools[VR_HOST_MAX_POOLS];
};

/* The host's capabilities as the node reports them (also the payload of
 * the node interface's host_info call). */
struct vr_host_caps {
    char hostname[VR_NAME_SIZE];
    char uuid[VR_UUID_LEN];    /* libvirt host UUID */
    char arch[16];
    char cpu_model[64];
    char cpu_vendor[32];
    int cpus;
    int sockets, cores, threads;
    int mhz;
    uint64_t memory_kib;
    uint64_t free_memory_kib;
    int ncells;
    struct vr_host_cell cells[VR_HOST_MAX_CELLS];
    char libvirt_version[16];
    char hv_version[16];       /* QEMU */
    int ncpu_topo;             /* per-thread topology, id order */
    struct vr_host_cpu cpu_topo[VR_HOST_MAX_CPUS];
    int ndevs;
    struct vr_host_dev devs[VR_HOST_MAX_DEVS];
    uint64_t disk_free_mib;    /* free space of the system datastore */
};

struct vr_host {
    struct vr_obj hdr;         /* name = host name, uuid = libvirt's */
    enum vr_host_state state;
    bool enabled;
    char transport[16];        /* "local" */
    int64_t cluster_id;        /* the cluster it belongs to */
    char hypervisor[8];        /* "kvm" | "qemu" (TCG), from the probe */
    char hypervisor_detail[256];
    struct vr_host_caps caps;
    struct vr_host_conf conf;
    int64_t monitored_at;
    char error[VR_ERROR_MSG_SIZE];
};

extern const struct vr_kind vr_host_kind;

VR_ENUM_DECLARE(vr_host_state, vr_host_state);

/* Capabilities to/from JSON (shared by the host record and the node
 * transport). */
json_t *vr_host_caps_to_json(const struct vr_host_caps *c);
void vr_host_caps_from_json(struct vr_host_caps *c, const json_t *j);
json_t *vr_host_conf_to_json(const struct vr_host_conf *c);
void vr_host_conf_from_json(struct vr_host_conf *c, const json_t *j);
/* Defaults: no dedicated or reserved CPUs, ratios inherited (0). */
void vr_host_conf_defaults(struct vr_host_conf *c);

#endif
