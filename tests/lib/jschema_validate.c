/*
 * jschema_validate.c - validating an instance against a Schema Object
 * (js_validate). See jschema.h for the semantics.
 */
#include "jschema_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		js_sb_init(b, c->top, c->toplen);
	} else {
		js_sb_init(b, c->err, c->errlen);
	}
	if (b->cap == 0) {
		return b;
	}
	js_sb_printf(b, "at ");
	if (ip == NULL) {
		js_sb_printf(b, "\"\"");
	} else {
		js_sb_ipath(b, ip);
	}
	js_sb_printf(b, ": ");
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
		    n, js_plural(n, one, many), min_key, lim);
	}
	if ((rc = v_count(c, s, max_key, ip, &lim)) < 0) {
		return rc;
	}
	if (rc == 1 && n > lim) {
		return v_fail(c, MISMATCH, ip, "has %ju %s, more than %s %ju",
		    n, js_plural(n, one, many), max_key, lim);
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
	if (!json_is_string(type) || !js_type_known(json_string_value(type))) {
		struct sbuf b;

		v_at(c, &b, ip, BROKEN);
		js_sb_printf(&b, "invalid schema: unknown type ");
		js_sb_value(&b, type);
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
		    js_type_name(inst));
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
	js_sb_value(&b, inst);
	js_sb_printf(&b, " is not one of enum ");
	js_sb_value(&b, e);
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
	const struct js_format *f;
	struct sbuf b;
	char why[256];
	regex_t re;
	int rc;

	rc = v_counts(c, s, ip, js_utf8_count(str, len), "minLength",
	    "maxLength", "character", "characters");
	if (rc != 0) {
		return rc;
	}
	if (pat != NULL) {
		if (!json_is_string(pat)) {
			return v_fail(c, BROKEN, ip,
			    "invalid schema: pattern is not a string");
		}
		if (js_pattern_compile(pat, &re, why, sizeof(why)) != 0) {
			v_at(c, &b, ip, BROKEN);
			js_sb_printf(&b, "invalid schema: pattern ");
			js_sb_quoted(&b, json_string_value(pat));
			js_sb_printf(&b, " does not compile: %s", why);
			return BROKEN;
		}
		rc = regexec(&re, str, 0, NULL, 0);
		regfree(&re);
		if (rc != 0) {
			v_at(c, &b, ip, MISMATCH);
			js_sb_value(&b, inst);
			js_sb_printf(&b, " does not match pattern ");
			js_sb_quoted(&b, json_string_value(pat));
			return MISMATCH;
		}
	}
	if (fmt != NULL) {
		if (!json_is_string(fmt) ||
		    (f = js_format_find(json_string_value(fmt))) == NULL) {
			v_at(c, &b, ip, BROKEN);
			js_sb_printf(&b, "invalid schema: unknown format ");
			js_sb_value(&b, fmt);
			return BROKEN;
		}
		/* A NUL inside the string is in no format. */
		if (strlen(str) != len || !f->ok(str)) {
			v_at(c, &b, ip, MISMATCH);
			js_sb_value(&b, inst);
			js_sb_printf(&b, " does not match format %s", f->name);
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
	cmp = js_num_cmp(inst, lim) * sign;
	if (cmp > 0 || (cmp == 0 && !excl)) {
		return 0;
	}
	v_at(c, &b, ip, MISMATCH);
	js_sb_value(&b, inst);
	if (excl) {
		js_sb_printf(&b, " is not %s than %s ",
		    sign > 0 ? "greater" : "less", key);
		js_sb_value(&b, lim);
		js_sb_printf(&b, " (%s)", excl_key);
	} else {
		js_sb_printf(&b, " is %s than %s ",
		    sign > 0 ? "less" : "greater", key);
		js_sb_value(&b, lim);
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
			    js_a_type_name(name));
		}
		if (json_object_get(inst, json_string_value(name)) == NULL) {
			v_at(c, &b, ip, MISMATCH);
			js_sb_printf(&b, "missing required property ");
			js_sb_quoted(&b, json_string_value(name));
			return MISMATCH;
		}
	}
	json_object_foreach((json_t *) inst, k, v)
	{
		struct ipath here = {ip, k, 0};

		sub = props != NULL ? json_object_get(props, k) : NULL;
		if (sub == NULL && json_is_false(ap)) {
			v_at(c, &b, ip, MISMATCH);
			js_sb_printf(&b, "property ");
			js_sb_quoted(&b, k);
			js_sb_printf(&b, " not allowed");
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
	js_sb_init(&reasons, reasons_buf, c->errlen);
	js_sb_init(&hits, hits_buf, sizeof(hits_buf));
	n = json_array_size(list);
	for (i = 0; i < n; i++) {
		rc =
		    v_node(&sub, json_array_get(list, i), inst, ip, depth + 1);
		if (rc == BROKEN) {
			goto out;
		}
		if (rc == 0) {
			matched++;
			js_sb_printf(&hits, " [%zu]", i);
			if (!want_one) {
				goto out;
			}
		} else if (why != NULL) {
			js_sb_printf(&reasons, "%s [%zu] %s", i > 0 ? ";" : "",
			    i, why);
		}
	}
	if (matched == 1 && want_one) {
		rc = 0;
		goto out;
	}
	v_at(c, &b, ip, MISMATCH);
	detail = reasons.cap > 0 ? reasons_buf : "";
	if (want_one) {
		js_sb_printf(&b,
		    "matches %zu of oneOf's schemas "
		    "(exactly one required):%s",
		    matched, matched > 0 ? hits_buf : detail);
	} else {
		js_sb_printf(&b, "matches none of anyOf's schemas:%s", detail);
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
	const json_t *list, *not ;
	struct vctx quiet = *c;
	size_t i;
	int rc;

	if ((rc = v_branches(c, s, "allOf", ip, &list)) < 0) {
		return rc;
	}
	/* The first failing schema's own message says the most. */
	for (i = 0; rc == 1 && i < json_array_size(list); i++) {
		int r =
		    v_node(c, json_array_get(list, i), inst, ip, depth + 1);

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
		    js_a_type_name(s));
	}
	/* OpenAPI 3.0: a $ref replaces the object it is in. */
	if ((ref = json_object_get(s, "$ref")) != NULL) {
		target = json_is_string(ref)
		    ? js_resolve_ref(c->root, json_string_value(ref))
		    : NULL;
		if (target == NULL) {
			v_at(c, &b, ip, BROKEN);
			js_sb_printf(&b, "$ref ");
			js_sb_value(&b, ref);
			js_sb_printf(&b, " does not resolve");
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
		if ((rc = v_bound(c, s, inst, ip, "minimum",
		         "exclusiveMinimum", 1)) == 0) {
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
