#include "vr_db.h"

#include <string.h>

#include "vr_json.h"
#include "vr_log.h"

static struct vr_pool *all_pools(struct vr_db *db, size_t i)
{
    struct vr_pool *pools[] = {&db->groups, &db->users, &db->acls,
                               &db->tokens, &db->clusters, &db->hosts,
                               &db->images,
                               &db->vm_groups, &db->vms, &db->jobs};
    return i < VR_ARRAY_SIZE(pools) ? pools[i] : NULL;
}

struct load_ctx {
    struct vr_pool *pool;
    struct vr_error *err;
};

static int load_row(const struct vr_record *rec, void *opaque)
{
    struct load_ctx *lc = opaque;
    const struct vr_kind *kind = lc->pool->kind;
    json_error_t jerr;
    json_t *j = json_loads(rec->body, 0, &jerr);
    void *obj;

    if (!j) {
        vr_err(lc->err, VR_E_INTERNAL, "store: %s %lld: corrupt record: %s",
               kind->name, (long long)rec->id, jerr.text);
        return -1;
    }
    obj = vr_obj_new(kind);
    if (kind->from_json(obj, j, lc->err) < 0) {
        json_decref(j);
        vr_obj_free(kind, obj);
        return -1;
    }
    json_decref(j);
    ((struct vr_obj *)obj)->id = rec->id;
    vr_pool_install(lc->pool, obj);
    return 0;
}

int vr_db_open(struct vr_db *db, const char *url, struct vr_error *err)
{
    struct vr_pool *p;
    char *last;

    memset(db, 0, sizeof(*db));
    pthread_mutex_init(&db->wlock, NULL);
    pthread_mutex_init(&db->publock, NULL);
    vr_pool_init(&db->users, &vr_user_kind);
    vr_pool_init(&db->groups, &vr_group_kind);
    vr_pool_init(&db->acls, &vr_acl_kind);
    vr_pool_init(&db->vm_groups, &vr_vm_group_kind);
    vr_pool_init(&db->tokens, &vr_token_kind);
    vr_pool_init(&db->clusters, &vr_cluster_kind);
    vr_pool_init(&db->hosts, &vr_host_kind);
    vr_pool_init(&db->images, &vr_image_kind);
    vr_pool_init(&db->vms, &vr_vm_kind);
    vr_pool_init(&db->jobs, &vr_job_kind);
    db->store = vr_store_open(url, err);
    if (!db->store)
        return -1;
    for (size_t i = 0; (p = all_pools(db, i)); i++) {
        struct load_ctx lc = {p, err};
        char key[64];
        if (db->store->ops->scan(db->store, p->kind->table, load_row, &lc,
                                 err) != 0)
            return -1;
        /* ids are never reused: remember the highest ever handed out */
        snprintf(key, sizeof(key), "last_id.%s", p->kind->table);
        last = vr_db_meta_get(db, key);
        if (last)
            vr_pool_seen_id(p, strtoll(last, NULL, 10));
        free(last);
    }
    return 0;
}

void vr_db_close(struct vr_db *db)
{
    struct vr_pool *p;

    for (size_t i = 0; (p = all_pools(db, i)); i++)
        vr_pool_release(p);
    vr_store_free(db->store);
    db->store = NULL;
    pthread_mutex_destroy(&db->wlock);
    pthread_mutex_destroy(&db->publock);
}

void vr_db_set_listeners(struct vr_db *db, vr_db_listener on_commit,
                         vr_db_listener after_commit, void *ctx)
{
    pthread_mutex_lock(&db->wlock);
    db->on_commit = on_commit;
    db->after_commit = after_commit;
    db->listener_ctx = ctx;
    pthread_mutex_unlock(&db->wlock);
}

char *vr_db_meta_get(struct vr_db *db, const char *key)
{
    char *v = NULL;
    pthread_mutex_lock(&db->wlock);
    if (db->store->ops->meta_get(db->store, key, &v, NULL) < 0)
        v = NULL;
    pthread_mutex_unlock(&db->wlock);
    return v;
}

int vr_db_meta_put(struct vr_db *db, const char *key, const char *value,
                   struct vr_error *err)
{
    int ret;
    pthread_mutex_lock(&db->wlock);
    ret = db->store->ops->meta_put(db->store, key, value, err);
    pthread_mutex_unlock(&db->wlock);
    return ret;
}

int vr_tx_begin(struct vr_db *db, struct vr_tx *tx, struct vr_error *err)
{
    memset(tx, 0, sizeof(*tx));
    tx->db = db;
    pthread_mutex_lock(&db->wlock);
    if (db->store->ops->begin(db->store, err) < 0) {
        pthread_mutex_unlock(&db->wlock);
        tx->db = NULL;
        return -1;
    }
    return 0;
}

static void tx_release_ops(struct vr_tx *tx)
{
    for (int i = 0; i < tx->n; i++) {
        if (tx->ops[i].obj)
            vr_obj_free(tx->ops[i].pool->kind, tx->ops[i].obj);
        free(tx->ops[i].json);
    }
    free(tx->ops);
    tx->ops = NULL;
    tx->n = tx->cap = 0;
}

static int tx_room(struct vr_tx *tx, struct vr_error *err)
{
    if (tx->n >= VR_TX_MAX)
        return vr_err(err, VR_E_INVALID, "too many objects in one change "
                      "(at most %d)", VR_TX_MAX);
    if (tx->n == tx->cap) {
        tx->cap = tx->cap ? tx->cap * 2 : 8;
        tx->ops = vr_realloc(tx->ops, (size_t)tx->cap * sizeof(*tx->ops));
    }
    return 0;
}

void vr_tx_abort(struct vr_tx *tx)
{
    if (!tx->db)
        return;
    tx->db->store->ops->rollback(tx->db->store);
    tx_release_ops(tx);
    pthread_mutex_unlock(&tx->db->wlock);
    tx->db = NULL;
}

int vr_tx_put(struct vr_tx *tx, struct vr_pool *pool, void *obj,
              struct vr_error *err)
{
    const struct vr_kind *kind = pool->kind;
    struct vr_obj *h = obj;
    struct vr_record rec;
    json_t *j;
    char *body;
    int64_t now = vr_now_ms();
    int ret;

    if (tx_room(tx, err) < 0)
        return -1;
    if (vr_pool_name_taken(pool, h->owner_id, h->name, h->id))
        return vr_err(err, VR_E_CONFLICT, "a %s named '%s' already exists%s",
                      kind->name, h->name,
                      kind->names == VR_NAMES_OWNER ? " for this owner" : "");
    if (!h->created_at)
        h->created_at = now;
    h->updated_at = now;
    h->rev++;
    j = kind->to_json(obj, true);
    body = vr_json_dump(j);
    json_decref(j);
    memset(&rec, 0, sizeof(rec));
    rec.table = kind->table;
    rec.id = h->id;
    rec.uuid = h->uuid;
    rec.name = kind->names != VR_NAMES_NONE ? h->name : NULL;
    rec.owner_id = h->owner_id;
    rec.group_id = h->group_id;
    if (kind->refs)
        kind->refs(obj, rec.ref);
    rec.body = body;
    ret = tx->db->store->ops->put(tx->db->store, &rec, err);
    free(body);
    if (ret < 0)
        return -1;
    tx->ops[tx->n].pool = pool;
    tx->ops[tx->n].obj = vr_obj_dup(kind, obj);
    tx->ops[tx->n].id = h->id;
    tx->ops[tx->n].json = NULL;
    tx->ops[tx->n].deleted = false;
    tx->n++;
    return 0;
}

int vr_tx_del(struct vr_tx *tx, struct vr_pool *pool, int64_t id,
              struct vr_error *err)
{
    if (tx_room(tx, err) < 0)
        return -1;
    if (tx->db->store->ops->del(tx->db->store, pool->kind->table, id, err) < 0)
        return -1;
    tx->ops[tx->n].pool = pool;
    tx->ops[tx->n].obj = NULL;
    tx->ops[tx->n].id = id;
    tx->ops[tx->n].json = NULL;
    tx->ops[tx->n].deleted = false;
    tx->n++;
    return 0;
}

int vr_tx_get(struct vr_tx *tx, struct vr_pool *pool, int64_t id, void *out)
{
    for (int i = tx->n - 1; i >= 0; i--) {
        if (tx->ops[i].pool != pool || tx->ops[i].id != id)
            continue;
        if (!tx->ops[i].obj)
            return -1;
        vr_obj_copy(pool->kind, out, tx->ops[i].obj);
        return 0;
    }
    return vr_pool_get(pool, id, out);
}

int vr_tx_commit(struct vr_tx *tx, struct vr_error *err)
{
    struct vr_db *db = tx->db;
    struct vr_store *st = db->store;

    /* Remember the highest id of each touched kind, in the same commit. */
    for (int i = 0; i < tx->n; i++) {
        struct vr_pool *p = tx->ops[i].pool;
        char key[64], val[32];
        bool seen = false;
        for (int k = 0; k < i && !seen; k++)
            seen = tx->ops[k].pool == p;
        if (seen)
            continue;
        snprintf(key, sizeof(key), "last_id.%s", p->kind->table);
        snprintf(val, sizeof(val), "%lld", (long long)atomic_load(&p->last_id));
        if (st->ops->meta_put(st, key, val, err) < 0) {
            vr_tx_abort(tx);
            return -1;
        }
    }
    if (st->ops->commit(st, err) < 0) {
        tx_release_ops(tx);
        pthread_mutex_unlock(&db->wlock);
        tx->db = NULL;
        return -1;
    }
    /* install; what the listeners need is kept per op: the object (a
     * copy for after_commit, which runs when the pool may have moved on)
     * and its JSON */
    for (int i = 0; i < tx->n; i++) {
        struct vr_pool *p = tx->ops[i].pool;
        int64_t id = tx->ops[i].id;
        if (tx->ops[i].obj) {
            bool listened = db->on_commit || db->after_commit;
            void *copy = listened ? vr_obj_dup(p->kind, tx->ops[i].obj)
                                  : NULL;
            vr_pool_install(p, tx->ops[i].obj);
            tx->ops[i].obj = copy;
            if (listened)
                tx->ops[i].json = vr_pool_get_json(p, id, NULL);
            if (db->on_commit)
                db->on_commit(db->listener_ctx, p->kind, copy,
                              tx->ops[i].json);
        } else {
            void *old = vr_pool_dup(p, id);
            vr_pool_remove(p, id);
            if (db->on_commit && old)
                db->on_commit(db->listener_ctx, p->kind, old, NULL);
            tx->ops[i].obj = old;   /* as it was, for after_commit */
            tx->ops[i].deleted = true;
        }
    }
    /* hand over: the next transaction may start while this one's
     * after_commit listeners run, but its own wait for ours */
    pthread_mutex_lock(&db->publock);
    pthread_mutex_unlock(&db->wlock);
    for (int i = 0; i < tx->n; i++)
        if (db->after_commit && tx->ops[i].obj)
            db->after_commit(db->listener_ctx, tx->ops[i].pool->kind,
                             tx->ops[i].obj,
                             tx->ops[i].deleted ? NULL : tx->ops[i].json);
    pthread_mutex_unlock(&db->publock);
    tx_release_ops(tx);
    tx->db = NULL;
    return 0;
}

int vr_db_put(struct vr_db *db, struct vr_pool *pool, void *obj,
              struct vr_error *err)
{
    struct vr_tx tx;

    if (vr_tx_begin(db, &tx, err) < 0)
        return -1;
    if (vr_tx_put(&tx, pool, obj, err) < 0) {
        vr_tx_abort(&tx);
        return -1;
    }
    return vr_tx_commit(&tx, err);
}

void vr_db_put_volatile(struct vr_db *db, struct vr_pool *pool,
                        const void *obj)
{
    pthread_mutex_lock(&db->wlock);
    vr_pool_install(pool, vr_obj_dup(pool->kind, obj));
    pthread_mutex_unlock(&db->wlock);
}
