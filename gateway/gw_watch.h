/*
 * gw_watch.h - the gateway's one watch on the backend, fanned out to its
 * Server-Sent Events clients (CONTRACT §7, GET /api/watch/).
 *
 * The hub keeps one upstream Watch loop on the backend (fs_watch_start:
 * every kind, every group, as a trusted caller) and a bounded ring of the
 * latest events, each rendered once as an SSE frame. Each event goes to
 * every live client whose filters and token let it see the event, as
 * bytes appended to that client's buffer; a client whose buffer would
 * pass --watch-client-buffer is dropped (its connection closed), so a
 * client that does not read never slows the others nor the upstream
 * watch. A client resuming from a revision the ring holds is served from
 * it; one resuming from older catches up with Watch calls of its own
 * (gw_sse.c) until it reaches the ring. The upstream loop survives a
 * backend restart by itself (it resumes from its last revision); when it
 * ends for good (OUT_OF_RANGE: the backend lost the revision it was at),
 * the hub ends every stream, so that each client resumes from its own
 * Last-Event-ID (and learns, with 410, when that is gone), and starts a
 * new upstream watch from the backend's current revision.
 *
 * With several --backend, the upstream watch runs where
 * gw_backends_watch_pick says (the primary when it answers, else one
 * that answers). When its backend is left out (a Health or a call of
 * its own got no answer) and another answers, the loop moves there and
 * resumes from the hub's position, which every backend has with the
 * same changes: the ring and the streams go on, with no gap and no
 * duplicate. A replica behind that position answers OUT_OF_RANGE (the
 * revision is in its future): not an end, the hub asks again shortly,
 * wherever gw_backends_watch_pick then says (gw_backends_watch_behind),
 * so a lagging replica delivers later, never out of order. Catch-up
 * calls go to the same backend.
 *
 * A thread of the hub's own starts the upstream watch (and restarts it),
 * and sends a bookmark to every client that was sent nothing for
 * --watch-bookmark-ms.
 *
 * Thread-safe. The request side (parsing, catch-up, the MHD stream) is
 * gw_sse.h; what the two share is gw_watch_int.h.
 */
#ifndef GATEWAY_GW_WATCH_H
#define GATEWAY_GW_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "fs_rpc.h"
#include "gw_backends.h"
#include "gw_json.h"

struct gw_watch_config {
	uint32_t bookmark_ms;    /* a bookmark after this long without bytes */
	size_t client_buffer;    /* bytes a client may fall behind; more:
	                        * dropped */
	unsigned max_clients;    /* SSE clients at once; more answer 503 */
	size_t ring_events;      /* events the ring keeps (at least 1) */
	size_t ring_bytes;       /* and at most this many bytes of frames */
	uint32_t rpc_timeout_ms; /* the hub's own calls */
};

typedef struct gw_watch gw_watch;

/* Starts the hub over the gateway's backends (borrowed: they must
 * outlive gw_watch_close). Returns 0 and *out, or -1 (out of memory, no
 * thread). */
int gw_watch_new(gw_watch **out, const struct gw_watch_config *cfg,
    gw_backends *bs);

/* Shutdown: every stream ends (cleanly, at an event's boundary; a client
 * that does not read is cut off after a moment), the upstream watch and
 * the thread stop. Waits at most about a second for the streams to go.
 * Afterwards nothing of the hub calls the client, but catch-up calls
 * already made, which fs_client_close completes. */
void gw_watch_close(gw_watch *w);

/* Frees w, after gw_watch_close and fs_client_close. NULL: no-op. */
void gw_watch_free(gw_watch *w);

/* Appends the hub's Prometheus lines (clients, events, drops) to b. */
void gw_watch_render_metrics(gw_watch *w, gw_buf *b);

#endif
