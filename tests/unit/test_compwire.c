/*
 * service/compwire.c against protobuf-c, the decoder it stands in for when
 * a snapshot loads: the same id, kind, name, group and flows on every
 * message protobuf-c packs; every prefix of a message judged as protobuf-c
 * judges it; and on damaged bytes, never accepting what protobuf-c
 * refuses, nor disagreeing with it on what both accept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "compwire.h"
#include "testlib.h"

static uint32_t rng = 12345;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static void
rand_str(char *out, size_t max)
{
	size_t n = 1 + rnd() % (max - 1);

	for (size_t i = 0; i < n; i++)
		out[i] = (char) ('a' + rnd() % 26);
	out[n] = '\0';
}

/* A packed Component with random content; *len its size. Caller frees. */
static uint8_t *
pack_random(size_t *len)
{
	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;
	char id[37] = "5b0c1e2f-8f43-4c1e-9d4a-0d1c2b3a4f5e";
	char canvas[37] = "0f8e2d3c-4b5a-4c6d-8e7f-901a2b3c4d5e";
	char name[101], group[101], f[4][37], in[3][20];
	char *flows[4], *ins[3];
	uint8_t *buf;

	rand_str(name, sizeof(name));
	rand_str(group, sizeof(group));
	c.id = id;
	c.canvas_id = canvas;
	c.kind = rnd() % 2 ? FLOWSVC__KIND__APP : FLOWSVC__KIND__FLOW;
	c.name = name;
	c.group = group;
	c.n_flows = rnd() % 5;
	for (size_t i = 0; i < c.n_flows; i++) {
		snprintf(f[i], sizeof(f[i]), "%08x-0000-4000-8000-%012x",
		    rnd(), rnd());
		flows[i] = f[i];
	}
	c.flows = flows;
	c.n_input_fields = rnd() % 4;
	for (size_t i = 0; i < c.n_input_fields; i++) {
		rand_str(in[i], sizeof(in[i]));
		ins[i] = in[i];
	}
	c.input_fields = ins;
	c.version = rnd();
	c.created_at_us = (int64_t) rnd() << 20;
	c.updated_at_us = -1; /* ten-byte varint */
	*len = flowsvc__component__get_packed_size(&c);
	if ((buf = malloc(*len)) != NULL)
		flowsvc__component__pack(&c, buf);
	return buf;
}

/* compwire's view of wire equals protobuf-c's, field by field. */
static int
same(const compwire *w, const Flowsvc__Component *pb)
{
	if (strcmp(w->msg.id, pb->id) != 0 || w->msg.kind != pb->kind ||
	    strcmp(w->msg.name, pb->name) != 0 ||
	    strcmp(w->msg.group, pb->group) != 0 ||
	    w->msg.n_flows != pb->n_flows)
		return 0;
	for (size_t i = 0; i < pb->n_flows; i++)
		if (strcmp(w->msg.flows[i], pb->flows[i]) != 0)
			return 0;
	return 1;
}

static void
test_agrees_on_packed_messages(void)
{
	compwire w = COMPWIRE_INIT;

	for (int t = 0; t < 2000; t++) {
		size_t len;
		uint8_t *buf = pack_random(&len);
		Flowsvc__Component *pb;

		if (!FS_CHECK(buf != NULL, "pack"))
			break;
		pb = flowsvc__component__unpack(NULL, len, buf);
		FS_CHECK(pb != NULL && compwire_decode(&w, buf, len) == 0 &&
		        same(&w, pb),
		    "message %d (%zu bytes) decoded as protobuf-c does", t,
		    len);
		flowsvc__component__free_unpacked(pb, NULL);
		free(buf);
	}
	compwire_fini(&w);
}

static void
test_prefixes(void)
{
	compwire w = COMPWIRE_INIT;

	for (int t = 0; t < 200; t++) {
		size_t len;
		uint8_t *buf = pack_random(&len);

		if (!FS_CHECK(buf != NULL, "pack"))
			break;
		for (size_t n = 0; n <= len; n++) {
			Flowsvc__Component *pb =
			    flowsvc__component__unpack(NULL, n, buf);
			int rv = compwire_decode(&w, buf, n);

			FS_CHECK((rv == 0) == (pb != NULL),
			    "prefix %zu of %zu: compwire %d, protobuf-c %s", n,
			    len, rv, pb ? "accepts" : "refuses");
			flowsvc__component__free_unpacked(pb, NULL);
		}
		free(buf);
	}
	compwire_fini(&w);
}

static void
test_damaged_bytes(void)
{
	compwire w = COMPWIRE_INIT;
	int accepted = 0;

	for (int t = 0; t < 3000; t++) {
		size_t len;
		uint8_t *buf = pack_random(&len);
		Flowsvc__Component *pb;
		int rv;

		if (!FS_CHECK(buf != NULL, "pack"))
			break;
		for (int k = 1 + (int) (rnd() % 3); k > 0; k--)
			buf[rnd() % len] = (uint8_t) rnd();
		pb = flowsvc__component__unpack(NULL, len, buf);
		rv = compwire_decode(&w, buf, len);
		if (rv == 0) {
			accepted++;
			FS_CHECK(pb != NULL && same(&w, pb),
			    "damaged message %d: compwire accepts what "
			    "protobuf-c %s",
			    t, pb ? "reads differently" : "refuses");
		}
		flowsvc__component__free_unpacked(pb, NULL);
		free(buf);
	}
	/* Damage inside string contents keeps most messages valid. */
	FS_CHECK(accepted > 100, "only %d damaged messages accepted",
	    accepted);
	compwire_fini(&w);
}

static void
test_refusals(void)
{
	compwire w = COMPWIRE_INIT;
	/* id "a", kind 1, name "n", group "g", canvas "c", version,
	 * created, updated: the smallest valid message. */
	static const uint8_t ok[] = {0x0a, 1, 'a', 0x10, 1, 0x1a, 1, 'n', 0x22,
	    1, 'g', 0x3a, 1, 'c', 0x48, 1, 0x50, 1, 0x58, 1};
	uint8_t b[sizeof(ok) + 8];

	FS_ASSERT_INT_EQ(compwire_decode(&w, ok, sizeof(ok)), 0);
	FS_ASSERT_STR_EQ(w.msg.name, "n");
	/* A required field missing (no updated_at). */
	FS_ASSERT_INT_EQ(compwire_decode(&w, ok, sizeof(ok) - 2),
	    FS_DATA_LOSS);
	/* name as a varint: the wrong wire type. */
	memcpy(b, ok, sizeof(ok));
	b[5] = 0x18;
	FS_ASSERT_INT_EQ(compwire_decode(&w, b, sizeof(ok)), FS_DATA_LOSS);
	/* A NUL inside the name. */
	memcpy(b, ok, sizeof(ok));
	b[7] = '\0';
	FS_ASSERT_INT_EQ(compwire_decode(&w, b, sizeof(ok)), FS_DATA_LOSS);
	/* Field number 0. */
	b[0] = 0x02;
	FS_ASSERT_INT_EQ(compwire_decode(&w, b, 1), FS_DATA_LOSS);
	/* An unknown field (number 15, fixed32) is skipped. */
	memcpy(b, ok, sizeof(ok));
	memcpy(b + sizeof(ok), "\x7d\x01\x02\x03\x04", 5);
	FS_ASSERT_INT_EQ(compwire_decode(&w, b, sizeof(ok) + 5), 0);
	/* ... but not a group (wire type 3). */
	b[sizeof(ok)] = 0x7b;
	FS_ASSERT_INT_EQ(compwire_decode(&w, b, sizeof(ok) + 1), FS_DATA_LOSS);
	compwire_fini(&w);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"same fields as protobuf-c on packed messages",
	        test_agrees_on_packed_messages},
	    {"every prefix judged as protobuf-c judges it", test_prefixes},
	    {"damaged bytes: never accepts what protobuf-c refuses",
	        test_damaged_bytes},
	    {"missing, mistyped, NUL, unknown fields", test_refusals},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"compwire", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
