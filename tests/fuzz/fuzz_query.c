/*
 * fuzz_query.c - query parameters.  libmicrohttpd splits and
 * percent-decodes the query string; what Vireo does with the pieces is
 * checking each key against the route's list (vr_http_query_allowed, as
 * check_query_arg does for every request) and reading integer values
 * strictly (vr_http_parse_int, with the ranges the handlers use).
 *
 * The input is one byte choosing a route of the table, then a query
 * string, split here on '&' and '=' as libmicrohttpd would (without the
 * percent-decoding).
 *
 * Checked: a key is allowed exactly when the route lists it; an integer is
 * accepted exactly when it is an optional '-' and decimal digits whose
 * value is within the range, with that value.
 */
#include <errno.h>

#include "fuzz.h"
#include "vr_http.h"

/* The ranges of vr_http_query_int calls in vr_api.c. */
static const struct {
    int64_t min, max;
} ranges[] = {
    {1, 100000},                    /* limit of lists */
    {0, INT64_MAX},                 /* offset of lists */
    {INT64_MIN / 2, INT64_MAX / 2}, /* offset of console-log */
    {1, 1024 * 1024},               /* limit of console-log */
    {0, 60},                        /* wait of a job */
    {INT64_MIN, INT64_MAX},
};

/* Decimal with an optional '-', no sign or space else; 1 fits, 0 does not
 * fit in 64 bits, -1 not a number. */
static int ref_int(const char *v, int64_t *out)
{
    bool neg = *v == '-';
    unsigned __int128 mag = 0;
    const char *p = v + neg;

    if (!*p)
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        mag = mag * 10 + (unsigned)(*p - '0');
        if (mag > (unsigned __int128)INT64_MAX + 1)
            mag = (unsigned __int128)INT64_MAX + 2; /* too big, stays so */
    }
    if (!neg && mag > INT64_MAX)
        return 0;
    if (neg && mag > (unsigned __int128)INT64_MAX + 1)
        return 0;
    *out = neg ? (int64_t)(0 - (uint64_t)mag) : (int64_t)mag;
    return 1;
}

static void check_value(const char *key, const char *v)
{
    int64_t want = 0;
    int ref = ref_int(v, &want);

    for (size_t i = 0; i < VR_ARRAY_SIZE(ranges); i++) {
        struct vr_error err = VR_ERROR_INIT;
        int64_t got = 0;
        bool ok = ref == 1 && want >= ranges[i].min && want <= ranges[i].max;

        if (vr_http_parse_int(key, v, ranges[i].min, ranges[i].max, &got,
                              &err) == 0) {
            FUZZ_CHECK(ok && got == want && err.code == VR_E_NONE);
        } else {
            FUZZ_CHECK(!ok);
            FUZZ_CHECK(fuzz_err_ok(&err) && err.code == VR_E_INVALID);
        }
    }
}

static void check_key(const struct vr_route *rt, const char *key)
{
    bool listed = false;

    for (size_t i = 0; rt->query && rt->query[i]; i++)
        listed = listed || strcmp(rt->query[i], key) == 0;
    FUZZ_CHECK(vr_http_query_allowed(rt->query, key) == listed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct vr_route *rt;
    char *q, *save = NULL;

    if (size < 1)
        return 0;
    rt = &vr_routes[data[0] % vr_nroutes];
    q = fuzz_str(data + 1, size - 1);
    for (char *arg = strtok_r(q, "&", &save); arg;
         arg = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(arg, '=');
        if (eq)
            *eq = '\0';
        check_key(rt, arg);
        if (eq)
            check_value(arg, eq + 1);
    }
    free(q);
    return 0;
}
