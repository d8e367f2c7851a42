#include "fs_util.h"

#include <pthread.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

/* Each hex digit's value plus one, 0 for any other byte: one load per
 * character, as ids are parsed on every lookup and for every record a
 * snapshot load inserts. */
static const signed char hexval[256] = {
    ['0'] = 1,
    ['1'] = 2,
    ['2'] = 3,
    ['3'] = 4,
    ['4'] = 5,
    ['5'] = 6,
    ['6'] = 7,
    ['7'] = 8,
    ['8'] = 9,
    ['9'] = 10,
    ['a'] = 11,
    ['b'] = 12,
    ['c'] = 13,
    ['d'] = 14,
    ['e'] = 15,
    ['f'] = 16,
    ['A'] = 11,
    ['B'] = 12,
    ['C'] = 13,
    ['D'] = 14,
    ['E'] = 15,
    ['F'] = 16,
};

int
fs_uuid_parse(const char *s, uint8_t out[16])
{
	/* Offsets of the 16 byte pairs in 8-4-4-4-12. */
	static const uint8_t at[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24,
	    26, 28, 30, 32, 34};
	const unsigned char *u = (const unsigned char *) s;
	int bad = 0;

	if (s == NULL || strnlen(s, FS_UUID_STRLEN + 1) != FS_UUID_STRLEN ||
	    u[8] != '-' || u[13] != '-' || u[18] != '-' || u[23] != '-')
		return -1;
	for (int i = 0; i < 16; i++) {
		int hi = hexval[u[at[i]]] - 1, lo = hexval[u[at[i] + 1]] - 1;

		bad |= hi | lo; /* negative when either is not a digit */
		out[i] = (uint8_t) ((unsigned) hi << 4 | (unsigned) lo);
	}
	return bad < 0 ? -1 : 0;
}

void
fs_uuid_format(const uint8_t in[16], char out[FS_UUID_STRLEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	char *p = out;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[in[i] >> 4];
		*p++ = hex[in[i] & 15];
	}
	*p = '\0';
}

void
fs_uuid_new(uint8_t out[16])
{
	uuid_generate_random(out);
}

int64_t
fs_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
fs_now_ms(void)
{
	return fs_now_us() / 1000;
}

/* Two decimal digits of v (< 100) at p. */
static void
put2(char *p, unsigned v)
{
	p[0] = (char) ('0' + v / 10);
	p[1] = (char) ('0' + v % 10);
}

/* By hand rather than gmtime_r and snprintf: every component a list
 * answers has two of these, and at a million components the library
 * calls were a third of rendering them. The calendar is the proleptic
 * Gregorian one, as gmtime_r's; a year outside 0000-9999 prints as
 * 0000. */
void
fs_time_format(int64_t us, char out[FS_TIME_STRLEN + 1])
{
	int64_t sec = us / 1000000, frac = us % 1000000;

	if (frac < 0) {
		frac += 1000000;
		sec -= 1;
	}
	int64_t days = sec / 86400, rem = sec % 86400;
	if (rem < 0) {
		rem += 86400;
		days -= 1;
	}
	/* Days since 1970-01-01 to a civil date (H. Hinnant's
	 * days_from_civil, inverted): eras of 400 years from 0000-03-01. */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned) (z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned day = doy - (153 * mp + 2) / 5 + 1;
	unsigned month = mp < 10 ? mp + 3 : mp - 9;
	int64_t year = (int64_t) yoe + era * 400 + (month <= 2);
	unsigned y = year < 0 || year > 9999 ? 0 : (unsigned) year;
	unsigned s = (unsigned) rem, f = (unsigned) frac;

	put2(out, y / 100);
	put2(out + 2, y % 100);
	out[4] = '-';
	put2(out + 5, month);
	out[7] = '-';
	put2(out + 8, day);
	out[10] = 'T';
	put2(out + 11, s / 3600);
	out[13] = ':';
	put2(out + 14, s / 60 % 60);
	out[16] = ':';
	put2(out + 17, s % 60);
	out[19] = '.';
	put2(out + 20, f / 10000);
	put2(out + 22, f / 100 % 100);
	put2(out + 24, f % 100);
	out[26] = 'Z';
	out[27] = '\0';
}

int
fs_time_parse(const char *s, int64_t *us)
{
	struct tm tm;
	long frac;
	int n = 0;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strlen(s) != FS_TIME_STRLEN)
		return -1;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6ldZ%n", &tm.tm_year,
	        &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
	        &frac, &n) != 7 ||
	    n != FS_TIME_STRLEN)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t sec = timegm(&tm);
	if (sec == (time_t) -1)
		return -1;
	*us = (int64_t) sec * 1000000 + frac;
	return 0;
}

int
fs_cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	int rv = pthread_condattr_init(&ca);

	if (rv != 0)
		return rv;
	if ((rv = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) == 0)
		rv = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return rv;
}
