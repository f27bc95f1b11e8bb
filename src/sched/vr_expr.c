/*
 * vr_expr.c - requirements and rank expressions: a one-pass compiler from
 * text to stack bytecode, and its interpreter.
 *
 * The parser is recursive descent, one function per precedence level
 * (vr_expr.h has the grammar); each returns the type of what it parsed and
 * emits its code as it goes, so there is no tree.  Type errors are found
 * as soon as an operator's operands are known.
 *
 * The code is a flat array of `struct ins` ending with OP_END; values live
 * on a stack of `union slot` in the evaluator's frame.  Booleans are the
 * numbers 0 and 1.  A chain `a & b & c` is
 *
 *         [a]  JF end  [b]  JF end  [c]  end:
 *
 * where JF jumps with the false value left as the result, or pops the true
 * one and falls through; `|` is the same with JT.  On emission:
 *
 *   - arithmetic on two constants is folded (when the result is finite), so
 *     `4G`, `1024 * 4` and `-2` are one OP_NUM;
 *   - a comparison or `has` between an attribute and a constant becomes one
 *     fused instruction (OP_GT_K ...), with the operator flipped when the
 *     constant is on the left;
 *   - a fused comparison followed by the JF of '&' (JT of '|') becomes one
 *     instruction that jumps itself (OP_GT_KF), so that the usual
 *     requirement, a conjunction of `ATTRIBUTE op constant`, runs one
 *     instruction per term.
 *
 * Folding and fusing only look at the last instructions, and only when
 * they are exactly the operands (the operands of arithmetic and
 * comparisons are numbers and strings, which never contain jumps, so no
 * jump lands between them).
 *
 * The interpreter is threaded (computed goto, a GNU C extension that gcc
 * and clang have): with one indirect jump per instruction body the branch
 * predictor learns each sequence, which a single switch jump defeats.  A
 * 5-term requirement takes some 15-20 ns.
 *
 * The stack depth is simulated while compiling; the limits on nesting
 * bound it far below EVAL_STACK, and compile refuses anything deeper, so
 * the evaluator needs no checks.
 */
#include "vr_expr.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vr_util.h"

#define EVAL_STACK 256

/* The types of subexpressions: the public ones and the booleans. */
enum {
    T_NUM = VR_EXPR_NUM,
    T_STR = VR_EXPR_STR,
    T_LIST = VR_EXPR_LIST,
    T_BOOL,
};

/* The instructions.  The nine comparisons come four times, in the same
 * order: on two stack values (OP_LT), and fused with an attribute and a
 * constant: as a value (OP_LT_K, vals[attr].num < k.num), as the left side
 * of '&' (OP_LT_KF: if false, push false and go to `jump`), and as the left
 * side of '|' (OP_LT_KT: if true, push true and go to `jump`). */
#define VR_EXPR_CMPS(X, s)                                                 \
    X(LT##s) X(LE##s) X(GT##s) X(GE##s) X(EQ##s) X(NE##s) X(SEQ##s)          \
    X(SNE##s) X(HAS##s)
#define VR_EXPR_OPS(X)                                                     \
    X(END)   /* the result is on top */                                    \
    X(NUM)   /* push k.num */                                              \
    X(STR)   /* push k.str */                                              \
    X(LOADN) /* push vals[attr].num */                                     \
    X(LOADS) /* push vals[attr].str */                                     \
    X(LOADL) /* push &vals[attr], a list */                                \
    X(NEG) X(NOT) X(ADD) X(SUB) X(MUL) X(DIV)                              \
    VR_EXPR_CMPS(X, ) VR_EXPR_CMPS(X, _K) VR_EXPR_CMPS(X, _KF)             \
    VR_EXPR_CMPS(X, _KT)                                                   \
    X(JF)    /* top false: go to `jump` (keeping it), else pop it */       \
    X(JT)    /* top true: go to `jump` (keeping it), else pop it */

enum op {
#define VR_X(name) OP_##name,
    VR_EXPR_OPS(VR_X)
#undef VR_X
    OP__LAST
};
#define FUSED (OP_LT_K - OP_LT)
#define FUSED_JF (OP_LT_KF - OP_LT)
#define FUSED_JT (OP_LT_KT - OP_LT)

/* OP_LT for OP_LT, OP_LT_K, OP_LT_KF and OP_LT_KT, and so on; other
 * instructions are their own. */
static enum op cmp_of(enum op op)
{
    if (op >= OP_LT_KT)
        return op <= OP_HAS_KT ? op - FUSED_JT : op;
    if (op >= OP_LT_KF)
        return op - FUSED_JF;
    if (op >= OP_LT_K)
        return op - FUSED;
    return op;
}

static bool is_fused(enum op op)
{
    return op >= OP_LT_K && op <= OP_HAS_KT;
}

/* Whether the instruction's k is a number (else a string or nothing). */
static bool has_num(enum op op)
{
    return op == OP_NUM || (is_fused(op) && cmp_of(op) <= OP_NE);
}

static bool has_str(enum op op)
{
    return op == OP_STR || (is_fused(op) && cmp_of(op) >= OP_SEQ);
}

struct ins {
    uint8_t op;
    uint16_t attr;
    uint32_t jump;
    union {
        double num;
        const char *str; /* into the expression's pool */
        size_t off;      /* while compiling: offset in the pool */
    } k;
};

struct vr_expr {
    bool is_bool;
    uint32_t ncode;
    size_t nattrs;  /* of the schema; bits in `used` */
    uint64_t *used; /* attributes read, one bit each */
    char *pool;     /* the string constants, NUL-terminated */
    struct ins code[];
};

/* ---- numbers, shared by the lexer and the printer */

/* The value of [0-9]+(\.[0-9]+)? (len bytes).  Exact (correctly rounded)
 * with no library call when the digits fit in 2^53 and the fraction in 22
 * digits (both factors are then exact doubles); otherwise strtod, which
 * reads '.' in the C locale that vireod runs in. */
static double decimal_value(const char *s, size_t len)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
                                   1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
                                   1e18, 1e19, 1e20, 1e21, 1e22};
    uint64_t m = 0;
    size_t frac = 0;
    bool in_frac = false, exact = true;
    char *copy;
    double v;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            in_frac = true;
            continue;
        }
        if (m > ((1ULL << 53) - 9) / 10)
            exact = false;
        else
            m = m * 10 + (uint64_t)(s[i] - '0');
        frac += in_frac;
    }
    if (exact && frac < VR_ARRAY_SIZE(pow10))
        return (double)m / pow10[frac];
    copy = vr_strndup(s, len);
    v = strtod(copy, NULL);
    free(copy);
    return v;
}

/* The shortest plain decimal (no exponent: the language has none) that
 * decimal_value() reads back as |v|, v finite.  out >= 400 bytes. */
static void format_decimal(double v, char *out, size_t size)
{
    char sci[40], digits[20];
    size_t nd = 0, n = 0;
    long exp10 = 0;

    v = fabs(v);
    if (v == 0 || !isfinite(v)) {
        snprintf(out, size, "0");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        char *e;

        snprintf(sci, sizeof(sci), "%.*e", prec - 1, v);
        e = strchr(sci, 'e');
        if (!e)
            break;
        nd = 0;
        for (char *p = sci; p < e && nd < sizeof(digits) - 1; p++)
            if (*p >= '0' && *p <= '9')
                digits[nd++] = *p;
        digits[nd] = '\0';
        exp10 = strtol(e + 1, NULL, 10);
        /* lay the digits out around the point */
        n = 0;
        if (exp10 < 0) {
            n += (size_t)snprintf(out + n, size - n, "0.");
            for (long z = 0; z < -exp10 - 1 && n + 1 < size; z++)
                out[n++] = '0';
            snprintf(out + n, size - n, "%s", digits);
        } else if ((size_t)exp10 + 1 >= nd) {
            n += (size_t)snprintf(out + n, size - n, "%s", digits);
            for (long z = 0; z < exp10 + 1 - (long)nd && n + 1 < size; z++)
                out[n++] = '0';
            out[n] = '\0';
        } else {
            snprintf(out, size, "%.*s.%s", (int)exp10 + 1, digits,
                     digits + exp10 + 1);
        }
        if (decimal_value(out, strlen(out)) == v)
            return;
    }
}

/* x / 0 is 0: never a trap, never an infinity from a zero count. */
static inline double arith(int op, double a, double b)
{
    switch (op) {
    case OP_ADD:
        return a + b;
    case OP_SUB:
        return a - b;
    case OP_MUL:
        return a * b;
    default:
        return b == 0 ? 0 : a / b;
    }
}

/* ---- compiler */

enum tok_kind {
    TK_END, TK_NUM, TK_STR, TK_IDENT, TK_OR, TK_AND, TK_NOT, TK_EQ, TK_NE,
    TK_LT, TK_LE, TK_GT, TK_GE, TK_HAS, TK_PLUS, TK_MINUS, TK_STAR,
    TK_SLASH, TK_LPAREN, TK_RPAREN,
};

struct tok {
    enum tok_kind kind;
    size_t pos, len; /* bytes of the source */
    double num;      /* TK_NUM */
    size_t str;      /* TK_STR: offset of the decoded text in the pool */
};

struct cc {
    const char *src;
    const struct vr_expr_schema *schema;
    struct vr_error *err;
    size_t pos;         /* the lexer's */
    struct tok tok;     /* the current token */
    struct tok prev;    /* the one before, if have_prev */
    bool have_prev;
    struct ins *code;
    size_t ncode, capcode;
    struct vr_buf pool;
    uint64_t *used;
    int nesting, nodes, sp, maxsp;
};

/* 1-based column of byte `pos`: UTF-8 code points before it, plus one. */
static size_t column(const struct cc *c, size_t pos)
{
    size_t col = 1;

    for (size_t i = 0; i < pos; i++)
        if (((unsigned char)c->src[i] & 0xC0) != 0x80)
            col++;
    return col;
}

static int cc_err(struct cc *c, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cc_err(struct cc *c, size_t pos, const char *fmt, ...)
{
    char msg[VR_ERROR_MSG_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vr_err(c->err, VR_E_INVALID, "column %zu: %s", column(c, pos),
                  msg);
}

static const char *type_name(int t)
{
    static const char *const names[] = {
        [T_NUM] = "a number", [T_STR] = "a string", [T_LIST] = "a list",
        [T_BOOL] = "a boolean"};
    return names[t];
}

/* A token as messages name it: quoted source text (ASCII for every token
 * but strings), "a string" or "the end". */
static const char *tok_desc(const struct cc *c, const struct tok *t,
                            char *buf, size_t size)
{
    if (t->kind == TK_END)
        return "the end";
    if (t->kind == TK_STR)
        return "a string";
    if (t->len > 32)
        snprintf(buf, size, "'%.32s...'", c->src + t->pos);
    else
        snprintf(buf, size, "'%.*s'", (int)t->len, c->src + t->pos);
    return buf;
}

static int toupper_ascii(int ch)
{
    return ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch;
}

/* Optimal string alignment distance (edits, transpositions), ignoring
 * case; both at most 64 bytes. */
static size_t edit_distance(const char *a, size_t na, const char *b,
                            size_t nb)
{
    size_t rows[3][65], *pp = rows[0], *p = rows[1], *cur = rows[2];

    for (size_t j = 0; j <= nb; j++)
        p[j] = j;
    for (size_t i = 1; i <= na; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            int ca = toupper_ascii(a[i - 1]), cb = toupper_ascii(b[j - 1]);
            size_t best = p[j - 1] + (ca != cb);
            if (p[j] + 1 < best)
                best = p[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ca == toupper_ascii(b[j - 2]) &&
                toupper_ascii(a[i - 2]) == cb && pp[j - 2] + 1 < best)
                best = pp[j - 2] + 1;
            cur[j] = best;
        }
        size_t *t = pp;
        pp = p;
        p = cur;
        cur = t;
    }
    return p[nb];
}

/* The schema attribute named by exactly s[0..len), or -1. */
static long find_attr(const struct cc *c, const char *s, size_t len)
{
    for (size_t i = 0; i < c->schema->nattrs; i++) {
        const char *name = c->schema->attrs[i].name;
        if (strncmp(name, s, len) == 0 && name[len] == '\0')
            return (long)i;
    }
    return -1;
}

/* A hint for a word that looks like an operator of other languages
 * ("and", "AND") or 'has' in the wrong case ('has' itself is lexed as the
 * operator and never gets here), or NULL. */
static const char *keyword_hint(const char *s, size_t len)
{
    static const struct {
        const char *word, *hint;
    } words[] = {
        {"and", " (use '&')"},
        {"or", " (use '|')"},
        {"not", " (use '!')"},
        {"has", " (the operator is 'has', in lower case)"},
    };

    for (size_t i = 0; i < VR_ARRAY_SIZE(words); i++)
        if (strlen(words[i].word) == len &&
            strncasecmp(words[i].word, s, len) == 0)
            return words[i].hint;
    return NULL;
}

/* A hint for an unknown word or attribute: " (did you mean X?)" and the
 * like, or "". */
static void word_hint(const struct cc *c, const char *s, size_t len,
                      char *buf, size_t size)
{
    const char *kw = keyword_hint(s, len);
    char upper[65];
    size_t best = SIZE_MAX;
    long found = -1;

    buf[0] = '\0';
    if (kw) {
        snprintf(buf, size, "%s", kw);
        return;
    }
    if (len >= sizeof(upper))
        return;
    for (size_t i = 0; i < len; i++)
        upper[i] = (char)toupper_ascii(s[i]);
    upper[len] = '\0';
    if (strncmp(upper, s, len) != 0)
        found = find_attr(c, upper, len);
    if (found >= 0) {
        snprintf(buf, size, " (attribute names are upper case: %s)",
                 c->schema->attrs[found].name);
        return;
    }
    for (size_t i = 0; i < c->schema->nattrs; i++) {
        const char *name = c->schema->attrs[i].name;
        size_t n = strlen(name), d, longer = n > len ? n : len;
        if (n >= sizeof(upper))
            continue;
        d = edit_distance(s, len, name, n);
        if (d < best && d * 3 <= longer) {
            best = d;
            found = (long)i;
        }
    }
    if (found >= 0)
        snprintf(buf, size, " (did you mean %s?)",
                 c->schema->attrs[found].name);
}

static bool is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_word(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           is_digit(ch) || ch == '_';
}

static int lex_number(struct cc *c, size_t p)
{
    const char *s = c->src;
    size_t q = p, u;
    double v;

    while (is_digit(s[q]))
        q++;
    if (s[q] == '.') {
        if (!is_digit(s[q + 1]))
            return cc_err(c, q + 1, "expected a digit after '.'");
        q++;
        while (is_digit(s[q]))
            q++;
    }
    v = decimal_value(s + p, q - p);
    for (u = q; is_word(s[u]); u++)
        ;
    if (u > q) {
        if (u - q != 1 || !strchr("KMGT", s[q]))
            return cc_err(c, q, "unknown size unit '%.*s' (use K, M, G or T)",
                          (int)(u - q > 32 ? 32 : u - q), s + q);
        v = s[q] == 'K'   ? v / 1024
            : s[q] == 'M' ? v
            : s[q] == 'G' ? v * 1024
                          : v * 1048576;
    }
    if (!isfinite(v))
        return cc_err(c, p, "number too large");
    c->tok.kind = TK_NUM;
    c->tok.num = v;
    c->tok.len = u - p;
    return 0;
}

static int lex_string(struct cc *c, size_t p)
{
    const char *s = c->src;
    size_t q = p + 1;

    c->tok.str = c->pool.len;
    for (;;) {
        unsigned char ch = (unsigned char)s[q];

        if (ch == '\0' || (ch == '\\' && s[q + 1] == '\0'))
            return cc_err(c, p, "unterminated string");
        if (ch == '"')
            break;
        if (ch == '\\') {
            unsigned char esc = (unsigned char)s[q + 1];
            if (esc != '"' && esc != '\\') {
                if (esc > ' ' && esc < 0x7f)
                    return cc_err(c, q, "unknown escape '\\%c' in a string "
                                  "(only \\\" and \\\\ are allowed)", esc);
                return cc_err(c, q, "unknown escape in a string (only \\\" "
                              "and \\\\ are allowed)");
            }
            vr_buf_add(&c->pool, &esc, 1);
            q += 2;
            continue;
        }
        if (ch < 0x20 || ch == 0x7f)
            return cc_err(c, q, "control character in a string");
        vr_buf_add(&c->pool, &ch, 1);
        q++;
    }
    vr_buf_add(&c->pool, "", 1);
    c->tok.kind = TK_STR;
    c->tok.len = q + 1 - p;
    return 0;
}

static int lex_word(struct cc *c, size_t p)
{
    const char *s = c->src;
    size_t q = p;
    bool ident = s[p] >= 'A' && s[p] <= 'Z';
    char hint[128];

    for (; is_word(s[q]); q++)
        if (s[q] >= 'a' && s[q] <= 'z')
            ident = false;
    c->tok.len = q - p;
    if (q - p == 3 && memcmp(s + p, "has", 3) == 0) {
        c->tok.kind = TK_HAS;
        return 0;
    }
    if (ident) {
        c->tok.kind = TK_IDENT;
        return 0;
    }
    word_hint(c, s + p, q - p, hint, sizeof(hint));
    return cc_err(c, p, "unknown word '%.*s%s'%s",
                  (int)(q - p > 64 ? 64 : q - p), s + p,
                  q - p > 64 ? "..." : "", hint);
}

/* Read the next token into c->tok (the current one becomes c->prev). */
static int lex(struct cc *c)
{
    static const struct {
        char text[3];
        enum tok_kind kind;
    } ops[] = {
        {"!=", TK_NE}, {"==", TK_EQ}, {"<=", TK_LE}, {">=", TK_GE},
        {"|", TK_OR},  {"&", TK_AND}, {"!", TK_NOT}, {"=", TK_EQ},
        {"<", TK_LT},  {">", TK_GT},  {"+", TK_PLUS}, {"-", TK_MINUS},
        {"*", TK_STAR}, {"/", TK_SLASH}, {"(", TK_LPAREN}, {")", TK_RPAREN},
    };
    const char *s = c->src;
    size_t p = c->pos;
    unsigned char ch;
    int rc = 0;

    if (c->tok.pos != SIZE_MAX) {
        c->prev = c->tok;
        c->have_prev = true;
    }
    while (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')
        p++;
    memset(&c->tok, 0, sizeof(c->tok));
    c->tok.pos = p;
    ch = (unsigned char)s[p];
    if (ch == '\0') {
        c->tok.kind = TK_END;
    } else if (is_digit(ch)) {
        rc = lex_number(c, p);
    } else if (ch == '"') {
        rc = lex_string(c, p);
    } else if (is_word(ch)) {
        rc = lex_word(c, p);
    } else if ((ch == '&' || ch == '|') && s[p + 1] == ch) {
        rc = cc_err(c, p, "'%c%c' is not an operator; use '%c'", ch, ch, ch);
    } else {
        size_t i;
        for (i = 0; i < VR_ARRAY_SIZE(ops); i++) {
            size_t n = strlen(ops[i].text);
            if (strncmp(s + p, ops[i].text, n) == 0) {
                c->tok.kind = ops[i].kind;
                c->tok.len = n;
                break;
            }
        }
        if (i == VR_ARRAY_SIZE(ops)) {
            if (ch > ' ' && ch < 0x7f)
                rc = cc_err(c, p, "unexpected character '%c'", ch);
            else
                rc = cc_err(c, p, "unexpected byte 0x%02X", ch);
        }
    }
    c->pos = p + c->tok.len;
    return rc;
}

/* ---- emission */

static struct ins *emit(struct cc *c, enum op op)
{
    struct ins *in;

    if (c->ncode == c->capcode) {
        c->capcode = c->capcode ? 2 * c->capcode : 64;
        c->code = vr_realloc(c->code, c->capcode * sizeof(*c->code));
    }
    in = &c->code[c->ncode++];
    memset(in, 0, sizeof(*in));
    in->op = (uint8_t)op;
    return in;
}

static void push(struct cc *c)
{
    if (++c->sp > c->maxsp)
        c->maxsp = c->sp;
}

/* One more value or operator, at token t. */
static int count_node(struct cc *c, const struct tok *t)
{
    if (++c->nodes > VR_EXPR_MAX_NODES)
        return cc_err(c, t->pos, "expression too large (more than %d values "
                      "and operators)", VR_EXPR_MAX_NODES);
    return 0;
}

/* One more level of parentheses or prefix operators, at token t. */
static int enter(struct cc *c, const struct tok *t)
{
    if (++c->nesting > VR_EXPR_MAX_NESTING)
        return cc_err(c, t->pos, "expression nested too deeply (more than "
                      "%d levels)", VR_EXPR_MAX_NESTING);
    return 0;
}

static enum op flip(enum op op)
{
    switch (op) {
    case OP_LT:
        return OP_GT;
    case OP_LE:
        return OP_GE;
    case OP_GT:
        return OP_LT;
    case OP_GE:
        return OP_LE;
    default:
        return op; /* = != */
    }
}

/* Emit binary `op` whose left operand's code starts at lstart and right
 * operand's at rstart, folding or fusing when both are one instruction. */
static void emit_binary(struct cc *c, enum op op, size_t lstart, size_t rstart)
{
    c->sp--;
    if (rstart == lstart + 1 && c->ncode == rstart + 1) {
        struct ins *l = &c->code[lstart], *r = &c->code[rstart];
        if (op >= OP_ADD && op <= OP_DIV) {
            if (l->op == OP_NUM && r->op == OP_NUM) {
                double v = arith(op, l->k.num, r->k.num);
                if (isfinite(v)) {
                    l->k.num = v;
                    c->ncode = rstart;
                    return;
                }
            }
        } else {
            enum op konst = op <= OP_NE ? OP_NUM : OP_STR;
            enum op load = op <= OP_NE ? OP_LOADN
                           : op <= OP_SNE ? OP_LOADS
                                          : OP_LOADL;
            if (l->op == load && r->op == konst) {
                l->op = (uint8_t)(op + FUSED);
                l->k = r->k;
                c->ncode = rstart;
                return;
            }
            if (op != OP_HAS && l->op == konst && r->op == load) {
                l->op = (uint8_t)(flip(op) + FUSED);
                l->attr = r->attr;
                c->ncode = rstart;
                return;
            }
        }
    }
    emit(c, op);
}

/* ---- parser: one function per precedence level, each returning the type
 * of what it parsed or -1 */

static int parse_or(struct cc *c);

static int parse_primary(struct cc *c)
{
    struct tok t = c->tok;
    struct ins *in;
    char buf[48], hint[128];
    long a;
    int type;

    switch (t.kind) {
    case TK_NUM:
        if (count_node(c, &t) < 0)
            return -1;
        emit(c, OP_NUM)->k.num = t.num;
        push(c);
        return lex(c) < 0 ? -1 : T_NUM;
    case TK_STR:
        if (count_node(c, &t) < 0)
            return -1;
        emit(c, OP_STR)->k.off = t.str;
        push(c);
        return lex(c) < 0 ? -1 : T_STR;
    case TK_IDENT:
        if (count_node(c, &t) < 0)
            return -1;
        a = find_attr(c, c->src + t.pos, t.len);
        if (a < 0) {
            word_hint(c, c->src + t.pos, t.len, hint, sizeof(hint));
            return cc_err(c, t.pos, "unknown attribute '%.*s%s'%s",
                          (int)(t.len > 64 ? 64 : t.len), c->src + t.pos,
                          t.len > 64 ? "..." : "", hint);
        }
        type = c->schema->attrs[a].type;
        in = emit(c, type == T_NUM   ? OP_LOADN
                     : type == T_STR ? OP_LOADS
                                     : OP_LOADL);
        in->attr = (uint16_t)a;
        c->used[a / 64] |= 1ULL << (a % 64);
        push(c);
        return lex(c) < 0 ? -1 : type;
    case TK_LPAREN:
        if (enter(c, &t) < 0 || lex(c) < 0 || (type = parse_or(c)) < 0)
            return -1;
        if (c->tok.kind != TK_RPAREN)
            return cc_err(c, c->tok.pos, "expected ')' to close the '(' at "
                          "column %zu", column(c, t.pos));
        c->nesting--;
        return lex(c) < 0 ? -1 : type;
    default:
        if (!c->have_prev)
            return cc_err(c, t.pos, "expected a value");
        return cc_err(c, t.pos, "expected a value after %s",
                      tok_desc(c, &c->prev, buf, sizeof(buf)));
    }
}

static int parse_unary(struct cc *c)
{
    struct tok op = c->tok;
    size_t start;
    bool literal;
    int t;

    if (op.kind != TK_MINUS)
        return parse_primary(c);
    if (count_node(c, &op) < 0 || lex(c) < 0)
        return -1;
    /* `-5` is a negative number, not a level of nesting */
    literal = c->tok.kind == TK_NUM;
    if (!literal && enter(c, &op) < 0)
        return -1;
    start = c->ncode;
    if ((t = parse_unary(c)) < 0)
        return -1;
    if (!literal)
        c->nesting--;
    if (t != T_NUM)
        return cc_err(c, op.pos, "'-' needs a number, not %s", type_name(t));
    if (c->ncode == start + 1 && c->code[start].op == OP_NUM)
        c->code[start].k.num = -c->code[start].k.num;
    else
        emit(c, OP_NEG);
    return T_NUM;
}

/* prod and sum: left-associative arithmetic. */
static int parse_arith(struct cc *c, bool sum)
{
    size_t lstart = c->ncode, rstart;
    int t = sum ? parse_arith(c, false) : parse_unary(c), r;

    while (t >= 0) {
        struct tok op = c->tok;
        enum op code;

        if (sum && op.kind == TK_PLUS)
            code = OP_ADD;
        else if (sum && op.kind == TK_MINUS)
            code = OP_SUB;
        else if (!sum && op.kind == TK_STAR)
            code = OP_MUL;
        else if (!sum && op.kind == TK_SLASH)
            code = OP_DIV;
        else
            break;
        if (t != T_NUM)
            return cc_err(c, op.pos, "'%.1s' needs a number on its left, "
                          "not %s", c->src + op.pos, type_name(t));
        if (count_node(c, &op) < 0 || lex(c) < 0)
            return -1;
        rstart = c->ncode;
        r = sum ? parse_arith(c, false) : parse_unary(c);
        if (r < 0)
            return -1;
        if (r != T_NUM)
            return cc_err(c, op.pos, "'%.1s' needs a number on its right, "
                          "not %s", c->src + op.pos, type_name(r));
        emit_binary(c, code, lstart, rstart);
    }
    return t;
}

static bool is_comparison(enum tok_kind k)
{
    return k == TK_EQ || k == TK_NE || k == TK_LT || k == TK_LE ||
           k == TK_GT || k == TK_GE || k == TK_HAS;
}

static int parse_cmp(struct cc *c)
{
    size_t lstart = c->ncode, rstart;
    int t = parse_arith(c, true), r;
    struct tok op = c->tok;
    int opl = (int)op.len;
    const char *ops = c->src + op.pos;
    bool ordering = op.kind == TK_LT || op.kind == TK_LE ||
                    op.kind == TK_GT || op.kind == TK_GE;
    enum op code;

    if (t < 0 || !is_comparison(op.kind))
        return t;
    if (op.kind == TK_HAS) {
        if (t != T_LIST)
            return cc_err(c, op.pos, "'has' needs a list on its left, not %s",
                          type_name(t));
    } else if (t == T_LIST) {
        return cc_err(c, op.pos, "cannot compare a list with '%.*s' (a list "
                      "is tested with 'has')", opl, ops);
    } else if (t == T_BOOL || (t == T_STR && ordering)) {
        return cc_err(c, op.pos, "cannot compare %s with '%.*s'",
                      type_name(t), opl, ops);
    }
    if (count_node(c, &op) < 0 || lex(c) < 0)
        return -1;
    rstart = c->ncode;
    if ((r = parse_arith(c, true)) < 0)
        return -1;
    if (op.kind == TK_HAS) {
        if (r != T_STR)
            return cc_err(c, op.pos, "'has' needs a string on its right, "
                          "not %s", type_name(r));
        code = OP_HAS;
    } else {
        if (r != t)
            return cc_err(c, op.pos, "cannot compare %s with %s",
                          type_name(t), type_name(r));
        switch (op.kind) {
        case TK_LT:
            code = OP_LT;
            break;
        case TK_LE:
            code = OP_LE;
            break;
        case TK_GT:
            code = OP_GT;
            break;
        case TK_GE:
            code = OP_GE;
            break;
        case TK_EQ:
            code = t == T_STR ? OP_SEQ : OP_EQ;
            break;
        default:
            code = t == T_STR ? OP_SNE : OP_NE;
            break;
        }
    }
    emit_binary(c, code, lstart, rstart);
    if (is_comparison(c->tok.kind))
        return cc_err(c, c->tok.pos, "comparisons do not chain; join them "
                      "with '&'");
    return T_BOOL;
}

static int parse_not(struct cc *c)
{
    struct tok op = c->tok;
    int t;

    if (op.kind != TK_NOT)
        return parse_cmp(c);
    if (enter(c, &op) < 0 || count_node(c, &op) < 0 || lex(c) < 0 ||
        (t = parse_not(c)) < 0)
        return -1;
    c->nesting--;
    if (t != T_BOOL)
        return cc_err(c, op.pos, "'!' needs a boolean, not %s", type_name(t));
    emit(c, OP_NOT);
    return T_BOOL;
}

/* A chain of '&' (or of '|') is flat: `a & b & c` is
 *
 *         [a] JF end [b] JF end [c] end:
 *
 * and an operand that is a single fused comparison takes the jump itself
 * (OP_GT_K + OP_JF = OP_GT_KF), so `X > 1 & Y < 2` is two instructions.
 * While parsing, the jumps of the chain are linked through their `jump`
 * members (UINT32_MAX ends the list) and all patched at its end. */
static int parse_logic(struct cc *c, bool is_or)
{
    enum tok_kind kind = is_or ? TK_OR : TK_AND;
    char sym = is_or ? '|' : '&';
    size_t start = c->ncode;
    uint32_t chain = UINT32_MAX;
    int t = is_or ? parse_logic(c, false) : parse_not(c), r;

    while (t >= 0 && c->tok.kind == kind) {
        struct tok op = c->tok;
        struct ins *in;

        if (t != T_BOOL)
            return cc_err(c, op.pos, "'%c' needs a boolean on its left, not "
                          "%s", sym, type_name(t));
        if (count_node(c, &op) < 0 || lex(c) < 0)
            return -1;
        in = &c->code[c->ncode - 1];
        if (c->ncode == start + 1 && in->op >= OP_LT_K && in->op <= OP_HAS_K)
            in->op = (uint8_t)(in->op - FUSED + (is_or ? FUSED_JT : FUSED_JF));
        else
            in = emit(c, is_or ? OP_JT : OP_JF);
        c->sp--;
        in->jump = chain;
        chain = (uint32_t)(in - c->code);
        start = c->ncode;
        r = is_or ? parse_logic(c, false) : parse_not(c);
        if (r < 0)
            return -1;
        if (r != T_BOOL)
            return cc_err(c, op.pos, "'%c' needs a boolean on its right, not "
                          "%s", sym, type_name(r));
    }
    while (chain != UINT32_MAX) {
        uint32_t next = c->code[chain].jump;
        c->code[chain].jump = (uint32_t)c->ncode;
        chain = next;
    }
    return t;
}

static int parse_or(struct cc *c)
{
    return parse_logic(c, true);
}

/* Parse the whole source into c->code; the type, or -1. */
static int parse_all(struct cc *c, bool want_bool)
{
    char buf[48], buf2[48];
    size_t start;
    int t;

    c->tok.pos = SIZE_MAX; /* no current token yet */
    if (lex(c) < 0)
        return -1;
    start = c->tok.pos;
    if ((t = parse_or(c)) < 0)
        return -1;
    if (c->tok.kind == TK_RPAREN)
        return cc_err(c, c->tok.pos, "unmatched ')'");
    if (c->tok.kind != TK_END) {
        const char *kw = c->tok.kind == TK_IDENT
                             ? keyword_hint(c->src + c->tok.pos, c->tok.len)
                             : NULL;
        if (c->tok.kind == TK_IDENT && c->prev.kind == TK_NUM &&
            c->tok.len == 1 && strchr("KMGT", c->src[c->tok.pos]))
            kw = " (a unit follows the digits without a space)";
        return cc_err(c, c->tok.pos, "expected an operator after %s, found "
                      "%s%s", tok_desc(c, &c->prev, buf, sizeof(buf)),
                      tok_desc(c, &c->tok, buf2, sizeof(buf2)),
                      kw ? kw : "");
    }
    if (want_bool && t != T_BOOL)
        return cc_err(c, start, "a requirements expression must be a "
                      "boolean, not %s%s", type_name(t),
                      t == T_LIST ? " (a list is tested with 'has')" : "");
    if (!want_bool && t != T_NUM)
        return cc_err(c, start, "a rank expression must be a number, not %s",
                      type_name(t));
    if (c->maxsp > EVAL_STACK) /* not reachable within the nesting limit */
        return cc_err(c, start, "expression too complex");
    emit(c, OP_END);
    return t;
}

struct vr_expr *vr_expr_compile(const char *src,
                                const struct vr_expr_schema *schema,
                                bool want_bool, struct vr_error *err)
{
    static const struct vr_expr_schema empty = {NULL, 0};
    struct cc c;
    struct vr_expr *e = NULL;
    size_t size, nwords, codesize, usedsize;

    if (!schema)
        schema = &empty;
    if (!src) {
        vr_err(err, VR_E_INVALID, "no expression");
        return NULL;
    }
    size = strnlen(src, VR_EXPR_MAX_SIZE + 1);
    if (size > VR_EXPR_MAX_SIZE) {
        vr_err(err, VR_E_INVALID, "expression too long (more than %d bytes)",
               VR_EXPR_MAX_SIZE);
        return NULL;
    }
    if (schema->nattrs > VR_EXPR_MAX_ATTRS) {
        vr_err(err, VR_E_INTERNAL, "expression schema has %zu attributes, "
               "the limit is %d", schema->nattrs, VR_EXPR_MAX_ATTRS);
        return NULL;
    }

    memset(&c, 0, sizeof(c));
    c.src = src;
    c.schema = schema;
    c.err = err;
    vr_buf_init(&c.pool);
    nwords = schema->nattrs / 64 + 1;
    c.used = vr_calloc(nwords, sizeof(*c.used));

    if (parse_all(&c, want_bool) >= 0) {
        codesize = c.ncode * sizeof(struct ins);
        usedsize = nwords * sizeof(uint64_t);
        e = vr_malloc(sizeof(*e) + codesize + usedsize + c.pool.len + 1);
        e->is_bool = want_bool;
        e->ncode = (uint32_t)c.ncode;
        e->nattrs = schema->nattrs;
        memcpy(e->code, c.code, codesize);
        e->used = (uint64_t *)((char *)e->code + codesize);
        memcpy(e->used, c.used, usedsize);
        e->pool = (char *)e->used + usedsize;
        memcpy(e->pool, c.pool.data, c.pool.len + 1);
        for (size_t i = 0; i < e->ncode; i++) {
            struct ins *in = &e->code[i];
            if (has_str(in->op))
                in->k.str = e->pool + in->k.off;
        }
    }
    free(c.code);
    free(c.used);
    vr_buf_release(&c.pool);
    return e;
}

void vr_expr_free(struct vr_expr *e)
{
    free(e);
}

bool vr_expr_is_bool(const struct vr_expr *e)
{
    return e->is_bool;
}

bool vr_expr_uses(const struct vr_expr *e, size_t index)
{
    return index < e->nattrs && (e->used[index / 64] >> (index % 64)) & 1;
}

void vr_expr_mark_used(const struct vr_expr *e, bool *used)
{
    for (size_t i = 0; i < e->nattrs; i++)
        if (vr_expr_uses(e, i))
            used[i] = true;
}

/* ---- evaluation */

union slot {
    double n; /* numbers, and booleans as 0 and 1 */
    const char *s;
    const struct vr_expr_value *l;
};

static inline const char *str_of(const char *s)
{
    return s ? s : "";
}

static inline bool str_eq(const char *a, const char *b)
{
    return a[0] == b[0] && strcmp(a, b) == 0;
}

static inline bool list_has(const struct vr_expr_value *v, const char *s)
{
    if (!v->list)
        return false;
    for (size_t i = 0; i < v->nlist; i++)
        if (v->list[i] && str_eq(v->list[i], s))
            return true;
    return false;
}

/* The interpreter: threaded code (one indirect jump at the end of each
 * instruction's body, which branch predictors follow far better than the
 * single one of a switch). */
static double run(const struct vr_expr *e, const struct vr_expr_value *vals)
{
    static const void *const labels[OP__LAST] = {
#define VR_X(name) [OP_##name] = &&L_##name,
        VR_EXPR_OPS(VR_X)
#undef VR_X
    };
    union slot stack[EVAL_STACK], *sp = stack; /* sp: the next free slot */
    const struct ins *code = e->code, *ip = code;

#define NEXT() goto *labels[(++ip)->op]
#define JUMP()                                                             \
    do {                                                                   \
        ip = code + ip->jump;                                              \
        goto *labels[ip->op];                                              \
    } while (0)
#define BINARY(name, expr)                                                 \
    L_##name : sp--;                                                       \
    sp[-1].n = (expr);                                                     \
    NEXT();
#define FUSED_CMP(name, test)                                              \
    L_##name##_K : (sp++)->n = (test);                                     \
    NEXT();                                                                \
    L_##name##_KF : if (!(test)) {                                         \
        (sp++)->n = 0;                                                     \
        JUMP();                                                            \
    }                                                                      \
    NEXT();                                                                \
    L_##name##_KT : if (test) {                                            \
        (sp++)->n = 1;                                                     \
        JUMP();                                                            \
    }                                                                      \
    NEXT();
#define ANUM (vals[ip->attr].num)
#define ASTR (str_of(vals[ip->attr].str))

    goto *labels[ip->op];
L_END:
    return sp[-1].n;
L_NUM:
    (sp++)->n = ip->k.num;
    NEXT();
L_STR:
    (sp++)->s = ip->k.str;
    NEXT();
L_LOADN:
    (sp++)->n = ANUM;
    NEXT();
L_LOADS:
    (sp++)->s = ASTR;
    NEXT();
L_LOADL:
    (sp++)->l = &vals[ip->attr];
    NEXT();
L_NEG:
    sp[-1].n = -sp[-1].n;
    NEXT();
L_NOT:
    sp[-1].n = sp[-1].n == 0;
    NEXT();
L_JF:
    if (sp[-1].n == 0)
        JUMP();
    sp--;
    NEXT();
L_JT:
    if (sp[-1].n != 0)
        JUMP();
    sp--;
    NEXT();
    BINARY(ADD, sp[-1].n + sp[0].n)
    BINARY(SUB, sp[-1].n - sp[0].n)
    BINARY(MUL, sp[-1].n * sp[0].n)
    BINARY(DIV, arith(OP_DIV, sp[-1].n, sp[0].n))
    BINARY(LT, sp[-1].n < sp[0].n)
    BINARY(LE, sp[-1].n <= sp[0].n)
    BINARY(GT, sp[-1].n > sp[0].n)
    BINARY(GE, sp[-1].n >= sp[0].n)
    BINARY(EQ, sp[-1].n == sp[0].n)
    BINARY(NE, sp[-1].n != sp[0].n)
    BINARY(SEQ, str_eq(sp[-1].s, sp[0].s))
    BINARY(SNE, !str_eq(sp[-1].s, sp[0].s))
    BINARY(HAS, list_has(sp[-1].l, sp[0].s))
    FUSED_CMP(LT, ANUM < ip->k.num)
    FUSED_CMP(LE, ANUM <= ip->k.num)
    FUSED_CMP(GT, ANUM > ip->k.num)
    FUSED_CMP(GE, ANUM >= ip->k.num)
    FUSED_CMP(EQ, ANUM == ip->k.num)
    FUSED_CMP(NE, ANUM != ip->k.num)
    FUSED_CMP(SEQ, str_eq(ASTR, ip->k.str))
    FUSED_CMP(SNE, !str_eq(ASTR, ip->k.str))
    FUSED_CMP(HAS, list_has(&vals[ip->attr], ip->k.str))
#undef NEXT
#undef JUMP
#undef BINARY
#undef FUSED_CMP
#undef ANUM
#undef ASTR
}

int vr_expr_eval_bool(const struct vr_expr *e, const struct vr_expr_value *vals,
                      bool *out)
{
    if (!e->is_bool) {
        *out = false;
        return -1;
    }
    *out = run(e, vals) != 0;
    return 0;
}

int vr_expr_eval_num(const struct vr_expr *e, const struct vr_expr_value *vals,
                     double *out)
{
    double v;

    if (e->is_bool) {
        *out = 0;
        return -1;
    }
    v = run(e, vals);
    *out = isnan(v) ? 0 : v;
    return 0;
}

/* ---- printing and comparing */

/* Precedences of printed subexpressions, lowest first. */
enum { P_OR = 1, P_AND, P_NOT, P_CMP, P_SUM, P_PROD, P_NEG, P_ATOM };

struct frag {
    char *text;
    int prec;
};

static char *quote(const char *s)
{
    struct vr_buf b = VR_BUF_INIT;

    vr_buf_adds(&b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            vr_buf_adds(&b, "\\");
        vr_buf_add(&b, s, 1);
    }
    vr_buf_adds(&b, "\"");
    return vr_buf_detach(&b);
}

static struct frag const_frag(double v)
{
    char buf[512];

    format_decimal(v, buf, sizeof(buf));
    if (signbit(v))
        return (struct frag){vr_asprintf("-%s", buf), P_NEG};
    return (struct frag){vr_strdup(buf), P_ATOM};
}

/* "l op r" with the parentheses that precedence needs.  Arithmetic is
 * left-associative (a right operand of the same precedence needs them),
 * comparisons do not chain (neither operand can be one).  A chain of '&'
 * or '|' compiles the same however its operands are grouped to the right,
 * but a left operand of the same kind was a group of its own, with code of
 * its own: that one keeps its parentheses.  Frees l and r. */
static struct frag binary(struct frag l, const char *op, int prec,
                          struct frag r)
{
    bool logic = prec == P_AND || prec == P_OR;
    bool lp = logic ? l.prec <= prec : l.prec < prec;
    bool rp = logic ? r.prec < prec : r.prec <= prec;
    struct frag f;

    f.text = vr_asprintf("%s%s%s %s %s%s%s", lp ? "(" : "", l.text,
                         lp ? ")" : "", op, rp ? "(" : "", r.text,
                         rp ? ")" : "");
    f.prec = prec;
    free(l.text);
    free(r.text);
    return f;
}

static const char *op_text(enum op op)
{
    static const char *const texts[] = {
        [OP_ADD] = "+", [OP_SUB] = "-",  [OP_MUL] = "*", [OP_DIV] = "/",
        [OP_LT] = "<",  [OP_LE] = "<=",  [OP_GT] = ">",  [OP_GE] = ">=",
        [OP_EQ] = "=",  [OP_NE] = "!=",  [OP_SEQ] = "=", [OP_SNE] = "!=",
        [OP_HAS] = "has"};
    return texts[op];
}

/* Decompile: a stack of printed operands, and a stack of the pending jumps
 * of '&' and '|' (each leaves its left operand on the operand stack); when
 * the code reaches a jump's target, the operator takes its two operands.
 * Jumps nest, so the pending ones that end at the same place are on top,
 * innermost first. */
char *vr_expr_format(const struct vr_expr *e,
                     const struct vr_expr_schema *schema)
{
    struct frag *st = vr_calloc(e->ncode, sizeof(*st));
    struct {
        uint32_t target;
        bool is_or;
    } *pend = vr_calloc(e->ncode, sizeof(*pend));
    size_t n = 0, np = 0;
    char *out = NULL;

    for (uint32_t i = 0; i < e->ncode; i++) {
        const struct ins *in = &e->code[i];
        enum op op = in->op, cmp = cmp_of(op);
        struct frag f;

        while (np > 0 && pend[np - 1].target == i) {
            bool is_or = pend[--np].is_or;
            n--;
            st[n - 1] = binary(st[n - 1], is_or ? "|" : "&",
                               is_or ? P_OR : P_AND, st[n]);
        }
        if (op == OP_END) {
            out = st[0].text;
        } else if (op == OP_NUM) {
            st[n++] = const_frag(in->k.num);
        } else if (op == OP_STR) {
            st[n++] = (struct frag){quote(in->k.str), P_ATOM};
        } else if (op == OP_LOADN || op == OP_LOADS || op == OP_LOADL) {
            st[n++] = (struct frag){vr_strdup(schema->attrs[in->attr].name),
                                    P_ATOM};
        } else if (op == OP_NEG || op == OP_NOT) {
            f = st[n - 1];
            st[n - 1].prec = op == OP_NEG ? P_NEG : P_NOT;
            if (f.prec < st[n - 1].prec)
                st[n - 1].text = vr_asprintf("%c(%s)", op == OP_NEG ? '-' : '!',
                                             f.text);
            else /* "- -A", not "--A" */
                st[n - 1].text = vr_asprintf("%c%s%s", op == OP_NEG ? '-' : '!',
                                             f.text[0] == '-' ? " " : "",
                                             f.text);
            free(f.text);
        } else if (op >= OP_ADD && op <= OP_HAS) {
            n--;
            st[n - 1] = binary(st[n - 1], op_text(op),
                               op <= OP_SUB   ? P_SUM
                               : op <= OP_DIV ? P_PROD
                                              : P_CMP,
                               st[n]);
        } else if (is_fused(op)) {
            f = (struct frag){vr_strdup(schema->attrs[in->attr].name), P_ATOM};
            st[n++] = binary(f, op_text(cmp), P_CMP,
                             has_num(op)
                                 ? const_frag(in->k.num)
                                 : (struct frag){quote(in->k.str), P_ATOM});
        }
        if (op == OP_JF || op == OP_JT || (is_fused(op) && op >= OP_LT_KF)) {
            pend[np].target = in->jump;
            pend[np++].is_or = op == OP_JT || (is_fused(op) && op >= OP_LT_KT);
        }
    }
    free(st);
    free(pend);
    return out;
}

bool vr_expr_equal(const struct vr_expr *a, const struct vr_expr *b)
{
    if (a->is_bool != b->is_bool || a->ncode != b->ncode)
        return false;
    for (uint32_t i = 0; i < a->ncode; i++) {
        const struct ins *x = &a->code[i], *y = &b->code[i];
        if (x->op != y->op || x->attr != y->attr || x->jump != y->jump)
            return false;
        if (has_num(x->op) &&
            memcmp(&x->k.num, &y->k.num, sizeof(double)) != 0)
            return false;
        if (has_str(x->op) && strcmp(x->k.str, y->k.str) != 0)
            return false;
    }
    return true;
}
