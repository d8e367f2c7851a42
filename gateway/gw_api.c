/*
 * gw_api.c - route + body -> RPC request; RPC outcome -> HTTP answer.
 */
#include "gw_api.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fs_errors.h"
#include "fs_methods.h"
#include "fs_rpc.h"
#include "gw_json.h"

static void resp_set(struct gw_resp *r, int status, gw_buf *b);

void
gw_resp_fini(struct gw_resp *r)
{
	free(r->body);
	free(r->link);
	memset(r, 0, sizeof(*r));
}

/* Moves b into r as its body; out of memory becomes a bodiless 500
 * rather than a truncated document. */
static void
resp_set(struct gw_resp *r, int status, gw_buf *b)
{
	free(r->body);
	r->status = status;
	r->body = gw_buf_take(b, &r->len);
	if (r->body == NULL) {
		r->status = 500;
		r->len = 0;
	}
}

void
gw_api_set_revision(struct gw_resp *r, const struct gw_match *m,
    const Flowsvc__Reply *reply)
{
	switch (m->action) {
	case GW_ACT_LIST:
	case GW_ACT_CREATE:
	case GW_ACT_GET:
	case GW_ACT_UPDATE:
	case GW_ACT_DELETE:
	case GW_ACT_STATUS:
	case GW_ACT_DEPLOY:
	case GW_ACT_START:
	case GW_ACT_STOP:
	case GW_ACT_WATCH:
		break;
	default:
		return;
	}
	if (reply == NULL || !reply->has_revision)
		return;
	r->has_revision = true;
	r->revision = reply->revision;
}

void
gw_api_error(struct gw_resp *r, int status, const char *detail)
{
	gw_buf b = GW_BUF_INIT;

	gw_json_put_detail(&b, detail);
	resp_set(r, status, &b);
}

void
gw_api_rest_error(struct gw_resp *r, enum fs_rest_error e)
{
	gw_api_rest_error_arg(r, e, NULL);
}

void
gw_api_rest_error_arg(struct gw_resp *r, enum fs_rest_error e, const char *arg)
{
	char detail[GW_JSON_DETAIL_MAX];

	gw_api_error(r, fs_rest_http((int) e),
	    fs_rest_format((int) e, arg, detail, sizeof(detail)));
}

void
gw_api_code_error(struct gw_resp *r, int code)
{
	gw_api_error(r, fs_code_http(code), fs_strerror(code));
}

void
gw_rpc_req_fini(struct gw_rpc_req *rr)
{
	if (rr->heap)
		protobuf_c_message_free_unpacked(rr->heap, NULL);
	memset(rr, 0, sizeof(*rr));
}

int
gw_api_parse_uint(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned) (*s - '0');
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	*out = v;
	return 0;
}

bool
gw_api_is_json_type(const char *ct)
{
	static const char json[] = "application/json";
	size_t n = sizeof(json) - 1;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, json, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* A limit or offset parameter: absent, or a non-negative integer (else
 * 400 naming the parameter). Returns 0, or the status with err filled. */
static int
query_uint(const char *name, const char *value, protobuf_c_boolean *has,
    uint64_t *out, struct gw_resp *err)
{
	gw_buf b = GW_BUF_INIT;

	if (value == NULL)
		return 0;
	if (gw_api_parse_uint(value, out) == 0) {
		*has = 1;
		return 0;
	}
	gw_buf_puts(&b, "{\"");
	gw_buf_puts(&b, name);
	gw_buf_puts(&b, "\":[\"");
	gw_buf_puts(&b, fs_rest_detail(FS_REST_NOT_UINT));
	gw_buf_puts(&b, "\"]}");
	resp_set(err, fs_rest_http(FS_REST_NOT_UINT), &b);
	return err->status;
}

static int
prepare_list(struct gw_rpc_req *rr, const struct gw_match *m,
    const struct gw_query *q, struct gw_resp *err)
{
	Flowsvc__ListRequest *l = &rr->u.list;

	flowsvc__list_request__init(l);
	l->has_kind = 1;
	l->kind = m->kind;
	rr->msg = &l->base;
	if (q == NULL)
		return 0;
	/* Presence is the filter (an empty value arrives as absent). */
	l->name_iexact = (char *) q->name_iexact;
	l->group_iexact = (char *) q->group_iexact;
	if (query_uint("limit", q->limit, &l->has_limit, &l->limit, err) ||
	    query_uint("offset", q->offset, &l->has_offset, &l->offset, err))
		return err->status;
	l->has_page_size = q->has_page_size;
	l->page_size = q->page_size;
	return 0;
}

/* Create and update: media type, JSON, mapping. */
static int
prepare_body(struct gw_rpc_req *rr, const struct gw_match *m, const char *id,
    const char *ct, const char *body, size_t len, struct gw_resp *err)
{
	char detail[GW_JSON_DETAIL_MAX];
	json_t *obj;
	int rv;

	if (len > 0 && !gw_api_is_json_type(ct)) {
		/* The header as sent, cut to fit; an absent one shows as "". */
		gw_api_rest_error_arg(err, FS_REST_MEDIA_TYPE, ct);
		return err->status;
	}
	if ((obj = gw_json_load_object(body, len, detail)) == NULL) {
		gw_api_error(err, 400, detail);
		return err->status;
	}
	rr->nulls = gw_json_nulls(obj);
	if (m->action == GW_ACT_CREATE) {
		Flowsvc__CreateRequest *c;

		rv = gw_json_to_create(obj, m->kind, &c);
		rr->heap = rv ? NULL : &c->base;
	} else {
		Flowsvc__UpdateRequest *u;

		rv = gw_json_to_update(obj, id, m->kind, &u);
		rr->heap = rv ? NULL : &u->base;
	}
	json_decref(obj);
	if (rv) {
		gw_api_code_error(err, FS_INTERNAL);
		return err->status;
	}
	rr->msg = rr->heap;
	return 0;
}

/* The request message of m's RPC, by the method table's request
 * descriptor, so a method of a known message shape needs no code here. */
int
gw_api_prepare(struct gw_rpc_req *rr, const struct gw_match *m, const char *id,
    const struct gw_query *q, const char *content_type, const char *body,
    size_t len, struct gw_resp *err)
{
	const fs_method_info *mi = fs_method(m->rpc);
	const ProtobufCMessageDescriptor *d = mi != NULL ? mi->request : NULL;

	if (d == &flowsvc__list_request__descriptor)
		return prepare_list(rr, m, q, err);
	if (d == &flowsvc__create_request__descriptor ||
	    d == &flowsvc__update_request__descriptor)
		return prepare_body(rr, m, id, content_type, body, len, err);
	if (d == &flowsvc__get_request__descriptor) {
		Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;

		g.id = (char *) id;
		g.kind = m->kind;
		g.has_kind = 1;
		rr->u.get = g;
	} else if (d == &flowsvc__id_request__descriptor) {
		/* IdRequest has GetRequest's fields: {id, kind}. */
		Flowsvc__IdRequest r = FLOWSVC__ID_REQUEST__INIT;

		r.id = (char *) id;
		r.has_kind = 1;
		r.kind = m->kind;
		rr->u.idr = r;
	} else if (d == &flowsvc__empty__descriptor) {
		flowsvc__empty__init(&rr->u.empty);
	} else {
		gw_api_code_error(err, FS_INTERNAL);
		return err->status;
	}
	/* The union's members all start with their ProtobufCMessage. */
	rr->msg = (const ProtobufCMessage *) &rr->u;
	return 0;
}

int
gw_api_if_match(struct gw_rpc_req *rr, const struct gw_match *m,
    const char *if_match, struct gw_resp *err)
{
	protobuf_c_boolean *has;
	int64_t *expected, v;

	switch (m->action) {
	case GW_ACT_UPDATE:
		if (rr->heap == NULL)
			return 0;
		has = &((Flowsvc__UpdateRequest *) rr->heap)
		           ->has_expected_version;
		expected =
		    &((Flowsvc__UpdateRequest *) rr->heap)->expected_version;
		break;
	case GW_ACT_DELETE:
	case GW_ACT_DEPLOY:
	case GW_ACT_START:
	case GW_ACT_STOP:
		has = &rr->u.idr.has_expected_version;
		expected = &rr->u.idr.expected_version;
		break;
	default:
		return 0;
	}
	switch (gw_cond_if_match(if_match, &v)) {
	case GW_IF_MATCH_ANY:
		return 0;
	case GW_IF_MATCH_VERSION:
		*has = 1;
		*expected = v;
		return 0;
	default:
		gw_api_rest_error(err, FS_REST_IF_MATCH_SEVERAL);
		return err->status;
	}
}

/* /readyz: ready means ready for writes too. A backend that answers but
 * cannot write its data directory (disk full, I/O errors, the directory
 * deleted) says writable = false; the cause stays in the backend's log,
 * Health and metrics. */
static void
render_ready(struct gw_resp *out, const Flowsvc__Reply *reply)
{
	Flowsvc__HealthReply *h = reply == NULL
	    ? NULL
	    : (Flowsvc__HealthReply *) fs_reply_payload(reply,
	          &flowsvc__health_reply__descriptor);
	bool writable = h == NULL || !h->has_writable || h->writable;
	gw_buf b = GW_BUF_INIT;

	if (h != NULL)
		protobuf_c_message_free_unpacked(&h->base, NULL);
	if (!writable) {
		gw_api_rest_error(out, FS_REST_NOT_WRITABLE);
		return;
	}
	gw_buf_puts(&b, "{\"status\":\"ready\"}");
	resp_set(out, 200, &b);
}

/* A created component's answer: 201 with its Location. */
static int
created(struct gw_resp *out, const struct gw_match *m,
    const Flowsvc__Component *c)
{
	int n = snprintf(out->location, sizeof(out->location), "/api/%s/%s/",
	    m->kind == FLOWSVC__KIND__APP ? "apps" : "flows", c->id);

	if (n < 0 || (size_t) n >= sizeof(out->location))
		out->location[0] = '\0';
	return 201;
}

/* A component's answer: its ETag, and for a GET that still matches the
 * client's copy (If-None-Match) a 304. Returns the status (status as it
 * was, or 304). */
static int
component_answer(struct gw_resp *out, const struct gw_match *m,
    const struct gw_api_ctx *ctx, const Flowsvc__Component *c, int status)
{
	gw_cond_etag(c->version, out->etag);
	if (m->action == GW_ACT_GET && ctx != NULL &&
	    gw_cond_none_match(ctx->if_none_match, c->version))
		return 304;
	return status;
}

/* The body of a successful reply, by the method table's reply descriptor.
 * Returns 0, or -1 when the payload is missing or undecodable (a backend
 * bug or version skew: 500). */
static int
render_ok(struct gw_resp *out, const struct gw_match *m,
    const struct gw_api_ctx *ctx, const Flowsvc__Reply *reply)
{
	const fs_method_info *mi = fs_method(m->rpc);
	const ProtobufCMessageDescriptor *desc = mi != NULL ? mi->reply : NULL;
	ProtobufCMessage *pl;
	gw_buf b = GW_BUF_INIT;
	int status = 200;

	if (m->action == GW_ACT_READYZ) {
		render_ready(out, reply);
		return 0;
	}
	if (desc == &flowsvc__empty__descriptor) {
		out->status = 204; /* DELETE: no body */
		return 0;
	}
	if (desc == NULL || reply == NULL ||
	    (pl = fs_reply_payload(reply, desc)) == NULL)
		return -1;
	if (desc == &flowsvc__list_reply__descriptor) {
		const Flowsvc__ListReply *l = (const Flowsvc__ListReply *) pl;
		uint64_t n = 0;

		gw_api_list_page(&b, l, true, true, &n);
		out->has_total = true;
		out->total = l->has_total_count ? l->total_count : n;
		out->has_revision = l->has_revision;
		out->revision = l->revision;
	} else if (desc == &flowsvc__status_reply__descriptor) {
		gw_json_put_status(&b,
		    ((const Flowsvc__StatusReply *) pl)->status);
	} else if (desc == &flowsvc__component_reply__descriptor &&
	    ((const Flowsvc__ComponentReply *) pl)->component != NULL) {
		const Flowsvc__Component *c =
		    ((const Flowsvc__ComponentReply *) pl)->component;

		if (m->action == GW_ACT_CREATE)
			status = created(out, m, c);
		/* A 304 keeps the body it stands for: libmicrohttpd sends
		 * none, but its length as Content-Length, which is the only
		 * one RFC 9110 allows there (HEAD's too). */
		status = component_answer(out, m, ctx, c, status);
		gw_json_put_component(&b, c);
	} else {
		protobuf_c_message_free_unpacked(pl, NULL);
		return -1;
	}
	protobuf_c_message_free_unpacked(pl, NULL);
	resp_set(out, status, &b);
	if (out->status == 500) {
		out->location[0] = '\0';
		out->etag[0] = '\0';
	}
	return 0;
}

void
gw_api_render(struct gw_resp *out, const struct gw_match *m,
    const struct gw_api_ctx *ctx, int code, const Flowsvc__Reply *reply)
{
	const char *msg = reply && reply->message && reply->message[0]
	    ? reply->message
	    : fs_strerror(code);
	int http = fs_code_http(code);

	memset(out, 0, sizeof(*out));
	if (m->action == GW_ACT_READYZ && code != FS_OK) {
		gw_api_code_error(out, FS_UNAVAILABLE);
		return;
	}
	gw_api_set_revision(out, m, reply);
	switch (http) {
	case 200:
		if (render_ok(out, m, ctx, reply))
			gw_api_code_error(out, FS_INTERNAL);
		return;
	case 400:
		if (reply && reply->n_violations > 0) {
			gw_buf b = GW_BUF_INIT;

			gw_json_put_violations(&b, reply->n_violations,
			    reply->violations, ctx != NULL ? ctx->nulls : 0);
			resp_set(out, 400, &b);
		} else {
			gw_api_error(out, 400, msg);
		}
		return;
	case 409:
		/* A backend that is no longer the primary (a failover) made
		 * nothing: 503, for the client to send it again once the
		 * gateway has found the new primary (gw_backends.h). */
		if (strcmp(msg, FS_NOT_PRIMARY) == 0)
			gw_api_code_error(out, FS_UNAVAILABLE);
		else
			gw_api_error(out, http, msg);
		return;
	case 404:
	case 503:
		/* The backend's words stay in the backend: a missing, hidden
		 * or unreachable component answers the same. */
		gw_api_code_error(out,
		    http == 404 ? FS_NOT_FOUND : FS_UNAVAILABLE);
		return;
	case 401:
	case 403:
	case 412:
		/* The fixed texts of CONTRACT §2 and §5, whatever the backend
		 * says: a refusal explains nothing beyond itself. */
		gw_api_code_error(out, code);
		return;
	default:
		/* A list whose result does not fit in one reply (16 MiB):
		 * still the server's limit, not the caller's fault (lists
		 * of any size are valid), so 500, but with what to do about
		 * it. Until lists stream. */
		if (code == FS_RESOURCE_EXHAUSTED && m->action == GW_ACT_LIST)
			gw_api_rest_error(out, FS_REST_LIST_TOO_LARGE);
		else
			gw_api_code_error(out, FS_INTERNAL);
		return;
	}
}

/* ---- lists --------------------------------------------------------------- */

void
gw_api_list_page(gw_buf *b, const Flowsvc__ListReply *l, bool first, bool last,
    uint64_t *emitted)
{
	if (first)
		gw_buf_put(b, "[", 1);
	for (size_t i = 0; i < l->n_components; i++) {
		if ((*emitted)++ > 0)
			gw_buf_put(b, ",", 1);
		gw_json_put_component(b, l->components[i]);
	}
	if (last)
		gw_buf_put(b, "]", 1);
}

static void
put_encoded(gw_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char) *s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			gw_buf_put(b, s, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			gw_buf_put(b, e, 3);
		}
	}
}

void
gw_api_query_param(gw_buf *b, const char *key, const char *value)
{
	put_encoded(b, key);
	gw_buf_put(b, "=", 1);
	put_encoded(b, value != NULL ? value : "");
	gw_buf_put(b, "&", 1);
}

char *
gw_api_list_link(const char *path, const char *query, uint64_t limit,
    uint64_t offset, uint64_t total)
{
	gw_buf b = GW_BUF_INIT;
	char tail[96];
	size_t len;

	/* No next page: this one reaches the end (or limit is 0, which
	 * never advances). */
	if (limit == 0 || offset >= total || total - offset <= limit)
		return NULL;
	uint64_t next =
	    offset > UINT64_MAX - limit ? UINT64_MAX : offset + limit;
	snprintf(tail, sizeof(tail),
	    "limit=%" PRIu64 "&offset=%" PRIu64 ">; rel=\"next\"", limit,
	    next);
	gw_buf_puts(&b, "<");
	gw_buf_puts(&b, path);
	gw_buf_puts(&b, "?");
	gw_buf_puts(&b, query != NULL ? query : "");
	gw_buf_puts(&b, tail);
	return gw_buf_take(&b, &len);
}
