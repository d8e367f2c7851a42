/*
 * test_watch_sse_kill.c - list then watch over SSE (CONTRACT §7) with 16
 * writers, across a kill -9 and restart of the backend, and separately
 * of the gateway: every acknowledged change reaches the client exactly
 * once, in revision order, and the list plus the events is the state at
 * the end. A change whose call failed while the backend was down has an
 * unknown outcome: it is not made again, and the final state decides. The client is what a browser's EventSource does: it reads the
 * stream, and when it ends or cannot connect it connects again with
 * Last-Event-ID set to the last id it saw (an event's or a bookmark's).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define WRITERS 16
#define OPS 30
#define SEEDED 20

/* ---- the writers (RPC, each change noted with its revision) ----------- */

struct acked {
	uint64_t revision;
	char type[32];
	char id[FS_UUID_STRLEN + 1];
};

struct writer {
	fs_client *c;
	int idx;
	struct acked acked[OPS];
	int n;
	int failed;
};

static void *
writer_main(void *arg)
{
	struct writer *wr = arg;
	char ids[OPS][FS_UUID_STRLEN + 1];
	int nids = 0, first = 0;

	for (int i = 0; i < OPS;) {
		struct acked *a = &wr->acked[wr->n];
		char name[64];
		const char *type;
		int code, op = nids - first < 2 ? 0 : i % 5;
		uint64_t rev = 0;

		switch (op) {
		case 0:
			snprintf(name, sizeof(name), "k%d_%d", wr->idx, i);
			code = fs_tw_create(wr->c, FLOWSVC__KIND__FLOW, name,
			    NULL, NULL, 0, NULL, ids[nids], &rev);
			type = "added";
			if (code == FS_OK)
				snprintf(a->id, sizeof(a->id), "%s",
				    ids[nids++]);
			break;
		case 1:
		case 3:
			snprintf(a->id, sizeof(a->id), "%s", ids[nids - 1]);
			code = fs_tw_update(wr->c, a->id, "x", &rev);
			type = "modified";
			break;
		case 2:
			snprintf(a->id, sizeof(a->id), "%s", ids[nids - 1]);
			code = fs_tw_change(wr->c, FLOWSVC__METHOD__DEPLOY,
			    a->id, &rev);
			type = "status";
			break;
		default:
			snprintf(a->id, sizeof(a->id), "%s", ids[first++]);
			code = fs_tw_change(wr->c, FLOWSVC__METHOD__DELETE,
			    a->id, &rev);
			type = "deleted";
			break;
		}
		i++;
		if (code == FS_OK) {
			a->revision = rev;
			snprintf(a->type, sizeof(a->type), "%s", type);
			wr->n++;
			continue;
		}
		/* Its outcome is unknown (the backend may have made it and
		 * died before answering): not made again, since a deploy
		 * made twice is no change the second time. The next one
		 * waits for the backend. */
		wr->failed++;
		int64_t until = fs_test_now_ms() + 15000;
		while (fs_tw_revision(wr->c) == 0 && fs_test_now_ms() < until)
			fs_test_poll_pause(20);
	}
	return NULL;
}

/* id -> version of every flow, by REST, with the list's X-Revision. */
static json_t *
rest_list(fs_test_env *env, uint64_t *rev)
{
	fs_http_resp r;
	json_t *m = NULL;
	const char *v;

	if (fs_rest(env, "GET", "/api/flows/", NULL, &r) != 0 ||
	    r.status != 200 || !json_is_array(r.json)) {
		fs_http_resp_free(&r);
		return NULL;
	}
	if (rev != NULL)
		*rev = (v = fs_http_header_get(&r, "X-Revision")) != NULL
		    ? strtoull(v, NULL, 10)
		    : 0;
	m = json_object();
	for (size_t i = 0; i < json_array_size(r.json); i++) {
		json_t *c = json_array_get(r.json, i);
		json_object_set(m, fs_json_str(c, "id"),
		    json_object_get(c, "version"));
	}
	fs_http_resp_free(&r);
	return m;
}

/* The run: seed, list, watch, write with 16 writers while `which`
 * (the backend or the gateway) is killed and started again, then check
 * what the client saw. */
static void
run(const char *which)
{
	static const char *const gw[] = {"--watch-bookmark-ms", "200", NULL};
	fs_test_env env;
	struct writer *wr = calloc(WRITERS, sizeof(*wr));
	fs_sse_follow rd;
	pthread_t th[WRITERS];
	json_t *state = NULL, *final = NULL;
	uint64_t lrev = 0;
	int writers = 0;
	int gateway = strcmp(which, "gateway") == 0;

	memset(&rd, 0, sizeof(rd));
	if (wr == NULL || fs_env_init(&env, "watch_sse_kill") != 0) {
		free(wr);
		return;
	}
	env.gw_extra = gw;
	if (!FS_CHECK(fs_env_start_programs(&env) == 0, "start"))
		goto out;
	for (int i = 0; i < SEEDED; i++) {
		char name[32];
		snprintf(name, sizeof(name), "seed%d", i);
		FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW,
		    name, NULL, NULL, 0, NULL, NULL, NULL));
	}
	/* List, then watch from the list's revision. */
	if (!FS_CHECK((state = rest_list(&env, &lrev)) != NULL && lrev > 0,
	        "list with X-Revision"))
		goto out;
	FS_ASSERT_INT_EQ(json_object_size(state), SEEDED);
	if (fs_sse_follow_start(&rd, env.gw_port, lrev) != 0)
		goto out;
	for (; writers < WRITERS; writers++) {
		wr[writers].c = env.client;
		wr[writers].idx = writers;
		if (pthread_create(&th[writers], NULL, writer_main,
		        &wr[writers]) != 0)
			break;
	}
	/* Kill it while the writers write and the client follows. */
	int64_t until = fs_test_now_ms() + 30000;
	while (fs_sse_follow_count(&rd) < 120 && fs_test_now_ms() < until)
		fs_test_poll_pause(5);
	int restarted;
	if (gateway) {
		fs_test_proc_stop(&env.gateway, SIGKILL, 5000);
		restarted = fs_env_start_gateway(&env, 1) == 0;
	} else {
		fs_env_stop_backend(&env, SIGKILL);
		restarted = fs_env_start_backend(&env) == 0;
	}
	for (int i = 0; i < writers; i++)
		pthread_join(th[i], NULL);
	if (!FS_CHECK(restarted, "restart after kill -9"))
		goto out;
	uint64_t cur = fs_tw_revision(env.client);
	FS_CHECK(fs_sse_follow_wait(&rd, cur, 30000) == 0,
	    "the client reached %llu of %llu",
	    (unsigned long long) fs_sse_follow_last(&rd),
	    (unsigned long long) cur);
	fs_sse_follow_stop(&rd);

	/* Every change from the list's revision on, once, in order. */
	size_t acked = 0, failed = 0;
	FS_ASSERT_INT_EQ(rd.n, cur - lrev);
	for (size_t i = 0; i < rd.n; i++)
		if (!FS_CHECK(rd.ev[i].revision == lrev + 1 + i,
		        "event %zu has revision %llu, expected %llu", i,
		        (unsigned long long) rd.ev[i].revision,
		        (unsigned long long) (lrev + 1 + i)))
			break;
	/* Every acknowledged change among them, as acknowledged. */
	for (int i = 0; i < writers; i++) {
		failed += (size_t) wr[i].failed;
		for (int k = 0; k < wr[i].n; k++, acked++) {
			const struct acked *a = &wr[i].acked[k];
			size_t at = (size_t) (a->revision - lrev - 1);
			FS_CHECK(a->revision > lrev && at < rd.n &&
			        strcmp(rd.ev[at].type, a->type) == 0 &&
			        strcmp(rd.ev[at].id, a->id) == 0,
			    "acknowledged change %llu (%s, %s) not delivered "
			    "as such",
			    (unsigned long long) a->revision, a->type, a->id);
		}
	}
	/* The list plus the events is the state now. */
	for (size_t i = 0; i < rd.n; i++) {
		if (strcmp(rd.ev[i].type, "deleted") == 0)
			json_object_del(state, rd.ev[i].id);
		else
			json_object_set_new(state, rd.ev[i].id,
			    json_integer(rd.ev[i].version));
	}
	if (FS_CHECK((final = rest_list(&env, NULL)) != NULL, "list"))
		FS_ASSERT_JSON_SAME(state, final);
	FS_CHECK(rd.reconnects >= (gateway ? 1 : 0),
	    "the client reconnected %d times", rd.reconnects);
	fprintf(stderr,
	    "  %s kill -9: %zu changes delivered, %zu acknowledged, %zu "
	    "failed while it was down; the client reconnected %d times "
	    "(%d refused)\n",
	    which, rd.n, acked, failed, rd.reconnects, rd.refused);
	/* Each change was either acknowledged or failed while the backend
	 * was down (and is in the stream or not: the final state says). */
	FS_ASSERT_INT_EQ(acked + failed, WRITERS * OPS);
	FS_CHECK(acked >= WRITERS * OPS / 2, "only %zu of %d acknowledged",
	    acked, WRITERS * OPS);
out:
	fs_sse_follow_free(&rd);
	json_decref(state);
	json_decref(final);
	fs_env_fini(&env);
	free(wr);
}

static void
test_kill_backend(void)
{
	run("backend");
}

static void
test_kill_gateway(void)
{
	run("gateway");
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"list then watch over SSE: 16 writers, kill -9 of the backend",
	    test_kill_backend},
	{"list then watch over SSE: 16 writers, kill -9 of the gateway",
	    test_kill_gateway},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"watch_sse_kill", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
