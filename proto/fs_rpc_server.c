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
#include "fs_tls.h"
#include "fs_util.h"

/* Lines a second about refused TLS clients (see tls_pipe_cb). */
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
};

/* One connection's count. An entry lives while n + nb > 0, and each count
 * is a call holding a context, pooled or detached. */
struct pipe_slot {
	uint32_t id; /* nng pipe id; 0: free */
	uint32_t n;  /* ordinary requests in progress */
	uint32_t nb; /* long polls in progress */
	bool shed;   /* over the cap: said so */
	bool closed; /* we closed it (and said so) */
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
	uint32_t max_per_pipe; /* 0: no cap */
	uint32_t max_blocking_per_pipe, max_blocking;
	/* Requests in progress per pipe: open addressing with linear probing
	 * over a power-of-two table kept at least twice as large as its
	 * entries (doubled when it gets fuller), so it never fills; touched
	 * from aio callbacks on many threads, under pmu. */
	pthread_mutex_t pmu;
	struct pipe_slot *pipes;
	size_t pmask;
	size_t pused;       /* live entries (pmu) */
	uint32_t nblocking; /* long polls in progress (pmu) */
	/* Detached calls (dmu). dclosed: fs_server_close owns them now. */
	pthread_mutex_t dmu;
	fs_srv_call *detached;
	int ndetached;
	bool dclosed;
	fs_log_limit tls_log; /* refused TLS clients' lines */
};

/* Connections refused for their certificate, by every server of the
 * process (fs_srv_tls_refused). */
static atomic_uint_fast64_t tls_refused;

/* Why fs_server_open_opts last failed on this thread. */
static _Thread_local char srv_last_msg[512];

/* ---- requests in progress per pipe -------------------------------------- */

static size_t
pipe_home(const fs_server *s, uint32_t id)
{
	return (size_t) (id * 2654435761u) & s->pmask;
}

/* The slot of id, or the free slot where it would go. pmu held. */
static size_t
pipe_find(const fs_server *s, uint32_t id)
{
	size_t i = pipe_home(s, id);

	while (s->pipes[i].id != 0 && s->pipes[i].id != id)
		i = (i + 1) & s->pmask;
	return i;
}

/* Frees slot i, moving later entries of its probe run back so that every
 * entry stays reachable from its home (no tombstones). pmu held. */
static void
pipe_free_slot(fs_server *s, size_t i)
{
	size_t j = i;

	for (;;) {
		j = (j + 1) & s->pmask;
		if (s->pipes[j].id == 0)
			break;
		size_t k = pipe_home(s, s->pipes[j].id);
		/* Entry j may move to i unless its home lies cyclically in
		 * (i, j]. */
		if (i <= j ? (k > i && k <= j) : (k > i || k <= j))
			continue;
		s->pipes[i] = s->pipes[j];
		i = j;
	}
	memset(&s->pipes[i], 0, sizeof(s->pipes[i]));
}

/* Doubles the table (pmu held). Out of memory leaves it as it is: it is
 * still never full, as it only grows at half. */
static void
pipe_grow(fs_server *s)
{
	size_t slots = (s->pmask + 1) * 2;
	struct pipe_slot *old = s->pipes, *nt = calloc(slots, sizeof(*nt));
	size_t omask = s->pmask;

	if (nt == NULL)
		return;
	s->pipes = nt;
	s->pmask = slots - 1;
	for (size_t i = 0; i <= omask; i++)
		if (old[i].id != 0)
			s->pipes[pipe_find(s, old[i].id)] = old[i];
	free(old);
}

enum {
	PIPE_OK,
	PIPE_SHED,
	PIPE_SHED_FIRST,
	PIPE_CLOSED,
	PIPE_BLOCKING_CONN, /* counted as ordinary: answer "too many" */
	PIPE_BLOCKING_ALL,  /* the same, over the server's cap */
};

/* Counts a request of pipe id (PIPE_OK), or refuses it: PIPE_SHED when
 * the pipe has max_per_pipe requests in progress (PIPE_SHED_FIRST the
 * first time: the caller says so), PIPE_CLOSED when we closed the pipe.
 * A long poll (blocking) is counted apart, against its own caps; one over
 * them is counted as an ordinary request (or shed as one) and the verdict
 * says which cap it passed, to be answered at once. */
static int
pipe_take(fs_server *s, uint32_t id, bool blocking)
{
	int verdict = PIPE_OK;

	pthread_mutex_lock(&s->pmu);
	struct pipe_slot *p = &s->pipes[pipe_find(s, id)];
	if (p->id != 0 && p->closed) {
		pthread_mutex_unlock(&s->pmu);
		return PIPE_CLOSED;
	}
	if (blocking) {
		if (p->id != 0 && p->nb >= s->max_blocking_per_pipe)
			verdict = PIPE_BLOCKING_CONN;
		else if (s->nblocking >= s->max_blocking)
			verdict = PIPE_BLOCKING_ALL;
	}
	if (blocking && verdict == PIPE_OK) {
		p->nb++;
		s->nblocking++;
	} else if (p->id != 0 && s->max_per_pipe != 0 &&
	    p->n >= s->max_per_pipe) {
		verdict = p->shed ? PIPE_SHED : PIPE_SHED_FIRST;
		p->shed = true;
	} else {
		p->n++;
	}
	if (p->id == 0) {
		p->id = id;
		if (++s->pused * 2 > s->pmask + 1)
			pipe_grow(s);
	}
	pthread_mutex_unlock(&s->pmu);
	return verdict;
}

static void
pipe_release(fs_server *s, uint32_t id, bool blocking)
{
	if (id == 0)
		return;
	pthread_mutex_lock(&s->pmu);
	size_t i = pipe_find(s, id);
	if (s->pipes[i].id == id) {
		if (blocking) {
			s->pipes[i].nb--;
			s->nblocking--;
		} else {
			s->pipes[i].n--;
		}
		if (s->pipes[i].n == 0 && s->pipes[i].nb == 0) {
			pipe_free_slot(s, i);
			s->pused--;
		}
	}
	pthread_mutex_unlock(&s->pmu);
}

/* Marks a counted pipe closed; returns 1 when it was not yet. */
static int
pipe_mark_closed(fs_server *s, uint32_t id)
{
	int first = 0;

	pthread_mutex_lock(&s->pmu);
	size_t i = pipe_find(s, id);
	if (s->pipes[i].id == id && !s->pipes[i].closed) {
		s->pipes[i].closed = true;
		first = 1;
	}
	pthread_mutex_unlock(&s->pmu);
	return first;
}

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

/* NNG_PIPE_EV_ADD_PRE on a TLS listener (see fs_tls_listener_config): a
 * connection whose handshake is done but whose client certificate did
 * not verify is closed here, before the protocol is attached to it, so
 * none of its requests is ever read. */
static void
tls_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	fs_server *s = arg;
	bool verified = false;
	char peer[128], more[48] = "";
	int left_out;

	if (ev != NNG_PIPE_EV_ADD_PRE)
		return;
	/* Not readable, for any reason: not verified. */
	if (nng_pipe_get_bool(p, NNG_OPT_TLS_VERIFIED, &verified) == 0 &&
	    verified)
		return;
	/* The address first: a closed pipe may no longer tell it. */
	pipe_peer(p, peer, sizeof(peer));
	(void) nng_pipe_close(p);
	atomic_fetch_add(&tls_refused, 1);
	if (!fs_log_enabled(FS_LOG_WARN) ||
	    (left_out = fs_log_limit_take(&s->tls_log)) < 0)
		return;
	if (left_out > 0)
		snprintf(more, sizeof(more), " (and %d more, not logged)",
		    left_out);
	fs_log(FS_LOG_WARN, NULL,
	    "refused RPC connection from %s: no client certificate signed by "
	    "--tls-ca, or one expired or not yet valid%s",
	    peer, more);
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
	fs_tls_pem_fini(&pem);
	if (rv != 0)
		return rv;
	fs_log_limit_init(&s->tls_log, TLS_REFUSED_LOG_PER_SEC);
	/* The check is in place before the first connection can come. */
	if ((rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_PRE, tls_pipe_cb,
	         s)) != 0 ||
	    (rv = nng_listener_create(&l, s->sock, url)) != 0) {
		nng_tls_config_free(cfg);
		snprintf(srv_last_msg, sizeof(srv_last_msg), "%s",
		    nng_strerror(rv));
		return rv;
	}
	/* The listener holds its own reference. */
	rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg);
	if (rv == 0)
		rv = nng_listener_start(l, 0);
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
	if (call->dprev != NULL)
		call->dprev->dnext = call->dnext;
	else
		s->detached = call->dnext;
	if (call->dnext != NULL)
		call->dnext->dprev = call->dprev;
	s->ndetached--;
	pthread_mutex_unlock(&s->dmu);
	nng_ctx_close(call->ctx);
	nng_aio_reap(call->aio);
	free(call);
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
		pipe_release(call->srv, call->pipe, call->blocking);
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
		if (rv == NNG_ETIMEDOUT && pipe_mark_closed(s, pipe)) {
			char why[96];
			snprintf(why, sizeof(why),
			    "a reply waited %d ms (and a second per MiB) for "
			    "the peer to read",
			    (int) s->send_timeout);
			pipe_warn(s, pipe, 1, why);
		}
		pipe_release(s, pipe, call->blocking);
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
	int verdict = pipe_take(s, pipe, blocking);
	call->blocking = blocking && verdict == PIPE_OK;
	if (verdict != PIPE_OK && verdict != PIPE_BLOCKING_CONN &&
	    verdict != PIPE_BLOCKING_ALL) {
		/* Over the cap, or from a pipe we closed: dropped unanswered
		 * (an answer would queue behind the replies it is not
		 * reading). */
		nng_msg_free(msg);
		if (verdict == PIPE_SHED_FIRST) {
			char why[160];
			snprintf(why, sizeof(why),
			    "%u requests in progress "
			    "(--max-inflight-per-conn); "
			    "its further requests are dropped until it reads "
			    "its replies",
			    (unsigned) s->max_per_pipe);
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
	if (verdict == PIPE_BLOCKING_CONN || verdict == PIPE_BLOCKING_ALL) {
		char why[128];
		snprintf(why, sizeof(why),
		    "Too many long polls in progress on this %s (at most "
		    "%u).",
		    verdict == PIPE_BLOCKING_CONN ? "connection" : "backend",
		    (unsigned) (verdict == PIPE_BLOCKING_CONN
		            ? s->max_blocking_per_pipe
		            : s->max_blocking));
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
	pthread_mutex_destroy(&s->dmu);
	pthread_mutex_destroy(&s->pmu);
	free(s->pipes);
	free(s->calls);
	free(s);
}

int
fs_server_open_opts(fs_server **out, const char *url,
    const fs_server_opts *opts, fs_srv_handler handler, void *arg)
{
	fs_server_opts o = {0};
	fs_server *s;
	size_t slots = 4;
	int rv;

	if (opts != NULL)
		o = *opts;
	else
		o.max_inflight_per_conn = FS_SRV_MAX_INFLIGHT_PER_CONN;
	int ncontexts = opts != NULL ? o.ncontexts : 256;
	if (ncontexts < 1)
		ncontexts = 1;
	while (slots < 2 * (size_t) ncontexts)
		slots *= 2;
	snprintf(srv_last_msg, sizeof(srv_last_msg), "%s",
	    nng_strerror(NNG_ENOMEM));
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NNG_ENOMEM;
	if (pthread_mutex_init(&s->pmu, NULL) != 0) {
		free(s);
		return NNG_ENOMEM;
	}
	if (pthread_mutex_init(&s->dmu, NULL) != 0) {
		pthread_mutex_destroy(&s->pmu);
		free(s);
		return NNG_ENOMEM;
	}
	if ((s->calls = calloc((size_t) ncontexts, sizeof(*s->calls))) ==
	        NULL ||
	    (s->pipes = calloc(slots, sizeof(*s->pipes))) == NULL) {
		server_free(s);
		return NNG_ENOMEM;
	}
	s->pmask = slots - 1;
	s->handler = handler;
	s->arg = arg;
	s->send_timeout =
	    o.send_timeout_ms > 0 ? o.send_timeout_ms : FS_SRV_SEND_TIMEOUT_MS;
	s->max_per_pipe = o.max_inflight_per_conn > 0
	    ? (uint32_t) o.max_inflight_per_conn
	    : 0;
	s->max_blocking_per_pipe = o.max_blocking_per_conn > 0
	    ? (uint32_t) o.max_blocking_per_conn
	    : FS_SRV_MAX_BLOCKING_PER_CONN;
	s->max_blocking = o.max_blocking > 0 ? (uint32_t) o.max_blocking
	                                     : FS_SRV_MAX_BLOCKING;
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
