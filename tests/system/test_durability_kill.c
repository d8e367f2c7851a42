/*
 * test_durability_kill.c - CONTRACT §4 under load: eight RPC writers
 * (creates, updates, deploy/stop, deletes) while the backend is killed
 * with -9 at several points, with --fsync everysec and always and with
 * and without count-triggered snapshots; after each restart every
 * acknowledged write is there, nothing is half-applied, an unanswered
 * call is either wholly there or not at all, and every reference resolves.
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

/* ==== (b) concurrent writers, kill -9 mid-load =========================== */

#define WRITERS 8
#define CALL_MS 4000

enum { ST_UNKNOWN = -1 };

typedef struct wrec {
	int app;
	char name[48];
	char id[40];
	int created, deleted; /* acknowledged */
	long version;         /* acknowledged */
	int status;           /* acknowledged */
	/* The one operation in flight when the writer stopped (at most one
	 * per writer): its outcome is unknown. */
	int create_unknown, update_unknown, delete_unknown, status_unknown;
	int target_status;
} wrec;

typedef struct writer {
	int idx, round;
	unsigned seed;
	fs_client *c;
	char anchor[40];
	wrec *recs;
	int nrec, cap;
	long acks, made;
	char err[512];
	pthread_t thr;
} writer;

static fs_test_env kenv;
static writer writers[WRITERS];
static atomic_long g_acks;
static atomic_int g_stop;

static int
kill_suite_init(void)
{
	return fs_env_init(&kenv, "dur-kill");
}

static int
kill_suite_fini(void)
{
	for (int i = 0; i < WRITERS; i++)
		free(writers[i].recs);
	return fs_env_fini(&kenv);
}

static unsigned
rnd(writer *w)
{
	w->seed = w->seed * 1103515245u + 12345u;
	return (w->seed >> 8) & 0xffffff;
}

static int
live(const wrec *r)
{
	return r->created && !r->deleted && !r->create_unknown &&
	    !r->update_unknown && !r->delete_unknown && !r->status_unknown;
}

static int
pick_live(writer *w, int want_app)
{
	int n = w->nrec, start, i;

	if (n == 0)
		return -1;
	start = (int) (rnd(w) % (unsigned) n);
	for (i = 0; i < n; i++) {
		int k = (start + i) % n;
		if (live(&w->recs[k]) &&
		    (want_app < 0 || w->recs[k].app == want_app))
			return k;
	}
	return -1;
}

/* No reply (connection lost, deadline): the outcome is unknown. Any other
 * code is an answer. */
static int
transport_code(int code)
{
	return code == FS_UNAVAILABLE || code == FS_DEADLINE_EXCEEDED;
}

static void
werr(writer *w, const char *what, const char *name, int code)
{
	if (w->err[0] == '\0')
		snprintf(w->err, sizeof(w->err), "writer %d: %s %s: %s",
		    w->idx, what, name, fs_code_name(code));
}

/* One operation; returns 0 to go on, -1 to stop. */
static int
writer_step(writer *w)
{
	unsigned r = rnd(w) % 100;
	int k, code, st;
	json_t *comp = NULL;
	char field[32];

	if (w->nrec == w->cap) {
		int nc = w->cap ? w->cap * 2 : 64;
		wrec *nr = realloc(w->recs, (size_t) nc * sizeof(*nr));
		if (nr == NULL) {
			snprintf(w->err, sizeof(w->err), "out of memory");
			return -1;
		}
		w->recs = nr;
		w->cap = nc;
	}
	k = r < 35 ? -1 : pick_live(w, r >= 80 && r < 92 ? 1 : -1);
	if (k < 0) {
		wrec *n = &w->recs[w->nrec++];
		memset(n, 0, sizeof(*n));
		n->app = rnd(w) % 3 == 0;
		snprintf(n->name, sizeof(n->name), "w%d_r%d_%ld", w->idx,
		    w->round, w->made++);
		n->create_unknown = 1;
		code = fs_trpc_create(w->c,
		    n->app ? FLOWSVC__KIND__APP : FLOWSVC__KIND__FLOW, n->name,
		    "v1", n->app ? w->anchor : NULL, CALL_MS, &comp);
		if (code == FS_OK) {
			const char *id = fs_json_str(comp, "id");
			snprintf(n->id, sizeof(n->id), "%s", id ? id : "");
			n->created = 1;
			n->version = 1;
			n->status = FLOWSVC__STATUS__NOT_DEPLOYED;
			n->create_unknown = 0;
			if (fs_json_int(comp, "version") != 1)
				werr(w, "create answered a version != 1 for",
				    n->name, code);
		} else if (!transport_code(code)) {
			n->create_unknown = 0; /* refused: never made */
			werr(w, "create", n->name, code);
		}
	} else if (r < 80) {
		wrec *x = &w->recs[k];
		snprintf(field, sizeof(field), "v%ld", x->version + 1);
		x->update_unknown = 1;
		code = fs_trpc_update_out(w->c, x->id, field, CALL_MS, &comp);
		if (code == FS_OK) {
			x->version++;
			x->update_unknown = 0;
			if (fs_json_int(comp, "version") != x->version)
				werr(w,
				    "update answered an unexpected version "
				    "for",
				    x->name, code);
		} else if (!transport_code(code)) {
			x->update_unknown = 0;
			werr(w, "update", x->name, code);
		}
	} else if (r < 92) {
		wrec *x = &w->recs[k];
		int stop = x->status == FLOWSVC__STATUS__STARTED;
		x->target_status =
		    stop ? FLOWSVC__STATUS__STOPPED : FLOWSVC__STATUS__STARTED;
		x->status_unknown = 1;
		code = fs_trpc_id(w->c,
		    stop ? FLOWSVC__METHOD__STOP : FLOWSVC__METHOD__DEPLOY,
		    x->id, CALL_MS, &st);
		if (code == FS_OK) {
			x->status = x->target_status;
			x->status_unknown = 0;
			if (st != x->target_status)
				werr(w,
				    "deploy/stop answered another status for",
				    x->name, code);
		} else if (!transport_code(code)) {
			x->status_unknown = 0;
			werr(w, "deploy/stop", x->name, code);
		}
	} else {
		wrec *x = &w->recs[k];
		x->delete_unknown = 1;
		code = fs_trpc_id(w->c, FLOWSVC__METHOD__DELETE, x->id,
		    CALL_MS, NULL);
		if (code == FS_OK) {
			x->deleted = 1;
			x->delete_unknown = 0;
		} else if (!transport_code(code)) {
			x->delete_unknown = 0;
			werr(w, "delete", x->name, code);
		}
	}
	json_decref(comp);
	if (code != FS_OK)
		return -1;
	w->acks++;
	atomic_fetch_add(&g_acks, 1);
	return 0;
}

static void *
writer_main(void *arg)
{
	writer *w = arg;

	/* Bounded: the main thread stops everyone within the round's time. */
	while (!atomic_load(&g_stop) && w->acks < 100000)
		if (writer_step(w) != 0)
			break;
	return NULL;
}

/* Checks one recovered component against what its writer was told. */
static void
check_rec(writer *w, wrec *x, const json_t *c, int status, const char *when)
{
	char want_out[48];
	long v = (long) fs_json_int(c, "version");
	long lo = x->create_unknown ? 1 : x->version;
	long hi =
	    x->create_unknown ? 1 : x->version + (x->update_unknown ? 1 : 0);
	char *dump = fs_json_dump(c);

	FS_CHECK(v >= lo && v <= hi,
	    "%s: %s has version %ld; acknowledged %ld%s: %s", when, x->name, v,
	    x->version, x->update_unknown ? " (+1 unanswered)" : "", dump);
	snprintf(want_out, sizeof(want_out), "[\"v%ld\"]", v);
	{
		json_t *o = json_object_get(c, "output_fields");
		char *od = fs_json_dump(o);
		FS_CHECK(strcmp(od, want_out) == 0,
		    "%s: %s at version %ld holds output_fields %s "
		    "(half-applied?)",
		    when, x->name, v, od);
		free(od);
	}
	FS_CHECK(strcmp(fs_json_str(c, "name") ? fs_json_str(c, "name") : "",
	             x->name) == 0 &&
	        fs_json_int(c, "kind") ==
	            (x->app ? FLOWSVC__KIND__APP : FLOWSVC__KIND__FLOW) &&
	        json_array_size(json_object_get(c, "input_fields")) == 0 &&
	        strcmp(fs_json_str(c, "group") ? fs_json_str(c, "group") : "",
	            "default") == 0 &&
	        fs_json_int(c, "updated_at_us") >=
	            fs_json_int(c, "created_at_us") &&
	        fs_is_lower_uuid(fs_json_str(c, "canvas_id")),
	    "%s: %s is not the component that was written: %s", when, x->name,
	    dump);
	{
		json_t *fl = json_object_get(c, "flows");
		int ok = x->app ? json_array_size(fl) == 1 &&
		        strcmp(json_string_value(json_array_get(fl, 0))
		                ? json_string_value(json_array_get(fl, 0))
		                : "",
		            w->anchor) == 0
		                : json_array_size(fl) == 0;
		FS_CHECK(ok, "%s: %s has flows that were never written: %s",
		    when, x->name, dump);
	}
	if (x->create_unknown)
		FS_CHECK(status == FLOWSVC__STATUS__NOT_DEPLOYED,
		    "%s: %s (unanswered create) has status %d", when, x->name,
		    status);
	else
		FS_CHECK(status == x->status ||
		        (x->status_unknown && status == x->target_status),
		    "%s: %s has status %d; acknowledged %d%s", when, x->name,
		    status, x->status,
		    x->status_unknown ? " (deploy/stop unanswered)" : "");
	free(dump);
}

/* Verifies every writer's records against the restarted backend, then
 * adopts what was found as the acknowledged state for the next round. */
static void
verify_writers(const char *when)
{
	fs_client *c = kenv.client;
	long expect_present = 0;
	json_t *all;

	for (int i = 0; i < WRITERS; i++) {
		writer *w = &writers[i];
		json_t *comp = NULL;
		int status;

		if (!FS_CHECK(fs_trpc_get(c, w->anchor, &comp, &status) ==
		            FS_OK,
		        "%s: writer %d's anchor flow is gone", when, i))
			continue;
		json_decref(comp);
		expect_present++;
		for (int k = 0; k < w->nrec; k++) {
			wrec *x = &w->recs[k];
			int code;

			comp = NULL;
			status = -1;
			if (x->deleted && !x->delete_unknown)
				continue; /* checked below (absent), once */
			if (x->create_unknown) {
				json_t *l = fs_trpc_list(c, x->name);
				size_t n = json_array_size(l);
				FS_CHECK(l != NULL && n <= 1,
				    "%s: LIST %s: %zu results", when, x->name,
				    n);
				if (n == 1) {
					const char *id =
					    fs_json_str(json_array_get(l, 0),
					        "id");
					snprintf(x->id, sizeof(x->id), "%s",
					    id ? id : "");
					code = fs_trpc_get(c, x->id, &comp,
					    &status);
					if (FS_CHECK(code == FS_OK,
					        "%s: %s listed but GET says "
					        "%s",
					        when, x->name,
					        fs_code_name(code))) {
						check_rec(w, x, comp, status,
						    when);
						x->created = 1;
						x->version =
						    (long) fs_json_int(comp,
						        "version");
						x->status = status;
						expect_present++;
					}
				} else {
					x->deleted = 1; /* never made */
				}
				x->create_unknown = 0;
				json_decref(l);
				json_decref(comp);
				continue;
			}
			if (!x->created)
				continue;
			code = fs_trpc_get(c, x->id, &comp, &status);
			if (x->delete_unknown && code == FS_NOT_FOUND) {
				x->deleted = 1;
			} else if (!FS_CHECK(code == FS_OK,
			               "%s: acknowledged %s (%s) is lost: %s",
			               when, x->name, x->id,
			               fs_code_name(code))) {
				x->deleted =
				    1; /* reported once, not every round */
				x->created = 0;
			} else {
				check_rec(w, x, comp, status, when);
				x->version =
				    (long) fs_json_int(comp, "version");
				x->status = status;
				x->deleted = 0;
				expect_present++;
			}
			x->delete_unknown = x->update_unknown = 0;
			x->status_unknown = 0;
			json_decref(comp);
		}
	}
	/* Acknowledged deletes stay deleted. */
	for (int i = 0; i < WRITERS; i++) {
		writer *w = &writers[i];
		for (int k = 0; k < w->nrec; k++) {
			wrec *x = &w->recs[k];
			json_t *comp = NULL;
			int code;
			if (!x->deleted || !x->created || x->id[0] == '\0')
				continue;
			code = fs_trpc_get(c, x->id, &comp, NULL);
			FS_CHECK(code == FS_NOT_FOUND,
			    "%s: %s was deleted (acknowledged) but GET says "
			    "%s",
			    when, x->name, fs_code_name(code));
			json_decref(comp);
			x->created = 0; /* check it once */
		}
	}
	/* Nothing else exists, and every reference resolves. */
	all = fs_trpc_list(c, NULL);
	if (FS_CHECK(all != NULL, "%s: LIST failed", when)) {
		size_t i;
		json_t *it;
		FS_CHECK((long) json_array_size(all) == expect_present,
		    "%s: LIST has %zu components, expected %ld", when,
		    json_array_size(all), expect_present);
		json_array_foreach(all, i, it)
		{
			json_t *fl = json_object_get(it, "flows");
			for (size_t j = 0; j < json_array_size(fl); j++) {
				json_t *ref = NULL;
				int code = fs_trpc_get(c,
				    json_string_value(json_array_get(fl, j)),
				    &ref, NULL);
				FS_CHECK(code == FS_OK &&
				        fs_json_int(ref, "kind") ==
				            FLOWSVC__KIND__FLOW,
				    "%s: %s refers to a missing flow", when,
				    fs_json_str(it, "name"));
				json_decref(ref);
			}
		}
	}
	json_decref(all);
}

typedef struct round_def {
	const char *fsync;
	const char *snapshot_changes;
	long kill_after; /* acknowledged operations */
} round_def;

static void
run_kill_rounds(const round_def *rounds, int nrounds, int first_round)
{
	for (int rd = 0; rd < nrounds; rd++) {
		const round_def *R = &rounds[rd];
		const char *extra[] = {"--fsync", R->fsync,
		    "--snapshot-changes", R->snapshot_changes, NULL};
		char when[128];
		int64_t t0, deadline;
		long acks_at_kill;
		int st, started = 0;

		snprintf(when, sizeof(when),
		    "round %d (--fsync %s, kill after "
		    "%ld acks)",
		    first_round + rd, R->fsync, R->kill_after);
		if (!FS_CHECK(fs_env_start_backend_with(&kenv, extra) == 0,
		        "%s: start", when))
			return;
		if (first_round + rd == 1) {
			/* Each writer's anchor flow, used by its apps. */
			for (int i = 0; i < WRITERS; i++) {
				char name[32];
				json_t *comp = NULL;
				snprintf(name, sizeof(name), "anchor_%d", i);
				int code = fs_trpc_create(kenv.client,
				    FLOWSVC__KIND__FLOW, name, NULL, NULL,
				    5000, &comp);
				if (!FS_ASSERT_OK(code))
					return;
				snprintf(writers[i].anchor,
				    sizeof(writers[i].anchor), "%s",
				    fs_json_str(comp, "id"));
				writers[i].idx = i;
				json_decref(comp);
			}
		}
		atomic_store(&g_acks, 0);
		atomic_store(&g_stop, 0);
		for (int i = 0; i < WRITERS; i++) {
			writer *w = &writers[i];
			w->round = first_round + rd;
			w->seed =
			    (unsigned) (w->round * 7919 + i * 104729 + 1);
			w->acks = 0;
			w->err[0] = '\0';
			if (fs_client_open(&w->c, kenv.backend_url) != 0) {
				FS_CHECK(0, "fs_client_open");
				w->c = NULL;
				continue;
			}
			if (pthread_create(&w->thr, NULL, writer_main, w) !=
			    0) {
				FS_CHECK(0, "pthread_create");
				fs_client_close(w->c);
				w->c = NULL;
				continue;
			}
			started++;
		}
		t0 = fs_test_now_ms();
		deadline = t0 + 20000;
		while (atomic_load(&g_acks) < R->kill_after &&
		    fs_test_now_ms() < deadline)
			fs_test_poll_pause(1);
		acks_at_kill = atomic_load(&g_acks);
		st = fs_env_stop_backend(&kenv, SIGKILL);
		atomic_store(&g_stop, 1);
		for (int i = 0; i < WRITERS; i++) {
			if (writers[i].c == NULL)
				continue;
			pthread_join(writers[i].thr, NULL);
			/* Closed before the restart: a call can never reach
			 * the new backend late. */
			fs_client_close(writers[i].c);
			writers[i].c = NULL;
		}
		{
			int unknown = 0;
			fs_gens g;
			char gs[512];
			for (int i = 0; i < WRITERS; i++)
				for (int k = 0; k < writers[i].nrec; k++) {
					wrec *x = &writers[i].recs[k];
					unknown += x->create_unknown +
					    x->update_unknown +
					    x->delete_unknown +
					    x->status_unknown;
				}
			fs_gens_scan(kenv.data_dir, &g);
			fprintf(stderr,
			    "\n  %s: %ld acks at the kill after %lld "
			    "ms, %ld in all, %d unanswered; %s\n",
			    when, acks_at_kill,
			    (long long) (fs_test_now_ms() - t0),
			    (long) atomic_load(&g_acks), unknown,
			    fs_gens_str(&g, gs, sizeof(gs)));
		}
		FS_CHECK(started == WRITERS, "%s: %d writers started", when,
		    started);
		FS_CHECK(fs_test_killed_by(st, SIGKILL),
		    "%s: not killed: 0x%x", when, st);
		FS_CHECK(acks_at_kill >= R->kill_after,
		    "%s: only %ld writes acknowledged in 20 s", when,
		    acks_at_kill);
		for (int i = 0; i < WRITERS; i++)
			FS_CHECK(writers[i].err[0] == '\0', "%s: %s", when,
			    writers[i].err);
		if (!FS_CHECK(fs_env_start_backend_with(&kenv, extra) == 0,
		        "%s: restart after kill -9", when))
			return;
		verify_writers(when);
		st = fs_env_stop_backend(&kenv, SIGKILL);
		FS_CHECK(fs_test_killed_by(st, SIGKILL),
		    "%s: not killed: 0x%x", when, st);
	}
}

static void
test_kill9_everysec(void)
{
	static const round_def rounds[] = {
	    {"everysec", "100000", 300},
	    {"everysec", "40", 1500},
	    {"everysec", "100000", 25},
	};
	run_kill_rounds(rounds, 3, 1);
}

static void
test_kill9_always(void)
{
	static const round_def rounds[] = {
	    {"always", "100000", 600},
	    {"always", "30", 8},
	};
	if (writers[0].anchor[0] == '\0')
		return; /* the first test set things up and failed */
	run_kill_rounds(rounds, 2, 4);
}

static CU_TestInfo kill_tests[] = {
    {"8 writers, kill -9 mid-load x3, --fsync everysec: nothing acknowledged "
     "lost, nothing half-applied",
        test_kill9_everysec},
    {"8 writers, kill -9 mid-load x2, --fsync always", test_kill9_always},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"durability: concurrent writers and kill -9", kill_suite_init,
        kill_suite_fini, NULL, NULL, kill_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
