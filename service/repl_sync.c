/*
 * repl_sync.c - synchronous replication's acknowledgements (repl_sync.h):
 * the followers' revisions in a small table under a mutex, and a waiter
 * (svc_wait.h) told the Nth highest of them.
 */
#include "repl_sync.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "fs_util.h"

#define SYNC_FOLLOWERS_MAX 64

struct ack {
	char name[128];
	uint64_t rev;
	int64_t last_ms;
};

struct repl_sync {
	unsigned n;
	svc_waiter *w;
	pthread_mutex_t mu;
	struct ack acks[SYNC_FOLLOWERS_MAX];
	uint64_t told; /* the revision the waiter was last told */
	_Atomic uint64_t timeouts;
};

int
repl_sync_new(repl_sync **out, unsigned n)
{
	repl_sync *y = calloc(1, sizeof(*y));
	int rv;

	if (y == NULL)
		return FS_RESOURCE_EXHAUSTED;
	y->n = n ? n : 1;
	if ((rv = svc_waiter_new(&y->w, 0, 1000000)) != FS_OK) {
		free(y);
		return rv;
	}
	pthread_mutex_init(&y->mu, NULL);
	atomic_init(&y->timeouts, 0);
	*out = y;
	return FS_OK;
}

void
repl_sync_free(repl_sync *y)
{
	if (y == NULL)
		return;
	svc_waiter_free(y->w);
	pthread_mutex_destroy(&y->mu);
	free(y);
}

/* The nth highest revision among the followers in touch (0: fewer). mu
 * held. */
static uint64_t
nth_highest(repl_sync *y, int64_t now)
{
	uint64_t top[SYNC_FOLLOWERS_MAX];
	size_t k = 0;

	for (int i = 0; i < SYNC_FOLLOWERS_MAX; i++)
		if (y->acks[i].name[0] != '\0' &&
		    now - y->acks[i].last_ms <= REPL_SYNC_LIVE_MS)
			top[k++] = y->acks[i].rev;
	if (k < y->n)
		return 0;
	/* Partial selection: k is at most 64. */
	for (size_t i = 0; i < y->n; i++)
		for (size_t j = i + 1; j < k; j++)
			if (top[j] > top[i]) {
				uint64_t t = top[i];
				top[i] = top[j];
				top[j] = t;
			}
	return top[y->n - 1];
}

void
repl_sync_ack(repl_sync *y, const char *name, uint64_t rev)
{
	int64_t now = fs_now_ms();
	struct ack *a = NULL, *old = NULL;

	if (name == NULL || name[0] == '\0')
		return;
	pthread_mutex_lock(&y->mu);
	for (int i = 0; i < SYNC_FOLLOWERS_MAX && a == NULL; i++) {
		struct ack *x = &y->acks[i];
		if (x->name[0] != '\0' &&
		    strncmp(x->name, name, sizeof(x->name) - 1) == 0)
			a = x;
		else if (old == NULL || x->name[0] == '\0' ||
		    (old->name[0] != '\0' && x->last_ms < old->last_ms))
			old = x;
	}
	if (a == NULL) {
		/* A new follower takes a free slot, or the one heard from
		 * longest ago. */
		a = old;
		memset(a, 0, sizeof(*a));
		strncpy(a->name, name, sizeof(a->name) - 1);
	}
	/* A follower that restarted from an older state counts for what
	 * it has now. */
	a->rev = rev;
	a->last_ms = now;
	/* Told also when it goes down (a follower restarted from an older
	 * state, or one fell out of touch): a change waits for what the
	 * followers in touch have now. */
	uint64_t upto = nth_highest(y, now);
	int tell = upto != y->told;
	if (tell)
		y->told = upto;
	pthread_mutex_unlock(&y->mu);
	if (tell)
		svc_wait_notify(y->w, upto);
}

int
repl_sync_wait(repl_sync *y, uint64_t rev, int64_t end_ms, svc_wait_fn fn,
    void *arg)
{
	return svc_wait_for(y->w, rev, end_ms, fn, arg, NULL);
}

size_t
repl_sync_connected(repl_sync *y)
{
	int64_t now = fs_now_ms();
	size_t k = 0;

	pthread_mutex_lock(&y->mu);
	for (int i = 0; i < SYNC_FOLLOWERS_MAX; i++)
		if (y->acks[i].name[0] != '\0' &&
		    now - y->acks[i].last_ms <= REPL_SYNC_LIVE_MS)
			k++;
	pthread_mutex_unlock(&y->mu);
	return k;
}

uint64_t
repl_sync_timeouts(repl_sync *y)
{
	return atomic_load(&y->timeouts);
}

void
repl_sync_timed_out(repl_sync *y)
{
	atomic_fetch_add(&y->timeouts, 1);
}

unsigned
repl_sync_n(const repl_sync *y)
{
	return y->n;
}

void
repl_sync_quiesce(repl_sync *y)
{
	if (y != NULL)
		svc_wait_quiesce(y->w);
}
