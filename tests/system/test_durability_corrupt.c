/*
 * test_durability_corrupt.c - CONTRACT §4's damaged and odd data dirs: a
 * torn last log record is dropped with a log line and the rest kept; a
 * byte flipped in a middle record (payload or length) or in the snapshot
 * is refused at start, naming the file and the offset, with the file left
 * as it was; leftover snapshot temp files are removed; empty and missing
 * data dirs start empty; a data dir that is a file is a one-line refusal.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REFUSE_MS 10000 /* "refuses within a few seconds", ASan included */

#include "testlib.h"

/* ==== (c) corruption and odd data dirs ================================== */

/* A data dir whose only content is changes-000000000000.log with n flow
 * creates (kill -9, no snapshot). ids and bodies are filled. */
static int
make_log_only(fs_test_env *env, const char *name, int n, char ids[][64],
    json_t **bodies)
{
	int st;

	if (fs_env_init(env, name) != 0 ||
	    fs_env_start_backend_with(env, NULL) != 0)
		return -1;
	for (int i = 0; i < n; i++) {
		char nm[32];
		json_t *comp = NULL;
		snprintf(nm, sizeof(nm), "c_%d", i);
		int code = fs_trpc_create(env->client, FLOWSVC__KIND__FLOW, nm,
		    nm, NULL, 5000, &comp);
		if (!FS_ASSERT_OK(code))
			return -1;
		snprintf(ids[i], 64, "%s", fs_json_str(comp, "id"));
		bodies[i] = comp;
	}
	st = fs_env_stop_backend(env, SIGKILL);
	return FS_CHECK(fs_test_killed_by(st, SIGKILL), "not killed: 0x%x", st)
	    ? 0
	    : -1;
}

/* Runs flow-service on dir until it exits (it is expected to refuse). */
static void
run_refusing(const char *dir, fs_test_run_result *res, int64_t *ms)
{
	char url[64];
	char *argv[] = {(char *) FLOW_SERVICE_BIN, (char *) "--listen", url,
	    (char *) "--data-dir", (char *) dir, NULL};
	int64_t t0 = fs_test_now_ms();

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", fs_test_free_port());
	fs_test_run(res, argv, NULL, NULL, REFUSE_MS);
	*ms = fs_test_now_ms() - t0;
}

static void
free_bodies(json_t **b, int n)
{
	for (int i = 0; i < n; i++)
		json_decref(b[i]);
}

static void
test_torn_tail(void)
{
	fs_test_env env;
	char ids[6][64], path[PATH_MAX + 64];
	json_t *bodies[6] = {0}, *extra_body = NULL;
	long long size;
	char *log;
	int i, st;

	if (make_log_only(&env, "dur-cut", 6, ids, bodies) != 0)
		goto out;
	fs_gen_path(path, sizeof(path), env.data_dir, "changes", 0, ".log");
	size = fs_file_size(path);
	if (!FS_CHECK(size > FS_LOG_HEADER && truncate(path, size - 3) == 0,
	        "cannot cut %s (%lld bytes)", path, size))
		goto out;
	if (!FS_CHECK(fs_env_start_backend_with(&env, NULL) == 0,
	        "flow-service refused a log with a torn last record"))
		goto out;
	log = fs_file_read(env.backend.log_path, NULL);
	FS_CHECK(log != NULL && fs_str_count(log, "torn") == 1,
	    "no log line about the torn record: %s", log ? log : "(no log)");
	free(log);
	for (i = 0; i < 6; i++) {
		json_t *comp = NULL;
		int code = fs_trpc_get(env.client, ids[i], &comp, NULL);
		if (i < 5) {
			if (FS_CHECK(code == FS_OK, "c_%d lost: %s", i,
			        fs_code_name(code)))
				FS_ASSERT_JSON_SAME(comp, bodies[i]);
		} else {
			FS_CHECK(code == FS_NOT_FOUND,
			    "the torn record c_5 was applied: %s",
			    fs_code_name(code));
		}
		json_decref(comp);
	}
	/* Appending after the dropped tail gives a clean log. */
	{
		int code = fs_trpc_create(env.client, FLOWSVC__KIND__FLOW,
		    "c_5", "c_5", NULL, 5000, &extra_body);
		FS_ASSERT_OK(code);
	}
	st = fs_env_stop_backend(&env, SIGKILL);
	FS_CHECK(fs_test_killed_by(st, SIGKILL), "not killed: 0x%x", st);
	if (!FS_CHECK(fs_env_start_backend_with(&env, NULL) == 0,
	        "no restart after the append that followed a torn tail"))
		goto out;
	log = fs_file_read(env.backend.log_path, NULL);
	FS_CHECK(log != NULL && fs_str_count(log, "torn") == 1,
	    "the second start found another torn record");
	free(log);
	for (i = 0; i < 5; i++) {
		json_t *comp = NULL;
		if (FS_ASSERT_OK(fs_trpc_get(env.client, ids[i], &comp, NULL)))
			FS_ASSERT_JSON_SAME(comp, bodies[i]);
		json_decref(comp);
	}
	if (extra_body != NULL) {
		json_t *comp = NULL;
		if (FS_ASSERT_OK(fs_trpc_get(env.client,
		        fs_json_str(extra_body, "id"), &comp, NULL)))
			FS_ASSERT_JSON_SAME(comp, extra_body);
		json_decref(comp);
	}
out:
	json_decref(extra_body);
	free_bodies(bodies, 6);
	fs_env_fini(&env);
}

/* Flips one byte of record 2 of 6 (at rec_off + delta) and expects a
 * refusal that names the file and an offset, with the file untouched. */
static void
corrupt_middle_record(const char *envname, int delta_kind)
{
	fs_test_env env;
	char ids[6][64], path[PATH_MAX + 64];
	json_t *bodies[6] = {0};
	long long off[16], len[16], at;
	size_t n0 = 0, n1 = 0;
	char *before = NULL, *after = NULL;
	fs_test_run_result res;
	int64_t ms;
	int n;

	if (make_log_only(&env, envname, 6, ids, bodies) != 0)
		goto out;
	fs_gen_path(path, sizeof(path), env.data_dir, "changes", 0, ".log");
	n = fs_log_records(path, off, len, 16);
	if (!FS_CHECK(n == 6, "%s holds %d records, expected 6", path, n))
		goto out;
	/* 0: a payload byte; 1: the high byte of the length field (a length
	 * no writer ever produces, far past the end). */
	at = delta_kind == 0 ? off[2] + FS_LOG_REC_HEADER + len[2] / 2
	                     : off[2] + 3;
	if (!FS_CHECK(fs_file_flip_byte(path, at) == 0, "flip %s at %lld",
	        path, at))
		goto out;
	before = fs_file_read(path, &n0);
	run_refusing(env.data_dir, &res, &ms);
	FS_CHECK(res.exit_code > 0 && res.exit_code < 128,
	    "flow-service started on a log corrupt at offset %lld (record at "
	    "%lld): exit %d, stderr: %s",
	    at, off[2], res.exit_code, res.err);
	FS_CHECK(ms < REFUSE_MS, "the refusal took %lld ms", (long long) ms);
	FS_CHECK(res.err != NULL && strstr(res.err, path) != NULL &&
	        strstr(res.err, "offset") != NULL,
	    "stderr does not name %s and an offset: %s", path, res.err);
	{
		char o1[32], o2[32];
		snprintf(o1, sizeof(o1), "%lld", off[2]);
		snprintf(o2, sizeof(o2), "%lld", at);
		FS_CHECK(res.err != NULL &&
		        (strstr(res.err, o1) != NULL ||
		            strstr(res.err, o2) != NULL),
		    "stderr does not give the corrupt record's offset (%s) or "
		    "the byte's (%s): %s",
		    o1, o2, res.err);
	}
	errno = 0;
	after = fs_file_read(path, &n1);
	FS_CHECK(before != NULL && after != NULL && n0 == n1 &&
	        memcmp(before, after, n0) == 0,
	    "the refused start changed %s (%zu bytes before, %lld now%s%s)",
	    path, n0, fs_file_size(path),
	    after ? "" : "; unreadable: ", after ? "" : strerror(errno));
	fs_test_run_result_free(&res);
out:
	free(before);
	free(after);
	free_bodies(bodies, 6);
	fs_env_fini(&env);
}

static void
test_corrupt_log_payload(void)
{
	corrupt_middle_record("dur-flip", 0);
}

/* A length no writer ever produces (far past REC_MAX and the end of the
 * file) in the middle of the last log is corruption, not a torn tail: a
 * torn write leaves a prefix of the last record only. */
static void
test_corrupt_log_length(void)
{
	corrupt_middle_record("dur-flipl", 1);
}

static void
test_corrupt_snapshot(void)
{
	fs_test_env env;
	char ids[4][64], path[PATH_MAX + 64];
	json_t *bodies[4] = {0};
	fs_test_run_result res;
	size_t n0 = 0, n1 = 0;
	char *before = NULL, *after = NULL, gs[512];
	int64_t ms;
	fs_gens g;
	int st;

	if (make_log_only(&env, "dur-snap", 4, ids, bodies) != 0)
		goto out;
	if (!FS_CHECK(fs_env_start_backend_with(&env, NULL) == 0, "restart"))
		goto out;
	st = fs_env_stop_backend(&env, SIGTERM);
	FS_CHECK(fs_test_exited_zero(st), "SIGTERM: 0x%x", st);
	fs_gens_scan(env.data_dir, &g);
	if (!FS_CHECK(g.nsnap == 1, "no snapshot after SIGTERM: %s",
	        fs_gens_str(&g, gs, sizeof(gs))))
		goto out;
	fs_gen_path(path, sizeof(path), env.data_dir, "snapshot", g.snap[0],
	    ".db");
	if (!FS_CHECK(fs_file_flip_byte(path, fs_file_size(path) / 2) == 0,
	        "flip %s", path))
		goto out;
	before = fs_file_read(path, &n0);
	run_refusing(env.data_dir, &res, &ms);
	FS_CHECK(res.exit_code > 0 && res.exit_code < 128,
	    "flow-service started on a corrupt snapshot: exit %d, stderr: %s",
	    res.exit_code, res.err);
	FS_CHECK(ms < REFUSE_MS, "the refusal took %lld ms", (long long) ms);
	FS_CHECK(res.err != NULL && strstr(res.err, path) != NULL,
	    "stderr does not name %s: %s", path, res.err);
	fs_test_run_result_free(&res);
	after = fs_file_read(path, &n1);
	FS_CHECK(before != NULL && after != NULL && n0 == n1 &&
	        memcmp(before, after, n0) == 0,
	    "the refused start changed or removed %s", path);
	{
		fs_gens g2;
		fs_gens_scan(env.data_dir, &g2);
		FS_CHECK(g2.nsnap == g.nsnap && g2.nlog == g.nlog,
		    "the refused start changed the files: %s",
		    fs_gens_str(&g2, gs, sizeof(gs)));
	}
out:
	free(before);
	free(after);
	free_bodies(bodies, 4);
	fs_env_fini(&env);
}

static void
test_leftover_tmp_removed(void)
{
	fs_test_env env;
	char ids[3][64], tmp1[PATH_MAX + 64], tmp2[PATH_MAX + 64],
	    other[PATH_MAX + 64];
	json_t *bodies[3] = {0};
	char *log;
	int st;

	if (make_log_only(&env, "dur-tmp", 3, ids, bodies) != 0)
		goto out;
	if (!FS_CHECK(fs_env_start_backend_with(&env, NULL) == 0, "restart"))
		goto out;
	st = fs_env_stop_backend(&env, SIGTERM);
	FS_CHECK(fs_test_exited_zero(st), "SIGTERM: 0x%x", st);
	/* What a crash mid-snapshot leaves (pids over PID_MAX_LIMIT: dead). */
	snprintf(tmp1, sizeof(tmp1),
	    "%s/snapshot-000000000007.db.99999998.tmp", env.data_dir);
	snprintf(tmp2, sizeof(tmp2),
	    "%s/snapshot-000000000001.db.99999999.tmp", env.data_dir);
	snprintf(other, sizeof(other), "%s/operator-notes.tmp", env.data_dir);
	if (!FS_CHECK(fs_file_write(tmp1, "FLOWSNP half-written garbage") ==
	                0 &&
	            fs_file_write(tmp2, "") == 0 &&
	            fs_file_write(other, "not ours") == 0,
	        "cannot write the leftovers"))
		goto out;
	if (!FS_CHECK(fs_env_start_backend_with(&env, NULL) == 0,
	        "flow-service did not start with leftover temp files"))
		goto out;
	FS_CHECK(access(tmp1, F_OK) != 0 && access(tmp2, F_OK) != 0,
	    "a leftover snapshot temp file is still there");
	FS_CHECK(access(other, F_OK) == 0,
	    "a file that is not a snapshot temp file was removed: %s", other);
	log = fs_file_read(env.backend.log_path, NULL);
	FS_CHECK(log != NULL && strstr(log, "db.99999998.tmp"),
	    "the removal is not logged");
	free(log);
	for (int i = 0; i < 3; i++) {
		json_t *comp = NULL;
		if (FS_ASSERT_OK(fs_trpc_get(env.client, ids[i], &comp, NULL)))
			FS_ASSERT_JSON_SAME(comp, bodies[i]);
		json_decref(comp);
	}
out:
	free_bodies(bodies, 3);
	fs_env_fini(&env);
}

static void
expect_empty_backend(fs_test_env *env, const char *what)
{
	json_t *all = fs_trpc_list(env->client, NULL);
	FS_CHECK(all != NULL && json_array_size(all) == 0,
	    "%s: the backend does not start empty (%zu components)", what,
	    json_array_size(all));
	json_decref(all);
}

static void
test_empty_and_missing_dir(void)
{
	fs_test_env env;
	json_t *comp = NULL;
	struct stat sb;
	int st;

	if (fs_env_init(&env, "dur-empty") != 0)
		return;
	/* The data dir exists and is empty. */
	if (FS_CHECK(fs_env_start_backend_with(&env, NULL) == 0,
	        "start on an empty dir")) {
		expect_empty_backend(&env, "empty dir");
		FS_ASSERT_OK(fs_trpc_create(env.client, FLOWSVC__KIND__FLOW,
		    "first", NULL, NULL, 5000, &comp));
		json_decref(comp);
		st = fs_env_stop_backend(&env, SIGTERM);
		FS_CHECK(fs_test_exited_zero(st), "SIGTERM: 0x%x", st);
	}
	/* A data dir that does not exist yet. */
	if (!FS_CHECK((size_t) snprintf(env.data_dir, sizeof(env.data_dir),
	                  "%s/not-yet", env.dir) < sizeof(env.data_dir),
	        "path too long")) {
		fs_env_fini(&env);
		return;
	}
	if (FS_CHECK(fs_env_start_backend_with(&env, NULL) == 0,
	        "start on a missing dir")) {
		expect_empty_backend(&env, "missing dir");
		FS_CHECK(stat(env.data_dir, &sb) == 0 && S_ISDIR(sb.st_mode),
		    "%s was not created", env.data_dir);
		comp = NULL;
		FS_ASSERT_OK(fs_trpc_create(env.client, FLOWSVC__KIND__FLOW,
		    "second", NULL, NULL, 5000, &comp));
		json_decref(comp);
		st = fs_env_stop_backend(&env, SIGKILL);
		FS_CHECK(fs_test_killed_by(st, SIGKILL), "not killed: 0x%x",
		    st);
		if (FS_CHECK(fs_env_start_backend_with(&env, NULL) == 0,
		        "restart")) {
			json_t *l = fs_trpc_list(env.client, NULL);
			FS_CHECK(json_array_size(l) == 1 &&
			        strcmp(fs_json_str(json_array_get(l, 0),
			                   "name"),
			            "second") == 0,
			    "the created dir does not keep what was written");
			json_decref(l);
		}
	}
	fs_env_fini(&env);
}

static void
test_data_dir_is_a_file(void)
{
	fs_test_env env;
	char file[PATH_MAX + 32];
	fs_test_run_result res;
	int64_t ms;

	if (fs_env_init(&env, "dur-file") != 0)
		return;
	snprintf(file, sizeof(file), "%s/plain-file", env.dir);
	if (FS_CHECK(fs_file_write(file, "x\n") == 0, "write %s", file)) {
		run_refusing(file, &res, &ms);
		FS_CHECK(res.exit_code > 0 && res.exit_code < 128,
		    "flow-service with a file as data dir: exit %d",
		    res.exit_code);
		FS_CHECK(ms < REFUSE_MS, "the refusal took %lld ms",
		    (long long) ms);
		FS_CHECK(res.err != NULL && res.err_len > 1 &&
		        fs_str_count(res.err, "\n") == 1 &&
		        res.err[res.err_len - 1] == '\n' &&
		        strstr(res.err, file) != NULL,
		    "expected one line naming %s on stderr, got: \"%s\"", file,
		    res.err);
		fs_test_run_result_free(&res);
		{
			size_t n;
			char *c = fs_file_read(file, &n);
			FS_CHECK(c != NULL && strcmp(c, "x\n") == 0,
			    "the file was changed");
			free(c);
		}
	}
	fs_env_fini(&env);
}

static CU_TestInfo corrupt_tests[] = {
    {"torn last record: dropped with a log line, the rest kept",
        test_torn_tail},
    {"byte flipped in a middle record's payload: refused, file and offset "
     "named",
        test_corrupt_log_payload},
    {"byte flipped in a middle record's length: refused, not dropped as "
     "torn",
        test_corrupt_log_length},
    {"byte flipped in the snapshot: refused, file named, kept",
        test_corrupt_snapshot},
    {"leftover snapshot temp files removed at start",
        test_leftover_tmp_removed},
    {"empty and missing data dirs start empty", test_empty_and_missing_dir},
    {"data dir is a regular file: one-line refusal", test_data_dir_is_a_file},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"durability: corrupt and odd data dirs", NULL, NULL, NULL, NULL,
        corrupt_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
