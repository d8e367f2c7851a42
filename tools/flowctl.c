/*
 * flowctl - every flow-service RPC method from a shell.
 *
 * Results go to stdout as JSON in the shape the REST API returns, so that
 * scripts can use either surface; when stdout is a terminal (or with
 * --table) they are shown as a human-readable table instead, and --json
 * forces compact JSON. Errors go to stderr as one line
 * ("flowctl: NOT_FOUND: Not found.") plus one line per field violation;
 * with --json the REST-shaped error body is also printed on stdout.
 *
 * This file: the options (one fs_opts table; a command accepts the ones
 * in its mask), the commands, help and main. flowctl.h says where the
 * rest is.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "flowctl.h"
#include "fs_opts.h"
#include "fs_within.h"

#define OFF(f) offsetof(struct flowctl_opts, f)
#define TLS_OPTS                                                              \
	(OPTBIT(OPT_BACKEND_CERT) | OPTBIT(OPT_BACKEND_KEY) |                 \
	    OPTBIT(OPT_BACKEND_CA) | OPTBIT(OPT_BACKEND_SERVER_NAME))
#define GLOBAL_OPTS                                                           \
	(OPTBIT(OPT_BACKEND) | OPTBIT(OPT_TIMEOUT) | OPTBIT(OPT_WAIT) |       \
	    OPTBIT(OPT_JSON) | OPTBIT(OPT_TABLE) | OPTBIT(OPT_HELP) |         \
	    TLS_OPTS)

/* Indexed by enum opt_id: an option's bit in fs_opts_result.given is its
 * id. */
static const fs_opt opts[OPT_COUNT] = {
    [OPT_BACKEND] = {.name = "backend",
        .type = FS_OPT_STR,
        .off = OFF(backend),
        .def = "tcp://127.0.0.1:5555",
        .arg = "URL",
        .help = "backend address; when not given, $FLOWCTL_BACKEND if set",
        .tags = OPTBIT(OPT_BACKEND)},
    [OPT_BACKEND_CERT] = {.name = "backend-cert",
        .type = FS_OPT_STR,
        .off = OFF(backend_cert),
        .arg = "FILE",
        .help = "tls+tcp:// backends: this client's certificate (PEM); "
                "when not given, $FLOWCTL_CERT if set",
        .tags = OPTBIT(OPT_BACKEND_CERT)},
    [OPT_BACKEND_KEY] = {.name = "backend-key",
        .type = FS_OPT_STR,
        .off = OFF(backend_key),
        .arg = "FILE",
        .help = "its private key (PEM, unencrypted); when not given, "
                "$FLOWCTL_KEY if set",
        .tags = OPTBIT(OPT_BACKEND_KEY)},
    [OPT_BACKEND_CA] = {.name = "backend-ca",
        .type = FS_OPT_STR,
        .off = OFF(backend_ca),
        .arg = "FILE",
        .help = "the CA certificate (PEM) the backend's certificate must "
                "chain to; when not given, $FLOWCTL_CA if set",
        .tags = OPTBIT(OPT_BACKEND_CA)},
    [OPT_BACKEND_SERVER_NAME] = {.name = "backend-server-name",
        .type = FS_OPT_STR,
        .off = OFF(backend_server_name),
        .arg = "NAME",
        .help = "the DNS name in the backend's certificate, when the URL's "
                "host is not it (an IP address never is); when not given, "
                "$FLOWCTL_SERVER_NAME if set",
        .tags = OPTBIT(OPT_BACKEND_SERVER_NAME)},
    [OPT_TIMEOUT] = {.name = "timeout",
        .type = FS_OPT_INT,
        .off = OFF(timeout_ms),
        .def = "5000",
        .min = 1,
        .max = 3600000,
        .arg = "MS",
        .help = "give up after MS milliseconds (with --wait, the wait for "
                "the backend included); when not given, $FLOWCTL_TIMEOUT if "
                "set",
        .tags = OPTBIT(OPT_TIMEOUT)},
    [OPT_WAIT] = {.name = "wait",
        .type = FS_OPT_FLAG,
        .off = OFF(wait),
        .help = "wait, within --timeout, for a backend that is not "
                "listening yet (one that is starting); without it, nothing "
                "listening at the address is an error at once",
        .tags = OPTBIT(OPT_WAIT)},
    [OPT_JSON] = {.name = "json",
        .type = FS_OPT_FLAG,
        .off = OFF(json),
        .help = "compact JSON output; errors also as a JSON body on "
                "stdout",
        .tags = OPTBIT(OPT_JSON)},
    [OPT_TABLE] = {.name = "table",
        .type = FS_OPT_FLAG,
        .off = OFF(table),
        .help = "human-readable tables (the default when stdout is a "
                "terminal; else indented JSON)",
        .tags = OPTBIT(OPT_TABLE)},
    [OPT_HELP] = {.name = "help",
        .type = FS_OPT_FLAG,
        .off = OFF(help),
        .help = "show help (of the command, after one) and exit",
        .tags = OPTBIT(OPT_HELP)},
    [OPT_APP] = {.name = "app",
        .type = FS_OPT_FLAG,
        .off = OFF(app),
        .help = "act on apps instead of flows",
        .tags = OPTBIT(OPT_APP)},
    [OPT_NAME] = {.name = "name",
        .type = FS_OPT_STR,
        .off = OFF(name),
        .arg = "X",
        .help = "only components named X (any case)",
        .tags = OPTBIT(OPT_NAME)},
    [OPT_GROUP] = {.name = "group",
        .type = FS_OPT_STR,
        .off = OFF(group),
        .arg = "G",
        .help = "list, watch: only group G (any case); create: the group "
                "(\"default\" when not given)",
        .tags = OPTBIT(OPT_GROUP)},
    [OPT_LIMIT] = {.name = "limit",
        .type = FS_OPT_INT,
        .off = OFF(limit),
        .min = 0,
        .max = FS_OPT_NO_MAX,
        .help = "at most N results",
        .tags = OPTBIT(OPT_LIMIT)},
    [OPT_OFFSET] = {.name = "offset",
        .type = FS_OPT_INT,
        .off = OFF(offset),
        .min = 0,
        .max = FS_OPT_NO_MAX,
        .help = "skip the first N results",
        .tags = OPTBIT(OPT_OFFSET)},
    [OPT_INPUT] = {.name = "input",
        .type = FS_OPT_STR,
        .off = OFF(input),
        .arg = "a,b",
        .help = "input fields, comma-separated (\"\" clears on update)",
        .tags = OPTBIT(OPT_INPUT)},
    [OPT_OUTPUT] = {.name = "output",
        .type = FS_OPT_STR,
        .off = OFF(output),
        .arg = "a,b",
        .help = "output fields, comma-separated (\"\" clears on update)",
        .tags = OPTBIT(OPT_OUTPUT)},
    [OPT_FLOWS] = {.name = "flows",
        .type = FS_OPT_STR,
        .off = OFF(flows),
        .arg = "id1,id2",
        .help = "ids of the flows used, comma-separated (\"\" clears on "
                "update)",
        .tags = OPTBIT(OPT_FLOWS)},
    [OPT_IF_VERSION] = {.name = "if-version",
        .type = FS_OPT_INT,
        .off = OFF(if_version),
        .min = 1,
        .max = FS_OPT_NO_MAX,
        .help = "only if the component is at version N, else ABORTED and "
                "nothing changes (REST's If-Match)",
        .tags = OPTBIT(OPT_IF_VERSION)},
    [OPT_SINCE] = {.name = "since",
        .type = FS_OPT_INT,
        .off = OFF(since),
        .min = 0,
        .max = FS_OPT_NO_MAX,
        .help = "the changes after revision N (e.g. a list's X-Revision); "
                "when not given, from now on",
        .tags = OPTBIT(OPT_SINCE)},
    [OPT_KIND] = {.name = "kind",
        .type = FS_OPT_STR,
        .off = OFF(kind),
        .arg = "flow|app",
        .help = "only flows, or only apps (when not given, both)",
        .tags = OPTBIT(OPT_KIND)},
    [OPT_WITH_REVISION] = {.name = "with-revision",
        .type = FS_OPT_FLAG,
        .off = OFF(with_revision),
        .help = "print {\"revision\": N, \"results\": [...]}: the list "
                "and the revision it is consistent at (for watch --since); "
                "a table gets a last line \"revision N\"",
        .tags = OPTBIT(OPT_WITH_REVISION)},
};

static const fs_opts_prog prog = {
    .name = "flowctl",
    .summary = "every flow-service RPC method from a shell, JSON or tables "
               "out",
    .usage = "[--backend URL] [--timeout MS] [--json|--table] COMMAND "
             "[ARGS]",
    .opts = opts,
    .nopts = OPT_COUNT,
    .builtin_tags = OPTBIT(OPT_HELP), /* --version with the globals */
    .max_args = 3, /* one more than any command takes: "too many" */
};

#define APP OPTBIT(OPT_APP)
#define LISTS (OPTBIT(OPT_INPUT) | OPTBIT(OPT_OUTPUT) | OPTBIT(OPT_FLOWS))
#define IFV OPTBIT(OPT_IF_VERSION)

/* Each command's method is its row in fs_methods.h: the reply message
 * flowctl decodes comes from there. */
static const cmd_def cmds[] = {
    {"get", "ID", APP, "show a flow (an app with --app)", cmd_get,
        FLOWSVC__METHOD__GET},
    {"list", NULL,
        APP | OPTBIT(OPT_NAME) | OPTBIT(OPT_GROUP) | OPTBIT(OPT_LIMIT) |
            OPTBIT(OPT_OFFSET) | OPTBIT(OPT_WITH_REVISION),
        "list flows (apps with --app) in creation order", cmd_list,
        FLOWSVC__METHOD__LIST},
    {"create", "NAME", APP | OPTBIT(OPT_GROUP) | LISTS,
        "create a flow (an app with --app)", cmd_create,
        FLOWSVC__METHOD__CREATE},
    {"update", "ID", APP | LISTS | IFV,
        "change a flow's lists; absent options keep their value", cmd_update,
        FLOWSVC__METHOD__UPDATE},
    {"delete", "ID", APP | IFV, "delete a flow (an app with --app)",
        cmd_delete, FLOWSVC__METHOD__DELETE},
    {"status", "ID", APP, "deployment status of a component (flow or app)",
        cmd_status, FLOWSVC__METHOD__GET_STATUS},
    {"deploy", "ID", APP | IFV, "deploy a component: it becomes started",
        cmd_status, FLOWSVC__METHOD__DEPLOY},
    {"start", "ID", APP | IFV, "start a deployed component", cmd_status,
        FLOWSVC__METHOD__START},
    {"stop", "ID", APP | IFV, "stop a deployed component", cmd_status,
        FLOWSVC__METHOD__STOP},
    {"snapshot", NULL, 0, "make the backend write a snapshot now",
        cmd_snapshot, FLOWSVC__METHOD__SNAPSHOT},
    {"health", NULL, 0, "backend health, counts, role, term, revision, lag",
        cmd_health, FLOWSVC__METHOD__HEALTH},
    {"promote", NULL, 0, "make a replica the primary, with the next term",
        cmd_promote, FLOWSVC__METHOD__PROMOTE},
    {"watch", NULL, OPTBIT(OPT_SINCE) | OPTBIT(OPT_KIND) | OPTBIT(OPT_GROUP),
        "print each change as a JSON line, until Ctrl-C", cmd_watch,
        FLOWSVC__METHOD__WATCH},
    {"help", "[COMMAND]", 0, "show help for a command", cmd_help,
        FLOWSVC__METHOD__METHOD_UNSPECIFIED},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static const cmd_def *
find_cmd(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

/* ---- help ----------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f, "%s - %s\n\nUsage: %s %s\n\n", prog.name, prog.summary,
	    prog.name, prog.usage);
	fprintf(f,
	    "Calls flow-service over its RPC and prints the result: a table "
	    "when stdout is\na terminal, else JSON in the shape the REST API "
	    "returns.\n\nCommands:\n");
	for (size_t i = 0; i < NCMDS; i++) {
		char left[40];
		snprintf(left, sizeof(left), "%s%s%s", cmds[i].name,
		    cmds[i].args ? " " : "", cmds[i].args ? cmds[i].args : "");
		fprintf(f, "  %-18s %s\n", left, cmds[i].summary);
	}
	fprintf(f, "\nGlobal options (before or after the command):\n");
	fs_opts_print(f, &prog, GLOBAL_OPTS);
	fprintf(f,
	    "\nRun 'flowctl help COMMAND' for the options of a command.\n\n"
	    "Exit status: 0 success, 1 the backend answered with an error, "
	    "2 usage error,\n3 backend unavailable or no answer in time, "
	    "4 (watch) the revision to watch\nfrom is no longer kept: list "
	    "again and watch from the list's revision.\n");
}

static void
cmd_usage(FILE *f, const cmd_def *c)
{
	fprintf(f, "Usage: flowctl [global options] %s%s%s%s\n\n%s.\n",
	    c->name, c->args ? " " : "", c->args ? c->args : "",
	    c->opts ? " [options]" : "", c->summary);
	if (c->opts) {
		fprintf(f, "\nOptions:\n");
		fs_opts_print(f, &prog, c->opts);
	}
}

int
flowctl_usage_error(const ctx *x, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "flowctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (x->cmd != NULL && x->cmd->run != cmd_help)
		fprintf(stderr, "\nTry 'flowctl help %s'.\n", x->cmd->name);
	else
		fprintf(stderr, "\nTry 'flowctl --help'.\n");
	return EXIT_USAGE;
}

int
cmd_help(ctx *x)
{
	const cmd_def *c;

	if (x->arg == NULL) {
		usage(stdout);
		return 0;
	}
	if ((c = find_cmd(x->arg)) == NULL)
		return flowctl_usage_error(x, "unknown command '%s'", x->arg);
	cmd_usage(stdout, c);
	return 0;
}

/* ---- main ----------------------------------------------------------------- */

/* $FLOWCTL_TIMEOUT, held to --timeout's range. Returns 0, or -1 after
 * saying what is wrong. */
static int
env_timeout(const char *v, long long *out)
{
	const fs_opt *o = &opts[OPT_TIMEOUT];
	char *end;
	long long t;

	errno = 0;
	t = strtoll(v, &end, 10);
	if (*v >= '0' && *v <= '9' && *end == '\0' && errno == 0 &&
	    (double) t >= o->min && (double) t <= o->max) {
		*out = t;
		return 0;
	}
	fprintf(stderr,
	    "flowctl: FLOWCTL_TIMEOUT: '%s' is not an integer in %.0f..%.0f "
	    "(milliseconds)\nTry 'flowctl --help'.\n",
	    v, o->min, o->max);
	return -1;
}

/* A TLS setting: the option when given, else the environment's. */
static const char *
tls_setting(const ctx *x, int opt, const char *given, const char *env)
{
	const char *v;

	if (GIVEN(x, opt))
		return given;
	v = getenv(env);
	return v != NULL && *v != '\0' ? v : NULL;
}

/* Opens x->client on x->backend: with TLS settings for a tls+tcp://
 * backend (--backend-cert/-key/-ca/-server-name, else $FLOWCTL_CERT,
 * $FLOWCTL_KEY, $FLOWCTL_CA, $FLOWCTL_SERVER_NAME); for another one the
 * variables are ignored and the options are a mistake. Returns 0 or an
 * exit status. */
static int
open_client(ctx *x)
{
	fs_client_tls tls = {0};

	if (!fs_client_url_is_tls(x->backend)) {
		for (int i = 0; i < OPT_COUNT; i++)
			if ((TLS_OPTS & OPTBIT(i)) && GIVEN(x, i))
				return flowctl_usage_error(x,
				    "--%s is for tls+tcp:// backends, not "
				    "'%s'",
				    opts[i].name, x->backend);
		if (fs_client_open(&x->client, x->backend) != 0)
			return flowctl_bad_backend(x->backend,
			    fs_client_last_error());
		return 0;
	}
	tls.cert = tls_setting(x, OPT_BACKEND_CERT, x->o.backend_cert,
	    "FLOWCTL_CERT");
	tls.key =
	    tls_setting(x, OPT_BACKEND_KEY, x->o.backend_key, "FLOWCTL_KEY");
	tls.ca = tls_setting(x, OPT_BACKEND_CA, x->o.backend_ca, "FLOWCTL_CA");
	tls.server_name = tls_setting(x, OPT_BACKEND_SERVER_NAME,
	    x->o.backend_server_name, "FLOWCTL_SERVER_NAME");
	x->tls = 1;
	if (fs_client_open_tls(&x->client, x->backend, &tls) != 0)
		return flowctl_bad_backend(x->backend, fs_client_last_error());
	return 0;
}

/* The options (fs_opts: anywhere on the line, "--" ends them), then the
 * command and its argument. Returns 0 to run x->cmd, -1 after printing
 * help (exit 0), or an exit status. */
static int
parse_args(ctx *x, int argc, char **argv)
{
	fs_opts_result res;
	int rv, n;

	if ((rv = fs_opts_parse(&prog, &x->o, argc, argv, &res)) != FS_OPTS_OK)
		return rv == FS_OPTS_EXIT ? -1 : EXIT_USAGE;
	x->given = res.given;
	n = res.nargs;
	if (n == 0) {
		if (x->o.help) {
			usage(stdout);
			return -1;
		}
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((x->cmd = find_cmd(res.args[0])) == NULL)
		return flowctl_usage_error(x, "unknown command '%s'",
		    res.args[0]);
	if (x->o.help) {
		cmd_usage(stdout, x->cmd);
		return -1;
	}
	for (int i = 0; i < OPT_COUNT; i++) {
		if (GIVEN(x, i) && !((GLOBAL_OPTS | x->cmd->opts) & OPTBIT(i)))
			return flowctl_usage_error(x,
			    "'%s' takes no option '--%s'", x->cmd->name,
			    opts[i].name);
	}
	if (n > 2 || (x->cmd->args == NULL && n != 1))
		return flowctl_usage_error(x, "too many arguments for '%s'",
		    x->cmd->name);
	if (x->cmd->args != NULL && x->cmd->args[0] != '[' && n != 2)
		return flowctl_usage_error(x, "'%s' needs %s", x->cmd->name,
		    x->cmd->args);
	x->arg = n == 2 ? res.args[1] : NULL;
	return 0;
}

/* How long flowctl waits for its client to close before it exits anyway
 * (fs_within.h: nng 1.5.2 was seen to wait forever in nng_close after a
 * tls+tcp:// backend refused the client's certificate). */
#define CLOSE_WAIT_MS 2000

/* Reachable from here while a close is left to the exit (so that
 * LeakSanitizer does not take what it holds for a leak). */
static fs_client *closing_client;

static void
close_it(void *c)
{
	fs_client_close(c);
}

int
main(int argc, char **argv)
{
	ctx x;
	const char *env;
	uint8_t rid[16];
	int rv;

	memset(&x, 0, sizeof(x));
	if ((rv = parse_args(&x, argc, argv)) != 0)
		return rv < 0 ? 0 : rv;
	x.json_out = x.o.json;
	if (x.o.json && x.o.table)
		return flowctl_usage_error(&x,
		    "--json and --table exclude each other");
	/* People get tables, programs get JSON. */
	x.table_out = x.o.table || (!x.o.json && isatty(STDOUT_FILENO));
	if (x.cmd->run == cmd_help)
		return cmd_help(&x);
	/* --backend, else $FLOWCTL_BACKEND, else the table's default. */
	x.backend = x.o.backend;
	if (!GIVEN(&x, OPT_BACKEND) &&
	    (env = getenv("FLOWCTL_BACKEND")) != NULL && *env != '\0')
		x.backend = env;
	if (*x.backend == '\0')
		x.backend = opts[OPT_BACKEND].def;
	/* --timeout, else $FLOWCTL_TIMEOUT, else the table's default. */
	if (!GIVEN(&x, OPT_TIMEOUT) &&
	    (env = getenv("FLOWCTL_TIMEOUT")) != NULL && *env != '\0' &&
	    env_timeout(env, &x.o.timeout_ms) != 0)
		return EXIT_USAGE;
	/* Before the client starts threads, which inherit the mask. */
	if (x.cmd->run == cmd_watch && flowctl_watch_signals() != 0) {
		fprintf(stderr, "flowctl: cannot block SIGINT/SIGTERM\n");
		return EXIT_RPC;
	}
	if ((rv = open_client(&x)) != 0)
		return rv;
	/* A request id ties this call to the backend's log line. */
	fs_uuid_new(rid);
	fs_uuid_format(rid, x.request_id);
	x.call.request_id = x.request_id;
	x.call.timeout_ms = (uint32_t) x.o.timeout_ms;
	rv = x.cmd->run(&x);
	closing_client = x.client;
	(void) fs_run_within(close_it, x.client, CLOSE_WAIT_MS);
	if (rv == EXIT_UNAVAILABLE && x.tls)
		fprintf(stderr,
		    "flowctl: (over TLS a backend that refuses this client's "
		    "certificate, or whose own fails the check against "
		    "--backend-ca and its name, looks unreachable)\n");
	return rv;
}
