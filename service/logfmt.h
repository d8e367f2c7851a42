/*
 * logfmt.h - the on-disk format of a data directory's files: the headers
 * of change logs and snapshots, the framing and checksums of log records,
 * a LogRecord's encoding with its revision, and a snapshot record packed
 * around a component's stored bytes. Pure functions over buffers: no I/O,
 * no threads, no allocation (but logfmt_record_decode's, protobuf-c's).
 *
 * Change log, changes-GEN.log:
 *   header   "FLOWLOG\0", u32 version, u32 0                   16 bytes
 *   records  [u32 len][u32 crc32c(len)][u32 crc32c(payload)][payload]
 *            payload: a packed LogRecord. The header checks itself, so a
 *            damaged length is told apart from a record cut short.
 *            Version 2: the record's revision (LogRecord field 4) is
 *            always there, written first. Version 1 (read only): records
 *            carry none; each takes the previous one's revision + 1.
 * Snapshot, snapshot-GEN.db:
 *   header   "FLOWSNP\0", u32 version, u32 0, u64 count        v1: 24 bytes
 *            then, version 2, u64 revision: the snapshot holds every
 *            change up to that revision and none after         v2: 32 bytes
 *   records  [u32 len][packed StoredComponent], count of them
 *   trailer  u32 crc32c of every byte before it
 *   A version 1 snapshot counts as revision 0: changes were not numbered
 *   before version 2, so numbering starts after it.
 * Integers are little-endian. Version 2 is written; 1 and 2 are read.
 */
#ifndef SERVICE_LOGFMT_H
#define SERVICE_LOGFMT_H

#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "fs_pbwire.h"

#define LOGFMT_VERSION 2u          /* the version written */
#define LOGFMT_LOG_HEADER 16u      /* every version */
#define LOGFMT_REC_HEADER 12u      /* len, crc32c(len), crc32c(payload) */
#define LOGFMT_REC_MAX (64u << 20) /* no record is near this */
#define LOGFMT_SNAP_HEADER_V1 24u
#define LOGFMT_SNAP_HEADER_V2 32u
#define LOGFMT_SNAP_TRAILER 4u
#define LOGFMT_REVISION_FIELD 4u /* LogRecord.revision */

static inline void
logfmt_put_u32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t) (v >> (8 * i));
}

static inline void
logfmt_put_u64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t) (v >> (8 * i));
}

static inline uint32_t
logfmt_get_u32(const uint8_t *b)
{
	return (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 |
	    (uint32_t) b[3] << 24;
}

static inline uint64_t
logfmt_get_u64(const uint8_t *b)
{
	return (uint64_t) logfmt_get_u32(b) |
	    (uint64_t) logfmt_get_u32(b + 4) << 32;
}

/* ---- file headers -------------------------------------------------------- */

enum logfmt_header {
	LOGFMT_HEADER_OK,
	LOGFMT_HEADER_SHORT,       /* fewer bytes than a header, all of them a
	                              header's start (or none): a file cut
	                              short while it was created */
	LOGFMT_HEADER_BAD_MAGIC,   /* not this kind of file */
	LOGFMT_HEADER_BAD_VERSION, /* a version this program cannot read */
};

/* The header of a new log (version LOGFMT_VERSION). */
void logfmt_log_header(uint8_t out[LOGFMT_LOG_HEADER]);

/* Checks the first n bytes of a log. *version gets the version when the
 * magic is right and there are at least 12 bytes. */
enum logfmt_header
logfmt_log_header_check(const uint8_t *b, size_t n, uint32_t *version);

typedef struct logfmt_snap_header {
	uint32_t version;
	size_t size;       /* of the header: where the first record starts */
	uint64_t count;    /* records */
	uint64_t revision; /* the last change the snapshot holds; v1: 0 */
} logfmt_snap_header;

/* Writes the header of a new snapshot; returns its size. */
size_t logfmt_snap_header_put(uint8_t out[LOGFMT_SNAP_HEADER_V2],
    uint64_t count, uint64_t revision);

/* Reads a snapshot's header from its first n bytes. SHORT when n is less
 * than the header of its version (or the magic's 8 bytes). */
enum logfmt_header
logfmt_snap_header_check(const uint8_t *b, size_t n, logfmt_snap_header *h);

/* ---- log records --------------------------------------------------------- */

enum logfmt_frame {
	LOGFMT_FRAME_OK,
	LOGFMT_FRAME_SHORT,       /* fewer bytes than the header or than the
	                             length it gives: cut short */
	LOGFMT_FRAME_BAD_HEADER,  /* the header fails its own checksum */
	LOGFMT_FRAME_BAD_LENGTH,  /* a length over LOGFMT_REC_MAX */
	LOGFMT_FRAME_BAD_PAYLOAD, /* all there, and the payload fails its
	                             checksum */
};

/* A phrase for a result other than OK ("a record cut short"). */
const char *logfmt_frame_what(enum logfmt_frame f, int header_only);

/* Checks the record header at b[0..n): SHORT, BAD_HEADER, BAD_LENGTH, or
 * OK with the payload's length in *len. */
enum logfmt_frame logfmt_frame_head(const uint8_t *b, size_t n, uint32_t *len);

/* Checks the whole record at b[0..n): as logfmt_frame_head, then SHORT
 * when the payload is not all there, BAD_PAYLOAD, or OK with *len. Every
 * proper prefix of a record is SHORT; a record with any bit flipped is
 * not OK (and not SHORT unless the flip shortened it: a header that
 * fails its checksum is BAD_HEADER first). */
enum logfmt_frame
logfmt_frame_check(const uint8_t *b, size_t n, uint32_t *len);

/* Bytes rec takes as a framed record with revision. */
size_t logfmt_record_size(const Flowsvc__LogRecord *rec, uint64_t revision);

/* Writes rec, framed, at out (logfmt_record_size bytes), with revision
 * as its field 4, first; rec's own revision field is not written.
 * Returns the bytes written. */
size_t logfmt_record_encode(const Flowsvc__LogRecord *rec, uint64_t revision,
    uint8_t *out);

/* The revision a record's payload carries. Returns FS_OK; FS_NOT_FOUND
 * when it has none (version 1); FS_DATA_LOSS when the payload is not a
 * well-formed message, or its field 4 is not a varint. */
int
logfmt_record_revision(const uint8_t *payload, size_t len, uint64_t *revision);

/* Unpacks a payload of a log of the given version; a version 1 record
 * gets revision prev + 1. Returns FS_OK with *out (free with
 * flowsvc__log_record__free_unpacked), or FS_DATA_LOSS (undecodable, or a
 * version 2 record without its revision). */
int logfmt_record_decode(const uint8_t *payload, size_t len, uint32_t version,
    uint64_t prev, Flowsvc__LogRecord **out);

/* ---- snapshot records ---------------------------------------------------- */

/* A snapshot record is StoredComponent{component = 1, status = 2,
 * seq = 3}, packed by hand around the component's stored wire form:
 * [u32 len][pre][component][suf]. */
#define LOGFMT_SNAP_PRE_MAX (4 + 2 * FS_PB_VARINT_MAX)
#define LOGFMT_SNAP_SUF_MAX (4 * FS_PB_VARINT_MAX)

/* Writes the length word and the bytes before the component into pre,
 * those after it into suf. */
void logfmt_snap_record(size_t comp_len, uint64_t status, uint64_t seq,
    uint8_t pre[LOGFMT_SNAP_PRE_MAX], size_t *pre_len,
    uint8_t suf[LOGFMT_SNAP_SUF_MAX], size_t *suf_len);

/* What a snapshot record holds: the component's bytes at
 * rec[comp_off..comp_off + comp_len), its status and seq. */
typedef struct logfmt_snap_rec {
	size_t comp_off, comp_len;
	uint64_t status, seq;
} logfmt_snap_rec;

/* Reads the packed StoredComponent rec[0..len) (after the length word).
 * Returns FS_OK, or FS_DATA_LOSS when a field is missing, malformed or
 * unknown. */
int
logfmt_snap_record_scan(const uint8_t *rec, size_t len, logfmt_snap_rec *r);

#endif
