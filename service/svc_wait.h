/*
 * svc_wait.h - calls waiting for the store to reach a revision: a read
 * with a min_revision the backend has not applied yet (read your writes,
 * CONTRACT §8), and a Replicate long poll with nothing after its
 * revision yet. Each waits, holding no context of the server's pool (its
 * call is detached) and no lock, until the store's revision reaches what
 * it waits for or its time is up; then its function runs on the waiter
 * thread. The write path tells the revision (svc_wait_notify, O(1) when
 * nobody can be woken).
 */
#ifndef SERVICE_SVC_WAIT_H
#define SERVICE_SVC_WAIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct svc_waiter svc_waiter;

/* Runs once: expired 0 when the revision reached the wanted one, 1 when
 * the time was up (or at shutdown). */
typedef void (*svc_wait_fn)(void *arg, int expired);

/* FS_OK or FS_UNAVAILABLE (no thread). rev: the store's revision now. */
int svc_waiter_new(svc_waiter **out, uint64_t rev, size_t max);

/* Answers every waiting call (expired) and stops the thread. */
void svc_waiter_free(svc_waiter *w);

/* fn(arg, 0) once the revision is at least want, or fn(arg, 1) at
 * end_ms (fs_now_ms's clock). Returns FS_OK (fn will run, maybe already
 * has), FS_RESOURCE_EXHAUSTED (more than max waiting, or out of memory:
 * fn will not run) or FS_UNAVAILABLE (shutting down). */
int svc_wait_for(svc_waiter *w, uint64_t want, int64_t end_ms, svc_wait_fn fn,
    void *arg);

/* The store is at rev now (write lock held, or at least in order). */
void svc_wait_notify(svc_waiter *w, uint64_t rev);

/* Answers every waiting call now (expired) and takes no more: shutdown. */
void svc_wait_quiesce(svc_waiter *w);

/* Calls waiting now. */
size_t svc_wait_count(svc_waiter *w);

#endif
