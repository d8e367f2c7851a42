/*
 * svc.h - the flow service: store + rules + write path, one handler per
 * RPC method (the table is in svc.c; the handlers in svc_read.c,
 * svc_change.c, batch.c and svc.c; see svc_int.h for how a request
 * travels through them, access.h for who may see what).
 *
 * Concurrency discipline: one rwlock (svc->lock) guards the store. Reads
 * (Get, List, GetStatus, Health) hold it shared while they copy out the
 * bytes of their reply (the later pages of a paged List read from the
 * view its first page cut, with no lock: listview.h); every mutation holds it exclusively from its
 * validation against the store through the change-log append and the store
 * update, so the log order is the order in which changes took effect and a
 * check (name free, reference exists, not in use) cannot go stale before
 * its change is applied. Validation that needs no store runs before the
 * lock.
 */
#ifndef SERVICE_SVC_H
#define SERVICE_SVC_H

#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "fs_rpc_server.h"
#include "rules.h"
#include "store.h"

typedef struct svc svc;

typedef struct svc_opts {
	const char *data_dir;       /* NULL: memory only (tests) */
	int fsync;                  /* enum persist_fsync */
	uint64_t snapshot_changes;  /* 0: no snapshot on a change count */
	uint32_t snapshot_interval; /* seconds; 0: none on a timer */
	int recover_partial;        /* start from an incomplete data dir */
	int access_log;             /* a log line per request (fs_log) */
	/* Paged lists (listview.h): views open at once, idle timeout (ms),
	 * retired bytes they may keep alive; 0: the default. */
	uint32_t list_views;
	uint32_t list_idle_ms;
	size_t list_pinned_max;
	size_t watch_history; /* changes Watch keeps (0: 100,000) */
	/* Replication (CONTRACT §8): follow the backend at replica_of (NULL:
	 * a primary), dialled with replica_tls (NULL: plain), naming itself
	 * follower (for the hold on the primary's logs). Needs data_dir. */
	const char *replica_of;
	const fs_client_tls *replica_tls;
	const char *follower;
	/* Called (from the follower's thread) when the replica must take a
	 * fresh snapshot: it is too far behind what the primary keeps, or it
	 * holds changes the primary does not (they are counted and logged
	 * first). The program restarts it with a bootstrap (main.c). */
	void (*rebootstrap)(void *arg);
	void *rebootstrap_arg;
	uint64_t bootstraps; /* done since the program started (Stats) */
	/* Automatic failover (CONTRACT §9): a coordinator (coord.h) says
	 * who the primary is. The backend starts as a replica following no
	 * one (changes: FAILED_PRECONDITION "Not the primary."), and Promote
	 * is refused. Needs data_dir; replica_of NULL. */
	int coordinated;
	/* A change is acknowledged only once this many followers have
	 * written it (repl_sync.h); 0: asynchronous. Needs data_dir. */
	unsigned sync_replicas;
} svc_opts;

/* Opens the service. Returns 0, or -1 with a one-line reason in err. On
 * success *out belongs to the caller (svc_close). */
int svc_open(svc **out, const svc_opts *opts, char *err, size_t errlen);
void svc_close(svc *s);

/* The outcome of one request, ready to become a Flowsvc__Reply. */
typedef struct svc_reply {
	int code;
	char *message;    /* NULL: the code's default; owned */
	rules_viol v;     /* field violations */
	uint8_t *payload; /* encoded reply message; owned */
	size_t payload_len;
	int has_payload;
	uint64_t ticket; /* change-log position the reply must wait for */
	int snapshot;    /* a Snapshot request: reply when one is written */
	int has_revision;
	uint64_t revision;        /* Reply.revision (flows.proto) */
	uint64_t oldest_revision; /* Reply.oldest_revision; 0: none */
	uint64_t term;            /* Reply.term; 0: none */
} svc_reply;

/* Executes req (already decoded) and fills out, which the caller releases
 * with svc_reply_fini. Never fails: errors are codes in out (a method
 * without a handler: UNIMPLEMENTED; a request message that does not
 * decode: INVALID_ARGUMENT). */
void svc_dispatch(svc *s, const Flowsvc__Request *req, svc_reply *out);

/* 1 when the service has a handler for method (a value of the Method
 * enum), else 0. */
int svc_serves(int method);

/* The payload a reply may carry on its own: the message limit less room
 * for the envelope. */
#define SVC_REPLY_BUDGET (FS_RPC_MAX_MSG - 1024u)

/* svc_dispatch with at most budget bytes of reply payload: a List stops
 * before passing it (its buffer never grows past it) and answers
 * RESOURCE_EXHAUSTED. Returns 1 when the result did not fit, else 0. */
int svc_dispatch_budget(svc *s, const Flowsvc__Request *req, svc_reply *out,
    size_t budget);
void svc_reply_fini(svc_reply *r);

/* Applies one change-log record to a store: the one place where records
 * change state, for live changes and for replay alike. Pure: no lock, no
 * I/O, nothing but st changes. Returns FS_OK, FS_RESOURCE_EXHAUSTED (out
 * of memory; st unchanged) or FS_FAILED_PRECONDITION (the record does not
 * fit the store: see store.h; st unchanged). */
int svc_apply(store *st, const Flowsvc__LogRecord *rec);

/* Writes a snapshot now (at shutdown, once the server has stopped).
 * Returns FS_OK, or an fs_code (logged). No-op without a data directory. */
int svc_snapshot(svc *s);

/* The line to log once the server stopped and svc_snapshot ran
 * (snapshot_ok: it succeeded): what is saved and where. Returns 0 for a
 * clean stop, 1 when the data directory was lost while running (not
 * everything acknowledged is where the next start looks: exit non-zero). */
int svc_stop_report(svc *s, int snapshot_ok, char *buf, size_t n);

/* fs_srv_handler for fs_server_open; arg is the svc. */
void svc_handle(void *arg, fs_srv_call *call, const Flowsvc__Request *req);

/* ---- automatic failover (CONTRACT §9; driven by coord.h) ---------------- */

/* A monotonic clock in milliseconds (the fence's). */
int64_t svc_mono_ms(void);

/* A coordinated primary takes changes until until_ms (svc_mono_ms) and
 * not after: the coordinator sets it from every renewal of its lease; 0
 * stops changes at once. */
void svc_fence(svc *s, int64_t until_ms);

/* Becomes the primary in term want (above every term known; 0: the next
 * one, or the current one of a primary that takes changes): saved
 * before it returns; *term and *rev (the last revision before the
 * term) said. Returns FS_OK, FS_FAILED_PRECONDITION (want is not above
 * the terms known) or FS_UNAVAILABLE (not saved). */
int svc_promote(svc *s, uint64_t want, uint64_t *term, uint64_t *rev);

/* Becomes a replica of the backend at url (from now on: the follower of
 * before, if any, stops first; a divergent tail is dropped by a
 * bootstrap as for --replica-of). Returns 0, or -1 with err. */
int svc_follow_url(svc *s, const char *url, char *err, size_t errlen);

/* The coordinator's state for Health and Stats (a static string), and
 * its counters: won (became the primary), stepped_down. */
void svc_coord_note(svc *s, const char *state, int won, int stepped_down);

/* Answers every parked Watch now and parks no more (later ones are
 * answered at once): at shutdown, before the server closes. */
void svc_quiesce(svc *s);

/* Watches parked now. */
size_t svc_watches(svc *s);

/* Starts following the primary (a replica; no-op for a primary): after
 * svc_open, once the server listens. Returns 0 or -1 with err. */
int svc_follow(svc *s, char *err, size_t errlen);

#endif
