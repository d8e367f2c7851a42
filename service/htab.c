/*
 * htab.c - the intrusive hash table (see htab.h).
 */
#include "htab.h"

#include <stdlib.h>

#define HTAB_MIN 1024u

int
htab_init(htab *t)
{
	if ((t->slots = calloc(HTAB_MIN, sizeof(*t->slots))) == NULL)
		return -1;
	t->mask = HTAB_MIN - 1;
	t->count = 0;
	return 0;
}

void
htab_fini(htab *t)
{
	free(t->slots);
	t->slots = NULL;
}

/* Rehashes into n slots (a power of two). On allocation failure the table
 * stays as it is, only slower. */
static void
htab_resize(htab *t, size_t n)
{
	htab_node **slots = calloc(n, sizeof(*slots));

	if (slots == NULL)
		return;
	for (size_t i = 0; i <= t->mask; i++) {
		htab_node *e = t->slots[i];
		while (e != NULL) {
			htab_node *next = e->next;
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

void
htab_reserve(htab *t, size_t n)
{
	size_t want = t->mask + 1;

	while (want < n && want < ((size_t) 1 << 40))
		want *= 2;
	if (want > t->mask + 1)
		htab_resize(t, want);
}

void
htab_add(htab *t, htab_node *e)
{
	if (t->count > t->mask)
		htab_resize(t, (t->mask + 1) * 2); /* load factor 1 */
	size_t i = e->hash & t->mask;
	e->next = t->slots[i];
	t->slots[i] = e;
	t->count++;
}

void
htab_del(htab *t, htab_node *e)
{
	htab_node **pp = &t->slots[e->hash & t->mask];

	while (*pp != NULL) {
		if (*pp == e) {
			*pp = e->next;
			t->count--;
			return;
		}
		pp = &(*pp)->next;
	}
}

uint64_t
htab_mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

uint64_t
htab_hash_ci(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char) *s;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char) (c + 32);
		h = (h ^ c) * 0x100000001b3ULL;
	}
	return (h ^ 0xff) * 0x100000001b3ULL;
}
