/*
 * gw_routes.c - the routing table of CONTRACT §2.
 */
#include "gw_routes.h"

#include <string.h>

#define GW_MAX_SEGS 4

struct seg {
	const char *p;
	size_t n;
};

static int split_path(const char *path, struct seg *segs);
static int seg_is(const struct seg *s, const char *lit);

/* The REST surface in one place: gw_route_match routes and answers 405
 * with these Allow lists, the metrics use the names, and test_openapi
 * holds gateway/openapi.json to exactly these paths and methods. Per-
 * component operations live under /api/apps/ only, but take any component
 * id (CONTRACT §2). */
/* One row: the route, its metrics name, its path as openapi.json spells
 * it, its Allow list, the kind its RPC asks for, then its action by HTTP
 * method in enum gw_http_method's order (GET, POST, PUT, PATCH, DELETE;
 * those left out are GW_ACT_NONE). PATCH is PUT: both are partial
 * updates (CONTRACT §2). */
/* clang-format off */
#define COLL_ALLOW "GET, POST, HEAD, OPTIONS"
#define ITEM_ALLOW "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
#define GET_ALLOW "GET, HEAD, OPTIONS"
#define POST_ALLOW "POST, OPTIONS"
#define ROUTE(r, name, path, allow, kind, ...)                               \
	[GW_ROUTE_##r] = {name, path, allow, FLOWSVC__KIND__##kind,          \
	    {__VA_ARGS__}}
static const struct gw_route_info routes[GW_ROUTE_COUNT] = {
	ROUTE(UNKNOWN, "unknown", NULL, NULL, KIND_ANY, GW_ACT_NONE),
	ROUTE(FLOWS, "flows", "/api/flows/", COLL_ALLOW, FLOW,
	    GW_ACT_LIST, GW_ACT_CREATE),
	ROUTE(FLOWS_ITEM, "flows_item", "/api/flows/{id}/", ITEM_ALLOW,
	    FLOW, GW_ACT_GET, GW_ACT_NONE, GW_ACT_UPDATE, GW_ACT_UPDATE,
	    GW_ACT_DELETE),
	ROUTE(APPS, "apps", "/api/apps/", COLL_ALLOW, APP,
	    GW_ACT_LIST, GW_ACT_CREATE),
	ROUTE(APPS_ITEM, "apps_item", "/api/apps/{id}/", ITEM_ALLOW,
	    APP, GW_ACT_GET, GW_ACT_NONE, GW_ACT_UPDATE, GW_ACT_UPDATE,
	    GW_ACT_DELETE),
	ROUTE(STATUS, "status", "/api/apps/{id}/status/", GET_ALLOW, KIND_ANY,
	    GW_ACT_STATUS),
	ROUTE(DEPLOY, "deploy", "/api/apps/{id}/deploy/", POST_ALLOW, KIND_ANY,
	    GW_ACT_NONE, GW_ACT_DEPLOY),
	ROUTE(STOP, "stop", "/api/apps/{id}/stop/", POST_ALLOW, KIND_ANY,
	    GW_ACT_NONE, GW_ACT_STOP),
	ROUTE(START, "start", "/api/apps/{id}/start/", POST_ALLOW, KIND_ANY,
	    GW_ACT_NONE, GW_ACT_START),
	ROUTE(HEALTHZ, "healthz", "/healthz", GET_ALLOW, KIND_ANY,
	    GW_ACT_HEALTHZ),
	ROUTE(READYZ, "readyz", "/readyz", GET_ALLOW, KIND_ANY, GW_ACT_READYZ),
	ROUTE(METRICS, "metrics", "/metrics", GET_ALLOW, KIND_ANY,
	    GW_ACT_METRICS),
	ROUTE(OPENAPI, "openapi", "/api/openapi.json", GET_ALLOW, KIND_ANY,
	    GW_ACT_OPENAPI),
	ROUTE(WATCH, "watch", "/api/watch/", GET_ALLOW, KIND_ANY,
	    GW_ACT_WATCH),
};
/* clang-format on */
#undef ROUTE
#undef COLL_ALLOW
#undef ITEM_ALLOW
#undef GET_ALLOW
#undef POST_ALLOW

static const Flowsvc__Method action_rpcs[GW_ACT_COUNT] = {
#define GW_ACT_RPC(a, rpc) [GW_ACT_##a] = FLOWSVC__METHOD__##rpc,
    GW_ACTION_TABLE(GW_ACT_RPC)
#undef GW_ACT_RPC
};

Flowsvc__Method
gw_action_rpc(enum gw_action a)
{
	if ((unsigned) a >= GW_ACT_COUNT)
		return FLOWSVC__METHOD__METHOD_UNSPECIFIED;
	return action_rpcs[a];
}

const struct gw_route_info *
gw_route_info(enum gw_route r)
{
	if ((unsigned) r >= GW_ROUTE_COUNT)
		r = GW_ROUTE_UNKNOWN;
	return &routes[r];
}

const char *
gw_route_name(enum gw_route r)
{
	return gw_route_info(r)->name;
}

/* Splits "/a/b/c" or "/a/b/c/" into segments. Returns their number, or -1
 * for a path that cannot match any route: not absolute, an empty segment
 * ("//"), or more than GW_MAX_SEGS segments. */
static int
split_path(const char *path, struct seg *segs)
{
	size_t len = strlen(path);
	int n = 0;

	if (len < 2 || path[0] != '/')
		return -1;
	if (path[len - 1] == '/')
		len--; /* one trailing slash is optional everywhere */
	for (size_t i = 1; i <= len;) {
		const char *end = memchr(path + i, '/', len - i);
		size_t n_seg = end ? (size_t) (end - (path + i)) : len - i;

		if (n_seg == 0 || n == GW_MAX_SEGS)
			return -1;
		segs[n].p = path + i;
		segs[n].n = n_seg;
		n++;
		i += n_seg + 1;
	}
	return n;
}

static int
seg_is(const struct seg *s, const char *lit)
{
	size_t n = strlen(lit);

	return s->n == n && memcmp(s->p, lit, n) == 0;
}

/* The route in [first, last] whose name is the segment s (the routes of
 * one segment are named after it), else GW_ROUTE_UNKNOWN. */
static enum gw_route
route_named(const struct seg *s, enum gw_route first, enum gw_route last)
{
	for (int r = (int) first; r <= (int) last; r++)
		if (seg_is(s, routes[r].name))
			return (enum gw_route) r;
	return GW_ROUTE_UNKNOWN;
}

/* Which route a path is, before looking at the method. */
static enum gw_route
path_route(const char *path, struct gw_match *m)
{
	struct seg s[GW_MAX_SEGS];
	int n = split_path(path, s);
	enum gw_route r;
	int apps;

	if (n == 1)
		return route_named(&s[0], GW_ROUTE_HEALTHZ, GW_ROUTE_METRICS);
	if (n < 2 || !seg_is(&s[0], "api"))
		return GW_ROUTE_UNKNOWN;
	if (n == 2 && seg_is(&s[1], "openapi.json"))
		return GW_ROUTE_OPENAPI;
	if (n == 2 && seg_is(&s[1], "watch"))
		return GW_ROUTE_WATCH;
	if (seg_is(&s[1], "apps"))
		apps = 1;
	else if (seg_is(&s[1], "flows"))
		apps = 0;
	else
		return GW_ROUTE_UNKNOWN;
	if (n == 2)
		return apps ? GW_ROUTE_APPS : GW_ROUTE_FLOWS;
	m->id = s[2].p;
	m->id_len = s[2].n;
	if (n == 3)
		return apps ? GW_ROUTE_APPS_ITEM : GW_ROUTE_FLOWS_ITEM;
	/* n == 4: per-component operations live under /api/apps/ only, but
	 * take any component id (CONTRACT §2). */
	r = apps ? route_named(&s[3], GW_ROUTE_STATUS, GW_ROUTE_START)
	         : GW_ROUTE_UNKNOWN;
	if (r != GW_ROUTE_UNKNOWN)
		return r;
	m->id = NULL;
	m->id_len = 0;
	return GW_ROUTE_UNKNOWN;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
gw_route_target_ok(const char *t)
{
	if (t == NULL)
		return 1;
	for (; *t != '\0' && *t != '?'; t++) {
		unsigned char c = (unsigned char) *t;
		int hi, lo;

		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c != '%' || (hi = hex_value(t[1])) < 0 ||
		    (lo = hex_value(t[2])) < 0)
			continue; /* MHD leaves a stray '%' as it is */
		c = (unsigned char) (hi << 4 | lo);
		if (c < 0x20 || c == 0x7f || c == '/')
			return 0;
	}
	return 1;
}

/* The index of an HTTP method in gw_route_info.on, or -1 for one no
 * route has an action for. HEAD is served as GET. */
static int
http_method(const char *method)
{
	static const char *const names[GW_HTTP_COUNT] = {
	    [GW_HTTP_GET] = "GET",
	    [GW_HTTP_POST] = "POST",
	    [GW_HTTP_PUT] = "PUT",
	    [GW_HTTP_PATCH] = "PATCH",
	    [GW_HTTP_DELETE] = "DELETE",
	};

	if (strcmp(method, "HEAD") == 0)
		return GW_HTTP_GET;
	for (int i = 0; i < GW_HTTP_COUNT; i++)
		if (strcmp(method, names[i]) == 0)
			return i;
	return -1;
}

void
gw_route_match(const char *method, const char *path, struct gw_match *m)
{
	int h = http_method(method);
	enum gw_route r;

	memset(m, 0, sizeof(*m));
	r = path_route(path, m);
	m->route = r;
	m->kind = routes[r].kind;
	m->action = h >= 0 ? routes[r].on[h] : GW_ACT_NONE;
	if (r != GW_ROUTE_UNKNOWN && strcmp(method, "OPTIONS") == 0)
		m->action = GW_ACT_OPTIONS;
	m->rpc = gw_action_rpc(m->action);
	if (r == GW_ROUTE_UNKNOWN)
		m->http_status = 404;
	else if (m->action == GW_ACT_NONE)
		m->http_status = 405;
	m->allow = m->http_status == 405 || m->action == GW_ACT_OPTIONS
	    ? routes[r].allow
	    : NULL;
}
