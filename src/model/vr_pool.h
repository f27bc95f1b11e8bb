/*
 * vr_pool.h - objects of one kind, in memory, with indexes.
 *
 * A pool holds every object of its kind with indexes by id, name (when the
 * kind's names are unique), UUID and an optional alternate key, plus the
 * object's API JSON, rendered once per change so reads are a copy.
 *
 * Locking: a read-write lock.  Readers get copies (vr_pool_get,
 * vr_pool_get_json) or walk under the read lock (vr_pool_foreach).
 * Writers are only vr_db's commit (vr_pool_install / vr_pool_remove), which
 * the database write lock already serializes; pools never do I/O.
 */
#ifndef VR_POOL_H
#define VR_POOL_H

#include <pthread.h>
#include <stdatomic.h>

#include "vr_map.h"
#include "vr_obj.h"

struct vr_pool {
    const struct vr_kind *kind;
    pthread_rwlock_t lock;
    struct vr_map by_id;       /* id -> struct vr_pool_entry * */
    struct vr_map by_name;     /* name or "owner/name" -> entry */
    struct vr_map by_uuid;     /* uuid -> entry */
    struct vr_map by_alt;      /* alt_key -> entry */
    atomic_llong last_id;      /* highest id ever allocated */
};

void vr_pool_init(struct vr_pool *pool, const struct vr_kind *kind);
void vr_pool_release(struct vr_pool *pool);

/* Next unused id (never reused, also after deletes). */
int64_t vr_pool_next_id(struct vr_pool *pool);
/* Make sure later ids are above `id` (used while loading). */
void vr_pool_seen_id(struct vr_pool *pool, int64_t id);

/* Copy the object into `out` (kind->size bytes, caller releases with
 * kind->release).  Returns 0, or -1 if there is no such id. */
int vr_pool_get(struct vr_pool *pool, int64_t id, void *out);
/* A new allocation holding the object (vr_obj_free), or NULL. */
void *vr_pool_dup(struct vr_pool *pool, int64_t id);
/* The cached API JSON text (caller frees), or NULL. */
char *vr_pool_get_json(struct vr_pool *pool, int64_t id, size_t *len);

/* Lookups; return the id or 0.  By name: kinds with global names only;
 * by owner and name: kinds whose names are unique per owner. */
int64_t vr_pool_id_by_name(struct vr_pool *pool, const char *name);
int64_t vr_pool_id_by_owner_name(struct vr_pool *pool, int64_t owner,
                                 const char *name);
int64_t vr_pool_id_by_uuid(struct vr_pool *pool, const char *uuid);
int64_t vr_pool_id_by_alt(struct vr_pool *pool, const char *key);

/* Resolve a reference typed by a user: an id ("12"), a UUID or (kinds
 * with global names) a name.  Returns the id or 0. */
int64_t vr_pool_resolve(struct vr_pool *pool, const char *ref);
/* The same, and for kinds named per owner: `owner`'s object of that name,
 * else the one object of that name for which `visible` is true.  Returns
 * the id, 0 if none, -1 if several match (ambiguous). */
int64_t vr_pool_find(struct vr_pool *pool, const char *ref, int64_t owner,
                     bool (*visible)(const void *obj, void *ctx), void *ctx);
bool vr_pool_has(struct vr_pool *pool, int64_t id);

size_t vr_pool_count(struct vr_pool *pool);

/* Visit every object under the read lock, in no particular order; the
 * callback must not call back into the pool.  Return non-zero from the
 * callback to stop. */
void vr_pool_foreach(struct vr_pool *pool,
                     int (*cb)(const void *obj, void *ctx), void *ctx);

/* The ids of the objects for which `keep` returns true, in no particular
 * order, in an array the caller frees (NULL when none); *n gets how many.
 * For changes that read the pool first, then write outside its lock. */
int64_t *vr_pool_ids(struct vr_pool *pool,
                     bool (*keep)(const void *obj, void *ctx), void *ctx,
                     size_t *n);

/* List: objects for which `keep` returns true (all if NULL), ordered by id,
 * `offset`/`limit` applied; appends a JSON array of their API JSON to
 * `out` and reports the number of matches before paging in *total. */
struct vr_buf;
void vr_pool_list_json(struct vr_pool *pool,
                       bool (*keep)(const void *obj, void *ctx), void *ctx,
                       size_t offset, size_t limit, struct vr_buf *out,
                       size_t *total);

/* ---- writers (vr_db commit only) */
/* Insert or replace; takes ownership of `obj`. */
void vr_pool_install(struct vr_pool *pool, void *obj);
void vr_pool_remove(struct vr_pool *pool, int64_t id);
/* Whether `name` is taken (in its scope) by an object other than
 * `self_id`. */
bool vr_pool_name_taken(struct vr_pool *pool, int64_t owner,
                        const char *name, int64_t self_id);

#endif
