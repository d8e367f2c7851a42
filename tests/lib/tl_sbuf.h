/*
 * tl_sbuf.h - a growable byte buffer, always NUL-terminated, shared by the
 * command runner and the HTTP client of the test library (internal: tests
 * do not include it).
 */
#ifndef TESTS_TL_SBUF_H
#define TESTS_TL_SBUF_H

#include <stdlib.h>
#include <string.h>

/* Zero-init is empty; p belongs to the owner, who frees it. */
typedef struct sbuf {
	char *p;
	size_t len, cap;
} sbuf;

/* Appends n bytes (and keeps a NUL after them). Returns 0 or -1 when out
 * of memory (b unchanged). */
static inline int
sbuf_add(sbuf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 1024;
		char *np;
		while (b->len + n + 1 > ncap) {
			ncap *= 2;
		}
		if ((np = realloc(b->p, ncap)) == NULL) {
			return -1;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

#endif
