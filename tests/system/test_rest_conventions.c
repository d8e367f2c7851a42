/*
 * test_rest_conventions.c - what a Django REST Framework client expects of
 * the gateway (CONTRACT §2, "Conventions a DRF client expects"), against
 * the real backend and gateway: PATCH, null for fields that may not be
 * null, empty filter values, HEAD and OPTIONS on every route, CORS
 * (--cors-origin), and conditional requests (ETag, If-Match,
 * If-None-Match) over REST, the RPC and flowctl, two editors of one flow
 * included.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define ORIGIN_A "https://console.example.com"
#define ORIGIN_B "http://127.0.0.1:3000"
#define NULL_MSG "[\"This field may not be null.\"]"
#define STALE                                                                 \
	"{\"detail\": \"Precondition failed: the component has changed.\"}"
#define COLL_ALLOW "GET, POST, HEAD, OPTIONS"
#define ITEM_ALLOW "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
#define GET_ALLOW "GET, HEAD, OPTIONS"
#define POST_ALLOW "POST, OPTIONS"

static fs_test_env env;

static int
suite_init(void)
{
	static const char *const extra[] = {"--cors-origin", ORIGIN_A,
	    "--cors-origin", ORIGIN_B, NULL};

	if (fs_env_init(&env, "conventions") != 0)
		return -1;
	env.gw_extra = extra;
	return fs_env_start_programs(&env);
}

static int
suite_fini(void)
{
	return fs_env_fini(&env);
}

/* One request on env's connection with up to four more headers (NULL
 * ended; the first NULL ends them) and a printf-style path. */
static int req(const char *method, const char *body, fs_http_resp *r,
    const char *h1, const char *h2, const char *path_fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int
req(const char *method, const char *body, fs_http_resp *r, const char *h1,
    const char *h2, const char *path_fmt, ...)
{
	const char *hdrs[] = {h1, h1 ? h2 : NULL, NULL};
	char path[1024];
	va_list ap;

	va_start(ap, path_fmt);
	vsnprintf(path, sizeof(path), path_fmt, ap);
	va_end(ap);
	memset(r, 0, sizeof(*r));
	return fs_http_request(env.http, method, path, hdrs, body,
	    body ? (size_t) -1 : 0, r);
}

/* The header name of r equals want (NULL: absent). */
static int
header_is(const fs_http_resp *r, const char *name, const char *want, int line)
{
	const char *v = fs_http_header_get(r, name);

	return fs_check(want == NULL ? v == NULL
	                             : v != NULL && !strcmp(v, want),
	    __FILE__, line, name, "%s %s: %s is \"%s\", expected \"%s\"",
	    r->method, r->path, name, v ? v : "(absent)",
	    want ? want : "(absent)");
}
#define HEADER_IS(r, name, want) header_is((r), (name), (want), __LINE__)

/* The version a component answer carries in its body. */
static long long
version_of(const char *coll, const char *id)
{
	fs_http_resp r;
	long long v;

	req("GET", NULL, &r, NULL, NULL, "/api/%s/%s/", coll, id);
	v = r.status == 200 ? (long long) fs_json_int(r.json, "version") : -1;
	fs_http_resp_free(&r);
	return v;
}

/* ---- 1. PATCH ------------------------------------------------------------ */

static void
test_patch(void)
{
	static const char *const bad[] = {"{\"input_fields\": \"x\"}",
	    "{\"flows\": [\"0b7a5c3e-1d2f-4a6b-8c9d-0e1f2a3b4c5d\"]}",
	    "{\"name\": \"other\"}", "{\"colour\": 1}", "[1]",
	    "{\"output_fields\": [\"d\", \"d\"]}", "{\"version\": 9}"};
	char sub[64], id[64], app[64], body[256];
	fs_http_resp r, p;

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"p_sub\"}", sub) ||
	    FS_REST_CREATE(&env, "flows",
	        "{\"name\": \"p_flow\", \"input_fields\": [\"a\"], "
	        "\"output_fields\": [\"b\"]}",
	        id) ||
	    FS_REST_CREATE(&env, "apps", "{\"name\": \"p_app\"}", app))
		return;
	/* Partial: what the body leaves out keeps its value. */
	req("PATCH", "{\"output_fields\": [\"c\"]}", &r, NULL, NULL,
	    "/api/flows/%s/", id);
	if (FS_ASSERT_STATUS(&r, 200)) {
		FS_ASSERT_COMPONENT(r.json);
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "input_fields"),
		    "[\"a\"]");
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "output_fields"),
		    "[\"c\"]");
		FS_ASSERT_INT_EQ(fs_json_int(r.json, "version"), 2);
		HEADER_IS(&r, "ETag", "\"2\"");
	}
	fs_http_resp_free(&r);
	/* The same answers as PUT, and nothing changed. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req("PUT", bad[i], &r, NULL, NULL, "/api/flows/%s/", id);
		req("PATCH", bad[i], &p, NULL, NULL, "/api/flows/%s/", id);
		FS_CHECK(r.status == 400 && p.status == 400 &&
		        r.json != NULL && json_equal(r.json, p.json),
		    "%s: PUT %d %s, PATCH %d %s", bad[i], r.status, r.body,
		    p.status, p.body);
		fs_http_resp_free(&r);
		fs_http_resp_free(&p);
	}
	FS_ASSERT_INT_EQ(version_of("flows", id), 2);
	/* An app's id on the flows route, and apps themselves. */
	req("PATCH", "{}", &r, NULL, NULL, "/api/flows/%s/", app);
	FS_ASSERT_ERROR(&r, 404, "{\"detail\": \"Not found.\"}");
	fs_http_resp_free(&r);
	snprintf(body, sizeof(body), "{\"flows\": [\"%s\"]}", sub);
	req("PATCH", body, &r, NULL, NULL, "/api/apps/%s", app);
	if (FS_ASSERT_STATUS(&r, 200))
		FS_ASSERT_INT_EQ(json_array_size(
		                     json_object_get(r.json, "flows")),
		    1);
	fs_http_resp_free(&r);
	/* 405 where PATCH has no meaning, with the Allow lists. */
	req("PATCH", "{}", &r, NULL, NULL, "/api/flows/");
	FS_ASSERT_ERROR(&r, 405,
	    "{\"detail\": \"Method \\\"PATCH\\\" not allowed.\"}");
	HEADER_IS(&r, "Allow", COLL_ALLOW);
	fs_http_resp_free(&r);
	req("PATCH", "{}", &r, NULL, NULL, "/api/apps");
	FS_ASSERT_STATUS(&r, 405);
	HEADER_IS(&r, "Allow", COLL_ALLOW);
	fs_http_resp_free(&r);
	req("PATCH", NULL, &r, NULL, NULL, "/api/apps/%s/deploy/", app);
	FS_ASSERT_STATUS(&r, 405);
	HEADER_IS(&r, "Allow", POST_ALLOW);
	fs_http_resp_free(&r);
	req("POST", NULL, &r, NULL, NULL, "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 405);
	HEADER_IS(&r, "Allow", ITEM_ALLOW);
	fs_http_resp_free(&r);
}

/* ---- 2. null ------------------------------------------------------------- */

static void
test_nulls(void)
{
	static const char *const lists[] = {"input_fields", "output_fields",
	    "flows"};
	char id[64], body[256], want[256];
	fs_http_resp r;

	fs_rest(&env, "POST", "/api/flows/", "{\"name\": null}", &r);
	FS_ASSERT_ERROR(&r, 400, "{\"name\": " NULL_MSG "}");
	fs_http_resp_free(&r);
	fs_rest(&env, "POST", "/api/apps/", "{\"name\": null}", &r);
	FS_ASSERT_ERROR(&r, 400, "{\"name\": " NULL_MSG "}");
	fs_http_resp_free(&r);
	/* Not the default group: refused, and nothing made. */
	fs_rest(&env, "POST", "/api/flows/",
	    "{\"name\": \"n_grp\", \"group\": null}", &r);
	FS_ASSERT_ERROR(&r, 400, "{\"group\": " NULL_MSG "}");
	fs_http_resp_free(&r);
	fs_rest(&env, "GET", "/api/flows/?name__iexact=n_grp", NULL, &r);
	FS_ASSERT_JSON_EQ(r.json, "[]");
	fs_http_resp_free(&r);
	/* Every problem at once. */
	fs_rest(&env, "POST", "/api/flows/",
	    "{\"name\": null, \"input_fields\": 5, \"colour\": 1}", &r);
	FS_ASSERT_ERROR(&r, 400,
	    "{\"name\": " NULL_MSG ", \"input_fields\": [\"Expected a list "
	    "of strings.\"], \"colour\": [\"Unknown field.\"]}");
	fs_http_resp_free(&r);

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"n_flow\"}", id))
		return;
	for (size_t i = 0; i < 3; i++) {
		snprintf(body, sizeof(body),
		    "{\"name\": \"n_%zu\", \"%s\": null}", i, lists[i]);
		snprintf(want, sizeof(want), "{\"%s\": " NULL_MSG "}",
		    lists[i]);
		fs_rest(&env, "POST", "/api/flows/", body, &r);
		FS_ASSERT_ERROR(&r, 400, want);
		fs_http_resp_free(&r);
		snprintf(body, sizeof(body), "{\"%s\": null}", lists[i]);
		req("PUT", body, &r, NULL, NULL, "/api/flows/%s/", id);
		FS_ASSERT_ERROR(&r, 400, want);
		fs_http_resp_free(&r);
		req("PATCH", body, &r, NULL, NULL, "/api/flows/%s/", id);
		FS_ASSERT_ERROR(&r, 400, want);
		fs_http_resp_free(&r);
	}
	req("PATCH", "{\"group\": null, \"output_fields\": [\"o\"]}", &r, NULL,
	    NULL, "/api/flows/%s/", id);
	FS_ASSERT_ERROR(&r, 400, "{\"group\": " NULL_MSG "}");
	fs_http_resp_free(&r);
	req("PUT", "{\"name\": null}", &r, NULL, NULL, "/api/flows/%s/", id);
	FS_ASSERT_ERROR(&r, 400, "{\"name\": " NULL_MSG "}");
	fs_http_resp_free(&r);
	FS_ASSERT_INT_EQ(version_of("flows", id), 1);
}

/* ---- 3. empty filters ---------------------------------------------------- */

/* The list at path equals the list at other. */
static void
same_list(const char *path, const char *other, int line)
{
	fs_http_resp a, b;

	fs_rest(&env, "GET", path, NULL, &a);
	fs_rest(&env, "GET", other, NULL, &b);
	fs_check(a.status == 200 && b.status == 200 && a.json != NULL &&
	        json_equal(a.json, b.json),
	    __FILE__, line, path, "%s: %d %.200s; %s: %d %.200s", path,
	    a.status, a.body, other, b.status, b.body);
	fs_http_resp_free(&a);
	fs_http_resp_free(&b);
}

static void
test_empty_filters(void)
{
	char a[64], b[64];
	fs_http_resp r;

	if (FS_REST_CREATE(&env, "flows",
	        "{\"name\": \"ef_a\", \"group\": \"ef1\"}", a) ||
	    FS_REST_CREATE(&env, "flows",
	        "{\"name\": \"ef_b\", \"group\": \"ef2\"}", b))
		return;
	/* django-filter: an empty value is no filter. */
	same_list("/api/flows/?name__iexact=", "/api/flows/", __LINE__);
	same_list("/api/flows/?group__iexact=", "/api/flows/", __LINE__);
	same_list("/api/flows/?name__iexact", "/api/flows/", __LINE__);
	same_list("/api/apps/?name__iexact=&group__iexact=", "/api/apps/",
	    __LINE__);
	same_list("/api/flows/?name__iexact=&group__iexact=EF2",
	    "/api/flows/?group__iexact=ef2", __LINE__);
	/* The last of a repeated parameter counts. */
	same_list("/api/flows/?name__iexact=ef_a&name__iexact=", "/api/flows/",
	    __LINE__);
	fs_rest(&env, "GET",
	    "/api/flows/?name__iexact=EF_A&group__iexact=", NULL, &r);
	if (FS_ASSERT_STATUS(&r, 200))
		FS_CHECK(json_array_size(r.json) == 1 &&
		        !strcmp(fs_json_str(json_array_get(r.json, 0), "id"),
		            a),
		    "only ef_a: %s", r.body);
	fs_http_resp_free(&r);
}

/* ---- 4. HEAD, OPTIONS ---------------------------------------------------- */

/* Every route as a path, with its Allow list. */
struct route {
	char path[128];
	const char *allow;
	int get; /* takes GET */
};

static size_t
routes(struct route *rt, const char *flow, const char *app)
{
	static const char *const ops[] = {"status", "deploy", "stop", "start"};
	size_t n = 0;

#define RT(a, g, ...)                                                         \
	(snprintf(rt[n].path, sizeof(rt[n].path), __VA_ARGS__),               \
	    rt[n].allow = (a), rt[n++].get = (g))
	RT(COLL_ALLOW, 1, "/api/flows/");
	RT(ITEM_ALLOW, 1, "/api/flows/%s/", flow);
	RT(COLL_ALLOW, 1, "/api/apps/");
	RT(ITEM_ALLOW, 1, "/api/apps/%s/", app);
	for (size_t i = 0; i < 4; i++)
		RT(i ? POST_ALLOW : GET_ALLOW, i == 0, "/api/apps/%s/%s/", app,
		    ops[i]);
	RT(GET_ALLOW, 1, "/healthz");
	RT(GET_ALLOW, 1, "/readyz");
	RT(GET_ALLOW, 1, "/metrics");
	RT(GET_ALLOW, 1, "/api/openapi.json");
#undef RT
	return n;
}

static void
test_head_and_options(void)
{
	struct route rt[16];
	char flow[64], app[64], cl[32];
	fs_http_resp g, h;
	size_t n;

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"h_flow\"}", flow) ||
	    FS_REST_CREATE(&env, "apps", "{\"name\": \"h_app\"}", app))
		return;
	n = routes(rt, flow, app);
	for (size_t i = 0; i < n; i++) {
		/* OPTIONS: 200, the Allow list, no body. */
		req("OPTIONS", NULL, &h, NULL, NULL, "%s", rt[i].path);
		FS_ASSERT_STATUS(&h, 200);
		HEADER_IS(&h, "Allow", rt[i].allow);
		HEADER_IS(&h, "Content-Length", "0");
		HEADER_IS(&h, "Content-Type", NULL);
		FS_CHECK(fs_http_header_get(&h, "X-Request-Id") != NULL,
		    "%s: X-Request-Id", rt[i].path);
		fs_http_resp_free(&h);
		if (!rt[i].get)
			continue;
		/* HEAD: GET's status and headers, no body. */
		req("GET", NULL, &g, NULL, NULL, "%s", rt[i].path);
		req("HEAD", NULL, &h, NULL, NULL, "%s", rt[i].path);
		FS_CHECK(g.status == 200 && h.status == 200 && h.body_len == 0,
		    "%s: GET %d, HEAD %d with %zu bytes", rt[i].path, g.status,
		    h.status, h.body_len);
		HEADER_IS(&h, "Content-Type",
		    fs_http_header_get(&g, "Content-Type"));
		HEADER_IS(&h, "ETag", fs_http_header_get(&g, "ETag"));
		snprintf(cl, sizeof(cl), "%zu", g.body_len);
		if (strcmp(rt[i].path, "/metrics") != 0) /* counters move */
			HEADER_IS(&h, "Content-Length", cl);
		fs_http_resp_free(&g);
		fs_http_resp_free(&h);
	}
	/* Errors too: HEAD answers GET's status without the body. */
	req("HEAD", NULL, &h, NULL, NULL, "/api/flows/%s/", app);
	FS_CHECK(h.status == 404 && h.body_len == 0, "HEAD 404: %d", h.status);
	fs_http_resp_free(&h);
	req("HEAD", NULL, &h, NULL, NULL, "/api/apps/%s/deploy/", app);
	FS_CHECK(h.status == 405 && h.body_len == 0, "HEAD 405: %d", h.status);
	HEADER_IS(&h, "Allow", POST_ALLOW);
	fs_http_resp_free(&h);
	req("OPTIONS", NULL, &h, NULL, NULL, "/api/nope/");
	FS_ASSERT_ERROR(&h, 404, "{\"detail\": \"Not found.\"}");
	fs_http_resp_free(&h);
	/* Counted under their own names (PATCH from test_patch). */
	req("GET", NULL, &g, NULL, NULL, "/metrics");
	FS_CHECK(g.body != NULL &&
	        strstr(g.body, "route=\"flows_item\",method=\"OPTIONS\"") &&
	        strstr(g.body, "route=\"flows_item\",method=\"PATCH\""),
	    "OPTIONS and PATCH in /metrics");
	fs_http_resp_free(&g);
}

/* ---- 5. CORS ------------------------------------------------------------- */

static void
test_cors(void)
{
	char id[64];
	fs_http_resp r;

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"cors_flow\"}", id))
		return;
	/* A preflight from an allowed origin. */
	req("OPTIONS", NULL, &r, "Origin: " ORIGIN_A,
	    "Access-Control-Request-Method: PUT", "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 204);
	HEADER_IS(&r, "Access-Control-Allow-Origin", ORIGIN_A);
	HEADER_IS(&r, "Access-Control-Allow-Methods", ITEM_ALLOW);
	HEADER_IS(&r, "Access-Control-Allow-Headers",
	    "Authorization, Content-Type, If-Match, If-None-Match, "
	    "X-Request-Id, X-Min-Revision");
	HEADER_IS(&r, "Access-Control-Max-Age", "7200");
	HEADER_IS(&r, "Vary", "Origin");
	HEADER_IS(&r, "Access-Control-Allow-Credentials", NULL);
	FS_CHECK(r.body_len == 0, "no body");
	fs_http_resp_free(&r);
	/* From another origin: the plain answer, no CORS header. */
	req("OPTIONS", NULL, &r, "Origin: https://evil.example",
	    "Access-Control-Request-Method: PUT", "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 200);
	HEADER_IS(&r, "Access-Control-Allow-Origin", NULL);
	HEADER_IS(&r, "Access-Control-Allow-Methods", NULL);
	fs_http_resp_free(&r);
	/* Answers to an allowed origin, errors included, say so. */
	req("GET", NULL, &r, "Origin: " ORIGIN_A, NULL, "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 200);
	HEADER_IS(&r, "Access-Control-Allow-Origin", ORIGIN_A);
	HEADER_IS(&r, "Access-Control-Expose-Headers",
	    "ETag, Location, X-Request-Id, X-Total-Count, X-Revision, Link, "
	    "Allow, WWW-Authenticate");
	HEADER_IS(&r, "Vary", "Origin");
	fs_http_resp_free(&r);
	fs_http_request(env.http, "POST", "/api/flows/",
	    (const char *const[]){"Origin: " ORIGIN_B, NULL},
	    "{\"name\": \"cors_b\"}", (size_t) -1, &r);
	FS_ASSERT_STATUS(&r, 201);
	HEADER_IS(&r, "Access-Control-Allow-Origin", ORIGIN_B);
	fs_http_resp_free(&r);
	req("DELETE", NULL, &r, "Origin: " ORIGIN_B, NULL,
	    "/api/flows/0b7a5c3e-1d2f-4a6b-8c9d-0e1f2a3b4c5d/");
	FS_ASSERT_STATUS(&r, 404);
	HEADER_IS(&r, "Access-Control-Allow-Origin", ORIGIN_B);
	fs_http_resp_free(&r);
	/* Others, and requests without Origin: no CORS header. */
	req("GET", NULL, &r, "Origin: https://console.example.com.evil", NULL,
	    "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 200);
	HEADER_IS(&r, "Access-Control-Allow-Origin", NULL);
	HEADER_IS(&r, "Access-Control-Expose-Headers", NULL);
	HEADER_IS(&r, "Vary", "Origin");
	fs_http_resp_free(&r);
	req("GET", NULL, &r, NULL, NULL, "/api/flows/%s/", id);
	HEADER_IS(&r, "Access-Control-Allow-Origin", NULL);
	fs_http_resp_free(&r);
}

/* A second gateway on env's backend with these flags: started, and ready
 * on *port. */
static int
start_gateway(fs_test_proc *p, int *port, const char *const *flags)
{
	char portstr[16], log[PATH_MAX + 32];
	char *argv[16];
	int n = 0;

	*port = fs_test_free_port();
	snprintf(portstr, sizeof(portstr), "%d", *port);
	snprintf(log, sizeof(log), "%s/gateway2.log", env.dir);
	argv[n++] = (char *) FLOW_GATEWAY_BIN;
	argv[n++] = (char *) "--port";
	argv[n++] = portstr;
	argv[n++] = (char *) "--backend";
	argv[n++] = env.backend_url;
	for (; *flags != NULL && n < 15; flags++)
		argv[n++] = (char *) *flags;
	argv[n] = NULL;
	if (!FS_CHECK(fs_test_proc_start(p, "flow-gateway", FLOW_GATEWAY_BIN,
	                  argv, log) == 0,
	        "second gateway started"))
		return -1;
	return FS_CHECK(fs_http_wait_status(*port, "/readyz", 200,
	                    FS_TEST_START_TIMEOUT_MS) == 0,
	           "second gateway ready")
	    ? 0
	    : -1;
}

/* With `*` and tokens: any origin, OPTIONS without a token, and a 401 a
 * page can read. Without --cors-origin: no CORS at all. A malformed
 * origin stops the start. */
static void
test_cors_star_tokens_off(void)
{
	char tokens[PATH_MAX + 16];
	const char *const star[] = {"--cors-origin", "*", "--tokens", tokens,
	    NULL};
	const char *const off[] = {NULL};
	const char *const pre[] = {"Origin: https://any.example",
	    "Access-Control-Request-Method: DELETE", NULL};
	const char *const tok[] = {"Origin: https://any.example",
	    "Authorization: Bearer conv-0123456789abcdef", NULL};
	char *bad[] = {(char *) FLOW_GATEWAY_BIN, (char *) "--cors-origin",
	    (char *) "https://console.example.com/", NULL};
	fs_test_run_result run;
	fs_test_proc gw = {0};
	fs_http_resp r;
	FILE *f;
	int port;

	snprintf(tokens, sizeof(tokens), "%s/tokens", env.dir);
	if ((f = fopen(tokens, "w")) == NULL)
		return;
	fprintf(f, "conv-0123456789abcdef *\n");
	fclose(f);
	if (start_gateway(&gw, &port, star) == 0) {
		fs_http_once(port, "OPTIONS", "/api/flows/", pre, NULL, 0, &r);
		FS_ASSERT_STATUS(&r, 204);
		HEADER_IS(&r, "Access-Control-Allow-Origin", "*");
		fs_http_resp_free(&r);
		fs_http_once(port, "OPTIONS", "/api/flows/", NULL, NULL, 0,
		    &r);
		FS_ASSERT_STATUS(&r, 200); /* no token needed */
		fs_http_resp_free(&r);
		fs_http_once(port, "GET", "/api/flows/", pre, NULL, 0, &r);
		FS_ASSERT_STATUS(&r, 401);
		HEADER_IS(&r, "Access-Control-Allow-Origin", "*");
		HEADER_IS(&r, "WWW-Authenticate", "Bearer");
		fs_http_resp_free(&r);
		fs_http_once(port, "GET", "/api/flows/", tok, NULL, 0, &r);
		FS_ASSERT_STATUS(&r, 200);
		HEADER_IS(&r, "Access-Control-Allow-Origin", "*");
		fs_http_resp_free(&r);
	}
	FS_CHECK(fs_test_exited_zero(fs_test_proc_stop(&gw, SIGTERM, 10000)),
	    "second gateway exits 0");
	if (start_gateway(&gw, &port, off) == 0) {
		fs_http_once(port, "OPTIONS", "/api/flows/", pre, NULL, 0, &r);
		FS_ASSERT_STATUS(&r, 200);
		HEADER_IS(&r, "Access-Control-Allow-Origin", NULL);
		HEADER_IS(&r, "Vary", NULL);
		fs_http_resp_free(&r);
		fs_http_once(port, "GET", "/api/flows/", pre, NULL, 0, &r);
		FS_ASSERT_STATUS(&r, 200);
		HEADER_IS(&r, "Access-Control-Allow-Origin", NULL);
		fs_http_resp_free(&r);
	}
	FS_CHECK(fs_test_exited_zero(fs_test_proc_stop(&gw, SIGTERM, 10000)),
	    "third gateway exits 0");
	if (FS_CHECK(fs_test_run(&run, bad, NULL, NULL, 10000) == 0,
	        "ran flow-gateway"))
		FS_CHECK(run.exit_code == 2 && run.err != NULL &&
		        strstr(run.err,
		            "--cors-origin 'https://console."
		            "example.com/'") != NULL &&
		        strstr(run.err, "no trailing slash") != NULL,
		    "bad origin: exit %d, %s", run.exit_code,
		    run.err ? run.err : "");
	fs_test_run_result_free(&run);
}

/* ---- 6b. conditional requests -------------------------------------------- */

static void
test_etag_and_304(void)
{
	char id[64];
	fs_http_resp r;

	fs_rest(&env, "POST", "/api/flows/", "{\"name\": \"c_etag\"}", &r);
	FS_ASSERT_STATUS(&r, 201);
	HEADER_IS(&r, "ETag", "\"1\"");
	snprintf(id, sizeof(id), "%s",
	    fs_json_str(r.json, "id") ? fs_json_str(r.json, "id") : "");
	fs_http_resp_free(&r);
	/* Still the caller's copy: 304, no body, the ETag. */
	static const char *const same[] = {"If-None-Match: \"1\"",
	    "If-None-Match: W/\"1\"", "If-None-Match: *",
	    "If-None-Match: \"7\", \"1\""};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		req("GET", NULL, &r, same[i], NULL, "/api/flows/%s/", id);
		FS_CHECK(r.status == 304 && r.body_len == 0, "%s: %d", same[i],
		    r.status);
		HEADER_IS(&r, "ETag", "\"1\"");
		HEADER_IS(&r, "Content-Type", NULL);
		fs_http_resp_free(&r);
	}
	req("HEAD", NULL, &r, same[0], NULL, "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 304);
	fs_http_resp_free(&r);
	req("GET", NULL, &r, "If-None-Match: \"2\"", NULL, "/api/flows/%s/",
	    id);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);
	/* Changed: 200 with the new ETag; the old one no longer matches. */
	req("PUT", "{\"output_fields\": [\"o\"]}", &r, NULL, NULL,
	    "/api/flows/%s/", id);
	HEADER_IS(&r, "ETag", "\"2\"");
	fs_http_resp_free(&r);
	req("GET", NULL, &r, same[0], NULL, "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 200);
	HEADER_IS(&r, "ETag", "\"2\"");
	FS_ASSERT_JSON_EQ(json_object_get(r.json, "output_fields"), "[\"o\"]");
	fs_http_resp_free(&r);
	/* Not the component of a missing id. */
	req("GET", NULL, &r, "If-None-Match: *", NULL,
	    "/api/flows/0b7a5c3e-1d2f-4a6b-8c9d-0e1f2a3b4c5d/");
	FS_ASSERT_STATUS(&r, 404);
	fs_http_resp_free(&r);
}

/* Two editors of one flow in the orchestrator's canvas: the second one's
 * stale PUT is refused and changes nothing. */
static void
test_two_editors(void)
{
	char id[64], etag_a[32], etag_b[32], hdr[64];
	fs_http_resp r;

	if (FS_REST_CREATE(&env, "flows",
	        "{\"name\": \"canvas\", \"output_fields\": [\"x\"]}", id))
		return;
	req("GET", NULL, &r, NULL, NULL, "/api/flows/%s/", id);
	snprintf(etag_a, sizeof(etag_a), "%s",
	    fs_http_header_get(&r, "ETag") ? fs_http_header_get(&r, "ETag")
	                                   : "");
	fs_http_resp_free(&r);
	req("GET", NULL, &r, NULL, NULL, "/api/flows/%s/", id);
	snprintf(etag_b, sizeof(etag_b), "%s",
	    fs_http_header_get(&r, "ETag") ? fs_http_header_get(&r, "ETag")
	                                   : "");
	fs_http_resp_free(&r);
	FS_ASSERT_STR_EQ(etag_a, "\"1\"");
	FS_ASSERT_STR_EQ(etag_b, etag_a);

	snprintf(hdr, sizeof(hdr), "If-Match: %s", etag_a);
	req("PUT", "{\"output_fields\": [\"from_a\"]}", &r, hdr, NULL,
	    "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 200);
	HEADER_IS(&r, "ETag", "\"2\"");
	fs_http_resp_free(&r);
	snprintf(hdr, sizeof(hdr), "If-Match: %s", etag_b);
	req("PUT", "{\"output_fields\": [\"from_b\"]}", &r, hdr, NULL,
	    "/api/flows/%s/", id);
	FS_ASSERT_ERROR(&r, 412, STALE);
	fs_http_resp_free(&r);
	req("GET", NULL, &r, NULL, NULL, "/api/flows/%s/", id);
	FS_ASSERT_JSON_EQ(json_object_get(r.json, "output_fields"),
	    "[\"from_a\"]");
	FS_ASSERT_INT_EQ(fs_json_int(r.json, "version"), 2);
	fs_http_resp_free(&r);
	/* B reloads, merges, and saves on the current version. */
	req("PUT", "{\"output_fields\": [\"from_a\", \"from_b\"]}", &r,
	    "If-Match: \"2\"", NULL, "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 200);
	HEADER_IS(&r, "ETag", "\"3\"");
	fs_http_resp_free(&r);
}

/* If-Match on every change: PATCH, DELETE, the lifecycle calls; "*",
 * weak tags, two versions, a missing component, a bad body. */
static void
test_if_match(void)
{
	static const struct {
		const char *hdr;
		int status;
	} patch[] = {
	    {"If-Match: \"9\"", 412},
	    {"If-Match: W/\"1\"", 412}, /* weak never matches */
	    {"If-Match: abc", 412},
	    {"If-Match: \"1\", \"2\"", 400},
	};
	char id[64];
	fs_http_resp r;

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"c_match\"}", id))
		return;
	for (size_t i = 0; i < sizeof(patch) / sizeof(patch[0]); i++) {
		req("PATCH", "{\"input_fields\": [\"i\"]}", &r, patch[i].hdr,
		    NULL, "/api/flows/%s/", id);
		FS_ASSERT_STATUS(&r, patch[i].status);
		fs_http_resp_free(&r);
	}
	req("PATCH", "{}", &r, "If-Match: \"1\", \"3\"", NULL,
	    "/api/flows/%s/", id);
	FS_ASSERT_ERROR(&r, 400,
	    "{\"detail\": \"If-Match may name one version only.\"}");
	fs_http_resp_free(&r);
	/* The precondition before the body's problems. */
	req("PUT", "{\"input_fields\": 5}", &r, "If-Match: \"9\"", NULL,
	    "/api/flows/%s/", id);
	FS_ASSERT_ERROR(&r, 412, STALE);
	fs_http_resp_free(&r);
	FS_ASSERT_INT_EQ(version_of("flows", id), 1);
	req("PATCH", "{\"input_fields\": [\"i\"]}", &r, "If-Match: *", NULL,
	    "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);
	/* Missing: 404 whatever If-Match says. */
	req("PUT", "{}", &r, "If-Match: \"1\"", NULL,
	    "/api/flows/0b7a5c3e-1d2f-4a6b-8c9d-0e1f2a3b4c5d/");
	FS_ASSERT_STATUS(&r, 404);
	fs_http_resp_free(&r);

	/* Lifecycle: compared, not counted as a new version. */
	req("POST", NULL, &r, "If-Match: \"1\"", NULL, "/api/apps/%s/deploy/",
	    id);
	FS_ASSERT_ERROR(&r, 412, STALE);
	fs_http_resp_free(&r);
	req("GET", NULL, &r, NULL, NULL, "/api/apps/%s/status/", id);
	FS_ASSERT_JSON_EQ(r.json, "{\"status\": \"not-deployed\"}");
	fs_http_resp_free(&r);
	req("POST", NULL, &r, "If-Match: \"2\"", NULL, "/api/apps/%s/deploy/",
	    id);
	FS_ASSERT_JSON_EQ(r.json, "{\"status\": \"started\"}");
	fs_http_resp_free(&r);
	req("POST", NULL, &r, "If-Match: \"1\"", NULL, "/api/apps/%s/stop/",
	    id);
	FS_ASSERT_STATUS(&r, 412);
	fs_http_resp_free(&r);
	req("POST", NULL, &r, "If-Match: \"2\"", NULL, "/api/apps/%s/stop/",
	    id);
	FS_ASSERT_JSON_EQ(r.json, "{\"status\": \"stopped\"}");
	fs_http_resp_free(&r);
	req("POST", NULL, &r, "If-Match: \"3\"", NULL, "/api/apps/%s/start/",
	    id);
	FS_ASSERT_STATUS(&r, 412);
	fs_http_resp_free(&r);
	FS_ASSERT_INT_EQ(version_of("flows", id), 2);

	/* DELETE: stale keeps it, current removes it. */
	req("DELETE", NULL, &r, "If-Match: \"1\"", NULL, "/api/flows/%s/", id);
	FS_ASSERT_ERROR(&r, 412, STALE);
	fs_http_resp_free(&r);
	FS_ASSERT_INT_EQ(version_of("flows", id), 2);
	req("DELETE", NULL, &r, "If-Match: \"2\"", NULL, "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 204);
	fs_http_resp_free(&r);
	FS_ASSERT_INT_EQ(version_of("flows", id), -1);
}

/* Many editors at once on one version: exactly one wins. */
#define EDITORS 12
struct editor {
	int port;
	const char *id;
	int i;
	pthread_barrier_t *start;
	int status;
};

static void *
editor_run(void *arg)
{
	struct editor *e = arg;
	const char *const hdrs[] = {"If-Match: \"1\"", NULL};
	char path[128], body[64];
	fs_http_conn *c = NULL;
	fs_http_resp r;

	snprintf(path, sizeof(path), "/api/flows/%s/", e->id);
	snprintf(body, sizeof(body), "{\"output_fields\": [\"e%d\"]}", e->i);
	e->status = fs_http_connect(&c, e->port, 0) == 0 ? 0 : -1;
	pthread_barrier_wait(e->start);
	if (c == NULL)
		return NULL;
	memset(&r, 0, sizeof(r));
	fs_http_request(c, "PUT", path, hdrs, body, (size_t) -1, &r);
	e->status = r.status;
	fs_http_resp_free(&r);
	fs_http_close(c);
	return NULL;
}

static void
test_concurrent_editors(void)
{
	struct editor ed[EDITORS];
	pthread_t t[EDITORS];
	pthread_barrier_t start;
	int won = -1, lost = 0;
	char id[64], want[64];
	fs_http_resp r;

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"c_race\"}", id))
		return;
	pthread_barrier_init(&start, NULL, EDITORS);
	for (int i = 0; i < EDITORS; i++) {
		ed[i] = (struct editor){env.gw_port, id, i, &start, 0};
		pthread_create(&t[i], NULL, editor_run, &ed[i]);
	}
	for (int i = 0; i < EDITORS; i++) {
		pthread_join(t[i], NULL);
		if (ed[i].status == 200)
			won = won < 0 ? i : -2;
		lost += ed[i].status == 412;
	}
	pthread_barrier_destroy(&start);
	FS_CHECK(won >= 0 && lost == EDITORS - 1,
	    "one 200 and %d 412s; got winner %d and %d 412s", EDITORS - 1, won,
	    lost);
	req("GET", NULL, &r, NULL, NULL, "/api/flows/%s/", id);
	FS_ASSERT_INT_EQ(fs_json_int(r.json, "version"), 2);
	snprintf(want, sizeof(want), "[\"e%d\"]", won);
	FS_ASSERT_JSON_EQ(json_object_get(r.json, "output_fields"), want);
	fs_http_resp_free(&r);
}

/* The RPC carries the expected version, and flowctl sends it. */
static void
ctl(fs_test_run_result *res, int want_exit, const char *want_err, ...)
{
	char *argv[16];
	const char *a;
	int n = 0;
	va_list ap;

	argv[n++] = (char *) FLOWCTL_BIN;
	argv[n++] = (char *) "--json";
	argv[n++] = (char *) "--backend";
	argv[n++] = env.backend_url;
	va_start(ap, want_err);
	while ((a = va_arg(ap, const char *)) != NULL && n < 15)
		argv[n++] = (char *) a;
	va_end(ap);
	argv[n] = NULL;
	if (!FS_CHECK(fs_test_run(res, argv, NULL, NULL, 30000) == 0,
	        "flowctl ran"))
		return;
	FS_CHECK(res->exit_code == want_exit &&
	        (want_err == NULL ||
	            (res->err != NULL && strstr(res->err, want_err))),
	    "flowctl %s %s: exit %d (expected %d), stderr %s", argv[4],
	    argv[5], res->exit_code, want_exit, res->err ? res->err : "");
}

static void
test_rpc_and_flowctl(void)
{
	static const char aborted[] =
	    "ABORTED: Precondition failed: the component has changed.";
	Flowsvc__UpdateRequest u = FLOWSVC__UPDATE_REQUEST__INIT;
	Flowsvc__IdRequest q = FLOWSVC__ID_REQUEST__INIT;
	fs_test_run_result res;
	json_t *comp = NULL;
	char id[64];

	if (!FS_ASSERT_OK(fs_trpc_create(env.client, FLOWSVC__KIND__FLOW,
	        "c_rpc", NULL, NULL, 5000, &comp)))
		return;
	snprintf(id, sizeof(id), "%s", fs_json_str(comp, "id"));
	json_decref(comp);
	u.id = id;
	u.has_expected_version = 1;
	u.expected_version = 4;
	FS_ASSERT_CODE(fs_trpc_call(env.client, FLOWSVC__METHOD__UPDATE,
	                   &u.base, 5000, NULL, NULL),
	    FS_ABORTED, NULL);
	q.id = id;
	q.has_expected_version = 1;
	q.expected_version = 4;
	FS_ASSERT_CODE(fs_trpc_call(env.client, FLOWSVC__METHOD__DELETE,
	                   &q.base, 5000, NULL, NULL),
	    FS_ABORTED, NULL);
	u.expected_version = 1;
	FS_ASSERT_OK(fs_trpc_call(env.client, FLOWSVC__METHOD__UPDATE, &u.base,
	    5000, NULL, NULL));

	ctl(&res, 1, aborted, "update", id, "--output", "x", "--if-version",
	    "1", NULL);
	fs_test_run_result_free(&res);
	ctl(&res, 0, NULL, "update", id, "--output", "x", "--if-version", "2",
	    NULL);
	FS_CHECK(fs_json_int(res.json, "version") == 3, "flowctl: %s",
	    res.out ? res.out : "");
	fs_test_run_result_free(&res);
	ctl(&res, 1, aborted, "deploy", id, "--if-version", "2", NULL);
	fs_test_run_result_free(&res);
	ctl(&res, 0, NULL, "deploy", id, "--if-version", "3", NULL);
	fs_test_run_result_free(&res);
	ctl(&res, 1, aborted, "stop", id, "--if-version", "1", NULL);
	fs_test_run_result_free(&res);
	ctl(&res, 1, aborted, "start", id, "--if-version", "1", NULL);
	fs_test_run_result_free(&res);
	ctl(&res, 2, "if-version", "status", id, "--if-version", "3", NULL);
	fs_test_run_result_free(&res);
	ctl(&res, 1, aborted, "delete", id, "--if-version", "2", NULL);
	fs_test_run_result_free(&res);
	ctl(&res, 0, NULL, "delete", id, "--if-version", "3", NULL);
	fs_test_run_result_free(&res);
	FS_ASSERT_CODE(fs_trpc_get(env.client, id, &comp, NULL), FS_NOT_FOUND,
	    NULL);
	json_decref(comp);
}

/* ---- HEAD on a list over one reply ---------------------------------------- */

/* HEAD runs GET's List: a list whose result is over the RPC reply limit
 * (16 MiB) fails for HEAD as for GET, though HEAD sends no body. 72 flows
 * of 1000 fields of 250 characters hold about 18 MB. */
static void
test_head_large_list(void)
{
	enum { FLOWS = 72, FIELDS = 1000, LEN = 250 };
	size_t cap = (size_t) FIELDS * (LEN + 3) + 64;
	char *body = malloc(cap);
	fs_http_resp g, h;

	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	for (int f = 0; f < FLOWS; f++) {
		char id[64];
		size_t n = (size_t) snprintf(body, cap,
		    "{\"name\": \"big%d\", \"input_fields\": [", f);

		for (int i = 0; i < FIELDS; i++)
			n += (size_t) snprintf(body + n, cap - n, "%s\"%0*d\"",
			    i ? "," : "", LEN, i);
		snprintf(body + n, cap - n, "]}");
		if (FS_REST_CREATE(&env, "flows", body, id)) {
			free(body);
			return;
		}
	}
	free(body);
	fs_rest(&env, "GET", "/api/flows/", NULL, &g);
	fs_rest(&env, "HEAD", "/api/flows/", NULL, &h);
	FS_CHECK(h.status == g.status && h.body_len == 0,
	    "HEAD %d as GET %d, no body (%zu bytes)", h.status, g.status,
	    h.body_len);
	/* Lists of any size are the lists' own work (issue 13, item 5):
	 * until then HEAD fails here with GET. */
	FS_KNOWN_BUG(h.status == 200,
	    "HEAD /api/flows/ over the reply limit answers %d (GET %d)",
	    h.status, g.status);
	fs_http_resp_free(&g);
	fs_http_resp_free(&h);
}

static CU_TestInfo tests[] = {
    {"PATCH: partial update, PUT's answers; 405 elsewhere", test_patch},
    {"null for a field that may not be null: 400", test_nulls},
    {"an empty filter value is no filter", test_empty_filters},
    {"HEAD and OPTIONS on every route", test_head_and_options},
    {"CORS: preflight and headers for allowed origins only", test_cors},
    {"CORS: '*' with tokens; off without --cors-origin; bad origin",
        test_cors_star_tokens_off},
    {"ETag on component answers; If-None-Match: 304", test_etag_and_304},
    {"two editors: a stale PUT is 412 and changes nothing", test_two_editors},
    {"If-Match on PATCH, DELETE and the lifecycle calls", test_if_match},
    {"concurrent editors on one version: one wins", test_concurrent_editors},
    {"RPC expected_version and flowctl --if-version", test_rpc_and_flowctl},
    {"HEAD on a list over one reply answers as GET", test_head_large_list},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"conventions", suite_init, suite_fini, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
