/*
 * snapshot.h - snapshots: the cut (a new log generation and a copy of the
 * store's component list, under the store's write lock: one memcpy of
 * pointers), the file (written by a background thread to
 * snapshot-GEN.db.PID.tmp, synced, renamed into place, the directory
 * synced) and the thread that takes them on the change count, on the
 * timer and on request.
 *
 * A snapshot removes nothing: once one is durable, its `durable` hook
 * runs (persist: the snapshot's hold on the log moves on, and
 * persist_gc decides what may go), before anyone who asked for it hears
 * that it is done. One snapshot at a time.
 */
#ifndef SERVICE_SNAPSHOT_H
#define SERVICE_SNAPSHOT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "datadir.h"
#include "logwriter.h"
#include "persist_base.h"
#include "store.h"

typedef struct snapshotter snapshotter;

typedef struct snapshot_opts {
	const char *dir;   /* for messages */
	const datadir *dd; /* files go in dd->dirfd */
	persist_log_fn log;
	uint64_t changes;  /* take one after this many changes; 0 off */
	uint32_t interval; /* seconds; 0 off */
	store *st;
	pthread_rwlock_t *lock; /* the store's */
	logwriter *w;
	/* Called once log gen has begun after revision (the cut, with the
	 * store's write lock held: keep it short), and once
	 * snapshot gen, holding every change up to revision, is in place
	 * and synced. */
	void (*cut)(void *arg, uint64_t gen, uint64_t revision);
	void (*durable)(void *arg, uint64_t gen, uint64_t revision);
	void *arg;
} snapshot_opts;

/* FS_OK or FS_RESOURCE_EXHAUSTED. No thread yet. */
int snapshot_new(snapshotter **out, const snapshot_opts *o);

/* Starts the snapshot thread. FS_OK or FS_UNAVAILABLE. */
int snapshot_start(snapshotter *s);

/* Stops the thread (a snapshot being written is finished first); the
 * requests still waiting hear ok = 0. Then frees s. */
void snapshot_free(snapshotter *s);

/* Takes a snapshot on the calling thread, after any running one.
 * Returns FS_OK, or FS_UNAVAILABLE (logged) when it failed or the
 * directory is lost. */
int snapshot_take(snapshotter *s);

/* Asks the thread for a snapshot; done(arg, ok) runs on it once one that
 * started after this call has finished. FS_OK or FS_RESOURCE_EXHAUSTED. */
int
snapshot_request(snapshotter *s, void (*done)(void *arg, int ok), void *arg);

/* The change count was reached: the thread looks at once. */
void snapshot_kick(snapshotter *s);

/* When the last snapshot finished (wall clock, us; snapshot_start's time
 * before the first), and how long it took. */
void snapshot_times(snapshotter *s, int64_t *last_us, int64_t *dur_us);

/* Writes items (n of them) as snapshot-GEN.db holding every change up to
 * revision, through a temp file in the directory dirfd: written, synced,
 * renamed, the directory synced. Returns 0, or -1 with errno and *step
 * naming what failed (after "fsync of the directory", the file is in
 * place but maybe not durable). */
int snapshot_write(int dirfd, uint64_t gen, uint64_t revision,
    const store_item *items, size_t n, const char **step);

#endif
