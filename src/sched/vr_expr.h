/*
 * vr_expr.h - the scheduler's requirements and rank expressions.
 *
 * A small language over the attributes of a candidate host (and its
 * cluster): a requirements expression is a boolean that a host must
 * satisfy, a rank expression a number by which the candidates that pass
 * are ordered.  docs/scheduler.md is the user's reference; in short:
 *
 *     FREE_MEMORY > 4G & LABELS has "ssd" & CPU_MODEL != "Westmere"
 *     -RUNNING_VMS
 *
 *     or     := and ('|' and)*                       lowest precedence
 *     and    := not ('&' not)*
 *     not    := '!' not | cmp
 *     cmp    := sum [('=' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'has') sum]
 *     sum    := prod (('+' | '-') prod)*
 *     prod   := unary (('*' | '/') unary)*
 *     unary  := '-' unary | primary
 *     primary:= NUMBER | STRING | ATTRIBUTE | '(' or ')'
 *
 * ATTRIBUTE is [A-Z][A-Z0-9_]*, a name from the caller's schema.  NUMBER
 * is digits with an optional fraction (no exponent) and an optional size
 * unit K, M, G or T; sizes are in MiB (K = 1/1024, M = 1, G = 1024,
 * T = 1048576), so memory attributes must be given in MiB for
 * `FREE_MEMORY > 4G` to mean 4 GiB.  STRING is double-quoted, with \" and
 * \\ as its only escapes and no control characters.
 *
 * Types are checked when compiling: arithmetic (+ - * / and unary -)
 * on numbers; < <= > >= on numbers; = == != on two numbers or two strings
 * (= and == are the same operator); `LIST has STRING`; & | ! on booleans
 * (the results of comparisons and of `has`).  Comparisons do not chain.
 * A requirements expression must be a boolean, a rank expression a number.
 *
 * Evaluation never fails and never traps: numbers are IEEE doubles,
 * x / 0 is 0 (whatever x), & and | short-circuit, a NaN attribute value
 * compares false with everything but `!=`, and the result of
 * vr_expr_eval_num() is never NaN (a NaN result, as from inf - inf, is 0).
 *
 * Limits on the source text (it comes from users, through the API):
 * VR_EXPR_MAX_SIZE bytes, VR_EXPR_MAX_NESTING levels of parentheses and
 * prefix operators (a '-' right before a number is part of the number
 * and does not count), VR_EXPR_MAX_NODES values and operators.
 *
 * Errors (VR_E_INVALID) read "column N: what is wrong", with N the 1-based
 * position in the source counted in characters (UTF-8 code points; a line
 * break counts as one), e.g.
 *
 *     column 17: expected a value after '>'
 *     column 1: unknown attribute 'FRE_MEMORY' (did you mean FREE_MEMORY?)
 *     column 11: cannot compare a string with '<'
 *
 * Messages are printable ASCII whatever the input.  Only "expression too
 * long" has no column.
 *
 * Speed: the source is compiled once into a compact stack bytecode
 * (attribute names resolved to indexes, constants folded, the common
 * `ATTRIBUTE op constant` forms fused into one instruction); evaluating it
 * allocates nothing, takes no lock and writes only to the caller's stack,
 * so one compiled expression may be evaluated from many threads at once.
 */
#ifndef VR_EXPR_H
#define VR_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include "vr_error.h"

#define VR_EXPR_MAX_SIZE 4096   /* bytes of source */
#define VR_EXPR_MAX_NESTING 64  /* parentheses and prefix operators */
#define VR_EXPR_MAX_NODES 1024  /* values and operators */
#define VR_EXPR_MAX_ATTRS 65535 /* attributes in a schema */

/* The type of an attribute.  A LIST is a list of strings (a host's
 * labels); it can only be the left side of `has`. */
enum vr_expr_type {
    VR_EXPR_NUM,
    VR_EXPR_STR,
    VR_EXPR_LIST,
};

/* One attribute an expression may name: `name` is [A-Z][A-Z0-9_]*. */
struct vr_expr_attr {
    const char *name;
    enum vr_expr_type type;
};

/* The attributes expressions may name, fixed by the caller (the
 * scheduler).  An attribute's index in `attrs` is its index in the value
 * arrays given to the evaluation functions.  The schema is only read by
 * vr_expr_compile() (and vr_expr_format()): it need not outlive the
 * compiled expression, but the value arrays must follow its order. */
struct vr_expr_schema {
    const struct vr_expr_attr *attrs;
    size_t nattrs;
};

/* A compiled expression: immutable, safe to evaluate from many threads. */
struct vr_expr;

/* Compile `src` (a NUL-terminated string) against `schema`.  `want_bool`:
 * true for a requirements expression (must be boolean), false for a rank
 * expression (must be a number).  Returns the compiled expression (the
 * caller frees it with vr_expr_free()), or NULL with `err` set
 * (VR_E_INVALID, "column N: ..." as above).  An empty or blank source is
 * an error ("expected a value"): a caller with no requirement does not
 * compile one. */
struct vr_expr *vr_expr_compile(const char *src,
                                const struct vr_expr_schema *schema,
                                bool want_bool, struct vr_error *err);

/* NULL-safe. */
void vr_expr_free(struct vr_expr *e);

/* Whether `e` is a requirements (boolean) expression. */
bool vr_expr_is_bool(const struct vr_expr *e);

/* The value of each attribute for one evaluation: an array indexed like
 * schema->attrs, of which only the member of the attribute's type is read,
 * and only for the attributes the expression uses (vr_expr_uses()).  A NULL
 * `str` reads as "".  `list` holds `nlist` strings (NULL entries are
 * skipped; `list` may be NULL when `nlist` is 0).  Nothing is retained. */
struct vr_expr_value {
    double num;
    const char *str;
    const char *const *list;
    size_t nlist;
};

/* Evaluate a requirements expression for one set of values.  Returns 0
 * with *out set, or -1 (and *out false) if `e` is a rank expression: that
 * is the only failure.  No allocation; `vals` may be NULL when the
 * expression uses no attribute. */
int vr_expr_eval_bool(const struct vr_expr *e, const struct vr_expr_value *vals,
                      bool *out);

/* Evaluate a rank expression.  Returns 0 with *out set (never NaN), or -1
 * (and *out 0) if `e` is a requirements expression. */
int vr_expr_eval_num(const struct vr_expr *e, const struct vr_expr_value *vals,
                     double *out);

/* Whether the expression reads attribute `index` (of its schema), so that
 * the caller computes only the values it needs.  False beyond the
 * schema. */
bool vr_expr_uses(const struct vr_expr *e, size_t index);

/* Set used[i] to true for every attribute the expression reads; other
 * entries are left as they are, so that the attributes of several
 * expressions can be gathered in one array of schema->nattrs bools. */
void vr_expr_mark_used(const struct vr_expr *e, bool *used);

/* The compiled expression as text in the language, with the fewest
 * parentheses and with folded constants (`FREE_MEMORY > 4G` prints as
 * `FREE_MEMORY > 4096`).  Compiled again with the same schema, the text
 * gives an expression equal to `e` (vr_expr_equal), unless it is longer
 * than VR_EXPR_MAX_SIZE (folded constants can print longer than they were
 * written).  `schema` must be the one `e` was compiled with.  The caller
 * frees the result. */
char *vr_expr_format(const struct vr_expr *e,
                     const struct vr_expr_schema *schema);

/* Whether two compiled expressions are the same code: same kind, same
 * instructions, same constants (numbers bit for bit). */
bool vr_expr_equal(const struct vr_expr *a, const struct vr_expr *b);

#endif
