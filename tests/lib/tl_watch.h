/*
 * tl_watch.h - RPC calls for the tests of revisions and Watch: changes
 * that say the revision they took (Reply.revision), one Watch call, the
 * backend's current revision, and a watch loop (fs_watch_start) that
 * records every event it is handed.
 *
 * No CUnit here: safe from any thread. Each call returns its fs_code.
 */
#ifndef TESTS_TL_WATCH_H
#define TESTS_TL_WATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "fs_rpc.h"
#include "fs_util.h"

/* Creates name (kind, group; NULL: the default) using flows (n of them)
 * as who (NULL: trusted). id (optional) gets its id, *rev (optional)
 * the revision the change took. */
int fs_tw_create(fs_client *c, int kind, const char *name, const char *group,
    const char *const *flows, size_t n, const Flowsvc__Caller *who,
    char id[FS_UUID_STRLEN + 1], uint64_t *rev);

/* Sets id's output_fields to the one item out_field. */
int fs_tw_update(fs_client *c, const char *id, const char *out_field,
    uint64_t *rev);

/* Sets id's flows to flows (n of them). */
int fs_tw_set_flows(fs_client *c, const char *id, const char *const *flows,
    size_t n, uint64_t *rev);

/* Delete, Deploy, Start or Stop of id. */
int
fs_tw_change(fs_client *c, Flowsvc__Method m, const char *id, uint64_t *rev);

/* Any call; *rev (optional) gets Reply.revision, 0 when absent. */
int fs_tw_call(fs_client *c, Flowsvc__Method m, const ProtobufCMessage *req,
    const Flowsvc__Caller *who, const ProtobufCMessageDescriptor *desc,
    ProtobufCMessage **out, uint64_t *rev);

/* The backend's revision (Health). 0 when the call failed. */
uint64_t fs_tw_revision(fs_client *c);

/* Watch calls waiting in the backend now (Stats.watches); -1 when the
 * call failed. */
int64_t fs_tw_parked(fs_client *c);

/* Polls until at least n watches wait, at most timeout_ms. Returns 0, or
 * -1 when they never did. */
int fs_tw_wait_parked(fs_client *c, int64_t n, int timeout_ms);

/* Outcomes of asynchronous calls (fs_client_call_async), counted by
 * fs_tw_on_reply (any method) or fs_tw_on_watch (Watch: also what the
 * OK answers held). Zero it before the calls. */
typedef struct fs_tw_outcomes {
	atomic_int done, ok, exhausted, unavailable;
	atomic_int events;         /* fs_tw_on_watch: in the OK answers */
	_Atomic uint64_t revision; /* fs_tw_on_watch: the last OK answer's */
} fs_tw_outcomes;

/* fs_call_cb for any call: counts its outcome in arg (fs_tw_outcomes). */
void fs_tw_on_reply(void *arg, int code, Flowsvc__Reply *reply);
/* The same for a Watch, whose OK answers' events and revision it notes. */
void fs_tw_on_watch(void *arg, int code, Flowsvc__Reply *reply);

/* Starts n watches on c from since in group (NULL: all), waiting
 * wait_ms, at most max_events each (0: the default), counted in o by
 * fs_tw_on_watch. Returns how many started. */
int fs_tw_park(fs_client *c, int n, uint64_t since, const char *group,
    uint32_t wait_ms, uint32_t max_events, fs_tw_outcomes *o);

/* Polls until at least n of o's calls ended, at most timeout_ms. Returns
 * 0, or -1 when they did not. */
int fs_tw_wait_done(fs_tw_outcomes *o, int n, int timeout_ms);

/* One Watch call (fs_client_watch): since (has_since 0: from now), kind
 * (0: both), group (NULL: all), wait_ms, max_events (0: default), as who.
 * *out gets the batch on FS_OK; *reply (optional) the reply. */
int fs_tw_watch(fs_client *c, int has_since, uint64_t since, int kind,
    const char *group, uint32_t wait_ms, uint32_t max_events,
    const Flowsvc__Caller *who, Flowsvc__WatchReply **out,
    Flowsvc__Reply **reply);

/* One event as a loop saw it. */
typedef struct fs_tw_event {
	uint64_t revision;
	int type;
	int status;
	char id[FS_UUID_STRLEN + 1];
	int64_t version;
} fs_tw_event;

/* A watch loop that records what it is handed. */
typedef struct fs_tw_loop {
	fs_watch *w;
	pthread_mutex_t mtx;
	fs_tw_event *ev; /* in the order delivered */
	size_t n, cap;
	uint64_t pos; /* last progress */
	int retries;
	int ended, code; /* done */
	uint64_t oldest; /* done's reply */
} fs_tw_loop;

/* Starts a loop on c from since (has_since 0: from now) with wait_ms per
 * call. Returns 0 or the code. */
int fs_tw_loop_start(fs_tw_loop *l, fs_client *c, int has_since,
    uint64_t since, uint32_t wait_ms);
/* The same with a group filter (NULL: every group). */
int fs_tw_loop_start_group(fs_tw_loop *l, fs_client *c, int has_since,
    uint64_t since, uint32_t wait_ms, const char *group);

/* The loop's position (progress), its event count. */
uint64_t fs_tw_loop_pos(fs_tw_loop *l);
size_t fs_tw_loop_count(fs_tw_loop *l);

/* Waits until the loop's position reaches rev or it ended, at most
 * timeout_ms. Returns 0 when it got there. */
int fs_tw_loop_wait(fs_tw_loop *l, uint64_t rev, int timeout_ms);

/* Stops it (fs_watch_stop); the events stay until fs_tw_loop_free. */
int fs_tw_loop_stop(fs_tw_loop *l);
void fs_tw_loop_free(fs_tw_loop *l);

#endif
