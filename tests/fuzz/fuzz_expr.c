/*
 * fuzz_expr.c - the scheduler's expression compiler and evaluator
 * (src/sched/vr_expr.h): vr_expr_compile as requirements and as rank,
 * vr_expr_eval_bool/num, vr_expr_uses, vr_expr_format, vr_expr_equal.
 *
 * The input is the source text, compiled against a fixed schema.  Checked:
 *
 *   - a refusal is VR_E_INVALID with a printable ASCII message, which is
 *     "column N: ..." with N within the text (in characters, plus one for
 *     its end), unless the text is too long;
 *   - a text compiles as a requirement or as a rank, never both;
 *   - an accepted expression, evaluated with values drawn from a generator
 *     seeded by the input (often the expression's own literals, so that
 *     comparisons go both ways), gives exactly what a reference evaluator
 *     gives:
 *     a plain tree-walking reading of the same text, written here from
 *     vr_expr.h (precedence, units, escapes, x / 0 = 0, never NaN from a
 *     rank), so constant folding, fused and flattened jumps are checked;
 *   - it reads exactly the attributes the reference names
 *     (vr_expr_uses), and no other: the string and list values of the
 *     others point into poisoned memory, which AddressSanitizer guards;
 *   - printed with vr_expr_format and compiled again, it is equal
 *     (vr_expr_equal) and evaluates the same (when the printed text is
 *     within the size limit: folded constants can print longer).
 */
#include <math.h>
#include <sanitizer/asan_interface.h>

#include "fuzz.h"
#include "vr_expr.h"

static const struct vr_expr_attr attrs[] = {
    {"FREE_MEMORY", VR_EXPR_NUM}, {"MEMORY", VR_EXPR_NUM},
    {"FREE_CPU", VR_EXPR_NUM},    {"CPUS", VR_EXPR_NUM},
    {"RUNNING_VMS", VR_EXPR_NUM}, {"CPU_MODEL", VR_EXPR_STR},
    {"HYPERVISOR", VR_EXPR_STR},  {"LABELS", VR_EXPR_LIST},
    {"HOST", VR_EXPR_STR},        {"CLUSTER_LABELS", VR_EXPR_LIST},
    {"CLUSTER", VR_EXPR_STR},
};
#define NATTRS VR_ARRAY_SIZE(attrs)
static const struct vr_expr_schema schema = {attrs, NATTRS};

/* Values for attributes an expression does not read: reading them is a
 * sanitizer report. */
static char poison[64] __attribute__((aligned(64)));

/* ---- a generator seeded by the input, which also draws the literals of
 * the expression, so that comparisons with them go both ways */

struct literals {
    double num[32];
    size_t nnum;
    char str[16][64];
    size_t nstr;
};

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static const char *const strs[] = {
    "", "ssd", "gpu", "Westmere", "Skylake", "kvm", "qemu", "node-1",
    "a", "say \"hi\"", "back\\slash", "h\xc3\xa9", "SSD",
};

static double random_num(uint64_t *s, const struct literals *lit)
{
    static const double nums[] = {0, 1, -1, 2, 3, 0.5, 4, 1024, 4096,
                                  8192, 1e308, -1e308, 1e-308};
    uint64_t r = rng_next(s);

    if (lit->nnum && r % 3 == 0) {
        double v = lit->num[(r >> 8) % lit->nnum];
        return (r >> 16) % 2 ? v : -v;
    }
    r >>= 2;
    switch (r % 8) {
    case 0:
        return -0.0;
    case 1:
        return (r >> 8) % 3 == 0 ? NAN : (r >> 8) % 3 == 1 ? INFINITY
                                                           : -INFINITY;
    case 2:
    case 3:
        return (double)((int64_t)(r >> 16) % 20000) / ((r >> 8) % 2 ? 1 : 8);
    default:
        return nums[(r >> 8) % VR_ARRAY_SIZE(nums)];
    }
}

struct valset {
    struct vr_expr_value v[NATTRS];
    const char *lists[NATTRS][4];
};

static const char *random_str(uint64_t *s, const struct literals *lit)
{
    uint64_t r = rng_next(s);

    if (lit->nstr && r % 2)
        return lit->str[(r >> 8) % lit->nstr];
    return strs[(r >> 8) % VR_ARRAY_SIZE(strs)];
}

static void random_values(struct valset *vs, uint64_t *s, const bool *used,
                          const struct literals *lit)
{
    memset(vs, 0, sizeof(*vs));
    for (size_t i = 0; i < NATTRS; i++) {
        struct vr_expr_value *v = &vs->v[i];
        uint64_t r = rng_next(s);

        if (!used[i]) {
            v->num = NAN;
            v->str = poison;
            v->list = (const char *const *)poison;
            v->nlist = 4;
            continue;
        }
        switch (attrs[i].type) {
        case VR_EXPR_NUM:
            v->num = random_num(s, lit);
            break;
        case VR_EXPR_STR:
            v->str = r % 7 == 0 ? NULL : random_str(s, lit);
            break;
        case VR_EXPR_LIST:
            v->nlist = r % 5;
            for (size_t j = 0; j < v->nlist; j++) {
                uint64_t q = rng_next(s);
                vs->lists[i][j] = q % 9 == 0 ? NULL : random_str(s, lit);
            }
            v->list = v->nlist || r % 2 ? vs->lists[i] : NULL;
            break;
        }
    }
}

/* ---- the reference: a tree-walking evaluator of a text that compiled
 * (so it needs no error handling) */

enum { R_NUM, R_STR, R_LIST, R_BOOL };

struct rv {
    int type;
    double n; /* numbers, and booleans as 0 and 1 */
    const char *s;
    const struct vr_expr_value *l;
};

struct ref {
    const char *p;
    const struct vr_expr_value *vals;
    bool used[NATTRS];
    char arena[VR_EXPR_MAX_SIZE + 1]; /* decoded string literals */
    size_t narena;
    struct literals *lit; /* if not NULL, gets the literals */
};

static void r_skip(struct ref *r)
{
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
        r->p++;
}

static bool r_word_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* Consume `tok` if the text continues with it. */
static bool r_accept(struct ref *r, const char *tok)
{
    size_t n = strlen(tok);

    r_skip(r);
    if (strncmp(r->p, tok, n) != 0)
        return false;
    if (r_word_char(tok[0]) && r_word_char(r->p[n]))
        return false;
    r->p += n;
    return true;
}

static bool r_has(const struct vr_expr_value *v, const char *s)
{
    for (size_t i = 0; v->list && i < v->nlist; i++)
        if (v->list[i] && strcmp(v->list[i], s) == 0)
            return true;
    return false;
}

static struct rv r_or(struct ref *r);

static struct rv r_primary(struct ref *r)
{
    struct rv v = {0};

    r_skip(r);
    if (*r->p == '(') {
        r->p++;
        v = r_or(r);
        r_skip(r);
        FUZZ_CHECK(*r->p == ')');
        r->p++;
    } else if (*r->p >= '0' && *r->p <= '9') {
        char *end;
        v.type = R_NUM;
        v.n = strtod(r->p, &end);
        FUZZ_CHECK(end > r->p && end[-1] != '.');
        r->p = end;
        switch (*r->p) {
        case 'K':
            v.n /= 1024;
            r->p++;
            break;
        case 'M':
            r->p++;
            break;
        case 'G':
            v.n *= 1024;
            r->p++;
            break;
        case 'T':
            v.n *= 1048576;
            r->p++;
            break;
        }
        if (r->lit && r->lit->nnum < VR_ARRAY_SIZE(r->lit->num))
            r->lit->num[r->lit->nnum++] = v.n;
    } else if (*r->p == '"') {
        v.type = R_STR;
        v.s = r->arena + r->narena;
        for (r->p++; *r->p != '"'; r->p++) {
            if (*r->p == '\\')
                r->p++;
            r->arena[r->narena++] = *r->p;
        }
        r->arena[r->narena++] = '\0';
        r->p++;
        if (r->lit && r->lit->nstr < VR_ARRAY_SIZE(r->lit->str))
            snprintf(r->lit->str[r->lit->nstr++], sizeof(r->lit->str[0]),
                     "%s", v.s);
    } else {
        const char *start = r->p;
        size_t i;
        while (r_word_char(*r->p))
            r->p++;
        for (i = 0; i < NATTRS; i++)
            if (strlen(attrs[i].name) == (size_t)(r->p - start) &&
                memcmp(attrs[i].name, start, (size_t)(r->p - start)) == 0)
                break;
        FUZZ_CHECK(i < NATTRS);
        r->used[i] = true;
        v.type = (int)attrs[i].type;
        v.n = r->vals[i].num;
        v.s = r->vals[i].str ? r->vals[i].str : "";
        v.l = &r->vals[i];
    }
    return v;
}

static struct rv r_unary(struct ref *r)
{
    struct rv v;

    if (r_accept(r, "-")) {
        v = r_unary(r);
        v.n = -v.n;
        return v;
    }
    return r_primary(r);
}

static struct rv r_prod(struct ref *r)
{
    struct rv v = r_unary(r), w;

    for (;;) {
        if (r_accept(r, "*")) {
            w = r_unary(r);
            v.n = v.n * w.n;
        } else if (r_accept(r, "/")) {
            w = r_unary(r);
            v.n = w.n == 0 ? 0 : v.n / w.n;
        } else {
            return v;
        }
    }
}

static struct rv r_sum(struct ref *r)
{
    struct rv v = r_prod(r), w;

    for (;;) {
        if (r_accept(r, "+")) {
            w = r_prod(r);
            v.n = v.n + w.n;
        } else if (r_accept(r, "-")) {
            w = r_prod(r);
            v.n = v.n - w.n;
        } else {
            return v;
        }
    }
}

static struct rv r_cmp(struct ref *r)
{
    static const char *const ops[] = {"==", "!=", "<=", ">=", "=",
                                      "<",  ">",  "has"};
    struct rv l = r_sum(r), rt, v = {R_BOOL, 0, NULL, NULL};
    size_t i;

    for (i = 0; i < VR_ARRAY_SIZE(ops); i++)
        if (r_accept(r, ops[i]))
            break;
    if (i == VR_ARRAY_SIZE(ops))
        return l;
    rt = r_sum(r);
    if (i == 7) {
        FUZZ_CHECK(l.type == R_LIST && rt.type == R_STR);
        v.n = r_has(l.l, rt.s);
    } else if (l.type == R_STR) {
        FUZZ_CHECK(rt.type == R_STR && (i == 0 || i == 1 || i == 4));
        v.n = (strcmp(l.s, rt.s) == 0) == (i != 1);
    } else {
        FUZZ_CHECK(l.type == R_NUM && rt.type == R_NUM);
        switch (i) {
        case 0:
        case 4:
            v.n = l.n == rt.n;
            break;
        case 1:
            v.n = l.n != rt.n;
            break;
        case 2:
            v.n = l.n <= rt.n;
            break;
        case 3:
            v.n = l.n >= rt.n;
            break;
        case 5:
            v.n = l.n < rt.n;
            break;
        default:
            v.n = l.n > rt.n;
            break;
        }
    }
    return v;
}

static struct rv r_not(struct ref *r)
{
    struct rv v;

    r_skip(r);
    if (r->p[0] == '!' && r->p[1] != '=') {
        r->p++;
        v = r_not(r);
        FUZZ_CHECK(v.type == R_BOOL);
        v.n = v.n == 0;
        return v;
    }
    return r_cmp(r);
}

static struct rv r_and(struct ref *r)
{
    struct rv v = r_not(r), w;

    while (r_accept(r, "&")) {
        w = r_not(r);
        FUZZ_CHECK(v.type == R_BOOL && w.type == R_BOOL);
        v.n = v.n != 0 && w.n != 0;
    }
    return v;
}

static struct rv r_or(struct ref *r)
{
    struct rv v = r_and(r), w;

    while (r_accept(r, "|")) {
        w = r_and(r);
        FUZZ_CHECK(v.type == R_BOOL && w.type == R_BOOL);
        v.n = v.n != 0 || w.n != 0;
    }
    return v;
}

/* The reference value of `src` (known to compile), NaN-free for a rank;
 * used[] gets the attributes it names and lit its literals. */
static double ref_eval(const char *src, const struct vr_expr_value *vals,
                       bool want_bool, bool *used, struct literals *lit)
{
    struct ref *r = vr_calloc(1, sizeof(*r));
    struct rv v;

    r->p = src;
    r->vals = vals;
    r->lit = lit;
    v = r_or(r);
    r_skip(r);
    FUZZ_CHECK(*r->p == '\0');
    FUZZ_CHECK(v.type == (want_bool ? R_BOOL : R_NUM));
    if (used)
        memcpy(used, r->used, sizeof(r->used));
    free(r);
    return want_bool ? (v.n != 0) : isnan(v.n) ? 0 : v.n;
}

/* ---- checks */

static void check_refusal(const char *src, const struct vr_error *err)
{
    size_t chars = 0;
    unsigned long col;
    char *end;

    FUZZ_CHECK(fuzz_err_ok(err) && err->code == VR_E_INVALID);
    for (const char *p = err->msg; *p; p++)
        FUZZ_CHECK(*p >= ' ' && *p < 0x7f);
    if (strlen(src) > VR_EXPR_MAX_SIZE) {
        FUZZ_CHECK(strcmp(err->msg, "expression too long (more than 4096 "
                                    "bytes)") == 0);
        return;
    }
    FUZZ_CHECK(strncmp(err->msg, "column ", 7) == 0);
    col = strtoul(err->msg + 7, &end, 10);
    FUZZ_CHECK(end[0] == ':' && end[1] == ' ' && end[2] != '\0');
    for (const char *p = src; *p; p++)
        chars += ((unsigned char)*p & 0xC0) != 0x80;
    FUZZ_CHECK(col >= 1 && col <= chars + 1);
}

static double eval(const struct vr_expr *e, const struct vr_expr_value *vals)
{
    double v = 0;
    bool b = false;

    if (vr_expr_is_bool(e)) {
        FUZZ_CHECK(vr_expr_eval_bool(e, vals, &b) == 0);
        FUZZ_CHECK(vr_expr_eval_num(e, vals, &v) == -1);
        return b;
    }
    FUZZ_CHECK(vr_expr_eval_num(e, vals, &v) == 0);
    FUZZ_CHECK(vr_expr_eval_bool(e, vals, &b) == -1);
    FUZZ_CHECK(!isnan(v));
    return v;
}

static bool same(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static void check_accepted(const char *src, struct vr_expr *e, uint64_t seed)
{
    bool want_bool = vr_expr_is_bool(e), used[NATTRS], all[NATTRS];
    struct vr_error err = VR_ERROR_INIT;
    struct vr_expr *again = NULL;
    struct valset *vs = vr_malloc(sizeof(*vs));
    struct literals *lit = vr_calloc(1, sizeof(*lit));
    char *text;

    FUZZ_CHECK(strlen(src) <= VR_EXPR_MAX_SIZE);
    /* the attributes the reference names are the ones the code reads */
    for (size_t i = 0; i < NATTRS; i++)
        all[i] = true;
    random_values(vs, &seed, all, lit);
    ref_eval(src, vs->v, want_bool, used, lit);
    for (size_t i = 0; i < NATTRS; i++)
        FUZZ_CHECK(vr_expr_uses(e, i) == used[i]);
    FUZZ_CHECK(!vr_expr_uses(e, NATTRS));

    text = vr_expr_format(e, &schema);
    FUZZ_CHECK(text != NULL);
    if (strlen(text) <= VR_EXPR_MAX_SIZE) {
        again = vr_expr_compile(text, &schema, want_bool, &err);
        if (!again)
            fprintf(stderr, "'%s' printed as '%s': %s\n", src, text, err.msg);
        FUZZ_CHECK(again != NULL);
        FUZZ_CHECK(vr_expr_equal(e, again) && vr_expr_equal(again, e));
    }

    for (int round = 0; round < 8; round++) {
        double got, want;

        random_values(vs, &seed, used, lit);
        got = eval(e, vs->v);
        want = ref_eval(src, vs->v, want_bool, NULL, NULL);
        if (!same(got, want))
            fprintf(stderr, "'%s': %.17g, the reference %.17g\n", src, got,
                    want);
        FUZZ_CHECK(same(got, want));
        if (again)
            FUZZ_CHECK(same(eval(again, vs->v), got));
    }
    vr_expr_free(again);
    free(text);
    free(vs);
    free(lit);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ASAN_POISON_MEMORY_REGION(poison, sizeof(poison));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = fuzz_str(data, size);
    struct vr_error err_bool = VR_ERROR_INIT, err_num = VR_ERROR_INIT;
    struct vr_expr *req = vr_expr_compile(src, &schema, true, &err_bool);
    struct vr_expr *rank = vr_expr_compile(src, &schema, false, &err_num);
    uint64_t seed = 14695981039346656037ULL; /* FNV-1a of the input */

    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 1099511628211ULL;
    FUZZ_CHECK(!(req && rank));
    if (req)
        check_accepted(src, req, seed);
    else
        check_refusal(src, &err_bool);
    if (rank)
        check_accepted(src, rank, seed);
    else
        check_refusal(src, &err_num);
    vr_expr_free(req);
    vr_expr_free(rank);
    free(src);
    return 0;
}
