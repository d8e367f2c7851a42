/* The status table: every Code of the wire has a row with its own name, and
 * the HTTP mapping is CONTRACT §3's. */
#include <string.h>

#include <CUnit/Basic.h>

#include "testlib.h"

#include "flows.pb-c.h"
#include "fs_errors.h"

static void
test_errors_every_wire_code_has_a_row(void)
{
	const ProtobufCEnumDescriptor *d = &flowsvc__code__descriptor;

	CU_ASSERT_EQUAL(d->n_values, FS_CODE_COUNT);
	for (unsigned i = 0; i < d->n_values; i++) {
		int v = d->values[i].value;
		CU_ASSERT_STRING_EQUAL(fs_code_name(v), d->values[i].name);
		CU_ASSERT_PTR_NOT_NULL(fs_strerror(v));
	}
}

static void
test_errors_http_mapping(void)
{
	CU_ASSERT_EQUAL(fs_code_http(FS_OK), 200);
	CU_ASSERT_EQUAL(fs_code_http(FS_INVALID_ARGUMENT), 400);
	CU_ASSERT_EQUAL(fs_code_http(FS_ALREADY_EXISTS), 400);
	CU_ASSERT_EQUAL(fs_code_http(FS_NOT_FOUND), 404);
	CU_ASSERT_EQUAL(fs_code_http(FS_FAILED_PRECONDITION), 409);
	CU_ASSERT_EQUAL(fs_code_http(FS_UNAVAILABLE), 503);
	CU_ASSERT_EQUAL(fs_code_http(FS_DEADLINE_EXCEEDED), 503);
	CU_ASSERT_EQUAL(fs_code_http(FS_PERMISSION_DENIED), 403);
	CU_ASSERT_EQUAL(fs_code_http(FS_UNAUTHENTICATED), 401);
	CU_ASSERT_EQUAL(fs_code_http(FS_INTERNAL), 500);
	CU_ASSERT_EQUAL(fs_code_http(FS_ABORTED), 412);
	CU_ASSERT_EQUAL(fs_code_http(-1), 500);
	CU_ASSERT_EQUAL(fs_code_http(999), 500);
	CU_ASSERT_STRING_EQUAL(fs_code_name(999), "UNKNOWN_CODE");
	CU_ASSERT_STRING_EQUAL(fs_strerror(FS_NOT_FOUND), "Not found.");
	CU_ASSERT_STRING_EQUAL(fs_strerror(-5), "Internal error.");
}

/* The REST surface's own error table: a status for every row, at most
 * one string conversion in a detail, templates completed and cut to
 * fit, and each status's general answer first. */
static void
test_errors_rest_table(void)
{
	char buf[256];

	for (int e = 0; e < FS_REST_ERROR_COUNT; e++) {
		const char *d = fs_rest_detail(e);
		const char *pct = strchr(d, '%');
		int http = fs_rest_http(e);

		CU_ASSERT(http >= 400 && http < 600);
		CU_ASSERT(d[0] != '\0');
		/* One %s (maybe with a precision), nothing else. */
		if (pct != NULL) {
			const char *p = pct + 1;
			if (*p == '.')
				for (p++; *p >= '0' && *p <= '9'; p++)
					;
			CU_ASSERT(*p == 's');
			CU_ASSERT(strchr(p, '%') == NULL);
		}
		CU_ASSERT_EQUAL(fs_rest_of_http(http) <= e, 1);
	}
	CU_ASSERT_STRING_EQUAL(fs_rest_format(FS_REST_BODY_TOO_LARGE, "x", buf,
	                           sizeof(buf)),
	    "Request body too large.");
	CU_ASSERT_STRING_EQUAL(fs_rest_format(FS_REST_METHOD_NOT_ALLOWED,
	                           "PATCH", buf, sizeof(buf)),
	    "Method \"PATCH\" not allowed.");
	CU_ASSERT_STRING_EQUAL(fs_rest_format(FS_REST_MEDIA_TYPE, NULL, buf,
	                           sizeof(buf)),
	    "Unsupported media type \"\" in request.");
	fs_rest_format(FS_REST_JSON_PARSE, "expected a JSON object", buf, 10);
	CU_ASSERT_STRING_EQUAL(buf, "JSON pars");
	CU_ASSERT_EQUAL(fs_rest_of_http(400), FS_REST_MALFORMED);
	CU_ASSERT_EQUAL(fs_rest_of_http(413), FS_REST_BODY_TOO_LARGE);
	CU_ASSERT_EQUAL(fs_rest_of_http(404), -1);
	CU_ASSERT_EQUAL(fs_rest_http(FS_REST_ERROR_COUNT), 500);
	CU_ASSERT_STRING_EQUAL(fs_rest_detail(-1), "Internal error.");
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"every wire code has a row",
	        test_errors_every_wire_code_has_a_row},
	    {"HTTP mapping", test_errors_http_mapping},
	    {"REST error table", test_errors_rest_table},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"errors", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
