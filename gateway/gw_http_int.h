/*
 * gw_http_int.h - what gw_http.c and gw_http_edge.c share: the server's,
 * the connection's and the request's state. Not part of gw_http's
 * interface; nothing else includes it.
 *
 * gw_http.c runs a request's life (the access handler, the body, the RPC
 * and its completion, the response) and the server's; gw_http_edge.c
 * what is decided at the connection's edge, before or beside that: the
 * connection's state, the raw request target, the request head's size
 * and framing, timeouts, request ids, and the answers libmicrohttpd gives
 * by itself.
 */
#ifndef GATEWAY_GW_HTTP_INT_H
#define GATEWAY_GW_HTTP_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "fs_log.h"
#include "gw_api.h"
#include "gw_auth.h"
#include "gw_http.h"
#include "gw_routes.h"
#include "gw_worker.h"

#define RID_MAX 128
enum req_state { RS_READING, RS_WAITING, RS_READY, RS_SENT };

/* Per connection (MHD's socket context, see on_connection): the request
 * in progress on it, so that an answer libmicrohttpd writes itself (see
 * gw_http_page) is told apart and counted as that request's. */
struct gw_conn {
	gw_http *h;
	struct gw_req *req; /* from its request line to its completion */
};

struct gw_req {
	gw_http *h;
	struct MHD_Connection *conn;
	struct gw_conn *gc; /* NULL when it could not be allocated */
	/* Made at the request line (on_uri); the access handler has seen it
	 * once begun is set. Until then only h, conn, gc, start_us and
	 * target_refused are set, and rid once gw_http_page fills it. */
	bool begun;
	bool target_refused; /* the raw target fails gw_route_target_ok */
	bool close_after;    /* answer with Connection: close */
	const char *method;  /* MHD's; valid until the request completes */
	const char *url;
	struct gw_match m;
	char *id; /* m.id, NUL-terminated; NULL when the route has none */
	char rid[RID_MAX + 1];
	uint64_t start_us;
	char *body;
	size_t body_len;
	size_t body_cap;
	size_t body_seen; /* bytes received, buffered or not */
	bool too_big;
	/* A limit the request line broke (see req_begin): answered with this
	 * error once the upload is over. */
	bool limited;
	enum fs_rest_error limit;
	_Atomic int state;
	struct gw_resp resp;
	bool text_plain;    /* /metrics */
	bool event_stream;  /* a watch's 200 (and its HEAD): SSE */
	struct gw_sse *sse; /* a watch's stream (gw_sse.h), or NULL */
	int status_sent;    /* 0 until a response is queued */
	size_t bytes_sent;  /* its body's length, for the access log */
	/* Access control (only with tokens, only for /api/): the table the
	 * request started with, held until it completes, and the outcome of
	 * its Authorization header. grant borrows from tokens. */
	const gw_tokens *tokens;
	enum gw_auth_result auth;
	const struct gw_grant *grant;
	const char *ctype; /* Content-Type, MHD's, for the body worker */
	/* Conditional requests (gw_cond.h): If-Match of a change, MHD's;
	 * and what the answer depends on (If-None-Match, null keys). */
	const char *if_match;
	struct gw_api_ctx ctx;
	/* CORS (gw_cors.h): the Access-Control-Allow-Origin of the
	 * request's Origin (NULL: none, not allowed, or CORS off), and
	 * whether it is a preflight. */
	const char *acao;
	bool preflight;
	gw_job job;   /* on the worker's queue (body, then reply) */
	int rpc_code; /* a large reply waiting for the worker */
	Flowsvc__Reply *rpc_reply;
	struct gw_list *list; /* a list request's paging (gw_list.h) */
	gw_backend *be;       /* where its call went (gw_backends.h) */
};

struct gw_http {
	struct MHD_Daemon *daemon;
	int listen_fd;
	unsigned port;
	struct gw_http_config cfg;
	gw_backends *backends;
	gw_metrics *metrics;
	/* Shutdown gate (see gw_http_drain): seq_cst on purpose, a handler's
	 * increment of `starting` and the drain's store of `closing` must not
	 * both miss each other. */
	atomic_bool closing;
	atomic_int starting;     /* handlers between the gate and the send */
	atomic_int calls;        /* RPCs started and not yet completed */
	fs_log_limit warn_limit; /* backend failure lines */
	fs_log_limit mhd_limit;  /* libmicrohttpd's lines */
	gw_worker *bodies;       /* parses large bodies; NULL: none (inline) */
	struct gw_watch *watch;  /* the SSE clients' hub (gw_watch.h) */
};

/* Monotonic clock, microseconds. */
uint64_t gw_http_mono_us(void);

/* The client's X-Request-Id when sane (1..128 printable ASCII), else a
 * new uuid. */
void gw_http_request_id(struct MHD_Connection *conn, char out[RID_MAX + 1]);

/* MHD_OPTION_URI_LOG_CALLBACK (cls: the gw_http): the request line is
 * read; makes the request's gw_req, which becomes its con_cls. */
void *gw_http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn);

/* MHD_OPTION_NOTIFY_CONNECTION (cls: the gw_http): the gw_conn. */
void gw_http_on_connection(void *cls, struct MHD_Connection *conn,
    void **socket_context, enum MHD_ConnectionNotificationCode code);

/* The request head's checks on the access handler's first call; see
 * gw_http_edge.c. Returns 0, 431 or 400 (detail in *framing). */
int gw_http_check_head(const gw_http *h, struct gw_req *r, const char *method,
    const char *url, const char **framing);

/* The headers of r's answer (status, with a body or not) on resp:
 * Content-Type (with a body), X-Request-Id, Location, ETag, Allow (405
 * and OPTIONS), WWW-Authenticate (401), Connection: close, and the CORS
 * headers. Returns 0, or -1 when out of memory. */
int gw_http_add_headers(const struct gw_req *r, struct MHD_Response *resp,
    int status, bool has_body);

/* OPTIONS on a known path: 200 with Allow, or 204 for a CORS preflight
 * from an allowed origin. r is READY. */
void gw_http_options(struct gw_req *r);

/* The request is complete: the connection gets --conn-timeout. */
void gw_http_keep_alive(struct gw_req *r);

/* The daemon's connection timeout: --header-timeout, capped. */
unsigned gw_http_header_timeout(const struct gw_http_config *cfg);

/* The status of the response queued on conn, 0 when none was. */
int gw_http_queued_status(struct MHD_Connection *conn);

/* The access line of one request (--access-log): fs_log event "request"
 * with method, path, status, bytes, duration_ms and, for a request whose
 * response did not go out whole, aborted. */
void gw_http_access_line(const char *rid, const char *method, const char *path,
    int status, size_t bytes, uint64_t dur_us, bool aborted);

/* Counts (and logs, with --access-log) an answer given before the access
 * handler saw the request. */
void gw_http_count_page(gw_http *h, const char *rid, int status, size_t bytes,
    uint64_t dur_us);

/* X-Min-Revision (CONTRACT §8): the lowest revision a read may answer
 * from, on top of the gateway's own. Returns 0 (*out 0 without it), or -1
 * with the 400 in r->resp. */
int gw_http_min_revision(struct gw_req *r, uint64_t *out);

/* Binds and listens on bind_addr (a name resolves to its first address)
 * and port (0: any), non-blocking: the fd, *ipv6 and *bound_port, or -1
 * with a one-line reason in err. */
int gw_http_listen(const char *bind_addr, unsigned port, int *ipv6,
    unsigned *bound_port, char *err, size_t errlen);

#endif
