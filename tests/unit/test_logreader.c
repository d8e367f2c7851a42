/*
 * service/logreader.c: a change log read with a cursor. From the start,
 * from a byte offset and from a revision; a finished file cut anywhere in
 * its last record is a torn tail, and one with a flipped bit is damage;
 * with a writer's end, a record not yet (wholly) written is the end of
 * the data, never torn; version 1 files count revisions on from the base;
 * and a reader following a log that another thread appends to (in
 * pieces, with partial writes undone) sees every record, in order, and
 * nothing else.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "crc32c.h"
#include "fs_errors.h"
#include "logfmt.h"
#include "logreader.h"
#include "testlib.h"

#define NREC 20
#define BASE 1000 /* the revision before the first record */

static char dir[PATH_MAX];
static char path[PATH_MAX + 32];

/* The records written: where each starts, and the file's end. */
static uint64_t off[NREC + 1];

static void
record(uint64_t i, Flowsvc__LogRecord *rec, Flowsvc__StatusChange *sc,
    char *id)
{
	flowsvc__log_record__init(rec);
	flowsvc__status_change__init(sc);
	snprintf(id, 40, "%08llx-0000-4000-8000-000000000000",
	    (unsigned long long) i);
	sc->id = id;
	sc->status = FLOWSVC__STATUS__STARTED;
	rec->op_case = FLOWSVC__LOG_RECORD__OP_STATUS;
	rec->status = sc;
}

/* Record i (1-based) encoded with revision BASE + i, into buf; version
 * 1: no revision field. Returns its size. */
static size_t
encode(uint64_t i, int version, uint8_t *buf)
{
	Flowsvc__LogRecord rec;
	Flowsvc__StatusChange sc;
	char id[40];

	record(i, &rec, &sc, id);
	if (version >= 2)
		return logfmt_record_encode(&rec, BASE + i, buf);
	size_t n = flowsvc__log_record__pack(&rec, buf + LOGFMT_REC_HEADER);
	logfmt_put_u32(buf, (uint32_t) n);
	logfmt_put_u32(buf + 4, crc32c(0, buf, 4));
	logfmt_put_u32(buf + 8, crc32c(0, buf + LOGFMT_REC_HEADER, n));
	return LOGFMT_REC_HEADER + n;
}

/* Writes a log of NREC records (extra bytes after them). */
static int
write_log(int version, const void *extra, size_t extra_len)
{
	FILE *f = fopen(path, "wb");
	uint8_t hdr[LOGFMT_LOG_HEADER], buf[256];

	if (f == NULL)
		return -1;
	logfmt_log_header(hdr);
	hdr[8] = (uint8_t) version;
	fwrite(hdr, 1, sizeof(hdr), f);
	off[0] = sizeof(hdr);
	for (uint64_t i = 1; i <= NREC; i++) {
		size_t n = encode(i, version, buf);

		fwrite(buf, 1, n, f);
		off[i] = off[i - 1] + n;
	}
	if (extra_len > 0)
		fwrite(extra, 1, extra_len, f);
	return fclose(f);
}

static logreader *
open_log(void)
{
	logreader *r = NULL;

	FS_ASSERT_INT_EQ(logreader_open(&r, AT_FDCWD, path, BASE), FS_OK);
	return r;
}

/* Reads records up to end, checking they are first..NREC-ish in order.
 * Returns how many, and the result that stopped it. */
static int
read_all(logreader *r, uint64_t end, uint64_t first, int *count)
{
	logreader_record rec;
	int res;

	*count = 0;
	while ((res = logreader_next(r, end, &rec)) == LOGREADER_RECORD) {
		uint64_t i = first + (uint64_t) *count;

		FS_CHECK(rec.revision == BASE + i &&
		        rec.offset == off[i - 1] && rec.next == off[i],
		    "record %llu: revision %llu at %llu..%llu",
		    (unsigned long long) i, (unsigned long long) rec.revision,
		    (unsigned long long) rec.offset,
		    (unsigned long long) rec.next);
		(*count)++;
	}
	return res;
}

static void
test_whole_file(void)
{
	int n;

	if (!FS_CHECK(write_log(2, NULL, 0) == 0, "write"))
		return;
	logreader *r = open_log();
	if (r == NULL)
		return;
	FS_ASSERT_INT_EQ(read_all(r, LOGREADER_EOF, 1, &n), LOGREADER_END);
	FS_ASSERT_INT_EQ(n, NREC);
	FS_ASSERT_INT_EQ(logreader_offset(r), off[NREC]);
	FS_ASSERT_INT_EQ(logreader_revision(r), BASE + NREC);
	FS_ASSERT_INT_EQ(logreader_version(r), 2);
	/* Again at the end: still the end. */
	FS_ASSERT_INT_EQ(read_all(r, LOGREADER_EOF, NREC + 1, &n),
	    LOGREADER_END);
	logreader_close(r);
}

static void
test_from_offset_and_revision(void)
{
	logreader_record rec;
	int n;

	if (!FS_CHECK(write_log(2, NULL, 0) == 0, "write"))
		return;
	logreader *r = open_log();
	if (r == NULL)
		return;
	logreader_seek(r, off[7], BASE + 7);
	FS_ASSERT_INT_EQ(read_all(r, LOGREADER_EOF, 8, &n), LOGREADER_END);
	FS_ASSERT_INT_EQ(n, NREC - 7);

	logreader_seek(r, 0, BASE);
	FS_ASSERT_INT_EQ(logreader_seek_revision(r, BASE + 12, LOGREADER_EOF,
	                     &rec),
	    LOGREADER_RECORD);
	FS_ASSERT_INT_EQ(rec.revision, BASE + 12);
	FS_ASSERT_INT_EQ(logreader_offset(r), off[11]);
	FS_ASSERT_INT_EQ(read_all(r, LOGREADER_EOF, 12, &n), LOGREADER_END);
	FS_ASSERT_INT_EQ(n, NREC - 11);

	/* Before the first: the first; past the last: the end, and the
	 * search goes on from there when more is written. */
	logreader_seek(r, 0, BASE);
	FS_ASSERT_INT_EQ(logreader_seek_revision(r, 1, LOGREADER_EOF, &rec),
	    LOGREADER_RECORD);
	FS_ASSERT_INT_EQ(rec.revision, BASE + 1);
	FS_ASSERT_INT_EQ(logreader_seek_revision(r, BASE + NREC + 1,
	                     LOGREADER_EOF, &rec),
	    LOGREADER_END);
	FS_ASSERT_INT_EQ(logreader_offset(r), off[NREC]);
	logreader_close(r);
}

/* The file cut anywhere in its last record: NREC - 1 records, then a
 * torn tail right where the last one started (or the end, cut before
 * it). With the cut as a writer's end: the end, never torn. */
static void
test_torn_tail(void)
{
	int n, bad = 0;

	if (!FS_CHECK(write_log(2, NULL, 0) == 0, "write"))
		return;
	for (uint64_t cut = off[NREC - 1]; cut < off[NREC]; cut++) {
		logreader_problem pb;
		int res;

		if (!FS_CHECK(truncate(path, (off_t) cut) == 0, "truncate"))
			return;
		logreader *r = open_log();
		if (r == NULL)
			return;
		res = read_all(r, LOGREADER_EOF, 1, &n);
		logreader_problem_get(r, &pb);
		if (cut == off[NREC - 1] ? res != LOGREADER_END
		                         : res != LOGREADER_TORN ||
		            pb.offset != off[NREC - 1] ||
		            pb.bytes != cut - off[NREC - 1] || pb.in_header) {
			if (bad++ < 3)
				FS_CHECK(0,
				    "cut at %llu: result %d, problem at "
				    "%llu (%llu bytes): %s",
				    (unsigned long long) cut, res,
				    (unsigned long long) pb.offset,
				    (unsigned long long) pb.bytes,
				    res == LOGREADER_RECORD ? "" : pb.what);
		}
		FS_CHECK(n == NREC - 1, "cut at %llu: %d records",
		    (unsigned long long) cut, n);
		FS_CHECK(logreader_offset(r) == off[NREC - 1],
		    "the cursor moved past the torn record");
		/* A writer's end in the same place: no more data yet. */
		logreader_seek(r, 0, BASE);
		FS_ASSERT_INT_EQ(read_all(r, cut, 1, &n), LOGREADER_END);
		logreader_close(r);
		/* Restore the whole record for the next cut. */
		if (!FS_CHECK(write_log(2, NULL, 0) == 0, "write"))
			return;
	}
	FS_CHECK(bad == 0, "%d cuts judged wrong", bad);
}

static void
test_zeros_after_the_end(void)
{
	static const uint8_t zeros[8192];
	logreader_problem pb;
	int n;

	/* Whole pages a power cut did not write: torn, not damage. */
	if (!FS_CHECK(write_log(2, zeros, sizeof(zeros)) == 0, "write"))
		return;
	logreader *r = open_log();
	if (r == NULL)
		return;
	FS_ASSERT_INT_EQ(read_all(r, LOGREADER_EOF, 1, &n), LOGREADER_TORN);
	FS_ASSERT_INT_EQ(n, NREC);
	logreader_problem_get(r, &pb);
	FS_ASSERT_INT_EQ(pb.offset, off[NREC]);
	FS_ASSERT_INT_EQ(pb.bytes, sizeof(zeros));
	/* Read up to the records' end, the zeros are not looked at. */
	logreader_seek(r, 0, BASE);
	FS_ASSERT_INT_EQ(read_all(r, off[NREC], 1, &n), LOGREADER_END);
	FS_ASSERT_INT_EQ(n, NREC);
	logreader_close(r);
}

/* A bit flipped in record k (the last included): damage at its offset,
 * the records before it read, whatever end is given. */
static void
flip_case(uint64_t k, uint64_t end)
{
	logreader_problem pb;
	uint8_t b;
	int fd, n;

	if (!FS_CHECK(write_log(2, NULL, 0) == 0, "write"))
		return;
	fd = open(path, O_RDWR);
	uint64_t at = off[k - 1] + (off[k] - off[k - 1]) / 2;
	if (!FS_CHECK(fd >= 0 && pread(fd, &b, 1, (off_t) at) == 1, "read"))
		return;
	b ^= 0x10;
	FS_CHECK(pwrite(fd, &b, 1, (off_t) at) == 1, "write");
	close(fd);
	logreader *r = open_log();
	if (r == NULL)
		return;
	FS_ASSERT_INT_EQ(read_all(r, end, 1, &n), LOGREADER_CORRUPT);
	FS_ASSERT_INT_EQ(n, k - 1);
	logreader_problem_get(r, &pb);
	FS_ASSERT_INT_EQ(pb.offset, off[k - 1]);
	FS_CHECK(strstr(pb.what, "checksum") != NULL, "what: %s", pb.what);
	logreader_close(r);
}

static void
test_bit_flip(void)
{
	flip_case(NREC / 2, LOGREADER_EOF);
	flip_case(NREC, LOGREADER_EOF);
	flip_case(NREC, off[NREC]);
}

static void
test_version1(void)
{
	int n;

	if (!FS_CHECK(write_log(1, NULL, 0) == 0, "write"))
		return;
	logreader *r = open_log();
	if (r == NULL)
		return;
	FS_ASSERT_INT_EQ(read_all(r, LOGREADER_EOF, 1, &n), LOGREADER_END);
	FS_ASSERT_INT_EQ(n, NREC);
	FS_ASSERT_INT_EQ(logreader_version(r), 1);
	logreader_close(r);
}

static void
test_bad_files(void)
{
	uint8_t buf[256];
	logreader_problem pb;
	logreader_record rec;
	logreader *r;
	FILE *f;

	/* A header cut short: the file was being created. */
	f = fopen(path, "wb");
	fwrite("FLOWL", 1, 5, f);
	fclose(f);
	if ((r = open_log()) == NULL)
		return;
	FS_ASSERT_INT_EQ(logreader_next(r, 5, &rec), LOGREADER_END);
	FS_ASSERT_INT_EQ(logreader_next(r, LOGREADER_EOF, &rec),
	    LOGREADER_TORN);
	logreader_problem_get(r, &pb);
	FS_CHECK(pb.in_header && pb.bytes == 5, "header cut short");
	logreader_close(r);
	/* Not a log. */
	f = fopen(path, "wb");
	fwrite("NOTALOG!\2\0\0\0\0\0\0\0", 1, 16, f);
	fclose(f);
	if ((r = open_log()) == NULL)
		return;
	FS_ASSERT_INT_EQ(logreader_next(r, LOGREADER_EOF, &rec),
	    LOGREADER_CORRUPT);
	logreader_problem_get(r, &pb);
	FS_CHECK(pb.in_header && strstr(pb.what, "bad magic") != NULL,
	    "what: %s", pb.what);
	logreader_close(r);
	/* A version 2 log holding a record without its revision. */
	if (!FS_CHECK(write_log(2, NULL, 0) == 0, "write"))
		return;
	size_t n = encode(NREC + 1, 1, buf);
	f = fopen(path, "ab");
	fwrite(buf, 1, n, f);
	fclose(f);
	if ((r = open_log()) == NULL)
		return;
	int k;
	FS_ASSERT_INT_EQ(read_all(r, LOGREADER_EOF, 1, &k), LOGREADER_CORRUPT);
	logreader_problem_get(r, &pb);
	FS_CHECK(pb.offset == off[NREC] && strstr(pb.what, "revision"),
	    "what: %s at %llu", pb.what, (unsigned long long) pb.offset);
	logreader_close(r);
	/* No such file. */
	FS_ASSERT_INT_EQ(logreader_open(&r, AT_FDCWD, "/nonexistent/x.log", 0),
	    FS_NOT_FOUND);
}

/* ---- a writer appending while a reader follows --------------------------- */

#define LIVE_RECORDS 3000

static _Atomic uint64_t live_end;
static atomic_int live_done;

/* Appends LIVE_RECORDS records, each in two writes with a yield between;
 * every seventh is preceded by garbage written past the end and undone,
 * as the backend undoes a partial write. The end is published only once
 * a record is whole. */
static void *
writer_main(void *arg)
{
	int fd = *(int *) arg;
	uint8_t hdr[LOGFMT_LOG_HEADER], buf[256];
	uint64_t end;

	(void) arg;
	logfmt_log_header(hdr);
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t) sizeof(hdr))
		goto out;
	end = sizeof(hdr);
	atomic_store(&live_end, end);
	for (uint64_t i = 1; i <= LIVE_RECORDS; i++) {
		size_t n = encode(i, 2, buf), h = n / 3;

		if (i % 7 == 0) {
			memset(buf + 128, 0xa5, 64);
			if (pwrite(fd, buf + 128, 64, (off_t) end) != 64)
				goto out;
			sched_yield();
			if (ftruncate(fd, (off_t) end) != 0)
				goto out;
			n = encode(i, 2, buf);
		}
		if (pwrite(fd, buf, h, (off_t) end) != (ssize_t) h)
			goto out;
		sched_yield();
		if (pwrite(fd, buf + h, n - h, (off_t) (end + h)) !=
		    (ssize_t) (n - h))
			goto out;
		end += n;
		atomic_store(&live_end, end);
	}
out:
	atomic_store(&live_done, 1);
	return NULL;
}

static void
test_concurrent_writer(void)
{
	logreader_record rec;
	pthread_t thr;
	uint64_t want = 1;
	int fd, bad = 0;
	logreader *r;

	atomic_store(&live_end, 0);
	atomic_store(&live_done, 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (!FS_CHECK(fd >= 0, "create"))
		return;
	if (!FS_CHECK(logreader_open(&r, AT_FDCWD, path, BASE) == FS_OK,
	        "open")) {
		close(fd);
		return;
	}
	if (!FS_CHECK(pthread_create(&thr, NULL, writer_main, &fd) == 0,
	        "thread")) {
		close(fd);
		logreader_close(r);
		return;
	}
	for (;;) {
		int done = atomic_load(&live_done);
		uint64_t end = atomic_load(&live_end);
		int res = logreader_next(r, end, &rec);

		if (res == LOGREADER_RECORD) {
			if (rec.revision != BASE + want && bad++ < 3)
				FS_CHECK(0, "revision %llu where %llu was due",
				    (unsigned long long) rec.revision,
				    (unsigned long long) (BASE + want));
			want++;
			continue;
		}
		if (res != LOGREADER_END) {
			logreader_problem pb;

			logreader_problem_get(r, &pb);
			FS_CHECK(0, "result %d at %llu (end %llu): %s", res,
			    (unsigned long long) pb.offset,
			    (unsigned long long) end, pb.what);
			break;
		}
		if (done && end == atomic_load(&live_end))
			break;
		sched_yield();
	}
	pthread_join(thr, NULL);
	FS_CHECK(want == LIVE_RECORDS + 1, "read %llu of %d records",
	    (unsigned long long) (want - 1), LIVE_RECORDS);
	FS_CHECK(bad == 0, "%d records out of order", bad);
	close(fd);
	logreader_close(r);
}

static int
suite_init(void)
{
	if (fs_test_mkdtemp(dir, "logreader") != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/changes-000000000001.log", dir);
	return 0;
}

static int
suite_fini(void)
{
	return fs_test_rmtree(dir);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"a whole file, record by record", test_whole_file},
	    {"from a byte offset and from a revision",
	        test_from_offset_and_revision},
	    {"cut anywhere in the last record: torn; as a writer's end: "
	     "the end",
	        test_torn_tail},
	    {"zeros after the last record: torn", test_zeros_after_the_end},
	    {"a bit flipped, the last record included: damage", test_bit_flip},
	    {"version 1: revisions counted from the base", test_version1},
	    {"header cut short, bad magic, a record without revision",
	        test_bad_files},
	    {"a writer appending concurrently: every record, in order",
	        test_concurrent_writer},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"logreader", suite_init, suite_fini, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
