/* Image validation with the real qemu-img: explicit formats, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vr_qimg.h"
#include "vr_util.h"

static char dir[] = "/tmp/vr-qimg-XXXXXX";

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

static char *p(const char *name)
{
    return vr_asprintf("%s/%s", dir, name);
}

static void sh(const char *cmd)
{
    const char *argv[] = {"sh", "-c", cmd, NULL};
    struct vr_error err = VR_ERROR_INIT;
    if (vr_run(argv, 30000, NULL, NULL, &err) != 0)
        fail_msg("command failed: %s", cmd);
}

static void test_valid(void **state)
{
    struct vr_qimg_info info;
    struct vr_error err = VR_ERROR_INIT;
    char *q = p("ok.qcow2"), *r = p("ok.raw"), *cmd;

    (void)state;
    assert_int_equal(vr_qimg_create(q, 64ULL << 20, &err), 0);
    assert_int_equal(vr_qimg_validate(q, "qcow2", 1ULL << 40, &info, &err), 0);
    assert_int_equal(info.virtual_size, 64ULL << 20);
    assert_false(info.has_backing);
    cmd = vr_asprintf("truncate -s 1M %s", r);
    sh(cmd);
    free(cmd);
    assert_int_equal(vr_qimg_validate(r, "raw", 1ULL << 40, &info, &err), 0);
    assert_int_equal(info.virtual_size, 1 << 20);
    /* over the virtual size limit */
    assert_int_equal(vr_qimg_validate(q, "qcow2", 1 << 20, &info, &err), -1);
    assert_int_equal(err.code, VR_E_UNPROCESSABLE);
    free(q);
    free(r);
}

static void test_refusals(void **state)
{
    struct vr_qimg_info info;
    struct vr_error err = VR_ERROR_INIT;
    char *base = p("base.qcow2"), *ovl = p("ovl.qcow2"), *txt = p("notes.txt");
    char *q = p("q.qcow2"), *cmd;

    (void)state;
    assert_int_equal(vr_qimg_create(base, 16ULL << 20, &err), 0);
    assert_int_equal(vr_qimg_create_overlay(ovl, base, "qcow2", 0, &err), 0);
    assert_int_equal(vr_qimg_validate(ovl, "qcow2", 1ULL << 40, &info, &err),
                     -1);
    assert_non_null(strstr(err.msg, "backing file"));

    assert_int_equal(vr_write_file_atomic(txt, "hello, not an image\n", 20,
                                          0644, &err), 0);
    assert_int_equal(vr_qimg_validate(txt, "qcow2", 1ULL << 40, &info, &err),
                     -1);
    assert_int_equal(err.code, VR_E_UNPROCESSABLE);
    assert_int_equal(vr_qimg_validate(txt, "raw", 1ULL << 40, &info, &err),
                     -1);
    assert_non_null(strstr(err.msg, "not a disk image"));

    /* a qcow2 declared as raw is refused, not probed into qcow2 */
    assert_int_equal(vr_qimg_create(q, 16ULL << 20, &err), 0);
    cmd = vr_asprintf("truncate -s 1M %s", q);
    sh(cmd);
    free(cmd);
    assert_int_equal(vr_qimg_validate(q, "raw", 1ULL << 40, &info, &err), -1);
    assert_non_null(strstr(err.msg, "qcow2"));

    /* qcow2 with an external data file */
    cmd = vr_asprintf("qemu-img create -q -f qcow2 -o data_file=%s/data.raw "
                      "%s/ext.qcow2 8M", dir, dir);
    sh(cmd);
    free(cmd);
    cmd = p("ext.qcow2");
    assert_int_equal(vr_qimg_validate(cmd, "qcow2", 1ULL << 40, &info, &err),
                     -1);
    assert_non_null(strstr(err.msg, "data file"));
    free(cmd);
    cmd = p("empty");
    assert_int_equal(vr_write_file_atomic(cmd, "", 0, 0644, &err), 0);
    assert_int_equal(vr_qimg_validate(cmd, "raw", 1ULL << 40, &info, &err), -1);
    free(cmd);
    free(base);
    free(ovl);
    free(txt);
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
