/*
 * svc_repl.c - the service's part in replication (CONTRACT §8; repl.h has
 * the protocol's): its role and terms, applying a primary's records
 * through the write path, the Replicate, SnapshotFetch and Promote
 * handlers, and where svc_handle sends a call on a replica (forwarded),
 * a Replicate long poll, and a read that must wait for its min_revision.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "fs_log.h"
#include "fs_util.h"
#include "repl_sync.h"
#include "svc_int.h"
#include "svc_struct.h"

/* ---- role and terms ------------------------------------------------------ */

uint64_t
svc_revision(svc *s)
{
	return atomic_load(&s->revision);
}

persist *
svc_disk(svc *s)
{
	return s->disk;
}

terms *
svc_terms(svc *s)
{
	return s->terms;
}

svc_waiter *
svc_waiters(svc *s)
{
	return s->waiter;
}

int
svc_role(svc *s)
{
	return atomic_load(&s->role);
}

int
svc_sync_acks(svc *s)
{
	return s->sync != NULL;
}

int
svc_accepts_changes(svc *s)
{
	return atomic_load(&s->role) == SVC_PRIMARY &&
	    terms_known(s->terms) == terms_last(s->terms) &&
	    (!s->coordinated || svc_mono_ms() < atomic_load(&s->lease_until));
}

int64_t
svc_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
svc_fence(svc *s, int64_t until_ms)
{
	atomic_store(&s->lease_until, until_ms);
}

void
svc_coord_note(svc *s, const char *state, int won, int stepped_down)
{
	atomic_store(&s->coord_state, state);
	if (won)
		atomic_fetch_add(&s->won, 1);
	if (stepped_down)
		atomic_fetch_add(&s->step_downs, 1);
}

void
svc_count(svc *s, int method, int code)
{
	if ((unsigned) method < FS_METHOD_LIMIT &&
	    (unsigned) code < FS_CODE_COUNT)
		atomic_fetch_add_explicit(&s->counts[method][code], 1,
		    memory_order_relaxed);
}

void
svc_learn_term(svc *s, uint64_t term, const char *from)
{
	uint64_t mine = terms_last(s->terms);

	if (terms_learn(s->terms, term) == 1 &&
	    atomic_load(&s->role) == SVC_PRIMARY && term > mine)
		fs_log(FS_LOG_WARN, NULL,
		    "term %llu is above this primary's (%llu), heard from %s: "
		    "no longer accepting changes (Not the primary.)",
		    (unsigned long long) term, (unsigned long long) mine,
		    from);
}

/* ---- applying a primary's records ---------------------------------------- */

/* One record of the primary, with the write lock held. */
static int
apply_one(svc *s, const uint8_t *b, size_t len, char *why, size_t n)
{
	Flowsvc__LogRecord *rec = flowsvc__log_record__unpack(NULL, len, b);
	svc_reply r;
	int rv;

	if (rec == NULL) {
		snprintf(why, n, "an undecodable change record");
		return FS_DATA_LOSS;
	}
	uint64_t term = rec->has_term ? rec->term : 1;
	uint64_t want = atomic_load(&s->revision) + 1;
	memset(&r, 0, sizeof(r));
	if (atomic_load(&s->role) != SVC_REPLICA) {
		snprintf(why, n, "no longer a replica");
		rv = FS_FAILED_PRECONDITION;
	} else if (!rec->has_revision || rec->revision != want) {
		snprintf(why, n, "record of revision %llu where %llu was next",
		    (unsigned long long) rec->revision,
		    (unsigned long long) want);
		rv = FS_FAILED_PRECONDITION;
	} else if (term > terms_last(s->terms) &&
	    terms_begin(s->terms, term, want) != 0) {
		snprintf(why, n, "the term history could not be saved");
		rv = FS_UNAVAILABLE;
	} else if (term < terms_of(s->terms, want)) {
		snprintf(why, n, "record of term %llu after term %llu",
		    (unsigned long long) term,
		    (unsigned long long) terms_of(s->terms, want));
		rv = FS_FAILED_PRECONDITION;
	} else {
		rv = svc_commit_record(s, rec, term, NULL, &r);
		if (rv != FS_OK)
			snprintf(why, n, "%s",
			    r.code == FS_INTERNAL
			        ? "the record does not fit the store"
			        : (r.message != NULL ? r.message
			                             : fs_strerror(r.code)));
		if (rv == FS_INTERNAL)
			rv = FS_DATA_LOSS;
	}
	svc_reply_fini(&r);
	flowsvc__log_record__free_unpacked(rec, NULL);
	return rv;
}

int
svc_apply_replicated(svc *s, const uint8_t *b, size_t len, char *why, size_t n)
{
	pthread_rwlock_wrlock(&s->lock);
	int rv = apply_one(s, b, len, why, n);
	pthread_rwlock_unlock(&s->lock);
	return rv;
}

/* Records applied per hold of the write lock: enough to pay for the
 * lock, few enough that reads between them wait well under a
 * millisecond. */
#define APPLY_PER_LOCK 64

int
svc_apply_replicated_n(svc *s, const ProtobufCBinaryData *recs, size_t n,
    size_t *done, char *why, size_t wn)
{
	int rv = FS_OK;

	*done = 0;
	while (*done < n && rv == FS_OK) {
		size_t end =
		    *done + APPLY_PER_LOCK < n ? *done + APPLY_PER_LOCK : n;
		pthread_rwlock_wrlock(&s->lock);
		for (; *done < end && rv == FS_OK; (*done)++)
			if ((rv = apply_one(s, recs[*done].data,
			         recs[*done].len, why, wn)) != FS_OK)
				break;
		pthread_rwlock_unlock(&s->lock);
	}
	return rv;
}

/* ---- the methods ---------------------------------------------------------- */

/* The replication fields of Health and Stats. */
void
svc_repl_fields(svc *s, repl_status *rs, char **role,
    protobuf_c_boolean *has_term, uint64_t *term, char **primary,
    protobuf_c_boolean *has_lr, uint64_t *lr, protobuf_c_boolean *has_lm,
    uint64_t *lm)
{
	int replica = atomic_load(&s->role) == SVC_REPLICA;

	memset(rs, 0, sizeof(*rs));
	*role = replica ? "replica" : "primary";
	*has_term = 1;
	*term = terms_known(s->terms);
	repl_follow *f = s->follow;
	if (!replica || f == NULL)
		return;
	repl_follow_status(f, rs);
	*primary = (char *) rs->primary;
	*has_lr = *has_lm = 1;
	*lr = rs->lag_revisions;
	*lm = rs->lag_ms;
}

/* Replication reads every group and promotion changes who takes changes:
 * for callers that act for every group only (CONTRACT §5). */
static int
trusted_only(const svc_req *q, svc_reply *r)
{
	if (access_all_groups(q->who))
		return 1;
	svc_reply_err(r, FS_PERMISSION_DENIED,
	    "Replication is for callers that act for every group.");
	return 0;
}

int
svc_repl_replicate(svc *s, const svc_req *q, svc_reply *r)
{
	if (!trusted_only(q, r))
		return 0;
	if (s->rsrv == NULL)
		svc_reply_err(r, FS_FAILED_PRECONDITION,
		    "The service runs without a data directory.");
	else
		repl_replicate_now(s->rsrv, q->env, q->msg, r);
	return 0;
}

int
svc_repl_snapshot_fetch(svc *s, const svc_req *q, svc_reply *r)
{
	if (!trusted_only(q, r))
		return 0;
	if (s->rsrv == NULL)
		svc_reply_err(r, FS_FAILED_PRECONDITION,
		    "The service runs without a data directory.");
	else
		repl_snapshot_fetch(s->rsrv, q->msg, r);
	return 0;
}

int
svc_promote(svc *s, uint64_t want, uint64_t *term, uint64_t *rev)
{
	int was_replica;

	pthread_rwlock_wrlock(&s->lock);
	*rev = atomic_load(&s->revision);
	was_replica = atomic_load(&s->role) == SVC_REPLICA;
	if (want == 0 && svc_accepts_changes(s)) {
		*term = terms_last(s->terms);
	} else {
		*term = want != 0 ? want : terms_known(s->terms) + 1;
		if (*term <= terms_known(s->terms)) {
			pthread_rwlock_unlock(&s->lock);
			return FS_FAILED_PRECONDITION;
		}
		if (terms_begin(s->terms, *term, *rev + 1) != 0) {
			pthread_rwlock_unlock(&s->lock);
			return FS_UNAVAILABLE;
		}
		atomic_store(&s->role, SVC_PRIMARY);
		fs_log(FS_LOG_WARN, NULL,
		    "promoted: %s is the primary now, term %llu, changes "
		    "from revision %llu on",
		    was_replica ? "this replica" : "this backend",
		    (unsigned long long) *term, (unsigned long long) *rev + 1);
	}
	pthread_rwlock_unlock(&s->lock);
	return FS_OK;
}

/* A replica becomes the primary with the next term: it stops following
 * (the follower's next record is refused) and takes changes from the
 * next revision on, in a term above any it knows. A coordinated backend
 * is made the primary by its coordinator only (etcd decides). */
int
svc_repl_promote(svc *s, const svc_req *q, svc_reply *r)
{
	Flowsvc__PromoteReply pr = FLOWSVC__PROMOTE_REPLY__INIT;
	uint64_t term, rev;

	if (!trusted_only(q, r))
		return 0;
	if (s->coordinated) {
		svc_reply_err(r, FS_FAILED_PRECONDITION,
		    "This backend's primary is chosen by its coordinator "
		    "(--coordinator).");
		return 0;
	}
	if (svc_promote(s, 0, &term, &rev) != FS_OK) {
		svc_reply_err(r, FS_UNAVAILABLE,
		    "The new term could not be saved.");
		return 0;
	}
	pr.term = term;
	pr.revision = rev;
	r->has_revision = 1;
	r->revision = rev;
	r->term = term;
	svc_reply_msg(r, &pr.base);
	return 0;
}

/* ---- where a call goes ----------------------------------------------------- */

/* A call waiting for the store to reach its min_revision. */
struct behind {
	svc *s;
	fs_srv_call *call;
	const Flowsvc__Request *req;
	int64_t start_us; /* a Watch's, for its access line (0: log off) */
};

static void
behind_done(void *arg, int outcome)
{
	struct behind *b = arg;
	svc *s = b->s;

	if (outcome == SVC_WAIT_GONE) {
		/* Its client is gone: nothing to answer; the server ends the
		 * call. */
		svc_count(s, (int) b->req->method, FS_CANCELLED);
	} else if (outcome == SVC_WAIT_REACHED) {
		if (b->req->method == FLOWSVC__METHOD__WATCH)
			/* Served now from where it asked: what there is,
			 * or an empty answer at the revision reached (the
			 * call is detached already, so it does not park
			 * again; the caller asks on from there). */
			svc_watch_handle(s->watch, b->call, b->req,
			    b->start_us);
		else
			svc_run_call(s, b->call, b->req);
	} else {
		svc_reply r;
		char msg[160];
		memset(&r, 0, sizeof(r));
		snprintf(msg, sizeof(msg),
		    "Revision %llu is not here yet (this backend is at %llu).",
		    (unsigned long long) b->req->min_revision,
		    (unsigned long long) atomic_load(&s->revision));
		r.code = FS_UNAVAILABLE;
		r.message = msg;
		svc_note_revision(s, &r);
		Flowsvc__Reply rep;
		svc_reply_wire(&r, &rep);
		svc_count(s, (int) b->req->method, FS_UNAVAILABLE);
		fs_srv_reply(b->call, &rep);
	}
	free(b);
}

/* When a request's wait must end: a little before its deadline, so that
 * the answer reaches the caller before it gives up; 5 s without one. */
int64_t
svc_wait_end_ms(fs_srv_call *call)
{
	int64_t now = fs_now_ms(), dl = fs_srv_deadline_ms(call);

	if (dl <= 0)
		return now + FS_RPC_DEFAULT_TIMEOUT_MS;
	int64_t left = dl - now, margin = left / 10;
	if (margin > 250)
		margin = 250;
	return dl - margin;
}

/* Waits (detached, on the waiter thread) until the store reaches
 * req->min_revision, then serves req; or answers UNAVAILABLE at the
 * deadline. Returns 0, or -1 when it cannot wait (serve it now). */
static int
wait_behind(svc *s, fs_srv_call *call, const Flowsvc__Request *req)
{
	struct behind *b = malloc(sizeof(*b));

	if (b == NULL)
		return -1;
	b->s = s;
	b->call = call;
	b->req = req;
	b->start_us = s->access_log ? fs_now_us() : 0;
	/* Detached, it holds no context of the pool, and ends should its
	 * client go; else it waits in the pool. */
	fs_srv_call *det = fs_srv_detach(call) == 0 ? call : NULL;
	if (svc_wait_for(s->waiter, req->min_revision, svc_wait_end_ms(call),
	        behind_done, b, det) != FS_OK) {
		free(b);
		return -1;
	}
	return 0;
}

/* 1 when a replica must forward req: a change, or a Batch holding one. */
int
svc_must_forward(const Flowsvc__Request *req)
{
	if (fs_method_is((int) req->method, FS_M_WRITE))
		return 1;
	if (req->method != FLOWSVC__METHOD__BATCH || !req->has_payload)
		return 0;
	Flowsvc__BatchRequest *b = flowsvc__batch_request__unpack(NULL,
	    req->payload.len, req->payload.data);
	int w = 0;
	for (size_t i = 0; b != NULL && i < b->n_requests && !w; i++)
		w = fs_method_is((int) b->requests[i]->method, FS_M_WRITE);
	if (b != NULL)
		flowsvc__batch_request__free_unpacked(b, NULL);
	return w;
}

/* --sync-replicas: a follower's Replicate call acknowledges the
 * records it has written, up to its from_revision, when its history
 * agrees with this backend's there. */
static void
note_ack(svc *s, const Flowsvc__Request *req)
{
	Flowsvc__ReplicateRequest *m = flowsvc__replicate_request__unpack(NULL,
	    req->has_payload ? req->payload.len : 0,
	    req->has_payload ? req->payload.data : NULL);

	if (m == NULL)
		return;
	uint64_t from = m->from_revision;
	if (m->follower != NULL && from <= atomic_load(&s->revision) &&
	    (from == 0 ||
	        terms_of(s->terms, from) == (m->from_term ? m->from_term : 1)))
		repl_sync_ack(s->sync, m->follower, from);
	flowsvc__replicate_request__free_unpacked(m, NULL);
}

int
svc_repl_route(svc *s, fs_srv_call *call, const Flowsvc__Request *req)
{
	if (req->method == FLOWSVC__METHOD__REPLICATE && s->rsrv != NULL &&
	    access_all_groups(req->caller)) {
		if (s->sync != NULL)
			note_ack(s, req);
		repl_replicate_handle(s->rsrv, call, req);
		return 1;
	}
	repl_follow *f = s->follow;
	if (atomic_load(&s->role) == SVC_REPLICA && f != NULL &&
	    svc_must_forward(req)) {
		repl_forward(f, call, req);
		return 1;
	}
	/* Read your writes: a replica's read waits until its store has what
	 * the caller saw. A primary is the newest there is: a revision above
	 * its own came from another store (one that was replaced, or a
	 * primary that lost changes it had not replicated), and waiting would
	 * not bring it, so it answers at once. Changes are made at the
	 * store's current revision. */
	if (req->has_min_revision &&
	    req->min_revision > atomic_load(&s->revision) &&
	    atomic_load(&s->role) == SVC_REPLICA &&
	    !fs_method_is((int) req->method, FS_M_WRITE) &&
	    wait_behind(s, call, req) == 0)
		return 1;
	return 0;
}

int
svc_repl_wait_watch(svc *s, fs_srv_call *call, const Flowsvc__Request *req)
{
	return req->has_min_revision &&
	    req->min_revision > atomic_load(&s->revision) &&
	    atomic_load(&s->role) == SVC_REPLICA &&
	    wait_behind(s, call, req) == 0;
}

int
svc_follow(svc *s, char *err, size_t errlen)
{
	if (s->follow == NULL)
		return 0;
	if (repl_follow_start(s->follow) != 0) {
		snprintf(err, errlen, "cannot start the replication thread");
		return -1;
	}
	return 0;
}

int
svc_follow_url(svc *s, const char *url, char *err, size_t errlen)
{
	repl_follow_opts fo = {url, s->o.replica_tls, s->o.follower,
	    s->o.rebootstrap, s->o.rebootstrap_arg, s->o.bootstraps};
	repl_follow *f = NULL, *old;

	pthread_mutex_lock(&s->follow_mu);
	old = s->follow;
	if (s->nretired == SVC_RETIRED_MAX) {
		/* The oldest retired one has been stopped for many leader
		 * changes: nothing holds it any more. */
		repl_follow_free(s->retired[0]);
		memmove(s->retired, s->retired + 1,
		    (SVC_RETIRED_MAX - 1) * sizeof(s->retired[0]));
		s->nretired--;
	}
	if (repl_follow_new(&f, s, &fo, err, errlen) != 0) {
		pthread_mutex_unlock(&s->follow_mu);
		return -1;
	}
	/* The old follower applies nothing more before the role changes
	 * (joined outside the store's lock: it may be waiting for it). */
	repl_follow_stop(old);
	pthread_rwlock_wrlock(&s->lock);
	atomic_store(&s->role, SVC_REPLICA);
	pthread_rwlock_unlock(&s->lock);
	s->follow = f;
	if (old != NULL)
		s->retired[s->nretired++] = old;
	int rv = repl_follow_start(f);
	pthread_mutex_unlock(&s->follow_mu);
	if (rv != 0)
		snprintf(err, errlen, "cannot start the replication thread");
	return rv;
}
