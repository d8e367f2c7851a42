/*
 * gw_http.h - the gateway's HTTP server (libmicrohttpd).
 *
 * A thread pool of MHD event loops; no MHD thread ever waits for the
 * backend. Per request: the access handler reads the body (up to
 * max_body), builds the RPC request (gw_api), suspends the connection and
 * sends the call with fs_client_call_async; the completion, on an nng
 * thread, renders the answer into the request and resumes the connection;
 * the next handler call queues the response. Responses are never queued on
 * the first handler call (that would make MHD 0.9.75 drop keep-alive),
 * except where closing the connection is the point: 413 for a declared
 * Content-Length over the limit, 431, and 400 for refused framing.
 *
 * Limits, checked on the first handler call and answered once the upload
 * is over (no body is kept): the URL (path plus query, after MHD's
 * percent-decoding) over max_url is 414, more than max_query_params query
 * parameters is 400, and a request that would put more than max_inflight
 * calls in flight to the backend is 503 without calling it. A request line
 * and headers over max_header_bytes answer 431 at once and the connection
 * closes; over twice that they never reach the handler, and MHD answers
 * them itself (see gw_http_page).
 *
 * Framing and targets (gw_framing, gw_route_target_ok): headers that could
 * frame the body in more than one way answer 400 at once and close the
 * connection; a raw target with an encoded slash or a control character
 * in its path answers 404 (decided on the target as sent, in MHD's URI
 * log callback, before MHD percent-decodes it).
 *
 * Connections: at most max_conns, max_conns_per_ip from one address. One
 * that has not sent a whole request yet is closed after header_timeout_s
 * idle; once it has, after conn_timeout_s idle between requests.
 *
 * OPTIONS is answered by the gateway on every known path (200 and Allow),
 * without a token; with cfg.cors, a preflight from an allowed origin is
 * 204 with the CORS headers, which every answer to such an origin also
 * carries (gw_cors.h).
 *
 * With tokens (cfg.auth), the first handler call of an /api/ request takes
 * a reference to the current token table and checks its Authorization
 * header; a request without a valid token keeps no body and answers 401
 * (with WWW-Authenticate: Bearer) once the upload is over, without calling
 * the backend. An accepted token's groups go into the RPC envelope.
 */
#ifndef GATEWAY_GW_HTTP_H
#define GATEWAY_GW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs_rpc.h"
#include "gw_auth.h"
#include "gw_backends.h"
#include "gw_cors.h"
#include "gw_metrics.h"
#include "gw_tls.h"
#include "gw_watch.h"

struct gw_http_config {
	const char *bind;          /* address or host name to listen on */
	unsigned port;             /* 0: any free port (see gw_http_port) */
	size_t max_body;           /* bytes; larger bodies answer 413 */
	size_t max_url;            /* path + query, decoded; longer: 414 */
	unsigned max_query_params; /* more query parameters: 400 */
	size_t max_header_bytes;   /* request line + headers; more: 431.
				  * MHD's per-connection memory is twice
				  * this, and it answers 431/414 itself
				  * beyond that */
	unsigned max_inflight;     /* backend calls in flight; more: 503 */
	uint32_t rpc_timeout_ms;   /* per backend call */
	unsigned conn_timeout_s;   /* idle keep-alive connections close */
	unsigned header_timeout_s; /* idle connections that have not sent a
				    * whole request yet close (at most
				    * conn_timeout_s; 0: conn_timeout_s) */
	unsigned max_conns;        /* concurrent connections */
	unsigned max_conns_per_ip; /* from one client address; 0: no limit;
				    * beyond it connections close unanswered */
	unsigned threads;          /* MHD thread pool size */
	bool access_log;           /* one INFO line per request */
	gw_auth *auth;             /* tokens; NULL: the API is open. Borrowed:
				  * it must outlive the server. */
	const gw_cors *cors;       /* --cors-origin; NULL: no CORS. Borrowed,
				    * as auth */
	gw_tls *tls;               /* HTTPS only, with these credentials
				  * (gw_tls_reload swaps them under the
				  * running server); NULL: plain HTTP only.
				  * Borrowed, as auth. */
	struct gw_watch_config watch; /* GET /api/watch/ (gw_watch.h) */
};

typedef struct gw_http gw_http;

/* Binds, listens and starts serving with backends and metrics (both
 * borrowed: they must outlive the server, and backends may be closed only
 * after gw_http_drain). Returns 0, or -1 with a one-line reason in err
 * (e.g. "cannot bind 127.0.0.1:8080: Address already in use"). *out
 * belongs to the caller: gw_http_drain, then gw_http_stop. */
int gw_http_start(gw_http **out, const struct gw_http_config *cfg,
    gw_backends *backends, gw_metrics *metrics, char *err, size_t errlen);

/* The port actually listened on. */
unsigned gw_http_port(const gw_http *h);

/* First half of shutdown: answers requests that arrive from now on with
 * 503 where they would call the backend (the listening socket stays open
 * until gw_http_stop), ends every watch stream and stops the gateway's
 * own watch (gw_watch_close: about a second at most), and waits (at most
 * the RPC timeout plus a little) for the calls in flight to complete.
 * Afterwards no new call is started on the backends, so the caller may
 * gw_backends_close them (which also completes any straggler). */
void gw_http_drain(gw_http *h);

/* Second half, after gw_http_drain and fs_client_close: lets the last
 * responses go out (briefly), stops the MHD threads, closes every
 * connection and frees h (and its watch hub). */
void gw_http_stop(gw_http *h);

struct MHD_Connection;
struct MHD_Response;

/* libmicrohttpd is about to send one of its own error pages (HTML, no
 * X-Request-Id) with status on conn, a connection of a gw_http server:
 * returns the answer in the API's shape to send instead ({"detail": ...},
 * X-Request-Id; with no body for the malformed Content-Length answers,
 * which 0.9.75 sends with its header block twice), and counts it as the
 * request's. NULL when it cannot (not our connection, out of memory): the
 * page goes out as it is. The caller owns the response. Called on the
 * connection's thread, by gw_pages (see gw_pages.c). */
struct MHD_Response *
gw_http_page(struct MHD_Connection *conn, unsigned status);

#endif
