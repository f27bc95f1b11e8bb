#include "vr_pool.h"

#include <string.h>

#include "vr_json.h"

struct vr_pool_entry {
    void *obj;
    char *json;        /* API view, compact */
    size_t json_len;
};

static void entry_free(const struct vr_kind *kind, struct vr_pool_entry *e)
{
    if (!e)
        return;
    vr_obj_free(kind, e->obj);
    free(e->json);
    free(e);
}

void vr_pool_init(struct vr_pool *pool, const struct vr_kind *kind)
{
    memset(pool, 0, sizeof(*pool));
    pool->kind = kind;
    pthread_rwlock_init(&pool->lock, NULL);
    vr_map_init_int(&pool->by_id);
    vr_map_init_str(&pool->by_name);
    vr_map_init_str(&pool->by_uuid);
    vr_map_init_str(&pool->by_alt);
    atomic_init(&pool->last_id, 0);
}

void vr_pool_release(struct vr_pool *pool)
{
    size_t pos = 0;
    struct vr_pool_entry *e;

    if (!pool->kind)
        return;
    while ((e = vr_map_next(&pool->by_id, &pos)))
        entry_free(pool->kind, e);
    vr_map_release(&pool->by_id);
    vr_map_release(&pool->by_name);
    vr_map_release(&pool->by_uuid);
    vr_map_release(&pool->by_alt);
    pthread_rwlock_destroy(&pool->lock);
    pool->kind = NULL;
}

int64_t vr_pool_next_id(struct vr_pool *pool)
{
    return atomic_fetch_add(&pool->last_id, 1) + 1;
}

void vr_pool_seen_id(struct vr_pool *pool, int64_t id)
{
    long long cur = atomic_load(&pool->last_id);
    while (cur < id && !atomic_compare_exchange_weak(&pool->last_id, &cur, id))
        ;
}

int vr_pool_get(struct vr_pool *pool, int64_t id, void *out)
{
    struct vr_pool_entry *e;
    int ret = -1;

    pthread_rwlock_rdlock(&pool->lock);
    e = vr_map_get_int(&pool->by_id, id);
    if (e) {
        vr_obj_copy(pool->kind, out, e->obj);
        ret = 0;
    }
    pthread_rwlock_unlock(&pool->lock);
    return ret;
}

void *vr_pool_dup(struct vr_pool *pool, int64_t id)
{
    void *obj = vr_malloc(pool->kind->size);
    if (vr_pool_get(pool, id, obj) < 0) {
        free(obj);
        return NULL;
    }
    return obj;
}

char *vr_pool_get_json(struct vr_pool *pool, int64_t id, size_t *len)
{
    struct vr_pool_entry *e;
    char *s = NULL;

    pthread_rwlock_rdlock(&pool->lock);
    e = vr_map_get_int(&pool->by_id, id);
    if (e) {
        s = vr_malloc(e->json_len + 1);
        memcpy(s, e->json, e->json_len + 1);
        if (len)
            *len = e->json_len;
    }
    pthread_rwlock_unlock(&pool->lock);
    return s;
}

static int64_t lookup(struct vr_pool *pool, struct vr_map *m, const char *key)
{
    struct vr_pool_entry *e;
    int64_t id = 0;

    if (!key || !*key)
        return 0;
    pthread_rwlock_rdlock(&pool->lock);
    e = vr_map_get_str(m, key);
    if (e)
        id = ((const struct vr_obj *)e->obj)->id;
    pthread_rwlock_unlock(&pool->lock);
    return id;
}

int64_t vr_pool_id_by_name(struct vr_pool *pool, const char *name)
{
    if (pool->kind->names != VR_NAMES_GLOBAL)
        return 0;
    return lookup(pool, &pool->by_name, name);
}

int64_t vr_pool_id_by_uuid(struct vr_pool *pool, const char *uuid)
{
    return lookup(pool, &pool->by_uuid, uuid);
}

int64_t vr_pool_id_by_alt(struct vr_pool *pool, const char *key)
{
    return lookup(pool, &pool->by_alt, key);
}

bool vr_pool_has(struct vr_pool *pool, int64_t id)
{
    bool found;
    pthread_rwlock_rdlock(&pool->lock);
    found = vr_map_get_int(&pool->by_id, id) != NULL;
    pthread_rwlock_unlock(&pool->lock);
    return found;
}

int64_t vr_pool_resolve(struct vr_pool *pool, const char *ref)
{
    char uuid[VR_UUID_LEN];
    int64_t id = 0;
    const char *p = ref;

    if (!ref || !*ref)
        return 0;
    while (*p >= '0' && *p <= '9') {
        if (id > (INT64_MAX - 9) / 10)
            return 0;
        id = id * 10 + (*p++ - '0');
    }
    if (*p == '\0' && p - ref <= 18)
        return id > 0 && vr_pool_has(pool, id) ? id : 0;
    if (vr_uuid_normalize(ref, uuid) == 0)
        return vr_pool_id_by_uuid(pool, uuid);
    if (pool->kind->names == VR_NAMES_GLOBAL)
        return vr_pool_id_by_name(pool, ref);
    return 0;
}

size_t vr_pool_count(struct vr_pool *pool)
{
    size_t n;
    pthread_rwlock_rdlock(&pool->lock);
    n = pool->by_id.count;
    pthread_rwlock_unlock(&pool->lock);
    return n;
}

void vr_pool_foreach(struct vr_pool *pool,
                     int (*cb)(const void *obj, void *ctx), void *ctx)
{
    size_t pos = 0;
    struct vr_pool_entry *e;

    pthread_rwlock_rdlock(&pool->lock);
    while ((e = vr_map_next(&pool->by_id, &pos)))
        if (cb(e->obj, ctx))
            break;
    pthread_rwlock_unlock(&pool->lock);
}

int64_t *vr_pool_ids(struct vr_pool *pool,
                     bool (*keep)(const void *obj, void *ctx), void *ctx,
                     size_t *n)
{
    size_t pos = 0, cap = 0;
    struct vr_pool_entry *e;
    int64_t *ids = NULL;

    *n = 0;
    pthread_rwlock_rdlock(&pool->lock);
    while ((e = vr_map_next(&pool->by_id, &pos))) {
        if (!keep(e->obj, ctx))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            ids = vr_realloc(ids, cap * sizeof(*ids));
        }
        ids[(*n)++] = ((const struct vr_obj *)e->obj)->id;
    }
    pthread_rwlock_unlock(&pool->lock);
    return ids;
}

static int cmp_entry_id(const void *a, const void *b)
{
    const struct vr_obj *x = (*(struct vr_pool_entry *const *)a)->obj;
    const struct vr_obj *y = (*(struct vr_pool_entry *const *)b)->obj;
    return (x->id > y->id) - (x->id < y->id);
}

void vr_pool_list_json(struct vr_pool *pool,
                       bool (*keep)(const void *obj, void *ctx), void *ctx,
                       size_t offset, size_t limit, struct vr_buf *out,
                       size_t *total)
{
    struct vr_pool_entry **sel;
    struct vr_pool_entry *e;
    size_t pos = 0, n = 0;

    pthread_rwlock_rdlock(&pool->lock);
    sel = vr_malloc(sizeof(*sel) * (pool->by_id.count + 1));
    while ((e = vr_map_next(&pool->by_id, &pos)))
        if (!keep || keep(e->obj, ctx))
            sel[n++] = e;
    qsort(sel, n, sizeof(*sel), cmp_entry_id);
    vr_buf_adds(out, "[");
    for (size_t i = offset, k = 0; i < n && k < limit; i++, k++) {
        if (k)
            vr_buf_adds(out, ",");
        vr_buf_add(out, sel[i]->json, sel[i]->json_len);
    }
    vr_buf_adds(out, "]");
    pthread_rwlock_unlock(&pool->lock);
    free(sel);
    *total = n;
}

/* The key of an object in by_name: its name, or "<owner>/<name>" for
 * kinds whose names are unique per owner.  False if not indexed. */
static bool name_key(const struct vr_pool *pool, int64_t owner,
                     const char *name, char *key, size_t size)
{
    if (!name[0] || pool->kind->names == VR_NAMES_NONE)
        return false;
    if (pool->kind->names == VR_NAMES_OWNER)
        snprintf(key, size, "%lld/%s", (long long)owner, name);
    else
        vr_strlcpy(key, name, size);
    return true;
}

static void index_del(struct vr_pool *pool, struct vr_pool_entry *e)
{
    const struct vr_obj *h = e->obj;
    char key[VR_NAME_SIZE + 24];

    if (name_key(pool, h->owner_id, h->name, key, sizeof(key)) &&
        vr_map_get_str(&pool->by_name, key) == e)
        vr_map_del_str(&pool->by_name, key);
    if (h->uuid[0] && vr_map_get_str(&pool->by_uuid, h->uuid) == e)
        vr_map_del_str(&pool->by_uuid, h->uuid);
    if (pool->kind->alt_key) {
        const char *k = pool->kind->alt_key(e->obj);
        if (k && *k && vr_map_get_str(&pool->by_alt, k) == e)
            vr_map_del_str(&pool->by_alt, k);
    }
}

static void index_add(struct vr_pool *pool, struct vr_pool_entry *e)
{
    const struct vr_obj *h = e->obj;
    char key[VR_NAME_SIZE + 24];

    if (name_key(pool, h->owner_id, h->name, key, sizeof(key)))
        vr_map_put_str(&pool->by_name, key, e);
    if (h->uuid[0])
        vr_map_put_str(&pool->by_uuid, h->uuid, e);
    if (pool->kind->alt_key) {
        const char *k = pool->kind->alt_key(e->obj);
        if (k && *k)
            vr_map_put_str(&pool->by_alt, k, e);
    }
}

void vr_pool_install(struct vr_pool *pool, void *obj)
{
    const struct vr_obj *h = obj;
    struct vr_pool_entry *e = vr_calloc(1, sizeof(*e)), *old;
    json_t *j = pool->kind->to_json(obj, false);

    e->obj = obj;
    e->json = vr_json_dump(j);
    e->json_len = strlen(e->json);
    json_decref(j);
    vr_pool_seen_id(pool, h->id);

    pthread_rwlock_wrlock(&pool->lock);
    old = vr_map_put_int(&pool->by_id, h->id, e);
    if (old)
        index_del(pool, old);
    index_add(pool, e);
    pthread_rwlock_unlock(&pool->lock);
    entry_free(pool->kind, old);
}

void vr_pool_remove(struct vr_pool *pool, int64_t id)
{
    struct vr_pool_entry *e;

    pthread_rwlock_wrlock(&pool->lock);
    e = vr_map_del_int(&pool->by_id, id);
    if (e)
        index_del(pool, e);
    pthread_rwlock_unlock(&pool->lock);
    entry_free(pool->kind, e);
}

bool vr_pool_name_taken(struct vr_pool *pool, int64_t owner,
                        const char *name, int64_t self_id)
{
    char key[VR_NAME_SIZE + 24];
    int64_t id;

    if (!name_key(pool, owner, name, key, sizeof(key)))
        return false;
    id = lookup(pool, &pool->by_name, key);
    return id != 0 && id != self_id;
}

int64_t vr_pool_id_by_owner_name(struct vr_pool *pool, int64_t owner,
                                 const char *name)
{
    char key[VR_NAME_SIZE + 24];

    if (!name_key(pool, owner, name, key, sizeof(key)))
        return 0;
    return lookup(pool, &pool->by_name, key);
}

int64_t vr_pool_find(struct vr_pool *pool, const char *ref, int64_t owner,
                     bool (*visible)(const void *obj, void *ctx), void *ctx)
{
    int64_t id = 0, found = 0;
    size_t pos = 0;
    struct vr_pool_entry *e;
    int n = 0;

    if (!ref || !*ref)
        return 0;
    id = vr_pool_resolve(pool, ref);
    if (id)
        return id;
    if (pool->kind->names != VR_NAMES_OWNER)
        return 0;
    /* the caller's own object first, then any visible one by that name */
    id = vr_pool_id_by_owner_name(pool, owner, ref);
    if (id)
        return id;
    pthread_rwlock_rdlock(&pool->lock);
    while ((e = vr_map_next(&pool->by_id, &pos))) {
        const struct vr_obj *h = e->obj;
        if (strcmp(h->name, ref) == 0 && (!visible || visible(e->obj, ctx))) {
            found = h->id;
            n++;
        }
    }
    pthread_rwlock_unlock(&pool->lock);
    return n > 1 ? -1 : found;
}
