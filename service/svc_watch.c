/*
 * svc_watch.c - the Watch method: the history, parked watches and the
 * watch thread (see svc_watch.h). Rebuilding the history from the logs
 * at start is svc_watch_log.c's.
 *
 * A parked watch is indexed twice under mu: in a list by its group
 * filter (a table of lists keyed by the group, case-insensitively; the
 * watches without one in a list of their own), so that an event is
 * matched only against the watches of its group and the unfiltered ones;
 * and in a min-heap by the time its wait ends. An event that wakes a
 * watch, or the end of its wait, takes it out of both, and the watch
 * thread answers it, without mu.
 */
#include "svc_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "access.h"
#include "fs_errors.h"
#include "fs_util.h"
#include "htab.h"
#include "svc_watch_int.h"

/* Events a reply's scan, and watches the watch thread's matching, look
 * at before they let the write path in again. */
#define SCAN_CHUNK 1024

/* ---- time --------------------------------------------------------------- */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- parked watches: the group lists and the heap (mu held) ------------- */

struct parked {
	svc_watch *w;
	fs_srv_call *call;
	const Flowsvc__Request *env; /* the call's, until it is answered */
	int gone; /* its connection closed before it was parked (mu) */
	watch_query q;
	uint64_t pos;   /* complete up to here */
	int64_t end_ms; /* monotonic: when its wait ends */
	int64_t start_us;
	size_t hidx;
	struct plist *list;
	struct parked *next, *prev;
};

static struct plist *
plist_find(svc_watch *w, const char *group)
{
	uint64_t h = htab_hash_ci(0, group);

	for (htab_node *e = htab_first(&w->groups, h); e != NULL;
	     e = htab_next(e)) {
		struct plist *l = htab_entry(e, struct plist, node);
		if (strcasecmp(l->key, group) == 0)
			return l;
	}
	return NULL;
}

static void
heap_swap(svc_watch *w, size_t i, size_t j)
{
	struct parked *t = w->heap[i];

	w->heap[i] = w->heap[j];
	w->heap[j] = t;
	w->heap[i]->hidx = i;
	w->heap[j]->hidx = j;
}

static void
heap_up(svc_watch *w, size_t i)
{
	while (i > 0 && w->heap[(i - 1) / 2]->end_ms > w->heap[i]->end_ms) {
		heap_swap(w, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(svc_watch *w, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < w->nheap && w->heap[l]->end_ms < w->heap[m]->end_ms)
			m = l;
		if (l + 1 < w->nheap &&
		    w->heap[l + 1]->end_ms < w->heap[m]->end_ms)
			m = l + 1;
		if (m == i)
			return;
		heap_swap(w, i, m);
		i = m;
	}
}

/* Indexes p, which pending() has just matched up to the last event.
 * Returns 0, or -1 when out of memory (p not parked). */
static int
park(svc_watch *w, struct parked *p)
{
	struct plist *l = &w->any;

	/* The first to park: the thread, idle while none was parked, need
	 * not match what p was just matched against. Without this, more
	 * than the history's worth of changes while no watch waited looked
	 * like the thread falling behind (wake_all), and the first watches
	 * to park were answered at once with nothing. */
	if (w->nparked == 0 && w->processed < w->ring.last)
		w->processed = w->ring.last;

	if (w->nheap == w->capheap) {
		size_t cap = w->capheap ? w->capheap * 2 : 64;
		struct parked **nh = realloc(w->heap, cap * sizeof(*nh));
		if (nh == NULL)
			return -1;
		w->heap = nh;
		w->capheap = cap;
	}
	if (p->q.group != NULL && (l = plist_find(w, p->q.group)) == NULL) {
		if ((l = calloc(1, sizeof(*l))) == NULL ||
		    (l->key = strdup(p->q.group)) == NULL) {
			free(l);
			return -1;
		}
		l->node.hash = htab_hash_ci(0, l->key);
		htab_add(&w->groups, &l->node);
	}
	p->list = l;
	p->prev = NULL;
	p->next = l->head;
	if (l->head != NULL)
		l->head->prev = p;
	l->head = p;
	p->hidx = w->nheap++;
	w->heap[p->hidx] = p;
	heap_up(w, p->hidx);
	w->nparked++;
	return 0;
}

/* Takes p out of both indexes and puts it on *ready. upto: every change
 * up to it has been matched against p without a match (the watch
 * thread's position, or the revision before the one that wakes it), so p
 * is complete up to it: it answers from there, not from where it parked.
 * A watch of a quiet group would otherwise find its position gone from
 * the history once more than --watch-history changes of other groups
 * went by, and get OUT_OF_RANGE for changes it never wanted. */
static void
unpark(svc_watch *w, struct parked *p, uint64_t upto, struct parked **ready)
{
	struct plist *l = p->list;

	if (upto > p->pos)
		p->pos = upto;

	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		l->head = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	if (l->head == NULL && l != &w->any) {
		htab_del(&w->groups, &l->node);
		free(l->key);
		free(l);
	}
	size_t i = p->hidx;
	w->nheap--;
	if (i != w->nheap) {
		heap_swap(w, i, w->nheap);
		heap_down(w, i);
		heap_up(w, i);
	}
	w->nparked--;
	p->list = NULL;
	p->prev = NULL;
	p->next = *ready;
	*ready = p;
}

/* ---- requests ----------------------------------------------------------- */

void
watch_query_fini(watch_query *q)
{
	free(q->group);
	q->group = NULL;
	q->f.group = NULL;
}

int
watch_query_of(const Flowsvc__Request *env, const Flowsvc__WatchRequest *m,
    watch_query *q, svc_reply *r)
{
	memset(q, 0, sizeof(*q));
	if (m->has_kind && m->kind != FLOWSVC__KIND__KIND_ANY &&
	    !svc_reply_kind_ok(r, (int) m->kind))
		return -1;
	if (m->has_wait_ms && m->wait_ms > SVC_WATCH_WAIT_MAX_MS)
		rules_viol_add(&r->v, "wait_ms",
		    "Ensure this value is less than or equal to %u.",
		    SVC_WATCH_WAIT_MAX_MS);
	if (svc_reply_viol(r, 0))
		return -1;
	if (m->group_iexact != NULL && m->group_iexact[0] != '\0' &&
	    (q->group = strdup(m->group_iexact)) == NULL) {
		svc_reply_oom(r);
		return -1;
	}
	q->f.kind = m->has_kind ? (int) m->kind : 0;
	q->f.group = q->group;
	q->f.who = env->caller;
	q->has_since = m->has_since_revision;
	q->since = m->since_revision;
	q->wait_ms = m->has_wait_ms ? m->wait_ms : 0;
	q->max = m->has_max_events && m->max_events != 0
	    ? m->max_events
	    : SVC_WATCH_EVENTS_DEFAULT;
	if (q->max > SVC_WATCH_EVENTS_MAX)
		q->max = SVC_WATCH_EVENTS_MAX;
	return 0;
}

/* ---- answers ------------------------------------------------------------ */

/* The current revision: the newest change the history knows. */
uint64_t
svc_watch_current(svc_watch *w)
{
	pthread_mutex_lock(&w->mu);
	uint64_t v = w->ring.last;
	pthread_mutex_unlock(&w->mu);
	return v;
}

/* OUT_OF_RANGE for since (mu held): too old, or past the current one. */
static void
out_of_range(svc_watch *w, uint64_t since, svc_reply *r)
{
	uint64_t first = watch_ring_first(&w->ring), last = w->ring.last;

	if (since > last)
		svc_reply_err(r, FS_OUT_OF_RANGE,
		    "Revision %llu is in the future: this backend is at "
		    "revision %llu; list again and watch from the list's "
		    "revision.",
		    (unsigned long long) since, (unsigned long long) last);
	else
		svc_reply_err(r, FS_OUT_OF_RANGE,
		    "Revision %llu is no longer available: the oldest change "
		    "kept is revision %llu; list again and watch from the "
		    "list's revision.",
		    (unsigned long long) since, (unsigned long long) first);
	r->has_revision = 1;
	r->revision = last;
	r->oldest_revision = first;
}

uint32_t
watch_collect(svc_watch *w, const watch_query *q, uint64_t since, svc_reply *r)
{
	watch_event **refs = NULL;
	size_t n = 0, cap = 0;
	watch_reply_buf b = {NULL, 0, 0, SVC_REPLY_BUDGET - 32, 0};
	uint64_t pos = since, done;
	int rv = 0;

	pthread_mutex_lock(&w->mu);
	if (since > w->ring.last || since + 1 < watch_ring_first(&w->ring)) {
		out_of_range(w, since, r);
		pthread_mutex_unlock(&w->mu);
		return 0;
	}
	while (pos < w->ring.last && n < q->max) {
		for (int k = 0; k < SCAN_CHUNK && pos < w->ring.last &&
		     n < q->max && rv == 0;
		     k++) {
			watch_event *ev = watch_ring_at(&w->ring, ++pos);
			if (!watch_match(&q->f, ev))
				continue;
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				watch_event **nr =
				    realloc(refs, nc * sizeof(*nr));
				if (nr == NULL) {
					rv = -1;
					break;
				}
				refs = nr;
				cap = nc;
			}
			watch_event_ref(ev);
			refs[n++] = ev;
		}
		if (rv != 0 || pos >= w->ring.last || n >= q->max)
			break;
		/* Let the write path in; what it dropped meanwhile ends
		 * the scan (complete up to pos). */
		pthread_mutex_unlock(&w->mu);
		pthread_mutex_lock(&w->mu);
		if (pos + 1 < watch_ring_first(&w->ring))
			break;
	}
	pthread_mutex_unlock(&w->mu);

	done = pos;
	for (size_t i = 0; i < n && rv == 0; i++) {
		rv = watch_reply_add(&b, refs[i], q->f.who);
		if (rv == 1) {
			/* Full: complete up to the one before (there is one:
			 * a single event is far below the budget). */
			done = i > 0 ? refs[i - 1]->revision : since;
			rv = 0;
			break;
		}
	}
	for (size_t i = 0; i < n; i++)
		watch_event_unref(refs[i]);
	free(refs);
	if (rv != 0 || watch_reply_finish(&b, done) != 0) {
		free(b.buf);
		svc_reply_oom(r);
		return 0;
	}
	r->code = FS_OK;
	r->payload = b.buf;
	r->payload_len = b.len;
	r->has_payload = 1;
	r->has_revision = 1;
	r->revision = done;
	return b.n;
}

/* Sends r for call (counted and logged first: env goes with the reply),
 * and releases r. */
static void
watch_send(svc_watch *w, fs_srv_call *call, const Flowsvc__Request *env,
    svc_reply *r, int64_t start_us)
{
	Flowsvc__Reply rep;

	w->done(w->done_arg, env, r->code, start_us);
	svc_reply_wire(r, &rep);
	fs_srv_reply(call, &rep);
	svc_reply_fini(r);
}

static void
parked_free(struct parked *p)
{
	watch_query_fini(&p->q);
	free(p);
}

/* Answers p from its position and frees it. */
static void
parked_answer(svc_watch *w, struct parked *p)
{
	svc_reply r;

	memset(&r, 0, sizeof(r));
	watch_collect(w, &p->q, p->pos, &r);
	watch_send(w, p->call, p->env, &r, p->start_us);
	parked_free(p);
}

/* fs_srv_gone_fn: p's connection has closed. Still parked: it is taken
 * out and freed, counted CANCELLED, and the server ends its call. Not
 * parked: the watch thread is answering it, or svc_watch_handle is about
 * to park it and answers it instead (p->gone). */
static int
parked_gone(void *arg)
{
	struct parked *p = arg, *none = NULL;
	svc_watch *w = p->w;

	pthread_mutex_lock(&w->mu);
	if (p->list == NULL) {
		p->gone = 1;
		pthread_mutex_unlock(&w->mu);
		return 0;
	}
	unpark(w, p, 0, &none);
	if (w->nparked == 0 && w->answering == 0)
		pthread_cond_broadcast(&w->idle);
	pthread_mutex_unlock(&w->mu);
	w->done(w->done_arg, p->env, FS_CANCELLED, p->start_us);
	parked_free(p);
	return 1;
}

/* ---- the method --------------------------------------------------------- */

int
svc_watch_now(svc *s, const svc_req *q, svc_reply *r)
{
	svc_watch *w = svc_watcher(s);
	watch_query wq;

	if (watch_query_of(q->env, q->msg, &wq, r) != 0)
		return 0;
	watch_collect(w, &wq, wq.has_since ? wq.since : svc_watch_current(w),
	    r);
	watch_query_fini(&wq);
	return 0;
}

/* How long a watch may wait: its wait_ms, cut short to answer before the
 * request's deadline (by a quarter of what is left, at most a second). */
static uint32_t
wait_for(const Flowsvc__Request *env, uint32_t wait_ms)
{
	if (!env->has_deadline_unix_ms || env->deadline_unix_ms == 0)
		return wait_ms;
	int64_t left = env->deadline_unix_ms - fs_now_ms();
	int64_t margin = left / 4 < 1000 ? left / 4 : 1000;
	if (left - margin <= 0)
		return 0;
	return left - margin < (int64_t) wait_ms ? (uint32_t) (left - margin)
	                                         : wait_ms;
}

/* 1 when an event in (pos, last] matches p, or p can no longer be served
 * from pos (mu held). */
static int
pending(svc_watch *w, const struct parked *p)
{
	if (p->pos + 1 < watch_ring_first(&w->ring))
		return 1;
	for (uint64_t rev = p->pos + 1; rev <= w->ring.last; rev++)
		if (watch_match(&p->q.f, watch_ring_at(&w->ring, rev)))
			return 1;
	return 0;
}

void
svc_watch_handle(svc_watch *w, fs_srv_call *call, const Flowsvc__Request *env,
    int64_t start_us)
{
	Flowsvc__WatchRequest *m;
	struct parked *p;
	svc_reply r;

	memset(&r, 0, sizeof(r));
	m = flowsvc__watch_request__unpack(NULL,
	    env->has_payload ? env->payload.len : 0,
	    env->has_payload ? env->payload.data : NULL);
	if (m == NULL) {
		svc_reply_err(&r, FS_INVALID_ARGUMENT,
		    "Undecodable WatchRequest.");
		watch_send(w, call, env, &r, start_us);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		flowsvc__watch_request__free_unpacked(m, NULL);
		svc_reply_oom(&r);
		watch_send(w, call, env, &r, start_us);
		return;
	}
	int bad = watch_query_of(env, m, &p->q, &r);
	flowsvc__watch_request__free_unpacked(m, NULL);
	if (bad) {
		watch_send(w, call, env, &r, start_us);
		free(p);
		return;
	}
	uint32_t wait = wait_for(env, p->q.wait_ms);
	uint32_t n = watch_collect(w, &p->q,
	    p->q.has_since ? p->q.since : svc_watch_current(w), &r);
	if (r.code != FS_OK || n > 0 || wait == 0) {
		watch_send(w, call, env, &r, start_us);
		parked_free(p);
		return;
	}
	/* Nothing yet: park it, off the server's pool. */
	p->pos = r.revision;
	svc_reply_fini(&r);
	p->w = w;
	p->call = call;
	p->env = env;
	p->start_us = start_us;
	p->end_ms = mono_ms() + wait;
	/* Told before it can be answered from elsewhere (parked_gone). */
	int detached = fs_srv_detach(call) == 0 &&
	    fs_srv_on_gone(call, parked_gone, p) == 0;
	pthread_mutex_lock(&w->mu);
	if (!detached || w->closing || p->gone || pending(w, p) ||
	    park(w, p) != 0) {
		pthread_mutex_unlock(&w->mu);
		parked_answer(w, p);
		return;
	}
	if (w->heap[0] == p)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

size_t
svc_watch_parked(svc_watch *w)
{
	pthread_mutex_lock(&w->mu);
	size_t n = w->nparked;
	pthread_mutex_unlock(&w->mu);
	return n;
}

/* ---- the write path ----------------------------------------------------- */

void
svc_watch_publish(svc_watch *w, watch_event *ev)
{
	pthread_mutex_lock(&w->mu);
	watch_ring_push(&w->ring, ev);
	if (w->nparked > 0)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* ---- the watch thread --------------------------------------------------- */

/* Moves the parked watches ev concerns to *ready (mu held). Returns how
 * many it looked at. */
static size_t
match_event(svc_watch *w, const watch_event *ev, struct parked **ready)
{
	struct plist *lists[2] = {&w->any, plist_find(w, ev->group)};
	size_t looked = 1;

	for (int i = 0; i < 2; i++) {
		struct parked *p = lists[i] != NULL ? lists[i]->head : NULL;
		while (p != NULL) {
			struct parked *next = p->next;
			if (ev->revision > p->pos && watch_match(&p->q.f, ev))
				unpark(w, p, ev->revision - 1, ready);
			p = next;
			looked++;
		}
	}
	return looked;
}

/* The thread fell behind by more than the history (events were dropped
 * before it matched them against the parked watches): every parked watch
 * goes to *ready, to be answered from where it is (mu held). Rare enough
 * not to be worth telling which of them it concerns. */
static void
wake_all(svc_watch *w, struct parked **ready)
{
	while (w->nheap > 0)
		unpark(w, w->heap[0], w->processed, ready);
}

/* Lets the logs before the history's oldest event go, now and then: each
 * move may remove files (persist_gc), so only once the oldest has moved
 * on by a sixteenth of the history (or 1024 revisions). */
static void
retain_follow(svc_watch *w, uint64_t first)
{
	uint64_t step = w->cap / 16 > 1024 ? w->cap / 16 : 1024;

	if (!w->holding || first < w->held + step)
		return;
	if (persist_retain_move(w->disk, w->holder, first) == FS_OK)
		w->held = first;
}

static void
wait_until(svc_watch *w, int64_t end_ms)
{
	struct timespec ts;
	int64_t left = end_ms - mono_ms();

	if (left <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += left / 1000;
	ts.tv_nsec += (left % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	(void) pthread_cond_timedwait(&w->cv, &w->mu, &ts);
}

static void *
watch_main(void *arg)
{
	svc_watch *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct parked *ready = NULL;
		uint64_t first = watch_ring_first(&w->ring);

		if (w->processed < w->ring.last) {
			if (w->processed + 1 < first) {
				wake_all(w, &ready);
				w->processed = first - 1;
			}
			for (int k = 0;
			     k < SCAN_CHUNK && w->processed < w->ring.last;
			     k++)
				match_event(w,
				    watch_ring_at(&w->ring, ++w->processed),
				    &ready);
		}
		int64_t now = mono_ms();
		while (
		    w->nheap > 0 && (w->closing || w->heap[0]->end_ms <= now))
			unpark(w, w->heap[0], w->processed, &ready);
		if (ready == NULL) {
			if (w->processed < w->ring.last) {
				/* More to match: let writers in first. */
				pthread_mutex_unlock(&w->mu);
				pthread_mutex_lock(&w->mu);
				continue;
			}
			if (w->nparked == 0 && w->answering == 0)
				pthread_cond_broadcast(&w->idle);
			if (w->stop)
				break;
			if (w->nheap > 0)
				wait_until(w, w->heap[0]->end_ms);
			else
				pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		w->answering++;
		pthread_mutex_unlock(&w->mu);
		while (ready != NULL) {
			struct parked *p = ready;
			ready = p->next;
			parked_answer(w, p);
		}
		retain_follow(w, first);
		pthread_mutex_lock(&w->mu);
		w->answering--;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* ---- life --------------------------------------------------------------- */

int
svc_watch_new(svc_watch **out, size_t history, uint64_t base,
    svc_watch_done_fn done, void *done_arg)
{
	svc_watch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return FS_RESOURCE_EXHAUSTED;
	w->cap = history != 0 ? history : SVC_WATCH_HISTORY;
	w->done = done;
	w->done_arg = done_arg;
	w->processed = base;
	if (watch_ring_init(&w->ring, w->cap, base) != 0 ||
	    htab_init(&w->groups) != 0) {
		watch_ring_fini(&w->ring);
		free(w);
		return FS_RESOURCE_EXHAUSTED;
	}
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		htab_fini(&w->groups);
		watch_ring_fini(&w->ring);
		free(w);
		return FS_RESOURCE_EXHAUSTED;
	}
	if (fs_cond_init_monotonic(&w->cv) != 0) {
		pthread_mutex_destroy(&w->mu);
		htab_fini(&w->groups);
		watch_ring_fini(&w->ring);
		free(w);
		return FS_RESOURCE_EXHAUSTED;
	}
	if (pthread_cond_init(&w->idle, NULL) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		htab_fini(&w->groups);
		watch_ring_fini(&w->ring);
		free(w);
		return FS_RESOURCE_EXHAUSTED;
	}
	*out = w;
	return FS_OK;
}

int
svc_watch_start(svc_watch *w)
{
	pthread_mutex_lock(&w->mu);
	w->processed = w->ring.last;
	pthread_mutex_unlock(&w->mu);
	if (pthread_create(&w->thr, NULL, watch_main, w) != 0)
		return FS_UNAVAILABLE;
	w->running = 1;
	return FS_OK;
}

void
svc_watch_quiesce(svc_watch *w)
{
	pthread_mutex_lock(&w->mu);
	w->closing = 1;
	pthread_cond_signal(&w->cv);
	while (w->running && (w->nparked > 0 || w->answering > 0))
		pthread_cond_wait(&w->idle, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

void
svc_watch_free(svc_watch *w)
{
	if (w == NULL)
		return;
	svc_watch_quiesce(w);
	if (w->running) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thr, NULL);
	}
	/* Parked watches without a thread (never started): answered here. */
	struct parked *ready = NULL;
	while (w->nheap > 0)
		unpark(w, w->heap[0], 0, &ready);
	while (ready != NULL) {
		struct parked *p = ready;
		ready = p->next;
		parked_answer(w, p);
	}
	/* The hold on the logs is not let go: the next start rebuilds the
	 * history from them (persist_close forgets it). */
	watch_ring_fini(&w->ring);
	htab_fini(&w->groups);
	free(w->heap);
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
