/*
 * vr_store.h - persistence behind one interface.
 *
 * Every kind of object lives in its own table with the columns
 *   id (primary key), uuid, name, owner_id, group_id, ref0, ref1, body
 * where `body` is the object's full JSON record and ref0/ref1 are the two
 * foreign keys a kind may declare (vr_kind.refs):
 *   vms.ref0 -> hosts.id, vms.ref1 -> images.id (linked clones),
 *   tokens.ref0 -> users.id (ON DELETE CASCADE), jobs.ref0 = the object id
 *   (no key: jobs outlive their VMs).
 * Names are unique per table (users, groups, hosts) or per owner (vms,
 * images).
 * The backend owns the schema and its migrations.
 *
 * Thread-safety: a store is used by one thread at a time; vr_db serializes
 * access with its write lock.  A NULL op means "unsupported".
 */
#ifndef VR_STORE_H
#define VR_STORE_H

#include <stdint.h>

#include "vr_error.h"

/* One row.  All strings borrowed for the duration of the call. */
struct vr_record {
    const char *table;
    int64_t id;
    const char *uuid;       /* may be NULL/"" */
    const char *name;       /* may be NULL/"" */
    int64_t owner_id;
    int64_t group_id;
    int64_t ref[2];         /* 0 = NULL */
    const char *body;       /* JSON text */
};

struct vr_store;

struct vr_store_ops {
    const char *name;
    int (*begin)(struct vr_store *st, struct vr_error *err);
    int (*commit)(struct vr_store *st, struct vr_error *err);
    void (*rollback)(struct vr_store *st);
    /* Insert or replace the row with rec->id. */
    int (*put)(struct vr_store *st, const struct vr_record *rec,
               struct vr_error *err);
    int (*del)(struct vr_store *st, const char *table, int64_t id,
               struct vr_error *err);
    /* Call cb for each row of `table` in id order; a non-zero return from
     * cb stops the scan and is returned. */
    int (*scan)(struct vr_store *st, const char *table,
                int (*cb)(const struct vr_record *rec, void *ctx), void *ctx,
                struct vr_error *err);
    /* Key/value metadata.  get: *value is NULL when missing (caller frees). */
    int (*meta_get)(struct vr_store *st, const char *key, char **value,
                    struct vr_error *err);
    int (*meta_put)(struct vr_store *st, const char *key, const char *value,
                    struct vr_error *err);
    int (*schema_version)(struct vr_store *st);
    void (*close)(struct vr_store *st);
};

struct vr_store {
    const struct vr_store_ops *ops;
    void *priv;
};

/* Open a store from a URL: "sqlite:/path/to/file.db".  The schema is
 * created or migrated to the current version.  Returns NULL with err. */
struct vr_store *vr_store_open(const char *url, struct vr_error *err);
/* Close and free; NULL-safe. */
void vr_store_free(struct vr_store *st);

/* Backends. */
struct vr_store *vr_store_sqlite_open(const char *path, struct vr_error *err);
/* The schema version this build writes. */
int vr_store_sqlite_current_version(void);

#endif
