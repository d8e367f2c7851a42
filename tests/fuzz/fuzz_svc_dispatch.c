/*
 * fuzz_svc_dispatch.c - the backend's envelope decoding and dispatch, as a
 * rogue internal client would drive it.
 *
 * Input: a sequence of frames, each a 2-byte big-endian length and that
 * many bytes of Request envelope. Every frame is unpacked as the server
 * does and, when it decodes, dispatched on one memory-only service, so a
 * later frame can act on what an earlier one created (get, update, delete,
 * reference, batch).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "svc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	svc *s;
	size_t off = 0;

	if (svc_open(&s, NULL, err, sizeof(err)) != 0)
		abort();
	for (int frames = 0; frames < 16 && off + 2 <= size; frames++) {
		size_t n = ((size_t) data[off] << 8) | data[off + 1];
		Flowsvc__Request *req;
		svc_reply out;

		off += 2;
		if (n > size - off)
			n = size - off;
		req = flowsvc__request__unpack(NULL, n, data + off);
		off += n;
		if (req == NULL)
			continue;
		svc_dispatch(s, req, &out);
		svc_reply_fini(&out);
		flowsvc__request__free_unpacked(req, NULL);
	}
	svc_close(s);
	return 0;
}
