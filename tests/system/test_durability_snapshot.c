/*
 * test_durability_snapshot.c - the Snapshot RPC and `flowctl snapshot`:
 * each answers once a new snapshot is in place, the log is reset to the
 * snapshot's generation, older snapshots are gone (older logs stay while
 * the watch history needs their changes), and the snapshot alone restores
 * everything after kill -9.
 */
#define _GNU_SOURCE

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

/* ==== (e) the Snapshot RPC and flowctl snapshot ========================== */

static fs_test_env senv;

static int
snap_suite_init(void)
{
	if (fs_env_init(&senv, "dur-snaprpc") != 0)
		return -1;
	return fs_env_start_backend_with(&senv, NULL);
}

static int
snap_suite_fini(void)
{
	return fs_env_fini(&senv);
}

static void
test_snapshot_rpc(void)
{
	json_t *comp = NULL, *before = NULL, *after = NULL;
	char gs[512], path[PATH_MAX + 64];
	uint64_t g1;
	fs_gens g;
	int st;

	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "s_%d", i);
		if (!FS_ASSERT_OK(fs_trpc_create(senv.client,
		        FLOWSVC__KIND__FLOW, name, name, NULL, 5000, &comp)))
			return;
		if (i == 4)
			FS_ASSERT_OK(
			    fs_trpc_id(senv.client, FLOWSVC__METHOD__DEPLOY,
			        fs_json_str(comp, "id"), 5000, NULL));
		json_decref(comp);
		comp = NULL;
	}
	fs_gens_scan(senv.data_dir, &g);
	FS_CHECK(g.nsnap == 0, "a snapshot before any was asked for: %s",
	    fs_gens_str(&g, gs, sizeof(gs)));

	/* The reply comes once the file is in place: no waiting needed. */
	FS_ASSERT_OK(fs_trpc_snapshot(senv.client));
	fs_gens_scan(senv.data_dir, &g);
	fs_gens_str(&g, gs, sizeof(gs));
	if (!FS_CHECK(g.nsnap == 1 && g.snap[0] > 0 && g.ntmp == 0,
	        "after SNAPSHOT: %s", gs))
		return;
	g1 = g.snap[0];
	/* The newest log is the snapshot's (older ones stay while the watch
	 * history needs their changes). */
	FS_CHECK(g.nlog >= 1 && g.log[g.nlog - 1] == g1,
	    "the log was not reset by the snapshot: %s", gs);
	fs_gen_path(path, sizeof(path), senv.data_dir, "changes", g1, ".log");
	FS_CHECK(fs_file_size(path) == FS_LOG_HEADER, "%s holds %lld bytes",
	    path, fs_file_size(path));

	FS_ASSERT_OK(fs_trpc_create(senv.client, FLOWSVC__KIND__APP, "s_app",
	    NULL, NULL, 5000, &comp));
	json_decref(comp);
	{
		fs_test_run_result res;
		char *argv[] = {(char *) FLOWCTL_BIN, (char *) "--backend",
		    senv.backend_url, (char *) "snapshot", NULL};
		fs_test_run(&res, argv, NULL, NULL, 30000);
		FS_CHECK(res.exit_code == 0, "flowctl snapshot: exit %d, %s",
		    res.exit_code, res.err);
		FS_CHECK(res.json != NULL && json_object_size(res.json) == 1 &&
		        strcmp(fs_json_str(res.json, "status")
		                ? fs_json_str(res.json, "status")
		                : "",
		            "ok") == 0,
		    "flowctl snapshot printed: %s", res.out);
		fs_test_run_result_free(&res);
	}
	fs_gens_scan(senv.data_dir, &g);
	fs_gens_str(&g, gs, sizeof(gs));
	FS_CHECK(g.nsnap == 1 && g.snap[0] > g1 && g.nlog >= 1 &&
	        g.log[g.nlog - 1] == g.snap[0] && g.ntmp == 0,
	    "after flowctl snapshot (previous generation %" PRIu64 "): %s", g1,
	    gs);

	/* The snapshot alone restores everything (kill -9: no new one). */
	before = fs_trpc_list(senv.client, NULL);
	st = fs_env_stop_backend(&senv, SIGKILL);
	FS_CHECK(fs_test_killed_by(st, SIGKILL), "not killed: 0x%x", st);
	if (!FS_CHECK(fs_env_start_backend_with(&senv, NULL) == 0, "restart"))
		goto out;
	after = fs_trpc_list(senv.client, NULL);
	FS_CHECK(before != NULL && json_array_size(before) == 6,
	    "expected 6 components before the restart");
	FS_ASSERT_JSON_SAME(after, before);
	{
		json_t *l = fs_trpc_list(senv.client, "s_4");
		int status = -1;
		if (json_array_size(l) == 1)
			fs_trpc_get(senv.client,
			    fs_json_str(json_array_get(l, 0), "id"), &comp,
			    &status);
		FS_ASSERT_INT_EQ(status, FLOWSVC__STATUS__STARTED);
		json_decref(comp);
		json_decref(l);
	}
out:
	json_decref(before);
	json_decref(after);
}

static CU_TestInfo snap_tests[] = {
    {"Snapshot RPC and flowctl snapshot write a new snapshot",
        test_snapshot_rpc},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"durability: Snapshot RPC", snap_suite_init, snap_suite_fini, NULL, NULL,
        snap_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
