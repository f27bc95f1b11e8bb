/* Untrusted JSON: limits, strict fields, the VM create request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vr_api_priv.h"
#include "vr_json.h"

static json_t *parse(const char *s, struct vr_error *err)
{
    return vr_json_parse_body(s, strlen(s), err);
}

static void test_body_limits(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_buf b = VR_BUF_INIT;
    json_t *j;

    (void)state;
    assert_null(parse("{\"a\":", &err));
    assert_int_equal(err.code, VR_E_INVALID);
    assert_non_null(strstr(err.msg, "malformed JSON"));
    assert_null(parse("[1,2]", &err));
    assert_non_null(strstr(err.msg, "must be a JSON object"));
    assert_null(parse("{\"a\":1,\"a\":2}", &err));
    assert_null(vr_json_parse_body("", 0, &err));
    /* depth */
    vr_buf_init(&b);
    for (int i = 0; i < 40; i++)
        vr_buf_adds(&b, "{\"a\":");
    vr_buf_adds(&b, "1");
    for (int i = 0; i < 40; i++)
        vr_buf_adds(&b, "}");
    assert_null(parse(b.data, &err));
    assert_non_null(strstr(err.msg, "nesting"));
    vr_buf_release(&b);
    /* array length */
    vr_buf_init(&b);
    vr_buf_adds(&b, "{\"a\":[");
    for (int i = 0; i < 2000; i++)
        vr_buf_addf(&b, "%s%d", i ? "," : "", i);
    vr_buf_adds(&b, "]}");
    assert_null(parse(b.data, &err));
    assert_non_null(strstr(err.msg, "more than"));
    vr_buf_release(&b);
    j = parse("{\"name\":\"x\"}", &err);
    assert_non_null(j);
    json_decref(j);
}

static void test_getters(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    json_t *j = parse("{\"s\":\"v\",\"i\":5,\"b\":true,\"n\":null,"
                      "\"nul\":\"ab\"}", &err);
    const char *s;
    int64_t i;
    bool b;

    (void)state;
    /* an escaped NUL never gets past the parser */
    assert_null(parse("{\"a\":\"x\\u0000y\"}", &err));
    assert_int_equal(vr_json_str(j, "s", true, &s, &err), 1);
    assert_string_equal(s, "v");
    assert_int_equal(vr_json_str(j, "i", true, &s, &err), -1);
    assert_non_null(strstr(err.msg, "'i' must be a string"));
    assert_int_equal(vr_json_str(j, "missing", false, &s, &err), 0);
    assert_int_equal(vr_json_str(j, "missing", true, &s, &err), -1);
    assert_int_equal(vr_json_int(j, "i", true, 1, 4, &i, &err), -1);
    assert_non_null(strstr(err.msg, "between 1 and 4"));
    assert_int_equal(vr_json_int(j, "i", true, 1, 10, &i, &err), 1);
    assert_int_equal(i, 5);
    assert_int_equal(vr_json_bool(j, "b", true, &b, &err), 1);
    assert_true(b);
    assert_int_equal(vr_json_bool(j, "s", true, &b, &err), -1);
    static const char *const only[] = {"s", "i", "b", "n", NULL};
    assert_int_equal(vr_json_only(j, only, &err), -1);
    assert_string_equal(err.msg, "unknown field 'nul'");
    json_decref(j);
}

static int create_from(const char *body, struct vr_vm_create_req *req,
                       struct vr_error *err)
{
    static char idbuf[24];
    json_t *j = parse(body, err);
    int rc;
    if (!j)
        return -1;
    rc = vr_api_parse_vm_create(j, req, idbuf, err);
    json_decref(j);
    return rc;
}

static void test_vm_create_request(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_vm_create_req req;
    static const struct {
        const char *body;
        const char *needle;      /* expected in the message; NULL = ok */
    } cases[] = {
        {"{\"name\":\"web1\",\"image\":\"guest\",\"memory\":\"256M\"}", NULL},
        {"{\"name\":\"web1\",\"image\":3,\"memory\":256,\"vcpus\":2,"
         "\"disks\":[{\"size\":\"1G\"},{\"size\":64}]}", NULL},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":\"256M\",\"cpu\":2}",
         "unknown field 'cpu'"},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":-5}", "memory"},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":\"-5M\"}", "memory"},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":\"1000000T\"}",
         "memory"},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":\"8T\"}", "memory"},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":\"8K\"}", "MiB"},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":\"1M\"}", "memory"},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":256,\"vcpus\":0}",
         "vcpus"},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":256,\"vcpus\":9999}",
         "vcpus"},
        {"{\"name\":\"a<b>\",\"image\":\"g\",\"memory\":256}", "vm name"},
        {"{\"name\":\"a&b\",\"image\":\"g\",\"memory\":256}", "vm name"},
        {"{\"name\":\"a'b\",\"image\":\"g\",\"memory\":256}", "vm name"},
        {"{\"name\":\"a\\\"b\",\"image\":\"g\",\"memory\":256}", "vm name"},
        {"{\"name\":\"a/b\",\"image\":\"g\",\"memory\":256}", "vm name"},
        {"{\"name\":\"..\",\"image\":\"g\",\"memory\":256}", "vm name"},
        {"{\"name\":\"web1\",\"memory\":256}", "image"},
        {"{\"name\":\"web1\",\"image\":\"g\"}", "memory"},
        {"{\"image\":\"g\",\"memory\":256}", "name"},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":256,\"uuid\":\"x\"}",
         "uuid"},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":256,"
         "\"disks\":[{\"size\":\"1G\",\"bus\":\"ide\"}]}", "unknown field"},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":256,"
         "\"disks\":[{\"size\":0}]}", "size"},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":256,\"disks\":{}}",
         "array"},
        {"{\"name\":\"web1\",\"image\":\"g\",\"memory\":256,\"start\":1}",
         "true or false"},
        {"{\"name\":\"web1\",\"image\":[1],\"memory\":256}", "image"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;
        vr_err_clear(&err);
        rc = create_from(cases[i].body, &req, &err);
        if (!cases[i].needle) {
            if (rc != 0)
                fail_msg("case %zu refused: %s", i, err.msg);
            continue;
        }
        if (rc != -1)
            fail_msg("case %zu accepted: %s", i, cases[i].body);
        assert_int_equal(err.code, VR_E_INVALID);
        if (!strstr(err.msg, cases[i].needle))
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg,
                     cases[i].needle);
    }
    assert_int_equal(create_from("{\"name\":\"web1\",\"image\":3,\"memory\":"
                                 "\"1G\",\"disks\":[{\"size\":\"2G\"}]}",
                                 &req, &err), 0);
    assert_string_equal(req.image, "3");
    assert_int_equal(req.memory_mib, 1024);
    assert_int_equal(req.nextra, 1);
    assert_int_equal(req.extra_mib[0], 2048);
    assert_true(req.start);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_vm_create_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
