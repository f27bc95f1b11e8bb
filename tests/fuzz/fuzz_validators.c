/*
 * fuzz_validators.c - the validators of single values from requests, the
 * CLI and the config file (vr_util.h): vr_parse_size (in bytes and in
 * MiB, as the API reads "memory" and disk sizes), vr_format_size,
 * vr_name_check, vr_uuid_valid and vr_uuid_normalize.  Every input string
 * goes through all of them.
 *
 * Checked against small reference implementations written from the
 * header comments: a size is accepted exactly when it is digits, an
 * optional fraction and a known unit and fits in 64 bits, with the same
 * value; a formatted size parses back within 5%; a name is accepted
 * exactly when it follows the naming rule; a UUID exactly when it has the
 * 8-4-4-4-12 hex form, normalized to lower case.
 */
#include <ctype.h>
#include <strings.h>

#include "fuzz.h"

/* ---- sizes */

static bool ref_unit(const char *u, uint64_t dflt, uint64_t *mult)
{
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {
        {"b", 1},           {"k", 1ULL << 10},  {"kb", 1ULL << 10},
        {"kib", 1ULL << 10}, {"m", 1ULL << 20},  {"mb", 1ULL << 20},
        {"mib", 1ULL << 20}, {"g", 1ULL << 30},  {"gb", 1ULL << 30},
        {"gib", 1ULL << 30}, {"t", 1ULL << 40},  {"tb", 1ULL << 40},
        {"tib", 1ULL << 40},
    };
    if (!*u) {
        *mult = dflt;
        return true;
    }
    for (size_t i = 0; i < VR_ARRAY_SIZE(units); i++) {
        if (strcasecmp(u, units[i].name) == 0) {
            *mult = units[i].mult;
            return true;
        }
    }
    return false;
}

/* 1: valid and fits (*v set), 0: valid but over 64 bits, -1: invalid.
 * A fraction counts to its sixth digit, rounded down. */
static int ref_size(const char *s, uint64_t dflt, uint64_t *v)
{
    unsigned __int128 whole = 0, total, num = 0, den = 1, mult128;
    bool big = false;
    uint64_t mult;
    int digits = 0;

    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++) {
        whole = whole * 10 + (unsigned)(*s - '0');
        if (whole > UINT64_MAX) {
            big = true;
            whole = (unsigned __int128)UINT64_MAX + 1;
        }
    }
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return -1;
        for (; isdigit((unsigned char)*s); s++) {
            if (digits++ < 6) {
                num = num * 10 + (unsigned)(*s - '0');
                den *= 10;
            }
        }
    }
    if (!ref_unit(s, dflt, &mult))
        return -1;
    mult128 = mult;
    total = whole * mult128 + num * mult128 / den;
    if (big || total > UINT64_MAX)
        return 0;
    *v = (uint64_t)total;
    return 1;
}

static void check_size(const char *s, uint64_t dflt)
{
    struct vr_error err = VR_ERROR_INIT;
    uint64_t got = 0, want = 0;
    int ref = ref_size(s, dflt, &want);

    if (vr_parse_size(s, dflt, &got, &err) < 0) {
        FUZZ_CHECK(ref != 1);
        FUZZ_CHECK(fuzz_err_ok(&err) && err.code == VR_E_INVALID);
        return;
    }
    FUZZ_CHECK(ref == 1);
    FUZZ_CHECK(got == want);

    /* the human form reads back as about the same size (it has no unit
     * beyond T to read "P" back with) */
    if (got < (1ULL << 50)) {
        char human[16];
        uint64_t back = 0;
        long double diff;

        vr_format_size(got, human, sizeof(human));
        FUZZ_CHECK(vr_parse_size(human, 1, &back, NULL) == 0);
        diff = (long double)back - (long double)got;
        FUZZ_CHECK(diff <= 0.05L * got + 1 && -diff <= 0.05L * got + 1);
    }
}

/* ---- names: 1..63 of [A-Za-z0-9._-], first a letter or digit, not all
 * digits, no ".." */

static bool ref_name(const char *s)
{
    size_t n = strlen(s);
    bool digits_only = true;

    if (n < 1 || n > 63 || !isalnum((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool digit = c >= '0' && c <= '9';
        if (!letter && !digit && c != '.' && c != '_' && c != '-')
            return false;
        if (!digit)
            digits_only = false;
        if (c == '.' && s[i + 1] == '.')
            return false;
    }
    return !digits_only;
}

static void check_name(const char *s)
{
    struct vr_error err = VR_ERROR_INIT;

    if (vr_name_check(s, "vm name", &err) == 0) {
        FUZZ_CHECK(ref_name(s));
        FUZZ_CHECK(err.code == VR_E_NONE);
    } else {
        FUZZ_CHECK(!ref_name(s));
        FUZZ_CHECK(fuzz_err_ok(&err) && err.code == VR_E_INVALID);
    }
}

/* ---- UUIDs */

static bool ref_uuid(const char *s)
{
    static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    size_t i;

    for (i = 0; form[i]; i++) {
        char c = s[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                   (c >= 'A' && c <= 'F');
        if (form[i] == '-' ? c != '-' : !hex)
            return false;
    }
    return s[i] == '\0';
}

static void check_uuid(const char *s)
{
    char out[VR_UUID_LEN];
    bool valid = vr_uuid_valid(s);

    FUZZ_CHECK(valid == ref_uuid(s));
    if (vr_uuid_normalize(s, out) < 0) {
        FUZZ_CHECK(!valid);
        return;
    }
    FUZZ_CHECK(valid && vr_uuid_valid(out) && strlen(out) == 36);
    for (int i = 0; i < 36; i++)
        FUZZ_CHECK(out[i] == tolower((unsigned char)s[i]) &&
                   !(out[i] >= 'A' && out[i] <= 'Z'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);

    check_size(s, 1);
    check_size(s, 1ULL << 20);
    check_name(s);
    check_uuid(s);
    free(s);
    return 0;
}
