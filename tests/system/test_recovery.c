/*
 * test_recovery.c - the backend going away and coming back: the gateway
 * answers 503 promptly and recovers by itself (CONTRACT §2 503 row), state
 * survives SIGTERM and kill -9 (§4), a request that outlived its deadline
 * is not executed late (flows.proto, Request.deadline_unix_ms), and the
 * programs start, stop and refuse to start as §6 says.
 *
 * The tests run in order and share one backend and gateway; the gateway
 * has a short --rpc-timeout so that "promptly" can be measured.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fs_util.h"
#include "testlib.h"

#define RPC_TIMEOUT_MS 1000
/* Slack for a loaded two-core machine under ASan. */
#define PROMPT_SLACK_MS 1500
#define RECOVER_MS 15000

static fs_test_env env;
static char kept_id[64];
static json_t *kept_body;

static const char *const UNAVAILABLE =
    "{\"detail\": \"Service unavailable.\"}";

static int
suite_init(void)
{
	if (fs_env_init(&env, "recovery") != 0) {
		return -1;
	}
	env.rpc_timeout_ms = RPC_TIMEOUT_MS;
	return fs_env_start_programs(&env);
}

static int
suite_fini(void)
{
	json_decref(kept_body);
	return fs_env_fini(&env);
}

static int
exited_zero(int st)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Polls GET path until it answers want, at most ms. Returns the status of
 * the last answer. */
static int
poll_until(const char *path, int want, int ms, json_t **body)
{
	int64_t deadline = fs_test_now_ms() + ms;
	int status = 0;

	while (fs_test_now_ms() < deadline) {
		fs_http_resp r;
		fs_rest(&env, "GET", path, NULL, &r);
		status = r.status;
		if (status == want) {
			if (body != NULL) {
				*body = json_incref(r.json);
			}
			fs_http_resp_free(&r);
			break;
		}
		fs_http_resp_free(&r);
		fs_test_poll_pause(50);
	}
	return status;
}

static void
test_backend_sigterm_gives_503(void)
{
	fs_http_resp r;
	int st;

	if (FS_REST_CREATE(&env, "flows",
	        "{\"name\": \"survivor\", \"input_fields\": [\"a\"]}",
	        kept_id) != 0) {
		return;
	}
	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", kept_id);
	if (FS_ASSERT_STATUS(&r, 200)) {
		kept_body = json_incref(r.json);
	}
	fs_http_resp_free(&r);

	st = fs_env_stop_backend(&env, SIGTERM);
	FS_CHECK(exited_zero(st),
	    "flow-service did not exit 0 on SIGTERM (wait status 0x%x)", st);

	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", kept_id);
	FS_ASSERT_ERROR(&r, 503, UNAVAILABLE);
	FS_CHECK(r.elapsed_ms <= RPC_TIMEOUT_MS + PROMPT_SLACK_MS,
	    "503 took %lld ms with --rpc-timeout %d", (long long) r.elapsed_ms,
	    RPC_TIMEOUT_MS);
	fs_http_resp_free(&r);

	fs_rest(&env, "POST", "/api/flows/", "{\"name\": \"while_down\"}", &r);
	FS_ASSERT_ERROR(&r, 503, UNAVAILABLE);
	FS_CHECK(r.elapsed_ms <= RPC_TIMEOUT_MS + PROMPT_SLACK_MS,
	    "503 took %lld ms", (long long) r.elapsed_ms);
	fs_http_resp_free(&r);

	fs_rest(&env, "GET", "/readyz", NULL, &r);
	FS_ASSERT_STATUS(&r, 503);
	fs_http_resp_free(&r);
	fs_rest(&env, "GET", "/healthz", NULL, &r);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);
	FS_CHECK(fs_test_proc_alive(&env.gateway),
	    "the gateway died with the backend");
}

static void
test_restart_recovers(void)
{
	json_t *body = NULL;
	fs_http_resp r;
	int status;

	if (!FS_CHECK(fs_env_start_backend(&env) == 0,
	        "flow-service did not restart on %s", env.backend_url)) {
		return;
	}
	/* The gateway reconnects by itself; nobody restarts it. */
	status = poll_until("/readyz", 200, RECOVER_MS, NULL);
	FS_CHECK(status == 200, "/readyz still %d after %d ms", status,
	    RECOVER_MS);
	if (kept_id[0] == '\0') {
		return;
	}
	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", kept_id);
	if (FS_ASSERT_STATUS(&r, 200)) {
		body = json_incref(r.json);
	}
	fs_http_resp_free(&r);
	/* What was acknowledged before SIGTERM is all there, unchanged. */
	if (body != NULL && kept_body != NULL) {
		FS_ASSERT_JSON_SAME(body, kept_body);
	}
	json_decref(body);
	fs_rest(&env, "GET", "/api/flows/?name__iexact=while_down", NULL, &r);
	FS_ASSERT_ERROR(&r, 200, "[]");
	fs_http_resp_free(&r);
}

static void
test_sigint_is_clean_too(void)
{
	int st = fs_env_stop_backend(&env, SIGINT);

	FS_CHECK(exited_zero(st),
	    "flow-service did not exit 0 on SIGINT (wait status 0x%x)", st);
	FS_CHECK(fs_env_start_backend(&env) == 0, "restart after SIGINT");
	FS_CHECK(poll_until("/readyz", 200, RECOVER_MS, NULL) == 200,
	    "gateway not ready again after SIGINT restart");
}

#define KILL9_FLOWS 20

static void
test_kill9_loses_nothing(void)
{
	char ids[KILL9_FLOWS][64];
	char body[128];
	fs_http_resp r;
	int i, st;

	for (i = 0; i < KILL9_FLOWS; i++) {
		snprintf(body, sizeof(body), "{\"name\": \"k9_%d\"}", i);
		if (FS_REST_CREATE(&env, "flows", body, ids[i]) != 0) {
			return;
		}
	}
	fs_restf(&env, "PUT", "{\"output_fields\": [\"kept\"]}", &r,
	    "/api/flows/%s/", ids[3]);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);
	fs_restf(&env, "DELETE", NULL, &r, "/api/flows/%s/", ids[5]);
	FS_ASSERT_STATUS(&r, 204);
	fs_http_resp_free(&r);
	fs_restf(&env, "POST", NULL, &r, "/api/apps/%s/deploy/", ids[7]);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);

	st = fs_env_stop_backend(&env, SIGKILL);
	FS_CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	    "flow-service was not killed (wait status 0x%x)", st);
	if (!FS_CHECK(fs_env_start_backend(&env) == 0,
	        "flow-service did not start after kill -9")) {
		return;
	}
	FS_CHECK(poll_until("/readyz", 200, RECOVER_MS, NULL) == 200,
	    "gateway not ready after kill -9 restart");
	for (i = 0; i < KILL9_FLOWS; i++) {
		fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", ids[i]);
		if (i == 5) {
			FS_ASSERT_STATUS(&r, 404);
		} else if (FS_ASSERT_STATUS(&r, 200)) {
			FS_ASSERT_INT_EQ(fs_json_int(r.json, "version"),
			    i == 3 ? 2 : 1);
			if (i == 3) {
				FS_ASSERT_JSON_EQ(json_object_get(r.json,
				                      "output_fields"),
				    "[\"kept\"]");
			}
		}
		fs_http_resp_free(&r);
	}
	fs_restf(&env, "GET", NULL, &r, "/api/apps/%s/status/", ids[7]);
	FS_ASSERT_ERROR(&r, 200, "{\"status\": \"started\"}");
	fs_http_resp_free(&r);
	/* The names are still taken: the indexes were rebuilt too. */
	fs_rest(&env, "POST", "/api/flows/", "{\"name\": \"K9_0\"}", &r);
	FS_ASSERT_ERROR(&r, 400,
	    "{\"name\": [\"A flow with this name "
	    "already exists in this group.\"]}");
	fs_http_resp_free(&r);
}

static void
test_hung_backend_times_out(void)
{
	fs_http_resp r;
	int64_t t0;

	if (!FS_CHECK(env.backend.pid > 0, "no backend")) {
		return;
	}
	/* A backend that is up but does not answer: the RPC deadline, not a
	 * refused connection, produces the 503. */
	if (!FS_CHECK(fs_test_proc_freeze(&env.backend, 5000) == 0,
	        "flow-service did not stop on SIGSTOP")) {
		fs_test_proc_cont(&env.backend);
		return;
	}
	t0 = fs_test_now_ms();
	fs_rest(&env, "POST", "/api/flows/", "{\"name\": \"queued_late\"}",
	    &r);
	FS_ASSERT_ERROR(&r, 503, UNAVAILABLE);
	FS_CHECK(r.elapsed_ms >= RPC_TIMEOUT_MS - 100 &&
	        r.elapsed_ms <= RPC_TIMEOUT_MS + PROMPT_SLACK_MS,
	    "503 after %lld ms, expected about %d", (long long) r.elapsed_ms,
	    RPC_TIMEOUT_MS);
	fs_http_resp_free(&r);
	fs_rest(&env, "GET", "/healthz", NULL, &r);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);
	/* Make sure the create's deadline has passed before the backend
	 * sees it. */
	while (fs_test_now_ms() < t0 + RPC_TIMEOUT_MS + 200) {
		fs_test_poll_pause(20);
	}
	fs_test_proc_cont(&env.backend);

	FS_CHECK(poll_until("/readyz", 200, RECOVER_MS, NULL) == 200,
	    "gateway not ready after SIGCONT");
	/* The create that waited in the socket past its deadline was
	 * answered DEADLINE_EXCEEDED by the backend, not executed late. */
	fs_rest(&env, "GET", "/api/flows/?name__iexact=queued_late", NULL, &r);
	FS_ASSERT_ERROR(&r, 200, "[]");
	fs_http_resp_free(&r);
	fs_rest(&env, "POST", "/api/flows/", "{\"name\": \"queued_late\"}",
	    &r);
	FS_ASSERT_STATUS(&r, 201);
	fs_http_resp_free(&r);
}

static void
test_refuses_to_start(void)
{
	fs_test_run_result res;
	char other[PATH_MAX + 16], file[PATH_MAX + 16], port[16];

	snprintf(other, sizeof(other), "%s/other-data", env.dir);
	snprintf(file, sizeof(file), "%s/not-a-dir", env.dir);
	{
		FILE *f = fopen(file, "w");
		if (f != NULL) {
			fputs("x\n", f);
			fclose(f);
		}
	}
	if (!FS_CHECK(mkdir(other, 0755) == 0, "mkdir %s", other)) {
		return;
	}
	{
		char *argv[] = {(char *) FLOW_SERVICE_BIN, (char *) "--listen",
		    env.backend_url, (char *) "--data-dir", other, NULL};
		fs_test_run(&res, argv, NULL, NULL, 15000);
		FS_CHECK(res.exit_code > 0 && res.exit_code < 128 &&
		        res.err_len > 0,
		    "a second flow-service on %s: exit %d, stderr \"%s\"",
		    env.backend_url, res.exit_code, res.err);
		fs_test_run_result_free(&res);
	}
	{
		char *argv[] = {(char *) FLOW_SERVICE_BIN, (char *) "--listen",
		    (char *) "tcp://127.0.0.1:0", (char *) "--data-dir", file,
		    NULL};
		fs_test_run(&res, argv, NULL, NULL, 15000);
		FS_CHECK(res.exit_code > 0 && res.exit_code < 128 &&
		        res.err_len > 0,
		    "flow-service with a file as data dir: exit %d, stderr "
		    "\"%s\"",
		    res.exit_code, res.err);
		fs_test_run_result_free(&res);
	}
	snprintf(port, sizeof(port), "%d", env.gw_port);
	{
		char *argv[] = {(char *) FLOW_GATEWAY_BIN, (char *) "--bind",
		    (char *) "127.0.0.1", (char *) "--port", port,
		    (char *) "--backend", env.backend_url, NULL};
		fs_test_run(&res, argv, NULL, NULL, 15000);
		FS_CHECK(res.exit_code > 0 && res.exit_code < 128 &&
		        res.err_len > 0,
		    "a second flow-gateway on port %s: exit %d, stderr \"%s\"",
		    port, res.exit_code, res.err);
		fs_test_run_result_free(&res);
	}
	{
		char *argv[] = {(char *) FLOW_SERVICE_BIN,
		    (char *) "--no-such-flag", NULL};
		fs_test_run(&res, argv, NULL, NULL, 15000);
		FS_CHECK(res.exit_code > 0 && res.exit_code < 128,
		    "flow-service --no-such-flag: exit %d", res.exit_code);
		fs_test_run_result_free(&res);
	}
	/* The running pair was not disturbed. */
	{
		fs_http_resp r;
		fs_rest(&env, "GET", "/readyz", NULL, &r);
		FS_ASSERT_STATUS(&r, 200);
		fs_http_resp_free(&r);
	}
}

static void
test_help(void)
{
	static const struct {
		const char *bin, *must;
	} progs[] = {
	    {FLOW_SERVICE_BIN, "--listen"},
	    {FLOW_SERVICE_BIN, "--data-dir"},
	    {FLOW_SERVICE_BIN, "--fsync"},
	    {FLOW_GATEWAY_BIN, "--port"},
	    {FLOW_GATEWAY_BIN, "--backend"},
	    {FLOW_GATEWAY_BIN, "--bind"},
	    {FLOW_GATEWAY_BIN, "--tokens"},
	};
	size_t i;

	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		fs_test_run_result res;
		char *argv[] = {(char *) progs[i].bin, (char *) "--help",
		    NULL};

		fs_test_run(&res, argv, NULL, NULL, 15000);
		FS_CHECK(res.exit_code == 0 &&
		        ((res.out && strstr(res.out, progs[i].must)) ||
		            (res.err && strstr(res.err, progs[i].must))),
		    "%s --help: exit %d, no mention of %s", progs[i].bin,
		    res.exit_code, progs[i].must);
		fs_test_run_result_free(&res);
	}
}

static CU_TestInfo tests[] = {
    {"backend stopped: 503 within the RPC timeout, /readyz 503",
        test_backend_sigterm_gives_503},
    {"backend restarted: gateway recovers, state kept", test_restart_recovers},
    {"SIGINT is a clean exit too", test_sigint_is_clean_too},
    {"kill -9 loses no acknowledged change", test_kill9_loses_nothing},
    {"hung backend: 503 at the deadline, late request not executed",
        test_hung_backend_times_out},
    {"programs refuse to start with a reason", test_refuses_to_start},
    {"programs' --help", test_help},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"recovery", suite_init, suite_fini, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
