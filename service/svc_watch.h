/*
 * svc_watch.h - the Watch method (CONTRACT §7): the change history, the
 * watches waiting in it, and the thread that answers them.
 *
 * The history is a ring of the last `history` events (watch.h), filled
 * by the write path (svc_commit, under the store's write lock: one
 * O(1) push and a signal) and, at start, from the change logs on disk
 * (svc_watch_rebuild). While it runs it holds the logs that cover it
 * (persist_retain), so a restart finds them.
 *
 * A Watch with something to answer is answered on the nng thread that
 * received it. One with nothing to answer yet is parked: its call is
 * detached from the server's pool of contexts (fs_srv_detach), it is
 * indexed by its group filter, and it waits, holding no lock and no
 * context of the pool. One thread (the watch thread) matches new events
 * against the parked watches, wakes the ones they concern and the ones
 * whose wait ended, and answers them, building replies outside the
 * history's mutex from references to the events.
 *
 * A parked watch whose client's connection closes is taken out and freed
 * at once (fs_srv_on_gone), unanswered: it gives its place among the
 * backend's long polls (--max-watches) back then, not when its wait
 * would have ended.
 *
 * Locks: the history's mutex (mu) guards the ring, the parked watches
 * and their indexes. It is taken inside the store's write lock by the
 * write path (briefly: a push), never the other way round; replies are
 * built with it released every few thousand events. The server takes it
 * inside its own lock of detached calls (a closed connection's watches),
 * so nothing here calls the server with mu held.
 */
#ifndef SERVICE_SVC_WATCH_H
#define SERVICE_SVC_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "fs_rpc_server.h"
#include "persist.h"
#include "store.h"
#include "svc_int.h"
#include "watch.h"

typedef struct svc_watch svc_watch;

/* Defaults and limits of WatchRequest. */
#define SVC_WATCH_HISTORY 100000
#define SVC_WATCH_WAIT_MAX_MS 60000u
#define SVC_WATCH_EVENTS_DEFAULT 1000u
#define SVC_WATCH_EVENTS_MAX 10000u

/* Called once per answered Watch (the method's counts and access line):
 * req is the envelope, code the answer's, start_us when it arrived. */
typedef void (*svc_watch_done_fn)(void *arg, const Flowsvc__Request *req,
    int code, int64_t start_us);

/* A history of `history` events (0: SVC_WATCH_HISTORY) after revision
 * base. No thread yet. FS_OK or FS_RESOURCE_EXHAUSTED. */
int svc_watch_new(svc_watch **out, size_t history, uint64_t base,
    svc_watch_done_fn done, void *done_arg);

/* Fills the history from the logs of a loaded, not yet started, data
 * directory (persist_load done, persist_start not), up to the revision
 * loaded, and holds the logs it covers from now on. st is the loaded
 * store (the groups of flows that events use). Logs are read without the
 * store's lock: nothing runs yet. Problems in logs older than the
 * snapshot are logged and only shorten the history. FS_OK or
 * FS_RESOURCE_EXHAUSTED. */
int svc_watch_rebuild(svc_watch *w, persist *disk, const store *st);

/* Starts the watch thread. FS_OK or FS_UNAVAILABLE. */
int svc_watch_start(svc_watch *w);

/* Answers every parked watch now (with what it has: its bookmark, or
 * events that just came) and parks no more: later watches are answered
 * at once. For shutdown, before the server closes. Returns once they are
 * answered. */
void svc_watch_quiesce(svc_watch *w);

/* Stops the thread, lets go of the logs, frees. */
void svc_watch_free(svc_watch *w);

/* ---- the write path (store's write lock held) --------------------------- */

/* The event of a create or update about to be committed: put is the
 * record's component, bytes its packed form, added 1 for a create. NULL
 * when out of memory. */
watch_event *
svc_watch_event_put(const store *st, const Flowsvc__StoredComponent *put,
    const uint8_t *bytes, uint32_t len, int added, uint64_t revision);

/* The event of a delete (type DELETED, c as it is) or a status change
 * (type STATUS, status the new one) of c. NULL when out of memory. */
watch_event *svc_watch_event_of(const store *st, const store_comp *c, int type,
    int status, uint64_t revision);

/* Adds ev, committed, to the history (takes the reference) and wakes the
 * watch thread. O(1). */
void svc_watch_publish(svc_watch *w, watch_event *ev);

/* ---- the method ---------------------------------------------------------- */

/* Serves a Watch call (the envelope req, decoded by the server): answers
 * it, now or later. Runs on the nng thread that received it. */
void svc_watch_handle(svc_watch *w, fs_srv_call *call,
    const Flowsvc__Request *req, int64_t start_us);

/* svc_watch_now (svc_int.h), the handler of svc.c's table, answers a
 * Watch without waiting (wait_ms taken as 0): what a dispatch outside the
 * server (tests, fuzzing) gets. */

/* Watches parked now. */
size_t svc_watch_parked(svc_watch *w);

#endif
