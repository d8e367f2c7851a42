/*
 * test_replica_gateway_failover.c - a gateway over a primary and its
 * replicas (CONTRACT §7 and §8) when backends die, with real processes:
 * - REST: the primary killed with -9 and its replica promoted (flowctl
 *   promote), creates through the same gateway succeed again within 10 s
 *   and read back at once;
 * - REST: the primary stopped (SIGSTOP), its replica promoted, then the
 *   old primary back, still saying it is the primary (of the lower
 *   term): the gateway's changes go to the new one;
 * - an SSE client follows changes; the primary, where the gateway's own
 *   watch runs, is killed with -9 and its replica promoted: the changes
 *   made afterwards, through the same gateway and on the new primary,
 *   reach the client on the same stream, each once, in revision order;
 * - a gateway over two replicas of a primary it does not know: the
 *   replica its watch runs on is stopped (SIGSTOP) while the other
 *   answers but is behind the revision the stream is at (and cannot
 *   catch up: the primary is stopped too): the watch moves there and
 *   waits for it (the stream neither ends nor goes back), then, once
 *   the primary is back, delivers every later change on the same
 *   stream, once each, in order.
 */
#define _GNU_SOURCE

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define CONVERGE_MS 20000
/* How long creates through the gateway may fail after a promotion. */
#define PROMOTED_MS 10000
#define SEEDED 10
#define CHANGES 20

/* ---- backends and the gateway -------------------------------------------- */

/* Starts the gateway of env over env's backend, then other, and its HTTP
 * connection. */
static int
start_gateway(fs_test_env *env, const char *other)
{
	static const char *more[] = {"--backend", NULL, "--backend-poll-ms",
	    "100", "--watch-bookmark-ms", "200", NULL};

	more[1] = other;
	env->gw_extra = more;
	env->rpc_timeout_ms = 3000;
	if (fs_env_start_gateway(env, 1) != 0)
		return -1;
	return fs_http_connect(&env->http, env->gw_port, 10000);
}

/* Waits until c's backend has every change ref's has. */
static int
caught_up(fs_client *c, fs_client *ref)
{
	return fs_trpc_wait_revision(c, fs_trpc_revision(ref), CONVERGE_MS);
}

/* A /metrics value of the gateway on port (-1 when absent). */
static long long
metric(int port, const char *name)
{
	return (long long) fs_http_metric(port, name);
}

/* POST /api/flows/ {"name": name_<attempt>} until one answers 201, for at
 * most ms: the attempts that fail (503 while there is no primary) made
 * nothing, and each attempt has its own name. Copies the id; returns 0,
 * or -1 with the last answer's status in *last. */
static int
create_until(fs_test_env *env, const char *name, int ms, char id[64],
    int *last)
{
	int64_t end = fs_test_now_ms() + ms;

	for (int attempt = 0;; attempt++) {
		char body[128];
		fs_http_resp r;
		int ok;

		snprintf(body, sizeof(body), "{\"name\": \"%s_%d\"}", name,
		    attempt);
		fs_rest(env, "POST", "/api/flows/", body, &r);
		*last = r.status;
		ok = r.status == 201 && fs_json_str(r.json, "id") != NULL;
		if (ok)
			snprintf(id, 64, "%s", fs_json_str(r.json, "id"));
		fs_http_resp_free(&r);
		if (ok)
			return 0;
		if (fs_test_now_ms() >= end)
			return -1;
		fs_test_poll_pause(50);
	}
}

/* flowctl --backend url promote: 0 when it exits 0. */
static int
promote(const char *url)
{
	char *argv[] = {(char *) FLOWCTL_BIN, (char *) "--backend",
	    (char *) url, (char *) "promote", NULL};
	fs_test_run_result r;
	int ok;

	if (fs_test_run(&r, argv, NULL, NULL, 10000) != 0)
		return -1;
	ok = r.exit_code == 0;
	if (!ok)
		fprintf(stderr, "flowctl promote: exit %d: %s%s\n",
		    r.exit_code, r.out ? r.out : "", r.err ? r.err : "");
	fs_test_run_result_free(&r);
	return ok ? 0 : -1;
}

/* ---- the SSE client ------------------------------------------------------ */

/* The client follows the stream as a browser's EventSource does
 * (fs_sse_follow); each end and each refusal is counted: with the watch
 * moving between backends neither should happen. */

/* Every change after since up to cur reached the client once, in
 * revision order, on one stream. */
static void
check_stream(fs_sse_follow *rd, uint64_t since, uint64_t cur)
{
	FS_CHECK(rd->ends == 0 && rd->refused == 0,
	    "the stream ended %d times, %d reconnections refused (last %d)",
	    rd->ends, rd->refused, rd->status);
	FS_ASSERT_INT_EQ(rd->n, cur - since);
	for (size_t i = 0; i < rd->n; i++)
		if (!FS_CHECK(rd->ev[i].revision == since + 1 + i,
		        "event %zu has revision %" PRIu64
		        ", expected %" PRIu64,
		        i, rd->ev[i].revision, since + 1 + i))
			break;
}

/* Whether the client saw id added. */
static int
reader_added(fs_sse_follow *rd, const char *id)
{
	for (size_t i = 0; i < rd->n; i++)
		if (strcmp(rd->ev[i].id, id) == 0 &&
		    strcmp(rd->ev[i].type, "added") == 0)
			return 1;
	return 0;
}

/* ---- tests ---------------------------------------------------------------- */

/* Starts a primary, its replica and a gateway over both (the primary
 * first), and seeds SEEDED flows. */
static int
start_pair(fs_test_env *p, fs_test_env *r, const char *name)
{
	char pn[32], rn[32];

	snprintf(pn, sizeof(pn), "%s-p", name);
	snprintf(rn, sizeof(rn), "%s-r", name);
	if (!FS_CHECK(fs_env_start_node(p, pn, NULL) == 0, "primary starts") ||
	    !FS_CHECK(fs_env_start_node(r, rn, p->backend_url) == 0,
	        "replica starts") ||
	    !FS_CHECK(start_gateway(p, r->backend_url) == 0, "gateway starts"))
		return -1;
	for (int i = 0; i < SEEDED; i++) {
		char flow[32];
		snprintf(flow, sizeof(flow), "seed%d", i);
		if (!FS_ASSERT_OK(fs_tw_create(p->client, FLOWSVC__KIND__FLOW,
		        flow, NULL, NULL, 0, NULL, NULL, NULL)))
			return -1;
	}
	return 0;
}

/* kill -9 of the primary, flowctl promote of the replica; the replica
 * has every change (this is about the gateway, not about what
 * asynchronous replication loses). Returns 0, and when it was promoted. */
static int
fail_over(fs_test_env *p, fs_test_env *r, int64_t *promoted)
{
	if (!FS_CHECK(caught_up(r->client, p->client) == 0,
	        "replica caught up"))
		return -1;
	fs_env_stop_backend(p, SIGKILL);
	if (!FS_CHECK(promote(r->backend_url) == 0, "flowctl promote"))
		return -1;
	*promoted = fs_test_now_ms();
	return 0;
}

/* REST through a gateway over a primary and its replica, across kill -9
 * of the primary and the promotion of the replica. */
static void
test_rest_follows_promotion(void)
{
	fs_test_env p, r;
	char ids[CHANGES][64], name[32];
	int last = 0;
	int64_t promoted;

	if (start_pair(&p, &r, "rf") != 0)
		goto out;
	for (int i = 0; i < CHANGES / 2; i++) {
		snprintf(name, sizeof(name), "before%d", i);
		if (!FS_CHECK(create_until(&p, name, 0, ids[i], &last) == 0,
		        "create %d: %d", i, last))
			goto out;
	}
	if (fail_over(&p, &r, &promoted) != 0)
		goto out;
	for (int i = CHANGES / 2; i < CHANGES; i++) {
		snprintf(name, sizeof(name), "after%d", i);
		if (!FS_CHECK(create_until(&p, name, PROMOTED_MS, ids[i],
		                  &last) == 0,
		        "create %d after the promotion: still %d after %d ms",
		        i, last, PROMOTED_MS))
			goto out;
	}
	fprintf(stderr,
	    "\n    creates through the gateway again %lld ms after the "
	    "promotion\n",
	    (long long) (fs_test_now_ms() - promoted));
	/* Each reads back at once, one by one and in the list. */
	for (int i = 0; i < CHANGES; i++) {
		fs_http_resp g;
		fs_restf(&p, "GET", NULL, &g, "/api/flows/%s/", ids[i]);
		FS_CHECK(g.status == 200, "GET %s: %d %s", ids[i], g.status,
		    g.body ? g.body : "");
		fs_http_resp_free(&g);
	}
	fs_http_resp l;
	fs_rest(&p, "GET", "/api/flows/", NULL, &l);
	FS_CHECK(l.status == 200 &&
	        json_array_size(l.json) == SEEDED + (size_t) CHANGES,
	    "list after the promotion: %d, %zu flows", l.status,
	    json_array_size(l.json));
	fs_http_resp_free(&l);
	/* The gateway's answers say the new primary's revision. */
	fs_http_resp h;
	fs_restf(&p, "GET", NULL, &h, "/api/flows/%s/", ids[CHANGES - 1]);
	const char *xr = fs_http_header_get(&h, "X-Revision");
	FS_CHECK(xr != NULL &&
	        strtoull(xr, NULL, 10) == fs_trpc_revision(r.client),
	    "X-Revision %s, the new primary at %" PRIu64, xr ? xr : "none",
	    fs_trpc_revision(r.client));
	fs_http_resp_free(&h);
out:
	fs_env_fini(&r);
	fs_env_fini(&p);
}

/* The primary stopped (SIGSTOP), the replica promoted, then the old
 * primary back: it still says it is the primary (nobody told it of the
 * new term), and the gateway must keep sending changes to the one of the
 * higher term. */
static void
test_rest_ignores_deposed_primary(void)
{
	fs_test_env p, r;
	char want[160], id[64];
	int last = 0, frozen = 0;
	json_t *got = NULL;

	if (start_pair(&p, &r, "rd") != 0 ||
	    !FS_CHECK(caught_up(r.client, p.client) == 0, "replica caught up"))
		goto out;
	if (!FS_CHECK(fs_test_proc_freeze(&p.backend, 5000) == 0,
	        "SIGSTOP the primary"))
		goto out;
	frozen = 1;
	if (!FS_CHECK(promote(r.backend_url) == 0, "flowctl promote") ||
	    !FS_CHECK(create_until(&p, "promoted", PROMOTED_MS, id, &last) ==
	            0,
	        "a create after the promotion: still %d", last))
		goto out;
	FS_ASSERT_OK(fs_test_proc_cont(&p.backend));
	frozen = 0;
	/* The gateway hears from the old primary again... */
	snprintf(want, sizeof(want), "backend %s answers", p.backend_url);
	int64_t end = fs_test_now_ms() + CONVERGE_MS;
	while (fs_file_count(p.gateway.log_path, want) < 1 &&
	    fs_test_now_ms() < end)
		fs_test_poll_pause(20);
	FS_CHECK(fs_file_count(p.gateway.log_path, want) >= 1, "%s", want);
	/* ... which says primary, in term 1: changes still go to term 2. */
	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "later%d", i);
		if (!FS_CHECK(create_until(&p, name, PROMOTED_MS, id, &last) ==
		            0,
		        "create %d: %d", i, last))
			break;
		FS_CHECK(fs_trpc_get(r.client, id, &got, NULL) == FS_OK,
		    "create %d (%s) is not on the new primary", i, id);
		json_decref(got);
		got = NULL;
	}
	/* And reads through the gateway find them (none answered by the
	 * old primary, whose history has parted from the new one's). */
	for (int i = 0; i < 20; i++) {
		fs_http_resp g;
		fs_restf(&p, "GET", NULL, &g, "/api/flows/%s/", id);
		FS_CHECK(g.status == 200, "read %d of %s: %d", i, id,
		    g.status);
		fs_http_resp_free(&g);
	}
out:
	if (frozen)
		fs_test_proc_cont(&p.backend);
	fs_env_fini(&r);
	fs_env_fini(&p);
}

/* An SSE client of a gateway over a primary and its replica, across kill
 * -9 of the primary (where the gateway's watch runs) and the promotion of
 * the replica: the stream goes on. */
static void
test_watch_follows_promotion(void)
{
	fs_test_env p, r;
	fs_sse_follow rd;
	char ids[CHANGES][64], name[32];
	uint64_t since, cur;
	int reading = 0, last = 0;
	int64_t promoted;

	if (start_pair(&p, &r, "wf") != 0)
		goto out;
	since = fs_trpc_revision(p.client);
	CU_ASSERT_FATAL(fs_sse_follow_start(&rd, p.gw_port, since) == 0);
	reading = 1;
	for (int i = 0; i < CHANGES / 2; i++) {
		snprintf(name, sizeof(name), "before%d", i);
		if (!FS_CHECK(create_until(&p, name, 0, ids[i], &last) == 0,
		        "create %d: %d", i, last))
			goto out;
	}
	cur = fs_trpc_revision(p.client);
	if (!FS_CHECK(fs_sse_follow_wait(&rd, cur, CONVERGE_MS) == 0,
	        "the client saw %" PRIu64 " of %" PRIu64,
	        fs_sse_follow_last(&rd), cur))
		goto out;
	if (fail_over(&p, &r, &promoted) != 0)
		goto out;
	/* Changes afterwards: on the new primary, and through the gateway
	 * once it has found it. */
	for (int i = CHANGES / 2; i < CHANGES; i++) {
		char direct[FS_UUID_STRLEN + 1];

		snprintf(name, sizeof(name), "direct%d", i);
		if (!FS_ASSERT_OK(fs_tw_create(r.client, FLOWSVC__KIND__FLOW,
		        name, NULL, NULL, 0, NULL, direct, NULL)))
			goto out;
		snprintf(name, sizeof(name), "after%d", i);
		if (!FS_CHECK(create_until(&p, name, PROMOTED_MS, ids[i],
		                  &last) == 0,
		        "create %d after the promotion: still %d after %d ms",
		        i, last, PROMOTED_MS))
			goto out;
	}
	cur = fs_trpc_revision(r.client);
	FS_CHECK(fs_sse_follow_wait(&rd, cur, CONVERGE_MS) == 0,
	    "after the kill the client saw %" PRIu64 " of %" PRIu64,
	    fs_sse_follow_last(&rd), cur);
	fs_sse_follow_stop(&rd);
	reading = 0;
	check_stream(&rd, since, cur);
	for (int i = 0; i < CHANGES; i++)
		FS_CHECK(reader_added(&rd, ids[i]),
		    "the create of %s not seen", ids[i]);
	FS_CHECK(metric(p.gw_port, "flowsvc_gateway_watch_moves_total") >= 1,
	    "the watch moved");
	fs_sse_follow_free(&rd);
out:
	if (reading)
		fs_sse_follow_free(&rd);
	fs_env_fini(&r);
	fs_env_fini(&p);
}

/* The replica the watch runs on stopped (SIGSTOP) while the other
 * replica answers but is behind the stream: restarted from its data
 * directory while its primary is stopped, so that it cannot catch up
 * until the primary is back. */
static void
test_watch_moves_to_lagging_replica(void)
{
	fs_test_env p, r1, r2;
	fs_sse_follow rd;
	char name[32];
	uint64_t since, cur;
	int reading = 0, frozen_p = 0, frozen_r1 = 0;

	if (!FS_CHECK(fs_env_start_node(&p, "rwl-p", NULL) == 0,
	        "primary starts") ||
	    !FS_CHECK(fs_env_start_node(&r1, "rwl-r1", p.backend_url) == 0,
	        "replica 1 starts") ||
	    !FS_CHECK(fs_env_start_node(&r2, "rwl-r2", p.backend_url) == 0,
	        "replica 2 starts"))
		goto out;
	/* The gateway knows only the replicas: its watch starts on the
	 * first (no primary among them). */
	if (!FS_CHECK(start_gateway(&r1, r2.backend_url) == 0,
	        "gateway starts"))
		goto out;
	for (int i = 0; i < SEEDED; i++) {
		snprintf(name, sizeof(name), "seed%d", i);
		FS_ASSERT_OK(fs_tw_create(p.client, FLOWSVC__KIND__FLOW, name,
		    NULL, NULL, 0, NULL, NULL, NULL));
	}
	if (!FS_CHECK(caught_up(r1.client, p.client) == 0 &&
	            caught_up(r2.client, p.client) == 0,
	        "replicas caught up"))
		goto out;
	since = fs_trpc_revision(p.client);
	CU_ASSERT_FATAL(fs_sse_follow_start(&rd, r1.gw_port, since) == 0);
	reading = 1;

	/* Replica 2 stops; the stream goes on through replica 1. */
	FS_CHECK(fs_test_exited_zero(fs_env_stop_backend(&r2, SIGTERM)),
	    "replica 2 stops");
	for (int i = 0; i < CHANGES / 2; i++) {
		snprintf(name, sizeof(name), "ahead%d", i);
		FS_ASSERT_OK(fs_tw_create(p.client, FLOWSVC__KIND__FLOW, name,
		    NULL, NULL, 0, NULL, NULL, NULL));
	}
	cur = fs_trpc_revision(p.client);
	if (!FS_CHECK(fs_sse_follow_wait(&rd, cur, CONVERGE_MS) == 0,
	        "the client saw %" PRIu64 " of %" PRIu64,
	        fs_sse_follow_last(&rd), cur))
		goto out;

	/* The primary and replica 1 stop; replica 2 comes back behind the
	 * stream, and cannot catch up. */
	if (!FS_CHECK(fs_test_proc_freeze(&p.backend, 5000) == 0,
	        "SIGSTOP the primary"))
		goto out;
	frozen_p = 1;
	if (!FS_CHECK(fs_test_proc_freeze(&r1.backend, 5000) == 0,
	        "SIGSTOP replica 1"))
		goto out;
	frozen_r1 = 1;
	const char *rep[] = {"--replica-of", p.backend_url, NULL};
	if (!FS_CHECK(fs_env_start_backend_with(&r2, rep) == 0,
	        "replica 2 starts again"))
		goto out;
	FS_ASSERT_INT_EQ(fs_trpc_revision(r2.client), since);
	/* The watch moves there, finds it behind, and waits for it: the
	 * stream does not end (it would, and the client would be told 410,
	 * were that taken for a revision gone for good). */
	int64_t end = fs_test_now_ms() + CONVERGE_MS;
	while (fs_file_count(r1.gateway.log_path, "; waiting for it") < 1 &&
	    fs_test_now_ms() < end)
		fs_test_poll_pause(20);
	FS_CHECK(fs_file_count(r1.gateway.log_path, "; waiting for it") >= 1,
	    "the watch found replica 2 behind");
	FS_CHECK(metric(r1.gw_port, "flowsvc_gateway_watch_moves_total") >= 1,
	    "the watch moved to replica 2");
	end = fs_test_now_ms() + 1000;
	while (fs_sse_follow_breaks(&rd) == 0 && fs_test_now_ms() < end)
		fs_test_poll_pause(20);
	FS_CHECK(fs_sse_follow_breaks(&rd) == 0,
	    "the stream ended while replica 2 was behind");

	/* The primary back: replica 2 catches up, and later changes reach
	 * the client through it (replica 1 stays stopped). */
	FS_ASSERT_OK(fs_test_proc_cont(&p.backend));
	frozen_p = 0;
	for (int i = CHANGES / 2; i < CHANGES; i++) {
		snprintf(name, sizeof(name), "later%d", i);
		FS_ASSERT_OK(fs_tw_create(p.client, FLOWSVC__KIND__FLOW, name,
		    NULL, NULL, 0, NULL, NULL, NULL));
	}
	cur = fs_trpc_revision(p.client);
	FS_CHECK(fs_sse_follow_wait(&rd, cur, CONVERGE_MS) == 0,
	    "with replica 1 stopped the client saw %" PRIu64 " of %" PRIu64,
	    fs_sse_follow_last(&rd), cur);
	fs_sse_follow_stop(&rd);
	reading = 0;
	check_stream(&rd, since, cur);
	fs_sse_follow_free(&rd);
out:
	if (reading)
		fs_sse_follow_free(&rd);
	if (frozen_p)
		fs_test_proc_cont(&p.backend);
	if (frozen_r1)
		fs_test_proc_cont(&r1.backend);
	fs_env_fini(&r1);
	fs_env_fini(&r2);
	fs_env_fini(&p);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"kill -9 of the primary, replica promoted: REST creates through "
	    "the gateway again within 10 s", test_rest_follows_promotion},
	{"SIGSTOP of the primary, replica promoted, old primary back: "
	    "changes go to the new one", test_rest_ignores_deposed_primary},
	{"kill -9 of the watch's primary, replica promoted: the SSE stream "
	    "goes on", test_watch_follows_promotion},
	{"SIGSTOP of the watch's replica: it moves to a replica behind it, "
	    "waits for it, goes on", test_watch_moves_to_lagging_replica},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"watch over replicas", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
