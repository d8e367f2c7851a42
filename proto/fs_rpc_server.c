/*
 * fs_rpc_server.c - REP side of the transport.
 *
 * ncontexts contexts, each cycling RECV -> handler -> SEND -> RECV on its
 * own aio. The handler runs in the aio callback (the fastest pattern on
 * nng 1.5: no hand-off to another thread) and may reply at once or later.
 * While a call waits for its reply its context receives nothing, so the
 * pool size bounds the calls in progress.
 *
 * Fairness between connections. A reply waits for its connection only so
 * long (send_timeout, plus a second per MiB of reply); one that waited that long means the peer is not
 * reading (an nng peer reads replies as they come), and its pipe is
 * closed, which also completes every reply queued for it. A connection
 * may have only so many requests in progress (max_inflight_per_conn,
 * counted per pipe from the receive until the reply is handed to the
 * pipe); requests beyond are dropped unanswered, so a peer that pipelines
 * requests and never reads holds at most that many contexts, and only
 * until its replies time out and it is closed.
 *
 * Why not close the pipe at once when it goes over the cap: in nng 1.5.2
 * closing a TCP pipe while its transport is between two parts of a
 * partial write loses the send (tcptran_pipe_send_cb resubmits on the
 * closed aio, whose completion never comes), and the reaper then waits for
 * it forever: no pipe is freed again and nng_close never returns. A
 * non-reading peer is over its cap right while its first replies are
 * being written. Once a reply has waited the send timeout, the transport
 * has been parked on a full socket buffer, and closing is safe.
 *
 * Long polls. A request of a method the table marks FS_M_BLOCKS (its
 * method is read from the envelope's bytes before anything else, without
 * decoding the rest) is counted apart: max_blocking_per_conn per pipe and
 * max_blocking in all, instead of max_inflight_per_conn. Its handler may
 * detach the call when it has nothing to answer yet (fs_srv_detach): the
 * call then keeps its context and aio, off the pool, on the detached
 * list, and a new call with a context of its own takes its place in the
 * pool and receives at once; once the detached call's reply has been
 * sent, its context is closed and it is freed (its aio by nng's reaper,
 * as an aio cannot be freed from its own callback). So parked calls cost
 * memory (a context, an aio and the decoded request each), never a place
 * in the pool.
 *
 * Closed connections. Every connection is known from nng's ADD_PRE
 * notice to its REM_POST (fs_srv_pipes). At REM_POST the detached calls
 * of the connection whose owners asked (fs_srv_on_gone) are offered to
 * them: an owner that lets its call go (a watch still parked) frees what
 * it holds for it, and the call is ended here, without a reply: its
 * request, context and aio are freed and its counts released, so a
 * client that drops its connection gives its long polls' places back
 * at once instead of when their waits end. The offer runs under dmu,
 * and fs_srv_reply takes dmu too before it sends, which is what makes
 * it safe: an owner frees what the offer may touch only after its reply
 * (or its fs_srv_on_gone(call, NULL, NULL)) returned, and the offer is
 * never made to a call whose reply has begun. Lock order: dmu, then an
 * owner's lock (the offer), then the table's; an owner never calls into
 * the server holding the lock its offer takes. REM_POST comes from nng's
 * reaper, after the connection is closed: a reaper stuck in nng 1.5.2's
 * lost read (a client killed while a request of it was half read: its
 * TCP transport resubmits the rest on the closed connection and waits
 * for it forever; seen in tests, before this too) sends no more of them,
 * and no socket close returns; nothing here can help that.
 */
#include "fs_rpc_server.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>

#include "fs_errors.h"
#include "fs_log.h"
#include "fs_methods.h"
#include "fs_pbwire.h"
#include "fs_srv_pipes.h"
#include "fs_srv_tlswatch.h"
#include "fs_tls.h"
#include "fs_util.h"

/* Lines a second about refused TLS clients (see pipe_cb). */
#define TLS_REFUSED_LOG_PER_SEC 10

enum fs_srv_state { SRV_RECV, SRV_BUSY, SRV_SEND };

struct fs_srv_call {
	fs_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	enum fs_srv_state state;
	Flowsvc__Request *req; /* while SRV_BUSY */
	uint32_t pipe; /* the request's pipe id while counted, else 0 */
	bool blocking; /* counted as a long poll (FS_M_BLOCKS) */
	int slot;      /* its place in the pool; -1 once detached */
	/* The detached list (dmu), while detached. */
	struct fs_srv_call *dnext, *dprev;
	/* Its owner's offer should its connection close (dmu). */
	fs_srv_gone_fn gone_fn;
	void *gone_arg;
};

struct fs_server {
	nng_socket sock;
	fs_srv_handler handler;
	void *arg;
	int ncalls;
	/* The pool: ncalls calls, each its own allocation, as a detached call
	 * leaves its place to a new one (dmu, once serving has started). */
	fs_srv_call **calls;
	atomic_bool closing;
	atomic_int busy; /* calls between receive and reply */
	nng_duration send_timeout;
	/* The connections and their requests in progress, touched from aio
	 * callbacks on many threads and from nng's pipe notices. */
	fs_srv_pipes pipes;
	/* Detached calls (dmu). dclosed: fs_server_close owns them now. */
	pthread_mutex_t dmu;
	bool dmu_ok;
	fs_srv_call *detached;
	int ndetached;
	bool dclosed;
	bool tls;             /* check each client's certificate (pipe_cb) */
	fs_log_limit tls_log; /* refused TLS clients' lines */
	/* Connections arrived (ADD_PRE), for the TLS listener's watch. */
	atomic_uint_fast64_t arrivals;
	fs_tls_watch *tls_watch; /* keeps the TLS listener accepting */
};

/* Connections refused for their certificate, by every server of the
 * process (fs_srv_tls_refused). */
static atomic_uint_fast64_t tls_refused;

/* Why fs_server_open_opts last failed on this thread. */
static _Thread_local char srv_last_msg[512];

/* ---- connections ------------------------------------------------------ */

/* The peer's address for a log line: "127.0.0.1:40312", an ipc path, or
 * "pipe N" when nng cannot tell. */
static void
pipe_peer(nng_pipe p, char *buf, size_t len)
{
	nng_sockaddr sa;
	char ip[INET6_ADDRSTRLEN];

	snprintf(buf, len, "pipe %d", nng_pipe_id(p));
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return;
	switch (sa.s_family) {
	case NNG_AF_INET:
		if (inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip)))
			snprintf(buf, len, "%s:%u", ip,
			    (unsigned) ntohs(sa.s_in.sa_port));
		break;
	case NNG_AF_INET6:
		if (inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip)))
			snprintf(buf, len, "[%s]:%u", ip,
			    (unsigned) ntohs(sa.s_in6.sa_port));
		break;
	case NNG_AF_IPC:
		snprintf(buf, len, "%s", sa.s_ipc.sa_path);
		break;
	default:
		break;
	}
}

/* Logs why, naming the peer of pipe id, and closes the pipe if asked. */
static void
pipe_warn(fs_server *s, uint32_t id, int close, const char *why)
{
	nng_pipe p = NNG_PIPE_INITIALIZER;
	char peer[128];

	p.id = id;
	if (fs_log_enabled(FS_LOG_WARN)) {
		pipe_peer(p, peer, sizeof(peer));
		fs_log(FS_LOG_WARN, NULL, "%s RPC connection from %s: %s",
		    close ? "closing" : "shedding", peer, why);
	}
	if (close)
		(void) nng_pipe_close(p); /* already gone: nothing to do */
}

/* With TLS (see fs_tls_listener_config): closes p, whose handshake is
 * done, unless its client certificate verified, and says so. Returns 1
 * when it closed it. */
static int
tls_refuse(fs_server *s, nng_pipe p)
{
	bool verified = false;
	char peer[128], more[48] = "";
	int left_out;

	/* Not readable, for any reason: not verified. */
	if (nng_pipe_get_bool(p, NNG_OPT_TLS_VERIFIED, &verified) == 0 &&
	    verified)
		return 0;
	/* The address first: a closed pipe may no longer tell it. */
	pipe_peer(p, peer, sizeof(peer));
	(void) nng_pipe_close(p);
	/* The listener's own probe (fs_srv_tlswatch.h), when the server's
	 * certificate is not one for clients: neither counted nor logged. */
	if (fs_tls_watch_probing() &&
	    (strncmp(peer, "127.", 4) == 0 || strncmp(peer, "[::1]:", 6) == 0))
		return 1;
	atomic_fetch_add(&tls_refused, 1);
	if (!fs_log_enabled(FS_LOG_WARN) ||
	    (left_out = fs_log_limit_take(&s->tls_log)) < 0)
		return 1;
	if (left_out > 0)
		snprintf(more, sizeof(more), " (and %d more, not logged)",
		    left_out);
	fs_log(FS_LOG_WARN, NULL,
	    "refused RPC connection from %s: no client certificate signed by "
	    "--tls-ca, or one expired or not yet valid%s",
	    peer, more);
	return 1;
}

static void calls_gone(fs_server *s, uint32_t id);

/* nng's notices of a connection, in place before the first one can come.
 * NNG_PIPE_EV_ADD_PRE, its handshake done, before the protocol reads
 * anything from it: with TLS, a client whose certificate did not verify
 * is closed here, so none of its requests is ever read; any other is
 * known from now on. NNG_PIPE_EV_REM_POST, once it has closed (on nng's
 * reaper thread): its requests are refused from now on, and its detached
 * calls offered to their owners (calls_gone). */
static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	fs_server *s = arg;
	uint32_t id = (uint32_t) nng_pipe_id(p);

	if (ev == NNG_PIPE_EV_ADD_PRE) {
		atomic_fetch_add(&s->arrivals, 1);
		if (s->tls && tls_refuse(s, p))
			return;
		if (fs_srv_pipes_add(&s->pipes, id) != 0)
			pipe_warn(s, id, 1, "out of memory");
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		if (fs_srv_pipes_gone(&s->pipes, id))
			calls_gone(s, id);
	}
}

uint64_t
fs_srv_tls_refused(void)
{
	return (uint64_t) atomic_load(&tls_refused);
}

const char *
fs_server_last_error(void)
{
	return srv_last_msg;
}

/* Listens on url: plainly, or, with TLS settings in o, with mutual TLS
 * (the listener's configuration and the check of every new connection).
 * Returns 0 or an nng error, why in srv_last_msg. */
static int
srv_listen(fs_server *s, const char *url, const fs_server_opts *o)
{
	bool any =
	    o->tls_cert != NULL || o->tls_key != NULL || o->tls_ca != NULL;
	nng_tls_config *cfg;
	nng_listener l;
	fs_tls_pem pem;
	int rv;

	if ((rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_PRE, pipe_cb, s)) !=
	        0 ||
	    (rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, pipe_cb,
	         s)) != 0) {
		snprintf(srv_last_msg, sizeof(srv_last_msg), "%s",
		    nng_strerror(rv));
		return rv;
	}
	if (!fs_tls_url(url)) {
		if (any) {
			snprintf(srv_last_msg, sizeof(srv_last_msg),
			    "%s: TLS settings are for tls+tcp:// only", url);
			return NNG_EINVAL;
		}
		if ((rv = nng_listen(s->sock, url, NULL, 0)) != 0)
			snprintf(srv_last_msg, sizeof(srv_last_msg), "%s",
			    nng_strerror(rv));
		return rv;
	}
	if (fs_tls_pem_load(&pem, o->tls_cert, o->tls_key, o->tls_ca,
	        srv_last_msg, sizeof(srv_last_msg)) != 0) {
		fs_tls_pem_fini(&pem);
		return NNG_EINVAL;
	}
	rv = fs_tls_listener_config(&cfg, &pem, srv_last_msg,
	    sizeof(srv_last_msg));
	if (rv != 0) {
		fs_tls_pem_fini(&pem);
		return rv;
	}
	fs_log_limit_init(&s->tls_log, TLS_REFUSED_LOG_PER_SEC);
	s->tls = true; /* before the first connection can come */
	if ((rv = nng_listener_create(&l, s->sock, url)) != 0) {
		nng_tls_config_free(cfg);
		fs_tls_pem_fini(&pem);
		snprintf(srv_last_msg, sizeof(srv_last_msg), "%s",
		    nng_strerror(rv));
		return rv;
	}
	/* The listener and the watch hold their own references. */
	rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
	if (rv == 0)
		rv = nng_listener_start(l, 0);
	if (rv == 0)
		rv = fs_tls_watch_start(&s->tls_watch, s->sock, l, url, cfg,
		    &pem, &s->arrivals, 0);
	nng_tls_config_free(cfg);
	fs_tls_pem_fini(&pem);
	if (rv != 0) {
		snprintf(srv_last_msg, sizeof(srv_last_msg), "%s",
		    nng_strerror(rv));
		nng_listener_close(l);
	}
	return rv;
}

/* ---- calls -------------------------------------------------------------- */

static void fs_srv_cb(void *arg);

/* The method of a packed envelope (Request.method, field 1), read from
 * its bytes without decoding the rest; 0 when it has none or does not
 * parse (the full decode then says so). */
static int
env_method(nng_msg *msg)
{
	const uint8_t *p = nng_msg_body(msg), *e = p + nng_msg_len(msg);
	fs_pb_field f;
	int method = 0;

	while (p < e && fs_pb_next_field(&p, e, &f) == 0)
		if (f.num == 1 && f.wt == FS_PB_VARINT)
			method = f.v <= 0x7fffffff ? (int) f.v : 0;
	return method;
}

/* A new call with its aio and context, for place slot of the pool.
 * Returns 0 or an nng error. */
static int
call_new(fs_server *s, int slot, fs_srv_call **out)
{
	fs_srv_call *c = calloc(1, sizeof(*c));
	int rv;

	if (c == NULL)
		return NNG_ENOMEM;
	c->srv = s;
	c->slot = slot;
	if ((rv = nng_aio_alloc(&c->aio, fs_srv_cb, c)) != 0) {
		free(c);
		return rv;
	}
	if ((rv = nng_ctx_open(&c->ctx, s->sock)) != 0) {
		nng_aio_free(c->aio);
		free(c);
		return rv;
	}
	*out = c;
	return 0;
}

/* Takes call off the detached list (dmu held). */
static void
detached_unlink(fs_server *s, fs_srv_call *call)
{
	if (call->dprev != NULL)
		call->dprev->dnext = call->dnext;
	else
		s->detached = call->dnext;
	if (call->dnext != NULL)
		call->dnext->dprev = call->dprev;
	call->dnext = call->dprev = NULL;
	s->ndetached--;
}

/* A detached call whose reply is done (sent, or dropped): its context is
 * closed and it is freed, unless fs_server_close has taken the detached
 * calls over (then it frees them). Runs in the call's own aio callback,
 * which is why the aio goes to nng's reaper. */
static void
call_retire(fs_srv_call *call)
{
	fs_server *s = call->srv;

	pthread_mutex_lock(&s->dmu);
	if (s->dclosed) {
		pthread_mutex_unlock(&s->dmu);
		return;
	}
	detached_unlink(s, call);
	pthread_mutex_unlock(&s->dmu);
	nng_ctx_close(call->ctx);
	nng_aio_reap(call->aio);
	free(call);
}

/* Ends a detached call, off the list, whose connection has closed and
 * whose owner let it go: no reply (nobody could read it); what it holds
 * is freed and its counts released. Not on the call's aio callback: the
 * aio is freed here, after the callback that detached the call, maybe
 * still returning from its handler, is done. */
static void
call_end(fs_srv_call *call)
{
	fs_server *s = call->srv;

	nng_aio_free(call->aio);
	nng_ctx_close(call->ctx);
	if (call->req != NULL)
		flowsvc__request__free_unpacked(call->req, NULL);
	fs_srv_pipes_release(&s->pipes, call->pipe, call->blocking);
	atomic_fetch_sub(&s->busy, 1);
	free(call);
}

/* Connection id has closed with requests in progress (REM_POST, on nng's
 * reaper thread): its detached calls whose owners asked are offered to
 * them, and those they let go are ended. */
static void
calls_gone(fs_server *s, uint32_t id)
{
	fs_srv_call *ended = NULL, *c, *next;

	pthread_mutex_lock(&s->dmu);
	for (c = s->dclosed ? NULL : s->detached; c != NULL; c = next) {
		next = c->dnext;
		fs_srv_gone_fn fn = c->gone_fn;
		/* gone_fn first: a call with one has not begun its reply, so
		 * its pipe is still the request's. */
		if (fn == NULL || c->pipe != id)
			continue;
		c->gone_fn = NULL;
		if (fn(c->gone_arg) == 0)
			continue; /* its owner is answering it */
		detached_unlink(s, c);
		c->dnext = ended;
		ended = c;
	}
	pthread_mutex_unlock(&s->dmu);
	for (c = ended; c != NULL; c = next) {
		next = c->dnext;
		call_end(c);
	}
}

int
fs_srv_on_gone(fs_srv_call *call, fs_srv_gone_fn fn, void *arg)
{
	fs_server *s = call->srv;
	int rv = 0;

	if (call->slot >= 0)
		return NNG_ESTATE;
	pthread_mutex_lock(&s->dmu);
	/* The table's mark comes before calls_gone takes dmu: either it is
	 * seen here, or calls_gone sees fn. */
	if (fn != NULL &&
	    (s->dclosed || fs_srv_pipes_gone_now(&s->pipes, call->pipe))) {
		rv = NNG_ECLOSED;
	} else {
		call->gone_fn = fn;
		call->gone_arg = arg;
	}
	pthread_mutex_unlock(&s->dmu);
	return rv;
}

/* The timeouts are the aio's own: a context's NNG_OPT_SENDTIMEO applies
 * only to an aio whose timeout is NNG_DURATION_DEFAULT, and nng 1.5.2
 * then keeps it for every later operation, receives included. */
static void
fs_srv_recv(fs_srv_call *call)
{
	call->state = SRV_RECV;
	nng_aio_set_timeout(call->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(call->ctx, call->aio);
}

void
fs_srv_reply(fs_srv_call *call, const Flowsvc__Reply *reply)
{
	Flowsvc__Reply r = *reply;
	nng_msg *msg;

	if (call->slot < 0) {
		/* No offer from now on, and none still running (its owner may
		 * free what it touches once this returns). */
		pthread_mutex_lock(&call->srv->dmu);
		call->gone_fn = NULL;
		pthread_mutex_unlock(&call->srv->dmu);
	}
	if (r.request_id == NULL && call->req != NULL)
		r.request_id = call->req->request_id;
	size_t len = flowsvc__reply__get_packed_size(&r);
	if (len > FS_RPC_MAX_MSG) {
		/* Never send what the peer's limit would drop silently. */
		Flowsvc__Reply small = FLOWSVC__REPLY__INIT;
		small.code = FLOWSVC__CODE__RESOURCE_EXHAUSTED;
		small.message = "Reply too large.";
		small.request_id = r.request_id;
		r = small;
		len = flowsvc__reply__get_packed_size(&r);
	}
	if (nng_msg_alloc(&msg, len) != 0) {
		/* Out of memory: drop the reply; the client times out. */
		msg = NULL;
	} else {
		flowsvc__reply__pack(&r, nng_msg_body(msg));
	}
	if (call->req != NULL) {
		flowsvc__request__free_unpacked(call->req, NULL);
		call->req = NULL;
	}
	atomic_fetch_sub(&call->srv->busy, 1);
	if (msg == NULL) {
		fs_srv_pipes_release(&call->srv->pipes, call->pipe,
		    call->blocking);
		call->pipe = 0;
		if (call->slot < 0)
			call_retire(call);
		else
			fs_srv_recv(call);
		return;
	}
	call->state = SRV_SEND;
	nng_aio_set_msg(call->aio, msg);
	/* Plus a second per MiB: a peer that reads, but slowly (a gateway
	 * busy with many large replies), is not one that does not read. */
	nng_aio_set_timeout(call->aio,
	    call->srv->send_timeout + (nng_duration) (len >> 20) * 1000);
	nng_ctx_send(call->ctx, call->aio);
}

void
fs_srv_reply_code(fs_srv_call *call, int code, const char *message,
    const ProtobufCMessage *payload)
{
	Flowsvc__Reply r = FLOWSVC__REPLY__INIT;
	uint8_t stackbuf[1024];
	uint8_t *buf = NULL;

	r.code = (Flowsvc__Code) code;
	r.message = (char *) (message != NULL ? message : fs_strerror(code));
	if (payload != NULL) {
		size_t len = protobuf_c_message_get_packed_size(payload);
		buf = len <= sizeof(stackbuf) ? stackbuf : malloc(len);
		if (buf == NULL) {
			r.code = FLOWSVC__CODE__RESOURCE_EXHAUSTED;
			r.message = "Out of memory.";
		} else {
			protobuf_c_message_pack(payload, buf);
			r.has_payload = 1;
			r.payload.data = buf;
			r.payload.len = len;
		}
	}
	fs_srv_reply(call, &r);
	if (buf != stackbuf)
		free(buf);
}

int
fs_srv_detach(fs_srv_call *call)
{
	fs_server *s = call->srv;
	fs_srv_call *repl;
	int rv;

	if (call->slot < 0 || call->state != SRV_BUSY)
		return NNG_ESTATE;
	if (atomic_load(&s->closing))
		return NNG_ECLOSED;
	if ((rv = call_new(s, call->slot, &repl)) != 0)
		return rv;
	pthread_mutex_lock(&s->dmu);
	if (s->dclosed || atomic_load(&s->closing)) {
		pthread_mutex_unlock(&s->dmu);
		nng_ctx_close(repl->ctx);
		nng_aio_free(repl->aio);
		free(repl);
		return NNG_ECLOSED;
	}
	s->calls[call->slot] = repl;
	call->slot = -1;
	call->dprev = NULL;
	call->dnext = s->detached;
	if (s->detached != NULL)
		s->detached->dprev = call;
	s->detached = call;
	s->ndetached++;
	fs_srv_recv(repl);
	pthread_mutex_unlock(&s->dmu);
	return 0;
}

int
fs_server_detached(const fs_server *s)
{
	fs_server *m = (fs_server *) s;

	pthread_mutex_lock(&m->dmu);
	int n = m->ndetached;
	pthread_mutex_unlock(&m->dmu);
	return n;
}

int64_t
fs_srv_deadline_ms(const fs_srv_call *call)
{
	if (call->req == NULL || !call->req->has_deadline_unix_ms)
		return 0;
	return call->req->deadline_unix_ms;
}

static void
fs_srv_cb(void *arg)
{
	fs_srv_call *call = arg;
	fs_server *s = call->srv;
	int rv = nng_aio_result(call->aio);

	if (call->state == SRV_SEND) {
		uint32_t pipe = call->pipe;
		call->pipe = 0;
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(call->aio));
			nng_aio_set_msg(call->aio, NULL);
		}
		if (rv == NNG_ETIMEDOUT &&
		    fs_srv_pipes_mark_closed(&s->pipes, pipe)) {
			char why[96];
			snprintf(why, sizeof(why),
			    "a reply waited %d ms (and a second per MiB) for "
			    "the peer to read",
			    (int) s->send_timeout);
			pipe_warn(s, pipe, 1, why);
		}
		fs_srv_pipes_release(&s->pipes, pipe, call->blocking);
		if (call->slot < 0) {
			call_retire(call);
			return;
		}
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		if (!atomic_load(&s->closing))
			fs_srv_recv(call);
		return;
	}
	if (rv != 0) {
		/* ECLOSED/ECANCELED at shutdown; anything else (a pipe that
		 * vanished) just means receive again. */
		if (rv != NNG_ECLOSED && rv != NNG_ECANCELED &&
		    !atomic_load(&s->closing))
			fs_srv_recv(call);
		return;
	}

	nng_msg *msg = nng_aio_get_msg(call->aio);
	nng_aio_set_msg(call->aio, NULL);
	uint32_t pipe = (uint32_t) nng_pipe_id(nng_msg_get_pipe(msg));
	bool blocking = fs_method_is(env_method(msg), FS_M_BLOCKS);
	int verdict = fs_srv_pipes_take(&s->pipes, pipe, blocking);
	call->blocking = blocking && verdict == FS_PIPE_OK;
	if (verdict != FS_PIPE_OK && verdict != FS_PIPE_BLOCKING_CONN &&
	    verdict != FS_PIPE_BLOCKING_ALL) {
		/* Over the cap, or from a pipe we closed: dropped unanswered
		 * (an answer would queue behind the replies it is not
		 * reading). */
		nng_msg_free(msg);
		if (verdict == FS_PIPE_SHED_FIRST) {
			char why[160];
			snprintf(why, sizeof(why),
			    "%u requests in progress "
			    "(--max-inflight-per-conn); "
			    "its further requests are dropped until it reads "
			    "its replies",
			    (unsigned) s->pipes.max_per_pipe);
			pipe_warn(s, pipe, 0, why);
		}
		if (!atomic_load(&s->closing))
			fs_srv_recv(call);
		return;
	}
	call->pipe = pipe;
	call->req = flowsvc__request__unpack(NULL, nng_msg_len(msg),
	    nng_msg_body(msg));
	nng_msg_free(msg);
	call->state = SRV_BUSY;
	atomic_fetch_add(&s->busy, 1);

	if (call->req == NULL) {
		fs_srv_reply_code(call, FS_INVALID_ARGUMENT,
		    "Undecodable request envelope.", NULL);
		return;
	}
	if (verdict == FS_PIPE_BLOCKING_CONN ||
	    verdict == FS_PIPE_BLOCKING_ALL) {
		char why[128];
		snprintf(why, sizeof(why),
		    "Too many long polls in progress on this %s (at most "
		    "%u).",
		    verdict == FS_PIPE_BLOCKING_CONN ? "connection"
		                                     : "backend",
		    (unsigned) (verdict == FS_PIPE_BLOCKING_CONN
		            ? s->pipes.max_blocking_per_pipe
		            : s->pipes.max_blocking));
		fs_srv_reply_code(call, FS_RESOURCE_EXHAUSTED, why, NULL);
		return;
	}
	if (atomic_load(&s->closing)) {
		fs_srv_reply_code(call, FS_UNAVAILABLE, "Shutting down.",
		    NULL);
		return;
	}
	if (call->req->has_deadline_unix_ms &&
	    call->req->deadline_unix_ms != 0 &&
	    call->req->deadline_unix_ms < fs_now_ms()) {
		fs_srv_reply_code(call, FS_DEADLINE_EXCEEDED,
		    "Deadline passed before the request was received.", NULL);
		return;
	}
	s->handler(s->arg, call, call->req);
}

int
fs_server_open(fs_server **out, const char *url, int ncontexts,
    fs_srv_handler handler, void *arg)
{
	fs_server_opts o = {0};

	o.ncontexts = ncontexts;
	o.max_inflight_per_conn = FS_SRV_MAX_INFLIGHT_PER_CONN;
	return fs_server_open_opts(out, url, &o, handler, arg);
}

static void
server_free(fs_server *s)
{
	fs_tls_watch_stop(s->tls_watch); /* when opening failed after it */
	if (s->calls != NULL)
		for (int i = 0; i < s->ncalls; i++) {
			fs_srv_call *c = s->calls[i];
			if (c == NULL)
				continue;
			if (c->req != NULL)
				flowsvc__request__free_unpacked(c->req, NULL);
			nng_aio_free(c->aio);
			free(c);
		}
	if (s->dmu_ok)
		pthread_mutex_destroy(&s->dmu);
	fs_srv_pipes_fini(&s->pipes);
	free(s->calls);
	free(s);
}

int
fs_server_open_opts(fs_server **out, const char *url,
    const fs_server_opts *opts, fs_srv_handler handler, void *arg)
{
	fs_server_opts o = {0};
	fs_server *s;
	int rv;

	if (opts != NULL)
		o = *opts;
	else
		o.max_inflight_per_conn = FS_SRV_MAX_INFLIGHT_PER_CONN;
	int ncontexts = opts != NULL ? o.ncontexts : 256;
	if (ncontexts < 1)
		ncontexts = 1;
	snprintf(srv_last_msg, sizeof(srv_last_msg), "%s",
	    nng_strerror(NNG_ENOMEM));
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NNG_ENOMEM;
	/* Room for as many connections as contexts, to start with. */
	if (fs_srv_pipes_init(&s->pipes, (size_t) ncontexts,
	        o.max_inflight_per_conn > 0
	            ? (uint32_t) o.max_inflight_per_conn
	            : 0,
	        o.max_blocking_per_conn > 0
	            ? (uint32_t) o.max_blocking_per_conn
	            : FS_SRV_MAX_BLOCKING_PER_CONN,
	        o.max_blocking > 0 ? (uint32_t) o.max_blocking
	                           : FS_SRV_MAX_BLOCKING) != 0 ||
	    (s->calls = calloc((size_t) ncontexts, sizeof(*s->calls))) ==
	        NULL ||
	    pthread_mutex_init(&s->dmu, NULL) != 0) {
		server_free(s);
		return NNG_ENOMEM;
	}
	s->dmu_ok = true;
	s->handler = handler;
	s->arg = arg;
	s->send_timeout =
	    o.send_timeout_ms > 0 ? o.send_timeout_ms : FS_SRV_SEND_TIMEOUT_MS;
	atomic_init(&s->closing, false);
	atomic_init(&s->busy, 0);
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		snprintf(srv_last_msg, sizeof(srv_last_msg), "%s",
		    nng_strerror(rv));
		server_free(s);
		return rv;
	}
	if ((rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ,
	         FS_RPC_MAX_MSG)) != 0)
		goto fail;
	for (int i = 0; i < ncontexts; i++) {
		if ((rv = call_new(s, i, &s->calls[i])) != 0)
			goto fail;
		s->ncalls = i + 1;
	}
	if ((rv = srv_listen(s, url, &o)) != 0)
		goto fail_said;
	for (int i = 0; i < s->ncalls; i++)
		fs_srv_recv(s->calls[i]);
	srv_last_msg[0] = '\0';
	*out = s;
	return 0;

fail:
	snprintf(srv_last_msg, sizeof(srv_last_msg), "%s", nng_strerror(rv));
fail_said:
	nng_close(s->sock);
	server_free(s);
	return rv;
}

void
fs_server_close(fs_server *s)
{
	if (s == NULL)
		return;
	fs_tls_watch_stop(s->tls_watch);
	s->tls_watch = NULL;
	atomic_store(&s->closing, true);
	/* A detach past its check of `closing` finishes before this lock is
	 * had: from here on the pool's places do not change. */
	pthread_mutex_lock(&s->dmu);
	pthread_mutex_unlock(&s->dmu);
	/* Let calls already handed to the handler get their replies out; new
	 * arrivals are answered UNAVAILABLE. Bounded, in case an owner never
	 * replies. Then the replies of detached calls, which are sent on
	 * their own contexts. */
	for (int i = 0; i < 500 && atomic_load(&s->busy) > 0; i++)
		nng_msleep(10);
	for (int i = 0; i < 500 && fs_server_detached(s) > 0; i++)
		nng_msleep(10);
	for (int i = 0; i < s->ncalls; i++)
		nng_aio_stop(s->calls[i]->aio);
	pthread_mutex_lock(&s->dmu);
	s->dclosed = true; /* what is left of them is ours now */
	fs_srv_call *d = s->detached;
	s->detached = NULL;
	pthread_mutex_unlock(&s->dmu);
	for (fs_srv_call *c = d; c != NULL; c = c->dnext)
		nng_aio_stop(c->aio);
	nng_close(s->sock);
	while (d != NULL) {
		fs_srv_call *next = d->dnext;
		if (d->req != NULL)
			flowsvc__request__free_unpacked(d->req, NULL);
		nng_aio_free(d->aio);
		free(d);
		d = next;
	}
	server_free(s);
}
