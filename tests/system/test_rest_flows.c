/*
 * test_rest_flows.c - the Flows rows of CONTRACT §2 and every error shape,
 * end to end through flow-gateway and flow-service.
 *
 * One backend and gateway serve the whole suite; each test uses its own
 * names and groups so the tests do not see each other's flows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_util.h"
#include "testlib.h"

static fs_test_env env;

static const char *const FLOW_NAME_MSG =
    "Invalid flow name. Flow name must contain only alphanumeric "
    "characters and the underscore character.";

static int
suite_init(void)
{
	return fs_env_start(&env, "rest_flows");
}

static int
suite_fini(void)
{
	return fs_env_fini(&env);
}

/* Fetches /api/flows/<id>/ and returns its body (new reference) or NULL. */
static json_t *
get_flow(const char *id)
{
	fs_http_resp r;
	json_t *body = NULL;

	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", id);
	if (FS_ASSERT_STATUS(&r, 200)) {
		body = json_incref(r.json);
	}
	fs_http_resp_free(&r);
	return body;
}

/* The names in a list response, comma-joined, for one-line comparisons. */
static void
names_of(const json_t *list, char *out, size_t cap)
{
	size_t i, n = 0;
	json_t *v;

	out[0] = '\0';
	if (!json_is_array(list)) {
		snprintf(out, cap, "(not a list)");
		return;
	}
	json_array_foreach(list, i, v)
	{
		const char *name = fs_json_str(v, "name");
		n += (size_t) snprintf(out + n, n < cap ? cap - n : 0, "%s%s",
		    i ? "," : "", name ? name : "?");
	}
}

static int
list_names(const char *query, char *out, size_t cap, int line)
{
	fs_http_resp r;
	int ok;

	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s", query);
	ok = fs_check_status(&r, 200, __FILE__, line);
	if (ok) {
		names_of(r.json, out, cap);
	} else {
		snprintf(out, cap, "(HTTP %d)", r.status);
	}
	fs_http_resp_free(&r);
	return ok;
}

#define ASSERT_LIST(query, expected)                                          \
	do {                                                                  \
		char got_[4096];                                              \
		list_names((query), got_, sizeof(got_), __LINE__);            \
		fs_check_str(got_, (expected),                                \
		    "names of GET /api/flows/" query, __FILE__, __LINE__);    \
	} while (0)

/* ---- create and get ------------------------------------------------------ */

static void
test_create_defaults(void)
{
	fs_http_resp r;
	const char *loc;
	int64_t created, now = fs_now_us();

	fs_rest(&env, "POST", "/api/flows/", "{\"name\": \"create_defaults\"}",
	    &r);
	if (!FS_ASSERT_STATUS(&r, 201)) {
		goto out;
	}
	FS_ASSERT_COMPONENT(r.json);
	FS_ASSERT_STR_EQ(fs_json_str(r.json, "name"), "create_defaults");
	FS_ASSERT_STR_EQ(fs_json_str(r.json, "group"), "default");
	FS_ASSERT_JSON_EQ(json_object_get(r.json, "input_fields"), "[]");
	FS_ASSERT_JSON_EQ(json_object_get(r.json, "output_fields"), "[]");
	FS_ASSERT_JSON_EQ(json_object_get(r.json, "flows"), "[]");
	FS_ASSERT_INT_EQ(fs_json_int(r.json, "version"), 1);
	FS_CHECK(fs_json_str(r.json, "id") &&
	        fs_json_str(r.json, "canvas_id") &&
	        strcmp(fs_json_str(r.json, "id"),
	            fs_json_str(r.json, "canvas_id")) != 0,
	    "canvas_id must be its own uuid: %s", r.body);
	FS_ASSERT_STR_EQ(fs_json_str(r.json, "created_at"),
	    fs_json_str(r.json, "updated_at"));
	/* The timestamp is the creation time, not some fixed value. */
	FS_CHECK(fs_time_parse(fs_json_str(r.json, "created_at"), &created) ==
	            0 &&
	        created > now - 60 * 1000000LL &&
	        created < now + 60 * 1000000LL,
	    "created_at %s is not about now",
	    fs_json_str(r.json, "created_at"));
	loc = fs_http_header_get(&r, "Location");
	if (FS_CHECK(loc != NULL, "201 without a Location header")) {
		char want[128];
		size_t ll = strlen(loc), wl;
		snprintf(want, sizeof(want), "/api/flows/%s/",
		    fs_json_str(r.json, "id"));
		wl = strlen(want);
		FS_CHECK(ll >= wl && strcmp(loc + ll - wl, want) == 0,
		    "Location \"%s\" does not end with \"%s\"", loc, want);
	}
	{
		const char *ct = fs_http_header_get(&r, "Content-Type");
		FS_CHECK(ct && strncmp(ct, "application/json", 16) == 0,
		    "Content-Type is %s", ct ? ct : "(none)");
	}
out:
	fs_http_resp_free(&r);
}

static void
test_create_all_fields(void)
{
	fs_http_resp r;

	fs_rest(&env, "POST", "/api/flows/",
	    "{\"name\": \"All_Fields_1\", \"group\": \"grp.all-fields_1\", "
	    "\"input_fields\": [\"question\", \"user id\"], "
	    "\"output_fields\": [\"answer\"], \"flows\": []}",
	    &r);
	if (FS_ASSERT_STATUS(&r, 201)) {
		FS_ASSERT_COMPONENT(r.json);
		FS_ASSERT_STR_EQ(fs_json_str(r.json, "name"), "All_Fields_1");
		FS_ASSERT_STR_EQ(fs_json_str(r.json, "group"),
		    "grp.all-fields_1");
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "input_fields"),
		    "[\"question\", \"user id\"]");
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "output_fields"),
		    "[\"answer\"]");
	}
	fs_http_resp_free(&r);
}

static void
test_get(void)
{
	fs_http_resp r;
	json_t *got;
	char id[64];

	fs_rest(&env, "POST", "/api/flows/",
	    "{\"name\": \"get_me\", \"input_fields\": [\"a\"]}", &r);
	if (!FS_ASSERT_STATUS(&r, 201) ||
	    !FS_CHECK(fs_json_str(r.json, "id"), "no id")) {
		fs_http_resp_free(&r);
		return;
	}
	snprintf(id, sizeof(id), "%s", fs_json_str(r.json, "id"));
	if ((got = get_flow(id)) != NULL) {
		FS_ASSERT_COMPONENT(got);
		FS_ASSERT_JSON_SAME(got, r.json);
		json_decref(got);
	}
	fs_http_resp_free(&r);
}

static void
test_get_upper_case_id(void)
{
	char id[64], up[64];
	json_t *got;

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"get_upper\"}", id) !=
	    0) {
		return;
	}
	snprintf(up, sizeof(up), "%s", id);
	fs_str_upper(up);
	if ((got = get_flow(up)) != NULL) {
		FS_ASSERT_STR_EQ(fs_json_str(got, "id"), id);
		json_decref(got);
	}
}

static void
test_get_not_found(void)
{
	fs_http_resp r;
	uint8_t u[16];
	char id[FS_UUID_STRLEN + 1];

	fs_rest(&env, "GET", "/api/flows/not-a-uuid/", NULL, &r);
	FS_ASSERT_ERROR(&r, 404, "{\"detail\": \"Not found.\"}");
	fs_http_resp_free(&r);

	fs_rest(&env, "GET", "/api/flows/12345/", NULL, &r);
	FS_ASSERT_ERROR(&r, 404, "{\"detail\": \"Not found.\"}");
	fs_http_resp_free(&r);

	fs_uuid_new(u);
	fs_uuid_format(u, id);
	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", id);
	FS_ASSERT_ERROR(&r, 404, "{\"detail\": \"Not found.\"}");
	fs_http_resp_free(&r);
}

static void
test_trailing_slash_optional(void)
{
	fs_http_resp r;
	char id[64];

	fs_rest(&env, "POST", "/api/flows", "{\"name\": \"no_slash\"}", &r);
	FS_ASSERT_STATUS(&r, 201);
	snprintf(id, sizeof(id), "%s",
	    fs_json_str(r.json, "id") ? fs_json_str(r.json, "id") : "none");
	fs_http_resp_free(&r);

	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s", id);
	if (FS_ASSERT_STATUS(&r, 200)) {
		FS_ASSERT_STR_EQ(fs_json_str(r.json, "name"), "no_slash");
	}
	fs_http_resp_free(&r);

	fs_rest(&env, "GET", "/api/flows?name__iexact=no_slash", NULL, &r);
	if (FS_ASSERT_STATUS(&r, 200)) {
		FS_CHECK(json_is_array(r.json) && json_array_size(r.json) == 1,
		    "list without slash: %s", r.body);
	}
	fs_http_resp_free(&r);

	fs_restf(&env, "PUT", "{\"input_fields\": [\"x\"]}", &r,
	    "/api/flows/%s", id);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);

	fs_restf(&env, "GET", NULL, &r, "/api/apps/%s/status", id);
	FS_ASSERT_ERROR(&r, 200, "{\"status\": \"not-deployed\"}");
	fs_http_resp_free(&r);

	fs_restf(&env, "DELETE", NULL, &r, "/api/flows/%s", id);
	FS_ASSERT_STATUS(&r, 204);
	fs_http_resp_free(&r);
}

/* ---- list ---------------------------------------------------------------- */

static void
test_list_filters(void)
{
	char a[64], b[64], c[64], other[64];

	if (FS_REST_CREATE(&env, "flows",
	        "{\"name\": \"lf_alpha\", \"group\": \"ListGrp\"}", a) != 0 ||
	    FS_REST_CREATE(&env, "flows",
	        "{\"name\": \"lf_beta\", \"group\": \"listgrp\"}", b) != 0 ||
	    FS_REST_CREATE(&env, "flows",
	        "{\"name\": \"LF_Gamma\", \"group\": \"LISTGRP\"}", c) != 0 ||
	    FS_REST_CREATE(&env, "flows",
	        "{\"name\": \"lf_alpha\", \"group\": \"listgrp_other\"}",
	        other) != 0) {
		return;
	}
	/* Groups compare case-insensitively in the filter, and the result
	 * keeps creation order. */
	ASSERT_LIST("?group__iexact=listgrp", "lf_alpha,lf_beta,LF_Gamma");
	ASSERT_LIST("?group__iexact=LISTGRP", "lf_alpha,lf_beta,LF_Gamma");
	/* Exact, not a prefix or substring. */
	ASSERT_LIST("?group__iexact=listgr", "");
	ASSERT_LIST("?name__iexact=lf_gamma", "LF_Gamma");
	ASSERT_LIST("?name__iexact=LF_ALPHA", "lf_alpha,lf_alpha");
	ASSERT_LIST("?name__iexact=lf_", "");
	ASSERT_LIST("?name__iexact=lf_alpha&group__iexact=LISTGRP_OTHER",
	    "lf_alpha");
	ASSERT_LIST("?group__iexact=listgrp&name__iexact=lf_beta", "lf_beta");
	ASSERT_LIST("?name__iexact=lf_beta&group__iexact=listgrp_other", "");
	ASSERT_LIST("?name__iexact=no_such_flow", "");
}

static void
test_list_all_in_creation_order(void)
{
	fs_http_resp r;
	char ids[3][64];
	const char *bodies[3] = {"{\"name\": \"order_z\"}",
	    "{\"name\": \"order_a\"}", "{\"name\": \"order_m\"}"};
	size_t i, pos[3] = {0, 0, 0};
	int found = 0;
	json_t *v;

	for (i = 0; i < 3; i++) {
		if (FS_REST_CREATE(&env, "flows", bodies[i], ids[i]) != 0) {
			return;
		}
	}
	fs_rest(&env, "GET", "/api/flows/", NULL, &r);
	if (FS_ASSERT_STATUS(&r, 200) &&
	    FS_CHECK(json_is_array(r.json), "not a list: %s", r.body)) {
		json_array_foreach(r.json, i, v)
		{
			size_t k;
			FS_ASSERT_COMPONENT(v);
			for (k = 0; k < 3; k++) {
				if (fs_json_str(v, "id") &&
				    strcmp(fs_json_str(v, "id"), ids[k]) ==
				        0) {
					pos[k] = i;
					found++;
				}
			}
		}
		FS_ASSERT_INT_EQ(found, 3);
		FS_CHECK(pos[0] < pos[1] && pos[1] < pos[2],
		    "not in creation order: positions %zu %zu %zu", pos[0],
		    pos[1], pos[2]);
	}
	fs_http_resp_free(&r);
}

static void
test_list_limit_offset(void)
{
	static const char *names[] = {"lo_1", "lo_2", "lo_3", "lo_4"};
	char id[64], body[128];
	fs_http_resp r;
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(body, sizeof(body),
		    "{\"name\": \"%s\", \"group\": \"limit_grp\"}", names[i]);
		if (FS_REST_CREATE(&env, "flows", body, id) != 0) {
			return;
		}
	}
	ASSERT_LIST("?group__iexact=limit_grp", "lo_1,lo_2,lo_3,lo_4");
	ASSERT_LIST("?group__iexact=limit_grp&limit=2", "lo_1,lo_2");
	ASSERT_LIST("?group__iexact=limit_grp&offset=1", "lo_2,lo_3,lo_4");
	ASSERT_LIST("?group__iexact=limit_grp&limit=2&offset=1", "lo_2,lo_3");
	ASSERT_LIST("?group__iexact=limit_grp&offset=3&limit=10", "lo_4");
	ASSERT_LIST("?group__iexact=limit_grp&offset=4", "");
	ASSERT_LIST("?group__iexact=limit_grp&offset=1000", "");
	ASSERT_LIST("?group__iexact=limit_grp&limit=100",
	    "lo_1,lo_2,lo_3,lo_4");

	{
		static const char *bad[] = {"limit=-1", "limit=abc",
		    "offset=-5", "offset=x", "limit=1.5", "limit="};
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			fs_restf(&env, "GET", NULL, &r,
			    "/api/flows/?group__iexact=limit_grp&%s", bad[i]);
			if (FS_ASSERT_STATUS(&r, 400)) {
				FS_CHECK(json_is_object(r.json),
				    "400 body is not a JSON object: %s",
				    r.body);
			}
			fs_http_resp_free(&r);
		}
	}
}

/* ---- update -------------------------------------------------------------- */

static void
test_update(void)
{
	fs_http_resp r;
	json_t *before = NULL, *after = NULL;
	char id[64];
	int64_t t0, t1;

	if (FS_REST_CREATE(&env, "flows",
	        "{\"name\": \"upd_one\", \"input_fields\": [\"a\"], "
	        "\"output_fields\": [\"b\"]}",
	        id) != 0 ||
	    (before = get_flow(id)) == NULL) {
		return;
	}
	fs_restf(&env, "PUT", "{\"input_fields\": [\"x\", \"y\"]}", &r,
	    "/api/flows/%s/", id);
	if (FS_ASSERT_STATUS(&r, 200)) {
		FS_ASSERT_COMPONENT(r.json);
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "input_fields"),
		    "[\"x\", \"y\"]");
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "output_fields"),
		    "[\"b\"]");
		FS_ASSERT_INT_EQ(fs_json_int(r.json, "version"), 2);
		FS_ASSERT_STR_EQ(fs_json_str(r.json, "id"), id);
		FS_ASSERT_STR_EQ(fs_json_str(r.json, "name"), "upd_one");
		FS_ASSERT_STR_EQ(fs_json_str(r.json, "canvas_id"),
		    fs_json_str(before, "canvas_id"));
		FS_ASSERT_STR_EQ(fs_json_str(r.json, "created_at"),
		    fs_json_str(before, "created_at"));
		FS_CHECK(fs_time_parse(fs_json_str(before, "updated_at"),
		             &t0) == 0 &&
		        fs_time_parse(fs_json_str(r.json, "updated_at"),
		            &t1) == 0 &&
		        t1 > t0,
		    "updated_at did not move forward: %s -> %s",
		    fs_json_str(before, "updated_at"),
		    fs_json_str(r.json, "updated_at"));
		/* What PUT answers is what is stored. */
		if ((after = get_flow(id)) != NULL) {
			FS_ASSERT_JSON_SAME(after, r.json);
			json_decref(after);
		}
	}
	fs_http_resp_free(&r);

	/* An empty list clears; the other list keeps its value. */
	fs_restf(&env, "PUT", "{\"output_fields\": []}", &r, "/api/flows/%s/",
	    id);
	if (FS_ASSERT_STATUS(&r, 200)) {
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "output_fields"),
		    "[]");
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "input_fields"),
		    "[\"x\", \"y\"]");
		FS_ASSERT_INT_EQ(fs_json_int(r.json, "version"), 3);
	}
	fs_http_resp_free(&r);

	/* An empty object changes nothing but still counts as an update. */
	fs_restf(&env, "PUT", "{}", &r, "/api/flows/%s/", id);
	if (FS_ASSERT_STATUS(&r, 200)) {
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "input_fields"),
		    "[\"x\", \"y\"]");
		FS_ASSERT_INT_EQ(fs_json_int(r.json, "version"), 4);
	}
	fs_http_resp_free(&r);
	json_decref(before);
}

static void
test_update_not_found(void)
{
	fs_http_resp r;

	fs_rest(&env, "PUT",
	    "/api/flows/00000000-0000-4000-8000-000000000000/",
	    "{\"input_fields\": []}", &r);
	FS_ASSERT_ERROR(&r, 404, "{\"detail\": \"Not found.\"}");
	fs_http_resp_free(&r);
	fs_rest(&env, "PUT", "/api/flows/nope/", "{\"input_fields\": []}", &r);
	FS_ASSERT_ERROR(&r, 404, "{\"detail\": \"Not found.\"}");
	fs_http_resp_free(&r);
}

static void
test_update_read_only(void)
{
	static const char *ro_msg = "[\"This field is read-only.\"]";
	static const struct {
		const char *field, *value;
	} changed[] = {
	    {"name", "\"other_name\""},
	    {"group", "\"other_group\""},
	    {"id", "\"00000000-0000-4000-8000-000000000000\""},
	    {"canvas_id", "\"00000000-0000-4000-8000-000000000000\""},
	    {"version", "7"},
	    {"created_at", "\"2001-01-01T00:00:00.000000Z\""},
	    {"updated_at", "\"2001-01-01T00:00:00.000000Z\""},
	};
	json_t *cur, *body;
	fs_http_resp r;
	char id[64], req[512], want[256];
	char *dump;
	size_t i;

	if (FS_REST_CREATE(&env, "flows",
	        "{\"name\": \"ro_flow\", \"input_fields\": [\"k\"]}",
	        id) != 0) {
		return;
	}
	for (i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
		snprintf(req, sizeof(req),
		    "{\"%s\": %s, \"input_fields\": [\"changed\"]}",
		    changed[i].field, changed[i].value);
		fs_restf(&env, "PUT", req, &r, "/api/flows/%s/", id);
		snprintf(want, sizeof(want), "{\"%s\": %s}", changed[i].field,
		    ro_msg);
		FS_ASSERT_ERROR(&r, 400, want);
		fs_http_resp_free(&r);
	}
	/* A rejected update changed nothing. */
	if ((cur = get_flow(id)) == NULL) {
		return;
	}
	FS_ASSERT_INT_EQ(fs_json_int(cur, "version"), 1);
	FS_ASSERT_JSON_EQ(json_object_get(cur, "input_fields"), "[\"k\"]");

	/* Sending back exactly what GET returned is accepted (a client's
	 * read-modify-write), read-only fields included. */
	body = json_deep_copy(cur);
	json_object_set_new(body, "input_fields", json_pack("[s]", "new"));
	dump = fs_json_dump(body);
	fs_restf(&env, "PUT", dump, &r, "/api/flows/%s/", id);
	if (FS_ASSERT_STATUS(&r, 200)) {
		FS_ASSERT_JSON_EQ(json_object_get(r.json, "input_fields"),
		    "[\"new\"]");
		FS_ASSERT_INT_EQ(fs_json_int(r.json, "version"), 2);
		FS_ASSERT_STR_EQ(fs_json_str(r.json, "name"), "ro_flow");
	}
	fs_http_resp_free(&r);
	free(dump);
	json_decref(body);
	json_decref(cur);
}

static void
test_unknown_field(void)
{
	fs_http_resp r;
	char id[64];

	fs_rest(&env, "POST", "/api/flows/",
	    "{\"name\": \"unk_field\", \"colour\": \"red\"}", &r);
	FS_ASSERT_ERROR(&r, 400, "{\"colour\": [\"Unknown field.\"]}");
	fs_http_resp_free(&r);

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"unk_field\"}", id) !=
	    0) {
		return;
	}
	fs_restf(&env, "PUT", "{\"colour\": 1, \"input_fields\": []}", &r,
	    "/api/flows/%s/", id);
	FS_ASSERT_ERROR(&r, 400, "{\"colour\": [\"Unknown field.\"]}");
	fs_http_resp_free(&r);
}

static void
test_wrong_type(void)
{
	static const char *lists_msg = "[\"Expected a list of strings.\"]";
	/* (null itself: test_rest_conventions) */
	static const char *bad_lists[] = {"\"a\"", "[1, 2]", "{\"a\": 1}",
	    "[\"a\", null]", "7"};
	static const char *fields[] = {"input_fields", "output_fields",
	    "flows"};
	fs_http_resp r;
	char req[256], want[256], id[64];
	size_t i, f;

	for (f = 0; f < 3; f++) {
		for (i = 0; i < sizeof(bad_lists) / sizeof(bad_lists[0]);
		     i++) {
			snprintf(req, sizeof(req),
			    "{\"name\": \"wrong_type\", \"%s\": %s}",
			    fields[f], bad_lists[i]);
			snprintf(want, sizeof(want), "{\"%s\": %s}", fields[f],
			    lists_msg);
			fs_rest(&env, "POST", "/api/flows/", req, &r);
			FS_ASSERT_ERROR(&r, 400, want);
			fs_http_resp_free(&r);
		}
	}
	fs_rest(&env, "POST", "/api/flows/", "{\"name\": 5}", &r);
	FS_ASSERT_ERROR(&r, 400, "{\"name\": [\"Not a valid string.\"]}");
	fs_http_resp_free(&r);
	fs_rest(&env, "POST", "/api/flows/", "{\"name\": [\"x\"]}", &r);
	FS_ASSERT_ERROR(&r, 400, "{\"name\": [\"Not a valid string.\"]}");
	fs_http_resp_free(&r);
	fs_rest(&env, "POST", "/api/flows/",
	    "{\"name\": \"wrong_type\", \"group\": 5}", &r);
	FS_ASSERT_ERROR(&r, 400, "{\"group\": [\"Not a valid string.\"]}");
	fs_http_resp_free(&r);

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"wrong_type\"}", id) !=
	    0) {
		return;
	}
	fs_restf(&env, "PUT", "{\"output_fields\": \"x\"}", &r,
	    "/api/flows/%s/", id);
	FS_ASSERT_ERROR(&r, 400,
	    "{\"output_fields\": [\"Expected a list of "
	    "strings.\"]}");
	fs_http_resp_free(&r);
}

static void
test_invalid_name(void)
{
	static const char *bad[] = {"bad name", "bad-name", "bad!",
	    "caf\\u00e9", "a.b", " lead"};
	fs_http_resp r;
	char req[512], want[512], name[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(req, sizeof(req), "{\"name\": \"%s\"}", bad[i]);
		snprintf(want, sizeof(want), "{\"name\": [\"%s\"]}",
		    FLOW_NAME_MSG);
		fs_rest(&env, "POST", "/api/flows/", req, &r);
		FS_ASSERT_ERROR(&r, 400, want);
		fs_http_resp_free(&r);
	}
	fs_rest(&env, "POST", "/api/flows/", "{\"name\": \"\"}", &r);
	FS_ASSERT_ERROR(&r, 400,
	    "{\"name\": [\"This field may not be blank.\"]}");
	fs_http_resp_free(&r);

	fs_rest(&env, "POST", "/api/flows/", "{}", &r);
	FS_ASSERT_ERROR(&r, 400, "{\"name\": [\"This field is required.\"]}");
	fs_http_resp_free(&r);
	fs_rest(&env, "POST", "/api/flows/", "{\"input_fields\": [\"a\"]}",
	    &r);
	FS_ASSERT_ERROR(&r, 400, "{\"name\": [\"This field is required.\"]}");
	fs_http_resp_free(&r);

	/* 101 characters is one too many; 100 is fine. */
	memset(name, 'n', 101);
	name[101] = '\0';
	snprintf(req, sizeof(req), "{\"name\": \"%s\"}", name);
	fs_rest(&env, "POST", "/api/flows/", req, &r);
	FS_ASSERT_ERROR(&r, 400,
	    "{\"name\": [\"Ensure this field has no more "
	    "than 100 characters.\"]}");
	fs_http_resp_free(&r);
	name[100] = '\0';
	snprintf(req, sizeof(req), "{\"name\": \"%s\"}", name);
	fs_rest(&env, "POST", "/api/flows/", req, &r);
	FS_ASSERT_STATUS(&r, 201);
	fs_http_resp_free(&r);
}

static void
test_invalid_group_and_fields(void)
{
	fs_http_resp r;
	char *req;
	size_t i, n;

	/* Messages for these are not fixed by the contract: the field is. */
	static const char *bad[] = {
	    "{\"name\": \"bad_group\", \"group\": \"a b\"}",
	    "{\"name\": \"bad_group\", \"group\": \"\"}",
	    "{\"name\": \"bad_group\", \"group\": \"a/b\"}",
	};
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fs_rest(&env, "POST", "/api/flows/", bad[i], &r);
		if (FS_ASSERT_STATUS(&r, 400)) {
			FS_CHECK(json_is_array(
			             json_object_get(r.json, "group")) &&
			        json_object_size(r.json) == 1,
			    "%s: expected only a group error, got %s", bad[i],
			    r.body);
		}
		fs_http_resp_free(&r);
	}
	static const char *bad_fields[] = {
	    "{\"name\": \"bad_fields\", \"input_fields\": [\"a\", \"a\"]}",
	    "{\"name\": \"bad_fields\", \"input_fields\": [\"\"]}",
	};
	for (i = 0; i < sizeof(bad_fields) / sizeof(bad_fields[0]); i++) {
		fs_rest(&env, "POST", "/api/flows/", bad_fields[i], &r);
		if (FS_ASSERT_STATUS(&r, 400)) {
			FS_CHECK(json_is_array(json_object_get(r.json,
			             "input_fields")) &&
			        json_object_size(r.json) == 1,
			    "%s: expected only an input_fields error, got %s",
			    bad_fields[i], r.body);
		}
		fs_http_resp_free(&r);
	}
	/* An item of 256 characters is too long, 255 is fine; 1001 items
	 * are too many, 1000 fine. */
	req = malloc(16 * 1024);
	if (!FS_CHECK(req != NULL, "malloc")) {
		return;
	}
	n = (size_t) sprintf(req,
	    "{\"name\": \"long_item\", "
	    "\"output_fields\": [\"");
	memset(req + n, 'o', 256);
	strcpy(req + n + 256, "\"]}");
	fs_rest(&env, "POST", "/api/flows/", req, &r);
	if (FS_ASSERT_STATUS(&r, 400)) {
		FS_CHECK(json_object_get(r.json, "output_fields") != NULL,
		    "expected an output_fields error: %s", r.body);
	}
	fs_http_resp_free(&r);
	strcpy(req + n + 255, "\"]}");
	fs_rest(&env, "POST", "/api/flows/", req, &r);
	FS_ASSERT_STATUS(&r, 201);
	fs_http_resp_free(&r);

	for (int count = 1001; count >= 1000; count--) {
		n = (size_t) sprintf(req,
		    "{\"name\": \"many_items_%d\", "
		    "\"input_fields\": [",
		    count);
		for (i = 0; i < (size_t) count; i++) {
			n += (size_t) sprintf(req + n, "%s\"f%zu\"",
			    i ? "," : "", i);
		}
		strcpy(req + n, "]}");
		fs_rest(&env, "POST", "/api/flows/", req, &r);
		if (count == 1001) {
			if (FS_ASSERT_STATUS(&r, 400)) {
				FS_CHECK(json_object_get(r.json,
				             "input_fields") != NULL,
				    "expected an input_fields error: %.200s",
				    r.body);
			}
		} else if (FS_ASSERT_STATUS(&r, 201)) {
			FS_ASSERT_INT_EQ(json_array_size(
			                     json_object_get(r.json,
			                         "input_fields")),
			    1000);
		}
		fs_http_resp_free(&r);
	}
	free(req);
}

static void
test_duplicate_name(void)
{
	static const char *taken =
	    "{\"name\": [\"A flow with this name already exists in this "
	    "group.\"]}";
	fs_http_resp r;
	char id[64];

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"dup_name\"}", id) !=
	    0) {
		return;
	}
	fs_rest(&env, "POST", "/api/flows/", "{\"name\": \"dup_name\"}", &r);
	FS_ASSERT_ERROR(&r, 400, taken);
	fs_http_resp_free(&r);
	fs_rest(&env, "POST", "/api/flows/", "{\"name\": \"DUP_Name\"}", &r);
	FS_ASSERT_ERROR(&r, 400, taken);
	fs_http_resp_free(&r);
	fs_rest(&env, "POST", "/api/flows/",
	    "{\"name\": \"dup_name\", \"group\": \"default\"}", &r);
	FS_ASSERT_ERROR(&r, 400, taken);
	fs_http_resp_free(&r);
	/* The same name in another group is another flow. */
	fs_rest(&env, "POST", "/api/flows/",
	    "{\"name\": \"dup_name\", \"group\": \"dup_other\"}", &r);
	FS_ASSERT_STATUS(&r, 201);
	fs_http_resp_free(&r);
	ASSERT_LIST("?name__iexact=dup_name", "dup_name,dup_name");
	/* Once deleted, the name is free again. */
	fs_restf(&env, "DELETE", NULL, &r, "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 204);
	fs_http_resp_free(&r);
	fs_rest(&env, "POST", "/api/flows/", "{\"name\": \"Dup_Name\"}", &r);
	FS_ASSERT_STATUS(&r, 201);
	fs_http_resp_free(&r);
}

static void
test_several_errors_together(void)
{
	fs_http_resp r;

	fs_rest(&env, "POST", "/api/flows/",
	    "{\"input_fields\": \"x\", \"extra\": true}", &r);
	FS_ASSERT_ERROR(&r, 400,
	    "{\"name\": [\"This field is required.\"], "
	    "\"input_fields\": [\"Expected a list of strings.\"], "
	    "\"extra\": [\"Unknown field.\"]}");
	fs_http_resp_free(&r);
}

/* ---- delete -------------------------------------------------------------- */

static void
test_delete(void)
{
	fs_http_resp r;
	char id[64];

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"del_me\"}", id) != 0) {
		return;
	}
	fs_restf(&env, "DELETE", NULL, &r, "/api/flows/%s/", id);
	if (FS_ASSERT_STATUS(&r, 204)) {
		FS_ASSERT_INT_EQ(r.body_len, 0);
	}
	fs_http_resp_free(&r);
	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", id);
	FS_ASSERT_ERROR(&r, 404, "{\"detail\": \"Not found.\"}");
	fs_http_resp_free(&r);
	fs_restf(&env, "DELETE", NULL, &r, "/api/flows/%s/", id);
	FS_ASSERT_ERROR(&r, 404, "{\"detail\": \"Not found.\"}");
	fs_http_resp_free(&r);
	ASSERT_LIST("?name__iexact=del_me", "");
}

/* ---- protocol errors ----------------------------------------------------- */

static int
allow_has(const fs_http_resp *r, const char *method)
{
	const char *allow = fs_http_header_get(r, "Allow");
	char buf[256], *tok, *save = NULL;

	if (allow == NULL) {
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", allow);
	for (tok = strtok_r(buf, ", ", &save); tok != NULL;
	     tok = strtok_r(NULL, ", ", &save)) {
		if (strcmp(tok, method) == 0) {
			return 1;
		}
	}
	return 0;
}

static void
check_405(const char *method, const char *path, const char *must_allow,
    const char *must_not_allow, int line)
{
	fs_http_resp r;
	char want[128];
	char one[16], *tok, *save = NULL;
	char list[64];

	fs_rest(&env, method, path,
	    strcmp(method, "GET") && strcmp(method, "DELETE") ? "{}" : NULL,
	    &r);
	snprintf(want, sizeof(want),
	    "{\"detail\": \"Method \\\"%s\\\" not allowed.\"}", method);
	fs_check_error(&r, 405, want, __FILE__, line);
	snprintf(list, sizeof(list), "%s", must_allow);
	for (tok = strtok_r(list, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		snprintf(one, sizeof(one), "%s", tok);
		fs_check(allow_has(&r, one), __FILE__, line, "Allow",
		    "%s %s: Allow \"%s\" lacks %s", method, path,
		    fs_http_header_get(&r, "Allow")
		        ? fs_http_header_get(&r, "Allow")
		        : "(none)",
		    one);
	}
	fs_check(!allow_has(&r, must_not_allow), __FILE__, line, "Allow",
	    "%s %s: Allow \"%s\" lists %s", method, path,
	    fs_http_header_get(&r, "Allow") ? fs_http_header_get(&r, "Allow")
	                                    : "(none)",
	    must_not_allow);
	fs_http_resp_free(&r);
}

static void
test_method_not_allowed(void)
{
	char id[64], item[128];

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"m405\"}", id) != 0) {
		return;
	}
	snprintf(item, sizeof(item), "/api/flows/%s/", id);
	check_405("TRACE", item, "GET,PUT,PATCH,DELETE", "TRACE", __LINE__);
	check_405("POST", item, "GET,PUT,PATCH,DELETE", "POST", __LINE__);
	check_405("DELETE", "/api/flows/", "GET,POST", "DELETE", __LINE__);
	check_405("PUT", "/api/flows/", "GET,POST", "PUT", __LINE__);
	check_405("PATCH", "/api/flows/", "GET,POST", "PATCH", __LINE__);
	snprintf(item, sizeof(item), "/api/apps/%s/status/", id);
	check_405("POST", item, "GET", "POST", __LINE__);
}

static void
test_body_too_large(void)
{
	const size_t limit = 1024 * 1024;
	fs_http_resp r;
	char *body = malloc(limit + 64);
	size_t n;

	if (!FS_CHECK(body != NULL, "malloc")) {
		return;
	}
	/* Just over the limit: refused whatever it contains. */
	n = (size_t) sprintf(body, "{\"name\": \"");
	memset(body + n, 'x', limit + 1 - n - 2);
	memcpy(body + limit + 1 - 2, "\"}", 2);
	fs_http_once(env.gw_port, "POST", "/api/flows/", NULL, body, limit + 1,
	    &r);
	FS_ASSERT_ERROR(&r, 413, "{\"detail\": \"Request body too large.\"}");
	fs_http_resp_free(&r);
	/* Exactly at the limit: read and judged on its content. */
	memset(body + n, 'x', limit - n - 2);
	memcpy(body + limit - 2, "\"}", 2);
	fs_http_once(env.gw_port, "POST", "/api/flows/", NULL, body, limit,
	    &r);
	FS_ASSERT_ERROR(&r, 400,
	    "{\"name\": [\"Ensure this field has no more "
	    "than 100 characters.\"]}");
	fs_http_resp_free(&r);
	free(body);
	/* The gateway still serves afterwards. */
	fs_rest(&env, "GET", "/api/flows/?limit=1", NULL, &r);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);
}

static void
test_unsupported_media_type(void)
{
	static const char *text[] = {"Content-Type: text/plain", NULL};
	static const char *form[] =
	    {"Content-Type: application/x-www-form-urlencoded", NULL};
	static const char *json_utf8[] =
	    {"Content-Type: application/json; charset=utf-8", NULL};
	fs_http_resp r;

	fs_http_request(env.http, "POST", "/api/flows/", text,
	    "{\"name\": \"media_type\"}", (size_t) -1, &r);
	FS_ASSERT_ERROR(&r, 415,
	    "{\"detail\": \"Unsupported media type "
	    "\\\"text/plain\\\" in request.\"}");
	fs_http_resp_free(&r);
	fs_http_request(env.http, "POST", "/api/flows/", form, "name=x",
	    (size_t) -1, &r);
	FS_ASSERT_ERROR(&r, 415,
	    "{\"detail\": \"Unsupported media type "
	    "\\\"application/x-www-form-urlencoded\\\" in "
	    "request.\"}");
	fs_http_resp_free(&r);
	ASSERT_LIST("?name__iexact=media_type", "");
	fs_http_request(env.http, "POST", "/api/flows/", json_utf8,
	    "{\"name\": \"media_type\"}", (size_t) -1, &r);
	FS_ASSERT_STATUS(&r, 201);
	fs_http_resp_free(&r);
}

static void
check_parse_error(const char *method, const char *path, const char *body,
    int line)
{
	fs_http_resp r;
	const char *detail;

	fs_rest(&env, method, path, body, &r);
	if (fs_check_status(&r, 400, __FILE__, line)) {
		detail = fs_json_str(r.json, "detail");
		fs_check(detail != NULL &&
		        strncmp(detail, "JSON parse error - ", 19) == 0 &&
		        strlen(detail) > 19 && json_object_size(r.json) == 1,
		    __FILE__, line, "detail",
		    "%s %s with body '%s': expected {\"detail\": \"JSON parse "
		    "error - ...\"}, got %s",
		    method, path, body, r.body);
	}
	fs_http_resp_free(&r);
}

static void
test_malformed_json(void)
{
	char id[64], item[128];

	check_parse_error("POST", "/api/flows/", "{\"name\": ", __LINE__);
	check_parse_error("POST", "/api/flows/", "{name: \"x\"}", __LINE__);
	check_parse_error("POST", "/api/flows/", "{\"name\": \"a\"} trailing",
	    __LINE__);
	/* Valid JSON that is not an object. */
	check_parse_error("POST", "/api/flows/", "[{\"name\": \"x\"}]",
	    __LINE__);
	check_parse_error("POST", "/api/flows/", "\"just a string\"",
	    __LINE__);
	check_parse_error("POST", "/api/flows/", "42", __LINE__);
	/* An empty body is an empty object, as in DRF: no parse error. */
	{
		fs_http_resp r;
		fs_rest(&env, "POST", "/api/flows/", "", &r);
		FS_ASSERT_ERROR(&r, 400,
		    "{\"name\": [\"This field is required.\"]}");
		fs_http_resp_free(&r);
	}
	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"bad_json_put\"}",
	        id) != 0) {
		return;
	}
	snprintf(item, sizeof(item), "/api/flows/%s/", id);
	check_parse_error("PUT", item, "{\"input_fields\": [", __LINE__);
	check_parse_error("PUT", item, "[]", __LINE__);
}

static void
test_unknown_path(void)
{
	static const char *paths[] = {"/", "/api/", "/api/nothing/",
	    "/api/flows/00000000-0000-4000-8000-000000000000/extra/",
	    "/api/flowsx/", "/api/apps/x/y/z/"};
	fs_http_resp r;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		fs_rest(&env, "GET", paths[i], NULL, &r);
		FS_ASSERT_ERROR(&r, 404, "{\"detail\": \"Not found.\"}");
		fs_http_resp_free(&r);
	}
}

static void
test_request_id(void)
{
	static const char *with_id[] = {"X-Request-Id: test-rid-4711", NULL};
	fs_http_resp r1, r2;
	const char *a, *b;

	fs_http_request(env.http, "GET", "/api/flows/?limit=1", with_id, NULL,
	    0, &r1);
	FS_ASSERT_STATUS(&r1, 200);
	FS_ASSERT_STR_EQ(fs_http_header_get(&r1, "X-Request-Id"),
	    "test-rid-4711");
	fs_http_resp_free(&r1);
	/* Also on errors. */
	fs_http_request(env.http, "GET", "/api/nothing/", with_id, NULL, 0,
	    &r1);
	FS_ASSERT_STR_EQ(fs_http_header_get(&r1, "X-Request-Id"),
	    "test-rid-4711");
	fs_http_resp_free(&r1);

	fs_rest(&env, "GET", "/api/flows/?limit=1", NULL, &r1);
	fs_rest(&env, "GET", "/api/nothing/", NULL, &r2);
	a = fs_http_header_get(&r1, "X-Request-Id");
	b = fs_http_header_get(&r2, "X-Request-Id");
	if (FS_CHECK(a != NULL && *a != '\0' && b != NULL && *b != '\0',
	        "no generated X-Request-Id: %s / %s", a ? a : "(none)",
	        b ? b : "(none)")) {
		FS_CHECK(strcmp(a, b) != 0,
		    "two requests got the same generated id %s", a);
	}
	fs_http_resp_free(&r1);
	fs_http_resp_free(&r2);
}

static void
test_ops_endpoints(void)
{
	fs_http_resp r;
	const char *line;
	int counter_seen = 0;

	fs_rest(&env, "GET", "/healthz", NULL, &r);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);
	fs_rest(&env, "GET", "/readyz", NULL, &r);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);

	fs_rest(&env, "GET", "/metrics", NULL, &r);
	if (!FS_ASSERT_STATUS(&r, 200)) {
		fs_http_resp_free(&r);
		return;
	}
	{
		const char *ct = fs_http_header_get(&r, "Content-Type");
		FS_CHECK(ct && strncmp(ct, "text/plain", 10) == 0,
		    "/metrics Content-Type is %s", ct ? ct : "(none)");
	}
	/* A Prometheus sample whose name counts requests and whose value is
	 * positive by now (this suite has made many). */
	for (line = r.body; line != NULL && *line != '\0';) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t) (eol - line) : strlen(line);
		char buf[512];

		snprintf(buf, sizeof(buf), "%.*s", (int) len, line);
		if (buf[0] != '#' && strstr(buf, "request") != NULL &&
		    strstr(buf, "_total") != NULL) {
			const char *sp = strrchr(buf, ' ');
			if (sp != NULL && strtod(sp + 1, NULL) > 0) {
				counter_seen = 1;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	FS_CHECK(counter_seen,
	    "/metrics has no positive *request*_total sample: %.1000s",
	    r.body);
	/* The backend's own numbers, from its Stats RPC. */
	{
		const char *fl =
		    strstr(r.body, "\nbackend_components{kind=\"flow\"} ");
		FS_CHECK(fl != NULL &&
		        strtod(strchr(fl + 1, ' ') + 1, NULL) > 0,
		    "/metrics has no positive backend_components for flows: "
		    "%.2000s",
		    r.body);
		FS_CHECK(strstr(r.body,
		             "\nbackend_requests_total{method=\"CREATE\","
		             "code=\"OK\"} ") != NULL,
		    "/metrics has no backend_requests_total for CREATE/OK");
		FS_CHECK(strstr(r.body, "\nbackend_log_bytes ") != NULL,
		    "/metrics has no backend_log_bytes");
	}
	fs_http_resp_free(&r);
}

static void
test_status_endpoint(void)
{
	fs_http_resp r;
	char id[64], up[64];

	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"status_flow\"}", id) !=
	    0) {
		return;
	}
	fs_restf(&env, "GET", NULL, &r, "/api/apps/%s/status/", id);
	FS_ASSERT_ERROR(&r, 200, "{\"status\": \"not-deployed\"}");
	fs_http_resp_free(&r);
	snprintf(up, sizeof(up), "%s", id);
	fs_str_upper(up);
	fs_restf(&env, "GET", NULL, &r, "/api/apps/%s/status/", up);
	FS_ASSERT_ERROR(&r, 200, "{\"status\": \"not-deployed\"}");
	fs_http_resp_free(&r);
	fs_rest(&env, "GET",
	    "/api/apps/00000000-0000-4000-8000-000000000000/status/", NULL,
	    &r);
	FS_ASSERT_ERROR(&r, 404, "{\"detail\": \"Not found.\"}");
	fs_http_resp_free(&r);
	fs_rest(&env, "GET", "/api/apps/junk/status/", NULL, &r);
	FS_ASSERT_ERROR(&r, 404, "{\"detail\": \"Not found.\"}");
	fs_http_resp_free(&r);
}

static CU_TestInfo tests[] = {
    {"create: 201, Location, every field and its default",
        test_create_defaults},
    {"create with every field", test_create_all_fields},
    {"get returns what create returned", test_get},
    {"get by upper-case id", test_get_upper_case_id},
    {"get: unknown and non-uuid ids are 404", test_get_not_found},
    {"trailing slash is optional", test_trailing_slash_optional},
    {"list filters: name, group, both, any case, exact", test_list_filters},
    {"list without filter: all, in creation order",
        test_list_all_in_creation_order},
    {"list limit and offset, bad values 400", test_list_limit_offset},
    {"update: sent fields change, others keep, version+1", test_update},
    {"update of an unknown id is 404", test_update_not_found},
    {"update: read-only fields", test_update_read_only},
    {"unknown field", test_unknown_field},
    {"wrong types", test_wrong_type},
    {"invalid, blank, long and missing names", test_invalid_name},
    {"invalid group and field lists", test_invalid_group_and_fields},
    {"duplicate names, per group, any case", test_duplicate_name},
    {"several field errors in one body", test_several_errors_together},
    {"delete: 204 empty, then 404", test_delete},
    {"405 with Allow", test_method_not_allowed},
    {"413 over 1 MiB", test_body_too_large},
    {"415 for non-JSON bodies", test_unsupported_media_type},
    {"malformed JSON and non-object bodies", test_malformed_json},
    {"unknown paths are 404", test_unknown_path},
    {"X-Request-Id echoed or generated", test_request_id},
    {"/healthz, /readyz, /metrics", test_ops_endpoints},
    {"status endpoint", test_status_endpoint},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"rest_flows", suite_init, suite_fini, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
