/*
 * gw_framing.c - the request framing rules of gw_framing.h.
 */
#include "gw_framing.h"

#include <string.h>
#include <strings.h>

void
gw_framing_init(struct gw_framing *f)
{
	memset(f, 0, sizeof(*f));
}

/* RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+"
 * / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA. */
static int
is_token(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char) *s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (c >= 0x80 || strchr("!#$%&'*+-.^_`|~", c) == NULL)
			return 0;
	}
	return 1;
}

/* Whether name is `framing` with more after it: what libmicrohttpd 0.9.75
 * makes of a framing header continued on the next line (obs-fold), since
 * it appends the continuation to the name ("Content-Length: 1" then " 6"
 * is a header "Content-Length6: 1"). No real header is named so. */
static int
extends(const char *name, const char *framing)
{
	size_t n = strlen(framing);

	return strncasecmp(name, framing, n) == 0 && name[n] != '\0';
}

void
gw_framing_header(struct gw_framing *f, const char *name, const char *value)
{
	if (value == NULL)
		value = "";
	if (!is_token(name) || extends(name, "Content-Length") ||
	    extends(name, "Transfer-Encoding")) {
		f->bad_name = 1;
		return;
	}
	if (strchr(value, '\r') != NULL)
		f->bad_value = 1;
	if (strcasecmp(name, "Content-Length") == 0) {
		if (f->content_length == NULL)
			f->content_length = value;
		else if (strcmp(f->content_length, value) != 0)
			f->lengths_differ = 1;
	} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
		f->transfer_encodings++;
		if (strcmp(value, "chunked") != 0)
			f->bad_encoding = 1;
	}
}

const char *
gw_framing_verdict(const struct gw_framing *f)
{
	if (f->bad_name)
		return "Invalid header field name.";
	if (f->bad_value)
		return "Invalid header field value.";
	if (f->content_length != NULL && f->transfer_encodings > 0)
		return "Request has both Content-Length and "
		       "Transfer-Encoding.";
	if (f->lengths_differ)
		return "Request has conflicting Content-Length headers.";
	if (f->bad_encoding || f->transfer_encodings > 1)
		return "Transfer-Encoding must be \"chunked\".";
	return NULL;
}
