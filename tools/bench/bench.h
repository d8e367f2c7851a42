/*
 * bench.h - what flow-bench's files share: its configuration and the
 * state of one run.
 *
 *   flow_bench.c  modes and flags (one fs_opts table), main
 *   bench_run.c   the load: slots of calls in flight, the ids file, the
 *                 wait and snapshot modes, the result line
 *   bench_hist.c  the latency histogram
 *   bench_watch.c the watch mode: parked Watch calls
 */
#ifndef TOOLS_BENCH_H
#define TOOLS_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_hist.h"
#include "fs_errors.h"
#include "fs_rpc.h"

#define BENCH_SNAPSHOT_TIMEOUT_MS 600000u

enum mode { M_SEED, M_GET, M_CREATE, M_UPDATE, M_WAIT, M_SNAPSHOT, M_WATCH };
#define M_LAST M_WATCH

/* Indexed by enum mode. */
extern const char *const mode_names[];

struct config {
	enum mode mode;
	const char *backend;
	long long inflight;
	double duration_s;
	const char *ids_path;
	long long count; /* seed: flows; others: stop after this many (0: no
	                  * cap) */
	const char *prefix;
	double snapshot_at; /* get: seconds in; < 0: no snapshot */
	long long timeout_ms;
	long long coalesce; /* fs_client_set_coalesce; 0: off */
	int quiet;
	/* tls+tcp:// backends (fs_client_tls) */
	const char *backend_cert, *backend_key, *backend_ca;
	const char *backend_server_name;
	const char *group;      /* watch: the group filter ("": all) */
	const char *ready_file; /* watch: created once all are parked */
	long long wait_ms;      /* watch: per call */
};

/* Opens a client for cfg->backend, with cfg's TLS settings for a
 * tls+tcp:// one. Returns 0, or 2 after printing why. */
int bench_client_open(fs_client **out, const struct config *cfg);

typedef struct bench bench;

typedef struct slot {
	bench *b;
	uint64_t rng;
	int64_t t0;     /* call start, monotonic ns */
	int epoch0;     /* snapshot epoch at the start */
	long index;     /* seed: the flow number */
	char name[128]; /* create/seed */
	char group[32]; /* seed */
	char *in_items[4], *out_items[3];
	Flowsvc__StringList in, out;
	Flowsvc__GetRequest get;
	Flowsvc__CreateRequest create;
	Flowsvc__UpdateRequest update;
} slot;

struct bench {
	struct config cfg;
	fs_client *client;
	char **ids; /* get/update: loaded; seed: filled by index */
	size_t nids;

	pthread_mutex_t mtx;
	pthread_cond_t cv;
	int active;            /* slots still running (mtx) */
	char first_error[256]; /* (mtx) */

	_Atomic int64_t last_done; /* monotonic ns of the last completion */
	atomic_bool stop;
	atomic_long next; /* seed: next flow number; others: calls started */
	atomic_int epoch; /* 0 before a snapshot, 1 during, 2 after */
	_Atomic uint64_t ok;
	_Atomic uint64_t errors;
	_Atomic uint64_t by_code[FS_CODE_COUNT + 1];

	hist all;    /* every successful call */
	hist during; /* calls that overlapped the snapshot */
};

/* Runs the slots (cfg.inflight of them) of a load mode until the count or
 * the deadline; returns the elapsed seconds. *snap_ms: how long the
 * --snapshot-at snapshot took (-1: it failed). */
double run_load(bench *b, slot *slots, double *snap_ms);

/* The result line on stdout; the failed calls, if any, on stderr. */
void print_result(bench *b, double secs, double snap_ms);
void print_errors(bench *b);

/* Mode wait: polls until the backend answers HEALTH. Returns the exit
 * status. */
int run_wait(struct config *cfg);

/* Mode snapshot: asks for one and times it. Returns the exit status. */
int run_snapshot(fs_client *c);

/* Mode watch: keeps --count Watch calls parked (one client per 1000, as a
 * backend takes 1024 per connection by default) for --duration seconds
 * or until SIGINT/SIGTERM, each called again from its answer's revision;
 * at the end wakes them with one change in their group, so that none
 * stays parked in the backend. Returns the exit status. */
int run_watchers(const struct config *cfg);

/* The ids file: loaded for get and update (0 or -1 with a message);
 * written by seed, in flow-number order, atomically; freed. */
int ids_load(bench *b);
int ids_write(bench *b, size_t n);
void ids_free(bench *b);

#endif
