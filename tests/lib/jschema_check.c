/*
 * jschema_check.c - checking a Schema Object and everything it reaches
 * (js_check_schema): known keywords with values of the right type, $refs
 * that resolve and do not loop. See jschema.h.
 */
#include "jschema_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checking schemas ---------------------------------------------------- */

enum kw_kind {
	K_ANY, /* an annotation of any value */
	K_STRING,
	K_BOOL,
	K_COUNT, /* a non-negative integer */
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
	const char *base;    /* where schema is: "#/..." or "(schema)" */
	const json_t **seen; /* the targets of the $refs followed */
	size_t nseen;
	size_t capseen;
};

static int
c_node(struct cctx *c, const json_t *s, const struct spath *sp, int depth);

static struct sbuf *
c_at(const struct cctx *c, struct sbuf *b, const struct spath *sp)
{
	js_sb_init(b, c->err, c->errlen);
	js_sb_printf(b, "at ");
	js_sb_spath(b, sp, c->base);
	js_sb_printf(b, ": ");
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
	json_object_foreach((json_t *) s, k, v)
	{
		if (strcmp(k, "$ref") != 0) {
			c_at(c, &b, sp);
			js_sb_printf(&b, "$ref has a sibling ");
			js_sb_quoted(&b, k);
			js_sb_printf(&b,
			    " (OpenAPI 3.0 ignores siblings of "
			    "$ref: wrap the $ref in allOf)");
			return -1;
		}
	}
	here.ref = json_string_value(ref);
	target = js_resolve_ref(c->root, here.ref);
	if (target == NULL) {
		c_at(c, &b, sp);
		js_sb_printf(&b, "$ref ");
		js_sb_quoted(&b, here.ref);
		js_sb_printf(&b, " does not resolve");
		return -1;
	}
	/* Following each $ref once keeps the walk finite but would take a
	 * chain of $refs that never reaches a schema for a good one. */
	for (t = target, i = 0; json_is_object(t) &&
	     json_is_string(next = json_object_get(t, "$ref"));
	     i++) {
		if (i >= JS_MAX_DEPTH) {
			c_at(c, &b, sp);
			js_sb_printf(&b, "$ref ");
			js_sb_quoted(&b, here.ref);
			js_sb_printf(&b,
			    " starts a chain of $refs that loops "
			    "(or is longer than %d)",
			    JS_MAX_DEPTH);
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
		js_sb_printf(&b, "%s must be %s, not ", k, want);
		js_sb_value(&b, v);
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
		    json_is_array(v) ? "an empty array" : js_a_type_name(v));
	}
	for (i = 0; i < n; i++) {
		name = json_array_get(v, i);
		if (!json_is_string(name)) {
			return c_fail(c, sp,
			    "required must be an array of strings, "
			    "but [%zu] is %s",
			    i, js_a_type_name(name));
		}
		for (j = 0; j < i; j++) {
			if (json_equal(name, json_array_get(v, j))) {
				c_at(c, &b, sp);
				js_sb_printf(&b, "required lists ");
				js_sb_quoted(&b, json_string_value(name));
				js_sb_printf(&b, " twice");
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
		js_sb_printf(&b, "unknown keyword ");
		js_sb_quoted(&b, k);
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
		if (!json_is_string(v) ||
		    !js_type_known(json_string_value(v))) {
			c_at(c, &b, sp);
			js_sb_printf(&b, "type ");
			js_sb_value(&b, v);
			js_sb_printf(&b,
			    " is not one of \"string\", "
			    "\"integer\", \"number\", \"boolean\", "
			    "\"array\", \"object\"");
			return -1;
		}
		return 0;
	case K_FORMAT:
		if (!json_is_string(v) ||
		    js_format_find(json_string_value(v)) == NULL) {
			c_at(c, &b, sp);
			js_sb_printf(&b, "unknown format ");
			js_sb_value(&b, v);
			js_sb_printf(&b,
			    " (known: uuid, date-time, "
			    "uri-reference)");
			return -1;
		}
		return 0;
	case K_PATTERN:
		if (!json_is_string(v)) {
			return c_fail(c, sp,
			    "pattern must be a string, not %s",
			    js_a_type_name(v));
		}
		if (js_pattern_compile(v, &re, why, sizeof(why)) != 0) {
			c_at(c, &b, sp);
			js_sb_printf(&b, "pattern ");
			js_sb_quoted(&b, json_string_value(v));
			js_sb_printf(&b, " does not compile: %s", why);
			return -1;
		}
		regfree(&re);
		return 0;
	case K_ENUM:
		if (!json_is_array(v) || json_array_size(v) == 0) {
			return c_fail(c, sp,
			    "enum must be a non-empty array, not %s",
			    json_is_array(v) ? "an empty one"
			                     : js_a_type_name(v));
		}
		return 0;
	case K_REQUIRED:
		return c_required(c, sp, v);
	case K_PROPERTIES:
		if (!json_is_object(v)) {
			return c_fail(c, sp,
			    "properties must be an object, not %s",
			    js_a_type_name(v));
		}
		json_object_foreach((json_t *) v, name, sub)
		{
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
			    js_a_type_name(v));
		}
		return c_node(c, v, &kw, depth + 1);
	case K_SCHEMA:
		return c_node(c, v, &kw, depth + 1);
	case K_SCHEMAS:
		if (!json_is_array(v) || json_array_size(v) == 0) {
			return c_fail(c, sp,
			    "%s must be a non-empty array of schemas, not %s",
			    k,
			    json_is_array(v) ? "an empty one"
			                     : js_a_type_name(v));
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
		if (lo != NULL && hi != NULL && js_num_cmp(lo, hi) > 0) {
			c_at(c, &b, sp);
			js_sb_printf(&b, "%s ", pairs[i][0]);
			js_sb_value(&b, lo);
			js_sb_printf(&b, " is greater than %s ", pairs[i][1]);
			js_sb_value(&b, hi);
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
			js_sb_printf(&b, "required property ");
			js_sb_quoted(&b, name);
			js_sb_printf(&b,
			    " is not in properties, and "
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
		    js_a_type_name(s));
	}
	if ((ref = json_object_get(s, "$ref")) != NULL) {
		return c_ref(c, s, ref, sp, depth);
	}
	json_object_foreach((json_t *) s, k, v)
	{
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
		js_sb_printf(out, "#");
		js_sb_ipath(out, ip);
		return 1;
	}
	if (depth >= FIND_DEPTH_MAX) {
		return 0;
	}
	if (json_is_object(node)) {
		json_object_foreach((json_t *) node, k, v)
		{
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
	js_sb_init(&b, base, sizeof(base));
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
