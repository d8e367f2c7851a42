/*
 * watch.c - events, the ring, filters and the WatchReply encoding (see
 * watch.h).
 */
#include "watch.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "fs_pbwire.h"

/* ---- events ------------------------------------------------------------- */

watch_event *
watch_event_new(int type, uint64_t revision, int kind, int status,
    const char *group, const uint8_t *bytes, uint32_t len, uint32_t nflows,
    const watch_use *foreign, uint32_t nforeign)
{
	size_t glen = strlen(group);
	watch_event *ev = malloc(sizeof(*ev) + len + glen + 1);

	if (ev == NULL)
		return NULL;
	atomic_init(&ev->refs, 1);
	ev->type = (uint8_t) type;
	ev->kind = (uint8_t) kind;
	ev->status = (uint8_t) status;
	ev->len = len;
	ev->nflows = nflows;
	ev->nforeign = 0;
	ev->foreign = NULL;
	ev->revision = revision;
	if (len > 0)
		memcpy(ev->data, bytes, len);
	memcpy(ev->data + len, group, glen + 1);
	ev->group = (const char *) ev->data + len;
	if (watch_event_set_foreign(ev, foreign, nforeign) != 0) {
		free(ev);
		return NULL;
	}
	return ev;
}

int
watch_event_set_foreign(watch_event *ev, const watch_use *foreign,
    uint32_t nforeign)
{
	size_t bytes = 0;

	if (nforeign == 0)
		return 0;
	for (uint32_t i = 0; i < nforeign; i++)
		bytes += strlen(foreign[i].group) + 1;
	watch_use *u = malloc(nforeign * sizeof(*u) + bytes);
	if (u == NULL)
		return -1;
	char *p = (char *) (u + nforeign);
	for (uint32_t i = 0; i < nforeign; i++) {
		size_t n = strlen(foreign[i].group) + 1;
		memcpy(p, foreign[i].group, n);
		u[i].index = foreign[i].index;
		u[i].group = p;
		p += n;
	}
	free(ev->foreign);
	ev->foreign = u;
	ev->nforeign = nforeign;
	return 0;
}

void
watch_event_unref(watch_event *ev)
{
	if (ev != NULL &&
	    atomic_fetch_sub_explicit(&ev->refs, 1, memory_order_acq_rel) ==
	        1) {
		free(ev->foreign);
		free(ev);
	}
}

int
watch_comp_scan(const uint8_t *b, size_t len, watch_comp_info *out,
    void (*each_flow)(void *arg, const char *id, size_t n), void *arg)
{
	const uint8_t *p = b, *e = b + len;
	fs_pb_field f;
	int has_kind = 0;

	memset(out, 0, sizeof(*out));
	while (p < e) {
		if (fs_pb_next_field(&p, e, &f) != 0)
			return -1;
		switch (f.num) {
		case 1: /* id */
			if (f.wt != FS_PB_LEN)
				return -1;
			out->id = (const char *) f.data;
			out->id_len = (size_t) f.v;
			break;
		case 2: /* kind */
			if (f.wt != FS_PB_VARINT)
				return -1;
			out->kind = (int) f.v;
			has_kind = 1;
			break;
		case 4: /* group */
			if (f.wt != FS_PB_LEN)
				return -1;
			out->group = (const char *) f.data;
			out->group_len = (size_t) f.v;
			break;
		case 8: /* flows */
			if (f.wt != FS_PB_LEN)
				return -1;
			out->nflows++;
			if (each_flow != NULL)
				each_flow(arg, (const char *) f.data,
				    (size_t) f.v);
			break;
		case 9: /* version */
			if (f.wt != FS_PB_VARINT)
				return -1;
			out->version = (int64_t) f.v;
			break;
		default:
			break;
		}
	}
	return has_kind && out->group != NULL ? 0 : -1;
}

/* ---- the ring ----------------------------------------------------------- */

int
watch_ring_init(watch_ring *r, size_t cap, uint64_t base)
{
	memset(r, 0, sizeof(*r));
	if (cap < 1)
		cap = 1;
	if ((r->ev = calloc(cap, sizeof(*r->ev))) == NULL)
		return -1;
	r->cap = cap;
	r->last = base;
	return 0;
}

void
watch_ring_reset(watch_ring *r, uint64_t base)
{
	for (size_t i = 0; i < r->n; i++) {
		size_t k = (r->head + i) % r->cap;
		watch_event_unref(r->ev[k]);
		r->ev[k] = NULL;
	}
	r->head = r->n = 0;
	r->last = base;
}

void
watch_ring_fini(watch_ring *r)
{
	if (r->ev != NULL)
		watch_ring_reset(r, r->last);
	free(r->ev);
	memset(r, 0, sizeof(*r));
}

void
watch_ring_push(watch_ring *r, watch_event *ev)
{
	if (ev->revision != r->last + 1)
		watch_ring_reset(r, ev->revision - 1);
	if (r->n == r->cap) {
		watch_event_unref(r->ev[r->head]);
		r->ev[r->head] = NULL;
		r->head = (r->head + 1) % r->cap;
		r->n--;
	}
	r->ev[(r->head + r->n) % r->cap] = ev;
	r->n++;
	r->last = ev->revision;
}

watch_event *
watch_ring_at(const watch_ring *r, uint64_t rev)
{
	uint64_t first = watch_ring_first(r);

	if (rev < first || rev > r->last)
		return NULL;
	return r->ev[(r->head + (size_t) (rev - first)) % r->cap];
}

/* ---- who sees what ------------------------------------------------------ */

bool
watch_match(const watch_filter *f, const watch_event *ev)
{
	if (f->kind != 0 && f->kind != ev->kind)
		return false;
	if (f->group != NULL && strcasecmp(f->group, ev->group) != 0)
		return false;
	return access_group(f->who, ev->group);
}

/* ---- encoding ----------------------------------------------------------- */

/* Makes room for n more bytes within the budget: 0, 1 (over the budget)
 * or -1 (out of memory). */
static int
reply_room(watch_reply_buf *b, size_t n)
{
	size_t need = b->len + n;

	if (need > b->budget)
		return 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap *= 2;
	if (cap > b->budget)
		cap = b->budget;
	uint8_t *nb = realloc(b->buf, cap);
	if (nb == NULL)
		return -1;
	b->buf = nb;
	b->cap = cap;
	return 0;
}

/* The group of flow i of ev. */
static const char *
flow_group(const watch_event *ev, uint32_t i)
{
	for (uint32_t k = 0; k < ev->nforeign; k++)
		if (ev->foreign[k].index == i)
			return ev->foreign[k].group;
	return ev->group;
}

/* The component of ev with only the flows who may see (a copy in *tmp,
 * which the caller frees), and which of them are kept (keep[i]). Returns
 * the bytes (ev's own when all are kept: *tmp NULL), or NULL when out of
 * memory. */
static const uint8_t *
comp_for(const watch_event *ev, const Flowsvc__Caller *who, uint32_t *len,
    uint8_t **tmp, bool *keep)
{
	uint32_t hidden = 0;

	*tmp = NULL;
	*len = ev->len;
	for (uint32_t i = 0; i < ev->nflows; i++) {
		keep[i] = access_group(who, flow_group(ev, i));
		hidden += !keep[i];
	}
	if (hidden == 0)
		return ev->data;
	Flowsvc__Component *m =
	    flowsvc__component__unpack(NULL, ev->len, ev->data);
	if (m == NULL)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < m->n_flows; i++) {
		if (i < ev->nflows && keep[i])
			m->flows[k++] = m->flows[i];
		else
			free(m->flows[i]);
	}
	m->n_flows = k;
	size_t n = flowsvc__component__get_packed_size(m);
	if ((*tmp = malloc(n ? n : 1)) != NULL) {
		flowsvc__component__pack(m, *tmp);
		*len = (uint32_t) n;
	}
	flowsvc__component__free_unpacked(m, NULL);
	return *tmp;
}

int
watch_reply_add(watch_reply_buf *b, const watch_event *ev,
    const Flowsvc__Caller *who)
{
	bool keepbuf[64], *keep = keepbuf;
	uint8_t *tmp = NULL;
	uint32_t clen;
	int rv = -1;

	if (ev->nflows > 64 &&
	    (keep = malloc(ev->nflows * sizeof(*keep))) == NULL)
		return -1;
	const uint8_t *comp = comp_for(ev, who, &clen, &tmp, keep);
	if (comp == NULL)
		goto out;
	/* WatchEvent{type = 1, revision = 2, component = 3, status = 4,
	 * flow_groups = 5}, framed as WatchReply.events (field 1). */
	size_t inner = 2 * FS_PB_VARINT_MAX + 1 + 1 +
	    fs_pb_len_field_size(3, clen) + 1 + FS_PB_VARINT_MAX;
	if (ev->nforeign > 0)
		for (uint32_t i = 0; i < ev->nflows; i++)
			if (keep[i])
				inner += fs_pb_len_field_size(5,
				    strlen(flow_group(ev, i)));
	if ((rv = reply_room(b, inner + 1 + FS_PB_VARINT_MAX)) != 0)
		goto out;
	/* The event goes after room for its header; moved down once its
	 * length is known. */
	uint8_t *start = b->buf + b->len;
	uint8_t *p = start + 1 + FS_PB_VARINT_MAX;
	uint8_t *q = p;
	q += fs_pb_put_varint_field(q, 1, ev->type);
	q += fs_pb_put_varint_field(q, 2, ev->revision);
	q += fs_pb_put_len_field(q, 3, comp, clen);
	q += fs_pb_put_varint_field(q, 4, ev->status);
	if (ev->nforeign > 0)
		for (uint32_t i = 0; i < ev->nflows; i++)
			if (keep[i]) {
				const char *g = flow_group(ev, i);
				q += fs_pb_put_len_field(q, 5, g, strlen(g));
			}
	size_t n = (size_t) (q - p);
	size_t h = fs_pb_put_len_header(start, 1, n);
	memmove(start + h, p, n);
	b->len += h + n;
	b->n++;
	rv = 0;
out:
	free(tmp);
	if (keep != keepbuf)
		free(keep);
	return rv;
}

int
watch_reply_finish(watch_reply_buf *b, uint64_t revision)
{
	/* The revision always fits: the budget leaves room for it. */
	size_t budget = b->budget;

	b->budget = SIZE_MAX;
	int rv = reply_room(b, 1 + FS_PB_VARINT_MAX);
	b->budget = budget;
	if (rv != 0)
		return -1;
	b->len += fs_pb_put_varint_field(b->buf + b->len, 2, revision);
	return 0;
}
