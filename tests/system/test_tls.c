/*
 * test_tls.c - transport security end to end (CONTRACT §5): flow-gateway
 * serving HTTPS only, in front of a flow-service that serves mutual TLS.
 *
 * The certificates are made here, with openssl, by tools/tls-dev.sh (two
 * CAs: "a", the one everything trusts, and "b", another) plus an expired
 * client certificate of CA a made with `openssl ca`. HTTPS is spoken by
 * curl and openssl s_client as subprocesses (the tests' own HTTP client
 * is plain TCP); RPC by flowctl and the C client.
 *
 * Processes: one backend (tls+tcp://127.0.0.1:P, CA a), one HTTPS
 * gateway with a tokens file that reaches it over mutual TLS (client
 * certificate of CA a, server name "localhost"), and a few short-lived
 * programs the tests start themselves.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"

#define TOKEN "tok-tls.5f2a9c7e1b3d4086"
#define RUN_TIMEOUT_MS 30000

static char dir[PATH_MAX];
static char data_dir[PATH_MAX + 16];
static char backend_url[64]; /* tls+tcp://127.0.0.1:P */
static int backend_port, gw_port;
static fs_test_proc backend, gateway;
static fs_client *rpc; /* to the backend, with a good certificate */

/* Files under dir. */
static char *
path(const char *rel)
{
	static char buf[8][PATH_MAX + 64];
	static int i;
	char *p = buf[i++ % 8];

	snprintf(p, sizeof(buf[0]), "%s/%s", dir, rel);
	return p;
}

static const char *const no_proxy_env[] = {"http_proxy", "https_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy", "FLOWCTL_CERT",
    "FLOWCTL_KEY", "FLOWCTL_CA", "FLOWCTL_SERVER_NAME", "FLOWCTL_BACKEND",
    NULL};

/* Runs a shell script in dir; returns its exit code (output in r when r
 * is not NULL, else dropped). */
static int
sh(const char *script, fs_test_run_result *r)
{
	fs_test_run_result own;
	char *argv[] = {(char *) "/bin/sh", (char *) "-c", (char *) script,
	    NULL};
	char cd[PATH_MAX + 64];
	int rc;

	snprintf(cd, sizeof(cd), "TLS_DIR=%s", dir);
	char *env[] = {cd, NULL};
	if (r == NULL)
		r = &own;
	memset(r, 0, sizeof(*r));
	fs_test_run(r, argv, env, no_proxy_env, RUN_TIMEOUT_MS);
	rc = r->exit_code;
	if (rc != 0)
		fprintf(stderr, "test_tls: script failed (%d): %s\n%s\n", rc,
		    script, r->err != NULL ? r->err : "");
	if (r == &own)
		fs_test_run_result_free(r);
	return rc;
}

/* The certificates (see the top of the file). */
static int
make_certs(void)
{
	static const char script[] =
	    "set -e; cd \"$TLS_DIR\"\n"
	    "T=" FLOWSVC_SOURCE_DIR "/tools/tls-dev.sh\n"
	    "$T a >/dev/null; $T b >/dev/null\n"
	    "mkdir -p db; : >db/index.txt; echo 1000 >db/serial\n"
	    "printf '[ca]\\ndefault_ca=x\\n[x]\\ndatabase=db/index.txt\\n"
	    "serial=db/serial\\nnew_certs_dir=db\\ndefault_md=sha256\\n"
	    "policy=p\\nunique_subject=no\\n[p]\\ncommonName=supplied\\n' "
	    ">ca.cnf\n"
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
	    "-out expired.key 2>/dev/null\n"
	    "openssl req -new -key expired.key -subj /CN=expired "
	    "-out expired.csr\n"
	    "openssl ca -batch -config ca.cnf -cert a/ca.pem -keyfile "
	    "a/ca.key "
	    "-in expired.csr -out expired.pem -notext "
	    "-startdate 20200101000000Z -enddate 20200102000000Z 2>/dev/null\n"
	    "cp a/server.pem gw.pem; cp a/server.key gw.key\n";

	return sh(script, NULL);
}

/* curl over HTTPS to the gateway, which it checks against CA a. Returns
 * the HTTP status (0: none: the handshake or the connection failed); the
 * body in *body when body is not NULL (caller frees). */
static int
https(const char *method, const char *rel, const char *token, const char *json,
    char **body)
{
	char url[128], resolve[64], authz[128];
	char *argv[24];
	int argc = 0, status = 0;
	fs_test_run_result r;

	snprintf(url, sizeof(url), "https://localhost:%d%s", gw_port, rel);
	snprintf(resolve, sizeof(resolve), "localhost:%d:127.0.0.1", gw_port);
	argv[argc++] = (char *) "/usr/bin/curl";
	argv[argc++] = (char *) "-sS";
	argv[argc++] = (char *) "--resolve";
	argv[argc++] = resolve;
	argv[argc++] = (char *) "--cacert";
	argv[argc++] = path("a/ca.pem");
	argv[argc++] = (char *) "-X";
	argv[argc++] = (char *) method;
	argv[argc++] = (char *) "-w";
	argv[argc++] = (char *) "\n%{http_code}";
	if (token != NULL) {
		snprintf(authz, sizeof(authz), "Authorization: Bearer %s",
		    token);
		argv[argc++] = (char *) "-H";
		argv[argc++] = authz;
	}
	if (json != NULL) {
		argv[argc++] = (char *) "-H";
		argv[argc++] = (char *) "Content-Type: application/json";
		argv[argc++] = (char *) "--data-binary";
		argv[argc++] = (char *) json;
	}
	argv[argc++] = url;
	argv[argc] = NULL;
	if (body != NULL)
		*body = NULL;
	if (fs_test_run(&r, argv, NULL, no_proxy_env, RUN_TIMEOUT_MS) == 0 &&
	    r.out != NULL) {
		char *nl = strrchr(r.out, '\n');
		if (nl != NULL) {
			status = atoi(nl + 1);
			*nl = '\0';
		}
		if (body != NULL)
			*body = strdup(r.out);
	}
	fs_test_run_result_free(&r);
	return status;
}

/* The serial of the certificate the gateway serves now, as openssl
 * prints it ("serial=0A1B..."), or "" when no handshake. */
static void
served_serial(char *out, size_t len)
{
	char script[256];
	fs_test_run_result r;

	snprintf(script, sizeof(script),
	    "echo | openssl s_client -connect 127.0.0.1:%d "
	    "-servername localhost 2>/dev/null | openssl x509 -noout -serial",
	    gw_port);
	out[0] = '\0';
	if (sh(script, &r) == 0 && r.out != NULL)
		snprintf(out, len, "%.*s", (int) strcspn(r.out, "\n"), r.out);
	fs_test_run_result_free(&r);
}

static void
file_serial(const char *rel, char *out, size_t len)
{
	char script[PATH_MAX + 128];
	fs_test_run_result r;

	snprintf(script, sizeof(script),
	    "openssl x509 -in '%s' -noout -serial", path(rel));
	out[0] = '\0';
	if (sh(script, &r) == 0 && r.out != NULL)
		snprintf(out, len, "%.*s", (int) strcspn(r.out, "\n"), r.out);
	fs_test_run_result_free(&r);
}

/* ---- the programs -------------------------------------------------------- */

/* A client of the backend: certificate and key of pki/client (NULL: none),
 * CA a, server name localhost. */
static int
open_client(fs_client **c, const char *pki)
{
	char cert[64], key[64];
	fs_client_tls t = {NULL, NULL, path("a/ca.pem"), "localhost"};

	if (pki != NULL) {
		snprintf(cert, sizeof(cert), "%s.pem", pki);
		snprintf(key, sizeof(key), "%s.key", pki);
		t.cert = path(cert);
		t.key = path(key);
	}
	return fs_client_open_tls(c, backend_url, &t);
}

/* The backend's Stats: refused connections and HEALTH requests served. */
static int
backend_stats(uint64_t *refused, uint64_t *health)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	Flowsvc__StatsReply *st = NULL;
	int rv;

	rv = fs_trpc_call(rpc, FLOWSVC__METHOD__STATS, &e.base, 5000,
	    &flowsvc__stats_reply__descriptor, (ProtobufCMessage **) &st);
	if (rv != FS_OK)
		return rv;
	*refused = st->has_tls_refused ? st->tls_refused : (uint64_t) -1;
	*health = 0;
	for (size_t i = 0; i < st->n_requests; i++)
		if (st->requests[i]->method == FLOWSVC__METHOD__HEALTH)
			*health += st->requests[i]->count;
	protobuf_c_message_free_unpacked(&st->base, NULL);
	return FS_OK;
}

static int
start_backend(void)
{
	char *argv[] = {(char *) FLOW_SERVICE_BIN, (char *) "--listen",
	    backend_url, (char *) "--data-dir", data_dir,
	    (char *) "--tls-cert", path("a/server.pem"), (char *) "--tls-key",
	    path("a/server.key"), (char *) "--tls-ca", path("a/ca.pem"), NULL};
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	int64_t until = fs_test_now_ms() + FS_TEST_START_TIMEOUT_MS;

	if (fs_test_proc_start(&backend, "flow-service", FLOW_SERVICE_BIN,
	        argv, path("flow-service.log")) != 0 ||
	    open_client(&rpc, "a/client") != FS_OK) {
		fprintf(stderr, "test_tls: backend: %s\n",
		    fs_client_last_error());
		return -1;
	}
	while (fs_test_now_ms() < until && fs_test_proc_alive(&backend)) {
		if (fs_trpc_call(rpc, FLOWSVC__METHOD__HEALTH, &e.base, 250,
		        NULL, NULL) == FS_OK)
			return 0;
		fs_test_poll_pause(20);
	}
	fs_test_dump_log("flow-service log", path("flow-service.log"), 30);
	return -1;
}

/* Starts an HTTPS gateway (p) on port with the flags given after the
 * common ones, and waits until /healthz answers 200 over HTTPS (and
 * /readyz too when ready). */
static int
start_gateway(fs_test_proc *p, int port, const char *log, int ready,
    const char *const *more)
{
	char portstr[16];
	char *argv[32];
	int argc = 0, saved = gw_port;
	int64_t until = fs_test_now_ms() + FS_TEST_START_TIMEOUT_MS;

	snprintf(portstr, sizeof(portstr), "%d", port);
	argv[argc++] = (char *) FLOW_GATEWAY_BIN;
	argv[argc++] = (char *) "--port";
	argv[argc++] = portstr;
	argv[argc++] = (char *) "--backend";
	argv[argc++] = backend_url;
	argv[argc++] = (char *) "--backend-server-name";
	argv[argc++] = (char *) "localhost";
	argv[argc++] = (char *) "--backend-ca";
	argv[argc++] = path("a/ca.pem");
	argv[argc++] = (char *) "--rpc-timeout";
	argv[argc++] = (char *) "2000";
	for (int i = 0; more != NULL && more[i] != NULL && argc < 31; i++)
		argv[argc++] = (char *) more[i];
	argv[argc] = NULL;
	if (fs_test_proc_start(p, "flow-gateway", FLOW_GATEWAY_BIN, argv,
	        log) != 0)
		return -1;
	gw_port = port; /* https() speaks to gw_port */
	while (fs_test_now_ms() < until && fs_test_proc_alive(p)) {
		if (https("GET", "/healthz", NULL, NULL, NULL) == 200 &&
		    (!ready ||
		        https("GET", "/readyz", NULL, NULL, NULL) == 200)) {
			gw_port = saved;
			return 0;
		}
		fs_test_poll_pause(50);
	}
	gw_port = saved;
	fs_test_dump_log("flow-gateway log", log, 30);
	return -1;
}

static int
suite_init(void)
{
	static const char *const more[] = {"--tls-cert", NULL, "--tls-key",
	    NULL, "--backend-cert", NULL, "--backend-key", NULL, "--tokens",
	    NULL, NULL};
	const char *argv_more[11];

	if (fs_test_mkdtemp(dir, "flowsvc-tls") != 0)
		return -1;
	snprintf(data_dir, sizeof(data_dir), "%s/data", dir);
	backend_port = fs_test_free_port();
	do
		gw_port = fs_test_free_port();
	while (gw_port == backend_port);
	snprintf(backend_url, sizeof(backend_url), "tls+tcp://127.0.0.1:%d",
	    backend_port);
	if (make_certs() != 0 ||
	    fs_file_write(path("tokens"), TOKEN " *\n") != 0 ||
	    start_backend() != 0)
		return -1;
	memcpy(argv_more, more, sizeof(more));
	argv_more[1] = path("gw.pem");
	argv_more[3] = path("gw.key");
	argv_more[5] = path("a/client.pem");
	argv_more[7] = path("a/client.key");
	argv_more[9] = path("tokens");
	return start_gateway(&gateway, gw_port, path("flow-gateway.log"), 1,
	    argv_more);
}

static int
suite_fini(void)
{
	int ok = 1;

	if (gateway.pid != 0)
		ok &= fs_test_exited_zero(fs_test_proc_stop(&gateway, SIGTERM,
		    FS_TEST_STOP_TIMEOUT_MS));
	if (backend.pid != 0)
		ok &= fs_test_exited_zero(fs_test_proc_stop(&backend, SIGTERM,
		    FS_TEST_STOP_TIMEOUT_MS));
	fs_client_close(rpc);
	if (CU_get_number_of_failures() != 0 || getenv("FS_TEST_KEEP")) {
		fs_test_dump_log("flow-gateway log", path("flow-gateway.log"),
		    30);
		fs_test_dump_log("flow-service log", path("flow-service.log"),
		    30);
		fprintf(stderr, "test_tls: kept %s\n", dir);
	} else {
		fs_test_rmtree(dir);
	}
	return ok ? 0 : -1;
}

/* ---- flowctl -------------------------------------------------------------- */

/* flowctl health against url with the options given (NULL-terminated)
 * and env_extra (NULL or "NAME=value" list); returns its exit code,
 * stderr in r (caller frees). */
static int
flowctl(fs_test_run_result *r, const char *url, const char *const *args,
    char *const *env_extra)
{
	char *argv[24];
	int argc = 0;

	argv[argc++] = (char *) FLOWCTL_BIN;
	argv[argc++] = (char *) "--backend";
	argv[argc++] = (char *) url;
	argv[argc++] = (char *) "--timeout";
	argv[argc++] = (char *) "3000";
	argv[argc++] = (char *) "--json";
	for (int i = 0; args != NULL && args[i] != NULL && argc < 22; i++)
		argv[argc++] = (char *) args[i];
	argv[argc++] = (char *) "health";
	argv[argc] = NULL;
	memset(r, 0, sizeof(*r));
	fs_test_run(r, argv, env_extra, no_proxy_env, RUN_TIMEOUT_MS);
	return r->exit_code;
}

/* ---- HTTPS at the gateway ------------------------------------------------ */

/* Create and read back over HTTPS, checked against the CA; the gateway
 * reaches the backend over mutual TLS. */
static void
test_https_rest(void)
{
	char *body = NULL, rel[128];
	json_t *created = NULL, *got = NULL;
	const char *id;

	FS_ASSERT_INT_EQ(https("POST", "/api/flows/", TOKEN,
	                     "{\"name\": \"over_tls\", \"input_fields\": "
	                     "[\"a\"]}",
	                     &body),
	    201);
	if (body == NULL || (created = json_loads(body, 0, NULL)) == NULL ||
	    (id = fs_json_str(created, "id")) == NULL) {
		FS_CHECK(0, "no flow in %s", body ? body : "(nothing)");
		goto out;
	}
	free(body);
	body = NULL;
	snprintf(rel, sizeof(rel), "/api/flows/%s/", id);
	FS_ASSERT_INT_EQ(https("GET", rel, TOKEN, NULL, &body), 200);
	if (FS_CHECK(body != NULL && (got = json_loads(body, 0, NULL)),
	        "GET body %s", body ? body : "(nothing)"))
		FS_ASSERT_JSON_SAME(got, created);
	/* And the backend has it, for an RPC client with a certificate. */
	json_t *comp = NULL;
	if (FS_ASSERT_OK(fs_trpc_get(rpc, id, &comp, NULL)))
		FS_ASSERT_STR_EQ(fs_json_str(comp, "name"), "over_tls");
	json_decref(comp);
out:
	free(body);
	json_decref(created);
	json_decref(got);
}

/* HTTP/1.1 keep-alive is kept under TLS: curl fetching two URLs makes one
 * connection for both. */
static void
test_https_keep_alive(void)
{
	char url[96], resolve[64];
	fs_test_run_result r;

	snprintf(url, sizeof(url), "https://localhost:%d/healthz", gw_port);
	snprintf(resolve, sizeof(resolve), "localhost:%d:127.0.0.1", gw_port);
	char *argv[] = {(char *) "/usr/bin/curl", (char *) "-sS",
	    (char *) "--resolve", resolve, (char *) "--cacert",
	    path("a/ca.pem"), (char *) "-o", (char *) "/dev/null",
	    (char *) "-w", (char *) "%{http_code}:%{num_connects} ", url,
	    (char *) "-o", (char *) "/dev/null", url, NULL};
	fs_test_run(&r, argv, NULL, no_proxy_env, RUN_TIMEOUT_MS);
	FS_CHECK(r.out != NULL && strcmp(r.out, "200:1 200:0 ") == 0,
	    "two requests, one connection: got '%s' (stderr %s)",
	    r.out ? r.out : "", r.err ? r.err : "");
	fs_test_run_result_free(&r);
}

/* Tokens are checked over HTTPS as over HTTP. */
static void
test_https_tokens(void)
{
	char *body = NULL;

	FS_ASSERT_INT_EQ(https("GET", "/api/flows/", NULL, NULL, &body), 401);
	FS_CHECK(body != NULL &&
	        strstr(body,
	            "Authentication credentials were not "
	            "provided.") != NULL,
	    "401 body: %s", body ? body : "(nothing)");
	free(body);
	FS_ASSERT_INT_EQ(https("GET", "/api/flows/", "tok-wrong.0123456789",
	                     NULL, &body),
	    401);
	FS_CHECK(body != NULL && strstr(body, "Invalid token.") != NULL,
	    "401 body: %s", body ? body : "(nothing)");
	free(body);
	FS_ASSERT_INT_EQ(https("GET", "/api/flows/", TOKEN, NULL, NULL), 200);
}

/* Plain HTTP to the HTTPS port gets no API answer: no HTTP status line,
 * no JSON, and the connection is closed. */
static void
test_https_no_plain_http(void)
{
	static const char req[] =
	    "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
	char buf[4096];
	size_t n = 0;
	int fd = fs_raw_connect(NULL, gw_port);

	if (!FS_CHECK(fd >= 0, "connect: %s", strerror(errno)))
		return;
	FS_CHECK(fs_raw_send(fd, req, sizeof(req) - 1) == 0, "send");
	FS_CHECK(fs_raw_read_to_close(fd, buf, sizeof(buf), &n, 10000) == 1,
	    "the connection should be closed");
	close(fd);
	FS_CHECK(strstr(buf, "HTTP/") == NULL && strchr(buf, '{') == NULL,
	    "an HTTP answer on the HTTPS port: %.200s", buf);
	FS_ASSERT_INT_EQ(fs_http_status(gw_port, "/healthz"), 0);
	/* The gateway still serves HTTPS afterwards. */
	FS_ASSERT_INT_EQ(https("GET", "/healthz", NULL, NULL, NULL), 200);
}

/* TLS 1.2+ with forward-secret AEAD suites only; no renegotiation by the
 * client. */
static void
test_https_protocols(void)
{
	char script[512];
	fs_test_run_result r;

	/* SECLEVEL=0: the client would offer these; the server refuses. */
	snprintf(script, sizeof(script),
	    "echo | openssl s_client -connect 127.0.0.1:%d -tls1_1 "
	    "-cipher 'DEFAULT:@SECLEVEL=0' 2>&1 | grep -q 'Cipher is (NONE)'",
	    gw_port);
	FS_CHECK(sh(script, NULL) == 0, "TLS 1.1 was accepted");
	/* CBC suites (the certificates here have EC keys, so static RSA
	 * could not be chosen anyway). */
	snprintf(script, sizeof(script),
	    "echo | openssl s_client -connect 127.0.0.1:%d -tls1_2 "
	    "-cipher 'ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA256:"
	    "ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0' 2>&1 | "
	    "grep -q 'Cipher is (NONE)'",
	    gw_port);
	FS_CHECK(sh(script, NULL) == 0, "a CBC suite was accepted");
	snprintf(script, sizeof(script),
	    "echo | openssl s_client -connect 127.0.0.1:%d -tls1_2 "
	    "-CAfile '%s' -verify_return_error 2>&1 | "
	    "grep -q 'Cipher is ECDHE-.*-GCM-'",
	    gw_port, path("a/ca.pem"));
	FS_CHECK(sh(script, NULL) == 0, "TLS 1.2 ECDHE+GCM refused");
	/* "R" asks s_client to renegotiate, then a request follows: the
	 * server closes the connection instead of answering it. */
	snprintf(script, sizeof(script),
	    "(printf 'R\\n'; sleep 1; printf 'GET /healthz HTTP/1.1\\r\\n"
	    "Host: localhost\\r\\n\\r\\n'; sleep 1) | openssl s_client "
	    "-connect 127.0.0.1:%d -tls1_2 -CAfile '%s' 2>&1",
	    gw_port, path("a/ca.pem"));
	memset(&r, 0, sizeof(r));
	sh(script, &r);
	FS_CHECK(r.out != NULL && strstr(r.out, "RENEGOTIATING") != NULL &&
	        strstr(r.out, "HTTP/1.1 200") == NULL,
	    "renegotiation by the client was allowed: %s",
	    r.out ? r.out : "(nothing)");
	fs_test_run_result_free(&r);
}

/* Lines of the gateway's log holding needle. */
static int
gw_log_count(const char *needle)
{
	return fs_file_count(path("flow-gateway.log"), needle);
}

/* SIGHUP: a new certificate and key serve the connections that follow; a
 * bad file keeps the pair in use, and says why. */
static void
test_https_sighup_rotation(void)
{
	char before[128], want[128], now[128] = "";
	int64_t until;
	int errors;

	served_serial(before, sizeof(before));
	file_serial("gw.pem", want, sizeof(want));
	if (!FS_CHECK(before[0] != '\0' && strcmp(before, want) == 0,
	        "serves %s, file has %s", before, want))
		return;
	/* A new pair of the same CA, moved into place as a deploy tool
	 * would (each file whole), then SIGHUP. */
	if (!FS_CHECK(sh("set -e; cd \"$TLS_DIR\"; mkdir -p rot; "
	                 "cp a/ca.pem a/ca.key rot/; " FLOWSVC_SOURCE_DIR
	                 "/tools/tls-dev.sh rot >/dev/null 2>&1; "
	                 "cp rot/server.pem gw.pem.new; "
	                 "cp rot/server.key gw.key.new; mv gw.key.new gw.key; "
	                 "mv gw.pem.new gw.pem",
	                  NULL) == 0,
	        "new certificate"))
		return;
	file_serial("gw.pem", want, sizeof(want));
	FS_CHECK(strcmp(want, before) != 0, "same serial %s", want);
	kill(gateway.pid, SIGHUP);
	until = fs_test_now_ms() + 10000;
	while (fs_test_now_ms() < until) {
		served_serial(now, sizeof(now));
		if (strcmp(now, want) == 0)
			break;
		fs_test_poll_pause(50);
	}
	FS_CHECK(strcmp(now, want) == 0,
	    "after SIGHUP: serves '%s', want '%s'", now, want);
	FS_ASSERT_INT_EQ(https("GET", "/api/flows/", TOKEN, NULL, NULL), 200);

	/* A key that is not one: the reload fails, the pair stays. */
	errors = gw_log_count("keeping the certificate loaded before");
	if (!FS_CHECK(fs_file_write(path("gw.key"), "not a key\n") == 0,
	        "write"))
		return;
	kill(gateway.pid, SIGHUP);
	until = fs_test_now_ms() + 10000;
	while (fs_test_now_ms() < until &&
	    gw_log_count("keeping the certificate loaded before") == errors)
		fs_test_poll_pause(20);
	FS_CHECK(gw_log_count("--tls-key") > 0 &&
	        gw_log_count("keeping the certificate loaded before") ==
	            errors + 1,
	    "no log line for the failed reload");
	served_serial(now, sizeof(now));
	FS_CHECK(strcmp(now, want) == 0, "after a bad reload: serves '%s'",
	    now);
	FS_ASSERT_INT_EQ(https("GET", "/healthz", NULL, NULL, NULL), 200);
	/* A certificate that is not the key's: refused too. */
	sh("cd \"$TLS_DIR\"; cp b/server.key gw.key", NULL);
	kill(gateway.pid, SIGHUP);
	until = fs_test_now_ms() + 10000;
	while (fs_test_now_ms() < until &&
	    gw_log_count("keeping the certificate loaded before") ==
	        errors + 1)
		fs_test_poll_pause(20);
	FS_CHECK(gw_log_count("is not the key of the certificate") == 1,
	    "a mismatched key was not refused");
	served_serial(now, sizeof(now));
	FS_CHECK(strcmp(now, want) == 0, "after a mismatched key: '%s'", now);
	sh("cd \"$TLS_DIR\"; cp rot/server.key gw.key", NULL);
}

/* ---- mutual TLS at the backend -------------------------------------------- */

/* flowctl without a certificate, with one from another CA, and with an
 * expired one: refused before any request is read, each refusal logged
 * with the peer's address and counted (Stats, /metrics). */
static void
test_mtls_refuses(void)
{
	const char *other[] = {"--backend-cert", NULL, "--backend-key", NULL,
	    "--backend-ca", NULL, "--backend-server-name", "localhost", NULL};
	const char *expired[9];
	const char *no_cert[5] = {"--backend-ca", NULL,
	    "--backend-server-name", "localhost", NULL};
	const char *const *cases[3];
	uint64_t refused0, health0, refused, health;
	fs_test_run_result r;
	int lines0;
	char *body = NULL;

	no_cert[1] = path("a/ca.pem");
	other[1] = path("b/client.pem");
	other[3] = path("b/client.key");
	other[5] = path("a/ca.pem");
	memcpy(expired, other, sizeof(other));
	expired[1] = path("expired.pem");
	expired[3] = path("expired.key");
	cases[0] = no_cert;
	cases[1] = other;
	cases[2] = expired;
	if (!FS_ASSERT_OK(backend_stats(&refused0, &health0)))
		return;
	lines0 = fs_file_count(path("flow-service.log"),
	    "refused RPC connection from 127.0.0.1:");
	for (int i = 0; i < 3; i++) {
		int rc = flowctl(&r, backend_url, cases[i], NULL);
		FS_CHECK(rc == 3, "case %d: exit %d, want 3 (UNAVAILABLE): %s",
		    i, rc, r.err ? r.err : "");
		FS_CHECK(r.err != NULL && strstr(r.err, "UNAVAILABLE"),
		    "case %d: %s", i, r.err ? r.err : "");
		fs_test_run_result_free(&r);
	}
	if (!FS_ASSERT_OK(backend_stats(&refused, &health)))
		return;
	FS_CHECK(refused >= refused0 + 3, "tls_refused %llu -> %llu",
	    (unsigned long long) refused0, (unsigned long long) refused);
	/* Not one of the three HEALTH requests was read. */
	FS_CHECK(health == health0, "HEALTH served %llu -> %llu",
	    (unsigned long long) health0, (unsigned long long) health);
	FS_CHECK(fs_file_count(path("flow-service.log"),
	             "refused RPC connection from 127.0.0.1:") >= lines0 + 3,
	    "the refusals are not logged with the peer's address");
	/* The gateway's /metrics shows the backend's count. */
	FS_ASSERT_INT_EQ(https("GET", "/metrics", NULL, NULL, &body), 200);
	FS_CHECK(body != NULL &&
	        strstr(body, "\nbackend_tls_refused_total ") != NULL &&
	        strstr(body, "\nbackend_tls_refused_total 0\n") == NULL,
	    "no backend_tls_refused_total in /metrics");
	free(body);
}

/* flowctl with a good certificate: by the options, by FLOWCTL_CERT/KEY/CA,
 * and with the URL's host as the server name. */
static void
test_mtls_serves(void)
{
	const char *opts[] = {"--backend-cert", NULL, "--backend-key", NULL,
	    "--backend-ca", NULL, "--backend-server-name", "localhost", NULL};
	char ecert[PATH_MAX + 32], ekey[PATH_MAX + 32], eca[PATH_MAX + 32];
	char url[64];
	fs_test_run_result r;
	struct addrinfo hints = {0}, *ai = NULL;

	opts[1] = path("a/client.pem");
	opts[3] = path("a/client.key");
	opts[5] = path("a/ca.pem");
	FS_CHECK(flowctl(&r, backend_url, opts, NULL) == 0 && r.json != NULL &&
	        fs_json_str(r.json, "status") != NULL,
	    "flowctl with a certificate: %s", r.err ? r.err : "");
	fs_test_run_result_free(&r);

	snprintf(ecert, sizeof(ecert), "FLOWCTL_CERT=%s",
	    path("a/client.pem"));
	snprintf(ekey, sizeof(ekey), "FLOWCTL_KEY=%s", path("a/client.key"));
	snprintf(eca, sizeof(eca), "FLOWCTL_CA=%s", path("a/ca.pem"));
	char *env[] = {ecert, ekey, eca,
	    (char *) "FLOWCTL_SERVER_NAME=localhost", NULL};
	FS_CHECK(flowctl(&r, backend_url, NULL, env) == 0,
	    "flowctl with FLOWCTL_CERT/KEY/CA: %s", r.err ? r.err : "");
	fs_test_run_result_free(&r);

	/* An IP address as the host and no server name: refused at once,
	 * saying why (mbedTLS checks DNS names only). */
	const char *no_name[] = {opts[0], opts[1], opts[2], opts[3], opts[4],
	    opts[5], NULL};
	FS_CHECK(flowctl(&r, backend_url, no_name, NULL) == 2 &&
	        r.err != NULL && strstr(r.err, "DNS name") != NULL,
	    "IP without a server name: %s", r.err ? r.err : "");
	fs_test_run_result_free(&r);

	/* The URL's host is the server name by default: localhost. */
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	if (getaddrinfo("localhost", NULL, &hints, &ai) == 0 &&
	    ai->ai_family == AF_INET) {
		snprintf(url, sizeof(url), "tls+tcp://localhost:%d",
		    backend_port);
		FS_CHECK(flowctl(&r, url, no_name, NULL) == 0,
		    "tls+tcp://localhost: %s", r.err ? r.err : "");
		fs_test_run_result_free(&r);
	} else {
		fprintf(stderr,
		    "test_tls: localhost is not 127.0.0.1 first "
		    "here; tls+tcp://localhost not tried\n");
	}
	if (ai != NULL)
		freeaddrinfo(ai);

	/* TLS options for a plain URL are a mistake. */
	FS_CHECK(flowctl(&r, "tcp://127.0.0.1:1", opts, NULL) == 2 &&
	        r.err != NULL && strstr(r.err, "tls+tcp://") != NULL,
	    "TLS options with tcp://: %s", r.err ? r.err : "");
	fs_test_run_result_free(&r);
}

/* A replica over mutual TLS (CONTRACT §8 over §5): it listens on
 * tls+tcp:// itself and follows the backend with the server certificate,
 * which tls-dev.sh makes for client use too, and replicates; one whose
 * certificate is another CA's is refused and copies nothing. */
static void
test_mtls_replica(void)
{
	char url[64], rdata[PATH_MAX + 16], rlog[PATH_MAX + 32];
	int port = fs_test_free_port();
	fs_test_proc rep = {0};
	fs_client *rc = NULL;
	json_t *created = NULL, *got = NULL;
	char id[64] = "";
	int code = -1;

	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", port);
	snprintf(rdata, sizeof(rdata), "%s/replica", dir);
	snprintf(rlog, sizeof(rlog), "%s/replica.log", dir);
	char *argv[] = {(char *) FLOW_SERVICE_BIN, (char *) "--listen", url,
	    (char *) "--data-dir", rdata, (char *) "--tls-cert",
	    path("a/server.pem"), (char *) "--tls-key", path("a/server.key"),
	    (char *) "--tls-ca", path("a/ca.pem"), (char *) "--replica-of",
	    backend_url, (char *) "--backend-cert", path("a/server.pem"),
	    (char *) "--backend-key", path("a/server.key"),
	    (char *) "--backend-ca", path("a/ca.pem"),
	    (char *) "--backend-server-name", (char *) "localhost", NULL};
	fs_client_tls t = {NULL, NULL, NULL, "localhost"};

	if (!FS_ASSERT_OK(fs_trpc_create(rpc, FLOWSVC__KIND__FLOW, "over_mtls",
	        NULL, NULL, 5000, &created)))
		return;
	snprintf(id, sizeof(id), "%s", fs_json_str(created, "id"));
	json_decref(created);
	if (!FS_CHECK(fs_test_proc_start(&rep, "flow-service replica",
	                  FLOW_SERVICE_BIN, argv, rlog) == 0,
	        "replica starts"))
		goto out;
	/* path()'s buffers are reused: argv's are taken by now. */
	t.cert = path("a/client.pem");
	t.key = path("a/client.key");
	t.ca = path("a/ca.pem");
	if (!FS_CHECK(fs_client_open_tls(&rc, url, &t) == FS_OK, "client: %s",
	        fs_client_last_error()))
		goto out;
	for (int64_t end = fs_test_now_ms() + 20000;
	     fs_test_now_ms() < end && fs_test_proc_alive(&rep);
	     fs_test_poll_pause(50)) {
		json_decref(got);
		got = NULL;
		if ((code = fs_trpc_get(rc, id, &got, NULL)) == FS_OK)
			break;
	}
	FS_CHECK(code == FS_OK,
	    "the replica has the flow over mutual TLS: "
	    "code %d",
	    code);
	FS_CHECK(got != NULL &&
	        strcmp(fs_json_str(got, "name") ? fs_json_str(got, "name")
	                                        : "",
	            "over_mtls") == 0,
	    "replicated flow");
out:
	json_decref(got);
	fs_client_close(rc);
	if (rep.pid > 0)
		FS_CHECK(fs_test_exited_zero(fs_test_proc_stop(&rep, SIGTERM,
		             FS_TEST_STOP_TIMEOUT_MS)),
		    "the replica stops cleanly");
	if (CU_get_number_of_failures() > 0)
		fs_test_dump_log("replica log", rlog, 30);
}

/* A gateway without a client certificate reaches no backend: /readyz
 * answers 503, and the backend counts the refusal. */
static void
test_gateway_without_certificate(void)
{
	fs_test_proc gw = {0};
	uint64_t refused0, refused, health;
	int port = fs_test_free_port(), saved = gw_port;
	const char *more[] = {"--tls-cert", path("a/server.pem"), "--tls-key",
	    path("a/server.key"), NULL};
	int64_t until;

	if (!FS_ASSERT_OK(backend_stats(&refused0, &health)))
		return;
	if (!FS_CHECK(start_gateway(&gw, port, path("gw-nocert.log"), 0,
	                  more) == 0,
	        "start"))
		return;
	until = fs_test_now_ms() + 10000;
	do {
		if (backend_stats(&refused, &health) != FS_OK)
			break;
		if (refused > refused0)
			break;
		fs_test_poll_pause(20);
	} while (fs_test_now_ms() < until);
	FS_CHECK(refused > refused0, "the backend did not refuse it");
	gw_port = port;
	FS_ASSERT_INT_EQ(https("GET", "/readyz", NULL, NULL, NULL), 503);
	FS_ASSERT_INT_EQ(https("GET", "/api/flows/", NULL, NULL, NULL), 503);
	gw_port = saved;
	FS_CHECK(fs_test_exited_zero(
	             fs_test_proc_stop(&gw, SIGTERM, FS_TEST_STOP_TIMEOUT_MS)),
	    "gateway exit");
}

/* The C client's TLS settings: what it refuses at open, and why. */
static void
test_client_api(void)
{
	fs_client *c = NULL;
	fs_client_tls t = {path("a/client.pem"), path("a/client.key"),
	    path("a/ca.pem"), NULL};
	char url[64];

	FS_ASSERT_INT_EQ(fs_client_open_tls(&c, backend_url, &t),
	    FS_INVALID_ARGUMENT);
	FS_CHECK(strstr(fs_client_last_error(), "DNS name") != NULL, "%s",
	    fs_client_last_error());
	FS_ASSERT_INT_EQ(fs_client_open(&c, backend_url), FS_INVALID_ARGUMENT);
	FS_CHECK(strstr(fs_client_last_error(), "CA") != NULL, "%s",
	    fs_client_last_error());
	t.server_name = "localhost";
	FS_ASSERT_INT_EQ(fs_client_open_tls(&c, "tcp://127.0.0.1:1", &t),
	    FS_INVALID_ARGUMENT);
	t.key = NULL;
	FS_ASSERT_INT_EQ(fs_client_open_tls(&c, backend_url, &t),
	    FS_INVALID_ARGUMENT);
	t.key = path("missing.key");
	FS_ASSERT_INT_EQ(fs_client_open_tls(&c, backend_url, &t),
	    FS_INVALID_ARGUMENT);
	FS_CHECK(strstr(fs_client_last_error(), "missing.key") != NULL, "%s",
	    fs_client_last_error());
	t.key = path("tokens"); /* not PEM */
	FS_ASSERT_INT_EQ(fs_client_open_tls(&c, backend_url, &t),
	    FS_INVALID_ARGUMENT);
	/* And a good one, with a second backend address on the same
	 * settings. */
	t.key = path("a/client.key");
	if (FS_ASSERT_OK(fs_client_open_tls(&c, backend_url, &t))) {
		Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", backend_port);
		FS_ASSERT_INT_EQ(fs_client_add_backend(c, url),
		    FS_INVALID_ARGUMENT);
		FS_ASSERT_OK(fs_client_add_backend(c, backend_url));
		/* The open waits only briefly for a connection: a handshake
		 * may take longer here (sanitizers, a busy machine), and a
		 * connection the listener took just before the earlier tests'
		 * refusals stopped it is answered only once the backend has
		 * listened again (fs_srv_tlswatch.h). */
		int64_t until = fs_test_now_ms() + FS_TEST_START_TIMEOUT_MS;
		int code;
		while (((code = fs_trpc_call(c, FLOWSVC__METHOD__HEALTH,
		             &e.base, 5000, NULL, NULL)) == FS_UNAVAILABLE ||
		           code == FS_DEADLINE_EXCEEDED) &&
		    fs_test_now_ms() < until)
			fs_test_poll_pause(20);
		FS_ASSERT_OK(code);
		fs_client_close(c);
	}
}

/* The programs refuse TLS settings they cannot use, with one line. */
static void
test_bad_settings(void)
{
	fs_test_run_result r;
	char url[64];

	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d",
	    fs_test_free_port());
	{
		char *argv[] = {(char *) FLOW_SERVICE_BIN, (char *) "--listen",
		    url, (char *) "--data-dir", path("data2"),
		    (char *) "--tls-cert", path("a/server.pem"),
		    (char *) "--tls-key", path("a/server.key"), NULL};
		fs_test_run(&r, argv, NULL, NULL, RUN_TIMEOUT_MS);
		FS_CHECK(r.exit_code == 1 && r.err != NULL &&
		        strstr(r.err, "CA certificate") != NULL,
		    "flow-service without --tls-ca: %d %s", r.exit_code,
		    r.err ? r.err : "");
		fs_test_run_result_free(&r);
	}
	{
		char *argv[] = {(char *) FLOW_GATEWAY_BIN, (char *) "--port",
		    (char *) "0", (char *) "--tls-cert", path("a/server.pem"),
		    (char *) "--tls-key", path("b/server.key"), NULL};
		fs_test_run(&r, argv, NULL, NULL, RUN_TIMEOUT_MS);
		FS_CHECK(r.exit_code == 1 && r.err != NULL &&
		        strstr(r.err, "is not the key of the certificate"),
		    "flow-gateway with another key: %d %s", r.exit_code,
		    r.err ? r.err : "");
		fs_test_run_result_free(&r);
	}
	{
		char *argv[] = {(char *) FLOW_GATEWAY_BIN, (char *) "--port",
		    (char *) "0", (char *) "--tls-cert", path("a/server.pem"),
		    NULL};
		fs_test_run(&r, argv, NULL, NULL, RUN_TIMEOUT_MS);
		FS_CHECK(r.exit_code == 2, "flow-gateway --tls-cert alone: %d",
		    r.exit_code);
		fs_test_run_result_free(&r);
	}
}

/* Hundreds of peers that send a TLS ClientHello and reset the connection
 * (no certificate needed) stopped nng 1.5.2's TLS listener for good: a
 * write to a reset peer during the handshake reads "closed", and the
 * listener took that for its own closing (a few hundred such peers were
 * enough here). The backend notices a listener that has stopped and
 * listens again: a good client is served within seconds. Runs last: listening again closes the connections of the
 * stopped listener (the gateway's among them). */
static void
test_mtls_listener_survives_resets(void)
{
	const char *opts[] = {"--backend-cert", NULL, "--backend-key", NULL,
	    "--backend-ca", NULL, "--backend-server-name", "localhost", NULL};
	char script[2048];
	fs_test_run_result r;
	int ok = 0;

	opts[1] = path("a/client.pem");
	opts[3] = path("a/client.key");
	opts[5] = path("a/ca.pem");
	snprintf(script, sizeof(script),
	    "exec python3 - %d <<'EOF'\n"
	    "import socket, ssl, struct, sys\n"
	    "port = int(sys.argv[1])\n"
	    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
	    "ctx.check_hostname = False\n"
	    "ctx.verify_mode = ssl.CERT_NONE\n"
	    "def poke():\n"
	    "    s = socket.create_connection(('127.0.0.1', port), "
	    "timeout=2)\n"
	    "    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,\n"
	    "                 struct.pack('ii', 1, 0))\n"
	    "    t = ctx.wrap_socket(s, do_handshake_on_connect=False)\n"
	    "    t.setblocking(False)\n"
	    "    try:\n"
	    "        t.do_handshake()\n"
	    "    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):\n"
	    "        pass\n"
	    "    t.close()\n"
	    "for _ in range(2000):\n"
	    "    poke()\n"
	    "EOF\n",
	    backend_port);
	FS_ASSERT_INT_EQ(sh(script, NULL), 0);
	int64_t until = fs_test_now_ms() + 20000;
	while (!ok && fs_test_now_ms() < until) {
		ok = flowctl(&r, backend_url, opts, NULL) == 0;
		fs_test_run_result_free(&r);
	}
	FS_CHECK(ok, "a good client is not served after the resets");
	int replaced = fs_file_count(path("flow-service.log"),
	    "stopped taking connections");
	printf("\n    the listener was replaced %d times", replaced);
	/* Counted: Stats, and /metrics through the gateway (which connects
	 * again by itself). */
	static const char key[] = "\nbackend_tls_listener_restarts_total ";
	char *body = NULL, *at = NULL;
	until = fs_test_now_ms() + 20000;
	do {
		free(body);
		body = NULL;
		if (https("GET", "/metrics", NULL, NULL, &body) == 200 &&
		    body != NULL && (at = strstr(body, key)) != NULL &&
		    strtoull(at + sizeof(key) - 1, NULL, 10) >=
		        (unsigned long long) replaced)
			break;
		at = NULL;
		fs_test_poll_pause(200);
	} while (fs_test_now_ms() < until);
	FS_CHECK(at != NULL,
	    "no backend_tls_listener_restarts_total >= %d "
	    "in /metrics",
	    replaced);
	free(body);
}

static CU_TestInfo tests[] = {
    {"HTTPS GET and POST, checked against the CA", test_https_rest},
    {"HTTPS keeps HTTP/1.1 keep-alive", test_https_keep_alive},
    {"tokens are checked over HTTPS", test_https_tokens},
    {"plain HTTP to the HTTPS port gets no API answer",
        test_https_no_plain_http},
    {"TLS 1.2+, AEAD suites, no client renegotiation", test_https_protocols},
    {"SIGHUP rotates the certificate; a bad file keeps the old",
        test_https_sighup_rotation},
    {"mTLS backend refuses no/foreign/expired certificates",
        test_mtls_refuses},
    {"mTLS backend serves a good certificate", test_mtls_serves},
    {"a gateway without a client certificate is refused",
        test_gateway_without_certificate},
    {"the C client's TLS settings", test_client_api},
    {"bad TLS settings stop the programs", test_bad_settings},
    {"a replica over mutual TLS replicates", test_mtls_replica},
    {"resets during TLS handshakes do not stop the backend's listener",
        test_mtls_listener_survives_resets},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"tls", suite_init, suite_fini, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
