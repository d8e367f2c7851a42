/*
 * bench_watch.c - flow-bench's watch mode: --count Watch calls kept
 * waiting in the backend, for the parked-watch benchmarks (memory per
 * watch, Get latency beside them, Create throughput with watchers).
 *
 * Each watcher keeps one call in flight through the public async API and
 * calls again from its answer's revision when answered (an event, or the
 * end of its wait). Watchers are spread over one client per 1000, as a
 * backend takes 1024 long polls per connection by default. With
 * --ready-file, the file is created once the backend's Stats count every
 * watch as waiting (or, for watchers of every change, which a busy store
 * keeps waking, once all have started and ten seconds passed).
 *
 * A call parked in the backend stays there until its wait ends even when
 * its client closes (the backend answers it then, to nobody), so at the
 * end the watchers are woken with one change in their group (a flow
 * named bench_watch_wake_<pid>_<n>) and their answers awaited before the
 * clients close: a run leaves nothing parked for the next measurement.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "fs_pbwire.h"

#define WATCHERS_PER_CLIENT 1000

/* SIGINT/SIGTERM: stop early, and still print the result line. */
static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
	(void) sig;
	stop_signal = 1;
}

struct watcher {
	struct watchers *all;
	fs_client *c;
	uint64_t since;
	int has_since;
};

struct watchers {
	const struct config *cfg;
	atomic_bool stop;
	/* Callbacks running now: stop, then wait for none, and no callback
	 * starts a call on a client being closed (each looks at stop after
	 * counting itself in). */
	atomic_int busy;
	atomic_int inflight; /* calls started and not yet answered */
	_Atomic uint64_t answers, events, errors;
};

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pause_ms(int ms);
static int scan_batch(const Flowsvc__Reply *reply, uint64_t *rev, uint64_t *n);
static void watch_cb(void *arg, int code, Flowsvc__Reply *reply);

static int
watch_start(struct watcher *w)
{
	const struct config *cfg = w->all->cfg;
	Flowsvc__WatchRequest m = FLOWSVC__WATCH_REQUEST__INIT;
	fs_call_opts o = {.timeout_ms = (uint32_t) cfg->timeout_ms};

	m.has_since_revision = w->has_since;
	m.since_revision = w->since;
	if (cfg->group != NULL && cfg->group[0] != '\0')
		m.group_iexact = (char *) cfg->group;
	m.has_wait_ms = 1;
	m.wait_ms = (uint32_t) cfg->wait_ms;
	/* Counted before: the callback may run before the call returns. */
	atomic_fetch_add(&w->all->inflight, 1);
	int rv = fs_client_call_async(w->c, FLOWSVC__METHOD__WATCH, &m.base,
	    &o, watch_cb, w);
	if (rv != 0)
		atomic_fetch_sub(&w->all->inflight, 1);
	return rv;
}

static void
watch_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	struct watcher *w = arg;
	struct watchers *all = w->all;

	atomic_fetch_add(&all->busy, 1);
	atomic_fetch_sub(&all->inflight, 1);
	if (code == FS_OK) {
		uint64_t rev, n;
		if (scan_batch(reply, &rev, &n) == 0) {
			w->since = rev;
			w->has_since = 1;
			atomic_fetch_add(&all->events, n);
		} else {
			atomic_fetch_add(&all->errors, 1);
		}
		atomic_fetch_add(&all->answers, 1);
	} else {
		atomic_fetch_add(&all->errors, 1);
	}
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	if (!atomic_load(&all->stop) && watch_start(w) != 0)
		atomic_fetch_add(&all->errors, 1);
	atomic_fetch_sub(&all->busy, 1);
}

/* The answer's revision and event count, read off the wire: a watcher
 * of every change is handed every event, and unpacking each of them
 * (every component, allocated) made this load generator the busiest
 * process on the machine, starving the backend it measures. Returns 0,
 * or -1 when the payload is not a WatchReply. */
static int
scan_batch(const Flowsvc__Reply *reply, uint64_t *rev, uint64_t *n)
{
	const uint8_t *p, *e;
	fs_pb_field f;
	int has_rev = 0;

	*n = 0;
	if (reply == NULL || !reply->has_payload)
		return -1;
	p = reply->payload.data;
	e = p + reply->payload.len;
	while (p < e) {
		if (fs_pb_next_field(&p, e, &f) != 0)
			return -1;
		if (f.num == 1 && f.wt == FS_PB_LEN) {
			(*n)++;
		} else if (f.num == 2 && f.wt == FS_PB_VARINT) {
			*rev = f.v;
			has_rev = 1;
		}
	}
	return has_rev ? 0 : -1;
}

static void
pause_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Watch calls waiting in the backend (Stats.watches), or -1. */
static int64_t
parked(fs_client *c)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	fs_call_opts o = {.timeout_ms = 5000};
	Flowsvc__Reply *r = NULL;
	int64_t n = -1;

	if (fs_client_call(c, FLOWSVC__METHOD__STATS, &e.base, &o, &r) ==
	    FS_OK) {
		Flowsvc__StatsReply *st =
		    (Flowsvc__StatsReply *) fs_reply_payload(r,
		        &flowsvc__stats_reply__descriptor);
		if (st != NULL) {
			n = (int64_t) st->watches;
			flowsvc__stats_reply__free_unpacked(st, NULL);
		}
	}
	if (r != NULL)
		flowsvc__reply__free_unpacked(r, NULL);
	return n;
}

/* Wakes the watches still parked with one change they all match, and
 * waits (at most 10 s) for their answers. */
static void
wake_all(struct watchers *all, fs_client *c)
{
	const struct config *cfg = all->cfg;
	Flowsvc__CreateRequest m = FLOWSVC__CREATE_REQUEST__INIT;
	fs_call_opts o = {.timeout_ms = 5000};
	Flowsvc__Reply *r = NULL;
	static int n;
	char name[64];
	int64_t t;
	int code;

	if (atomic_load(&all->inflight) == 0)
		return;
	snprintf(name, sizeof(name), "bench_watch_wake_%ld_%d",
	    (long) getpid(), n++);
	m.name = name;
	m.kind = FLOWSVC__KIND__FLOW;
	if (cfg->group != NULL && cfg->group[0] != '\0')
		m.group = (char *) cfg->group;
	code = fs_client_call(c, FLOWSVC__METHOD__CREATE, &m.base, &o, &r);
	if (r != NULL)
		flowsvc__reply__free_unpacked(r, NULL);
	if (code != FS_OK) {
		fprintf(stderr,
		    "flow-bench: watch: the change that wakes the watchers "
		    "failed: %s; they stay parked until their wait ends\n",
		    fs_code_name(code));
		return;
	}
	t = mono_ns();
	while (atomic_load(&all->inflight) > 0 &&
	    mono_ns() - t < 10 * (int64_t) 1e9)
		pause_ms(5);
}

int
run_watchers(const struct config *cfg)
{
	long long n = cfg->count > 0 ? cfg->count : 1000;
	int nclients =
	    (int) ((n + WATCHERS_PER_CLIENT - 1) / WATCHERS_PER_CLIENT);
	struct watchers all;
	struct watcher *ws = calloc((size_t) n, sizeof(*ws));
	fs_client **cs = calloc((size_t) nclients + 1, sizeof(*cs));
	int status = 0, started = 0;
	int64_t most = 0;

	memset(&all, 0, sizeof(all));
	all.cfg = cfg;
	if (ws == NULL || cs == NULL) {
		fprintf(stderr, "flow-bench: out of memory\n");
		free(ws);
		free(cs);
		return 1;
	}
	/* cs[nclients]: the client that reads Stats. */
	for (int i = 0; i <= nclients; i++)
		if ((status = bench_client_open(&cs[i], cfg)) != 0)
			goto out;
	if (signal(SIGINT, on_signal) == SIG_ERR ||
	    signal(SIGTERM, on_signal) == SIG_ERR) {
		fprintf(stderr, "flow-bench: cannot catch SIGINT/SIGTERM\n");
		status = 1;
		goto out;
	}
	int64_t t0 = mono_ns();
	for (long long i = 0; i < n; i++) {
		ws[i].all = &all;
		ws[i].c = cs[i / WATCHERS_PER_CLIENT];
		if (watch_start(&ws[i]) != 0) {
			atomic_fetch_add(&all.errors, 1);
		} else {
			started++;
		}
	}
	int64_t until = t0 + (int64_t) (cfg->duration_s * 1e9);
	int ready = 0;
	while (mono_ns() < until && !stop_signal) {
		int64_t p = parked(cs[nclients]);
		if (p > most)
			most = p;
		if (!ready &&
		    (p >= started || mono_ns() - t0 > 10 * (int64_t) 1e9)) {
			ready = 1;
			if (!cfg->quiet)
				fprintf(stderr,
				    "watch: %d started, %" PRId64
				    " waiting after %.2f s\n",
				    started, p,
				    (double) (mono_ns() - t0) / 1e9);
			if (cfg->ready_file != NULL) {
				FILE *f = fopen(cfg->ready_file, "w");
				if (f != NULL)
					fclose(f);
			}
		}
		pause_ms(ready ? 200 : 10);
	}
	atomic_store(&all.stop, true);
	while (atomic_load(&all.busy) > 0)
		pause_ms(1);
	uint64_t answers = atomic_load(&all.answers);
	uint64_t events = atomic_load(&all.events);
	wake_all(&all, cs[nclients]);
	printf("mode=watch watchers=%d clients=%d seconds=%.2f "
	       "answers=%" PRIu64 " events=%" PRIu64 " errors=%" PRIu64
	       " waiting_max=%" PRId64 " woken_at_end=%" PRIu64 "\n",
	    started, nclients, (double) (mono_ns() - t0) / 1e9, answers,
	    events, atomic_load(&all.errors), most,
	    atomic_load(&all.answers) - answers);
	fflush(stdout);
out:
	/* Closing a client ends its waiting calls at once. */
	for (int i = 0; i <= nclients; i++)
		fs_client_close(cs[i]);
	free(cs);
	free(ws);
	return status;
}
