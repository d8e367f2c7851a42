/*
 * jschema.c - see jschema.h.
 *
 * Two recursive walks over Schema Objects: v_node validates an instance,
 * c_node checks a schema. Each carries where it is as a linked list of
 * frames on the C stack (nothing to push and pop, nothing to overflow) and
 * counts its depth, which is what ends $ref cycles. Messages are built only
 * when something fails.
 */
#include "jschema.h"

#include <ctype.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The message of one branch of anyOf or oneOf, quoted in the message of the
 * whole when no branch matches. */
#define BRANCH_ERR_MAX 512
/* The longest dump of a value quoted in a message (then "..."). */
#define VALUE_MAX 80
/* How deep js_check_schema looks for schema inside root. */
#define FIND_DEPTH_MAX 256

/* v_node's results: an instance that does not match, and a schema that
 * cannot be applied (a $ref that does not resolve, a keyword of the wrong
 * type, too deep). The second must not be hidden by anyOf, oneOf or not:
 * a broken branch is a broken schema, not a branch that fails to match. */
#define MISMATCH (-1)
#define BROKEN (-2)

/* ---- messages ------------------------------------------------------------ */

/* A bounded string being written. len may pass cap: then the text was
 * truncated and nothing more is written. */
struct sbuf {
	char *p;
	size_t cap;
	size_t len;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_init(struct sbuf *b, char *p, size_t cap)
{
	b->p = p;
	b->cap = p != NULL ? cap : 0;
	b->len = 0;
	if (b->cap > 0) {
		p[0] = '\0';
	}
}

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->len + 1 >= b->cap) {
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		/* An encoding error leaves the tail undefined. */
		b->p[b->len] = '\0';
		return;
	}
	b->len += (size_t) n;
}

/* One byte of a pointer segment or a quoted string; control characters
 * escaped so that a message stays on one line. */
static void
sb_byte(struct sbuf *b, unsigned char ch)
{
	if (ch < 0x20 || ch == 0x7f) {
		sb_printf(b, "\\u%04x", ch);
	} else {
		sb_printf(b, "%c", ch);
	}
}

/* s in double quotes, escaped as in JSON (so a pattern reads as it is
 * written in the document). */
static void
sb_quoted(struct sbuf *b, const char *s)
{
	sb_printf(b, "\"");
	for (; *s != '\0' && b->len + 1 < b->cap; s++) {
		if (*s == '"' || *s == '\\') {
			sb_printf(b, "\\%c", *s);
		} else if (*s == '\n') {
			sb_printf(b, "\\n");
		} else if (*s == '\t') {
			sb_printf(b, "\\t");
		} else {
			sb_byte(b, (unsigned char) *s);
		}
	}
	sb_printf(b, "\"");
}

/* Text without pointer escaping (a $ref as written), one line. */
static void
sb_text(struct sbuf *b, const char *s)
{
	for (; *s != '\0' && b->len + 1 < b->cap; s++) {
		sb_byte(b, (unsigned char) *s);
	}
}

/* One JSON pointer segment: ~ and / escaped as RFC 6901 says. */
static void
sb_segment(struct sbuf *b, const char *s)
{
	for (; *s != '\0' && b->len + 1 < b->cap; s++) {
		if (*s == '~') {
			sb_printf(b, "~0");
		} else if (*s == '/') {
			sb_printf(b, "~1");
		} else {
			sb_byte(b, (unsigned char) *s);
		}
	}
}

/* v as compact JSON, cut at VALUE_MAX bytes (on a character boundary).
 * json_dumps escapes control characters but DEL, which sb_byte does. */
static void
sb_value(struct sbuf *b, const json_t *v)
{
	char *s;
	size_t i, n;

	/* Quiet runs (not, the branches of anyOf) need no dump. */
	if (b->len + 1 >= b->cap) {
		return;
	}
	s = json_dumps(v,
	    JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	if (s == NULL) {
		sb_printf(b, "(a %s)", v != NULL && json_is_object(v)
		    ? "object" : "value");
		return;
	}
	n = strlen(s);
	if (n > VALUE_MAX) {
		n = VALUE_MAX - 3;
		while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80) {
			n--;
		}
	}
	for (i = 0; i < n && b->len + 1 < b->cap; i++) {
		sb_byte(b, (unsigned char) s[i]);
	}
	if (n < strlen(s)) {
		sb_printf(b, "...");
	}
	free(s);
}

/* The JSON Schema name of v's type ("integer" is a JSON integer, "number"
 * any other number), bare for "expected integer, got string" and with its
 * article for "must be a string, not an integer". */
static const struct {
	const char *bare, *article;
} type_names[] = {
	[JSON_OBJECT] = {"object", "an object"},
	[JSON_ARRAY] = {"array", "an array"},
	[JSON_STRING] = {"string", "a string"},
	[JSON_INTEGER] = {"integer", "an integer"},
	[JSON_REAL] = {"number", "a number"},
	[JSON_TRUE] = {"boolean", "a boolean"},
	[JSON_FALSE] = {"boolean", "a boolean"},
	[JSON_NULL] = {"null", "null"},
};

static const char *
type_name(const json_t *v)
{
	return v == NULL ? "nothing" : type_names[json_typeof(v)].bare;
}

static const char *
a_type_name(const json_t *v)
{
	return v == NULL ? "nothing" : type_names[json_typeof(v)].article;
}

static const char *
plural(uintmax_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* ---- paths --------------------------------------------------------------- */

/* Where an instance is: one frame per object member or array element. */
struct ipath {
	const struct ipath *up;
	const char *key; /* NULL: the element idx of an array */
	size_t idx;
};

static void
sb_ipath(struct sbuf *b, const struct ipath *ip)
{
	if (ip == NULL) {
		return;
	}
	sb_ipath(b, ip->up);
	sb_printf(b, "/");
	if (ip->key != NULL) {
		sb_segment(b, ip->key);
	} else {
		sb_printf(b, "%zu", ip->idx);
	}
}

/* Where a schema is: like ipath, but a $ref followed starts over from the
 * reference, which is a pointer into root already. */
struct spath {
	const struct spath *up;
	const char *key; /* NULL: an index, unless ref is set */
	size_t idx;
	const char *ref; /* the $ref that led here ("#/..."), or NULL */
};

/* base: where schema itself is ("#/components/schemas/Flow", "#") or
 * "(schema)" when it is not inside root. */
static void
sb_spath(struct sbuf *b, const struct spath *sp, const char *base)
{
	if (sp == NULL) {
		sb_text(b, base);
		return;
	}
	if (sp->ref != NULL) {
		sb_text(b, sp->ref);
		return;
	}
	sb_spath(b, sp->up, base);
	sb_printf(b, "/");
	if (sp->key != NULL) {
		sb_segment(b, sp->key);
	} else {
		sb_printf(b, "%zu", sp->idx);
	}
}

/* ---- references ---------------------------------------------------------- */

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9') {
		return ch - '0';
	}
	if (ch >= 'a' && ch <= 'f') {
		return ch - 'a' + 10;
	}
	if (ch >= 'A' && ch <= 'F') {
		return ch - 'A' + 10;
	}
	return -1;
}

/* Decodes the segment s[0..n) of a fragment into out (room for n + 1):
 * percent-decoding first, then ~1 and ~0, as RFC 6901 section 6 orders
 * them. Returns 0, or -1 when malformed or when it decodes to a NUL, which
 * no key reachable by json_object_get holds. */
static int
decode_segment(const char *s, size_t n, char *out)
{
	size_t i, o = 0, len;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= n) {
			return -1;
		}
		hi = hexval(s[i + 1]);
		lo = hexval(s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			return -1;
		}
		out[o++] = (char) (hi * 16 + lo);
		i += 2;
	}
	/* Unescaping only shortens, so it can work in place. */
	len = o;
	for (i = 0, o = 0; i < len; i++) {
		if (out[i] != '~') {
			out[o++] = out[i];
		} else if (i + 1 < len && out[i + 1] == '0') {
			out[o++] = '~';
			i++;
		} else if (i + 1 < len && out[i + 1] == '1') {
			out[o++] = '/';
			i++;
		} else {
			return -1;
		}
	}
	out[o] = '\0';
	return 0;
}

/* An array index as RFC 6901 writes it: "0", or digits without a leading
 * zero. Returns 0 and *out, or -1. */
static int
parse_index(const char *s, size_t *out)
{
	size_t v = 0;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0')) {
		return -1;
	}
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (SIZE_MAX - 9) / 10) {
			return -1;
		}
		v = v * 10 + (size_t) (*s - '0');
	}
	*out = v;
	return 0;
}

const json_t *
js_resolve_ref(const json_t *root, const char *ref)
{
	const json_t *node = root;
	const char *p, *end;
	char *seg;
	size_t idx;

	if (root == NULL || ref == NULL || ref[0] != '#') {
		return NULL;
	}
	if (ref[1] == '\0') {
		return root;
	}
	if (ref[1] != '/') {
		return NULL;
	}
	seg = malloc(strlen(ref) + 1);
	if (seg == NULL) {
		return NULL;
	}
	for (p = ref + 1; node != NULL && *p == '/'; p = end) {
		end = strchr(p + 1, '/');
		if (end == NULL) {
			end = p + strlen(p);
		}
		if (decode_segment(p + 1, (size_t) (end - p - 1), seg) != 0) {
			node = NULL;
		} else if (json_is_object(node)) {
			node = json_object_get(node, seg);
		} else if (json_is_array(node) && parse_index(seg, &idx) == 0) {
			node = json_array_get(node, idx);
		} else {
			node = NULL;
		}
	}
	free(seg);
	return node;
}

/* ---- what the keywords share ------------------------------------------- */

/* Equality as JSON Schema defines it: numbers by value, whatever their
 * representation (json_equal holds 1 and 1.0 different). */
static int
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
		json_object_foreach((json_t *) a, k, v) {
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
static int
num_cmp(const json_t *a, const json_t *b)
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
static size_t
utf8_count(const char *s, size_t n)
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
static int
pattern_compile(const json_t *pat, regex_t *re, char *why, size_t whylen)
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
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 60) {
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

static const struct format {
	const char *name;
	int (*ok)(const char *s);
} formats[] = {
	{"uuid", is_uuid},
	{"date-time", is_date_time},
	{"uri-reference", is_uri_reference},
};

static const struct format *
format_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (strcmp(formats[i].name, name) == 0) {
			return &formats[i];
		}
	}
	return NULL;
}

static const char *const types[] = {"string", "integer", "number",
    "boolean", "array", "object"};

static int
type_known(const char *t)
{
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(types[i], t) == 0) {
			return 1;
		}
	}
	return 0;
}

/* ---- validation ---------------------------------------------------------- */

struct vctx {
	const json_t *root;
	/* Where a mismatch is explained: the caller's buffer, a branch's
	 * (anyOf, oneOf), or none when only the result matters (not). */
	char *err;
	size_t errlen;
	/* Where a broken schema is reported: always the caller's buffer, so
	 * that a branch never has to be run again for its message. */
	char *top;
	size_t toplen;
};

static int v_node(const struct vctx *c, const json_t *s, const json_t *inst,
    const struct ipath *ip, int depth);

/* Starts the message of result rc: "at <pointer>: ". */
static struct sbuf *
v_at(const struct vctx *c, struct sbuf *b, const struct ipath *ip, int rc)
{
	if (rc == BROKEN) {
		sb_init(b, c->top, c->toplen);
	} else {
		sb_init(b, c->err, c->errlen);
	}
	if (b->cap == 0) {
		return b;
	}
	sb_printf(b, "at ");
	if (ip == NULL) {
		sb_printf(b, "\"\"");
	} else {
		sb_ipath(b, ip);
	}
	sb_printf(b, ": ");
	return b;
}

static int v_fail(const struct vctx *c, int rc, const struct ipath *ip,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A message without quoted text; returns rc. */
static int
v_fail(const struct vctx *c, int rc, const struct ipath *ip, const char *fmt,
    ...)
{
	struct sbuf b;
	va_list ap;
	int n;

	v_at(c, &b, ip, rc);
	if (b.len + 1 < b.cap) {
		va_start(ap, fmt);
		n = vsnprintf(b.p + b.len, b.cap - b.len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b.p[b.len] = '\0';
		}
	}
	return rc;
}

/* schema[key] as a count. Returns 1 with *out when present, 0 when absent,
 * BROKEN (with a message) when it is not a non-negative integer. */
static int
v_count(const struct vctx *c, const json_t *s, const char *key,
    const struct ipath *ip, uintmax_t *out)
{
	const json_t *v = json_object_get(s, key);

	if (v == NULL) {
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		return v_fail(c, BROKEN, ip,
		    "invalid schema: %s is not a non-negative integer", key);
	}
	*out = (uintmax_t) json_integer_value(v);
	return 1;
}

/* n against schema's min_key and max_key; what names the things counted
 * ("item", "items"). */
static int
v_counts(const struct vctx *c, const json_t *s, const struct ipath *ip,
    uintmax_t n, const char *min_key, const char *max_key, const char *one,
    const char *many)
{
	uintmax_t lim;
	int rc;

	if ((rc = v_count(c, s, min_key, ip, &lim)) < 0) {
		return rc;
	}
	if (rc == 1 && n < lim) {
		return v_fail(c, MISMATCH, ip, "has %ju %s, fewer than %s %ju",
		    n, plural(n, one, many), min_key, lim);
	}
	if ((rc = v_count(c, s, max_key, ip, &lim)) < 0) {
		return rc;
	}
	if (rc == 1 && n > lim) {
		return v_fail(c, MISMATCH, ip, "has %ju %s, more than %s %ju",
		    n, plural(n, one, many), max_key, lim);
	}
	return 0;
}

static int
v_type(const struct vctx *c, const json_t *s, const json_t *inst,
    const struct ipath *ip)
{
	const json_t *type = json_object_get(s, "type");
	const char *t;
	int ok;

	if (type == NULL) {
		return 0;
	}
	if (!json_is_string(type) || !type_known(json_string_value(type))) {
		struct sbuf b;

		v_at(c, &b, ip, BROKEN);
		sb_printf(&b, "invalid schema: unknown type ");
		sb_value(&b, type);
		return BROKEN;
	}
	t = json_string_value(type);
	if (json_is_null(inst)) {
		if (json_is_true(json_object_get(s, "nullable"))) {
			return 0;
		}
		return v_fail(c, MISMATCH, ip,
		    "expected %s, got null (nullable is not true)", t);
	}
	if (strcmp(t, "string") == 0) {
		ok = json_is_string(inst);
	} else if (strcmp(t, "integer") == 0) {
		ok = json_is_integer(inst);
	} else if (strcmp(t, "number") == 0) {
		ok = json_is_number(inst);
	} else if (strcmp(t, "boolean") == 0) {
		ok = json_is_boolean(inst);
	} else if (strcmp(t, "array") == 0) {
		ok = json_is_array(inst);
	} else {
		ok = json_is_object(inst);
	}
	if (!ok) {
		return v_fail(c, MISMATCH, ip, "expected %s, got %s", t,
		    type_name(inst));
	}
	return 0;
}

static int
v_enum(const struct vctx *c, const json_t *s, const json_t *inst,
    const struct ipath *ip)
{
	const json_t *e = json_object_get(s, "enum");
	struct sbuf b;
	size_t i;

	if (e == NULL) {
		return 0;
	}
	if (!json_is_array(e)) {
		return v_fail(c, BROKEN, ip,
		    "invalid schema: enum is not an array");
	}
	for (i = 0; i < json_array_size(e); i++) {
		if (js_equal(json_array_get(e, i), inst)) {
			return 0;
		}
	}
	v_at(c, &b, ip, MISMATCH);
	sb_value(&b, inst);
	sb_printf(&b, " is not one of enum ");
	sb_value(&b, e);
	return MISMATCH;
}

static int
v_string(const struct vctx *c, const json_t *s, const json_t *inst,
    const struct ipath *ip)
{
	const char *str = json_string_value(inst);
	size_t len = json_string_length(inst);
	const json_t *pat = json_object_get(s, "pattern");
	const json_t *fmt = json_object_get(s, "format");
	const struct format *f;
	struct sbuf b;
	char why[256];
	regex_t re;
	int rc;

	rc = v_counts(c, s, ip, utf8_count(str, len), "minLength",
	    "maxLength", "character", "characters");
	if (rc != 0) {
		return rc;
	}
	if (pat != NULL) {
		if (!json_is_string(pat)) {
			return v_fail(c, BROKEN, ip,
			    "invalid schema: pattern is not a string");
		}
		if (pattern_compile(pat, &re, why, sizeof(why)) != 0) {
			v_at(c, &b, ip, BROKEN);
			sb_printf(&b, "invalid schema: pattern ");
			sb_quoted(&b, json_string_value(pat));
			sb_printf(&b, " does not compile: %s", why);
			return BROKEN;
		}
		rc = regexec(&re, str, 0, NULL, 0);
		regfree(&re);
		if (rc != 0) {
			v_at(c, &b, ip, MISMATCH);
			sb_value(&b, inst);
			sb_printf(&b, " does not match pattern ");
			sb_quoted(&b, json_string_value(pat));
			return MISMATCH;
		}
	}
	if (fmt != NULL) {
		if (!json_is_string(fmt) ||
		    (f = format_find(json_string_value(fmt))) == NULL) {
			v_at(c, &b, ip, BROKEN);
			sb_printf(&b, "invalid schema: unknown format ");
			sb_value(&b, fmt);
			return BROKEN;
		}
		/* A NUL inside the string is in no format. */
		if (strlen(str) != len || !f->ok(str)) {
			v_at(c, &b, ip, MISMATCH);
			sb_value(&b, inst);
			sb_printf(&b, " does not match format %s", f->name);
			return MISMATCH;
		}
	}
	return 0;
}

/* One bound: minimum (sign 1: the instance must not be below it) or
 * maximum (sign -1). */
static int
v_bound(const struct vctx *c, const json_t *s, const json_t *inst,
    const struct ipath *ip, const char *key, const char *excl_key, int sign)
{
	const json_t *lim = json_object_get(s, key);
	int excl = json_is_true(json_object_get(s, excl_key));
	struct sbuf b;
	int cmp;

	if (lim == NULL) {
		return 0;
	}
	if (!json_is_number(lim)) {
		return v_fail(c, BROKEN, ip,
		    "invalid schema: %s is not a number", key);
	}
	cmp = num_cmp(inst, lim) * sign;
	if (cmp > 0 || (cmp == 0 && !excl)) {
		return 0;
	}
	v_at(c, &b, ip, MISMATCH);
	sb_value(&b, inst);
	if (excl) {
		sb_printf(&b, " is not %s than %s ",
		    sign > 0 ? "greater" : "less", key);
		sb_value(&b, lim);
		sb_printf(&b, " (%s)", excl_key);
	} else {
		sb_printf(&b, " is %s than %s ", sign > 0 ? "less" : "greater",
		    key);
		sb_value(&b, lim);
	}
	return MISMATCH;
}

static int
v_object(const struct vctx *c, const json_t *s, const json_t *inst,
    const struct ipath *ip, int depth)
{
	const json_t *props = json_object_get(s, "properties");
	const json_t *req = json_object_get(s, "required");
	const json_t *ap = json_object_get(s, "additionalProperties");
	const json_t *name, *sub;
	const char *k;
	struct sbuf b;
	json_t *v;
	size_t i;
	int rc;

	if ((props != NULL && !json_is_object(props)) ||
	    (req != NULL && !json_is_array(req)) ||
	    (ap != NULL && !json_is_boolean(ap) && !json_is_object(ap))) {
		return v_fail(c, BROKEN, ip,
		    "invalid schema: properties, required or "
		    "additionalProperties of the wrong type");
	}
	for (i = 0; req != NULL && i < json_array_size(req); i++) {
		name = json_array_get(req, i);
		if (!json_is_string(name)) {
			return v_fail(c, BROKEN, ip,
			    "invalid schema: required holds %s",
			    a_type_name(name));
		}
		if (json_object_get(inst, json_string_value(name)) == NULL) {
			v_at(c, &b, ip, MISMATCH);
			sb_printf(&b, "missing required property ");
			sb_quoted(&b, json_string_value(name));
			return MISMATCH;
		}
	}
	json_object_foreach((json_t *) inst, k, v) {
		struct ipath here = {ip, k, 0};

		sub = props != NULL ? json_object_get(props, k) : NULL;
		if (sub == NULL && json_is_false(ap)) {
			v_at(c, &b, ip, MISMATCH);
			sb_printf(&b, "property ");
			sb_quoted(&b, k);
			sb_printf(&b, " not allowed");
			return MISMATCH;
		}
		if (sub == NULL && json_is_object(ap)) {
			sub = ap;
		}
		if (sub != NULL &&
		    (rc = v_node(c, sub, v, &here, depth + 1)) != 0) {
			return rc;
		}
	}
	return v_counts(c, s, ip, json_object_size(inst), "minProperties",
	    "maxProperties", "property", "properties");
}

static int
v_array(const struct vctx *c, const json_t *s, const json_t *inst,
    const struct ipath *ip, int depth)
{
	const json_t *items = json_object_get(s, "items");
	size_t i, j, n = json_array_size(inst);
	int rc;

	rc = v_counts(c, s, ip, n, "minItems", "maxItems", "item", "items");
	if (rc != 0) {
		return rc;
	}
	for (i = 0; items != NULL && i < n; i++) {
		struct ipath here = {ip, NULL, i};

		rc = v_node(c, items, json_array_get(inst, i), &here,
		    depth + 1);
		if (rc != 0) {
			return rc;
		}
	}
	if (!json_is_true(json_object_get(s, "uniqueItems"))) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++) {
			if (js_equal(json_array_get(inst, i),
			        json_array_get(inst, j))) {
				return v_fail(c, MISMATCH, ip,
				    "items %zu and %zu are equal "
				    "(uniqueItems)",
				    i, j);
			}
		}
	}
	return 0;
}

/* s[key] as the array of schemas of allOf, anyOf or oneOf: 1 and *out
 * when present, 0 when absent, BROKEN when not an array. */
static int
v_branches(const struct vctx *c, const json_t *s, const char *key,
    const struct ipath *ip, const json_t **out)
{
	*out = json_object_get(s, key);
	if (*out == NULL) {
		return 0;
	}
	if (!json_is_array(*out)) {
		return v_fail(c, BROKEN, ip,
		    "invalid schema: %s is not an array", key);
	}
	return 1;
}

/* anyOf (want_one 0) or oneOf (want_one 1). Each branch runs once; the
 * explanation is gathered as they run, in case it is needed. */
static int
v_some(const struct vctx *c, const json_t *s, const json_t *inst,
    const struct ipath *ip, int depth, const char *key, int want_one)
{
	const json_t *list;
	struct vctx sub = *c;
	struct sbuf b, reasons, hits;
	char *why = NULL, *reasons_buf = NULL, hits_buf[64];
	const char *detail;
	size_t i, n, matched = 0;
	int rc;

	if ((rc = v_branches(c, s, key, ip, &list)) <= 0) {
		return rc;
	}
	/* Without a buffer to explain in, nothing to gather; without memory,
	 * the explanation is left out. */
	if (c->errlen > 0) {
		why = malloc(BRANCH_ERR_MAX);
		reasons_buf = malloc(c->errlen);
	}
	sub.err = why;
	sub.errlen = why != NULL ? BRANCH_ERR_MAX : 0;
	sb_init(&reasons, reasons_buf, c->errlen);
	sb_init(&hits, hits_buf, sizeof(hits_buf));
	n = json_array_size(list);
	for (i = 0; i < n; i++) {
		rc = v_node(&sub, json_array_get(list, i), inst, ip,
		    depth + 1);
		if (rc == BROKEN) {
			goto out;
		}
		if (rc == 0) {
			matched++;
			sb_printf(&hits, " [%zu]", i);
			if (!want_one) {
				goto out;
			}
		} else if (why != NULL) {
			sb_printf(&reasons, "%s [%zu] %s", i > 0 ? ";" : "", i,
			    why);
		}
	}
	if (matched == 1 && want_one) {
		rc = 0;
		goto out;
	}
	v_at(c, &b, ip, MISMATCH);
	detail = reasons.cap > 0 ? reasons_buf : "";
	if (want_one) {
		sb_printf(&b, "matches %zu of oneOf's schemas "
		    "(exactly one required):%s", matched,
		    matched > 0 ? hits_buf : detail);
	} else {
		sb_printf(&b, "matches none of anyOf's schemas:%s", detail);
	}
	rc = MISMATCH;
out:
	free(why);
	free(reasons_buf);
	return rc;
}

static int
v_combinators(const struct vctx *c, const json_t *s, const json_t *inst,
    const struct ipath *ip, int depth)
{
	const json_t *list, *not;
	struct vctx quiet = *c;
	size_t i;
	int rc;

	if ((rc = v_branches(c, s, "allOf", ip, &list)) < 0) {
		return rc;
	}
	/* The first failing schema's own message says the most. */
	for (i = 0; rc == 1 && i < json_array_size(list); i++) {
		int r = v_node(c, json_array_get(list, i), inst, ip, depth + 1);

		if (r != 0) {
			return r;
		}
	}
	if ((rc = v_some(c, s, inst, ip, depth, "anyOf", 0)) != 0 ||
	    (rc = v_some(c, s, inst, ip, depth, "oneOf", 1)) != 0) {
		return rc;
	}
	not = json_object_get(s, "not");
	if (not == NULL) {
		return 0;
	}
	quiet.err = NULL;
	quiet.errlen = 0;
	rc = v_node(&quiet, not, inst, ip, depth + 1);
	if (rc == BROKEN) {
		return rc;
	}
	if (rc == 0) {
		return v_fail(c, MISMATCH, ip, "matches the schema of not");
	}
	return 0;
}

static int
v_node(const struct vctx *c, const json_t *s, const json_t *inst,
    const struct ipath *ip, int depth)
{
	const json_t *ref, *target;
	struct sbuf b;
	int rc;

	if (depth > JS_MAX_DEPTH) {
		return v_fail(c, BROKEN, ip,
		    "schemas nested deeper than %d (a $ref cycle?)",
		    JS_MAX_DEPTH);
	}
	if (!json_is_object(s)) {
		return v_fail(c, BROKEN, ip,
		    "invalid schema: a schema is an object, not %s",
		    a_type_name(s));
	}
	/* OpenAPI 3.0: a $ref replaces the object it is in. */
	if ((ref = json_object_get(s, "$ref")) != NULL) {
		target = json_is_string(ref)
		    ? js_resolve_ref(c->root, json_string_value(ref))
		    : NULL;
		if (target == NULL) {
			v_at(c, &b, ip, BROKEN);
			sb_printf(&b, "$ref ");
			sb_value(&b, ref);
			sb_printf(&b, " does not resolve");
			return BROKEN;
		}
		return v_node(c, target, inst, ip, depth + 1);
	}
	if ((rc = v_type(c, s, inst, ip)) != 0 ||
	    (rc = v_enum(c, s, inst, ip)) != 0) {
		return rc;
	}
	switch (json_typeof(inst)) {
	case JSON_STRING:
		rc = v_string(c, s, inst, ip);
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		if ((rc = v_bound(c, s, inst, ip, "minimum", "exclusiveMinimum",
		         1)) == 0) {
			rc = v_bound(c, s, inst, ip, "maximum",
			    "exclusiveMaximum", -1);
		}
		break;
	case JSON_OBJECT:
		rc = v_object(c, s, inst, ip, depth);
		break;
	case JSON_ARRAY:
		rc = v_array(c, s, inst, ip, depth);
		break;
	default:
		break;
	}
	if (rc != 0) {
		return rc;
	}
	return v_combinators(c, s, inst, ip, depth);
}

int
js_validate(const json_t *root, const json_t *schema, const json_t *instance,
    char *err, size_t errlen)
{
	struct vctx c = {root, err, err != NULL ? errlen : 0, err,
	    err != NULL ? errlen : 0};

	if (c.errlen > 0) {
		err[0] = '\0';
	}
	if (instance == NULL) {
		v_fail(&c, BROKEN, NULL, "no instance");
		return -1;
	}
	return v_node(&c, schema, instance, NULL, 0) == 0 ? 0 : -1;
}

/* ---- checking schemas ---------------------------------------------------- */

enum kw_kind {
	K_ANY,    /* an annotation of any value */
	K_STRING,
	K_BOOL,
	K_COUNT,  /* a non-negative integer */
	K_NUMBER,
	K_OBJECT, /* an annotation object (externalDocs) */
	K_TYPE,
	K_FORMAT,
	K_PATTERN,
	K_ENUM,
	K_REQUIRED,
	K_PROPERTIES,
	K_ADDITIONAL,
	K_SCHEMA,  /* items, not */
	K_SCHEMAS, /* allOf, anyOf, oneOf */
	K_UNSUPPORTED
};

static const struct keyword {
	const char *name;
	enum kw_kind kind;
} keywords[] = {
	{"type", K_TYPE},
	{"nullable", K_BOOL},
	{"enum", K_ENUM},
	{"properties", K_PROPERTIES},
	{"required", K_REQUIRED},
	{"additionalProperties", K_ADDITIONAL},
	{"minProperties", K_COUNT},
	{"maxProperties", K_COUNT},
	{"items", K_SCHEMA},
	{"minItems", K_COUNT},
	{"maxItems", K_COUNT},
	{"uniqueItems", K_BOOL},
	{"minLength", K_COUNT},
	{"maxLength", K_COUNT},
	{"pattern", K_PATTERN},
	{"format", K_FORMAT},
	{"minimum", K_NUMBER},
	{"maximum", K_NUMBER},
	{"exclusiveMinimum", K_BOOL},
	{"exclusiveMaximum", K_BOOL},
	{"oneOf", K_SCHEMAS},
	{"anyOf", K_SCHEMAS},
	{"allOf", K_SCHEMAS},
	{"not", K_SCHEMA},
	{"title", K_STRING},
	{"description", K_STRING},
	{"example", K_ANY},
	{"default", K_ANY},
	{"readOnly", K_BOOL},
	{"writeOnly", K_BOOL},
	{"deprecated", K_BOOL},
	{"externalDocs", K_OBJECT},
	/* Its mapping needs more than this validator does; a schema using
	 * it would be checked less than it claims. */
	{"discriminator", K_UNSUPPORTED},
};

struct cctx {
	const json_t *root;
	char *err;
	size_t errlen;
	const char *base; /* where schema is: "#/..." or "(schema)" */
	const json_t **seen; /* the targets of the $refs followed */
	size_t nseen;
	size_t capseen;
};

static int c_node(struct cctx *c, const json_t *s, const struct spath *sp,
    int depth);

static struct sbuf *
c_at(const struct cctx *c, struct sbuf *b, const struct spath *sp)
{
	sb_init(b, c->err, c->errlen);
	sb_printf(b, "at ");
	sb_spath(b, sp, c->base);
	sb_printf(b, ": ");
	return b;
}

static int c_fail(const struct cctx *c, const struct spath *sp,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
c_fail(const struct cctx *c, const struct spath *sp, const char *fmt, ...)
{
	struct sbuf b;
	va_list ap;
	int n;

	c_at(c, &b, sp);
	if (b.len + 1 < b.cap) {
		va_start(ap, fmt);
		n = vsnprintf(b.p + b.len, b.cap - b.len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b.p[b.len] = '\0';
		}
	}
	return -1;
}

/* Records target as followed. Returns 1 when it was already, 0 when it is
 * now, -1 when out of memory. */
static int
c_seen(struct cctx *c, const json_t *target)
{
	const json_t **grown;
	size_t i, cap;

	for (i = 0; i < c->nseen; i++) {
		if (c->seen[i] == target) {
			return 1;
		}
	}
	if (c->nseen == c->capseen) {
		cap = c->capseen ? c->capseen * 2 : 16;
		grown = realloc(c->seen, cap * sizeof(*grown));
		if (grown == NULL) {
			return -1;
		}
		c->seen = grown;
		c->capseen = cap;
	}
	c->seen[c->nseen++] = target;
	return 0;
}

static int
c_ref(struct cctx *c, const json_t *s, const json_t *ref,
    const struct spath *sp, int depth)
{
	const json_t *target, *t, *next;
	struct spath here = {sp, NULL, 0, NULL};
	const char *k;
	struct sbuf b;
	json_t *v;
	int i, rc;

	if (!json_is_string(ref)) {
		return c_fail(c, sp, "$ref is not a string");
	}
	json_object_foreach((json_t *) s, k, v) {
		if (strcmp(k, "$ref") != 0) {
			c_at(c, &b, sp);
			sb_printf(&b, "$ref has a sibling ");
			sb_quoted(&b, k);
			sb_printf(&b, " (OpenAPI 3.0 ignores siblings of "
			    "$ref: wrap the $ref in allOf)");
			return -1;
		}
	}
	here.ref = json_string_value(ref);
	target = js_resolve_ref(c->root, here.ref);
	if (target == NULL) {
		c_at(c, &b, sp);
		sb_printf(&b, "$ref ");
		sb_quoted(&b, here.ref);
		sb_printf(&b, " does not resolve");
		return -1;
	}
	/* Following each $ref once keeps the walk finite but would take a
	 * chain of $refs that never reaches a schema for a good one. */
	for (t = target, i = 0; json_is_object(t) &&
	     json_is_string(next = json_object_get(t, "$ref"));
	     i++) {
		if (i >= JS_MAX_DEPTH) {
			c_at(c, &b, sp);
			sb_printf(&b, "$ref ");
			sb_quoted(&b, here.ref);
			sb_printf(&b, " starts a chain of $refs that loops "
			    "(or is longer than %d)", JS_MAX_DEPTH);
			return -1;
		}
		t = js_resolve_ref(c->root, json_string_value(next));
	}
	if ((rc = c_seen(c, target)) < 0) {
		return c_fail(c, sp, "out of memory");
	}
	if (rc == 1) {
		return 0;
	}
	return c_node(c, target, &here, depth + 1);
}

/* A keyword whose value must be a non-negative integer, a string, ... */
static int
c_value_type(const struct cctx *c, const struct spath *sp, const char *k,
    const json_t *v, enum kw_kind kind)
{
	const char *want = NULL;

	switch (kind) {
	case K_STRING:
		want = json_is_string(v) ? NULL : "a string";
		break;
	case K_BOOL:
		want = json_is_boolean(v) ? NULL : "a boolean";
		break;
	case K_COUNT:
		want = json_is_integer(v) && json_integer_value(v) >= 0
		    ? NULL
		    : "a non-negative integer";
		break;
	case K_NUMBER:
		want = json_is_number(v) ? NULL : "a number";
		break;
	case K_OBJECT:
		want = json_is_object(v) ? NULL : "an object";
		break;
	default:
		break;
	}
	if (want != NULL) {
		struct sbuf b;

		c_at(c, &b, sp);
		sb_printf(&b, "%s must be %s, not ", k, want);
		sb_value(&b, v);
		return -1;
	}
	return 0;
}

static int
c_required(const struct cctx *c, const struct spath *sp, const json_t *v)
{
	size_t i, j, n = json_array_size(v);
	const json_t *name;
	struct sbuf b;

	if (!json_is_array(v) || n == 0) {
		return c_fail(c, sp,
		    "required must be a non-empty array of strings, not %s",
		    json_is_array(v) ? "an empty array" : a_type_name(v));
	}
	for (i = 0; i < n; i++) {
		name = json_array_get(v, i);
		if (!json_is_string(name)) {
			return c_fail(c, sp,
			    "required must be an array of strings, "
			    "but [%zu] is %s",
			    i, a_type_name(name));
		}
		for (j = 0; j < i; j++) {
			if (json_equal(name, json_array_get(v, j))) {
				c_at(c, &b, sp);
				sb_printf(&b, "required lists ");
				sb_quoted(&b, json_string_value(name));
				sb_printf(&b, " twice");
				return -1;
			}
		}
	}
	return 0;
}

static int
c_keyword(struct cctx *c, const struct spath *sp, const char *k,
    const json_t *v, int depth)
{
	struct spath kw = {sp, k, 0, NULL};
	const struct keyword *def = NULL;
	char why[256];
	struct sbuf b;
	const char *name;
	json_t *sub;
	regex_t re;
	size_t i;

	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		if (strcmp(keywords[i].name, k) == 0) {
			def = &keywords[i];
			break;
		}
	}
	if (def == NULL) {
		/* Specification extensions, which OpenAPI allows on any
		 * Schema Object; no real keyword starts with "x-", so they
		 * hide no misspelling. */
		if (strncmp(k, "x-", 2) == 0) {
			return 0;
		}
		c_at(c, &b, sp);
		sb_printf(&b, "unknown keyword ");
		sb_quoted(&b, k);
		return -1;
	}
	switch (def->kind) {
	case K_ANY:
		return 0;
	case K_STRING:
	case K_BOOL:
	case K_COUNT:
	case K_NUMBER:
	case K_OBJECT:
		return c_value_type(c, sp, k, v, def->kind);
	case K_TYPE:
		if (!json_is_string(v) || !type_known(json_string_value(v))) {
			c_at(c, &b, sp);
			sb_printf(&b, "type ");
			sb_value(&b, v);
			sb_printf(&b, " is not one of \"string\", "
			    "\"integer\", \"number\", \"boolean\", "
			    "\"array\", \"object\"");
			return -1;
		}
		return 0;
	case K_FORMAT:
		if (!json_is_string(v) ||
		    format_find(json_string_value(v)) == NULL) {
			c_at(c, &b, sp);
			sb_printf(&b, "unknown format ");
			sb_value(&b, v);
			sb_printf(&b, " (known: uuid, date-time, "
			    "uri-reference)");
			return -1;
		}
		return 0;
	case K_PATTERN:
		if (!json_is_string(v)) {
			return c_fail(c, sp, "pattern must be a string, not %s",
			    a_type_name(v));
		}
		if (pattern_compile(v, &re, why, sizeof(why)) != 0) {
			c_at(c, &b, sp);
			sb_printf(&b, "pattern ");
			sb_quoted(&b, json_string_value(v));
			sb_printf(&b, " does not compile: %s", why);
			return -1;
		}
		regfree(&re);
		return 0;
	case K_ENUM:
		if (!json_is_array(v) || json_array_size(v) == 0) {
			return c_fail(c, sp,
			    "enum must be a non-empty array, not %s",
			    json_is_array(v) ? "an empty one" : a_type_name(v));
		}
		return 0;
	case K_REQUIRED:
		return c_required(c, sp, v);
	case K_PROPERTIES:
		if (!json_is_object(v)) {
			return c_fail(c, sp,
			    "properties must be an object, not %s",
			    a_type_name(v));
		}
		json_object_foreach((json_t *) v, name, sub) {
			struct spath prop = {&kw, name, 0, NULL};

			if (c_node(c, sub, &prop, depth + 1) != 0) {
				return -1;
			}
		}
		return 0;
	case K_ADDITIONAL:
		if (json_is_boolean(v)) {
			return 0;
		}
		if (!json_is_object(v)) {
			return c_fail(c, sp,
			    "additionalProperties must be a boolean or a "
			    "schema, not %s",
			    a_type_name(v));
		}
		return c_node(c, v, &kw, depth + 1);
	case K_SCHEMA:
		return c_node(c, v, &kw, depth + 1);
	case K_SCHEMAS:
		if (!json_is_array(v) || json_array_size(v) == 0) {
			return c_fail(c, sp,
			    "%s must be a non-empty array of schemas, not %s",
			    k, json_is_array(v) ? "an empty one"
			                        : a_type_name(v));
		}
		for (i = 0; i < json_array_size(v); i++) {
			struct spath elem = {&kw, NULL, i, NULL};

			if (c_node(c, json_array_get(v, i), &elem,
			        depth + 1) != 0) {
				return -1;
			}
		}
		return 0;
	case K_UNSUPPORTED:
		return c_fail(c, sp, "%s is not supported", k);
	}
	return 0;
}

/* What no single keyword shows: pairs that contradict each other. */
static int
c_combined(const struct cctx *c, const json_t *s, const struct spath *sp)
{
	static const char *const pairs[][2] = {
		{"minLength", "maxLength"},
		{"minItems", "maxItems"},
		{"minProperties", "maxProperties"},
		{"minimum", "maximum"},
		{"exclusiveMinimum", "minimum"},
		{"exclusiveMaximum", "maximum"},
	};
	const json_t *type = json_object_get(s, "type");
	const json_t *props = json_object_get(s, "properties");
	const json_t *req = json_object_get(s, "required");
	const json_t *lo, *hi;
	const char *name;
	struct sbuf b;
	size_t i;

	for (i = 0; i < 4; i++) {
		lo = json_object_get(s, pairs[i][0]);
		hi = json_object_get(s, pairs[i][1]);
		if (lo != NULL && hi != NULL && num_cmp(lo, hi) > 0) {
			c_at(c, &b, sp);
			sb_printf(&b, "%s ", pairs[i][0]);
			sb_value(&b, lo);
			sb_printf(&b, " is greater than %s ", pairs[i][1]);
			sb_value(&b, hi);
			return -1;
		}
	}
	for (; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		if (json_object_get(s, pairs[i][0]) != NULL &&
		    json_object_get(s, pairs[i][1]) == NULL) {
			return c_fail(c, sp, "%s without %s", pairs[i][0],
			    pairs[i][1]);
		}
	}
	if (json_is_string(type) &&
	    strcmp(json_string_value(type), "array") == 0 &&
	    json_object_get(s, "items") == NULL) {
		return c_fail(c, sp,
		    "type \"array\" without items (OpenAPI 3.0 requires it)");
	}
	if (json_is_true(json_object_get(s, "readOnly")) &&
	    json_is_true(json_object_get(s, "writeOnly"))) {
		return c_fail(c, sp, "both readOnly and writeOnly");
	}
	if (!json_is_false(json_object_get(s, "additionalProperties"))) {
		return 0;
	}
	for (i = 0; i < json_array_size(req); i++) {
		name = json_string_value(json_array_get(req, i));
		if (json_object_get(props, name) == NULL) {
			c_at(c, &b, sp);
			sb_printf(&b, "required property ");
			sb_quoted(&b, name);
			sb_printf(&b, " is not in properties, and "
			    "additionalProperties is false");
			return -1;
		}
	}
	return 0;
}

static int
c_node(struct cctx *c, const json_t *s, const struct spath *sp, int depth)
{
	const json_t *ref;
	const char *k;
	json_t *v;

	if (depth > JS_MAX_DEPTH) {
		return c_fail(c, sp, "schemas nested deeper than %d",
		    JS_MAX_DEPTH);
	}
	if (!json_is_object(s)) {
		return c_fail(c, sp, "a schema must be an object, not %s",
		    a_type_name(s));
	}
	if ((ref = json_object_get(s, "$ref")) != NULL) {
		return c_ref(c, s, ref, sp, depth);
	}
	json_object_foreach((json_t *) s, k, v) {
		if (c_keyword(c, sp, k, v, depth) != 0) {
			return -1;
		}
	}
	return c_combined(c, s, sp);
}

/* Writes into out "#" and the pointer of target inside node (node being at
 * ip). Returns 1 when found, else 0. */
static int
find_node(const json_t *node, const json_t *target, const struct ipath *ip,
    int depth, struct sbuf *out)
{
	const char *k;
	json_t *v;
	size_t i;

	if (node == target) {
		sb_printf(out, "#");
		sb_ipath(out, ip);
		return 1;
	}
	if (depth >= FIND_DEPTH_MAX) {
		return 0;
	}
	if (json_is_object(node)) {
		json_object_foreach((json_t *) node, k, v) {
			struct ipath here = {ip, k, 0};

			if (find_node(v, target, &here, depth + 1, out)) {
				return 1;
			}
		}
	} else if (json_is_array(node)) {
		for (i = 0; i < json_array_size(node); i++) {
			struct ipath here = {ip, NULL, i};

			if (find_node(json_array_get(node, i), target, &here,
			        depth + 1, out)) {
				return 1;
			}
		}
	}
	return 0;
}

int
js_check_schema(const json_t *root, const json_t *schema, char *err,
    size_t errlen)
{
	struct cctx c = {root, err, errlen, "(schema)", NULL, 0, 0};
	char base[1024];
	struct sbuf b;
	int rc;

	if (err != NULL && errlen > 0) {
		err[0] = '\0';
	}
	sb_init(&b, base, sizeof(base));
	if (schema != NULL && root != NULL &&
	    find_node(root, schema, NULL, 0, &b)) {
		c.base = base;
	}
	/* The schema itself counts as followed: a $ref back to it is not
	 * checked twice. */
	if (schema != NULL && c_seen(&c, schema) < 0) {
		rc = c_fail(&c, NULL, "out of memory");
	} else {
		rc = c_node(&c, schema, NULL, 0);
	}
	free(c.seen);
	return rc;
}
