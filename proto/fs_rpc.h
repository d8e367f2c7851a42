/*
 * fs_rpc.h - the RPC transport: protobuf envelopes over nng REQ/REP.
 *
 * Client: one REQ socket, one nng context per call in flight, so any number
 * of threads (or callbacks) can have calls outstanding at once (up to
 * FS_CLIENT_MAX_INFLIGHT on the wire; the rest wait their turn; long polls,
 * i.e. Watch, are apart: see below). The dial is
 * non-blocking: a client opens while the backend is down and connects (and
 * reconnects) by itself. REQ resends are off: a call is sent once, and a
 * lost reply surfaces as DEADLINE_EXCEEDED/UNAVAILABLE rather than as a
 * silent second execution.
 *
 * The server side is fs_rpc_server.h: it is part of the backend, not of the
 * client library that internal services link.
 *
 * Every socket has a receive size limit (FS_RPC_MAX_MSG by default).
 */
#ifndef PROTO_FS_RPC_H
#define PROTO_FS_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"

#define FS_RPC_MAX_MSG (16u * 1024u * 1024u)
/* The most field-violation messages one reply lists; past them the backend
 * only counts ("N more errors not listed."). A caller forwarding keys it
 * could not map need send no more than this many (the rest as a count:
 * CreateRequest.unknown_fields_omitted). */
#define FS_VIOLATIONS_MAX 100
#define FS_RPC_DEFAULT_TIMEOUT_MS 5000u

/* ---- client ------------------------------------------------------------ */

/* Calls one client keeps in flight at once; calls beyond wait, in order,
 * for one to finish (or for their own deadline). A backend serves one
 * connection at most FS_SRV_MAX_INFLIGHT_PER_CONN (fs_rpc_server.h) requests at once by
 * default and drops the rest unanswered; it counts a request until its
 * reply has left, which can be a moment after the client has read it, so
 * the client keeps half that: the other half absorbs replies whose sending
 * the backend has not yet counted as done. Coalesced batches count as one
 * call. */
#define FS_CLIENT_MAX_INFLIGHT 32

typedef struct fs_client fs_client;

/* Opens a client for url (tcp://host:port or ipc:///path; tls+tcp:// with
 * fs_client_open_tls below). The dial does not
 * wait for the backend. Returns FS_OK, or FS_INVALID_ARGUMENT (a URL the
 * transport cannot use: bad syntax, unknown scheme), FS_RESOURCE_EXHAUSTED
 * (out of memory) or FS_UNAVAILABLE (anything else the transport
 * refused), with the transport's words in fs_client_last_error(); on
 * success *out belongs to the caller, who closes it with fs_client_close. */
int fs_client_open(fs_client **out, const char *url);

/* Transport security for a backend on tls+tcp://HOST:PORT (mutual TLS,
 * CONTRACT §5). Such a backend serves only clients that present a
 * certificate signed by its CA, and the client checks the backend's
 * certificate in turn. Paths of PEM files; the programs take them as
 * --backend-cert, --backend-key and --backend-ca (flowctl also from
 * FLOWCTL_CERT, FLOWCTL_KEY, FLOWCTL_CA), and --backend-server-name.
 *
 * server_name is the DNS name the backend's certificate must carry. NULL:
 * the URL's host. nng's TLS (mbedTLS) compares DNS names only, never IP
 * addresses, even with an IP address in the certificate: a URL whose host
 * is an IP address (tls+tcp://10.0.0.5:5555) is refused unless
 * server_name names the backend as its certificate does (e.g. the
 * certificate's DNS name "backend1.internal", or "localhost"). */
typedef struct fs_client_tls {
	const char *cert; /* this client's certificate, then any
	                   * intermediates; NULL: none (a mutual-TLS backend
	                   * refuses the client) */
	const char *key;  /* its private key, unencrypted; with cert */
	const char *ca;   /* the CA certificate(s) the backend's certificate
	                   * must chain to; required */
	const char *server_name; /* NULL: the URL's host (see above) */
} fs_client_tls;

/* fs_client_open with transport security: tls (NULL: none, which is
 * fs_client_open) applies to url and to every backend added later with
 * fs_client_add_backend, and is needed exactly for tls+tcp:// URLs. The
 * files are read and checked here (the structure and its strings need not
 * outlive the call); a certificate rotation takes a new client. Returns as
 * fs_client_open; FS_INVALID_ARGUMENT also for: a tls+tcp:// URL without
 * tls (or without tls->ca), tls with a URL of another scheme, a
 * certificate without its key or the reverse, a file that cannot be read
 * or is not what it should be, and an IP address as the host without
 * server_name; fs_client_last_error() says which. A backend that refuses
 * the client's certificate (or whose certificate the client refuses) shows
 * as an unreachable one: calls fail with FS_UNAVAILABLE. */
int
fs_client_open_tls(fs_client **out, const char *url, const fs_client_tls *tls);

/* 1 when url is one of the TLS schemes (tls+tcp://, tls+tcp4://,
 * tls+tcp6://), the URLs that take fs_client_tls; else 0. */
int fs_client_url_is_tls(const char *url);

/* Adds another backend address to the same socket (REQ then spreads calls
 * over the connected ones), with the client's TLS settings if it has any.
 * Returns as fs_client_open. */
int fs_client_add_backend(fs_client *c, const char *url);

/* Is anything listening at url? Tries once, within timeout_ms, to open a
 * plain connection there (no protocol spoken on it), and closes it. For a
 * tool that would rather say at once that no backend runs than wait out
 * its deadline: fs_client_open's background dial cannot tell "nothing
 * listens" from "not connected yet", and keeps retrying. Returns FS_OK
 * (something accepted the connection: a backend, perhaps still starting
 * or hung), FS_UNAVAILABLE (refused, an ipc path nobody listens on,
 * unreachable), FS_DEADLINE_EXCEEDED (no answer within timeout_ms),
 * FS_INVALID_ARGUMENT (a URL the transport cannot use, a host name that
 * does not resolve) or FS_RESOURCE_EXHAUSTED, with the transport's words
 * in fs_client_last_error() ("Connection refused" for both kinds of
 * refusal). The backend sees one connection that closes unused. */
int fs_client_probe(const char *url, uint32_t timeout_ms);

/* The transport's (nng's) own words for the last failure of
 * fs_client_open, fs_client_open_tls, fs_client_add_backend or
 * fs_client_probe on the calling thread, as errno is: "Address invalid",
 * ...; for TLS settings a sentence naming the file or URL at fault; ""
 * after a success. For
 * messages only: the code says what happened. Static storage. */
const char *fs_client_last_error(void);

/* Stops the client: calls not yet sent (queued for coalescing) complete
 * with UNAVAILABLE; calls in flight complete first, by their reply or at
 * their deadline (a lost connection fails them at once). Then frees the
 * client. No call may be started concurrently with this. */
void fs_client_close(fs_client *c);

/* Per-call options; a NULL options pointer means all defaults. */
typedef struct fs_call_opts {
	const char *request_id; /* NULL: none */
	/* 0: FS_RPC_DEFAULT_TIMEOUT_MS. A Watch call gets its wait_ms on
	 * top, so that a long poll never times out waiting. */
	uint32_t timeout_ms;
	const Flowsvc__Caller *caller; /* NULL: all groups (trusted caller) */
	/* A read's lowest revision (Request.min_revision), on top of the
	 * client's own (see fs_client_set_read_your_writes): the higher of
	 * the two goes out, also with read-your-writes off. A Watch carries
	 * this one only (a replica behind it waits for it, then answers).
	 * 0: none. */
	uint64_t min_revision;
} fs_call_opts;

/* Completion of an asynchronous call. code is the reply's code, or
 * FS_UNAVAILABLE (no backend connected, connection lost, client closing),
 * FS_DEADLINE_EXCEEDED (no reply within the timeout) or FS_INTERNAL
 * (undecodable reply). reply is the decoded envelope when one arrived
 * (code == reply->code), else NULL; the callback owns it and frees it with
 * flowsvc__reply__free_unpacked(reply, NULL). Runs on an nng thread; it
 * must not block for long. */
typedef void (*fs_call_cb)(void *arg, int code, Flowsvc__Reply *reply);

/* Sends req (the method's request message; it is encoded before this
 * returns, so the caller may free it right away) and arranges for cb to
 * run exactly once with the outcome. Returns 0, or an fs_code when the call
 * could not even be started (FS_UNAVAILABLE: no backend connected), in
 * which case cb is NOT called. The callback may run before this returns.
 *
 * A method that blocks (fs_methods.h's FS_M_BLOCKS: WATCH) goes out at
 * once, outside the FS_CLIENT_MAX_INFLIGHT calls and never coalesced: the
 * backend counts long polls apart (up to 1024 per connection by default,
 * --max-watches-per-conn), so a client can park a thousand watches and
 * still make its other calls. Its timeout is the call's plus the
 * request's wait_ms. fs_client_close ends such calls at once
 * (UNAVAILABLE) instead of waiting for them. */
int fs_client_call_async(fs_client *c, Flowsvc__Method method,
    const ProtobufCMessage *req, const fs_call_opts *opts, fs_call_cb cb,
    void *arg);

/* Sends env, an envelope as it is (method, payload, caller, request id,
 * deadline, min_revision kept), and arranges for cb to run once with the
 * outcome, as fs_client_call_async does; timeout_ms bounds the wait for
 * the reply (0: FS_RPC_DEFAULT_TIMEOUT_MS). For a backend that passes a
 * request on (a replica forwarding a change to its primary). Returns 0
 * or an fs_code (cb not called). */
int fs_client_forward_async(fs_client *c, const Flowsvc__Request *env,
    uint32_t timeout_ms, fs_call_cb cb, void *arg);

/* Read your writes (CONTRACT §8). A client remembers the highest
 * revision any reply has told it (Reply.revision: a change's, a read's)
 * and sends it as Request.min_revision with every read (GET, LIST,
 * GET_STATUS, HEALTH, STATS; a coalesced batch of reads as a whole; not
 * Watch, which has since_revision). A replica behind that revision waits
 * for it within the call's deadline, else answers UNAVAILABLE; so a
 * client that changes something through any backend and then reads
 * through a replica reads its change, or an error, never the state
 * before it. A primary never waits: it is the newest there is (a
 * revision above its own came from another store, e.g. one replaced by
 * an empty one, and waiting would not bring it). On by default;
 * fs_client_set_read_your_writes(c, 0) turns it off for c (reads of
 * whatever a replica has, however far behind). Returns 0. */
int fs_client_set_read_your_writes(fs_client *c, int on);

/* The highest revision c has seen (0: none yet). */
uint64_t fs_client_revision(fs_client *c);

/* Raises it to rev (when higher): a revision learned elsewhere, from
 * another handle or a REST answer's X-Revision, that this handle's reads
 * must not go behind. */
void fs_client_see_revision(fs_client *c, uint64_t rev);

/* Forgets it (a client that learns its backends were replaced by new,
 * empty ones, and means to read from them). */
void fs_client_reset_revision(fs_client *c);

/* Coalescing: with max_inflight > 0, small quick calls are batched: the
 * methods fs_methods.h marks FS_M_BATCH, and a LIST that names both
 * name_iexact and group_iexact (at most one match). Reads (GET,
 * GET_STATUS, HEALTH, that LIST) and changes (FS_M_WRITE: CREATE, UPDATE,
 * DELETE, DEPLOY, START, STOP) are two lanes: at most max_inflight calls
 * (or batches) of a lane are in flight at once, and calls of that lane
 * made meanwhile wait and go out together as one BATCH call when one
 * completes (at most 128 calls and 1 MiB of requests per batch), so a busy
 * client pays one round trip for many calls. A batch holds one lane only:
 * reads never wait for the disk sync a batch of changes may wait for. Each
 * call still completes on its own callback, with its own code and reply,
 * and runs in the backend as if sent alone (a batch executes its members
 * in order, and with fsync "always" a batch of changes is answered once
 * its last change is on disk); a member the backend did not run because
 * the batch's reply was full (Reply.not_executed) is sent again alone,
 * unseen by its caller. Only calls that are concurrent are batched, so no
 * caller-visible order changes. An idle client sends a call at once: no
 * added latency. Every other call (any other LIST, any method without
 * FS_M_BATCH: SNAPSHOT, STATS, BATCH, and any call whose request is over
 * 64 KiB) is never batched: it is sent at once on its own context, outside
 * these slots, and neither waits for them nor holds them, so a large or
 * slow call never delays another. A batch waits no longer than the nearest
 * deadline among its members. A batch of reads carries the highest
 * min_revision of its members (a replica serves it once it has that
 * revision), and a read whose min_revision is above every revision this
 * client's answers have shown (fs_client_revision) is sent at once on its
 * own, like the calls above: it may wait on a replica until its deadline,
 * and must not make a batch or the calls behind its slot wait with it.
 * 0 (the default) turns coalescing off.
 * Returns 0 or FS_INVALID_ARGUMENT. */
int fs_client_set_coalesce(fs_client *c, int max_inflight);

/* ---- reads spread over several backends, batched as one --------------- */

/* A spread sends reads over several clients (one per backend: a primary
 * and its replicas) the way one coalescing client sends them to one: at
 * most max_inflight batches (or single reads) in flight over all of them
 * together, reads made meanwhile waiting to go out as one batch; each
 * batch goes to the client pick() names as it leaves, so that backends
 * take batches in turn, each as large as one backend alone would get.
 * (One slot per client instead would split the same reads into batches a
 * third the size over three backends, and messages, not reads, are what
 * cost a backend its CPU.)
 *
 * A batch not answered within hedge_ms (a backend stopped, or a replica
 * waiting for a revision it does not have yet) gives its slot back: the
 * next batch goes out, pick() is told that client is slow until the
 * batch is answered, and its calls are sent again, once, in the next
 * batch to another client, when one is connected and not slow (reads run
 * twice safely; the late answer is dropped). When every client is slow,
 * the machine is, and copies would only add to it: the calls then wait
 * for their answer or their deadline, as on a single client. A read whose
 * min_revision is above every revision the spread's answers have shown
 * goes out alone, outside the slots (as on a single client). Only the
 * reads fs_client_set_coalesce batches are spread; any other call given
 * to fs_spread_call_async goes out alone to the client pick() names. */
typedef struct fs_spread fs_spread;

/* The most clients a spread takes. */
#define FS_SPREAD_MAX 64

/* Chooses the client (its index in the array given to fs_spread_open)
 * of a batch or single call; slow[i] tells which have a batch out past
 * hedge_ms, or no connection (a call given to such a client fails
 * UNAVAILABLE at once, as on a single client). -1: none (the calls fail
 * UNAVAILABLE). Called on any thread, with no lock of the spread held;
 * must not block. */
typedef int (*fs_spread_pick_fn)(void *arg, const bool *slow);

/* Told of every batch or single call that completes: the client it went
 * to, its code and its reply (NULL: none came; for a batch, the Batch
 * reply, whose members' replies go to their own callbacks). Before the
 * callbacks of its calls. Must not block. */
typedef void (*fs_spread_done_fn)(void *arg, int idx, int code,
    const Flowsvc__Reply *reply);

/* Opens a spread over clients[0..n-1] (2 to FS_SPREAD_MAX; they stay the
 * caller's, and must outlive the spread's calls: close them first, then
 * the spread). max_inflight >= 1; hedge_ms >= 1. Returns 0 or an fs code
 * (FS_INVALID_ARGUMENT, FS_RESOURCE_EXHAUSTED). */
int fs_spread_open(fs_spread **out, fs_client *const *clients, int n,
    int max_inflight, uint32_t hedge_ms, fs_spread_pick_fn pick,
    fs_spread_done_fn done, void *arg);

/* Closes it: calls still waiting fail UNAVAILABLE. After the clients'
 * fs_client_close (see above). */
void fs_spread_close(fs_spread *s);

/* fs_client_call_async through the spread. opts->min_revision is sent as
 * given (a spread's clients do not add their own). */
int fs_spread_call_async(fs_spread *s, Flowsvc__Method method,
    const ProtobufCMessage *req, const fs_call_opts *opts, fs_call_cb cb,
    void *arg);

/* Raises the highest revision the spread counts as seen (see above) to
 * rev: one its caller learned from other answers (its changes'). */
void fs_spread_see_revision(fs_spread *s, uint64_t rev);

/* Batches that gave their slot back past hedge_ms, since open. */
uint64_t fs_spread_hedged(fs_spread *s);

/* The same, waiting for the outcome. Returns the code; *reply_out is set as
 * for fs_call_cb (caller frees; NULL when no reply arrived). */
int fs_client_call(fs_client *c, Flowsvc__Method method,
    const ProtobufCMessage *req, const fs_call_opts *opts,
    Flowsvc__Reply **reply_out);

/* Unpacks reply->payload with desc. Returns the message (caller frees with
 * protobuf_c_message_free_unpacked) or NULL when absent or undecodable. */
ProtobufCMessage *fs_reply_payload(const Flowsvc__Reply *reply,
    const ProtobufCMessageDescriptor *desc);

/* ---- watching for changes ----------------------------------------------
 *
 * Every change (create, update, delete, deploy, start, stop) takes the
 * next revision of the store; every reply says the revision it reflects
 * (Reply.revision). Watch is a long poll for the changes after a
 * revision (flows.proto, WatchRequest): list, then watch from the list's
 * revision, and no change is missed or seen twice. Two ways:
 *
 * fs_client_watch: one call, one batch; the caller loops, passing the
 * batch's revision as the next since_revision.
 *
 * fs_watch_start / fs_watch_run: a loop that calls the handler once per
 * event, in revision order, exactly once each, and keeps going by itself:
 * after a lost connection, a backend restart or a timeout it waits a
 * little (50 ms, doubling to 2 s) and resumes from the last revision it
 * delivered. It ends when the handler asks, on fs_watch_stop, on
 * OUT_OF_RANGE (the history no longer holds where it is: list again and
 * start a new watch from the list's revision), or on an error that
 * trying again cannot fix (INVALID_ARGUMENT, PERMISSION_DENIED,
 * UNIMPLEMENTED, ...).
 *
 *	static int
 *	on_event(void *arg, const Flowsvc__WatchEvent *ev)
 *	{
 *		printf("%" PRIu64 " %d %s\n", ev->revision, (int) ev->type,
 *		    ev->component->id);
 *		return 0;                      // non-zero ends the watch
 *	}
 *
 *	// Start from the revision of a List done before (its Reply's).
 *	fs_watch_opts o = {.has_since = 1, .since_revision = list_rev,
 *	    .kind = FLOWSVC__KIND__FLOW, .group = "billing"};
 *	fs_watch_handler h = {.event = on_event};
 *	int code = fs_watch_run(client, &o, &h, NULL);  // blocks
 *	if (code == FS_OUT_OF_RANGE)
 *		;                              // list again, watch again
 */

/* The most a Watch may wait per call. */
#define FS_WATCH_WAIT_MAX_MS 60000u
/* What fs_watch_start asks per call when wait_ms is 0. */
#define FS_WATCH_WAIT_DEFAULT_MS 30000u

typedef struct fs_watch_opts {
	/* Events after since_revision; has_since 0: after the revision the
	 * backend is at when the first call is answered. */
	int has_since;
	uint64_t since_revision;
	Flowsvc__Kind kind; /* FLOW or APP; KIND_ANY (0): both */
	const char *group;  /* one group (any case); NULL or "": all */
	/* fs_client_watch: how long the call may wait for a change (0:
	 * answer at once); fs_watch_start: per call (0:
	 * FS_WATCH_WAIT_DEFAULT_MS). At most FS_WATCH_WAIT_MAX_MS. */
	uint32_t wait_ms;
	uint32_t max_events; /* per answer; 0: the backend's (1000) */
	/* Request id, caller (groups: events of other groups are left out,
	 * as for a token), timeout (added to wait_ms). NULL: defaults. The
	 * loop borrows it and its caller until it ends. */
	const fs_call_opts *call;
} fs_watch_opts;

/* One Watch call. Returns FS_OK with *batch (the WatchReply: its events,
 * and ->revision to pass as the next since_revision, also when there are
 * no events; free it with flowsvc__watch_reply__free_unpacked), or the
 * call's code with *batch NULL: FS_OUT_OF_RANGE when since_revision is
 * older than the history kept or newer than the backend's revision
 * (list again); the reply (message, oldest_revision) in *reply_out when
 * reply_out is not NULL (the caller frees it; NULL when none came). */
int fs_client_watch(fs_client *c, const fs_watch_opts *o,
    Flowsvc__WatchReply **batch, Flowsvc__Reply **reply_out);

typedef struct fs_watch fs_watch;

/* What a watch loop calls, on nng threads, one call at a time. */
typedef struct fs_watch_handler {
	/* Each event exactly once, in revision order. Return 0 to go on,
	 * non-zero to end the watch (FS_OK). Required. */
	int (*event)(void *arg, const Flowsvc__WatchEvent *ev);
	/* Optional: every change up to revision has been delivered (after
	 * each answer, with events or not): where to resume from. */
	void (*progress)(void *arg, uint64_t revision);
	/* Optional: a call failed with code (message: the backend's words,
	 * "" when it gave none; NULL when no answer came: connection lost,
	 * timeout) and the loop tries again in retry_ms from where it was. */
	void (*retry)(void *arg, int code, const char *message,
	    uint32_t retry_ms);
	/* Optional, called once, last: the watch ended with code (FS_OK
	 * when the handler or fs_watch_stop ended it), revision the last
	 * one delivered, reply the backend's answer that ended it (message,
	 * oldest_revision for FS_OUT_OF_RANGE) or NULL. */
	void (*done)(void *arg, int code, const Flowsvc__Reply *reply,
	    uint64_t revision);
} fs_watch_handler;

/* Starts a watch loop on c with o (copied; o->call borrowed) and h.
 * Returns FS_OK with *out (end it with fs_watch_stop, before
 * fs_client_close), or FS_RESOURCE_EXHAUSTED. */
int fs_watch_start(fs_watch **out, fs_client *c, const fs_watch_opts *o,
    const fs_watch_handler *h, void *arg);

/* Ends the watch unless it ended already (a call in flight is cancelled),
 * waits until its handler calls are over, frees it. Returns the code it
 * ended with. Not from a handler. */
int fs_watch_stop(fs_watch *w);

/* fs_watch_start, then waits on the calling thread for the end (the
 * handler returning non-zero, OUT_OF_RANGE, or an error trying again
 * cannot fix). Returns the code it ended with. */
int fs_watch_run(fs_client *c, const fs_watch_opts *o,
    const fs_watch_handler *h, void *arg);

#endif
