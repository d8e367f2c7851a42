/* tools/flow-check: verifies a data directory the backend wrote, reports
 * its counts, and names the file and offset of damage, without changing
 * anything. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <CUnit/Basic.h>

#include "testlib.h"

static int
flip_byte(const char *path, long at)
{
	FILE *f = fopen(path, "r+b");
	int c;

	if (f == NULL || fseek(f, at, SEEK_SET) != 0 ||
	    (c = fgetc(f)) == EOF || fseek(f, at, SEEK_SET) != 0 ||
	    fputc(c ^ 0x40, f) == EOF) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	return fclose(f);
}

static void
test_flow_check_counts_and_damage(void)
{
	fs_test_env env;
	fs_test_run_result r;
	char id[64], path[PATH_MAX + 64];
	struct stat before, after;

	if (!FS_CHECK(fs_env_start(&env, "flowcheck") == 0, "start"))
		return;
	FS_REST_CREATE(&env, "flows", "{\"name\": \"a\"}", id);
	FS_REST_CREATE(&env, "flows", "{\"name\": \"b\"}", id);
	FS_REST_CREATE(&env, "apps", "{\"name\": \"c\"}", id);
	/* SIGTERM writes a snapshot; then one more change goes to the log. */
	FS_CHECK(fs_env_stop_backend(&env, SIGTERM) == 0, "clean stop");
	FS_CHECK(fs_env_start_backend(&env) == 0, "restart");
	FS_CHECK(fs_http_wait_status(env.gw_port, "/readyz", 200,
	             FS_TEST_START_TIMEOUT_MS) == 0,
	    "gateway ready again");
	FS_REST_CREATE(&env, "flows", "{\"name\": \"d\"}", id);
	FS_CHECK(fs_env_stop_backend(&env, SIGKILL) != -1, "kill -9");

	char *argv[] = {FLOW_CHECK_BIN, env.data_dir, NULL};
	FS_CHECK(fs_test_run(&r, argv, NULL, NULL, 20000) == 0, "run");
	FS_CHECK(r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
	FS_CHECK(strstr(r.out, "snapshot records:  3") != NULL, "out: %s",
	    r.out);
	FS_CHECK(strstr(r.out, "log records:       1") != NULL, "out: %s",
	    r.out);
	FS_CHECK(strstr(r.out, "flows:             3") != NULL, "out: %s",
	    r.out);
	FS_CHECK(strstr(r.out, "apps:              1") != NULL, "out: %s",
	    r.out);
	fs_test_run_result_free(&r);

	/* Damage the snapshot: exit 1, file and offset named, file as it
	 * was (flow-check never repairs). */
	snprintf(path, sizeof(path), "%s/snapshot-000000000001.db",
	    env.data_dir);
	FS_CHECK(flip_byte(path, 40) == 0, "flip %s", path);
	FS_CHECK(stat(path, &before) == 0, "stat");
	FS_CHECK(fs_test_run(&r, argv, NULL, NULL, 20000) == 0, "run");
	FS_CHECK(r.exit_code == 1, "exit %d: %s", r.exit_code, r.out);
	FS_CHECK(strstr(r.err, "BROKEN") != NULL &&
	        strstr(r.err, "snapshot-000000000001.db") != NULL &&
	        strstr(r.err, "offset") != NULL,
	    "stderr: %s", r.err);
	FS_CHECK(stat(path, &after) == 0 && after.st_size == before.st_size &&
	        after.st_mtime == before.st_mtime,
	    "flow-check changed the file");
	fs_test_run_result_free(&r);

	char *bad[] = {FLOW_CHECK_BIN, NULL};
	FS_CHECK(fs_test_run(&r, bad, NULL, NULL, 20000) == 0, "run");
	FS_CHECK(r.exit_code == 2, "usage exit %d", r.exit_code);
	fs_test_run_result_free(&r);

	/* The backend refuses the same directory. */
	FS_CHECK(fs_env_start_backend(&env) != 0,
	    "started on a corrupt "
	    "snapshot");
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"counts, damage, read-only", test_flow_check_counts_and_damage},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"flow-check", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
