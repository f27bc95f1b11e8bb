/* vr_host.h - a hypervisor host: identity, capabilities, probed hypervisor. */
#ifndef VR_HOST_H
#define VR_HOST_H

#include "vr_obj.h"

#define VR_HOST_MAX_CELLS 16

#define VR_HOST_STATES(X)                                                  \
    X(VR_HOST_INIT, "INIT")                                                \
    X(VR_HOST_MONITORED, "MONITORED")                                      \
    X(VR_HOST_ERROR, "ERROR")                                              \
    X(VR_HOST_DISABLED, "DISABLED")

enum vr_host_state {
#define VR_X(e, s) e,
    VR_HOST_STATES(VR_X)
#undef VR_X
    VR_HOST__LAST
};

struct vr_host_cell {
    int id;
    uint64_t memory_kib;
    int ncpus;
    char cpus[128];            /* host CPU list, e.g. "0-3,8-11" */
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
};

struct vr_host {
    struct vr_obj hdr;         /* name = host name, uuid = libvirt's */
    enum vr_host_state state;
    bool enabled;
    char transport[16];        /* "local" */
    char hypervisor[8];        /* "kvm" | "qemu" (TCG), from the probe */
    char hypervisor_detail[256];
    struct vr_host_caps caps;
    int64_t monitored_at;
    char error[VR_ERROR_MSG_SIZE];
};

extern const struct vr_kind vr_host_kind;

const char *vr_host_state_name(enum vr_host_state s);

/* Capabilities to/from JSON (shared by the host record and the node
 * transport). */
json_t *vr_host_caps_to_json(const struct vr_host_caps *c);
void vr_host_caps_from_json(struct vr_host_caps *c, const json_t *j);

#endif
