/*
 * tl_ssefollow.h - an SSE client on a thread of its own that follows
 * GET /api/watch/?since=N as a browser's EventSource does: it reads the
 * stream, and when the stream ends, cannot be opened or is refused, it
 * opens it again with Last-Event-ID set to the last id it saw (an
 * event's or a bookmark's). It records every event other than a
 * bookmark, and counts the reconnections, the streams that ended and the
 * answers other than 200.
 *
 * No CUnit here. The accessors may be called from any thread while it
 * runs; ev and the counters may be read directly once it is stopped.
 */
#ifndef TESTS_TL_SSEFOLLOW_H
#define TESTS_TL_SSEFOLLOW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fs_util.h"

/* One event as the client saw it. */
typedef struct fs_sse_seen {
	uint64_t revision;           /* its id */
	char type[32];               /* its event: name */
	char id[FS_UUID_STRLEN + 1]; /* data.component.id ("" if none) */
	int64_t version;             /* data.component.version */
} fs_sse_seen;

typedef struct fs_sse_follow {
	int port;
	uint64_t since;
	pthread_mutex_t mu;
	fs_sse_seen *ev; /* in the order delivered */
	size_t n, cap;
	uint64_t last;  /* the last id seen: an event's or a bookmark's */
	int reconnects; /* streams opened after the first (any answer) */
	int ends;       /* streams that ended */
	int refused;    /* answers other than 200 */
	int status;     /* the last refusal's */
	atomic_int stop;
	pthread_t th;
	int inited, running;
} fs_sse_follow;

/* Starts following 127.0.0.1:port from since (also the first
 * Last-Event-ID, sent from the first reconnection on). f may hold
 * anything before. Returns 0, or -1 (f is then as after
 * fs_sse_follow_free). */
int fs_sse_follow_start(fs_sse_follow *f, int port, uint64_t since);

/* The last id seen, the count of events recorded, and the streams that
 * ended plus the answers other than 200. */
uint64_t fs_sse_follow_last(fs_sse_follow *f);
size_t fs_sse_follow_count(fs_sse_follow *f);
int fs_sse_follow_breaks(fs_sse_follow *f);

/* Waits until the client has seen rev (an event's or a bookmark's id),
 * for at most ms. Returns 0 when it has. */
int fs_sse_follow_wait(fs_sse_follow *f, uint64_t rev, int ms);

/* Stops the thread (once; again is a no-op); what it saw stays until
 * fs_sse_follow_free. */
void fs_sse_follow_stop(fs_sse_follow *f);

/* Stops it if it runs and frees what it recorded. Safe on a zeroed f. */
void fs_sse_follow_free(fs_sse_follow *f);

#endif
