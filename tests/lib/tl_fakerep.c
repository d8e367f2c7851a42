/*
 * tl_fakerep.c - a fake REP backend for the RPC client's unit tests (see
 * tl_fakerep.h).
 */
#include "tl_fakerep.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "tl_check.h"

struct fs_fake_rep {
	nng_socket sock;
	int open;
	pthread_t *thr;
	int nthr;
	atomic_bool stop;
	fs_fake_rep_answer answer;
	void *arg;
};

static void *
fake_worker(void *p)
{
	fs_fake_rep *f = p;
	nng_ctx ctx;
	nng_aio *aio;

	if (nng_ctx_open(&ctx, f->sock) != 0)
		return NULL;
	if (nng_aio_alloc(&aio, NULL, NULL) != 0) {
		nng_ctx_close(ctx);
		return NULL;
	}
	while (!atomic_load(&f->stop)) {
		nng_aio_set_timeout(aio, 50);
		nng_ctx_recv(ctx, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) != 0)
			continue;
		nng_msg *msg = nng_aio_get_msg(aio);
		Flowsvc__Request *req = flowsvc__request__unpack(NULL,
		    nng_msg_len(msg), nng_msg_body(msg));
		nng_msg_free(msg);
		if (req == NULL)
			continue;
		Flowsvc__Reply rep;
		uint8_t *heap = NULL;
		f->answer(f->arg, req, &rep, &heap);
		size_t len = flowsvc__reply__get_packed_size(&rep);
		if (nng_msg_alloc(&msg, len) == 0) {
			flowsvc__reply__pack(&rep, nng_msg_body(msg));
			nng_aio_set_msg(aio, msg);
			nng_aio_set_timeout(aio, 1000);
			nng_ctx_send(ctx, aio);
			nng_aio_wait(aio);
			if (nng_aio_result(aio) != 0)
				nng_msg_free(msg);
		}
		free(heap);
		flowsvc__request__free_unpacked(req, NULL);
	}
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	return NULL;
}

fs_fake_rep *
fs_fake_rep_start(const char *url, int nthr, fs_fake_rep_answer answer,
    void *arg)
{
	fs_fake_rep *f = calloc(1, sizeof(*f));
	int ok;

	if (f != NULL) {
		f->thr =
		    calloc((size_t) (nthr > 0 ? nthr : 1), sizeof(*f->thr));
		f->answer = answer;
		f->arg = arg;
		atomic_init(&f->stop, 0);
	}
	ok = f != NULL && f->thr != NULL && nng_rep0_open(&f->sock) == 0;
	if (ok)
		f->open = 1;
	if (!FS_CHECK(ok && nng_listen(f->sock, url, NULL, 0) == 0,
	        "fake backend on %s", url)) {
		fs_fake_rep_stop(f);
		return NULL;
	}
	for (; f->nthr < nthr; f->nthr++)
		if (!FS_CHECK(pthread_create(&f->thr[f->nthr], NULL,
		                  fake_worker, f) == 0,
		        "fake thread")) {
			fs_fake_rep_stop(f);
			return NULL;
		}
	return f;
}

void
fs_fake_rep_stop(fs_fake_rep *f)
{
	if (f == NULL)
		return;
	atomic_store(&f->stop, 1);
	for (int i = 0; i < f->nthr; i++)
		pthread_join(f->thr[i], NULL);
	if (f->open)
		nng_close(f->sock);
	free(f->thr);
	free(f);
}
