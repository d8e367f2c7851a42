/*
 * test_replica_gateway.c - a gateway in front of a primary and its
 * replicas (CONTRACT §8), with real processes:
 * - 2,000 creates through a gateway that knows the primary and two
 *   replicas (one a replica of the other), each read back at once: every
 *   read finds its create (the gateway's revision goes with each read),
 *   and the replicas serve reads;
 * - the REST lifecycle through a gateway that knows only a replica: every
 *   change forwarded and answered as the primary answers it, and read
 *   back at once;
 * - X-Min-Revision: a revision no backend has answers 503 within the
 *   deadline, a bad one 400;
 * - the primary stopped (SIGSTOP): reads through the gateway still answer
 *   (from the replicas), changes answer 503;
 * - a replica stopped under eight readers: the reads go on, none fails
 *   (the batch that went to it gives its place back after the hedge
 *   time, and its reads go to another backend);
 * - a replica behind the gateway's own writes: a read that waits there
 *   goes to the primary after the hedge time;
 * - every backend lists the same ids.
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define CONVERGE_MS 20000
#define CREATES 2000

static fs_test_env p, r1, r2;

/* Starts the gateway of env (its first --backend env's backend) with
 * more, and its HTTP connection. */
static int
start_gateway(fs_test_env *env, const char *const *more)
{
	env->gw_extra = more;
	env->rpc_timeout_ms = 3000;
	if (fs_env_start_gateway(env, 1) != 0)
		return -1;
	return fs_http_connect(&env->http, env->gw_port, 10000);
}

/* Stats of c's backend: its GETs served, and the changes it forwarded
 * (a replica's). */
static uint64_t
stats_of(fs_client *c, uint64_t *forwarded)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	ProtobufCMessage *m = NULL;
	uint64_t n = 0;

	if (fs_trpc_call(c, FLOWSVC__METHOD__STATS, &e.base, 2000,
	        &flowsvc__stats_reply__descriptor, &m) != FS_OK)
		return 0;
	Flowsvc__StatsReply *s = (Flowsvc__StatsReply *) m;
	for (size_t i = 0; i < s->n_requests; i++)
		if (s->requests[i]->method == FLOWSVC__METHOD__GET)
			n += s->requests[i]->count;
	if (forwarded != NULL)
		*forwarded = s->forwarded;
	flowsvc__stats_reply__free_unpacked(s, NULL);
	return n;
}

static int
cmp_str(const void *a, const void *b)
{
	const char *x = *(char *const *) a, *y = *(char *const *) b;

	return strcmp(x != NULL ? x : "", y != NULL ? y : "");
}

/* The ids c's backend lists, sorted, as one string (malloc'd). */
static char *
ids_of(fs_client *c)
{
	json_t *all = fs_trpc_list(c, NULL), *v;
	size_t i, n = all != NULL ? json_array_size(all) : 0;
	char **ids = calloc(n + 1, sizeof(*ids));
	char *out = NULL;
	size_t len = 1;

	if (all == NULL || ids == NULL) {
		json_decref(all);
		free(ids);
		return NULL;
	}
	json_array_foreach(all, i, v)
	{
		ids[i] = (char *) json_string_value(json_object_get(v, "id"));
		len += ids[i] != NULL ? strlen(ids[i]) + 1 : 1;
	}
	qsort(ids, n, sizeof(*ids), cmp_str);
	if ((out = calloc(1, len)) != NULL)
		for (i = 0; i < n; i++) {
			strcat(out, ids[i] != NULL ? ids[i] : "?");
			strcat(out, ",");
		}
	free(ids);
	json_decref(all);
	return out;
}

static void
start_all(void)
{
	CU_ASSERT_FATAL(fs_env_start_node(&p, "rgw-p", NULL) == 0);
	CU_ASSERT_FATAL(fs_env_start_node(&r1, "rgw-r1", p.backend_url) == 0);
	CU_ASSERT_FATAL(fs_env_start_node(&r2, "rgw-r2", r1.backend_url) == 0);
}

/* Waits (up to CONVERGE_MS) for both replicas to have the primary's
 * revision. */
static void
replicas_catch_up(void)
{
	uint64_t rev = fs_trpc_revision(p.client);

	(void) fs_trpc_wait_revision(r1.client, rev, CONVERGE_MS);
	(void) fs_trpc_wait_revision(r2.client, rev, CONVERGE_MS);
}

static void
stop_all(void)
{
	fs_env_fini(&r2);
	fs_env_fini(&r1);
	fs_env_fini(&p);
}

/* ---- tests ---------------------------------------------------------------- */

static void
test_spread_read_your_writes(void)
{
	const char *more[] = {"--backend", r1.backend_url, "--backend",
	    r2.backend_url, "--backend-poll-ms", "100", NULL};
	uint64_t g1, g2, gp;
	int missed = 0, failed = 0;

	start_all();
	if (!FS_CHECK(start_gateway(&p, more) == 0, "gateway starts"))
		goto out;
	gp = stats_of(p.client, NULL);
	g1 = stats_of(r1.client, NULL);
	g2 = stats_of(r2.client, NULL);
	for (int i = 0; i < CREATES; i++) {
		char body[64], id[64];
		fs_http_resp g;

		snprintf(body, sizeof(body), "{\"name\": \"spread_%d\"}", i);
		if (FS_REST_CREATE(&p, "flows", body, id) != 0) {
			failed++;
			break;
		}
		fs_restf(&p, "GET", NULL, &g, "/api/flows/%s/", id);
		if (g.status != 200) {
			if (missed++ < 3)
				FS_CHECK(0,
				    "GET %s right after its create: %d %s", id,
				    g.status, g.body ? g.body : "");
		}
		fs_http_resp_free(&g);
	}
	FS_ASSERT_INT_EQ(failed, 0);
	FS_ASSERT_INT_EQ(missed, 0);
	/* The reads were spread: each replica served a share. */
	uint64_t f1 = 0, f2 = 0;
	gp = stats_of(p.client, NULL) - gp;
	g1 = stats_of(r1.client, &f1) - g1;
	g2 = stats_of(r2.client, &f2) - g2;
	/* The changes went to the primary itself, none through a replica. */
	FS_CHECK(f1 == 0 && f2 == 0,
	    "replicas forwarded %llu and %llu changes",
	    (unsigned long long) f1, (unsigned long long) f2);
	printf("\n    GETs served: primary %llu, replica %llu, its replica "
	       "%llu\n",
	    (unsigned long long) gp, (unsigned long long) g1,
	    (unsigned long long) g2);
	FS_CHECK(g1 >= CREATES / 10 && g2 >= CREATES / 10,
	    "replicas served %llu and %llu of %d reads",
	    (unsigned long long) g1, (unsigned long long) g2, CREATES);
	/* Every backend lists the same ids once caught up. */
	replicas_catch_up();
	char *a = ids_of(p.client), *b = ids_of(r1.client),
	     *c = ids_of(r2.client);
	FS_CHECK(a != NULL && b != NULL && c != NULL && strcmp(a, b) == 0 &&
	        strcmp(a, c) == 0,
	    "the backends list different ids");
	free(a);
	free(b);
	free(c);
out:
	stop_all();
}

/* The lifecycle of CONTRACT §2 through a gateway that knows only a
 * replica of a replica: each answer as the primary gives it. */
static void
test_lifecycle_through_replica(void)
{
	char flow[64], app[64], body[256];
	fs_http_resp h;

	start_all();
	if (!FS_CHECK(start_gateway(&r2, NULL) == 0, "gateway starts"))
		goto out;
	if (FS_REST_CREATE(&r2, "flows", "{\"name\": \"lc_flow\"}", flow) != 0)
		goto out;
	snprintf(body, sizeof(body),
	    "{\"name\": \"lc_app\", \"flows\": [\"%s\"]}", flow);
	if (FS_REST_CREATE(&r2, "apps", body, app) != 0)
		goto out;
	fs_restf(&r2, "GET", NULL, &h, "/api/apps/%s/", app);
	FS_ASSERT_INT_EQ(h.status, 200);
	fs_http_resp_free(&h);
	fs_restf(&r2, "PATCH", "{\"output_fields\": [\"total\"]}", &h,
	    "/api/flows/%s/", flow);
	FS_ASSERT_INT_EQ(h.status, 200);
	fs_http_resp_free(&h);
	fs_restf(&r2, "GET", NULL, &h, "/api/flows/%s/", flow);
	FS_ASSERT_INT_EQ(h.status, 200);
	FS_CHECK(h.body != NULL && strstr(h.body, "\"total\"") != NULL,
	    "the update reads back at once: %s", h.body ? h.body : "");
	fs_http_resp_free(&h);
	const char *ops[] = {"deploy", "start", "stop"};
	for (int i = 0; i < 3; i++) {
		fs_restf(&r2, "POST", NULL, &h, "/api/apps/%s/%s/", app,
		    ops[i]);
		FS_CHECK(h.status == 200, "%s: %d %s", ops[i], h.status,
		    h.body ? h.body : "");
		fs_http_resp_free(&h);
	}
	fs_restf(&r2, "GET", NULL, &h, "/api/apps/%s/status/", app);
	FS_CHECK(h.status == 200 && h.body != NULL &&
	        strstr(h.body, "stopped") != NULL,
	    "status: %d %s", h.status, h.body ? h.body : "");
	fs_http_resp_free(&h);
	/* The primary's refusal, as it words it. */
	fs_restf(&r2, "DELETE", NULL, &h, "/api/flows/%s/", flow);
	FS_CHECK(h.status == 409, "delete of a used flow: %d %s", h.status,
	    h.body ? h.body : "");
	fs_http_resp_free(&h);
	fs_restf(&r2, "DELETE", NULL, &h, "/api/apps/%s/", app);
	FS_ASSERT_INT_EQ(h.status, 204);
	fs_http_resp_free(&h);
	fs_restf(&r2, "DELETE", NULL, &h, "/api/flows/%s/", flow);
	FS_ASSERT_INT_EQ(h.status, 204);
	fs_http_resp_free(&h);
	fs_restf(&r2, "GET", NULL, &h, "/api/flows/%s/", flow);
	FS_ASSERT_INT_EQ(h.status, 404);
	fs_http_resp_free(&h);
	/* /metrics says what the backend is (a replica here). */
	fs_rest(&r2, "GET", "/metrics", NULL, &h);
	FS_CHECK(h.status == 200 && h.body != NULL &&
	        strstr(h.body, "\nbackend_role{role=\"replica\"} 1\n") !=
	            NULL &&
	        strstr(h.body, "\nbackend_term 1\n") != NULL &&
	        strstr(h.body, "\nbackend_replica_lag_revisions ") != NULL &&
	        strstr(h.body, "\nbackend_revision ") != NULL,
	    "replication in /metrics: %.300s", h.body ? h.body : "");
	fs_http_resp_free(&h);
	/* Made on the primary. */
	json_t *gone = NULL;
	FS_ASSERT_CODE(fs_trpc_get(p.client, flow, &gone, NULL), FS_NOT_FOUND,
	    NULL);
	json_decref(gone);
out:
	stop_all();
}

/* GET of a flow by id, on a connection of its own, asking for a
 * revision nobody has. */
struct far_get {
	int port;
	const char *id;
	int status;
	int64_t elapsed_ms;
};

static void *
far_get_main(void *arg)
{
	struct far_get *f = arg;
	const char *far[] = {"X-Min-Revision: 999999999", NULL};
	fs_http_conn *c = NULL;
	fs_http_resp h;
	char path[128];

	if (fs_http_connect(&c, f->port, 5000) != 0)
		return NULL;
	snprintf(path, sizeof(path), "/api/flows/%s/", f->id);
	if (fs_http_request(c, "GET", path, far, NULL, 0, &h) == 0) {
		f->status = h.status;
		f->elapsed_ms = h.elapsed_ms;
		fs_http_resp_free(&h);
	}
	fs_http_close(c);
	return NULL;
}

static void
test_min_revision_header(void)
{
	const char *far[] = {"X-Min-Revision: 999999999", NULL};
	const char *bad[] = {"X-Min-Revision: soon", NULL};
	char id[64];
	fs_http_resp h;

	start_all();
	/* A gateway that knows only a replica: a primary answers at once,
	 * whatever the revision asked (it is the newest there is). */
	if (!FS_CHECK(start_gateway(&r1, NULL) == 0, "gateway starts") ||
	    FS_REST_CREATE(&r1, "flows", "{\"name\": \"mr\"}", id) != 0)
		goto out;
	fs_http_request(r1.http, "GET", "/api/flows/", bad, NULL, 0, &h);
	FS_ASSERT_INT_EQ(h.status, 400);
	FS_ASSERT_STR_EQ(h.body,
	    "{\"detail\":\"X-Min-Revision must be a "
	    "revision: a non-negative integer.\"}");
	fs_http_resp_free(&h);
	fs_http_request(r1.http, "GET", "/api/flows/", far, NULL, 0, &h);
	FS_CHECK(h.status == 503 && h.elapsed_ms < 8000,
	    "a revision nobody has: %d after %lld ms", h.status,
	    (long long) h.elapsed_ms);
	fs_http_resp_free(&h);
	/* A read that waits for a revision nobody has holds nobody else up:
	 * GETs on another connection meanwhile answer at once (it went out
	 * on its own, not in the coalescing slot every read would queue
	 * behind until its deadline). */
	struct far_get fg = {r1.gw_port, id, 0, 0};
	pthread_t thr;
	if (!FS_CHECK(pthread_create(&thr, NULL, far_get_main, &fg) == 0,
	        "thread"))
		goto out;
	fs_test_poll_pause(300);
	int64_t slowest = 0;
	for (int i = 0; i < 20; i++) {
		fs_restf(&r1, "GET", NULL, &h, "/api/flows/%s/", id);
		FS_CHECK(h.status == 200, "GET beside it: %d", h.status);
		if (h.elapsed_ms > slowest)
			slowest = h.elapsed_ms;
		fs_http_resp_free(&h);
	}
	pthread_join(thr, NULL);
	FS_CHECK(slowest < 1000,
	    "a GET beside a read waiting for its revision took %lld ms",
	    (long long) slowest);
	FS_CHECK(fg.status == 503, "the waiting GET: %d after %lld ms",
	    fg.status, (long long) fg.elapsed_ms);
out:
	stop_all();
}

static void
test_primary_stopped(void)
{
	const char *more[] = {"--backend", r1.backend_url, "--backend",
	    r2.backend_url, "--backend-poll-ms", "100", NULL};
	char id[64];
	fs_http_resp h;
	int ok = 0;

	start_all();
	if (!FS_CHECK(start_gateway(&p, more) == 0, "gateway starts") ||
	    FS_REST_CREATE(&p, "flows", "{\"name\": \"stopped\"}", id) != 0)
		goto out;
	/* The replicas have the create (a read of the gateway's own write
	 * can only be answered by a backend that has it). */
	replicas_catch_up();
	CU_ASSERT_FATAL(fs_test_proc_freeze(&p.backend, 5000) == 0);
	/* The first read may go to the primary and wait out its deadline;
	 * the gateway then leaves it out. */
	for (int i = 0; i < 20; i++) {
		fs_restf(&p, "GET", NULL, &h, "/api/flows/%s/", id);
		ok += h.status == 200;
		fs_http_resp_free(&h);
	}
	FS_CHECK(ok >= 18, "reads with the primary stopped: %d of 20 200", ok);
	fs_rest(&p, "POST", "/api/flows/", "{\"name\": \"while_stopped\"}",
	    &h);
	FS_CHECK(h.status == 503 && h.elapsed_ms < 10000,
	    "a change with the primary stopped: %d after %lld ms", h.status,
	    (long long) h.elapsed_ms);
	fs_http_resp_free(&h);
	fs_test_proc_cont(&p.backend);
	/* The primary back: changes go through again. */
	CU_ASSERT(fs_http_wait_status(p.gw_port, "/readyz", 200, 10000) == 0);
	FS_CHECK(FS_REST_CREATE(&p, "flows", "{\"name\": \"after\"}", id) == 0,
	    "a change once the primary is back");
out:
	stop_all();
}

/* A reader: GETs id through the gateway on port, one after another,
 * until `until`; counts them and keeps the slowest that answered 200. */
struct reader {
	int port;
	const char *id;
	int64_t until;
	int ok, failed;
	int64_t slowest_ok;
};

static void *
reader_main(void *arg)
{
	struct reader *rd = arg;
	fs_http_conn *c = NULL;
	char path[128];

	if (fs_http_connect(&c, rd->port, 5000) != 0)
		return NULL;
	snprintf(path, sizeof(path), "/api/flows/%s/", rd->id);
	while (fs_test_now_ms() < rd->until) {
		fs_http_resp h;
		if (fs_http_request(c, "GET", path, NULL, NULL, 0, &h) != 0) {
			rd->failed++;
			break;
		}
		if (h.status == 200) {
			rd->ok++;
			if (h.elapsed_ms > rd->slowest_ok)
				rd->slowest_ok = h.elapsed_ms;
		} else {
			rd->failed++;
		}
		fs_http_resp_free(&h);
	}
	fs_http_close(c);
	return NULL;
}

/* Eight readers through a gateway over the primary and both replicas
 * while replica 1 is stopped (SIGSTOP, kill 0) or killed (kill -9, kill
 * 1) 300 ms in, before the gateway's Health polls (every minute here) or
 * any call's deadline (3 s) can tell it. Stopped: the batch of reads that
 * went to it is not answered, but after GW_HEDGE_MS its place goes back,
 * its reads go again to another backend and the next batches go to the
 * others. Killed: a batch it had fails without an answer and its reads go
 * again at once. Either way the readers go on and none of their reads
 * fails. */
#define READERS 8
static void
readers_while_replica_lost(int kill)
{
	const char *more[] = {"--backend", r1.backend_url, "--backend",
	    r2.backend_url, "--backend-poll-ms", "60000", NULL};
	struct reader rd[READERS];
	pthread_t thr[READERS];
	char id[64];
	int started = 0, ok = 0, failed = 0;
	int64_t slowest = 0;

	start_all();
	if (!FS_CHECK(start_gateway(&p, more) == 0, "gateway starts") ||
	    FS_REST_CREATE(&p, "flows", "{\"name\": \"readers\"}", id) != 0)
		goto out;
	replicas_catch_up();
	if (!kill)
		CU_ASSERT_FATAL(fs_test_proc_freeze(&r1.backend, 5000) == 0);
	int64_t until = fs_test_now_ms() + 2000;
	for (int i = 0; i < READERS; i++) {
		rd[i] = (struct reader){p.gw_port, id, until, 0, 0, 0};
		if (pthread_create(&thr[i], NULL, reader_main, &rd[i]) != 0)
			break;
		started++;
	}
	if (kill) {
		fs_test_poll_pause(300);
		FS_CHECK(fs_test_killed_by(fs_test_proc_stop(&r1.backend,
		                               SIGKILL, 5000),
		             SIGKILL),
		    "replica 1 killed");
	}
	for (int i = 0; i < started; i++) {
		pthread_join(thr[i], NULL);
		ok += rd[i].ok;
		failed += rd[i].failed;
		if (rd[i].slowest_ok > slowest)
			slowest = rd[i].slowest_ok;
	}
	if (!kill) {
		double hedges = fs_http_metric(p.gw_port,
		    "flowsvc_gateway_read_hedges_total");
		fs_test_proc_cont(&r1.backend);
		FS_CHECK(hedges >= 1, "flowsvc_gateway_read_hedges_total %g",
		    hedges);
	}
	printf("\n    replica %s: %d reads answered in 2 s, %d failed, "
	       "slowest answered %lld ms\n",
	    kill ? "killed" : "stopped", ok, failed, (long long) slowest);
	FS_ASSERT_INT_EQ(started, READERS);
	FS_CHECK(ok >= 200, "%d reads answered in 2 s with a replica lost",
	    ok);
	FS_CHECK(failed == 0, "%d reads failed", failed);
	FS_CHECK(slowest < 1000, "a read answered after %lld ms",
	    (long long) slowest);
out:
	stop_all();
}

static void
test_replica_stopped_under_readers(void)
{
	readers_while_replica_lost(0);
}

static void
test_replica_killed_under_readers(void)
{
	readers_while_replica_lost(1);
}

/* A gateway over the primary and a replica that falls behind (its own
 * primary, a replica of the primary, is stopped): each create through the
 * gateway is read back at once, and a read that goes to the replica waits
 * there for the create's revision, which never comes; after GW_HEDGE_MS
 * it goes to the primary instead, so every read answers 200, at once
 * rather than at its deadline (3 s). */
static void
test_replica_behind_reads(void)
{
	const char *more[] = {"--backend", r2.backend_url, "--backend-poll-ms",
	    "60000", NULL};
	int ok = 0, slow = 0;
	int64_t slowest = 0;

	start_all();
	if (!FS_CHECK(start_gateway(&p, more) == 0, "gateway starts"))
		goto out;
	CU_ASSERT_FATAL(fs_test_proc_freeze(&r1.backend, 5000) == 0);
	for (int i = 0; i < 20; i++) {
		char body[64], id[64];
		fs_http_resp g;

		snprintf(body, sizeof(body), "{\"name\": \"behind_%d\"}", i);
		if (!FS_CHECK(FS_REST_CREATE(&p, "flows", body, id) == 0,
		        "create %d", i))
			break;
		fs_restf(&p, "GET", NULL, &g, "/api/flows/%s/", id);
		ok += g.status == 200;
		slow += g.elapsed_ms >= 1000;
		if (g.elapsed_ms > slowest)
			slowest = g.elapsed_ms;
		fs_http_resp_free(&g);
	}
	fs_test_proc_cont(&r1.backend);
	printf("\n    replica behind: %d of 20 reads 200, slowest %lld ms\n",
	    ok, (long long) slowest);
	FS_ASSERT_INT_EQ(ok, 20);
	FS_CHECK(slow == 0, "%d reads took 1 s or more (slowest %lld ms)",
	    slow, (long long) slowest);
out:
	stop_all();
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"2,000 creates through a spreading gateway, each read back at once",
	    test_spread_read_your_writes},
	{"the lifecycle through a gateway that knows only a replica",
	    test_lifecycle_through_replica},
	{"X-Min-Revision: ahead of every backend 503, malformed 400",
	    test_min_revision_header},
	{"primary stopped: reads answer from replicas, changes 503",
	    test_primary_stopped},
	{"a replica stopped under readers: its batch goes elsewhere",
	    test_replica_stopped_under_readers},
	{"a replica killed under readers: its batch goes elsewhere",
	    test_replica_killed_under_readers},
	{"a replica behind: a read waiting there goes to the primary",
	    test_replica_behind_reads},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"gateway over replicas", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
