/*
 * vr_vmgroup.h - VM groups: roles whose VMs must (or should) share a host
 * (affinity) or be kept apart (anti-affinity).  A VM joins one role of one
 * group when it is created; the scheduler enforces hard rules as a filter
 * and soft ones through the rank.
 */
#ifndef VR_VMGROUP_H
#define VR_VMGROUP_H

#include "vr_obj.h"
#include "vr_sched.h"

#define VR_VMGROUP_MAX_ROLES 8

struct vr_vm_group {
    struct vr_obj hdr;             /* names unique per owner */
    int nroles;
    struct {
        char name[32];
        enum vr_affinity affinity;
        bool hard;
    } roles[VR_VMGROUP_MAX_ROLES];
};

extern const struct vr_kind vr_vm_group_kind;

VR_ENUM_DECLARE(vr_affinity, vr_affinity);
/* The index of role `name` ("" is the first role), or -1. */
int vr_vm_group_role(const struct vr_vm_group *g, const char *name);

#endif
