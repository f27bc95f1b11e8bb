#include "vr_json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vr_util.h"

static int check_limits(const json_t *j, int depth, struct vr_error *err)
{
    const char *key;
    json_t *v;
    size_t i;

    if (depth > VR_JSON_MAX_DEPTH)
        return vr_err(err, VR_E_INVALID,
                      "JSON nesting is deeper than %d levels",
                      VR_JSON_MAX_DEPTH);
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, key, v) {
            if (check_limits(v, depth + 1, err) < 0)
                return -1;
        }
    } else if (json_is_array(j)) {
        if (json_array_size(j) > VR_JSON_MAX_ARRAY)
            return vr_err(err, VR_E_INVALID,
                          "JSON array has more than %d elements",
                          VR_JSON_MAX_ARRAY);
        json_array_foreach(j, i, v) {
            if (check_limits(v, depth + 1, err) < 0)
                return -1;
        }
    }
    return 0;
}

json_t *vr_json_parse_body(const char *data, size_t len, struct vr_error *err)
{
    json_error_t jerr;
    json_t *j;

    if (!data || len == 0) {
        vr_err(err, VR_E_INVALID, "request body is empty; a JSON object is "
               "expected");
        return NULL;
    }
    /* JSON_REJECT_DUPLICATES: {"a":1,"a":2} is ambiguous, refuse it. */
    j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        vr_err(err, VR_E_INVALID, "malformed JSON at line %d column %d: %s",
               jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        vr_err(err, VR_E_INVALID, "request body must be a JSON object");
        return NULL;
    }
    if (check_limits(j, 1, err) < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int vr_json_only(const json_t *obj, const char *const allowed[],
                 struct vr_error *err)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v) {
        bool ok = false;
        (void)v;
        for (size_t i = 0; allowed[i]; i++) {
            if (strcmp(key, allowed[i]) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            char printable[64];
            size_t n = 0;
            for (const char *p = key; *p && n < sizeof(printable) - 1; p++)
                printable[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
            printable[n] = '\0';
            return vr_err(err, VR_E_INVALID, "unknown field '%s'", printable);
        }
    }
    return 0;
}

int vr_json_str(const json_t *obj, const char *key, bool required,
                const char **out, struct vr_error *err)
{
    json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v)) {
        if (required)
            return vr_err(err, VR_E_INVALID, "field '%s' is required", key);
        return 0;
    }
    if (!json_is_string(v))
        return vr_err(err, VR_E_INVALID, "field '%s' must be a string", key);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return vr_err(err, VR_E_INVALID, "field '%s' contains a NUL byte",
                      key);
    *out = json_string_value(v);
    return 1;
}

int vr_json_int(const json_t *obj, const char *key, bool required,
                int64_t min, int64_t max, int64_t *out, struct vr_error *err)
{
    json_t *v = json_object_get(obj, key);
    json_int_t n;

    if (!v || json_is_null(v)) {
        if (required)
            return vr_err(err, VR_E_INVALID, "field '%s' is required", key);
        return 0;
    }
    if (!json_is_integer(v))
        return vr_err(err, VR_E_INVALID, "field '%s' must be an integer", key);
    n = json_integer_value(v);
    if (n < min || n > max)
        return vr_err(err, VR_E_INVALID,
                      "field '%s' is %lld; it must be between %lld and %lld",
                      key, (long long)n, (long long)min, (long long)max);
    *out = n;
    return 1;
}

int vr_json_bool(const json_t *obj, const char *key, bool required, bool *out,
                 struct vr_error *err)
{
    json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v)) {
        if (required)
            return vr_err(err, VR_E_INVALID, "field '%s' is required", key);
        return 0;
    }
    if (!json_is_boolean(v))
        return vr_err(err, VR_E_INVALID, "field '%s' must be true or false",
                      key);
    *out = json_is_true(v);
    return 1;
}

void vr_json_copy_str(const json_t *obj, const char *key, char *dst,
                      size_t size)
{
    const char *s = json_string_value(json_object_get(obj, key));
    vr_strlcpy(dst, s ? s : "", size);
}

int64_t vr_json_get_i64(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

void vr_json_set_str_or_null(json_t *obj, const char *key, const char *s)
{
    json_object_set_new(obj, key, s && *s ? json_string(s) : json_null());
}

void vr_json_set_time(json_t *obj, const char *key, int64_t ms)
{
    char buf[40];
    if (ms <= 0) {
        json_object_set_new(obj, key, json_null());
        return;
    }
    vr_time_format(ms, buf, sizeof(buf));
    json_object_set_new(obj, key, json_string(buf));
}

int64_t vr_json_get_time(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    struct tm tm;
    int ms = 0;
    const char *p;

    if (!s)
        return 0;
    memset(&tm, 0, sizeof(tm));
    p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return 0;
    if (*p == '.')
        sscanf(p + 1, "%3d", &ms);
    return (int64_t)timegm(&tm) * 1000 + ms;
}

char *vr_json_dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s)
        s = vr_strdup("null");
    return s;
}
