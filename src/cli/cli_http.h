/*
 * cli_http.h - the HTTP client of `vireo`: one libcurl easy handle to one
 * server, reused for every call of a run (so the connection is kept).
 *
 * Every call builds "<base>/api/v1..." from the base URL and a path the
 * caller has escaped (cli_http_escape), sends the token as a Bearer
 * header, never follows redirects, and turns any answer that is not 2xx
 * into a vr_error whose message is the problem+json `detail`.  Transport
 * failures read "cannot reach <base>: <reason>".
 *
 * Timeouts: 5 s to connect; 70 s in all for ordinary calls, none for calls
 * with CLI_HTTP_LONG (long polls, uploads, event streams).  Response
 * bodies are capped at 16 MiB unless CLI_HTTP_NOCAP.
 *
 * On 401 the client calls the re-authentication hook once (if set) and
 * repeats the call with the new token.
 *
 * TLS: an https:// server's certificate chain and name are always verified
 * (never turned off), against the CA file given to cli_http_set_trust() or
 * else the system's CA store, and its public key must match the pin if one
 * is given.  A server that fails this gets no request at all (curl checks
 * during the handshake); the call fails with "the server's certificate is
 * not trusted (<reason>)".
 */
#ifndef CLI_HTTP_H
#define CLI_HTTP_H

#include <jansson.h>
#include <stdint.h>

#include "vr_error.h"
#include "vr_util.h"

#define CLI_HTTP_MAX_BODY (16u << 20)

struct cli_http;

enum cli_http_flags {
    CLI_HTTP_LONG = 1 << 0,   /* no total timeout */
    CLI_HTTP_NOCAP = 1 << 1,  /* no cap on the response size */
    CLI_HTTP_NOAUTH = 1 << 2, /* no token, no re-authentication */
};

/* The 401 hook: get a new token and give it with cli_http_set_token();
 * return 0 to repeat the call.  Return -1 to give up: with `err` set, that
 * error is reported instead of the server's 401 detail. */
typedef int (*cli_reauth_fn)(struct cli_http *h, void *ctx,
                             struct vr_error *err);

/* Streamed response bytes (2xx answers only); return -1 to stop. */
typedef int (*cli_chunk_fn)(const char *data, size_t len, void *ctx);

/* Upload progress: `done` of `total` bytes sent. */
typedef void (*cli_progress_fn)(uint64_t done, uint64_t total, void *ctx);

/* `base_url` is copied ("https://host:port", any trailing '/' removed).
 * NULL with err if libcurl cannot be set up. */
struct cli_http *cli_http_new(const char *base_url, struct vr_error *err);
void cli_http_free(struct cli_http *h); /* NULL-safe */

/* What to trust (both copied): the CA certificates in the PEM file
 * `ca_file` (NULL: the system's store), and, if `pin` is not NULL, only a
 * server whose public key has that pin ("sha256//<base64>"). */
void cli_http_set_trust(struct cli_http *h, const char *ca_file,
                        const char *pin);
/* Whether the last call failed because the server's certificate was not
 * trusted (chain, name or pin). */
bool cli_http_untrusted(const struct cli_http *h);
/* Read the certificates an https:// server presents, trusted or not: only
 * a TLS handshake, no request is sent.  *leaf gets the server's own
 * certificate and *top the last one of the chain it sent (the same when it
 * sent one), as PEM; the caller frees both. */
int cli_http_peer_chain(struct cli_http *h, char **leaf, char **top,
                        struct vr_error *err);

/* The token to send (copied; NULL for none). */
void cli_http_set_token(struct cli_http *h, const char *token);
void cli_http_set_reauth(struct cli_http *h, cli_reauth_fn fn, void *ctx);
/* Whether a token is set. */
bool cli_http_has_token(const struct cli_http *h);
/* HTTP status of the last answer (0 if none). */
long cli_http_status(const struct cli_http *h);

/* Percent-encode one path segment or query value (caller frees). */
char *cli_http_escape(const char *s);

/* A JSON call.  `path` starts with "/api/v1/"; `body` (may be NULL) is
 * sent as application/json.  On 2xx, *out (if out is not NULL) gets the
 * parsed answer, or NULL for an empty one (204).  Returns 0 or -1. */
int cli_http_call(struct cli_http *h, const char *method, const char *path,
                  const json_t *body, unsigned flags, json_t **out,
                  struct vr_error *err);

/* GET a non-JSON answer into `out` (initialised by the caller). */
int cli_http_get_raw(struct cli_http *h, const char *path, unsigned flags,
                     struct vr_buf *out, struct vr_error *err);

/* PUT `size` bytes read from `fd` (from offset 0) as
 * application/octet-stream.  `progress` (may be NULL) is called as bytes
 * go out.  cli_interrupted aborts the transfer.  *out as for
 * cli_http_call. */
int cli_http_upload(struct cli_http *h, const char *path, int fd, uint64_t size,
                    cli_progress_fn progress, void *pctx, json_t **out,
                    struct vr_error *err);

/* GET a stream, handing each piece of a 2xx answer to `fn`, until the
 * server ends it (returns 0) or an error (-1). */
int cli_http_stream(struct cli_http *h, const char *path, cli_chunk_fn fn,
                    void *ctx, struct vr_error *err);

#endif
