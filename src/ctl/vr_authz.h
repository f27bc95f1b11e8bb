/*
 * vr_authz.h - the one authorization decision of Vireo.
 *
 * Every API call is decided here: vr_authz_can() for an object and a
 * right, vr_authz_can_create() for a kind.  Lists are filtered with the
 * same function (an object the caller may not USE does not exist for it).
 *
 * The rule, in order:
 *   1. a session working in the superuser group may do everything;
 *   2. the object's permission bits: owner digit if the caller owns it,
 *      group digit if it belongs to the group the session works in,
 *      others digit always (USE = 4, MANAGE = 2, ADMIN = 1);
 *   3. an administrator of the session's group may do everything to the
 *      objects of that group;
 *   4. ACL rules for the user, for the session's group, and for all,
 *      matching the object's kind (and id, when the rule names one);
 *   5. users may always USE and MANAGE themselves, and USE the groups
 *      they belong to.
 * CREATE comes only from rules 1 and 4 (each group gets a rule letting
 * its members create VMs and images).
 *
 * Users are bounded further (vr_authz_can_user): MANAGE or ADMIN on
 * another user needs, besides the rule above, ADMIN over every group the
 * user belongs to (primary and secondary), and is never granted on a
 * member of the superuser group to anyone but a superuser session.  A
 * group administrator therefore rules the users of its group only while
 * they belong to no other tenant, and an ACL rule granting MANAGE or
 * ADMIN on users cannot reach further than its holder's groups.
 *
 * The ACL rules are indexed by subject and rebuilt when they change, so a
 * decision looks at the rules of one user, one group and "all" only.
 */
#ifndef VR_AUTHZ_H
#define VR_AUTHZ_H

#include <pthread.h>
#include <stdbool.h>

#include "vr_db.h"
#include "vr_map.h"

/* The caller of a request, resolved from its token. */
struct vr_principal {
    int64_t user_id;
    int64_t token_id;
    int64_t group_id;              /* the group the session works in */
    bool super;                    /* group_id is the superuser group */
    bool group_admin;              /* an administrator of group_id */
    int ngroups;                   /* every group of the user */
    int64_t groups[VR_USER_MAX_GROUPS];
    char name[VR_NAME_SIZE];
    char group_name[VR_NAME_SIZE];
};

struct vr_acl_index;

struct vr_authz {
    pthread_rwlock_t lock;
    struct vr_acl_index *index;    /* rebuilt by vr_authz_reload */
};

void vr_authz_init(struct vr_authz *az);
void vr_authz_release(struct vr_authz *az);
/* Rebuild the rule index from the ACL pool (call after a change). */
void vr_authz_reload(struct vr_authz *az, struct vr_pool *acls);

/* May `p` exercise `right` (VR_RIGHT_USE/MANAGE/ADMIN) on `obj`, an
 * object of kind `res`? */
bool vr_authz_can(struct vr_authz *az, const struct vr_principal *p,
                  enum vr_res res, const struct vr_obj *obj, unsigned right);
/* vr_authz_can() for an object that lies in cluster `cluster` (a host:
 * its cluster_id): the ACL rules scoped to that cluster apply too. */
bool vr_authz_can_in(struct vr_authz *az, const struct vr_principal *p,
                     enum vr_res res, const struct vr_obj *obj,
                     int64_t cluster, unsigned right);
/* vr_authz_can() for a user: the rule above, bounded for MANAGE and
 * ADMIN as the header says; `groups` is the group pool (the user's groups
 * are read from it).  vr_authz_can() itself refuses MANAGE and ADMIN on
 * users, so that no caller can skip the bound. */
bool vr_authz_can_user(struct vr_authz *az, const struct vr_principal *p,
                       const struct vr_user *u, struct vr_pool *groups,
                       unsigned right);
/* Is `u` a member (primary or secondary) of the superuser group? */
bool vr_user_is_super(const struct vr_user *u);

/* May `p` create objects of kind `res`? */
bool vr_authz_can_create(struct vr_authz *az, const struct vr_principal *p,
                         enum vr_res res);

/* Number of rules indexed (for tests and benchmarks). */
size_t vr_authz_rules(struct vr_authz *az);

#endif
