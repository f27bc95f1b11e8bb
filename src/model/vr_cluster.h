/*
 * vr_cluster.h - a cluster: a set of hosts managed alike.  Every host
 * belongs to one (the "default" cluster unless moved).  A cluster gives
 * its hosts overcommit ratios that a host's own setting overrides, labels
 * that expressions read as CLUSTER_LABELS, and default requirements and
 * rank for the VMs that bring none of their own.
 */
#ifndef VR_CLUSTER_H
#define VR_CLUSTER_H

#include "vr_host.h"
#include "vr_obj.h"

#define VR_CLUSTER_DEFAULT "default"
#define VR_CLUSTER_EXPR_SIZE 512

struct vr_cluster {
    struct vr_obj hdr;             /* names unique */
    double cpu_ratio;              /* 0: the daemon's host_cpu_ratio */
    double mem_ratio;              /* 0: the daemon's host_mem_ratio */
    int nlabels;
    char labels[VR_HOST_MAX_LABELS][32];
    char requirements[VR_CLUSTER_EXPR_SIZE];  /* "" none */
    char rank[VR_CLUSTER_EXPR_SIZE];          /* "" none */
};

extern const struct vr_kind vr_cluster_kind;

#endif
