/*
 * jschema_ref.c - local $ref resolution (js_resolve_ref): JSON pointers
 * with percent-encoding and the ~0 ~1 escapes. See jschema.h.
 */
#include "jschema_int.h"

#include <stdlib.h>
#include <string.h>

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
		} else if (json_is_array(node) &&
		    parse_index(seg, &idx) == 0) {
			node = json_array_get(node, idx);
		} else {
			node = NULL;
		}
	}
	free(seg);
	return node;
}
