/*
 * jschema_text.c - the messages of the schema validator: bounded, one
 * line, with JSON pointers to the instance and the schema. See
 * jschema_int.h.
 */
#include "jschema_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages ------------------------------------------------------------ */

void
js_sb_init(struct sbuf *b, char *p, size_t cap)
{
	b->p = p;
	b->cap = p != NULL ? cap : 0;
	b->len = 0;
	if (b->cap > 0) {
		p[0] = '\0';
	}
}

void
js_sb_printf(struct sbuf *b, const char *fmt, ...)
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
void
js_sb_byte(struct sbuf *b, unsigned char ch)
{
	if (ch < 0x20 || ch == 0x7f) {
		js_sb_printf(b, "\\u%04x", ch);
	} else {
		js_sb_printf(b, "%c", ch);
	}
}

/* s in double quotes, escaped as in JSON (so a pattern reads as it is
 * written in the document). */
void
js_sb_quoted(struct sbuf *b, const char *s)
{
	js_sb_printf(b, "\"");
	for (; *s != '\0' && b->len + 1 < b->cap; s++) {
		if (*s == '"' || *s == '\\') {
			js_sb_printf(b, "\\%c", *s);
		} else if (*s == '\n') {
			js_sb_printf(b, "\\n");
		} else if (*s == '\t') {
			js_sb_printf(b, "\\t");
		} else {
			js_sb_byte(b, (unsigned char) *s);
		}
	}
	js_sb_printf(b, "\"");
}

/* Text without pointer escaping (a $ref as written), one line. */
void
js_sb_text(struct sbuf *b, const char *s)
{
	for (; *s != '\0' && b->len + 1 < b->cap; s++) {
		js_sb_byte(b, (unsigned char) *s);
	}
}

/* One JSON pointer segment: ~ and / escaped as RFC 6901 says. */
void
js_sb_segment(struct sbuf *b, const char *s)
{
	for (; *s != '\0' && b->len + 1 < b->cap; s++) {
		if (*s == '~') {
			js_sb_printf(b, "~0");
		} else if (*s == '/') {
			js_sb_printf(b, "~1");
		} else {
			js_sb_byte(b, (unsigned char) *s);
		}
	}
}

/* v as compact JSON, cut at VALUE_MAX bytes (on a character boundary).
 * json_dumps escapes control characters but DEL, which js_sb_byte does. */
void
js_sb_value(struct sbuf *b, const json_t *v)
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
		js_sb_printf(b, "(a %s)",
		    v != NULL && json_is_object(v) ? "object" : "value");
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
		js_sb_byte(b, (unsigned char) s[i]);
	}
	if (n < strlen(s)) {
		js_sb_printf(b, "...");
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

const char *
js_type_name(const json_t *v)
{
	return v == NULL ? "nothing" : type_names[json_typeof(v)].bare;
}

const char *
js_a_type_name(const json_t *v)
{
	return v == NULL ? "nothing" : type_names[json_typeof(v)].article;
}

const char *
js_plural(uintmax_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* ---- paths --------------------------------------------------------------- */

void
js_sb_ipath(struct sbuf *b, const struct ipath *ip)
{
	if (ip == NULL) {
		return;
	}
	js_sb_ipath(b, ip->up);
	js_sb_printf(b, "/");
	if (ip->key != NULL) {
		js_sb_segment(b, ip->key);
	} else {
		js_sb_printf(b, "%zu", ip->idx);
	}
}

/* base: where schema itself is ("#/components/schemas/Flow", "#") or
 * "(schema)" when it is not inside root. */
void
js_sb_spath(struct sbuf *b, const struct spath *sp, const char *base)
{
	if (sp == NULL) {
		js_sb_text(b, base);
		return;
	}
	if (sp->ref != NULL) {
		js_sb_text(b, sp->ref);
		return;
	}
	js_sb_spath(b, sp->up, base);
	js_sb_printf(b, "/");
	if (sp->key != NULL) {
		js_sb_segment(b, sp->key);
	} else {
		js_sb_printf(b, "%zu", sp->idx);
	}
}
