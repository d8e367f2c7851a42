/* proto/fs_util.c's fs_time_format, formatted by hand, against the C
 * library's gmtime_r over the years it can show (0000-9999) and around
 * their edges, and back through fs_time_parse. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>

#include "fs_util.h"
#include "testlib.h"

/* What the formatter printed with gmtime_r and snprintf. */
static void
reference(int64_t us, char out[64])
{
	time_t sec = (time_t) (us / 1000000);
	long frac = (long) (us % 1000000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000000;
		sec -= 1;
	}
	if (gmtime_r(&sec, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	int year = tm.tm_year + 1900;
	if (year < 0 || year > 9999)
		year = 0;
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", year,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static int
same(int64_t us)
{
	char want[64], got[FS_TIME_STRLEN + 1];

	reference(us, want);
	fs_time_format(us, got);
	return FS_CHECK(strcmp(want, got) == 0, "%" PRId64 ": %s, not %s", us,
	    got, want);
}

static void
test_matches_gmtime(void)
{
	/* 0000-01-01 and 9999-12-31T23:59:59.999999, in microseconds. */
	const int64_t lo = -62167219200LL * 1000000, hi = 253402300799999999LL;
	const int64_t edges[] = {0, -1, 1, 999999, -999999, -1000000,
	    86399999999, 86400000000, 951782400000000 /* 2000-02-29 */,
	    4107542400000000 /* 2100-03-01 */, lo, lo - 1, hi, hi + 1,
	    -62135596800LL * 1000000 /* 0001-01-01 */, 1796264021123456};
	uint64_t x = 88172645463325252ULL;

	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		same(edges[i]);
	/* Every day boundary of four centuries around now and around year
	 * 0, and a million values spread over the range. */
	for (int64_t d = -73000; d < 73000; d++) {
		if (!same((d * 86400 + 86399) * 1000000 + 999999) ||
		    !same(lo + d * 86400000000LL + 86400000000LL * 73001))
			return;
	}
	for (int i = 0; i < 1000000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (!same(lo + (int64_t) (x % (uint64_t) (hi - lo))))
			return;
	}
}

static void
test_round_trip(void)
{
	char s[FS_TIME_STRLEN + 1];
	int64_t back;

	fs_time_format(1796264021123456, s);
	CU_ASSERT_STRING_EQUAL(s, "2026-12-03T02:13:41.123456Z");
	CU_ASSERT_EQUAL(fs_time_parse(s, &back), 0);
	CU_ASSERT_EQUAL(back, 1796264021123456);
}

int
main(void)
{
	static CU_TestInfo tests[] = {{"matches gmtime_r",
	                                  test_matches_gmtime},
	    {"round trip", test_round_trip}, CU_TEST_INFO_NULL};
	static CU_SuiteInfo suites[] = {{"time format", NULL, NULL, NULL, NULL,
	                                    tests},
	    CU_SUITE_INFO_NULL};
	return fs_test_main(suites);
}
