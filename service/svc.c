/*
 * svc.c - the service object: open and close, the handler table and
 * dispatch, the single write path (svc_commit, svc_apply), replies that
 * wait for the disk, and the service's own methods (Health, Stats,
 * Snapshot). Its part in replication (role, terms, a primary's records,
 * Replicate, SnapshotFetch, Promote, forwarding, min_revision waits) is
 * svc_repl.c's.
 *
 * Every mutation is expressed as a Flowsvc__LogRecord and goes through
 * svc_commit(), which (with the write lock held) appends the record to the
 * change log when one is open and then applies it with svc_apply(), the same
 * function that replays the log at start. Reads never touch the disk.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include "svc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "batch.h"
#include "fs_errors.h"
#include "fs_log.h"
#include "fs_methods.h"
#include "fs_util.h"
#include "listview.h"
#include "persist.h"
#include "repl.h"
#include "repl_sync.h"
#include "store.h"
#include "svc_int.h"
#include "svc_wait.h"
#include "svc_watch.h"
#include "terms.h"

#include "svc_struct.h"

/* ---- the store and its lock --------------------------------------------- */

store *
svc_store(svc *s)
{
	return s->st;
}

listview_set *
svc_views(svc *s)
{
	return s->views;
}

void
svc_note_revision(svc *s, svc_reply *r)
{
	r->has_revision = 1;
	r->revision = atomic_load(&s->revision);
}

svc_watch *
svc_watcher(svc *s)
{
	return s->watch;
}

void
svc_read_lock(svc *s)
{
	pthread_rwlock_rdlock(&s->lock);
}

void
svc_write_lock(svc *s)
{
	pthread_rwlock_wrlock(&s->lock);
}

void
svc_unlock(svc *s)
{
	pthread_rwlock_unlock(&s->lock);
}

store_comp *
svc_find(svc *s, const svc_req *q, svc_reply *r, const char *id,
    protobuf_c_boolean has_kind, Flowsvc__Kind kind)
{
	store_comp *c = access_lookup(s->st, q->who, id,
	    has_kind ? (int) kind : FLOWSVC__KIND__KIND_ANY);

	svc_note_revision(s, r);
	if (c == NULL)
		svc_reply_err(r, FS_NOT_FOUND, NULL);
	return c;
}

/* ---- the write path ----------------------------------------------------- */

/* A record made ready to apply: every allocation done and every check
 * against the store passed, so that applying it cannot fail. */
typedef struct svc_prep {
	int op;         /* rec->op_case */
	store_prep put; /* OP_PUT */
	store_comp *c;  /* OP_DELETE_ID, OP_STATUS */
} svc_prep;

static int
svc_apply_prepare(store *st, const Flowsvc__LogRecord *rec, svc_prep *p)
{
	uint8_t id[16];

	memset(p, 0, sizeof(*p));
	p->op = rec->op_case;
	switch (rec->op_case) {
	case FLOWSVC__LOG_RECORD__OP_PUT:
		return store_put_prepare(st, rec->put->component,
		    (int) rec->put->status, rec->put->seq, &p->put);
	case FLOWSVC__LOG_RECORD__OP_DELETE_ID:
		if (fs_uuid_parse(rec->delete_id, id) != 0 ||
		    (p->c = store_get(st, id)) == NULL ||
		    store_comp_nusers(p->c) != 0)
			return FS_FAILED_PRECONDITION;
		return FS_OK;
	case FLOWSVC__LOG_RECORD__OP_STATUS:
		if (fs_uuid_parse(rec->status->id, id) != 0 ||
		    (p->c = store_get(st, id)) == NULL)
			return FS_FAILED_PRECONDITION;
		return FS_OK;
	default:
		return FS_FAILED_PRECONDITION;
	}
}

static void
svc_apply_commit(store *st, const Flowsvc__LogRecord *rec, svc_prep *p)
{
	switch (p->op) {
	case FLOWSVC__LOG_RECORD__OP_PUT:
		store_put_commit(st, &p->put);
		break;
	case FLOWSVC__LOG_RECORD__OP_DELETE_ID:
		store_delete(st, p->c);
		break;
	case FLOWSVC__LOG_RECORD__OP_STATUS:
		store_set_status(st, p->c, (int) rec->status->status);
		break;
	}
}

static void
svc_apply_abort(store *st, svc_prep *p)
{
	if (p->op == FLOWSVC__LOG_RECORD__OP_PUT)
		store_put_abort(st, &p->put);
}

/* Applies one record to the store. Returns FS_OK, FS_RESOURCE_EXHAUSTED
 * or FS_FAILED_PRECONDITION (a record that does not fit the store: unknown
 * id, broken reference, a flow still in use); st is unchanged but for the
 * first. */
int
svc_apply(store *st, const Flowsvc__LogRecord *rec)
{
	svc_prep p;
	int rv = svc_apply_prepare(st, rec, &p);

	if (rv == FS_OK)
		svc_apply_commit(st, rec, &p);
	return rv;
}

/* The history's event of rec (prepared as p), of revision rev. NULL when
 * out of memory. */
static watch_event *
commit_event(svc *s, const Flowsvc__LogRecord *rec, const svc_prep *p,
    uint64_t rev)
{
	switch (p->op) {
	case FLOWSVC__LOG_RECORD__OP_PUT:
		return svc_watch_event_put(s->st, rec->put, p->put.packed,
		    p->put.plen, p->put.old == NULL, rev);
	case FLOWSVC__LOG_RECORD__OP_DELETE_ID:
		return svc_watch_event_of(s->st, p->c,
		    FLOWSVC__EVENT_TYPE__DELETED, store_comp_status(p->c),
		    rev);
	default:
		return svc_watch_event_of(s->st, p->c,
		    FLOWSVC__EVENT_TYPE__STATUS, (int) rec->status->status,
		    rev);
	}
}

/* The write path: rec is made ready against the store (every allocation
 * it needs done, its event for the Watch history made), appended to the
 * change log, then applied, which cannot fail any more; so a change is
 * either in both the log and the store, or in neither. A delete or status
 * record goes to the log with the component it concerns
 * (LogRecord.component), so that the log alone tells the change. Its
 * answer was built before too (svc_answer): a change that is made is
 * always answered OK, with the revision it took; its event joins the
 * history before the write lock is let go, so a watch from the revision
 * before it sees it. */
/* The write path of a record: svc_commit's for a change made here
 * (a: its answer), svc_apply_replicated's for a record of the primary (a
 * NULL). term: the record's. */
int
svc_commit_record(svc *s, const Flowsvc__LogRecord *rec, uint64_t term,
    svc_answer *a, svc_reply *r)
{
	Flowsvc__LogRecord full = *rec;
	Flowsvc__StoredComponent sc = FLOWSVC__STORED_COMPONENT__INIT;
	Flowsvc__Component *comp = NULL;
	uint64_t rev = atomic_load(&s->revision) + 1;
	watch_event *ev = NULL;
	char why[768];
	svc_prep p;
	int rv = svc_apply_prepare(s->st, rec, &p);

	if (rv != FS_OK) {
		svc_answer_fini(a);
		svc_reply_err(r,
		    rv == FS_RESOURCE_EXHAUSTED ? FS_RESOURCE_EXHAUSTED
		                                : FS_INTERNAL,
		    NULL);
		return r->code;
	}
	if ((ev = commit_event(s, rec, &p, rev)) == NULL)
		goto oom;
	full.has_revision = 0;
	full.has_term = 1;
	full.term = term;
	if (s->disk != NULL && p.op != FLOWSVC__LOG_RECORD__OP_PUT &&
	    rec->component == NULL) {
		if ((comp = store_unpack(p.c)) == NULL)
			goto oom;
		sc.component = comp;
		sc.status = p.op == FLOWSVC__LOG_RECORD__OP_STATUS
		    ? rec->status->status
		    : (Flowsvc__Status) store_comp_status(p.c);
		sc.seq = store_comp_seq(p.c);
		full.component = &sc;
	}
	if (s->disk != NULL &&
	    (rv = persist_append(s->disk, &full, &r->ticket)) != FS_OK) {
		svc_apply_abort(s->st, &p);
		svc_answer_fini(a);
		watch_event_unref(ev);
		if (comp != NULL)
			flowsvc__component__free_unpacked(comp, NULL);
		if (rv == FS_RESOURCE_EXHAUSTED) {
			svc_reply_oom(r);
			return r->code;
		}
		if (persist_writable(s->disk, why, sizeof(why)))
			svc_reply_err(r, FS_UNAVAILABLE,
			    "The change could not be written to the change "
			    "log.");
		else
			svc_reply_err(r, FS_UNAVAILABLE,
			    "Changes are refused: %s.", why);
		return FS_UNAVAILABLE;
	}
	if (comp != NULL)
		flowsvc__component__free_unpacked(comp, NULL);
	svc_apply_commit(s->st, rec, &p);
	atomic_store(&s->revision, rev);
	svc_watch_publish(s->watch, ev);
	svc_wait_notify(s->waiter, rev);
	if (a != NULL)
		svc_answer_take(a, r);
	else
		r->code = FS_OK;
	r->has_revision = 1;
	r->revision = rev;
	r->term = term;
	return FS_OK;

oom:
	watch_event_unref(ev);
	svc_apply_abort(s->st, &p);
	svc_answer_fini(a);
	svc_reply_oom(r);
	return r->code;
}

/* The write path: rec is made ready against the store (every allocation
 * it needs done, its event for the Watch history made), appended to the
 * change log with this primary's term, then applied, which cannot fail
 * any more; so a change is either in both the log and the store, or in
 * neither. A delete or status record goes to the log with the component
 * it concerns (LogRecord.component), so that the log alone tells the
 * change. Its answer was built before too (svc_answer): a change that is
 * made is always answered OK, with the revision it took; its event joins
 * the history before the write lock is let go, so a watch from the
 * revision before it sees it. Only a primary that knows of no higher term
 * takes changes. */
int
svc_commit(svc *s, const Flowsvc__LogRecord *rec, svc_answer *a, svc_reply *r)
{
	if (!svc_accepts_changes(s)) {
		svc_answer_fini(a);
		svc_reply_err(r, FS_FAILED_PRECONDITION, "%s", FS_NOT_PRIMARY);
		r->term = terms_known(s->terms);
		return r->code;
	}
	return svc_commit_record(s, rec, terms_last(s->terms), a, r);
}

/* ---- the service's own methods ------------------------------------------ */

/* Answered once the snapshot is written (svc_handle defers the reply). */
static int
h_snapshot(svc *s, const svc_req *q, svc_reply *r)
{
	if (s->disk == NULL)
		svc_reply_err(r, FS_FAILED_PRECONDITION,
		    "The service runs without a data directory.");
	else
		r->snapshot = 1;
	return 0;
}

/* ---- dispatch ----------------------------------------------------------- */

/* The handler of every method the backend serves: one row per method of
 * FS_METHOD_TABLE (fs_methods.h), by its enum suffix. A method without a
 * row, or a value the table does not hold, answers UNIMPLEMENTED. */
/* clang-format off */
#define SVC_HANDLERS(X)                                                    \
	X(GET, svc_read_get)                                               \
	X(LIST, svc_read_list)                                             \
	X(CREATE, svc_change_create)                                       \
	X(UPDATE, svc_change_update)                                       \
	X(DELETE, svc_change_delete)                                       \
	X(GET_STATUS, svc_read_status)                                     \
	X(DEPLOY, svc_change_status)                                       \
	X(START, svc_change_status)                                        \
	X(STOP, svc_change_status)                                         \
	X(SNAPSHOT, h_snapshot)                                            \
	X(HEALTH, svc_h_health)                                            \
	X(STATS, svc_h_stats)                                              \
	X(BATCH, batch_run)                                                \
	X(WATCH, svc_watch_now)                                            \
	X(REPLICATE, svc_repl_replicate)                                   \
	X(SNAPSHOT_FETCH, svc_repl_snapshot_fetch)                         \
	X(PROMOTE, svc_repl_promote)
/* clang-format on */

static svc_handler *const handlers[FS_METHOD_LIMIT] = {
#define SVC_HANDLER(E, FN) [FLOWSVC__METHOD__##E] = FN,
    SVC_HANDLERS(SVC_HANDLER)
#undef SVC_HANDLER
};

/* The handler of method, or NULL. */
static svc_handler *
handler_of(int method)
{
	return fs_method(method) != NULL ? handlers[method] : NULL;
}

int
svc_serves(int method)
{
	return handler_of(method) != NULL;
}

void
svc_dispatch(svc *s, const Flowsvc__Request *req, svc_reply *r)
{
	(void) svc_dispatch_budget(s, req, r, SVC_REPLY_BUDGET);
}

int
svc_dispatch_budget(svc *s, const Flowsvc__Request *req, svc_reply *r,
    size_t budget)
{
	svc_handler *h = handler_of((int) req->method);
	const ProtobufCMessageDescriptor *d =
	    h != NULL ? fs_method(req->method)->request : NULL;
	ProtobufCMessage *m = NULL;
	int over = 0;

	memset(r, 0, sizeof(*r));
	/* The method's request message, by the table's descriptor; no
	 * payload is a message of defaults. */
	if (d != NULL)
		m = protobuf_c_message_unpack(d, NULL,
		    req->has_payload ? req->payload.len : 0,
		    req->has_payload ? req->payload.data : NULL);
	if (h == NULL) {
		svc_reply_err(r, FS_UNIMPLEMENTED, "Unknown method %d.",
		    (int) req->method);
	} else if (m == NULL) {
		svc_reply_err(r, FS_INVALID_ARGUMENT, "Undecodable %s.",
		    d->short_name);
	} else {
		svc_req q = {req, req->caller, m, budget};
		over = h(s, &q, r);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	if ((unsigned) req->method < FS_METHOD_LIMIT &&
	    (unsigned) r->code < FS_CODE_COUNT)
		atomic_fetch_add_explicit(&s->counts[req->method][r->code], 1,
		    memory_order_relaxed);
	return over;
}

/* ---- replies that may wait for the disk --------------------------------- */

/* Sends r for call (and releases r). */
static void
send_reply(fs_srv_call *call, svc_reply *r)
{
	Flowsvc__Reply rep;

	svc_reply_wire(r, &rep);
	fs_srv_reply(call, &rep);
	svc_reply_fini(r);
}

/* A reply in the making; it may wait for the disk (a sync, a snapshot),
 * then for the followers (--sync-replicas). */
struct deferred {
	svc *s;
	fs_srv_call *call;
	svc_reply r;
	int method;
	int64_t start_us;
	char rid[64];
	uint64_t sync_rev; /* a change to wait for the followers for; 0 */
	int64_t end_ms;    /* when that wait ends */
};

static void deferred_done(void *arg, int ok);

/* svc_wait_fn: the followers acknowledged the change, or did not in
 * time: UNAVAILABLE (the change is made here, but a failover may lose
 * it). */
static void
sync_done(void *arg, int expired)
{
	struct deferred *d = arg;

	if (expired) {
		svc *s = d->s;
		size_t have = repl_sync_connected(s->sync);
		repl_sync_timed_out(s->sync);
		int left = fs_log_limit_take(&s->sync_log);
		if (left >= 0)
			fs_log(FS_LOG_WARN, d->rid[0] ? d->rid : NULL,
			    "change of revision %llu not acknowledged by "
			    "--sync-replicas %u in time (%zu followers in "
			    "touch): answered UNAVAILABLE (%d more such "
			    "lines left out)",
			    (unsigned long long) d->sync_rev,
			    repl_sync_n(s->sync), have, left);
		svc_reply_fini(&d->r);
		memset(&d->r, 0, sizeof(d->r));
		d->r.code = FS_UNAVAILABLE;
		char msg[200];
		snprintf(msg, sizeof(msg),
		    "The change was not acknowledged by %u replicas in time "
		    "(%zu in touch): it may be lost in a failover.",
		    repl_sync_n(s->sync), have);
		d->r.message = strdup(msg);
	}
	d->sync_rev = 0;
	deferred_done(d, 1);
}

/* One line per request when --access-log is on: the request id ties it to
 * the gateway's line for the same request. */
static void
access_line(int method, int code, int64_t start_us, const char *rid)
{
	fs_log_field f[] = {FS_LOG_STR("method", fs_method_label(method)),
	    FS_LOG_STR("code", fs_code_name(code)),
	    FS_LOG_MS("duration_ms",
	        (double) (fs_now_us() - start_us) / 1000.0)};

	fs_log_event(FS_LOG_INFO, rid != NULL && rid[0] ? rid : "-", "rpc", f,
	    3);
}

/* svc_watch_done_fn: a Watch answered (now or after its wait). */
static void
watch_done(void *arg, const Flowsvc__Request *req, int code, int64_t start_us)
{
	svc *s = arg;

	if ((unsigned) code < FS_CODE_COUNT)
		atomic_fetch_add_explicit(&s->counts[FLOWSVC__METHOD__WATCH]
		                                    [code],
		    1, memory_order_relaxed);
	if (s->access_log)
		access_line(FLOWSVC__METHOD__WATCH, code, start_us,
		    req->request_id);
}

static void
deferred_done(void *arg, int ok)
{
	struct deferred *d = arg;

	if (!ok) {
		int snapshot = d->r.snapshot;
		svc_reply_fini(&d->r);
		d->r.code = FS_UNAVAILABLE;
		d->r.message = strdup(snapshot
		        ? "The snapshot could not be written."
		        : "The change could not be synced to disk.");
	} else if (d->sync_rev != 0) {
		if (repl_sync_wait(d->s->sync, d->sync_rev, d->end_ms,
		        sync_done, d) == FS_OK)
			return;
		d->sync_rev = 0;
		svc_reply_fini(&d->r);
		memset(&d->r, 0, sizeof(d->r));
		d->r.code = FS_UNAVAILABLE;
		d->r.message = strdup("The change could not wait for the "
		                      "replicas' acknowledgements.");
	}
	if (d->s->access_log)
		access_line(d->method, d->r.code, d->start_us, d->rid);
	send_reply(d->call, &d->r);
	free(d);
}

/* Dispatches req and replies, now or once the disk says so. */
void
svc_run_call(svc *s, fs_srv_call *call, const Flowsvc__Request *req)
{
	struct deferred *d = malloc(sizeof(*d));

	if (d == NULL) {
		fs_srv_reply_code(call, FS_RESOURCE_EXHAUSTED, NULL, NULL);
		return;
	}
	d->s = s;
	d->call = call;
	d->method = (int) req->method;
	d->sync_rev = 0;
	d->rid[0] = '\0';
	if (s->access_log) {
		d->start_us = fs_now_us();
		snprintf(d->rid, sizeof(d->rid), "%s",
		    req->request_id ? req->request_id : "");
	}
	svc_dispatch(s, req, &d->r);
	int rv;
	if (s->sync != NULL && d->r.code == FS_OK && d->r.has_revision &&
	    d->r.revision > 0 && svc_must_forward(req)) {
		d->sync_rev = d->r.revision;
		d->end_ms = svc_wait_end_ms(call);
	}
	if (d->r.snapshot) {
		svc_reply_empty(&d->r); /* keeps r.snapshot */
		rv = persist_snapshot_async(s->disk, deferred_done, d);
	} else if (d->r.code == FS_OK && d->r.ticket != 0 && s->disk != NULL &&
	    persist_sync_replies(s->disk)) {
		rv = persist_when_durable(s->disk, d->r.ticket, deferred_done,
		    d);
	} else {
		deferred_done(d, 1); /* nothing to wait for */
		return;
	}
	if (rv != 0)
		deferred_done(d, 0);
}

void
svc_handle(void *arg, fs_srv_call *call, const Flowsvc__Request *req)
{
	svc *s = arg;

	if (req->method == FLOWSVC__METHOD__WATCH) {
		/* Read your writes first (CONTRACT §8): a replica behind
		 * the caller's min_revision waits for it. */
		if (svc_repl_wait_watch(s, call, req))
			return;
		/* A long poll: answered by the watch module, now or later. */
		svc_watch_handle(s->watch, call, req,
		    s->access_log ? fs_now_us() : 0);
		return;
	}
	if (svc_repl_route(s, call, req))
		return;
	svc_run_call(s, call, req);
}

int
svc_snapshot(svc *s)
{
	return s->disk != NULL ? persist_snapshot(s->disk) : 0;
}

int
svc_stop_report(svc *s, int snapshot_ok, char *buf, size_t n)
{
	if (s->disk == NULL) {
		snprintf(buf, n, "stopped");
		return 0;
	}
	return persist_stop_report(s->disk, snapshot_ok, buf, n);
}

/* The data directory: loaded, the Watch history rebuilt from its logs
 * (which holds them before anything older is removed), then started. */
static int
open_disk(svc *s, const svc_opts *opts, char *err, size_t errlen)
{
	persist_opts po = {0};
	persist_error pe;
	int rv;

	po.dir = opts->data_dir;
	po.fsync = (enum persist_fsync) opts->fsync;
	po.snapshot_changes = opts->snapshot_changes;
	po.snapshot_interval = opts->snapshot_interval;
	po.recover_partial = opts->recover_partial;
	memset(&pe, 0, sizeof(pe));
	if ((rv = persist_load(&s->disk, &po, s->st, &s->lock, svc_apply,
	         &pe)) == FS_OK) {
		atomic_store(&s->revision, persist_revision(s->disk));
		if (svc_watch_rebuild(s->watch, s->disk, s->st) != FS_OK) {
			snprintf(pe.what, sizeof(pe.what),
			    "out of memory (the watch history)");
			pe.path[0] = '\0';
			rv = FS_RESOURCE_EXHAUSTED;
		} else {
			rv = persist_start(s->disk, &pe);
		}
		if (rv != FS_OK) {
			persist_close(s->disk);
			s->disk = NULL;
		}
	}
	if (rv == FS_OK)
		return 0;
	if (pe.path[0] == '\0')
		snprintf(err, errlen, "%s", pe.what);
	else if (pe.offset != 0)
		snprintf(err, errlen, "%s (offset %llu): %s", pe.path,
		    (unsigned long long) pe.offset, pe.what);
	else
		snprintf(err, errlen, "%s: %s", pe.path, pe.what);
	return -1;
}

int
svc_open(svc **out, const svc_opts *opts, char *err, size_t errlen)
{
	svc *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	atomic_init(&s->revision, 0);
	/* A coordinated backend starts as a replica following no one: it
	 * takes no change until its coordinator says who the primary is. */
	atomic_init(&s->role,
	    opts != NULL && (opts->replica_of != NULL || opts->coordinated)
	        ? SVC_REPLICA
	        : SVC_PRIMARY);
	atomic_init(&s->follow, NULL);
	atomic_init(&s->lease_until, 0);
	atomic_init(&s->coord_state, NULL);
	atomic_init(&s->won, 0);
	atomic_init(&s->step_downs, 0);
	s->coordinated = opts != NULL && opts->coordinated;
	pthread_mutex_init(&s->follow_mu, NULL);
	if (opts != NULL)
		s->o = *opts;
	if (terms_open(&s->terms, opts != NULL ? opts->data_dir : NULL, err,
	        errlen) != 0) {
		free(s);
		return -1;
	}
	if ((s->st = store_new()) == NULL ||
	    svc_watch_new(&s->watch, opts != NULL ? opts->watch_history : 0, 0,
	        watch_done, s) != FS_OK) {
		store_free(s->st);
		free(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Writer preference: glibc's default lets a steady stream of reads
	 * starve changes (and the snapshot's cut) indefinitely. */
	pthread_rwlockattr_t la;
	int lrv;
	if (pthread_rwlockattr_init(&la) == 0) {
		pthread_rwlockattr_setkind_np(&la,
		    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		lrv = pthread_rwlock_init(&s->lock, &la);
		pthread_rwlockattr_destroy(&la);
	} else {
		lrv = pthread_rwlock_init(&s->lock, NULL);
	}
	if (lrv != 0) {
		svc_watch_free(s->watch);
		store_free(s->st);
		terms_free(s->terms);
		free(s);
		snprintf(err, errlen, "cannot create the store lock");
		return -1;
	}
	int bad = opts != NULL && opts->data_dir != NULL &&
	    open_disk(s, opts, err, errlen) != 0;
	if (!bad && svc_watch_start(s->watch) != FS_OK) {
		snprintf(err, errlen, "cannot start the watch thread");
		bad = 1;
	}
	if (!bad &&
	    svc_waiter_new(&s->waiter, atomic_load(&s->revision), 100000) !=
	        FS_OK) {
		snprintf(err, errlen, "cannot start the waiter thread");
		bad = 1;
	}
	if (!bad && s->disk != NULL && repl_srv_new(&s->rsrv, s) != FS_OK) {
		snprintf(err, errlen, "out of memory");
		bad = 1;
	}
	if (!bad && opts != NULL && opts->sync_replicas > 0) {
		if (s->disk == NULL) {
			snprintf(err, errlen,
			    "--sync-replicas needs a data directory");
			bad = 1;
		} else if (fs_log_limit_init(&s->sync_log, 1),
		    repl_sync_new(&s->sync, opts->sync_replicas) != FS_OK) {
			snprintf(err, errlen, "cannot start the sync thread");
			bad = 1;
		}
	}
	if (!bad && s->coordinated && s->disk == NULL) {
		snprintf(err, errlen, "--coordinator needs a data directory");
		bad = 1;
	}
	if (!bad && opts != NULL && opts->replica_of != NULL) {
		repl_follow_opts fo = {opts->replica_of, opts->replica_tls,
		    opts->follower, opts->rebootstrap, opts->rebootstrap_arg,
		    opts->bootstraps};
		if (s->disk == NULL) {
			snprintf(err, errlen,
			    "--replica-of needs a data directory");
			bad = 1;
		} else {
			repl_follow *f = NULL;
			bad = repl_follow_new(&f, s, &fo, err, errlen) != 0;
			s->follow = f;
		}
	}
	if (!bad) {
		listview_limits lim = {LISTVIEW_DEFAULT_VIEWS,
		    LISTVIEW_DEFAULT_IDLE_MS, LISTVIEW_DEFAULT_PINNED};
		if (opts != NULL && opts->list_views != 0)
			lim.max_views = opts->list_views;
		if (opts != NULL && opts->list_idle_ms != 0)
			lim.idle_ms = opts->list_idle_ms;
		if (opts != NULL && opts->list_pinned_max != 0)
			lim.max_pinned = opts->list_pinned_max;
		if (listview_set_new(&s->views, s->st, &lim) != FS_OK) {
			snprintf(err, errlen,
			    "cannot start the list views' sweeper");
			bad = 1;
		}
	}
	if (bad) {
		repl_follow_free(s->follow);
		repl_sync_free(s->sync);
		repl_srv_free(s->rsrv);
		svc_waiter_free(s->waiter);
		svc_watch_free(s->watch);
		terms_free(s->terms);
		persist_close(s->disk);
		pthread_rwlock_destroy(&s->lock);
		pthread_mutex_destroy(&s->follow_mu);
		store_free(s->st);
		free(s);
		return -1;
	}
	s->started_us = fs_now_us();
	if (opts != NULL)
		s->access_log = opts->access_log;
	*out = s;
	return 0;
}

void
svc_quiesce(svc *s)
{
	pthread_mutex_lock(&s->follow_mu);
	repl_follow_stop(s->follow); /* applies nothing more */
	pthread_mutex_unlock(&s->follow_mu);
	svc_watch_quiesce(s->watch);
	svc_wait_quiesce(s->waiter);
	repl_sync_quiesce(s->sync);
}

size_t
svc_watches(svc *s)
{
	return svc_watch_parked(s->watch);
}

void
svc_close(svc *s)
{
	if (s == NULL)
		return;
	repl_follow_free(s->follow); /* applies nothing more */
	for (size_t i = 0; i < s->nretired; i++)
		repl_follow_free(s->retired[i]);
	pthread_mutex_destroy(&s->follow_mu);
	repl_sync_free(s->sync);
	svc_waiter_free(s->waiter);
	repl_srv_free(s->rsrv);   /* lets go of the logs */
	svc_watch_free(s->watch); /* before the logs it holds close */
	persist_close(s->disk);
	listview_set_free(s->views); /* its holds, before the store goes */
	terms_free(s->terms);
	pthread_rwlock_destroy(&s->lock);
	store_free(s->st);
	free(s);
}
