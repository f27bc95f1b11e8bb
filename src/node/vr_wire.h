/*
 * vr_wire.h - the node protocol: what the controller and a node say to
 * each other, in types of its own (no model or scheduler struct), with a
 * version and JSON codecs.
 *
 * The in-process transports take these structs as they are; the sim
 * transport also sends every one through its codec and back, so that a
 * field the codecs forget breaks its tests; the remote transport of the
 * next issue sends exactly this JSON.  A message is
 *
 *     {"protocol": VR_NODE_PROTOCOL, "op": "dom_define", "body": {...}}
 *
 * and a node refuses a message of another protocol version.  Decoders
 * are strict (unknown members, strings that do not fit, counts and
 * numbers out of range are errors: VR_E_INVALID) because what they read
 * crosses a network.
 *
 * The host's capabilities (struct vr_host_caps, vr_host.h) travel as
 * vr_host_caps_to_json / vr_host_caps_from_json write and read them.
 */
#ifndef VR_WIRE_H
#define VR_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "vr_enum.h"
#include "vr_error.h"
#include "vr_util.h"

/* Version of the node protocol: a controller and a node speak when
 * equal. */
#define VR_NODE_PROTOCOL 1

#define VR_WIRE_NAME_SIZE 64
#define VR_WIRE_MAX_DISKS 16
#define VR_WIRE_MAX_NICS 8
#define VR_WIRE_MAX_VCPUS 256
#define VR_WIRE_MAX_CELLS 8
#define VR_WIRE_MAX_HOSTDEVS 16
#define VR_DOM_MIN_MEMORY_MIB 16

/* What a domain is doing, as libvirt says. */
#define VR_DOM_STATES(X)                                                   \
    X(VR_DOM_NONE, "none")             /* not defined on this node */      \
    X(VR_DOM_SHUTOFF, "shutoff")                                           \
    X(VR_DOM_RUNNING, "running")                                           \
    X(VR_DOM_PAUSED, "paused")                                             \
    X(VR_DOM_SAVED, "saved")           /* shut off with a managed save */  \
    X(VR_DOM_CRASHED, "crashed")                                           \
    X(VR_DOM_BUSY, "busy")             /* in transition (saving, ...) */

VR_ENUM_TYPE(vr_dom_state, VR_DOM_STATES, VR_DOM__LAST);
VR_ENUM_DECLARE(vr_dom_state, vr_dom_state);

struct vr_dom_disk {
    char target[8];
    char path[256];
    char format[8];
    bool boot;
};

struct vr_dom_nic {
    char model[16];              /* "virtio" */
    char mode[16];               /* "user" */
    char mac[18];                /* "52:54:00:xx:xx:xx" */
};

/* A domain to define: rendered to libvirt XML by the node. */
struct vr_dom_spec {
    char uuid[VR_UUID_LEN];
    char vm_name[VR_WIRE_NAME_SIZE];
    int64_t vm_id;
    char instance[VR_UUID_LEN];  /* the controller's installation id */
    char hypervisor[8];          /* "kvm" | "qemu" */
    int vcpus;
    uint64_t memory_mib;
    int ndisks;
    struct vr_dom_disk disks[VR_WIRE_MAX_DISKS];
    int nnics;
    struct vr_dom_nic nics[VR_WIRE_MAX_NICS];
    char console_log[256];       /* where the serial console is written */
    /* placement, rendered as libvirt enforces it */
    int sockets, cores, threads; /* guest topology, 0: flat */
    char cpuset[256];            /* floating vCPUs' host CPUs, "" any */
    int16_t vcpupin[VR_WIRE_MAX_VCPUS]; /* host CPU per vCPU, -1 none */
    bool pinned;                 /* vcpupin is set */
    char emulatorpin[256];       /* "" none */
    char nodeset[64];            /* host cells of the memory, "" any */
    int ncells;                  /* guest NUMA cells, 0: none */
    struct {
        char vcpus[64];          /* "0-3" */
        uint64_t memory_mib;
        int host_cell;
    } cells[VR_WIRE_MAX_CELLS];
    uint32_t hugepage_kib;       /* 0: normal pages */
    int nhostdevs;
    char hostdevs[VR_WIRE_MAX_HOSTDEVS][16];  /* PCI addresses */
};

#define VR_DISK_KINDS(X)                                                   \
    X(VR_DISK_OVERLAY, "overlay")  /* qcow2 on top of a base image */      \
    X(VR_DISK_COPY, "copy")        /* full copy of a base image, qcow2 */  \
    X(VR_DISK_EMPTY, "empty")      /* new thin qcow2 of size_mib */

VR_ENUM_TYPE(vr_disk_kind, VR_DISK_KINDS, VR_DISK__LAST);
VR_ENUM_DECLARE(vr_disk_kind, vr_disk_kind);

struct vr_disk_req {
    char vm_uuid[VR_UUID_LEN];
    int index;                   /* 0 = boot disk */
    enum vr_disk_kind kind;
    char base_path[256];
    char base_format[8];
    uint64_t size_mib;           /* EMPTY: size; others: 0 = base size */
};

/* A disk the node made. */
struct vr_disk_made {
    char path[256];
    char format[8];
    uint64_t size_mib;           /* virtual size */
};

/* A domain as found on the node. */
struct vr_dom_info {
    char uuid[VR_UUID_LEN];
    int64_t vm_id;               /* from Vireo's metadata; 0 if none */
    char instance[VR_UUID_LEN];  /* from the metadata; "" if none */
    enum vr_dom_state state;
    char vnc_socket[108];        /* the VNC server's UNIX socket on the
                                  * host ("" if none/unknown): VNC never
                                  * listens on TCP, and libvirt keeps the
                                  * socket where only root and QEMU reach
                                  * it (the console proxy will use it) */
    bool foreign;                /* a domain with this UUID exists but is
                                  * not this installation's (state NONE) */
};

/* ---- codecs: to_json returns a new reference; from_json fills *out
 * (zeroed first) or returns -1 with err */

json_t *vr_wire_spec_to_json(const struct vr_dom_spec *s);
int vr_wire_spec_from_json(const json_t *j, struct vr_dom_spec *out,
                           struct vr_error *err);
json_t *vr_wire_disk_req_to_json(const struct vr_disk_req *r);
int vr_wire_disk_req_from_json(const json_t *j, struct vr_disk_req *out,
                               struct vr_error *err);
json_t *vr_wire_disk_made_to_json(const struct vr_disk_made *d);
int vr_wire_disk_made_from_json(const json_t *j, struct vr_disk_made *out,
                                struct vr_error *err);
json_t *vr_wire_dom_info_to_json(const struct vr_dom_info *d);
int vr_wire_dom_info_from_json(const json_t *j, struct vr_dom_info *out,
                               struct vr_error *err);

/* A message: {"protocol", "op", "body"} (steals `body`). */
json_t *vr_wire_message(const char *op, json_t *body);
/* Open a message: its op and body (borrowed from `msg`); -1 with err
 * (VR_E_INVALID, or VR_E_UNSUPPORTED for another protocol version). */
int vr_wire_message_open(const json_t *msg, const char **op,
                         const json_t **body, struct vr_error *err);

#endif
