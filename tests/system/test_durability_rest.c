/*
 * test_durability_rest.c - CONTRACT §4 through the REST surface: what the
 * gateway shows (lists, each component, each status, indexes and reverse
 * references) is identical after kill -9 (log replay only), after SIGTERM
 * (shutdown snapshot) and with --snapshot-changes (snapshot + log), and
 * older snapshots are removed once a newer one is in place (older logs
 * stay while the watch history, --watch-history, needs their changes).
 */
#define _GNU_SOURCE

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static fs_test_env renv;

static int
rest_suite_init(void)
{
	return fs_env_start(&renv, "dur-rest");
}

static int
rest_suite_fini(void)
{
	return fs_env_fini(&renv);
}

/* Everything the REST surface shows: both lists (creation order), every
 * component fetched by id (must equal its list entry), every status. */
static json_t *
rest_dump(fs_test_env *env)
{
	static const char *const colls[] = {"flows", "apps"};
	json_t *d = json_object(), *status = json_object();

	for (size_t k = 0; k < 2; k++) {
		fs_http_resp r;
		size_t i;
		json_t *item;

		fs_restf(env, "GET", NULL, &r, "/api/%s/", colls[k]);
		if (!FS_ASSERT_STATUS(&r, 200) ||
		    !FS_CHECK(json_is_array(r.json), "list is not an array")) {
			fs_http_resp_free(&r);
			continue;
		}
		json_object_set(d, colls[k], r.json);
		json_array_foreach(r.json, i, item)
		{
			const char *id = fs_json_str(item, "id");
			fs_http_resp g;
			FS_ASSERT_COMPONENT(item);
			if (id == NULL)
				continue;
			fs_restf(env, "GET", NULL, &g, "/api/%s/%s/", colls[k],
			    id);
			if (FS_ASSERT_STATUS(&g, 200))
				FS_ASSERT_JSON_SAME(g.json, item);
			fs_http_resp_free(&g);
			fs_restf(env, "GET", NULL, &g, "/api/apps/%s/status/",
			    id);
			if (FS_ASSERT_STATUS(&g, 200))
				json_object_set(status, id, g.json);
			fs_http_resp_free(&g);
		}
		fs_http_resp_free(&r);
	}
	json_object_set_new(d, "status", status);
	return d;
}

/* Compares two dumps component by component, for readable failures. */
static void
compare_dumps(const json_t *after, const json_t *before, const char *when)
{
	static const char *const keys[] = {"flows", "apps"};

	for (size_t k = 0; k < 2; k++) {
		json_t *a = json_object_get(after, keys[k]);
		json_t *b = json_object_get(before, keys[k]);
		size_t na = json_array_size(a), nb = json_array_size(b);
		FS_CHECK(na == nb, "%s: %zu %s after, %zu before", when, na,
		    keys[k], nb);
		for (size_t i = 0; i < na && i < nb; i++) {
			if (!json_equal(json_array_get(a, i),
			        json_array_get(b, i))) {
				char *x = fs_json_dump(json_array_get(a, i));
				char *y = fs_json_dump(json_array_get(b, i));
				FS_CHECK(0,
				    "%s: %s[%zu] differs:\n  before %s\n"
				    "  after  %s",
				    when, keys[k], i, y, x);
				free(x);
				free(y);
			}
		}
	}
	FS_CHECK(json_equal(json_object_get(after, "status"),
	             json_object_get(before, "status")),
	    "%s: statuses differ", when);
	FS_CHECK(json_equal((json_t *) after, (json_t *) before),
	    "%s: the dumps differ", when);
}

static void
rest_ok(const char *method, const char *body, int want, const char *fmt,
    const char *id)
{
	fs_http_resp r;
	fs_restf(&renv, method, body, &r, fmt, id);
	FS_ASSERT_STATUS(&r, want);
	fs_http_resp_free(&r);
}

static void
rest_ok_body(const char *method, const char *body, int want,
    const char *expect_json, const char *fmt, const char *id)
{
	fs_http_resp r;
	fs_restf(&renv, method, body, &r, fmt, id);
	FS_ASSERT_ERROR(&r, want, expect_json);
	fs_http_resp_free(&r);
}

static char f_base[64], f_mid[64], f_leaf[64], f_gone[64], f_grp[64];
static char app_main[64], app_two[64], f_after[64], app_after[64];

/* Restarts the backend with extra flags after stopping it with sig; the
 * gateway is left running and must recover by itself. */
static int
rest_restart(int sig, const char *const *extra)
{
	int st = fs_env_stop_backend(&renv, sig);

	if (sig == SIGKILL)
		FS_CHECK(fs_test_killed_by(st, SIGKILL), "not killed: 0x%x",
		    st);
	else
		FS_CHECK(fs_test_exited_zero(st),
		    "flow-service did not exit 0 on signal %d: 0x%x", sig, st);
	if (!FS_CHECK(fs_env_start_backend_with(&renv, extra) == 0,
	        "flow-service did not restart on the same data dir"))
		return -1;
	if (!FS_CHECK(fs_env_wait_gateway_ready(&renv) == 0,
	        "gateway not ready after the backend restart"))
		return -1;
	return 0;
}

static void
test_rest_kill9_log_replay_only(void)
{
	char body[256];
	json_t *before, *after;
	fs_gens g;
	char gs[512];

	if (FS_REST_CREATE(&renv, "flows",
	        "{\"name\": \"f_base\", \"input_fields\": [\"a\", \"b\"], "
	        "\"output_fields\": [\"x\"]}",
	        f_base) != 0)
		return;
	snprintf(body, sizeof(body),
	    "{\"name\": \"f_mid\", \"flows\": [\"%s\"]}", f_base);
	if (FS_REST_CREATE(&renv, "flows", body, f_mid) != 0 ||
	    FS_REST_CREATE(&renv, "flows", "{\"name\": \"f_leaf\"}", f_leaf) !=
	        0 ||
	    FS_REST_CREATE(&renv, "flows", "{\"name\": \"f_gone\"}", f_gone) !=
	        0 ||
	    FS_REST_CREATE(&renv, "flows",
	        "{\"name\": \"f_grp\", \"group\": \"team.a-1\", "
	        "\"input_fields\": [\"\\u00e9t\\u00e9 \\\"q\\\"\"]}",
	        f_grp) != 0)
		return;
	snprintf(body, sizeof(body),
	    "{\"name\": \"app_main\", \"input_fields\": [\"q\"], \"flows\": "
	    "[\"%s\", \"%s\"]}",
	    f_mid, f_leaf);
	if (FS_REST_CREATE(&renv, "apps", body, app_main) != 0 ||
	    FS_REST_CREATE(&renv, "apps", "{\"name\": \"app_two\"}",
	        app_two) != 0)
		return;
	rest_ok("PUT", "{\"output_fields\": [\"o1\", \"o2\"]}", 200,
	    "/api/flows/%s/", f_leaf);
	rest_ok("PUT", "{\"input_fields\": [\"i\"]}", 200, "/api/flows/%s/",
	    f_leaf);
	snprintf(body, sizeof(body), "{\"flows\": [\"%s\"]}", f_mid);
	rest_ok("PUT", body, 200, "/api/apps/%s/", app_main);
	snprintf(body, sizeof(body), "{\"flows\": [\"%s\", \"%s\"]}", f_base,
	    f_leaf);
	rest_ok("PUT", body, 200, "/api/flows/%s/", f_mid);
	rest_ok("DELETE", NULL, 204, "/api/flows/%s/", f_gone);
	rest_ok("POST", NULL, 200, "/api/apps/%s/deploy/", app_main);
	rest_ok("POST", NULL, 200, "/api/apps/%s/deploy/", app_two);
	rest_ok("POST", NULL, 200, "/api/apps/%s/stop/", app_two);
	rest_ok("POST", NULL, 200, "/api/apps/%s/deploy/", f_base);

	before = rest_dump(&renv);
	FS_ASSERT_INT_EQ(json_array_size(json_object_get(before, "flows")), 4);
	FS_ASSERT_INT_EQ(json_array_size(json_object_get(before, "apps")), 2);

	/* Nothing has snapshotted yet: the restart is log replay only. */
	fs_gens_scan(renv.data_dir, &g);
	FS_CHECK(g.nsnap == 0 && g.nlog == 1,
	    "before kill -9 expected one log and no snapshot: %s",
	    fs_gens_str(&g, gs, sizeof(gs)));
	if (rest_restart(SIGKILL, NULL) != 0) {
		json_decref(before);
		return;
	}
	after = rest_dump(&renv);
	compare_dumps(after, before, "after kill -9 (log replay)");
	json_decref(after);
	json_decref(before);

	/* The indexes and reverse references were rebuilt too. */
	rest_ok_body("DELETE", NULL, 409,
	    "{\"detail\": \"Cannot delete the Flow, because it is used by "
	    "these "
	    "apps/flows: f_mid\"}",
	    "/api/flows/%s/", f_base);
	rest_ok_body("DELETE", NULL, 409,
	    "{\"detail\": \"Cannot delete the Flow, because it is used by "
	    "these "
	    "apps/flows: app_main\"}",
	    "/api/flows/%s/", f_mid);
	rest_ok_body("POST", "{\"name\": \"F_LEAF\"}", 400,
	    "{\"name\": [\"A flow with this name already exists in this "
	    "group.\"]}",
	    "/api/flows/%s", "");
	rest_ok("GET", NULL, 404, "/api/flows/%s/", f_gone);
}

static void
test_rest_sigterm_restart(void)
{
	char body[256];
	json_t *before, *after, *last;
	fs_gens g;
	char gs[512], path[PATH_MAX + 64];
	fs_http_resp r;

	if (f_base[0] == '\0')
		return;
	/* A create after a restart goes after the recovered ones. */
	if (FS_REST_CREATE(&renv, "flows", "{\"name\": \"f_after\"}",
	        f_after) != 0)
		return;
	fs_rest(&renv, "GET", "/api/flows/", NULL, &r);
	if (FS_ASSERT_STATUS(&r, 200)) {
		last = json_array_get(r.json, json_array_size(r.json) - 1);
		FS_ASSERT_STR_EQ(fs_json_str(last, "id"), f_after);
	}
	fs_http_resp_free(&r);
	snprintf(body, sizeof(body),
	    "{\"name\": \"app_after\", \"flows\": [\"%s\", \"%s\"]}", f_after,
	    f_base);
	if (FS_REST_CREATE(&renv, "apps", body, app_after) != 0)
		return;
	rest_ok("PUT", "{\"input_fields\": [\"a\", \"b\", \"c\"]}", 200,
	    "/api/flows/%s/", f_base);
	rest_ok("DELETE", NULL, 204, "/api/apps/%s/", app_two);
	rest_ok("POST", NULL, 200, "/api/apps/%s/stop/", app_main);
	rest_ok("POST", NULL, 200, "/api/apps/%s/deploy/", app_after);
	rest_ok("PUT", "{\"output_fields\": []}", 200, "/api/flows/%s/",
	    f_grp);

	before = rest_dump(&renv);
	if (rest_restart(SIGTERM, NULL) != 0) {
		json_decref(before);
		return;
	}
	/* SIGTERM wrote a snapshot and reset the log; older snapshots are
	 * gone. (The restarted backend may only have appended nothing.) */
	fs_gens_scan(renv.data_dir, &g);
	fs_gens_str(&g, gs, sizeof(gs));
	if (FS_CHECK(g.nsnap == 1 && g.snap[0] > 0,
	        "after SIGTERM expected exactly one snapshot: %s", gs)) {
		/* Older logs stay while the watch history needs them. */
		FS_CHECK(g.nlog >= 1 && g.log[g.nlog - 1] == g.snap[0],
		    "after SIGTERM expected only the log of the snapshot's "
		    "generation: %s",
		    gs);
		fs_gen_path(path, sizeof(path), renv.data_dir, "changes",
		    g.snap[0], ".log");
		FS_CHECK(fs_file_size(path) == FS_LOG_HEADER,
		    "%s holds %lld bytes, expected a header-only log after "
		    "the "
		    "shutdown snapshot",
		    path, fs_file_size(path));
	}
	after = rest_dump(&renv);
	compare_dumps(after, before, "after SIGTERM (snapshot)");
	json_decref(after);
	json_decref(before);
}

/* Waits until the data dir holds exactly one snapshot, newer than gen, and
 * no log older than it. */
static int
wait_snapshot_after(const char *dir, uint64_t gen, int ms, fs_gens *out)
{
	int64_t deadline = fs_test_now_ms() + ms;

	do {
		fs_gens_scan(dir, out);
		if (out->nsnap == 1 && out->snap[0] > gen && out->nlog >= 1 &&
		    out->log[out->nlog - 1] >= out->snap[0] && out->ntmp == 0)
			return 0;
		fs_test_poll_pause(25);
	} while (fs_test_now_ms() < deadline);
	return -1;
}

static void
test_rest_snapshot_changes(void)
{
	static const char *const extra[] = {"--snapshot-changes", "5",
	    "--snapshot-interval", "0", NULL};
	json_t *before, *after;
	char name[64], ids[12][64], gs[512], path[PATH_MAX + 64];
	uint64_t gen0;
	long long off[64], len[64];
	fs_gens g;
	int i, n;

	if (f_base[0] == '\0')
		return;
	if (rest_restart(SIGTERM, extra) != 0)
		return;
	fs_gens_scan(renv.data_dir, &g);
	gen0 = g.nsnap > 0 ? g.snap[g.nsnap - 1] : 0;

	/* Six changes: the count triggers a snapshot. */
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "{\"name\": \"snap_%d\"}", i);
		if (FS_REST_CREATE(&renv, "flows", name, ids[i]) != 0)
			return;
	}
	if (!FS_CHECK(wait_snapshot_after(renv.data_dir, gen0, 10000, &g) == 0,
	        "no snapshot after 6 changes with --snapshot-changes 5: %s",
	        fs_gens_str(&g, gs, sizeof(gs))))
		return;
	gen0 = g.snap[0];
	/* Six more: another snapshot, the first one and its log removed. */
	for (i = 6; i < 12; i++) {
		snprintf(name, sizeof(name), "{\"input_fields\": [\"u%d\"]}",
		    i);
		rest_ok("PUT", name, 200, "/api/flows/%s/", ids[i - 6]);
	}
	{
		int64_t t0 = fs_test_now_ms();
		if (!FS_CHECK(wait_snapshot_after(renv.data_dir, gen0, 15000,
		                  &g) == 0,
		        "no second snapshot after 6 more changes: %s",
		        fs_gens_str(&g, gs, sizeof(gs))))
			return;
		fprintf(stderr,
		    "\n  second count-triggered snapshot %lld ms "
		    "after the 6th change ",
		    (long long) (fs_test_now_ms() - t0));
	}
	/* A few changes after the last snapshot, fewer than the count: the
	 * restart needs the snapshot and the log. Wait for any snapshot the
	 * count may still start to settle first. */
	{
		int64_t deadline = fs_test_now_ms() + 15000;
		fs_gens prev = g;
		do {
			fs_test_poll_pause(200);
			fs_gens_scan(renv.data_dir, &g);
			fs_gen_path(path, sizeof(path), renv.data_dir,
			    "changes", g.nlog ? g.log[g.nlog - 1] : 0, ".log");
			n = fs_log_records(path, off, len, 64);
			if (g.nsnap == 1 && prev.nsnap == 1 &&
			    g.snap[0] == prev.snap[0] && n >= 0 && n < 5)
				break;
			prev = g;
		} while (fs_test_now_ms() < deadline);
	}
	rest_ok("DELETE", NULL, 204, "/api/flows/%s/", ids[5]);
	rest_ok("POST", NULL, 200, "/api/apps/%s/deploy/", ids[4]);
	before = rest_dump(&renv);

	fs_gens_scan(renv.data_dir, &g);
	fs_gens_str(&g, gs, sizeof(gs));
	if (FS_CHECK(g.nsnap == 1 && g.nlog >= 1 &&
	            g.log[g.nlog - 1] >= g.snap[0],
	        "older snapshots not removed: %s", gs)) {
		fs_gen_path(path, sizeof(path), renv.data_dir, "changes",
		    g.log[g.nlog - 1], ".log");
		n = fs_log_records(path, off, len, 64);
		FS_CHECK(n >= 2,
		    "the newest log %s holds %d records; expected "
		    "the changes since the snapshot (%s)",
		    path, n, gs);
	}
	if (rest_restart(SIGKILL, extra) != 0) {
		json_decref(before);
		return;
	}
	after = rest_dump(&renv);
	compare_dumps(after, before, "after kill -9 (snapshot + log)");
	json_decref(after);
	json_decref(before);
}

static CU_TestInfo rest_tests[] = {
    {"REST state identical after kill -9 (log replay only)",
        test_rest_kill9_log_replay_only},
    {"REST state identical after SIGTERM (shutdown snapshot)",
        test_rest_sigterm_restart},
    {"REST state identical with --snapshot-changes 5 (snapshot + logs)",
        test_rest_snapshot_changes},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"durability: REST state across restarts", rest_suite_init,
        rest_suite_fini, NULL, NULL, rest_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
