/*
 * store.c - hash indexes and intrusive lists over component records.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fs_util.h"

/* ---- intrusive hash table ----------------------------------------------- */

typedef struct htab {
	hnode **slots;
	size_t mask; /* slots - 1; slots is a power of two */
	size_t count;
} htab;

#define HTAB_MIN 1024u

static int
htab_init(htab *t)
{
	if ((t->slots = calloc(HTAB_MIN, sizeof(*t->slots))) == NULL)
		return -1;
	t->mask = HTAB_MIN - 1;
	t->count = 0;
	return 0;
}

/* Rehashes into n slots (a power of two). On allocation failure the table
 * stays as it is, only slower. */
static void
htab_resize(htab *t, size_t n)
{
	hnode **slots = calloc(n, sizeof(*slots));

	if (slots == NULL)
		return;
	for (size_t i = 0; i <= t->mask; i++) {
		hnode *e = t->slots[i];
		while (e != NULL) {
			hnode *next = e->next;
			size_t j = e->hash & (n - 1);
			e->next = slots[j];
			slots[j] = e;
			e = next;
		}
	}
	free(t->slots);
	t->slots = slots;
	t->mask = n - 1;
}

/* Doubles the table when it is full (load factor 1). */
static void
htab_grow(htab *t)
{
	htab_resize(t, (t->mask + 1) * 2);
}

static void
htab_add(htab *t, hnode *e)
{
	if (t->count > t->mask)
		htab_grow(t);
	size_t i = e->hash & t->mask;
	e->next = t->slots[i];
	t->slots[i] = e;
	t->count++;
}

static void
htab_del(htab *t, hnode *e)
{
	hnode **pp = &t->slots[e->hash & t->mask];
	while (*pp != NULL) {
		if (*pp == e) {
			*pp = e->next;
			t->count--;
			return;
		}
		pp = &(*pp)->next;
	}
}

static hnode *
htab_first(const htab *t, uint64_t hash)
{
	hnode *e = t->slots[hash & t->mask];
	while (e != NULL && e->hash != hash)
		e = e->next;
	return e;
}

static hnode *
htab_next(const hnode *e)
{
	uint64_t hash = e->hash;
	for (e = e->next; e != NULL && e->hash != hash; e = e->next)
		;
	return (hnode *) e;
}

#define container_of(p, type, member) \
	((type *) (void *) ((char *) (p) - offsetof(type, member)))

/* ---- hashing ------------------------------------------------------------ */

static uint64_t
mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* FNV-1a over the ASCII-folded string, continuing from h. */
static uint64_t
hash_ci(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char) *s;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char) (c + 32);
		h = (h ^ c) * 0x100000001b3ULL;
	}
	return (h ^ 0xff) * 0x100000001b3ULL; /* terminator: "a"+"b" != "ab" */
}

static uint64_t
hash_id(const uint8_t id[16])
{
	uint64_t h;
	memcpy(&h, id, sizeof(h));
	return mix64(h);
}

static uint64_t
hash_key(int kind, const char *group, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t) kind;
	h = hash_ci(h, group);
	return mix64(hash_ci(h, name));
}

enum { BUCKET_GROUP = 1, BUCKET_NAME = 2 };

static uint64_t
hash_bucket(int kind, int which, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t) (kind * 4 + which);
	return mix64(hash_ci(h, key));
}

/* Grows the table to at least n slots in one rehash (before a bulk load,
 * instead of a series of doublings). */
static void
htab_reserve(htab *t, size_t n)
{
	size_t want = t->mask + 1;

	while (want < n && want < ((size_t) 1 << 40))
		want *= 2;
	if (want > t->mask + 1)
		htab_resize(t, want);
}

/* ---- the store ---------------------------------------------------------- */

struct bucket {
	hnode h;
	uint8_t kind, which;
	char *key;
	comp *head, *tail;
};

struct kindlist {
	comp *head, *tail;
	size_t count;
};

struct grave {
	struct grave *next;
	void *ptr;
};

struct store {
	int held;
	struct grave *graves; /* packed buffers kept while held */
	comp *pending;        /* unlinked components (snapshot load) */
	htab ids;
	htab keys;
	htab names; /* the oldest component of each (kind, name) */
	htab buckets;
	struct kindlist kinds[3]; /* indexed by Flowsvc__Kind; 0 unused */
	uint64_t last_seq;
	uint32_t visit_epoch;
	/* Dense table of every component's snapshot data, kept in step with
	 * the records, so a snapshot copies it in one go (store_collect).
	 * Deleting moves the last slot into the hole. */
	store_item *slots;
	comp **owners;
	size_t nslots, capslots;
};

store *
store_new(void)
{
	store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if (htab_init(&s->ids) != 0 || htab_init(&s->keys) != 0 ||
	    htab_init(&s->names) != 0 || htab_init(&s->buckets) != 0) {
		free(s->ids.slots);
		free(s->keys.slots);
		free(s->names.slots);
		free(s->buckets.slots);
		free(s);
		return NULL;
	}
	return s;
}

/* Frees a wire form, or keeps it until store_release while held. */
static void
packed_free(store *s, uint8_t *p)
{
	if (s != NULL && s->held) {
		struct grave *g = malloc(sizeof(*g));
		if (g != NULL) {
			g->ptr = p;
			g->next = s->graves;
			s->graves = g;
			return;
		}
		/* Out of memory: leaking one buffer beats a snapshot reading
		 * freed memory. */
		return;
	}
	free(p);
}

static void
comp_free(store *s, comp *c)
{
	free(c->uses); /* name and group are part of c */
	free(c->pending_ids);
	packed_free(s, c->packed);
	free(c);
}

void
store_hold(store *s)
{
	s->held++;
}

void
store_release(store *s)
{
	if (s->held > 0 && --s->held > 0)
		return;
	while (s->graves != NULL) {
		struct grave *g = s->graves;
		s->graves = g->next;
		free(g->ptr);
		free(g);
	}
}

int
store_collect(const store *s, store_item **out, size_t *n)
{
	store_item *items = malloc((s->nslots ? s->nslots : 1) * sizeof(*items));

	if (items == NULL)
		return -1;
	if (s->nslots > 0)
		memcpy(items, s->slots, s->nslots * sizeof(*items));
	*out = items;
	*n = s->nslots;
	return 0;
}

int
store_collect_into(const store *s, store_item *items, size_t cap, size_t *n)
{
	*n = s->nslots;
	if (cap < s->nslots)
		return -1;
	if (s->nslots > 0)
		memcpy(items, s->slots, s->nslots * sizeof(*items));
	return 0;
}

/* Room for one more slot. Returns 0 or -1 (out of memory). */
static int
slot_reserve(store *s)
{
	if (s->nslots < s->capslots)
		return 0;
	size_t cap = s->capslots ? s->capslots * 2 : 1024;
	store_item *ns = realloc(s->slots, cap * sizeof(*ns));
	if (ns == NULL)
		return -1;
	s->slots = ns;
	comp **no = realloc(s->owners, cap * sizeof(*no));
	if (no == NULL)
		return -1;
	s->owners = no;
	s->capslots = cap;
	return 0;
}

static void
slot_sync(store *s, const comp *c)
{
	store_item *it = &s->slots[c->slot];

	it->packed = c->packed;
	it->packed_len = c->packed_len;
	it->status = c->status;
	it->seq = c->seq;
}

/* After slot_reserve. */
static void
slot_add(store *s, comp *c)
{
	c->slot = (uint32_t) s->nslots++;
	s->owners[c->slot] = c;
	slot_sync(s, c);
}

static void
slot_del(store *s, comp *c)
{
	size_t last = --s->nslots;

	if (c->slot != last) {
		s->slots[c->slot] = s->slots[last];
		s->owners[c->slot] = s->owners[last];
		s->owners[c->slot]->slot = c->slot;
	}
}

void
store_set_status(store *s, comp *c, int status)
{
	c->status = (uint8_t) status;
	s->slots[c->slot].status = c->status;
}

void
store_free(store *s)
{
	if (s == NULL)
		return;
	for (int k = 1; k <= 2; k++) {
		comp *c = s->kinds[k].head;
		while (c != NULL) {
			comp *next = c->next;
			comp_free(NULL, c);
			c = next;
		}
	}
	for (size_t i = 0; i <= s->buckets.mask; i++) {
		hnode *e = s->buckets.slots[i];
		while (e != NULL) {
			hnode *next = e->next;
			struct bucket *b = container_of(e, struct bucket, h);
			free(b->key);
			free(b);
			e = next;
		}
	}
	s->held = 0;
	store_release(s);
	free(s->slots);
	free(s->owners);
	free(s->ids.slots);
	free(s->keys.slots);
	free(s->names.slots);
	free(s->buckets.slots);
	free(s);
}

static int
valid_kind(int kind)
{
	return kind == FLOWSVC__KIND__FLOW || kind == FLOWSVC__KIND__APP;
}

void
store_reserve(store *s, size_t n)
{
	if (n > s->capslots) {
		store_item *ns = realloc(s->slots, n * sizeof(*ns));
		comp **no = ns ? realloc(s->owners, n * sizeof(*no)) : NULL;
		if (ns != NULL)
			s->slots = ns;
		if (no != NULL) {
			s->owners = no;
			s->capslots = n;
		}
	}
	htab_reserve(&s->ids, n);
	htab_reserve(&s->keys, n);
	htab_reserve(&s->names, n);
}

size_t
store_count(const store *s, int kind)
{
	return valid_kind(kind) ? s->kinds[kind].count : 0;
}

uint64_t
store_last_seq(const store *s)
{
	return s->last_seq;
}

comp *
store_get(const store *s, const uint8_t id[16])
{
	for (hnode *e = htab_first(&s->ids, hash_id(id)); e != NULL;
	     e = htab_next(e)) {
		comp *c = container_of(e, comp, id_h);
		if (memcmp(c->id, id, 16) == 0)
			return c;
	}
	return NULL;
}

comp *
store_find(const store *s, int kind, const char *group, const char *name)
{
	uint64_t h = hash_key(kind, group, name);

	for (hnode *e = htab_first(&s->keys, h); e != NULL; e = htab_next(e)) {
		comp *c = container_of(e, comp, key_h);
		if (c->kind == kind && strcasecmp(c->name, name) == 0 &&
		    strcasecmp(c->group, group) == 0)
			return c;
	}
	return NULL;
}

static struct bucket *
bucket_find(const store *s, int kind, int which, const char *key)
{
	uint64_t h = hash_bucket(kind, which, key);

	for (hnode *e = htab_first(&s->buckets, h); e != NULL;
	     e = htab_next(e)) {
		struct bucket *b = container_of(e, struct bucket, h);
		if (b->kind == kind && b->which == which &&
		    strcasecmp(b->key, key) == 0)
			return b;
	}
	return NULL;
}

static struct bucket *
bucket_get(store *s, int kind, int which, const char *key)
{
	struct bucket *b = bucket_find(s, kind, which, key);

	if (b != NULL)
		return b;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	if ((b->key = strdup(key)) == NULL) {
		free(b);
		return NULL;
	}
	b->kind = (uint8_t) kind;
	b->which = (uint8_t) which;
	b->h.hash = hash_bucket(kind, which, key);
	htab_add(&s->buckets, &b->h);
	return b;
}

static void
bucket_release(store *s, struct bucket *b)
{
	if (b->head != NULL)
		return;
	htab_del(&s->buckets, &b->h);
	free(b->key);
	free(b);
}

/* Components of one (kind, name) (one per group) form a list in creation
 * order: its head, the oldest, is in the names table, and head->nprev is
 * the tail. No allocation per name: names are mostly unique. */
static comp *
name_head(const store *s, int kind, const char *name)
{
	uint64_t h = hash_bucket(kind, BUCKET_NAME, name);

	for (hnode *e = htab_first(&s->names, h); e != NULL; e = htab_next(e)) {
		comp *c = container_of(e, comp, name_h);
		if (c->kind == kind && strcasecmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

comp *
store_first(const store *s, int kind, const char *group, const char *name)
{
	if (!valid_kind(kind))
		return NULL;
	if (group != NULL && name != NULL)
		return store_find(s, kind, group, name);
	if (group != NULL) {
		struct bucket *b = bucket_find(s, kind, BUCKET_GROUP, group);
		return b != NULL ? b->head : NULL;
	}
	if (name != NULL)
		return name_head(s, kind, name);
	return s->kinds[kind].head;
}

comp *
store_next(const comp *c, const char *group, const char *name)
{
	if (group != NULL && name != NULL)
		return NULL; /* (kind, group, name) is unique */
	if (group != NULL)
		return c->gnext;
	if (name != NULL)
		return c->nnext;
	return c->next;
}

/* ---- edges -------------------------------------------------------------- */

static void
edges_unlink(comp *c)
{
	for (uint32_t i = 0; i < c->nuses; i++) {
		comp_edge *e = &c->uses[i];
		if (e->prev != NULL)
			e->prev->next = e->next;
		else
			e->flow->users = e->next;
		if (e->next != NULL)
			e->next->prev = e->prev;
		e->flow->nusers--;
	}
}

static void
edges_link(comp *c)
{
	for (uint32_t i = 0; i < c->nuses; i++) {
		comp_edge *e = &c->uses[i];
		e->user = c;
		e->prev = NULL;
		e->next = e->flow->users;
		if (e->next != NULL)
			e->next->prev = e;
		e->flow->users = e;
		e->flow->nusers++;
	}
}

/* Resolves msg->flows into a new edge array. Returns 0, -1 (memory) or -2
 * (an id that is not an existing flow). */
static int
edges_resolve(const store *s, const Flowsvc__Component *msg, comp_edge **out)
{
	comp_edge *edges = NULL;

	*out = NULL;
	if (msg->n_flows == 0)
		return 0;
	if ((edges = calloc(msg->n_flows, sizeof(*edges))) == NULL)
		return -1;
	for (size_t i = 0; i < msg->n_flows; i++) {
		uint8_t id[16];
		comp *f;
		if (fs_uuid_parse(msg->flows[i], id) != 0 ||
		    (f = store_get(s, id)) == NULL ||
		    f->kind != FLOWSVC__KIND__FLOW) {
			free(edges);
			return -2;
		}
		edges[i].flow = f;
	}
	*out = edges;
	return 0;
}

/* ---- list membership ---------------------------------------------------- */

static void
lists_link(store *s, comp *c)
{
	struct kindlist *kl = &s->kinds[c->kind];

	c->prev = kl->tail;
	c->next = NULL;
	if (kl->tail != NULL)
		kl->tail->next = c;
	else
		kl->head = c;
	kl->tail = c;
	kl->count++;

	c->gprev = c->gb->tail;
	c->gnext = NULL;
	if (c->gb->tail != NULL)
		c->gb->tail->gnext = c;
	else
		c->gb->head = c;
	c->gb->tail = c;

	comp *head = name_head(s, c->kind, c->name);
	c->nnext = NULL;
	if (head == NULL) {
		c->nprev = c;
		c->name_h.hash = hash_bucket(c->kind, BUCKET_NAME, c->name);
		htab_add(&s->names, &c->name_h);
	} else {
		c->nprev = head->nprev;
		head->nprev->nnext = c;
		head->nprev = c;
	}
}

static void
lists_unlink(store *s, comp *c)
{
	struct kindlist *kl = &s->kinds[c->kind];

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		kl->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		kl->tail = c->prev;
	kl->count--;

	if (c->gprev != NULL)
		c->gprev->gnext = c->gnext;
	else
		c->gb->head = c->gnext;
	if (c->gnext != NULL)
		c->gnext->gprev = c->gprev;
	else
		c->gb->tail = c->gprev;

	comp *head = name_head(s, c->kind, c->name);
	if (head == c) {
		htab_del(&s->names, &c->name_h);
		comp *next = c->nnext;
		if (next != NULL) {
			next->nprev = c->nprev; /* the tail */
			next->name_h.hash = c->name_h.hash;
			htab_add(&s->names, &next->name_h);
		}
	} else {
		c->nprev->nnext = c->nnext;
		if (c->nnext != NULL)
			c->nnext->nprev = c->nprev;
		else
			head->nprev = c->nprev;
	}
}

/* ---- mutations ---------------------------------------------------------- */

static int
pack_msg(const Flowsvc__Component *msg, uint8_t **out, uint32_t *len)
{
	size_t n = flowsvc__component__get_packed_size(msg);

	if (n > UINT32_MAX || (*out = malloc(n > 0 ? n : 1)) == NULL)
		return -1;
	flowsvc__component__pack(msg, *out);
	*len = (uint32_t) n;
	return 0;
}

static int store_put_(store *s, const Flowsvc__Component *msg,
    const uint8_t *wire, size_t wire_len, int status, uint64_t seq,
    comp **out, int unlinked);

int
store_put(store *s, const Flowsvc__Component *msg, int status, uint64_t seq,
    comp **out)
{
	return store_put_(s, msg, NULL, 0, status, seq, out, 0);
}

int
store_put_unlinked(store *s, const Flowsvc__Component *msg,
    const uint8_t *wire, size_t wire_len, int status, uint64_t seq)
{
	return store_put_(s, msg, wire, wire_len, status, seq, NULL, 1);
}

void
store_prefetch(const store *s, const Flowsvc__Component *msg)
{
	uint8_t id[16];
	int kind = (int) msg->kind;

	if (fs_uuid_parse(msg->id, id) == 0)
		__builtin_prefetch(&s->ids.slots[hash_id(id) & s->ids.mask]);
	if (msg->name == NULL || msg->group == NULL)
		return;
	__builtin_prefetch(
	    &s->keys.slots[hash_key(kind, msg->group, msg->name) &
		s->keys.mask]);
	__builtin_prefetch(
	    &s->names.slots[hash_bucket(kind, BUCKET_NAME, msg->name) &
		s->names.mask]);
}

int
store_link_pending(store *s)
{
	int rv = 0;

	while (s->pending != NULL) {
		comp *c = s->pending;
		s->pending = c->pending_next;
		c->pending_next = NULL;
		for (uint32_t i = 0; i < c->nuses && rv == 0; i++) {
			comp *f = store_get(s, c->pending_ids + 16 * i);
			if (f == NULL || f->kind != FLOWSVC__KIND__FLOW)
				rv = -2;
			else
				c->uses[i].flow = f;
		}
		free(c->pending_ids);
		c->pending_ids = NULL;
		if (rv == 0)
			edges_link(c);
		else
			c->nuses = 0; /* never linked: nothing to unlink */
	}
	return rv;
}

static int
store_put_(store *s, const Flowsvc__Component *msg, const uint8_t *wire,
    size_t wire_len, int status, uint64_t seq, comp **out, int unlinked)
{
	uint8_t id[16];
	comp_edge *edges = NULL;
	uint8_t *pending_ids = NULL;
	uint8_t *packed;
	uint32_t plen;
	int rv;

	if (fs_uuid_parse(msg->id, id) != 0 || !valid_kind((int) msg->kind))
		return -2;
	if (unlinked) {
		if (msg->n_flows > 0) {
			edges = calloc(msg->n_flows, sizeof(*edges));
			pending_ids = malloc(16 * msg->n_flows);
			if (edges == NULL || pending_ids == NULL) {
				free(edges);
				free(pending_ids);
				return -1;
			}
			for (size_t i = 0; i < msg->n_flows; i++) {
				if (fs_uuid_parse(msg->flows[i],
				        pending_ids + 16 * i) != 0) {
					free(edges);
					free(pending_ids);
					return -2;
				}
			}
		}
	} else if ((rv = edges_resolve(s, msg, &edges)) != 0) {
		return rv;
	}
	if (wire != NULL) {
		if (wire_len > UINT32_MAX ||
		    (packed = malloc(wire_len ? wire_len : 1)) == NULL) {
			free(edges);
			free(pending_ids);
			return -1;
		}
		memcpy(packed, wire, wire_len);
		plen = (uint32_t) wire_len;
	} else if (pack_msg(msg, &packed, &plen) != 0) {
		free(edges);
		free(pending_ids);
		return -1;
	}

	comp *c = store_get(s, id);
	if (c != NULL && unlinked) {
		/* The same id twice in a snapshot. */
		free(edges);
		free(pending_ids);
		free(packed);
		return -2;
	}
	if (c != NULL) {
		/* Replace: name, group and kind never change after creation,
		 * so the indexes stay; only content and edges move. */
		if (c->kind != msg->kind) {
			free(edges);
			free(packed);
			return -2;
		}
		edges_unlink(c);
		free(c->uses);
		packed_free(s, c->packed);
		c->uses = edges;
		c->nuses = (uint32_t) msg->n_flows;
		c->packed = packed;
		c->packed_len = plen;
		c->status = (uint8_t) status;
		slot_sync(s, c);
		edges_link(c);
		if (out != NULL)
			*out = c;
		return 0;
	}

	/* Name and group never change: they live in the record's own
	 * allocation, right after it. */
	size_t nlen = strlen(msg->name) + 1, glen = strlen(msg->group) + 1;

	if (slot_reserve(s) != 0 || s->nslots >= UINT32_MAX ||
	    (c = calloc(1, sizeof(*c) + nlen + glen)) == NULL ||
	    (c->gb = bucket_get(s, (int) msg->kind, BUCKET_GROUP, msg->group)) ==
	        NULL) {
		free(c);
		free(edges);
		free(pending_ids);
		free(packed);
		return -1;
	}
	c->name = memcpy((char *) (c + 1), msg->name, nlen);
	c->group = memcpy(c->name + nlen, msg->group, glen);
	memcpy(c->id, id, 16);
	c->kind = (uint8_t) msg->kind;
	c->status = (uint8_t) status;
	c->seq = seq != 0 ? seq : s->last_seq + 1;
	if (c->seq > s->last_seq)
		s->last_seq = c->seq;
	c->uses = edges;
	c->nuses = (uint32_t) msg->n_flows;
	c->packed = packed;
	c->packed_len = plen;
	c->id_h.hash = hash_id(id);
	c->key_h.hash = hash_key(c->kind, c->group, c->name);
	htab_add(&s->ids, &c->id_h);
	htab_add(&s->keys, &c->key_h);
	lists_link(s, c);
	slot_add(s, c);
	if (unlinked) {
		c->pending_ids = pending_ids;
		if (pending_ids != NULL) {
			c->pending_next = s->pending;
			s->pending = c;
		}
	} else {
		edges_link(c);
	}
	if (out != NULL)
		*out = c;
	return 0;
}

void
store_delete(store *s, comp *c)
{
	edges_unlink(c);
	htab_del(&s->ids, &c->id_h);
	htab_del(&s->keys, &c->key_h);
	lists_unlink(s, c);
	slot_del(s, c);
	bucket_release(s, c->gb);
	comp_free(s, c);
}

Flowsvc__Component *
store_unpack(const comp *c)
{
	return flowsvc__component__unpack(NULL, c->packed_len, c->packed);
}

void
store_walk_begin(store *s)
{
	if (++s->visit_epoch == 0) {
		/* Epoch wrapped: clear every mark once. */
		for (int k = 1; k <= 2; k++)
			for (comp *c = s->kinds[k].head; c; c = c->next)
				c->visit = 0;
		s->visit_epoch = 1;
	}
}

int
store_reaches(store *s, comp *from, const comp *to)
{
	comp **stack;
	size_t n = 0, cap = 64;
	int found = 0;

	if (from == to)
		return 1;
	if (from->visit == s->visit_epoch)
		return 0; /* explored earlier in this walk */
	if ((stack = malloc(cap * sizeof(*stack))) == NULL)
		return 1; /* refuse rather than risk a cycle */
	from->visit = s->visit_epoch;
	stack[n++] = from;
	while (n > 0 && !found) {
		comp *c = stack[--n];
		for (uint32_t i = 0; i < c->nuses; i++) {
			comp *f = c->uses[i].flow;
			if (f == to) {
				found = 1;
				break;
			}
			if (f->visit == s->visit_epoch)
				continue;
			f->visit = s->visit_epoch;
			if (n == cap) {
				comp **ns = realloc(stack, 2 * cap * sizeof(*ns));
				if (ns == NULL) {
					found = 1;
					break;
				}
				stack = ns;
				cap *= 2;
			}
			stack[n++] = f;
		}
	}
	free(stack);
	return found;
}
