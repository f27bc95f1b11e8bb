/*
 * vr_tenancy.h - users, groups, ACL rules, quotas and ownership: the data
 * side.  Who may call these is decided before, by vr_authz (the API's
 * route table); the functions here keep the invariants (a user's groups
 * exist, a group in use is not deleted, usage never exceeds a quota).
 */
#ifndef VR_TENANCY_H
#define VR_TENANCY_H

#include "vr_ctl.h"

struct vr_user_req {
    const char *name;
    const char *password;          /* NULL: an external (LDAP) account */
    const char *group;             /* primary group (id or name) */
    const char *const *groups;     /* secondary groups, NULL-terminated */
    bool enabled;
};

int vr_users_create(struct vr_ctl *ctl, const struct vr_user_req *req,
                    int64_t *user_id, struct vr_error *err);
/* The calls below that act on one user take the caller `who` (NULL: the
 * system): the right the API checked before is checked again inside the
 * transaction, on the user as it is then (vr_authz_can_user). */

/* Refused while the user owns VMs or images (named only if `who` may see
 * them); its tokens go with it. */
int vr_users_delete(struct vr_ctl *ctl, const struct vr_principal *who,
                    int64_t user_id, struct vr_error *err);
/* Set a local user's password and revoke its tokens (but the caller's own
 * one when a user changes its own password, which needs `current`). */
int vr_users_passwd(struct vr_ctl *ctl, const struct vr_principal *who,
                    int64_t user_id, const char *password,
                    const char *current, struct vr_error *err);
/* Change the primary group and/or the secondary groups (NULL: keep). */
int vr_users_set_groups(struct vr_ctl *ctl, int64_t user_id,
                        const char *primary, const char *const *groups,
                        bool set_groups, struct vr_error *err);
int vr_users_set_enabled(struct vr_ctl *ctl, const struct vr_principal *who,
                         int64_t user_id, bool enabled, struct vr_error *err);

int vr_groups_create(struct vr_ctl *ctl, const char *name, int64_t owner,
                     int64_t *group_id, struct vr_error *err);
/* Inside a transaction: a new group with id `id`, and (unless it is the
 * superuser group) the ACL rule letting its members create VMs and
 * images. */
int vr_groups_put_new(struct vr_ctl *ctl, struct vr_tx *tx, int64_t id,
                      const char *name, int64_t owner, struct vr_error *err);
/* Refused for the built-in groups and while users or objects use it. */
int vr_groups_delete(struct vr_ctl *ctl, int64_t group_id,
                     struct vr_error *err);
int vr_groups_set_admin(struct vr_ctl *ctl, int64_t group_id, int64_t user_id,
                        bool admin, struct vr_error *err);

struct vr_acl_req {
    enum vr_acl_who who;
    const char *who_ref;           /* user or group (id or name) */
    unsigned resources;
    int64_t resource_id;
    char cluster_ref[64];          /* "" or a cluster (id or name): only
                                    * hosts in it, and the cluster */
    unsigned rights;
};
int vr_acls_create(struct vr_ctl *ctl, const struct vr_acl_req *req,
                   int64_t owner, int64_t *acl_id, struct vr_error *err);
int vr_acls_delete(struct vr_ctl *ctl, int64_t acl_id, struct vr_error *err);

/* Set limits (fields of `q` equal to VR_QUOTA_KEEP are left as they
 * are).  user_quota: a group's default for its users. */
#define VR_QUOTA_KEEP INT64_MIN
int vr_quota_set_user(struct vr_ctl *ctl, int64_t user_id,
                      const struct vr_quota *q, struct vr_error *err);
int vr_quota_set_group(struct vr_ctl *ctl, int64_t group_id,
                       const struct vr_quota *q,
                       const struct vr_quota *user_quota,
                       struct vr_error *err);

/* Inside a transaction: check `delta` against the owner's and the group's
 * limits and add it to their usage (sign +1), or take it away (sign -1,
 * never refused). */
int vr_quota_charge(struct vr_ctl *ctl, struct vr_tx *tx, int64_t user_id,
                    int64_t group_id, const struct vr_quota *delta, int sign,
                    struct vr_error *err);
/* What a VM / an image counts for. */
void vr_quota_of_vm(const struct vr_vm *vm, struct vr_quota *q);
void vr_quota_of_image(const struct vr_image *im, struct vr_quota *q);
/* Recompute every user's and group's usage from the objects (start-up);
 * returns how many records were corrected. */
int vr_quota_recount(struct vr_ctl *ctl, struct vr_error *err);

/* Ownership of objects of one kind, all or nothing: a new owner and/or
 * group and/or permissions (NULL / 0 / -1 to keep). */
struct vr_owner_req {
    enum vr_res res;
    const int64_t *ids;
    size_t nids;
    int64_t user_id;               /* 0: keep */
    int64_t group_id;              /* 0: keep */
    int perms;                     /* -1: keep */
};
int vr_ownership_set(struct vr_ctl *ctl, const struct vr_principal *who,
                     const struct vr_owner_req *req, struct vr_error *err);

/* The pool holding objects of a resource kind. */
struct vr_pool *vr_tenancy_pool(struct vr_ctl *ctl, enum vr_res res);

#endif
