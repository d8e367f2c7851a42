/*
 * svc_read.c - the handlers that only read the store: Get, List and
 * GetStatus. Each holds the store's lock shared while it copies its reply
 * out (a component's stored wire form, filtered for the caller by
 * access.h), and never touches the disk.
 *
 * List answers in one of three ways (flows.proto's ListRequest):
 *   whole   no page_size, no page_token: every match in one reply, or
 *           RESOURCE_EXHAUSTED when they do not fit it (as before paging:
 *           callers that page with limit and offset keep working);
 *   first   page_size: the first page under the read lock and, when more
 *           follow, the cut of the rest into a view (listview.h) and its
 *           token;
 *   next    page_token: a page from the view, with no store lock.
 * Every List reply carries total_count (the matches before limit and
 * offset) and, with a data directory, the revision it is consistent at.
 */
#include "svc_int.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "fs_errors.h"
#include "fs_pbwire.h"
#include "listview.h"

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

/* Room a List reply keeps after its components: next_page_token,
 * total_count and revision, tags and lengths included. */
#define LIST_TRAILER (2 * (1 + FS_PB_VARINT_MAX) + 1 + 1 + LISTVIEW_TOKEN_LEN)

/* The list grows in buf (cap bytes) and its components never past
 * budget; the trailer has its own room beyond. */
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

/* What a List reply says besides its components. */
struct list_meta {
	const char *token; /* NULL: the last page */
	uint64_t total;
	int has_rev;
	uint64_t rev;
};

/* Appends the trailer and makes b r's OK answer (b is r's then), or
 * answers out of memory (b freed). */
static void
list_answer(svc_reply *r, struct list_buf *b, const struct list_meta *mt)
{
	if (b->len + LIST_TRAILER > b->cap) {
		uint8_t *nb = realloc(b->buf, b->len + LIST_TRAILER);
		if (nb == NULL) {
			free(b->buf);
			svc_reply_oom(r);
			return;
		}
		b->buf = nb;
		b->cap = b->len + LIST_TRAILER;
	}
	if (mt->token != NULL)
		b->len += fs_pb_put_len_field(b->buf + b->len, 2, mt->token,
		    strlen(mt->token));
	b->len += fs_pb_put_varint_field(b->buf + b->len, 3, mt->total);
	if (mt->has_rev) {
		b->len += fs_pb_put_varint_field(b->buf + b->len, 4, mt->rev);
		/* Reply.revision: the list's, the one its pages all show. */
		r->has_revision = 1;
		r->revision = mt->rev;
	}
	r->payload = b->buf;
	r->payload_len = b->len;
	r->has_payload = 1;
	r->code = FS_OK;
}

static int
list_buf_init(struct list_buf *b, size_t budget)
{
	b->len = 0;
	b->cap = 4096;
	b->budget = budget;
	return (b->buf = malloc(b->cap)) != NULL ? 0 : -1;
}

static const char list_too_large[] =
    "Result too large for one reply: page it (page_size and page_token), "
    "or use limit and offset.";

/* A walk over the matches of m that who may see, in creation order,
 * from offset on and at most limit of them: the one order every way of
 * answering shares. Store lock held. */
struct list_walk {
	const Flowsvc__ListRequest *m;
	const Flowsvc__Caller *who;
	store_comp *c;
	uint64_t left;
};

static store_comp *
walk_next(struct list_walk *w)
{
	const char *g = w->m->group_iexact, *n = w->m->name_iexact;

	while (w->c != NULL && w->left > 0) {
		store_comp *c = w->c;
		w->c = store_next(c, g, n);
		if (access_visible(w->who, c)) {
			w->left--;
			return c;
		}
	}
	return NULL;
}

static void
walk_begin(struct list_walk *w, store *st, const svc_req *q)
{
	const Flowsvc__ListRequest *m = q->msg;
	uint64_t skip = m->has_offset ? m->offset : 0;

	w->m = m;
	w->who = q->who;
	w->c = store_first(st, (int) m->kind, m->group_iexact, m->name_iexact);
	w->left = UINT64_MAX;
	while (skip > 0 && walk_next(w) != NULL)
		skip--;
	w->left = m->has_limit ? m->limit : UINT64_MAX;
}

static uint64_t
list_total(svc *s, const svc_req *q)
{
	const Flowsvc__ListRequest *m = q->msg;

	return access_count(svc_store(s), q->who, (int) m->kind,
	    m->group_iexact, m->name_iexact);
}

/* Every match in one reply. The list stops as soon as the next component
 * would pass the budget (no buffer ever grows past it) and answers
 * RESOURCE_EXHAUSTED; returns 1 then, else 0. */
static int
list_whole(svc *s, const svc_req *q, svc_reply *r)
{
	struct list_buf b;
	struct list_walk w;
	struct list_meta mt = {NULL, 0, 0, 0};
	int over = 0, rv = FS_OK;

	if (list_buf_init(&b, q->budget - LIST_TRAILER) != 0) {
		svc_reply_oom(r);
		return 0;
	}
	svc_read_lock(s);
	mt.total = list_total(s, q);
	mt.has_rev = 1;
	mt.rev = svc_revision(s);
	walk_begin(&w, svc_store(s), q);
	for (store_comp *c; rv == FS_OK && (c = walk_next(&w)) != NULL;) {
		uint8_t *tmp;
		uint32_t clen;
		const uint8_t *bytes = access_encode(q->who, c, &clen, &tmp);
		rv = bytes != NULL ? list_put(&b, bytes, clen) : -1;
		free(tmp);
	}
	svc_unlock(s);
	if (rv == FS_OK) {
		list_answer(r, &b, &mt);
		return 0;
	}
	free(b.buf);
	if (rv == FS_RESOURCE_EXHAUSTED) {
		svc_reply_err(r, FS_RESOURCE_EXHAUSTED, "%s", list_too_large);
		over = 1;
	} else {
		svc_reply_oom(r);
	}
	return over;
}

/* The first page, and the cut of the rest into a view. */
static int
list_first(svc *s, const svc_req *q, svc_reply *r)
{
	const Flowsvc__ListRequest *m = q->msg;
	listview_set *vs = svc_views(s);
	uint32_t page_max = m->page_size < LISTVIEW_PAGE_MAX
	    ? m->page_size
	    : LISTVIEW_PAGE_MAX;
	size_t budget =
	    q->budget < LISTVIEW_PAGE_BYTES ? q->budget : LISTVIEW_PAGE_BYTES;
	char token[LISTVIEW_TOKEN_LEN + 1];
	struct list_meta mt = {NULL, 0, 0, 0};
	struct list_buf b;
	struct list_walk w;
	listview *v = NULL;
	uint32_t npage = 0;
	int rv = FS_OK;

	if (list_buf_init(&b, budget - LIST_TRAILER) != 0) {
		svc_reply_oom(r);
		return 0;
	}
	svc_read_lock(s);
	mt.total = list_total(s, q);
	mt.has_rev = 1;
	mt.rev = svc_revision(s);
	walk_begin(&w, svc_store(s), q);
	for (store_comp *c;
	     page_max > 0 && rv == FS_OK && (c = walk_next(&w)) != NULL;) {
		uint8_t *tmp;
		uint32_t clen;
		const uint8_t *bytes = access_encode(q->who, c, &clen, &tmp);
		if (bytes == NULL) {
			rv = -1;
			break;
		}
		if (v == NULL && npage < page_max &&
		    (rv = list_put(&b, bytes, clen)) == FS_OK) {
			npage++;
			free(tmp);
			continue;
		}
		if (rv == -1 || npage == 0) { /* out of memory, or too big */
			free(tmp);
			break;
		}
		/* The page is full: the rest goes into the view, in order. */
		if (v == NULL) {
			uint64_t offset = m->has_offset ? m->offset : 0;
			uint64_t rest = mt.total > offset + npage
			    ? mt.total - offset - npage
			    : 1;
			if (rest > w.left + 1)
				rest = w.left + 1;
			if ((rv = listview_room(vs)) != FS_OK) {
				free(tmp);
				break;
			}
			if ((v = listview_new((size_t) rest)) == NULL) {
				free(tmp);
				rv = -1;
				break;
			}
		}
		rv = listview_add(v, bytes, clen, tmp) == FS_OK ? FS_OK : -1;
	}
	if (rv == FS_OK && v != NULL)
		listview_hold(vs, v); /* the cut: still under the lock */
	svc_unlock(s);

	if (rv == FS_OK && v != NULL) {
		listview_key key;
		listview_key_of(vs, q->who, m, &key);
		rv = listview_open(vs, v, &key, mt.total, mt.has_rev, mt.rev,
		    token);
		v = NULL; /* the set's now, or freed */
		mt.token = token;
	}
	if (rv == FS_OK) {
		list_answer(r, &b, &mt);
		return 0;
	}
	listview_free(vs, v);
	free(b.buf);
	if (rv == FS_UNAVAILABLE) {
		svc_reply_err(r, FS_UNAVAILABLE,
		    "Too many lists in progress; try again shortly.");
		return 0;
	}
	if (rv == FS_RESOURCE_EXHAUSTED) {
		svc_reply_err(r, FS_RESOURCE_EXHAUSTED, "%s", list_too_large);
		return 1;
	}
	svc_reply_oom(r);
	return 0;
}

/* A later page, from the view its token names: no store lock. */
static int
list_next(svc *s, const svc_req *q, svc_reply *r)
{
	const Flowsvc__ListRequest *m = q->msg;
	listview_set *vs = svc_views(s);
	size_t budget =
	    q->budget < LISTVIEW_PAGE_BYTES ? q->budget : LISTVIEW_PAGE_BYTES;
	uint32_t page_max = !m->has_page_size  ? LISTVIEW_PAGE_MAX
	    : m->page_size < LISTVIEW_PAGE_MAX ? m->page_size
	                                       : LISTVIEW_PAGE_MAX;
	char token[LISTVIEW_TOKEN_LEN + 1];
	struct list_meta mt = {NULL, 0, 0, 0};
	listview_key key;
	struct list_buf b;
	listview *v;
	size_t pos;
	int rv;

	listview_key_of(vs, q->who, m, &key);
	rv = listview_find(vs, m->page_token, &key, &v, &pos);
	if (rv != FS_OK) {
		rules_viol_add(&r->v, "page_token", "%s",
		    rv == FS_NOT_FOUND
		        ? "Unknown or expired page token: list again "
		          "without it."
		        : "The page token belongs to another list: send it "
		          "with the request its list began with.");
		svc_reply_viol(r, 0);
		return 0;
	}
	mt.total = listview_total(v);
	mt.has_rev = listview_revision(v, &mt.rev);
	if (m->has_page_size && m->page_size == 0) {
		listview_close(vs, v); /* ended early by its reader */
		if (list_buf_init(&b, budget - LIST_TRAILER) != 0)
			svc_reply_oom(r);
		else
			list_answer(r, &b, &mt);
		return 0;
	}
	if (list_buf_init(&b, budget - LIST_TRAILER) != 0) {
		listview_done(vs, v, pos, token);
		svc_reply_oom(r);
		return 0;
	}
	size_t end = pos, n = listview_count(v);
	rv = FS_OK;
	while (end < n && end - pos < page_max) {
		uint32_t len;
		const uint8_t *bytes = listview_entry(v, end, &len);
		if ((rv = list_put(&b, bytes, len)) != FS_OK)
			break;
		end++;
	}
	if (rv == -1 || (rv != FS_OK && end == pos)) {
		listview_done(vs, v, pos, token); /* not read: still there */
		free(b.buf);
		if (rv == -1) {
			svc_reply_oom(r);
			return 0;
		}
		svc_reply_err(r, FS_RESOURCE_EXHAUSTED, "%s", list_too_large);
		return 1;
	}
	if (listview_done(vs, v, end, token))
		mt.token = token;
	list_answer(r, &b, &mt);
	return 0;
}

int
svc_read_list(svc *s, const svc_req *q, svc_reply *r)
{
	const Flowsvc__ListRequest *m = q->msg;

	if (!svc_reply_kind_ok(r, m->has_kind ? (int) m->kind : 0))
		return 0;
	if (q->budget < 2 * LIST_TRAILER) {
		svc_reply_err(r, FS_RESOURCE_EXHAUSTED, "%s", list_too_large);
		return 1;
	}
	if (m->page_token != NULL && m->page_token[0] != '\0')
		return list_next(s, q, r);
	if (m->has_page_size)
		return list_first(s, q, r);
	return list_whole(s, q, r);
}
