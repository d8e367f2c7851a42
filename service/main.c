/*
 * flow-service: the backend. Flags, signals and wiring; the work is in
 * svc.c (handlers, write path) and store.c (indexes).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "fs_rpc.h"
#include "fs_util.h"
#include "persist.h"
#include "svc.h"

struct config {
	const char *listen;
	const char *data_dir;
	const char *fsync;
	long contexts;
	long max_inflight_per_conn;
	long snapshot_changes;
	long snapshot_interval;
	long access_log;
	const char *log_format;
	const char *log_level;
	long recover_partial;
};

enum opt_type { OPT_STR, OPT_INT, OPT_ENUM, OPT_FLAG /* no value: 1 */ };

/* One table drives parsing, defaults and --help. */
static const struct opt {
	const char *name;
	enum opt_type type;
	size_t off;
	const char *def;
	long min, max;
	const char *choices; /* OPT_ENUM: "a|b|c" */
	const char *help;
} opts[] = {
    {"listen", OPT_STR, offsetof(struct config, listen),
        "tcp://127.0.0.1:5555", 0, 0, NULL,
        "nng URL to serve RPC on (tcp://host:port or ipc:///path)"},
    {"data-dir", OPT_STR, offsetof(struct config, data_dir), "./data", 0,
        0, NULL, "directory for the snapshot and the change log"},
    {"fsync", OPT_ENUM, offsetof(struct config, fsync), "everysec", 0, 0,
        "always|everysec|no",
        "when the change log is synced to disk: before every reply, once "
        "a second, or when the OS decides"},
    {"snapshot-changes", OPT_INT, offsetof(struct config, snapshot_changes),
        "100000", 0, 1000000000, NULL,
        "write a snapshot after this many changes (0: never on a count)"},
    {"snapshot-interval", OPT_INT,
        offsetof(struct config, snapshot_interval), "300", 0, 86400 * 365,
        NULL,
        "seconds between snapshots when anything changed (0: no timer)"},
    {"contexts", OPT_INT, offsetof(struct config, contexts), "256", 1,
        4096, NULL, "RPC requests served concurrently"},
    {"max-inflight-per-conn", OPT_INT,
        offsetof(struct config, max_inflight_per_conn), "64", 0, 1000000,
        NULL,
        "requests one connection may have in progress; more are dropped "
        "unanswered (0: no cap)"},
    {"access-log", OPT_INT, offsetof(struct config, access_log), "0", 0, 1,
        NULL,
        "1: log a line per request (method, code, duration, request id)"},
    {"log-format", OPT_ENUM, offsetof(struct config, log_format), "text", 0,
        0, "text|json",
        "log lines as text, or as one JSON object per line"},
    {"log-level", OPT_ENUM, offsetof(struct config, log_level), "info", 0,
        0, "debug|info|warn|error",
        "least severe level logged (the access log is at info)"},
    {"recover-partial", OPT_FLAG, offsetof(struct config, recover_partial),
        "0", 0, 1, NULL,
        "start from an incomplete data directory (a snapshot or log "
        "missing, a gap between generations) with what is there, log what "
        "was accepted, and snapshot it"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* Logging: one line per event on stderr, written with one write so lines
 * from different threads never interleave. Set once before any thread
 * starts. */
static int log_json;
static int log_min = 1; /* 0 debug, 1 info, 2 warn, 3 error */

static int
level_rank(const char *level)
{
	if (strcmp(level, "debug") == 0)
		return 0;
	if (strcmp(level, "warn") == 0 || strcmp(level, "warning") == 0)
		return 2;
	if (strcmp(level, "error") == 0)
		return 3;
	return 1;
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Appends s to buf (size n, used *len) as JSON string content. */
static void
json_escape(char *buf, size_t n, size_t *len, const char *s)
{
	for (; *s != '\0' && *len + 7 < n; s++) {
		unsigned char c = (unsigned char) *s;
		if (c == '"' || c == '\\') {
			buf[(*len)++] = '\\';
			buf[(*len)++] = (char) c;
		} else if (c < 0x20 || c == 0x7f) {
			*len += (size_t) snprintf(buf + *len, n - *len, "\\u%04x", c);
		} else {
			buf[(*len)++] = (char) c;
		}
	}
	buf[*len] = '\0';
}

/* Appends ,"key":"value" to a JSON line. */
static void
json_field(char *buf, size_t n, size_t *len, const char *key, const char *v)
{
	if (*len + strlen(key) + 8 >= n)
		return;
	*len += (size_t) snprintf(buf + *len, n - *len, ",\"%s\":\"", key);
	json_escape(buf, n, len, v);
	if (*len + 2 < n) {
		buf[(*len)++] = '"';
		buf[*len] = '\0';
	}
}

static void logf_(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
logf_(const char *level, const char *fmt, ...)
{
	char ts[FS_TIME_STRLEN + 1];
	char msg[2048], line[4096];
	size_t len;
	int rank = level_rank(level);
	va_list ap;

	if (rank < log_min)
		return;
	fs_time_format(fs_now_us(), ts);
	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		snprintf(msg, sizeof(msg), "(unformattable message)");
	va_end(ap);
	if (!log_json) {
		/* Keep it one line whatever the message holds. */
		for (char *p = msg; *p != '\0'; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		len = (size_t) snprintf(line, sizeof(line),
		    "%s flow-service[%d] %s: %s\n", ts, (int) getpid(),
		    level_names[rank], msg);
		if (len >= sizeof(line)) {
			len = sizeof(line) - 1;
			line[len - 1] = '\n';
		}
	} else {
		char method[64], code[64];
		double ms;
		int off = -1;

		len = (size_t) snprintf(line, sizeof(line),
		    "{\"time\":\"%s\",\"level\":\"%s\",\"pid\":%d", ts,
		    level_names[rank], (int) getpid());
		/* The access log line (svc.c) becomes fields. */
		if (sscanf(msg, "rpc %63s %63s %lfms rid=%n", method, code, &ms,
		        &off) == 3 &&
		    off > 0) {
			char num[32];
			json_field(line, sizeof(line), &len, "event", "rpc");
			json_field(line, sizeof(line), &len, "method", method);
			json_field(line, sizeof(line), &len, "code", code);
			snprintf(num, sizeof(num), "%.3f", ms);
			if (len + 32 < sizeof(line))
				len += (size_t) snprintf(line + len,
				    sizeof(line) - len, ",\"duration_ms\":%s", num);
			json_field(line, sizeof(line), &len, "request_id",
			    msg + off);
		} else {
			json_field(line, sizeof(line), &len, "msg", msg);
		}
		if (len + 3 > sizeof(line))
			len = sizeof(line) - 3;
		line[len++] = '}';
		line[len++] = '\n';
		line[len] = '\0';
	}
	/* stderr is unbuffered: one fwrite is one write(2). */
	if (fwrite(line, 1, len, stderr) != len)
		return; /* nowhere left to report it */
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: flow-service [options]\n\noptions:\n");
	for (size_t i = 0; i < NOPTS; i++) {
		char arg[64];
		if (opts[i].type == OPT_FLAG) {
			snprintf(arg, sizeof(arg), "--%s", opts[i].name);
			fprintf(f, "  %-28s %s\n", arg, opts[i].help);
			continue;
		}
		snprintf(arg, sizeof(arg), "--%s %s", opts[i].name,
		    opts[i].type == OPT_ENUM ? opts[i].choices
		    : opts[i].type == OPT_INT ? "N"
		                              : "VALUE");
		fprintf(f, "  %-28s %s (default: %s)\n", arg, opts[i].help,
		    opts[i].def);
	}
	fprintf(f, "  %-28s %s\n", "--help", "show this help");
}

static int
set_opt(struct config *cfg, const struct opt *o, const char *val)
{
	char *p = (char *) cfg + o->off;

	switch (o->type) {
	case OPT_STR:
		*(const char **) (void *) p = val;
		return 0;
	case OPT_ENUM: {
		size_t n = strlen(val);
		const char *c = o->choices;
		while (c != NULL && *c != '\0') {
			const char *bar = strchr(c, '|');
			size_t len = bar ? (size_t) (bar - c) : strlen(c);
			if (len == n && strncmp(c, val, n) == 0) {
				*(const char **) (void *) p = val;
				return 0;
			}
			c = bar ? bar + 1 : NULL;
		}
		return -1;
	}
	case OPT_FLAG:
	case OPT_INT: {
		char *end;
		errno = 0;
		long v = strtol(val, &end, 10);
		if (errno != 0 || *end != '\0' || end == val || v < o->min ||
		    v > o->max)
			return -1;
		*(long *) (void *) p = v;
		return 0;
	}
	}
	return -1;
}

static int
parse_args(struct config *cfg, int argc, char **argv)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (set_opt(cfg, &opts[i], opts[i].def) != 0)
			abort(); /* a bad default is a programming error */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strncmp(a, "--", 2) != 0) {
			fprintf(stderr, "flow-service: unexpected argument '%s'\n",
			    a);
			return -1;
		}
		const char *name = a + 2, *val = strchr(name, '=');
		size_t nlen = val ? (size_t) (val - name) : strlen(name);
		const struct opt *o = NULL;
		for (size_t j = 0; j < NOPTS; j++)
			if (strlen(opts[j].name) == nlen &&
			    strncmp(opts[j].name, name, nlen) == 0)
				o = &opts[j];
		if (o == NULL) {
			fprintf(stderr, "flow-service: unknown option '%s'\n", a);
			return -1;
		}
		if (o->type == OPT_FLAG) {
			if (val != NULL) {
				fprintf(stderr, "flow-service: --%s takes no "
				    "value\n", o->name);
				return -1;
			}
			*(long *) (void *) ((char *) cfg + o->off) = 1;
			continue;
		}
		if (val != NULL) {
			val++;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			fprintf(stderr, "flow-service: --%s needs a value\n",
			    o->name);
			return -1;
		}
		if (set_opt(cfg, o, val) != 0) {
			fprintf(stderr, "flow-service: bad value '%s' for --%s\n",
			    val, o->name);
			return -1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct config cfg;
	sigset_t sigs;
	svc_opts so = {0};
	char err[1024];
	svc *s;
	fs_server *srv;
	int rv, sig;

	if (parse_args(&cfg, argc, argv) != 0) {
		usage(stderr);
		return 2;
	}
	log_json = strcmp(cfg.log_format, "json") == 0;
	log_min = level_rank(cfg.log_level);

	/* Block the stop signals in every thread (nng's inherit this mask)
	 * and take them synchronously in main with sigwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	so.data_dir = cfg.data_dir;
	so.fsync = strcmp(cfg.fsync, "always") == 0 ? PERSIST_FSYNC_ALWAYS
	    : strcmp(cfg.fsync, "no") == 0          ? PERSIST_FSYNC_NO
	                                            : PERSIST_FSYNC_EVERYSEC;
	so.snapshot_changes = (uint64_t) cfg.snapshot_changes;
	so.snapshot_interval = (uint32_t) cfg.snapshot_interval;
	so.log = logf_;
	so.access_log = (int) cfg.access_log;
	so.recover_partial = (int) cfg.recover_partial;
	if (svc_open(&s, &so, err, sizeof(err)) != 0) {
		logf_("error", "cannot start: %s", err);
		return 1;
	}
	fs_server_opts sopts = {0};
	sopts.ncontexts = (int) cfg.contexts;
	sopts.max_inflight_per_conn = (int) cfg.max_inflight_per_conn;
	sopts.log = logf_;
	if ((rv = fs_server_open_opts(&srv, cfg.listen, &sopts, svc_handle,
	         s)) != 0) {
		logf_("error", "cannot listen on %s: %s", cfg.listen,
		    nng_strerror(rv));
		svc_close(s);
		return 1;
	}
	logf_("info", "serving on %s (data dir %s, fsync %s, %ld contexts)",
	    cfg.listen, cfg.data_dir, cfg.fsync, cfg.contexts);

	while (sigwait(&sigs, &sig) != 0)
		;
	logf_("info", "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	fs_server_close(srv);
	int snap_ok = svc_snapshot(s) == 0;
	char report[2048];
	int lost = svc_stop_report(s, snap_ok, report, sizeof(report));
	svc_close(s);
	/* A directory lost while running is no clean stop: what was
	 * acknowledged is not where the next start looks. */
	logf_(lost ? "error" : "info", "%s", report);
	return lost ? 1 : 0;
}
