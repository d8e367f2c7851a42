/*
 * tl_check.h - the CUnit side of every test program: fs_test_main (register
 * the suites, run them, turn the result into an exit code) and assertions
 * that say what went wrong (expected vs actual, the request and the body,
 * the reply's message and field violations) and return whether they held,
 * so a test can stop early: if (!FS_ASSERT...) return.
 *
 * Not thread-safe: the checks record with CUnit, so they must run on the
 * thread that runs the test.
 */
#ifndef TESTS_TL_CHECK_H
#define TESTS_TL_CHECK_H

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "flows.pb-c.h"
#include "fs_errors.h"
#include "tl_http.h"

/* ---- runner -------------------------------------------------------------- */

/* Registers the suites, runs them verbosely, and returns the process exit
 * code: 0 only when every suite set up and cleaned up and every assertion
 * passed. */
int fs_test_main(CU_SuiteInfo *suites);

/* The end of a scratch dir (fs_test_mkdtemp): removed when no assertion
 * has failed so far, else kept for a look, and its path said on stderr. */
void fs_test_scratch_done(const char *dir);

/* ---- assertions ---------------------------------------------------------- */

/* Records an assertion with CUnit; on failure the message is formatted from
 * fmt. Returns cond (so a test can stop early: if (!FS_ASSERT...) return). */
int fs_check(int cond, const char *file, int line, const char *expr,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

int fs_check_status(const fs_http_resp *r, int expected, const char *file,
    int line);
int fs_check_json_eq(const json_t *actual, const char *expected_json,
    const char *what, const char *file, int line);
int fs_check_error(const fs_http_resp *r, int status,
    const char *expected_json, const char *file, int line);
int fs_check_code(int actual, int expected, const Flowsvc__Reply *reply,
    const char *expr, const char *file, int line);
int fs_check_str(const char *actual, const char *expected, const char *expr,
    const char *file, int line);
int fs_check_int(long long actual, long long expected, const char *expr,
    const char *file, int line);

#define FS_CHECK(cond, ...)                                                   \
	fs_check(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

/* HTTP status; on failure prints method, path, expected, actual, body. */
#define FS_ASSERT_STATUS(resp, expected)                                      \
	fs_check_status((resp), (expected), __FILE__, __LINE__)

/* JSON value equal (json_equal) to the JSON text expected. */
#define FS_ASSERT_JSON_EQ(actual, expected)                                   \
	fs_check_json_eq((actual), (expected), #actual, __FILE__, __LINE__)

/* Two JSON values equal (json_equal); prints both when not. */
int fs_check_json_same(const json_t *actual, const json_t *expected,
    const char *what, const char *file, int line);
#define FS_ASSERT_JSON_SAME(actual, expected)                                 \
	fs_check_json_same((actual), (expected), #actual, __FILE__, __LINE__)

/* Status and whole body: FS_ASSERT_ERROR(&r, 404, "{\"detail\": ...}"). */
#define FS_ASSERT_ERROR(resp, status, expected_json)                          \
	fs_check_error((resp), (status), (expected_json), __FILE__, __LINE__)

/* An fs_code result: names and default messages of both codes, and the
 * reply's message and field violations when there is one. */
#define FS_ASSERT_OK(expr)                                                    \
	fs_check_code((expr), FS_OK, NULL, #expr, __FILE__, __LINE__)
#define FS_ASSERT_CODE(expr, expected, reply)                                 \
	fs_check_code((expr), (expected), (reply), #expr, __FILE__, __LINE__)

/* A component as the REST API and flowctl show it: exactly the ten
 * documented keys, each of the documented type and format. */
int fs_check_component(const json_t *c, const char *file, int line);
#define FS_ASSERT_COMPONENT(c) fs_check_component((c), __FILE__, __LINE__)

/* A check that a known, reported bug makes fail today. While cond is
 * false it records no failure but prints "KNOWN BUG" and the message
 * loudly (and counts it: fs_known_bugs); once cond holds, the bug is fixed
 * and the check fails, asking for the mark to become a plain FS_CHECK so
 * the fix stays. */
int fs_check_known_bug(int cond, const char *file, int line, const char *expr,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define FS_KNOWN_BUG(cond, ...)                                               \
	fs_check_known_bug(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

/* How many FS_KNOWN_BUG checks showed their bug in this process. */
int fs_known_bugs(void);

#define FS_ASSERT_STR_EQ(actual, expected)                                    \
	fs_check_str((actual), (expected), #actual, __FILE__, __LINE__)
#define FS_ASSERT_INT_EQ(actual, expected)                                    \
	fs_check_int((long long) (actual), (long long) (expected), #actual,   \
	    __FILE__, __LINE__)

#endif
