/*
 * svc_wait.c - calls waiting for a revision (svc_wait.h): a list under a
 * mutex and one thread. The list is short in practice (followers, and
 * reads that outran a replica for a moment), so the thread scans it
 * whole when woken; the write path wakes it only when the lowest revision
 * waited for has been reached, so a busy store costs one comparison per
 * change. The list is doubly linked, so that a call whose connection
 * closes leaves it in O(1) (went_gone).
 */
#include "svc_wait.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "fs_errors.h"
#include "fs_util.h"

struct went {
	uint64_t want;
	int64_t end_ms;
	svc_wait_fn fn;
	void *arg;
	svc_waiter *w;
	fs_srv_call *call; /* offered back if its connection closes; NULL */
	struct went *next, *prev;
	int listed; /* in w's list (mu) */
	int gone;   /* its connection closed before it was listed (mu) */
};

struct svc_waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thr;
	struct went *head;
	size_t n, max;
	/* Written by the write path without mu (svc_wait_notify: a store and
	 * a load per change); seq_cst, so that either the notifier sees a new
	 * waiter's want or the waiter thread sees the new revision. */
	_Atomic uint64_t rev;
	_Atomic uint64_t min_want; /* the lowest want waiting (UINT64_MAX:
	                            * none); changed under mu */
	int stop, closing, running;
	int answering; /* the thread runs functions (mu) */
	int min_stale; /* min_want may be below the lowest want (mu) */
};

/* Takes e out of w's list (mu held). */
static void
went_unlist(svc_waiter *w, struct went *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		w->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	e->next = e->prev = NULL;
	e->listed = 0;
	w->n--;
}

static void
recompute_min(svc_waiter *w)
{
	uint64_t m = UINT64_MAX;

	for (struct went *e = w->head; e != NULL; e = e->next)
		if (e->want < m)
			m = e->want;
	atomic_store(&w->min_want, m);
}

static void *
waiter_main(void *arg)
{
	svc_waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		int64_t now = fs_now_ms(), next = INT64_MAX;
		struct went *done = NULL, *e, *enext;

		for (e = w->head; e != NULL; e = enext) {
			enext = e->next;
			if (e->want <= atomic_load(&w->rev) ||
			    e->end_ms <= now || w->closing) {
				went_unlist(w, e);
				e->next = done;
				done = e;
				continue;
			}
			if (e->end_ms < next)
				next = e->end_ms;
		}
		if (done != NULL || w->min_stale) {
			recompute_min(w);
			w->min_stale = 0;
		}
		if (done != NULL) {
			uint64_t rev = atomic_load(&w->rev);
			w->answering = 1;
			pthread_mutex_unlock(&w->mu);
			while (done != NULL) {
				e = done;
				done = e->next;
				/* Its call back from the server: no offer
				 * from now on, none running (went_gone may
				 * have marked e as it was being taken). */
				if (e->call != NULL)
					(void) fs_srv_on_gone(e->call, NULL,
					    NULL);
				e->fn(e->arg,
				    e->want > rev ? SVC_WAIT_EXPIRED
				                  : SVC_WAIT_REACHED);
				free(e);
			}
			pthread_mutex_lock(&w->mu);
			w->answering = 0;
			pthread_cond_broadcast(&w->cv);
			continue;
		}
		if (w->stop)
			break;
		if (next == INT64_MAX) {
			pthread_cond_wait(&w->cv, &w->mu);
		} else {
			struct timespec ts;
			int64_t wall = fs_now_ms() + (next - now);
			ts.tv_sec = wall / 1000;
			ts.tv_nsec = (wall % 1000) * 1000000;
			(void) pthread_cond_timedwait(&w->cv, &w->mu, &ts);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int
svc_waiter_new(svc_waiter **out, uint64_t rev, size_t max)
{
	svc_waiter *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return FS_RESOURCE_EXHAUSTED;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL); /* CLOCK_REALTIME: fs_now_ms */
	atomic_init(&w->rev, rev);
	w->max = max;
	atomic_init(&w->min_want, UINT64_MAX);
	if (pthread_create(&w->thr, NULL, waiter_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return FS_UNAVAILABLE;
	}
	w->running = 1;
	*out = w;
	return FS_OK;
}

void
svc_wait_quiesce(svc_waiter *w)
{
	pthread_mutex_lock(&w->mu);
	w->closing = 1;
	pthread_cond_broadcast(&w->cv);
	while (w->head != NULL || w->answering)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

void
svc_waiter_free(svc_waiter *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->closing = 1;
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->running)
		pthread_join(w->thr, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* fs_srv_gone_fn: e's connection has closed. Still listed: taken out,
 * its function told (SVC_WAIT_GONE), freed, and the server ends the call.
 * Not listed: the thread is answering it, or svc_wait_for is about to
 * list it and refuses instead (e->gone). */
static int
went_gone(void *arg)
{
	struct went *e = arg;
	svc_waiter *w = e->w;

	pthread_mutex_lock(&w->mu);
	if (!e->listed) {
		e->gone = 1;
		pthread_mutex_unlock(&w->mu);
		return 0;
	}
	went_unlist(w, e);
	/* The thread works out the lowest want again (and quiesce sees an
	 * empty list). */
	w->min_stale = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	e->fn(e->arg, SVC_WAIT_GONE);
	free(e);
	return 1;
}

int
svc_wait_for(svc_waiter *w, uint64_t want, int64_t end_ms, svc_wait_fn fn,
    void *arg, fs_srv_call *call)
{
	struct went *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return FS_RESOURCE_EXHAUSTED;
	e->want = want;
	e->end_ms = end_ms;
	e->fn = fn;
	e->arg = arg;
	e->w = w;
	if (call != NULL) {
		if (fs_srv_on_gone(call, went_gone, e) != 0) {
			free(e); /* gone already, or the server closing */
			return FS_UNAVAILABLE;
		}
		e->call = call;
	}
	pthread_mutex_lock(&w->mu);
	if (w->closing || w->n >= w->max || e->gone) {
		int rv = w->closing || e->gone ? FS_UNAVAILABLE
		                               : FS_RESOURCE_EXHAUSTED;
		pthread_mutex_unlock(&w->mu);
		if (e->call != NULL)
			(void) fs_srv_on_gone(e->call, NULL, NULL);
		free(e);
		return rv;
	}
	e->prev = NULL;
	e->next = w->head;
	if (w->head != NULL)
		w->head->prev = e;
	w->head = e;
	e->listed = 1;
	w->n++;
	if (want < atomic_load(&w->min_want))
		atomic_store(&w->min_want, want);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return FS_OK;
}

void
svc_wait_notify(svc_waiter *w, uint64_t rev)
{
	atomic_store(&w->rev, rev);
	if (rev < atomic_load(&w->min_want))
		return; /* nobody to wake: no lock taken */
	pthread_mutex_lock(&w->mu);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

size_t
svc_wait_count(svc_waiter *w)
{
	pthread_mutex_lock(&w->mu);
	size_t n = w->n;
	pthread_mutex_unlock(&w->mu);
	return n;
}
