/* The audit log: rotation, reading across rotated files, refusals summed
 * up per source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "vr_audit.h"

static char dir[] = "/tmp/vr-audit-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return vr_rm_rf(dir, NULL);
}

static struct vr_audit_entry entry(int i, const char *user)
{
    struct vr_audit_entry e;
    memset(&e, 0, sizeof(e));
    e.time_ms = 1700000000000LL + i;
    e.user_id = 5;
    vr_strlcpy(e.user, user, sizeof(e.user));
    vr_strlcpy(e.source, "10.0.0.1", sizeof(e.source));
    vr_strlcpy(e.method, "POST", sizeof(e.method));
    snprintf(e.path, sizeof(e.path), "/api/v1/vms/%d/start", i);
    vr_strlcpy(e.kind, "vm", sizeof(e.kind));
    e.object_id = i;
    e.status = 202;
    return e;
}

static json_t *read_all(struct vr_audit *a, const struct vr_audit_filter *f,
                        size_t offset, size_t limit, size_t *total)
{
    struct vr_buf b = VR_BUF_INIT;
    json_t *j;

    vr_buf_init(&b);
    assert_int_equal(vr_audit_read(a, f, offset, limit, &b, total, NULL), 0);
    j = json_loads(b.data, 0, NULL);
    vr_buf_release(&b);
    assert_non_null(j);
    return j;
}

static void test_rotation(void **state)
{
    char *path = vr_asprintf("%s/audit.log", dir);
    struct vr_audit_filter all = {0}, bob = {0};
    struct vr_audit *a;
    json_t *j;
    size_t total;

    (void)state;
    /* files of about 4 KiB, two kept: 600 entries of ~280 bytes leave the
     * newest ~40 or so in three files, never more */
    a = vr_audit_open(path, 4096, 2, NULL);
    assert_non_null(a);
    for (int i = 0; i < 600; i++) {
        struct vr_audit_entry e = entry(i, i % 3 ? "alice" : "bob");
        vr_audit_write(a, &e);
    }
    {
        char *p1 = vr_asprintf("%s.1", path), *p2 = vr_asprintf("%s.2", path),
             *p3 = vr_asprintf("%s.3", path);
        assert_true(vr_path_exists(p1));
        assert_true(vr_path_exists(p2));
        assert_false(vr_path_exists(p3));
        free(p1);
        free(p2);
        free(p3);
    }
    /* reading walks every file kept, newest first */
    j = read_all(a, &all, 0, 100000, &total);
    assert_true(total > 20 && total < 60);
    assert_int_equal(json_array_size(j), total);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(j, 0), "object_id")), 599);
    for (size_t i = 1; i < json_array_size(j); i++)
        assert_int_equal(
            json_integer_value(json_object_get(json_array_get(j, i - 1),
                                               "object_id")),
            json_integer_value(json_object_get(json_array_get(j, i),
                                               "object_id")) + 1);
    json_decref(j);
    /* filters and pages work across files */
    bob.user = "bob";
    j = read_all(a, &bob, 2, 3, &total);
    assert_int_equal(json_array_size(j), 3);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(j, 0), "user")), "bob");
    json_decref(j);
    vr_audit_close(a);
    free(path);
}

static void test_refusals_summed_up(void **state)
{
    char *path = vr_asprintf("%s/refused.log", dir);
    struct vr_audit_filter all = {0};
    struct vr_audit *a;
    json_t *j;
    size_t total;

    (void)state;
    a = vr_audit_open(path, 0, 1, NULL);
    for (int i = 0; i < 1000; i++) {
        struct vr_audit_entry e = entry(i, "");
        e.status = 401;
        snprintf(e.source, sizeof(e.source), "10.0.0.%d", i % 2);
        vr_audit_refused(a, &e);
    }
    /* nothing written while the minute runs */
    j = read_all(a, &all, 0, 100, &total);
    assert_int_equal(total, 0);
    json_decref(j);
    vr_audit_flush(a, 1700000000000LL + 61000);
    j = read_all(a, &all, 0, 100, &total);
    assert_int_equal(total, 2);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(j, 0), "count")), 500);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(j, 1), "count")), 500);
    json_decref(j);
    /* a flood of sources is counted, but in bounded memory */
    for (int i = 0; i < 10000; i++) {
        struct vr_audit_entry e = entry(i, "");
        e.status = 401;
        snprintf(e.source, sizeof(e.source), "10.1.%d.%d", i / 256, i % 256);
        vr_audit_refused(a, &e);
    }
    vr_audit_close(a);     /* writes what is still counted */
    a = vr_audit_open(path, 0, 1, NULL);
    j = read_all(a, &all, 0, 100000, &total);
    {
        json_int_t sum = 0;
        for (size_t i = 0; i < json_array_size(j); i++)
            sum += json_integer_value(json_object_get(json_array_get(j, i),
                                                      "count"));
        assert_int_equal(sum, 11000);
    }
    assert_true(total <= 2 + 4096 + 1);
    json_decref(j);
    vr_audit_close(a);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_refusals_summed_up),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
