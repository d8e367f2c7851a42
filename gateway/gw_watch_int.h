/*
 * gw_watch_int.h - what the hub (gw_watch.c) and the request side
 * (gw_sse.c) share: one SSE client's state, and the hub's calls on it.
 * Nothing else includes it.
 *
 * Locks: the hub's mutex (its ring, its position, the list of clients),
 * then a client's own (its buffer and position); never the other way
 * round. MHD's content reader takes only the client's.
 */
#ifndef GATEWAY_GW_WATCH_INT_H
#define GATEWAY_GW_WATCH_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "gw_http_int.h"
#include "gw_watch.h"

/* One SSE client. Made by gw_sse_begin; freed when its last reference
 * goes: the request's, the MHD response's, a catch-up call's. */
struct gw_sse {
	pthread_mutex_t mu;
	gw_watch *w;
	gw_http *h;
	struct MHD_Connection *conn;
	int fd; /* the connection's socket, to cut off a dropped client */
	char rid[RID_MAX + 1];
	/* What it watches, fixed at the start. */
	Flowsvc__Kind kind; /* KIND_ANY: both */
	char *group;        /* NULL: every group */
	bool restricted;    /* the token names groups: caller */
	Flowsvc__Caller caller;
	/* Under the hub's mutex. */
	struct gw_sse *prev, *next;
	bool linked; /* in the hub's list: bookmarks, shutdown */
	bool gone;   /* unlinked for good */
	bool live;   /* fed by the hub (else catching up) */
	/* Under mu. */
	int refs;
	bool has_pos;
	uint64_t pos; /* every matching change up to it is in buf (or sent) */
	char *buf;
	size_t off, len, cap;
	bool waiting;     /* the reader suspended the connection */
	bool ended;       /* nothing more: the stream ends once buf is sent */
	bool dropped;     /* ended for falling behind: cut off, broken */
	bool closed;      /* the request completed: conn and fd are MHD's */
	bool fetching;    /* a catch-up call in flight */
	gw_backend *be;   /* where the last one went */
	bool paused;      /* catch-up waits for the reader to drain buf */
	uint64_t last_us; /* when bytes were last queued */
	size_t sent;      /* bytes handed to MHD */
	struct gw_req *req; /* until the first catch-up answer: the request
	                     * waiting for it (suspended) */
	uint64_t since;     /* as asked, for the 410 */
	bool has_since;
	bool head; /* HEAD: the first answer's status, no stream */
};

/* Admission: 0 and one client counted, or -1 at --watch-max-clients. */
int gw_watch_admit(gw_watch *w);
/* A client counted by gw_watch_admit is freed. */
void gw_watch_release(gw_watch *w);

/* Attaches c (new, unlinked, not locked) to the stream: with has_since,
 * from since when the ring holds it (base <= since), else from the
 * hub's position. Returns 1 when c is live (linked, pos set, the ring's
 * events after since in its buffer; *start the revision it starts
 * after), -1 when the hub is closing, 0 when the hub cannot serve it
 * (no position yet, since older than the ring or newer than the hub:
 * c must catch up by itself). */
int gw_watch_attach(gw_watch *w, struct gw_sse *c, bool has_since,
    uint64_t since, uint64_t *start);

/* Links c (catching up) into the list; returns -1 when the hub is
 * closing (the stream must not start). */
int gw_watch_link(gw_watch *w, struct gw_sse *c);

/* c, catching up and complete up to c->pos, goes live when the ring
 * reaches back to its position: returns 1 (live, the ring's later events
 * in its buffer), 0 (not yet: catch up further), -1 (c is gone or
 * ended). */
int gw_watch_join(gw_watch *w, struct gw_sse *c);

/* Takes c out of the list for good. */
void gw_watch_unlink(gw_watch *w, struct gw_sse *c);

/* Whether the hub is shutting down (no catch-up call may start). */
bool gw_watch_closing(gw_watch *w);

/* The bookmark interval and the client buffer bound. */
uint32_t gw_watch_bookmark_ms(const gw_watch *w);
size_t gw_watch_client_buffer(const gw_watch *w);

/* Counts a client dropped (/metrics). */
void gw_watch_count_drop(gw_watch *w);

/* The hub's position (0 and false before it has one). */
bool gw_watch_position(gw_watch *w, uint64_t *rev);

/* The backend the upstream watch runs on (or ran on last; NULL before
 * the first). */
gw_backend *gw_watch_backend(gw_watch *w);

/* Appends an event's frame for c to b (c NULL: for a caller who sees
 * everything): the component as the REST API renders it, with the flows
 * of groups c may not see left out. (gw_sse.c, as the rest below.) */
void
gw_sse_frame(gw_buf *b, const Flowsvc__WatchEvent *ev, const struct gw_sse *c);

/* Whether c (NULL: anyone) may see components of group. */
bool gw_sse_sees(const struct gw_sse *c, const char *group);

/* Queues n bytes on c (mu held), resuming its connection if it waits.
 * bounded: the live feed, which drops c when its buffer would pass the
 * bound (catch-up answers are paced by the reader instead). */
void gw_sse_queue(struct gw_sse *c, const char *p, size_t n, bool bounded);

/* Ends c's stream (mu held): once its buffer is sent, or at once and
 * broken when dropped. */
void gw_sse_finish(struct gw_sse *c, bool dropped);

/* Drops a reference (mu held; released here); the last frees c. */
void gw_sse_unref(struct gw_sse *c);

#endif
