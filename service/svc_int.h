/*
 * svc_int.h - what the modules of the service share, behind svc.h: the
 * handler signature, the store's lock and the single write path, and the
 * helpers that build replies. Not part of the service's interface: only
 * service/svc*.c and batch.c include it.
 *
 * How a request travels: svc_dispatch (svc.c) looks its method up in the
 * handler table, decodes the method's request message with the
 * descriptor of FS_METHOD_TABLE (fs_methods.h), and calls the handler
 * with it: reads in svc_read.c, changes in svc_change.c, Batch in batch.c,
 * the service's own methods (Health, Stats, Snapshot) in svc.c,
 * replication's (Replicate, SnapshotFetch, Promote) in svc_repl.c. A handler
 * finds components through access.h (so a hidden one answers as absent),
 * takes the store's lock through the functions below, sends every change
 * through svc_commit, and fills its svc_reply with the svc_reply_
 * helpers.
 */
#ifndef SERVICE_SVC_INT_H
#define SERVICE_SVC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "store.h"
#include "svc.h"

/* One request as a handler gets it. */
typedef struct svc_req {
	const Flowsvc__Request *env; /* the envelope */
	const Flowsvc__Caller *who;  /* env->caller: see access.h */
	/* The method's request message (its type is the table's request
	 * descriptor; all defaults when the envelope has no payload).
	 * Borrowed: freed once the handler returns. */
	const void *msg;
	/* The most payload bytes the reply may carry (see
	 * svc_dispatch_budget). */
	size_t budget;
} svc_req;

/* A method's handler: fills r (zeroed on entry). Returns 1 when its
 * result did not fit q->budget (it then answers RESOURCE_EXHAUSTED), else
 * 0. */
typedef int svc_handler(svc *s, const svc_req *q, svc_reply *r);

/* The handlers of svc.c's table, by module (batch.h declares BATCH's). */
svc_handler svc_read_get, svc_read_list, svc_read_status, svc_watch_now;
svc_handler svc_change_create, svc_change_update, svc_change_delete,
    svc_change_status;

/* ---- the store and its lock (svc.c) ------------------------------------
 * Reads hold the lock shared while they copy their reply out; a change
 * holds it exclusively from its checks against the store through
 * svc_commit, so no check goes stale before its change is applied. */
store *svc_store(svc *s);
struct listview_set *svc_views(svc *s);

/* Notes in r the revision of the store as it is (Reply.revision of a
 * read): with the store's lock held, the one the data read reflects. */
void svc_note_revision(svc *s, svc_reply *r);

/* The Watch history (svc_watch.h). */
struct svc_watch *svc_watcher(svc *s);

void svc_read_lock(svc *s);
void svc_write_lock(svc *s);
void svc_unlock(svc *s);

/* The component named by id and kind (has_kind 0: either kind), visible
 * to the caller (access_lookup), or NULL after answering NOT_FOUND. The
 * store's lock held. */
store_comp *svc_find(svc *s, const svc_req *q, svc_reply *r, const char *id,
    protobuf_c_boolean has_kind, Flowsvc__Kind kind);

/* The answer of a change, built before the change is committed: building
 * it may fail for memory, handing it to the reply (svc_answer_take, done
 * by svc_commit) cannot, so a change that is made is always answered. */
typedef struct svc_answer {
	uint8_t *payload; /* the reply message, packed; owned */
	size_t len;
} svc_answer;

/* m packed. Returns FS_OK or FS_RESOURCE_EXHAUSTED. */
int svc_answer_msg(svc_answer *a, const ProtobufCMessage *m);

/* ComponentReply{m as who may see it}: m is the component as it will be
 * stored; its flows are looked up in st to leave out the ones who cannot
 * see. Returns FS_OK or FS_RESOURCE_EXHAUSTED. Store lock held. */
int svc_answer_component(svc_answer *a, const store *st,
    const Flowsvc__Caller *who, const Flowsvc__Component *m);

/* Moves a's payload into r, answering OK. */
void svc_answer_take(svc_answer *a, svc_reply *r);
void svc_answer_fini(svc_answer *a);

/* Logs rec and applies it: the write path of every change. Write lock
 * held; the caller has validated rec against the store, so only memory or
 * the disk can still refuse it, and then neither the log nor the store
 * has it. On FS_OK, r answers OK with a's payload; either way a is
 * consumed. With fsync "always", r->ticket makes the reply wait for the
 * sync. Returns an fs_code; on failure r holds the error (a change the log
 * cannot take says why). */
int
svc_commit(svc *s, const Flowsvc__LogRecord *rec, svc_answer *a, svc_reply *r);

/* ---- replication (CONTRACT §8) -----------------------------------------
 * A backend is a primary or a replica (svc_role). A primary takes
 * changes while it knows of no higher term than its own
 * (svc_accepts_changes, under the store's lock); a replica applies the
 * records of the backend it follows (svc_apply_replicated) and forwards
 * changes sent to it (repl_follow.h). */
enum svc_role { SVC_PRIMARY, SVC_REPLICA };

/* Followers replaced at run time kept until svc_close (svc_follow_url). */
#define SVC_RETIRED_MAX 64

struct terms;
struct svc_waiter;
struct persist;
uint64_t svc_revision(svc *s);
struct persist *svc_disk(svc *s);
struct terms *svc_terms(svc *s);
struct svc_waiter *svc_waiters(svc *s);
int svc_role(svc *s);
/* 1 when changes wait for followers' acknowledgements (--sync-replicas):
 * Replicate answers ask followers to acknowledge before asking again. */
int svc_sync_acks(svc *s);
int svc_accepts_changes(svc *s);

/* Applies one packed LogRecord of the primary (b, len: as its log holds
 * it, with its revision and term) through the write path: it must be the
 * next revision. Takes the write lock. Returns FS_OK, or a code with the
 * reason in why: FS_FAILED_PRECONDITION (not the next revision, or no
 * longer a replica), FS_DATA_LOSS (undecodable, or does not fit the
 * store), FS_UNAVAILABLE (the log cannot take it), FS_RESOURCE_EXHAUSTED. */
int svc_apply_replicated(svc *s, const uint8_t *b, size_t len, char *why,
    size_t n);

/* svc_apply_replicated for n records in order, taking the write lock
 * once per few hundred; stops at the first that fails (its code and why;
 * *done says how many were applied). */
int svc_apply_replicated_n(svc *s, const ProtobufCBinaryData *recs, size_t n,
    size_t *done, char *why, size_t wn);

/* Counts one answered request of method with code (Stats.requests), for
 * the requests answered outside svc_dispatch (forwarded, Replicate). */
void svc_count(svc *s, int method, int code);

/* Notes a term heard of (a request or an answer); a primary that hears of
 * a higher term than its own stops taking changes (logged). */
void svc_learn_term(svc *s, uint64_t term, const char *from);

/* ---- replies (svc_reply.c) ---------------------------------------------- */

/* Sets r's code and, when fmt is not NULL, its message (else the code's
 * default). */
void svc_reply_err(svc_reply *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* RESOURCE_EXHAUSTED "Out of memory.": the answer to every failed
 * allocation. */
void svc_reply_oom(svc_reply *r);

/* OK with m packed as the payload (or out of memory). */
void svc_reply_msg(svc_reply *r, const ProtobufCMessage *m);

/* OK with an Empty payload. */
void svc_reply_empty(svc_reply *r);

/* When r->v holds violations: INVALID_ARGUMENT, or ALREADY_EXISTS when
 * the only one is a taken name (taken), and returns 1; else returns 0.
 * A failed append answers out of memory (1). */
int svc_reply_viol(svc_reply *r, int taken);

/* OK with ComponentReply{c as who may see it} (or out of memory). */
void svc_reply_component(svc_reply *r, const Flowsvc__Caller *who,
    const store_comp *c);

/* OK with StatusReply{c's status} (or out of memory). */
void svc_reply_status(svc_reply *r, const store_comp *c);

/* Fills rep from r for the wire, borrowing r's message (or the code's
 * default), violations and payload: valid while r is. */
void svc_reply_wire(const svc_reply *r, Flowsvc__Reply *rep);

/* The `kind` filter or field of a request: FLOW or APP, else a violation
 * answered INVALID_ARGUMENT ("Must be FLOW or APP.") and 0. */
int svc_reply_kind_ok(svc_reply *r, int kind);

#endif
