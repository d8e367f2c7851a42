/*
 * gw_routes.h - method + path -> what the gateway does with a request.
 *
 * Pure functions over strings: no I/O, no allocation, safe from any thread.
 * The routing table is CONTRACT §2: every path is accepted with and without
 * its trailing slash; a known path with a method it does not take is 405
 * with the route's Allow list; anything else is 404. HEAD is served as GET
 * wherever GET is, and every known path takes OPTIONS (answered by the
 * gateway itself: Allow, and CORS preflights).
 */
#ifndef GATEWAY_GW_ROUTES_H
#define GATEWAY_GW_ROUTES_H

#include <stddef.h>

#include "flows.pb-c.h"

/* One value per path shape; also the `route` label of the metrics. The
 * routes of one last segment (healthz..metrics, status..start) are
 * consecutive and named after it: gw_routes.c finds them by name. */
enum gw_route {
	GW_ROUTE_UNKNOWN = 0, /* no route matched: 404 */
	GW_ROUTE_FLOWS,       /* /api/flows/ */
	GW_ROUTE_FLOWS_ITEM,  /* /api/flows/<id>/ */
	GW_ROUTE_APPS,        /* /api/apps/ */
	GW_ROUTE_APPS_ITEM,   /* /api/apps/<id>/ */
	GW_ROUTE_STATUS,      /* /api/apps/<id>/status/ */
	GW_ROUTE_DEPLOY,      /* /api/apps/<id>/deploy/ */
	GW_ROUTE_STOP,        /* /api/apps/<id>/stop/ */
	GW_ROUTE_START,       /* /api/apps/<id>/start/ */
	GW_ROUTE_HEALTHZ,     /* /healthz */
	GW_ROUTE_READYZ,      /* /readyz */
	GW_ROUTE_METRICS,     /* /metrics */
	GW_ROUTE_OPENAPI,     /* /api/openapi.json */
	GW_ROUTE_WATCH,       /* /api/watch/ (Server-Sent Events) */
	GW_ROUTE_COUNT
};

/* What to do once the method is known to be allowed, and the RPC it
 * sends (METHOD_UNSPECIFIED: none, the gateway answers by itself).
 * /readyz asks HEALTH whether the backend answers; /metrics asks STATS,
 * which also publishes the backend's numbers. X(action, Method enum
 * suffix); NONE (0) is a failed match: see gw_match.http_status. */
/* clang-format off */
#define GW_ACTION_TABLE(X)                                                  \
	X(NONE, METHOD_UNSPECIFIED) X(LIST, LIST) X(CREATE, CREATE)         \
	X(GET, GET) X(UPDATE, UPDATE) X(DELETE, DELETE)                     \
	X(STATUS, GET_STATUS) X(DEPLOY, DEPLOY) X(START, START)             \
	X(STOP, STOP) X(HEALTHZ, METHOD_UNSPECIFIED) X(READYZ, HEALTH)      \
	X(METRICS, STATS) X(OPENAPI, METHOD_UNSPECIFIED)                    \
	X(OPTIONS, METHOD_UNSPECIFIED) X(WATCH, WATCH)
/* clang-format on */

enum gw_action {
#define GW_ACT_ENUM(a, rpc) GW_ACT_##a,
	GW_ACTION_TABLE(GW_ACT_ENUM)
#undef GW_ACT_ENUM
	    GW_ACT_COUNT
};

struct gw_match {
	enum gw_route route;
	enum gw_action action;
	/* 0 when the request goes on; else 404 (unknown path) or 405. */
	int http_status;
	/* For 405 and OPTIONS: the route's methods, for the Allow header.
	 * Static. */
	const char *allow;
	/* The RPC for action (HEALTH for readyz and metrics, which report
	 * whether the backend answers; METHOD_UNSPECIFIED for healthz) and the
	 * kind it asks for (KIND_ANY for status and lifecycle). */
	Flowsvc__Method rpc;
	Flowsvc__Kind kind;
	/* The <id> segment as it appears in path (not NUL-terminated; borrowed
	 * from path). NULL/0 on routes without an id. */
	const char *id;
	size_t id_len;
};

/* Matches method ("GET", ... as MHD passes it; HEAD is served as GET,
 * OPTIONS is GW_ACT_OPTIONS on every known path) and path (already
 * percent-decoded, no query string) into *m. Always fills *m completely;
 * m->id borrows from path. */
void gw_route_match(const char *method, const char *path, struct gw_match *m);

/* Whether a request target as the client sent it (path and query, before
 * percent-decoding) may be routed at all: 0 when its path (up to the first
 * '?') holds an encoded slash ("%2F", any case) or a control character
 * (0x00-0x1F, 0x7F), raw or encoded ("%00", "%0a", ...). Decoded, an
 * encoded NUL cuts the path short ("/api/apps/<id>/deploy%00/../x" would
 * deploy), an encoded slash adds a segment the client did not send, and
 * other controls would reach the logs; no route has any of them in a
 * legitimate path, so such targets answer 404. NULL is 1. */
int gw_route_target_ok(const char *raw_target);

/* The HTTP methods a route may have an action for, in the order of its
 * Allow list (Django REST Framework's). HEAD is served as GET and OPTIONS
 * by the gateway: neither has a column. */
enum gw_http_method {
	GW_HTTP_GET,
	GW_HTTP_POST,
	GW_HTTP_PUT,
	GW_HTTP_PATCH,
	GW_HTTP_DELETE,
	GW_HTTP_COUNT
};

/* What the table says about one route; all strings static. */
struct gw_route_info {
	const char *name;   /* metrics label: "flows", "flows_item", ... */
	const char *path;   /* as gateway/openapi.json spells it, trailing
			    * slash and all: "/api/flows/{id}/"; NULL for
			    * GW_ROUTE_UNKNOWN */
	const char *allow;  /* the methods it takes ("GET, POST, HEAD,
			    * OPTIONS"): the Allow header of a 405 and of
			    * OPTIONS; its actions' methods, then HEAD where
			    * GET is, then OPTIONS */
	Flowsvc__Kind kind; /* what its RPC asks for (KIND_ANY: any) */
	/* What it does by HTTP method; GW_ACT_NONE: 405. */
	enum gw_action on[GW_HTTP_COUNT];
};

/* The RPC of an action (GW_ACTION_TABLE; fs_methods.h has its
 * messages). */
Flowsvc__Method gw_action_rpc(enum gw_action a);

/* The table entry of r; r out of range is GW_ROUTE_UNKNOWN's. */
const struct gw_route_info *gw_route_info(enum gw_route r);

/* Metrics label of a route: "flows", "flows_item", ..., "unknown". Static. */
const char *gw_route_name(enum gw_route r);

#endif
