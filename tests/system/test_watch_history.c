/*
 * test_watch_history.c - the Watch history across restarts (CONTRACT §7):
 * rebuilt from the change logs after SIGTERM and after kill -9, also
 * across snapshots, with every kind of change (a delete as it was, a
 * status change); OUT_OF_RANGE, naming the oldest revision kept, past a
 * small --watch-history; and list-then-watch through the client's watch
 * loop while 16 writers change the store and the backend is killed and
 * restarted: every acknowledged change is delivered exactly once, in
 * revision order, and the list plus the events is the state at the end.
 *
 * Each test starts its own backend.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_util.h"
#include "testlib.h"

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

/* ---- rebuilt after a restart -------------------------------------------- */

struct want {
	int type;
	const char *id;
	int64_t version;
	int status;
};

/* The events after since are exactly want[0..n), from since + 1 on. */
static void
check_history(fs_client *c, uint64_t since, const struct want *want, size_t n,
    const char *when)
{
	Flowsvc__WatchReply *w = NULL;
	Flowsvc__Reply *rep = NULL;

	if (!FS_ASSERT_CODE(fs_tw_watch(c, 1, since, 0, NULL, 0, 0, NULL, &w,
	                        &rep),
	        FS_OK, rep)) {
		batch_free(&w, &rep);
		return;
	}
	FS_CHECK(w->n_events == n, "%s: %zu events, expected %zu", when,
	    w->n_events, n);
	for (size_t i = 0; i < n && i < w->n_events; i++) {
		const Flowsvc__WatchEvent *e = w->events[i];
		FS_CHECK(e->revision == since + 1 + i &&
		        (int) e->type == want[i].type &&
		        strcmp(e->component->id, want[i].id) == 0 &&
		        e->component->version == want[i].version &&
		        (int) e->status == want[i].status,
		    "%s: event %zu: revision %llu type %d id %s version %lld "
		    "status %d; expected %llu %d %s %lld %d",
		    when, i, (unsigned long long) e->revision, (int) e->type,
		    e->component->id, (long long) e->component->version,
		    (int) e->status, (unsigned long long) (since + 1 + i),
		    want[i].type, want[i].id, (long long) want[i].version,
		    want[i].status);
	}
	batch_free(&w, &rep);
}

static void
test_watch_history_restart(void)
{
	fs_test_env env;
	char a[FS_UUID_STRLEN + 1], b[FS_UUID_STRLEN + 1],
	    c[FS_UUID_STRLEN + 1];

	if (fs_env_init(&env, "watch_hist") != 0 ||
	    !FS_CHECK(fs_env_start_backend(&env) == 0, "backend"))
		return;
	uint64_t r0 = fs_tw_revision(env.client);
	const char *uses_a[] = {a};
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "h_a", "g1",
	    NULL, 0, NULL, a, NULL));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__APP, "h_b", "g2",
	    uses_a, 1, NULL, b, NULL));
	FS_ASSERT_OK(fs_tw_update(env.client, a, "o", NULL));
	FS_ASSERT_OK(
	    fs_tw_change(env.client, FLOWSVC__METHOD__DEPLOY, b, NULL));
	FS_ASSERT_OK(fs_trpc_snapshot(env.client));
	FS_ASSERT_OK(fs_tw_change(env.client, FLOWSVC__METHOD__STOP, b, NULL));
	FS_ASSERT_OK(fs_tw_set_flows(env.client, b, NULL, 0, NULL));
	FS_ASSERT_OK(
	    fs_tw_change(env.client, FLOWSVC__METHOD__DELETE, a, NULL));
	FS_ASSERT_OK(fs_trpc_snapshot(env.client));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "h_c", "g1",
	    NULL, 0, NULL, c, NULL));
	const struct want want[] = {
	    {FLOWSVC__EVENT_TYPE__ADDED, a, 1, FLOWSVC__STATUS__NOT_DEPLOYED},
	    {FLOWSVC__EVENT_TYPE__ADDED, b, 1, FLOWSVC__STATUS__NOT_DEPLOYED},
	    {FLOWSVC__EVENT_TYPE__MODIFIED, a, 2,
	        FLOWSVC__STATUS__NOT_DEPLOYED},
	    {FLOWSVC__EVENT_TYPE__STATUS, b, 1, FLOWSVC__STATUS__STARTED},
	    {FLOWSVC__EVENT_TYPE__STATUS, b, 1, FLOWSVC__STATUS__STOPPED},
	    {FLOWSVC__EVENT_TYPE__MODIFIED, b, 2, FLOWSVC__STATUS__STOPPED},
	    {FLOWSVC__EVENT_TYPE__DELETED, a, 2,
	        FLOWSVC__STATUS__NOT_DEPLOYED},
	    {FLOWSVC__EVENT_TYPE__ADDED, c, 1, FLOWSVC__STATUS__NOT_DEPLOYED},
	};
	size_t n = sizeof(want) / sizeof(want[0]);
	check_history(env.client, r0, want, n, "running");

	/* A clean stop writes one more snapshot; the logs the history
	 * needs stay. */
	FS_CHECK(fs_test_exited_zero(fs_env_stop_backend(&env, SIGTERM)),
	    "SIGTERM");
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "restart"))
		goto out;
	check_history(env.client, r0, want, n, "after SIGTERM");
	FS_ASSERT_INT_EQ(fs_tw_revision(env.client), r0 + n);

	fs_env_stop_backend(&env, SIGKILL);
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "restart"))
		goto out;
	check_history(env.client, r0, want, n, "after kill -9");
	/* Watching goes on from the history's end. */
	FS_ASSERT_OK(fs_tw_update(env.client, c, "p", NULL));
	const struct want more[] = {{FLOWSVC__EVENT_TYPE__MODIFIED, c, 2,
	    FLOWSVC__STATUS__NOT_DEPLOYED}};
	check_history(env.client, r0 + n, more, 1, "after kill -9, new");
out:
	fs_env_fini(&env);
}

/* ---- OUT_OF_RANGE ----------------------------------------------------- */

static void
test_watch_out_of_range(void)
{
	static const char *const small[] = {"--watch-history", "5", NULL};
	fs_test_env env;
	Flowsvc__WatchReply *w = NULL;
	Flowsvc__Reply *rep = NULL;
	char id[FS_UUID_STRLEN + 1], want[160];

	if (fs_env_init(&env, "watch_oor") != 0)
		return;
	env.svc_extra = small;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend"))
		goto out;
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "oor", NULL,
	    NULL, 0, NULL, id, NULL));
	for (int i = 0; i < 11; i++)
		FS_ASSERT_OK(
		    fs_tw_update(env.client, id, i % 2 ? "a" : "b", NULL));
	uint64_t cur = fs_tw_revision(env.client);
	for (int round = 0; round < 2; round++) {
		FS_ASSERT_CODE(fs_tw_watch(env.client, 1, 0, 0, NULL, 0, 0,
		                   NULL, &w, &rep),
		    FS_OUT_OF_RANGE, rep);
		if (rep != NULL) {
			snprintf(want, sizeof(want),
			    "Revision 0 is no longer available: the oldest "
			    "change kept is revision %llu; list again and "
			    "watch from the list's revision.",
			    (unsigned long long) (cur - 4));
			FS_ASSERT_STR_EQ(rep->message, want);
			FS_ASSERT_INT_EQ(rep->oldest_revision, cur - 4);
			FS_ASSERT_INT_EQ(rep->revision, cur);
		}
		batch_free(&w, &rep);
		FS_ASSERT_CODE(fs_tw_watch(env.client, 1, cur - 6, 0, NULL, 0,
		                   0, NULL, &w, &rep),
		    FS_OUT_OF_RANGE, rep);
		batch_free(&w, &rep);
		if (FS_ASSERT_OK(fs_tw_watch(env.client, 1, cur - 5, 0, NULL,
		        0, 0, NULL, &w, NULL))) {
			FS_ASSERT_INT_EQ(w->n_events, 5);
			FS_ASSERT_INT_EQ(w->revision, cur);
		}
		batch_free(&w, NULL);
		/* The same window once rebuilt from the logs. */
		if (round == 0 &&
		    (!FS_CHECK(fs_test_exited_zero(
		                   fs_env_stop_backend(&env, SIGTERM)),
		         "SIGTERM") ||
		        !FS_CHECK(fs_env_start_backend(&env) == 0, "restart")))
			break;
	}
	/* The client's loop reports it and ends. */
	fs_tw_loop l;
	if (FS_ASSERT_OK(fs_tw_loop_start(&l, env.client, 1, 1, 1000))) {
		fs_tw_loop_wait(&l, UINT64_MAX, 10000);
		FS_ASSERT_CODE(fs_tw_loop_stop(&l), FS_OUT_OF_RANGE, NULL);
		FS_ASSERT_INT_EQ(l.oldest, cur - 4);
		FS_ASSERT_INT_EQ(l.n, 0);
	}
	fs_tw_loop_free(&l);
out:
	fs_env_fini(&env);
}

/* ---- list then watch, 16 writers, kill -9 ------------------------------ */

#define WRITERS 16
#define OPS 40
#define SEEDED 20

struct acked {
	uint64_t revision;
	int type;
	char id[FS_UUID_STRLEN + 1];
};

struct writer {
	fs_client *c;
	int idx;
	struct acked acked[OPS];
	int n;
	int failed;
	int unsure; /* done on a retry that may have been a no-op */
};

/* OPS creates, updates, status changes and deletes of its own flows,
 * each noted with the revision it took once acknowledged. A change that
 * failed (the backend is down) has an unknown outcome (it may or may not
 * appear): the writer tries it again, a create under a new name; an
 * update or deploy that succeeds on such a retry may have found its work
 * done (a no-op takes no revision), so it is counted but not checked. */
static void *
writer_main(void *arg)
{
	struct writer *wr = arg;
	char ids[OPS][FS_UUID_STRLEN + 1];
	int nids = 0, first = 0, retry = 0;

	for (int i = 0; i < OPS && wr->failed < 2000;) {
		struct acked *a = &wr->acked[wr->n];
		char name[64], group[16];
		int code, type, op = nids - first < 2 ? 0 : i % 5;
		uint64_t rev = 0;

		snprintf(group, sizeof(group), "g%d", wr->idx % 4);
		switch (op) {
		case 0:
			snprintf(name, sizeof(name), "w%d_%d_%d", wr->idx, i,
			    retry);
			code = fs_tw_create(wr->c, FLOWSVC__KIND__FLOW, name,
			    group, NULL, 0, NULL, ids[nids], &rev);
			type = FLOWSVC__EVENT_TYPE__ADDED;
			if (code == FS_OK)
				snprintf(a->id, sizeof(a->id), "%s",
				    ids[nids++]);
			break;
		case 1:
		case 3:
			snprintf(a->id, sizeof(a->id), "%s", ids[nids - 1]);
			code = fs_tw_update(wr->c, a->id, op == 1 ? "x" : "y",
			    &rev);
			type = FLOWSVC__EVENT_TYPE__MODIFIED;
			break;
		case 2:
			snprintf(a->id, sizeof(a->id), "%s", ids[nids - 1]);
			code = fs_tw_change(wr->c, FLOWSVC__METHOD__DEPLOY,
			    a->id, &rev);
			type = FLOWSVC__EVENT_TYPE__STATUS;
			break;
		default:
			snprintf(a->id, sizeof(a->id), "%s", ids[first++]);
			code = fs_tw_change(wr->c, FLOWSVC__METHOD__DELETE,
			    a->id, &rev);
			type = FLOWSVC__EVENT_TYPE__DELETED;
			break;
		}
		if (code == FS_OK && retry > 0 &&
		    (op == 1 || op == 2 || op == 3)) {
			wr->unsure++;
			i++;
			retry = 0;
		} else if (code == FS_OK) {
			a->revision = rev;
			a->type = type;
			wr->n++;
			i++;
			retry = 0;
		} else {
			wr->failed++;
			retry++;
			fs_test_poll_pause(20);
		}
	}
	return NULL;
}

/* id -> version of every flow (List), or the count of ids when ids is
 * NULL. */
static json_t *
flow_versions(fs_client *c, uint64_t *rev)
{
	Flowsvc__ListRequest l = FLOWSVC__LIST_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	json_t *m = NULL;

	l.has_kind = 1;
	l.kind = FLOWSVC__KIND__FLOW;
	if (fs_tw_call(c, FLOWSVC__METHOD__LIST, &l.base, NULL,
	        &flowsvc__list_reply__descriptor, &out, rev) != FS_OK)
		return NULL;
	Flowsvc__ListReply *lr = (Flowsvc__ListReply *) out;
	m = json_object();
	for (size_t i = 0; i < lr->n_components; i++)
		json_object_set_new(m, lr->components[i]->id,
		    json_integer(lr->components[i]->version));
	protobuf_c_message_free_unpacked(out, NULL);
	return m;
}

static void
test_watch_no_gap_kill(void)
{
	fs_test_env env;
	struct writer *wr = calloc(WRITERS, sizeof(*wr));
	pthread_t th[WRITERS];
	fs_client *wc = NULL;
	fs_tw_loop l;
	uint64_t lrev = 0;
	json_t *state = NULL, *final = NULL;

	memset(&l, 0, sizeof(l));
	if (wr == NULL || fs_env_init(&env, "watch_kill") != 0) {
		free(wr);
		return;
	}
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend"))
		goto out;
	for (int i = 0; i < SEEDED; i++) {
		char name[32];
		snprintf(name, sizeof(name), "seed%d", i);
		FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW,
		    name, NULL, NULL, 0, NULL, NULL, NULL));
	}
	/* List, then watch from the list's revision. */
	if (!FS_CHECK((state = flow_versions(env.client, &lrev)) != NULL,
	        "list") ||
	    !FS_ASSERT_OK(fs_client_open(&wc, env.backend_url)) ||
	    !FS_ASSERT_OK(fs_tw_loop_start(&l, wc, 1, lrev, 2000)))
		goto out;
	for (int i = 0; i < WRITERS; i++) {
		wr[i].c = env.client;
		wr[i].idx = i;
		pthread_create(&th[i], NULL, writer_main, &wr[i]);
	}
	/* Kill it while the writers write and the loop follows. */
	int64_t until = fs_test_now_ms() + 30000;
	while (fs_tw_loop_count(&l) < 150 && fs_test_now_ms() < until)
		fs_test_poll_pause(5);
	fs_env_stop_backend(&env, SIGKILL);
	int restarted = fs_env_start_backend(&env) == 0;
	for (int i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	if (!FS_CHECK(restarted, "restart after kill -9"))
		goto out;
	uint64_t cur = fs_tw_revision(env.client);
	FS_CHECK(fs_tw_loop_wait(&l, cur, 30000) == 0,
	    "the loop reached %llu of %llu", (unsigned long long) l.pos,
	    (unsigned long long) cur);
	FS_ASSERT_OK(fs_tw_loop_stop(&l));

	/* Every change from the list's revision on, once, in order. */
	size_t acked = 0, failed = 0;
	FS_ASSERT_INT_EQ(l.n, cur - lrev);
	for (size_t i = 0; i < l.n; i++)
		if (!FS_CHECK(l.ev[i].revision == lrev + 1 + i,
		        "event %zu has revision %llu, expected %llu", i,
		        (unsigned long long) l.ev[i].revision,
		        (unsigned long long) (lrev + 1 + i)))
			break;
	/* Every acknowledged change among them, as acknowledged. */
	size_t unsure = 0;
	for (int i = 0; i < WRITERS; i++) {
		failed += (size_t) wr[i].failed;
		unsure += (size_t) wr[i].unsure;
		for (int k = 0; k < wr[i].n; k++, acked++) {
			const struct acked *a = &wr[i].acked[k];
			size_t at = (size_t) (a->revision - lrev - 1);
			FS_CHECK(a->revision > lrev && at < l.n &&
			        l.ev[at].type == a->type &&
			        strcmp(l.ev[at].id, a->id) == 0,
			    "acknowledged change %llu (type %d, %s) not "
			    "delivered as such",
			    (unsigned long long) a->revision, a->type, a->id);
		}
	}
	/* The list plus the events is the state now. */
	for (size_t i = 0; i < l.n; i++) {
		if (l.ev[i].type == FLOWSVC__EVENT_TYPE__DELETED)
			json_object_del(state, l.ev[i].id);
		else
			json_object_set_new(state, l.ev[i].id,
			    json_integer(l.ev[i].version));
	}
	if (FS_CHECK((final = flow_versions(env.client, NULL)) != NULL,
	        "list"))
		FS_ASSERT_JSON_SAME(state, final);
	fprintf(stderr,
	    "  %zu changes delivered, %zu acknowledged, %zu failed while "
	    "the backend was down; the loop retried %d times\n",
	    l.n, acked, failed, l.retries);
	FS_ASSERT_INT_EQ(acked + unsure, WRITERS * OPS);
out:
	json_decref(state);
	json_decref(final);
	fs_tw_loop_free(&l);
	fs_client_close(wc);
	fs_env_fini(&env);
	free(wr);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"the history is rebuilt from the logs after a restart",
	    test_watch_history_restart},
	{"OUT_OF_RANGE past a small --watch-history",
	    test_watch_out_of_range},
	{"list then watch: 16 writers, kill -9, no gap, no duplicate",
	    test_watch_no_gap_kill},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"watch history", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
