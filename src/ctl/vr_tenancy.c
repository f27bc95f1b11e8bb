/* vr_tenancy.c - users, groups, ACL rules, quotas, ownership. */
#include "vr_tenancy.h"

#include <stddef.h>
#include <sodium.h>
#include <string.h>

#include "vr_log.h"

#define MOD "tenancy"

struct vr_pool *vr_tenancy_pool(struct vr_ctl *ctl, enum vr_res res)
{
    switch (res) {
    case VR_RES_VM:
        return &ctl->db.vms;
    case VR_RES_IMAGE:
        return &ctl->db.images;
    case VR_RES_HOST:
        return &ctl->db.hosts;
    case VR_RES_USER:
        return &ctl->db.users;
    case VR_RES_GROUP:
        return &ctl->db.groups;
    case VR_RES_VMGROUP:
        return &ctl->db.vm_groups;
    case VR_RES_CLUSTER:
        return &ctl->db.clusters;
    case VR_RES__LAST:
        break;
    }
    return NULL;
}

static int password_check(const char *pw, struct vr_error *err)
{
    size_t n = pw ? strlen(pw) : 0;
    if (n < 8)
        return vr_err(err, VR_E_INVALID,
                      "the password must have at least 8 characters");
    if (n > 1024)
        return vr_err(err, VR_E_INVALID, "the password is too long");
    return 0;
}

/* ---- counting what uses a user or a group */

struct uses {
    int64_t user, group;
    int count;
    char first[VR_NAME_SIZE];      /* the first object the caller sees */
    /* who asks: an object it may not see is counted, never named */
    struct vr_ctl *ctl;
    const struct vr_principal *who;
    enum vr_res res;
};

static int count_uses(const void *obj, void *ctx)
{
    const struct vr_obj *h = obj;
    struct uses *u = ctx;
    if ((u->user && h->owner_id == u->user) ||
        (u->group && h->group_id == u->group)) {
        u->count++;
        if (!u->first[0] &&
            (!u->who || vr_authz_can(&u->ctl->authz, u->who, u->res, h,
                                     VR_RIGHT_USE)))
            vr_strlcpy(u->first, h->name, sizeof(u->first));
    }
    return 0;
}

/* Count what uses a user or group in the pools of VMs, images and VM
 * groups. */
static void count_objects(struct vr_ctl *ctl, struct uses *u)
{
    u->ctl = ctl;
    u->res = VR_RES_VM;
    vr_pool_foreach(&ctl->db.vms, count_uses, u);
    u->res = VR_RES_IMAGE;
    vr_pool_foreach(&ctl->db.images, count_uses, u);
    u->res = VR_RES_VMGROUP;
    vr_pool_foreach(&ctl->db.vm_groups, count_uses, u);
}

/* " (first: 'x')" when the caller may see one, else "" */
static const char *first_shown(const struct uses *u, char *buf, size_t size)
{
    if (!u->first[0])
        return "";
    snprintf(buf, size, " (first: '%s')", u->first);
    return buf;
}

static int count_members(const void *obj, void *ctx)
{
    const struct vr_user *usr = obj;
    struct uses *u = ctx;
    if (vr_user_in_group(usr, u->group)) {
        if (!u->count++)
            vr_strlcpy(u->first, usr->hdr.name, sizeof(u->first));
    }
    return 0;
}

/* Inside a transaction: may `who` (NULL: the system) still act with
 * `right` on the user as it is now?  The API decided before the
 * transaction began; the user's groups may have changed since. */
static int recheck_user(struct vr_ctl *ctl, const struct vr_principal *who,
                        const struct vr_user *u, unsigned right,
                        struct vr_error *err)
{
    if (!who || vr_authz_can_user(&ctl->authz, who, u, &ctl->db.groups,
                                  right))
        return 0;
    return vr_err(err, VR_E_FORBIDDEN, "not allowed to %s user '%s'",
                  right & VR_RIGHT_ADMIN ? "administer" : "manage",
                  u->hdr.name);
}


/* Remove what names a deleted user or group: ACL rules for it or about
 * it, and (a user) its places among group administrators. */
struct forget {
    enum vr_acl_who who;
    int64_t id;
    int64_t acls[1024];
    size_t nacls;
    int64_t groups[256];
    size_t ngroups;
};

static int find_acl_refs(const void *obj, void *ctx)
{
    const struct vr_acl *a = obj;
    struct forget *f = ctx;
    enum vr_res res = f->who == VR_ACL_USER ? VR_RES_USER : VR_RES_GROUP;
    if (f->nacls < VR_ARRAY_SIZE(f->acls) &&
        ((a->who == f->who && a->who_id == f->id) ||
         (a->resource_id == f->id && (a->resources & (1u << res)))))
        f->acls[f->nacls++] = a->hdr.id;
    return 0;
}

static int find_admin_refs(const void *obj, void *ctx)
{
    const struct vr_group *g = obj;
    struct forget *f = ctx;
    if (vr_group_has_admin(g, f->id) && f->ngroups < VR_ARRAY_SIZE(f->groups))
        f->groups[f->ngroups++] = g->hdr.id;
    return 0;
}

static int forget_subject(struct vr_ctl *ctl, struct vr_tx *tx,
                          enum vr_acl_who who, int64_t id,
                          struct vr_error *err)
{
    struct forget *f = vr_calloc(1, sizeof(*f));
    int ret = 0;

    f->who = who;
    f->id = id;
    vr_pool_foreach(&ctl->db.acls, find_acl_refs, f);
    if (who == VR_ACL_USER)
        vr_pool_foreach(&ctl->db.groups, find_admin_refs, f);
    for (size_t i = 0; i < f->nacls && ret == 0; i++)
        ret = vr_tx_del(tx, &ctl->db.acls, f->acls[i], err);
    for (size_t i = 0; i < f->ngroups && ret == 0; i++) {
        struct vr_group g;
        if (vr_tx_get(tx, &ctl->db.groups, f->groups[i], &g) < 0)
            continue;
        for (int k = 0; k < g.nadmins; k++)
            if (g.admins[k] == id)
                g.admins[k--] = g.admins[--g.nadmins];
        ret = vr_tx_put(tx, &ctl->db.groups, &g, err);
    }
    free(f);
    return ret;
}

/* ---- users */

static int resolve_groups(struct vr_ctl *ctl, const char *const *refs,
                          int64_t primary, struct vr_user *u,
                          struct vr_error *err)
{
    u->ngroups = 0;
    for (size_t i = 0; refs && refs[i]; i++) {
        int64_t gid = vr_pool_resolve(&ctl->db.groups, refs[i]);
        bool dup = gid == primary;
        if (!gid)
            return vr_err(err, VR_E_NOT_FOUND, "group '%.64s' not found",
                          refs[i]);
        for (int k = 0; k < u->ngroups; k++)
            dup = dup || u->groups[k] == gid;
        if (dup)
            continue;
        if (u->ngroups >= VR_USER_MAX_GROUPS - 1)
            return vr_err(err, VR_E_INVALID, "at most %d secondary groups",
                          VR_USER_MAX_GROUPS - 1);
        u->groups[u->ngroups++] = gid;
    }
    return 0;
}

int vr_users_create(struct vr_ctl *ctl, const struct vr_user_req *req,
                    int64_t *user_id, struct vr_error *err)
{
    struct vr_user u;
    int64_t gid;

    if (vr_name_check(req->name, "user name", err) < 0)
        return -1;
    if (strcmp(req->name, "me") == 0)
        return vr_err(err, VR_E_INVALID, "'me' is reserved (it names the "
                      "caller)");
    if (req->password && password_check(req->password, err) < 0)
        return -1;
    gid = vr_pool_resolve(&ctl->db.groups, req->group);
    if (!gid)
        return vr_err(err, VR_E_NOT_FOUND, "group '%.64s' not found",
                      req->group ? req->group : "");
    memset(&u, 0, sizeof(u));
    u.hdr.id = vr_pool_next_id(&ctl->db.users);
    vr_strlcpy(u.hdr.name, req->name, sizeof(u.hdr.name));
    u.hdr.owner_id = u.hdr.id;
    u.hdr.group_id = gid;
    u.hdr.perms = 0600;
    u.enabled = req->enabled;
    vr_quota_fill(&u.quota, VR_QUOTA_DEFAULT);
    if (resolve_groups(ctl, req->groups, gid, &u, err) < 0)
        return -1;
    if (req->password) {
        vr_strlcpy(u.auth, "local", sizeof(u.auth));
        if (vr_auth_hash_password(req->password, u.pwhash, err) < 0)
            return -1;
    } else {
        if (!ctl->ldap)
            return vr_err(err, VR_E_INVALID,
                          "a password is required (no external "
                          "authentication is configured)");
        vr_strlcpy(u.auth, ctl->ldap->name, sizeof(u.auth));
    }
    if (vr_db_put(&ctl->db, &ctl->db.users, &u, err) < 0)
        return -1;
    VR_INFO(MOD, "user '%s' created in group %lld", u.hdr.name,
            (long long)gid);
    *user_id = u.hdr.id;
    return 0;
}

int vr_users_delete(struct vr_ctl *ctl, const struct vr_principal *who,
                    int64_t user_id, struct vr_error *err)
{
    struct uses uses = {user_id, 0, 0, "", NULL, who, VR_RES_VM};
    struct vr_user u;
    struct vr_tx tx;
    char first[96];

    if (user_id == VR_USER_ADMIN)
        return vr_err(err, VR_E_CONFLICT, "the 'admin' account cannot be "
                      "deleted");
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.users, user_id, &u) < 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "user not found");
    }
    if (recheck_user(ctl, who, &u, VR_RIGHT_ADMIN, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    count_objects(ctl, &uses);
    if (uses.count) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_CONFLICT, "user '%s' owns %d vm%s, image%s "
                      "or vm group%s%s; delete them or change their owner "
                      "first", u.hdr.name, uses.count,
                      uses.count == 1 ? "" : "s", uses.count == 1 ? "" : "s",
                      uses.count == 1 ? "" : "s",
                      first_shown(&uses, first, sizeof(first)));
    }
    /* its tokens go with it */
    if (vr_auth_revoke_user(ctl, &tx, user_id, 0, err) < 0 ||
        forget_subject(ctl, &tx, VR_ACL_USER, user_id, err) < 0 ||
        vr_tx_del(&tx, &ctl->db.users, user_id, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    if (vr_tx_commit(&tx, err) < 0)
        return -1;
    VR_INFO(MOD, "user '%s' deleted", u.hdr.name);
    return 0;
}

int vr_users_passwd(struct vr_ctl *ctl, const struct vr_principal *who,
                    int64_t user_id, const char *password,
                    const char *current, struct vr_error *err)
{
    struct vr_user u;
    char hash[VR_PWHASH_SIZE];
    bool self = who && who->user_id == user_id;
    struct vr_tx tx;

    if (password_check(password, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.users, user_id, &u) < 0)
        return vr_err(err, VR_E_NOT_FOUND, "user not found");
    if (strcmp(u.auth, "local") != 0)
        return vr_err(err, VR_E_CONFLICT, "user '%s' authenticates with %s; "
                      "change the password there", u.hdr.name, u.auth);
    /* a user changing its own password proves it knows the current one:
     * a stolen token alone does not take the account over */
    if (self && !current)
        return vr_err(err, VR_E_INVALID, "give 'current_password' to change "
                      "your own password");
    if (self && vr_auth_check_current(ctl, user_id, current, err) < 0)
        return -1;
    if (vr_auth_hash_password(password, hash, err) < 0)
        return -1;
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.users, user_id, &u) < 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "user not found");
    }
    if (recheck_user(ctl, who, &u, VR_RIGHT_MANAGE, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    if (strcmp(u.auth, "local") != 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_CONFLICT, "user '%s' authenticates with %s; "
                      "change the password there", u.hdr.name, u.auth);
    }
    memcpy(u.pwhash, hash, sizeof(hash));
    sodium_memzero(hash, sizeof(hash));
    /* every session of the account ends with the old password (but the
     * one that changed it, when the user changed its own) */
    if (vr_tx_put(&tx, &ctl->db.users, &u, err) < 0 ||
        vr_auth_revoke_user(ctl, &tx, user_id, self ? who->token_id : 0,
                            err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    if (vr_tx_commit(&tx, err) < 0)
        return -1;
    VR_INFO(MOD, "password of user '%s' %s; its other sessions revoked",
            u.hdr.name, self ? "changed" : "reset");
    return 0;
}

int vr_users_set_groups(struct vr_ctl *ctl, int64_t user_id,
                        const char *primary, const char *const *groups,
                        bool set_groups, struct vr_error *err)
{
    struct vr_user u;
    struct vr_tx tx;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.users, user_id, &u) < 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "user not found");
    }
    if (primary) {
        int64_t gid = vr_pool_resolve(&ctl->db.groups, primary);
        if (!gid) {
            vr_tx_abort(&tx);
            return vr_err(err, VR_E_NOT_FOUND, "group '%.64s' not found",
                          primary);
        }
        if (user_id == VR_USER_ADMIN && gid != VR_GROUP_SUPERUSERS) {
            vr_tx_abort(&tx);
            return vr_err(err, VR_E_CONFLICT, "'admin' stays in the "
                          "superuser group");
        }
        u.hdr.group_id = gid;
    }
    if (set_groups && resolve_groups(ctl, groups, u.hdr.group_id, &u, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    if (vr_tx_put(&tx, &ctl->db.users, &u, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

int vr_users_set_enabled(struct vr_ctl *ctl, const struct vr_principal *who,
                         int64_t user_id, bool enabled, struct vr_error *err)
{
    struct vr_user u;
    struct vr_tx tx;

    if (user_id == VR_USER_ADMIN && !enabled)
        return vr_err(err, VR_E_CONFLICT, "'admin' cannot be disabled");
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.users, user_id, &u) < 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "user not found");
    }
    if (recheck_user(ctl, who, &u, VR_RIGHT_ADMIN, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    u.enabled = enabled;
    if (vr_tx_put(&tx, &ctl->db.users, &u, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

/* ---- groups */

int vr_groups_put_new(struct vr_ctl *ctl, struct vr_tx *tx, int64_t id,
                      const char *name, int64_t owner, struct vr_error *err)
{
    struct vr_group g;
    struct vr_acl a;

    memset(&g, 0, sizeof(g));
    g.hdr.id = id;
    vr_pool_seen_id(&ctl->db.groups, id);
    vr_strlcpy(g.hdr.name, name, sizeof(g.hdr.name));
    g.hdr.owner_id = owner;
    g.hdr.group_id = id;
    g.hdr.perms = 0640;
    vr_quota_fill(&g.quota, VR_QUOTA_UNLIMITED);
    vr_quota_fill(&g.user_quota, VR_QUOTA_UNLIMITED);
    if (vr_tx_put(tx, &ctl->db.groups, &g, err) < 0)
        return -1;
    if (id == VR_GROUP_SUPERUSERS)
        return 0;
    /* its members may create VMs and images (within quotas) */
    memset(&a, 0, sizeof(a));
    a.hdr.id = vr_pool_next_id(&ctl->db.acls);
    a.hdr.owner_id = owner;
    a.hdr.group_id = VR_GROUP_SUPERUSERS;
    a.hdr.perms = 0600;
    a.who = VR_ACL_GROUP;
    a.who_id = id;
    a.resources = (1u << VR_RES_VM) | (1u << VR_RES_IMAGE);
    a.rights = VR_RIGHT_CREATE;
    return vr_tx_put(tx, &ctl->db.acls, &a, err);
}

int vr_groups_create(struct vr_ctl *ctl, const char *name, int64_t owner,
                     int64_t *group_id, struct vr_error *err)
{
    int64_t id;
    struct vr_tx tx;

    if (vr_name_check(name, "group name", err) < 0)
        return -1;
    id = vr_pool_next_id(&ctl->db.groups);
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_groups_put_new(ctl, &tx, id, name, owner, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    if (vr_tx_commit(&tx, err) < 0)
        return -1;
    VR_INFO(MOD, "group '%s' created", name);
    *group_id = id;
    return 0;
}

int vr_groups_delete(struct vr_ctl *ctl, int64_t group_id,
                     struct vr_error *err)
{
    /* a superuser's act: everything is named */
    struct uses uses = {0, group_id, 0, "", ctl, NULL, VR_RES_VM};
    struct vr_group g;
    struct vr_tx tx;

    if (group_id == VR_GROUP_SUPERUSERS || group_id == VR_GROUP_USERS)
        return vr_err(err, VR_E_CONFLICT, "the built-in groups cannot be "
                      "deleted");
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.groups, group_id, &g) < 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "group not found");
    }
    vr_pool_foreach(&ctl->db.users, count_members, &uses);
    if (uses.count) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_CONFLICT, "group '%s' has %d member%s "
                      "(first: '%s')", g.hdr.name, uses.count,
                      uses.count == 1 ? "" : "s", uses.first);
    }
    count_objects(ctl, &uses);
    if (uses.count) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_CONFLICT, "group '%s' still has %d vm%s, "
                      "image%s or vm group%s (first: '%s')", g.hdr.name,
                      uses.count, uses.count == 1 ? "" : "s",
                      uses.count == 1 ? "" : "s", uses.count == 1 ? "" : "s",
                      uses.first);
    }
    vr_pool_foreach(&ctl->db.hosts, count_uses, &uses);
    if (uses.count) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_CONFLICT, "group '%s' still has %d host%s "
                      "(first: '%s')", g.hdr.name, uses.count,
                      uses.count == 1 ? "" : "s", uses.first);
    }
    if (forget_subject(ctl, &tx, VR_ACL_GROUP, group_id, err) < 0 ||
        vr_tx_del(&tx, &ctl->db.groups, group_id, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    if (vr_tx_commit(&tx, err) < 0)
        return -1;
    VR_INFO(MOD, "group '%s' deleted", g.hdr.name);
    return 0;
}

int vr_groups_set_admin(struct vr_ctl *ctl, int64_t group_id, int64_t user_id,
                        bool admin, struct vr_error *err)
{
    struct vr_group g;
    struct vr_user u;
    struct vr_tx tx;
    int at = -1;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.groups, group_id, &g) < 0 ||
        vr_pool_get(&ctl->db.users, user_id, &u) < 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "group or user not found");
    }
    if (admin && !vr_user_in_group(&u, group_id)) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_CONFLICT, "user '%s' is not a member of "
                      "group '%s'", u.hdr.name, g.hdr.name);
    }
    for (int i = 0; i < g.nadmins; i++)
        if (g.admins[i] == user_id)
            at = i;
    if (admin && at < 0) {
        if (g.nadmins >= VR_GROUP_MAX_ADMINS) {
            vr_tx_abort(&tx);
            return vr_err(err, VR_E_CONFLICT, "a group has at most %d "
                          "administrators", VR_GROUP_MAX_ADMINS);
        }
        g.admins[g.nadmins++] = user_id;
    } else if (!admin && at >= 0) {
        g.admins[at] = g.admins[--g.nadmins];
    }
    if (vr_tx_put(&tx, &ctl->db.groups, &g, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

/* ---- ACL rules */

int vr_acls_create(struct vr_ctl *ctl, const struct vr_acl_req *req,
                   int64_t owner, int64_t *acl_id, struct vr_error *err)
{
    struct vr_acl a;
    struct vr_pool *pool;
    struct vr_tx tx;

    memset(&a, 0, sizeof(a));
    a.who = req->who;
    if (req->who == VR_ACL_USER || req->who == VR_ACL_GROUP) {
        pool = req->who == VR_ACL_USER ? &ctl->db.users : &ctl->db.groups;
        a.who_id = vr_pool_resolve(pool, req->who_ref);
        if (!a.who_id)
            return vr_err(err, VR_E_NOT_FOUND, "%s '%.64s' not found",
                          req->who == VR_ACL_USER ? "user" : "group",
                          req->who_ref ? req->who_ref : "");
    } else if (req->who != VR_ACL_ALL) {
        return vr_err(err, VR_E_INVALID, "bad ACL subject");
    }
    if (!req->resources || req->resources >= (1u << VR_RES__LAST))
        return vr_err(err, VR_E_INVALID, "an ACL rule names at least one "
                      "kind of resource");
    if (!req->rights)
        return vr_err(err, VR_E_INVALID, "an ACL rule grants at least one "
                      "right");
    if (req->resource_id < 0)
        return vr_err(err, VR_E_INVALID, "bad resource id");
    if (req->resource_id && (req->rights & VR_RIGHT_CREATE))
        return vr_err(err, VR_E_INVALID, "'create' is a right on a kind of "
                      "resource, not on one object: drop resource_id");
    if (req->cluster_ref[0]) {
        const unsigned in_cluster = 1u << VR_RES_HOST | 1u << VR_RES_CLUSTER;
        if (req->resource_id)
            return vr_err(err, VR_E_INVALID, "give resource_id or cluster, "
                          "not both");
        if (req->resources & ~in_cluster)
            return vr_err(err, VR_E_INVALID, "a rule scoped to a cluster "
                          "covers hosts and clusters only");
        if (req->rights & VR_RIGHT_CREATE)
            return vr_err(err, VR_E_INVALID, "'create' is a right on a kind "
                          "of resource, not within a cluster: drop cluster");
        a.cluster_id = vr_pool_resolve(&ctl->db.clusters, req->cluster_ref);
        if (!a.cluster_id)
            return vr_err(err, VR_E_NOT_FOUND, "cluster '%.64s' not found",
                          req->cluster_ref);
    }
    a.resources = req->resources;
    a.resource_id = req->resource_id;
    a.rights = req->rights;
    a.hdr.owner_id = owner;
    a.hdr.group_id = VR_GROUP_SUPERUSERS;
    a.hdr.perms = 0600;
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    /* its cluster still there when the rule is written: a rule never
     * outlives the cluster it is scoped to */
    if (a.cluster_id && !vr_pool_has(&ctl->db.clusters, a.cluster_id)) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "cluster '%.64s' not found",
                      req->cluster_ref);
    }
    a.hdr.id = vr_pool_next_id(&ctl->db.acls);
    if (vr_tx_put(&tx, &ctl->db.acls, &a, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    if (vr_tx_commit(&tx, err) < 0)
        return -1;
    *acl_id = a.hdr.id;
    return 0;
}

int vr_acls_delete(struct vr_ctl *ctl, int64_t acl_id, struct vr_error *err)
{
    struct vr_tx tx;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (!vr_pool_has(&ctl->db.acls, acl_id)) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "acl rule %lld not found",
                      (long long)acl_id);
    }
    if (vr_tx_del(&tx, &ctl->db.acls, acl_id, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

/* ---- quotas */

static void apply_limits(struct vr_quota *dst, const struct vr_quota *q)
{
#define VR_X(f, key, human, unit)                                          \
    if (q->f != VR_QUOTA_KEEP)                                             \
        dst->f = q->f;
    VR_QUOTA_FIELDS(VR_X)
#undef VR_X
}

int vr_quota_set_user(struct vr_ctl *ctl, int64_t user_id,
                      const struct vr_quota *q, struct vr_error *err)
{
    struct vr_user u;
    struct vr_tx tx;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.users, user_id, &u) < 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "user not found");
    }
    apply_limits(&u.quota, q);
    if (vr_tx_put(&tx, &ctl->db.users, &u, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

int vr_quota_set_group(struct vr_ctl *ctl, int64_t group_id,
                       const struct vr_quota *q,
                       const struct vr_quota *user_quota,
                       struct vr_error *err)
{
    struct vr_group g;
    struct vr_tx tx;

    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    if (vr_pool_get(&ctl->db.groups, group_id, &g) < 0) {
        vr_tx_abort(&tx);
        return vr_err(err, VR_E_NOT_FOUND, "group not found");
    }
    apply_limits(&g.quota, q);
    apply_limits(&g.user_quota, user_quota);
    if (vr_tx_put(&tx, &ctl->db.groups, &g, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

int vr_quota_charge(struct vr_ctl *ctl, struct vr_tx *tx, int64_t user_id,
                    int64_t group_id, const struct vr_quota *delta, int sign,
                    struct vr_error *err)
{
    struct vr_user u;
    struct vr_group g;
    struct vr_quota limit;
    bool have_u = vr_tx_get(tx, &ctl->db.users, user_id, &u) == 0;
    bool have_g = vr_tx_get(tx, &ctl->db.groups, group_id, &g) == 0;
    char whose[96];

    if (sign > 0) {
        if (have_u) {
            struct vr_group pg;
            struct vr_quota dflt;
            vr_quota_fill(&dflt, VR_QUOTA_UNLIMITED);
            /* the user's default comes from its primary group */
            if (vr_tx_get(tx, &ctl->db.groups, u.hdr.group_id, &pg) == 0)
                dflt = pg.user_quota;
            vr_quota_effective(&u.quota, &dflt, &limit);
            snprintf(whose, sizeof(whose), "user '%s'", u.hdr.name);
            if (vr_quota_check(&limit, &u.usage, delta, whose, err) < 0)
                return -1;
        }
        if (have_g) {
            snprintf(whose, sizeof(whose), "group '%s'", g.hdr.name);
            if (vr_quota_check(&g.quota, &g.usage, delta, whose, err) < 0)
                return -1;
        }
    }
    if (have_u) {
        vr_quota_add(&u.usage, delta, sign);
        if (vr_tx_put(tx, &ctl->db.users, &u, err) < 0)
            return -1;
    }
    if (have_g) {
        vr_quota_add(&g.usage, delta, sign);
        if (vr_tx_put(tx, &ctl->db.groups, &g, err) < 0)
            return -1;
    }
    return 0;
}

void vr_quota_of_vm(const struct vr_vm *vm, struct vr_quota *q)
{
    memset(q, 0, sizeof(*q));
    q->vms = 1;
    q->vcpus = vm->vcpus;
    q->memory_mib = (int64_t)vm->memory_mib;
    for (int i = 0; i < vm->ndisks; i++)
        q->disk_mib += (int64_t)vm->disks[i].size_mib;
}

void vr_quota_of_image(const struct vr_image *im, struct vr_quota *q)
{
    int64_t stored = (int64_t)((im->size + (1 << 20) - 1) >> 20);

    memset(q, 0, sizeof(*q));
    q->images = 1;
    /* an upload in progress counts for what it reserved */
    q->image_mib = stored > (int64_t)im->reserved_mib ? stored
                                                      : (int64_t)im->reserved_mib;
}

/* ---- recount at start-up */

struct recount {
    struct vr_map users, groups;   /* id -> struct vr_quota * */
};

static struct vr_quota *slot(struct vr_map *m, int64_t id)
{
    struct vr_quota *q = vr_map_get_int(m, id);
    if (!q) {
        q = vr_calloc(1, sizeof(*q));
        vr_map_put_int(m, id, q);
    }
    return q;
}

static int recount_vm(const void *obj, void *ctx)
{
    const struct vr_vm *vm = obj;
    struct recount *rc = ctx;
    struct vr_quota q;
    vr_quota_of_vm(vm, &q);
    vr_quota_add(slot(&rc->users, vm->hdr.owner_id), &q, 1);
    vr_quota_add(slot(&rc->groups, vm->hdr.group_id), &q, 1);
    return 0;
}

static int recount_image(const void *obj, void *ctx)
{
    const struct vr_image *im = obj;
    struct recount *rc = ctx;
    struct vr_quota q;
    vr_quota_of_image(im, &q);
    vr_quota_add(slot(&rc->users, im->hdr.owner_id), &q, 1);
    vr_quota_add(slot(&rc->groups, im->hdr.group_id), &q, 1);
    return 0;
}

static void free_slots(struct vr_map *m)
{
    size_t pos = 0;
    void *v;
    while ((v = vr_map_next(m, &pos)))
        free(v);
    vr_map_release(m);
}

/* Set the usage of every object of `pool` (found at `offset` in it) to
 * what was counted in `counted` (absent: zero). */
static int fix_usage(struct vr_ctl *ctl, struct vr_pool *pool, size_t offset,
                     struct vr_map *counted, int64_t last, int *fixed,
                     struct vr_error *err)
{
    static const struct vr_quota zero;
    void *obj = vr_malloc(pool->kind->size);
    int ret = 0;

    for (int64_t id = 1; id <= last && ret == 0; id++) {
        const struct vr_quota *q = vr_map_get_int(counted, id);
        struct vr_quota *usage = (struct vr_quota *)((char *)obj + offset);
        if (vr_pool_get(pool, id, obj) < 0)
            continue;
        if (!q)
            q = &zero;
        if (!vr_quota_equal(usage, q)) {
            *usage = *q;
            ret = vr_db_put(&ctl->db, pool, obj, err);
            (*fixed)++;
        }
    }
    free(obj);
    return ret;
}

int vr_quota_recount(struct vr_ctl *ctl, struct vr_error *err)
{
    struct recount rc;
    int fixed = 0;
    int64_t last_u = atomic_load(&ctl->db.users.last_id);
    int64_t last_g = atomic_load(&ctl->db.groups.last_id);

    vr_map_init_int(&rc.users);
    vr_map_init_int(&rc.groups);
    vr_pool_foreach(&ctl->db.vms, recount_vm, &rc);
    vr_pool_foreach(&ctl->db.images, recount_image, &rc);
    if (fix_usage(ctl, &ctl->db.users, offsetof(struct vr_user, usage),
                  &rc.users, last_u, &fixed, err) < 0 ||
        fix_usage(ctl, &ctl->db.groups, offsetof(struct vr_group, usage),
                  &rc.groups, last_g, &fixed, err) < 0)
        goto fail;
    free_slots(&rc.users);
    free_slots(&rc.groups);
    if (fixed)
        VR_WARN(MOD, "quota usage recounted: %d records corrected", fixed);
    return fixed;
fail:
    free_slots(&rc.users);
    free_slots(&rc.groups);
    return -1;
}

/* ---- ownership */

/* May `who` change the permissions of `h` to `perms`?  With MANAGE it may
 * change the USE and MANAGE bits of the owner and the group; changing an
 * ADMIN bit or any bit of "other" takes ADMIN; and no bit may be turned
 * on for a right the caller does not hold itself. */
static int chmod_check(struct vr_ctl *ctl, const struct vr_principal *who,
                       enum vr_res res, const struct vr_obj *h,
                       int64_t cluster, unsigned perms, struct vr_error *err)
{
    const unsigned admin_or_other = 0111 | 0007;
    unsigned changed = (perms ^ h->perms) & 0777;
    unsigned added = perms & ~h->perms & 0777;
    unsigned held = 0;
    char want[4];

    if ((changed & admin_or_other) &&
        !vr_authz_can_in(&ctl->authz, who, res, h, cluster, VR_RIGHT_ADMIN)) {
        vr_perms_format(perms, want);
        return vr_err(err, VR_E_FORBIDDEN, "changing the admin bits or the "
                      "bits of others of %s '%s' (to %s) takes the admin "
                      "right on it", vr_res_name(res), h->name, want);
    }
    for (unsigned r = VR_RIGHT_ADMIN; r <= VR_RIGHT_USE; r <<= 1)
        if (vr_authz_can_in(&ctl->authz, who, res, h, cluster, r))
            held |= r;
    /* each digit is USE 4, MANAGE 2, ADMIN 1: the rights held, spread
     * over the three digits */
    if (added & ~(held * 0111)) {
        vr_perms_format(perms, want);
        return vr_err(err, VR_E_FORBIDDEN, "permissions %s would grant on %s "
                      "'%s' a right the caller does not hold", want,
                      vr_res_name(res), h->name);
    }
    return 0;
}

int vr_ownership_set(struct vr_ctl *ctl, const struct vr_principal *who,
                     const struct vr_owner_req *req, struct vr_error *err)
{
    struct vr_pool *pool = vr_tenancy_pool(ctl, req->res);
    struct vr_user nu;
    struct vr_tx tx;

    if (!pool || (req->res != VR_RES_VM && req->res != VR_RES_IMAGE &&
                  req->res != VR_RES_HOST && req->res != VR_RES_VMGROUP))
        return vr_err(err, VR_E_INVALID, "ownership applies to vms, images, "
                      "hosts and vm groups");
    if (!req->nids || req->nids > 1000)
        return vr_err(err, VR_E_INVALID, "give between 1 and 1000 objects");
    if (req->perms >= 0 && req->perms > 0777)
        return vr_err(err, VR_E_INVALID, "bad permissions");
    if (req->user_id && vr_pool_get(&ctl->db.users, req->user_id, &nu) < 0)
        return vr_err(err, VR_E_NOT_FOUND, "user not found");
    /* who may give objects to whom: a superuser to anyone; a group
     * administrator to the members of its group; a user to nobody */
    if (req->user_id && !who->super &&
        !(who->group_admin && vr_user_in_group(&nu, who->group_id)))
        return vr_err(err, VR_E_FORBIDDEN, "only a superuser, or an "
                      "administrator of the new owner's group, may change "
                      "an owner");
    if (req->group_id) {
        bool member = false;
        if (!vr_pool_has(&ctl->db.groups, req->group_id))
            return vr_err(err, VR_E_NOT_FOUND, "group not found");
        for (int i = 0; i < who->ngroups; i++)
            member = member || who->groups[i] == req->group_id;
        if (!who->super && !member)
            return vr_err(err, VR_E_FORBIDDEN, "objects can only be given to "
                          "a group the caller belongs to");
    }
    if (vr_tx_begin(&ctl->db, &tx, err) < 0)
        return -1;
    for (size_t i = 0; i < req->nids; i++) {
        void *obj = vr_pool_dup(pool, req->ids[i]);
        struct vr_obj *h = obj;
        struct vr_quota q;
        unsigned need = (req->user_id || req->group_id) ? VR_RIGHT_ADMIN
                                                        : VR_RIGHT_MANAGE;
        /* a host lies in its cluster: rules scoped to it apply */
        int64_t cluster = obj && req->res == VR_RES_HOST
                              ? ((const struct vr_host *)obj)->cluster_id
                              : 0;
        bool visible = obj && vr_authz_can_in(&ctl->authz, who, req->res, h,
                                              cluster, VR_RIGHT_USE);

        if (!visible) {
            vr_obj_free(pool->kind, obj);
            vr_tx_abort(&tx);
            return vr_err(err, VR_E_NOT_FOUND, "%s %lld not found",
                          pool->kind->name, (long long)req->ids[i]);
        }
        if (!vr_authz_can_in(&ctl->authz, who, req->res, h, cluster, need)) {
            vr_err(err, VR_E_FORBIDDEN, "not allowed to change %s '%s'",
                   pool->kind->name, h->name);
            vr_obj_free(pool->kind, obj);
            vr_tx_abort(&tx);
            return -1;
        }
        if (req->perms >= 0 &&
            chmod_check(ctl, who, req->res, h, cluster, (unsigned)req->perms,
                        err) < 0) {
            vr_obj_free(pool->kind, obj);
            vr_tx_abort(&tx);
            return -1;
        }
        /* quotas count VMs and images; hosts and VM groups are free */
        if (req->res == VR_RES_VM)
            vr_quota_of_vm(obj, &q);
        else if (req->res == VR_RES_IMAGE)
            vr_quota_of_image(obj, &q);
        if ((req->user_id || req->group_id) &&
            (req->res == VR_RES_VM || req->res == VR_RES_IMAGE) &&
            (vr_quota_charge(ctl, &tx, h->owner_id, h->group_id, &q, -1,
                             err) < 0 ||
             vr_quota_charge(ctl, &tx, req->user_id ? req->user_id
                                                    : h->owner_id,
                             req->group_id ? req->group_id : h->group_id, &q,
                             1, err) < 0)) {
            vr_obj_free(pool->kind, obj);
            vr_tx_abort(&tx);
            return -1;
        }
        if (req->user_id)
            h->owner_id = req->user_id;
        if (req->group_id)
            h->group_id = req->group_id;
        if (req->perms >= 0)
            h->perms = (unsigned)req->perms;
        if (vr_tx_put(&tx, pool, obj, err) < 0) {
            vr_obj_free(pool->kind, obj);
            vr_tx_abort(&tx);
            return -1;
        }
        vr_obj_free(pool->kind, obj);
    }
    return vr_tx_commit(&tx, err);
}
