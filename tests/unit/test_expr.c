/* Requirements and rank expressions (vr_expr.h): values, errors with their
 * columns, printing, and the cost of one evaluation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "vr_expr.h"
#include "vr_util.h"

enum {
    A_FREE_MEMORY,
    A_MEMORY,
    A_FREE_CPU,
    A_CPUS,
    A_RUNNING_VMS,
    A_CPU_MODEL,
    A_HYPERVISOR,
    A_LABELS,
    A_HOST,
    A__LAST
};

static const struct vr_expr_attr attrs[] = {
    [A_FREE_MEMORY] = {"FREE_MEMORY", VR_EXPR_NUM},
    [A_MEMORY] = {"MEMORY", VR_EXPR_NUM},
    [A_FREE_CPU] = {"FREE_CPU", VR_EXPR_NUM},
    [A_CPUS] = {"CPUS", VR_EXPR_NUM},
    [A_RUNNING_VMS] = {"RUNNING_VMS", VR_EXPR_NUM},
    [A_CPU_MODEL] = {"CPU_MODEL", VR_EXPR_STR},
    [A_HYPERVISOR] = {"HYPERVISOR", VR_EXPR_STR},
    [A_LABELS] = {"LABELS", VR_EXPR_LIST},
    [A_HOST] = {"HOST", VR_EXPR_STR},
};
static const struct vr_expr_schema schema = {attrs, A__LAST};

/* Host 0: a big SSD host with a GPU; host 1: a small, empty, old one. */
static const char *const labels0[] = {"ssd", "gpu", "say \"hi\"",
                                      "back\\slash", NULL, "node-1"};
static struct vr_expr_value hosts[2][A__LAST] = {
    {
        [A_FREE_MEMORY] = {.num = 8192},
        [A_MEMORY] = {.num = 16384},
        [A_FREE_CPU] = {.num = 250},
        [A_CPUS] = {.num = 8},
        [A_RUNNING_VMS] = {.num = 3},
        [A_CPU_MODEL] = {.str = "Skylake"},
        [A_HYPERVISOR] = {.str = "kvm"},
        [A_LABELS] = {.list = labels0, .nlist = 6},
        [A_HOST] = {.str = "node-1"},
    },
    {
        [A_FREE_MEMORY] = {.num = 2048},
        [A_MEMORY] = {.num = 4096},
        [A_FREE_CPU] = {.num = 0},
        [A_CPUS] = {.num = 2},
        [A_RUNNING_VMS] = {.num = 0},
        [A_CPU_MODEL] = {.str = "Westmere"},
        [A_HYPERVISOR] = {.str = "qemu"},
        [A_LABELS] = {.list = NULL, .nlist = 0},
        [A_HOST] = {.str = NULL}, /* reads as "" */
    },
};

struct good {
    const char *src;
    bool want_bool;
    double want[2]; /* on host 0 and host 1; booleans as 0 and 1 */
};

static const struct good goods[] = {
    /* the examples */
    {"FREE_MEMORY > 4G & LABELS has \"ssd\" & CPU_MODEL != \"Westmere\"",
     true, {1, 0}},
    {"-RUNNING_VMS", false, {-3, 0}},
    {"FREE_CPU", false, {250, 0}},
    /* arithmetic and its precedence */
    {"1 + 2 * 3", false, {7, 7}},
    {"(1 + 2) * 3", false, {9, 9}},
    {"10 - 4 - 3", false, {3, 3}},
    {"2 * 3 - 4 / 2", false, {4, 4}},
    {"100 / 10 / 5", false, {2, 2}},
    {"CPUS * 2 + RUNNING_VMS", false, {19, 4}},
    {"CPUS * (2 + RUNNING_VMS)", false, {40, 4}},
    {"FREE_MEMORY / 1024 - RUNNING_VMS * 2", false, {2, 2}},
    {"0.1 + 0.2", false, {0.1 + 0.2, 0.1 + 0.2}},
    {"007.50", false, {7.5, 7.5}},
    /* unary minus */
    {"-2 * 3", false, {-6, -6}},
    {"- -2", false, {2, 2}},
    {"--RUNNING_VMS", false, {3, 0}},
    {"-(1 + 2)", false, {-3, -3}},
    {"2 - -1", false, {3, 3}},
    {"-CPUS * -2", false, {16, 4}},
    {"-FREE_CPU / CPUS", false, {-31.25, 0}},
    /* units: sizes in MiB */
    {"4G", false, {4096, 4096}},
    {"1.5G", false, {1536, 1536}},
    {"512K", false, {0.5, 0.5}},
    {"2M", false, {2, 2}},
    {"1T", false, {1048576, 1048576}},
    {"0.5T + 1K", false, {524288 + 1.0 / 1024, 524288 + 1.0 / 1024}},
    {"FREE_MEMORY >= 8G", true, {1, 0}},
    {"MEMORY = 16G", true, {1, 0}},
    {"MEMORY / 1G", false, {16, 4}},
    /* division by zero is 0 */
    {"1 / 0", false, {0, 0}},
    {"CPUS / 0", false, {0, 0}},
    {"FREE_CPU / RUNNING_VMS", false, {250.0 / 3, 0}},
    {"CPUS / (RUNNING_VMS - RUNNING_VMS) = 0", true, {1, 1}},
    /* comparisons, constants on either side */
    {"RUNNING_VMS < 3", true, {0, 1}},
    {"RUNNING_VMS <= 3", true, {1, 1}},
    {"RUNNING_VMS > 0", true, {1, 0}},
    {"RUNNING_VMS >= 3", true, {1, 0}},
    {"RUNNING_VMS = 3", true, {1, 0}},
    {"RUNNING_VMS == 3", true, {1, 0}},
    {"RUNNING_VMS != 3", true, {0, 1}},
    {"3 > RUNNING_VMS", true, {0, 1}},
    {"3 >= RUNNING_VMS", true, {1, 1}},
    {"0 = RUNNING_VMS", true, {0, 1}},
    {"FREE_CPU > CPUS * 25", true, {1, 0}},
    {"1 < 2", true, {1, 1}},
    /* boolean precedence: ! below comparisons, & above | */
    {"1 < 2 | 1 > 2 & 0 > 1", true, {1, 1}},
    {"(1 < 2 | 1 > 2) & 0 > 1", true, {0, 0}},
    {"!1 > 2", true, {1, 1}},
    {"!(1 < 2) | 2 = 2", true, {1, 1}},
    {"!!(1 < 2)", true, {1, 1}},
    {"! RUNNING_VMS > 0 & CPUS > 1", true, {0, 1}},
    {"1 = 1 & 2 == 2 & 3 != 4", true, {1, 1}},
    {"CPUS > 4 | FREE_CPU > 100 & RUNNING_VMS > 100", true, {1, 0}},
    {"(CPUS > 4 | FREE_CPU > 100) & RUNNING_VMS > 100", true, {0, 0}},
    /* labels */
    {"LABELS has \"gpu\"", true, {1, 0}},
    {"LABELS has \"GPU\"", true, {0, 0}},
    {"!(LABELS has \"ssd\")", true, {0, 1}},
    {"! LABELS has \"ssd\"", true, {0, 1}},
    {"LABELS has HOST", true, {1, 0}},
    {"LABELS has \"\"", true, {0, 0}},
    /* strings and escapes */
    {"LABELS has \"say \\\"hi\\\"\"", true, {1, 0}},
    {"LABELS has \"back\\\\slash\"", true, {1, 0}},
    {"HOST = \"node-1\"", true, {1, 0}},
    {"HOST == \"node-1\"", true, {1, 0}},
    {"HOST = \"\"", true, {0, 1}},
    {"\"Skylake\" = CPU_MODEL", true, {1, 0}},
    {"CPU_MODEL = HYPERVISOR", true, {0, 0}},
    {"CPU_MODEL != HYPERVISOR", true, {1, 1}},
    {"\"a\" = \"a\"", true, {1, 1}},
    {"HYPERVISOR = \"kvm\" | HYPERVISOR = \"qemu\" & CPUS >= 2", true,
     {1, 1}},
    {"CPU_MODEL = \"h\xc3\xa9\"", true, {0, 0}},
    /* white space */
    {"\tFREE_CPU\n>\r\n100 ", true, {1, 0}},
    {"FREE_CPU>100&CPUS<16", true, {1, 0}},
};

static void test_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < VR_ARRAY_SIZE(goods); i++) {
        const struct good *g = &goods[i];
        struct vr_error err = VR_ERROR_INIT;
        struct vr_expr *e = vr_expr_compile(g->src, &schema, g->want_bool,
                                            &err);
        struct vr_expr *again;
        char *text;

        if (!e)
            fail_msg("'%s': %s", g->src, err.msg);
        assert_true(vr_expr_is_bool(e) == g->want_bool);
        for (int h = 0; h < 2; h++) {
            double got;
            bool b;

            if (g->want_bool) {
                assert_int_equal(vr_expr_eval_bool(e, hosts[h], &b), 0);
                got = b;
                assert_int_equal(vr_expr_eval_num(e, hosts[h], &got), -1);
                got = b;
            } else {
                assert_int_equal(vr_expr_eval_num(e, hosts[h], &got), 0);
                assert_int_equal(vr_expr_eval_bool(e, hosts[h], &b), -1);
            }
            if (got != g->want[h])
                fail_msg("'%s' on host %d: %.17g, expected %.17g", g->src, h,
                         got, g->want[h]);
        }
        /* printed, it compiles to the same code */
        text = vr_expr_format(e, &schema);
        again = vr_expr_compile(text, &schema, g->want_bool, &err);
        if (!again || !vr_expr_equal(e, again))
            fail_msg("'%s' printed as '%s': %s", g->src, text,
                     again ? "not equal" : err.msg);
        free(text);
        vr_expr_free(again);
        vr_expr_free(e);
    }
}

struct bad {
    const char *src;
    bool want_bool;
    const char *msg;
};

static const struct bad bads[] = {
    {"FRE_MEMORY > 4G", true,
     "column 1: unknown attribute 'FRE_MEMORY' (did you mean FREE_MEMORY?)"},
    {"FREE_MEMORY > 4G & CPU > 2", true,
     "column 20: unknown attribute 'CPU' (did you mean CPUS?)"},
    {"FREE_MEMORY > 4G & LABELS has \"ssd\" & CPU_MODLE != \"x\"", true,
     "column 39: unknown attribute 'CPU_MODLE' (did you mean CPU_MODEL?)"},
    {"RAM > 4G", true, "column 1: unknown attribute 'RAM'"},
    {"free_memory > 4", true, "column 1: unknown word 'free_memory' "
                              "(attribute names are upper case: FREE_MEMORY)"},
    {"Free_Cpu > 4", true, "column 1: unknown word 'Free_Cpu' "
                           "(attribute names are upper case: FREE_CPU)"},
    {"FREE_MEMORY > & LABELS has \"ssd\"", true,
     "column 15: expected a value after '>'"},
    {"FREE_MEMORY > 4G & FREE_CPU >= ", true,
     "column 32: expected a value after '>='"},
    {"FREE_MEMORY > 4G & (", true, "column 21: expected a value after '('"},
    {"", true, "column 1: expected a value"},
    {"   ", true, "column 4: expected a value"},
    {"& CPUS > 1", true, "column 1: expected a value"},
    {"()", true, "column 2: expected a value after '('"},
    {"CPU_MODEL < \"x\"", true, "column 11: cannot compare a string with '<'"},
    {"HOST >= \"x\"", true, "column 6: cannot compare a string with '>='"},
    {"FREE_MEMORY > \"4G\"", true,
     "column 13: cannot compare a number with a string"},
    {"HOST = 1", true, "column 6: cannot compare a string with a number"},
    {"HOST = LABELS", true, "column 6: cannot compare a string with a list"},
    {"LABELS = \"ssd\"", true, "column 8: cannot compare a list with '=' "
                               "(a list is tested with 'has')"},
    {"(CPUS > 1) = (CPUS > 2)", true,
     "column 12: cannot compare a boolean with '='"},
    {"HOST has \"x\"", true,
     "column 6: 'has' needs a list on its left, not a string"},
    {"LABELS has 3", true,
     "column 8: 'has' needs a string on its right, not a number"},
    {"LABELS has LABELS", true,
     "column 8: 'has' needs a string on its right, not a list"},
    {"FREE_CPU & RUNNING_VMS > 1", true,
     "column 10: '&' needs a boolean on its left, not a number"},
    {"RUNNING_VMS > 1 | FREE_CPU", true,
     "column 17: '|' needs a boolean on its right, not a number"},
    {"!FREE_CPU", true, "column 1: '!' needs a boolean, not a number"},
    {"-HOST", false, "column 1: '-' needs a number, not a string"},
    {"-(CPUS > 1)", false, "column 1: '-' needs a number, not a boolean"},
    {"HOST + 1", false,
     "column 6: '+' needs a number on its left, not a string"},
    {"1 * LABELS", false,
     "column 3: '*' needs a number on its right, not a list"},
    {"FREE_CPU", true, "column 1: a requirements expression must be a "
                       "boolean, not a number"},
    {"  LABELS", true, "column 3: a requirements expression must be a "
                       "boolean, not a list (a list is tested with 'has')"},
    {"FREE_CPU > 1", false,
     "column 1: a rank expression must be a number, not a boolean"},
    {"HOST", false,
     "column 1: a rank expression must be a number, not a string"},
    {"(FREE_CPU > 1", true,
     "column 14: expected ')' to close the '(' at column 1"},
    {"((FREE_CPU > 1) | CPUS > 2 & (CPUS < 4)", true,
     "column 40: expected ')' to close the '(' at column 1"},
    {"FREE_CPU > 1)", true, "column 13: unmatched ')'"},
    {"FREE_CPU > 1 RUNNING_VMS", true,
     "column 14: expected an operator after '1', found 'RUNNING_VMS'"},
    {"FREE_CPU > 1 \"x\"", true,
     "column 14: expected an operator after '1', found a string"},
    {"LABELS HAS \"x\"", true,
     "column 8: expected an operator after 'LABELS', found 'HAS' "
     "(the operator is 'has', in lower case)"},
    {"FREE_CPU > 1 AND CPUS > 2", true,
     "column 14: expected an operator after '1', found 'AND' (use '&')"},
    {"FREE_CPU > 1 and CPUS > 2", true,
     "column 14: unknown word 'and' (use '&')"},
    {"not FREE_CPU > 1", true, "column 1: unknown word 'not' (use '!')"},
    {"FREE_CPU > 1 && CPUS > 2", true,
     "column 14: '&&' is not an operator; use '&'"},
    {"FREE_CPU > 1 || CPUS > 2", true,
     "column 14: '||' is not an operator; use '|'"},
    {"1 < 2 < 3", true,
     "column 7: comparisons do not chain; join them with '&'"},
    {"CPU_MODEL = \"Westmere\" = \"x\"", true,
     "column 24: comparisons do not chain; join them with '&'"},
    {"HOST = \"abc", true, "column 8: unterminated string"},
    {"HOST = \"abc\\", true, "column 8: unterminated string"},
    {"HOST = \"a\\nb\"", true, "column 10: unknown escape '\\n' in a string "
                               "(only \\\" and \\\\ are allowed)"},
    {"HOST = \"a\tb\"", true, "column 10: control character in a string"},
    {"FREE_MEMORY > 4GB", true,
     "column 16: unknown size unit 'GB' (use K, M, G or T)"},
    {"FREE_MEMORY > 4g", true,
     "column 16: unknown size unit 'g' (use K, M, G or T)"},
    {"FREE_MEMORY > 4 G", true,
     "column 17: expected an operator after '4', found 'G' (a unit follows "
     "the digits without a space)"},
    {"FREE_MEMORY > 4.", true, "column 17: expected a digit after '.'"},
    {"FREE_MEMORY > 4.G", true, "column 17: expected a digit after '.'"},
    {"FREE_MEMORY > .5", true, "column 15: unexpected character '.'"},
    {"FREE_MEMORY > 4 # x", true, "column 17: unexpected character '#'"},
    {"CPUS > 1 \x01", true, "column 10: unexpected byte 0x01"},
    {"CPUS > 1 \xc3\xa9", true, "column 10: unexpected byte 0xC3"},
    /* columns count characters, not bytes */
    {"HOST = \"\xc3\xa9\" & CPUS <", true,
     "column 20: expected a value after '<'"},
    {"HOST = \"\xe2\x82\xac\xe2\x82\xac\" & CPUS < \"x\"", true,
     "column 20: cannot compare a number with a string"},
};

static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < VR_ARRAY_SIZE(bads); i++) {
        const struct bad *b = &bads[i];
        struct vr_error err = VR_ERROR_INIT;
        struct vr_expr *e = vr_expr_compile(b->src, &schema, b->want_bool,
                                            &err);
        if (e)
            fail_msg("'%s' compiled", b->src);
        assert_int_equal(err.code, VR_E_INVALID);
        if (strcmp(err.msg, b->msg) != 0)
            fail_msg("'%s':\n  got      %s\n  expected %s", b->src, err.msg,
                     b->msg);
    }
}

/* Compile `src` and return the message, or "" if it compiled. */
static const char *compile_msg(const char *src, bool want_bool)
{
    static struct vr_error err;
    struct vr_expr *e;

    vr_err_clear(&err);
    e = vr_expr_compile(src, &schema, want_bool, &err);
    if (e) {
        vr_expr_free(e);
        return "";
    }
    return err.msg;
}

static char *repeat(const char *head, const char *unit, int n,
                    const char *tail)
{
    struct vr_buf b = VR_BUF_INIT;

    vr_buf_adds(&b, head);
    for (int i = 0; i < n; i++)
        vr_buf_adds(&b, unit);
    vr_buf_adds(&b, tail);
    return vr_buf_detach(&b);
}

static void test_limits(void **state)
{
    char *s, *open, *close;

    (void)state;
    /* size: 4096 bytes are fine, 4097 are not */
    s = repeat("CPUS > 1", " ", 4096 - 8, "");
    assert_string_equal(compile_msg(s, true), "");
    free(s);
    s = repeat("CPUS > 1", " ", 4097 - 8, "");
    assert_string_equal(compile_msg(s, true),
                        "expression too long (more than 4096 bytes)");
    free(s);

    /* nesting: parentheses */
    open = repeat("", "(", 64, "CPUS > 1");
    s = repeat(open, ")", 64, "");
    assert_string_equal(compile_msg(s, true), "");
    free(s);
    free(open);
    open = repeat("", "(", 65, "CPUS > 1");
    s = repeat(open, ")", 65, "");
    assert_string_equal(compile_msg(s, true),
                        "column 65: expression nested too deeply (more than "
                        "64 levels)");
    free(s);
    free(open);
    /* ... prefix operators, and both */
    s = repeat("", "!", 64, "(CPUS > 1)");
    assert_string_equal(compile_msg(s, true),
                        "column 65: expression nested too deeply (more than "
                        "64 levels)");
    free(s);
    s = repeat("", "!", 64, "CPUS > 1");
    assert_string_equal(compile_msg(s, true), "");
    free(s);
    s = repeat("", "-", 65, "CPUS");
    assert_string_equal(compile_msg(s, false),
                        "column 65: expression nested too deeply (more than "
                        "64 levels)");
    free(s);
    /* a '-' before a number is the number's sign, not a level */
    s = repeat("", "-", 65, "5");
    assert_string_equal(compile_msg(s, false), "");
    free(s);
    open = repeat("", "(-", 32, "CPUS");
    close = repeat(open, ")", 32, "");
    assert_string_equal(compile_msg(close, false), "");
    free(close);
    free(open);
    open = repeat("-", "(-", 32, "CPUS");
    close = repeat(open, ")", 32, "");
    assert_string_equal(compile_msg(close, false),
                        "column 65: expression nested too deeply (more than "
                        "64 levels)");
    free(close);
    free(open);

    /* nodes: 512 ones and 511 '+' are 1023; 513 ones make 1025, the last
     * at column 1025 */
    s = repeat("1", "+1", 511, "");
    assert_string_equal(compile_msg(s, false), "");
    free(s);
    s = repeat("1", "+1", 512, "");
    assert_string_equal(compile_msg(s, false),
                        "column 1025: expression too large (more than 1024 "
                        "values and operators)");
    free(s);
    s = repeat("CPUS > 1", " & CPUS > 1", 146, ""); /* 147 * 3 + 146 */
    assert_string_equal(compile_msg(s, true), "");
    free(s);

    /* numbers: finite only */
    s = repeat("1", "0", 400, "");
    assert_string_equal(compile_msg(s, false), "column 1: number too large");
    free(s);
    s = repeat("1", "0", 303, "T"); /* 1e303 * 2^20 */
    assert_string_equal(compile_msg(s, false), "column 1: number too large");
    free(s);
    s = repeat("1", "0", 300, "");
    assert_string_equal(compile_msg(s, false), "");
    free(s);

    /* NULL source */
    assert_string_equal(compile_msg(NULL, true), "no expression");
}

static void test_used(void **state)
{
    struct vr_expr *e = vr_expr_compile(
        "FREE_MEMORY > 4G & LABELS has \"ssd\" | HOST = CPU_MODEL", &schema,
        true, NULL);
    struct vr_expr *r = vr_expr_compile("-RUNNING_VMS", &schema, false, NULL);
    bool used[A__LAST] = {false};

    (void)state;
    assert_non_null(e);
    assert_non_null(r);
    for (size_t i = 0; i < A__LAST; i++)
        assert_true(vr_expr_uses(e, i) ==
                    (i == A_FREE_MEMORY || i == A_LABELS || i == A_HOST ||
                     i == A_CPU_MODEL));
    assert_false(vr_expr_uses(e, A__LAST));
    assert_false(vr_expr_uses(e, 100000));
    vr_expr_mark_used(e, used);
    vr_expr_mark_used(r, used);
    for (size_t i = 0; i < A__LAST; i++)
        assert_true(used[i] == (i == A_FREE_MEMORY || i == A_LABELS ||
                                i == A_HOST || i == A_CPU_MODEL ||
                                i == A_RUNNING_VMS));
    vr_expr_free(e);
    vr_expr_free(r);

    /* no attribute: the values may be NULL */
    e = vr_expr_compile("1 < 2", &schema, true, NULL);
    assert_non_null(e);
    {
        bool b = false;
        assert_int_equal(vr_expr_eval_bool(e, NULL, &b), 0);
        assert_true(b);
    }
    vr_expr_free(e);
    vr_expr_free(NULL);
}

/* NaN attribute values compare false (but !=), a rank is never NaN. */
static void test_nan(void **state)
{
    struct vr_expr_value v[A__LAST] = {{0}};
    static const struct {
        const char *src;
        bool want_bool;
        double want;
    } rows[] = {
        {"FREE_MEMORY > 1", true, 0}, {"FREE_MEMORY <= 1", true, 0},
        {"FREE_MEMORY = FREE_MEMORY", true, 0},
        {"FREE_MEMORY != 1", true, 1}, {"!(FREE_MEMORY > 1)", true, 1},
        {"FREE_MEMORY", false, 0},     {"FREE_MEMORY + 1", false, 0},
        {"MEMORY - MEMORY", false, 0}, {"MEMORY * 0", false, 0},
        {"MEMORY", false, INFINITY},   {"-MEMORY", false, -INFINITY},
        {"1 / MEMORY", false, 0},
    };

    (void)state;
    v[A_FREE_MEMORY].num = NAN;
    v[A_MEMORY].num = INFINITY;
    for (size_t i = 0; i < VR_ARRAY_SIZE(rows); i++) {
        struct vr_expr *e = vr_expr_compile(rows[i].src, &schema,
                                            rows[i].want_bool, NULL);
        double got;
        bool b;

        assert_non_null(e);
        if (rows[i].want_bool) {
            assert_int_equal(vr_expr_eval_bool(e, v, &b), 0);
            got = b;
        } else {
            assert_int_equal(vr_expr_eval_num(e, v, &got), 0);
        }
        if (!(got == rows[i].want))
            fail_msg("'%s': %g, expected %g", rows[i].src, got, rows[i].want);
        vr_expr_free(e);
    }
}

static void test_format(void **state)
{
    static const struct {
        const char *src, *want;
    } rows[] = {
        {"FREE_MEMORY > 4G", "FREE_MEMORY > 4096"},
        {"4G < FREE_MEMORY", "FREE_MEMORY > 4096"},
        {"(1 + 2) * CPUS", "3 * CPUS"},
        {"CPUS * (1 + 2)", "CPUS * 3"},
        {"CPUS - (1 - 2)", "CPUS - -1"},
        {"CPUS - (RUNNING_VMS - 2)", "CPUS - (RUNNING_VMS - 2)"},
        {"(CPUS - RUNNING_VMS) - 2", "CPUS - RUNNING_VMS - 2"},
        {"-(CPUS + 1)", "-(CPUS + 1)"},
        {"- -CPUS", "- -CPUS"},
        {"512K + 0.1", "0.6"},
        {"0.1 + 0.2", "0.30000000000000004"},
        {"1K", "0.0009765625"},
        {"100000000000000000000", "100000000000000000000"},
        {"0 - 0", "0"},
        {"-0", "-0"},
        {"((CPUS > 1))", "CPUS > 1"},
        {"CPUS > 1 & (CPUS < 4 | CPUS = 8)",
         "CPUS > 1 & (CPUS < 4 | CPUS = 8)"},
        {"CPUS > 1 & CPUS < 4 | CPUS = 8", "CPUS > 1 & CPUS < 4 | CPUS = 8"},
        {"(CPUS > 1 | CPUS < 4) & CPUS == 8",
         "(CPUS > 1 | CPUS < 4) & CPUS = 8"},
        {"!(CPUS > 1 & CPUS < 4)", "!(CPUS > 1 & CPUS < 4)"},
        {"!!(CPUS > 1)", "!!CPUS > 1"},
        {"LABELS has \"a\\\"b\\\\c\"", "LABELS has \"a\\\"b\\\\c\""},
        {"LABELS has HOST & \"x\" != HOST", "LABELS has HOST & HOST != \"x\""},
    };

    (void)state;
    for (size_t i = 0; i < VR_ARRAY_SIZE(rows); i++) {
        struct vr_error err = VR_ERROR_INIT;
        struct vr_expr *e;
        char *text;
        bool is_bool;

        is_bool = strpbrk(rows[i].src, "<>=!") || strstr(rows[i].src, "has");
        e = vr_expr_compile(rows[i].src, &schema, is_bool, &err);
        if (!e)
            fail_msg("'%s': %s", rows[i].src, err.msg);
        text = vr_expr_format(e, &schema);
        if (strcmp(text, rows[i].want) != 0)
            fail_msg("'%s' printed as '%s', expected '%s'", rows[i].src, text,
                     rows[i].want);
        free(text);
        vr_expr_free(e);
    }
}

/* ---- cost: no allocation, and well under a microsecond */

/* AddressSanitizer's allocation hooks (in gcc's and clang's runtime, not
 * in every version of their headers); absent without ASan. */
extern int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void *, size_t),
    void (*free_hook)(const volatile void *)) __attribute__((weak));

static volatile int counting;
static volatile long allocations;

static void on_malloc(const volatile void *p, size_t size)
{
    (void)p;
    (void)size;
    if (counting)
        allocations++;
}

static void on_free(const volatile void *p)
{
    (void)p;
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define EVALS 1000000

static void test_cost(void **state)
{
    const char *req = "FREE_MEMORY > 4G & LABELS has \"ssd\" & "
                      "CPU_MODEL != \"Westmere\" & FREE_CPU >= 100 & "
                      "RUNNING_VMS < 10";
    struct vr_expr *e = vr_expr_compile(req, &schema, true, NULL);
    struct vr_expr *r = vr_expr_compile("FREE_CPU / CPUS - RUNNING_VMS * 2",
                                        &schema, false, NULL);
    bool hooks = __sanitizer_install_malloc_and_free_hooks != NULL;
    double t0, t1, t2, sum = 0;
    long pass = 0;

    (void)state;
    assert_non_null(e);
    assert_non_null(r);
    if (hooks) {
        /* the hook sees allocations: one, to be sure */
        __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
        counting = 1;
        free(vr_malloc(16));
        counting = 0;
        assert_int_equal(allocations, 1);
        allocations = 0;
    }
    counting = 1;
    t0 = now_ns();
    for (int i = 0; i < EVALS; i++) {
        bool b;
        vr_expr_eval_bool(e, hosts[0], &b);
        pass += b;
    }
    t1 = now_ns();
    for (int i = 0; i < EVALS; i++) {
        double v;
        vr_expr_eval_num(r, hosts[0], &v);
        sum += v;
    }
    t2 = now_ns();
    counting = 0;

    assert_int_equal(pass, EVALS); /* every term evaluated */
    assert_true(sum > 0);
    printf("vr_expr: %.1f ns per evaluation of a 5-term requirement, "
           "%.1f ns of a 3-operator rank (%d each)\n",
           (t1 - t0) / EVALS, (t2 - t1) / EVALS, EVALS);
    if (hooks)
        printf("vr_expr: %ld allocations while evaluating\n", allocations);
    else
        printf("vr_expr: allocations not counted (no AddressSanitizer)\n");
    assert_int_equal(allocations, 0);
    assert_true((t1 - t0) / EVALS < 2000);
    assert_true((t2 - t1) / EVALS < 2000);
    vr_expr_free(e);
    vr_expr_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),   cmocka_unit_test(test_bad),
        cmocka_unit_test(test_limits), cmocka_unit_test(test_used),
        cmocka_unit_test(test_nan),    cmocka_unit_test(test_format),
        cmocka_unit_test(test_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
