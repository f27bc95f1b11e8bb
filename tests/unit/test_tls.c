/* vr_tls: the CA and server certificate made on first start, and pins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "vr_config.h"
#include "vr_tls.h"
#include "vr_util.h"

/* A certificate made with openssl, and its pin as openssl computes it:
 * openssl x509 -pubkey -noout | openssl pkey -pubin -outform der |
 * openssl dgst -sha256 -binary | base64 */
static const char openssl_cert[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBmjCCAT+gAwIBAgIUTWV/SkAj1J9DWL85ZH+o+BkUq7AwCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJbG9jYWxob3N0MB4XDTI2MTEyMTIxMTc1MFoXDTI2MTEyNDIx\n"
    "MTc1MFowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0D\n"
    "AQcDQgAEUiqV3wHkBCsP6DxJfpIYLFc7QCYcpmgX7j62JGtBf3GzwdGd+Tcw8lDz\n"
    "RutRdZargU+HPjzIW6AdpIlRl2d7ZKNvMG0wHQYDVR0OBBYEFLqdp5bcgsuFYYxw\n"
    "mN74Vzf14C0uMB8GA1UdIwQYMBaAFLqdp5bcgsuFYYxwmN74Vzf14C0uMA8GA1Ud\n"
    "EwEB/wQFMAMBAf8wGgYDVR0RBBMwEYIJbG9jYWxob3N0hwR/AAABMAoGCCqGSM49\n"
    "BAMCA0kAMEYCIQDn4QIaQPLLOJ5wZal5rsBl2tBYaO7Bu0CbvyY8Cl8ffQIhALGL\n"
    "E5fOJsf8fSKvhfX+IsLB9f8jLACHXWyab+/z/UXH\n"
    "-----END CERTIFICATE-----\n";
static const char openssl_pin[] =
    "sha256//dN6WabTv/6pAPnIUYB4Exzmrliq5TctHOUl7nQX7USs=";

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/vr-tls-XXXXXX";
    char *d = mkdtemp(tmpl);

    assert_non_null(d);
    return vr_asprintf("%s/tls", d); /* not there yet: ensure makes it */
}

static void rmdir_all(char *dir)
{
    char *parent = vr_strdup(dir);

    *strrchr(parent, '/') = '\0';
    assert_int_equal(vr_rm_rf(parent, NULL), 0);
    free(parent);
    free(dir);
}

static char *path(const char *dir, const char *name)
{
    return vr_asprintf("%s/%s", dir, name);
}

static char *slurp(const char *dir, const char *name)
{
    char *p = path(dir, name), *data = NULL;

    assert_int_equal(vr_read_file(p, 1 << 20, &data, NULL, NULL), 0);
    free(p);
    return data;
}

static mode_t mode_of(const char *dir, const char *name)
{
    char *p = path(dir, name);
    struct stat st;

    assert_int_equal(stat(p, &st), 0);
    free(p);
    return st.st_mode & 0777;
}

static gnutls_x509_crt_t load(const char *dir, const char *name)
{
    char *pem = slurp(dir, name);
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    gnutls_x509_crt_t crt;

    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
    free(pem);
    return crt;
}

/* Whether `crt` has the subjectAltName of `type` with these bytes. */
static bool has_san(gnutls_x509_crt_t crt, int type, const void *value,
                    size_t len)
{
    for (unsigned i = 0;; i++) {
        char buf[256];
        size_t size = sizeof(buf);
        int t = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size,
                                                     NULL);
        if (t == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            return false;
        assert_true(t >= 0);
        if (t == type && size == len && memcmp(buf, value, len) == 0)
            return true;
    }
}

static unsigned count_sans(gnutls_x509_crt_t crt)
{
    unsigned n = 0;
    for (;; n++) {
        char buf[256];
        size_t size = sizeof(buf);
        if (gnutls_x509_crt_get_subject_alt_name(crt, n, buf, &size, NULL) ==
            GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            return n;
    }
}

static bool has_ip(gnutls_x509_crt_t crt, const char *ip)
{
    unsigned char raw[16];
    int af = strchr(ip, ':') ? AF_INET6 : AF_INET;

    assert_int_equal(inet_pton(af, ip, raw), 1);
    return has_san(crt, GNUTLS_SAN_IPADDRESS, raw, af == AF_INET ? 4 : 16);
}

static void test_ensure_makes_all(void **state)
{
    static const char *const ips[] = {"192.0.2.7", "127.0.0.1", NULL};
    struct vr_error err = VR_ERROR_INIT;
    char *dir = tmpdir();
    gnutls_x509_crt_t ca, srv;
    unsigned status = 1, critical = 0, ca_flag = 0, usage = 0;
    int pathlen = 0;
    time_t now = time(NULL);
    char pin[VR_TLS_PIN_SIZE];

    (void)state;
    assert_int_equal(vr_tls_ensure(dir, "node1.example.org", ips, &err), 0);
    /* the files, keys readable by the owner only */
    assert_int_equal(mode_of(dir, VR_TLS_CA_KEY), 0600);
    assert_int_equal(mode_of(dir, VR_TLS_SERVER_KEY), 0600);
    assert_int_equal(mode_of(dir, VR_TLS_CA_CERT), 0600);
    assert_int_equal(mode_of(dir, VR_TLS_SERVER_CERT), 0600);

    ca = load(dir, VR_TLS_CA_CERT);
    srv = load(dir, VR_TLS_SERVER_CERT);
    /* the CA: CA:TRUE, keyCertSign, ECDSA P-256, about 10 years */
    assert_int_equal(gnutls_x509_crt_get_basic_constraints(ca, &critical,
                                                           &ca_flag, &pathlen),
                     1);
    assert_int_equal(ca_flag, 1);
    assert_int_equal(gnutls_x509_crt_get_key_usage(ca, &usage, &critical), 0);
    assert_true(usage & GNUTLS_KEY_KEY_CERT_SIGN);
    assert_int_equal(gnutls_x509_crt_get_pk_algorithm(ca, NULL),
                     GNUTLS_PK_ECDSA);
    assert_true(gnutls_x509_crt_get_expiration_time(ca) > now + 3650L * 86400);
    /* the server: signed by the CA, not a CA, about 2 years */
    assert_int_equal(gnutls_x509_crt_verify(srv, &ca, 1, 0, &status), 0);
    assert_int_equal(status, 0);
    assert_int_equal(gnutls_x509_crt_get_basic_constraints(srv, &critical,
                                                           &ca_flag, &pathlen),
                     0);
    assert_int_equal(gnutls_x509_crt_get_pk_algorithm(srv, NULL),
                     GNUTLS_PK_ECDSA);
    assert_true(gnutls_x509_crt_get_expiration_time(srv) > now + 729L * 86400);
    assert_true(gnutls_x509_crt_get_expiration_time(srv) < now + 731L * 86400);
    assert_true(gnutls_x509_crt_get_activation_time(srv) <= now);
    /* the names, each once */
    assert_true(has_san(srv, GNUTLS_SAN_DNSNAME, "localhost", 9));
    assert_true(has_san(srv, GNUTLS_SAN_DNSNAME, "node1.example.org", 17));
    assert_true(has_ip(srv, "127.0.0.1"));
    assert_true(has_ip(srv, "::1"));
    assert_true(has_ip(srv, "192.0.2.7"));
    assert_int_equal(count_sans(srv), 5);
    assert_true(gnutls_x509_crt_check_hostname(srv, "localhost"));
    /* 16 random bytes of serial, different in each certificate */
    {
        unsigned char a[32], b[32];
        size_t na = sizeof(a), nb = sizeof(b);
        assert_int_equal(gnutls_x509_crt_get_serial(ca, a, &na), 0);
        assert_int_equal(gnutls_x509_crt_get_serial(srv, b, &nb), 0);
        assert_int_equal(na, 16);
        assert_int_equal(nb, 16);
        assert_memory_not_equal(a, b, 16);
    }
    /* the key and the certificate belong together; a pin is computed */
    {
        char *c = path(dir, VR_TLS_SERVER_CERT), *k = path(dir,
                                                         VR_TLS_SERVER_KEY);
        char *ck = path(dir, VR_TLS_CA_KEY);
        assert_int_equal(vr_tls_check_pair(c, k, &err), 0);
        assert_int_equal(vr_tls_check_pair(c, ck, &err), -1);
        assert_non_null(strstr(err.msg, "is not the one of"));
        assert_int_equal(vr_tls_pin_file(c, pin, &err), 0);
        assert_true(vr_tls_pin_valid(pin));
        assert_int_equal(vr_tls_cert_names_ip(c, "192.0.2.7", &err), 1);
        assert_int_equal(vr_tls_cert_names_ip(c, "192.0.2.8", &err), 0);
        free(c);
        free(k);
        free(ck);
    }
    gnutls_x509_crt_deinit(ca);
    gnutls_x509_crt_deinit(srv);
    rmdir_all(dir);
}

static void test_ensure_twice_changes_nothing(void **state)
{
    static const char *const names[] = {VR_TLS_CA_CERT, VR_TLS_CA_KEY,
                                        VR_TLS_SERVER_CERT, VR_TLS_SERVER_KEY};
    struct vr_error err = VR_ERROR_INIT;
    char *dir = tmpdir();
    char *before[4];

    (void)state;
    assert_int_equal(vr_tls_ensure(dir, "h", NULL, &err), 0);
    for (int i = 0; i < 4; i++)
        before[i] = slurp(dir, names[i]);
    assert_int_equal(vr_tls_ensure(dir, "other-host", NULL, &err), 0);
    for (int i = 0; i < 4; i++) {
        char *after = slurp(dir, names[i]);
        assert_string_equal(before[i], after);
        free(after);
        free(before[i]);
    }
    rmdir_all(dir);
}

/* An operator's certificate and key are never replaced, and no CA is made
 * beside them. */
static void test_operator_files_kept(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    char *dir = tmpdir();
    char *cert = vr_strdup(openssl_cert), *key = NULL, *p, *after;

    (void)state;
    assert_int_equal(vr_mkdir_p(dir, 0755, &err), 0);
    key = vr_strdup("-----BEGIN PRIVATE KEY-----\nnot really\n"
                    "-----END PRIVATE KEY-----\n");
    p = path(dir, VR_TLS_SERVER_CERT);
    assert_int_equal(vr_write_file_atomic(p, cert, strlen(cert), 0644, &err),
                     0);
    free(p);
    p = path(dir, VR_TLS_SERVER_KEY);
    assert_int_equal(vr_write_file_atomic(p, key, strlen(key), 0600, &err), 0);
    free(p);
    assert_int_equal(vr_tls_ensure(dir, "h", NULL, &err), 0);
    after = slurp(dir, VR_TLS_SERVER_CERT);
    assert_string_equal(after, cert);
    free(after);
    after = slurp(dir, VR_TLS_SERVER_KEY);
    assert_string_equal(after, key);
    free(after);
    p = path(dir, VR_TLS_CA_CERT);
    assert_false(vr_path_exists(p));
    free(p);
    free(cert);
    free(key);
    rmdir_all(dir);
}

/* Without server.pem, a new certificate is made for the key that is there:
 * the pin stays (rotation of an expiring certificate). */
static void test_reissue_keeps_key(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    char *dir = tmpdir();
    char *c, *old, *now;
    char pin1[VR_TLS_PIN_SIZE], pin2[VR_TLS_PIN_SIZE];
    gnutls_x509_crt_t ca, srv;
    unsigned status = 1;

    (void)state;
    assert_int_equal(vr_tls_ensure(dir, "h", NULL, &err), 0);
    c = path(dir, VR_TLS_SERVER_CERT);
    assert_int_equal(vr_tls_pin_file(c, pin1, &err), 0);
    old = slurp(dir, VR_TLS_SERVER_CERT);
    assert_int_equal(unlink(c), 0);
    assert_int_equal(vr_tls_ensure(dir, "h", NULL, &err), 0);
    now = slurp(dir, VR_TLS_SERVER_CERT);
    assert_string_not_equal(old, now);
    assert_int_equal(vr_tls_pin_file(c, pin2, &err), 0);
    assert_string_equal(pin1, pin2);
    ca = load(dir, VR_TLS_CA_CERT);
    srv = load(dir, VR_TLS_SERVER_CERT);
    assert_int_equal(gnutls_x509_crt_verify(srv, &ca, 1, 0, &status), 0);
    assert_int_equal(status, 0);
    gnutls_x509_crt_deinit(ca);
    gnutls_x509_crt_deinit(srv);
    free(old);
    free(now);
    free(c);
    rmdir_all(dir);
}

static void test_inconsistent_states(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    char *dir = tmpdir();
    char *p;

    (void)state;
    /* a certificate without its key */
    assert_int_equal(vr_tls_ensure(dir, "h", NULL, &err), 0);
    p = path(dir, VR_TLS_SERVER_KEY);
    assert_int_equal(unlink(p), 0);
    free(p);
    assert_int_equal(vr_tls_ensure(dir, "h", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "without its key"));
    /* no server files, and a CA certificate without its key */
    p = path(dir, VR_TLS_SERVER_CERT);
    assert_int_equal(unlink(p), 0);
    free(p);
    p = path(dir, VR_TLS_CA_KEY);
    assert_int_equal(unlink(p), 0);
    free(p);
    assert_int_equal(vr_tls_ensure(dir, "h", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "CA key"));
    /* a bad extra address */
    {
        static const char *const bad[] = {"not-an-ip", NULL};
        char *dir2 = tmpdir();
        assert_int_equal(vr_tls_ensure(dir2, "h", bad, &err), -1);
        assert_non_null(strstr(err.msg, "not-an-ip"));
        rmdir_all(dir2);
    }
    rmdir_all(dir);
}

static void test_pins(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    char pin[VR_TLS_PIN_SIZE];

    (void)state;
    assert_int_equal(
        vr_tls_pin_pem(openssl_cert, strlen(openssl_cert), pin, &err), 0);
    assert_string_equal(pin, openssl_pin);
    assert_int_equal(vr_tls_pin_pem("junk", 4, pin, &err), -1);
    assert_true(vr_tls_pin_valid(openssl_pin));
    assert_false(vr_tls_pin_valid("sha256//"));
    assert_false(vr_tls_pin_valid("sha1//dN6WabTv/6pAPnIUYB4Exzmrliq5TctHOUl7"
                                  "nQX7USs="));
    assert_false(vr_tls_pin_valid("sha256//dN6WabTv/6pAPnIUYB4Exzmrliq5TctHOU"
                                  "l7nQX7USs"));
    assert_false(vr_tls_pin_valid("sha256//dN6WabTv/6pAPnIUYB4Exzmrliq5TctHOU"
                                  "l7nQX7US;="));
    assert_false(vr_tls_pin_valid("sha256//dN6WabTv/6pAPnIUYB4Exzmrliq5TctHOU"
                                  "l7nQX7USs=;sha256//x"));
}

/* The settings: generated files by default, the operator's otherwise. */
static void test_settings(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_config cfg;

    (void)state;
    vr_config_defaults(&cfg, "/srv/vireo");
    assert_false(cfg.insecure_http);
    vr_config_finish(&cfg);
    assert_true(cfg.tls_generate);
    assert_string_equal(cfg.tls_dir, "/srv/vireo/tls");
    assert_string_equal(cfg.tls_cert, "/srv/vireo/tls/server.pem");
    assert_string_equal(cfg.tls_key, "/srv/vireo/tls/server-key.pem");
    vr_config_release(&cfg);

    vr_config_defaults(&cfg, "/srv/vireo");
    assert_int_equal(vr_config_set(&cfg, "tls_cert", "/etc/x.pem", &err), 0);
    assert_int_equal(vr_config_set(&cfg, "insecure_http", "yes", &err), 0);
    assert_true(cfg.insecure_http);
    assert_int_equal(vr_config_set(&cfg, "insecure_http", "false", &err), 0);
    assert_false(cfg.insecure_http);
    assert_int_equal(vr_config_set(&cfg, "insecure_http", "2", &err), -1);
    assert_non_null(strstr(err.msg, "true or false"));
    vr_config_finish(&cfg);
    assert_false(cfg.tls_generate);
    assert_string_equal(cfg.tls_cert, "/etc/x.pem");
    assert_true(!cfg.tls_key || !*cfg.tls_key);
    vr_config_release(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ensure_makes_all),
        cmocka_unit_test(test_ensure_twice_changes_nothing),
        cmocka_unit_test(test_operator_files_kept),
        cmocka_unit_test(test_reissue_keeps_key),
        cmocka_unit_test(test_inconsistent_states),
        cmocka_unit_test(test_pins),
        cmocka_unit_test(test_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
