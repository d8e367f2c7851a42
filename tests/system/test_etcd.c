/*
 * test_etcd.c - service/etcd.c (the coordinator's etcd v3 client)
 * against real etcd members on loopback: leases (grant, keepalive, a
 * revoked lease's TTL of 0 and its keys gone), the put that creates a
 * key only when absent (and says who holds it), reads of a key and of a
 * prefix, a delete only of the key created at a revision, watches that
 * answer at a change and end at their wait, a member that does not
 * answer skipped for the next, and every call bounded when none answers.
 */
#define _GNU_SOURCE

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "testlib.h"

static fs_test_etcd ec;
static char dir[PATH_MAX];

static int
suite_init(void)
{
	if (!fs_etcd_available()) {
		fprintf(stderr, "etcd is not installed (tools/deps.sh)\n");
		return -1;
	}
	if (etcd_global_init() != 0 ||
	    fs_test_mkdtemp(dir, "test_etcd") != 0 ||
	    fs_etcd_start(&ec, dir, 1) != 0)
		return -1;
	return 0;
}

static int
suite_fini(void)
{
	fs_etcd_stop(&ec, CU_get_number_of_failures() > 0);
	if (CU_get_number_of_failures() == 0)
		fs_test_rmtree(dir);
	etcd_global_fini();
	return 0;
}

static etcd *
open_ec(const char *spec, int timeout_ms)
{
	etcd *e = NULL;
	char err[256];

	if (etcd_open(&e, spec, timeout_ms, err, sizeof(err)) != 0) {
		fprintf(stderr, "etcd_open %s: %s\n", spec, err);
		return NULL;
	}
	return e;
}

static void
test_bad_specs(void)
{
	const char *bad[] = {NULL, "", "etcd://", "http://127.0.0.1:2379",
	    "etcd://127.0.0.1", "etcd://:2379", "etcd://h:12x",
	    "etcd://h:1,,h:2", "etcd://h:"};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		etcd *e = NULL;
		err[0] = '\0';
		FS_CHECK(etcd_open(&e, bad[i], 500, err, sizeof(err)) == -1,
		    "%s accepted", bad[i] ? bad[i] : "NULL");
		FS_CHECK(err[0] != '\0', "no reason for %s",
		    bad[i] ? bad[i] : "NULL");
		etcd_close(e);
	}
}

static void
test_lease_and_create(void)
{
	etcd *e = open_ec(ec.spec, 2000);
	int64_t lease = 0, other = 0, ttl = -1;
	int created = -1, found = -1, deleted = -1;
	etcd_kv kv;

	if (!FS_CHECK(e != NULL, "no handle"))
		return;
	FS_ASSERT_INT_EQ(etcd_grant(e, 30, &lease), 0);
	FS_CHECK(lease != 0, "lease 0");
	FS_ASSERT_INT_EQ(etcd_keepalive(e, lease, &ttl), 0);
	FS_CHECK(ttl > 0 && ttl <= 30, "ttl %lld", (long long) ttl);
	FS_ASSERT_INT_EQ(etcd_grant(e, 30, &other), 0);

	/* Absent: created, bound to the lease. */
	memset(&kv, 0, sizeof(kv));
	FS_ASSERT_INT_EQ(etcd_create(e, "/t/leader", "tcp://a:1", lease,
	                     &created, &kv),
	    0);
	FS_ASSERT_INT_EQ(created, 1);
	FS_ASSERT_STR_EQ(kv.value, "tcp://a:1");
	FS_CHECK(kv.lease == lease, "lease %lld", (long long) kv.lease);
	FS_CHECK(kv.create_rev > 0, "create_rev %lld",
	    (long long) kv.create_rev);
	int64_t first = kv.create_rev;
	etcd_kv_fini(&kv);

	/* Present: not created, and the holder is told. */
	FS_ASSERT_INT_EQ(etcd_create(e, "/t/leader", "tcp://b:2", other,
	                     &created, &kv),
	    0);
	FS_ASSERT_INT_EQ(created, 0);
	FS_ASSERT_STR_EQ(kv.value, "tcp://a:1");
	FS_CHECK(kv.create_rev == first, "create_rev moved");
	etcd_kv_fini(&kv);

	/* A delete of another creation leaves it. */
	FS_ASSERT_INT_EQ(etcd_delete(e, "/t/leader", first + 100, &deleted),
	    0);
	FS_ASSERT_INT_EQ(deleted, 0);
	FS_ASSERT_INT_EQ(etcd_get(e, "/t/leader", &found, &kv), 0);
	FS_ASSERT_INT_EQ(found, 1);
	etcd_kv_fini(&kv);

	/* The lease revoked: its key goes, keepalive says TTL 0. */
	FS_ASSERT_INT_EQ(etcd_revoke(e, lease), 0);
	FS_ASSERT_INT_EQ(etcd_get(e, "/t/leader", &found, &kv), 0);
	FS_ASSERT_INT_EQ(found, 0);
	FS_ASSERT_INT_EQ(etcd_keepalive(e, lease, &ttl), 0);
	FS_ASSERT_INT_EQ(ttl, 0);

	/* Created again: a later create revision (terms never repeat). */
	FS_ASSERT_INT_EQ(etcd_create(e, "/t/leader", "tcp://b:2", other,
	                     &created, &kv),
	    0);
	FS_ASSERT_INT_EQ(created, 1);
	FS_CHECK(kv.create_rev > first, "create_rev %lld after %lld",
	    (long long) kv.create_rev, (long long) first);
	int64_t second = kv.create_rev;
	etcd_kv_fini(&kv);
	FS_ASSERT_INT_EQ(etcd_delete(e, "/t/leader", second, &deleted), 0);
	FS_ASSERT_INT_EQ(deleted, 1);
	FS_ASSERT_INT_EQ(etcd_revoke(e, other), 0);
	etcd_close(e);
}

static void
test_put_prefix_delete(void)
{
	etcd *e = open_ec(ec.spec, 2000);
	etcd_kv *kvs = NULL;
	size_t n = 0;
	int deleted = -1;

	if (!FS_CHECK(e != NULL, "no handle"))
		return;
	FS_ASSERT_INT_EQ(etcd_put(e, "/p/m/b", "2 7", 0), 0);
	FS_ASSERT_INT_EQ(etcd_put(e, "/p/m/a", "1 9", 0), 0);
	FS_ASSERT_INT_EQ(etcd_put(e, "/p/n", "x", 0), 0);
	FS_ASSERT_INT_EQ(etcd_put(e, "/p/m0", "y", 0), 0);
	FS_ASSERT_INT_EQ(etcd_get_prefix(e, "/p/m/", &kvs, &n), 0);
	if (FS_ASSERT_INT_EQ((long long) n, 2)) {
		FS_ASSERT_STR_EQ(kvs[0].key, "/p/m/a");
		FS_ASSERT_STR_EQ(kvs[0].value, "1 9");
		FS_ASSERT_STR_EQ(kvs[1].key, "/p/m/b");
	}
	etcd_kvs_free(kvs, n);
	FS_ASSERT_INT_EQ(etcd_delete(e, "/p/m/a", 0, &deleted), 0);
	FS_ASSERT_INT_EQ(deleted, 1);
	FS_ASSERT_INT_EQ(etcd_delete(e, "/p/m/a", 0, &deleted), 0);
	FS_ASSERT_INT_EQ(deleted, 0);
	FS_ASSERT_INT_EQ(etcd_get_prefix(e, "/none/", &kvs, &n), 0);
	FS_ASSERT_INT_EQ((long long) n, 0);
	etcd_kvs_free(kvs, n);
	etcd_close(e);
}

static void
test_watch(void)
{
	etcd *e = open_ec(ec.spec, 2000);
	int changed = -1;

	if (!FS_CHECK(e != NULL, "no handle"))
		return;
	FS_ASSERT_INT_EQ(etcd_put(e, "/w/k", "1", 0), 0);
	int64_t rev = etcd_revision(e);
	FS_CHECK(rev > 0, "no revision");

	/* A change at the revision given: answered at once. */
	int64_t t0 = fs_test_now_ms();
	FS_ASSERT_INT_EQ(etcd_watch(e, "/w/k", rev, 10000, &changed), 0);
	FS_ASSERT_INT_EQ(changed, 1);
	FS_CHECK(fs_test_now_ms() - t0 < 5000, "took %lld ms",
	    (long long) (fs_test_now_ms() - t0));

	/* Nothing after it: the wait ends, no change. */
	t0 = fs_test_now_ms();
	FS_ASSERT_INT_EQ(etcd_watch(e, "/w/k", rev + 1, 700, &changed), 0);
	FS_ASSERT_INT_EQ(changed, 0);
	int64_t took = fs_test_now_ms() - t0;
	FS_CHECK(took >= 600 && took < 5000, "took %lld ms", (long long) took);

	/* Another key's change is not this key's. */
	FS_ASSERT_INT_EQ(etcd_put(e, "/w/other", "1", 0), 0);
	FS_ASSERT_INT_EQ(etcd_watch(e, "/w/k", rev + 1, 500, &changed), 0);
	FS_ASSERT_INT_EQ(changed, 0);
	etcd_close(e);
}

static void
test_members_down(void)
{
	char spec[300];
	int dead = fs_test_free_port();
	int found = -1;
	etcd_kv kv;

	/* A member that does not answer first: the next one does. */
	snprintf(spec, sizeof(spec), "etcd://127.0.0.1:%d,%s", dead,
	    ec.spec + strlen("etcd://"));
	etcd *e = open_ec(spec, 1000);
	if (!FS_CHECK(e != NULL, "no handle"))
		return;
	FS_ASSERT_INT_EQ(etcd_put(e, "/d/k", "v", 0), 0);
	FS_ASSERT_INT_EQ(etcd_get(e, "/d/k", &found, &kv), 0);
	FS_ASSERT_INT_EQ(found, 1);
	etcd_kv_fini(&kv);
	etcd_close(e);

	/* The only member stopped (SIGSTOP: connections are accepted by
	 * the kernel, nothing answers): every call ends within its bound,
	 * with a reason. */
	if (!FS_CHECK(fs_test_proc_freeze(&ec.proc[0], 5000) == 0,
	        "cannot freeze etcd"))
		return;
	e = open_ec(ec.spec, 500);
	int64_t t0 = fs_test_now_ms(), lease = 0, ttl = 0;
	int changed = 0;
	FS_CHECK(etcd_get(e, "/d/k", &found, &kv) == -1, "get answered");
	FS_CHECK(etcd_keepalive(e, 1, &ttl) == -1, "keepalive answered");
	FS_CHECK(etcd_grant(e, 5, &lease) == -1, "grant answered");
	FS_CHECK(etcd_watch(e, "/d/k", 0, 500, &changed) == -1,
	    "watch answered");
	int64_t took = fs_test_now_ms() - t0;
	FS_CHECK(took < 4000, "4 calls took %lld ms", (long long) took);
	FS_CHECK(strlen(etcd_error(e)) > 0, "no reason");
	etcd_close(e);
	fs_test_proc_cont(&ec.proc[0]);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"bad --coordinator values", test_bad_specs},
	{"leases, create if absent, conditional delete", test_lease_and_create},
	{"put, prefix read, delete", test_put_prefix_delete},
	{"watch one key", test_watch},
	{"members that do not answer", test_members_down},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"etcd client", suite_init, suite_fini, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
