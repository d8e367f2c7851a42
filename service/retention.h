/*
 * retention.h - which change logs of older generations must stay on
 * disk. Every holder (a reader of the log: the snapshot now, as recovery
 * replays from it; a change feed or a replica later) names the oldest
 * revision it still needs, and an older log may go once every record in
 * it is older than what each holder needs. A table under its own mutex,
 * with no I/O: persist_gc asks it and removes the files.
 *
 * To tell, it keeps each known generation's base: the revision before its
 * log's first record. Log G holds revisions (base G, base G+1]; for a log
 * whose base is not known (kept from before this start), the next known
 * base above it bounds its revisions.
 */
#ifndef SERVICE_RETENTION_H
#define SERVICE_RETENTION_H

#include <stddef.h>
#include <stdint.h>

typedef struct retention retention;

/* FS_OK or FS_RESOURCE_EXHAUSTED. */
int retention_new(retention **out);
void retention_free(retention *r);

/* Generation gen's log begins after revision base. FS_OK or
 * FS_RESOURCE_EXHAUSTED. */
int retention_note(retention *r, uint64_t gen, uint64_t base);

/* Forgets the generations below gen (their files are gone). */
void retention_forget(retention *r, uint64_t gen);

/* A new holder needing every record from min_revision on; *id names it.
 * FS_OK, FS_OUT_OF_RANGE (older records than that are no longer kept:
 * min_revision is at or below retention_oldest) or
 * FS_RESOURCE_EXHAUSTED. name is copied, for messages. */
int retention_hold(retention *r, const char *name, uint64_t min_revision,
    uint32_t *id);

/* The holder now needs records from min_revision on (never less than
 * before). FS_OK, FS_NOT_FOUND (no such holder) or FS_OUT_OF_RANGE. */
int retention_move(retention *r, uint32_t id, uint64_t min_revision);

/* The holder needs nothing more. */
void retention_release(retention *r, uint32_t id);

/* 1 when log gen, older than the current generation, holds no record
 * that a holder needs. */
int retention_log_unneeded(retention *r, uint64_t gen);

/* The oldest revision the logs kept still hold, as far as known: the
 * base + 1 of the oldest generation noted and not forgotten. */
uint64_t retention_oldest(retention *r);

/* The log that holds revision rev: the newest generation noted whose
 * base is below rev, and that base. FS_OK or FS_OUT_OF_RANGE. */
int
retention_locate(retention *r, uint64_t rev, uint64_t *gen, uint64_t *base);

#endif
