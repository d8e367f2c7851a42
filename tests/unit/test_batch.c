/* service/batch.c through svc_dispatch: a Batch's reply is bounded while
 * it is built. Reads fill the budget and the rest are not run; a change
 * runs only with room for its answer, and an answer bigger than that room
 * (references added by restricted callers out of each other's sight) makes
 * room by dropping earlier reads, never itself; a batch whose refusals
 * alone would not fit is refused whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "batch.h"
#include "fs_util.h"
#include "svc.h"
#include "testlib.h"

static svc *S;

static int
suite_init(void)
{
	char err[256];
	return svc_open(&S, NULL, err, sizeof(err));
}

static int
suite_fini(void)
{
	svc_close(S);
	return 0;
}

/* An envelope for method(msg); free with env_free. */
static Flowsvc__Request *
env_new(int method, const ProtobufCMessage *msg, const Flowsvc__Caller *who)
{
	Flowsvc__Request *r = malloc(sizeof(*r));

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	flowsvc__request__init(r);
	r->method = (Flowsvc__Method) method;
	r->caller = (Flowsvc__Caller *) who;
	if (msg != NULL) {
		size_t len = protobuf_c_message_get_packed_size(msg);
		r->payload.data = malloc(len + 1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r->payload.data);
		protobuf_c_message_pack(msg, r->payload.data);
		r->payload.len = len;
		r->has_payload = 1;
	}
	return r;
}

static void
env_free(Flowsvc__Request *r)
{
	if (r != NULL)
		free(r->payload.data);
	free(r);
}

static int
dispatch(const Flowsvc__Request *req, svc_reply *r)
{
	svc_dispatch(S, req, r);
	return r->code;
}

/* Runs a batch of n members; returns its BatchReply (NULL when the batch
 * itself failed: *code says why). */
static Flowsvc__BatchReply *
run_batch(Flowsvc__Request **m, size_t n, int *code, size_t *len)
{
	Flowsvc__BatchRequest b = FLOWSVC__BATCH_REQUEST__INIT;
	Flowsvc__BatchReply *br = NULL;
	svc_reply r;

	b.requests = m;
	b.n_requests = n;
	Flowsvc__Request *e = env_new(FLOWSVC__METHOD__BATCH, &b.base, NULL);
	*code = dispatch(e, &r);
	if (len != NULL)
		*len = r.payload_len;
	if (r.code == FS_OK)
		br = flowsvc__batch_reply__unpack(NULL, r.payload_len,
		    r.payload);
	svc_reply_fini(&r);
	env_free(e);
	return br;
}

static char *
filler(int i, int len)
{
	char *s = malloc((size_t) len + 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	int k = snprintf(s, (size_t) len + 1, "f%d", i);
	memset(s + k, 'x', (size_t) (len - k));
	s[len] = '\0';
	return s;
}

/* A component of kind in group with nin input fields of len characters
 * (and as many output fields when both); its id into id. */
static int
create(int kind, const char *name, const char *group, int nin, int len,
    int both, char id[FS_UUID_STRLEN + 1])
{
	Flowsvc__CreateRequest m = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__StringList in = FLOWSVC__STRING_LIST__INIT;
	char **items = calloc((size_t) nin + 1, sizeof(*items));
	svc_reply r;

	for (int i = 0; i < nin; i++)
		items[i] = filler(i, len);
	m.kind = (Flowsvc__Kind) kind;
	m.name = (char *) name;
	m.group = (char *) group;
	in.items = items;
	in.n_items = (size_t) nin;
	m.input_fields = &in;
	if (both)
		m.output_fields = &in;
	Flowsvc__Request *e = env_new(FLOWSVC__METHOD__CREATE, &m.base, NULL);
	int code = dispatch(e, &r);
	if (code == FS_OK && id != NULL) {
		Flowsvc__ComponentReply *cr =
		    flowsvc__component_reply__unpack(NULL, r.payload_len,
		        r.payload);
		snprintf(id, FS_UUID_STRLEN + 1, "%s", cr->component->id);
		flowsvc__component_reply__free_unpacked(cr, NULL);
	}
	svc_reply_fini(&r);
	env_free(e);
	for (int i = 0; i < nin; i++)
		free(items[i]);
	free(items);
	return code;
}

static Flowsvc__Request *
list_env(const char *group, uint64_t limit)
{
	Flowsvc__ListRequest l = FLOWSVC__LIST_REQUEST__INIT;

	l.has_kind = 1;
	l.kind = FLOWSVC__KIND__FLOW;
	l.group_iexact = (char *) group;
	if (limit > 0) {
		l.has_limit = 1;
		l.limit = limit;
	}
	return env_new(FLOWSVC__METHOD__LIST, &l.base, NULL);
}

/* The payload a List answers with alone. */
static size_t
list_payload(const char *group, uint64_t limit)
{
	Flowsvc__Request *e = list_env(group, limit);
	svc_reply r;
	size_t n;

	dispatch(e, &r);
	n = r.code == FS_OK ? r.payload_len : 0;
	svc_reply_fini(&r);
	env_free(e);
	return n;
}

static size_t
varint_len(size_t v)
{
	size_t n = 1;

	for (; v >= 0x80; v >>= 7)
		n++;
	return n;
}

/* What an OK member with that payload takes in a BatchReply: code, "OK",
 * payload, and its own tag and length. */
static size_t
member_len(size_t payload)
{
	size_t rep = 2 + 4 + 1 + varint_len(payload) + payload;

	return 1 + varint_len(rep) + rep;
}

#define BUDGET ((size_t) FS_RPC_MAX_MSG - 1024)

static void
test_batch_lists_fill_then_not_run(void)
{
	enum { FLOWS = 250, LISTS = 30 };
	char name[32];
	Flowsvc__Request *m[LISTS];
	size_t len;
	int code;

	/* ~4 KB flows: a List of group "big" is ~1 MB. */
	for (int i = 0; i < FLOWS; i++) {
		snprintf(name, sizeof(name), "big%d", i);
		CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__FLOW, name, "big",
		                          16, 245, 0, NULL),
		    FS_OK);
	}
	size_t one = list_payload("big", 0);
	CU_ASSERT_FATAL(one > 900000);
	for (int i = 0; i < LISTS; i++)
		m[i] = list_env("big", 0);
	Flowsvc__BatchReply *br = run_batch(m, LISTS, &code, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(br);
	FS_CHECK(len <= FS_RPC_MAX_MSG - 1024, "reply of %zu bytes", len);
	size_t fit = (BUDGET - (LISTS * 80)) / member_len(one);
	size_t ok = 0;
	for (size_t i = 0; i < br->n_replies; i++) {
		const Flowsvc__Reply *r = br->replies[i];
		if (i < fit) {
			FS_CHECK(r->code == FLOWSVC__CODE__OK &&
			        !r->has_not_executed && r->payload.len == one,
			    "member %zu whole", i);
			ok++;
		} else if (i > fit) {
			FS_CHECK(r->code ==
			            FLOWSVC__CODE__RESOURCE_EXHAUSTED &&
			        r->has_not_executed && r->not_executed &&
			        !r->has_payload,
			    "member %zu not run", i);
		}
	}
	FS_ASSERT_INT_EQ(br->n_replies, LISTS);
	FS_ASSERT_INT_EQ(ok, fit);
	FS_ASSERT_STR_EQ(br->replies[LISTS - 1]->message, BATCH_NOT_RUN_MSG);
	flowsvc__batch_reply__free_unpacked(br, NULL);

	/* A change after a full budget is not run: nothing happens. */
	Flowsvc__CreateRequest c = FLOWSVC__CREATE_REQUEST__INIT;
	c.kind = FLOWSVC__KIND__FLOW;
	c.name = "never_made";
	env_free(m[LISTS - 1]);
	m[LISTS - 1] = env_new(FLOWSVC__METHOD__CREATE, &c.base, NULL);
	br = run_batch(m, LISTS, &code, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(br);
	FS_CHECK(br->replies[LISTS - 1]->not_executed, "change not run");
	flowsvc__batch_reply__free_unpacked(br, NULL);
	FS_CHECK(create(FLOWSVC__KIND__FLOW, "never_made", NULL, 0, 0, 0,
	             NULL) == FS_OK,
	    "the name is still free");
	for (int i = 0; i < LISTS; i++)
		env_free(m[i]);
}

static void
test_batch_change_answer_evicts_reads(void)
{
	enum { GROUPS = 17, PER = 1000 };
	static char ids[GROUPS * PER][FS_UUID_STRLEN + 1];
	char name[32], group[32], big[FS_UUID_STRLEN + 1];
	char *gl[2];
	Flowsvc__Caller who = FLOWSVC__CALLER__INIT;
	svc_reply r;
	int code;

	/* A component at the field limits, then 17 restricted callers each
	 * add the 1000 flows of their group, keeping the others' (hidden
	 * from them): 17,000 references, ~1.2 MB, past the reserve. */
	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__APP, "huge", "apps", 1000,
	                          255, 1, big),
	    FS_OK);
	for (int g = 0; g < GROUPS; g++) {
		for (int i = 0; i < PER; i++) {
			snprintf(name, sizeof(name), "s%d_%d", g, i);
			snprintf(group, sizeof(group), "g%d", g);
			CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__FLOW, name,
			                          group, 4, 245, 0,
			                          ids[g * PER + i]),
			    FS_OK);
		}
	}
	who.has_restricted = 1;
	who.restricted = 1;
	who.groups = gl;
	who.n_groups = 2;
	gl[0] = "apps";
	for (int g = 0; g < GROUPS; g++) {
		Flowsvc__UpdateRequest u = FLOWSVC__UPDATE_REQUEST__INIT;
		Flowsvc__StringList fl = FLOWSVC__STRING_LIST__INIT;
		char *items[PER];
		snprintf(group, sizeof(group), "g%d", g);
		gl[1] = group;
		for (int i = 0; i < PER; i++)
			items[i] = ids[g * PER + i];
		fl.items = items;
		fl.n_items = PER;
		u.id = big;
		u.flows = &fl;
		Flowsvc__Request *e =
		    env_new(FLOWSVC__METHOD__UPDATE, &u.base, &who);
		CU_ASSERT_EQUAL(dispatch(e, &r), FS_OK);
		svc_reply_fini(&r);
		env_free(e);
	}

	/* The trusted caller's answer holds all of them. */
	Flowsvc__UpdateRequest u = FLOWSVC__UPDATE_REQUEST__INIT;
	u.id = big;
	Flowsvc__Request *up = env_new(FLOWSVC__METHOD__UPDATE, &u.base, NULL);
	CU_ASSERT_EQUAL_FATAL(dispatch(up, &r), FS_OK);
	size_t answer = r.payload_len;
	svc_reply_fini(&r);
	CU_ASSERT_FATAL(answer > 1150000);

	/* A List sized so that the room left after it is enough to run the
	 * update (its reserve, ~1.11 MB) but not for its answer: the largest
	 * limit that leaves MIN_ROOM. */
	enum { MIN_ROOM = 1115000 };
	uint64_t lo = 1, hi = GROUPS * PER + 1000;
	while (lo < hi) {
		uint64_t mid = (lo + hi + 1) / 2;
		size_t p = list_payload(NULL, mid);
		if (p > 0 && member_len(p) + MIN_ROOM <= BUDGET)
			lo = mid;
		else
			hi = mid - 1;
	}
	uint64_t k = lo;
	size_t room = BUDGET - member_len(list_payload(NULL, k));
	FS_CHECK(room >= MIN_ROOM && room < answer,
	    "room %zu for an answer of %zu", room, answer);
	Flowsvc__Request *m[2] = {list_env(NULL, k), up};
	Flowsvc__BatchReply *br = run_batch(m, 2, &code, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(br);
	FS_CHECK(br->replies[0]->not_executed &&
	        br->replies[0]->code == FLOWSVC__CODE__RESOURCE_EXHAUSTED,
	    "the List made room");
	FS_CHECK(br->replies[1]->code == FLOWSVC__CODE__OK &&
	        !br->replies[1]->not_executed &&
	        br->replies[1]->payload.len == answer,
	    "the change is answered whole");
	flowsvc__batch_reply__free_unpacked(br, NULL);
	env_free(m[0]);
	env_free(up);
}

static void
test_batch_refusals_must_fit(void)
{
	/* 120,000 members whose request ids alone pass the limit. */
	enum { N = 120000 };
	static char rid[161];
	Flowsvc__Request **m = calloc(N, sizeof(*m));
	Flowsvc__Request *one = calloc(N, sizeof(*one));
	int code;

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(one);
	memset(rid, 'r', sizeof(rid) - 1);
	for (int i = 0; i < N; i++) {
		flowsvc__request__init(&one[i]);
		one[i].method = FLOWSVC__METHOD__HEALTH;
		one[i].request_id = rid;
		m[i] = &one[i];
	}
	Flowsvc__BatchReply *br = run_batch(m, N, &code, NULL);
	FS_CHECK(br == NULL && code == FS_RESOURCE_EXHAUSTED,
	    "a batch that cannot be answered: %s", fs_code_name(code));
	if (br != NULL)
		flowsvc__batch_reply__free_unpacked(br, NULL);
	/* A tenth of them is answered, each. */
	br = run_batch(m, N / 10, &code, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(br);
	FS_ASSERT_INT_EQ(br->n_replies, N / 10);
	FS_CHECK(br->replies[N / 10 - 1]->code == FLOWSVC__CODE__OK &&
	        strcmp(br->replies[N / 10 - 1]->request_id, rid) == 0,
	    "last member answered");
	flowsvc__batch_reply__free_unpacked(br, NULL);
	free(one);
	free(m);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"Lists fill the budget, the rest are not run",
	        test_batch_lists_fill_then_not_run},
	    {"a change's answer past the reserve drops earlier reads",
	        test_batch_change_answer_evicts_reads},
	    {"a batch whose refusals cannot fit is refused whole",
	        test_batch_refusals_must_fit},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"batch", suite_init, suite_fini, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
