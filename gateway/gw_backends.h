/*
 * gw_backends.h - the backends one gateway talks to (CONTRACT §8).
 *
 * flow-gateway --backend URL, repeated: one RPC client per backend. Reads
 * (the methods fs_methods.h marks FS_M_READ) go to the backend that
 * answers with the fewest calls of this gateway in flight (ties taken in
 * turn); changes, Health (/readyz) and Stats (/metrics) go to the
 * primary; the gateway's own watch goes where gw_backends_watch_pick
 * says. With more than one backend each is asked for its Health once at
 * start, before the first request, then every interval: a backend that
 * answers is up, and the one that says it is the primary and takes
 * changes is where changes go. When two say so, the one of the higher
 * term is: the other was deposed and has not heard of it yet. A backend
 * of a term below the primary's (that one, or a replica following it)
 * is left out, as its history may have parted from the primary's. A
 * backend whose call fails without an answer (connection lost, timeout)
 * is left out until it answers a Health again; a change answered
 * FAILED_PRECONDITION `Not the primary.` makes the poller look again at
 * once. Until a primary is known, changes go to any backend that answers
 * (a replica forwards them to its primary). With one backend every call
 * goes to it and nothing is polled.
 *
 * Read your writes: the gateway keeps the highest revision any answer
 * told it and sends it as min_revision with every read (with the
 * client's own X-Min-Revision when higher), so a client of one gateway
 * reads its own writes whichever backend answers.
 *
 * Thread-safe: picks and completions run on MHD and nng threads at once.
 */
#ifndef GATEWAY_GW_BACKENDS_H
#define GATEWAY_GW_BACKENDS_H

#include <stdbool.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "fs_rpc.h"
#include "gw_json.h"

typedef struct gw_backends gw_backends;
typedef struct gw_backend gw_backend;

/* A batch of spread reads not answered within this gives its place back
 * and its reads go again to another backend (fs_spread_open's hedge_ms):
 * a stopped backend, or a replica waiting for a revision, holds up no
 * read for longer. */
#define GW_HEDGE_MS 100u

/* Opens a client for each of the n urls (with tls for tls+tcp:// ones,
 * NULL: none), each coalescing as fs_client_set_coalesce(coalesce), and
 * with n > 1 starts the poller (every poll_ms; 0: 1000). Returns 0, or -1
 * with a one-line reason in err. */
int gw_backends_open(gw_backends **out, const char *const *urls, int n,
    const fs_client_tls *tls, int coalesce, uint32_t poll_ms, char *err,
    size_t errlen);

/* Stops the poller and closes every client (after gw_http_drain). */
void gw_backends_close(gw_backends *bs);

/* Where a call of method goes, counted in flight until gw_backends_done.
 * For a read, also raises the backend's client to the gateway's highest
 * revision and to min_rev (the request's X-Min-Revision; 0: none) by
 * setting opts->min_revision. Never NULL. */
gw_backend *gw_backends_pick(gw_backends *bs, Flowsvc__Method method,
    uint64_t min_rev, fs_call_opts *opts);

/* Whether a read of method is spread (gw_backends_spread_call): GET and
 * GET_STATUS, with several backends and coalescing on. */
bool gw_backends_spreads(const gw_backends *bs, Flowsvc__Method method);

/* Starts such a read over every backend's shared read lane (fs_spread:
 * at most --coalesce batches in flight over all the backends together,
 * each batch to the next backend that answers as it leaves; one out past
 * GW_HEDGE_MS gives its place back, its reads go again to another
 * backend, and its backend is passed over until it answers). min_rev and the gateway's highest revision go as
 * opts->min_revision, as gw_backends_pick does. Returns as
 * fs_client_call_async; its completion goes to gw_backends_done with b
 * NULL. */
int gw_backends_spread_call(gw_backends *bs, Flowsvc__Method method,
    const ProtobufCMessage *req, uint64_t min_rev, fs_call_opts *opts,
    fs_call_cb cb, void *arg);

/* Appends the backends' metrics to b (Prometheus text):
 * flowsvc_gateway_read_hedges_total, the batches of spread reads that
 * gave their place back past GW_HEDGE_MS. */
void gw_backends_render_metrics(const gw_backends *bs, gw_buf *b);

/* Where the gateway's own watch (gw_watch.h) and its catch-up Watch
 * calls go, given where the watch is now (cur; NULL: nowhere yet): the
 * primary when one is known and answers (changes reach it first), else
 * cur while it answers, else the first backend in --backend order that
 * answers; cur (or the first backend) when none answers. Every backend
 * serves Watch with the same revisions, a replica as its primary does,
 * so the watch may move to another and resume from the revision it had
 * delivered. With one backend: that one, always. Not counted in flight. */
gw_backend *gw_backends_watch_pick(gw_backends *bs, gw_backend *cur);

/* Whether b's answer to a Watch from since (code and reply, NULL when
 * none) says only that b is behind since: OUT_OF_RANGE with b's revision
 * below since, and b not the primary (a replica that lacks since gets it
 * from its primary; a primary is the newest there is, and a revision
 * above its own is gone for good). Then the watch waits for b, or for
 * another backend, rather than giving up on since. With one backend:
 * false (the answer stands, as ever). */
bool gw_backends_watch_behind(gw_backends *bs, const gw_backend *b,
    uint64_t since, int code, const Flowsvc__Reply *reply);

/* A call not counted in flight (the watch's) failed on b without an
 * answer (connection lost, timeout): b is left out, as gw_backends_done
 * does, until it answers a Health again. */
void gw_backends_lost(gw_backends *bs, gw_backend *b);

/* How many backends the gateway has (--backend given n times). */
int gw_backends_count(const gw_backends *bs);

/* The client of b, and its URL (for logs). */
fs_client *gw_backend_client(const gw_backend *b);
const char *gw_backend_url(const gw_backend *b);

/* The outcome of a call started on b (code as fs_call_cb's; reply may be
 * NULL): notes its revision, leaves b out after a failure without an
 * answer, looks for the primary again after `Not the primary.`. b NULL:
 * a spread read's (its backend is told apart, per batch). */
void gw_backends_done(gw_backends *bs, gw_backend *b, int code,
    const Flowsvc__Reply *reply);

/* The highest revision an answer has told this gateway. */
uint64_t gw_backends_revision(gw_backends *bs);

#endif
