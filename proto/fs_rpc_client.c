/*
 * fs_rpc_client.c - REQ side of the transport.
 *
 * A call owns one nng context and one aio for its whole life: send the
 * envelope, then receive the reply on the same context. Finished calls go
 * back on a free list, so a busy client opens contexts only until it reaches
 * its peak concurrency. The number of connected pipes is tracked through
 * pipe notifications: with none, a call fails at once with UNAVAILABLE
 * instead of queueing until its deadline. Coalescing concurrent calls into
 * batches is fs_rpc_coalesce.c's.
 */
#include "fs_rpc_client_int.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "fs_errors.h"
#include "fs_methods.h"
#include "fs_tls.h"
#include "fs_util.h"

/* How long fs_client_open waits for the first connection: long enough for a
 * local backend to accept, short enough not to matter when it is down. */
#define FS_CLIENT_CONNECT_GRACE_MS 250

enum fs_call_state { CALL_IDLE, CALL_SEND, CALL_RECV };

typedef struct fs_call fs_call;
struct fs_call {
	fs_client *client;
	nng_ctx ctx;
	nng_aio *aio;
	_Atomic int state; /* enum fs_call_state; read by the pipe callback */
	bool blocking;     /* a long poll: outside the in-flight cap */
	nng_time deadline; /* nng clock, for the receive timeout */
	fs_call_cb cb;
	void *arg;
	fs_call *next; /* free list, and the list of all calls */
	fs_call *all_next;
};

/* A call waiting for one of the FS_CLIENT_MAX_INFLIGHT places. */
struct fs_pending {
	nng_msg *msg;
	nng_time deadline;
	fs_call_cb cb;
	void *arg;
	struct fs_pending *next;
};

static void fs_call_cb_aio(void *arg);
static void pend_timer_cb(void *arg);

/* The words for the last failure of fs_client_open(_tls) or
 * fs_client_add_backend on this thread (see fs_client_last_error). */
static _Thread_local char fs_last_msg[512];

/* The client's TLS settings (fs_client_open_tls): the PEM text, read
 * once, from which every dial builds its own nng_tls_config (a dialer's
 * server name is its own). */
struct fs_client_tlsset {
	fs_tls_pem pem;
	char *server_name; /* NULL: each URL's host */
};

int
fs_code_of_nng(int rv)
{
	switch (rv) {
	case 0:
		return FS_OK;
	case NNG_ETIMEDOUT:
		return FS_DEADLINE_EXCEEDED;
	case NNG_ENOMEM:
		return FS_RESOURCE_EXHAUSTED;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
	case NNG_ENOTSUP:
		return FS_INVALID_ARGUMENT;
	default:
		return FS_UNAVAILABLE;
	}
}

/* fs_code_of_nng for the setup calls, remembering nng's words. */
static int
fs_setup_code(int rv)
{
	if (rv == 0)
		fs_last_msg[0] = '\0';
	else
		snprintf(fs_last_msg, sizeof(fs_last_msg), "%s",
		    nng_strerror(rv));
	return fs_code_of_nng(rv);
}

/* A setup failure of the TLS settings: FS_INVALID_ARGUMENT (or
 * FS_RESOURCE_EXHAUSTED for NNG_ENOMEM), with why already in
 * fs_last_msg. */
static int
fs_tls_code(int rv)
{
	return rv == NNG_ENOMEM ? FS_RESOURCE_EXHAUSTED : FS_INVALID_ARGUMENT;
}

const char *
fs_client_last_error(void)
{
	return fs_last_msg;
}

static void
fs_tlsset_free(struct fs_client_tlsset *t)
{
	if (t == NULL)
		return;
	fs_tls_pem_fini(&t->pem);
	free(t->server_name);
	free(t);
}

/* Reads tls's files into a new set. Returns 0 or an fs code (why in
 * fs_last_msg). */
static int
fs_tlsset_new(struct fs_client_tlsset **out, const fs_client_tls *tls)
{
	struct fs_client_tlsset *t;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (tls->server_name != NULL && tls->server_name[0] != '\0' &&
	        (t->server_name = strdup(tls->server_name)) == NULL)) {
		free(t);
		return fs_setup_code(NNG_ENOMEM);
	}
	if (fs_tls_pem_load(&t->pem, tls->cert, tls->key, tls->ca, fs_last_msg,
	        sizeof(fs_last_msg)) != 0) {
		fs_tlsset_free(t);
		return FS_INVALID_ARGUMENT;
	}
	*out = t;
	return FS_OK;
}

/* Dials url without waiting, with the client's TLS settings when it has
 * them: a tls+tcp:// URL needs them and any other refuses them. Returns
 * an fs code (why in fs_last_msg). */
static int
fs_client_dial(fs_client *c, const char *url)
{
	nng_tls_config *cfg;
	nng_dialer d;
	int rv;

	if (fs_tls_url(url) != (c->tls != NULL)) {
		snprintf(fs_last_msg, sizeof(fs_last_msg),
		    c->tls != NULL ? "%s: TLS settings are for tls+tcp:// "
		                     "backends only"
		                   : "%s: a tls+tcp:// backend needs TLS "
		                     "settings (a CA certificate at least)",
		    url);
		return FS_INVALID_ARGUMENT;
	}
	if (c->tls == NULL)
		return fs_setup_code(
		    nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK));
	if ((rv = fs_tls_dialer_config(&cfg, &c->tls->pem, url,
	         c->tls->server_name, fs_last_msg, sizeof(fs_last_msg))) != 0)
		return fs_tls_code(rv);
	if ((rv = nng_dialer_create(&d, c->sock, url)) != 0) {
		nng_tls_config_free(cfg);
		return fs_setup_code(rv);
	}
	/* The dialer holds its own reference to cfg. */
	rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg);
	if (rv == 0)
		rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	if (rv != 0)
		nng_dialer_close(d);
	return fs_setup_code(rv);
}

static void
fs_client_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	fs_client *c = arg;
	(void) p;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_fetch_add(&c->pipes, 1);
		nng_mtx_lock(c->mtx);
		nng_cv_wake(c->cv);
		nng_mtx_unlock(c->mtx);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		atomic_fetch_sub(&c->pipes, 1);
		/* A lost connection fails the calls in flight (UNAVAILABLE)
		 * instead of letting REQ send them again on the next one: a
		 * change then runs at most once. Calls on another backend's
		 * connection fail too; they are few and callers retry. */
		nng_mtx_lock(c->mtx);
		for (fs_call *call = c->all; !c->closing && call != NULL;
		     call = call->all_next)
			if (call->state != CALL_IDLE)
				nng_aio_cancel(call->aio);
		nng_mtx_unlock(c->mtx);
	}
}

int
fs_client_probe(const char *url, uint32_t timeout_ms)
{
	char plain[512];
	nng_stream_dialer *d;
	nng_aio *aio;
	int rv;

	/* Whether anything listens is a TCP question: a tls+tcp:// backend
	 * is probed without a handshake (which would need the settings). */
	if (fs_tls_url(url) &&
	    snprintf(plain, sizeof(plain), "tcp://%s",
	        url + strlen("tls+tcp://")) < (int) sizeof(plain))
		url = plain;
	if ((rv = nng_stream_dialer_alloc(&d, url)) != 0)
		return fs_setup_code(rv);
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		nng_stream_dialer_free(d);
		return fs_setup_code(rv);
	}
	nng_aio_set_timeout(aio,
	    timeout_ms > 0 ? (nng_duration) timeout_ms : (nng_duration) 1);
	nng_stream_dialer_dial(d, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) == 0)
		nng_stream_free(nng_aio_get_output(aio, 0));
	nng_aio_free(aio);
	nng_stream_dialer_free(d);
	/* A unix socket path nobody bound is as refused as a port nobody
	 * listens on; nng says "Entity not found". */
	if (rv == NNG_ENOENT)
		rv = NNG_ECONNREFUSED;
	return fs_setup_code(rv);
}

int
fs_client_url_is_tls(const char *url)
{
	return fs_tls_url(url) ? 1 : 0;
}

int
fs_client_add_backend(fs_client *c, const char *url)
{
	return fs_client_dial(c, url);
}

int
fs_client_open(fs_client **out, const char *url)
{
	return fs_client_open_tls(out, url, NULL);
}

int
fs_client_open_tls(fs_client **out, const char *url, const fs_client_tls *tls)
{
	fs_client *c;
	int rv;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return fs_setup_code(NNG_ENOMEM);
	if (tls != NULL && (rv = fs_tlsset_new(&c->tls, tls)) != FS_OK) {
		free(c);
		return rv;
	}
	atomic_init(&c->pipes, 0);
	atomic_init(&c->coalesce, 0);
	atomic_init(&c->seen_rev, 0);
	atomic_init(&c->ryw, 1);
	c->pend_tail = &c->pend;
	if ((rv = nng_mtx_alloc(&c->mtx)) != 0) {
		fs_tlsset_free(c->tls);
		free(c);
		return fs_setup_code(rv);
	}
	if ((rv = nng_cv_alloc(&c->cv, c->mtx)) != 0) {
		nng_mtx_free(c->mtx);
		fs_tlsset_free(c->tls);
		free(c);
		return fs_setup_code(rv);
	}
	fs_coalesce_init(c);
	if ((rv = nng_aio_alloc(&c->timer, pend_timer_cb, c)) != 0) {
		nng_cv_free(c->cv);
		nng_mtx_free(c->mtx);
		fs_tlsset_free(c->tls);
		free(c);
		return fs_setup_code(rv);
	}
	if ((rv = nng_req0_open(&c->sock)) != 0)
		goto fail_nosock;
	/* No resends: a call runs at most once (a dropped connection fails
	 * the calls in flight: fs_client_pipe_cb; docs/wire.md, "At most
	 * once"). Must be set before contexts open. */
	if ((rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
	         NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
	         FS_RPC_MAX_MSG)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST,
	         fs_client_pipe_cb, c)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST,
	         fs_client_pipe_cb, c)) != 0) {
		rv = fs_setup_code(rv);
		goto fail;
	}
	if ((rv = fs_client_dial(c, url)) != FS_OK)
		goto fail;

	nng_time until = nng_clock() + FS_CLIENT_CONNECT_GRACE_MS;
	nng_mtx_lock(c->mtx);
	while (atomic_load(&c->pipes) == 0)
		if (nng_cv_until(c->cv, until) == NNG_ETIMEDOUT)
			break;
	nng_mtx_unlock(c->mtx);
	*out = c;
	return fs_setup_code(0);

fail_nosock:
	rv = fs_setup_code(rv);
	goto fail_free;
fail:
	nng_close(c->sock);
fail_free:
	nng_aio_free(c->timer);
	nng_cv_free(c->cv);
	nng_mtx_free(c->mtx);
	fs_tlsset_free(c->tls);
	free(c);
	return rv; /* an fs code, with fs_last_msg set */
}

void
fs_client_close(fs_client *c)
{
	if (c == NULL)
		return;
	/* Wind everything down before the socket closes: nng 1.5's
	 * nng_close can wait forever when requests are still outstanding at
	 * the peer (cancelled or not). The closing flag makes queued calls
	 * complete (UNAVAILABLE) without being sent and stops new ones; the
	 * calls in flight finish on their own, by reply or by their
	 * deadline. */
	nng_mtx_lock(c->mtx);
	c->closing = true;
	/* Long polls would take their whole wait: they end now
	 * (UNAVAILABLE). */
	for (fs_call *call = c->all; call != NULL; call = call->all_next)
		if (call->blocking && call->state != CALL_IDLE)
			nng_aio_cancel(call->aio);
	for (;;) {
		int lanes = 0;
		for (int i = 0; i < LANE_COUNT; i++)
			lanes += c->lanes[i].inflight;
		if (c->busy == 0 && c->nblocking == 0 && lanes == 0)
			break;
		nng_cv_until(c->cv, nng_clock() + 10);
	}
	/* No operation is in flight now: close the contexts ourselves, so
	 * that nng_close has none left to reap. */
	for (fs_call *call = c->all; call != NULL; call = call->all_next)
		nng_ctx_close(call->ctx);
	nng_mtx_unlock(c->mtx);
	nng_close(c->sock);
	nng_mtx_lock(c->mtx);
	fs_call *all = c->all;
	c->all = NULL;
	nng_mtx_unlock(c->mtx);
	while (all != NULL) {
		fs_call *next = all->all_next;
		nng_aio_free(all->aio);
		free(all);
		all = next;
	}
	nng_aio_free(c->timer); /* stops it: nothing waits any more */
	nng_cv_free(c->cv);
	nng_mtx_free(c->mtx);
	fs_tlsset_free(c->tls);
	free(c);
}

static fs_call *
fs_call_get(fs_client *c)
{
	fs_call *call;

	nng_mtx_lock(c->mtx);
	if (c->closing) {
		nng_mtx_unlock(c->mtx);
		return NULL;
	}
	if ((call = c->free) != NULL) {
		c->free = call->next;
		nng_mtx_unlock(c->mtx);
		return call;
	}
	nng_mtx_unlock(c->mtx);

	if ((call = calloc(1, sizeof(*call))) == NULL)
		return NULL;
	call->client = c;
	if (nng_aio_alloc(&call->aio, fs_call_cb_aio, call) != 0) {
		free(call);
		return NULL;
	}
	if (nng_ctx_open(&call->ctx, c->sock) != 0) {
		nng_aio_free(call->aio);
		free(call);
		return NULL;
	}
	nng_mtx_lock(c->mtx);
	call->all_next = c->all;
	c->all = call;
	nng_mtx_unlock(c->mtx);
	return call;
}

static void call_send(fs_call *call, nng_msg *msg, nng_time deadline,
    fs_call_cb cb, void *arg);

/* A finished call: back on the free list, or on to the next pending call
 * (its place in flight passes to it). Pending calls whose deadline passed
 * while they waited, or that find the client closing, complete here. */
static void
fs_call_put(fs_call *call)
{
	fs_client *c = call->client;

	call->state = CALL_IDLE;
	call->cb = NULL;
	if (call->blocking) {
		/* Outside the cap: nothing waits for its place. */
		call->blocking = false;
		nng_mtx_lock(c->mtx);
		call->next = c->free;
		c->free = call;
		if (--c->nblocking == 0)
			nng_cv_wake(c->cv);
		nng_mtx_unlock(c->mtx);
		return;
	}
	for (;;) {
		nng_mtx_lock(c->mtx);
		struct fs_pending *p = c->pend;
		if (p == NULL) {
			call->next = c->free;
			c->free = call;
			if (--c->busy == 0)
				nng_cv_wake(c->cv);
			nng_mtx_unlock(c->mtx);
			return;
		}
		if ((c->pend = p->next) == NULL)
			c->pend_tail = &c->pend;
		bool closing = c->closing;
		nng_mtx_unlock(c->mtx);
		if (!closing && p->deadline > nng_clock()) {
			call_send(call, p->msg, p->deadline, p->cb, p->arg);
			free(p);
			return;
		}
		nng_msg_free(p->msg);
		p->cb(p->arg, closing ? FS_UNAVAILABLE : FS_DEADLINE_EXCEEDED,
		    NULL);
		free(p);
	}
}

static void
fs_call_finish(fs_call *call, int code, Flowsvc__Reply *reply)
{
	fs_call_cb cb = call->cb;
	void *arg = call->arg;

	/* The call goes back to the free list only after the callback, so
	 * its aio is never restarted by another thread while this callback
	 * still runs on it. */
	cb(arg, code, reply);
	fs_call_put(call);
}

static void
fs_call_cb_aio(void *arg)
{
	fs_call *call = arg;
	int rv = nng_aio_result(call->aio);

	if (call->state == CALL_SEND) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(call->aio));
			nng_aio_set_msg(call->aio, NULL);
			fs_call_finish(call, fs_code_of_nng(rv), NULL);
			return;
		}
		call->state = CALL_RECV;
		nng_time now = nng_clock();
		nng_aio_set_timeout(call->aio,
		    call->deadline > now
		        ? (nng_duration) (call->deadline - now)
		        : 1);
		nng_ctx_recv(call->ctx, call->aio);
		return;
	}

	if (rv != 0) {
		fs_call_finish(call, fs_code_of_nng(rv), NULL);
		return;
	}
	nng_msg *msg = nng_aio_get_msg(call->aio);
	nng_aio_set_msg(call->aio, NULL);
	Flowsvc__Reply *reply =
	    flowsvc__reply__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	if (reply == NULL) {
		fs_call_finish(call, FS_INTERNAL, NULL);
		return;
	}
	fs_client_note_revision(call->client, reply);
	fs_call_finish(call, (int) reply->code, reply);
}

int
fs_env_msg(const Flowsvc__Request *env, nng_msg **out)
{
	size_t len = flowsvc__request__get_packed_size(env);
	int rv;

	if (len > FS_RPC_MAX_MSG)
		return FS_INVALID_ARGUMENT;
	if ((rv = nng_msg_alloc(out, len)) != 0)
		return fs_code_of_nng(rv);
	flowsvc__request__pack(env, nng_msg_body(*out));
	return FS_OK;
}

int
fs_envelope_pack(nng_msg **out, Flowsvc__Method method,
    const ProtobufCMessage *req, const fs_call_opts *opts, uint32_t timeout_ms,
    uint64_t min_revision)
{
	Flowsvc__Request env = FLOWSVC__REQUEST__INIT;
	uint8_t *payload = NULL;
	size_t plen = 0;

	env.method = method;
	env.has_min_revision = min_revision != 0;
	env.min_revision = min_revision;
	if (opts != NULL && opts->request_id != NULL)
		env.request_id = (char *) opts->request_id;
	if (opts != NULL && opts->caller != NULL)
		env.caller = (Flowsvc__Caller *) opts->caller;
	env.has_deadline_unix_ms = 1;
	env.deadline_unix_ms = fs_now_ms() + timeout_ms;
	if (req != NULL) {
		plen = protobuf_c_message_get_packed_size(req);
		if (plen > 0 && (payload = malloc(plen)) == NULL)
			return FS_RESOURCE_EXHAUSTED;
		protobuf_c_message_pack(req, payload);
		env.has_payload = 1;
		env.payload.data = payload;
		env.payload.len = plen;
	}
	int rv = fs_env_msg(&env, out);
	free(payload);
	return rv;
}

static void
call_send(fs_call *call, nng_msg *msg, nng_time deadline, fs_call_cb cb,
    void *arg)
{
	nng_time now = nng_clock();

	call->cb = cb;
	call->arg = arg;
	call->state = CALL_SEND;
	call->deadline = deadline;
	nng_aio_set_msg(call->aio, msg);
	nng_aio_set_timeout(call->aio,
	    deadline > now ? (nng_duration) (deadline - now) : 1);
	nng_ctx_send(call->ctx, call->aio);
}

/* The waiting list's timer: fails the calls whose deadline has passed
 * (DEADLINE_EXCEEDED) and sleeps until the nearest remaining one. Also
 * runs when an earlier deadline joined the list (cancelled). It stays
 * armed until its very end, so only it ever starts the next sleep; calls
 * queued meanwhile are seen by the last scan. */
static void
pend_timer_cb(void *arg)
{
	fs_client *c = arg;
	struct fs_pending *expired = NULL, **pp;
	nng_time now = nng_clock(), next = 0;

	nng_mtx_lock(c->mtx);
	for (pp = &c->pend; *pp != NULL;) {
		struct fs_pending *p = *pp;
		if (p->deadline <= now) {
			*pp = p->next;
			p->next = expired;
			expired = p;
		} else {
			pp = &p->next;
		}
	}
	c->pend_tail = pp;
	nng_mtx_unlock(c->mtx);
	while (expired != NULL) {
		struct fs_pending *p = expired;
		expired = p->next;
		nng_msg_free(p->msg);
		p->cb(p->arg, FS_DEADLINE_EXCEEDED, NULL);
		free(p);
	}
	nng_mtx_lock(c->mtx);
	for (struct fs_pending *p = c->pend; p != NULL; p = p->next)
		if (next == 0 || p->deadline < next)
			next = p->deadline;
	c->timer_armed = next != 0;
	c->timer_at = next;
	nng_mtx_unlock(c->mtx);
	if (next != 0) {
		now = nng_clock();
		nng_sleep_aio(next > now ? (nng_duration) (next - now) : 1,
		    c->timer);
	}
}

int
fs_call_start(fs_client *c, nng_msg *msg, uint32_t timeout_ms, fs_call_cb cb,
    void *arg)
{
	nng_time deadline = nng_clock() + timeout_ms;
	fs_call *call;

	nng_mtx_lock(c->mtx);
	if (c->closing) {
		nng_mtx_unlock(c->mtx);
		nng_msg_free(msg);
		return FS_UNAVAILABLE;
	}
	if (c->busy >= FS_CLIENT_MAX_INFLIGHT) {
		struct fs_pending *p = malloc(sizeof(*p));
		if (p == NULL) {
			nng_mtx_unlock(c->mtx);
			nng_msg_free(msg);
			return FS_RESOURCE_EXHAUSTED;
		}
		p->msg = msg;
		p->deadline = deadline;
		p->cb = cb;
		p->arg = arg;
		p->next = NULL;
		*c->pend_tail = p;
		c->pend_tail = &p->next;
		if (!c->timer_armed) {
			c->timer_armed = true;
			c->timer_at = p->deadline;
			nng_mtx_unlock(c->mtx);
			nng_sleep_aio((nng_duration) timeout_ms, c->timer);
			return 0;
		}
		bool sooner = p->deadline < c->timer_at;
		nng_mtx_unlock(c->mtx);
		if (sooner) /* the callback sets it again, for this one */
			nng_aio_cancel(c->timer);
		return 0;
	}
	c->busy++; /* this call's place, taken before the lock drops */
	nng_mtx_unlock(c->mtx);
	if ((call = fs_call_get(c)) == NULL) {
		nng_mtx_lock(c->mtx);
		if (--c->busy == 0)
			nng_cv_wake(c->cv);
		nng_mtx_unlock(c->mtx);
		nng_msg_free(msg);
		return FS_UNAVAILABLE;
	}
	call_send(call, msg, deadline, cb, arg);
	return 0;
}

int
fs_call_start_blocking(fs_client *c, nng_msg *msg, uint32_t timeout_ms,
    fs_call_cb cb, void *arg, fs_call **handle)
{
	fs_call *call;

	nng_mtx_lock(c->mtx);
	if (c->closing) {
		nng_mtx_unlock(c->mtx);
		nng_msg_free(msg);
		return FS_UNAVAILABLE;
	}
	c->nblocking++;
	nng_mtx_unlock(c->mtx);
	if ((call = fs_call_get(c)) == NULL) {
		nng_mtx_lock(c->mtx);
		if (--c->nblocking == 0)
			nng_cv_wake(c->cv);
		nng_mtx_unlock(c->mtx);
		nng_msg_free(msg);
		return FS_UNAVAILABLE;
	}
	call->blocking = true;
	if (handle != NULL)
		*handle = call;
	call_send(call, msg, nng_clock() + timeout_ms, cb, arg);
	return 0;
}

void
fs_call_cancel(fs_call *call)
{
	nng_aio_cancel(call->aio);
}

uint32_t
fs_call_timeout(Flowsvc__Method method, const ProtobufCMessage *req,
    const fs_call_opts *opts)
{
	uint32_t t = opts != NULL && opts->timeout_ms != 0
	    ? opts->timeout_ms
	    : FS_RPC_DEFAULT_TIMEOUT_MS;

	if (fs_method_is(method, FS_M_BLOCKS) && req != NULL &&
	    req->descriptor == &flowsvc__watch_request__descriptor) {
		const Flowsvc__WatchRequest *w =
		    (const Flowsvc__WatchRequest *) req;
		if (w->has_wait_ms)
			t += w->wait_ms < FS_WATCH_WAIT_MAX_MS
			    ? w->wait_ms
			    : FS_WATCH_WAIT_MAX_MS;
	}
	return t;
}

int
fs_client_call_async(fs_client *c, Flowsvc__Method method,
    const ProtobufCMessage *req, const fs_call_opts *opts, fs_call_cb cb,
    void *arg)
{
	uint32_t timeout_ms = fs_call_timeout(method, req, opts);
	uint64_t min_rev = fs_client_min_revision(c, method, opts);
	nng_msg *msg;
	int lane, rv;

	if (atomic_load(&c->pipes) == 0)
		return FS_UNAVAILABLE;
	if ((rv = fs_envelope_pack(&msg, method, req, opts, timeout_ms,
	         min_rev)) != 0)
		return rv;
	if (fs_method_is(method, FS_M_BLOCKS))
		return fs_call_start_blocking(c, msg, timeout_ms, cb, arg,
		    NULL);
	if ((lane = fs_coalesce_lane(method, req, nng_msg_len(msg))) < 0)
		return fs_call_start(c, msg, timeout_ms, cb, arg);

	/* A read that asks for a revision no answer to this client has
	 * shown yet may wait for it on a replica, up to its deadline: it goes
	 * out on its own, so that neither the batch it would join nor the
	 * calls queued behind its slot wait with it (one caller's
	 * X-Min-Revision must not hold up a gateway's other reads). */
	if (atomic_load(&c->coalesce) == 0 ||
	    (lane == LANE_READ && min_rev > atomic_load(&c->seen_rev)))
		return fs_call_start(c, msg, timeout_ms, cb, arg);
	return fs_coalesce_call(c, lane, msg, timeout_ms, min_rev, cb, arg);
}

int
fs_client_forward_async(fs_client *c, const Flowsvc__Request *env,
    uint32_t timeout_ms, fs_call_cb cb, void *arg)
{
	nng_msg *msg;
	int rv;

	if (timeout_ms == 0)
		timeout_ms = FS_RPC_DEFAULT_TIMEOUT_MS;
	if (atomic_load(&c->pipes) == 0)
		return FS_UNAVAILABLE;
	if ((rv = fs_env_msg(env, &msg)) != 0)
		return rv;
	if (fs_method_is((int) env->method, FS_M_BLOCKS))
		return fs_call_start_blocking(c, msg, timeout_ms, cb, arg,
		    NULL);
	return fs_call_start(c, msg, timeout_ms, cb, arg);
}

struct fs_sync {
	nng_mtx *mtx;
	nng_cv *cv;
	bool done;
	int code;
	Flowsvc__Reply *reply;
};

static void
fs_sync_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	struct fs_sync *s = arg;

	nng_mtx_lock(s->mtx);
	s->code = code;
	s->reply = reply;
	s->done = true;
	nng_cv_wake(s->cv);
	nng_mtx_unlock(s->mtx);
}

int
fs_client_call(fs_client *c, Flowsvc__Method method,
    const ProtobufCMessage *req, const fs_call_opts *opts,
    Flowsvc__Reply **reply_out)
{
	struct fs_sync s = {0};
	int rv;

	*reply_out = NULL;
	if (nng_mtx_alloc(&s.mtx) != 0)
		return FS_RESOURCE_EXHAUSTED;
	if (nng_cv_alloc(&s.cv, s.mtx) != 0) {
		nng_mtx_free(s.mtx);
		return FS_RESOURCE_EXHAUSTED;
	}
	rv = fs_client_call_async(c, method, req, opts, fs_sync_cb, &s);
	if (rv == 0) {
		nng_mtx_lock(s.mtx);
		while (!s.done)
			nng_cv_wait(s.cv);
		nng_mtx_unlock(s.mtx);
		rv = s.code;
		*reply_out = s.reply;
	}
	nng_cv_free(s.cv);
	nng_mtx_free(s.mtx);
	return rv;
}

ProtobufCMessage *
fs_reply_payload(const Flowsvc__Reply *reply,
    const ProtobufCMessageDescriptor *desc)
{
	if (reply == NULL || !reply->has_payload)
		return NULL;
	return protobuf_c_message_unpack(desc, NULL, reply->payload.len,
	    reply->payload.data);
}
