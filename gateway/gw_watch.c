/*
 * gw_watch.c - the hub: one upstream watch, the ring, the fan-out (see
 * gw_watch.h).
 *
 * The ring holds the latest events in revision order, each with its
 * frame rendered for a caller who sees everything; it is complete over
 * (base, pos]: every change after base up to the hub's position is in
 * it. An event whose component uses flows of other groups also keeps
 * the event itself, so that the frame of a token that may not see some
 * of those flows can be rendered without them (the ring is shared by
 * every token).
 */
#include "gw_watch_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "fs_errors.h"
#include "fs_log.h"
#include "fs_util.h"
#include "gw_backends.h"

/* What the upstream watch asks per call. */
#define HUB_WAIT_MS 30000u
#define HUB_MAX_EVENTS 1000u
/* The hub's thread: retries of the first call, at most this far apart. */
#define HUB_RETRY_MAX_MS 1000u
/* With several backends, how often at most the thread looks whether the
 * watch should move to another (the poller's view changes every
 * --backend-poll-ms), and how soon it asks a backend that was behind the
 * hub's position again (at the next look). */
#define HUB_MOVE_TICK_MS 200u
#define HUB_BEHIND_MS 100u

struct ring_ev {
	uint64_t rev;
	Flowsvc__Kind kind;
	char *group;
	char *frame;
	size_t len;
	Flowsvc__WatchEvent *ev; /* when it names flows of other groups */
};

struct gw_watch {
	struct gw_watch_config cfg;
	gw_backends *bs;
	fs_call_opts call; /* the upstream's */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool thread_started;
	/* Under mu. */
	bool closing;
	bool restart;  /* the upstream ended: start another */
	bool behind;   /* it ended: its backend is behind pos (resume) */
	bool stopping; /* the hub stops the upstream itself */
	fs_watch *up;
	gw_backend *be; /* where up runs (or ran last) */
	bool has_pos;
	uint64_t pos, base;
	struct ring_ev *ring; /* cfg.ring_events slots, circular */
	size_t head, n, bytes;
	struct gw_sse *clients;
	size_t linked;
	bool down_logged, behind_logged; /* until the upstream answers */
	/* Counters, for /metrics. */
	atomic_uint admitted;
	atomic_uint_fast64_t events, dropped, bookmarks, restarts, moves;
};

/* ---- the ring ----------------------------------------------------------- */

static void
ring_ev_free(struct ring_ev *e)
{
	free(e->group);
	free(e->frame);
	if (e->ev != NULL)
		flowsvc__watch_event__free_unpacked(e->ev, NULL);
	memset(e, 0, sizeof(*e));
}

static struct ring_ev *
ring_at(gw_watch *w, size_t i)
{
	return &w->ring[(w->head + i) % w->cfg.ring_events];
}

/* The oldest goes; base moves to it. mu held. */
static void
ring_pop(gw_watch *w)
{
	struct ring_ev *e = ring_at(w, 0);

	w->base = e->rev;
	w->bytes -= e->len;
	ring_ev_free(e);
	w->head = (w->head + 1) % w->cfg.ring_events;
	w->n--;
}

static void
ring_clear(gw_watch *w)
{
	while (w->n > 0)
		ring_pop(w);
	w->head = 0;
	w->bytes = 0;
}

/* Takes e. mu held. */
static struct ring_ev *
ring_push(gw_watch *w, struct ring_ev *e)
{
	while (w->n > 0 &&
	    (w->n == w->cfg.ring_events ||
	        w->bytes + e->len > w->cfg.ring_bytes))
		ring_pop(w);
	struct ring_ev *slot = ring_at(w, w->n);
	*slot = *e;
	w->n++;
	w->bytes += e->len;
	return slot;
}

/* The index of the first event after rev (n when none). mu held. */
static size_t
ring_after(gw_watch *w, uint64_t rev)
{
	size_t lo = 0, hi = w->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ring_at(w, mid)->rev <= rev)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* An event for c (both locks held): its frame when c may see it, and c's
 * position past it either way. */
static void
feed(struct gw_sse *c, const struct ring_ev *e)
{
	if (c->ended || (c->has_pos && e->rev <= c->pos))
		return;
	c->pos = e->rev;
	c->has_pos = true;
	if (c->kind != FLOWSVC__KIND__KIND_ANY && c->kind != e->kind)
		return;
	if (c->group != NULL && strcasecmp(c->group, e->group) != 0)
		return;
	if (!gw_sse_sees(c, e->group))
		return;
	if (c->restricted && e->ev != NULL) {
		gw_buf b = GW_BUF_INIT;

		gw_sse_frame(&b, e->ev, c);
		if (b.oom) {
			gw_buf_reset(&b);
			fs_log(FS_LOG_ERROR, c->rid,
			    "watch: out of memory; client dropped");
			gw_sse_finish(c, true);
			return;
		}
		gw_sse_queue(c, b.data, b.len, true);
		gw_buf_reset(&b);
		return;
	}
	gw_sse_queue(c, e->frame, e->len, true);
}

/* The ring's events after c's position (both locks held). */
static void
feed_ring(gw_watch *w, struct gw_sse *c)
{
	for (size_t i = ring_after(w, c->pos); i < w->n && !c->ended; i++)
		feed(c, ring_at(w, i));
}

/* ---- the upstream watch ------------------------------------------------- */

/* A copy of ev, for the ring. NULL when out of memory. */
static Flowsvc__WatchEvent *
event_copy(const Flowsvc__WatchEvent *ev)
{
	size_t n = flowsvc__watch_event__get_packed_size(ev);
	uint8_t *buf = malloc(n ? n : 1);
	Flowsvc__WatchEvent *copy;

	if (buf == NULL)
		return NULL;
	flowsvc__watch_event__pack(ev, buf);
	copy = flowsvc__watch_event__unpack(NULL, n, buf);
	free(buf);
	return copy;
}

static int
hub_event(void *arg, const Flowsvc__WatchEvent *ev)
{
	gw_watch *w = arg;
	struct ring_ev e = {ev->revision, ev->component->kind, NULL, NULL, 0,
	    NULL};
	gw_buf b = GW_BUF_INIT;
	struct ring_ev *slot;

	gw_sse_frame(&b, ev, NULL);
	e.frame = gw_buf_take(&b, &e.len);
	e.group = strdup(ev->component->group);
	if (ev->n_flow_groups > 0)
		e.ev = event_copy(ev);
	if (e.frame == NULL || e.group == NULL ||
	    (ev->n_flow_groups > 0 && e.ev == NULL)) {
		/* An event no client can be given: rather than a gap, every
		 * stream ends and the upstream starts again. */
		fs_log(FS_LOG_ERROR, NULL,
		    "watch: out of memory at revision %" PRIu64
		    "; ending every stream",
		    ev->revision);
		ring_ev_free(&e);
		pthread_mutex_lock(&w->mu);
		w->restart = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		return 1;
	}
	pthread_mutex_lock(&w->mu);
	if (w->has_pos && e.rev <= w->pos) {
		pthread_mutex_unlock(&w->mu);
		ring_ev_free(&e);
		return 0;
	}
	slot = ring_push(w, &e);
	w->pos = slot->rev;
	w->has_pos = true;
	for (struct gw_sse *c = w->clients; c != NULL; c = c->next) {
		if (!c->live)
			continue;
		pthread_mutex_lock(&c->mu);
		feed(c, slot);
		pthread_mutex_unlock(&c->mu);
	}
	pthread_mutex_unlock(&w->mu);
	atomic_fetch_add(&w->events, 1);
	return 0;
}

static void
hub_progress(void *arg, uint64_t rev)
{
	gw_watch *w = arg;

	pthread_mutex_lock(&w->mu);
	if (w->down_logged) {
		fs_log(FS_LOG_INFO, NULL,
		    "watch: resumed at revision %" PRIu64 " on backend %s",
		    rev, gw_backend_url(w->be));
		w->down_logged = false;
	}
	w->behind_logged = false;
	if (!w->has_pos || rev > w->pos) {
		w->pos = rev;
		w->has_pos = true;
		for (struct gw_sse *c = w->clients; c != NULL; c = c->next) {
			if (!c->live)
				continue;
			pthread_mutex_lock(&c->mu);
			if (!c->has_pos || c->pos < rev) {
				c->pos = rev;
				c->has_pos = true;
			}
			pthread_mutex_unlock(&c->mu);
		}
	}
	pthread_mutex_unlock(&w->mu);
}

static void
hub_retry(void *arg, int code, const char *message, uint32_t retry_ms)
{
	gw_watch *w = arg;
	gw_backend *be;

	(void) retry_ms;
	pthread_mutex_lock(&w->mu);
	be = w->be; /* changes only while no loop runs */
	if (!w->down_logged && !w->closing)
		fs_log(FS_LOG_WARN, NULL,
		    "watch: upstream call on %s failed (%s%s%s); resuming "
		    "from revision %" PRIu64 " when a backend answers",
		    gw_backend_url(be), fs_code_name(code),
		    message && *message ? ": " : "", message ? message : "",
		    w->pos);
	w->down_logged = true;
	pthread_mutex_unlock(&w->mu);
	/* No answer: the backend is left out, and the thread moves the
	 * watch to one that answers, if any (else this loop goes on trying
	 * where it is). */
	if (message == NULL &&
	    (code == FS_UNAVAILABLE || code == FS_DEADLINE_EXCEEDED) &&
	    gw_backends_count(w->bs) > 1) {
		gw_backends_lost(w->bs, be);
		pthread_mutex_lock(&w->mu);
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
}

static void
hub_done(void *arg, int code, const Flowsvc__Reply *reply, uint64_t revision)
{
	gw_watch *w = arg;

	pthread_mutex_lock(&w->mu);
	if (!w->closing && !w->stopping &&
	    gw_backends_watch_behind(w->bs, w->be, revision, code, reply)) {
		/* A replica that has not caught up with where the hub is
		 * (it moved there from a backend ahead of it): the changes
		 * come later from it, or from another; the streams go on. */
		if (!w->behind_logged)
			fs_log(FS_LOG_WARN, NULL,
			    "watch: backend %s is at revision %" PRIu64
			    ", behind revision %" PRIu64
			    "; waiting for it to catch up",
			    gw_backend_url(w->be), reply->revision, revision);
		w->behind_logged = true;
		w->down_logged = true; /* "resumed" once it answers */
		w->behind = true;
		pthread_cond_signal(&w->cv);
	} else if (!w->closing && !w->stopping) {
		fs_log(FS_LOG_WARN, NULL,
		    "watch: upstream watch ended at revision %" PRIu64
		    " (%s); ending every stream and watching again from the "
		    "backend's revision",
		    revision, fs_code_name(code));
		w->restart = true;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
}

/* Ends every stream (mu held); each client resumes by itself. */
static void
end_all(gw_watch *w, bool cut)
{
	for (struct gw_sse *c = w->clients; c != NULL; c = c->next) {
		pthread_mutex_lock(&c->mu);
		if (!c->ended)
			gw_sse_finish(c, false);
		if (cut && !c->closed && c->fd >= 0)
			(void) shutdown(c->fd, SHUT_RDWR);
		pthread_mutex_unlock(&c->mu);
	}
}

/* The upstream loop on w->be from rev (w->pos, set). mu held; released
 * while it starts: the loop may call its handler before it returns. One
 * that ends at once sets restart, which the thread sees once w->up is
 * set. Returns 0 or FS_RESOURCE_EXHAUSTED. */
static int
hub_loop(gw_watch *w, uint64_t rev)
{
	fs_watch_opts o = {0};
	fs_watch_handler hd = {hub_event, hub_progress, hub_retry, hub_done};
	fs_client *client = gw_backend_client(w->be);
	fs_watch *up;
	int code;

	o.call = &w->call;
	o.has_since = 1;
	o.since_revision = rev;
	o.wait_ms = HUB_WAIT_MS;
	o.max_events = HUB_MAX_EVENTS;
	pthread_mutex_unlock(&w->mu);
	code = fs_watch_start(&up, client, &o, &hd, w);
	pthread_mutex_lock(&w->mu);
	if (code == FS_OK)
		w->up = up;
	return code;
}

/* The backend's revision, then the upstream loop from it, on the backend
 * gw_backends_watch_pick says. mu held; released during the call.
 * Returns 0 or the call's code. */
static int
hub_start_upstream(gw_watch *w)
{
	fs_watch_opts o = {0};
	Flowsvc__WatchReply *b = NULL;
	gw_backend *be = gw_backends_watch_pick(w->bs, w->be);
	Flowsvc__Reply *reply = NULL;
	uint64_t rev;
	int code;

	w->be = be;
	o.call = &w->call;
	pthread_mutex_unlock(&w->mu);
	code = fs_client_watch(gw_backend_client(be), &o, &b, &reply);
	if (reply == NULL &&
	    (code == FS_UNAVAILABLE || code == FS_DEADLINE_EXCEEDED) &&
	    gw_backends_count(w->bs) > 1)
		gw_backends_lost(w->bs, be); /* the next try picks another */
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	pthread_mutex_lock(&w->mu);
	if (code != FS_OK)
		return code;
	rev = b->revision;
	flowsvc__watch_reply__free_unpacked(b, NULL);
	if (w->closing)
		return FS_OK;
	ring_clear(w);
	w->has_pos = true;
	w->pos = w->base = rev;
	if ((code = hub_loop(w, rev)) != FS_OK) {
		w->has_pos = false;
		return code;
	}
	fs_log(FS_LOG_INFO, NULL,
	    "watch: watching backend %s from revision %" PRIu64,
	    gw_backend_url(be), rev);
	return FS_OK;
}

/* Stops the upstream loop, if any, without a restart (its end is the
 * hub's doing). mu held; released while it stops. */
static void
hub_stop_loop(gw_watch *w)
{
	fs_watch *up = w->up;

	if (up == NULL)
		return;
	w->up = NULL;
	w->stopping = true;
	pthread_mutex_unlock(&w->mu);
	(void) fs_watch_stop(up);
	pthread_mutex_lock(&w->mu);
	w->stopping = false;
}

/* The loop goes on on to (gw_backends_watch_pick's choice: its backend
 * is left out and another answers, a primary is known and answers, or
 * the backend it was on was behind): the loop stops and a new one
 * resumes on to from the hub's position. Every backend has the same
 * revisions, so the ring, the streams and their positions stay as they
 * are: no stream sees a change twice or misses one. mu held; released
 * while the loop stops and starts. */
static void
hub_resume(gw_watch *w, gw_backend *to)
{
	gw_backend *from = w->be;

	hub_stop_loop(w);
	w->behind = false; /* the new loop asks again */
	/* It ended by itself meanwhile: the thread starts again from the
	 * backend's revision, as for any such end. */
	if (w->closing || w->restart)
		return;
	w->be = to;
	if (to != from) {
		atomic_fetch_add(&w->moves, 1);
		fs_log(FS_LOG_WARN, NULL,
		    "watch: moving from backend %s to %s; resuming from "
		    "revision %" PRIu64,
		    gw_backend_url(from), gw_backend_url(to), w->pos);
		w->down_logged = true; /* "resumed" once it answers */
	}
	if (hub_loop(w, w->pos) != FS_OK)
		w->restart = true; /* no loop: every stream resumes */
}

static void
send_bookmarks(gw_watch *w, uint64_t now, uint64_t early_us)
{
	uint64_t due = (uint64_t) w->cfg.bookmark_ms * 1000u;

	due = due > early_us ? due - early_us : 0;
	for (struct gw_sse *c = w->clients; c != NULL; c = c->next) {
		char line[96];
		int n;

		pthread_mutex_lock(&c->mu);
		if (!c->ended && c->has_pos && now - c->last_us >= due) {
			n = snprintf(line, sizeof(line),
			    "id: %" PRIu64 "\nevent: bookmark\ndata: "
			    "{\"type\":\"bookmark\",\"revision\":%" PRIu64
			    "}\n\n",
			    c->pos, c->pos);
			gw_sse_queue(c, line, (size_t) n, true);
			atomic_fetch_add(&w->bookmarks, 1);
		}
		pthread_mutex_unlock(&c->mu);
	}
}

static void *
hub_main(void *arg)
{
	gw_watch *w = arg;
	uint32_t tick_ms = w->cfg.bookmark_ms / 4, retry_ms = 50;
	uint64_t next_try = 0, resume_at = 0;
	bool several = gw_backends_count(w->bs) > 1;

	if (tick_ms < 5)
		tick_ms = 5;
	if (tick_ms > 1000)
		tick_ms = 1000;
	if (several && tick_ms > HUB_MOVE_TICK_MS)
		tick_ms = HUB_MOVE_TICK_MS;
	pthread_mutex_lock(&w->mu);
	while (!w->closing) {
		uint64_t now = gw_http_mono_us();
		struct timespec ts;

		if (w->restart) {
			w->restart = false;
			w->behind = false;
			w->has_pos = false;
			ring_clear(w);
			end_all(w, false);
			atomic_fetch_add(&w->restarts, 1);
			hub_stop_loop(w);
			continue;
		}
		if (w->behind) {
			/* Its loop ended; the next resumes from pos in a
			 * moment, where gw_backends_watch_pick says. */
			w->behind = false;
			hub_stop_loop(w);
			resume_at = now + HUB_BEHIND_MS * 1000u;
			continue;
		}
		if (w->up == NULL && w->has_pos) {
			if (now >= resume_at) {
				hub_resume(w,
				    gw_backends_watch_pick(w->bs, w->be));
				continue;
			}
		} else if (w->up == NULL && now >= next_try) {
			if (hub_start_upstream(w) == FS_OK) {
				retry_ms = 50;
			} else {
				next_try =
				    gw_http_mono_us() + retry_ms * 1000u;
				retry_ms = retry_ms * 2 < HUB_RETRY_MAX_MS
				    ? retry_ms * 2
				    : HUB_RETRY_MAX_MS;
			}
			continue;
		}
		if (several && w->up != NULL) {
			gw_backend *to = gw_backends_watch_pick(w->bs, w->be);
			if (to != w->be) {
				hub_resume(w, to);
				continue;
			}
		}
		send_bookmarks(w, now, (uint64_t) tick_ms * 1000u);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long) tick_ms * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		(void) pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* ---- the hub's life ----------------------------------------------------- */

int
gw_watch_new(gw_watch **out, const struct gw_watch_config *cfg,
    gw_backends *bs)
{
	gw_watch *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (w == NULL)
		return -1;
	w->cfg = *cfg;
	if (w->cfg.ring_events == 0)
		w->cfg.ring_events = 1;
	if (w->cfg.bookmark_ms == 0)
		w->cfg.bookmark_ms = 1;
	w->bs = bs;
	w->call.request_id = "gateway-watch";
	w->call.timeout_ms = cfg->rpc_timeout_ms;
	if ((w->ring = calloc(w->cfg.ring_events, sizeof(*w->ring))) == NULL) {
		free(w);
		return -1;
	}
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		free(w->ring);
		free(w);
		return -1;
	}
	if (fs_cond_init_monotonic(&w->cv) != 0) {
		pthread_mutex_destroy(&w->mu);
		free(w->ring);
		free(w);
		return -1;
	}
	if (pthread_create(&w->thread, NULL, hub_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w->ring);
		free(w);
		return -1;
	}
	w->thread_started = true;
	*out = w;
	return 0;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Waits at most ms for every client to be freed. */
static bool
wait_clients(gw_watch *w, int ms)
{
	for (int i = 0; i < ms && atomic_load(&w->admitted) > 0; i += 5)
		sleep_ms(5);
	return atomic_load(&w->admitted) == 0;
}

void
gw_watch_close(gw_watch *w)
{
	fs_watch *up;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->thread_started) {
		pthread_join(w->thread, NULL);
		w->thread_started = false;
	}
	pthread_mutex_lock(&w->mu);
	up = w->up;
	w->up = NULL;
	pthread_mutex_unlock(&w->mu);
	if (up != NULL)
		(void) fs_watch_stop(up);
	/* Streams end at an event's boundary; clients that do not read are
	 * cut off after a moment. */
	pthread_mutex_lock(&w->mu);
	end_all(w, false);
	pthread_mutex_unlock(&w->mu);
	if (wait_clients(w, 500))
		return;
	pthread_mutex_lock(&w->mu);
	end_all(w, true);
	pthread_mutex_unlock(&w->mu);
	(void) wait_clients(w, 500);
}

void
gw_watch_free(gw_watch *w)
{
	if (w == NULL)
		return;
	ring_clear(w);
	free(w->ring);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* ---- for gw_sse.c ------------------------------------------------------- */

int
gw_watch_admit(gw_watch *w)
{
	unsigned n = atomic_fetch_add(&w->admitted, 1);

	if (n >= w->cfg.max_clients) {
		atomic_fetch_sub(&w->admitted, 1);
		return -1;
	}
	return 0;
}

void
gw_watch_release(gw_watch *w)
{
	atomic_fetch_sub(&w->admitted, 1);
}

static void
link_locked(gw_watch *w, struct gw_sse *c)
{
	c->prev = NULL;
	c->next = w->clients;
	if (w->clients != NULL)
		w->clients->prev = c;
	w->clients = c;
	c->linked = true;
	w->linked++;
}

int
gw_watch_attach(gw_watch *w, struct gw_sse *c, bool has_since, uint64_t since,
    uint64_t *start)
{
	int rv = 0;

	pthread_mutex_lock(&w->mu);
	if (w->closing) {
		rv = -1;
	} else if (w->has_pos &&
	    (!has_since || (since >= w->base && since <= w->pos))) {
		pthread_mutex_lock(&c->mu);
		c->pos = has_since ? since : w->pos;
		c->has_pos = true;
		*start = c->pos;
		feed_ring(w, c);
		c->live = true;
		pthread_mutex_unlock(&c->mu);
		link_locked(w, c);
		rv = 1;
	}
	pthread_mutex_unlock(&w->mu);
	return rv;
}

int
gw_watch_link(gw_watch *w, struct gw_sse *c)
{
	int rv = -1;

	pthread_mutex_lock(&w->mu);
	if (!w->closing) {
		link_locked(w, c);
		rv = 0;
	}
	pthread_mutex_unlock(&w->mu);
	return rv;
}

int
gw_watch_join(gw_watch *w, struct gw_sse *c)
{
	int rv = 0;

	pthread_mutex_lock(&w->mu);
	if (c->gone || !c->linked || w->closing) {
		pthread_mutex_unlock(&w->mu);
		return -1;
	}
	pthread_mutex_lock(&c->mu);
	if (c->ended) {
		rv = -1;
	} else if (w->has_pos && c->has_pos && c->pos >= w->base) {
		feed_ring(w, c);
		c->live = true;
		rv = 1;
	}
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&w->mu);
	return rv;
}

void
gw_watch_unlink(gw_watch *w, struct gw_sse *c)
{
	pthread_mutex_lock(&w->mu);
	if (c->linked) {
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			w->clients = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		c->prev = c->next = NULL;
		c->linked = false;
		w->linked--;
	}
	c->gone = true;
	pthread_mutex_unlock(&w->mu);
}

bool
gw_watch_closing(gw_watch *w)
{
	pthread_mutex_lock(&w->mu);
	bool closing = w->closing;
	pthread_mutex_unlock(&w->mu);
	return closing;
}

uint32_t
gw_watch_bookmark_ms(const gw_watch *w)
{
	return w->cfg.bookmark_ms;
}

size_t
gw_watch_client_buffer(const gw_watch *w)
{
	return w->cfg.client_buffer;
}

void
gw_watch_count_drop(gw_watch *w)
{
	atomic_fetch_add(&w->dropped, 1);
}

gw_backend *
gw_watch_backend(gw_watch *w)
{
	pthread_mutex_lock(&w->mu);
	gw_backend *be = w->be;
	pthread_mutex_unlock(&w->mu);
	return be;
}

bool
gw_watch_position(gw_watch *w, uint64_t *rev)
{
	pthread_mutex_lock(&w->mu);
	bool has = w->has_pos;
	*rev = has ? w->pos : 0;
	pthread_mutex_unlock(&w->mu);
	return has;
}

void
gw_watch_render_metrics(gw_watch *w, gw_buf *b)
{
	char line[768];
	uint64_t pos;
	size_t ring_n;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	pos = w->pos;
	ring_n = w->n;
	pthread_mutex_unlock(&w->mu);
	snprintf(line, sizeof(line),
	    "# HELP flowsvc_gateway_watch_clients SSE clients of "
	    "/api/watch/ now.\n"
	    "# TYPE flowsvc_gateway_watch_clients gauge\n"
	    "flowsvc_gateway_watch_clients %u\n",
	    atomic_load(&w->admitted));
	gw_buf_puts(b, line);
	snprintf(line, sizeof(line),
	    "# HELP flowsvc_gateway_watch_events_total Changes the upstream "
	    "watch received.\n"
	    "# TYPE flowsvc_gateway_watch_events_total counter\n"
	    "flowsvc_gateway_watch_events_total %" PRIu64 "\n",
	    (uint64_t) atomic_load(&w->events));
	gw_buf_puts(b, line);
	snprintf(line, sizeof(line),
	    "# HELP flowsvc_gateway_watch_dropped_total SSE clients dropped "
	    "for falling behind.\n"
	    "# TYPE flowsvc_gateway_watch_dropped_total counter\n"
	    "flowsvc_gateway_watch_dropped_total %" PRIu64 "\n",
	    (uint64_t) atomic_load(&w->dropped));
	gw_buf_puts(b, line);
	snprintf(line, sizeof(line),
	    "# HELP flowsvc_gateway_watch_revision Revision the upstream "
	    "watch is complete up to.\n"
	    "# TYPE flowsvc_gateway_watch_revision gauge\n"
	    "flowsvc_gateway_watch_revision %" PRIu64 "\n"
	    "# HELP flowsvc_gateway_watch_ring_events Events in the ring.\n"
	    "# TYPE flowsvc_gateway_watch_ring_events gauge\n"
	    "flowsvc_gateway_watch_ring_events %zu\n"
	    "# HELP flowsvc_gateway_watch_moves_total Times the upstream "
	    "watch moved to another backend.\n"
	    "# TYPE flowsvc_gateway_watch_moves_total counter\n"
	    "flowsvc_gateway_watch_moves_total %" PRIu64 "\n",
	    pos, ring_n, (uint64_t) atomic_load(&w->moves));
	gw_buf_puts(b, line);
}
