/* Packaging: `cmake --install` of this build into a scratch prefix puts the
 * programs, libflowsvc.a, its headers, flowsvc.pc and the systemd units in
 * place; the library and its headers are the client half only (no RPC
 * server, no log, no option parser: those are the programs');
 * tools/example/example_client.c compiles with nothing but the
 * installed tree and `pkg-config --cflags --libs flowsvc`, and runs against
 * a real backend. The build and source directories are found from the
 * program paths and this file's path, so no extra configuration is needed:
 * `cmake`, `cc` and `pkg-config` come from PATH. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "testlib.h"

/* The example must be compiled like the library it links (this test is
 * built with the same flags as libflowsvc.a). */
#if defined(__SANITIZE_ADDRESS__)
#define SAN_FLAGS "-fsanitize=address,undefined"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SAN_FLAGS "-fsanitize=address,undefined"
#endif
#endif
#ifndef SAN_FLAGS
#define SAN_FLAGS ""
#endif

#define STEP_TIMEOUT_MS 180000

static int
dir_of(const char *path, int levels, char out[PATH_MAX])
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int) sizeof(buf) ||
	    realpath(buf, out) == NULL)
		return -1;
	while (levels-- > 0) {
		char *d = dirname(out);
		memmove(out, d, strlen(d) + 1);
	}
	return 0;
}

static void
report_run(const char *what, const fs_test_run_result *r)
{
	fprintf(stderr, "--- %s: exit %d\nstdout:\n%s\nstderr:\n%s\n---\n",
	    what, r->exit_code, r->out ? r->out : "", r->err ? r->err : "");
}

/* libflowsvc.a defines the client (fs_client_open, the method table) and
 * none of the server, log or option code. */
static void
check_client_only(const char *prefix)
{
	static const char *const server[] = {"fs_server_open",
	    "fs_server_open_opts", "fs_srv_reply", "fs_log", "fs_log_event",
	    "fs_opts_parse"};
	fs_test_run_result r;
	char cmd[PATH_MAX + 64];

	memset(&r, 0, sizeof(r));
	snprintf(cmd, sizeof(cmd),
	    "nm -g --defined-only '%s/lib/libflowsvc.a'", prefix);
	{
		char *argv[] = {(char *) "/bin/sh", (char *) "-c", cmd, NULL};
		if (!FS_CHECK(fs_test_run(&r, argv, NULL, NULL,
		                  STEP_TIMEOUT_MS) == 0 &&
		            r.exit_code == 0 && r.out != NULL,
		        "%s", cmd)) {
			report_run("nm", &r);
			fs_test_run_result_free(&r);
			return;
		}
	}
	FS_CHECK(strstr(r.out, " T fs_client_open\n") != NULL &&
	        strstr(r.out, " T fs_method\n") != NULL,
	    "libflowsvc.a lacks the client");
	for (size_t i = 0; i < sizeof(server) / sizeof(server[0]); i++) {
		char sym[64];
		snprintf(sym, sizeof(sym), " T %s\n", server[i]);
		FS_CHECK(strstr(r.out, sym) == NULL,
		    "libflowsvc.a defines %s: internal services would link "
		    "server code",
		    server[i]);
	}
	fs_test_run_result_free(&r);
}

static void
test_install_tree_and_example_client(void)
{
	fs_test_env env;
	fs_test_run_result r;
	char build_dir[PATH_MAX], src_dir[PATH_MAX], prefix[PATH_MAX + 16];
	char path[PATH_MAX + 128], pcpath[PATH_MAX + 64], exe[PATH_MAX + 32];
	char cmd[4 * PATH_MAX];
	char id[64], id2[64];
	static const char *const files[] = {"bin/flow-service",
	    "bin/flow-gateway", "bin/flowctl", "bin/flow-check",
	    "lib/libflowsvc.a", "include/flowsvc/fs_rpc.h",
	    "include/flowsvc/fs_errors.h", "include/flowsvc/fs_util.h",
	    "include/flowsvc/flows.pb-c.h", "include/flowsvc/fs_methods.h",
	    "include/flowsvc/fs_pbwire.h", "lib/pkgconfig/flowsvc.pc",
	    "lib/systemd/system/flow-service.service",
	    "lib/systemd/system/flow-gateway.service",
	    "share/flowsvc/openapi.json", "share/flowsvc/flows.proto"};
	/* The programs' half stays out of the installed tree. */
	static const char *const absent[] = {"include/flowsvc/fs_rpc_server.h",
	    "include/flowsvc/fs_log.h", "include/flowsvc/fs_opts.h"};
	static const char *const hardening[] = {"DynamicUser=yes",
	    "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
	    "ProtectHome=yes", "CapabilityBoundingSet="};

	memset(&r, 0, sizeof(r));
	if (!FS_CHECK(fs_env_init(&env, "install") == 0, "scratch dir"))
		return;
	/* build-dir/service/flow-service; source-dir/tests/system/this.c */
	if (!FS_CHECK(dir_of(FLOW_SERVICE_BIN, 2, build_dir) == 0 &&
	            dir_of(__FILE__, 3, src_dir) == 0,
	        "build dir from %s, source dir from %s", FLOW_SERVICE_BIN,
	        __FILE__))
		goto out;
	snprintf(prefix, sizeof(prefix), "%s/prefix", env.dir);

	/* cmake --install */
	{
		char *argv[] = {(char *) "/usr/bin/env", (char *) "cmake",
		    (char *) "--install", build_dir, (char *) "--prefix",
		    prefix, NULL};
		if (!FS_CHECK(fs_test_run(&r, argv, NULL, NULL,
		                  STEP_TIMEOUT_MS) == 0 &&
		            r.exit_code == 0,
		        "cmake --install %s --prefix %s exits 0", build_dir,
		        prefix)) {
			report_run("cmake --install", &r);
			goto out;
		}
		fs_test_run_result_free(&r);
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", prefix, files[i]);
		FS_CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		        (strncmp(files[i], "bin/", 4) != 0 ||
		            access(path, X_OK) == 0),
		    "installed: %s", files[i]);
	}
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", prefix, absent[i]);
		FS_CHECK(stat(path, &st) != 0,
		    "installed, but the server's: %s", absent[i]);
	}
	check_client_only(prefix);
	for (int u = 0; u < 2; u++) {
		snprintf(path, sizeof(path), "%s/lib/systemd/system/%s",
		    prefix,
		    u ? "flow-gateway.service" : "flow-service.service");
		for (size_t i = 0;
		     i < sizeof(hardening) / sizeof(hardening[0]); i++)
			FS_CHECK(fs_file_count(path, hardening[i]),
			    "%s has %s", path, hardening[i]);
		FS_CHECK(u || fs_file_count(path, "StateDirectory=flowsvc"),
		    "flow-service.service keeps its data in StateDirectory");
	}

	/* The example, from the installed tree only. */
	snprintf(pcpath, sizeof(pcpath), "PKG_CONFIG_PATH=%s/lib/pkgconfig",
	    prefix);
	snprintf(exe, sizeof(exe), "%s/example_client", env.dir);
	snprintf(cmd, sizeof(cmd),
	    "cc -std=c11 -Wall -Wextra -Werror %s -o '%s' "
	    "'%s/tools/example/example_client.c' "
	    "$(pkg-config --cflags --libs flowsvc)",
	    SAN_FLAGS, exe, src_dir);
	{
		char *argv[] = {(char *) "/bin/sh", (char *) "-c", cmd, NULL};
		char *envx[] = {pcpath, NULL};
		if (!FS_CHECK(fs_test_run(&r, argv, envx, NULL,
		                  STEP_TIMEOUT_MS) == 0 &&
		            r.exit_code == 0,
		        "%s compiles", cmd)) {
			report_run("cc", &r);
			goto out;
		}
		fs_test_run_result_free(&r);
	}

	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend"))
		goto out;
	{
		char *argv[] = {exe, env.backend_url,
		    (char *) "install_example", NULL};
		char expect[256];
		const char *line2;
		if (!FS_CHECK(fs_test_run(&r, argv, NULL, NULL,
		                  STEP_TIMEOUT_MS) == 0 &&
		            r.exit_code == 0,
		        "example_client exits 0")) {
			report_run("example_client", &r);
			goto out;
		}
		id[0] = id2[0] = '\0';
		FS_CHECK(sscanf(r.out, "created %63s", id) == 1 &&
		        fs_is_lower_uuid(id),
		    "first line names the new id: %s", r.out);
		line2 = strchr(r.out, '\n');
		snprintf(expect, sizeof(expect),
		    "name=install_example group=default version=1 "
		    "input=caller "
		    "output=intent,confidence created_at=");
		FS_CHECK(line2 != NULL &&
		        strncmp(line2 + 1, expect, strlen(expect)) == 0,
		    "second line prints the flow: %s", r.out);
		line2 = line2 ? strchr(line2 + 1, '\n') : NULL;
		FS_CHECK(line2 != NULL &&
		        sscanf(line2 + 1, "deleted %63s", id2) == 1 &&
		        strcmp(id, id2) == 0,
		    "third line names the deleted id: %s", r.out);
		fs_test_run_result_free(&r);
	}
	/* It really went through the backend: the flow is gone again, and the
	 * backend counted one create and one delete. */
	{
		Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;
		Flowsvc__Reply *reply = NULL;
		g.id = id;
		FS_ASSERT_CODE(fs_client_call(env.client, FLOWSVC__METHOD__GET,
		                   &g.base, NULL, &reply),
		    FS_NOT_FOUND, reply);
		if (reply != NULL)
			flowsvc__reply__free_unpacked(reply, NULL);
	}
	{
		Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
		Flowsvc__Reply *reply = NULL;
		uint64_t creates = 0, deletes = 0;
		if (FS_ASSERT_OK(fs_client_call(env.client,
		        FLOWSVC__METHOD__STATS, &e.base, NULL, &reply))) {
			Flowsvc__StatsReply *st =
			    (Flowsvc__StatsReply *) fs_reply_payload(reply,
			        &flowsvc__stats_reply__descriptor);
			for (size_t i = 0; st != NULL && i < st->n_requests;
			     i++) {
				if (st->requests[i]->method ==
				        FLOWSVC__METHOD__CREATE &&
				    st->requests[i]->code == FLOWSVC__CODE__OK)
					creates += st->requests[i]->count;
				if (st->requests[i]->method ==
				        FLOWSVC__METHOD__DELETE &&
				    st->requests[i]->code == FLOWSVC__CODE__OK)
					deletes += st->requests[i]->count;
			}
			if (st != NULL)
				flowsvc__stats_reply__free_unpacked(st, NULL);
		}
		if (reply != NULL)
			flowsvc__reply__free_unpacked(reply, NULL);
		FS_CHECK(creates == 1 && deletes == 1,
		    "backend counted %llu creates, %llu deletes",
		    (unsigned long long) creates,
		    (unsigned long long) deletes);
	}
	/* The installed flowctl talks to the backend too. */
	{
		char bin[PATH_MAX + 32];
		snprintf(bin, sizeof(bin), "%s/bin/flowctl", prefix);
		char *argv[] = {bin, (char *) "--backend", env.backend_url,
		    (char *) "health", NULL};
		FS_CHECK(fs_test_run(&r, argv, NULL, NULL, STEP_TIMEOUT_MS) ==
		            0 &&
		        r.exit_code == 0,
		    "installed flowctl health exits 0 (got %d)", r.exit_code);
		fs_test_run_result_free(&r);
	}
	/* No backend: exit 3 and a message, not a hang. */
	{
		char url[64];
		int port = fs_test_free_port();
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
		char *argv[] = {exe, url, (char *) "nobody", NULL};
		FS_CHECK(fs_test_run(&r, argv, NULL, NULL, STEP_TIMEOUT_MS) ==
		            0 &&
		        r.exit_code == 3 &&
		        strstr(r.err, "UNAVAILABLE") != NULL,
		    "example_client without a backend exits 3 (got %d: %s)",
		    r.exit_code, r.err ? r.err : "");
		fs_test_run_result_free(&r);
	}

out:
	fs_test_run_result_free(&r);
	FS_CHECK(fs_env_fini(&env) == 0, "backend exits 0 on SIGTERM");
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"install tree, pkg-config and the example client",
	        test_install_tree_and_example_client},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"install", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
