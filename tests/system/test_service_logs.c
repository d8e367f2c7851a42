/* flow-service logs: --log-format json gives one JSON object per line, the
 * access log line (--access-log, a bare flag as in flow-gateway) carries
 * the caller's request id, the start-up line names the version,
 * --log-level drops what is below it, and a bad value stops the start
 * with exit 2. Text lines
 * have the format every program shares (fs_log):
 * "TIME flow-service[PID] level: message rid=ID". */
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <CUnit/Basic.h>

#include "fs_opts.h"
#include "testlib.h"

/* Starts flow-service with the extra flags, calls HEALTH (waiting for it
 * to answer) with request id rid, stops it with SIGTERM. The log goes to
 * dir/name.log, whose path is written to log_path. Returns 0 or -1. */
static int
run_backend(const char *dir, const char *name, const char *rid, const char *f1,
    const char *v1, const char *f2, const char *v2,
    char log_path[PATH_MAX + 64])
{
	char url[64], data[PATH_MAX + 64];
	fs_test_proc p;
	fs_client *c = NULL;
	int port = fs_test_free_port(), code = FS_UNAVAILABLE, st;
	int64_t deadline;

	memset(&p, 0, sizeof(p));
	if (port < 0)
		return -1;
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	snprintf(data, sizeof(data), "%s/%s-data", dir, name);
	snprintf(log_path, PATH_MAX + 64, "%s/%s.log", dir, name);
	char *argv[] = {(char *) FLOW_SERVICE_BIN, (char *) "--listen", url,
	    (char *) "--data-dir", data, (char *) f1, (char *) v1, (char *) f2,
	    (char *) v2, NULL};
	if (fs_test_proc_start(&p, "flow-service", FLOW_SERVICE_BIN, argv,
	        log_path) != 0 ||
	    fs_client_open(&c, url) != 0)
		goto fail;
	deadline = fs_test_now_ms() + FS_TEST_START_TIMEOUT_MS;
	while (fs_test_now_ms() < deadline && fs_test_proc_alive(&p)) {
		Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
		Flowsvc__Reply *reply = NULL;
		fs_call_opts o = {.request_id = rid, .timeout_ms = 5000};
		code = fs_client_call(c, FLOWSVC__METHOD__HEALTH, &e.base, &o,
		    &reply);
		if (reply != NULL)
			flowsvc__reply__free_unpacked(reply, NULL);
		if (code != FS_UNAVAILABLE)
			break;
		fs_test_poll_pause(20);
	}
	fs_client_close(c);
	c = NULL;
	if (code != FS_OK)
		goto fail;
	st = fs_test_proc_stop(&p, SIGTERM, FS_TEST_STOP_TIMEOUT_MS);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
fail:
	if (c != NULL)
		fs_client_close(c);
	if (p.pid != 0)
		(void) fs_test_proc_stop(&p, SIGTERM, FS_TEST_STOP_TIMEOUT_MS);
	fs_test_dump_log("flow-service log", log_path, 30);
	return -1;
}

/* Every line of text matches re. Returns the number of lines, or -1 after
 * reporting the first that does not. */
static int
all_lines_match(const char *text, const char *re)
{
	regex_t r;
	const char *p = text;
	int n = 0;

	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
		return -1;
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		char line[4096];
		if (nl == NULL)
			nl = p + strlen(p);
		snprintf(line, sizeof(line), "%.*s", (int) (nl - p), p);
		if (regexec(&r, line, 0, NULL, 0) != 0) {
			FS_CHECK(0, "line does not match %s: %s", re, line);
			regfree(&r);
			return -1;
		}
		n++;
		p = *nl ? nl + 1 : nl;
	}
	regfree(&r);
	return n;
}

/* Does re match somewhere in text? */
static int
has_match(const char *text, const char *re)
{
	regex_t r;
	int ok;

	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
		return 0;
	ok = regexec(&r, text, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

#define TIME_RE                                                               \
	"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z"

static void
test_service_logs(void)
{
	char dir[PATH_MAX], log_path[PATH_MAX + 64];
	char *text = NULL;
	int lines = 0, rpc_lines = 0;

	if (!FS_CHECK(fs_test_mkdtemp(dir, "flowsvc-logs") == 0,
	        "scratch dir"))
		return;

	/* JSON: every line an object with time, level, pid; the access line
	 * has the request id as a field. */
	if (!FS_CHECK(run_backend(dir, "json", "log-test-1", "--log-format",
	                  "json", "--access-log", NULL, log_path) == 0,
	        "backend with --log-format json"))
		goto out;
	if (!FS_CHECK((text = fs_file_read(log_path, NULL)) != NULL, "read %s",
	        log_path))
		goto out;
	for (char *line = strtok(text, "\n"); line != NULL;
	     line = strtok(NULL, "\n")) {
		json_error_t err;
		json_t *j = json_loads(line, 0, &err);
		lines++;
		if (!FS_CHECK(json_is_object(j) && fs_json_str(j, "time") &&
		            fs_is_rfc3339_us(fs_json_str(j, "time")) &&
		            fs_json_str(j, "level") &&
		            fs_json_int(j, "pid") > 0,
		        "a JSON log line with time, level, pid: %s", line)) {
			json_decref(j);
			continue;
		}
		if (fs_json_str(j, "event") != NULL &&
		    strcmp(fs_json_str(j, "event"), "rpc") == 0) {
			rpc_lines++;
			FS_ASSERT_STR_EQ(fs_json_str(j, "method"), "HEALTH");
			FS_ASSERT_STR_EQ(fs_json_str(j, "code"), "OK");
			FS_ASSERT_STR_EQ(fs_json_str(j, "request_id"),
			    "log-test-1");
			FS_CHECK(json_is_number(
			             json_object_get(j, "duration_ms")),
			    "duration_ms is a number: %s", line);
			FS_ASSERT_STR_EQ(fs_json_str(j, "program"),
			    "flow-service");
		} else {
			FS_CHECK(fs_json_str(j, "msg") != NULL, "msg in %s",
			    line);
		}
		json_decref(j);
	}
	FS_CHECK(lines >= 3 && rpc_lines == 1,
	    "start, one access line, stop: %d lines, %d rpc", lines,
	    rpc_lines);
	free(text);
	text = NULL;

	/* Text: the access line carries the request id. */
	if (!FS_CHECK(run_backend(dir, "text", "log-test-2", "--log-level",
	                  "info", "--access-log", NULL, log_path) == 0,
	        "backend with text logs"))
		goto out;
	text = fs_file_read(log_path, NULL);
	FS_CHECK(text != NULL &&
	        strstr(text, " info: rpc HEALTH OK ") != NULL &&
	        strstr(text, " rid=log-test-2\n") != NULL,
	    "text access line: %s", text ? text : "");
	/* The shared format, line by line; the access line in full. */
	FS_CHECK(text != NULL &&
	        all_lines_match(text,
	            "^" TIME_RE " flow-service\\[[0-9]+\\] "
	            "(debug|info|warn|error): [^ ]") >= 3,
	    "text lines in the shared format");
	FS_CHECK(text != NULL &&
	        has_match(text,
	            "(^|\n)" TIME_RE " flow-service\\[[0-9]+\\] "
	            "info: rpc HEALTH OK [0-9]+\\.[0-9]{3}ms "
	            "rid=log-test-2\n"),
	    "the access line in full: %s", text ? text : "");
	/* The start-up line says which version runs, as --version does. */
	{
		char want[128];
		snprintf(want, sizeof(want),
		    " info: version %s serving on tcp://", fs_opts_version());
		FS_CHECK(text != NULL && strstr(text, want) != NULL &&
		        strstr(text, "access-log on)\n") != NULL,
		    "a start-up line with \"%s\": %s", want, text ? text : "");
	}
	free(text);
	text = NULL;

	/* --log-level warn: a clean start, request and stop log nothing. */
	if (!FS_CHECK(run_backend(dir, "warn", "log-test-3", "--log-level",
	                  "warn", "--access-log", NULL, log_path) == 0,
	        "backend with --log-level warn"))
		goto out;
	text = fs_file_read(log_path, NULL);
	FS_CHECK(text != NULL && text[0] == '\0', "nothing below warn: %s",
	    text ? text : "(unreadable)");

	/* --access-log is a bare flag, as in flow-gateway: the old
	 * "--access-log 1" leaves an argument no program takes. */
	{
		fs_test_run_result r;
		char *argv[] = {(char *) FLOW_SERVICE_BIN,
		    (char *) "--access-log", (char *) "1", NULL};
		memset(&r, 0, sizeof(r));
		FS_CHECK(fs_test_run(&r, argv, NULL, NULL, 30000) == 0 &&
		        r.exit_code == 2 && r.err != NULL &&
		        strcmp(r.err,
		            "flow-service: unexpected argument '1'\nTry "
		            "'flow-service --help'.\n") == 0,
		    "--access-log 1: exit %d, %s", r.exit_code,
		    r.err ? r.err : "");
		fs_test_run_result_free(&r);
	}

	/* A bad value: usage error, exit 2. */
	{
		fs_test_run_result r;
		char *argv[] = {(char *) FLOW_SERVICE_BIN,
		    (char *) "--log-format", (char *) "xml", NULL};
		memset(&r, 0, sizeof(r));
		FS_CHECK(fs_test_run(&r, argv, NULL, NULL, 30000) == 0 &&
		        r.exit_code == 2 &&
		        strstr(r.err, "--log-format") != NULL,
		    "--log-format xml: exit %d, %s", r.exit_code,
		    r.err ? r.err : "");
		fs_test_run_result_free(&r);
	}

out:
	free(text);
	fs_test_scratch_done(dir);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"log format, level and request ids", test_service_logs},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"service_logs", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
