/*
 * gw_sse.h - GET /api/watch/: one Server-Sent Events stream per request
 * (CONTRACT §7), fed by the hub (gw_watch.h).
 *
 * A request names where to start: Last-Event-ID, else ?since=N, else the
 * current revision; ?kind=flow|app and ?group__iexact=G filter, and the
 * caller's token scopes every event (CONTRACT §5). Bad values answer 400
 * ({"since": [...]} and so on) before any stream. A start the hub's ring
 * holds streams at once; an older one first asks the backend (a Watch
 * call as the caller, with its filters): OUT_OF_RANGE answers 410 with
 * the contract's detail, else the stream starts with what the backend
 * answered and goes on with further calls until it reaches the ring.
 * More clients than --watch-max-clients answer 503. HEAD answers the
 * headers of a stream with no body.
 *
 * The stream: a comment line, then one event per change (id: revision,
 * event: type, data: JSON) and bookmarks (event: bookmark, id and data
 * with the revision it is complete up to). It ends cleanly when the
 * gateway shuts down or its upstream watch starts again, and broken when
 * the client falls behind by more than --watch-client-buffer; either way
 * the client resumes with Last-Event-ID.
 */
#ifndef GATEWAY_GW_SSE_H
#define GATEWAY_GW_SSE_H

#include <stdbool.h>

struct gw_req;
struct MHD_Response;

/* Begins watch request r (complete, authenticated, GW_ACT_WATCH).
 * Returns false with r READY (an error, HEAD's answer, or a stream ready
 * to go), or true: r is suspended while the first catch-up call runs,
 * whose completion makes it READY and resumes it. */
bool gw_sse_begin(struct gw_req *r);

/* The response of r's stream (status 200 with r->sse), or NULL when r
 * answers with an ordinary body. */
struct MHD_Response *gw_sse_response(struct gw_req *r);

/* r completes: its stream lets go of the connection; the bytes it sent
 * go into r->bytes_sent. No-op without a stream. */
void gw_sse_end(struct gw_req *r);

#endif
