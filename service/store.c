/*
 * store.c - component records, their hash indexes and creation-ordered
 * lists, the snapshot slot table, and the holds that keep retired wire
 * forms for readers outside the lock. The references between records are
 * store_graph.c's.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fs_util.h"

/* ---- records ------------------------------------------------------------ */

const uint8_t *
store_comp_id(const store_comp *c)
{
	return c->id;
}

int
store_comp_kind(const store_comp *c)
{
	return c->kind;
}

int
store_comp_status(const store_comp *c)
{
	return c->status;
}

uint64_t
store_comp_seq(const store_comp *c)
{
	return c->seq;
}

const char *
store_comp_name(const store_comp *c)
{
	return c->name;
}

const char *
store_comp_group(const store_comp *c)
{
	return c->group;
}

const uint8_t *
store_comp_packed(const store_comp *c, uint32_t *len)
{
	*len = c->packed_len;
	return c->packed;
}

/* ---- hashing ------------------------------------------------------------ */

static uint64_t
hash_id(const uint8_t id[16])
{
	uint64_t h;
	memcpy(&h, id, sizeof(h));
	return htab_mix64(h);
}

static uint64_t
hash_key(int kind, const char *group, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t) kind;
	h = htab_hash_ci(h, group);
	return htab_mix64(htab_hash_ci(h, name));
}

enum { BUCKET_GROUP = 1, BUCKET_NAME = 2 };

static uint64_t
hash_bucket(int kind, int which, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t) (kind * 4 + which);
	return htab_mix64(htab_hash_ci(h, key));
}

/* ---- the store ---------------------------------------------------------- */

store *
store_new(void)
{
	store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if (pthread_mutex_init(&s->holds.mu, NULL) != 0) {
		free(s);
		return NULL;
	}
	if (htab_init(&s->ids) != 0 || htab_init(&s->keys) != 0 ||
	    htab_init(&s->names) != 0 || htab_init(&s->buckets) != 0) {
		htab_fini(&s->ids);
		htab_fini(&s->keys);
		htab_fini(&s->names);
		htab_fini(&s->buckets);
		pthread_mutex_destroy(&s->holds.mu);
		free(s);
		return NULL;
	}
	return s;
}

/* Frees a wire form, or retires it while any hold lasts. */
static void
packed_free(store *s, uint8_t *p, size_t len)
{
	struct store_holds *hs = s != NULL ? &s->holds : NULL;

	if (hs != NULL) {
		pthread_mutex_lock(&hs->mu);
		if (hs->head != NULL) {
			struct grave *g = malloc(sizeof(*g));
			/* Out of memory: leaking one buffer beats a holder
			 * reading freed memory. */
			if (g != NULL) {
				g->ptr = p;
				g->len = len;
				g->epoch = hs->epoch;
				g->next = NULL;
				*(hs->graves_tail != NULL
				        ? &hs->graves_tail->next
				        : &hs->graves) = g;
				hs->graves_tail = g;
				hs->retired += len;
			}
			pthread_mutex_unlock(&hs->mu);
			return;
		}
		pthread_mutex_unlock(&hs->mu);
	}
	free(p);
}

static void
comp_free(store *s, store_comp *c)
{
	free(c->uses); /* name and group are part of c */
	free(c->pending_ids);
	packed_free(s, c->packed, c->packed_len);
	free(c);
}

void
store_hold(store *s, store_holder *h)
{
	struct store_holds *hs = &s->holds;

	pthread_mutex_lock(&hs->mu);
	h->epoch = ++hs->epoch;
	h->next = NULL;
	h->prev = hs->tail;
	*(hs->tail != NULL ? &hs->tail->next : &hs->head) = h;
	hs->tail = h;
	pthread_mutex_unlock(&hs->mu);
}

void
store_release(store *s, store_holder *h)
{
	struct store_holds *hs = &s->holds;
	struct grave *dead = NULL;

	pthread_mutex_lock(&hs->mu);
	*(h->prev != NULL ? &h->prev->next : &hs->head) = h->next;
	*(h->next != NULL ? &h->next->prev : &hs->tail) = h->prev;
	h->prev = h->next = NULL;
	/* What no remaining hold is old enough to need: retired before the
	 * oldest of them held. Detached here, freed after the unlock. */
	struct grave **tail = &dead;
	while (hs->graves != NULL &&
	    (hs->head == NULL || hs->graves->epoch < hs->head->epoch)) {
		struct grave *g = hs->graves;
		hs->graves = g->next;
		hs->retired -= g->len;
		g->next = NULL;
		*tail = g;
		tail = &g->next;
	}
	if (hs->graves == NULL)
		hs->graves_tail = NULL;
	pthread_mutex_unlock(&hs->mu);
	while (dead != NULL) {
		struct grave *g = dead;
		dead = g->next;
		free(g->ptr);
		free(g);
	}
}

size_t
store_retired_bytes(store *s)
{
	size_t n;

	pthread_mutex_lock(&s->holds.mu);
	n = s->holds.retired;
	pthread_mutex_unlock(&s->holds.mu);
	return n;
}

int
store_collect(const store *s, store_item **out, size_t *n)
{
	store_item *items =
	    malloc((s->nslots ? s->nslots : 1) * sizeof(*items));

	if (items == NULL)
		return FS_RESOURCE_EXHAUSTED;
	if (s->nslots > 0)
		memcpy(items, s->slots, s->nslots * sizeof(*items));
	*out = items;
	*n = s->nslots;
	return FS_OK;
}

int
store_collect_into(const store *s, store_item *items, size_t cap, size_t *n)
{
	*n = s->nslots;
	if (cap < s->nslots)
		return FS_RESOURCE_EXHAUSTED;
	if (s->nslots > 0)
		memcpy(items, s->slots, s->nslots * sizeof(*items));
	return FS_OK;
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
	store_comp **no = realloc(s->owners, cap * sizeof(*no));
	if (no == NULL)
		return -1;
	s->owners = no;
	s->capslots = cap;
	return 0;
}

static void
slot_sync(store *s, const store_comp *c)
{
	store_item *it = &s->slots[c->slot];

	it->packed = c->packed;
	it->packed_len = c->packed_len;
	it->status = c->status;
	it->seq = c->seq;
}

/* After slot_reserve. */
static void
slot_add(store *s, store_comp *c)
{
	c->slot = (uint32_t) s->nslots++;
	s->owners[c->slot] = c;
	slot_sync(s, c);
}

static void
slot_del(store *s, store_comp *c)
{
	size_t last = --s->nslots;

	if (c->slot != last) {
		s->slots[c->slot] = s->slots[last];
		s->owners[c->slot] = s->owners[last];
		s->owners[c->slot]->slot = c->slot;
	}
}

void
store_set_status(store *s, store_comp *c, int status)
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
		store_comp *c = s->kinds[k].list.head;
		while (c != NULL) {
			store_comp *next = c->by_kind.next;
			comp_free(NULL, c);
			c = next;
		}
	}
	for (size_t i = 0; i <= s->buckets.mask; i++) {
		htab_node *e = s->buckets.slots[i];
		while (e != NULL) {
			htab_node *next = e->next;
			struct bucket *b = htab_entry(e, struct bucket, h);
			free(b->key);
			free(b);
			e = next;
		}
	}
	/* Holders are gone by now: whatever they kept goes too. */
	while (s->holds.graves != NULL) {
		struct grave *g = s->holds.graves;
		s->holds.graves = g->next;
		free(g->ptr);
		free(g);
	}
	pthread_mutex_destroy(&s->holds.mu);
	free(s->slots);
	free(s->owners);
	htab_fini(&s->ids);
	htab_fini(&s->keys);
	htab_fini(&s->names);
	htab_fini(&s->buckets);
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
		store_comp **no =
		    ns != NULL ? realloc(s->owners, n * sizeof(*no)) : NULL;
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

static struct bucket *
bucket_find(const store *s, int kind, int which, const char *key);

size_t
store_count_group(const store *s, int kind, const char *group)
{
	const struct bucket *b = valid_kind(kind)
	    ? bucket_find(s, kind, BUCKET_GROUP, group)
	    : NULL;

	return b != NULL ? b->count : 0;
}

uint64_t
store_last_seq(const store *s)
{
	return s->last_seq;
}

store_comp *
store_get(const store *s, const uint8_t id[16])
{
	for (htab_node *e = htab_first(&s->ids, hash_id(id)); e != NULL;
	     e = htab_next(e)) {
		store_comp *c = htab_entry(e, store_comp, id_h);
		if (memcmp(c->id, id, 16) == 0)
			return c;
	}
	return NULL;
}

store_comp *
store_find(const store *s, int kind, const char *group, const char *name)
{
	uint64_t h = hash_key(kind, group, name);

	for (htab_node *e = htab_first(&s->keys, h); e != NULL;
	     e = htab_next(e)) {
		store_comp *c = htab_entry(e, store_comp, key_h);
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

	for (htab_node *e = htab_first(&s->buckets, h); e != NULL;
	     e = htab_next(e)) {
		struct bucket *b = htab_entry(e, struct bucket, h);
		if (b->kind == kind && b->which == which &&
		    strcasecmp(b->key, key) == 0)
			return b;
	}
	return NULL;
}

/* A bucket not yet in the table (bucket_add puts it there). */
static struct bucket *
bucket_new(int kind, int which, const char *key)
{
	struct bucket *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	if ((b->key = strdup(key)) == NULL) {
		free(b);
		return NULL;
	}
	b->kind = (uint8_t) kind;
	b->which = (uint8_t) which;
	b->h.hash = hash_bucket(kind, which, key);
	return b;
}

static void
bucket_add(store *s, struct bucket *b)
{
	htab_add(&s->buckets, &b->h);
}

static struct bucket *
bucket_get(store *s, int kind, int which, const char *key)
{
	struct bucket *b = bucket_find(s, kind, which, key);

	if (b == NULL && (b = bucket_new(kind, which, key)) != NULL)
		bucket_add(s, b);
	return b;
}

static void
bucket_release(store *s, struct bucket *b)
{
	if (b->list.head != NULL)
		return;
	htab_del(&s->buckets, &b->h);
	free(b->key);
	free(b);
}

/* Components of one (kind, name) (one per group) form a list in creation
 * order: its head, the oldest, is in the names table, and head->nprev is
 * the tail. No allocation per name: names are mostly unique. */
static store_comp *
name_head(const store *s, int kind, const char *name)
{
	uint64_t h = hash_bucket(kind, BUCKET_NAME, name);

	for (htab_node *e = htab_first(&s->names, h); e != NULL;
	     e = htab_next(e)) {
		store_comp *c = htab_entry(e, store_comp, name_h);
		if (c->kind == kind && strcasecmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

store_comp *
store_first(const store *s, int kind, const char *group, const char *name)
{
	if (!valid_kind(kind))
		return NULL;
	if (group != NULL && name != NULL)
		return store_find(s, kind, group, name);
	if (group != NULL) {
		struct bucket *b = bucket_find(s, kind, BUCKET_GROUP, group);
		return b != NULL ? b->list.head : NULL;
	}
	if (name != NULL)
		return name_head(s, kind, name);
	return s->kinds[kind].list.head;
}

store_comp *
store_next(const store_comp *c, const char *group, const char *name)
{
	if (group != NULL && name != NULL)
		return NULL; /* (kind, group, name) is unique */
	if (group != NULL)
		return c->by_group.next;
	if (name != NULL)
		return c->nnext;
	return c->by_kind.next;
}

/* ---- list membership ---------------------------------------------------- */

/* The link of c at offset off (by_kind or by_group). */
#define LINK(c, off) ((store_link *) (void *) ((char *) (c) + (off)))

static void
list_append(store_list *l, store_comp *c, size_t off)
{
	LINK(c, off)->prev = l->tail;
	LINK(c, off)->next = NULL;
	*(l->tail != NULL ? &LINK(l->tail, off)->next : &l->head) = c;
	l->tail = c;
}

static void
list_remove(store_list *l, store_comp *c, size_t off)
{
	store_link *k = LINK(c, off);

	*(k->prev != NULL ? &LINK(k->prev, off)->next : &l->head) = k->next;
	*(k->next != NULL ? &LINK(k->next, off)->prev : &l->tail) = k->prev;
}

static void
lists_link(store *s, store_comp *c)
{
	struct kindlist *kl = &s->kinds[c->kind];

	list_append(&kl->list, c, offsetof(store_comp, by_kind));
	kl->count++;
	list_append(&c->gb->list, c, offsetof(store_comp, by_group));
	c->gb->count++;

	store_comp *head = name_head(s, c->kind, c->name);
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
lists_unlink(store *s, store_comp *c)
{
	struct kindlist *kl = &s->kinds[c->kind];

	list_remove(&kl->list, c, offsetof(store_comp, by_kind));
	kl->count--;
	list_remove(&c->gb->list, c, offsetof(store_comp, by_group));
	c->gb->count--;

	store_comp *head = name_head(s, c->kind, c->name);
	if (head == c) {
		htab_del(&s->names, &c->name_h);
		store_comp *next = c->nnext;
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

static int store_put_unlinked_(store *s, const Flowsvc__Component *msg,
    const uint8_t *wire, size_t wire_len, int status, uint64_t seq);

int
store_put(store *s, const Flowsvc__Component *msg, int status, uint64_t seq,
    store_comp **out)
{
	store_prep p;
	int rv = store_put_prepare(s, msg, status, seq, &p);

	if (rv != FS_OK)
		return rv;
	store_comp *c = store_put_commit(s, &p);
	if (out != NULL)
		*out = c;
	return FS_OK;
}

int
store_put_unlinked(store *s, const Flowsvc__Component *msg,
    const uint8_t *wire, size_t wire_len, int status, uint64_t seq)
{
	return store_put_unlinked_(s, msg, wire, wire_len, status, seq);
}

void
store_prefetch(const store *s, const Flowsvc__Component *msg)
{
	uint8_t id[16];
	int kind = (int) msg->kind;

	if (fs_uuid_parse(msg->id, id) == 0)
		__builtin_prefetch(htab_slot(&s->ids, hash_id(id)));
	if (msg->name == NULL || msg->group == NULL)
		return;
	__builtin_prefetch(
	    htab_slot(&s->keys, hash_key(kind, msg->group, msg->name)));
	__builtin_prefetch(
	    htab_slot(&s->names, hash_bucket(kind, BUCKET_NAME, msg->name)));
}

/* Replaces c's content: name, group and kind never change after creation,
 * so the indexes stay; only content and edges move. */
static void
comp_replace(store *s, store_comp *c, store_edge *edges, uint32_t nuses,
    uint8_t *packed, uint32_t plen, int status)
{
	store_graph_unlink(c);
	free(c->uses);
	packed_free(s, c->packed, c->packed_len);
	c->uses = edges;
	c->nuses = nuses;
	c->packed = packed;
	c->packed_len = plen;
	c->status = (uint8_t) status;
	slot_sync(s, c);
	store_graph_link(c);
}

/* A new record (not yet indexed): name and group never change, so they
 * live in the record's own allocation, right after it. */
static store_comp *
comp_new(const Flowsvc__Component *msg)
{
	size_t nlen = strlen(msg->name) + 1, glen = strlen(msg->group) + 1;
	store_comp *c = calloc(1, sizeof(*c) + nlen + glen);

	if (c == NULL)
		return NULL;
	c->name = memcpy((char *) (c + 1), msg->name, nlen);
	c->group = memcpy(c->name + nlen, msg->group, glen);
	c->kind = (uint8_t) msg->kind;
	return c;
}

/* Indexes a new record c (id, content and group bucket set). After
 * slot_reserve. */
static void
comp_insert(store *s, store_comp *c, int status, uint64_t seq)
{
	c->status = (uint8_t) status;
	c->seq = seq != 0 ? seq : s->last_seq + 1;
	if (c->seq > s->last_seq)
		s->last_seq = c->seq;
	c->id_h.hash = hash_id(c->id);
	c->key_h.hash = hash_key(c->kind, c->group, c->name);
	htab_add(&s->ids, &c->id_h);
	htab_add(&s->keys, &c->key_h);
	lists_link(s, c);
	slot_add(s, c);
}

int
store_put_prepare(store *s, const Flowsvc__Component *msg, int status,
    uint64_t seq, store_prep *p)
{
	int rv;

	memset(p, 0, sizeof(*p));
	p->msg = msg;
	p->status = status;
	p->seq = seq;
	if (fs_uuid_parse(msg->id, p->id) != 0 || !valid_kind((int) msg->kind))
		return FS_FAILED_PRECONDITION;
	if ((p->old = store_get(s, p->id)) != NULL &&
	    p->old->kind != msg->kind)
		return FS_FAILED_PRECONDITION;
	if ((rv = store_graph_resolve(s, msg, &p->edges)) != FS_OK)
		goto fail;
	rv = FS_RESOURCE_EXHAUSTED;
	if (pack_msg(msg, &p->packed, &p->plen) != 0)
		goto fail;
	if (p->old == NULL) {
		if (slot_reserve(s) != 0 || s->nslots >= UINT32_MAX ||
		    (p->fresh = comp_new(msg)) == NULL)
			goto fail;
		if (bucket_find(s, (int) msg->kind, BUCKET_GROUP,
		        msg->group) == NULL &&
		    (p->bucket = bucket_new((int) msg->kind, BUCKET_GROUP,
		         msg->group)) == NULL)
			goto fail;
	}
	return FS_OK;
fail:
	store_put_abort(s, p);
	return rv;
}

store_comp *
store_put_commit(store *s, store_prep *p)
{
	store_comp *c = p->old;
	uint32_t nuses = (uint32_t) p->msg->n_flows;

	if (c != NULL) {
		comp_replace(s, c, p->edges, nuses, p->packed, p->plen,
		    p->status);
	} else {
		c = p->fresh;
		if (p->bucket != NULL)
			bucket_add(s, p->bucket);
		c->gb = bucket_find(s, c->kind, BUCKET_GROUP, c->group);
		memcpy(c->id, p->id, 16);
		c->uses = p->edges;
		c->nuses = nuses;
		c->packed = p->packed;
		c->packed_len = p->plen;
		comp_insert(s, c, p->status, p->seq);
		store_graph_link(c);
	}
	memset(p, 0, sizeof(*p)); /* everything is the store's now */
	return c;
}

void
store_put_abort(store *s, store_prep *p)
{
	(void) s;
	free(p->edges);
	free(p->packed);
	free(p->fresh);
	if (p->bucket != NULL) {
		free(p->bucket->key);
		free(p->bucket);
	}
	memset(p, 0, sizeof(*p));
}

/* Snapshot loading: a new record whose flows are resolved later
 * (store_link_pending). */
static int
store_put_unlinked_(store *s, const Flowsvc__Component *msg,
    const uint8_t *wire, size_t wire_len, int status, uint64_t seq)
{
	uint8_t id[16];
	store_edge *edges = NULL;
	uint8_t *pending_ids = NULL;
	uint8_t *packed = NULL;
	store_comp *c = NULL;
	int rv;

	if (fs_uuid_parse(msg->id, id) != 0 || !valid_kind((int) msg->kind))
		return FS_FAILED_PRECONDITION;
	if (store_get(s, id) != NULL)
		return FS_FAILED_PRECONDITION; /* the same id twice */
	if ((rv = store_graph_parse(msg, &edges, &pending_ids)) != FS_OK)
		goto fail;
	rv = FS_RESOURCE_EXHAUSTED;
	uint32_t plen;
	if (wire == NULL) {
		if (pack_msg(msg, &packed, &plen) != 0)
			goto fail;
	} else {
		if (wire_len > UINT32_MAX ||
		    (packed = malloc(wire_len ? wire_len : 1)) == NULL)
			goto fail;
		memcpy(packed, wire, wire_len);
		plen = (uint32_t) wire_len;
	}
	if (slot_reserve(s) != 0 || s->nslots >= UINT32_MAX ||
	    (c = comp_new(msg)) == NULL ||
	    (c->gb = bucket_get(s, c->kind, BUCKET_GROUP, c->group)) == NULL)
		goto fail;
	memcpy(c->id, id, 16);
	c->uses = edges;
	c->nuses = (uint32_t) msg->n_flows;
	c->packed = packed;
	c->packed_len = plen;
	comp_insert(s, c, status, seq);
	c->pending_ids = pending_ids;
	if (pending_ids != NULL) {
		c->pending_next = s->pending;
		s->pending = c;
	}
	return FS_OK;

fail:
	free(c);
	free(edges);
	free(pending_ids);
	free(packed);
	return rv;
}

void
store_delete(store *s, store_comp *c)
{
	store_graph_unlink(c);
	htab_del(&s->ids, &c->id_h);
	htab_del(&s->keys, &c->key_h);
	lists_unlink(s, c);
	slot_del(s, c);
	bucket_release(s, c->gb);
	comp_free(s, c);
}

Flowsvc__Component *
store_unpack(const store_comp *c)
{
	return flowsvc__component__unpack(NULL, c->packed_len, c->packed);
}
