/*
 * fs_tls.h - TLS for the RPC transport (nng's tls+tcp://, mbedTLS in
 * Debian's libnng): the PEM files read once, and the nng_tls_config of a
 * dialer (fs_rpc_client.c) or of a listener (fs_rpc_server.c) built from
 * them. Not part of fs_rpc.h's interface.
 *
 * What nng 1.5.2 with mbedTLS 2.28 does, and so what this module works
 * around (ENGINEERING.md, "Traps"):
 * - a key is given apart from its certificate (nng's cert-key-file option
 *   wants both in one file): the files are read here and handed to nng as
 *   PEM text;
 * - a client's server-name check matches the certificate's DNS names
 *   only, never an IP address: a URL whose host is an IP needs a name set
 *   (fs_tls_dialer_config refuses one without);
 * - a listener checks no client certificate unless told: see
 *   fs_tls_listener_config for the mode used and why.
 */
#ifndef PROTO_FS_TLS_H
#define PROTO_FS_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

/* The PEM text of the three files; NULL where no file was given. */
typedef struct fs_tls_pem {
	char *cert; /* own certificate, then any intermediates */
	char *key;  /* own private key (unencrypted) */
	char *ca;   /* the CA certificate(s) a peer's certificate must chain
	             * to */
} fs_tls_pem;

/* Whether url's scheme is one of nng's TLS ones (tls+tcp, tls+tcp4,
 * tls+tcp6). */
bool fs_tls_url(const char *url);

/* Reads the files (any may be NULL) into p, checking that each holds PEM
 * text that mbedTLS parses (a certificate, a key, CA certificates) and
 * that a key comes with a certificate. Returns 0, or -1 with a one-line
 * reason naming the file in err. p belongs to the caller: fs_tls_pem_fini
 * (also after a failure). */
int fs_tls_pem_load(fs_tls_pem *p, const char *cert, const char *key,
    const char *ca, char *err, size_t errlen);
void fs_tls_pem_fini(fs_tls_pem *p);

/* Copies src into dst (deep). Returns 0 or -1 (out of memory). */
int fs_tls_pem_copy(fs_tls_pem *dst, const fs_tls_pem *src);

/* A client configuration for dialing url: p's CA (required) checks the
 * server, whose certificate must carry server_name (NULL: url's host,
 * which must then be a DNS name, not an IP address); p's certificate and
 * key, when there are, are presented to it. Returns 0 with *out (the
 * caller drops it with nng_tls_config_free once the dialer holds it), or
 * an nng error with a one-line reason in err. */
int fs_tls_dialer_config(nng_tls_config **out, const fs_tls_pem *p,
    const char *url, const char *server_name, char *err, size_t errlen);

/* A server configuration for mutual TLS: p's certificate and key (both
 * required) are presented, and a client must present a certificate that
 * chains to p's CA (required). Returns as fs_tls_dialer_config. */
int fs_tls_listener_config(nng_tls_config **out, const fs_tls_pem *p,
    char *err, size_t errlen);

#endif
