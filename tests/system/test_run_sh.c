/*
 * test_run_sh.c - tools/run.sh as a newcomer meets it, on this build's
 * programs (NO_BUILD=1, BUILD_DIR of this build) with scratch ports and
 * data dir: once both programs answer it prints a banner with the REST,
 * OpenAPI and RPC addresses, where flowctl is and a command to try, and
 * how to stop; BACKEND_FLAGS reach flow-service and its arguments
 * flow-gateway; SIGINT (Ctrl-C) stops both cleanly (the backend writes
 * its snapshot) and run.sh exits 0. When an address is taken it says so
 * and suggests PORT= or BACKEND=; when a program stops before it answers
 * it says which, and stops the other.
 */
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs_opts.h"
#include "testlib.h"

#define RUN_SH FLOWSVC_SOURCE_DIR "/tools/run.sh"
#define BANNER_END "  stop      Ctrl-C"

static char scratch[PATH_MAX];
static char build_dir[PATH_MAX];

static int
suite_init(void)
{
	char *slash;

	/* FLOW_SERVICE_BIN is BUILD_DIR/service/flow-service. */
	snprintf(build_dir, sizeof(build_dir), "%s", FLOW_SERVICE_BIN);
	for (int i = 0; i < 2; i++) {
		if ((slash = strrchr(build_dir, '/')) == NULL)
			return -1;
		*slash = '\0';
	}
	return fs_test_mkdtemp(scratch, "flowsvc-run-sh");
}

static int
suite_fini(void)
{
	fs_test_scratch_done(scratch);
	return 0;
}

/* One run of run.sh: its output (stdout and stderr) in log. */
struct run {
	fs_test_proc p;
	char log[PATH_MAX + 64];
	char data[PATH_MAX + 64];
	int port, rpc_port;
	char backend[64];
};

/* Starts "env VAR=... bash tools/run.sh ARGS" with NO_BUILD=1, this
 * build, r->port and r->backend, a data dir of its own, and the extra
 * environment entries and arguments given (each list NULL-terminated).
 */
static int
run_start(struct run *r, const char *name, const char *const *envx,
    const char *const *args)
{
	char e_build[PATH_MAX + 16], e_port[32], e_backend[96];
	char e_data[PATH_MAX + 96];
	char *argv[32];
	int n = 0;

	snprintf(r->log, sizeof(r->log), "%s/%s.log", scratch, name);
	snprintf(r->data, sizeof(r->data), "%s/%s-data", scratch, name);
	snprintf(e_build, sizeof(e_build), "BUILD_DIR=%s", build_dir);
	snprintf(e_port, sizeof(e_port), "PORT=%d", r->port);
	snprintf(e_backend, sizeof(e_backend), "BACKEND=%s", r->backend);
	snprintf(e_data, sizeof(e_data), "DATA_DIR=%s", r->data);
	argv[n++] = (char *) "/usr/bin/env";
	argv[n++] = (char *) "NO_BUILD=1";
	argv[n++] = e_build;
	argv[n++] = e_port;
	argv[n++] = e_backend;
	argv[n++] = e_data;
	for (int i = 0; envx != NULL && envx[i] != NULL && n < 20; i++)
		argv[n++] = (char *) envx[i];
	argv[n++] = (char *) "/bin/bash";
	argv[n++] = (char *) RUN_SH;
	for (int i = 0; args != NULL && args[i] != NULL && n < 30; i++)
		argv[n++] = (char *) args[i];
	argv[n] = NULL;
	return fs_test_proc_start(&r->p, "run.sh", "/usr/bin/env", argv,
	    r->log);
}

static void
run_ports(struct run *r)
{
	r->port = fs_test_free_port();
	r->rpc_port = fs_test_free_port();
	snprintf(r->backend, sizeof(r->backend), "tcp://127.0.0.1:%d",
	    r->rpc_port);
}

/* Waits up to timeout_ms for text in the log, or for run.sh to exit.
 * Returns the log (caller frees) when text is there, else NULL. */
static char *
wait_for(struct run *r, const char *text, int timeout_ms)
{
	int64_t deadline = fs_test_now_ms() + timeout_ms;

	for (;;) {
		char *log = fs_file_read(r->log, NULL);
		if (log != NULL && strstr(log, text) != NULL)
			return log;
		free(log);
		if (!fs_test_proc_alive(&r->p) || fs_test_now_ms() > deadline)
			return NULL;
		fs_test_poll_pause(50);
	}
}

/* The programs run.sh started, by the pids their log lines name
 * ("flow-service[PID]"), killed if a failed test left them running. */
static void
kill_leftovers(const char *log)
{
	static const char *const names[] = {"flow-service[", "flow-gateway["};

	for (size_t i = 0; log != NULL && i < 2; i++) {
		const char *p = strstr(log, names[i]);
		long pid = p ? strtol(p + strlen(names[i]), NULL, 10) : 0;
		if (pid > 1 && kill((pid_t) pid, 0) == 0) {
			FS_CHECK(0, "%s%ld] still runs after run.sh", names[i],
			    pid);
			kill((pid_t) pid, SIGKILL);
		}
	}
}

static int
count(const char *s, const char *what)
{
	int n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += strlen(what);
	}
	return n;
}

/* Waits for run.sh to end by itself; returns its wait status. */
static int
run_wait(struct run *r, int timeout_ms)
{
	int64_t deadline = fs_test_now_ms() + timeout_ms;

	while (fs_test_proc_alive(&r->p) && fs_test_now_ms() < deadline)
		fs_test_poll_pause(50);
	if (fs_test_proc_alive(&r->p))
		return fs_test_proc_stop(&r->p, SIGKILL, 5000);
	return r->p.status;
}

static void
test_banner_and_ctrl_c(void)
{
	static const char *const envx[] =
	    {"BACKEND_FLAGS=--access-log --snapshot-interval 7", NULL};
	static const char *const args[] = {"--max-body", "4096", NULL};
	struct run r;
	char want[PATH_MAX + 128], *log, *p;
	char try_cmd[PATH_MAX + 128] = "", ctl_path[PATH_MAX] = "";
	char real_a[PATH_MAX], real_b[PATH_MAX];
	int st;

	run_ports(&r);
	if (!FS_CHECK(run_start(&r, "banner", envx, args) == 0, "start"))
		return;
	log = wait_for(&r, BANNER_END, 60000);
	if (!FS_CHECK(log != NULL, "no banner from run.sh within 60 s")) {
		fs_test_proc_stop(&r.p, SIGINT, 20000);
		fs_test_dump_log("run.sh", r.log, 40);
		log = fs_file_read(r.log, NULL);
		kill_leftovers(log);
		free(log);
		return;
	}
	/* The banner, line by line. */
	snprintf(want, sizeof(want), "  flowsvc %s is running; data in %s\n",
	    fs_opts_version(), r.data);
	FS_CHECK(strstr(log, want) != NULL, "banner lacks \"%s\"", want);
	snprintf(want, sizeof(want),
	    "  REST API  http://127.0.0.1:%d/api/flows/\n", r.port);
	FS_CHECK(strstr(log, want) != NULL, "banner lacks \"%s\"", want);
	snprintf(want, sizeof(want),
	    "  OpenAPI   http://127.0.0.1:%d/api/openapi.json\n", r.port);
	FS_CHECK(strstr(log, want) != NULL, "banner lacks \"%s\"", want);
	snprintf(want, sizeof(want), "  RPC       %s\n", r.backend);
	FS_CHECK(strstr(log, want) != NULL, "banner lacks \"%s\"", want);
	if ((p = strstr(log, "  flowctl   ")) != NULL)
		sscanf(p + 12, "%4095[^\n]", ctl_path);
	FS_CHECK(realpath(ctl_path, real_a) != NULL &&
	        realpath(FLOWCTL_BIN, real_b) != NULL &&
	        strcmp(real_a, real_b) == 0,
	    "banner's flowctl \"%s\" is not %s", ctl_path, FLOWCTL_BIN);
	if ((p = strstr(log, "  try       ")) != NULL)
		sscanf(p + 12, "%4223[^\n]", try_cmd);
	FS_CHECK(strstr(log,
	             BANNER_END
	             " (stops both; the backend writes a snapshot first)\n") !=
	        NULL,
	    "banner's last line");

	/* The flags went where they were meant to. */
	FS_CHECK(strstr(log, "access-log on)") != NULL &&
	        strstr(log, "max-body 4096,") != NULL,
	    "BACKEND_FLAGS to flow-service, arguments to flow-gateway:\n%s",
	    log);

	/* What the banner says works: the REST URL, and the command to
	 * try, as printed. */
	FS_CHECK(fs_http_status(r.port, "/api/flows/") == 200,
	    "GET /api/flows/ on the banner's port");
	{
		char *argv[8], *save = NULL, *w;
		fs_test_run_result res;
		int n = 0;

		for (w = strtok_r(try_cmd, " ", &save); w != NULL && n < 7;
		     w = strtok_r(NULL, " ", &save))
			argv[n++] = w;
		argv[n] = NULL;
		memset(&res, 0, sizeof(res));
		FS_CHECK(n == 4 &&
		        fs_test_run(&res, argv, NULL, NULL, 30000) == 0 &&
		        res.exit_code == 0,
		    "the banner's command to try (%d words): exit %d %s", n,
		    res.exit_code, res.err ? res.err : "");
		fs_test_run_result_free(&res);
	}
	free(log);

	/* Ctrl-C: both stop cleanly, the backend with a snapshot. */
	kill(r.p.pid, SIGINT);
	st = run_wait(&r, 30000);
	log = fs_file_read(r.log, NULL);
	FS_CHECK(fs_test_exited_zero(st), "run.sh after SIGINT: status 0x%x",
	    st);
	FS_CHECK(log != NULL && count(log, "] info: stopped\n") == 2 &&
	        strstr(log, "info: snapshot ") != NULL,
	    "both programs stopped cleanly:\n%s", log ? log : "");
	FS_CHECK(fs_http_status(r.port, "/healthz") == 0,
	    "the gateway still answers after run.sh stopped");
	FS_CHECK(fs_client_probe(r.backend, 2000) == FS_UNAVAILABLE,
	    "something still listens at %s", r.backend);
	kill_leftovers(log);
	free(log);
}

/* An address taken: said before anything starts, with another to use. */
static void
test_address_taken(void)
{
	struct run r;
	char want[160], *log;
	int taken, fd = fs_raw_listen(8, &taken), st;

	if (!FS_CHECK(fd >= 0, "listening socket"))
		return;

	run_ports(&r);
	r.port = taken;
	if (FS_CHECK(run_start(&r, "port-taken", NULL, NULL) == 0, "start")) {
		st = run_wait(&r, 30000);
		log = fs_file_read(r.log, NULL);
		snprintf(want, sizeof(want),
		    "run.sh: 127.0.0.1:%d is taken (something already "
		    "listens there): choose another port, e.g. PORT=%d "
		    "./tools/run.sh\n",
		    taken, taken + 1);
		FS_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1 && log &&
		        strstr(log, want) != NULL &&
		        strstr(log, "flow-service[") == NULL,
		    "PORT taken: status 0x%x, log:\n%s\nwant: %s", st,
		    log ? log : "", want);
		kill_leftovers(log);
		free(log);
	}

	run_ports(&r);
	snprintf(r.backend, sizeof(r.backend), "tcp://127.0.0.1:%d", taken);
	if (FS_CHECK(run_start(&r, "backend-taken", NULL, NULL) == 0,
	        "start")) {
		st = run_wait(&r, 30000);
		log = fs_file_read(r.log, NULL);
		snprintf(want, sizeof(want),
		    "run.sh: tcp://127.0.0.1:%d is taken (something already "
		    "listens there): choose another address, e.g. "
		    "BACKEND=tcp://127.0.0.1:%d ./tools/run.sh\n",
		    taken, taken + 1);
		FS_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1 && log &&
		        strstr(log, want) != NULL &&
		        strstr(log, "flow-service[") == NULL,
		    "BACKEND taken: status 0x%x, log:\n%s\nwant: %s", st,
		    log ? log : "", want);
		kill_leftovers(log);
		free(log);
	}
	close(fd);
}

/* A program that stops before it answers: run.sh says which and why to
 * look, stops the other, and exits 1. */
static void
test_start_failure(void)
{
	static const char *const bad_flag[] =
	    {"BACKEND_FLAGS=--fsync sometimes", NULL};
	struct run r, other;
	fs_test_proc holder;
	char *log, want[256];
	int st;

	run_ports(&r);
	if (FS_CHECK(run_start(&r, "bad-flag", bad_flag, NULL) == 0,
	        "start")) {
		st = run_wait(&r, 30000);
		log = fs_file_read(r.log, NULL);
		FS_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1 && log &&
		        strstr(log,
		            "run.sh: flow-service refused its flags "
		            "(see above and flow-service --help; "
		            "BACKEND_FLAGS holds the extra ones)\n") != NULL,
		    "a bad BACKEND_FLAGS: status 0x%x, log:\n%s", st,
		    log ? log : "");
		kill_leftovers(log);
		free(log);
	}

	/* The data dir held by another backend: flow-service exits 1. */
	run_ports(&other);
	snprintf(other.data, sizeof(other.data), "%s/held-data", scratch);
	snprintf(other.log, sizeof(other.log), "%s/holder.log", scratch);
	if (!FS_CHECK(mkdir(other.data, 0755) == 0, "mkdir"))
		return;
	{
		char *argv[] = {(char *) FLOW_SERVICE_BIN, (char *) "--listen",
		    other.backend, (char *) "--data-dir", other.data, NULL};
		if (!FS_CHECK(fs_test_proc_start(&holder, "flow-service",
		                  FLOW_SERVICE_BIN, argv, other.log) == 0,
		        "start the holder"))
			return;
	}
	{
		/* Until the holder serves (it has the lock by then). */
		int64_t deadline = fs_test_now_ms() + FS_TEST_START_TIMEOUT_MS;
		while (fs_file_count(other.log, "serving on") == 0 &&
		    fs_test_now_ms() < deadline)
			fs_test_poll_pause(20);
	}
	if (!FS_CHECK(fs_file_count(other.log, "serving on") == 1,
	        "the holder serves")) {
		fs_test_proc_stop(&holder, SIGKILL, 5000);
		return;
	}
	run_ports(&r);
	{
		char e_data[PATH_MAX + 96];
		const char *envx[] = {e_data, NULL};

		/* run_start sets DATA_DIR first; a later one wins (env). */
		snprintf(e_data, sizeof(e_data), "DATA_DIR=%s", other.data);
		if (FS_CHECK(run_start(&r, "dir-held", envx, NULL) == 0,
		        "start")) {
			st = run_wait(&r, 30000);
			log = fs_file_read(r.log, NULL);
			snprintf(want, sizeof(want),
			    "run.sh: flow-service exited with status 1 before "
			    "it was ready (its reason is above). If its "
			    "address is taken, choose another: "
			    "BACKEND=tcp://127.0.0.1:%d ./tools/run.sh\n",
			    r.rpc_port + 1);
			FS_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1 &&
			        log &&
			        strstr(log,
			            "is in use by another "
			            "flow-service") != NULL &&
			        strstr(log, want) != NULL &&
			        strstr(log, "] info: stopped\n") != NULL,
			    "a data dir in use: status 0x%x, log:\n%s\nwant: "
			    "%s",
			    st, log ? log : "", want);
			kill_leftovers(log);
			free(log);
		}
	}
	st = fs_test_proc_stop(&holder, SIGTERM, FS_TEST_STOP_TIMEOUT_MS);
	FS_CHECK(fs_test_exited_zero(st), "holder exit 0x%x", st);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"banner when ready; flags; Ctrl-C stops both",
	        test_banner_and_ctrl_c},
	    {"an address taken: said, with another to use",
	        test_address_taken},
	    {"a program that does not start: said, the other stopped",
	        test_start_failure},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"run_sh", suite_init, suite_fini, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
