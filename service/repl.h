/*
 * repl.h - backend replicas (CONTRACT §8).
 *
 * Serving (repl_serve.c), on every backend with a data directory:
 * Replicate answers the change records after a revision as its change
 * log holds them (read with the log reader, each with its revision and
 * term), as a long poll; SnapshotFetch streams its newest snapshot file in
 * chunks. A follower's calls hold the logs it still needs (retention),
 * for a while after its last call.
 *
 * Following (repl_follow.c), on a replica: a thread calls Replicate on
 * the backend it follows and applies each record through the write path
 * (svc_apply_replicated), so its own log and snapshots have the same
 * revisions and terms; changes sent to the replica are forwarded there
 * and answered with its answer.
 *
 * Bootstrapping (repl_boot.c): a new replica, one too far behind what
 * its primary keeps, or one that holds changes its primary does not,
 * replaces its data directory's files with the primary's snapshot before
 * it loads (the program restarts itself for that: main.c).
 */
#ifndef SERVICE_REPL_H
#define SERVICE_REPL_H

#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "fs_rpc.h"
#include "fs_rpc_server.h"
#include "svc.h"

/* Defaults and limits of ReplicateRequest and SnapshotFetchRequest. */
#define REPL_WAIT_MAX_MS 60000u
#define REPL_BYTES_DEFAULT (4u << 20)
#define REPL_BYTES_MAX (8u << 20)
#define REPL_CHUNK_DEFAULT (1u << 20)
#define REPL_CHUNK_MAX (4u << 20)
#define REPL_SESSIONS_MAX 8
#define REPL_SESSION_IDLE_MS 30000
#define REPL_HOLD_IDLE_MS 300000 /* a follower's hold on the logs */
#define REPL_FOLLOWERS_MAX 64

/* ---- serving -------------------------------------------------------------- */

typedef struct repl_srv repl_srv;

/* FS_OK or FS_RESOURCE_EXHAUSTED. */
int repl_srv_new(repl_srv **out, svc *s);
/* Releases the holds and closes the sessions. After the server closed. */
void repl_srv_free(repl_srv *r);

/* Serves a Replicate call (the envelope req): answers it now or, when
 * nothing follows its revision yet, later from the waiter thread. */
void repl_replicate_handle(repl_srv *r, fs_srv_call *call,
    const Flowsvc__Request *req);

/* Replicate without waiting (wait_ms taken as 0): the answer in out. */
void repl_replicate_now(repl_srv *r, const Flowsvc__Request *env,
    const Flowsvc__ReplicateRequest *m, svc_reply *out);

/* The SnapshotFetch handler. */
void repl_snapshot_fetch(repl_srv *r, const Flowsvc__SnapshotFetchRequest *m,
    svc_reply *out);

/* Followers heard from in the last REPL_HOLD_IDLE_MS. */
size_t repl_srv_followers(repl_srv *r);

/* ---- following -------------------------------------------------------------- */

typedef struct repl_follow repl_follow;

typedef struct repl_follow_opts {
	const char *url;
	const fs_client_tls *tls; /* NULL: plain */
	const char *name;         /* ReplicateRequest.follower */
	void (*rebootstrap)(void *arg);
	void *arg;
	uint64_t bootstraps; /* for repl_status */
} repl_follow_opts;

/* Opens the clients (no thread yet). Returns 0, or -1 with err. */
int repl_follow_new(repl_follow **out, svc *s, const repl_follow_opts *o,
    char *err, size_t n);
/* Starts the thread. 0 or -1. */
int repl_follow_start(repl_follow *f);
/* Stops the thread (no record is applied after it returns); forwarding
 * goes on. Idempotent; NULL: no-op. */
void repl_follow_stop(repl_follow *f);
/* Stops, then closes the clients (forwarded calls still in flight end
 * first) and frees. NULL: no-op. */
void repl_follow_free(repl_follow *f);

/* Forwards req (a change, or a Batch holding one) to the backend
 * followed; call is answered with its answer, or UNAVAILABLE when none
 * comes within the request's deadline. */
void
repl_forward(repl_follow *f, fs_srv_call *call, const Flowsvc__Request *req);

typedef struct repl_status {
	const char *primary;       /* the URL followed */
	uint64_t primary_revision; /* as last heard */
	uint64_t lag_revisions, lag_ms;
	uint64_t forwarded, records, bootstraps;
} repl_status;
void repl_follow_status(repl_follow *f, repl_status *st);

/* ---- bootstrapping ---------------------------------------------------------- */

/* Copies the snapshot of the backend at url into dir (created if
 * missing; locked meanwhile) and makes it the directory's state: the
 * snapshot and an empty log of a new generation, the backend's term
 * history; every older snapshot and log removed. A backend with no
 * snapshot file leaves dir empty (the replica follows from revision 0).
 * Returns 0, or -1 with a one-line reason in why (dir is then as it
 * was, unless it says otherwise). */
int repl_bootstrap(const char *dir, const char *url, const fs_client_tls *tls,
    char *why, size_t n);

#endif
