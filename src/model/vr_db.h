/*
 * vr_db.h - the object pools and their store, written through.
 *
 * All objects live in memory in pools; every change goes through a write
 * transaction (vr_tx) that writes the records to the store and commits
 * before the pools are updated, so nothing is acknowledged that is not on
 * disk.  Transactions are serialized by one write lock (the store has one
 * writer anyway); reads never take it.
 *
 * After each commit the listeners are called once per changed object,
 * in commit order, with the object (for a delete: as it was) and its API
 * JSON (NULL for a delete):
 *   - `on_commit` still under the write lock, for what the next
 *     transaction must see (the ACL index, the scheduler's view); keep it
 *     short;
 *   - `after_commit` once the write lock is released (the next
 *     transaction already runs), still in commit order: a second lock
 *     is taken before the write lock is let go and held while these
 *     run.  The event bus hangs here, so that no reader of events and
 *     no formatting ever holds up a write.
 */
#ifndef VR_DB_H
#define VR_DB_H

#include <pthread.h>

#include "vr_cluster.h"
#include "vr_host.h"
#include "vr_image.h"
#include "vr_job.h"
#include "vr_pool.h"
#include "vr_store.h"
#include "vr_user.h"
#include "vr_vm.h"
#include "vr_vmgroup.h"

/* `obj` is the object (for a delete, as it was); its header first. */
typedef void (*vr_db_listener)(void *ctx, const struct vr_kind *kind,
                               const void *obj, const char *json);

struct vr_db {
    struct vr_store *store;
    pthread_mutex_t wlock;
    pthread_mutex_t publock;   /* order of after_commit across commits */
    struct vr_pool users, groups, acls, tokens, clusters, hosts, images,
        vms, jobs, vm_groups;
    vr_db_listener on_commit, after_commit;
    void *listener_ctx;
};

/* Open the store at `url` and load every pool.  0 or -1 with err. */
int vr_db_open(struct vr_db *db, const char *url, struct vr_error *err);
void vr_db_close(struct vr_db *db);
void vr_db_set_listeners(struct vr_db *db, vr_db_listener on_commit,
                         vr_db_listener after_commit, void *ctx);

/* Metadata (instance id, ...) read/write outside of a transaction. */
char *vr_db_meta_get(struct vr_db *db, const char *key);
int vr_db_meta_put(struct vr_db *db, const char *key, const char *value,
                   struct vr_error *err);

/* Objects one transaction may change (bulk operations stay below). */
#define VR_TX_MAX 4096

/* A write transaction.  Usage:
 *   struct vr_tx tx;
 *   if (vr_tx_begin(db, &tx, err) < 0) return -1;
 *   if (vr_tx_put(&tx, &db->vms, &vm, err) < 0) { vr_tx_abort(&tx); ... }
 *   if (vr_tx_commit(&tx, err) < 0) ...           (aborts by itself)
 * Between begin and commit/abort the caller holds the write lock, so it can
 * read-modify-write safely; keep it short and never call a hypervisor. */
struct vr_tx_op {
    struct vr_pool *pool;
    void *obj;          /* owned copy to install; NULL for a delete (once
                         * committed: the copy the listeners get) */
    int64_t id;
    char *json;         /* once committed: the object's API JSON */
    bool deleted;
};

struct vr_tx {
    struct vr_db *db;
    int n, cap;
    struct vr_tx_op *ops;
};

int vr_tx_begin(struct vr_db *db, struct vr_tx *tx, struct vr_error *err);
/* Write `obj` (copied; the caller keeps its own) and stamp updated_at
 * (and created_at when zero) on the copy and on `obj`. */
int vr_tx_put(struct vr_tx *tx, struct vr_pool *pool, void *obj,
              struct vr_error *err);
int vr_tx_del(struct vr_tx *tx, struct vr_pool *pool, int64_t id,
              struct vr_error *err);
/* Read an object as this transaction sees it: its own pending writes
 * first, then the pool.  -1 if it does not exist (or was deleted here). */
int vr_tx_get(struct vr_tx *tx, struct vr_pool *pool, int64_t id, void *out);
int vr_tx_commit(struct vr_tx *tx, struct vr_error *err);
void vr_tx_abort(struct vr_tx *tx);

/* One-object convenience: begin, put, commit. */
int vr_db_put(struct vr_db *db, struct vr_pool *pool, void *obj,
              struct vr_error *err);
/* Install a copy of `obj` in memory only, never in the store: it lasts
 * until vireod stops.  For what may be lost but must not wait for the
 * disk (a login's token while the store's disk is full).  No listener
 * hears of it. */
void vr_db_put_volatile(struct vr_db *db, struct vr_pool *pool,
                        const void *obj);

#endif
