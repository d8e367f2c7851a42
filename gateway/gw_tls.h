/*
 * gw_tls.h - the gateway's HTTPS credentials (flow-gateway --tls-cert
 * FILE --tls-key FILE): a certificate chain and its private key, read
 * from two PEM files, checked to belong together, and read again on
 * SIGHUP. libmicrohttpd (GnuTLS) asks for them on every handshake
 * (gw_tls_retrieve), so a reloaded pair serves every connection made
 * after the reload, while connections already up keep theirs: a
 * certificate rotation needs no restart. A reload that fails keeps the
 * pair in use.
 */
#ifndef GATEWAY_GW_TLS_H
#define GATEWAY_GW_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

typedef struct gw_tls gw_tls;

/* What HTTPS accepts (MHD_OPTION_HTTPS_PRIORITIES, a GnuTLS priority
 * string): TLS 1.3 and 1.2 only; for 1.2, forward-secret key exchange
 * (ECDHE) with AEAD ciphers (AES-GCM, ChaCha20-Poly1305) only, so no
 * export, RC4, 3DES, CBC or static-RSA suites; safe renegotiation only
 * (and libmicrohttpd closes a connection whose client asks to
 * renegotiate). */
extern const char gw_tls_priorities[];

/* Reads cert_path (the server's certificate, then any intermediates) and
 * key_path (its private key, unencrypted). Returns 0 with *out (free
 * with gw_tls_free), or -1 with a one-line reason in err. */
int gw_tls_new(gw_tls **out, const char *cert_path, const char *key_path,
    char *err, size_t errlen);

/* Reads the two files again; the new pair replaces the old for the
 * handshakes that follow. Returns 0, or -1 with the reason in err and the
 * old pair kept. Any thread. */
int gw_tls_reload(gw_tls *t, char *err, size_t errlen);

void gw_tls_free(gw_tls *t);

/* The pair in use, for a log line: "CN=localhost, serial 0A1B... (hex,
 * as openssl prints it), valid until 2027-11-29T23:58:20Z"; *expired (may be NULL) tells whether the
 * certificate is outside its validity dates now. */
void gw_tls_describe(gw_tls *t, char *buf, size_t len, bool *expired);

/* For a GnuTLS certificate retrieve function (version 3): copies of the
 * pair in use for one handshake, which GnuTLS frees when the session ends
 * (*flags gets GNUTLS_CERT_RETR_DEINIT_ALL). Copies, because a reload may
 * free the pair while sessions that started with it go on. Returns 0, or
 * a negative GnuTLS error (the handshake then fails). */
int gw_tls_retrieve(gw_tls *t, gnutls_pcert_st **certs, unsigned *ncerts,
    gnutls_privkey_t *key, unsigned *flags);

#endif
