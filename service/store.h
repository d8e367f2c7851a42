/*
 * store.h - the in-memory component store.
 *
 * Components (flows and apps) are indexed by id, by (kind, group, name)
 * case-insensitively, by (kind, group) and by (kind, name) for filters, and
 * kept in creation order per kind. Every lookup is a hash probe; lists walk
 * an intrusive list in creation order. Each component keeps the edges to the
 * flows it uses and, on each flow, the list of its users, so "in use" and
 * cycle checks never scan the store.
 *
 * A component's wire form (packed Flowsvc__Component) is kept alongside, so
 * a read copies bytes instead of re-encoding, and snapshots write it as is.
 *
 * The store does no locking and no I/O: its owner (service/svc.c)
 * serialises writers against readers. Names and groups are ASCII by the
 * rules, so case folding is ASCII folding.
 */
#ifndef SERVICE_STORE_H
#define SERVICE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"

typedef struct store store;
typedef struct comp comp;

/* A reference from user to a flow it uses (an element of user->uses, and a
 * node in the used flow's list of users). */
typedef struct comp_edge {
	comp *user;
	comp *flow;
	struct comp_edge *prev, *next; /* in flow's users list */
} comp_edge;

typedef struct hnode {
	struct hnode *next;
	uint64_t hash;
} hnode;

struct bucket; /* a (kind, key) list head, for group and name filters */

struct comp {
	uint8_t id[16];
	uint8_t kind;   /* Flowsvc__Kind: FLOW or APP */
	uint8_t status; /* Flowsvc__Status */
	uint32_t visit; /* traversal mark, see store_reaches */
	uint32_t slot;  /* index in the store's slot table */
	uint64_t seq;   /* creation order, unique, increasing */
	char *name;     /* as created; stored after the struct, in its block */
	char *group;    /* as created; likewise */
	comp_edge *uses; /* array of nuses edges */
	uint32_t nuses;
	uint32_t nusers;
	comp_edge *users; /* edges whose flow is this component */
	uint8_t *packed;  /* Flowsvc__Component, packed */
	uint32_t packed_len;
	hnode id_h;
	hnode key_h;
	comp *prev, *next;   /* per kind, creation order */
	comp *gprev, *gnext; /* same (kind, group) */
	comp *nprev, *nnext; /* same (kind, name); see name_head in store.c */
	hnode name_h;
	struct bucket *gb;
	uint8_t *pending_ids; /* snapshot load: flows not yet linked */
	comp *pending_next;
};

/* Returns a new empty store, or NULL when out of memory. Free with
 * store_free. */
store *store_new(void);
void store_free(store *s);

/* Sizes the indexes for n components (before a bulk load). */
void store_reserve(store *s, size_t n);

/* Number of components of a kind (FLOW or APP). */
size_t store_count(const store *s, int kind);

/* Highest seq ever assigned (0 when none). */
uint64_t store_last_seq(const store *s);

/* Lookups; NULL when absent. The result is borrowed: valid until the next
 * mutation of the store. */
comp *store_get(const store *s, const uint8_t id[16]);
comp *store_find(const store *s, int kind, const char *group, const char *name);

/* Creation-ordered iteration, optionally filtered (NULL filter = any).
 * Matching is case-insensitive and exact. */
comp *store_first(const store *s, int kind, const char *group, const char *name);
comp *store_next(const comp *c, const char *group, const char *name);

/* Inserts or replaces the component msg->id with the content of msg (all
 * fields), with the given status. For a new component, seq 0 assigns the
 * next sequence number; a replayed one passes its stored seq. Every id in
 * msg->flows must name an existing flow (callers validate first). Returns
 * 0, -1 when out of memory (store unchanged) or -2 on a broken reference or
 * id (store unchanged). *out (optional) receives the record. */
int store_put(store *s, const Flowsvc__Component *msg, int status,
    uint64_t seq, comp **out);

/* Removes c and its outgoing edges; c must have no users. c is freed. */
void store_delete(store *s, comp *c);

/* Decodes c's wire form; caller frees with
 * flowsvc__component__free_unpacked. NULL when out of memory. */
Flowsvc__Component *store_unpack(const comp *c);

/* While held (a snapshot is copying them out), wire forms that a mutation
 * replaces or deletes are kept instead of freed, so pointers taken with
 * store_collect stay valid; store_release frees them. Both with the
 * write lock held. */
void store_hold(store *s);
void store_release(store *s);

/* One component's wire form, status and seq, as a snapshot records it. */
typedef struct store_item {
	const uint8_t *packed;
	uint32_t packed_len;
	uint8_t status;
	uint64_t seq;
} store_item;

/* Fills a new array with every component, in no particular order (a
 * loader orders them by seq). One memcpy of a dense table, so the write
 * lock is held for milliseconds even at millions of components. Caller
 * frees *out; the packed pointers stay valid while the store is held.
 * Returns 0 or -1 (out of memory). */
int store_collect(const store *s, store_item **out, size_t *n);

/* The same into a caller's array of cap items, allocated (and touched)
 * before taking the lock so the lock covers only the copy. Returns 0, or
 * -1 when cap is too small (*n then says how many are needed). */
int store_collect_into(const store *s, store_item *items, size_t cap,
    size_t *n);

/* Sets c's status (the one way to change it after store_put). */
void store_set_status(store *s, comp *c, int status);

/* Snapshot loading: inserts a component without resolving its flows (they
 * may name components that come later in the file); store_link_pending
 * then resolves all of them. wire (optional) is msg's packed form, kept as
 * is instead of packing msg again. Same returns as store_put; an id that
 * is already there is -2. */
int store_put_unlinked(store *s, const Flowsvc__Component *msg,
    const uint8_t *wire, size_t wire_len, int status, uint64_t seq);

/* Bulk loading: starts fetching the index slots a store_put_unlinked of
 * msg will touch. With a million components the indexes are far larger
 * than the caches, and a loader that calls this some records ahead of the
 * insert hides most of those memory misses. Only a hint: no effect on the
 * store's contents. */
void store_prefetch(const store *s, const Flowsvc__Component *msg);

/* Resolves every pending reference. Returns 0, or -2 when one names no
 * existing flow (the store is then unusable: free it). */
int store_link_pending(store *s);

/* 1 when `to` can be reached from `from` by following uses edges
 * (from == to counts), else 0. O(components reachable from `from`).
 * store_walk_begin starts a walk; successive store_reaches calls in the same
 * walk skip what earlier ones explored (it could not reach `to`), so
 * checking a whole `flows` list costs one traversal. Write lock held (the
 * walk marks components). */
void store_walk_begin(store *s);
int store_reaches(store *s, comp *from, const comp *to);

#endif
