/*
 * cli_http.c - the libcurl client of `vireo` (see cli_http.h).
 *
 * One call is one `struct xfer`: what to send (a JSON body, or a file
 * descriptor for uploads) and where the answer goes (a buffer, or a chunk
 * callback for streams).  perform() runs it once, and once more after a
 * successful re-authentication when the first answer was 401.
 */
#include "cli_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"

#define CONNECT_TIMEOUT_S 5L
#define CALL_TIMEOUT_S 70L
#define MAX_ERROR_BODY (64u << 10)

struct cli_http {
    CURL *curl;
    char *base;  /* "https://host:port", no trailing '/' */
    char *token; /* NULL: none */
    char *ca_file; /* NULL: the system's CA store */
    char *pin;     /* NULL: any key a trusted CA vouches for */
    bool untrusted; /* the last call failed on the certificate */
    cli_reauth_fn reauth;
    void *reauth_ctx;
    long status; /* of the last answer */
    char errbuf[CURL_ERROR_SIZE];
};

/* One call: the request and the answer. */
struct xfer {
    CURL *curl;
    const char *method;
    unsigned flags;
    const char *accept;
    /* request body: JSON text, or `fd` >= 0 for an upload */
    const char *body;
    size_t body_size;
    int fd;
    uint64_t upload_size;
    int read_errno;
    cli_progress_fn progress;
    void *pctx;
    /* answer */
    cli_chunk_fn chunk; /* streams: 2xx bytes go here */
    void *cctx;
    bool chunk_stopped;
    struct vr_buf resp; /* the answer (or error) body */
    bool too_large;
    char ctype[96];
};

struct cli_http *cli_http_new(const char *base_url, struct vr_error *err)
{
    struct cli_http *h = vr_calloc(1, sizeof(*h));
    size_t n;

    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        vr_err(err, VR_E_INTERNAL, "unable to initialise libcurl");
        return NULL;
    }
    h->base = vr_strdup(base_url);
    n = strlen(h->base);
    while (n > 0 && h->base[n - 1] == '/')
        h->base[--n] = '\0';
    return h;
}

static void secret_release(char **s)
{
    if (*s) {
        memset(*s, 0, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void cli_http_free(struct cli_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    secret_release(&h->token);
    free(h->ca_file);
    free(h->pin);
    free(h->base);
    free(h);
}

void cli_http_set_trust(struct cli_http *h, const char *ca_file,
                        const char *pin)
{
    free(h->ca_file);
    free(h->pin);
    h->ca_file = vr_strdup(ca_file);
    h->pin = vr_strdup(pin);
}

bool cli_http_untrusted(const struct cli_http *h)
{
    return h->untrusted;
}

void cli_http_set_token(struct cli_http *h, const char *token)
{
    secret_release(&h->token);
    if (token && *token)
        h->token = vr_strdup(token);
}

void cli_http_set_reauth(struct cli_http *h, cli_reauth_fn fn, void *ctx)
{
    h->reauth = fn;
    h->reauth_ctx = ctx;
}

bool cli_http_has_token(const struct cli_http *h)
{
    return h->token != NULL;
}

long cli_http_status(const struct cli_http *h)
{
    return h->status;
}

char *cli_http_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    struct vr_buf b = VR_BUF_INIT;

    vr_buf_init(&b);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
            *p == '~') {
            vr_buf_add(&b, p, 1);
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            vr_buf_add(&b, enc, 3);
        }
    }
    return vr_buf_detach(&b);
}

/* ---- libcurl callbacks */

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    size_t cap = (x->flags & CLI_HTTP_NOCAP) ? SIZE_MAX : CLI_HTTP_MAX_BODY;

    if (x->chunk) {
        long status = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            if (x->chunk(data, n, x->cctx) < 0) {
                x->chunk_stopped = true;
                return 0;
            }
            return n;
        }
        /* an error answer: keep its start for the message */
        if (x->resp.len < MAX_ERROR_BODY)
            vr_buf_add(&x->resp, data,
                       n < MAX_ERROR_BODY - x->resp.len
                           ? n
                           : MAX_ERROR_BODY - x->resp.len);
        return n;
    }
    if (n > cap - x->resp.len) {
        x->too_large = true;
        return 0;
    }
    vr_buf_add(&x->resp, data, n);
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct xfer *x = ud;
    ssize_t r;

    if (cli_interrupted)
        return CURL_READFUNC_ABORT;
    do {
        r = read(x->fd, buf, size * nitems);
    } while (r < 0 && errno == EINTR && !cli_interrupted);
    if (r < 0) {
        x->read_errno = errno;
        return CURL_READFUNC_ABORT;
    }
    return (size_t)r;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    struct xfer *x = ud;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    if (cli_interrupted)
        return 1;
    if (x->progress && x->fd >= 0)
        x->progress((uint64_t)ulnow, x->upload_size, x->pctx);
    return 0;
}

/* ---- one call */

/* The verification of the server: on, always; only the trust anchors and
 * the pin vary.  A CA file replaces the system's store (not added to it). */
static CURLcode set_trust(struct cli_http *h, CURL *c)
{
    CURLcode rc;

    if ((rc = curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L)) != CURLE_OK ||
        (rc = curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L)) != CURLE_OK)
        return rc;
    if (h->ca_file &&
        ((rc = curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file)) != CURLE_OK ||
         (rc = curl_easy_setopt(c, CURLOPT_CAPATH, NULL)) != CURLE_OK))
        return rc;
    if (h->pin)
        return curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, h->pin);
    return CURLE_OK;
}

#define SETOPT(c, opt, val)                                                    \
    do {                                                                       \
        if (curl_easy_setopt(c, opt, val) != CURLE_OK)                         \
            goto setopt_failed;                                                \
    } while (0)

static CURLcode perform_once(struct cli_http *h, const char *path,
                             struct xfer *x)
{
    CURL *c = h->curl;
    struct curl_slist *hdrs = NULL;
    vr_autofree char *url = vr_asprintf("%s%s", h->base, path);
    char *line;
    CURLcode rc;

    curl_easy_reset(c);
    h->errbuf[0] = '\0';
    h->status = 0;
    h->untrusted = false;
    x->resp.len = 0;
    x->resp.data[0] = '\0';
    x->too_large = false;
    x->chunk_stopped = false;
    x->ctype[0] = '\0';
    x->read_errno = 0;

    SETOPT(c, CURLOPT_URL, url);
    SETOPT(c, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(c, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(c, CURLOPT_NOSIGNAL, 1L);
    SETOPT(c, CURLOPT_USERAGENT, "vireo-cli/" VIREO_VERSION);
    SETOPT(c, CURLOPT_ERRORBUFFER, h->errbuf);
    SETOPT(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    SETOPT(c, CURLOPT_TIMEOUT,
           (x->flags & CLI_HTTP_LONG) ? 0L : CALL_TIMEOUT_S);
    SETOPT(c, CURLOPT_TCP_KEEPALIVE, 1L);
    if (set_trust(h, c) != CURLE_OK)
        goto setopt_failed;
    SETOPT(c, CURLOPT_WRITEFUNCTION, on_write);
    SETOPT(c, CURLOPT_WRITEDATA, x);
    SETOPT(c, CURLOPT_NOPROGRESS, 0L);
    SETOPT(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    SETOPT(c, CURLOPT_XFERINFODATA, x);
    if (!(x->flags & CLI_HTTP_NOCAP) && !x->chunk)
        SETOPT(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLI_HTTP_MAX_BODY);

    line = vr_asprintf("Accept: %s", x->accept);
    hdrs = curl_slist_append(hdrs, line);
    free(line);
    if (h->token && !(x->flags & CLI_HTTP_NOAUTH)) {
        line = vr_asprintf("Authorization: Bearer %s", h->token);
        hdrs = curl_slist_append(hdrs, line);
        memset(line, 0, strlen(line));
        free(line);
    }
    if (x->fd >= 0) {
        SETOPT(c, CURLOPT_UPLOAD, 1L);
        SETOPT(c, CURLOPT_READFUNCTION, on_read);
        SETOPT(c, CURLOPT_READDATA, x);
        SETOPT(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->upload_size);
        hdrs =
            curl_slist_append(hdrs, "Content-Type: application/octet-stream");
    } else if (strcmp(x->method, "POST") == 0) {
        SETOPT(c, CURLOPT_POST, 1L);
        SETOPT(c, CURLOPT_POSTFIELDS, x->body ? x->body : "");
        SETOPT(c, CURLOPT_POSTFIELDSIZE_LARGE,
               (curl_off_t)(x->body ? x->body_size : 0));
        hdrs = curl_slist_append(
            hdrs, x->body ? "Content-Type: application/json" : "Content-Type:");
    } else if (strcmp(x->method, "GET") != 0) {
        SETOPT(c, CURLOPT_CUSTOMREQUEST, x->method);
        if (x->body) {
            SETOPT(c, CURLOPT_POSTFIELDS, x->body);
            SETOPT(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_size);
            hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        }
    }
    /* curl_slist_append returns NULL when out of memory */
    if (!hdrs)
        goto setopt_failed;
    SETOPT(c, CURLOPT_HTTPHEADER, hdrs);

    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    {
        char *ct = NULL;
        if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
            vr_strlcpy(x->ctype, ct, sizeof(x->ctype));
    }
    curl_slist_free_all(hdrs);
    /* the handle keeps pointers to our headers and buffers: drop them */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    return rc;

setopt_failed:
    curl_slist_free_all(hdrs);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    return CURLE_FAILED_INIT;
}

static int transport_error(struct cli_http *h, struct xfer *x, CURLcode rc,
                           struct vr_error *err)
{
    long os_errno = 0;
    const char *why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);

    curl_easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &os_errno);
    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_ISSUER_ERROR:
        h->untrusted = true;
        vr_err(err, VR_E_UNAVAILABLE,
               "the server's certificate is not trusted (%s)", why);
        cli_sanitize(err->msg);
        return -1;
    case CURLE_SSL_CACERT_BADFILE:
        return vr_err(err, VR_E_INVALID, "unable to use the CA file '%s': %s",
                      h->ca_file ? h->ca_file : "(the system's)", why);
    case CURLE_SSL_CONNECT_ERROR:
        return vr_err(err, VR_E_UNAVAILABLE,
                      "cannot reach %s: the TLS handshake failed (%s)",
                      h->base, why);
    case CURLE_COULDNT_CONNECT:
        return vr_err(err, VR_E_UNAVAILABLE, "cannot reach %s: %s", h->base,
                      os_errno ? strerror((int)os_errno) : why);
    case CURLE_COULDNT_RESOLVE_HOST:
        return vr_err(err, VR_E_UNAVAILABLE, "cannot reach %s: unknown host",
                      h->base);
    case CURLE_OPERATION_TIMEDOUT:
        return vr_err(err, VR_E_TIMEOUT, "cannot reach %s: %s", h->base,
                      h->status ? "the server did not answer in time"
                                : "timed out");
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return vr_err(err, VR_E_INVALID, "invalid server URL '%s': %s", h->base,
                      why);
    case CURLE_FILESIZE_EXCEEDED:
        return vr_err(err, VR_E_TOO_LARGE,
                      "the answer from %s is larger "
                      "than %u MiB",
                      h->base, CLI_HTTP_MAX_BODY >> 20);
    case CURLE_WRITE_ERROR:
        if (x->too_large)
            return vr_err(err, VR_E_TOO_LARGE,
                          "the answer from %s is larger "
                          "than %u MiB",
                          h->base, CLI_HTTP_MAX_BODY >> 20);
        if (x->chunk_stopped)
            return vr_err(err, VR_E_INTERNAL, "unable to write the output");
        break;
    case CURLE_ABORTED_BY_CALLBACK:
        if (cli_interrupted)
            return vr_err(err, VR_E_INTERNAL, "interrupted");
        if (x->read_errno)
            return vr_err(err, VR_E_INTERNAL, "unable to read the file: %s",
                          strerror(x->read_errno));
        break;
    case CURLE_READ_ERROR:
        return vr_err(err, VR_E_INTERNAL, "unable to read the file: %s",
                      x->read_errno ? strerror(x->read_errno) : why);
    default:
        break;
    }
    return vr_err(err, VR_E_UNAVAILABLE, "request to %s failed: %s", h->base,
                  why);
}

static enum vr_error_code code_for_status(long status)
{
    for (int c = 0; c < VR_E__LAST; c++)
        if (c != VR_E_NONE &&
            vr_err_http_status((enum vr_error_code)c) == status)
            return (enum vr_error_code)c;
    return status >= 500 ? VR_E_INTERNAL : VR_E_INVALID;
}

/* The error of a non-2xx answer: the problem's detail if there is one. */
static int answer_error(struct cli_http *h, struct xfer *x,
                        struct vr_error *err)
{
    enum vr_error_code code = code_for_status(h->status);
    json_t *j;

    if (h->status >= 300 && h->status < 400)
        return vr_err(err, VR_E_INVALID,
                      "%s answered with a redirect "
                      "(HTTP %ld); is the URL right?",
                      h->base, h->status);
    j = json_loadb(x->resp.data, x->resp.len, 0, NULL);
    if (j) {
        const char *detail = json_string_value(json_object_get(j, "detail"));
        if (!detail)
            detail = json_string_value(json_object_get(j, "title"));
        if (detail && *detail) {
            vr_err(err, code, "%s", detail);
            json_decref(j);
            cli_sanitize(err->msg);
            return -1;
        }
        json_decref(j);
    }
    if (x->resp.len > 0 && strncmp(x->ctype, "text/", 5) == 0) {
        size_t n = strcspn(x->resp.data, "\r\n");
        vr_err(err, code, "%s answered HTTP %ld: %.*s", h->base, h->status,
               (int)(n > 200 ? 200 : n), x->resp.data);
        cli_sanitize(err->msg);
        return -1;
    }
    return vr_err(err, code, "%s answered HTTP %ld", h->base, h->status);
}

static int perform(struct cli_http *h, const char *path, struct xfer *x,
                   struct vr_error *err)
{
    x->curl = h->curl;
    vr_buf_init(&x->resp);
    for (int attempt = 0;; attempt++) {
        CURLcode rc;

        if (x->fd >= 0 && lseek(x->fd, 0, SEEK_SET) < 0) {
            vr_err(err, VR_E_INTERNAL, "unable to rewind the file: %s",
                   strerror(errno));
            goto fail;
        }
        rc = perform_once(h, path, x);
        if (rc != CURLE_OK) {
            transport_error(h, x, rc, err);
            goto fail;
        }
        if (h->status >= 200 && h->status < 300)
            return 0;
        answer_error(h, x, err);
        if (h->status != 401 || attempt > 0 || (x->flags & CLI_HTTP_NOAUTH) ||
            !h->reauth)
            goto fail;
        if (h->reauth(h, h->reauth_ctx, err) < 0)
            goto fail;
    }
fail:
    vr_buf_release(&x->resp);
    return -1;
}

static void xfer_init(struct xfer *x, const char *method, unsigned flags)
{
    memset(x, 0, sizeof(*x));
    x->method = method;
    x->flags = flags;
    x->fd = -1;
    x->accept = "application/json";
}

static int parse_answer(struct cli_http *h, struct xfer *x, json_t **out,
                        struct vr_error *err)
{
    json_error_t jerr;

    if (!out)
        return 0;
    *out = NULL;
    if (x->resp.len == 0)
        return 0;
    *out = json_loadb(x->resp.data, x->resp.len, 0, &jerr);
    if (!*out)
        return vr_err(err, VR_E_INTERNAL, "%s sent invalid JSON: %s", h->base,
                      jerr.text);
    return 0;
}

/* ---- the server's certificates */

/* The PEM text of certificate `i` of curl's certificate information. */
static char *certinfo_pem(const struct curl_certinfo *ci, int i)
{
    for (const struct curl_slist *l = ci->certinfo[i]; l; l = l->next)
        if (strncmp(l->data, "Cert:", 5) == 0)
            return vr_strdup(l->data + 5);
    return NULL;
}

int cli_http_peer_chain(struct cli_http *h, char **leaf, char **top,
                        struct vr_error *err)
{
    CURL *c = h->curl;
    struct curl_certinfo *ci = NULL;
    CURLcode rc;

    *leaf = *top = NULL;
    if (strncmp(h->base, "https://", 8) != 0)
        return vr_err(err, VR_E_INVALID, "%s is not an https:// URL",
                      h->base);
    /* A new connection that stops after the handshake: the certificates
     * are recorded before they are verified, so they can be read even
     * when verification fails.  Verification stays on, and nothing is
     * sent whatever its outcome. */
    curl_easy_reset(c);
    h->errbuf[0] = '\0';
    if (curl_easy_setopt(c, CURLOPT_URL, h->base) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S) !=
            CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_TIMEOUT, CALL_TIMEOUT_S) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_CERTINFO, 1L) != CURLE_OK ||
        set_trust(h, c) != CURLE_OK)
        return vr_err(err, VR_E_INTERNAL, "unable to set up libcurl");
    rc = curl_easy_perform(c);
    if (curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci ||
        ci->num_of_certs < 1) {
        struct xfer x;
        memset(&x, 0, sizeof(x));
        transport_error(h, &x, rc, err);
        vr_err_prefix(err, "unable to read the server's certificate");
        curl_easy_reset(c);
        return -1;
    }
    *leaf = certinfo_pem(ci, 0);
    *top = certinfo_pem(ci, ci->num_of_certs - 1);
    curl_easy_reset(c);
    if (!*leaf || !*top) {
        free(*leaf);
        free(*top);
        *leaf = *top = NULL;
        return vr_err(err, VR_E_INTERNAL, "%s sent a certificate curl could "
                      "not decode", h->base);
    }
    return 0;
}

/* ---- calls */

int cli_http_call(struct cli_http *h, const char *method, const char *path,
                  const json_t *body, unsigned flags, json_t **out,
                  struct vr_error *err)
{
    vr_autofree char *text = NULL;
    struct xfer x;
    int ret;

    if (out)
        *out = NULL;
    xfer_init(&x, method, flags);
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text)
            return vr_err(err, VR_E_INTERNAL, "unable to encode the request");
        x.body = text;
        x.body_size = strlen(text);
    }
    if (perform(h, path, &x, err) < 0) {
        if (text)
            memset(text, 0, x.body_size); /* may hold a password */
        return -1;
    }
    if (text)
        memset(text, 0, x.body_size);
    ret = parse_answer(h, &x, out, err);
    vr_buf_release(&x.resp);
    return ret;
}

int cli_http_get_raw(struct cli_http *h, const char *path, unsigned flags,
                     struct vr_buf *out, struct vr_error *err)
{
    struct xfer x;

    xfer_init(&x, "GET", flags);
    x.accept = "*/*";
    if (perform(h, path, &x, err) < 0)
        return -1;
    vr_buf_add(out, x.resp.data, x.resp.len);
    vr_buf_release(&x.resp);
    return 0;
}

int cli_http_upload(struct cli_http *h, const char *path, int fd, uint64_t size,
                    cli_progress_fn progress, void *pctx, json_t **out,
                    struct vr_error *err)
{
    struct xfer x;
    int ret;

    if (out)
        *out = NULL;
    xfer_init(&x, "PUT", CLI_HTTP_LONG);
    x.fd = fd;
    x.upload_size = size;
    x.progress = progress;
    x.pctx = pctx;
    if (perform(h, path, &x, err) < 0)
        return -1;
    ret = parse_answer(h, &x, out, err);
    vr_buf_release(&x.resp);
    return ret;
}

int cli_http_stream(struct cli_http *h, const char *path, cli_chunk_fn fn,
                    void *ctx, struct vr_error *err)
{
    struct xfer x;

    xfer_init(&x, "GET", CLI_HTTP_LONG | CLI_HTTP_NOCAP);
    x.accept = "text/event-stream";
    x.chunk = fn;
    x.cctx = ctx;
    if (perform(h, path, &x, err) < 0)
        return -1;
    vr_buf_release(&x.resp);
    return 0;
}
