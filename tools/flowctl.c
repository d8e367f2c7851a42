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
 * Exit status: 0 success, 1 the backend answered with an error, 2 usage
 * error, 3 backend unavailable or no answer within the timeout.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nng/nng.h>

#include "fs_errors.h"
#include "fs_rpc.h"
#include "fs_util.h"

#define FLOWCTL_DEFAULT_BACKEND "tcp://127.0.0.1:5555"
#define FLOWCTL_MAX_TIMEOUT_MS 3600000u

enum {
	EXIT_RPC = 1,
	EXIT_USAGE = 2,
	EXIT_UNAVAILABLE = 3,
};

/* ---- option and command tables ---------------------------------------- */

enum opt_id {
	OPT_BACKEND,
	OPT_TIMEOUT,
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
	OPT_COUNT
};

#define OPTBIT(o) (1u << (o))
#define GLOBAL_OPTS                                                          \
	(OPTBIT(OPT_BACKEND) | OPTBIT(OPT_TIMEOUT) | OPTBIT(OPT_JSON) |      \
	    OPTBIT(OPT_TABLE) | OPTBIT(OPT_HELP))

typedef struct opt_def {
	const char *name;
	const char *arg; /* NULL: a flag without a value */
	const char *help;
} opt_def;

static const opt_def opt_defs[OPT_COUNT] = {
    [OPT_BACKEND] = {"backend", "URL",
        "backend address (default: $FLOWCTL_BACKEND, else "
        FLOWCTL_DEFAULT_BACKEND ")"},
    [OPT_TIMEOUT] = {"timeout", "MS",
        "give up after MS milliseconds (default 5000)"},
    [OPT_JSON] = {"json", NULL,
        "compact JSON output; errors also as a JSON body on stdout"},
    [OPT_TABLE] = {"table", NULL,
        "human-readable tables (the default when stdout is a terminal; "
        "else indented JSON)"},
    [OPT_HELP] = {"help", NULL, "show help and exit"},
    [OPT_APP] = {"app", NULL, "act on apps instead of flows"},
    [OPT_NAME] = {"name", "X", "only components named X (any case)"},
    [OPT_GROUP] = {"group", "G",
        "list: only group G (any case); create: the group (default "
        "\"default\")"},
    [OPT_LIMIT] = {"limit", "N", "at most N results"},
    [OPT_OFFSET] = {"offset", "N", "skip the first N results"},
    [OPT_INPUT] = {"input", "a,b",
        "input fields, comma-separated (\"\" clears on update)"},
    [OPT_OUTPUT] = {"output", "a,b",
        "output fields, comma-separated (\"\" clears on update)"},
    [OPT_FLOWS] = {"flows", "id1,id2",
        "ids of the flows used, comma-separated (\"\" clears on update)"},
};

typedef struct ctx ctx;
typedef int (*cmd_fn)(ctx *);

typedef struct cmd_def {
	const char *name;
	const char *args; /* positional arguments, for help; NULL: none */
	unsigned opts;    /* OPTBIT()s the command accepts */
	const char *summary;
	cmd_fn run;
	Flowsvc__Method method; /* for commands that share a runner */
} cmd_def;

struct ctx {
	const cmd_def *cmd;
	const char *arg; /* the one positional argument, if any */
	const char *val[OPT_COUNT];
	int set[OPT_COUNT];
	fs_client *client;
	fs_call_opts call;
	char request_id[FS_UUID_STRLEN + 1];
	const char *backend;
	int json_out;
	int table_out;
};

static int cmd_get(ctx *);
static int cmd_list(ctx *);
static int cmd_create(ctx *);
static int cmd_update(ctx *);
static int cmd_delete(ctx *);
static int cmd_status(ctx *);
static int cmd_snapshot(ctx *);
static int cmd_health(ctx *);
static int cmd_help(ctx *);

#define APP OPTBIT(OPT_APP)
#define LISTS (OPTBIT(OPT_INPUT) | OPTBIT(OPT_OUTPUT) | OPTBIT(OPT_FLOWS))

static const cmd_def cmds[] = {
    {"get", "ID", APP, "show a flow (an app with --app)", cmd_get,
        FLOWSVC__METHOD__GET},
    {"list", NULL,
        APP | OPTBIT(OPT_NAME) | OPTBIT(OPT_GROUP) | OPTBIT(OPT_LIMIT) |
            OPTBIT(OPT_OFFSET),
        "list flows (apps with --app) in creation order", cmd_list,
        FLOWSVC__METHOD__LIST},
    {"create", "NAME", APP | OPTBIT(OPT_GROUP) | LISTS,
        "create a flow (an app with --app)", cmd_create,
        FLOWSVC__METHOD__CREATE},
    {"update", "ID", APP | LISTS,
        "change the lists of a flow; absent options keep their value",
        cmd_update, FLOWSVC__METHOD__UPDATE},
    {"delete", "ID", APP, "delete a flow (an app with --app)", cmd_delete,
        FLOWSVC__METHOD__DELETE},
    {"status", "ID", APP,
        "deployment status of a component (flow or app)", cmd_status,
        FLOWSVC__METHOD__GET_STATUS},
    {"deploy", "ID", APP, "deploy a component: it becomes started",
        cmd_status, FLOWSVC__METHOD__DEPLOY},
    {"start", "ID", APP, "start a deployed component", cmd_status,
        FLOWSVC__METHOD__START},
    {"stop", "ID", APP, "stop a deployed component", cmd_status,
        FLOWSVC__METHOD__STOP},
    {"snapshot", NULL, 0, "make the backend write a snapshot now",
        cmd_snapshot, FLOWSVC__METHOD__SNAPSHOT},
    {"health", NULL, 0, "backend health and counts", cmd_health,
        FLOWSVC__METHOD__HEALTH},
    {"help", "[COMMAND]", 0, "show help for a command", cmd_help,
        FLOWSVC__METHOD__METHOD_UNSPECIFIED},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static const cmd_def *
find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < NCMDS; i++) {
		if (strcmp(cmds[i].name, name) == 0) {
			return &cmds[i];
		}
	}
	return NULL;
}

static void
print_opts(FILE *f, unsigned mask)
{
	int o;

	for (o = 0; o < OPT_COUNT; o++) {
		char left[40];
		if (!(mask & OPTBIT(o))) {
			continue;
		}
		snprintf(left, sizeof(left), "--%s%s%s", opt_defs[o].name,
		    opt_defs[o].arg ? " " : "",
		    opt_defs[o].arg ? opt_defs[o].arg : "");
		fprintf(f, "  %-18s %s\n", left, opt_defs[o].help);
	}
}

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	    "Usage: flowctl [--backend URL] [--timeout MS] [--json|--table] "
	    "COMMAND [ARGS]\n\n"
	    "Calls flow-service over its RPC and prints the result: a table "
	    "when stdout is\na terminal, else JSON in the shape the REST API "
	    "returns.\n\nCommands:\n");
	for (i = 0; i < NCMDS; i++) {
		char left[40];
		snprintf(left, sizeof(left), "%s%s%s", cmds[i].name,
		    cmds[i].args ? " " : "", cmds[i].args ? cmds[i].args : "");
		fprintf(f, "  %-18s %s\n", left, cmds[i].summary);
	}
	fprintf(f, "\nGlobal options:\n");
	print_opts(f, GLOBAL_OPTS);
	fprintf(f,
	    "\nRun 'flowctl help COMMAND' for the options of a command.\n\n"
	    "Exit status: 0 success, 1 the backend answered with an error, "
	    "2 usage error,\n3 backend unavailable or no answer in time.\n");
}

static void
cmd_usage(FILE *f, const cmd_def *c)
{
	fprintf(f, "Usage: flowctl [global options] %s%s%s%s\n\n%s.\n",
	    c->name, c->args ? " " : "", c->args ? c->args : "",
	    c->opts ? " [options]" : "", c->summary);
	if (c->opts) {
		fprintf(f, "\nOptions:\n");
		print_opts(f, c->opts);
	}
}

static int
usage_error(const ctx *x, const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "flowctl: ");
	fprintf(stderr, fmt, a, b);
	if (x->cmd != NULL && x->cmd->run != cmd_help) {
		fprintf(stderr, "\nTry 'flowctl help %s'.\n", x->cmd->name);
	} else {
		fprintf(stderr, "\nTry 'flowctl --help'.\n");
	}
	return EXIT_USAGE;
}

/* ---- argument helpers ---------------------------------------------------- */

/* A non-negative decimal integer that fits in uint64_t, nothing else. */
static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9') {
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0') {
		return -1;
	}
	*out = v;
	return 0;
}

/* Splits "a,b" into a StringList; "" is the empty list. Items point into
 * the returned copy: free with strlist_free. */
typedef struct strlist {
	Flowsvc__StringList msg;
	char *copy;
} strlist;

static int
strlist_init(strlist *l, const char *s)
{
	size_t n = 1, i = 0;
	char *p, *save = NULL;

	flowsvc__string_list__init(&l->msg);
	l->copy = NULL;
	if (*s == '\0') {
		return 0;
	}
	for (p = (char *) s; *p; p++) {
		n += *p == ',';
	}
	if ((l->copy = strdup(s)) == NULL ||
	    (l->msg.items = calloc(n, sizeof(char *))) == NULL) {
		free(l->copy);
		l->copy = NULL;
		return -1;
	}
	/* strsep keeps empty items ("a,,b"), which the backend rejects
	 * with a message; dropping them here would hide the typo. */
	save = l->copy;
	while ((p = strsep(&save, ",")) != NULL && i < n) {
		l->msg.items[i++] = p;
	}
	l->msg.n_items = i;
	return 0;
}

static void
strlist_free(strlist *l)
{
	free(l->msg.items);
	free(l->copy);
	l->msg.items = NULL;
	l->copy = NULL;
}

static Flowsvc__Kind
kind_or(const ctx *x, Flowsvc__Kind dflt)
{
	return x->set[OPT_APP] ? FLOWSVC__KIND__APP : dflt;
}

/* ---- output ------------------------------------------------------------ */

static int
set_str(json_t *o, const char *key, const char *v)
{
	return json_object_set_new(o, key, json_string(v ? v : ""));
}

static json_t *
strv_json(char **v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++) {
		if (json_array_append_new(a, json_string(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int
set_time(json_t *o, const char *key, int64_t us)
{
	char ts[FS_TIME_STRLEN + 1];

	fs_time_format(us, ts);
	return set_str(o, key, ts);
}

/* The REST representation, keys in the documented order. */
static json_t *
component_json(const Flowsvc__Component *c)
{
	json_t *o = json_object();
	int bad;

	if (o == NULL) {
		return NULL;
	}
	bad = set_str(o, "id", c->id) | set_str(o, "name", c->name) |
	    set_str(o, "group", c->group) |
	    json_object_set_new(o, "input_fields",
	        strv_json(c->input_fields, c->n_input_fields)) |
	    json_object_set_new(o, "output_fields",
	        strv_json(c->output_fields, c->n_output_fields)) |
	    set_str(o, "canvas_id", c->canvas_id) |
	    json_object_set_new(
	        o, "flows", strv_json(c->flows, c->n_flows)) |
	    json_object_set_new(
	        o, "version", json_integer((json_int_t) c->version)) |
	    set_time(o, "created_at", c->created_at_us) |
	    set_time(o, "updated_at", c->updated_at_us);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static const char *
status_name(Flowsvc__Status s)
{
	switch (s) {
	case FLOWSVC__STATUS__NOT_DEPLOYED:
		return "not-deployed";
	case FLOWSVC__STATUS__STARTED:
		return "started";
	case FLOWSVC__STATUS__STOPPED:
		return "stopped";
	default:
		return "unknown";
	}
}

/* ---- tables ------------------------------------------------------------ */

/* A JSON value as table text: strings bare, lists joined with ",", "-"
 * for an empty list. Caller frees. */
static char *
cell_text(const json_t *v)
{
	char *s = NULL;

	if (json_is_string(v)) {
		s = strdup(json_string_value(v));
	} else if (json_is_array(v)) {
		size_t i, len = 1;
		const json_t *it;
		json_array_foreach(v, i, it) {
			len += (json_is_string(it) ? json_string_length(it) : 0) + 1;
		}
		if ((s = malloc(len + 1)) != NULL) {
			s[0] = '\0';
			json_array_foreach(v, i, it) {
				if (i > 0)
					strcat(s, ",");
				if (json_is_string(it))
					strcat(s, json_string_value(it));
			}
			if (json_array_size(v) == 0)
				strcpy(s, "-");
		}
	} else if (v != NULL) {
		s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	} else {
		s = strdup("");
	}
	return s;
}

/* An object as "key  value" lines, keys padded to one width. */
static int
table_object(const json_t *o)
{
	const char *key;
	const json_t *v;
	int w = 0;

	json_object_foreach((json_t *) o, key, v) {
		if ((int) strlen(key) > w)
			w = (int) strlen(key);
	}
	json_object_foreach((json_t *) o, key, v) {
		char *t = cell_text(v);
		if (t == NULL)
			return -1;
		if (printf("%-*s  %s\n", w, key, t) < 0) {
			free(t);
			return -1;
		}
		free(t);
	}
	return 0;
}

/* A list of components as one row each, under a header. */
static int
table_list(const json_t *a)
{
	static const char *const cols[] = {"id", "name", "group", "version",
	    "input_fields", "output_fields", "flows", "updated_at"};
	static const char *const heads[] = {"ID", "NAME", "GROUP", "VERSION",
	    "INPUT", "OUTPUT", "FLOWS", "UPDATED"};
	enum { NC = sizeof(cols) / sizeof(cols[0]) };
	size_t n = json_array_size(a), i, c;
	char **cells = calloc(n * NC + 1, sizeof(char *));
	int w[NC], rv = 0;

	if (cells == NULL)
		return -1;
	for (c = 0; c < NC; c++)
		w[c] = (int) strlen(heads[c]);
	for (i = 0; i < n && rv == 0; i++) {
		const json_t *row = json_array_get(a, i);
		for (c = 0; c < NC && rv == 0; c++) {
			const json_t *v = json_object_get(row, cols[c]);
			char *t;
			/* A row shows how many flows are used; get shows them. */
			if (strcmp(cols[c], "flows") == 0 && json_is_array(v)) {
				char buf[32];
				snprintf(buf, sizeof(buf), "%zu", json_array_size(v));
				t = strdup(buf);
			} else {
				t = cell_text(v);
			}
			if ((cells[i * NC + c] = t) == NULL)
				rv = -1;
			else if ((int) strlen(t) > w[c])
				w[c] = (int) strlen(t);
		}
	}
	for (i = 0; i <= n && rv == 0; i++) {
		for (c = 0; c < NC && rv == 0; c++) {
			const char *t = i == 0 ? heads[c] : cells[(i - 1) * NC + c];
			if (printf(c + 1 < NC ? "%-*s  " : "%-*s\n",
			        c + 1 < NC ? w[c] : 0, t) < 0)
				rv = -1;
		}
	}
	if (rv == 0 && n == 0 && printf("(none)\n") < 0)
		rv = -1;
	for (i = 0; i < n * NC; i++)
		free(cells[i]);
	free(cells);
	return rv;
}

/* Prints v on stdout and drops the reference. NULL means building it
 * failed (memory, or a string from the backend that is not UTF-8). */
static int
emit(const ctx *x, json_t *v)
{
	size_t flags = JSON_ENCODE_ANY |
	    (x->json_out ? JSON_COMPACT : JSON_INDENT(2));
	int rv;

	if (v == NULL) {
		fprintf(stderr, "flowctl: INTERNAL: cannot represent the "
		                "reply as JSON\n");
		return EXIT_RPC;
	}
	if (x->table_out) {
		rv = json_is_array(v) ? table_list(v) : table_object(v);
	} else {
		rv = json_dumpf(v, stdout, flags);
	}
	json_decref(v);
	if (rv != 0 || (!x->table_out && fputc('\n', stdout) == EOF) ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "flowctl: cannot write output: %s\n",
		    strerror(errno));
		return EXIT_RPC;
	}
	return 0;
}

/* ---- calls --------------------------------------------------------------- */

static int
report_error(const ctx *x, int code, const Flowsvc__Reply *reply)
{
	const char *msg = reply != NULL && reply->message != NULL &&
	        reply->message[0] != '\0'
	    ? reply->message
	    : fs_strerror(code);
	size_t i, j;

	if (reply == NULL && (code == FS_UNAVAILABLE ||
	                         code == FS_DEADLINE_EXCEEDED)) {
		/* Nobody answered: say whom we asked, the usual mistake. */
		fprintf(stderr, "flowctl: %s: %s (no answer from %s within %u "
		                "ms)\n",
		    fs_code_name(code), msg, x->backend, x->call.timeout_ms);
	} else {
		fprintf(stderr, "flowctl: %s: %s\n", fs_code_name(code), msg);
	}
	if (reply != NULL) {
		for (i = 0; i < reply->n_violations; i++) {
			const Flowsvc__FieldViolation *v = reply->violations[i];
			for (j = 0; j < v->n_messages; j++) {
				fprintf(stderr, "  %s: %s\n", v->field,
				    v->messages[j]);
			}
		}
	}
	if (x->json_out) {
		json_t *body = json_object();
		if (reply != NULL && reply->n_violations > 0) {
			for (i = 0; body && i < reply->n_violations; i++) {
				const Flowsvc__FieldViolation *v =
				    reply->violations[i];
				json_object_set_new(body, v->field,
				    strv_json(v->messages, v->n_messages));
			}
		} else if (body != NULL) {
			set_str(body, "detail", msg);
		}
		if (body != NULL) {
			json_dumpf(body, stdout, JSON_COMPACT);
			fputc('\n', stdout);
			json_decref(body);
		}
	}
	return code == FS_UNAVAILABLE || code == FS_DEADLINE_EXCEEDED
	    ? EXIT_UNAVAILABLE
	    : EXIT_RPC;
}

/* Waits for one asynchronous call. */
typedef struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int code;
	Flowsvc__Reply *reply;
} waiter;

static void
waiter_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	w->code = code;
	w->reply = reply;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* fs_client_call, except that a call the client could not even start
 * because no backend is connected yet is tried again until the timeout:
 * nothing was sent, so trying again cannot run anything twice, and a
 * script can use "flowctl health" to wait for a backend that is starting.
 * Returns the code; *reply_out as for fs_client_call. */
static int
call_until_timeout(ctx *x, Flowsvc__Method method,
    const ProtobufCMessage *req, Flowsvc__Reply **reply_out)
{
	int64_t deadline = mono_ms() + x->call.timeout_ms;
	waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0,
	    NULL};
	int rv;

	*reply_out = NULL;
	for (;;) {
		int64_t left = deadline - mono_ms();
		fs_call_opts o = x->call;

		o.timeout_ms = left > 0 ? (uint32_t) left : 1;
		rv = fs_client_call_async(
		    x->client, method, req, &o, waiter_cb, &w);
		if (rv == 0) {
			break;
		}
		if (rv != FS_UNAVAILABLE || left <= 0) {
			return rv;
		}
		{
			struct timespec pause = {0, 20 * 1000000L};
			nanosleep(&pause, NULL);
		}
	}
	pthread_mutex_lock(&w.mu);
	while (!w.done) {
		pthread_cond_wait(&w.cv, &w.mu);
	}
	pthread_mutex_unlock(&w.mu);
	*reply_out = w.reply;
	return w.code;
}

/* Calls method and unpacks the reply payload with desc (NULL: none
 * expected). Returns 0 and sets *out (caller frees with
 * protobuf_c_message_free_unpacked), or an exit status after reporting. */
static int
call(ctx *x, Flowsvc__Method method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
	Flowsvc__Reply *reply = NULL;
	int code, rv = 0;

	code = call_until_timeout(x, method, req, &reply);
	if (code != FS_OK) {
		rv = report_error(x, code, reply);
	} else if (desc != NULL &&
	    (*out = fs_reply_payload(reply, desc)) == NULL) {
		fprintf(stderr, "flowctl: INTERNAL: undecodable reply "
		                "payload\n");
		rv = EXIT_RPC;
	}
	if (reply != NULL) {
		flowsvc__reply__free_unpacked(reply, NULL);
	}
	return rv;
}

static int
emit_component_reply(ctx *x, ProtobufCMessage *m)
{
	Flowsvc__ComponentReply *r = (Flowsvc__ComponentReply *) m;
	int rv = r->component == NULL
	    ? emit(x, NULL)
	    : emit(x, component_json(r->component));

	protobuf_c_message_free_unpacked(m, NULL);
	return rv;
}

static int
cmd_get(ctx *x)
{
	Flowsvc__GetRequest req = FLOWSVC__GET_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int rv;

	req.id = (char *) x->arg;
	req.has_kind = 1;
	req.kind = kind_or(x, FLOWSVC__KIND__FLOW);
	if ((rv = call(x, FLOWSVC__METHOD__GET, &req.base,
	         &flowsvc__component_reply__descriptor, &m)) != 0) {
		return rv;
	}
	return emit_component_reply(x, m);
}

static int
cmd_list(ctx *x)
{
	Flowsvc__ListRequest req = FLOWSVC__LIST_REQUEST__INIT;
	Flowsvc__ListReply *r;
	ProtobufCMessage *m = NULL;
	json_t *a;
	size_t i;
	int rv;

	req.has_kind = 1;
	req.kind = kind_or(x, FLOWSVC__KIND__FLOW);
	req.name_iexact = (char *) x->val[OPT_NAME];
	req.group_iexact = (char *) x->val[OPT_GROUP];
	if (x->set[OPT_LIMIT]) {
		if (parse_u64(x->val[OPT_LIMIT], &req.limit) != 0) {
			return usage_error(x,
			    "--limit needs a non-negative integer, not "
			    "'%s'%s",
			    x->val[OPT_LIMIT], "");
		}
		req.has_limit = 1;
	}
	if (x->set[OPT_OFFSET]) {
		if (parse_u64(x->val[OPT_OFFSET], &req.offset) != 0) {
			return usage_error(x,
			    "--offset needs a non-negative integer, not "
			    "'%s'%s",
			    x->val[OPT_OFFSET], "");
		}
		req.has_offset = 1;
	}
	if ((rv = call(x, FLOWSVC__METHOD__LIST, &req.base,
	         &flowsvc__list_reply__descriptor, &m)) != 0) {
		return rv;
	}
	r = (Flowsvc__ListReply *) m;
	a = json_array();
	for (i = 0; a != NULL && i < r->n_components; i++) {
		if (json_array_append_new(a,
		        component_json(r->components[i])) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return emit(x, a);
}

/* Fills the three optional lists of a create or update from the options:
 * an absent option leaves the list absent (keep), "" sends an empty one. */
typedef struct lists {
	strlist in, out, flows;
} lists;

static int
lists_init(ctx *x, lists *l, Flowsvc__StringList **in,
    Flowsvc__StringList **out, Flowsvc__StringList **flows)
{
	memset(l, 0, sizeof(*l));
	if ((x->set[OPT_INPUT] &&
	        strlist_init(&l->in, x->val[OPT_INPUT]) != 0) ||
	    (x->set[OPT_OUTPUT] &&
	        strlist_init(&l->out, x->val[OPT_OUTPUT]) != 0) ||
	    (x->set[OPT_FLOWS] &&
	        strlist_init(&l->flows, x->val[OPT_FLOWS]) != 0)) {
		strlist_free(&l->in);
		strlist_free(&l->out);
		strlist_free(&l->flows);
		fprintf(stderr, "flowctl: out of memory\n");
		return EXIT_RPC;
	}
	*in = x->set[OPT_INPUT] ? &l->in.msg : NULL;
	*out = x->set[OPT_OUTPUT] ? &l->out.msg : NULL;
	*flows = x->set[OPT_FLOWS] ? &l->flows.msg : NULL;
	return 0;
}

static void
lists_free(lists *l)
{
	strlist_free(&l->in);
	strlist_free(&l->out);
	strlist_free(&l->flows);
}

static int
cmd_create(ctx *x)
{
	Flowsvc__CreateRequest req = FLOWSVC__CREATE_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	lists l;
	int rv;

	req.kind = kind_or(x, FLOWSVC__KIND__FLOW);
	req.name = (char *) x->arg;
	req.group = (char *) x->val[OPT_GROUP];
	if ((rv = lists_init(x, &l, &req.input_fields, &req.output_fields,
	         &req.flows)) != 0) {
		return rv;
	}
	rv = call(x, FLOWSVC__METHOD__CREATE, &req.base,
	    &flowsvc__component_reply__descriptor, &m);
	lists_free(&l);
	return rv != 0 ? rv : emit_component_reply(x, m);
}

static int
cmd_update(ctx *x)
{
	Flowsvc__UpdateRequest req = FLOWSVC__UPDATE_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	lists l;
	int rv;

	req.id = (char *) x->arg;
	req.has_kind = 1;
	req.kind = kind_or(x, FLOWSVC__KIND__FLOW);
	if ((rv = lists_init(x, &l, &req.input_fields, &req.output_fields,
	         &req.flows)) != 0) {
		return rv;
	}
	rv = call(x, FLOWSVC__METHOD__UPDATE, &req.base,
	    &flowsvc__component_reply__descriptor, &m);
	lists_free(&l);
	return rv != 0 ? rv : emit_component_reply(x, m);
}

static int
cmd_delete(ctx *x)
{
	Flowsvc__IdRequest req = FLOWSVC__ID_REQUEST__INIT;

	req.id = (char *) x->arg;
	req.has_kind = 1;
	req.kind = kind_or(x, FLOWSVC__KIND__FLOW);
	/* Like REST's 204: success prints nothing. */
	return call(x, FLOWSVC__METHOD__DELETE, &req.base, NULL, NULL);
}

/* status, deploy, start and stop: any component id unless --app narrows
 * it, as on the REST lifecycle endpoints. */
static int
cmd_status(ctx *x)
{
	Flowsvc__IdRequest req = FLOWSVC__ID_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	json_t *o;
	int rv;

	req.id = (char *) x->arg;
	req.has_kind = 1;
	req.kind = kind_or(x, FLOWSVC__KIND__KIND_ANY);
	if ((rv = call(x, x->cmd->method, &req.base,
	         &flowsvc__status_reply__descriptor,
	         &m)) != 0) {
		return rv;
	}
	o = json_object();
	if (o != NULL && set_str(o, "status",
	                     status_name(((Flowsvc__StatusReply *) m)->status)) !=
	        0) {
		json_decref(o);
		o = NULL;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return emit(x, o);
}

static int
cmd_snapshot(ctx *x)
{
	Flowsvc__Empty req = FLOWSVC__EMPTY__INIT;
	json_t *o;
	int rv;

	if ((rv = call(x, FLOWSVC__METHOD__SNAPSHOT, &req.base, NULL,
	         NULL)) != 0) {
		return rv;
	}
	o = json_pack("{s:s}", "status", "ok");
	return emit(x, o);
}

static int
cmd_health(ctx *x)
{
	Flowsvc__Empty req = FLOWSVC__EMPTY__INIT;
	Flowsvc__HealthReply *h;
	ProtobufCMessage *m = NULL;
	json_t *o;
	int rv, bad = 0;

	if ((rv = call(x, FLOWSVC__METHOD__HEALTH, &req.base,
	         &flowsvc__health_reply__descriptor, &m)) != 0) {
		return rv;
	}
	h = (Flowsvc__HealthReply *) m;
	if ((o = json_object()) != NULL) {
		bad |= set_str(o, "status", h->status);
		if (h->has_flows) {
			bad |= json_object_set_new(
			    o, "flows", json_integer((json_int_t) h->flows));
		}
		if (h->has_apps) {
			bad |= json_object_set_new(
			    o, "apps", json_integer((json_int_t) h->apps));
		}
		if (h->has_uptime_s) {
			bad |= json_object_set_new(o, "uptime_s",
			    json_integer((json_int_t) h->uptime_s));
		}
		if (h->has_writable) {
			bad |= json_object_set_new(
			    o, "writable", json_boolean(h->writable));
		}
		if (h->write_error != NULL)
			bad |= set_str(o, "write_error", h->write_error);
		if (bad) {
			json_decref(o);
			o = NULL;
		}
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return emit(x, o);
}

static int
cmd_help(ctx *x)
{
	const cmd_def *c;

	if (x->arg == NULL) {
		usage(stdout);
		return 0;
	}
	if ((c = find_cmd(x->arg)) == NULL) {
		return usage_error(x, "unknown command '%s'%s", x->arg, "");
	}
	cmd_usage(stdout, c);
	return 0;
}

/* ---- main ---------------------------------------------------------------- */

static int
find_opt(const char *name, size_t len)
{
	int o;

	for (o = 0; o < OPT_COUNT; o++) {
		if (strlen(opt_defs[o].name) == len &&
		    strncmp(opt_defs[o].name, name, len) == 0) {
			return o;
		}
	}
	return -1;
}

/* Options may come before or after the command and its argument;
 * "--opt=value" and "--opt value" are both accepted; "--" ends options. */
static int
parse_args(ctx *x, int argc, char **argv)
{
	const char *pos[3];
	int npos = 0, i, no_more_opts = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *eq;
		int o;

		if (!no_more_opts && strcmp(a, "--") == 0) {
			no_more_opts = 1;
			continue;
		}
		if (no_more_opts || a[0] != '-' || a[1] == '\0') {
			if (npos == 3) {
				return usage_error(x,
				    "unexpected argument '%s'%s", a, "");
			}
			pos[npos++] = a;
			continue;
		}
		if (strcmp(a, "-h") == 0) {
			x->set[OPT_HELP] = 1;
			continue;
		}
		if (a[1] != '-') {
			return usage_error(x, "unknown option '%s'%s", a, "");
		}
		a += 2;
		eq = strchr(a, '=');
		o = find_opt(a, eq ? (size_t) (eq - a) : strlen(a));
		if (o < 0) {
			return usage_error(
			    x, "unknown option '%s'%s", argv[i], "");
		}
		if (opt_defs[o].arg == NULL) {
			if (eq != NULL) {
				return usage_error(x,
				    "option '--%s' takes no value%s",
				    opt_defs[o].name, "");
			}
		} else if (eq != NULL) {
			x->val[o] = eq + 1;
		} else if (i + 1 < argc) {
			x->val[o] = argv[++i];
		} else {
			return usage_error(x, "option '--%s' needs a value%s",
			    opt_defs[o].name, "");
		}
		x->set[o] = 1;
	}
	if (npos == 0) {
		if (x->set[OPT_HELP]) {
			usage(stdout);
			return -1;
		}
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((x->cmd = find_cmd(pos[0])) == NULL) {
		return usage_error(x, "unknown command '%s'%s", pos[0], "");
	}
	if (x->set[OPT_HELP]) {
		cmd_usage(stdout, x->cmd);
		return -1;
	}
	for (i = 0; i < OPT_COUNT; i++) {
		if (x->set[i] && !((GLOBAL_OPTS | x->cmd->opts) & OPTBIT(i))) {
			return usage_error(x, "'%s' takes no option '--%s'",
			    x->cmd->name, opt_defs[i].name);
		}
	}
	if (x->cmd->args == NULL ? npos != 1
	                         : (npos > 2 ||
	                               (npos == 1 && x->cmd->args[0] != '['))) {
		return usage_error(x, npos > 2 || x->cmd->args == NULL
		        ? "too many arguments for '%s'%s"
		        : "'%s' needs %s",
		    x->cmd->name, x->cmd->args ? x->cmd->args : "");
	}
	x->arg = npos == 2 ? pos[1] : NULL;
	return 0;
}

int
main(int argc, char **argv)
{
	ctx x;
	const char *backend;
	uint64_t timeout = FS_RPC_DEFAULT_TIMEOUT_MS;
	uint8_t rid[16];
	int rv;

	memset(&x, 0, sizeof(x));
	if ((rv = parse_args(&x, argc, argv)) != 0) {
		return rv < 0 ? 0 : rv;
	}
	x.json_out = x.set[OPT_JSON];
	if (x.set[OPT_JSON] && x.set[OPT_TABLE]) {
		return usage_error(&x, "--json and --table exclude each other%s%s",
		    "", "");
	}
	/* People get tables, programs get JSON. */
	x.table_out = x.set[OPT_TABLE] ||
	    (!x.set[OPT_JSON] && isatty(STDOUT_FILENO));
	if (x.cmd->run == cmd_help) {
		return cmd_help(&x);
	}
	if (x.set[OPT_TIMEOUT] &&
	    (parse_u64(x.val[OPT_TIMEOUT], &timeout) != 0 || timeout == 0 ||
	        timeout > FLOWCTL_MAX_TIMEOUT_MS)) {
		return usage_error(&x,
		    "--timeout needs milliseconds between 1 and 3600000, not "
		    "'%s'%s",
		    x.val[OPT_TIMEOUT], "");
	}
	backend = x.val[OPT_BACKEND];
	if (backend == NULL) {
		backend = getenv("FLOWCTL_BACKEND");
	}
	if (backend == NULL || *backend == '\0') {
		backend = FLOWCTL_DEFAULT_BACKEND;
	}
	x.backend = backend;
	if ((rv = fs_client_open(&x.client, backend)) != 0) {
		fprintf(stderr, "flowctl: cannot use backend '%s': %s\n",
		    backend, fs_client_last_error());
		return EXIT_USAGE;
	}
	/* A request id ties this call to the backend's log line. */
	fs_uuid_new(rid);
	fs_uuid_format(rid, x.request_id);
	x.call.request_id = x.request_id;
	x.call.timeout_ms = (uint32_t) timeout;
	rv = x.cmd->run(&x);
	fs_client_close(x.client);
	return rv;
}
