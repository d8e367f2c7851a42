/*
 * jschema_formats.c - what the keywords of the schema validator share:
 * equality and order of values, code points, patterns, formats and type
 * names. See jschema_int.h.
 */
#include "jschema_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ---- what the keywords share ------------------------------------------- */

/* Equality as JSON Schema defines it: numbers by value, whatever their
 * representation (json_equal holds 1 and 1.0 different). */
int
js_equal(const json_t *a, const json_t *b)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b)) {
			return json_integer_value(a) == json_integer_value(b);
		}
		return json_number_value(a) == json_number_value(b);
	}
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b)) {
			return 0;
		}
		for (i = 0; i < json_array_size(a); i++) {
			if (!js_equal(json_array_get(a, i),
			        json_array_get(b, i))) {
				return 0;
			}
		}
		return 1;
	}
	if (json_is_object(a) && json_is_object(b)) {
		if (json_object_size(a) != json_object_size(b)) {
			return 0;
		}
		json_object_foreach((json_t *) a, k, v)
		{
			const json_t *w = json_object_get(b, k);

			if (w == NULL || !js_equal(v, w)) {
				return 0;
			}
		}
		return 1;
	}
	return json_equal(a, b);
}

/* Compares two numbers: <0, 0, >0. Integers exactly, else as doubles. */
int
js_num_cmp(const json_t *a, const json_t *b)
{
	double x, y;

	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t i = json_integer_value(a);
		json_int_t j = json_integer_value(b);

		return (i > j) - (i < j);
	}
	x = json_number_value(a);
	y = json_number_value(b);
	return (x > y) - (x < y);
}

/* Unicode code points of the UTF-8 text s[0..n): every byte that does not
 * continue a sequence starts one. */
size_t
js_utf8_count(const char *s, size_t n)
{
	size_t i, count = 0;

	for (i = 0; i < n; i++) {
		if (((unsigned char) s[i] & 0xc0) != 0x80) {
			count++;
		}
	}
	return count;
}

/* Compiles a pattern. Returns 0 (the caller regfrees re), or -1 with the
 * reason in why. */
int
js_pattern_compile(const json_t *pat, regex_t *re, char *why, size_t whylen)
{
	const char *s = json_string_value(pat);
	size_t i, n = json_string_length(pat);
	int rc;

	if (strlen(s) != n) {
		snprintf(why, whylen, "it contains a NUL character");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (s[i] != '\\') {
			continue;
		}
		i++;
		if (s[i] == 'd' || s[i] == 'D') {
			snprintf(why, whylen,
			    "POSIX ERE has no \\%c (it would match a '%c'): "
			    "write [%s0-9]",
			    s[i], s[i], s[i] == 'D' ? "^" : "");
			return -1;
		}
	}
	rc = regcomp(re, s, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, re, why, whylen);
		return -1;
	}
	return 0;
}

/* digits decimal digits at s, into *out. Stops at a NUL, which is not a
 * digit, so it never reads past the string. */
static int
digits(const char *s, int ndigits, int *out)
{
	int i, v = 0;

	for (i = 0; i < ndigits; i++) {
		if (!isdigit((unsigned char) s[i])) {
			return 0;
		}
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 1;
}

static int
days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
	    31};
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static int
is_date_time(const char *s)
{
	int y, mo, d, h, mi, sec, oh, om;
	const char *p;

	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec)) {
		return 0;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 60) {
		return 0;
	}
	p = s + 19;
	if (*p == '.') {
		if (!isdigit((unsigned char) p[1])) {
			return 0;
		}
		for (p++; isdigit((unsigned char) *p); p++) {
		}
	}
	if (*p == 'Z' || *p == 'z') {
		return p[1] == '\0';
	}
	if ((*p != '+' && *p != '-') || !digits(p + 1, 2, &oh) ||
	    p[3] != ':' || !digits(p + 4, 2, &om) || p[6] != '\0') {
		return 0;
	}
	return oh <= 23 && om <= 59;
}

static int
is_uuid(const char *s)
{
	size_t i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-') {
				return 0;
			}
		} else if (!isxdigit((unsigned char) s[i])) {
			return 0;
		}
	}
	return s[36] == '\0';
}

/* Any text without whitespace or control characters: the service's own
 * URIs are checked by the tests that make them; this only catches what
 * can never be a URI reference. */
static int
is_uri_reference(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char) *s;

		if (ch <= 0x20 || ch == 0x7f) {
			return 0;
		}
	}
	return 1;
}

static const struct js_format formats[] = {
    {"uuid", is_uuid},
    {"date-time", is_date_time},
    {"uri-reference", is_uri_reference},
};

const struct js_format *
js_format_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (strcmp(formats[i].name, name) == 0) {
			return &formats[i];
		}
	}
	return NULL;
}

static const char *const types[] = {"string", "integer", "number", "boolean",
    "array", "object"};

int
js_type_known(const char *t)
{
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(types[i], t) == 0) {
			return 1;
		}
	}
	return 0;
}
