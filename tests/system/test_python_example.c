/*
 * test_python_example.c - tools/example/python against a real backend:
 * the wire documented for clients in other languages (envelope, SP over
 * TCP, deadlines, at most once) works from a client that shares no code
 * with ours.
 *
 * PYTHON3 and PROTOC come from CMake (Debian's /usr/bin/python3 with
 * python3-protobuf, and protoc from protobuf-compiler; tools/deps.sh
 * installs both). flows_pb2.py is generated into the test's scratch dir.
 *
 * watch.py (Client.watch): list, then every change after the list's
 * revision, filtered by group, resuming by itself across a kill -9 and
 * restart of the backend with no change missed or printed twice; and
 * OUT_OF_RANGE as exit 4.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static fs_test_env env;

static int
run_example(fs_test_run_result *r, const char *url, const char *name)
{
	char pypath[2 * PATH_MAX + 32];
	char *argv[] = {(char *) PYTHON3,
	    (char *) FLOWSVC_SOURCE_DIR "/tools/example/python/example.py",
	    (char *) url, (char *) name, NULL};
	char *envx[] = {pypath, NULL};

	snprintf(pypath, sizeof(pypath),
	    "PYTHONPATH=%s:" FLOWSVC_SOURCE_DIR "/tools/example/python",
	    env.dir);
	memset(r, 0, sizeof(*r));
	return fs_test_run(r, argv, envx, NULL, 30000);
}

/* flows_pb2.py into the scratch dir. Returns 1 when it is there. */
static int
gen_pb(void)
{
	fs_test_run_result r;
	char *protoc[] = {(char *) PROTOC, (char *) "--python_out", env.dir,
	    (char *) "-I", (char *) FLOWSVC_SOURCE_DIR "/proto",
	    (char *) FLOWSVC_SOURCE_DIR "/proto/flows.proto", NULL};
	int ok;

	memset(&r, 0, sizeof(r));
	ok = FS_CHECK(fs_test_run(&r, protoc, NULL, NULL, 30000) == 0 &&
	        r.exit_code == 0,
	    "protoc --python_out: exit %d %s", r.exit_code,
	    r.err ? r.err : "");
	fs_test_run_result_free(&r);
	return ok;
}

static void
test_python_example(void)
{
	fs_test_run_result r = {0};

	if (!gen_pb())
		return;

	/* The whole session: create, get, find by name and group in any
	 * case, list, delete. */
	if (FS_CHECK(run_example(&r, env.backend_url, "py_greeting") == 0 &&
	            r.exit_code == 0,
	        "example.py: exit %d, %s", r.exit_code, r.err ? r.err : "")) {
		char id[64] = "";
		CU_ASSERT(sscanf(r.out, "created %63s", id) == 1);
		CU_ASSERT(strstr(r.out,
		              "name=py_greeting group=py_examples "
		              "version=1 input=caller "
		              "output=intent,confidence\n") != NULL);
		char want[192];
		snprintf(want, sizeof(want),
		    "found %s\nlisted 1\ndeleted %s\n", id, id);
		FS_CHECK(strstr(r.out, want) != NULL, "output: %s", r.out);
	}
	fs_test_run_result_free(&r);

	/* A validation error: the backend's code and field message. */
	if (FS_CHECK(run_example(&r, env.backend_url, "not valid") == 0,
	        "example.py runs")) {
		CU_ASSERT_EQUAL(r.exit_code, 1);
		FS_CHECK(r.err != NULL &&
		        strstr(r.err, "INVALID_ARGUMENT") != NULL &&
		        strstr(r.err, "  name: Invalid flow name.") != NULL,
		    "stderr: %s", r.err ? r.err : "");
	}
	fs_test_run_result_free(&r);

	/* Nothing listening: UNAVAILABLE at once, exit 3. */
	char dead[64];
	snprintf(dead, sizeof(dead), "tcp://127.0.0.1:%d",
	    fs_test_free_port());
	if (FS_CHECK(run_example(&r, dead, "x") == 0, "example.py runs")) {
		CU_ASSERT_EQUAL(r.exit_code, 3);
		FS_CHECK(r.err != NULL && strstr(r.err, "UNAVAILABLE") != NULL,
		    "stderr: %s", r.err ? r.err : "");
	}
	fs_test_run_result_free(&r);
}

/* ---- watch.py ------------------------------------------------------------ */

#define PY_PATH "PYTHONPATH=%s:" FLOWSVC_SOURCE_DIR "/tools/example/python"
#define WATCH_PY FLOWSVC_SOURCE_DIR "/tools/example/python/watch.py"

/* A change the watcher must print: its revision, type, id. */
struct pywant {
	uint64_t rev;
	const char *type;
	char id[FS_UUID_STRLEN + 1];
};

static void
test_python_watch(void)
{
	char pypath[2 * PATH_MAX + 32], log[PATH_MAX + 32], line[256];
	char *argv[] = {(char *) "env", pypath, (char *) PYTHON3,
	    (char *) WATCH_PY, env.backend_url, (char *) "--group",
	    (char *) "PY_WATCH", (char *) "--count", (char *) "8", NULL};
	struct pywant want[8];
	fs_test_proc p;
	char *out = NULL;
	char other[FS_UUID_STRLEN + 1], before[FS_UUID_STRLEN + 1];
	int n = 0;

	memset(&p, 0, sizeof(p));
	if (!gen_pb())
		return;
	snprintf(pypath, sizeof(pypath), PY_PATH, env.dir);
	snprintf(log, sizeof(log), "%s/watch_py.log", env.dir);
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "py_w0",
	    "py_watch", NULL, 0, NULL, before, NULL));
	uint64_t r0 = fs_tw_revision(env.client);
	if (!FS_CHECK(fs_test_proc_start(&p, "watch.py", "/usr/bin/env", argv,
	                  log) == 0,
	        "start watch.py"))
		return;
	/* It listed, and waits in the backend. */
	FS_CHECK(fs_tw_wait_parked(env.client, 1, 20000) == 0,
	    "watch.py never waited in the backend");

#define PY_CHANGE(call, t, idv)                                               \
	do {                                                                  \
		uint64_t rev_ = 0;                                            \
		if (FS_ASSERT_OK(call) && n < 8) {                            \
			want[n].rev = rev_;                                   \
			want[n].type = (t);                                   \
			snprintf(want[n].id, sizeof(want[n].id), "%s",        \
			    (idv));                                           \
			n++;                                                  \
		}                                                             \
	} while (0)
	char a[FS_UUID_STRLEN + 1], c[FS_UUID_STRLEN + 1];
	PY_CHANGE(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "py_wa",
	              "py_watch", NULL, 0, NULL, a, &rev_),
	    "added", a);
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "py_wo",
	    "py_other", NULL, 0, NULL, other, NULL));
	PY_CHANGE(fs_tw_update(env.client, a, "x", &rev_), "modified", a);
	PY_CHANGE(fs_tw_change(env.client, FLOWSVC__METHOD__DEPLOY, a, &rev_),
	    "status", a);
	/* Printed, and waiting again: then the backend dies under it. */
	FS_CHECK(fs_tw_wait_parked(env.client, 1, 20000) == 0,
	    "watch.py not waiting before the kill");
	fs_env_stop_backend(&env, SIGKILL);
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "restart"))
		goto out;
	PY_CHANGE(fs_tw_update(env.client, a, "y", &rev_), "modified", a);
	FS_ASSERT_OK(fs_tw_update(env.client, other, "y", NULL));
	PY_CHANGE(fs_tw_change(env.client, FLOWSVC__METHOD__STOP, a, &rev_),
	    "status", a);
	PY_CHANGE(fs_tw_create(env.client, FLOWSVC__KIND__APP, "py_wc",
	              "Py_Watch", NULL, 0, NULL, c, &rev_),
	    "added", c);
	PY_CHANGE(fs_tw_change(env.client, FLOWSVC__METHOD__DELETE, a, &rev_),
	    "deleted", a);
	PY_CHANGE(fs_tw_change(env.client, FLOWSVC__METHOD__DELETE, c, &rev_),
	    "deleted", c);
#undef PY_CHANGE

	/* --count 8: it ends by itself once it printed them. */
	int64_t until = fs_test_now_ms() + 30000;
	while (fs_test_proc_alive(&p) && fs_test_now_ms() < until)
		fs_test_poll_pause(20);
	out = fs_file_read(log, NULL);
	FS_CHECK(!fs_test_proc_alive(&p) && fs_test_exited_zero(p.status),
	    "watch.py still running or failed (0x%x); it printed: %s",
	    p.status, out != NULL ? out : "");
	if (out == NULL || !FS_ASSERT_INT_EQ(n, 8))
		goto out;
	snprintf(line, sizeof(line), "listed 1 at revision %llu\n",
	    (unsigned long long) r0);
	FS_CHECK(strstr(out, line) == out, "output: %s", out);
	/* Each change once, in order, nothing of the other group. */
	const char *at = out;
	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "\n%llu %s %s %s ",
		    (unsigned long long) want[i].rev, want[i].type,
		    strcmp(want[i].id, c) == 0 ? "app" : "flow", want[i].id);
		const char *hit = strstr(at, line);
		if (!FS_CHECK(hit != NULL,
		        "change %d (%s at %llu of %s) not printed in order: "
		        "%s",
		        i, want[i].type, (unsigned long long) want[i].rev,
		        want[i].id, out))
			break;
		at = hit + 1;
	}
	FS_CHECK(strstr(out, other) == NULL && strstr(out, before) == NULL,
	    "output: %s", out);
	int lines = 0;
	for (const char *l = out; l != NULL && *l != '\0';
	     l = strchr(l, '\n') != NULL ? strchr(l, '\n') + 1 : NULL)
		lines += *l >= '0' && *l <= '9';
	FS_CHECK(lines == 8, "%d changes printed: %s", lines, out);
	FS_CHECK(strstr(out, "watch.py: UNAVAILABLE") != NULL,
	    "the lost backend not said: %s", out);
out:
	free(out);
	if (p.pid != 0)
		fs_test_proc_stop(&p, SIGKILL, FS_TEST_STOP_TIMEOUT_MS);
}

static void
test_python_watch_out_of_range(void)
{
	char pypath[2 * PATH_MAX + 32], since[32];
	char *argv[] = {(char *) PYTHON3, (char *) WATCH_PY, env.backend_url,
	    (char *) "--since", since, NULL};
	char *envx[] = {pypath, NULL};
	fs_test_run_result r;

	memset(&r, 0, sizeof(r));
	if (!gen_pb())
		return;
	snprintf(pypath, sizeof(pypath), PY_PATH, env.dir);
	snprintf(since, sizeof(since), "%llu",
	    (unsigned long long) (fs_tw_revision(env.client) + 100));
	if (FS_CHECK(fs_test_run(&r, argv, envx, NULL, 30000) == 0,
	        "watch.py runs")) {
		FS_ASSERT_INT_EQ(r.exit_code, 4);
		FS_CHECK(r.err != NULL &&
		        strstr(r.err, "watch.py: OUT_OF_RANGE: Revision ") ==
		            r.err &&
		        strstr(r.err, "is in the future") != NULL,
		    "stderr: %s", r.err ? r.err : "");
	}
	fs_test_run_result_free(&r);
}

static int
suite_init(void)
{
	if (fs_env_init(&env, "python") != 0 ||
	    fs_env_start_backend(&env) != 0)
		return -1;
	return 0;
}

static int
suite_fini(void)
{
	return fs_env_fini(&env) == 0 ? 0 : -1;
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"the Python example creates, gets, lists and deletes",
	        test_python_example},
	    {"watch.py lists, then watches, and resumes across kill -9",
	        test_python_watch},
	    {"watch.py: OUT_OF_RANGE is exit 4",
	        test_python_watch_out_of_range},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"python example", suite_init, suite_fini, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
