/* proto/fs_util.c: uuid parsing and formatting. */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "fs_util.h"
#include "testlib.h"

static void
test_uuid_round_trip(void)
{
	for (int i = 0; i < 1000; i++) {
		uint8_t id[16], back[16];
		char s[FS_UUID_STRLEN + 1], up[FS_UUID_STRLEN + 1];

		fs_uuid_new(id);
		fs_uuid_format(id, s);
		FS_CHECK(fs_is_lower_uuid(s), "formatted: %s", s);
		FS_CHECK(fs_uuid_parse(s, back) == 0 &&
		        memcmp(id, back, 16) == 0,
		    "round trip of %s", s);
		/* Ids match case-insensitively (CONTRACT §2). */
		memcpy(up, s, sizeof(up));
		fs_str_upper(up);
		FS_CHECK(fs_uuid_parse(up, back) == 0 &&
		        memcmp(id, back, 16) == 0,
		    "upper case %s", up);
	}
}

static void
test_uuid_refusals(void)
{
	static const char good[] = "0b5e4a1c-7a9f-4a56-9c0e-0d5c3f1e2a3b";
	static const char bad_chars[] = "g-G /:@`{\x7f\x80\xff";
	char s[64];
	uint8_t out[16];

	FS_ASSERT_INT_EQ(fs_uuid_parse(good, out), 0);
	FS_ASSERT_INT_EQ(fs_uuid_parse(NULL, out), -1);
	/* Every prefix, and one character too many. */
	for (size_t n = 0; n < sizeof(good) - 1; n++) {
		snprintf(s, sizeof(s), "%.*s", (int) n, good);
		FS_CHECK(fs_uuid_parse(s, out) == -1, "prefix \"%s\"", s);
	}
	snprintf(s, sizeof(s), "%s0", good);
	FS_CHECK(fs_uuid_parse(s, out) == -1, "too long: %s", s);
	/* A wrong character at every position: a hex digit where a dash
	 * goes, a dash or other byte where a digit goes. */
	for (size_t i = 0; i < sizeof(good) - 1; i++) {
		for (const char *c = bad_chars; *c; c++) {
			memcpy(s, good, sizeof(good));
			if (s[i] == '-' && *c == '-')
				continue;
			s[i] = good[i] == '-' ? 'a' : *c;
			FS_CHECK(fs_uuid_parse(s, out) == -1,
			    "byte 0x%02x at %zu accepted",
			    (unsigned char) s[i], i);
		}
	}
	/* No dashes at all, same length. */
	FS_ASSERT_INT_EQ(fs_uuid_parse("0b5e4a1c07a9f04a5609c0e00d5c3f1e2a3b",
	                     out),
	    -1);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"uuid: format, parse, any case", test_uuid_round_trip},
	    {"uuid: prefixes, extra, wrong bytes, dashes", test_uuid_refusals},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"util", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
