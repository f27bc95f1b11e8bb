/* Pools written through the store: transactions, indexes, reload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "vr_db.h"

struct fixture {
    char dir[64];
    char *url;
    struct vr_db db;
    int events;
    int deletes;
    int on_commit;
    /* test_publish_after_unlock */
    int slow_ms;                   /* after_commit sleeps this long */
    pthread_mutex_t order_lock;
    char order[16][VR_NAME_SIZE];  /* names in the order published */
    int norder;
};

static void on_commit(void *ctx, const struct vr_kind *kind, const void *obj,
                      const char *json)
{
    struct fixture *f = ctx;
    (void)kind;
    (void)json;
    assert_true(((const struct vr_obj *)obj)->id > 0);
    f->on_commit++;
}

static void listener(void *ctx, const struct vr_kind *kind, const void *obj,
                     const char *json)
{
    struct fixture *f = ctx;
    const struct vr_obj *hdr = obj;

    pthread_mutex_lock(&f->order_lock);
    if (f->norder < 16)
        vr_strlcpy(f->order[f->norder++], hdr->name, VR_NAME_SIZE);
    pthread_mutex_unlock(&f->order_lock);
    if (f->slow_ms && strcmp(hdr->name, "slow") == 0)
        vr_sleep_ms(f->slow_ms);
    (void)kind;
    assert_true(hdr->id > 0);
    if (json)
        f->events++;
    else
        f->deletes++;
}

static int setup(void **state)
{
    struct fixture *f = vr_calloc(1, sizeof(*f));
    struct vr_error err = VR_ERROR_INIT;

    strcpy(f->dir, "/tmp/vr-db-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->url = vr_asprintf("sqlite:%s/t.db", f->dir);
    if (vr_db_open(&f->db, f->url, &err) < 0)
        return -1;
    pthread_mutex_init(&f->order_lock, NULL);
    vr_db_set_listeners(&f->db, on_commit, listener, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    vr_db_close(&f->db);
    pthread_mutex_destroy(&f->order_lock);
    vr_rm_rf(f->dir, NULL);
    free(f->url);
    free(f);
    return 0;
}

static struct vr_host make_host(struct vr_db *db, const char *name)
{
    struct vr_host h;
    memset(&h, 0, sizeof(h));
    h.hdr.id = vr_pool_next_id(&db->hosts);
    vr_uuid_generate(h.hdr.uuid);
    vr_strlcpy(h.hdr.name, name, sizeof(h.hdr.name));
    h.enabled = true;
    vr_strlcpy(h.hypervisor, "qemu", sizeof(h.hypervisor));
    h.caps.cpus = 8;
    h.caps.ncells = 1;
    vr_strlcpy(h.caps.cells[0].cpus, "0-7", sizeof(h.caps.cells[0].cpus));
    return h;
}

static void test_put_get_json(void **state)
{
    struct fixture *f = *state;
    struct vr_error err = VR_ERROR_INIT;
    struct vr_host h = make_host(&f->db, "node1"), got;
    char *json;

    assert_int_equal(vr_db_put(&f->db, &f->db.hosts, &h, &err), 0);
    assert_int_equal(f->events, 1);
    assert_true(h.hdr.created_at > 0);
    assert_int_equal(vr_pool_get(&f->db.hosts, h.hdr.id, &got), 0);
    assert_string_equal(got.hdr.name, "node1");
    assert_int_equal(got.caps.cpus, 8);
    assert_int_equal(vr_pool_id_by_name(&f->db.hosts, "node1"), h.hdr.id);
    assert_int_equal(vr_pool_id_by_uuid(&f->db.hosts, h.hdr.uuid), h.hdr.id);
    assert_int_equal(vr_pool_resolve(&f->db.hosts, "node1"), h.hdr.id);
    assert_int_equal(vr_pool_resolve(&f->db.hosts, h.hdr.uuid), h.hdr.id);
    {
        char idbuf[16];
        snprintf(idbuf, sizeof(idbuf), "%lld", (long long)h.hdr.id);
        assert_int_equal(vr_pool_resolve(&f->db.hosts, idbuf), h.hdr.id);
    }
    assert_int_equal(vr_pool_resolve(&f->db.hosts, "999"), 0);
    assert_int_equal(vr_pool_resolve(&f->db.hosts,
                                     "99999999999999999999999999"), 0);
    json = vr_pool_get_json(&f->db.hosts, h.hdr.id, NULL);
    assert_non_null(strstr(json, "\"name\":\"node1\""));
    free(json);
}

static bool host_enabled(const void *obj, void *ctx)
{
    (void)ctx;
    return ((const struct vr_host *)obj)->enabled;
}

/* vr_pool_ids: the ids of the objects kept, NULL when none */
static void test_pool_ids(void **state)
{
    struct fixture *f = *state;
    struct vr_error err = VR_ERROR_INIT;
    struct vr_host h[3] = {make_host(&f->db, "p0"), make_host(&f->db, "p1"),
                           make_host(&f->db, "p2")};
    int64_t *ids;
    size_t n = 99;

    assert_null(vr_pool_ids(&f->db.hosts, host_enabled, NULL, &n));
    assert_int_equal(n, 0);
    h[1].enabled = false;
    for (int i = 0; i < 3; i++)
        assert_int_equal(vr_db_put(&f->db, &f->db.hosts, &h[i], &err), 0);
    ids = vr_pool_ids(&f->db.hosts, host_enabled, NULL, &n);
    assert_int_equal(n, 2);
    assert_true((ids[0] == h[0].hdr.id && ids[1] == h[2].hdr.id) ||
                (ids[0] == h[2].hdr.id && ids[1] == h[0].hdr.id));
    free(ids);
}

static void test_tx_atomic(void **state)
{
    struct fixture *f = *state;
    struct vr_error err = VR_ERROR_INIT;
    struct vr_host a = make_host(&f->db, "a"), b = make_host(&f->db, "a");
    struct vr_tx tx;

    /* two objects with one name in one transaction: nothing is written */
    assert_int_equal(vr_tx_begin(&f->db, &tx, &err), 0);
    assert_int_equal(vr_tx_put(&tx, &f->db.hosts, &a, &err), 0);
    /* the pool does not see `a` before commit, the store does */
    assert_int_equal(vr_pool_count(&f->db.hosts), 0);
    assert_int_equal(vr_tx_put(&tx, &f->db.hosts, &b, &err), -1);
    assert_int_equal(err.code, VR_E_CONFLICT);
    vr_tx_abort(&tx);
    assert_int_equal(vr_pool_count(&f->db.hosts), 0);
    assert_int_equal(f->events, 0);

    /* commit of two, then a rename onto a taken name fails */
    assert_int_equal(vr_tx_begin(&f->db, &tx, &err), 0);
    vr_strlcpy(b.hdr.name, "b", sizeof(b.hdr.name));
    assert_int_equal(vr_tx_put(&tx, &f->db.hosts, &a, &err), 0);
    assert_int_equal(vr_tx_put(&tx, &f->db.hosts, &b, &err), 0);
    assert_int_equal(vr_tx_commit(&tx, &err), 0);
    assert_int_equal(vr_pool_count(&f->db.hosts), 2);
    assert_int_equal(f->events, 2);
    vr_strlcpy(b.hdr.name, "a", sizeof(b.hdr.name));
    assert_int_equal(vr_db_put(&f->db, &f->db.hosts, &b, &err), -1);
    assert_int_equal(vr_pool_id_by_name(&f->db.hosts, "b"), b.hdr.id);

    /* delete drops all indexes */
    assert_int_equal(vr_tx_begin(&f->db, &tx, &err), 0);
    assert_int_equal(vr_tx_del(&tx, &f->db.hosts, a.hdr.id, &err), 0);
    assert_int_equal(vr_tx_commit(&tx, &err), 0);
    assert_int_equal(f->deletes, 1);
    assert_int_equal(vr_pool_id_by_name(&f->db.hosts, "a"), 0);
    assert_int_equal(vr_pool_id_by_uuid(&f->db.hosts, a.hdr.uuid), 0);
}

static void test_reload_and_ids(void **state)
{
    struct fixture *f = *state;
    struct vr_error err = VR_ERROR_INIT;
    struct vr_host h = make_host(&f->db, "keep"), g = make_host(&f->db, "gone");
    struct vr_vm vm, got;
    struct vr_tx tx;
    int64_t gone_id = g.hdr.id;

    assert_int_equal(vr_db_put(&f->db, &f->db.hosts, &h, &err), 0);
    assert_int_equal(vr_db_put(&f->db, &f->db.hosts, &g, &err), 0);
    memset(&vm, 0, sizeof(vm));
    vm.hdr.id = vr_pool_next_id(&f->db.vms);
    vr_uuid_generate(vm.hdr.uuid);
    vr_strlcpy(vm.hdr.name, "web1", sizeof(vm.hdr.name));
    vm.state = VR_VM_RUNNING;
    vm.vcpus = 2;
    vm.memory_mib = 512;
    vm.host_id = h.hdr.id;
    vm.ndisks = 1;
    vr_strlcpy(vm.disks[0].target, "vda", sizeof(vm.disks[0].target));
    vr_strlcpy(vm.disks[0].path, "/x/disk-0.qcow2", sizeof(vm.disks[0].path));
    vm.disks[0].boot = true;
    vm.nnics = 1;
    vr_strlcpy(vm.nics[0].mac, "52:54:00:00:00:01", sizeof(vm.nics[0].mac));
    vr_vm_task_begin(&vm, VR_OP_STOP, 9);
    vr_strlcpy(vm.vnc_socket, "/run/vnc.sock", sizeof(vm.vnc_socket));
    assert_int_equal(vr_db_put(&f->db, &f->db.vms, &vm, &err), 0);
    assert_int_equal(vr_tx_begin(&f->db, &tx, &err), 0);
    assert_int_equal(vr_tx_del(&tx, &f->db.hosts, gone_id, &err), 0);
    assert_int_equal(vr_tx_commit(&tx, &err), 0);

    vr_db_close(&f->db);
    assert_int_equal(vr_db_open(&f->db, f->url, &err), 0);
    assert_int_equal(vr_pool_count(&f->db.vms), 1);
    assert_int_equal(vr_pool_get(&f->db.vms, vm.hdr.id, &got), 0);
    assert_string_equal(got.hdr.name, "web1");
    assert_int_equal(got.state, VR_VM_RUNNING);
    assert_int_equal(got.task.op, VR_OP_STOP);
    assert_int_equal(got.task.status, VR_TASK_ACTIVE);
    assert_int_equal(got.task.job_id, 9);
    assert_int_equal(got.memory_mib, 512);
    assert_string_equal(got.disks[0].path, "/x/disk-0.qcow2");
    assert_string_equal(got.nics[0].mac, "52:54:00:00:00:01");
    assert_string_equal(got.vnc_socket, "/run/vnc.sock");
    assert_int_equal(got.hdr.created_at, vm.hdr.created_at);
    /* ids are never reused, even the deleted highest one */
    assert_true(vr_pool_next_id(&f->db.hosts) > gone_id);
}

struct race {
    struct vr_db *db;
    int ok;
};

static void *racer(void *arg)
{
    struct race *r = arg;
    struct vr_host h = make_host(r->db, "contended");
    if (vr_db_put(r->db, &r->db->hosts, &h, NULL) == 0)
        __atomic_add_fetch(&r->ok, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_concurrent_unique_names(void **state)
{
    struct fixture *f = *state;
    struct race r = {&f->db, 0};
    pthread_t t[16];

    for (int i = 0; i < 16; i++)
        pthread_create(&t[i], NULL, racer, &r);
    for (int i = 0; i < 16; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(r.ok, 1);
    assert_int_equal(vr_pool_count(&f->db.hosts), 1);
}

/* after_commit runs once the write lock is let go: a slow listener does
 * not hold up the next transaction's work, and listeners still see the
 * commits in order. */
struct second {
    struct fixture *f;
    int64_t began_after_ms;
};

static void *second_commit(void *arg)
{
    struct second *sc = arg;
    struct vr_host h = make_host(&sc->f->db, "fast");
    struct vr_tx tx;
    int64_t t0 = vr_mono_ms();

    assert_int_equal(vr_tx_begin(&sc->f->db, &tx, NULL), 0);
    sc->began_after_ms = vr_mono_ms() - t0;
    assert_int_equal(vr_tx_put(&tx, &sc->f->db.hosts, &h, NULL), 0);
    assert_int_equal(vr_tx_commit(&tx, NULL), 0);
    return NULL;
}

static void *first_commit(void *arg)
{
    struct fixture *f = arg;
    struct vr_host h = make_host(&f->db, "slow");
    assert_int_equal(vr_db_put(&f->db, &f->db.hosts, &h, NULL), 0);
    return NULL;
}

static void test_publish_after_unlock(void **state)
{
    struct fixture *f = *state;
    struct second sc = {f, 0};
    pthread_t a, b;

    f->slow_ms = 400;
    pthread_create(&a, NULL, first_commit, f);
    vr_sleep_ms(100);     /* the first one is in its slow listener */
    pthread_create(&b, NULL, second_commit, &sc);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    /* the second transaction began at once, not after 300 ms more */
    assert_true(sc.began_after_ms < 150);
    assert_int_equal(f->norder, 2);
    assert_string_equal(f->order[0], "slow");
    assert_string_equal(f->order[1], "fast");
    assert_int_equal(f->on_commit, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_after_unlock, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pool_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_and_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_unique_names, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
