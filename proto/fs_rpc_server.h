/*
 * fs_rpc_server.h - the REP side of the RPC transport (fs_rpc.h is the
 * client side and the limits both share).
 *
 * One REP socket with a pool of contexts driven by aio callbacks. The
 * handler runs on an nng thread and must call fs_srv_reply() exactly once
 * per call, either before it returns or later from any thread (for replies
 * that wait on a disk sync). Undecodable envelopes are answered with
 * INVALID_ARGUMENT by the transport itself; the handler never sees them.
 * The socket's receive size limit is FS_RPC_MAX_MSG.
 *
 * Long polls (methods the table marks FS_M_BLOCKS: Watch) do not take the
 * pool from other requests: a handler that has nothing to answer yet
 * detaches its call (fs_srv_detach), which keeps its own context while
 * the pool gets a fresh one in its place; and they are counted apart
 * from the per-connection cap of requests in progress, against caps of
 * their own (per connection and for the whole server). A detached call
 * whose connection closes before its reply can be ended at once instead
 * of when its owner answers (fs_srv_on_gone): a client that drops its
 * connection gives its long polls' places back at once.
 *
 * Part of the programs' library (flow_proto), not of the installed client
 * library.
 */
#ifndef PROTO_FS_RPC_SERVER_H
#define PROTO_FS_RPC_SERVER_H

#include <stdint.h>

#include "flows.pb-c.h"
#include "fs_rpc.h"

typedef struct fs_server fs_server;
typedef struct fs_srv_call fs_srv_call;

/* req is valid until fs_srv_reply is called for the call. */
typedef void (*fs_srv_handler)(void *arg, fs_srv_call *call,
    const Flowsvc__Request *req);

/* A reply that cannot be handed to its connection within this long, plus
 * a second per MiB of reply (the peer is not reading) is dropped, its context serves again, and the
 * connection is closed: an nng peer reads replies as they come, so one
 * that has not for this long is stalled or hostile. */
#define FS_SRV_SEND_TIMEOUT_MS 5000
/* Requests in progress (received, reply not yet handed to the
 * connection) one connection may have; its requests beyond are dropped
 * unanswered until one finishes. Without it, a peer that pipelines
 * requests and never reads the replies holds every context until it
 * disconnects; with it, at most this many, until the send timeout closes
 * it. */
#define FS_SRV_MAX_INFLIGHT_PER_CONN 64
/* Long polls (FS_M_BLOCKS) in progress one connection may have, and the
 * whole server. They do not count against max_inflight_per_conn: a
 * client that parks a thousand watches still has its full share of
 * Gets. One over either cap is answered at once with RESOURCE_EXHAUSTED
 * (as a request of the ordinary kind). */
#define FS_SRV_MAX_BLOCKING_PER_CONN 1024
#define FS_SRV_MAX_BLOCKING 100000

typedef struct fs_server_opts {
	int ncontexts;             /* requests served at once (< 1: 1) */
	int send_timeout_ms;       /* < 1: FS_SRV_SEND_TIMEOUT_MS */
	int max_inflight_per_conn; /* 0: no cap */
	int max_blocking_per_conn; /* < 1: FS_SRV_MAX_BLOCKING_PER_CONN */
	int max_blocking;          /* < 1: FS_SRV_MAX_BLOCKING */
	/* Mutual TLS (CONTRACT §5), for a tls+tcp:// url and only for one:
	 * PEM files of the server's certificate (then any intermediates),
	 * its unencrypted private key, and the CA certificate(s) a client's
	 * certificate must chain to. All three, or none. */
	const char *tls_cert;
	const char *tls_key;
	const char *tls_ca;
} fs_server_opts;

/* Listens on url and starts serving with opts (NULL: ncontexts 256, the
 * defaults above). Connections it sheds or closes are logged (fs_log).
 * Returns 0 or an nng error (address in use, bad url, TLS settings
 * missing, unreadable or refused, ...), with a one-line reason in
 * fs_server_last_error().
 *
 * With TLS, a client is served only once its certificate has been
 * verified against tls_ca (signature, validity dates). One without a
 * certificate, with one from another CA or with an expired one is refused
 * when its connection is set up, before any request of it is read: a
 * WARN line names its address (at most 10 such lines a second; the next
 * one counts those left out) and fs_srv_tls_refused() counts it. A
 * connection whose TLS handshake itself fails (not TLS at all, no common
 * cipher, a malformed certificate) is dropped inside nng 1.5.2, which
 * reports it to nobody: it is neither logged nor counted. */
int fs_server_open_opts(fs_server **out, const char *url,
    const fs_server_opts *opts, fs_srv_handler handler, void *arg);

/* Why the last fs_server_open_opts on this thread failed ("" after a
 * success). Static storage. */
const char *fs_server_last_error(void);

/* Connections refused for their certificate (see fs_server_open_opts) by
 * every server of this process since it started. */
uint64_t fs_srv_tls_refused(void);

/* fs_server_open_opts with ncontexts contexts and the defaults above. */
int fs_server_open(fs_server **out, const char *url, int ncontexts,
    fs_srv_handler handler, void *arg);

/* Stops receiving, waits for calls in progress to be answered (detached
 * ones included: answer them first, e.g. parked watches at shutdown),
 * frees. Bounded: a call still unanswered after some seconds is dropped. */
void fs_server_close(fs_server *s);

/* Takes call out of the pool of contexts: it keeps its own nng context
 * until its reply has been sent (then that context is closed), while the
 * pool gets a new context in its place and goes on serving others. For a
 * handler that will answer much later (a long poll); called from the
 * handler, before it returns, at most once per call. Returns 0, or an nng
 * error (out of memory, the server closing): the call then stays in the
 * pool, and still needs its reply. */
int fs_srv_detach(fs_srv_call *call);

/* An owner's answer to "the connection of this detached call has
 * closed" (fs_srv_on_gone). Returns 1 when the owner let the call go: it
 * has freed what it held for it (nothing it frees may be the request,
 * which is the server's) and will never reply; the server then ends the
 * call without a reply (nobody could read it): frees its request and
 * context, and releases its place among the requests in progress. Returns
 * 0 when the owner is answering the call already or is about to (that
 * reply goes nowhere, harmlessly): it must then answer it soon, not
 * after a long wait.
 *
 * Runs once at most, on nng's reaper thread, with the server's lock of
 * detached calls held: it must not call any fs_srv_ function, and the
 * owner must never call one while holding a lock that this takes. */
typedef int (*fs_srv_gone_fn)(void *arg);

/* Asks for fn(arg) should the connection of call, detached, close before
 * its reply has begun. For a long poll, which would otherwise wait on,
 * holding its place among the long polls and its memory, for a client
 * that is gone. Call it before the owner can answer the call from
 * elsewhere, and keep what fn touches alive until fs_srv_reply or
 * fs_srv_on_gone(call, NULL, NULL) returns: either takes the request
 * back (and waits for an fn running now). Returns 0; NNG_ECLOSED when the
 * connection has closed already or the server is closing (nothing is
 * registered: answer now, the reply goes nowhere); NNG_ESTATE when call
 * is not detached. */
int fs_srv_on_gone(fs_srv_call *call, fs_srv_gone_fn fn, void *arg);

/* How many calls are detached now (for Stats and tests). */
int fs_server_detached(const fs_server *s);

/* Sends the reply for call (reply borrowed; request_id is filled in from
 * the request when unset). After this the call and its request are gone. */
void fs_srv_reply(fs_srv_call *call, const Flowsvc__Reply *reply);

/* Shorthand: reply with code, message (NULL: the code's default) and an
 * optional encoded payload message (NULL: none). */
void fs_srv_reply_code(fs_srv_call *call, int code, const char *message,
    const ProtobufCMessage *payload);

/* The request's deadline as wall-clock milliseconds, 0 when none. */
int64_t fs_srv_deadline_ms(const fs_srv_call *call);

#endif
