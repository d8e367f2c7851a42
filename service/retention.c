/*
 * retention.c - holders of the change log and the generations' bases. See
 * retention.h.
 */
#include "retention.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"

struct holder {
	uint32_t id;
	uint64_t min;
	char name[48];
};

struct base {
	uint64_t gen, base;
};

struct retention {
	pthread_mutex_t mtx;
	struct base *bases; /* ascending by gen */
	size_t nbases, capbases;
	struct holder *holders;
	size_t nholders, capholders;
	uint32_t next_id;
};

int
retention_new(retention **out)
{
	retention *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return FS_RESOURCE_EXHAUSTED;
	pthread_mutex_init(&r->mtx, NULL);
	r->next_id = 1;
	*out = r;
	return FS_OK;
}

void
retention_free(retention *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->mtx);
	free(r->bases);
	free(r->holders);
	free(r);
}

static int
grow(void **v, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 8;
	void *nv = realloc(*v, nc * elem);

	if (nv == NULL)
		return -1;
	*v = nv;
	*cap = nc;
	return 0;
}

int
retention_note(retention *r, uint64_t gen, uint64_t base)
{
	int rv = FS_OK;
	size_t i;

	pthread_mutex_lock(&r->mtx);
	for (i = r->nbases; i > 0 && r->bases[i - 1].gen >= gen; i--)
		;
	if (i < r->nbases && r->bases[i].gen == gen) {
		r->bases[i].base = base;
	} else if (grow((void **) &r->bases, &r->capbases, r->nbases,
	               sizeof(*r->bases)) != 0) {
		rv = FS_RESOURCE_EXHAUSTED;
	} else {
		memmove(r->bases + i + 1, r->bases + i,
		    (r->nbases - i) * sizeof(*r->bases));
		r->bases[i].gen = gen;
		r->bases[i].base = base;
		r->nbases++;
	}
	pthread_mutex_unlock(&r->mtx);
	return rv;
}

void
retention_forget(retention *r, uint64_t gen)
{
	size_t k = 0;

	pthread_mutex_lock(&r->mtx);
	while (k < r->nbases && r->bases[k].gen < gen)
		k++;
	memmove(r->bases, r->bases + k, (r->nbases - k) * sizeof(*r->bases));
	r->nbases -= k;
	pthread_mutex_unlock(&r->mtx);
}

/* mtx held. */
static uint64_t
oldest_locked(const retention *r)
{
	return r->nbases > 0 ? r->bases[0].base + 1 : 1;
}

uint64_t
retention_oldest(retention *r)
{
	pthread_mutex_lock(&r->mtx);
	uint64_t v = oldest_locked(r);
	pthread_mutex_unlock(&r->mtx);
	return v;
}

int
retention_hold(retention *r, const char *name, uint64_t min_revision,
    uint32_t *id)
{
	int rv = FS_OK;

	pthread_mutex_lock(&r->mtx);
	if (min_revision < oldest_locked(r)) {
		rv = FS_OUT_OF_RANGE;
	} else if (grow((void **) &r->holders, &r->capholders, r->nholders,
	               sizeof(*r->holders)) != 0) {
		rv = FS_RESOURCE_EXHAUSTED;
	} else {
		struct holder *h = &r->holders[r->nholders++];

		h->id = r->next_id++;
		h->min = min_revision;
		snprintf(h->name, sizeof(h->name), "%s", name ? name : "");
		*id = h->id;
	}
	pthread_mutex_unlock(&r->mtx);
	return rv;
}

static struct holder *
find(retention *r, uint32_t id)
{
	for (size_t i = 0; i < r->nholders; i++)
		if (r->holders[i].id == id)
			return &r->holders[i];
	return NULL;
}

int
retention_move(retention *r, uint32_t id, uint64_t min_revision)
{
	int rv = FS_OK;

	pthread_mutex_lock(&r->mtx);
	struct holder *h = find(r, id);
	if (h == NULL)
		rv = FS_NOT_FOUND;
	else if (min_revision < h->min)
		rv = FS_OUT_OF_RANGE; /* what it needed may be gone */
	else
		h->min = min_revision;
	pthread_mutex_unlock(&r->mtx);
	return rv;
}

void
retention_release(retention *r, uint32_t id)
{
	pthread_mutex_lock(&r->mtx);
	struct holder *h = find(r, id);
	if (h != NULL) {
		*h = r->holders[r->nholders - 1];
		r->nholders--;
	}
	pthread_mutex_unlock(&r->mtx);
}

/* mtx held. */
static uint64_t
needed_locked(const retention *r)
{
	uint64_t min = UINT64_MAX;

	for (size_t i = 0; i < r->nholders; i++)
		if (r->holders[i].min < min)
			min = r->holders[i].min;
	return min;
}

int
retention_log_unneeded(retention *r, uint64_t gen)
{
	int rv = 0;

	pthread_mutex_lock(&r->mtx);
	/* The log's records are at most the next known base above it. */
	for (size_t i = 0; i < r->nbases; i++) {
		if (r->bases[i].gen > gen) {
			rv = r->bases[i].base < needed_locked(r);
			break;
		}
	}
	pthread_mutex_unlock(&r->mtx);
	return rv;
}

int
retention_locate(retention *r, uint64_t rev, uint64_t *gen, uint64_t *base)
{
	int rv = FS_OUT_OF_RANGE;

	pthread_mutex_lock(&r->mtx);
	for (size_t i = r->nbases; i > 0; i--) {
		if (r->bases[i - 1].base < rev) {
			*gen = r->bases[i - 1].gen;
			*base = r->bases[i - 1].base;
			rv = FS_OK;
			break;
		}
	}
	if (rv == FS_OK && rev < oldest_locked(r))
		rv = FS_OUT_OF_RANGE;
	pthread_mutex_unlock(&r->mtx);
	return rv;
}
