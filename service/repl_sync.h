/*
 * repl_sync.h - synchronous replication (CONTRACT §9, flow-service
 * --sync-replicas N): a change is acknowledged only once N replicas have
 * written it to their change logs.
 *
 * A follower acknowledges by asking: its Replicate call's from_revision
 * is the last record it has written (with sync on, the primary's answers
 * say sync_ack, and a follower sends its next call only once it has
 * written the records of the last answer). So one call acknowledges
 * every change of the answer before it, however many: group commit
 * across replicas, not a round trip per change. A change's reply waits
 * (on a waiter thread, holding no context and no lock) until the Nth
 * highest revision acknowledged by the followers in touch reaches it;
 * at its deadline it answers UNAVAILABLE instead (counted, logged).
 *
 * Only calls from a follower whose history agrees with this backend's
 * at its revision (same term there) count; a follower is in touch while
 * its calls come (within REPL_SYNC_LIVE_MS of the last).
 */
#ifndef SERVICE_REPL_SYNC_H
#define SERVICE_REPL_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "svc_wait.h"

#define REPL_SYNC_LIVE_MS 3000 /* a poll's wait (2 s) and a margin */

typedef struct repl_sync repl_sync;

/* n replicas (at least 1). FS_OK, FS_RESOURCE_EXHAUSTED or
 * FS_UNAVAILABLE (no thread). */
int repl_sync_new(repl_sync **out, unsigned n);
/* Answers every waiting reply (expired) first. NULL: no-op. */
void repl_sync_free(repl_sync *y);

/* The follower `name` has written every record up to rev. */
void repl_sync_ack(repl_sync *y, const char *name, uint64_t rev);

/* fn(arg, 0) once n followers have written rev, or fn(arg, 1) at end_ms
 * (fs_now_ms's clock). As svc_wait_for. */
int repl_sync_wait(repl_sync *y, uint64_t rev, int64_t end_ms, svc_wait_fn fn,
    void *arg);

/* Followers in touch now, and replies that timed out since start. */
size_t repl_sync_connected(repl_sync *y);
uint64_t repl_sync_timeouts(repl_sync *y);
void repl_sync_timed_out(repl_sync *y);

unsigned repl_sync_n(const repl_sync *y);

/* Answers every waiting reply now (expired) and takes no more. */
void repl_sync_quiesce(repl_sync *y);

#endif
