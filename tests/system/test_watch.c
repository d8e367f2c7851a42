/*
 * test_watch.c - revisions and the Watch RPC (CONTRACT §7) against the
 * real backend, through the C client: every answer says its revision; a
 * watch answers at once with the changes after its revision, or at the
 * end of its wait with a bookmark; filters and the caller's groups;
 * OUT_OF_RANGE for a revision the backend never reached.
 *
 * The history across restarts, OUT_OF_RANGE past it, and list-then-watch
 * under writers and a kill -9: test_watch_history.c. Parked watches and
 * the server's pool of contexts: test_watch_parked.c.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_util.h"
#include "testlib.h"

static fs_test_env env;

static int
suite_init(void)
{
	return fs_env_init(&env, "watch") != 0 || fs_env_start_backend(&env);
}

static int
suite_fini(void)
{
	return fs_env_fini(&env);
}

static void
batch_free(Flowsvc__WatchReply **b, Flowsvc__Reply **r)
{
	if (b != NULL && *b != NULL)
		flowsvc__watch_reply__free_unpacked(*b, NULL);
	if (r != NULL && *r != NULL)
		flowsvc__reply__free_unpacked(*r, NULL);
	if (b != NULL)
		*b = NULL;
	if (r != NULL)
		*r = NULL;
}

/* Every answer carries the revision it reflects: a change the one it
 * took (the next), a read the current one, also a NOT_FOUND. */
static void
test_revisions_in_replies(void)
{
	char id[FS_UUID_STRLEN + 1];
	uint64_t r0 = fs_tw_revision(env.client), r, rg;
	Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;
	Flowsvc__ListRequest l = FLOWSVC__LIST_REQUEST__INIT;

	if (!FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW,
	        "rev_a", NULL, NULL, 0, NULL, id, &r)))
		return;
	FS_ASSERT_INT_EQ(r, r0 + 1);
	FS_ASSERT_OK(fs_tw_update(env.client, id, "o1", &r));
	FS_ASSERT_INT_EQ(r, r0 + 2);
	FS_ASSERT_OK(
	    fs_tw_change(env.client, FLOWSVC__METHOD__DEPLOY, id, &r));
	FS_ASSERT_INT_EQ(r, r0 + 3);
	g.id = id;
	l.has_kind = 1;
	l.kind = FLOWSVC__KIND__FLOW;
	FS_ASSERT_OK(fs_tw_call(env.client, FLOWSVC__METHOD__GET, &g.base,
	    NULL, NULL, NULL, &rg));
	FS_ASSERT_INT_EQ(rg, r0 + 3);
	FS_ASSERT_OK(
	    fs_tw_change(env.client, FLOWSVC__METHOD__GET_STATUS, id, &rg));
	FS_ASSERT_INT_EQ(rg, r0 + 3);
	FS_ASSERT_OK(fs_tw_call(env.client, FLOWSVC__METHOD__LIST, &l.base,
	    NULL, NULL, NULL, &rg));
	FS_ASSERT_INT_EQ(rg, r0 + 3);
	FS_ASSERT_OK(
	    fs_tw_change(env.client, FLOWSVC__METHOD__DELETE, id, &r));
	FS_ASSERT_INT_EQ(r, r0 + 4);
	FS_ASSERT_CODE(fs_tw_call(env.client, FLOWSVC__METHOD__GET, &g.base,
	                   NULL, NULL, NULL, &rg),
	    FS_NOT_FOUND, NULL);
	FS_ASSERT_INT_EQ(rg, r0 + 4);
	FS_ASSERT_INT_EQ(fs_tw_revision(env.client), r0 + 4);
}

/* Changes after a revision come at once, in order, each with its type,
 * revision, component (as it was, for a delete) and status; the answer
 * is complete up to the last of them. */
static void
test_watch_answers_changes(void)
{
	char a[FS_UUID_STRLEN + 1], b[FS_UUID_STRLEN + 1];
	uint64_t r0 = fs_tw_revision(env.client), r;
	Flowsvc__WatchReply *w = NULL;
	Flowsvc__Reply *rep = NULL;

	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "ch_a",
	    "g1", NULL, 0, NULL, a, NULL));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__APP, "ch_b", "g2",
	    NULL, 0, NULL, b, NULL));
	FS_ASSERT_OK(fs_tw_update(env.client, a, "x", NULL));
	FS_ASSERT_OK(
	    fs_tw_change(env.client, FLOWSVC__METHOD__DEPLOY, b, NULL));
	FS_ASSERT_OK(fs_tw_change(env.client, FLOWSVC__METHOD__DELETE, a, &r));
	if (!FS_ASSERT_OK(fs_tw_watch(env.client, 1, r0, 0, NULL, 5000, 0,
	        NULL, &w, &rep)))
		return;
	FS_ASSERT_INT_EQ(rep->revision, r0 + 5);
	FS_ASSERT_INT_EQ(w->revision, r0 + 5);
	if (FS_ASSERT_INT_EQ(w->n_events, 5)) {
		static const int types[5] = {FLOWSVC__EVENT_TYPE__ADDED,
		    FLOWSVC__EVENT_TYPE__ADDED, FLOWSVC__EVENT_TYPE__MODIFIED,
		    FLOWSVC__EVENT_TYPE__STATUS, FLOWSVC__EVENT_TYPE__DELETED};
		for (int i = 0; i < 5; i++) {
			FS_ASSERT_INT_EQ(w->events[i]->type, types[i]);
			FS_ASSERT_INT_EQ(w->events[i]->revision, r0 + 1 + i);
		}
		FS_ASSERT_STR_EQ(w->events[0]->component->id, a);
		FS_ASSERT_INT_EQ(w->events[0]->component->version, 1);
		FS_ASSERT_STR_EQ(w->events[2]->component->output_fields[0],
		    "x");
		FS_ASSERT_STR_EQ(w->events[3]->component->id, b);
		FS_ASSERT_INT_EQ(w->events[3]->status,
		    FLOWSVC__STATUS__STARTED);
		/* Deleted: as it was (the update's version, its fields). */
		FS_ASSERT_STR_EQ(w->events[4]->component->id, a);
		FS_ASSERT_INT_EQ(w->events[4]->component->version, 2);
		FS_ASSERT_INT_EQ(w->events[4]->component->n_output_fields, 1);
	}
	batch_free(&w, &rep);
	/* max_events: the first two, complete up to the second. */
	if (FS_ASSERT_OK(fs_tw_watch(env.client, 1, r0, 0, NULL, 0, 2, NULL,
	        &w, NULL))) {
		FS_ASSERT_INT_EQ(w->n_events, 2);
		FS_ASSERT_INT_EQ(w->revision, r0 + 2);
	}
	batch_free(&w, NULL);
}

/* Filters: kind, group (any case), both; events in revision order. */
static void
test_watch_filters(void)
{
	uint64_t r0 = fs_tw_revision(env.client);
	Flowsvc__WatchReply *w = NULL;

	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "fi_1",
	    "Alpha", NULL, 0, NULL, NULL, NULL));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__APP, "fi_2",
	    "alpha", NULL, 0, NULL, NULL, NULL));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "fi_3",
	    "beta", NULL, 0, NULL, NULL, NULL));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__APP, "fi_4",
	    "beta", NULL, 0, NULL, NULL, NULL));
	if (FS_ASSERT_OK(fs_tw_watch(env.client, 1, r0, FLOWSVC__KIND__APP,
	        NULL, 0, 0, NULL, &w, NULL)) &&
	    FS_ASSERT_INT_EQ(w->n_events, 2)) {
		FS_ASSERT_STR_EQ(w->events[0]->component->name, "fi_2");
		FS_ASSERT_STR_EQ(w->events[1]->component->name, "fi_4");
		FS_ASSERT_INT_EQ(w->revision, r0 + 4);
	}
	batch_free(&w, NULL);
	if (FS_ASSERT_OK(fs_tw_watch(env.client, 1, r0, 0, "ALPHA", 0, 0, NULL,
	        &w, NULL)) &&
	    FS_ASSERT_INT_EQ(w->n_events, 2)) {
		FS_ASSERT_STR_EQ(w->events[0]->component->name, "fi_1");
		FS_ASSERT_STR_EQ(w->events[1]->component->name, "fi_2");
	}
	batch_free(&w, NULL);
	if (FS_ASSERT_OK(fs_tw_watch(env.client, 1, r0, FLOWSVC__KIND__FLOW,
	        "beta", 0, 0, NULL, &w, NULL)) &&
	    FS_ASSERT_INT_EQ(w->n_events, 1))
		FS_ASSERT_STR_EQ(w->events[0]->component->name, "fi_3");
	batch_free(&w, NULL);
	/* Nothing matches: a bookmark, complete up to the current one. */
	if (FS_ASSERT_OK(fs_tw_watch(env.client, 1, r0, 0, "gamma", 0, 0, NULL,
	        &w, NULL))) {
		FS_ASSERT_INT_EQ(w->n_events, 0);
		FS_ASSERT_INT_EQ(w->revision, r0 + 4);
	}
	batch_free(&w, NULL);
}

struct waiter {
	uint64_t since;
	const char *group;
	uint32_t wait_ms;
	int code;
	Flowsvc__WatchReply *w;
	int64_t ms;
};

static void *
waiter_main(void *arg)
{
	struct waiter *x = arg;
	int64_t t0 = fs_test_now_ms();

	x->code = fs_tw_watch(env.client, 1, x->since, 0, x->group, x->wait_ms,
	    0, NULL, &x->w, NULL);
	x->ms = fs_test_now_ms() - t0;
	return NULL;
}

/* With nothing to answer, a watch waits: answered when a matching change
 * comes (not for others), else at the end of its wait with a bookmark
 * that has moved past the changes it did not want. */
static void
test_watch_waits(void)
{
	uint64_t r0 = fs_tw_revision(env.client);
	struct waiter x = {r0, "wait_g", 20000, -1, NULL, 0};
	struct waiter y = {r0, "wait_none", 700, -1, NULL, 0};
	pthread_t tx, ty;

	pthread_create(&tx, NULL, waiter_main, &x);
	pthread_create(&ty, NULL, waiter_main, &y);
	/* Once both wait, a change of another group wakes neither. */
	FS_CHECK(fs_tw_wait_parked(env.client, 2, 10000) == 0,
	    "two watches never waited");
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "wait_1",
	    "other", NULL, 0, NULL, NULL, NULL));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "wait_2",
	    "wait_g", NULL, 0, NULL, NULL, NULL));
	pthread_join(tx, NULL);
	pthread_join(ty, NULL);
	if (FS_ASSERT_OK(x.code)) {
		FS_CHECK(x.ms < 10000, "answered after %lld ms",
		    (long long) x.ms);
		FS_ASSERT_INT_EQ(x.w->n_events, 1);
		FS_ASSERT_INT_EQ(x.w->revision, r0 + 2);
	}
	if (FS_ASSERT_OK(y.code)) {
		FS_CHECK(y.ms >= 600, "bookmark after only %lld ms",
		    (long long) y.ms);
		FS_ASSERT_INT_EQ(y.w->n_events, 0);
		FS_ASSERT_INT_EQ(y.w->revision, r0 + 2);
	}
	batch_free(&x.w, NULL);
	batch_free(&y.w, NULL);
}

/* A restricted caller sees the changes of its groups only: no delete of a
 * hidden component, and the references of its components without the
 * flows of groups it may not see. A trusted caller gets the groups of
 * such references (flow_groups), to scope events itself. */
static void
test_watch_access(void)
{
	char hb[FS_UUID_STRLEN + 1], fb[FS_UUID_STRLEN + 1],
	    fa[FS_UUID_STRLEN + 1], ca[FS_UUID_STRLEN + 1];
	char *groups[] = {(char *) "acc_a"};
	Flowsvc__Caller who = FLOWSVC__CALLER__INIT;
	uint64_t r0 = fs_tw_revision(env.client);
	Flowsvc__WatchReply *w = NULL;

	who.has_restricted = who.restricted = 1;
	who.n_groups = 1;
	who.groups = groups;
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "acc_h",
	    "acc_b", NULL, 0, NULL, hb, NULL));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "acc_fb",
	    "acc_b", NULL, 0, NULL, fb, NULL));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "acc_fa",
	    "acc_a", NULL, 0, NULL, fa, NULL));
	const char *uses[] = {fb, fa};
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__APP, "acc_c",
	    "acc_a", uses, 2, NULL, ca, NULL));
	FS_ASSERT_OK(
	    fs_tw_change(env.client, FLOWSVC__METHOD__DELETE, hb, NULL));
	FS_ASSERT_OK(
	    fs_tw_change(env.client, FLOWSVC__METHOD__DEPLOY, fb, NULL));

	if (FS_ASSERT_OK(fs_tw_watch(env.client, 1, r0, 0, NULL, 0, 0, &who,
	        &w, NULL)) &&
	    FS_ASSERT_INT_EQ(w->n_events, 2)) {
		FS_ASSERT_STR_EQ(w->events[0]->component->id, fa);
		Flowsvc__Component *c = w->events[1]->component;
		FS_ASSERT_STR_EQ(c->id, ca);
		if (FS_ASSERT_INT_EQ(c->n_flows, 1))
			FS_ASSERT_STR_EQ(c->flows[0], fa);
		FS_ASSERT_INT_EQ(w->revision, r0 + 6);
	}
	batch_free(&w, NULL);
	/* Its own group filter naming a group it may not see: nothing. */
	if (FS_ASSERT_OK(fs_tw_watch(env.client, 1, r0, 0, "acc_b", 0, 0, &who,
	        &w, NULL)))
		FS_ASSERT_INT_EQ(w->n_events, 0);
	batch_free(&w, NULL);
	/* Trusted: all six, and the app's references with their groups. */
	if (FS_ASSERT_OK(fs_tw_watch(env.client, 1, r0, 0, NULL, 0, 0, NULL,
	        &w, NULL)) &&
	    FS_ASSERT_INT_EQ(w->n_events, 6)) {
		Flowsvc__WatchEvent *e = w->events[3];
		FS_ASSERT_INT_EQ(e->component->n_flows, 2);
		if (FS_ASSERT_INT_EQ(e->n_flow_groups, 2)) {
			FS_ASSERT_STR_EQ(e->flow_groups[0], "acc_b");
			FS_ASSERT_STR_EQ(e->flow_groups[1], "acc_a");
		}
		FS_ASSERT_INT_EQ(w->events[0]->n_flow_groups, 0);
		FS_ASSERT_INT_EQ(w->events[4]->type,
		    FLOWSVC__EVENT_TYPE__DELETED);
	}
	batch_free(&w, NULL);
}

/* Bad requests: a wait over 60 s, a kind that is no kind. */
static void
test_watch_bad_requests(void)
{
	Flowsvc__WatchRequest m = FLOWSVC__WATCH_REQUEST__INIT;
	Flowsvc__Reply *rep = NULL;

	m.has_wait_ms = 1;
	m.wait_ms = 60001;
	FS_ASSERT_CODE(fs_client_call(env.client, FLOWSVC__METHOD__WATCH,
	                   &m.base, NULL, &rep),
	    FS_INVALID_ARGUMENT, rep);
	if (rep != NULL && FS_ASSERT_INT_EQ(rep->n_violations, 1))
		FS_ASSERT_STR_EQ(rep->violations[0]->field, "wait_ms");
	batch_free(NULL, &rep);
	m.wait_ms = 0;
	m.has_kind = 1;
	m.kind = (Flowsvc__Kind) 7;
	FS_ASSERT_CODE(fs_client_call(env.client, FLOWSVC__METHOD__WATCH,
	                   &m.base, NULL, &rep),
	    FS_INVALID_ARGUMENT, rep);
	batch_free(NULL, &rep);
}

/* A revision past the current one was never reached here: OUT_OF_RANGE,
 * with the current revision, so the caller lists again. */
static void
test_watch_future_revision(void)
{
	uint64_t cur = fs_tw_revision(env.client);
	Flowsvc__WatchReply *w = NULL;
	Flowsvc__Reply *rep = NULL;

	FS_ASSERT_CODE(fs_tw_watch(env.client, 1, cur + 10, 0, NULL, 0, 0,
	                   NULL, &w, &rep),
	    FS_OUT_OF_RANGE, rep);
	if (rep != NULL) {
		FS_ASSERT_INT_EQ(rep->revision, cur);
		FS_CHECK(strstr(rep->message, "in the future") != NULL, "%s",
		    rep->message);
	}
	batch_free(&w, &rep);
	/* From now (no since): complete up to the current one. */
	if (FS_ASSERT_OK(
	        fs_tw_watch(env.client, 0, 0, 0, NULL, 0, 0, NULL, &w, NULL)))
		FS_ASSERT_INT_EQ(w->revision, cur);
	batch_free(&w, NULL);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"every answer carries its revision", test_revisions_in_replies},
	{"watch answers the changes after a revision",
	    test_watch_answers_changes},
	{"kind and group filters", test_watch_filters},
	{"a watch waits for a matching change, else a bookmark",
	    test_watch_waits},
	{"a restricted caller sees its groups only", test_watch_access},
	{"bad requests", test_watch_bad_requests},
	{"a future revision is OUT_OF_RANGE", test_watch_future_revision},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"watch", suite_init, suite_fini, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
