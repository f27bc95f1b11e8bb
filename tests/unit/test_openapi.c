/* docs/openapi.json (embedded) describes every route, and nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <cmocka.h>

#include "vr_http.h"

/* "/api/v1/vms/{}/{}" matches "/api/v1/vms/{vm}/{action}" */
static bool same_path(const char *pattern, const char *doc)
{
    while (*pattern && *doc) {
        if (pattern[0] == '{' && pattern[1] == '}') {
            if (*doc != '{')
                return false;
            while (*doc && *doc != '}')
                doc++;
            if (!*doc)
                return false;
            pattern += 2;
            doc++;
            continue;
        }
        if (*pattern++ != *doc++)
            return false;
    }
    return !*pattern && !*doc;
}

static void test_every_route_documented(void **state)
{
    json_error_t jerr;
    json_t *doc = json_loadb(vr_openapi_json, vr_openapi_json_len, 0, &jerr);
    json_t *paths, *ops;
    const char *path;
    size_t documented = 0;

    (void)state;
    assert_non_null(doc);
    paths = json_object_get(doc, "paths");
    assert_non_null(paths);
    for (size_t i = 0; i < vr_nroutes; i++) {
        const struct vr_route *rt = &vr_routes[i];
        bool found = false;
        json_object_foreach(paths, path, ops) {
            char method[8];
            size_t k;
            if (!same_path(rt->pattern, path))
                continue;
            for (k = 0; rt->method[k] && k < sizeof(method) - 1; k++)
                method[k] = (char)tolower((unsigned char)rt->method[k]);
            method[k] = '\0';
            if (json_object_get(ops, method))
                found = true;
        }
        if (!found)
            fail_msg("route %s %s is not in docs/openapi.json", rt->method,
                     rt->pattern);
    }
    /* and the document has no operation the server lacks */
    json_object_foreach(paths, path, ops) {
        const char *m;
        json_t *op;
        json_object_foreach(ops, m, op) {
            bool found = false;
            if (strcmp(m, "parameters") == 0)
                continue;
            for (size_t i = 0; i < vr_nroutes; i++) {
                if (strcasecmp(vr_routes[i].method, m) == 0 &&
                    same_path(vr_routes[i].pattern, path))
                    found = true;
            }
            if (!found)
                fail_msg("docs/openapi.json has %s %s, the server does not",
                         m, path);
            documented++;
        }
    }
    assert_int_equal(documented, vr_nroutes);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
