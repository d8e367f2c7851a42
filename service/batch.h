/*
 * batch.h - the BATCH method: several requests in one round trip, answered
 * in one reply that is bounded while it is built.
 *
 * Members run in order, each as if sent alone. Before a member runs, room
 * is kept for a short refusal of every member after it, so whatever
 * happens the reply fits in one message (FS_RPC_MAX_MSG). A member runs
 * only while the reply has room for it: a read (Get, List, ...) gets the
 * room left as its budget (a List stops there), a change gets a reserve
 * that its reply always fits in (a component is bounded by the field
 * limits). The first member that does not fit, and every member after it,
 * is answered RESOURCE_EXHAUSTED with Reply.not_executed set: it was not
 * run (a read that was run and did not fit is dropped: nothing happened),
 * and the caller sends it alone. The reply of a change that was made is
 * never dropped. So one Batch holds about one message's worth of replies
 * in memory, never more.
 */
#ifndef SERVICE_BATCH_H
#define SERVICE_BATCH_H

#include "flows.pb-c.h"
#include "svc_int.h"

/* The message of a member that was not run. */
#define BATCH_NOT_RUN_MSG "Not run: the batch reply was full; send it alone."

/* The handler of BATCH (svc_int.h): runs the BatchRequest q->msg and
 * fills r (a BatchReply payload, or an error for the whole batch: so many
 * members that even their refusals would not fit in one reply). A member
 * the method table does not let in a batch (fs_method_in_batch: Batch,
 * Snapshot) answers INVALID_ARGUMENT. r->ticket is the latest change-log
 * position of its changes. Returns 0. */
int batch_run(svc *s, const svc_req *q, svc_reply *r);

#endif
