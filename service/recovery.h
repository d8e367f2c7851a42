/*
 * recovery.h - loading a data directory into a store: the newest
 * snapshot, then every change log from its generation on, replayed in
 * order with the same apply function as live changes, checking that the
 * revisions follow on from one record to the next. Owns the rules of what
 * loads (with datadir_layout) and the words of every refusal.
 *
 * No thread is started and nothing in the directory is removed or
 * created: the caller decides what to do with the files afterwards
 * (persist_start). Unless readonly, a torn tail is cut off the log it
 * ends (the only write).
 *
 * Revisions: the snapshot holds every change up to its revision R (0 for
 * a version 1 snapshot, and with no snapshot); the first record of its
 * log must be R + 1 and every record the previous + 1. A record that is
 * not is a gap: refused as an incomplete directory, unless
 * recover_partial. One exception, at the start of a later log: records
 * that a power cut took from the end of the log before it (under fsync
 * everysec or no, a log is synced only after the next one has begun)
 * leave a jump forward, which is accepted with a warning.
 */
#ifndef SERVICE_RECOVERY_H
#define SERVICE_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "persist_base.h"
#include "store.h"

typedef struct recovery_opts {
	const char *dir;
	int readonly;        /* change nothing (flow-check) */
	int recover_partial; /* load an incomplete directory (logged) */
	persist_log_fn log;  /* NULL: quiet */
} recovery_opts;

/* A log generation and the revision before its first record. */
typedef struct recovery_base {
	uint64_t gen, base;
} recovery_base;

typedef struct recovery_result {
	uint64_t gen;         /* the newest log's (else the snapshot's) */
	int log_exists;       /* a log of that generation was replayed */
	uint64_t log_end;     /* where its valid records end; 0 when even
	                         its header is cut short */
	uint32_t log_version; /* of that log's header (0: none) */
	uint64_t max_gen;     /* the highest generation of any file there */
	int has_snapshot;
	uint64_t snapshot_gen, snapshot_revision;
	uint64_t revision; /* of the last change loaded */
	int partial;       /* an incomplete directory was accepted */
	uint64_t snapshot_records, log_records, logs;
	uint64_t skipped;     /* records that did not fit (recover_partial) */
	uint64_t torn_bytes;  /* cut from the tail of a log */
	recovery_base *bases; /* every log replayed, ascending */
	size_t nbases;
} recovery_result;

/* Loads o->dir into st (empty). Returns FS_OK with out filled (free its
 * lists with recovery_result_fini, also after a failure), or an fs_code
 * (persist_base.h) with err naming the file and offset that stopped it;
 * st then holds part of the data and must be dropped. */
int recovery_load(const recovery_opts *o, store *st, persist_apply_fn apply,
    recovery_result *out, persist_error *err);

void recovery_result_fini(recovery_result *r);

#endif
