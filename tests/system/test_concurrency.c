/*
 * test_concurrency.c - many clients at once through the gateway: no lost
 * or duplicated creates, one winner for a contested name, and deletes that
 * race updates adding references never leave a dangling reference.
 *
 * Worker threads never call CUnit (it is not thread-safe): they record
 * what they saw, and the main thread asserts afterwards.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define THREADS 64
#define PER_THREAD 20
#define RACE_USERS 8
#define RACE_ROUNDS 30

static fs_test_env env;

static int
suite_init(void)
{
	return fs_env_start(&env, "concurrency");
}

static int
suite_fini(void)
{
	return fs_env_fini(&env);
}

typedef struct worker {
	pthread_t tid;
	int idx;
	int errors;
	char first_error[512];
	char ids[PER_THREAD][40];
	int status; /* of the single request in the contested-name test */
} worker;

static void
worker_error(worker *w, const char *what, const fs_http_resp *r)
{
	if (w->errors++ == 0) {
		snprintf(w->first_error, sizeof(w->first_error),
		    "thread %d: %s: HTTP %d (%s) %.200s", w->idx, what,
		    r->status, r->status ? "" : strerror(r->sys_errno),
		    r->body ? r->body : "");
	}
}

static void *
create_and_read(void *arg)
{
	worker *w = arg;
	fs_http_conn *c;
	fs_http_resp r;
	char body[128], path[96], name[32];
	int i;

	if (fs_http_connect(&c, env.gw_port, 0) != 0) {
		w->errors++;
		snprintf(w->first_error, sizeof(w->first_error),
		    "thread %d: connect: %s", w->idx, strerror(errno));
		return NULL;
	}
	for (i = 0; i < PER_THREAD; i++) {
		const char *id;

		snprintf(name, sizeof(name), "conc_%02d_%02d", w->idx, i);
		snprintf(body, sizeof(body),
		    "{\"name\": \"%s\", \"group\": \"conc_grp\"}", name);
		fs_http_request(c, "POST", "/api/flows/", NULL, body,
		    (size_t) -1, &r);
		id = fs_json_str(r.json, "id");
		if (r.status != 201 || id == NULL || strlen(id) >= 40) {
			worker_error(w, "create", &r);
			fs_http_resp_free(&r);
			continue;
		}
		snprintf(w->ids[i], sizeof(w->ids[i]), "%s", id);
		fs_http_resp_free(&r);

		snprintf(path, sizeof(path), "/api/flows/%s/", w->ids[i]);
		fs_http_request(c, "GET", path, NULL, NULL, 0, &r);
		if (r.status != 200 || fs_json_str(r.json, "name") == NULL ||
		    strcmp(fs_json_str(r.json, "name"), name) != 0) {
			worker_error(w, "read back", &r);
		}
		fs_http_resp_free(&r);
	}
	fs_http_close(c);
	return NULL;
}

static int
run_workers(worker *ws, int n, void *(*fn)(void *) )
{
	int i, started = 0;

	for (i = 0; i < n; i++) {
		ws[i].idx = i;
		if (pthread_create(&ws[i].tid, NULL, fn, &ws[i]) != 0) {
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(ws[i].tid, NULL);
	}
	return started;
}

static void
test_parallel_creates(void)
{
	static worker ws[THREADS];
	fs_http_resp r;
	size_t i, n;
	json_t *v;
	int t, k, errors = 0, started;
	int seen[THREADS][PER_THREAD];
	int last_pos[THREADS];

	memset(ws, 0, sizeof(ws));
	started = run_workers(ws, THREADS, create_and_read);
	FS_ASSERT_INT_EQ(started, THREADS);
	for (t = 0; t < THREADS; t++) {
		errors += ws[t].errors;
		if (ws[t].errors) {
			FS_CHECK(0, "%d errors; first: %s", ws[t].errors,
			    ws[t].first_error);
		}
	}
	FS_ASSERT_INT_EQ(errors, 0);

	/* Exactly every flow, once, each thread's in its own order. */
	fs_rest(&env, "GET", "/api/flows/?group__iexact=conc_grp", NULL, &r);
	if (!FS_ASSERT_STATUS(&r, 200) ||
	    !FS_CHECK(json_is_array(r.json), "not a list")) {
		fs_http_resp_free(&r);
		return;
	}
	n = json_array_size(r.json);
	FS_ASSERT_INT_EQ(n, THREADS * PER_THREAD);
	memset(seen, 0, sizeof(seen));
	for (t = 0; t < THREADS; t++) {
		last_pos[t] = -1;
	}
	json_array_foreach(r.json, i, v)
	{
		const char *name = fs_json_str(v, "name");
		const char *id = fs_json_str(v, "id");
		if (name == NULL || id == NULL ||
		    sscanf(name, "conc_%d_%d", &t, &k) != 2 || t < 0 ||
		    t >= THREADS || k < 0 || k >= PER_THREAD) {
			FS_CHECK(0, "unexpected entry %s",
			    name ? name : "(no name)");
			continue;
		}
		seen[t][k]++;
		FS_CHECK(strcmp(id, ws[t].ids[k]) == 0,
		    "%s has id %s, its creator got %s", name, id,
		    ws[t].ids[k]);
		FS_CHECK(k > last_pos[t], "%s listed after conc_%02d_%02d",
		    name, t, last_pos[t]);
		last_pos[t] = k;
	}
	for (t = 0; t < THREADS; t++) {
		for (k = 0; k < PER_THREAD; k++) {
			if (seen[t][k] != 1) {
				FS_CHECK(0, "conc_%02d_%02d listed %d times",
				    t, k, seen[t][k]);
			}
		}
	}
	fs_http_resp_free(&r);
}

/* ---- one name, many creators ---------------------------------------------- */

static pthread_barrier_t same_start;

static void *
create_same_name(void *arg)
{
	worker *w = arg;
	fs_http_conn *c;
	fs_http_resp r;

	if (fs_http_connect(&c, env.gw_port, 0) != 0) {
		pthread_barrier_wait(&same_start);
		w->status = -1;
		return NULL;
	}
	pthread_barrier_wait(&same_start);
	fs_http_request(c, "POST", "/api/flows/", NULL,
	    "{\"name\": \"Contested\", \"group\": \"same_grp\"}", (size_t) -1,
	    &r);
	w->status = r.status;
	if (r.status == 400 &&
	    !(json_object_size(r.json) == 1 &&
	        json_is_array(json_object_get(r.json, "name")))) {
		worker_error(w, "400 without a name error", &r);
	}
	fs_http_resp_free(&r);
	fs_http_close(c);
	return NULL;
}

static void
test_contested_name(void)
{
	static worker ws[THREADS];
	fs_http_resp r;
	int t, created = 0, refused = 0;

	memset(ws, 0, sizeof(ws));
	if (!FS_CHECK(pthread_barrier_init(&same_start, NULL, THREADS) == 0,
	        "barrier")) {
		return;
	}
	FS_ASSERT_INT_EQ(run_workers(ws, THREADS, create_same_name), THREADS);
	pthread_barrier_destroy(&same_start);
	for (t = 0; t < THREADS; t++) {
		created += ws[t].status == 201;
		refused += ws[t].status == 400;
		if (ws[t].errors) {
			FS_CHECK(0, "%s", ws[t].first_error);
		}
	}
	FS_ASSERT_INT_EQ(created, 1);
	FS_ASSERT_INT_EQ(refused, THREADS - 1);
	fs_rest(&env, "GET", "/api/flows/?group__iexact=same_grp", NULL, &r);
	if (FS_ASSERT_STATUS(&r, 200)) {
		FS_ASSERT_INT_EQ(json_array_size(r.json), 1);
	}
	fs_http_resp_free(&r);
}

/* ---- delete racing references ----------------------------------------------- */

typedef struct race {
	pthread_barrier_t start, end;
	char target[64];
	int done;
	char users[RACE_USERS][64];
	const char *user_coll[RACE_USERS];
	int status[RACE_USERS + 1]; /* [0] the delete, [1..] the updates */
	char detail[RACE_USERS + 1][512];
} race;

static race rc;

typedef struct race_arg {
	int role; /* 0 deletes, 1..RACE_USERS update that user */
	int conn_failed;
} race_arg;

static void *
race_worker(void *arg)
{
	race_arg *a = arg;
	fs_http_conn *c = NULL;
	char path[128], body[128];

	if (fs_http_connect(&c, env.gw_port, 0) != 0) {
		a->conn_failed = 1;
	}
	for (;;) {
		fs_http_resp r;

		pthread_barrier_wait(&rc.start);
		if (rc.done) {
			break;
		}
		if (c == NULL) {
			rc.status[a->role] = -1;
		} else if (a->role == 0) {
			snprintf(path, sizeof(path), "/api/flows/%s/",
			    rc.target);
			fs_http_request(c, "DELETE", path, NULL, NULL, 0, &r);
			rc.status[0] = r.status;
			snprintf(rc.detail[0], sizeof(rc.detail[0]), "%s",
			    r.body ? r.body : "");
			fs_http_resp_free(&r);
		} else {
			int u = a->role - 1;
			snprintf(path, sizeof(path), "/api/%s/%s/",
			    rc.user_coll[u], rc.users[u]);
			snprintf(body, sizeof(body), "{\"flows\": [\"%s\"]}",
			    rc.target);
			fs_http_request(c, "PUT", path, NULL, body,
			    (size_t) -1, &r);
			rc.status[a->role] = r.status;
			snprintf(rc.detail[a->role], sizeof(rc.detail[0]),
			    "%s", r.body ? r.body : "");
			fs_http_resp_free(&r);
		}
		pthread_barrier_wait(&rc.end);
	}
	fs_http_close(c);
	return NULL;
}

/* The flows list of a user right now, or NULL. */
static json_t *
user_flows(int u)
{
	fs_http_resp r;
	json_t *flows = NULL;

	fs_restf(&env, "GET", NULL, &r, "/api/%s/%s/", rc.user_coll[u],
	    rc.users[u]);
	if (FS_ASSERT_STATUS(&r, 200)) {
		flows = json_incref(json_object_get(r.json, "flows"));
	}
	fs_http_resp_free(&r);
	return flows;
}

static void
check_round(int round)
{
	fs_http_resp r;
	int u, users_now = 0, target_exists;
	char want_missing[256];

	snprintf(want_missing, sizeof(want_missing),
	    "{\"flows\": [\"Invalid pk \\\"%s\\\" - object does not "
	    "exist.\"]}",
	    rc.target);
	fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", rc.target);
	target_exists = r.status == 200;
	FS_CHECK(r.status == 200 || r.status == 404, "round %d: GET target %d",
	    round, r.status);
	fs_http_resp_free(&r);

	FS_CHECK(rc.status[0] == 204 || rc.status[0] == 409,
	    "round %d: DELETE answered %d: %s", round, rc.status[0],
	    rc.detail[0]);
	FS_CHECK((rc.status[0] == 204) == !target_exists,
	    "round %d: DELETE %d but the target %s", round, rc.status[0],
	    target_exists ? "exists" : "is gone");
	for (u = 0; u < RACE_USERS; u++) {
		json_t *flows = user_flows(u);
		int refs = flows != NULL && json_array_size(flows) == 1 &&
		    strcmp(json_string_value(json_array_get(flows, 0)),
		        rc.target) == 0;
		int st = rc.status[u + 1];

		FS_CHECK(st == 200 || st == 400,
		    "round %d: PUT of user %d answered %d: %s", round, u, st,
		    rc.detail[u + 1]);
		if (st == 400) {
			json_t *got = json_loads(rc.detail[u + 1], 0, NULL);
			FS_ASSERT_JSON_EQ(got, want_missing);
			json_decref(got);
		}
		/* What the PUT answered is what is stored... */
		FS_CHECK(refs == (st == 200),
		    "round %d: user %d PUT %d but references target: %d",
		    round, u, st, refs);
		/* ...and nothing refers to a deleted flow. */
		FS_CHECK(!(refs && !target_exists),
		    "round %d: user %d refers to deleted flow %s", round, u,
		    rc.target);
		users_now += refs;
		json_decref(flows);
	}
	/* A refused delete had a user; the users it named are real. */
	if (rc.status[0] == 409) {
		FS_CHECK(users_now > 0,
		    "round %d: DELETE refused with no user left: %s", round,
		    rc.detail[0]);
	}
}

static void
reset_round(void)
{
	fs_http_resp r;
	int u;

	for (u = 0; u < RACE_USERS; u++) {
		fs_restf(&env, "PUT", "{\"flows\": []}", &r, "/api/%s/%s/",
		    rc.user_coll[u], rc.users[u]);
		FS_ASSERT_STATUS(&r, 200);
		fs_http_resp_free(&r);
	}
	fs_restf(&env, "DELETE", NULL, &r, "/api/flows/%s/", rc.target);
	FS_CHECK(r.status == 204 || r.status == 404,
	    "cleanup DELETE answered %d: %s", r.status, r.body);
	fs_http_resp_free(&r);
}

/* Every id in every component's flows names an existing flow. */
static void
check_no_dangling(void)
{
	fs_http_resp flows, apps;
	json_t *ids = json_object();
	size_t i, j;
	json_t *v, *ref;

	fs_rest(&env, "GET", "/api/flows/", NULL, &flows);
	fs_rest(&env, "GET", "/api/apps/", NULL, &apps);
	if (FS_ASSERT_STATUS(&flows, 200) && FS_ASSERT_STATUS(&apps, 200)) {
		json_array_foreach(flows.json, i, v)
		{
			json_object_set_new(ids, fs_json_str(v, "id"),
			    json_true());
		}
		json_t *lists[2] = {flows.json, apps.json};
		for (int k = 0; k < 2; k++) {
			json_array_foreach(lists[k], i, v)
			{
				json_array_foreach(json_object_get(v, "flows"),
				    j, ref)
				{
					FS_CHECK(json_object_get(ids,
					             json_string_value(ref)) !=
					        NULL,
					    "%s refers to missing flow %s",
					    fs_json_str(v, "name"),
					    json_string_value(ref));
				}
			}
		}
	}
	json_decref(ids);
	fs_http_resp_free(&flows);
	fs_http_resp_free(&apps);
}

static void
test_delete_races_references(void)
{
	pthread_t tids[RACE_USERS + 1];
	race_arg args[RACE_USERS + 1];
	char body[128];
	int u, round, started = 0, deletes_won = 0, deletes_refused = 0;

	memset(&rc, 0, sizeof(rc));
	memset(args, 0, sizeof(args));
	for (u = 0; u < RACE_USERS; u++) {
		rc.user_coll[u] = u % 2 ? "apps" : "flows";
		snprintf(body, sizeof(body), "{\"name\": \"race_user_%d\"}",
		    u);
		if (FS_REST_CREATE(&env, rc.user_coll[u], body, rc.users[u]) !=
		    0) {
			return;
		}
	}
	if (!FS_CHECK(pthread_barrier_init(&rc.start, NULL, RACE_USERS + 2) ==
	                0 &&
	            pthread_barrier_init(&rc.end, NULL, RACE_USERS + 2) == 0,
	        "barriers")) {
		return;
	}
	for (u = 0; u <= RACE_USERS; u++) {
		args[u].role = u;
		if (pthread_create(&tids[u], NULL, race_worker, &args[u]) !=
		    0) {
			break;
		}
		started++;
	}
	if (!FS_ASSERT_INT_EQ(started, RACE_USERS + 1)) {
		/* Cannot run rounds with missing parties; the started ones
		 * wait at the start barrier forever, so give up loudly. */
		abort();
	}
	for (round = 0; round < RACE_ROUNDS; round++) {
		snprintf(body, sizeof(body), "{\"name\": \"race_target_%d\"}",
		    round);
		if (FS_REST_CREATE(&env, "flows", body, rc.target) != 0) {
			snprintf(rc.target, sizeof(rc.target), "none");
		}
		pthread_barrier_wait(&rc.start);
		pthread_barrier_wait(&rc.end);
		check_round(round);
		deletes_won += rc.status[0] == 204;
		deletes_refused += rc.status[0] == 409;
		reset_round();
	}
	rc.done = 1;
	pthread_barrier_wait(&rc.start);
	for (u = 0; u < started; u++) {
		pthread_join(tids[u], NULL);
		FS_CHECK(!args[u].conn_failed, "worker %d could not connect",
		    u);
	}
	pthread_barrier_destroy(&rc.start);
	pthread_barrier_destroy(&rc.end);
	fprintf(stderr, "\n  (%d rounds: delete won %d, refused %d)\n",
	    RACE_ROUNDS, deletes_won, deletes_refused);
	check_no_dangling();
}

static CU_TestInfo tests[] = {
    {"64 clients create and read back: no loss, no duplicate",
        test_parallel_creates},
    {"64 clients create one name: exactly one wins", test_contested_name},
    {"deletes racing references leave none dangling",
        test_delete_races_references},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"concurrency", suite_init, suite_fini, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
