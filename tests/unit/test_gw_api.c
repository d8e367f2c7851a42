/*
 * test_gw_api.c - gateway/gw_api: what each route sends to the backend
 * (kinds, ids, list filters, limit/offset, media type and JSON checks) and
 * what each RPC outcome answers over HTTP (status, body, Location).
 */
#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "gw_api.h"
#include "testlib.h"

#define ID "0b5e4a1c-7a9f-4a56-9c0e-0d5c3f1e2a3b"

static struct gw_match
match(const char *method, const char *path)
{
	struct gw_match m;

	gw_route_match(method, path, &m);
	return m;
}

/* Prepares with the route's id; returns the HTTP status (0 = ready). rr
 * borrows the id, so it lives in a static buffer until the next call. */
static int
prepare(struct gw_rpc_req *rr, const char *method, const char *path,
    const struct gw_query *q, const char *ct, const char *body,
    struct gw_resp *err)
{
	struct gw_match m = match(method, path);
	static char id[128];

	if (m.id)
		snprintf(id, sizeof(id), "%.*s", (int) m.id_len, m.id);
	memset(rr, 0, sizeof(*rr));
	memset(err, 0, sizeof(*err));
	return gw_api_prepare(rr, &m, m.id ? id : NULL, q, ct, body,
	    body ? strlen(body) : 0, err);
}

/* ---- helpers for building replies --------------------------------------- */

static void
set_payload(Flowsvc__Reply *r, const ProtobufCMessage *m)
{
	r->has_payload = 1;
	r->payload.len = protobuf_c_message_get_packed_size(m);
	r->payload.data = malloc(r->payload.len ? r->payload.len : 1);
	protobuf_c_message_pack(m, r->payload.data);
}

static Flowsvc__Component
component(void)
{
	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;

	c.id = ID;
	c.kind = FLOWSVC__KIND__FLOW;
	c.name = "greet";
	c.group = "default";
	c.canvas_id = "9d2a8c8e-3b1f-4e5d-a6c7-b8d9e0f1a2b3";
	c.version = 1;
	c.created_at_us = 1700000000123456;
	c.updated_at_us = 1700000000123456;
	return c;
}

#define COMPONENT_JSON                                                        \
	"{\"id\":\"" ID "\",\"name\":\"greet\",\"group\":\"default\","        \
	"\"input_fields\":[],\"output_fields\":[],"                           \
	"\"canvas_id\":\"9d2a8c8e-3b1f-4e5d-a6c7-b8d9e0f1a2b3\","             \
	"\"flows\":[],\"version\":1,"                                         \
	"\"created_at\":\"2023-11-14T22:13:20.123456Z\","                     \
	"\"updated_at\":\"2023-11-14T22:13:20.123456Z\"}"

static void
check_resp(const struct gw_resp *r, int status, const char *body,
    const char *what)
{
	FS_CHECK(r->status == status, "%s: status %d, expected %d", what,
	    r->status, status);
	if (body == NULL) {
		FS_CHECK(r->body == NULL && r->len == 0, "%s: body %s", what,
		    r->body ? r->body : "");
		return;
	}
	FS_CHECK(r->body != NULL && r->len == strlen(body) &&
	        memcmp(r->body, body, r->len) == 0,
	    "%s: body\n  %s\nexpected\n  %s", what,
	    r->body ? r->body : "(none)", body);
}

static void
render_check(const char *method, const char *path, int code,
    const Flowsvc__Reply *reply, int status, const char *body)
{
	struct gw_match m = match(method, path);
	struct gw_resp r;
	char what[256];

	snprintf(what, sizeof(what), "%s %s code %s", method, path,
	    fs_code_name(code));
	gw_api_render(&r, &m, NULL, code, reply);
	check_resp(&r, status, body, what);
	gw_resp_fini(&r);
}

/* ---- prepare ------------------------------------------------------------- */

static void
test_gw_api_parse_uint(void)
{
	uint64_t v = 7;

	FS_CHECK(gw_api_parse_uint("0", &v) == 0 && v == 0, "0");
	FS_CHECK(gw_api_parse_uint("25", &v) == 0 && v == 25, "25");
	FS_CHECK(gw_api_parse_uint("007", &v) == 0 && v == 7, "007");
	FS_CHECK(gw_api_parse_uint("18446744073709551615", &v) == 0 &&
	        v == UINT64_MAX,
	    "max");
	FS_CHECK(gw_api_parse_uint("99999999999999999999999", &v) == 0 &&
	        v == UINT64_MAX,
	    "clamped");
	static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "1a",
	    "1.0", "0x10", "１", NULL};
	for (const char *const *b = bad; *b; b++)
		FS_CHECK(gw_api_parse_uint(*b, &v) == -1, "\"%s\" refused",
		    *b);
	FS_CHECK(gw_api_parse_uint(NULL, &v) == -1, "NULL refused");
}

static void
test_gw_api_json_type(void)
{
	static const char *const yes[] = {"application/json",
	    "application/json; charset=utf-8", "Application/JSON",
	    "application/json;charset=UTF-8", " application/json ", NULL};
	static const char *const no[] = {"text/plain", "application/jsonx",
	    "application/json-patch+json", "application/x-www-form-urlencoded",
	    "json", "", NULL};

	for (const char *const *p = yes; *p; p++)
		FS_CHECK(gw_api_is_json_type(*p), "\"%s\" is JSON", *p);
	for (const char *const *p = no; *p; p++)
		FS_CHECK(!gw_api_is_json_type(*p), "\"%s\" is not JSON", *p);
	FS_CHECK(!gw_api_is_json_type(NULL), "NULL is not JSON");
}

static void
test_gw_api_prepare_list(void)
{
	struct gw_query q = {NULL, NULL, NULL, NULL, false, 0};
	struct gw_rpc_req rr;
	struct gw_resp err;
	const Flowsvc__ListRequest *l;

	FS_ASSERT_INT_EQ(prepare(&rr, "GET", "/api/apps/", &q, NULL, NULL,
	                     &err),
	    0);
	l = (const Flowsvc__ListRequest *) rr.msg;
	FS_CHECK(rr.msg &&
	        rr.msg->descriptor == &flowsvc__list_request__descriptor,
	    "a ListRequest");
	FS_CHECK(l->has_kind && l->kind == FLOWSVC__KIND__APP, "kind app");
	FS_CHECK(!l->name_iexact && !l->group_iexact && !l->has_limit &&
	        !l->has_offset,
	    "no filters");
	gw_rpc_req_fini(&rr);

	/* Present even when empty; limit/offset parsed. */
	q.name_iexact = "";
	q.group_iexact = "G";
	q.limit = "10";
	q.offset = "0";
	FS_ASSERT_INT_EQ(prepare(&rr, "GET", "/api/flows", &q, NULL, NULL,
	                     &err),
	    0);
	l = (const Flowsvc__ListRequest *) rr.msg;
	FS_CHECK(l->kind == FLOWSVC__KIND__FLOW, "kind flow");
	FS_CHECK(l->name_iexact && strcmp(l->name_iexact, "") == 0,
	    "empty name filter is present");
	FS_ASSERT_STR_EQ(l->group_iexact, "G");
	FS_CHECK(l->has_limit && l->limit == 10, "limit");
	FS_CHECK(l->has_offset && l->offset == 0, "offset");
	gw_rpc_req_fini(&rr);

	q.limit = "-1";
	FS_ASSERT_INT_EQ(prepare(&rr, "GET", "/api/flows/", &q, NULL, NULL,
	                     &err),
	    400);
	check_resp(&err, 400,
	    "{\"limit\":[\"A valid non-negative integer is required.\"]}",
	    "bad limit");
	gw_resp_fini(&err);
	gw_rpc_req_fini(&rr);

	q.limit = "5";
	q.offset = "x";
	FS_ASSERT_INT_EQ(prepare(&rr, "GET", "/api/flows/", &q, NULL, NULL,
	                     &err),
	    400);
	check_resp(&err, 400,
	    "{\"offset\":[\"A valid non-negative integer is required.\"]}",
	    "bad offset");
	gw_resp_fini(&err);
	gw_rpc_req_fini(&rr);
}

static void
test_gw_api_prepare_ids(void)
{
	static const struct {
		const char *method, *path;
		const ProtobufCMessageDescriptor *desc;
		Flowsvc__Kind kind;
	} cases[] = {
	    {"GET", "/api/flows/" ID "/", &flowsvc__get_request__descriptor,
	        FLOWSVC__KIND__FLOW},
	    {"GET", "/api/apps/" ID, &flowsvc__get_request__descriptor,
	        FLOWSVC__KIND__APP},
	    {"DELETE", "/api/flows/" ID, &flowsvc__id_request__descriptor,
	        FLOWSVC__KIND__FLOW},
	    {"DELETE", "/api/apps/" ID "/", &flowsvc__id_request__descriptor,
	        FLOWSVC__KIND__APP},
	    {"GET", "/api/apps/" ID "/status/",
	        &flowsvc__id_request__descriptor, FLOWSVC__KIND__KIND_ANY},
	    {"POST", "/api/apps/" ID "/deploy/",
	        &flowsvc__id_request__descriptor, FLOWSVC__KIND__KIND_ANY},
	    {"POST", "/api/apps/" ID "/stop", &flowsvc__id_request__descriptor,
	        FLOWSVC__KIND__KIND_ANY},
	    {"POST", "/api/apps/" ID "/start/",
	        &flowsvc__id_request__descriptor, FLOWSVC__KIND__KIND_ANY},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gw_rpc_req rr;
		struct gw_resp err;
		const char *id;
		int has_kind, kind;

		/* Lifecycle takes no body: a body or its type do not
		 * matter. */
		FS_ASSERT_INT_EQ(prepare(&rr, cases[i].method, cases[i].path,
		                     NULL, "text/plain", "ignored", &err),
		    0);
		FS_CHECK(rr.msg && rr.msg->descriptor == cases[i].desc,
		    "%s %s: %s", cases[i].method, cases[i].path,
		    rr.msg ? rr.msg->descriptor->name : "(none)");
		if (rr.msg == NULL)
			continue;
		if (cases[i].desc == &flowsvc__get_request__descriptor) {
			const Flowsvc__GetRequest *g = (const void *) rr.msg;

			id = g->id;
			has_kind = g->has_kind;
			kind = g->kind;
		} else {
			const Flowsvc__IdRequest *g = (const void *) rr.msg;

			id = g->id;
			has_kind = g->has_kind;
			kind = g->kind;
		}
		FS_ASSERT_STR_EQ(id, ID);
		FS_CHECK(has_kind && kind == (int) cases[i].kind,
		    "%s %s: kind %d", cases[i].method, cases[i].path, kind);
		gw_rpc_req_fini(&rr);
	}
}

static void
test_gw_api_prepare_bodies(void)
{
	struct gw_rpc_req rr;
	struct gw_resp err;
	const Flowsvc__CreateRequest *c;
	const Flowsvc__UpdateRequest *u;

	FS_ASSERT_INT_EQ(prepare(&rr, "POST", "/api/apps/", NULL,
	                     "application/json; charset=utf-8",
	                     "{\"name\": \"a\", \"x\": 1}", &err),
	    0);
	c = (const Flowsvc__CreateRequest *) rr.msg;
	FS_CHECK(rr.msg &&
	        rr.msg->descriptor == &flowsvc__create_request__descriptor,
	    "a CreateRequest");
	FS_CHECK(c->kind == FLOWSVC__KIND__APP, "kind app");
	FS_ASSERT_STR_EQ(c->name, "a");
	FS_CHECK(c->n_unknown_fields == 1, "unknown x");
	gw_rpc_req_fini(&rr);

	/* An empty body needs no Content-Type and means {}. */
	FS_ASSERT_INT_EQ(prepare(&rr, "POST", "/api/flows", NULL, NULL, "",
	                     &err),
	    0);
	c = (const Flowsvc__CreateRequest *) rr.msg;
	FS_CHECK(c && c->name == NULL && c->kind == FLOWSVC__KIND__FLOW,
	    "empty create");
	gw_rpc_req_fini(&rr);

	FS_ASSERT_INT_EQ(prepare(&rr, "PUT", "/api/flows/" ID "/", NULL,
	                     "application/json", "{\"flows\": []}", &err),
	    0);
	u = (const Flowsvc__UpdateRequest *) rr.msg;
	FS_CHECK(rr.msg &&
	        rr.msg->descriptor == &flowsvc__update_request__descriptor,
	    "an UpdateRequest");
	FS_ASSERT_STR_EQ(u->id, ID);
	FS_CHECK(u->has_kind && u->kind == FLOWSVC__KIND__FLOW, "kind");
	FS_CHECK(u->flows && u->flows->n_items == 0, "flows cleared");
	gw_rpc_req_fini(&rr);

	FS_ASSERT_INT_EQ(prepare(&rr, "PUT", "/api/apps/" ID, NULL, NULL, NULL,
	                     &err),
	    0);
	gw_rpc_req_fini(&rr);
}

static void
test_gw_api_prepare_body_errors(void)
{
	struct gw_rpc_req rr;
	struct gw_resp err;

	FS_ASSERT_INT_EQ(prepare(&rr, "POST", "/api/flows/", NULL,
	                     "text/plain", "{}", &err),
	    415);
	check_resp(&err, 415,
	    "{\"detail\":\"Unsupported media type \\\"text/plain\\\" in "
	    "request.\"}",
	    "text/plain");
	FS_CHECK(rr.msg == NULL, "nothing to send");
	gw_resp_fini(&err);
	gw_rpc_req_fini(&rr);

	FS_ASSERT_INT_EQ(prepare(&rr, "PUT", "/api/flows/" ID, NULL, NULL,
	                     "{}", &err),
	    415);
	check_resp(&err, 415,
	    "{\"detail\":\"Unsupported media type \\\"\\\" in request.\"}",
	    "no Content-Type");
	gw_resp_fini(&err);
	gw_rpc_req_fini(&rr);

	FS_ASSERT_INT_EQ(prepare(&rr, "POST", "/api/flows/", NULL,
	                     "application/json", "{\"name\": ", &err),
	    400);
	check_resp(&err, 400,
	    "{\"detail\":\"JSON parse error - unexpected token near end "
	    "of file (line 1, column 9)\"}",
	    "truncated JSON");
	gw_resp_fini(&err);
	gw_rpc_req_fini(&rr);

	FS_ASSERT_INT_EQ(prepare(&rr, "PUT", "/api/apps/" ID, NULL,
	                     "application/json", "[]", &err),
	    400);
	check_resp(&err, 400,
	    "{\"detail\":\"JSON parse error - expected a JSON object\"}",
	    "array body");
	gw_resp_fini(&err);
	gw_rpc_req_fini(&rr);
}

static void
test_gw_api_prepare_health(void)
{
	struct gw_rpc_req rr;
	struct gw_resp err;

	FS_ASSERT_INT_EQ(prepare(&rr, "GET", "/readyz", NULL, NULL, NULL,
	                     &err),
	    0);
	FS_CHECK(rr.msg && rr.msg->descriptor == &flowsvc__empty__descriptor,
	    "readyz sends Empty");
	gw_rpc_req_fini(&rr);
}

/* ---- render -------------------------------------------------------------- */

static void
test_gw_api_render_ok(void)
{
	Flowsvc__Component c = component();
	Flowsvc__Component *arr[] = {&c, &c};
	Flowsvc__ComponentReply cr = FLOWSVC__COMPONENT_REPLY__INIT;
	Flowsvc__ListReply lr = FLOWSVC__LIST_REPLY__INIT;
	Flowsvc__StatusReply sr = FLOWSVC__STATUS_REPLY__INIT;
	Flowsvc__Reply reply = FLOWSVC__REPLY__INIT;
	struct gw_match m;
	struct gw_resp r;

	cr.component = &c;
	set_payload(&reply, &cr.base);
	render_check("GET", "/api/flows/" ID, FS_OK, &reply, 200,
	    COMPONENT_JSON);
	render_check("PUT", "/api/flows/" ID, FS_OK, &reply, 200,
	    COMPONENT_JSON);

	m = match("POST", "/api/flows/");
	gw_api_render(&r, &m, NULL, FS_OK, &reply);
	check_resp(&r, 201, COMPONENT_JSON, "create flow");
	FS_ASSERT_STR_EQ(r.location, "/api/flows/" ID "/");
	gw_resp_fini(&r);
	m = match("POST", "/api/apps");
	gw_api_render(&r, &m, NULL, FS_OK, &reply);
	check_resp(&r, 201, COMPONENT_JSON, "create app");
	FS_ASSERT_STR_EQ(r.location, "/api/apps/" ID "/");
	gw_resp_fini(&r);
	free(reply.payload.data);

	/* Delete answers 204 with no body at all. */
	reply.has_payload = 0;
	render_check("DELETE", "/api/apps/" ID, FS_OK, &reply, 204, NULL);

	lr.n_components = 2;
	lr.components = arr;
	set_payload(&reply, &lr.base);
	render_check("GET", "/api/flows/", FS_OK, &reply, 200,
	    "[" COMPONENT_JSON "," COMPONENT_JSON "]");
	free(reply.payload.data);
	lr.n_components = 0;
	set_payload(&reply, &lr.base);
	render_check("GET", "/api/apps/", FS_OK, &reply, 200, "[]");
	free(reply.payload.data);

	sr.status = FLOWSVC__STATUS__STARTED;
	set_payload(&reply, &sr.base);
	render_check("GET", "/api/apps/" ID "/status/", FS_OK, &reply, 200,
	    "{\"status\":\"started\"}");
	render_check("POST", "/api/apps/" ID "/deploy/", FS_OK, &reply, 200,
	    "{\"status\":\"started\"}");
	render_check("POST", "/api/apps/" ID "/start/", FS_OK, &reply, 200,
	    "{\"status\":\"started\"}");
	free(reply.payload.data);
	sr.status = FLOWSVC__STATUS__STOPPED;
	set_payload(&reply, &sr.base);
	render_check("POST", "/api/apps/" ID "/stop/", FS_OK, &reply, 200,
	    "{\"status\":\"stopped\"}");
	free(reply.payload.data);

	reply.has_payload = 0;
	render_check("GET", "/readyz", FS_OK, &reply, 200,
	    "{\"status\":\"ready\"}");
}

static void
test_gw_api_render_bad_payload(void)
{
	Flowsvc__Reply reply = FLOWSVC__REPLY__INIT;
	uint8_t junk[] = {0xff, 0xff, 0xff};

	/* OK without the payload the method promises: a backend bug. */
	render_check("GET", "/api/flows/" ID, FS_OK, &reply, 500,
	    "{\"detail\":\"Internal error.\"}");
	render_check("GET", "/api/flows/" ID, FS_OK, NULL, 500,
	    "{\"detail\":\"Internal error.\"}");
	reply.has_payload = 1;
	reply.payload.data = junk;
	reply.payload.len = sizeof(junk);
	render_check("GET", "/api/flows/", FS_OK, &reply, 500,
	    "{\"detail\":\"Internal error.\"}");
	/* A ComponentReply without its required component. */
	reply.payload.len = 0;
	render_check("POST", "/api/flows/", FS_OK, &reply, 500,
	    "{\"detail\":\"Internal error.\"}");
}

static void
test_gw_api_render_errors(void)
{
	char *m1[] = {"This field is required."};
	char *m2[] = {"A flow with this name already exists in this group."};
	Flowsvc__FieldViolation v1 = FLOWSVC__FIELD_VIOLATION__INIT;
	Flowsvc__FieldViolation *vs[] = {&v1};
	Flowsvc__Reply reply = FLOWSVC__REPLY__INIT;

	v1.field = "name";
	v1.n_messages = 1;
	v1.messages = m1;
	reply.code = FLOWSVC__CODE__INVALID_ARGUMENT;
	reply.message = "Invalid request.";
	reply.n_violations = 1;
	reply.violations = vs;
	render_check("POST", "/api/flows/", FS_INVALID_ARGUMENT, &reply, 400,
	    "{\"name\":[\"This field is required.\"]}");
	v1.messages = m2;
	render_check("POST", "/api/flows/", FS_ALREADY_EXISTS, &reply, 400,
	    "{\"name\":[\"A flow with this name already exists in this "
	    "group.\"]}");

	/* Without violations: the message as detail, or the default. */
	reply.n_violations = 0;
	reply.message = "Bad thing.";
	render_check("PUT", "/api/flows/" ID, FS_INVALID_ARGUMENT, &reply, 400,
	    "{\"detail\":\"Bad thing.\"}");
	reply.message = NULL;
	render_check("PUT", "/api/flows/" ID, FS_INVALID_ARGUMENT, &reply, 400,
	    "{\"detail\":\"Invalid request.\"}");

	/* 404 is always the fixed text, whatever the backend says. */
	reply.message = "no such flow 123";
	render_check("GET", "/api/flows/" ID, FS_NOT_FOUND, &reply, 404,
	    "{\"detail\":\"Not found.\"}");

	reply.message = "Cannot delete the Flow, because it is used by these "
	                "apps/flows: a,b";
	render_check("DELETE", "/api/flows/" ID, FS_FAILED_PRECONDITION,
	    &reply, 409,
	    "{\"detail\":\"Cannot delete the Flow, because it is used by "
	    "these apps/flows: a,b\"}");
	reply.message = "The component is not deployed.";
	render_check("POST", "/api/apps/" ID "/stop/", FS_FAILED_PRECONDITION,
	    &reply, 409, "{\"detail\":\"The component is not deployed.\"}");
	/* A backend that is no longer the primary made nothing: the change
	 * may be sent again (CONTRACT §9), so 503, not a conflict. */
	reply.message = "Not the primary.";
	render_check("POST", "/api/flows/", FS_FAILED_PRECONDITION, &reply,
	    503, "{\"detail\":\"Service unavailable.\"}");

	reply.message = NULL;
	render_check("POST", "/api/flows/", FS_PERMISSION_DENIED, &reply, 403,
	    "{\"detail\":\"You do not have permission to perform this "
	    "action.\"}");

	/* Transport outcomes arrive without a reply. */
	render_check("GET", "/api/flows/" ID, FS_UNAVAILABLE, NULL, 503,
	    "{\"detail\":\"Service unavailable.\"}");
	render_check("GET", "/api/flows/" ID, FS_DEADLINE_EXCEEDED, NULL, 503,
	    "{\"detail\":\"Service unavailable.\"}");
	render_check("GET", "/api/flows/" ID, FS_INTERNAL, NULL, 500,
	    "{\"detail\":\"Internal error.\"}");
	/* Internal messages never leak into 500 bodies. */
	reply.message = "store invariant broken at 0x1234";
	render_check("GET", "/api/flows/" ID, FS_INTERNAL, &reply, 500,
	    "{\"detail\":\"Internal error.\"}");
	/* A stale compare-and-set: the fixed text of CONTRACT §2. */
	render_check("PUT", "/api/flows/" ID, FS_ABORTED, &reply, 412,
	    "{\"detail\":\"Precondition failed: the component has "
	    "changed.\"}");
	render_check("GET", "/api/flows/" ID, 99, NULL, 500,
	    "{\"detail\":\"Internal error.\"}");
	/* A list over the reply limit says how to page (README, Errors);
	 * the same code on another route stays an internal error. */
	reply.message = "Result too large: page it with limit and offset.";
	render_check("GET", "/api/flows/", FS_RESOURCE_EXHAUSTED, &reply, 500,
	    "{\"detail\":\"Result too large: page it with limit and "
	    "offset.\"}");
	render_check("GET", "/api/apps/", FS_RESOURCE_EXHAUSTED, NULL, 500,
	    "{\"detail\":\"Result too large: page it with limit and "
	    "offset.\"}");
	render_check("GET", "/api/flows/" ID, FS_RESOURCE_EXHAUSTED, &reply,
	    500, "{\"detail\":\"Internal error.\"}");

	render_check("GET", "/readyz", FS_UNAVAILABLE, NULL, 503,
	    "{\"detail\":\"Service unavailable.\"}");
	render_check("GET", "/readyz", FS_INTERNAL, &reply, 503,
	    "{\"detail\":\"Service unavailable.\"}");
}

static void
test_gw_api_error(void)
{
	struct gw_resp r;

	memset(&r, 0, sizeof(r));
	gw_api_error(&r, 413, "Request body too large.");
	check_resp(&r, 413, "{\"detail\":\"Request body too large.\"}", "413");
	/* Replacing a body frees the old one. */
	gw_api_error(&r, 404, "Not found.");
	check_resp(&r, 404, "{\"detail\":\"Not found.\"}", "404");
	gw_resp_fini(&r);
	FS_CHECK(r.body == NULL && r.status == 0, "fini clears");
}

static CU_TestInfo api_tests[] = {
    {"limit/offset syntax", test_gw_api_parse_uint},
    {"JSON media types", test_gw_api_json_type},
    {"list: kind, filters, limit, offset", test_gw_api_prepare_list},
    {"id routes: message, id, kind", test_gw_api_prepare_ids},
    {"create/update bodies", test_gw_api_prepare_bodies},
    {"415 and JSON errors", test_gw_api_prepare_body_errors},
    {"readyz sends HEALTH", test_gw_api_prepare_health},
    {"OK replies: 200, 201 + Location, 204", test_gw_api_render_ok},
    {"OK without a usable payload: 500", test_gw_api_render_bad_payload},
    {"error codes to HTTP", test_gw_api_render_errors},
    {"error bodies", test_gw_api_error},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gw_api", NULL, NULL, NULL, NULL, api_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
