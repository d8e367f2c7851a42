/*
 * persist.h - durability: the change log and snapshots in a data directory.
 *
 * Files (GEN is a 12-digit generation number):
 *   snapshot-GEN.db  every component at the moment log GEN was started
 *   changes-GEN.log  every change after that moment, in order
 * The state is the newest complete snapshot plus every log of its
 * generation or later, replayed in order. A snapshot starts a new log
 * generation (under the store's write lock, so the cut is exact), is written
 * to a .tmp file, synced, renamed and the directory synced; only then are
 * older files removed. A crash at any point leaves a loadable set.
 *
 * Log file:  "FLOWLOG\0", u32 version, u32 0, then records
 *            [u32 len][u32 crc32c(len)][u32 crc32c(payload)]
 *            [payload = packed LogRecord]
 *            The header checks itself, so a damaged length is told apart
 *            from a record cut short by a crash (only the latter, and only
 *            at the end of the newest log, is dropped at load).
 * Snapshot:  "FLOWSNP\0", u32 version, u32 0, u64 count, then records
 *            [u32 len][packed StoredComponent], then u32 crc32c of all
 *            bytes before it. Integers are little-endian.
 *
 * Threads: appends run on the caller's thread with the write lock held; a
 * sync thread does fsyncs (once a second, or group commits for "always")
 * and, once a second, checks that the directory is still this backend's
 * (datadir.h) and, while appends fail, whether the disk takes writes
 * again; a snapshot thread writes snapshots without holding the lock.
 *
 * The directory is locked (datadir.h) before anything in it is read. A
 * directory that is incomplete (a snapshot or log missing, a gap between
 * generations) is refused unless recover_partial is set. A directory
 * deleted or replaced under the running backend is "lost": every later
 * change is refused, for good, and nothing more is written there.
 */
#ifndef SERVICE_PERSIST_H
#define SERVICE_PERSIST_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "store.h"

enum persist_fsync { PERSIST_FSYNC_NO, PERSIST_FSYNC_EVERYSEC, PERSIST_FSYNC_ALWAYS };

typedef struct persist persist;

/* Applies one record to the store; FS_OK, FS_RESOURCE_EXHAUSTED or
 * FS_FAILED_PRECONDITION (does not fit). */
typedef int (*persist_apply_fn)(store *st, const Flowsvc__LogRecord *rec);

/* Where a load or check stopped, for messages. */
typedef struct persist_error {
	char path[512]; /* "" when what says it all */
	uint64_t offset;
	char what[768];
} persist_error;

typedef struct persist_opts {
	const char *dir;
	enum persist_fsync fsync;
	uint64_t snapshot_changes;  /* snapshot after this many changes; 0 off */
	uint32_t snapshot_interval; /* seconds; 0 off */
	int recover_partial; /* load an incomplete directory (logged) */
	void (*log)(const char *level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
} persist_opts;

/* Opens dir (creating it if missing), loads the newest snapshot into st,
 * replays the logs with apply, and starts the threads. lock is the store's
 * lock, taken for writing while a snapshot starts. Returns 0, or -1 with
 * err describing the file and offset that stopped it. */
int persist_open(persist **out, const persist_opts *opts, store *st,
    pthread_rwlock_t *lock, persist_apply_fn apply, persist_error *err);

/* Final sync, stops the threads, closes files. No snapshot: call
 * persist_snapshot first for a clean shutdown. */
void persist_close(persist *p);

/* Appends rec to the log. Write lock held. Returns 0 and a ticket for
 * persist_when_durable, or -1 when the log cannot be written now (disk
 * full, I/O error, an earlier sync failed, the directory lost): the change
 * must not be applied or acknowledged. persist_writable says why. */
int persist_append(persist *p, const Flowsvc__LogRecord *rec,
    uint64_t *ticket);

/* 1 when replies must wait for persist_when_durable (fsync "always"). */
int persist_sync_replies(const persist *p);

/* Calls done(arg, ok) from the sync thread once everything up to ticket is
 * on disk (ok = 1) or the sync failed (ok = 0). */
int persist_when_durable(persist *p, uint64_t ticket,
    void (*done)(void *arg, int ok), void *arg);

/* Asks for a snapshot; done(arg, ok) runs on the snapshot thread when one
 * that started after this call has finished. Returns 0 or -1. */
int persist_snapshot_async(persist *p, void (*done)(void *arg, int ok),
    void *arg);

/* Takes a snapshot on the calling thread (no other snapshot may run: use
 * at shutdown, after the server stopped). Returns 0 or -1 (logged). */
int persist_snapshot(persist *p);

/* 1 when changes are accepted now; else 0 with the reason in why (a
 * sentence without a final period). */
int persist_writable(persist *p, char *why, size_t n);

/* Numbers for Health/Stats. */
typedef struct persist_stats {
	uint64_t generation;
	uint64_t log_bytes;
	uint64_t changes_since_snapshot;
	int64_t last_snapshot_us;     /* wall clock; 0 never */
	int64_t last_snapshot_dur_us;
	int disk_error; /* = !writable */
	int writable;   /* changes are accepted now (else why says why) */
	int lost;       /* the directory was deleted or replaced: for good */
	char why[768];
	uint64_t append_failures; /* changes the log could not take */
	uint64_t sync_failures;   /* fsyncs that failed */
	uint64_t fsyncs, fsync_total_us, fsync_max_us;
} persist_stats;
void persist_get_stats(persist *p, persist_stats *st);

/* The line to log at shutdown, after persist_snapshot (snapshot_ok: it
 * succeeded): what is saved and where. Returns 0 for a clean stop, 1 when
 * the directory was lost (an error: not everything acknowledged is where
 * the next start will look). */
int persist_stop_report(persist *p, int snapshot_ok, char *buf, size_t n);

/* Offline check of a data directory (no store kept): validates every file
 * as the loader would and reports counts. Returns 0 when loadable. */
typedef struct persist_check {
	uint64_t generation;
	uint64_t snapshot_records;
	uint64_t log_records;
	uint64_t torn_bytes; /* dropped from the tail of the last log */
	uint64_t flows, apps;
} persist_check;
int persist_check_dir(const char *dir, persist_apply_fn apply,
    persist_check *out, persist_error *err);

#endif
