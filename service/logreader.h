/*
 * logreader.h - reads a change log with a cursor: record after record,
 * each with its revision and where it sits, from the start, from a byte
 * offset or from a revision; and tells apart the end of the data, a torn
 * tail and damage.
 *
 * Recovery reads finished files with it; a change feed or a replica can
 * follow the log the backend is appending to: give logreader_next the
 * end up to which the writer has written (or synced) the file
 * (persist_log_position), and nothing at or past it is looked at, so a
 * record still being written is never taken for a torn or corrupt one.
 * Bytes before that end never change, so the reader keeps what it read.
 *
 * end = LOGREADER_EOF means the file is finished as it is on disk (a log
 * at start-up, or an older generation): what does not check out at its
 * end is judged as a crash leaves it. A record cut short, or zeros where
 * records were to go (whole pages a power cut did not write although the
 * file's size covered them), is a torn tail; anything else that fails a
 * checksum is damage, the last record included.
 *
 * The reader owns its own file descriptor: a log removed while it reads
 * is still read to its end. One reader per thread; readers of one file
 * do not share anything.
 */
#ifndef SERVICE_LOGREADER_H
#define SERVICE_LOGREADER_H

#include <stddef.h>
#include <stdint.h>

#define LOGREADER_EOF UINT64_MAX

enum logreader_result {
	LOGREADER_RECORD,  /* a record: see logreader_record */
	LOGREADER_END,     /* no (complete) record before end: the data ends
	                      here for now */
	LOGREADER_TORN,    /* end = EOF only: the file ends with a record cut
	                      short by a crash; the cursor stays before it */
	LOGREADER_CORRUPT, /* damage, or a file that is not a change log */
	LOGREADER_ERROR,   /* the file could not be read (errno in what) */
};

typedef struct logreader logreader;

typedef struct logreader_record {
	uint64_t revision;
	uint64_t offset;        /* of its header in the file */
	uint64_t next;          /* where the record after it starts */
	const uint8_t *payload; /* the packed LogRecord, valid until the
	                           reader's next call */
	size_t len;
} logreader_record;

/* What stopped a read (TORN, CORRUPT, ERROR). */
typedef struct logreader_problem {
	uint64_t offset;  /* of the record (or header byte) at fault */
	uint64_t bytes;   /* TORN: from offset to the end of the file */
	int in_header;    /* the file's header is at fault */
	const char *what; /* "a record cut short", "not a flowsvc change log
	                     (bad magic)", "unsupported log format version 7",
	                     strerror() ...; static or the reader's */
} logreader_problem;

/* Opens name in the directory dirfd (AT_FDCWD: name is a path).
 * base_revision: the revision before the file's first record (the
 * snapshot's, or the previous log's last), which version 1 records count
 * on from. The cursor is at the first record. Returns FS_OK,
 * FS_NOT_FOUND (no such file), FS_UNAVAILABLE (cannot open, errno set)
 * or FS_RESOURCE_EXHAUSTED. The header is read by the first call that
 * reads. */
int logreader_open(logreader **out, int dirfd, const char *name,
    uint64_t base_revision);

void logreader_close(logreader *r);

/* Reads the record at the cursor, and moves the cursor past it. See
 * enum logreader_result; on anything but a record the cursor does not
 * move, so the call can be repeated once end has moved on. */
enum logreader_result
logreader_next(logreader *r, uint64_t end, logreader_record *rec);

/* Moves the cursor to offset, which must be where a record starts (a
 * record's next, or 0 for the first), after a record of revision
 * revision_before (for version 1 files; others carry their own). */
void logreader_seek(logreader *r, uint64_t offset, uint64_t revision_before);

/* Moves the cursor to the first record whose revision is revision or
 * later, reading up to end. Returns LOGREADER_RECORD with that record in
 * rec (logreader_next returns it again), or what stopped the search (END:
 * none before end yet; the search can be continued later from where it
 * stopped). */
enum logreader_result logreader_seek_revision(logreader *r, uint64_t revision,
    uint64_t end, logreader_record *rec);

/* The cursor: the offset of the next record, and the revision of the
 * record before it (the base revision before any). */
uint64_t logreader_offset(const logreader *r);
uint64_t logreader_revision(const logreader *r);

/* The file's format version (0 until its header was read). */
uint32_t logreader_version(const logreader *r);

/* After TORN, CORRUPT or ERROR: what and where. */
void logreader_problem_get(const logreader *r, logreader_problem *p);

#endif
