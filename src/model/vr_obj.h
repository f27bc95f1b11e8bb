/*
 * vr_obj.h - what every stored object shares, and the per-kind vtable
 * through which pools and the store handle objects generically.
 *
 * Every object struct (struct vr_vm, struct vr_host, ...) starts with a
 * `struct vr_obj` member named `hdr`, so a pointer to the object is a
 * pointer to its header.
 */
#ifndef VR_OBJ_H
#define VR_OBJ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vr_enum.h"
#include "vr_error.h"
#include "vr_util.h"

#define VR_NAME_SIZE 64

/* Permission bits, as in chmod: three octal digits for owner, group and
 * others; in each digit USE = 4, MANAGE = 2, ADMIN = 1.  "640": the owner
 * may use and manage, the group may use, others nothing. */
#define VR_PERM_USE 4u
#define VR_PERM_MANAGE 2u
#define VR_PERM_ADMIN 1u
#define VR_PERMS_DEFAULT 0640u

struct vr_obj {
    int64_t id;                /* > 0, never reused */
    char uuid[VR_UUID_LEN];    /* "" for kinds without one */
    char name[VR_NAME_SIZE];   /* "" for kinds without one */
    int64_t owner_id;          /* user id; 0 = system */
    int64_t group_id;          /* group id; 0 = none yet */
    unsigned perms;            /* 9 bits, see VR_PERM_* */
    int64_t created_at;        /* ms since the epoch */
    int64_t updated_at;
    uint64_t rev;              /* bumped at every write; in memory only
                                * (a reader that acts on what it read
                                * earlier checks that it is unchanged) */
};

/* Where a name must be unique. */
enum vr_name_scope {
    VR_NAMES_NONE,             /* names are free text, not indexed */
    VR_NAMES_GLOBAL,           /* unique in the kind (users, groups, hosts) */
    VR_NAMES_OWNER,            /* unique per owner (VMs, images) */
};

/* A kind of object.  `to_json(obj, internal)`: internal=true is the full
 * record for the store (may include secrets), false the API view.
 * `from_json` fills a zeroed object from a store record.  `copy` makes a
 * deep copy into uninitialised memory (NULL: the object owns no memory
 * and a flat copy of `size` bytes is deep); `release` frees owned members and
 * accepts a zeroed object.  `refs` reports up to two foreign keys for the
 * store's columns (see vr_store.h), 0 meaning none. */
struct vr_kind {
    const char *name;      /* "vm" */
    const char *table;     /* "vms" */
    size_t size;           /* sizeof the object struct */
    enum vr_name_scope names;
    json_t *(*to_json)(const void *obj, bool internal);
    int (*from_json)(void *obj, const json_t *j, struct vr_error *err);
    void (*copy)(void *dst, const void *src);
    void (*release)(void *obj);
    void (*refs)(const void *obj, int64_t refs[2]);
    /* Optional extra unique string index (tokens: their hash). */
    const char *(*alt_key)(const void *obj);
};

/* Allocate a zeroed object of the kind; free it with vr_obj_free. */
void *vr_obj_new(const struct vr_kind *kind);
void vr_obj_free(const struct vr_kind *kind, void *obj);
/* Deep copy into `dst` (uninitialised), or into a new allocation. */
void vr_obj_copy(const struct vr_kind *kind, void *dst, const void *src);
void *vr_obj_dup(const struct vr_kind *kind, const void *obj);

/* "640" <-> bits; parse returns -1 unless exactly three octal digits. */
void vr_perms_format(unsigned perms, char out[4]);
int vr_perms_parse(const char *s, unsigned *out);

/* Header to/from JSON (fields id, uuid, name, owner_id, group_id,
 * permissions, created_at, updated_at); used by every kind's
 * to_json/from_json.  A record without permissions gets the default. */
void vr_obj_hdr_to_json(const struct vr_obj *hdr, json_t *j);
void vr_obj_hdr_from_json(struct vr_obj *hdr, const json_t *j);

#endif
