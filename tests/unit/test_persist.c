/*
 * service/persist.c and the modules behind it, on a scratch data
 * directory: a directory loads with no thread started and no file
 * touched; revisions follow on across snapshots and restarts, the
 * snapshot saying where it cut; a holder keeps older logs past a
 * snapshot, readable from a revision, until it lets go; a gap in the
 * revisions is refused unless --recover-partial; a jump at the start of
 * a later log (a power cut took the end of the one before) is not; a
 * version 1 directory loads, counting on, and is continued in a new
 * version 2 log.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "crc32c.h"
#include "fs_errors.h"
#include "logfmt.h"
#include "logreader.h"
#include "persist.h"
#include "svc.h"
#include "testlib.h"

static char root[PATH_MAX];
static char dir[PATH_MAX + 32];
static int ncase;

/* A fresh data directory for each case. */
static void
new_dir(void)
{
	snprintf(dir, sizeof(dir), "%s/d%d", root, ++ncase);
}

static int
exists(const char *name)
{
	char p[PATH_MAX + 96];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static int
threads(void)
{
	char *s = fs_file_read("/proc/self/status", NULL);
	char *t = s ? strstr(s, "Threads:") : NULL;
	int n = t ? atoi(t + 8) : -1;

	free(s);
	return n;
}

/* Every file name in dir, sorted, joined. */
static char *
listing(void)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	size_t cap = 4096, k = 0;
	char *out = calloc(1, cap);

	for (int i = 0; i < n; i++) {
		if (out != NULL && ents[i]->d_name[0] != '.')
			k += (size_t) snprintf(out + k, k < cap ? cap - k : 0,
			    "%s ", ents[i]->d_name);
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
	return out;
}

/* A PUT record of a new flow number i. */
typedef struct put {
	Flowsvc__LogRecord rec;
	Flowsvc__StoredComponent sc;
	Flowsvc__Component c;
	char id[40], name[32];
} put;

static void
make_put(put *p, int i)
{
	flowsvc__log_record__init(&p->rec);
	flowsvc__stored_component__init(&p->sc);
	flowsvc__component__init(&p->c);
	snprintf(p->id, sizeof(p->id), "%08x-0000-4000-8000-000000000000", i);
	snprintf(p->name, sizeof(p->name), "flow_%d", i);
	p->c.id = p->id;
	p->c.kind = FLOWSVC__KIND__FLOW;
	p->c.name = p->name;
	p->c.group = (char *) "default";
	p->c.canvas_id = (char *) "0f8e2d3c-4b5a-4c6d-8e7f-901a2b3c4d5e";
	p->c.version = 1;
	p->sc.component = &p->c;
	p->sc.status = FLOWSVC__STATUS__NOT_DEPLOYED;
	p->rec.op_case = FLOWSVC__LOG_RECORD__OP_PUT;
	p->rec.put = &p->sc;
}

/* A backend's handle on dir: the store, its lock, the persistence. */
typedef struct be {
	store *st;
	pthread_rwlock_t lock;
	persist *p;
	persist_error err;
} be;

static int
be_open(be *b, int partial, int start)
{
	persist_opts o = {0};

	memset(b, 0, sizeof(*b));
	o.dir = dir;
	o.fsync = PERSIST_FSYNC_EVERYSEC;
	o.recover_partial = partial;
	if ((b->st = store_new()) == NULL)
		return FS_RESOURCE_EXHAUSTED;
	pthread_rwlock_init(&b->lock, NULL);
	int rv = start
	    ? persist_open(&b->p, &o, b->st, &b->lock, svc_apply, &b->err)
	    : persist_load(&b->p, &o, b->st, &b->lock, svc_apply, &b->err);
	if (rv != FS_OK) {
		pthread_rwlock_destroy(&b->lock);
		store_free(b->st);
		b->p = NULL;
		b->st = NULL;
	}
	return rv;
}

static void
be_close(be *b)
{
	if (b->st == NULL)
		return;
	persist_close(b->p);
	pthread_rwlock_destroy(&b->lock);
	store_free(b->st);
	b->st = NULL;
}

/* The write path as svc_commit has it: logged, then applied. */
static int
be_change(be *b, int i)
{
	put p;
	uint64_t ticket;
	int rv;

	make_put(&p, i);
	pthread_rwlock_wrlock(&b->lock);
	if ((rv = persist_append(b->p, &p.rec, &ticket)) == FS_OK)
		rv = svc_apply(b->st, &p.rec);
	pthread_rwlock_unlock(&b->lock);
	return rv;
}

/* Writes a log file of generation gen by hand: version, then records
 * flow_<first>... with the given revisions (0: a version 1 record). */
static int
write_log(uint64_t gen, int version, int first, const uint64_t *revs, int n)
{
	char p[PATH_MAX + 96];
	uint8_t hdr[LOGFMT_LOG_HEADER], buf[1024];
	FILE *f;

	if (mkdir(dir, 0755) != 0 && access(dir, F_OK) != 0)
		return -1;
	snprintf(p, sizeof(p), "%s/changes-%012llu.log", dir,
	    (unsigned long long) gen);
	if ((f = fopen(p, "wb")) == NULL)
		return -1;
	logfmt_log_header(hdr);
	hdr[8] = (uint8_t) version;
	fwrite(hdr, 1, sizeof(hdr), f);
	for (int i = 0; i < n; i++) {
		put pr;
		size_t len;

		make_put(&pr, first + i);
		if (revs[i] != 0) {
			len = logfmt_record_encode(&pr.rec, revs[i], buf);
		} else {
			len = flowsvc__log_record__pack(&pr.rec,
			    buf + LOGFMT_REC_HEADER);
			logfmt_put_u32(buf, (uint32_t) len);
			logfmt_put_u32(buf + 4, crc32c(0, buf, 4));
			logfmt_put_u32(buf + 8,
			    crc32c(0, buf + LOGFMT_REC_HEADER, len));
			len += LOGFMT_REC_HEADER;
		}
		fwrite(buf, 1, len, f);
	}
	return fclose(f);
}

/* The revisions in log gen, from revision from on, joined. */
static void
log_revisions(be *b, uint64_t from, char *out, size_t n)
{
	logreader_record rec;
	logreader *r;
	uint64_t gen;
	size_t k = 0;

	out[0] = '\0';
	if (!FS_ASSERT_INT_EQ(persist_log_open(b->p, from, &r, &gen), FS_OK))
		return;
	if (logreader_seek_revision(r, from, LOGREADER_EOF, &rec) ==
	    LOGREADER_RECORD)
		while (
		    logreader_next(r, LOGREADER_EOF, &rec) == LOGREADER_RECORD)
			k += (size_t) snprintf(out + k, k < n ? n - k : 0,
			    "%llu ", (unsigned long long) rec.revision);
	logreader_close(r);
}

static uint64_t
snapshot_revision(uint64_t gen)
{
	char p[PATH_MAX + 96];
	size_t len;
	char *s;
	logfmt_snap_header h;

	snprintf(p, sizeof(p), "%s/snapshot-%012llu.db", dir,
	    (unsigned long long) gen);
	if ((s = fs_file_read(p, &len)) == NULL)
		return UINT64_MAX;
	int rv = logfmt_snap_header_check((uint8_t *) s, len, &h);
	free(s);
	return rv == LOGFMT_HEADER_OK ? h.revision : UINT64_MAX;
}

static void
test_load_without_threads(void)
{
	be b;
	char *before, *after;

	new_dir();
	if (!FS_ASSERT_OK(be_open(&b, 0, 1)))
		return;
	for (int i = 1; i <= 5; i++) {
		FS_ASSERT_OK(be_change(&b, i));
		if (i == 3)
			FS_ASSERT_OK(persist_snapshot(b.p));
	}
	be_close(&b);

	int t0 = threads();
	before = listing();
	if (!FS_ASSERT_OK(be_open(&b, 0, 0))) {
		free(before);
		return;
	}
	after = listing();
	FS_ASSERT_INT_EQ(threads(), t0);
	FS_CHECK(before && after && strcmp(before, after) == 0,
	    "the load changed the directory: [%s] -> [%s]", before, after);
	FS_ASSERT_INT_EQ(persist_revision(b.p), 5);
	FS_ASSERT_INT_EQ(store_count(b.st, FLOWSVC__KIND__FLOW), 5);
	FS_ASSERT_INT_EQ(be_change(&b, 6), FS_UNAVAILABLE);
	if (FS_ASSERT_OK(persist_start(b.p, &b.err))) {
		FS_ASSERT_INT_EQ(threads(), t0 + 2);
		FS_ASSERT_OK(be_change(&b, 6));
		FS_ASSERT_INT_EQ(persist_revision(b.p), 6);
	}
	be_close(&b);
	FS_ASSERT_INT_EQ(threads(), t0);
	free(before);
	free(after);
}

static void
test_revisions_follow_on(void)
{
	char revs[256];
	persist_check ck;
	be b;

	new_dir();
	if (!FS_ASSERT_OK(be_open(&b, 0, 1)))
		return;
	for (int i = 1; i <= 3; i++)
		FS_ASSERT_OK(be_change(&b, i));
	FS_ASSERT_OK(persist_snapshot(b.p)); /* generation 1, up to 3 */
	FS_ASSERT_INT_EQ(snapshot_revision(1), 3);
	FS_ASSERT_OK(be_change(&b, 4));
	FS_ASSERT_OK(be_change(&b, 5));
	be_close(&b); /* no snapshot: 4 and 5 only in the log */

	if (!FS_ASSERT_OK(be_open(&b, 0, 1)))
		return;
	FS_ASSERT_INT_EQ(persist_revision(b.p), 5);
	FS_ASSERT_OK(be_change(&b, 6));
	log_revisions(&b, 4, revs, sizeof(revs));
	FS_ASSERT_STR_EQ(revs, "4 5 6 ");
	FS_ASSERT_OK(persist_snapshot(b.p)); /* generation 2, up to 6 */
	FS_ASSERT_INT_EQ(snapshot_revision(2), 6);
	FS_ASSERT_OK(be_change(&b, 7));
	log_revisions(&b, 7, revs, sizeof(revs));
	FS_ASSERT_STR_EQ(revs, "7 ");
	be_close(&b);

	FS_ASSERT_OK(persist_check_dir(dir, svc_apply, &ck, NULL));
	FS_ASSERT_INT_EQ(ck.snapshot_revision, 6);
	FS_ASSERT_INT_EQ(ck.revision, 7);
}

static void
test_retention(void)
{
	char revs[256];
	uint32_t h;
	be b;

	new_dir();
	if (!FS_ASSERT_OK(be_open(&b, 0, 1)))
		return;
	FS_ASSERT_OK(be_change(&b, 1));
	FS_ASSERT_OK(be_change(&b, 2));
	FS_ASSERT_OK(persist_retain(b.p, "reader", 2, &h));
	FS_ASSERT_OK(persist_snapshot(b.p)); /* generation 1 */
	FS_ASSERT_OK(be_change(&b, 3));
	FS_CHECK(exists("changes-000000000000.log"),
	    "a log a holder needs "
	    "was removed by the snapshot");
	FS_ASSERT_INT_EQ(persist_oldest_revision(b.p), 1);
	log_revisions(&b, 2, revs, sizeof(revs));
	FS_ASSERT_STR_EQ(revs, "2 ");
	log_revisions(&b, 3, revs, sizeof(revs));
	FS_ASSERT_STR_EQ(revs, "3 ");
	/* Moved on past it: the log goes; the snapshot went at once. */
	FS_ASSERT_OK(persist_retain_move(b.p, h, 3));
	FS_CHECK(!exists("changes-000000000000.log"),
	    "a log nobody needs "
	    "was kept");
	FS_ASSERT_INT_EQ(persist_oldest_revision(b.p), 3);
	FS_ASSERT_INT_EQ(persist_retain_move(b.p, h, 2), FS_OUT_OF_RANGE);
	persist_release(b.p, h);
	FS_ASSERT_INT_EQ(persist_retain(b.p, "late", 2, &h), FS_OUT_OF_RANGE);

	/* Without a holder, a snapshot lets the older files go at once. */
	FS_ASSERT_OK(persist_snapshot(b.p)); /* generation 2 */
	FS_CHECK(!exists("changes-000000000001.log") &&
	        !exists("snapshot-000000000001.db") &&
	        exists("snapshot-000000000002.db") &&
	        exists("changes-000000000002.log"),
	    "after a snapshot with no holder: %s", "older files kept");
	be_close(&b);
}

static void
test_gap_refused(void)
{
	static const uint64_t revs[] = {1, 2, 4};
	persist_check ck;
	persist_error err;
	be b;

	new_dir();
	if (!FS_CHECK(write_log(0, 2, 1, revs, 3) == 0, "write"))
		return;
	memset(&err, 0, sizeof(err));
	FS_ASSERT_INT_EQ(persist_check_dir(dir, svc_apply, &ck, &err),
	    FS_DATA_LOSS);
	FS_CHECK(strstr(err.path, "changes-000000000000.log") != NULL &&
	        strstr(err.what, "revision 4 where 3 was due") != NULL &&
	        strstr(err.what, "--recover-partial") != NULL,
	    "message: %s: %s", err.path, err.what);
	FS_ASSERT_INT_EQ(be_open(&b, 0, 1), FS_DATA_LOSS);
	if (!FS_ASSERT_OK(be_open(&b, 1, 1)))
		return;
	FS_ASSERT_INT_EQ(persist_revision(b.p), 4);
	FS_ASSERT_INT_EQ(store_count(b.st, FLOWSVC__KIND__FLOW), 3);
	be_close(&b);
	/* Made whole by the snapshot of what was accepted. */
	FS_ASSERT_OK(persist_check_dir(dir, svc_apply, &ck, &err));
	FS_ASSERT_INT_EQ(ck.revision, 4);
}

static void
test_jump_after_older_log(void)
{
	static const uint64_t a[] = {1, 2}, jump[] = {5, 6}, back[] = {2};
	persist_check ck;
	persist_error err;

	/* The end of log 0 lost to a power cut: log 1 begins later. */
	new_dir();
	if (!FS_CHECK(write_log(0, 2, 1, a, 2) == 0 &&
	            write_log(1, 2, 3, jump, 2) == 0,
	        "write"))
		return;
	FS_ASSERT_OK(persist_check_dir(dir, svc_apply, &ck, &err));
	FS_ASSERT_INT_EQ(ck.revision, 6);
	/* Back in time is never that. */
	if (!FS_CHECK(write_log(1, 2, 3, back, 1) == 0, "write"))
		return;
	FS_ASSERT_INT_EQ(persist_check_dir(dir, svc_apply, &ck, &err),
	    FS_DATA_LOSS);
}

static void
test_version1_directory(void)
{
	static const uint64_t v1[] = {0, 0};
	persist_check ck;
	char revs[64];
	be b;

	new_dir();
	if (!FS_CHECK(write_log(0, 1, 1, v1, 2) == 0, "write"))
		return;
	if (!FS_ASSERT_OK(be_open(&b, 0, 1)))
		return;
	FS_ASSERT_INT_EQ(persist_revision(b.p), 2);
	FS_ASSERT_OK(be_change(&b, 3));
	log_revisions(&b, 1, revs, sizeof(revs));
	FS_ASSERT_STR_EQ(revs, "1 2 ");
	log_revisions(&b, 3, revs, sizeof(revs));
	FS_ASSERT_STR_EQ(revs, "3 ");
	be_close(&b);
	FS_CHECK(exists("changes-000000000001.log"),
	    "no new log for the "
	    "version 2 records");
	FS_ASSERT_OK(persist_check_dir(dir, svc_apply, &ck, NULL));
	FS_ASSERT_INT_EQ(ck.revision, 3);
	FS_ASSERT_INT_EQ(ck.flows, 3);
}

static int
suite_init(void)
{
	return fs_test_mkdtemp(root, "persist");
}

static int
suite_fini(void)
{
	return fs_test_rmtree(root);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"a load starts no thread and changes no file",
	        test_load_without_threads},
	    {"revisions follow on across snapshots and restarts",
	        test_revisions_follow_on},
	    {"a holder keeps older logs past a snapshot", test_retention},
	    {"a gap in the revisions: refused; --recover-partial loads it",
	        test_gap_refused},
	    {"a later log beginning after a jump forward loads",
	        test_jump_after_older_log},
	    {"a version 1 directory loads and goes on in version 2",
	        test_version1_directory},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"persist", suite_init, suite_fini, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
