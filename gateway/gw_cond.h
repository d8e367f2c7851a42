/*
 * gw_cond.h - conditional requests (CONTRACT §2, RFC 9110 §13): the ETag
 * of a component answer, and what a request's If-Match and If-None-Match
 * ask for.
 *
 * A component's entity tag is its version, quoted: `"7"`. It is a strong
 * validator (the version goes up on every change of the component), so
 * If-Match compares strongly (a weak tag `W/"7"` never matches) and
 * If-None-Match weakly (`W/"7"` matches `"7"`), as RFC 9110 §13.1 says.
 *
 * Field values are read as Django does (django.utils.http.parse_etags): a
 * value that is exactly `*` stands for any component; otherwise the value
 * is split at commas and every piece that is a quoted tag, optionally
 * W/-prefixed, counts; the other pieces are ignored. A tag that is not a
 * version of ours (`"abc"`, `"07"`) is a tag no component has.
 *
 * Pure functions over strings: no allocation, thread-safe.
 */
#ifndef GATEWAY_GW_COND_H
#define GATEWAY_GW_COND_H

#include <stdbool.h>
#include <stdint.h>

/* Room for an ETag value: two quotes, 19 digits, NUL. */
#define GW_ETAG_MAX 24

/* `"<version>"` into out. */
void gw_cond_etag(int64_t version, char out[GW_ETAG_MAX]);

/* What an If-Match value asks of a change (PUT, PATCH, DELETE and the
 * lifecycle calls). */
enum gw_if_match {
	/* No header, or `*`: any version of an existing component (an absent
	 * one is 404 all the same, as it would be without the header). */
	GW_IF_MATCH_ANY,
	/* Only *version (0 when the value names no version of ours, strongly:
	 * a version no component has, so the change answers 412, or 404 when
	 * there is no such component). */
	GW_IF_MATCH_VERSION,
	/* Two or more different versions: the RPC's compare-and-set carries
	 * one (the gateway answers 400). */
	GW_IF_MATCH_SEVERAL,
};

/* Reads an If-Match value (NULL: no header). */
enum gw_if_match gw_cond_if_match(const char *value, int64_t *version);

/* Whether an If-None-Match value (NULL: no header) matches a component
 * of this version: `*`, or a tag of the value equal to its ETag by the
 * weak comparison. A GET that matches answers 304. */
bool gw_cond_none_match(const char *value, int64_t version);

#endif
