/*
 * fs_srv_pipes.c - the connections of an RPC server and their requests
 * in progress (fs_srv_pipes.h): a hash table keyed by nng pipe id.
 */
#include "fs_srv_pipes.h"

#include <stdlib.h>
#include <string.h>

/* One connection. Lives from fs_srv_pipes_add until it is gone and has
 * nothing in progress (n + nb == 0). */
struct fs_srv_pipe {
	uint32_t id; /* nng pipe id; 0: free */
	uint32_t n;  /* ordinary requests in progress */
	uint32_t nb; /* long polls in progress */
	bool shed;   /* over the cap: said so */
	bool closed; /* the server closed it (and said so) */
	bool gone;   /* nng said it is closed (REM_POST) */
};

static size_t
pipe_home(const fs_srv_pipes *t, uint32_t id)
{
	return (size_t) (id * 2654435761u) & t->mask;
}

/* The slot of id, or the free slot where it would go. mu held. */
static size_t
pipe_find(const fs_srv_pipes *t, uint32_t id)
{
	size_t i = pipe_home(t, id);

	while (t->slots[i].id != 0 && t->slots[i].id != id)
		i = (i + 1) & t->mask;
	return i;
}

/* The entry of id, or NULL. mu held. */
static struct fs_srv_pipe *
pipe_get(const fs_srv_pipes *t, uint32_t id)
{
	struct fs_srv_pipe *p;

	if (id == 0)
		return NULL;
	p = &t->slots[pipe_find(t, id)];
	return p->id == id ? p : NULL;
}

/* Frees the slot of p, moving later entries of its probe run back so
 * that every entry stays reachable from its home (no tombstones). mu
 * held. */
static void
pipe_free(fs_srv_pipes *t, struct fs_srv_pipe *p)
{
	size_t i = (size_t) (p - t->slots), j = i;

	for (;;) {
		j = (j + 1) & t->mask;
		if (t->slots[j].id == 0)
			break;
		size_t k = pipe_home(t, t->slots[j].id);
		/* Entry j may move to i unless its home lies cyclically in
		 * (i, j]. */
		if (i <= j ? (k > i && k <= j) : (k > i || k <= j))
			continue;
		t->slots[i] = t->slots[j];
		i = j;
	}
	memset(&t->slots[i], 0, sizeof(t->slots[i]));
	t->used--;
}

/* Frees p once it is gone with nothing in progress. mu held. */
static void
pipe_check(fs_srv_pipes *t, struct fs_srv_pipe *p)
{
	if (p->gone && p->n == 0 && p->nb == 0)
		pipe_free(t, p);
}

/* Doubles the table (mu held). 0, or -1 when out of memory (the table
 * stays as it is). */
static int
pipe_grow(fs_srv_pipes *t)
{
	size_t slots = (t->mask + 1) * 2;
	struct fs_srv_pipe *old = t->slots, *nt = calloc(slots, sizeof(*nt));
	size_t omask = t->mask;

	if (nt == NULL)
		return -1;
	t->slots = nt;
	t->mask = slots - 1;
	for (size_t i = 0; i <= omask; i++)
		if (old[i].id != 0)
			t->slots[pipe_find(t, old[i].id)] = old[i];
	free(old);
	return 0;
}

int
fs_srv_pipes_init(fs_srv_pipes *t, size_t n, uint32_t max_per_pipe,
    uint32_t max_blocking_per_pipe, uint32_t max_blocking)
{
	size_t slots = 4;

	memset(t, 0, sizeof(*t));
	while (slots < 2 * n)
		slots *= 2;
	if ((t->slots = calloc(slots, sizeof(*t->slots))) == NULL)
		return -1;
	if (pthread_mutex_init(&t->mu, NULL) != 0) {
		free(t->slots);
		t->slots = NULL;
		return -1;
	}
	t->mask = slots - 1;
	t->max_per_pipe = max_per_pipe;
	t->max_blocking_per_pipe = max_blocking_per_pipe;
	t->max_blocking = max_blocking;
	return 0;
}

void
fs_srv_pipes_fini(fs_srv_pipes *t)
{
	if (t->slots == NULL)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t->slots);
	t->slots = NULL;
}

int
fs_srv_pipes_add(fs_srv_pipes *t, uint32_t id)
{
	int rv = 0;

	if (id == 0)
		return -1;
	pthread_mutex_lock(&t->mu);
	struct fs_srv_pipe *p = &t->slots[pipe_find(t, id)];
	if (p->id == 0) {
		if ((t->used + 1) * 2 > t->mask + 1 && pipe_grow(t) == 0)
			p = &t->slots[pipe_find(t, id)];
		if ((t->used + 1) * 2 > t->mask + 1) {
			rv = -1;
		} else {
			p->id = id;
			t->used++;
		}
	}
	pthread_mutex_unlock(&t->mu);
	return rv;
}

int
fs_srv_pipes_gone(fs_srv_pipes *t, uint32_t id)
{
	int busy = 0;

	pthread_mutex_lock(&t->mu);
	struct fs_srv_pipe *p = pipe_get(t, id);
	if (p != NULL) {
		p->gone = true;
		busy = p->n + p->nb > 0;
		pipe_check(t, p);
	}
	pthread_mutex_unlock(&t->mu);
	return busy;
}

int
fs_srv_pipes_gone_now(fs_srv_pipes *t, uint32_t id)
{
	pthread_mutex_lock(&t->mu);
	struct fs_srv_pipe *p = pipe_get(t, id);
	int gone = p == NULL || p->gone;
	pthread_mutex_unlock(&t->mu);
	return gone;
}

int
fs_srv_pipes_take(fs_srv_pipes *t, uint32_t id, bool blocking)
{
	int verdict = FS_PIPE_OK;

	pthread_mutex_lock(&t->mu);
	struct fs_srv_pipe *p = pipe_get(t, id);
	if (p == NULL || p->closed || p->gone) {
		pthread_mutex_unlock(&t->mu);
		return FS_PIPE_CLOSED;
	}
	if (blocking) {
		if (p->nb >= t->max_blocking_per_pipe)
			verdict = FS_PIPE_BLOCKING_CONN;
		else if (t->nblocking >= t->max_blocking)
			verdict = FS_PIPE_BLOCKING_ALL;
	}
	if (blocking && verdict == FS_PIPE_OK) {
		p->nb++;
		t->nblocking++;
	} else if (t->max_per_pipe != 0 && p->n >= t->max_per_pipe) {
		verdict = p->shed ? FS_PIPE_SHED : FS_PIPE_SHED_FIRST;
		p->shed = true;
	} else {
		p->n++;
	}
	pthread_mutex_unlock(&t->mu);
	return verdict;
}

void
fs_srv_pipes_release(fs_srv_pipes *t, uint32_t id, bool blocking)
{
	pthread_mutex_lock(&t->mu);
	struct fs_srv_pipe *p = pipe_get(t, id);
	if (p != NULL) {
		if (blocking) {
			p->nb--;
			t->nblocking--;
		} else {
			p->n--;
		}
		pipe_check(t, p);
	}
	pthread_mutex_unlock(&t->mu);
}

int
fs_srv_pipes_mark_closed(fs_srv_pipes *t, uint32_t id)
{
	int first = 0;

	pthread_mutex_lock(&t->mu);
	struct fs_srv_pipe *p = pipe_get(t, id);
	if (p != NULL && !p->closed) {
		p->closed = true;
		first = 1;
	}
	pthread_mutex_unlock(&t->mu);
	return first;
}
