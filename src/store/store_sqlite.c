/*
 * store_sqlite.c - the SQLite backend of vr_store.
 *
 * WAL journal, foreign keys on, synchronous=FULL (a commit is on disk
 * before a change is acknowledged).  The schema version is PRAGMA
 * user_version; `migrations[i]` takes the database from version i to i+1
 * inside one transaction.
 *
 * Lost commits are detected.  SQLite reading a damaged write-ahead log
 * stops at the first bad frame and silently drops every transaction
 * after it, acknowledged or not; a database file replaced by an older
 * copy loses them too.  So each transaction also counts itself (meta
 * key "commits", in the same commit) and, once it is on disk, the count
 * is written beside the database (<path>.commits, no fsync: it can only
 * lag behind, never lead).  At open, a count beside the database above
 * the database's own means acknowledged writes are gone: the store
 * refuses to open, and says what to do.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr_log.h"
#include "vr_store.h"
#include "vr_util.h"

struct sqlite_store {
    sqlite3 *db;
    bool in_txn;
    char path[256];            /* for messages */
    uint64_t commits;          /* transactions committed, ever */
    int counter_fd;            /* <path>.commits, -1 if not open */
};

#define OBJECT_TABLE(name, ref0, ref1)                                     \
    "CREATE TABLE " name " (\n"                                            \
    "  id INTEGER PRIMARY KEY,\n"                                          \
    "  uuid TEXT UNIQUE,\n"                                                \
    "  name TEXT,\n"                                                       \
    "  owner_id INTEGER NOT NULL DEFAULT 0,\n"                             \
    "  group_id INTEGER NOT NULL DEFAULT 0,\n"                             \
    "  ref0 INTEGER " ref0 ",\n"                                           \
    "  ref1 INTEGER " ref1 ",\n"                                           \
    "  body TEXT NOT NULL CHECK (json_valid(body))\n"                      \
    ");\n"

static const char *const migrations[] = {
    /* 0 -> 1: the foundation schema */
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    OBJECT_TABLE("users", "", "")
    OBJECT_TABLE("hosts", "", "")
    OBJECT_TABLE("images", "", "")
    OBJECT_TABLE("vms", "REFERENCES hosts(id)", "REFERENCES images(id)")
    OBJECT_TABLE("jobs", "", "")
    OBJECT_TABLE("tokens", "REFERENCES users(id) ON DELETE CASCADE", "")
    "CREATE UNIQUE INDEX users_name ON users(name);\n"
    "CREATE UNIQUE INDEX hosts_name ON hosts(name);\n"
    "CREATE UNIQUE INDEX images_name ON images(name);\n"
    "CREATE UNIQUE INDEX vms_name ON vms(name);\n"
    "CREATE INDEX vms_host ON vms(ref0);\n"
    "CREATE INDEX vms_image ON vms(ref1);\n"
    "CREATE INDEX jobs_object ON jobs(ref0);\n"
    "CREATE INDEX tokens_user ON tokens(ref0);\n",
    /* 1 -> 2: tenancy: groups and ACL rules; VM and image names unique
     * per owner */
    OBJECT_TABLE("groups", "", "")
    OBJECT_TABLE("acls", "", "")
    "CREATE UNIQUE INDEX groups_name ON groups(name);\n"
    "DROP INDEX vms_name;\n"
    "CREATE UNIQUE INDEX vms_owner_name ON vms(owner_id, name);\n"
    "DROP INDEX images_name;\n"
    "CREATE UNIQUE INDEX images_owner_name ON images(owner_id, name);\n",
    /* 2 -> 3: placement: VM groups */
    OBJECT_TABLE("vm_groups", "", "")
    "CREATE UNIQUE INDEX vm_groups_owner_name ON vm_groups(owner_id, name);\n",
    /* 3 -> 4: clusters of hosts */
    OBJECT_TABLE("clusters", "", "")
    "CREATE UNIQUE INDEX clusters_name ON clusters(name);\n",
};

int vr_store_sqlite_current_version(void)
{
    return (int)VR_ARRAY_SIZE(migrations);
}

static int sql_err(struct sqlite_store *s, struct vr_error *err,
                   const char *what)
{
    int code = sqlite3_extended_errcode(s->db);
    enum vr_error_code ec = VR_E_INTERNAL;

    if ((code & 0xff) == SQLITE_CONSTRAINT)
        ec = VR_E_CONFLICT;
    if ((code & 0xff) == SQLITE_FULL)
        return vr_err(err, VR_E_STORAGE_FULL, "the store's disk is full "
                      "(%s): nothing can be changed until space is freed; "
                      "reads still work", s->path);
    return vr_err(err, ec, "store: %s: %s", what, sqlite3_errmsg(s->db));
}

static int exec(struct sqlite_store *s, const char *sql, struct vr_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        if ((sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_FULL)
            sql_err(s, err, "exec");
        else
            vr_err(err, VR_E_INTERNAL, "store: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int sq_begin(struct vr_store *st, struct vr_error *err)
{
    struct sqlite_store *s = st->priv;
    if (exec(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    s->in_txn = true;
    return 0;
}

static int meta_put_raw(struct vr_store *st, const char *key,
                        const char *value, struct vr_error *err);

/* Write the count beside the database (best effort: a count that did
 * not reach the disk only lags). */
static void counter_write(struct sqlite_store *s)
{
    char line[32];
    int n = snprintf(line, sizeof(line), "%020" PRIu64 "\n", s->commits);

    if (s->counter_fd >= 0 && pwrite(s->counter_fd, line, (size_t)n, 0) != n)
        VR_WARN("store", "unable to write the commit counter beside '%s': "
                "%s", s->path, strerror(errno));
}

static int sq_commit(struct vr_store *st, struct vr_error *err)
{
    struct sqlite_store *s = st->priv;
    char count[32];
    int ret;

    snprintf(count, sizeof(count), "%" PRIu64, s->commits + 1);
    ret = meta_put_raw(st, "commits", count, err);
    if (ret == 0)
        ret = exec(s, "COMMIT", err);
    if (ret < 0) {
        exec(s, "ROLLBACK", NULL);
    } else {
        s->commits++;
        counter_write(s);
    }
    s->in_txn = false;
    return ret;
}

static void sq_rollback(struct vr_store *st)
{
    struct sqlite_store *s = st->priv;
    if (s->in_txn)
        exec(s, "ROLLBACK", NULL);
    s->in_txn = false;
}

static bool table_ok(const char *t)
{
    static const char *const tables[] = {"users", "hosts", "images",
                                         "vms", "jobs", "tokens",
                                         "groups", "acls", "vm_groups",
                                         "clusters"};
    for (size_t i = 0; i < VR_ARRAY_SIZE(tables); i++)
        if (strcmp(t, tables[i]) == 0)
            return true;
    return false;
}

static void bind_text_or_null(sqlite3_stmt *q, int i, const char *s)
{
    if (s && *s)
        sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, i);
}

static void bind_ref(sqlite3_stmt *q, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(q, i, v);
    else
        sqlite3_bind_null(q, i);
}

static int sq_put(struct vr_store *st, const struct vr_record *rec,
                  struct vr_error *err)
{
    struct sqlite_store *s = st->priv;
    char sql[512];
    sqlite3_stmt *q = NULL;
    int rc;

    if (!table_ok(rec->table))
        return vr_err(err, VR_E_INTERNAL, "store: unknown table '%s'",
                      rec->table);
    snprintf(sql, sizeof(sql),
             /* An upsert, not INSERT OR REPLACE: REPLACE would delete a
              * row whose unique name collides and fire ON DELETE
              * CASCADE on an update. */
             "INSERT INTO %s (id, uuid, name, owner_id, group_id, ref0, "
             "ref1, body) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE "
             "SET uuid = excluded.uuid, name = excluded.name, "
             "owner_id = excluded.owner_id, group_id = excluded.group_id, "
             "ref0 = excluded.ref0, ref1 = excluded.ref1, "
             "body = excluded.body", rec->table);
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    sqlite3_bind_int64(q, 1, rec->id);
    bind_text_or_null(q, 2, rec->uuid);
    bind_text_or_null(q, 3, rec->name);
    sqlite3_bind_int64(q, 4, rec->owner_id);
    sqlite3_bind_int64(q, 5, rec->group_id);
    bind_ref(q, 6, rec->ref[0]);
    bind_ref(q, 7, rec->ref[1]);
    sqlite3_bind_text(q, 8, rec->body, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc != SQLITE_DONE) {
        sql_err(s, err, rec->table);
        sqlite3_finalize(q);
        return -1;
    }
    sqlite3_finalize(q);
    return 0;
}

static int sq_del(struct vr_store *st, const char *table, int64_t id,
                  struct vr_error *err)
{
    struct sqlite_store *s = st->priv;
    char sql[128];
    sqlite3_stmt *q = NULL;
    int rc;

    if (!table_ok(table))
        return vr_err(err, VR_E_INTERNAL, "store: unknown table '%s'", table);
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = ?", table);
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc != SQLITE_DONE) {
        sql_err(s, err, table);
        sqlite3_finalize(q);
        return -1;
    }
    sqlite3_finalize(q);
    return 0;
}

static int sq_scan(struct vr_store *st, const char *table,
                   int (*cb)(const struct vr_record *rec, void *ctx),
                   void *ctx, struct vr_error *err)
{
    struct sqlite_store *s = st->priv;
    char sql[160];
    sqlite3_stmt *q = NULL;
    int rc, ret = 0;

    if (!table_ok(table))
        return vr_err(err, VR_E_INTERNAL, "store: unknown table '%s'", table);
    snprintf(sql, sizeof(sql),
             "SELECT id, uuid, name, owner_id, group_id, ref0, ref1, body "
             "FROM %s ORDER BY id", table);
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct vr_record rec = {
            .table = table,
            .id = sqlite3_column_int64(q, 0),
            .uuid = (const char *)sqlite3_column_text(q, 1),
            .name = (const char *)sqlite3_column_text(q, 2),
            .owner_id = sqlite3_column_int64(q, 3),
            .group_id = sqlite3_column_int64(q, 4),
            .ref = {sqlite3_column_int64(q, 5), sqlite3_column_int64(q, 6)},
            .body = (const char *)sqlite3_column_text(q, 7),
        };
        ret = cb(&rec, ctx);
        if (ret)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sql_err(s, err, table);
        ret = -1;
    }
    sqlite3_finalize(q);
    return ret;
}

static int sq_meta_get(struct vr_store *st, const char *key, char **value,
                       struct vr_error *err)
{
    struct sqlite_store *s = st->priv;
    sqlite3_stmt *q = NULL;
    int rc;

    *value = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?", -1,
                           &q, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *value = vr_strdup((const char *)sqlite3_column_text(q, 0));
    else if (rc != SQLITE_DONE) {
        sql_err(s, err, "meta");
        sqlite3_finalize(q);
        return -1;
    }
    sqlite3_finalize(q);
    return 0;
}

static int meta_put_raw(struct vr_store *st, const char *key,
                        const char *value, struct vr_error *err)
{
    struct sqlite_store *s = st->priv;
    sqlite3_stmt *q = NULL;
    int rc;

    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO meta (key, value) "
                           "VALUES (?, ?)", -1, &q, NULL) != SQLITE_OK)
        return sql_err(s, err, "prepare");
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return sql_err(s, err, "meta");
    return 0;
}

/* A metadata write outside a transaction is a transaction of its own,
 * counted like every other (see "Lost commits" above). */
static int sq_meta_put(struct vr_store *st, const char *key,
                       const char *value, struct vr_error *err)
{
    struct sqlite_store *s = st->priv;

    if (s->in_txn)
        return meta_put_raw(st, key, value, err);
    if (sq_begin(st, err) < 0)
        return -1;
    if (meta_put_raw(st, key, value, err) < 0) {
        sq_rollback(st);
        return -1;
    }
    return sq_commit(st, err);
}

static int user_version(struct sqlite_store *s)
{
    sqlite3_stmt *q = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) ==
            SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return v;
}

static int sq_schema_version(struct vr_store *st)
{
    return user_version(st->priv);
}

static void sq_close(struct vr_store *st)
{
    struct sqlite_store *s = st->priv;
    if (s) {
        sqlite3_close(s->db);
        if (s->counter_fd >= 0)
            close(s->counter_fd);
        free(s);
    }
    free(st);
}

static const struct vr_store_ops sqlite_ops = {
    .name = "sqlite",
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .put = sq_put,
    .del = sq_del,
    .scan = sq_scan,
    .meta_get = sq_meta_get,
    .meta_put = sq_meta_put,
    .schema_version = sq_schema_version,
    .close = sq_close,
};

static int migrate(struct sqlite_store *s, struct vr_error *err)
{
    int v = user_version(s);
    int target = vr_store_sqlite_current_version();

    if (v < 0)
        return sql_err(s, err, "reading the schema version");
    if (v > target)
        return vr_err(err, VR_E_INTERNAL,
                      "store: the database has schema version %d, newer than "
                      "this build (%d); refusing to touch it", v, target);
    for (; v < target; v++) {
        char pragma[64];
        if (exec(s, "BEGIN IMMEDIATE", err) < 0)
            return -1;
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        if (exec(s, migrations[v], err) < 0 || exec(s, pragma, err) < 0) {
            exec(s, "ROLLBACK", NULL);
            vr_err_prefix(err, "migrating the schema to version %d", v + 1);
            return -1;
        }
        if (exec(s, "COMMIT", err) < 0)
            return -1;
    }
    return 0;
}

/* Compare the database's count of commits with the one beside it; open
 * the latter for writing.  Refuses a database that lost commits. */
static int counter_check(struct vr_store *st, struct vr_error *err)
{
    struct sqlite_store *s = st->priv;
    vr_autofree char *cpath = vr_asprintf("%s.commits", s->path);
    vr_autofree char *text = NULL;
    char *in_db = NULL;
    uint64_t beside = 0;
    size_t n = 0;

    if (sq_meta_get(st, "commits", &in_db, err) < 0)
        return -1;
    s->commits = in_db ? strtoull(in_db, NULL, 10) : 0;
    free(in_db);
    if (vr_read_file(cpath, 64, &text, &n, NULL) == 0)
        beside = strtoull(text, NULL, 10);
    /* (a store with no commit at all is new, or empty: whether that is
     * a lost store is for the caller to say, and --new-installation
     * starts counting again) */
    if (s->commits > 0 && beside > s->commits)
        return vr_err(err, VR_E_INTERNAL, "store: '%s' lost %" PRIu64
                      " acknowledged transactions: it holds %" PRIu64
                      " commits, '%s' counted %" PRIu64 ". Its write-ahead "
                      "log was damaged, or the file was replaced by an older "
                      "copy. Refusing to start: what those transactions "
                      "recorded (VMs, jobs, users) would be missing, and "
                      "domains and disks of lost VMs would look like "
                      "orphans. Restore the database from a copy that has "
                      "them, or, to go on with what it holds, remove '%s' "
                      "and start again", s->path, beside - s->commits,
                      s->commits, cpath, beside, cpath);
    s->counter_fd = open(cpath, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (s->counter_fd < 0 || fchmod(s->counter_fd, 0600) < 0)
        return vr_err(err, VR_E_INTERNAL, "store: unable to open '%s': %s",
                      cpath, strerror(errno));
    counter_write(s);
    return 0;
}

struct vr_store *vr_store_sqlite_open(const char *path, struct vr_error *err)
{
    struct sqlite_store *s = vr_calloc(1, sizeof(*s));
    struct vr_store *st = vr_calloc(1, sizeof(*st));

    st->ops = &sqlite_ops;
    st->priv = s;
    s->counter_fd = -1;
    vr_strlcpy(s->path, path, sizeof(s->path));
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        vr_err(err, VR_E_INTERNAL, "store: unable to open '%s': %s", path,
               s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sq_close(st);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (exec(s, "PRAGMA journal_mode = WAL", err) < 0 ||
        exec(s, "PRAGMA synchronous = FULL", err) < 0 ||
        exec(s, "PRAGMA foreign_keys = ON", err) < 0 ||
        migrate(s, err) < 0 || counter_check(st, err) < 0) {
        sq_close(st);
        return NULL;
    }
    return st;
}
