/* service/svc.c through svc_dispatch: the rules of CONTRACT §1-§3 as an RPC
 * caller sees them, without a network. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "fs_methods.h"
#include "fs_util.h"
#include "svc.h"
#include "testlib.h"

static svc *S;

static int
suite_init(void)
{
	char err[256];
	return svc_open(&S, NULL, err, sizeof(err));
}

static int
suite_fini(void)
{
	svc_close(S);
	return 0;
}

/* Dispatches method(msg) as caller; the reply is left in *r. */
static void
call(int method, const ProtobufCMessage *msg, const Flowsvc__Caller *caller,
    svc_reply *r)
{
	Flowsvc__Request req = FLOWSVC__REQUEST__INIT;
	uint8_t *buf = NULL;

	req.method = (Flowsvc__Method) method;
	req.caller = (Flowsvc__Caller *) caller;
	if (msg != NULL) {
		size_t len = protobuf_c_message_get_packed_size(msg);
		buf = malloc(len + 1);
		protobuf_c_message_pack(msg, buf);
		req.has_payload = 1;
		req.payload.data = buf;
		req.payload.len = len;
	}
	svc_dispatch(S, &req, r);
	free(buf);
}

static const char *
viol_msg(const svc_reply *r, const char *field)
{
	for (size_t i = 0; i < r->v.n; i++)
		if (strcmp(r->v.v[i]->field, field) == 0 &&
		    r->v.v[i]->n_messages > 0)
			return r->v.v[i]->messages[0];
	return "";
}

static Flowsvc__Component *
reply_component(const svc_reply *r)
{
	Flowsvc__ComponentReply *cr;
	Flowsvc__Component *c;

	if (r->code != FS_OK || !r->has_payload)
		return NULL;
	cr =
	    flowsvc__component_reply__unpack(NULL, r->payload_len, r->payload);
	if (cr == NULL)
		return NULL;
	c = cr->component;
	cr->component = NULL;
	flowsvc__component_reply__free_unpacked(cr, NULL);
	return c;
}

/* Creates a component; returns 0 and its id, or the code. */
static int
create(int kind, const char *name, const char *group, char **flows,
    size_t nflows, char id[FS_UUID_STRLEN + 1])
{
	Flowsvc__CreateRequest m = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__StringList fl = FLOWSVC__STRING_LIST__INIT;
	svc_reply r;

	m.kind = (Flowsvc__Kind) kind;
	m.name = (char *) name;
	m.group = (char *) group;
	if (flows != NULL) {
		fl.items = flows;
		fl.n_items = nflows;
		m.flows = &fl;
	}
	call(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
	int code = r.code;
	Flowsvc__Component *c = reply_component(&r);
	if (c != NULL && id != NULL)
		strcpy(id, c->id);
	if (c != NULL)
		flowsvc__component__free_unpacked(c, NULL);
	svc_reply_fini(&r);
	return code;
}

static int
set_flows(const char *id, char **flows, size_t n, svc_reply *r)
{
	Flowsvc__UpdateRequest m = FLOWSVC__UPDATE_REQUEST__INIT;
	Flowsvc__StringList fl = FLOWSVC__STRING_LIST__INIT;

	m.id = (char *) id;
	fl.items = flows;
	fl.n_items = n;
	m.flows = &fl;
	call(FLOWSVC__METHOD__UPDATE, &m.base, NULL, r);
	return r->code;
}

static void
test_svc_create_defaults_and_get(void)
{
	Flowsvc__CreateRequest m = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__StringList in = FLOWSVC__STRING_LIST__INIT;
	char *items[] = {"a", "b"};
	svc_reply r;

	m.kind = FLOWSVC__KIND__FLOW;
	m.name = "Welcome";
	in.items = items;
	in.n_items = 2;
	m.input_fields = &in;
	call(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
	CU_ASSERT_EQUAL_FATAL(r.code, FS_OK);
	Flowsvc__Component *c = reply_component(&r);
	svc_reply_fini(&r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	uint8_t bin[16];
	CU_ASSERT_EQUAL(fs_uuid_parse(c->id, bin), 0);
	CU_ASSERT_EQUAL(bin[6] >> 4, 4); /* v4 */
	CU_ASSERT_EQUAL(fs_uuid_parse(c->canvas_id, bin), 0);
	CU_ASSERT_STRING_EQUAL(c->group, "default");
	CU_ASSERT_EQUAL(c->n_input_fields, 2);
	CU_ASSERT_EQUAL(c->n_output_fields, 0);
	CU_ASSERT_EQUAL(c->n_flows, 0);
	CU_ASSERT_EQUAL(c->version, 1);
	CU_ASSERT_EQUAL(c->created_at_us, c->updated_at_us);

	/* Get by the upper-case id; not as an app; not a uuid. */
	Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;
	char upper[FS_UUID_STRLEN + 1];
	for (int i = 0; i <= FS_UUID_STRLEN; i++)
		upper[i] =
		    (char) (c->id[i] >= 'a' && c->id[i] <= 'f' ? c->id[i] - 32
		                                               : c->id[i]);
	g.id = upper;
	call(FLOWSVC__METHOD__GET, &g.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_OK);
	Flowsvc__Component *got = reply_component(&r);
	svc_reply_fini(&r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got->id, c->id);
	flowsvc__component__free_unpacked(got, NULL);
	g.has_kind = 1;
	g.kind = FLOWSVC__KIND__APP;
	call(FLOWSVC__METHOD__GET, &g.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_NOT_FOUND);
	svc_reply_fini(&r);
	g.id = "not-a-uuid";
	g.has_kind = 0;
	call(FLOWSVC__METHOD__GET, &g.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_NOT_FOUND);
	svc_reply_fini(&r);
	flowsvc__component__free_unpacked(c, NULL);
}

static void
test_svc_name_rules(void)
{
	Flowsvc__CreateRequest m = FLOWSVC__CREATE_REQUEST__INIT;
	svc_reply r;
	char longname[102];

	m.kind = FLOWSVC__KIND__FLOW;
	call(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_INVALID_ARGUMENT);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "name"),
	    "This field is required.");
	svc_reply_fini(&r);

	m.name = "bad-name";
	call(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "name"),
	    "Invalid flow name. Flow name must contain only alphanumeric "
	    "characters and the underscore character.");
	svc_reply_fini(&r);

	m.kind = FLOWSVC__KIND__APP;
	call(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "name"),
	    "Invalid app name. App name must contain only alphanumeric "
	    "characters and the underscore character.");
	svc_reply_fini(&r);

	m.name = "";
	call(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "name"),
	    "This field may not be blank.");
	svc_reply_fini(&r);

	memset(longname, 'x', 101);
	longname[101] = '\0';
	m.name = longname;
	call(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "name"),
	    "Ensure this field has no more than 100 characters.");
	svc_reply_fini(&r);
	longname[100] = '\0';
	CU_ASSERT_EQUAL(create(FLOWSVC__KIND__APP, longname, NULL, NULL, 0,
	                    NULL),
	    FS_OK);

	/* Taken, case-insensitively, per kind and group. */
	CU_ASSERT_EQUAL(create(FLOWSVC__KIND__FLOW, "Dup", "g1", NULL, 0,
	                    NULL),
	    FS_OK);
	m.kind = FLOWSVC__KIND__FLOW;
	m.name = "DUP";
	m.group = "G1";
	call(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_ALREADY_EXISTS);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "name"),
	    "A flow with this name already exists in this group.");
	svc_reply_fini(&r);
	CU_ASSERT_EQUAL(create(FLOWSVC__KIND__FLOW, "dup", "g2", NULL, 0,
	                    NULL),
	    FS_OK);
	CU_ASSERT_EQUAL(create(FLOWSVC__KIND__APP, "dup", "g1", NULL, 0, NULL),
	    FS_OK);
	CU_ASSERT_EQUAL(create(FLOWSVC__KIND__APP, "DUP", "g1", NULL, 0, NULL),
	    FS_ALREADY_EXISTS);

	/* Group rules. */
	CU_ASSERT_EQUAL(create(FLOWSVC__KIND__FLOW, "grp", "a b", NULL, 0,
	                    NULL),
	    FS_INVALID_ARGUMENT);
	CU_ASSERT_EQUAL(create(FLOWSVC__KIND__FLOW, "grp", "a.b-c_D", NULL, 0,
	                    NULL),
	    FS_OK);
}

static void
test_svc_field_rules(void)
{
	Flowsvc__CreateRequest m = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__StringList l = FLOWSVC__STRING_LIST__INIT;
	char *dup[] = {"x", "x"};
	char *empty[] = {""};
	char *unknown[] = {"colour"};
	char *mistyped[] = {"output_fields", "group"};
	svc_reply r;

	m.kind = FLOWSVC__KIND__FLOW;
	m.name = "fields";
	l.items = dup;
	l.n_items = 2;
	m.input_fields = &l;
	m.unknown_fields = unknown;
	m.n_unknown_fields = 1;
	m.mistyped_fields = mistyped;
	m.n_mistyped_fields = 2;
	call(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_INVALID_ARGUMENT);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "input_fields"),
	    "Duplicate item \"x\".");
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "colour"), "Unknown field.");
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "output_fields"),
	    "Expected a list of strings.");
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "group"), "Not a valid string.");
	CU_ASSERT_EQUAL(r.v.n, 4);
	svc_reply_fini(&r);

	m.unknown_fields = NULL;
	m.n_unknown_fields = 0;
	m.mistyped_fields = NULL;
	m.n_mistyped_fields = 0;
	l.items = empty;
	l.n_items = 1;
	call(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "input_fields"),
	    "Ensure every item has 1 to 255 characters.");
	svc_reply_fini(&r);

	char **many = calloc(1001, sizeof(*many));
	char(*names)[8] = calloc(1001, 8);
	for (int i = 0; i < 1001; i++) {
		snprintf(names[i], 8, "f%d", i);
		many[i] = names[i];
	}
	l.items = many;
	l.n_items = 1001;
	call(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "input_fields"),
	    "Ensure this field has no more than 1000 elements.");
	svc_reply_fini(&r);
	l.n_items = 1000;
	call(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_OK);
	svc_reply_fini(&r);
	free(many);
	free(names);
}

static void
test_svc_update_keeps_and_bumps(void)
{
	char id[FS_UUID_STRLEN + 1];
	Flowsvc__UpdateRequest m = FLOWSVC__UPDATE_REQUEST__INIT;
	Flowsvc__StringList out = FLOWSVC__STRING_LIST__INIT;
	Flowsvc__ReadOnlyField ro = FLOWSVC__READ_ONLY_FIELD__INIT;
	Flowsvc__ReadOnlyField *ros[] = {&ro};
	char *outs[] = {"result"};
	svc_reply r;

	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__FLOW, "upd", NULL, NULL, 0,
	                          id),
	    FS_OK);
	m.id = id;
	out.items = outs;
	out.n_items = 1;
	m.output_fields = &out;
	ro.field = "name";
	ro.value = "upd"; /* same value: accepted */
	m.read_only = ros;
	m.n_read_only = 1;
	call(FLOWSVC__METHOD__UPDATE, &m.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_OK);
	Flowsvc__Component *c = reply_component(&r);
	svc_reply_fini(&r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->version, 2);
	CU_ASSERT_EQUAL(c->n_output_fields, 1);
	CU_ASSERT_EQUAL(c->n_input_fields, 0);
	CU_ASSERT_TRUE(c->updated_at_us > c->created_at_us);
	flowsvc__component__free_unpacked(c, NULL);

	ro.value = "other";
	call(FLOWSVC__METHOD__UPDATE, &m.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_INVALID_ARGUMENT);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "name"),
	    "This field is read-only.");
	svc_reply_fini(&r);

	ro.field = "version";
	ro.value = "2";
	call(FLOWSVC__METHOD__UPDATE, &m.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_OK); /* version was 2 */
	svc_reply_fini(&r);
	ro.has_wrong_type = 1;
	ro.wrong_type = 1;
	call(FLOWSVC__METHOD__UPDATE, &m.base, NULL, &r);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "version"),
	    "This field is read-only.");
	svc_reply_fini(&r);

	m.id = "00000000-0000-4000-8000-000000000000";
	m.n_read_only = 0;
	call(FLOWSVC__METHOD__UPDATE, &m.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_NOT_FOUND);
	svc_reply_fini(&r);
}

static void
test_svc_references_and_cycles(void)
{
	char a[37], b[37], c[37], app[37], x[37];
	svc_reply r;

	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__FLOW, "ra", NULL, NULL, 0,
	                          a),
	    FS_OK);
	char *ra[] = {a};
	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__FLOW, "rb", NULL, ra, 1,
	                          b),
	    FS_OK);
	char *rb[] = {b};
	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__FLOW, "rc", NULL, rb, 1,
	                          c),
	    FS_OK);
	char *rc[] = {c};
	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__APP, "rapp", NULL, rc, 1,
	                          app),
	    FS_OK);

	/* a -> c would close a -> c -> b -> a. */
	CU_ASSERT_EQUAL(set_flows(a, rc, 1, &r), FS_INVALID_ARGUMENT);
	char want[128];
	snprintf(want, sizeof(want),
	    "Invalid pk \"%s\" - this reference would create a cycle.", c);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "flows"), want);
	svc_reply_fini(&r);

	char *self[] = {a};
	CU_ASSERT_EQUAL(set_flows(a, self, 1, &r), FS_INVALID_ARGUMENT);
	snprintf(want, sizeof(want),
	    "Invalid pk \"%s\" - a component cannot use itself.", a);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "flows"), want);
	svc_reply_fini(&r);

	char *toapp[] = {app};
	CU_ASSERT_EQUAL(set_flows(a, toapp, 1, &r), FS_INVALID_ARGUMENT);
	snprintf(want, sizeof(want),
	    "Invalid pk \"%s\" - object does not exist.", app);
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "flows"), want);
	svc_reply_fini(&r);
	CU_ASSERT_EQUAL(create(FLOWSVC__KIND__FLOW, "rbad", NULL, toapp, 1, x),
	    FS_INVALID_ARGUMENT);

	/* Delete in use: names sorted, nothing changes. */
	Flowsvc__IdRequest d = FLOWSVC__ID_REQUEST__INIT;
	char *rboth[] = {b, a};
	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__APP, "Zed", NULL, ra, 1,
	                          x),
	    FS_OK);
	CU_ASSERT_EQUAL(set_flows(c, rboth, 2, &r), FS_OK);
	svc_reply_fini(&r);
	d.id = a;
	call(FLOWSVC__METHOD__DELETE, &d.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_FAILED_PRECONDITION);
	CU_ASSERT_STRING_EQUAL(r.message,
	    "Cannot delete the Flow, because it is used by these apps/flows: "
	    "Zed,rb,rc");
	svc_reply_fini(&r);

	/* A caller who sees only group "other" sees none of the users. */
	char *grp[] = {"default"};
	Flowsvc__Caller who = FLOWSVC__CALLER__INIT;
	who.has_restricted = 1;
	who.restricted = 1;
	who.groups = grp;
	who.n_groups = 1;
	call(FLOWSVC__METHOD__DELETE, &d.base, &who, &r);
	CU_ASSERT_EQUAL(r.code, FS_FAILED_PRECONDITION);
	svc_reply_fini(&r);
	grp[0] = "other";
	call(FLOWSVC__METHOD__DELETE, &d.base, &who, &r);
	CU_ASSERT_EQUAL(r.code, FS_NOT_FOUND);
	svc_reply_fini(&r);

	/* Drop the references, then it goes. */
	CU_ASSERT_EQUAL(set_flows(b, NULL, 0, &r), FS_OK);
	svc_reply_fini(&r);
	CU_ASSERT_EQUAL(set_flows(c, rb, 1, &r), FS_OK);
	svc_reply_fini(&r);
	d.id = x;
	call(FLOWSVC__METHOD__DELETE, &d.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_OK);
	svc_reply_fini(&r);
	d.id = a;
	call(FLOWSVC__METHOD__DELETE, &d.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_OK);
	svc_reply_fini(&r);
	call(FLOWSVC__METHOD__DELETE, &d.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_NOT_FOUND);
	svc_reply_fini(&r);
}

static int
status_call(int method, const char *id, int *status)
{
	Flowsvc__IdRequest m = FLOWSVC__ID_REQUEST__INIT;
	svc_reply r;

	m.id = (char *) id;
	call(method, &m.base, NULL, &r);
	int code = r.code;
	if (code == FS_OK) {
		Flowsvc__StatusReply *sr = flowsvc__status_reply__unpack(NULL,
		    r.payload_len, r.payload);
		*status = sr ? (int) sr->status : -1;
		flowsvc__status_reply__free_unpacked(sr, NULL);
	}
	svc_reply_fini(&r);
	return code;
}

static void
test_svc_lifecycle(void)
{
	char id[37];
	int st = -1;

	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__APP, "life", NULL, NULL, 0,
	                          id),
	    FS_OK);
	CU_ASSERT_EQUAL(status_call(FLOWSVC__METHOD__GET_STATUS, id, &st),
	    FS_OK);
	CU_ASSERT_EQUAL(st, FLOWSVC__STATUS__NOT_DEPLOYED);
	CU_ASSERT_EQUAL(status_call(FLOWSVC__METHOD__STOP, id, &st),
	    FS_FAILED_PRECONDITION);
	CU_ASSERT_EQUAL(status_call(FLOWSVC__METHOD__START, id, &st),
	    FS_FAILED_PRECONDITION);
	CU_ASSERT_EQUAL(status_call(FLOWSVC__METHOD__DEPLOY, id, &st), FS_OK);
	CU_ASSERT_EQUAL(st, FLOWSVC__STATUS__STARTED);
	CU_ASSERT_EQUAL(status_call(FLOWSVC__METHOD__STOP, id, &st), FS_OK);
	CU_ASSERT_EQUAL(st, FLOWSVC__STATUS__STOPPED);
	CU_ASSERT_EQUAL(status_call(FLOWSVC__METHOD__STOP, id, &st), FS_OK);
	CU_ASSERT_EQUAL(st, FLOWSVC__STATUS__STOPPED);
	CU_ASSERT_EQUAL(status_call(FLOWSVC__METHOD__START, id, &st), FS_OK);
	CU_ASSERT_EQUAL(st, FLOWSVC__STATUS__STARTED);
	CU_ASSERT_EQUAL(status_call(FLOWSVC__METHOD__GET_STATUS, id, &st),
	    FS_OK);
	CU_ASSERT_EQUAL(st, FLOWSVC__STATUS__STARTED);
	CU_ASSERT_EQUAL(status_call(FLOWSVC__METHOD__GET_STATUS,
	                    "00000000-0000-4000-8000-000000000000", &st),
	    FS_NOT_FOUND);
}

/* The version of component id, or -1 when it cannot be read. */
static int64_t
version_of(const char *id)
{
	Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;
	Flowsvc__Component *c;
	int64_t v = -1;
	svc_reply r;

	g.id = (char *) id;
	call(FLOWSVC__METHOD__GET, &g.base, NULL, &r);
	if ((c = reply_component(&r)) != NULL)
		v = c->version;
	if (c != NULL)
		flowsvc__component__free_unpacked(c, NULL);
	svc_reply_fini(&r);
	return v;
}

/* Update, Delete and the lifecycle calls with expected_version: a
 * compare-and-set. A stale version is ABORTED with nothing changed, ahead
 * of the fields' problems and of "in use"; an absent component is still
 * NOT_FOUND. */
static void
test_svc_expected_version(void)
{
	char id[FS_UUID_STRLEN + 1], app[FS_UUID_STRLEN + 1];
	char *ids[1] = {id}, *dup[] = {"a", "a"};
	Flowsvc__UpdateRequest u = FLOWSVC__UPDATE_REQUEST__INIT;
	Flowsvc__IdRequest q = FLOWSVC__ID_REQUEST__INIT;
	Flowsvc__StringList in = FLOWSVC__STRING_LIST__INIT;
	svc_reply r;

	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__FLOW, "cas", NULL, NULL, 0,
	                          id),
	    FS_OK);
	u.id = id;
	u.has_expected_version = 1;
	u.expected_version = 2;
	in.items = dup;
	in.n_items = 1;
	u.input_fields = &in;
	call(FLOWSVC__METHOD__UPDATE, &u.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_ABORTED);
	CU_ASSERT_EQUAL(r.v.n, 0);
	svc_reply_fini(&r);
	CU_ASSERT_EQUAL(version_of(id), 1);
	/* Stale and invalid: the version is looked at first. */
	in.n_items = 2;
	call(FLOWSVC__METHOD__UPDATE, &u.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_ABORTED);
	CU_ASSERT_EQUAL(r.v.n, 0);
	svc_reply_fini(&r);
	/* The current version: the fields decide, then it applies. */
	u.expected_version = 1;
	call(FLOWSVC__METHOD__UPDATE, &u.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_INVALID_ARGUMENT);
	svc_reply_fini(&r);
	in.n_items = 1;
	call(FLOWSVC__METHOD__UPDATE, &u.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_OK);
	svc_reply_fini(&r);
	CU_ASSERT_EQUAL(version_of(id), 2);
	call(FLOWSVC__METHOD__UPDATE, &u.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_ABORTED); /* 1 is stale now */
	svc_reply_fini(&r);

	/* Lifecycle: compared, and no new version. */
	q.id = id;
	q.has_expected_version = 1;
	q.expected_version = 1;
	call(FLOWSVC__METHOD__DEPLOY, &q.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_ABORTED);
	svc_reply_fini(&r);
	q.expected_version = 2;
	for (int m = FLOWSVC__METHOD__DEPLOY; m <= FLOWSVC__METHOD__STOP;
	     m++) {
		call(m, &q.base, NULL, &r);
		CU_ASSERT_EQUAL(r.code, FS_OK);
		svc_reply_fini(&r);
	}
	CU_ASSERT_EQUAL(version_of(id), 2);

	/* Delete: stale before "in use"; absent before stale. */
	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__APP, "cas_user", NULL, ids,
	                          1, app),
	    FS_OK);
	q.expected_version = 1;
	call(FLOWSVC__METHOD__DELETE, &q.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_ABORTED);
	svc_reply_fini(&r);
	q.expected_version = 2;
	call(FLOWSVC__METHOD__DELETE, &q.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_FAILED_PRECONDITION);
	svc_reply_fini(&r);
	q.id = app;
	q.has_kind = 1;
	q.kind = FLOWSVC__KIND__APP;
	q.expected_version = 1;
	call(FLOWSVC__METHOD__DELETE, &q.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_OK);
	svc_reply_fini(&r);
	q.id = id;
	q.kind = FLOWSVC__KIND__FLOW;
	q.expected_version = 3;
	call(FLOWSVC__METHOD__DELETE, &q.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_ABORTED);
	svc_reply_fini(&r);
	q.expected_version = 2;
	call(FLOWSVC__METHOD__DELETE, &q.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_OK);
	svc_reply_fini(&r);
	call(FLOWSVC__METHOD__DELETE, &q.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_NOT_FOUND);
	svc_reply_fini(&r);
	u.expected_version = 2;
	call(FLOWSVC__METHOD__UPDATE, &u.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_NOT_FOUND);
	svc_reply_fini(&r);
}

static void
test_svc_bad_requests(void)
{
	Flowsvc__Request req = FLOWSVC__REQUEST__INIT;
	uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
	svc_reply r;

	req.method = FLOWSVC__METHOD__CREATE;
	req.has_payload = 1;
	req.payload.data = junk;
	req.payload.len = sizeof(junk);
	svc_dispatch(S, &req, &r);
	CU_ASSERT_EQUAL(r.code, FS_INVALID_ARGUMENT);
	svc_reply_fini(&r);
	req.method = (Flowsvc__Method) 99;
	svc_dispatch(S, &req, &r);
	CU_ASSERT_EQUAL(r.code, FS_UNIMPLEMENTED);
	svc_reply_fini(&r);
}

static void
test_svc_stats_count_requests(void)
{
	svc_reply r;

	call(FLOWSVC__METHOD__STATS, NULL, NULL, &r);
	CU_ASSERT_EQUAL_FATAL(r.code, FS_OK);
	Flowsvc__StatsReply *st =
	    flowsvc__stats_reply__unpack(NULL, r.payload_len, r.payload);
	svc_reply_fini(&r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_TRUE(st->flows > 0);
	CU_ASSERT_TRUE(st->apps > 0);
	CU_ASSERT_FALSE(st->has_log_bytes); /* no data directory here */
	uint64_t creates_ok = 0, not_found = 0;
	for (size_t i = 0; i < st->n_requests; i++) {
		const Flowsvc__MethodCount *m = st->requests[i];
		if (m->method == FLOWSVC__METHOD__CREATE &&
		    (int) m->code == FS_OK)
			creates_ok = m->count;
		if ((int) m->code == FS_NOT_FOUND)
			not_found += m->count;
	}
	CU_ASSERT_TRUE(creates_ok >= 10);
	CU_ASSERT_TRUE(not_found >= 3);
	flowsvc__stats_reply__free_unpacked(st, NULL);
}

static void
test_svc_hidden_references_stay_hidden(void)
{
	char hidden[37], seen[37], user[37];
	char *grp[] = {"team_a"};
	Flowsvc__Caller a = FLOWSVC__CALLER__INIT;
	svc_reply r;

	a.has_restricted = 1;
	a.restricted = 1;
	a.groups = grp;
	a.n_groups = 1;
	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__FLOW, "hid", "team_b",
	                          NULL, 0, hidden),
	    FS_OK);
	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__FLOW, "vis", "team_a",
	                          NULL, 0, seen),
	    FS_OK);
	char *both[] = {hidden, seen};
	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__APP, "mixed", "team_a",
	                          both, 2, user),
	    FS_OK);

	/* team_a sees only the flow of its group in the list. */
	Flowsvc__GetRequest g = FLOWSVC__GET_REQUEST__INIT;
	g.id = user;
	call(FLOWSVC__METHOD__GET, &g.base, &a, &r);
	Flowsvc__Component *c = reply_component(&r);
	svc_reply_fini(&r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->n_flows, 1);
	if (c->n_flows == 1)
		CU_ASSERT_STRING_EQUAL(c->flows[0], seen);
	flowsvc__component__free_unpacked(c, NULL);

	/* Sending that list back keeps the hidden reference. */
	Flowsvc__UpdateRequest u = FLOWSVC__UPDATE_REQUEST__INIT;
	Flowsvc__StringList fl = FLOWSVC__STRING_LIST__INIT;
	char *only[] = {seen};
	u.id = user;
	fl.items = only;
	fl.n_items = 1;
	u.flows = &fl;
	call(FLOWSVC__METHOD__UPDATE, &u.base, &a, &r);
	CU_ASSERT_EQUAL(r.code, FS_OK);
	svc_reply_fini(&r);
	call(FLOWSVC__METHOD__GET, &g.base, NULL, &r);
	c = reply_component(&r);
	svc_reply_fini(&r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->n_flows, 2);
	flowsvc__component__free_unpacked(c, NULL);

	/* Naming the hidden flow is as if it did not exist. */
	u.id = user;
	only[0] = hidden;
	call(FLOWSVC__METHOD__UPDATE, &u.base, &a, &r);
	CU_ASSERT_EQUAL(r.code, FS_INVALID_ARGUMENT);
	svc_reply_fini(&r);
}

/* Read-only fields over RPC: each of the seven names is compared with the
 * stored value once; another name, or a name again, is refused without a
 * look (the gateway never sends those), in request order, after the
 * store's findings and before the unmapped keys. */
static void
test_svc_update_read_only_bounded(void)
{
	char id[37];
	Flowsvc__UpdateRequest u = FLOWSVC__UPDATE_REQUEST__INIT;
	Flowsvc__ReadOnlyField f[4];
	Flowsvc__ReadOnlyField *fp[4] = {&f[0], &f[1], &f[2], &f[3]};
	char *unknown[] = {"extra"};
	char *bad_flow[] = {"not-a-uuid"};
	Flowsvc__StringList fl = FLOWSVC__STRING_LIST__INIT;
	svc_reply r;

	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__FLOW, "ro_twice", NULL,
	                          NULL, 0, id),
	    FS_OK);
	for (int i = 0; i < 4; i++)
		flowsvc__read_only_field__init(&f[i]);
	f[0].field = "name";
	f[0].value = "ro_twice"; /* the same: accepted */
	f[1].field = "bogus";
	f[1].value = "x";
	f[2].field = "name";
	f[2].value = "ro_twice"; /* again: refused */
	f[3].field = "version";
	f[3].value = "1";
	u.id = id;
	u.read_only = fp;
	u.n_read_only = 4;
	call(FLOWSVC__METHOD__UPDATE, &u.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_INVALID_ARGUMENT);
	CU_ASSERT_EQUAL(r.v.n, 2);
	if (r.v.n == 2) {
		CU_ASSERT_STRING_EQUAL(r.v.v[0]->field, "bogus");
		CU_ASSERT_STRING_EQUAL(r.v.v[1]->field, "name");
		CU_ASSERT_EQUAL(r.v.v[1]->n_messages, 1);
	}
	CU_ASSERT_STRING_EQUAL(viol_msg(&r, "name"),
	    "This field is read-only.");
	svc_reply_fini(&r);

	/* Order: flows (the store's), read-only, then unmapped keys. */
	u.n_read_only = 2;
	u.unknown_fields = unknown;
	u.n_unknown_fields = 1;
	fl.items = bad_flow;
	fl.n_items = 1;
	u.flows = &fl;
	call(FLOWSVC__METHOD__UPDATE, &u.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_INVALID_ARGUMENT);
	CU_ASSERT_EQUAL(r.v.n, 3);
	if (r.v.n == 3) {
		CU_ASSERT_STRING_EQUAL(r.v.v[0]->field, "flows");
		CU_ASSERT_STRING_EQUAL(r.v.v[1]->field, "bogus");
		CU_ASSERT_STRING_EQUAL(r.v.v[2]->field, "extra");
	}
	svc_reply_fini(&r);

	/* The same id names NOT_FOUND first, whatever else is wrong. */
	u.id = "00000000-0000-4000-8000-000000000000";
	call(FLOWSVC__METHOD__UPDATE, &u.base, NULL, &r);
	CU_ASSERT_EQUAL(r.code, FS_NOT_FOUND);
	CU_ASSERT_EQUAL(r.v.n, 0);
	svc_reply_fini(&r);
}

/* Packs one inner envelope for a batch. */
static Flowsvc__Request *
inner(int method, const ProtobufCMessage *msg, uint8_t **buf)
{
	Flowsvc__Request *r = malloc(sizeof(*r));

	flowsvc__request__init(r);
	r->method = (Flowsvc__Method) method;
	*buf = NULL;
	if (msg != NULL) {
		size_t len = protobuf_c_message_get_packed_size(msg);
		*buf = malloc(len + 1);
		protobuf_c_message_pack(msg, *buf);
		r->has_payload = 1;
		r->payload.data = *buf;
		r->payload.len = len;
	}
	return r;
}

static void
test_svc_batch_answers_each_in_order(void)
{
	char id[37];
	uint8_t *bufs[4];
	Flowsvc__GetRequest g1 = FLOWSVC__GET_REQUEST__INIT;
	Flowsvc__GetRequest g2 = FLOWSVC__GET_REQUEST__INIT;
	Flowsvc__Request *reqs[4];
	Flowsvc__BatchRequest b = FLOWSVC__BATCH_REQUEST__INIT;
	svc_reply r;

	CU_ASSERT_EQUAL_FATAL(create(FLOWSVC__KIND__FLOW, "batched", NULL,
	                          NULL, 0, id),
	    FS_OK);
	g1.id = id;
	g2.id = "00000000-0000-4000-8000-000000000000";
	reqs[0] = inner(FLOWSVC__METHOD__GET, &g1.base, &bufs[0]);
	reqs[1] = inner(FLOWSVC__METHOD__GET, &g2.base, &bufs[1]);
	reqs[2] = inner(FLOWSVC__METHOD__SNAPSHOT, NULL, &bufs[2]);
	reqs[3] = inner(FLOWSVC__METHOD__GET, &g1.base, &bufs[3]);
	reqs[3]->has_deadline_unix_ms = 1;
	reqs[3]->deadline_unix_ms = fs_now_ms() - 1000; /* already passed */
	reqs[0]->request_id = "first";
	b.requests = reqs;
	b.n_requests = 4;
	call(FLOWSVC__METHOD__BATCH, &b.base, NULL, &r);
	CU_ASSERT_EQUAL_FATAL(r.code, FS_OK);
	Flowsvc__BatchReply *br =
	    flowsvc__batch_reply__unpack(NULL, r.payload_len, r.payload);
	svc_reply_fini(&r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(br);
	CU_ASSERT_EQUAL_FATAL(br->n_replies, 4);
	CU_ASSERT_EQUAL(br->replies[0]->code, FLOWSVC__CODE__OK);
	CU_ASSERT_STRING_EQUAL(br->replies[0]->request_id, "first");
	Flowsvc__ComponentReply *cr =
	    (Flowsvc__ComponentReply *) fs_reply_payload(br->replies[0],
	        &flowsvc__component_reply__descriptor);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cr);
	CU_ASSERT_STRING_EQUAL(cr->component->name, "batched");
	flowsvc__component_reply__free_unpacked(cr, NULL);
	CU_ASSERT_EQUAL(br->replies[1]->code, FLOWSVC__CODE__NOT_FOUND);
	CU_ASSERT_EQUAL(br->replies[2]->code, FLOWSVC__CODE__INVALID_ARGUMENT);
	CU_ASSERT_EQUAL(br->replies[3]->code,
	    FLOWSVC__CODE__DEADLINE_EXCEEDED);
	flowsvc__batch_reply__free_unpacked(br, NULL);
	for (int i = 0; i < 4; i++) {
		free(bufs[i]);
		free(reqs[i]);
	}
}

/* Dispatch follows the method table: every method of it has a handler,
 * which gets its request message decoded with the table's descriptor (an
 * undecodable payload names that message); METHOD_UNSPECIFIED and values
 * past the table answer UNIMPLEMENTED. */
static void
test_svc_handler_table(void)
{
	uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
	char want[128];
	svc_reply r;

	for (int m = 0; m <= FS_METHOD_LIMIT + 1; m++) {
		const fs_method_info *mi = fs_method(m);
		Flowsvc__Request req = FLOWSVC__REQUEST__INIT;

		req.method = (Flowsvc__Method) m;
		req.has_payload = 1;
		req.payload.data = junk;
		req.payload.len = sizeof(junk);
		svc_dispatch(S, &req, &r);
		CU_ASSERT_EQUAL(svc_serves(m), mi != NULL);
		if (mi != NULL)
			snprintf(want, sizeof(want), "Undecodable %s.",
			    mi->request->short_name);
		else
			snprintf(want, sizeof(want), "Unknown method %d.", m);
		FS_CHECK(r.code ==
		            (mi != NULL ? FS_INVALID_ARGUMENT
		                        : FS_UNIMPLEMENTED) &&
		        r.message != NULL && strcmp(r.message, want) == 0,
		    "method %d: %s %s, expected %s", m, fs_code_name(r.code),
		    r.message ? r.message : "(null)", want);
		svc_reply_fini(&r);
	}
	CU_ASSERT_FALSE(svc_serves(99));
}

/* What a Batch may carry comes from the table too: not a Batch, but a
 * List or Stats as well as the batchable methods. */
static void
test_svc_batch_members_from_table(void)
{
	uint8_t *bufs[3];
	Flowsvc__ListRequest l = FLOWSVC__LIST_REQUEST__INIT;
	Flowsvc__BatchRequest nested = FLOWSVC__BATCH_REQUEST__INIT;
	Flowsvc__Request *reqs[3];
	Flowsvc__BatchRequest b = FLOWSVC__BATCH_REQUEST__INIT;
	svc_reply r;

	l.has_kind = 1;
	l.kind = FLOWSVC__KIND__FLOW;
	reqs[0] = inner(FLOWSVC__METHOD__BATCH, &nested.base, &bufs[0]);
	reqs[1] = inner(FLOWSVC__METHOD__LIST, &l.base, &bufs[1]);
	reqs[2] = inner(FLOWSVC__METHOD__STATS, NULL, &bufs[2]);
	b.requests = reqs;
	b.n_requests = 3;
	call(FLOWSVC__METHOD__BATCH, &b.base, NULL, &r);
	CU_ASSERT_EQUAL_FATAL(r.code, FS_OK);
	Flowsvc__BatchReply *br =
	    flowsvc__batch_reply__unpack(NULL, r.payload_len, r.payload);
	svc_reply_fini(&r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(br);
	CU_ASSERT_EQUAL_FATAL(br->n_replies, 3);
	CU_ASSERT_EQUAL(br->replies[0]->code, FLOWSVC__CODE__INVALID_ARGUMENT);
	FS_ASSERT_STR_EQ(br->replies[0]->message, "Not allowed in a batch.");
	CU_ASSERT_EQUAL(br->replies[1]->code, FLOWSVC__CODE__OK);
	CU_ASSERT_EQUAL(br->replies[2]->code, FLOWSVC__CODE__OK);
	flowsvc__batch_reply__free_unpacked(br, NULL);
	for (int i = 0; i < 3; i++) {
		free(bufs[i]);
		free(reqs[i]);
	}
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"create defaults, get", test_svc_create_defaults_and_get},
	    {"name and group rules", test_svc_name_rules},
	    {"field rules", test_svc_field_rules},
	    {"update keeps, bumps, read-only",
	        test_svc_update_keeps_and_bumps},
	    {"references, cycles, in use", test_svc_references_and_cycles},
	    {"lifecycle", test_svc_lifecycle},
	    {"expected_version: compare-and-set", test_svc_expected_version},
	    {"bad requests", test_svc_bad_requests},
	    {"stats count requests", test_svc_stats_count_requests},
	    {"hidden references stay hidden",
	        test_svc_hidden_references_stay_hidden},
	    {"batch answers each in order",
	        test_svc_batch_answers_each_in_order},
	    {"update: read-only fields checked once each",
	        test_svc_update_read_only_bounded},
	    {"handler table: the method table's methods, else UNIMPLEMENTED",
	        test_svc_handler_table},
	    {"batch members allowed by the method table",
	        test_svc_batch_members_from_table},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"svc", suite_init, suite_fini, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
