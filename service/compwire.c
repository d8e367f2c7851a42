/*
 * compwire.c - the indexed fields of a packed Component, without
 * protobuf-c. Field numbers and types are those of flows.proto's Component.
 */
#include "compwire.h"

#include <stdlib.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* Bit per field number: required ones, and the wire type of each known
 * field (LEN or VARINT). */
#define F(n) (1u << (n))
#define REQUIRED (F(1) | F(2) | F(3) | F(4) | F(7) | F(9) | F(10) | F(11))
#define LEN_FIELDS (F(1) | F(3) | F(4) | F(5) | F(6) | F(7) | F(8))
#define KEPT (F(1) | F(3) | F(4) | F(8)) /* strings the store indexes */
#define MAX_FIELD 11

static int
varint(const uint8_t **p, const uint8_t *e, uint64_t *v)
{
	*v = 0;
	for (int sh = 0; *p < e && sh < 70; sh += 7) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << sh;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

/* One field: its number, wire type, and for LEN the bytes. */
struct field {
	uint64_t num;
	unsigned wt;
	uint64_t v;         /* VARINT value or LEN length */
	const uint8_t *data; /* LEN bytes */
};

static int
next_field(const uint8_t **p, const uint8_t *e, struct field *f)
{
	uint64_t key;

	if (varint(p, e, &key) != 0 || (f->num = key >> 3) == 0)
		return -1;
	f->wt = (unsigned)(key & 7);
	switch (f->wt) {
	case WT_VARINT:
		return varint(p, e, &f->v);
	case WT_I64:
	case WT_I32: {
		size_t n = f->wt == WT_I64 ? 8 : 4;

		if ((size_t)(e - *p) < n)
			return -1;
		*p += n;
		return 0;
	}
	case WT_LEN:
		if (varint(p, e, &f->v) != 0 || f->v > (uint64_t)(e - *p))
			return -1;
		f->data = *p;
		*p += f->v;
		return 0;
	default:
		return -1;
	}
}

static int
grow(void **p, size_t *cap, size_t want, size_t elem)
{
	void *np;

	if (want <= *cap)
		return 0;
	if ((np = realloc(*p, want * elem)) == NULL)
		return -1;
	*p = np;
	*cap = want;
	return 0;
}

int
compwire_decode(compwire *w, const uint8_t *wire, size_t len)
{
	const uint8_t *p = wire, *e = wire + len;
	struct field f = {0, 0, 0, NULL};
	unsigned seen = 0;
	char *out;

	/* One pass. Every kept string is shorter on the wire than its copy
	 * plus NUL (a key and a length byte come first), so len bytes hold
	 * them all, and there are at most len / 2 flows. */
	if (grow((void **)&w->buf, &w->buf_cap, len + 1, 1) != 0 ||
	    grow((void **)&w->flows, &w->flows_cap, len / 2 + 1,
		sizeof(*w->flows)) != 0)
		return -2;
	flowsvc__component__init(&w->msg);
	w->msg.flows = w->flows;
	out = w->buf;
	while (p < e) {
		if (next_field(&p, e, &f) != 0)
			return -1;
		if (f.num > MAX_FIELD)
			continue; /* unknown: skipped */
		if ((f.wt == WT_LEN) != ((LEN_FIELDS & F(f.num)) != 0) ||
		    (f.wt != WT_LEN && f.wt != WT_VARINT))
			return -1;
		seen |= F(f.num);
		if (f.num == 2) {
			w->msg.kind = (Flowsvc__Kind)(int32_t)f.v;
			continue;
		}
		if (!(KEPT & F(f.num)))
			continue;
		if (memchr(f.data, 0, f.v) != NULL)
			return -1;
		memcpy(out, f.data, f.v);
		out[f.v] = '\0';
		/* A repeated singular field keeps its last value, as protobuf
		 * does. */
		if (f.num == 1)
			w->msg.id = out;
		else if (f.num == 3)
			w->msg.name = out;
		else if (f.num == 4)
			w->msg.group = out;
		else
			w->msg.flows[w->msg.n_flows++] = out;
		out += f.v + 1;
	}
	return (seen & REQUIRED) == REQUIRED ? 0 : -1;
}

void
compwire_fini(compwire *w)
{
	free(w->buf);
	free(w->flows);
	memset(w, 0, sizeof(*w));
}
