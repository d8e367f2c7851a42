/*
 * flow-repl-lag - how far behind its primary a replica runs under load
 * (tools/bench.sh, "Replicas"; docs/performance.md).
 *
 * Creates flows on the primary at --rate per second for --duration
 * seconds (async calls, coalesced, at most --inflight in flight), noting
 * when each create's answer came and the revision it took; meanwhile
 * watches the replica (the Watch RPC) and notes when each revision
 * arrived there. The lag of a change is its arrival at the replica less
 * its acknowledgement by the primary (0 when the replica had it first:
 * `ahead` counts those); and from the moment the create was sent to its
 * arrival at the replica (`sent_*`: what a reader of the replica waits,
 * at worst, for a change someone just made). One result line on stdout:
 * rate, creates, lag_p50_ms, lag_p99_ms, lag_max_ms, ahead, sent_p50_ms,
 * sent_p99_ms, sent_max_ms, behind_primary_watch_p50/p99_ms (arrival
 * at the replica's watcher less arrival at a watcher of the primary: the
 * replication alone, without the watch's own delay), missing (changes the
 * replica never showed).
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_hist.h"
#include "fs_errors.h"
#include "fs_rpc.h"
#include "fs_util.h"

static _Atomic int64_t *ack_us, *arr_us, *sent_us, *sent_by_seq, *parr_us;
static uint64_t base, cap;
static atomic_int inflight, failed;

static void
note(_Atomic int64_t *a, uint64_t rev, int64_t t)
{
	if (rev > base && rev - base <= cap)
		atomic_store(&a[rev - base - 1], t);
}

static void
create_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	uint64_t seq = (uint64_t) (uintptr_t) arg;

	if (code == FS_OK && reply != NULL && reply->has_revision) {
		note(ack_us, reply->revision, fs_now_us());
		if (seq < cap)
			note(sent_us, reply->revision,
			    atomic_load(&sent_by_seq[seq]));
	} else
		atomic_fetch_add(&failed, 1);
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	atomic_fetch_sub(&inflight, 1);
}

static int
on_event(void *arg, const Flowsvc__WatchEvent *ev)
{
	note(arg != NULL ? parr_us : arr_us, ev->revision, fs_now_us());
	return 0;
}

static uint64_t
revision_of(fs_client *c)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	Flowsvc__Reply *r = NULL;
	uint64_t v = 0;

	for (int i = 0; i < 100 && v == 0; i++) {
		if (fs_client_call(c, FLOWSVC__METHOD__HEALTH, &e.base, NULL,
		        &r) == FS_OK &&
		    r->has_revision)
			v = r->revision + 1; /* +1: 0 is an answer too */
		if (r != NULL)
			flowsvc__reply__free_unpacked(r, NULL);
		r = NULL;
		if (v == 0)
			nanosleep(&(struct timespec){0, 20000000}, NULL);
	}
	return v;
}

int
main(int argc, char **argv)
{
	const char *primary = NULL, *replica = NULL;
	long rate = 20000, duration = 10, maxin = 256;
	fs_client *pc, *rc;
	fs_watch *w;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--primary") == 0)
			primary = argv[i + 1];
		else if (strcmp(argv[i], "--replica") == 0)
			replica = argv[i + 1];
		else if (strcmp(argv[i], "--rate") == 0)
			rate = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--duration") == 0)
			duration = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--inflight") == 0)
			maxin = atol(argv[i + 1]);
	}
	if (primary == NULL || replica == NULL || rate < 1 || duration < 1 ||
	    maxin < 1) {
		fprintf(stderr,
		    "usage: flow-repl-lag --primary URL --replica URL "
		    "[--rate N] [--duration S] [--inflight N]\n");
		return 2;
	}
	if (fs_client_open(&pc, primary) != FS_OK ||
	    fs_client_open(&rc, replica) != FS_OK) {
		fprintf(stderr, "flow-repl-lag: %s\n", fs_client_last_error());
		return 1;
	}
	fs_client_set_coalesce(pc, 4);
	uint64_t pr = revision_of(pc), rr = revision_of(rc);
	if (pr == 0 || rr == 0) {
		fprintf(stderr, "flow-repl-lag: a backend does not answer\n");
		return 1;
	}
	base = pr - 1;
	cap = (uint64_t) (rate * duration) + 1000;
	ack_us = calloc(cap, sizeof(*ack_us));
	arr_us = calloc(cap, sizeof(*arr_us));
	sent_us = calloc(cap, sizeof(*sent_us));
	sent_by_seq = calloc(cap, sizeof(*sent_by_seq));
	parr_us = calloc(cap, sizeof(*parr_us));
	if (ack_us == NULL || arr_us == NULL || sent_us == NULL ||
	    sent_by_seq == NULL || parr_us == NULL)
		return 1;
	fs_watch_opts wo = {.has_since = 1,
	    .since_revision = base,
	    .max_events = 10000};
	fs_watch_handler h = {.event = on_event};
	fs_watch *pw;
	fs_client *pwc;
	/* The same watch on the primary, on a client of its own: what a
	 * watcher of the primary sees, to tell the watch's own cost from
	 * replication's. */
	if (fs_watch_start(&w, rc, &wo, &h, NULL) != FS_OK ||
	    fs_client_open(&pwc, primary) != FS_OK ||
	    fs_watch_start(&pw, pwc, &wo, &h, pwc) != FS_OK)
		return 1;

	int64_t t0 = fs_now_us(), end = t0 + duration * 1000000;
	uint64_t sent = 0;
	char name[64];
	Flowsvc__CreateRequest cr = FLOWSVC__CREATE_REQUEST__INIT;
	cr.kind = FLOWSVC__KIND__FLOW;
	cr.name = name;
	srand((unsigned) t0);
	int tag = rand();
	for (;;) {
		int64_t now = fs_now_us();
		if (now >= end)
			break;
		uint64_t due = (uint64_t) ((now - t0) * rate / 1000000);
		while (sent < due && atomic_load(&inflight) < maxin) {
			snprintf(name, sizeof(name), "lag_%x_%" PRIu64, tag,
			    sent);
			atomic_fetch_add(&inflight, 1);
			if (sent < cap)
				atomic_store(&sent_by_seq[sent], fs_now_us());
			if (fs_client_call_async(pc, FLOWSVC__METHOD__CREATE,
			        &cr.base, NULL, create_cb,
			        (void *) (uintptr_t) sent) != 0) {
				atomic_fetch_sub(&inflight, 1);
				atomic_fetch_add(&failed, 1);
			}
			sent++;
		}
		nanosleep(&(struct timespec){0, 200000}, NULL);
	}
	int64_t t1 = fs_now_us();
	while (atomic_load(&inflight) > 0)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	/* Give the replica until 5 s after the last answer. */
	uint64_t last = 0;
	for (uint64_t i = 0; i < cap; i++)
		if (atomic_load(&ack_us[i]) != 0)
			last = i;
	int64_t stop = fs_now_us() + 5000000;
	while (fs_now_us() < stop && atomic_load(&arr_us[last]) == 0)
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	fs_watch_stop(w);
	fs_watch_stop(pw);
	fs_client_close(pwc);

	static hist lag, sent_lag, plag;
	uint64_t n = 0, missing = 0, ahead = 0;
	for (uint64_t i = 0; i <= last; i++) {
		int64_t a = atomic_load(&ack_us[i]),
		        b = atomic_load(&arr_us[i]);
		if (a == 0)
			continue;
		n++;
		if (b == 0) {
			missing++;
			continue;
		}
		hist_add(&lag, b > a ? (uint64_t) (b - a) * 1000 : 0);
		ahead += b <= a;
		int64_t pb = atomic_load(&parr_us[i]);
		if (pb != 0)
			hist_add(&plag,
			    b > pb ? (uint64_t) (b - pb) * 1000 : 0);
		int64_t t = atomic_load(&sent_us[i]);
		if (t != 0)
			hist_add(&sent_lag,
			    b > t ? (uint64_t) (b - t) * 1000 : 0);
	}
	printf("rate=%.0f creates=%" PRIu64 " failed=%d lag_p50_ms=%.2f "
	       "lag_p99_ms=%.2f lag_max_ms=%.2f ahead=%" PRIu64
	       " sent_p50_ms=%.2f sent_p99_ms=%.2f sent_max_ms=%.2f "
	       "behind_primary_watch_p50_ms=%.2f "
	       "behind_primary_watch_p99_ms=%.2f missing=%" PRIu64 "\n",
	    (double) n * 1e6 / (double) (t1 - t0), n, atomic_load(&failed),
	    hist_pct_us(&lag, 50) / 1000.0, hist_pct_us(&lag, 99) / 1000.0,
	    hist_max_us(&lag) / 1000.0, ahead,
	    hist_pct_us(&sent_lag, 50) / 1000.0,
	    hist_pct_us(&sent_lag, 99) / 1000.0,
	    hist_max_us(&sent_lag) / 1000.0, hist_pct_us(&plag, 50) / 1000.0,
	    hist_pct_us(&plag, 99) / 1000.0, missing);
	fs_client_close(rc);
	fs_client_close(pc);
	free(ack_us);
	free(arr_us);
	free(sent_us);
	free(sent_by_seq);
	free(parr_us);
	return 0;
}
