/*
 * test_limits.c - the gateway's request limits and slow clients, over real
 * HTTP: --max-url (414), --max-query-params (400), --max-header-bytes
 * (MHD's own 431/414, connection closed, gateway unharmed), --max-inflight
 * (503 without calling the backend), 500 idle plus byte-a-second
 * connections against a short --conn-timeout, the default per-address
 * cap against 2,000 idle connections from one address, and
 * --header-timeout before a connection's first request.
 *
 * One backend serves the suite; each test starts the gateway it needs
 * (small limits make the boundaries cheap to reach).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"

static fs_test_env env;

static int
suite_init(void)
{
	struct rlimit rl;

	/* 500 idle connections in this process and in the gateway. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 &&
	    rl.rlim_max > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (fs_env_init(&env, "limits") != 0 ||
	    fs_env_start_backend(&env) != 0)
		return -1;
	return 0;
}

static int
suite_fini(void)
{
	if (env.backend.pid != 0)
		(void) fs_test_proc_cont(&env.backend);
	return fs_env_fini(&env);
}

static int
http_status(const char *path)
{
	return fs_http_status(env.gw_port, path);
}

/* Starts flow-gateway with the extra flags (NULL-terminated, at most 8)
 * and waits until it answers /healthz. Returns 0 or -1. */
static int
start_gateway(const char *const *extra)
{
	env.gw_extra = extra;
	return fs_env_start_gateway(&env, 0);
}

/* Stops the test's gateway and checks that it exits cleanly (0): no crash,
 * no sanitizer report. */
static void
stop_gateway(void)
{
	int st;

	if (env.gateway.pid == 0)
		return;
	st = fs_test_proc_stop(&env.gateway, SIGTERM, FS_TEST_STOP_TIMEOUT_MS);
	FS_CHECK(st == 0, "flow-gateway exit status %d (see its log in %s)",
	    st, env.dir);
}

/* ---- URL and query ------------------------------------------------------- */

/* testlib's client keeps request lines short, so long URLs go through a
 * raw socket: the request text is sent as is and the answer read until the
 * gateway closes (the last request should say Connection: close). Returns
 * the text read (caller frees) or NULL. */
static char *
raw_exchange(const char *text)
{
	size_t cap = 1 << 16;
	char *buf = malloc(cap);
	int fd;

	if (buf == NULL)
		return NULL;
	if ((fd = fs_raw_connect(NULL, env.gw_port)) < 0 ||
	    fs_raw_send(fd, text, strlen(text)) != 0 ||
	    fs_raw_read_to_close(fd, buf, cap, NULL,
	        FS_TEST_HTTP_TIMEOUT_MS) != 1) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;
	}
	close(fd);
	return buf;
}

/* One request of that method and target on a fresh connection; checks the
 * status and, when want_body is not NULL, that the body is that JSON. */
static void
check_raw(const char *method, const char *target, int want_status,
    const char *want_body, int line)
{
	size_t cap = strlen(target) + 256;
	char *req = malloc(cap), *resp = NULL, *body;
	int status = 0;

	if (!fs_check(req != NULL, __FILE__, line, "malloc", "out of memory"))
		return;
	snprintf(req, cap,
	    "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method,
	    target);
	resp = raw_exchange(req);
	if (resp != NULL && strncmp(resp, "HTTP/1.1 ", 9) == 0)
		status = atoi(resp + 9);
	fs_check(status == want_status, __FILE__, line, "status",
	    "%s of a %zu-byte target: expected %d, got %d", method,
	    strlen(target), want_status, status);
	if (want_body != NULL && status == want_status) {
		json_t *got, *want = json_loads(want_body, 0, NULL);

		body = strstr(resp, "\r\n\r\n");
		got = body ? json_loads(body + 4, 0, NULL) : NULL;
		fs_check(got != NULL && want != NULL && json_equal(got, want),
		    __FILE__, line, "body", "body %s, expected %s",
		    body ? body + 4 : "(none)", want_body);
		fs_check(strstr(resp, "X-Request-Id:") != NULL, __FILE__, line,
		    "X-Request-Id", "no X-Request-Id");
		json_decref(got);
		json_decref(want);
	}
	free(req);
	free(resp);
}
#define CHECK_RAW(m, t, st, b) check_raw((m), (t), (st), (b), __LINE__)

static const char *const URI_TOO_LONG =
    "{\"detail\": \"Request URI too long.\"}";
static const char *const TOO_MANY_PARAMS =
    "{\"detail\": \"Too many query parameters.\"}";

/* "/api/flows/?name__iexact=aaaa..." of exactly len characters. */
static char *
long_list_url(size_t len)
{
	static const char prefix[] = "/api/flows/?name__iexact=";
	char *u = malloc(len + 1);

	if (u == NULL)
		return NULL;
	memcpy(u, prefix, sizeof(prefix) - 1);
	memset(u + sizeof(prefix) - 1, 'a', len - (sizeof(prefix) - 1));
	u[len] = '\0';
	return u;
}

static void
test_url_length(void)
{
	const char *const extra[] = {"--max-url", "1000", NULL};
	char *at, *over, *req = NULL, *resp = NULL;
	size_t cap;

	if (!FS_CHECK(start_gateway(extra) == 0, "gateway did not start"))
		return;
	at = long_list_url(1000);
	over = long_list_url(1001);
	if (!FS_CHECK(at != NULL && over != NULL, "out of memory"))
		goto out;

	/* At the limit: served (an empty list: no flow has that name). */
	CHECK_RAW("GET", at, 200, "[]");
	/* One over: 414. */
	CHECK_RAW("GET", over, 414, URI_TOO_LONG);
	CHECK_RAW("HEAD", over, 414, NULL);

	/* The connection stays usable after a 414, and a body sent with it
	 * is read and dropped: a pipelined POST with a body, then a GET. */
	cap = 2 * strlen(over) + 512;
	if (!FS_CHECK((req = malloc(cap)) != NULL, "out of memory"))
		goto out;
	snprintf(req, cap,
	    "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
	    "\r\nContent-Length: 13\r\n\r\n{\"name\": \"x\"}"
	    "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	    over);
	resp = raw_exchange(req);
	FS_CHECK(resp != NULL && strncmp(resp, "HTTP/1.1 414", 12) == 0,
	    "pipelined POST: %.40s", resp ? resp : "(no answer)");
	FS_CHECK(resp != NULL && strstr(resp, "Request URI too long.") &&
	        strstr(resp + 12, "HTTP/1.1 200") != NULL,
	    "no 200 after the 414 on the same connection: %s",
	    resp ? resp : "(no answer)");

	/* A long path counts too, before routing (no 404 for it). */
	memcpy(over, "/api/apps/x", 11);
	CHECK_RAW("GET", over, 414, URI_TOO_LONG);
out:
	free(req);
	free(resp);
	free(at);
	free(over);
	stop_gateway();
}

static char *
params_url(int n)
{
	size_t cap = 32 + (size_t) n * 16;
	char *u = malloc(cap);
	size_t len;

	if (u == NULL)
		return NULL;
	len = (size_t) snprintf(u, cap, "/api/flows/?limit=5");
	for (int i = 1; i < n; i++)
		len += (size_t) snprintf(u + len, cap - len, "&p%d=%d", i, i);
	return u;
}

static void
test_query_params(void)
{
	const char *const extra[] = {"--max-query-params", "8", NULL};
	fs_http_resp r;
	char *at = NULL, *over = NULL;

	if (!FS_CHECK(start_gateway(extra) == 0, "gateway did not start"))
		return;
	at = params_url(8);
	over = params_url(9);
	if (!FS_CHECK(at != NULL && over != NULL, "out of memory"))
		goto out;
	CHECK_RAW("GET", at, 200, NULL);
	CHECK_RAW("GET", over, 400, TOO_MANY_PARAMS);
	/* Counted on every route, repeated keys included. */
	fs_http_once(env.gw_port, "GET", "/healthz?a&a&a&a&a&a&a&a&a", NULL,
	    NULL, 0, &r);
	FS_ASSERT_ERROR(&r, 400, TOO_MANY_PARAMS);
	fs_http_resp_free(&r);
out:
	free(at);
	free(over);
	stop_gateway();
}

static void
test_defaults(void)
{
	char *u;

	if (!FS_CHECK(start_gateway(NULL) == 0, "gateway did not start"))
		return;
	/* --max-url 8192 */
	if ((u = long_list_url(8192)) != NULL) {
		CHECK_RAW("GET", u, 200, "[]");
		free(u);
	}
	if ((u = long_list_url(8193)) != NULL) {
		CHECK_RAW("GET", u, 414, URI_TOO_LONG);
		free(u);
	}
	/* --max-query-params 64 */
	if ((u = params_url(64)) != NULL) {
		CHECK_RAW("GET", u, 200, NULL);
		free(u);
	}
	if ((u = params_url(65)) != NULL) {
		CHECK_RAW("GET", u, 400, TOO_MANY_PARAMS);
		free(u);
	}
	stop_gateway();
}

/* ---- headers ------------------------------------------------------------- */

/* Sends a request whose headers (or request line) are n bytes of filler,
 * and returns the status of the answer (0: none) and whether the gateway
 * closed the connection after it; the answer's start is left in last_resp. */
static char last_resp[4096];

static int
send_big(const char *what, size_t n, int *closed)
{
	size_t cap = n + 256, len;
	char *req = malloc(cap), *buf = last_resp;
	int fd, status = 0;

	*closed = 0;
	if (req == NULL)
		return -1;
	if (strcmp(what, "header") == 0) {
		len = (size_t) snprintf(req, cap,
		    "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
		memset(req + len, 'b', n);
		len += n;
		len += (size_t) snprintf(req + len, cap - len, "\r\n\r\n");
	} else if (strcmp(what, "headers") == 0) {
		/* Many small headers adding up to n bytes. */
		len = (size_t) snprintf(req, cap,
		    "GET /healthz HTTP/1.1\r\nHost: x\r\n");
		for (size_t i = 0; len + 40 < cap && i * 20 < n; i++)
			len += (size_t) snprintf(req + len, cap - len,
			    "X-H%06zu: vvvvvvvv\r\n", i);
		len += (size_t) snprintf(req + len, cap - len, "\r\n");
	} else {
		len = (size_t) snprintf(req, cap, "GET /api/flows/?q=");
		memset(req + len, 'u', n);
		len += n;
		len += (size_t) snprintf(req + len, cap - len,
		    " HTTP/1.1\r\nHost: x\r\n\r\n");
	}
	fd = fs_raw_connect(NULL, env.gw_port);
	if (fd < 0) {
		free(req);
		return -1;
	}
	/* The gateway may answer and close before it has read everything:
	 * a failed send is no error here. */
	(void) fs_raw_send(fd, req, len);
	*closed = fs_raw_read_to_close(fd, buf, sizeof(last_resp), NULL, 5000);
	if (strncmp(buf, "HTTP/1.1 ", 9) == 0)
		status = atoi(buf + 9);
	close(fd);
	free(req);
	return status;
}

static void
test_header_bytes(void)
{
	const char *const extra[] = {"--max-header-bytes", "8192", NULL};
	static const char *const kinds[] = {"header", "headers", "url"};
	int status, closed;

	if (!FS_CHECK(start_gateway(extra) == 0, "gateway did not start"))
		return;
	/* Well under the limit: served. */
	status = send_big("header", 2000, &closed);
	FS_CHECK(status == 200, "2000-byte header: status %d", status);
	/* Over it, up to twice it: the API's own 431, with its request id,
	 * and the connection closed. (Hundreds of small headers reach
	 * libmicrohttpd's memory limit sooner, with its per-header
	 * bookkeeping, and get its page: the loop below.) */
	status = send_big("header", 9000, &closed);
	FS_CHECK(status == 431 && closed &&
	        strstr(last_resp, "\r\nX-Request-Id: ") != NULL &&
	        strstr(last_resp,
	            "\r\n\r\n{\"detail\":\"Request header "
	            "fields too large.\"}") != NULL,
	    "header of 9000 bytes: expected a JSON 431 with X-Request-Id and "
	    "a close, got %d (closed %d): %.300s",
	    status, closed, last_resp);
	for (size_t k = 0; k < 3; k++) {
		for (size_t n = 8192; n <= 65536; n *= 8) {
			status = send_big(kinds[k], n, &closed);
			FS_CHECK(status == 431 || status == 413 ||
			        status == 414 || (status == 0 && closed),
			    "%s of %zu bytes: status %d", kinds[k], n, status);
			FS_CHECK(closed,
			    "%s of %zu bytes: connection left open", kinds[k],
			    n);
			FS_CHECK(fs_test_proc_alive(&env.gateway),
			    "gateway died on a %s of %zu bytes", kinds[k], n);
		}
	}
	FS_CHECK(http_status("/healthz") == 200,
	    "gateway not serving after oversized headers");
	stop_gateway();
}

/* ---- connections per client address -------------------------------------- */

static void
test_conns_per_ip(void)
{
	const char *const extra[] = {"--max-conns-per-ip", "10", NULL};
	int fds[10], n = 0, st = 0;
	int64_t deadline;
	fs_http_resp r;

	if (!FS_CHECK(start_gateway(extra) == 0, "gateway did not start"))
		return;
	/* Make sure the gateway has accepted each of the ten before the
	 * eleventh arrives: a request answered on each proves it, and
	 * keep-alive keeps them. A connection refused here is retried: the
	 * start-up probes' connections, closed a moment ago, can still count
	 * against the limit until MHD has cleaned them up (and with two HTTP
	 * threads accepts can come out of order). */
	deadline = fs_test_now_ms() + 5000;
	while (n < 10 && fs_test_now_ms() < deadline) {
		static const char req[] =
		    "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
		struct timeval tv = {5, 0};
		char buf[512];
		ssize_t got;

		if ((fds[n] = fs_raw_connect(NULL, env.gw_port)) < 0)
			break;
		(void) setsockopt(fds[n], SOL_SOCKET, SO_RCVTIMEO, &tv,
		    sizeof(tv));
		got = fs_raw_send(fds[n], req, sizeof(req) - 1) == 0
		    ? recv(fds[n], buf, sizeof(buf) - 1, 0)
		    : -1;
		if (got > 12 && strncmp(buf, "HTTP/1.1 200", 12) == 0) {
			n++;
		} else {
			close(fds[n]);
			fs_test_poll_pause(20);
		}
	}
	FS_CHECK(n == 10, "ten connections served, got %d", n);
	/* The eleventh from the same address is closed unanswered. MHD may
	 * count the ten a moment after their connect(): poll. */
	deadline = fs_test_now_ms() + 5000;
	for (;;) {
		fs_http_once(env.gw_port, "GET", "/healthz", NULL, NULL, 0,
		    &r);
		st = r.status;
		fs_http_resp_free(&r);
		if (st == 0 || fs_test_now_ms() >= deadline)
			break;
		fs_test_poll_pause(20);
	}
	FS_CHECK(st == 0, "an eleventh connection was answered (%d)", st);
	/* One closed: served again. */
	if (n > 0)
		close(fds[--n]);
	deadline = fs_test_now_ms() + 5000;
	while ((st = http_status("/healthz")) != 200 &&
	    fs_test_now_ms() < deadline)
		fs_test_poll_pause(20);
	FS_CHECK(st == 200, "not served after a connection closed (%d)", st);
	while (n > 0)
		close(fds[--n]);
	stop_gateway();
}

/* ---- in-flight backend calls --------------------------------------------- */

static void
test_inflight(void)
{
	/* Calls to a frozen backend stay in flight until the RPC timeout. */
	const char *const extra[] = {"--max-inflight", "2", "--rpc-timeout",
	    "8000", NULL};
	fs_http_conn *probes[16];
	int n_probes = 0, refused = 0;
	int64_t deadline;
	fs_http_resp r;

	if (!FS_CHECK(start_gateway(extra) == 0, "gateway did not start"))
		return;
	fs_http_once(env.gw_port, "GET", "/api/flows/?limit=1", NULL, NULL, 0,
	    &r);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);

	if (!FS_CHECK(fs_test_proc_freeze(&env.backend, 5000) == 0,
	        "cannot freeze the backend"))
		goto out;
	/* Probes on their own connections with a short socket timeout: one
	 * that times out stays in flight and fills the table; once two are,
	 * the next is refused at once. */
	deadline = fs_test_now_ms() + 20000;
	while (!refused && n_probes < 16 && fs_test_now_ms() < deadline) {
		fs_http_conn *c;

		if (fs_http_connect(&c, env.gw_port, 1000) != 0)
			break;
		probes[n_probes++] = c;
		fs_http_request(c, "GET", "/api/flows/?limit=1", NULL, NULL, 0,
		    &r);
		if (r.status == 503) {
			refused = 1;
			FS_ASSERT_ERROR(&r, 503,
			    "{\"detail\": \"Service unavailable.\"}");
			FS_CHECK(r.elapsed_ms < 1000,
			    "the refusal took %lld ms",
			    (long long) r.elapsed_ms);
			FS_CHECK(n_probes >= 3,
			    "refused with %d probes in flight", n_probes - 1);
		}
		fs_http_resp_free(&r);
	}
	FS_CHECK(refused, "no 503 after %d probes", n_probes);
	/* /healthz needs no backend call: still served. */
	FS_CHECK(http_status("/healthz") == 200, "/healthz not served");
	FS_CHECK(fs_test_proc_cont(&env.backend) == 0, "SIGCONT failed");

	/* Recovery: the stuck calls complete and new ones are served. */
	deadline = fs_test_now_ms() + 15000;
	while (fs_test_now_ms() < deadline &&
	    http_status("/api/flows/?limit=1") != 200)
		fs_test_poll_pause(50);
	FS_CHECK(http_status("/api/flows/?limit=1") == 200,
	    "not served after the backend came back");
out:
	for (int i = 0; i < n_probes; i++)
		fs_http_close(probes[i]);
	(void) fs_test_proc_cont(&env.backend);
	stop_gateway();
}

/* Creates a flow through the gateway; its id into id. Returns 0 or -1. */
static int
create_flow(const char *name, char id[64])
{
	char body[128];
	fs_http_resp r;
	const char *v;
	int rv = -1;

	snprintf(body, sizeof(body), "{\"name\": \"%s\"}", name);
	fs_http_once(env.gw_port, "POST", "/api/flows/",
	    (const char *const[]){"Content-Type: application/json", NULL},
	    body, strlen(body), &r);
	if (r.status == 201 && (v = fs_json_str(r.json, "id")) != NULL) {
		snprintf(id, 64, "%s", v);
		rv = 0;
	}
	fs_http_resp_free(&r);
	return rv;
}

/* ---- slow clients -------------------------------------------------------- */

#define N_IDLE 500
#define N_SLOW 8

static void
test_slow_clients(void)
{
	/* Above the per-address cap's default: all 508 come from 127.0.0.1. */
	const char *const extra[] = {"--conn-timeout", "2",
	    "--max-conns-per-ip", "1000", NULL};
	static const char slow_req[] =
	    "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	int idle[N_IDLE], slow[N_SLOW];
	size_t slow_pos[N_SLOW];
	int n_idle = 0, n_slow = 0, served = 0, closed_idle = 0;
	int64_t worst = 0, start, last_byte = 0;
	char id[64] = "";

	for (int i = 0; i < N_IDLE; i++)
		idle[i] = -1;
	if (!FS_CHECK(start_gateway(extra) == 0, "gateway did not start"))
		return;
	if (!FS_CHECK(create_flow("slow_clients", id) == 0,
	        "cannot create a flow"))
		goto out;

	for (; n_idle < N_IDLE; n_idle++)
		if ((idle[n_idle] = fs_raw_connect(NULL, env.gw_port)) < 0)
			break;
	FS_CHECK(n_idle == N_IDLE, "opened %d idle connections: %s", n_idle,
	    strerror(errno));
	for (; n_slow < N_SLOW; n_slow++) {
		if ((slow[n_slow] = fs_raw_connect(NULL, env.gw_port)) < 0)
			break;
		slow_pos[n_slow] = 0;
	}
	FS_CHECK(n_slow == N_SLOW, "opened %d slow connections", n_slow);

	/* For 6 s (three idle timeouts): the slow senders send a byte a
	 * second, and fresh connections must be served promptly throughout. */
	start = fs_test_now_ms();
	while (fs_test_now_ms() - start < 6000) {
		fs_http_resp r;
		char path[128];

		if (fs_test_now_ms() - last_byte >= 1000) {
			last_byte = fs_test_now_ms();
			for (int i = 0; i < n_slow; i++) {
				char b = slow_req[slow_pos[i] %
				    (sizeof(slow_req) - 1)];

				/* A header that grows forever: the memory
				 * limit ends it, or the timeout. */
				if (slow_pos[i] >= sizeof(slow_req) - 1)
					b = 's';
				if (slow[i] >= 0 &&
				    send(slow[i], &b, 1, MSG_NOSIGNAL) == 1)
					slow_pos[i]++;
			}
		}
		snprintf(path, sizeof(path), "/api/flows/%s/", id);
		fs_http_once(env.gw_port, "GET", path, NULL, NULL, 0, &r);
		if (FS_ASSERT_STATUS(&r, 200))
			served++;
		if (r.elapsed_ms > worst)
			worst = r.elapsed_ms;
		fs_http_resp_free(&r);
		fs_test_poll_pause(50);
	}
	FS_CHECK(served >= 20, "only %d requests served in 6 s", served);
	FS_CHECK(worst < 1000, "slowest request took %lld ms",
	    (long long) worst);

	/* The idle connections were closed by --conn-timeout 2. */
	for (int i = 0; i < n_idle; i++) {
		char buf[256];

		if (fs_raw_read_to_close(idle[i], buf, sizeof(buf), NULL,
		        i == 0 ? 5000 : 100) == 1)
			closed_idle++;
	}
	FS_CHECK(closed_idle == n_idle,
	    "%d of %d idle connections still open after 6 s",
	    n_idle - closed_idle, n_idle);
	FS_CHECK(fs_test_proc_alive(&env.gateway), "gateway died");
out:
	for (int i = 0; i < n_idle; i++)
		if (idle[i] >= 0)
			close(idle[i]);
	for (int i = 0; i < n_slow; i++)
		close(slow[i]);
	stop_gateway();
}

/* ---- idle connections: per-address cap, header timeout ------------------- */

/* Opens n connections to the gateway from 127.0.0.1 at once: non-blocking
 * connects, then at most timeout_ms for the handshakes (a gateway that
 * stops accepting leaves them in its backlog). fds[i] is -1 for one that
 * did not connect. Returns how many did. */
static int
open_many(int *fds, int n, int timeout_ms)
{
	int64_t until = fs_test_now_ms() + timeout_ms;
	struct sockaddr_in sa;
	char *pending = calloc((size_t) n, 1);
	int connected = 0, waiting = 0;

	if (pending == NULL)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t) env.gw_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < n; i++) {
		fds[i] = socket(AF_INET,
		    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fds[i] < 0)
			continue;
		if (connect(fds[i], (struct sockaddr *) &sa, sizeof(sa)) ==
		    0) {
			connected++;
		} else if (errno == EINPROGRESS) {
			pending[i] = 1;
			waiting++;
		} else {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	while (waiting > 0 && fs_test_now_ms() < until) {
		for (int i = 0; i < n; i++) {
			struct pollfd pfd = {fds[i], POLLOUT, 0};
			int err = 0;
			socklen_t len = sizeof(err);

			if (!pending[i] || poll(&pfd, 1, 0) != 1)
				continue;
			pending[i] = 0;
			waiting--;
			(void) getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err,
			    &len);
			/* Reset right after the handshake counts as
			 * connected: that is the per-address cap at work. */
			if (err == 0 || err == ECONNRESET || err == EPIPE) {
				connected++;
			} else {
				close(fds[i]);
				fds[i] = -1;
			}
		}
		fs_test_poll_pause(10);
	}
	for (int i = 0; i < n; i++) {
		if (pending[i]) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	free(pending);
	return connected;
}

/* Waits (at most timeout_ms) until at least want of the n connections are
 * closed by the gateway (EOF or reset); gone[] remembers which. Returns
 * how many are. */
static int
count_closed(const int *fds, char *gone, int n, int want, int timeout_ms)
{
	int64_t until = fs_test_now_ms() + timeout_ms;
	int closed;

	for (;;) {
		closed = 0;
		for (int i = 0; i < n; i++) {
			char b;
			ssize_t got;

			if (fds[i] >= 0 && !gone[i]) {
				got = recv(fds[i], &b, 1, MSG_DONTWAIT);
				if (got == 0 ||
				    (got < 0 && errno != EAGAIN &&
				        errno != EWOULDBLOCK))
					gone[i] = 1;
			}
			closed += gone[i];
		}
		if (closed >= want || fs_test_now_ms() >= until)
			return closed;
		fs_test_poll_pause(50);
	}
}

/* GET path with Connection: close from local address `from`; returns the
 * status (0: no answer within 5 s). */
static int
get_from(const char *from, const char *path)
{
	char req[256], resp[4096];
	int fd, status = 0;

	snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
	if ((fd = fs_raw_connect(from, env.gw_port)) < 0)
		return 0;
	if (fs_raw_send(fd, req, strlen(req)) == 0 &&
	    fs_raw_read_to_close(fd, resp, sizeof(resp), NULL, 5000) == 1 &&
	    strncmp(resp, "HTTP/1.1 ", 9) == 0)
		status = atoi(resp + 9);
	close(fd);
	return status;
}

#define N_FLOOD 2000
#define PER_IP_DEFAULT 256

/* The defaults alone keep one address from taking the gateway: 2,000 idle
 * connections from 127.0.0.1 (twice --max-conns), a GET from 127.0.0.2
 * meanwhile. */
static void
test_idle_flood(void)
{
	int *fds = malloc(N_FLOOD * sizeof(*fds));
	char *gone = calloc(N_FLOOD, 1);
	int opened = 0, closed, st, lines;
	int64_t t0, t;

	if (!FS_CHECK(fds != NULL && gone != NULL, "out of memory"))
		goto out;
	for (int i = 0; i < N_FLOOD; i++)
		fds[i] = -1;
	/* The log is the suite's, appended by every gateway: count from here. */
	lines = fs_file_count(env.gateway.log_path, "libmicrohttpd:");
	if (!FS_CHECK(start_gateway(NULL) == 0, "gateway did not start"))
		goto out;
	t0 = fs_test_now_ms();
	opened = open_many(fds, N_FLOOD, 5000);
	FS_CHECK(opened == N_FLOOD, "%d of %d connections completed", opened,
	    N_FLOOD);
	/* All but --max-conns-per-ip (256) of them are closed at once. */
	closed =
	    count_closed(fds, gone, N_FLOOD, N_FLOOD - PER_IP_DEFAULT, 5000);
	FS_CHECK(closed >= N_FLOOD - PER_IP_DEFAULT,
	    "%d of %d idle connections from one address closed; expected all "
	    "but %d",
	    closed, N_FLOOD, PER_IP_DEFAULT);
	/* Another address is served while they sit there. */
	t = fs_test_now_ms();
	st = get_from("127.0.0.2", "/api/flows/?limit=1");
	fprintf(stderr,
	    "    GET from 127.0.0.2 beside %d idle: %d in %lld "
	    "ms\n",
	    N_FLOOD - closed, st, (long long) (fs_test_now_ms() - t));
	FS_CHECK(st == 200,
	    "GET from 127.0.0.2 beside %d idle connections "
	    "from 127.0.0.1: status %d",
	    N_FLOOD - closed, st);
	/* The rest never sent a request: --header-timeout (10 s) closes
	 * them, long before --conn-timeout (30 s) would. */
	closed = count_closed(fds, gone, N_FLOOD, opened,
	    (int) (t0 + 25000 - fs_test_now_ms()));
	FS_CHECK(closed == opened,
	    "%d idle connections still open %lld ms after they opened",
	    opened - closed, (long long) (fs_test_now_ms() - t0));
	FS_CHECK(fs_test_proc_alive(&env.gateway), "gateway died");
	/* libmicrohttpd logs every refused connection; the gateway passes
	 * on at most 10 of its lines a second. */
	lines = fs_file_count(env.gateway.log_path, "libmicrohttpd:") - lines;
	FS_CHECK(lines <= 10 * (int) ((fs_test_now_ms() - t0) / 1000 + 2),
	    "%d libmicrohttpd lines logged in %lld ms", lines,
	    (long long) (fs_test_now_ms() - t0));
out:
	for (int i = 0; fds != NULL && i < N_FLOOD; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(gone);
	stop_gateway();
}

/* Sends one keep-alive GET /healthz on fd and reads its whole answer.
 * Returns the status, 0 when none came within 5 s. */
static int
keepalive_get(int fd)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	char buf[2048];
	size_t len = 0;
	int64_t until = fs_test_now_ms() + 5000;
	const char *end, *cl;

	if (fs_raw_send(fd, req, sizeof(req) - 1) != 0)
		return 0;
	while (fs_test_now_ms() < until && len + 1 < sizeof(buf)) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t n;

		if (poll(&pfd, 1, 100) != 1)
			continue;
		if ((n = recv(fd, buf + len, sizeof(buf) - len - 1, 0)) <= 0)
			return 0;
		len += (size_t) n;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL &&
		    (cl = strstr(buf, "Content-Length: ")) != NULL &&
		    cl < end &&
		    len >= (size_t) (end + 4 - buf) + (size_t) atoi(cl + 16))
			return strncmp(buf, "HTTP/1.1 ", 9) == 0
			    ? atoi(buf + 9)
			    : 0;
	}
	return 0;
}

/* Connections that have not sent a whole request get --header-timeout;
 * one that has keeps --conn-timeout between requests. */
static void
test_header_timeout(void)
{
	const char *const extra[] = {"--header-timeout", "2", NULL};
	static const char line[] = "GET /healthz HT";
	static const char head[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
	int silent = -1, part_line = -1, part_head = -1, kept = -1;
	int64_t served;
	char buf[512];
	struct pollfd pfd;

	if (!FS_CHECK(start_gateway(extra) == 0, "gateway did not start"))
		return;
	kept = fs_raw_connect(NULL, env.gw_port);
	silent = fs_raw_connect(NULL, env.gw_port);
	part_line = fs_raw_connect(NULL, env.gw_port);
	part_head = fs_raw_connect(NULL, env.gw_port);
	if (!FS_CHECK(kept >= 0 && silent >= 0 && part_line >= 0 &&
	            part_head >= 0,
	        "connect: %s", strerror(errno)))
		goto out;
	FS_CHECK(keepalive_get(kept) == 200, "first request not served");
	served = fs_test_now_ms();
	FS_CHECK(fs_raw_send(part_line, line, sizeof(line) - 1) == 0 &&
	        fs_raw_send(part_head, head, sizeof(head) - 1) == 0,
	    "send failed");
	FS_CHECK(fs_raw_read_to_close(silent, buf, sizeof(buf), NULL, 10000),
	    "a connection that sent nothing is open after 10 s");
	FS_CHECK(fs_raw_read_to_close(part_line, buf, sizeof(buf), NULL,
	             10000),
	    "a connection with half a request line is open after 10 s");
	FS_CHECK(fs_raw_read_to_close(part_head, buf, sizeof(buf), NULL,
	             10000),
	    "a connection with half its headers is open after 10 s");
	/* Idle for longer than --header-timeout after its request (what is
	 * tested here is a timeout: the wait is the point), the keep-alive
	 * connection is still open and serves another. */
	while (fs_test_now_ms() - served < 3500)
		fs_test_poll_pause(100);
	pfd = (struct pollfd){kept, POLLIN, 0};
	FS_CHECK(poll(&pfd, 1, 0) == 0,
	    "the keep-alive connection was closed after %lld ms idle",
	    (long long) (fs_test_now_ms() - served));
	FS_CHECK(keepalive_get(kept) == 200,
	    "no answer on the keep-alive connection after %lld ms idle",
	    (long long) (fs_test_now_ms() - served));
out:
	if (kept >= 0)
		close(kept);
	if (silent >= 0)
		close(silent);
	if (part_line >= 0)
		close(part_line);
	if (part_head >= 0)
		close(part_head);
	stop_gateway();
}

static CU_TestInfo tests[] = {
    {"--max-url: 414 one past the limit, keep-alive kept", test_url_length},
    {"--max-query-params: 400 one past the limit", test_query_params},
    {"default limits: 8192-byte URL, 64 parameters", test_defaults},
    {"--max-header-bytes: oversized headers answered and closed",
        test_header_bytes},
    {"--max-conns-per-ip: the connection over it is closed",
        test_conns_per_ip},
    {"--max-inflight: 503 at once, recovery after", test_inflight},
    {"500 idle and byte-a-second clients do not delay others",
        test_slow_clients},
    {"defaults: 2,000 idle connections from one address, another served",
        test_idle_flood},
    {"--header-timeout before a request, --conn-timeout after",
        test_header_timeout},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"limits", suite_init, suite_fini, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
