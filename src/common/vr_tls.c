/*
 * vr_tls.c - the API's CA and server certificate, and pins (see vr_tls.h).
 *
 * What vr_tls_ensure() does, by what the directory holds (S = server.pem,
 * SK = server-key.pem, C = ca.pem, CK = ca-key.pem):
 *
 *   S  SK            nothing
 *   S  -             error: a certificate without its key
 *   -  SK/-          [CA] then a certificate for SK (made if missing)
 *   [CA]:  C CK      use them (the key must be the certificate's)
 *          - CK      a new CA certificate for CK
 *          C -       error: cannot sign without the CA key
 *          - -       a new CA key and certificate
 *
 * Each file is written atomically, keys before certificates, so a crash
 * leaves a state this table handles: the server certificate is written
 * last and its presence means "done".
 */
#include "vr_tls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>
#include <time.h>

#include "vr_log.h"
#include "vr_util.h"

#define MOD "tls"

#define CA_DAYS 3652     /* 10 years */
#define SERVER_DAYS 730  /* 2 years */
#define BACKDATE_S 3600  /* tolerate clients whose clock is a bit behind */
#define MAX_PEM (1u << 20)

/* ---- small helpers */

static int tls_err(struct vr_error *err, int rc, const char *what)
{
    return vr_err(err, VR_E_INTERNAL, "%s: %s", what, gnutls_strerror(rc));
}

static void wipe_free(char *s, size_t len)
{
    if (s) {
        gnutls_memset(s, 0, len);
        free(s);
    }
}

static char *join(const char *dir, const char *name)
{
    return vr_asprintf("%s/%s", dir, name);
}

static int load_crt(const char *path, gnutls_x509_crt_t *out,
                    struct vr_error *err)
{
    vr_autofree char *pem = NULL;
    size_t len = 0;
    gnutls_datum_t d;
    int rc;

    if (vr_read_file(path, MAX_PEM, &pem, &len, err) < 0)
        return -1;
    d.data = (unsigned char *)pem;
    d.size = (unsigned)len;
    if ((rc = gnutls_x509_crt_init(out)) < 0)
        return tls_err(err, rc, "gnutls_x509_crt_init");
    if ((rc = gnutls_x509_crt_import(*out, &d, GNUTLS_X509_FMT_PEM)) < 0) {
        gnutls_x509_crt_deinit(*out);
        *out = NULL;
        return vr_err(err, VR_E_INVALID, "'%s' is not a PEM certificate: %s",
                      path, gnutls_strerror(rc));
    }
    return 0;
}

static int load_key(const char *path, gnutls_x509_privkey_t *out,
                    struct vr_error *err)
{
    char *pem = NULL;
    size_t len = 0;
    gnutls_datum_t d;
    int rc;

    if (vr_read_file(path, MAX_PEM, &pem, &len, err) < 0)
        return -1;
    d.data = (unsigned char *)pem;
    d.size = (unsigned)len;
    rc = gnutls_x509_privkey_init(out);
    if (rc >= 0)
        rc = gnutls_x509_privkey_import2(*out, &d, GNUTLS_X509_FMT_PEM, NULL,
                                         0);
    wipe_free(pem, len);
    if (rc < 0) {
        gnutls_x509_privkey_deinit(*out);
        *out = NULL;
        return vr_err(err, VR_E_INVALID, "'%s' is not a PEM private key: %s",
                      path, gnutls_strerror(rc));
    }
    return 0;
}

static int write_key(const char *path, gnutls_x509_privkey_t key,
                     struct vr_error *err)
{
    gnutls_datum_t out = {NULL, 0};
    int rc, ret;

    rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
                                           GNUTLS_PKCS_PLAIN, &out);
    if (rc < 0)
        return tls_err(err, rc, "unable to encode a private key");
    ret = vr_write_file_atomic(path, out.data, out.size, 0600, err);
    gnutls_memset(out.data, 0, out.size);
    gnutls_free(out.data);
    return ret;
}

static int write_crt(const char *path, gnutls_x509_crt_t crt,
                     struct vr_error *err)
{
    gnutls_datum_t out = {NULL, 0};
    int rc, ret;

    rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out);
    if (rc < 0)
        return tls_err(err, rc, "unable to encode a certificate");
    /* public, but the state directory is no one else's business */
    ret = vr_write_file_atomic(path, out.data, out.size, 0600, err);
    gnutls_free(out.data);
    return ret;
}

static int new_key(gnutls_x509_privkey_t *out, struct vr_error *err)
{
    int rc;

    if ((rc = gnutls_x509_privkey_init(out)) < 0)
        return tls_err(err, rc, "gnutls_x509_privkey_init");
    rc = gnutls_x509_privkey_generate(
        *out, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
        0);
    if (rc < 0) {
        gnutls_x509_privkey_deinit(*out);
        *out = NULL;
        return tls_err(err, rc, "unable to generate an ECDSA key");
    }
    return 0;
}

/* Whether `key` is the private key of `crt`. */
static bool key_matches(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
    unsigned char a[64], b[64];
    size_t na = sizeof(a), nb = sizeof(b);

    if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &na) < 0 ||
        gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &nb) <
            0)
        return false;
    return na == nb && memcmp(a, b, na) == 0;
}

/* A valid DNS name for a subjectAltName: letters, digits, '-' and '.'. */
static bool dns_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-' || s[n - 1] == '.')
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
            return false;
    return strstr(s, "..") == NULL;
}

/* The fields every certificate gets: version, serial, validity, subject,
 * public key, subject key id. */
static int crt_common(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
                      const char *cn, unsigned days, struct vr_error *err)
{
    unsigned char serial[16], kid[64];
    size_t nkid = sizeof(kid);
    time_t now = time(NULL);
    int rc;

    if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
        return tls_err(err, rc, "gnutls_rnd");
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40); /* positive */
    if ((rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
        (rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
        (rc = gnutls_x509_crt_set_activation_time(crt, now - BACKDATE_S)) <
            0 ||
        (rc = gnutls_x509_crt_set_expiration_time(
             crt, now + (time_t)days * 86400)) < 0 ||
        (rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME,
                                            0, cn, (unsigned)strlen(cn))) <
            0 ||
        (rc = gnutls_x509_crt_set_dn_by_oid(
             crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "Vireo", 5)) < 0 ||
        (rc = gnutls_x509_crt_set_key(crt, key)) < 0 ||
        (rc = gnutls_x509_crt_get_key_id(crt, 0, kid, &nkid)) < 0 ||
        (rc = gnutls_x509_crt_set_subject_key_id(crt, kid, nkid)) < 0)
        return tls_err(err, rc, "unable to fill a certificate");
    return 0;
}

/* A self-signed CA certificate for `key`. */
static int make_ca(gnutls_x509_privkey_t key, const char *hostname,
                   gnutls_x509_crt_t *out, struct vr_error *err)
{
    char cn[64];
    int rc;

    snprintf(cn, sizeof(cn), "Vireo CA %.40s", hostname);
    if ((rc = gnutls_x509_crt_init(out)) < 0)
        return tls_err(err, rc, "gnutls_x509_crt_init");
    if (crt_common(*out, key, cn, CA_DAYS, err) < 0)
        goto out_deinit;
    if ((rc = gnutls_x509_crt_set_basic_constraints(*out, 1, 0)) < 0 ||
        (rc = gnutls_x509_crt_set_key_usage(
             *out, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN)) < 0 ||
        (rc = gnutls_x509_crt_sign2(*out, *out, key, GNUTLS_DIG_SHA256, 0)) <
            0) {
        tls_err(err, rc, "unable to make the CA certificate");
        goto out_deinit;
    }
    return 0;

out_deinit:
    gnutls_x509_crt_deinit(*out);
    *out = NULL;
    return -1;
}

/* The IP addresses already named, so that none is named twice. */
struct ipset {
    unsigned char raw[8][16];
    unsigned len[8];
    unsigned n;
};

static int add_ip_san(gnutls_x509_crt_t crt, struct ipset *set,
                      const char *ip, struct vr_error *err)
{
    unsigned char raw[16];
    unsigned len;
    int rc;

    if (inet_pton(AF_INET, ip, raw) == 1)
        len = 4;
    else if (inet_pton(AF_INET6, ip, raw) == 1)
        len = 16;
    else
        return vr_err(err, VR_E_INVALID, "'%s' is not an IP address", ip);
    for (unsigned i = 0; i < set->n; i++)
        if (set->len[i] == len && memcmp(set->raw[i], raw, len) == 0)
            return 0;
    if (set->n == VR_ARRAY_SIZE(set->raw))
        return vr_err(err, VR_E_INVALID, "too many IP addresses");
    rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, raw,
                                              len, GNUTLS_FSAN_APPEND);
    if (rc < 0)
        return tls_err(err, rc, "unable to add an IP address");
    memcpy(set->raw[set->n], raw, len);
    set->len[set->n++] = len;
    return 0;
}

/* The server certificate for `key`, signed by the CA. */
static int make_server(gnutls_x509_privkey_t key, gnutls_x509_crt_t ca,
                       gnutls_x509_privkey_t ca_key, const char *hostname,
                       const char *const *extra_ips, gnutls_x509_crt_t *out,
                       struct vr_error *err)
{
    static const char *const loopback[] = {"127.0.0.1", "::1", NULL};
    bool named = hostname && strcmp(hostname, "localhost") != 0 &&
                 dns_name_ok(hostname);
    unsigned char akid[64];
    size_t nakid = sizeof(akid);
    struct ipset ips = {.n = 0};
    char cn[64];
    int rc;

    snprintf(cn, sizeof(cn), "%.63s", named ? hostname : "localhost");
    if ((rc = gnutls_x509_crt_init(out)) < 0)
        return tls_err(err, rc, "gnutls_x509_crt_init");
    if (crt_common(*out, key, cn, SERVER_DAYS, err) < 0)
        goto out_deinit;
    if ((rc = gnutls_x509_crt_set_basic_constraints(*out, 0, -1)) < 0 ||
        (rc = gnutls_x509_crt_set_key_usage(*out,
                                            GNUTLS_KEY_DIGITAL_SIGNATURE)) <
            0 ||
        (rc = gnutls_x509_crt_set_key_purpose_oid(
             *out, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
        (rc = gnutls_x509_crt_set_subject_alt_name(
             *out, GNUTLS_SAN_DNSNAME, "localhost", 9, GNUTLS_FSAN_APPEND)) <
            0 ||
        (named && (rc = gnutls_x509_crt_set_subject_alt_name(
                       *out, GNUTLS_SAN_DNSNAME, hostname,
                       (unsigned)strlen(hostname), GNUTLS_FSAN_APPEND)) < 0)) {
        tls_err(err, rc, "unable to fill the server certificate");
        goto out_deinit;
    }
    for (size_t i = 0; loopback[i]; i++)
        if (add_ip_san(*out, &ips, loopback[i], err) < 0)
            goto out_deinit;
    for (size_t i = 0; extra_ips && extra_ips[i]; i++)
        if (add_ip_san(*out, &ips, extra_ips[i], err) < 0)
            goto out_deinit;
    if (gnutls_x509_crt_get_subject_key_id(ca, akid, &nakid, NULL) >= 0 &&
        (rc = gnutls_x509_crt_set_authority_key_id(*out, akid, nakid)) < 0) {
        tls_err(err, rc, "unable to fill the server certificate");
        goto out_deinit;
    }
    if ((rc = gnutls_x509_crt_sign2(*out, ca, ca_key, GNUTLS_DIG_SHA256, 0)) <
        0) {
        tls_err(err, rc, "unable to sign the server certificate");
        goto out_deinit;
    }
    return 0;

out_deinit:
    gnutls_x509_crt_deinit(*out);
    *out = NULL;
    return -1;
}

/* Where the four files are. */
struct tls_paths {
    const char *ca, *ca_key, *server, *server_key;
};

/* The CA to sign with: loaded, completed or made (the [CA] rows above). */
static int ensure_ca(const struct tls_paths *p, const char *hostname,
                     gnutls_x509_crt_t *crt, gnutls_x509_privkey_t *key,
                     struct vr_error *err)
{
    bool have_crt = vr_path_exists(p->ca), have_key = vr_path_exists(p->ca_key);

    *crt = NULL;
    *key = NULL;
    if (have_crt && !have_key)
        return vr_err(err, VR_E_INVALID,
                      "unable to issue a server certificate: the CA key "
                      "'%s' is missing", p->ca_key);
    if (have_key) {
        if (load_key(p->ca_key, key, err) < 0)
            return -1;
    } else {
        if (new_key(key, err) < 0 || write_key(p->ca_key, *key, err) < 0)
            goto out_key;
    }
    if (have_crt) {
        if (load_crt(p->ca, crt, err) < 0)
            goto out_key;
        if (!key_matches(*crt, *key)) {
            vr_err(err, VR_E_INVALID, "CA certificate '%s' is not the one of "
                   "the key '%s'", p->ca, p->ca_key);
            goto out_crt;
        }
        return 0;
    }
    if (make_ca(*key, hostname, crt, err) < 0)
        goto out_key;
    if (write_crt(p->ca, *crt, err) < 0)
        goto out_crt;
    VR_INFO(MOD, "made a CA certificate in '%s'", p->ca);
    return 0;

out_crt:
    gnutls_x509_crt_deinit(*crt);
    *crt = NULL;
out_key:
    gnutls_x509_privkey_deinit(*key);
    *key = NULL;
    return -1;
}

/* The server key (made unless `have_key`) and its certificate. */
static int issue_server(const struct tls_paths *p, bool have_key,
                        const char *hostname, const char *const *extra_ips,
                        struct vr_error *err)
{
    gnutls_x509_crt_t ca, crt = NULL;
    gnutls_x509_privkey_t ca_key, key = NULL;
    int ret = -1;

    if (ensure_ca(p, hostname, &ca, &ca_key, err) < 0)
        return -1;
    if (have_key) {
        if (load_key(p->server_key, &key, err) < 0)
            goto out;
    } else if (new_key(&key, err) < 0 ||
               write_key(p->server_key, key, err) < 0) {
        goto out;
    }
    if (make_server(key, ca, ca_key, hostname, extra_ips, &crt, err) < 0 ||
        write_crt(p->server, crt, err) < 0)
        goto out;
    VR_INFO(MOD, "made a server certificate in '%s'", p->server);
    ret = 0;
out:
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    gnutls_x509_crt_deinit(ca);
    gnutls_x509_privkey_deinit(ca_key);
    return ret;
}

int vr_tls_ensure(const char *dir, const char *hostname,
                  const char *const *extra_ips, struct vr_error *err)
{
    vr_autofree char *ca = join(dir, VR_TLS_CA_CERT);
    vr_autofree char *ca_key = join(dir, VR_TLS_CA_KEY);
    vr_autofree char *server = join(dir, VR_TLS_SERVER_CERT);
    vr_autofree char *server_key = join(dir, VR_TLS_SERVER_KEY);
    const struct tls_paths p = {ca, ca_key, server, server_key};
    bool have_crt = vr_path_exists(server);
    bool have_key = vr_path_exists(server_key);

    if (have_crt && have_key)
        return 0;
    if (have_crt)
        return vr_err(err, VR_E_INVALID, "server certificate '%s' exists "
                      "without its key '%s'", server, server_key);
    if (vr_mkdir_p(dir, 0700, err) < 0)
        return -1;
    return issue_server(&p, have_key, hostname ? hostname : "", extra_ips,
                        err);
}

/* ---- pins */

static int pin_of_crt(gnutls_x509_crt_t crt, char pin[VR_TLS_PIN_SIZE],
                      struct vr_error *err)
{
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t der = {NULL, 0}, b64 = {NULL, 0}, dig;
    unsigned char digest[32];
    size_t n = 0;
    int rc;

    if ((rc = gnutls_pubkey_init(&pub)) < 0)
        return tls_err(err, rc, "gnutls_pubkey_init");
    if ((rc = gnutls_pubkey_import_x509(pub, crt, 0)) < 0 ||
        (rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der)) < 0 ||
        (rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size,
                               digest)) < 0) {
        tls_err(err, rc, "unable to read the certificate's public key");
        goto out;
    }
    dig.data = digest;
    dig.size = sizeof(digest);
    if ((rc = gnutls_base64_encode2(&dig, &b64)) < 0) {
        tls_err(err, rc, "gnutls_base64_encode2");
        goto out;
    }
    memcpy(pin, "sha256//", 8);
    n = 8;
    for (unsigned i = 0; i < b64.size && n < VR_TLS_PIN_SIZE - 1; i++)
        if (!isspace(b64.data[i]))
            pin[n++] = (char)b64.data[i];
    pin[n] = '\0';
out:
    gnutls_free(b64.data);
    gnutls_free(der.data);
    gnutls_pubkey_deinit(pub);
    return rc < 0 ? -1 : 0;
}

int vr_tls_pin_pem(const char *pem, size_t size, char pin[VR_TLS_PIN_SIZE],
                   struct vr_error *err)
{
    gnutls_x509_crt_t crt;
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)size};
    int rc, ret;

    if ((rc = gnutls_x509_crt_init(&crt)) < 0)
        return tls_err(err, rc, "gnutls_x509_crt_init");
    if ((rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM)) < 0) {
        gnutls_x509_crt_deinit(crt);
        return vr_err(err, VR_E_INVALID, "not a PEM certificate: %s",
                      gnutls_strerror(rc));
    }
    ret = pin_of_crt(crt, pin, err);
    gnutls_x509_crt_deinit(crt);
    return ret;
}

int vr_tls_pin_file(const char *path, char pin[VR_TLS_PIN_SIZE],
                    struct vr_error *err)
{
    gnutls_x509_crt_t crt;
    int ret;

    if (load_crt(path, &crt, err) < 0)
        return -1;
    ret = pin_of_crt(crt, pin, err);
    gnutls_x509_crt_deinit(crt);
    return ret;
}

bool vr_tls_pin_valid(const char *s)
{
    size_t n = 0;

    if (strncmp(s, "sha256//", 8) != 0)
        return false;
    for (s += 8; *s; s++, n++)
        if (!isalnum((unsigned char)*s) && *s != '+' && *s != '/' &&
            !(*s == '=' && s[1] == '\0'))
            return false;
    return n == 44;
}

/* ---- checks */

int vr_tls_check_pair(const char *cert_path, const char *key_path,
                      struct vr_error *err)
{
    gnutls_certificate_credentials_t cred;
    char *cert = NULL, *key = NULL;
    size_t ncert = 0, nkey = 0;
    gnutls_datum_t c, k;
    int rc, ret = -1;

    if (vr_read_file(cert_path, MAX_PEM, &cert, &ncert, err) < 0)
        return -1;
    if (vr_read_file(key_path, MAX_PEM, &key, &nkey, err) < 0)
        goto out_cert;
    if ((rc = gnutls_certificate_allocate_credentials(&cred)) < 0) {
        tls_err(err, rc, "gnutls_certificate_allocate_credentials");
        goto out_key;
    }
    c.data = (unsigned char *)cert;
    c.size = (unsigned)ncert;
    k.data = (unsigned char *)key;
    k.size = (unsigned)nkey;
    rc = gnutls_certificate_set_x509_key_mem2(cred, &c, &k,
                                              GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
        vr_err(err, VR_E_INVALID, "key '%s' is not the one of certificate "
               "'%s'", key_path, cert_path);
    else if (rc < 0)
        vr_err(err, VR_E_INVALID, "unable to use certificate '%s' with key "
               "'%s': %s", cert_path, key_path, gnutls_strerror(rc));
    else
        ret = 0;
    gnutls_certificate_free_credentials(cred);
out_key:
    wipe_free(key, nkey);
out_cert:
    free(cert);
    return ret;
}

int vr_tls_cert_names_ip(const char *cert_path, const char *ip,
                         struct vr_error *err)
{
    gnutls_x509_crt_t crt;
    unsigned char raw[16];
    unsigned len;
    int ret;

    if (inet_pton(AF_INET, ip, raw) == 1)
        len = 4;
    else if (inet_pton(AF_INET6, ip, raw) == 1)
        len = 16;
    else
        return vr_err(err, VR_E_INVALID, "'%s' is not an IP address", ip);
    if (load_crt(cert_path, &crt, err) < 0)
        return -1;
    ret = gnutls_x509_crt_check_ip(crt, raw, len, 0) ? 1 : 0;
    gnutls_x509_crt_deinit(crt);
    return ret;
}
