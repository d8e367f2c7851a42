/*
 * datadir.h - a backend's hold on its data directory, and the shape a
 * directory's files must have to be loaded.
 *
 * Ownership: one backend per directory. datadir_open takes an exclusive
 * flock on DIR/flow-service.lock (and writes the holder's pid into it)
 * before anything in the directory is read or removed; the kernel drops
 * the lock when the process ends, however it ends, so a lock is never
 * stale. Readers that change nothing (flow-check) take no lock.
 *
 * Identity: a running backend keeps the directory open and checks that
 * the path still names it, that its change log is still linked there, and
 * that the lock file is still the one it holds (datadir_check). A
 * directory deleted or replaced under it is no longer its own: nothing may
 * be written or acknowledged there any more.
 *
 * Layout: a loadable directory is a snapshot G (or none, for a directory
 * that never had one: logs from generation 0) and the logs G, G+1, ...,
 * Gmax with no gap. Older snapshots are obsolete; older logs may be kept
 * for readers of the log (persist_retain) and are not replayed. An empty
 * directory is a fresh start. datadir_layout names whatever breaks that
 * rule. Names: snapshot-GEN.db, changes-GEN.log, GEN in 12 digits.
 */
#ifndef SERVICE_DATADIR_H
#define SERVICE_DATADIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DATADIR_LOCK_NAME "flow-service.lock"
#define DATADIR_NAME_MAX 64 /* room for any file name below */

enum datadir_kind { DATADIR_SNAPSHOT, DATADIR_LOG };

typedef struct datadir {
	int dirfd;  /* the directory as opened; -1 when closed */
	int lockfd; /* DATADIR_LOCK_NAME, flocked */
	dev_t dev;  /* of the directory, at open */
	ino_t ino;
	dev_t lock_dev; /* of the lock file */
	ino_t lock_ino;
} datadir;

/* Opens dir (which must exist) and takes its lock. Returns 0, or -1 with a
 * one-line reason in why: for a directory another backend holds, it names
 * that backend's pid. On success d belongs to the caller (datadir_close,
 * which drops the lock). */
int datadir_open(datadir *d, const char *dir, char *why, size_t n);
void datadir_close(datadir *d);

/* How a directory stopped being the backend's own. */
enum datadir_loss {
	DATADIR_OK,
	DATADIR_DIR_DELETED,  /* the directory itself was removed */
	DATADIR_DIR_MOVED,    /* the path names another directory, or none */
	DATADIR_LOG_DELETED,  /* the change log was unlinked */
	DATADIR_LOG_MOVED,    /* the log's name is another file, or none */
	DATADIR_LOCK_REPLACED /* the lock file is gone or another file */
};

/* Checks that dir still names the directory d opened, that logname in it
 * is the file logfd writes (logfd -1: not checked), and that the lock file
 * is the one d holds. Returns DATADIR_OK, or the first problem found with
 * a sentence in why ("the data directory /x was deleted") and, when the
 * directory was moved, the path it has now in where ("" when unknown).
 * Errors that prove nothing (a stat failing with EIO, say) count as OK:
 * the writes themselves report those. */
enum datadir_loss datadir_check(const datadir *d, const char *dir, int logfd,
    const char *logname, char *why, size_t n, char *where, size_t wn);

/* Whether the directory takes a page of writes now: a file written and
 * removed at once. Returns 0, or -1 with errno. */
int datadir_probe(const datadir *d);

/* 1 when name is a snapshot temp file ("snapshot-GEN.db.PID.tmp") whose
 * PID is a live process other than this one: it may be writing it, so it
 * must not be removed. 0 otherwise (a leftover). */
int datadir_tmp_in_use(const char *name);

/* The name of generation gen's file of a kind, without the directory:
 * "snapshot-000000000007.db", "changes-000000000007.log". */
void datadir_name(char *out, size_t n, enum datadir_kind kind, uint64_t gen);

/* The generations of the snapshots and logs in a directory, each list
 * sorted ascending. */
typedef struct datadir_gens {
	uint64_t *snaps, *logs;
	size_t nsnaps, nlogs;
} datadir_gens;

/* Lists the directory dirfd (or, when dirfd is -1, the one at path dir).
 * Returns FS_OK, FS_UNAVAILABLE (errno set) or FS_RESOURCE_EXHAUSTED.
 * Free g with datadir_gens_free, also after a failure. */
int datadir_scan(int dirfd, const char *dir, datadir_gens *g);
void datadir_gens_free(datadir_gens *g);

/* Syncs the directory so that a create, rename or removal in it survives a
 * power cut. A filesystem that cannot sync a directory (EINVAL) is not an
 * error. Returns 0, or -1 with errno. */
int datadir_sync(int dirfd);

/* Checks the generations found in a directory (both lists sorted
 * ascending) against the layout rule above (logs older than the snapshot
 * are kept logs, never a problem). Returns the number of
 * problems: 0 for a loadable (or empty) directory. problems gets every
 * problem, each naming the missing file ("changes-000000000004.log is
 * missing: ..."), joined by "; ". */
size_t datadir_layout(const uint64_t *snaps, size_t nsnaps,
    const uint64_t *logs, size_t nlogs, char *problems, size_t n);

#endif
