/* service/repl_sync.c: --sync-replicas' acknowledgements. A change's wait
 * ends once N followers in touch have written its revision (the Nth
 * highest of their revisions), not before; a follower's later, lower
 * revision (it restarted from an older state) counts for what it says
 * now; a follower without a name does not count; waits end expired at
 * their time, and at shutdown. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "fs_errors.h"
#include "fs_util.h"
#include "repl_sync.h"
#include "testlib.h"

struct done {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ran, expired;
};

static void
done_fn(void *arg, int expired)
{
	struct done *d = arg;

	pthread_mutex_lock(&d->mu);
	d->ran++;
	d->expired = expired;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

static void
done_init(struct done *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
}

/* Waits up to ms for d to run. Returns d->ran. */
static int
done_wait(struct done *d, int ms)
{
	int64_t end = fs_test_now_ms() + ms;

	pthread_mutex_lock(&d->mu);
	while (!d->ran && fs_test_now_ms() < end) {
		pthread_mutex_unlock(&d->mu);
		fs_test_poll_pause(5);
		pthread_mutex_lock(&d->mu);
	}
	int ran = d->ran;
	pthread_mutex_unlock(&d->mu);
	return ran;
}

static int
ran(struct done *d)
{
	pthread_mutex_lock(&d->mu);
	int r = d->ran;
	pthread_mutex_unlock(&d->mu);
	return r;
}

static void
test_nth_highest(void)
{
	repl_sync *y = NULL;
	struct done a, b;

	FS_ASSERT_INT_EQ(repl_sync_new(&y, 2), FS_OK);
	FS_ASSERT_INT_EQ(repl_sync_n(y), 2);
	done_init(&a);
	done_init(&b);
	int64_t far = fs_now_ms() + 60000;
	FS_ASSERT_INT_EQ(repl_sync_wait(y, 10, far, done_fn, &a), FS_OK);
	FS_ASSERT_INT_EQ(repl_sync_wait(y, 20, far, done_fn, &b), FS_OK);

	/* One follower far ahead is not two. */
	repl_sync_ack(y, "r1", 50);
	FS_ASSERT_INT_EQ((long long) repl_sync_connected(y), 1);
	fs_test_poll_pause(50);
	FS_ASSERT_INT_EQ(ran(&a), 0);
	/* A second at 15: the 2nd highest is 15: the wait for 10 ends, the
	 * one for 20 does not. */
	repl_sync_ack(y, "r2", 15);
	FS_ASSERT_INT_EQ(done_wait(&a, 5000), 1);
	FS_ASSERT_INT_EQ(a.expired, 0);
	fs_test_poll_pause(50);
	FS_ASSERT_INT_EQ(ran(&b), 0);
	/* The same follower again, further: both have 20 now. */
	repl_sync_ack(y, "r2", 25);
	FS_ASSERT_INT_EQ(done_wait(&b, 5000), 1);
	FS_ASSERT_INT_EQ(b.expired, 0);
	FS_ASSERT_INT_EQ((long long) repl_sync_connected(y), 2);
	FS_ASSERT_INT_EQ((long long) repl_sync_timeouts(y), 0);

	/* r2 restarted from an older state: it counts for what it has now,
	 * so a wait for 22 (below what both had) needs it to get there
	 * again. */
	struct done c;
	done_init(&c);
	repl_sync_ack(y, "r2", 5);
	FS_ASSERT_INT_EQ(repl_sync_wait(y, 22, far, done_fn, &c), FS_OK);
	fs_test_poll_pause(50);
	FS_ASSERT_INT_EQ(ran(&c), 0);
	repl_sync_ack(y, "r2", 22);
	FS_ASSERT_INT_EQ(done_wait(&c, 5000), 1);
	FS_ASSERT_INT_EQ(c.expired, 0);
	repl_sync_free(y);
}

static void
test_deadline_and_shutdown(void)
{
	repl_sync *y = NULL;
	struct done a, b;

	FS_ASSERT_INT_EQ(repl_sync_new(&y, 1), FS_OK);
	done_init(&a);
	done_init(&b);
	/* Nobody acknowledges: expired at its time. */
	int64_t t0 = fs_test_now_ms();
	FS_ASSERT_INT_EQ(repl_sync_wait(y, 5, fs_now_ms() + 200, done_fn, &a),
	    FS_OK);
	FS_ASSERT_INT_EQ(done_wait(&a, 5000), 1);
	FS_ASSERT_INT_EQ(a.expired, 1);
	FS_CHECK(fs_test_now_ms() - t0 >= 150, "expired after %lld ms",
	    (long long) (fs_test_now_ms() - t0));
	/* A follower with no name does not count. */
	repl_sync_ack(y, "", 100);
	repl_sync_ack(y, NULL, 100);
	FS_ASSERT_INT_EQ((long long) repl_sync_connected(y), 0);
	/* At shutdown, a wait ends expired; none is taken after. */
	FS_ASSERT_INT_EQ(repl_sync_wait(y, 5, fs_now_ms() + 60000, done_fn,
	                     &b),
	    FS_OK);
	repl_sync_quiesce(y);
	FS_ASSERT_INT_EQ(done_wait(&b, 5000), 1);
	FS_ASSERT_INT_EQ(b.expired, 1);
	FS_ASSERT_INT_EQ(repl_sync_wait(y, 5, fs_now_ms() + 60000, done_fn,
	                     &b),
	    FS_UNAVAILABLE);
	repl_sync_free(y);
}

static void
test_already_acknowledged(void)
{
	repl_sync *y = NULL;
	struct done a;

	FS_ASSERT_INT_EQ(repl_sync_new(&y, 1), FS_OK);
	done_init(&a);
	repl_sync_ack(y, "r1", 40);
	/* A revision the follower already has: at once. */
	FS_ASSERT_INT_EQ(repl_sync_wait(y, 30, fs_now_ms() + 60000, done_fn,
	                     &a),
	    FS_OK);
	FS_ASSERT_INT_EQ(done_wait(&a, 5000), 1);
	FS_ASSERT_INT_EQ(a.expired, 0);
	repl_sync_free(y);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"the Nth highest follower revision", test_nth_highest},
	{"deadline and shutdown", test_deadline_and_shutdown},
	{"already acknowledged", test_already_acknowledged},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"repl_sync", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
