/*
 * batch.c - the BATCH method, with the reply's size bounded as it is built
 * (see batch.h).
 *
 * Bookkeeping, in bytes of the packed BatchReply: `used` is what the
 * members so far take; `rest` is what a not-run reply of every later
 * member takes. Before member i: used + not_run(i) + rest <= budget, so
 * the members from i on can always be refused within the budget, and the
 * room member i may take is budget - used - rest.
 */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "fs_methods.h"
#include "fs_pbwire.h"
#include "fs_rpc.h"
#include "fs_util.h"
#include "rules.h"

/* The outer Reply around the BatchReply: code, message, payload framing
 * (its request id is counted apart). */
#define BATCH_HEADROOM 1024

/* A member's Reply without its payload and request id, framing included:
 * code, a short message, the payload's and the member's own tag and
 * length. */
#define BATCH_MEMBER_OVERHEAD 64

/* The largest component a Create or Update answers with, from the field
 * limits (tags and lengths included; name and group 100 bytes each, the
 * rest short): about 541 KiB. */
#define BATCH_COMPONENT_MAX                                                   \
	(512 + 2 * RULES_FIELDS_MAX * (3 + RULES_FIELD_MAX) +                 \
	    RULES_FLOWS_MAX * (2 + FS_UUID_STRLEN))

/* The room a change needs before it runs. Twice the bound: an update by a
 * trusted caller answers with references that restricted callers added
 * out of each other's sight, which the per-request limit does not bound.
 * Should a change's reply still not fit, earlier reads are dropped to make
 * room (batch_evict). */
#define BATCH_CHANGE_RESERVE (2 * (size_t) BATCH_COMPONENT_MAX)

/* Bytes rep takes inside a BatchReply: tag, length, message. */
static size_t
member_len(const Flowsvc__Reply *rep)
{
	return fs_pb_len_field_size(1, flowsvc__reply__get_packed_size(rep));
}

static void
set_not_run(Flowsvc__Reply *rep, const Flowsvc__Request *in)
{
	flowsvc__reply__init(rep);
	rep->code = FLOWSVC__CODE__RESOURCE_EXHAUSTED;
	rep->message = (char *) BATCH_NOT_RUN_MSG;
	rep->has_not_executed = 1;
	rep->not_executed = 1;
	rep->request_id = in->request_id;
}

/* rep borrows rs's message, violations and payload. */
static void
set_reply(Flowsvc__Reply *rep, svc_reply *rs, const Flowsvc__Request *in)
{
	svc_reply_wire(rs, rep);
	rep->request_id = in->request_id;
}

/* State of one batch while it runs. */
struct batch {
	const Flowsvc__BatchRequest *b;
	svc_reply *rs;
	Flowsvc__Reply *reps;
	size_t *len;         /* member_len of reps[i] as it stands */
	size_t *notrun;      /* member_len of reps[i] when not run */
	unsigned char *kept; /* 1: ran, and its reply cannot be dropped */
	size_t used, rest, budget;
};

/* Drops the replies of members before i that can be dropped (reads, and
 * refused changes: nothing happened), last first, until `need` bytes fit.
 * Returns 1 when they do. */
static int
batch_evict(struct batch *bt, size_t i, size_t need)
{
	for (size_t j = i; j-- > 0;) {
		if (bt->used + need + bt->rest <= bt->budget)
			break;
		if (bt->kept[j] || bt->reps[j].not_executed)
			continue;
		svc_reply_fini(&bt->rs[j]);
		set_not_run(&bt->reps[j], bt->b->requests[j]);
		bt->used -= bt->len[j] - bt->notrun[j];
		bt->len[j] = bt->notrun[j];
	}
	return bt->used + need + bt->rest <= bt->budget;
}

/* Runs member i, or leaves it not run, and counts what its reply takes.
 * Returns 0 when the reply is full from here on. */
static int
batch_member(svc *s, struct batch *bt, size_t i, int64_t now)
{
	const Flowsvc__Request *in = bt->b->requests[i];
	svc_reply *rs = &bt->rs[i];
	size_t rid = in->request_id != NULL ? strlen(in->request_id) : 0;
	size_t room = bt->budget - bt->used - bt->rest;
	int change = fs_method_is((int) in->method, FS_M_WRITE), over = 0;

	if (change &&
	    room < BATCH_CHANGE_RESERVE + BATCH_MEMBER_OVERHEAD + rid)
		goto not_run;
	if (fs_method((int) in->method) != NULL &&
	    !fs_method_in_batch((int) in->method)) {
		svc_reply_err(rs, FS_INVALID_ARGUMENT,
		    "Not allowed in a batch.");
	} else if (in->has_deadline_unix_ms && in->deadline_unix_ms != 0 &&
	    in->deadline_unix_ms < now) {
		svc_reply_err(rs, FS_DEADLINE_EXCEEDED,
		    "Deadline passed before the request was received.");
	} else {
		size_t keep = BATCH_MEMBER_OVERHEAD + rid;
		over = svc_dispatch_budget(s, in, rs,
		    room > keep ? room - keep : 0);
	}
	set_reply(&bt->reps[i], rs, in);
	size_t len = member_len(&bt->reps[i]);
	if (change && rs->code == FS_OK) {
		/* Made: its reply stays, whatever it takes. Past the reserve
		 * (beyond the field limits) earlier reads make room; should
		 * even that fail, the batch stops here. */
		int fits = len <= room || batch_evict(bt, i, len);
		bt->kept[i] = 1;
		bt->len[i] = len;
		bt->used += len;
		return fits;
	}
	if (!over && len <= room) {
		bt->len[i] = len;
		bt->used += len;
		return 1;
	}
	/* A read (or a refused change: nothing happened) that does not fit:
	 * dropped, to be sent alone. */
	svc_reply_fini(rs);
	set_not_run(&bt->reps[i], in);
not_run:
	bt->used += bt->notrun[i];
	return 0;
}

int
batch_run(svc *s, const svc_req *q, svc_reply *r)
{
	const Flowsvc__BatchRequest *b = q->msg;
	Flowsvc__BatchReply br = FLOWSVC__BATCH_REPLY__INIT;
	Flowsvc__Reply **ptrs = NULL;
	struct batch bt = {0};
	const char *req_id = q->env->request_id;
	size_t rid = req_id != NULL ? strlen(req_id) : 0;
	int64_t now = fs_now_ms();

	size_t n = b->n_requests, k = n ? n : 1;
	bt.b = b;
	if ((bt.rs = calloc(k, sizeof(*bt.rs))) == NULL ||
	    (bt.reps = calloc(k, sizeof(*bt.reps))) == NULL ||
	    (bt.len = calloc(k, sizeof(*bt.len))) == NULL ||
	    (bt.notrun = calloc(k, sizeof(*bt.notrun))) == NULL ||
	    (bt.kept = calloc(k, 1)) == NULL ||
	    (ptrs = calloc(k, sizeof(*ptrs))) == NULL) {
		svc_reply_oom(r);
		goto out;
	}
	bt.budget = FS_RPC_MAX_MSG - BATCH_HEADROOM;
	bt.budget = rid < bt.budget ? bt.budget - rid : 0;
	for (size_t i = 0; i < n; i++) {
		set_not_run(&bt.reps[i], b->requests[i]);
		bt.len[i] = bt.notrun[i] = member_len(&bt.reps[i]);
		bt.rest += bt.notrun[i];
		ptrs[i] = &bt.reps[i];
	}
	if (bt.rest > bt.budget) {
		svc_reply_err(r, FS_RESOURCE_EXHAUSTED,
		    "Batch too large: the answers of its requests would not "
		    "fit in one reply.");
		goto out;
	}
	int room = 1;
	for (size_t i = 0; i < n; i++) {
		bt.rest -= bt.notrun[i];
		if (room)
			room = batch_member(s, &bt, i, now);
		else
			bt.used += bt.notrun[i];
		if (bt.rs[i].ticket > r->ticket)
			r->ticket = bt.rs[i].ticket;
	}
	br.n_replies = n;
	br.replies = ptrs;
	svc_reply_msg(r, &br.base);
out:
	if (bt.rs != NULL)
		for (size_t i = 0; i < n; i++)
			svc_reply_fini(&bt.rs[i]);
	free(bt.rs);
	free(bt.reps);
	free(bt.len);
	free(bt.notrun);
	free(bt.kept);
	free(ptrs);
	return 0;
}
