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
    if (vr_run(argv, 120000, NULL, NULL, &err) != 0)
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

/* Truncated and encrypted qcow2 images are never accepted: cut anywhere
 * (inside the data, at the L1 table, a few bytes off the end) and
 * encrypted with LUKS or the old AES. */
static void expect_refused(const char *path, const char *format,
                           const char *words)
{
    struct vr_qimg_info info;
    struct vr_error err = VR_ERROR_INIT;

    if (vr_qimg_validate(path, format, 1ULL << 40, &info, &err) == 0)
        fail_msg("%s was accepted", path);
    assert_int_equal(err.code, VR_E_UNPROCESSABLE);
    if (!strstr(err.msg, words))
        fail_msg("%s: '%s' lacks '%s'", path, err.msg, words);
}

static void test_truncated_and_encrypted(void **state)
{
    struct vr_qimg_info info;
    struct vr_error err = VR_ERROR_INIT;
    char *full = p("full.qcow2"), *cmd;
    static const struct {
        const char *name;
        const char *cut;     /* truncate -s argument */
    } cuts[] = {
        {"half.qcow2", "-s 1M"},           /* inside the data */
        {"tail.qcow2", "-s -512"},         /* within the last cluster */
        {"l1.qcow2", "-s 196608"},         /* at the L1 table: reads as
                                            * an empty disk to check */
        {"head.qcow2", "-s 100"},          /* inside the header */
    };

    (void)state;
    /* 2 MiB of data in a 4 MiB disk */
    cmd = vr_asprintf("qemu-img create -q -f qcow2 %s 4M && "
                      "qemu-io -f qcow2 -c 'write -P 0xab 0 2M' %s "
                      ">/dev/null", full, full);
    sh(cmd);
    free(cmd);
    assert_int_equal(vr_qimg_validate(full, "qcow2", 1ULL << 40, &info, &err),
                     0);
    for (size_t i = 0; i < VR_ARRAY_SIZE(cuts); i++) {
        char *cut = p(cuts[i].name);
        cmd = vr_asprintf("cp %s %s && truncate %s %s", full, cut,
                          cuts[i].cut, cut);
        sh(cmd);
        free(cmd);
        expect_refused(cut, "qcow2", "");
        free(cut);
    }
    /* encrypted: LUKS inside qcow2, the legacy AES, a LUKS image */
    {
        char *luks = p("luks.qcow2"), *aes = p("aes.qcow2"),
             *raw = p("plain.luks");
        /* qemu-img times its key derivation and fails now and then on
         * a loaded machine ("Unable to get accurate CPU usage"): a few
         * tries each */
        cmd = vr_asprintf(
            "try() { for i in 1 2 3 4 5; do \"$@\" && return 0; "
            "sleep 0.2; done; return 1; }; "
            "try qemu-img create -q --object secret,id=s0,data=abcdefgh "
            "-f qcow2 -o encrypt.format=luks,encrypt.key-secret=s0,"
            "encrypt.iter-time=100 %s 4M && "
            "{ qemu-img create -q --object secret,id=s0,data=abcdefgh "
            "-f qcow2 -o encrypt.format=aes,encrypt.key-secret=s0 %s 4M "
            "2>/dev/null; true; } && "
            "try qemu-img create -q --object secret,id=s0,data=abcdefgh "
            "-f luks -o key-secret=s0,iter-time=100 %s 4M",
            luks, aes, raw);
        sh(cmd);
        free(cmd);
        expect_refused(luks, "qcow2", "encrypted");
        if (vr_path_exists(aes))  /* qemu may refuse to make AES ones */
            expect_refused(aes, "qcow2", "encrypted");
        expect_refused(raw, "raw", "luks");
        free(luks);
        free(aes);
        free(raw);
    }
    free(full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_truncated_and_encrypted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
