/*
 * test_watch_sse_access.c - GET /api/watch/ and what a caller may see
 * (CONTRACT §5, §7), against the real programs: a token of some groups
 * gets only their components' events, with the references to flows of
 * other groups left out, and no event of a hidden component (its delete
 * included), both live (the gateway's ring, shared by every token) and
 * catching up (the backend's Watch as the caller); 401 without a token.
 * And 410 with the contract's body for a revision past the backend's
 * --watch-history.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static fs_test_env env;
static char tokens_path[PATH_MAX + 16];

#define TOK_A "tok-a.5e1c9e7d2b8a6035"
#define TOK_ROOT "tok-root.8b2d4f6e8a1c3950"

/* A ring of 2 events: a stream from a few changes back catches up. */
static int
suite_init(void)
{
	static const char *extra[] = {"--tokens", tokens_path, "--watch-ring",
	    "2", NULL};
	FILE *f;

	if (fs_env_init(&env, "watch_sse_access") != 0)
		return -1;
	snprintf(tokens_path, sizeof(tokens_path), "%s/tokens", env.dir);
	if ((f = fopen(tokens_path, "w")) == NULL)
		return -1;
	fputs(TOK_A " team_a\n" TOK_ROOT " *\n", f);
	if (fclose(f) != 0)
		return -1;
	env.gw_extra = extra;
	return fs_env_start_programs(&env);
}

static int
suite_fini(void)
{
	return fs_env_fini(&env);
}

/* The changes of one stream: "type name [flows...]" lines. */
static char *
read_changes(fs_sse *s, int n)
{
	size_t cap = 4096, len = 0;
	char *out = calloc(1, cap);

	for (int i = 0; i < n && out != NULL; i++) {
		fs_sse_event ev;
		json_t *c;

		if (!FS_CHECK(fs_sse_next_change(s, &ev, 10000) == 1,
		        "change %d of %d", i + 1, n))
			break;
		c = json_object_get(ev.data, "component");
		len += (size_t) snprintf(out + len, cap - len, "%s %s [",
		    ev.event, fs_json_str(c, "name"));
		json_t *fl = json_object_get(c, "flows");
		for (size_t k = 0; k < json_array_size(fl); k++)
			len += (size_t) snprintf(out + len, cap - len, "%s%s",
			    k ? " " : "",
			    json_string_value(json_array_get(fl, k)));
		len += (size_t) snprintf(out + len, cap - len, "]\n");
		fs_sse_event_free(&ev);
	}
	/* And nothing else. */
	fs_sse_event ev;
	if (out != NULL &&
	    !FS_CHECK(fs_sse_next_change(s, &ev, 500) == 0, "more events"))
		fs_sse_event_free(&ev);
	return out;
}

static void
test_token_scoping(void)
{
	static const char *const root[] = {"Authorization: Bearer " TOK_ROOT,
	    NULL};
	static const char *const team_a[] = {"Authorization: Bearer " TOK_A,
	    NULL};
	char fa[FS_UUID_STRLEN + 1], fb[FS_UUID_STRLEN + 1];
	char app[FS_UUID_STRLEN + 1], hidden[FS_UUID_STRLEN + 1];
	char path[96], want[1024];
	const char *fl[2];
	uint64_t r0 = fs_tw_revision(env.client);
	fs_sse live, late, all;
	int n_live =
	    fs_sse_open(&live, env.gw_port, "/api/watch/", team_a, 0, 10000);

	if (!FS_CHECK(n_live == 0 && live.status == 200, "live stream"))
		return;
	/* A flow of each group, an app of team_a using both, a flow of
	 * team_b changed and deleted. */
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "acc_fa",
	    "team_a", NULL, 0, NULL, fa, NULL));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "acc_fb",
	    "team_b", NULL, 0, NULL, fb, NULL));
	fl[0] = fa;
	fl[1] = fb;
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__APP, "acc_app",
	    "team_a", fl, 2, NULL, app, NULL));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "acc_hid",
	    "team_b", NULL, 0, NULL, hidden, NULL));
	FS_ASSERT_OK(fs_tw_update(env.client, hidden, "x", NULL));
	FS_ASSERT_OK(
	    fs_tw_change(env.client, FLOWSVC__METHOD__DEPLOY, app, NULL));
	FS_ASSERT_OK(
	    fs_tw_change(env.client, FLOWSVC__METHOD__DELETE, hidden, NULL));
	FS_ASSERT_OK(fs_tw_update(env.client, app, "y", NULL));
	snprintf(want, sizeof(want),
	    "added acc_fa []\nadded acc_app [%s]\nstatus acc_app [%s]\n"
	    "modified acc_app [%s]\n",
	    fa, fa, fa);

	/* Live: from the hub's ring, scoped by the gateway. */
	char *got = read_changes(&live, 4);
	FS_ASSERT_STR_EQ(got, want);
	free(got);
	fs_sse_close(&live);
	/* Catching up (the ring holds 2 events): the backend's Watch as
	 * the caller. The same. */
	snprintf(path, sizeof(path), "/api/watch/?since=%llu",
	    (unsigned long long) r0);
	if (FS_CHECK(fs_sse_open(&late, env.gw_port, path, team_a, 0, 10000) ==
	                0 &&
	            late.status == 200,
	        "late stream")) {
		got = read_changes(&late, 4);
		FS_ASSERT_STR_EQ(got, want);
		free(got);
	}
	fs_sse_close(&late);
	/* Every group: all eight, the app with both flows. */
	if (FS_CHECK(fs_sse_open(&all, env.gw_port, path, root, 0, 10000) ==
	                0 &&
	            all.status == 200,
	        "root stream")) {
		got = read_changes(&all, 8);
		snprintf(want, sizeof(want),
		    "added acc_fa []\nadded acc_fb []\nadded acc_app [%s "
		    "%s]\nadded acc_hid []\nmodified acc_hid []\nstatus "
		    "acc_app [%s %s]\ndeleted acc_hid []\nmodified acc_app "
		    "[%s %s]\n",
		    fa, fb, fa, fb, fa, fb);
		FS_ASSERT_STR_EQ(got, want);
		free(got);
	}
	fs_sse_close(&all);
}

static void
test_needs_token(void)
{
	static const char *const bad[] = {"Authorization: Bearer nope", NULL};
	fs_http_resp r;

	fs_http_once(env.gw_port, "GET", "/api/watch/", NULL, NULL, 0, &r);
	FS_ASSERT_ERROR(&r, 401,
	    "{\"detail\": \"Authentication credentials were not "
	    "provided.\"}");
	FS_ASSERT_STR_EQ(fs_http_header_get(&r, "WWW-Authenticate"), "Bearer");
	fs_http_resp_free(&r);
	fs_http_once(env.gw_port, "GET", "/api/watch/", bad, NULL, 0, &r);
	FS_ASSERT_ERROR(&r, 401, "{\"detail\": \"Invalid token.\"}");
	fs_http_resp_free(&r);
}

/* The revision the gateway's own watch is at (/metrics). */
static uint64_t
watch_revision(int port)
{
	fs_http_resp r;
	const char *p;
	uint64_t rev = 0;

	if (fs_http_once(port, "GET", "/metrics", NULL, NULL, 0, &r) == 0 &&
	    r.body != NULL &&
	    (p = strstr(r.body, "\nflowsvc_gateway_watch_revision ")) != NULL)
		rev = strtoull(p + 32, NULL, 10);
	fs_http_resp_free(&r);
	return rev;
}

/* --watch-history 5 on the backend: a watch from further back than it
 * and the gateway's ring is 410, before any stream, with the contract's
 * body. */
static void
test_gone(void)
{
	static const char *const svc[] = {"--watch-history", "5", NULL};
	/* The gateway's ring would still hold them: a small one. */
	static const char *const gw[] = {"--watch-ring", "2", NULL};
	static const char *const lei[] = {"Last-Event-ID: 2", NULL};
	fs_test_env e;
	fs_http_resp r;
	char path[64];
	uint64_t cur;

	if (fs_env_init(&e, "watch_sse_gone") != 0)
		return;
	e.svc_extra = svc;
	e.gw_extra = gw;
	if (!FS_CHECK(fs_env_start_programs(&e) == 0, "start"))
		goto out;
	for (int i = 0; i < 12; i++) {
		char name[16];
		snprintf(name, sizeof(name), "gone%d", i);
		FS_ASSERT_OK(fs_tw_create(e.client, FLOWSVC__KIND__FLOW, name,
		    NULL, NULL, 0, NULL, NULL, NULL));
	}
	cur = fs_tw_revision(e.client);
	/* Once the gateway's own watch has seen them (or, past the
	 * history, started again from the backend's revision): until then
	 * its ring may still hold revision 1. */
	int64_t until = fs_test_now_ms() + 10000;
	while (watch_revision(e.gw_port) < cur && fs_test_now_ms() < until)
		fs_test_poll_pause(20);
	fs_http_once(e.gw_port, "GET", "/api/watch/?since=1", NULL, NULL, 0,
	    &r);
	FS_ASSERT_ERROR(&r, 410,
	    "{\"detail\": \"Revision 1 is no longer available; list again "
	    "and watch from the list's revision.\"}");
	FS_ASSERT_INT_EQ(strtoull(fs_http_header_get(&r, "X-Revision")
	                         ? fs_http_header_get(&r, "X-Revision")
	                         : "0",
	                     NULL, 10),
	    cur);
	fs_http_resp_free(&r);
	fs_http_once(e.gw_port, "GET", "/api/watch/", lei, NULL, 0, &r);
	FS_ASSERT_ERROR(&r, 410,
	    "{\"detail\": \"Revision 2 is no longer available; list again "
	    "and watch from the list's revision.\"}");
	fs_http_resp_free(&r);
	/* From the history's start on, it streams. */
	fs_sse s;
	snprintf(path, sizeof(path), "/api/watch/?since=%llu",
	    (unsigned long long) (cur - 4));
	if (FS_CHECK(fs_sse_open(&s, e.gw_port, path, NULL, 0, 10000) == 0,
	        "open")) {
		FS_ASSERT_INT_EQ(s.status, 200);
		fs_sse_event ev;
		if (FS_CHECK(fs_sse_next_change(&s, &ev, 10000) == 1, "event"))
			FS_ASSERT_INT_EQ(ev.id, cur - 3);
		fs_sse_event_free(&ev);
		fs_sse_close(&s);
	}
out:
	fs_env_fini(&e);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"a token sees its groups' events only, live and catching up",
	    test_token_scoping},
	{"401 without a token", test_needs_token},
	{"410 past the backend's --watch-history", test_gone},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"watch_sse_access", suite_init, suite_fini, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
