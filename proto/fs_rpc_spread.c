/*
 * fs_rpc_spread.c - reads spread over several clients, one read lane for
 * all of them (fs_rpc.h, fs_spread_open): the lane's batches are built by
 * fs_rpc_coalesce.c; this file chooses the client of each as it leaves,
 * watches them for the hedge time, and sends the calls that go alone.
 */
#include "fs_rpc_client_int.h"

#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "fs_methods.h"

struct fs_spread {
	fs_client **clients;
	int n;
	int limit;
	uint32_t hedge_ms;
	fs_spread_pick_fn pick;
	fs_spread_done_fn done;
	void *arg;

	nng_mtx *mtx; /* the lane's too */
	struct fs_lane lane;
	struct fs_flight *out; /* on a slot, or past the hedge (mtx) */
	int *slow;             /* per client: flights past the hedge (mtx) */
	bool closing;          /* mtx */
	bool hedge_armed;      /* mtx */
	nng_aio *hedge;
	_Atomic uint64_t seen_rev;
	_Atomic uint64_t hedged;
};

/* A call sent alone (not on a slot): told to done() as it completes. */
struct fs_alone {
	fs_spread *s;
	int idx;
	fs_call_cb cb;
	void *arg;
};

int
fs_spread_limit(struct fs_spread *s)
{
	return s->limit;
}

void
fs_spread_note(struct fs_spread *s, const Flowsvc__Reply *reply)
{
	if (reply->has_revision)
		fs_spread_see_revision(s, reply->revision);
}

void
fs_spread_see_revision(fs_spread *s, uint64_t rev)
{
	uint64_t cur = atomic_load(&s->seen_rev);

	while (rev > cur &&
	    !atomic_compare_exchange_weak(&s->seen_rev, &cur, rev))
		;
}

int
fs_spread_target(struct fs_spread *s, fs_client **c)
{
	bool slow[FS_SPREAD_MAX];
	int idx;

	nng_mtx_lock(s->mtx);
	if (s->closing) {
		nng_mtx_unlock(s->mtx);
		return -1;
	}
	/* Not connected counts as slow too. */
	for (int i = 0; i < s->n; i++)
		slow[i] =
		    s->slow[i] > 0 || atomic_load(&s->clients[i]->pipes) == 0;
	nng_mtx_unlock(s->mtx);
	idx = s->pick(s->arg, slow);
	/* A client not connected fails its calls at once, as
	 * fs_client_call_async does, rather than at their deadline. */
	if (idx < 0 || idx >= s->n ||
	    atomic_load(&s->clients[idx]->pipes) == 0)
		return -1;
	*c = s->clients[idx];
	return idx;
}

/* Whether a client other than idx is connected and has nothing out past
 * the hedge (mtx held). */
static bool
another_answers(fs_spread *s, int idx)
{
	for (int i = 0; i < s->n; i++)
		if (i != idx && s->slow[i] == 0 &&
		    atomic_load(&s->clients[i]->pipes) > 0)
			return true;
	return false;
}

/* The hedge: every flight on a slot past hedge_ms gives its slot back,
 * its client counts as slow until it is answered, and its calls go back
 * to the head of the lane for another client. Sleeps until the
 * next flight on a slot reaches hedge_ms; stays armed until its very
 * end (as the client's deadline timer), so only it starts its next
 * sleep once running. */
static void
hedge_cb(void *arg)
{
	fs_spread *s = arg;
	nng_time now = nng_clock(), next = 0;
	struct fs_item *again = NULL;
	int released = 0;

	nng_mtx_lock(s->mtx);
	for (struct fs_flight *f = s->out; f != NULL; f = f->next) {
		if (!f->holds_slot)
			continue;
		if (now - f->sent_at >= s->hedge_ms) {
			f->holds_slot = false;
			s->slow[f->idx]++;
			s->lane.inflight--;
			released++;
			/* Its reads go again to another backend, once, and
			 * only when one answers (when every one is slow, the
			 * machine is, and copies would only add to it). */
			if (!f->resent && !s->closing &&
			    another_answers(s, f->idx)) {
				f->resent = true;
				again =
				    fs_items_append(again, fs_flight_take(f));
			}
		} else if (next == 0 || f->sent_at + s->hedge_ms < next) {
			next = f->sent_at + s->hedge_ms;
		}
	}
	if (s->closing)
		next = 0;
	s->hedge_armed = next != 0;
	nng_mtx_unlock(s->mtx);
	atomic_fetch_add(&s->hedged, (uint64_t) released);
	fs_lane_requeue(&s->lane, again);
	while (released-- > 0)
		fs_lane_kick(&s->lane);
	if (next != 0)
		nng_sleep_aio(next > now ? (nng_duration) (next - now) : 1,
		    s->hedge);
}

int
fs_spread_start(struct fs_spread *s, struct fs_flight *f, int idx,
    fs_client *c, nng_msg *msg, uint32_t timeout_ms, fs_call_cb cb, void *arg)
{
	bool arm;
	int rv;

	nng_mtx_lock(s->mtx);
	f->idx = idx;
	f->sent_at = nng_clock();
	f->holds_slot = true;
	f->resent = false;
	f->next = s->out;
	s->out = f;
	/* Under the lock: the callback (fs_spread_back) waits for it. */
	if ((rv = fs_call_start(c, msg, timeout_ms, cb, arg)) != 0) {
		s->out = f->next;
		nng_mtx_unlock(s->mtx);
		return rv;
	}
	arm = !s->hedge_armed && !s->closing;
	if (arm)
		s->hedge_armed = true;
	nng_mtx_unlock(s->mtx);
	if (arm)
		nng_sleep_aio((nng_duration) s->hedge_ms, s->hedge);
	return 0;
}

bool
fs_spread_back(struct fs_spread *s, struct fs_flight *f, int code,
    const Flowsvc__Reply *reply)
{
	bool held;

	nng_mtx_lock(s->mtx);
	for (struct fs_flight **pp = &s->out; *pp != NULL; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	held = f->holds_slot;
	if (!held)
		s->slow[f->idx]--;
	/* Failed without an answer (its connection lost: a backend killed
	 * or gone): its reads go again, once, to another backend that
	 * answers, as past the hedge. */
	struct fs_item *again = NULL;
	if (reply == NULL && code == FS_UNAVAILABLE && !f->resent &&
	    !s->closing && another_answers(s, f->idx)) {
		f->resent = true;
		again = fs_flight_take(f);
	}
	nng_mtx_unlock(s->mtx);
	s->done(s->arg, f->idx, code, reply);
	if (again != NULL) {
		fs_lane_requeue(&s->lane, again);
		if (!held) /* else the caller hands its slot on to them */
			fs_lane_kick(&s->lane);
	}
	return held;
}

int
fs_spread_open(fs_spread **out, fs_client *const *clients, int n,
    int max_inflight, uint32_t hedge_ms, fs_spread_pick_fn pick,
    fs_spread_done_fn done, void *arg)
{
	fs_spread *s;

	*out = NULL;
	if (n < 2 || n > FS_SPREAD_MAX || max_inflight < 1 || hedge_ms < 1 ||
	    pick == NULL || done == NULL)
		return FS_INVALID_ARGUMENT;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return FS_RESOURCE_EXHAUSTED;
	s->clients = calloc((size_t) n, sizeof(*s->clients));
	s->slow = calloc((size_t) n, sizeof(*s->slow));
	if (s->clients == NULL || s->slow == NULL ||
	    nng_mtx_alloc(&s->mtx) != 0) {
		free(s->clients);
		free(s->slow);
		free(s);
		return FS_RESOURCE_EXHAUSTED;
	}
	if (nng_aio_alloc(&s->hedge, hedge_cb, s) != 0) {
		nng_mtx_free(s->mtx);
		free(s->clients);
		free(s->slow);
		free(s);
		return FS_RESOURCE_EXHAUSTED;
	}
	memcpy(s->clients, clients, (size_t) n * sizeof(*s->clients));
	s->n = n;
	s->limit = max_inflight;
	s->hedge_ms = hedge_ms;
	s->pick = pick;
	s->done = done;
	s->arg = arg;
	atomic_init(&s->seen_rev, 0);
	atomic_init(&s->hedged, 0);
	fs_lane_init_spread(&s->lane, s, s->mtx);
	*out = s;
	return 0;
}

void
fs_spread_close(fs_spread *s)
{
	if (s == NULL)
		return;
	nng_mtx_lock(s->mtx);
	s->closing = true;
	nng_mtx_unlock(s->mtx);
	nng_aio_stop(s->hedge);
	/* The clients are closed: nothing is in flight any more, and what
	 * still waits for a slot would wait forever. */
	fs_lane_fail_queue(&s->lane, FS_UNAVAILABLE);
	nng_aio_free(s->hedge);
	nng_mtx_free(s->mtx);
	free(s->clients);
	free(s->slow);
	free(s);
}

uint64_t
fs_spread_hedged(fs_spread *s)
{
	return atomic_load(&s->hedged);
}

static void
alone_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	struct fs_alone *a = arg;

	a->s->done(a->s->arg, a->idx, code, reply);
	if (reply != NULL)
		fs_spread_note(a->s, reply);
	a->cb(a->arg, code, reply);
	free(a);
}

int
fs_spread_call_async(fs_spread *s, Flowsvc__Method method,
    const ProtobufCMessage *req, const fs_call_opts *opts, fs_call_cb cb,
    void *arg)
{
	uint32_t timeout_ms = fs_call_timeout(method, req, opts);
	uint64_t min_rev = opts != NULL ? opts->min_revision : 0;
	struct fs_alone *a;
	fs_client *c = NULL;
	nng_msg *msg;
	int lane, idx, rv;

	if ((rv = fs_envelope_pack(&msg, method, req, opts, timeout_ms,
	         min_rev)) != 0)
		return rv;
	lane = fs_method_is(method, FS_M_BLOCKS)
	    ? -1
	    : fs_coalesce_lane(method, req, nng_msg_len(msg));
	/* As on one client (fs_client_call_async): a read asking for a
	 * revision no answer has shown yet may wait for it up to its
	 * deadline, so it goes alone. */
	if (lane == LANE_READ && min_rev <= atomic_load(&s->seen_rev))
		return fs_lane_call(&s->lane, msg, timeout_ms, min_rev, cb,
		    arg);
	if ((idx = fs_spread_target(s, &c)) < 0) {
		nng_msg_free(msg);
		return FS_UNAVAILABLE;
	}
	if ((a = malloc(sizeof(*a))) == NULL) {
		nng_msg_free(msg);
		return FS_RESOURCE_EXHAUSTED;
	}
	a->s = s;
	a->idx = idx;
	a->cb = cb;
	a->arg = arg;
	rv = fs_method_is(method, FS_M_BLOCKS)
	    ? fs_call_start_blocking(c, msg, timeout_ms, alone_cb, a, NULL)
	    : fs_call_start(c, msg, timeout_ms, alone_cb, a);
	if (rv != 0)
		free(a);
	return rv;
}
