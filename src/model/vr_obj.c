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

void *vr_obj_dup(const struct vr_kind *kind, const void *obj)
{
    void *dst = vr_malloc(kind->size);
    kind->copy(dst, obj);
    return dst;
}

void vr_obj_hdr_to_json(const struct vr_obj *hdr, json_t *j)
{
    json_object_set_new(j, "id", json_integer(hdr->id));
    if (hdr->uuid[0])
        json_object_set_new(j, "uuid", json_string(hdr->uuid));
    if (hdr->name[0])
        json_object_set_new(j, "name", json_string(hdr->name));
    json_object_set_new(j, "owner_id", json_integer(hdr->owner_id));
    json_object_set_new(j, "group_id", json_integer(hdr->group_id));
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
    hdr->created_at = vr_json_get_time(j, "created_at");
    hdr->updated_at = vr_json_get_time(j, "updated_at");
}
