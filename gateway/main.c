/*
 * main.c - flow-gateway: flags, signals, wiring.
 *
 * One table (opts[]) drives both the flag parser and --help. Signals are
 * blocked before any thread starts and taken synchronously with sigwait(),
 * so no code runs in signal context: SIGHUP reloads the tokens file on
 * this thread while the HTTP threads go on serving.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <pthread.h>

#include <nng/nng.h>

#include "fs_rpc.h"
#include "gw_auth.h"
#include "gw_http.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_pages.h"

#define MAX_BACKENDS 16

struct config {
	const char *bind;
	unsigned long long port;
	const char *backends[MAX_BACKENDS];
	int n_backends;
	const char *tokens;
	unsigned long long max_body;
	unsigned long long max_url;
	unsigned long long max_query_params;
	unsigned long long max_header_bytes;
	unsigned long long max_inflight;
	unsigned long long rpc_timeout_ms;
	unsigned long long conn_timeout_s;
	unsigned long long header_timeout_s;
	unsigned long long max_conns;
	unsigned long long max_conns_per_ip;
	unsigned long long threads;
	unsigned long long coalesce;
	bool access_log;
	const char *log_level;
	const char *log_format;
	bool help;
};

enum opt_type { OPT_STR, OPT_UINT, OPT_FLAG, OPT_LIST };

struct opt {
	const char *name;
	const char *arg; /* metavariable in --help; NULL for flags */
	enum opt_type type;
	size_t offset; /* into struct config */
	unsigned long long min, max;
	const char *def; /* default as shown in --help */
	const char *help;
};

#define OFF(f) offsetof(struct config, f)

static const struct opt opts[] = {
	{"bind", "ADDR", OPT_STR, OFF(bind), 0, 0, "127.0.0.1",
	    "address (or host name) to listen on"},
	{"port", "N", OPT_UINT, OFF(port), 0, 65535, "8080",
	    "TCP port to listen on (0: any free port)"},
	{"backend", "URL", OPT_LIST, OFF(backends), 0, 0,
	    "tcp://127.0.0.1:5555",
	    "flow-service address (tcp:// or ipc://); repeat to spread calls "
	    "over several"},
	{"tokens", "FILE", OPT_STR, OFF(tokens), 0, 0, "none, the API is open",
	    "bearer tokens for /api/, lines \"TOKEN GROUP[,GROUP...]\" or "
	    "\"TOKEN *\"; SIGHUP reloads the file"},
	{"max-body", "BYTES", OPT_UINT, OFF(max_body), 0, 64u << 20,
	    "1048576", "largest request body; larger ones answer 413"},
	{"max-url", "BYTES", OPT_UINT, OFF(max_url), 1, 1u << 20, "8192",
	    "longest URL, path and query (after percent-decoding); longer "
	    "ones answer 414"},
	{"max-query-params", "N", OPT_UINT, OFF(max_query_params), 0, 100000,
	    "64", "most query parameters; more answer 400"},
	{"max-header-bytes", "BYTES", OPT_UINT, OFF(max_header_bytes), 4096,
	    1u << 24, "16384",
	    "request line and headers; larger requests get 431 and the "
	    "connection is closed (each connection may hold twice this)"},
	{"max-inflight", "N", OPT_UINT, OFF(max_inflight), 1, 1000000, "4096",
	    "most backend calls in flight; requests beyond answer 503"},
	{"rpc-timeout", "MS", OPT_UINT, OFF(rpc_timeout_ms), 1, 600000,
	    "5000", "backend call timeout; on expiry the request answers 503"},
	{"conn-timeout", "S", OPT_UINT, OFF(conn_timeout_s), 0, 86400, "30",
	    "close keep-alive client connections idle between requests "
	    "after S seconds (0: never)"},
	{"header-timeout", "S", OPT_UINT, OFF(header_timeout_s), 0, 86400,
	    "10", "close connections that have not sent a whole request "
	    "after S seconds idle (at most --conn-timeout; 0: as "
	    "--conn-timeout)"},
	{"max-conns", "N", OPT_UINT, OFF(max_conns), 1, 1000000, "1024",
	    "most concurrent client connections"},
	{"max-conns-per-ip", "N", OPT_UINT, OFF(max_conns_per_ip), 0, 1000000,
	    "256", "most concurrent connections from one client address "
	    "(loopback included), so that one host cannot take them all; "
	    "more are closed unanswered (0: no limit, for a gateway behind a "
	    "proxy, where every client has the proxy's address)"},
	{"threads", "N", OPT_UINT, OFF(threads), 1, 256, "2",
	    "HTTP event-loop threads"},
	{"coalesce", "N", OPT_UINT, OFF(coalesce), 0, 1024, "1",
	    "batches (or single calls) of reads, and as many of changes, in "
	    "flight to the backend before further ones queue and go out "
	    "together as one batch call; lists (but by name and group) and "
	    "requests over 64 KiB are never batched (0: never batch)"},
	{"access-log", NULL, OPT_FLAG, OFF(access_log), 0, 0, "off",
	    "log one line per request"},
	{"log-format", "FORMAT", OPT_STR, OFF(log_format), 0, 0, "text",
	    "text or json (one object per line)"},
	{"log-level", "LEVEL", OPT_STR, OFF(log_level), 0, 0, "info",
	    "debug, info, warn or error"},
	{"help", NULL, OPT_FLAG, OFF(help), 0, 0, NULL, "show this help"},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static void
usage(FILE *f)
{
	fprintf(f, "usage: flow-gateway [options]\n\n"
		   "REST/JSON gateway in front of flow-service.\n\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		char left[40];

		snprintf(left, sizeof(left), "--%s%s%s", opts[i].name,
		    opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
		fprintf(f, "  %-25s %s", left, opts[i].help);
		if (opts[i].def)
			fprintf(f, " (default: %s)", opts[i].def);
		fputc('\n', f);
	}
}

/* Parses argv into cfg. Returns 0, or -1 with a one-line reason in err. */
static int
parse_args(int argc, char **argv, struct config *cfg, char *err, size_t len)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		const struct opt *o = NULL;
		size_t n;

		if (strncmp(a, "--", 2) != 0) {
			snprintf(err, len, "unexpected argument \"%s\"", a);
			return -1;
		}
		a += 2;
		eq = strchr(a, '=');
		n = eq ? (size_t)(eq - a) : strlen(a);
		for (size_t k = 0; k < N_OPTS; k++)
			if (strlen(opts[k].name) == n &&
			    strncmp(opts[k].name, a, n) == 0)
				o = &opts[k];
		if (o == NULL) {
			snprintf(err, len, "unknown option \"--%.*s\"", (int)n,
			    a);
			return -1;
		}
		if (o->type == OPT_FLAG) {
			if (eq) {
				snprintf(err, len, "--%s takes no value",
				    o->name);
				return -1;
			}
			*(bool *)((char *)cfg + o->offset) = true;
			continue;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			snprintf(err, len, "--%s needs a value (%s)", o->name,
			    o->arg);
			return -1;
		}
		switch (o->type) {
		case OPT_STR:
			*(const char **)((char *)cfg + o->offset) = val;
			break;
		case OPT_LIST:
			if (cfg->n_backends == MAX_BACKENDS) {
				snprintf(err, len, "at most %d --%s options",
				    MAX_BACKENDS, o->name);
				return -1;
			}
			cfg->backends[cfg->n_backends++] = val;
			break;
		case OPT_UINT: {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(val, &end, 10);
			if (*val < '0' || *val > '9' || *end != '\0' ||
			    errno == ERANGE || v < o->min || v > o->max) {
				snprintf(err, len,
				    "--%s: \"%s\" is not an integer in "
				    "%llu..%llu",
				    o->name, val, o->min, o->max);
				return -1;
			}
			*(unsigned long long *)((char *)cfg + o->offset) = v;
			break;
		}
		default:
			break;
		}
	}
	return 0;
}

/* Loads the tokens file, logging what an operator should know about it.
 * Returns the table, or NULL with the reason in err. */
static gw_tokens *
load_tokens(const char *path, char *err, size_t errlen)
{
	gw_tokens *t;
	struct stat st;

	if (gw_tokens_load(path, &t, err, errlen) != 0)
		return NULL;
	gw_log(GW_LOG_INFO, NULL, "--tokens %s: %zu token%s", path,
	    gw_tokens_count(t), gw_tokens_count(t) == 1 ? "" : "s");
	if (gw_tokens_count(t) == 0)
		gw_log(GW_LOG_WARN, NULL,
		    "--tokens %s holds no token: every /api/ request answers "
		    "401",
		    path);
	if (gw_tokens_short(t) > 0)
		gw_log(GW_LOG_WARN, NULL,
		    "--tokens %s: %zu token(s) shorter than %d characters, "
		    "easy to guess",
		    path, gw_tokens_short(t), GW_TOKEN_SHORT);
	if (stat(path, &st) == 0 && (st.st_mode & S_IROTH))
		gw_log(GW_LOG_WARN, NULL,
		    "--tokens %s is readable by every user on this host", path);
	return t;
}

/* SIGHUP: the new file replaces the table, or the old one stays. */
static void
reload_tokens(const char *path, gw_auth *auth)
{
	char err[256];
	gw_tokens *t;

	if (auth == NULL) {
		gw_log(GW_LOG_WARN, NULL,
		    "SIGHUP: no --tokens file to reload; the API stays open");
		return;
	}
	if ((t = load_tokens(path, err, sizeof(err))) == NULL) {
		gw_log(GW_LOG_ERROR, NULL,
		    "SIGHUP: --tokens %s: %s; keeping the tokens loaded before",
		    path, err);
		return;
	}
	gw_auth_swap(auth, t);
	gw_log(GW_LOG_INFO, NULL, "SIGHUP: tokens reloaded from %s", path);
}

/* The one line a program that cannot start prints; returns the exit code
 * (2 for usage errors, 1 for everything else). */
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

int
main(int argc, char **argv)
{
	struct config cfg = {
		.bind = "127.0.0.1",
		.port = 8080,
		.max_body = 1048576,
		.max_url = 8192,
		.max_query_params = 64,
		.max_header_bytes = 16384,
		.max_inflight = 4096,
		.rpc_timeout_ms = FS_RPC_DEFAULT_TIMEOUT_MS,
		.conn_timeout_s = 30,
		.header_timeout_s = 10,
		.max_conns = 1024,
		.max_conns_per_ip = 256,
		.threads = 2,
		.coalesce = 1,
		.log_level = "info",
		.log_format = "text",
	};
	struct gw_http_config hc;
	enum gw_log_level level;
	char err[256];
	sigset_t sigs;
	fs_client *client;
	gw_metrics *metrics;
	gw_http *http;
	gw_auth *auth = NULL;
	int rv, sig;

	if (parse_args(argc, argv, &cfg, err, sizeof(err)) != 0)
		return die(2, "%s (try --help)", err);
	if (cfg.help) {
		usage(stdout);
		return 0;
	}
	if (gw_log_level_parse(cfg.log_level, &level) != 0)
		return die(2,
		    "--log-level: \"%s\" is not one of debug, info, warn, "
		    "error",
		    cfg.log_level);
	gw_log_set_level(level);
	if (strcmp(cfg.log_format, "text") != 0 &&
	    strcmp(cfg.log_format, "json") != 0)
		return die(2, "--log-format: \"%s\" is not text or json",
		    cfg.log_format);
	gw_log_set_json(strcmp(cfg.log_format, "json") == 0);
	if (cfg.tokens != NULL) {
		gw_tokens *t = load_tokens(cfg.tokens, err, sizeof(err));

		if (t == NULL)
			return die(1, "--tokens %s: %s", cfg.tokens, err);
		if ((auth = gw_auth_new(t)) == NULL)
			return die(1, "out of memory");
	}
	if (cfg.n_backends == 0)
		cfg.backends[cfg.n_backends++] = "tcp://127.0.0.1:5555";

	/* Before any thread exists, so that every thread inherits the mask
	 * and only sigwait() below receives these. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0) {
		gw_auth_free(auth);
		return die(1, "cannot block signals");
	}
	signal(SIGPIPE, SIG_IGN);

	if ((metrics = gw_metrics_new()) == NULL) {
		gw_auth_free(auth);
		return die(1, "out of memory");
	}
	if ((rv = fs_client_open(&client, cfg.backends[0])) != 0) {
		gw_metrics_free(metrics);
		gw_auth_free(auth);
		return die(1, "--backend %s: %s", cfg.backends[0],
		    fs_client_last_error());
	}
	if (fs_client_set_coalesce(client, (int)cfg.coalesce) != 0) {
		fs_client_close(client);
		gw_metrics_free(metrics);
		gw_auth_free(auth);
		return die(1, "bad --coalesce");
	}
	for (int i = 1; i < cfg.n_backends; i++) {
		rv = fs_client_add_backend(client, cfg.backends[i]);
		if (rv != 0) {
			fs_client_close(client);
			gw_metrics_free(metrics);
			gw_auth_free(auth);
			return die(1, "--backend %s: %s", cfg.backends[i],
			    fs_client_last_error());
		}
	}

	hc.bind = cfg.bind;
	hc.port = (unsigned)cfg.port;
	hc.max_body = (size_t)cfg.max_body;
	hc.max_url = (size_t)cfg.max_url;
	hc.max_query_params = (unsigned)cfg.max_query_params;
	hc.max_header_bytes = (size_t)cfg.max_header_bytes;
	hc.max_inflight = (unsigned)cfg.max_inflight;
	hc.rpc_timeout_ms = (uint32_t)cfg.rpc_timeout_ms;
	hc.conn_timeout_s = (unsigned)cfg.conn_timeout_s;
	hc.header_timeout_s = (unsigned)cfg.header_timeout_s;
	hc.max_conns = (unsigned)cfg.max_conns;
	hc.max_conns_per_ip = (unsigned)cfg.max_conns_per_ip;
	hc.threads = (unsigned)cfg.threads;
	hc.access_log = cfg.access_log;
	hc.auth = auth;
	if (gw_http_start(&http, &hc, client, metrics, err, sizeof(err)) != 0) {
		fs_client_close(client);
		gw_metrics_free(metrics);
		gw_auth_free(auth);
		return die(1, "%s", err);
	}

	gw_log(GW_LOG_INFO, NULL,
	    "listening on %s port %u; backend %s%s; max-body %llu, "
	    "rpc-timeout %llums, conn-timeout %llus, header-timeout %llus, "
	    "max-conns %llu, threads %llu, access-log %s; max-url %llu, "
	    "max-query-params %llu, max-header-bytes %llu, max-inflight "
	    "%llu, max-conns-per-ip %llu",
	    cfg.bind, gw_http_port(http), cfg.backends[0],
	    cfg.n_backends > 1 ? " (and more)" : "", cfg.max_body,
	    cfg.rpc_timeout_ms, cfg.conn_timeout_s, cfg.header_timeout_s,
	    cfg.max_conns, cfg.threads, cfg.access_log ? "on" : "off",
	    cfg.max_url, cfg.max_query_params, cfg.max_header_bytes,
	    cfg.max_inflight, cfg.max_conns_per_ip);
	if (!gw_pages_active())
		gw_log(GW_LOG_WARN, NULL,
		    "libmicrohttpd's own error pages (malformed requests) go "
		    "out as HTML without X-Request-Id: its MHD_queue_response "
		    "cannot be overridden in this build");
	for (int i = 1; i < cfg.n_backends; i++)
		gw_log(GW_LOG_INFO, NULL, "also backend %s", cfg.backends[i]);
	if (auth == NULL)
		gw_log(GW_LOG_WARN, NULL,
		    "no --tokens: the API is open to anyone who can reach it");
	else
		gw_log(GW_LOG_INFO, NULL,
		    "--tokens %s: /api/ needs a bearer token; SIGHUP reloads "
		    "the file",
		    cfg.tokens);

	for (;;) {
		rv = sigwait(&sigs, &sig);
		if (rv != 0)
			continue; /* EINTR on old kernels; nothing else */
		if (sig != SIGHUP)
			break;
		reload_tokens(cfg.tokens, auth);
	}
	gw_log(GW_LOG_INFO, NULL, "%s: shutting down",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");

	gw_http_drain(http);
	fs_client_close(client);
	gw_http_stop(http);
	gw_metrics_free(metrics);
	gw_auth_free(auth);
	gw_log(GW_LOG_INFO, NULL, "stopped");
	return 0;
}
