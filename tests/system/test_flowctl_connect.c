/*
 * test_flowctl_connect.c - how flowctl finds its backend, and what it says
 * when there is none: with nothing listening at the address it fails at
 * once (exit 3, "connection refused at URL: is flow-service running?")
 * instead of waiting out its timeout; --wait waits; a port that accepts
 * but never answers is waited for within the timeout; $FLOWCTL_TIMEOUT
 * sets the timeout when --timeout is not given; a URL it cannot use is a
 * usage error naming the forms it takes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#define MAX_ARGS 16

static char scratch[PATH_MAX];

static int
suite_init(void)
{
	return fs_test_mkdtemp(scratch, "flowsvc-ctl-connect");
}

static int
suite_fini(void)
{
	fs_test_scratch_done(scratch);
	return 0;
}

/* Runs flowctl with one extra environment entry (or none) and the given
 * arguments (NULL-terminated), $FLOWCTL_BACKEND and $FLOWCTL_TIMEOUT
 * unset unless given. Returns how long it took, in ms. */
static int64_t
ctl(fs_test_run_result *res, const char *env1, ...)
{
	char *argv[MAX_ARGS + 2];
	char *envx[] = {(char *) env1, NULL};
	const char *unset[] = {"FLOWCTL_BACKEND", "FLOWCTL_TIMEOUT", NULL};
	const char *a;
	int argc = 0;
	int64_t t0 = fs_test_now_ms();
	va_list ap;

	argv[argc++] = (char *) FLOWCTL_BIN;
	va_start(ap, env1);
	while ((a = va_arg(ap, const char *)) != NULL && argc < MAX_ARGS)
		argv[argc++] = (char *) a;
	va_end(ap);
	argv[argc] = NULL;
	if (fs_test_run(res, argv, env1 ? envx : NULL, unset, 60000) != 0) {
		memset(res, 0, sizeof(*res));
		res->exit_code = -2;
	}
	return fs_test_now_ms() - t0;
}

static int
check_result(const fs_test_run_result *r, int code, const char *err,
    const char *what, int line)
{
	return fs_check(r->exit_code == code && r->err != NULL &&
	        strcmp(r->err, err) == 0,
	    __FILE__, line, what,
	    "%s: exit %d (want %d), stderr \"%s\" (want \"%s\")", what,
	    r->exit_code, code, r->err ? r->err : "", err);
}
#define CHECK_RESULT(r, code, err, what)                                      \
	check_result((r), (code), (err), (what), __LINE__)

/* Nothing listens: refused at once, whatever the timeout (it used to
 * wait out the whole --timeout, then say UNAVAILABLE). */
static void
test_refused_fails_fast(void)
{
	char url[64], want[160], env_url[96], json[192];
	fs_test_run_result r;
	int64_t took;

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", fs_test_free_port());
	snprintf(want, sizeof(want),
	    "flowctl: connection refused at %s: is flow-service running?\n",
	    url);
	took = ctl(&r, NULL, "--backend", url, "--timeout", "30000", "health",
	    NULL);
	CHECK_RESULT(&r, 3, want, "health, nothing listening");
	FS_CHECK(took < 10000,
	    "flowctl --timeout 30000 against nothing took %lld ms",
	    (long long) took);
	fs_test_run_result_free(&r);

	/* From $FLOWCTL_BACKEND, and as a JSON body with --json. */
	snprintf(env_url, sizeof(env_url), "FLOWCTL_BACKEND=%s", url);
	snprintf(json, sizeof(json),
	    "{\"detail\":\"connection refused at %s: is flow-service "
	    "running?\"}\n",
	    url);
	took = ctl(&r, env_url, "--json", "--timeout", "30000", "list", NULL);
	CHECK_RESULT(&r, 3, want, "list via FLOWCTL_BACKEND");
	FS_CHECK(r.out != NULL && strcmp(r.out, json) == 0,
	    "--json stdout: %s", r.out ? r.out : "");
	FS_CHECK(took < 10000, "took %lld ms", (long long) took);
	fs_test_run_result_free(&r);
}

/* An ipc path nobody listens on is refused the same way. */
static void
test_refused_ipc(void)
{
	char url[PATH_MAX + 32], want[PATH_MAX + 128];
	fs_test_run_result r;
	int64_t took;

	snprintf(url, sizeof(url), "ipc://%s/no-backend.sock", scratch);
	snprintf(want, sizeof(want),
	    "flowctl: connection refused at %s: is flow-service running?\n",
	    url);
	took = ctl(&r, NULL, "--backend", url, "--timeout", "30000", "health",
	    NULL);
	CHECK_RESULT(&r, 3, want, "health, ipc path missing");
	FS_CHECK(took < 10000, "took %lld ms", (long long) took);
	fs_test_run_result_free(&r);
}

/* --wait keeps waiting for a backend to appear, up to the timeout (that
 * it then succeeds once one starts is test_flowctl's "--wait" test). */
static void
test_wait_waits(void)
{
	char url[64], want[160];
	fs_test_run_result r;
	int64_t took;

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", fs_test_free_port());
	snprintf(want, sizeof(want),
	    "flowctl: UNAVAILABLE: Service unavailable. (no answer from %s "
	    "within 1500 ms)\n",
	    url);
	took = ctl(&r, NULL, "--backend", url, "--wait", "--timeout", "1500",
	    "health", NULL);
	CHECK_RESULT(&r, 3, want, "health --wait, nothing listening");
	FS_CHECK(took >= 1400, "--wait --timeout 1500 gave up after %lld ms",
	    (long long) took);
	fs_test_run_result_free(&r);
}

/* A port that accepts but does not answer: something is there (a backend
 * starting, or hung), so flowctl waits, within the timeout, which comes
 * from $FLOWCTL_TIMEOUT unless --timeout is given. */
static void
test_timeout_env(void)
{
	char url[64], want[160];
	fs_test_run_result r;
	int port, fd = fs_raw_listen(16, &port);

	if (!FS_CHECK(fd >= 0, "listening socket"))
		return;
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);

	snprintf(want, sizeof(want),
	    "flowctl: UNAVAILABLE: Service unavailable. (no answer from %s "
	    "within 300 ms)\n",
	    url);
	ctl(&r, "FLOWCTL_TIMEOUT=300", "--backend", url, "health", NULL);
	CHECK_RESULT(&r, 3, want, "FLOWCTL_TIMEOUT=300, a silent port");
	fs_test_run_result_free(&r);

	/* --timeout wins over the environment. */
	snprintf(want, sizeof(want),
	    "flowctl: UNAVAILABLE: Service unavailable. (no answer from %s "
	    "within 700 ms)\n",
	    url);
	ctl(&r, "FLOWCTL_TIMEOUT=300", "--backend", url, "--timeout", "700",
	    "health", NULL);
	CHECK_RESULT(&r, 3, want, "--timeout 700 over FLOWCTL_TIMEOUT=300");
	fs_test_run_result_free(&r);
	close(fd);

	/* A value --timeout would refuse is refused, before any call. */
	ctl(&r, "FLOWCTL_TIMEOUT=soon", "--backend", url, "health", NULL);
	CHECK_RESULT(&r, 2,
	    "flowctl: FLOWCTL_TIMEOUT: 'soon' is not an integer in "
	    "1..3600000 (milliseconds)\nTry 'flowctl --help'.\n",
	    "FLOWCTL_TIMEOUT=soon");
	fs_test_run_result_free(&r);
	ctl(&r, "FLOWCTL_TIMEOUT=0", "--backend", url, "health", NULL);
	FS_CHECK(r.exit_code == 2 && r.err != NULL &&
	        strstr(r.err, "FLOWCTL_TIMEOUT: '0'") != NULL,
	    "FLOWCTL_TIMEOUT=0: exit %d, %s", r.exit_code, r.err ? r.err : "");
	fs_test_run_result_free(&r);
}

/* A URL flowctl cannot use: a usage error that names the forms it takes. */
static void
test_bad_url(void)
{
	static const struct {
		const char *url, *why;
	} cases[] = {
	    {"http://127.0.0.1:5555", "not supported"},
	    {"127.0.0.1:5555", "invalid argument"},
	    {"tcp://127.0.0.1", "address invalid"},
	    {"tcp://no-such-host.invalid:5555", "address invalid"},
	};
	char want[256];
	fs_test_run_result r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(want, sizeof(want),
		    "flowctl: cannot use backend '%s': %s; use "
		    "tcp://HOST:PORT or ipc:///path\n",
		    cases[i].url, cases[i].why);
		ctl(&r, NULL, "--backend", cases[i].url, "health", NULL);
		CHECK_RESULT(&r, 2, want, cases[i].url);
		fs_test_run_result_free(&r);
	}
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"nothing listening: refused at once, exit 3",
	        test_refused_fails_fast},
	    {"an ipc path nobody listens on: refused", test_refused_ipc},
	    {"--wait waits up to --timeout", test_wait_waits},
	    {"a silent port is waited for; FLOWCTL_TIMEOUT", test_timeout_env},
	    {"a URL it cannot use names the forms", test_bad_url},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"flowctl_connect", suite_init, suite_fini, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
