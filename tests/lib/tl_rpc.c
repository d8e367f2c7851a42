/*
 * tl_rpc.c - see tl_rpc.h.
 */
#include "tl_rpc.h"

#include <stddef.h>

#include "fs_errors.h"
#include "tl_time.h"

static json_t *
strv_json(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* A component as a JSON object, every field included. */
json_t *
fs_trpc_comp_json(const Flowsvc__Component *c)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(c->id));
	json_object_set_new(o, "kind", json_integer(c->kind));
	json_object_set_new(o, "name", json_string(c->name));
	json_object_set_new(o, "group", json_string(c->group));
	json_object_set_new(o, "input_fields",
	    strv_json(c->input_fields, c->n_input_fields));
	json_object_set_new(o, "output_fields",
	    strv_json(c->output_fields, c->n_output_fields));
	json_object_set_new(o, "canvas_id", json_string(c->canvas_id));
	json_object_set_new(o, "flows", strv_json(c->flows, c->n_flows));
	json_object_set_new(o, "version", json_integer(c->version));
	json_object_set_new(o, "created_at_us",
	    json_integer(c->created_at_us));
	json_object_set_new(o, "updated_at_us",
	    json_integer(c->updated_at_us));
	return o;
}

/* One call; with desc, the OK payload is unpacked into *out. */
int
fs_trpc_call(fs_client *c, Flowsvc__Method m, const ProtobufCMessage *req,
    uint32_t timeout_ms, const ProtobufCMessageDescriptor *desc,
    ProtobufCMessage **out)
{
	fs_call_opts o = {NULL, timeout_ms, NULL, 0};
	Flowsvc__Reply *reply = NULL;
	int code = fs_client_call(c, m, req, &o, &reply);

	if (out != NULL)
		*out = NULL;
	if (code == FS_OK && desc != NULL && out != NULL) {
		*out = fs_reply_payload(reply, desc);
		if (*out == NULL)
			code = FS_INTERNAL;
	}
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	return code;
}

/* Create/Update answer a ComponentReply: *comp gets it as JSON. */
int
fs_trpc_component(fs_client *c, Flowsvc__Method m, const ProtobufCMessage *req,
    uint32_t timeout_ms, json_t **comp)
{
	ProtobufCMessage *out = NULL;
	int code = fs_trpc_call(c, m, req, timeout_ms,
	    &flowsvc__component_reply__descriptor, &out);

	*comp = NULL;
	if (code == FS_OK) {
		Flowsvc__ComponentReply *cr = (Flowsvc__ComponentReply *) out;
		if (cr->component != NULL)
			*comp = fs_trpc_comp_json(cr->component);
		else
			code = FS_INTERNAL;
		protobuf_c_message_free_unpacked(out, NULL);
	}
	return code;
}

int
fs_trpc_create(fs_client *c, Flowsvc__Kind kind, const char *name,
    const char *out_field, const char *flow_ref, uint32_t timeout_ms,
    json_t **comp)
{
	Flowsvc__CreateRequest req = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__StringList outl = FLOWSVC__STRING_LIST__INIT;
	Flowsvc__StringList fl = FLOWSVC__STRING_LIST__INIT;
	char *outv[1] = {(char *) out_field};
	char *fv[1] = {(char *) flow_ref};

	req.kind = kind;
	req.name = (char *) name;
	if (out_field != NULL) {
		outl.n_items = 1;
		outl.items = outv;
		req.output_fields = &outl;
	}
	if (flow_ref != NULL) {
		fl.n_items = 1;
		fl.items = fv;
		req.flows = &fl;
	}
	return fs_trpc_component(c, FLOWSVC__METHOD__CREATE, &req.base,
	    timeout_ms, comp);
}

int
fs_trpc_update_out(fs_client *c, const char *id, const char *out_field,
    uint32_t timeout_ms, json_t **comp)
{
	Flowsvc__UpdateRequest req = FLOWSVC__UPDATE_REQUEST__INIT;
	Flowsvc__StringList outl = FLOWSVC__STRING_LIST__INIT;
	char *outv[1] = {(char *) out_field};

	req.id = (char *) id;
	outl.n_items = 1;
	outl.items = outv;
	req.output_fields = &outl;
	return fs_trpc_component(c, FLOWSVC__METHOD__UPDATE, &req.base,
	    timeout_ms, comp);
}

/* Delete, Deploy, Start, Stop, GetStatus: *status gets the StatusReply's
 * status when there is one. */
int
fs_trpc_id(fs_client *c, Flowsvc__Method m, const char *id,
    uint32_t timeout_ms, int *status)
{
	Flowsvc__IdRequest req = FLOWSVC__ID_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	int code;

	req.id = (char *) id;
	if (m == FLOWSVC__METHOD__DELETE) {
		return fs_trpc_call(c, m, &req.base, timeout_ms, NULL, NULL);
	}
	code = fs_trpc_call(c, m, &req.base, timeout_ms,
	    &flowsvc__status_reply__descriptor, &out);
	if (status != NULL)
		*status = -1;
	if (code == FS_OK) {
		if (status != NULL)
			*status = ((Flowsvc__StatusReply *) out)->status;
		protobuf_c_message_free_unpacked(out, NULL);
	}
	return code;
}

/* Get by id (any kind) plus its status. */
int
fs_trpc_get(fs_client *c, const char *id, json_t **comp, int *status)
{
	Flowsvc__GetRequest req = FLOWSVC__GET_REQUEST__INIT;
	int code;

	req.id = (char *) id;
	code =
	    fs_trpc_component(c, FLOWSVC__METHOD__GET, &req.base, 5000, comp);
	if (code == FS_OK && status != NULL &&
	    fs_trpc_id(c, FLOWSVC__METHOD__GET_STATUS, id, 5000, status) !=
	        FS_OK)
		*status = -1;
	return code;
}

/* Components of one kind (in creation order) appended to a, or -1 when
 * the call failed. name: NULL or a name__iexact filter. */
static int
rpc_list_kind(fs_client *c, Flowsvc__Kind kind, const char *name, json_t *a)
{
	Flowsvc__ListRequest req = FLOWSVC__LIST_REQUEST__INIT;
	ProtobufCMessage *out = NULL;

	req.has_kind = 1;
	req.kind = kind;
	req.name_iexact = (char *) name;
	if (fs_trpc_call(c, FLOWSVC__METHOD__LIST, &req.base, 10000,
	        &flowsvc__list_reply__descriptor, &out) != FS_OK)
		return -1;
	Flowsvc__ListReply *l = (Flowsvc__ListReply *) out;
	for (size_t i = 0; i < l->n_components; i++)
		json_array_append_new(a, fs_trpc_comp_json(l->components[i]));
	protobuf_c_message_free_unpacked(out, NULL);
	return 0;
}

/* Every flow, then every app, as a JSON array; NULL when a call failed. */
json_t *
fs_trpc_list(fs_client *c, const char *name)
{
	json_t *a = json_array();

	if (rpc_list_kind(c, FLOWSVC__KIND__FLOW, name, a) != 0 ||
	    rpc_list_kind(c, FLOWSVC__KIND__APP, name, a) != 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

int
fs_trpc_snapshot(fs_client *c)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	return fs_trpc_call(c, FLOWSVC__METHOD__SNAPSHOT, &e.base, 20000, NULL,
	    NULL);
}

/* ==== (a) REST through the gateway: SIGTERM, kill -9, snapshots ========== */

Flowsvc__HealthReply *
fs_trpc_health(fs_client *c)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	ProtobufCMessage *m = NULL;

	if (fs_trpc_call(c, FLOWSVC__METHOD__HEALTH, &e.base, 2000,
	        &flowsvc__health_reply__descriptor, &m) != FS_OK)
		return NULL;
	return (Flowsvc__HealthReply *) m;
}

uint64_t
fs_trpc_revision(fs_client *c)
{
	Flowsvc__HealthReply *h = fs_trpc_health(c);
	uint64_t r = h != NULL && h->has_revision ? h->revision : 0;

	if (h != NULL)
		flowsvc__health_reply__free_unpacked(h, NULL);
	return r;
}

int
fs_trpc_wait_revision(fs_client *c, uint64_t rev, int ms)
{
	int64_t end = fs_test_now_ms() + ms;

	while (fs_test_now_ms() < end) {
		if (fs_trpc_revision(c) >= rev)
			return 0;
		fs_test_poll_pause(20);
	}
	return -1;
}
