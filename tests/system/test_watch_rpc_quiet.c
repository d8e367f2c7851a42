/*
 * test_watch_rpc_quiet.c - a watch of a quiet group outlives the history
 * (CONTRACT §7: every answer says up to which revision it is complete,
 * also when no event matched; OUT_OF_RANGE only for a revision the
 * history no longer covers). With --watch-history 20, watches parked on
 * a group nobody writes while 60 changes of another group go by: the one
 * woken by a change of its group gets exactly that change, the one whose
 * wait ends gets a bookmark at the current revision, and the client's
 * loop (fs_watch_start) keeps going on its bookmarks; none of them is
 * told OUT_OF_RANGE for changes it never wanted. And after more than the
 * history's worth of changes while no watch waited, the first watch to
 * park waits for its change instead of being answered at once.
 *
 * Each test starts its own backend.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_util.h"
#include "testlib.h"

#define HISTORY "20"
#define OTHERS 60

static const char *const small[] = {"--watch-history", HISTORY, NULL};

struct waiter {
	fs_client *c;
	uint64_t since;
	const char *group;
	uint32_t wait_ms;
	int code;
	Flowsvc__WatchReply *w;
	Flowsvc__Reply *rep;
};

static void *
waiter_main(void *arg)
{
	struct waiter *x = arg;

	x->code = fs_tw_watch(x->c, 1, x->since, 0, x->group, x->wait_ms, 0,
	    NULL, &x->w, &x->rep);
	return NULL;
}

static void
waiter_free(struct waiter *x)
{
	if (x->w != NULL)
		flowsvc__watch_reply__free_unpacked(x->w, NULL);
	if (x->rep != NULL)
		flowsvc__reply__free_unpacked(x->rep, NULL);
	x->w = NULL;
	x->rep = NULL;
}

/* OTHERS changes of group "busy" (new names each time). */
static int
busy_changes(fs_client *c)
{
	static int round;

	round++;
	for (int i = 0; i < OTHERS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "busy_%d_%d", round, i);
		int code = fs_tw_create(c, FLOWSVC__KIND__FLOW, name, "busy",
		    NULL, 0, NULL, NULL, NULL);
		if (code != FS_OK)
			return code;
	}
	return FS_OK;
}

static void
test_parked_quiet_watches(void)
{
	fs_test_env env;
	struct waiter woken, timed;
	pthread_t t1, t2;
	char id[FS_UUID_STRLEN + 1];
	uint64_t rev = 0;

	memset(&woken, 0, sizeof(woken));
	memset(&timed, 0, sizeof(timed));
	if (fs_env_init(&env, "watch_quiet") != 0)
		return;
	env.svc_extra = small;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend"))
		goto out;
	uint64_t r0 = fs_tw_revision(env.client);
	woken =
	    (struct waiter){env.client, r0, "quiet", 30000, -1, NULL, NULL};
	timed =
	    (struct waiter){env.client, r0, "QUIET2", 3000, -1, NULL, NULL};
	pthread_create(&t1, NULL, waiter_main, &woken);
	pthread_create(&t2, NULL, waiter_main, &timed);
	if (!FS_CHECK(fs_tw_wait_parked(env.client, 2, 10000) == 0,
	        "the two watches never waited")) {
		/* Let them end before the env goes. */
		pthread_join(t1, NULL);
		pthread_join(t2, NULL);
		goto out;
	}
	/* Three times the history, none of it theirs. */
	FS_ASSERT_OK(busy_changes(env.client));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__APP, "quiet_1",
	    "Quiet", NULL, 0, NULL, id, &rev));
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);

	if (FS_ASSERT_CODE(woken.code, FS_OK, woken.rep) &&
	    FS_ASSERT_INT_EQ(woken.w->n_events, 1)) {
		FS_ASSERT_STR_EQ(woken.w->events[0]->component->id, id);
		FS_ASSERT_INT_EQ(woken.w->events[0]->revision, rev);
		FS_ASSERT_INT_EQ(woken.w->revision, rev);
	}
	/* Its wait ended: a bookmark past everything it did not want. */
	if (FS_ASSERT_CODE(timed.code, FS_OK, timed.rep)) {
		FS_ASSERT_INT_EQ(timed.w->n_events, 0);
		FS_ASSERT_INT_EQ(timed.w->revision, r0 + OTHERS + 1);
	}
	/* And a watch from that bookmark goes on. */
	waiter_free(&timed);
	timed.since = r0 + OTHERS + 1;
	timed.wait_ms = 0;
	waiter_main(&timed);
	FS_ASSERT_CODE(timed.code, FS_OK, timed.rep);
out:
	waiter_free(&woken);
	waiter_free(&timed);
	fs_env_fini(&env);
}

/* The client's loop on a quiet group: its bookmarks keep it inside the
 * history while other groups change, and it delivers its group's change
 * when it comes. */
static void
test_loop_on_quiet_group(void)
{
	fs_test_env env;
	fs_tw_loop l;
	fs_client *wc = NULL;
	char id[FS_UUID_STRLEN + 1];
	uint64_t rev = 0;

	memset(&l, 0, sizeof(l));
	if (fs_env_init(&env, "watch_quiet_loop") != 0)
		return;
	env.svc_extra = small;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend") ||
	    !FS_ASSERT_OK(fs_client_open(&wc, env.backend_url)))
		goto out;
	uint64_t r0 = fs_tw_revision(env.client);
	if (!FS_ASSERT_OK(
	        fs_tw_loop_start_group(&l, wc, 1, r0, 20000, "quiet")))
		goto out;
	if (!FS_CHECK(fs_tw_wait_parked(env.client, 1, 10000) == 0,
	        "the loop never waited"))
		goto stop;
	for (int round = 0; round < 3; round++)
		FS_ASSERT_OK(busy_changes(env.client));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "quiet_f",
	    "quiet", NULL, 0, NULL, id, &rev));
	FS_CHECK(fs_tw_loop_wait(&l, rev, 20000) == 0,
	    "the loop reached %llu of %llu (ended: %d, code %d)",
	    (unsigned long long) fs_tw_loop_pos(&l), (unsigned long long) rev,
	    l.ended, l.code);
stop:
	FS_ASSERT_OK(fs_tw_loop_stop(&l));
	if (FS_ASSERT_INT_EQ(l.n, 1)) {
		FS_ASSERT_STR_EQ(l.ev[0].id, id);
		FS_ASSERT_INT_EQ(l.ev[0].revision, rev);
	}
out:
	fs_tw_loop_free(&l);
	fs_client_close(wc);
	fs_env_fini(&env);
}

/* Past the history's worth of changes while no watch waited, the first
 * watch to park waits for its change like any other (it was answered at
 * once with nothing, as if the backend had fallen behind). */
static void
test_first_park_after_idle(void)
{
	fs_test_env env;
	struct waiter x;
	pthread_t t;
	char id[FS_UUID_STRLEN + 1];
	uint64_t rev = 0;

	memset(&x, 0, sizeof(x));
	if (fs_env_init(&env, "watch_quiet_idle") != 0)
		return;
	env.svc_extra = small;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend"))
		goto out;
	FS_ASSERT_OK(busy_changes(env.client));
	uint64_t cur = fs_tw_revision(env.client);
	x = (struct waiter){env.client, cur, "quiet3", 30000, -1, NULL, NULL};
	pthread_create(&t, NULL, waiter_main, &x);
	FS_CHECK(fs_tw_wait_parked(env.client, 1, 10000) == 0,
	    "the watch never waited");
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "quiet_3",
	    "quiet3", NULL, 0, NULL, id, &rev));
	pthread_join(t, NULL);
	if (FS_ASSERT_CODE(x.code, FS_OK, x.rep) &&
	    FS_ASSERT_INT_EQ(x.w->n_events, 1)) {
		FS_ASSERT_STR_EQ(x.w->events[0]->component->id, id);
		FS_ASSERT_INT_EQ(x.w->revision, rev);
	}
out:
	waiter_free(&x);
	fs_env_fini(&env);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"parked watches of a quiet group outlive the history",
	    test_parked_quiet_watches},
	{"the client's loop on a quiet group outlives the history",
	    test_loop_on_quiet_group},
	{"the first watch to park after an idle spell waits",
	    test_first_park_after_idle},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"quiet watches", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
