/*
 * gw_auth.h - bearer tokens: the tokens file, the lookup of a request's
 * Authorization header, and the live table that SIGHUP replaces
 * (CONTRACT §5).
 *
 * The tokens file has one token a line:
 *
 *   # comment
 *   TOKEN GROUP[,GROUP...]     the token acts for these groups only
 *   TOKEN *                    the token acts for every group
 *
 * Fields are separated by spaces or tabs; blank lines and lines whose
 * first non-blank character is '#' are ignored; CRLF line ends are
 * accepted. A token is 1..GW_TOKEN_MAX characters of RFC 6750's b64token
 * (letters, digits, "-._~+/", then optional trailing "="). A group follows
 * the component group rule: 1..100 characters of [A-Za-z0-9_.-]. Anything
 * else (a missing or third field, an empty or doubled group, "*" mixed
 * with groups, a token listed twice) is an error naming its line.
 *
 * A parsed table (gw_tokens) is immutable. Lookups hash the presented
 * token with SipHash-2-4 under a key drawn at random per table, so neither
 * the bucket a token falls in nor the probe count says anything about the
 * stored tokens; the final comparison is constant-time. A lookup neither
 * allocates nor locks.
 *
 * The live table (gw_auth) is a pointer that a reload swaps. A request
 * takes a reference with gw_auth_acquire (no allocation, no lock: two
 * atomic adds on a shared counter and one on the table) and keeps the
 * table it started with until gw_tokens_release; the swap waits only for
 * acquirers caught between reading the pointer and taking their
 * reference, which is a few instructions. The last release frees a table.
 */
#ifndef GATEWAY_GW_AUTH_H
#define GATEWAY_GW_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "flows.pb-c.h"

#define GW_TOKEN_MAX 256  /* longest token, in characters */
#define GW_TOKEN_SHORT 16 /* shorter tokens load, with a warning */
#define GW_TOKENS_FILE_MAX (16u << 20) /* bytes */

typedef struct gw_tokens gw_tokens;

/* What a token grants. caller is what goes into the RPC envelope: NULL for
 * a "*" token (every group, as for a trusted caller), else a Caller with
 * restricted = true and the token's groups. Borrowed from the table. */
struct gw_grant {
	const Flowsvc__Caller *caller;
};

/* Parses the text of a tokens file (len bytes; NULs are an error). On
 * success returns 0 and *out, which the caller releases with
 * gw_tokens_release. Otherwise returns -1 and writes a one-line reason into
 * err, starting with "line N: " when a line is at fault. */
int gw_tokens_parse(const char *text, size_t len, gw_tokens **out, char *err,
    size_t errlen);

/* Reads path (at most GW_TOKENS_FILE_MAX bytes) and parses it, as above;
 * a reason that is not about a line names the failing system call. */
int
gw_tokens_load(const char *path, gw_tokens **out, char *err, size_t errlen);

/* Number of tokens, and of those shorter than GW_TOKEN_SHORT. */
size_t gw_tokens_count(const gw_tokens *t);
size_t gw_tokens_short(const gw_tokens *t);

/* The grant of token (len bytes, need not be NUL-terminated), or NULL when
 * the table does not hold it. */
const struct gw_grant *
gw_tokens_lookup(const gw_tokens *t, const char *token, size_t len);

enum gw_auth_result {
	GW_AUTH_OK,      /* *grant is set */
	GW_AUTH_MISSING, /* no Authorization header, or another scheme */
	GW_AUTH_INVALID  /* "Bearer" without a known token after it */
};

/* Checks the value of an Authorization header (NULL when absent) against
 * t. The scheme is matched case-insensitively and may be followed by any
 * number of spaces; surrounding blanks are ignored. */
enum gw_auth_result gw_tokens_check(const gw_tokens *t,
    const char *authorization, const struct gw_grant **grant);

/* Drops a reference taken by gw_tokens_parse/load or gw_auth_acquire; the
 * last one frees the table. NULL is ignored. Any thread. */
void gw_tokens_release(const gw_tokens *t);

/* ---- the live table ------------------------------------------------------ */

typedef struct gw_auth gw_auth;

/* A live table starting with t (whose reference it takes over). Returns
 * NULL when out of memory (t is then released). */
gw_auth *gw_auth_new(gw_tokens *t);

/* The current table, with a reference the caller drops with
 * gw_tokens_release. Any thread; never NULL. */
const gw_tokens *gw_auth_acquire(gw_auth *a);

/* Makes t (whose reference it takes over) the current table. Requests that
 * acquired the old one keep it; the old table is freed when the last of
 * them releases it. One swapping thread at a time. */
void gw_auth_swap(gw_auth *a, gw_tokens *t);

/* Drops the current table and frees a. References still held stay valid
 * until released. */
void gw_auth_free(gw_auth *a);

#endif
