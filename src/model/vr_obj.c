#include "vr_obj.h"

#include <string.h>

#include "vr_json.h"

void *vr_obj_new(const struct vr_kind *kind)
{
    return vr_calloc(1, kind->size);
}

void vr_obj_free(const struct vr_kind *kind, void *obj)
{
    if (!obj)
        return;
    if (kind->release)
        kind->release(obj);
    free(obj);
}

void vr_obj_copy(const struct vr_kind *kind, void *dst, const void *src)
{
    if (kind->copy)
        kind->copy(dst, src);
    else
        memcpy(dst, src, kind->size);
}

void *vr_obj_dup(const struct vr_kind *kind, const void *obj)
{
    void *dst = vr_malloc(kind->size);
    vr_obj_copy(kind, dst, obj);
    return dst;
}

void vr_perms_format(unsigned perms, char out[4])
{
    out[0] = (char)('0' + ((perms >> 6) & 7));
    out[1] = (char)('0' + ((perms >> 3) & 7));
    out[2] = (char)('0' + (perms & 7));
    out[3] = '\0';
}

int vr_perms_parse(const char *s, unsigned *out)
{
    unsigned v = 0;

    if (!s || strlen(s) != 3)
        return -1;
    for (int i = 0; i < 3; i++) {
        if (s[i] < '0' || s[i] > '7')
            return -1;
        v = v * 8 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 0;
}

void vr_obj_hdr_to_json(const struct vr_obj *hdr, json_t *j)
{
    char perms[4];

    json_object_set_new(j, "id", json_integer(hdr->id));
    if (hdr->uuid[0])
        json_object_set_new(j, "uuid", json_string(hdr->uuid));
    if (hdr->name[0])
        json_object_set_new(j, "name", json_string(hdr->name));
    json_object_set_new(j, "owner_id", json_integer(hdr->owner_id));
    json_object_set_new(j, "group_id", json_integer(hdr->group_id));
    vr_perms_format(hdr->perms, perms);
    json_object_set_new(j, "permissions", json_string(perms));
    vr_json_set_time(j, "created_at", hdr->created_at);
    vr_json_set_time(j, "updated_at", hdr->updated_at);
}

void vr_obj_hdr_from_json(struct vr_obj *hdr, const json_t *j)
{
    hdr->id = vr_json_get_i64(j, "id");
    vr_json_copy_str(j, "uuid", hdr->uuid, sizeof(hdr->uuid));
    vr_json_copy_str(j, "name", hdr->name, sizeof(hdr->name));
    hdr->owner_id = vr_json_get_i64(j, "owner_id");
    hdr->group_id = vr_json_get_i64(j, "group_id");
    if (vr_perms_parse(json_string_value(json_object_get(j, "permissions")),
                       &hdr->perms) < 0)
        hdr->perms = VR_PERMS_DEFAULT;
    hdr->created_at = vr_json_get_time(j, "created_at");
    hdr->updated_at = vr_json_get_time(j, "updated_at");
}
