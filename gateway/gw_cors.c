/*
 * gw_cors.c - the allowed origins of --cors-origin.
 */
#include "gw_cors.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct gw_cors {
	bool any; /* "*" was given */
	int n;
	char **origins;
};

/* SCHEME: a letter, then letters, digits, '+', '-', '.'. Returns the
 * length, 0 when there is none. */
static size_t
scheme_len(const char *s)
{
	size_t n = 0;

	if (!isalpha((unsigned char) s[0]))
		return 0;
	while (isalnum((unsigned char) s[n]) || s[n] == '+' || s[n] == '-' ||
	    s[n] == '.')
		n++;
	return n;
}

/* HOST: a name or IPv4 address of letters, digits, '-' and '.', or an
 * IPv6 address in brackets. Returns the length, 0 when there is none. */
static size_t
host_len(const char *s)
{
	size_t n = 0;

	if (s[0] == '[') {
		for (n = 1; isxdigit((unsigned char) s[n]) || s[n] == ':' ||
		     s[n] == '.';
		     n++)
			;
		return s[n] == ']' && n > 1 ? n + 1 : 0;
	}
	while (isalnum((unsigned char) s[n]) || s[n] == '-' || s[n] == '.')
		n++;
	return n;
}

int
gw_cors_check(const char *o, char *err, size_t errlen)
{
	const char *p = o;
	size_t n;

	if (strcmp(o, "*") == 0)
		return 0;
	if ((n = scheme_len(p)) == 0 || strncmp(p + n, "://", 3) != 0)
		goto bad;
	p += n + 3;
	if ((n = host_len(p)) == 0)
		goto bad;
	p += n;
	if (*p == ':') {
		for (n = 1; isdigit((unsigned char) p[n]); n++)
			;
		if (n == 1 || n > 6)
			goto bad;
		p += n;
	}
	if (*p == '\0')
		return 0;
bad:
	snprintf(err, errlen,
	    "--cors-origin '%.100s': expected '*' or SCHEME://HOST[:PORT] as "
	    "a browser sends it in Origin (e.g. https://console.example.com, "
	    "no path, no trailing slash)",
	    o);
	return -1;
}

void
gw_cors_free(gw_cors *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < c->n; i++)
		free(c->origins[i]);
	free(c->origins);
	free(c);
}

int
gw_cors_new(gw_cors **out, const char *const *origins, int n, char *err,
    size_t errlen)
{
	gw_cors *c;

	*out = NULL;
	for (int i = 0; i < n; i++)
		if (gw_cors_check(origins[i], err, errlen) != 0)
			return -1;
	if (n <= 0)
		return 0;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->origins = calloc((size_t) n, sizeof(char *))) == NULL) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (strcmp(origins[i], "*") == 0) {
			c->any = true;
			continue;
		}
		if ((c->origins[c->n] = strdup(origins[i])) == NULL) {
			gw_cors_free(c);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		c->n++;
	}
	*out = c;
	return 0;
}

const char *
gw_cors_allow(const gw_cors *c, const char *origin)
{
	if (c == NULL || origin == NULL)
		return NULL;
	if (c->any)
		return "*";
	for (int i = 0; i < c->n; i++)
		if (strcasecmp(c->origins[i], origin) == 0)
			return origin;
	return NULL;
}
