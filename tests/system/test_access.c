/*
 * test_access.c - access control end to end (CONTRACT §5): flow-gateway
 * started with a tokens file in front of flow-service. Tokens, their
 * absence and their reload; what a token restricted to some groups sees,
 * may create and may reference; the in-use message it gets; the "*"
 * token that sees everything; the operations endpoints that stay open.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

static fs_test_env env;
static char tokens_path[PATH_MAX + 16];

/* Two tokens for two groups, one for both, one for every group. */
#define TOK_A "tok-a.4f1c9e7d2b8a6035"
#define TOK_B "tok-b.9d3e2a7c1f6b4058"
#define TOK_AB "tok-ab.1e5f7a9c3d2b8064"
#define TOK_ROOT "tok-root.7b2d4f6e8a1c3950"
#define TOK_C "tok-c.3a8e6d1f9b7c2045" /* added by the reload test */

#define TOKENS_FILE                                                           \
	"# flow-gateway tokens for test_access\n"                             \
	"\n" TOK_A " team_a\n" TOK_B "\tteam_b\n" TOK_AB                      \
	" team_a,team_b\n" TOK_ROOT " *\n"

static const char *const NOT_FOUND = "{\"detail\": \"Not found.\"}";
static const char *const NO_CREDENTIALS =
    "{\"detail\": \"Authentication credentials were not provided.\"}";
static const char *const BAD_TOKEN = "{\"detail\": \"Invalid token.\"}";
static const char *const FORBIDDEN =
    "{\"detail\": \"You do not have permission to perform this action.\"}";

/* ---- setup --------------------------------------------------------------- */

/* Writes the tokens file atomically (temp file, rename), as an operator's
 * deploy tool would, so a reload never reads half a file. */
static int
write_tokens(const char *text)
{
	char tmp[PATH_MAX + 32];
	FILE *f;
	int ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", tokens_path);
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	ok = fputs(text, f) >= 0;
	ok &= fclose(f) == 0;
	if (!ok || rename(tmp, tokens_path) != 0)
		return -1;
	return 0;
}

static int
suite_init(void)
{
	static const char *extra[] = {"--tokens", tokens_path, NULL};

	if (fs_env_init(&env, "access") != 0)
		return -1;
	snprintf(tokens_path, sizeof(tokens_path), "%s/tokens", env.dir);
	/* The operations endpoints answer without a token, so the usual
	 * readiness wait works. */
	env.gw_extra = extra;
	return write_tokens(TOKENS_FILE) != 0 ? -1
	                                      : fs_env_start_programs(&env);
}

static int
suite_fini(void)
{
	return fs_env_fini(&env);
}

/* ---- requests ------------------------------------------------------------ */

/* One request on c with "Authorization: <authz>" (none when NULL). */
static int
send_authz(fs_http_conn *c, const char *authz, const char *method,
    const char *path, const char *body, fs_http_resp *r)
{
	char h[256];
	const char *hdrs[2] = {NULL, NULL};

	if (authz != NULL) {
		snprintf(h, sizeof(h), "Authorization: %s", authz);
		hdrs[0] = h;
	}
	return fs_http_request(c, method, path, hdrs, body,
	    body ? (size_t) -1 : 0, r);
}

/* As token (NULL: no Authorization header). */
static int
req(const char *token, const char *method, const char *path, const char *body,
    fs_http_resp *r)
{
	char authz[160];

	if (token == NULL)
		return send_authz(env.http, NULL, method, path, body, r);
	snprintf(authz, sizeof(authz), "Bearer %s", token);
	return send_authz(env.http, authz, method, path, body, r);
}

/* Asserts the status, and the whole body when want_json is given. */
static int
expect(const char *token, const char *method, const char *path,
    const char *body, int status, const char *want_json, int line)
{
	fs_http_resp r;
	int ok;

	req(token, method, path, body, &r);
	ok = want_json ? fs_check_error(&r, status, want_json, __FILE__, line)
	               : fs_check_status(&r, status, __FILE__, line);
	fs_http_resp_free(&r);
	return ok;
}
#define EXPECT(tok, method, path, body, status, want)                         \
	expect((tok), (method), (path), (body), (status), (want), __LINE__)

/* Creates as token; asserts 201 and the group; copies the id. */
static int
create(const char *token, const char *coll, const char *body,
    const char *want_group, char id[64], int line)
{
	fs_http_resp r;
	char path[32];
	const char *got;
	int ok;

	id[0] = '\0';
	snprintf(path, sizeof(path), "/api/%s/", coll);
	req(token, "POST", path, body, &r);
	ok = fs_check_status(&r, 201, __FILE__, line) &&
	    fs_check((got = fs_json_str(r.json, "id")) != NULL &&
	            strlen(got) < 64,
	        __FILE__, line, "id", "no id in %s", r.body);
	if (ok) {
		strcpy(id, fs_json_str(r.json, "id"));
		fs_check_str(fs_json_str(r.json, "group"), want_group, "group",
		    __FILE__, line);
	}
	fs_http_resp_free(&r);
	return ok ? 0 : -1;
}
#define CREATE(tok, coll, body, group, id)                                    \
	create((tok), (coll), (body), (group), (id), __LINE__)

/* Whether the list at path (as token) holds id; -1 when the list failed. */
static int
listed(const char *token, const char *path, const char *id, int line)
{
	fs_http_resp r;
	int found = -1;

	req(token, "GET", path, NULL, &r);
	if (fs_check_status(&r, 200, __FILE__, line) &&
	    fs_check(json_is_array(r.json), __FILE__, line, "list",
	        "not an array: %s", r.body)) {
		size_t i;
		json_t *c;

		found = 0;
		json_array_foreach(r.json, i, c)
		{
			const char *cid = fs_json_str(c, "id");

			if (cid != NULL && strcmp(cid, id) == 0)
				found = 1;
		}
	}
	fs_http_resp_free(&r);
	return found;
}
#define LISTED(tok, path, id) listed((tok), (path), (id), __LINE__)

/* The component's version and status as the "*" token sees them. */
static void
expect_untouched(const char *coll, const char *id, int line)
{
	fs_http_resp r;
	char path[128];

	snprintf(path, sizeof(path), "/api/%s/%s/", coll, id);
	req(TOK_ROOT, "GET", path, NULL, &r);
	if (fs_check_status(&r, 200, __FILE__, line))
		fs_check_int(fs_json_int(r.json, "version"), 1, "version",
		    __FILE__, line);
	fs_http_resp_free(&r);
	snprintf(path, sizeof(path), "/api/apps/%s/status/", id);
	req(TOK_ROOT, "GET", path, NULL, &r);
	if (fs_check_status(&r, 200, __FILE__, line))
		fs_check_str(fs_json_str(r.json, "status"), "not-deployed",
		    "status", __FILE__, line);
	fs_http_resp_free(&r);
}

/* ---- authentication ------------------------------------------------------ */

struct endpoint {
	const char *method;
	const char *path; /* %s: an id */
	const char *body;
};

static const struct endpoint endpoints[] = {
    {"GET", "/api/flows/", NULL},
    {"GET", "/api/flows", NULL},
    {"POST", "/api/flows/", "{\"name\": \"never_made\"}"},
    {"GET", "/api/flows/%s/", NULL},
    {"PUT", "/api/flows/%s/", "{\"input_fields\": [\"x\"]}"},
    {"DELETE", "/api/flows/%s/", NULL},
    {"GET", "/api/apps/", NULL},
    {"POST", "/api/apps/", "{\"name\": \"never_made\"}"},
    {"GET", "/api/apps/%s/", NULL},
    {"PUT", "/api/apps/%s/", "{\"input_fields\": [\"x\"]}"},
    {"DELETE", "/api/apps/%s/", NULL},
    {"GET", "/api/apps/%s/status/", NULL},
    {"POST", "/api/apps/%s/deploy/", NULL},
    {"POST", "/api/apps/%s/stop/", NULL},
    {"POST", "/api/apps/%s/start/", NULL},
    /* Unknown paths and refused methods under /api/ say nothing either. */
    {"GET", "/api/nothing/here/", NULL},
    {"PATCH", "/api/flows/%s/", "{}"},
};

static void
test_unauthenticated(void)
{
	static const struct {
		const char *authz; /* NULL: no header */
		const char *want;
	} cases[] = {
	    {NULL, NULL}, /* NO_CREDENTIALS */
	    {"Basic dXNlcjpwYXNz", NULL},
	    {"Bearer", "bad"},
	    {"Bearer not-a-token-we-know", "bad"},
	    {"Bearer " TOK_A "x", "bad"},
	    {"Bearer " TOK_A " " TOK_A, "bad"},
	};
	char flow[64], app[64];

	if (CREATE(TOK_A, "flows", "{\"name\": \"auth_flow\"}", "team_a",
	        flow) != 0 ||
	    CREATE(TOK_A, "apps", "{\"name\": \"auth_app\"}", "team_a", app) !=
	        0)
		return;
	for (size_t e = 0; e < sizeof(endpoints) / sizeof(endpoints[0]); e++) {
		char path[160];

		snprintf(path, sizeof(path), endpoints[e].path,
		    strstr(endpoints[e].path, "/apps/") ? app : flow);
		for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
			fs_http_resp r;
			const char *www;

			send_authz(env.http, cases[k].authz,
			    endpoints[e].method, path, endpoints[e].body, &r);
			if (!FS_ASSERT_ERROR(&r, 401,
			        cases[k].want ? BAD_TOKEN : NO_CREDENTIALS))
				fprintf(stderr, "  (Authorization: %s)\n",
				    cases[k].authz ? cases[k].authz
				                   : "(none)");
			www = fs_http_header_get(&r, "WWW-Authenticate");
			FS_CHECK(www != NULL && strcmp(www, "Bearer") == 0,
			    "%s %s: WWW-Authenticate %s", endpoints[e].method,
			    path, www ? www : "(none)");
			FS_CHECK(fs_http_header_get(&r, "X-Request-Id") !=
			        NULL,
			    "401 without X-Request-Id");
			fs_http_resp_free(&r);
		}
	}
	/* None of it happened. */
	expect_untouched("flows", flow, __LINE__);
	expect_untouched("apps", app, __LINE__);
	EXPECT(TOK_ROOT, "GET", "/api/flows/?name__iexact=never_made", NULL,
	    200, "[]");
	EXPECT(TOK_ROOT, "GET", "/api/apps/?name__iexact=never_made", NULL,
	    200, "[]");
	/* The token is the credential, whatever the scheme's case. */
	{
		fs_http_resp r;
		char path[128];

		snprintf(path, sizeof(path), "/api/flows/%s/", flow);
		send_authz(env.http, "bearer  " TOK_A, "GET", path, NULL, &r);
		FS_ASSERT_STATUS(&r, 200);
		fs_http_resp_free(&r);
	}
}

static void
test_operations_open(void)
{
	static const char *const paths[] = {"/healthz", "/readyz", "/metrics"};

	for (size_t i = 0; i < 3; i++) {
		EXPECT(NULL, "GET", paths[i], NULL, 200, NULL);
		/* A wrong token does not matter where none is needed. */
		EXPECT("wrong-token-123", "GET", paths[i], NULL, 200, NULL);
	}
	/* Unknown paths outside /api/ stay 404. */
	EXPECT(NULL, "GET", "/nothing", NULL, 404, NOT_FOUND);
}

/* ---- groups -------------------------------------------------------------- */

static void
test_other_groups_are_absent(void)
{
	char bflow[64], bapp[64], aflow[64];
	char path[160];

	if (CREATE(TOK_B, "flows", "{\"name\": \"iso_flow\"}", "team_b",
	        bflow) != 0 ||
	    CREATE(TOK_B, "apps", "{\"name\": \"iso_app\"}", "team_b", bapp) !=
	        0 ||
	    CREATE(TOK_A, "flows", "{\"name\": \"iso_flow\"}", "team_a",
	        aflow) != 0)
		return;

	/* Every item endpoint: 404 as if absent. */
	for (int k = 0; k < 2; k++) {
		const char *coll = k ? "apps" : "flows";
		const char *id = k ? bapp : bflow;

		snprintf(path, sizeof(path), "/api/%s/%s/", coll, id);
		EXPECT(TOK_A, "GET", path, NULL, 404, NOT_FOUND);
		EXPECT(TOK_A, "PUT", path, "{\"input_fields\": [\"x\"]}", 404,
		    NOT_FOUND);
		EXPECT(TOK_A, "DELETE", path, NULL, 404, NOT_FOUND);
		snprintf(path, sizeof(path), "/api/apps/%s/status/", id);
		EXPECT(TOK_A, "GET", path, NULL, 404, NOT_FOUND);
		snprintf(path, sizeof(path), "/api/apps/%s/deploy/", id);
		EXPECT(TOK_A, "POST", path, NULL, 404, NOT_FOUND);
		snprintf(path, sizeof(path), "/api/apps/%s/stop/", id);
		EXPECT(TOK_A, "POST", path, NULL, 404, NOT_FOUND);
		snprintf(path, sizeof(path), "/api/apps/%s/start/", id);
		EXPECT(TOK_A, "POST", path, NULL, 404, NOT_FOUND);
		/* ... and none of it reached the component. */
		expect_untouched(coll, id, __LINE__);
	}

	/* Lists leave them out, filtered or not. */
	FS_ASSERT_INT_EQ(LISTED(TOK_A, "/api/flows/", bflow), 0);
	FS_ASSERT_INT_EQ(LISTED(TOK_A, "/api/flows/", aflow), 1);
	FS_ASSERT_INT_EQ(LISTED(TOK_A, "/api/flows/?name__iexact=iso_flow",
	                     bflow),
	    0);
	FS_ASSERT_INT_EQ(LISTED(TOK_A, "/api/flows/?name__iexact=ISO_FLOW",
	                     aflow),
	    1);
	EXPECT(TOK_A, "GET", "/api/flows/?group__iexact=team_b", NULL, 200,
	    "[]");
	EXPECT(TOK_A, "GET", "/api/apps/?name__iexact=iso_app", NULL, 200,
	    "[]");
	FS_ASSERT_INT_EQ(LISTED(TOK_A, "/api/apps/", bapp), 0);
	/* limit/offset page over what the caller sees. */
	{
		fs_http_resp r;

		req(TOK_A, "GET", "/api/flows/?name__iexact=iso_flow&limit=1",
		    NULL, &r);
		if (FS_ASSERT_STATUS(&r, 200) &&
		    FS_CHECK(json_array_size(r.json) == 1, "%s", r.body))
			FS_ASSERT_STR_EQ(fs_json_str(json_array_get(r.json, 0),
			                     "id"),
			    aflow);
		fs_http_resp_free(&r);
	}

	/* The owner and the token for both groups see them. */
	snprintf(path, sizeof(path), "/api/flows/%s/", bflow);
	EXPECT(TOK_B, "GET", path, NULL, 200, NULL);
	EXPECT(TOK_AB, "GET", path, NULL, 200, NULL);
	FS_ASSERT_INT_EQ(LISTED(TOK_AB, "/api/flows/", bflow), 1);
	FS_ASSERT_INT_EQ(LISTED(TOK_AB, "/api/flows/", aflow), 1);
	FS_ASSERT_INT_EQ(LISTED(TOK_B, "/api/flows/", aflow), 0);
	snprintf(path, sizeof(path), "/api/apps/%s/", bapp);
	EXPECT(TOK_B, "GET", path, NULL, 200, NULL);
	snprintf(path, sizeof(path), "/api/apps/%s/deploy/", bapp);
	EXPECT(TOK_B, "POST", path, NULL, 200, "{\"status\": \"started\"}");
}

static void
test_create_groups(void)
{
	char id[64];

	/* Not granted: 403, and nothing created. */
	EXPECT(TOK_A, "POST", "/api/flows/",
	    "{\"name\": \"cg_denied\", \"group\": \"team_b\"}", 403,
	    FORBIDDEN);
	EXPECT(TOK_A, "POST", "/api/apps/",
	    "{\"name\": \"cg_denied\", \"group\": \"default\"}", 403,
	    FORBIDDEN);
	EXPECT(TOK_ROOT, "GET", "/api/flows/?name__iexact=cg_denied", NULL,
	    200, "[]");
	EXPECT(TOK_ROOT, "GET", "/api/apps/?name__iexact=cg_denied", NULL, 200,
	    "[]");

	/* One group granted: a create without group lands there. */
	CREATE(TOK_A, "flows", "{\"name\": \"cg_one\"}", "team_a", id);
	CREATE(TOK_B, "apps", "{\"name\": \"cg_one\"}", "team_b", id);
	/* Naming the granted group works too. */
	CREATE(TOK_A, "apps",
	    "{\"name\": \"cg_named\", \"group\": \"team_a\"}", "team_a", id);
	/* Two groups granted: no default to guess; "default" is not one of
	 * them. Either group by name works. */
	EXPECT(TOK_AB, "POST", "/api/flows/", "{\"name\": \"cg_two\"}", 403,
	    FORBIDDEN);
	CREATE(TOK_AB, "flows",
	    "{\"name\": \"cg_two\", \"group\": \"team_b\"}", "team_b", id);
	/* Every group: the ordinary default. */
	CREATE(TOK_ROOT, "flows", "{\"name\": \"cg_root\"}", "default", id);
	CREATE(TOK_ROOT, "flows",
	    "{\"name\": \"cg_root\", \"group\": \"team_b\"}", "team_b", id);
}

static void
test_references_to_invisible_flows(void)
{
	char bflow[64], aflow[64], aapp[64], body[256], want[256], path[160];
	fs_http_resp r;

	if (CREATE(TOK_B, "flows", "{\"name\": \"ref_hidden\"}", "team_b",
	        bflow) != 0 ||
	    CREATE(TOK_A, "flows", "{\"name\": \"ref_seen\"}", "team_a",
	        aflow) != 0 ||
	    CREATE(TOK_A, "apps", "{\"name\": \"ref_app\"}", "team_a", aapp) !=
	        0)
		return;
	snprintf(want, sizeof(want),
	    "{\"flows\": [\"Invalid pk \\\"%s\\\" - object does not "
	    "exist.\"]}",
	    bflow);

	/* On create ... */
	snprintf(body, sizeof(body),
	    "{\"name\": \"ref_new\", \"flows\": [\"%s\"]}", bflow);
	EXPECT(TOK_A, "POST", "/api/apps/", body, 400, want);
	EXPECT(TOK_A, "POST", "/api/flows/", body, 400, want);
	/* ... and on update, also next to a visible one. */
	snprintf(body, sizeof(body), "{\"flows\": [\"%s\", \"%s\"]}", aflow,
	    bflow);
	snprintf(path, sizeof(path), "/api/apps/%s/", aapp);
	EXPECT(TOK_A, "PUT", path, body, 400, want);
	EXPECT(TOK_ROOT, "GET", "/api/apps/?name__iexact=ref_new", NULL, 200,
	    "[]");

	/* A visible reference works. */
	snprintf(body, sizeof(body), "{\"flows\": [\"%s\"]}", aflow);
	req(TOK_A, "PUT", path, body, &r);
	if (FS_ASSERT_STATUS(&r, 200))
		FS_ASSERT_INT_EQ(fs_json_int(r.json, "version"), 2);
	fs_http_resp_free(&r);
	/* The token for both groups may use both. */
	snprintf(body, sizeof(body),
	    "{\"name\": \"ref_both\", \"group\": \"team_a\", \"flows\": "
	    "[\"%s\", \"%s\"]}",
	    aflow, bflow);
	EXPECT(TOK_AB, "POST", "/api/apps/", body, 201, NULL);
}

static void
test_in_use_names_visible_users(void)
{
	char f[64], g[64], id[64], body[256], path[160];

	/* f in team_a, used by two team_a components and two team_b ones. */
	if (CREATE(TOK_A, "flows", "{\"name\": \"used_a\"}", "team_a", f) != 0)
		return;
	snprintf(body, sizeof(body),
	    "{\"name\": \"zeta_app\", \"flows\": [\"%s\"]}", f);
	CREATE(TOK_A, "apps", body, "team_a", id);
	snprintf(body, sizeof(body),
	    "{\"name\": \"alpha_flow\", \"flows\": [\"%s\"]}", f);
	CREATE(TOK_A, "flows", body, "team_a", id);
	snprintf(body, sizeof(body),
	    "{\"name\": \"b_user_one\", \"group\": \"team_b\", \"flows\": "
	    "[\"%s\"]}",
	    f);
	CREATE(TOK_ROOT, "apps", body, "team_b", id);
	snprintf(body, sizeof(body),
	    "{\"name\": \"b_user_two\", \"group\": \"team_b\", \"flows\": "
	    "[\"%s\"]}",
	    f);
	CREATE(TOK_ROOT, "flows", body, "team_b", id);

	snprintf(path, sizeof(path), "/api/flows/%s/", f);
	EXPECT(TOK_A, "DELETE", path, NULL, 409,
	    "{\"detail\": \"Cannot delete the Flow, because it is used by "
	    "these apps/flows: alpha_flow,zeta_app and 2 others\"}");
	EXPECT(TOK_AB, "DELETE", path, NULL, 409,
	    "{\"detail\": \"Cannot delete the Flow, because it is used by "
	    "these apps/flows: alpha_flow,b_user_one,b_user_two,zeta_app\"}");
	EXPECT(TOK_ROOT, "DELETE", path, NULL, 409,
	    "{\"detail\": \"Cannot delete the Flow, because it is used by "
	    "these apps/flows: alpha_flow,b_user_one,b_user_two,zeta_app\"}");
	/* team_b cannot even see it. */
	EXPECT(TOK_B, "DELETE", path, NULL, 404, NOT_FOUND);
	EXPECT(TOK_ROOT, "GET", path, NULL, 200, NULL);

	/* g in team_b, used only from team_a: its owner sees no user. */
	if (CREATE(TOK_B, "flows", "{\"name\": \"used_b\"}", "team_b", g) != 0)
		return;
	snprintf(body, sizeof(body),
	    "{\"name\": \"hidden_user\", \"group\": \"team_a\", \"flows\": "
	    "[\"%s\"]}",
	    g);
	CREATE(TOK_ROOT, "apps", body, "team_a", id);
	snprintf(path, sizeof(path), "/api/flows/%s/", g);
	EXPECT(TOK_B, "DELETE", path, NULL, 409,
	    "{\"detail\": \"Cannot delete the Flow, because it is used by "
	    "these apps/flows: 1 other\"}");
	EXPECT(TOK_B, "GET", path, NULL, 200, NULL);
}

static void
test_every_group_token(void)
{
	char a[64], b[64], path[160];

	if (CREATE(TOK_A, "flows", "{\"name\": \"all_a\"}", "team_a", a) !=
	        0 ||
	    CREATE(TOK_B, "flows", "{\"name\": \"all_b\"}", "team_b", b) != 0)
		return;
	FS_ASSERT_INT_EQ(LISTED(TOK_ROOT, "/api/flows/", a), 1);
	FS_ASSERT_INT_EQ(LISTED(TOK_ROOT, "/api/flows/", b), 1);
	FS_ASSERT_INT_EQ(LISTED(TOK_ROOT, "/api/flows/?group__iexact=TEAM_B",
	                     b),
	    1);
	for (int k = 0; k < 2; k++) {
		const char *id = k ? b : a;

		snprintf(path, sizeof(path), "/api/flows/%s/", id);
		EXPECT(TOK_ROOT, "GET", path, NULL, 200, NULL);
		EXPECT(TOK_ROOT, "PUT", path, "{\"output_fields\": [\"o\"]}",
		    200, NULL);
		snprintf(path, sizeof(path), "/api/apps/%s/deploy/", id);
		EXPECT(TOK_ROOT, "POST", path, NULL, 200,
		    "{\"status\": \"started\"}");
		snprintf(path, sizeof(path), "/api/apps/%s/stop/", id);
		EXPECT(TOK_ROOT, "POST", path, NULL, 200,
		    "{\"status\": \"stopped\"}");
		snprintf(path, sizeof(path), "/api/apps/%s/start/", id);
		EXPECT(TOK_ROOT, "POST", path, NULL, 200,
		    "{\"status\": \"started\"}");
		snprintf(path, sizeof(path), "/api/apps/%s/status/", id);
		EXPECT(TOK_ROOT, "GET", path, NULL, 200,
		    "{\"status\": \"started\"}");
		snprintf(path, sizeof(path), "/api/flows/%s/", id);
		EXPECT(TOK_ROOT, "DELETE", path, NULL, 204, NULL);
	}
}

/* ---- reload -------------------------------------------------------------- */

/* Polls GET /api/flows/ as token until it answers status (bounded).
 * Returns the last status seen. */
static int
poll_status(const char *token, int status)
{
	int64_t until = fs_test_now_ms() + 10000;
	int got = 0;

	while (fs_test_now_ms() < until) {
		fs_http_resp r;

		req(token, "GET", "/api/flows/?limit=1", NULL, &r);
		got = r.status;
		fs_http_resp_free(&r);
		if (got == status)
			break;
		fs_test_poll_pause(20);
	}
	return got;
}

struct load {
	int port;
	atomic_bool stop;
	atomic_long ok, failed;
	atomic_int last_bad;
};

/* A client that keeps calling with TOK_A (in every file version), each
 * request on the same keep-alive connection. */
static void *
load_loop(void *arg)
{
	struct load *l = arg;
	fs_http_conn *c;

	if (fs_http_connect(&c, l->port, 0) != 0) {
		atomic_fetch_add(&l->failed, 1);
		return NULL;
	}
	while (!atomic_load(&l->stop)) {
		fs_http_resp r;

		send_authz(c, "Bearer " TOK_A, "GET", "/api/flows/?limit=5",
		    NULL, &r);
		if (r.status == 200) {
			atomic_fetch_add(&l->ok, 1);
		} else {
			atomic_fetch_add(&l->failed, 1);
			atomic_store(&l->last_bad, r.status);
		}
		fs_http_resp_free(&r);
	}
	fs_http_close(c);
	return NULL;
}

static void
test_reload(void)
{
	struct load l;
	pthread_t th;
	int started, reloads;

	/* Added and removed tokens take effect after SIGHUP. */
	if (!FS_CHECK(write_tokens("# C in, B out\n" TOK_A " team_a\n" TOK_AB
	                           " team_a,team_b\n" TOK_ROOT " *\n" TOK_C
	                           " team_c\n") == 0,
	        "write tokens: %s", strerror(errno)))
		return;
	EXPECT(TOK_C, "GET", "/api/flows/", NULL, 401, BAD_TOKEN);
	if (!FS_CHECK(kill(env.gateway.pid, SIGHUP) == 0, "kill: %s",
	        strerror(errno)))
		return;
	FS_ASSERT_INT_EQ(poll_status(TOK_C, 200), 200);
	/* One table: once C works, B is gone. */
	EXPECT(TOK_B, "GET", "/api/flows/", NULL, 401, BAD_TOKEN);
	EXPECT(TOK_A, "GET", "/api/flows/", NULL, 200, NULL);
	{
		char id[64];

		CREATE(TOK_C, "flows", "{\"name\": \"reload_c\"}", "team_c",
		    id);
		FS_ASSERT_INT_EQ(LISTED(TOK_A, "/api/flows/", id), 0);
	}

	/* A bad file keeps the tokens loaded before, and says why. */
#define KEEPING "keeping the tokens loaded before"
	if (!FS_CHECK(write_tokens(TOK_A " team_a\nbroken line here\n") == 0,
	        "write tokens"))
		return;
	reloads = fs_file_count(env.gateway.log_path, KEEPING);
	FS_CHECK(kill(env.gateway.pid, SIGHUP) == 0, "kill");
	{
		int64_t until = fs_test_now_ms() + 10000;

		while (
		    fs_file_count(env.gateway.log_path, KEEPING) == reloads &&
		    fs_test_now_ms() < until)
			fs_test_poll_pause(20);
	}
	FS_CHECK(fs_file_count(env.gateway.log_path,
	             "line 2: more than two fields"),
	    "the log does not say which line is wrong");
	EXPECT(TOK_C, "GET", "/api/flows/", NULL, 200, NULL);
	EXPECT(TOK_ROOT, "GET", "/api/flows/", NULL, 200, NULL);
	EXPECT(TOK_B, "GET", "/api/flows/", NULL, 401, BAD_TOKEN);

	/* Requests keep being served while the file is reloaded again and
	 * again. */
	memset(&l, 0, sizeof(l));
	l.port = env.gw_port;
	atomic_init(&l.stop, false);
	atomic_init(&l.ok, 0);
	atomic_init(&l.failed, 0);
	atomic_init(&l.last_bad, 0);
	started = pthread_create(&th, NULL, load_loop, &l) == 0;
	FS_CHECK(started, "pthread_create");
	for (int i = 0; started && i < 20; i++) {
		char text[512];
		int64_t until = fs_test_now_ms() + 2000;
		long before = atomic_load(&l.ok);

		snprintf(text, sizeof(text),
		    "# generation %d\n" TOK_A " team_a\n" TOK_ROOT " *\n"
		    "tok-gen-%d-0123456789abcdef team_a\n",
		    i, i);
		if (write_tokens(text) != 0 ||
		    kill(env.gateway.pid, SIGHUP) != 0)
			break;
		/* Let a few requests through between reloads (bounded). */
		while (atomic_load(&l.ok) < before + 3 &&
		    fs_test_now_ms() < until)
			fs_test_poll_pause(2);
	}
	{
		char tok[64];

		snprintf(tok, sizeof(tok), "tok-gen-%d-0123456789abcdef", 19);
		FS_ASSERT_INT_EQ(poll_status(tok, 200), 200);
	}
	atomic_store(&l.stop, true);
	if (started)
		pthread_join(th, NULL);
	FS_CHECK(atomic_load(&l.ok) >= 20, "only %ld requests served",
	    atomic_load(&l.ok));
	FS_CHECK(atomic_load(&l.failed) == 0,
	    "%ld requests failed during reloads (last status %d)",
	    atomic_load(&l.failed), atomic_load(&l.last_bad));
	/* C was dropped by the last generations. */
	EXPECT(TOK_C, "GET", "/api/flows/", NULL, 401, BAD_TOKEN);
	FS_CHECK(fs_test_proc_alive(&env.gateway), "the gateway died");
}

/* ---- refusals to start --------------------------------------------------- */

static void
refuse(const char *text, const char *want, int line)
{
	char path[PATH_MAX + 32], port[16];
	char *argv[] = {(char *) FLOW_GATEWAY_BIN, (char *) "--port", port,
	    (char *) "--backend", env.backend_url, (char *) "--tokens", path,
	    NULL};
	fs_test_run_result res;
	FILE *f;

	snprintf(path, sizeof(path), "%s/refused-tokens", env.dir);
	snprintf(port, sizeof(port), "%d", fs_test_free_port());
	if (text != NULL) {
		if ((f = fopen(path, "w")) == NULL)
			return;
		fputs(text, f);
		fclose(f);
	} else {
		unlink(path);
	}
	if (fs_test_run(&res, argv, NULL, NULL, 10000) != 0) {
		fs_check(0, __FILE__, line, "fs_test_run", "could not run");
		return;
	}
	fs_check_int(res.exit_code, 1, "exit code", __FILE__, line);
	fs_check(strstr(res.err, want) != NULL &&
	        strchr(res.err, '\n') == res.err + res.err_len - 1,
	    __FILE__, line, "stderr", "expected one line with \"%s\", got: %s",
	    want, res.err);
	fs_check(strstr(res.err, "s3cr3t") == NULL, __FILE__, line, "stderr",
	    "the reason quotes a token: %s", res.err);
	fs_test_run_result_free(&res);
}

static void
test_refuses_bad_files(void)
{
	refuse("s3cr3t-token-0123456 team_a\n\ns3cr3t-token-9876543\n",
	    "line 3: a token without groups", __LINE__);
	refuse("ok-token-0123456789 team_a,\n", "line 1: an empty group name",
	    __LINE__);
	refuse("ok-token-0123456789 a,*\n",
	    "line 1: \"*\" (every group) must "
	    "stand alone",
	    __LINE__);
	refuse("s3cr3t-0123456789 a\n# again\ns3cr3t-0123456789 b\n",
	    "line 3: the same token as line 1", __LINE__);
	refuse(NULL, "cannot open: No such file or directory", __LINE__);
}

static CU_TestInfo tests[] = {
    {"401 on every /api/ endpoint, both kinds", test_unauthenticated},
    {"health, readiness and metrics stay open", test_operations_open},
    {"other groups' components are absent", test_other_groups_are_absent},
    {"create: 403 outside the grant, default group", test_create_groups},
    {"references name visible flows only", test_references_to_invisible_flows},
    {"409 names visible users and counts the others",
        test_in_use_names_visible_users},
    {"the * token sees everything", test_every_group_token},
    {"SIGHUP reloads the tokens file", test_reload},
    {"malformed tokens files refuse to start", test_refuses_bad_files},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"access", suite_init, suite_fini, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
