/*
 * gw_cond.c - ETags and the If-Match / If-None-Match values.
 */
#include "gw_cond.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

void
gw_cond_etag(int64_t version, char out[GW_ETAG_MAX])
{
	snprintf(out, GW_ETAG_MAX, "\"%" PRId64 "\"", version);
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether p is "*", with optional whitespace around it. */
static bool
is_star(const char *p)
{
	while (is_ows(*p))
		p++;
	if (*p++ != '*')
		return false;
	while (is_ows(*p))
		p++;
	return *p == '\0';
}

/* One tag of a list: the opaque part between the quotes and whether it
 * was W/-prefixed. */
struct tag {
	const char *opaque;
	size_t len;
	bool weak;
};

/* The next piece of a comma-separated value at *p that is a tag (see
 * gw_cond.h); *p advances past it. Returns false at the end. */
static bool
next_tag(const char **p, struct tag *t)
{
	while (**p != '\0') {
		const char *s = *p, *e = strchr(s, ',');

		if (e == NULL)
			e = s + strlen(s);
		*p = *e == ',' ? e + 1 : e;
		while (s < e && is_ows(*s))
			s++;
		while (e > s && is_ows(e[-1]))
			e--;
		t->weak = e - s >= 2 && s[0] == 'W' && s[1] == '/';
		if (t->weak)
			s += 2;
		if (e - s < 2 || s[0] != '"' || e[-1] != '"' ||
		    memchr(s + 1, '"', (size_t) (e - s - 2)) != NULL)
			continue;
		t->opaque = s + 1;
		t->len = (size_t) (e - s - 2);
		return true;
	}
	return false;
}

/* The version an opaque tag names: decimal, no leading zero, at least 1,
 * within int64. 0 when it names none. */
static int64_t
tag_version(const struct tag *t)
{
	int64_t v = 0;

	if (t->len == 0 || t->len > 18 || t->opaque[0] == '0')
		return 0;
	for (size_t i = 0; i < t->len; i++) {
		if (t->opaque[i] < '0' || t->opaque[i] > '9')
			return 0;
		v = v * 10 + (t->opaque[i] - '0');
	}
	return v;
}

enum gw_if_match
gw_cond_if_match(const char *value, int64_t *version)
{
	struct tag t;
	int64_t v;

	*version = 0;
	if (value == NULL || is_star(value))
		return GW_IF_MATCH_ANY;
	while (next_tag(&value, &t)) {
		if (t.weak || (v = tag_version(&t)) == 0)
			continue; /* never matches strongly */
		if (*version != 0 && *version != v)
			return GW_IF_MATCH_SEVERAL;
		*version = v;
	}
	return GW_IF_MATCH_VERSION;
}

bool
gw_cond_none_match(const char *value, int64_t version)
{
	struct tag t;

	if (value == NULL)
		return false;
	if (is_star(value))
		return true;
	while (next_tag(&value, &t))
		if (tag_version(&t) == version && version > 0)
			return true;
	return false;
}
