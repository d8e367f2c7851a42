/*
 * test_python_example.c - tools/example/python against a real backend:
 * the wire documented for clients in other languages (envelope, SP over
 * TCP, deadlines, at most once) works from a client that shares no code
 * with ours.
 *
 * PYTHON3 and PROTOC come from CMake (Debian's /usr/bin/python3 with
 * python3-protobuf, and protoc from protobuf-compiler; tools/deps.sh
 * installs both). flows_pb2.py is generated into the test's scratch dir.
 */
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

static void
test_python_example(void)
{
	fs_test_run_result r;
	char *protoc[] = {(char *) PROTOC, (char *) "--python_out", env.dir,
	    (char *) "-I", (char *) FLOWSVC_SOURCE_DIR "/proto",
	    (char *) FLOWSVC_SOURCE_DIR "/proto/flows.proto", NULL};

	memset(&r, 0, sizeof(r));
	if (!FS_CHECK(fs_test_run(&r, protoc, NULL, NULL, 30000) == 0 &&
	            r.exit_code == 0,
	        "protoc --python_out: exit %d %s", r.exit_code,
	        r.err ? r.err : "")) {
		fs_test_run_result_free(&r);
		return;
	}
	fs_test_run_result_free(&r);

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
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"python example", suite_init, suite_fini, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
