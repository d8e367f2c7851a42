/*
 * flowctl.h - what flowctl's three files share: the options, the command
 * table's shape and the context of one run.
 *
 *   flowctl.c       options (one fs_opts table), commands, help, main
 *   flowctl_cmds.c  one function per command: request, call, result
 *   flowctl_out.c   replies as JSON (the REST shape) or tables; errors
 *
 *   flowctl_watch.c "watch": the change stream, one JSON line per event
 *
 * Exit status: 0 success, 1 the backend answered with an error, 2 usage
 * error, 3 backend unavailable or no answer within the timeout, 4 (watch)
 * the revision to watch from is no longer kept (OUT_OF_RANGE).
 */
#ifndef TOOLS_FLOWCTL_H
#define TOOLS_FLOWCTL_H

#include <stdint.h>

#include <jansson.h>

#include "flows.pb-c.h"
#include "fs_rpc.h"
#include "fs_util.h"

enum {
	EXIT_RPC = 1,
	EXIT_USAGE = 2,
	EXIT_UNAVAILABLE = 3,
	EXIT_OUT_OF_RANGE = 4,
};

/* The options, in the order of flowctl.c's table: an option's tag is
 * OPTBIT(its id), and a command accepts the options in its mask. */
enum opt_id {
	OPT_BACKEND,
	OPT_BACKEND_CERT,
	OPT_BACKEND_KEY,
	OPT_BACKEND_CA,
	OPT_BACKEND_SERVER_NAME,
	OPT_TIMEOUT,
	OPT_WAIT,
	OPT_JSON,
	OPT_TABLE,
	OPT_HELP,
	OPT_APP,
	OPT_NAME,
	OPT_GROUP,
	OPT_LIMIT,
	OPT_OFFSET,
	OPT_INPUT,
	OPT_OUTPUT,
	OPT_FLOWS,
	OPT_IF_VERSION,
	OPT_SINCE,
	OPT_KIND,
	OPT_WITH_REVISION,
	OPT_COUNT
};
#define OPTBIT(o) (1u << (o))

/* The options' values (defaults from the table). */
struct flowctl_opts {
	const char *backend;
	/* tls+tcp:// (mutual TLS): PEM files, and the backend's name */
	const char *backend_cert, *backend_key, *backend_ca;
	const char *backend_server_name;
	long long timeout_ms;
	int wait;
	int json, table, help, app;
	const char *name, *group;
	long long limit, offset;
	const char *input, *output, *flows;
	long long if_version;
	long long since;   /* watch */
	const char *kind;  /* watch: flow or app */
	int with_revision; /* list */
};

typedef struct ctx ctx;
typedef int (*cmd_fn)(ctx *);

typedef struct cmd_def {
	const char *name;
	const char *args; /* positional arguments, for help; NULL: none */
	unsigned opts;    /* OPTBIT()s the command accepts */
	const char *summary;
	cmd_fn run;
	Flowsvc__Method method; /* what it calls (fs_methods.h's row) */
} cmd_def;

struct ctx {
	const cmd_def *cmd;
	const char *arg; /* the one positional argument, if any */
	struct flowctl_opts o;
	uint64_t given; /* OPTBIT()s on the command line */
	fs_client *client;
	fs_call_opts call;
	char request_id[FS_UUID_STRLEN + 1];
	const char *backend;
	/* Why nothing could be reached, when a probe found out (the
	 * transport's words: "Connection refused", "Address invalid" for a
	 * host that does not resolve); "" otherwise. */
	char unreachable[128];
	int json_out;
	int table_out;
	int tls; /* the backend is a tls+tcp:// one */
};

#define GIVEN(x, opt) (((x)->given & OPTBIT(opt)) != 0)

/* flowctl_cmds.c */
int cmd_get(ctx *);
int cmd_list(ctx *);
int cmd_create(ctx *);
int cmd_update(ctx *);
int cmd_delete(ctx *);
int cmd_status(ctx *); /* status, deploy, start, stop */
int cmd_snapshot(ctx *);
int cmd_health(ctx *);
int cmd_promote(ctx *);

/* flowctl_watch.c */
int cmd_watch(ctx *);
/* Blocks SIGINT and SIGTERM in the calling thread and in the threads it
 * starts from now on, for cmd_watch to take them: call before the
 * client is opened. Returns 0 or -1. */
int flowctl_watch_signals(void);

/* flowctl.c */
int cmd_help(ctx *);
/* "flowctl: <what>" and a hint at the right help on stderr; returns
 * EXIT_USAGE. */
int flowctl_usage_error(const ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* flowctl_out.c */
/* A transport's words ("Connection refused") as a clause of a line:
 * the first letter lowered; "" becomes "unusable". */
void flowctl_clause(char *out, size_t len, const char *words);
/* "flowctl: cannot use backend 'URL': <why>; use tcp://HOST:PORT or
 * ipc:///path" on stderr. Returns EXIT_USAGE. */
int flowctl_bad_backend(const char *url, const char *why);
json_t *component_json(const Flowsvc__Component *c);
json_t *strv_json(char **v, size_t n);
int set_str(json_t *o, const char *key, const char *v);
/* Prints v (JSON or a table, as x says) on stdout and drops the
 * reference; NULL means building it failed. Returns an exit status. */
int emit(const ctx *x, json_t *v);
int emit_list(const ctx *x, json_t *a, uint64_t revision);
/* Reports a failed call on stderr (and with --json its REST-shaped body
 * on stdout). Returns the exit status. */
int report_error(const ctx *x, int code, const Flowsvc__Reply *reply);

#endif
