/*
 * test_list_pages.c - paged lists against the real programs:
 * - over RPC, page tokens walk a list to its end, each reply with the
 *   total and the revision it is consistent at; flowctl list pages;
 * - a token is refused, with a clear message, once expired
 *   (--list-idle-timeout) and for another caller;
 * - at most --list-views lists in progress (then UNAVAILABLE, 503), and
 *   the gateway ends a list's view when its client goes away;
 * - changes made while a list is read keep at most --list-pinned-max of
 *   what they replace alive: past it the list ends, and the backend's
 *   memory stays bounded;
 * - through the gateway: X-Total-Count on every list, Link rel="next"
 *   while a page with limit has more after it, HEAD with the headers
 *   only, and a stream whose backend stops answering ends broken, not
 *   short.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <CUnit/Basic.h>

#include "testlib.h"

static int
start(fs_test_env *env, const char *name, const char *const *svc_extra,
    int nflows)
{
	if (fs_env_init(env, name) != 0)
		return -1;
	env->svc_extra = svc_extra;
	if (!FS_CHECK(fs_env_start_programs(env) == 0, "programs start"))
		return -1;
	if (nflows > 0 &&
	    !FS_CHECK(fs_seed_flows(env->backend_url, "flow_", 0, nflows, NULL,
	                  2, NULL) == 0,
	        "seeding %d flows", nflows))
		return -1;
	return 0;
}

/* One List call as who; *l gets the reply when OK. */
static int
list_call(fs_test_env *env, const Flowsvc__Caller *who, uint32_t page_size,
    const char *token, Flowsvc__ListReply **l, Flowsvc__Reply **rep)
{
	Flowsvc__ListRequest m = FLOWSVC__LIST_REQUEST__INIT;
	fs_call_opts o = {NULL, 30000, who, 0};

	m.has_kind = 1;
	m.kind = FLOWSVC__KIND__FLOW;
	m.has_page_size = 1;
	m.page_size = page_size;
	m.page_token = (char *) token;
	*l = NULL;
	*rep = NULL;
	int code = fs_client_call(env->client, FLOWSVC__METHOD__LIST, &m.base,
	    &o, rep);
	if (code == FS_OK)
		*l = (Flowsvc__ListReply *) fs_reply_payload(*rep,
		    &flowsvc__list_reply__descriptor);
	return code;
}

static void
done(Flowsvc__ListReply *l, Flowsvc__Reply *rep)
{
	if (l != NULL)
		flowsvc__list_reply__free_unpacked(l, NULL);
	if (rep != NULL)
		flowsvc__reply__free_unpacked(rep, NULL);
}

static const char *
violation(const Flowsvc__Reply *rep, const char *field)
{
	for (size_t i = 0; rep != NULL && i < rep->n_violations; i++)
		if (strcmp(rep->violations[i]->field, field) == 0 &&
		    rep->violations[i]->n_messages > 0)
			return rep->violations[i]->messages[0];
	return "(none)";
}

/* The backend's revision now. */
static uint64_t
revision(fs_test_env *env)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	Flowsvc__HealthReply *h = NULL;
	uint64_t rev = 0;

	if (fs_trpc_call(env->client, FLOWSVC__METHOD__HEALTH, &e.base, 10000,
	        &flowsvc__health_reply__descriptor,
	        (ProtobufCMessage **) &h) == FS_OK &&
	    h->has_revision)
		rev = h->revision;
	if (h != NULL)
		flowsvc__health_reply__free_unpacked(h, NULL);
	return rev;
}

/* ---- RPC ------------------------------------------------------------------ */

#define N_RPC 12345

static void
test_rpc_pages_and_flowctl(void)
{
	static const char *const svc[] = {"--list-idle-timeout", "1", NULL};
	fs_test_env env;
	Flowsvc__ListReply *l;
	Flowsvc__Reply *rep;

	if (start(&env, "listpages", svc, N_RPC) != 0) {
		fs_env_fini(&env);
		return;
	}
	uint64_t rev = revision(&env);
	char *token = NULL;
	size_t seen = 0;
	int pages = 0;
	do {
		if (!FS_ASSERT_OK(
		        list_call(&env, NULL, 4000, token, &l, &rep)))
			break;
		free(token);
		token = NULL;
		pages++;
		for (size_t i = 0; i < l->n_components; i++, seen++) {
			char want[32];
			snprintf(want, sizeof(want), "flow_%zu", seen);
			if (!FS_CHECK(strcmp(l->components[i]->name, want) ==
			            0,
			        "item %zu is %s", seen,
			        l->components[i]->name))
				break;
		}
		FS_ASSERT_INT_EQ(l->total_count, N_RPC);
		FS_CHECK(l->has_revision && l->revision == rev,
		    "page %d: revision %llu, the backend's %llu", pages,
		    (unsigned long long) l->revision,
		    (unsigned long long) rev);
		if (l->next_page_token != NULL)
			token = strdup(l->next_page_token);
		done(l, rep);
	} while (token != NULL);
	FS_ASSERT_INT_EQ(seen, N_RPC);
	FS_ASSERT_INT_EQ(pages, 4);

	/* Another caller's token: unknown. */
	char *grp[] = {"default"};
	Flowsvc__Caller other = FLOWSVC__CALLER__INIT;
	other.has_restricted = other.restricted = 1;
	other.groups = grp;
	other.n_groups = 1;
	FS_ASSERT_OK(list_call(&env, NULL, 100, NULL, &l, &rep));
	token = strdup(l->next_page_token);
	done(l, rep);
	FS_ASSERT_CODE(list_call(&env, &other, 100, token, &l, &rep),
	    FS_INVALID_ARGUMENT, rep);
	FS_ASSERT_STR_EQ(violation(rep, "page_token"),
	    "Unknown or expired page token: list again without it.");
	done(l, rep);
	/* Expired: --list-idle-timeout 1 (the sweeper looks twice a
	 * second), left alone for 3 s. */
	sleep(3);
	FS_ASSERT_CODE(list_call(&env, NULL, 100, token, &l, &rep),
	    FS_INVALID_ARGUMENT, rep);
	FS_ASSERT_STR_EQ(violation(rep, "page_token"),
	    "Unknown or expired page token: list again without it.");
	done(l, rep);
	free(token);

	/* flowctl list: every page, from a backend with the default idle
	 * timeout (a loaded machine may take more than 1 s between pages
	 * of an instrumented flowctl). */
	fs_test_run_result res;
	if (!FS_CHECK(fs_env_stop_backend(&env, SIGTERM) >= 0 &&
	            fs_env_start_backend_with(&env, NULL) == 0,
	        "backend restarts")) {
		fs_env_fini(&env);
		return;
	}
	char *argv[] = {(char *) FLOWCTL_BIN, (char *) "--backend",
	    env.backend_url, (char *) "--json", (char *) "list", NULL};
	fs_test_run(&res, argv, NULL, NULL, 60000);
	FS_ASSERT_INT_EQ(res.exit_code, 0);
	FS_CHECK(json_is_array(res.json) && json_array_size(res.json) == N_RPC,
	    "flowctl list printed %zu flows (%.200s)",
	    json_array_size(res.json), res.err);
	FS_ASSERT_STR_EQ(json_string_value(
	                     json_object_get(json_array_get(res.json,
	                                         N_RPC - 1),
	                         "name")),
	    "flow_12344");
	fs_test_run_result_free(&res);
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
}

/* ---- how many lists at once --------------------------------------------- */

static void
test_views_capped(void)
{
	static const char *const svc[] = {"--list-views", "2", NULL};
	fs_test_env env;
	Flowsvc__ListReply *l;
	Flowsvc__Reply *rep;
	char *tok[2];
	fs_http_resp h;

	if (start(&env, "listcap", svc, 20000) != 0) {
		fs_env_fini(&env);
		return;
	}
	for (int i = 0; i < 2; i++) {
		FS_ASSERT_OK(list_call(&env, NULL, 100, NULL, &l, &rep));
		tok[i] = strdup(l->next_page_token);
		done(l, rep);
	}
	/* Both read just now: no room. */
	for (int i = 0; i < 2; i++) {
		FS_ASSERT_OK(list_call(&env, NULL, 100, tok[i], &l, &rep));
		done(l, rep);
	}
	FS_ASSERT_CODE(list_call(&env, NULL, 100, NULL, &l, &rep),
	    FS_UNAVAILABLE, rep);
	FS_CHECK(rep != NULL &&
	        strcmp(rep->message,
	            "Too many lists in progress; try again shortly.") == 0,
	    "message: %s", rep && rep->message ? rep->message : "(none)");
	done(l, rep);
	/* Through the gateway: 503; a list that fits one page is served. */
	fs_rest(&env, "GET", "/api/flows/", NULL, &h);
	FS_ASSERT_ERROR(&h, 503, "{\"detail\": \"Service unavailable.\"}");
	fs_http_resp_free(&h);
	fs_rest(&env, "GET", "/api/flows/?limit=10", NULL, &h);
	FS_ASSERT_STATUS(&h, 200);
	fs_http_resp_free(&h);
	/* Ending one (page_size 0 with its token) makes room. */
	FS_ASSERT_OK(list_call(&env, NULL, 0, tok[0], &l, &rep));
	done(l, rep);
	fs_liststream_opts o = {0};
	fs_liststream ls;
	fs_liststream_get(env.gw_port, "/api/flows/?limit=1500", &o, &ls);
	FS_ASSERT_INT_EQ(ls.status, 200);
	FS_CHECK(ls.complete && ls.items == 1500, "%zu flows, %s", ls.items,
	    ls.error);

	/* A client that goes away mid-list (7 MB, a 4 KiB window): the
	 * gateway ends the view at once, so the room is there for the next
	 * list well before the one-second idle rule would make it. (tok[1]'s
	 * view holds the other place: read it to keep it.) */
	FS_ASSERT_OK(list_call(&env, NULL, 100, tok[1], &l, &rep));
	done(l, rep);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 4096;
	struct sockaddr_in sa = {.sin_family = AF_INET,
	    .sin_port = htons((uint16_t) env.gw_port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	const char *get = "GET /api/flows/ HTTP/1.1\r\nHost: t\r\n\r\n";
	char buf[4096];
	CU_ASSERT_FATAL(fd >= 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) ==
	        0 &&
	    connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 &&
	    fs_raw_send(fd, get, strlen(get)) == 0);
	CU_ASSERT(recv(fd, buf, sizeof(buf), 0) > 0);
	int64_t closed = fs_test_now_ms();
	close(fd);
	int status = 0;
	while (fs_test_now_ms() - closed < 900) {
		FS_ASSERT_OK(list_call(&env, NULL, 100, tok[1], &l, &rep));
		done(l, rep);
		status = fs_http_status(env.gw_port, "/api/flows/?limit=1500");
		if (status == 200)
			break;
		fs_test_poll_pause(20);
	}
	FS_CHECK(status == 200,
	    "a list's view outlived its client by %lld ms (status %d)",
	    (long long) (fs_test_now_ms() - closed), status);
	free(tok[0]);
	free(tok[1]);
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
}

/* ---- retired memory -------------------------------------------------------- */

#define PINNED_FLOWS 20000

static void
test_pinned_memory_bounded(void)
{
	/* A short watch history: the changes it keeps are not the lists'. */
	static const char *const svc[] = {"--list-pinned-max", "4",
	    "--watch-history", "100", NULL};
	static char ids[PINNED_FLOWS][40];
	fs_test_env env;
	Flowsvc__ListReply *l;
	Flowsvc__Reply *rep;

	if (fs_env_init(&env, "listpinned") != 0)
		return;
	env.svc_extra = svc;
	if (!FS_CHECK(fs_env_start_programs(&env) == 0, "programs") ||
	    !FS_CHECK(fs_seed_flows(env.backend_url, "flow_", 0, PINNED_FLOWS,
	                  NULL, 1, ids) == 0,
	        "seeding")) {
		fs_env_fini(&env);
		return;
	}
	/* Once with no list open: what the updates themselves cost. */
	FS_CHECK(fs_seed_update(env.backend_url, ids, 0, PINNED_FLOWS, 10, 250,
	             'a') == 0,
	    "updates");
	long base = fs_proc_rss_kb(env.backend.pid);
	/* A list open, then every flow replaced twice (about 100 MB of
	 * replaced forms): it keeps at most 4 MiB of them alive, then ends. */
	FS_ASSERT_OK(list_call(&env, NULL, 100, NULL, &l, &rep));
	char *token = strdup(l->next_page_token);
	done(l, rep);
	long most = base;
	for (int round = 0; round < 2; round++) {
		FS_CHECK(fs_seed_update(env.backend_url, ids, 0, PINNED_FLOWS,
		             10, 250, (char) ('b' + round)) == 0,
		    "updates");
		long kb = fs_proc_rss_kb(env.backend.pid);
		if (kb > most)
			most = kb;
	}
	int code = FS_OK;
	for (int64_t until = fs_test_now_ms() + 5000;
	     code == FS_OK && fs_test_now_ms() < until;) {
		code = list_call(&env, NULL, 100, token, &l, &rep);
		done(l, rep);
		if (code == FS_OK)
			fs_test_poll_pause(50);
	}
	fprintf(stderr,
	    "  flow-service VmRSS %ld KiB after the first updates, %ld KiB "
	    "at most while a list was open\n",
	    base, most);
	FS_ASSERT_INT_EQ(code, FS_INVALID_ARGUMENT);
	FS_CHECK(most - base < 48 * 1024,
	    "the backend grew by %ld KiB while a list was open", most - base);
	free(token);
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
}

/* ---- through the gateway ------------------------------------------------- */

static void
check_list(fs_test_env *env, const char *path, int items, const char *total,
    const char *link)
{
	fs_http_resp r;

	fs_rest(env, "GET", path, NULL, &r);
	FS_ASSERT_STATUS(&r, 200);
	FS_CHECK(json_is_array(r.json) &&
	        json_array_size(r.json) == (size_t) items,
	    "%s: %zu items", path, json_array_size(r.json));
	const char *t = fs_http_header_get(&r, "X-Total-Count");
	const char *lk = fs_http_header_get(&r, "Link");
	FS_CHECK(t != NULL && strcmp(t, total) == 0, "%s: X-Total-Count %s",
	    path, t ? t : "(none)");
	FS_CHECK(link == NULL ? lk == NULL
	                      : lk != NULL && strcmp(lk, link) == 0,
	    "%s: Link %s, expected %s", path, lk ? lk : "(none)",
	    link ? link : "(none)");
	FS_CHECK(fs_http_header_get(&r, "X-Revision") != NULL,
	    "%s: X-Revision", path);
	fs_http_resp_free(&r);
}

static void
test_gateway_headers(void)
{
	fs_test_env env;

	if (start(&env, "listhead", NULL, 5) != 0) {
		fs_env_fini(&env);
		return;
	}
	check_list(&env, "/api/flows/", 5, "5", NULL);
	check_list(&env, "/api/flows/?limit=2", 2, "5",
	    "</api/flows/?limit=2&offset=2>; rel=\"next\"");
	check_list(&env, "/api/flows/?offset=1&limit=2&name__iexact=x%20y", 0,
	    "0", NULL);
	check_list(&env, "/api/flows/?offset=2&group__iexact=DEFAULT&limit=2",
	    2, "5",
	    "</api/flows/?group__iexact=DEFAULT&limit=2&offset=4>; "
	    "rel=\"next\"");
	check_list(&env, "/api/flows/?limit=2&offset=3", 2, "5", NULL);
	check_list(&env, "/api/flows/?limit=0", 0, "5", NULL);
	check_list(&env, "/api/flows/?offset=9", 0, "5", NULL);
	check_list(&env, "/api/apps/", 0, "0", NULL);
	check_list(&env, "/api/flows?name__iexact=FLOW_3", 1, "1", NULL);

	/* HEAD: the headers of GET, no body. */
	fs_liststream_opts o = {0};
	fs_liststream ls;
	o.method = "HEAD";
	fs_liststream_get(env.gw_port, "/api/flows/?limit=2", &o, &ls);
	FS_ASSERT_INT_EQ(ls.status, 200);
	FS_ASSERT_STR_EQ(ls.total, "5");
	FS_ASSERT_STR_EQ(ls.link,
	    "</api/flows/?limit=2&offset=2>; rel=\"next\"");
	FS_ASSERT_INT_EQ(ls.bytes, 0);
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
}

/* The backend stops answering mid-stream: the response ends without its
 * end, and the gateway goes on serving. */
struct freezer {
	fs_test_env *env;
	int frozen;
};

static int
freeze_at(void *arg, size_t index, json_t *item)
{
	struct freezer *f = arg;

	(void) item;
	if (index == 3000 && !f->frozen)
		f->frozen = fs_test_proc_freeze(&f->env->backend, 5000) == 0;
	return 0;
}

static void
test_broken_stream(void)
{
	fs_test_env env;
	struct freezer f = {&env, 0};
	fs_liststream_opts o = {0};
	fs_liststream ls;

	if (fs_env_init(&env, "listbroken") != 0)
		return;
	env.rpc_timeout_ms = 1000;
	if (!FS_CHECK(fs_env_start_programs(&env) == 0, "programs") ||
	    !FS_CHECK(fs_seed_flows(env.backend_url, "flow_", 0, 30000, NULL,
	                  2, NULL) == 0,
	        "seeding")) {
		fs_env_fini(&env);
		return;
	}
	o.rcvbuf = 16 * 1024;
	o.item = freeze_at;
	o.arg = &f;
	fs_liststream_get(env.gw_port, "/api/flows/", &o, &ls);
	if (f.frozen)
		fs_test_proc_cont(&env.backend);
	FS_CHECK(f.frozen, "the backend was frozen");
	FS_ASSERT_INT_EQ(ls.status, 200);
	FS_CHECK(!ls.complete && ls.items < 30000,
	    "a list whose pages stopped coming ended as if whole (%zu "
	    "flows): %s",
	    ls.items, ls.error[0] ? ls.error : "no error");
	fprintf(stderr, "  the broken list: %zu flows, then: %s\n", ls.items,
	    ls.error);
	/* Serving again. */
	CU_ASSERT(fs_env_wait_gateway_ready(&env) == 0);
	o.item = NULL;
	o.rcvbuf = 0;
	fs_liststream_get(env.gw_port, "/api/flows/", &o, &ls);
	FS_CHECK(ls.status == 200 && ls.complete && ls.items == 30000,
	    "after: %d, %zu flows, %s", ls.status, ls.items, ls.error);
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
}

int
main(void)
{
	const char *asan = getenv("ASAN_OPTIONS");
	char opts[1024];

	/* The backend's memory is measured: keep ASan's quarantine (256 MB
	 * of freed blocks by default) out of it. */
	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=8",
	    asan != NULL ? asan : "", asan != NULL && asan[0] ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);

	static CU_TestInfo tests[] = {{"RPC pages, tokens, flowctl",
	                                  test_rpc_pages_and_flowctl},
	    {"lists in progress capped", test_views_capped},
	    {"retired memory bounded", test_pinned_memory_bounded},
	    {"gateway headers", test_gateway_headers},
	    {"a broken stream ends broken", test_broken_stream},
	    CU_TEST_INFO_NULL};
	static CU_SuiteInfo suites[] = {{"list pages", NULL, NULL, NULL, NULL,
	                                    tests},
	    CU_SUITE_INFO_NULL};
	return fs_test_main(suites);
}
