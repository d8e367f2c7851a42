/*
 * test_list_alloc.c - paged Lists through svc_dispatch when memory runs
 * out: the 1st allocation of a first page, a next page and an early end
 * fails, then the 2nd, and so on until a run makes no allocation that
 * fails. Each call answers OK or a clean error (RESOURCE_EXHAUSTED,
 * UNAVAILABLE; never a crash or a wrong list), whatever failed leaves no
 * view behind that a new list would trip on (the cap is one view: a view
 * left open by a failure would make the next list UNAVAILABLE for a
 * second), and nothing leaks (LeakSanitizer at exit).
 *
 * As test_alloc_failure.c: the allocator is wrapped with the linker's
 * --wrap (tests/CMakeLists.txt), armed on this thread only, between arm()
 * and disarm(); protobuf-c's own allocations (the request's unpacking)
 * are not reached.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "fs_log.h"
#include "fs_util.h"
#include "svc.h"
#include "testlib.h"

#define MAX_RUNS 5000

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void __real_free(void *p);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

static __thread int armed;
static __thread long counted, fail_at;
static __thread int injected;

static int
should_fail(void)
{
	if (!armed || ++counted != fail_at)
		return 0;
	injected = 1;
	return 1;
}

void *
__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	return should_fail() ? NULL : __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : __real_realloc(p, n);
}

char *
__wrap_strdup(const char *s)
{
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_strdup(s);
}

void
__wrap_free(void *p)
{
	__real_free(p);
}

static svc *S;

static void
dispatch(int method, const ProtobufCMessage *msg, const Flowsvc__Caller *who,
    svc_reply *r, long fail)
{
	Flowsvc__Request req = FLOWSVC__REQUEST__INIT;
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len + 1);

	protobuf_c_message_pack(msg, buf);
	req.method = (Flowsvc__Method) method;
	req.caller = (Flowsvc__Caller *) who;
	req.has_payload = 1;
	req.payload.data = buf;
	req.payload.len = len;
	if (fail > 0) {
		counted = 0;
		fail_at = fail;
		injected = 0;
		armed = 1;
	}
	svc_dispatch(S, &req, r);
	armed = 0;
	free(buf);
}

/* A flow in group, using flow `uses` (NULL: none). *id gets its id. */
static void
create(const char *name, const char *group, char *uses, char id[40])
{
	Flowsvc__CreateRequest m = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__StringList fl = FLOWSVC__STRING_LIST__INIT;
	svc_reply r;

	m.kind = FLOWSVC__KIND__FLOW;
	m.name = (char *) name;
	m.group = (char *) group;
	if (uses != NULL) {
		fl.items = &uses;
		fl.n_items = 1;
		m.flows = &fl;
	}
	dispatch(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r, 0);
	CU_ASSERT_EQUAL_FATAL(r.code, FS_OK);
	if (id != NULL) {
		Flowsvc__ComponentReply *cr =
		    flowsvc__component_reply__unpack(NULL, r.payload_len,
		        r.payload);
		snprintf(id, 40, "%s", cr->component->id);
		flowsvc__component_reply__free_unpacked(cr, NULL);
	}
	svc_reply_fini(&r);
}

static int
code_ok(int code)
{
	return code == FS_OK || code == FS_RESOURCE_EXHAUSTED ||
	    code == FS_UNAVAILABLE;
}

/* One list call failing allocation fail (0: none): its code, its page's
 * names appended to *seen, its next token (caller frees) in *next. */
static int
page(const Flowsvc__Caller *who, uint32_t size, const char *token, long fail,
    char **next, size_t *seen)
{
	Flowsvc__ListRequest m = FLOWSVC__LIST_REQUEST__INIT;
	svc_reply r;

	m.has_kind = 1;
	m.kind = FLOWSVC__KIND__FLOW;
	m.has_page_size = 1;
	m.page_size = size;
	m.page_token = (char *) token;
	dispatch(FLOWSVC__METHOD__LIST, &m.base, who, &r, fail);
	int code = r.code;
	*next = NULL;
	if (code == FS_OK) {
		Flowsvc__ListReply *l = flowsvc__list_reply__unpack(NULL,
		    r.payload_len, r.payload);
		CU_ASSERT_PTR_NOT_NULL_FATAL(l);
		*seen += l->n_components;
		if (l->next_page_token != NULL)
			*next = strdup(l->next_page_token);
		flowsvc__list_reply__free_unpacked(l, NULL);
	}
	svc_reply_fini(&r);
	return code;
}

/* The whole list as who, no failure: how many. */
static size_t
count_all(const Flowsvc__Caller *who)
{
	size_t seen = 0;
	char *token = NULL, *next;

	do {
		int code = page(who, 40, token, 0, &next, &seen);
		free(token);
		token = next;
		if (!FS_CHECK(code == FS_OK, "an unfailed list: code %d",
		        code))
			break;
	} while (token != NULL);
	free(token);
	return seen;
}

/* One run: a first page, a later page, then an early end, with
 * allocation n of the call `phase` (0, 1, 2) failing. Returns whether
 * that allocation was made (and failed). */
static int
run_one(const Flowsvc__Caller *who, int phase, long n)
{
	char *token = NULL, *next = NULL;
	size_t seen = 0;
	int fired = 0;

	int code = page(who, 30, NULL, phase == 0 ? n : 0, &token, &seen);
	fired |= phase == 0 && injected;
	FS_CHECK(code_ok(code), "run %ld, first page: code %d", n, code);
	if (code == FS_OK && token != NULL) {
		code = page(who, 30, token, phase == 1 ? n : 0, &next, &seen);
		fired |= phase == 1 && injected;
		FS_CHECK(code_ok(code), "run %ld, next page: code %d", n,
		    code);
		if (code != FS_OK)
			next = strdup(token); /* not read: still there */
		free(token);
		token = next;
	}
	if (token != NULL) {
		code = page(who, 0, token, phase == 2 ? n : 0, &next, &seen);
		fired |= phase == 2 && injected;
		FS_CHECK(code_ok(code), "run %ld, early end: code %d", n,
		    code);
		free(next);
		if (code != FS_OK) { /* end it for good */
			page(who, 0, token, 0, &next, &seen);
			free(next);
		}
		free(token);
	}
	return fired;
}

static void
run_all(const Flowsvc__Caller *who, size_t want)
{
	for (int phase = 0; phase < 3; phase++) {
		long runs = 0;
		for (long n = 1; n <= MAX_RUNS; n++, runs++) {
			int fired = run_one(who, phase, n);
			/* Whatever failed, the one view allowed is free
			 * again. */
			size_t all = count_all(who);
			if (!FS_CHECK(all == want,
			        "phase %d, run %ld: then a list of %zu, not "
			        "%zu",
			        phase, n, all, want) ||
			    !fired)
				break; /* no allocation left to fail */
		}
		fprintf(stderr, "  phase %d: %ld runs\n", phase, runs);
		FS_CHECK(runs < MAX_RUNS,
		    "still failing allocations after %ld runs", runs);
	}
}

static void
test_paged_list_out_of_memory(void)
{
	svc_opts o = {0};
	char err[256], used[40], id[40];
	char *groups[] = {"team_a"};
	Flowsvc__Caller a = FLOWSVC__CALLER__INIT;

	o.list_views = 1;
	o.list_idle_ms = 60000;
	CU_ASSERT_EQUAL_FATAL(svc_open(&S, &o, err, sizeof(err)), 0);
	/* Flows of two groups; team_a's use a flow of team_b, so a caller
	 * of team_a gets re-encoded copies (owned by the view). */
	create("hidden", "team_b", NULL, used);
	for (int i = 0; i < 150; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f_%d", i);
		create(name, i % 2 ? "team_a" : "team_b", i % 2 ? used : NULL,
		    id);
	}
	a.has_restricted = a.restricted = 1;
	a.groups = groups;
	a.n_groups = 1;
	run_all(NULL, 151);
	run_all(&a, 75);
	svc_close(S);
}

int
main(void)
{
	static CU_TestInfo tests[] = {{"a paged list out of memory",
	                                  test_paged_list_out_of_memory},
	    CU_TEST_INFO_NULL};
	static CU_SuiteInfo suites[] = {{"list alloc", NULL, NULL, NULL, NULL,
	                                    tests},
	    CU_SUITE_INFO_NULL};

	fs_log_setup("test_list_alloc", FS_LOG_ERROR, FS_LOG_TEXT);
	return fs_test_main(suites);
}
