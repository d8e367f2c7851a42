/*
 * test_rpc_client_table.c - the RPC client's public contract in fs codes
 * and tables: fs_client_open and fs_client_add_backend answer fs codes
 * (nng's words in fs_client_last_error), and the client batches what the
 * method table
 * (fs_methods.h) says, for every row of it: a method marked FS_M_BATCH
 * waits behind a busy slot of its lane (FS_M_WRITE: changes, else reads)
 * and goes out in one Batch with the other calls that waited, and is sent
 * at once while only the other lane is busy; any other method (but a List
 * by name and group, a point read) is sent at once whatever is busy. A
 * fake backend (an nng REP socket in this process) holds the calls whose
 * request id is "hold" until released and counts how each call came.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "fs_methods.h"
#include "fs_rpc.h"
#include "testlib.h"

#define FAKE_THREADS 4
#define WAIT_MS 5000

struct fake {
	fs_fake_rep *rep;
	atomic_bool release; /* the held calls may be answered */
	atomic_int held;     /* calls held so far */
	atomic_int singles[FS_METHOD_LIMIT]; /* calls sent alone, by method */
	atomic_int batches;
	atomic_int members[FS_METHOD_LIMIT]; /* batch members, by method */
};

static struct fake fk;

static int
wait_for(atomic_int *v, int want)
{
	int64_t until = fs_test_now_ms() + WAIT_MS;

	while (atomic_load(v) < want && fs_test_now_ms() < until)
		fs_test_poll_pause(1);
	return atomic_load(v) >= want;
}

/* OK with no payload, or for a Batch the client made (no request id:
 * the test's own calls carry "call") one such reply per member. */
static void
answer(const Flowsvc__Request *req, Flowsvc__Reply *out, uint8_t **heap)
{
	flowsvc__reply__init(out);
	out->code = FLOWSVC__CODE__OK;
	if (req->method != FLOWSVC__METHOD__BATCH || req->request_id != NULL) {
		if ((unsigned) req->method < FS_METHOD_LIMIT)
			atomic_fetch_add(&fk.singles[req->method], 1);
		return;
	}
	Flowsvc__BatchRequest *b = flowsvc__batch_request__unpack(NULL,
	    req->payload.len, req->payload.data);
	Flowsvc__BatchReply br = FLOWSVC__BATCH_REPLY__INIT;
	size_t n = b != NULL ? b->n_requests : 0;
	Flowsvc__Reply *reps = calloc(n ? n : 1, sizeof(*reps));
	Flowsvc__Reply **ptrs = calloc(n ? n : 1, sizeof(*ptrs));

	atomic_fetch_add(&fk.batches, 1);
	for (size_t i = 0; reps != NULL && ptrs != NULL && i < n; i++) {
		unsigned m = (unsigned) b->requests[i]->method;
		if (m < FS_METHOD_LIMIT)
			atomic_fetch_add(&fk.members[m], 1);
		flowsvc__reply__init(&reps[i]);
		reps[i].code = FLOWSVC__CODE__OK;
		ptrs[i] = &reps[i];
	}
	br.n_replies = reps != NULL && ptrs != NULL ? n : 0;
	br.replies = ptrs;
	size_t len = flowsvc__batch_reply__get_packed_size(&br);
	if ((*heap = malloc(len ? len : 1)) != NULL) {
		flowsvc__batch_reply__pack(&br, *heap);
		out->has_payload = 1;
		out->payload.data = *heap;
		out->payload.len = len;
	}
	free(ptrs);
	free(reps);
	if (b != NULL)
		flowsvc__batch_request__free_unpacked(b, NULL);
}

/* What the fake does with each request (fs_fake_rep_answer): holds a
 * call whose request id is "hold" until released, then answers it. */
static void
fake_answer(void *arg, const Flowsvc__Request *req, Flowsvc__Reply *rep,
    uint8_t **heap)
{
	(void) arg;
	if (req->request_id != NULL && strcmp(req->request_id, "hold") == 0) {
		int64_t until = fs_test_now_ms() + 2 * WAIT_MS;
		atomic_fetch_add(&fk.held, 1);
		while (!atomic_load(&fk.release) && fs_test_now_ms() < until)
			fs_test_poll_pause(1);
	}
	answer(req, rep, heap);
}

/* A fresh fake and a client of it, coalescing at 1. */
static fs_client *
fake_start(void)
{
	static int seq;
	char url[64];
	fs_client *c = NULL;

	memset(&fk, 0, sizeof(fk));
	snprintf(url, sizeof(url), "inproc://coalesce-table-%d", seq++);
	if ((fk.rep = fs_fake_rep_start(url, FAKE_THREADS, fake_answer,
	         NULL)) == NULL)
		return NULL;
	if (!FS_CHECK(fs_client_open(&c, url) == FS_OK, "client") ||
	    !FS_CHECK(fs_client_set_coalesce(c, 1) == FS_OK, "coalesce 1")) {
		fs_client_close(c);
		return NULL;
	}
	return c;
}

static void
fake_stop(fs_client *c)
{
	atomic_store(&fk.release, 1);
	fs_client_close(c);
	fs_fake_rep_stop(fk.rep);
	fk.rep = NULL;
}

static void
on_done(void *arg, int code, Flowsvc__Reply *reply)
{
	(void) code;
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	atomic_fetch_add((atomic_int *) arg, 1);
}

/* Starts a call of method m with its request message at its defaults (a
 * List by name and group when point) and request id rid. */
static int
send_call(fs_client *c, int m, int point, const char *rid, atomic_int *done)
{
	const ProtobufCMessageDescriptor *d = fs_method(m)->request;
	ProtobufCMessage *msg = calloc(1, d->sizeof_message);
	fs_call_opts o = {.request_id = rid, .timeout_ms = WAIT_MS};
	int rv;

	if (msg == NULL)
		return FS_RESOURCE_EXHAUSTED;
	protobuf_c_message_init(d, msg);
	if (point) {
		((Flowsvc__ListRequest *) msg)->name_iexact = "greet";
		((Flowsvc__ListRequest *) msg)->group_iexact = "sales";
	}
	rv = fs_client_call_async(c, (Flowsvc__Method) m, msg, &o, on_done,
	    done);
	free(msg);
	return rv;
}

/* Holds one call in the read lane (a Get) or the write lane (a Create),
 * sends two calls of m, and tells how they came: the number of batches
 * that held them both, and the number sent alone while the hold was still
 * in place (waiting for two when expect_alone: calls sent alone arrive
 * while the hold stands, queued ones cannot). */
static void
two_calls(int m, int point, int hold_write, int expect_alone, int *batched,
    int *alone)
{
	atomic_int done = 0;
	fs_client *c = fake_start();
	int hold = hold_write ? FLOWSVC__METHOD__CREATE : FLOWSVC__METHOD__GET;

	*batched = *alone = -1;
	if (c == NULL)
		return;
	if (!FS_CHECK(send_call(c, hold, 0, "hold", &done) == FS_OK &&
	            wait_for(&fk.held, 1),
	        "held call"))
		goto out;
	for (int i = 0; i < 2; i++)
		FS_CHECK(send_call(c, m, point, "call", &done) == FS_OK,
		    "call %d of %s", i, fs_method_label(m));
	if (expect_alone)
		wait_for(&fk.singles[m], 2);
	*alone = atomic_load(&fk.singles[m]);
	atomic_store(&fk.release, 1);
	FS_CHECK(wait_for(&done, 3), "%s: %d of 3 calls answered",
	    fs_method_label(m), atomic_load(&done));
	*batched =
	    atomic_load(&fk.members[m]) == 2 ? atomic_load(&fk.batches) : 0;
out:
	fake_stop(c);
}

/* What the table says of m, and what the client did. */
static void
check_method(int m, int point)
{
	int batchable = fs_method_is(m, FS_M_BATCH) || point;
	int write = fs_method_is(m, FS_M_WRITE);
	int batched, alone;

	/* Its own lane busy: a batchable method waits and goes out in one
	 * batch; any other goes alone at once. */
	two_calls(m, point, write, !batchable, &batched, &alone);
	if (batchable)
		FS_CHECK(batched == 1 && alone == 0,
		    "%s%s behind its lane: %d batch(es), %d alone",
		    fs_method_label(m), point ? " (point)" : "", batched,
		    alone);
	else
		FS_CHECK(batched == 0 && alone == 2,
		    "%s: %d batch(es), %d alone while a Get was held",
		    fs_method_label(m), batched, alone);
	if (!batchable)
		return;
	/* Only the other lane busy: nothing to wait for. */
	two_calls(m, point, !write, 1, &batched, &alone);
	FS_CHECK(batched == 0 && alone == 2,
	    "%s%s beside the other lane: %d batch(es), %d alone",
	    fs_method_label(m), point ? " (point)" : "", batched, alone);
}

static void
test_every_method_as_the_table_says(void)
{
	for (int m = 1; m < FS_METHOD_LIMIT; m++)
		if (fs_method(m) != NULL)
			check_method(m, 0);
}

static void
test_point_list_is_a_read(void)
{
	check_method(FLOWSVC__METHOD__LIST, 1);
}

/* Setup answers fs codes; nng's own words are there for messages. */
static void
test_open_codes(void)
{
	fs_client *c = NULL;

	CU_ASSERT_EQUAL(fs_client_open(&c, "bogus://nowhere"),
	    FS_INVALID_ARGUMENT);
	CU_ASSERT(fs_client_last_error()[0] != '\0');
	CU_ASSERT_EQUAL(fs_client_open(&c, "tcp://"), FS_INVALID_ARGUMENT);
	CU_ASSERT(fs_client_last_error()[0] != '\0');
	/* Nothing listens there: the dial does not wait, the client opens. */
	if (!FS_CHECK(fs_client_open(&c, "tcp://127.0.0.1:1") == FS_OK,
	        "open: %s", fs_client_last_error()))
		return;
	FS_ASSERT_STR_EQ(fs_client_last_error(), "");
	CU_ASSERT_EQUAL(fs_client_add_backend(c, "nope"), FS_INVALID_ARGUMENT);
	CU_ASSERT_EQUAL(fs_client_add_backend(c, "tcp://127.0.0.1:2"), FS_OK);
	fs_client_close(c);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"every method of the table batched as its flags say",
	        test_every_method_as_the_table_says},
	    {"a List by name and group is batched as a read",
	        test_point_list_is_a_read},
	    {"open and add_backend answer fs codes", test_open_codes},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"rpc_client_table", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
