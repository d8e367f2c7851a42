/*
 * test_openapi.c - gateway/openapi.json against the gateway it describes.
 *
 * The document suite holds the file to the routing table (gw_route_info and
 * gw_route_match: no route undocumented, no documented path or method the
 * gateway does not route), checks that it only uses schema keywords the
 * validator implements, that every $ref resolves and every example matches
 * its schema, and that each operation lists the answers the gateway's
 * layers can give it (limits, token, backend, conditional requests,
 * OPTIONS).
 *
 * The live suite starts the real backend and a gateway with tokens, small
 * limits and a CORS origin, serves the document from GET
 * /api/openapi.json (the same bytes), drives every operation through each
 * of its documented answers, and validates every response (status listed, required headers present,
 * media type, body against the schema). At the end every documented
 * (path, method, status) must have been seen, but 500, which takes a
 * backend fault.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "gw_routes.h"
#include "jschema.h"
#include "testlib.h"

#define TOK_ALL "openapi-all-0123456789"
#define TOK_G1 "openapi-g1-0123456789"
#define MAX_BODY "512"
#define MAX_URL "256"
#define MAX_PARAMS "4"

/* Canonical order of methods, as the gateway's Allow lists use it. */
static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE",
    "HEAD", "OPTIONS", "TRACE"};
#define ORIGIN "https://console.example.com"
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static json_t *doc;  /* the file */
static json_t *seen; /* "METHOD path status" -> true, from the live suite */
static fs_test_env env;
static char tokens_path[PATH_MAX + 16];
static char last_rid[32]; /* the X-Request-Id call() sent last */

/* ---- the document ------------------------------------------------------ */

static const json_t *
paths(void)
{
	return json_object_get(doc, "paths");
}

/* v, or what its "$ref" names (refs to refs followed). */
static const json_t *
deref(const json_t *v)
{
	for (int i = 0; i < 8 && json_is_object(v); i++) {
		const char *ref =
		    json_string_value(json_object_get(v, "$ref"));

		if (ref == NULL)
			return v;
		v = js_resolve_ref(doc, ref);
	}
	return v;
}

static void
lower(const char *in, char *out, size_t n)
{
	size_t i = 0;

	for (; in[i] && i + 1 < n; i++)
		out[i] = (char) tolower((unsigned char) in[i]);
	out[i] = '\0';
}

static const json_t *
operation(const char *tmpl, const char *method)
{
	char m[16];

	lower(method, m, sizeof(m));
	return json_object_get(json_object_get(paths(), tmpl), m);
}

/* The methods of a path item in canonical order, "GET, POST, HEAD,
 * OPTIONS": HEAD is implied by GET (the document spells it out only where
 * it is useful on its own). */
static void
doc_methods(const json_t *item, char *out, size_t n)
{
	out[0] = '\0';
	for (size_t i = 0; i < NMETHODS; i++) {
		char m[16];

		lower(methods[i], m, sizeof(m));
		if (json_object_get(item, m) == NULL &&
		    (strcmp(m, "head") != 0 ||
		        json_object_get(item, "get") == NULL))
			continue;
		if (out[0])
			strncat(out, ", ", n - strlen(out) - 1);
		strncat(out, methods[i], n - strlen(out) - 1);
	}
}

/* tmpl with "{id}" replaced by id. */
static void
fill(const char *tmpl, const char *id, char *out, size_t n)
{
	const char *at = strstr(tmpl, "{id}");

	if (at == NULL)
		snprintf(out, n, "%s", tmpl);
	else
		snprintf(out, n, "%.*s%s%s", (int) (at - tmpl), tmpl, id,
		    at + 4);
}

/* The security requirements that apply to op: its own, else the top
 * level's. Non-zero when one of them names a scheme: a gateway with
 * tokens asks for one (the empty requirement beside it says that one
 * without tokens does not). */
static int
needs_token(const json_t *op)
{
	const json_t *sec = json_object_get(op, "security");
	size_t i;
	json_t *req;

	if (sec == NULL)
		sec = json_object_get(doc, "security");
	json_array_foreach(sec, i,
	    req) if (json_object_size(req) > 0) return 1;
	return 0;
}

/* Which route the gateway makes of tmpl (with a uuid for {id}). */
static void
route_of(const char *method, const char *tmpl, struct gw_match *m)
{
	char path[256];

	fill(tmpl, "5b0c1e2f-8f43-4c1e-9d4a-0d1c2b3a4f5e", path, sizeof(path));
	gw_route_match(method, path, m);
}

/* Calls fn for every operation of the document. */
typedef void (
    *op_fn)(const char *tmpl, const char *method, const json_t *op, void *arg);

static void
each_op(op_fn fn, void *arg)
{
	const char *tmpl;
	json_t *item;

	json_object_foreach((json_t *) paths(), tmpl, item)
	{
		for (size_t i = 0; i < NMETHODS; i++) {
			const json_t *op = operation(tmpl, methods[i]);

			if (op != NULL)
				fn(tmpl, methods[i], op, arg);
		}
	}
}

/* ---- the document suite ------------------------------------------------ */

static int
load_doc(void)
{
	json_error_t e;

	doc = json_load_file(FLOWSVC_OPENAPI_JSON, 0, &e);
	if (doc == NULL) {
		fprintf(stderr, "%s:%d:%d: %s\n", FLOWSVC_OPENAPI_JSON, e.line,
		    e.column, e.text);
		return -1;
	}
	seen = json_object();
	return seen == NULL ? -1 : 0;
}

static void
test_header(void)
{
	const json_t *info = json_object_get(doc, "info");
	const json_t *bearer =
	    json_object_get(json_object_get(json_object_get(doc, "components"),
	                        "securitySchemes"),
	        "bearerAuth");
	const char *v = fs_json_str(doc, "openapi");

	FS_CHECK(v != NULL && strncmp(v, "3.0.", 4) == 0,
	    "openapi is 3.0.x, got %s", v ? v : "(none)");
	FS_ASSERT_STR_EQ(fs_json_str(info, "version"), FLOWSVC_VERSION);
	FS_CHECK(fs_json_str(info, "title") != NULL, "info.title");
	FS_ASSERT_STR_EQ(fs_json_str(bearer, "type"), "http");
	FS_ASSERT_STR_EQ(fs_json_str(bearer, "scheme"), "bearer");
	FS_CHECK(fs_json_str(json_object_get(info, "license"), "name") != NULL,
	    "info.license.name");
	/* Optional: a gateway without --tokens is open. */
	{
		json_t *want =
		    json_loads("[{}, {\"bearerAuth\": []}]", 0, NULL);

		FS_CHECK(json_equal(json_object_get(doc, "security"), want),
		    "security is [{}, {bearerAuth: []}]");
		json_decref(want);
	}
}

/* Every {"$ref": ...} anywhere resolves. */
static void
check_refs(const json_t *v, const char *where)
{
	const char *key;
	json_t *child;
	size_t i;

	if (json_is_object(v)) {
		const char *ref = fs_json_str(v, "$ref");

		if (ref != NULL)
			FS_CHECK(js_resolve_ref(doc, ref) != NULL,
			    "%s: $ref %s does not resolve", where, ref);
		json_object_foreach((json_t *) v, key, child)
		    check_refs(child, key);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child) check_refs(child, where);
	}
}

static void
test_refs_resolve(void)
{
	check_refs(doc, "document");
}

/* A schema the validator fully understands, and its example (when one is
 * given) valid against it. Returns 1 when an example was checked. */
static int
check_schema_example(const json_t *holder, const char *what)
{
	const json_t *schema = json_object_get(holder, "schema");
	const json_t *ex = json_object_get(holder, "example");
	char err[512];

	if (!FS_CHECK(schema != NULL, "%s: no schema", what))
		return 0;
	if (!FS_CHECK(js_check_schema(doc, schema, err, sizeof(err)) == 0,
	        "%s: schema: %s", what, err))
		return 0;
	if (ex == NULL)
		return 0;
	FS_CHECK(js_validate(doc, schema, ex, err, sizeof(err)) == 0,
	    "%s: example does not match its schema: %s", what, err);
	return 1;
}

static void
test_component_schemas(void)
{
	const json_t *comp = json_object_get(doc, "components");
	const char *name;
	json_t *v;
	char err[512];

	json_object_foreach(json_object_get(comp, "schemas"), name, v)
	    FS_CHECK(js_check_schema(doc, v, err, sizeof(err)) == 0,
	        "schemas/%s: %s", name, err);
	json_object_foreach(json_object_get(comp, "parameters"), name, v)
	{
		char what[128];

		snprintf(what, sizeof(what), "parameters/%s", name);
		FS_CHECK(check_schema_example(v, what) == 1,
		    "%s has an example", what);
	}
	json_object_foreach(json_object_get(comp, "headers"), name, v)
	{
		char what[128];

		snprintf(what, sizeof(what), "headers/%s", name);
		check_schema_example(v, what);
	}
}

/* Every response of every operation: a description, X-Request-Id, and
 * either no content (204, 304, any answer to HEAD, OPTIONS' 200) or one
 * media type with a schema and an example that matches it. */
static void
check_responses(const char *tmpl, const char *method, const json_t *op,
    void *arg)
{
	const json_t *rid =
	    json_object_get(json_object_get(json_object_get(doc, "components"),
	                        "headers"),
	        "X-Request-Id");
	const char *code;
	json_t *v;

	(void) arg;
	FS_CHECK(json_object_size(json_object_get(op, "responses")) > 0,
	    "%s %s: no responses", method, tmpl);
	json_object_foreach(json_object_get(op, "responses"), code, v)
	{
		const json_t *rsp = deref(v);
		const json_t *content = json_object_get(rsp, "content");
		const char *mt;
		json_t *m;

		FS_CHECK(fs_json_str(rsp, "description") != NULL,
		    "%s %s %s: description", method, tmpl, code);
		FS_CHECK(deref(json_object_get(json_object_get(rsp, "headers"),
		             "X-Request-Id")) == rid,
		    "%s %s %s: X-Request-Id header", method, tmpl, code);
		if (strcmp(code, "204") == 0 || strcmp(code, "304") == 0 ||
		    strcmp(method, "HEAD") == 0 ||
		    (strcmp(method, "OPTIONS") == 0 &&
		        strcmp(code, "200") == 0)) {
			FS_CHECK(content == NULL, "%s %s %s has content",
			    method, tmpl, code);
			continue;
		}
		FS_CHECK(json_object_size(content) == 1,
		    "%s %s %s: one media type", method, tmpl, code);
		json_object_foreach((json_t *) content, mt, m)
		{
			char what[256];

			snprintf(what, sizeof(what), "%s %s %s %s", method,
			    tmpl, code, mt);
			FS_CHECK(check_schema_example(m, what) == 1,
			    "%s has an example", what);
		}
	}
	if (json_object_get(op, "requestBody") != NULL) {
		const json_t *m =
		    json_object_get(json_object_get(json_object_get(op,
		                                        "requestBody"),
		                        "content"),
		        "application/json");
		char what[256];

		snprintf(what, sizeof(what), "%s %s request body", method,
		    tmpl);
		FS_CHECK(m != NULL, "%s: application/json", what);
		FS_CHECK(m == NULL || check_schema_example(m, what) == 1,
		    "%s has an example", what);
	}
}

static void
test_responses_and_examples(void)
{
	each_op(check_responses, NULL);
}

/* The parameters a path item declares for all its operations: the
 * X-Request-Id header everywhere, the id wherever the path has one. */
static void
check_path_params(const char *tmpl, const json_t *item)
{
	int rid = 0, id = 0;
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(item, "parameters"), i, v)
	{
		const json_t *p = deref(v);
		const char *name = fs_json_str(p, "name");
		const char *in = fs_json_str(p, "in");

		if (name == NULL || in == NULL)
			continue;
		rid += strcmp(name, "X-Request-Id") == 0 &&
		    strcmp(in, "header") == 0;
		id += strcmp(name, "id") == 0 && strcmp(in, "path") == 0 &&
		    json_is_true(json_object_get(p, "required"));
	}
	FS_CHECK(rid == 1, "%s declares X-Request-Id once (%d)", tmpl, rid);
	FS_CHECK(id == (strstr(tmpl, "{id}") != NULL),
	    "%s declares its id parameter %d times", tmpl, id);
}

/* The routing table, both ways. */
static void
test_paths_are_the_routes(void)
{
	const char *tmpl;
	json_t *item;

	for (int r = 1; r < GW_ROUTE_COUNT; r++) {
		const struct gw_route_info *ri = gw_route_info(r);
		char got[128];

		item = json_object_get(paths(), ri->path);
		if (!FS_CHECK(item != NULL,
		        "route %s (%s) is not in the document", ri->name,
		        ri->path))
			continue;
		doc_methods(item, got, sizeof(got));
		FS_CHECK(strcmp(got, ri->allow) == 0,
		    "%s: the document has %s, the gateway takes %s", ri->path,
		    got, ri->allow);
	}
	FS_ASSERT_INT_EQ(json_object_size(paths()), GW_ROUTE_COUNT - 1);

	json_object_foreach((json_t *) paths(), tmpl, item)
	{
		for (size_t i = 0; i < NMETHODS; i++) {
			struct gw_match m;
			char path[256];

			if (operation(tmpl, methods[i]) == NULL)
				continue;
			route_of(methods[i], tmpl, &m);
			FS_CHECK(m.http_status == 0 &&
			        strcmp(gw_route_info(m.route)->path, tmpl) ==
			            0,
			    "documented %s %s: the gateway answers %d (route "
			    "%s)",
			    methods[i], tmpl, m.http_status,
			    gw_route_name(m.route));
			/* The other spelling of the trailing slash. */
			fill(tmpl, "5b0c1e2f-8f43-4c1e-9d4a-0d1c2b3a4f5e",
			    path, sizeof(path));
			if (path[strlen(path) - 1] == '/')
				path[strlen(path) - 1] = '\0';
			else
				strncat(path, "/",
				    sizeof(path) - strlen(path) - 1);
			gw_route_match(methods[i], path, &m);
			FS_CHECK(m.http_status == 0, "%s %s: %d", methods[i],
			    path, m.http_status);
		}
		check_path_params(tmpl, item);
	}
}

static int
lists(const json_t *op, const char *code)
{
	return json_object_get(json_object_get(op, "responses"), code) != NULL;
}

/* Whether op declares the header parameter name. */
static int
takes_header(const json_t *op, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(op, "parameters"), i, v)
	{
		const json_t *p = deref(v);

		if (strcmp(fs_json_str(p, "in") ? fs_json_str(p, "in") : "",
		        "header") == 0 &&
		    strcmp(fs_json_str(p, "name") ? fs_json_str(p, "name")
		                                  : "",
		        name) == 0)
			return 1;
	}
	return 0;
}

/* Whether the response code of op lists the header name. */
static int
has_header(const json_t *op, const char *code, const char *name)
{
	const json_t *rsp =
	    deref(json_object_get(json_object_get(op, "responses"), code));

	return json_object_get(json_object_get(rsp, "headers"), name) != NULL;
}

/* What every layer of the gateway can answer, listed where it applies:
 * the limits everywhere, 401 exactly where a token is asked for, 503
 * exactly where the backend is called, 415 exactly where a body is read,
 * 201 + Location on creates. */
static void
check_layers(const char *tmpl, const char *method, const json_t *op, void *arg)
{
	static const char *const everywhere[] = {"400", "413", "414", "431",
	    "500"};
	struct gw_match m;
	int body, backend;

	(void) arg;
	route_of(method, tmpl, &m);
	body = m.action == GW_ACT_CREATE || m.action == GW_ACT_UPDATE;
	for (size_t i = 0; i < sizeof(everywhere) / sizeof(*everywhere); i++)
		FS_CHECK(lists(op, everywhere[i]), "%s %s does not list %s",
		    method, tmpl, everywhere[i]);
	FS_CHECK(lists(op, "401") == needs_token(op),
	    "%s %s: 401 listed %d, token needed %d", method, tmpl,
	    lists(op, "401"), needs_token(op));
	/* /metrics asks the backend too, but answers 200 (with
	 * flowsvc_backend_up 0) when it does not answer. */
	backend = m.rpc != FLOWSVC__METHOD__METHOD_UNSPECIFIED &&
	    m.action != GW_ACT_METRICS;
	FS_CHECK(lists(op, "503") == backend,
	    "%s %s: 503 listed %d, the backend's answer decides %d", method,
	    tmpl, lists(op, "503"), backend);
	FS_CHECK(lists(op, "415") == body, "%s %s: 415 listed %d, body %d",
	    method, tmpl, lists(op, "415"), body);
	FS_CHECK((json_object_get(op, "requestBody") != NULL) == body,
	    "%s %s: requestBody", method, tmpl);
	FS_CHECK(lists(op, "201") == (m.action == GW_ACT_CREATE), "%s %s: 201",
	    method, tmpl);
	/* Conditional requests (CONTRACT §2): If-Match and 412 on the
	 * changes of one component, If-None-Match and 304 on its GET (and
	 * HEAD), an ETag on every answer that is a component. */
	{
		int cas = m.action == GW_ACT_UPDATE ||
		    m.action == GW_ACT_DELETE || m.action == GW_ACT_DEPLOY ||
		    m.action == GW_ACT_START || m.action == GW_ACT_STOP;
		int get = m.action == GW_ACT_GET;
		const char *ok = m.action == GW_ACT_CREATE ? "201" : "200";

		FS_CHECK(lists(op, "412") == cas &&
		        takes_header(op, "If-Match") == cas,
		    "%s %s: 412 and If-Match %d", method, tmpl, cas);
		FS_CHECK(lists(op, "304") == get &&
		        takes_header(op, "If-None-Match") == get,
		    "%s %s: 304 and If-None-Match %d", method, tmpl, get);
		FS_CHECK(has_header(op, ok, "ETag") ==
		        (get || m.action == GW_ACT_UPDATE ||
		            m.action == GW_ACT_CREATE),
		    "%s %s: ETag on %s", method, tmpl, ok);
		FS_CHECK(!get || has_header(op, "304", "ETag"),
		    "%s %s: ETag on 304", method, tmpl);
	}
	/* OPTIONS: the gateway's own answer, no token; 204 for a CORS
	 * preflight. */
	FS_CHECK((m.action == GW_ACT_OPTIONS) ==
	        (lists(op, "204") && !lists(op, "503") &&
	            has_header(op, "200", "Allow")),
	    "%s %s: OPTIONS answers", method, tmpl);
}

static void
test_layers_listed(void)
{
	each_op(check_layers, NULL);
}

/* ---- live: checking one response ---------------------------------------- */

/* r against one Response Object: required headers present and valid,
 * media type listed, body valid. what names the request in messages. */
static void
check_against(const json_t *rsp, const fs_http_resp *r, const char *what,
    const char *file, int line)
{
	const json_t *content = json_object_get(rsp, "content");
	const char *name;
	json_t *h;
	char err[512];

	json_object_foreach(json_object_get(rsp, "headers"), name, h)
	{
		const char *val = fs_http_header_get(r, name);
		json_t *s;

		h = (json_t *) deref(h);
		if (val == NULL) {
			fs_check(!json_is_true(json_object_get(h, "required")),
			    file, line, "header", "%s: no %s header", what,
			    name);
			continue;
		}
		s = json_string(val);
		fs_check(js_validate(doc, json_object_get(h, "schema"), s, err,
		             sizeof(err)) == 0,
		    file, line, "header", "%s: header %s: %s", what, name,
		    err);
		json_decref(s);
	}
	if (content == NULL) {
		fs_check(r->body_len == 0, file, line, "body",
		    "%s: documented without a body, got %zu bytes", what,
		    r->body_len);
		return;
	}
	{
		const char *ct = fs_http_header_get(r, "Content-Type");
		char base[64];
		const json_t *mt;
		json_t *inst;
		json_error_t e;
		size_t n;

		lower(ct ? ct : "", base, sizeof(base));
		n = strcspn(base, "; ");
		base[n] = '\0';
		mt = json_object_get(content, base);
		if (!fs_check(mt != NULL, file, line, "media type",
		        "%s: Content-Type \"%s\" not documented", what,
		        ct ? ct : "(none)"))
			return;
		if (strcmp(base, "application/json") == 0)
			inst = json_loadb(r->body, r->body_len,
			    JSON_DECODE_ANY, &e);
		else
			inst = json_stringn(r->body, r->body_len);
		if (!fs_check(inst != NULL, file, line, "body",
		        "%s: body is not %s: %.200s", what, base, r->body))
			return;
		fs_check(js_validate(doc, json_object_get(mt, "schema"), inst,
		             err, sizeof(err)) == 0,
		    file, line, "body", "%s: %s; body %.300s", what, err,
		    r->body);
		json_decref(inst);
	}
}

/* r as the answer to method tmpl: its status listed for the operation and
 * the response valid against what the document says of it. */
static void
check_doc(const char *method, const char *tmpl, const fs_http_resp *r,
    const char *file, int line)
{
	const json_t *op = operation(tmpl, method);
	char code[8], what[512], key[320];
	const json_t *rsp;

	snprintf(what, sizeof(what), "%s %s -> %d", method, r->path,
	    r->status);
	if (!fs_check(op != NULL, file, line, "operation",
	        "%s %s is not in the document", method, tmpl))
		return;
	snprintf(code, sizeof(code), "%d", r->status);
	rsp = deref(json_object_get(json_object_get(op, "responses"), code));
	if (!fs_check(rsp != NULL, file, line, "status",
	        "%s: status not documented for %s %s; body %.300s", what,
	        method, tmpl, r->body ? r->body : ""))
		return;
	snprintf(key, sizeof(key), "%s %s %s", method, tmpl, code);
	json_object_set_new(seen, key, json_true());
	check_against(rsp, r, what, file, line);
}

/* Request headers the next call() adds (NULL-terminated, at most 3), or
 * NULL: see EXPECT_H. */
static const char *const *more_hdrs;

/* One request; returns the status (0 when none came back). headers are
 * added to the ones given: a token, a Content-Type, more_hdrs. */
static int
call(const char *method, const char *path, const char *token,
    const char *ctype, const char *body, fs_http_resp *r)
{
	static unsigned seq;
	char auth[128], ct[128], rid[64];
	const char *hdrs[8];
	int n = 0;

	/* The documented X-Request-Id parameter, checked in expect(). */
	snprintf(last_rid, sizeof(last_rid), "openapi-%u", ++seq);
	snprintf(rid, sizeof(rid), "X-Request-Id: %s", last_rid);
	hdrs[n++] = rid;
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    token);
		hdrs[n++] = auth;
	}
	if (ctype != NULL) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		hdrs[n++] = ct;
	}
	for (int i = 0; more_hdrs != NULL && more_hdrs[i] != NULL && i < 3;
	     i++)
		hdrs[n++] = more_hdrs[i];
	hdrs[n] = NULL;
	memset(r, 0, sizeof(*r));
	(void) fs_http_request(env.http, method, path, hdrs, body,
	    body ? (size_t) -1 : 0, r);
	return r->status;
}

/* Calls method on tmpl (with id), checks the status and validates the
 * answer against the document. Copies the created id out of a 201. */
static void
expect(const char *method, const char *tmpl, const char *id, const char *query,
    const char *token, const char *ctype, const char *body, int status,
    char *new_id, const char *file, int line)
{
	char path[512];
	fs_http_resp r;

	fill(tmpl, id ? id : "", path, sizeof(path));
	if (query != NULL)
		strncat(path, query, sizeof(path) - strlen(path) - 1);
	call(method, path, token, ctype, body, &r);
	fs_check(r.status == status, file, line, "status",
	    "%s %s: expected %d, got %d; body %.300s", method, path, status,
	    r.status, r.body ? r.body : "");
	{
		const char *rid = fs_http_header_get(&r, "X-Request-Id");

		fs_check(rid != NULL && strcmp(rid, last_rid) == 0, file, line,
		    "X-Request-Id", "%s %s: sent X-Request-Id %s, got %s",
		    method, path, last_rid, rid ? rid : "(none)");
	}
	check_doc(method, tmpl, &r, file, line);
	if (new_id != NULL) {
		const char *v = fs_json_str(r.json, "id");

		snprintf(new_id, 64, "%s", v ? v : "");
	}
	fs_http_resp_free(&r);
}

#define EXPECT(method, tmpl, id, query, token, ctype, body, status, new_id)   \
	expect((method), (tmpl), (id), (query), (token), (ctype), (body),     \
	    (status), (new_id), __FILE__, __LINE__)

/* The usual case: a trusted token, JSON. */
#define EXPECT_OK(method, tmpl, id, body, status)                             \
	EXPECT(method, tmpl, id, NULL, TOK_ALL, NULL, body, status, NULL)

/* The same with one more request header (If-Match: "2", ...). */
#define EXPECT_H(method, tmpl, id, hdr, body, status)                         \
	do {                                                                  \
		const char *const h_[] = {(hdr), NULL};                       \
		more_hdrs = h_;                                               \
		EXPECT_OK(method, tmpl, id, body, status);                    \
		more_hdrs = NULL;                                             \
	} while (0)

/* ---- the live suite ----------------------------------------------------- */

static int
live_init(void)
{
	/* At most 8 strings (tl_env.h). */
	static const char *extra[] = {"--tokens", tokens_path,
	    "--max-body=" MAX_BODY, "--max-url=" MAX_URL,
	    "--max-query-params=" MAX_PARAMS, "--cors-origin=" ORIGIN, NULL};
	FILE *f;

	if (fs_env_init(&env, "openapi") != 0)
		return -1;
	snprintf(tokens_path, sizeof(tokens_path), "%s/tokens", env.dir);
	if ((f = fopen(tokens_path, "w")) == NULL)
		return -1;
	fprintf(f, "%s *\n%s g1\n", TOK_ALL, TOK_G1);
	if (fclose(f) != 0)
		return -1;
	env.gw_extra = extra;
	return fs_env_start_programs(&env);
}

static int
live_fini(void)
{
	return fs_env_fini(&env);
}

static void
test_serves_the_file(void)
{
	fs_http_resp r;
	json_t *served;

	/* No token: the description is public. */
	call("GET", "/api/openapi.json", NULL, NULL, NULL, &r);
	if (FS_ASSERT_STATUS(&r, 200)) {
		check_doc("GET", "/api/openapi.json", &r, __FILE__, __LINE__);
		served = json_loadb(r.body, r.body_len, 0, NULL);
		FS_CHECK(served != NULL && json_equal(served, doc),
		    "GET /api/openapi.json is gateway/openapi.json");
		json_decref(served);
	}
	fs_http_resp_free(&r);
}

#define FLOWS "/api/flows/"
#define FLOW "/api/flows/{id}/"
#define APPS "/api/apps/"
#define APP "/api/apps/{id}/"
#define NO_SUCH "0b7a5c3e-1d2f-4a6b-8c9d-0e1f2a3b4c5d"

#define WATCH "/api/watch/"

/* GET /api/watch/ 200: a stream, which the HTTP client above would wait
 * on for ever; its head is checked here. */
static void
watch_stream(void)
{
	static const char *const h[] = {"Authorization: Bearer " TOK_ALL,
	    "X-Request-Id: openapi-watch", NULL};
	const json_t *rsp =
	    deref(json_object_get(json_object_get(operation(WATCH, "GET"),
	                              "responses"),
	        "200"));
	char v[128];
	fs_sse s;

	if (!FS_CHECK(fs_sse_open(&s, env.gw_port, WATCH, h, 0, 10000) == 0,
	        "GET %s", WATCH))
		return;
	if (FS_CHECK(s.status == 200 && rsp != NULL, "GET %s: %d", WATCH,
	        s.status)) {
		const char *name;
		json_t *hd;

		json_object_set_new(seen, "GET " WATCH " 200", json_true());
		FS_CHECK(fs_sse_header(&s, "Content-Type", v, sizeof(v)) &&
		        json_object_get(json_object_get(rsp, "content"), v),
		    "GET %s: Content-Type %s documented", WATCH, v);
		json_object_foreach(json_object_get(rsp, "headers"), name, hd)
		    FS_CHECK(fs_sse_header(&s, name, v, sizeof(v)) != NULL,
		        "GET %s: no %s header", WATCH, name);
	}
	fs_sse_close(&s);
}

/* Every operation through its own answers, each response validated. */
static void
test_operations(void)
{
	char leaf[64], mid[64], bot[64], body[256];
	static const char *const life[] = {"/api/apps/{id}/status/",
	    "/api/apps/{id}/deploy/", "/api/apps/{id}/stop/",
	    "/api/apps/{id}/start/"};

	EXPECT("POST", FLOWS, NULL, NULL, TOK_ALL, NULL,
	    "{\"name\": \"leaf\", \"input_fields\": [\"a\"]}", 201, leaf);
	snprintf(body, sizeof(body),
	    "{\"name\": \"mid\", \"flows\": [\"%s\"]}", leaf);
	EXPECT("POST", FLOWS, NULL, NULL, TOK_ALL, NULL, body, 201, mid);
	snprintf(body, sizeof(body),
	    "{\"name\": \"bot\", \"flows\": [\"%s\"]}", mid);
	EXPECT("POST", APPS, NULL, NULL, TOK_ALL, NULL, body, 201, bot);

	/* Creates that fail, for both kinds. */
	for (int k = 0; k < 2; k++) {
		const char *coll = k ? APPS : FLOWS;

		EXPECT_OK("POST", coll, NULL,
		    k ? "{\"name\": \"bot\"}" : "{\"name\": \"leaf\"}", 400);
		EXPECT_OK("POST", coll, NULL, "{\"name\": ", 400);
		EXPECT_OK("POST", coll, NULL, "{\"name\": \"x\", \"nope\": 1}",
		    400);
		EXPECT("POST", coll, NULL, NULL, TOK_ALL, "text/plain", "x",
		    415, NULL);
		EXPECT("POST", coll, NULL, NULL, TOK_G1, NULL,
		    "{\"name\": \"x\", \"group\": \"g2\"}", 403, NULL);
		/* Lists, filters and bad paging. */
		EXPECT_OK("GET", coll, NULL, NULL, 200);
		EXPECT("GET", coll, NULL, "?name__iexact=LEAF&limit=1",
		    TOK_ALL, NULL, NULL, 200, NULL);
		EXPECT("GET", coll, NULL, "?limit=x", TOK_ALL, NULL, NULL, 400,
		    NULL);
		EXPECT("GET", coll, NULL, "?offset=-1", TOK_ALL, NULL, NULL,
		    400, NULL);
	}

	/* Items: the right kind, the other kind, an unknown id. */
	EXPECT_OK("GET", FLOW, leaf, NULL, 200);
	EXPECT_OK("GET", FLOW, bot, NULL, 404);
	EXPECT_OK("GET", APP, bot, NULL, 200);
	EXPECT_OK("GET", APP, leaf, NULL, 404);
	EXPECT_OK("GET", APP, "not-a-uuid", NULL, 404);
	for (int k = 0; k < 2; k++) {
		const char *item = k ? APP : FLOW;
		const char *id = k ? bot : mid;

		EXPECT_OK("PUT", item, id, "{\"output_fields\": [\"o\"]}",
		    200);
		EXPECT_OK("PUT", item, id, "{\"input_fields\": \"x\"}", 400);
		EXPECT_OK("PUT", item, id, "[1]", 400);
		EXPECT_OK("PUT", item, NO_SUCH, "{}", 404);
		EXPECT("PUT", item, id, NULL, TOK_ALL, "text/plain", "x", 415,
		    NULL);
		/* Version 2 now: conditional requests on it. */
		EXPECT_H("PUT", item, id, "If-Match: \"1\"", "{}", 412);
		EXPECT_H("GET", item, id, "If-None-Match: \"2\"", NULL, 304);
		EXPECT_H("HEAD", item, id, "If-None-Match: \"2\"", NULL, 304);
		EXPECT_OK("HEAD", item, id, NULL, 200);
		EXPECT_OK("HEAD", item, NO_SUCH, NULL, 404);
		/* PATCH is PUT. */
		EXPECT_H("PATCH", item, id, "If-Match: \"2\"",
		    "{\"input_fields\": [\"i\"]}", 200);
		EXPECT_OK("PATCH", item, id, "{\"flows\": null}", 400);
		EXPECT_OK("PATCH", item, NO_SUCH, "{}", 404);
		EXPECT_H("PATCH", item, id, "If-Match: \"2\"", "{}", 412);
		EXPECT("PATCH", item, id, NULL, TOK_ALL, "text/plain", "x",
		    415, NULL);
		EXPECT_H("DELETE", item, id, "If-Match: \"2\"", NULL, 412);
	}

	/* Lifecycle on a flow (any component id). */
	EXPECT_OK("GET", life[0], mid, NULL, 200);
	EXPECT_OK("POST", life[2], mid, NULL, 409);
	EXPECT_OK("POST", life[3], mid, NULL, 409);
	EXPECT_OK("POST", life[1], mid, NULL, 200);
	EXPECT_OK("POST", life[2], mid, NULL, 200);
	EXPECT_OK("POST", life[3], mid, NULL, 200);
	for (size_t i = 0; i < 4; i++) {
		EXPECT_OK(i ? "POST" : "GET", life[i], NO_SUCH, NULL, 404);
		if (i > 0)
			EXPECT_H("POST", life[i], mid, "If-Match: \"1\"", NULL,
			    412);
	}
	/* OPTIONS, and a CORS preflight from the allowed origin. */
	{
		const char *tmpl;
		json_t *item;

		json_object_foreach((json_t *) paths(), tmpl, item)
		{
			const char *const h[] = {"Origin: " ORIGIN,
			    "Access-Control-Request-Method: GET", NULL};

			EXPECT("OPTIONS", tmpl, mid, NULL, NULL, NULL, NULL,
			    200, NULL);
			more_hdrs = h;
			EXPECT("OPTIONS", tmpl, mid, NULL, NULL, NULL, NULL,
			    204, NULL);
			more_hdrs = NULL;
		}
	}

	/* Deletes: in use, done, gone. */
	EXPECT_OK("DELETE", FLOW, leaf, NULL, 409);
	EXPECT_OK("DELETE", APP, bot, NULL, 204);
	EXPECT_OK("DELETE", APP, bot, NULL, 404);
	EXPECT_OK("DELETE", FLOW, mid, NULL, 204);
	EXPECT_OK("DELETE", FLOW, leaf, NULL, 204);
	EXPECT_OK("DELETE", FLOW, leaf, NULL, 404);

	/* The watch: its refusals, then a stream. */
	EXPECT("GET", WATCH, NULL, "?since=x", TOK_ALL, NULL, NULL, 400, NULL);
	EXPECT("GET", WATCH, NULL, "?since=999999999", TOK_ALL, NULL, NULL,
	    410, NULL);
	watch_stream();

	/* Operations, without a token. */
	EXPECT("GET", "/healthz", NULL, NULL, NULL, NULL, NULL, 200, NULL);
	EXPECT("GET", "/readyz", NULL, NULL, NULL, NULL, NULL, 200, NULL);
	EXPECT("GET", "/metrics", NULL, NULL, NULL, NULL, NULL, 200, NULL);
}

/* What the gateway's own layers answer, on every operation. */
struct layer {
	const char *query;  /* appended to the path */
	const char *body;   /* sent as JSON */
	const char *header; /* one more request header */
	int with_token;
	int status;    /* expected where it applies ... */
	int otherwise; /* ... and elsewhere (0: applies everywhere) */
};

static void
layer_op(const char *tmpl, const char *method, const json_t *op, void *arg)
{
	const struct layer *l = arg;
	char path[1024];
	fs_http_resp r;
	int want = l->status;

	if (l->otherwise != 0 && !needs_token(op))
		want = l->otherwise;
	fill(tmpl, NO_SUCH, path, sizeof(path));
	if (l->query)
		strncat(path, l->query, sizeof(path) - strlen(path) - 1);
	memset(&r, 0, sizeof(r));
	if (l->body != NULL || l->header != NULL) {
		/* The gateway closes the connection after an early 400, 413
		 * or 431. */
		const char *hdrs[] = {l->header, NULL};

		(void) fs_http_once(env.gw_port, method, path, hdrs, l->body,
		    l->body ? (size_t) -1 : 0, &r);
	} else {
		call(method, path, l->with_token ? TOK_ALL : NULL, NULL, NULL,
		    &r);
	}
	FS_CHECK(r.status == want, "%s %s: expected %d, got %d; body %.200s",
	    method, path, want, r.status, r.body ? r.body : "");
	check_doc(method, tmpl, &r, __FILE__, __LINE__);
	fs_http_resp_free(&r);
}

static void
test_limits_and_tokens(void)
{
	static char bighdr[20000];
	char big[2048], longq[512];
	struct layer l;

	memcpy(bighdr, "X-Big: ", 7);
	memset(bighdr + 7, 'b', sizeof(bighdr) - 8);
	bighdr[sizeof(bighdr) - 1] = '\0';

	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	snprintf(longq, sizeof(longq), "?q=%0300d", 7);

	/* No token: 401 where the document asks for one, else served. */
	l = (struct layer){NULL, NULL, NULL, 0, 401, 200};
	each_op(layer_op, &l);
	l = (struct layer){longq, NULL, NULL, 1, 414, 0};
	each_op(layer_op, &l);
	l = (struct layer){"?a=1&b=2&c=3&d=4&e=5", NULL, NULL, 1, 400, 0};
	each_op(layer_op, &l);
	l = (struct layer){NULL, big, NULL, 0, 413, 0};
	each_op(layer_op, &l);
	/* Over the default --max-header-bytes (16 KiB), under twice it. */
	l = (struct layer){NULL, NULL, bighdr, 0, 431, 0};
	each_op(layer_op, &l);
	/* Framing the gateway refuses (gw_framing): 400, before the token
	 * is looked at. */
	l = (struct layer){NULL, NULL, "Transfer-Encoding: gzip", 0, 400, 0};
	each_op(layer_op, &l);
}

/* 405 on every path for every method it does not take, with an Allow list
 * equal to the document's methods; 404 on paths it does not have. */
static void
test_other_methods_and_paths(void)
{
	const json_t *other = json_object_get(doc, "x-other-responses");
	const json_t *not_allowed =
	    deref(json_object_get(other, "MethodNotAllowed"));
	const json_t *no_path = deref(json_object_get(other, "NotFoundPath"));
	static const char *const unknown[] = {"/api/nope/", "/nope",
	    "/api/flows/x/y/", "/api/openapi.yaml"};
	const char *tmpl;
	json_t *item;

	json_object_foreach((json_t *) paths(), tmpl, item)
	{
		char want[128], path[256];

		doc_methods(item, want, sizeof(want));
		fill(tmpl, NO_SUCH, path, sizeof(path));
		for (size_t i = 0; i < NMETHODS; i++) {
			fs_http_resp r;
			const char *allow;

			if (operation(tmpl, methods[i]) != NULL ||
			    strcmp(methods[i], "HEAD") == 0)
				continue;
			call(methods[i], path, TOK_ALL, NULL, NULL, &r);
			allow = fs_http_header_get(&r, "Allow");
			FS_CHECK(r.status == 405 && allow != NULL &&
			        strcmp(allow, want) == 0,
			    "%s %s: expected 405 with Allow \"%s\", got %d "
			    "Allow \"%s\"",
			    methods[i], path, want, r.status,
			    allow ? allow : "(none)");
			check_against(not_allowed, &r, path, __FILE__,
			    __LINE__);
			fs_http_resp_free(&r);
		}
	}
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		fs_http_resp r;

		call("GET", unknown[i], TOK_ALL, NULL, NULL, &r);
		FS_CHECK(r.status == 404, "GET %s: %d", unknown[i], r.status);
		check_against(no_path, &r, unknown[i], __FILE__, __LINE__);
		fs_http_resp_free(&r);
	}
}

/* The backend down: 503 exactly where the document lists it. */
static void
backend_down_op(const char *tmpl, const char *method, const json_t *op,
    void *arg)
{
	char path[256];
	fs_http_resp r;
	int want = lists(op, "503") ? 503 : 200;

	(void) arg;
	fill(tmpl, NO_SUCH, path, sizeof(path));
	/* A watch from now streams from the gateway's own ring: from a
	 * revision the ring does not hold, it must ask the backend. */
	if (strcmp(tmpl, "/api/watch/") == 0)
		strncat(path, "?since=999999999",
		    sizeof(path) - strlen(path) - 1);
	call(method, path, TOK_ALL, NULL, NULL, &r);
	FS_CHECK(r.status == want,
	    "%s %s with the backend down: expected "
	    "%d, got %d",
	    method, path, want, r.status);
	check_doc(method, tmpl, &r, __FILE__, __LINE__);
	fs_http_resp_free(&r);
}

static void
test_backend_down(void)
{
	int st = fs_env_stop_backend(&env, SIGTERM);

	FS_CHECK(st != -1, "backend stopped");
	each_op(backend_down_op, NULL);
}

/* Every documented answer was given by the real gateway, but 500. */
static void
coverage_op(const char *tmpl, const char *method, const json_t *op, void *arg)
{
	const char *code;
	json_t *v;

	(void) arg;
	json_object_foreach(json_object_get(op, "responses"), code, v)
	{
		char key[320];

		if (strcmp(code, "500") == 0)
			continue;
		snprintf(key, sizeof(key), "%s %s %s", method, tmpl, code);
		FS_CHECK(json_object_get(seen, key) != NULL,
		    "documented but never seen: %s", key);
	}
}

static void
test_every_answer_seen(void)
{
	each_op(coverage_op, NULL);
}

static CU_TestInfo doc_tests[] = {
    {"OpenAPI 3.0, project version, bearer scheme", test_header},
    {"every $ref resolves", test_refs_resolve},
    {"component schemas use supported keywords; examples valid",
        test_component_schemas},
    {"every response described, with X-Request-Id and a valid example",
        test_responses_and_examples},
    {"paths and methods are exactly the gateway's routes",
        test_paths_are_the_routes},
    {"limits, 401, 415, 503, 412, 304, ETag listed where the gateway gives "
     "them",
        test_layers_listed},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo live_tests[] = {
    {"GET /api/openapi.json serves the file, without a token",
        test_serves_the_file},
    {"limits and tokens on every operation", test_limits_and_tokens},
    {"every operation's answers match the document", test_operations},
    {"405 with the documented Allow; 404 elsewhere",
        test_other_methods_and_paths},
    {"backend down: 503 where documented", test_backend_down},
    {"every documented answer was seen (but 500)", test_every_answer_seen},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"document", NULL, NULL, NULL, NULL, doc_tests},
    {"live", live_init, live_fini, NULL, NULL, live_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	int rc;

	if (load_doc() != 0)
		return 1;
	rc = fs_test_main(suites);
	json_decref(doc);
	json_decref(seen);
	return rc;
}
