/*
 * service/persist.c: snapshots whose checksum is right but whose records
 * are not (a writer bug, or a file assembled by hand). The loader must
 * refuse them with a message naming the file, never load part of them
 * (CONTRACT §4: a corrupt snapshot is refused with a clear message). Byte
 * flips are caught by the checksum and tested in test_durability; these
 * files get past it, so they reach the record decoder (compwire) and the
 * store's duplicate check.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "crc32c.h"
#include "persist.h"
#include "svc.h"
#include "testlib.h"

#define ID_A "5b0c1e2f-8f43-4c1e-9d4a-0d1c2b3a4f5e"
#define ID_B "9a7f3c1e-2b4d-4e6f-8a0b-1c2d3e4f5a6b"

static char dir[PATH_MAX];

static void
put_le(uint8_t *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		b[i] = (uint8_t) (v >> (8 * i));
}

/* A packed StoredComponent for id; with required = 0 its Component lacks
 * canvas_id, which protobuf requires. Returns its size in buf. */
static size_t
stored(uint8_t *buf, size_t cap, const char *id, const char *name,
    int required, uint64_t seq)
{
	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;
	Flowsvc__StoredComponent sc = FLOWSVC__STORED_COMPONENT__INIT;
	uint8_t comp[512];
	size_t n, at = 0;

	c.id = (char *) id;
	c.kind = FLOWSVC__KIND__FLOW;
	c.name = (char *) name;
	c.group = (char *) "default";
	c.canvas_id = (char *) "0f8e2d3c-4b5a-4c6d-8e7f-901a2b3c4d5e";
	c.version = 1;
	sc.component = &c;
	sc.status = FLOWSVC__STATUS__NOT_DEPLOYED;
	sc.seq = seq;
	n = flowsvc__stored_component__get_packed_size(&sc);
	if (n > cap)
		return 0;
	flowsvc__stored_component__pack(&sc, buf);
	if (required)
		return n;
	/* Rebuild without field 7 (canvas_id): field 1 holds the Component,
	 * packed by hand from its own encoding minus that field. */
	n = flowsvc__component__pack(&c, comp);
	{
		uint8_t tmp[512];
		size_t m = 0;

		for (size_t i = 0; i < n;) {
			uint8_t key = comp[i];
			size_t flen = 1;

			if ((key & 7) == 2)
				flen =
				    2 + comp[i + 1]; /* lengths < 128 here */
			else
				for (flen = 2; comp[i + flen - 1] & 0x80;
				     flen++)
					;
			if ((key >> 3) != 7) {
				memcpy(tmp + m, comp + i, flen);
				m += flen;
			}
			i += flen;
		}
		buf[at++] = 0x0a;
		buf[at++] = (uint8_t) m;
		memcpy(buf + at, tmp, m);
		at += m;
	}
	buf[at++] = 0x10;
	buf[at++] = (uint8_t) sc.status;
	buf[at++] = 0x18;
	buf[at++] = (uint8_t) seq;
	return at;
}

/* Writes snapshot-000000000001.db of the given records, with a right
 * header, record framing and checksum, and the empty change log of its
 * generation (a snapshot without its log is an incomplete directory). */
static int
write_snapshot(const uint8_t *const *recs, const size_t *lens, size_t n)
{
	char path[PATH_MAX + 64];
	uint8_t hdr[24] = "FLOWSNP";
	uint8_t len4[4], crc4[4];
	uint32_t crc;
	FILE *f;

	snprintf(path, sizeof(path), "%s/snapshot-000000000001.db", dir);
	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	put_le(hdr + 8, 1, 4);
	put_le(hdr + 16, n, 8);
	crc = crc32c(0, hdr, sizeof(hdr));
	fwrite(hdr, 1, sizeof(hdr), f);
	for (size_t i = 0; i < n; i++) {
		put_le(len4, lens[i], 4);
		crc = crc32c(crc, len4, 4);
		crc = crc32c(crc, recs[i], lens[i]);
		fwrite(len4, 1, 4, f);
		fwrite(recs[i], 1, lens[i], f);
	}
	put_le(crc4, crc, 4);
	fwrite(crc4, 1, 4, f);
	if (fclose(f) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/changes-000000000001.log", dir);
	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	fwrite("FLOWLOG\0\1\0\0\0\0\0\0\0", 1, 16, f);
	return fclose(f) == 0 ? 0 : -1;
}

static int
check(persist_check *ck, persist_error *err)
{
	memset(ck, 0, sizeof(*ck));
	memset(err, 0, sizeof(*err));
	return persist_check_dir(dir, svc_apply, ck, err);
}

static void
test_good_snapshot_loads(void)
{
	uint8_t a[512], b[512];
	const uint8_t *recs[] = {a, b};
	size_t lens[] = {stored(a, sizeof(a), ID_A, "one", 1, 1),
	    stored(b, sizeof(b), ID_B, "two", 1, 2)};
	persist_check ck;
	persist_error err;

	if (!FS_CHECK(write_snapshot(recs, lens, 2) == 0, "write"))
		return;
	FS_CHECK(check(&ck, &err) == 0, "refused: %s at %llu: %s", err.path,
	    (unsigned long long) err.offset, err.what);
	FS_ASSERT_INT_EQ(ck.snapshot_records, 2);
	FS_ASSERT_INT_EQ(ck.flows, 2);
}

static void
test_record_missing_a_field(void)
{
	uint8_t a[512], b[512];
	const uint8_t *recs[] = {a, b};
	size_t lens[] = {stored(a, sizeof(a), ID_A, "one", 1, 1),
	    stored(b, sizeof(b), ID_B, "two", 0, 2)};
	persist_check ck;
	persist_error err;

	if (!FS_CHECK(lens[1] > 0 && write_snapshot(recs, lens, 2) == 0,
	        "write"))
		return;
	FS_CHECK(check(&ck, &err) != 0, "a record without canvas_id loaded");
	FS_CHECK(strstr(err.what, "undecodable record") != NULL &&
	        strstr(err.path, "snapshot-000000000001.db") != NULL &&
	        err.offset == 24 + 4 + lens[0],
	    "message: %s at %llu of %s", err.what,
	    (unsigned long long) err.offset, err.path);
}

static void
test_duplicate_id(void)
{
	uint8_t a[512], b[512];
	const uint8_t *recs[] = {a, b};
	size_t lens[] = {stored(a, sizeof(a), ID_A, "one", 1, 1),
	    stored(b, sizeof(b), ID_A, "two", 1, 2)};
	persist_check ck;
	persist_error err;

	if (!FS_CHECK(write_snapshot(recs, lens, 2) == 0, "write"))
		return;
	FS_CHECK(check(&ck, &err) != 0, "the same id twice loaded");
	FS_CHECK(strstr(err.what, "duplicate id") != NULL, "message: %s",
	    err.what);
}

static int
suite_init(void)
{
	return fs_test_mkdtemp(dir, "snaprec");
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
	    {"a well-formed hand-made snapshot loads",
	        test_good_snapshot_loads},
	    {"a record missing a required field: refused, with its offset",
	        test_record_missing_a_field},
	    {"the same id twice: refused", test_duplicate_id},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"snapshot records", suite_init, suite_fini, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
