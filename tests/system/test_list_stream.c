/*
 * test_list_stream.c - lists of any size through the gateway (CONTRACT
 * §2 "Lists of any size work"), against the real programs:
 * - a list of 150,000 flows answers 200 with all of them, in creation
 *   order, as valid JSON, with X-Total-Count and X-Revision, streamed
 *   (chunked), while the gateway's resident memory stays bounded, also
 *   for a slow reader (before: 500 above about 60,000 flows);
 * - several such lists at once all succeed (before: they failed together);
 * - a list taken while a writer creates, updates and deletes is the store
 *   at the revision it reports: no duplicate, nothing created after that
 *   revision, nothing deleted before it missing, every update before it
 *   and none after;
 * - a page that fails mid-stream (the backend stops answering) ends the
 *   response visibly broken: no final "]", no chunked terminator;
 * - HEAD of a list answers its headers without a body or a view.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "testlib.h"

#define BIG 150000
/* The gateway's resident memory may grow by this much while streaming:
 * the list is 50 MB of JSON, a page about 1.5 MB. */
#define RSS_GROWTH_MAX_KB (64 * 1024)

/* ---- checking a list as it streams --------------------------------------- */

struct check {
	const char *prefix; /* names are <prefix><i>, i = index + first */
	int first;
	size_t bad; /* elements out of order or malformed */
	char first_bad[160];
	pid_t gw;
	long rss_max_kb;
	int64_t last_sample_ms;
};

static int
check_item(void *arg, size_t index, json_t *item)
{
	struct check *k = arg;
	char want[64];
	const char *name = json_string_value(json_object_get(item, "name"));

	snprintf(want, sizeof(want), "%s%zu", k->prefix,
	    index + (size_t) k->first);
	if (name == NULL || strcmp(name, want) != 0 ||
	    json_object_size(item) != 10) {
		if (k->bad++ == 0)
			snprintf(k->first_bad, sizeof(k->first_bad),
			    "element %zu: name %s, expected %s (%zu keys)",
			    index, name ? name : "(none)", want,
			    json_object_size(item));
	}
	return 0;
}

static void
sample_rss(void *arg)
{
	struct check *k = arg;
	int64_t now = fs_test_now_ms();

	if (k->gw == 0 || now - k->last_sample_ms < 20)
		return;
	k->last_sample_ms = now;
	long kb = fs_proc_rss_kb(k->gw);
	if (kb > k->rss_max_kb)
		k->rss_max_kb = kb;
}

static int
start_seeded(fs_test_env *env, const char *name, int n)
{
	if (!FS_CHECK(fs_env_start(env, name) == 0, "programs start"))
		return -1;
	int64_t t0 = fs_test_now_ms();
	if (!FS_CHECK(fs_seed_flows(env->backend_url, "flow_", 0, n, NULL, 3,
	                  NULL) == 0,
	        "seeding %d flows", n))
		return -1;
	fprintf(stderr, "  seeded %d flows in %lld ms\n", n,
	    (long long) (fs_test_now_ms() - t0));
	return 0;
}

/* ---- one large list, bounded memory --------------------------------------- */

static void
list_and_check(fs_test_env *env, int rcvbuf, int pause_ms, const char *what)
{
	struct check k = {"flow_", 0, 0, "", env->gateway.pid, 0, 0};
	fs_liststream_opts o = {0};
	fs_liststream ls;
	long before = fs_proc_rss_kb(env->gateway.pid);

	o.rcvbuf = rcvbuf;
	o.pause_ms = pause_ms;
	o.item = check_item;
	o.tick = sample_rss;
	o.arg = &k;
	fs_liststream_get(env->gw_port, "/api/flows/", &o, &ls);
	fprintf(stderr,
	    "  %s: %d, %zu flows, %zu bytes, first byte %lld ms, %lld ms; "
	    "gateway VmRSS %ld KiB before, %ld KiB at most\n",
	    what, ls.status, ls.items, ls.bytes, (long long) ls.first_byte_ms,
	    (long long) ls.total_ms, before, k.rss_max_kb);
	FS_ASSERT_INT_EQ(ls.status, 200);
	FS_CHECK(ls.complete, "the list did not end properly: %s", ls.error);
	FS_ASSERT_INT_EQ(ls.items, BIG);
	FS_CHECK(k.bad == 0, "%zu elements out of creation order: %s", k.bad,
	    k.first_bad);
	FS_ASSERT_STR_EQ(ls.total, "150000");
	FS_CHECK(ls.revision[0] != '\0', "X-Revision");
	FS_ASSERT_STR_EQ(ls.te, "chunked");
	FS_CHECK(k.rss_max_kb - before < RSS_GROWTH_MAX_KB,
	    "the gateway grew by %ld KiB while streaming %zu bytes",
	    k.rss_max_kb - before, ls.bytes);
}

static void
test_large_list_streams(void)
{
	fs_test_env env;

	if (start_seeded(&env, "liststream", BIG) != 0) {
		fs_env_fini(&env);
		return;
	}
	list_and_check(&env, 0, 0, "a reader at full speed");
	/* A reader that takes its time: the gateway waits for it rather
	 * than buffering the list (a 64 KiB window, a pause per read). */
	list_and_check(&env, 64 * 1024, 1, "a slow reader");

	/* limit and offset on the streamed list; Link to the next page. */
	fs_liststream_opts o = {0};
	fs_liststream ls;
	struct check k = {"flow_", 100000, 0, "", 0, 0, 0};
	o.item = check_item;
	o.arg = &k;
	fs_liststream_get(env.gw_port,
	    "/api/flows/?offset=100000&limit=20000&group__iexact=default", &o,
	    &ls);
	FS_ASSERT_INT_EQ(ls.status, 200);
	FS_CHECK(ls.complete, "%s", ls.error);
	FS_ASSERT_INT_EQ(ls.items, 20000);
	FS_CHECK(k.bad == 0, "%s", k.first_bad);
	FS_ASSERT_STR_EQ(ls.total, "150000");
	FS_ASSERT_STR_EQ(ls.link,
	    "</api/flows/?group__iexact=default&limit=20000&offset=120000>; "
	    "rel=\"next\"");
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
}

/* ---- concurrent lists ----------------------------------------------------- */

#define READERS 4

struct reader {
	pthread_t thr;
	int port;
	fs_liststream ls;
	struct check k;
};

static void *
reader_main(void *arg)
{
	struct reader *rd = arg;
	fs_liststream_opts o = {0};

	o.item = check_item;
	o.arg = &rd->k;
	fs_liststream_get(rd->port, "/api/flows/", &o, &rd->ls);
	return NULL;
}

static void
test_concurrent_lists(void)
{
	fs_test_env env;
	struct reader rd[READERS];

	if (start_seeded(&env, "listconc", BIG) != 0) {
		fs_env_fini(&env);
		return;
	}
	for (int i = 0; i < READERS; i++) {
		memset(&rd[i], 0, sizeof(rd[i]));
		rd[i].port = env.gw_port;
		rd[i].k.prefix = "flow_";
		CU_ASSERT_FATAL(pthread_create(&rd[i].thr, NULL, reader_main,
		                    &rd[i]) == 0);
	}
	for (int i = 0; i < READERS; i++) {
		pthread_join(rd[i].thr, NULL);
		fprintf(stderr, "  reader %d: %d, %zu flows in %lld ms\n", i,
		    rd[i].ls.status, rd[i].ls.items,
		    (long long) rd[i].ls.total_ms);
		FS_ASSERT_INT_EQ(rd[i].ls.status, 200);
		FS_CHECK(rd[i].ls.complete, "reader %d: %s", i,
		    rd[i].ls.error);
		FS_ASSERT_INT_EQ(rd[i].ls.items, BIG);
		FS_CHECK(rd[i].k.bad == 0, "reader %d: %s", i,
		    rd[i].k.first_bad);
	}
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
}

/* ---- a list while a writer writes ------------------------------------------ */

#define OLD 30000
#define OPS_MAX 200000

/* One writer, one change at a time, so that change i took revision
 * base + i + 1: creates new_<j>, deletes old flows from the end, updates
 * old flows from the start. */
struct writer {
	pthread_t thr;
	fs_client *c;
	char (*ids)[40];
	atomic_int stop;
	int nops;
	char op[OPS_MAX]; /* 'c', 'd', 'u' */
	int arg[OPS_MAX]; /* new_<j> / old index */
	int failed;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	int created = 0, deleted = 0, updated = 0;

	while (!atomic_load(&w->stop) && w->nops < OPS_MAX) {
		char name[32];
		int i = w->nops, code;
		json_t *comp = NULL;
		switch (i % 3) {
		case 0:
			snprintf(name, sizeof(name), "new_%d", created);
			code = fs_trpc_create(w->c, FLOWSVC__KIND__FLOW, name,
			    NULL, NULL, 10000, &comp);
			w->arg[i] = created++;
			break;
		case 1:
			w->arg[i] = OLD - 1 - deleted++;
			code = fs_trpc_id(w->c, FLOWSVC__METHOD__DELETE,
			    w->ids[w->arg[i]], 10000, NULL);
			break;
		default:
			w->arg[i] = updated++;
			code = fs_trpc_update_out(w->c, w->ids[w->arg[i]],
			    "updated", 10000, &comp);
			break;
		}
		json_decref(comp);
		if (code != FS_OK) {
			w->failed = code;
			break;
		}
		w->op[i] = "cdu"[i % 3];
		w->nops++;
	}
	return NULL;
}

/* What the list must hold once the first k changes are made; k is
 * X-Revision less the revision before the first change, known from the
 * response's head, which arrives before the first element. */
struct expect {
	const fs_liststream *ls;
	uint64_t base;
	long k;
	char *seen_old; /* [OLD] */
	int seen_new, bad;
	char first_bad[200];
};

static void
expect_bad(struct expect *e, const char *why)
{
	if (e->bad++ == 0)
		snprintf(e->first_bad, sizeof(e->first_bad), "%s", why);
}

static int
expect_item(void *arg, size_t index, json_t *item)
{
	struct expect *e = arg;
	const char *name = json_string_value(json_object_get(item, "name"));
	json_t *outs = json_object_get(item, "output_fields");
	const char *out0 = json_string_value(json_array_get(outs, 0));
	int j;
	char why[160] = "";

	(void) index;
	if (e->k < 0) {
		uint64_t rev = strtoull(e->ls->revision, NULL, 10);
		e->k = rev >= e->base ? (long) (rev - e->base) : 0;
	}
	if (name != NULL && sscanf(name, "old_%d", &j) == 1 && j >= 0 &&
	    j < OLD) {
		/* deleted by change i = 3 * d + 1 (j = OLD - 1 - d), updated
		 * by change i = 3 * j + 2 */
		int d = OLD - 1 - j;
		int upd = out0 != NULL && strcmp(out0, "updated") == 0;
		if (e->seen_old[j]++)
			snprintf(why, sizeof(why), "%s twice", name);
		else if (3 * d + 1 < e->k)
			snprintf(why, sizeof(why),
			    "%s, deleted by change %d, listed", name,
			    3 * d + 1);
		else if (upd != (3 * j + 2 < e->k))
			snprintf(why, sizeof(why),
			    "%s %s updated (change %d, the cut after %ld)",
			    name, upd ? "is" : "is not", 3 * j + 2, e->k);
	} else if (name != NULL && sscanf(name, "new_%d", &j) == 1) {
		if (j != e->seen_new)
			snprintf(why, sizeof(why), "%s where new_%d was due",
			    name, e->seen_new);
		else if (3 * j >= e->k)
			snprintf(why, sizeof(why),
			    "%s, created by change %d, after the cut (%ld)",
			    name, 3 * j, e->k);
		e->seen_new++;
	} else {
		snprintf(why, sizeof(why), "unexpected element %s",
		    name ? name : "(no name)");
	}
	if (why[0] != '\0')
		expect_bad(e, why);
	return 0;
}

/* After the list: nothing that existed at the cut is missing. */
static void
expect_all_seen(struct expect *e)
{
	char why[160];

	for (int j = 0; j < OLD; j++) {
		int d = OLD - 1 - j;
		if (!e->seen_old[j] && 3 * d + 1 >= e->k) {
			snprintf(why, sizeof(why),
			    "old_%d missing (deleted by change %d, the cut "
			    "after %ld)",
			    j, 3 * d + 1, e->k);
			expect_bad(e, why);
		}
	}
	if (e->seen_new != (e->k + 2) / 3) {
		snprintf(why, sizeof(why),
		    "%d new flows listed, %ld created before the cut",
		    e->seen_new, (e->k + 2) / 3);
		expect_bad(e, why);
	}
}

static void
test_list_consistent_under_writes(void)
{
	fs_test_env env;
	static char ids[OLD][40];
	static struct writer w;
	Flowsvc__HealthReply *h = NULL;

	if (!FS_CHECK(fs_env_start(&env, "listcut") == 0, "programs") ||
	    !FS_CHECK(fs_seed_flows(env.backend_url, "old_", 0, OLD, NULL, 1,
	                  ids) == 0,
	        "seeding")) {
		fs_env_fini(&env);
		return;
	}
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	FS_ASSERT_OK(
	    fs_trpc_call(env.client, FLOWSVC__METHOD__HEALTH, &e.base, 10000,
	        &flowsvc__health_reply__descriptor, (ProtobufCMessage **) &h));
	CU_ASSERT_FATAL(h != NULL && h->has_revision);
	uint64_t base = h->revision;
	flowsvc__health_reply__free_unpacked(h, NULL);

	memset(&w, 0, sizeof(w));
	w.ids = ids;
	CU_ASSERT_FATAL(fs_client_open(&w.c, env.backend_url) == FS_OK);
	atomic_init(&w.stop, 0);
	CU_ASSERT_FATAL(pthread_create(&w.thr, NULL, writer_main, &w) == 0);
	/* Let some changes happen first, then list slowly while the writer
	 * goes on: the first page cuts, the later ones follow. */
	while (w.nops < 300 && !w.failed)
		fs_test_poll_pause(2);

	fs_liststream ls;
	struct expect ex = {&ls, base, -1, calloc(OLD, 1), 0, 0, ""};
	fs_liststream_opts o = {0};
	o.rcvbuf = 32 * 1024;
	o.pause_ms = 1;
	o.item = expect_item;
	o.arg = &ex;
	fs_liststream_get(env.gw_port, "/api/flows/", &o, &ls);
	int during = w.nops;
	atomic_store(&w.stop, 1);
	pthread_join(w.thr, NULL);
	FS_CHECK(w.failed == 0, "the writer failed: code %d", w.failed);
	FS_ASSERT_INT_EQ(ls.status, 200);
	FS_CHECK(ls.complete, "%s", ls.error);
	expect_all_seen(&ex);
	fprintf(stderr,
	    "  listed %zu flows at revision %s (the cut after change %ld) "
	    "while the writer made changes %d to %d\n",
	    ls.items, ls.revision, ex.k, 300, during);
	FS_CHECK(ex.k >= 300 && ex.k <= during,
	    "the list's revision %s is not one the writer made while it was "
	    "taken",
	    ls.revision);
	FS_CHECK(during > ex.k + 100,
	    "only %d changes after the cut at %ld: the list was not read "
	    "while changes went on",
	    during, ex.k);
	FS_CHECK(ex.bad == 0, "%d elements do not fit the cut: %s", ex.bad,
	    ex.first_bad);
	free(ex.seen_old);
	fs_client_close(w.c);
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
}

int
main(void)
{
	/* The programs' memory is measured: ASan's quarantine (256 MB of
	 * freed blocks by default) would be all that shows. */
	const char *asan = getenv("ASAN_OPTIONS");
	char opts[1024];
	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=8",
	    asan != NULL ? asan : "", asan != NULL && asan[0] ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);

	static CU_TestInfo tests[] =
	    {{"a 150,000-flow list streams, memory bounded",
	         test_large_list_streams},
	        {"concurrent large lists", test_concurrent_lists},
	        {"a list under writes is one cut",
	            test_list_consistent_under_writes},
	        CU_TEST_INFO_NULL};
	static CU_SuiteInfo suites[] = {{"list stream", NULL, NULL, NULL, NULL,
	                                    tests},
	    CU_SUITE_INFO_NULL};
	return fs_test_main(suites);
}
