#include "vr_authz.h"

#include <string.h>

/* Rules of one subject, copied out of the pool. */
struct rule_list {
    size_t n, cap;
    struct vr_acl *rules;
};

struct vr_acl_index {
    struct vr_map by_user;         /* user id -> struct rule_list * */
    struct vr_map by_group;        /* group id -> struct rule_list * */
    struct rule_list all;
    size_t count;
};

static void list_add(struct rule_list *l, const struct vr_acl *a)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->rules = vr_realloc(l->rules, l->cap * sizeof(*l->rules));
    }
    l->rules[l->n++] = *a;
}

static void index_free(struct vr_acl_index *ix)
{
    size_t pos = 0;
    struct rule_list *l;

    if (!ix)
        return;
    while ((l = vr_map_next(&ix->by_user, &pos))) {
        free(l->rules);
        free(l);
    }
    pos = 0;
    while ((l = vr_map_next(&ix->by_group, &pos))) {
        free(l->rules);
        free(l);
    }
    vr_map_release(&ix->by_user);
    vr_map_release(&ix->by_group);
    free(ix->all.rules);
    free(ix);
}

void vr_authz_init(struct vr_authz *az)
{
    pthread_rwlock_init(&az->lock, NULL);
    az->index = NULL;
}

void vr_authz_release(struct vr_authz *az)
{
    index_free(az->index);
    az->index = NULL;
    pthread_rwlock_destroy(&az->lock);
}

static int add_rule(const void *obj, void *ctx)
{
    const struct vr_acl *a = obj;
    struct vr_acl_index *ix = ctx;
    struct vr_map *m = NULL;
    struct rule_list *l;

    if (a->who == VR_ACL_ALL) {
        list_add(&ix->all, a);
        ix->count++;
        return 0;
    }
    m = a->who == VR_ACL_USER ? &ix->by_user : &ix->by_group;
    l = vr_map_get_int(m, a->who_id);
    if (!l) {
        l = vr_calloc(1, sizeof(*l));
        vr_map_put_int(m, a->who_id, l);
    }
    list_add(l, a);
    ix->count++;
    return 0;
}

void vr_authz_reload(struct vr_authz *az, struct vr_pool *acls)
{
    struct vr_acl_index *ix = vr_calloc(1, sizeof(*ix)), *old;

    vr_map_init_int(&ix->by_user);
    vr_map_init_int(&ix->by_group);
    vr_pool_foreach(acls, add_rule, ix);
    pthread_rwlock_wrlock(&az->lock);
    old = az->index;
    az->index = ix;
    pthread_rwlock_unlock(&az->lock);
    index_free(old);
}

size_t vr_authz_rules(struct vr_authz *az)
{
    size_t n;
    pthread_rwlock_rdlock(&az->lock);
    n = az->index ? az->index->count : 0;
    pthread_rwlock_unlock(&az->lock);
    return n;
}

static bool list_grants(const struct rule_list *l, enum vr_res res,
                        int64_t id, int64_t cluster, unsigned right)
{
    if (!l)
        return false;
    for (size_t i = 0; i < l->n; i++) {
        const struct vr_acl *a = &l->rules[i];
        if ((a->resources & (1u << res)) && (a->rights & right) == right &&
            (!a->resource_id || a->resource_id == id) &&
            (!a->cluster_id || a->cluster_id == cluster))
            return true;
    }
    return false;
}

/* Rule 4.  `cluster`: the cluster the object lies in (0: none). */
static bool acl_grants(struct vr_authz *az, const struct vr_principal *p,
                       enum vr_res res, int64_t id, int64_t cluster,
                       unsigned right)
{
    const struct vr_acl_index *ix;
    bool ok = false;

    pthread_rwlock_rdlock(&az->lock);
    ix = az->index;
    if (ix)
        ok = list_grants(vr_map_get_int(&ix->by_user, p->user_id), res, id,
                         cluster, right) ||
             list_grants(vr_map_get_int(&ix->by_group, p->group_id), res, id,
                         cluster, right) ||
             list_grants(&ix->all, res, id, cluster, right);
    pthread_rwlock_unlock(&az->lock);
    return ok;
}

static bool member_of(const struct vr_principal *p, int64_t group)
{
    for (int i = 0; i < p->ngroups; i++)
        if (p->groups[i] == group)
            return true;
    return false;
}

bool vr_authz_can(struct vr_authz *az, const struct vr_principal *p,
                  enum vr_res res, const struct vr_obj *obj, unsigned right)
{
    /* a cluster lies in itself */
    return vr_authz_can_in(az, p, res, obj,
                           obj && res == VR_RES_CLUSTER ? obj->id : 0, right);
}

static bool can_base(struct vr_authz *az, const struct vr_principal *p,
                     enum vr_res res, const struct vr_obj *obj,
                     int64_t cluster, unsigned right);

bool vr_authz_can_in(struct vr_authz *az, const struct vr_principal *p,
                     enum vr_res res, const struct vr_obj *obj,
                     int64_t cluster, unsigned right)
{
    /* acting on another user takes the bound of vr_authz_can_user */
    if (res == VR_RES_USER && (right & (VR_RIGHT_MANAGE | VR_RIGHT_ADMIN)) &&
        p && !p->super && !(obj && obj->id == p->user_id))
        return false;
    return can_base(az, p, res, obj, cluster, right);
}

bool vr_user_is_super(const struct vr_user *u)
{
    return vr_user_in_group(u, VR_GROUP_SUPERUSERS);
}

bool vr_authz_can_user(struct vr_authz *az, const struct vr_principal *p,
                       const struct vr_user *u, struct vr_pool *groups,
                       unsigned right)
{
    const bool acts = (right & (VR_RIGHT_MANAGE | VR_RIGHT_ADMIN)) != 0;
    struct vr_group g;

    if (!p || !u)
        return false;
    if (p->super)
        return true;
    if (!can_base(az, p, VR_RES_USER, &u->hdr, 0, right))
        return false;
    /* USE, and a user managing itself (rule 5), need nothing more */
    if (!acts || u->hdr.id == p->user_id)
        return true;
    if (vr_user_is_super(u))
        return false;
    /* ADMIN over every group of the user */
    for (int i = -1; i < u->ngroups; i++) {
        int64_t gid = i < 0 ? u->hdr.group_id : u->groups[i];
        if (vr_pool_get(groups, gid, &g) < 0)
            return false;
        if (!can_base(az, p, VR_RES_GROUP, &g.hdr, 0, VR_RIGHT_ADMIN))
            return false;
    }
    return true;
}

static bool can_base(struct vr_authz *az, const struct vr_principal *p,
                     enum vr_res res, const struct vr_obj *obj,
                     int64_t cluster, unsigned right)
{
    unsigned bits = 0;

    if (!p || !obj)
        return false;
    if (p->super)                                       /* 1 */
        return true;
    if (obj->owner_id == p->user_id)                    /* 2 */
        bits |= (obj->perms >> 6) & 7u;
    if (obj->group_id == p->group_id)
        bits |= (obj->perms >> 3) & 7u;
    bits |= obj->perms & 7u;
    if ((bits & right) == right)
        return true;
    if (p->group_admin && obj->group_id == p->group_id) /* 3 */
        return true;
    if (acl_grants(az, p, res, obj->id, cluster, right)) /* 4 */
        return true;
    if (res == VR_RES_USER && obj->id == p->user_id &&  /* 5 */
        !(right & VR_RIGHT_ADMIN))
        return true;
    if (res == VR_RES_GROUP && right == VR_RIGHT_USE && member_of(p, obj->id))
        return true;
    return false;
}

bool vr_authz_can_create(struct vr_authz *az, const struct vr_principal *p,
                         enum vr_res res)
{
    if (!p)
        return false;
    if (p->super)
        return true;
    /* a VM group only arranges VMs: who may create VMs may create one */
    if (res == VR_RES_VMGROUP && acl_grants(az, p, VR_RES_VM, 0, 0,
                                            VR_RIGHT_CREATE))
        return true;
    return acl_grants(az, p, res, 0, 0, VR_RIGHT_CREATE);
}
