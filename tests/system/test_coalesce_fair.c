/*
 * test_coalesce_fair.c - coalescing never couples unrelated requests
 * (README, "Coalescing"), against the real programs:
 * - 48 concurrent full lists of about 5 MB through one gateway all answer
 *   200 (batched together they passed the 16 MiB reply limit and all
 *   failed);
 * - a client pulling 15 MB lists does not hold up the GETs of another
 *   client of the same gateway;
 * - a list over the reply limit streams through the gateway (before:
 *   500), and over RPC without page_size answers RESOURCE_EXHAUSTED with
 *   how to page, and paging by limit and offset works;
 * - concurrent reads whose replies together pass the limit each get their
 *   own answer (a batch of them was refused as a whole).
 */
/* memmem */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <CUnit/Basic.h>

#include "testlib.h"

/* A "big" flow: 16 input fields of 250 characters, about 4.2 KB. */
#define BIG_FIELDS 16
#define BIG_FIELD_LEN 250

/* ---- seeding -------------------------------------------------------------- */

struct seed {
	atomic_int done, failed;
};

static void
on_seeded(void *arg, int code, Flowsvc__Reply *reply)
{
	struct seed *s = arg;

	if (code != FS_OK)
		atomic_fetch_add(&s->failed, 1);
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	atomic_fetch_add(&s->done, 1);
}

/* Creates flows prefix0..prefix(n-1) over RPC, each with nfields input
 * fields (and as many output fields when both is set) of len characters,
 * 32 in flight. Returns 0 when all were created. */
static int
seed_flows(fs_test_env *env, const char *prefix, int n, int nfields, int len,
    int both)
{
	char **fields = calloc((size_t) nfields, sizeof(*fields));
	struct seed s;
	int started = 0, rv = -1;

	atomic_init(&s.done, 0);
	atomic_init(&s.failed, 0);
	if (fields == NULL)
		return -1;
	for (int i = 0; i < nfields; i++) {
		if ((fields[i] = malloc((size_t) len + 1)) == NULL)
			goto out;
		memset(fields[i], 'a' + i % 26, (size_t) len);
		snprintf(fields[i], (size_t) len + 1, "f%04d", i);
		fields[i][5] = 'x'; /* snprintf's NUL */
		fields[i][len] = '\0';
	}
	for (int i = 0; i < n; i++) {
		Flowsvc__CreateRequest cr = FLOWSVC__CREATE_REQUEST__INIT;
		Flowsvc__StringList in = FLOWSVC__STRING_LIST__INIT;
		char name[64];

		while (started - atomic_load(&s.done) >= 32)
			fs_test_poll_pause(1);
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		in.n_items = (size_t) nfields;
		in.items = fields;
		cr.kind = FLOWSVC__KIND__FLOW;
		cr.name = name;
		cr.input_fields = &in;
		if (both)
			cr.output_fields = &in;
		fs_call_opts o = {.timeout_ms = 30000};
		if (fs_client_call_async(env->client, FLOWSVC__METHOD__CREATE,
		        &cr.base, &o, on_seeded, &s) != 0) {
			atomic_fetch_add(&s.failed, 1);
			continue;
		}
		started++;
	}
	int64_t until = fs_test_now_ms() + 60000;
	while (atomic_load(&s.done) < started && fs_test_now_ms() < until)
		fs_test_poll_pause(2);
	rv = atomic_load(&s.done) == started && atomic_load(&s.failed) == 0
	    ? 0
	    : -1;
	FS_CHECK(rv == 0, "seeded %d of %d (%d failed)", atomic_load(&s.done),
	    n, atomic_load(&s.failed));
out:
	for (int i = 0; i < nfields; i++)
		free(fields[i]);
	free(fields);
	return rv;
}

/* ---- a plain HTTP GET that keeps only what it needs ---------------------- */

struct raw {
	int status;
	size_t bytes; /* of the whole response */
	int items;    /* occurrences of "canvas_id" in it */
	int64_t ms;
	char head[256]; /* the start of the body, for messages */
};

/* A chunked body, decoded in place; returns its length. */
static size_t
dechunk(char *p, size_t n)
{
	size_t in = 0, out = 0;

	while (in < n) {
		char *end;
		unsigned long size = strtoul(p + in, &end, 16);
		char *eol = memmem(p + in, n - in, "\r\n", 2);
		if (end == p + in || eol == NULL || size == 0 ||
		    size > n - (size_t) (eol + 2 - p))
			break;
		in = (size_t) (eol + 2 - p);
		memmove(p + out, p + in, size);
		out += size;
		in += size + 2;
	}
	return out;
}

/* GET path on a fresh connection (Connection: close), reading until the
 * server closes. The list bodies here are megabytes; testlib's client
 * would parse them as JSON, which costs the test more than the request. */
static int
raw_get(int port, const char *path, struct raw *out)
{
	struct sockaddr_in sa;
	struct timeval tv = {60, 0};
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	int fd;

	memset(out, 0, sizeof(*out));
	if (buf == NULL)
		return -1;
	int64_t t0 = fs_test_now_ms();
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		free(buf);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0)
		goto fail;
	char req[512];
	int n = snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
	    path);
	if (n < 0 || (size_t) n >= sizeof(req) ||
	    send(fd, req, (size_t) n, MSG_NOSIGNAL) != n)
		goto fail;
	for (;;) {
		if (len == cap) {
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL)
				goto fail;
			buf = nb;
			cap *= 2;
		}
		ssize_t r = recv(fd, buf + len, cap - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		len += (size_t) r;
	}
	close(fd);
	out->ms = fs_test_now_ms() - t0;
	out->bytes = len;
	if (len > 12 && memcmp(buf, "HTTP/1.", 7) == 0)
		out->status = atoi(buf + 9);
	char *body = memmem(buf, len, "\r\n\r\n", 4);
	if (body != NULL) {
		body += 4;
		/* A streamed list comes in chunks: joined again, so that no
		 * chunk's size line splits what is counted. */
		if (memmem(buf, (size_t) (body - buf),
		        "Transfer-Encoding: chunked", 26) != NULL)
			len = (size_t) (body - buf) +
			    dechunk(body, (size_t) (buf + len - body));
		snprintf(out->head, sizeof(out->head), "%.*s",
		    (int) (buf + len - body < 200 ? buf + len - body : 200),
		    body);
	}
	for (const char *p = buf; p != NULL && p < buf + len;) {
		p = memmem(p, (size_t) (buf + len - p), "\"canvas_id\"", 11);
		if (p != NULL) {
			out->items++;
			p += 11;
		}
	}
	free(buf);
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}

/* ---- 48 concurrent lists -------------------------------------------------- */

#define LIST_CLIENTS 48
#define LIST_FLOWS 1200 /* about 5 MB of JSON */

struct lister {
	pthread_t thr;
	int port;
	atomic_int *go;
	const char *path;
	struct raw r;
	int rv;
};

static void *
lister_main(void *arg)
{
	struct lister *l = arg;

	while (!atomic_load(l->go))
		fs_test_poll_pause(1);
	l->rv = raw_get(l->port, l->path, &l->r);
	return NULL;
}

static void
test_concurrent_large_lists(void)
{
	fs_test_env env;
	struct lister *ls = calloc(LIST_CLIENTS, sizeof(*ls));
	atomic_int go;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ls);
	/* This case is about sizes, not time: under ASan, on two cores, the
	 * gateway takes seconds to turn 240 MB of replies into JSON, and
	 * the nng threads that would deliver the last replies are busy doing
	 * it, so the default 5 s deadline could pass. */
	if (!FS_CHECK(fs_env_init(&env, "fairlists") == 0, "env")) {
		free(ls);
		return;
	}
	env.rpc_timeout_ms = 30000;
	if (!FS_CHECK(fs_env_start_programs(&env) == 0, "programs") ||
	    seed_flows(&env, "big_", LIST_FLOWS, BIG_FIELDS, BIG_FIELD_LEN,
	        0) != 0) {
		fs_env_fini(&env);
		free(ls);
		return;
	}
	atomic_init(&go, 0);
	for (int i = 0; i < LIST_CLIENTS; i++) {
		ls[i].port = env.gw_port;
		ls[i].go = &go;
		ls[i].path = "/api/flows/";
		CU_ASSERT_FATAL(pthread_create(&ls[i].thr, NULL, lister_main,
		                    &ls[i]) == 0);
	}
	atomic_store(&go, 1);
	int ok = 0;
	size_t bytes = 0;
	int64_t slowest = 0;
	for (int i = 0; i < LIST_CLIENTS; i++) {
		pthread_join(ls[i].thr, NULL);
		if (ls[i].rv == 0 && ls[i].r.status == 200 &&
		    ls[i].r.items == LIST_FLOWS) {
			ok++;
			bytes = ls[i].r.bytes;
		} else if (LIST_CLIENTS - ok <= 5 || i < 3) {
			FS_CHECK(0, "list %d: rv %d, status %d, %d flows: %s",
			    i, ls[i].rv, ls[i].r.status, ls[i].r.items,
			    ls[i].r.head);
		}
		if (ls[i].r.ms > slowest)
			slowest = ls[i].r.ms;
	}
	FS_CHECK(ok == LIST_CLIENTS,
	    "%d of %d concurrent lists answered 200 "
	    "with all %d flows",
	    ok, LIST_CLIENTS, LIST_FLOWS);
	fprintf(stderr, "  %d lists of %zu bytes, slowest %lld ms\n", ok,
	    bytes, (long long) slowest);
	FS_CHECK(bytes > 4 * 1000 * 1000, "a list is %zu bytes", bytes);
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
	free(ls);
}

/* ---- GETs beside large lists ----------------------------------------------- */

#define PULL_FLOWS 3600 /* about 15 MB of JSON */
#define GETS 200
/* Each GET beside the lists. The old code made a GET wait for whatever
 * list was in flight: a median near the list's own time, hundreds of ms
 * under ASan; the GETs beside the lists now take a few ms, with a tail
 * from two cores shared by five busy threads. */
#define GET_BOUND_MS 250

struct puller {
	pthread_t thr;
	int port;
	atomic_bool stop;
	atomic_int lists, bad;
	struct raw last_bad;
};

static void *
puller_main(void *arg)
{
	struct puller *p = arg;
	struct raw r;

	while (!atomic_load(&p->stop)) {
		if (raw_get(p->port, "/api/flows/", &r) != 0 ||
		    r.status != 200 || r.items != PULL_FLOWS + 1) {
			p->last_bad = r;
			atomic_fetch_add(&p->bad, 1);
		}
		atomic_fetch_add(&p->lists, 1);
	}
	return NULL;
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *) a, y = *(const long long *) b;
	return x < y ? -1 : x > y;
}

static void
test_gets_beside_large_lists(void)
{
	fs_test_env env;
	struct puller p;
	char id[64];
	long long ms[GETS];

	if (!FS_CHECK(fs_env_start(&env, "fairgets") == 0, "programs") ||
	    seed_flows(&env, "big_", PULL_FLOWS, BIG_FIELDS, BIG_FIELD_LEN,
	        0) != 0 ||
	    FS_REST_CREATE(&env, "flows", "{\"name\": \"small\"}", id) != 0) {
		fs_env_fini(&env);
		return;
	}
	memset(&p, 0, sizeof(p));
	p.port = env.gw_port;
	CU_ASSERT_FATAL(pthread_create(&p.thr, NULL, puller_main, &p) == 0);

	/* GETs on the test's keep-alive connection, a few ms apart, for as
	 * long as it takes both to do GETS of them and to see the lists
	 * go by several times. */
	int n = 0, bad = 0;
	while (n < GETS || atomic_load(&p.lists) < 4) {
		fs_http_resp r;
		fs_restf(&env, "GET", NULL, &r, "/api/flows/%s/", id);
		if (r.status != 200 && bad++ < 3)
			FS_ASSERT_STATUS(&r, 200);
		ms[n % GETS] = r.elapsed_ms;
		n++;
		fs_http_resp_free(&r);
		fs_test_poll_pause(5);
		if (n > 20 * GETS)
			break;
	}
	atomic_store(&p.stop, 1);
	pthread_join(p.thr, NULL);
	int lists = atomic_load(&p.lists);
	FS_CHECK(bad == 0, "%d GETs failed", bad);
	FS_CHECK(atomic_load(&p.bad) == 0,
	    "%d of %d lists failed: status %d, "
	    "%d flows, %s",
	    atomic_load(&p.bad), lists, p.last_bad.status, p.last_bad.items,
	    p.last_bad.head);
	FS_CHECK(lists >= 4, "%d lists went by during %d GETs", lists, n);

	qsort(ms, GETS, sizeof(ms[0]), cmp_ll);
	fprintf(stderr,
	    "  %d GETs beside %d lists of 15 MB: p50 %lld ms, "
	    "p90 %lld ms, max %lld ms (the last %d)\n",
	    n, lists, ms[GETS / 2], ms[GETS * 9 / 10], ms[GETS - 1], GETS);
	FS_CHECK(ms[GETS - 1] < GET_BOUND_MS,
	    "the slowest GET took %lld ms "
	    "(p50 %lld ms) beside another client's lists",
	    ms[GETS - 1], ms[GETS / 2]);
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
}

/* ---- a list over the reply limit ----------------------------------------- */

#define OVER_FLOWS 4300 /* about 18 MB: over the 16 MiB reply limit */

static void
test_list_over_limit(void)
{
	fs_test_env env;
	struct raw r;
	fs_http_resp h;

	if (!FS_CHECK(fs_env_start(&env, "fairover") == 0, "programs") ||
	    seed_flows(&env, "big_", OVER_FLOWS, BIG_FIELDS, BIG_FIELD_LEN,
	        0) != 0) {
		fs_env_fini(&env);
		return;
	}
	/* Through the gateway it streams, page by page: all of it. */
	FS_CHECK(raw_get(env.gw_port, "/api/flows/", &r) == 0 &&
	        r.status == 200,
	    "status %d %s", r.status, r.head);
	FS_ASSERT_INT_EQ(r.items, OVER_FLOWS);
	fs_rest(&env, "GET", "/api/flows/?limit=1", NULL, &h);
	FS_ASSERT_STATUS(&h, 200);
	FS_CHECK(fs_http_header_get(&h, "X-Request-Id") != NULL,
	    "X-Request-Id");
	fs_http_resp_free(&h);
	/* Over RPC, without page_size: RESOURCE_EXHAUSTED with how to page
	 * (page_size and page_token, or limit and offset). */
	Flowsvc__ListRequest l = FLOWSVC__LIST_REQUEST__INIT;
	Flowsvc__Reply *rep = NULL;
	l.has_kind = 1;
	l.kind = FLOWSVC__KIND__FLOW;
	FS_ASSERT_CODE(fs_client_call(env.client, FLOWSVC__METHOD__LIST,
	                   &l.base, NULL, &rep),
	    FS_RESOURCE_EXHAUSTED, rep);
	FS_CHECK(rep != NULL && rep->message != NULL &&
	        strstr(rep->message, "limit and offset") != NULL,
	    "RPC message: %s", rep && rep->message ? rep->message : "(none)");
	if (rep != NULL)
		flowsvc__reply__free_unpacked(rep, NULL);
	/* The advice works: two pages hold every flow. */
	int total = 0;
	for (int page = 0; page < 2; page++) {
		char path[96];
		snprintf(path, sizeof(path),
		    "/api/flows/?limit=2500&offset=%d", page * 2500);
		FS_CHECK(raw_get(env.gw_port, path, &r) == 0 &&
		        r.status == 200,
		    "page %d: status %d %s", page, r.status, r.head);
		total += r.items;
	}
	FS_ASSERT_INT_EQ(total, OVER_FLOWS);
	FS_CHECK(fs_env_fini(&env) == 0, "both programs exit 0 on SIGTERM");
}

/* ---- reads whose replies together pass the limit -------------------------- */

#define HUGE_FLOWS 8
#define HUGE_READS 64

struct read_call {
	atomic_int runs;
	int code;
	char id[40];
	int own;
};

static void
on_read(void *arg, int code, Flowsvc__Reply *reply)
{
	struct read_call *k = arg;
	Flowsvc__ComponentReply *cr =
	    (Flowsvc__ComponentReply *) fs_reply_payload(reply,
	        &flowsvc__component_reply__descriptor);

	k->code = code;
	k->own = cr != NULL && cr->component != NULL &&
	    strcmp(cr->component->id, k->id) == 0 &&
	    cr->component->n_input_fields == 1000;
	if (cr != NULL)
		flowsvc__component_reply__free_unpacked(cr, NULL);
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	atomic_fetch_add(&k->runs, 1);
}

/* Flows of about 500 KB each (1000 input and 1000 output fields of 250
 * characters); 64 concurrent reads of them on a coalescing client. The
 * backend is stopped while they are made, so all but the first queue and
 * go out as one batch: 63 replies of 500 KB, twice the limit. */
static void
test_reads_over_limit_together(void)
{
	fs_test_env env;
	fs_client *c = NULL;
	char ids[HUGE_FLOWS][40];
	struct read_call *k = calloc(HUGE_READS, sizeof(*k));

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	if (!FS_CHECK(fs_env_init(&env, "fairreads") == 0 &&
	            fs_env_start_backend(&env) == 0,
	        "backend") ||
	    seed_flows(&env, "huge_", HUGE_FLOWS, 1000, BIG_FIELD_LEN, 1) !=
	        0) {
		fs_env_fini(&env);
		free(k);
		return;
	}
	for (int i = 0; i < HUGE_FLOWS; i++) {
		Flowsvc__ListRequest l = FLOWSVC__LIST_REQUEST__INIT;
		Flowsvc__Reply *rep = NULL;
		char name[32];
		snprintf(name, sizeof(name), "huge_%d", i);
		l.has_kind = 1;
		l.kind = FLOWSVC__KIND__FLOW;
		l.name_iexact = name;
		ids[i][0] = '\0';
		if (fs_client_call(env.client, FLOWSVC__METHOD__LIST, &l.base,
		        NULL, &rep) == FS_OK) {
			Flowsvc__ListReply *lr =
			    (Flowsvc__ListReply *) fs_reply_payload(rep,
			        &flowsvc__list_reply__descriptor);
			if (lr != NULL && lr->n_components == 1)
				snprintf(ids[i], sizeof(ids[i]), "%s",
				    lr->components[0]->id);
			if (lr != NULL)
				flowsvc__list_reply__free_unpacked(lr, NULL);
		}
		if (rep != NULL)
			flowsvc__reply__free_unpacked(rep, NULL);
		FS_CHECK(ids[i][0] != '\0', "id of %s", name);
	}
	FS_CHECK(fs_client_open(&c, env.backend_url) == 0 &&
	        fs_client_set_coalesce(c, 1) == 0,
	    "coalescing client");
	FS_CHECK(fs_test_proc_freeze(&env.backend, 5000) == 0,
	    "backend stopped");
	int started = 0;
	for (int i = 0; i < HUGE_READS; i++) {
		Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;
		fs_call_opts o = {.timeout_ms = 20000};
		snprintf(k[i].id, sizeof(k[i].id), "%s", ids[i % HUGE_FLOWS]);
		k[i].code = -1;
		g.id = k[i].id;
		started += fs_client_call_async(c, FLOWSVC__METHOD__GET,
		               &g.base, &o, on_read, &k[i]) == 0;
	}
	FS_CHECK(fs_test_proc_cont(&env.backend) == 0, "backend continued");
	FS_CHECK(started == HUGE_READS, "%d of %d reads started", started,
	    HUGE_READS);
	int64_t until = fs_test_now_ms() + 30000;
	int done = 0;
	while (fs_test_now_ms() < until) {
		done = 0;
		for (int i = 0; i < HUGE_READS; i++)
			done += atomic_load(&k[i].runs) > 0;
		if (done == started)
			break;
		fs_test_poll_pause(5);
	}
	FS_CHECK(done == started, "%d of %d reads answered", done, started);
	int ok = 0;
	for (int i = 0; i < HUGE_READS; i++) {
		if (k[i].code == FS_OK && k[i].own &&
		    atomic_load(&k[i].runs) == 1)
			ok++;
		else if (HUGE_READS - ok <= 3 || i < 3)
			FS_CHECK(0, "read %d: %s, own %d, %d callbacks", i,
			    fs_code_name(k[i].code), k[i].own,
			    atomic_load(&k[i].runs));
	}
	FS_CHECK(ok == HUGE_READS, "%d of %d reads got their flow", ok,
	    HUGE_READS);
	fs_client_close(c);
	FS_CHECK(fs_env_fini(&env) == 0, "backend exits 0 on SIGTERM");
	free(k);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"48 concurrent lists of 5 MB all answer 200",
	        test_concurrent_large_lists},
	    {"GETs are not held up by another client's 15 MB lists",
	        test_gets_beside_large_lists},
	    {"a list over the reply limit: streamed, or how to page",
	        test_list_over_limit},
	    {"reads whose replies together pass the limit each get theirs",
	        test_reads_over_limit_together},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"coalescing is fair", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
