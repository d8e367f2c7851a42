/*
 * flow-bench - RPC load generator for flow-service.
 *
 * Keeps N calls in flight through the public async client API
 * (fs_client_call_async): every completion, on an nng thread, records its
 * latency and starts the next call of its slot (bench_run.c). There is no
 * thread per request; the main thread only waits for the deadline and
 * reports. This file: the modes, the flags and main.
 *
 * Modes:
 *   seed      create --count flows (f<i>, group g<i%100>, 4 input and 3
 *             output fields: about 250 bytes of JSON each), printing
 *             progress; writes the ids, line i holding f<i>'s, to --ids
 *   get       Get random ids from --ids for --duration seconds;
 *             --snapshot-at S also asks for a snapshot S seconds in and
 *             reports the latency of the Gets that overlapped it
 *   create    Create flows with unique names for --duration seconds
 *   update    Update random ids from --ids (new input_fields)
 *   wait      poll until the backend answers HEALTH (at most --duration
 *             seconds) and print how long that took
 *   snapshot  ask for a snapshot and print how long it took
 *   watch     keep --count Watch calls parked (--group, --wait-ms) for
 *             --duration seconds, each called again when answered; with
 *             --ready-file, create that file once all of them wait
 *
 * Output: a human line on stderr for progress, and one result line on
 * stdout of key=value pairs (rps, p50_us, p99_us, ...), for scripts.
 * Latencies are of successful calls, kept in a log-bucket histogram
 * (HdrHistogram-like: 64 sub-buckets per power of two, under 1.6% error).
 *
 * Exit status: 0 success, 1 calls failed, 2 usage error.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "bench.h"
#include "fs_opts.h"

/* ---- flags ------------------------------------------------------------- */

#define OFF(f) offsetof(struct config, f)

static const fs_opt opts[] = {
    {.name = "backend",
        .type = FS_OPT_STR,
        .off = OFF(backend),
        .def = "tcp://127.0.0.1:5555",
        .arg = "URL",
        .help = "flow-service address"},
    {.name = "backend-cert",
        .type = FS_OPT_STR,
        .off = OFF(backend_cert),
        .arg = "FILE",
        .help = "tls+tcp://: this client's certificate (PEM)"},
    {.name = "backend-key",
        .type = FS_OPT_STR,
        .off = OFF(backend_key),
        .arg = "FILE",
        .help = "tls+tcp://: its private key (PEM)"},
    {.name = "backend-ca",
        .type = FS_OPT_STR,
        .off = OFF(backend_ca),
        .arg = "FILE",
        .help = "tls+tcp://: the CA certificate (PEM) of the backend's"},
    {.name = "backend-server-name",
        .type = FS_OPT_STR,
        .off = OFF(backend_server_name),
        .arg = "NAME",
        .help = "tls+tcp://: the DNS name in the backend's certificate "
                "(when not the URL's host)"},
    {.name = "inflight",
        .type = FS_OPT_INT,
        .off = OFF(inflight),
        .def = "32",
        .min = 1,
        .max = 4096,
        .help = "calls in flight"},
    {.name = "coalesce",
        .type = FS_OPT_INT,
        .off = OFF(coalesce),
        .def = "0",
        .min = 0,
        .max = 1024,
        .help = "client-side coalescing: N calls (or batches) in flight, "
                "the rest batched (0: off)"},
    {.name = "duration",
        .type = FS_OPT_NUM,
        .off = OFF(duration_s),
        .def = "10",
        .min = 0.1,
        .max = 86400,
        .arg = "S",
        .help = "seconds to run (seed: no limit)"},
    {.name = "ids",
        .type = FS_OPT_STR,
        .off = OFF(ids_path),
        .arg = "FILE",
        .help = "ids file (seed writes it, get/update read "
                "it)"},
    {.name = "count",
        .type = FS_OPT_INT,
        .off = OFF(count),
        .min = 1,
        .max = 1e10,
        .help = "seed: flows to create (when not given: 1000); others: "
                "stop after N calls (when not given: no cap)"},
    {.name = "prefix",
        .type = FS_OPT_STR,
        .off = OFF(prefix),
        .arg = "P",
        .help = "create: name prefix (when not given: c<time>_<pid>_)"},
    {.name = "snapshot-at",
        .type = FS_OPT_NUM,
        .off = OFF(snapshot_at),
        .min = 0,
        .max = 86400,
        .arg = "S",
        .help = "get: ask for a snapshot S seconds in; report the Gets "
                "that overlapped it separately"},
    {.name = "timeout-ms",
        .type = FS_OPT_INT,
        .off = OFF(timeout_ms),
        .def = "5000",
        .min = 1,
        .max = 3600000,
        .arg = "MS",
        .help = "per-call timeout"},
    {.name = "quiet",
        .type = FS_OPT_FLAG,
        .off = OFF(quiet),
        .help = "no progress lines"},
    {.name = "group",
        .type = FS_OPT_STR,
        .off = OFF(group),
        .def = "bench_watch_none",
        .arg = "G",
        .help = "watch: the group filter (\"\": every change)"},
    {.name = "wait-ms",
        .type = FS_OPT_INT,
        .off = OFF(wait_ms),
        .def = "60000",
        .min = 0,
        .max = 60000,
        .arg = "MS",
        .help = "watch: how long each call waits"},
    {.name = "ready-file",
        .type = FS_OPT_STR,
        .off = OFF(ready_file),
        .arg = "FILE",
        .help = "watch: created once every watch waits in the backend"},
};

static const fs_opts_prog prog = {
    .name = "flow-bench",
    .summary = "RPC load generator for flow-service",
    .usage = "MODE [options]",
    .notes =
        "Modes:\n"
        "  seed      create --count flows f<i> (group g<i%100>, 4 input and "
        "3 output\n"
        "            fields) and write their ids to --ids, line i = f<i>\n"
        "  get       Get random ids from --ids for --duration seconds\n"
        "  create    Create uniquely named flows for --duration seconds\n"
        "  update    Update random ids from --ids for --duration seconds\n"
        "  wait      wait until the backend answers HEALTH (up to "
        "--duration s)\n"
        "  snapshot  ask for a snapshot and time it\n"
        "  watch     keep --count Watch calls waiting (--group, --wait-ms) "
        "for\n            --duration seconds (or until SIGINT/SIGTERM)\n\n"
        "Prints one line of key=value results on stdout (rps, p50_us, "
        "p99_us, ...).\n",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
    .max_args = 1,
};

/* Returns 0, or the exit status (0 after --help, 2 on a mistake). */
static int
parse_args(int argc, char **argv, struct config *cfg)
{
	fs_opts_result res;
	size_t k;
	int rv;

	if ((rv = fs_opts_parse(&prog, cfg, argc, argv, &res)) != FS_OPTS_OK)
		return rv == FS_OPTS_EXIT ? -1 : 2;
	if (res.nargs == 0)
		return fs_opts_usage_error(&prog, "no mode given");
	for (k = 0; k <= M_LAST; k++)
		if (strcmp(res.args[0], mode_names[k]) == 0)
			break;
	if (k > M_LAST)
		return fs_opts_usage_error(&prog, "unknown mode '%s'",
		    res.args[0]);
	cfg->mode = (enum mode) k;
	if (!fs_opts_given(&prog, &res, "snapshot-at"))
		cfg->snapshot_at = -1;
	if ((cfg->mode == M_SEED || cfg->mode == M_GET ||
	        cfg->mode == M_UPDATE) &&
	    cfg->ids_path == NULL)
		return fs_opts_usage_error(&prog, "%s needs --ids FILE",
		    mode_names[cfg->mode]);
	if (cfg->snapshot_at >= 0 && cfg->mode != M_GET)
		return fs_opts_usage_error(&prog, "--snapshot-at is for get");
	return 0;
}

int
main(int argc, char **argv)
{
	static bench b; /* large (histograms): not on the stack */
	char prefix[64];
	slot *slots = NULL;
	double secs, snap_ms = 0;
	int rv, status = 0;

	if ((rv = parse_args(argc, argv, &b.cfg)) != 0)
		return rv < 0 ? 0 : rv;
	if (b.cfg.mode == M_WAIT)
		return run_wait(&b.cfg);
	if (b.cfg.mode == M_WATCH)
		return run_watchers(&b.cfg);
	if (b.cfg.mode == M_SEED && b.cfg.count == 0)
		b.cfg.count = 1000;
	if (b.cfg.prefix == NULL) {
		snprintf(prefix, sizeof(prefix), "c%ld_%ld_",
		    (long) (time(NULL) % 100000000), (long) getpid());
		b.cfg.prefix = prefix;
	}

	if ((rv = bench_client_open(&b.client, &b.cfg)) != 0)
		return rv;
	if (fs_client_set_coalesce(b.client, (int) b.cfg.coalesce) != 0) {
		fprintf(stderr, "flow-bench: bad --coalesce\n");
		fs_client_close(b.client);
		return 2;
	}
	if (b.cfg.mode == M_SNAPSHOT) {
		status = run_snapshot(b.client);
		fs_client_close(b.client);
		return status;
	}
	if (pthread_mutex_init(&b.mtx, NULL) != 0 ||
	    pthread_cond_init(&b.cv, NULL) != 0) {
		fprintf(stderr, "flow-bench: cannot create a mutex\n");
		fs_client_close(b.client);
		return 1;
	}

	if (b.cfg.mode == M_SEED) {
		b.nids = (size_t) b.cfg.count;
		if ((b.ids = calloc(b.nids, sizeof(*b.ids))) == NULL) {
			fprintf(stderr, "flow-bench: out of memory\n");
			status = 1;
			goto out;
		}
	} else if (b.cfg.mode == M_GET || b.cfg.mode == M_UPDATE) {
		if (ids_load(&b) != 0) {
			status = 1;
			goto out;
		}
	}
	if ((slots = calloc((size_t) b.cfg.inflight, sizeof(*slots))) ==
	    NULL) {
		fprintf(stderr, "flow-bench: out of memory\n");
		status = 1;
		goto out;
	}

	secs = run_load(&b, slots, &snap_ms);
	print_result(&b, secs, snap_ms);
	print_errors(&b);
	if (atomic_load(&b.errors) > 0 || snap_ms < 0)
		status = 1;
	if (b.cfg.mode == M_SEED && status == 0)
		status = ids_write(&b, b.nids) == 0 ? 0 : 1;

out:
	/* Closing the client first: no callback can touch slots after it. */
	fs_client_close(b.client);
	free(slots);
	ids_free(&b);
	pthread_cond_destroy(&b.cv);
	pthread_mutex_destroy(&b.mtx);
	return status;
}
