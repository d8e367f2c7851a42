/*
 * gw_sse.c - one SSE stream: the request, its catch-up calls, and MHD's
 * content reader (see gw_sse.h).
 *
 * A stream is a gw_sse (gw_watch_int.h): a buffer of bytes to send and
 * the revision up to which they are complete. The hub appends to it
 * while it is live; until then its own Watch calls do (catch-up), one at
 * a time, each from the revision the last one was complete up to, and
 * the next only once the reader has taken at least half of what is
 * buffered. MHD's reader takes bytes from the buffer, and suspends the
 * connection when there are none; whoever appends resumes it.
 */
#include "gw_sse.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "fs_errors.h"
#include "fs_log.h"
#include "fs_methods.h"
#include "gw_api.h"
#include "gw_json.h"
#include "gw_watch_int.h"

/* The response's own buffer, allocated with it for every client: MHD
 * 0.9.75 reads into it only for HTTP/1.0 (chunked answers are read into
 * the connection's write buffer), so it is kept small. */
#define SSE_BLOCK 1024u
/* Events per catch-up call: a client holds at most one such answer. */
#define CATCHUP_MAX_EVENTS 64u
/* A drained buffer keeps its memory up to this much: an idle client
 * holds none. */
#define SSE_KEEP_BYTES 0u
/* The stream's first bytes: reconnect after a second (EventSource). */
static const char sse_hello[] = "retry: 1000\n\n";

/* ---- frames ------------------------------------------------------------- */

bool
gw_sse_sees(const struct gw_sse *c, const char *group)
{
	if (c == NULL || !c->restricted)
		return true;
	for (size_t i = 0; i < c->caller.n_groups; i++)
		if (strcasecmp(c->caller.groups[i], group) == 0)
			return true;
	return false;
}

void
gw_sse_frame(gw_buf *b, const Flowsvc__WatchEvent *ev, const struct gw_sse *c)
{
	const Flowsvc__Component *comp = ev->component;
	Flowsvc__Component scoped;
	char **kept = NULL;
	char num[24];
	const char *type = fs_event_type_name((int) ev->type);

	/* The references c may not see are left out, as a Get by that
	 * token would (flow_groups names each flow's group when any is of
	 * another group than the component's). */
	if (c != NULL && c->restricted && ev->n_flow_groups > 0 &&
	    ev->n_flow_groups == comp->n_flows) {
		if ((kept = malloc(comp->n_flows * sizeof(char *))) == NULL) {
			b->oom = true;
			return;
		}
		scoped = *comp;
		scoped.n_flows = 0;
		for (size_t i = 0; i < comp->n_flows; i++)
			if (gw_sse_sees(c, ev->flow_groups[i]))
				kept[scoped.n_flows++] = comp->flows[i];
		scoped.flows = kept;
		comp = &scoped;
	}
	snprintf(num, sizeof(num), "%" PRIu64, ev->revision);
	gw_buf_puts(b, "id: ");
	gw_buf_puts(b, num);
	gw_buf_puts(b, "\nevent: ");
	gw_buf_puts(b, type);
	gw_buf_puts(b, "\ndata: {\"type\":\"");
	gw_buf_puts(b, type);
	gw_buf_puts(b, "\",\"revision\":");
	gw_buf_puts(b, num);
	gw_buf_puts(b, ",\"component\":");
	gw_json_put_component(b, comp);
	gw_buf_puts(b, ",\"status\":\"");
	gw_buf_puts(b, fs_status_name((int) ev->status));
	gw_buf_puts(b, "\"}\n\n");
	free(kept);
}

/* ---- clients' buffers --------------------------------------------------- */

void
gw_sse_finish(struct gw_sse *c, bool dropped)
{
	c->ended = true;
	if (dropped) {
		c->dropped = true;
		free(c->buf);
		c->buf = NULL;
		c->off = c->len = c->cap = 0;
	}
	if (c->waiting) {
		c->waiting = false;
		MHD_resume_connection(c->conn);
	} else if (dropped && !c->closed && c->fd >= 0) {
		/* It does not read, so MHD does not ask us for bytes: its
		 * next write fails and MHD closes the connection. */
		(void) shutdown(c->fd, SHUT_RDWR);
	}
}

void
gw_sse_queue(struct gw_sse *c, const char *p, size_t n, bool bounded)
{
	size_t pending = c->len - c->off;

	if (c->ended || n == 0)
		return;
	if (bounded && pending + n > gw_watch_client_buffer(c->w)) {
		fs_log(FS_LOG_WARN, c->rid,
		    "watch: client dropped, %zu bytes behind (more than "
		    "--watch-client-buffer %zu)",
		    pending + n, gw_watch_client_buffer(c->w));
		gw_watch_count_drop(c->w);
		gw_sse_finish(c, true);
		return;
	}
	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, pending);
		c->off = 0;
		c->len = pending;
	}
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : 1024;
		char *nb;

		while (cap < c->len + n)
			cap *= 2;
		if ((nb = realloc(c->buf, cap)) == NULL) {
			fs_log(FS_LOG_ERROR, c->rid,
			    "watch: out of memory; client dropped");
			gw_watch_count_drop(c->w);
			gw_sse_finish(c, true);
			return;
		}
		c->buf = nb;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->last_us = gw_http_mono_us();
	if (c->waiting) {
		c->waiting = false;
		MHD_resume_connection(c->conn);
	}
}

/* ---- the client's life -------------------------------------------------- */

static void
sse_free(struct gw_sse *c)
{
	gw_watch *w = c->w;

	free(c->buf);
	free(c->group);
	for (size_t i = 0; i < c->caller.n_groups; i++)
		free(c->caller.groups[i]);
	free(c->caller.groups);
	pthread_mutex_destroy(&c->mu);
	free(c);
	gw_watch_release(w);
}

void
gw_sse_unref(struct gw_sse *c)
{
	bool last = --c->refs == 0;

	pthread_mutex_unlock(&c->mu);
	if (last)
		sse_free(c);
}

/* A copy of who's groups (a restricted token), so the stream does not
 * depend on the token table it started with. Returns 0 or -1. */
static int
copy_caller(struct gw_sse *c, const Flowsvc__Caller *who)
{
	flowsvc__caller__init(&c->caller);
	if (who == NULL || !who->has_restricted || !who->restricted)
		return 0;
	c->restricted = true;
	c->caller.has_restricted = 1;
	c->caller.restricted = 1;
	if (who->n_groups == 0)
		return 0;
	if ((c->caller.groups = calloc(who->n_groups, sizeof(char *))) == NULL)
		return -1;
	for (size_t i = 0; i < who->n_groups; i++, c->caller.n_groups++)
		if ((c->caller.groups[i] = strdup(who->groups[i])) == NULL)
			return -1;
	return 0;
}

/* ---- the query ---------------------------------------------------------- */

struct sse_query {
	const char *since, *kind, *group;
};

static enum MHD_Result
collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct sse_query *q = cls;
	const char *v = value ? value : "";

	(void) kind;
	/* The last of repeated parameters wins; an empty value is none. */
	if (strcmp(key, "since") == 0)
		q->since = *v ? v : NULL;
	else if (strcmp(key, "kind") == 0)
		q->kind = *v ? v : NULL;
	else if (strcmp(key, "group__iexact") == 0)
		q->group = *v ? v : NULL;
	return MHD_YES;
}

/* 400 {"<key>": ["<msg>"]}. */
static void
field_error(struct gw_resp *out, const char *key, const char *msg)
{
	gw_buf b = GW_BUF_INIT;

	gw_resp_fini(out);
	gw_buf_puts(&b, "{");
	gw_json_put_string(&b, key);
	gw_buf_puts(&b, ":[");
	gw_json_put_string(&b, msg);
	gw_buf_puts(&b, "]}");
	out->status = 400;
	out->body = gw_buf_take(&b, &out->len);
	if (out->body == NULL)
		gw_api_code_error(out, FS_INTERNAL);
}

/* Reads where to start and the filters; 0, or -1 with r->resp the 400. */
static int
parse(struct gw_req *r, bool *has_since, uint64_t *since, Flowsvc__Kind *kind,
    const char **group)
{
	struct sse_query q = {NULL, NULL, NULL};
	const char *last;
	char msg[160];

	if (MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect,
	        &q) < 0) {
		gw_api_code_error(&r->resp, FS_INTERNAL);
		return -1;
	}
	*has_since = false;
	if (q.since != NULL) {
		if (gw_api_parse_uint(q.since, since) != 0) {
			field_error(&r->resp, "since",
			    fs_rest_detail(FS_REST_NOT_UINT));
			return -1;
		}
		*has_since = true;
	}
	/* A browser's EventSource reconnects to the same URL with the id
	 * of the last event it saw: that wins over since. */
	last = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    "Last-Event-ID");
	if (last != NULL && *last != '\0') {
		if (gw_api_parse_uint(last, since) != 0) {
			field_error(&r->resp, "Last-Event-ID",
			    fs_rest_detail(FS_REST_NOT_UINT));
			return -1;
		}
		*has_since = true;
	}
	*kind = FLOWSVC__KIND__KIND_ANY;
	if (q.kind != NULL) {
		if (strcmp(q.kind, "flow") == 0) {
			*kind = FLOWSVC__KIND__FLOW;
		} else if (strcmp(q.kind, "app") == 0) {
			*kind = FLOWSVC__KIND__APP;
		} else {
			/* django-filter's words for a choice it lacks. */
			snprintf(msg, sizeof(msg),
			    "Select a valid choice. %.64s is not one of the "
			    "available choices.",
			    q.kind);
			field_error(&r->resp, "kind", msg);
			return -1;
		}
	}
	*group = q.group;
	if (q.group != NULL && strlen(q.group) > 100) {
		field_error(&r->resp, "group__iexact",
		    "Ensure this field has no more than 100 characters.");
		return -1;
	}
	return 0;
}

/* ---- catch-up ----------------------------------------------------------- */

static void on_catchup(void *arg, int code, Flowsvc__Reply *reply);

/* Asks the backend for c's changes after c->pos, waiting wait_ms when
 * there are none. c->fetching is set and the call's reference taken; the
 * first call (c->req set) is counted among the server's calls. The call
 * goes where the hub's watch is (gw_backends_watch_pick). */
static void
catchup_call(struct gw_sse *c, uint32_t wait_ms)
{
	gw_http *h = c->h;
	Flowsvc__WatchRequest m = FLOWSVC__WATCH_REQUEST__INIT;
	fs_call_opts o = {c->rid, h->cfg.rpc_timeout_ms,
	    c->restricted ? &c->caller : NULL, 0};
	bool first = c->req != NULL;
	int rv = FS_UNAVAILABLE;
	gw_backend *be =
	    gw_backends_watch_pick(h->backends, gw_watch_backend(c->w));

	c->be = NULL; /* set once a call goes out: its callback reads it */
	m.has_since_revision = c->has_pos;
	m.since_revision = c->pos;
	if (c->kind != FLOWSVC__KIND__KIND_ANY) {
		m.has_kind = 1;
		m.kind = c->kind;
	}
	m.group_iexact = c->group;
	m.has_wait_ms = 1;
	m.wait_ms = wait_ms;
	m.has_max_events = 1;
	m.max_events = CATCHUP_MAX_EVENTS;
	/* The gate of gw_http_drain: no call on a client being closed. */
	atomic_fetch_add(&h->starting, 1);
	if (!atomic_load(&h->closing) && !gw_watch_closing(c->w)) {
		if (first)
			atomic_fetch_add(&h->calls, 1);
		c->be = be;
		rv = fs_client_call_async(gw_backend_client(be),
		    FLOWSVC__METHOD__WATCH, &m.base, &o, on_catchup, c);
		if (rv != 0 && first)
			atomic_fetch_sub(&h->calls, 1);
	}
	atomic_fetch_sub(&h->starting, 1);
	if (rv != 0) {
		if (first)
			atomic_fetch_add(&h->calls, 1); /* on_catchup's */
		on_catchup(c, rv, NULL);
	}
}

/* The batch's events into c's buffer (mu held); c->pos past them. */
static void
catchup_feed(struct gw_sse *c, const Flowsvc__WatchReply *batch)
{
	for (size_t i = 0; i < batch->n_events && !c->ended; i++) {
		const Flowsvc__WatchEvent *ev = batch->events[i];
		gw_buf b = GW_BUF_INIT;

		if (c->has_pos && ev->revision <= c->pos)
			continue;
		/* The backend has scoped it to the caller already. */
		gw_sse_frame(&b, ev, NULL);
		if (b.oom) {
			gw_buf_reset(&b);
			gw_sse_finish(c, true);
			return;
		}
		gw_sse_queue(c, b.data, b.len, false);
		gw_buf_reset(&b);
		c->pos = ev->revision;
		c->has_pos = true;
	}
	if (!c->has_pos || batch->revision > c->pos) {
		c->pos = batch->revision;
		c->has_pos = true;
	}
}

/* After an answer: live when the ring reaches c, else the next call,
 * now or once the reader has drained half the buffer. more: the answer
 * was full (more changes wait). */
static void
catchup_next(struct gw_sse *c, bool more)
{
	uint32_t wait_ms = 0;

	if (gw_watch_join(c->w, c) != 0)
		return; /* live, or gone */
	pthread_mutex_lock(&c->mu);
	if (c->ended || c->closed) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	if (c->len - c->off > gw_watch_client_buffer(c->w) / 2) {
		c->paused = true;
		pthread_mutex_unlock(&c->mu);
		return;
	}
	/* Caught up with the backend, but the hub has no position (its
	 * upstream is starting again): wait on the backend meanwhile. */
	if (!more) {
		wait_ms = gw_watch_bookmark_ms(c->w);
		if (wait_ms > FS_WATCH_WAIT_MAX_MS)
			wait_ms = FS_WATCH_WAIT_MAX_MS;
	}
	c->fetching = true;
	c->refs++;
	pthread_mutex_unlock(&c->mu);
	catchup_call(c, wait_ms);
}

/* The answer of the first call: the request's (r, suspended) answer. */
static void
first_answer(struct gw_sse *c, struct gw_req *r, int code,
    const Flowsvc__Reply *reply, const Flowsvc__WatchReply *batch)
{
	gw_resp_fini(&r->resp);
	if (code == FS_OUT_OF_RANGE) {
		char detail[GW_JSON_DETAIL_MAX];

		snprintf(detail, sizeof(detail),
		    "Revision %" PRIu64 " is no longer available; list again "
		    "and watch from the list's revision.",
		    c->since);
		gw_api_error(&r->resp, 410, detail);
		gw_api_set_revision(&r->resp, &r->m, reply);
		return;
	}
	if (code != FS_OK) {
		gw_api_render(&r->resp, &r->m, NULL, code, reply);
		return;
	}
	if (!c->head && gw_watch_link(c->w, c) != 0) {
		gw_api_code_error(&r->resp, FS_UNAVAILABLE);
		return;
	}
	r->resp.status = 200;
	r->resp.has_revision = true;
	r->resp.revision = c->has_since ? c->since : batch->revision;
	r->event_stream = true;
}

static void
on_catchup(void *arg, int code, Flowsvc__Reply *reply)
{
	struct gw_sse *c = arg;
	Flowsvc__WatchReply *batch = NULL;
	struct gw_req *r;
	bool more = false, go_on;

	if (code == FS_OK &&
	    (batch = (Flowsvc__WatchReply *) fs_reply_payload(reply,
	         &flowsvc__watch_reply__descriptor)) == NULL)
		code = FS_INTERNAL;
	/* No answer: that backend is left out, and the next call (the
	 * client's, when it resumes) goes to one that answers. */
	if (reply == NULL &&
	    (code == FS_UNAVAILABLE || code == FS_DEADLINE_EXCEEDED) &&
	    c->be != NULL)
		gw_backends_lost(c->h->backends, c->be);
	pthread_mutex_lock(&c->mu);
	/* A replica behind the stream's position (it came from a backend
	 * ahead of it) has not lost it: the client tries again (503 before
	 * the stream starts; else the stream ends and the client resumes
	 * from its Last-Event-ID), rather than being told to list again. */
	if (c->be != NULL && c->has_pos &&
	    gw_backends_watch_behind(c->h->backends, c->be, c->pos, code,
	        reply))
		code = FS_UNAVAILABLE;
	c->fetching = false;
	r = c->req;
	c->req = NULL;
	if (code == FS_OK && !c->ended) {
		catchup_feed(c, batch);
		more = batch->n_events >= CATCHUP_MAX_EVENTS;
	} else if (code != FS_OK && r == NULL && !c->ended) {
		fs_log(FS_LOG_WARN, c->rid,
		    "watch: catching up failed (%s); the stream ends, the "
		    "client resumes from its last event",
		    fs_code_name(code));
		gw_sse_finish(c, false);
	}
	pthread_mutex_unlock(&c->mu);
	if (r != NULL) {
		gw_http *h = c->h;

		first_answer(c, r, code, reply, batch);
		go_on = r->resp.status == 200 && !c->head;
		/* Once resumed, MHD may finish r at any moment. */
		atomic_store(&r->state, RS_READY);
		MHD_resume_connection(r->conn);
		atomic_fetch_sub(&h->calls, 1);
	} else {
		go_on = code == FS_OK;
	}
	if (batch != NULL)
		flowsvc__watch_reply__free_unpacked(batch, NULL);
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	if (go_on)
		catchup_next(c, more);
	pthread_mutex_lock(&c->mu);
	gw_sse_unref(c); /* the call's */
}

/* ---- MHD's side --------------------------------------------------------- */

static ssize_t
sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct gw_sse *c = cls;
	bool fetch = false;
	ssize_t n;

	(void) pos;
	pthread_mutex_lock(&c->mu);
	if (c->len > c->off) {
		size_t k = c->len - c->off;

		if (k > max)
			k = max;
		memcpy(buf, c->buf + c->off, k);
		c->off += k;
		c->sent += k;
		if (c->off == c->len) {
			c->off = c->len = 0;
			if (c->cap > SSE_KEEP_BYTES) {
				free(c->buf);
				c->buf = NULL;
				c->cap = 0;
			}
		}
		if (c->paused && !c->ended &&
		    c->len - c->off <= gw_watch_client_buffer(c->w) / 2) {
			c->paused = false;
			c->fetching = true;
			c->refs++;
			fetch = true;
		}
		n = (ssize_t) k;
	} else if (c->ended) {
		n = c->dropped ? MHD_CONTENT_READER_END_WITH_ERROR
		               : MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		/* Suspended under mu, so whoever appends next (and takes mu
		 * first) resumes it only after this. */
		c->waiting = true;
		MHD_suspend_connection(c->conn);
		n = 0;
	}
	pthread_mutex_unlock(&c->mu);
	if (fetch)
		catchup_call(c, 0);
	return n;
}

/* MHD is done with the stream's response. */
static void
sse_read_free(void *cls)
{
	struct gw_sse *c = cls;

	gw_watch_unlink(c->w, c);
	pthread_mutex_lock(&c->mu);
	gw_sse_unref(c);
}

/* ---- the request's side ------------------------------------------------- */

/* How long an SSE connection may go without traffic: longer than the
 * bookmark interval, so only a client whose socket is stuck times out;
 * 0 (never) stays 0. */
static unsigned
sse_timeout_s(const gw_http *h, const gw_watch *w)
{
	unsigned t = h->cfg.conn_timeout_s;
	unsigned need = gw_watch_bookmark_ms(w) / 1000u * 2u + 2u;

	return t == 0 || t >= need ? t : need;
}

static struct gw_sse *
sse_new(struct gw_req *r, Flowsvc__Kind kind, const char *group)
{
	struct gw_sse *c = calloc(1, sizeof(*c));
	const union MHD_ConnectionInfo *ci;

	if (c == NULL)
		return NULL;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return NULL;
	}
	c->w = r->h->watch;
	c->h = r->h;
	c->conn = r->conn;
	ci = MHD_get_connection_info(r->conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	c->fd = ci != NULL ? (int) ci->connect_fd : -1;
	snprintf(c->rid, sizeof(c->rid), "%s", r->rid);
	c->kind = kind;
	c->refs = 1; /* the request's */
	if ((group != NULL && (c->group = strdup(group)) == NULL) ||
	    copy_caller(c, r->grant != NULL ? r->grant->caller : NULL) != 0) {
		c->refs = 0;
		free(c->group);
		for (size_t i = 0; i < c->caller.n_groups; i++)
			free(c->caller.groups[i]);
		free(c->caller.groups);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return NULL;
	}
	return c;
}

bool
gw_sse_begin(struct gw_req *r)
{
	gw_http *h = r->h;
	gw_watch *w = h->watch;
	bool has_since;
	uint64_t since = 0, start = 0;
	Flowsvc__Kind kind;
	const char *group;
	struct gw_sse *c;
	int rv;

	gw_resp_fini(&r->resp);
	if (parse(r, &has_since, &since, &kind, &group) != 0) {
		atomic_store(&r->state, RS_READY);
		return false;
	}
	if (w == NULL || atomic_load(&h->closing) || gw_watch_admit(w) != 0) {
		gw_api_code_error(&r->resp, FS_UNAVAILABLE);
		atomic_store(&r->state, RS_READY);
		return false;
	}
	if ((c = sse_new(r, kind, group)) == NULL) {
		gw_watch_release(w);
		gw_api_code_error(&r->resp, FS_INTERNAL);
		atomic_store(&r->state, RS_READY);
		return false;
	}
	r->sse = c;
	c->has_since = has_since;
	c->since = since;
	/* HEAD: what GET would answer (410, 503, ...), without a stream, so
	 * it always asks the backend. */
	c->head = strcmp(r->method, "HEAD") == 0;
	pthread_mutex_lock(&c->mu);
	gw_sse_queue(c, sse_hello, sizeof(sse_hello) - 1, false);
	pthread_mutex_unlock(&c->mu);
	(void) MHD_set_connection_option(r->conn,
	    MHD_CONNECTION_OPTION_TIMEOUT, sse_timeout_s(h, w));

	rv = c->head ? 0 : gw_watch_attach(w, c, has_since, since, &start);
	if (rv < 0) {
		gw_api_code_error(&r->resp, FS_UNAVAILABLE);
		atomic_store(&r->state, RS_READY);
		return false;
	}
	if (rv > 0) {
		r->resp.status = 200;
		r->resp.has_revision = true;
		r->resp.revision = start;
		r->event_stream = true;
		atomic_store(&r->state, RS_READY);
		return false;
	}
	/* The ring does not hold the start: ask the backend, before the
	 * stream starts (a start it no longer has answers 410). */
	pthread_mutex_lock(&c->mu);
	c->has_pos = has_since;
	c->pos = since;
	c->req = r;
	c->fetching = true;
	c->refs++;
	pthread_mutex_unlock(&c->mu);
	atomic_store(&r->state, RS_WAITING);
	MHD_suspend_connection(r->conn);
	catchup_call(c, 0);
	return true;
}

struct MHD_Response *
gw_sse_response(struct gw_req *r)
{
	struct gw_sse *c = r->sse;
	struct MHD_Response *resp;

	if (c == NULL || r->resp.status != 200 || c->head)
		return NULL;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK,
	    sse_read, c, sse_read_free);
	if (resp == NULL)
		return NULL;
	pthread_mutex_lock(&c->mu);
	c->refs++; /* the response's, dropped by sse_read_free */
	pthread_mutex_unlock(&c->mu);
	return resp;
}

void
gw_sse_end(struct gw_req *r)
{
	struct gw_sse *c = r->sse;

	if (c == NULL)
		return;
	r->sse = NULL;
	pthread_mutex_lock(&c->mu);
	c->closed = true;
	r->bytes_sent = c->sent;
	pthread_mutex_unlock(&c->mu);
	gw_watch_unlink(c->w, c);
	pthread_mutex_lock(&c->mu);
	gw_sse_unref(c);
}
