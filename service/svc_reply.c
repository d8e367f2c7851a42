/*
 * svc_reply.c - building the outcome of one request (svc_reply): codes and
 * messages, packed reply messages, field violations, and components as the
 * caller may see them. Shared by every handler (see svc_int.h).
 */
#include "svc_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "fs_errors.h"
#include "fs_pbwire.h"

void
svc_reply_fini(svc_reply *r)
{
	free(r->message);
	free(r->payload);
	rules_viol_fini(&r->v);
	memset(r, 0, sizeof(*r));
}

void
svc_reply_err(svc_reply *r, int code, const char *fmt, ...)
{
	r->code = code;
	free(r->message);
	r->message = NULL;
	if (fmt != NULL) {
		char buf[1024];
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t) n < sizeof(buf)) {
			r->message = strdup(buf);
		} else if (n >= 0 && (r->message = malloc((size_t) n + 1))) {
			va_start(ap, fmt);
			vsnprintf(r->message, (size_t) n + 1, fmt, ap);
			va_end(ap);
		}
	}
}

void
svc_reply_oom(svc_reply *r)
{
	svc_reply_err(r, FS_RESOURCE_EXHAUSTED, "Out of memory.");
}

void
svc_reply_msg(svc_reply *r, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);

	if ((r->payload = malloc(len > 0 ? len : 1)) == NULL) {
		svc_reply_oom(r);
		return;
	}
	protobuf_c_message_pack(m, r->payload);
	r->payload_len = len;
	r->has_payload = 1;
	r->code = FS_OK;
}

void
svc_reply_empty(svc_reply *r)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;

	svc_reply_msg(r, &e.base);
}

int
svc_reply_viol(svc_reply *r, int taken)
{
	rules_viol_close(&r->v);
	if (r->v.oom) {
		svc_reply_oom(r);
		return 1;
	}
	if (r->v.n == 0)
		return 0;
	r->code =
	    taken && r->v.n == 1 ? FS_ALREADY_EXISTS : FS_INVALID_ARGUMENT;
	return 1;
}

void
svc_reply_component(svc_reply *r, const Flowsvc__Caller *who,
    const store_comp *c)
{
	uint8_t *tmp;
	uint32_t len;
	const uint8_t *bytes = access_encode(who, c, &len, &tmp);

	/* ComponentReply{component = 1}: the stored bytes framed as field 1,
	 * no re-encoding. */
	if (bytes == NULL ||
	    (r->payload = malloc(fs_pb_len_field_size(1, len))) == NULL) {
		free(tmp);
		svc_reply_oom(r);
		return;
	}
	r->payload_len = fs_pb_put_len_field(r->payload, 1, bytes, len);
	r->has_payload = 1;
	r->code = FS_OK;
	free(tmp);
}

void
svc_reply_status(svc_reply *r, const store_comp *c)
{
	Flowsvc__StatusReply sr = FLOWSVC__STATUS_REPLY__INIT;

	sr.status = (Flowsvc__Status) store_comp_status(c);
	svc_reply_msg(r, &sr.base);
}

int
svc_reply_kind_ok(svc_reply *r, int kind)
{
	if (kind == FLOWSVC__KIND__FLOW || kind == FLOWSVC__KIND__APP)
		return 1;
	rules_viol_add(&r->v, "kind", "Must be FLOW or APP.");
	svc_reply_viol(r, 0);
	return 0;
}

void
svc_reply_wire(const svc_reply *r, Flowsvc__Reply *rep)
{
	flowsvc__reply__init(rep);
	rep->code = (Flowsvc__Code) r->code;
	rep->message =
	    r->message != NULL ? r->message : (char *) fs_strerror(r->code);
	rep->n_violations = r->v.n;
	rep->violations = r->v.v;
	if (r->has_payload) {
		rep->has_payload = 1;
		rep->payload.data = r->payload;
		rep->payload.len = r->payload_len;
	}
}
