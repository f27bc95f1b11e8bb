/*
 * vr_ldap.c - the "ldap" authentication backend: a simple bind as the
 * user, through OpenLDAP's libldap (thread-safe since 2.5: one handle per
 * check, no lock of ours).
 *
 * One check:
 *
 *   ldap_initialize(uri)          no traffic yet
 *   options                       v3, no referrals, timeouts, TLS context
 *   [ldap_start_tls_s]            ldap_starttls: fails -> unavailable
 *   ldap_sasl_bind_s(SIMPLE)      success -> 1
 *                                 wrong password, no such entry -> 0
 *                                 server down, timeout, busy -> -1 (503)
 *   ldap_unbind_ext_s
 *
 * An empty password is refused before anything is sent: a simple bind
 * with a name and no password is an "unauthenticated" bind, which many
 * servers (and AD) answer with success.
 */
#include "vr_ldap.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <ldap.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "vr_ldap_priv.h"
#include "vr_log.h"
#include "vr_util.h"

#define MOD "ldap"

/* after a TLS failure, which libldap does not tell apart */
#define TLS_HINT                                                           \
    "; if it is up, does its certificate name the host of 'ldap_uri', "   \
    "signed by a CA of 'ldap_ca_file' (or the system's)?"

/* the most a bind name can be: a DN template plus an escaped name */
#define BIND_NAME_SIZE 1024

/* warnings about an unreachable server: at most one in this many ms (a
 * login storm during an outage must not flood the log) */
#define WARN_INTERVAL_MS 10000

struct ldap_backend {
    struct vr_auth_backend b;      /* b.priv points back here */
    char *uri;
    char *tmpl;                    /* bind-name template, checked */
    char *ca_file;                 /* NULL: libldap's default CAs */
    bool starttls;
    bool tls;                      /* StartTLS or an ldaps:// URI */
    int timeout_s;
    _Atomic int64_t warned_ms;     /* last "unreachable" warning */
};

/* ---- bind names */

int vr_ldap_escape_dn(const char *in, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(in), o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        char esc[3];
        size_t elen = 0;

        if (c < 0x20 || c == 0x7f) {
            esc[0] = hex[c >> 4];
            esc[1] = hex[c & 15];
            elen = 2;
        } else if (strchr("\"+,;<=>\\", c) ||
                   (i == 0 && (c == ' ' || c == '#')) ||
                   (i == n - 1 && c == ' ')) {
            esc[0] = (char)c;
            elen = 1;
        }
        if (o + (elen ? 1 + elen : 1) >= size) {
            if (size)
                out[0] = '\0';
            return -1;
        }
        if (elen) {
            out[o++] = '\\';
            memcpy(out + o, esc, elen);
            o += elen;
        } else {
            out[o++] = (char)c;
        }
    }
    if (o >= size) {
        if (size)
            out[0] = '\0';
        return -1;
    }
    out[o] = '\0';
    return (int)o;
}

int vr_ldap_template_check(const char *tmpl, struct vr_error *err)
{
    int subst = 0;

    if (!tmpl || !*tmpl)
        return vr_err(err, VR_E_INVALID, "setting 'ldap_user_dn' is empty; "
                      "it must name the user, e.g. "
                      "'uid=%%s,ou=people,dc=example,dc=org' or "
                      "'%%s@corp.example'");
    if (strlen(tmpl) >= BIND_NAME_SIZE / 2)
        return vr_err(err, VR_E_INVALID, "setting 'ldap_user_dn' is too long "
                      "(at most %d characters)", BIND_NAME_SIZE / 2 - 1);
    for (const char *p = tmpl; *p; p++) {
        if (*p != '%')
            continue;
        p++;
        if (*p == 's')
            subst++;
        else if (*p != '%')
            return vr_err(err, VR_E_INVALID, "setting 'ldap_user_dn' has "
                          "'%%%.1s'; only '%%s' (the user name) and '%%%%' "
                          "(a '%%') may follow a '%%'", p);
    }
    if (subst != 1)
        return vr_err(err, VR_E_INVALID, "setting 'ldap_user_dn' must hold "
                      "'%%s' (the user name) exactly once, not %d times",
                      subst);
    return 0;
}

int vr_ldap_bind_name(const char *tmpl, const char *user, char *out,
                      size_t size)
{
    char esc[BIND_NAME_SIZE / 2];
    struct vr_buf b = VR_BUF_INIT;
    int rc = -1;

    if (size)
        out[0] = '\0';
    if (vr_ldap_template_check(tmpl, NULL) < 0 ||
        vr_ldap_escape_dn(user, esc, sizeof(esc)) < 0)
        return -1;
    vr_buf_init(&b);
    for (const char *p = tmpl; *p; p++) {
        if (*p != '%') {
            vr_buf_add(&b, p, 1);
            continue;
        }
        p++;
        if (*p == 's')
            vr_buf_adds(&b, esc);
        else
            vr_buf_add(&b, "%", 1);
    }
    if (vr_strlcpy(out, b.data, size) == 0)
        rc = (int)b.len;
    else if (size)
        out[0] = '\0';
    vr_buf_release(&b);
    return rc;
}

/* ---- one check */

/* The server's own words about the last operation on `ld`, or "". */
static void diagnostic(LDAP *ld, char *out, size_t size)
{
    char *msg = NULL;

    out[0] = '\0';
    if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) ==
            LDAP_OPT_SUCCESS && msg) {
        if (*msg)
            snprintf(out, size, " (%s)", msg);
        ldap_memfree(msg);
    }
}

/* Set up a fresh handle; -1 with err (configuration or memory). */
static int handle_setup(struct ldap_backend *lb, LDAP **ldp,
                        struct vr_error *err)
{
    struct timeval tv = {.tv_sec = lb->timeout_s};
    int version = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;
    LDAP *ld = NULL;
    int rc;

    *ldp = NULL;
    rc = ldap_initialize(&ld, lb->uri);
    if (rc != LDAP_SUCCESS)
        return vr_err(err, VR_E_INVALID, "setting 'ldap_uri' ('%s') is not "
                      "an LDAP URI: %s", lb->uri, ldap_err2string(rc));
    if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) ||
        ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) ||
        ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) ||
        ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv)) {
        ldap_unbind_ext_s(ld, NULL, NULL);
        return vr_err(err, VR_E_INTERNAL, "unable to set LDAP options");
    }
    if (lb->tls) {
        /* a context of this handle's own: the CA file, and a certificate
         * that does not verify ends the connection */
        if ((lb->ca_file && ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE,
                                            lb->ca_file)) ||
            ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) ||
            ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero)) {
            ldap_unbind_ext_s(ld, NULL, NULL);
            return vr_err(err, VR_E_INVALID, "unable to set up TLS for LDAP "
                          "(setting 'ldap_ca_file' is '%s')",
                          lb->ca_file ? lb->ca_file : "");
        }
    }
    *ldp = ld;
    return 0;
}

static bool unreachable_code(int rc)
{
    return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR ||
           rc == LDAP_TIMEOUT || rc == LDAP_TIMELIMIT_EXCEEDED ||
           rc == LDAP_BUSY || rc == LDAP_UNAVAILABLE;
}

/* The answers about the user and its password: they count as a failed
 * login (and for the throttle). */
static bool refused_code(int rc)
{
    return rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_NO_SUCH_OBJECT ||
           rc == LDAP_INVALID_DN_SYNTAX || rc == LDAP_INAPPROPRIATE_AUTH ||
           rc == LDAP_INSUFFICIENT_ACCESS || rc == LDAP_UNWILLING_TO_PERFORM;
}

/* The server could not answer: 503, and a warning now and then. */
static int unavailable(struct ldap_backend *lb, const char *what, int rc,
                       const char *diag, struct vr_error *err)
{
    int64_t now = vr_mono_ms(), last = atomic_load(&lb->warned_ms);

    if ((last == 0 || now - last >= WARN_INTERVAL_MS) &&
        atomic_compare_exchange_strong(&lb->warned_ms, &last, now))
        VR_WARN(MOD, "LDAP server '%s' %s: %s%s", lb->uri, what,
                ldap_err2string(rc), diag);
    else
        VR_DEBUG(MOD, "LDAP server '%s' %s: %s%s", lb->uri, what,
                 ldap_err2string(rc), diag);
    /* the URI stays in the log: a caller who is not logged in has no
     * business learning where the directory is */
    return vr_err(err, VR_E_UNAVAILABLE, "LDAP server %s: %s; logins by "
                  "LDAP users are not possible now", what,
                  ldap_err2string(rc));
}

static int bind_check(struct ldap_backend *lb, const char *user,
                      const char *password, struct vr_error *err)
{
    struct vr_error setup_err = VR_ERROR_INIT;
    char dn[BIND_NAME_SIZE], diag[256];
    struct berval cred;
    int64_t t0 = vr_mono_ms();
    LDAP *ld;
    int rc;

    if (!password || !*password) {
        VR_DEBUG(MOD, "empty password for '%.64s' refused without a bind",
                 user);
        return 0;
    }
    if (vr_ldap_bind_name(lb->tmpl, user, dn, sizeof(dn)) < 0)
        return 0;
    if (handle_setup(lb, &ld, &setup_err) < 0) {
        /* it worked at start-up: the CA file changed since */
        VR_WARN(MOD, "%s", setup_err.msg);
        return vr_err(err, VR_E_UNAVAILABLE, "LDAP server unusable: the "
                      "client's set-up failed; logins by LDAP users are not "
                      "possible now");
    }
    if (lb->starttls) {
        rc = ldap_start_tls_s(ld, NULL, NULL);
        if (rc != LDAP_SUCCESS) {
            diagnostic(ld, diag, sizeof(diag));
            if (rc == LDAP_CONNECT_ERROR)
                vr_strlcpy(diag, TLS_HINT, sizeof(diag));
            ldap_unbind_ext_s(ld, NULL, NULL);
            /* a certificate that does not verify ends here too */
            return unavailable(lb, rc == LDAP_SERVER_DOWN ||
                                           rc == LDAP_TIMEOUT
                                       ? "unreachable"
                                       : "unusable, StartTLS failed",
                               rc, diag, err);
        }
    }
    cred.bv_val = (char *)password;
    cred.bv_len = strlen(password);
    rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
    diagnostic(ld, diag, sizeof(diag));
    /* ldaps:// says "can't contact" for a certificate that failed too */
    if (rc == LDAP_SERVER_DOWN && lb->tls)
        vr_strlcpy(diag, TLS_HINT, sizeof(diag));
    ldap_unbind_ext_s(ld, NULL, NULL);
    if (rc == LDAP_SUCCESS) {
        VR_DEBUG(MOD, "bind as '%s' succeeded in %lld ms", dn,
                 (long long)(vr_mono_ms() - t0));
        return 1;
    }
    if (refused_code(rc)) {
        VR_DEBUG(MOD, "bind as '%s' refused: %s%s", dn, ldap_err2string(rc),
                 diag);
        return 0;
    }
    return unavailable(lb, unreachable_code(rc) ? "unreachable"
                                                : "unusable, the bind failed",
                       rc, diag, err);
}

static int ldap_verify(struct vr_auth_backend *b, const char *user,
                       const char *password, struct vr_error *err)
{
    int rc = bind_check(b->priv, user, password, err);

    /* A refusal takes as long as a local password check: a bind is
     * answered in a millisecond, an Argon2id check takes ~60 ms, and the
     * difference would tell the names of local accounts (admin) from the
     * directory's and from unknown ones. */
    if (rc == 0) {
        char dummy[VR_PWHASH_SIZE];
        vr_auth_hash_password("x", dummy, NULL);
    }
    return rc;
}

static void ldap_close(struct vr_auth_backend *b)
{
    struct ldap_backend *lb;

    if (!b)
        return;
    lb = b->priv;
    free(lb->uri);
    free(lb->tmpl);
    free(lb->ca_file);
    free(lb);
}

/* ---- the backend */

/* How many certificates a PEM file holds (libldap takes a file without
 * any as an empty trust list: every login would fail, and only then). */
static int ca_file_count(const char *path)
{
    gnutls_certificate_credentials_t cred;
    int n;

    if (gnutls_certificate_allocate_credentials(&cred) < 0)
        return -1;
    n = gnutls_certificate_set_x509_trust_file(cred, path,
                                               GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(cred);
    return n;
}

struct vr_auth_backend *vr_ldap_open(const struct vr_config *cfg,
                                     struct vr_error *err)
{
    struct ldap_backend *lb;
    bool ldaps;
    LDAP *ld;
    int version;

    if (!cfg->ldap_uri || !*cfg->ldap_uri) {
        vr_err(err, VR_E_INVALID, "setting 'ldap_uri' is empty");
        return NULL;
    }
    if (vr_ldap_template_check(cfg->ldap_user_dn, err) < 0)
        return NULL;
    ldaps = strcasestr(cfg->ldap_uri, "ldaps://") != NULL;
    if (cfg->ldap_starttls && ldaps) {
        vr_err(err, VR_E_INVALID, "settings 'ldap_starttls' and an ldaps:// "
               "'ldap_uri' ('%s') disagree: ldaps:// is TLS from the start; "
               "use one or the other", cfg->ldap_uri);
        return NULL;
    }
    if (cfg->ldap_ca_file && *cfg->ldap_ca_file) {
        if (!cfg->ldap_starttls && !ldaps) {
            vr_err(err, VR_E_INVALID, "setting 'ldap_ca_file' is set but "
                   "LDAP does not use TLS: set 'ldap_starttls = true' or use "
                   "an ldaps:// 'ldap_uri'");
            return NULL;
        }
        if (access(cfg->ldap_ca_file, R_OK) != 0) {
            vr_err(err, VR_E_INVALID, "setting 'ldap_ca_file': unable to "
                   "read '%s': %s", cfg->ldap_ca_file, strerror(errno));
            return NULL;
        }
        if (ca_file_count(cfg->ldap_ca_file) <= 0) {
            vr_err(err, VR_E_INVALID, "setting 'ldap_ca_file': '%s' holds "
                   "no PEM certificate", cfg->ldap_ca_file);
            return NULL;
        }
    }

    /* libldap's global defaults are set up by the first call, once,
     * here, before any API thread makes a handle */
    ldap_get_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &version);

    lb = vr_calloc(1, sizeof(*lb));
    lb->b.name = "ldap";
    lb->b.verify = ldap_verify;
    lb->b.close = ldap_close;
    lb->b.priv = lb;
    lb->uri = vr_strdup(cfg->ldap_uri);
    lb->tmpl = vr_strdup(cfg->ldap_user_dn);
    lb->ca_file = cfg->ldap_ca_file && *cfg->ldap_ca_file
                      ? vr_strdup(cfg->ldap_ca_file)
                      : NULL;
    lb->starttls = cfg->ldap_starttls;
    lb->tls = cfg->ldap_starttls || ldaps;
    lb->timeout_s = cfg->ldap_timeout_s > 0 ? cfg->ldap_timeout_s : 5;

    /* the URI's syntax and the TLS context (the CA file must load) are
     * checked now, not at the first login; no connection is made */
    if (handle_setup(lb, &ld, err) < 0) {
        ldap_close(&lb->b);
        return NULL;
    }
    ldap_unbind_ext_s(ld, NULL, NULL);
    if (!lb->tls && !strstr(lb->uri, "://127.") &&
        !strstr(lb->uri, "://localhost") && !strstr(lb->uri, "://[::1]") &&
        strncasecmp(lb->uri, "ldapi://", 8) != 0)
        VR_WARN(MOD, "LDAP passwords go to '%s' in clear text: set "
                "'ldap_starttls = true' or use an ldaps:// URI", lb->uri);
    VR_INFO(MOD, "LDAP logins through '%s' as '%s'%s", lb->uri, lb->tmpl,
            lb->starttls ? " with StartTLS" : "");
    return &lb->b;
}
