/*
 * gw_framing.h - which request headers the gateway accepts for framing a
 * body: the rules that keep it and any proxy in front of it from reading
 * one byte stream as different requests (request smuggling).
 *
 * libmicrohttpd 0.9.75 frames a body from the first Transfer-Encoding
 * header if there is one (chunked when its value is "chunked" in any case,
 * else to the end of the connection), else from the first Content-Length;
 * it keeps every header line, duplicates included, and takes everything
 * before the colon as the name ("Content-Length : 5" is a header named
 * "Content-Length ", which frames nothing). A proxy may decide otherwise
 * in each of these cases, so the gateway refuses them all (RFC 9112 §6.3,
 * §5.1):
 *   - Content-Length together with Transfer-Encoding;
 *   - two Content-Length headers whose values differ;
 *   - a Transfer-Encoding other than exactly "chunked" (one header, that
 *     value, lower case: no list, no other coding, no spaces around it);
 *   - a header name that is not an RFC 9110 token (whitespace before the
 *     colon, control characters, separators).
 * A value holding a bare CR is refused too: some parsers end a line there.
 * libmicrohttpd appends a header's continuation line (obs-fold) to its
 * name, so a fold is never seen as such; the folds that could change the
 * framing show as a name that is not a token, or one that starts with
 * Content-Length or Transfer-Encoding and goes on, both refused.
 *
 * Pure functions over strings: no I/O, no allocation, any thread.
 */
#ifndef GATEWAY_GW_FRAMING_H
#define GATEWAY_GW_FRAMING_H

/* What the headers seen so far say. Zero it (or gw_framing_init), feed
 * every request header in order with gw_framing_header, then ask
 * gw_framing_verdict. The strings are borrowed for the duration. */
struct gw_framing {
	const char *content_length; /* the first Content-Length value */
	int lengths_differ;         /* a later one differs from it */
	int transfer_encodings;     /* Transfer-Encoding headers seen */
	int bad_encoding;           /* one that is not exactly "chunked" */
	int bad_name;               /* a name that is not a token */
	int bad_value;              /* a value with a bare CR */
};

void gw_framing_init(struct gw_framing *f);

/* One request header as libmicrohttpd keeps it (name as sent, value
 * without leading whitespace; NULL is empty). */
void
gw_framing_header(struct gw_framing *f, const char *name, const char *value);

/* NULL when the request may go on, else the detail of its 400 (a static
 * string); the connection is then closed, since where the request ends
 * cannot be known. */
const char *gw_framing_verdict(const struct gw_framing *f);

#endif
