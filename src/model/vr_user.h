/*
 * vr_user.h - users, groups (tenants), ACL rules and API tokens.
 *
 * A user belongs to one primary group (hdr.group_id) and up to
 * VR_USER_MAX_GROUPS - 1 secondary ones.  A group has administrators (who
 * manage its users and its objects) and quotas.  The group with id
 * VR_GROUP_SUPERUSERS is the superuser group: a session working in it may
 * do everything.
 */
#ifndef VR_USER_H
#define VR_USER_H

#include "vr_obj.h"
#include "vr_quota.h"

#define VR_PWHASH_SIZE 128     /* crypto_pwhash_STRBYTES */
#define VR_TOKEN_HASH_SIZE 65  /* hex of a 32-byte BLAKE2b digest */
#define VR_USER_MAX_GROUPS 16
#define VR_GROUP_MAX_ADMINS 16

/* Made at first start, in this order, so their ids are fixed. */
#define VR_GROUP_SUPERUSERS 1  /* "superusers" */
#define VR_GROUP_USERS 2       /* "users": the default tenant */
#define VR_USER_ADMIN 1        /* "admin" */

struct vr_user {
    struct vr_obj hdr;             /* group_id = primary group */
    char pwhash[VR_PWHASH_SIZE];   /* Argon2id encoded string; secret */
    char auth[8];                  /* "local" | "ldap" */
    bool enabled;
    int ngroups;                   /* secondary groups */
    int64_t groups[VR_USER_MAX_GROUPS - 1];
    struct vr_quota quota;         /* limits; VR_QUOTA_DEFAULT: group's */
    struct vr_quota usage;
};

struct vr_group {
    struct vr_obj hdr;
    int nadmins;
    int64_t admins[VR_GROUP_MAX_ADMINS];
    struct vr_quota quota;         /* for the whole group */
    struct vr_quota user_quota;    /* default for its users */
    struct vr_quota usage;
};

/* ACL rules: who -> which kinds of resource (and optionally which one) ->
 * which rights. */
#define VR_ACL_WHOS(X)                                                     \
    X(VR_ACL_USER, "user")                                                 \
    X(VR_ACL_GROUP, "group")                                               \
    X(VR_ACL_ALL, "all")

VR_ENUM_TYPE(vr_acl_who, VR_ACL_WHOS, VR_ACL__LAST);

/* Resource kinds an ACL can name (bit per kind). */
#define VR_RES_KINDS(X)                                                    \
    X(VR_RES_VM, "vm")                                                     \
    X(VR_RES_IMAGE, "image")                                               \
    X(VR_RES_HOST, "host")                                                 \
    X(VR_RES_USER, "user")                                                 \
    X(VR_RES_GROUP, "group")                                               \
    X(VR_RES_VMGROUP, "vm_group")                                          \
    X(VR_RES_CLUSTER, "cluster")

VR_ENUM_TYPE(vr_res, VR_RES_KINDS, VR_RES__LAST);

/* Rights (bit set).  USE, MANAGE and ADMIN match the permission bits;
 * CREATE exists only in ACL rules. */
#define VR_RIGHT_USE 4u
#define VR_RIGHT_MANAGE 2u
#define VR_RIGHT_ADMIN 1u
#define VR_RIGHT_CREATE 8u

struct vr_acl {
    struct vr_obj hdr;
    enum vr_acl_who who;
    int64_t who_id;                /* user or group id; 0 for ALL */
    unsigned resources;            /* bit (1 << enum vr_res) per kind */
    int64_t resource_id;           /* 0: every object of those kinds */
    int64_t cluster_id;            /* not 0: only the objects in this
                                    * cluster (hosts) and the cluster */
    unsigned rights;               /* VR_RIGHT_* */
};

/* An API token.  Only a hash of the secret is stored. */
struct vr_token {
    struct vr_obj hdr;             /* name = description; owner = user;
                                      group = the group it works in */
    char hash[VR_TOKEN_HASH_SIZE];
    int64_t expires_at;            /* ms since the epoch */
    int64_t parent_id;             /* the token it was switched from (its
                                    * family: revoked with it); 0: a login */
};

extern const struct vr_kind vr_user_kind;
extern const struct vr_kind vr_group_kind;
extern const struct vr_kind vr_acl_kind;
extern const struct vr_kind vr_token_kind;

/* Is `group` the user's primary or a secondary group? */
bool vr_user_in_group(const struct vr_user *u, int64_t group);
bool vr_group_has_admin(const struct vr_group *g, int64_t user);

VR_ENUM_DECLARE(vr_res, vr_res);
VR_ENUM_DECLARE(vr_acl_who, vr_acl_who);
/* "use,manage" style lists <-> bits. */
int vr_rights_parse(const char *s, unsigned *out, struct vr_error *err);
void vr_rights_format(unsigned rights, char *out, size_t size);

#endif
