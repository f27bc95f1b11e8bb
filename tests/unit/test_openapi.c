/* docs/openapi.json (embedded) describes every route, nothing else, and
 * the answers the HTTP layer gives from a route's declaration. */
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

/* What a JSON reference ("#/components/...") in the document names, or
 * `j` itself. */
static json_t *deref(json_t *doc, json_t *j)
{
    const char *ref = json_string_value(json_object_get(j, "$ref"));
    char buf[256], *save = NULL;

    if (!ref)
        return j;
    assert_true(strncmp(ref, "#/", 2) == 0);
    snprintf(buf, sizeof(buf), "%s", ref + 2);
    j = doc;
    for (char *p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save))
        j = json_object_get(j, p);
    assert_non_null(j);
    return j;
}

/* The member of `j` at the NULL-terminated list of keys, or NULL. */
static json_t *member(json_t *j, ...)
{
    va_list ap;
    const char *key;

    va_start(ap, j);
    while (j && (key = va_arg(ap, const char *)))
        j = json_object_get(j, key);
    va_end(ap);
    return j;
}

/* The operation of a route in the document. */
static json_t *route_op(json_t *doc, const struct vr_route *rt)
{
    json_t *paths = json_object_get(doc, "paths"), *ops;
    const char *path;

    json_object_foreach(paths, path, ops) {
        char method[8];
        size_t k;
        if (!same_path(rt->pattern, path))
            continue;
        for (k = 0; rt->method[k] && k < sizeof(method) - 1; k++)
            method[k] = (char)tolower((unsigned char)rt->method[k]);
        method[k] = '\0';
        if (json_object_get(ops, method))
            return json_object_get(ops, method);
    }
    return NULL;
}

static bool has_status(json_t *op, const char *status)
{
    return json_object_get(json_object_get(op, "responses"), status) != NULL;
}

/* The answers the HTTP layer gives from a route's declaration alone
 * (vr_http.c, first_call) are in the document for that route: 400 (an
 * unknown query parameter) everywhere, 401 unless public, 403 for a
 * superuser-only route, a CREATE right or a right beyond USE on the
 * object (without USE, the object does not exist for the caller: 404),
 * 404 for an object in the path, 413 and 415 with a request body; and the
 * query parameters are the route's. */
/* Report a mismatch and go on: every one is listed, then the test fails. */
#define BAD(...) (print_error(__VA_ARGS__), print_error("\n"), bad++)

static void test_generic_answers_documented(void **state)
{
    json_error_t jerr;
    json_t *doc = json_loadb(vr_openapi_json, vr_openapi_json_len, 0, &jerr);
    int bad = 0;

    (void)state;
    assert_non_null(doc);
    for (size_t i = 0; i < vr_nroutes; i++) {
        const struct vr_route *rt = &vr_routes[i];
        json_t *op = route_op(doc, rt), *params, *p;
        bool body = rt->flags & (VR_R_BODY | VR_R_UPLOAD);
        /* an object named in the path (else `obj` names the kind of a
         * CREATE) */
        bool in_path = rt->obj != VR_O_NONE && strstr(rt->pattern, "{}");
        /* rights beyond USE apart (a token's or an ACL rule's are all or
         * nothing: who may see one may do everything with it) */
        bool graded = rt->obj != VR_O_TOKEN && rt->obj != VR_O_ACL;
        size_t nquery = 0, k;
        struct {
            const char *status;
            bool when;
        } want[] = {
            {"400", true},
            {"401", !(rt->flags & VR_R_PUBLIC)},
            {"403", (rt->flags & (VR_R_SUPER | VR_R_CREATE)) ||
                        (graded && rt->need & ~VR_RIGHT_USE)},
            {"404", in_path},
            {"413", body},
            {"415", body},
        };

        assert_non_null(op);
        for (k = 0; k < VR_ARRAY_SIZE(want); k++)
            if (want[k].when && !has_status(op, want[k].status))
                BAD("%s %s: status %s is not documented", rt->method,
                    rt->pattern, want[k].status);
        if (body != (json_object_get(op, "requestBody") != NULL))
            BAD("%s %s: a request body %s, the document says otherwise",
                rt->method, rt->pattern, body ? "is taken" : "is not taken");
        params = json_object_get(op, "parameters");
        json_array_foreach(params, k, p) {
            const char *name, *in;
            p = deref(doc, p);
            name = json_string_value(json_object_get(p, "name"));
            in = json_string_value(json_object_get(p, "in"));
            if (strcmp(in, "query") != 0)
                continue;
            nquery++;
            if (!vr_http_query_allowed(rt->query, name))
                BAD("%s %s: the document has query parameter '%s', the "
                    "server does not", rt->method, rt->pattern, name);
        }
        for (k = 0; rt->query && rt->query[k]; k++)
            ;
        if (k != nquery)
            BAD("%s %s: %zu query parameters, the document has %zu",
                rt->method, rt->pattern, k, nquery);
    }
    json_decref(doc);
    assert_int_equal(bad, 0);
}

/* The kinds of object an audit entry names, and the `kind` filter of
 * GET /api/v1/audit, are the server's list (VR_AUDIT_KINDS). */
static void test_audit_kinds_documented(void **state)
{
    json_error_t jerr;
    json_t *doc = json_loadb(vr_openapi_json, vr_openapi_json_len, 0, &jerr);
    json_t *entry, *params, *p, *query = NULL;
    size_t k;

    (void)state;
    assert_non_null(doc);
    entry = member(doc, "components", "schemas", "AuditEntry", "properties",
                   "kind", NULL);
    params = member(doc, "paths", "/api/v1/audit", "get", "parameters",
                    NULL);
    json_array_foreach(params, k, p) {
        p = deref(doc, p);
        if (strcmp(json_string_value(json_object_get(p, "name")), "kind") == 0)
            query = json_object_get(p, "schema");
    }
    assert_non_null(entry);
    assert_non_null(query);
    /* the entry's enum: every kind and ""; the filter's: every kind */
    for (int pass = 0; pass < 2; pass++) {
        json_t *en = json_object_get(pass ? query : entry, "enum");
        size_t want = VR_AUDIT__LAST - (size_t)pass;
        assert_int_equal(json_array_size(en), want);
        for (int i = pass; i < VR_AUDIT__LAST; i++) {
            bool found = false;
            const char *name = vr_audit_kind_name((enum vr_audit_kind)i);
            json_t *v;
            json_array_foreach(en, k, v)
                if (strcmp(json_string_value(v), name) == 0)
                    found = true;
            if (!found)
                fail_msg("audit kind '%s' is not in the document's %s", name,
                         pass ? "kind filter" : "AuditEntry.kind");
        }
    }
    /* and every pool's kind is one */
    {
        enum vr_audit_kind ak;
        const char *const pools[] = {"vm", "image", "host", "job", "user",
                                     "group", "acl", "token", "vm_group",
                                     "cluster"};
        for (k = 0; k < VR_ARRAY_SIZE(pools); k++)
            assert_int_equal(vr_audit_kind_parse(pools[k], &ak), 0);
    }
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_documented),
        cmocka_unit_test(test_generic_answers_documented),
        cmocka_unit_test(test_audit_kinds_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
