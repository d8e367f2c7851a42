/*
 * gw_list.c - lists streamed page by page (see gw_list.h).
 */
#include "gw_list.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "gw_json.h"
#include "gw_metrics.h"

/* libmicrohttpd asks the content reader for at most this much at once
 * (less when its connection buffer is smaller). */
#define GW_LIST_BLOCK (64u * 1024u)

/* A list being streamed. */
struct gw_stream {
	pthread_mutex_t mu;
	gw_http *h;
	gw_backend *be; /* the backend whose view the pages read */
	struct MHD_Connection *conn;
	/* The request's and the response's references, and one while a
	 * page is in flight. */
	int refs;
	/* What MHD takes bytes from, and the page after it once rendered. */
	char *cur;
	size_t cur_len, cur_off;
	char *next;
	size_t next_len;
	char *token;      /* of the page to ask for next; NULL: none left */
	bool fetching;    /* a page asked for and not rendered yet */
	bool waiting;     /* the reader suspended the connection for it */
	bool failed;      /* a page could not be had: end broken */
	size_t sent;      /* bytes handed to MHD */
	uint64_t emitted; /* components rendered (by one thread at a time) */
	/* The request, for each page: the first one's fields, so the
	 * backend's view answers it (its key includes them). */
	Flowsvc__ListRequest req;
	Flowsvc__Caller caller;
	bool has_caller;
	char rid[RID_MAX + 1];
	/* A page's reply on its way to the worker. */
	gw_job job;
	int rpc_code;
	Flowsvc__Reply *rpc_reply;
};

/* What a list request keeps from its start to its end (r->list). */
struct gw_list {
	bool head;
	char *query; /* the other parameters, for Link */
	bool has_limit;
	uint64_t limit, offset;
	char *name, *group; /* the filters (copies), for later pages */
	/* The stream, when the list streams: this request holds one
	 * reference until it completes, MHD's response another. */
	struct gw_stream *stream;
};

/* ---- the stream's life -------------------------------------------------- */

static void
stream_free(struct gw_stream *st)
{
	free(st->cur);
	free(st->next);
	free(st->token);
	free(st->req.name_iexact);
	free(st->req.group_iexact);
	for (size_t i = 0; i < st->caller.n_groups; i++)
		free(st->caller.groups[i]);
	free(st->caller.groups);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

static void
on_closed(void *arg, int code, Flowsvc__Reply *reply)
{
	gw_http *h = arg;

	(void) code;
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	atomic_fetch_sub(&h->calls, 1);
}

/* The stream ends before its last page (the client went away): the
 * backend's view goes now rather than at its idle timeout. Best effort:
 * nothing waits for the answer. token is taken. */
static void
end_view(struct gw_stream *st, char *token)
{
	gw_http *h = st->h;
	Flowsvc__ListRequest m = st->req;
	fs_call_opts o = {st->rid, h->cfg.rpc_timeout_ms,
	    st->has_caller ? &st->caller : NULL, 0};

	m.page_token = token;
	m.has_page_size = 1;
	m.page_size = 0;
	atomic_fetch_add(&h->starting, 1);
	if (!atomic_load(&h->closing)) {
		atomic_fetch_add(&h->calls, 1);
		if (fs_client_call_async(gw_backend_client(st->be),
		        FLOWSVC__METHOD__LIST, &m.base, &o, on_closed, h) != 0)
			atomic_fetch_sub(&h->calls, 1);
	}
	atomic_fetch_sub(&h->starting, 1);
	free(token);
}

/* Drops one reference (mu held, released here); the last frees st,
 * ending the backend's view first if the list did not reach its end
 * (its client went away, or the response could not be made). */
static void
stream_unref(struct gw_stream *st)
{
	bool last = --st->refs == 0;
	char *token = NULL;

	if (last && !st->failed) {
		token = st->token;
		st->token = NULL;
	}
	pthread_mutex_unlock(&st->mu);
	if (!last)
		return;
	if (token != NULL)
		end_view(st, token);
	stream_free(st);
}

/* ---- pages -------------------------------------------------------------- */

/* Unpacking a page allocates every string and array of thousands of
 * components; from one block, freed at once, that costs a third less
 * than as many mallocs and frees. What does not fit the block is
 * malloc'd. */
struct arena {
	char *base;
	size_t used, cap;
};

static void *
arena_alloc(void *arg, size_t n)
{
	struct arena *a = arg;

	n = (n + 15) & ~(size_t) 15;
	if (a->base != NULL && n <= a->cap - a->used) {
		void *p = a->base + a->used;
		a->used += n;
		return p;
	}
	return malloc(n);
}

static void
arena_free(void *arg, void *p)
{
	struct arena *a = arg;

	if (a->base == NULL || (char *) p < a->base ||
	    (char *) p >= a->base + a->cap)
		free(p);
}

/* The ListReply of reply (OK), unpacked into a (freed with arena_done),
 * or NULL. */
static Flowsvc__ListReply *
unpack_page(const Flowsvc__Reply *reply, struct arena *a,
    ProtobufCAllocator *al)
{
	if (reply == NULL || !reply->has_payload)
		return NULL;
	/* About what the unpacked page takes: the strings once more, and
	 * the structures and arrays around them. */
	a->cap = reply->payload.len * 3 + 65536;
	a->used = 0;
	a->base = malloc(a->cap);
	al->alloc = arena_alloc;
	al->free = arena_free;
	al->allocator_data = a;
	return flowsvc__list_reply__unpack(al, reply->payload.len,
	    reply->payload.data);
}

static void
arena_done(Flowsvc__ListReply *l, struct arena *a, ProtobufCAllocator *al)
{
	if (l != NULL)
		flowsvc__list_reply__free_unpacked(l, al);
	free(a->base);
}

static void on_page(void *arg, int code, Flowsvc__Reply *reply);

/* Asks for the page of token (taken); st->fetching is set and its
 * reference taken. Not with mu held: the completion may run before the
 * call returns. */
static void
fetch(struct gw_stream *st, char *token)
{
	gw_http *h = st->h;
	Flowsvc__ListRequest m = st->req;
	fs_call_opts o = {st->rid, h->cfg.rpc_timeout_ms,
	    st->has_caller ? &st->caller : NULL, 0};
	int rv = FS_UNAVAILABLE;

	m.page_token = token;
	m.has_page_size = 1;
	m.page_size = GW_LIST_PAGE;
	/* The gate of gw_http_drain: no call starts on a client that is
	 * being closed. A page is part of a request already admitted, so
	 * it is not held to max_inflight. */
	atomic_fetch_add(&h->starting, 1);
	if (!atomic_load(&h->closing)) {
		atomic_fetch_add(&h->calls, 1);
		rv = fs_client_call_async(gw_backend_client(st->be),
		    FLOWSVC__METHOD__LIST, &m.base, &o, on_page, st);
		if (rv != 0)
			atomic_fetch_sub(&h->calls, 1);
	}
	atomic_fetch_sub(&h->starting, 1);
	free(token);
	if (rv != 0) {
		atomic_fetch_add(&h->calls, 1); /* on_page's to give back */
		on_page(st, rv, NULL);
	}
}

/* Renders a page's reply (on the worker, or inline without one), hands
 * it to the reader and resumes the connection if it waits. */
static void
page_done(struct gw_stream *st, int code, Flowsvc__Reply *reply)
{
	gw_http *h = st->h;
	Flowsvc__ListReply *l = NULL;
	ProtobufCAllocator al;
	struct arena a = {NULL, 0, 0};
	gw_buf b = GW_BUF_INIT;
	char *page = NULL, *token = NULL;
	size_t len = 0;
	bool ok = false;

	if (code == FS_OK && (l = unpack_page(reply, &a, &al)) != NULL) {
		bool last = l->next_page_token == NULL;
		gw_api_list_page(&b, l, false, last, &st->emitted);
		if (!last)
			token = strdup(l->next_page_token);
		page = gw_buf_take(&b, &len);
		ok = page != NULL && (last || token != NULL);
	}
	arena_done(l, &a, &al);
	if (!ok) {
		fs_log(FS_LOG_WARN, st->rid,
		    "list stream broken: a later page failed (%s); the "
		    "connection closes without the end of the list",
		    fs_code_name(code == FS_OK ? FS_INTERNAL : code));
		free(page);
		free(token);
		page = token = NULL;
	}
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);

	pthread_mutex_lock(&st->mu);
	st->fetching = false;
	st->failed = st->failed || !ok;
	st->next = page;
	st->next_len = len;
	st->token = token;
	bool resume = st->waiting;
	st->waiting = false;
	/* The connection is suspended while it waits, so MHD cannot have
	 * dropped the response meanwhile: resuming it is safe. */
	if (resume)
		MHD_resume_connection(st->conn);
	stream_unref(st);
	atomic_fetch_sub(&h->calls, 1);
}

static void
page_run(gw_job *job)
{
	struct gw_stream *st = (struct gw_stream *) ((char *) job -
	    offsetof(struct gw_stream, job));

	page_done(st, st->rpc_code, st->rpc_reply);
}

/* On an nng thread: to the worker (see gw_list.h). */
static void
on_page(void *arg, int code, Flowsvc__Reply *reply)
{
	struct gw_stream *st = arg;
	gw_http *h = st->h;

	gw_metrics_rpc(h->metrics, code, reply != NULL);
	if (h->bodies != NULL && reply != NULL) {
		st->rpc_code = code;
		st->rpc_reply = reply;
		st->job.run = page_run;
		gw_worker_push(h->bodies, &st->job);
		return;
	}
	page_done(st, code, reply);
}

/* ---- MHD's side --------------------------------------------------------- */

/* MHD's content reader, on the connection's thread: bytes of the current
 * page; the next page once it is taken; the end. */
static ssize_t
reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct gw_stream *st = cls;
	ssize_t n;
	char *token = NULL;

	(void) pos;
	pthread_mutex_lock(&st->mu);
	for (;;) {
		if (st->cur_off < st->cur_len) {
			size_t k = st->cur_len - st->cur_off;
			if (k > max)
				k = max;
			memcpy(buf, st->cur + st->cur_off, k);
			st->cur_off += k;
			st->sent += k;
			n = (ssize_t) k;
			break;
		}
		free(st->cur);
		st->cur = NULL;
		st->cur_len = st->cur_off = 0;
		if (st->next != NULL) {
			st->cur = st->next;
			st->cur_len = st->next_len;
			st->next = NULL;
			continue;
		}
		if (st->failed) {
			n = MHD_CONTENT_READER_END_WITH_ERROR;
			break;
		}
		if (!st->fetching && st->token == NULL) {
			n = MHD_CONTENT_READER_END_OF_STREAM; /* "]" was sent */
			break;
		}
		if (!st->fetching) {
			token = st->token;
			st->token = NULL;
			st->fetching = true;
			st->refs++;
			pthread_mutex_unlock(&st->mu);
			fetch(st, token);
			token = NULL;
			pthread_mutex_lock(&st->mu);
			continue;
		}
		/* Nothing to send until the page in flight is rendered:
		 * suspended under the mutex, so its completion (which takes
		 * the mutex) resumes only after this. */
		st->waiting = true;
		MHD_suspend_connection(st->conn);
		n = 0;
		break;
	}
	/* The next page is asked for as soon as MHD takes bytes from this
	 * one: one page in the gateway ahead of the client, never more. */
	if (n > 0 && st->next == NULL && !st->fetching && st->token != NULL &&
	    !st->failed) {
		token = st->token;
		st->token = NULL;
		st->fetching = true;
		st->refs++;
	}
	pthread_mutex_unlock(&st->mu);
	if (token != NULL)
		fetch(st, token);
	return n;
}

/* MHD is done with the response (sent, or the connection closed). */
static void
reader_free(void *cls)
{
	struct gw_stream *st = cls;

	pthread_mutex_lock(&st->mu);
	stream_unref(st);
}

/* A HEAD's body: never asked for. */
static ssize_t
reader_none(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void) cls;
	(void) pos;
	(void) buf;
	(void) max;
	return MHD_CONTENT_READER_END_OF_STREAM;
}

/* ---- the request's side ------------------------------------------------- */

static enum MHD_Result
collect_other(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	gw_buf *b = cls;

	(void) kind;
	if (strcmp(key, "limit") != 0 && strcmp(key, "offset") != 0)
		gw_api_query_param(b, key, value);
	return MHD_YES;
}

int
gw_list_begin(struct gw_req *r, struct gw_query *q)
{
	struct gw_list *l = calloc(1, sizeof(*l));
	gw_buf b = GW_BUF_INIT;
	size_t len;

	if (l == NULL)
		return -1;
	r->list = l;
	l->head = strcmp(r->method, "HEAD") == 0;
	q->has_page_size = true;
	q->page_size = GW_LIST_FIRST_PAGE;
	if (q->limit != NULL) {
		if (MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND,
		        collect_other, &b) < 0 ||
		    b.oom)
			return -1;
		l->query = gw_buf_take(&b, &len); /* NULL: none */
	}
	return 0;
}

int
gw_list_sent(struct gw_req *r, const Flowsvc__ListRequest *m)
{
	struct gw_list *l = r->list;

	if (l == NULL)
		return 0;
	l->has_limit = m->has_limit;
	l->limit = m->limit;
	l->offset = m->has_offset ? m->offset : 0;
	if ((m->name_iexact != NULL &&
	        (l->name = strdup(m->name_iexact)) == NULL) ||
	    (m->group_iexact != NULL &&
	        (l->group = strdup(m->group_iexact)) == NULL))
		return -1;
	return 0;
}

/* A copy of who for the stream's later pages. Returns 0 or -1. */
static int
copy_caller(struct gw_stream *st, const Flowsvc__Caller *who)
{
	flowsvc__caller__init(&st->caller);
	if (who == NULL)
		return 0;
	st->has_caller = true;
	st->caller.has_restricted = who->has_restricted;
	st->caller.restricted = who->restricted;
	if (who->n_groups == 0)
		return 0;
	if ((st->caller.groups = calloc(who->n_groups, sizeof(char *))) ==
	    NULL)
		return -1;
	for (size_t i = 0; i < who->n_groups; i++, st->caller.n_groups++)
		if ((st->caller.groups[i] = strdup(who->groups[i])) == NULL)
			return -1;
	return 0;
}

/* The stream of r's list, with the first page rendered (page, taken) and
 * the token of the next; NULL when out of memory (page is freed). */
static struct gw_stream *
stream_new(struct gw_req *r, char *page, size_t len, const char *token,
    uint64_t emitted)
{
	struct gw_stream *st = calloc(1, sizeof(*st));
	const struct gw_list *l = r->list;

	if (st == NULL || pthread_mutex_init(&st->mu, NULL) != 0) {
		free(st);
		free(page);
		return NULL;
	}
	st->h = r->h;
	st->be = r->be;
	st->conn = r->conn;
	st->refs = 1; /* the request's; the response takes its own */
	st->cur = page;
	st->cur_len = len;
	st->emitted = emitted;
	snprintf(st->rid, sizeof(st->rid), "%s", r->rid);
	flowsvc__list_request__init(&st->req);
	st->req.has_kind = 1;
	st->req.kind = r->m.kind;
	st->req.has_limit = l->has_limit;
	st->req.limit = l->limit;
	st->req.has_offset = l->offset != 0;
	st->req.offset = l->offset;
	if ((st->token = strdup(token)) == NULL ||
	    (l->name != NULL &&
	        (st->req.name_iexact = strdup(l->name)) == NULL) ||
	    (l->group != NULL &&
	        (st->req.group_iexact = strdup(l->group)) == NULL) ||
	    copy_caller(st, r->grant != NULL ? r->grant->caller : NULL) != 0) {
		stream_free(st);
		return NULL;
	}
	return st;
}

void
gw_list_first(struct gw_req *r, const Flowsvc__Reply *reply)
{
	struct gw_list *lst = r->list;
	Flowsvc__ListReply *l = (Flowsvc__ListReply *) fs_reply_payload(reply,
	    &flowsvc__list_reply__descriptor);
	gw_buf b = GW_BUF_INIT;
	uint64_t emitted = 0;

	gw_resp_fini(&r->resp);
	if (l == NULL || lst == NULL) {
		gw_api_code_error(&r->resp, FS_INTERNAL);
		if (l != NULL)
			flowsvc__list_reply__free_unpacked(l, NULL);
		return;
	}
	bool more = l->next_page_token != NULL;
	gw_api_list_page(&b, l, true, !more, &emitted);
	r->resp.has_total = true;
	r->resp.total = l->has_total_count ? l->total_count : emitted;
	r->resp.has_revision = l->has_revision;
	r->resp.revision = l->revision;
	if (lst->has_limit) {
		const struct gw_route_info *ri = gw_route_info(r->m.route);
		r->resp.link = gw_api_list_link(ri->path, lst->query,
		    lst->limit, lst->offset, r->resp.total);
	}
	r->resp.status = 200;
	if (!more) {
		r->resp.body = gw_buf_take(&b, &r->resp.len);
		if (r->resp.body == NULL)
			gw_api_code_error(&r->resp, FS_INTERNAL);
	} else {
		size_t len;
		char *page = gw_buf_take(&b, &len);
		if (page == NULL ||
		    (lst->stream = stream_new(r, page, len, l->next_page_token,
		         emitted)) == NULL)
			gw_api_code_error(&r->resp, FS_INTERNAL);
	}
	flowsvc__list_reply__free_unpacked(l, NULL);
}

struct MHD_Response *
gw_list_response(struct gw_req *r)
{
	struct gw_list *l = r->list;
	struct MHD_Response *resp;

	if (l == NULL || r->resp.status != 200)
		return NULL;
	if (l->stream == NULL)
		return NULL; /* one page: the buffer, with its Content-Length */
	/* HEAD: as GET would answer, but for the body, which HEAD never
	 * reads: the view ends with the request (gw_list_end). */
	resp = l->head ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
	                     GW_LIST_BLOCK, reader_none, NULL, NULL)
	               : MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
	                     GW_LIST_BLOCK, reader, l->stream, reader_free);
	if (resp == NULL) {
		gw_resp_fini(&r->resp);
		gw_api_code_error(&r->resp, FS_INTERNAL);
		return NULL;
	}
	if (l->head) {
		/* libmicrohttpd 0.9.75 sends the chunked terminator "0\r\n\r\n"
		 * after the headers of a HEAD answer of unknown size, which a
		 * client on the same connection would read as the start of
		 * its next answer: this connection ends with this answer. */
		r->close_after = true;
		return resp;
	}
	pthread_mutex_lock(&l->stream->mu);
	l->stream->refs++; /* the response's, dropped by reader_free */
	pthread_mutex_unlock(&l->stream->mu);
	return resp;
}

enum MHD_Result
gw_list_headers(const struct gw_req *r, struct MHD_Response *resp)
{
	char v[24];

	if (r->resp.has_total) {
		snprintf(v, sizeof(v), "%" PRIu64, r->resp.total);
		if (MHD_add_response_header(resp, "X-Total-Count", v) ==
		    MHD_NO)
			return MHD_NO;
	}
	if (r->resp.link != NULL &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_LINK,
	        r->resp.link) == MHD_NO)
		return MHD_NO;
	return MHD_YES;
}

void
gw_list_end(struct gw_req *r)
{
	struct gw_list *l = r->list;

	if (l == NULL)
		return;
	if (l->stream != NULL) {
		pthread_mutex_lock(&l->stream->mu);
		r->bytes_sent = l->stream->sent;
		stream_unref(l->stream); /* unlocks */
	}
	free(l->query);
	free(l->name);
	free(l->group);
	free(l);
	r->list = NULL;
}
