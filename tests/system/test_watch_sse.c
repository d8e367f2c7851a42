/*
 * test_watch_sse.c - GET /api/watch/ (CONTRACT §7) against the real
 * programs: Server-Sent Events with each change once, its component as
 * the REST API renders it; X-Revision on every answer about components;
 * resuming with since and Last-Event-ID, from the gateway's ring and from
 * older than it (catch-up through the backend); kind and group filters;
 * 400 for bad values, 410 with the contract's body, 503 past
 * --watch-max-clients; bookmarks at --watch-bookmark-ms; a client that
 * does not read dropped while another keeps receiving; token scoping;
 * SIGTERM with streams open.
 *
 * List then watch under writers and kill -9 of either program:
 * test_watch_sse_kill.c.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static fs_test_env env;

/* A small ring (8 events), so that resuming from further back takes the
 * catch-up path; short bookmarks; a few clients. */
static int
suite_init(void)
{
	static const char *extra[] = {"--watch-ring", "8",
	    "--watch-bookmark-ms", "300", "--watch-max-clients", "6",
	    "--watch-client-buffer", "65536", NULL};

	if (fs_env_init(&env, "watch_sse") != 0)
		return -1;
	env.gw_extra = extra;
	return fs_env_start_programs(&env);
}

static int
suite_fini(void)
{
	return fs_env_fini(&env);
}

/* ---- helpers ------------------------------------------------------------ */

/* X-Revision of an answer; 0 when absent. */
static uint64_t
xrev(const fs_http_resp *r)
{
	const char *v = fs_http_header_get(r, "X-Revision");

	return v != NULL ? strtoull(v, NULL, 10) : 0;
}

/* The backend's revision now. */
static uint64_t
current(void)
{
	return fs_tw_revision(env.client);
}

/* Opens a stream on env's gateway; asserts 200. */
static int
sse_open(fs_sse *s, const char *path, const char *const *headers)
{
	if (!FS_CHECK(fs_sse_open(s, env.gw_port, path, headers, 0, 10000) ==
	            0,
	        "open %s", path) ||
	    !FS_CHECK(s->status == 200, "GET %s answered %d: %s", path,
	        s->status, s->body ? s->body : "")) {
		fs_sse_close(s); /* closing it again is a no-op */
		return 0;
	}
	return 1;
}

/* The next change; asserts its revision and type, returns its data (a
 * new reference) or NULL. */
static json_t *
expect_change(fs_sse *s, uint64_t rev, const char *type)
{
	fs_sse_event ev;
	json_t *data = NULL;

	if (!FS_CHECK(fs_sse_next_change(s, &ev, 10000) == 1,
	        "no event for revision %llu", (unsigned long long) rev))
		return NULL;
	FS_CHECK(ev.has_id && ev.id == rev && strcmp(ev.event, type) == 0,
	    "got id %llu event %s, expected %llu %s",
	    (unsigned long long) ev.id, ev.event, (unsigned long long) rev,
	    type);
	if (FS_CHECK(ev.data != NULL, "data is not JSON")) {
		FS_ASSERT_STR_EQ(fs_json_str(ev.data, "type"), type);
		FS_ASSERT_INT_EQ(json_integer_value(
		                     json_object_get(ev.data, "revision")),
		    rev);
		data = json_incref(ev.data);
	}
	fs_sse_event_free(&ev);
	return data;
}

/* No change arrives within ms (bookmarks may). */
static void
expect_quiet(fs_sse *s, int ms)
{
	fs_sse_event ev;
	int rv = fs_sse_next_change(s, &ev, ms);

	FS_CHECK(rv == 0, "unexpected event %s %llu", ev.event,
	    (unsigned long long) ev.id);
	if (rv == 1)
		fs_sse_event_free(&ev);
}

/* ---- events and X-Revision ---------------------------------------------- */

static void
test_events_and_revisions(void)
{
	fs_http_resp r;
	fs_sse s;
	char id[64], v[64];
	uint64_t r0 = current();
	json_t *created = NULL, *updated = NULL, *d;

	if (!sse_open(&s, "/api/watch/", NULL))
		goto out;
	FS_CHECK(fs_sse_header(&s, "Content-Type", v, sizeof(v)) != NULL &&
	        strcmp(v, "text/event-stream") == 0,
	    "Content-Type %s", v);
	FS_CHECK(fs_sse_header(&s, "X-Revision", v, sizeof(v)) != NULL &&
	        strtoull(v, NULL, 10) == r0,
	    "the stream's X-Revision is its start, %llu",
	    (unsigned long long) r0);

	/* Every answer about components says its revision. */
	fs_rest(&env, "POST", "/api/flows/", "{\"name\":\"sse_one\"}", &r);
	FS_ASSERT_STATUS(&r, 201);
	FS_ASSERT_INT_EQ(xrev(&r), r0 + 1);
	snprintf(id, sizeof(id), "%s", fs_json_str(r.json, "id"));
	created = json_incref(r.json);
	fs_http_resp_free(&r);
	fs_restf(&env, "PUT", "{\"output_fields\":[\"o\"]}", &r,
	    "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 200);
	FS_ASSERT_INT_EQ(xrev(&r), r0 + 2);
	updated = json_incref(r.json);
	fs_http_resp_free(&r);
	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", id);
	FS_ASSERT_INT_EQ(xrev(&r), r0 + 2);
	fs_http_resp_free(&r);
	fs_restf(&env, "POST", NULL, &r, "/api/apps/%s/deploy/", id);
	FS_ASSERT_STATUS(&r, 200);
	FS_ASSERT_INT_EQ(xrev(&r), r0 + 3);
	fs_http_resp_free(&r);
	fs_restf(&env, "GET", NULL, &r, "/api/apps/%s/status/", id);
	FS_ASSERT_INT_EQ(xrev(&r), r0 + 3);
	fs_http_resp_free(&r);
	fs_rest(&env, "GET", "/api/flows/", NULL, &r);
	FS_ASSERT_STATUS(&r, 200);
	FS_ASSERT_INT_EQ(xrev(&r), r0 + 3);
	fs_http_resp_free(&r);
	fs_restf(&env, "DELETE", NULL, &r, "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 204);
	FS_ASSERT_INT_EQ(xrev(&r), r0 + 4);
	fs_http_resp_free(&r);
	/* A read of what is gone still says where it read. */
	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", id);
	FS_ASSERT_STATUS(&r, 404);
	FS_ASSERT_INT_EQ(xrev(&r), r0 + 4);
	fs_http_resp_free(&r);
	/* Not about components: none. */
	fs_rest(&env, "GET", "/healthz", NULL, &r);
	FS_CHECK(fs_http_header_get(&r, "X-Revision") == NULL,
	    "X-Revision on /healthz");
	fs_http_resp_free(&r);

	/* Each change once, in order, with the component exactly as the
	 * API answered it. */
	if ((d = expect_change(&s, r0 + 1, "added")) != NULL) {
		FS_ASSERT_JSON_SAME(json_object_get(d, "component"), created);
		FS_ASSERT_STR_EQ(fs_json_str(d, "status"), "not-deployed");
		json_decref(d);
	}
	if ((d = expect_change(&s, r0 + 2, "modified")) != NULL) {
		FS_ASSERT_JSON_SAME(json_object_get(d, "component"), updated);
		json_decref(d);
	}
	if ((d = expect_change(&s, r0 + 3, "status")) != NULL) {
		FS_ASSERT_JSON_SAME(json_object_get(d, "component"), updated);
		FS_ASSERT_STR_EQ(fs_json_str(d, "status"), "started");
		json_decref(d);
	}
	if ((d = expect_change(&s, r0 + 4, "deleted")) != NULL) {
		FS_ASSERT_JSON_SAME(json_object_get(d, "component"), updated);
		FS_ASSERT_STR_EQ(fs_json_str(d, "status"), "started");
		FS_CHECK(json_object_size(d) == 4, "data has 4 keys");
		json_decref(d);
	}
	expect_quiet(&s, 500);
out:
	json_decref(created);
	json_decref(updated);
	fs_sse_close(&s);
}

/* HEAD: a stream's headers, no body. */
static void
test_head(void)
{
	fs_http_resp r;

	fs_rest(&env, "HEAD", "/api/watch/", NULL, &r);
	FS_ASSERT_STATUS(&r, 200);
	FS_ASSERT_STR_EQ(fs_http_header_get(&r, "Content-Type"),
	    "text/event-stream");
	FS_ASSERT_INT_EQ(r.body_len, 0);
	fs_http_resp_free(&r);
	/* What GET would answer: a revision never reached is 410. */
	fs_restf(&env, "HEAD", NULL, &r, "/api/watch/?since=%llu",
	    (unsigned long long) (current() + 1000));
	FS_ASSERT_STATUS(&r, 410);
	fs_http_resp_free(&r);
}

/* ---- resuming ----------------------------------------------------------- */

/* n updates of a fresh flow; returns the revision before them. */
static uint64_t
changes(int n, char id[64])
{
	char name[32];
	uint64_t r0;

	snprintf(name, sizeof(name), "sse_r%llu",
	    (unsigned long long) current());
	r0 = current();
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, name, NULL,
	    NULL, 0, NULL, id, NULL));
	for (int i = 1; i < n; i++)
		FS_ASSERT_OK(fs_tw_update(env.client, id, "u", NULL));
	return r0;
}

static void
test_resume(void)
{
	static const char *const lei[] = {"Last-Event-ID: 0", NULL};
	char id[64], path[128], hdr[64];
	const char *headers[] = {hdr, NULL};
	uint64_t r0, end;
	fs_sse s;
	json_t *d;

	/* Within the ring (8 events): since, then Last-Event-ID, which
	 * wins over since. */
	r0 = changes(5, id);
	snprintf(path, sizeof(path), "/api/watch/?since=%llu",
	    (unsigned long long) r0);
	if (sse_open(&s, path, NULL)) {
		json_decref(expect_change(&s, r0 + 1, "added"));
		for (uint64_t k = 2; k <= 5; k++)
			json_decref(expect_change(&s, r0 + k, "modified"));
		expect_quiet(&s, 300);
	}
	fs_sse_close(&s);
	snprintf(hdr, sizeof(hdr), "Last-Event-ID: %llu",
	    (unsigned long long) (r0 + 3));
	if (sse_open(&s, "/api/watch/?since=1", headers)) {
		json_decref(expect_change(&s, r0 + 4, "modified"));
		json_decref(expect_change(&s, r0 + 5, "modified"));
		expect_quiet(&s, 300);
	}
	fs_sse_close(&s);

	/* Older than the ring: 20 changes later, the gateway asks the
	 * backend for them, then goes on live. */
	end = changes(20, id) + 20;
	snprintf(path, sizeof(path), "/api/watch/?since=%llu",
	    (unsigned long long) r0);
	if (sse_open(&s, path, NULL)) {
		for (uint64_t k = r0 + 1; k <= end; k++) {
			d = expect_change(&s, k,
			    k == r0 + 1 || k == r0 + 6 ? "added" : "modified");
			json_decref(d);
			if (d == NULL)
				break;
		}
		FS_ASSERT_OK(fs_tw_update(env.client, id, "live", NULL));
		if ((d = expect_change(&s, end + 1, "modified")) != NULL) {
			FS_ASSERT_JSON_EQ(json_object_get(json_object_get(d,
			                                      "component"),
			                      "output_fields"),
			    "[\"live\"]");
			json_decref(d);
		}
		expect_quiet(&s, 300);
	}
	fs_sse_close(&s);
	/* Last-Event-ID 0 on a long history: from the first change. */
	if (sse_open(&s, "/api/watch/", lei))
		json_decref(expect_change(&s, 1, "added"));
	fs_sse_close(&s);
}

/* ---- filters ------------------------------------------------------------ */

static void
test_filters(void)
{
	char path[160];
	uint64_t r0 = current();
	fs_sse s;
	json_t *d;

	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "sse_f1",
	    "Gee", NULL, 0, NULL, NULL, NULL));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__APP, "sse_f2",
	    "gee", NULL, 0, NULL, NULL, NULL));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__APP, "sse_f3",
	    "other", NULL, 0, NULL, NULL, NULL));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "sse_f4",
	    "GEE", NULL, 0, NULL, NULL, NULL));
	snprintf(path, sizeof(path),
	    "/api/watch/?since=%llu&kind=app&group__iexact=gEE",
	    (unsigned long long) r0);
	if (sse_open(&s, path, NULL) &&
	    (d = expect_change(&s, r0 + 2, "added")) != NULL) {
		FS_ASSERT_STR_EQ(fs_json_str(json_object_get(d, "component"),
		                     "name"),
		    "sse_f2");
		json_decref(d);
		expect_quiet(&s, 300);
	}
	fs_sse_close(&s);
	snprintf(path, sizeof(path), "/api/watch/?since=%llu&kind=flow",
	    (unsigned long long) r0);
	if (sse_open(&s, path, NULL)) {
		json_decref(expect_change(&s, r0 + 1, "added"));
		json_decref(expect_change(&s, r0 + 4, "added"));
		expect_quiet(&s, 300);
	}
	fs_sse_close(&s);
	/* Live, through the hub: the same filters. */
	if (sse_open(&s,
	        "/api/watch/?group__iexact=GEE&kind=flow&since=", NULL)) {
		uint64_t r1 = current();
		FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__APP,
		    "sse_f5", "gee", NULL, 0, NULL, NULL, NULL));
		FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW,
		    "sse_f6", "gee", NULL, 0, NULL, NULL, NULL));
		json_decref(expect_change(&s, r1 + 2, "added"));
	}
	fs_sse_close(&s);
}

/* ---- refusals ----------------------------------------------------------- */

static void
expect_refusal(const char *path, const char *const *headers, int status,
    const char *body)
{
	fs_http_resp r;

	fs_http_once(env.gw_port, "GET", path, headers, NULL, 0, &r);
	FS_ASSERT_ERROR(&r, status, body);
	fs_http_resp_free(&r);
}

static void
test_bad_values(void)
{
	static const char *const bad_lei[] = {"Last-Event-ID: x1", NULL};
	char path[96];

	expect_refusal("/api/watch/?since=abc", NULL, 400,
	    "{\"since\": [\"A valid non-negative integer is required.\"]}");
	expect_refusal("/api/watch/?since=-1", NULL, 400,
	    "{\"since\": [\"A valid non-negative integer is required.\"]}");
	expect_refusal("/api/watch/?kind=flows", NULL, 400,
	    "{\"kind\": [\"Select a valid choice. flows is not one of the "
	    "available choices.\"]}");
	expect_refusal("/api/watch/", bad_lei, 400,
	    "{\"Last-Event-ID\": [\"A valid non-negative integer is "
	    "required.\"]}");
	/* A revision the backend never reached: list again. */
	snprintf(path, sizeof(path), "/api/watch/?since=%llu",
	    (unsigned long long) (current() + 1000));
	{
		char want[200];
		snprintf(want, sizeof(want),
		    "{\"detail\": \"Revision %llu is no longer available; "
		    "list again and watch from the list's revision.\"}",
		    (unsigned long long) (current() + 1000));
		expect_refusal(path, NULL, 410, want);
	}
}

/* The gateway's count of SSE clients (/metrics), -1 when unknown. A
 * client that leaves is noticed at its next event or bookmark. */
static long
sse_clients(void)
{
	fs_http_resp r;
	const char *p;
	long n = -1;

	if (fs_http_once(env.gw_port, "GET", "/metrics", NULL, NULL, 0, &r) ==
	        0 &&
	    r.body != NULL &&
	    (p = strstr(r.body, "\nflowsvc_gateway_watch_clients ")) != NULL)
		n = strtol(p + 31, NULL, 10);
	fs_http_resp_free(&r);
	return n;
}

static int
wait_no_clients(void)
{
	int64_t until = fs_test_now_ms() + 10000;

	while (sse_clients() != 0 && fs_test_now_ms() < until)
		fs_test_poll_pause(50);
	return FS_CHECK(sse_clients() == 0,
	    "the gateway still counts %ld "
	    "SSE clients",
	    sse_clients());
}

/* --watch-max-clients 6: a seventh is 503, and the places come back
 * once clients leave. */
static void
test_max_clients(void)
{
	fs_sse s[7];
	int n = 0;

	for (int round = 0; round < 2; round++) {
		if (!wait_no_clients())
			return;
		for (n = 0; n < 6; n++)
			if (!sse_open(&s[n], "/api/watch/", NULL))
				break;
		if (n == 6) {
			FS_ASSERT_INT_EQ(fs_sse_open(&s[6], env.gw_port,
			                     "/api/watch/", NULL, 0, 10000),
			    0);
			FS_ASSERT_INT_EQ(s[6].status, 503);
			json_t *j = json_loads(s[6].body, 0, NULL);
			FS_ASSERT_JSON_EQ(j,
			    "{\"detail\": \"Service unavailable.\"}");
			json_decref(j);
			fs_sse_close(&s[6]);
		}
		FS_ASSERT_INT_EQ(sse_clients(), 6);
		while (n > 0)
			fs_sse_close(&s[--n]);
	}
}

/* ---- bookmarks ---------------------------------------------------------- */

static void
test_bookmarks(void)
{
	fs_sse s;
	fs_sse_event ev;
	int bookmarks = 0;
	int64_t t0, last, gap = 0;
	uint64_t cur = current(), last_id = 0;

	if (!wait_no_clients())
		return;
	if (!sse_open(&s, "/api/watch/?group__iexact=nobody", NULL))
		goto out;
	/* --watch-bookmark-ms 300: several in 3 s, each with the revision
	 * the stream is complete up to (the id says it too). */
	t0 = last = fs_test_now_ms();
	while (fs_test_now_ms() - t0 < 3000) {
		int rv = fs_sse_next(&s, &ev, 3000);
		if (!FS_CHECK(rv == 1, "no bookmark within 3 s"))
			break;
		if (FS_CHECK(strcmp(ev.event, "bookmark") == 0, "event %s",
		        ev.event)) {
			int64_t now = fs_test_now_ms();
			/* The id and the data say the same revision;
			 * the last one, where the store is. */
			FS_CHECK(ev.has_id && ev.id <= cur &&
			        (uint64_t) json_integer_value(
			            json_object_get(ev.data, "revision")) ==
			            ev.id,
			    "bookmark %llu", (unsigned long long) ev.id);
			last_id = ev.id;
			FS_ASSERT_STR_EQ(fs_json_str(ev.data, "type"),
			    "bookmark");
			if (now - last > gap)
				gap = now - last;
			last = now;
			bookmarks++;
		}
		fs_sse_event_free(&ev);
	}
	FS_ASSERT_INT_EQ(last_id, cur);
	/* The default is 15 s: with the flag, well under 2 s apart. */
	FS_CHECK(bookmarks >= 3 && gap < 2000,
	    "%d bookmarks in 3 s, at most %lld ms apart", bookmarks,
	    (long long) gap);
	/* A change elsewhere moves the bookmarks on. */
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "sse_bm",
	    NULL, NULL, 0, NULL, NULL, NULL));
	int64_t until = fs_test_now_ms() + 5000;
	int moved = 0;
	while (!moved && fs_sse_next(&s, &ev, 3000) == 1) {
		moved = ev.id == cur + 1;
		fs_sse_event_free(&ev);
		if (fs_test_now_ms() > until)
			break;
	}
	FS_CHECK(moved, "a bookmark at the new revision");
out:
	fs_sse_close(&s);
}

/* ---- a client that does not read ---------------------------------------- */

/* A body with 900 input fields of ~200 characters, marked with tag. */
static char *
big_update(int tag)
{
	size_t cap = 900 * 220 + 64, n = 0;
	char *b = malloc(cap);

	if (b == NULL)
		return NULL;
	n += (size_t) snprintf(b + n, cap - n, "{\"input_fields\":[");
	for (int i = 0; i < 900; i++)
		n += (size_t) snprintf(b + n, cap - n, "%s\"f%d_%d_%0190d\"",
		    i ? "," : "", tag, i, 0);
	snprintf(b + n, cap - n, "]}");
	return b;
}

static void
test_slow_client_dropped(void)
{
	fs_sse slow, fast;
	fs_http_resp r;
	char id[64], path[64];
	const int updates = 60; /* ~11 MB of events */
	uint64_t r0;
	int got = 0, rv;

	if (!FS_REST_CREATE(&env, "flows", "{\"name\":\"sse_big\"}", id))
		return;
	r0 = current();
	snprintf(path, sizeof(path), "/api/watch/?since=%llu",
	    (unsigned long long) r0);
	/* One that never reads (a small receive window), one that does. */
	if (!FS_CHECK(fs_sse_open(&slow, env.gw_port, path, NULL, 4096,
	                  10000) == 0 &&
	            slow.status == 200,
	        "slow client") ||
	    !sse_open(&fast, path, NULL)) {
		fs_sse_close(&slow);
		return;
	}
	for (int i = 0; i < updates; i++) {
		char *body = big_update(i);
		if (body == NULL)
			break;
		fs_restf(&env, "PUT", body, &r, "/api/flows/%s/", id);
		FS_ASSERT_STATUS(&r, 200);
		fs_http_resp_free(&r);
		free(body);
		/* The fast one keeps up meanwhile. */
		fs_sse_event ev;
		while ((rv = fs_sse_next_change(&fast, &ev, 0)) == 1) {
			FS_CHECK(ev.id == r0 + 1 + (uint64_t) got,
			    "fast client got %llu, expected %llu",
			    (unsigned long long) ev.id,
			    (unsigned long long) (r0 + 1 + got));
			got++;
			fs_sse_event_free(&ev);
		}
	}
	while (got < updates) {
		fs_sse_event ev;
		if (!FS_CHECK(fs_sse_next_change(&fast, &ev, 10000) == 1,
		        "fast client stalled at %d of %d", got, updates))
			break;
		FS_CHECK(ev.id == r0 + 1 + (uint64_t) got, "fast got %llu",
		    (unsigned long long) ev.id);
		got++;
		fs_sse_event_free(&ev);
	}
	FS_ASSERT_INT_EQ(got, updates);
	/* The slow one was cut off: reading it now finds the end of what
	 * was sent, broken (no last chunk), long before all of it. */
	fs_sse_event ev;
	int seen = 0;
	while ((rv = fs_sse_next(&slow, &ev, 10000)) == 1) {
		seen += strcmp(ev.event, "modified") == 0;
		fs_sse_event_free(&ev);
	}
	FS_CHECK(rv == -1 && !slow.end_ok,
	    "the slow client's stream ended broken (rv %d, clean %d)", rv,
	    slow.end_ok);
	FS_CHECK(seen < updates, "the slow client got %d of %d", seen,
	    updates);
	fs_rest(&env, "GET", "/metrics", NULL, &r);
	FS_CHECK(r.body != NULL &&
	        strstr(r.body, "flowsvc_gateway_watch_dropped_total 0\n") ==
	            NULL &&
	        strstr(r.body, "flowsvc_gateway_watch_dropped_total ") != NULL,
	    "dropped clients counted");
	fs_http_resp_free(&r);
	fs_sse_close(&slow);
	fs_sse_close(&fast);
}

/* ---- shutdown ----------------------------------------------------------- */

static void
test_sigterm_with_streams(void)
{
	fs_test_env e;
	fs_sse s[3];
	int n = 0, st;

	if (fs_env_start(&e, "watch_sse_term") != 0) {
		FS_CHECK(0, "start");
		fs_env_fini(&e);
		return;
	}
	for (; n < 3; n++)
		if (fs_sse_open(&s[n], e.gw_port, "/api/watch/", NULL, 0,
		        10000) != 0 ||
		    !FS_CHECK(s[n].status == 200, "open"))
			break;
	int64_t t0 = fs_test_now_ms();
	st = fs_test_proc_stop(&e.gateway, SIGTERM, 10000);
	FS_CHECK(fs_test_exited_zero(st), "the gateway exits 0 (status %d)",
	    st);
	FS_CHECK(fs_test_now_ms() - t0 < 5000, "and soon (%lld ms)",
	    (long long) (fs_test_now_ms() - t0));
	for (int i = 0; i < n; i++) {
		fs_sse_event ev;
		int rv;
		while ((rv = fs_sse_next(&s[i], &ev, 5000)) == 1)
			fs_sse_event_free(&ev);
		FS_CHECK(rv == -1 && s[i].end_ok,
		    "stream %d ended cleanly (rv %d)", i, rv);
		fs_sse_close(&s[i]);
	}
	/* fs_env_fini stops what still runs. */
	e.gateway.pid = 0;
	e.gateway.status = 0;
	fs_env_fini(&e);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"events with their components, X-Revision on answers",
	    test_events_and_revisions},
	{"HEAD", test_head},
	{"resume with since and Last-Event-ID, from the ring and older",
	    test_resume},
	{"kind and group filters", test_filters},
	{"400 for bad values, 410 for a revision never reached",
	    test_bad_values},
	{"503 past --watch-max-clients", test_max_clients},
	{"bookmarks at --watch-bookmark-ms", test_bookmarks},
	{"a client that does not read is dropped, others keep receiving",
	    test_slow_client_dropped},
	{"SIGTERM with streams open", test_sigterm_with_streams},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"watch_sse", suite_init, suite_fini, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
