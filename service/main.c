/*
 * flow-service: the backend. Flags (one table, fs_opts), signals and
 * wiring; the work is in svc.c (handlers, write path) and store.c
 * (indexes). Logs through fs_log.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>

#include "coord.h"
#include "etcd.h"
#include "fs_log.h"
#include "fs_opts.h"
#include "fs_rpc_server.h"
#include "persist.h"
#include "repl.h"
#include "svc.h"

/* Set in the environment of the program restarting itself to take a
 * fresh snapshot from its primary (a replica too far behind, or one that
 * held changes its primary does not): the primary's URL (a coordinated
 * backend's primary changes; a --replica-of's is its flag's). */
#define REBOOT_ENV "FLOWSVC_REPLICA_BOOTSTRAP"
/* How many such restarts this process has been through (Stats). */
#define REBOOTS_ENV "FLOWSVC_REPLICA_BOOTSTRAPS"

struct config {
	const char *listen;
	const char *data_dir;
	const char *fsync;
	long long contexts;
	long long max_inflight_per_conn;
	long long snapshot_changes;
	long long snapshot_interval;
	long long watch_history;
	long long max_watches;
	long long max_watches_per_conn;
	int access_log;
	long long list_views;
	long long list_idle_timeout;
	long long list_pinned_max;
	const char *log_format;
	const char *log_level;
	int recover_partial;
	const char *tls_cert;
	const char *tls_key;
	const char *tls_ca;
	const char *replica_of;
	const char *backend_cert;
	const char *backend_key;
	const char *backend_ca;
	const char *backend_server_name;
	const char *coordinator;
	const char *cluster;
	const char *advertise;
	long long lease_ttl;
	long long sync_replicas;
};

#define OFF(f) offsetof(struct config, f)

/* Every flag, its default and its help: README's table says the same. */
/* clang-format off */
static const fs_opt opts[] = {
	FS_OPT_S("listen", OFF(listen), "tcp://127.0.0.1:5555", "URL",
	    "nng URL to serve RPC on (tcp://host:port, ipc:///path, or "
	    "tls+tcp://host:port with --tls-cert, --tls-key and --tls-ca)"),
	FS_OPT_S("tls-cert", OFF(tls_cert), NULL, "FILE",
	    "tls+tcp:// only: this server's certificate (PEM, then any "
	    "intermediates)"),
	FS_OPT_S("tls-key", OFF(tls_key), NULL, "FILE",
	    "tls+tcp:// only: its private key (PEM, unencrypted)"),
	FS_OPT_S("tls-ca", OFF(tls_ca), NULL, "FILE",
	    "tls+tcp:// only: the CA certificate(s) (PEM) that must have "
	    "signed a client's certificate; clients without one are refused "
	    "(mutual TLS)"),
	FS_OPT_S("replica-of", OFF(replica_of), NULL, "URL",
	    "run as a replica of the backend at URL: copy its state (a "
	    "snapshot, then its changes) into --data-dir, serve reads, "
	    "forward changes to it"),
	FS_OPT_S("coordinator", OFF(coordinator), NULL,
	    "etcd://HOST:PORT[,...]",
	    "automatic failover: the backends of --cluster campaign for a "
	    "leader key in this etcd (v3); the holder is the primary, the "
	    "others follow it (no --replica-of)"),
	FS_OPT_S("cluster", OFF(cluster), NULL, "NAME",
	    "--coordinator: the cluster this backend belongs to (keys under "
	    "/flowsvc/NAME/ in etcd)"),
	FS_OPT_S("advertise", OFF(advertise), NULL, "URL",
	    "--coordinator: the URL the other backends (and gateways) reach "
	    "this one at"),
	FS_OPT_I("lease-ttl", OFF(lease_ttl), "5", 2, 3600, "SECONDS",
	    "--coordinator: the leader's lease; a primary that cannot renew "
	    "it stops taking changes after half of it, a successor takes "
	    "over after it"),
	FS_OPT_I("sync-replicas", OFF(sync_replicas), "0", 0, 64, "N",
	    "acknowledge a change only once N replicas have written it to "
	    "their logs (else UNAVAILABLE at the request's deadline); 0: "
	    "asynchronous"),
	FS_OPT_S("backend-cert", OFF(backend_cert), NULL, "FILE",
	    "--replica-of a tls+tcp:// URL: this replica's client "
	    "certificate (PEM)"),
	FS_OPT_S("backend-key", OFF(backend_key), NULL, "FILE",
	    "its private key (PEM, unencrypted)"),
	FS_OPT_S("backend-ca", OFF(backend_ca), NULL, "FILE",
	    "the CA certificate(s) (PEM) the primary's certificate must "
	    "chain to"),
	FS_OPT_S("backend-server-name", OFF(backend_server_name), NULL,
	    "NAME",
	    "the DNS name in the primary's certificate, when the URL's host "
	    "is not it (an IP address never is)"),
	FS_OPT_S("data-dir", OFF(data_dir), "./data", "DIR",
	    "directory for the snapshot and the change log; created if "
	    "missing"),
	FS_OPT_C("fsync", OFF(fsync), "everysec", "always|everysec|no",
	    "when the change log is synced to disk: before every reply, once "
	    "a second, or when the OS decides"),
	FS_OPT_I("snapshot-changes", OFF(snapshot_changes), "100000", 0,
	    1000000000, NULL,
	    "write a snapshot after this many changes (0: never on a count)"),
	FS_OPT_I("snapshot-interval", OFF(snapshot_interval), "300", 0,
	    86400 * 365, "S",
	    "seconds between snapshots when anything changed (0: no timer)"),
	FS_OPT_I("contexts", OFF(contexts), "256", 1, 4096, NULL,
	    "RPC requests served concurrently"),
	FS_OPT_I("max-inflight-per-conn", OFF(max_inflight_per_conn), "64", 0,
	    1000000, NULL,
	    "requests one connection may have in progress; more are dropped "
	    "unanswered (0: no cap)"),
	FS_OPT_I("watch-history", OFF(watch_history), "100000", 1,
	    100000000, "N",
	    "changes kept for Watch (in memory, and their change logs on "
	    "disk); a watch from an older revision is refused (OUT_OF_RANGE)"),
	FS_OPT_I("max-watches", OFF(max_watches), "100000", 1, 10000000,
	    "N", "long polls that may wait at once (Watch calls, followers' "
	    "Replicate calls); more are refused (RESOURCE_EXHAUSTED)"),
	FS_OPT_I("max-watches-per-conn", OFF(max_watches_per_conn), "1024", 1,
	    10000000, "N",
	    "long polls one connection may have waiting (not counted in "
	    "--max-inflight-per-conn)"),
	FS_OPT_F("access-log", OFF(access_log),
	    "log one line per request: method, code, duration, request id "
	    "(off unless given)"),
	FS_OPT_I("list-views", OFF(list_views), "64", 1, 65536, "N",
	    "paged lists in progress at once (each a cut of its matches: 16 "
	    "bytes a component); past it a new one answers UNAVAILABLE"),
	FS_OPT_I("list-idle-timeout", OFF(list_idle_timeout), "30", 1, 86400,
	    "S", "a paged list not read for this long ends (its token "
	    "expires)"),
	FS_OPT_I("list-pinned-max", OFF(list_pinned_max), "256", 1, 1048576,
	    "MIB", "replaced and deleted components that paged lists in "
	    "progress may keep alive; past it the oldest lists end"),
	FS_OPTS_LOG(OFF(log_format), OFF(log_level)),
	FS_OPT_F("recover-partial", OFF(recover_partial),
	    "start from an incomplete data directory (a snapshot or log "
	    "missing, a gap between generations) with what is there, log "
	    "what was accepted, and snapshot it"),
};
/* clang-format on */

static const fs_opts_prog prog = {
    .name = "flow-service",
    .summary = "the flowsvc backend (flows and apps over RPC, kept on "
               "disk)",
    .usage = "[options]",
    .notes = "Logs go to stderr. SIGTERM or SIGINT writes a snapshot and "
             "exits 0.\n",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

/* The follower's request for a bootstrap: main restarts the program. */
static void
ask_rebootstrap(void *arg)
{
	(void) arg;
	kill(getpid(), SIGUSR1);
}

int
main(int argc, char **argv)
{
	struct config cfg;
	coord *co = NULL;
	sigset_t sigs;
	svc_opts so = {0};
	char err[1024];
	svc *s;
	fs_server *srv;
	fs_opts_result res;
	int rv, sig;

	if ((rv = fs_opts_parse(&prog, &cfg, argc, argv, &res)) != FS_OPTS_OK)
		return rv == FS_OPTS_EXIT ? 0 : 2;
	/* The table allows only names fs_log knows. */
	if (fs_log_setup_names(prog.name, cfg.log_level, cfg.log_format) != 0)
		return 2;

	/* Block the stop signals in every thread (nng's inherit this mask)
	 * and take them synchronously in main with sigwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	fs_client_tls ctls = {cfg.backend_cert, cfg.backend_key,
	    cfg.backend_ca, cfg.backend_server_name};
	const fs_client_tls *tlsp = cfg.backend_ca != NULL ||
	        cfg.backend_cert != NULL || cfg.backend_key != NULL
	    ? &ctls
	    : NULL;
	const char *nboot = getenv(REBOOTS_ENV);
	so.bootstraps = nboot != NULL ? strtoull(nboot, NULL, 10) : 0;
	coord_opts copts = {cfg.coordinator, cfg.cluster, cfg.advertise,
	    (int) cfg.lease_ttl};
	if (cfg.coordinator != NULL) {
		if (cfg.replica_of != NULL) {
			fs_log(FS_LOG_ERROR, NULL,
			    "cannot start: --coordinator and --replica-of "
			    "together (the coordinator says whom to follow)");
			return 2;
		}
		if (coord_check(&copts, err, sizeof(err)) != 0) {
			fs_log(FS_LOG_ERROR, NULL, "cannot start: %s", err);
			return 2;
		}
		if (etcd_global_init() != 0) {
			fs_log(FS_LOG_ERROR, NULL,
			    "cannot start: libcurl's set-up failed");
			return 1;
		}
	}
	const char *boot = getenv(REBOOT_ENV);
	if (boot != NULL && (cfg.replica_of != NULL || cfg.coordinator)) {
		char from[1024];
		snprintf(from, sizeof(from), "%s",
		    cfg.replica_of != NULL ? cfg.replica_of : boot);
		unsetenv(REBOOT_ENV);
		if (repl_bootstrap(cfg.data_dir, from, tlsp, err,
		        sizeof(err)) != 0) {
			fs_log(FS_LOG_ERROR, NULL,
			    "cannot start: bootstrap from %s: %s", from, err);
			return 1;
		}
	}

	so.data_dir = cfg.data_dir;
	so.fsync = strcmp(cfg.fsync, "always") == 0 ? PERSIST_FSYNC_ALWAYS
	    : strcmp(cfg.fsync, "no") == 0          ? PERSIST_FSYNC_NO
	                                            : PERSIST_FSYNC_EVERYSEC;
	so.snapshot_changes = (uint64_t) cfg.snapshot_changes;
	so.snapshot_interval = (uint32_t) cfg.snapshot_interval;
	so.access_log = cfg.access_log;
	so.recover_partial = cfg.recover_partial;
	so.list_views = (uint32_t) cfg.list_views;
	so.list_idle_ms = (uint32_t) cfg.list_idle_timeout * 1000u;
	so.list_pinned_max = (size_t) cfg.list_pinned_max * 1024u * 1024u;
	so.watch_history = (size_t) cfg.watch_history;
	so.replica_of = cfg.replica_of;
	so.replica_tls = tlsp;
	so.follower = cfg.listen;
	so.rebootstrap = ask_rebootstrap;
	so.coordinated = cfg.coordinator != NULL;
	so.sync_replicas = (unsigned) cfg.sync_replicas;
	if (svc_open(&s, &so, err, sizeof(err)) != 0) {
		fs_log(FS_LOG_ERROR, NULL, "cannot start: %s", err);
		return 1;
	}
	fs_server_opts sopts = {0};
	sopts.ncontexts = (int) cfg.contexts;
	sopts.max_inflight_per_conn = (int) cfg.max_inflight_per_conn;
	sopts.max_blocking = (int) cfg.max_watches;
	sopts.max_blocking_per_conn = (int) cfg.max_watches_per_conn;
	sopts.tls_cert = cfg.tls_cert;
	sopts.tls_key = cfg.tls_key;
	sopts.tls_ca = cfg.tls_ca;
	if ((rv = fs_server_open_opts(&srv, cfg.listen, &sopts, svc_handle,
	         s)) != 0) {
		fs_log(FS_LOG_ERROR, NULL, "cannot listen on %s: %s",
		    cfg.listen, fs_server_last_error());
		svc_close(s);
		return 1;
	}
	fs_log(FS_LOG_INFO, NULL,
	    "version %s serving on %s (data dir %s, fsync %s, %lld contexts, "
	    "access-log %s%s%s%s)",
	    fs_opts_version(), cfg.listen, cfg.data_dir, cfg.fsync,
	    cfg.contexts, cfg.access_log ? "on" : "off",
	    cfg.tls_ca != NULL ? "; mutual TLS, clients signed by --tls-ca"
	                       : "",
	    cfg.replica_of != NULL ? "; replica of " : "",
	    cfg.replica_of != NULL ? cfg.replica_of : "");
	if (svc_follow(s, err, sizeof(err)) != 0 ||
	    (cfg.coordinator != NULL &&
	        coord_start(&co, s, &copts, err, sizeof(err)) != 0)) {
		fs_log(FS_LOG_ERROR, NULL, "cannot start: %s", err);
		fs_server_close(srv);
		svc_close(s);
		return 1;
	}

	/* SIGUSR1 is the follower's (ask_rebootstrap): a primary ignores
	 * it. */
	char boot_url[1024] = "";
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig != SIGUSR1)
			break;
		if (cfg.replica_of != NULL)
			snprintf(boot_url, sizeof(boot_url), "%s",
			    cfg.replica_of);
		else if (co != NULL)
			coord_primary(co, boot_url, sizeof(boot_url));
		if (boot_url[0] != '\0')
			break;
	}
	if (sig == SIGUSR1) {
		/* A fresh snapshot is needed: stop, and start again in place
		 * (same pid, same flags) with a bootstrap first. */
		fs_log(FS_LOG_INFO, NULL,
		    "replica: restarting to take a fresh snapshot from %s",
		    boot_url);
		coord_stop(co);
		svc_quiesce(s);
		fs_server_close(srv);
		svc_close(s);
		char nb[32];
		snprintf(nb, sizeof(nb), "%llu",
		    (unsigned long long) so.bootstraps + 1);
		if (setenv(REBOOT_ENV, boot_url, 1) == 0 &&
		    setenv(REBOOTS_ENV, nb, 1) == 0)
			execv("/proc/self/exe", argv);
		fs_log(FS_LOG_ERROR, NULL, "cannot restart: %s",
		    strerror(errno));
		return 1;
	}
	fs_log(FS_LOG_INFO, NULL, "%s: shutting down",
	    sig == SIGINT ? "SIGINT" : "SIGTERM");
	/* No more changes, and the lease given back: a successor takes
	 * over now rather than after the lease. */
	coord_stop(co);
	/* Parked watches answer now (their bookmark), not at their end. */
	svc_quiesce(s);
	fs_server_close(srv);
	int snap_ok = svc_snapshot(s) == 0;
	char report[2048];
	int lost = svc_stop_report(s, snap_ok, report, sizeof(report));
	svc_close(s);
	/* A directory lost while running is no clean stop: what was
	 * acknowledged is not where the next start looks. */
	fs_log(lost ? FS_LOG_ERROR : FS_LOG_INFO, NULL, "%s", report);
	if (cfg.coordinator != NULL)
		etcd_global_fini();
	return lost ? 1 : 0;
}
