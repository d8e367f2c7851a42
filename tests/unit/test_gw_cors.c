/*
 * test_gw_cors.c - gateway/gw_cors: the origins --cors-origin accepts and
 * which request origins get an Access-Control-Allow-Origin.
 */
#include <string.h>

#include "gw_cors.h"
#include "testlib.h"

static void
test_check(void)
{
	static const char *const good[] = {"*", "http://localhost",
	    "https://console.example.com", "http://127.0.0.1:8081",
	    "https://[::1]:3000", "app+x.y-z://host",
	    "HTTPS://Console.Example"};
	static const char *const bad[] = {"", "null", "localhost",
	    "console.example.com", "https://", "https://x/", "https://x/path",
	    "https://x:", "https://x:1234567", "https://x:p", "https://x?q",
	    "https://x#f", "https://user@x", "**", "* ", "https:// x",
	    "https://[]", "1http://x", "https://x,https://y"};
	char err[256] = "";

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		FS_CHECK(gw_cors_check(good[i], err, sizeof(err)) == 0,
		    "'%s' refused: %s", good[i], err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		FS_CHECK(gw_cors_check(bad[i], err, sizeof(err)) == -1 &&
		        strstr(err, "--cors-origin") != NULL,
		    "'%s' accepted", bad[i]);
	}
}

static void
test_allow(void)
{
	const char *const two[] = {"https://a.example", "http://b.example:81"};
	const char *const any[] = {"https://a.example", "*"};
	gw_cors *c;
	char err[256] = "";

	/* Off: none given. */
	FS_ASSERT_INT_EQ(gw_cors_new(&c, NULL, 0, err, sizeof(err)), 0);
	FS_CHECK(c == NULL, "no origins: off");
	FS_CHECK(gw_cors_allow(NULL, "https://a.example") == NULL, "off");

	FS_ASSERT_INT_EQ(gw_cors_new(&c, two, 2, err, sizeof(err)), 0);
	if (c == NULL)
		return;
	/* Exact origins, any case, echoed as sent. */
	FS_ASSERT_STR_EQ(gw_cors_allow(c, "https://a.example"),
	    "https://a.example");
	FS_ASSERT_STR_EQ(gw_cors_allow(c, "HTTPS://A.example"),
	    "HTTPS://A.example");
	FS_ASSERT_STR_EQ(gw_cors_allow(c, "http://b.example:81"),
	    "http://b.example:81");
	/* Anything else: no CORS header. */
	FS_CHECK(gw_cors_allow(c, NULL) == NULL, "no Origin");
	FS_CHECK(gw_cors_allow(c, "http://a.example") == NULL, "scheme");
	FS_CHECK(gw_cors_allow(c, "https://a.example:443") == NULL, "port");
	FS_CHECK(gw_cors_allow(c, "http://b.example") == NULL, "no port");
	FS_CHECK(gw_cors_allow(c, "https://a.example.evil") == NULL, "suffix");
	FS_CHECK(gw_cors_allow(c, "https://xa.example") == NULL, "prefix");
	FS_CHECK(gw_cors_allow(c, "null") == NULL, "null");
	gw_cors_free(c);

	FS_ASSERT_INT_EQ(gw_cors_new(&c, any, 2, err, sizeof(err)), 0);
	FS_ASSERT_STR_EQ(gw_cors_allow(c, "https://anything.example"), "*");
	FS_ASSERT_STR_EQ(gw_cors_allow(c, "null"), "*");
	FS_CHECK(gw_cors_allow(c, NULL) == NULL, "no Origin, no CORS");
	gw_cors_free(c);

	FS_ASSERT_INT_EQ(gw_cors_new(&c, (const char *const[]){"x"}, 1, err,
	                     sizeof(err)),
	    -1);
	FS_CHECK(c == NULL, "nothing made");
}

static CU_TestInfo cors_tests[] = {
    {"--cors-origin syntax", test_check},
    {"which origins are allowed", test_allow},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gw_cors", NULL, NULL, NULL, NULL, cors_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
