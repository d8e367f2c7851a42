/*
 * tl_watch.c - see tl_watch.h.
 */
#include "tl_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "tl_time.h"

int
fs_tw_call(fs_client *c, Flowsvc__Method m, const ProtobufCMessage *req,
    const Flowsvc__Caller *who, const ProtobufCMessageDescriptor *desc,
    ProtobufCMessage **out, uint64_t *rev)
{
	fs_call_opts o = {NULL, 10000, who, 0};
	Flowsvc__Reply *reply = NULL;
	int code = fs_client_call(c, m, req, &o, &reply);

	if (out != NULL)
		*out = NULL;
	if (rev != NULL)
		*rev =
		    reply != NULL && reply->has_revision ? reply->revision : 0;
	if (code == FS_OK && desc != NULL && out != NULL &&
	    (*out = fs_reply_payload(reply, desc)) == NULL)
		code = FS_INTERNAL;
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	return code;
}

static int
component_call(fs_client *c, Flowsvc__Method m, const ProtobufCMessage *req,
    const Flowsvc__Caller *who, char id[FS_UUID_STRLEN + 1], uint64_t *rev)
{
	ProtobufCMessage *out = NULL;
	int code = fs_tw_call(c, m, req, who,
	    &flowsvc__component_reply__descriptor, &out, rev);

	if (code == FS_OK && id != NULL) {
		Flowsvc__ComponentReply *cr = (Flowsvc__ComponentReply *) out;
		strncpy(id, cr->component->id, FS_UUID_STRLEN);
		id[FS_UUID_STRLEN] = '\0';
	}
	if (out != NULL)
		protobuf_c_message_free_unpacked(out, NULL);
	return code;
}

int
fs_tw_create(fs_client *c, int kind, const char *name, const char *group,
    const char *const *flows, size_t n, const Flowsvc__Caller *who,
    char id[FS_UUID_STRLEN + 1], uint64_t *rev)
{
	Flowsvc__CreateRequest req = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__StringList fl = FLOWSVC__STRING_LIST__INIT;

	req.kind = (Flowsvc__Kind) kind;
	req.name = (char *) name;
	req.group = (char *) group;
	if (n > 0) {
		fl.n_items = n;
		fl.items = (char **) flows;
		req.flows = &fl;
	}
	return component_call(c, FLOWSVC__METHOD__CREATE, &req.base, who, id,
	    rev);
}

int
fs_tw_update(fs_client *c, const char *id, const char *out_field,
    uint64_t *rev)
{
	Flowsvc__UpdateRequest req = FLOWSVC__UPDATE_REQUEST__INIT;
	Flowsvc__StringList outl = FLOWSVC__STRING_LIST__INIT;
	char *outv[1] = {(char *) out_field};

	req.id = (char *) id;
	outl.n_items = 1;
	outl.items = outv;
	req.output_fields = &outl;
	return component_call(c, FLOWSVC__METHOD__UPDATE, &req.base, NULL,
	    NULL, rev);
}

int
fs_tw_set_flows(fs_client *c, const char *id, const char *const *flows,
    size_t n, uint64_t *rev)
{
	Flowsvc__UpdateRequest req = FLOWSVC__UPDATE_REQUEST__INIT;
	Flowsvc__StringList fl = FLOWSVC__STRING_LIST__INIT;

	req.id = (char *) id;
	fl.n_items = n;
	fl.items = (char **) flows;
	req.flows = &fl;
	return component_call(c, FLOWSVC__METHOD__UPDATE, &req.base, NULL,
	    NULL, rev);
}

int
fs_tw_change(fs_client *c, Flowsvc__Method m, const char *id, uint64_t *rev)
{
	Flowsvc__IdRequest req = FLOWSVC__ID_REQUEST__INIT;

	req.id = (char *) id;
	return fs_tw_call(c, m, &req.base, NULL, NULL, NULL, rev);
}

uint64_t
fs_tw_revision(fs_client *c)
{
	ProtobufCMessage *out = NULL;
	uint64_t rev = 0;

	if (fs_tw_call(c, FLOWSVC__METHOD__HEALTH, NULL, NULL,
	        &flowsvc__health_reply__descriptor, &out, NULL) == FS_OK)
		rev = ((Flowsvc__HealthReply *) out)->revision;
	if (out != NULL)
		protobuf_c_message_free_unpacked(out, NULL);
	return rev;
}

int64_t
fs_tw_parked(fs_client *c)
{
	ProtobufCMessage *out = NULL;
	int64_t n = -1;

	if (fs_tw_call(c, FLOWSVC__METHOD__STATS, NULL, NULL,
	        &flowsvc__stats_reply__descriptor, &out, NULL) == FS_OK)
		n = (int64_t) ((Flowsvc__StatsReply *) out)->watches;
	if (out != NULL)
		protobuf_c_message_free_unpacked(out, NULL);
	return n;
}

int
fs_tw_wait_parked(fs_client *c, int64_t n, int timeout_ms)
{
	int64_t until = fs_test_now_ms() + timeout_ms;

	while (fs_tw_parked(c) < n) {
		if (fs_test_now_ms() > until)
			return -1;
		fs_test_poll_pause(5);
	}
	return 0;
}

void
fs_tw_on_reply(void *arg, int code, Flowsvc__Reply *reply)
{
	fs_tw_outcomes *o = arg;

	if (code == FS_OK)
		atomic_fetch_add(&o->ok, 1);
	else if (code == FS_RESOURCE_EXHAUSTED)
		atomic_fetch_add(&o->exhausted, 1);
	else if (code == FS_UNAVAILABLE)
		atomic_fetch_add(&o->unavailable, 1);
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	atomic_fetch_add(&o->done, 1);
}

void
fs_tw_on_watch(void *arg, int code, Flowsvc__Reply *reply)
{
	fs_tw_outcomes *o = arg;

	if (code == FS_OK) {
		Flowsvc__WatchReply *w =
		    (Flowsvc__WatchReply *) fs_reply_payload(reply,
		        &flowsvc__watch_reply__descriptor);
		if (w != NULL) {
			atomic_fetch_add(&o->events, (int) w->n_events);
			atomic_store(&o->revision, w->revision);
			flowsvc__watch_reply__free_unpacked(w, NULL);
		}
	}
	fs_tw_on_reply(arg, code, reply);
}

int
fs_tw_park(fs_client *c, int n, uint64_t since, const char *group,
    uint32_t wait_ms, uint32_t max_events, fs_tw_outcomes *o)
{
	Flowsvc__WatchRequest m = FLOWSVC__WATCH_REQUEST__INIT;
	int started = 0;

	m.has_since_revision = 1;
	m.since_revision = since;
	m.group_iexact = (char *) group;
	m.has_wait_ms = 1;
	m.wait_ms = wait_ms;
	if (max_events > 0) {
		m.has_max_events = 1;
		m.max_events = max_events;
	}
	for (int i = 0; i < n; i++)
		started += fs_client_call_async(c, FLOWSVC__METHOD__WATCH,
		               &m.base, NULL, fs_tw_on_watch, o) == 0;
	return started;
}

int
fs_tw_wait_done(fs_tw_outcomes *o, int n, int timeout_ms)
{
	int64_t until = fs_test_now_ms() + timeout_ms;

	while (atomic_load(&o->done) < n) {
		if (fs_test_now_ms() > until)
			return -1;
		fs_test_poll_pause(5);
	}
	return 0;
}

int
fs_tw_watch(fs_client *c, int has_since, uint64_t since, int kind,
    const char *group, uint32_t wait_ms, uint32_t max_events,
    const Flowsvc__Caller *who, Flowsvc__WatchReply **out,
    Flowsvc__Reply **reply)
{
	fs_call_opts co = {NULL, 10000, who, 0};
	fs_watch_opts o = {0};

	o.has_since = has_since;
	o.since_revision = since;
	o.kind = (Flowsvc__Kind) kind;
	o.group = group;
	o.wait_ms = wait_ms;
	o.max_events = max_events;
	o.call = &co;
	return fs_client_watch(c, &o, out, reply);
}

/* ---- a recording loop --------------------------------------------------- */

static int
loop_event(void *arg, const Flowsvc__WatchEvent *ev)
{
	fs_tw_loop *l = arg;

	pthread_mutex_lock(&l->mtx);
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 256;
		fs_tw_event *ne = realloc(l->ev, nc * sizeof(*ne));
		if (ne == NULL) {
			pthread_mutex_unlock(&l->mtx);
			return 1;
		}
		l->ev = ne;
		l->cap = nc;
	}
	fs_tw_event *e = &l->ev[l->n++];
	e->revision = ev->revision;
	e->type = (int) ev->type;
	e->status = (int) ev->status;
	snprintf(e->id, sizeof(e->id), "%s",
	    ev->component != NULL ? ev->component->id : "");
	e->version = ev->component != NULL ? ev->component->version : 0;
	pthread_mutex_unlock(&l->mtx);
	return 0;
}

static void
loop_progress(void *arg, uint64_t revision)
{
	fs_tw_loop *l = arg;

	pthread_mutex_lock(&l->mtx);
	l->pos = revision;
	pthread_mutex_unlock(&l->mtx);
}

static void
loop_retry(void *arg, int code, const char *message, uint32_t ms)
{
	fs_tw_loop *l = arg;

	(void) code;
	(void) message;
	(void) ms;
	pthread_mutex_lock(&l->mtx);
	l->retries++;
	pthread_mutex_unlock(&l->mtx);
}

static void
loop_done(void *arg, int code, const Flowsvc__Reply *reply, uint64_t rev)
{
	fs_tw_loop *l = arg;

	(void) rev;
	pthread_mutex_lock(&l->mtx);
	l->ended = 1;
	l->code = code;
	l->oldest = reply != NULL && reply->has_oldest_revision
	    ? reply->oldest_revision
	    : 0;
	pthread_mutex_unlock(&l->mtx);
}

int
fs_tw_loop_start(fs_tw_loop *l, fs_client *c, int has_since, uint64_t since,
    uint32_t wait_ms)
{
	return fs_tw_loop_start_group(l, c, has_since, since, wait_ms, NULL);
}

int
fs_tw_loop_start_group(fs_tw_loop *l, fs_client *c, int has_since,
    uint64_t since, uint32_t wait_ms, const char *group)
{
	fs_watch_opts o = {0};
	fs_watch_handler h = {loop_event, loop_progress, loop_retry,
	    loop_done};

	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->mtx, NULL);
	o.has_since = has_since;
	o.since_revision = since;
	o.wait_ms = wait_ms;
	o.group = group;
	return fs_watch_start(&l->w, c, &o, &h, l);
}

uint64_t
fs_tw_loop_pos(fs_tw_loop *l)
{
	pthread_mutex_lock(&l->mtx);
	uint64_t v = l->pos;
	pthread_mutex_unlock(&l->mtx);
	return v;
}

size_t
fs_tw_loop_count(fs_tw_loop *l)
{
	pthread_mutex_lock(&l->mtx);
	size_t n = l->n;
	pthread_mutex_unlock(&l->mtx);
	return n;
}

int
fs_tw_loop_wait(fs_tw_loop *l, uint64_t rev, int timeout_ms)
{
	int64_t until = fs_test_now_ms() + timeout_ms;

	for (;;) {
		pthread_mutex_lock(&l->mtx);
		int there = l->pos >= rev, ended = l->ended;
		pthread_mutex_unlock(&l->mtx);
		if (there)
			return 0;
		if (ended || fs_test_now_ms() > until)
			return -1;
		fs_test_poll_pause(5);
	}
}

int
fs_tw_loop_stop(fs_tw_loop *l)
{
	int code = FS_OK;

	if (l->w != NULL)
		code = fs_watch_stop(l->w);
	l->w = NULL;
	return code;
}

void
fs_tw_loop_free(fs_tw_loop *l)
{
	fs_tw_loop_stop(l);
	free(l->ev);
	pthread_mutex_destroy(&l->mtx);
	memset(l, 0, sizeof(*l));
}
