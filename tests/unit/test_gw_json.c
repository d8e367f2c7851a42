/*
 * test_gw_json.c - gateway/gw_json: body parsing and its error texts, the
 * create and update mappings (present, absent, empty, mistyped, unknown,
 * read-only), and the reply writers (key order, escaping, timestamps,
 * violations).
 */
#include <stdlib.h>
#include <string.h>

#include "gw_json.h"
#include "testlib.h"

/* ---- helpers ------------------------------------------------------------- */

static json_t *
load(const char *text)
{
	char detail[GW_JSON_DETAIL_MAX];
	json_t *v = gw_json_load_object(text, strlen(text), detail);

	FS_CHECK(v != NULL, "load %s: %s", text, detail);
	return v;
}

/* The detail text for a body that must be refused. */
static const char *
load_error(const char *text, size_t len)
{
	static char detail[GW_JSON_DETAIL_MAX];
	json_t *v = gw_json_load_object(text, len, detail);

	FS_CHECK(v == NULL, "load %s: accepted", text);
	json_decref(v);
	return detail;
}

static Flowsvc__CreateRequest *
create_from(const char *text)
{
	Flowsvc__CreateRequest *r = NULL;
	json_t *obj = load(text);

	if (obj == NULL)
		return NULL;
	FS_CHECK(gw_json_to_create(obj, FLOWSVC__KIND__FLOW, &r) == 0 &&
	        r != NULL,
	    "to_create %s", text);
	json_decref(obj);
	return r;
}

static Flowsvc__UpdateRequest *
update_from(const char *text)
{
	Flowsvc__UpdateRequest *r = NULL;
	json_t *obj = load(text);

	if (obj == NULL)
		return NULL;
	FS_CHECK(gw_json_to_update(obj, "some-id", FLOWSVC__KIND__APP, &r) ==
	            0 &&
	        r != NULL,
	    "to_update %s", text);
	json_decref(obj);
	return r;
}

/* A StringList as "a|b|c", "(absent)" for NULL, "" for empty. */
static const char *
list_text(const Flowsvc__StringList *l)
{
	static char out[512];
	size_t n = 0;

	if (l == NULL)
		return "(absent)";
	out[0] = '\0';
	for (size_t i = 0; i < l->n_items; i++)
		n += (size_t) snprintf(out + n, sizeof(out) - n, "%s%s",
		    i ? "|" : "", l->items[i]);
	return out;
}

static const char *
strs_text(size_t n_items, char **items)
{
	static char out[512];
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n_items; i++)
		n += (size_t) snprintf(out + n, sizeof(out) - n, "%s%s",
		    i ? "|" : "", items[i]);
	return out;
}

/* The message must survive a protobuf round trip: proof that it is a
 * well-formed message for the wire, not just a struct. */
static void
check_packs(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	ProtobufCMessage *back;

	FS_CHECK(buf != NULL, "malloc");
	if (buf == NULL)
		return;
	protobuf_c_message_pack(m, buf);
	back = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	FS_CHECK(back != NULL, "%s does not unpack", m->descriptor->name);
	if (back)
		protobuf_c_message_free_unpacked(back, NULL);
	free(buf);
}

static char *
render(void (*fn)(gw_buf *, const void *), const void *arg)
{
	gw_buf b = GW_BUF_INIT;
	size_t len;

	fn(&b, arg);
	return gw_buf_take(&b, &len);
}

/* ---- parsing ------------------------------------------------------------- */

static void
test_gw_json_load_object(void)
{
	char detail[GW_JSON_DETAIL_MAX];
	json_t *v;

	/* An empty body is an empty object (create and update treat it
	 * as {}). */
	v = gw_json_load_object("", 0, detail);
	FS_CHECK(json_is_object(v) && json_object_size(v) == 0, "empty");
	json_decref(v);
	v = load(" {\"a\": [1, {\"b\": null}]} \n");
	FS_CHECK(json_is_object(v) && json_object_size(v) == 1, "object");
	json_decref(v);
	/* Not NUL-terminated: len decides. */
	v = gw_json_load_object("{}garbage", 2, detail);
	FS_CHECK(json_is_object(v), "len bounds the body: %s", detail);
	json_decref(v);
}

static void
test_gw_json_load_errors(void)
{
	FS_ASSERT_STR_EQ(load_error("[1, 2]", 6),
	    "JSON parse error - expected a JSON object");
	FS_ASSERT_STR_EQ(load_error("\"x\"", 3),
	    "JSON parse error - expected a JSON object");
	FS_ASSERT_STR_EQ(load_error("42", 2),
	    "JSON parse error - expected a JSON object");
	FS_ASSERT_STR_EQ(load_error("null", 4),
	    "JSON parse error - expected a JSON object");
	FS_ASSERT_STR_EQ(load_error("{\"name\": }", 10),
	    "JSON parse error - unexpected token near '}' (line 1, column "
	    "10)");
	FS_ASSERT_STR_EQ(load_error("{\"a\": 1", 7),
	    "JSON parse error - '}' expected near end of file (line 1, "
	    "column 7)");
	FS_ASSERT_STR_EQ(load_error("{\n\"a\": 1,\n\"a\": 2}", 17),
	    "JSON parse error - duplicate object key near '\"a\"' (line 3, "
	    "column 3)");
	FS_ASSERT_STR_EQ(load_error("{} {}", 5),
	    "JSON parse error - end of file expected near '{' (line 1, "
	    "column 4)");
	/* Invalid UTF-8 and NUL inside strings are refused, not stored. */
	FS_CHECK(strncmp(load_error("{\"a\": \"\xff\"}", 10),
	             "JSON parse error - ", 19) == 0,
	    "bad utf-8");
	FS_CHECK(strncmp(load_error("{\"a\": \"\\u0000\"}", 15),
	             "JSON parse error - ", 19) == 0,
	    "NUL in string");
}

/* ---- create -------------------------------------------------------------- */

static void
test_gw_json_create_full(void)
{
	Flowsvc__CreateRequest *r = create_from(
	    "{\"name\": \"greet\", \"group\": \"g1\", "
	    "\"input_fields\": [\"a\", \"b\"], \"output_fields\": [], "
	    "\"flows\": [\"f1\"]}");

	if (r == NULL)
		return;
	FS_ASSERT_INT_EQ(r->kind, FLOWSVC__KIND__FLOW);
	FS_ASSERT_STR_EQ(r->name, "greet");
	FS_ASSERT_STR_EQ(r->group, "g1");
	FS_ASSERT_STR_EQ(list_text(r->input_fields), "a|b");
	/* Present and empty is not absent. */
	FS_CHECK(r->output_fields != NULL && r->output_fields->n_items == 0,
	    "output_fields: %s", list_text(r->output_fields));
	FS_ASSERT_STR_EQ(list_text(r->flows), "f1");
	FS_ASSERT_INT_EQ(r->n_unknown_fields, 0);
	FS_ASSERT_INT_EQ(r->n_mistyped_fields, 0);
	check_packs(&r->base);
	flowsvc__create_request__free_unpacked(r, NULL);
}

static void
test_gw_json_create_absent(void)
{
	Flowsvc__CreateRequest *r = create_from("{}");

	if (r == NULL)
		return;
	FS_CHECK(r->name == NULL && r->group == NULL, "name/group absent");
	FS_ASSERT_STR_EQ(list_text(r->input_fields), "(absent)");
	FS_ASSERT_STR_EQ(list_text(r->output_fields), "(absent)");
	FS_ASSERT_STR_EQ(list_text(r->flows), "(absent)");
	check_packs(&r->base);
	flowsvc__create_request__free_unpacked(r, NULL);

	/* JSON null for name and group is not absent: they may not be
	 * null, so they go as mistyped (the backend then refuses the
	 * create; gw_json_put_violations words it). */
	r = create_from("{\"name\": null, \"group\": null}");
	if (r == NULL)
		return;
	FS_CHECK(r->name == NULL && r->group == NULL, "null not mapped");
	FS_ASSERT_STR_EQ(strs_text(r->n_mistyped_fields, r->mistyped_fields),
	    "name|group");
	flowsvc__create_request__free_unpacked(r, NULL);

	/* Empty strings are present: the backend says what is wrong. */
	r = create_from("{\"name\": \"\", \"group\": \"\"}");
	if (r == NULL)
		return;
	FS_ASSERT_STR_EQ(r->name, "");
	FS_ASSERT_STR_EQ(r->group, "");
	flowsvc__create_request__free_unpacked(r, NULL);
}

static void
test_gw_json_create_mistyped(void)
{
	Flowsvc__CreateRequest *r = create_from(
	    "{\"name\": 5, \"group\": [\"g\"], \"input_fields\": \"a\", "
	    "\"output_fields\": [\"a\", 1], \"flows\": null}");

	if (r == NULL)
		return;
	FS_CHECK(r->name == NULL && r->group == NULL, "mistyped not mapped");
	FS_CHECK(r->input_fields == NULL && r->output_fields == NULL &&
	        r->flows == NULL,
	    "mistyped lists not mapped");
	FS_ASSERT_STR_EQ(strs_text(r->n_mistyped_fields, r->mistyped_fields),
	    "name|group|input_fields|output_fields|flows");
	FS_ASSERT_INT_EQ(r->n_unknown_fields, 0);
	check_packs(&r->base);
	flowsvc__create_request__free_unpacked(r, NULL);

	r = create_from("{\"name\": true, \"input_fields\": {}, "
	                "\"flows\": [[]]}");
	if (r == NULL)
		return;
	FS_ASSERT_STR_EQ(strs_text(r->n_mistyped_fields, r->mistyped_fields),
	    "name|input_fields|flows");
	flowsvc__create_request__free_unpacked(r, NULL);
}

static void
test_gw_json_create_unknown_and_read_only(void)
{
	Flowsvc__CreateRequest *r = create_from(
	    "{\"name\": \"n\", \"id\": \"x\", \"canvas_id\": 1, \"version\": "
	    "\"v\", \"created_at\": null, \"updated_at\": [], \"kind\": "
	    "\"app\", \"Name\": \"x\", \"extra\": {}}");

	if (r == NULL)
		return;
	FS_ASSERT_STR_EQ(r->name, "n");
	/* Read-only keys are ignored on create, whatever their type; all
	 * others are unknown, in body order. */
	FS_ASSERT_STR_EQ(strs_text(r->n_unknown_fields, r->unknown_fields),
	    "kind|Name|extra");
	FS_ASSERT_INT_EQ(r->n_mistyped_fields, 0);
	check_packs(&r->base);
	flowsvc__create_request__free_unpacked(r, NULL);
}

static void
test_gw_json_create_kind(void)
{
	Flowsvc__CreateRequest *r = NULL;
	json_t *obj = load("{\"name\": \"a\"}");

	FS_CHECK(gw_json_to_create(obj, FLOWSVC__KIND__APP, &r) == 0, "ok");
	FS_CHECK(r && r->kind == FLOWSVC__KIND__APP, "kind app");
	json_decref(obj);
	/* The result does not borrow from the JSON. */
	if (r)
		FS_ASSERT_STR_EQ(r->name, "a");
	flowsvc__create_request__free_unpacked(r, NULL);
}

/* ---- update -------------------------------------------------------------- */

static const Flowsvc__ReadOnlyField *
ro(const Flowsvc__UpdateRequest *r, const char *field)
{
	for (size_t i = 0; i < r->n_read_only; i++)
		if (strcmp(r->read_only[i]->field, field) == 0)
			return r->read_only[i];
	return NULL;
}

static void
test_gw_json_update_lists(void)
{
	Flowsvc__UpdateRequest *r =
	    update_from("{\"input_fields\": [\"x\"], \"flows\": []}");

	if (r == NULL)
		return;
	FS_ASSERT_STR_EQ(r->id, "some-id");
	FS_CHECK(r->has_kind && r->kind == FLOWSVC__KIND__APP, "kind");
	FS_ASSERT_STR_EQ(list_text(r->input_fields), "x");
	/* Absent keeps, empty clears: the difference must survive. */
	FS_ASSERT_STR_EQ(list_text(r->output_fields), "(absent)");
	FS_CHECK(r->flows != NULL && r->flows->n_items == 0, "flows: %s",
	    list_text(r->flows));
	FS_ASSERT_INT_EQ(r->n_read_only, 0);
	FS_ASSERT_INT_EQ(r->n_unknown_fields, 0);
	FS_ASSERT_INT_EQ(r->n_mistyped_fields, 0);
	check_packs(&r->base);
	flowsvc__update_request__free_unpacked(r, NULL);

	r = update_from("{}");
	if (r == NULL)
		return;
	FS_CHECK(r->input_fields == NULL && r->output_fields == NULL &&
	        r->flows == NULL,
	    "empty body changes nothing");
	check_packs(&r->base);
	flowsvc__update_request__free_unpacked(r, NULL);
}

static void
test_gw_json_update_mistyped_unknown(void)
{
	Flowsvc__UpdateRequest *r = update_from(
	    "{\"input_fields\": null, \"output_fields\": [1], \"flows\": "
	    "\"f\", \"color\": \"red\", \"kind\": 1}");

	if (r == NULL)
		return;
	FS_ASSERT_STR_EQ(strs_text(r->n_mistyped_fields, r->mistyped_fields),
	    "input_fields|output_fields|flows");
	FS_ASSERT_STR_EQ(strs_text(r->n_unknown_fields, r->unknown_fields),
	    "color|kind");
	FS_CHECK(r->input_fields == NULL && r->output_fields == NULL &&
	        r->flows == NULL,
	    "mistyped lists not mapped");
	check_packs(&r->base);
	flowsvc__update_request__free_unpacked(r, NULL);
}

static void
test_gw_json_update_read_only(void)
{
	Flowsvc__UpdateRequest *r = update_from(
	    "{\"id\": \"some-id\", \"name\": \"n\", \"group\": \"g\", "
	    "\"canvas_id\": \"c\", \"version\": 3, \"created_at\": "
	    "\"2026-11-29T02:13:41.123456Z\", \"updated_at\": \"u\"}");
	static const char *const fields[] = {"id", "name", "group",
	    "canvas_id", "version", "created_at", "updated_at"};
	static const char *const values[] = {"some-id", "n", "g", "c", "3",
	    "2026-11-29T02:13:41.123456Z", "u"};

	if (r == NULL)
		return;
	FS_ASSERT_INT_EQ(r->n_read_only, 7);
	for (size_t i = 0; i < 7; i++) {
		const Flowsvc__ReadOnlyField *f = ro(r, fields[i]);

		FS_CHECK(f != NULL, "read-only %s forwarded", fields[i]);
		if (f == NULL)
			continue;
		FS_ASSERT_STR_EQ(f->value, values[i]);
		FS_CHECK(!f->has_wrong_type || !f->wrong_type,
		    "%s not wrong_type", fields[i]);
	}
	FS_ASSERT_INT_EQ(r->n_unknown_fields, 0);
	check_packs(&r->base);
	flowsvc__update_request__free_unpacked(r, NULL);
}

static void
test_gw_json_update_read_only_types(void)
{
	Flowsvc__UpdateRequest *r = update_from(
	    "{\"name\": 5, \"group\": null, \"version\": \"7\", \"id\": [], "
	    "\"canvas_id\": {}, \"created_at\": 1.5, \"updated_at\": false}");
	const Flowsvc__ReadOnlyField *f;

	if (r == NULL)
		return;
	FS_ASSERT_INT_EQ(r->n_read_only, 7);
	/* A string version is passed as its text: the backend compares. */
	f = ro(r, "version");
	FS_CHECK(f && f->value && strcmp(f->value, "7") == 0 &&
	        !(f->has_wrong_type && f->wrong_type),
	    "version \"7\"");
	for (size_t i = 0; i < r->n_read_only; i++) {
		f = r->read_only[i];
		if (strcmp(f->field, "version") == 0)
			continue;
		FS_CHECK(f->has_wrong_type && f->wrong_type &&
		        f->value == NULL,
		    "%s: wrong_type without value", f->field);
	}
	check_packs(&r->base);
	flowsvc__update_request__free_unpacked(r, NULL);

	r = update_from("{\"version\": 1.0}");
	if (r == NULL)
		return;
	f = ro(r, "version");
	FS_CHECK(f && f->has_wrong_type && f->wrong_type, "version real");
	flowsvc__update_request__free_unpacked(r, NULL);

	r = update_from("{\"version\": -12}");
	if (r == NULL)
		return;
	f = ro(r, "version");
	FS_CHECK(f && f->value && strcmp(f->value, "-12") == 0, "version -12");
	flowsvc__update_request__free_unpacked(r, NULL);
}

/* ---- replies ------------------------------------------------------------- */

static void
put_component_cb(gw_buf *b, const void *arg)
{
	gw_json_put_component(b, arg);
}

static void
test_gw_json_component(void)
{
	char *in[] = {"a", "b"};
	char *fl[] = {"11111111-2222-4333-8444-555555555555"};
	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;
	char *s;
	json_t *v;

	c.id = "0b5e4a1c-7a9f-4a56-9c0e-0d5c3f1e2a3b";
	c.kind = FLOWSVC__KIND__APP;
	c.name = "greet";
	c.group = "default";
	c.n_input_fields = 2;
	c.input_fields = in;
	c.canvas_id = "9d2a8c8e-3b1f-4e5d-a6c7-b8d9e0f1a2b3";
	c.n_flows = 1;
	c.flows = fl;
	c.version = 3;
	c.created_at_us = 1700000000123456;
	c.updated_at_us = 1700000001000001;

	s = render(put_component_cb, &c);
	FS_ASSERT_STR_EQ(s,
	    "{\"id\":\"0b5e4a1c-7a9f-4a56-9c0e-0d5c3f1e2a3b\","
	    "\"name\":\"greet\",\"group\":\"default\","
	    "\"input_fields\":[\"a\",\"b\"],\"output_fields\":[],"
	    "\"canvas_id\":\"9d2a8c8e-3b1f-4e5d-a6c7-b8d9e0f1a2b3\","
	    "\"flows\":[\"11111111-2222-4333-8444-555555555555\"],"
	    "\"version\":3,"
	    "\"created_at\":\"2023-11-14T22:13:20.123456Z\","
	    "\"updated_at\":\"2023-11-14T22:13:21.000001Z\"}");
	/* And it is JSON that parses back, without a kind key. */
	v = s ? json_loads(s, 0, NULL) : NULL;
	FS_CHECK(json_is_object(v) && json_object_get(v, "kind") == NULL &&
	        json_object_size(v) == 10,
	    "parses, 10 keys, no kind");
	json_decref(v);
	free(s);
}

static void
put_components_cb(gw_buf *b, const void *arg)
{
	const Flowsvc__ListReply *l = arg;

	gw_json_put_components(b, l->n_components, l->components);
}

static void
test_gw_json_components(void)
{
	Flowsvc__Component a = FLOWSVC__COMPONENT__INIT;
	Flowsvc__Component *arr[2] = {&a, &a};
	Flowsvc__ListReply l = FLOWSVC__LIST_REPLY__INIT;
	json_t *v;
	char *s;

	s = render(put_components_cb, &l);
	FS_ASSERT_STR_EQ(s, "[]");
	free(s);

	a.id = "i";
	a.name = "n";
	a.group = "g";
	a.canvas_id = "c";
	l.n_components = 2;
	l.components = arr;
	s = render(put_components_cb, &l);
	v = s ? json_loads(s, 0, NULL) : NULL;
	FS_CHECK(json_is_array(v) && json_array_size(v) == 2, "2 items: %s",
	    s ? s : "(null)");
	FS_CHECK(s && strncmp(s, "[{\"id\":\"i\",", 11) == 0, "%s", s);
	json_decref(v);
	free(s);
}

static void
put_status_cb(gw_buf *b, const void *arg)
{
	gw_json_put_status(b, *(const Flowsvc__Status *) arg);
}

static void
test_gw_json_status(void)
{
	static const struct {
		Flowsvc__Status s;
		const char *json;
	} cases[] = {
	    {FLOWSVC__STATUS__NOT_DEPLOYED, "{\"status\":\"not-deployed\"}"},
	    {FLOWSVC__STATUS__STARTED, "{\"status\":\"started\"}"},
	    {FLOWSVC__STATUS__STOPPED, "{\"status\":\"stopped\"}"},
	    {(Flowsvc__Status) 42, "{\"status\":\"unknown\"}"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = render(put_status_cb, &cases[i].s);

		FS_ASSERT_STR_EQ(s, cases[i].json);
		free(s);
	}
}

static void
put_string_cb(gw_buf *b, const void *arg)
{
	gw_json_put_string(b, arg);
}

static void
put_detail_cb(gw_buf *b, const void *arg)
{
	gw_json_put_detail(b, arg);
}

static void
test_gw_json_escaping(void)
{
	char *s = render(put_string_cb,
	    "q\" b\\ n\n t\t r\r b\b f\f \x01\x1f \x7f /\xc3\xa9");
	json_t *v;

	FS_ASSERT_STR_EQ(s,
	    "\"q\\\" b\\\\ n\\n t\\t r\\r b\\b f\\f "
	    "\\u0001\\u001f \x7f /\xc3\xa9\"");
	v = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
	FS_CHECK(json_is_string(v) &&
	        strcmp(json_string_value(v),
	            "q\" b\\ n\n t\t r\r b\b f\f \x01\x1f \x7f /\xc3\xa9") ==
	            0,
	    "round trip");
	json_decref(v);
	free(s);

	s = render(put_string_cb, NULL);
	FS_ASSERT_STR_EQ(s, "\"\"");
	free(s);
	s = render(put_detail_cb, "Method \"PATCH\" not allowed.");
	FS_ASSERT_STR_EQ(s,
	    "{\"detail\":\"Method \\\"PATCH\\\" not "
	    "allowed.\"}");
	free(s);
}

struct viol_case {
	size_t n;
	Flowsvc__FieldViolation **v;
	unsigned nulls;
};

static void
put_viol_cb(gw_buf *b, const void *arg)
{
	const struct viol_case *c = arg;

	gw_json_put_violations(b, c->n, c->v, c->nulls);
}

static void
test_gw_json_violations(void)
{
	char *m1[] = {"This field is required."};
	char *m2[] = {"Expected a list of strings.", "Second."};
	char *m3[] = {"Unknown field."};
	char *m4[] = {"Again."};
	Flowsvc__FieldViolation a = FLOWSVC__FIELD_VIOLATION__INIT;
	Flowsvc__FieldViolation b = FLOWSVC__FIELD_VIOLATION__INIT;
	Flowsvc__FieldViolation c = FLOWSVC__FIELD_VIOLATION__INIT;
	Flowsvc__FieldViolation d = FLOWSVC__FIELD_VIOLATION__INIT;
	Flowsvc__FieldViolation *all[] = {&a, &b, &c, &d};
	struct viol_case vc = {1, all, 0};
	char *s;

	a.field = "name";
	a.n_messages = 1;
	a.messages = m1;
	b.field = "input_fields";
	b.n_messages = 2;
	b.messages = m2;
	c.field = "x\"y";
	c.n_messages = 1;
	c.messages = m3;
	d.field = "name";
	d.n_messages = 1;
	d.messages = m4;

	s = render(put_viol_cb, &vc);
	FS_ASSERT_STR_EQ(s, "{\"name\":[\"This field is required.\"]}");
	free(s);

	/* One key per field, in first-seen order; repeats merged. */
	vc.n = 4;
	s = render(put_viol_cb, &vc);
	FS_ASSERT_STR_EQ(s,
	    "{\"name\":[\"This field is required.\",\"Again.\"],"
	    "\"input_fields\":[\"Expected a list of strings.\",\"Second.\"],"
	    "\"x\\\"y\":[\"Unknown field.\"]}");
	free(s);

	vc.n = 0;
	s = render(put_viol_cb, &vc);
	FS_ASSERT_STR_EQ(s, "{}");
	free(s);

	/* Fields the body sent as null say only that, whatever the backend
	 * made of them; the others keep their messages. */
	vc.n = 4;
	vc.nulls = GW_NULL_NAME | GW_NULL_INPUT_FIELDS | GW_NULL_FLOWS;
	s = render(put_viol_cb, &vc);
	FS_ASSERT_STR_EQ(s,
	    "{\"name\":[\"This field may not be null.\"],"
	    "\"input_fields\":[\"This field may not be null.\"],"
	    "\"x\\\"y\":[\"Unknown field.\"]}");
	free(s);
}

/* Which keys a body holds as null: the five that may not be. */
static void
test_gw_json_nulls(void)
{
	static const struct {
		const char *body;
		unsigned nulls;
	} cases[] = {
	    {"{}", 0},
	    {"{\"name\": \"a\", \"group\": \"g\", \"flows\": []}", 0},
	    {"{\"name\": null}", GW_NULL_NAME},
	    {"{\"group\": null, \"flows\": null}",
	        GW_NULL_GROUP | GW_NULL_FLOWS},
	    {"{\"input_fields\": null, \"output_fields\": null}",
	        GW_NULL_INPUT_FIELDS | GW_NULL_OUTPUT_FIELDS},
	    /* Only the keys themselves, not items nor other keys. */
	    {"{\"input_fields\": [null], \"colour\": null, \"id\": null}", 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *o = json_loads(cases[i].body, 0, NULL);

		FS_CHECK(o != NULL && gw_json_nulls(o) == cases[i].nulls,
		    "%s: nulls %#x, expected %#x", cases[i].body,
		    o ? gw_json_nulls(o) : 0u, cases[i].nulls);
		json_decref(o);
	}
}

/* Many entries (a backend is trusted, but the merge must not be
 * quadratic): three fields interleaved 20,000 times each, merged in
 * first-seen order with every message in entry order. */
static void
test_gw_json_violations_many(void)
{
	enum { N = 60000 };
	static char *msgs[N][1];
	static char text[N][8];
	Flowsvc__FieldViolation *v = calloc(N, sizeof(*v));
	Flowsvc__FieldViolation **all = calloc(N, sizeof(*all));
	static const char *const fields[] = {"zeta", "alpha", "mid"};
	gw_buf b = GW_BUF_INIT;
	size_t len;
	char *s;

	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_PTR_NOT_NULL_FATAL(all);
	for (int i = 0; i < N; i++) {
		flowsvc__field_violation__init(&v[i]);
		v[i].field = (char *) fields[i % 3];
		snprintf(text[i], sizeof(text[i]), "%d", i);
		msgs[i][0] = text[i];
		v[i].messages = msgs[i];
		v[i].n_messages = 1;
		all[i] = &v[i];
	}
	gw_json_put_violations(&b, N, all, 0);
	s = gw_buf_take(&b, &len);
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;
	FS_CHECK(j != NULL && json_object_size(j) == 3, "three keys");
	FS_CHECK(s && strncmp(s, "{\"zeta\":[\"0\",\"3\",", 17) == 0 &&
	        strstr(s, "],\"alpha\":[\"1\",\"4\",") != NULL &&
	        strstr(s, "],\"mid\":[\"2\",\"5\",") != NULL,
	    "first-seen order, messages in order");
	for (int k = 0; j && k < 3; k++) {
		json_t *a = json_object_get(j, fields[k]);
		FS_CHECK(json_array_size(a) == N / 3 &&
		        strcmp(json_string_value(json_array_get(a, N / 3 - 1)),
		            text[N - 3 + k]) == 0,
		    "%s holds all its messages", fields[k]);
	}
	json_decref(j);
	free(s);
	free(all);
	free(v);
}

/* A body of 100,000 unknown keys: the first in body order, and a count. */
static void
test_gw_json_many_unknown(void)
{
	enum { N = 100000 };
	json_t *obj = json_object();
	Flowsvc__CreateRequest *r = NULL;
	Flowsvc__UpdateRequest *u = NULL;
	char key[16];

	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		json_object_set_new(obj, key, json_integer(i));
	}
	FS_CHECK(gw_json_to_create(obj, FLOWSVC__KIND__FLOW, &r) == 0 && r,
	    "create maps");
	FS_CHECK(gw_json_to_update(obj, "id", FLOWSVC__KIND__FLOW, &u) == 0 &&
	        u,
	    "update maps");
	/* The first ones a reply can list are named, the rest counted. */
	if (r != NULL) {
		FS_ASSERT_INT_EQ(r->n_unknown_fields, FS_VIOLATIONS_MAX);
		FS_ASSERT_STR_EQ(r->unknown_fields[0], "k0");
		FS_ASSERT_STR_EQ(r->unknown_fields[FS_VIOLATIONS_MAX - 1],
		    "k99");
		FS_CHECK(r->has_unknown_fields_omitted &&
		        r->unknown_fields_omitted == N - FS_VIOLATIONS_MAX,
		    "omitted %u", (unsigned) r->unknown_fields_omitted);
		check_packs(&r->base);
	}
	if (u != NULL) {
		FS_ASSERT_INT_EQ(u->n_unknown_fields, FS_VIOLATIONS_MAX);
		FS_CHECK(u->has_unknown_fields_omitted &&
		        u->unknown_fields_omitted == N - FS_VIOLATIONS_MAX,
		    "omitted %u", (unsigned) u->unknown_fields_omitted);
	}
	flowsvc__create_request__free_unpacked(r, NULL);
	flowsvc__update_request__free_unpacked(u, NULL);
	json_decref(obj);
}

static void
test_gw_json_buf(void)
{
	gw_buf b = GW_BUF_INIT;
	size_t len = 99;
	char *p;

	/* An empty buffer hands out nothing. */
	FS_CHECK(gw_buf_take(&b, &len) == NULL && len == 0, "empty take");
	/* Growth across many doublings keeps every byte. */
	for (int i = 0; i < 10000; i++)
		gw_buf_put(&b, "0123456789", 10);
	FS_CHECK(!b.oom && b.len == 100000, "len %zu", b.len);
	p = gw_buf_take(&b, &len);
	FS_CHECK(p && len == 100000 && p[len] == '\0' &&
	        memcmp(p + 99990, "0123456789", 10) == 0,
	    "content");
	FS_CHECK(b.data == NULL && b.len == 0, "take empties");
	free(p);
	gw_buf_puts(&b, "x");
	gw_buf_reset(&b);
	FS_CHECK(b.data == NULL && b.len == 0 && !b.oom, "reset");
}

static CU_TestInfo json_tests[] = {
    {"load: objects, empty body", test_gw_json_load_object},
    {"load: error texts", test_gw_json_load_errors},
    {"create: every field", test_gw_json_create_full},
    {"create: absent, null, empty", test_gw_json_create_absent},
    {"keys sent as null", test_gw_json_nulls},
    {"create: mistyped fields", test_gw_json_create_mistyped},
    {"create: unknown and read-only keys",
        test_gw_json_create_unknown_and_read_only},
    {"create: kind, no borrowing", test_gw_json_create_kind},
    {"update: lists present, absent, empty", test_gw_json_update_lists},
    {"update: mistyped and unknown", test_gw_json_update_mistyped_unknown},
    {"update: read-only values", test_gw_json_update_read_only},
    {"update: read-only wrong types", test_gw_json_update_read_only_types},
    {"component: key order, timestamps", test_gw_json_component},
    {"component lists", test_gw_json_components},
    {"status", test_gw_json_status},
    {"string escaping", test_gw_json_escaping},
    {"violations", test_gw_json_violations},
    {"violations: 60,000 entries merged", test_gw_json_violations_many},
    {"create/update: 100,000 unknown keys", test_gw_json_many_unknown},
    {"buffer", test_gw_json_buf},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gw_json", NULL, NULL, NULL, NULL, json_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
