/*
 * watch.h - the change history that Watch serves: events (one per
 * change, immutable and reference-counted), the ring that keeps the last
 * N of them in revision order, who may see which (the filters of a
 * request and the caller's groups, access.h's rules), and their encoding
 * as WatchEvent / WatchReply (flows.proto).
 *
 * No locking and no threads here: svc_watch.c holds the ring under its
 * mutex and hands events to the threads that encode replies by reference
 * (watch_event_ref), so that the ring may drop an event while a reply
 * being built still reads it.
 *
 * Memory: an event is one allocation of about 64 bytes plus the packed
 * component (a typical flow: about 250 bytes) and its group's name; the
 * groups of flows it uses that lie in other groups, when any, take a
 * second one. The ring holds cap pointers.
 */
#ifndef SERVICE_WATCH_H
#define SERVICE_WATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"

/* A flow the component uses that lies in another group than its own:
 * its place in component.flows and its group. */
typedef struct watch_use {
	uint32_t index;
	const char *group;
} watch_use;

typedef struct watch_event {
	_Atomic uint32_t refs;
	uint8_t type;   /* Flowsvc__EventType */
	uint8_t kind;   /* Flowsvc__Kind */
	uint8_t status; /* Flowsvc__Status after the change */
	uint32_t len;   /* of the packed component */
	uint32_t nflows;
	uint32_t nforeign;
	uint64_t revision;
	const char *group;  /* the component's, in data */
	watch_use *foreign; /* nforeign of them, one allocation; or NULL */
	uint8_t data[];     /* the packed Component, then group and NUL */
} watch_event;

/* A new event holding a copy of the packed component bytes[0..len) and of
 * group; nflows is the length of its `flows` list, of which the nforeign
 * items listed in foreign are of other groups (copied too). One
 * reference, the caller's. NULL when out of memory. */
watch_event *watch_event_new(int type, uint64_t revision, int kind, int status,
    const char *group, const uint8_t *bytes, uint32_t len, uint32_t nflows,
    const watch_use *foreign, uint32_t nforeign);

/* Sets the foreign uses of an event nobody else holds yet (a history
 * being rebuilt). Returns 0, or -1 when out of memory (ev unchanged). */
int watch_event_set_foreign(watch_event *ev, const watch_use *foreign,
    uint32_t nforeign);

static inline void
watch_event_ref(watch_event *ev)
{
	atomic_fetch_add_explicit(&ev->refs, 1, memory_order_relaxed);
}

/* Drops a reference; the last one frees the event. */
void watch_event_unref(watch_event *ev);

/* What a packed Component says that an event needs: id and group (not
 * NUL-terminated), kind, version, and its `flows` ids one by one (each_flow,
 * optional, gets each id's bytes and length, in order). Returns 0, or -1
 * when the bytes do not parse or lack kind or group. */
typedef struct watch_comp_info {
	const char *id; /* not NUL-terminated */
	size_t id_len;
	int kind;
	const char *group;
	size_t group_len;
	int64_t version;
	uint32_t nflows;
} watch_comp_info;
int watch_comp_scan(const uint8_t *b, size_t len, watch_comp_info *out,
    void (*each_flow)(void *arg, const char *id, size_t n), void *arg);

/* ---- the ring ----------------------------------------------------------- */

/* The last cap events, by revision, with no gap: event i holds revision
 * first + i. */
typedef struct watch_ring {
	watch_event **ev;
	size_t cap, head, n; /* head: slot of the oldest */
	uint64_t last;       /* revision of the newest change known (the
	                        newest event's, or the base before any) */
} watch_ring;

/* A ring for cap (>= 1) events whose history starts after revision
 * base. Returns 0, or -1 when out of memory. */
int watch_ring_init(watch_ring *r, size_t cap, uint64_t base);
void watch_ring_fini(watch_ring *r);

/* Forgets every event: the history starts after revision base. */
void watch_ring_reset(watch_ring *r, uint64_t base);

/* Appends ev (the ring takes the caller's reference), dropping the oldest
 * when full. An event that does not follow the newest (revision other
 * than last + 1) starts the history anew with it, as what lies between is
 * not known. O(1). */
void watch_ring_push(watch_ring *r, watch_event *ev);

/* The revision of the oldest event kept; last + 1 when none. */
static inline uint64_t
watch_ring_first(const watch_ring *r)
{
	return r->last - r->n + 1;
}

/* The event of revision rev, borrowed; NULL when not kept. */
watch_event *watch_ring_at(const watch_ring *r, uint64_t rev);

/* ---- who sees what ------------------------------------------------------ */

/* A Watch request's filters and its caller. */
typedef struct watch_filter {
	int kind;                   /* FLOW, APP, or 0: both */
	const char *group;          /* case-insensitive; NULL: every group */
	const Flowsvc__Caller *who; /* access.h: NULL or unrestricted: all */
} watch_filter;

/* 1 when ev passes f and f->who may see it. */
bool watch_match(const watch_filter *f, const watch_event *ev);

/* ---- encoding ----------------------------------------------------------- */

/* A WatchReply being built in a buffer that never grows past budget. */
typedef struct watch_reply_buf {
	uint8_t *buf;
	size_t len, cap, budget;
	uint32_t n; /* events in it */
} watch_reply_buf;

/* Appends ev as WatchReply.events for who (its `flows` without the ones
 * who may not see, flow_groups when any is of another group). Returns 0;
 * 1 when it would pass the budget (nothing appended); -1 out of memory. */
int watch_reply_add(watch_reply_buf *b, const watch_event *ev,
    const Flowsvc__Caller *who);

/* Appends WatchReply.revision. Returns 0 or -1 (out of memory). The
 * buffer is then the packed WatchReply (b->buf, b->len; free it). */
int watch_reply_finish(watch_reply_buf *b, uint64_t revision);

#endif
