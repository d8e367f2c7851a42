/*
 * test_replica.c - backend replicas (CONTRACT §8) with real processes: a
 * primary, a replica of it and a replica of that replica converge (the
 * same components, versions and statuses, the same revision); changes
 * sent to a replica are forwarded and answered with the primary's
 * answer; a replica killed with -9 resumes from its own data directory;
 * a replica whose primary is stopped still answers reads, and its
 * changes fail cleanly (UNAVAILABLE) within their deadline; read your
 * writes through a replica (min_revision, and the C client's own).
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define CALL_MS 5000
#define CONVERGE_MS 20000

/* ---- helpers ---------------------------------------------------------- */

/* Get by id; the code. */
static int
get(fs_client *c, const char *id)
{
	json_t *comp = NULL;
	int code = fs_trpc_get(c, id, &comp, NULL);

	json_decref(comp);
	return code;
}

/* Every component of c's backend, each with its status, as JSON. */
static json_t *
state_of(fs_client *c)
{
	json_t *all = fs_trpc_list(c, NULL), *v;
	size_t i;

	if (all == NULL)
		return NULL;
	json_array_foreach(all, i, v)
	{
		int st = -1;
		const char *id = json_string_value(json_object_get(v, "id"));
		if (id == NULL ||
		    fs_trpc_id(c, FLOWSVC__METHOD__GET_STATUS, id, CALL_MS,
		        &st) != FS_OK) {
			json_decref(all);
			return NULL;
		}
		json_object_set_new(v, "status", json_integer(st));
	}
	return all;
}

/* A mix of changes on c: creates (flows, apps using them), updates,
 * lifecycle calls, deletes. Returns the number that failed. */
static int
churn(fs_client *c, const char *prefix, int n)
{
	int bad = 0;
	char name[64], first[40] = "";

	for (int i = 0; i < n; i++) {
		json_t *comp = NULL;
		snprintf(name, sizeof(name), "%s_%d", prefix, i);
		int app = i % 5 == 4;
		int rv = fs_trpc_create(c,
		    app ? FLOWSVC__KIND__APP : FLOWSVC__KIND__FLOW, name,
		    "out", app && first[0] ? first : NULL, CALL_MS, &comp);
		if (rv != FS_OK) {
			bad++;
			continue;
		}
		const char *id =
		    json_string_value(json_object_get(comp, "id"));
		if (i == 0)
			snprintf(first, sizeof(first), "%s", id);
		if (i % 3 == 1) {
			json_t *u = NULL;
			bad += fs_trpc_update_out(c, id, "o2", CALL_MS, &u) !=
			    FS_OK;
			json_decref(u);
		}
		if (i % 4 == 2)
			bad += fs_trpc_id(c, FLOWSVC__METHOD__DEPLOY, id,
			           CALL_MS, NULL) != FS_OK;
		if (i % 7 == 3)
			bad += fs_trpc_id(c, FLOWSVC__METHOD__DELETE, id,
			           CALL_MS, NULL) != FS_OK;
		json_decref(comp);
	}
	return bad;
}

/* c's backend and ref's have the same state and revision. */
static void
assert_same(fs_client *c, fs_client *ref, const char *what)
{
	uint64_t want = fs_trpc_revision(ref);
	json_t *a, *b;

	FS_CHECK(fs_trpc_wait_revision(c, want, CONVERGE_MS) == 0,
	    "%s did not reach revision %llu (at %llu)", what,
	    (unsigned long long) want,
	    (unsigned long long) fs_trpc_revision(c));
	FS_ASSERT_INT_EQ(fs_trpc_revision(c), want);
	a = state_of(c);
	b = state_of(ref);
	if (FS_CHECK(a != NULL && b != NULL, "%s: lists", what))
		FS_ASSERT_JSON_SAME(a, b);
	json_decref(a);
	json_decref(b);
}

/* ---- converge ----------------------------------------------------------- */

/* A primary, a replica and a replica of the replica: changes made on the
 * primary, and changes sent to either replica (forwarded up the chain),
 * reach all three, with the same revisions; Health tells each one's role,
 * term, primary and lag. */
static void
test_chain_converges(void)
{
	fs_test_env p, r1, r2;

	FS_ASSERT_OK(fs_env_start_node(&p, "repl-p", NULL));
	FS_ASSERT_INT_EQ(churn(p.client, "before", 40), 0);
	FS_ASSERT_OK(fs_env_start_node(&r1, "repl-r1", p.backend_url));
	FS_ASSERT_OK(fs_env_start_node(&r2, "repl-r2", r1.backend_url));
	FS_ASSERT_INT_EQ(churn(p.client, "during", 40), 0);
	/* Changes sent to the replicas: the primary's answer. */
	FS_ASSERT_INT_EQ(churn(r1.client, "via_r1", 20), 0);
	FS_ASSERT_INT_EQ(churn(r2.client, "via_r2", 20), 0);
	json_t *comp = NULL, *again = NULL;
	FS_ASSERT_INT_EQ(fs_trpc_create(r2.client, FLOWSVC__KIND__FLOW,
	                     "via_r2_again", NULL, NULL, CALL_MS, &comp),
	    FS_OK);
	/* A change the primary refuses is refused the same way. */
	FS_ASSERT_INT_EQ(fs_trpc_create(r2.client, FLOWSVC__KIND__FLOW,
	                     "via_r2_again", NULL, NULL, CALL_MS, &again),
	    FS_ALREADY_EXISTS);
	json_decref(comp);
	json_decref(again);
	assert_same(r1.client, p.client, "replica");
	assert_same(r2.client, p.client, "replica of the replica");

	Flowsvc__HealthReply *h = fs_trpc_health(r2.client);
	if (FS_CHECK(h != NULL, "health")) {
		FS_ASSERT_STR_EQ(h->role, "replica");
		FS_ASSERT_STR_EQ(h->primary, r1.backend_url);
		FS_ASSERT_INT_EQ(h->term, 1);
		FS_ASSERT_INT_EQ(h->lag_revisions, 0);
		CU_ASSERT(h->has_accepts_changes && !h->accepts_changes);
		flowsvc__health_reply__free_unpacked(h, NULL);
	}
	h = fs_trpc_health(p.client);
	if (FS_CHECK(h != NULL, "health")) {
		FS_ASSERT_STR_EQ(h->role, "primary");
		CU_ASSERT(h->primary == NULL);
		CU_ASSERT(h->accepts_changes);
		flowsvc__health_reply__free_unpacked(h, NULL);
	}
	/* Snapshot on a replica snapshots the replica; it goes on
	 * following. */
	FS_ASSERT_OK(fs_trpc_snapshot(r1.client));
	FS_ASSERT_INT_EQ(churn(p.client, "after_snap", 10), 0);
	assert_same(r2.client, p.client, "replica of the replica");
	fs_env_fini(&r2);
	fs_env_fini(&r1);
	fs_env_fini(&p);
}

/* ---- kill -9 ------------------------------------------------------------ */

/* A replica killed with -9 resumes from its own data directory (the
 * revision it had, no new snapshot from the primary), catches up with
 * what it missed, and has the primary's state. */
static void
test_replica_kill_resumes(void)
{
	fs_test_env p, r;
	char log[PATH_MAX + 32];

	FS_ASSERT_OK(fs_env_start_node(&p, "repl-kp", NULL));
	FS_ASSERT_OK(fs_env_start_node(&r, "repl-kr", p.backend_url));
	FS_ASSERT_INT_EQ(churn(p.client, "a", 60), 0);
	assert_same(r.client, p.client, "replica");
	uint64_t had = fs_trpc_revision(r.client);
	fs_env_stop_backend(&r, SIGKILL);
	FS_ASSERT_INT_EQ(churn(p.client, "b", 30), 0);
	FS_ASSERT_OK(fs_env_start_backend(&r));
	assert_same(r.client, p.client, "restarted replica");
	snprintf(log, sizeof(log), "%s/flow-service.log", r.dir);
	char want[128];
	snprintf(want, sizeof(want), "following %s from revision %llu",
	    p.backend_url, (unsigned long long) had);
	FS_CHECK(fs_file_count(log, want) == 1,
	    "the restarted replica did not resume from revision %llu",
	    (unsigned long long) had);
	FS_ASSERT_INT_EQ(fs_file_count(log, "bootstrapped"), 0);
	fs_env_fini(&r);
	fs_env_fini(&p);
}

/* ---- the primary stopped ------------------------------------------------- */

/* With the primary frozen (SIGSTOP), a replica answers reads at once,
 * and a change sent to it fails with UNAVAILABLE, the replica's answer,
 * before the caller's deadline; with the primary back, changes go
 * through again. */
static void
test_primary_stopped(void)
{
	fs_test_env p, r;
	json_t *comp = NULL;

	FS_ASSERT_OK(fs_env_start_node(&p, "repl-sp", NULL));
	FS_ASSERT_OK(fs_env_start_node(&r, "repl-sr", p.backend_url));
	FS_ASSERT_INT_EQ(fs_trpc_create(p.client, FLOWSVC__KIND__FLOW, "kept",
	                     NULL, NULL, CALL_MS, &comp),
	    FS_OK);
	const char *id = json_string_value(json_object_get(comp, "id"));
	assert_same(r.client, p.client, "replica");
	FS_ASSERT_OK(fs_test_proc_freeze(&p.backend, 5000));

	int64_t t0 = fs_test_now_ms();
	json_t *got = NULL;
	FS_ASSERT_INT_EQ(fs_trpc_get(r.client, id, &got, NULL), FS_OK);
	json_decref(got);
	FS_CHECK(fs_test_now_ms() - t0 < 1000, "a read took %lld ms",
	    (long long) (fs_test_now_ms() - t0));

	Flowsvc__CreateRequest cr = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__Reply *rep = NULL;
	fs_call_opts o = {NULL, 3000, NULL, 0};
	cr.kind = FLOWSVC__KIND__FLOW;
	cr.name = "while_stopped";
	t0 = fs_test_now_ms();
	int code = fs_client_call(r.client, FLOWSVC__METHOD__CREATE, &cr.base,
	    &o, &rep);
	int64_t took = fs_test_now_ms() - t0;
	FS_ASSERT_CODE(code, FS_UNAVAILABLE, rep);
	FS_CHECK(rep != NULL, "no answer from the replica (a timeout)");
	FS_CHECK(took < 3000, "the change failed after %lld ms",
	    (long long) took);
	if (rep != NULL)
		flowsvc__reply__free_unpacked(rep, NULL);
	rep = NULL;
	FS_ASSERT_OK(fs_test_proc_cont(&p.backend));
	cr.name = "after_cont";
	o.timeout_ms = CALL_MS;
	FS_ASSERT_CODE(fs_client_call(r.client, FLOWSVC__METHOD__CREATE,
	                   &cr.base, &o, &rep),
	    FS_OK, rep);
	if (rep != NULL)
		flowsvc__reply__free_unpacked(rep, NULL);
	assert_same(r.client, p.client, "replica");
	json_decref(comp);
	fs_env_fini(&r);
	fs_env_fini(&p);
}

/* ---- read your writes ----------------------------------------------------- */

struct bg_get {
	fs_client *c;
	const char *id;
	int code;
	int64_t took;
	pthread_t thr;
};

static void *
bg_get_main(void *arg)
{
	struct bg_get *g = arg;
	int64_t t0 = fs_test_now_ms();

	g->code = get(g->c, g->id);
	g->took = fs_test_now_ms() - t0;
	return NULL;
}

/* P <- R1 <- R2 with R1 frozen, so that R2 cannot have what the primary
 * made since. A read of R2 that carries the primary's revision (the C
 * client's own, from fs_client_see_revision) waits for it, and answers
 * the new component once R1 is thawed; the same read without it answers
 * at once, without the component; one whose revision does not come in
 * time is UNAVAILABLE, within its deadline. */
static void
test_read_your_writes(void)
{
	fs_test_env p, r1, r2;
	json_t *comp = NULL;
	fs_client *c2 = NULL;

	FS_ASSERT_OK(fs_env_start_node(&p, "repl-yp", NULL));
	FS_ASSERT_OK(fs_env_start_node(&r1, "repl-y1", p.backend_url));
	FS_ASSERT_OK(fs_env_start_node(&r2, "repl-y2", r1.backend_url));
	assert_same(r2.client, p.client, "replica of the replica");
	FS_ASSERT_OK(fs_test_proc_freeze(&r1.backend, 5000));
	FS_ASSERT_INT_EQ(fs_trpc_create(p.client, FLOWSVC__KIND__FLOW, "mine",
	                     NULL, NULL, CALL_MS, &comp),
	    FS_OK);
	const char *id = json_string_value(json_object_get(comp, "id"));
	uint64_t rev = fs_client_revision(p.client);
	FS_CHECK(rev > fs_trpc_revision(r2.client),
	    "the replica is not behind");

	/* Without read your writes: what the replica has. */
	FS_ASSERT_OK(fs_client_open(&c2, r2.backend_url));
	fs_client_set_read_your_writes(c2, 0);
	fs_client_see_revision(c2, rev);
	FS_ASSERT_INT_EQ(get(c2, id), FS_NOT_FOUND);

	/* With it, but the revision never comes: UNAVAILABLE in time. */
	fs_client_set_read_your_writes(c2, 1);
	Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;
	Flowsvc__Reply *rep = NULL;
	fs_call_opts o = {NULL, 3000, NULL, 0};
	g.id = (char *) id;
	int64_t t0 = fs_test_now_ms();
	FS_ASSERT_CODE(fs_client_call(c2, FLOWSVC__METHOD__GET, &g.base, &o,
	                   &rep),
	    FS_UNAVAILABLE, rep);
	FS_CHECK(rep != NULL && fs_test_now_ms() - t0 < 3000,
	    "no answer from the replica before the deadline");
	if (rep != NULL)
		flowsvc__reply__free_unpacked(rep, NULL);

	/* With it, and the revision comes while it waits. */
	struct bg_get bg = {c2, id, -1, 0, 0};
	FS_ASSERT_INT_EQ(pthread_create(&bg.thr, NULL, bg_get_main, &bg), 0);
	fs_test_poll_pause(300);
	FS_ASSERT_OK(fs_test_proc_cont(&r1.backend));
	pthread_join(bg.thr, NULL);
	FS_ASSERT_INT_EQ(bg.code, FS_OK);

	/* A change made through the replica, then read through it, by one
	 * handle: always the change (the handle saw its revision). */
	for (int i = 0; i < 50; i++) {
		char name[32];
		json_t *c = NULL;
		snprintf(name, sizeof(name), "ryw_%d", i);
		if (!FS_CHECK(fs_trpc_create(c2, FLOWSVC__KIND__FLOW, name,
		                  NULL, NULL, CALL_MS, &c) == FS_OK,
		        "create %s through the replica", name))
			break;
		const char *cid = json_string_value(json_object_get(c, "id"));
		FS_ASSERT_INT_EQ(get(c2, cid), FS_OK);
		json_decref(c);
	}
	fs_client_close(c2);
	json_decref(comp);
	fs_env_fini(&r2);
	fs_env_fini(&r1);
	fs_env_fini(&p);
}

/* Coalesced reads (fs_client_set_coalesce) keep each call's own
 * min_revision: the batch they go out in waits for the highest of them.
 * P <- R1 <- R2 with R1 frozen, so R2 lacks a component made on P since.
 * A coalescing client of R2 that has seen P's revision (read-your-writes
 * off) sends a Get carrying that revision with a 1 s timeout (it holds
 * the one slot, then fails), and behind it 16 more with 8 s: they go out
 * as one batch when the first fails, R2 still behind. None of them may
 * answer before R1 is thawed, and each finds the component then. */
struct ryw_batch {
	atomic_int done, ok;
};

static void
ryw_batch_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	struct ryw_batch *b = arg;

	if (code == FS_OK)
		atomic_fetch_add(&b->ok, 1);
	atomic_fetch_add(&b->done, 1);
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
}

/* P <- R1 <- R2 with R1 frozen, then a flow made on P: R2 lacks it. */
struct behind_chain {
	fs_test_env p, r1, r2;
	const char *x2[4]; /* R2's flags: a replica of R1, --access-log */
	json_t *comp;      /* the flow made on P */
	uint64_t rev;      /* P's revision after it */
};

/* Starts ch (envs named tag-p, tag-1, tag-2); 0 or -1 (a check failed). */
static int
behind_start(struct behind_chain *ch, const char *tag, const char *flow)
{
	char n[3][32];

	memset(ch, 0, sizeof(*ch)); /* behind_stop after a failed start */
	snprintf(n[0], sizeof(n[0]), "%s-p", tag);
	snprintf(n[1], sizeof(n[1]), "%s-1", tag);
	snprintf(n[2], sizeof(n[2]), "%s-2", tag);
	ch->comp = NULL;
	if (!FS_ASSERT_OK(fs_env_start_node(&ch->p, n[0], NULL)) ||
	    !FS_ASSERT_OK(
	        fs_env_start_node(&ch->r1, n[1], ch->p.backend_url)) ||
	    !FS_ASSERT_OK(fs_env_init(&ch->r2, n[2])))
		return -1;
	ch->x2[0] = "--replica-of";
	ch->x2[1] = ch->r1.backend_url;
	ch->x2[2] = "--access-log";
	ch->x2[3] = NULL;
	if (!FS_ASSERT_OK(fs_env_start_backend_with(&ch->r2, ch->x2)))
		return -1;
	assert_same(ch->r2.client, ch->p.client, "replica of the replica");
	if (!FS_ASSERT_OK(fs_test_proc_freeze(&ch->r1.backend, 5000)) ||
	    !FS_CHECK(fs_trpc_create(ch->p.client, FLOWSVC__KIND__FLOW, flow,
	                  NULL, NULL, CALL_MS, &ch->comp) == FS_OK,
	        "create %s on the primary", flow))
		return -1;
	ch->rev = fs_client_revision(ch->p.client);
	return 0;
}

static void
behind_stop(struct behind_chain *ch)
{
	json_decref(ch->comp);
	fs_env_fini(&ch->r2);
	fs_env_fini(&ch->r1);
	fs_env_fini(&ch->p);
}

static void
test_coalesced_min_revision(void)
{
	enum { N = 16 };
	struct behind_chain ch;
	fs_client *c = NULL;
	struct ryw_batch b;

	atomic_init(&b.done, 0);
	atomic_init(&b.ok, 0);
	if (behind_start(&ch, "repl-c", "batched") != 0)
		goto out;
	uint64_t rev = ch.rev;

	FS_ASSERT_OK(fs_client_open(&c, ch.r2.backend_url));
	fs_client_set_read_your_writes(c, 0);
	FS_ASSERT_OK(fs_client_set_coalesce(c, 1));
	/* Connected (nothing to wait for at revision 0). */
	FS_ASSERT_INT_EQ(fs_trpc_wait_revision(c, 0, 5000), 0);
	/* As if it had seen P's revision (a read asking for more than its
	 * client has seen goes out alone, never in a batch). */
	fs_client_see_revision(c, rev);
	Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;
	fs_call_opts o = {NULL, 8000, NULL, rev};
	g.id = (char *) json_string_value(json_object_get(ch.comp, "id"));
	fs_call_opts first = {NULL, 1000, NULL, rev};
	FS_ASSERT_OK(fs_client_call_async(c, FLOWSVC__METHOD__GET, &g.base,
	    &first, ryw_batch_cb, &b));
	for (int i = 0; i < N; i++)
		FS_ASSERT_OK(fs_client_call_async(c, FLOWSVC__METHOD__GET,
		    &g.base, &o, ryw_batch_cb, &b));
	fs_test_poll_pause(2000);
	/* Only the first, at its deadline. */
	FS_CHECK(atomic_load(&b.done) == 1 && atomic_load(&b.ok) == 0,
	    "%d of %d reads answered (%d found the component) while the "
	    "replica was behind their min_revision",
	    atomic_load(&b.done), N + 1, atomic_load(&b.ok));
	FS_ASSERT_OK(fs_test_proc_cont(&ch.r1.backend));
	int64_t end = fs_test_now_ms() + 10000;
	while (atomic_load(&b.done) < N + 1 && fs_test_now_ms() < end)
		fs_test_poll_pause(20);
	FS_CHECK(atomic_load(&b.done) == N + 1 && atomic_load(&b.ok) == N,
	    "%d of %d reads answered, %d found the component (want %d)",
	    atomic_load(&b.done), N + 1, atomic_load(&b.ok), N);
	fs_client_close(c);
out:
	behind_stop(&ch);
}

/* A Watch carrying a min_revision waits, on a replica behind it, until
 * the replica has it (CONTRACT §8: any request may carry one), then
 * answers: asked from P's revision, which R2 does not have yet, it is
 * not refused as a revision in the future. */
/* The duration of the first access line of a Watch in the log at path
 * ("rpc WATCH OK 702.861ms"); -1 when there is none. */
static double
watch_duration_ms(const char *path)
{
	char line[1024];
	double ms = -1;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	while (ms < 0 && fgets(line, sizeof(line), f) != NULL) {
		const char *d = strstr(line, " rpc WATCH ");
		if (d == NULL)
			continue;
		d += strlen(" rpc WATCH ");
		while (*d != '\0' && *d != ' ') /* the code */
			d++;
		ms = strtod(d, NULL);
	}
	fclose(f);
	return ms;
}

static void
test_watch_min_revision(void)
{
	struct behind_chain ch;
	fs_client *c = NULL;
	struct ryw_batch b;

	atomic_init(&b.done, 0);
	atomic_init(&b.ok, 0);
	if (behind_start(&ch, "repl-w", "watched") != 0)
		goto out;
	uint64_t rev = ch.rev;

	FS_ASSERT_OK(fs_client_open(&c, ch.r2.backend_url));
	FS_ASSERT_INT_EQ(fs_trpc_wait_revision(c, 0, 5000), 0);
	Flowsvc__WatchRequest w = FLOWSVC__WATCH_REQUEST__INIT;
	w.has_since_revision = 1;
	w.since_revision = rev;
	w.has_wait_ms = 1;
	w.wait_ms = 2000;
	fs_call_opts o = {NULL, 8000, NULL, rev};
	FS_ASSERT_OK(fs_client_call_async(c, FLOWSVC__METHOD__WATCH, &w.base,
	    &o, ryw_batch_cb, &b));
	fs_test_poll_pause(700);
	FS_CHECK(atomic_load(&b.done) == 0,
	    "the watch answered (%s) while the replica was behind its "
	    "min_revision",
	    atomic_load(&b.ok) ? "OK" : "an error");
	FS_ASSERT_OK(fs_test_proc_cont(&ch.r1.backend));
	int64_t end = fs_test_now_ms() + 10000;
	while (atomic_load(&b.done) < 1 && fs_test_now_ms() < end)
		fs_test_poll_pause(20);
	FS_CHECK(atomic_load(&b.done) == 1 && atomic_load(&b.ok) == 1,
	    "the watch: %d answers, %d OK", atomic_load(&b.done),
	    atomic_load(&b.ok));
	/* Its access line says how long it took from its arrival: a few
	 * seconds at most (once a time since 1970). */
	double ms = watch_duration_ms(ch.r2.backend.log_path);
	FS_CHECK(ms >= 0 && ms < 60000, "the Watch's access line: %g ms", ms);
	fs_client_close(c);
out:
	behind_stop(&ch);
}

/* ---- under load ------------------------------------------------------------ */

struct blast {
	atomic_int inflight, failed;
};

static void
blast_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	struct blast *b = arg;

	if (code != FS_OK)
		atomic_fetch_add(&b->failed, 1);
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	atomic_fetch_sub(&b->inflight, 1);
}

/* n creates on c, as fast as the backend takes them (64 in flight,
 * coalesced). Returns how many failed. */
static int
blast(fs_client *c, const char *prefix, int n)
{
	struct blast b;
	char name[64];
	Flowsvc__CreateRequest cr = FLOWSVC__CREATE_REQUEST__INIT;

	atomic_init(&b.inflight, 0);
	atomic_init(&b.failed, 0);
	fs_client_set_coalesce(c, 4);
	cr.kind = FLOWSVC__KIND__FLOW;
	cr.name = name;
	for (int i = 0; i < n; i++) {
		while (atomic_load(&b.inflight) >= 64)
			fs_test_poll_pause(1);
		snprintf(name, sizeof(name), "%s_%d", prefix, i);
		atomic_fetch_add(&b.inflight, 1);
		if (fs_client_call_async(c, FLOWSVC__METHOD__CREATE, &cr.base,
		        NULL, blast_cb, &b) != 0) {
			atomic_fetch_sub(&b.inflight, 1);
			atomic_fetch_add(&b.failed, 1);
		}
	}
	while (atomic_load(&b.inflight) > 0)
		fs_test_poll_pause(5);
	fs_client_set_coalesce(c, 0);
	return atomic_load(&b.failed);
}

/* A replica following a primary that takes changes as fast as it can
 * keeps up without ever being told it diverged: a record is shipped
 * from the primary's log a moment before the primary's store applies it,
 * and a follower that asks on from it at once has not diverged. */
static void
test_follows_under_load(void)
{
	fs_test_env p, r;
	char log[PATH_MAX + 32];

	FS_ASSERT_OK(fs_env_start_node(&p, "repl-lp", NULL));
	FS_ASSERT_OK(fs_env_start_node(&r, "repl-lr", p.backend_url));
	for (int round = 0; round < 4; round++) {
		char prefix[16];
		snprintf(prefix, sizeof(prefix), "load%d", round);
		FS_ASSERT_INT_EQ(blast(p.client, prefix, 5000), 0);
	}
	assert_same(r.client, p.client, "replica");
	snprintf(log, sizeof(log), "%s/flow-service.log", r.dir);
	FS_ASSERT_INT_EQ(fs_file_count(log, "fresh snapshot"), 0);
	FS_ASSERT_INT_EQ(fs_file_count(log, "was not applied"), 0);
	fs_env_fini(&r);
	fs_env_fini(&p);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"primary, replica, replica of the replica converge",
	    test_chain_converges},
	{"kill -9 of a replica: it resumes from its data dir",
	    test_replica_kill_resumes},
	{"primary stopped: reads answer, changes fail cleanly",
	    test_primary_stopped},
	{"coalesced reads keep each call's min_revision",
	    test_coalesced_min_revision},
	{"a Watch waits on a replica for its min_revision",
	    test_watch_min_revision},
	{"read your writes through a replica (min_revision)",
	    test_read_your_writes},
	{"a replica keeps up with a primary under load",
	    test_follows_under_load},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"replicas", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
