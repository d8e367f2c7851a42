/*
 * fs_tls.c - see fs_tls.h.
 *
 * The files are checked when they are read: each is handed to a scratch
 * nng_tls_config (which parses it with mbedTLS), so that a wrong file is
 * refused once, at start, with its name, rather than on every handshake
 * with nng's "Cryptographic error".
 */
#include "fs_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Certificates and keys are small; anything larger is not one. */
#define FS_TLS_FILE_MAX (1u << 20)

bool
fs_tls_url(const char *url)
{
	return url != NULL &&
	    (strncmp(url, "tls+tcp://", 10) == 0 ||
	        strncmp(url, "tls+tcp4://", 11) == 0 ||
	        strncmp(url, "tls+tcp6://", 11) == 0);
}

/* Reads a whole text file into a new NUL-terminated string. */
static int
read_text(const char *path, const char *what, char **out, char *err,
    size_t errlen)
{
	FILE *f;
	struct stat st;
	char *buf;
	size_t n;

	*out = NULL;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s %s: %s", what, path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t) FS_TLS_FILE_MAX) {
		snprintf(err, errlen,
		    "%s %s: not a regular file of at most %u "
		    "bytes",
		    what, path, FS_TLS_FILE_MAX);
		fclose(f);
		return -1;
	}
	if ((buf = malloc((size_t) st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s %s: out of memory", what, path);
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, (size_t) st.st_size, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s %s: %s", what, path,
		    strerror(errno ? errno : EIO));
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[n] = '\0';
	if (strlen(buf) != n || strstr(buf, "-----BEGIN ") == NULL) {
		snprintf(err, errlen, "%s %s: not a PEM file", what, path);
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

void
fs_tls_pem_fini(fs_tls_pem *p)
{
	if (p == NULL)
		return;
	free(p->cert);
	free(p->key);
	free(p->ca);
	memset(p, 0, sizeof(*p));
}

int
fs_tls_pem_copy(fs_tls_pem *dst, const fs_tls_pem *src)
{
	memset(dst, 0, sizeof(*dst));
	if ((src->cert != NULL && (dst->cert = strdup(src->cert)) == NULL) ||
	    (src->key != NULL && (dst->key = strdup(src->key)) == NULL) ||
	    (src->ca != NULL && (dst->ca = strdup(src->ca)) == NULL)) {
		fs_tls_pem_fini(dst);
		return -1;
	}
	return 0;
}

int
fs_tls_pem_load(fs_tls_pem *p, const char *cert, const char *key,
    const char *ca, char *err, size_t errlen)
{
	nng_tls_config *cfg;
	int rv;

	memset(p, 0, sizeof(*p));
	if ((cert == NULL) != (key == NULL)) {
		snprintf(err, errlen,
		    "a TLS certificate needs its key and a key its "
		    "certificate (%s given alone)",
		    cert != NULL ? "certificate" : "key");
		return -1;
	}
	if ((cert != NULL &&
	        read_text(cert, "TLS certificate", &p->cert, err, errlen) !=
	            0) ||
	    (key != NULL &&
	        read_text(key, "TLS key", &p->key, err, errlen) != 0) ||
	    (ca != NULL &&
	        read_text(ca, "TLS CA certificate", &p->ca, err, errlen) != 0))
		return -1;
	/* Parsed here once, by the library that will use them. */
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0) {
		snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
		return -1;
	}
	if (p->cert != NULL &&
	    (rv = nng_tls_config_own_cert(cfg, p->cert, p->key, NULL)) != 0)
		snprintf(err, errlen,
		    "TLS certificate %s and key %s: not a certificate and its "
		    "unencrypted private key in PEM (%s)",
		    cert, key, nng_strerror(rv));
	else if (p->ca != NULL &&
	    (rv = nng_tls_config_ca_chain(cfg, p->ca, NULL)) != 0)
		snprintf(err, errlen,
		    "TLS CA certificate %s: not PEM certificates (%s)", ca,
		    nng_strerror(rv));
	nng_tls_config_free(cfg);
	return rv != 0 ? -1 : 0;
}

/* Whether host (a URL's, maybe in brackets) is an IP address. */
static bool
is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char tmp[64];
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' &&
	    n - 2 < sizeof(tmp)) {
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		host = tmp;
	}
	return inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
}

int
fs_tls_dialer_config(nng_tls_config **out, const fs_tls_pem *p,
    const char *url, const char *server_name, char *err, size_t errlen)
{
	nng_tls_config *cfg = NULL;
	nng_url *u = NULL;
	int rv;

	*out = NULL;
	if (p->ca == NULL) {
		snprintf(err, errlen,
		    "%s: a tls+tcp:// backend needs the CA certificate that "
		    "signed its certificate",
		    url);
		return NNG_EINVAL;
	}
	if (server_name == NULL || server_name[0] == '\0') {
		if ((rv = nng_url_parse(&u, url)) != 0) {
			snprintf(err, errlen, "%s: %s", url, nng_strerror(rv));
			return rv;
		}
		server_name = u->u_hostname;
		if (server_name[0] == '\0' || is_ip(server_name)) {
			/* mbedTLS would compare the address with the
			 * certificate's DNS names and fail every handshake. */
			snprintf(err, errlen,
			    "%s: the backend's certificate is checked by DNS "
			    "name only, not by IP address: dial the name in "
			    "its certificate (e.g. tls+tcp://localhost:PORT) "
			    "or give that name as the TLS server name",
			    url);
			nng_url_free(u);
			return NNG_EADDRINVAL;
		}
	}
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0 ||
	    (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) !=
	        0 ||
	    (rv = nng_tls_config_ca_chain(cfg, p->ca, NULL)) != 0 ||
	    (rv = nng_tls_config_server_name(cfg, server_name)) != 0 ||
	    (p->cert != NULL &&
	        (rv = nng_tls_config_own_cert(cfg, p->cert, p->key, NULL)) !=
	            0)) {
		snprintf(err, errlen, "%s: TLS settings refused: %s", url,
		    nng_strerror(rv));
		if (cfg != NULL)
			nng_tls_config_free(cfg);
		nng_url_free(u);
		return rv;
	}
	nng_url_free(u);
	*out = cfg;
	return 0;
}

/*
 * The listener's mode is OPTIONAL, not REQUIRED, on purpose: a client's
 * certificate is verified against the CA during the handshake either way,
 * but with REQUIRED a failed check fails the handshake inside nng 1.5.2,
 * which tells nobody: there is no pipe, no pipe event and so no peer
 * address to log, and for most mbedTLS verdicts (a certificate from
 * another CA, an expired one: NNG_ECRYPTO) nng's listener then waits
 * 100 ms before it accepts the next connection, so a stream of bad
 * clients slows everyone's connects. With OPTIONAL the handshake
 * completes, the verdict is the pipe's NNG_OPT_TLS_VERIFIED, and the
 * server refuses an unverified pipe in its NNG_PIPE_EV_ADD_PRE callback,
 * before the protocol is attached: no request of it is ever read. The
 * server must do that check; fs_rpc_server.c does.
 */
int
fs_tls_listener_config(nng_tls_config **out, const fs_tls_pem *p, char *err,
    size_t errlen)
{
	nng_tls_config *cfg = NULL;
	int rv;

	*out = NULL;
	if (p->cert == NULL || p->key == NULL || p->ca == NULL) {
		snprintf(err, errlen,
		    "mutual TLS needs the server's certificate, its key and "
		    "the CA certificate that signs the clients' certificates");
		return NNG_EINVAL;
	}
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0 ||
	    (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_OPTIONAL)) !=
	        0 ||
	    (rv = nng_tls_config_ca_chain(cfg, p->ca, NULL)) != 0 ||
	    (rv = nng_tls_config_own_cert(cfg, p->cert, p->key, NULL)) != 0) {
		snprintf(err, errlen, "TLS settings refused: %s",
		    nng_strerror(rv));
		if (cfg != NULL)
			nng_tls_config_free(cfg);
		return rv;
	}
	*out = cfg;
	return 0;
}
