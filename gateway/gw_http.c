/*
 * gw_http.c - libmicrohttpd server: bodies, limits, suspend/resume, and the
 * hand-off between MHD threads and nng completion threads.
 *
 * A request's state (struct gw_req) moves READING -> WAITING -> READY ->
 * SENT. Only the thread that runs MHD's handler for the connection touches
 * it, except in WAITING: then the connection is suspended and the RPC
 * completion owns it until it stores READY and resumes the connection.
 * The connection is suspended *before* the call is sent, so a completion
 * that runs before fs_client_call_async returns still finds it suspended.
 *
 * A large body is parsed off the MHD threads: each MHD thread serves many
 * connections, and jansson takes tens of milliseconds over 1 MiB of small
 * keys, which every other connection of that thread would wait for. Such
 * a request is suspended and handed to the body worker (WAITING), which
 * maps it and sends the RPC, or answers it, and resumes it.
 */
#include "gw_http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "fs_errors.h"
#include "fs_util.h"
#include "gw_api.h"
#include "gw_auth.h"
#include "gw_json.h"
#include "gw_list.h"
#include "gw_openapi.h"
#include "gw_routes.h"
#include "gw_sse.h"
#include "gw_watch.h"
#include "gw_worker.h"

/* /metrics asks the backend whether it is up; a scrape should not hang for
 * a full RPC timeout when it is not. */
#define METRICS_HEALTH_TIMEOUT_MS 1000u
/* libmicrohttpd's log lines a second (see on_mhd_log). */
#define MHD_LOG_PER_SEC 10
/* Bodies from this size on are parsed by the body worker (about 1 ms of
 * jansson on this machine); the ones a client normally sends are far
 * smaller, and stay on the fast path. */
#define BIG_BODY_BYTES (32u * 1024u)
/* Replies from this size on are rendered by the same worker (a list of a
 * few hundred flows and up). */
#define BIG_REPLY_BYTES (256u * 1024u)

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload, size_t *upload_size, void **con_cls);
static void on_completed(void *cls, struct MHD_Connection *conn,
    void **con_cls, enum MHD_RequestTerminationCode toe);
static void on_rpc_done(void *arg, int code, Flowsvc__Reply *reply);

/* Queues r->resp. Called on a later handler call than the first, except for
 * an early 413. */
static enum MHD_Result
respond(struct gw_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	int status = r->resp.status ? r->resp.status : 500;

	/* A list streamed page by page, or a list's HEAD (gw_list.h); a
	 * watch's stream (gw_sse.h). */
	if ((resp = gw_list_response(r)) != NULL)
		;
	else if ((resp = gw_sse_response(r)) != NULL)
		;
	else if (r->resp.body != NULL)
		resp = MHD_create_response_from_buffer(r->resp.len,
		    r->resp.body, MHD_RESPMEM_MUST_FREE);
	else
		resp = MHD_create_response_from_buffer(0, NULL,
		    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO; /* r->resp.body stays ours, freed at the end */
	status = r->resp.status ? r->resp.status : 500;
	r->bytes_sent = r->resp.body != NULL ? r->resp.len : 0;
	r->resp.body = NULL; /* MHD frees it with the response */

	/* A streamed list (or its HEAD) has a body MHD reads later. */
	if (gw_http_add_headers(r, resp, status,
	        r->bytes_sent > 0 || (r->list != NULL && status == 200)) !=
	        0 ||
	    gw_list_headers(r, resp) == MHD_NO) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(r->conn, (unsigned) status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES) {
		r->status_sent = status;
		atomic_store(&r->state, RS_SENT);
	}
	return ret;
}

static void
set_error(struct gw_req *r, int status, const char *detail)
{
	gw_resp_fini(&r->resp);
	gw_api_error(&r->resp, status, detail);
	atomic_store(&r->state, RS_READY);
}

/* r answers with a REST error of fs_errors.h (its %s completed with
 * arg), or with the answer an RPC code stands for. */
static void
set_rest(struct gw_req *r, enum fs_rest_error e, const char *arg)
{
	gw_resp_fini(&r->resp);
	gw_api_rest_error_arg(&r->resp, e, arg);
	atomic_store(&r->state, RS_READY);
}

static void
set_code(struct gw_req *r, int code)
{
	gw_resp_fini(&r->resp);
	gw_api_code_error(&r->resp, code);
	atomic_store(&r->state, RS_READY);
}

/* A 200 the gateway answers by itself, with a copy of body (MHD frees the
 * response body it is given). */
static void
set_local(struct gw_req *r, const char *body, size_t len)
{
	gw_resp_fini(&r->resp);
	if ((r->resp.body = malloc(len)) == NULL) {
		gw_api_code_error(&r->resp, FS_INTERNAL);
	} else {
		memcpy(r->resp.body, body, len);
		r->resp.len = len;
		r->resp.status = 200;
	}
	atomic_store(&r->state, RS_READY);
}

/* Whether a request needs a token when the gateway has tokens: everything
 * under /api/ (unknown paths included, so that they answer 401 rather than
 * tell what exists) but OPTIONS, never the operations endpoints nor the
 * API's description, which is as public as the repository it comes
 * from. */
static bool
needs_token(const char *url, const struct gw_match *m)
{
	/* OPTIONS says only what the document says (and a browser's
	 * preflight never carries credentials). */
	if (m->action == GW_ACT_OPTIONS)
		return false;
	switch (m->route) {
	case GW_ROUTE_HEALTHZ:
	case GW_ROUTE_READYZ:
	case GW_ROUTE_METRICS:
	case GW_ROUTE_OPENAPI:
		return false;
	case GW_ROUTE_UNKNOWN:
		return strncmp(url, "/api", 4) == 0 &&
		    (url[4] == '/' || url[4] == '\0');
	default:
		return true;
	}
}

static enum MHD_Result
req_begin(struct gw_req *r, const char *url, const char *method)
{
	gw_http *h = r->h;
	struct MHD_Connection *conn = r->conn;
	const char *cl, *framing = NULL;
	int refuse;

	r->begun = true;
	r->method = method;
	/* Decoded, a refused target may hold a newline: never logged. */
	r->url = r->target_refused ? "(refused target)" : url;
	r->start_us = gw_http_mono_us();
	gw_metrics_begin(h->metrics);

	gw_http_request_id(conn, r->rid);
	r->acao = gw_cors_allow(h->cfg.cors,
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"));
	/* A refused target routes nowhere, as the empty path does: 404. */
	gw_route_match(method, r->target_refused ? "" : url, &r->m);
	if (r->m.id != NULL && (r->id = strndup(r->m.id, r->m.id_len)) == NULL)
		return MHD_NO;
	refuse = gw_http_check_head(h, r, method, url, &framing);
	r->auth = GW_AUTH_OK;
	r->grant = NULL; /* every group */
	if (h->cfg.auth != NULL && needs_token(url, &r->m)) {
		r->tokens = gw_auth_acquire(h->cfg.auth);
		r->auth = gw_tokens_check(r->tokens,
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		        MHD_HTTP_HEADER_AUTHORIZATION),
		    &r->grant);
	}

	if (refuse == 431) {
		/* Answered on this first call, so MHD closes the connection:
		 * a client that sends this much is not one to keep. */
		set_rest(r, FS_REST_HEADERS_TOO_LARGE, NULL);
		return respond(r);
	}
	if (refuse == 400) {
		/* Where this request ends, and so where the next one would
		 * start, is in doubt: answer and close, whether or not MHD
		 * thinks a body follows. */
		r->close_after = true;
		set_error(r, 400, framing);
		return respond(r);
	}
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(cl, &end, 10);
		if (errno == ERANGE || n > h->cfg.max_body) {
			/* The one response queued on the first call: the
			 * body is never read and MHD closes the connection,
			 * which is what a client sending too much needs. */
			r->too_big = true;
			set_rest(r, FS_REST_BODY_TOO_LARGE, NULL);
			return respond(r);
		}
	}
	return MHD_YES;
}

/* Takes one piece of the upload. Only create and update keep their body;
 * past max_body nothing more is kept and the request ends in 413. */
static void
req_take_body(struct gw_req *r, const char *data, size_t n)
{
	size_t max = r->h->cfg.max_body;

	r->body_seen += n;
	if (r->too_big || r->body_seen > max || r->body_seen < n) {
		r->too_big = true;
		free(r->body);
		r->body = NULL;
		r->body_len = r->body_cap = 0;
		return;
	}
	/* An unauthenticated or refused body is counted (for 413) but never
	 * kept. */
	if ((r->m.action != GW_ACT_CREATE && r->m.action != GW_ACT_UPDATE) ||
	    r->auth != GW_AUTH_OK || r->limited)
		return;
	if (r->body_len + n > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 1024;
		char *p;

		while (cap < r->body_len + n)
			cap *= 2;
		if (cap > max)
			cap = max;
		if ((p = realloc(r->body, cap)) == NULL) {
			r->too_big = true; /* treated as too large to hold */
			free(r->body);
			r->body = NULL;
			r->body_len = r->body_cap = 0;
			return;
		}
		r->body = p;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
}

static enum MHD_Result
collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct gw_query *q = cls;
	const char *v = value ? value : ""; /* "?name__iexact" is present */
	/* An empty filter value is no filter, as in django-filter. */
	const char *filter = *v != '\0' ? v : NULL;

	(void) kind;
	/* Repeated parameters: the last one wins, as in Django's QueryDict. */
	if (strcmp(key, "name__iexact") == 0)
		q->name_iexact = filter;
	else if (strcmp(key, "group__iexact") == 0)
		q->group_iexact = filter;
	else if (strcmp(key, "limit") == 0)
		q->limit = v;
	else if (strcmp(key, "offset") == 0)
		q->offset = v;
	return MHD_YES;
}

static void
render_metrics(struct gw_req *r, const Flowsvc__Reply *reply)
{
	gw_buf b = GW_BUF_INIT;
	Flowsvc__StatsReply *st = NULL;

	if (reply != NULL && reply->code == FLOWSVC__CODE__OK)
		st = (Flowsvc__StatsReply *) fs_reply_payload(reply,
		    &flowsvc__stats_reply__descriptor);
	gw_metrics_render(r->h->metrics, &b);
	gw_watch_render_metrics(r->h->watch, &b);
	gw_backends_render_metrics(r->h->backends, &b);
	gw_metrics_render_backend(&b, st);
	if (st != NULL)
		flowsvc__stats_reply__free_unpacked(st, NULL);
	gw_resp_fini(&r->resp);
	r->resp.status = 200;
	r->resp.body = gw_buf_take(&b, &r->resp.len);
	if (r->resp.body == NULL)
		r->resp.status = 500;
	r->text_plain = r->resp.status == 200;
}

/* Logs a backend failure, at most one line per second plus a count of the
 * ones left out: a down backend must not flood the log. */
static void
warn_backend(gw_http *h, const struct gw_req *r, int code)
{
	int left_out = fs_log_limit_take(&h->warn_limit);

	if (left_out < 0)
		return;
	fs_log(FS_LOG_WARN, r->rid,
	    "backend call for %s %s failed: %s (%d similar lines suppressed)",
	    r->method, r->url, fs_code_name(code), left_out);
}

/* Completion of the RPC, on an nng thread. Everything is done to r before
 * the resume: once resumed, MHD may finish and free it at any moment. */
/* Renders r's answer from the RPC's outcome and resumes it. */
static void
finish_rpc(struct gw_req *r, int code, Flowsvc__Reply *reply)
{
	gw_http *h = r->h;
	struct MHD_Connection *conn = r->conn;

	if (r->m.action == GW_ACT_METRICS) {
		render_metrics(r, reply);
	} else {
		gw_resp_fini(&r->resp);
		if (r->m.action == GW_ACT_LIST && code == FS_OK &&
		    reply != NULL)
			gw_list_first(r, reply); /* maybe a stream */
		else
			gw_api_render(&r->resp, &r->m, &r->ctx, code, reply);
		if (reply == NULL || r->resp.status >= 500)
			warn_backend(h, r, code);
	}
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	atomic_store(&r->state, RS_READY);
	MHD_resume_connection(conn);
	atomic_fetch_sub(&h->calls, 1);
}

/* On the worker: a large reply's rendering (see on_rpc_done). */
static void
render_run(gw_job *job)
{
	struct gw_req *r =
	    (struct gw_req *) ((char *) job - offsetof(struct gw_req, job));

	finish_rpc(r, r->rpc_code, r->rpc_reply);
}

/* Runs on an nng thread. A large reply (a long list) is rendered by the
 * worker instead: nng's few threads also read the backend's connection,
 * and a connection whose replies sit unread for long is closed by the
 * backend, failing every call on it. */
static void
on_rpc_done(void *arg, int code, Flowsvc__Reply *reply)
{
	struct gw_req *r = arg;
	gw_http *h = r->h;

	gw_backends_done(h->backends, r->be, code, reply);
	gw_metrics_rpc(h->metrics, code, reply != NULL);
	if (h->bodies != NULL && reply != NULL && reply->has_payload &&
	    reply->payload.len >= BIG_REPLY_BYTES) {
		r->rpc_code = code;
		r->rpc_reply = reply;
		r->job.run = render_run;
		gw_worker_push(h->bodies, &r->job);
		return;
	}
	finish_rpc(r, code, reply);
}

static bool
req_send(struct gw_req *r, const struct gw_query *q, bool suspended);

/* On the body worker: maps r (suspended, WAITING) and sends its RPC, or
 * answers it, and resumes it. */
static void
big_run(gw_job *job)
{
	struct gw_req *r =
	    (struct gw_req *) ((char *) job - offsetof(struct gw_req, job));
	gw_http *h = r->h;

	if (!req_send(r, NULL, true)) {
		/* Answered here: READY. Once resumed, MHD may free r. */
		MHD_resume_connection(r->conn);
	}
	atomic_fetch_sub(&h->starting, 1);
}

/* Hands r (complete, with a large body) to the body worker: suspended and
 * WAITING until the worker has sent its RPC or answered it. Counted in
 * `starting` until then, so a drain waits for it. Returns false when there
 * is no worker (r is then served here). */
static bool
big_queue(struct gw_req *r)
{
	gw_http *h = r->h;

	if (h->bodies == NULL)
		return false;
	atomic_fetch_add(&h->starting, 1);
	atomic_store(&r->state, RS_WAITING);
	MHD_suspend_connection(r->conn);
	r->job.run = big_run;
	gw_worker_push(h->bodies, &r->job);
	return true;
}

/* The upload is complete: answer locally (returns false, r is READY) or
 * start the RPC (returns true: the connection is suspended, and resumed
 * once r is READY). */
static bool
req_dispatch(struct gw_req *r)
{
	struct gw_query q = {NULL, NULL, NULL, NULL, false, 0};

	if (r->too_big) {
		set_rest(r, FS_REST_BODY_TOO_LARGE, NULL);
		return false;
	}
	if (r->limited) {
		set_rest(r, r->limit, NULL);
		return false;
	}
	if (r->auth == GW_AUTH_MISSING) {
		set_code(r, FS_UNAUTHENTICATED);
		return false;
	}
	if (r->auth != GW_AUTH_OK) {
		set_rest(r, FS_REST_BAD_TOKEN, NULL);
		return false;
	}
	if (r->m.http_status == 404) {
		set_code(r, FS_NOT_FOUND);
		return false;
	}
	if (r->m.http_status == 405) {
		set_rest(r, FS_REST_METHOD_NOT_ALLOWED, r->method);
		return false;
	}
	if (r->m.action == GW_ACT_HEALTHZ) {
		set_local(r, "{\"status\":\"ok\"}", 15);
		return false;
	}
	if (r->m.action == GW_ACT_OPENAPI) {
		set_local(r, gw_openapi_json, gw_openapi_json_len);
		return false;
	}
	if (r->m.action == GW_ACT_OPTIONS) {
		gw_http_options(r);
		return false;
	}
	if (r->m.action == GW_ACT_WATCH)
		return gw_sse_begin(r);

	if (r->m.action == GW_ACT_LIST &&
	    (MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND,
	         collect_query, &q) < 0 ||
	        gw_list_begin(r, &q) != 0)) {
		set_code(r, FS_INTERNAL);
		return false;
	}
	r->ctype = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	r->if_match = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_MATCH);
	if (r->m.action == GW_ACT_GET)
		r->ctx.if_none_match = MHD_lookup_connection_value(r->conn,
		    MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (r->body_len >= BIG_BODY_BYTES && big_queue(r))
		return true;
	return req_send(r, &q, false);
}

/* Maps r to its RPC and sends it; q is the list query (LIST only). The
 * connection is suspended here unless it already is (the body worker's
 * requests). Returns true when the RPC started: its completion resumes the
 * connection. Otherwise r->resp holds the answer and r is READY. */
static bool
req_send(struct gw_req *r, const struct gw_query *q, bool suspended)
{
	gw_http *h = r->h;
	struct gw_rpc_req rr;
	fs_call_opts opts;
	uint64_t min_rev = 0;
	int rv;

	memset(&rr, 0, sizeof(rr));
	if (gw_http_min_revision(r, &min_rev) != 0 ||
	    gw_api_prepare(&rr, &r->m, r->id, q, r->ctype, r->body,
	        r->body_len, &r->resp) != 0 ||
	    gw_api_if_match(&rr, &r->m, r->if_match, &r->resp) != 0) {
		gw_rpc_req_fini(&rr);
		atomic_store(&r->state, RS_READY);
		return false;
	}
	r->ctx.nulls = rr.nulls;
	if (r->list != NULL &&
	    gw_list_sent(r, (const Flowsvc__ListRequest *) rr.msg) != 0) {
		gw_rpc_req_fini(&rr);
		set_code(r, FS_INTERNAL);
		return false;
	}
	/* The body is in rr now (or was not needed). */
	free(r->body);
	r->body = NULL;

	atomic_fetch_add(&h->starting, 1);
	if (atomic_load(&h->closing)) {
		atomic_fetch_sub(&h->starting, 1);
		gw_rpc_req_fini(&rr);
		set_code(r, FS_UNAVAILABLE);
		return false;
	}
	opts.request_id = r->rid;
	opts.caller = r->grant != NULL ? r->grant->caller : NULL;
	opts.timeout_ms = r->m.action == GW_ACT_METRICS &&
	        h->cfg.rpc_timeout_ms > METRICS_HEALTH_TIMEOUT_MS
	    ? METRICS_HEALTH_TIMEOUT_MS
	    : h->cfg.rpc_timeout_ms;

	/* Counted before the send, so concurrent handlers cannot overshoot
	 * the limit together. */
	if ((unsigned) atomic_fetch_add(&h->calls, 1) >= h->cfg.max_inflight) {
		atomic_fetch_sub(&h->calls, 1);
		atomic_fetch_sub(&h->starting, 1);
		gw_rpc_req_fini(&rr);
		set_code(r, FS_UNAVAILABLE);
		return false;
	}
	atomic_store(&r->state, RS_WAITING);
	if (!suspended)
		MHD_suspend_connection(r->conn);
	if (gw_backends_spreads(h->backends, r->m.rpc)) {
		r->be = NULL; /* chosen per batch */
		rv = gw_backends_spread_call(h->backends, r->m.rpc, rr.msg,
		    min_rev, &opts, on_rpc_done, r);
	} else {
		r->be =
		    gw_backends_pick(h->backends, r->m.rpc, min_rev, &opts);
		rv = fs_client_call_async(gw_backend_client(r->be), r->m.rpc,
		    rr.msg, &opts, on_rpc_done, r);
	}
	atomic_fetch_sub(&h->starting, 1);
	/* The request message was encoded during the call. */
	gw_rpc_req_fini(&rr);
	if (rv != 0) {
		/* No callback will come: do its job here. */
		on_rpc_done(r, rv, NULL);
	}
	return true;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct gw_req *r = *con_cls;

	(void) cls;
	(void) conn;
	(void) version;
	if (r == NULL)
		return MHD_NO; /* gw_http_on_uri ran out of memory: close */
	if (!r->begun)
		return req_begin(r, url, method);
	if (*upload_size > 0) {
		req_take_body(r, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	switch (atomic_load(&r->state)) {
	case RS_READING:
		gw_http_keep_alive(r);
		if (req_dispatch(r))
			return MHD_YES; /* the resume brings us back */
		return respond(r);
	case RS_READY:
		return respond(r);
	default:
		return MHD_YES;
	}
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	gw_http *h = cls;
	struct gw_req *r = *con_cls;
	uint64_t dur;
	int status;

	if (r == NULL)
		return;
	*con_cls = NULL;
	if (r->gc != NULL)
		r->gc->req = NULL;
	if (atomic_load(&r->state) == RS_WAITING) {
		/* Cannot happen with the shutdown order of gw_http_drain;
		 * leaking beats a use-after-free from the pending call. */
		fs_log(FS_LOG_ERROR, r->rid,
		    "request ended while its RPC was in flight; leaking it");
		return;
	}
	gw_list_end(r); /* a stream's bytes, for the log */
	gw_sse_end(r);
	dur = gw_http_mono_us() - r->start_us;
	/* An answer libmicrohttpd gave itself (without gw_pages, or with
	 * gw_http_page out of memory) is still counted with its status. */
	status = r->status_sent ? r->status_sent : gw_http_queued_status(conn);
	if (!r->begun) {
		/* Never reached the handler: a request libmicrohttpd answered
		 * (counted), or a client that went away or timed out before
		 * its headers were complete (not a request). */
		if (status != 0)
			gw_http_count_page(h, r->rid, status, r->bytes_sent,
			    dur);
		free(r);
		return;
	}
	/* 499 (nginx's "client closed request"): no response went out. */
	if (status == 0)
		status = 499;
	gw_metrics_end(h->metrics, r->m.route, r->method, status, dur);
	if (h->cfg.access_log)
		gw_http_access_line(r->rid, r->method, r->url, status,
		    r->bytes_sent, dur,
		    toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
	gw_tokens_release(r->tokens);
	gw_resp_fini(&r->resp);
	free(r->body);
	free(r->id);
	free(r);
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	gw_http *h = cls;
	char msg[512];
	size_t n;
	int left_out;

	/* libmicrohttpd writes a line for every connection over a limit and
	 * every malformed request it refuses: a flood of either must not
	 * flood the log. At most MHD_LOG_PER_SEC lines a second; the next
	 * line that goes out counts the ones left out. */
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	/* A watch stream ends when its client goes away: the normal end of
	 * an SSE stream, not a fault (see gw_sse.h). */
	if (strstr(msg, "body for the request for `/api/watch") != NULL) {
		fs_log(FS_LOG_DEBUG, NULL, "libmicrohttpd: %s", msg);
		return;
	}
	if ((left_out = fs_log_limit_take(&h->mhd_limit)) < 0)
		return;
	if (left_out > 0)
		fs_log(FS_LOG_WARN, NULL,
		    "libmicrohttpd: %s (%d more lines left out)", msg,
		    left_out);
	else
		fs_log(FS_LOG_WARN, NULL, "libmicrohttpd: %s", msg);
}

/* GnuTLS asks for the server's certificate for one handshake
 * (MHD_OPTION_HTTPS_CERT_CALLBACK2): the pair of --tls-cert/--tls-key in
 * use now, so that a SIGHUP reload serves every later connection. MHD
 * makes the session's pointer its connection, whose socket context is our
 * gw_conn (made when the connection started, before its handshake). */
static int
on_tls_cert(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
    gnutls_pcert_st **certs, unsigned int *ncerts, gnutls_ocsp_data_st **ocsp,
    unsigned int *nocsp, gnutls_privkey_t *key, unsigned int *flags)
{
	struct MHD_Connection *conn = gnutls_session_get_ptr(session);
	const union MHD_ConnectionInfo *ci;
	struct gw_conn *gc;

	(void) info;
	*ocsp = NULL;
	*nocsp = 0;
	if (conn == NULL ||
	    (ci = MHD_get_connection_info(conn,
	         MHD_CONNECTION_INFO_SOCKET_CONTEXT)) == NULL ||
	    (gc = ci->socket_context) == NULL)
		return GNUTLS_E_INSUFFICIENT_CREDENTIALS; /* out of memory */
	return gw_tls_retrieve(gc->h->cfg.tls, certs, ncerts, key, flags);
}

int
gw_http_start(gw_http **out, const struct gw_http_config *cfg,
    gw_backends *backends, gw_metrics *metrics, char *err, size_t errlen)
{
	gnutls_certificate_retrieve_function3 *cert_cb = on_tls_cert;
	struct MHD_OptionItem tls_opts[3] = {{MHD_OPTION_END, 0, NULL}};
	gw_http *h;
	unsigned flags;
	int ipv6 = 0;

	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->cfg = *cfg;
	h->backends = backends;
	h->metrics = metrics;
	atomic_init(&h->closing, false);
	atomic_init(&h->starting, 0);
	atomic_init(&h->calls, 0);
	fs_log_limit_init(&h->warn_limit, 1);
	fs_log_limit_init(&h->mhd_limit, MHD_LOG_PER_SEC);
	h->listen_fd =
	    gw_http_listen(cfg->bind, cfg->port, &ipv6, &h->port, err, errlen);
	if (h->listen_fd < 0) {
		free(h);
		return -1;
	}
	/* epoll with a single thread stalls at >= 128 connections on 0.9.75:
	 * a pool uses epoll, a single thread poll. */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_ERROR_LOG |
	    (cfg->threads > 1 ? MHD_USE_EPOLL : MHD_USE_POLL) |
	    (ipv6 ? MHD_USE_IPv6 : 0);
	if (cfg->tls != NULL) {
		/* HTTPS only: a plain HTTP request on this port fails the
		 * handshake and is closed unanswered. The credentials come
		 * from on_tls_cert at each handshake. */
		flags |= MHD_USE_TLS;
		tls_opts[0].option = MHD_OPTION_HTTPS_PRIORITIES;
		tls_opts[0].ptr_value = (void *) gw_tls_priorities;
		tls_opts[1].option = MHD_OPTION_HTTPS_CERT_CALLBACK2;
		memcpy(&tls_opts[1].ptr_value, &cert_cb, sizeof(void *));
		tls_opts[2].option = MHD_OPTION_END;
	}
	h->daemon = MHD_start_daemon(flags, (uint16_t) h->port, NULL, NULL,
	    on_request, h,
	    /* First, or MHD prints earlier messages its own way. */
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket) h->listen_fd,
	    MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned int) (cfg->threads > 1 ? cfg->threads : 0),
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int) cfg->max_conns,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int) cfg->max_conns_per_ip,
	    /* Until a connection has sent a whole request; then
	     * gw_http_keep_alive raises it to --conn-timeout. */
	    MHD_OPTION_CONNECTION_TIMEOUT, gw_http_header_timeout(cfg),
	    MHD_OPTION_URI_LOG_CALLBACK, gw_http_on_uri, h,
	    MHD_OPTION_NOTIFY_CONNECTION, gw_http_on_connection, h,
	    /* Twice the limit: headers a little over it still reach the
	     * handler, which answers them in the API's shape (431 with a
	     * detail and X-Request-Id); only beyond this does MHD answer
	     * with its own page. */
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t) cfg->max_header_bytes * 2, MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, h, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
	if (h->daemon == NULL) {
		snprintf(err, errlen,
		    "cannot start the HTTP server on %s port %u (see the "
		    "libmicrohttpd line above)",
		    cfg->bind, h->port);
		close(h->listen_fd);
		free(h);
		return -1;
	}
	if (gw_watch_new(&h->watch, &cfg->watch, backends) != 0) {
		snprintf(err, errlen, "cannot start the watch hub: %s",
		    strerror(errno));
		MHD_stop_daemon(h->daemon);
		free(h);
		return -1;
	}
	/* Without the worker, large bodies are parsed inline: slower for
	 * the neighbours, not wrong. */
	if (gw_worker_start(&h->bodies) != 0)
		fs_log(FS_LOG_WARN, NULL,
		    "cannot start the body worker (%s): "
		    "large bodies are parsed on the HTTP threads",
		    strerror(errno));
	*out = h;
	return 0;
}

unsigned
gw_http_port(const gw_http *h)
{
	return h->port;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

void
gw_http_drain(gw_http *h)
{
	uint64_t until = gw_http_mono_us() +
	    (uint64_t) h->cfg.rpc_timeout_ms * 1000u + 500000u;

	/* No MHD_quiesce_daemon: with a thread pool on epoll, 0.9.75's
	 * quiesce races the workers removing the listening socket from their
	 * epoll sets and can abort the process ("Failed to remove listen FD
	 * from epoll set"). Connections that arrive while draining are still
	 * accepted, and whatever would call the backend answers 503 (readyz
	 * included, which tells a load balancer to stop sending). */
	atomic_store(&h->closing, true);
	/* Handlers past the gate are microseconds from their send: always
	 * wait for them, or the client could be closed under them. */
	while (atomic_load(&h->starting) > 0)
		sleep_ms(1);
	/* Watch streams end (their clients resume elsewhere or later), and
	 * the upstream watch stops before the client closes. */
	gw_watch_close(h->watch);
	while (atomic_load(&h->calls) > 0 && gw_http_mono_us() < until)
		sleep_ms(5);
}

void
gw_http_stop(gw_http *h)
{
	uint64_t until = gw_http_mono_us() + 500000u;

	/* Give answers already rendered a moment to reach their clients. */
	while (
	    gw_metrics_in_flight(h->metrics) > 0 && gw_http_mono_us() < until)
		sleep_ms(5);
	/* The worker first: a request it still held would be resumed into
	 * a stopped daemon. (After the drain it holds none.) */
	gw_worker_stop(h->bodies);
	/* Closes the listening socket too: MHD owns it once started. */
	MHD_stop_daemon(h->daemon);
	gw_watch_free(h->watch);
	free(h);
}
