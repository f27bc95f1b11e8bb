#include "vr_user.h"

#include <string.h>

#include "vr_json.h"

static json_t *user_to_json(const void *obj, bool internal)
{
    const struct vr_user *u = obj;
    json_t *j = json_object();

    vr_obj_hdr_to_json(&u->hdr, j);
    json_object_set_new(j, "admin", json_boolean(u->admin));
    json_object_set_new(j, "enabled", json_boolean(u->enabled));
    if (internal)
        json_object_set_new(j, "pwhash", json_string(u->pwhash));
    return j;
}

static int user_from_json(void *obj, const json_t *j, struct vr_error *err)
{
    struct vr_user *u = obj;

    (void)err;
    vr_obj_hdr_from_json(&u->hdr, j);
    u->admin = json_is_true(json_object_get(j, "admin"));
    u->enabled = json_is_true(json_object_get(j, "enabled"));
    vr_json_copy_str(j, "pwhash", u->pwhash, sizeof(u->pwhash));
    return 0;
}

static void user_copy(void *dst, const void *src)
{
    memcpy(dst, src, sizeof(struct vr_user));
}

const struct vr_kind vr_user_kind = {
    .name = "user",
    .table = "users",
    .size = sizeof(struct vr_user),
    .unique_names = true,
    .to_json = user_to_json,
    .from_json = user_from_json,
    .copy = user_copy,
};

static json_t *token_to_json(const void *obj, bool internal)
{
    const struct vr_token *t = obj;
    json_t *j = json_object();

    vr_obj_hdr_to_json(&t->hdr, j);
    vr_json_set_time(j, "expires_at", t->expires_at);
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
    vr_json_copy_str(j, "hash", t->hash, sizeof(t->hash));
    return 0;
}

static void token_copy(void *dst, const void *src)
{
    memcpy(dst, src, sizeof(struct vr_token));
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
    .unique_names = false,
    .to_json = token_to_json,
    .from_json = token_from_json,
    .copy = token_copy,
    .refs = token_refs,
    .alt_key = token_alt_key,
};
