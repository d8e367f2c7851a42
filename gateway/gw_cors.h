/*
 * gw_cors.h - Cross-Origin Resource Sharing: which web origins a browser
 * may call the API from (flow-gateway --cors-origin ORIGIN, repeatable),
 * and the headers that tell it so.
 *
 * Off unless an origin is given. An origin is `*` (any) or
 * SCHEME://HOST[:PORT] as a browser sends it in `Origin` (no path, no
 * trailing slash), compared without regard to case. While CORS is on:
 * - a request whose Origin is allowed gets Access-Control-Allow-Origin
 *   (its own origin, or `*` when `*` was given) and
 *   Access-Control-Expose-Headers on its answer, whatever the answer;
 * - an OPTIONS request with an allowed Origin and an
 *   Access-Control-Request-Method is a preflight, answered 204 with
 *   Access-Control-Allow-Methods (the path's Allow list),
 *   Access-Control-Allow-Headers and Access-Control-Max-Age;
 * - a request from another origin (or with no Origin) gets no CORS
 *   header: the browser then keeps the answer from the page;
 * - every answer carries Vary: Origin, since it depends on it.
 * No Access-Control-Allow-Credentials: the API takes bearer tokens in
 * Authorization, which a page sends itself, never cookies.
 */
#ifndef GATEWAY_GW_CORS_H
#define GATEWAY_GW_CORS_H

#include <stddef.h>

/* The request headers a page may send (a preflight's answer). */
#define GW_CORS_ALLOW_HEADERS                                                 \
	"Authorization, Content-Type, If-Match, If-None-Match, "              \
	"X-Request-Id, "                                                      \
	"X-Min-Revision"
/* The answer's headers a page may read besides the CORS-safelisted
 * ones (Content-Type, ...). */
#define GW_CORS_EXPOSE_HEADERS                                                \
	"ETag, Location, X-Request-Id, X-Total-Count, X-Revision, Link, "     \
	"Allow, WWW-Authenticate"
/* Seconds a browser may keep a preflight's answer (Chromium's cap). */
#define GW_CORS_MAX_AGE "7200"

/* The allowed origins; read-only once made, so any thread may read it. */
typedef struct gw_cors gw_cors;

/* Checks an origin as --cors-origin takes it. Returns 0, or -1 with the
 * reason in err. */
int gw_cors_check(const char *origin, char *err, size_t errlen);

/* The allowed origins (n of them, each as gw_cors_check accepts; copied).
 * Returns 0 and *out (NULL when n is 0: CORS off), or -1 with the reason
 * in err. Free with gw_cors_free. */
int gw_cors_new(gw_cors **out, const char *const *origins, int n, char *err,
    size_t errlen);
void gw_cors_free(gw_cors *c);

/* The Access-Control-Allow-Origin of a request whose Origin header is
 * origin (NULL: none): "*", origin itself, or NULL when not allowed (or c
 * is NULL). Borrows from c or origin. */
const char *gw_cors_allow(const gw_cors *c, const char *origin);

#endif
