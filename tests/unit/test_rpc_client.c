/*
 * test_rpc_client.c - the RPC client's coalescing (fs_client_set_coalesce)
 * against a fake backend: an nng REP socket in this process (inproc://)
 * whose answers the test decides, so the cases the real backend rarely
 * gives are exact here: a batch member the backend did not run
 * (Reply.not_executed) is sent again alone and its caller gets that
 * answer; a batch of reads refused as a whole for its size is sent again
 * call by call, one of changes is not; a List, or any call over 64 KiB,
 * neither waits for the coalescing slot nor holds it; reads and changes
 * never share a batch. And the client's cap: at most
 * FS_CLIENT_MAX_INFLIGHT calls on the wire, the rest sent in order as
 * places free, and one whose deadline passes while it waits completes
 * DEADLINE_EXCEEDED without being sent.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "fs_rpc.h"
#include "testlib.h"

#define FAKE_THREADS 4
#define FAKE_THREADS_MAX 96 /* more than FS_CLIENT_MAX_INFLIGHT */
#define FAKE_ORDER_MAX 256
#define WAIT_MS 5000
#define NOT_YET (-2)

/* ---- the fake backend --------------------------------------------------- */

struct fake {
	fs_fake_rep *rep;
	atomic_bool stop;
	/* What it does. */
	atomic_bool hold_first; /* the first request waits for release */
	atomic_int hold_n;      /* so do the first hold_n requests */
	atomic_bool release;
	/* Stepwise: the request that arrived k-th (from 0) is answered once
	 * release_upto > k. */
	atomic_bool stepwise;
	atomic_int release_upto;
	atomic_bool run_all;    /* a BATCH runs every member */
	atomic_bool hold_lists; /* a LIST waits for release_lists */
	atomic_bool release_lists;
	atomic_bool refuse_batches; /* a BATCH answers RESOURCE_EXHAUSTED */
	/* What it saw. */
	atomic_int requests;    /* envelopes received, batches as one */
	atomic_int singles[16]; /* calls sent alone, by method */
	atomic_int batches;
	atomic_int members;
	atomic_int not_executed; /* members answered not_executed */
	atomic_int mixed;        /* batches holding reads and changes */
	/* The key number of the GET (its id's last digits) that arrived
	 * k-th, -1 for other requests; NOT_YET until the worker that counted
	 * the arrival has decoded it. */
	atomic_int order[FAKE_ORDER_MAX];
};

static struct fake fk;

static int
is_read(int m)
{
	return m == FLOWSVC__METHOD__GET || m == FLOWSVC__METHOD__GET_STATUS ||
	    m == FLOWSVC__METHOD__HEALTH;
}

static void
wait_flag(atomic_bool *flag)
{
	int64_t until = fs_test_now_ms() + 2 * WAIT_MS;

	while (!atomic_load(flag) && !atomic_load(&fk.stop) &&
	    fs_test_now_ms() < until)
		fs_test_poll_pause(1);
}

/* Stepwise: waits until the request that arrived k-th may be answered. */
static void
wait_step(int k)
{
	int64_t until = fs_test_now_ms() + 6 * WAIT_MS;

	while (atomic_load(&fk.release_upto) <= k && !atomic_load(&fk.stop) &&
	    fs_test_now_ms() < until)
		fs_test_poll_pause(1);
}

/* A GET's key number (the last digits of its id, see start_call), else
 * -1. */
static int
key_number(const Flowsvc__Request *req)
{
	Flowsvc__GetRequest *g;
	int n = -1;

	if (req->method != FLOWSVC__METHOD__GET)
		return -1;
	g = flowsvc__get_request__unpack(NULL, req->payload.len,
	    req->payload.data);
	if (g != NULL && g->id != NULL && strlen(g->id) == 36)
		n = atoi(g->id + 24);
	if (g != NULL)
		flowsvc__get_request__free_unpacked(g, NULL);
	return n;
}

/* The answer to one call: OK with a component whose name tells how the
 * call came (alone or in a batch) and whose id (GET) or group (CREATE)
 * says whose call it was. Buffers allocated here are freed by the caller
 * through *heap. */
static void
answer(const Flowsvc__Request *req, int batched, Flowsvc__Reply *out,
    uint8_t **heap)
{
	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;
	Flowsvc__ComponentReply cr = FLOWSVC__COMPONENT_REPLY__INIT;
	Flowsvc__ListReply lr = FLOWSVC__LIST_REPLY__INIT;
	Flowsvc__GetRequest *g = NULL;
	Flowsvc__CreateRequest *cq = NULL;
	ProtobufCMessage *msg = &cr.base;

	flowsvc__reply__init(out);
	out->code = FLOWSVC__CODE__OK;
	c.id = "00000000-0000-4000-8000-000000000000";
	c.kind = FLOWSVC__KIND__FLOW;
	c.name = batched ? "batched" : "alone";
	c.group = "default";
	c.canvas_id = c.id;
	c.version = 1;
	cr.component = &c;
	switch (req->method) {
	case FLOWSVC__METHOD__GET:
		g = flowsvc__get_request__unpack(NULL, req->payload.len,
		    req->payload.data);
		if (g != NULL)
			c.id = g->id;
		break;
	case FLOWSVC__METHOD__CREATE:
		cq = flowsvc__create_request__unpack(NULL, req->payload.len,
		    req->payload.data);
		if (cq != NULL && cq->name != NULL)
			c.group = cq->name;
		break;
	case FLOWSVC__METHOD__LIST:
		if (atomic_load(&fk.hold_lists))
			wait_flag(&fk.release_lists);
		msg = &lr.base;
		break;
	default:
		break;
	}
	size_t len = protobuf_c_message_get_packed_size(msg);
	*heap = malloc(len ? len : 1);
	if (*heap != NULL) {
		protobuf_c_message_pack(msg, *heap);
		out->has_payload = 1;
		out->payload.data = *heap;
		out->payload.len = len;
	} else {
		out->code = FLOWSVC__CODE__RESOURCE_EXHAUSTED;
	}
	if (g != NULL)
		flowsvc__get_request__free_unpacked(g, NULL);
	if (cq != NULL)
		flowsvc__create_request__free_unpacked(cq, NULL);
}

/* A BATCH: every second member (the 2nd, 4th, ...) is not run. */
static void
answer_batch(const Flowsvc__Request *req, Flowsvc__Reply *out, uint8_t **heap)
{
	Flowsvc__BatchRequest *b = flowsvc__batch_request__unpack(NULL,
	    req->payload.len, req->payload.data);
	Flowsvc__BatchReply br = FLOWSVC__BATCH_REPLY__INIT;

	flowsvc__reply__init(out);
	atomic_fetch_add(&fk.batches, 1);
	if (b == NULL) {
		out->code = FLOWSVC__CODE__INVALID_ARGUMENT;
		return;
	}
	atomic_fetch_add(&fk.members, (int) b->n_requests);
	int reads = 0;
	for (size_t i = 0; i < b->n_requests; i++)
		reads += is_read(b->requests[i]->method);
	if (reads != 0 && reads != (int) b->n_requests)
		atomic_fetch_add(&fk.mixed, 1);
	if (atomic_load(&fk.refuse_batches)) {
		out->code = FLOWSVC__CODE__RESOURCE_EXHAUSTED;
		out->message = "Reply too large.";
		flowsvc__batch_request__free_unpacked(b, NULL);
		return;
	}
	size_t n = b->n_requests;
	Flowsvc__Reply *reps = calloc(n ? n : 1, sizeof(*reps));
	Flowsvc__Reply **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	uint8_t **bufs = calloc(n ? n : 1, sizeof(*bufs));
	for (size_t i = 0; reps && ptrs && bufs && i < n; i++) {
		if (i % 2 == 1 && !atomic_load(&fk.run_all)) {
			flowsvc__reply__init(&reps[i]);
			reps[i].code = FLOWSVC__CODE__RESOURCE_EXHAUSTED;
			reps[i].message = "Not run: the batch reply was full.";
			reps[i].has_not_executed = 1;
			reps[i].not_executed = 1;
			atomic_fetch_add(&fk.not_executed, 1);
		} else {
			answer(b->requests[i], 1, &reps[i], &bufs[i]);
		}
		ptrs[i] = &reps[i];
	}
	if (reps && ptrs && bufs) {
		br.n_replies = n;
		br.replies = ptrs;
		size_t len = flowsvc__batch_reply__get_packed_size(&br);
		if ((*heap = malloc(len ? len : 1)) != NULL) {
			flowsvc__batch_reply__pack(&br, *heap);
			out->code = FLOWSVC__CODE__OK;
			out->has_payload = 1;
			out->payload.data = *heap;
			out->payload.len = len;
		}
	}
	if (!out->has_payload)
		out->code = FLOWSVC__CODE__RESOURCE_EXHAUSTED;
	for (size_t i = 0; bufs != NULL && i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(ptrs);
	free(reps);
	flowsvc__batch_request__free_unpacked(b, NULL);
}

/* What the fake does with each request (fs_fake_rep_answer): counts its
 * arrival, holds it as the test says, then answers it. */
static void
fake_answer(void *arg, const Flowsvc__Request *req, Flowsvc__Reply *rep,
    uint8_t **heap)
{
	(void) arg;
	int k = atomic_fetch_add(&fk.requests, 1);
	if (k < FAKE_ORDER_MAX)
		atomic_store(&fk.order[k], key_number(req));
	if ((k == 0 && atomic_load(&fk.hold_first)) ||
	    k < atomic_load(&fk.hold_n))
		wait_flag(&fk.release);
	if (atomic_load(&fk.stepwise))
		wait_step(k);
	if (req->method == FLOWSVC__METHOD__BATCH) {
		answer_batch(req, rep, heap);
	} else {
		if (req->method < 16)
			atomic_fetch_add(&fk.singles[req->method], 1);
		answer(req, 0, rep, heap);
	}
}

static void
fake_stop(fs_client *c)
{
	atomic_store(&fk.release, 1);
	atomic_store(&fk.release_lists, 1);
	atomic_store(&fk.release_upto, 1 << 30);
	if (c != NULL)
		fs_client_close(c);
	atomic_store(&fk.stop, 1);
	fs_fake_rep_stop(fk.rep);
	fk.rep = NULL;
}

/* Starts the fake with nthr threads (each answers one request at a time)
 * on a fresh inproc address and opens a client to it with coalescing at
 * coalesce. Returns the client or NULL. */
static fs_client *
fake_start_n(int nthr, int coalesce)
{
	static int seq;
	char url[64];
	fs_client *c = NULL;

	memset(&fk, 0, sizeof(fk));
	for (int i = 0; i < FAKE_ORDER_MAX; i++)
		atomic_init(&fk.order[i], NOT_YET);
	snprintf(url, sizeof(url), "inproc://fake-backend-%d", seq++);
	if ((fk.rep = fs_fake_rep_start(url, nthr, fake_answer, NULL)) == NULL)
		return NULL;
	if (!FS_CHECK(fs_client_open(&c, url) == 0, "client") ||
	    !FS_CHECK(fs_client_set_coalesce(c, coalesce) == 0, "coalesce")) {
		fake_stop(c);
		return NULL;
	}
	return c;
}

static fs_client *
fake_start(void)
{
	return fake_start_n(FAKE_THREADS, 1);
}

/* ---- callers ------------------------------------------------------------- */

struct caller {
	char key[40];    /* the id of a GET, the name of a CREATE */
	atomic_int runs; /* callbacks: must end at exactly 1 */
	int code;
	char how[16]; /* "alone" or "batched", from the answer */
	int own;      /* the answer was about this caller's key */
};

static void
on_reply(void *arg, int code, Flowsvc__Reply *reply)
{
	struct caller *k = arg;
	Flowsvc__ComponentReply *cr =
	    (Flowsvc__ComponentReply *) fs_reply_payload(reply,
	        &flowsvc__component_reply__descriptor);

	k->code = code;
	if (cr != NULL && cr->component != NULL) {
		snprintf(k->how, sizeof(k->how), "%s", cr->component->name);
		k->own = strcmp(cr->component->id, k->key) == 0 ||
		    strcmp(cr->component->group, k->key) == 0;
	}
	if (cr != NULL)
		flowsvc__component_reply__free_unpacked(cr, NULL);
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	atomic_fetch_add(&k->runs, 1);
}

/* A GET of key i (an id ending in i) or a CREATE of "flow_<i>", with
 * timeout_ms (0: the default). */
static int
start_call_t(fs_client *c, Flowsvc__Method m, struct caller *k, int i,
    uint32_t timeout_ms)
{
	Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;
	Flowsvc__CreateRequest cr = FLOWSVC__CREATE_REQUEST__INIT;
	fs_call_opts o = {NULL, timeout_ms, NULL, 0};

	atomic_init(&k->runs, 0);
	k->code = -1;
	if (m == FLOWSVC__METHOD__GET) {
		snprintf(k->key, sizeof(k->key),
		    "00000000-0000-4000-8000-%012d", i);
		g.id = k->key;
		return fs_client_call_async(c, m, &g.base, &o, on_reply, k);
	}
	snprintf(k->key, sizeof(k->key), "flow_%d", i);
	cr.kind = FLOWSVC__KIND__FLOW;
	cr.name = k->key;
	return fs_client_call_async(c, m, &cr.base, &o, on_reply, k);
}

static int
start_call(fs_client *c, Flowsvc__Method m, struct caller *k, int i)
{
	return start_call_t(c, m, k, i, 0);
}

static int
all_ran(struct caller *k, int n)
{
	int64_t until = fs_test_now_ms() + WAIT_MS;

	for (;;) {
		int done = 0;
		for (int i = 0; i < n; i++)
			done += atomic_load(&k[i].runs) >= 1;
		if (done == n)
			return 1;
		if (fs_test_now_ms() > until)
			return 0;
		fs_test_poll_pause(1);
	}
}

/* The key of the k-th arrival, once its worker has recorded it. */
static int
arrival_key(int k)
{
	int64_t until = fs_test_now_ms() + WAIT_MS;

	while (
	    atomic_load(&fk.order[k]) == NOT_YET && fs_test_now_ms() < until)
		fs_test_poll_pause(1);
	return atomic_load(&fk.order[k]);
}

static int
wait_count(atomic_int *v, int want)
{
	int64_t until = fs_test_now_ms() + WAIT_MS;

	while (atomic_load(v) < want && fs_test_now_ms() < until)
		fs_test_poll_pause(1);
	return atomic_load(v) >= want;
}

#define NCALLS 41

/* The first call is held in the fake backend, so the next NCALLS - 1
 * queue and go out as one batch when it returns; the fake answers every
 * second member not_executed. Each of those must be sent again alone,
 * once, and its caller get that answer; the others keep the batch's. */
static void
not_executed_members_go_alone(Flowsvc__Method m)
{
	struct caller *k = calloc(NCALLS, sizeof(*k));
	fs_client *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	if ((c = fake_start()) == NULL) {
		free(k);
		return;
	}
	atomic_store(&fk.hold_first, 1);
	int started = 0;
	for (int i = 0; i < NCALLS; i++)
		started += start_call(c, m, &k[i], i) == 0;
	FS_CHECK(started == NCALLS, "%d of %d started", started, NCALLS);
	FS_CHECK(wait_count(&fk.requests, 1), "the first call arrived");
	atomic_store(&fk.release, 1);
	FS_CHECK(all_ran(k, NCALLS), "every caller answered");

	int alone = 0, batched = 0;
	for (int i = 0; i < NCALLS; i++) {
		FS_CHECK(atomic_load(&k[i].runs) == 1,
		    "caller %d: %d callbacks", i, atomic_load(&k[i].runs));
		FS_CHECK(k[i].code == FS_OK && k[i].own,
		    "caller %d (%s): %s, own answer %d", i, k[i].key,
		    fs_code_name(k[i].code), k[i].own);
		alone += strcmp(k[i].how, "alone") == 0;
		batched += strcmp(k[i].how, "batched") == 0;
	}
	int ne = atomic_load(&fk.not_executed);
	FS_CHECK(atomic_load(&fk.batches) == 1 &&
	        atomic_load(&fk.members) == NCALLS - 1,
	    "%d batches, %d members: expected one of %d",
	    atomic_load(&fk.batches), atomic_load(&fk.members), NCALLS - 1);
	FS_CHECK(ne == (NCALLS - 1) / 2, "%d members not run", ne);
	/* The first call, and each member not run, once more alone. */
	FS_CHECK(atomic_load(&fk.singles[m]) == 1 + ne,
	    "%d calls alone, expected %d", atomic_load(&fk.singles[m]),
	    1 + ne);
	FS_CHECK(alone == 1 + ne && batched == NCALLS - 1 - ne,
	    "%d answered alone, %d in the batch", alone, batched);
	fake_stop(c);
	free(k);
}

static void
test_not_executed_reads(void)
{
	not_executed_members_go_alone(FLOWSVC__METHOD__GET);
}

static void
test_not_executed_changes(void)
{
	not_executed_members_go_alone(FLOWSVC__METHOD__CREATE);
}

/* A batch refused as a whole (an older backend whose batch reply passed
 * the limit): its reads are run again one by one, each caller getting its
 * own answer; changes are not run twice, their callers get the code. */
static void
test_refused_batch(void)
{
	struct caller *k = calloc(2 * NCALLS, sizeof(*k));
	fs_client *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	if ((c = fake_start()) == NULL) {
		free(k);
		return;
	}
	atomic_store(&fk.hold_first, 1);
	atomic_store(&fk.refuse_batches, 1);
	int started = 0;
	for (int i = 0; i < NCALLS; i++)
		started += start_call(c, FLOWSVC__METHOD__GET, &k[i], i) == 0;
	FS_CHECK(wait_count(&fk.requests, 1), "the first read arrived");
	/* The changes' lane is free: the first goes at once, the rest
	 * queue behind it and are batched. */
	for (int i = NCALLS; i < 2 * NCALLS; i++)
		started +=
		    start_call(c, FLOWSVC__METHOD__CREATE, &k[i], i) == 0;
	FS_CHECK(started == 2 * NCALLS, "%d started", started);
	atomic_store(&fk.release, 1);
	FS_CHECK(all_ran(k, 2 * NCALLS), "every caller answered");
	int reads_ok = 0, changes_ok = 0, changes_refused = 0;
	for (int i = 0; i < 2 * NCALLS; i++) {
		FS_CHECK(atomic_load(&k[i].runs) == 1,
		    "caller %d: %d callbacks", i, atomic_load(&k[i].runs));
		if (i < NCALLS)
			reads_ok += k[i].code == FS_OK && k[i].own &&
			    strcmp(k[i].how, "alone") == 0;
		else if (k[i].code == FS_OK)
			changes_ok += k[i].own;
		else
			changes_refused += k[i].code == FS_RESOURCE_EXHAUSTED;
	}
	FS_CHECK(reads_ok == NCALLS, "%d of %d reads answered alone", reads_ok,
	    NCALLS);
	/* Changes sent alone: the first, before the others queued, and
	 * maybe a few more if the batch went out before all were made. */
	int alone = atomic_load(&fk.singles[FLOWSVC__METHOD__CREATE]);
	FS_CHECK(changes_ok == alone && changes_refused == NCALLS - alone,
	    "changes: %d ok, %d refused, %d sent alone", changes_ok,
	    changes_refused, alone);
	FS_CHECK(atomic_load(&fk.mixed) == 0,
	    "%d batches mixed reads and "
	    "changes",
	    atomic_load(&fk.mixed));
	fake_stop(c);
	free(k);
}

/* A List goes out at once even while the coalescing slot is taken, and
 * while it runs (held in the fake) other calls still go out and return. */
static void
test_list_neither_waits_nor_holds(void)
{
	struct caller first, k[10];
	struct caller list = {.code = -1};
	Flowsvc__ListRequest l = FLOWSVC__LIST_REQUEST__INIT;
	fs_client *c;

	if ((c = fake_start()) == NULL)
		return;
	atomic_store(&fk.hold_first, 1);
	atomic_store(&fk.hold_lists, 1);
	FS_CHECK(start_call(c, FLOWSVC__METHOD__GET, &first, 1000) == 0,
	    "first read");
	FS_CHECK(wait_count(&fk.requests, 1), "the first read arrived");
	atomic_init(&list.runs, 0);
	l.has_kind = 1;
	l.kind = FLOWSVC__KIND__FLOW;
	FS_CHECK(fs_client_call_async(c, FLOWSVC__METHOD__LIST, &l.base, NULL,
	             on_reply, &list) == 0,
	    "list");
	FS_CHECK(wait_count(&fk.singles[FLOWSVC__METHOD__LIST], 1),
	    "the list reached the backend while a read held the slot");
	atomic_store(&fk.release, 1);
	FS_CHECK(all_ran(&first, 1) && first.code == FS_OK, "first read: %s",
	    fs_code_name(first.code));
	for (int i = 0; i < 10; i++)
		FS_CHECK(start_call(c, FLOWSVC__METHOD__GET, &k[i], i) == 0,
		    "read %d", i);
	FS_CHECK(all_ran(k, 10), "reads answered while the list runs");
	for (int i = 0; i < 10; i++)
		FS_CHECK(k[i].code == FS_OK && k[i].own, "read %d: %s", i,
		    fs_code_name(k[i].code));
	FS_CHECK(atomic_load(&list.runs) == 0, "the list is still held");
	atomic_store(&fk.release_lists, 1);
	FS_CHECK(all_ran(&list, 1) && list.code == FS_OK, "list: %s",
	    fs_code_name(list.code));
	FS_CHECK(atomic_load(&fk.singles[FLOWSVC__METHOD__LIST]) == 1,
	    "the list was sent once");
	fake_stop(c);
}

/* A List by name and group finds at most one component: it is batched
 * with reads, while a List by group alone goes out at once. */
static void
test_point_list_is_a_read(void)
{
	struct caller first, pl[5], gl;
	fs_client *c;

	if ((c = fake_start()) == NULL)
		return;
	atomic_store(&fk.hold_first, 1);
	FS_CHECK(start_call(c, FLOWSVC__METHOD__GET, &first, 1000) == 0,
	    "first read");
	FS_CHECK(wait_count(&fk.requests, 1), "the first read arrived");
	for (int i = 0; i < 5; i++) {
		Flowsvc__ListRequest l = FLOWSVC__LIST_REQUEST__INIT;
		memset(&pl[i], 0, sizeof(pl[i]));
		l.has_kind = 1;
		l.kind = FLOWSVC__KIND__FLOW;
		l.name_iexact = "greeting";
		l.group_iexact = "default";
		FS_CHECK(fs_client_call_async(c, FLOWSVC__METHOD__LIST,
		             &l.base, NULL, on_reply, &pl[i]) == 0,
		    "list by name and group %d", i);
	}
	Flowsvc__ListRequest l = FLOWSVC__LIST_REQUEST__INIT;
	memset(&gl, 0, sizeof(gl));
	l.has_kind = 1;
	l.kind = FLOWSVC__KIND__FLOW;
	l.group_iexact = "default";
	FS_CHECK(fs_client_call_async(c, FLOWSVC__METHOD__LIST, &l.base, NULL,
	             on_reply, &gl) == 0,
	    "list by group");
	FS_CHECK(all_ran(&gl, 1) && gl.code == FS_OK,
	    "the list by group went out at once: %s", fs_code_name(gl.code));
	FS_CHECK(atomic_load(&fk.singles[FLOWSVC__METHOD__LIST]) == 1,
	    "%d lists alone before the slot freed",
	    atomic_load(&fk.singles[FLOWSVC__METHOD__LIST]));
	atomic_store(&fk.release, 1);
	FS_CHECK(all_ran(&first, 1) && all_ran(pl, 5), "all answered");
	FS_CHECK(atomic_load(&fk.batches) == 1 &&
	        atomic_load(&fk.members) == 5,
	    "%d batches of %d members: expected one of the 5 lists",
	    atomic_load(&fk.batches), atomic_load(&fk.members));
	fake_stop(c);
}

/* While a change holds the changes' only slot (held in the fake), a read
 * goes out at once on its own lane, and so does a change over 64 KiB: it
 * is never batched, so it neither waits for the slot nor takes it. */
static void
test_large_and_other_lane_go_at_once(void)
{
	struct caller first, read, big;
	Flowsvc__CreateRequest cr = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__StringList in = FLOWSVC__STRING_LIST__INIT;
	char *fields[400];
	fs_client *c;

	if ((c = fake_start()) == NULL)
		return;
	atomic_store(&fk.hold_first, 1);
	FS_CHECK(start_call(c, FLOWSVC__METHOD__CREATE, &first, 1000) == 0,
	    "first change");
	FS_CHECK(wait_count(&fk.requests, 1), "the first change arrived");
	FS_CHECK(start_call(c, FLOWSVC__METHOD__GET, &read, 1) == 0, "read");
	FS_CHECK(all_ran(&read, 1) && read.code == FS_OK && read.own,
	    "a read went out while a change held the changes' slot");

	for (int i = 0; i < 400; i++) {
		fields[i] = malloc(251);
		CU_ASSERT_PTR_NOT_NULL_FATAL(fields[i]);
		memset(fields[i], 'a' + i % 26, 250);
		fields[i][250] = '\0';
	}
	in.n_items = 400;
	in.items = fields;
	snprintf(big.key, sizeof(big.key), "big");
	atomic_init(&big.runs, 0);
	cr.kind = FLOWSVC__KIND__FLOW;
	cr.name = big.key;
	cr.input_fields = &in;
	FS_CHECK(protobuf_c_message_get_packed_size(&cr.base) > 64 * 1024,
	    "the request is over 64 KiB");
	FS_CHECK(fs_client_call_async(c, FLOWSVC__METHOD__CREATE, &cr.base,
	             NULL, on_reply, &big) == 0,
	    "big change");
	FS_CHECK(all_ran(&big, 1) && big.code == FS_OK && big.own &&
	        strcmp(big.how, "alone") == 0,
	    "the big change answered alone while the slot was held: %s %s",
	    fs_code_name(big.code), big.how);
	FS_CHECK(atomic_load(&first.runs) == 0, "the first change still held");
	atomic_store(&fk.release, 1);
	FS_CHECK(all_ran(&first, 1) && first.code == FS_OK && first.own,
	    "first change");
	FS_CHECK(atomic_load(&fk.singles[FLOWSVC__METHOD__CREATE]) == 2 &&
	        atomic_load(&fk.batches) == 0,
	    "%d changes alone, %d batches",
	    atomic_load(&fk.singles[FLOWSVC__METHOD__CREATE]),
	    atomic_load(&fk.batches));
	for (int i = 0; i < 400; i++)
		free(fields[i]);
	fake_stop(c);
}

/* Concurrent calls of a lane go out as one batch while its slot is taken,
 * every member run (the fake runs them all), each caller getting its own
 * answer once. */
static void
test_concurrent_calls_batched(void)
{
	struct caller *k = calloc(NCALLS, sizeof(*k));
	fs_client *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	if ((c = fake_start()) == NULL) {
		free(k);
		return;
	}
	atomic_store(&fk.hold_first, 1);
	atomic_store(&fk.run_all, 1);
	FS_CHECK(start_call(c, FLOWSVC__METHOD__GET, &k[0], 0) == 0, "first");
	FS_CHECK(wait_count(&fk.requests, 1), "the first call arrived");
	int started = 1;
	for (int i = 1; i < NCALLS; i++)
		started += start_call(c, FLOWSVC__METHOD__GET, &k[i], i) == 0;
	FS_CHECK(started == NCALLS, "%d of %d started", started, NCALLS);
	FS_CHECK(atomic_load(&fk.requests) == 1,
	    "%d requests reached the backend while the slot was held",
	    atomic_load(&fk.requests));
	atomic_store(&fk.release, 1);
	FS_CHECK(all_ran(k, NCALLS), "every caller answered");
	for (int i = 0; i < NCALLS; i++)
		FS_CHECK(atomic_load(&k[i].runs) == 1 && k[i].code == FS_OK &&
		        k[i].own &&
		        strcmp(k[i].how, i == 0 ? "alone" : "batched") == 0,
		    "caller %d: %d callbacks, %s, own %d, %s", i,
		    atomic_load(&k[i].runs), fs_code_name(k[i].code), k[i].own,
		    k[i].how);
	FS_CHECK(atomic_load(&fk.requests) == 2 &&
	        atomic_load(&fk.batches) == 1 &&
	        atomic_load(&fk.members) == NCALLS - 1 &&
	        atomic_load(&fk.singles[FLOWSVC__METHOD__GET]) == 1,
	    "%d requests, %d batches of %d members, %d alone: expected the "
	    "first alone and one batch of the other %d",
	    atomic_load(&fk.requests), atomic_load(&fk.batches),
	    atomic_load(&fk.members),
	    atomic_load(&fk.singles[FLOWSVC__METHOD__GET]), NCALLS - 1);
	fake_stop(c);
	free(k);
}

/* Holds the first read and the first change in the fake (both lanes'
 * slots taken). Returns 0 when both arrived. */
static int
hold_both_lanes(fs_client *c, struct caller *r, struct caller *w)
{
	atomic_store(&fk.hold_n, 2);
	if (!FS_CHECK(start_call(c, FLOWSVC__METHOD__GET, r, 1000) == 0 &&
	            wait_count(&fk.requests, 1),
	        "the first read arrived") ||
	    !FS_CHECK(start_call(c, FLOWSVC__METHOD__CREATE, w, 1001) == 0 &&
	            wait_count(&fk.requests, 2),
	        "the first change arrived"))
		return -1;
	return 0;
}

/* Reads and changes made at the same time, interleaved, while both lanes
 * are busy: two batches, one of each kind, never one of both. */
static void
test_lanes_never_mix(void)
{
	enum { N = 20 };
	struct caller first_r, first_w, k[2 * N];
	fs_client *c;

	if ((c = fake_start()) == NULL)
		return;
	atomic_store(&fk.run_all, 1);
	if (hold_both_lanes(c, &first_r, &first_w) != 0) {
		fake_stop(c);
		return;
	}
	int started = 0;
	for (int i = 0; i < 2 * N; i++)
		started +=
		    start_call(c,
		        i % 2 ? FLOWSVC__METHOD__CREATE : FLOWSVC__METHOD__GET,
		        &k[i], i) == 0;
	FS_CHECK(started == 2 * N, "%d started", started);
	atomic_store(&fk.release, 1);
	FS_CHECK(all_ran(k, 2 * N) && all_ran(&first_r, 1) &&
	        all_ran(&first_w, 1),
	    "every caller answered");
	for (int i = 0; i < 2 * N; i++)
		FS_CHECK(atomic_load(&k[i].runs) == 1 && k[i].code == FS_OK &&
		        k[i].own && strcmp(k[i].how, "batched") == 0,
		    "caller %d (%s): %s, own %d, %s", i, k[i].key,
		    fs_code_name(k[i].code), k[i].own, k[i].how);
	FS_CHECK(atomic_load(&fk.batches) == 2 &&
	        atomic_load(&fk.members) == 2 * N &&
	        atomic_load(&fk.mixed) == 0,
	    "%d batches of %d members, %d mixed: expected 2 of %d, none "
	    "mixed",
	    atomic_load(&fk.batches), atomic_load(&fk.members),
	    atomic_load(&fk.mixed), N);
	fake_stop(c);
}

/* Snapshot, Stats and a List by group are never batched: they go out at
 * once while both lanes' slots are taken. */
static void
test_unbatchable_go_at_once(void)
{
	static const Flowsvc__Method ms[] = {FLOWSVC__METHOD__SNAPSHOT,
	    FLOWSVC__METHOD__STATS, FLOWSVC__METHOD__LIST};
	struct caller first_r, first_w, k[3];
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	Flowsvc__ListRequest l = FLOWSVC__LIST_REQUEST__INIT;
	fs_client *c;

	if ((c = fake_start()) == NULL)
		return;
	if (hold_both_lanes(c, &first_r, &first_w) != 0) {
		fake_stop(c);
		return;
	}
	l.has_kind = 1;
	l.kind = FLOWSVC__KIND__APP;
	l.group_iexact = "default";
	for (int i = 0; i < 3; i++) {
		memset(&k[i], 0, sizeof(k[i]));
		k[i].code = -1;
		FS_CHECK(fs_client_call_async(c, ms[i],
		             ms[i] == FLOWSVC__METHOD__LIST ? &l.base
		                                            : &e.base,
		             NULL, on_reply, &k[i]) == 0,
		    "method %d", (int) ms[i]);
		int ran = all_ran(&k[i], 1);
		FS_CHECK(ran && k[i].code == FS_OK,
		    "method %d not answered while both lanes were held: %s",
		    (int) ms[i], fs_code_name(k[i].code));
		FS_CHECK(atomic_load(&fk.singles[ms[i]]) == 1,
		    "method %d sent %d times", (int) ms[i],
		    atomic_load(&fk.singles[ms[i]]));
	}
	FS_CHECK(atomic_load(&first_r.runs) == 0 &&
	        atomic_load(&first_w.runs) == 0,
	    "the held calls are still held");
	atomic_store(&fk.release, 1);
	FS_CHECK(all_ran(&first_r, 1) && all_ran(&first_w, 1), "released");
	fake_stop(c);
}

/* The timeout of calls that the fake holds for a while: far beyond what
 * these tests take, so only the calls meant to expire do. */
#define HELD_MS 60000
#define EXTRA 16

/* FS_CLIENT_MAX_INFLIGHT calls held in the fake (stepwise, none
 * answered), the client without coalescing. Returns 0 when they all
 * arrived and no more did. */
static int
fill_the_wire(fs_client *c, struct caller *k)
{
	int started = 0;

	for (int i = 0; i < FS_CLIENT_MAX_INFLIGHT; i++)
		started += start_call_t(c, FLOWSVC__METHOD__GET, &k[i], i,
		               HELD_MS) == 0;
	int arrived = wait_count(&fk.requests, FS_CLIENT_MAX_INFLIGHT);
	return FS_CHECK(started == FS_CLIENT_MAX_INFLIGHT && arrived,
	           "%d started, %d reached the fake", started,
	           atomic_load(&fk.requests))
	    ? 0
	    : -1;
}

/* Calls beyond FS_CLIENT_MAX_INFLIGHT wait in the client, and each place
 * that frees sends the next one, in the order they were made; all of them
 * complete with their own answers. */
static void
test_inflight_cap_in_order(void)
{
	enum { N = FS_CLIENT_MAX_INFLIGHT + EXTRA };
	struct caller *k = calloc(N, sizeof(*k));
	fs_client *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	if ((c = fake_start_n(FAKE_THREADS_MAX, 0)) == NULL) {
		free(k);
		return;
	}
	atomic_store(&fk.stepwise, 1);
	if (fill_the_wire(c, k) != 0)
		goto out;
	int started = 0;
	for (int i = FS_CLIENT_MAX_INFLIGHT; i < N; i++)
		started += start_call_t(c, FLOWSVC__METHOD__GET, &k[i], i,
		               HELD_MS) == 0;
	FS_CHECK(started == EXTRA, "%d of %d more started", started, EXTRA);
	/* Nothing more can arrive: give it the chance to show. */
	fs_test_poll_pause(200);
	FS_CHECK(atomic_load(&fk.requests) == FS_CLIENT_MAX_INFLIGHT,
	    "%d calls on the wire, at most %d expected",
	    atomic_load(&fk.requests), FS_CLIENT_MAX_INFLIGHT);
	/* Answer one held call at a time: each frees one place, which the
	 * next waiting call takes. */
	for (int i = 0; i < EXTRA; i++) {
		int at = FS_CLIENT_MAX_INFLIGHT + i;
		atomic_store(&fk.release_upto, i + 1);
		if (!FS_CHECK(wait_count(&fk.requests, at + 1),
		        "step %d: the next waiting call was not sent", i))
			break;
		int key = arrival_key(at);
		FS_CHECK(key == at,
		    "the %d-th call on the wire is key %d, expected %d", at,
		    key, at);
		FS_CHECK(atomic_load(&fk.requests) == at + 1,
		    "step %d: %d calls sent", i, atomic_load(&fk.requests));
	}
	atomic_store(&fk.release_upto, 1 << 30);
	FS_CHECK(all_ran(k, N), "every caller answered");
	for (int i = 0; i < N; i++)
		FS_CHECK(atomic_load(&k[i].runs) == 1 && k[i].code == FS_OK &&
		        k[i].own,
		    "caller %d: %d callbacks, %s, own answer %d", i,
		    atomic_load(&k[i].runs), fs_code_name(k[i].code),
		    k[i].own);
out:
	fake_stop(c);
	free(k);
}

/* A call waiting for a place whose deadline passes completes
 * DEADLINE_EXCEEDED, is never sent, and does not hold up the call behind
 * it. */
static void
test_waiting_call_deadline(void)
{
	enum { N = FS_CLIENT_MAX_INFLIGHT + 2 };
	struct caller *k = calloc(N, sizeof(*k));
	fs_client *c;
	int expired = FS_CLIENT_MAX_INFLIGHT, behind = expired + 1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	if ((c = fake_start_n(FAKE_THREADS_MAX, 0)) == NULL) {
		free(k);
		return;
	}
	atomic_store(&fk.stepwise, 1);
	if (fill_the_wire(c, k) != 0)
		goto out;
	int64_t t0 = fs_test_now_ms();
	FS_CHECK(start_call_t(c, FLOWSVC__METHOD__GET, &k[expired], expired,
	             300) == 0 &&
	        start_call_t(c, FLOWSVC__METHOD__GET, &k[behind], behind,
	            HELD_MS) == 0,
	    "two more started");
	/* Every place stays taken: the short call's deadline passes while
	 * it waits. Given 2 s, far past it. */
	while (
	    atomic_load(&k[expired].runs) == 0 && fs_test_now_ms() - t0 < 2000)
		fs_test_poll_pause(5);
	int timely = atomic_load(&k[expired].runs) == 1;
	int64_t took = fs_test_now_ms() - t0;
	fprintf(stderr,
	    "\n  a waiting call with a 300 ms timeout %s after "
	    "%lld ms, every place still taken ",
	    timely ? "completed" : "had not completed", (long long) took);
	/* One place frees: the expired call is not sent, the one behind it
	 * is. */
	atomic_store(&fk.release_upto, 1);
	FS_CHECK(all_ran(&k[expired], 1), "the expired call never completed");
	FS_CHECK(k[expired].code == FS_DEADLINE_EXCEEDED,
	    "the expired call completed %s", fs_code_name(k[expired].code));
	FS_CHECK(wait_count(&fk.requests, FS_CLIENT_MAX_INFLIGHT + 1),
	    "the call behind the expired one was not sent");
	int key = arrival_key(FS_CLIENT_MAX_INFLIGHT);
	FS_CHECK(key == behind, "the call sent is key %d, expected %d", key,
	    behind);
	atomic_store(&fk.release_upto, 1 << 30);
	FS_CHECK(all_ran(k, N), "every caller answered");
	FS_CHECK(atomic_load(&fk.requests) == N - 1,
	    "%d calls reached the fake, expected %d (all but the expired)",
	    atomic_load(&fk.requests), N - 1);
	for (int i = 0; i < N; i++)
		FS_CHECK(atomic_load(&k[i].runs) == 1 &&
		        (i == expired || (k[i].code == FS_OK && k[i].own)),
		    "caller %d: %d callbacks, %s", i, atomic_load(&k[i].runs),
		    fs_code_name(k[i].code));
	/* Its deadline is its own: it completes when it passes, not when a
	 * place frees for it (fs_rpc.h: calls beyond the cap wait "for one to
	 * finish, or for their own deadline"). */
	FS_CHECK(timely,
	    "a waiting call with a 300 ms timeout completed after %lld ms",
	    (long long) took);
out:
	fake_stop(c);
	free(k);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"a read the backend did not run in a batch is sent alone",
	        test_not_executed_reads},
	    {"a change the backend did not run in a batch is sent alone",
	        test_not_executed_changes},
	    {"a batch refused whole: reads again alone, changes not",
	        test_refused_batch},
	    {"a list neither waits for the slot nor holds it",
	        test_list_neither_waits_nor_holds},
	    {"a list by name and group is batched as a read",
	        test_point_list_is_a_read},
	    {"a large call and the other lane go at once",
	        test_large_and_other_lane_go_at_once},
	    {"concurrent calls of a lane go out as one batch",
	        test_concurrent_calls_batched},
	    {"reads and changes made together: one batch of each",
	        test_lanes_never_mix},
	    {"snapshot, stats and a list by group go at once",
	        test_unbatchable_go_at_once},
	    {"at most 64 calls on the wire, the rest sent in order",
	        test_inflight_cap_in_order},
	    {"a waiting call's deadline passes: DEADLINE_EXCEEDED, not sent",
	        test_waiting_call_deadline},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"rpc client coalescing", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
