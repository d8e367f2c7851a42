/*
 * gw_api.h - one REST request as one RPC: the request message a matched
 * route sends, and the HTTP answer an RPC outcome becomes (CONTRACT §2-3).
 * Both follow the method table (fs_methods.h): the request is built by the
 * RPC's request message, the reply rendered by its reply message. Every
 * error body with a fixed text comes from the tables of fs_errors.h.
 *
 * Pure functions apart from malloc: no I/O, no logging, thread-safe. The
 * HTTP layer (gw_http) calls gw_api_prepare once the body is complete,
 * sends rr.msg with fs_client_call_async, and calls gw_api_render from the
 * completion.
 */
#ifndef GATEWAY_GW_API_H
#define GATEWAY_GW_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "fs_errors.h"
#include "gw_cond.h"
#include "gw_json.h"
#include "gw_routes.h"

/* An HTTP answer. body is malloc'd (the HTTP layer hands it to MHD with
 * MHD_RESPMEM_MUST_FREE) or NULL for an empty body; location is set only
 * for 201, etag (the ETag header, gw_cond.h) only for an answer that is
 * a component or a 304 about one. A zeroed gw_resp is empty; gw_resp_fini
 * frees what it holds. */
struct gw_resp {
	int status;
	char *body;
	size_t len;
	char location[160];
	/* A list's X-Total-Count (when has_total), and its Link header
	 * (malloc'd; NULL: none). */
	bool has_total;
	uint64_t total;
	char *link;
	char etag[GW_ETAG_MAX];
	/* X-Revision (CONTRACT §7), set by gw_api_set_revision, and for a
	 * list by gw_list (its ListReply.revision). */
	bool has_revision;
	uint64_t revision;
};

void gw_resp_fini(struct gw_resp *r);

/* X-Revision: the revision an answer about components reflects (a read)
 * or took (a change), from the backend's Reply.revision. Every answer of
 * an action that reads or changes components (lists, items, status,
 * lifecycle, watch) sets it through here, errors included when the
 * backend said its revision; other actions and replies without one leave
 * r as it is. reply may be NULL. */
void gw_api_set_revision(struct gw_resp *r, const struct gw_match *m,
    const Flowsvc__Reply *reply);

/* Fills r with status and {"detail": detail}. */
void gw_api_error(struct gw_resp *r, int status, const char *detail);

/* The error answers of the tables in fs_errors.h: a REST error's status
 * and detail (its %s, if any, completed with arg), and the answer an RPC
 * code stands for (fs_code_http, fs_strerror). Every fixed error body of
 * the gateway goes through these. */
void gw_api_rest_error(struct gw_resp *r, enum fs_rest_error e);
void gw_api_rest_error_arg(struct gw_resp *r, enum fs_rest_error e,
    const char *arg);
void gw_api_code_error(struct gw_resp *r, int code);

/* The list query, as percent-decoded by the HTTP layer. NULL = absent;
 * the HTTP layer passes an empty filter value as absent (django-filter:
 * `?name__iexact=` is no filter). */
struct gw_query {
	const char *name_iexact;
	const char *group_iexact;
	const char *limit;
	const char *offset;
	/* The list's first page: page_size components at most (0: the count
	 * only, for HEAD); has_page_size 0 asks for the whole list in one
	 * reply. */
	bool has_page_size;
	uint32_t page_size;
};

/* The RPC request of one HTTP request. Zero-init before gw_api_prepare;
 * release with gw_rpc_req_fini on every path. */
struct gw_rpc_req {
	union {
		Flowsvc__GetRequest get;
		Flowsvc__IdRequest idr;
		Flowsvc__ListRequest list;
		Flowsvc__Empty empty;
	} u;
	ProtobufCMessage *heap;      /* create/update body, owned */
	const ProtobufCMessage *msg; /* what to send: &u.* or heap */
	unsigned nulls; /* create/update: keys sent as null (GW_NULL_) */
};

/* What an answer depends on besides its route and the RPC's outcome: the
 * HTTP layer keeps it from the request (and gw_api_prepare's rr.nulls)
 * until gw_api_render. All zero: nothing. */
struct gw_api_ctx {
	unsigned nulls;            /* rr.nulls */
	const char *if_none_match; /* GW_ACT_GET: the header, or NULL */
};

void gw_rpc_req_fini(struct gw_rpc_req *rr);

/* Parses a limit/offset value: a non-negative decimal integer, digits only
 * (values past UINT64_MAX clamp to it). Returns 0, or -1 when not one. */
int gw_api_parse_uint(const char *s, uint64_t *out);

/* Whether a Content-Type value names JSON: "application/json", any case,
 * parameters (charset, ...) allowed. NULL is not JSON. */
bool gw_api_is_json_type(const char *content_type);

/* Builds the RPC request for m (action with an rpc, not GW_ACT_HEALTHZ).
 * id is m's id NUL-terminated (NULL when the route has none); q the query
 * (LIST only); content_type the request header or NULL; body/len the
 * complete body. On success returns 0 and rr->msg is ready to send; rr
 * borrows id and the q strings until gw_rpc_req_fini. Otherwise returns
 * the HTTP status and fills err (400 bad limit/offset or JSON, 415, 500
 * out of memory). */
int gw_api_prepare(struct gw_rpc_req *rr, const struct gw_match *m,
    const char *id, const struct gw_query *q, const char *content_type,
    const char *body, size_t len, struct gw_resp *err);

/* Makes rr (prepared for m) a compare-and-set on the version an If-Match
 * value names (NULL: no header; gw_cond.h), where m's action takes one:
 * UPDATE, DELETE, DEPLOY, START, STOP (elsewhere the header is ignored).
 * Returns 0, or 400 with err filled when the value names several
 * versions. */
int gw_api_if_match(struct gw_rpc_req *rr, const struct gw_match *m,
    const char *if_match, struct gw_resp *err);

/* Turns an RPC outcome (code, and reply when one arrived; borrowed) into
 * the answer for m's action; ctx may be NULL. A component answer carries
 * its ETag; a GET whose component still matches ctx->if_none_match
 * answers 304 (out->body then holds what the 200 would have, for its
 * length: it is not sent). Always fills out (500 when even that
 * fails). */
void gw_api_render(struct gw_resp *out, const struct gw_match *m,
    const struct gw_api_ctx *ctx, int code, const Flowsvc__Reply *reply);

/* ---- lists ---------------------------------------------------------------
 * A list answers as a JSON array that may come in pages (gw_list.c streams
 * them): "[" before the first page's components, "," between components,
 * "]" after the last page's. */

/* Appends one page's components to b; *emitted counts the components of
 * the list rendered so far (the first gets no ","). first: "[" before;
 * last: "]" after. */
void gw_api_list_page(gw_buf *b, const Flowsvc__ListReply *l, bool first,
    bool last, uint64_t *emitted);

/* Appends key=value& to b, both percent-encoded (RFC 3986: all but
 * unreserved characters), for a URL's query. */
void gw_api_query_param(gw_buf *b, const char *key, const char *value);

/* The Link header of a list asked with limit (a page of it): the next
 * page's URL, path with query (the request's other parameters, as
 * gw_api_query_param wrote them, each ending in '&') then limit and
 * offset + limit, as rel="next", when offset + limit < total; NULL when
 * there is no next page (or out of memory). Caller frees. */
char *gw_api_list_link(const char *path, const char *query, uint64_t limit,
    uint64_t offset, uint64_t total);

#endif
