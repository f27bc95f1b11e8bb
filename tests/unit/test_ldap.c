/* The LDAP backend without a server: DN escaping (checked against
 * libldap's own DN parser), bind-name templates, the checks of the
 * settings, and the answers that need no directory (an empty password, a
 * server that is not there). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <ldap.h>
#include <sodium.h>

#include "vr_config.h"
#include "vr_ldap.h"
#include "vr_ldap_priv.h"
#include "vr_util.h"

static void test_escape(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"alice", "alice"},
        {"a.b-c_d9", "a.b-c_d9"},
        {"", ""},
        {"a,b", "a\\,b"},
        {"a+b", "a\\+b"},
        {"a=b", "a\\=b"},
        {"\"q\"", "\\\"q\\\""},
        {"a;b<c>d", "a\\;b\\<c\\>d"},
        {"back\\slash", "back\\\\slash"},
        {"#lead", "\\#lead"},
        {"mid#dle", "mid#dle"},
        {" lead", "\\ lead"},
        {"trail ", "trail\\ "},
        {" ", "\\ "},
        {"in side", "in side"},
        {"tab\there", "tab\\09here"},
        {"nl\n", "nl\\0A"},
        {"del\x7f", "del\\7F"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},    /* UTF-8 stays as it is */
        {"*)(uid=*", "*)(uid\\=*"},       /* filter syntax means nothing */
    };
    char out[64];

    (void)state;
    for (size_t i = 0; i < VR_ARRAY_SIZE(cases); i++) {
        int n = vr_ldap_escape_dn(cases[i].in, out, sizeof(out));
        assert_int_equal(n, (int)strlen(cases[i].out));
        assert_string_equal(out, cases[i].out);
    }
    /* too small: -1 and an empty string, never a cut escape */
    assert_int_equal(vr_ldap_escape_dn("a,b", out, 4), -1);
    assert_string_equal(out, "");
    assert_int_equal(vr_ldap_escape_dn("a,b", out, 5), 4);
    assert_int_equal(vr_ldap_escape_dn("abc", out, 3), -1);
    assert_int_equal(vr_ldap_escape_dn("abc", out, 4), 3);
}

/* Whatever the name, the DN made from it parses (by libldap) into one
 * RDN per template RDN, the first holding exactly the name. */
static void test_escape_roundtrip(void **state)
{
    static const char *const names[] = {
        "alice", "a,b", "a+uid=root", "x,ou=admins,dc=vireo,dc=test",
        "\\", "\\\\,", "#", " # ", "\"", "<>;", "a\\2Cb", "=", "  ",
        "ends with space ", "tab\t", "\x01\x1f",
    };
    char dn[1024];

    (void)state;
    for (size_t i = 0; i < VR_ARRAY_SIZE(names); i++) {
        LDAPDN ldn = NULL;
        int n;

        assert_true(vr_ldap_bind_name("uid=%s,ou=people,dc=vireo,dc=test",
                                      names[i], dn, sizeof(dn)) > 0);
        assert_int_equal(ldap_str2dn(dn, &ldn, LDAP_DN_FORMAT_LDAPV3),
                         LDAP_SUCCESS);
        for (n = 0; ldn[n]; n++)
            ;
        assert_int_equal(n, 4);
        assert_non_null(ldn[0][0]);
        assert_null(ldn[0][1]);            /* not a multi-valued RDN */
        assert_int_equal(ldn[0][0]->la_attr.bv_len, 3);
        assert_memory_equal(ldn[0][0]->la_attr.bv_val, "uid", 3);
        assert_int_equal(ldn[0][0]->la_value.bv_len, strlen(names[i]));
        assert_memory_equal(ldn[0][0]->la_value.bv_val, names[i],
                            strlen(names[i]));
        ldap_dnfree(ldn);
    }
}

static void test_template(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    char out[128];

    (void)state;
    assert_int_equal(vr_ldap_template_check("uid=%s,dc=x", &err), 0);
    assert_int_equal(vr_ldap_template_check("%s@corp.example", &err), 0);
    assert_int_equal(vr_ldap_template_check("CORP\\%s", &err), 0);
    assert_int_equal(vr_ldap_template_check("cn=%s,o=100%%", &err), 0);

    assert_int_equal(vr_ldap_template_check("", &err), -1);
    assert_int_equal(err.code, VR_E_INVALID);
    assert_non_null(strstr(err.msg, "'ldap_user_dn' is empty"));
    assert_int_equal(vr_ldap_template_check(NULL, &err), -1);
    assert_int_equal(vr_ldap_template_check("uid=admin,dc=x", &err), -1);
    assert_non_null(strstr(err.msg, "exactly once, not 0 times"));
    assert_int_equal(vr_ldap_template_check("uid=%s,cn=%s", &err), -1);
    assert_non_null(strstr(err.msg, "not 2 times"));
    assert_int_equal(vr_ldap_template_check("uid=%d,dc=x", &err), -1);
    assert_non_null(strstr(err.msg, "'%d'"));
    assert_int_equal(vr_ldap_template_check("uid=%s,dc=x%", &err), -1);

    assert_int_equal(vr_ldap_bind_name("uid=%s,dc=x", "bob", out,
                                       sizeof(out)), 12);
    assert_string_equal(out, "uid=bob,dc=x");
    vr_ldap_bind_name("%s@corp.example", "bob.smith", out, sizeof(out));
    assert_string_equal(out, "bob.smith@corp.example");
    vr_ldap_bind_name("CORP\\%s", "bob", out, sizeof(out));
    assert_string_equal(out, "CORP\\bob");
    vr_ldap_bind_name("cn=%s,o=100%%", "a,b", out, sizeof(out));
    assert_string_equal(out, "cn=a\\,b,o=100%");
    /* a bad template or no room: nothing */
    assert_int_equal(vr_ldap_bind_name("uid=x", "bob", out, sizeof(out)), -1);
    assert_string_equal(out, "");
    assert_int_equal(vr_ldap_bind_name("uid=%s,dc=x", "bob", out, 12), -1);
    assert_string_equal(out, "");
}

static void config(struct vr_config *cfg, const char *uri, const char *dn)
{
    vr_config_defaults(cfg, "/nonexistent");
    assert_int_equal(vr_config_set(cfg, "ldap_uri", uri, NULL), 0);
    assert_int_equal(vr_config_set(cfg, "ldap_user_dn", dn, NULL), 0);
}

static void test_settings(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_config cfg;
    struct vr_auth_backend *b;

    (void)state;
    vr_config_defaults(&cfg, "/nonexistent");
    assert_string_equal(cfg.ldap_uri, "");
    assert_string_equal(cfg.ldap_group, "users");
    assert_false(cfg.ldap_starttls);
    assert_int_equal(cfg.ldap_timeout_s, 5);
    assert_int_equal(vr_config_set(&cfg, "ldap_starttls", "yes", &err), 0);
    assert_true(cfg.ldap_starttls);
    assert_int_equal(vr_config_set(&cfg, "ldap_starttls", "maybe", &err), -1);
    assert_int_equal(vr_config_set(&cfg, "ldap_timeout", "0", &err), -1);
    assert_int_equal(vr_config_set(&cfg, "ldap_timeout", "121", &err), -1);
    assert_int_equal(vr_config_set(&cfg, "ldap_timeout", "2", &err), 0);
    assert_int_equal(cfg.ldap_timeout_s, 2);
    /* no URI: nothing to open */
    assert_null(vr_ldap_open(&cfg, &err));
    vr_config_release(&cfg);

    config(&cfg, "ldap://127.0.0.1:389/", "uid=%s,dc=vireo,dc=test");
    b = vr_ldap_open(&cfg, &err);
    assert_non_null(b);
    assert_string_equal(b->name, "ldap");
    assert_string_equal(b->group, "");
    b->close(b);
    vr_config_release(&cfg);

    /* a template without %s */
    config(&cfg, "ldap://127.0.0.1/", "cn=admin,dc=vireo,dc=test");
    assert_null(vr_ldap_open(&cfg, &err));
    assert_non_null(strstr(err.msg, "'%s' (the user name) exactly once"));
    vr_config_release(&cfg);

    /* not an LDAP URI */
    config(&cfg, "http://127.0.0.1/", "uid=%s,dc=x");
    assert_null(vr_ldap_open(&cfg, &err));
    assert_non_null(strstr(err.msg, "'ldap_uri' ('http://127.0.0.1/') is "
                                    "not an LDAP URI"));
    vr_config_release(&cfg);

    /* StartTLS on a TLS URI */
    config(&cfg, "ldaps://127.0.0.1/", "uid=%s,dc=x");
    vr_config_set(&cfg, "ldap_starttls", "true", NULL);
    assert_null(vr_ldap_open(&cfg, &err));
    assert_non_null(strstr(err.msg, "disagree"));
    vr_config_release(&cfg);

    /* a CA file, but no TLS */
    config(&cfg, "ldap://127.0.0.1/", "uid=%s,dc=x");
    vr_config_set(&cfg, "ldap_ca_file", "/etc/hostname", NULL);
    assert_null(vr_ldap_open(&cfg, &err));
    assert_non_null(strstr(err.msg, "does not use TLS"));
    vr_config_release(&cfg);

    /* a CA file that is not there */
    config(&cfg, "ldap://127.0.0.1/", "uid=%s,dc=x");
    vr_config_set(&cfg, "ldap_starttls", "true", NULL);
    vr_config_set(&cfg, "ldap_ca_file", "/nonexistent/ca.pem", NULL);
    assert_null(vr_ldap_open(&cfg, &err));
    assert_non_null(strstr(err.msg, "unable to read '/nonexistent/ca.pem'"));
    vr_config_release(&cfg);

    /* a CA file that holds no certificate: found now, not at a login */
    config(&cfg, "ldap://127.0.0.1/", "uid=%s,dc=x");
    vr_config_set(&cfg, "ldap_starttls", "true", NULL);
    vr_config_set(&cfg, "ldap_ca_file", "/etc/hostname", NULL);
    assert_null(vr_ldap_open(&cfg, &err));
    assert_non_null(strstr(err.msg, "holds no PEM certificate"));
    vr_config_release(&cfg);
}

/* Checks that never need an answer from a directory. */
static void test_verify_offline(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_config cfg;
    struct vr_auth_backend *b;
    int64_t t0;

    (void)state;
    /* port 1 on loopback: refused at once */
    config(&cfg, "ldap://127.0.0.1:1/", "uid=%s,dc=vireo,dc=test");
    vr_config_set(&cfg, "ldap_timeout", "2", NULL);
    b = vr_ldap_open(&cfg, &err);
    assert_non_null(b);
    /* an empty password is never sent (it would be an anonymous bind) */
    assert_int_equal(b->verify(b, "alice", "", &err), 0);
    /* a name too long for a bind name: wrong, not an error */
    {
        char longname[700];
        memset(longname, ',', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        assert_int_equal(b->verify(b, longname, "pw", &err), 0);
    }
    t0 = vr_mono_ms();
    vr_err_clear(&err);
    assert_int_equal(b->verify(b, "alice", "secret", &err), -1);
    assert_int_equal(err.code, VR_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "LDAP server unreachable"));
    /* the address stays in the log */
    assert_null(strstr(err.msg, "127.0.0.1"));
    assert_true(vr_mono_ms() - t0 < 2500);
    b->close(b);
    vr_config_release(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_escape_roundtrip),
        cmocka_unit_test(test_template),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_verify_offline),
    };
    /* a refusal spends an Argon2id check (vr_auth_hash_password) */
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
