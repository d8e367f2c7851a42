/*
 * tl_env.c - see tl_env.h.
 */
#include "tl_env.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <CUnit/CUnit.h>

#include "fs_errors.h"
#include "tl_files.h"
#include "tl_sock.h"
#include "tl_time.h"

int
fs_env_init(fs_test_env *env, const char *name)
{
	char prefix[64];

	memset(env, 0, sizeof(*env));
	snprintf(prefix, sizeof(prefix), "flowsvc-%s", name);
	if (fs_test_mkdtemp(env->dir, prefix) != 0) {
		fprintf(stderr, "testlib: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	if ((size_t) snprintf(env->data_dir, sizeof(env->data_dir), "%s/data",
	        env->dir) >= sizeof(env->data_dir) ||
	    mkdir(env->data_dir, 0755) != 0) {
		fprintf(stderr, "testlib: mkdir data dir: %s\n",
		    strerror(errno));
		return -1;
	}
	{
		int bport = fs_test_free_port();
		int gport;
		do {
			gport = fs_test_free_port();
		} while (gport == bport && gport > 0);
		if (bport <= 0 || gport <= 0) {
			fprintf(stderr, "testlib: no free port\n");
			return -1;
		}
		snprintf(env->backend_url, sizeof(env->backend_url),
		    "tcp://127.0.0.1:%d", bport);
		env->gw_port = gport;
	}
	return 0;
}

int
fs_env_start_backend(fs_test_env *env)
{
	char log_path[PATH_MAX + 32];
	char *argv[20];
	int argc = 0;
	int64_t deadline;
	Flowsvc__Empty empty = FLOWSVC__EMPTY__INIT;

	snprintf(log_path, sizeof(log_path), "%s/flow-service.log", env->dir);
	argv[argc++] = (char *) FLOW_SERVICE_BIN;
	argv[argc++] = (char *) "--listen";
	argv[argc++] = env->backend_url;
	argv[argc++] = (char *) "--data-dir";
	argv[argc++] = env->data_dir;
	if (env->fsync_mode != NULL) {
		argv[argc++] = (char *) "--fsync";
		argv[argc++] = (char *) env->fsync_mode;
	}
	for (int i = 0;
	     env->svc_extra != NULL && env->svc_extra[i] != NULL && i < 12;
	     i++)
		argv[argc++] = (char *) env->svc_extra[i];
	argv[argc] = NULL;
	if (fs_test_proc_start(&env->backend, "flow-service", FLOW_SERVICE_BIN,
	        argv, log_path) != 0) {
		fprintf(stderr, "testlib: cannot start %s: %s\n",
		    FLOW_SERVICE_BIN, strerror(errno));
		return -1;
	}
	if (env->client == NULL) {
		int rv = fs_client_open(&env->client, env->backend_url);
		if (rv != 0) {
			fprintf(stderr, "testlib: fs_client_open(%s): %d\n",
			    env->backend_url, rv);
			return -1;
		}
	}
	deadline = fs_test_now_ms() + FS_TEST_START_TIMEOUT_MS;
	while (fs_test_now_ms() < deadline) {
		fs_call_opts opts = {NULL, 250, NULL, 0};
		Flowsvc__Reply *reply = NULL;
		int code;

		if (!fs_test_proc_alive(&env->backend)) {
			fprintf(stderr,
			    "testlib: flow-service exited during "
			    "start (wait status 0x%x)\n",
			    env->backend.status);
			fs_test_dump_log("flow-service log", log_path, 40);
			return -1;
		}
		code = fs_client_call(env->client, FLOWSVC__METHOD__HEALTH,
		    &empty.base, &opts, &reply);
		if (reply != NULL) {
			flowsvc__reply__free_unpacked(reply, NULL);
		}
		if (code == FS_OK) {
			return 0;
		}
		fs_test_poll_pause(20);
	}
	fprintf(stderr,
	    "testlib: flow-service did not answer HEALTH within "
	    "%d ms\n",
	    FS_TEST_START_TIMEOUT_MS);
	fs_test_dump_log("flow-service log", log_path, 40);
	return -1;
}

int
fs_env_start_backend_with(fs_test_env *env, const char *const *extra)
{
	env->svc_extra = extra;
	return fs_env_start_backend(env);
}

int
fs_env_start_node(fs_test_env *env, const char *name, const char *of)
{
	if (fs_env_init(env, name) != 0)
		return -1;
	env->node_flags[0] = NULL;
	if (of != NULL) {
		if ((size_t) snprintf(env->replica_of, sizeof(env->replica_of),
		        "%s", of) >= sizeof(env->replica_of))
			return -1;
		env->node_flags[0] = "--replica-of";
		env->node_flags[1] = env->replica_of;
		env->node_flags[2] = NULL;
	}
	return fs_env_start_backend_with(env, env->node_flags);
}

/* A replica of env's backend, for FS_TEST_GATEWAY_VIA_REPLICA: on a
 * port and data dir of its own, waited for until it answers HEALTH. */
static int
start_replica(fs_test_env *env)
{
	char log_path[PATH_MAX + 32], data[PATH_MAX + 16];
	Flowsvc__Empty empty = FLOWSVC__EMPTY__INIT;
	fs_client *c = NULL;
	int64_t deadline;
	int rv = -1;

	snprintf(env->replica_url, sizeof(env->replica_url),
	    "tcp://127.0.0.1:%d", fs_test_free_port());
	snprintf(data, sizeof(data), "%s/replica", env->dir);
	snprintf(log_path, sizeof(log_path), "%s/flow-service-replica.log",
	    env->dir);
	char *argv[] = {(char *) FLOW_SERVICE_BIN, (char *) "--listen",
	    env->replica_url, (char *) "--data-dir", data,
	    (char *) "--replica-of", env->backend_url, NULL};
	if (fs_test_proc_start(&env->replica, "flow-service replica",
	        FLOW_SERVICE_BIN, argv, log_path) != 0 ||
	    fs_client_open(&c, env->replica_url) != 0) {
		fprintf(stderr, "testlib: cannot start a replica: %s\n",
		    strerror(errno));
		fs_client_close(c);
		return -1;
	}
	deadline = fs_test_now_ms() + FS_TEST_START_TIMEOUT_MS;
	while (rv != 0 && fs_test_now_ms() < deadline &&
	    fs_test_proc_alive(&env->replica)) {
		fs_call_opts opts = {NULL, 250, NULL, 0};
		Flowsvc__Reply *reply = NULL;

		if (fs_client_call(c, FLOWSVC__METHOD__HEALTH, &empty.base,
		        &opts, &reply) == FS_OK)
			rv = 0;
		else
			fs_test_poll_pause(20);
		if (reply != NULL)
			flowsvc__reply__free_unpacked(reply, NULL);
	}
	fs_client_close(c);
	if (rv != 0) {
		fprintf(stderr, "testlib: the replica did not answer\n");
		fs_test_dump_log("replica log", log_path, 40);
	}
	return rv;
}

int
fs_env_start_gateway(fs_test_env *env, int wait_ready)
{
	const char *via = getenv("FS_TEST_GATEWAY_VIA_REPLICA");
	char *backend = env->backend_url;
	char log_path[PATH_MAX + 32];
	char port[16], timeout[16];
	char *argv[24];
	int argc = 0;
	int64_t deadline;

	snprintf(log_path, sizeof(log_path), "%s/flow-gateway.log", env->dir);
	snprintf(port, sizeof(port), "%d", env->gw_port);
	argv[argc++] = (char *) FLOW_GATEWAY_BIN;
	argv[argc++] = (char *) "--bind";
	argv[argc++] = (char *) "127.0.0.1";
	argv[argc++] = (char *) "--port";
	argv[argc++] = port;
	if (via != NULL && *via != '\0') {
		if (env->replica.pid == 0 && start_replica(env) != 0)
			return -1;
		backend = env->replica_url;
	}
	argv[argc++] = (char *) "--backend";
	argv[argc++] = backend;
	if (env->rpc_timeout_ms > 0) {
		snprintf(timeout, sizeof(timeout), "%d", env->rpc_timeout_ms);
		argv[argc++] = (char *) "--rpc-timeout";
		argv[argc++] = timeout;
	}
	for (int i = 0;
	     env->gw_extra != NULL && env->gw_extra[i] != NULL && i < 8; i++)
		argv[argc++] = (char *) env->gw_extra[i];
	argv[argc] = NULL;
	if (fs_test_proc_start(&env->gateway, "flow-gateway", FLOW_GATEWAY_BIN,
	        argv, log_path) != 0) {
		fprintf(stderr, "testlib: cannot start %s: %s\n",
		    FLOW_GATEWAY_BIN, strerror(errno));
		return -1;
	}
	deadline = fs_test_now_ms() + FS_TEST_START_TIMEOUT_MS;
	while (fs_test_now_ms() < deadline) {
		if (!fs_test_proc_alive(&env->gateway)) {
			fprintf(stderr,
			    "testlib: flow-gateway exited during "
			    "start (wait status 0x%x)\n",
			    env->gateway.status);
			fs_test_dump_log("flow-gateway log", log_path, 40);
			return -1;
		}
		if (fs_http_status(env->gw_port, "/healthz") == 200 &&
		    (!wait_ready ||
		        fs_http_status(env->gw_port, "/readyz") == 200)) {
			return 0;
		}
		fs_test_poll_pause(20);
	}
	fprintf(stderr, "testlib: flow-gateway not %s within %d ms\n",
	    wait_ready ? "ready" : "up", FS_TEST_START_TIMEOUT_MS);
	fs_test_dump_log("flow-gateway log", log_path, 40);
	return -1;
}

int
fs_env_wait_gateway_ready(fs_test_env *env)
{
	return fs_http_wait_status(env->gw_port, "/readyz", 200,
	    FS_TEST_START_TIMEOUT_MS);
}

int
fs_env_start_programs(fs_test_env *env)
{
	if (fs_env_start_backend(env) != 0 ||
	    fs_env_start_gateway(env, 1) != 0)
		return -1;
	if (fs_http_connect(&env->http, env->gw_port, 0) != 0) {
		fprintf(stderr, "testlib: connect to gateway: %s\n",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
fs_env_start(fs_test_env *env, const char *name)
{
	return fs_env_init(env, name) != 0 ? -1 : fs_env_start_programs(env);
}

int
fs_env_stop_backend(fs_test_env *env, int sig)
{
	return fs_test_proc_stop(&env->backend, sig, FS_TEST_STOP_TIMEOUT_MS);
}

static int
clean_exit(const fs_test_proc *p, int st)
{
	if (st == -1 || (WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		return 1;
	}
	fprintf(stderr,
	    "testlib: %s did not exit cleanly on SIGTERM (wait "
	    "status 0x%x)\n",
	    p->name, st);
	return 0;
}

int
fs_env_fini(fs_test_env *env)
{
	const char *keep = getenv("FS_TEST_KEEP");
	int ok = 1;
	int st;

	if (env->dir[0] == '\0') {
		return 0;
	}
	fs_http_close(env->http);
	env->http = NULL;
	if (env->gateway.pid != 0) {
		st = fs_test_proc_stop(&env->gateway, SIGTERM,
		    FS_TEST_STOP_TIMEOUT_MS);
		ok &= clean_exit(&env->gateway, st);
	}
	if (env->replica.pid != 0) {
		st = fs_test_proc_stop(&env->replica, SIGTERM,
		    FS_TEST_STOP_TIMEOUT_MS);
		ok &= clean_exit(&env->replica, st);
	}
	if (env->backend.pid != 0) {
		st = fs_test_proc_stop(&env->backend, SIGTERM,
		    FS_TEST_STOP_TIMEOUT_MS);
		ok &= clean_exit(&env->backend, st);
	}
	if (env->client != NULL) {
		fs_client_close(env->client);
		env->client = NULL;
	}
	if (!ok || CU_get_number_of_failure_records() > 0 ||
	    (keep != NULL && *keep != '\0')) {
		if (env->backend.log_path[0] != '\0') {
			fs_test_dump_log("flow-service log",
			    env->backend.log_path, 30);
		}
		if (env->gateway.log_path[0] != '\0') {
			fs_test_dump_log("flow-gateway log",
			    env->gateway.log_path, 30);
		}
		fprintf(stderr, "testlib: kept %s\n", env->dir);
	} else if (fs_test_rmtree(env->dir) != 0) {
		fprintf(stderr, "testlib: cannot remove %s: %s\n", env->dir,
		    strerror(errno));
	}
	env->dir[0] = '\0';
	return ok ? 0 : -1;
}
