/*
 * fs_rpc_watch.c - the client's Watch: one call (fs_client_watch), and a
 * loop driven by the client's aio callbacks (fs_watch_start), see fs_rpc.h.
 *
 * The loop is one call at a time, or one pause between two: a call's
 * callback hands the events to the handler, then starts the next call
 * from the revision the answer is complete up to; a failure that trying
 * again may fix starts a pause (an nng sleep aio) after which the same
 * call is made again. Its calls go out with fs_call_start_blocking, even
 * while no backend is connected: nng sends them once one is (within
 * their timeout), so the loop resumes as soon as the backend is back.
 *
 * Position: pos is the revision up to which every change has been
 * delivered. It only grows, an event at or below it is never delivered
 * (a backend that answers an older position again cannot cause a
 * duplicate), and the next call asks for what follows it. Before the
 * first answer, when the caller gave no revision, there is none, and the
 * call asks for changes from the backend's current revision on.
 *
 * Locking: mtx guards the state (a call or pause in progress, stop, the
 * end); handler calls run without it. fs_watch_stop cancels what is in
 * progress under mtx, which a callback takes first thing, so the call it
 * cancels is still the loop's.
 */
#include "fs_rpc_client_int.h"

#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"

#define WATCH_RETRY_MIN_MS 50u
#define WATCH_RETRY_MAX_MS 2000u

/* ---- one call ----------------------------------------------------------- */

static void
watch_request(const fs_watch_opts *o, int has_since, uint64_t since,
    uint32_t wait_ms, Flowsvc__WatchRequest *m)
{
	flowsvc__watch_request__init(m);
	m->has_since_revision = has_since != 0;
	m->since_revision = since;
	if (o->kind != FLOWSVC__KIND__KIND_ANY) {
		m->has_kind = 1;
		m->kind = o->kind;
	}
	if (o->group != NULL && o->group[0] != '\0')
		m->group_iexact = (char *) o->group;
	m->has_wait_ms = 1;
	m->wait_ms =
	    wait_ms < FS_WATCH_WAIT_MAX_MS ? wait_ms : FS_WATCH_WAIT_MAX_MS;
	if (o->max_events != 0) {
		m->has_max_events = 1;
		m->max_events = o->max_events;
	}
}

int
fs_client_watch(fs_client *c, const fs_watch_opts *o,
    Flowsvc__WatchReply **batch, Flowsvc__Reply **reply_out)
{
	Flowsvc__WatchRequest m;
	Flowsvc__Reply *reply = NULL;
	int code;

	*batch = NULL;
	if (reply_out != NULL)
		*reply_out = NULL;
	watch_request(o, o->has_since, o->since_revision, o->wait_ms, &m);
	code = fs_client_call(c, FLOWSVC__METHOD__WATCH, &m.base, o->call,
	    &reply);
	if (code == FS_OK &&
	    (*batch = (Flowsvc__WatchReply *) fs_reply_payload(reply,
	         &flowsvc__watch_reply__descriptor)) == NULL)
		code = FS_INTERNAL;
	if (reply_out != NULL)
		*reply_out = reply;
	else if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	return code;
}

/* ---- the loop ----------------------------------------------------------- */

struct fs_watch {
	fs_client *c;
	fs_watch_opts o;
	char *group; /* o.group's copy */
	fs_watch_handler h;
	void *arg;
	nng_mtx *mtx;
	nng_cv *cv;
	nng_aio *pause;
	/* The rest under mtx. */
	fs_call *call; /* the call in flight, or NULL */
	bool pausing;
	bool stop;  /* fs_watch_stop asked */
	bool ended; /* done was called, nothing runs any more */
	int code;   /* what it ended with */
	int has_pos;
	uint64_t pos;
	uint32_t backoff;
};

static void watch_reply_cb(void *arg, int code, Flowsvc__Reply *reply);

/* Ends the loop: done, then the waiters of fs_watch_stop and run. */
static void
watch_end(fs_watch *w, int code, const Flowsvc__Reply *reply)
{
	if (w->h.done != NULL)
		w->h.done(w->arg, code, reply, w->pos);
	nng_mtx_lock(w->mtx);
	w->code = code;
	w->ended = true;
	nng_cv_wake(w->cv);
	nng_mtx_unlock(w->mtx);
}

/* Makes the next call, unless stopped. Returns 0 when a call or the end
 * is under way; else the failure, for a pause. */
static int
watch_next(fs_watch *w)
{
	Flowsvc__WatchRequest m;
	nng_msg *msg;
	uint32_t timeout;
	int rv;

	nng_mtx_lock(w->mtx);
	if (w->stop) {
		nng_mtx_unlock(w->mtx);
		watch_end(w, FS_OK, NULL);
		return 0;
	}
	watch_request(&w->o, w->has_pos, w->pos, w->o.wait_ms, &m);
	timeout = fs_call_timeout(FLOWSVC__METHOD__WATCH, &m.base, w->o.call);
	rv = fs_envelope_pack(&msg, FLOWSVC__METHOD__WATCH, &m.base, w->o.call,
	    timeout, 0);
	/* Started under mtx: fs_watch_stop finds the call it may cancel. */
	if (rv == FS_OK)
		rv = fs_call_start_blocking(w->c, msg, timeout, watch_reply_cb,
		    w, &w->call);
	nng_mtx_unlock(w->mtx);
	return rv;
}

/* A pause before trying again, unless stopped. */
static void
watch_pause(fs_watch *w, int code, const char *message)
{
	uint32_t ms = w->backoff;

	w->backoff = ms * 2 < WATCH_RETRY_MAX_MS ? ms * 2 : WATCH_RETRY_MAX_MS;
	if (w->h.retry != NULL)
		w->h.retry(w->arg, code, message, ms);
	nng_mtx_lock(w->mtx);
	if (w->stop) {
		nng_mtx_unlock(w->mtx);
		watch_end(w, FS_OK, NULL);
		return;
	}
	w->pausing = true;
	nng_sleep_aio((nng_duration) ms, w->pause);
	nng_mtx_unlock(w->mtx);
}

static void
watch_pause_cb(void *arg)
{
	fs_watch *w = arg;
	int rv;

	nng_mtx_lock(w->mtx);
	w->pausing = false;
	nng_mtx_unlock(w->mtx);
	if ((rv = watch_next(w)) != 0)
		watch_pause(w, rv, NULL);
}

/* Whether a call that failed with code may succeed if made again. */
static bool
watch_transient(int code)
{
	switch (code) {
	case FS_UNAVAILABLE:
	case FS_DEADLINE_EXCEEDED:
	case FS_RESOURCE_EXHAUSTED:
	case FS_INTERNAL:
	case FS_UNKNOWN:
	case FS_ABORTED:
	case FS_CANCELLED:
		return true;
	default:
		return false;
	}
}

/* Hands the batch's events on; returns 1 when the handler ended the
 * watch. */
static int
watch_deliver(fs_watch *w, const Flowsvc__WatchReply *b)
{
	for (size_t i = 0; i < b->n_events; i++) {
		const Flowsvc__WatchEvent *ev = b->events[i];
		if (w->has_pos && ev->revision <= w->pos)
			continue; /* delivered already */
		int stop = w->h.event(w->arg, ev);
		w->pos = ev->revision;
		w->has_pos = 1;
		if (stop)
			return 1;
	}
	if (!w->has_pos || b->revision > w->pos) {
		w->pos = b->revision;
		w->has_pos = 1;
	}
	if (w->h.progress != NULL)
		w->h.progress(w->arg, w->pos);
	return 0;
}

static void
watch_reply_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	fs_watch *w = arg;
	Flowsvc__WatchReply *b = NULL;
	int rv;

	nng_mtx_lock(w->mtx);
	w->call = NULL;
	bool stop = w->stop;
	nng_mtx_unlock(w->mtx);
	if (stop) {
		watch_end(w, FS_OK, NULL);
		goto out;
	}
	if (code == FS_OK &&
	    (b = (Flowsvc__WatchReply *) fs_reply_payload(reply,
	         &flowsvc__watch_reply__descriptor)) == NULL)
		code = FS_INTERNAL;
	if (code == FS_OK) {
		w->backoff = WATCH_RETRY_MIN_MS;
		if (watch_deliver(w, b))
			watch_end(w, FS_OK, NULL);
		else if ((rv = watch_next(w)) != 0)
			watch_pause(w, rv, NULL);
	} else if (watch_transient(code)) {
		/* NULL only when no answer came (the handler may tell a
		 * backend that is gone from one that answered). */
		watch_pause(w, code,
		    reply == NULL                ? NULL
		        : reply->message != NULL ? reply->message
		                                 : "");
	} else {
		watch_end(w, code, reply);
	}
out:
	if (b != NULL)
		flowsvc__watch_reply__free_unpacked(b, NULL);
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
}

static void
watch_free(fs_watch *w)
{
	nng_aio_free(w->pause); /* waits for its callback, if running */
	nng_cv_free(w->cv);
	nng_mtx_free(w->mtx);
	free(w->group);
	free(w);
}

int
fs_watch_start(fs_watch **out, fs_client *c, const fs_watch_opts *o,
    const fs_watch_handler *h, void *arg)
{
	fs_watch *w = calloc(1, sizeof(*w));
	int rv;

	if (w == NULL)
		return FS_RESOURCE_EXHAUSTED;
	w->c = c;
	w->o = *o;
	w->h = *h;
	w->arg = arg;
	w->has_pos = o->has_since;
	w->pos = o->since_revision;
	w->backoff = WATCH_RETRY_MIN_MS;
	if (w->o.wait_ms == 0)
		w->o.wait_ms = FS_WATCH_WAIT_DEFAULT_MS;
	if ((o->group != NULL && (w->group = strdup(o->group)) == NULL) ||
	    nng_mtx_alloc(&w->mtx) != 0) {
		free(w->group);
		free(w);
		return FS_RESOURCE_EXHAUSTED;
	}
	w->o.group = w->group;
	if (nng_cv_alloc(&w->cv, w->mtx) != 0) {
		nng_mtx_free(w->mtx);
		free(w->group);
		free(w);
		return FS_RESOURCE_EXHAUSTED;
	}
	if (nng_aio_alloc(&w->pause, watch_pause_cb, w) != 0) {
		nng_cv_free(w->cv);
		nng_mtx_free(w->mtx);
		free(w->group);
		free(w);
		return FS_RESOURCE_EXHAUSTED;
	}
	if ((rv = watch_next(w)) != 0)
		watch_pause(w, rv, NULL);
	*out = w;
	return FS_OK;
}

int
fs_watch_stop(fs_watch *w)
{
	nng_mtx_lock(w->mtx);
	w->stop = true;
	if (w->call != NULL)
		fs_call_cancel(w->call);
	if (w->pausing)
		nng_aio_cancel(w->pause);
	while (!w->ended)
		nng_cv_wait(w->cv);
	int code = w->code;
	nng_mtx_unlock(w->mtx);
	watch_free(w);
	return code;
}

int
fs_watch_run(fs_client *c, const fs_watch_opts *o, const fs_watch_handler *h,
    void *arg)
{
	fs_watch *w;
	int rv;

	if ((rv = fs_watch_start(&w, c, o, h, arg)) != FS_OK)
		return rv;
	nng_mtx_lock(w->mtx);
	while (!w->ended)
		nng_cv_wait(w->cv);
	nng_mtx_unlock(w->mtx);
	return fs_watch_stop(w);
}
