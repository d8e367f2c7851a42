/*
 * jschema_int.h - what the parts of the schema validator share (internal:
 * only tests/lib/jschema_*.c include it). jschema.h is the interface.
 *
 *   jschema_text.c      bounded one-line messages, instance and schema paths
 *   jschema_ref.c       local $ref resolution (js_resolve_ref)
 *   jschema_formats.c   what keywords share: equality and order of
 *                       values, code points, patterns, formats, type names
 *   jschema_validate.c  validating an instance (js_validate)
 *   jschema_check.c     checking a schema (js_check_schema)
 *
 * Two recursive walks over Schema Objects: v_node validates an instance,
 * c_node checks a schema. Each carries where it is as a linked list of
 * frames on the C stack (nothing to push and pop, nothing to overflow) and
 * counts its depth, which is what ends $ref cycles. Messages are built only
 * when something fails.
 */
#ifndef TESTS_JSCHEMA_INT_H
#define TESTS_JSCHEMA_INT_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jschema.h"

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

/* ---- messages (jschema_text.c) ------------------------------------------- */

/* A bounded string being written. len may pass cap: then the text was
 * truncated and nothing more is written. */
struct sbuf {
	char *p;
	size_t cap;
	size_t len;
};

void js_sb_init(struct sbuf *b, char *p, size_t cap);
void js_sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* One byte of a pointer segment or a quoted string; control characters
 * escaped so that a message stays on one line. */
void js_sb_byte(struct sbuf *b, unsigned char ch);
/* s in double quotes, escaped as in JSON (so a pattern reads as it is
 * written in the document). */
void js_sb_quoted(struct sbuf *b, const char *s);
/* Text without pointer escaping (a $ref as written), one line. */
void js_sb_text(struct sbuf *b, const char *s);
/* One JSON pointer segment: ~ and / escaped as RFC 6901 says. */
void js_sb_segment(struct sbuf *b, const char *s);
/* v as compact JSON, cut at VALUE_MAX bytes (on a character boundary). */
void js_sb_value(struct sbuf *b, const json_t *v);

/* The JSON Schema name of v's type ("integer" is a JSON integer, "number"
 * any other number), bare for "expected integer, got string" and with its
 * article for "must be a string, not an integer". */
const char *js_type_name(const json_t *v);
const char *js_a_type_name(const json_t *v);
const char *js_plural(uintmax_t n, const char *one, const char *many);

/* Where an instance is: one frame per object member or array element. */
struct ipath {
	const struct ipath *up;
	const char *key; /* NULL: the element idx of an array */
	size_t idx;
};

void js_sb_ipath(struct sbuf *b, const struct ipath *ip);

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
void js_sb_spath(struct sbuf *b, const struct spath *sp, const char *base);

/* ---- what the keywords share (jschema_formats.c) ------------------------- */

/* Equality as JSON Schema defines it: numbers by value, whatever their
 * representation (json_equal holds 1 and 1.0 different). */
int js_equal(const json_t *a, const json_t *b);

/* Compares two numbers: <0, 0, >0. Integers exactly, else as doubles. */
int js_num_cmp(const json_t *a, const json_t *b);

/* Unicode code points of the UTF-8 text s[0..n). */
size_t js_utf8_count(const char *s, size_t n);

/* Compiles a pattern. Returns 0 (the caller regfrees re), or -1 with the
 * reason in why. */
int
js_pattern_compile(const json_t *pat, regex_t *re, char *why, size_t whylen);

/* A known format (uuid, date-time, uri-reference), or NULL. */
struct js_format {
	const char *name;
	int (*ok)(const char *s);
};
const struct js_format *js_format_find(const char *name);

/* 1 when t names a type of the "type" keyword. */
int js_type_known(const char *t);

#endif
