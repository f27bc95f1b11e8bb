/* The SQLite store: schema, upserts, foreign keys, metadata, reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr_store.h"
#include "vr_util.h"

struct fixture {
    char dir[64];
    char *path;
    struct vr_store *st;
};

static int setup(void **state)
{
    struct fixture *f = vr_calloc(1, sizeof(*f));
    struct vr_error err = VR_ERROR_INIT;

    strcpy(f->dir, "/tmp/vr-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->path = vr_asprintf("%s/t.db", f->dir);
    f->st = vr_store_sqlite_open(f->path, &err);
    if (!f->st)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    vr_store_free(f->st);
    vr_rm_rf(f->dir, NULL);
    free(f->path);
    free(f);
    return 0;
}

struct rows {
    int n;
    int64_t ids[16];
    char bodies[16][128];
};

static int collect(const struct vr_record *rec, void *ctx)
{
    struct rows *r = ctx;
    r->ids[r->n] = rec->id;
    vr_strlcpy(r->bodies[r->n], rec->body, sizeof(r->bodies[0]));
    r->n++;
    return 0;
}

static int put(struct vr_store *st, const char *table, int64_t id,
               const char *name, int64_t ref0, int64_t ref1, const char *body,
               struct vr_error *err)
{
    struct vr_record rec = {table, id, NULL, name, 1, 0, {ref0, ref1}, body};
    return st->ops->put(st, &rec, err);
}

static void test_schema(void **state)
{
    struct fixture *f = *state;
    (void)f;
    assert_int_equal(f->st->ops->schema_version(f->st),
                     vr_store_sqlite_current_version());
}

static void test_put_scan_upsert(void **state)
{
    struct fixture *f = *state;
    struct vr_error err = VR_ERROR_INIT;
    struct rows r = {0};

    assert_int_equal(put(f->st, "hosts", 1, "h1", 0, 0, "{\"v\":1}", &err), 0);
    assert_int_equal(put(f->st, "hosts", 2, "h2", 0, 0, "{\"v\":2}", &err), 0);
    /* update in place */
    assert_int_equal(put(f->st, "hosts", 1, "h1", 0, 0, "{\"v\":3}", &err), 0);
    assert_int_equal(f->st->ops->scan(f->st, "hosts", collect, &r, &err), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.ids[0], 1);
    assert_string_equal(r.bodies[0], "{\"v\":3}");
    /* a duplicate name is a conflict, and does NOT replace the other row */
    assert_int_equal(put(f->st, "hosts", 3, "h1", 0, 0, "{}", &err), -1);
    assert_int_equal(err.code, VR_E_CONFLICT);
    memset(&r, 0, sizeof(r));
    f->st->ops->scan(f->st, "hosts", collect, &r, &err);
    assert_int_equal(r.n, 2);
    /* bodies must be JSON */
    assert_int_equal(put(f->st, "hosts", 4, "h4", 0, 0, "not json", &err), -1);
    /* unknown tables are refused before any SQL is built */
    assert_int_equal(put(f->st, "hosts; DROP TABLE vms", 5, "x", 0, 0, "{}",
                         &err), -1);
    assert_int_equal(err.code, VR_E_INTERNAL);
}

static void test_foreign_keys(void **state)
{
    struct fixture *f = *state;
    struct vr_error err = VR_ERROR_INIT;
    struct rows r = {0};

    /* a VM on a host that does not exist */
    assert_int_equal(put(f->st, "vms", 1, "vm1", 42, 0, "{}", &err), -1);
    assert_int_equal(put(f->st, "hosts", 1, "h1", 0, 0, "{}", &err), 0);
    assert_int_equal(put(f->st, "images", 1, "img", 0, 0, "{}", &err), 0);
    assert_int_equal(put(f->st, "vms", 1, "vm1", 1, 1, "{}", &err), 0);
    /* an image in use cannot go */
    assert_int_equal(f->st->ops->del(f->st, "images", 1, &err), -1);
    assert_int_equal(f->st->ops->del(f->st, "vms", 1, &err), 0);
    assert_int_equal(f->st->ops->del(f->st, "images", 1, &err), 0);
    /* tokens go with their user; updating the user keeps them */
    assert_int_equal(put(f->st, "users", 1, "admin", 0, 0, "{}", &err), 0);
    assert_int_equal(put(f->st, "tokens", 1, NULL, 1, 0, "{}", &err), 0);
    assert_int_equal(put(f->st, "users", 1, "admin", 0, 0, "{\"x\":1}", &err),
                     0);
    f->st->ops->scan(f->st, "tokens", collect, &r, &err);
    assert_int_equal(r.n, 1);
    assert_int_equal(f->st->ops->del(f->st, "users", 1, &err), 0);
    memset(&r, 0, sizeof(r));
    f->st->ops->scan(f->st, "tokens", collect, &r, &err);
    assert_int_equal(r.n, 0);
}

static void test_txn_and_reopen(void **state)
{
    struct fixture *f = *state;
    struct vr_error err = VR_ERROR_INIT;
    struct rows r = {0};
    char *v = NULL;

    assert_int_equal(f->st->ops->begin(f->st, &err), 0);
    put(f->st, "hosts", 7, "h7", 0, 0, "{}", &err);
    f->st->ops->rollback(f->st);
    assert_int_equal(f->st->ops->begin(f->st, &err), 0);
    put(f->st, "hosts", 8, "h8", 0, 0, "{}", &err);
    assert_int_equal(f->st->ops->meta_put(f->st, "k", "v1", &err), 0);
    assert_int_equal(f->st->ops->commit(f->st, &err), 0);
    vr_store_free(f->st);
    f->st = vr_store_sqlite_open(f->path, &err);
    assert_non_null(f->st);
    f->st->ops->scan(f->st, "hosts", collect, &r, &err);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ids[0], 8);
    assert_int_equal(f->st->ops->meta_get(f->st, "k", &v, &err), 0);
    assert_string_equal(v, "v1");
    free(v);
    assert_int_equal(f->st->ops->meta_get(f->st, "none", &v, &err), 0);
    assert_null(v);
}

static void test_newer_schema_refused(void **state)
{
    struct fixture *f = *state;
    struct vr_error err = VR_ERROR_INIT;
    sqlite3 *db;

    vr_store_free(f->st);
    f->st = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL,
                                  NULL), SQLITE_OK);
    sqlite3_close(db);
    f->st = vr_store_sqlite_open(f->path, &err);
    assert_null(f->st);
    assert_non_null(strstr(err.msg, "newer"));
    f->st = vr_store_open("sqlite:/nonexistent-dir/x.db", &err);
    assert_null(f->st);
    f->st = vr_store_open("mysql://x", &err);
    assert_null(f->st);
    assert_int_equal(err.code, VR_E_INVALID);
}

static void copy_file(const char *from, const char *to)
{
    vr_autofree char *data = NULL;
    size_t n = 0;
    struct vr_error err = VR_ERROR_INIT;

    assert_int_equal(vr_read_file(from, 64 << 20, &data, &n, &err), 0);
    assert_int_equal(vr_write_file_atomic(to, data, n, 0600, &err), 0);
}

/* The files of the store as a crash would leave them (the WAL not yet
 * folded into the database), under the name `to`. */
static void crash_copy(struct fixture *f, const char *to)
{
    const char *sfx[] = {"", "-wal", ".commits"};

    for (size_t i = 0; i < VR_ARRAY_SIZE(sfx); i++) {
        vr_autofree char *a = vr_asprintf("%s%s", f->path, sfx[i]);
        vr_autofree char *b = vr_asprintf("%s%s", to, sfx[i]);
        copy_file(a, b);
    }
}

static void test_lost_commits_detected(void **state)
{
    struct fixture *f = *state;
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *good = vr_asprintf("%s/good.db", f->dir);
    vr_autofree char *bad = vr_asprintf("%s/bad.db", f->dir);
    vr_autofree char *wal = vr_asprintf("%s-wal", bad);
    vr_autofree char *counter = vr_asprintf("%s.commits", bad);
    struct vr_store *st;
    struct rows r = {0};
    struct stat sb;

    /* a write outside a transaction counts like any other */
    {
        vr_autofree char *own = vr_asprintf("%s.commits", f->path);
        vr_autofree char *text = NULL;
        assert_int_equal(f->st->ops->meta_put(f->st, "instance", "x", &err),
                         0);
        assert_int_equal(vr_read_file(own, 64, &text, NULL, &err), 0);
        assert_int_equal(strtoull(text, NULL, 10), 1);
    }
    for (int i = 1; i <= 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "h%d", i);
        assert_int_equal(f->st->ops->begin(f->st, &err), 0);
        assert_int_equal(put(f->st, "hosts", i, name, 0, 0, "{}", &err), 0);
        assert_int_equal(f->st->ops->commit(f->st, &err), 0);
    }
    crash_copy(f, good);
    crash_copy(f, bad);

    /* as the crash left it: every commit is there */
    st = vr_store_sqlite_open(good, &err);
    assert_non_null(st);
    st->ops->scan(st, "hosts", collect, &r, &err);
    assert_int_equal(r.n, 3);
    vr_store_free(st);

    /* the WAL loses its last frame (the last commit's): SQLite opens it
     * without a word, the store refuses */
    assert_int_equal(stat(wal, &sb), 0);
    assert_true(sb.st_size > 32 + 24 + 4096);
    assert_int_equal(truncate(wal, sb.st_size - (24 + 4096)), 0);
    st = vr_store_sqlite_open(bad, &err);
    assert_null(st);
    assert_non_null(strstr(err.msg, "lost 1 acknowledged transactions"));
    assert_non_null(strstr(err.msg, counter));

    /* the operator accepts the loss: it opens with what it holds */
    assert_int_equal(unlink(counter), 0);
    vr_err_clear(&err);
    st = vr_store_sqlite_open(bad, &err);
    assert_non_null(st);
    r.n = 0;
    st->ops->scan(st, "hosts", collect, &r, &err);
    assert_int_equal(r.n, 2);
    /* and counts from there */
    assert_int_equal(st->ops->begin(st, &err), 0);
    assert_int_equal(put(st, "hosts", 9, "h9", 0, 0, "{}", &err), 0);
    assert_int_equal(st->ops->commit(st, &err), 0);
    vr_store_free(st);
    st = vr_store_sqlite_open(bad, &err);
    assert_non_null(st);
    vr_store_free(st);

    /* a new, empty store beside an old count (the store was lost, and
     * whether that may be is the caller's to say; or a new installation
     * over it): it opens, and counts from 0 */
    {
        vr_autofree char *bwal = vr_asprintf("%s-wal", bad);
        vr_autofree char *text = NULL;
        unlink(bad);
        unlink(bwal);
        st = vr_store_sqlite_open(bad, &err);
        assert_non_null(st);
        vr_store_free(st);
        assert_int_equal(vr_read_file(counter, 64, &text, NULL, &err), 0);
        assert_int_equal(strtoull(text, NULL, 10), 0);
        assert_int_equal(stat(counter, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_scan_upsert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lost_commits_detected, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
