#include "vr_cluster.h"

#include <string.h>

#include "vr_json.h"

static json_t *ratio_json(double r)
{
    return r > 0 ? json_real(r) : json_null();
}

static json_t *cluster_to_json(const void *obj, bool internal)
{
    const struct vr_cluster *c = obj;
    json_t *j = json_object(), *labels = json_array();

    (void)internal;
    vr_obj_hdr_to_json(&c->hdr, j);
    json_object_set_new(j, "cpu_ratio", ratio_json(c->cpu_ratio));
    json_object_set_new(j, "mem_ratio", ratio_json(c->mem_ratio));
    for (int i = 0; i < c->nlabels && i < VR_HOST_MAX_LABELS; i++)
        json_array_append_new(labels, json_string(c->labels[i]));
    json_object_set_new(j, "labels", labels);
    vr_json_set_str_or_null(j, "requirements", c->requirements);
    vr_json_set_str_or_null(j, "rank", c->rank);
    return j;
}

static int cluster_from_json(void *obj, const json_t *j, struct vr_error *err)
{
    struct vr_cluster *c = obj;
    const json_t *v;
    size_t i;

    (void)err;
    vr_obj_hdr_from_json(&c->hdr, j);
    if (json_is_number(json_object_get(j, "cpu_ratio")))
        c->cpu_ratio = json_number_value(json_object_get(j, "cpu_ratio"));
    if (json_is_number(json_object_get(j, "mem_ratio")))
        c->mem_ratio = json_number_value(json_object_get(j, "mem_ratio"));
    json_array_foreach(json_object_get(j, "labels"), i, v) {
        if (c->nlabels >= VR_HOST_MAX_LABELS)
            break;
        if (json_is_string(v))
            vr_strlcpy(c->labels[c->nlabels++], json_string_value(v),
                       sizeof(c->labels[0]));
    }
    vr_json_copy_str(j, "requirements", c->requirements,
                     sizeof(c->requirements));
    vr_json_copy_str(j, "rank", c->rank, sizeof(c->rank));
    return 0;
}

const struct vr_kind vr_cluster_kind = {
    .name = "cluster",
    .table = "clusters",
    .size = sizeof(struct vr_cluster),
    .names = VR_NAMES_GLOBAL,
    .to_json = cluster_to_json,
    .from_json = cluster_from_json,
};
