#include "fs_util.h"

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

void
fs_time_format(int64_t us, char out[FS_TIME_STRLEN + 1])
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
	char buf[80];
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
	    year, (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100,
	    tm.tm_min % 100, tm.tm_sec % 100, frac % 1000000);
	memcpy(out, buf, FS_TIME_STRLEN);
	out[FS_TIME_STRLEN] = '\0';
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
