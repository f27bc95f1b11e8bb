#include "vr_image.h"

#include <string.h>

#include "vr_json.h"

VR_ENUM_DEFINE(vr_image_state, vr_image_state, VR_IMAGE_STATES, VR_IMAGE__LAST,
               0, "UNKNOWN")

int vr_image_format_check(const char *fmt, struct vr_error *err)
{
    if (fmt && (strcmp(fmt, "qcow2") == 0 || strcmp(fmt, "raw") == 0))
        return 0;
    return vr_err(err, VR_E_INVALID,
                  "image format must be 'qcow2' or 'raw'");
}

static json_t *image_to_json(const void *obj, bool internal)
{
    const struct vr_image *im = obj;
    json_t *j = json_object();

    vr_obj_hdr_to_json(&im->hdr, j);
    json_object_set_new(j, "state", json_string(vr_image_state_name(im->state)));
    json_object_set_new(j, "format", json_string(im->format));
    json_object_set_new(j, "size", json_integer((json_int_t)im->size));
    json_object_set_new(j, "virtual_size",
                        json_integer((json_int_t)im->virtual_size));
    vr_json_set_str_or_null(j, "sha256", im->sha256);
    vr_json_set_str_or_null(j, "expected_sha256", im->expected_sha256);
    json_object_set_new(j, "source", json_string(im->source));
    vr_json_set_str_or_null(j, "path", im->path);
    vr_json_set_str_or_null(j, "error", im->error);
    /* bookkeeping of the quota across restarts: the store's only */
    if (internal && im->reserved_mib)
        json_object_set_new(j, "reserved_mib",
                            json_integer((json_int_t)im->reserved_mib));
    return j;
}

static int image_from_json(void *obj, const json_t *j, struct vr_error *err)
{
    struct vr_image *im = obj;
    const char *st = json_string_value(json_object_get(j, "state"));

    (void)err;
    vr_obj_hdr_from_json(&im->hdr, j);
    im->state = st && strcmp(st, "READY") == 0 ? VR_IMAGE_READY
                                               : VR_IMAGE_PENDING;
    vr_json_copy_str(j, "format", im->format, sizeof(im->format));
    im->size = (uint64_t)vr_json_get_i64(j, "size");
    im->virtual_size = (uint64_t)vr_json_get_i64(j, "virtual_size");
    vr_json_copy_str(j, "sha256", im->sha256, sizeof(im->sha256));
    vr_json_copy_str(j, "expected_sha256", im->expected_sha256,
                     sizeof(im->expected_sha256));
    vr_json_copy_str(j, "source", im->source, sizeof(im->source));
    vr_json_copy_str(j, "path", im->path, sizeof(im->path));
    vr_json_copy_str(j, "error", im->error, sizeof(im->error));
    im->reserved_mib = (uint64_t)vr_json_get_i64(j, "reserved_mib");
    return 0;
}

const struct vr_kind vr_image_kind = {
    .name = "image",
    .table = "images",
    .size = sizeof(struct vr_image),
    .names = VR_NAMES_OWNER,
    .to_json = image_to_json,
    .from_json = image_from_json,
};
