/*
 * fs_rpc_client_int.h - what the two halves of the RPC client share:
 * fs_rpc_client.c (calls: contexts, the in-flight cap, envelopes, nng's
 * errors) and fs_rpc_coalesce.c (batching concurrent calls, by the method
 * table). Not part of fs_rpc.h's interface.
 */
#ifndef PROTO_FS_RPC_CLIENT_INT_H
#define PROTO_FS_RPC_CLIENT_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "fs_rpc.h"

typedef struct fs_call fs_call;

/* Coalescing lanes: a batch holds the calls of one lane only. Reads never
 * share a batch with changes, whose reply waits for the disk when the
 * backend syncs every change; and each lane has its own slots, so a slow
 * batch of changes does not hold reads back (nor the reverse). */
enum fs_lane_id { LANE_READ, LANE_WRITE, LANE_COUNT };

/* A lane: its slots (calls or batches in flight, at most a limit) and
 * the calls waiting for one. A client has one of each kind; a spread
 * (fs_spread_open) has one read lane over several clients, and chooses
 * the client of each batch when it sends it. */
struct fs_lane {
	nng_mtx *mtx;      /* guards inflight and the queue: the owner's */
	int id;            /* enum fs_lane_id */
	fs_client *client; /* the client that sends; NULL: a spread's */
	struct fs_spread *spread; /* the spread whose lane this is, or NULL */
	int inflight; /* single calls and batches of this lane in flight */
	struct fs_item *queue, **queue_tail; /* waiting for a slot */
};

struct fs_client {
	nng_socket sock;
	nng_mtx *mtx;
	nng_cv *cv;
	fs_call *free; /* idle calls (mtx) */
	fs_call *all;  /* every call ever made, for close (mtx) */
	int busy; /* calls in flight, at most FS_CLIENT_MAX_INFLIGHT (mtx) */
	int nblocking; /* long polls in flight, not counted in busy (mtx) */
	/* Calls made while busy was at the limit, in order (mtx): each call
	 * that finishes starts the next. A backend serves a connection only
	 * so many requests at once (--max-inflight-per-conn, the same
	 * default); a client that sent more would see the rest dropped. */
	struct fs_pending *pend, **pend_tail;
	/* Fails waiting calls at their deadline (one timer for the client,
	 * set for the nearest one; mtx). Armed: sleeping or about to run. */
	nng_aio *timer;
	bool timer_armed;
	nng_time timer_at;
	atomic_int pipes; /* connected backends */
	/* Coalescing: at most `coalesce` batchable calls (or batches) of
	 * each lane in flight (lanes: mtx); calls of a lane arriving
	 * meanwhile queue and go out together as one BATCH when one of its
	 * slots frees. 0: off. */
	atomic_int coalesce;
	bool closing; /* set before nng_close: start nothing new (mtx) */
	struct fs_client_tlsset *tls; /* for every dial; NULL: plain */
	struct fs_lane lanes[LANE_COUNT];
	/* Read your writes (fs_client_set_read_your_writes): the highest
	 * Reply.revision seen, sent as min_revision with every read. */
	_Atomic uint64_t seen_rev;
	atomic_int ryw;
};

/* Notes reply's revision (and, for a Batch, its members') in c. */
void fs_client_note_revision(fs_client *c, const Flowsvc__Reply *reply);

/* The min_revision a call of method carries: for a read, the highest
 * revision c has seen when read-your-writes is on; else 0. */
uint64_t fs_client_min_revision(fs_client *c, Flowsvc__Method method,
    const fs_call_opts *opts);

/* The one mapping of nng's errors to fs codes. A deadline that passed is
 * DEADLINE_EXCEEDED; memory is RESOURCE_EXHAUSTED; an address nng cannot
 * use (bad syntax, unknown scheme) is INVALID_ARGUMENT; anything else
 * (closed, cancelled by a lost connection, refused) means no backend
 * answered: UNAVAILABLE. */
int fs_code_of_nng(int rv);

/* Packs env into a new nng message. Returns FS_OK, FS_INVALID_ARGUMENT
 * (over the message limit) or FS_RESOURCE_EXHAUSTED. */
int fs_env_msg(const Flowsvc__Request *env, nng_msg **out);

/* Packs the envelope of a call of method with req and opts, its deadline
 * timeout_ms from now, into a new nng message. Returns as fs_env_msg. */
int fs_envelope_pack(nng_msg **out, Flowsvc__Method method,
    const ProtobufCMessage *req, const fs_call_opts *opts, uint32_t timeout_ms,
    uint64_t min_revision);

/* The time a call of method may take: its timeout (opts, or the
 * default), plus, for a long poll, how long it asks the backend to wait
 * (WatchRequest.wait_ms), so that a wait is never taken for a lost
 * reply. */
uint32_t fs_call_timeout(Flowsvc__Method method, const ProtobufCMessage *req,
    const fs_call_opts *opts);

/* Starts one call of an already packed envelope, or queues it while
 * FS_CLIENT_MAX_INFLIGHT calls are in flight. Returns 0 (cb will run) or
 * an fs_code (cb will not run; msg is freed). */
int fs_call_start(fs_client *c, nng_msg *msg, uint32_t timeout_ms,
    fs_call_cb cb, void *arg);

/* Starts one call of a long poll (a method marked FS_M_BLOCKS) at once,
 * outside the FS_CLIENT_MAX_INFLIGHT cap and coalescing: the backend
 * counts long polls apart from its per-connection cap, and one may wait a
 * minute. *handle (optional) names the call for fs_call_cancel until its
 * callback has returned. Returns as fs_call_start. */
int fs_call_start_blocking(fs_client *c, nng_msg *msg, uint32_t timeout_ms,
    fs_call_cb cb, void *arg, fs_call **handle);

/* Ends a call in flight now (its callback gets UNAVAILABLE, or its reply
 * if that came first). Only while its callback has not returned. */
void fs_call_cancel(fs_call *call);

/* ---- fs_rpc_coalesce.c -------------------------------------------------- */

/* The lane of a call that may be batched (enum fs_lane_id), or -1 for one
 * that is sent at once on its own context. */
int
fs_coalesce_lane(Flowsvc__Method m, const ProtobufCMessage *req, size_t len);

/* Sets up c's lanes (at open). */
void fs_coalesce_init(fs_client *c);

/* Sends msg (a call of lane) on a free slot of its lane, or queues it to
 * go out in the lane's next batch; min_rev is the min_revision its
 * envelope carries, which the batch's own must cover. Coalescing is on.
 * Returns as fs_call_start. */
int fs_coalesce_call(fs_client *c, int lane, nng_msg *msg, uint32_t timeout_ms,
    uint64_t min_rev, fs_call_cb cb, void *arg);

/* ---- fs_rpc_spread.c: what a spread's lane asks of its spread -------- */

/* A call or batch a spread sent on one of its slots, watched until it is
 * answered: past the hedge time its slot is given back. */
struct fs_flight {
	struct fs_flight *next; /* the spread's flights out (its mtx) */
	nng_time sent_at;
	int idx;         /* the client it went to */
	bool holds_slot; /* false once the hedge took its slot back */
	bool batch;      /* a batch (else one call on a slot) */
	bool resent;     /* its calls were given back to the lane */
};

/* The calls of flight f (a spread's, out past the hedge; the spread's
 * lock held), to be sent again elsewhere: a batch's members (the batch,
 * when it is answered, has none left to answer), or a copy of a call on
 * its own (whose own answer is then dropped). NULL: nothing to send
 * again (no copy of the call was kept). */
struct fs_item *fs_flight_take(struct fs_flight *f);

/* List a followed by list b. */
struct fs_item *fs_items_append(struct fs_item *a, struct fs_item *b);

/* Puts items (a list) back at the head of l's queue, in order. */
void fs_lane_requeue(struct fs_lane *l, struct fs_item *items);

/* The lane's limit: the spread's max_inflight. */
int fs_spread_limit(struct fs_spread *s);

/* The client the next batch or call goes to (*c), and its index; -1 when
 * there is none (closing, or pick() found none). */
int fs_spread_target(struct fs_spread *s, fs_client **c);

/* Starts msg on client idx (as fs_call_start), watched as f from now on.
 * The spread's lock is held across the start, so the callback, which
 * ends with fs_spread_back, cannot run before f is watched. Returns as
 * fs_call_start; on failure f is not watched and the slot still held. */
int fs_spread_start(struct fs_spread *s, struct fs_flight *f, int idx,
    fs_client *c, nng_msg *msg, uint32_t timeout_ms, fs_call_cb cb, void *arg);

/* f was answered (or failed): no longer watched; tells the spread's done
 * callback. Returns whether it still held its slot (else the hedge gave
 * it back already). */
bool fs_spread_back(struct fs_spread *s, struct fs_flight *f, int code,
    const Flowsvc__Reply *reply);

/* Notes a reply's revision as seen by the spread. */
void fs_spread_note(struct fs_spread *s, const Flowsvc__Reply *reply);

/* Sets up a spread's read lane (mtx: the spread's). */
void fs_lane_init_spread(struct fs_lane *l, struct fs_spread *s, nng_mtx *mtx);

/* Sends msg on a slot of lane l, or queues it (fs_coalesce_call). */
int fs_lane_call(struct fs_lane *l, nng_msg *msg, uint32_t timeout_ms,
    uint64_t min_rev, fs_call_cb cb, void *arg);

/* A slot of l was given back from outside (the hedge): sends what waits,
 * when a slot is free. */
void fs_lane_kick(struct fs_lane *l);

/* Fails every call waiting in l (closing). */
void fs_lane_fail_queue(struct fs_lane *l, int code);

#endif
