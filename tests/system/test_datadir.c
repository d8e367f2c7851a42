/*
 * test_datadir.c - a bad data directory never costs an acknowledged write,
 * with the real programs:
 *   - the directory deleted (rm -rf) or replaced (mv away, mkdir) under a
 *     running backend: changes refused (REST 503, RPC UNAVAILABLE saying
 *     why), /readyz 503, the metrics and one log line say so, no snapshot
 *     is written at shutdown, which exits non-zero saying what is saved
 *     where, and a restart comes up with exactly what the directory holds;
 *   - two backends on one directory: the second exits naming the first's
 *     pid, and the first's files (a snapshot temp file included) are
 *     untouched; a temp file of any live process survives a start;
 *   - incomplete directories (a snapshot or a log missing, a generation
 *     gap): refused naming the file, and accepted with --recover-partial
 *     (logged, then whole again);
 *   - a bit flip in the last log record: refused, the file kept as it was
 *     (a page of zeros after a power cut is still a torn tail);
 *   - a full disk: /readyz 503 and the append failure counter growing,
 *     then ready again when there is room, without a write.
 *
 * The files are the ones persist.h documents: snapshot-GEN.db,
 * changes-GEN.log ("FLOWLOG\0", u32 version, u32 0, then records of
 * [u32 len][u32 crc32c of len][u32 crc32c of payload][payload]).
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

#define REFUSE_MS 10000 /* a refusal is immediate; ASan and 2 cores */
#define NOTICE_MS 10000 /* the backend checks its directory every second */
#define LOG_HEADER 16
#define REC_HEADER 12
#define LOCK_NAME "flow-service.lock"

static const char *const UNAVAILABLE_BODY =
    "{\"detail\": \"Service unavailable.\"}";
static const char *const NOT_WRITABLE_BODY =
    "{\"detail\": \"Service unavailable: the backend cannot write its data "
    "directory.\"}";

/* ---- helpers ------------------------------------------------------------ */

static int
exited_with(int st, int code)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static int
count_substr(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; p && (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* Occurrences of needle in the backend's log. */
static int
log_count(const fs_test_env *env, const char *needle)
{
	char *log = fs_file_read(env->backend.log_path, NULL);
	int n = count_substr(log, needle);

	free(log);
	return n;
}

static int
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return -1;
	if (len > 0 && fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

/* The entries of dir (not . and .., not the lock file) as "name:size "
 * in name order, so that two listings compare as strings. Caller frees. */
static char *
listing(const char *dir)
{
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, alphasort);
	size_t cap = 64 + (n > 0 ? (size_t) n * 96 : 0), len = 0;
	char *out = malloc(cap);

	if (out == NULL)
		abort();
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *nm = ents[i]->d_name;
		char path[PATH_MAX + 256];
		struct stat sb;

		if (strcmp(nm, ".") != 0 && strcmp(nm, "..") != 0 &&
		    strcmp(nm, LOCK_NAME) != 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, nm);
			len += (size_t) snprintf(out + len, cap - len,
			    "%s:%lld ", nm,
			    stat(path, &sb) == 0 ? (long long) sb.st_size
			                         : -1LL);
		}
		free(ents[i]);
	}
	free(ents);
	if (n < 0)
		snprintf(out, cap, "(unreadable: %s)", strerror(errno));
	return out;
}

/* A value from the gateway's /metrics; -1 when the series is not
 * there. */
static double
metric(const fs_test_env *env, const char *name)
{
	return fs_http_metric(env->gw_port, name);
}

/* Creates a flow over RPC: the code, its id (when OK), and the reply's
 * message (malloc'd, or NULL) in *msg when msg is given. */
static int
rpc_create(fs_test_env *env, const char *name, char id[64], char **msg)
{
	Flowsvc__CreateRequest req = FLOWSVC__CREATE_REQUEST__INIT;
	fs_call_opts o = {NULL, 5000, NULL, 0};
	Flowsvc__Reply *reply = NULL;
	int code;

	req.kind = FLOWSVC__KIND__FLOW;
	req.name = (char *) name;
	code = fs_client_call(env->client, FLOWSVC__METHOD__CREATE, &req.base,
	    &o, &reply);
	if (msg != NULL)
		*msg = reply != NULL && reply->message != NULL
		    ? strdup(reply->message)
		    : NULL;
	if (code == FS_OK && id != NULL) {
		Flowsvc__ComponentReply *cr =
		    (Flowsvc__ComponentReply *) fs_reply_payload(reply,
		        &flowsvc__component_reply__descriptor);
		id[0] = '\0';
		if (cr != NULL && cr->component != NULL)
			snprintf(id, 64, "%s", cr->component->id);
		if (cr != NULL)
			protobuf_c_message_free_unpacked(&cr->base, NULL);
	}
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	return code;
}

static int
rpc_snapshot(fs_test_env *env)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	fs_call_opts o = {NULL, 20000, NULL, 0};
	Flowsvc__Reply *reply = NULL;
	int code = fs_client_call(env->client, FLOWSVC__METHOD__SNAPSHOT,
	    &e.base, &o, &reply);

	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	return code;
}

/* The Health reply (caller frees), or NULL. */
static Flowsvc__HealthReply *
rpc_health(fs_test_env *env)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	fs_call_opts o = {NULL, 5000, NULL, 0};
	Flowsvc__Reply *reply = NULL;
	Flowsvc__HealthReply *h = NULL;

	if (fs_client_call(env->client, FLOWSVC__METHOD__HEALTH, &e.base, &o,
	        &reply) == FS_OK)
		h = (Flowsvc__HealthReply *) fs_reply_payload(reply,
		    &flowsvc__health_reply__descriptor);
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	return h;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names of every flow, sorted and comma-separated ("a,b"), or
 * "(list failed: CODE)". Caller frees. */
static char *
flow_names(fs_test_env *env)
{
	Flowsvc__ListRequest req = FLOWSVC__LIST_REQUEST__INIT;
	fs_call_opts o = {NULL, 10000, NULL, 0};
	Flowsvc__Reply *reply = NULL;
	Flowsvc__ListReply *l = NULL;
	char *out;
	int code;

	req.has_kind = 1;
	req.kind = FLOWSVC__KIND__FLOW;
	code = fs_client_call(env->client, FLOWSVC__METHOD__LIST, &req.base,
	    &o, &reply);
	if (code == FS_OK)
		l = (Flowsvc__ListReply *) fs_reply_payload(reply,
		    &flowsvc__list_reply__descriptor);
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	if (l == NULL) {
		if (asprintf(&out, "(list failed: %s)", fs_code_name(code)) <
		    0)
			abort();
		return out;
	}
	size_t len = 1;
	char **names = calloc(l->n_components + 1, sizeof(*names));
	if (names == NULL)
		abort();
	for (size_t i = 0; i < l->n_components; i++) {
		names[i] = l->components[i]->name;
		len += strlen(names[i]) + 1;
	}
	qsort(names, l->n_components, sizeof(*names), cmp_str);
	if ((out = malloc(len)) == NULL)
		abort();
	out[0] = '\0';
	for (size_t i = 0; i < l->n_components; i++) {
		if (i > 0)
			strcat(out, ",");
		strcat(out, names[i]);
	}
	free(names);
	protobuf_c_message_free_unpacked(&l->base, NULL);
	return out;
}

static void
expect_names(fs_test_env *env, const char *want, const char *when)
{
	char *got = flow_names(env);

	FS_CHECK(strcmp(got, want) == 0, "%s: flows [%s], expected [%s]", when,
	    got, want);
	free(got);
}

/* Runs flow-service on dir with one extra flag (or NULL) until it exits,
 * which it is expected to do at once. */
static void
run_service(const char *dir, const char *flag, fs_test_run_result *res,
    int64_t *ms)
{
	char url[64];
	char *argv[] = {(char *) FLOW_SERVICE_BIN, (char *) "--listen", url,
	    (char *) "--data-dir", (char *) dir, (char *) flag, NULL};
	int64_t t0 = fs_test_now_ms();

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", fs_test_free_port());
	fs_test_run(res, argv, NULL, NULL, REFUSE_MS);
	*ms = fs_test_now_ms() - t0;
}

/* Polls GET path on the gateway until it answers status; the last
 * response stays in *r (freed by the caller). */
static int
wait_http(fs_test_env *env, const char *path, int status, fs_http_resp *r)
{
	int64_t deadline = fs_test_now_ms() + NOTICE_MS;

	for (;;) {
		fs_http_once(env->gw_port, "GET", path, NULL, NULL, 0, r);
		if (r->status == status || fs_test_now_ms() > deadline)
			return r->status == status ? 0 : -1;
		fs_http_resp_free(r);
		fs_test_poll_pause(50);
	}
}

/* ---- (1) the directory deleted or replaced under a running backend ------ */

/* What every lost directory must show, with the backend still running:
 * changes refused over REST and RPC with the reason, /readyz 503,
 * metrics, Health, one log line, reads going on. */
static void
expect_refusing(fs_test_env *env, const char *reason, char ids[][64], int nids)
{
	fs_http_resp r;
	char *msg = NULL;
	Flowsvc__HealthReply *h;

	fs_rest(env, "POST", "/api/flows/", "{\"name\": \"refused_rest\"}",
	    &r);
	FS_ASSERT_ERROR(&r, 503, UNAVAILABLE_BODY);
	fs_http_resp_free(&r);
	fs_restf(env, "PUT", "{\"output_fields\": [\"o\"]}", &r,
	    "/api/flows/%s/", ids[0]);
	FS_ASSERT_ERROR(&r, 503, UNAVAILABLE_BODY);
	fs_http_resp_free(&r);
	fs_restf(env, "POST", NULL, &r, "/api/apps/%s/deploy/", ids[1]);
	FS_ASSERT_ERROR(&r, 503, UNAVAILABLE_BODY);
	fs_http_resp_free(&r);
	FS_ASSERT_CODE(rpc_create(env, "refused_rpc", NULL, &msg),
	    FS_UNAVAILABLE, NULL);
	FS_CHECK(msg != NULL && strstr(msg, reason) != NULL &&
	        strstr(msg, env->data_dir) != NULL,
	    "the UNAVAILABLE message does not say \"%s\" of %s: %s", reason,
	    env->data_dir, msg ? msg : "(none)");
	free(msg);
	FS_CHECK(rpc_snapshot(env) == FS_UNAVAILABLE,
	    "a snapshot was written into a lost directory");

	wait_http(env, "/readyz", 503, &r);
	FS_ASSERT_ERROR(&r, 503, NOT_WRITABLE_BODY);
	fs_http_resp_free(&r);
	FS_CHECK(metric(env, "backend_data_dir_lost") == 1,
	    "backend_data_dir_lost is %g",
	    metric(env, "backend_data_dir_lost"));
	FS_CHECK(metric(env, "backend_writable") == 0,
	    "backend_writable is %g", metric(env, "backend_writable"));
	FS_CHECK(metric(env, "backend_log_append_failures_total") >= 4,
	    "backend_log_append_failures_total is %g after 4 refused changes",
	    metric(env, "backend_log_append_failures_total"));
	h = rpc_health(env);
	if (FS_CHECK(h != NULL, "no Health reply")) {
		FS_CHECK(h->has_writable && !h->writable &&
		        h->write_error != NULL &&
		        strstr(h->write_error, reason) != NULL,
		    "Health: writable %d (set %d), write_error %s",
		    h->writable, h->has_writable,
		    h->write_error ? h->write_error : "(none)");
		protobuf_c_message_free_unpacked(&h->base, NULL);
	}
	/* One error line, however many changes were refused. */
	FS_CHECK(log_count(env, "while the backend ran") == 1,
	    "%d log lines say the directory was lost (expected 1)",
	    log_count(env, "while the backend ran"));
	for (int i = 0; i < nids; i++) {
		fs_restf(env, "GET", NULL, &r, "/api/flows/%s/", ids[i]);
		FS_ASSERT_STATUS(&r, 200);
		fs_http_resp_free(&r);
	}
}

/* SIGTERM in the lost state: non-zero exit, a plain account, never the
 * claim that the log has every change. */
static void
expect_lost_stop(fs_test_env *env, const char *says)
{
	int st = fs_env_stop_backend(env, SIGTERM);

	FS_CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0,
	    "SIGTERM with a lost data directory: wait status 0x%x, expected "
	    "a non-zero exit",
	    st);
	FS_CHECK(log_count(env, "stopped without a snapshot") == 1 &&
	        log_count(env, says) >= 1,
	    "the stop does not say that nothing was saved (\"%s\")", says);
	FS_CHECK(log_count(env, "has every") == 0,
	    "the stop claims the change log has every change");
}

static void
test_dir_deleted(void)
{
	fs_test_env env;
	char ids[3][64], *names;

	if (!FS_CHECK(fs_env_start(&env, "dd-rm") == 0, "start"))
		goto out;
	FS_REST_CREATE(&env, "flows", "{\"name\": \"kept_0\"}", ids[0]);
	FS_REST_CREATE(&env, "flows", "{\"name\": \"kept_1\"}", ids[1]);
	FS_REST_CREATE(&env, "flows", "{\"name\": \"kept_2\"}", ids[2]);
	if (!FS_CHECK(fs_test_rmtree(env.data_dir) == 0, "rm -rf %s",
	        env.data_dir))
		goto out;

	expect_refusing(&env, "was deleted", ids, 3);
	FS_CHECK(access(env.data_dir, F_OK) != 0,
	    "something recreated %s while the backend ran", env.data_dir);
	expect_lost_stop(&env, "not saved anywhere");
	FS_CHECK(access(env.data_dir, F_OK) != 0,
	    "the stopping backend wrote into a new %s", env.data_dir);

	/* What is true: the operator deleted the data. A restart comes up
	 * with what the directory holds (nothing), and says it starts
	 * fresh; it never shows the flows it lost. */
	if (FS_CHECK(fs_env_start_backend(&env) == 0, "restart")) {
		names = flow_names(&env);
		FS_CHECK(strcmp(names, "") == 0,
		    "the restart on a deleted directory shows [%s]", names);
		free(names);
	}
out:
	fs_env_fini(&env);
}

static void
test_dir_replaced(void)
{
	fs_test_env env;
	char ids[3][64], moved[PATH_MAX], fresh[PATH_MAX];
	fs_http_resp r;
	json_t *acked[3] = {0};
	char *before = NULL;

	if (!FS_CHECK(fs_env_start(&env, "dd-mv") == 0, "start"))
		goto out;
	for (int i = 0; i < 3; i++) {
		char body[64];
		snprintf(body, sizeof(body), "{\"name\": \"moved_%d\"}", i);
		FS_REST_CREATE(&env, "flows", body, ids[i]);
	}
	fs_restf(&env, "POST", NULL, &r, "/api/apps/%s/deploy/", ids[2]);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);
	for (int i = 0; i < 3; i++) {
		fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", ids[i]);
		if (FS_ASSERT_STATUS(&r, 200))
			acked[i] = json_incref(r.json);
		fs_http_resp_free(&r);
	}
	/* mv away and mkdir in its place, then no change at all: only the
	 * backend's own periodic check can notice. */
	if (!FS_CHECK((size_t) snprintf(moved, sizeof(moved), "%s.moved",
	                  env.data_dir) < sizeof(moved),
	        "path too long"))
		goto out;
	snprintf(fresh, sizeof(fresh), "%s", env.data_dir);
	if (!FS_CHECK(rename(env.data_dir, moved) == 0 &&
	            mkdir(env.data_dir, 0755) == 0,
	        "mv %s away: %s", env.data_dir, strerror(errno)))
		goto out;
	FS_CHECK(wait_http(&env, "/readyz", 503, &r) == 0,
	    "/readyz still %d %d ms after the data directory was replaced",
	    r.status, NOTICE_MS);
	fs_http_resp_free(&r);

	expect_refusing(&env, "was moved or replaced", ids, 3);
	expect_lost_stop(&env, moved);
	before = listing(fresh);
	FS_CHECK(strcmp(before, "") == 0,
	    "the backend wrote into the directory that replaced its own: %s",
	    before);

	/* Everything acknowledged is in the directory it used, now moved. */
	snprintf(env.data_dir, sizeof(env.data_dir), "%s", moved);
	if (FS_CHECK(fs_env_start_backend(&env) == 0, "restart on %s",
	        moved) &&
	    FS_CHECK(fs_http_wait_status(env.gw_port, "/readyz", 200,
	                 FS_TEST_START_TIMEOUT_MS) == 0,
	        "the gateway is not ready again")) {
		for (int i = 0; i < 3; i++) {
			fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/",
			    ids[i]);
			if (FS_ASSERT_STATUS(&r, 200) && acked[i] != NULL)
				FS_ASSERT_JSON_SAME(r.json, acked[i]);
			fs_http_resp_free(&r);
		}
		fs_restf(&env, "GET", NULL, &r, "/api/apps/%s/status/",
		    ids[2]);
		FS_ASSERT_ERROR(&r, 200, "{\"status\": \"started\"}");
		fs_http_resp_free(&r);
		expect_names(&env, "moved_0,moved_1,moved_2",
		    "restart on the "
		    "moved directory");
		FS_CHECK(exited_with(fs_env_stop_backend(&env, SIGTERM), 0),
		    "SIGTERM");
	}
	/* And the new directory holds nothing of it. */
	snprintf(env.data_dir, sizeof(env.data_dir), "%s", fresh);
	if (FS_CHECK(fs_env_start_backend(&env) == 0, "restart on %s", fresh))
		expect_names(&env, "", "restart on the replacement directory");
out:
	for (int i = 0; i < 3; i++)
		json_decref(acked[i]);
	free(before);
	fs_env_fini(&env);
}

static CU_TestInfo lost_tests[] = {
    {"rm -rf of the data dir: changes 503/UNAVAILABLE, /readyz 503, "
     "metrics, one log line, no snapshot, non-zero exit, restart empty",
        test_dir_deleted},
    {"data dir moved away and replaced: noticed without a write, nothing "
     "written into the new one, the moved one has every acknowledged change",
        test_dir_replaced},
    CU_TEST_INFO_NULL,
};

/* ---- (2) two backends, one directory ------------------------------------ */

static void
test_second_backend(void)
{
	fs_test_env env;
	char ids[3][64], tmp[PATH_MAX + 64], want[64];
	fs_test_run_result res;
	int64_t ms;
	size_t n0 = 0, n1 = 0;
	char *t0 = NULL, *t1 = NULL, *files = NULL, *files2 = NULL;
	static const char snap_data[] = "FLOWSNP\0 half written by pid A";

	if (!FS_CHECK(fs_env_start(&env, "dd-two") == 0, "start"))
		goto out;
	FS_REST_CREATE(&env, "flows", "{\"name\": \"first_0\"}", ids[0]);
	FS_REST_CREATE(&env, "flows", "{\"name\": \"first_1\"}", ids[1]);
	/* The first backend in the middle of a snapshot, as far as the
	 * directory shows. */
	snprintf(tmp, sizeof(tmp), "%s/snapshot-000000000005.db.%d.tmp",
	    env.data_dir, (int) env.backend.pid);
	if (!FS_CHECK(write_file(tmp, snap_data, sizeof(snap_data)) == 0,
	        "write %s", tmp))
		goto out;
	t0 = fs_file_read(tmp, &n0);
	files = listing(env.data_dir);

	run_service(env.data_dir, NULL, &res, &ms);
	snprintf(want, sizeof(want), "pid %d", (int) env.backend.pid);
	FS_CHECK(res.exit_code > 0 && res.exit_code < 128,
	    "a second flow-service on %s: exit %d (-1: still running after "
	    "%d ms)",
	    env.data_dir, res.exit_code, REFUSE_MS);
	FS_CHECK(res.err != NULL && count_substr(res.err, "\n") == 1 &&
	        strstr(res.err, env.data_dir) != NULL &&
	        strstr(res.err, want) != NULL,
	    "expected one line naming %s and %s, got: \"%s\"", env.data_dir,
	    want, res.err ? res.err : "");
	fs_test_run_result_free(&res);

	t1 = fs_file_read(tmp, &n1);
	FS_CHECK(t1 != NULL && n0 == n1 && memcmp(t0, t1, n0) == 0,
	    "the second backend removed or changed the first's temp file %s",
	    tmp);
	files2 = listing(env.data_dir);
	FS_CHECK(strcmp(files, files2) == 0,
	    "the second backend changed the directory: [%s] -> [%s]", files,
	    files2);

	/* flow-check reads without the lock (and changes nothing). */
	{
		char *argv[] = {(char *) FLOW_CHECK_BIN, env.data_dir, NULL};
		fs_test_run(&res, argv, NULL, NULL, REFUSE_MS);
		FS_CHECK(res.exit_code == 0,
		    "flow-check beside a running backend: exit %d: %s",
		    res.exit_code, res.err);
		fs_test_run_result_free(&res);
	}

	/* The first keeps working, and its data survives a restart. */
	FS_REST_CREATE(&env, "flows", "{\"name\": \"first_2\"}", ids[2]);
	if (unlink(tmp) != 0)
		FS_CHECK(0, "unlink %s: %s", tmp, strerror(errno));
	FS_CHECK(exited_with(fs_env_stop_backend(&env, SIGTERM), 0),
	    "SIGTERM");
	if (FS_CHECK(fs_env_start_backend(&env) == 0, "restart"))
		expect_names(&env, "first_0,first_1,first_2",
		    "after the refused second backend");
out:
	free(t0);
	free(t1);
	free(files);
	free(files2);
	fs_env_fini(&env);
}

/* A snapshot temp file whose pid is a live process is never removed at
 * start; a dead one's is. */
static void
test_live_tmp_kept(void)
{
	fs_test_env env;
	char id[64], live[PATH_MAX + 64], dead[PATH_MAX + 64];

	if (!FS_CHECK(fs_env_init(&env, "dd-tmp") == 0, "init") ||
	    !FS_CHECK(fs_env_start_backend(&env) == 0, "start"))
		goto out;
	FS_ASSERT_OK(rpc_create(&env, "tmp_0", id, NULL));
	FS_CHECK(exited_with(fs_env_stop_backend(&env, SIGTERM), 0),
	    "SIGTERM");
	/* This test program stands for a live writer; the other pid is over
	 * Linux's PID_MAX_LIMIT, so nothing has it. */
	snprintf(live, sizeof(live), "%s/snapshot-000000000009.db.%d.tmp",
	    env.data_dir, (int) getpid());
	snprintf(dead, sizeof(dead),
	    "%s/snapshot-000000000008.db.99999999.tmp", env.data_dir);
	if (!FS_CHECK(write_file(live, "x", 1) == 0 &&
	            write_file(dead, "y", 1) == 0,
	        "cannot write the temp files"))
		goto out;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0, "restart"))
		goto out;
	FS_CHECK(access(live, F_OK) == 0,
	    "a temp file of a live process was removed: %s", live);
	FS_CHECK(access(dead, F_OK) != 0,
	    "a dead process's leftover is still "
	    "there: %s",
	    dead);
	FS_CHECK(log_count(&env, "the process named in it is running") == 1,
	    "the kept file is not logged");
	expect_names(&env, "tmp_0", "after the restart");
out:
	fs_env_fini(&env);
}

static CU_TestInfo lock_tests[] = {
    {"second backend on one dir exits naming the first's pid; the first's "
     "files and data untouched",
        test_second_backend},
    {"a live process's snapshot temp file survives a start",
        test_live_tmp_kept},
    CU_TEST_INFO_NULL,
};

/* ---- (3) incomplete directories ----------------------------------------- */

/* snapshot-000000000001.db with inc_0..inc_3, changes-000000000001.log
 * with inc_4 and inc_5, then kill -9. */
static int
make_gen1(fs_test_env *env, const char *name)
{
	char id[64], nm[16];

	if (!FS_CHECK(fs_env_init(env, name) == 0, "init") ||
	    !FS_CHECK(fs_env_start_backend(env) == 0, "start"))
		return -1;
	for (int i = 0; i < 6; i++) {
		snprintf(nm, sizeof(nm), "inc_%d", i);
		if (!FS_ASSERT_OK(rpc_create(env, nm, id, NULL)))
			return -1;
		if (i == 3 && !FS_ASSERT_OK(rpc_snapshot(env)))
			return -1;
	}
	if (!FS_CHECK(fs_env_stop_backend(env, SIGKILL) != -1, "kill -9"))
		return -1;
	/* Generation 0's log stays while the watch history (--watch-history)
	 * needs its changes; once past them it goes, leaving the snapshot as
	 * the only way to inc_0..inc_3. Such a directory is what these
	 * cases break. */
	char log0[PATH_MAX + 64];
	fs_gen_path(log0, sizeof(log0), env->data_dir, "changes", 0, ".log");
	return FS_CHECK(unlink(log0) == 0 || errno == ENOENT, "rm %s", log0)
	    ? 0
	    : -1;
}

/* Breaks a gen-1 directory with what, expects a refusal naming missing
 * that changes nothing, then a start with --recover-partial that logs
 * what it accepted and holds exactly want, after which the directory is
 * whole again (a plain restart holds the same). */
static void
incomplete_case(const char *envname, int what, const char *missing,
    const char *want)
{
	static const char *const partial[] = {"--recover-partial", NULL};
	fs_test_env env;
	char path[PATH_MAX + 64], *before = NULL, *after = NULL;
	fs_test_run_result res;
	int64_t ms;

	if (make_gen1(&env, envname) != 0)
		goto out;
	switch (what) {
	case 0: /* the snapshot is gone; its log is there */
		snprintf(path, sizeof(path), "%s/snapshot-000000000001.db",
		    env.data_dir);
		FS_CHECK(unlink(path) == 0, "rm %s", path);
		break;
	case 1: /* the log after the snapshot is gone */
		snprintf(path, sizeof(path), "%s/changes-000000000001.log",
		    env.data_dir);
		FS_CHECK(unlink(path) == 0, "rm %s", path);
		break;
	default: { /* a later generation with one missing in between */
		static const char hdr[LOG_HEADER] = "FLOWLOG\0\1\0\0\0";
		snprintf(path, sizeof(path), "%s/changes-000000000003.log",
		    env.data_dir);
		FS_CHECK(write_file(path, hdr, sizeof(hdr)) == 0, "write %s",
		    path);
		break;
	}
	}
	before = listing(env.data_dir);
	run_service(env.data_dir, NULL, &res, &ms);
	FS_CHECK(res.exit_code > 0 && res.exit_code < 128,
	    "flow-service started on an incomplete directory [%s]: exit %d",
	    before, res.exit_code);
	FS_CHECK(res.err != NULL && count_substr(res.err, "\n") == 1 &&
	        strstr(res.err, missing) != NULL &&
	        strstr(res.err, "--recover-partial") != NULL,
	    "expected one line naming %s and --recover-partial, got: \"%s\"",
	    missing, res.err ? res.err : "");
	fs_test_run_result_free(&res);
	after = listing(env.data_dir);
	FS_CHECK(strcmp(before, after) == 0,
	    "the refused start changed the directory: [%s] -> [%s]", before,
	    after);
	{
		char *argv[] = {(char *) FLOW_CHECK_BIN, env.data_dir, NULL};
		fs_test_run(&res, argv, NULL, NULL, REFUSE_MS);
		FS_CHECK(res.exit_code == 1 && res.err != NULL &&
		        strstr(res.err, missing) != NULL,
		    "flow-check: exit %d, %s", res.exit_code, res.err);
		fs_test_run_result_free(&res);
	}

	env.svc_extra = partial;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0,
	        "no start with --recover-partial"))
		goto out;
	FS_CHECK(log_count(&env, "--recover-partial: accepted") == 1 &&
	        log_count(&env, missing) >= 1,
	    "the start with --recover-partial does not log what it accepted "
	    "and that %s was missing",
	    missing);
	expect_names(&env, want, "with --recover-partial");
	FS_CHECK(fs_env_stop_backend(&env, SIGKILL) != -1, "kill -9");
	env.svc_extra = NULL;
	if (FS_CHECK(fs_env_start_backend(&env) == 0,
	        "the directory is still "
	        "incomplete after --recover-partial"))
		expect_names(&env, want,
		    "after the recovery, without the flag");
out:
	free(before);
	free(after);
	fs_env_fini(&env);
}

static void
test_missing_snapshot(void)
{
	incomplete_case("dd-nosnap", 0, "snapshot-000000000001.db",
	    "inc_4,inc_5");
}

static void
test_missing_log(void)
{
	incomplete_case("dd-nolog", 1, "changes-000000000001.log",
	    "inc_0,inc_1,inc_2,inc_3");
}

static void
test_generation_gap(void)
{
	incomplete_case("dd-gap", 2, "changes-000000000002.log",
	    "inc_0,inc_1,inc_2,inc_3,inc_4,inc_5");
}

static CU_TestInfo incomplete_tests[] = {
    {"snapshot missing, its log there: refused naming it; "
     "--recover-partial loads the log",
        test_missing_snapshot},
    {"log missing after its snapshot: refused naming it; "
     "--recover-partial loads the snapshot",
        test_missing_log},
    {"a generation gap: refused naming the missing log; "
     "--recover-partial loads around it",
        test_generation_gap},
    CU_TEST_INFO_NULL,
};

/* ---- (4) a bit flip in the last record ---------------------------------- */

static uint32_t
get_u32(const unsigned char *b)
{
	return (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 |
	    (uint32_t) b[3] << 24;
}

static void
put_u32(unsigned char *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (unsigned char) (v >> (8 * i));
}

/* CRC-32C (Castagnoli, reflected 0x82f63b78), bit by bit: the format's
 * checksum, written independently of the backend's. */
static uint32_t
crc32c(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n-- > 0) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

/* Offset of the last complete record of a log and the file's size; -1
 * when there is none. */
static long long
last_record(const char *buf, size_t n, uint32_t *len)
{
	size_t o = LOG_HEADER;
	long long last = -1;

	while (o + REC_HEADER <= n) {
		uint32_t rl = get_u32((const unsigned char *) buf + o);
		if (o + REC_HEADER + rl > n)
			break;
		last = (long long) o;
		*len = rl;
		o += REC_HEADER + rl;
	}
	return last;
}

static void
test_last_record_bitflip(void)
{
	fs_test_env env;
	char path[PATH_MAX + 64], id[64], nm[16], off_s[32];
	char *orig = NULL, *flipped = NULL, *after = NULL;
	size_t n = 0, na = 0;
	uint32_t rl = 0;
	long long last;
	fs_test_run_result res;
	int64_t ms;

	if (!FS_CHECK(fs_env_init(&env, "dd-flip") == 0, "init") ||
	    !FS_CHECK(fs_env_start_backend(&env) == 0, "start"))
		goto out;
	for (int i = 0; i < 6; i++) {
		snprintf(nm, sizeof(nm), "flip_%d", i);
		FS_ASSERT_OK(rpc_create(&env, nm, id, NULL));
	}
	FS_CHECK(fs_env_stop_backend(&env, SIGKILL) != -1, "kill -9");
	snprintf(path, sizeof(path), "%s/changes-000000000000.log",
	    env.data_dir);
	orig = fs_file_read(path, &n);
	if (!FS_CHECK(orig != NULL, "read %s", path) ||
	    !FS_CHECK((last = last_record(orig, n, &rl)) > 0 &&
	            (size_t) last + REC_HEADER + rl == n,
	        "%s does not end with a complete record", path))
		goto out;

	/* One bit of the last record's payload: a complete record that
	 * fails its checksum is damage, not a torn write. */
	if ((flipped = malloc(n)) == NULL)
		abort();
	memcpy(flipped, orig, n);
	flipped[last + REC_HEADER + rl / 2] ^= 0x10;
	if (!FS_CHECK(write_file(path, flipped, n) == 0, "write %s", path))
		goto out;
	run_service(env.data_dir, NULL, &res, &ms);
	snprintf(off_s, sizeof(off_s), "offset %lld", last);
	FS_CHECK(res.exit_code > 0 && res.exit_code < 128,
	    "flow-service started on a log whose last record has a flipped "
	    "bit: exit %d",
	    res.exit_code);
	FS_CHECK(res.err != NULL && strstr(res.err, path) != NULL &&
	        strstr(res.err, off_s) != NULL &&
	        strstr(res.err, "checksum") != NULL,
	    "stderr does not name %s, %s and the checksum: %s", path, off_s,
	    res.err ? res.err : "");
	fs_test_run_result_free(&res);
	after = fs_file_read(path, &na);
	FS_CHECK(after != NULL && na == n && memcmp(after, flipped, n) == 0,
	    "the refused start changed %s (%zu bytes, now %zu)", path, n, na);
	free(after);
	after = NULL;
	{
		char *argv[] = {(char *) FLOW_CHECK_BIN, env.data_dir, NULL};
		fs_test_run(&res, argv, NULL, NULL, REFUSE_MS);
		FS_CHECK(res.exit_code == 1 && res.err != NULL &&
		        strstr(res.err, path) != NULL,
		    "flow-check: exit %d, %s", res.exit_code, res.err);
		fs_test_run_result_free(&res);
	}

	/* Still a torn tail: a last record whose header made it but whose
	 * later page is zeros (a power cut, the file's size already
	 * covering the page). Dropped with a warning, the rest loads. */
	{
		size_t pg = (n + REC_HEADER + 4095) / 4096 * 4096;
		size_t body = pg - (n + REC_HEADER) + 200,
		       total = n + REC_HEADER + body;
		unsigned char *b = calloc(1, total);

		if (b == NULL)
			abort();
		memcpy(b, orig, n);
		put_u32(b + n, (uint32_t) body);
		put_u32(b + n + 4, crc32c(b + n, 4));
		put_u32(b + n + 8, 0x5eed5eedu);
		memset(b + n + REC_HEADER, 0xab, pg - (n + REC_HEADER));
		FS_CHECK(write_file(path, b, total) == 0, "write %s", path);
		free(b);
	}
	if (FS_CHECK(fs_env_start_backend(&env) == 0,
	        "a page of zeros at the end of the last record was not "
	        "taken as a torn tail")) {
		FS_CHECK(log_count(&env, "torn") == 1,
		    "no log line about the torn record");
		expect_names(&env, "flip_0,flip_1,flip_2,flip_3,flip_4,flip_5",
		    "after the torn tail");
	}
out:
	free(orig);
	free(flipped);
	fs_env_fini(&env);
}

static CU_TestInfo flip_tests[] = {
    {"bit flip in the last record: refused, file and offset named, file "
     "unchanged; a zeroed page is still a torn tail",
        test_last_record_bitflip},
    CU_TEST_INFO_NULL,
};

/* ---- (5) a full disk ---------------------------------------------------- */

/* Fills what is left of the file system with a file of our own. */
static void
fill_rest(const char *dir)
{
	char path[PATH_MAX + 32], buf[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/filler.bin", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644)) < 0)
		return;
	memset(buf, 'f', sizeof(buf));
	for (int bs = 4096; bs >= 1; bs /= 2)
		while (write(fd, buf, (size_t) bs) > 0)
			;
	close(fd);
}

static void
test_disk_full(void)
{
	fs_test_env env;
	fs_http_resp r;
	char body[4096], big[256];
	int i, got503 = 0, mounted = 0;
	double f1, f2, f3;
	Flowsvc__HealthReply *h;

	if (!FS_CHECK(fs_env_init(&env, "dd-full") == 0, "init"))
		return;
	if (mount("tmpfs", env.data_dir, "tmpfs", 0, "size=512k") != 0) {
		fprintf(stderr, "\n  skipped: cannot mount tmpfs on %s: %s\n",
		    env.data_dir, strerror(errno));
		CU_PASS("skipped: cannot mount tmpfs");
		goto out;
	}
	mounted = 1;
	if (!FS_CHECK(fs_env_start_programs(&env) == 0, "start"))
		goto out;
	memset(big, 'z', 200);
	big[200] = '\0';
	for (i = 0; i < 3000 && !got503; i++) {
		int k = snprintf(body, sizeof(body),
		    "{\"name\": \"full_%d\", \"input_fields\": [", i);
		for (int j = 0; j < 12; j++)
			k += snprintf(body + k, sizeof(body) - (size_t) k,
			    "%s\"%02d%s\"", j ? ", " : "", j, big);
		snprintf(body + k, sizeof(body) - (size_t) k, "]}");
		fs_rest(&env, "POST", "/api/flows/", body, &r);
		got503 = r.status == 503;
		if (!got503 && !FS_ASSERT_STATUS(&r, 201)) {
			fs_http_resp_free(&r);
			goto out;
		}
		fs_http_resp_free(&r);
	}
	if (!FS_CHECK(got503, "no 503 after %d creates on a 512k tmpfs", i))
		goto out;
	/* No room left at all (not even for the backend's probe), then one
	 * more change that fails. */
	fill_rest(env.data_dir);
	fs_rest(&env, "POST", "/api/flows/", body, &r);
	FS_ASSERT_ERROR(&r, 503, UNAVAILABLE_BODY);
	fs_http_resp_free(&r);

	fs_http_once(env.gw_port, "GET", "/readyz", NULL, NULL, 0, &r);
	FS_ASSERT_ERROR(&r, 503, NOT_WRITABLE_BODY);
	fs_http_resp_free(&r);
	FS_CHECK(metric(&env, "backend_writable") == 0, "backend_writable %g",
	    metric(&env, "backend_writable"));
	FS_CHECK(metric(&env, "backend_data_dir_lost") == 0,
	    "a full disk counts as a lost directory");
	f1 = metric(&env, "backend_log_append_failures_total");
	FS_CHECK(f1 >= 2,
	    "backend_log_append_failures_total is %g after two "
	    "failed changes",
	    f1);
	h = rpc_health(&env);
	if (FS_CHECK(h != NULL, "no Health reply")) {
		FS_CHECK(h->has_writable && !h->writable &&
		        h->write_error != NULL &&
		        strstr(h->write_error, "No space left") != NULL,
		    "Health: writable %d, write_error %s", h->writable,
		    h->write_error ? h->write_error : "(none)");
		protobuf_c_message_free_unpacked(&h->base, NULL);
	}
	fs_rest(&env, "POST", "/api/flows/", body, &r);
	FS_ASSERT_ERROR(&r, 503, UNAVAILABLE_BODY);
	fs_http_resp_free(&r);
	f2 = metric(&env, "backend_log_append_failures_total");
	FS_CHECK(f2 > f1, "the failure counter did not grow: %g, then %g", f1,
	    f2);
	fs_rest(&env, "GET", "/api/flows/?limit=1", NULL, &r);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);

	/* Room again: ready again without any change being sent. */
	if (!FS_CHECK(mount("tmpfs", env.data_dir, "tmpfs", MS_REMOUNT,
	                  "size=8m") == 0,
	        "remount: %s", strerror(errno)))
		goto out;
	FS_CHECK(wait_http(&env, "/readyz", 200, &r) == 0,
	    "/readyz still %d %d ms after the disk has room again", r.status,
	    NOTICE_MS);
	fs_http_resp_free(&r);
	FS_CHECK(metric(&env, "backend_writable") == 1, "backend_writable %g",
	    metric(&env, "backend_writable"));
	fs_rest(&env, "POST", "/api/flows/", "{\"name\": \"tiny\"}", &r);
	FS_ASSERT_STATUS(&r, 201);
	fs_http_resp_free(&r);
	f3 = metric(&env, "backend_log_append_failures_total");
	FS_CHECK(f3 == f2,
	    "the failure counter moved on a good write: %g -> "
	    "%g",
	    f2, f3);
	/* One error line per spell of failures (not per change), and one
	 * when it ends. */
	{
		int errs = log_count(&env, "cannot append to the change log");
		int oks = log_count(&env, "takes writes again");
		FS_CHECK(errs >= 1 && errs == oks && errs < f2,
		    "%d error lines and %d recovery lines for %g failed "
		    "changes",
		    errs, oks, f2);
	}
	FS_CHECK(exited_with(fs_env_stop_backend(&env, SIGTERM), 0),
	    "SIGTERM");
out:
	fs_http_close(env.http);
	env.http = NULL;
	if (env.gateway.pid != 0)
		fs_test_proc_stop(&env.gateway, SIGTERM,
		    FS_TEST_STOP_TIMEOUT_MS);
	if (env.backend.pid != 0)
		fs_test_proc_stop(&env.backend, SIGTERM,
		    FS_TEST_STOP_TIMEOUT_MS);
	if (mounted && umount2(env.data_dir, MNT_DETACH) != 0)
		FS_CHECK(0, "umount %s: %s", env.data_dir, strerror(errno));
	fs_env_fini(&env);
}

static CU_TestInfo disk_tests[] = {
    {"disk full: /readyz 503 and the failure counter grows; ready again "
     "with room, without a write",
        test_disk_full},
    CU_TEST_INFO_NULL,
};

int
main(void)
{
	static CU_SuiteInfo suites[] = {
	    {"data dir deleted or replaced under a running backend", NULL,
	        NULL, NULL, NULL, lost_tests},
	    {"one backend per data dir", NULL, NULL, NULL, NULL, lock_tests},
	    {"incomplete data dirs", NULL, NULL, NULL, NULL, incomplete_tests},
	    {"bit flip in the last log record", NULL, NULL, NULL, NULL,
	        flip_tests},
	    {"disk full", NULL, NULL, NULL, NULL, disk_tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
