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
#include "fs_util.h"

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

int
svc_answer_msg(svc_answer *a, const ProtobufCMessage *m)
{
	a->len = protobuf_c_message_get_packed_size(m);
	if ((a->payload = malloc(a->len > 0 ? a->len : 1)) == NULL)
		return FS_RESOURCE_EXHAUSTED;
	protobuf_c_message_pack(m, a->payload);
	return FS_OK;
}

int
svc_answer_component(svc_answer *a, const store *st,
    const Flowsvc__Caller *who, const Flowsvc__Component *m)
{
	Flowsvc__Component v = *m;
	char **keep = NULL;

	memset(a, 0, sizeof(*a));
	if (!access_all_groups(who) && m->n_flows > 0) {
		if ((keep = malloc(m->n_flows * sizeof(*keep))) == NULL)
			return FS_RESOURCE_EXHAUSTED;
		v.n_flows = 0;
		for (size_t i = 0; i < m->n_flows; i++) {
			uint8_t id[16];
			const store_comp *f;
			if (fs_uuid_parse(m->flows[i], id) == 0 &&
			    (f = store_get(st, id)) != NULL &&
			    access_visible(who, f))
				keep[v.n_flows++] = m->flows[i];
		}
		v.flows = keep;
	}
	/* ComponentReply{component = 1}: the component framed as field 1,
	 * the same bytes the store keeps. */
	size_t plen = flowsvc__component__get_packed_size(&v);
	a->len = fs_pb_len_field_size(1, plen);
	if ((a->payload = malloc(a->len)) != NULL) {
		size_t n = fs_pb_put_len_header(a->payload, 1, plen);
		flowsvc__component__pack(&v, a->payload + n);
	}
	free(keep);
	return a->payload != NULL ? FS_OK : FS_RESOURCE_EXHAUSTED;
}

void
svc_answer_take(svc_answer *a, svc_reply *r)
{
	free(r->payload);
	r->payload = a->payload;
	r->payload_len = a->len;
	r->has_payload = 1;
	r->code = FS_OK;
	a->payload = NULL;
}

void
svc_answer_fini(svc_answer *a)
{
	if (a == NULL)
		return;
	free(a->payload);
	a->payload = NULL;
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
	rep->has_revision = r->has_revision;
	rep->revision = r->revision;
	rep->has_oldest_revision = r->oldest_revision != 0;
	rep->oldest_revision = r->oldest_revision;
	rep->has_term = r->term != 0;
	rep->term = r->term;
}
