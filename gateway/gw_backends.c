/*
 * gw_backends.c - see gw_backends.h.
 */
#include "gw_backends.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_errors.h"
#include "fs_log.h"
#include "fs_methods.h"
#include "fs_util.h"

#define POLL_MS_DEFAULT 1000u
/* A Health that takes longer than this counts as no answer. */
#define POLL_TIMEOUT_MS 1000u

struct gw_backend {
	char *url;
	fs_client *client;
	atomic_uint inflight; /* this gateway's calls on it */
	/* Answered its last Health in the primary's term, and no call
	 * failed without an answer since (true until the first poll says
	 * otherwise). */
	atomic_bool up;
	/* The poller's own: its last Health answered, and the term it
	 * said. */
	bool answered, stale; /* stale: in a term below the primary's */
	uint64_t term;
};

struct gw_backends {
	gw_backend *v;
	int n;
	_Atomic uint64_t revision; /* the highest any answer told */
	atomic_uint turn;          /* ties between equally busy backends */
	atomic_int primary;        /* index of the primary; -1: unknown */
	fs_spread *spread;         /* GET, GET_STATUS (n > 1, coalescing) */
	atomic_uint spread_turn;   /* the next backend a batch goes to */
	uint32_t poll_ms;
	pthread_t poller;
	bool polling;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, poll_now; /* mu */
};

static void
note_revision(gw_backends *bs, uint64_t v)
{
	uint64_t cur = atomic_load(&bs->revision);

	while (
	    v > cur && !atomic_compare_exchange_weak(&bs->revision, &cur, v))
		;
	if (bs->spread != NULL && v > cur)
		fs_spread_see_revision(bs->spread, v);
}

/* The backend of a spread batch: the next in turn that answers and has
 * no batch out past the hedge; else the next that answers; else the
 * next (the batch then fails as it must). */
static int
spread_pick(void *arg, const bool *slow)
{
	gw_backends *bs = arg;
	unsigned start = atomic_fetch_add(&bs->spread_turn, 1);

	for (int pass = 0; pass < 2; pass++)
		for (int k = 0; k < bs->n; k++) {
			int i =
			    (int) ((start + (unsigned) k) % (unsigned) bs->n);
			if (atomic_load(&bs->v[i].up) &&
			    (pass == 1 || !slow[i]))
				return i;
		}
	return (int) (start % (unsigned) bs->n);
}

static void
spread_done(void *arg, int idx, int code, const Flowsvc__Reply *reply)
{
	gw_backends *bs = arg;

	if (reply != NULL && reply->has_revision)
		note_revision(bs, reply->revision);
	if (reply == NULL &&
	    (code == FS_UNAVAILABLE || code == FS_DEADLINE_EXCEEDED))
		gw_backends_lost(bs, &bs->v[idx]);
}

/* One round of Health calls: which backends answer, and which is the
 * primary. */
static void
poll_once(gw_backends *bs)
{
	int primary = -1;

	for (int i = 0; i < bs->n; i++) {
		gw_backend *b = &bs->v[i];
		Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
		Flowsvc__Reply *reply = NULL;
		fs_call_opts o = {NULL, POLL_TIMEOUT_MS, NULL, 0};
		int code = fs_client_call(b->client, FLOWSVC__METHOD__HEALTH,
		    &e.base, &o, &reply);
		bool prim = false;

		b->answered = code == FS_OK;
		b->term = 0;
		if (b->answered) {
			Flowsvc__HealthReply *hr =
			    (Flowsvc__HealthReply *) fs_reply_payload(reply,
			        &flowsvc__health_reply__descriptor);
			if (hr != NULL) {
				prim = hr->role != NULL &&
				    strcmp(hr->role, "primary") == 0 &&
				    (!hr->has_accepts_changes ||
				        hr->accepts_changes);
				b->term = hr->has_term ? hr->term : 0;
				flowsvc__health_reply__free_unpacked(hr, NULL);
			}
		}
		if (reply != NULL)
			flowsvc__reply__free_unpacked(reply, NULL);
		/* Two that say primary: the other one is deposed and does
		 * not know it yet (it was stopped while a replica was
		 * promoted). */
		if (prim && (primary < 0 || b->term > bs->v[primary].term))
			primary = i;
	}
	for (int i = 0; i < bs->n; i++) {
		gw_backend *b = &bs->v[i];
		/* A backend of a term below the primary's is a deposed
		 * primary that does not know it, or follows one: its
		 * history may have parted from the primary's, so it serves
		 * nothing here (a read there could miss this gateway's own
		 * writes). */
		bool stale = primary >= 0 && b->answered &&
		    b->term < bs->v[primary].term;
		bool up = b->answered && !stale;
		bool was = atomic_exchange(&b->up, up);

		if (stale && !b->stale)
			fs_log(FS_LOG_WARN, NULL,
			    "backend %s answers in term %" PRIu64
			    ", below the primary's %" PRIu64 ": left out",
			    b->url, b->term, bs->v[primary].term);
		else if (up && !was)
			fs_log(FS_LOG_INFO, NULL, "backend %s answers again",
			    b->url);
		else if (!b->answered && was)
			fs_log(FS_LOG_WARN, NULL,
			    "backend %s does not answer: left out", b->url);
		b->stale = stale;
	}
	int before = atomic_exchange(&bs->primary, primary);
	if (primary != before && primary >= 0)
		fs_log(FS_LOG_INFO, NULL, "backend %s is the primary",
		    bs->v[primary].url);
}

static void *
poller_main(void *arg)
{
	gw_backends *bs = arg;

	pthread_mutex_lock(&bs->mu);
	while (!bs->stop) {
		if (!bs->poll_now) {
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += bs->poll_ms / 1000u;
			until.tv_nsec +=
			    (long) (bs->poll_ms % 1000u) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (!bs->stop && !bs->poll_now &&
			    pthread_cond_timedwait(&bs->cv, &bs->mu, &until) ==
			        0)
				;
		}
		bs->poll_now = false;
		if (bs->stop)
			break;
		pthread_mutex_unlock(&bs->mu);
		poll_once(bs);
		pthread_mutex_lock(&bs->mu);
	}
	pthread_mutex_unlock(&bs->mu);
	return NULL;
}

static void
poll_soon(gw_backends *bs)
{
	pthread_mutex_lock(&bs->mu);
	bs->poll_now = true;
	pthread_cond_signal(&bs->cv);
	pthread_mutex_unlock(&bs->mu);
}

int
gw_backends_open(gw_backends **out, const char *const *urls, int n,
    const fs_client_tls *tls, int coalesce, uint32_t poll_ms, char *err,
    size_t errlen)
{
	gw_backends *bs = calloc(1, sizeof(*bs));

	if (bs == NULL || n < 1 ||
	    (bs->v = calloc((size_t) n, sizeof(*bs->v))) == NULL) {
		free(bs);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	bs->poll_ms = poll_ms > 0 ? poll_ms : POLL_MS_DEFAULT;
	atomic_init(&bs->revision, 0);
	atomic_init(&bs->turn, 0);
	atomic_init(&bs->primary, -1);
	if (pthread_mutex_init(&bs->mu, NULL) != 0) {
		free(bs->v);
		free(bs);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (fs_cond_init_monotonic(&bs->cv) != 0) {
		pthread_mutex_destroy(&bs->mu);
		free(bs->v);
		free(bs);
		snprintf(err, errlen, "cannot make a condition variable");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		gw_backend *b = &bs->v[i];
		atomic_init(&b->inflight, 0);
		atomic_init(&b->up, true);
		bs->n = i + 1;
		if ((b->url = strdup(urls[i])) == NULL) {
			snprintf(err, errlen, "out of memory");
			gw_backends_close(bs);
			return -1;
		}
		if (fs_client_open_tls(&b->client, urls[i], tls) != 0) {
			snprintf(err, errlen, "--backend %s: %s", urls[i],
			    fs_client_last_error());
			gw_backends_close(bs);
			return -1;
		}
		/* The gateway sends its own min_revision (gw_backends_pick). */
		fs_client_set_read_your_writes(b->client, 0);
		if (fs_client_set_coalesce(b->client, coalesce) != 0) {
			snprintf(err, errlen, "bad --coalesce");
			gw_backends_close(bs);
			return -1;
		}
	}
	if (n > 1 && coalesce > 0) {
		fs_client *cs[FS_SPREAD_MAX];
		int rv;
		if (n > FS_SPREAD_MAX) {
			snprintf(err, errlen, "at most %d --backend",
			    FS_SPREAD_MAX);
			gw_backends_close(bs);
			return -1;
		}
		for (int i = 0; i < n; i++)
			cs[i] = bs->v[i].client;
		if ((rv = fs_spread_open(&bs->spread, cs, n, coalesce,
		         GW_HEDGE_MS, spread_pick, spread_done, bs)) != 0) {
			snprintf(err, errlen, "cannot spread reads: %s",
			    fs_code_name(rv));
			gw_backends_close(bs);
			return -1;
		}
	}
	if (n > 1) {
		/* Which answer and which is the primary, before the first
		 * request: changes go to it from the start. */
		poll_once(bs);
		if (pthread_create(&bs->poller, NULL, poller_main, bs) != 0) {
			snprintf(err, errlen,
			    "cannot start the backend poller");
			gw_backends_close(bs);
			return -1;
		}
		bs->polling = true;
	}
	*out = bs;
	return 0;
}

void
gw_backends_close(gw_backends *bs)
{
	if (bs == NULL)
		return;
	if (bs->polling) {
		pthread_mutex_lock(&bs->mu);
		bs->stop = true;
		pthread_cond_signal(&bs->cv);
		pthread_mutex_unlock(&bs->mu);
		pthread_join(bs->poller, NULL);
	}
	for (int i = 0; i < bs->n; i++)
		fs_client_close(bs->v[i].client);
	/* After its clients: their calls are over. */
	fs_spread_close(bs->spread);
	for (int i = 0; i < bs->n; i++)
		free(bs->v[i].url);
	pthread_cond_destroy(&bs->cv);
	pthread_mutex_destroy(&bs->mu);
	free(bs->v);
	free(bs);
}

/* The backend that answers with the fewest calls in flight; all of them
 * when none answers (the call then fails as it must). */
static gw_backend *
least_busy(gw_backends *bs)
{
	unsigned start = atomic_fetch_add(&bs->turn, 1);
	gw_backend *best = NULL;
	unsigned most = 0;

	for (int pass = 0; pass < 2 && best == NULL; pass++)
		for (int k = 0; k < bs->n; k++) {
			gw_backend *b =
			    &bs->v[(start + (unsigned) k) % (unsigned) bs->n];
			unsigned f = atomic_load(&b->inflight);
			if (pass == 0 && !atomic_load(&b->up))
				continue;
			if (best == NULL || f < most) {
				best = b;
				most = f;
			}
		}
	return best;
}

static void
start_read(gw_backends *bs, gw_backend *b, uint64_t min_rev,
    fs_call_opts *opts)
{
	uint64_t rev = atomic_load(&bs->revision);

	opts->min_revision = min_rev > rev ? min_rev : rev;
	atomic_fetch_add(&b->inflight, 1);
}

gw_backend *
gw_backends_pick(gw_backends *bs, Flowsvc__Method method, uint64_t min_rev,
    fs_call_opts *opts)
{
	gw_backend *b;

	if (bs->n == 1) {
		b = &bs->v[0];
	} else if (fs_method_is((int) method, FS_M_READ) &&
	    method != FLOWSVC__METHOD__HEALTH &&
	    method != FLOWSVC__METHOD__STATS) {
		b = least_busy(bs);
	} else {
		int p = atomic_load(&bs->primary);
		b = p >= 0 && atomic_load(&bs->v[p].up) ? &bs->v[p]
		                                        : least_busy(bs);
	}
	opts->min_revision = 0;
	if (fs_method_is((int) method, FS_M_READ))
		start_read(bs, b, min_rev, opts);
	else
		atomic_fetch_add(&b->inflight, 1);
	return b;
}

bool
gw_backends_spreads(const gw_backends *bs, Flowsvc__Method method)
{
	return bs->spread != NULL &&
	    (method == FLOWSVC__METHOD__GET ||
	        method == FLOWSVC__METHOD__GET_STATUS);
}

int
gw_backends_spread_call(gw_backends *bs, Flowsvc__Method method,
    const ProtobufCMessage *req, uint64_t min_rev, fs_call_opts *opts,
    fs_call_cb cb, void *arg)
{
	uint64_t rev = atomic_load(&bs->revision);

	opts->min_revision = min_rev > rev ? min_rev : rev;
	return fs_spread_call_async(bs->spread, method, req, opts, cb, arg);
}

void
gw_backends_render_metrics(const gw_backends *bs, gw_buf *b)
{
	char line[512];

	snprintf(line, sizeof(line),
	    "# HELP flowsvc_gateway_read_hedges_total Batches of reads "
	    "spread over the backends that gave their place back unanswered "
	    "after %u ms.\n"
	    "# TYPE flowsvc_gateway_read_hedges_total counter\n"
	    "flowsvc_gateway_read_hedges_total %" PRIu64 "\n",
	    GW_HEDGE_MS,
	    bs->spread != NULL ? fs_spread_hedged(bs->spread) : 0);
	gw_buf_puts(b, line);
}

gw_backend *
gw_backends_watch_pick(gw_backends *bs, gw_backend *cur)
{
	int p = atomic_load(&bs->primary);

	if (bs->n == 1)
		return &bs->v[0];
	if (p >= 0 && atomic_load(&bs->v[p].up))
		return &bs->v[p];
	if (cur != NULL && atomic_load(&cur->up))
		return cur;
	for (int i = 0; i < bs->n; i++)
		if (atomic_load(&bs->v[i].up))
			return &bs->v[i];
	return cur != NULL ? cur : &bs->v[0];
}

bool
gw_backends_watch_behind(gw_backends *bs, const gw_backend *b, uint64_t since,
    int code, const Flowsvc__Reply *reply)
{
	return bs->n > 1 && code == FS_OUT_OF_RANGE && reply != NULL &&
	    reply->has_revision && reply->revision < since &&
	    atomic_load(&bs->primary) != (int) (b - bs->v);
}

void
gw_backends_lost(gw_backends *bs, gw_backend *b)
{
	if (bs->n == 1)
		return;
	if (atomic_exchange(&b->up, false))
		fs_log(FS_LOG_WARN, NULL,
		    "backend %s does not answer: left out", b->url);
	poll_soon(bs);
}

int
gw_backends_count(const gw_backends *bs)
{
	return bs->n;
}

fs_client *
gw_backend_client(const gw_backend *b)
{
	return b->client;
}

const char *
gw_backend_url(const gw_backend *b)
{
	return b->url;
}

void
gw_backends_done(gw_backends *bs, gw_backend *b, int code,
    const Flowsvc__Reply *reply)
{
	if (b != NULL)
		atomic_fetch_sub(&b->inflight, 1);
	if (reply != NULL && reply->has_revision)
		note_revision(bs, reply->revision);
	if (bs->n == 1 || b == NULL)
		return;
	if (reply == NULL &&
	    (code == FS_UNAVAILABLE || code == FS_DEADLINE_EXCEEDED)) {
		gw_backends_lost(bs, b);
	} else if (code == FS_FAILED_PRECONDITION && reply != NULL &&
	    reply->message != NULL &&
	    strcmp(reply->message, FS_NOT_PRIMARY) == 0) {
		int me = (int) (b - bs->v);
		atomic_compare_exchange_strong(&bs->primary, &me, -1);
		poll_soon(bs);
	}
}

uint64_t
gw_backends_revision(gw_backends *bs)
{
	return atomic_load(&bs->revision);
}
