/*
 * test_gw_routes.c - gateway/gw_routes: every route with and without its
 * trailing slash, every method each takes (PATCH as PUT, HEAD as GET,
 * OPTIONS everywhere), 405 with the Allow list, 404, and which raw
 * targets may be routed at all.
 */
#include <string.h>

#include "fs_methods.h"
#include "gw_routes.h"
#include "testlib.h"

/* Matches and checks route, action, rpc, kind and id in one go. */
static void
check_ok(const char *method, const char *path, enum gw_route route,
    enum gw_action action, Flowsvc__Method rpc, Flowsvc__Kind kind,
    const char *id)
{
	struct gw_match m;
	char got_id[256] = "";

	gw_route_match(method, path, &m);
	if (m.id)
		snprintf(got_id, sizeof(got_id), "%.*s", (int) m.id_len, m.id);
	FS_CHECK(m.http_status == 0, "%s %s: status %d", method, path,
	    m.http_status);
	FS_CHECK(m.route == route, "%s %s: route %s, expected %s", method,
	    path, gw_route_name(m.route), gw_route_name(route));
	FS_CHECK(m.action == action, "%s %s: action %d, expected %d", method,
	    path, m.action, action);
	FS_CHECK(m.rpc == rpc, "%s %s: rpc %d, expected %d", method, path,
	    m.rpc, rpc);
	FS_CHECK(m.kind == kind, "%s %s: kind %d, expected %d", method, path,
	    m.kind, kind);
	FS_CHECK(m.allow == NULL, "%s %s: allow set", method, path);
	FS_CHECK(strcmp(got_id, id ? id : "") == 0 &&
	        (id != NULL) == (m.id != NULL),
	    "%s %s: id \"%s\", expected \"%s\"", method, path, got_id,
	    id ? id : "(none)");
}

/* Both spellings of a path: with and without the trailing slash. */
static void
check_both(const char *method, const char *path_no_slash, enum gw_route route,
    enum gw_action action, Flowsvc__Method rpc, Flowsvc__Kind kind,
    const char *id)
{
	char with[512];

	snprintf(with, sizeof(with), "%s/", path_no_slash);
	check_ok(method, path_no_slash, route, action, rpc, kind, id);
	check_ok(method, with, route, action, rpc, kind, id);
}

static void
check_405(const char *method, const char *path, enum gw_route route,
    const char *allow)
{
	struct gw_match m;

	gw_route_match(method, path, &m);
	FS_CHECK(m.http_status == 405, "%s %s: status %d, expected 405",
	    method, path, m.http_status);
	FS_CHECK(m.route == route, "%s %s: route %s", method, path,
	    gw_route_name(m.route));
	FS_CHECK(m.action == GW_ACT_NONE, "%s %s: action %d", method, path,
	    m.action);
	FS_CHECK(m.rpc == FLOWSVC__METHOD__METHOD_UNSPECIFIED, "%s %s: rpc %d",
	    method, path, m.rpc);
	FS_CHECK(m.allow != NULL && strcmp(m.allow, allow) == 0,
	    "%s %s: Allow \"%s\", expected \"%s\"", method, path,
	    m.allow ? m.allow : "(null)", allow);
}

static void
check_404(const char *method, const char *path)
{
	struct gw_match m;

	gw_route_match(method, path, &m);
	FS_CHECK(m.http_status == 404 && m.route == GW_ROUTE_UNKNOWN &&
	        m.action == GW_ACT_NONE && m.allow == NULL,
	    "%s %s: status %d route %s, expected 404", method, path,
	    m.http_status, gw_route_name(m.route));
}

#define ID "0b5e4a1c-7a9f-4a56-9c0e-0d5c3f1e2a3b"

static void
test_gw_routes_collections(void)
{
	check_both("GET", "/api/flows", GW_ROUTE_FLOWS, GW_ACT_LIST,
	    FLOWSVC__METHOD__LIST, FLOWSVC__KIND__FLOW, NULL);
	check_both("POST", "/api/flows", GW_ROUTE_FLOWS, GW_ACT_CREATE,
	    FLOWSVC__METHOD__CREATE, FLOWSVC__KIND__FLOW, NULL);
	check_both("GET", "/api/apps", GW_ROUTE_APPS, GW_ACT_LIST,
	    FLOWSVC__METHOD__LIST, FLOWSVC__KIND__APP, NULL);
	check_both("POST", "/api/apps", GW_ROUTE_APPS, GW_ACT_CREATE,
	    FLOWSVC__METHOD__CREATE, FLOWSVC__KIND__APP, NULL);
	/* HEAD is served as GET. */
	check_both("HEAD", "/api/flows", GW_ROUTE_FLOWS, GW_ACT_LIST,
	    FLOWSVC__METHOD__LIST, FLOWSVC__KIND__FLOW, NULL);
}

static void
test_gw_routes_items(void)
{
	static const struct {
		const char *method;
		enum gw_action action;
		Flowsvc__Method rpc;
	} m[] = {
	    {"GET", GW_ACT_GET, FLOWSVC__METHOD__GET},
	    {"HEAD", GW_ACT_GET, FLOWSVC__METHOD__GET},
	    {"PUT", GW_ACT_UPDATE, FLOWSVC__METHOD__UPDATE},
	    /* PATCH is PUT: both are partial updates (CONTRACT §2). */
	    {"PATCH", GW_ACT_UPDATE, FLOWSVC__METHOD__UPDATE},
	    {"DELETE", GW_ACT_DELETE, FLOWSVC__METHOD__DELETE},
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		check_both(m[i].method, "/api/flows/" ID, GW_ROUTE_FLOWS_ITEM,
		    m[i].action, m[i].rpc, FLOWSVC__KIND__FLOW, ID);
		check_both(m[i].method, "/api/apps/" ID, GW_ROUTE_APPS_ITEM,
		    m[i].action, m[i].rpc, FLOWSVC__KIND__APP, ID);
	}
}

static void
test_gw_routes_ids_pass_through(void)
{
	/* The gateway does not judge ids: the backend answers NOT_FOUND. */
	check_both("GET", "/api/flows/not-a-uuid", GW_ROUTE_FLOWS_ITEM,
	    GW_ACT_GET, FLOWSVC__METHOD__GET, FLOWSVC__KIND__FLOW,
	    "not-a-uuid");
	check_both("GET", "/api/flows/0B5E4A1C-7A9F-4A56-9C0E-0D5C3F1E2A3B",
	    GW_ROUTE_FLOWS_ITEM, GW_ACT_GET, FLOWSVC__METHOD__GET,
	    FLOWSVC__KIND__FLOW, "0B5E4A1C-7A9F-4A56-9C0E-0D5C3F1E2A3B");
	/* Words that are also route names are ids in the id position. */
	check_both("GET", "/api/apps/status", GW_ROUTE_APPS_ITEM, GW_ACT_GET,
	    FLOWSVC__METHOD__GET, FLOWSVC__KIND__APP, "status");
	check_both("GET", "/api/apps/x/status", GW_ROUTE_STATUS, GW_ACT_STATUS,
	    FLOWSVC__METHOD__GET_STATUS, FLOWSVC__KIND__KIND_ANY, "x");
}

static void
test_gw_routes_component_operations(void)
{
	check_both("GET", "/api/apps/" ID "/status", GW_ROUTE_STATUS,
	    GW_ACT_STATUS, FLOWSVC__METHOD__GET_STATUS,
	    FLOWSVC__KIND__KIND_ANY, ID);
	check_both("POST", "/api/apps/" ID "/deploy", GW_ROUTE_DEPLOY,
	    GW_ACT_DEPLOY, FLOWSVC__METHOD__DEPLOY, FLOWSVC__KIND__KIND_ANY,
	    ID);
	check_both("POST", "/api/apps/" ID "/stop", GW_ROUTE_STOP, GW_ACT_STOP,
	    FLOWSVC__METHOD__STOP, FLOWSVC__KIND__KIND_ANY, ID);
	check_both("POST", "/api/apps/" ID "/start", GW_ROUTE_START,
	    GW_ACT_START, FLOWSVC__METHOD__START, FLOWSVC__KIND__KIND_ANY, ID);
}

static void
test_gw_routes_operations_endpoints(void)
{
	check_both("GET", "/healthz", GW_ROUTE_HEALTHZ, GW_ACT_HEALTHZ,
	    FLOWSVC__METHOD__METHOD_UNSPECIFIED, FLOWSVC__KIND__KIND_ANY,
	    NULL);
	check_both("GET", "/readyz", GW_ROUTE_READYZ, GW_ACT_READYZ,
	    FLOWSVC__METHOD__HEALTH, FLOWSVC__KIND__KIND_ANY, NULL);
	check_both("GET", "/metrics", GW_ROUTE_METRICS, GW_ACT_METRICS,
	    FLOWSVC__METHOD__STATS, FLOWSVC__KIND__KIND_ANY, NULL);
	/* Answered by the gateway itself: no RPC. */
	check_both("GET", "/api/openapi.json", GW_ROUTE_OPENAPI,
	    GW_ACT_OPENAPI, FLOWSVC__METHOD__METHOD_UNSPECIFIED,
	    FLOWSVC__KIND__KIND_ANY, NULL);
	check_both("HEAD", "/api/openapi.json", GW_ROUTE_OPENAPI,
	    GW_ACT_OPENAPI, FLOWSVC__METHOD__METHOD_UNSPECIFIED,
	    FLOWSVC__KIND__KIND_ANY, NULL);
}

/* OPTIONS on every known path: answered by the gateway, with the route's
 * Allow list; unknown paths stay 404. */
static void
test_gw_routes_options(void)
{
	for (int r = 1; r < GW_ROUTE_COUNT; r++) {
		const struct gw_route_info *ri = gw_route_info(r);
		const char *at = strstr(ri->path, "{id}");
		char path[128];
		struct gw_match m;

		if (at != NULL)
			snprintf(path, sizeof(path), "%.*s%s%s",
			    (int) (at - ri->path), ri->path, ID, at + 4);
		else
			snprintf(path, sizeof(path), "%s", ri->path);
		gw_route_match("OPTIONS", path, &m);
		FS_CHECK(m.http_status == 0 && m.route == (enum gw_route) r &&
		        m.action == GW_ACT_OPTIONS &&
		        m.rpc == FLOWSVC__METHOD__METHOD_UNSPECIFIED &&
		        m.allow != NULL && strcmp(m.allow, ri->allow) == 0,
		    "OPTIONS %s: status %d action %d allow %s", path,
		    m.http_status, m.action, m.allow ? m.allow : "(none)");
	}
	check_404("OPTIONS", "/api/nope/");
	check_404("OPTIONS", "/api/flows/" ID "/status/");
}

static void
test_gw_routes_405(void)
{
	static const char *const coll_bad[] = {"PUT", "DELETE", "PATCH",
	    "TRACE", NULL};
	static const char *const item_bad[] = {"POST", "TRACE", NULL};
	static const char *const get_only_bad[] = {"POST", "PUT", "DELETE",
	    "PATCH", NULL};
	static const char *const post_only_bad[] = {"GET", "HEAD", "PUT",
	    "DELETE", "PATCH", NULL};
	static const char *const ops[] = {"deploy", "stop", "start"};
	static const enum gw_route op_routes[] = {GW_ROUTE_DEPLOY,
	    GW_ROUTE_STOP, GW_ROUTE_START};

	/* Django REST Framework's order: the actions, HEAD, OPTIONS. */
	for (const char *const *m = coll_bad; *m; m++) {
		check_405(*m, "/api/flows/", GW_ROUTE_FLOWS,
		    "GET, POST, HEAD, OPTIONS");
		check_405(*m, "/api/apps", GW_ROUTE_APPS,
		    "GET, POST, HEAD, OPTIONS");
	}
	for (const char *const *m = item_bad; *m; m++) {
		check_405(*m, "/api/flows/" ID "/", GW_ROUTE_FLOWS_ITEM,
		    "GET, PUT, PATCH, DELETE, HEAD, OPTIONS");
		check_405(*m, "/api/apps/" ID, GW_ROUTE_APPS_ITEM,
		    "GET, PUT, PATCH, DELETE, HEAD, OPTIONS");
	}
	for (const char *const *m = get_only_bad; *m; m++) {
		static const char get[] = "GET, HEAD, OPTIONS";

		check_405(*m, "/api/apps/" ID "/status/", GW_ROUTE_STATUS,
		    get);
		check_405(*m, "/healthz", GW_ROUTE_HEALTHZ, get);
		check_405(*m, "/readyz/", GW_ROUTE_READYZ, get);
		check_405(*m, "/metrics", GW_ROUTE_METRICS, get);
		check_405(*m, "/api/openapi.json", GW_ROUTE_OPENAPI, get);
	}
	for (const char *const *m = post_only_bad; *m; m++)
		for (size_t i = 0; i < 3; i++) {
			char path[128];

			snprintf(path, sizeof(path), "/api/apps/%s/%s/", ID,
			    ops[i]);
			check_405(*m, path, op_routes[i], "POST, OPTIONS");
		}
}

static void
test_gw_routes_404(void)
{
	static const char *const paths[] = {
	    "",
	    "/",
	    "//",
	    "api/flows/",
	    "/api",
	    "/api/",
	    "/api/flow/",
	    "/api/Flows/",
	    "/api/flowsx",
	    "/api/flows//",
	    "/api/flows///",
	    "/api//flows/",
	    "/api/flows/" ID "//",
	    "/api/flows/" ID "/status/", /* operations only under apps */
	    "/api/flows/" ID "/deploy/",
	    "/api/apps/" ID "/unknown/",
	    "/api/apps/" ID "/status/extra/",
	    "/api/apps/" ID "/status//",
	    "/healthz/x",
	    "/metricsx",
	    "/x/api/flows/",
	    "/openapi.json",
	    "/api/openapi.json/x",
	    "/api/OpenAPI.json",
	    "/api/flows/openapi.json/status/",
	    NULL,
	};

	for (const char *const *p = paths; *p; p++) {
		check_404("GET", *p);
		check_404("POST", *p);
		check_404("PATCH", *p);
	}
}

static void
test_gw_routes_names(void)
{
	FS_ASSERT_STR_EQ(gw_route_name(GW_ROUTE_FLOWS_ITEM), "flows_item");
	FS_ASSERT_STR_EQ(gw_route_name(GW_ROUTE_APPS), "apps");
	FS_ASSERT_STR_EQ(gw_route_name(GW_ROUTE_UNKNOWN), "unknown");
	FS_ASSERT_STR_EQ(gw_route_name(GW_ROUTE_COUNT), "unknown");
	for (int r = 0; r < GW_ROUTE_COUNT; r++)
		FS_CHECK(gw_route_name((enum gw_route) r) != NULL,
		    "route %d has no name", r);
}

/* The table's path of each route is one that routes to it, and its Allow
 * list is what a 405 on it says. */
static void
test_gw_routes_table(void)
{
	FS_CHECK(gw_route_info(GW_ROUTE_UNKNOWN)->path == NULL,
	    "unknown path");
	FS_CHECK(gw_route_info(GW_ROUTE_COUNT) ==
	        gw_route_info(GW_ROUTE_UNKNOWN),
	    "out of range");
	for (int r = 1; r < GW_ROUTE_COUNT; r++) {
		const struct gw_route_info *ri = gw_route_info(r);
		char path[128];
		const char *at;
		struct gw_match m;

		if (!FS_CHECK(ri->path != NULL && ri->allow != NULL,
		        "route %d has a path and methods", r))
			continue;
		at = strstr(ri->path, "{id}");
		if (at != NULL)
			snprintf(path, sizeof(path), "%.*s%s%s",
			    (int) (at - ri->path), ri->path, ID, at + 4);
		else
			snprintf(path, sizeof(path), "%s", ri->path);
		gw_route_match("TRACE", path, &m);
		FS_CHECK(m.route == (enum gw_route) r &&
		        m.http_status == 405 &&
		        strcmp(m.allow, ri->allow) == 0,
		    "%s routes to %s with Allow %s", path,
		    gw_route_name(m.route), m.allow ? m.allow : "(none)");
	}
}

/* A route's Allow list names exactly the HTTP methods it has an action
 * for, in the table's order, then HEAD where it has GET, then OPTIONS;
 * and each action's RPC has a request message the gateway can build
 * (gw_api builds by the method table's descriptors). */
static void
test_gw_routes_allow_matches_actions(void)
{
	static const char *const names[GW_HTTP_COUNT] = {"GET", "POST", "PUT",
	    "PATCH", "DELETE"};

	for (int r = 1; r < GW_ROUTE_COUNT; r++) {
		const struct gw_route_info *ri = gw_route_info(r);
		char allow[128] = "";

		for (int h = 0; h < GW_HTTP_COUNT; h++) {
			if (ri->on[h] == GW_ACT_NONE)
				continue;
			if (allow[0] != '\0')
				strcat(allow, ", ");
			strcat(allow, names[h]);
		}
		if (ri->on[GW_HTTP_GET] != GW_ACT_NONE)
			strcat(allow, ", HEAD");
		strcat(allow, ", OPTIONS");
		FS_CHECK(ri->allow != NULL && strcmp(allow, ri->allow) == 0,
		    "route %s: Allow \"%s\", actions for \"%s\"", ri->name,
		    ri->allow ? ri->allow : "(none)", allow);
	}
	for (int a = 0; a < GW_ACT_COUNT; a++) {
		Flowsvc__Method m = gw_action_rpc((enum gw_action) a);
		const fs_method_info *mi = fs_method(m);

		FS_CHECK(m == FLOWSVC__METHOD__METHOD_UNSPECIFIED ||
		        mi != NULL,
		    "action %d: method %d not in the table", a, (int) m);
	}
	FS_CHECK(gw_action_rpc(GW_ACT_COUNT) ==
	        FLOWSVC__METHOD__METHOD_UNSPECIFIED,
	    "out of range");
	FS_CHECK(gw_action_rpc(GW_ACT_READYZ) == FLOWSVC__METHOD__HEALTH &&
	        gw_action_rpc(GW_ACT_METRICS) == FLOWSVC__METHOD__STATS,
	    "readyz and metrics ask the backend");
}

/* Raw targets: an encoded slash or any control character in the path
 * never routes; the query is not judged; '%' without two hex digits is
 * no encoding. */
static void
test_gw_routes_raw_target(void)
{
	static const char *const refused[] = {"/api/flows/%00",
	    "/api/flows/%00zzz", "/api/apps/x/deploy%00/../../x",
	    "/api%2Fflows/", "/api%2fflows/", "/a%2F", "%2f", "/x%0a", "/x%0D",
	    "/x%1f", "/x%7F", "/x%7f?y", "/x\x01", "/x\x7f", "/x\ty",
	    "/x%25%2F"};
	static const char *const accepted[] = {"", "/", "/api/flows/",
	    "/api/flows/?name__iexact=a%2Fb%00", "/x?%00", "/x%", "/x%2",
	    "/x%zz", "/x%2G", "/x%20y", "/x%25", "/x%252F", "/x%3F", "/x%7E",
	    "/x%C3%A9"};

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		FS_CHECK(!gw_route_target_ok(refused[i]), "\"%s\" accepted",
		    refused[i]);
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
		FS_CHECK(gw_route_target_ok(accepted[i]), "\"%s\" refused",
		    accepted[i]);
	FS_CHECK(gw_route_target_ok(NULL), "NULL refused");
}

static CU_TestInfo routes_tests[] = {
    {"collections: GET lists, POST creates", test_gw_routes_collections},
    {"items: GET, PUT, PATCH, DELETE", test_gw_routes_items},
    {"OPTIONS on every known path", test_gw_routes_options},
    {"ids go to the backend as received", test_gw_routes_ids_pass_through},
    {"status, deploy, stop, start take any kind",
        test_gw_routes_component_operations},
    {"healthz, readyz, metrics, openapi.json",
        test_gw_routes_operations_endpoints},
    {"wrong method: 405 with Allow", test_gw_routes_405},
    {"unknown paths: 404", test_gw_routes_404},
    {"metric label names", test_gw_routes_names},
    {"route table: paths route to their route", test_gw_routes_table},
    {"route table: Allow lists its actions; actions' RPCs",
        test_gw_routes_allow_matches_actions},
    {"raw targets: encoded slash and controls refused",
        test_gw_routes_raw_target},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gw_routes", NULL, NULL, NULL, NULL, routes_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
