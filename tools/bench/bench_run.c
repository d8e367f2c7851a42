/*
 * bench_run.c - flow-bench's load: N slots, each keeping one call in
 * flight through the public async client API (fs_client_call_async);
 * every completion, on an nng thread, records its latency and starts the
 * slot's next call. Also the ids file, the wait and snapshot modes and
 * the result line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench.h"

const char *const mode_names[] = {
    [M_SEED] = "seed",
    [M_GET] = "get",
    [M_CREATE] = "create",
    [M_UPDATE] = "update",
    [M_WAIT] = "wait",
    [M_SNAPSHOT] = "snapshot",
    [M_WATCH] = "watch",
};

static int64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t
rng_next(uint64_t *s)
{
	/* xorshift64* */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Field lists of a typical flow; update alternates between two sets of the
 * same size so that records keep their size. */
static const char *const in_fields[2][4] = {
    {"text", "lang", "user_id", "session"},
    {"query", "locale", "user_id", "channel"},
};
static const char *const out_fields[3] = {"reply", "intent", "confidence"};

static void
slot_lists(slot *s, int variant)
{
	for (int i = 0; i < 4; i++)
		s->in_items[i] = (char *) in_fields[variant][i];
	for (int i = 0; i < 3; i++)
		s->out_items[i] = (char *) out_fields[i];
	flowsvc__string_list__init(&s->in);
	s->in.n_items = 4;
	s->in.items = s->in_items;
	flowsvc__string_list__init(&s->out);
	s->out.n_items = 3;
	s->out.items = s->out_items;
}

static void
note_error(bench *b, int code, const Flowsvc__Reply *reply)
{
	atomic_fetch_add(&b->errors, 1);
	atomic_fetch_add(&b->by_code[code >= 0 && code < FS_CODE_COUNT
	                         ? code
	                         : FS_CODE_COUNT],
	    1);
	pthread_mutex_lock(&b->mtx);
	if (b->first_error[0] == '\0') {
		const char *msg = reply != NULL && reply->message != NULL
		    ? reply->message
		    : fs_strerror(code);
		if (reply != NULL && reply->n_violations > 0 &&
		    reply->violations[0]->n_messages > 0)
			snprintf(b->first_error, sizeof(b->first_error),
			    "%s: %s (%s: %s)", fs_code_name(code), msg,
			    reply->violations[0]->field,
			    reply->violations[0]->messages[0]);
		else
			snprintf(b->first_error, sizeof(b->first_error),
			    "%s: %s", fs_code_name(code), msg);
	}
	pthread_mutex_unlock(&b->mtx);
}

static void slot_done(slot *s);
static void call_cb(void *arg, int code, Flowsvc__Reply *reply);

/* Builds and sends the slot's next call. Returns false when the slot has no
 * more work or the call could not start (the slot is then finished). */
static bool
slot_start(slot *s)
{
	bench *b = s->b;
	const ProtobufCMessage *req;
	Flowsvc__Method m;
	fs_call_opts opts = {.timeout_ms = (uint32_t) b->cfg.timeout_ms};
	long n;

	if (atomic_load(&b->stop))
		return false;
	n = atomic_fetch_add(&b->next, 1);
	if (b->cfg.count > 0 && n >= b->cfg.count)
		return false;

	switch (b->cfg.mode) {
	case M_SEED:
		s->index = n;
		snprintf(s->name, sizeof(s->name), "f%ld", n);
		s->create.name = s->name;
		snprintf(s->group, sizeof(s->group), "g%ld", n % 100);
		s->create.group = s->group;
		m = FLOWSVC__METHOD__CREATE;
		req = &s->create.base;
		break;
	case M_CREATE:
		snprintf(s->name, sizeof(s->name), "%s%ld", b->cfg.prefix, n);
		s->create.name = s->name;
		s->create.group = "bench";
		m = FLOWSVC__METHOD__CREATE;
		req = &s->create.base;
		break;
	case M_GET:
		s->get.id = b->ids[rng_next(&s->rng) % b->nids];
		m = FLOWSVC__METHOD__GET;
		req = &s->get.base;
		break;
	case M_UPDATE:
		s->update.id = b->ids[rng_next(&s->rng) % b->nids];
		slot_lists(s, (int) (rng_next(&s->rng) & 1));
		s->update.input_fields = &s->in;
		m = FLOWSVC__METHOD__UPDATE;
		req = &s->update.base;
		break;
	default:
		return false;
	}
	s->epoch0 = atomic_load(&b->epoch);
	s->t0 = now_ns();
	int rv = fs_client_call_async(b->client, m, req, &opts, call_cb, s);
	if (rv != 0) {
		note_error(b, rv, NULL);
		return false;
	}
	return true;
}

static void
slot_done(slot *s)
{
	bench *b = s->b;

	pthread_mutex_lock(&b->mtx);
	if (--b->active == 0)
		pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mtx);
}

static void
call_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	slot *s = arg;
	bench *b = s->b;
	int64_t t1 = now_ns();
	uint64_t lat = (uint64_t) (t1 - s->t0);

	if (code == FS_OK) {
		atomic_fetch_add(&b->ok, 1);
		hist_add(&b->all, lat);
		if (s->epoch0 <= 1 && atomic_load(&b->epoch) >= 1)
			hist_add(&b->during, lat);
		if (b->cfg.mode == M_SEED) {
			Flowsvc__ComponentReply *cr =
			    (Flowsvc__ComponentReply *) fs_reply_payload(reply,
			        &flowsvc__component_reply__descriptor);
			if (cr == NULL || cr->component == NULL ||
			    (b->ids[s->index] = strdup(cr->component->id)) ==
			        NULL)
				note_error(b, FS_INTERNAL, NULL);
			if (cr != NULL)
				protobuf_c_message_free_unpacked(&cr->base,
				    NULL);
		}
	} else {
		note_error(b, code, reply);
	}
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);

	int64_t last =
	    atomic_load_explicit(&b->last_done, memory_order_relaxed);
	while (t1 > last &&
	    !atomic_compare_exchange_weak_explicit(&b->last_done, &last, t1,
	        memory_order_relaxed, memory_order_relaxed))
		;

	/* A seed stops at the first error: its ids file must be complete. */
	if (b->cfg.mode == M_SEED && code != FS_OK)
		atomic_store(&b->stop, true);
	if (!slot_start(s))
		slot_done(s);
}

/* ---- ids file ---------------------------------------------------------- */

int
ids_load(bench *b)
{
	FILE *f = fopen(b->cfg.ids_path, "r");
	char line[256];
	size_t cap = 0;

	if (f == NULL) {
		fprintf(stderr, "flow-bench: %s: %s\n", b->cfg.ids_path,
		    strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len = strcspn(line, "\r\n \t");
		if (len == 0)
			continue;
		line[len] = '\0';
		if (b->nids == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			char **n = realloc(b->ids, ncap * sizeof(*n));
			if (n == NULL)
				goto oom;
			b->ids = n;
			cap = ncap;
		}
		if ((b->ids[b->nids] = strdup(line)) == NULL)
			goto oom;
		b->nids++;
	}
	if (ferror(f)) {
		fprintf(stderr, "flow-bench: %s: read error\n",
		    b->cfg.ids_path);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (b->nids == 0) {
		fprintf(stderr, "flow-bench: %s: no ids\n", b->cfg.ids_path);
		return -1;
	}
	return 0;
oom:
	fclose(f);
	fprintf(stderr, "flow-bench: out of memory reading ids\n");
	return -1;
}

/* Writes the seeded ids: temp file, then rename. */
int
ids_write(bench *b, size_t n)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", b->cfg.ids_path) >=
	    (int) sizeof(tmp)) {
		fprintf(stderr, "flow-bench: --ids path too long\n");
		return -1;
	}
	if ((f = fopen(tmp, "w")) == NULL) {
		fprintf(stderr, "flow-bench: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (b->ids[i] == NULL) {
			fprintf(stderr, "flow-bench: flow f%zu has no id\n",
			    i);
			fclose(f);
			unlink(tmp);
			return -1;
		}
		fprintf(f, "%s\n", b->ids[i]);
	}
	if (fflush(f) != 0 || ferror(f) || fclose(f) != 0) {
		fprintf(stderr, "flow-bench: %s: write error\n", tmp);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, b->cfg.ids_path) != 0) {
		fprintf(stderr, "flow-bench: %s: %s\n", b->cfg.ids_path,
		    strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

void
ids_free(bench *b)
{
	if (b->ids == NULL)
		return;
	for (size_t i = 0; i < b->nids; i++)
		free(b->ids[i]);
	free(b->ids);
	b->ids = NULL;
}

/* ---- modes ------------------------------------------------------------- */

static void
wait_until(bench *b, int64_t until)
{
	struct timespec ts;

	/* The condvar runs on CLOCK_REALTIME; sleep in short steps instead
	 * and check for all slots having finished (e.g. backend gone). */
	pthread_mutex_lock(&b->mtx);
	while (b->active > 0 && now_ns() < until) {
		pthread_mutex_unlock(&b->mtx);
		int64_t left = until - now_ns();
		if (left > 20000000)
			left = 20000000;
		if (left > 0) {
			ts.tv_sec = 0;
			ts.tv_nsec = (long) left;
			nanosleep(&ts, NULL);
		}
		pthread_mutex_lock(&b->mtx);
	}
	pthread_mutex_unlock(&b->mtx);
}

static void
drain(bench *b)
{
	atomic_store(&b->stop, true);
	pthread_mutex_lock(&b->mtx);
	while (b->active > 0)
		pthread_cond_wait(&b->cv, &b->mtx);
	pthread_mutex_unlock(&b->mtx);
}

void
print_errors(bench *b)
{
	uint64_t nerr = atomic_load(&b->errors);

	if (nerr == 0)
		return;
	fprintf(stderr, "flow-bench: %" PRIu64 " calls failed:", nerr);
	for (int c = 0; c <= FS_CODE_COUNT; c++) {
		uint64_t k = atomic_load(&b->by_code[c]);
		if (k > 0)
			fprintf(stderr, " %s=%" PRIu64,
			    c < FS_CODE_COUNT ? fs_code_name(c) : "OTHER", k);
	}
	fprintf(stderr, "; first: %s\n", b->first_error);
}

double
run_load(bench *b, slot *slots, double *snap_ms)
{
	int64_t start = now_ns();
	int64_t deadline = start + (int64_t) (b->cfg.duration_s * 1e9);
	int64_t next_report = start + 2000000000;
	int n = (int) b->cfg.inflight;

	for (int i = 0; i < n; i++) {
		slots[i].b = b;
		slots[i].rng = 0x9E3779B97F4A7C15ULL ^
		    ((uint64_t) (i + 1) * UINT64_C(0xBF58476D1CE4E5B9)) ^
		    (uint64_t) start;
		if (slots[i].rng == 0)
			slots[i].rng = 1;
		flowsvc__get_request__init(&slots[i].get);
		flowsvc__create_request__init(&slots[i].create);
		flowsvc__update_request__init(&slots[i].update);
		slots[i].create.kind = FLOWSVC__KIND__FLOW;
		slots[i].get.has_kind = 1;
		slots[i].get.kind = FLOWSVC__KIND__FLOW;
		slots[i].update.has_kind = 1;
		slots[i].update.kind = FLOWSVC__KIND__FLOW;
		slot_lists(&slots[i], 0);
		slots[i].create.input_fields = &slots[i].in;
		slots[i].create.output_fields = &slots[i].out;
	}
	pthread_mutex_lock(&b->mtx);
	b->active = n;
	pthread_mutex_unlock(&b->mtx);
	for (int i = 0; i < n; i++)
		if (!slot_start(&slots[i]))
			slot_done(&slots[i]);

	if (b->cfg.mode == M_SEED) {
		/* No deadline: until every flow is created or an error. */
		for (;;) {
			wait_until(b, next_report);
			pthread_mutex_lock(&b->mtx);
			int left = b->active;
			pthread_mutex_unlock(&b->mtx);
			if (left == 0)
				break;
			if (!b->cfg.quiet) {
				double t = (double) (now_ns() - start) / 1e9;
				uint64_t ok = atomic_load(&b->ok);
				fprintf(stderr,
				    "seed: %" PRIu64 "/%lld flows, %.0f/s\n",
				    ok, b->cfg.count, (double) ok / t);
			}
			next_report += 2000000000;
		}
	} else if (b->cfg.snapshot_at >= 0) {
		int64_t at = start + (int64_t) (b->cfg.snapshot_at * 1e9);
		Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
		fs_call_opts o = {.timeout_ms = BENCH_SNAPSHOT_TIMEOUT_MS};
		Flowsvc__Reply *r = NULL;

		wait_until(b, at);
		atomic_store(&b->epoch, 1);
		int64_t t0 = now_ns();
		int rv = fs_client_call(b->client, FLOWSVC__METHOD__SNAPSHOT,
		    &e.base, &o, &r);
		int64_t t1 = now_ns();
		atomic_store(&b->epoch, 2);
		*snap_ms = (double) (t1 - t0) / 1e6;
		if (rv != FS_OK) {
			fprintf(stderr, "flow-bench: snapshot: %s: %s\n",
			    fs_code_name(rv),
			    r != NULL && r->message ? r->message
			                            : fs_strerror(rv));
			*snap_ms = -1;
		}
		if (r != NULL)
			flowsvc__reply__free_unpacked(r, NULL);
		/* Keep loading a little after the snapshot ends. */
		if (deadline < t1 + 500000000)
			deadline = t1 + 500000000;
		wait_until(b, deadline);
	} else {
		wait_until(b, deadline);
	}
	drain(b);
	int64_t last = atomic_load(&b->last_done);
	int64_t end = last > start ? last : now_ns();
	return (double) (end - start) / 1e9;
}

void
print_result(bench *b, double secs, double snap_ms)
{
	uint64_t ok = atomic_load(&b->ok), nerr = atomic_load(&b->errors);

	printf("mode=%s inflight=%lld seconds=%.2f ok=%" PRIu64
	       " errors=%" PRIu64 " rps=%.0f p50_us=%.1f p90_us=%.1f"
	       " p99_us=%.1f max_us=%.1f",
	    mode_names[b->cfg.mode], b->cfg.inflight, secs, ok, nerr,
	    secs > 0 ? (double) ok / secs : 0.0, hist_pct_us(&b->all, 50),
	    hist_pct_us(&b->all, 90), hist_pct_us(&b->all, 99),
	    hist_max_us(&b->all));
	if (b->cfg.snapshot_at >= 0)
		printf(" snapshot_ms=%.1f during_ok=%" PRIu64
		       " during_p50_us=%.1f during_p99_us=%.1f"
		       " during_max_us=%.1f",
		    snap_ms, hist_count(&b->during),
		    hist_pct_us(&b->during, 50), hist_pct_us(&b->during, 99),
		    hist_max_us(&b->during));
	printf("\n");
	fflush(stdout);
}

int
bench_client_open(fs_client **out, const struct config *cfg)
{
	fs_client_tls tls = {cfg->backend_cert, cfg->backend_key,
	    cfg->backend_ca, cfg->backend_server_name};
	bool use = cfg->backend_cert != NULL || cfg->backend_key != NULL ||
	    cfg->backend_ca != NULL || cfg->backend_server_name != NULL ||
	    fs_client_url_is_tls(cfg->backend);

	if (fs_client_open_tls(out, cfg->backend, use ? &tls : NULL) != 0) {
		fprintf(stderr, "flow-bench: %s: %s\n", cfg->backend,
		    fs_client_last_error());
		return 2;
	}
	return 0;
}

/* Polls until the backend answers HEALTH. A plain REQ socket with a
 * blocking dial probes for the listener every millisecond (the client's
 * own redial backs off to a second); once it is up, HEALTH goes through
 * the normal client. A tls+tcp:// backend is probed by the client itself
 * (the plain socket has no TLS settings), every 20 ms. */
int
run_wait(struct config *cfg)
{
	bool tls = fs_client_url_is_tls(cfg->backend);

	int64_t start = now_ns();
	int64_t until = start + (int64_t) (cfg->duration_s * 1e9);
	int attempts = 0;

	while (now_ns() < until) {
		nng_socket sock;
		int rv;

		attempts++;
		if (tls) {
			rv = 0;
		} else {
			if ((rv = nng_req0_open(&sock)) != 0) {
				fprintf(stderr, "flow-bench: %s\n",
				    nng_strerror(rv));
				return 1;
			}
			rv = nng_dial(sock, cfg->backend, NULL, 0);
			nng_close(sock);
		}
		if (rv == 0) {
			fs_client *c;
			Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
			fs_call_opts o = {.timeout_ms = 2000};
			Flowsvc__Reply *r = NULL;

			if ((rv = bench_client_open(&c, cfg)) != 0)
				return rv;
			rv = fs_client_call(c, FLOWSVC__METHOD__HEALTH,
			    &e.base, &o, &r);
			if (rv == FS_OK) {
				Flowsvc__HealthReply *h = (Flowsvc__HealthReply
				        *) fs_reply_payload(r,
				    &flowsvc__health_reply__descriptor);
				printf("mode=wait ms=%.1f attempts=%d "
				       "flows=%" PRIu64 "\n",
				    (double) (now_ns() - start) / 1e6,
				    attempts,
				    h != NULL && h->has_flows ? h->flows : 0);
				if (h != NULL)
					protobuf_c_message_free_unpacked(
					    &h->base, NULL);
			}
			if (r != NULL)
				flowsvc__reply__free_unpacked(r, NULL);
			fs_client_close(c);
			if (rv == FS_OK)
				return 0;
		} else if (rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP) {
			fprintf(stderr, "flow-bench: %s: %s\n", cfg->backend,
			    nng_strerror(rv));
			return 2;
		}
		struct timespec ts = {0, tls ? 20000000 : 1000000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "flow-bench: no HEALTH answer from %s within %.1f s\n",
	    cfg->backend, cfg->duration_s);
	return 1;
}

int
run_snapshot(fs_client *c)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	fs_call_opts o = {.timeout_ms = BENCH_SNAPSHOT_TIMEOUT_MS};
	Flowsvc__Reply *r = NULL;
	int64_t t0 = now_ns();
	int rv = fs_client_call(c, FLOWSVC__METHOD__SNAPSHOT, &e.base, &o, &r);
	double ms = (double) (now_ns() - t0) / 1e6;

	if (rv == FS_OK)
		printf("mode=snapshot ms=%.1f\n", ms);
	else
		fprintf(stderr, "flow-bench: snapshot: %s: %s\n",
		    fs_code_name(rv),
		    r != NULL && r->message ? r->message : fs_strerror(rv));
	if (r != NULL)
		flowsvc__reply__free_unpacked(r, NULL);
	return rv == FS_OK ? 0 : 1;
}
