/*
 * persist.h - durability: the change log and snapshots in a data
 * directory, behind one handle. The jobs are done by their own modules;
 * this one holds them together and owns the handle's life (load, start,
 * close), the retention of older logs and the one place where files of
 * older generations are removed (persist_gc, in persist.c):
 *   logfmt     the files' format (logfmt.h documents it), pure functions
 *   logreader  a log read with a cursor, also while it is appended to
 *   logwriter  appends, group commit, the sync thread, the directory watch
 *   snapshot   the cut, the snapshot file, the snapshot thread
 *   recovery   loading a directory: snapshot + logs, what loads and what not
 *   retention  which older logs readers still need
 *   datadir    the directory's lock, identity, names and layout rule
 *
 * Files (GEN is a 12-digit generation number):
 *   snapshot-GEN.db  every component when log GEN was started, and the
 *                    revision of the last change before it
 *   changes-GEN.log  every change after that moment, in order, each with
 *                    its revision
 * The state is the newest complete snapshot plus every log of its
 * generation or later, replayed in order. A snapshot starts a new log
 * generation (under the store's write lock, so the cut is exact), is
 * written to a .tmp file, synced, renamed and the directory synced; only
 * then may older files go. A crash at any point leaves a loadable set.
 *
 * Revisions: every change record takes the next revision (1 for the first
 * change ever, +1 per record), kept in the log, continuous across
 * generations and restarts; the snapshot G holds every change up to the
 * revision the log G starts after. persist_revision is the last one.
 *
 * Retention: older logs stay on disk while a holder still needs a
 * revision in them (persist_retain); the snapshot is the only holder now,
 * needing what follows it, so by default a snapshot, once durable, lets
 * every older file go, as before.
 *
 * Threads: appends run on the caller's thread with the write lock held; a
 * sync thread does fsyncs (once a second, or group commits for "always")
 * and the directory checks; a snapshot thread writes snapshots without
 * holding the lock. persist_load starts none: it locks and loads the
 * directory, creating or removing no file but the lock (a torn tail is
 * cut off), and persist_start makes it writable.
 *
 * The directory is locked (datadir.h) before anything in it is read. A
 * directory that is incomplete (a snapshot or log missing, a gap between
 * generations or revisions) is refused unless recover_partial is set. A
 * directory deleted or replaced under the running backend is "lost":
 * every later change is refused, for good, and nothing more is written
 * there.
 *
 * Return values: fs_codes, see persist_base.h.
 */
#ifndef SERVICE_PERSIST_H
#define SERVICE_PERSIST_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "logreader.h"
#include "persist_base.h"
#include "store.h"

typedef struct persist persist;

typedef struct persist_opts {
	const char *dir;
	enum persist_fsync fsync;
	uint64_t
	    snapshot_changes; /* snapshot after this many changes; 0 off */
	uint32_t snapshot_interval; /* seconds; 0 off */
	int recover_partial;        /* load an incomplete directory (logged) */
} persist_opts;

/* Opens dir (creating it if missing), locks it and loads the newest
 * snapshot and the logs into st with apply. No thread is started and no
 * file is created or removed (a torn tail is cut off). lock is the store's
 * lock, taken for writing while a snapshot starts. Returns FS_OK, or a
 * code with err describing the file and offset that stopped it. */
int persist_load(persist **out, const persist_opts *opts, store *st,
    pthread_rwlock_t *lock, persist_apply_fn apply, persist_error *err);

/* Makes a loaded directory writable: with recover_partial, a snapshot of
 * what was accepted at once; the log to append to; leftovers of
 * interrupted snapshots and files no longer needed removed; the sync and
 * snapshot threads started. FS_OK, or a code with err. */
int persist_start(persist *p, persist_error *err);

/* persist_load, then persist_start. */
int persist_open(persist **out, const persist_opts *opts, store *st,
    pthread_rwlock_t *lock, persist_apply_fn apply, persist_error *err);

/* Final sync, stops the threads, closes files, drops the lock. No
 * snapshot: call persist_snapshot first for a clean shutdown. */
void persist_close(persist *p);

/* Appends rec with the next revision (write lock held). Returns FS_OK
 * and a ticket for persist_when_durable; FS_UNAVAILABLE when the log
 * cannot be written now (disk full, I/O error, an earlier sync failed,
 * the directory lost: the change must not be applied or acknowledged;
 * persist_writable says why); FS_INVALID_ARGUMENT for a record over the
 * format's limit; FS_RESOURCE_EXHAUSTED. */
int
persist_append(persist *p, const Flowsvc__LogRecord *rec, uint64_t *ticket);

/* The revision of the last change appended: under the store's lock, the
 * last one applied. */
uint64_t persist_revision(persist *p);

/* What persist_load loaded: every change up to *revision, of which the
 * snapshot held those up to *snapshot_revision (0: no snapshot) and the
 * logs replayed after it the rest. */
void
persist_loaded(persist *p, uint64_t *snapshot_revision, uint64_t *revision);

/* 1 when replies must wait for persist_when_durable (fsync "always"). */
int persist_sync_replies(const persist *p);

/* Calls done(arg, ok) from the sync thread once everything up to ticket is
 * on disk (ok = 1) or the sync failed (ok = 0). FS_OK or
 * FS_RESOURCE_EXHAUSTED. */
int persist_when_durable(persist *p, uint64_t ticket,
    void (*done)(void *arg, int ok), void *arg);

/* Asks for a snapshot; done(arg, ok) runs on the snapshot thread when one
 * that started after this call has finished. FS_OK or
 * FS_RESOURCE_EXHAUSTED. */
int
persist_snapshot_async(persist *p, void (*done)(void *arg, int ok), void *arg);

/* Takes a snapshot on the calling thread (after any running one: use at
 * shutdown, after the server stopped). FS_OK, or FS_UNAVAILABLE (logged). */
int persist_snapshot(persist *p);

/* 1 when changes are accepted now; else 0 with the reason in why (a
 * sentence without a final period). */
int persist_writable(persist *p, char *why, size_t n);

/* ---- reading the log ----------------------------------------------------- */

/* Where the log being written is (persist_position, persist_base.h). */
void persist_log_position(persist *p, persist_position *pos);

/* Opens the log that holds revision (or, past the last one, the current
 * log) for reading; also a log older than the snapshot, kept for a holder
 * (persist_load notes those it finds from their first record); *gen gets its generation. The reader is the
 * caller's; logreader_seek_revision finds the record in it. FS_OK,
 * FS_OUT_OF_RANGE (the logs kept no longer hold it: the oldest they hold
 * is persist_oldest_revision), or another code. */
int persist_log_open(persist *p, uint64_t revision, logreader **out,
    uint64_t *gen);

/* Opens the newest durable snapshot file for reading (a replica's
 * bootstrap copies it): *fd (the caller's; the file stays readable when
 * a newer snapshot removes it), its size and the revision it holds.
 * FS_OK, FS_NOT_FOUND (the directory has no snapshot) or FS_UNAVAILABLE
 * (errno). */
int
persist_snapshot_open(persist *p, int *fd, uint64_t *size, uint64_t *revision);

/* ---- retention ----------------------------------------------------------- */

/* Keeps every log record from min_revision on, for the holder name (for
 * messages), until persist_release. *holder names the hold. FS_OK,
 * FS_OUT_OF_RANGE (older records than min_revision are gone already) or
 * FS_RESOURCE_EXHAUSTED. */
int persist_retain(persist *p, const char *name, uint64_t min_revision,
    uint32_t *holder);

/* The holder now needs records from min_revision on (never less than
 * before); logs it no longer needs may go. FS_OK, FS_NOT_FOUND or
 * FS_OUT_OF_RANGE. */
int persist_retain_move(persist *p, uint32_t holder, uint64_t min_revision);

/* The holder needs nothing more; logs nobody needs go. */
void persist_release(persist *p, uint32_t holder);

/* The oldest revision the logs on disk hold. */
uint64_t persist_oldest_revision(persist *p);

/* ---- numbers and reports ------------------------------------------------- */

/* Numbers for Health/Stats (persist_stats, persist_base.h). */
void persist_get_stats(persist *p, persist_stats *st);

/* The line to log at shutdown, after persist_snapshot (snapshot_ok: it
 * succeeded): what is saved and where. Returns 0 for a clean stop, 1 when
 * the directory was lost (an error: not everything acknowledged is where
 * the next start will look). */
int persist_stop_report(persist *p, int snapshot_ok, char *buf, size_t n);

/* Offline check of a data directory (no store kept, no lock, nothing
 * changed): validates every file as the loader would and reports counts.
 * Returns FS_OK when it loads, else a code with err. */
typedef struct persist_check {
	uint64_t generation;
	uint64_t snapshot_records;
	uint64_t log_records;
	uint64_t torn_bytes; /* dropped from the tail of the last log */
	uint64_t flows, apps;
	uint64_t snapshot_revision; /* the snapshot holds changes up to it */
	uint64_t revision;          /* of the last change */
} persist_check;
int persist_check_dir(const char *dir, persist_apply_fn apply,
    persist_check *out, persist_error *err);

#endif
