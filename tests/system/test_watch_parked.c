/*
 * test_watch_parked.c - watches that wait (CONTRACT §7: "Watches in
 * progress never take the contexts that serve other requests"): parked
 * watches hold none of the backend's --contexts, and do not count
 * against --max-inflight-per-conn but against caps of their own; a
 * thousand of them from one client leave another client's Gets and
 * Creates answered promptly; a change wakes the ones it concerns;
 * SIGTERM answers them at once with their bookmark and the backend still
 * exits cleanly; closing a client ends its own at once.
 *
 * Each test starts its own backend.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_util.h"
#include "testlib.h"

/* Gets of id, timed: the slowest one in *max_ms. Returns how many were
 * answered OK. */
static int
timed_gets(fs_client *c, const char *id, int n, int64_t *max_ms)
{
	Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;
	int ok = 0;

	g.id = (char *) id;
	*max_ms = 0;
	for (int i = 0; i < n; i++) {
		int64_t t0 = fs_test_now_ms();
		ok += fs_tw_call(c, FLOWSVC__METHOD__GET, &g.base, NULL, NULL,
		          NULL, NULL) == FS_OK;
		int64_t ms = fs_test_now_ms() - t0;
		if (ms > *max_ms)
			*max_ms = ms;
	}
	return ok;
}

/* With two contexts, fifty parked watches leave both free: Stats, Gets
 * and a Create are answered, and the Create wakes all fifty. */
static void
test_parked_hold_no_context(void)
{
	static const char *const flags[] = {"--contexts", "2", NULL};
	fs_tw_outcomes o = {0};
	fs_test_env env;
	char id[FS_UUID_STRLEN + 1];
	int64_t max_ms;

	if (fs_env_init(&env, "parked_ctx") != 0)
		return;
	env.svc_extra = flags;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend"))
		goto out;
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "pc_x",
	    NULL, NULL, 0, NULL, id, NULL));
	uint64_t cur = fs_tw_revision(env.client);
	FS_ASSERT_INT_EQ(fs_tw_park(env.client, 50, cur, "pc_g", 30000, 0, &o),
	    50);
	if (!FS_CHECK(fs_tw_wait_parked(env.client, 50, 10000) == 0,
	        "50 parked watches, seen by Stats: %lld",
	        (long long) fs_tw_parked(env.client)))
		goto out;
	FS_ASSERT_INT_EQ(timed_gets(env.client, id, 20, &max_ms), 20);
	FS_CHECK(max_ms < 3000, "a Get took %lld ms", (long long) max_ms);
	FS_ASSERT_INT_EQ(atomic_load(&o.done), 0);
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "pc_y",
	    "pc_g", NULL, 0, NULL, NULL, NULL));
	FS_CHECK(fs_tw_wait_done(&o, 50, 10000) == 0, "%d of 50 answered",
	    atomic_load(&o.done));
	FS_ASSERT_INT_EQ(atomic_load(&o.ok), 50);
	FS_ASSERT_INT_EQ(atomic_load(&o.events), 50);
	FS_ASSERT_INT_EQ(fs_tw_parked(env.client), 0);
out:
	fs_env_fini(&env);
}

/* Long polls have caps of their own: per connection, and in all; one
 * over them is answered at once (RESOURCE_EXHAUSTED), and a connection
 * full of them still has all its ordinary requests. */
static void
test_parked_caps(void)
{
	static const char *const flags[] = {"--max-watches-per-conn", "10",
	    "--max-watches", "15", "--max-inflight-per-conn", "4", NULL};
	fs_tw_outcomes a = {0}, b = {0};
	fs_test_env env;
	fs_client *c2 = NULL;
	char id[FS_UUID_STRLEN + 1];
	int64_t max_ms;
	Flowsvc__WatchReply *w = NULL;
	Flowsvc__Reply *rep = NULL;

	if (fs_env_init(&env, "parked_caps") != 0)
		return;
	env.svc_extra = flags;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend") ||
	    !FS_ASSERT_OK(fs_client_open(&c2, env.backend_url)))
		goto out;
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "cap_x",
	    NULL, NULL, 0, NULL, id, NULL));
	uint64_t cur = fs_tw_revision(env.client);
	fs_tw_park(env.client, 10, cur, "cap_g", 30000, 0, &a);
	FS_CHECK(fs_tw_wait_parked(env.client, 10, 10000) == 0, "10 parked");
	FS_ASSERT_CODE(fs_tw_watch(env.client, 1, cur, 0, "cap_g", 30000, 0,
	                   NULL, &w, &rep),
	    FS_RESOURCE_EXHAUSTED, rep);
	if (rep != NULL)
		FS_ASSERT_STR_EQ(rep->message,
		    "Too many long polls in progress on this connection (at "
		    "most 10).");
	if (rep != NULL)
		flowsvc__reply__free_unpacked(rep, NULL);
	rep = NULL;
	/* Ten waiting, and more than --max-inflight-per-conn Gets. */
	FS_ASSERT_INT_EQ(timed_gets(env.client, id, 20, &max_ms), 20);
	fs_tw_park(c2, 5, cur, "cap_g", 30000, 0, &b);
	FS_CHECK(fs_tw_wait_parked(env.client, 15, 10000) == 0, "15 parked");
	FS_ASSERT_CODE(fs_tw_watch(c2, 1, cur, 0, "cap_g", 30000, 0, NULL, &w,
	                   &rep),
	    FS_RESOURCE_EXHAUSTED, rep);
	if (rep != NULL)
		FS_ASSERT_STR_EQ(rep->message,
		    "Too many long polls in progress on this backend (at most "
		    "15).");
	if (rep != NULL)
		flowsvc__reply__free_unpacked(rep, NULL);
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "cap_y",
	    "cap_g", NULL, 0, NULL, NULL, NULL));
	FS_CHECK(fs_tw_wait_done(&a, 10, 10000) == 0 &&
	        fs_tw_wait_done(&b, 5, 10000) == 0,
	    "woken: %d and %d", atomic_load(&a.done), atomic_load(&b.done));
	FS_ASSERT_INT_EQ(atomic_load(&a.ok) + atomic_load(&b.ok), 15);
	/* Their places are free again. */
	if (FS_ASSERT_OK(fs_tw_watch(env.client, 1, cur, 0, "cap_g", 0, 0,
	        NULL, &w, NULL)))
		FS_ASSERT_INT_EQ(w->n_events, 1);
	if (w != NULL)
		flowsvc__watch_reply__free_unpacked(w, NULL);
out:
	fs_client_close(c2);
	fs_env_fini(&env);
}

/* A thousand watches parked by one client; another client's Gets and
 * Creates are answered promptly meanwhile; SIGTERM answers all thousand
 * at once with their bookmark, and the backend exits 0. */
static void
test_parked_thousand(void)
{
	fs_tw_outcomes o = {0};
	fs_test_env env;
	fs_client *wc = NULL;
	char id[FS_UUID_STRLEN + 1];
	int64_t max_get, max_create = 0;

	if (fs_env_init(&env, "parked_1k") != 0)
		return;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend") ||
	    !FS_ASSERT_OK(fs_client_open(&wc, env.backend_url)))
		goto out;
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "k_x", NULL,
	    NULL, 0, NULL, id, NULL));
	uint64_t cur = fs_tw_revision(env.client);
	FS_ASSERT_INT_EQ(fs_tw_park(wc, 1000, cur, "k_none", 60000, 0, &o),
	    1000);
	if (!FS_CHECK(fs_tw_wait_parked(env.client, 1000, 30000) == 0,
	        "1000 parked: %lld", (long long) fs_tw_parked(env.client)))
		goto out;
	int64_t t0 = fs_test_now_ms();
	FS_ASSERT_INT_EQ(timed_gets(env.client, id, 200, &max_get), 200);
	for (int i = 0; i < 50; i++) {
		char name[32];
		int64_t t1 = fs_test_now_ms();
		snprintf(name, sizeof(name), "k_c%d", i);
		FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW,
		    name, NULL, NULL, 0, NULL, NULL, NULL));
		if (fs_test_now_ms() - t1 > max_create)
			max_create = fs_test_now_ms() - t1;
	}
	int64_t total = fs_test_now_ms() - t0;
	fprintf(stderr,
	    "  beside 1000 parked watches: 200 Gets and 50 Creates in %lld "
	    "ms (slowest Get %lld ms, Create %lld ms)\n",
	    (long long) total, (long long) max_get, (long long) max_create);
	FS_CHECK(max_get < 3000 && max_create < 3000 && total < 20000,
	    "slow: total %lld ms, Get %lld ms, Create %lld ms",
	    (long long) total, (long long) max_get, (long long) max_create);
	FS_ASSERT_INT_EQ(atomic_load(&o.done), 0);

	/* Shutdown answers them now (not in a minute), with the bookmark. */
	t0 = fs_test_now_ms();
	int st = fs_env_stop_backend(&env, SIGTERM);
	FS_CHECK(fs_test_exited_zero(st), "exit status 0x%x", st);
	FS_CHECK(fs_tw_wait_done(&o, 1000, 10000) == 0, "%d of 1000 answered",
	    atomic_load(&o.done));
	FS_CHECK(fs_test_now_ms() - t0 < 15000, "shutdown took %lld ms",
	    (long long) (fs_test_now_ms() - t0));
	FS_ASSERT_INT_EQ(atomic_load(&o.ok), 1000);
	FS_ASSERT_INT_EQ(atomic_load(&o.events), 0);
	FS_ASSERT_INT_EQ(atomic_load(&o.revision), cur + 50);
out:
	fs_client_close(wc);
	fs_env_fini(&env);
}

/* Closing a client ends its parked watches at once (UNAVAILABLE), not
 * after their wait. */
static void
test_client_close_ends_watches(void)
{
	fs_tw_outcomes o = {0};
	fs_test_env env;
	fs_client *wc = NULL;

	if (fs_env_init(&env, "parked_close") != 0)
		return;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend") ||
	    !FS_ASSERT_OK(fs_client_open(&wc, env.backend_url)))
		goto out;
	uint64_t cur = fs_tw_revision(env.client);
	FS_ASSERT_INT_EQ(fs_tw_park(wc, 20, cur, "cl_none", 60000, 0, &o), 20);
	FS_CHECK(fs_tw_wait_parked(env.client, 20, 10000) == 0, "20 parked");
	int64_t t0 = fs_test_now_ms();
	fs_client_close(wc);
	wc = NULL;
	int64_t ms = fs_test_now_ms() - t0;
	FS_CHECK(ms < 10000, "fs_client_close took %lld ms", (long long) ms);
	FS_ASSERT_INT_EQ(atomic_load(&o.done), 20);
	FS_ASSERT_INT_EQ(atomic_load(&o.unavailable), 20);
out:
	fs_client_close(wc);
	fs_env_fini(&env);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"parked watches hold no serving context",
	    test_parked_hold_no_context},
	{"long polls have caps of their own", test_parked_caps},
	{"1000 parked: others served, SIGTERM answers them",
	    test_parked_thousand},
	{"closing a client ends its watches", test_client_close_ends_watches},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"parked watches", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
