/*
 * fs_srv_tlswatch.c - see fs_srv_tlswatch.h.
 *
 * Each period a probe connects as a client (nng_dial with the server's
 * own certificate, the server's not checked). Its handshakes complete in
 * the transport even when the listener has stopped; what tells is
 * whether the server's pipe callback then sees a connection arrive.
 */
#define _GNU_SOURCE
#include "fs_srv_tlswatch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "fs_log.h"
#include "fs_util.h"

/* Probes in a row whose connection the server never saw arrive. */
#define MISSES 2
/* How long a probe waits to connect, then for the server to see it. */
#define PROBE_WAIT_MS 3000
#define PROBE_STEP_MS 20

struct fs_tls_watch {
	nng_socket sock;
	nng_listener l;
	char *url;
	char probe_url[128];
	nng_tls_config *cfg;  /* the listener's */
	nng_tls_config *pcfg; /* the probe's: client, own certificate */
	atomic_uint_fast64_t *arrivals;
	uint32_t period_ms;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop; /* mu */
};

static atomic_uint_fast64_t restarts;
static atomic_int probing;

uint64_t
fs_tls_watch_restarts(void)
{
	return (uint64_t) atomic_load(&restarts);
}

bool
fs_tls_watch_probing(void)
{
	return atomic_load(&probing) > 0;
}

/* The probe's connection, seen connected from the client side. */
struct probe_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool up;
};

static void
probe_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct probe_wait *pw = arg;

	(void) p;
	if (ev != NNG_PIPE_EV_ADD_POST)
		return;
	pthread_mutex_lock(&pw->mu);
	pw->up = true;
	pthread_cond_signal(&pw->cv);
	pthread_mutex_unlock(&pw->mu);
}

static void
deadline_in(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long) (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool
stopping(fs_tls_watch *w)
{
	bool stop;

	pthread_mutex_lock(&w->mu);
	stop = w->stop;
	pthread_mutex_unlock(&w->mu);
	return stop;
}

/* Connects to the listener as a client: 1 when the server saw a new
 * connection arrive after the probe's had completed its handshakes, 0
 * when it did not, -1 when the probe could not tell (it did not connect:
 * then the listener is not the one stopped this way; or the watch is
 * stopping: its waits look at that every PROBE_STEP_MS, so a shutdown
 * does not wait out a probe of a stuck listener). */
static int
probe(fs_tls_watch *w)
{
	struct probe_wait pw = {.up = false};
	struct timespec until;
	nng_socket s;
	nng_dialer d;
	int verdict = -1, rc = 0;

	if (fs_cond_init_monotonic(&pw.cv) != 0)
		return -1;
	if (pthread_mutex_init(&pw.mu, NULL) != 0) {
		pthread_cond_destroy(&pw.cv);
		return -1;
	}
	uint64_t before = atomic_load(w->arrivals);
	if (nng_req0_open(&s) != 0)
		goto out_sync;
	atomic_fetch_add(&probing, 1);
	if (nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, probe_pipe_cb, &pw) !=
	        0 ||
	    nng_dialer_create(&d, s, w->probe_url) != 0 ||
	    nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, w->pcfg) != 0 ||
	    nng_dialer_start(d, NNG_FLAG_NONBLOCK) != 0)
		goto out;
	bool up = false;
	for (int i = 0; i < PROBE_WAIT_MS / PROBE_STEP_MS && !up; i++) {
		if (stopping(w))
			goto out;
		deadline_in(&until, PROBE_STEP_MS);
		rc = 0;
		pthread_mutex_lock(&pw.mu);
		while (!pw.up && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&pw.cv, &pw.mu, &until);
		up = pw.up;
		pthread_mutex_unlock(&pw.mu);
	}
	if (!up)
		goto out;
	verdict = 0;
	for (int i = 0; i < PROBE_WAIT_MS / PROBE_STEP_MS; i++) {
		if (atomic_load(w->arrivals) != before) {
			verdict = 1;
			break;
		}
		if (stopping(w)) {
			verdict = -1;
			break;
		}
		nng_msleep(PROBE_STEP_MS);
	}
out:
	(void) nng_close(s);
	atomic_fetch_sub(&probing, 1);
out_sync:
	pthread_cond_destroy(&pw.cv);
	pthread_mutex_destroy(&pw.mu);
	return verdict;
}

/* Closes the stopped listener and listens again in its place; on
 * failure w->l is none, and the next period tries again. */
static void
listen_again(fs_tls_watch *w)
{
	nng_listener nl = NNG_LISTENER_INITIALIZER;
	int rv;

	if (w->l.id != 0) {
		fs_log(FS_LOG_WARN, NULL,
		    "the TLS listener on %s stopped taking connections (nng "
		    "1.5.2 stops after some failed handshakes): listening "
		    "again, its connections are closed",
		    w->url);
		(void) nng_listener_close(w->l);
		w->l = (nng_listener) NNG_LISTENER_INITIALIZER;
	}
	if ((rv = nng_listener_create(&nl, w->sock, w->url)) != 0 ||
	    (rv = nng_listener_set_ptr(nl, NNG_OPT_TLS_CONFIG, w->cfg)) != 0 ||
	    (rv = nng_listener_start(nl, 0)) != 0) {
		fs_log(FS_LOG_ERROR, NULL,
		    "cannot listen on %s again: %s (trying again)", w->url,
		    nng_strerror(rv));
		if (nl.id != 0)
			(void) nng_listener_close(nl);
		return;
	}
	w->l = nl;
	atomic_fetch_add(&restarts, 1);
}

static void *
watch_main(void *arg)
{
	fs_tls_watch *w = arg;
	int misses = 0;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct timespec until;
		int rc = 0;

		deadline_in(&until, w->period_ms);
		while (!w->stop && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->mu);
		if (w->l.id == 0) {
			listen_again(w);
		} else {
			int v = probe(w);
			misses = v == 0 ? misses + 1 : 0;
			if (misses >= MISSES) {
				listen_again(w);
				misses = 0;
			}
		}
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* The URL the probe dials: the listener's, its host the loopback when
 * it listens on every address, its port the one bound. */
static int
probe_url(char *out, size_t len, const char *url, int port)
{
	const char *hs = strstr(url, "://"), *pe;
	char host[64];

	if (hs == NULL)
		return -1;
	hs += 3;
	if (*hs == '[') {
		if ((pe = strchr(hs, ']')) == NULL)
			return -1;
		pe++;
	} else {
		pe = strrchr(hs, ':');
		if (pe == NULL)
			pe = hs + strlen(hs);
	}
	if ((size_t) (pe - hs) >= sizeof(host))
		return -1;
	memcpy(host, hs, (size_t) (pe - hs));
	host[pe - hs] = '\0';
	if (host[0] == '\0' || strcmp(host, "*") == 0 ||
	    strcmp(host, "0.0.0.0") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	else if (strcmp(host, "[::]") == 0)
		snprintf(host, sizeof(host), "[::1]");
	int n =
	    snprintf(out, len, "%.*s%s:%d", (int) (hs - url), url, host, port);
	return n > 0 && (size_t) n < len ? 0 : -1;
}

/* Frees what fs_tls_watch_start made of w (not the thread). */
static void
watch_free(fs_tls_watch *w)
{
	if (w->pcfg != NULL)
		nng_tls_config_free(w->pcfg);
	if (w->cfg != NULL)
		nng_tls_config_free(w->cfg);
	free(w->url);
	free(w);
}

int
fs_tls_watch_start(fs_tls_watch **out, nng_socket sock, nng_listener l,
    const char *url, nng_tls_config *cfg, const fs_tls_pem *pem,
    atomic_uint_fast64_t *arrivals, uint32_t period_ms)
{
	fs_tls_watch *w = calloc(1, sizeof(*w));
	int port, rv;

	if (w == NULL || (w->url = strdup(url)) == NULL) {
		free(w);
		return NNG_ENOMEM;
	}
	nng_tls_config_hold(cfg);
	w->cfg = cfg;
	w->sock = sock;
	w->l = l;
	w->arrivals = arrivals;
	w->period_ms = period_ms > 0 ? period_ms : 2000;
	if ((rv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port)) !=
	        0 ||
	    (rv = probe_url(w->probe_url, sizeof(w->probe_url), url, port) == 0
	            ? 0
	            : NNG_EADDRINVAL) != 0 ||
	    (rv = nng_tls_config_alloc(&w->pcfg, NNG_TLS_MODE_CLIENT)) != 0 ||
	    /* Any answer will do: the probe tests the listener, not its
	     * certificate. */
	    (rv = nng_tls_config_auth_mode(w->pcfg, NNG_TLS_AUTH_MODE_NONE)) !=
	        0 ||
	    (rv = nng_tls_config_own_cert(w->pcfg, pem->cert, pem->key,
	         NULL)) != 0) {
		watch_free(w);
		return rv;
	}
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		watch_free(w);
		return NNG_ENOMEM;
	}
	if (fs_cond_init_monotonic(&w->cv) != 0) {
		pthread_mutex_destroy(&w->mu);
		watch_free(w);
		return NNG_ENOMEM;
	}
	if (pthread_create(&w->thr, NULL, watch_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		watch_free(w);
		return NNG_ENOMEM;
	}
	*out = w;
	return 0;
}

void
fs_tls_watch_stop(fs_tls_watch *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thr, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	watch_free(w);
}
