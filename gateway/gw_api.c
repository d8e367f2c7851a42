/*
 * gw_api.c - route + body -> RPC request; RPC outcome -> HTTP answer.
 */
#include "gw_api.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fs_errors.h"
#include "fs_rpc.h"
#include "gw_json.h"

/* /readyz when the backend answers but cannot take changes. */
#define READYZ_NOT_WRITABLE                                                    \
	"Service unavailable: the backend cannot write its data directory."

static void resp_set(struct gw_resp *r, int status, gw_buf *b);

void
gw_resp_fini(struct gw_resp *r)
{
	free(r->body);
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
gw_api_error(struct gw_resp *r, int status, const char *detail)
{
	gw_buf b = GW_BUF_INIT;

	gw_json_put_detail(&b, detail);
	resp_set(r, status, &b);
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
		d = (unsigned)(*s - '0');
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

static int
prepare_list(struct gw_rpc_req *rr, const struct gw_match *m,
    const struct gw_query *q, struct gw_resp *err)
{
	Flowsvc__ListRequest *l = &rr->u.list;

	flowsvc__list_request__init(l);
	l->has_kind = 1;
	l->kind = m->kind;
	if (q == NULL)
		goto done;
	/* Presence is the filter: ?name__iexact= asks for the empty name. */
	l->name_iexact = (char *)q->name_iexact;
	l->group_iexact = (char *)q->group_iexact;
	if (q->limit) {
		if (gw_api_parse_uint(q->limit, &l->limit)) {
			gw_buf b = GW_BUF_INIT;

			gw_buf_puts(&b, "{\"limit\":[\"A valid non-negative "
					"integer is required.\"]}");
			resp_set(err, 400, &b);
			return err->status;
		}
		l->has_limit = 1;
	}
	if (q->offset) {
		if (gw_api_parse_uint(q->offset, &l->offset)) {
			gw_buf b = GW_BUF_INIT;

			gw_buf_puts(&b, "{\"offset\":[\"A valid non-negative "
					"integer is required.\"]}");
			resp_set(err, 400, &b);
			return err->status;
		}
		l->has_offset = 1;
	}
done:
	rr->msg = &l->base;
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
		char msg[GW_JSON_DETAIL_MAX];

		/* The header as sent, cut to fit; an absent one shows as "". */
		snprintf(msg, sizeof(msg),
		    "Unsupported media type \"%.180s\" in request.",
		    ct ? ct : "");
		gw_api_error(err, 415, msg);
		return err->status;
	}
	if ((obj = gw_json_load_object(body, len, detail)) == NULL) {
		gw_api_error(err, 400, detail);
		return err->status;
	}
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
		gw_api_error(err, 500, "Internal error.");
		return err->status;
	}
	rr->msg = rr->heap;
	return 0;
}

int
gw_api_prepare(struct gw_rpc_req *rr, const struct gw_match *m,
    const char *id, const struct gw_query *q, const char *content_type,
    const char *body, size_t len, struct gw_resp *err)
{
	switch (m->action) {
	case GW_ACT_LIST:
		return prepare_list(rr, m, q, err);
	case GW_ACT_CREATE:
	case GW_ACT_UPDATE:
		return prepare_body(rr, m, id, content_type, body, len, err);
	case GW_ACT_GET:
		flowsvc__get_request__init(&rr->u.get);
		rr->u.get.id = (char *)id;
		rr->u.get.has_kind = 1;
		rr->u.get.kind = m->kind;
		rr->msg = &rr->u.get.base;
		return 0;
	case GW_ACT_DELETE:
	case GW_ACT_STATUS:
	case GW_ACT_DEPLOY:
	case GW_ACT_START:
	case GW_ACT_STOP:
		flowsvc__id_request__init(&rr->u.idr);
		rr->u.idr.id = (char *)id;
		rr->u.idr.has_kind = 1;
		rr->u.idr.kind = m->kind;
		rr->msg = &rr->u.idr.base;
		return 0;
	case GW_ACT_READYZ:
	case GW_ACT_METRICS:
		flowsvc__empty__init(&rr->u.empty);
		rr->msg = &rr->u.empty.base;
		return 0;
	default:
		gw_api_error(err, 500, "Internal error.");
		return err->status;
	}
}

/* The body of a successful reply. Returns 0, or -1 when the payload is
 * missing or undecodable (a backend bug or version skew: 500). */
static int
render_ok(struct gw_resp *out, const struct gw_match *m,
    const Flowsvc__Reply *reply)
{
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *pl;
	gw_buf b = GW_BUF_INIT;
	int status = 200;

	switch (m->action) {
	case GW_ACT_DELETE:
		out->status = 204;
		return 0;
	case GW_ACT_READYZ: {
		/* Ready means ready for writes too: a backend that answers
		 * but cannot write its data directory (disk full, I/O
		 * errors, the directory deleted) says writable = false. The
		 * cause stays in the backend's log, Health and metrics. */
		Flowsvc__HealthReply *h = reply == NULL ? NULL
		    : (Flowsvc__HealthReply *)fs_reply_payload(
			  reply, &flowsvc__health_reply__descriptor);
		bool writable = h == NULL || !h->has_writable || h->writable;

		if (h != NULL)
			protobuf_c_message_free_unpacked(&h->base, NULL);
		if (!writable) {
			gw_api_error(out, 503, READYZ_NOT_WRITABLE);
			return 0;
		}
		gw_buf_puts(&b, "{\"status\":\"ready\"}");
		resp_set(out, 200, &b);
		return 0;
	}
	case GW_ACT_LIST:
		desc = &flowsvc__list_reply__descriptor;
		break;
	case GW_ACT_CREATE:
	case GW_ACT_GET:
	case GW_ACT_UPDATE:
		desc = &flowsvc__component_reply__descriptor;
		break;
	case GW_ACT_STATUS:
	case GW_ACT_DEPLOY:
	case GW_ACT_START:
	case GW_ACT_STOP:
		desc = &flowsvc__status_reply__descriptor;
		break;
	default:
		return -1;
	}
	if (reply == NULL || (pl = fs_reply_payload(reply, desc)) == NULL)
		return -1;

	if (desc == &flowsvc__list_reply__descriptor) {
		const Flowsvc__ListReply *l = (const Flowsvc__ListReply *)pl;

		gw_json_put_components(&b, l->n_components, l->components);
	} else if (desc == &flowsvc__status_reply__descriptor) {
		gw_json_put_status(
		    &b, ((const Flowsvc__StatusReply *)pl)->status);
	} else {
		const Flowsvc__Component *c =
		    ((const Flowsvc__ComponentReply *)pl)->component;

		if (c == NULL) {
			protobuf_c_message_free_unpacked(pl, NULL);
			return -1;
		}
		gw_json_put_component(&b, c);
		if (m->action == GW_ACT_CREATE) {
			int n = snprintf(out->location, sizeof(out->location),
			    "/api/%s/%s/",
			    m->kind == FLOWSVC__KIND__APP ? "apps" : "flows",
			    c->id);

			if (n < 0 || (size_t)n >= sizeof(out->location))
				out->location[0] = '\0';
			status = 201;
		}
	}
	protobuf_c_message_free_unpacked(pl, NULL);
	resp_set(out, status, &b);
	if (out->status == 500)
		out->location[0] = '\0';
	return 0;
}

void
gw_api_render(struct gw_resp *out, const struct gw_match *m, int code,
    const Flowsvc__Reply *reply)
{
	const char *msg = reply && reply->message && reply->message[0]
	    ? reply->message
	    : fs_strerror(code);
	int http = fs_code_http(code);

	memset(out, 0, sizeof(*out));
	if (m->action == GW_ACT_READYZ && code != FS_OK) {
		gw_api_error(out, 503, "Service unavailable.");
		return;
	}
	switch (http) {
	case 200:
		if (render_ok(out, m, reply))
			gw_api_error(out, 500, "Internal error.");
		return;
	case 400:
		if (reply && reply->n_violations > 0) {
			gw_buf b = GW_BUF_INIT;

			gw_json_put_violations(
			    &b, reply->n_violations, reply->violations);
			resp_set(out, 400, &b);
		} else {
			gw_api_error(out, 400, msg);
		}
		return;
	case 401:
	case 403:
		/* The fixed texts of CONTRACT §5, whatever the backend says:
		 * a refusal explains nothing beyond itself. */
		gw_api_error(out, http, fs_strerror(code));
		return;
	case 409:
		gw_api_error(out, http, msg);
		return;
	case 404:
		gw_api_error(out, 404, "Not found.");
		return;
	case 503:
		gw_api_error(out, 503, "Service unavailable.");
		return;
	default:
		/* A list whose result does not fit in one reply (16 MiB):
		 * still the server's limit, not the caller's fault (lists
		 * of any size are valid), so 500, but with what to do about
		 * it. Until lists stream. */
		gw_api_error(out, 500,
		    code == FS_RESOURCE_EXHAUSTED && m->action == GW_ACT_LIST
			? GW_API_LIST_TOO_LARGE
			: "Internal error.");
		return;
	}
}
