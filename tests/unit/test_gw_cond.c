/*
 * test_gw_cond.c - conditional requests in the gateway: gateway/gw_cond
 * (ETags, If-Match and If-None-Match values), the expected version
 * gw_api_if_match puts in the RPC, and what gw_api_render makes of a
 * component answer (ETag, 304) and of a stale version (412).
 */
#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "gw_api.h"
#include "gw_cond.h"
#include "testlib.h"

#define ID "0b5e4a1c-7a9f-4a56-9c0e-0d5c3f1e2a3b"

static void
test_etag(void)
{
	char e[GW_ETAG_MAX];

	gw_cond_etag(1, e);
	FS_ASSERT_STR_EQ(e, "\"1\"");
	gw_cond_etag(INT64_MAX, e);
	FS_ASSERT_STR_EQ(e, "\"9223372036854775807\"");
}

static void
test_if_match(void)
{
	static const struct {
		const char *value;
		enum gw_if_match want;
		int64_t version;
	} cases[] = {
	    {NULL, GW_IF_MATCH_ANY, 0},
	    {"*", GW_IF_MATCH_ANY, 0},
	    {" * ", GW_IF_MATCH_ANY, 0},
	    {"\"3\"", GW_IF_MATCH_VERSION, 3},
	    {" \"42\" ", GW_IF_MATCH_VERSION, 42},
	    /* The same version twice is one version. */
	    {"\"3\", \"3\"", GW_IF_MATCH_VERSION, 3},
	    /* Tags that are no version of ours never match: ignored. */
	    {"\"3\", \"abc\"", GW_IF_MATCH_VERSION, 3},
	    {"\"abc\", \"3\"", GW_IF_MATCH_VERSION, 3},
	    /* Weak tags never match strongly (RFC 9110 §13.1.1). */
	    {"W/\"3\", \"4\"", GW_IF_MATCH_VERSION, 4},
	    {"W/\"3\"", GW_IF_MATCH_VERSION, 0},
	    /* Nothing usable: a condition no component meets. */
	    {"", GW_IF_MATCH_VERSION, 0},
	    {"3", GW_IF_MATCH_VERSION, 0},
	    {"\"\"", GW_IF_MATCH_VERSION, 0},
	    {"\"0\"", GW_IF_MATCH_VERSION, 0},
	    {"\"03\"", GW_IF_MATCH_VERSION, 0},
	    {"\"-3\"", GW_IF_MATCH_VERSION, 0},
	    {"\"3 \"", GW_IF_MATCH_VERSION, 0},
	    {"\"9999999999999999999\"", GW_IF_MATCH_VERSION, 0},
	    {"\"*\"", GW_IF_MATCH_VERSION, 0},
	    {"*, \"3\"", GW_IF_MATCH_VERSION, 3},
	    {"\"3\"\"4\"", GW_IF_MATCH_VERSION, 0},
	    {",,\"7\",,", GW_IF_MATCH_VERSION, 7},
	    /* Two versions: the compare-and-set carries one. */
	    {"\"3\", \"4\"", GW_IF_MATCH_SEVERAL, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -1;
		enum gw_if_match got = gw_cond_if_match(cases[i].value, &v);

		FS_CHECK(got == cases[i].want &&
		        (got != GW_IF_MATCH_VERSION || v == cases[i].version),
		    "If-Match %s: %d version %lld, expected %d version %lld",
		    cases[i].value ? cases[i].value : "(none)", (int) got,
		    (long long) v, (int) cases[i].want,
		    (long long) cases[i].version);
	}
}

static void
test_if_none_match(void)
{
	static const struct {
		const char *value;
		bool match; /* against version 3 */
	} cases[] = {
	    {NULL, false},
	    {"*", true},
	    {"\"3\"", true},
	    /* The weak comparison: W/ does not matter. */
	    {"W/\"3\"", true},
	    {"\"1\", \"2\", W/\"3\"", true},
	    {"\"2\"", false},
	    {"\"03\"", false},
	    {"3", false},
	    {"", false},
	    {"junk, \"3\"", true},
	    {"\"4\", junk", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		FS_CHECK(gw_cond_none_match(cases[i].value, 3) ==
		        cases[i].match,
		    "If-None-Match %s against \"3\": expected %d",
		    cases[i].value ? cases[i].value : "(none)",
		    (int) cases[i].match);
}

/* Prepares method path (with a body for updates), then applies
 * if_match. Returns gw_api_if_match's result. */
static int
prepare_if_match(struct gw_rpc_req *rr, const char *method, const char *path,
    const char *if_match, struct gw_resp *err)
{
	static char id[64];
	struct gw_match m;
	int rv;

	gw_route_match(method, path, &m);
	snprintf(id, sizeof(id), "%.*s", (int) m.id_len, m.id ? m.id : "");
	memset(rr, 0, sizeof(*rr));
	memset(err, 0, sizeof(*err));
	rv = gw_api_prepare(rr, &m, m.id ? id : NULL, NULL, "application/json",
	    "{\"flows\": []}", 13, err);
	FS_CHECK(rv == 0, "%s %s: prepared (%d)", method, path, rv);
	return rv != 0 ? rv : gw_api_if_match(rr, &m, if_match, err);
}

/* The expected version of rr's message: -1 when it has none. */
static int64_t
expected(const struct gw_rpc_req *rr)
{
	if (rr->msg->descriptor == &flowsvc__update_request__descriptor) {
		const Flowsvc__UpdateRequest *u = (const void *) rr->msg;

		return u->has_expected_version ? u->expected_version : -1;
	}
	if (rr->msg->descriptor == &flowsvc__id_request__descriptor) {
		const Flowsvc__IdRequest *q = (const void *) rr->msg;

		return q->has_expected_version ? q->expected_version : -1;
	}
	return -1;
}

static void
test_api_if_match(void)
{
	static const struct {
		const char *method, *path;
		int64_t want; /* with If-Match: "5"; -1: ignored */
	} cases[] = {
	    {"PUT", "/api/flows/" ID "/", 5},
	    {"PATCH", "/api/apps/" ID "/", 5},
	    {"DELETE", "/api/flows/" ID "/", 5},
	    {"POST", "/api/apps/" ID "/deploy/", 5},
	    {"POST", "/api/apps/" ID "/start/", 5},
	    {"POST", "/api/apps/" ID "/stop/", 5},
	    /* Reads and creates take no If-Match. */
	    {"GET", "/api/flows/" ID "/", -1},
	    {"GET", "/api/apps/" ID "/status/", -1},
	    {"POST", "/api/flows/", -1},
	};
	struct gw_rpc_req rr;
	struct gw_resp err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (prepare_if_match(&rr, cases[i].method, cases[i].path,
		        "\"5\"", &err) == 0)
			FS_CHECK(expected(&rr) == cases[i].want,
			    "%s %s: expected version %lld", cases[i].method,
			    cases[i].path, (long long) expected(&rr));
		gw_rpc_req_fini(&rr);
		gw_resp_fini(&err);
		/* No header and "*": no condition. */
		if (prepare_if_match(&rr, cases[i].method, cases[i].path, NULL,
		        &err) == 0)
			FS_CHECK(expected(&rr) == -1, "%s %s: none",
			    cases[i].method, cases[i].path);
		gw_rpc_req_fini(&rr);
		if (prepare_if_match(&rr, cases[i].method, cases[i].path, "*",
		        &err) == 0)
			FS_CHECK(expected(&rr) == -1, "%s %s: *",
			    cases[i].method, cases[i].path);
		gw_rpc_req_fini(&rr);
	}
	/* A weak or foreign tag: a version no component has. */
	if (prepare_if_match(&rr, "PUT", "/api/flows/" ID, "W/\"5\"", &err) ==
	    0)
		FS_CHECK(expected(&rr) == 0, "weak: version 0");
	gw_rpc_req_fini(&rr);
	FS_ASSERT_INT_EQ(prepare_if_match(&rr, "DELETE", "/api/flows/" ID,
	                     "\"5\", \"6\"", &err),
	    400);
	FS_CHECK(err.status == 400 && err.body != NULL &&
	        strcmp(err.body,
	            "{\"detail\":\"If-Match may name one version only.\"}") ==
	            0,
	    "two versions: %s", err.body ? err.body : "(none)");
	gw_resp_fini(&err);
	gw_rpc_req_fini(&rr);
}

static void
set_component(Flowsvc__Reply *reply, int64_t version)
{
	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;
	Flowsvc__ComponentReply cr = FLOWSVC__COMPONENT_REPLY__INIT;

	c.id = ID;
	c.kind = FLOWSVC__KIND__FLOW;
	c.name = "greet";
	c.group = "default";
	c.canvas_id = ID;
	c.version = version;
	cr.component = &c;
	reply->has_payload = 1;
	reply->payload.len = protobuf_c_message_get_packed_size(&cr.base);
	reply->payload.data = malloc(reply->payload.len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(reply->payload.data);
	protobuf_c_message_pack(&cr.base, reply->payload.data);
}

/* Renders an OK component reply of version 7 for method path with
 * If-None-Match inm; checks the status and the ETag. */
static void
render_component(const char *method, const char *path, const char *inm,
    int status, const char *etag)
{
	Flowsvc__Reply reply = FLOWSVC__REPLY__INIT;
	struct gw_api_ctx ctx = {0, inm};
	struct gw_match m;
	struct gw_resp r;

	set_component(&reply, 7);
	gw_route_match(method, path, &m);
	gw_api_render(&r, &m, &ctx, FS_OK, &reply);
	FS_CHECK(r.status == status, "%s %s If-None-Match %s: %d, expected %d",
	    method, path, inm ? inm : "(none)", r.status, status);
	FS_CHECK(strcmp(r.etag, etag) == 0, "%s %s: ETag [%s], expected [%s]",
	    method, path, r.etag, etag);
	/* A 304 keeps the body it stands for (its length is announced,
	 * the bytes are not sent). */
	FS_CHECK(r.body != NULL && r.len > 0 && r.body[0] == '{',
	    "%s %s: body", method, path);
	gw_resp_fini(&r);
	free(reply.payload.data);
}

static void
test_render(void)
{
	Flowsvc__Reply reply = FLOWSVC__REPLY__INIT;
	struct gw_match m;
	struct gw_resp r;

	render_component("GET", "/api/flows/" ID, NULL, 200, "\"7\"");
	render_component("GET", "/api/flows/" ID, "\"7\"", 304, "\"7\"");
	render_component("HEAD", "/api/apps/" ID, "W/\"7\"", 304, "\"7\"");
	render_component("GET", "/api/flows/" ID, "*", 304, "\"7\"");
	render_component("GET", "/api/flows/" ID, "\"6\"", 200, "\"7\"");
	/* If-None-Match is for GET: a change answers its component. */
	render_component("PUT", "/api/flows/" ID, "\"7\"", 200, "\"7\"");
	render_component("PATCH", "/api/flows/" ID, NULL, 200, "\"7\"");
	render_component("POST", "/api/flows/", "\"7\"", 201, "\"7\"");

	/* No ETag on what is not a component. */
	gw_route_match("DELETE", "/api/flows/" ID, &m);
	gw_api_render(&r, &m, NULL, FS_OK, &reply);
	FS_CHECK(r.status == 204 && r.etag[0] == '\0', "delete: no ETag");
	gw_resp_fini(&r);

	/* A stale version. */
	reply.code = FLOWSVC__CODE__ABORTED;
	reply.message = "whatever the backend says";
	gw_route_match("POST", "/api/apps/" ID "/stop/", &m);
	gw_api_render(&r, &m, NULL, FS_ABORTED, &reply);
	FS_CHECK(r.status == 412 && r.etag[0] == '\0' && r.body != NULL &&
	        strcmp(r.body,
	            "{\"detail\":\"Precondition failed: the component has "
	            "changed.\"}") == 0,
	    "412: %d %s", r.status, r.body ? r.body : "(none)");
	gw_resp_fini(&r);
}

static CU_TestInfo cond_tests[] = {
    {"ETag is the quoted version", test_etag},
    {"If-Match values", test_if_match},
    {"If-None-Match values", test_if_none_match},
    {"If-Match into the RPC's expected version", test_api_if_match},
    {"ETag, 304 and 412 answers", test_render},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gw_cond", NULL, NULL, NULL, NULL, cond_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
