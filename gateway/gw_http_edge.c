/*
 * gw_http_edge.c - the edge of gw_http's connections: what is decided
 * before, or beside, a request's life in gw_http.c.
 *
 * - A connection's state (struct gw_conn, MHD's socket context): the
 *   request in progress on it, so that an answer libmicrohttpd gives by
 *   itself is told apart and counted as that request's.
 * - The request line (MHD's URI log callback, before it percent-decodes
 *   the path): the request's state starts there, and the raw target is
 *   judged (gw_route_target_ok).
 * - The request head on the access handler's first call: the URL limits,
 *   the size of the request line and headers, and their framing
 *   (gw_framing), in one pass.
 * - Timeouts: --header-timeout is the daemon's default, so it applies to
 *   a connection until it has sent a whole request; gw_http_keep_alive
 *   then raises that connection's to --conn-timeout.
 * - Request ids, and gw_http_page: libmicrohttpd's own error pages
 *   replaced (through gw_pages) by the API's JSON.
 * - What every answer carries besides its body: the headers of
 *   gw_http_add_headers (request id, CORS, ...), and the answer to
 *   OPTIONS, which is headers only.
 * - X-Min-Revision read off a request (gw_http_min_revision), and the
 *   listening socket bound before the daemon starts (gw_http_listen).
 */
#include "gw_http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fs_errors.h"
#include "fs_util.h"
#include "gw_api.h"
#include "gw_cors.h"
#include "gw_framing.h"
#include "gw_metrics.h"

static uint8_t rid_base_hi[8];
static uint64_t rid_base_lo;

static void
request_id_base_init(void)
{
	uint8_t r[16];

	fs_uuid_new(r);
	memcpy(rid_base_hi, r, 8);
	memcpy(&rid_base_lo, r + 8, 8);
}

uint64_t
gw_http_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* A fresh request id in uuid form: a random per-process base plus a
 * counter, so minting one costs an atomic increment instead of a
 * getrandom() call per request. Unique within the process; the random base
 * keeps gateways apart. */
static void
new_request_id(uint8_t u[16])
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	static atomic_ullong counter;

	pthread_once(&once, request_id_base_init);
	uint64_t n =
	    atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
	uint64_t lo = rid_base_lo + n;
	memcpy(u, rid_base_hi, 8);
	for (int i = 0; i < 8; i++)
		u[8 + i] = (uint8_t) (lo >> (56 - 8 * i));
	u[6] = (uint8_t) ((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (uint8_t) ((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

/* The client's X-Request-Id when sane (1..128 printable ASCII), else a new
 * uuid: ids end up in logs and headers, so nothing else is echoed. */
void
gw_http_request_id(struct MHD_Connection *conn, char out[RID_MAX + 1])
{
	const char *v =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
	uint8_t u[16];
	size_t n = 0;

	if (v != NULL) {
		for (; v[n] && n <= RID_MAX; n++)
			if (v[n] < 0x20 || v[n] > 0x7e)
				break;
		if (n > 0 && n <= RID_MAX && v[n] == '\0') {
			memcpy(out, v, n + 1);
			return;
		}
	}
	new_request_id(u);
	fs_uuid_format(u, out);
}

/* A connection opens or closes: its gw_conn (see struct gw_conn). Without
 * one (out of memory) the connection is served all the same, and
 * gw_http_page leaves libmicrohttpd's answers as they are. */
void
gw_http_on_connection(void *cls, struct MHD_Connection *conn,
    void **socket_context, enum MHD_ConnectionNotificationCode code)
{
	struct gw_conn *gc;

	(void) conn;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		if ((gc = calloc(1, sizeof(*gc))) != NULL)
			gc->h = cls;
		*socket_context = gc;
	} else {
		free(*socket_context);
		*socket_context = NULL;
	}
}

/* The request line has been read: MHD's URI log callback, called before
 * the path is percent-decoded, so the raw target is judged here. The
 * request's state starts now rather than at the access handler's first
 * call, so that an answer libmicrohttpd gives in between (a malformed
 * header, a bad Content-Length) is counted and logged as this request's.
 * Returns it as the request's con_cls (gw_http.c's on_completed frees
 * it), or NULL when out of memory, which the access handler refuses. */
void *
gw_http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;
	struct gw_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->h = cls;
	r->conn = conn;
	r->start_us = gw_http_mono_us();
	atomic_init(&r->state, RS_READING);
	r->target_refused = !gw_route_target_ok(uri);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci != NULL && (r->gc = ci->socket_context) != NULL)
		r->gc->req = r;
	return r;
}

/* What the client sent, as it sent it near enough: the query (counted
 * once decoded) and the header block, with the headers' framing. */
struct head_scan {
	size_t url_bytes;
	unsigned params;
	size_t bytes;
	struct gw_framing framing;
};

/* MHD's callback for both: query parameters ("?k=v&": the key, '=', the
 * value and one separator) and headers ("Key: value\r\n"). */
static enum MHD_Result
scan_value(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct head_scan *hs = cls;
	size_t vlen = value != NULL ? strlen(value) : 0;

	if (kind == MHD_GET_ARGUMENT_KIND) {
		hs->url_bytes += strlen(key) + 2 + vlen;
		hs->params++;
	} else {
		hs->bytes += strlen(key) + 4 + vlen;
		gw_framing_header(&hs->framing, key, value);
	}
	return MHD_YES;
}

/* Checks the URL's size and query parameter count, the size of the
 * request line and headers as sent (near enough: the query is counted
 * once decoded, spacing as a client writes it), and how the headers frame
 * the body (gw_framing), in one pass over each. The URL limits are only
 * recorded in r: their answer waits for a later handler call
 * (keep-alive). Returns 431 when the headers are too large, 400 (detail in
 * *framing) when their framing is refused, both answered at once; else 0. */
int
gw_http_check_head(const gw_http *h, struct gw_req *r, const char *method,
    const char *url, const char **framing)
{
	struct head_scan hs = {strlen(url), 0, 0, {0}};

	(void) MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND,
	    scan_value, &hs);
	if (hs.url_bytes > h->cfg.max_url) {
		r->limited = true;
		r->limit = FS_REST_URI_TOO_LONG;
	} else if (hs.params > h->cfg.max_query_params) {
		r->limited = true;
		r->limit = FS_REST_TOO_MANY_PARAMS;
	}
	hs.bytes =
	    strlen(method) + 1 + hs.url_bytes + sizeof(" HTTP/1.1\r\n") - 1;
	gw_framing_init(&hs.framing);
	(void) MHD_get_connection_values(r->conn, MHD_HEADER_KIND, scan_value,
	    &hs);
	if (hs.bytes > h->cfg.max_header_bytes)
		return 431;
	*framing = gw_framing_verdict(&hs.framing);
	return *framing != NULL ? 400 : 0;
}

/* The request is complete: from now on the connection is a keep-alive
 * one, idle between requests for up to --conn-timeout, where until now
 * the shorter --header-timeout applied (the daemon's default, see
 * gw_http_start). Set once per connection; a no-op when both are equal. */
void
gw_http_keep_alive(struct gw_req *r)
{
	const union MHD_ConnectionInfo *ci;
	unsigned want = r->h->cfg.conn_timeout_s;

	ci = MHD_get_connection_info(r->conn,
	    MHD_CONNECTION_INFO_CONNECTION_TIMEOUT);
	if (ci != NULL && ci->connection_timeout != want)
		(void) MHD_set_connection_option(r->conn,
		    MHD_CONNECTION_OPTION_TIMEOUT, want);
}

/* --header-timeout, never longer than --conn-timeout (0 is "never" for
 * both; a header timeout of 0 leaves --conn-timeout in charge). */
unsigned
gw_http_header_timeout(const struct gw_http_config *cfg)
{
	if (cfg->header_timeout_s == 0)
		return cfg->conn_timeout_s;
	if (cfg->conn_timeout_s != 0 &&
	    cfg->conn_timeout_s < cfg->header_timeout_s)
		return cfg->conn_timeout_s;
	return cfg->header_timeout_s;
}

/* The status of the response queued on conn (ours or libmicrohttpd's), 0
 * when none was. */
int
gw_http_queued_status(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
	return ci != NULL ? (int) ci->http_status : 0;
}

/* Counts and logs an answer given before the access handler saw the
 * request: no route, method nor path is known. */
void
gw_http_count_page(gw_http *h, const char *rid, int status, size_t bytes,
    uint64_t dur)
{
	gw_metrics_begin(h->metrics);
	gw_metrics_end(h->metrics, GW_ROUTE_UNKNOWN, "-", status, dur);
	if (h->cfg.access_log)
		gw_http_access_line(rid[0] ? rid : "-", "-", "-", status,
		    bytes, dur, false);
}

void
gw_http_access_line(const char *rid, const char *method, const char *path,
    int status, size_t bytes, uint64_t dur_us, bool aborted)
{
	fs_log_field f[] = {FS_LOG_STR("method", method),
	    FS_LOG_STR("path", path), FS_LOG_INT("status", status),
	    FS_LOG_BYTES("bytes", bytes),
	    FS_LOG_MS("duration_ms", (double) dur_us / 1000.0),
	    FS_LOG_FLAG("aborted", aborted)};

	fs_log_event(FS_LOG_INFO, rid, "request", f, sizeof(f) / sizeof(f[0]));
}

/* The detail of an answer libmicrohttpd 0.9.75 gives by itself (400,
 * 413, 414, 431, 500 and 505 are all the statuses it has such a page
 * for): the REST table's answer of that status, but for 500, which is the
 * code table's. */
static const char *
page_detail(unsigned status)
{
	int e = fs_rest_of_http((int) status);

	if (status == 500)
		return fs_strerror(FS_INTERNAL);
	return fs_rest_detail(e >= 0 ? e : FS_REST_REFUSED);
}

struct MHD_Response *
gw_http_page(struct MHD_Connection *conn, unsigned status)
{
	const union MHD_ConnectionInfo *ci;
	struct gw_conn *gc;
	struct gw_req *r;
	struct gw_resp body = {0};
	struct MHD_Response *resp;
	char own[RID_MAX + 1] = "";
	char *rid = own;
	int doubled;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci == NULL || (gc = ci->socket_context) == NULL)
		return NULL;
	r = gc->req;
	if (r != NULL)
		rid = r->rid;
	if (rid[0] == '\0')
		gw_http_request_id(conn, rid);
	/* Errors found once the header block is complete and before the
	 * handler's first call (a Content-Length libmicrohttpd cannot parse,
	 * a Cookie header that fills its memory) are the ones 0.9.75 sends
	 * with the header block twice (its state machine builds the headers
	 * again after the error): a body would be read from the second copy,
	 * so they get none. */
	ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	doubled = r != NULL && !r->begun && ci != NULL && ci->header_size != 0;
	if (!doubled)
		gw_api_error(&body, (int) status, page_detail(status));
	resp = MHD_create_response_from_buffer(body.len, body.body,
	    body.body != NULL ? MHD_RESPMEM_MUST_FREE
	                      : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		gw_resp_fini(&body);
		return NULL;
	}
	if ((body.body != NULL &&
	        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	            "application/json") == MHD_NO) ||
	    MHD_add_response_header(resp, "X-Request-Id", rid) == MHD_NO) {
		MHD_destroy_response(resp);
		return NULL;
	}
	if (r != NULL) {
		r->status_sent = (int) status;
		r->bytes_sent = body.len;
	} else {
		/* A request line libmicrohttpd refused: no on_completed
		 * will come for it. */
		gw_http_count_page(gc->h, rid, (int) status, body.len, 0);
	}
	return resp;
}

/* One header, unless value is NULL. Returns 0, or -1 when out of memory. */
static int
add_header(struct MHD_Response *resp, const char *name, const char *value)
{
	if (value == NULL)
		return 0;
	return MHD_add_response_header(resp, name, value) == MHD_YES ? 0 : -1;
}

int
gw_http_add_headers(const struct gw_req *r, struct MHD_Response *resp,
    int status, bool has_body)
{
	/* A 304 holds the body it stands for, which is never sent, and
	 * sends no representation headers but its validator (RFC 9110
	 * §15.4.5). */
	const char *ctype = r->event_stream ? "text/event-stream"
	    : !has_body || status == 304    ? NULL
	    : r->text_plain ? "text/plain; version=0.0.4; charset=utf-8"
	                    : "application/json";
	char rev[24];

	if (r->resp.has_revision)
		snprintf(rev, sizeof(rev), "%" PRIu64, r->resp.revision);
	if (add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != 0 ||
	    add_header(resp, "X-Request-Id", r->rid) != 0 ||
	    add_header(resp, "X-Revision",
	        r->resp.has_revision ? rev : NULL) != 0 ||
	    add_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	        r->event_stream ? "no-cache" : NULL) != 0 ||
	    add_header(resp, MHD_HTTP_HEADER_LOCATION,
	        r->resp.location[0] ? r->resp.location : NULL) != 0 ||
	    add_header(resp, MHD_HTTP_HEADER_ETAG,
	        r->resp.etag[0] ? r->resp.etag : NULL) != 0 ||
	    add_header(resp, MHD_HTTP_HEADER_ALLOW, r->m.allow) != 0 ||
	    add_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
	        status == 401 ? "Bearer" : NULL) != 0 ||
	    add_header(resp, MHD_HTTP_HEADER_CONNECTION,
	        r->close_after ? "close" : NULL) != 0)
		return -1;
	if (r->h->cfg.cors == NULL)
		return 0;
	/* The answer depends on Origin as soon as CORS is on, also when it
	 * carries no CORS header: caches must keep the two apart. */
	if (add_header(resp, MHD_HTTP_HEADER_VARY, "Origin") != 0 ||
	    add_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN,
	        r->acao) != 0)
		return -1;
	if (r->acao == NULL)
		return 0;
	if (!r->preflight)
		return add_header(resp,
		    MHD_HTTP_HEADER_ACCESS_CONTROL_EXPOSE_HEADERS,
		    GW_CORS_EXPOSE_HEADERS);
	return add_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_METHODS,
	           r->m.allow) != 0 ||
	        add_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_HEADERS,
	            GW_CORS_ALLOW_HEADERS) != 0 ||
	        add_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_MAX_AGE,
	            GW_CORS_MAX_AGE) != 0
	    ? -1
	    : 0;
}

void
gw_http_options(struct gw_req *r)
{
	/* A preflight: the browser asks whether the request it is about to
	 * send may go. Only an allowed origin gets a yes; others get the
	 * plain answer, and the browser stops there. */
	r->preflight = r->acao != NULL &&
	    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	        "Access-Control-Request-Method") != NULL;
	gw_resp_fini(&r->resp);
	r->resp.status = r->preflight ? 204 : 200; /* headers only */
	atomic_store(&r->state, RS_READY);
}

int
gw_http_min_revision(struct gw_req *r, uint64_t *out)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    "X-Min-Revision");

	*out = 0;
	if (v == NULL || gw_api_parse_uint(v, out) == 0)
		return 0;
	gw_resp_fini(&r->resp);
	gw_api_error(&r->resp, 400,
	    "X-Min-Revision must be a revision: a non-negative integer.");
	return -1;
}

/* Binds the listening socket ourselves so that a failure comes back with
 * its errno, for a one-line reason. bind_addr may be a name ("localhost"):
 * the first address it resolves to is used. */
int
gw_http_listen(const char *bind_addr, unsigned port, int *ipv6,
    unsigned *bound_port, char *err, size_t errlen)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl;
	char portstr[16];
	int fd, one = 1, flags, rv;

	if (port > 65535) {
		snprintf(err, errlen, "invalid port %u", port);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	if ((rv = getaddrinfo(bind_addr, portstr, &hints, &ai)) != 0) {
		snprintf(err, errlen, "--bind %s: %s", bind_addr,
		    gai_strerror(rv));
		return -1;
	}
	*ipv6 = ai->ai_family == AF_INET6;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		freeaddrinfo(ai);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1024) ||
	    (flags = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "cannot listen on %s port %u: %s",
		    bind_addr, port, strerror(errno));
		close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *) &ss, &sl) == 0)
		*bound_port = ntohs(ss.ss_family == AF_INET6
		        ? ((struct sockaddr_in6 *) &ss)->sin6_port
		        : ((struct sockaddr_in *) &ss)->sin_port);
	else
		*bound_port = port;
	return fd;
}
