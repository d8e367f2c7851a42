/*
 * flowctl_watch.c - "flowctl watch": the store's changes as they happen,
 * one JSON line per event (CONTRACT §7), through the client's watch loop
 * (fs_watch_start, proto/fs_rpc.h).
 *
 * Each line is {"type", "revision", "component", "status"}: the type
 * (added, modified, deleted, status), the revision the change took, the
 * component as flowctl prints it elsewhere (the REST shape; for deleted:
 * as it was) and its status after the change. Lines are compact JSON
 * whatever stdout is, flushed one by one, so that a pipe sees each change
 * as it comes.
 *
 * The loop resumes by itself: when the backend goes away (a restart, a
 * kill, a lost connection) it tries again, backing off to 2 s, from the
 * last revision it printed, so no change is missed or printed twice. A
 * line on stderr says when it lost the backend and when it is back.
 *
 * It ends on SIGINT or SIGTERM (exit 0, after the line being written),
 * on OUT_OF_RANGE (the history no longer reaches where it is: exit 4,
 * the backend's words on stderr), or on an error trying again cannot fix
 * (exit 1). The signals are blocked in every thread before the client
 * starts its own (flowctl_watch_signals) and taken by the main thread with
 * sigtimedwait, so a handler never runs inside nng or stdio.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowctl.h"
#include "fs_errors.h"
#include "fs_methods.h"

/* How often the main thread looks whether the loop ended by itself. */
#define WATCH_POLL_MS 100

typedef struct watch_state {
	const ctx *x;
	pthread_mutex_t mu;
	int ended;             /* done was called (mu) */
	int code;              /* what it ended with */
	Flowsvc__Reply *reply; /* done's reply, copied (for OUT_OF_RANGE) */
	int write_failed;      /* stdout refused a line */
	int lost;              /* in an outage: said so, not yet back */
	uint64_t printed;      /* the last revision printed, 0: none */
	int has_pos;           /* where the loop resumes from: */
	uint64_t pos;          /* every change up to it printed */
} watch_state;

/* The event as one JSON object, NULL when out of memory. */
static json_t *
event_json(const Flowsvc__WatchEvent *ev)
{
	json_t *o = json_object(), *c;

	if (o == NULL)
		return NULL;
	if (ev->component == NULL ||
	    (c = component_json(ev->component)) == NULL ||
	    (set_str(o, "type", fs_event_type_name((int) ev->type)) |
	        json_object_set_new(o, "revision",
	            json_integer((json_int_t) ev->revision)) |
	        json_object_set_new(o, "component", c) |
	        set_str(o, "status", fs_status_name((int) ev->status))) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int
on_event(void *arg, const Flowsvc__WatchEvent *ev)
{
	watch_state *s = arg;
	json_t *o = event_json(ev);
	int bad;

	if (o == NULL) {
		fprintf(stderr,
		    "flowctl: INTERNAL: cannot represent the event of "
		    "revision "
		    "%" PRIu64 " as JSON\n",
		    ev->revision);
		s->write_failed = 1;
		return 1;
	}
	bad = json_dumpf(o, stdout, JSON_COMPACT) != 0 ||
	    fputc('\n', stdout) == EOF || fflush(stdout) != 0;
	json_decref(o);
	if (bad) {
		fprintf(stderr, "flowctl: cannot write output: %s\n",
		    strerror(errno));
		s->write_failed = 1;
		return 1;
	}
	s->printed = s->pos = ev->revision;
	s->has_pos = 1;
	return 0;
}

static void
on_progress(void *arg, uint64_t revision)
{
	watch_state *s = arg;

	s->pos = revision;
	s->has_pos = 1;
	if (s->lost) {
		s->lost = 0;
		fprintf(stderr,
		    "flowctl: watch: the backend answers again; complete up "
		    "to "
		    "revision %" PRIu64 "\n",
		    revision);
	}
}

/* Said once per outage, not on every try. */
static void
on_retry(void *arg, int code, const char *message, uint32_t retry_ms)
{
	watch_state *s = arg;
	char from[64];

	(void) retry_ms;
	if (s->lost)
		return;
	s->lost = 1;
	if (s->has_pos)
		snprintf(from, sizeof(from), "after revision %" PRIu64,
		    s->pos);
	else
		snprintf(from, sizeof(from), "from now");
	fprintf(stderr,
	    "flowctl: watch: %s: %s (backend %s); trying again, %s\n",
	    fs_code_name(code),
	    message != NULL && message[0] != '\0' ? message
	                                          : fs_strerror(code),
	    s->x->backend, from);
}

static void
on_done(void *arg, int code, const Flowsvc__Reply *reply, uint64_t revision)
{
	watch_state *s = arg;
	Flowsvc__Reply *copy = NULL;

	(void) revision;
	/* The reply is the loop's until done returns: keep what reporting
	 * needs. */
	if (reply != NULL && (copy = malloc(sizeof(*copy))) != NULL) {
		flowsvc__reply__init(copy);
		copy->code = reply->code;
		copy->message =
		    reply->message != NULL ? strdup(reply->message) : NULL;
		copy->has_oldest_revision = reply->has_oldest_revision;
		copy->oldest_revision = reply->oldest_revision;
		copy->has_revision = reply->has_revision;
		copy->revision = reply->revision;
	}
	pthread_mutex_lock(&s->mu);
	s->code = code;
	s->reply = copy;
	s->ended = 1;
	pthread_mutex_unlock(&s->mu);
}

static void
reply_copy_free(Flowsvc__Reply *r)
{
	if (r == NULL)
		return;
	free(r->message);
	free(r);
}

static void
watch_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

int
flowctl_watch_signals(void)
{
	sigset_t set;

	watch_sigset(&set);
	return pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 ? 0 : -1;
}

/* Without --wait, nothing listening at the address is an error at once,
 * as for every command; afterwards the loop waits for the backend
 * however long it is away. Returns 0 or an exit status. */
static int
watch_probe(ctx *x)
{
	int rv;

	if (x->o.wait)
		return 0;
	rv = fs_client_probe(x->backend, (uint32_t) x->o.timeout_ms);
	if (rv != FS_UNAVAILABLE && rv != FS_INVALID_ARGUMENT)
		return 0;
	snprintf(x->unreachable, sizeof(x->unreachable), "%s",
	    fs_client_last_error());
	return report_error(x, rv, NULL);
}

/* The watch's outcome as an exit status, after saying why on stderr. */
static int
watch_outcome(ctx *x, watch_state *s)
{
	if (s->write_failed)
		return EXIT_RPC;
	if (s->code == FS_OK)
		return 0;
	if (s->code == FS_OUT_OF_RANGE) {
		const char *msg = s->reply != NULL && s->reply->message != NULL
		    ? s->reply->message
		    : fs_strerror(s->code);
		fprintf(stderr, "flowctl: OUT_OF_RANGE: %s\n", msg);
		if (s->printed != 0)
			fprintf(stderr,
			    "flowctl: the last change printed was revision "
			    "%" PRIu64 "\n",
			    s->printed);
		return EXIT_OUT_OF_RANGE;
	}
	/* Errors go to stderr only: stdout is the stream of events. */
	x->json_out = 0;
	return report_error(x, s->code, s->reply);
}

int
cmd_watch(ctx *x)
{
	fs_watch_opts o = {0};
	fs_watch_handler h = {on_event, on_progress, on_retry, on_done};
	watch_state s;
	fs_watch *w = NULL;
	sigset_t set;
	struct timespec poll = {0, WATCH_POLL_MS * 1000000L};
	int rv, sig = 0;

	if (x->o.table)
		return flowctl_usage_error(x,
		    "'watch' prints JSON lines only: no --table");
	if (x->o.kind != NULL && strcmp(x->o.kind, "flow") == 0)
		o.kind = FLOWSVC__KIND__FLOW;
	else if (x->o.kind != NULL && strcmp(x->o.kind, "app") == 0)
		o.kind = FLOWSVC__KIND__APP;
	else if (x->o.kind != NULL)
		return flowctl_usage_error(x,
		    "--kind takes flow or app, not '%s'", x->o.kind);
	o.has_since = GIVEN(x, OPT_SINCE);
	o.since_revision = (uint64_t) x->o.since;
	o.group = x->o.group;
	o.call = &x->call;
	if ((rv = watch_probe(x)) != 0)
		return rv;

	memset(&s, 0, sizeof(s));
	s.x = x;
	s.has_pos = o.has_since;
	s.pos = o.since_revision;
	if (pthread_mutex_init(&s.mu, NULL) != 0) {
		fprintf(stderr, "flowctl: out of resources\n");
		return EXIT_RPC;
	}
	if ((rv = fs_watch_start(&w, x->client, &o, &h, &s)) != FS_OK) {
		pthread_mutex_destroy(&s.mu);
		return report_error(x, rv, NULL);
	}
	watch_sigset(&set);
	for (;;) {
		pthread_mutex_lock(&s.mu);
		int ended = s.ended;
		pthread_mutex_unlock(&s.mu);
		if (ended)
			break;
		sig = sigtimedwait(&set, NULL, &poll);
		if (sig == SIGINT || sig == SIGTERM)
			break;
	}
	/* After a signal: ends the loop (FS_OK), a line being written
	 * first. */
	rv = fs_watch_stop(w);
	if (!s.ended || s.code == FS_OK)
		s.code = rv;
	rv = watch_outcome(x, &s);
	reply_copy_free(s.reply);
	pthread_mutex_destroy(&s.mu);
	return rv;
}
