/*
 * test_tlswatch.c - the TLS listener watch (proto/fs_srv_tlswatch): a
 * watch whose probe connects but never sees its arrival (the server's
 * count never moves, as with a stopped listener) is in the middle of a
 * probe's wait (up to 3 s) most of the time; stopping it then (a
 * backend's shutdown) ends the wait at once instead of waiting it out.
 * Certificates from tools/tls-dev.sh (openssl).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "fs_srv_tlswatch.h"
#include "fs_tls.h"
#include "testlib.h"

static void
test_stop_during_probe(void)
{
	char dir[PATH_MAX], cmd[PATH_MAX + 256], cert[PATH_MAX + 32],
	    key[PATH_MAX + 32], ca[PATH_MAX + 32], err[256];
	fs_tls_pem pem = {0};
	nng_tls_config *cfg = NULL;
	nng_socket sock;
	nng_listener l;
	fs_tls_watch *w = NULL;
	atomic_uint_fast64_t arrivals = 0; /* never counted: no arrival */

	CU_ASSERT_FATAL(fs_test_mkdtemp(dir, "tlswatch") == 0);
	snprintf(cmd, sizeof(cmd), "%s/tools/tls-dev.sh '%s' >/dev/null 2>&1",
	    FLOWSVC_SOURCE_DIR, dir);
	if (!FS_CHECK(system(cmd) == 0, "tools/tls-dev.sh failed"))
		goto out;
	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	CU_ASSERT_FATAL(
	    fs_tls_pem_load(&pem, cert, key, ca, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(
	    fs_tls_listener_config(&cfg, &pem, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(nng_rep0_open(&sock) == 0);
	CU_ASSERT_FATAL(
	    nng_listener_create(&l, sock, "tls+tcp://127.0.0.1:0") == 0);
	CU_ASSERT_FATAL(nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg) == 0);
	CU_ASSERT_FATAL(nng_listener_start(l, 0) == 0);
	CU_ASSERT_FATAL(
	    fs_tls_watch_start(&w, sock, l, "tls+tcp://127.0.0.1:0", cfg, &pem,
	        &arrivals, 50) == 0);
	/* The first probe starts after 50 ms, connects at once and then
	 * waits for an arrival that never comes. */
	fs_test_poll_pause(800);
	int64_t t0 = fs_test_now_ms();
	fs_tls_watch_stop(w);
	int64_t took = fs_test_now_ms() - t0;
	printf("\n    stopped in %lld ms\n", (long long) took);
	FS_CHECK(took < 1000, "stopping the watch took %lld ms",
	    (long long) took);
	FS_ASSERT_INT_EQ(fs_tls_watch_restarts(), 0);
	nng_close(sock);
out:
	if (cfg != NULL)
		nng_tls_config_free(cfg);
	fs_tls_pem_fini(&pem);
	fs_test_rmtree(dir);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"stopping the watch in a probe's wait ends it at once",
	    test_stop_during_probe},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"TLS listener watch", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
