/*
 * test_replica_failover.c - terms and promotion (CONTRACT §8) with real
 * processes: the primary killed with -9, a replica promoted, writes
 * resuming on it in the next term, and the old primary restarted as a
 * replica of the new one, dropping (and counting in its log) the changes
 * of its own that the new primary never received; a backend that hears
 * of a higher term refuses changes (FAILED_PRECONDITION "Not the
 * primary.") until promoted; a replica too far behind its primary's logs
 * bootstraps from a snapshot, and a restart resumes without one.
 */
#define _GNU_SOURCE

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define CALL_MS 5000
#define CONVERGE_MS 20000

/* Names and versions of every component, in creation order. */
static json_t *
names_of(fs_client *c)
{
	json_t *all = fs_trpc_list(c, NULL), *out, *v;
	size_t i;

	if (all == NULL)
		return NULL;
	out = json_array();
	json_array_foreach(all, i, v)
	{
		json_array_append_new(out,
		    json_pack("[O,O,O]", json_object_get(v, "id"),
		        json_object_get(v, "name"),
		        json_object_get(v, "version")));
	}
	json_decref(all);
	return out;
}

static void
assert_same(fs_client *c, fs_client *ref, const char *what)
{
	uint64_t want = fs_trpc_revision(ref);

	FS_CHECK(fs_trpc_wait_revision(c, want, CONVERGE_MS) == 0,
	    "%s did not reach revision %llu (at %llu)", what,
	    (unsigned long long) want,
	    (unsigned long long) fs_trpc_revision(c));
	FS_ASSERT_INT_EQ(fs_trpc_revision(c), want);
	json_t *a = names_of(c), *b = names_of(ref);
	if (FS_CHECK(a != NULL && b != NULL, "%s: lists", what))
		FS_ASSERT_JSON_SAME(a, b);
	json_decref(a);
	json_decref(b);
}

static int
create(fs_client *c, const char *name, uint64_t *term)
{
	Flowsvc__CreateRequest cr = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__Reply *rep = NULL;
	fs_call_opts o = {NULL, CALL_MS, NULL, 0};

	cr.kind = FLOWSVC__KIND__FLOW;
	cr.name = (char *) name;
	int code =
	    fs_client_call(c, FLOWSVC__METHOD__CREATE, &cr.base, &o, &rep);
	if (term != NULL)
		*term = rep != NULL && rep->has_term ? rep->term : 0;
	if (rep != NULL)
		flowsvc__reply__free_unpacked(rep, NULL);
	return code;
}

static int
promote(fs_client *c, Flowsvc__PromoteReply **out)
{
	Flowsvc__PromoteRequest pr = FLOWSVC__PROMOTE_REQUEST__INIT;

	return fs_trpc_call(c, FLOWSVC__METHOD__PROMOTE, &pr.base, CALL_MS,
	    &flowsvc__promote_reply__descriptor, (ProtobufCMessage **) out);
}

/* ---- failover ------------------------------------------------------------ */

/* The replica is frozen while the primary takes changes (it gets at most
 * the first), the primary is killed with -9, the replica thawed and
 * promoted: term 2, writes resume there. The old primary, restarted with
 * --replica-of the new one, finds it holds changes the new primary never
 * received, logs their count, drops them (a fresh snapshot) and follows:
 * both then hold exactly the new primary's history. */
static void
test_failover_and_rejoin(void)
{
	fs_test_env p, r;
	const char *again[4];
	Flowsvc__PromoteReply *pr = NULL;
	char log[PATH_MAX + 32], want[160], name[32];
	uint64_t term = 0;

	FS_ASSERT_OK(fs_env_start_node(&p, "fo-p", NULL));
	FS_ASSERT_OK(fs_env_start_node(&r, "fo-r", p.backend_url));
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "shared_%d", i);
		FS_ASSERT_INT_EQ(create(p.client, name, &term), FS_OK);
	}
	FS_ASSERT_INT_EQ(term, 1);
	assert_same(r.client, p.client, "replica");

	FS_ASSERT_OK(fs_test_proc_freeze(&r.backend, 5000));
	FS_ASSERT_INT_EQ(create(p.client, "maybe_lost", NULL), FS_OK);
	fs_test_poll_pause(200); /* its parked poll takes that one, at most */
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "lost_%d", i);
		FS_ASSERT_INT_EQ(create(p.client, name, NULL), FS_OK);
	}
	uint64_t old_rev = fs_trpc_revision(p.client);
	fs_env_stop_backend(&p, SIGKILL);
	FS_ASSERT_OK(fs_test_proc_cont(&r.backend));

	/* Changes through the replica fail while it has no primary. */
	FS_ASSERT_INT_EQ(create(r.client, "no_primary", NULL), FS_UNAVAILABLE);
	FS_ASSERT_OK(promote(r.client, &pr));
	if (!FS_CHECK(pr != NULL, "promote"))
		goto out;
	FS_ASSERT_INT_EQ(pr->term, 2);
	uint64_t fork = pr->revision;
	FS_CHECK(fork < old_rev, "the replica had every change (%llu)",
	    (unsigned long long) fork);
	Flowsvc__HealthReply *h = fs_trpc_health(r.client);
	if (FS_CHECK(h != NULL, "health")) {
		FS_ASSERT_STR_EQ(h->role, "primary");
		FS_ASSERT_INT_EQ(h->term, 2);
		CU_ASSERT(h->accepts_changes);
		flowsvc__health_reply__free_unpacked(h, NULL);
	}
	/* Promoting a primary again changes nothing. */
	flowsvc__promote_reply__free_unpacked(pr, NULL);
	pr = NULL;
	FS_ASSERT_OK(promote(r.client, &pr));
	if (pr != NULL)
		FS_ASSERT_INT_EQ(pr->term, 2);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "term2_%d", i);
		FS_ASSERT_INT_EQ(create(r.client, name, &term), FS_OK);
		FS_ASSERT_INT_EQ(term, 2);
	}

	/* The old primary rejoins as a replica of the new one. */
	again[0] = "--replica-of";
	again[1] = r.backend_url;
	again[2] = NULL;
	FS_ASSERT_OK(fs_env_start_backend_with(&p, again));
	assert_same(p.client, r.client, "the old primary");
	snprintf(log, sizeof(log), "%s/flow-service.log", p.dir);
	snprintf(want, sizeof(want),
	    "dropping %llu changes of its own that it never received",
	    (unsigned long long) (old_rev - fork));
	FS_CHECK(fs_file_count(log, want) == 1, "the log does not say \"%s\"",
	    want);
	json_t *l = fs_trpc_list(p.client, "lost_3");
	if (FS_CHECK(l != NULL, "list"))
		FS_ASSERT_INT_EQ(json_array_size(l), 0);
	json_decref(l);
	h = fs_trpc_health(p.client);
	if (FS_CHECK(h != NULL, "health")) {
		FS_ASSERT_STR_EQ(h->role, "replica");
		FS_ASSERT_INT_EQ(h->term, 2);
		FS_ASSERT_STR_EQ(h->primary, r.backend_url);
		flowsvc__health_reply__free_unpacked(h, NULL);
	}
	/* It forwards changes to the new primary, and follows them. */
	FS_ASSERT_INT_EQ(create(p.client, "via_old", &term), FS_OK);
	FS_ASSERT_INT_EQ(term, 2);
	assert_same(p.client, r.client, "the old primary");
out:
	if (pr != NULL)
		flowsvc__promote_reply__free_unpacked(pr, NULL);
	fs_env_fini(&p);
	fs_env_fini(&r);
}

/* ---- a higher term ------------------------------------------------------- */

/* A primary that hears of a higher term (here in a Replicate call) stops
 * accepting changes: FAILED_PRECONDITION "Not the primary.", and Health
 * says so; promoting it makes it the primary of the term after. */
static void
test_higher_term_deposes(void)
{
	fs_test_env p;
	Flowsvc__ReplicateRequest rr = FLOWSVC__REPLICATE_REQUEST__INIT;
	Flowsvc__PromoteReply *pr = NULL;
	ProtobufCMessage *out = NULL;
	Flowsvc__Reply *rep = NULL;
	uint64_t term = 0;

	FS_ASSERT_OK(fs_env_start_node(&p, "term-p", NULL));
	FS_ASSERT_INT_EQ(create(p.client, "before", &term), FS_OK);
	FS_ASSERT_INT_EQ(term, 1);
	rr.has_term = 1;
	rr.term = 7;
	rr.follower = "a follower of term 7";
	FS_ASSERT_OK(fs_trpc_call(p.client, FLOWSVC__METHOD__REPLICATE,
	    &rr.base, CALL_MS, &flowsvc__replicate_reply__descriptor, &out));
	if (out != NULL) {
		Flowsvc__ReplicateReply *x = (Flowsvc__ReplicateReply *) out;
		FS_ASSERT_INT_EQ(x->n_records, 1);
		FS_ASSERT_INT_EQ(x->term, 7);
		protobuf_c_message_free_unpacked(out, NULL);
	}

	Flowsvc__CreateRequest cr = FLOWSVC__CREATE_REQUEST__INIT;
	fs_call_opts o = {NULL, CALL_MS, NULL, 0};
	cr.kind = FLOWSVC__KIND__FLOW;
	cr.name = "refused";
	FS_ASSERT_CODE(fs_client_call(p.client, FLOWSVC__METHOD__CREATE,
	                   &cr.base, &o, &rep),
	    FS_FAILED_PRECONDITION, rep);
	if (rep != NULL) {
		FS_ASSERT_STR_EQ(rep->message, "Not the primary.");
		flowsvc__reply__free_unpacked(rep, NULL);
	}
	Flowsvc__HealthReply *h = fs_trpc_health(p.client);
	if (FS_CHECK(h != NULL, "health")) {
		CU_ASSERT(!h->accepts_changes);
		FS_ASSERT_INT_EQ(h->term, 7);
		flowsvc__health_reply__free_unpacked(h, NULL);
	}
	/* It remembers the term across a restart. */
	fs_env_stop_backend(&p, SIGTERM);
	FS_ASSERT_OK(fs_env_start_backend(&p));
	FS_ASSERT_INT_EQ(create(p.client, "refused", NULL),
	    FS_FAILED_PRECONDITION);

	FS_ASSERT_OK(promote(p.client, &pr));
	if (pr != NULL) {
		FS_ASSERT_INT_EQ(pr->term, 8);
		flowsvc__promote_reply__free_unpacked(pr, NULL);
	}
	FS_ASSERT_INT_EQ(create(p.client, "after", &term), FS_OK);
	FS_ASSERT_INT_EQ(term, 8);
	fs_env_fini(&p);
}

/* ---- bootstrap --------------------------------------------------------------- */

/* A new replica of a primary whose logs no longer go back to revision 1
 * (a snapshot, a restart, a history of one change) takes the primary's
 * snapshot, then its changes; restarted, it resumes from its own data
 * dir without another snapshot. */
static void
test_bootstrap_from_snapshot(void)
{
	fs_test_env p, r;
	const char *xp[4] = {"--watch-history", "1", NULL, NULL};
	char log[PATH_MAX + 32], name[32];

	FS_ASSERT_OK(fs_env_init(&p, "boot-p"));
	FS_ASSERT_OK(fs_env_start_backend_with(&p, xp));
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "f_%d", i);
		FS_ASSERT_INT_EQ(create(p.client, name, NULL), FS_OK);
	}
	/* Restarts (each writes a snapshot) with a history of one change
	 * leave no log of revision 1 behind: the history holds only the log
	 * of the last change. */
	snprintf(log, sizeof(log), "%s/changes-000000000000.log", p.data_dir);
	for (int i = 0; fs_file_size(log) >= 0 && i < 4; i++) {
		fs_env_stop_backend(&p, SIGTERM);
		FS_ASSERT_OK(fs_env_start_backend(&p));
		snprintf(name, sizeof(name), "g_%d", i);
		FS_ASSERT_INT_EQ(create(p.client, name, NULL), FS_OK);
	}
	FS_CHECK(fs_file_size(log) < 0, "%s is still there", log);
	fs_env_stop_backend(&p, SIGTERM); /* a snapshot of all of it */
	FS_ASSERT_OK(fs_env_start_backend(&p));
	uint64_t snap = fs_trpc_revision(p.client);
	FS_ASSERT_INT_EQ(create(p.client, "after_snapshot", NULL), FS_OK);

	FS_ASSERT_OK(fs_env_start_node(&r, "boot-r", p.backend_url));
	assert_same(r.client, p.client, "bootstrapped replica");
	snprintf(log, sizeof(log), "%s/flow-service.log", r.dir);
	char want[64];
	snprintf(want, sizeof(want), "its snapshot at revision %llu",
	    (unsigned long long) snap);
	FS_CHECK(fs_file_count(log, want) == 1, "the log does not say \"%s\"",
	    want);
	FS_ASSERT_INT_EQ(create(p.client, "later", NULL), FS_OK);
	assert_same(r.client, p.client, "bootstrapped replica");

	fs_env_stop_backend(&r, SIGKILL);
	FS_ASSERT_INT_EQ(create(p.client, "while_down", NULL), FS_OK);
	FS_ASSERT_OK(fs_env_start_backend(&r));
	assert_same(r.client, p.client, "restarted replica");
	FS_ASSERT_INT_EQ(fs_file_count(log, "bootstrapped from"), 1);
	fs_env_fini(&r);
	fs_env_fini(&p);
}

/* ---- the RPCs themselves ------------------------------------------------------ */

static int
fetch(fs_client *c, uint64_t session, uint64_t off, uint32_t max,
    Flowsvc__SnapshotFetchReply **out)
{
	Flowsvc__SnapshotFetchRequest m =
	    FLOWSVC__SNAPSHOT_FETCH_REQUEST__INIT;

	m.has_session = m.has_offset = m.has_max_bytes = 1;
	m.session = session;
	m.offset = off;
	m.max_bytes = max;
	return fs_trpc_call(c, FLOWSVC__METHOD__SNAPSHOT_FETCH, &m.base,
	    CALL_MS, &flowsvc__snapshot_fetch_reply__descriptor,
	    (ProtobufCMessage **) out);
}

/* SnapshotFetch: none before the first snapshot; then the snapshot file
 * in chunks of the size asked, ending with done, of the revision it
 * holds; an unknown session and an offset past the end refused.
 * Replicate: the records after a revision, each with its revision and
 * term; a revision the backend never reached is diverged. A caller
 * restricted to some groups gets none of the three. */
static void
test_replication_rpcs(void)
{
	fs_test_env p;
	Flowsvc__SnapshotFetchReply *f = NULL;
	char name[32];

	FS_ASSERT_OK(fs_env_start_node(&p, "rpcs-p", NULL));
	FS_ASSERT_OK(fetch(p.client, 0, 0, 0, &f));
	if (f != NULL) {
		CU_ASSERT(f->none);
		flowsvc__snapshot_fetch_reply__free_unpacked(f, NULL);
		f = NULL;
	}
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "s_%d", i);
		FS_ASSERT_INT_EQ(create(p.client, name, NULL), FS_OK);
	}
	FS_ASSERT_OK(fs_trpc_snapshot(p.client));
	uint64_t rev = fs_trpc_revision(p.client);
	FS_ASSERT_INT_EQ(create(p.client, "after", NULL), FS_OK);

	uint64_t session = 0, off = 0, size = 0;
	int chunks = 0, done = 0;
	while (!done && chunks < 1000) {
		if (fetch(p.client, session, off, 100, &f) != FS_OK ||
		    f == NULL) {
			FS_CHECK(0, "SnapshotFetch at %llu failed",
			    (unsigned long long) off);
			break;
		}
		if (chunks == 0) {
			session = f->session;
			size = f->size;
			FS_ASSERT_INT_EQ(f->revision, rev);
			CU_ASSERT(f->data.len >= 8 &&
			    memcmp(f->data.data, "FLOWSNP", 7) == 0);
		}
		FS_ASSERT_INT_EQ(f->offset, off);
		CU_ASSERT(f->data.len <= 100);
		off += f->data.len;
		done = f->done;
		chunks++;
		flowsvc__snapshot_fetch_reply__free_unpacked(f, NULL);
		f = NULL;
	}
	CU_ASSERT(done);
	FS_ASSERT_INT_EQ(off, size);
	CU_ASSERT(chunks > 1);
	Flowsvc__SnapshotFetchRequest bad =
	    FLOWSVC__SNAPSHOT_FETCH_REQUEST__INIT;
	bad.has_session = 1;
	bad.session = session + 12345;
	FS_ASSERT_INT_EQ(fs_trpc_call(p.client,
	                     FLOWSVC__METHOD__SNAPSHOT_FETCH, &bad.base,
	                     CALL_MS, NULL, NULL),
	    FS_FAILED_PRECONDITION);
	FS_ASSERT_OK(fetch(p.client, 0, 0, 100, &f)); /* a session open */
	if (f != NULL) {
		Flowsvc__SnapshotFetchReply *g = NULL;
		FS_ASSERT_INT_EQ(fetch(p.client, f->session, f->size + 1, 0,
		                     &g),
		    FS_OUT_OF_RANGE);
		if (g != NULL)
			flowsvc__snapshot_fetch_reply__free_unpacked(g, NULL);
		flowsvc__snapshot_fetch_reply__free_unpacked(f, NULL);
	}

	Flowsvc__ReplicateRequest rr = FLOWSVC__REPLICATE_REQUEST__INIT;
	Flowsvc__ReplicateReply *x = NULL;
	rr.has_from_revision = rr.has_from_term = 1;
	rr.from_revision = rev - 3;
	rr.from_term = 1;
	FS_ASSERT_OK(fs_trpc_call(p.client, FLOWSVC__METHOD__REPLICATE,
	    &rr.base, CALL_MS, &flowsvc__replicate_reply__descriptor,
	    (ProtobufCMessage **) &x));
	if (x != NULL) {
		FS_ASSERT_INT_EQ(x->n_records, 4);
		CU_ASSERT(!x->diverged);
		for (size_t i = 0; i < x->n_records; i++) {
			Flowsvc__LogRecord *lr =
			    flowsvc__log_record__unpack(NULL,
			        x->records[i].len, x->records[i].data);
			if (!FS_CHECK(lr != NULL, "record %zu", i))
				continue;
			FS_ASSERT_INT_EQ(lr->revision, rev - 2 + i);
			CU_ASSERT(lr->has_term && lr->term == 1);
			flowsvc__log_record__free_unpacked(lr, NULL);
		}
		flowsvc__replicate_reply__free_unpacked(x, NULL);
		x = NULL;
	}
	rr.from_revision = rev + 100;
	FS_ASSERT_OK(fs_trpc_call(p.client, FLOWSVC__METHOD__REPLICATE,
	    &rr.base, CALL_MS, &flowsvc__replicate_reply__descriptor,
	    (ProtobufCMessage **) &x));
	if (x != NULL) {
		CU_ASSERT(x->diverged);
		FS_ASSERT_INT_EQ(x->n_records, 0);
		flowsvc__replicate_reply__free_unpacked(x, NULL);
	}

	char *groups[] = {"default"};
	Flowsvc__Caller who = FLOWSVC__CALLER__INIT;
	who.has_restricted = 1;
	who.restricted = 1;
	who.n_groups = 1;
	who.groups = groups;
	fs_call_opts o = {NULL, CALL_MS, &who, 0};
	Flowsvc__PromoteRequest pr = FLOWSVC__PROMOTE_REQUEST__INIT;
	Flowsvc__SnapshotFetchRequest sf =
	    FLOWSVC__SNAPSHOT_FETCH_REQUEST__INIT;
	const struct {
		Flowsvc__Method m;
		const ProtobufCMessage *req;
	} calls[] = {{FLOWSVC__METHOD__REPLICATE, &rr.base},
	    {FLOWSVC__METHOD__SNAPSHOT_FETCH, &sf.base},
	    {FLOWSVC__METHOD__PROMOTE, &pr.base}};
	for (size_t i = 0; i < 3; i++) {
		Flowsvc__Reply *rep = NULL;
		FS_ASSERT_CODE(fs_client_call(p.client, calls[i].m,
		                   calls[i].req, &o, &rep),
		    FS_PERMISSION_DENIED, rep);
		if (rep != NULL)
			flowsvc__reply__free_unpacked(rep, NULL);
	}
	fs_env_fini(&p);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"kill -9 of the primary, promote, the old primary rejoins",
	    test_failover_and_rejoin},
	{"a higher term: Not the primary., until promoted",
	    test_higher_term_deposes},
	{"a replica too far behind bootstraps from a snapshot",
	    test_bootstrap_from_snapshot},
	{"SnapshotFetch, Replicate and who may call them",
	    test_replication_rpcs},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"replica failover", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
