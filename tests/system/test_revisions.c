/*
 * test_revisions.c - every change takes the next revision, from 1, kept
 * in the change log with the record and in the snapshot's header, and
 * continuous across snapshots, kill -9 and clean restarts (CONTRACT §7:
 * "starts at 1, only grows, is never reused, and survives restarts,
 * snapshots"); Health and Stats say the current one; a directory of
 * format version 1 loads, counting on from its snapshot (revision 0), and
 * goes on in version 2; a gap in the revisions is refused like a missing
 * file, and --recover-partial loads it.
 *
 * The data directory format is the one service/logfmt.h documents; the
 * files here are read and written with protobuf-c and a CRC-32C of the
 * test's own, not with the backend's code.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testlib.h"

#define LOG_HEADER 16
#define REC_HEADER 12
#define REFUSE_MS 10000

/* ---- the files, by hand ---------------------------------------------- */

static uint32_t
crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n-- > 0) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

static void
put_u32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *b, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t) b[i] << (8 * i);
	return v;
}

/* A component flow name with a made-up id from i. */
static void
component(Flowsvc__Component *c, char id[40], const char *name, int i)
{
	flowsvc__component__init(c);
	snprintf(id, 40, "%08x-1111-4222-8333-444455556666", i);
	c->id = id;
	c->kind = FLOWSVC__KIND__FLOW;
	c->name = (char *) name;
	c->group = (char *) "default";
	c->canvas_id = (char *) "0f8e2d3c-4b5a-4c6d-8e7f-901a2b3c4d5e";
	c->version = 1;
	c->created_at_us = c->updated_at_us = 1700000000000000 + i;
}

/* Appends a framed record holding a PUT of flow name to f; revision 0:
 * none (version 1). */
static void
put_record(FILE *f, const char *name, int i, uint64_t revision)
{
	Flowsvc__LogRecord rec = FLOWSVC__LOG_RECORD__INIT;
	Flowsvc__StoredComponent sc = FLOWSVC__STORED_COMPONENT__INIT;
	Flowsvc__Component c;
	uint8_t buf[1024];
	char id[40];

	component(&c, id, name, i);
	sc.component = &c;
	sc.seq = (uint64_t) i;
	rec.op_case = FLOWSVC__LOG_RECORD__OP_PUT;
	rec.put = &sc;
	rec.has_revision = revision != 0;
	rec.revision = revision;
	size_t n = flowsvc__log_record__pack(&rec, buf + REC_HEADER);
	put_u32(buf, (uint32_t) n);
	put_u32(buf + 4, crc32c(buf, 4));
	put_u32(buf + 8, crc32c(buf + REC_HEADER, n));
	fwrite(buf, 1, REC_HEADER + n, f);
}

static FILE *
open_log(const char *dir, uint64_t gen, int version)
{
	char path[PATH_MAX + 64];
	uint8_t hdr[LOG_HEADER] = "FLOWLOG";
	FILE *f;

	snprintf(path, sizeof(path), "%s/changes-%012" PRIu64 ".log", dir,
	    gen);
	if ((f = fopen(path, "wb")) != NULL) {
		hdr[8] = (uint8_t) version;
		fwrite(hdr, 1, sizeof(hdr), f);
	}
	return f;
}

/* A version 1 snapshot of generation gen holding flow name. */
static int
write_v1_snapshot(const char *dir, uint64_t gen, const char *name)
{
	Flowsvc__StoredComponent sc = FLOWSVC__STORED_COMPONENT__INIT;
	Flowsvc__Component c;
	char path[PATH_MAX + 64], id[40];
	uint8_t buf[1024] = "FLOWSNP", *p = buf + 24;
	FILE *f;

	component(&c, id, name, 1);
	sc.component = &c;
	sc.seq = 1;
	buf[8] = 1;
	buf[16] = 1; /* count */
	size_t n = flowsvc__stored_component__pack(&sc, p + 4);
	put_u32(p, (uint32_t) n);
	p += 4 + n;
	put_u32(p, crc32c(buf, (size_t) (p - buf)));
	p += 4;
	snprintf(path, sizeof(path), "%s/snapshot-%012" PRIu64 ".db", dir,
	    gen);
	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	fwrite(buf, 1, (size_t) (p - buf), f);
	return fclose(f);
}

/* The revisions of the records in a log (each must carry one), joined
 * in out; the log's version in *version. */
static void
log_revisions(const char *path, char *out, size_t n, int *version)
{
	size_t len, o = LOG_HEADER, k = 0;
	uint8_t *b = (uint8_t *) fs_file_read(path, &len);

	out[0] = '\0';
	*version =
	    b != NULL && len >= LOG_HEADER ? (int) get_le(b + 8, 4) : -1;
	while (b != NULL && o + REC_HEADER <= len) {
		uint32_t rl = (uint32_t) get_le(b + o, 4);
		Flowsvc__LogRecord *rec;

		if (o + REC_HEADER + rl > len)
			break;
		rec =
		    flowsvc__log_record__unpack(NULL, rl, b + o + REC_HEADER);
		k += (size_t) snprintf(out + k, k < n ? n - k : 0,
		    "%s%" PRIu64, k ? " " : "",
		    rec && rec->has_revision ? rec->revision : 0);
		flowsvc__log_record__free_unpacked(rec, NULL);
		o += REC_HEADER + rl;
	}
	free(b);
}

/* The newest generation of a kind in dir: "changes" (.log) or
 * "snapshot" (.db). */
static int64_t
newest(const char *dir, const char *kind)
{
	const char *ext = strcmp(kind, "changes") == 0 ? ".log" : ".db";
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t kl = strlen(kind);
	int64_t g = -1;

	while (d != NULL && (e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name);

		if (nl == kl + 13 + strlen(ext) &&
		    strncmp(e->d_name, kind, kl) == 0 &&
		    e->d_name[kl] == '-' &&
		    strcmp(e->d_name + kl + 13, ext) == 0 &&
		    atoll(e->d_name + kl + 1) > g)
			g = atoll(e->d_name + kl + 1);
	}
	if (d != NULL)
		closedir(d);
	return g;
}

/* ---- RPC ---------------------------------------------------------------- */

static int
call(fs_test_env *env, Flowsvc__Method m, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
	fs_call_opts o = {NULL, 20000, NULL, 0};
	Flowsvc__Reply *reply = NULL;
	int code = fs_client_call(env->client, m, req, &o, &reply);

	if (out != NULL)
		*out = code == FS_OK && reply != NULL
		    ? fs_reply_payload(reply, desc)
		    : NULL;
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	return code;
}

static int
create(fs_test_env *env, const char *name, char id[64])
{
	Flowsvc__CreateRequest req = FLOWSVC__CREATE_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int code;

	req.kind = FLOWSVC__KIND__FLOW;
	req.name = (char *) name;
	code = call(env, FLOWSVC__METHOD__CREATE, &req.base,
	    &flowsvc__component_reply__descriptor, &m);
	if (id != NULL && m != NULL)
		snprintf(id, 64, "%s",
		    ((Flowsvc__ComponentReply *) m)->component->id);
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
	return code;
}

/* A method taking an id (IdRequest; GetRequest has the same wire form). */
static int
by_id(fs_test_env *env, Flowsvc__Method method, const char *id)
{
	Flowsvc__IdRequest req = FLOWSVC__ID_REQUEST__INIT;

	req.id = (char *) id;
	return call(env, method, &req.base, NULL, NULL);
}

static int
update(fs_test_env *env, const char *id)
{
	Flowsvc__UpdateRequest req = FLOWSVC__UPDATE_REQUEST__INIT;
	Flowsvc__StringList l = FLOWSVC__STRING_LIST__INIT;
	char *items[] = {(char *) "question"};

	req.id = (char *) id;
	l.n_items = 1;
	l.items = items;
	req.input_fields = &l;
	return call(env, FLOWSVC__METHOD__UPDATE, &req.base, NULL, NULL);
}

/* Health's and Stats' revisions; -1 when absent. */
static void
revisions(fs_test_env *env, long long *health, long long *stats)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	ProtobufCMessage *m = NULL;

	*health = *stats = -1;
	if (call(env, FLOWSVC__METHOD__HEALTH, &e.base,
	        &flowsvc__health_reply__descriptor, &m) == FS_OK &&
	    m) {
		Flowsvc__HealthReply *h = (Flowsvc__HealthReply *) m;

		if (h->has_revision)
			*health = (long long) h->revision;
	}
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
	m = NULL;
	if (call(env, FLOWSVC__METHOD__STATS, &e.base,
	        &flowsvc__stats_reply__descriptor, &m) == FS_OK &&
	    m) {
		Flowsvc__StatsReply *s = (Flowsvc__StatsReply *) m;

		if (s->has_revision)
			*stats = (long long) s->revision;
	}
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
}

#define EXPECT_REVISION(env, want, when)                                      \
	do {                                                                  \
		long long h_, s_;                                             \
		revisions((env), &h_, &s_);                                   \
		FS_CHECK(h_ == (want) && s_ == (want),                        \
		    "%s: Health says revision %lld, Stats %lld; expected %d", \
		    (when), h_, s_, (want));                                  \
	} while (0)

/* ---- cases -------------------------------------------------------------- */

static void
test_revisions_survive(void)
{
	fs_test_env env;
	char id[3][64], path[PATH_MAX + 64], revs[256], snap[PATH_MAX + 64];
	int version;

	if (!FS_CHECK(fs_env_init(&env, "rev") == 0 &&
	            fs_env_start_backend(&env) == 0,
	        "start"))
		goto out;
	EXPECT_REVISION(&env, 0, "an empty directory");
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "rev_%d", i);
		FS_ASSERT_OK(create(&env, name, id[i]));
	}
	EXPECT_REVISION(&env, 3, "after 3 creates");
	FS_ASSERT_OK(update(&env, id[0]));
	FS_ASSERT_OK(by_id(&env, FLOWSVC__METHOD__DEPLOY, id[1]));
	FS_ASSERT_OK(by_id(&env, FLOWSVC__METHOD__STOP, id[1]));
	FS_ASSERT_OK(by_id(&env, FLOWSVC__METHOD__DELETE, id[2]));
	/* Refused changes and reads take none. */
	FS_ASSERT_CODE(by_id(&env, FLOWSVC__METHOD__DELETE, id[2]),
	    FS_NOT_FOUND, NULL);
	FS_ASSERT_OK(by_id(&env, FLOWSVC__METHOD__GET, id[0]));
	EXPECT_REVISION(&env, 7, "after update, deploy, stop, delete");

	{
		Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
		FS_ASSERT_OK(call(&env, FLOWSVC__METHOD__SNAPSHOT, &e.base,
		    NULL, NULL));
	}
	EXPECT_REVISION(&env, 7, "after a snapshot");
	FS_ASSERT_OK(create(&env, "rev_after_snap", NULL));
	EXPECT_REVISION(&env, 8, "after a snapshot and a create");
	snprintf(snap, sizeof(snap), "%s/snapshot-%012" PRId64 ".db",
	    env.data_dir, newest(env.data_dir, "snapshot"));
	{
		size_t len;
		uint8_t *b = (uint8_t *) fs_file_read(snap, &len);

		FS_CHECK(b != NULL && len >= 36 && get_le(b + 8, 4) == 2 &&
		        get_le(b + 24, 8) == 7,
		    "%s: version %llu, revision %llu; expected 2 and 7", snap,
		    b && len >= 36 ? (unsigned long long) get_le(b + 8, 4) : 0,
		    b && len >= 36 ? (unsigned long long) get_le(b + 24, 8)
		                   : 0);
		free(b);
	}

	FS_CHECK(fs_env_stop_backend(&env, SIGKILL) != -1, "kill -9");
	if (!FS_CHECK(fs_env_start_backend(&env) == 0,
	        "restart after kill -9"))
		goto out;
	EXPECT_REVISION(&env, 8, "after kill -9");
	FS_ASSERT_OK(create(&env, "rev_after_kill", NULL));
	EXPECT_REVISION(&env, 9, "after kill -9 and a create");

	FS_CHECK(fs_env_stop_backend(&env, SIGTERM) == 0, "SIGTERM");
	if (!FS_CHECK(fs_env_start_backend(&env) == 0,
	        "restart after SIGTERM"))
		goto out;
	EXPECT_REVISION(&env, 9, "after SIGTERM (a snapshot)");
	FS_ASSERT_OK(create(&env, "rev_after_term", NULL));
	EXPECT_REVISION(&env, 10, "after SIGTERM and a create");

	snprintf(path, sizeof(path), "%s/changes-%012" PRId64 ".log",
	    env.data_dir, newest(env.data_dir, "changes"));
	log_revisions(path, revs, sizeof(revs), &version);
	FS_CHECK(version == 2 && strcmp(revs, "10") == 0,
	    "%s: version %d, records of revisions [%s]", path, version, revs);

	{
		char *argv[] = {(char *) FLOW_CHECK_BIN, env.data_dir, NULL};
		fs_test_run_result r;

		fs_test_run(&r, argv, NULL, NULL, REFUSE_MS);
		FS_CHECK(r.exit_code == 0 && r.out != NULL &&
		        strstr(r.out, "revision:          10\n") != NULL &&
		        strstr(r.out, "snapshot revision: 9\n") != NULL,
		    "flow-check: exit %d: %s%s", r.exit_code, r.out, r.err);
		fs_test_run_result_free(&r);
	}
out:
	fs_env_fini(&env);
}

/* A log of revisions 1..n with a gap where skip would be. */
static void
test_gap(void)
{
	static const char *const partial[] = {"--recover-partial", NULL};
	fs_test_env env;
	fs_test_run_result r;
	char url[64];
	FILE *f;

	if (!FS_CHECK(fs_env_init(&env, "revgap") == 0, "init"))
		return;
	if (!FS_CHECK((f = open_log(env.data_dir, 0, 2)) != NULL, "write"))
		goto out;
	put_record(f, "gap_a", 1, 1);
	put_record(f, "gap_b", 2, 2);
	put_record(f, "gap_d", 4, 4);
	fclose(f);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", fs_test_free_port());
	{
		char *argv[] = {(char *) FLOW_SERVICE_BIN, (char *) "--listen",
		    url, (char *) "--data-dir", env.data_dir, NULL};

		fs_test_run(&r, argv, NULL, NULL, REFUSE_MS);
	}
	FS_CHECK(r.exit_code > 0 && r.exit_code < 128 && r.err != NULL &&
	        strstr(r.err, "changes-000000000000.log") != NULL &&
	        strstr(r.err, "revision 4 where 3 was due") != NULL &&
	        strstr(r.err, "--recover-partial") != NULL,
	    "a log with a gap in its revisions: exit %d, %s", r.exit_code,
	    r.err);
	fs_test_run_result_free(&r);

	env.svc_extra = partial;
	if (!FS_CHECK(fs_env_start_backend(&env) == 0,
	        "no start with --recover-partial"))
		goto out;
	EXPECT_REVISION(&env, 4, "the gap accepted");
	FS_ASSERT_OK(create(&env, "gap_e", NULL));
	EXPECT_REVISION(&env, 5, "after the gap");
	FS_CHECK(fs_env_stop_backend(&env, SIGKILL) != -1, "kill -9");
	env.svc_extra = NULL;
	if (FS_CHECK(fs_env_start_backend(&env) == 0,
	        "the directory is still refused after --recover-partial"))
		EXPECT_REVISION(&env, 5, "the next start, without the flag");
out:
	fs_env_fini(&env);
}

/* A version 1 directory: snapshot 3 (one flow) and log 3 (two more). */
static void
test_version1_dir(void)
{
	fs_test_env env;
	char path[PATH_MAX + 64], revs[64], *before = NULL, *after = NULL;
	size_t n0 = 0, n1 = 0;
	int version;
	FILE *f;

	if (!FS_CHECK(fs_env_init(&env, "revv1") == 0, "init"))
		return;
	if (!FS_CHECK(write_v1_snapshot(env.data_dir, 3, "old_a") == 0 &&
	            (f = open_log(env.data_dir, 3, 1)) != NULL,
	        "write"))
		goto out;
	put_record(f, "old_b", 2, 0);
	put_record(f, "old_c", 3, 0);
	fclose(f);
	snprintf(path, sizeof(path), "%s/changes-000000000003.log",
	    env.data_dir);
	before = fs_file_read(path, &n0);
	if (!FS_CHECK(fs_env_start_backend(&env) == 0,
	        "a version 1 directory "
	        "refused"))
		goto out;
	EXPECT_REVISION(&env, 2, "a version 1 snapshot and two records");
	FS_ASSERT_OK(create(&env, "new_d", NULL));
	EXPECT_REVISION(&env, 3, "a create after them");
	FS_ASSERT_OK(by_id(&env, FLOWSVC__METHOD__GET,
	    "00000003-1111-4222-8333-444455556666"));
	FS_CHECK(fs_env_stop_backend(&env, SIGKILL) != -1, "kill -9");

	/* The version 1 log is left as it was; the change went to a new
	 * generation's log, of version 2. */
	after = fs_file_read(path, &n1);
	FS_CHECK(before != NULL && after != NULL && n0 == n1 &&
	        memcmp(before, after, n0) == 0,
	    "%s was written to", path);
	snprintf(path, sizeof(path), "%s/changes-000000000004.log",
	    env.data_dir);
	log_revisions(path, revs, sizeof(revs), &version);
	FS_CHECK(version == 2 && strcmp(revs, "3") == 0,
	    "%s: version %d, revisions [%s]", path, version, revs);
	if (FS_CHECK(fs_env_start_backend(&env) == 0, "restart"))
		EXPECT_REVISION(&env, 3, "restarted on both versions");
out:
	free(before);
	free(after);
	fs_env_fini(&env);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"revisions from 1, continuous across a snapshot, kill -9 and "
	     "SIGTERM; in the log, the snapshot, Health, Stats, flow-check",
	        test_revisions_survive},
	    {"a gap in the revisions: refused naming it; --recover-partial "
	     "loads it",
	        test_gap},
	    {"a version 1 directory loads and goes on in version 2",
	        test_version1_dir},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"revisions", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
