/*
 * test_http_hostile.c - bytes no well-behaved HTTP client sends, over raw
 * sockets against the real gateway and backend:
 *
 *   - request smuggling primitives (Content-Length with Transfer-Encoding,
 *     two differing Content-Lengths, whitespace before a header's colon,
 *     any Transfer-Encoding but "chunked", a bare CR in a value, a framing
 *     header folded onto the next line): 400 and the connection closed,
 *     and the request hidden behind never runs;
 *   - request targets with an encoded NUL, an encoded slash or a control
 *     character in the path: 404, and nothing happens (no deploy, no
 *     list);
 *   - requests libmicrohttpd 0.9.75 refuses before the gateway sees them
 *     (bad HTTP version, header line without a colon, broken chunked
 *     encoding, oversized request line or headers, bad Content-Length):
 *     the gateway's JSON with X-Request-Id, not the library's HTML page;
 *     and the few answers the gateway cannot shape, pinned as they are so
 *     that a library upgrade that changes them is noticed (README, "HTTP
 *     input the gateway refuses").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "testlib.h"

static fs_test_env env;

static int
suite_init(void)
{
	static const char *const extra[] = {"--access-log", NULL};

	if (fs_env_init(&env, "hostile") != 0)
		return -1;
	env.gw_extra = extra;
	return fs_env_start_programs(&env);
}

static int
suite_fini(void)
{
	return fs_env_fini(&env);
}

/* ---- one raw exchange ---------------------------------------------------- */

#define MAX_RESPONSES 4

struct answer {
	char text[16384];
	size_t len;
	int closed; /* the gateway closed the connection within 5 s */
	int n;      /* responses read (status line, headers, body) */
	struct {
		int status;
		const char *head; /* its status line and headers, in text */
		size_t head_len;
		const char *body;
		size_t body_len;
	} r[MAX_RESPONSES];
};

/* The value of header `name` in response i (copied into out), or NULL. */
static const char *
header(const struct answer *a, int i, const char *name, char *out, size_t cap)
{
	const char *p = a->r[i].head, *end = p + a->r[i].head_len;
	size_t n = strlen(name);

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t) (end - p));
		size_t len = eol ? (size_t) (eol - p) : (size_t) (end - p);

		if (len > n + 1 && strncasecmp(p, name, n) == 0 &&
		    p[n] == ':') {
			const char *v = p + n + 1;

			while (*v == ' ')
				v++;
			len -= (size_t) (v - p);
			if (len > 0 && v[len - 1] == '\r')
				len--;
			snprintf(out, cap, "%.*s", (int) len, v);
			return out;
		}
		p += len + 1;
	}
	return NULL;
}

/* Splits what was read into responses, by their Content-Length. */
static void
parse_answer(struct answer *a)
{
	const char *p = a->text, *end = a->text + a->len;

	a->n = 0;
	while (a->n < MAX_RESPONSES && end - p > 12 &&
	    strncmp(p, "HTTP/1.1 ", 9) == 0) {
		const char *hend = strstr(p, "\r\n\r\n");
		char cl[32];
		size_t body;
		int i = a->n;

		if (hend == NULL)
			break;
		a->r[i].status = atoi(p + 9);
		a->r[i].head = p;
		a->r[i].head_len = (size_t) (hend + 2 - p);
		a->n++;
		body = header(a, i, "Content-Length", cl, sizeof(cl))
		    ? (size_t) strtoul(cl, NULL, 10)
		    : 0;
		p = hend + 4;
		if (body > (size_t) (end - p))
			body = (size_t) (end - p);
		a->r[i].body = p;
		a->r[i].body_len = body;
		p += body;
	}
}

/* Sends len bytes of req on a fresh connection (from 127.0.0.1) and reads
 * until the gateway closes it or 5 s pass. */
static void
exchange(const char *req, size_t len, struct answer *a)
{
	int fd = fs_raw_connect(NULL, env.gw_port);

	memset(a, 0, sizeof(*a));
	if (!FS_CHECK(fd >= 0, "connect: %s", strerror(errno)))
		return;
	/* The gateway may answer and close before reading it all. */
	(void) fs_raw_send(fd, req, len);
	a->closed =
	    fs_raw_read_to_close(fd, a->text, sizeof(a->text), &a->len, 5000);
	close(fd);
	parse_answer(a);
}

static void
exchange_str(const char *req, struct answer *a)
{
	exchange(req, strlen(req), a);
}

/* Checks that the answer is exactly one response: status, JSON body equal
 * to want_json, a non-empty X-Request-Id (rid when not NULL), and that the
 * gateway closed the connection after it (when must_close). */
static void
check_one(const char *what, const struct answer *a, int status,
    const char *want_json, const char *rid, int must_close, int line)
{
	char v[256];
	json_t *got = NULL, *want = json_loads(want_json, 0, NULL);

	if (!fs_check(a->n == 1, __FILE__, line, "responses",
	        "%s: expected one response, read %d: %.600s", what, a->n,
	        a->text))
		goto out;
	fs_check(a->r[0].status == status, __FILE__, line, "status",
	    "%s: expected %d, got %d: %.600s", what, status, a->r[0].status,
	    a->text);
	got = json_loadb(a->r[0].body, a->r[0].body_len, 0, NULL);
	fs_check(got != NULL && want != NULL && json_equal(got, want),
	    __FILE__, line, "body", "%s: body %.*s, expected %s", what,
	    (int) a->r[0].body_len, a->r[0].body, want_json);
	fs_check(header(a, 0, "Content-Type", v, sizeof(v)) != NULL &&
	        strcmp(v, "application/json") == 0,
	    __FILE__, line, "Content-Type", "%s: Content-Type %s", what,
	    header(a, 0, "Content-Type", v, sizeof(v)) ? v : "(none)");
	fs_check(header(a, 0, "X-Request-Id", v, sizeof(v)) != NULL &&
	        v[0] != '\0' && (rid == NULL || strcmp(v, rid) == 0),
	    __FILE__, line, "X-Request-Id", "%s: X-Request-Id \"%s\"%s%s",
	    what, header(a, 0, "X-Request-Id", v, sizeof(v)) ? v : "(none)",
	    rid ? ", expected " : "", rid ? rid : "");
	if (must_close)
		fs_check(a->closed, __FILE__, line, "closed",
		    "%s: the connection was left open", what);
out:
	json_decref(got);
	json_decref(want);
}
#define CHECK_ONE(what, a, st, json, rid, close)                              \
	check_one((what), (a), (st), (json), (rid), (close), __LINE__)

/* The flows named name (a list answer's length), -1 when the list fails. */
static int
count_named(const char *name)
{
	fs_http_resp r;
	int n = -1;

	if (fs_restf(&env, "GET", NULL, &r, "/api/flows/?name__iexact=%s",
	        name) == 0 &&
	    r.status == 200 && json_is_array(r.json))
		n = (int) json_array_size(r.json);
	fs_http_resp_free(&r);
	return n;
}

/* ---- smuggling ----------------------------------------------------------- */

/* A create that, if it ever ran, would leave a flow named `name`. */
static void
hidden_create(char *out, size_t cap, const char *name)
{
	char body[128];

	snprintf(body, sizeof(body), "{\"name\": \"%s\"}", name);
	snprintf(out, cap,
	    "POST /api/flows/ HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    strlen(body), body);
}

struct smuggle {
	const char *what;
	/* The first headers of the outer POST (Host and Content-Type
	 * follow), with %zu for the length of what follows the header block
	 * where a header wants it. */
	const char *headers;
	const char *prefix; /* body bytes before the hidden request */
	const char *detail;
};

static const struct smuggle smuggles[] = {
    {"Content-Length with Transfer-Encoding",
        "Content-Length: %zu\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n",
        "Request has both Content-Length and Transfer-Encoding."},
    {"Transfer-Encoding, then Content-Length",
        "Transfer-Encoding: chunked\r\nContent-Length: %zu\r\n", "0\r\n\r\n",
        "Request has both Content-Length and Transfer-Encoding."},
    {"two differing Content-Lengths",
        "Content-Length: 2\r\nContent-Length: %zu\r\n", "{}",
        "Request has conflicting Content-Length headers."},
    {"a space before the colon", "Content-Length : %zu\r\n", "",
        "Invalid header field name."},
    {"a tab before the colon", "Content-Length\t: %zu\r\n", "",
        "Invalid header field name."},
    {"whitespace before the first header", " Content-Length: %zu\r\n", "",
        "Invalid header field name."},
    {"Transfer-Encoding: gzip", "Transfer-Encoding: gzip\r\n", "",
        "Transfer-Encoding must be \"chunked\"."},
    {"Transfer-Encoding: Chunked", "Transfer-Encoding: Chunked\r\n",
        "0\r\n\r\n", "Transfer-Encoding must be \"chunked\"."},
    {"Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n",
        "Transfer-Encoding must be \"chunked\"."},
    {"Transfer-Encoding twice",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "0\r\n\r\n", "Transfer-Encoding must be \"chunked\"."},
    {"Transfer-Encoding with a trailing space",
        "Transfer-Encoding: chunked \r\n", "0\r\n\r\n",
        "Transfer-Encoding must be \"chunked\"."},
    {"a bare CR in a value", "X-Note: a\rContent-Length: %zu\r\n", "",
        "Invalid header field value."},
    {"Content-Length folded onto the next line", "Content-Length:\r\n %zu\r\n",
        "", "Invalid header field name."},
    {"a header folded onto Content-Length",
        "X-Note: a\r\n\tContent-Length:%zu\r\n", "",
        "Invalid header field name."},
};

/* Each primitive on a POST whose body, read another way, holds a second
 * request (a create): one 400, the connection closed, and the hidden
 * create never ran. */
static void
test_smuggling_refused(void)
{
	for (size_t i = 0; i < sizeof(smuggles) / sizeof(smuggles[0]); i++) {
		const struct smuggle *s = &smuggles[i];
		char name[32], hidden[256], head[512], req[1024];
		json_t *want = json_pack("{s:s}", "detail", s->detail);
		char *detail = json_dumps(want, 0);
		struct answer a;

		snprintf(name, sizeof(name), "smuggled_%zu", i);
		hidden_create(hidden, sizeof(hidden), name);
		snprintf(head, sizeof(head), s->headers,
		    strlen(s->prefix) + strlen(hidden));
		snprintf(req, sizeof(req),
		    "POST /api/flows/ HTTP/1.1\r\n%sHost: x\r\n"
		    "Content-Type: application/json\r\n\r\n%s%s",
		    head, s->prefix, hidden);
		exchange_str(req, &a);
		if (FS_CHECK(detail != NULL, "out of memory"))
			CHECK_ONE(s->what, &a, 400, detail, NULL, 1);
		FS_CHECK(count_named(name) == 0,
		    "%s: the hidden create ran (%d flows named %s)", s->what,
		    count_named(name), name);
		free(detail);
		json_decref(want);
	}
}

/* What the rules leave alone: identical duplicate Content-Lengths and
 * plain chunked bodies are served, and keep-alive survives them. */
static void
test_framing_accepted(void)
{
	static const char body[] = "{\"name\": \"framing_ok_1\"}";
	static const char chunk1[] = "{\"name\": \"frami";
	static const char chunk2[] = "ng_ok_2\"}";
	char req[1024];
	struct answer a;

	snprintf(req, sizeof(req),
	    "POST /api/flows/ HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "content-length: %zu\r\n\r\n%s"
	    "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	    strlen(body), strlen(body), body);
	exchange_str(req, &a);
	FS_CHECK(a.n == 2 && a.r[0].status == 201 && a.r[1].status == 200,
	    "identical Content-Lengths: %.600s", a.text);

	/* The body in two chunks. */
	snprintf(req, sizeof(req),
	    "POST /api/flows/ HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n%zx\r\n%s\r\n%zx\r\n%s\r\n0\r\n\r\n"
	    "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	    strlen(chunk1), chunk1, strlen(chunk2), chunk2);
	exchange_str(req, &a);
	FS_CHECK(a.n == 2 && a.r[0].status == 201 && a.r[1].status == 200,
	    "chunked body: %.600s", a.text);
	FS_CHECK(count_named("framing_ok_2") == 1, "chunked create missing");
}

/* ---- request targets ----------------------------------------------------- */

static void
get_target(const char *target, struct answer *a)
{
	char req[1024];

	snprintf(req, sizeof(req),
	    "%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target);
	exchange_str(req, a);
}

static void
test_encoded_targets(void)
{
	static const char *const not_found = "{\"detail\": \"Not found.\"}";
	char id[64], target[512];
	struct answer a;
	fs_http_resp r;
	int64_t until;
	int logged;

	if (!FS_CHECK(FS_REST_CREATE(&env, "apps",
	                  "{\"name\": \"target_app\"}", id) == 0,
	        "create failed"))
		return;

	/* Decoded, the NUL ended the path at ".../deploy": it deployed. */
	snprintf(target, sizeof(target),
	    "POST /api/apps/%s/deploy%%00/../../x", id);
	get_target(target, &a);
	CHECK_ONE("deploy%00/../../x", &a, 404, not_found, NULL, 1);
	fs_restf(&env, "GET", NULL, &r, "/api/apps/%s/status/", id);
	FS_ASSERT_STATUS(&r, 200);
	FS_CHECK(fs_json_str(r.json, "status") != NULL &&
	        strcmp(fs_json_str(r.json, "status"), "not-deployed") == 0,
	    "deployed through an encoded NUL: %s", r.body);
	fs_http_resp_free(&r);

	/* Decoded, "/api/flows/" listed every flow. */
	get_target("GET /api/flows/%00zzz", &a);
	CHECK_ONE("GET /api/flows/%00zzz", &a, 404, not_found, NULL, 1);
	get_target("GET /api/flows/%00", &a);
	CHECK_ONE("GET /api/flows/%00", &a, 404, not_found, NULL, 1);

	/* An encoded slash adds a segment the client did not send. */
	snprintf(target, sizeof(target), "GET /api/apps/%s%%2Fstatus", id);
	get_target(target, &a);
	CHECK_ONE("%2F", &a, 404, not_found, NULL, 1);
	snprintf(target, sizeof(target), "GET /api/apps/%s%%2fstatus%%2F", id);
	get_target(target, &a);
	CHECK_ONE("%2f", &a, 404, not_found, NULL, 1);
	get_target("GET /api%2Fflows/", &a);
	CHECK_ONE("/api%2Fflows/", &a, 404, not_found, NULL, 1);

	/* Other control characters, encoded or raw; decoded, a newline
	 * would have started a line of its own in the access log. */
	snprintf(target, sizeof(target), "GET /api/apps/%s/%%0aFAKE-LOG-LINE",
	    id);
	logged = fs_file_count(env.gateway.log_path, " 404 ");
	get_target(target, &a);
	CHECK_ONE("%0a", &a, 404, not_found, NULL, 1);
	/* Its access line may follow the close by a moment. */
	until = fs_test_now_ms() + 5000;
	while (fs_file_count(env.gateway.log_path, " 404 ") == logged &&
	    fs_test_now_ms() < until)
		fs_test_poll_pause(20);
	FS_CHECK(fs_file_count(env.gateway.log_path, "FAKE-LOG-LINE") == 0,
	    "an encoded newline reached the access log");
	get_target("GET /healthz%7F", &a);
	CHECK_ONE("%7F", &a, 404, not_found, NULL, 1);
	get_target("GET /heal\x01thz", &a);
	CHECK_ONE("raw 0x01", &a, 404, not_found, NULL, 1);

	/* The same characters in the query are data, not path. */
	get_target("GET /api/flows/?name__iexact=a%2Fb%00", &a);
	FS_CHECK(a.n == 1 && a.r[0].status == 200, "query with %%2F: %.300s",
	    a.text);
	snprintf(target, sizeof(target), "GET /api/apps/%s/status/", id);
	get_target(target, &a);
	FS_CHECK(a.n == 1 && a.r[0].status == 200, "plain target: %.300s",
	    a.text);
	/* A stray '%' is no encoding: the path is routed as it is. */
	get_target("GET /api/flows/%zz/", &a);
	CHECK_ONE("stray %", &a, 404, not_found, NULL, 1);
}

/* ---- what libmicrohttpd refuses ------------------------------------------ */

static char *
repeat(const char *head, char c, size_t n, const char *tail)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *s = malloc(hl + n + tl + 1);

	if (s == NULL)
		return NULL;
	memcpy(s, head, hl);
	memset(s + hl, c, n);
	memcpy(s + hl + n, tail, tl + 1);
	return s;
}

/* Every answer libmicrohttpd gives by itself is the gateway's JSON with
 * X-Request-Id, and closes the connection. */
static void
test_library_pages(void)
{
	static const struct {
		const char *what, *req;
		int status;
		const char *json;
	} cases[] = {
	    {"HTTP/2.0 request line",
	        "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505,
	        "{\"detail\": \"HTTP version not supported.\"}"},
	    {"HTTP/0.9 request line", "GET /healthz HTTP/0.9\r\n\r\n", 505,
	        "{\"detail\": \"HTTP version not supported.\"}"},
	    {"request line without a version", "GET /healthz\r\n\r\n", 400,
	        "{\"detail\": \"Malformed request.\"}"},
	    {"version in lower case", "GET /healthz http/1.1\r\n\r\n", 400,
	        "{\"detail\": \"Malformed request.\"}"},
	    {"header line without a colon",
	        "GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
	        400, "{\"detail\": \"Malformed request.\"}"},
	    {"chunk size not hex",
	        "POST /api/flows/ HTTP/1.1\r\nHost: x\r\nContent-Type: "
	        "application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
	        "zz\r\n{}\r\n0\r\n\r\n",
	        400, "{\"detail\": \"Malformed request.\"}"},
	    {"chunk without its CRLF",
	        "POST /api/flows/ HTTP/1.1\r\nHost: x\r\nContent-Type: "
	        "application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
	        "2\r\n{}XX0\r\n\r\n",
	        400, "{\"detail\": \"Malformed request.\"}"},
	    {"chunk size over 64 bits",
	        "POST /api/flows/ HTTP/1.1\r\nHost: x\r\nContent-Type: "
	        "application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
	        "fffffffffffffffffffff\r\n",
	        413, "{\"detail\": \"Request body too large.\"}"},
	};
	const char *big_rid = "hostile-page-1";
	char *req;
	struct answer a;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		exchange_str(cases[i].req, &a);
		CHECK_ONE(cases[i].what, &a, cases[i].status, cases[i].json,
		    NULL, 1);
	}
	/* The client's X-Request-Id, when it got that far. */
	exchange_str("POST /api/flows/ HTTP/1.1\r\nHost: x\r\n"
	             "X-Request-Id: hostile-page-0\r\nContent-Type: "
	             "application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
	             "zz\r\n{}\r\n0\r\n\r\n",
	    &a);
	CHECK_ONE("broken chunk with an X-Request-Id", &a, 400,
	    "{\"detail\": \"Malformed request.\"}", "hostile-page-0", 1);

	/* Past twice --max-header-bytes (16 KiB): libmicrohttpd's memory
	 * limit, where it answers itself. */
	/* (libmicrohttpd keeps a header once it has the next line: the id
	 * comes first.) */
	req = repeat("GET /healthz HTTP/1.1\r\nX-Request-Id: hostile-page-1"
	             "\r\nHost: x\r\nX-Big: ",
	    'b', 40000, "\r\n\r\n");
	if (req != NULL) {
		exchange_str(req, &a);
		CHECK_ONE("a 40000-byte header", &a, 431,
		    "{\"detail\": \"Request header fields too large.\"}",
		    big_rid, 1);
		free(req);
	}
	req = repeat("GET /healthz?q=", 'u', 40000, " HTTP/1.1\r\n\r\n");
	if (req != NULL) {
		exchange_str(req, &a);
		CHECK_ONE("a 40000-byte request line", &a, 414,
		    "{\"detail\": \"Request URI too long.\"}", NULL, 1);
		free(req);
	}
	if ((req = malloc(40000)) != NULL) {
		size_t n = (size_t) snprintf(req, 40000,
		    "GET /healthz HTTP/1.1\r\nHost: x\r\n");

		for (int k = 0; n + 64 < 40000 && k < 1500; k++)
			n += (size_t) snprintf(req + n, 40000 - n,
			    "X-H%06d: vvvvvvvv\r\n", k);
		n += (size_t) snprintf(req + n, 40000 - n, "\r\n");
		exchange(req, n, &a);
		CHECK_ONE("1500 small headers", &a, 431,
		    "{\"detail\": \"Request header fields too large.\"}", NULL,
		    1);
		free(req);
	}
	FS_CHECK(fs_test_proc_alive(&env.gateway), "gateway died");
}

/* Counted in the metrics, as requests of no route. */
static void
test_library_pages_counted(void)
{
	fs_http_resp r;
	struct answer a;

	exchange_str("GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n", &a);
	CHECK_ONE("HTTP/3.0", &a, 505,
	    "{\"detail\": \"HTTP version not supported.\"}", NULL, 1);
	fs_http_once(env.gw_port, "GET", "/metrics", NULL, NULL, 0, &r);
	FS_ASSERT_STATUS(&r, 200);
	FS_CHECK(r.body != NULL &&
	        strstr(r.body,
	            "flowsvc_http_requests_total{route=\"unknown\","
	            "method=\"OTHER\",status=\"505\"}") != NULL,
	    "no 505 counted in /metrics");
	fs_http_resp_free(&r);
}

/* What libmicrohttpd 0.9.75 still decides, pinned (README lists them): a
 * Content-Length it cannot parse is answered with its header block twice,
 * so the gateway's answer there has a status and X-Request-Id but no body;
 * a request line without a space or a method is closed unanswered. */
static void
test_library_limits_pinned(void)
{
	static const struct {
		const char *what, *req;
		int status;
	} doubled[] = {
	    {"Content-Length: 1x",
	        "POST /api/flows/ HTTP/1.1\r\nHost: x\r\nContent-Length: "
	        "1x\r\n\r\n",
	        400},
	    {"Content-Length: -1",
	        "POST /api/flows/ HTTP/1.1\r\nHost: x\r\nContent-Length: "
	        "-1\r\n\r\n",
	        400},
	    {"Content-Length: 5, 5",
	        "POST /api/flows/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5, "
	        "5\r\n\r\n",
	        400},
	    {"Content-Length over 64 bits",
	        "POST /api/flows/ HTTP/1.1\r\nHost: x\r\nContent-Length: "
	        "99999999999999999999999\r\n\r\n",
	        413},
	};
	static const char *const silent[] = {"GARBAGE\r\n\r\n",
	    " /healthz HTTP/1.1\r\n\r\n"};
	struct answer a;
	char v[2][160], *big;
	size_t n, cap = 32000;

	for (size_t i = 0; i < sizeof(doubled) / sizeof(doubled[0]); i++) {
		const char *what = doubled[i].what;

		exchange_str(doubled[i].req, &a);
		FS_CHECK(a.n == 2 && a.closed,
		    "%s: expected two header blocks "
		    "and a close, read %d (closed %d): %.600s",
		    what, a.n, a.closed, a.text);
		if (a.n < 1)
			continue;
		FS_CHECK(a.r[0].status == doubled[i].status &&
		        a.r[0].body_len == 0,
		    "%s: %d with %zu body bytes", what, a.r[0].status,
		    a.r[0].body_len);
		FS_CHECK(header(&a, 0, "X-Request-Id", v[0], sizeof(v[0])) &&
		        v[0][0] != '\0' &&
		        !header(&a, 0, "Content-Type", v[1], sizeof(v[1])),
		    "%s: X-Request-Id and no Content-Type expected: %.300s",
		    what, a.text);
		FS_CHECK(a.n < 2 ||
		        (a.r[1].head_len == a.r[0].head_len &&
		            memcmp(a.r[0].head, a.r[1].head,
		                a.r[0].head_len) == 0),
		    "%s: the second header block differs: %.600s", what,
		    a.text);
	}
	/* A Cookie header whose parsing fills libmicrohttpd's memory: the
	 * same, as 431. */
	if ((big = malloc(cap)) != NULL) {
		n = (size_t) snprintf(big, cap,
		    "GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: c=d");
		for (int k = 0; n + 32 < cap && k < 3000; k++)
			n += (size_t) snprintf(big + n, cap - n, "; a=b");
		n += (size_t) snprintf(big + n, cap - n, "\r\n\r\n");
		exchange(big, n, &a);
		FS_CHECK(a.n == 2 && a.closed && a.r[0].status == 431 &&
		        a.r[0].body_len == 0,
		    "3000 cookies: %.600s", a.text);
		free(big);
	}
	for (size_t i = 0; i < sizeof(silent) / sizeof(silent[0]); i++) {
		exchange_str(silent[i], &a);
		FS_CHECK(a.closed && a.len == 0,
		    "\"%.20s\": expected a close without an answer, got %zu "
		    "bytes (closed %d): %.300s",
		    silent[i], a.len, a.closed, a.text);
	}
	FS_CHECK(fs_test_proc_alive(&env.gateway), "gateway died");
}

static CU_TestInfo tests[] = {
    {"smuggling primitives: 400, closed, hidden request never runs",
        test_smuggling_refused},
    {"identical Content-Lengths and chunked bodies are served",
        test_framing_accepted},
    {"encoded NUL, slash or control in the path: 404, no effect",
        test_encoded_targets},
    {"libmicrohttpd's refusals answer JSON with X-Request-Id",
        test_library_pages},
    {"libmicrohttpd's refusals are counted", test_library_pages_counted},
    {"what libmicrohttpd 0.9.75 still decides, pinned",
        test_library_limits_pinned},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"hostile", suite_init, suite_fini, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
