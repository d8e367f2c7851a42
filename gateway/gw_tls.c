/*
 * gw_tls.c - see gw_tls.h.
 *
 * The pair in use is parsed once (certificates and key as GnuTLS
 * objects) and guarded by a mutex; a handshake takes the mutex only to
 * copy it (a few microseconds, against the handshake's signature), a
 * reload only to swap the pointer.
 */
#include "gw_tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gnutls/x509.h>

/* Certificate chains and keys are small; anything larger is not one. */
#define GW_TLS_FILE_MAX (1u << 20)

const char gw_tls_priorities[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"
    "-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SAFE_RENEGOTIATION";

struct gw_pair {
	gnutls_x509_crt_t *crts; /* the server's first */
	unsigned ncrts;
	gnutls_x509_privkey_t key;
};

struct gw_tls {
	char *cert_path;
	char *key_path;
	pthread_mutex_t mu;
	struct gw_pair *cur; /* mu */
};

static void
pair_free(struct gw_pair *p)
{
	if (p == NULL)
		return;
	for (unsigned i = 0; i < p->ncrts; i++)
		gnutls_x509_crt_deinit(p->crts[i]);
	gnutls_free(p->crts);
	if (p->key != NULL)
		gnutls_x509_privkey_deinit(p->key);
	free(p);
}

/* Reads a whole file of at most GW_TLS_FILE_MAX bytes into d (free with
 * free(d->data)). */
static int
read_file(const char *what, const char *path, gnutls_datum_t *d, char *err,
    size_t errlen)
{
	struct stat st;
	FILE *f;
	size_t n;

	d->data = NULL;
	d->size = 0;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s %s: %s", what, path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t) GW_TLS_FILE_MAX) {
		snprintf(err, errlen,
		    "%s %s: not a regular file of at most %u bytes", what,
		    path, GW_TLS_FILE_MAX);
		fclose(f);
		return -1;
	}
	if ((d->data = malloc((size_t) st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s %s: out of memory", what, path);
		fclose(f);
		return -1;
	}
	n = fread(d->data, 1, (size_t) st.st_size, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s %s: %s", what, path,
		    strerror(errno ? errno : EIO));
		free(d->data);
		d->data = NULL;
		fclose(f);
		return -1;
	}
	fclose(f);
	d->data[n] = '\0';
	d->size = (unsigned) n;
	return 0;
}

/* Reads and checks a pair: a PEM chain (the server's certificate first,
 * each signed by the next), a PEM key, and the key is the certificate's. */
static int
pair_load(struct gw_pair **out, const char *cert_path, const char *key_path,
    char *err, size_t errlen)
{
	gnutls_datum_t cd = {NULL, 0}, kd = {NULL, 0};
	unsigned char id_crt[64], id_key[64];
	size_t lc = sizeof(id_crt), lk = sizeof(id_key);
	struct gw_pair *p;
	int rv;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (read_file("--tls-cert", cert_path, &cd, err, errlen) != 0 ||
	    read_file("--tls-key", key_path, &kd, err, errlen) != 0)
		goto fail;
	if ((rv = gnutls_x509_crt_list_import2(&p->crts, &p->ncrts, &cd,
	         GNUTLS_X509_FMT_PEM, GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED)) <
	    0) {
		snprintf(err, errlen,
		    "--tls-cert %s: not PEM certificates, the server's first "
		    "(%s)",
		    cert_path, gnutls_strerror(rv));
		p->crts = NULL;
		p->ncrts = 0;
		goto fail;
	}
	if ((rv = gnutls_x509_privkey_init(&p->key)) < 0 ||
	    (rv = gnutls_x509_privkey_import2(p->key, &kd, GNUTLS_X509_FMT_PEM,
	         NULL, 0)) < 0) {
		snprintf(err, errlen,
		    "--tls-key %s: not an unencrypted private key in PEM (%s)",
		    key_path, gnutls_strerror(rv));
		goto fail;
	}
	if ((rv = gnutls_x509_crt_get_key_id(p->crts[0], 0, id_crt, &lc)) <
	        0 ||
	    (rv = gnutls_x509_privkey_get_key_id(p->key, 0, id_key, &lk)) <
	        0) {
		snprintf(err, errlen, "--tls-cert %s, --tls-key %s: %s",
		    cert_path, key_path, gnutls_strerror(rv));
		goto fail;
	}
	if (lc != lk || memcmp(id_crt, id_key, lc) != 0) {
		snprintf(err, errlen,
		    "--tls-key %s is not the key of the certificate in "
		    "--tls-cert %s",
		    key_path, cert_path);
		goto fail;
	}
	/* The key's bytes are secret: not left in freed memory. */
	gnutls_memset(kd.data, 0, kd.size);
	free(kd.data);
	free(cd.data);
	*out = p;
	return 0;

fail:
	if (kd.data != NULL)
		gnutls_memset(kd.data, 0, kd.size);
	free(kd.data);
	free(cd.data);
	pair_free(p);
	return -1;
}

int
gw_tls_new(gw_tls **out, const char *cert_path, const char *key_path,
    char *err, size_t errlen)
{
	gw_tls *t;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->cert_path = strdup(cert_path)) == NULL ||
	    (t->key_path = strdup(key_path)) == NULL ||
	    pthread_mutex_init(&t->mu, NULL) != 0) {
		snprintf(err, errlen, "out of memory");
		if (t != NULL) {
			free(t->cert_path);
			free(t->key_path);
		}
		free(t);
		return -1;
	}
	if (pair_load(&t->cur, cert_path, key_path, err, errlen) != 0) {
		gw_tls_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int
gw_tls_reload(gw_tls *t, char *err, size_t errlen)
{
	struct gw_pair *p, *old;

	if (pair_load(&p, t->cert_path, t->key_path, err, errlen) != 0)
		return -1;
	pthread_mutex_lock(&t->mu);
	old = t->cur;
	t->cur = p;
	pthread_mutex_unlock(&t->mu);
	/* Sessions hold copies (gw_tls_retrieve): nothing uses old now. */
	pair_free(old);
	return 0;
}

void
gw_tls_free(gw_tls *t)
{
	if (t == NULL)
		return;
	pair_free(t->cur);
	pthread_mutex_destroy(&t->mu);
	free(t->cert_path);
	free(t->key_path);
	free(t);
}

void
gw_tls_describe(gw_tls *t, char *buf, size_t len, bool *expired)
{
	gnutls_datum_t dn = {NULL, 0};
	unsigned char serial[64];
	char hex[2 * sizeof(serial) + 1] = "?", until[32] = "?";
	size_t sl = sizeof(serial);
	time_t now = time(NULL), nb, na;
	struct tm tm;

	pthread_mutex_lock(&t->mu);
	gnutls_x509_crt_t c = t->cur->crts[0];
	if (gnutls_x509_crt_get_dn3(c, &dn, 0) < 0)
		dn.data = NULL;
	if (gnutls_x509_crt_get_serial(c, serial, &sl) >= 0) {
		/* As openssl prints it: no leading zero bytes (DER adds one
		 * when the high bit is set). */
		size_t z = 0;
		while (z + 1 < sl && serial[z] == 0)
			z++;
		for (size_t i = z; i < sl; i++)
			snprintf(hex + 2 * (i - z), 3, "%02X", serial[i]);
	}
	nb = gnutls_x509_crt_get_activation_time(c);
	na = gnutls_x509_crt_get_expiration_time(c);
	pthread_mutex_unlock(&t->mu);
	if (na != (time_t) -1 && gmtime_r(&na, &tm) != NULL)
		strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(buf, len, "%s, serial %s, valid until %s",
	    dn.data != NULL ? (const char *) dn.data : "?", hex, until);
	gnutls_free(dn.data);
	if (expired != NULL)
		*expired = (nb != (time_t) -1 && now < nb) ||
		    (na != (time_t) -1 && now > na);
}

int
gw_tls_retrieve(gw_tls *t, gnutls_pcert_st **certs, unsigned *ncerts,
    gnutls_privkey_t *key, unsigned *flags)
{
	gnutls_pcert_st *pc;
	gnutls_privkey_t pk = NULL;
	unsigned n = 0;
	int rv;

	pthread_mutex_lock(&t->mu);
	struct gw_pair *p = t->cur;
	if ((pc = gnutls_calloc(p->ncrts, sizeof(*pc))) == NULL) {
		pthread_mutex_unlock(&t->mu);
		return GNUTLS_E_MEMORY_ERROR;
	}
	for (rv = 0; n < p->ncrts; n++)
		if ((rv = gnutls_pcert_import_x509(&pc[n], p->crts[n], 0)) < 0)
			break;
	if (rv >= 0 && (rv = gnutls_privkey_init(&pk)) >= 0 &&
	    (rv = gnutls_privkey_import_x509(pk, p->key,
	         GNUTLS_PRIVKEY_IMPORT_COPY)) < 0) {
		gnutls_privkey_deinit(pk);
		pk = NULL;
	}
	pthread_mutex_unlock(&t->mu);
	if (rv < 0) {
		for (unsigned i = 0; i < n; i++)
			gnutls_pcert_deinit(&pc[i]);
		gnutls_free(pc);
		return rv;
	}
	*certs = pc;
	*ncerts = n;
	*key = pk;
	*flags = GNUTLS_CERT_RETR_DEINIT_ALL;
	return 0;
}
