/*
 * test_flowctl.c - the real flowctl binary against a real backend: every
 * command, the JSON it prints (the REST shape, compared with the gateway's
 * answer for the same component), its error lines and its exit codes
 * (0 ok, 1 the backend said no, 2 usage, 3 backend unavailable).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "testlib.h"

#define CTL_TIMEOUT_MS 30000
#define MAX_ARGS 32

static fs_test_env env;

static int
suite_init(void)
{
	return fs_env_start(&env, "flowctl");
}

static int
suite_fini(void)
{
	return fs_env_fini(&env);
}

/* Runs flowctl with extra environment and the given arguments (NULL
 * ended); --backend is added first unless with_backend is 0. */
static void
vctl(fs_test_run_result *res, int with_backend, char *const env_extra[],
    va_list ap)
{
	char *argv[MAX_ARGS + 4];
	const char *unset[] = {"FLOWCTL_BACKEND", NULL};
	int argc = 0;
	const char *a;

	argv[argc++] = (char *) FLOWCTL_BIN;
	if (with_backend) {
		argv[argc++] = (char *) "--backend";
		argv[argc++] = env.backend_url;
	}
	while ((a = va_arg(ap, const char *)) != NULL && argc < MAX_ARGS) {
		argv[argc++] = (char *) a;
	}
	argv[argc] = NULL;
	if (fs_test_run(res, argv, env_extra, unset, CTL_TIMEOUT_MS) != 0) {
		memset(res, 0, sizeof(*res));
		res->exit_code = -2;
	}
}

static void
ctl(fs_test_run_result *res, ...)
{
	va_list ap;

	va_start(ap, res);
	vctl(res, 1, NULL, ap);
	va_end(ap);
}

static void
ctl_env(fs_test_run_result *res, int with_backend, char *const env_extra[],
    ...)
{
	va_list ap;

	va_start(ap, env_extra);
	vctl(res, with_backend, env_extra, ap);
	va_end(ap);
}

static int
check_exit(const fs_test_run_result *res, int want, const char *what, int line)
{
	return fs_check(res->exit_code == want, __FILE__, line, what,
	    "flowctl %s: expected exit %d, got %d; stdout: %.800s; stderr: "
	    "%.800s",
	    what, want, res->exit_code, res->out ? res->out : "",
	    res->err ? res->err : "");
}

#define ASSERT_EXIT(res, want, what)                                          \
	check_exit((res), (want), (what), __LINE__)

/* The id of the component flowctl printed, copied into id. */
static int
ctl_create(const char *name, const char *extra1, const char *extra2,
    char id[64], int line)
{
	fs_test_run_result res;
	int ok;

	ctl(&res, "create", name, extra1, extra2, NULL);
	ok = check_exit(&res, 0, "create", line) &&
	    fs_check(fs_json_str(res.json, "id") != NULL, __FILE__, line, "id",
	        "create printed no id: %s", res.out);
	if (ok) {
		snprintf(id, 64, "%s", fs_json_str(res.json, "id"));
	}
	fs_test_run_result_free(&res);
	return ok;
}

static void
test_ctl_health(void)
{
	fs_test_run_result res;

	ctl(&res, "health", NULL);
	if (ASSERT_EXIT(&res, 0, "health")) {
		FS_ASSERT_STR_EQ(fs_json_str(res.json, "status"), "ok");
		FS_ASSERT_INT_EQ(res.err_len, 0);
	}
	fs_test_run_result_free(&res);
}

static void
test_ctl_create_get(void)
{
	static const char *order[] = {"id", "name", "group", "input_fields",
	    "output_fields", "canvas_id", "flows", "version", "created_at",
	    "updated_at"};
	fs_test_run_result res, got;
	fs_http_resp r;
	char id[64];
	void *it;
	size_t k = 0;

	ctl(&res, "create", "ctl_one", "--input", "a,b", "--output=c",
	    "--group", "ctl_create", NULL);
	if (!ASSERT_EXIT(&res, 0, "create") ||
	    !FS_CHECK(fs_json_str(res.json, "id"), "no id: %s", res.out)) {
		fs_test_run_result_free(&res);
		return;
	}
	FS_ASSERT_COMPONENT(res.json);
	FS_ASSERT_JSON_EQ(json_object_get(res.json, "input_fields"),
	    "[\"a\", \"b\"]");
	FS_ASSERT_JSON_EQ(json_object_get(res.json, "output_fields"),
	    "[\"c\"]");
	FS_ASSERT_STR_EQ(fs_json_str(res.json, "group"), "ctl_create");
	snprintf(id, sizeof(id), "%s", fs_json_str(res.json, "id"));

	/* The documented key order. */
	for (it = json_object_iter(res.json); it != NULL && k < 10;
	     it = json_object_iter_next(res.json, it), k++) {
		FS_ASSERT_STR_EQ(json_object_iter_key(it), order[k]);
	}

	/* The same object the REST API returns for it. */
	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", id);
	if (FS_ASSERT_STATUS(&r, 200)) {
		FS_ASSERT_JSON_SAME(res.json, r.json);
	}
	fs_http_resp_free(&r);

	ctl(&got, "get", id, NULL);
	if (ASSERT_EXIT(&got, 0, "get")) {
		FS_ASSERT_JSON_SAME(got.json, res.json);
	}
	fs_test_run_result_free(&got);

	/* --json: the same object on one line. */
	ctl(&got, "--json", "get", id, NULL);
	if (ASSERT_EXIT(&got, 0, "--json get")) {
		FS_ASSERT_JSON_SAME(got.json, res.json);
		FS_CHECK(got.out_len > 0 &&
		        strchr(got.out, '\n') == got.out + got.out_len - 1,
		    "--json output is not one line: %s", got.out);
	}
	fs_test_run_result_free(&got);
	fs_test_run_result_free(&res);
}

static void
test_ctl_get_errors(void)
{
	fs_test_run_result res;

	ctl(&res, "get", "6d1f0b7e-3c2a-4f1e-9b8d-7a6c5e4d3b2a", NULL);
	if (ASSERT_EXIT(&res, 1, "get of an unknown id")) {
		FS_ASSERT_STR_EQ(res.err, "flowctl: NOT_FOUND: Not found.\n");
		FS_ASSERT_INT_EQ(res.out_len, 0);
	}
	fs_test_run_result_free(&res);
	ctl(&res, "get", "nope", "--json", NULL);
	if (ASSERT_EXIT(&res, 1, "--json get of a non-uuid")) {
		FS_ASSERT_STR_EQ(res.err, "flowctl: NOT_FOUND: Not found.\n");
		FS_ASSERT_JSON_EQ(res.json, "{\"detail\": \"Not found.\"}");
	}
	fs_test_run_result_free(&res);
}

static void
test_ctl_create_errors(void)
{
	static const char *flow_msg =
	    "Invalid flow name. Flow name must contain only alphanumeric "
	    "characters and the underscore character.";
	static const char *taken =
	    "A flow with this name already exists in this group.";
	fs_test_run_result res;
	char line[256], want[512], id[64];

	ctl(&res, "create", "bad name", NULL);
	if (ASSERT_EXIT(&res, 1, "create with a bad name")) {
		FS_CHECK(strncmp(res.err, "flowctl: INVALID_ARGUMENT: ", 27) ==
		        0,
		    "first line: %s", res.err);
		snprintf(line, sizeof(line), "\n  name: %s\n", flow_msg);
		FS_CHECK(strstr(res.err, line) != NULL,
		    "no violation line \"%s\" in: %s", line + 1, res.err);
	}
	fs_test_run_result_free(&res);
	ctl(&res, "--json", "create", "bad name", NULL);
	snprintf(want, sizeof(want), "{\"name\": [\"%s\"]}", flow_msg);
	if (ASSERT_EXIT(&res, 1, "--json create with a bad name")) {
		FS_ASSERT_JSON_EQ(res.json, want);
	}
	fs_test_run_result_free(&res);

	if (!ctl_create("ctl_taken", NULL, NULL, id, __LINE__)) {
		return;
	}
	ctl(&res, "create", "CTL_TAKEN", NULL);
	if (ASSERT_EXIT(&res, 1, "create with a taken name")) {
		snprintf(line, sizeof(line), "\n  name: %s\n", taken);
		FS_CHECK(strncmp(res.err, "flowctl: ALREADY_EXISTS: ", 25) ==
		            0 &&
		        strstr(res.err, line) != NULL,
		    "stderr: %s", res.err);
	}
	fs_test_run_result_free(&res);
	/* Another group is fine. */
	ctl(&res, "create", "ctl_taken", "--group", "ctl_other", NULL);
	ASSERT_EXIT(&res, 0, "create in another group");
	fs_test_run_result_free(&res);
}

static void
test_ctl_list(void)
{
	fs_test_run_result res;
	char id[64];

	if (!ctl_create("ctl_l1", "--group", "ctl_lgrp", id, __LINE__) ||
	    !ctl_create("ctl_l2", "--group", "ctl_lgrp", id, __LINE__) ||
	    !ctl_create("ctl_l3", "--group", "ctl_lgrp", id, __LINE__)) {
		return;
	}
	ctl(&res, "list", "--group", "CTL_LGRP", NULL);
	if (ASSERT_EXIT(&res, 0, "list --group") &&
	    FS_CHECK(json_array_size(res.json) == 3, "list: %s", res.out)) {
		FS_ASSERT_STR_EQ(fs_json_str(json_array_get(res.json, 0),
		                     "name"),
		    "ctl_l1");
		FS_ASSERT_STR_EQ(fs_json_str(json_array_get(res.json, 2),
		                     "name"),
		    "ctl_l3");
		FS_ASSERT_COMPONENT(json_array_get(res.json, 1));
	}
	fs_test_run_result_free(&res);
	ctl(&res, "list", "--group", "ctl_lgrp", "--limit", "1", "--offset",
	    "1", NULL);
	if (ASSERT_EXIT(&res, 0, "list --limit --offset") &&
	    FS_CHECK(json_array_size(res.json) == 1, "list: %s", res.out)) {
		FS_ASSERT_STR_EQ(fs_json_str(json_array_get(res.json, 0),
		                     "name"),
		    "ctl_l2");
	}
	fs_test_run_result_free(&res);
	ctl(&res, "list", "--name", "CTL_L3", "--group", "ctl_lgrp", NULL);
	if (ASSERT_EXIT(&res, 0, "list --name --group")) {
		FS_CHECK(json_array_size(res.json) == 1, "list: %s", res.out);
	}
	fs_test_run_result_free(&res);
	ctl(&res, "list", "--group", "ctl_lgrp", "--offset", "3", NULL);
	if (ASSERT_EXIT(&res, 0, "list past the end")) {
		FS_ASSERT_JSON_EQ(res.json, "[]");
	}
	fs_test_run_result_free(&res);
	ctl(&res, "list", "--app", "--group", "ctl_lgrp", NULL);
	if (ASSERT_EXIT(&res, 0, "list --app")) {
		FS_ASSERT_JSON_EQ(res.json, "[]");
	}
	fs_test_run_result_free(&res);
	ctl(&res, "list", "--limit", "x", NULL);
	ASSERT_EXIT(&res, 2, "list --limit x");
	fs_test_run_result_free(&res);
	ctl(&res, "list", "--offset", "-1", NULL);
	ASSERT_EXIT(&res, 2, "list --offset -1");
	fs_test_run_result_free(&res);
}

/* list --with-revision: the list and the revision it is consistent at
 * (Health's, with nothing changing), one more after a create. */
static void
test_ctl_list_revision(void)
{
	fs_test_run_result res;
	json_int_t health_rev = -1, rev = -1;
	char id[64];

	if (!ctl_create("ctl_rev1", "--group", "ctl_rgrp", id, __LINE__))
		return;
	ctl(&res, "health", NULL);
	if (ASSERT_EXIT(&res, 0, "health"))
		health_rev =
		    json_integer_value(json_object_get(res.json, "revision"));
	fs_test_run_result_free(&res);
	ctl(&res, "list", "--group", "ctl_rgrp", "--with-revision", NULL);
	if (ASSERT_EXIT(&res, 0, "list --with-revision") &&
	    FS_CHECK(json_is_object(res.json), "list: %s", res.out)) {
		json_t *results = json_object_get(res.json, "results");
		rev =
		    json_integer_value(json_object_get(res.json, "revision"));
		FS_CHECK(rev > 0 && rev == health_rev,
		    "revision %lld, health's %lld", (long long) rev,
		    (long long) health_rev);
		if (FS_CHECK(json_array_size(results) == 1, "list: %s",
		        res.out))
			FS_ASSERT_STR_EQ(fs_json_str(json_array_get(results,
			                                 0),
			                     "id"),
			    id);
		FS_CHECK(json_object_size(res.json) == 2, "list: %s", res.out);
	}
	fs_test_run_result_free(&res);
	if (!ctl_create("ctl_rev2", "--group", "ctl_rgrp", id, __LINE__))
		return;
	ctl(&res, "list", "--group", "ctl_rgrp", "--with-revision", NULL);
	if (ASSERT_EXIT(&res, 0, "list --with-revision after a create")) {
		json_int_t now =
		    json_integer_value(json_object_get(res.json, "revision"));
		FS_CHECK(now == rev + 1, "revision %lld after %lld",
		    (long long) now, (long long) rev);
		FS_CHECK(json_array_size(
		             json_object_get(res.json, "results")) == 2,
		    "list: %s", res.out);
	}
	fs_test_run_result_free(&res);
	ctl(&res, "get", id, "--with-revision", NULL);
	ASSERT_EXIT(&res, 2, "get --with-revision");
	fs_test_run_result_free(&res);
}

static void
test_ctl_update(void)
{
	fs_test_run_result res;
	char id[64], other[64];

	if (!ctl_create("ctl_upd", "--input", "a,b", id, __LINE__) ||
	    !ctl_create("ctl_upd_sub", NULL, NULL, other, __LINE__)) {
		return;
	}
	ctl(&res, "update", id, "--output", "x", NULL);
	if (ASSERT_EXIT(&res, 0, "update --output")) {
		FS_ASSERT_COMPONENT(res.json);
		FS_ASSERT_JSON_EQ(json_object_get(res.json, "input_fields"),
		    "[\"a\", \"b\"]");
		FS_ASSERT_JSON_EQ(json_object_get(res.json, "output_fields"),
		    "[\"x\"]");
		FS_ASSERT_INT_EQ(fs_json_int(res.json, "version"), 2);
	}
	fs_test_run_result_free(&res);
	/* An empty value clears; an absent flag keeps. */
	ctl(&res, "update", id, "--input", "", "--flows", other, NULL);
	if (ASSERT_EXIT(&res, 0, "update --input \"\" --flows")) {
		char want[128];
		FS_ASSERT_JSON_EQ(json_object_get(res.json, "input_fields"),
		    "[]");
		FS_ASSERT_JSON_EQ(json_object_get(res.json, "output_fields"),
		    "[\"x\"]");
		snprintf(want, sizeof(want), "[\"%s\"]", other);
		FS_ASSERT_JSON_EQ(json_object_get(res.json, "flows"), want);
		FS_ASSERT_INT_EQ(fs_json_int(res.json, "version"), 3);
	}
	fs_test_run_result_free(&res);
	ctl(&res, "update", id, "--flows=", NULL);
	if (ASSERT_EXIT(&res, 0, "update --flows=")) {
		FS_ASSERT_JSON_EQ(json_object_get(res.json, "flows"), "[]");
		FS_ASSERT_JSON_EQ(json_object_get(res.json, "output_fields"),
		    "[\"x\"]");
	}
	fs_test_run_result_free(&res);
	/* Backend rules apply: a self-reference is refused. */
	ctl(&res, "update", id, "--flows", id, NULL);
	if (ASSERT_EXIT(&res, 1, "update --flows self")) {
		FS_CHECK(strstr(res.err, "  flows: Invalid pk") != NULL &&
		        strstr(res.err, id) != NULL,
		    "stderr: %s", res.err);
	}
	fs_test_run_result_free(&res);
	ctl(&res, "update", id, "--name", "renamed", NULL);
	ASSERT_EXIT(&res, 2, "update --name");
	fs_test_run_result_free(&res);
	ctl(&res, "update", "6d1f0b7e-3c2a-4f1e-9b8d-7a6c5e4d3b2a", "--input",
	    "a", NULL);
	ASSERT_EXIT(&res, 1, "update of an unknown id");
	fs_test_run_result_free(&res);
}

static void
test_ctl_delete(void)
{
	fs_test_run_result res;
	char used[64], user[64];

	if (!ctl_create("ctl_used", NULL, NULL, used, __LINE__) ||
	    !ctl_create("ctl_user", "--flows", used, user, __LINE__)) {
		return;
	}
	ctl(&res, "delete", used, NULL);
	if (ASSERT_EXIT(&res, 1, "delete of a used flow")) {
		FS_ASSERT_STR_EQ(res.err,
		    "flowctl: FAILED_PRECONDITION: Cannot delete the Flow, "
		    "because it is used by these apps/flows: ctl_user\n");
	}
	fs_test_run_result_free(&res);
	ctl(&res, "delete", user, NULL);
	if (ASSERT_EXIT(&res, 0, "delete")) {
		FS_ASSERT_INT_EQ(res.out_len, 0);
	}
	fs_test_run_result_free(&res);
	ctl(&res, "delete", used, NULL);
	ASSERT_EXIT(&res, 0, "delete once unused");
	fs_test_run_result_free(&res);
	ctl(&res, "get", used, NULL);
	ASSERT_EXIT(&res, 1, "get after delete");
	fs_test_run_result_free(&res);
	ctl(&res, "delete", used, NULL);
	ASSERT_EXIT(&res, 1, "second delete");
	fs_test_run_result_free(&res);
}

static void
test_ctl_apps(void)
{
	fs_test_run_result res;
	fs_http_resp r;
	char id[64];

	if (!ctl_create("ctl_app", "--app", NULL, id, __LINE__)) {
		return;
	}
	fs_restf(&env, "GET", NULL, &r, "/api/apps/%s/", id);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);
	ctl(&res, "get", id, NULL);
	ASSERT_EXIT(&res, 1, "get of an app id as a flow");
	fs_test_run_result_free(&res);
	ctl(&res, "get", id, "--app", NULL);
	if (ASSERT_EXIT(&res, 0, "get --app")) {
		FS_ASSERT_STR_EQ(fs_json_str(res.json, "name"), "ctl_app");
	}
	fs_test_run_result_free(&res);
	ctl(&res, "list", "--app", "--name", "ctl_app", NULL);
	if (ASSERT_EXIT(&res, 0, "list --app --name")) {
		FS_CHECK(json_array_size(res.json) == 1, "list: %s", res.out);
	}
	fs_test_run_result_free(&res);
	ctl(&res, "list", "--name", "ctl_app", NULL);
	if (ASSERT_EXIT(&res, 0, "list --name (flows)")) {
		FS_ASSERT_JSON_EQ(res.json, "[]");
	}
	fs_test_run_result_free(&res);
	ctl(&res, "create", "bad app", "--app", NULL);
	if (ASSERT_EXIT(&res, 1, "create --app with a bad name")) {
		FS_CHECK(strstr(res.err, "  name: Invalid app name.") != NULL,
		    "stderr: %s", res.err);
	}
	fs_test_run_result_free(&res);
	ctl(&res, "delete", id, NULL);
	ASSERT_EXIT(&res, 1, "delete of an app id as a flow");
	fs_test_run_result_free(&res);
	ctl(&res, "delete", "--app", id, NULL);
	ASSERT_EXIT(&res, 0, "delete --app");
	fs_test_run_result_free(&res);
}

static void
expect_status(const char *cmd, const char *id, const char *status, int line)
{
	fs_test_run_result res;
	char want[64];

	ctl(&res, cmd, id, NULL);
	snprintf(want, sizeof(want), "{\"status\": \"%s\"}", status);
	if (check_exit(&res, 0, cmd, line)) {
		fs_check_json_eq(res.json, want, cmd, __FILE__, line);
	}
	fs_test_run_result_free(&res);
}

static void
test_ctl_lifecycle(void)
{
	fs_test_run_result res;
	fs_http_resp r;
	char app[64], flow[64];

	if (!ctl_create("ctl_life", "--app", NULL, app, __LINE__) ||
	    !ctl_create("ctl_life_flow", NULL, NULL, flow, __LINE__)) {
		return;
	}
	expect_status("status", app, "not-deployed", __LINE__);
	ctl(&res, "stop", app, NULL);
	if (ASSERT_EXIT(&res, 1, "stop when not deployed")) {
		FS_ASSERT_STR_EQ(res.err,
		    "flowctl: FAILED_PRECONDITION: The "
		    "component is not deployed.\n");
	}
	fs_test_run_result_free(&res);
	ctl(&res, "start", app, NULL);
	ASSERT_EXIT(&res, 1, "start when not deployed");
	fs_test_run_result_free(&res);
	expect_status("deploy", app, "started", __LINE__);
	expect_status("stop", app, "stopped", __LINE__);
	expect_status("status", app, "stopped", __LINE__);
	expect_status("start", app, "started", __LINE__);
	/* Any component id, as on REST; and REST sees the same. */
	expect_status("deploy", flow, "started", __LINE__);
	expect_status("status", flow, "started", __LINE__);
	fs_restf(&env, "GET", NULL, &r, "/api/apps/%s/status/", app);
	FS_ASSERT_ERROR(&r, 200, "{\"status\": \"started\"}");
	fs_http_resp_free(&r);
	ctl(&res, "status", "6d1f0b7e-3c2a-4f1e-9b8d-7a6c5e4d3b2a", NULL);
	ASSERT_EXIT(&res, 1, "status of an unknown id");
	fs_test_run_result_free(&res);
}

static void
test_ctl_snapshot(void)
{
	fs_test_run_result res;

	ctl(&res, "snapshot", NULL);
	if (ASSERT_EXIT(&res, 0, "snapshot")) {
		FS_CHECK(res.json != NULL, "snapshot printed no JSON: %s",
		    res.out);
	}
	fs_test_run_result_free(&res);
}

static void
test_ctl_usage(void)
{
	static const char *const bad[][4] = {
	    {NULL},
	    {"frobnicate", NULL},
	    {"get", NULL},
	    {"get", "a", "b", NULL},
	    {"create", NULL},
	    {"health", "extra", NULL},
	    {"--bogus", "health", NULL},
	    {"--timeout", "0", "health", NULL},
	    {"--timeout", "soon", "health", NULL},
	    {"get", "x", "--limit", NULL},
	    {"help", "nosuch", NULL},
	};
	fs_test_run_result res;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[128];
		snprintf(what, sizeof(what), "%s %s %s",
		    bad[i][0] ? bad[i][0] : "(nothing)",
		    bad[i][0] && bad[i][1] ? bad[i][1] : "",
		    bad[i][0] && bad[i][1] && bad[i][2] ? bad[i][2] : "");
		ctl(&res, bad[i][0], bad[i][0] ? bad[i][1] : NULL,
		    bad[i][0] && bad[i][1] ? bad[i][2] : NULL, NULL);
		if (ASSERT_EXIT(&res, 2, what)) {
			FS_CHECK(res.err_len > 0, "%s: nothing on stderr",
			    what);
		}
		fs_test_run_result_free(&res);
	}
	ctl(&res, "--help", NULL);
	if (ASSERT_EXIT(&res, 0, "--help")) {
		FS_CHECK(strstr(res.out, "Usage:") &&
		        strstr(res.out, "snapshot"),
		    "--help: %s", res.out);
	}
	fs_test_run_result_free(&res);
	ctl(&res, "help", "list", NULL);
	if (ASSERT_EXIT(&res, 0, "help list")) {
		FS_CHECK(strstr(res.out, "--limit") &&
		        strstr(res.out, "--app"),
		    "help list: %s", res.out);
	}
	fs_test_run_result_free(&res);
	ctl(&res, "update", "--help", NULL);
	if (ASSERT_EXIT(&res, 0, "update --help")) {
		FS_CHECK(strstr(res.out, "--flows") != NULL,
		    "update --help: %s", res.out);
	}
	fs_test_run_result_free(&res);
}

static void
test_ctl_backend_choice(void)
{
	fs_test_run_result res;
	char dead[64], env_dead[96], env_live[96];
	int port = fs_test_free_port();
	int64_t t0;

	snprintf(dead, sizeof(dead), "tcp://127.0.0.1:%d", port);
	snprintf(env_dead, sizeof(env_dead), "FLOWCTL_BACKEND=%s", dead);
	snprintf(env_live, sizeof(env_live), "FLOWCTL_BACKEND=%s",
	    env.backend_url);

	t0 = fs_test_now_ms();
	ctl_env(&res, 0, NULL, "--backend", dead, "--timeout", "500", "health",
	    NULL);
	if (ASSERT_EXIT(&res, 3, "health with no backend")) {
		FS_CHECK(strncmp(res.err, "flowctl: connection refused at ",
		             31) == 0,
		    "stderr: %s", res.err);
	}
	FS_CHECK(fs_test_now_ms() - t0 < 10000, "took %lld ms",
	    (long long) (fs_test_now_ms() - t0));
	fs_test_run_result_free(&res);

	{
		char *e[] = {env_live, NULL};
		ctl_env(&res, 0, e, "health", NULL);
		ASSERT_EXIT(&res, 0, "health via FLOWCTL_BACKEND");
		fs_test_run_result_free(&res);
	}
	{
		char *e[] = {env_dead, NULL};
		ctl_env(&res, 0, e, "--timeout", "500", "health", NULL);
		ASSERT_EXIT(&res, 3, "health via a dead FLOWCTL_BACKEND");
		fs_test_run_result_free(&res);
		/* --backend wins over the environment. */
		ctl_env(&res, 0, e, "--backend", env.backend_url, "health",
		    NULL);
		ASSERT_EXIT(&res, 0, "--backend over FLOWCTL_BACKEND");
		fs_test_run_result_free(&res);
	}
	ctl_env(&res, 0, NULL, "--backend", "bogus://x", "health", NULL);
	ASSERT_EXIT(&res, 2, "a malformed backend URL");
	fs_test_run_result_free(&res);
}

static void
test_ctl_hung_backend(void)
{
	fs_test_run_result res;
	int64_t t0, elapsed;

	if (!FS_CHECK(env.backend.pid > 0, "no backend")) {
		return;
	}
	/* The port accepts but the process is silent: a fresh client never
	 * completes the handshake (UNAVAILABLE) or, had it, would time out
	 * (DEADLINE_EXCEEDED). Either way exit 3, and within the timeout. */
	if (!FS_CHECK(fs_test_proc_freeze(&env.backend, 5000) == 0,
	        "flow-service did not stop on SIGSTOP")) {
		fs_test_proc_cont(&env.backend);
		return;
	}
	t0 = fs_test_now_ms();
	ctl(&res, "--timeout", "400", "health", NULL);
	elapsed = fs_test_now_ms() - t0;
	fs_test_proc_cont(&env.backend);
	if (ASSERT_EXIT(&res, 3, "health with a hung backend")) {
		FS_CHECK(strncmp(res.err, "flowctl: UNAVAILABLE", 20) == 0 ||
		        strncmp(res.err, "flowctl: DEADLINE_EXCEEDED", 26) ==
		            0,
		    "stderr: %s", res.err);
	}
	FS_CHECK(elapsed < 5000, "flowctl --timeout 400 took %lld ms",
	    (long long) elapsed);
	fs_test_run_result_free(&res);
	ctl(&res, "health", NULL);
	ASSERT_EXIT(&res, 0, "health after SIGCONT");
	fs_test_run_result_free(&res);
}

static void
test_ctl_waits_for_starting_backend(void)
{
	fs_test_proc ctlp, svc;
	char url[64], log[PATH_MAX + 32], svc_log[PATH_MAX + 32];
	char data[PATH_MAX + 32];
	int port = fs_test_free_port();
	int64_t deadline;
	int st;

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	snprintf(log, sizeof(log), "%s/flowctl-wait.log", env.dir);
	snprintf(svc_log, sizeof(svc_log), "%s/second-service.log", env.dir);
	snprintf(data, sizeof(data), "%s/second-data", env.dir);
	if (!FS_CHECK(mkdir(data, 0755) == 0, "mkdir %s", data)) {
		return;
	}
	{
		char *argv[] = {(char *) FLOWCTL_BIN, (char *) "--backend",
		    url, (char *) "--wait", (char *) "--timeout",
		    (char *) "20000", (char *) "health", NULL};
		if (!FS_CHECK(fs_test_proc_start(&ctlp, "flowctl", FLOWCTL_BIN,
		                  argv, log) == 0,
		        "start flowctl")) {
			return;
		}
	}
	/* Let flowctl get past its connect grace and into retrying against
	 * nothing; it must still be waiting, not have given up. */
	deadline = fs_test_now_ms() + 800;
	while (fs_test_now_ms() < deadline && fs_test_proc_alive(&ctlp)) {
		fs_test_poll_pause(20);
	}
	if (!FS_CHECK(fs_test_proc_alive(&ctlp),
	        "flowctl --wait gave up within 800 ms (wait status 0x%x)",
	        ctlp.status)) {
		fs_test_dump_log("flowctl", log, 10);
		return;
	}
	/* Then a backend comes. */
	{
		char *argv[] = {(char *) FLOW_SERVICE_BIN, (char *) "--listen",
		    url, (char *) "--data-dir", data, NULL};
		if (!FS_CHECK(fs_test_proc_start(&svc, "second flow-service",
		                  FLOW_SERVICE_BIN, argv, svc_log) == 0,
		        "start flow-service")) {
			fs_test_proc_stop(&ctlp, SIGKILL, 1000);
			return;
		}
	}
	deadline = fs_test_now_ms() + 25000;
	while (fs_test_proc_alive(&ctlp) && fs_test_now_ms() < deadline) {
		fs_test_poll_pause(20);
	}
	st = fs_test_proc_stop(&ctlp, SIGKILL, 1000);
	if (!FS_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	        "flowctl health against a starting backend: wait status "
	        "0x%x",
	        st)) {
		fs_test_dump_log("flowctl", log, 10);
	}
	st = fs_test_proc_stop(&svc, SIGTERM, FS_TEST_STOP_TIMEOUT_MS);
	FS_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "second flow-service exit: wait status 0x%x", st);
}

static CU_TestInfo tests[] = {
    {"health", test_ctl_health},
    {"create and get print the REST shape", test_ctl_create_get},
    {"get errors: exit 1, message, --json body", test_ctl_get_errors},
    {"create errors: field violations", test_ctl_create_errors},
    {"list with filters, limit, offset", test_ctl_list},
    {"list --with-revision", test_ctl_list_revision},
    {"update: empty clears, absent keeps", test_ctl_update},
    {"delete, and delete of a used flow", test_ctl_delete},
    {"--app", test_ctl_apps},
    {"status, deploy, stop, start", test_ctl_lifecycle},
    {"snapshot", test_ctl_snapshot},
    {"usage errors exit 2; help", test_ctl_usage},
    {"backend from flag or environment; none: exit 3",
        test_ctl_backend_choice},
    {"hung backend: exit 3 after --timeout", test_ctl_hung_backend},
    {"--wait: waits within --timeout for a backend that is starting",
        test_ctl_waits_for_starting_backend},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"flowctl", suite_init, suite_fini, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
