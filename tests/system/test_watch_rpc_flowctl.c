/*
 * test_watch_rpc_flowctl.c - "flowctl watch" against a real backend
 * (CONTRACT §7): one JSON line per event, {type, revision, component,
 * status}, the component exactly as "flowctl get" prints it; --since,
 * --kind and --group (any case); from now on without --since; SIGTERM and
 * SIGINT end it with 0; it resumes by itself across a kill -9 and restart
 * of the backend while 8 writers change the store, printing every change
 * exactly once, in revision order; OUT_OF_RANGE (a small --watch-history,
 * a revision in the future) is exit 4 with the backend's words; bad
 * options are usage errors and no backend is exit 3 at once.
 *
 * flowctl watch runs as a child process whose stdout and stderr go to one
 * log: event lines are the ones that start with '{', the rest is what it
 * says on stderr. Each test starts its own backend.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fs_util.h"
#include "testlib.h"

#define CTL_TIMEOUT_MS 20000

/* A flowctl watch process and its log. */
struct watcher {
	fs_test_proc p;
	char log[PATH_MAX + 64];
};

/* Starts "flowctl --backend URL watch ARGS..." (NULL-ended). */
static int
watcher_start(struct watcher *w, const fs_test_env *env, const char *name, ...)
{
	char *argv[16];
	int argc = 0;
	const char *a;
	va_list ap;

	memset(w, 0, sizeof(*w));
	snprintf(w->log, sizeof(w->log), "%s/%s.log", env->dir, name);
	argv[argc++] = (char *) "flowctl";
	argv[argc++] = (char *) "--backend";
	argv[argc++] = (char *) env->backend_url;
	argv[argc++] = (char *) "watch";
	va_start(ap, name);
	while ((a = va_arg(ap, const char *)) != NULL && argc < 15)
		argv[argc++] = (char *) a;
	va_end(ap);
	argv[argc] = NULL;
	return fs_test_proc_start(&w->p, name, FLOWCTL_BIN, argv, w->log);
}

/* The event lines of the log, parsed, as an array (a line that does not
 * parse becomes null, which every check then refuses); the other lines
 * appended to *other when other is not NULL (caller frees). */
static json_t *
watcher_events(const struct watcher *w, char **other)
{
	char *text = fs_file_read(w->log, NULL), *line, *save = NULL;
	json_t *a = json_array();
	size_t olen = 0;

	if (other != NULL)
		*other = calloc(1, text != NULL ? strlen(text) + 1 : 1);
	for (line = text != NULL ? strtok_r(text, "\n", &save) : NULL;
	     line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '{') {
			json_t *v = json_loads(line, 0, NULL);
			json_array_append_new(a, v != NULL ? v : json_null());
		} else if (other != NULL && *other != NULL) {
			olen += (size_t) sprintf(*other + olen, "%s\n", line);
		}
	}
	free(text);
	return a;
}

/* Polls until the log holds at least n events or the process ended, at
 * most timeout_ms. Returns the events. */
static json_t *
watcher_wait(struct watcher *w, size_t n, int timeout_ms)
{
	int64_t until = fs_test_now_ms() + timeout_ms;
	json_t *ev;

	for (;;) {
		ev = watcher_events(w, NULL);
		if (json_array_size(ev) >= n || !fs_test_proc_alive(&w->p) ||
		    fs_test_now_ms() >= until)
			return ev;
		json_decref(ev);
		fs_test_poll_pause(20);
	}
}

/* Stops it with sig; checks it exited 0. */
static void
watcher_stop(struct watcher *w, int sig)
{
	int st = fs_test_proc_stop(&w->p, sig, FS_TEST_STOP_TIMEOUT_MS);

	FS_CHECK(fs_test_exited_zero(st),
	    "flowctl watch after signal %d: wait status 0x%x", sig, st);
}

/* flowctl run to completion (with --backend first). */
static void
ctl(fs_test_run_result *r, const fs_test_env *env, ...)
{
	char *argv[16];
	const char *unset[] = {"FLOWCTL_BACKEND", NULL};
	int argc = 0;
	const char *a;
	va_list ap;

	argv[argc++] = (char *) FLOWCTL_BIN;
	argv[argc++] = (char *) "--backend";
	argv[argc++] = (char *) env->backend_url;
	va_start(ap, env);
	while ((a = va_arg(ap, const char *)) != NULL && argc < 15)
		argv[argc++] = (char *) a;
	va_end(ap);
	argv[argc] = NULL;
	if (fs_test_run(r, argv, NULL, unset, CTL_TIMEOUT_MS) != 0) {
		memset(r, 0, sizeof(*r));
		r->exit_code = -2;
	}
}

/* What one event line must say. */
struct want {
	const char *type;
	uint64_t revision;
	const char *id;
	json_int_t version;
	const char *status;
};

static const char *
or_none(const char *s)
{
	return s != NULL ? s : "(none)";
}

static void
check_events(const json_t *ev, const struct want *want, size_t n,
    const char *who)
{
	FS_CHECK(json_array_size(ev) == n, "%s: %zu events, expected %zu", who,
	    json_array_size(ev), n);
	for (size_t i = 0; i < n && i < json_array_size(ev); i++) {
		const json_t *e = json_array_get(ev, i);
		const json_t *c = json_object_get(e, "component");
		FS_CHECK(json_is_object(e) && json_object_size(e) == 4,
		    "%s: event %zu is not {type, revision, component, status}",
		    who, i);
		FS_CHECK(fs_json_str(e, "type") != NULL &&
		        strcmp(fs_json_str(e, "type"), want[i].type) == 0 &&
		        (uint64_t) fs_json_int(e, "revision") ==
		            want[i].revision &&
		        fs_json_str(c, "id") != NULL &&
		        strcmp(fs_json_str(c, "id"), want[i].id) == 0 &&
		        fs_json_int(c, "version") == want[i].version &&
		        fs_json_str(e, "status") != NULL &&
		        strcmp(fs_json_str(e, "status"), want[i].status) == 0,
		    "%s: event %zu is %s at %lld of %s version %lld, %s; "
		    "expected %s at revision %llu of %s version %lld, %s",
		    who, i, or_none(fs_json_str(e, "type")),
		    (long long) fs_json_int(e, "revision"),
		    or_none(fs_json_str(c, "id")),
		    (long long) fs_json_int(c, "version"),
		    or_none(fs_json_str(e, "status")), want[i].type,
		    (unsigned long long) want[i].revision, want[i].id,
		    (long long) want[i].version, want[i].status);
		FS_ASSERT_COMPONENT(c);
	}
}

/* ---- events, filters, signals ------------------------------------------- */

static void
test_watch_prints_events(void)
{
	fs_test_env env;
	struct watcher all, apps, grp, now;
	fs_test_run_result got_f, got_a;
	char f[FS_UUID_STRLEN + 1], a[FS_UUID_STRLEN + 1];
	char since[32];
	json_t *ev = NULL;

	memset(&got_f, 0, sizeof(got_f));
	memset(&got_a, 0, sizeof(got_a));
	if (fs_env_init(&env, "watch_ctl") != 0)
		return;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend"))
		goto out;
	/* Something before the revision watched from: not printed. */
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "before",
	    "wa", NULL, 0, NULL, NULL, NULL));
	uint64_t r0 = fs_tw_revision(env.client);
	snprintf(since, sizeof(since), "%llu", (unsigned long long) r0);
	if (!FS_CHECK(watcher_start(&all, &env, "all", "--since", since,
	                  NULL) == 0 &&
	            watcher_start(&apps, &env, "apps", "--since", since,
	                "--kind", "app", NULL) == 0 &&
	            watcher_start(&grp, &env, "grp", "--since", since,
	                "--group", "WA", NULL) == 0,
	        "start flowctl watch"))
		goto out;

	const char *uses[1] = {f};
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "w_flow",
	    "wa", NULL, 0, NULL, f, NULL));
	ctl(&got_f, &env, "--json", "get", f, NULL);
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__APP, "w_app",
	    "wb", uses, 1, NULL, a, NULL));
	FS_ASSERT_OK(fs_tw_update(env.client, f, "o1", NULL));
	FS_ASSERT_OK(
	    fs_tw_change(env.client, FLOWSVC__METHOD__DEPLOY, a, NULL));
	ctl(&got_a, &env, "--json", "get", "--app", a, NULL);
	FS_ASSERT_OK(fs_tw_change(env.client, FLOWSVC__METHOD__STOP, a, NULL));
	FS_ASSERT_OK(
	    fs_tw_change(env.client, FLOWSVC__METHOD__DELETE, a, NULL));
	FS_ASSERT_OK(
	    fs_tw_change(env.client, FLOWSVC__METHOD__DELETE, f, NULL));

	const struct want want[] = {
	    {"added", r0 + 1, f, 1, "not-deployed"},
	    {"added", r0 + 2, a, 1, "not-deployed"},
	    {"modified", r0 + 3, f, 2, "not-deployed"},
	    {"status", r0 + 4, a, 1, "started"},
	    {"status", r0 + 5, a, 1, "stopped"},
	    {"deleted", r0 + 6, a, 1, "stopped"},
	    {"deleted", r0 + 7, f, 2, "not-deployed"},
	};
	ev = watcher_wait(&all, 7, 20000);
	check_events(ev, want, 7, "watch");
	/* The component as flowctl get prints it. */
	if (json_array_size(ev) >= 4 && got_f.json != NULL &&
	    got_a.json != NULL) {
		FS_ASSERT_JSON_SAME(json_object_get(json_array_get(ev, 0),
		                        "component"),
		    got_f.json);
		FS_ASSERT_JSON_SAME(json_object_get(json_array_get(ev, 3),
		                        "component"),
		    got_a.json);
	}
	json_decref(ev);
	const struct want want_apps[] = {want[1], want[3], want[4], want[5]};
	ev = watcher_wait(&apps, 4, 20000);
	check_events(ev, want_apps, 4, "watch --kind app");
	json_decref(ev);
	const struct want want_grp[] = {want[0], want[2], want[6]};
	ev = watcher_wait(&grp, 3, 20000);
	check_events(ev, want_grp, 3, "watch --group WA");
	json_decref(ev);

	/* Without --since: from now on. Once it waits in the backend
	 * (beside the three), a change is its first event. */
	if (FS_CHECK(watcher_start(&now, &env, "now", NULL) == 0,
	        "start flowctl watch") &&
	    FS_CHECK(fs_tw_wait_parked(env.client, 4, 20000) == 0,
	        "flowctl watch never waited in the backend")) {
		char id[FS_UUID_STRLEN + 1];
		FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW,
		    "w_later", "wb", NULL, 0, NULL, id, NULL));
		const struct want later = {"added", r0 + 8, id, 1,
		    "not-deployed"};
		ev = watcher_wait(&now, 1, 20000);
		check_events(ev, &later, 1, "watch from now");
		json_decref(ev);
		/* The others saw it as their filters say. */
		ev = watcher_wait(&all, 8, 20000);
		FS_ASSERT_INT_EQ(json_array_size(ev), 8);
		json_decref(ev);
	}
	watcher_stop(&all, SIGTERM);
	watcher_stop(&apps, SIGINT);
	watcher_stop(&grp, SIGTERM);
	watcher_stop(&now, SIGINT);
	/* Nothing more arrived after the end. */
	ev = watcher_events(&apps, NULL);
	FS_ASSERT_INT_EQ(json_array_size(ev), 4);
	json_decref(ev);
out:
	fs_test_run_result_free(&got_f);
	fs_test_run_result_free(&got_a);
	fs_env_fini(&env);
}

/* ---- resumes across a kill -9 ------------------------------------------ */

#define WRITERS 8
#define OPS 30

struct acked {
	uint64_t revision;
	const char *type;
	char id[FS_UUID_STRLEN + 1];
};

struct writer {
	fs_client *c;
	int idx;
	struct acked acked[OPS];
	int n;
	int failed;
};

/* OPS changes of its own flows (create, update, deploy, delete), each
 * noted with its revision once acknowledged; one that failed (the backend
 * is down) is not made again, as its outcome is unknown. */
static void *
writer_main(void *arg)
{
	struct writer *wr = arg;
	char ids[OPS][FS_UUID_STRLEN + 1];
	int nids = 0, first = 0;

	for (int i = 0; wr->n < OPS && wr->failed < 2000; i++) {
		struct acked *a = &wr->acked[wr->n];
		char name[64];
		int code, op = nids - first < 2 ? 0 : i % 4;
		uint64_t rev = 0;

		switch (op) {
		case 0:
			snprintf(name, sizeof(name), "cw%d_%d", wr->idx, i);
			code = fs_tw_create(wr->c, FLOWSVC__KIND__FLOW, name,
			    NULL, NULL, 0, NULL, ids[nids], &rev);
			a->type = "added";
			if (code == FS_OK)
				snprintf(a->id, sizeof(a->id), "%s",
				    ids[nids++]);
			break;
		case 1:
			snprintf(a->id, sizeof(a->id), "%s", ids[nids - 1]);
			code = fs_tw_update(wr->c, a->id, "x", &rev);
			a->type = "modified";
			break;
		case 2:
			snprintf(a->id, sizeof(a->id), "%s", ids[nids - 1]);
			code = fs_tw_change(wr->c, FLOWSVC__METHOD__DEPLOY,
			    a->id, &rev);
			a->type = "status";
			break;
		default:
			snprintf(a->id, sizeof(a->id), "%s", ids[first++]);
			code = fs_tw_change(wr->c, FLOWSVC__METHOD__DELETE,
			    a->id, &rev);
			a->type = "deleted";
			break;
		}
		if (code == FS_OK) {
			a->revision = rev;
			wr->n++;
		} else {
			wr->failed++;
			fs_test_poll_pause(20);
		}
	}
	return NULL;
}

static void
test_watch_resumes_after_kill(void)
{
	fs_test_env env;
	struct writer *wr = calloc(WRITERS, sizeof(*wr));
	pthread_t th[WRITERS];
	struct watcher w;
	char since[32], *said = NULL;
	json_t *ev = NULL;

	memset(&w, 0, sizeof(w));
	if (wr == NULL || fs_env_init(&env, "watch_ctl_kill") != 0) {
		free(wr);
		return;
	}
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend"))
		goto out;
	uint64_t r0 = fs_tw_revision(env.client);
	snprintf(since, sizeof(since), "%llu", (unsigned long long) r0);
	if (!FS_CHECK(watcher_start(&w, &env, "resume", "--since", since,
	                  NULL) == 0,
	        "start flowctl watch"))
		goto out;
	for (int i = 0; i < WRITERS; i++) {
		wr[i].c = env.client;
		wr[i].idx = i;
		pthread_create(&th[i], NULL, writer_main, &wr[i]);
	}
	/* Kill it while the writers write and flowctl prints. */
	json_decref(watcher_wait(&w, 40, 30000));
	fs_env_stop_backend(&env, SIGKILL);
	int restarted = fs_env_start_backend(&env) == 0;
	for (int i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	if (!FS_CHECK(restarted, "restart after kill -9"))
		goto out;
	/* One change after the restart, made when every writer is done:
	 * flowctl must have come back to print it. */
	struct acked last = {0, "added", ""};
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "cw_last",
	    NULL, NULL, 0, NULL, last.id, &last.revision));
	uint64_t cur = fs_tw_revision(env.client);
	FS_ASSERT_INT_EQ(last.revision, cur);
	ev = watcher_wait(&w, (size_t) (cur - r0), 30000);
	FS_CHECK(fs_test_proc_alive(&w.p),
	    "flowctl watch ended (wait status 0x%x)", w.p.status);
	watcher_stop(&w, SIGTERM);
	json_decref(ev);
	ev = watcher_events(&w, &said);

	/* Every change from r0 on, once, in order. */
	FS_CHECK(json_array_size(ev) == cur - r0,
	    "%zu events printed, the backend made %llu changes; flowctl "
	    "said: %s",
	    json_array_size(ev), (unsigned long long) (cur - r0),
	    said != NULL ? said : "");
	for (size_t i = 0; i < json_array_size(ev); i++) {
		uint64_t rev =
		    (uint64_t) fs_json_int(json_array_get(ev, i), "revision");
		if (!FS_CHECK(rev == r0 + 1 + i,
		        "event %zu has revision %llu, expected %llu", i,
		        (unsigned long long) rev,
		        (unsigned long long) (r0 + 1 + i)))
			break;
	}
	/* Every acknowledged change among them, as acknowledged. */
	size_t acked = 0;
	for (int i = 0; i < WRITERS; i++) {
		for (int k = 0; k < wr[i].n; k++, acked++) {
			const struct acked *a = &wr[i].acked[k];
			const json_t *e = json_array_get(ev,
			    (size_t) (a->revision - r0 - 1));
			const json_t *c = json_object_get(e, "component");
			FS_CHECK(a->revision > r0 && e != NULL &&
			        fs_json_str(e, "type") != NULL &&
			        strcmp(fs_json_str(e, "type"), a->type) == 0 &&
			        fs_json_str(c, "id") != NULL &&
			        strcmp(fs_json_str(c, "id"), a->id) == 0,
			    "acknowledged change %llu (%s of %s) not printed "
			    "as such",
			    (unsigned long long) a->revision, a->type, a->id);
		}
	}
	FS_ASSERT_INT_EQ(acked, WRITERS * OPS);
	const json_t *le = json_array_get(ev, (size_t) (cur - r0 - 1));
	FS_CHECK(le != NULL &&
	        strcmp(or_none(fs_json_str(json_object_get(le, "component"),
	                   "id")),
	            last.id) == 0,
	    "the change after the restart (%s) not printed last", last.id);
	/* When it said it lost the backend, it said it was back. */
	if (said != NULL && strstr(said, "trying again") != NULL)
		FS_CHECK(strstr(strstr(said, "trying again"),
		             "the backend answers again") != NULL,
		    "flowctl said: %s", said);
	fprintf(stderr,
	    "  %zu changes printed, %zu acknowledged; flowctl "
	    "said: %s",
	    json_array_size(ev), acked, said != NULL ? said : "");
out:
	json_decref(ev);
	free(said);
	if (w.p.pid != 0)
		fs_test_proc_stop(&w.p, SIGKILL, FS_TEST_STOP_TIMEOUT_MS);
	fs_env_fini(&env);
	free(wr);
}

/* ---- OUT_OF_RANGE ------------------------------------------------------- */

static void
test_watch_out_of_range(void)
{
	static const char *const small[] = {"--watch-history", "5", NULL};
	fs_test_env env;
	fs_test_run_result r;
	struct watcher w;
	char id[FS_UUID_STRLEN + 1], want[256], arg[32];

	memset(&r, 0, sizeof(r));
	if (fs_env_init(&env, "watch_ctl_oor") != 0)
		return;
	env.svc_extra = small;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "backend"))
		goto out;
	FS_ASSERT_OK(fs_tw_create(env.client, FLOWSVC__KIND__FLOW, "oor", NULL,
	    NULL, 0, NULL, id, NULL));
	for (int i = 0; i < 11; i++)
		FS_ASSERT_OK(
		    fs_tw_update(env.client, id, i % 2 ? "a" : "b", NULL));
	uint64_t cur = fs_tw_revision(env.client);

	ctl(&r, &env, "watch", "--since", "0", NULL);
	snprintf(want, sizeof(want),
	    "flowctl: OUT_OF_RANGE: Revision 0 is no longer available: the "
	    "oldest change kept is revision %llu; list again and watch from "
	    "the list's revision.\n",
	    (unsigned long long) (cur - 4));
	if (FS_ASSERT_INT_EQ(r.exit_code, 4)) {
		FS_ASSERT_STR_EQ(r.err, want);
		FS_ASSERT_STR_EQ(r.out, "");
	}
	fs_test_run_result_free(&r);

	snprintf(arg, sizeof(arg), "%llu", (unsigned long long) (cur + 10));
	ctl(&r, &env, "watch", "--since", arg, NULL);
	if (FS_ASSERT_INT_EQ(r.exit_code, 4))
		FS_CHECK(strstr(r.err, "flowctl: OUT_OF_RANGE: Revision") ==
		            r.err &&
		        strstr(r.err, "is in the future") != NULL,
		    "stderr: %s", r.err);
	fs_test_run_result_free(&r);

	/* The oldest a watch may start from: the five kept. */
	snprintf(arg, sizeof(arg), "%llu", (unsigned long long) (cur - 5));
	if (FS_CHECK(watcher_start(&w, &env, "oor_ok", "--since", arg, NULL) ==
	            0,
	        "start flowctl watch")) {
		json_t *ev = watcher_wait(&w, 5, 20000);
		FS_ASSERT_INT_EQ(json_array_size(ev), 5);
		FS_ASSERT_INT_EQ(fs_json_int(json_array_get(ev, 0),
		                     "revision"),
		    cur - 4);
		json_decref(ev);
		watcher_stop(&w, SIGTERM);
	}
out:
	fs_env_fini(&env);
}

/* ---- usage, no backend -------------------------------------------------- */

static void
test_watch_usage(void)
{
	fs_test_env env;
	fs_test_run_result r;
	int64_t t0;

	memset(&r, 0, sizeof(r));
	if (fs_env_init(&env, "watch_ctl_usage") != 0)
		return;
	/* No backend started: nothing listens there. */
	t0 = fs_test_now_ms();
	ctl(&r, &env, "watch", NULL);
	if (FS_ASSERT_INT_EQ(r.exit_code, 3))
		FS_CHECK(strncmp(r.err, "flowctl: connection refused at ",
		             31) == 0,
		    "stderr: %s", r.err);
	FS_CHECK(fs_test_now_ms() - t0 < 4000, "took %lld ms",
	    (long long) (fs_test_now_ms() - t0));
	fs_test_run_result_free(&r);

	ctl(&r, &env, "watch", "--kind", "flows", NULL);
	if (FS_ASSERT_INT_EQ(r.exit_code, 2))
		FS_CHECK(strstr(r.err,
		             "--kind takes flow or app, not "
		             "'flows'") != NULL,
		    "stderr: %s", r.err);
	fs_test_run_result_free(&r);
	ctl(&r, &env, "watch", "--since", "-1", NULL);
	FS_ASSERT_INT_EQ(r.exit_code, 2);
	fs_test_run_result_free(&r);
	ctl(&r, &env, "watch", "--table", NULL);
	FS_ASSERT_INT_EQ(r.exit_code, 2);
	fs_test_run_result_free(&r);
	ctl(&r, &env, "watch", "--app", NULL);
	FS_ASSERT_INT_EQ(r.exit_code, 2);
	fs_test_run_result_free(&r);
	ctl(&r, &env, "watch", "extra", NULL);
	FS_ASSERT_INT_EQ(r.exit_code, 2);
	fs_test_run_result_free(&r);

	ctl(&r, &env, "help", "watch", NULL);
	if (FS_ASSERT_INT_EQ(r.exit_code, 0))
		FS_CHECK(strstr(r.out, "--since N") != NULL &&
		        strstr(r.out, "--kind flow|app") != NULL &&
		        strstr(r.out, "--group G") != NULL,
		    "help: %s", r.out);
	fs_test_run_result_free(&r);
	fs_env_fini(&env);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"flowctl watch prints events; filters; signals end it",
	    test_watch_prints_events},
	{"flowctl watch resumes across kill -9: no gap, no duplicate",
	    test_watch_resumes_after_kill},
	{"flowctl watch: OUT_OF_RANGE is exit 4", test_watch_out_of_range},
	{"flowctl watch: usage errors, no backend", test_watch_usage},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"flowctl watch", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
