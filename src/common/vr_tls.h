/*
 * vr_tls.h - the API's TLS material (GnuTLS): a private CA and a server
 * certificate made on first start, and public-key pins.
 *
 * The directory made by vr_tls_ensure() holds:
 *
 *   ca.pem          the CA certificate (give it to clients: --ca-file)
 *   ca-key.pem      its private key (0600)
 *   server.pem      the server certificate, signed by the CA
 *   server-key.pem  its private key (0600)
 *
 * Keys are ECDSA P-256 (PKCS#8 PEM).  The CA is valid 10 years
 * (basicConstraints CA:TRUE, keyCertSign), the server certificate 2 years
 * with subjectAltNames DNS:localhost, DNS:<hostname>, IP:127.0.0.1, IP:::1
 * and the extra IPs given.  Serials are 16 random bytes.
 *
 * A pin is curl's CURLOPT_PINNEDPUBLICKEY form of a certificate's public
 * key: "sha256//" and the base64 of the SHA-256 of the DER
 * SubjectPublicKeyInfo (what `openssl x509 -pubkey | openssl pkey -pubin
 * -outform der | openssl dgst -sha256 -binary | base64` prints).
 */
#ifndef VR_TLS_H
#define VR_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "vr_error.h"

#define VR_TLS_CA_CERT "ca.pem"
#define VR_TLS_CA_KEY "ca-key.pem"
#define VR_TLS_SERVER_CERT "server.pem"
#define VR_TLS_SERVER_KEY "server-key.pem"

/* "sha256//" + 44 base64 characters + NUL */
#define VR_TLS_PIN_SIZE 53

/* Make sure `dir` holds a server certificate and key; create what is
 * missing, change nothing that exists:
 *   - server.pem and server-key.pem both there: nothing to do (the CA is
 *     not looked at: its key may live elsewhere);
 *   - server-key.pem alone: a new certificate for that key (the pin stays);
 *   - server.pem alone: an error (a certificate without its key);
 *   - otherwise a new key and certificate, signed by the CA in `dir`,
 *     which is made first if neither ca.pem nor ca-key.pem exists (a
 *     missing ca.pem is re-made from ca-key.pem; a ca.pem without its key
 *     is an error).
 * `hostname` (may be NULL or empty) becomes a DNS name when it is a valid
 * one other than "localhost"; `extra_ips` (NULL-terminated, may be NULL)
 * are IPv4 or IPv6 addresses to name besides the loopback ones.  `dir` is
 * created (0755) if needed. */
int vr_tls_ensure(const char *dir, const char *hostname,
                  const char *const *extra_ips, struct vr_error *err);

/* The pin of the first certificate in the PEM text `pem` (`size` bytes). */
int vr_tls_pin_pem(const char *pem, size_t size, char pin[VR_TLS_PIN_SIZE],
                   struct vr_error *err);
/* The pin of the first certificate in the PEM file `path`. */
int vr_tls_pin_file(const char *path, char pin[VR_TLS_PIN_SIZE],
                    struct vr_error *err);
/* Whether `s` has the form of a pin ("sha256//" and 44 base64 chars). */
bool vr_tls_pin_valid(const char *s);

/* Check that the PEM files `cert_path` and `key_path` can be read and
 * parsed and that the key is the certificate's. */
int vr_tls_check_pair(const char *cert_path, const char *key_path,
                      struct vr_error *err);

/* 1 if the first certificate in `cert_path` names the IP address `ip` in
 * its subjectAltName, 0 if not, -1 with err if it cannot be read. */
int vr_tls_cert_names_ip(const char *cert_path, const char *ip,
                         struct vr_error *err);

#endif
