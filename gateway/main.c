/*
 * main.c - flow-gateway: flags, signals, wiring.
 *
 * One table (opts[], read by fs_opts) holds every flag with its default
 * and drives both the parser and --help; the log is fs_log. Signals are
 * blocked before any thread starts and taken synchronously with sigwait(),
 * so no code runs in signal context: SIGHUP reloads the tokens file on
 * this thread while the HTTP threads go on serving.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <nng/nng.h>

#include "fs_log.h"
#include "fs_opts.h"
#include "fs_rpc.h"
#include "fs_within.h"
#include "gw_auth.h"
#include "gw_http.h"
#include "gw_metrics.h"
#include "gw_pages.h"
#include "gw_tls.h"

struct config {
	const char *bind;
	long long port;
	fs_opt_list backends;
	long long backend_poll_ms;
	const char *tokens;
	fs_opt_list cors_origins;
	long long max_body;
	long long max_url;
	long long max_query_params;
	long long max_header_bytes;
	long long max_inflight;
	long long rpc_timeout_ms;
	long long conn_timeout_s;
	long long header_timeout_s;
	long long max_conns;
	long long max_conns_per_ip;
	long long threads;
	long long coalesce;
	long long watch_bookmark_ms;
	long long watch_client_buffer;
	long long watch_max_clients;
	long long watch_ring;
	long long watch_ring_bytes;
	int access_log;
	const char *log_level;
	const char *log_format;
	const char *tls_cert;
	const char *tls_key;
	const char *backend_cert;
	const char *backend_key;
	const char *backend_ca;
	const char *backend_server_name;
};

#define OFF(f) offsetof(struct config, f)

/* Every flag, its default and its help: README's table says the same. */
/* clang-format off */
static const fs_opt opts[] = {
	FS_OPT_S("bind", OFF(bind), "127.0.0.1", "ADDR",
	    "address (or host name) to listen on"),
	FS_OPT_I("port", OFF(port), "8080", 0, 65535, NULL,
	    "TCP port to listen on (0: any free port)"),
	FS_OPT_L("backend", OFF(backends), "tcp://127.0.0.1:5555", "URL",
	    "flow-service address (tcp://, ipc:// or tls+tcp://); repeat for "
	    "a primary and its replicas: reads spread over those that "
	    "answer, changes go to the primary"),
	FS_OPT_I("backend-poll-ms", OFF(backend_poll_ms), "1000", 50, 60000,
	    "MS", "with several --backend: how often each is asked for its "
	    "Health (which answer, which is the primary)"),
	FS_OPT_S("tls-cert", OFF(tls_cert), NULL, "FILE",
	    "serve HTTPS only, with this certificate (PEM, then any "
	    "intermediates); SIGHUP reloads it and --tls-key"),
	FS_OPT_S("tls-key", OFF(tls_key), NULL, "FILE",
	    "the private key of --tls-cert (PEM, unencrypted)"),
	FS_OPT_S("backend-cert", OFF(backend_cert), NULL, "FILE",
	    "tls+tcp:// backends: this gateway's client certificate (PEM)"),
	FS_OPT_S("backend-key", OFF(backend_key), NULL, "FILE",
	    "tls+tcp:// backends: its private key (PEM, unencrypted)"),
	FS_OPT_S("backend-ca", OFF(backend_ca), NULL, "FILE",
	    "tls+tcp:// backends: the CA certificate (PEM) their "
	    "certificates must chain to"),
	FS_OPT_S("backend-server-name", OFF(backend_server_name), NULL, "NAME",
	    "tls+tcp:// backends: the DNS name in their certificate, when "
	    "the URL's host is not it (an IP address never is)"),
	FS_OPT_S("tokens", OFF(tokens), NULL, "FILE",
	    "bearer tokens for /api/, lines \"TOKEN GROUP[,GROUP...]\" or "
	    "\"TOKEN *\"; SIGHUP reloads the file; without it the API is "
	    "open"),
	FS_OPT_L("cors-origin", OFF(cors_origins), NULL, "ORIGIN",
	    "let pages from ORIGIN (SCHEME://HOST[:PORT], or * for any) call "
	    "the API from a browser (CORS); repeat for more origins; off "
	    "unless given"),
	FS_OPT_I("max-body", OFF(max_body), "1048576", 0, 64u << 20, "BYTES",
	    "largest request body; larger ones answer 413"),
	FS_OPT_I("max-url", OFF(max_url), "8192", 1, 1u << 20, "BYTES",
	    "longest URL, path and query (after percent-decoding); longer "
	    "ones answer 414"),
	FS_OPT_I("max-query-params", OFF(max_query_params), "64", 0, 100000,
	    NULL, "most query parameters; more answer 400"),
	FS_OPT_I("max-header-bytes", OFF(max_header_bytes), "16384", 4096,
	    1u << 24, "BYTES",
	    "request line and headers; larger requests get 431 and the "
	    "connection is closed (each connection may hold twice this)"),
	FS_OPT_I("max-inflight", OFF(max_inflight), "4096", 1, 1000000, NULL,
	    "most backend calls in flight; requests beyond answer 503"),
	FS_OPT_I("rpc-timeout", OFF(rpc_timeout_ms), "5000", 1, 600000, "MS",
	    "backend call timeout; on expiry the request answers 503"),
	FS_OPT_I("conn-timeout", OFF(conn_timeout_s), "30", 0, 86400, "S",
	    "close keep-alive client connections idle between requests after "
	    "S seconds (0: never)"),
	FS_OPT_I("header-timeout", OFF(header_timeout_s), "10", 0, 86400, "S",
	    "close connections that have not sent a whole request after S "
	    "seconds idle (at most --conn-timeout; 0: as --conn-timeout)"),
	FS_OPT_I("max-conns", OFF(max_conns), "1024", 1, 1000000, NULL,
	    "most concurrent client connections"),
	FS_OPT_I("max-conns-per-ip", OFF(max_conns_per_ip), "256", 0, 1000000,
	    NULL,
	    "most concurrent connections from one client address (loopback "
	    "included), so that one host cannot take them all; more are "
	    "closed unanswered (0: no limit, for a gateway behind a proxy, "
	    "where every client has the proxy's address)"),
	FS_OPT_I("threads", OFF(threads), "2", 1, 256, NULL,
	    "HTTP event-loop threads"),
	FS_OPT_I("coalesce", OFF(coalesce), "1", 0, 1024, NULL,
	    "batches (or single calls) of reads, and as many of changes, in "
	    "flight to the backend before further ones queue and go out "
	    "together as one batch call (with several --backend: N batches "
	    "of reads by id over all of them together, each to the next "
	    "backend); lists (but by name and group) and requests over 64 KiB "
	    "are never batched (0: never batch)"),
	FS_OPT_I("watch-bookmark-ms", OFF(watch_bookmark_ms), "15000", 10,
	    3600000, "MS",
	    "GET /api/watch/: send a bookmark (the revision a stream is "
	    "complete up to) to a client sent nothing for MS"),
	FS_OPT_I("watch-client-buffer", OFF(watch_client_buffer), "1048576",
	    1024, 1ll << 30, "BYTES",
	    "GET /api/watch/: drop a client (close its stream) when it falls "
	    "this many bytes of events behind; it resumes with Last-Event-ID"),
	FS_OPT_I("watch-max-clients", OFF(watch_max_clients), "512", 0,
	    1000000, NULL,
	    "GET /api/watch/: most streams at once; more answer 503 (each "
	    "is a connection: see --max-conns and --max-conns-per-ip)"),
	FS_OPT_I("watch-ring", OFF(watch_ring), "10000", 1, 10000000, "N",
	    "GET /api/watch/: recent events kept in memory, so that a client "
	    "resuming from one of them is served without asking the backend"),
	FS_OPT_I("watch-ring-bytes", OFF(watch_ring_bytes), "16777216", 4096,
	    1ll << 32, "BYTES",
	    "GET /api/watch/: at most this many bytes of events in the ring "
	    "(older ones go first)"),
	FS_OPT_F("access-log", OFF(access_log),
	    "log one line per request: request id, method, path, status, "
	    "body bytes, duration (off unless given)"),
	FS_OPTS_LOG(OFF(log_format), OFF(log_level)),
};
/* clang-format on */

static const fs_opts_prog prog = {
    .name = "flow-gateway",
    .summary = "the flowsvc REST/JSON gateway in front of flow-service",
    .usage = "[options]",
    .notes = "Logs go to stderr. SIGHUP reloads --tokens, --tls-cert and "
             "--tls-key;\nSIGTERM or SIGINT drains and exits 0.\n",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

/* Loads the tokens file, logging what an operator should know about it.
 * Returns the table, or NULL with the reason in err. */
static gw_tokens *
load_tokens(const char *path, char *err, size_t errlen)
{
	gw_tokens *t;
	struct stat st;

	if (gw_tokens_load(path, &t, err, errlen) != 0)
		return NULL;
	fs_log(FS_LOG_INFO, NULL, "--tokens %s: %zu token%s", path,
	    gw_tokens_count(t), gw_tokens_count(t) == 1 ? "" : "s");
	if (gw_tokens_count(t) == 0)
		fs_log(FS_LOG_WARN, NULL,
		    "--tokens %s holds no token: every /api/ request answers "
		    "401",
		    path);
	if (gw_tokens_short(t) > 0)
		fs_log(FS_LOG_WARN, NULL,
		    "--tokens %s: %zu token(s) shorter than %d characters, "
		    "easy to guess",
		    path, gw_tokens_short(t), GW_TOKEN_SHORT);
	if (stat(path, &st) == 0 && (st.st_mode & S_IROTH))
		fs_log(FS_LOG_WARN, NULL,
		    "--tokens %s is readable by every user on this host",
		    path);
	return t;
}

/* SIGHUP: the new file replaces the table, or the old one stays. */
static void
reload_tokens(const char *path, gw_auth *auth)
{
	char err[256];
	gw_tokens *t;

	if (auth == NULL) {
		fs_log(FS_LOG_WARN, NULL,
		    "SIGHUP: no --tokens file to reload; the API stays open");
		return;
	}
	if ((t = load_tokens(path, err, sizeof(err))) == NULL) {
		fs_log(FS_LOG_ERROR, NULL,
		    "SIGHUP: --tokens %s: %s; keeping the tokens loaded "
		    "before",
		    path, err);
		return;
	}
	gw_auth_swap(auth, t);
	fs_log(FS_LOG_INFO, NULL, "SIGHUP: tokens reloaded from %s", path);
}

/* Logs which certificate HTTPS serves, warning when it is outside its
 * validity dates (clients will refuse it). */
static void
log_tls(gw_tls *tls, const char *what)
{
	char desc[512];
	bool expired;

	gw_tls_describe(tls, desc, sizeof(desc), &expired);
	fs_log(expired ? FS_LOG_WARN : FS_LOG_INFO, NULL, "%s: %s%s", what,
	    desc, expired ? " (EXPIRED or not yet valid)" : "");
}

/* SIGHUP: a new certificate and key replace the pair in use, or it
 * stays. */
static void
reload_tls(gw_tls *tls)
{
	char err[512];

	if (tls == NULL)
		return;
	if (gw_tls_reload(tls, err, sizeof(err)) != 0) {
		fs_log(FS_LOG_ERROR, NULL,
		    "SIGHUP: %s; keeping the certificate loaded before", err);
		return;
	}
	log_tls(tls, "SIGHUP: HTTPS certificate reloaded");
}

/* Opens the backends' clients: with TLS settings for tls+tcp:// backends
 * (needed there, refused elsewhere). Returns 0, or 1 after printing why. */
static int
open_backends(gw_backends **out, const struct config *cfg)
{
	fs_client_tls tls = {cfg->backend_cert, cfg->backend_key,
	    cfg->backend_ca, cfg->backend_server_name};
	bool use = cfg->backend_cert != NULL || cfg->backend_key != NULL ||
	    cfg->backend_ca != NULL || cfg->backend_server_name != NULL;
	char err[512];

	for (int i = 0; i < cfg->backends.n; i++)
		use = use || fs_client_url_is_tls(cfg->backends.v[i]);
	if (gw_backends_open(out, (const char *const *) cfg->backends.v,
	        cfg->backends.n, use ? &tls : NULL, (int) cfg->coalesce,
	        (uint32_t) cfg->backend_poll_ms, err, sizeof(err)) != 0) {
		fprintf(stderr, "flow-gateway: %s\n", err);
		return 1;
	}
	return 0;
}

/* The one line a program that cannot start prints; returns code (1).
 * Mistakes on the command line are fs_opts's to answer (exit 2). */
static int
die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
die(int code, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "flow-gateway: %s\n", line);
	return code;
}

/* How long the shutdown waits for the backends' clients to close. */
#define CLOSE_WAIT_MS 2000
/* How long a shutdown may take in all before the gateway exits anyway:
 * the drain (the RPC timeout at most, 5 s by default) and the close. */
#define SHUTDOWN_LIMIT_S 9

/* Ends the process if the shutdown has not within SHUTDOWN_LIMIT_S: a
 * stopping gateway must stop, whatever one of its calls or threads waits
 * for (it has answered what it could; the backend keeps the data). */
static void *
shutdown_watchdog(void *arg)
{
	struct timespec left = {SHUTDOWN_LIMIT_S, 0};

	(void) arg;
	while (nanosleep(&left, &left) != 0 && errno == EINTR)
		;
	fs_log(FS_LOG_WARN, NULL,
	    "shutdown: not done after %d s; exiting without the rest",
	    SHUTDOWN_LIMIT_S);
	fflush(NULL);
	_exit(0);
	return NULL;
}

static void
close_it(void *bs)
{
	gw_backends_close(bs);
}

int
main(int argc, char **argv)
{
	struct config cfg;
	struct gw_http_config hc;
	fs_opts_result res;
	char err[256];
	sigset_t sigs;
	gw_backends *backends;
	gw_metrics *metrics;
	gw_http *http;
	gw_auth *auth = NULL;
	gw_cors *cors = NULL;
	gw_tls *tls = NULL;
	int rv, sig;

	if ((rv = fs_opts_parse(&prog, &cfg, argc, argv, &res)) != FS_OPTS_OK)
		return rv == FS_OPTS_EXIT ? 0 : 2;
	/* The table allows only names fs_log knows. */
	if (fs_log_setup_names(prog.name, cfg.log_level, cfg.log_format) != 0)
		return 2;
	/* A mistake in an origin is one on the command line. */
	for (int i = 0; i < cfg.cors_origins.n; i++)
		if (gw_cors_check(cfg.cors_origins.v[i], err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "flow-gateway: %s\nTry '%s --help'.\n",
			    err, prog.name);
			return 2;
		}
	if (gw_cors_new(&cors, cfg.cors_origins.v, cfg.cors_origins.n, err,
	        sizeof(err)) != 0)
		return die(1, "%s", err);
	if (cfg.tokens != NULL) {
		gw_tokens *t = load_tokens(cfg.tokens, err, sizeof(err));

		if (t == NULL) {
			gw_cors_free(cors);
			return die(1, "--tokens %s: %s", cfg.tokens, err);
		}
		if ((auth = gw_auth_new(t)) == NULL) {
			gw_cors_free(cors);
			return die(1, "out of memory");
		}
	}

	if ((cfg.tls_cert == NULL) != (cfg.tls_key == NULL)) {
		gw_auth_free(auth);
		return fs_opts_usage_error(&prog,
		    "--tls-cert and --tls-key go together");
	}
	if (cfg.tls_cert != NULL &&
	    gw_tls_new(&tls, cfg.tls_cert, cfg.tls_key, err, sizeof(err)) !=
	        0) {
		gw_auth_free(auth);
		return die(1, "%s", err);
	}

	/* Before any thread exists, so that every thread inherits the mask
	 * and only sigwait() below receives these. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0) {
		gw_tls_free(tls);
		gw_auth_free(auth);
		gw_cors_free(cors);
		return die(1, "cannot block signals");
	}
	signal(SIGPIPE, SIG_IGN);

	if ((metrics = gw_metrics_new()) == NULL) {
		gw_tls_free(tls);
		gw_auth_free(auth);
		gw_cors_free(cors);
		return die(1, "out of memory");
	}
	if (open_backends(&backends, &cfg) != 0) {
		gw_metrics_free(metrics);
		gw_tls_free(tls);
		gw_auth_free(auth);
		gw_cors_free(cors);
		return 1;
	}

	/* Where it listens, and with how many threads. */
	hc.bind = cfg.bind;
	hc.port = (unsigned) cfg.port;
	hc.threads = (unsigned) cfg.threads;
	hc.access_log = cfg.access_log;
	/* What one request may be. */
	hc.max_body = (size_t) cfg.max_body;
	hc.max_url = (size_t) cfg.max_url;
	hc.max_query_params = (unsigned) cfg.max_query_params;
	hc.max_header_bytes = (size_t) cfg.max_header_bytes;
	/* How many at once, and for how long. */
	hc.max_inflight = (unsigned) cfg.max_inflight;
	hc.max_conns = (unsigned) cfg.max_conns;
	hc.max_conns_per_ip = (unsigned) cfg.max_conns_per_ip;
	hc.rpc_timeout_ms = (uint32_t) cfg.rpc_timeout_ms;
	hc.conn_timeout_s = (unsigned) cfg.conn_timeout_s;
	hc.header_timeout_s = (unsigned) cfg.header_timeout_s;
	hc.auth = auth;
	hc.cors = cors;
	hc.tls = tls;
	/* GET /api/watch/. */
	hc.watch.bookmark_ms = (uint32_t) cfg.watch_bookmark_ms;
	hc.watch.client_buffer = (size_t) cfg.watch_client_buffer;
	hc.watch.max_clients = (unsigned) cfg.watch_max_clients;
	hc.watch.ring_events = (size_t) cfg.watch_ring;
	hc.watch.ring_bytes = (size_t) cfg.watch_ring_bytes;
	hc.watch.rpc_timeout_ms = (uint32_t) cfg.rpc_timeout_ms;
	if (gw_http_start(&http, &hc, backends, metrics, err, sizeof(err)) !=
	    0) {
		gw_backends_close(backends);
		gw_metrics_free(metrics);
		gw_tls_free(tls);
		gw_auth_free(auth);
		gw_cors_free(cors);
		return die(1, "%s", err);
	}

	fs_log(FS_LOG_INFO, NULL,
	    "version %s listening on %s port %u; backend %s%s; max-body %lld, "
	    "rpc-timeout %lldms, conn-timeout %llds, header-timeout %llds, "
	    "max-conns %lld, threads %lld, access-log %s; max-url %lld, "
	    "max-query-params %lld, max-header-bytes %lld, max-inflight "
	    "%lld, max-conns-per-ip %lld",
	    fs_opts_version(), cfg.bind, gw_http_port(http), cfg.backends.v[0],
	    cfg.backends.n > 1 ? " (and more)" : "", cfg.max_body,
	    cfg.rpc_timeout_ms, cfg.conn_timeout_s, cfg.header_timeout_s,
	    cfg.max_conns, cfg.threads, cfg.access_log ? "on" : "off",
	    cfg.max_url, cfg.max_query_params, cfg.max_header_bytes,
	    cfg.max_inflight, cfg.max_conns_per_ip);
	if (!gw_pages_active())
		fs_log(FS_LOG_WARN, NULL,
		    "libmicrohttpd's own error pages (malformed requests) go "
		    "out as HTML without X-Request-Id: its MHD_queue_response "
		    "cannot be overridden in this build");
	for (int i = 1; i < cfg.backends.n; i++)
		fs_log(FS_LOG_INFO, NULL, "also backend %s",
		    cfg.backends.v[i]);
	for (int i = 0; i < cfg.cors_origins.n; i++)
		fs_log(FS_LOG_INFO, NULL,
		    "--cors-origin %s: pages from %s may call the API",
		    cfg.cors_origins.v[i],
		    strcmp(cfg.cors_origins.v[i], "*") == 0
		        ? "any origin"
		        : cfg.cors_origins.v[i]);
	if (tls != NULL)
		log_tls(tls, "HTTPS only (TLS 1.2+); certificate");
	if (auth == NULL)
		fs_log(FS_LOG_WARN, NULL,
		    "no --tokens: the API is open to anyone who can reach it");
	else
		fs_log(FS_LOG_INFO, NULL,
		    "--tokens %s: /api/ needs a bearer token; SIGHUP reloads "
		    "the file",
		    cfg.tokens);

	for (;;) {
		rv = sigwait(&sigs, &sig);
		if (rv != 0)
			continue; /* EINTR on old kernels; nothing else */
		if (sig != SIGHUP)
			break;
		if (auth != NULL || tls == NULL)
			reload_tokens(cfg.tokens, auth);
		reload_tls(tls);
	}
	fs_log(FS_LOG_INFO, NULL, "%s: shutting down",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");

	pthread_t dog;
	if (pthread_create(&dog, NULL, shutdown_watchdog, NULL) == 0)
		(void) pthread_detach(dog);
	gw_http_drain(http);
	/* A client's close waits for its calls in flight to end: one that
	 * does not (a long poll no backend answers, an nng close that hangs)
	 * must not keep a stopping gateway up. */
	if (!fs_run_within(close_it, backends, CLOSE_WAIT_MS)) {
		/* What is left holds the server's state: exit without
		 * freeing it. Every response has gone out (the drain). */
		fs_log(FS_LOG_WARN, NULL,
		    "shutdown: a backend call did not end within %d ms; "
		    "exiting without it",
		    CLOSE_WAIT_MS);
		fflush(NULL);
		_exit(0);
	}
	gw_http_stop(http);
	gw_metrics_free(metrics);
	gw_tls_free(tls);
	gw_auth_free(auth);
	gw_cors_free(cors);
	fs_log(FS_LOG_INFO, NULL, "stopped");
	return 0;
}
