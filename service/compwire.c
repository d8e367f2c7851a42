/*
 * compwire.c - the indexed fields of a packed Component, without
 * protobuf-c. Field numbers and types are those of flows.proto's Component.
 */
#include "compwire.h"

#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "fs_pbwire.h"

/* Bit per field number: required ones, and the wire type of each known
 * field (LEN or VARINT). */
#define F(n) (1u << (n))
#define REQUIRED (F(1) | F(2) | F(3) | F(4) | F(7) | F(9) | F(10) | F(11))
#define LEN_FIELDS (F(1) | F(3) | F(4) | F(5) | F(6) | F(7) | F(8))
#define KEPT (F(1) | F(3) | F(4) | F(8)) /* strings the store indexes */
#define MAX_FIELD 11

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
	fs_pb_field f = {0, FS_PB_VARINT, 0, NULL};
	unsigned seen = 0;
	char *out;

	/* One pass. Every kept string is shorter on the wire than its copy
	 * plus NUL (a key and a length byte come first), so len bytes hold
	 * them all, and there are at most len / 2 flows. */
	if (grow((void **) &w->buf, &w->buf_cap, len + 1, 1) != 0 ||
	    grow((void **) &w->flows, &w->flows_cap, len / 2 + 1,
	        sizeof(*w->flows)) != 0)
		return FS_RESOURCE_EXHAUSTED;
	flowsvc__component__init(&w->msg);
	w->msg.flows = w->flows;
	out = w->buf;
	while (p < e) {
		if (fs_pb_next_field(&p, e, &f) != 0)
			return FS_DATA_LOSS;
		if (f.num > MAX_FIELD)
			continue; /* unknown: skipped */
		if ((f.wt == FS_PB_LEN) != ((LEN_FIELDS & F(f.num)) != 0) ||
		    (f.wt != FS_PB_LEN && f.wt != FS_PB_VARINT))
			return FS_DATA_LOSS;
		seen |= F(f.num);
		if (f.num == 2) {
			w->msg.kind = (Flowsvc__Kind) (int32_t) f.v;
			continue;
		}
		if (!(KEPT & F(f.num)))
			continue;
		if (memchr(f.data, 0, f.v) != NULL)
			return FS_DATA_LOSS;
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
	return (seen & REQUIRED) == REQUIRED ? FS_OK : FS_DATA_LOSS;
}

void
compwire_fini(compwire *w)
{
	free(w->buf);
	free(w->flows);
	memset(w, 0, sizeof(*w));
}
