/*
 * fuzz_route.c - the router (vr_http_route) against the real route table:
 * the input is a method, a newline and a URL path, as libmicrohttpd hands
 * them to on_request (which copies the method into r->method, cut to
 * fit).
 *
 * Checked: the router picks the route a reference matcher written here
 * picks (segments compared one by one, empty ones dropped, "{}" matching
 * any segment, the first route of the table winning); the pattern filled
 * with the captured parameters is the path; each parameter is a non-empty
 * segment; a miss is a 405 naming the path's methods when some route has
 * that path, else a 404.
 */
#include "fuzz.h"
#include "vr_http.h"

/* The path's segments joined by single slashes ("/a//b/" -> "/a/b"). */
static char *normalized(const char *path)
{
    struct vr_buf b = VR_BUF_INIT;

    vr_buf_init(&b);
    for (const char *p = path; *p;) {
        size_t n;
        while (*p == '/')
            p++;
        n = strcspn(p, "/");
        if (n) {
            vr_buf_adds(&b, "/");
            vr_buf_add(&b, p, n);
        }
        p += n;
    }
    return vr_buf_detach(&b);
}

/* The route's pattern with its parameters put in. */
static char *filled(const struct vr_req *r)
{
    struct vr_buf b = VR_BUF_INIT;
    int k = 0;

    vr_buf_init(&b);
    for (const char *p = r->route->pattern; *p;) {
        if (strncmp(p, "{}", 2) == 0) {
            FUZZ_CHECK(k < VR_MAX_PARAMS && r->params[k]);
            vr_buf_adds(&b, r->params[k++]);
            p += 2;
        } else {
            vr_buf_add(&b, p++, 1);
        }
    }
    for (; k < VR_MAX_PARAMS; k++)
        FUZZ_CHECK(!r->params[k]);
    return vr_buf_detach(&b);
}

/* Whether the normalized path has the pattern's shape: the same number of
 * segments, literal ones equal, "{}" ones anything. */
static bool shape_matches(const char *pattern, const char *norm)
{
    const char *p = pattern, *q = norm;

    while (*p && *q) {
        size_t pn, qn;
        p++;
        q++;
        pn = strcspn(p, "/");
        qn = strcspn(q, "/");
        if (!(pn == 2 && strncmp(p, "{}", 2) == 0) &&
            (pn != qn || strncmp(p, q, pn) != 0))
            return false;
        p += pn;
        q += qn;
    }
    return !*p && !*q;
}

/* The route the table gives this request (first match wins), or NULL;
 * *path_known tells whether some route has this path. */
static const struct vr_route *ref_route(const char *method, const char *path,
                                        bool *path_known)
{
    char *norm = normalized(path);
    size_t nseg = 0;
    const struct vr_route *found = NULL;

    *path_known = false;
    for (const char *p = norm; *p; p++)
        nseg += *p == '/';
    if (strlen(path) > 1024 || nseg > 16) {
        free(norm);
        return NULL;
    }
    for (size_t i = 0; i < vr_nroutes && !found; i++) {
        if (!shape_matches(vr_routes[i].pattern, norm))
            continue;
        *path_known = true;
        if (strcmp(vr_routes[i].method, method) == 0)
            found = &vr_routes[i];
    }
    free(norm);
    return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_req r;
    char *in = fuzz_str(data, size);
    char *nl = strchr(in, '\n');
    const struct vr_route *want_route;
    bool path_known;

    memset(&r, 0, sizeof(r));
    if (nl)
        *nl = '\0';
    vr_strlcpy(r.method, in, sizeof(r.method));
    r.path = nl ? nl + 1 : in + strlen(in);

    want_route = ref_route(r.method, r.path, &path_known);
    if (vr_http_route(&r, &err) == 0) {
        char *want = normalized(r.path), *got = filled(&r);

        FUZZ_CHECK(err.code == VR_E_NONE);
        FUZZ_CHECK(r.route == want_route);
        FUZZ_CHECK(strcmp(r.route->method, r.method) == 0);
        FUZZ_CHECK(strcmp(want, got) == 0);
        for (int k = 0; k < VR_MAX_PARAMS && r.params[k]; k++)
            FUZZ_CHECK(*r.params[k] && !strchr(r.params[k], '/') &&
                       r.params[k] >= r.segs &&
                       r.params[k] < r.segs + strlen(r.path));
        free(want);
        free(got);
    } else {
        FUZZ_CHECK(fuzz_err_ok(&err));
        FUZZ_CHECK(err.code == VR_E_NOT_FOUND || err.code == VR_E_METHOD);
        FUZZ_CHECK(!r.route && !want_route);
        FUZZ_CHECK((err.code == VR_E_METHOD) == path_known);
        if (err.code == VR_E_METHOD)
            FUZZ_CHECK(r.allow[0] && strlen(r.allow) < sizeof(r.allow));
    }
    free(r.segs);
    free(in);
    return 0;
}
