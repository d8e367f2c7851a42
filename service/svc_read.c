/*
 * svc_read.c - the handlers that only read the store: Get, List and
 * GetStatus. Each holds the store's lock shared while it copies its reply
 * out (a component's stored wire form, filtered for the caller by
 * access.h), and never touches the disk.
 */
#include "svc_int.h"

#include <stdbool.h>
#include <stdlib.h>

#include "access.h"
#include "fs_errors.h"
#include "fs_pbwire.h"

/* Get and GetStatus: the component id names, found and answered (as
 * itself, or its status) under the read lock. */
static int
read_one(svc *s, const svc_req *q, svc_reply *r, const char *id,
    protobuf_c_boolean has_kind, Flowsvc__Kind kind, bool status)
{
	svc_read_lock(s);
	store_comp *c = svc_find(s, q, r, id, has_kind, kind);
	if (c != NULL && status)
		svc_reply_status(r, c);
	else if (c != NULL)
		svc_reply_component(r, q->who, c);
	svc_unlock(s);
	return 0;
}

int
svc_read_get(svc *s, const svc_req *q, svc_reply *r)
{
	const Flowsvc__GetRequest *m = q->msg;

	return read_one(s, q, r, m->id, m->has_kind, m->kind, false);
}

int
svc_read_status(svc *s, const svc_req *q, svc_reply *r)
{
	const Flowsvc__IdRequest *m = q->msg;

	return read_one(s, q, r, m->id, m->has_kind, m->kind, true);
}

/* The list grows in buf (cap bytes) and never past budget. */
struct list_buf {
	uint8_t *buf;
	size_t len, cap, budget;
};

/* Appends ListReply's field 1 around bytes. Returns FS_OK,
 * FS_RESOURCE_EXHAUSTED when it does not fit the budget, or -1 when out
 * of memory. */
static int
list_put(struct list_buf *b, const uint8_t *bytes, uint32_t n)
{
	/* Room for the tag and the longest length a uint32 takes. */
	size_t need = b->len + n + 6;

	if (need > b->budget)
		return FS_RESOURCE_EXHAUSTED;
	if (need > b->cap) {
		size_t cap = b->cap;
		while (cap < need)
			cap *= 2;
		if (cap > b->budget)
			cap = b->budget;
		uint8_t *nb = realloc(b->buf, cap);
		if (nb == NULL)
			return -1;
		b->buf = nb;
		b->cap = cap;
	}
	b->len += fs_pb_put_len_field(b->buf + b->len, 1, bytes, n);
	return FS_OK;
}

/* The list stops as soon as the next component would pass the budget (no
 * buffer ever grows past it) and answers RESOURCE_EXHAUSTED; returns 1
 * then, else 0. */
int
svc_read_list(svc *s, const svc_req *q, svc_reply *r)
{
	const Flowsvc__ListRequest *m = q->msg;
	struct list_buf b = {NULL, 0, 4096, q->budget};
	int over = 0;

	if (!svc_reply_kind_ok(r, m->has_kind ? (int) m->kind : 0))
		return 0;
	if ((b.buf = malloc(b.cap)) == NULL) {
		svc_reply_oom(r);
		return 0;
	}
	uint64_t skip = m->has_offset ? m->offset : 0;
	uint64_t left = m->has_limit ? m->limit : UINT64_MAX;
	const char *g = m->group_iexact, *n = m->name_iexact;

	r->code = FS_OK;
	svc_read_lock(s);
	svc_note_revision(s, r);
	for (store_comp *c = store_first(svc_store(s), (int) m->kind, g, n);
	     c != NULL && left > 0; c = store_next(c, g, n)) {
		if (!access_visible(q->who, c))
			continue;
		if (skip > 0) {
			skip--;
			continue;
		}
		uint8_t *tmp;
		uint32_t clen;
		const uint8_t *bytes = access_encode(q->who, c, &clen, &tmp);
		int rv = bytes != NULL ? list_put(&b, bytes, clen) : -1;
		free(tmp);
		if (rv == FS_RESOURCE_EXHAUSTED) {
			svc_reply_err(r, FS_RESOURCE_EXHAUSTED,
			    "Result too large: page it with limit and "
			    "offset.");
			over = 1;
			break;
		}
		if (rv != FS_OK) {
			svc_reply_oom(r);
			break;
		}
		left--;
	}
	svc_unlock(s);
	if (r->code == FS_OK) {
		r->payload = b.buf;
		r->payload_len = b.len;
		r->has_payload = 1;
	} else {
		free(b.buf);
	}
	return over;
}
