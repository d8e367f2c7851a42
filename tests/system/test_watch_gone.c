/*
 * test_watch_gone.c - long polls whose client's connection closes (a
 * crashed service, a gateway restarting) end at once in the backend:
 * their places among its long polls (--max-watches) come back within
 * seconds, not when their waits (here 60 s) would have ended, and what
 * they held is freed. Parked watches of a closed client and of a
 * flowctl watch killed with -9; followers' Replicate long polls; reads
 * waiting on a replica for their min_revision; and many client
 * processes that park watches and are killed while changes wake them,
 * over and over (the backend, built with ASan, must neither crash nor
 * leak, and still answers; Stats' counts of waiting calls go back to
 * 0).
 *
 * Each test starts its own backend. Stats.watches counts parked
 * watches, Stats.waiting the calls waiting for a revision.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "fs_util.h"
#include "testlib.h"

/* The long polls' wait: far beyond every bound the tests allow. */
#define LONG_WAIT_MS 60000u
/* How soon a place must be free again once its client has gone (the
 * fix takes a few ms; before it, until the wait ended). */
#define BACK_WITHIN_MS 5000

/* Park's watches ask for small answers: a large one that a closing
 * client leaves half written can hang nng 1.5.2's pipe reaper
 * (fs_rpc_server.c). */
#define PARK_MAX_EVENTS 16

/* What Stats says: parked watches, calls waiting for a revision, and how
 * many calls of method were counted with code. -1 each when it did not
 * answer. */
struct stats {
	int64_t watches, waiting, count;
};

static struct stats
stats_of(fs_client *c, int method, int code)
{
	struct stats r = {-1, -1, -1};
	ProtobufCMessage *out = NULL;

	if (fs_tw_call(c, FLOWSVC__METHOD__STATS, NULL, NULL,
	        &flowsvc__stats_reply__descriptor, &out, NULL) == FS_OK) {
		Flowsvc__StatsReply *st = (Flowsvc__StatsReply *) out;
		r.watches = (int64_t) st->watches;
		r.waiting = st->has_waiting ? (int64_t) st->waiting : -1;
		r.count = 0;
		for (size_t i = 0; i < st->n_requests; i++)
			if ((int) st->requests[i]->method == method &&
			    (int) st->requests[i]->code == code)
				r.count += (int64_t) st->requests[i]->count;
	}
	if (out != NULL)
		protobuf_c_message_free_unpacked(out, NULL);
	return r;
}

/* Polls Stats until watches and waiting are both at most the given
 * figures, for at most timeout_ms. Returns 0, or -1 (the last figures in
 * *last). */
static int
wait_stats_down(fs_client *c, int64_t watches, int64_t waiting, int timeout_ms,
    struct stats *last)
{
	int64_t until = fs_test_now_ms() + timeout_ms;

	for (;;) {
		*last = stats_of(c, FLOWSVC__METHOD__WATCH, FS_OK);
		if (last->watches >= 0 && last->watches <= watches &&
		    last->waiting >= 0 && last->waiting <= waiting)
			return 0;
		if (fs_test_now_ms() > until)
			return -1;
		fs_test_poll_pause(5);
	}
}

/* Polls Stats until waiting reaches at least n, for at most timeout_ms. */
static int
wait_waiting(fs_client *c, int64_t n, int timeout_ms)
{
	int64_t until = fs_test_now_ms() + timeout_ms;

	while (stats_of(c, FLOWSVC__METHOD__WATCH, FS_OK).waiting < n) {
		if (fs_test_now_ms() > until)
			return -1;
		fs_test_poll_pause(5);
	}
	return 0;
}

/* A Watch of c that answers at once (wait 0): its code, the reply's
 * message in msg. */
static int
watch_now(fs_client *c, uint64_t since, char *msg, size_t len)
{
	Flowsvc__WatchReply *w = NULL;
	Flowsvc__Reply *rep = NULL;
	int code = fs_tw_watch(c, 1, since, 0, NULL, 0, 0, NULL, &w, &rep);

	snprintf(msg, len, "%s",
	    rep != NULL && rep->message != NULL ? rep->message : "");
	if (w != NULL)
		flowsvc__watch_reply__free_unpacked(w, NULL);
	if (rep != NULL)
		flowsvc__reply__free_unpacked(rep, NULL);
	return code;
}

/* Polls a Watch of c until one is accepted (not RESOURCE_EXHAUSTED), for
 * at most timeout_ms. Returns how long that took, or -1. */
static int64_t
wait_accepted(fs_client *c, uint64_t since, int timeout_ms)
{
	int64_t t0 = fs_test_now_ms();
	char msg[160];

	for (;;) {
		if (watch_now(c, since, msg, sizeof(msg)) == FS_OK)
			return fs_test_now_ms() - t0;
		if (fs_test_now_ms() - t0 > timeout_ms)
			return -1;
		fs_test_poll_pause(20);
	}
}

/* Stops env's backend with SIGTERM: it must exit 0 (no sanitizer
 * report, no leak). */
static void
stop_clean(fs_test_env *env)
{
	int st = fs_env_stop_backend(env, SIGTERM);
	FS_CHECK(fs_test_exited_zero(st), "backend exit status 0x%x", st);
}

/* --max-watches 4, all four parked by one client: another client's watch
 * is refused; once the first client closes, it is accepted within
 * seconds, the four are counted CANCELLED and Stats.watches is 0. */
static void
test_closed_client_gives_places_back(void)
{
	static const char *const flags[] = {"--max-watches", "4", NULL};
	fs_tw_outcomes o = {0};
	fs_test_env env;
	fs_client *a = NULL;
	struct stats st;
	char msg[160];

	if (fs_env_init(&env, "gone_close") != 0)
		return;
	env.svc_extra = flags;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend") ||
	    !FS_ASSERT_OK(fs_client_open(&a, env.backend_url)))
		goto out;
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "gc_x",
	    NULL, NULL, 0, NULL, NULL, NULL));
	uint64_t cur = fs_tw_revision(env.client);
	FS_ASSERT_INT_EQ(fs_tw_park(a, 4, cur, "gc_none", LONG_WAIT_MS,
	                     PARK_MAX_EVENTS, &o),
	    4);
	if (!FS_CHECK(fs_tw_wait_parked(env.client, 4, 10000) == 0,
	        "4 parked: %lld", (long long) fs_tw_parked(env.client)))
		goto out;
	FS_ASSERT_INT_EQ(watch_now(env.client, cur, msg, sizeof(msg)),
	    FS_RESOURCE_EXHAUSTED);
	FS_ASSERT_STR_EQ(msg,
	    "Too many long polls in progress on this backend (at most 4).");

	fs_client_close(a);
	a = NULL;
	FS_ASSERT_INT_EQ(atomic_load(&o.done), 4);
	int64_t ms = wait_accepted(env.client, cur, BACK_WITHIN_MS);
	fprintf(stderr, "  a place back %lld ms after its client closed\n",
	    (long long) ms);
	FS_CHECK(ms >= 0, "still refused %d ms after the client closed",
	    BACK_WITHIN_MS);
	if (wait_stats_down(env.client, 0, 0, BACK_WITHIN_MS, &st) != 0)
		FS_CHECK(0, "Stats: %lld watches, %lld waiting",
		    (long long) st.watches, (long long) st.waiting);
	FS_ASSERT_INT_EQ(stats_of(env.client, FLOWSVC__METHOD__WATCH,
	                     FS_CANCELLED)
	                     .count,
	    4);

	/* All four places serve again: parked, and woken by a change. */
	fs_tw_outcomes b = {0};
	FS_ASSERT_INT_EQ(fs_tw_park(env.client, 4, cur, "gc_g", LONG_WAIT_MS,
	                     PARK_MAX_EVENTS, &b),
	    4);
	FS_CHECK(fs_tw_wait_parked(env.client, 4, 10000) == 0, "4 parked");
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "gc_y",
	    "gc_g", NULL, 0, NULL, NULL, NULL));
	fs_tw_wait_done(&b, 4, 10000);
	FS_ASSERT_INT_EQ(atomic_load(&b.ok), 4);
	stop_clean(&env);
out:
	fs_client_close(a);
	fs_env_fini(&env);
}

/* flowctl watch processes killed with -9 (no goodbye: the kernel closes
 * their connections) give their places back as well. */
static void
test_killed_watchers_give_places_back(void)
{
	static const char *const flags[] = {"--max-watches", "3", NULL};
	fs_test_proc w[3];
	fs_test_env env;
	struct stats st;
	char msg[160], log[PATH_MAX + 64];

	memset(w, 0, sizeof(w));
	if (fs_env_init(&env, "gone_kill") != 0)
		return;
	env.svc_extra = flags;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend"))
		goto out;
	uint64_t cur = fs_tw_revision(env.client);
	for (int i = 0; i < 3; i++) {
		char name[32];
		char *argv[] = {(char *) "flowctl", (char *) "--backend",
		    env.backend_url, (char *) "watch", (char *) "--group",
		    (char *) "gk_none", NULL};
		snprintf(name, sizeof(name), "flowctl-watch-%d", i);
		snprintf(log, sizeof(log), "%s/%s.log", env.dir, name);
		FS_ASSERT_OK(
		    fs_test_proc_start(&w[i], name, FLOWCTL_BIN, argv, log));
	}
	if (!FS_CHECK(fs_tw_wait_parked(env.client, 3, 15000) == 0,
	        "3 parked: %lld", (long long) fs_tw_parked(env.client)))
		goto out;
	FS_ASSERT_INT_EQ(watch_now(env.client, cur, msg, sizeof(msg)),
	    FS_RESOURCE_EXHAUSTED);
	for (int i = 0; i < 3; i++)
		FS_CHECK(fs_test_killed_by(fs_test_proc_stop(&w[i], SIGKILL,
		                               5000),
		             SIGKILL),
		    "flowctl watch %d killed", i);
	int64_t ms = wait_accepted(env.client, cur, BACK_WITHIN_MS);
	fprintf(stderr, "  a place back %lld ms after kill -9 of its client\n",
	    (long long) ms);
	FS_CHECK(ms >= 0, "still refused %d ms after the kill",
	    BACK_WITHIN_MS);
	if (wait_stats_down(env.client, 0, 0, BACK_WITHIN_MS, &st) != 0)
		FS_CHECK(0, "Stats: %lld watches", (long long) st.watches);
	stop_clean(&env);
out:
	for (int i = 0; i < 3; i++)
		if (w[i].pid != 0)
			fs_test_proc_stop(&w[i], SIGKILL, 5000);
	fs_env_fini(&env);
}

/* Starts n Replicate long polls on c at the backend's revision and term
 * (so that they wait for the next change). Returns how many started. */
static int
replicate_park(fs_client *c, int n, uint64_t rev, uint64_t term,
    fs_tw_outcomes *o)
{
	Flowsvc__ReplicateRequest m = FLOWSVC__REPLICATE_REQUEST__INIT;
	fs_call_opts co = {NULL, LONG_WAIT_MS + 10000, NULL, 0};
	int started = 0;

	m.has_from_revision = 1;
	m.from_revision = rev;
	m.has_from_term = 1;
	m.from_term = term;
	m.has_wait_ms = 1;
	m.wait_ms = LONG_WAIT_MS;
	for (int i = 0; i < n; i++)
		started += fs_client_call_async(c, FLOWSVC__METHOD__REPLICATE,
		               &m.base, &co, fs_tw_on_reply, o) == 0;
	return started;
}

/* Followers' Replicate long polls count against --max-watches too; a
 * follower that goes away gives its places back at once. */
static void
test_closed_follower_gives_places_back(void)
{
	static const char *const flags[] = {"--max-watches", "2", NULL};
	fs_tw_outcomes o = {0};
	fs_test_env env;
	fs_client *a = NULL;
	Flowsvc__HealthReply *h = NULL;
	struct stats st;
	char msg[160];

	if (fs_env_init(&env, "gone_repl") != 0)
		return;
	env.svc_extra = flags;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend") ||
	    !FS_ASSERT_OK(fs_client_open(&a, env.backend_url)))
		goto out;
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "gr_x",
	    NULL, NULL, 0, NULL, NULL, NULL));
	if (!FS_CHECK((h = fs_trpc_health(env.client)) != NULL, "health"))
		goto out;
	uint64_t cur = h->revision;
	FS_ASSERT_INT_EQ(replicate_park(a, 2, cur, h->term, &o), 2);
	if (!FS_CHECK(wait_waiting(env.client, 2, 10000) == 0,
	        "2 Replicate calls waiting"))
		goto out;
	FS_ASSERT_INT_EQ(atomic_load(&o.done), 0);
	FS_ASSERT_INT_EQ(watch_now(env.client, cur, msg, sizeof(msg)),
	    FS_RESOURCE_EXHAUSTED);

	fs_client_close(a);
	a = NULL;
	int64_t ms = wait_accepted(env.client, cur, BACK_WITHIN_MS);
	FS_CHECK(ms >= 0, "still refused %d ms after the follower closed",
	    BACK_WITHIN_MS);
	if (wait_stats_down(env.client, 0, 0, BACK_WITHIN_MS, &st) != 0)
		FS_CHECK(0, "Stats: %lld waiting", (long long) st.waiting);
	FS_ASSERT_INT_EQ(stats_of(env.client, FLOWSVC__METHOD__REPLICATE,
	                     FS_CANCELLED)
	                     .count,
	    2);
	stop_clean(&env);
out:
	if (h != NULL)
		flowsvc__health_reply__free_unpacked(h, NULL);
	fs_client_close(a);
	fs_env_fini(&env);
}

/* A connection of its own that sends requests, each on a context of its
 * own, and is then dropped at once: fs_client_close would wait for the
 * replies of ordinary calls (here, reads that wait) first. */
#define RAW_MAX 4

struct raw {
	nng_socket sock;
	nng_ctx ctx[RAW_MAX];
	nng_aio *aio[RAW_MAX];
	int n;
	int open;
};

static int
raw_open(struct raw *r, const char *url)
{
	memset(r, 0, sizeof(*r));
	if (nng_req0_open(&r->sock) != 0)
		return -1;
	r->open = 1;
	if (nng_socket_set_ms(r->sock, NNG_OPT_REQ_RESENDTIME,
	        NNG_DURATION_INFINITE) != 0 ||
	    nng_dial(r->sock, url, NULL, 0) != 0)
		return -1;
	return 0;
}

/* Sends env and waits for the reply (which the close cuts short). */
static int
raw_send(struct raw *r, const Flowsvc__Request *env)
{
	nng_msg *msg = NULL;
	int i = r->n;

	if (i == RAW_MAX || nng_aio_alloc(&r->aio[i], NULL, NULL) != 0)
		return -1;
	if (nng_ctx_open(&r->ctx[i], r->sock) != 0) {
		nng_aio_free(r->aio[i]);
		r->aio[i] = NULL;
		return -1;
	}
	r->n++;
	if (nng_msg_alloc(&msg, flowsvc__request__get_packed_size(env)) != 0)
		return -1;
	flowsvc__request__pack(env, nng_msg_body(msg));
	nng_aio_set_msg(r->aio[i], msg);
	nng_ctx_send(r->ctx[i], r->aio[i]);
	nng_aio_wait(r->aio[i]);
	if (nng_aio_result(r->aio[i]) != 0) {
		nng_msg_free(msg);
		return -1;
	}
	nng_ctx_recv(r->ctx[i], r->aio[i]);
	return 0;
}

static void
raw_close(struct raw *r)
{
	for (int i = 0; i < r->n; i++) {
		nng_aio_cancel(r->aio[i]);
		nng_aio_wait(r->aio[i]);
		if (nng_aio_result(r->aio[i]) == 0)
			nng_msg_free(nng_aio_get_msg(r->aio[i]));
		nng_ctx_close(r->ctx[i]);
	}
	if (r->open)
		nng_close(r->sock);
	for (int i = 0; i < r->n; i++)
		nng_aio_free(r->aio[i]);
	memset(r, 0, sizeof(*r));
}

/* Reads waiting on a replica for a revision it will not reach soon (their
 * min_revision) end at once when their client goes: counted CANCELLED,
 * Stats.waiting back to 0, the replica still serving. */
static void
test_closed_reader_ends_its_waits(void)
{
	fs_test_env p, r;
	const char *rx[] = {"--replica-of", NULL, NULL};
	struct raw a = {0};
	struct stats st;
	char id[FS_UUID_STRLEN + 1];

	memset(&r, 0, sizeof(r));
	if (fs_env_init(&p, "gone_read_p") != 0)
		return;
	if (!FS_CHECK(fs_env_start_backend(&p) == 0, "primary") ||
	    fs_env_init(&r, "gone_read_r") != 0)
		goto out;
	rx[1] = p.backend_url;
	FS_ASSERT_OK(fs_tw_create(p.client, FLOWSVC__KIND__FLOW, "grd_x", NULL,
	    NULL, 0, NULL, id, NULL));
	if (!FS_CHECK(fs_env_start_backend_with(&r, rx) == 0, "replica"))
		goto out;
	uint64_t cur = fs_tw_revision(p.client);
	FS_CHECK(fs_trpc_wait_revision(r.client, cur, 10000) == 0,
	    "replica at %llu", (unsigned long long) cur);

	Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;
	Flowsvc__Request env = FLOWSVC__REQUEST__INIT;
	uint8_t payload[128];
	g.id = id;
	env.method = FLOWSVC__METHOD__GET;
	env.has_payload = 1;
	env.payload.data = payload;
	env.payload.len = flowsvc__get_request__pack(&g, payload);
	env.has_deadline_unix_ms = 1;
	env.deadline_unix_ms = fs_now_ms() + LONG_WAIT_MS;
	env.has_min_revision = 1;
	env.min_revision = cur + 1000000;
	if (!FS_CHECK(raw_open(&a, r.backend_url) == 0, "raw connection"))
		goto out;
	for (int i = 0; i < 3; i++)
		FS_CHECK(raw_send(&a, &env) == 0, "read %d sent", i);
	if (!FS_CHECK(wait_waiting(r.client, 3, 10000) == 0,
	        "3 reads waiting"))
		goto out;
	raw_close(&a);
	if (wait_stats_down(r.client, 0, 0, BACK_WITHIN_MS, &st) != 0)
		FS_CHECK(0,
		    "replica's Stats: %lld waiting %d ms after the reader "
		    "closed",
		    (long long) st.waiting, BACK_WITHIN_MS);
	FS_ASSERT_INT_EQ(stats_of(r.client, FLOWSVC__METHOD__GET, FS_CANCELLED)
	                     .count,
	    3);
	json_t *comp = NULL;
	FS_ASSERT_OK(fs_trpc_get(r.client, id, &comp, NULL));
	json_decref(comp);
	stop_clean(&r);
out:
	raw_close(&a);
	fs_env_fini(&r);
	fs_env_fini(&p);
}

/* ---- many clients, killed while changes wake their watches ------------- */

/* A client process (this program, run as "churn URL SINCE TERM GROUP"):
 * parks watches from SINCE (half in GROUP, a quarter in a group nothing
 * changes, a quarter unfiltered) and a Replicate long poll, makes sure
 * the backend has them all (a Stats call after them on the same
 * connection), says "ready" and waits to be killed with -9. Processes,
 * not fs_client_close: the kernel drops a killed client's connection
 * without the teardown in which nng 1.5.2 itself can hang (a close
 * while a reply is half read). And nothing is sent after "ready": nng
 * 1.5.2's TCP transport loses a read that it resubmits on a connection
 * closed meanwhile, after which the backend's pipe reaper waits for it
 * forever (fs_rpc_server.c), a hang of nng's own that a client killed
 * while a request of its was half read would bring on. */
#define CHURN_WATCHES 8

static int
churn_main(const char *url, uint64_t since, uint64_t term, const char *group)
{
	static fs_tw_outcomes o;
	fs_client *c = NULL;

	if (fs_client_open(&c, url) != 0)
		return 1;
	fs_tw_park(c, CHURN_WATCHES / 2, since, group, LONG_WAIT_MS,
	    PARK_MAX_EVENTS, &o);
	fs_tw_park(c, CHURN_WATCHES / 4, since, "race_none", LONG_WAIT_MS,
	    PARK_MAX_EVENTS, &o);
	fs_tw_park(c, CHURN_WATCHES / 4, since, NULL, LONG_WAIT_MS,
	    PARK_MAX_EVENTS, &o);
	replicate_park(c, 1, since, term, &o);
	if (fs_tw_parked(c) < 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	for (;;)
		fs_test_poll_pause(1000); /* until killed */
}

#define RACE_PROCS 4
#define RACE_ROUNDS 12
#define RACE_MAX 64

/* Rounds of RACE_PROCS client processes. Once they are ready, each is
 * killed with -9 right before or after a change to the flow of its group
 * (a random order, and 0 to 3 ms apart), so that the change wakes its
 * watches just as its connection closes. Then: the backend is up,
 * nothing of theirs waits, every place is free, and it exits cleanly
 * (ASan and LSan quiet). */
static void
test_close_race(void)
{
	static const char *const flags[] = {"--max-watches", "64", NULL};
	fs_test_env env;
	struct stats st;
	fs_tw_outcomes changes = {0};
	char ids[RACE_PROCS][FS_UUID_STRLEN + 1];
	int nchanges = 0;
	unsigned seed = (unsigned) fs_test_now_ms();

	if (fs_env_init(&env, "gone_race") != 0)
		return;
	env.svc_extra = flags;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend"))
		goto out;
	for (int i = 0; i < RACE_PROCS; i++) {
		char name[32], group[32];
		snprintf(name, sizeof(name), "race_%d", i);
		snprintf(group, sizeof(group), "race_g%d", i);
		FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW,
		    name, group, NULL, 0, NULL, ids[i], NULL));
	}
	Flowsvc__HealthReply *h = fs_trpc_health(env.client);
	if (!FS_CHECK(h != NULL, "health"))
		goto out;
	uint64_t term = h->term;
	flowsvc__health_reply__free_unpacked(h, NULL);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		fs_test_proc p[RACE_PROCS];
		char logs[RACE_PROCS][PATH_MAX + 64];
		char since[24], tm[24];
		memset(p, 0, sizeof(p));
		snprintf(since, sizeof(since), "%llu",
		    (unsigned long long) fs_tw_revision(env.client));
		snprintf(tm, sizeof(tm), "%llu", (unsigned long long) term);
		for (int i = 0; i < RACE_PROCS; i++) {
			char name[32], group[32];
			snprintf(name, sizeof(name), "churn-%d-%d", round, i);
			snprintf(group, sizeof(group), "race_g%d", i);
			snprintf(logs[i], sizeof(logs[i]), "%s/%s.log",
			    env.dir, name);
			char *argv[] = {name, (char *) "churn",
			    env.backend_url, since, tm, group, NULL};
			FS_CHECK(fs_test_proc_start(&p[i], name,
			             "/proc/self/exe", argv, logs[i]) == 0,
			    "%s started", name);
		}
		int64_t until = fs_test_now_ms() + 15000;
		for (int i = 0; i < RACE_PROCS; i++)
			while (fs_file_count(logs[i], "ready") < 1 &&
			    fs_test_now_ms() < until)
				fs_test_poll_pause(2);
		for (int i = 0; i < RACE_PROCS; i++) {
			Flowsvc__UpdateRequest u =
			    FLOWSVC__UPDATE_REQUEST__INIT;
			Flowsvc__StringList outl = FLOWSVC__STRING_LIST__INIT;
			char *out[1] = {since};
			u.id = ids[i];
			outl.n_items = 1;
			outl.items = out;
			u.output_fields = &outl;
			seed = seed * 1103515245u + 12345u;
			int kill_first = (seed >> 16) & 1;
			int gap = (int) ((seed >> 17) % 4);
			if (kill_first)
				kill(p[i].pid, SIGKILL);
			if (gap > 0)
				fs_test_poll_pause(gap);
			nchanges += fs_client_call_async(env.client,
			                FLOWSVC__METHOD__UPDATE, &u.base, NULL,
			                fs_tw_on_reply, &changes) == 0;
			if (!kill_first)
				kill(p[i].pid, SIGKILL);
		}
		for (int i = 0; i < RACE_PROCS; i++)
			FS_CHECK(fs_test_killed_by(fs_test_proc_stop(&p[i],
			                               SIGKILL, 5000),
			             SIGKILL),
			    "%s killed", p[i].name);
	}
	fs_tw_wait_done(&changes, nchanges, 10000);
	FS_ASSERT_INT_EQ(atomic_load(&changes.done), nchanges);
	if (!FS_CHECK(fs_test_proc_alive(&env.backend), "backend died"))
		goto out;

	/* Nothing of the killed clients is left waiting, and some of their
	 * watches were parked when they went. */
	if (wait_stats_down(env.client, 0, 0, BACK_WITHIN_MS, &st) != 0)
		FS_CHECK(0, "Stats: %lld watches, %lld waiting",
		    (long long) st.watches, (long long) st.waiting);
	int64_t cancelled =
	    stats_of(env.client, FLOWSVC__METHOD__WATCH, FS_CANCELLED).count;
	fprintf(stderr,
	    "  %d client processes killed: %lld parked watches ended by it\n",
	    RACE_PROCS * RACE_ROUNDS, (long long) cancelled);
	FS_CHECK(cancelled > 0, "no watch was parked when its client died");

	/* Every place is free: RACE_MAX watches park, and a change in their
	 * group answers them all. */
	fs_tw_outcomes o = {0};
	uint64_t cur = fs_tw_revision(env.client);
	FS_ASSERT_INT_EQ(fs_tw_park(env.client, RACE_MAX, cur, "race_after",
	                     LONG_WAIT_MS, PARK_MAX_EVENTS, &o),
	    RACE_MAX);
	FS_CHECK(fs_tw_wait_parked(env.client, RACE_MAX, 10000) == 0,
	    "%d parked: %lld", RACE_MAX, (long long) fs_tw_parked(env.client));
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "race_a",
	    "race_after", NULL, 0, NULL, NULL, NULL));
	fs_tw_wait_done(&o, RACE_MAX, 10000);
	FS_ASSERT_INT_EQ(atomic_load(&o.ok), RACE_MAX);
	stop_clean(&env);
out:
	fs_env_fini(&env);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"a closed client's parked watches give their places back",
	    test_closed_client_gives_places_back},
	{"kill -9 of flowctl watch gives its places back",
	    test_killed_watchers_give_places_back},
	{"a closed follower's Replicate long polls give their places back",
	    test_closed_follower_gives_places_back},
	{"a closed reader's waits for min_revision end",
	    test_closed_reader_ends_its_waits},
	{"clients closing while changes wake their watches",
	    test_close_race},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"long polls of closed connections", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "churn") == 0)
		return churn_main(argv[2], strtoull(argv[3], NULL, 10),
		    strtoull(argv[4], NULL, 10), argv[5]);
	return fs_test_main(suites);
}
