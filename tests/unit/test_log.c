/*
 * test_log.c - fs_log: the text and JSON line shapes, the request id,
 * levels, escaping, lines cut at FS_LOG_LINE_MAX that stay well-formed,
 * structured events, and the rate limit.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_log.h"
#include "testlib.h"

/* Captures what fs_log writes to stderr between cap_begin and cap_end. */
static FILE *cap_file;
static int saved_stderr = -1;

static void
cap_begin(void)
{
	fflush(stderr);
	cap_file = tmpfile();
	saved_stderr = dup(STDERR_FILENO);
	if (cap_file != NULL)
		dup2(fileno(cap_file), STDERR_FILENO);
}

/* Returns what was written (caller frees), "" when nothing. */
static char *
cap_end(void)
{
	char *buf = NULL;
	long n;

	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	if (cap_file == NULL)
		return strdup("");
	n = ftell(cap_file);
	if (n < 0 || (buf = calloc(1, (size_t) n + 1)) == NULL) {
		fclose(cap_file);
		return NULL;
	}
	rewind(cap_file);
	if (fread(buf, 1, (size_t) n, cap_file) != (size_t) n)
		buf[0] = '\0';
	fclose(cap_file);
	return buf;
}

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

#define TIME_RE                                                               \
	"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z"

static void
test_text_line(void)
{
	char *out;

	fs_log_setup("prog-a", FS_LOG_INFO, FS_LOG_TEXT);
	cap_begin();
	fs_log(FS_LOG_INFO, "rid-1", "hello %d", 42);
	fs_log(FS_LOG_WARN, NULL, "no id");
	fs_log(FS_LOG_DEBUG, "x", "below the level");
	out = cap_end();
	FS_CHECK(out != NULL &&
	        matches(out,
	            "^" TIME_RE " prog-a\\[[0-9]+\\] info: hello 42 "
	            "rid=rid-1\n" TIME_RE " prog-a\\[[0-9]+\\] warn: "
	            "no id\n$"),
	    "text lines: %s", out ? out : "(null)");
	free(out);
}

static void
test_json_line(void)
{
	char *out, *nl;
	json_t *j;

	fs_log_setup("prog-b", FS_LOG_DEBUG, FS_LOG_JSON);
	cap_begin();
	fs_log(FS_LOG_ERROR, "r\"2", "say \"%s\"\n", "hi");
	out = cap_end();
	if (!FS_CHECK(out != NULL && (nl = strchr(out, '\n')) != NULL &&
	            nl[1] == '\0',
	        "one line: %s", out ? out : "(null)"))
		goto done;
	j = json_loads(out, 0, NULL);
	FS_CHECK(json_is_object(j), "JSON: %s", out);
	FS_ASSERT_STR_EQ(fs_json_str(j, "program"), "prog-b");
	FS_ASSERT_STR_EQ(fs_json_str(j, "level"), "error");
	FS_ASSERT_STR_EQ(fs_json_str(j, "request_id"), "r\"2");
	FS_ASSERT_STR_EQ(fs_json_str(j, "msg"), "say \"hi\"\n");
	FS_CHECK(fs_json_int(j, "pid") == getpid(), "pid: %s", out);
	FS_CHECK(fs_json_str(j, "time") != NULL &&
	        fs_is_rfc3339_us(fs_json_str(j, "time")),
	    "time: %s", out);
	json_decref(j);
done:
	free(out);
}

/* A newline in a message (a decoded request path, a peer's text) must
 * not start a line of its own. */
static void
test_text_escapes_control_characters(void)
{
	char *out;

	fs_log_setup("p", FS_LOG_INFO, FS_LOG_TEXT);
	cap_begin();
	fs_log(FS_LOG_INFO, "a\nb", "one\ntwo\r\x01 three\tfour");
	out = cap_end();
	FS_CHECK(out != NULL &&
	        matches(out,
	            " info: one\\\\ntwo\\\\r\\\\x01 three\\\\tfour "
	            "rid=a\\\\nb\n$") &&
	        strchr(out, '\n') == out + strlen(out) - 1,
	    "escaped: %s", out ? out : "(null)");
	free(out);
}

/* A message longer than a line is cut; the text line keeps its request
 * id and newline, the JSON line stays one valid object. */
static void
test_long_lines_are_cut_whole(void)
{
	char *big = malloc(3 * FS_LOG_LINE_MAX), *out;
	json_t *j;

	if (big == NULL)
		return;
	memset(big, 'x', 3 * FS_LOG_LINE_MAX - 1);
	big[3 * FS_LOG_LINE_MAX - 1] = '\0';
	big[100] = '"'; /* escapes take room too */
	fs_log_setup("p", FS_LOG_INFO, FS_LOG_TEXT);
	cap_begin();
	fs_log(FS_LOG_INFO, "keep-me", "%s", big);
	out = cap_end();
	FS_CHECK(out != NULL && strlen(out) <= FS_LOG_LINE_MAX &&
	        matches(out, "x rid=keep-me\n$") &&
	        strchr(out, '\n') == out + strlen(out) - 1,
	    "cut text line: %zu bytes", out ? strlen(out) : 0);
	free(out);

	fs_log_setup("p", FS_LOG_INFO, FS_LOG_JSON);
	for (int k = 0; k < 2; k++) {
		cap_begin();
		if (k == 0) {
			fs_log(FS_LOG_INFO, "keep-me", "%s", big);
		} else {
			fs_log_field f[] = {FS_LOG_STR("path", big),
			    FS_LOG_INT("status", 200)};
			fs_log_event(FS_LOG_INFO, "keep-me", "request", f, 2);
		}
		out = cap_end();
		j = out != NULL ? json_loads(out, 0, NULL) : NULL;
		FS_CHECK(out != NULL && strlen(out) <= FS_LOG_LINE_MAX &&
		        json_is_object(j) &&
		        fs_json_str(j, "request_id") != NULL &&
		        strcmp(fs_json_str(j, "request_id"), "keep-me") == 0,
		    "cut JSON line %d: %zu bytes, %s", k,
		    out ? strlen(out) : 0, j ? "valid" : "not JSON");
		json_decref(j);
		free(out);
	}
	free(big);
}

static void
test_events(void)
{
	fs_log_field f[] = {FS_LOG_STR("method", "GET"),
	    FS_LOG_STR("path", "/api/flows/"), FS_LOG_INT("status", 200),
	    FS_LOG_BYTES("bytes", 302), FS_LOG_MS("duration_ms", 0.8125),
	    FS_LOG_FLAG("aborted", 0)};
	char *out;
	json_t *j;

	fs_log_setup("gw", FS_LOG_INFO, FS_LOG_TEXT);
	cap_begin();
	fs_log_event(FS_LOG_INFO, "r9", "request", f, 6);
	f[5] = FS_LOG_FLAG("aborted", 1);
	fs_log_event(FS_LOG_INFO, NULL, "request", f, 6);
	out = cap_end();
	FS_CHECK(out != NULL &&
	        matches(out,
	            " info: request GET /api/flows/ 200 302B "
	            "0\\.81[23]ms rid=r9\n.* info: request GET "
	            "/api/flows/ 200 302B 0\\.81[23]ms \\(aborted\\)\n$"),
	    "text events: %s", out ? out : "(null)");
	free(out);

	fs_log_setup("gw", FS_LOG_INFO, FS_LOG_JSON);
	cap_begin();
	fs_log_event(FS_LOG_INFO, "r9", "request", f, 6);
	out = cap_end();
	j = out != NULL ? json_loads(out, 0, NULL) : NULL;
	if (FS_CHECK(json_is_object(j), "JSON event: %s", out ? out : "")) {
		FS_ASSERT_STR_EQ(fs_json_str(j, "event"), "request");
		FS_ASSERT_STR_EQ(fs_json_str(j, "method"), "GET");
		FS_ASSERT_STR_EQ(fs_json_str(j, "path"), "/api/flows/");
		CU_ASSERT_EQUAL(fs_json_int(j, "status"), 200);
		CU_ASSERT_EQUAL(fs_json_int(j, "bytes"), 302);
		CU_ASSERT(json_is_real(json_object_get(j, "duration_ms")));
		CU_ASSERT(json_is_true(json_object_get(j, "aborted")));
		CU_ASSERT_PTR_NULL(json_object_get(j, "msg"));
	}
	json_decref(j);
	free(out);
}

static void
test_levels(void)
{
	enum fs_log_level l;
	enum fs_log_format f;
	static const char *const names[] = {"debug", "info", "warn", "error"};

	for (int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(fs_log_level_parse(names[i], &l), 0);
		CU_ASSERT_EQUAL((int) l, i);
		FS_ASSERT_STR_EQ(fs_log_level_name(l), names[i]);
	}
	CU_ASSERT_EQUAL(fs_log_level_parse("INFO", &l), -1);
	CU_ASSERT_EQUAL(fs_log_level_parse("warning", &l), -1);
	CU_ASSERT_EQUAL(fs_log_format_parse("json", &f), 0);
	CU_ASSERT_EQUAL(f, FS_LOG_JSON);
	CU_ASSERT_EQUAL(fs_log_format_parse("xml", &f), -1);
	fs_log_setup("p", FS_LOG_WARN, FS_LOG_TEXT);
	CU_ASSERT(!fs_log_enabled(FS_LOG_INFO));
	CU_ASSERT(fs_log_enabled(FS_LOG_ERROR));
}

/* Ten a second from one source: the rest are counted, and the next line
 * that goes out says how many. */
static void
test_rate_limit(void)
{
	fs_log_limit lim;
	int ok = 0, out = 0, reported = -1;

	fs_log_limit_init(&lim, 10);
	for (int i = 0; i < 1000; i++) {
		int k = fs_log_limit_take(&lim);
		if (k >= 0)
			ok++;
		else
			out++;
	}
	/* The loop may straddle a second: at most two budgets. */
	FS_CHECK(ok >= 10 && ok <= 20 && ok + out == 1000,
	    "%d went out, %d left out", ok, out);
	{
		int64_t until = fs_test_now_ms() + 3000;
		while (fs_test_now_ms() < until &&
		    (reported = fs_log_limit_take(&lim)) < 0)
			fs_test_poll_pause(50);
	}
	FS_CHECK(reported > 0, "the next second's first line reports %d",
	    reported);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"text: TIME PROGRAM[PID] level: message rid=ID", test_text_line},
	    {"json: one object, the id as a field", test_json_line},
	    {"control characters stay on one line",
	        test_text_escapes_control_characters},
	    {"long lines are cut and stay well-formed",
	        test_long_lines_are_cut_whole},
	    {"structured events in both formats", test_events},
	    {"level and format names", test_levels},
	    {"rate limit", test_rate_limit},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"fs_log", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
