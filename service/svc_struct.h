/*
 * svc_struct.h - the service object's fields, for the two files that
 * make it: svc.c (open and close, the write path, dispatch) and
 * svc_repl.c (its part in replication). Nothing else includes it: the
 * other modules go through svc_int.h's functions.
 */
#ifndef SERVICE_SVC_STRUCT_H
#define SERVICE_SVC_STRUCT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "fs_errors.h"
#include "fs_log.h"
#include "fs_methods.h"
#include "persist.h"
#include "repl.h"
#include "repl_sync.h"
#include "svc.h"
#include "svc_wait.h"
#include "svc_watch.h"
#include "terms.h"

struct svc {
	pthread_rwlock_t lock;
	store *st;
	persist *disk;              /* NULL: memory only */
	struct listview_set *views; /* paged lists in progress */
	/* The revision of the last change applied: the log's, or without a
	 * data directory a count of its own. Written under the write lock;
	 * read under the lock (a read's Reply.revision) or not (Health). */
	_Atomic uint64_t revision;
	svc_watch *watch; /* the change history Watch serves */
	int64_t started_us;
	int access_log;
	/* Requests served, by method and code (relaxed atomics). */
	_Atomic uint64_t counts[FS_METHOD_LIMIT][FS_CODE_COUNT];

	/* Replication (CONTRACT §8). role changes under the write lock (a
	 * promotion); the term history has a mutex of its own. */
	_Atomic int role;   /* enum svc_role */
	terms *terms;       /* the term history */
	svc_waiter *waiter; /* reads behind min_revision, Replicate polls */
	repl_srv *rsrv;     /* serving Replicate and SnapshotFetch */
	/* A replica's (kept after a promotion). Replaced at run time by
	 * svc_follow_url (a coordinated backend): read without a lock, so
	 * the ones replaced are kept (retired, stopped) until svc_close, as
	 * forwarded calls and readers may still hold them. */
	repl_follow *_Atomic follow;
	repl_follow *retired[SVC_RETIRED_MAX];
	size_t nretired;
	pthread_mutex_t follow_mu; /* svc_follow_url calls, retired */
	svc_opts o;                /* for svc_follow */

	/* Automatic failover (CONTRACT §9, coord.h). A coordinated primary
	 * takes changes only until lease_until (svc_mono_ms), which its
	 * coordinator moves on with every renewal of its lease: so it stops
	 * by itself when renewals stop coming, even if the coordinator's
	 * thread is stuck or the whole process was frozen. */
	int coordinated;
	repl_sync *sync;       /* --sync-replicas; NULL: asynchronous */
	fs_log_limit sync_log; /* its timeouts' lines */
	_Atomic int64_t lease_until;
	const char *_Atomic coord_state; /* a static string; NULL: none */
	_Atomic uint64_t won, step_downs;
};

/* svc_repl.c's, for svc.c: 1 when a replica must forward req (a change,
 * or a Batch holding one); when a request's wait must end (a little
 * before its deadline; 5 s without one). */
int svc_must_forward(const Flowsvc__Request *req);
int64_t svc_wait_end_ms(fs_srv_call *call);

/* svc_stats.c's handlers of Health and Stats, for svc.c's table. */
int svc_h_health(svc *s, const svc_req *q, svc_reply *r);
int svc_h_stats(svc *s, const svc_req *q, svc_reply *r);

/* The write path of one record (svc.c): svc_commit's for a change made
 * here (a: its answer), the replica's for a record of its primary (a
 * NULL). term: the record's. Write lock held. */
int svc_commit_record(svc *s, const Flowsvc__LogRecord *rec, uint64_t term,
    svc_answer *a, svc_reply *r);

/* Dispatches req and replies, now or once the disk says so (svc.c). */
void svc_run_call(svc *s, fs_srv_call *call, const Flowsvc__Request *req);

/* Replication's part of svc_handle (svc_repl.c): a Replicate call, a
 * change a replica forwards, a read that waits for its min_revision.
 * Returns 1 when it took the call, 0 when svc_run_call should serve it. */
int svc_repl_route(svc *s, fs_srv_call *call, const Flowsvc__Request *req);
/* A Watch carrying a min_revision this replica has not reached: waits
 * for it (within the request's deadline, else UNAVAILABLE) and then
 * serves the watch. Returns 1 when it took the call, else 0. */
int
svc_repl_wait_watch(svc *s, fs_srv_call *call, const Flowsvc__Request *req);

/* The replication fields of Health and Stats (svc_repl.c). */
void svc_repl_fields(svc *s, repl_status *rs, char **role,
    protobuf_c_boolean *has_term, uint64_t *term, char **primary,
    protobuf_c_boolean *has_lr, uint64_t *lr, protobuf_c_boolean *has_lm,
    uint64_t *lm);

/* The handlers of Replicate, SnapshotFetch and Promote (svc_repl.c). */
svc_handler svc_repl_replicate, svc_repl_snapshot_fetch, svc_repl_promote;

#endif
