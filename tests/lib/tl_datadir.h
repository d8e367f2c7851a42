/*
 * tl_datadir.h - looking into a backend's data directory from outside:
 * which snapshot and change-log generations are there (and leftover temp
 * files), the path of one, and where each record of a change log starts.
 *
 * The format is the one service/persist.h documents: snapshot-GEN.db and
 * changes-GEN.log with GEN twelve decimal digits; a log is a header
 * ("FLOWLOG\0", u32 version, u32 0) and records of [u32 len][u32 crc of
 * len][u32 crc of payload][payload]. The constants below are the only
 * place the tests state it.
 */
#ifndef TESTS_TL_DATADIR_H
#define TESTS_TL_DATADIR_H

#include <stddef.h>
#include <stdint.h>

#define FS_LOG_HEADER 16     /* bytes before a change log's first record */
#define FS_LOG_REC_HEADER 12 /* len, crc32c(len), crc32c(payload) */

/* The generations present in a data dir, each list in increasing order
 * (at most FS_GENS_MAX of each kind are listed). */
#define FS_GENS_MAX 64
typedef struct fs_gens {
	int nsnap, nlog, ntmp; /* ntmp: files ending in ".tmp" */
	uint64_t snap[FS_GENS_MAX], log[FS_GENS_MAX];
} fs_gens;

/* Fills g from dir (empty when dir cannot be read). */
void fs_gens_scan(const char *dir, fs_gens *g);

/* dir/<kind>-<gen as 12 digits><ext>, e.g. kind "changes", ext ".log". */
void fs_gen_path(char *out, size_t n, const char *dir, const char *kind,
    uint64_t gen, const char *ext);

/* "snapshots [ 1 2 ] logs [ 2 ] tmp 0" into buf, for messages. Returns
 * buf. */
const char *fs_gens_str(const fs_gens *g, char *buf, size_t n);

/* The complete records of a change log: the offset of each record's
 * header in off[], its payload length in len[], at most max of them.
 * Returns their count, or -1 when the file cannot be read. A torn last
 * record is not counted; the checksums are not checked. */
int
fs_log_records(const char *path, long long off[], long long len[], int max);

#endif
