/*
 * repl_follow.c - a replica's side (repl.h): the thread that follows the
 * backend at --replica-of, and forwarding changes to it.
 *
 * The thread asks Replicate for the records after the replica's revision
 * (with that revision's term, so the primary can tell a replica that
 * holds changes it does not), applies each through the write path, and
 * asks again. Too far behind (OUT_OF_RANGE), or diverged: it logs why
 * (for a divergence, how many of its own changes the primary never
 * received) and asks the program to restart it with a bootstrap.
 * Anything else (the primary down, stopped, restarting) is waited out,
 * retrying with a backoff, while reads go on being served.
 *
 * Two clients: one for the long polls of the thread, one for forwarded
 * changes (so a parked poll never delays a change).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_errors.h"
#include "fs_log.h"
#include "fs_util.h"
#include "repl.h"
#include "svc_int.h"
#include "terms.h"

#define FOLLOW_WAIT_MS 2000u /* per Replicate poll */
#define FOLLOW_BYTES (4u << 20)

struct repl_follow {
	svc *s;
	repl_follow_opts o;
	char *url, *name;
	fs_client *poll; /* Replicate */
	fs_client *fwd;  /* forwarded changes */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thr;
	int running, stop;
	/* The call in flight (mu). */
	int done, code;
	Flowsvc__Reply *reply;

	/* Status (mu). */
	uint64_t primary_rev;
	int64_t caught_up_ms; /* when it last had all the primary had */
	int64_t answer_ms;    /* when the last answer came */
	int heard;            /* an answer came since start */
	_Atomic uint64_t forwarded, records;
};

int
repl_follow_new(repl_follow **out, svc *s, const repl_follow_opts *o,
    char *err, size_t n)
{
	repl_follow *f = calloc(1, sizeof(*f));
	int rv;

	if (f == NULL || (f->url = strdup(o->url)) == NULL ||
	    (f->name = strdup(o->name != NULL ? o->name : "")) == NULL) {
		if (f != NULL)
			free(f->url);
		free(f);
		snprintf(err, n, "out of memory");
		return -1;
	}
	f->s = s;
	f->o = *o;
	f->o.url = f->url;
	f->o.name = f->name;
	f->o.tls = NULL;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->caught_up_ms = fs_now_ms();
	if ((rv = fs_client_open_tls(&f->poll, o->url, o->tls)) != FS_OK ||
	    (rv = fs_client_open_tls(&f->fwd, o->url, o->tls)) != FS_OK) {
		snprintf(err, n, "--replica-of %s: %s", o->url,
		    fs_client_last_error());
		repl_follow_free(f);
		return -1;
	}
	*out = f;
	return 0;
}

static void
poll_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	repl_follow *f = arg;

	pthread_mutex_lock(&f->mu);
	f->done = 1;
	f->code = code;
	f->reply = reply;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/* Sleeps ms unless stopped. Returns 1 when stopped. */
static int
nap(repl_follow *f, uint32_t ms)
{
	struct timespec ts;
	int64_t end = fs_now_ms() + ms;

	ts.tv_sec = end / 1000;
	ts.tv_nsec = (end % 1000) * 1000000;
	pthread_mutex_lock(&f->mu);
	while (!f->stop && fs_now_ms() < end)
		if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) != 0)
			break;
	int stop = f->stop;
	pthread_mutex_unlock(&f->mu);
	return stop;
}

/* Starts one Replicate call for the records after from (of term
 * from_term). Returns 0, or the code it could not start with. */
static int
poll_start(repl_follow *f, uint64_t from, uint64_t from_term)
{
	Flowsvc__ReplicateRequest m = FLOWSVC__REPLICATE_REQUEST__INIT;
	fs_call_opts co = {0};

	m.has_from_revision = m.has_from_term = m.has_wait_ms = 1;
	m.from_revision = from;
	m.from_term = from > 0 ? from_term : 0;
	/* The first call answers at once: until an answer comes the replica
	 * cannot say it is caught up (Health's lag_ms). */
	pthread_mutex_lock(&f->mu);
	m.wait_ms = f->heard ? FOLLOW_WAIT_MS : 0;
	pthread_mutex_unlock(&f->mu);
	m.has_max_bytes = 1;
	m.max_bytes = FOLLOW_BYTES;
	m.follower = f->name;
	m.has_term = 1;
	m.term = terms_known(svc_terms(f->s));
	co.timeout_ms = 5000; /* on top of wait_ms */
	co.request_id = "replicate";
	pthread_mutex_lock(&f->mu);
	f->done = 0;
	pthread_mutex_unlock(&f->mu);
	return fs_client_call_async(f->poll, FLOWSVC__METHOD__REPLICATE,
	    &m.base, &co, poll_cb, f);
}

/* Waits for the call poll_start started. Returns its code, with *reply
 * (caller frees) when one came; FS_CANCELLED when stopped (the client's
 * close then ends the call; its callback still comes, and finds done
 * unset, with nothing waiting). */
static int
poll_wait(repl_follow *f, Flowsvc__Reply **reply)
{
	int rv;

	*reply = NULL;
	pthread_mutex_lock(&f->mu);
	while (!f->done && !f->stop)
		pthread_cond_wait(&f->cv, &f->mu);
	if (!f->done) {
		pthread_mutex_unlock(&f->mu);
		return FS_CANCELLED;
	}
	rv = f->code;
	*reply = f->reply;
	f->reply = NULL;
	pthread_mutex_unlock(&f->mu);
	return rv;
}

/* The revision and term of a packed record (0s when it does not say). */
static void
record_id(const ProtobufCBinaryData *b, uint64_t *rev, uint64_t *term)
{
	Flowsvc__LogRecord *r =
	    flowsvc__log_record__unpack(NULL, b->len, b->data);

	*rev = r != NULL && r->has_revision ? r->revision : 0;
	*term = r != NULL && r->has_term ? r->term : 1;
	if (r != NULL)
		flowsvc__log_record__free_unpacked(r, NULL);
}

/* The answer says the histories part. Returns 1 when this replica holds
 * changes the primary does not (how many, logged: it must take a fresh
 * snapshot), 0 when it has none after all (it has no revision the primary
 * lacks: ask again). */
static int
diverged(repl_follow *f, uint64_t mine, const Flowsvc__ReplicateReply *rr)
{
	uint64_t fork = terms_fork(svc_terms(f->s), mine,
	    (const Flowsvc__TermStart *const *) rr->terms, rr->n_terms,
	    rr->revision);

	if (fork >= mine)
		return 0;
	fs_log(FS_LOG_WARN, NULL,
	    "replica: %s (term %" PRIu64 ") does not have this backend's "
	    "changes after revision %" PRIu64 ": dropping %" PRIu64
	    " changes of its own that it never received (revisions %" PRIu64
	    "-%" PRIu64 "), and taking a fresh snapshot",
	    f->url, rr->term, fork, mine - fork, fork + 1, mine);
	return 1;
}

/* 1 when rr comes from a backend of a term below the highest this one
 * knows: a deposed primary, whose changes (made after it lost its term)
 * are not taken. */
static int
deposed(repl_follow *f, const Flowsvc__ReplicateReply *rr)
{
	return rr->term != 0 && rr->term < terms_known(svc_terms(f->s));
}

/* Applies rr's records; the next poll is already on its way meanwhile.
 * Returns 0, or -1 when one was not applied (logged). */
static int
apply_all(repl_follow *f, const Flowsvc__ReplicateReply *rr)
{
	char why[256];
	size_t done = 0;
	int rv = svc_apply_replicated_n(f->s,
	    (const ProtobufCBinaryData *) rr->records, rr->n_records, &done,
	    why, sizeof(why));

	atomic_fetch_add(&f->records, done);
	if (rv != FS_OK && svc_role(f->s) == SVC_REPLICA)
		fs_log(FS_LOG_ERROR, NULL,
		    "replica: a record from %s was not applied: %s", f->url,
		    why);
	return rv == FS_OK ? 0 : -1;
}

/* The follower. One Replicate call is in flight at a time, and the next
 * one leaves as soon as an answer with records comes, before they are
 * applied (from the last of them), so that the primary's reading and the
 * network overlap with the replica's own writing. */
static void *
follow_main(void *arg)
{
	repl_follow *f = arg;
	uint32_t backoff = 50;
	int said = 0, started = 0;
	uint64_t from = 0, from_term = 0;

	while (svc_role(f->s) == SVC_REPLICA) {
		Flowsvc__Reply *reply = NULL;
		Flowsvc__ReplicateReply *rr = NULL;
		int code;

		if (!started) {
			from = svc_revision(f->s);
			from_term = terms_of(svc_terms(f->s), from);
			if ((code = poll_start(f, from, from_term)) == 0)
				started = 1;
		}
		if (started)
			code = poll_wait(f, &reply);
		started = 0;
		if (code == FS_CANCELLED)
			break;
		if (code == FS_OK)
			rr =
			    (Flowsvc__ReplicateReply *) fs_reply_payload(reply,
			        &flowsvc__replicate_reply__descriptor);
		if (code == FS_OK && rr != NULL && deposed(f, rr)) {
			if (!said)
				fs_log(FS_LOG_WARN, NULL,
				    "replica: %s is in term %" PRIu64
				    ", below the %" PRIu64
				    " this backend knows: a deposed primary, "
				    "its records are not taken",
				    f->url, rr->term,
				    terms_known(svc_terms(f->s)));
			said = 1;
			code = FS_FAILED_PRECONDITION;
		}
		if (code == FS_OK && rr != NULL) {
			svc_learn_term(f->s, rr->term, f->url);
			if (rr->diverged) {
				int drop = diverged(f, from, rr);
				flowsvc__replicate_reply__free_unpacked(rr,
				    NULL);
				flowsvc__reply__free_unpacked(reply, NULL);
				if (!drop) {
					if (nap(f, 100))
						break;
					continue;
				}
				if (f->o.rebootstrap != NULL)
					f->o.rebootstrap(f->o.arg);
				break;
			}
			if (said)
				fs_log(FS_LOG_INFO, NULL,
				    "replica: following %s again", f->url);
			said = 0;
			backoff = 50;
			if (rr->n_records > 0) {
				uint64_t lr, lt;
				record_id(&rr->records[rr->n_records - 1], &lr,
				    &lt);
				/* Not before they are written when the
				 * primary waits for this call to
				 * acknowledge them (--sync-replicas). */
				if (lr == from + rr->n_records &&
				    !rr->sync_ack &&
				    poll_start(f, lr, lt) == 0) {
					started = 1;
					from = lr;
					from_term = lt;
				}
			}
			int bad = apply_all(f, rr) != 0;
			uint64_t now_rev = svc_revision(f->s);
			pthread_mutex_lock(&f->mu);
			f->heard = 1;
			if (rr->revision > f->primary_rev ||
			    rr->n_records == 0)
				f->primary_rev = rr->revision;
			f->answer_ms = fs_now_ms();
			if (now_rev >= f->primary_rev)
				f->caught_up_ms = f->answer_ms;
			pthread_mutex_unlock(&f->mu);
			flowsvc__replicate_reply__free_unpacked(rr, NULL);
			flowsvc__reply__free_unpacked(reply, NULL);
			if (bad) {
				/* The call in flight asked from a revision
				 * this replica does not have: drop it. */
				if (started) {
					Flowsvc__Reply *x = NULL;
					if (poll_wait(f, &x) == FS_CANCELLED)
						break;
					if (x != NULL)
						flowsvc__reply__free_unpacked(
						    x, NULL);
					started = 0;
				}
				if (nap(f, 1000))
					break;
			}
			continue;
		}
		if (code == FS_OUT_OF_RANGE) {
			fs_log(FS_LOG_WARN, NULL,
			    "replica: %s no longer keeps the changes after "
			    "revision %" PRIu64 ": taking a fresh snapshot",
			    f->url, from);
			if (reply != NULL)
				flowsvc__reply__free_unpacked(reply, NULL);
			if (f->o.rebootstrap != NULL)
				f->o.rebootstrap(f->o.arg);
			break;
		}
		if (!said)
			fs_log(FS_LOG_WARN, NULL,
			    "replica: cannot follow %s (%s%s%s); trying again",
			    f->url, fs_code_name(code),
			    reply != NULL && reply->message ? ": " : "",
			    reply != NULL && reply->message ? reply->message
			                                    : "");
		said = 1;
		if (rr != NULL)
			flowsvc__replicate_reply__free_unpacked(rr, NULL);
		if (reply != NULL)
			flowsvc__reply__free_unpacked(reply, NULL);
		if (nap(f, backoff))
			break;
		backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
	}
	return NULL;
}

int
repl_follow_start(repl_follow *f)
{
	if (pthread_create(&f->thr, NULL, follow_main, f) != 0)
		return -1;
	f->running = 1;
	fs_log(FS_LOG_INFO, NULL,
	    "replica: following %s from revision %" PRIu64, f->url,
	    svc_revision(f->s));
	return 0;
}

void
repl_follow_stop(repl_follow *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	if (f->running) {
		pthread_join(f->thr, NULL);
		f->running = 0;
	}
}

void
repl_follow_free(repl_follow *f)
{
	if (f == NULL)
		return;
	repl_follow_stop(f);
	if (f->poll != NULL)
		fs_client_close(f->poll);
	if (f->fwd != NULL)
		fs_client_close(f->fwd);
	if (f->reply != NULL)
		flowsvc__reply__free_unpacked(f->reply, NULL);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f->url);
	free(f->name);
	free(f);
}

void
repl_follow_status(repl_follow *f, repl_status *st)
{
	uint64_t cur = svc_revision(f->s);

	memset(st, 0, sizeof(*st));
	st->primary = f->url;
	pthread_mutex_lock(&f->mu);
	st->primary_revision = f->primary_rev;
	st->lag_revisions = f->primary_rev > cur ? f->primary_rev - cur : 0;
	int64_t now = fs_now_ms();
	/* Caught up, and in touch: an answer within a poll's wait (a poll
	 * parked at the primary answers when its wait ends). */
	if (st->lag_revisions == 0 && f->heard &&
	    now - f->answer_ms <= (int64_t) FOLLOW_WAIT_MS + 1000)
		st->lag_ms = 0;
	else
		st->lag_ms = now > f->caught_up_ms
		    ? (uint64_t) (now - f->caught_up_ms)
		    : 0;
	pthread_mutex_unlock(&f->mu);
	st->bootstraps = f->o.bootstraps;
	st->forwarded = atomic_load(&f->forwarded);
	st->records = atomic_load(&f->records);
}

/* ---- forwarding ---------------------------------------------------------- */

struct fwd {
	repl_follow *f;
	fs_srv_call *call;
	int method;
};

static void
fwd_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	struct fwd *x = arg;

	svc_count(x->f->s, x->method, reply != NULL ? code : FS_UNAVAILABLE);
	if (reply != NULL) {
		if (reply->has_revision && code == FS_OK)
			atomic_fetch_add(&x->f->forwarded, 1);
		fs_srv_reply(x->call, reply);
		flowsvc__reply__free_unpacked(reply, NULL);
	} else {
		char msg[200];
		snprintf(msg, sizeof(msg),
		    "The primary (%s) did not answer (%s): the change may "
		    "or may not have been made.",
		    x->f->url, fs_code_name(code));
		fs_srv_reply_code(x->call, FS_UNAVAILABLE, msg, NULL);
	}
	free(x);
}

void
repl_forward(repl_follow *f, fs_srv_call *call, const Flowsvc__Request *req)
{
	struct fwd *x = malloc(sizeof(*x));
	int64_t now = fs_now_ms(), dl = fs_srv_deadline_ms(call);
	uint32_t timeout = FS_RPC_DEFAULT_TIMEOUT_MS;
	int rv;

	if (x == NULL) {
		fs_srv_reply_code(call, FS_RESOURCE_EXHAUSTED, NULL, NULL);
		return;
	}
	if (dl > 0) {
		/* Answer before the caller gives up: a little ahead of its
		 * deadline. */
		int64_t left = dl - now, margin = left / 10;
		if (margin > 250)
			margin = 250;
		left -= margin;
		timeout = left < 1 ? 1 : (uint32_t) left;
	}
	x->f = f;
	x->call = call;
	x->method = (int) req->method;
	(void) fs_srv_detach(call); /* the wait holds no context of the pool */
	if ((rv = fs_client_forward_async(f->fwd, req, timeout, fwd_cb, x)) !=
	    0) {
		char msg[200];
		snprintf(msg, sizeof(msg),
		    "The primary (%s) cannot be reached (%s).", f->url,
		    fs_code_name(rv));
		free(x);
		svc_count(f->s, (int) req->method, FS_UNAVAILABLE);
		fs_srv_reply_code(call, FS_UNAVAILABLE, msg, NULL);
	}
}
