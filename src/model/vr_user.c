/* vr_user.c - users, groups, ACL rules and tokens as stored objects. */
#include "vr_user.h"

#include <string.h>

#include "vr_json.h"

/* ---- helpers */

VR_ENUM_DEFINE(vr_res, vr_res, VR_RES_KINDS, VR_RES__LAST, 0, "unknown")
VR_ENUM_DEFINE(vr_acl_who, vr_acl_who, VR_ACL_WHOS, VR_ACL__LAST, 0, "unknown")

static const struct {
    const char *name;
    unsigned bit;
} right_names[] = {
    {"use", VR_RIGHT_USE},
    {"manage", VR_RIGHT_MANAGE},
    {"admin", VR_RIGHT_ADMIN},
    {"create", VR_RIGHT_CREATE},
};

int vr_rights_parse(const char *s, unsigned *out, struct vr_error *err)
{
    char buf[64];
    char *save = NULL;

    *out = 0;
    if (!s || !*s || vr_strlcpy(buf, s, sizeof(buf)) < 0)
        return vr_err(err, VR_E_INVALID, "rights must be a list of use, "
                      "manage, admin, create");
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        size_t i;
        for (i = 0; i < VR_ARRAY_SIZE(right_names); i++)
            if (strcmp(t, right_names[i].name) == 0)
                break;
        if (i == VR_ARRAY_SIZE(right_names))
            return vr_err(err, VR_E_INVALID, "unknown right '%.16s'; use "
                          "use, manage, admin or create", t);
        *out |= right_names[i].bit;
    }
    return 0;
}

void vr_rights_format(unsigned rights, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < VR_ARRAY_SIZE(right_names); i++) {
        if (!(rights & right_names[i].bit))
            continue;
        n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%s%s",
                              n ? "," : "", right_names[i].name);
    }
}

bool vr_user_in_group(const struct vr_user *u, int64_t group)
{
    if (u->hdr.group_id == group)
        return true;
    for (int i = 0; i < u->ngroups; i++)
        if (u->groups[i] == group)
            return true;
    return false;
}

bool vr_group_has_admin(const struct vr_group *g, int64_t user)
{
    for (int i = 0; i < g->nadmins; i++)
        if (g->admins[i] == user)
            return true;
    return false;
}

static json_t *id_array(const int64_t *ids, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(ids[i]));
    return a;
}

static int id_array_from(const json_t *a, int64_t *ids, int max)
{
    size_t i;
    json_t *v;
    int n = 0;
    json_array_foreach(a, i, v) {
        if (n < max && json_is_integer(v))
            ids[n++] = json_integer_value(v);
    }
    return n;
}

/* ---- users */

static json_t *user_to_json(const void *obj, bool internal)
{
    const struct vr_user *u = obj;
    json_t *j = json_object();

    vr_obj_hdr_to_json(&u->hdr, j);
    json_object_set_new(j, "enabled", json_boolean(u->enabled));
    json_object_set_new(j, "auth", json_string(u->auth[0] ? u->auth : "local"));
    json_object_set_new(j, "groups", id_array(u->groups, u->ngroups));
    json_object_set_new(j, "quota", vr_quota_limits_to_json(&u->quota));
    json_object_set_new(j, "usage", vr_quota_usage_to_json(&u->usage));
    if (internal)
        json_object_set_new(j, "pwhash", json_string(u->pwhash));
    return j;
}

static int user_from_json(void *obj, const json_t *j, struct vr_error *err)
{
    struct vr_user *u = obj;

    (void)err;
    vr_obj_hdr_from_json(&u->hdr, j);
    u->enabled = json_is_true(json_object_get(j, "enabled"));
    vr_json_copy_str(j, "auth", u->auth, sizeof(u->auth));
    if (!u->auth[0])
        vr_strlcpy(u->auth, "local", sizeof(u->auth));
    u->ngroups = id_array_from(json_object_get(j, "groups"), u->groups,
                               VR_USER_MAX_GROUPS - 1);
    vr_quota_from_json(&u->quota, json_object_get(j, "quota"),
                       VR_QUOTA_DEFAULT);
    vr_quota_from_json(&u->usage, json_object_get(j, "usage"), 0);
    vr_json_copy_str(j, "pwhash", u->pwhash, sizeof(u->pwhash));
    /* records from before groups existed */
    if (!u->hdr.group_id)
        u->hdr.group_id = u->hdr.id == VR_USER_ADMIN ? VR_GROUP_SUPERUSERS
                                                     : VR_GROUP_USERS;
    return 0;
}

const struct vr_kind vr_user_kind = {
    .name = "user",
    .table = "users",
    .size = sizeof(struct vr_user),
    .names = VR_NAMES_GLOBAL,
    .to_json = user_to_json,
    .from_json = user_from_json,
};

/* ---- groups */

static json_t *group_to_json(const void *obj, bool internal)
{
    const struct vr_group *g = obj;
    json_t *j = json_object();

    (void)internal;
    vr_obj_hdr_to_json(&g->hdr, j);
    json_object_set_new(j, "admins", id_array(g->admins, g->nadmins));
    json_object_set_new(j, "quota", vr_quota_limits_to_json(&g->quota));
    json_object_set_new(j, "user_quota", vr_quota_limits_to_json(&g->user_quota));
    json_object_set_new(j, "usage", vr_quota_usage_to_json(&g->usage));
    json_object_set_new(j, "superuser",
                        json_boolean(g->hdr.id == VR_GROUP_SUPERUSERS));
    return j;
}

static int group_from_json(void *obj, const json_t *j, struct vr_error *err)
{
    struct vr_group *g = obj;

    (void)err;
    vr_obj_hdr_from_json(&g->hdr, j);
    g->nadmins = id_array_from(json_object_get(j, "admins"), g->admins,
                               VR_GROUP_MAX_ADMINS);
    vr_quota_from_json(&g->quota, json_object_get(j, "quota"),
                       VR_QUOTA_UNLIMITED);
    vr_quota_from_json(&g->user_quota, json_object_get(j, "user_quota"),
                       VR_QUOTA_UNLIMITED);
    vr_quota_from_json(&g->usage, json_object_get(j, "usage"), 0);
    return 0;
}

const struct vr_kind vr_group_kind = {
    .name = "group",
    .table = "groups",
    .size = sizeof(struct vr_group),
    .names = VR_NAMES_GLOBAL,
    .to_json = group_to_json,
    .from_json = group_from_json,
};

/* ---- ACL rules */

static json_t *acl_to_json(const void *obj, bool internal)
{
    const struct vr_acl *a = obj;
    json_t *j = json_object(), *res = json_array();
    char rights[64];

    (void)internal;
    vr_obj_hdr_to_json(&a->hdr, j);
    json_object_set_new(j, "who", json_string(vr_acl_who_name(a->who)));
    json_object_set_new(j, "who_id", a->who == VR_ACL_ALL ? json_null()
                                                          : json_integer(a->who_id));
    for (int r = 0; r < VR_RES__LAST; r++)
        if (a->resources & (1u << r))
            json_array_append_new(res, json_string(vr_res_name((enum vr_res)r)));
    json_object_set_new(j, "resources", res);
    json_object_set_new(j, "resource_id", a->resource_id
                                              ? json_integer(a->resource_id)
                                              : json_null());
    json_object_set_new(j, "cluster_id", a->cluster_id
                                             ? json_integer(a->cluster_id)
                                             : json_null());
    vr_rights_format(a->rights, rights, sizeof(rights));
    json_object_set_new(j, "rights", json_string(rights));
    return j;
}

static int acl_from_json(void *obj, const json_t *j, struct vr_error *err)
{
    struct vr_acl *a = obj;
    const char *who = json_string_value(json_object_get(j, "who"));
    const json_t *res = json_object_get(j, "resources"), *v;
    size_t i;

    vr_obj_hdr_from_json(&a->hdr, j);
    if (vr_acl_who_parse(who, &a->who) < 0)
        return vr_err(err, VR_E_INTERNAL, "acl %lld: bad record",
                      (long long)a->hdr.id);
    a->who_id = vr_json_get_i64(j, "who_id");
    json_array_foreach(res, i, v) {
        enum vr_res r;
        if (vr_res_parse(json_string_value(v), &r) == 0)
            a->resources |= 1u << r;
    }
    a->resource_id = vr_json_get_i64(j, "resource_id");
    a->cluster_id = vr_json_get_i64(j, "cluster_id");
    if (vr_rights_parse(json_string_value(json_object_get(j, "rights")),
                        &a->rights, err) < 0)
        return -1;
    return 0;
}

const struct vr_kind vr_acl_kind = {
    .name = "acl",
    .table = "acls",
    .size = sizeof(struct vr_acl),
    .names = VR_NAMES_NONE,
    .to_json = acl_to_json,
    .from_json = acl_from_json,
};

/* ---- tokens */

static json_t *token_to_json(const void *obj, bool internal)
{
    const struct vr_token *t = obj;
    json_t *j = json_object();

    vr_obj_hdr_to_json(&t->hdr, j);
    vr_json_set_time(j, "expires_at", t->expires_at);
    if (t->parent_id)
        json_object_set_new(j, "parent_id", json_integer(t->parent_id));
    if (internal)
        json_object_set_new(j, "hash", json_string(t->hash));
    return j;
}

static int token_from_json(void *obj, const json_t *j, struct vr_error *err)
{
    struct vr_token *t = obj;

    (void)err;
    vr_obj_hdr_from_json(&t->hdr, j);
    t->expires_at = vr_json_get_time(j, "expires_at");
    t->parent_id = json_integer_value(json_object_get(j, "parent_id"));
    vr_json_copy_str(j, "hash", t->hash, sizeof(t->hash));
    return 0;
}

static void token_refs(const void *obj, int64_t refs[2])
{
    const struct vr_token *t = obj;
    refs[0] = t->hdr.owner_id;
    refs[1] = 0;
}

static const char *token_alt_key(const void *obj)
{
    return ((const struct vr_token *)obj)->hash;
}

const struct vr_kind vr_token_kind = {
    .name = "token",
    .table = "tokens",
    .size = sizeof(struct vr_token),
    .names = VR_NAMES_NONE,
    .to_json = token_to_json,
    .from_json = token_from_json,
    .refs = token_refs,
    .alt_key = token_alt_key,
};
