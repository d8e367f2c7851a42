/*
 * jschema.h - a small validator of JSON values against OpenAPI 3.0 Schema
 * Objects, for tests that hold what the programs answer to an OpenAPI
 * document.
 *
 * Keywords (validation as in OpenAPI 3.0, a JSON Schema draft-05 subset):
 * $ref (local "#/..." only; OpenAPI 3.0 ignores its siblings, and so does
 * js_validate, but js_check_schema refuses them), type, nullable, enum,
 * properties, required, additionalProperties, minProperties,
 * maxProperties, items, minItems, maxItems, uniqueItems, minLength,
 * maxLength, pattern, format (uuid, date-time, uri-reference), minimum,
 * maximum, exclusiveMinimum, exclusiveMaximum (booleans, as in 3.0), oneOf,
 * anyOf, allOf, not. Annotations, accepted and ignored: title,
 * description, example, default, readOnly, writeOnly, deprecated,
 * externalDocs and specification extensions ("x-..."). Anything else,
 * discriminator included, is refused by js_check_schema.
 *
 * Semantics worth knowing:
 * - "integer" is a JSON integer as jansson parses it: 1.0 is a number but
 *   not an integer. enum and uniqueItems compare numbers by value (1 and
 *   1.0 are equal), everything else as json_equal does.
 * - nullable: true lets null through type only; as OpenAPI 3.0.3 says, the
 *   other keywords keep their meaning, so an enum must list null to take
 *   it. Keywords of one type (minLength, properties, minimum, ...) ignore
 *   instances of other types, null included.
 * - minLength and maxLength count Unicode code points.
 * - pattern is a POSIX extended regular expression (regcomp), searched for
 *   anywhere in the string like ECMA-262's test(): anchor it with ^ and $.
 *   \d does not exist in POSIX ERE (it would match a 'd'), so a pattern
 *   using \d or \D is refused: write [0-9].
 * - date-time is RFC 3339 (the day is checked against its month, leap
 *   years included; second 60 is allowed; 'T' and 'Z' may be lower case,
 *   as RFC 3339 permits); uuid is 8-4-4-4-12 hex digits of either case;
 *   uri-reference is any string without whitespace or control characters.
 * - Schemas nest at most JS_MAX_DEPTH deep (every $ref followed counts),
 *   which is what stops $ref cycles: exceeding it is an error.
 *
 * Messages are one line (control characters are escaped). Neither function
 * keeps state; both are safe to call from any thread.
 */
#ifndef TESTS_JSCHEMA_H
#define TESTS_JSCHEMA_H

#include <stddef.h>

#include <jansson.h>

#define JS_MAX_DEPTH 64

/* Validates instance against schema, a Schema Object inside the document
 * root, which local references ("#/a/b", with the JSON pointer escapes ~0
 * and ~1 and URI percent-encoding) are resolved against. Returns 0 when
 * instance is valid. Otherwise returns -1 with a one-line message in err
 * (when err is not NULL and errlen is not 0; truncated to errlen):
 *     at <JSON pointer of the failing part of instance>: <why>
 * where the pointer of instance itself is written "" (two quotes), e.g.
 *     at /flows/0/id: "x" does not match format uuid
 *     at "": missing required property "name"
 * A schema that js_check_schema would refuse may be reported the same way
 * ("... invalid schema: ...", "$ref ... does not resolve") when validation
 * reaches the offending keyword. */
int js_validate(const json_t *root, const json_t *schema,
    const json_t *instance, char *err, size_t errlen);

/* Checks schema (inside root) and every subschema, following each $ref
 * once: only the keywords above, each with a value of the right type
 * (required a non-empty array of distinct strings, pattern compiles,
 * format known, ...), every $ref a string that resolves, nothing next to a
 * $ref, no chain of $refs that loops, items present when type is array,
 * exclusiveMinimum only with minimum (and Maximum), no minX above its maxX,
 * not both readOnly and writeOnly, no required property that
 * additionalProperties: false forbids. Returns 0, or -1 with a one-line
 * message naming the offending schema: "at #/components/schemas/Flow: ..."
 * as a pointer into root when schema lies inside root, or
 * "at (schema)/properties/id: ..." relative to schema when it does not. */
int js_check_schema(const json_t *root, const json_t *schema, char *err,
    size_t errlen);

/* Resolves a local reference: "#" is root itself, "#/a/b" the JSON
 * pointer /a/b (percent-decoded, then ~1 and ~0 unescaped; an array index
 * is decimal without leading zeros). NULL when root is NULL, the reference
 * is not local or malformed, or nothing is there. Borrowed from root. */
const json_t *js_resolve_ref(const json_t *root, const char *ref);

#endif
