/* Coalescing in the RPC client (fs_client_set_coalesce): many concurrent
 * reads against the real backend, each answered on its own callback with
 * its own result, and sent in fewer round trips (BATCH calls, counted by the
 * backend's Stats). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "fs_util.h"
#include "testlib.h"

#define NFLOWS 20
#define NCALLS 2000

struct expect {
	char id[40];
	const char *name; /* NULL: NOT_FOUND expected */
	int code;
	int name_ok;
};

static atomic_int done;

static void
on_get(void *arg, int code, Flowsvc__Reply *reply)
{
	struct expect *e = arg;

	e->code = code;
	if (reply != NULL && code == FS_OK) {
		Flowsvc__ComponentReply *cr =
		    (Flowsvc__ComponentReply *) fs_reply_payload(reply,
		        &flowsvc__component_reply__descriptor);
		e->name_ok = cr != NULL && e->name != NULL &&
		    strcmp(cr->component->name, e->name) == 0 &&
		    strcmp(cr->component->id, e->id) == 0;
		if (cr != NULL)
			flowsvc__component_reply__free_unpacked(cr, NULL);
	}
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	atomic_fetch_add(&done, 1);
}

static uint64_t
batch_calls(fs_client *c)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	Flowsvc__Reply *r = NULL;
	uint64_t n = 0;

	if (fs_client_call(c, FLOWSVC__METHOD__STATS, &e.base, NULL, &r) ==
	    FS_OK) {
		Flowsvc__StatsReply *st =
		    (Flowsvc__StatsReply *) fs_reply_payload(r,
		        &flowsvc__stats_reply__descriptor);
		for (size_t i = 0; st != NULL && i < st->n_requests; i++)
			if (st->requests[i]->method == FLOWSVC__METHOD__BATCH)
				n += st->requests[i]->count;
		if (st != NULL)
			flowsvc__stats_reply__free_unpacked(st, NULL);
	}
	if (r != NULL)
		flowsvc__reply__free_unpacked(r, NULL);
	return n;
}

static void
test_coalesce_each_read_gets_its_answer(void)
{
	fs_test_env env;
	char names[NFLOWS][16], ids[NFLOWS][40];
	struct expect *ex = calloc(NCALLS, sizeof(*ex));
	fs_client *c = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	if (!FS_CHECK(fs_env_init(&env, "coalesce") == 0 &&
	            fs_env_start_backend(&env) == 0,
	        "backend")) {
		free(ex);
		return;
	}
	FS_CHECK(fs_client_open(&c, env.backend_url) == 0, "client");
	for (int i = 0; i < NFLOWS; i++) {
		Flowsvc__CreateRequest cr = FLOWSVC__CREATE_REQUEST__INIT;
		Flowsvc__Reply *r = NULL;
		snprintf(names[i], sizeof(names[i]), "co_%d", i);
		cr.kind = FLOWSVC__KIND__FLOW;
		cr.name = names[i];
		FS_CHECK(fs_client_call(c, FLOWSVC__METHOD__CREATE, &cr.base,
		             NULL, &r) == FS_OK,
		    "create %s", names[i]);
		Flowsvc__ComponentReply *cp =
		    (Flowsvc__ComponentReply *) fs_reply_payload(r,
		        &flowsvc__component_reply__descriptor);
		snprintf(ids[i], sizeof(ids[i]), "%s",
		    cp ? cp->component->id : "");
		if (cp != NULL)
			flowsvc__component_reply__free_unpacked(cp, NULL);
		flowsvc__reply__free_unpacked(r, NULL);
	}
	uint64_t batches_before = batch_calls(c);
	FS_CHECK(fs_client_set_coalesce(c, 1) == 0, "coalesce on");

	/* Every third read asks for an id that does not exist. */
	atomic_store(&done, 0);
	int started = 0;
	for (int i = 0; i < NCALLS; i++) {
		Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;
		if (i % 3 == 2) {
			uint8_t u[16];
			fs_uuid_new(u);
			fs_uuid_format(u, ex[i].id);
		} else {
			snprintf(ex[i].id, sizeof(ex[i].id), "%s",
			    ids[i % NFLOWS]);
			ex[i].name = names[i % NFLOWS];
		}
		ex[i].code = -1;
		g.id = ex[i].id;
		if (fs_client_call_async(c, FLOWSVC__METHOD__GET, &g.base,
		        NULL, on_get, &ex[i]) == 0)
			started++;
	}
	FS_CHECK(started == NCALLS, "%d of %d calls started", started, NCALLS);
	int64_t until = fs_test_now_ms() + 20000;
	while (atomic_load(&done) < started && fs_test_now_ms() < until)
		fs_test_poll_pause(5);
	FS_CHECK(atomic_load(&done) == started, "%d of %d callbacks ran",
	    atomic_load(&done), started);

	int wrong = 0;
	for (int i = 0; i < NCALLS; i++) {
		int ok = ex[i].name != NULL
		    ? ex[i].code == FS_OK && ex[i].name_ok
		    : ex[i].code == FS_NOT_FOUND;
		if (!ok && wrong++ < 5)
			FS_CHECK(0, "call %d (%s): code %s", i, ex[i].id,
			    fs_code_name(ex[i].code));
	}
	FS_CHECK(wrong == 0, "%d wrong answers", wrong);

	/* Coalescing happened: far fewer round trips than reads. */
	uint64_t batches = batch_calls(c) - batches_before;
	FS_CHECK(batches > 0 && batches < NCALLS / 2,
	    "%llu BATCH calls for %d reads", (unsigned long long) batches,
	    NCALLS);

	fs_client_close(c);
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
	free(ex);
}

static void
test_coalesce_close_completes_queued_reads(void)
{
	fs_test_env env;
	fs_client *c = NULL;
	struct expect *ex = calloc(500, sizeof(*ex));

	CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
	if (!FS_CHECK(fs_env_init(&env, "coalesce2") == 0 &&
	            fs_env_start_backend(&env) == 0,
	        "backend")) {
		free(ex);
		return;
	}
	FS_CHECK(fs_client_open(&c, env.backend_url) == 0, "client");
	fs_client_set_coalesce(c, 1);
	atomic_store(&done, 0);
	int started = 0;
	for (int i = 0; i < 500; i++) {
		Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;
		snprintf(ex[i].id, sizeof(ex[i].id), "%s",
		    "00000000-0000-4000-8000-000000000000");
		g.id = ex[i].id;
		started += fs_client_call_async(c, FLOWSVC__METHOD__GET,
		               &g.base, NULL, on_get, &ex[i]) == 0;
	}
	/* Close while most calls still wait in the queue (once the first
	 * answer shows the connection is up): every started call still gets
	 * exactly one callback, answered or UNAVAILABLE. */
	int64_t until = fs_test_now_ms() + 10000;
	while (atomic_load(&done) == 0 && fs_test_now_ms() < until)
		fs_test_poll_pause(1);
	fs_client_close(c);
	FS_CHECK(atomic_load(&done) == started, "%d callbacks for %d calls",
	    atomic_load(&done), started);
	for (int i = 0; i < started; i++)
		FS_CHECK(ex[i].code == FS_NOT_FOUND ||
		        ex[i].code == FS_UNAVAILABLE,
		    "call %d: %s", i, fs_code_name(ex[i].code));
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
	free(ex);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"each read gets its own answer, in few round trips",
	        test_coalesce_each_read_gets_its_answer},
	    {"close completes queued reads",
	        test_coalesce_close_completes_queued_reads},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"coalesce", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
