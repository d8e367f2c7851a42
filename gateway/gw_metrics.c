/*
 * gw_metrics.c - counters, one histogram and gauges in Prometheus text.
 *
 * The request counter is a dense array indexed by route, method and status
 * (12 x 6 x 500 slots, about 290 KiB): no hashing or locking on the hot
 * path, and rendering skips the zero slots.
 */
#include "gw_metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "fs_methods.h"

enum {
	M_GET,
	M_HEAD,
	M_POST,
	M_PUT,
	M_PATCH,
	M_DELETE,
	M_OPTIONS,
	M_OTHER,
	M_COUNT
};
#define STATUS_MIN 100
#define STATUS_SLOTS 500 /* 100..599 */

static const char *const method_names[M_COUNT] = {"GET", "HEAD", "POST", "PUT",
    "PATCH", "DELETE", "OPTIONS", "OTHER"};

/* Upper bounds in microseconds; the +Inf bucket is the count. */
static const uint64_t bucket_us[] = {500, 1000, 2500, 5000, 10000, 25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000};
#define NBUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

struct gw_metrics {
	atomic_uint_fast64_t requests[GW_ROUTE_COUNT][M_COUNT][STATUS_SLOTS];
	atomic_uint_fast64_t buckets[GW_ROUTE_COUNT][NBUCKETS];
	atomic_uint_fast64_t dur_count[GW_ROUTE_COUNT];
	atomic_uint_fast64_t dur_sum_us[GW_ROUTE_COUNT];
	atomic_uint_fast64_t rpc[FS_CODE_COUNT + 1]; /* last: out of range */
	atomic_int_fast64_t in_flight;
	atomic_int backend_up;
};

gw_metrics *
gw_metrics_new(void)
{
	/* calloc zero bits are valid initial values for these lock-free
	 * atomics on every platform we build for. */
	return calloc(1, sizeof(gw_metrics));
}

void
gw_metrics_free(gw_metrics *m)
{
	free(m);
}

static int
method_index(const char *method)
{
	for (int i = 0; i < M_OTHER; i++)
		if (strcmp(method, method_names[i]) == 0)
			return i;
	return M_OTHER;
}

void
gw_metrics_begin(gw_metrics *m)
{
	atomic_fetch_add_explicit(&m->in_flight, 1, memory_order_relaxed);
}

void
gw_metrics_end(gw_metrics *m, enum gw_route route, const char *method,
    int status, uint64_t duration_us)
{
	size_t r = (unsigned) route < GW_ROUTE_COUNT ? (size_t) route : 0;
	size_t s = status >= STATUS_MIN && status < STATUS_MIN + STATUS_SLOTS
	    ? (size_t) (status - STATUS_MIN)
	    : STATUS_SLOTS - 1;

	atomic_fetch_sub_explicit(&m->in_flight, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->requests[r][method_index(method)][s], 1,
	    memory_order_relaxed);
	for (size_t i = 0; i < NBUCKETS; i++) {
		if (duration_us <= bucket_us[i]) {
			atomic_fetch_add_explicit(&m->buckets[r][i], 1,
			    memory_order_relaxed);
			break;
		}
	}
	atomic_fetch_add_explicit(&m->dur_count[r], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->dur_sum_us[r], duration_us,
	    memory_order_relaxed);
}

void
gw_metrics_rpc(gw_metrics *m, int code, int got_reply)
{
	size_t c =
	    code >= 0 && code < FS_CODE_COUNT ? (size_t) code : FS_CODE_COUNT;

	atomic_fetch_add_explicit(&m->rpc[c], 1, memory_order_relaxed);
	if (got_reply)
		atomic_store_explicit(&m->backend_up, 1, memory_order_relaxed);
	else if (code == FS_UNAVAILABLE || code == FS_DEADLINE_EXCEEDED)
		atomic_store_explicit(&m->backend_up, 0, memory_order_relaxed);
}

int64_t
gw_metrics_in_flight(const gw_metrics *m)
{
	return atomic_load_explicit(&m->in_flight, memory_order_relaxed);
}

static void
putf(gw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
putf(gw_buf *b, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		gw_buf_put(b, line,
		    (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1);
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void
gw_metrics_render(gw_metrics *m, gw_buf *b)
{
	gw_buf_puts(b,
	    "# HELP flowsvc_http_requests_total HTTP requests "
	    "answered, by route, method and status.\n"
	    "# TYPE flowsvc_http_requests_total counter\n");
	for (size_t r = 0; r < GW_ROUTE_COUNT; r++)
		for (size_t k = 0; k < M_COUNT; k++)
			for (size_t s = 0; s < STATUS_SLOTS; s++) {
				uint64_t v = LOAD(m->requests[r][k][s]);

				if (v == 0)
					continue;
				putf(b,
				    "flowsvc_http_requests_total{route=\"%s\","
				    "method=\"%s\",status=\"%zu\"} %" PRIu64
				    "\n",
				    gw_route_name((enum gw_route) r),
				    method_names[k], s + STATUS_MIN, v);
			}

	gw_buf_puts(b,
	    "# HELP flowsvc_http_request_duration_seconds Time "
	    "from request headers to response completion.\n"
	    "# TYPE flowsvc_http_request_duration_seconds "
	    "histogram\n");
	for (size_t r = 0; r < GW_ROUTE_COUNT; r++) {
		const char *name = gw_route_name((enum gw_route) r);
		uint64_t count = LOAD(m->dur_count[r]), cum = 0;

		if (count == 0)
			continue;
		for (size_t i = 0; i < NBUCKETS; i++) {
			cum += LOAD(m->buckets[r][i]);
			putf(b,
			    "flowsvc_http_request_duration_seconds_bucket{"
			    "route=\"%s\",le=\"%g\"} %" PRIu64 "\n",
			    name, (double) bucket_us[i] / 1e6, cum);
		}
		putf(b,
		    "flowsvc_http_request_duration_seconds_bucket{route=\"%"
		    "s\","
		    "le=\"+Inf\"} %" PRIu64 "\n",
		    name, count);
		putf(b,
		    "flowsvc_http_request_duration_seconds_sum{route=\"%s\"} "
		    "%.6f\n",
		    name, (double) LOAD(m->dur_sum_us[r]) / 1e6);
		putf(b,
		    "flowsvc_http_request_duration_seconds_count{route=\"%s\"}"
		    " %" PRIu64 "\n",
		    name, count);
	}

	putf(b,
	    "# HELP flowsvc_http_requests_in_flight HTTP requests being "
	    "handled.\n# TYPE flowsvc_http_requests_in_flight gauge\n"
	    "flowsvc_http_requests_in_flight %" PRId64 "\n",
	    (int64_t) LOAD(m->in_flight));

	gw_buf_puts(b,
	    "# HELP flowsvc_rpc_calls_total Backend RPCs, by "
	    "outcome code (transport failures included).\n"
	    "# TYPE flowsvc_rpc_calls_total counter\n");
	for (int c = 0; c <= FS_CODE_COUNT; c++) {
		uint64_t v = LOAD(m->rpc[c]);

		if (v)
			putf(b,
			    "flowsvc_rpc_calls_total{code=\"%s\"} %" PRIu64
			    "\n",
			    fs_code_name(c), v);
	}

	putf(b,
	    "# HELP flowsvc_backend_up Whether the backend answered the "
	    "latest RPC.\n# TYPE flowsvc_backend_up gauge\n"
	    "flowsvc_backend_up %d\n",
	    LOAD(m->backend_up));
}

/* One series without labels: its HELP line (help NULL: none), its TYPE
 * line and its value, an integer or microseconds as seconds. */
static void
series_head(gw_buf *b, const char *name, const char *type, const char *help)
{
	if (help != NULL)
		putf(b, "# HELP %s %s\n", name, help);
	putf(b, "# TYPE %s %s\n", name, type);
}

static void
series_u64(gw_buf *b, const char *name, const char *type, const char *help,
    uint64_t v)
{
	series_head(b, name, type, help);
	putf(b, "%s %" PRIu64 "\n", name, v);
}

static void
series_seconds(gw_buf *b, const char *name, const char *type, uint64_t us)
{
	series_head(b, name, type, NULL);
	putf(b, "%s %.6f\n", name, (double) us / 1e6);
}

void
gw_metrics_render_backend(gw_buf *b, const Flowsvc__StatsReply *st)
{
	if (st == NULL)
		return;
	gw_buf_puts(b,
	    "# HELP backend_components Components in the backend's "
	    "store, by kind.\n"
	    "# TYPE backend_components gauge\n");
	putf(b, "backend_components{kind=\"flow\"} %" PRIu64 "\n", st->flows);
	putf(b, "backend_components{kind=\"app\"} %" PRIu64 "\n", st->apps);
	putf(b,
	    "# TYPE backend_uptime_seconds gauge\n"
	    "backend_uptime_seconds %" PRIu64 "\n",
	    st->uptime_s);
	if (st->has_log_bytes) {
		series_u64(b, "backend_log_bytes", "gauge",
		    "Size of the current change log file.", st->log_bytes);
		series_u64(b, "backend_log_generation", "gauge", NULL,
		    st->log_generation);
		series_u64(b, "backend_changes_since_snapshot", "gauge", NULL,
		    st->changes_since_snapshot);
		series_seconds(b, "backend_last_snapshot_timestamp_seconds",
		    "gauge", st->last_snapshot_unix_us);
		series_seconds(b, "backend_last_snapshot_duration_seconds",
		    "gauge", st->last_snapshot_duration_us);
		series_u64(b, "backend_fsyncs_total", "counter", NULL,
		    st->fsyncs);
		series_seconds(b, "backend_fsync_seconds_total", "counter",
		    st->fsync_total_us);
		series_seconds(b, "backend_fsync_max_seconds", "gauge",
		    st->fsync_max_us);
		series_u64(b, "backend_disk_error", "gauge", NULL,
		    st->disk_error ? 1 : 0);
	}
	if (st->has_writable) {
		series_u64(b, "backend_writable", "gauge",
		    "Whether the backend accepts changes now (its change log "
		    "can be written and synced).",
		    st->writable ? 1 : 0);
		series_u64(b, "backend_data_dir_lost", "gauge",
		    "Whether the data directory was deleted or replaced "
		    "under the running backend (changes refused until it "
		    "restarts).",
		    st->data_dir_lost ? 1 : 0);
		series_u64(b, "backend_log_append_failures_total", "counter",
		    "Changes the change log could not take (write errors, a "
		    "failing sync, a lost data directory).",
		    st->log_append_failures);
		series_u64(b, "backend_log_sync_failures_total", "counter",
		    "Syncs of the change log that failed.",
		    st->log_sync_failures);
	}
	if (st->has_revision)
		series_u64(b, "backend_revision", "gauge",
		    "The revision of the last change the backend applied.",
		    st->revision);
	if (st->role != NULL) {
		/* Replication (CONTRACT §8): the role as a label, 1 for the
		 * one the backend has. */
		series_head(b, "backend_role", "gauge",
		    "The backend's role: primary or replica (1 for its own).");
		putf(b, "backend_role{role=\"%s\"} 1\n",
		    strcmp(st->role, "primary") == 0 ? "primary" : "replica");
		series_u64(b, "backend_term", "gauge",
		    "The highest term the backend knows of.", st->term);
		if (strcmp(st->role, "primary") != 0) {
			series_u64(b, "backend_replica_lag_revisions", "gauge",
			    "Revisions the replica is behind the backend it "
			    "follows.",
			    st->lag_revisions);
			series_seconds(b, "backend_replica_lag_seconds",
			    "gauge", st->lag_ms * 1000u);
		}
		series_u64(b, "backend_forwarded_total", "counter",
		    "Changes a replica forwarded to its primary.",
		    st->forwarded);
		series_u64(b, "backend_replicated_records_total", "counter",
		    "Records a replica applied from the backend it follows.",
		    st->replicated_records);
		series_u64(b, "backend_followers", "gauge",
		    "Replicas following this backend now.", st->followers);
	}
	if (st->has_tls_refused)
		series_u64(b, "backend_tls_refused_total", "counter",
		    "Connections the backend refused for their client "
		    "certificate (mutual TLS).",
		    st->tls_refused);
	if (st->has_tls_listener_restarts)
		series_u64(b, "backend_tls_listener_restarts_total", "counter",
		    "Times the backend replaced a TLS listener that had "
		    "stopped taking connections.",
		    st->tls_listener_restarts);
	if (st->has_watches)
		series_u64(b, "backend_watches", "gauge",
		    "Watch calls waiting on the backend now.", st->watches);
	if (st->has_waiting)
		series_u64(b, "backend_waiting", "gauge",
		    "Calls waiting for a revision on the backend now (reads "
		    "behind their min_revision, followers' Replicate calls).",
		    st->waiting);
	gw_buf_puts(b,
	    "# HELP backend_requests_total RPC requests the backend "
	    "served, by method and code.\n"
	    "# TYPE backend_requests_total counter\n");
	for (size_t i = 0; i < st->n_requests; i++) {
		const Flowsvc__MethodCount *mc = st->requests[i];

		putf(b,
		    "backend_requests_total{method=\"%s\",code=\"%s\"} "
		    "%" PRIu64 "\n",
		    fs_method_label((int) mc->method),
		    fs_code_name((int) mc->code), mc->count);
	}
}
