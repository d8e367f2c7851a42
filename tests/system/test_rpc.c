/*
 * test_rpc.c - the backend's RPC surface (CONTRACT §3) through the C client
 * API that internal services use, plus raw envelopes on a bare nng REQ
 * socket: garbage, garbage payloads, unknown methods, expired deadlines.
 * The rules are the same as over REST; here they show as status codes and
 * field violations.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "fs_util.h"
#include "testlib.h"

static fs_test_env env;

static const char *const FLOW_NAME_MSG =
    "Invalid flow name. Flow name must contain only alphanumeric "
    "characters and the underscore character.";
static const char *const APP_NAME_MSG =
    "Invalid app name. App name must contain only alphanumeric "
    "characters and the underscore character.";

static int
suite_init(void)
{
	return fs_env_start(&env, "rpc");
}

static int
suite_fini(void)
{
	return fs_env_fini(&env);
}

static int
rpc(Flowsvc__Method m, const ProtobufCMessage *req, Flowsvc__Reply **reply)
{
	return fs_client_call(env.client, m, req, NULL, reply);
}

static void
reply_free(Flowsvc__Reply **reply)
{
	if (*reply != NULL) {
		flowsvc__reply__free_unpacked(*reply, NULL);
		*reply = NULL;
	}
}

/* The violations as the REST body would show them. */
static json_t *
violations_json(const Flowsvc__Reply *reply)
{
	json_t *o = json_object();
	size_t i, j;

	for (i = 0; reply != NULL && i < reply->n_violations; i++) {
		json_t *a = json_array();
		for (j = 0; j < reply->violations[i]->n_messages; j++) {
			json_array_append_new(a,
			    json_string(reply->violations[i]->messages[j]));
		}
		json_object_set_new(o, reply->violations[i]->field, a);
	}
	return o;
}

#define ASSERT_VIOLATIONS(reply, expected)                                    \
	do {                                                                  \
		json_t *v_ = violations_json(reply);                          \
		FS_ASSERT_JSON_EQ(v_, (expected));                            \
		json_decref(v_);                                              \
	} while (0)

/* Creates a component; returns the reply's component (caller frees with
 * protobuf_c_message_free_unpacked) or NULL after a failed assertion. */
static Flowsvc__ComponentReply *
create(Flowsvc__Kind kind, const char *name, const char *group,
    Flowsvc__StringList *flows, int line)
{
	Flowsvc__CreateRequest req = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__Reply *reply = NULL;
	Flowsvc__ComponentReply *c = NULL;
	int code;

	req.kind = kind;
	req.name = (char *) name;
	req.group = (char *) group;
	req.flows = flows;
	code = rpc(FLOWSVC__METHOD__CREATE, &req.base, &reply);
	if (fs_check_code(code, FS_OK, reply, "Create", __FILE__, line)) {
		c = (Flowsvc__ComponentReply *) fs_reply_payload(reply,
		    &flowsvc__component_reply__descriptor);
		fs_check(c != NULL && c->component != NULL, __FILE__, line,
		    "payload", "Create: OK without a ComponentReply");
	}
	reply_free(&reply);
	return c;
}

static void
cr_free(Flowsvc__ComponentReply *c)
{
	if (c != NULL) {
		protobuf_c_message_free_unpacked(&c->base, NULL);
	}
}

static int
lifecycle(Flowsvc__Method m, const char *id, Flowsvc__Kind kind,
    Flowsvc__Status *status, Flowsvc__Reply **reply)
{
	Flowsvc__IdRequest req = FLOWSVC__ID_REQUEST__INIT;
	Flowsvc__StatusReply *s;
	int code;

	req.id = (char *) id;
	req.has_kind = kind != FLOWSVC__KIND__KIND_ANY;
	req.kind = kind;
	code = rpc(m, &req.base, reply);
	if (code == FS_OK && status != NULL) {
		s = (Flowsvc__StatusReply *) fs_reply_payload(*reply,
		    &flowsvc__status_reply__descriptor);
		*status = s ? s->status : (Flowsvc__Status) -1;
		if (s != NULL) {
			protobuf_c_message_free_unpacked(&s->base, NULL);
		}
	}
	return code;
}

/* ---- the raw transport --------------------------------------------------- */

/* Sends bytes on a fresh REQ socket and returns the decoded Reply (caller
 * frees) or NULL when none arrived within 5 s or it did not decode. */
static Flowsvc__Reply *
raw_call(const void *buf, size_t len)
{
	Flowsvc__Reply *reply = NULL;
	nng_socket s;
	void *rbuf = NULL;
	size_t rlen = 0;
	int rv;

	if ((rv = nng_req0_open(&s)) != 0) {
		FS_CHECK(0, "nng_req0_open: %s", nng_strerror(rv));
		return NULL;
	}
	if ((rv = nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME,
	         NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 5000)) != 0 ||
	    (rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, FS_RPC_MAX_MSG)) !=
	        0 ||
	    (rv = nng_dial(s, env.backend_url, NULL, 0)) != 0 ||
	    (rv = nng_send(s, (void *) buf, len, 0)) != 0 ||
	    (rv = nng_recv(s, &rbuf, &rlen, NNG_FLAG_ALLOC)) != 0) {
		FS_CHECK(0, "raw REQ to %s: %s", env.backend_url,
		    nng_strerror(rv));
	} else {
		reply = flowsvc__reply__unpack(NULL, rlen, rbuf);
		FS_CHECK(reply != NULL, "the backend's reply is not a Reply");
		nng_free(rbuf, rlen);
	}
	nng_close(s);
	return reply;
}

/* Packs an envelope around an already encoded payload and sends it. */
static Flowsvc__Reply *
raw_envelope(Flowsvc__Method m, const uint8_t *payload, size_t plen,
    int64_t deadline_ms, const char *request_id)
{
	Flowsvc__Request req = FLOWSVC__REQUEST__INIT;
	Flowsvc__Reply *reply;
	uint8_t *buf;
	size_t len;

	req.method = m;
	req.request_id = (char *) request_id;
	if (deadline_ms != 0) {
		req.has_deadline_unix_ms = 1;
		req.deadline_unix_ms = deadline_ms;
	}
	if (payload != NULL) {
		req.has_payload = 1;
		req.payload.data = (uint8_t *) payload;
		req.payload.len = plen;
	}
	len = flowsvc__request__get_packed_size(&req);
	if ((buf = malloc(len ? len : 1)) == NULL) {
		return NULL;
	}
	flowsvc__request__pack(&req, buf);
	reply = raw_call(buf, len);
	free(buf);
	return reply;
}

static uint64_t
count_named(Flowsvc__Kind kind, const char *name)
{
	Flowsvc__ListRequest req = FLOWSVC__LIST_REQUEST__INIT;
	Flowsvc__Reply *reply = NULL;
	Flowsvc__ListReply *l;
	uint64_t n = (uint64_t) -1;

	req.has_kind = 1;
	req.kind = kind;
	req.name_iexact = (char *) name;
	if (FS_ASSERT_OK(rpc(FLOWSVC__METHOD__LIST, &req.base, &reply))) {
		l = (Flowsvc__ListReply *) fs_reply_payload(reply,
		    &flowsvc__list_reply__descriptor);
		if (l != NULL) {
			n = l->n_components;
			protobuf_c_message_free_unpacked(&l->base, NULL);
		}
	}
	reply_free(&reply);
	return n;
}

/* ---- tests --------------------------------------------------------------- */

static void
test_rpc_health(void)
{
	Flowsvc__Empty req = FLOWSVC__EMPTY__INIT;
	Flowsvc__Reply *reply = NULL;
	Flowsvc__HealthReply *h;
	uint64_t flows0 = 0, apps0 = 0;
	int round;

	for (round = 0; round < 2; round++) {
		if (!FS_ASSERT_OK(
		        rpc(FLOWSVC__METHOD__HEALTH, &req.base, &reply))) {
			reply_free(&reply);
			return;
		}
		h = (Flowsvc__HealthReply *) fs_reply_payload(reply,
		    &flowsvc__health_reply__descriptor);
		reply_free(&reply);
		if (!FS_CHECK(h != NULL, "HEALTH without a HealthReply")) {
			return;
		}
		FS_ASSERT_STR_EQ(h->status, "ok");
		if (round == 0) {
			flows0 = h->flows;
			apps0 = h->apps;
			cr_free(create(FLOWSVC__KIND__FLOW, "health_flow",
			    NULL, NULL, __LINE__));
			cr_free(create(FLOWSVC__KIND__APP, "health_app", NULL,
			    NULL, __LINE__));
		} else if (h->has_flows && h->has_apps) {
			FS_ASSERT_INT_EQ(h->flows, flows0 + 1);
			FS_ASSERT_INT_EQ(h->apps, apps0 + 1);
		}
		protobuf_c_message_free_unpacked(&h->base, NULL);
	}
}

static void
test_rpc_create_and_get(void)
{
	Flowsvc__GetRequest get = FLOWSVC__GET_REQUEST__INIT;
	Flowsvc__Reply *reply = NULL;
	Flowsvc__ComponentReply *c, *g;
	char up[64];
	size_t i;

	if ((c = create(FLOWSVC__KIND__FLOW, "rpc_get", NULL, NULL,
	         __LINE__)) == NULL) {
		return;
	}
	FS_CHECK(fs_is_lower_uuid(c->component->id), "id %s",
	    c->component->id);
	FS_CHECK(fs_is_lower_uuid(c->component->canvas_id), "canvas_id %s",
	    c->component->canvas_id);
	FS_ASSERT_INT_EQ(c->component->kind, FLOWSVC__KIND__FLOW);
	FS_ASSERT_STR_EQ(c->component->group, "default");
	FS_ASSERT_INT_EQ(c->component->version, 1);
	FS_ASSERT_INT_EQ(c->component->n_input_fields, 0);
	FS_ASSERT_INT_EQ(c->component->n_flows, 0);
	FS_CHECK(c->component->created_at_us > fs_now_us() - 60000000LL &&
	        c->component->updated_at_us >= c->component->created_at_us,
	    "timestamps %lld %lld", (long long) c->component->created_at_us,
	    (long long) c->component->updated_at_us);

	/* By id in upper case, as a flow and as any kind. */
	snprintf(up, sizeof(up), "%s", c->component->id);
	for (i = 0; up[i]; i++) {
		up[i] =
		    (char) (up[i] >= 'a' && up[i] <= 'z' ? up[i] - 32 : up[i]);
	}
	get.id = up;
	get.has_kind = 1;
	get.kind = FLOWSVC__KIND__FLOW;
	if (FS_ASSERT_OK(rpc(FLOWSVC__METHOD__GET, &get.base, &reply))) {
		g = (Flowsvc__ComponentReply *) fs_reply_payload(reply,
		    &flowsvc__component_reply__descriptor);
		if (FS_CHECK(g && g->component, "GET without a component")) {
			FS_ASSERT_STR_EQ(g->component->id, c->component->id);
			FS_ASSERT_STR_EQ(g->component->name, "rpc_get");
			FS_ASSERT_INT_EQ(g->component->created_at_us,
			    c->component->created_at_us);
		}
		cr_free(g);
	}
	reply_free(&reply);

	/* As an app it does not exist. */
	get.kind = FLOWSVC__KIND__APP;
	FS_ASSERT_CODE(rpc(FLOWSVC__METHOD__GET, &get.base, &reply),
	    FS_NOT_FOUND, reply);
	if (reply != NULL) {
		FS_ASSERT_INT_EQ(reply->code, FLOWSVC__CODE__NOT_FOUND);
	}
	reply_free(&reply);

	get.kind = FLOWSVC__KIND__FLOW;
	get.id = (char *) "6d1f0b7e-3c2a-4f1e-9b8d-7a6c5e4d3b2a";
	FS_ASSERT_CODE(rpc(FLOWSVC__METHOD__GET, &get.base, &reply),
	    FS_NOT_FOUND, reply);
	reply_free(&reply);
	get.id = (char *) "not a uuid";
	FS_ASSERT_CODE(rpc(FLOWSVC__METHOD__GET, &get.base, &reply),
	    FS_NOT_FOUND, reply);
	reply_free(&reply);
	cr_free(c);
}

static void
check_create_error(Flowsvc__CreateRequest *req, int code,
    const char *violations, int line)
{
	Flowsvc__Reply *reply = NULL;
	json_t *v;

	fs_check_code(rpc(FLOWSVC__METHOD__CREATE, &req->base, &reply), code,
	    reply, "Create", __FILE__, line);
	v = violations_json(reply);
	fs_check_json_eq(v, violations, "violations", __FILE__, line);
	json_decref(v);
	reply_free(&reply);
}

static void
test_rpc_create_validation(void)
{
	Flowsvc__CreateRequest req = FLOWSVC__CREATE_REQUEST__INIT;
	char *unknown[] = {(char *) "colour"};
	char *mistyped[] = {(char *) "input_fields"};
	char *mistyped_name[] = {(char *) "name"};
	char want[512], long_name[102];
	Flowsvc__ComponentReply *c;

	req.kind = FLOWSVC__KIND__FLOW;
	check_create_error(&req, FS_INVALID_ARGUMENT,
	    "{\"name\": [\"This field is required.\"]}", __LINE__);

	req.name = (char *) "bad name";
	snprintf(want, sizeof(want), "{\"name\": [\"%s\"]}", FLOW_NAME_MSG);
	check_create_error(&req, FS_INVALID_ARGUMENT, want, __LINE__);
	req.kind = FLOWSVC__KIND__APP;
	snprintf(want, sizeof(want), "{\"name\": [\"%s\"]}", APP_NAME_MSG);
	check_create_error(&req, FS_INVALID_ARGUMENT, want, __LINE__);
	req.kind = FLOWSVC__KIND__FLOW;

	req.name = (char *) "";
	check_create_error(&req, FS_INVALID_ARGUMENT,
	    "{\"name\": [\"This field may not be blank.\"]}", __LINE__);
	memset(long_name, 'L', 101);
	long_name[101] = '\0';
	req.name = long_name;
	check_create_error(&req, FS_INVALID_ARGUMENT,
	    "{\"name\": [\"Ensure this field has no more than 100 "
	    "characters.\"]}",
	    __LINE__);

	req.name = (char *) "rpc_valid";
	req.n_unknown_fields = 1;
	req.unknown_fields = unknown;
	check_create_error(&req, FS_INVALID_ARGUMENT,
	    "{\"colour\": [\"Unknown field.\"]}", __LINE__);
	req.n_unknown_fields = 0;
	req.n_mistyped_fields = 1;
	req.mistyped_fields = mistyped;
	check_create_error(&req, FS_INVALID_ARGUMENT,
	    "{\"input_fields\": [\"Expected a list of strings.\"]}", __LINE__);
	req.name = NULL;
	req.mistyped_fields = mistyped_name;
	check_create_error(&req, FS_INVALID_ARGUMENT,
	    "{\"name\": [\"Not a valid string.\"]}", __LINE__);

	/* Every field error of one request comes back together. */
	req.mistyped_fields = mistyped;
	req.n_unknown_fields = 1;
	req.unknown_fields = unknown;
	check_create_error(&req, FS_INVALID_ARGUMENT,
	    "{\"name\": [\"This field is required.\"], \"colour\": "
	    "[\"Unknown field.\"], \"input_fields\": [\"Expected a list of "
	    "strings.\"]}",
	    __LINE__);
	req.n_unknown_fields = 0;
	req.n_mistyped_fields = 0;

	/* Nothing of the above was created. */
	FS_ASSERT_INT_EQ(count_named(FLOWSVC__KIND__FLOW, "rpc_valid"), 0);

	/* A taken name is ALREADY_EXISTS, for each kind in its words. */
	if ((c = create(FLOWSVC__KIND__FLOW, "rpc_taken", NULL, NULL,
	         __LINE__)) == NULL) {
		return;
	}
	cr_free(c);
	req.name = (char *) "RPC_Taken";
	check_create_error(&req, FS_ALREADY_EXISTS,
	    "{\"name\": [\"A flow with this name already exists in this "
	    "group.\"]}",
	    __LINE__);
	/* An app may share the name; a second such app may not. */
	if ((c = create(FLOWSVC__KIND__APP, "rpc_taken", NULL, NULL,
	         __LINE__)) == NULL) {
		return;
	}
	cr_free(c);
	req.kind = FLOWSVC__KIND__APP;
	check_create_error(&req, FS_ALREADY_EXISTS,
	    "{\"name\": [\"An app with this name already exists in this "
	    "group.\"]}",
	    __LINE__);
	/* Taken plus another error is plain INVALID_ARGUMENT. */
	req.n_unknown_fields = 1;
	req.unknown_fields = unknown;
	check_create_error(&req, FS_INVALID_ARGUMENT,
	    "{\"name\": [\"An app with this name already exists in this "
	    "group.\"], \"colour\": [\"Unknown field.\"]}",
	    __LINE__);
}

static void
test_rpc_update(void)
{
	Flowsvc__UpdateRequest up = FLOWSVC__UPDATE_REQUEST__INIT;
	Flowsvc__ReadOnlyField ro = FLOWSVC__READ_ONLY_FIELD__INIT;
	Flowsvc__ReadOnlyField *ros[] = {&ro};
	Flowsvc__StringList in = FLOWSVC__STRING_LIST__INIT;
	Flowsvc__StringList flows = FLOWSVC__STRING_LIST__INIT;
	char *in_items[] = {(char *) "q1", (char *) "q2"};
	char *flow_items[1];
	Flowsvc__Reply *reply = NULL;
	Flowsvc__ComponentReply *c, *u;
	char want[256];

	if ((c = create(FLOWSVC__KIND__FLOW, "rpc_upd", NULL, NULL,
	         __LINE__)) == NULL) {
		return;
	}
	up.id = c->component->id;
	up.has_kind = 1;
	up.kind = FLOWSVC__KIND__FLOW;
	in.n_items = 2;
	in.items = in_items;
	up.input_fields = &in;

	/* A read-only field with another value. */
	ro.field = (char *) "name";
	ro.value = (char *) "renamed";
	up.n_read_only = 1;
	up.read_only = ros;
	FS_ASSERT_CODE(rpc(FLOWSVC__METHOD__UPDATE, &up.base, &reply),
	    FS_INVALID_ARGUMENT, reply);
	ASSERT_VIOLATIONS(reply, "{\"name\": [\"This field is read-only.\"]}");
	reply_free(&reply);

	/* The same value is accepted; so is the current version. */
	ro.value = (char *) "rpc_upd";
	FS_ASSERT_OK(rpc(FLOWSVC__METHOD__UPDATE, &up.base, &reply));
	reply_free(&reply);
	ro.field = (char *) "version";
	ro.value = (char *) "2";
	if (FS_ASSERT_OK(rpc(FLOWSVC__METHOD__UPDATE, &up.base, &reply))) {
		u = (Flowsvc__ComponentReply *) fs_reply_payload(reply,
		    &flowsvc__component_reply__descriptor);
		if (FS_CHECK(u && u->component, "no component")) {
			FS_ASSERT_INT_EQ(u->component->version, 3);
			FS_ASSERT_INT_EQ(u->component->n_input_fields, 2);
		}
		cr_free(u);
	}
	reply_free(&reply);
	ro.value = (char *) "2";
	FS_ASSERT_CODE(rpc(FLOWSVC__METHOD__UPDATE, &up.base, &reply),
	    FS_INVALID_ARGUMENT, reply);
	ASSERT_VIOLATIONS(reply,
	    "{\"version\": [\"This field is read-only.\"]}");
	reply_free(&reply);
	up.n_read_only = 0;

	/* References: itself, then an id that does not exist. */
	up.input_fields = NULL;
	flow_items[0] = c->component->id;
	flows.n_items = 1;
	flows.items = flow_items;
	up.flows = &flows;
	FS_ASSERT_CODE(rpc(FLOWSVC__METHOD__UPDATE, &up.base, &reply),
	    FS_INVALID_ARGUMENT, reply);
	snprintf(want, sizeof(want),
	    "{\"flows\": [\"Invalid pk \\\"%s\\\" - a component cannot use "
	    "itself.\"]}",
	    c->component->id);
	ASSERT_VIOLATIONS(reply, want);
	reply_free(&reply);
	flow_items[0] = (char *) "6d1f0b7e-3c2a-4f1e-9b8d-7a6c5e4d3b2a";
	FS_ASSERT_CODE(rpc(FLOWSVC__METHOD__UPDATE, &up.base, &reply),
	    FS_INVALID_ARGUMENT, reply);
	ASSERT_VIOLATIONS(reply,
	    "{\"flows\": [\"Invalid pk "
	    "\\\"6d1f0b7e-3c2a-4f1e-9b8d-7a6c5e4d3b2a\\\" - "
	    "object does not exist.\"]}");
	reply_free(&reply);

	/* An update of an unknown id. */
	up.flows = NULL;
	up.id = (char *) "6d1f0b7e-3c2a-4f1e-9b8d-7a6c5e4d3b2a";
	FS_ASSERT_CODE(rpc(FLOWSVC__METHOD__UPDATE, &up.base, &reply),
	    FS_NOT_FOUND, reply);
	reply_free(&reply);
	cr_free(c);
}

static void
test_rpc_list(void)
{
	Flowsvc__ListRequest req = FLOWSVC__LIST_REQUEST__INIT;
	Flowsvc__Reply *reply = NULL;
	Flowsvc__ListReply *l;
	static const char *names[] = {"rl_c", "rl_a", "rl_b"};
	size_t i;

	for (i = 0; i < 3; i++) {
		cr_free(create(FLOWSVC__KIND__FLOW, names[i], "rpc_list_grp",
		    NULL, __LINE__));
	}
	cr_free(create(FLOWSVC__KIND__APP, "rl_app", "rpc_list_grp", NULL,
	    __LINE__));
	req.has_kind = 1;
	req.kind = FLOWSVC__KIND__FLOW;
	req.group_iexact = (char *) "RPC_LIST_GRP";
	req.has_offset = 1;
	req.offset = 1;
	req.has_limit = 1;
	req.limit = 5;
	if (FS_ASSERT_OK(rpc(FLOWSVC__METHOD__LIST, &req.base, &reply))) {
		l = (Flowsvc__ListReply *) fs_reply_payload(reply,
		    &flowsvc__list_reply__descriptor);
		if (FS_CHECK(l != NULL, "no ListReply") &&
		    FS_ASSERT_INT_EQ(l->n_components, 2)) {
			FS_ASSERT_STR_EQ(l->components[0]->name, "rl_a");
			FS_ASSERT_STR_EQ(l->components[1]->name, "rl_b");
		}
		if (l != NULL) {
			protobuf_c_message_free_unpacked(&l->base, NULL);
		}
	}
	reply_free(&reply);
	FS_ASSERT_INT_EQ(count_named(FLOWSVC__KIND__APP, "RL_APP"), 1);
	FS_ASSERT_INT_EQ(count_named(FLOWSVC__KIND__FLOW, "rl_app"), 0);
}

static void
test_rpc_delete_in_use(void)
{
	Flowsvc__IdRequest del = FLOWSVC__ID_REQUEST__INIT;
	Flowsvc__StringList uses = FLOWSVC__STRING_LIST__INIT;
	Flowsvc__ComponentReply *f, *a, *g;
	Flowsvc__Reply *reply = NULL;
	char *items[1];

	if ((f = create(FLOWSVC__KIND__FLOW, "rpc_used", NULL, NULL,
	         __LINE__)) == NULL) {
		return;
	}
	items[0] = f->component->id;
	uses.n_items = 1;
	uses.items = items;
	a = create(FLOWSVC__KIND__APP, "rpc_user_app", NULL, &uses, __LINE__);
	g = create(FLOWSVC__KIND__FLOW, "rpc_user_flow", NULL, &uses,
	    __LINE__);
	del.id = f->component->id;
	del.has_kind = 1;
	del.kind = FLOWSVC__KIND__FLOW;
	FS_ASSERT_CODE(rpc(FLOWSVC__METHOD__DELETE, &del.base, &reply),
	    FS_FAILED_PRECONDITION, reply);
	if (FS_CHECK(reply != NULL, "no reply")) {
		FS_ASSERT_STR_EQ(reply->message,
		    "Cannot delete the Flow, because it is used by these "
		    "apps/flows: rpc_user_app,rpc_user_flow");
	}
	reply_free(&reply);
	FS_ASSERT_INT_EQ(count_named(FLOWSVC__KIND__FLOW, "rpc_used"), 1);

	/* Deleting the users frees it. */
	if (a != NULL && g != NULL) {
		del.id = a->component->id;
		del.kind = FLOWSVC__KIND__APP;
		FS_ASSERT_OK(rpc(FLOWSVC__METHOD__DELETE, &del.base, &reply));
		reply_free(&reply);
		del.id = g->component->id;
		del.kind = FLOWSVC__KIND__FLOW;
		FS_ASSERT_OK(rpc(FLOWSVC__METHOD__DELETE, &del.base, &reply));
		reply_free(&reply);
		del.id = f->component->id;
		FS_ASSERT_OK(rpc(FLOWSVC__METHOD__DELETE, &del.base, &reply));
		reply_free(&reply);
		FS_ASSERT_CODE(rpc(FLOWSVC__METHOD__DELETE, &del.base, &reply),
		    FS_NOT_FOUND, reply);
		reply_free(&reply);
	}
	cr_free(f);
	cr_free(a);
	cr_free(g);
}

static void
test_rpc_lifecycle(void)
{
	Flowsvc__ComponentReply *c;
	Flowsvc__Reply *reply = NULL;
	Flowsvc__Status st = (Flowsvc__Status) -1;
	const char *id;

	if ((c = create(FLOWSVC__KIND__APP, "rpc_life", NULL, NULL,
	         __LINE__)) == NULL) {
		return;
	}
	id = c->component->id;
	FS_ASSERT_OK(lifecycle(FLOWSVC__METHOD__GET_STATUS, id,
	    FLOWSVC__KIND__KIND_ANY, &st, &reply));
	FS_ASSERT_INT_EQ(st, FLOWSVC__STATUS__NOT_DEPLOYED);
	reply_free(&reply);
	FS_ASSERT_CODE(lifecycle(FLOWSVC__METHOD__STOP, id,
	                   FLOWSVC__KIND__KIND_ANY, NULL, &reply),
	    FS_FAILED_PRECONDITION, reply);
	if (reply != NULL) {
		FS_ASSERT_STR_EQ(reply->message,
		    "The component is not deployed.");
	}
	reply_free(&reply);
	FS_ASSERT_CODE(lifecycle(FLOWSVC__METHOD__START, id,
	                   FLOWSVC__KIND__KIND_ANY, NULL, &reply),
	    FS_FAILED_PRECONDITION, reply);
	reply_free(&reply);
	FS_ASSERT_OK(lifecycle(FLOWSVC__METHOD__DEPLOY, id,
	    FLOWSVC__KIND__KIND_ANY, &st, &reply));
	FS_ASSERT_INT_EQ(st, FLOWSVC__STATUS__STARTED);
	reply_free(&reply);
	FS_ASSERT_OK(lifecycle(FLOWSVC__METHOD__STOP, id, FLOWSVC__KIND__APP,
	    &st, &reply));
	FS_ASSERT_INT_EQ(st, FLOWSVC__STATUS__STOPPED);
	reply_free(&reply);
	FS_ASSERT_OK(lifecycle(FLOWSVC__METHOD__GET_STATUS, id,
	    FLOWSVC__KIND__KIND_ANY, &st, &reply));
	FS_ASSERT_INT_EQ(st, FLOWSVC__STATUS__STOPPED);
	reply_free(&reply);
	/* kind narrows the lookup as in Get. */
	FS_ASSERT_CODE(lifecycle(FLOWSVC__METHOD__START, id,
	                   FLOWSVC__KIND__FLOW, NULL, &reply),
	    FS_NOT_FOUND, reply);
	reply_free(&reply);
	FS_ASSERT_OK(lifecycle(FLOWSVC__METHOD__GET_STATUS, id,
	    FLOWSVC__KIND__KIND_ANY, &st, &reply));
	FS_ASSERT_INT_EQ(st, FLOWSVC__STATUS__STOPPED);
	reply_free(&reply);
	FS_ASSERT_CODE(lifecycle(FLOWSVC__METHOD__DEPLOY,
	                   "6d1f0b7e-3c2a-4f1e-9b8d-7a6c5e4d3b2a",
	                   FLOWSVC__KIND__KIND_ANY, NULL, &reply),
	    FS_NOT_FOUND, reply);
	reply_free(&reply);
	cr_free(c);
}

static void
test_rpc_request_id_and_snapshot(void)
{
	Flowsvc__Empty req = FLOWSVC__EMPTY__INIT;
	Flowsvc__Reply *reply = NULL;
	fs_call_opts opts = {"rpc-test-rid-42", 0, NULL, 0};

	if (FS_ASSERT_OK(fs_client_call(env.client, FLOWSVC__METHOD__HEALTH,
	        &req.base, &opts, &reply)) &&
	    FS_CHECK(reply != NULL, "no reply")) {
		FS_ASSERT_STR_EQ(reply->request_id, "rpc-test-rid-42");
	}
	reply_free(&reply);
	FS_ASSERT_OK(rpc(FLOWSVC__METHOD__SNAPSHOT, &req.base, &reply));
	reply_free(&reply);
}

static void
test_rpc_garbage(void)
{
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x42,
	    0x00, 0x13, 0x37};
	static const uint8_t bad_payload[] = {0x0a, 0xff, 0xff, 0xff};
	Flowsvc__Empty empty = FLOWSVC__EMPTY__INIT;
	Flowsvc__Reply *reply;
	int i;

	/* Garbage where an envelope should be: an answer, not silence. */
	for (i = 0; i < 3; i++) {
		reply = raw_call(garbage, sizeof(garbage));
		if (FS_CHECK(reply != NULL, "no reply to garbage")) {
			FS_ASSERT_INT_EQ(reply->code, FS_INVALID_ARGUMENT);
		}
		reply_free(&reply);
	}
	reply = raw_call("", 0);
	if (FS_CHECK(reply != NULL, "no reply to an empty message")) {
		FS_CHECK((int) reply->code != FS_OK,
		    "an empty message got OK");
	}
	reply_free(&reply);

	/* A good envelope around a payload that is not a CreateRequest. */
	reply = raw_envelope(FLOWSVC__METHOD__CREATE, bad_payload,
	    sizeof(bad_payload), 0, "rpc-garbage-payload");
	if (FS_CHECK(reply != NULL, "no reply to a garbage payload")) {
		FS_ASSERT_INT_EQ(reply->code, FS_INVALID_ARGUMENT);
		FS_ASSERT_STR_EQ(reply->request_id, "rpc-garbage-payload");
	}
	reply_free(&reply);

	/* An envelope without a method to call. */
	reply = raw_envelope(FLOWSVC__METHOD__METHOD_UNSPECIFIED, NULL, 0, 0,
	    NULL);
	if (FS_CHECK(reply != NULL, "no reply to METHOD_UNSPECIFIED")) {
		FS_CHECK((int) reply->code != FS_OK,
		    "METHOD_UNSPECIFIED got OK");
	}
	reply_free(&reply);

	/* The backend still serves, through the client as before. */
	FS_ASSERT_OK(rpc(FLOWSVC__METHOD__HEALTH, &empty.base, &reply));
	reply_free(&reply);
}

static void
test_rpc_expired_deadline(void)
{
	Flowsvc__CreateRequest req = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__Reply *reply;
	uint8_t *buf;
	size_t len;

	req.kind = FLOWSVC__KIND__FLOW;
	req.name = (char *) "rpc_too_late";
	len = flowsvc__create_request__get_packed_size(&req);
	if (!FS_CHECK((buf = malloc(len)) != NULL, "malloc")) {
		return;
	}
	flowsvc__create_request__pack(&req, buf);
	/* A request that queued past its deadline is not executed. */
	reply = raw_envelope(FLOWSVC__METHOD__CREATE, buf, len,
	    fs_now_ms() - 10000, NULL);
	if (FS_CHECK(reply != NULL, "no reply")) {
		FS_ASSERT_INT_EQ(reply->code, FS_DEADLINE_EXCEEDED);
	}
	reply_free(&reply);
	FS_ASSERT_INT_EQ(count_named(FLOWSVC__KIND__FLOW, "rpc_too_late"), 0);
	/* With time left it is. */
	reply = raw_envelope(FLOWSVC__METHOD__CREATE, buf, len,
	    fs_now_ms() + 10000, NULL);
	if (FS_CHECK(reply != NULL, "no reply")) {
		FS_ASSERT_INT_EQ(reply->code, FS_OK);
	}
	reply_free(&reply);
	FS_ASSERT_INT_EQ(count_named(FLOWSVC__KIND__FLOW, "rpc_too_late"), 1);
	free(buf);
}

/* Many calls in flight on one client at once. */
#define INFLIGHT 200

typedef struct inflight {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, ok, wrong;
} inflight;

static void
inflight_cb(void *arg, int code, Flowsvc__Reply *reply)
{
	inflight *f = arg;
	Flowsvc__ComponentReply *c = NULL;

	if (code == FS_OK) {
		c = (Flowsvc__ComponentReply *) fs_reply_payload(reply,
		    &flowsvc__component_reply__descriptor);
	}
	pthread_mutex_lock(&f->mu);
	if (c != NULL && c->component != NULL &&
	    strcmp(c->component->name, "rpc_inflight") == 0) {
		f->ok++;
	} else {
		f->wrong++;
	}
	f->done++;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	cr_free(c);
	if (reply != NULL) {
		flowsvc__reply__free_unpacked(reply, NULL);
	}
}

static void
test_rpc_many_in_flight(void)
{
	Flowsvc__GetRequest get = FLOWSVC__GET_REQUEST__INIT;
	Flowsvc__ComponentReply *c;
	inflight f = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0,
	    0, 0};
	int i, started = 0;
	int64_t deadline;

	if ((c = create(FLOWSVC__KIND__FLOW, "rpc_inflight", NULL, NULL,
	         __LINE__)) == NULL) {
		return;
	}
	get.id = c->component->id;
	for (i = 0; i < INFLIGHT; i++) {
		if (fs_client_call_async(env.client, FLOWSVC__METHOD__GET,
		        &get.base, NULL, inflight_cb, &f) == 0) {
			started++;
		}
	}
	FS_ASSERT_INT_EQ(started, INFLIGHT);
	deadline = fs_test_now_ms() + 20000;
	pthread_mutex_lock(&f.mu);
	while (f.done < started && fs_test_now_ms() < deadline) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&f.cv, &f.mu, &ts);
	}
	pthread_mutex_unlock(&f.mu);
	FS_ASSERT_INT_EQ(f.done, started);
	FS_ASSERT_INT_EQ(f.ok, started);
	FS_ASSERT_INT_EQ(f.wrong, 0);
	cr_free(c);
}

static CU_TestInfo tests[] = {
    {"HEALTH answers ok with counts", test_rpc_health},
    {"Create and Get, kinds, NOT_FOUND", test_rpc_create_and_get},
    {"Create validation: codes, fields, exact messages",
        test_rpc_create_validation},
    {"Update: read-only fields, references, NOT_FOUND", test_rpc_update},
    {"List with filters, limit, offset", test_rpc_list},
    {"Delete of a used flow is FAILED_PRECONDITION", test_rpc_delete_in_use},
    {"Lifecycle and FAILED_PRECONDITION", test_rpc_lifecycle},
    {"request id echoed; Snapshot", test_rpc_request_id_and_snapshot},
    {"garbage envelopes get INVALID_ARGUMENT, backend keeps serving",
        test_rpc_garbage},
    {"an expired deadline is not executed", test_rpc_expired_deadline},
    {"200 calls in flight on one client", test_rpc_many_in_flight},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"rpc", suite_init, suite_fini, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
