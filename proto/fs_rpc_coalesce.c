/*
 * fs_rpc_coalesce.c - the client's coalescing: concurrent calls that the
 * method table marks batchable (FS_M_BATCH) wait behind a busy slot of
 * their lane (FS_M_WRITE: changes; else reads) and go out together as one
 * Batch call; each completes on its own callback (see fs_rpc.h,
 * fs_client_set_coalesce).
 */
#include "fs_rpc_client_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "fs_methods.h"
#include "fs_pbwire.h"
#include "fs_util.h"

/* A call waiting for a slot, or one member of a batch. */
struct fs_item {
	struct fs_lane *lane;
	/* The client it was sent to (its lane's, or the one a spread chose);
	 * NULL until then. */
	fs_client *client;
	/* Its own packed envelope. A batch member keeps it until the batch
	 * is answered, to send it alone when the backend did not run it. */
	nng_msg *msg;
	nng_time deadline;
	/* The min_revision its own envelope carries (0: none). */
	uint64_t min_rev;
	/* Sent on its own on one of its lane's slots: its completion hands
	 * the slot on (item_done). */
	bool slot;
	struct fs_flight flight; /* a spread's lane: sent on a slot */
	fs_call_cb cb;
	void *arg;
	struct fs_item *next;
};

struct fs_batch {
	fs_client *c;
	struct fs_lane *lane;
	struct fs_item *items;   /* in send order */
	struct fs_flight flight; /* a spread's lane */
};

/* A batch holds at most FS_BATCH_MAX calls and FS_BATCH_BYTES of their
 * envelopes, far below FS_RPC_MAX_MSG; a call whose envelope is larger
 * than FS_BATCH_MEMBER_MAX goes alone. A member's framing (tag and length)
 * takes at most FS_FRAME_MAX bytes. */
#define FS_BATCH_MAX 128
#define FS_BATCH_BYTES (1024u * 1024u)
#define FS_BATCH_MEMBER_MAX (64u * 1024u)
#define FS_FRAME_MAX 6

static void coalesce_next(struct fs_lane *l);

/* How many calls or batches of l may be in flight. */
static int
lane_limit(struct fs_lane *l)
{
	return l->spread != NULL ? fs_spread_limit(l->spread)
	                         : atomic_load(&l->client->coalesce);
}

static void
lane_init(struct fs_lane *l, nng_mtx *mtx, int id, fs_client *c,
    struct fs_spread *s)
{
	l->mtx = mtx;
	l->id = id;
	l->client = c;
	l->spread = s;
	l->inflight = 0;
	l->queue = NULL;
	l->queue_tail = &l->queue;
}

void
fs_coalesce_init(fs_client *c)
{
	for (int i = 0; i < LANE_COUNT; i++)
		lane_init(&c->lanes[i], c->mtx, i, c, NULL);
}

void
fs_lane_init_spread(struct fs_lane *l, struct fs_spread *s, nng_mtx *mtx)
{
	lane_init(l, mtx, LANE_READ, NULL, s);
}

/* The client the next call or batch of l goes to: the lane's own, or
 * the one its spread chooses now (*idx, its index; else -1). Returns 0,
 * or -1 when the spread has none. */
static int
lane_target(struct fs_lane *l, fs_client **c, int *idx)
{
	*c = l->client;
	*idx = -1;
	return l->spread != NULL && (*idx = fs_spread_target(l->spread, c)) < 0
	    ? -1
	    : 0;
}

/* Starts msg on c for l, watched as f when l is a spread's (as
 * fs_call_start). */
static int
lane_start(struct fs_lane *l, struct fs_flight *f, int idx, fs_client *c,
    nng_msg *msg, uint32_t wait, fs_call_cb cb, void *arg)
{
	return l->spread != NULL
	    ? fs_spread_start(l->spread, f, idx, c, msg, wait, cb, arg)
	    : fs_call_start(c, msg, wait, cb, arg);
}

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
int
fs_coalesce_lane(Flowsvc__Method m, const ProtobufCMessage *req, size_t len)
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
	struct fs_lane *l = it->lane;
	bool slot = it->slot;

	if (slot && l->spread != NULL)
		slot = fs_spread_back(l->spread, &it->flight, code, reply);
	if (reply != NULL && it->client != NULL)
		fs_client_note_revision(it->client, reply);
	if (reply != NULL && l->spread != NULL)
		fs_spread_note(l->spread, reply);
	it->cb(it->arg, code, reply);
	if (it->msg != NULL)
		nng_msg_free(it->msg);
	free(it);
	if (slot)
		coalesce_next(l);
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
	if (fs_call_start(c, msg, (uint32_t) (it->deadline - now), item_cb,
	        it) != 0)
		item_done(it, FS_UNAVAILABLE, NULL);
}

/* Sends it on its own on a slot of its lane (to the lane's client, or
 * the one its spread chooses). Returns 0 (the slot is taken until it
 * completes), or the fs_code of call_start: then no callback comes, and
 * its message is freed (it->msg is NULL). */
static int
send_on_slot(struct fs_lane *l, struct fs_item *it, uint32_t wait)
{
	nng_msg *msg = it->msg;
	fs_client *c;
	int rv, idx;

	it->msg = NULL;
	if (lane_target(l, &c, &idx) != 0) {
		nng_msg_free(msg);
		return FS_UNAVAILABLE;
	}
	/* A spread keeps a copy, to send it again elsewhere should its
	 * client not answer (fs_flight_take); none: it is not sent again. */
	if (l->spread != NULL && nng_msg_dup(&it->msg, msg) != 0)
		it->msg = NULL;
	it->client = c;
	it->slot = true;
	it->flight.batch = false;
	if ((rv = lane_start(l, &it->flight, idx, c, msg, wait, item_cb,
	         it)) != 0) {
		it->slot = false; /* no callback will come */
		if (it->msg != NULL)
			nng_msg_free(it->msg);
		it->msg = NULL;
	}
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
		br = (Flowsvc__BatchReply *) fs_reply_payload(reply,
		    &flowsvc__batch_reply__descriptor);
		if (br == NULL)
			code = FS_INTERNAL;
	} else if (code == FS_RESOURCE_EXHAUSTED && reply != NULL &&
	    b->lane->id == LANE_READ) {
		again = true;
	}
	for (struct fs_item *it = b->items; it != NULL; i++) {
		struct fs_item *next = it->next;
		Flowsvc__Reply *r =
		    br != NULL && i < br->n_replies ? br->replies[i] : NULL;
		if (again ||
		    (r != NULL && r->has_not_executed && r->not_executed)) {
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
	struct fs_lane *l = b->lane;
	bool slot = true;

	if (l->spread != NULL)
		slot = fs_spread_back(l->spread, &b->flight, code, reply);
	batch_finish(b, code, reply);
	if (slot)
		coalesce_next(l);
}

/* Sends the members (n of them, bytes of framed envelopes, none expired;
 * `first` the nearest deadline) as one call on the lane's free slot.
 * Returns 0 when sent (the slot is taken until its callback), or -1 when
 * every member has completed with an error and the slot is still free. */
static int
coalesce_send(struct fs_lane *l, struct fs_item *head, size_t n, size_t bytes,
    nng_time first)
{
	nng_time now = nng_clock();
	uint32_t wait = first > now ? (uint32_t) (first - now) : 1;
	struct fs_item *it;
	fs_client *c;
	int idx;

	if (n == 1) {
		/* Nothing to batch: send it as it is. */
		if (send_on_slot(l, head, wait) != 0) {
			item_done(head, FS_UNAVAILABLE, NULL);
			return -1;
		}
		return 0;
	}
	if (lane_target(l, &c, &idx) != 0) {
		while ((it = head) != NULL) {
			head = it->next;
			item_done(it, FS_UNAVAILABLE, NULL);
		}
		return -1;
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
		/* Read your writes: a batch of reads waits, as a whole, for
		 * the highest revision its members wait for (the backend
		 * serves members without looking at theirs). */
		if (l->id == LANE_READ) {
			env.min_revision = l->spread != NULL
			    ? 0
			    : fs_client_min_revision(c, FLOWSVC__METHOD__GET,
			          NULL);
			for (it = head; it != NULL; it = it->next)
				if (it->min_rev > env.min_revision)
					env.min_revision = it->min_rev;
			env.has_min_revision = env.min_revision != 0;
		}
		env.has_deadline_unix_ms = 1;
		env.deadline_unix_ms = fs_now_ms() + (int64_t) wait;
		env.has_payload = 1;
		env.payload.data = payload;
		env.payload.len = off;
		if (fs_env_msg(&env, &msg) != FS_OK)
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
	b->lane = l;
	b->items = head;
	b->flight.batch = true;
	for (it = head; it != NULL; it = it->next)
		it->client = c;
	if (lane_start(l, &b->flight, idx, c, msg, wait, batch_done, b) != 0) {
		batch_finish(b, FS_UNAVAILABLE, NULL);
		return -1;
	}
	return 0;
}

/* A call or batch of the lane finished and its slot is free: send what
 * queued up meanwhile (as much as fits in one batch), or give the slot
 * back. */
static void
coalesce_next(struct fs_lane *l)
{
	for (;;) {
		struct fs_item *head, **tail, *it;
		size_t n = 0, bytes = 0;

		nng_mtx_lock(l->mtx);
		if ((head = l->queue) == NULL) {
			if (--l->inflight == 0 && l->client != NULL &&
			    l->client->closing)
				nng_cv_wake(l->client->cv);
			nng_mtx_unlock(l->mtx);
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
		nng_mtx_unlock(l->mtx);

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
		    coalesce_send(l, head, live, bytes, first) == 0)
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
fs_lane_call(struct fs_lane *l, nng_msg *msg, uint32_t timeout_ms,
    uint64_t min_rev, fs_call_cb cb, void *arg)
{
	struct fs_item *it = calloc(1, sizeof(*it));
	int rv;

	if (it == NULL) {
		nng_msg_free(msg);
		return FS_RESOURCE_EXHAUSTED;
	}
	it->lane = l;
	it->client = NULL;
	it->msg = msg;
	it->deadline = nng_clock() + timeout_ms;
	it->min_rev = min_rev;
	it->slot = false;
	it->cb = cb;
	it->arg = arg;
	it->next = NULL;
	nng_mtx_lock(l->mtx);
	if (l->inflight >= lane_limit(l)) {
		/* Every slot of the lane busy: wait for the next completion,
		 * which sends the waiting calls as one batch. */
		*l->queue_tail = it;
		l->queue_tail = &it->next;
		nng_mtx_unlock(l->mtx);
		return 0;
	}
	l->inflight++;
	nng_mtx_unlock(l->mtx);
	if ((rv = send_on_slot(l, it, timeout_ms)) != 0) {
		free(it); /* its message is freed */
		/* Give the slot to whatever queued behind it meanwhile. */
		coalesce_next(l);
		return rv;
	}
	return 0;
}

int
fs_coalesce_call(fs_client *c, int lane, nng_msg *msg, uint32_t timeout_ms,
    uint64_t min_rev, fs_call_cb cb, void *arg)
{
	return fs_lane_call(&c->lanes[lane], msg, timeout_ms, min_rev, cb,
	    arg);
}

/* The callback of a call whose copy was sent again: drops its answer. */
static void
orphan_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	(void) arg;
	(void) code;
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
}

struct fs_item *
fs_flight_take(struct fs_flight *f)
{
	struct fs_item *it, *copy;

	if (f->batch) {
		struct fs_batch *b = (struct fs_batch *) (void *) ((char *) f -
		    offsetof(struct fs_batch, flight));
		struct fs_item *items = b->items;
		b->items = NULL;
		for (it = items; it != NULL; it = it->next)
			it->client = NULL;
		return items;
	}
	it = (struct fs_item *) (void *) ((char *) f -
	    offsetof(struct fs_item, flight));
	if (it->msg == NULL || (copy = calloc(1, sizeof(*copy))) == NULL)
		return NULL;
	copy->lane = it->lane;
	copy->msg = it->msg;
	copy->deadline = it->deadline;
	copy->min_rev = it->min_rev;
	copy->cb = it->cb;
	copy->arg = it->arg;
	it->msg = NULL;
	it->cb = orphan_cb;
	it->arg = NULL;
	return copy;
}

struct fs_item *
fs_items_append(struct fs_item *a, struct fs_item *b)
{
	struct fs_item **tail = &a;

	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = b;
	return a;
}

void
fs_lane_requeue(struct fs_lane *l, struct fs_item *items)
{
	struct fs_item **tail = &items;

	if (items == NULL)
		return;
	while (*tail != NULL)
		tail = &(*tail)->next;
	nng_mtx_lock(l->mtx);
	*tail = l->queue;
	if (l->queue == NULL)
		l->queue_tail = tail;
	l->queue = items;
	nng_mtx_unlock(l->mtx);
}

void
fs_lane_kick(struct fs_lane *l)
{
	nng_mtx_lock(l->mtx);
	if (l->queue == NULL || l->inflight >= lane_limit(l)) {
		nng_mtx_unlock(l->mtx);
		return;
	}
	l->inflight++;
	nng_mtx_unlock(l->mtx);
	coalesce_next(l);
}

void
fs_lane_fail_queue(struct fs_lane *l, int code)
{
	struct fs_item *head, *it;

	nng_mtx_lock(l->mtx);
	head = l->queue;
	l->queue = NULL;
	l->queue_tail = &l->queue;
	nng_mtx_unlock(l->mtx);
	while ((it = head) != NULL) {
		head = it->next;
		item_done(it, code, NULL);
	}
}
