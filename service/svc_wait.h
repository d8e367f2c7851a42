/*
 * svc_wait.h - calls waiting for the store to reach a revision: a read
 * with a min_revision the backend has not applied yet (read your writes,
 * CONTRACT §8), and a Replicate long poll with nothing after its
 * revision yet. Each waits, holding no context of the server's pool (its
 * call is detached) and no lock, until the store's revision reaches what
 * it waits for or its time is up; then its function runs on the waiter
 * thread. The write path tells the revision (svc_wait_notify, O(1) when
 * nobody can be woken). A call whose client's connection closes meanwhile
 * stops waiting at once (fs_srv_on_gone): its function runs with
 * SVC_WAIT_GONE and the server ends the call unanswered.
 *
 * Locks: one mutex, taken inside the server's lock of detached calls (a
 * closed connection's calls) and never held around a call into the
 * server or a function's run.
 */
#ifndef SERVICE_SVC_WAIT_H
#define SERVICE_SVC_WAIT_H

#include <stddef.h>
#include <stdint.h>

#include "fs_rpc_server.h"

typedef struct svc_waiter svc_waiter;

/* How a wait ended (svc_wait_fn's outcome). */
enum svc_wait_outcome {
	SVC_WAIT_REACHED = 0, /* the store reached the revision */
	SVC_WAIT_EXPIRED = 1, /* the time was up, or shutdown */
	/* The call's connection closed: free what arg holds and do not
	 * answer; the server ends the call. Runs under the server's lock of
	 * detached calls (see fs_srv_gone_fn): no fs_srv_ call. */
	SVC_WAIT_GONE = 2,
};

/* Runs once with an enum svc_wait_outcome. */
typedef void (*svc_wait_fn)(void *arg, int outcome);

/* FS_OK or FS_UNAVAILABLE (no thread). rev: the store's revision now. */
int svc_waiter_new(svc_waiter **out, uint64_t rev, size_t max);

/* Answers every waiting call (expired) and stops the thread. */
void svc_waiter_free(svc_waiter *w);

/* fn(arg, SVC_WAIT_REACHED) once the revision is at least want, or
 * fn(arg, SVC_WAIT_EXPIRED) at end_ms (fs_now_ms's clock). call: the
 * detached call fn answers, or NULL (none, or not detached); with one,
 * fn(arg, SVC_WAIT_GONE) instead should its connection close first.
 * Returns FS_OK (fn will run, maybe already has), FS_RESOURCE_EXHAUSTED
 * (more than max waiting, or out of memory) or FS_UNAVAILABLE (shutting
 * down, or call's connection closed already): then fn will not run. */
int svc_wait_for(svc_waiter *w, uint64_t want, int64_t end_ms, svc_wait_fn fn,
    void *arg, fs_srv_call *call);

/* The store is at rev now (write lock held, or at least in order). */
void svc_wait_notify(svc_waiter *w, uint64_t rev);

/* Answers every waiting call now (expired) and takes no more: shutdown. */
void svc_wait_quiesce(svc_waiter *w);

/* Calls waiting now. */
size_t svc_wait_count(svc_waiter *w);

#endif
