/*
 * fs_rpc_server.c - REP side of the transport.
 *
 * ncontexts contexts, each cycling RECV -> handler -> SEND -> RECV on its
 * own aio. The handler runs in the aio callback (the fastest pattern on
 * nng 1.5: no hand-off to another thread) and may reply at once or later.
 * While a call waits for its reply its context receives nothing, so the
 * pool size bounds the calls in progress.
 */
#include "fs_rpc.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>

#include "fs_errors.h"
#include "fs_util.h"

enum fs_srv_state { SRV_RECV, SRV_BUSY, SRV_SEND };

struct fs_srv_call {
	fs_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	enum fs_srv_state state;
	Flowsvc__Request *req; /* while SRV_BUSY */
};

struct fs_server {
	nng_socket sock;
	fs_srv_handler handler;
	void *arg;
	int ncalls;
	fs_srv_call *calls;
	atomic_bool closing;
	atomic_int busy; /* calls between receive and reply */
};

static void
fs_srv_recv(fs_srv_call *call)
{
	call->state = SRV_RECV;
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
		fs_srv_recv(call);
		return;
	}
	call->state = SRV_SEND;
	nng_aio_set_msg(call->aio, msg);
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
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(call->aio));
			nng_aio_set_msg(call->aio, NULL);
			if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
				return;
		}
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
	call->req = flowsvc__request__unpack(
	    NULL, nng_msg_len(msg), nng_msg_body(msg));
	nng_msg_free(msg);
	call->state = SRV_BUSY;
	atomic_fetch_add(&s->busy, 1);

	if (call->req == NULL) {
		fs_srv_reply_code(call, FS_INVALID_ARGUMENT,
		    "Undecodable request envelope.", NULL);
		return;
	}
	if (atomic_load(&s->closing)) {
		fs_srv_reply_code(call, FS_UNAVAILABLE, "Shutting down.", NULL);
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
	fs_server *s;
	int rv;

	if (ncontexts < 1)
		ncontexts = 1;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NNG_ENOMEM;
	if ((s->calls = calloc((size_t) ncontexts, sizeof(*s->calls))) ==
	    NULL) {
		free(s);
		return NNG_ENOMEM;
	}
	s->handler = handler;
	s->arg = arg;
	atomic_init(&s->closing, false);
	atomic_init(&s->busy, 0);
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		free(s->calls);
		free(s);
		return rv;
	}
	if ((rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ,
	         FS_RPC_MAX_MSG)) != 0)
		goto fail;
	for (int i = 0; i < ncontexts; i++) {
		fs_srv_call *c = &s->calls[i];
		c->srv = s;
		if ((rv = nng_aio_alloc(&c->aio, fs_srv_cb, c)) != 0)
			goto fail;
		s->ncalls = i + 1;
		if ((rv = nng_ctx_open(&c->ctx, s->sock)) != 0)
			goto fail;
	}
	if ((rv = nng_listen(s->sock, url, NULL, 0)) != 0)
		goto fail;
	for (int i = 0; i < s->ncalls; i++)
		fs_srv_recv(&s->calls[i]);
	*out = s;
	return 0;

fail:
	nng_close(s->sock);
	for (int i = 0; i < s->ncalls; i++)
		nng_aio_free(s->calls[i].aio);
	free(s->calls);
	free(s);
	return rv;
}

void
fs_server_close(fs_server *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->closing, true);
	/* Let calls already handed to the handler get their replies out; new
	 * arrivals are answered UNAVAILABLE. Bounded, in case an owner never
	 * replies. */
	for (int i = 0; i < 500 && atomic_load(&s->busy) > 0; i++)
		nng_msleep(10);
	for (int i = 0; i < s->ncalls; i++)
		nng_aio_stop(s->calls[i].aio);
	nng_close(s->sock);
	for (int i = 0; i < s->ncalls; i++) {
		fs_srv_call *c = &s->calls[i];
		if (c->req != NULL)
			flowsvc__request__free_unpacked(c->req, NULL);
		nng_aio_free(c->aio);
	}
	free(s->calls);
	free(s);
}
