/*
 * persist_base.h - the vocabulary the persistence modules share: the fsync
 * policy, the callback that applies a change-log record to the store, the
 * error that says where a load or a check stopped (file, offset, what),
 * and the log callback of persist_opts.
 *
 * Return values: every function of the persistence modules that a caller
 * can see returns an fs_code (fs_errors.h):
 *   FS_OK                  done;
 *   FS_RESOURCE_EXHAUSTED  out of memory;
 *   FS_DATA_LOSS           bytes on disk that are not what they must be (a
 *                          checksum, a record that does not decode or does
 *                          not fit the state before it, an incomplete
 *                          directory);
 *   FS_UNAVAILABLE         the directory or a file cannot be used now (an
 *                          I/O error, a full disk, the directory lost or
 *                          locked by another backend);
 *   FS_INVALID_ARGUMENT    a caller's value the format cannot take (a
 *                          record over the size limit);
 *   FS_OUT_OF_RANGE        a revision the log no longer holds.
 */
#ifndef SERVICE_PERSIST_BASE_H
#define SERVICE_PERSIST_BASE_H

#include <pthread.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "fs_errors.h"
#include "store.h"

enum persist_fsync {
	PERSIST_FSYNC_NO,
	PERSIST_FSYNC_EVERYSEC,
	PERSIST_FSYNC_ALWAYS
};

/* Applies one record to the store (live and on replay). Returns FS_OK,
 * FS_RESOURCE_EXHAUSTED, or any other code for a record that does not fit
 * the store (an unknown id, a broken reference): svc_apply says
 * FS_FAILED_PRECONDITION. */
typedef int (*persist_apply_fn)(store *st, const Flowsvc__LogRecord *rec);

/* The log callback: level "info", "warning" or "error", one line. */
typedef void (*persist_log_fn)(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Where a load or check stopped, for messages. */
typedef struct persist_error {
	char path[512]; /* "" when what says it all */
	uint64_t offset;
	char what[768];
} persist_error;

/* Where the log being written is (persist_log_position). Records of the
 * current generation up to written_end (or, to read only what is synced,
 * durable_end) can be read with logreader_next(..., end, ...). */
typedef struct persist_position {
	uint64_t gen;
	uint64_t written_end, durable_end;
	uint64_t revision;         /* of the last record appended */
	uint64_t durable_revision; /* of the last record on disk */
} persist_position;

/* Numbers for Health/Stats (persist_get_stats). */
typedef struct persist_stats {
	uint64_t generation;
	uint64_t log_bytes;
	uint64_t changes_since_snapshot;
	uint64_t revision;        /* of the last change */
	int64_t last_snapshot_us; /* wall clock; 0 never */
	int64_t last_snapshot_dur_us;
	int disk_error; /* = !writable */
	int writable;   /* changes are accepted now (else why says why) */
	int lost;       /* the directory was deleted or replaced: for good */
	char why[768];
	uint64_t append_failures; /* changes the log could not take */
	uint64_t sync_failures;   /* fsyncs that failed */
	uint64_t fsyncs, fsync_total_us, fsync_max_us;
} persist_stats;

/* A module's background thread: it runs until *stop is set, sleeping on
 * cv under mtx between its jobs. */
typedef struct persist_worker {
	pthread_t thr;
	int running;
	pthread_mutex_t *mtx;
	pthread_cond_t *cv;
	int *stop;
} persist_worker;

/* Starts fn(arg). FS_OK or FS_UNAVAILABLE. */
int persist_worker_start(persist_worker *w, void *(*fn)(void *), void *arg);

/* Sets *stop (under mtx), wakes the thread and waits for it to end. No-op
 * when it was not started. */
void persist_worker_stop(persist_worker *w);

/* Fills e (when not NULL). */
void persist_seterr(persist_error *e, const char *path, uint64_t off,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One line through log (when not NULL). */
/* The backend's log (fs_log) as a persist_log_fn: what the modules are
 * given, except for offline checks (NULL: silent). */
void persist_log_default(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void persist_say(persist_log_fn log, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
