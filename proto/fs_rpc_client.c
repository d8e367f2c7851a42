/*
 * fs_rpc_client.c - REQ side of the transport.
 *
 * A call owns one nng context and one aio for its whole life: send the
 * envelope, then receive the reply on the same context. Finished calls go
 * back on a free list, so a busy client opens contexts only until it reaches
 * its peak concurrency. The number of connected pipes is tracked through
 * pipe notifications: with none, a call fails at once with UNAVAILABLE
 * instead of queueing until its deadline.
 */
#include "fs_rpc.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "fs_errors.h"
#include "fs_methods.h"
#include "fs_pbwire.h"
#include "fs_util.h"

/* How long fs_client_open waits for the first connection: long enough for a
 * local backend to accept, short enough not to matter when it is down. */
#define FS_CLIENT_CONNECT_GRACE_MS 250

enum fs_call_state { CALL_IDLE, CALL_SEND, CALL_RECV };

typedef struct fs_call fs_call;
struct fs_call {
	fs_client *client;
	nng_ctx ctx;
	nng_aio *aio;
	_Atomic int state; /* enum fs_call_state; read by the pipe callback */
	nng_time deadline; /* nng clock, for the receive timeout */
	fs_call_cb cb;
	void *arg;
	fs_call *next; /* free list, and the list of all calls */
	fs_call *all_next;
};

/* Coalescing lanes: a batch holds the calls of one lane only. Reads never
 * share a batch with changes, whose reply waits for the disk when the
 * backend syncs every change; and each lane has its own slots, so a slow
 * batch of changes does not hold reads back (nor the reverse). */
enum fs_lane_id { LANE_READ, LANE_WRITE, LANE_COUNT };

struct fs_lane {
	int inflight; /* single calls and batches of this lane in flight */
	struct fs_item *queue, **queue_tail; /* waiting for a slot */
};

/* A call waiting for one of the FS_CLIENT_MAX_INFLIGHT places. */
struct fs_pending {
	nng_msg *msg;
	nng_time deadline;
	fs_call_cb cb;
	void *arg;
	struct fs_pending *next;
};

struct fs_client {
	nng_socket sock;
	nng_mtx *mtx;
	nng_cv *cv;
	fs_call *free;      /* idle calls (mtx) */
	fs_call *all;       /* every call ever made, for close (mtx) */
	int busy;           /* calls in flight, at most FS_CLIENT_MAX_INFLIGHT (mtx) */
	/* Calls made while busy was at the limit, in order (mtx): each call
	 * that finishes starts the next. A backend serves a connection only
	 * so many requests at once (--max-inflight-per-conn, the same
	 * default); a client that sent more would see the rest dropped. */
	struct fs_pending *pend, **pend_tail;
	atomic_int pipes;   /* connected backends */
	/* Coalescing: at most `coalesce` batchable calls (or batches) of
	 * each lane in flight (lanes: mtx); calls of a lane arriving
	 * meanwhile queue and go out together as one BATCH when one of its
	 * slots frees. 0: off. */
	atomic_int coalesce;
	bool closing; /* set before nng_close: start nothing new (mtx) */
	struct fs_lane lanes[LANE_COUNT];
};

static void fs_call_cb_aio(void *arg);

/* The transport's words for the last failure of fs_client_open or
 * fs_client_add_backend on this thread (see fs_client_last_error). */
static _Thread_local int fs_last_nng;

/* The one mapping of nng's errors to fs codes. A deadline that passed is
 * DEADLINE_EXCEEDED; memory is RESOURCE_EXHAUSTED; an address nng cannot
 * use (bad syntax, unknown scheme) is INVALID_ARGUMENT; anything else
 * (closed, cancelled by a lost connection, refused) means no backend
 * answered: UNAVAILABLE. */
static int
fs_code_of_nng(int rv)
{
	switch (rv) {
	case 0:
		return FS_OK;
	case NNG_ETIMEDOUT:
		return FS_DEADLINE_EXCEEDED;
	case NNG_ENOMEM:
		return FS_RESOURCE_EXHAUSTED;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
	case NNG_ENOTSUP:
		return FS_INVALID_ARGUMENT;
	default:
		return FS_UNAVAILABLE;
	}
}

/* fs_code_of_nng for the setup calls, remembering nng's words. */
static int
fs_setup_code(int rv)
{
	fs_last_nng = rv;
	return fs_code_of_nng(rv);
}

const char *
fs_client_last_error(void)
{
	return fs_last_nng != 0 ? nng_strerror(fs_last_nng) : "";
}

static void
fs_client_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	fs_client *c = arg;
	(void) p;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_fetch_add(&c->pipes, 1);
		nng_mtx_lock(c->mtx);
		nng_cv_wake(c->cv);
		nng_mtx_unlock(c->mtx);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		atomic_fetch_sub(&c->pipes, 1);
		/* A lost connection fails the calls in flight (UNAVAILABLE)
		 * instead of letting REQ send them again on the next one: a
		 * change then runs at most once. Calls on another backend's
		 * connection fail too; they are few and callers retry. */
		nng_mtx_lock(c->mtx);
		for (fs_call *call = c->all; !c->closing && call != NULL;
		     call = call->all_next)
			if (call->state != CALL_IDLE)
				nng_aio_cancel(call->aio);
		nng_mtx_unlock(c->mtx);
	}
}

int
fs_client_add_backend(fs_client *c, const char *url)
{
	return fs_setup_code(nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK));
}

int
fs_client_open(fs_client **out, const char *url)
{
	fs_client *c;
	int rv;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return fs_setup_code(NNG_ENOMEM);
	atomic_init(&c->pipes, 0);
	atomic_init(&c->coalesce, 0);
	c->pend_tail = &c->pend;
	for (int i = 0; i < LANE_COUNT; i++)
		c->lanes[i].queue_tail = &c->lanes[i].queue;
	if ((rv = nng_mtx_alloc(&c->mtx)) != 0) {
		free(c);
		return fs_setup_code(rv);
	}
	if ((rv = nng_cv_alloc(&c->cv, c->mtx)) != 0) {
		nng_mtx_free(c->mtx);
		free(c);
		return fs_setup_code(rv);
	}
	if ((rv = nng_req0_open(&c->sock)) != 0)
		goto fail_nosock;
	/* No resends: a call runs at most once unless a connection drops
	 * (see README, "Delivery"). Must be set before contexts open. */
	if ((rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
	         NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
	         FS_RPC_MAX_MSG)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST,
	         fs_client_pipe_cb, c)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST,
	         fs_client_pipe_cb, c)) != 0 ||
	    (rv = nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0)
		goto fail;

	nng_time until = nng_clock() + FS_CLIENT_CONNECT_GRACE_MS;
	nng_mtx_lock(c->mtx);
	while (atomic_load(&c->pipes) == 0)
		if (nng_cv_until(c->cv, until) == NNG_ETIMEDOUT)
			break;
	nng_mtx_unlock(c->mtx);
	*out = c;
	return fs_setup_code(0);

fail:
	nng_close(c->sock);
fail_nosock:
	nng_cv_free(c->cv);
	nng_mtx_free(c->mtx);
	free(c);
	return fs_setup_code(rv);
}

void
fs_client_close(fs_client *c)
{
	if (c == NULL)
		return;
	/* Wind everything down before the socket closes: nng 1.5's
	 * nng_close can wait forever when requests are still outstanding at
	 * the peer (cancelled or not). The closing flag makes queued calls
	 * complete (UNAVAILABLE) without being sent and stops new ones; the
	 * calls in flight finish on their own, by reply or by their
	 * deadline. */
	nng_mtx_lock(c->mtx);
	c->closing = true;
	for (;;) {
		int lanes = 0;
		for (int i = 0; i < LANE_COUNT; i++)
			lanes += c->lanes[i].inflight;
		if (c->busy == 0 && lanes == 0)
			break;
		nng_cv_until(c->cv, nng_clock() + 10);
	}
	/* No operation is in flight now: close the contexts ourselves, so
	 * that nng_close has none left to reap. */
	for (fs_call *call = c->all; call != NULL; call = call->all_next)
		nng_ctx_close(call->ctx);
	nng_mtx_unlock(c->mtx);
	nng_close(c->sock);
	nng_mtx_lock(c->mtx);
	fs_call *all = c->all;
	c->all = NULL;
	nng_mtx_unlock(c->mtx);
	while (all != NULL) {
		fs_call *next = all->all_next;
		nng_aio_free(all->aio);
		free(all);
		all = next;
	}
	nng_cv_free(c->cv);
	nng_mtx_free(c->mtx);
	free(c);
}

static fs_call *
fs_call_get(fs_client *c)
{
	fs_call *call;

	nng_mtx_lock(c->mtx);
	if (c->closing) {
		nng_mtx_unlock(c->mtx);
		return NULL;
	}
	if ((call = c->free) != NULL) {
		c->free = call->next;
		nng_mtx_unlock(c->mtx);
		return call;
	}
	nng_mtx_unlock(c->mtx);

	if ((call = calloc(1, sizeof(*call))) == NULL)
		return NULL;
	call->client = c;
	if (nng_aio_alloc(&call->aio, fs_call_cb_aio, call) != 0) {
		free(call);
		return NULL;
	}
	if (nng_ctx_open(&call->ctx, c->sock) != 0) {
		nng_aio_free(call->aio);
		free(call);
		return NULL;
	}
	nng_mtx_lock(c->mtx);
	call->all_next = c->all;
	c->all = call;
	nng_mtx_unlock(c->mtx);
	return call;
}

static void call_send(fs_call *call, nng_msg *msg, nng_time deadline,
    fs_call_cb cb, void *arg);

/* A finished call: back on the free list, or on to the next pending call
 * (its place in flight passes to it). Pending calls whose deadline passed
 * while they waited, or that find the client closing, complete here. */
static void
fs_call_put(fs_call *call)
{
	fs_client *c = call->client;

	call->state = CALL_IDLE;
	call->cb = NULL;
	for (;;) {
		nng_mtx_lock(c->mtx);
		struct fs_pending *p = c->pend;
		if (p == NULL) {
			call->next = c->free;
			c->free = call;
			if (--c->busy == 0)
				nng_cv_wake(c->cv);
			nng_mtx_unlock(c->mtx);
			return;
		}
		if ((c->pend = p->next) == NULL)
			c->pend_tail = &c->pend;
		bool closing = c->closing;
		nng_mtx_unlock(c->mtx);
		if (!closing && p->deadline > nng_clock()) {
			call_send(call, p->msg, p->deadline, p->cb, p->arg);
			free(p);
			return;
		}
		nng_msg_free(p->msg);
		p->cb(p->arg, closing ? FS_UNAVAILABLE : FS_DEADLINE_EXCEEDED,
		    NULL);
		free(p);
	}
}

static void
fs_call_finish(fs_call *call, int code, Flowsvc__Reply *reply)
{
	fs_call_cb cb = call->cb;
	void *arg = call->arg;

	/* The call goes back to the free list only after the callback, so
	 * its aio is never restarted by another thread while this callback
	 * still runs on it. */
	cb(arg, code, reply);
	fs_call_put(call);
}

static void
fs_call_cb_aio(void *arg)
{
	fs_call *call = arg;
	int rv = nng_aio_result(call->aio);

	if (call->state == CALL_SEND) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(call->aio));
			nng_aio_set_msg(call->aio, NULL);
			fs_call_finish(call, fs_code_of_nng(rv), NULL);
			return;
		}
		call->state = CALL_RECV;
		nng_time now = nng_clock();
		nng_aio_set_timeout(call->aio, call->deadline > now
		        ? (nng_duration) (call->deadline - now)
		        : 1);
		nng_ctx_recv(call->ctx, call->aio);
		return;
	}

	if (rv != 0) {
		fs_call_finish(call, fs_code_of_nng(rv), NULL);
		return;
	}
	nng_msg *msg = nng_aio_get_msg(call->aio);
	nng_aio_set_msg(call->aio, NULL);
	Flowsvc__Reply *reply = flowsvc__reply__unpack(
	    NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	if (reply == NULL) {
		fs_call_finish(call, FS_INTERNAL, NULL);
		return;
	}
	fs_call_finish(call, (int) reply->code, reply);
}

/* Packs env into a new nng message. Returns FS_OK, FS_INVALID_ARGUMENT
 * (over the message limit) or FS_RESOURCE_EXHAUSTED. */
static int
env_msg(const Flowsvc__Request *env, nng_msg **out)
{
	size_t len = flowsvc__request__get_packed_size(env);
	int rv;

	if (len > FS_RPC_MAX_MSG)
		return FS_INVALID_ARGUMENT;
	if ((rv = nng_msg_alloc(out, len)) != 0)
		return fs_code_of_nng(rv);
	flowsvc__request__pack(env, nng_msg_body(*out));
	return FS_OK;
}

/* Packs the envelope for req into a new nng message. */
static int
fs_envelope_pack(nng_msg **out, Flowsvc__Method method,
    const ProtobufCMessage *req, const fs_call_opts *opts,
    uint32_t timeout_ms)
{
	Flowsvc__Request env = FLOWSVC__REQUEST__INIT;
	uint8_t *payload = NULL;
	size_t plen = 0;

	env.method = method;
	if (opts != NULL && opts->request_id != NULL)
		env.request_id = (char *) opts->request_id;
	if (opts != NULL && opts->caller != NULL)
		env.caller = (Flowsvc__Caller *) opts->caller;
	env.has_deadline_unix_ms = 1;
	env.deadline_unix_ms = fs_now_ms() + timeout_ms;
	if (req != NULL) {
		plen = protobuf_c_message_get_packed_size(req);
		if (plen > 0 && (payload = malloc(plen)) == NULL)
			return FS_RESOURCE_EXHAUSTED;
		protobuf_c_message_pack(req, payload);
		env.has_payload = 1;
		env.payload.data = payload;
		env.payload.len = plen;
	}
	int rv = env_msg(&env, out);
	free(payload);
	return rv;
}

static void
call_send(fs_call *call, nng_msg *msg, nng_time deadline, fs_call_cb cb,
    void *arg)
{
	nng_time now = nng_clock();

	call->cb = cb;
	call->arg = arg;
	call->state = CALL_SEND;
	call->deadline = deadline;
	nng_aio_set_msg(call->aio, msg);
	nng_aio_set_timeout(call->aio,
	    deadline > now ? (nng_duration) (deadline - now) : 1);
	nng_ctx_send(call->ctx, call->aio);
}

/* Starts one call of an already packed envelope, or queues it while
 * FS_CLIENT_MAX_INFLIGHT calls are in flight. Returns 0 (cb will run) or
 * an fs_code (cb will not run; msg is freed). */
static int
call_start(fs_client *c, nng_msg *msg, uint32_t timeout_ms, fs_call_cb cb,
    void *arg)
{
	nng_time deadline = nng_clock() + timeout_ms;
	fs_call *call;

	nng_mtx_lock(c->mtx);
	if (c->closing) {
		nng_mtx_unlock(c->mtx);
		nng_msg_free(msg);
		return FS_UNAVAILABLE;
	}
	if (c->busy >= FS_CLIENT_MAX_INFLIGHT) {
		struct fs_pending *p = malloc(sizeof(*p));
		if (p == NULL) {
			nng_mtx_unlock(c->mtx);
			nng_msg_free(msg);
			return FS_RESOURCE_EXHAUSTED;
		}
		p->msg = msg;
		p->deadline = deadline;
		p->cb = cb;
		p->arg = arg;
		p->next = NULL;
		*c->pend_tail = p;
		c->pend_tail = &p->next;
		nng_mtx_unlock(c->mtx);
		return 0;
	}
	c->busy++; /* this call's place, taken before the lock drops */
	nng_mtx_unlock(c->mtx);
	if ((call = fs_call_get(c)) == NULL) {
		nng_mtx_lock(c->mtx);
		if (--c->busy == 0)
			nng_cv_wake(c->cv);
		nng_mtx_unlock(c->mtx);
		nng_msg_free(msg);
		return FS_UNAVAILABLE;
	}
	call_send(call, msg, deadline, cb, arg);
	return 0;
}

/* ---- coalescing --------------------------------------------------------- */

/* A call waiting for a slot, or one member of a batch. */
struct fs_item {
	fs_client *client;
	/* Its own packed envelope. A batch member keeps it until the batch
	 * is answered, to send it alone when the backend did not run it. */
	nng_msg *msg;
	nng_time deadline;
	int lane;
	/* Sent on its own on one of its lane's slots: its completion hands
	 * the slot on (item_done). */
	bool slot;
	fs_call_cb cb;
	void *arg;
	struct fs_item *next;
};

struct fs_batch {
	fs_client *c;
	int lane;
	struct fs_item *items; /* in send order */
};

/* A batch holds at most FS_BATCH_MAX calls and FS_BATCH_BYTES of their
 * envelopes, far below FS_RPC_MAX_MSG; a call whose envelope is larger
 * than FS_BATCH_MEMBER_MAX goes alone. A member's framing (tag and length)
 * takes at most FS_FRAME_MAX bytes. */
#define FS_BATCH_MAX 128
#define FS_BATCH_BYTES (1024u * 1024u)
#define FS_BATCH_MEMBER_MAX (64u * 1024u)
#define FS_FRAME_MAX 6

static void coalesce_next(fs_client *c, int lane);

/* A List that names both a name and a group: names are unique per group
 * and kind, so it finds at most one component, by one hash probe in the
 * backend, like a Get (REST's filter by name and group). */
static bool
is_point_list(const ProtobufCMessage *req)
{
	const Flowsvc__ListRequest *l = (const Flowsvc__ListRequest *) req;

	return req != NULL &&
	    req->descriptor == &flowsvc__list_request__descriptor &&
	    l->name_iexact != NULL && l->name_iexact[0] != '\0' &&
	    l->group_iexact != NULL && l->group_iexact[0] != '\0';
}

/* The lane of a call that may be batched, or -1 for one that is sent at
 * once on its own context, outside the coalescing slots. A batch is
 * answered when its last member is, and in one message, so only calls
 * whose work and reply are small are batched: the method table's
 * FS_M_BATCH (reads and changes of one component, Health), in the change
 * lane for FS_M_WRITE and the read lane otherwise, and, the one case that
 * depends on the request, a List by name and group. Any other List is
 * never batched (its reply can be as large as a message, and it takes as
 * long as it is long), nor a method that blocks, nor one the table does
 * not mark (Snapshot, Stats, Batch, a method this client does not know).
 * Concurrent calls have no order between them, so batching them changes
 * nothing a caller can see; calls one caller makes one after another are
 * never in the same batch. */
static int
fs_lane_of(Flowsvc__Method m, const ProtobufCMessage *req, size_t len)
{
	if (len > FS_BATCH_MEMBER_MAX || fs_method_is(m, FS_M_BLOCKS))
		return -1;
	if (fs_method_is(m, FS_M_BATCH))
		return fs_method_is(m, FS_M_WRITE) ? LANE_WRITE : LANE_READ;
	if (m == FLOWSVC__METHOD__LIST && is_point_list(req))
		return LANE_READ;
	return -1;
}

/* Completes it and frees it; when it held a slot of its lane, hands the
 * slot on. */
static void
item_done(struct fs_item *it, int code, Flowsvc__Reply *reply)
{
	fs_client *c = it->client;
	int lane = it->lane;
	bool slot = it->slot;

	it->cb(it->arg, code, reply);
	if (it->msg != NULL)
		nng_msg_free(it->msg);
	free(it);
	if (slot)
		coalesce_next(c, lane);
}

/* The completion of a call sent for one item (on a slot, or alone). */
static void
item_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	item_done(arg, code, reply);
}

/* Sends a batch member again as a call of its own, outside the slots (the
 * backend did not run it). Its envelope still carries its own deadline. */
static void
send_alone(fs_client *c, struct fs_item *it)
{
	nng_time now = nng_clock();
	nng_msg *msg = it->msg;

	if (it->deadline <= now) {
		item_done(it, FS_DEADLINE_EXCEEDED, NULL);
		return;
	}
	it->msg = NULL;
	if (call_start(c, msg, (uint32_t) (it->deadline - now), item_cb,
	        it) != 0)
		item_done(it, FS_UNAVAILABLE, NULL);
}

/* Sends it on its own on a slot of its lane. Returns 0 (the slot is taken
 * until it completes), or the fs_code of call_start: then no callback
 * comes, and its message is freed (it->msg is NULL). */
static int
send_on_slot(fs_client *c, struct fs_item *it, uint32_t wait)
{
	nng_msg *msg = it->msg;
	int rv;

	it->msg = NULL;
	it->slot = true;
	if ((rv = call_start(c, msg, wait, item_cb, it)) != 0)
		it->slot = false; /* no callback will come */
	return rv;
}

/* Hands each member its own reply. A member the backend did not run
 * (not_executed: the batch's reply was full) is sent again alone, once. A
 * batch of reads refused as a whole for its size (RESOURCE_EXHAUSTED, from
 * a backend that does not mark members) is sent again member by member:
 * reads are safe to run twice, changes are not, so those get the code. */
static void
batch_finish(struct fs_batch *b, int code, Flowsvc__Reply *reply)
{
	Flowsvc__BatchReply *br = NULL;
	size_t i = 0;
	bool again = false;

	if (code == FS_OK) {
		br = (Flowsvc__BatchReply *) fs_reply_payload(
		    reply, &flowsvc__batch_reply__descriptor);
		if (br == NULL)
			code = FS_INTERNAL;
	} else if (code == FS_RESOURCE_EXHAUSTED && reply != NULL &&
	    b->lane == LANE_READ) {
		again = true;
	}
	for (struct fs_item *it = b->items; it != NULL; i++) {
		struct fs_item *next = it->next;
		Flowsvc__Reply *r = br != NULL && i < br->n_replies
		    ? br->replies[i]
		    : NULL;
		if (again || (r != NULL && r->has_not_executed &&
		                 r->not_executed)) {
			send_alone(b->c, it);
		} else if (r != NULL) {
			br->replies[i] = NULL; /* ownership to the callback */
			item_done(it, (int) r->code, r);
		} else {
			item_done(it, br != NULL ? FS_INTERNAL : code, NULL);
		}
		it = next;
	}
	if (br != NULL) {
		/* Detached replies are NULL now: free only the rest. */
		size_t k = 0;
		for (size_t j = 0; j < br->n_replies; j++)
			if (br->replies[j] != NULL)
				br->replies[k++] = br->replies[j];
		br->n_replies = k;
		flowsvc__batch_reply__free_unpacked(br, NULL);
	}
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	free(b);
}

static void
batch_done(void *arg, int code, Flowsvc__Reply *reply)
{
	struct fs_batch *b = arg;
	fs_client *c = b->c;
	int lane = b->lane;

	batch_finish(b, code, reply);
	coalesce_next(c, lane);
}

/* Sends the members (n of them, bytes of framed envelopes, none expired;
 * `first` the nearest deadline) as one call on the lane's free slot.
 * Returns 0 when sent (the slot is taken until its callback), or -1 when
 * every member has completed with an error and the slot is still free. */
static int
coalesce_send(fs_client *c, int lane, struct fs_item *head, size_t n,
    size_t bytes, nng_time first)
{
	nng_time now = nng_clock();
	uint32_t wait = first > now ? (uint32_t) (first - now) : 1;
	struct fs_item *it;

	if (n == 1) {
		/* Nothing to batch: send it as it is. */
		if (send_on_slot(c, head, wait) != 0) {
			item_done(head, FS_UNAVAILABLE, NULL);
			return -1;
		}
		return 0;
	}

	/* BatchRequest{repeated Request requests = 1}: each member's packed
	 * envelope framed as field 1, no re-encoding. */
	Flowsvc__Request env = FLOWSVC__REQUEST__INIT;
	uint8_t *payload = malloc(bytes);
	struct fs_batch *b = malloc(sizeof(*b));
	nng_msg *msg = NULL;
	if (payload != NULL && b != NULL) {
		size_t off = 0;
		for (it = head; it != NULL; it = it->next)
			off += fs_pb_put_len_field(payload + off, 1,
			    nng_msg_body(it->msg), nng_msg_len(it->msg));
		env.method = FLOWSVC__METHOD__BATCH;
		env.has_deadline_unix_ms = 1;
		env.deadline_unix_ms = fs_now_ms() + (int64_t) wait;
		env.has_payload = 1;
		env.payload.data = payload;
		env.payload.len = off;
		if (env_msg(&env, &msg) != FS_OK)
			msg = NULL;
	}
	free(payload);
	if (msg == NULL) {
		free(b);
		while ((it = head) != NULL) {
			head = it->next;
			item_done(it, FS_RESOURCE_EXHAUSTED, NULL);
		}
		return -1;
	}
	b->c = c;
	b->lane = lane;
	b->items = head;
	if (call_start(c, msg, wait, batch_done, b) != 0) {
		batch_finish(b, FS_UNAVAILABLE, NULL);
		return -1;
	}
	return 0;
}

/* A call or batch of the lane finished and its slot is free: send what
 * queued up meanwhile (as much as fits in one batch), or give the slot
 * back. */
static void
coalesce_next(fs_client *c, int lane)
{
	struct fs_lane *l = &c->lanes[lane];

	for (;;) {
		struct fs_item *head, **tail, *it;
		size_t n = 0, bytes = 0;

		nng_mtx_lock(c->mtx);
		if ((head = l->queue) == NULL) {
			if (--l->inflight == 0 && c->closing)
				nng_cv_wake(c->cv);
			nng_mtx_unlock(c->mtx);
			return;
		}
		for (tail = &head; (it = *tail) != NULL && n < FS_BATCH_MAX;
		     tail = &it->next) {
			size_t len = nng_msg_len(it->msg) + FS_FRAME_MAX;
			if (n > 0 && bytes + len > FS_BATCH_BYTES)
				break;
			bytes += len;
			n++;
		}
		l->queue = *tail;
		if (l->queue == NULL)
			l->queue_tail = &l->queue;
		*tail = NULL;
		nng_mtx_unlock(c->mtx);

		/* Calls whose deadline passed while queued are not sent. */
		nng_time now = nng_clock(), first = 0;
		size_t live = 0;
		bytes = 0;
		for (struct fs_item **pp = &head; (it = *pp) != NULL;) {
			if (it->deadline <= now) {
				*pp = it->next;
				item_done(it, FS_DEADLINE_EXCEEDED, NULL);
				continue;
			}
			if (first == 0 || it->deadline < first)
				first = it->deadline;
			bytes += nng_msg_len(it->msg) + FS_FRAME_MAX;
			live++;
			pp = &it->next;
		}
		if (live > 0 &&
		    coalesce_send(c, lane, head, live, bytes, first) == 0)
			return;
		/* Nothing went out: the slot is still ours, try again. */
	}
}

int
fs_client_set_coalesce(fs_client *c, int max_inflight)
{
	if (max_inflight < 0)
		return FS_INVALID_ARGUMENT;
	nng_mtx_lock(c->mtx);
	atomic_store(&c->coalesce, max_inflight);
	nng_mtx_unlock(c->mtx);
	return 0;
}

int
fs_client_call_async(fs_client *c, Flowsvc__Method method,
    const ProtobufCMessage *req, const fs_call_opts *opts, fs_call_cb cb,
    void *arg)
{
	uint32_t timeout_ms = opts != NULL && opts->timeout_ms != 0
	    ? opts->timeout_ms
	    : FS_RPC_DEFAULT_TIMEOUT_MS;
	nng_msg *msg;
	int lane, rv;

	if (atomic_load(&c->pipes) == 0)
		return FS_UNAVAILABLE;
	if ((rv = fs_envelope_pack(&msg, method, req, opts, timeout_ms)) != 0)
		return rv;
	if ((lane = fs_lane_of(method, req, nng_msg_len(msg))) < 0)
		return call_start(c, msg, timeout_ms, cb, arg);

	if (atomic_load(&c->coalesce) == 0)
		return call_start(c, msg, timeout_ms, cb, arg);
	struct fs_item *it = malloc(sizeof(*it));
	if (it == NULL) {
		nng_msg_free(msg);
		return FS_RESOURCE_EXHAUSTED;
	}
	it->client = c;
	it->msg = msg;
	it->deadline = nng_clock() + timeout_ms;
	it->lane = lane;
	it->slot = false;
	it->cb = cb;
	it->arg = arg;
	it->next = NULL;
	struct fs_lane *l = &c->lanes[lane];
	nng_mtx_lock(c->mtx);
	if (l->inflight >= atomic_load(&c->coalesce)) {
		/* Every slot of the lane busy: wait for the next completion,
		 * which sends the waiting calls as one batch. */
		*l->queue_tail = it;
		l->queue_tail = &it->next;
		nng_mtx_unlock(c->mtx);
		return 0;
	}
	l->inflight++;
	nng_mtx_unlock(c->mtx);
	if ((rv = send_on_slot(c, it, timeout_ms)) != 0) {
		free(it); /* call_start freed its message */
		/* Give the slot to whatever queued behind it meanwhile. */
		coalesce_next(c, lane);
		return rv;
	}
	return 0;
}

struct fs_sync {
	nng_mtx *mtx;
	nng_cv *cv;
	bool done;
	int code;
	Flowsvc__Reply *reply;
};

static void
fs_sync_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	struct fs_sync *s = arg;

	nng_mtx_lock(s->mtx);
	s->code = code;
	s->reply = reply;
	s->done = true;
	nng_cv_wake(s->cv);
	nng_mtx_unlock(s->mtx);
}

int
fs_client_call(fs_client *c, Flowsvc__Method method,
    const ProtobufCMessage *req, const fs_call_opts *opts,
    Flowsvc__Reply **reply_out)
{
	struct fs_sync s = {0};
	int rv;

	*reply_out = NULL;
	if (nng_mtx_alloc(&s.mtx) != 0)
		return FS_RESOURCE_EXHAUSTED;
	if (nng_cv_alloc(&s.cv, s.mtx) != 0) {
		nng_mtx_free(s.mtx);
		return FS_RESOURCE_EXHAUSTED;
	}
	rv = fs_client_call_async(c, method, req, opts, fs_sync_cb, &s);
	if (rv == 0) {
		nng_mtx_lock(s.mtx);
		while (!s.done)
			nng_cv_wait(s.cv);
		nng_mtx_unlock(s.mtx);
		rv = s.code;
		*reply_out = s.reply;
	}
	nng_cv_free(s.cv);
	nng_mtx_free(s.mtx);
	return rv;
}

ProtobufCMessage *
fs_reply_payload(
    const Flowsvc__Reply *reply, const ProtobufCMessageDescriptor *desc)
{
	if (reply == NULL || !reply->has_payload)
		return NULL;
	return protobuf_c_message_unpack(
	    desc, NULL, reply->payload.len, reply->payload.data);
}
