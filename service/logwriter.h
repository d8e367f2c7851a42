/*
 * logwriter.h - the change log being written: appends (each record takes
 * the next revision), group commit by a sync thread, callbacks for replies
 * that wait until their change is on disk, and the watch on the data
 * directory (is it still this backend's; does the disk take writes
 * again). Owns the current log's file descriptor, the generation, the
 * revision counter and whether changes can be written now.
 *
 * Threads: logwriter_append and logwriter_cut run with the store's write
 * lock held, so one at a time; the sync thread (logwriter_start) does the
 * fsyncs and, once a second, the directory checks; the rest may be called
 * from any thread. A writer whose directory was lost (datadir.h) refuses
 * every append from then on, for good.
 */
#ifndef SERVICE_LOGWRITER_H
#define SERVICE_LOGWRITER_H

#include <stddef.h>
#include <stdint.h>

#include "datadir.h"
#include "flows.pb-c.h"
#include "persist_base.h"

typedef struct logwriter logwriter;

typedef struct logwriter_opts {
	const char *dir;   /* for messages */
	const datadir *dd; /* the locked directory; files go in dd->dirfd */
	enum persist_fsync fsync;
	persist_log_fn log;
} logwriter_opts;

/* Creates changes-GEN.log with its header in the locked directory (excl:
 * fail when it exists, as a new generation never does; else truncate).
 * Returns the fd, or -1 with err. */
int logwriter_create_log(const datadir *dd, const char *dir, uint64_t gen,
    int excl, persist_error *err);

/* A writer appending to fd, the log of generation gen whose valid records
 * end at file_off, the last of them of revision revision (fd -1: no log
 * yet; the first logwriter_cut gives it one). changes_since: the records
 * in the logs since the last snapshot. The writer owns fd from here on,
 * also after a failure. No thread yet. Returns FS_OK or
 * FS_RESOURCE_EXHAUSTED. */
int
logwriter_new(logwriter **out, const logwriter_opts *o, int fd, uint64_t gen,
    uint64_t file_off, uint64_t revision, uint64_t changes_since);

/* Starts the sync thread. FS_OK or FS_UNAVAILABLE. */
int logwriter_start(logwriter *w);

/* Stops the sync thread after a last sync, fails whoever still waits,
 * syncs and closes the log. */
void logwriter_free(logwriter *w);

/* Appends rec with the next revision (write lock held). Returns FS_OK
 * with a ticket for logwriter_when_durable and the count of changes since
 * the last cut; FS_UNAVAILABLE when the log cannot be written now (disk
 * full, I/O error, an earlier sync failed, the directory lost: the change
 * must not be applied or acknowledged; logwriter_writable says why);
 * FS_INVALID_ARGUMENT for a record over LOGFMT_REC_MAX;
 * FS_RESOURCE_EXHAUSTED. */
int logwriter_append(logwriter *w, const Flowsvc__LogRecord *rec,
    uint64_t *ticket, uint64_t *changes_since);

/* Calls done(arg, ok) from the sync thread once everything up to ticket
 * is on disk (ok = 1) or the sync failed (ok = 0); at once when it is.
 * FS_OK or FS_RESOURCE_EXHAUSTED. */
int logwriter_when_durable(logwriter *w, uint64_t ticket,
    void (*done)(void *arg, int ok), void *arg);

/* Switches appends to fd, the new log of generation gen (its header
 * written), and returns the revision the generation before ends with.
 * The store's write lock held: the cut between generations is exact. The
 * old log is synced by the sync thread, then closed. */
uint64_t logwriter_cut(logwriter *w, int fd, uint64_t gen);

/* The log as it is now (persist_base.h). */
void logwriter_position_get(logwriter *w, persist_position *pos);

/* Checks that the directory, the current log and the lock are still
 * this backend's (datadir_check) and marks the directory lost when not.
 * Returns 0, or -1 when it is lost. */
int logwriter_check_dir(logwriter *w);
int logwriter_lost(logwriter *w);

/* 1 when changes are accepted now; else 0 with the reason in why (a
 * sentence without a final period). */
int logwriter_writable(logwriter *w, char *why, size_t n);

/* Fills the log's part of s: all but the snapshot times. */
void logwriter_stats_get(logwriter *w, persist_stats *s);

/* How the directory was lost, for the line at shutdown. */
typedef struct logwriter_loss {
	int lost;
	enum datadir_loss kind;
	int64_t us; /* when it was noticed */
	char why[700], where[512];
	int sync_failed;
	char err[160]; /* the last append or sync error */
} logwriter_loss;
void logwriter_loss_get(logwriter *w, logwriter_loss *l);

#endif
