/*
 * test_srv_pipes.c - the RPC server's table of connections (proto/
 * fs_srv_pipes): a request counts only for a connection known since nng's
 * ADD_PRE and not gone (REM_POST); a gone connection's entry lasts until
 * its last request in progress is released, and refuses new ones
 * meanwhile; the caps of ordinary requests and of long polls (per
 * connection, in all) and their release; growth past many connections.
 */
#include <stdbool.h>
#include <stdint.h>

#include "fs_srv_pipes.h"
#include "testlib.h"

static void
test_known_and_gone(void)
{
	fs_srv_pipes t;

	FS_ASSERT_INT_EQ(fs_srv_pipes_init(&t, 4, 0, 10, 100), 0);
	/* Never added (ADD_PRE not seen, or REM_POST already gone). */
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 7, false), FS_PIPE_CLOSED);
	FS_ASSERT_INT_EQ(fs_srv_pipes_gone_now(&t, 7), 1);
	FS_ASSERT_INT_EQ(fs_srv_pipes_add(&t, 7), 0);
	FS_ASSERT_INT_EQ(fs_srv_pipes_gone_now(&t, 7), 0);
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 7, false), FS_PIPE_OK);
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 7, true), FS_PIPE_OK);
	FS_ASSERT_INT_EQ(t.nblocking, 1);
	/* Gone with two in progress: they are still counted, new ones are
	 * refused. */
	FS_ASSERT_INT_EQ(fs_srv_pipes_gone(&t, 7), 1);
	FS_ASSERT_INT_EQ(fs_srv_pipes_gone_now(&t, 7), 1);
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 7, true), FS_PIPE_CLOSED);
	FS_ASSERT_INT_EQ(t.used, 1);
	fs_srv_pipes_release(&t, 7, true);
	FS_ASSERT_INT_EQ(t.nblocking, 0);
	FS_ASSERT_INT_EQ(t.used, 1);
	fs_srv_pipes_release(&t, 7, false);
	FS_ASSERT_INT_EQ(t.used, 0);
	/* Gone with nothing in progress: forgotten at once. */
	FS_ASSERT_INT_EQ(fs_srv_pipes_add(&t, 8), 0);
	FS_ASSERT_INT_EQ(fs_srv_pipes_gone(&t, 8), 0);
	FS_ASSERT_INT_EQ(t.used, 0);
	FS_ASSERT_INT_EQ(fs_srv_pipes_gone(&t, 8), 0);
	FS_ASSERT_INT_EQ(fs_srv_pipes_add(&t, 0), -1);
	fs_srv_pipes_fini(&t);
}

static void
test_caps(void)
{
	fs_srv_pipes t;

	FS_ASSERT_INT_EQ(fs_srv_pipes_init(&t, 4, 2, 2, 3), 0);
	FS_ASSERT_INT_EQ(fs_srv_pipes_add(&t, 1), 0);
	FS_ASSERT_INT_EQ(fs_srv_pipes_add(&t, 2), 0);
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 1, true), FS_PIPE_OK);
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 1, true), FS_PIPE_OK);
	/* Over the connection's cap of long polls: counted as ordinary. */
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 1, true),
	    FS_PIPE_BLOCKING_CONN);
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 2, true), FS_PIPE_OK);
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 2, true), FS_PIPE_BLOCKING_ALL);
	/* Connection 1 has two ordinary ones now (its cap): shed. */
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 1, false), FS_PIPE_OK);
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 1, false), FS_PIPE_SHED_FIRST);
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 1, false), FS_PIPE_SHED);
	/* A long poll released: its place serves another connection. */
	fs_srv_pipes_release(&t, 1, true);
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 2, true), FS_PIPE_OK);
	FS_ASSERT_INT_EQ(t.nblocking, 3);
	FS_ASSERT_INT_EQ(fs_srv_pipes_mark_closed(&t, 2), 1);
	FS_ASSERT_INT_EQ(fs_srv_pipes_mark_closed(&t, 2), 0);
	FS_ASSERT_INT_EQ(fs_srv_pipes_take(&t, 2, false), FS_PIPE_CLOSED);
	fs_srv_pipes_fini(&t);
}

/* Thousands of connections, added and gone in an order that moves
 * entries around: every one is found until it is gone. */
static void
test_many(void)
{
	fs_srv_pipes t;
	enum { N = 5000 };

	FS_ASSERT_INT_EQ(fs_srv_pipes_init(&t, 1, 0, 10, 100000), 0);
	for (uint32_t id = 1; id <= N; id++)
		if (fs_srv_pipes_add(&t, id * 7919u) != 0)
			FS_CHECK(0, "add %u", (unsigned) id);
	FS_ASSERT_INT_EQ(t.used, N);
	FS_CHECK(t.used * 2 <= t.mask + 1, "%zu in %zu slots", t.used,
	    t.mask + 1);
	for (uint32_t id = 1; id <= N; id += 2)
		fs_srv_pipes_gone(&t, id * 7919u);
	int bad = 0;
	for (uint32_t id = 1; id <= N; id++)
		bad += fs_srv_pipes_gone_now(&t, id * 7919u) != (int) (id & 1);
	FS_ASSERT_INT_EQ(bad, 0);
	FS_ASSERT_INT_EQ(t.used, N / 2);
	fs_srv_pipes_fini(&t);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"known from ADD_PRE, gone at REM_POST", test_known_and_gone},
	{"caps of requests and long polls", test_caps},
	{"thousands of connections", test_many},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"fs_srv_pipes", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
