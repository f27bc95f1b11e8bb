#include "vr_vmgroup.h"

#include <string.h>

#include "vr_json.h"

VR_ENUM_DEFINE(vr_affinity, vr_affinity, VR_AFFINITIES, VR_AFF__LAST, 0,
               "none")

int vr_vm_group_role(const struct vr_vm_group *g, const char *name)
{
    if (!name || !*name)
        return g->nroles > 0 ? 0 : -1;
    for (int i = 0; i < g->nroles; i++)
        if (strcmp(g->roles[i].name, name) == 0)
            return i;
    return -1;
}

static json_t *group_to_json(const void *obj, bool internal)
{
    const struct vr_vm_group *g = obj;
    json_t *j = json_object(), *roles = json_array();

    (void)internal;
    vr_obj_hdr_to_json(&g->hdr, j);
    for (int i = 0; i < g->nroles; i++)
        json_array_append_new(roles, json_pack(
            "{s:s, s:s, s:b}", "name", g->roles[i].name, "policy",
            vr_affinity_name(g->roles[i].affinity), "hard",
            g->roles[i].hard));
    json_object_set_new(j, "roles", roles);
    return j;
}

static int group_from_json(void *obj, const json_t *j, struct vr_error *err)
{
    struct vr_vm_group *g = obj;
    const json_t *roles = json_object_get(j, "roles"), *v;
    size_t i;

    (void)err;
    vr_obj_hdr_from_json(&g->hdr, j);
    json_array_foreach(roles, i, v) {
        if (g->nroles >= VR_VMGROUP_MAX_ROLES)
            break;
        vr_json_copy_str(v, "name", g->roles[g->nroles].name,
                         sizeof(g->roles[0].name));
        if (vr_affinity_parse(json_string_value(json_object_get(v, "policy")),
                              &g->roles[g->nroles].affinity) < 0)
            g->roles[g->nroles].affinity = VR_AFF_NONE;
        g->roles[g->nroles].hard = json_is_true(json_object_get(v, "hard"));
        g->nroles++;
    }
    return 0;
}

const struct vr_kind vr_vm_group_kind = {
    .name = "vm_group",
    .table = "vm_groups",
    .size = sizeof(struct vr_vm_group),
    .names = VR_NAMES_OWNER,
    .to_json = group_to_json,
    .from_json = group_from_json,
};
