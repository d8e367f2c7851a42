/*
 * test_pbwire.c - the hand-written wire helpers against protobuf-c.
 */
#include <string.h>

#include "flows.pb-c.h"
#include "fs_pbwire.h"
#include "testlib.h"

static void
test_varints_round_trip(void)
{
	static const uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384,
	    (1ull << 32) - 1, 1ull << 35, (1ull << 63) - 1, 1ull << 63,
	    UINT64_MAX};

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint8_t buf[FS_PB_VARINT_MAX];
		size_t n = fs_pb_put_varint(buf, vals[i]);
		const uint8_t *p = buf;
		uint64_t v = 0;

		CU_ASSERT_EQUAL(n, fs_pb_varint_len(vals[i]));
		CU_ASSERT(n <= FS_PB_VARINT_MAX);
		CU_ASSERT_EQUAL(fs_pb_get_varint(&p, buf + n, &v), 0);
		CU_ASSERT_EQUAL(v, vals[i]);
		CU_ASSERT_PTR_EQUAL(p, buf + n);
		/* Every prefix is refused. */
		for (size_t k = 0; k < n; k++) {
			p = buf;
			CU_ASSERT_EQUAL(fs_pb_get_varint(&p, buf + k, &v), -1);
		}
	}
}

static void
test_varints_refused(void)
{
	/* Eleven bytes, and ten whose last carries bits past 64. */
	static const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x80, 0x80, 0x80, 0x00};
	static const uint8_t over[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0x02};
	const uint8_t *p = eleven;
	uint64_t v;

	CU_ASSERT_EQUAL(fs_pb_get_varint(&p, eleven + sizeof(eleven), &v), -1);
	p = over;
	CU_ASSERT_EQUAL(fs_pb_get_varint(&p, over + sizeof(over), &v), -1);
}

/* Fields written by hand decode with protobuf-c, and fields protobuf-c
 * packs are read back by fs_pb_next_field. */
static void
test_fields_match_protobuf_c(void)
{
	Flowsvc__StoredComponent sc = FLOWSVC__STORED_COMPONENT__INIT;
	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;
	uint8_t packed[512], hand[600];
	size_t plen, hlen = 0;

	c.id = "00000000-0000-4000-8000-000000000001";
	c.kind = FLOWSVC__KIND__FLOW;
	c.name = "n";
	c.group = "g";
	c.canvas_id = "00000000-0000-4000-8000-000000000002";
	c.version = 3;
	c.created_at_us = 1;
	c.updated_at_us = 2;
	plen = flowsvc__component__pack(&c, packed);
	hlen += fs_pb_put_len_field(hand + hlen, 1, packed, plen);
	hlen += fs_pb_put_varint_field(hand + hlen, 2, 1);
	hlen += fs_pb_put_varint_field(hand + hlen, 3, 1234567);

	Flowsvc__StoredComponent *back =
	    flowsvc__stored_component__unpack(NULL, hlen, hand);
	if (!FS_CHECK(back != NULL, "hand-packed StoredComponent decodes"))
		return;
	FS_ASSERT_STR_EQ(back->component->name, "n");
	CU_ASSERT_EQUAL(back->status, 1);
	CU_ASSERT_EQUAL(back->seq, 1234567);
	flowsvc__stored_component__free_unpacked(back, NULL);

	sc.component = &c;
	sc.status = FLOWSVC__STATUS__STOPPED;
	sc.seq = 99;
	uint8_t out[600];
	size_t olen = flowsvc__stored_component__pack(&sc, out);
	const uint8_t *p = out, *e = out + olen;
	fs_pb_field f;
	int seen = 0;
	while (p < e) {
		if (!FS_CHECK(fs_pb_next_field(&p, e, &f) == 0, "field"))
			return;
		if (f.num == 1) {
			CU_ASSERT_EQUAL(f.wt, FS_PB_LEN);
			CU_ASSERT_EQUAL(f.v, plen);
			CU_ASSERT(memcmp(f.data, packed, plen) == 0);
		} else if (f.num == 2) {
			CU_ASSERT_EQUAL(f.v, FLOWSVC__STATUS__STOPPED);
		} else if (f.num == 3) {
			CU_ASSERT_EQUAL(f.v, 99);
		}
		seen |= 1 << f.num;
	}
	CU_ASSERT_EQUAL(seen, 0xe);
	/* A length past the end, and field number 0, are refused. */
	static const uint8_t past[] = {0x0a, 0x05, 'a'};
	static const uint8_t zero[] = {0x00, 0x01};
	p = past;
	CU_ASSERT_EQUAL(fs_pb_next_field(&p, past + sizeof(past), &f), -1);
	p = zero;
	CU_ASSERT_EQUAL(fs_pb_next_field(&p, zero + sizeof(zero), &f), -1);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"varints round trip, prefixes refused", test_varints_round_trip},
	    {"over-long varints refused", test_varints_refused},
	    {"fields match protobuf-c", test_fields_match_protobuf_c},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"pbwire", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
