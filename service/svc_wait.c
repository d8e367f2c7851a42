/*
 * svc_wait.c - calls waiting for a revision (svc_wait.h): a list under a
 * mutex and one thread. The list is short in practice (followers, and
 * reads that outran a replica for a moment), so the thread scans it
 * whole when woken; the write path wakes it only when the lowest revision
 * waited for has been reached, so a busy store costs one comparison per
 * change.
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
	struct went *next;
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
};

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
		struct went *done = NULL, **pp = &w->head;

		while (*pp != NULL) {
			struct went *e = *pp;
			if (e->want <= atomic_load(&w->rev) ||
			    e->end_ms <= now || w->closing) {
				*pp = e->next;
				e->next = done;
				done = e;
				w->n--;
				continue;
			}
			if (e->end_ms < next)
				next = e->end_ms;
			pp = &e->next;
		}
		if (done != NULL) {
			recompute_min(w);
			uint64_t rev = atomic_load(&w->rev);
			w->answering = 1;
			pthread_mutex_unlock(&w->mu);
			while (done != NULL) {
				struct went *e = done;
				done = e->next;
				e->fn(e->arg, e->want > rev);
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

int
svc_wait_for(svc_waiter *w, uint64_t want, int64_t end_ms, svc_wait_fn fn,
    void *arg)
{
	struct went *e = malloc(sizeof(*e));

	if (e == NULL)
		return FS_RESOURCE_EXHAUSTED;
	e->want = want;
	e->end_ms = end_ms;
	e->fn = fn;
	e->arg = arg;
	pthread_mutex_lock(&w->mu);
	if (w->closing || w->n >= w->max) {
		int rv = w->closing ? FS_UNAVAILABLE : FS_RESOURCE_EXHAUSTED;
		pthread_mutex_unlock(&w->mu);
		free(e);
		return rv;
	}
	e->next = w->head;
	w->head = e;
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
