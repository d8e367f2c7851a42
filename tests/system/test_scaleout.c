/* Scale-out: one backend over tcp:// and three gateways on their own ports.
 * Changes made through one gateway are seen at once through the other two
 * (no gateway keeps state of its own), and stopping one gateway leaves the
 * others serving. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <CUnit/Basic.h>

#include "testlib.h"

#define NGW 3

struct gw {
	int port;
	fs_test_proc proc; /* unused for gateway 0: that one is env.gateway */
};

static int
status_of(int port, const char *path)
{
	fs_http_resp r;
	int st;

	memset(&r, 0, sizeof(r));
	(void) fs_http_once(port, "GET", path, NULL, NULL, 0, &r);
	st = r.status;
	fs_http_resp_free(&r);
	return st;
}

/* Starts one more gateway on env's backend and waits until /readyz says
 * the backend answers it. */
static int
start_extra_gateway(fs_test_env *env, struct gw *g, int idx)
{
	char log_path[PATH_MAX + 32], port[16];
	char *argv[] = {(char *) FLOW_GATEWAY_BIN, (char *) "--bind",
	    (char *) "127.0.0.1", (char *) "--port", port,
	    (char *) "--backend", env->backend_url, NULL};
	int64_t deadline;

	g->port = fs_test_free_port();
	if (g->port < 0)
		return -1;
	snprintf(port, sizeof(port), "%d", g->port);
	snprintf(log_path, sizeof(log_path), "%s/flow-gateway-%d.log",
	    env->dir, idx);
	if (fs_test_proc_start(&g->proc, "flow-gateway", FLOW_GATEWAY_BIN,
	        argv, log_path) != 0)
		return -1;
	deadline = fs_test_now_ms() + FS_TEST_START_TIMEOUT_MS;
	while (fs_test_now_ms() < deadline) {
		if (!fs_test_proc_alive(&g->proc)) {
			fs_test_dump_log("extra gateway log", log_path, 40);
			return -1;
		}
		if (status_of(g->port, "/readyz") == 200)
			return 0;
		fs_test_poll_pause(20);
	}
	fs_test_dump_log("extra gateway log", log_path, 40);
	return -1;
}

/* GET path through gateway port; asserts the status; returns the parsed
 * body (caller decrefs) or NULL. */
static json_t *
get_json(int port, const char *path, int expected, int line)
{
	fs_http_resp r;
	json_t *j = NULL;

	memset(&r, 0, sizeof(r));
	if (fs_http_once(port, "GET", path, NULL, NULL, 0, &r) != 0)
		fs_check(0, __FILE__, line, "fs_http_once",
		    "GET %s on port %d: %s", path, port,
		    strerror(r.sys_errno));
	else if (fs_check_status(&r, expected, __FILE__, line) && r.json)
		j = json_incref(r.json);
	fs_http_resp_free(&r);
	return j;
}

static int
send_ok(int port, const char *method, const char *path, const char *body,
    int expected, int line)
{
	fs_http_resp r;
	int ok;

	memset(&r, 0, sizeof(r));
	ok = fs_http_once(port, method, path, NULL, body,
	         body ? (size_t) -1 : 0, &r) == 0 &&
	    fs_check_status(&r, expected, __FILE__, line);
	if (!ok && r.status == 0)
		fs_check(0, __FILE__, line, method, "%s %s on port %d: %s",
		    method, path, port, strerror(r.sys_errno));
	fs_http_resp_free(&r);
	return ok;
}

static void
test_scaleout_three_gateways(void)
{
	fs_test_env env;
	struct gw gws[NGW];
	char id[64], path[128], sub[64];
	json_t *j;
	int st;

	memset(gws, 0, sizeof(gws));
	if (!FS_CHECK(fs_env_start(&env, "scaleout") == 0,
	        "backend + gateway"))
		goto out;
	gws[0].port = env.gw_port;
	for (int i = 1; i < NGW; i++)
		if (!FS_CHECK(start_extra_gateway(&env, &gws[i], i) == 0,
		        "gateway %d starts and is ready", i))
			goto out;
	for (int i = 0; i < NGW; i++)
		for (int k = i + 1; k < NGW; k++)
			FS_CHECK(gws[i].port != gws[k].port, "distinct ports");

	/* Create through gateway 0, read through 1 and 2. */
	if (FS_REST_CREATE(&env, "flows",
	        "{\"name\": \"scale_a\", \"input_fields\": [\"caller\"]}",
	        id) != 0)
		goto out;
	snprintf(path, sizeof(path), "/api/flows/%s/", id);
	for (int i = 1; i < NGW; i++) {
		j = get_json(gws[i].port, path, 200, __LINE__);
		if (j != NULL) {
			FS_ASSERT_STR_EQ(fs_json_str(j, "id"), id);
			FS_ASSERT_STR_EQ(fs_json_str(j, "name"), "scale_a");
			FS_ASSERT_INT_EQ(fs_json_int(j, "version"), 1);
			json_decref(j);
		}
		j = get_json(gws[i].port, "/api/flows/?name__iexact=SCALE_A",
		    200, __LINE__);
		FS_CHECK(j != NULL && json_is_array(j) &&
		        json_array_size(j) == 1 &&
		        strcmp(fs_json_str(json_array_get(j, 0), "id"), id) ==
		            0,
		    "gateway %d lists the new flow", i);
		json_decref(j);
		snprintf(path, sizeof(path), "/api/apps/%s/status/", id);
		j = get_json(gws[i].port, path, 200, __LINE__);
		FS_ASSERT_JSON_EQ(j, "{\"status\": \"not-deployed\"}");
		json_decref(j);
		snprintf(path, sizeof(path), "/api/flows/%s/", id);
	}

	/* Update and deploy through gateway 0; the others see both. */
	if (FS_REST_CREATE(&env, "flows", "{\"name\": \"scale_sub\"}", sub) !=
	    0)
		goto out;
	{
		char body[256];
		snprintf(body, sizeof(body),
		    "{\"output_fields\": [\"intent\"], \"flows\": [\"%s\"]}",
		    sub);
		send_ok(gws[0].port, "PUT", path, body, 200, __LINE__);
	}
	snprintf(path, sizeof(path), "/api/apps/%s/deploy/", id);
	send_ok(gws[0].port, "POST", path, NULL, 200, __LINE__);
	for (int i = 1; i < NGW; i++) {
		snprintf(path, sizeof(path), "/api/flows/%s/", id);
		j = get_json(gws[i].port, path, 200, __LINE__);
		if (j != NULL) {
			FS_ASSERT_INT_EQ(fs_json_int(j, "version"), 2);
			FS_ASSERT_JSON_EQ(json_object_get(j, "output_fields"),
			    "[\"intent\"]");
			json_decref(j);
		}
		snprintf(path, sizeof(path), "/api/apps/%s/status/", id);
		j = get_json(gws[i].port, path, 200, __LINE__);
		FS_ASSERT_JSON_EQ(j, "{\"status\": \"started\"}");
		json_decref(j);
		/* The sub-flow is in use: a delete through another gateway is
		 * refused by the one backend's rule. */
		snprintf(path, sizeof(path), "/api/flows/%s/", sub);
		send_ok(gws[i].port, "DELETE", path, NULL, 409, __LINE__);
	}

	/* Delete through gateway 0: gone everywhere. */
	snprintf(path, sizeof(path), "/api/flows/%s/", id);
	send_ok(gws[0].port, "DELETE", path, NULL, 204, __LINE__);
	for (int i = 1; i < NGW; i++) {
		j = get_json(gws[i].port, path, 404, __LINE__);
		json_decref(j);
		j = get_json(gws[i].port, "/api/flows/?name__iexact=scale_a",
		    200, __LINE__);
		FS_ASSERT_JSON_EQ(j, "[]");
		json_decref(j);
	}

	/* Stop gateway 1: it exits cleanly, its port goes dark, and the
	 * other two keep serving reads and writes. */
	st = fs_test_proc_stop(&gws[1].proc, SIGTERM, FS_TEST_STOP_TIMEOUT_MS);
	FS_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "gateway 1 exits 0 on SIGTERM (wait status 0x%x)", st);
	FS_CHECK(status_of(gws[1].port, "/healthz") == 0,
	    "nothing answers on the stopped gateway's port");
	for (int i = 0; i < NGW; i += 2)
		FS_CHECK(status_of(gws[i].port, "/readyz") == 200,
		    "gateway %d still ready", i);
	if (!send_ok(gws[2].port, "POST", "/api/flows/",
	        "{\"name\": \"scale_b\"}", 201, __LINE__))
		goto out;
	j = get_json(gws[0].port, "/api/flows/?name__iexact=scale_b", 200,
	    __LINE__);
	FS_CHECK(j != NULL && json_array_size(j) == 1,
	    "a flow created through gateway 2 is listed by gateway 0");
	json_decref(j);
	snprintf(path, sizeof(path), "/api/flows/%s/", sub);
	send_ok(gws[2].port, "DELETE", path, NULL, 204, __LINE__);
	j = get_json(gws[0].port, path, 404, __LINE__);
	json_decref(j);

out:
	for (int i = 1; i < NGW; i++) {
		if (gws[i].proc.pid != 0) {
			st = fs_test_proc_stop(&gws[i].proc, SIGTERM,
			    FS_TEST_STOP_TIMEOUT_MS);
			FS_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			    "gateway %d exits 0 on SIGTERM", i);
		}
		if (CU_get_number_of_failure_records() > 0 &&
		    gws[i].proc.log_path[0] != '\0')
			fs_test_dump_log("extra gateway log",
			    gws[i].proc.log_path, 30);
	}
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"three gateways on one backend", test_scaleout_three_gateways},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"scaleout", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
