/*
 * listview.c - views of long lists: the cut's entries, the set of open
 * views with their tokens, and the sweeper that ends idle and
 * over-pinning ones (see listview.h).
 */
#include "listview.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_errors.h"
#include "fs_log.h"
#include "fs_util.h"

/* A view idle at least this long may make room for a new one. */
#define LISTVIEW_EVICT_IDLE_MS 1000

struct lv_entry {
	const uint8_t *bytes;
	uint32_t len;
	uint32_t owned; /* 1: bytes is the view's copy */
};

struct listview {
	struct listview *prev, *next; /* in the set, oldest first */
	uint64_t id;
	listview_key key;
	store_holder hold;
	bool held;
	bool open; /* in the set */
	int users; /* pages being read from it now */
	int64_t used_ms;
	struct lv_entry *e;
	size_t n, cap;
	size_t nowned;
	uint64_t total, rev;
	bool has_rev;
};

struct listview_set {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thr;
	bool stop;
	store *st;
	listview_limits lim;
	listview *head, *tail;
	size_t n;
	uint64_t secret;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
random64(void)
{
	uint8_t b[16];
	uint64_t lo, hi;

	/* A random (v4) uuid: 122 random bits, 6 of them fixed; the halves
	 * folded so every bit of the result is random. */
	fs_uuid_new(b);
	memcpy(&lo, b, sizeof(lo));
	memcpy(&hi, b + 8, sizeof(hi));
	return lo ^ (hi << 8 | hi >> 56);
}

/* ---- keys --------------------------------------------------------------- */

/* FNV-1a, seeded: the secret keeps the keys of one process to itself. */
static uint64_t
mix(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* A string and its end, so "ab","c" and "a","bc" differ; NULL differs
 * from "". */
static uint64_t
mix_str(uint64_t h, const char *s)
{
	uint8_t tag = s != NULL ? 1 : 0;

	h = mix(h, &tag, 1);
	if (s != NULL)
		h = mix(h, s, strlen(s) + 1);
	return h;
}

static uint64_t
mix_u64(uint64_t h, uint64_t v)
{
	return mix(h, &v, sizeof(v));
}

void
listview_key_of(const listview_set *vs, const Flowsvc__Caller *who,
    const Flowsvc__ListRequest *m, listview_key *key)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ vs->secret;
	bool restricted =
	    who != NULL && who->has_restricted && who->restricted;

	h = mix_u64(h, restricted);
	if (restricted)
		for (size_t i = 0; i < who->n_groups; i++)
			h = mix_str(h, who->groups[i]);
	key->caller = h;
	h = 0xcbf29ce484222325ULL ^ vs->secret;
	h = mix_u64(h, m->has_kind ? (uint64_t) m->kind : 0);
	h = mix_str(h, m->name_iexact);
	h = mix_str(h, m->group_iexact);
	h = mix_u64(h, m->has_limit ? m->limit + 1 : 0);
	h = mix_u64(h, m->has_offset ? m->offset : 0);
	key->query = h;
}

/* ---- views -------------------------------------------------------------- */

listview *
listview_new(size_t hint)
{
	listview *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v->cap = hint > 16 ? hint : 16;
	if ((v->e = malloc(v->cap * sizeof(*v->e))) == NULL) {
		free(v);
		return NULL;
	}
	return v;
}

int
listview_add(listview *v, const uint8_t *bytes, uint32_t len, uint8_t *owned)
{
	if (v->n == v->cap) {
		size_t cap = v->cap * 2;
		struct lv_entry *e = realloc(v->e, cap * sizeof(*e));
		if (e == NULL) {
			free(owned);
			return FS_RESOURCE_EXHAUSTED;
		}
		v->e = e;
		v->cap = cap;
	}
	v->e[v->n].bytes = bytes;
	v->e[v->n].len = len;
	v->e[v->n].owned = owned != NULL;
	v->n++;
	v->nowned += owned != NULL;
	return FS_OK;
}

void
listview_hold(listview_set *vs, listview *v)
{
	store_hold(vs->st, &v->hold);
	v->held = true;
}

void
listview_free(listview_set *vs, listview *v)
{
	if (v == NULL)
		return;
	if (v->held)
		store_release(vs->st, &v->hold);
	for (size_t i = 0; v->nowned > 0 && i < v->n; i++) {
		if (v->e[i].owned) {
			free((void *) v->e[i].bytes);
			v->nowned--;
		}
	}
	free(v->e);
	free(v);
}

size_t
listview_count(const listview *v)
{
	return v->n;
}

const uint8_t *
listview_entry(const listview *v, size_t i, uint32_t *len)
{
	*len = v->e[i].len;
	return v->e[i].bytes;
}

uint64_t
listview_total(const listview *v)
{
	return v->total;
}

bool
listview_revision(const listview *v, uint64_t *rev)
{
	*rev = v->rev;
	return v->has_rev;
}

/* ---- the set ------------------------------------------------------------ */

/* Takes v out of the set (mu held). Freed by the caller once unused. */
static void
unlink_view(listview_set *vs, listview *v)
{
	*(v->prev != NULL ? &v->prev->next : &vs->head) = v->next;
	*(v->next != NULL ? &v->next->prev : &vs->tail) = v->prev;
	v->prev = v->next = NULL;
	v->open = false;
	vs->n--;
}

/* Makes room for one more view (mu held): the least recently read view
 * idle long enough ends. Returns it (to free after the unlock: it is
 * unused) or NULL; *full tells whether there was no room to make. */
static listview *
make_room(listview_set *vs, bool *full)
{
	int64_t now = mono_ms();
	int64_t idle = vs->lim.idle_ms < LISTVIEW_EVICT_IDLE_MS
	    ? (int64_t) vs->lim.idle_ms
	    : LISTVIEW_EVICT_IDLE_MS;
	listview *lru = NULL;

	*full = false;
	if (vs->n < vs->lim.max_views)
		return NULL;
	for (listview *v = vs->head; v != NULL; v = v->next)
		if (v->users == 0 && now - v->used_ms >= idle &&
		    (lru == NULL || v->used_ms < lru->used_ms))
			lru = v;
	if (lru == NULL) {
		*full = true;
		return NULL;
	}
	unlink_view(vs, lru);
	return lru;
}

int
listview_room(listview_set *vs)
{
	bool full;

	pthread_mutex_lock(&vs->mu);
	listview *gone = make_room(vs, &full);
	pthread_mutex_unlock(&vs->mu);
	listview_free(vs, gone);
	return full ? FS_UNAVAILABLE : FS_OK;
}

static void
format_token(char token[LISTVIEW_TOKEN_LEN + 1], uint64_t id, uint64_t pos)
{
	snprintf(token, LISTVIEW_TOKEN_LEN + 1, "%016" PRIx64 "%016" PRIx64,
	    id, pos);
}

/* Parses a token. Returns 0, or -1 when it is not one. */
static int
parse_token(const char *t, uint64_t *id, uint64_t *pos)
{
	uint64_t v[2] = {0, 0};

	if (t == NULL || strlen(t) != LISTVIEW_TOKEN_LEN)
		return -1;
	for (int i = 0; i < LISTVIEW_TOKEN_LEN; i++) {
		char c = t[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned) (c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned) (c - 'a' + 10);
		else
			return -1;
		v[i / 16] = v[i / 16] << 4 | d;
	}
	*id = v[0];
	*pos = v[1];
	return 0;
}

static listview *
find_id(listview_set *vs, uint64_t id)
{
	for (listview *v = vs->head; v != NULL; v = v->next)
		if (v->id == id)
			return v;
	return NULL;
}

int
listview_open(listview_set *vs, listview *v, const listview_key *key,
    uint64_t total, bool has_rev, uint64_t rev,
    char token[LISTVIEW_TOKEN_LEN + 1])
{
	bool full;

	v->key = *key;
	v->total = total;
	v->has_rev = has_rev;
	v->rev = rev;
	pthread_mutex_lock(&vs->mu);
	listview *gone = make_room(vs, &full);
	if (full) {
		pthread_mutex_unlock(&vs->mu);
		listview_free(vs, v);
		return FS_UNAVAILABLE;
	}
	do
		v->id = random64();
	while (v->id == 0 || find_id(vs, v->id) != NULL);
	v->used_ms = mono_ms();
	v->open = true;
	v->prev = vs->tail;
	v->next = NULL;
	*(vs->tail != NULL ? &vs->tail->next : &vs->head) = v;
	vs->tail = v;
	vs->n++;
	format_token(token, v->id, 0);
	pthread_mutex_unlock(&vs->mu);
	listview_free(vs, gone);
	return FS_OK;
}

int
listview_find(listview_set *vs, const char *token, const listview_key *key,
    listview **out, size_t *pos)
{
	uint64_t id, p;
	int rv = FS_OK;

	if (parse_token(token, &id, &p) != 0)
		return FS_NOT_FOUND;
	pthread_mutex_lock(&vs->mu);
	listview *v = find_id(vs, id);
	if (v == NULL || v->key.caller != key->caller || p > v->n) {
		rv = FS_NOT_FOUND;
	} else if (v->key.query != key->query) {
		rv = FS_INVALID_ARGUMENT;
	} else {
		v->users++;
		v->used_ms = mono_ms();
		*out = v;
		*pos = (size_t) p;
	}
	pthread_mutex_unlock(&vs->mu);
	return rv;
}

int
listview_done(listview_set *vs, listview *v, size_t pos,
    char token[LISTVIEW_TOKEN_LEN + 1])
{
	int more = pos < v->n;

	pthread_mutex_lock(&vs->mu);
	v->users--;
	v->used_ms = mono_ms();
	if (more)
		format_token(token, v->id, pos);
	else if (v->open)
		unlink_view(vs, v);
	bool free_now = !v->open && v->users == 0;
	pthread_mutex_unlock(&vs->mu);
	if (free_now)
		listview_free(vs, v);
	return more;
}

void
listview_close(listview_set *vs, listview *v)
{
	pthread_mutex_lock(&vs->mu);
	v->users--;
	if (v->open)
		unlink_view(vs, v);
	bool free_now = v->users == 0;
	pthread_mutex_unlock(&vs->mu);
	if (free_now)
		listview_free(vs, v);
}

size_t
listview_open_count(listview_set *vs)
{
	pthread_mutex_lock(&vs->mu);
	size_t n = vs->n;
	pthread_mutex_unlock(&vs->mu);
	return n;
}

/* ---- the sweeper -------------------------------------------------------- */

/* Ends v (mu held): unlinked, and put on *dead to free after the unlock
 * unless a page is being read from it (its last reader frees it). */
static void
end_view(listview_set *vs, listview *v, listview **dead)
{
	unlink_view(vs, v);
	if (v->users == 0) {
		v->next = *dead;
		*dead = v;
	}
}

static size_t
free_dead(listview_set *vs, listview *dead)
{
	size_t n = 0;

	while (dead != NULL) {
		listview *v = dead;
		dead = v->next;
		listview_free(vs, v);
		n++;
	}
	return n;
}

size_t
listview_sweep(listview_set *vs)
{
	listview *dead = NULL;
	size_t n;
	int64_t now = mono_ms();

	pthread_mutex_lock(&vs->mu);
	for (listview *v = vs->head, *next; v != NULL; v = next) {
		next = v->next;
		if (v->users == 0 &&
		    now - v->used_ms >= (int64_t) vs->lim.idle_ms)
			end_view(vs, v, &dead);
	}
	pthread_mutex_unlock(&vs->mu);
	n = free_dead(vs, dead);

	/* Retired memory past the bound: the oldest views keep the most of
	 * it (a retirement is kept for every hold older than it), so they
	 * end first, until it is back under the bound. A snapshot's hold is
	 * short and never ended here. */
	for (;;) {
		size_t pinned = store_retired_bytes(vs->st);
		if (pinned <= vs->lim.max_pinned)
			break;
		bool in_use = false;
		pthread_mutex_lock(&vs->mu);
		listview *v = vs->head;
		dead = NULL;
		if (v != NULL) {
			in_use = v->users > 0;
			end_view(vs, v, &dead);
		}
		pthread_mutex_unlock(&vs->mu);
		if (v == NULL)
			break;
		fs_log(FS_LOG_WARN, NULL,
		    "list view ended early: changes made while it was read "
		    "keep %zu bytes of replaced components alive, more than "
		    "--list-pinned-max allows; its reader must list again",
		    pinned);
		n += free_dead(vs, dead);
		if (in_use)
			break; /* freed by its reader; checked again next tick */
	}
	return n;
}

static void *
sweeper_main(void *arg)
{
	listview_set *vs = arg;
	uint32_t tick = vs->lim.idle_ms / 2;

	if (tick > 1000)
		tick = 1000;
	if (tick < 10)
		tick = 10;
	pthread_mutex_lock(&vs->mu);
	while (!vs->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += tick / 1000;
		ts.tv_nsec += (long) (tick % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		int rv = 0;
		while (!vs->stop && rv != ETIMEDOUT)
			rv = pthread_cond_timedwait(&vs->cv, &vs->mu, &ts);
		if (vs->stop)
			break;
		pthread_mutex_unlock(&vs->mu);
		listview_sweep(vs);
		pthread_mutex_lock(&vs->mu);
	}
	pthread_mutex_unlock(&vs->mu);
	return NULL;
}

int
listview_set_new(listview_set **out, store *st, const listview_limits *lim)
{
	listview_set *vs = calloc(1, sizeof(*vs));

	*out = NULL;
	if (vs == NULL)
		return FS_RESOURCE_EXHAUSTED;
	vs->st = st;
	if (lim != NULL) {
		vs->lim = *lim;
	} else {
		vs->lim.max_views = LISTVIEW_DEFAULT_VIEWS;
		vs->lim.idle_ms = LISTVIEW_DEFAULT_IDLE_MS;
		vs->lim.max_pinned = LISTVIEW_DEFAULT_PINNED;
	}
	vs->secret = random64();
	if (pthread_mutex_init(&vs->mu, NULL) != 0) {
		free(vs);
		return FS_RESOURCE_EXHAUSTED;
	}
	if (fs_cond_init_monotonic(&vs->cv) != 0) {
		pthread_mutex_destroy(&vs->mu);
		free(vs);
		return FS_RESOURCE_EXHAUSTED;
	}
	if (pthread_create(&vs->thr, NULL, sweeper_main, vs) != 0) {
		pthread_cond_destroy(&vs->cv);
		pthread_mutex_destroy(&vs->mu);
		free(vs);
		return FS_RESOURCE_EXHAUSTED;
	}
	*out = vs;
	return FS_OK;
}

void
listview_set_free(listview_set *vs)
{
	if (vs == NULL)
		return;
	pthread_mutex_lock(&vs->mu);
	vs->stop = true;
	pthread_cond_signal(&vs->cv);
	pthread_mutex_unlock(&vs->mu);
	pthread_join(vs->thr, NULL);
	while (vs->head != NULL) {
		listview *v = vs->head;
		unlink_view(vs, v);
		listview_free(vs, v);
	}
	pthread_cond_destroy(&vs->cv);
	pthread_mutex_destroy(&vs->mu);
	free(vs);
}
