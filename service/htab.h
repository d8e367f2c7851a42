/*
 * htab.h - an intrusive hash table, the store's index.
 *
 * Nodes (htab_node) live inside the records they index, so indexing a
 * record allocates nothing; the table holds only the slot array, a power
 * of two, doubled when it holds as many nodes as slots. The caller
 * computes the hashes (htab_mix64, htab_hash_ci) and compares keys:
 * htab_first/htab_next walk the nodes of one hash value, and htab_entry
 * gets from a node back to its record. No locking, no I/O.
 */
#ifndef SERVICE_HTAB_H
#define SERVICE_HTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct htab_node {
	struct htab_node *next;
	uint64_t hash;
} htab_node;

typedef struct htab {
	htab_node **slots;
	size_t mask; /* slots - 1 */
	size_t count;
} htab;

/* The record of type whose member node p is. */
#define htab_entry(p, type, member)                                           \
	((type *) (void *) (((char *) (p)) - offsetof(type, member)))

/* An empty table. Returns 0, or -1 when out of memory. */
int htab_init(htab *t);

/* Frees the slot array (not the nodes: they belong to their records). */
void htab_fini(htab *t);

/* Grows to at least n slots in one rehash (before a bulk load, instead of
 * a series of doublings). Out of memory leaves it as it is: slower, not
 * wrong. */
void htab_reserve(htab *t, size_t n);

/* Adds e, whose hash is set. */
void htab_add(htab *t, htab_node *e);

/* Removes e, which is in t. */
void htab_del(htab *t, htab_node *e);

/* The first node of hash, NULL when none; then the next one of the same
 * hash after e. Inline: every lookup of the store runs through them. */
static inline htab_node *
htab_first(const htab *t, uint64_t hash)
{
	htab_node *e = t->slots[hash & t->mask];

	while (e != NULL && e->hash != hash)
		e = e->next;
	return e;
}

static inline htab_node *
htab_next(const htab_node *e)
{
	uint64_t hash = e->hash;

	for (e = e->next; e != NULL && e->hash != hash; e = e->next)
		;
	return (htab_node *) e;
}

/* The slot of hash, for a prefetch ahead of an insert. */
static inline htab_node *const *
htab_slot(const htab *t, uint64_t hash)
{
	return &t->slots[hash & t->mask];
}

/* A 64-bit finaliser: spreads every input bit over the result. */
uint64_t htab_mix64(uint64_t h);

/* FNV-1a over the ASCII-folded string s, continuing from h, with a
 * terminator (so "a" then "b" differs from "ab"). */
uint64_t htab_hash_ci(uint64_t h, const char *s);

#endif
