/* flow-gateway --log-format json --access-log: every stderr line is one JSON
 * object, and each request has a line with its method, path, status,
 * bytes, duration and request id. In text, every line has the format every
 * program shares (fs_log): "TIME flow-gateway[PID] level: message rid=ID",
 * with the backend's level words. */
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <jansson.h>

#include "fs_opts.h"
#include "testlib.h"

static void
test_gateway_json_access_log(void)
{
	static const char *const extra[] = {"--access-log", "--log-format",
	    "json", NULL};
	const char *hdr[] = {"X-Request-Id: log-\"q\"-1", NULL};
	fs_test_env env;
	fs_http_resp r;
	char path[PATH_MAX + 32];

	if (!FS_CHECK(fs_env_init(&env, "gwlogs") == 0, "init"))
		return;
	env.gw_extra = extra;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0 &&
	            fs_env_start_gateway(&env, 1) == 0,
	        "start")) {
		fs_env_fini(&env);
		return;
	}
	memset(&r, 0, sizeof(r));
	fs_http_once(env.gw_port, "GET", "/api/flows/", hdr, NULL, 0, &r);
	FS_CHECK(r.status == 200, "list: %d", r.status);
	size_t list_bytes = r.body_len;
	fs_http_resp_free(&r);
	FS_CHECK(fs_http_status(env.gw_port, "/nope") == 404, "404");
	FS_CHECK(fs_env_stop_backend(&env, SIGTERM) == 0, "stop backend");
	FS_CHECK(fs_test_proc_stop(&env.gateway, SIGTERM, 10000) == 0,
	    "gateway exits 0");

	snprintf(path, sizeof(path), "%s/flow-gateway.log", env.dir);
	FILE *f = fopen(path, "r");
	FS_CHECK(f != NULL, "open %s", path);
	char line[4096];
	int lines = 0, bad = 0, list_seen = 0, nope_seen = 0;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		json_error_t je;
		json_t *o = json_loads(line, 0, &je);
		lines++;
		if (o == NULL || !json_is_object(o) ||
		    fs_json_str(o, "time") == NULL ||
		    fs_json_str(o, "level") == NULL) {
			if (bad++ < 3)
				FS_CHECK(0, "not a JSON log line: %s", line);
			json_decref(o);
			continue;
		}
		FS_CHECK(fs_json_str(o, "program") != NULL &&
		        strcmp(fs_json_str(o, "program"), "flow-gateway") == 0,
		    "program: %s", line);
		const char *ev = fs_json_str(o, "event");
		const char *p = fs_json_str(o, "path");
		if (ev != NULL && strcmp(ev, "request") == 0 && p != NULL) {
			if (strcmp(p, "/api/flows/") == 0) {
				list_seen = 1;
				FS_CHECK(fs_json_int(o, "status") == 200 &&
				        fs_json_int(o, "bytes") ==
				            (json_int_t) list_bytes &&
				        json_is_real(json_object_get(o,
				            "duration_ms")) &&
				        strcmp(fs_json_str(o, "method"),
				            "GET") == 0,
				    "list line: %s", line);
				const char *rid = fs_json_str(o, "request_id");
				FS_CHECK(rid != NULL &&
				        strcmp(rid, "log-\"q\"-1") == 0,
				    "request id kept and escaped: %s", line);
			} else if (strcmp(p, "/nope") == 0) {
				nope_seen = fs_json_int(o, "status") == 404;
			}
		}
		json_decref(o);
	}
	if (f != NULL)
		fclose(f);
	FS_CHECK(lines >= 4 && bad == 0, "%d lines, %d not JSON", lines, bad);
	FS_CHECK(list_seen && nope_seen, "access lines: list %d, 404 %d",
	    list_seen, nope_seen);
	FS_CHECK(fs_env_fini(&env) == 0, "clean exits");
}

#define TIME_RE                                                               \
	"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z"

static int
matches(const char *s, const char *re)
{
	regex_t r;
	int ok;

	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
		return 0;
	ok = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

static void
test_gateway_text_log(void)
{
	static const char *const extra[] = {"--access-log", NULL};
	const char *hdr[] = {"X-Request-Id: log-text-1", NULL};
	fs_test_env env;
	fs_http_resp r;
	char path[PATH_MAX + 32], line[4096];
	int lines = 0, access = 0, open_warning = 0, version = 0;
	char want[128];
	FILE *f;

	if (!FS_CHECK(fs_env_init(&env, "gwtext") == 0, "init"))
		return;
	env.gw_extra = extra;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0 &&
	            fs_env_start_gateway(&env, 1) == 0,
	        "start")) {
		fs_env_fini(&env);
		return;
	}
	memset(&r, 0, sizeof(r));
	fs_http_once(env.gw_port, "GET", "/api/flows/", hdr, NULL, 0, &r);
	FS_CHECK(r.status == 200, "list: %d", r.status);
	fs_http_resp_free(&r);
	FS_CHECK(fs_test_proc_stop(&env.gateway, SIGTERM, 10000) == 0,
	    "gateway exits 0");

	snprintf(path, sizeof(path), "%s/flow-gateway.log", env.dir);
	/* The start-up line says which version runs, as --version does. */
	snprintf(want, sizeof(want), " info: version %s listening on ",
	    fs_opts_version());
	f = fopen(path, "r");
	FS_CHECK(f != NULL, "open %s", path);
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		lines++;
		FS_CHECK(matches(line,
		             "^" TIME_RE " flow-gateway\\[[0-9]+\\] "
		             "(debug|info|warn|error): [^ ].*\n$"),
		    "not in the shared format: %s", line);
		access += matches(line,
		    " info: request GET /api/flows/ 200 "
		    "[0-9]+B [0-9]+\\.[0-9]{3}ms "
		    "rid=log-text-1\n$");
		open_warning += strstr(line, " warn: no --tokens") != NULL;
		version += strstr(line, want) != NULL;
	}
	if (f != NULL)
		fclose(f);
	FS_CHECK(lines >= 4 && access == 1 && open_warning == 1 &&
	        version == 1,
	    "%d lines, %d access lines, %d warnings about --tokens, %d "
	    "start-up lines with \"%s\"",
	    lines, access, open_warning, version, want);
	FS_CHECK(fs_env_fini(&env) == 0, "clean exits");
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"--log-format json with --access-log",
	        test_gateway_json_access_log},
	    {"text lines in the shared format", test_gateway_text_log},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"gateway logs", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
