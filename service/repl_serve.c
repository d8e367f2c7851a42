/*
 * repl_serve.c - the primary's side of replication (repl.h): Replicate
 * (records from the change log, as a long poll) and SnapshotFetch (the
 * newest snapshot file in chunks), and the holds they keep on older logs.
 *
 * Locks: rs->mu guards the holds and the sessions; it is never held
 * while a log is read or a reply is sent, nor taken under the store's
 * lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_errors.h"
#include "fs_log.h"
#include "fs_pbwire.h"
#include "fs_util.h"
#include "logreader.h"
#include "persist.h"
#include "repl.h"
#include "svc_int.h"
#include "svc_wait.h"
#include "terms.h"

/* Where a follower's next read starts: the reader left after its last
 * answer, so that the next one reads on from there instead of looking for
 * its revision from the start of the log again. */
struct cursor {
	logreader *rd; /* NULL: none */
	uint64_t gen;
	uint64_t next; /* the revision of the record at its cursor */
};

static void
cursor_close(struct cursor *c)
{
	if (c->rd != NULL)
		logreader_close(c->rd);
	memset(c, 0, sizeof(*c));
}

/* A follower's hold on the logs after the revision it has. */
struct hold {
	int used;
	char name[128];
	uint32_t holder;
	uint64_t held;
	int64_t last_ms, moved_ms;
	struct cursor cur; /* checked out (rd NULL) while a call reads */
};

/* A snapshot being read by a follower. */
struct session {
	int used;
	uint64_t id;
	int fd; /* -1 once read to the end */
	uint64_t size, revision;
	int64_t last_ms;
	uint32_t holder; /* its hold on the logs after the snapshot */
	int holding;
};

struct repl_srv {
	svc *s;
	persist *disk;
	pthread_mutex_t mu;
	struct hold holds[REPL_FOLLOWERS_MAX];
	struct session sess[REPL_SESSIONS_MAX];
	uint64_t next_id;
};

int
repl_srv_new(repl_srv **out, svc *s)
{
	repl_srv *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return FS_RESOURCE_EXHAUSTED;
	r->s = s;
	r->disk = svc_disk(s);
	pthread_mutex_init(&r->mu, NULL);
	r->next_id = ((uint64_t) fs_now_us() << 8) | 1;
	*out = r;
	return FS_OK;
}

static void
session_end(repl_srv *r, struct session *x)
{
	if (x->fd >= 0)
		close(x->fd);
	if (x->holding)
		persist_release(r->disk, x->holder);
	memset(x, 0, sizeof(*x));
	x->fd = -1;
}

void
repl_srv_free(repl_srv *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < REPL_SESSIONS_MAX; i++)
		if (r->sess[i].used)
			session_end(r, &r->sess[i]);
	for (int i = 0; i < REPL_FOLLOWERS_MAX; i++)
		if (r->holds[i].used) {
			persist_release(r->disk, r->holds[i].holder);
			cursor_close(&r->holds[i].cur);
		}
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* Lets go of what nobody asked for in a while (mu held). */
static void
sweep(repl_srv *r, int64_t now)
{
	for (int i = 0; i < REPL_SESSIONS_MAX; i++)
		if (r->sess[i].used &&
		    now - r->sess[i].last_ms > REPL_SESSION_IDLE_MS)
			session_end(r, &r->sess[i]);
	for (int i = 0; i < REPL_FOLLOWERS_MAX; i++)
		if (r->holds[i].used &&
		    now - r->holds[i].last_ms > REPL_HOLD_IDLE_MS) {
			persist_release(r->disk, r->holds[i].holder);
			cursor_close(&r->holds[i].cur);
			r->holds[i].used = 0;
		}
}

/* The follower name needs the logs from `from` on: its hold is made or
 * moved (at most once a second: a move looks at the directory). */
static void
hold_logs(repl_srv *r, const char *name, uint64_t from)
{
	int64_t now = fs_now_ms();
	struct hold *h = NULL, *free_slot = NULL;

	if (name == NULL || name[0] == '\0')
		return;
	pthread_mutex_lock(&r->mu);
	sweep(r, now);
	for (int i = 0; i < REPL_FOLLOWERS_MAX; i++) {
		if (r->holds[i].used &&
		    strncmp(r->holds[i].name, name, sizeof(h->name) - 1) ==
		        0) {
			h = &r->holds[i];
			break;
		}
		if (!r->holds[i].used && free_slot == NULL)
			free_slot = &r->holds[i];
	}
	if (h == NULL && free_slot != NULL) {
		char label[160];
		snprintf(label, sizeof(label), "follower %s", name);
		if (persist_retain(r->disk, label, from, &free_slot->holder) ==
		    FS_OK) {
			h = free_slot;
			memset(h, 0, sizeof(*h));
			h->used = 1;
			snprintf(h->name, sizeof(h->name), "%s", name);
			h->held = from;
			h->moved_ms = now;
		}
	} else if (h != NULL && from > h->held && now - h->moved_ms >= 1000) {
		if (persist_retain_move(r->disk, h->holder, from) == FS_OK)
			h->held = from;
		h->moved_ms = now;
	}
	if (h != NULL)
		h->last_ms = now;
	pthread_mutex_unlock(&r->mu);
}

/* Takes the follower's cursor (none: zeros) for one read. */
static void
cursor_take(repl_srv *r, const char *name, struct cursor *c)
{
	memset(c, 0, sizeof(*c));
	if (name == NULL || name[0] == '\0')
		return;
	pthread_mutex_lock(&r->mu);
	for (int i = 0; i < REPL_FOLLOWERS_MAX; i++)
		if (r->holds[i].used &&
		    strncmp(r->holds[i].name, name,
		        sizeof(r->holds[i].name) - 1) == 0) {
			*c = r->holds[i].cur;
			memset(&r->holds[i].cur, 0, sizeof(r->holds[i].cur));
			break;
		}
	pthread_mutex_unlock(&r->mu);
}

/* Gives it back (or closes it when the follower has no hold, or has a
 * cursor again from a call that overtook this one). */
static void
cursor_give(repl_srv *r, const char *name, struct cursor *c)
{
	if (c->rd == NULL)
		return;
	if (name != NULL && name[0] != '\0') {
		pthread_mutex_lock(&r->mu);
		for (int i = 0; i < REPL_FOLLOWERS_MAX; i++)
			if (r->holds[i].used && r->holds[i].cur.rd == NULL &&
			    strncmp(r->holds[i].name, name,
			        sizeof(r->holds[i].name) - 1) == 0) {
				r->holds[i].cur = *c;
				memset(c, 0, sizeof(*c));
				break;
			}
		pthread_mutex_unlock(&r->mu);
	}
	cursor_close(c);
}

size_t
repl_srv_followers(repl_srv *r)
{
	int64_t now = fs_now_ms();
	size_t n = 0;

	pthread_mutex_lock(&r->mu);
	for (int i = 0; i < REPL_FOLLOWERS_MAX; i++)
		if (r->holds[i].used &&
		    now - r->holds[i].last_ms <= REPL_HOLD_IDLE_MS)
			n++;
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* ---- Replicate ------------------------------------------------------------ */

/* Records read for one answer. */
typedef struct recs {
	ProtobufCBinaryData *v;
	size_t n, cap, bytes;
} recs;

static void
recs_fini(recs *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->v[i].data);
	free(x->v);
	memset(x, 0, sizeof(*x));
}

/* Appends a record's payload; a version 1 payload has no revision of its
 * own and gets it (field 4) in front. 0 or -1 (out of memory). */
static int
recs_add(recs *x, const logreader_record *rec, int v1)
{
	uint8_t pre[24];
	size_t np = v1 ? fs_pb_put_varint_field(pre, 4, rec->revision) : 0;

	if (x->n == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 64;
		ProtobufCBinaryData *nv = realloc(x->v, nc * sizeof(*nv));
		if (nv == NULL)
			return -1;
		x->v = nv;
		x->cap = nc;
	}
	uint8_t *b = malloc(np + rec->len + 1);
	if (b == NULL)
		return -1;
	memcpy(b, pre, np);
	memcpy(b + np, rec->payload, rec->len);
	x->v[x->n].data = b;
	x->v[x->n].len = np + rec->len;
	x->n++;
	x->bytes += np + rec->len;
	return 0;
}

/* Reads the records after from, up to max bytes (at least one), into x,
 * from c's reader when it stands there (and leaves c where the reading
 * stopped). FS_OK (maybe none: nothing after from yet), FS_OUT_OF_RANGE
 * (the logs kept no longer hold from + 1), FS_RESOURCE_EXHAUSTED or
 * FS_DATA_LOSS. */
static int
read_records(repl_srv *r, uint64_t from, size_t max, recs *x, struct cursor *c)
{
	persist_position pos;
	uint64_t next = from + 1;

	persist_log_position(r->disk, &pos);
	if (c->rd != NULL && c->next != next)
		cursor_close(c);
	while (next <= pos.revision && x->bytes < max) {
		logreader_record rec;
		uint64_t before = next;
		enum logreader_result lr;

		if (c->rd == NULL) {
			int rv =
			    persist_log_open(r->disk, next, &c->rd, &c->gen);
			if (rv != FS_OK) {
				c->rd = NULL;
				return x->n > 0 ? FS_OK
				    : rv == FS_OUT_OF_RANGE ||
				        rv == FS_NOT_FOUND
				    ? FS_OUT_OF_RANGE
				    : rv;
			}
			c->next = 0;
		}
		uint64_t end = c->gen == pos.gen ? pos.written_end
		    : c->gen < pos.gen           ? LOGREADER_EOF
		                                 : 0;
		if (end == 0)
			lr = LOGREADER_END;
		else if (c->next == next)
			lr = LOGREADER_RECORD; /* the cursor is there */
		else
			lr = logreader_seek_revision(c->rd, next, end, &rec);
		while (lr == LOGREADER_RECORD &&
		    (lr = logreader_next(c->rd, end, &rec)) ==
		        LOGREADER_RECORD) {
			if (rec.revision != next) {
				lr = LOGREADER_CORRUPT; /* a gap */
				break;
			}
			if (recs_add(x, &rec, logreader_version(c->rd) < 2) !=
			    0) {
				cursor_close(c);
				return FS_RESOURCE_EXHAUSTED;
			}
			next++;
			c->next = next;
			if (x->bytes >= max || next > pos.revision)
				break;
		}
		if (lr == LOGREADER_CORRUPT || lr == LOGREADER_ERROR ||
		    lr == LOGREADER_TORN) {
			cursor_close(c);
			return x->n > 0 ? FS_OK : FS_DATA_LOSS;
		}
		if (next > pos.revision || x->bytes >= max)
			break;
		/* The end of this log for now: an older generation is done
		 * (the next record is in the next log); the current one may
		 * grow, and the cursor waits there. */
		if (c->gen < pos.gen)
			cursor_close(c);
		if (next == before)
			break; /* nothing more here for now */
	}
	return FS_OK;
}

/* The revision of the last record in the log: a record is written there
 * before the store applies it (and it then cannot fail), so a follower
 * may have been sent a record the store here has not applied yet. What a
 * follower asks is judged against this, never the store's revision. */
static uint64_t
log_revision(repl_srv *r)
{
	persist_position pos;
	uint64_t cur = svc_revision(r->s);

	persist_log_position(r->disk, &pos);
	return pos.revision > cur ? pos.revision : cur;
}

/* The backend's term history, for an answer (freed by the caller). */
static void
fill_terms(repl_srv *r, terms_list *tl, size_t *n, Flowsvc__TermStart ***out)
{
	if (terms_get(svc_terms(r->s), tl) < 0)
		memset(tl, 0, sizeof(*tl));
	*n = tl->n;
	*out = tl->ptrs;
}

/* Answers m into out: diverged, OUT_OF_RANGE, or the records after
 * m->from_revision (none yet is an answer too). */
static void
answer(repl_srv *r, const Flowsvc__ReplicateRequest *m, svc_reply *out)
{
	Flowsvc__ReplicateReply rep = FLOWSVC__REPLICATE_REPLY__INIT;
	terms *t = svc_terms(r->s);
	uint64_t cur = log_revision(r), from = m->from_revision;
	uint64_t fterm = m->from_term ? m->from_term : 1;
	size_t max = m->max_bytes ? m->max_bytes : REPL_BYTES_DEFAULT;
	terms_list tl = {0};
	recs x = {0};

	if (max > REPL_BYTES_MAX)
		max = REPL_BYTES_MAX;
	rep.revision = cur;
	rep.term = terms_known(t);
	rep.has_sync_ack = rep.sync_ack = svc_sync_acks(r->s);
	if (from > cur || (from > 0 && terms_of(t, from) != fterm)) {
		rep.has_diverged = rep.diverged = 1;
		fill_terms(r, &tl, &rep.n_terms, &rep.terms);
	} else {
		struct cursor c;
		cursor_take(r, m->follower, &c);
		int rv = read_records(r, from, max, &x, &c);
		cursor_give(r, m->follower, &c);
		if (rv != FS_OK) {
			if (rv == FS_OUT_OF_RANGE) {
				svc_reply_err(out, FS_OUT_OF_RANGE,
				    "Revision %llu is no longer in the change "
				    "logs kept: take a snapshot "
				    "(SnapshotFetch).",
				    (unsigned long long) from + 1);
				out->oldest_revision =
				    persist_oldest_revision(r->disk);
			} else if (rv == FS_RESOURCE_EXHAUSTED) {
				svc_reply_oom(out);
			} else {
				svc_reply_err(out, FS_INTERNAL,
				    "The change log could not be read at "
				    "revision %llu.",
				    (unsigned long long) from + 1);
			}
			out->has_revision = 1;
			out->revision = cur;
			out->term = rep.term;
			recs_fini(&x);
			return;
		}
		rep.n_records = x.n;
		rep.records = x.v;
		if (x.n > 0 && log_revision(r) > rep.revision)
			rep.revision = log_revision(r);
		if (from == 0)
			fill_terms(r, &tl, &rep.n_terms, &rep.terms);
	}
	if (rep.revision < from + x.n)
		rep.revision =
		    from + x.n; /* written, applied a moment later */
	svc_reply_msg(out, &rep.base);
	out->has_revision = 1;
	out->revision = rep.revision;
	out->term = rep.term;
	recs_fini(&x);
	terms_list_free(&tl);
}

/* What a call tells before it is answered: a higher term, the hold. */
static void
note_call(repl_srv *r, const Flowsvc__ReplicateRequest *m)
{
	if (m->term > 0)
		svc_learn_term(r->s, m->term,
		    m->follower != NULL && m->follower[0] ? m->follower
		                                          : "a follower");
	hold_logs(r, m->follower, m->from_revision + 1);
}

void
repl_replicate_now(repl_srv *r, const Flowsvc__Request *env,
    const Flowsvc__ReplicateRequest *m, svc_reply *out)
{
	(void) env;
	note_call(r, m);
	answer(r, m, out);
}

/* A Replicate call waiting for a change. */
struct rwait {
	repl_srv *r;
	fs_srv_call *call;
	Flowsvc__ReplicateRequest *m;
};

static void
reply_call(repl_srv *r, fs_srv_call *call, svc_reply *rr)
{
	Flowsvc__Reply rep;

	svc_count(r->s, FLOWSVC__METHOD__REPLICATE, rr->code);
	svc_reply_wire(rr, &rep);
	fs_srv_reply(call, &rep);
	svc_reply_fini(rr);
}

static void
rwait_done(void *arg, int outcome)
{
	struct rwait *w = arg;
	svc_reply rr;

	if (outcome == SVC_WAIT_GONE) {
		/* The follower is gone: nothing to answer; the server ends
		 * the call. */
		svc_count(w->r->s, FLOWSVC__METHOD__REPLICATE, FS_CANCELLED);
	} else {
		/* Reached or expired, either way: what there is now. */
		memset(&rr, 0, sizeof(rr));
		answer(w->r, w->m, &rr);
		reply_call(w->r, w->call, &rr);
	}
	flowsvc__replicate_request__free_unpacked(w->m, NULL);
	free(w);
}

void
repl_replicate_handle(repl_srv *r, fs_srv_call *call,
    const Flowsvc__Request *req)
{
	Flowsvc__ReplicateRequest *m = flowsvc__replicate_request__unpack(NULL,
	    req->has_payload ? req->payload.len : 0,
	    req->has_payload ? req->payload.data : NULL);
	svc_reply rr;

	memset(&rr, 0, sizeof(rr));
	if (m == NULL) {
		fs_srv_reply_code(call, FS_INVALID_ARGUMENT,
		    "Undecodable ReplicateRequest.", NULL);
		return;
	}
	note_call(r, m);
	uint32_t wait =
	    m->wait_ms < REPL_WAIT_MAX_MS ? m->wait_ms : REPL_WAIT_MAX_MS;
	if (wait > 0 && m->from_revision == log_revision(r) &&
	    terms_of(svc_terms(r->s), m->from_revision) ==
	        (m->from_term ? m->from_term : 1)) {
		struct rwait *w = malloc(sizeof(*w));
		int64_t dl = fs_srv_deadline_ms(call), now = fs_now_ms();
		int64_t end = now + wait;
		if (dl > 0) {
			int64_t margin = (dl - now) / 10;
			if (margin > 250)
				margin = 250;
			if (dl - margin < end)
				end = dl - margin;
		}
		if (w != NULL) {
			w->r = r;
			w->call = call;
			w->m = m;
			if (fs_srv_detach(call) == 0 &&
			    svc_wait_for(svc_waiters(r->s),
			        m->from_revision + 1, end, rwait_done, w,
			        call) == FS_OK)
				return;
			free(w);
		}
	}
	answer(r, m, &rr);
	flowsvc__replicate_request__free_unpacked(m, NULL);
	reply_call(r, call, &rr);
}

/* ---- SnapshotFetch ---------------------------------------------------------- */

void
repl_snapshot_fetch(repl_srv *r, const Flowsvc__SnapshotFetchRequest *m,
    svc_reply *out)
{
	Flowsvc__SnapshotFetchReply rep = FLOWSVC__SNAPSHOT_FETCH_REPLY__INIT;
	int64_t now = fs_now_ms();
	struct session *x = NULL;
	size_t max = m->max_bytes ? m->max_bytes : REPL_CHUNK_DEFAULT;
	terms_list tl = {0};
	uint8_t *buf = NULL;

	if (max > REPL_CHUNK_MAX)
		max = REPL_CHUNK_MAX;
	rep.has_term = 1;
	rep.term = terms_known(svc_terms(r->s));
	pthread_mutex_lock(&r->mu);
	sweep(r, now);
	if (m->session == 0) {
		for (int i = 0; i < REPL_SESSIONS_MAX && x == NULL; i++)
			if (!r->sess[i].used)
				x = &r->sess[i];
		if (x == NULL) {
			pthread_mutex_unlock(&r->mu);
			svc_reply_err(out, FS_RESOURCE_EXHAUSTED,
			    "%d snapshots are being read already: try again "
			    "later.",
			    REPL_SESSIONS_MAX);
			return;
		}
		int fd;
		uint64_t size, rev;
		int rv = persist_snapshot_open(r->disk, &fd, &size, &rev);
		if (rv == FS_NOT_FOUND) {
			pthread_mutex_unlock(&r->mu);
			rep.has_none = rep.none = 1;
			fill_terms(r, &tl, &rep.n_terms, &rep.terms);
			svc_reply_msg(out, &rep.base);
			out->term = rep.term;
			terms_list_free(&tl);
			return;
		}
		if (rv != FS_OK) {
			pthread_mutex_unlock(&r->mu);
			svc_reply_err(out, FS_UNAVAILABLE,
			    "The snapshot could not be opened: %s.",
			    strerror(errno));
			return;
		}
		memset(x, 0, sizeof(*x));
		x->used = 1;
		x->id = r->next_id++;
		x->fd = fd;
		x->size = size;
		x->revision = rev;
		x->holding = persist_retain(r->disk, "snapshot fetch", rev + 1,
		                 &x->holder) == FS_OK;
	} else {
		for (int i = 0; i < REPL_SESSIONS_MAX && x == NULL; i++)
			if (r->sess[i].used && r->sess[i].id == m->session)
				x = &r->sess[i];
		if (x == NULL || x->fd < 0) {
			pthread_mutex_unlock(&r->mu);
			svc_reply_err(out, FS_FAILED_PRECONDITION,
			    "No such snapshot session (it ended, or was idle "
			    "for %d s): start again.",
			    REPL_SESSION_IDLE_MS / 1000);
			return;
		}
	}
	x->last_ms = now;
	uint64_t off = m->offset;
	if (off > x->size) {
		pthread_mutex_unlock(&r->mu);
		svc_reply_err(out, FS_OUT_OF_RANGE,
		    "Offset %llu is past the snapshot's end (%llu).",
		    (unsigned long long) off, (unsigned long long) x->size);
		return;
	}
	size_t len = x->size - off < max ? (size_t) (x->size - off) : max;
	int fd = x->fd;
	rep.session = x->id;
	rep.revision = x->revision;
	rep.size = x->size;
	/* The read without the mutex: the fd stays ours until the session
	 * ends, which only a call of this session or the sweep does; a
	 * follower reads one chunk at a time. */
	pthread_mutex_unlock(&r->mu);
	if ((buf = malloc(len + 1)) == NULL) {
		svc_reply_oom(out);
		return;
	}
	size_t got = 0;
	while (got < len) {
		ssize_t k =
		    pread(fd, buf + got, len - got, (off_t) (off + got));
		if (k <= 0) {
			free(buf);
			svc_reply_err(out, FS_UNAVAILABLE,
			    "The snapshot could not be read: %s.",
			    k < 0 ? strerror(errno)
			          : "it is shorter than it was");
			return;
		}
		got += (size_t) k;
	}
	rep.offset = off;
	rep.has_data = 1;
	rep.data.data = buf;
	rep.data.len = len;
	rep.has_done = 1;
	rep.done = off + len == rep.size;
	fill_terms(r, &tl, &rep.n_terms, &rep.terms);
	svc_reply_msg(out, &rep.base);
	out->term = rep.term;
	out->has_revision = 1;
	out->revision = rep.revision;
	free(buf);
	terms_list_free(&tl);
	if (rep.done) {
		/* Read to the end: the file goes; the hold stays until the
		 * session's idle time is up, for the first Replicate. */
		pthread_mutex_lock(&r->mu);
		for (int i = 0; i < REPL_SESSIONS_MAX; i++)
			if (r->sess[i].used && r->sess[i].id == rep.session &&
			    r->sess[i].fd >= 0) {
				close(r->sess[i].fd);
				r->sess[i].fd = -1;
			}
		pthread_mutex_unlock(&r->mu);
	}
}
