/*
 * flowctl_cmds.c - one function per flowctl command: build the request
 * from the options, call the backend (waiting for one that is still
 * starting, within --timeout), print the result (flowctl_out.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowctl.h"
#include "fs_errors.h"
#include "fs_methods.h"

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
	return x->o.app ? FLOWSVC__KIND__APP : dflt;
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
 * nothing was sent, so trying again cannot run anything twice. Without
 * --wait, the first such miss asks whether anything listens at the
 * address at all (fs_client_probe): when nothing does, no backend is
 * running, and waiting out the timeout would only delay saying so; the
 * call fails at once with x->unreachable set. Something that accepts but
 * has not completed the handshake yet (a backend starting, or hung) is
 * waited for, within the timeout. With --wait, a script can use
 * "flowctl --wait health" to wait for a backend that is starting.
 * Returns the code; *reply_out as for fs_client_call. */
static int
call_until_timeout(ctx *x, Flowsvc__Method method, const ProtobufCMessage *req,
    Flowsvc__Reply **reply_out)
{
	int64_t deadline = mono_ms() + x->call.timeout_ms;
	waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0,
	    NULL};
	int rv, probed = x->o.wait;

	*reply_out = NULL;
	for (;;) {
		int64_t left = deadline - mono_ms();
		fs_call_opts o = x->call;

		o.timeout_ms = left > 0 ? (uint32_t) left : 1;
		rv = fs_client_call_async(x->client, method, req, &o,
		    waiter_cb, &w);
		if (rv == 0) {
			break;
		}
		if (rv != FS_UNAVAILABLE || left <= 0) {
			return rv;
		}
		if (!probed) {
			probed = 1;
			rv = fs_client_probe(x->backend, (uint32_t) left);
			/* Refused, or a host name that does not resolve. */
			if (rv == FS_UNAVAILABLE ||
			    rv == FS_INVALID_ARGUMENT) {
				snprintf(x->unreachable,
				    sizeof(x->unreachable), "%s",
				    fs_client_last_error());
				return rv;
			}
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

/* Calls the command's method and, when out is not NULL, unpacks the reply
 * payload with the method's reply message (fs_methods.h). Returns 0 and
 * sets *out (caller frees with protobuf_c_message_free_unpacked), or an
 * exit status after reporting. */
static int
call(ctx *x, const ProtobufCMessage *req, ProtobufCMessage **out)
{
	const fs_method_info *mi = fs_method(x->cmd->method);
	Flowsvc__Reply *reply = NULL;
	int code, rv = 0;

	code = call_until_timeout(x, x->cmd->method, req, &reply);
	if (code != FS_OK) {
		rv = report_error(x, code, reply);
	} else if (out != NULL &&
	    (mi == NULL ||
	        (*out = fs_reply_payload(reply, mi->reply)) == NULL)) {
		fprintf(stderr,
		    "flowctl: INTERNAL: undecodable reply "
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
	int rv = r->component == NULL ? emit(x, NULL)
	                              : emit(x, component_json(r->component));

	protobuf_c_message_free_unpacked(m, NULL);
	return rv;
}

int
cmd_get(ctx *x)
{
	Flowsvc__GetRequest req = FLOWSVC__GET_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	int rv;

	req.id = (char *) x->arg;
	req.has_kind = 1;
	req.kind = kind_or(x, FLOWSVC__KIND__FLOW);
	if ((rv = call(x, &req.base, &m)) != 0) {
		return rv;
	}
	return emit_component_reply(x, m);
}

/* Components a list asks for per page (the backend's most; it also
 * keeps a page under 1 MiB). */
#define LIST_PAGE_SIZE 10000u

/* Pages through the whole list (every page read from the cut the first
 * one made, so the result is one consistent list however long), then
 * prints it. */
int
cmd_list(ctx *x)
{
	Flowsvc__ListRequest req = FLOWSVC__LIST_REQUEST__INIT;
	json_t *a = json_array();
	char *token = NULL;
	uint64_t revision = 0;
	int rv = 0;

	req.has_kind = 1;
	req.kind = kind_or(x, FLOWSVC__KIND__FLOW);
	req.name_iexact = (char *) x->o.name;
	req.group_iexact = (char *) x->o.group;
	if (GIVEN(x, OPT_LIMIT)) {
		req.has_limit = 1;
		req.limit = (uint64_t) x->o.limit;
	}
	if (GIVEN(x, OPT_OFFSET)) {
		req.has_offset = 1;
		req.offset = (uint64_t) x->o.offset;
	}
	req.has_page_size = 1;
	req.page_size = LIST_PAGE_SIZE;
	do {
		ProtobufCMessage *m = NULL;
		Flowsvc__ListReply *r;

		req.page_token = token;
		rv = call(x, &req.base, &m);
		free(token);
		token = NULL;
		if (rv != 0) {
			json_decref(a);
			return rv;
		}
		r = (Flowsvc__ListReply *) m;
		/* Every page is read from the first one's cut. */
		if (revision == 0 && r->has_revision)
			revision = r->revision;
		for (size_t i = 0; a != NULL && i < r->n_components; i++) {
			if (json_array_append_new(a,
			        component_json(r->components[i])) != 0) {
				json_decref(a);
				a = NULL;
			}
		}
		if (a != NULL && r->next_page_token != NULL &&
		    (token = strdup(r->next_page_token)) == NULL) {
			json_decref(a);
			a = NULL;
		}
		protobuf_c_message_free_unpacked(m, NULL);
	} while (token != NULL);
	return emit_list(x, a, revision);
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
	if ((x->o.input != NULL && strlist_init(&l->in, x->o.input) != 0) ||
	    (x->o.output != NULL && strlist_init(&l->out, x->o.output) != 0) ||
	    (x->o.flows != NULL && strlist_init(&l->flows, x->o.flows) != 0)) {
		strlist_free(&l->in);
		strlist_free(&l->out);
		strlist_free(&l->flows);
		fprintf(stderr, "flowctl: out of memory\n");
		return EXIT_RPC;
	}
	*in = x->o.input != NULL ? &l->in.msg : NULL;
	*out = x->o.output != NULL ? &l->out.msg : NULL;
	*flows = x->o.flows != NULL ? &l->flows.msg : NULL;
	return 0;
}

static void
lists_free(lists *l)
{
	strlist_free(&l->in);
	strlist_free(&l->out);
	strlist_free(&l->flows);
}

int
cmd_create(ctx *x)
{
	Flowsvc__CreateRequest req = FLOWSVC__CREATE_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	lists l;
	int rv;

	req.kind = kind_or(x, FLOWSVC__KIND__FLOW);
	req.name = (char *) x->arg;
	req.group = (char *) x->o.group;
	if ((rv = lists_init(x, &l, &req.input_fields, &req.output_fields,
	         &req.flows)) != 0) {
		return rv;
	}
	rv = call(x, &req.base, &m);
	lists_free(&l);
	return rv != 0 ? rv : emit_component_reply(x, m);
}

int
cmd_update(ctx *x)
{
	Flowsvc__UpdateRequest req = FLOWSVC__UPDATE_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	lists l;
	int rv;

	req.id = (char *) x->arg;
	req.has_kind = 1;
	req.kind = kind_or(x, FLOWSVC__KIND__FLOW);
	req.has_expected_version = GIVEN(x, OPT_IF_VERSION);
	req.expected_version = x->o.if_version;
	if ((rv = lists_init(x, &l, &req.input_fields, &req.output_fields,
	         &req.flows)) != 0) {
		return rv;
	}
	rv = call(x, &req.base, &m);
	lists_free(&l);
	return rv != 0 ? rv : emit_component_reply(x, m);
}

int
cmd_delete(ctx *x)
{
	Flowsvc__IdRequest req = FLOWSVC__ID_REQUEST__INIT;

	req.id = (char *) x->arg;
	req.has_kind = 1;
	req.kind = kind_or(x, FLOWSVC__KIND__FLOW);
	req.has_expected_version = GIVEN(x, OPT_IF_VERSION);
	req.expected_version = x->o.if_version;
	/* Like REST's 204: success prints nothing. */
	return call(x, &req.base, NULL);
}

/* status, deploy, start and stop: any component id unless --app narrows
 * it, as on the REST lifecycle endpoints. */
int
cmd_status(ctx *x)
{
	Flowsvc__IdRequest req = FLOWSVC__ID_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	json_t *o;
	int rv;

	req.id = (char *) x->arg;
	req.has_kind = 1;
	req.kind = kind_or(x, FLOWSVC__KIND__KIND_ANY);
	req.has_expected_version = GIVEN(x, OPT_IF_VERSION); /* not status */
	req.expected_version = x->o.if_version;
	if ((rv = call(x, &req.base, &m)) != 0) {
		return rv;
	}
	o = json_object();
	if (o != NULL &&
	    set_str(o, "status",
	        fs_status_name((int) ((Flowsvc__StatusReply *) m)->status)) !=
	        0) {
		json_decref(o);
		o = NULL;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return emit(x, o);
}

int
cmd_snapshot(ctx *x)
{
	Flowsvc__Empty req = FLOWSVC__EMPTY__INIT;
	json_t *o;
	int rv;

	if ((rv = call(x, &req.base, NULL)) != 0) {
		return rv;
	}
	o = json_pack("{s:s}", "status", "ok");
	return emit(x, o);
}

int
cmd_health(ctx *x)
{
	Flowsvc__Empty req = FLOWSVC__EMPTY__INIT;
	Flowsvc__HealthReply *h;
	ProtobufCMessage *m = NULL;
	json_t *o;
	int rv, bad = 0;

	if ((rv = call(x, &req.base, &m)) != 0) {
		return rv;
	}
	h = (Flowsvc__HealthReply *) m;
	if ((o = json_object()) != NULL) {
		bad |= set_str(o, "status", h->status);
		if (h->has_flows) {
			bad |= json_object_set_new(o, "flows",
			    json_integer((json_int_t) h->flows));
		}
		if (h->has_apps) {
			bad |= json_object_set_new(o, "apps",
			    json_integer((json_int_t) h->apps));
		}
		if (h->has_uptime_s) {
			bad |= json_object_set_new(o, "uptime_s",
			    json_integer((json_int_t) h->uptime_s));
		}
		if (h->has_writable) {
			bad |= json_object_set_new(o, "writable",
			    json_boolean(h->writable));
		}
		if (h->write_error != NULL)
			bad |= set_str(o, "write_error", h->write_error);
		if (h->has_revision)
			bad |= json_object_set_new(o, "revision",
			    json_integer((json_int_t) h->revision));
		/* Replication (CONTRACT §8). */
		if (h->role != NULL)
			bad |= set_str(o, "role", h->role);
		if (h->has_term)
			bad |= json_object_set_new(o, "term",
			    json_integer((json_int_t) h->term));
		if (h->has_accepts_changes)
			bad |= json_object_set_new(o, "accepts_changes",
			    json_boolean(h->accepts_changes));
		if (h->primary != NULL)
			bad |= set_str(o, "primary", h->primary);
		if (h->has_lag_revisions)
			bad |= json_object_set_new(o, "lag_revisions",
			    json_integer((json_int_t) h->lag_revisions));
		if (h->has_lag_ms)
			bad |= json_object_set_new(o, "lag_ms",
			    json_integer((json_int_t) h->lag_ms));
		/* Automatic failover (CONTRACT §9). */
		if (h->coordinator != NULL)
			bad |= set_str(o, "coordinator", h->coordinator);
		if (bad) {
			json_decref(o);
			o = NULL;
		}
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return emit(x, o);
}

int
cmd_promote(ctx *x)
{
	Flowsvc__PromoteRequest req = FLOWSVC__PROMOTE_REQUEST__INIT;
	Flowsvc__PromoteReply *p;
	ProtobufCMessage *m = NULL;
	json_t *o;
	int rv;

	if ((rv = call(x, &req.base, &m)) != 0)
		return rv;
	p = (Flowsvc__PromoteReply *) m;
	o = json_pack("{s:s,s:I,s:I}", "role", "primary", "term",
	    (json_int_t) p->term, "revision", (json_int_t) p->revision);
	protobuf_c_message_free_unpacked(m, NULL);
	return emit(x, o);
}
