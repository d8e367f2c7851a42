/*
 * service/logfmt.c: the data directory's format. A record encoded with
 * its revision decodes to the same op and revision (protobuf-c agrees);
 * every proper prefix of a record is cut short (torn), never damage; any
 * one bit flipped in a complete record is damage, never a good or a short
 * record; file headers of both versions; version 1 records count on from
 * the previous revision; a snapshot record packed by hand is the bytes
 * protobuf-c packs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "fs_errors.h"
#include "logfmt.h"
#include "testlib.h"

#define ID_A "5b0c1e2f-8f43-4c1e-9d4a-0d1c2b3a4f5e"
#define CANVAS "0f8e2d3c-4b5a-4c6d-8e7f-901a2b3c4d5e"

static Flowsvc__Component comp = FLOWSVC__COMPONENT__INIT;
static Flowsvc__StoredComponent stored = FLOWSVC__STORED_COMPONENT__INIT;
static Flowsvc__StatusChange change = FLOWSVC__STATUS_CHANGE__INIT;
static char *inputs[] = {(char *) "question", (char *) "context"};

/* The three kinds of record, filled in turn by k. */
static void
record(int k, Flowsvc__LogRecord *rec)
{
	flowsvc__log_record__init(rec);
	comp.id = (char *) ID_A;
	comp.kind = FLOWSVC__KIND__FLOW;
	comp.name = (char *) "answer";
	comp.group = (char *) "default";
	comp.canvas_id = (char *) CANVAS;
	comp.n_input_fields = 2;
	comp.input_fields = inputs;
	comp.version = 3;
	comp.created_at_us = 1700000000000000;
	comp.updated_at_us = 1700000000000001;
	stored.component = &comp;
	stored.status = FLOWSVC__STATUS__STARTED;
	stored.seq = 42;
	change.id = (char *) ID_A;
	change.status = FLOWSVC__STATUS__STOPPED;
	switch (k % 3) {
	case 0:
		rec->op_case = FLOWSVC__LOG_RECORD__OP_PUT;
		rec->put = &stored;
		break;
	case 1:
		rec->op_case = FLOWSVC__LOG_RECORD__OP_DELETE_ID;
		rec->delete_id = (char *) ID_A;
		break;
	default:
		rec->op_case = FLOWSVC__LOG_RECORD__OP_STATUS;
		rec->status = &change;
		break;
	}
}

static const uint64_t revisions[] = {1, 2, 127, 128, 16383, 16384,
    (uint64_t) 1 << 32, UINT64_MAX};
#define NREV (sizeof(revisions) / sizeof(revisions[0]))

/* rec packed without its revision: what two records must share. */
static size_t
pack_op(const Flowsvc__LogRecord *rec, uint8_t *out)
{
	Flowsvc__LogRecord r = *rec;

	r.has_revision = 0;
	return flowsvc__log_record__pack(&r, out);
}

static void
test_round_trip(void)
{
	uint8_t buf[1024], a[1024], b[1024];

	for (int k = 0; k < 3; k++) {
		for (size_t i = 0; i < NREV; i++) {
			Flowsvc__LogRecord rec, *got = NULL;
			uint64_t rev = 0;
			uint32_t len = 0;
			size_t n;

			record(k, &rec);
			rec.has_revision =
			    1; /* ignored: the argument counts */
			rec.revision = 99;
			n = logfmt_record_size(&rec, revisions[i]);
			if (!FS_CHECK(n <= sizeof(buf), "size %zu", n))
				return;
			FS_ASSERT_INT_EQ(logfmt_record_encode(&rec,
			                     revisions[i], buf),
			    n);
			FS_ASSERT_INT_EQ(logfmt_frame_check(buf, n, &len),
			    LOGFMT_FRAME_OK);
			FS_ASSERT_INT_EQ(len + LOGFMT_REC_HEADER, n);
			FS_ASSERT_INT_EQ(logfmt_record_revision(buf +
			                         LOGFMT_REC_HEADER,
			                     len, &rev),
			    FS_OK);
			FS_CHECK(rev == revisions[i],
			    "revision %llu, wrote %llu",
			    (unsigned long long) rev,
			    (unsigned long long) revisions[i]);
			/* The revision comes first in the payload. */
			FS_CHECK(buf[LOGFMT_REC_HEADER] == 0x20,
			    "first key %#x", buf[LOGFMT_REC_HEADER]);
			if (!FS_ASSERT_INT_EQ(logfmt_record_decode(buf +
			                              LOGFMT_REC_HEADER,
			                          len, 2, 0, &got),
			        FS_OK))
				continue;
			FS_CHECK(got->has_revision &&
			        got->revision == revisions[i],
			    "decoded revision %llu",
			    (unsigned long long) got->revision);
			FS_ASSERT_INT_EQ(got->op_case, rec.op_case);
			size_t na = pack_op(&rec, a), nb = pack_op(got, b);
			FS_CHECK(na == nb && memcmp(a, b, na) == 0,
			    "record %d: the op differs after the round trip",
			    k);
			flowsvc__log_record__free_unpacked(got, NULL);
		}
	}
}

static void
test_prefixes_are_short(void)
{
	uint8_t buf[1024];
	Flowsvc__LogRecord rec;
	uint32_t len;

	for (int k = 0; k < 3; k++) {
		record(k, &rec);
		size_t n =
		    logfmt_record_encode(&rec, 1000 + (uint64_t) k, buf);
		int bad = 0;

		for (size_t i = 0; i < n; i++) {
			enum logfmt_frame f = logfmt_frame_check(buf, i, &len);

			if (f != LOGFMT_FRAME_SHORT && bad++ < 3)
				FS_CHECK(0,
				    "record %d cut to %zu of %zu bytes: "
				    "%s, not cut short",
				    k, i, n, logfmt_frame_what(f, 0));
		}
		FS_CHECK(bad == 0, "%d prefixes judged wrong", bad);
	}
}

static void
test_bit_flips_are_damage(void)
{
	uint8_t buf[1024];
	Flowsvc__LogRecord rec;
	uint32_t len;

	for (int k = 0; k < 3; k++) {
		record(k, &rec);
		size_t n = logfmt_record_encode(&rec, 77, buf);
		int bad = 0;

		for (size_t bit = 0; bit < n * 8; bit++) {
			buf[bit / 8] ^= (uint8_t) (1u << (bit % 8));
			enum logfmt_frame f = logfmt_frame_check(buf, n, &len);
			buf[bit / 8] ^= (uint8_t) (1u << (bit % 8));
			if ((f == LOGFMT_FRAME_OK ||
			        f == LOGFMT_FRAME_SHORT) &&
			    bad++ < 3)
				FS_CHECK(0, "record %d, bit %zu flipped: %s",
				    k, bit, logfmt_frame_what(f, 0));
		}
		FS_CHECK(bad == 0, "%d flips not seen as damage", bad);
		FS_ASSERT_INT_EQ(logfmt_frame_check(buf, n, &len),
		    LOGFMT_FRAME_OK);
	}
}

static void
test_log_headers(void)
{
	uint8_t h[LOGFMT_LOG_HEADER];
	static const uint8_t v1[LOGFMT_LOG_HEADER] = "FLOWLOG\0\1\0\0\0";
	uint32_t v = 0;

	logfmt_log_header(h);
	FS_ASSERT_INT_EQ(logfmt_log_header_check(h, sizeof(h), &v),
	    LOGFMT_HEADER_OK);
	FS_ASSERT_INT_EQ(v, 2);
	FS_ASSERT_INT_EQ(logfmt_log_header_check(v1, sizeof(v1), &v),
	    LOGFMT_HEADER_OK);
	FS_ASSERT_INT_EQ(v, 1);
	for (size_t i = 0; i < sizeof(h); i++)
		FS_CHECK(logfmt_log_header_check(h, i, &v) ==
		        LOGFMT_HEADER_SHORT,
		    "a header cut to %zu bytes", i);
	h[8] = 3;
	FS_ASSERT_INT_EQ(logfmt_log_header_check(h, sizeof(h), &v),
	    LOGFMT_HEADER_BAD_VERSION);
	FS_ASSERT_INT_EQ(v, 3);
	h[8] = 2;
	h[2] = 'X';
	FS_ASSERT_INT_EQ(logfmt_log_header_check(h, sizeof(h), &v),
	    LOGFMT_HEADER_BAD_MAGIC);
	FS_ASSERT_INT_EQ(logfmt_log_header_check(h, 5, &v),
	    LOGFMT_HEADER_BAD_MAGIC);
}

static void
test_snapshot_headers(void)
{
	uint8_t h[LOGFMT_SNAP_HEADER_V2];
	uint8_t v1[LOGFMT_SNAP_HEADER_V1] = "FLOWSNP\0\1\0\0\0\0\0\0\0\7";
	logfmt_snap_header sh;

	FS_ASSERT_INT_EQ(logfmt_snap_header_put(h, 12345, 987654321),
	    LOGFMT_SNAP_HEADER_V2);
	FS_ASSERT_INT_EQ(logfmt_snap_header_check(h, sizeof(h), &sh),
	    LOGFMT_HEADER_OK);
	FS_ASSERT_INT_EQ(sh.version, 2);
	FS_ASSERT_INT_EQ(sh.size, LOGFMT_SNAP_HEADER_V2);
	FS_ASSERT_INT_EQ(sh.count, 12345);
	FS_ASSERT_INT_EQ(sh.revision, 987654321);
	FS_ASSERT_INT_EQ(logfmt_snap_header_check(h, sizeof(h) - 1, &sh),
	    LOGFMT_HEADER_SHORT);
	/* Version 1: 24 bytes, no revision (revision 0). */
	FS_ASSERT_INT_EQ(logfmt_snap_header_check(v1, sizeof(v1), &sh),
	    LOGFMT_HEADER_OK);
	FS_ASSERT_INT_EQ(sh.version, 1);
	FS_ASSERT_INT_EQ(sh.size, LOGFMT_SNAP_HEADER_V1);
	FS_ASSERT_INT_EQ(sh.count, 7);
	FS_ASSERT_INT_EQ(sh.revision, 0);
	v1[8] = 9;
	FS_ASSERT_INT_EQ(logfmt_snap_header_check(v1, sizeof(v1), &sh),
	    LOGFMT_HEADER_BAD_VERSION);
	FS_ASSERT_INT_EQ(sh.version, 9);
	h[0] = 'X';
	FS_ASSERT_INT_EQ(logfmt_snap_header_check(h, sizeof(h), &sh),
	    LOGFMT_HEADER_BAD_MAGIC);
}

static void
test_version1_records(void)
{
	uint8_t payload[512];
	Flowsvc__LogRecord rec, *got = NULL;
	uint64_t rev = 0;

	/* A version 1 record: the LogRecord with no revision at all. */
	record(0, &rec);
	size_t n = flowsvc__log_record__pack(&rec, payload);
	FS_ASSERT_INT_EQ(logfmt_record_revision(payload, n, &rev),
	    FS_NOT_FOUND);
	if (FS_ASSERT_INT_EQ(logfmt_record_decode(payload, n, 1, 41, &got),
	        FS_OK)) {
		FS_CHECK(got->has_revision && got->revision == 42,
		    "version 1 record after 41 got %llu",
		    (unsigned long long) got->revision);
		flowsvc__log_record__free_unpacked(got, NULL);
	}
	/* In a version 2 log it is a record without its revision. */
	FS_ASSERT_INT_EQ(logfmt_record_decode(payload, n, 2, 41, &got),
	    FS_DATA_LOSS);
	/* Field 4 of the wrong wire type, or a broken message. */
	payload[n] = 0x22; /* field 4, length-delimited */
	payload[n + 1] = 0;
	FS_ASSERT_INT_EQ(logfmt_record_revision(payload, n + 2, &rev),
	    FS_DATA_LOSS);
	payload[n] = 0x20;
	FS_ASSERT_INT_EQ(logfmt_record_revision(payload, n + 1, &rev),
	    FS_DATA_LOSS);
}

static void
test_snapshot_record(void)
{
	uint8_t want[1024], got[1024], cbuf[1024];
	uint8_t pre[LOGFMT_SNAP_PRE_MAX], suf[LOGFMT_SNAP_SUF_MAX];
	Flowsvc__LogRecord rec;
	logfmt_snap_rec r;
	size_t pl, sl;

	record(0, &rec);
	for (size_t i = 0; i < NREV; i++) {
		stored.seq = revisions[i];
		stored.status = (Flowsvc__Status) (i % 3);
		size_t wn = flowsvc__stored_component__pack(&stored, want);
		size_t cn = flowsvc__component__pack(&comp, cbuf);

		logfmt_snap_record(cn, (uint64_t) stored.status, stored.seq,
		    pre, &pl, suf, &sl);
		memcpy(got, pre + 4, pl - 4);
		memcpy(got + pl - 4, cbuf, cn);
		memcpy(got + pl - 4 + cn, suf, sl);
		FS_CHECK(pl - 4 + cn + sl == wn && memcmp(got, want, wn) == 0,
		    "seq %llu: the hand-packed StoredComponent differs from "
		    "protobuf-c's",
		    (unsigned long long) stored.seq);
		FS_ASSERT_INT_EQ(logfmt_get_u32(pre), wn);
		if (!FS_ASSERT_INT_EQ(logfmt_snap_record_scan(want, wn, &r),
		        FS_OK))
			continue;
		FS_ASSERT_INT_EQ(r.seq, stored.seq);
		FS_ASSERT_INT_EQ(r.status, (uint64_t) stored.status);
		FS_ASSERT_INT_EQ(r.comp_len, cn);
		FS_CHECK(memcmp(want + r.comp_off, cbuf, cn) == 0,
		    "component bytes");
		/* Missing its seq, or with an unknown field: refused. */
		FS_ASSERT_INT_EQ(logfmt_snap_record_scan(want,
		                     wn - fs_pb_varint_len(stored.seq) - 1,
		                     &r),
		    FS_DATA_LOSS);
	}
	want[0] = 0x08; /* field 1 as a varint */
	FS_ASSERT_INT_EQ(logfmt_snap_record_scan(want, 2, &r), FS_DATA_LOSS);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"encode and decode: the same op and revision", test_round_trip},
	    {"every prefix of a record is cut short, not damage",
	        test_prefixes_are_short},
	    {"any bit flipped in a complete record is damage",
	        test_bit_flips_are_damage},
	    {"log headers of versions 1 and 2", test_log_headers},
	    {"snapshot headers of versions 1 and 2", test_snapshot_headers},
	    {"version 1 records take the previous revision + 1",
	        test_version1_records},
	    {"a snapshot record packed by hand is protobuf-c's",
	        test_snapshot_record},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"logfmt", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
