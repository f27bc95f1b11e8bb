/* Validation helpers: sizes, names, UUIDs, confined paths, config, vr_run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vr_config.h"
#include "vr_enum.h"
#include "vr_log.h"
#include "vr_util.h"

/* an enum of the test's own, through vr_enum.h */
#define TEST_COLORS(X)                                                     \
    X(TEST_NONE, "none")                                                   \
    X(TEST_RED, "red")                                                     \
    X(TEST_GREEN, "green")
VR_ENUM_TYPE(test_color, TEST_COLORS, TEST__LAST);
VR_ENUM_DECLARE(test_color, test_color);
VR_ENUM_DEFINE(test_color, test_color, TEST_COLORS, TEST__LAST, 1, "?")

static void test_sizes(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    uint64_t b;

    (void)state;
    assert_int_equal(vr_parse_size("512M", 1, &b, &err), 0);
    assert_int_equal(b, 512ULL << 20);
    assert_int_equal(vr_parse_size("1G", 1, &b, &err), 0);
    assert_int_equal(b, 1ULL << 30);
    assert_int_equal(vr_parse_size("1.5GiB", 1, &b, &err), 0);
    assert_int_equal(b, 3ULL << 29);
    assert_int_equal(vr_parse_size("2t", 1, &b, &err), 0);
    assert_int_equal(b, 2ULL << 40);
    assert_int_equal(vr_parse_size("256", 1ULL << 20, &b, &err), 0);
    assert_int_equal(b, 256ULL << 20);
    assert_int_equal(vr_parse_size("4096b", 1ULL << 20, &b, &err), 0);
    assert_int_equal(b, 4096);
    /* the largest 64-bit size fits (found by fuzz_validators) */
    assert_int_equal(vr_parse_size("18446744073709551615", 1, &b, &err), 0);
    assert_true(b == UINT64_MAX);
    static const char *bad[] = {"", "-1G", "G", "1X", "1GG", "1 G", "1.G",
                                "99999999999999999999", "17179869184T",
                                "18446744073709551616", "16777216T",
                                "0x10", "+5M", NULL};
    for (int i = 0; bad[i]; i++) {
        vr_err_clear(&err);
        assert_int_equal(vr_parse_size(bad[i], 1, &b, &err), -1);
        assert_int_equal(err.code, VR_E_INVALID);
        assert_true(strlen(err.msg) > 0);
    }
    char out[16];
    vr_format_size(512ULL << 20, out, sizeof(out));
    assert_string_equal(out, "512M");
    vr_format_size(3ULL << 29, out, sizeof(out));
    assert_string_equal(out, "1.5G");
}

static void test_names(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    static const char *good[] = {"web1", "a", "db-01.prod", "x_y", "1web",
                                 NULL};
    static const char *bad[] = {"", "a<b", "a>b", "a&b", "a'b", "a\"b", "a/b",
                                "..", "a..b", ".hidden", "-x", "123",
                                "a b", "tab\tx", "naïve",
                                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                NULL};
    (void)state;
    for (int i = 0; good[i]; i++)
        assert_int_equal(vr_name_check(good[i], "name", &err), 0);
    for (int i = 0; bad[i]; i++) {
        vr_err_clear(&err);
        if (vr_name_check(bad[i], "vm name", &err) != -1)
            fail_msg("name '%s' was accepted", bad[i]);
        assert_int_equal(err.code, VR_E_INVALID);
        assert_non_null(strstr(err.msg, "vm name"));
    }
    vr_name_check("a<b", "vm name", &err);
    assert_non_null(strstr(err.msg, "'<'"));
}

static void test_uuid(void **state)
{
    char u[VR_UUID_LEN], n[VR_UUID_LEN];
    (void)state;
    vr_uuid_generate(u);
    assert_true(vr_uuid_valid(u));
    assert_int_equal(u[14], '4');
    assert_int_equal(vr_uuid_normalize("C12A18CA-E241-42FB-AF35-6BA67365E6A1", n),
                     0);
    assert_string_equal(n, "c12a18ca-e241-42fb-af35-6ba67365e6a1");
    assert_false(vr_uuid_valid("c12a18ca-e241-42fb-af35-6ba67365e6a"));
    assert_false(vr_uuid_valid("c12a18ca_e241-42fb-af35-6ba67365e6a1"));
    assert_false(vr_uuid_valid("g12a18ca-e241-42fb-af35-6ba67365e6a1"));
    assert_false(vr_uuid_valid(NULL));
}

static void test_confine(void **state)
{
    char dir[] = "/tmp/vr-confine-XXXXXX";
    struct vr_error err = VR_ERROR_INIT;
    char *out = NULL, *p;

    (void)state;
    assert_non_null(mkdtemp(dir));
    p = vr_asprintf("%s/allowed", dir);
    assert_int_equal(vr_mkdir_p(p, 0755, &err), 0);
    free(p);
    p = vr_asprintf("%s/allowed/img.qcow2", dir);
    assert_int_equal(vr_write_file_atomic(p, "x", 1, 0644, &err), 0);
    free(p);
    p = vr_asprintf("%s/secret", dir);
    assert_int_equal(vr_write_file_atomic(p, "s", 1, 0600, &err), 0);
    free(p);
    /* a symlink inside pointing outside */
    {
        char *target = vr_asprintf("%s/secret", dir);
        char *link = vr_asprintf("%s/allowed/link", dir);
        assert_int_equal(symlink(target, link), 0);
        free(target);
        free(link);
    }
    char *allowed = vr_asprintf("%s/allowed", dir);
    p = vr_asprintf("%s/allowed/img.qcow2", dir);
    assert_int_equal(vr_path_confine(p, allowed, &out, &err), 0);
    assert_string_equal(out, p);
    free(out);
    free(p);
    p = vr_asprintf("%s/allowed/../secret", dir);
    assert_int_equal(vr_path_confine(p, allowed, &out, &err), -1);
    assert_int_equal(err.code, VR_E_FORBIDDEN);
    free(p);
    p = vr_asprintf("%s/allowed/link", dir);
    assert_int_equal(vr_path_confine(p, allowed, &out, &err), -1);
    assert_int_equal(err.code, VR_E_FORBIDDEN);
    free(p);
    /* a sibling directory sharing the prefix */
    p = vr_asprintf("%s/allowed2", dir);
    vr_mkdir_p(p, 0755, &err);
    free(p);
    p = vr_asprintf("%s/allowed2", dir);
    assert_int_equal(vr_path_confine(p, allowed, &out, &err), -1);
    free(p);
    assert_int_equal(vr_path_confine("relative/x", allowed, &out, &err), -1);
    assert_int_equal(err.code, VR_E_INVALID);
    free(allowed);
    assert_int_equal(vr_rm_rf(dir, &err), 0);
    assert_false(vr_path_exists(dir));
}

static void test_config(void **state)
{
    struct vr_config cfg;
    struct vr_error err = VR_ERROR_INIT;
    char path[] = "/tmp/vr-conf-XXXXXX";
    int fd;
    const char *text = "# comment\nworkers = 3\n  listen=127.0.0.1:9999 \n"
                       "max_body = 2M\n";

    (void)state;
    vr_config_defaults(&cfg, "/srv/vireo");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(vr_config_load(&cfg, path, &err), 0);
    assert_int_equal(cfg.workers, 3);
    assert_string_equal(cfg.listen, "127.0.0.1:9999");
    assert_int_equal(cfg.max_body, 2 << 20);
    vr_config_finish(&cfg);
    assert_string_equal(cfg.store_url, "sqlite:/srv/vireo/vireo.db");
    assert_int_equal(vr_config_set(&cfg, "workers", "0", &err), -1);
    assert_int_equal(vr_config_set(&cfg, "nope", "1", &err), -1);
    assert_non_null(strstr(err.msg, "unknown setting"));
    assert_int_equal(vr_config_set(&cfg, "max_upload", "lots", &err), -1);
    {
        /* a long line is one line: the end of a long comment is no
         * setting (found by fuzz_config) */
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputc('#', f);
        for (int i = 1; i < 4095; i++)
            fputc('x', f);
        fputs("workers = 64\n", f);
        fclose(f);
        assert_int_equal(vr_config_load(&cfg, path, &err), 0);
        assert_int_equal(cfg.workers, 3);
    }
    unlink(path);
    vr_config_release(&cfg);
}

static void test_run(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    const char *ok[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    const char *slow[] = {"sleep", "5", NULL};
    const char *missing[] = {"/nonexistent/prog", NULL};
    char *out = NULL, *eout = NULL;

    (void)state;
    assert_int_equal(vr_run(ok, 5000, &out, &eout, &err), 3);
    assert_string_equal(out, "out\n");
    assert_string_equal(eout, "err\n");
    free(out);
    free(eout);
    assert_int_equal(vr_run(slow, 200, NULL, NULL, &err), -1);
    assert_int_equal(err.code, VR_E_TIMEOUT);
    assert_int_equal(vr_run(missing, 5000, NULL, NULL, &err), 127);
}

static void test_time_parse(void **state)
{
    static const char *const bad[] = {
        "2026-11-21T10:00:00",         /* no zone: not guessed */
        "2026-11-21 10:00:00Z",        /* a space for the T */
        "2026-11-21T10:00Z",           /* no seconds */
        "2026-11-21T10:00:00.Z",       /* a dot without digits */
        "2026-11-21T10:00:00+0100",    /* an offset without its colon */
        "2026-11-21T10:00:00+24:00",
        "2026-11-21T24:00:00Z",
        "2026-02-29T10:00:00Z",        /* not a leap year */
        "2026-13-01T10:00:00Z",
        "2026-11-21T10:00:00Zjunk",
        "26-11-21T10:00:00Z",
        "",
    };
    int64_t ms;
    char out[32];

    (void)state;
    assert_int_equal(vr_time_parse("2026-11-21T10:00:00Z", &ms), 0);
    vr_time_format(ms, out, sizeof(out));
    assert_string_equal(out, "2026-11-21T10:00:00.000Z");
    assert_int_equal(vr_time_parse("2026-11-21t11:30:00.1234+01:30", &ms), 0);
    vr_time_format(ms, out, sizeof(out));
    assert_string_equal(out, "2026-11-21T10:00:00.123Z");
    assert_int_equal(vr_time_parse("2026-11-21T05:00:00.5-05:00", &ms), 0);
    vr_time_format(ms, out, sizeof(out));
    assert_string_equal(out, "2026-11-21T10:00:00.500Z");
    assert_int_equal(vr_time_parse("2024-02-29T00:00:00z", &ms), 0);
    assert_int_equal(vr_time_parse("2016-12-31T23:59:60Z", &ms), 0);
    vr_time_format(ms, out, sizeof(out));
    assert_string_equal(out, "2016-12-31T23:59:59.999Z");
    for (size_t i = 0; i < VR_ARRAY_SIZE(bad); i++)
        if (vr_time_parse(bad[i], &ms) == 0)
            fail_msg("'%s' was taken for a time", bad[i]);
}

static void test_err(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    (void)state;
    vr_err(&err, VR_E_CONFLICT, "vm '%s' exists", "x");
    vr_err_prefix(&err, "create");
    assert_string_equal(err.msg, "create: vm 'x' exists");
    assert_int_equal(vr_err_http_status(VR_E_STATE), 409);
    assert_string_equal(vr_err_slug(VR_E_STATE), "invalid-state");
    assert_int_equal(vr_err(NULL, VR_E_INVALID, "ignored"), -1);
}

static void test_enum(void **state)
{
    enum test_color c = TEST_RED;
    enum vr_log_level l;

    (void)state;
    assert_int_equal(TEST__LAST, 3);
    assert_string_equal(test_color_name(TEST_GREEN), "green");
    assert_string_equal(test_color_name(TEST_NONE), "none");
    assert_string_equal(test_color_name((enum test_color)7), "?");
    assert_string_equal(test_color_name((enum test_color)-1), "?");
    assert_int_equal(test_color_parse("green", &c), 0);
    assert_int_equal(c, TEST_GREEN);
    /* below `first`, unknown, another case, NULL: refused, untouched */
    assert_int_equal(test_color_parse("none", &c), -1);
    assert_int_equal(test_color_parse("blue", &c), -1);
    assert_int_equal(test_color_parse("Green", &c), -1);
    assert_int_equal(test_color_parse(NULL, &c), -1);
    assert_int_equal(c, TEST_GREEN);
    /* and one of the daemon's, every value both ways */
    for (int i = 0; i < VR_LOG__LAST; i++) {
        assert_int_equal(vr_log_level_parse(
                             vr_log_level_name((enum vr_log_level)i), &l), 0);
        assert_int_equal(l, i);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),  cmocka_unit_test(test_names),
        cmocka_unit_test(test_uuid),   cmocka_unit_test(test_confine),
        cmocka_unit_test(test_config), cmocka_unit_test(test_run),
        cmocka_unit_test(test_err),    cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_enum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
