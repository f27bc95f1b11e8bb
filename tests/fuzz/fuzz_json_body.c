/*
 * fuzz_json_body.c - an untrusted request body (vr_json.h): parsed by
 * vr_json_parse_body, then put through the checks every handler runs on
 * it: vr_json_only with the handlers' field lists and the getters
 * vr_json_str/int/bool on every member.
 *
 * Checked: the parser accepts exactly the JSON objects jansson accepts
 * that are within VR_JSON_MAX_DEPTH and VR_JSON_MAX_ARRAY (computed here
 * independently) and every refusal has an error; an accepted body dumps
 * and parses back equal; vr_json_only refuses exactly the bodies with an
 * unlisted key, with a printable message; a getter returns 1 only with
 * its output set and in range, 0 only with its output untouched.
 */
#include <jansson.h>

#include "fuzz.h"
#include "vr_json.h"

/* The field lists of the handlers that take a body (vr_api.c). */
static const char *const token_fields[] = {"user", "password", "ttl", NULL};
static const char *const image_fields[] = {"name", "format", "sha256", "path",
                                           NULL};
static const char *const vm_fields[] = {"name", "uuid", "image", "vcpus",
                                        "memory", "disks", "full_clone",
                                        "start", NULL};
static const char *const action_fields[] = {"timeout", "mode", NULL};
static const char *const disk_fields[] = {"size", NULL};
static const char *const *const field_lists[] = {
    token_fields, image_fields, vm_fields, action_fields, disk_fields,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1); /* the same member order on every run */
    return 0;
}

/* Depth as vr_json_parse_body counts it (a scalar is one level) and
 * whether every array is within the limit. */
static int depth_of(const json_t *j, bool *arrays_ok)
{
    const char *key;
    json_t *v;
    size_t i;
    int d = 0;

    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, key, v) {
            int c = depth_of(v, arrays_ok);
            d = c > d ? c : d;
        }
    } else if (json_is_array(j)) {
        if (json_array_size(j) > VR_JSON_MAX_ARRAY)
            *arrays_ok = false;
        json_array_foreach(j, i, v) {
            int c = depth_of(v, arrays_ok);
            d = c > d ? c : d;
        }
    }
    return d + 1;
}

static bool listed(const char *const list[], const char *key)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], key) == 0)
            return true;
    return false;
}

static void check_only(const json_t *obj, const char *const list[])
{
    struct vr_error err = VR_ERROR_INIT;
    bool all_listed = true;
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v) {
        all_listed = all_listed && listed(list, key);
    }
    if (vr_json_only(obj, list, &err) == 0) {
        FUZZ_CHECK(all_listed);
        FUZZ_CHECK(err.code == VR_E_NONE);
        return;
    }
    FUZZ_CHECK(!all_listed);
    FUZZ_CHECK(fuzz_err_ok(&err) && err.code == VR_E_INVALID);
    /* the message quotes the key: printable ASCII only */
    for (const char *p = err.msg; *p; p++)
        FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
}

static void check_getters(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    bool absent = !v || json_is_null(v);

    for (int required = 0; required < 2; required++) {
        struct vr_error err = VR_ERROR_INIT;
        const char *s = "untouched";
        int64_t n = -42;
        bool b = true;
        int rc;

        rc = vr_json_str(obj, key, required, &s, &err);
        FUZZ_CHECK(rc >= -1 && rc <= 1);
        if (rc == 1)
            FUZZ_CHECK(json_is_string(v) && s == json_string_value(v));
        else if (rc == 0)
            FUZZ_CHECK(absent && !required && strcmp(s, "untouched") == 0);
        else
            FUZZ_CHECK(fuzz_err_ok(&err) && (!absent || required));

        vr_err_clear(&err);
        rc = vr_json_int(obj, key, required, -1000, 1000, &n, &err);
        FUZZ_CHECK(rc >= -1 && rc <= 1);
        if (rc == 1)
            FUZZ_CHECK(json_is_integer(v) && n >= -1000 && n <= 1000 &&
                       n == json_integer_value(v));
        else if (rc == 0)
            FUZZ_CHECK(absent && !required && n == -42);
        else
            FUZZ_CHECK(fuzz_err_ok(&err));

        vr_err_clear(&err);
        rc = vr_json_bool(obj, key, required, &b, &err);
        FUZZ_CHECK(rc >= -1 && rc <= 1);
        if (rc == 1)
            FUZZ_CHECK(json_is_boolean(v) && b == json_is_true(v));
        else if (rc == 0)
            FUZZ_CHECK(absent && !required && b);
        else
            FUZZ_CHECK(fuzz_err_ok(&err));
    }
    {
        /* store records go through these: a short buffer truncates */
        char small[8];
        vr_json_copy_str(obj, key, small, sizeof(small));
        FUZZ_CHECK(strlen(small) < sizeof(small));
        (void)vr_json_get_i64(obj, key);
        (void)vr_json_get_time(obj, key);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vr_error err = VR_ERROR_INIT;
    json_error_t jerr;
    json_t *j, *ref, *again;
    bool arrays_ok = true, expect;
    const char *key;
    json_t *v;
    char *dump;

    j = vr_json_parse_body((const char *)data, size, &err);
    ref = size ? json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
                            &jerr)
               : NULL;
    expect = ref && json_is_object(ref) &&
             depth_of(ref, &arrays_ok) <= VR_JSON_MAX_DEPTH && arrays_ok;
    json_decref(ref);
    if (!j) {
        FUZZ_CHECK(!expect);
        FUZZ_CHECK(fuzz_err_ok(&err) && err.code == VR_E_INVALID);
        return 0;
    }
    FUZZ_CHECK(expect);
    FUZZ_CHECK(json_is_object(j) && err.code == VR_E_NONE);

    dump = vr_json_dump(j);
    again = vr_json_parse_body(dump, strlen(dump), &err);
    FUZZ_CHECK(again && json_equal(j, again));
    json_decref(again);
    free(dump);

    for (size_t i = 0; i < VR_ARRAY_SIZE(field_lists); i++)
        check_only(j, field_lists[i]);
    json_object_foreach(j, key, v) {
        check_getters(j, key);
    }
    check_getters(j, "absent\x01");
    json_decref(j);
    return 0;
}
