/*
 * test_rest_apps.c - apps, references between components, the in-use rule
 * and the lifecycle (CONTRACT §2 "Apps and lifecycle", "References"),
 * end to end through flow-gateway and flow-service.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_util.h"
#include "testlib.h"

static fs_test_env env;

static const char *const NOT_FOUND = "{\"detail\": \"Not found.\"}";
static const char *const NOT_DEPLOYED =
    "{\"detail\": \"The component is not deployed.\"}";

static int
suite_init(void)
{
	return fs_env_start(&env, "rest_apps");
}

static int
suite_fini(void)
{
	return fs_env_fini(&env);
}

/* GET coll/id; returns the body (new reference) when the status matched. */
static json_t *
get_json(const char *coll, const char *id, int status, int line)
{
	fs_http_resp r;
	json_t *body = NULL;

	fs_restf(&env, "GET", NULL, &r, "/api/%s/%s/", coll, id);
	if (fs_check_status(&r, status, __FILE__, line)) {
		body = json_incref(r.json);
	}
	fs_http_resp_free(&r);
	return body;
}

/* PUT {"flows": [ids...]} on coll/id and asserts the status. */
static int
put_flows(const char *coll, const char *id, const char *ids_json, int status,
    fs_http_resp *keep, int line)
{
	fs_http_resp r;
	char body[1024];
	int ok;

	snprintf(body, sizeof(body), "{\"flows\": %s}", ids_json);
	fs_restf(&env, "PUT", body, &r, "/api/%s/%s/", coll, id);
	ok = fs_check_status(&r, status, __FILE__, line);
	if (keep != NULL) {
		*keep = r;
	} else {
		fs_http_resp_free(&r);
	}
	return ok;
}

static void
expect_flows_error(const fs_http_resp *r, const char *id, const char *why,
    int line)
{
	char want[512];

	snprintf(want, sizeof(want),
	    "{\"flows\": [\"Invalid pk \\\"%s\\\" - %s\"]}", id, why);
	fs_check_error(r, 400, want, __FILE__, line);
}

/* ---- apps CRUD ----------------------------------------------------------- */

static void
test_app_crud(void)
{
	fs_http_resp r;
	json_t *got;
	char id[64];

	fs_rest(&env, "POST", "/api/apps/",
	    "{\"name\": \"crud_app\", \"input_fields\": [\"q\"]}", &r);
	if (!FS_ASSERT_STATUS(&r, 201) ||
	    !FS_CHECK(fs_json_str(r.json, "id"), "no id: %s", r.body)) {
		fs_http_resp_free(&r);
		return;
	}
	FS_ASSERT_COMPONENT(r.json);
	FS_ASSERT_STR_EQ(fs_json_str(r.json, "group"), "default");
	FS_ASSERT_INT_EQ(fs_json_int(r.json, "version"), 1);
	snprintf(id, sizeof(id), "%s", fs_json_str(r.json, "id"));
	{
		const char *loc = fs_http_header_get(&r, "Location");
		FS_CHECK(loc != NULL && strstr(loc, "/api/apps/") != NULL &&
		        strstr(loc, id) != NULL,
		    "Location %s does not name /api/apps/%s/",
		    loc ? loc : "(none)", id);
	}
	if ((got = get_json("apps", id, 200, __LINE__)) != NULL) {
		FS_ASSERT_JSON_SAME(got, r.json);
		json_decref(got);
	}
	fs_http_resp_free(&r);

	fs_restf(&env, "PUT", "{\"output_fields\": [\"a\"]}", &r,
	    "/api/apps/%s/", id);
	if (FS_ASSERT_STATUS(&r, 200)) {
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "input_fields"),
		    "[\"q\"]");
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "output_fields"),
		    "[\"a\"]");
		FS_ASSERT_INT_EQ(fs_json_int(r.json, "version"), 2);
	}
	fs_http_resp_free(&r);

	fs_rest(&env, "GET", "/api/apps/?name__iexact=CRUD_APP", NULL, &r);
	if (FS_ASSERT_STATUS(&r, 200) &&
	    FS_CHECK(json_array_size(r.json) == 1, "list: %s", r.body)) {
		FS_ASSERT_STR_EQ(fs_json_str(json_array_get(r.json, 0), "id"),
		    id);
	}
	fs_http_resp_free(&r);

	fs_restf(&env, "DELETE", NULL, &r, "/api/apps/%s/", id);
	if (FS_ASSERT_STATUS(&r, 204)) {
		FS_ASSERT_INT_EQ(r.body_len, 0);
	}
	fs_http_resp_free(&r);
	fs_restf(&env, "GET", NULL, &r, "/api/apps/%s/", id);
	FS_ASSERT_ERROR(&r, 404, NOT_FOUND);
	fs_http_resp_free(&r);
}

static void
test_app_name_errors(void)
{
	fs_http_resp r;
	char id[64];

	fs_rest(&env, "POST", "/api/apps/", "{\"name\": \"bad app\"}", &r);
	FS_ASSERT_ERROR(&r, 400,
	    "{\"name\": [\"Invalid app name. App name must contain only "
	    "alphanumeric characters and the underscore character.\"]}");
	fs_http_resp_free(&r);
	fs_rest(&env, "POST", "/api/apps/", "{}", &r);
	FS_ASSERT_ERROR(&r, 400, "{\"name\": [\"This field is required.\"]}");
	fs_http_resp_free(&r);

	if (FS_REST_CREATE(&env, "apps", "{\"name\": \"taken_app\"}", id) !=
	    0) {
		return;
	}
	fs_rest(&env, "POST", "/api/apps/", "{\"name\": \"Taken_App\"}", &r);
	FS_ASSERT_ERROR(&r, 400,
	    "{\"name\": [\"An app with this name already "
	    "exists in this group.\"]}");
	fs_http_resp_free(&r);
	fs_rest(&env, "POST", "/api/apps/",
	    "{\"name\": \"taken_app\", \"group\": \"elsewhere\"}", &r);
	FS_ASSERT_STATUS(&r, 201);
	fs_http_resp_free(&r);
}

static void
test_kinds_are_separate(void)
{
	fs_http_resp r;
	char flow[64], app[64], up[64];

	/* A flow and an app may share a name in one group. */
	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"shared_name\"}",
	        flow) != 0 ||
	    FS_REST_CREATE(&env, "apps", "{\"name\": \"shared_name\"}", app) !=
	        0) {
		return;
	}
	fs_restf(&env, "GET", NULL, &r, "/api/apps/%s/", flow);
	FS_ASSERT_ERROR(&r, 404, NOT_FOUND);
	fs_http_resp_free(&r);
	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", app);
	FS_ASSERT_ERROR(&r, 404, NOT_FOUND);
	fs_http_resp_free(&r);
	snprintf(up, sizeof(up), "%s", app);
	fs_str_upper(up);
	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", up);
	FS_ASSERT_ERROR(&r, 404, NOT_FOUND);
	fs_http_resp_free(&r);
	fs_restf(&env, "PUT", "{\"input_fields\": []}", &r, "/api/flows/%s/",
	    app);
	FS_ASSERT_ERROR(&r, 404, NOT_FOUND);
	fs_http_resp_free(&r);
	fs_restf(&env, "PUT", "{\"input_fields\": []}", &r, "/api/apps/%s/",
	    flow);
	FS_ASSERT_ERROR(&r, 404, NOT_FOUND);
	fs_http_resp_free(&r);
	fs_restf(&env, "DELETE", NULL, &r, "/api/flows/%s/", app);
	FS_ASSERT_ERROR(&r, 404, NOT_FOUND);
	fs_http_resp_free(&r);
	fs_restf(&env, "DELETE", NULL, &r, "/api/apps/%s/", flow);
	FS_ASSERT_ERROR(&r, 404, NOT_FOUND);
	fs_http_resp_free(&r);

	/* Each list holds only its kind. */
	fs_rest(&env, "GET", "/api/flows/?name__iexact=shared_name", NULL, &r);
	if (FS_ASSERT_STATUS(&r, 200) &&
	    FS_CHECK(json_array_size(r.json) == 1, "flows: %s", r.body)) {
		FS_ASSERT_STR_EQ(fs_json_str(json_array_get(r.json, 0), "id"),
		    flow);
	}
	fs_http_resp_free(&r);
	fs_rest(&env, "GET", "/api/apps/?name__iexact=shared_name", NULL, &r);
	if (FS_ASSERT_STATUS(&r, 200) &&
	    FS_CHECK(json_array_size(r.json) == 1, "apps: %s", r.body)) {
		FS_ASSERT_STR_EQ(fs_json_str(json_array_get(r.json, 0), "id"),
		    app);
	}
	fs_http_resp_free(&r);

	/* Both still exist after the cross-kind attempts. */
	json_decref(get_json("flows", flow, 200, __LINE__));
	json_decref(get_json("apps", app, 200, __LINE__));
}

/* ---- references ---------------------------------------------------------- */

static void
test_references_on_create_and_update(void)
{
	fs_http_resp r;
	char f1[64], f2[64], app[64], up[64], body[512], want[256];
	json_t *got;

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"ref_f1\"}", f1) != 0 ||
	    FS_REST_CREATE(&env, "flows", "{\"name\": \"ref_f2\"}", f2) != 0) {
		return;
	}
	/* Upper-case ids are accepted and stored lower-case. */
	snprintf(up, sizeof(up), "%s", f2);
	fs_str_upper(up);
	snprintf(body, sizeof(body),
	    "{\"name\": \"ref_app\", \"flows\": [\"%s\", \"%s\"]}", f1, up);
	fs_rest(&env, "POST", "/api/apps/", body, &r);
	if (!FS_ASSERT_STATUS(&r, 201)) {
		fs_http_resp_free(&r);
		return;
	}
	snprintf(app, sizeof(app), "%s",
	    fs_json_str(r.json, "id") ? fs_json_str(r.json, "id") : "");
	snprintf(want, sizeof(want), "[\"%s\", \"%s\"]", f1, f2);
	FS_ASSERT_JSON_EQ(json_object_get(r.json, "flows"), want);
	fs_http_resp_free(&r);
	if ((got = get_json("apps", app, 200, __LINE__)) != NULL) {
		FS_ASSERT_JSON_EQ(json_object_get(got, "flows"), want);
		json_decref(got);
	}

	/* A flow may use another flow. */
	snprintf(want, sizeof(want), "[\"%s\"]", f1);
	if (put_flows("flows", f2, want, 200, &r, __LINE__)) {
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "flows"), want);
	}
	fs_http_resp_free(&r);

	/* Update replaces the list; an empty list clears it. */
	if (put_flows("apps", app, want, 200, &r, __LINE__)) {
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "flows"), want);
		FS_ASSERT_INT_EQ(fs_json_int(r.json, "version"), 2);
	}
	fs_http_resp_free(&r);
	if (put_flows("apps", app, "[]", 200, &r, __LINE__)) {
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "flows"), "[]");
	}
	fs_http_resp_free(&r);
}

static void
test_reference_errors(void)
{
	fs_http_resp r;
	char f1[64], app[64], body[512], ids[256];
	const char *ghost = "0b9e2c1d-6a55-4b2e-9a3f-1c2d3e4f5a6b";
	json_t *before, *after;

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"referr_f1\"}", f1) !=
	        0 ||
	    FS_REST_CREATE(&env, "apps", "{\"name\": \"referr_app\"}", app) !=
	        0) {
		return;
	}
	/* Unknown id, on create and on update. */
	snprintf(body, sizeof(body),
	    "{\"name\": \"referr_new\", \"flows\": [\"%s\", \"%s\"]}", f1,
	    ghost);
	fs_rest(&env, "POST", "/api/flows/", body, &r);
	expect_flows_error(&r, ghost, "object does not exist.", __LINE__);
	fs_http_resp_free(&r);
	fs_rest(&env, "GET", "/api/flows/?name__iexact=referr_new", NULL, &r);
	FS_ASSERT_ERROR(&r, 200, "[]");
	fs_http_resp_free(&r);

	before = get_json("flows", f1, 200, __LINE__);
	snprintf(ids, sizeof(ids), "[\"%s\"]", ghost);
	put_flows("flows", f1, ids, 400, &r, __LINE__);
	expect_flows_error(&r, ghost, "object does not exist.", __LINE__);
	fs_http_resp_free(&r);

	/* An app id is not a flow id. */
	snprintf(ids, sizeof(ids), "[\"%s\"]", app);
	put_flows("flows", f1, ids, 400, &r, __LINE__);
	expect_flows_error(&r, app, "object does not exist.", __LINE__);
	fs_http_resp_free(&r);
	snprintf(body, sizeof(body),
	    "{\"name\": \"referr_new\", \"flows\": [\"%s\"]}", app);
	fs_rest(&env, "POST", "/api/apps/", body, &r);
	expect_flows_error(&r, app, "object does not exist.", __LINE__);
	fs_http_resp_free(&r);

	/* A flow cannot use itself. */
	snprintf(ids, sizeof(ids), "[\"%s\"]", f1);
	put_flows("flows", f1, ids, 400, &r, __LINE__);
	expect_flows_error(&r, f1, "a component cannot use itself.", __LINE__);
	fs_http_resp_free(&r);

	/* None of the rejected updates changed anything. */
	after = get_json("flows", f1, 200, __LINE__);
	if (before != NULL && after != NULL) {
		FS_ASSERT_JSON_SAME(after, before);
	}
	json_decref(before);
	json_decref(after);
}

static void
test_reference_cycles(void)
{
	fs_http_resp r;
	char a[64], b[64], c[64], ids[256];
	json_t *before, *after;

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"cyc_a\"}", a) != 0 ||
	    FS_REST_CREATE(&env, "flows", "{\"name\": \"cyc_b\"}", b) != 0 ||
	    FS_REST_CREATE(&env, "flows", "{\"name\": \"cyc_c\"}", c) != 0) {
		return;
	}
	/* A -> B -> C */
	snprintf(ids, sizeof(ids), "[\"%s\"]", b);
	put_flows("flows", a, ids, 200, NULL, __LINE__);
	snprintf(ids, sizeof(ids), "[\"%s\"]", c);
	put_flows("flows", b, ids, 200, NULL, __LINE__);

	/* C -> A closes the cycle A -> B -> C -> A. */
	before = get_json("flows", c, 200, __LINE__);
	snprintf(ids, sizeof(ids), "[\"%s\"]", a);
	put_flows("flows", c, ids, 400, &r, __LINE__);
	expect_flows_error(&r, a, "this reference would create a cycle.",
	    __LINE__);
	fs_http_resp_free(&r);
	after = get_json("flows", c, 200, __LINE__);
	if (before != NULL && after != NULL) {
		FS_ASSERT_JSON_SAME(after, before);
	}
	json_decref(before);
	json_decref(after);

	/* C -> B and B -> A close shorter cycles. */
	snprintf(ids, sizeof(ids), "[\"%s\"]", b);
	put_flows("flows", c, ids, 400, &r, __LINE__);
	expect_flows_error(&r, b, "this reference would create a cycle.",
	    __LINE__);
	fs_http_resp_free(&r);
	snprintf(ids, sizeof(ids), "[\"%s\"]", a);
	put_flows("flows", b, ids, 400, &r, __LINE__);
	expect_flows_error(&r, a, "this reference would create a cycle.",
	    __LINE__);
	fs_http_resp_free(&r);

	/* A diamond is not a cycle: A -> B, A -> C, B -> C. */
	snprintf(ids, sizeof(ids), "[\"%s\", \"%s\"]", b, c);
	put_flows("flows", a, ids, 200, NULL, __LINE__);

	/* Once B no longer uses C, C -> B is allowed, and then B -> C is
	 * the cycle. */
	put_flows("flows", b, "[]", 200, NULL, __LINE__);
	snprintf(ids, sizeof(ids), "[\"%s\"]", b);
	put_flows("flows", c, ids, 200, NULL, __LINE__);
	snprintf(ids, sizeof(ids), "[\"%s\"]", c);
	put_flows("flows", b, ids, 400, &r, __LINE__);
	expect_flows_error(&r, c, "this reference would create a cycle.",
	    __LINE__);
	fs_http_resp_free(&r);
}

/* ---- in use -------------------------------------------------------------- */

static void
expect_in_use(const char *id, const char *names, int line)
{
	fs_http_resp r;
	char want[512];

	snprintf(want, sizeof(want),
	    "{\"detail\": \"Cannot delete the Flow, because it is used by "
	    "these apps/flows: %s\"}",
	    names);
	fs_restf(&env, "DELETE", NULL, &r, "/api/flows/%s/", id);
	fs_check_error(&r, 409, want, __FILE__, line);
	fs_http_resp_free(&r);
}

static void
test_delete_in_use(void)
{
	fs_http_resp r;
	char used[64], zeta[64], alpha[64], mid[64], body[256], ids[128];
	json_t *before, *after;

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"used_flow\"}", used) !=
	    0) {
		return;
	}
	snprintf(ids, sizeof(ids), "[\"%s\"]", used);
	snprintf(body, sizeof(body), "{\"name\": \"zeta_app\", \"flows\": %s}",
	    ids);
	if (FS_REST_CREATE(&env, "apps", body, zeta) != 0) {
		return;
	}
	snprintf(body, sizeof(body),
	    "{\"name\": \"alpha_app\", \"flows\": %s}", ids);
	if (FS_REST_CREATE(&env, "apps", body, alpha) != 0) {
		return;
	}
	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"mid_flow\"}", mid) !=
	    0) {
		return;
	}
	put_flows("flows", mid, ids, 200, NULL, __LINE__);

	before = get_json("flows", used, 200, __LINE__);
	expect_in_use(used, "alpha_app,mid_flow,zeta_app", __LINE__);
	after = get_json("flows", used, 200, __LINE__);
	if (before != NULL && after != NULL) {
		FS_ASSERT_JSON_SAME(after, before);
	}
	json_decref(before);
	json_decref(after);

	/* A user that drops the reference no longer counts. */
	put_flows("flows", mid, "[]", 200, NULL, __LINE__);
	expect_in_use(used, "alpha_app,zeta_app", __LINE__);

	/* A deleted user no longer counts; apps are never in use. */
	fs_restf(&env, "DELETE", NULL, &r, "/api/apps/%s/", zeta);
	FS_ASSERT_STATUS(&r, 204);
	fs_http_resp_free(&r);
	expect_in_use(used, "alpha_app", __LINE__);

	put_flows("apps", alpha, "[]", 200, NULL, __LINE__);
	fs_restf(&env, "DELETE", NULL, &r, "/api/flows/%s/", used);
	FS_ASSERT_STATUS(&r, 204);
	fs_http_resp_free(&r);
	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", used);
	FS_ASSERT_ERROR(&r, 404, NOT_FOUND);
	fs_http_resp_free(&r);
}

static void
test_delete_in_use_through_chain(void)
{
	fs_http_resp r;
	char leaf[64], mid[64], top[64], body[256];

	/* Only direct users are named: top uses mid uses leaf. */
	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"chain_leaf\"}",
	        leaf) != 0) {
		return;
	}
	snprintf(body, sizeof(body),
	    "{\"name\": \"chain_mid\", \"flows\": [\"%s\"]}", leaf);
	if (FS_REST_CREATE(&env, "flows", body, mid) != 0) {
		return;
	}
	snprintf(body, sizeof(body),
	    "{\"name\": \"chain_top\", \"flows\": [\"%s\"]}", mid);
	if (FS_REST_CREATE(&env, "apps", body, top) != 0) {
		return;
	}
	expect_in_use(leaf, "chain_mid", __LINE__);
	expect_in_use(mid, "chain_top", __LINE__);
	fs_restf(&env, "DELETE", NULL, &r, "/api/apps/%s/", top);
	FS_ASSERT_STATUS(&r, 204);
	fs_http_resp_free(&r);
	fs_restf(&env, "DELETE", NULL, &r, "/api/flows/%s/", mid);
	FS_ASSERT_STATUS(&r, 204);
	fs_http_resp_free(&r);
	fs_restf(&env, "DELETE", NULL, &r, "/api/flows/%s/", leaf);
	FS_ASSERT_STATUS(&r, 204);
	fs_http_resp_free(&r);
}

/* ---- lifecycle ----------------------------------------------------------- */

static void
lifecycle(const char *id, const char *op, int status, const char *body,
    int line)
{
	fs_http_resp r;

	if (op == NULL) {
		fs_restf(&env, "GET", NULL, &r, "/api/apps/%s/status/", id);
	} else {
		fs_restf(&env, "POST", NULL, &r, "/api/apps/%s/%s/", id, op);
	}
	fs_check_error(&r, status, body, __FILE__, line);
	fs_http_resp_free(&r);
}

#define STATUS_IS(id, s)                                                      \
	lifecycle((id), NULL, 200, "{\"status\": \"" s "\"}", __LINE__)
#define OP_OK(id, op, s)                                                      \
	lifecycle((id), (op), 200, "{\"status\": \"" s "\"}", __LINE__)

static void
test_lifecycle_app(void)
{
	char id[64];

	if (FS_REST_CREATE(&env, "apps", "{\"name\": \"life_app\"}", id) !=
	    0) {
		return;
	}
	STATUS_IS(id, "not-deployed");
	lifecycle(id, "stop", 409, NOT_DEPLOYED, __LINE__);
	lifecycle(id, "start", 409, NOT_DEPLOYED, __LINE__);
	STATUS_IS(id, "not-deployed");
	OP_OK(id, "deploy", "started");
	STATUS_IS(id, "started");
	OP_OK(id, "stop", "stopped");
	STATUS_IS(id, "stopped");
	OP_OK(id, "stop", "stopped");
	OP_OK(id, "start", "started");
	STATUS_IS(id, "started");
	OP_OK(id, "start", "started");
	OP_OK(id, "deploy", "started");
	OP_OK(id, "stop", "stopped");
	OP_OK(id, "deploy", "started");
	STATUS_IS(id, "started");
}

static void
test_lifecycle_flow_and_case(void)
{
	char id[64], up[64];

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"life_flow\"}", id) !=
	    0) {
		return;
	}
	snprintf(up, sizeof(up), "%s", id);
	fs_str_upper(up);
	STATUS_IS(up, "not-deployed");
	lifecycle(up, "stop", 409, NOT_DEPLOYED, __LINE__);
	OP_OK(up, "deploy", "started");
	STATUS_IS(id, "started");
	OP_OK(id, "stop", "stopped");
	STATUS_IS(up, "stopped");
}

static void
test_lifecycle_not_found(void)
{
	static const char *ops[] = {"deploy", "start", "stop"};
	const char *ghost = "5f0c2d4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f";
	size_t i;

	lifecycle(ghost, NULL, 404, NOT_FOUND, __LINE__);
	lifecycle("not-a-uuid", NULL, 404, NOT_FOUND, __LINE__);
	for (i = 0; i < 3; i++) {
		lifecycle(ghost, ops[i], 404, NOT_FOUND, __LINE__);
		lifecycle("not-a-uuid", ops[i], 404, NOT_FOUND, __LINE__);
	}
}

static void
test_lifecycle_methods(void)
{
	fs_http_resp r;
	char id[64];
	const char *allow;

	if (FS_REST_CREATE(&env, "apps", "{\"name\": \"life_methods\"}", id) !=
	    0) {
		return;
	}
	fs_restf(&env, "GET", NULL, &r, "/api/apps/%s/deploy/", id);
	FS_ASSERT_ERROR(&r, 405,
	    "{\"detail\": \"Method \\\"GET\\\" not allowed.\"}");
	allow = fs_http_header_get(&r, "Allow");
	FS_CHECK(allow != NULL && strstr(allow, "POST") != NULL,
	    "Allow on deploy: %s", allow ? allow : "(none)");
	fs_http_resp_free(&r);
	/* The refused GET did not deploy it. */
	STATUS_IS(id, "not-deployed");
}

static void
test_delete_removes_status(void)
{
	fs_http_resp r;
	char app[64], flow[64];

	if (FS_REST_CREATE(&env, "apps", "{\"name\": \"gone_app\"}", app) !=
	        0 ||
	    FS_REST_CREATE(&env, "flows", "{\"name\": \"gone_flow\"}", flow) !=
	        0) {
		return;
	}
	OP_OK(app, "deploy", "started");
	OP_OK(flow, "deploy", "started");
	fs_restf(&env, "DELETE", NULL, &r, "/api/apps/%s/", app);
	FS_ASSERT_STATUS(&r, 204);
	fs_http_resp_free(&r);
	fs_restf(&env, "DELETE", NULL, &r, "/api/flows/%s/", flow);
	FS_ASSERT_STATUS(&r, 204);
	fs_http_resp_free(&r);
	lifecycle(app, NULL, 404, NOT_FOUND, __LINE__);
	lifecycle(flow, NULL, 404, NOT_FOUND, __LINE__);
	lifecycle(app, "start", 404, NOT_FOUND, __LINE__);
	lifecycle(flow, "deploy", 404, NOT_FOUND, __LINE__);
}

static CU_TestInfo tests[] = {
    {"apps: create, get, update, list, delete", test_app_crud},
    {"apps: name errors name the app", test_app_name_errors},
    {"flows and apps are separate kinds", test_kinds_are_separate},
    {"references on create and update", test_references_on_create_and_update},
    {"references: unknown, app id, self", test_reference_errors},
    {"references: cycles", test_reference_cycles},
    {"delete of a used flow is 409 naming the users", test_delete_in_use},
    {"in use names only direct users", test_delete_in_use_through_chain},
    {"lifecycle of an app", test_lifecycle_app},
    {"lifecycle of a flow, upper-case id", test_lifecycle_flow_and_case},
    {"lifecycle of unknown ids", test_lifecycle_not_found},
    {"lifecycle endpoints take POST only", test_lifecycle_methods},
    {"delete removes the status", test_delete_removes_status},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"rest_apps", suite_init, suite_fini, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
