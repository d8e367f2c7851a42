/*
 * tl_check.c - see tl_check.h.
 */
#include "tl_check.h"

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "fs_util.h"
#include "tl_files.h"
#include "tl_json.h"

#define MSG_MAX 8192
#define BODY_IN_MSG 1500 /* bytes of a body quoted in a failure message */

static int known_bugs; /* FS_KNOWN_BUG checks that showed their bug */

/* ---- runner -------------------------------------------------------------- */

void
fs_test_scratch_done(const char *dir)
{
	if (CU_get_number_of_failure_records() == 0)
		(void) fs_test_rmtree(dir);
	else
		fprintf(stderr, "kept %s\n", dir);
}

int
fs_test_main(CU_SuiteInfo *suites)
{
	unsigned int records, ran;

	signal(SIGPIPE, SIG_IGN);
	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		return 2;
	}
	if (CU_register_suites(suites) != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	records = CU_get_number_of_failure_records();
	ran = CU_get_number_of_tests_run();
	if (known_bugs > 0)
		fprintf(stderr,
		    "\n%d KNOWN BUG check%s showed the bug (see "
		    "above); not counted as failures\n",
		    known_bugs, known_bugs == 1 ? "" : "s");
	CU_cleanup_registry();
	if (ran == 0) {
		fprintf(stderr, "no test ran\n");
		return 1;
	}
	return records == 0 ? 0 : 1;
}

/* ---- assertions ---------------------------------------------------------- */

int
fs_check(int cond, const char *file, int line, const char *expr,
    const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	if (cond) {
		CU_assertImplementation(CU_TRUE, (unsigned) line, expr, file,
		    "", CU_FALSE);
		return 1;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Also printed as it happens, next to the programs' own output. */
	fprintf(stderr, "\n%s:%d: FAILED: %s\n", file, line, msg);
	CU_assertImplementation(CU_FALSE, (unsigned) line, msg, file, "",
	    CU_FALSE);
	return 0;
}

int
fs_check_known_bug(int cond, const char *file, int line, const char *expr,
    const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cond)
		return fs_check(0, file, line, expr,
		    "a KNOWN BUG no longer shows (fixed?): %s. Turn this "
		    "FS_KNOWN_BUG into an FS_CHECK so the fix stays.",
		    msg);
	known_bugs++;
	fprintf(stderr,
	    "\n%s:%d: KNOWN BUG (reported, not counted as a failure): %s\n",
	    file, line, msg);
	return 1;
}

int
fs_known_bugs(void)
{
	return known_bugs;
}

int
fs_check_status(const fs_http_resp *r, int expected, const char *file,
    int line)
{
	if (r->status == 0) {
		return fs_check(0, file, line, "status",
		    "%s %s: expected HTTP %d, got no response (%s) after "
		    "%lld ms",
		    r->method, r->path, expected, strerror(r->sys_errno),
		    (long long) r->elapsed_ms);
	}
	return fs_check(r->status == expected, file, line, "status",
	    "%s %s: expected HTTP %d, got %d; body: %.*s", r->method, r->path,
	    expected, r->status,
	    (int) (r->body_len > BODY_IN_MSG ? BODY_IN_MSG : r->body_len),
	    r->body ? r->body : "");
}

int
fs_check_json_eq(const json_t *actual, const char *expected_json,
    const char *what, const char *file, int line)
{
	json_error_t err;
	json_t *exp = json_loads(expected_json, JSON_DECODE_ANY, &err);
	int ok;

	if (exp == NULL) {
		return fs_check(0, file, line, what,
		    "bad expected JSON in the test: %s: %s", expected_json,
		    err.text);
	}
	ok = actual != NULL && json_equal(exp, (json_t *) actual);
	if (ok) {
		ok = fs_check(1, file, line, what, "%s", "");
	} else {
		char *a = fs_json_dump(actual);
		ok = fs_check(0, file, line, what, "%s: expected %s, got %.*s",
		    what, expected_json, BODY_IN_MSG, a);
		free(a);
	}
	json_decref(exp);
	return ok;
}

int
fs_check_json_same(const json_t *actual, const json_t *expected,
    const char *what, const char *file, int line)
{
	char *a, *e;
	int ok;

	if (actual != NULL && expected != NULL &&
	    json_equal((json_t *) actual, (json_t *) expected)) {
		return fs_check(1, file, line, what, "%s", "");
	}
	a = fs_json_dump(actual);
	e = fs_json_dump(expected);
	ok = fs_check(0, file, line, what, "%s: expected %.*s, got %.*s", what,
	    BODY_IN_MSG, e, BODY_IN_MSG, a);
	free(a);
	free(e);
	return ok;
}

int
fs_check_error(const fs_http_resp *r, int status, const char *expected_json,
    const char *file, int line)
{
	char what[300];

	if (!fs_check_status(r, status, file, line)) {
		return 0;
	}
	snprintf(what, sizeof(what), "body of %s %s", r->method, r->path);
	if (r->json == NULL) {
		return fs_check(0, file, line, what,
		    "%s: expected %s, got a non-JSON body: %.*s", what,
		    expected_json,
		    (int) (r->body_len > BODY_IN_MSG ? BODY_IN_MSG
		                                     : r->body_len),
		    r->body ? r->body : "");
	}
	return fs_check_json_eq(r->json, expected_json, what, file, line);
}

int
fs_check_code(int actual, int expected, const Flowsvc__Reply *reply,
    const char *expr, const char *file, int line)
{
	char detail[4096] = "";
	size_t n = 0;

	if (actual == expected) {
		return fs_check(1, file, line, expr, "%s", "");
	}
	if (reply != NULL) {
		n += (size_t) snprintf(detail, sizeof(detail),
		    "; reply message: \"%s\"",
		    reply->message ? reply->message : "(none)");
		for (size_t i = 0;
		     i < reply->n_violations && n < sizeof(detail); i++) {
			const Flowsvc__FieldViolation *v =
			    reply->violations[i];
			for (size_t j = 0;
			     j < v->n_messages && n < sizeof(detail); j++) {
				n += (size_t) snprintf(detail + n,
				    sizeof(detail) - n, "; %s: %s", v->field,
				    v->messages[j]);
			}
		}
	}
	return fs_check(0, file, line, expr,
	    "%s: expected %s (%s), got %s (%s)%s", expr,
	    fs_code_name(expected), fs_strerror(expected),
	    fs_code_name(actual), fs_strerror(actual), detail);
}

int
fs_check_str(const char *actual, const char *expected, const char *expr,
    const char *file, int line)
{
	int ok = actual != NULL && expected != NULL
	    ? strcmp(actual, expected) == 0
	    : actual == expected;

	return fs_check(ok, file, line, expr,
	    "%s: expected \"%s\", got %s%s%s", expr,
	    expected ? expected : "(null)", actual ? "\"" : "",
	    actual ? actual : "(null)", actual ? "\"" : "");
}

int
fs_check_int(long long actual, long long expected, const char *expr,
    const char *file, int line)
{
	return fs_check(actual == expected, file, line, expr,
	    "%s: expected %lld, got %lld", expr, expected, actual);
}

static int
is_str_array(const json_t *a, int uuids)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a)) {
		return 0;
	}
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v) ||
		    (uuids && !fs_is_lower_uuid(json_string_value(v)))) {
			return 0;
		}
	}
	return 1;
}

int
fs_check_component(const json_t *c, const char *file, int line)
{
	static const char *const keys[] = {"id", "name", "group",
	    "input_fields", "output_fields", "canvas_id", "flows", "version",
	    "created_at", "updated_at"};
	const char *bad = NULL;
	int64_t created = 0, updated = 0;
	size_t i;
	char *dump;
	int ok;

	if (!json_is_object(c)) {
		bad = "not an object";
	} else if (json_object_size(c) != sizeof(keys) / sizeof(keys[0])) {
		bad = "not exactly the ten documented keys";
	}
	for (i = 0; bad == NULL && i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (json_object_get(c, keys[i]) == NULL) {
			bad = keys[i];
		}
	}
	if (bad != NULL) {
		/* reported below */
	} else if (!fs_is_lower_uuid(fs_json_str(c, "id"))) {
		bad = "id is not a lower-case uuid";
	} else if (!fs_is_lower_uuid(fs_json_str(c, "canvas_id"))) {
		bad = "canvas_id is not a lower-case uuid";
	} else if (fs_json_str(c, "name") == NULL ||
	    fs_json_str(c, "group") == NULL) {
		bad = "name or group is not a string";
	} else if (!is_str_array(json_object_get(c, "input_fields"), 0) ||
	    !is_str_array(json_object_get(c, "output_fields"), 0)) {
		bad = "input_fields or output_fields is not a list of strings";
	} else if (!is_str_array(json_object_get(c, "flows"), 1)) {
		bad = "flows is not a list of lower-case uuids";
	} else if (fs_json_int(c, "version") < 1) {
		bad = "version is not an integer >= 1";
	} else if (!fs_is_rfc3339_us(fs_json_str(c, "created_at")) ||
	    !fs_is_rfc3339_us(fs_json_str(c, "updated_at"))) {
		bad = "a timestamp is not RFC 3339 UTC with microseconds";
	} else if (fs_time_parse(fs_json_str(c, "created_at"), &created) !=
	        0 ||
	    fs_time_parse(fs_json_str(c, "updated_at"), &updated) != 0 ||
	    updated < created) {
		bad = "updated_at is before created_at";
	}
	if (bad == NULL) {
		return fs_check(1, file, line, "component shape", "%s", "");
	}
	dump = fs_json_dump(c);
	ok = fs_check(0, file, line, "component shape",
	    "not a component (%s%s): %.*s",
	    json_is_object(c) && json_object_get(c, bad) == NULL &&
	            strchr(bad, ' ') == NULL
	        ? "missing key "
	        : "",
	    bad, BODY_IN_MSG, dump);
	free(dump);
	return ok;
}
