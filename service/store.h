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
 *
 * Records are opaque (store_comp): callers read them through the
 * store_comp_ functions and walk references with store_comp_use and
 * store_users, so the layout can change without touching them.
 *
 * Returns: every function that can fail returns an fs_code (fs_errors.h):
 *   FS_OK
 *   FS_RESOURCE_EXHAUSTED  out of memory (or a caller's array too small);
 *                          the store is unchanged
 *   FS_FAILED_PRECONDITION the record does not fit the store as it is:
 *                          an id that is not a uuid, a reference to no
 *                          existing flow, a kind other than the stored
 *                          one, an id loaded twice; the store is unchanged
 * The second is what a replayed change log that does not match its
 * snapshot produces, and what a caller that validated first never sees.
 */
#ifndef SERVICE_STORE_H
#define SERVICE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "fs_errors.h"

typedef struct store store;

/* One component's record. Opaque: read it with the store_comp_ functions
 * below. Borrowed from the store, valid until the next mutation of the
 * store (or, for the one a mutation is given, until it returns). */
typedef struct store_comp store_comp;

/* ---- a component's fields ------------------------------------------------
 * O(1) reads of what the store indexes; everything else (fields, version,
 * times) is in the wire form (store_comp_packed, store_unpack). */

const uint8_t *store_comp_id(const store_comp *c); /* 16 bytes */
int store_comp_kind(const store_comp *c);          /* Flowsvc__Kind */
int store_comp_status(const store_comp *c);        /* Flowsvc__Status */
uint64_t store_comp_seq(const store_comp *c);      /* creation order */
const char *store_comp_name(const store_comp *c);  /* as created */
const char *store_comp_group(const store_comp *c); /* as created */

/* The packed Flowsvc__Component; *len receives its length. */
const uint8_t *store_comp_packed(const store_comp *c, uint32_t *len);

/* The flows c uses, in the order of its `flows` list: index i in
 * [0, store_comp_nuses(c)). */
uint32_t store_comp_nuses(const store_comp *c);
store_comp *store_comp_use(const store_comp *c, uint32_t i);

/* The components that use flow, in no particular order:
 *
 *	store_users it;
 *	for (store_users_begin(flow, &it); (u = store_users_next(&it));)
 *
 * The iterator is invalidated by any mutation of the store. */
uint32_t store_comp_nusers(const store_comp *flow);
typedef struct store_users {
	const struct store_edge *next; /* opaque */
} store_users;
void store_users_begin(const store_comp *flow, store_users *it);
store_comp *store_users_next(store_users *it);

/* Returns a new empty store, or NULL when out of memory. Free with
 * store_free. */
store *store_new(void);
void store_free(store *s);

/* Sizes the indexes for n components (before a bulk load). */
void store_reserve(store *s, size_t n);

/* Number of components of a kind (FLOW or APP). */
size_t store_count(const store *s, int kind);

/* Number of components of a kind in a group (case-insensitive). O(1). */
size_t store_count_group(const store *s, int kind, const char *group);

/* Highest seq ever assigned (0 when none). */
uint64_t store_last_seq(const store *s);

/* Lookups; NULL when absent. The result is borrowed: valid until the next
 * mutation of the store. */
store_comp *store_get(const store *s, const uint8_t id[16]);
store_comp *
store_find(const store *s, int kind, const char *group, const char *name);

/* Creation-ordered iteration, optionally filtered (NULL filter = any).
 * Matching is case-insensitive and exact. */
store_comp *
store_first(const store *s, int kind, const char *group, const char *name);
store_comp *
store_next(const store_comp *c, const char *group, const char *name);

/* Inserts or replaces the component msg->id with the content of msg (all
 * fields), with the given status. For a new component, seq 0 assigns the
 * next sequence number; a replayed one passes its stored seq. Every id in
 * msg->flows must name an existing flow (callers validate first). Returns
 * FS_OK, FS_RESOURCE_EXHAUSTED or FS_FAILED_PRECONDITION (see above).
 * *out (optional) receives the record. */
int store_put(store *s, const Flowsvc__Component *msg, int status,
    uint64_t seq, store_comp **out);

/* A put in two steps, so that a change can be made ready before it is
 * written to the change log and applied after, with nothing left to fail:
 * store_put_prepare does every allocation the put needs and checks that it
 * fits (same returns as store_put; the store is unchanged, but for spare
 * capacity); store_put_commit then applies it and cannot fail;
 * store_put_abort gives a prepared put up. No other mutation of the store
 * may come between the two. The fields are the store's. */
typedef struct store_prep {
	const Flowsvc__Component *msg;
	int status;
	uint64_t seq;
	uint8_t id[16];
	struct store_edge *edges;
	uint8_t *packed;
	uint32_t plen;
	store_comp *old;       /* the record replaced, or NULL */
	store_comp *fresh;     /* the new record, or NULL */
	struct bucket *bucket; /* a new group bucket to add, or NULL */
} store_prep;

int store_put_prepare(store *s, const Flowsvc__Component *msg, int status,
    uint64_t seq, store_prep *p);
store_comp *store_put_commit(store *s, store_prep *p);
void store_put_abort(store *s, store_prep *p);

/* Removes c and its outgoing edges; c must have no users. c is freed. */
void store_delete(store *s, store_comp *c);

/* Decodes c's wire form; caller frees with
 * flowsvc__component__free_unpacked. NULL when out of memory. */
Flowsvc__Component *store_unpack(const store_comp *c);

/* ---- holds -----------------------------------------------------------
 * A reader that copies wire-form pointers out under the lock (a snapshot's
 * store_collect, a list's cut) and reads them after unlocking holds the
 * store: from then on, a wire form that a mutation replaces or deletes is
 * retired instead of freed, and freed once no hold older than its
 * retirement remains (epoch-based reclamation). Any number of holders may
 * hold at once; each release frees what only older holds needed, so a
 * long hold keeps what changed during it, never what changes after it is
 * released. store_retired_bytes says how much is kept.
 *
 * Locking: store_hold with the store's lock held (read or write: the
 * pointers the holder took must still be live); store_release and
 * store_retired_bytes with or without it (the holds have a mutex of their
 * own, the one piece of locking inside the store). The holder is the
 * caller's memory, untouched by anything else until released. */
typedef struct store_holder {
	uint64_t epoch;
	struct store_holder *prev, *next;
} store_holder;

void store_hold(store *s, store_holder *h);
void store_release(store *s, store_holder *h);
size_t store_retired_bytes(store *s);

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
 * frees *out; the packed pointers stay valid while a hold taken before
 * the lock was released lasts.
 * Returns FS_OK or FS_RESOURCE_EXHAUSTED. */
int store_collect(const store *s, store_item **out, size_t *n);

/* The same into a caller's array of cap items, allocated (and touched)
 * before taking the lock so the lock covers only the copy. Returns FS_OK,
 * or FS_RESOURCE_EXHAUSTED when cap is too small (*n then says how many
 * are needed). */
int
store_collect_into(const store *s, store_item *items, size_t cap, size_t *n);

/* Sets c's status (the one way to change it after store_put). */
void store_set_status(store *s, store_comp *c, int status);

/* Snapshot loading: inserts a component without resolving its flows (they
 * may name components that come later in the file); store_link_pending
 * then resolves all of them. wire (optional) is msg's packed form, kept as
 * is instead of packing msg again. Same returns as store_put; an id that
 * is already there does not fit (FS_FAILED_PRECONDITION). */
int store_put_unlinked(store *s, const Flowsvc__Component *msg,
    const uint8_t *wire, size_t wire_len, int status, uint64_t seq);

/* Bulk loading: starts fetching the index slots a store_put_unlinked of
 * msg will touch. With a million components the indexes are far larger
 * than the caches, and a loader that calls this some records ahead of the
 * insert hides most of those memory misses. Only a hint: no effect on the
 * store's contents. */
void store_prefetch(const store *s, const Flowsvc__Component *msg);

/* Resolves every pending reference. Returns FS_OK, or
 * FS_FAILED_PRECONDITION when one names no existing flow (the store is
 * then unusable: free it). */
int store_link_pending(store *s);

/* 1 when `to` can be reached from `from` by following uses edges
 * (from == to counts), else 0. O(components reachable from `from`).
 * store_walk_begin starts a walk; successive store_reaches calls in the same
 * walk skip what earlier ones explored (it could not reach `to`), so
 * checking a whole `flows` list costs one traversal. Write lock held (the
 * walk marks components). */
void store_walk_begin(store *s);
int store_reaches(store *s, store_comp *from, const store_comp *to);

#endif
