/*
 * test_jschema.c - tests/jschema: every keyword with an instance that
 * passes and one that fails (and the exact message, pointer included),
 * $ref resolution and its escapes, $ref cycles, and js_check_schema's
 * refusals.
 */
#include <stdlib.h>
#include <string.h>

#include "jschema.h"
#include "testlib.h"

#define ERR_MAX 1024

/* ---- helpers ------------------------------------------------------------- */

/* Parses test-authored JSON (any value); NULL, with a failed assertion,
 * only when the test itself is wrong. */
static json_t *
parse(const char *text, const char *file, int line)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

	fs_check(v != NULL, file, line, "parse", "bad test JSON %s: %s", text,
	    e.text);
	return v;
}

/* Validates the instance (JSON text) against the schema at ref ("#" for
 * the document itself) of the document root (JSON text). want NULL: must
 * be valid; else must be refused with exactly that message. */
static void
check_validate(const char *file, int line, const char *root_text,
    const char *ref, const char *inst_text, const char *want)
{
	json_t *root = parse(root_text, file, line);
	json_t *inst = parse(inst_text, file, line);
	const json_t *schema;
	char err[ERR_MAX];
	int rc;

	if (root == NULL || inst == NULL) {
		goto out;
	}
	schema = js_resolve_ref(root, ref);
	if (!fs_check(schema != NULL, file, line, "ref", "%s not in %s", ref,
	        root_text)) {
		goto out;
	}
	memset(err, 'x', sizeof(err));
	rc = js_validate(root, schema, inst, err, sizeof(err));
	if (want == NULL) {
		fs_check(rc == 0, file, line, "js_validate",
		    "%s against %s: refused: %s", inst_text, root_text, err);
		fs_check(err[0] == '\0', file, line, "err",
		    "err not emptied: %s", err);
	} else {
		fs_check(rc == -1 && strcmp(err, want) == 0, file, line,
		    "js_validate",
		    "%s against %s:\n  expected -1, %s\n  got      %d, %s",
		    inst_text, root_text, want, rc, rc == 0 ? "" : err);
	}
out:
	json_decref(root);
	json_decref(inst);
}

#define V_OK(schema, inst)                                                    \
	check_validate(__FILE__, __LINE__, (schema), "#", (inst), NULL)
#define V_BAD(schema, inst, want)                                             \
	check_validate(__FILE__, __LINE__, (schema), "#", (inst), (want))
#define V_OK_AT(root, ref, inst)                                              \
	check_validate(__FILE__, __LINE__, (root), (ref), (inst), NULL)
#define V_BAD_AT(root, ref, inst, want)                                       \
	check_validate(__FILE__, __LINE__, (root), (ref), (inst), (want))

/* js_check_schema on the schema at ref of root: want NULL, accepted; else
 * refused with exactly that message. */
static void
check_schema(const char *file, int line, const char *root_text,
    const char *ref, const char *want)
{
	json_t *root = parse(root_text, file, line);
	const json_t *schema;
	char err[ERR_MAX];
	int rc;

	if (root == NULL) {
		return;
	}
	schema = js_resolve_ref(root, ref);
	if (fs_check(schema != NULL, file, line, "ref", "%s not in %s", ref,
	        root_text)) {
		memset(err, 'x', sizeof(err));
		rc = js_check_schema(root, schema, err, sizeof(err));
		if (want == NULL) {
			fs_check(rc == 0, file, line, "js_check_schema",
			    "%s: refused: %s", root_text, err);
		} else {
			fs_check(rc == -1 && strcmp(err, want) == 0, file,
			    line, "js_check_schema",
			    "%s:\n  expected -1, %s\n  got      %d, %s",
			    root_text, want, rc, rc == 0 ? "" : err);
		}
	}
	json_decref(root);
}

#define C_OK(root) check_schema(__FILE__, __LINE__, (root), "#", NULL)
#define C_BAD(root, want) check_schema(__FILE__, __LINE__, (root), "#", (want))
#define C_OK_AT(root, ref)                                                    \
	check_schema(__FILE__, __LINE__, (root), (ref), NULL)
#define C_BAD_AT(root, ref, want)                                             \
	check_schema(__FILE__, __LINE__, (root), (ref), (want))

/* ---- type, nullable, enum ------------------------------------------------ */

static void
test_type(void)
{
	V_OK("{\"type\": \"string\"}", "\"a\"");
	V_BAD("{\"type\": \"string\"}", "1",
	    "at \"\": expected string, got integer");
	V_OK("{\"type\": \"integer\"}", "-3");
	V_BAD("{\"type\": \"integer\"}", "1.5",
	    "at \"\": expected integer, got number");
	/* jansson's integer: 1.0 is a real. */
	V_BAD("{\"type\": \"integer\"}", "1.0",
	    "at \"\": expected integer, got number");
	V_BAD("{\"type\": \"integer\"}", "\"1\"",
	    "at \"\": expected integer, got string");
	V_OK("{\"type\": \"number\"}", "1");
	V_OK("{\"type\": \"number\"}", "1.5");
	V_BAD("{\"type\": \"number\"}", "true",
	    "at \"\": expected number, got boolean");
	V_OK("{\"type\": \"boolean\"}", "false");
	V_BAD("{\"type\": \"boolean\"}", "0",
	    "at \"\": expected boolean, got integer");
	V_OK("{\"type\": \"array\", \"items\": {}}", "[]");
	V_BAD("{\"type\": \"array\", \"items\": {}}", "{}",
	    "at \"\": expected array, got object");
	V_OK("{\"type\": \"object\"}", "{}");
	V_BAD("{\"type\": \"object\"}", "[]",
	    "at \"\": expected object, got array");
	/* No type: anything. */
	V_OK("{}", "null");
	V_OK("{}", "[1, {}]");
	V_OK("{\"description\": \"any\"}", "\"x\"");
	/* A type the validator does not know is a broken schema. */
	V_BAD("{\"type\": \"null\"}", "null",
	    "at \"\": invalid schema: unknown type \"null\"");
}

static void
test_nullable(void)
{
	V_BAD("{\"type\": \"string\"}", "null",
	    "at \"\": expected string, got null (nullable is not true)");
	V_BAD("{\"type\": \"string\", \"nullable\": false}", "null",
	    "at \"\": expected string, got null (nullable is not true)");
	V_OK("{\"type\": \"string\", \"nullable\": true}", "null");
	V_OK("{\"type\": \"string\", \"nullable\": true}", "\"a\"");
	V_BAD("{\"type\": \"string\", \"nullable\": true}", "2",
	    "at \"\": expected string, got integer");
	/* Keywords of strings do not apply to null. */
	V_OK("{\"type\": \"string\", \"nullable\": true, \"minLength\": 3, "
	     "\"format\": \"uuid\"}",
	    "null");
	/* OpenAPI 3.0.3: nullable widens type only; enum must list null. */
	V_BAD("{\"type\": \"string\", \"nullable\": true, \"enum\": [\"a\"]}",
	    "null", "at \"\": null is not one of enum [\"a\"]");
	V_OK("{\"type\": \"string\", \"nullable\": true, "
	     "\"enum\": [\"a\", null]}",
	    "null");
}

static void
test_enum(void)
{
	static const char s[] = "{\"enum\": [\"a\", 2, {\"k\": [1]}, null]}";

	V_OK(s, "\"a\"");
	V_OK(s, "2");
	V_OK(s, "null");
	V_OK(s, "{\"k\": [1]}");
	/* Numbers compare by value. */
	V_OK(s, "2.0");
	V_OK(s, "{\"k\": [1.0]}");
	V_BAD(s, "\"b\"",
	    "at \"\": \"b\" is not one of enum "
	    "[\"a\",2,{\"k\":[1]},null]");
	V_BAD(s, "{\"k\": [2]}",
	    "at \"\": {\"k\":[2]} is not one of enum "
	    "[\"a\",2,{\"k\":[1]},null]");
	V_BAD(s, "{\"k\": [1], \"j\": 1}",
	    "at \"\": {\"k\":[1],\"j\":1} is not one of enum "
	    "[\"a\",2,{\"k\":[1]},null]");
	V_BAD("{\"type\": \"string\", \"enum\": [\"on\", \"off\"]}", "\"ON\"",
	    "at \"\": \"ON\" is not one of enum [\"on\",\"off\"]");
	/* Long values are cut in messages. */
	V_BAD("{\"enum\": "
	      "[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}",
	    "0",
	    "at \"\": 0 is not one of enum [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...");
}

/* ---- objects ------------------------------------------------------------- */

static void
test_properties(void)
{
	static const char s[] =
	    "{\"type\": \"object\", \"required\": [\"name\", \"n\"],"
	    " \"properties\": {"
	    "  \"name\": {\"type\": \"string\"},"
	    "  \"n\": {\"type\": \"integer\"},"
	    "  \"a/b~c\": {\"type\": \"boolean\"},"
	    "  \"inner\": {\"type\": \"object\", \"properties\": {"
	    "    \"deep\": {\"type\": \"array\", \"items\": "
	    "      {\"type\": \"string\"}}}}}}";

	V_OK(s, "{\"name\": \"x\", \"n\": 1}");
	V_OK(s,
	    "{\"name\": \"x\", \"n\": 1, \"other\": [1], "
	    "\"inner\": {\"deep\": [\"a\", \"b\"]}}");
	V_BAD(s, "{\"n\": 1}", "at \"\": missing required property \"name\"");
	V_BAD(s, "{\"name\": \"x\"}",
	    "at \"\": missing required property \"n\"");
	V_BAD(s, "{\"name\": 5, \"n\": 1}",
	    "at /name: expected string, got integer");
	V_BAD(s, "{\"name\": \"x\", \"n\": \"1\"}",
	    "at /n: expected integer, got string");
	/* ~ and / in keys are escaped in the pointer. */
	V_BAD(s, "{\"name\": \"x\", \"n\": 1, \"a/b~c\": 1}",
	    "at /a~1b~0c: expected boolean, got integer");
	V_BAD(s,
	    "{\"name\": \"x\", \"n\": 1, "
	    "\"inner\": {\"deep\": [\"a\", 7]}}",
	    "at /inner/deep/1: expected string, got integer");
	/* Only one type applies: properties ignore non-objects. */
	V_OK("{\"properties\": {\"a\": {\"type\": \"string\"}}, "
	     "\"required\": [\"a\"]}",
	    "[1]");
	/* Control characters in messages stay escaped: one line. */
	V_BAD("{\"required\": [\"a\\nb\"]}", "{}",
	    "at \"\": missing required property \"a\\nb\"");
	V_BAD("{\"properties\": {\"a\\u0001\": {\"type\": \"string\"}}}",
	    "{\"a\\u0001\": 1}", "at /a\\u0001: expected string, got integer");
}

static void
test_additional_properties(void)
{
	static const char closed[] =
	    "{\"properties\": {\"a\": {}}, \"additionalProperties\": false}";
	static const char typed[] =
	    "{\"properties\": {\"a\": {\"type\": \"string\"}}, "
	    "\"additionalProperties\": {\"type\": \"integer\"}}";

	V_OK(closed, "{\"a\": 1}");
	V_OK(closed, "{}");
	V_BAD(closed, "{\"a\": 1, \"foo\": 2}",
	    "at \"\": property \"foo\" not allowed");
	V_OK("{\"properties\": {\"a\": {}}}", "{\"foo\": 2}");
	V_OK("{\"properties\": {\"a\": {}}, \"additionalProperties\": true}",
	    "{\"foo\": 2}");
	V_OK(typed, "{\"a\": \"s\", \"x\": 1, \"y\": 2}");
	V_BAD(typed, "{\"a\": \"s\", \"x\": 1, \"y\": \"2\"}",
	    "at /y: expected integer, got string");
	/* A listed property goes by its own schema, not the additional one. */
	V_BAD(typed, "{\"a\": 1}", "at /a: expected string, got integer");
	/* A map of maps: the pointer goes through both. */
	V_BAD("{\"additionalProperties\": {\"additionalProperties\": false}}",
	    "{\"m\": {\"k\": 1}}", "at /m: property \"k\" not allowed");
}

static void
test_property_counts(void)
{
	static const char s[] = "{\"minProperties\": 1, \"maxProperties\": 2}";

	V_OK(s, "{\"a\": 1}");
	V_OK(s, "{\"a\": 1, \"b\": 2}");
	V_BAD(s, "{}",
	    "at \"\": has 0 properties, fewer than minProperties 1");
	V_BAD(s, "{\"a\": 1, \"b\": 2, \"c\": 3}",
	    "at \"\": has 3 properties, more than maxProperties 2");
	V_BAD("{\"minProperties\": 2}", "{\"a\": 1}",
	    "at \"\": has 1 property, fewer than minProperties 2");
	V_BAD("{\"minProperties\": -1}", "{}",
	    "at \"\": invalid schema: minProperties is not a non-negative "
	    "integer");
}

/* ---- arrays -------------------------------------------------------------- */

static void
test_items(void)
{
	static const char s[] = "{\"type\": \"array\", \"minItems\": 1, "
	                        "\"maxItems\": 3, \"items\": {\"type\": "
	                        "\"integer\", \"minimum\": 0}}";

	V_OK(s, "[0]");
	V_OK(s, "[1, 2, 3]");
	V_BAD(s, "[]", "at \"\": has 0 items, fewer than minItems 1");
	V_BAD(s, "[1, 2, 3, 4]", "at \"\": has 4 items, more than maxItems 3");
	V_BAD(s, "[1, 2, -1]", "at /2: -1 is less than minimum 0");
	V_BAD(s, "[1, \"2\"]", "at /1: expected integer, got string");
	V_BAD("{\"minItems\": 2, \"items\": {}}", "[1]",
	    "at \"\": has 1 item, fewer than minItems 2");
	/* Nested: objects in arrays in objects. */
	V_BAD("{\"properties\": {\"flows\": {\"type\": \"array\", \"items\": "
	      "{\"properties\": {\"id\": {\"type\": \"string\", "
	      "\"format\": \"uuid\"}}}}}}",
	    "{\"flows\": [{\"id\": \"00000000-0000-0000-0000-000000000000\"}, "
	    "{\"id\": \"x\"}]}",
	    "at /flows/1/id: \"x\" does not match format uuid");
}

static void
test_unique_items(void)
{
	static const char s[] = "{\"items\": {}, \"uniqueItems\": true}";

	V_OK(s, "[]");
	V_OK(s, "[1, \"1\", [1], {\"a\": 1}, {\"a\": 2}, null, true]");
	V_BAD(s, "[1, 2, 1]",
	    "at \"\": items 0 and 2 are equal (uniqueItems)");
	V_BAD(s, "[1, 1.0]", "at \"\": items 0 and 1 are equal (uniqueItems)");
	V_BAD(s, "[{\"a\": [1]}, {\"a\": [1]}]",
	    "at \"\": items 0 and 1 are equal (uniqueItems)");
	V_OK("{\"items\": {}, \"uniqueItems\": false}", "[1, 1]");
}

/* ---- strings ------------------------------------------------------------- */

static void
test_lengths(void)
{
	static const char s[] = "{\"minLength\": 2, \"maxLength\": 3}";

	V_OK(s, "\"ab\"");
	V_OK(s, "\"abc\"");
	V_BAD(s, "\"a\"", "at \"\": has 1 character, fewer than minLength 2");
	V_BAD(s, "\"\"", "at \"\": has 0 characters, fewer than minLength 2");
	V_BAD(s, "\"abcd\"",
	    "at \"\": has 4 characters, more than maxLength 3");
	/* Code points, not bytes: 3 code points in 7 UTF-8 bytes... */
	V_OK(s, "\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\"");
	/* ...and 4 in 9. */
	V_BAD(s, "\"a\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\"",
	    "at \"\": has 4 characters, more than maxLength 3");
	/* An escaped surrogate pair is one code point. */
	V_OK("{\"maxLength\": 1}", "\"\\ud83d\\ude00\"");
	V_BAD("{\"maxLength\": 1}", "\"\\ud83d\\ude00\\u00e9\"",
	    "at \"\": has 2 characters, more than maxLength 1");
	/* Lengths ignore other types. */
	V_OK(s, "12345");
}

static void
test_pattern(void)
{
	static const char s[] = "{\"pattern\": \"^[a-z]+$\"}";

	V_OK(s, "\"abc\"");
	V_BAD(s, "\"abC\"",
	    "at \"\": \"abC\" does not match pattern "
	    "\"^[a-z]+$\"");
	V_BAD(s, "\"\"", "at \"\": \"\" does not match pattern \"^[a-z]+$\"");
	/* Unanchored: a match anywhere is enough, as in ECMA-262. */
	V_OK("{\"pattern\": \"b+\"}", "\"abbc\"");
	V_BAD("{\"pattern\": \"b+\"}", "\"ac\"",
	    "at \"\": \"ac\" does not match pattern \"b+\"");
	/* ERE: alternation, intervals; backslashes quoted as in JSON. */
	V_OK("{\"pattern\": \"^(ab|cd){2}\\\\.x$\"}", "\"abcd.x\"");
	V_BAD("{\"pattern\": \"^(ab|cd){2}\\\\.x$\"}", "\"abcdax\"",
	    "at \"\": \"abcdax\" does not match pattern "
	    "\"^(ab|cd){2}\\\\.x$\"");
	V_OK(s, "7");
	/* Broken patterns are errors, never "does not match". */
	V_BAD("{\"pattern\": \"(a\"}", "\"a\"",
	    "at \"\": invalid schema: pattern \"(a\" does not compile: "
	    "Unmatched ( or \\(");
	V_BAD("{\"pattern\": \"^\\\\d+$\"}", "\"12\"",
	    "at \"\": invalid schema: pattern \"^\\\\d+$\" does not compile: "
	    "POSIX ERE has no \\d (it would match a 'd'): write [0-9]");
}

static void
test_format_uuid(void)
{
	static const char s[] = "{\"type\": \"string\", \"format\": \"uuid\"}";
	static const char *const good[] = {
	    "\"123e4567-e89b-12d3-a456-426614174000\"",
	    "\"123E4567-E89B-12D3-A456-426614174000\"",
	    "\"00000000-0000-0000-0000-000000000000\"",
	};
	static const char *const bad[] = {
	    "\"123e4567-e89b-12d3-a456-42661417400\"",
	    "\"123e4567-e89b-12d3-a456-4266141740000\"",
	    "\"123e4567e89b-12d3-a456-426614174000-\"",
	    "\"123e4567-e89b-12d3-a456-42661417400g\"",
	    "\"{23e4567-e89b-12d3-a456-426614174000\"",
	    "\"123e4567-e89b-12d3-a456-426614174000 \"",
	    "\"123e4567-e89b-12d3-a456-426614174000\\u0000\"",
	    "\"\"",
	};
	char want[256];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		V_OK(s, good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want),
		    "at \"\": %s does not match format uuid", bad[i]);
		V_BAD(s, bad[i], want);
	}
	/* A format ignores other types. */
	V_OK("{\"format\": \"uuid\"}", "5");
}

static void
test_format_date_time(void)
{
	static const char s[] = "{\"format\": \"date-time\"}";
	static const char *const good[] = {
	    "\"2024-01-31T12:34:56Z\"",
	    "\"2024-01-31T12:34:56.123456Z\"",
	    "\"2024-01-31T12:34:56.1+05:30\"",
	    "\"2024-01-31T00:00:00-23:59\"",
	    "\"2024-02-29T23:59:59Z\"",
	    "\"2000-02-29T23:59:59Z\"",
	    "\"2016-12-31T23:59:60Z\"",
	    "\"2024-01-31t12:34:56z\"",
	};
	static const char *const bad[] = {
	    "\"2024-01-31T12:34:56\"",
	    "\"2024-01-31 12:34:56Z\"",
	    "\"2024-13-01T00:00:00Z\"",
	    "\"2024-00-01T00:00:00Z\"",
	    "\"2024-01-32T00:00:00Z\"",
	    "\"2024-01-00T00:00:00Z\"",
	    "\"2023-02-29T00:00:00Z\"",
	    "\"1900-02-29T00:00:00Z\"",
	    "\"2024-04-31T00:00:00Z\"",
	    "\"2024-01-31T24:00:00Z\"",
	    "\"2024-01-31T12:60:00Z\"",
	    "\"2024-01-31T12:00:61Z\"",
	    "\"2024-01-31T12:00:00.Z\"",
	    "\"2024-01-31T12:00:00+24:00\"",
	    "\"2024-01-31T12:00:00+05:60\"",
	    "\"2024-01-31T12:00:00+0530\"",
	    "\"2024-01-31T12:00:00Z \"",
	    "\"2024-1-31T12:00:00Z\"",
	    "\"2024-01-31\"",
	    "\"\"",
	};
	char want[256];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		V_OK(s, good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want),
		    "at \"\": %s does not match format date-time", bad[i]);
		V_BAD(s, bad[i], want);
	}
}

static void
test_format_uri_reference(void)
{
	static const char s[] = "{\"format\": \"uri-reference\"}";

	V_OK(s, "\"/api/flows/\"");
	V_OK(s, "\"https://example.com/a?b=c#d\"");
	V_OK(s, "\"\"");
	V_OK(s, "\"../x\"");
	V_BAD(s, "\"a b\"",
	    "at \"\": \"a b\" does not match format "
	    "uri-reference");
	V_BAD(s, "\"a\\tb\"",
	    "at \"\": \"a\\tb\" does not match format "
	    "uri-reference");
	V_BAD(s, "\"a\\u007f\"",
	    "at \"\": \"a\\u007f\" does not match "
	    "format uri-reference");
	V_BAD("{\"format\": \"email\"}", "\"a@b\"",
	    "at \"\": invalid schema: unknown format \"email\"");
}

/* ---- numbers ------------------------------------------------------------- */

static void
test_bounds(void)
{
	static const char incl[] = "{\"minimum\": 1, \"maximum\": 10}";
	static const char excl[] = "{\"minimum\": 1, \"maximum\": 10, "
	                           "\"exclusiveMinimum\": true, "
	                           "\"exclusiveMaximum\": true}";

	V_OK(incl, "1");
	V_OK(incl, "10");
	V_OK(incl, "5.5");
	V_BAD(incl, "0", "at \"\": 0 is less than minimum 1");
	V_BAD(incl, "0.5", "at \"\": 0.5 is less than minimum 1");
	V_BAD(incl, "11", "at \"\": 11 is greater than maximum 10");
	V_BAD(incl, "10.25", "at \"\": 10.25 is greater than maximum 10");
	V_OK(excl, "2");
	V_OK(excl, "1.5");
	V_BAD(excl, "1",
	    "at \"\": 1 is not greater than minimum 1 "
	    "(exclusiveMinimum)");
	V_BAD(excl, "10",
	    "at \"\": 10 is not less than maximum 10 "
	    "(exclusiveMaximum)");
	/* false is the default. */
	V_OK("{\"minimum\": 1, \"exclusiveMinimum\": false}", "1");
	/* Real bounds, and integers beyond a double's 53 bits compared
	 * exactly. */
	V_BAD("{\"maximum\": 0.5}", "1",
	    "at \"\": 1 is greater than maximum 0.5");
	V_OK("{\"maximum\": 9007199254740993}", "9007199254740993");
	V_BAD("{\"maximum\": 9007199254740992}", "9007199254740993",
	    "at \"\": 9007199254740993 is greater than maximum "
	    "9007199254740992");
	/* Bounds ignore other types. */
	V_OK(incl, "\"0\"");
	V_BAD("{\"minimum\": \"1\"}", "0",
	    "at \"\": invalid schema: minimum is not a number");
}

/* ---- combinators --------------------------------------------------------- */

static void
test_one_of(void)
{
	static const char s[] =
	    "{\"oneOf\": [{\"type\": \"integer\"}, {\"type\": \"number\"}, "
	    "{\"type\": \"string\"}]}";

	V_OK(s, "\"a\"");
	V_OK(s, "1.5");
	V_BAD(s, "1",
	    "at \"\": matches 2 of oneOf's schemas (exactly one "
	    "required): [0] [1]");
	V_BAD(s, "true",
	    "at \"\": matches 0 of oneOf's schemas (exactly one required): "
	    "[0] at \"\": expected integer, got boolean; [1] at \"\": "
	    "expected number, got boolean; [2] at \"\": expected string, "
	    "got boolean");
	/* Inside an object: the branches name their own pointers. */
	V_BAD("{\"properties\": {\"v\": {\"oneOf\": [{\"required\": [\"a\"]}, "
	      "{\"properties\": {\"b\": {\"type\": \"string\"}}, "
	      "\"required\": [\"b\"]}]}}}",
	    "{\"v\": {\"b\": 2}}",
	    "at /v: matches 0 of oneOf's schemas (exactly one required): "
	    "[0] at /v: missing required property \"a\"; [1] at /v/b: "
	    "expected string, got integer");
}

static void
test_any_of(void)
{
	static const char s[] =
	    "{\"anyOf\": [{\"type\": \"integer\"}, {\"minLength\": 2}]}";

	V_OK(s, "1");
	V_OK(s, "\"ab\"");
	V_OK(s, "null");
	V_BAD(s, "\"a\"",
	    "at \"\": matches none of anyOf's schemas: [0] at \"\": expected "
	    "integer, got string; [1] at \"\": has 1 character, fewer than "
	    "minLength 2");
}

static void
test_all_of(void)
{
	static const char s[] =
	    "{\"allOf\": [{\"type\": \"object\", \"required\": [\"a\"]}, "
	    "{\"properties\": {\"a\": {\"maximum\": 3}}}]}";

	V_OK(s, "{\"a\": 3}");
	V_BAD(s, "{}", "at \"\": missing required property \"a\"");
	V_BAD(s, "{\"a\": 4}", "at /a: 4 is greater than maximum 3");
	V_BAD(s, "[]", "at \"\": expected object, got array");
}

static void
test_not(void)
{
	static const char s[] = "{\"not\": {\"type\": \"string\"}}";

	V_OK(s, "1");
	V_OK(s, "null");
	V_BAD(s, "\"a\"", "at \"\": matches the schema of not");
	V_BAD("{\"properties\": {\"x\": {\"not\": {\"enum\": [0]}}}}",
	    "{\"x\": 0}", "at /x: matches the schema of not");
}

/* A broken branch is a broken schema: anyOf, oneOf and not do not turn it
 * into "no match" (or, under not, into a match). */
static void
test_broken_branches(void)
{
	V_BAD("{\"anyOf\": [{\"$ref\": \"#/nope\"}, {}]}", "1",
	    "at \"\": $ref \"#/nope\" does not resolve");
	V_BAD("{\"oneOf\": [{}, {\"pattern\": \"x(\"}]}", "\"a\"",
	    "at \"\": invalid schema: pattern \"x(\" does not compile: "
	    "Unmatched ( or \\(");
	V_BAD("{\"not\": {\"minLength\": \"2\"}}", "\"a\"",
	    "at \"\": invalid schema: minLength is not a non-negative "
	    "integer");
	V_BAD("{\"allOf\": {}}", "1",
	    "at \"\": invalid schema: allOf is not an array");
	V_BAD("{\"properties\": {\"a\": []}}", "{\"a\": 1}",
	    "at /a: invalid schema: a schema is an object, not an array");
}

/* ---- references ---------------------------------------------------------- */

static const char doc[] =
    "{\"components\": {\"schemas\": {"
    "  \"Id\": {\"type\": \"string\", \"format\": \"uuid\"},"
    "  \"Flow\": {\"type\": \"object\", \"required\": [\"id\"],"
    "    \"properties\": {\"id\": {\"$ref\": \"#/components/schemas/Id\"},"
    "      \"tags\": {\"type\": \"array\", \"items\": "
    "        {\"$ref\": \"#/components/schemas/Tag\"}}}},"
    "  \"Tag\": {\"type\": \"string\", \"maxLength\": 3},"
    "  \"Alias\": {\"$ref\": \"#/components/schemas/Flow\"}}},"
    " \"paths\": {\"/api/flows/{id}/\": {\"get\": {\"responses\": {"
    "   \"200\": {\"schema\": {\"$ref\": \"#/components/schemas/Flow\"}}}}}},"
    " \"odd\": {\"a~b\": {\"type\": \"integer\"}, \"%\": {\"type\": \"null\"},"
    "   \"\": {\"minimum\": 5}},"
    " \"list\": [{\"type\": \"boolean\"}, {\"type\": \"string\"}],"
    " \"uses\": {\"properties\": {"
    "   \"p\": {\"$ref\": "
    "     \"#/paths/~1api~1flows~1%7Bid%7D~1/get/responses/200/schema\"},"
    "   \"t\": {\"$ref\": \"#/odd/a~0b\"},"
    "   \"e\": {\"$ref\": \"#/odd/\"},"
    "   \"l\": {\"$ref\": \"#/list/1\"}}}}";

static void
test_resolve_ref(void)
{
	json_t *root = parse(doc, __FILE__, __LINE__);
	const json_t *schemas, *v;

	if (root == NULL) {
		return;
	}
	schemas =
	    json_object_get(json_object_get(root, "components"), "schemas");
	FS_CHECK(js_resolve_ref(root, "#") == root, "# is the root");
	FS_CHECK(js_resolve_ref(root, "#/components/schemas") == schemas,
	    "plain pointer");
	v = js_resolve_ref(root, "#/paths/~1api~1flows~1%7Bid%7D~1");
	FS_CHECK(v != NULL &&
	        v ==
	            json_object_get(json_object_get(root, "paths"),
	                "/api/flows/{id}/"),
	    "~1 and percent-encoding");
	v = js_resolve_ref(root, "#/odd/a~0b");
	FS_CHECK(v != NULL &&
	        v == json_object_get(json_object_get(root, "odd"), "a~b"),
	    "~0");
	FS_CHECK(js_resolve_ref(root, "#/odd/%25") ==
	        json_object_get(json_object_get(root, "odd"), "%"),
	    "%%25");
	FS_CHECK(js_resolve_ref(root, "#/odd/") ==
	        json_object_get(json_object_get(root, "odd"), ""),
	    "empty key");
	FS_CHECK(js_resolve_ref(root, "#/list/1") ==
	        json_array_get(json_object_get(root, "list"), 1),
	    "array index");
	FS_CHECK(js_resolve_ref(root, "#/list/0") ==
	        json_array_get(json_object_get(root, "list"), 0),
	    "array index 0");

	/* Nothing there, or malformed. */
	FS_CHECK(js_resolve_ref(root, "#/list/2") == NULL, "index past end");
	FS_CHECK(js_resolve_ref(root, "#/list/01") == NULL, "leading zero");
	FS_CHECK(js_resolve_ref(root, "#/list/-1") == NULL, "negative");
	FS_CHECK(js_resolve_ref(root, "#/list/1x") == NULL, "not a number");
	FS_CHECK(js_resolve_ref(root, "#/list/99999999999999999999999999") ==
	        NULL,
	    "index overflow");
	FS_CHECK(js_resolve_ref(root, "#/components/nope") == NULL, "no key");
	FS_CHECK(js_resolve_ref(root, "#/components/schemas/Id/type/x") ==
	        NULL,
	    "into a string");
	FS_CHECK(js_resolve_ref(root, "#/odd/a~2b") == NULL, "bad ~ escape");
	FS_CHECK(js_resolve_ref(root, "#/odd/a~") == NULL, "trailing ~");
	FS_CHECK(js_resolve_ref(root, "#/odd/%2") == NULL, "short %%");
	FS_CHECK(js_resolve_ref(root, "#/odd/%zz") == NULL, "bad %%");
	FS_CHECK(js_resolve_ref(root, "#/odd/a%00") == NULL, "%%00");
	FS_CHECK(js_resolve_ref(root, "#components") == NULL, "no slash");
	FS_CHECK(js_resolve_ref(root, "other.json#/components") == NULL,
	    "not local");
	FS_CHECK(js_resolve_ref(root, "") == NULL, "empty");
	FS_CHECK(js_resolve_ref(root, NULL) == NULL, "NULL ref");
	FS_CHECK(js_resolve_ref(NULL, "#") == NULL, "NULL root");
	json_decref(root);
}

static void
test_ref_validation(void)
{
	static const char id[] = "\"123e4567-e89b-12d3-a456-426614174000\"";
	char inst[256];

	snprintf(inst, sizeof(inst), "{\"id\": %s, \"tags\": [\"a\"]}", id);
	V_OK_AT(doc, "#/components/schemas/Flow", inst);
	V_OK_AT(doc, "#/components/schemas/Alias", inst);
	V_BAD_AT(doc, "#/components/schemas/Flow", "{\"id\": \"nope\"}",
	    "at /id: \"nope\" does not match format uuid");
	V_BAD_AT(doc, "#/components/schemas/Alias", "{}",
	    "at \"\": missing required property \"id\"");
	snprintf(inst, sizeof(inst),
	    "{\"id\": %s, \"tags\": [\"a\", \"abcd\"]}", id);
	V_BAD_AT(doc, "#/components/schemas/Flow", inst,
	    "at /tags/1: has 4 characters, more than maxLength 3");

	/* ~1 and %7B..%7D through a path key; ~0; an empty key; an index. */
	snprintf(inst, sizeof(inst), "{\"p\": {\"id\": %s}}", id);
	V_OK_AT(doc, "#/uses", inst);
	V_BAD_AT(doc, "#/uses", "{\"p\": {\"id\": 1}}",
	    "at /p/id: expected string, got integer");
	V_OK_AT(doc, "#/uses", "{\"t\": 1, \"e\": 5, \"l\": \"s\"}");
	V_BAD_AT(doc, "#/uses", "{\"t\": \"1\"}",
	    "at /t: expected integer, got string");
	V_BAD_AT(doc, "#/uses", "{\"e\": 4}",
	    "at /e: 4 is less than minimum 5");
	V_BAD_AT(doc, "#/uses", "{\"l\": true}",
	    "at /l: expected string, got boolean");

	/* Unresolvable, not a string, not local. */
	V_BAD("{\"properties\": {\"a\": {\"$ref\": \"#/nope\"}}}",
	    "{\"a\": 1}", "at /a: $ref \"#/nope\" does not resolve");
	V_BAD("{\"$ref\": 5}", "1", "at \"\": $ref 5 does not resolve");
	V_BAD("{\"$ref\": \"x.json#/a\"}", "1",
	    "at \"\": $ref \"x.json#/a\" does not resolve");
	/* OpenAPI 3.0: siblings of $ref are ignored when validating. */
	V_OK("{\"a\": {\"type\": \"string\"}, \"s\": {\"$ref\": \"#/a\", "
	     "\"type\": \"integer\"}, \"$ref\": \"#/s\"}",
	    "\"x\"");
}

static void
test_ref_cycles(void)
{
	char want[128];

	snprintf(want, sizeof(want),
	    "at \"\": schemas nested deeper than %d (a $ref cycle?)",
	    JS_MAX_DEPTH);
	/* A $ref to itself, and two that point at each other. */
	V_BAD_AT("{\"a\": {\"$ref\": \"#/a\"}}", "#/a", "1", want);
	V_BAD_AT("{\"a\": {\"$ref\": \"#/b\"}, \"b\": {\"$ref\": \"#/a\"}}",
	    "#/a", "{}", want);
	/* Through allOf, as a schema that "extends" itself would. */
	V_BAD_AT("{\"a\": {\"allOf\": [{\"$ref\": \"#/a\"}]}}", "#/a", "1",
	    want);
	/* Through anyOf and not: still an error, not a match. */
	V_BAD_AT("{\"a\": {\"anyOf\": [{\"$ref\": \"#/a\"}, {}]}}", "#/a", "1",
	    want);
	V_BAD_AT("{\"a\": {\"not\": {\"$ref\": \"#/a\"}}}", "#/a", "1", want);
}

static void
test_recursive_schema(void)
{
	static const char tree[] =
	    "{\"Node\": {\"type\": \"object\", \"required\": [\"name\"], "
	    "\"properties\": {\"name\": {\"type\": \"string\"}, "
	    "\"children\": {\"type\": \"array\", "
	    "\"items\": {\"$ref\": \"#/Node\"}}}}}";
	char deep[4096], want[512];
	size_t n = 0;
	int i;

	V_OK_AT(tree, "#/Node",
	    "{\"name\": \"r\", \"children\": [{\"name\": \"a\"}, "
	    "{\"name\": \"b\", \"children\": [{\"name\": \"c\"}]}]}");
	V_BAD_AT(tree, "#/Node",
	    "{\"name\": \"r\", \"children\": [{\"name\": \"a\"}, "
	    "{\"name\": \"b\", \"children\": [{\"name\": 3}]}]}",
	    "at /children/1/children/0/name: expected string, got integer");
	V_BAD_AT(tree, "#/Node",
	    "{\"name\": \"r\", \"children\": [{\"children\": []}]}",
	    "at /children/0: missing required property \"name\"");

	/* An instance nested deeper than the limit allows (each level takes
	 * three schemas: Node, children, the $ref): an error, no crash. */
	for (i = 0; i < 40; i++) {
		n += (size_t) snprintf(deep + n, sizeof(deep) - n,
		    "{\"name\": \"n\", \"children\": [");
	}
	n +=
	    (size_t) snprintf(deep + n, sizeof(deep) - n, "{\"name\": \"n\"}");
	for (i = 0; i < 40; i++) {
		n += (size_t) snprintf(deep + n, sizeof(deep) - n, "]}");
	}
	FS_CHECK(n < sizeof(deep), "deep instance fits");
	n = (size_t) snprintf(want, sizeof(want), "at ");
	for (i = 0; i < JS_MAX_DEPTH / 3 + 1; i++) {
		n += (size_t) snprintf(want + n, sizeof(want) - n,
		    "/children/0");
	}
	snprintf(want + n, sizeof(want) - n,
	    ": schemas nested deeper than %d (a $ref cycle?)", JS_MAX_DEPTH);
	V_BAD_AT(tree, "#/Node", deep, want);
}

/* ---- the API's edges ----------------------------------------------------- */

static void
test_error_buffer(void)
{
	json_t *schema =
	    parse("{\"type\": \"object\", \"properties\": {\"a\": "
	          "{\"type\": \"string\"}}}",
	        __FILE__, __LINE__);
	json_t *bad = parse("{\"a\": 1}", __FILE__, __LINE__);
	json_t *good = parse("{\"a\": \"1\"}", __FILE__, __LINE__);
	char err[16];

	if (schema == NULL || bad == NULL || good == NULL) {
		goto out;
	}
	/* No buffer: the result alone. */
	FS_ASSERT_INT_EQ(js_validate(schema, schema, bad, NULL, 0), -1);
	FS_ASSERT_INT_EQ(js_validate(schema, schema, good, NULL, 0), 0);
	FS_ASSERT_INT_EQ(js_check_schema(schema, schema, NULL, 0), 0);
	/* A short buffer: truncated, terminated, nothing written past it
	 * (ASan watches the array). */
	memset(err, 'x', sizeof(err));
	FS_ASSERT_INT_EQ(js_validate(schema, schema, bad, err, sizeof(err)),
	    -1);
	FS_ASSERT_STR_EQ(err, "at /a: expected");
	memset(err, 'x', sizeof(err));
	FS_ASSERT_INT_EQ(js_validate(schema, schema, bad, err, 1), -1);
	FS_ASSERT_INT_EQ(err[0], '\0');
	FS_ASSERT_INT_EQ(err[1], 'x');
	/* Success empties the message. */
	FS_ASSERT_INT_EQ(js_validate(schema, schema, good, err, sizeof(err)),
	    0);
	FS_ASSERT_STR_EQ(err, "");
	/* A root that does not hold the schema, and no root at all. */
	FS_ASSERT_INT_EQ(js_validate(NULL, schema, good, err, sizeof(err)), 0);
	memset(err, 'x', sizeof(err));
	FS_ASSERT_INT_EQ(js_validate(NULL, NULL, good, err, sizeof(err)), -1);
	FS_ASSERT_STR_EQ(err, "at \"\": invalid ");
out:
	json_decref(schema);
	json_decref(bad);
	json_decref(good);
}

/* ---- js_check_schema ----------------------------------------------------- */

static void
test_check_accepts(void)
{
	/* Every keyword and annotation, nested every way. */
	C_OK_AT("{\"components\": {\"schemas\": {"
	        "\"Id\": {\"type\": \"string\", \"format\": \"uuid\", "
	        "  \"readOnly\": true, \"example\": \"x\", \"x-internal\": 1},"
	        "\"Flow\": {\"type\": \"object\", \"title\": \"Flow\","
	        "  \"description\": \"d\", \"required\": [\"id\"],"
	        "  \"additionalProperties\": false, \"minProperties\": 1,"
	        "  \"maxProperties\": 9, \"externalDocs\": {\"url\": \"u\"},"
	        "  \"deprecated\": false, \"default\": {},"
	        "  \"properties\": {"
	        "    \"id\": {\"$ref\": \"#/components/schemas/Id\"},"
	        "    \"a/b\": {\"type\": \"integer\", \"minimum\": 0,"
	        "      \"maximum\": 9, \"exclusiveMinimum\": true,"
	        "      \"exclusiveMaximum\": false, \"nullable\": true},"
	        "    \"tags\": {\"type\": \"array\", \"minItems\": 0,"
	        "      \"maxItems\": 4, \"uniqueItems\": true,"
	        "      \"items\": {\"type\": \"string\", \"minLength\": 1,"
	        "        \"maxLength\": 8, \"pattern\": \"^[a-z]+$\","
	        "        \"enum\": [\"a\", \"b\"]}},"
	        "    \"at\": {\"type\": \"string\", \"format\": \"date-time\","
	        "      \"writeOnly\": true},"
	        "    \"u\": {\"type\": \"string\", \"format\": "
	        "\"uri-reference\"},"
	        "    \"m\": {\"type\": \"object\","
	        "      \"additionalProperties\": {\"type\": \"number\"}},"
	        "    \"c\": {\"oneOf\": [{\"type\": \"boolean\"}, {}],"
	        "      \"anyOf\": [{}], \"allOf\": [{}],"
	        "      \"not\": {\"type\": \"string\"}}}}}}}",
	    "#/components/schemas/Flow");
	/* A recursive schema: each $ref followed once, so the walk ends. */
	C_OK_AT("{\"Node\": {\"type\": \"object\", \"properties\": {"
	        "\"children\": {\"type\": \"array\", "
	        "\"items\": {\"$ref\": \"#/Node\"}}}}}",
	    "#/Node");
	/* A $ref to a $ref to a schema. */
	C_OK_AT("{\"a\": {\"$ref\": \"#/b\"}, \"b\": {\"$ref\": \"#/c\"}, "
	        "\"c\": {}}",
	    "#/a");
}

static void
test_check_refuses(void)
{
	/* Pointers into root name the schema, with ~1 and ~0. */
	C_BAD("{\"type\": \"object\", \"properties\": {\"a/b~\": "
	      "{\"type\": \"string\", \"fromat\": \"uuid\"}}}",
	    "at #/properties/a~1b~0: unknown keyword \"fromat\"");
	C_BAD_AT("{\"components\": {\"schemas\": {\"Flow\": {\"properties\": "
	         "{\"id\": {\"discriminator\": {}}}}}}}",
	    "#/components/schemas/Flow",
	    "at #/components/schemas/Flow/properties/id: discriminator is not "
	    "supported");
	C_BAD("{\"multipleOf\": 2}", "at #: unknown keyword \"multipleOf\"");
	C_BAD("{\"type\": [\"string\", \"null\"]}",
	    "at #: type [\"string\",\"null\"] is not one of \"string\", "
	    "\"integer\", \"number\", \"boolean\", \"array\", \"object\"");
	C_BAD("{\"type\": \"null\"}",
	    "at #: type \"null\" is not one of \"string\", \"integer\", "
	    "\"number\", \"boolean\", \"array\", \"object\"");

	/* $ref: siblings, unresolvable, wrong type. */
	C_BAD("{\"properties\": {\"a\": {\"$ref\": \"#\", "
	      "\"description\": \"d\"}}}",
	    "at #/properties/a: $ref has a sibling \"description\" (OpenAPI "
	    "3.0 ignores siblings of $ref: wrap the $ref in allOf)");
	C_BAD("{\"items\": {\"$ref\": \"#/nope\"}}",
	    "at #/items: $ref \"#/nope\" does not resolve");
	C_BAD("{\"not\": {\"$ref\": true}}", "at #/not: $ref is not a string");
	/* An error behind a $ref is named where it is, not where the
	 * $ref is. */
	C_BAD_AT("{\"s\": {\"allOf\": [{\"$ref\": \"#/t~1u\"}]}, "
	         "\"t/u\": {\"anyOf\": [{}, {\"maxLength\": -1}]}}",
	    "#/s",
	    "at #/t~1u/anyOf/1: maxLength must be a non-negative "
	    "integer, not -1");
	/* Chains of $refs that never reach a schema. */
	C_BAD_AT("{\"a\": {\"$ref\": \"#/b\"}, \"b\": {\"$ref\": \"#/a\"}}",
	    "#/a",
	    "at #/a: $ref \"#/b\" starts a chain of $refs that loops "
	    "(or is longer than 64)");
	C_BAD_AT("{\"a\": {\"$ref\": \"#/a\"}}", "#/a",
	    "at #/a: $ref \"#/a\" starts a chain of $refs that loops (or is "
	    "longer than 64)");

	/* Patterns and formats. */
	C_BAD("{\"pattern\": \"a(\"}",
	    "at #: pattern \"a(\" does not compile: Unmatched ( or \\(");
	C_BAD("{\"pattern\": \"^\\\\D\"}",
	    "at #: pattern \"^\\\\D\" does not compile: POSIX ERE has no \\D "
	    "(it would match a 'D'): write [^0-9]");
	C_BAD("{\"pattern\": 1}",
	    "at #: pattern must be a string, not an integer");
	C_BAD("{\"format\": \"email\"}",
	    "at #: unknown format \"email\" (known: uuid, date-time, "
	    "uri-reference)");
	C_BAD("{\"format\": \"int64\"}",
	    "at #: unknown format \"int64\" (known: uuid, date-time, "
	    "uri-reference)");

	/* required and enum. */
	C_BAD("{\"required\": \"name\"}",
	    "at #: required must be a non-empty array of strings, not a "
	    "string");
	C_BAD("{\"required\": []}",
	    "at #: required must be a non-empty array "
	    "of strings, not an empty array");
	C_BAD("{\"required\": [\"a\", 1]}",
	    "at #: required must be an array of strings, but [1] is an "
	    "integer");
	C_BAD("{\"required\": [\"a\", \"a\"]}",
	    "at #: required lists \"a\" twice");
	C_BAD("{\"enum\": []}",
	    "at #: enum must be a non-empty array, not an empty one");
	C_BAD("{\"enum\": \"a\"}",
	    "at #: enum must be a non-empty array, not a string");

	/* Values of the wrong type. */
	C_BAD("{\"nullable\": \"yes\"}",
	    "at #: nullable must be a boolean, not \"yes\"");
	C_BAD("{\"minItems\": 1.5, \"items\": {}}",
	    "at #: minItems must be a non-negative integer, not 1.5");
	C_BAD("{\"maximum\": \"9\"}",
	    "at #: maximum must be a number, not \"9\"");
	C_BAD("{\"description\": 1}",
	    "at #: description must be a string, not 1");
	C_BAD("{\"externalDocs\": \"u\"}",
	    "at #: externalDocs must be an object, not \"u\"");
	C_BAD("{\"properties\": []}",
	    "at #: properties must be an object, not an array");
	C_BAD("{\"properties\": {\"a\": true}}",
	    "at #/properties/a: a schema must be an object, not a boolean");
	C_BAD("{\"additionalProperties\": 1}",
	    "at #: additionalProperties must be a boolean or a schema, not "
	    "an integer");
	C_BAD("{\"additionalProperties\": {\"type\": \"int\"}}",
	    "at #/additionalProperties: type \"int\" is not one of "
	    "\"string\", "
	    "\"integer\", \"number\", \"boolean\", \"array\", \"object\"");
	C_BAD("{\"items\": [{}]}",
	    "at #/items: a schema must be an object, not an array");
	C_BAD("{\"oneOf\": []}",
	    "at #: oneOf must be a non-empty array of schemas, not an empty "
	    "one");
	C_BAD("{\"allOf\": [{}, {\"oneOf\": [{}, \"x\"]}]}",
	    "at #/allOf/1/oneOf/1: a schema must be an object, not a string");

	/* Keywords that contradict each other. */
	C_BAD("{\"type\": \"array\"}",
	    "at #: type \"array\" without items (OpenAPI 3.0 requires it)");
	C_BAD("{\"exclusiveMinimum\": true}",
	    "at #: exclusiveMinimum without minimum");
	C_BAD("{\"exclusiveMaximum\": false}",
	    "at #: exclusiveMaximum without maximum");
	C_BAD("{\"minLength\": 3, \"maxLength\": 2}",
	    "at #: minLength 3 is greater than maxLength 2");
	C_BAD("{\"minimum\": 1.5, \"maximum\": 1}",
	    "at #: minimum 1.5 is greater than maximum 1");
	C_BAD("{\"readOnly\": true, \"writeOnly\": true}",
	    "at #: both readOnly and writeOnly");
	C_BAD("{\"properties\": {\"a\": {}}, \"required\": [\"a\", \"b\"], "
	      "\"additionalProperties\": false}",
	    "at #: required property \"b\" is not in properties, and "
	    "additionalProperties is false");
}

/* A schema that is not inside root is named from itself. */
static void
test_check_outside_root(void)
{
	json_t *root =
	    parse("{\"Id\": {\"type\": \"string\"}}", __FILE__, __LINE__);
	json_t *schema = parse("{\"properties\": {\"id\": {\"$ref\": "
	                       "\"#/Id\"}, \"n\": {\"type\": \"nmber\"}}}",
	    __FILE__, __LINE__);
	json_t *bad_ref = parse("{\"items\": {\"$ref\": \"#/Id\"}, "
	                        "\"type\": \"array\", \"not\": "
	                        "{\"$ref\": \"#/Nope\"}}",
	    __FILE__, __LINE__);
	char err[ERR_MAX];

	if (root == NULL || schema == NULL || bad_ref == NULL) {
		goto out;
	}
	FS_ASSERT_INT_EQ(js_check_schema(root, schema, err, sizeof(err)), -1);
	FS_ASSERT_STR_EQ(err,
	    "at (schema)/properties/n: type \"nmber\" is "
	    "not one of \"string\", \"integer\", \"number\", "
	    "\"boolean\", \"array\", \"object\"");
	FS_ASSERT_INT_EQ(js_check_schema(root, bad_ref, err, sizeof(err)), -1);
	FS_ASSERT_STR_EQ(err,
	    "at (schema)/not: $ref \"#/Nope\" does not "
	    "resolve");
	/* No root: nothing resolves. */
	FS_ASSERT_INT_EQ(js_check_schema(NULL, bad_ref, err, sizeof(err)), -1);
	FS_ASSERT_STR_EQ(err,
	    "at (schema)/items: $ref \"#/Id\" does not "
	    "resolve");
	FS_ASSERT_INT_EQ(js_check_schema(root, NULL, err, sizeof(err)), -1);
	FS_ASSERT_STR_EQ(err,
	    "at (schema): a schema must be an object, not nothing");
out:
	json_decref(root);
	json_decref(schema);
	json_decref(bad_ref);
}

/* Deeper than the limit without any $ref: an error, not a crash. */
static void
test_check_depth(void)
{
	char text[2048], want[1024];
	size_t n = 0, w;
	int i;

	for (i = 0; i < JS_MAX_DEPTH + 1; i++) {
		n += (size_t) snprintf(text + n, sizeof(text) - n,
		    "{\"not\": ");
	}
	n += (size_t) snprintf(text + n, sizeof(text) - n, "{}");
	for (i = 0; i < JS_MAX_DEPTH + 1; i++) {
		n += (size_t) snprintf(text + n, sizeof(text) - n, "}");
	}
	FS_CHECK(n < sizeof(text), "text fits");
	w = (size_t) snprintf(want, sizeof(want), "at #");
	for (i = 0; i < JS_MAX_DEPTH + 1; i++) {
		w += (size_t) snprintf(want + w, sizeof(want) - w, "/not");
	}
	snprintf(want + w, sizeof(want) - w, ": schemas nested deeper than %d",
	    JS_MAX_DEPTH);
	C_BAD(text, want);
	/* One level less is fine. */
	C_OK_AT(text, "#/not");
}

static CU_TestInfo validate_tests[] = {
    {"type", test_type},
    {"nullable", test_nullable},
    {"enum", test_enum},
    {"properties and required", test_properties},
    {"additionalProperties", test_additional_properties},
    {"min/maxProperties", test_property_counts},
    {"items, min/maxItems", test_items},
    {"uniqueItems", test_unique_items},
    {"min/maxLength in code points", test_lengths},
    {"pattern", test_pattern},
    {"format uuid", test_format_uuid},
    {"format date-time", test_format_date_time},
    {"format uri-reference", test_format_uri_reference},
    {"minimum, maximum, exclusive", test_bounds},
    {"oneOf", test_one_of},
    {"anyOf", test_any_of},
    {"allOf", test_all_of},
    {"not", test_not},
    {"broken branches are errors", test_broken_branches},
    {"error buffer", test_error_buffer},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo ref_tests[] = {
    {"js_resolve_ref", test_resolve_ref},
    {"validation through $ref", test_ref_validation},
    {"$ref cycles", test_ref_cycles},
    {"recursive schema", test_recursive_schema},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo check_tests[] = {
    {"accepts", test_check_accepts},
    {"refuses", test_check_refuses},
    {"schema outside root", test_check_outside_root},
    {"depth", test_check_depth},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"jschema validate", NULL, NULL, NULL, NULL, validate_tests},
    {"jschema $ref", NULL, NULL, NULL, NULL, ref_tests},
    {"jschema check", NULL, NULL, NULL, NULL, check_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
