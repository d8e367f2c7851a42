/*
 * gw_json.c - JSON <-> protobuf mapping of the REST surface.
 *
 * Messages built here are made of malloc'd memory only (no static empty
 * strings, no borrowed pointers), which is what lets callers release them
 * with protobuf-c's *__free_unpacked(msg, NULL), whose default allocator is
 * malloc/free.
 */
#include "gw_json.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "fs_methods.h"
#include "fs_rpc.h"
#include "fs_util.h"

static int buf_grow(gw_buf *b, size_t need);
static char *xstrdup(const char *s);
static int push_str(size_t *n, char ***arr, const char *s);
static int map_list(const json_t *v, Flowsvc__StringList **out, int *bad);

/* A new message of type d, initialised; NULL when out of memory. */
static void *
msg_new(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);

	if (m != NULL)
		protobuf_c_message_init(d, m);
	return m;
}

/* ---- output buffer ----------------------------------------------------- */

static int
buf_grow(gw_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (b->oom)
		return -1;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			b->oom = true;
			return -1;
		}
		cap *= 2;
	}
	if ((p = realloc(b->data, cap)) == NULL) {
		b->oom = true;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void
gw_buf_put(gw_buf *b, const char *s, size_t n)
{
	/* +1 keeps room for the terminating NUL. */
	if (b->oom || (b->len + n + 1 > b->cap && buf_grow(b, b->len + n + 1)))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
gw_buf_puts(gw_buf *b, const char *s)
{
	gw_buf_put(b, s, strlen(s));
}

char *
gw_buf_take(gw_buf *b, size_t *len)
{
	char *p = b->data;

	*len = b->len;
	if (b->oom || b->len == 0) {
		free(p);
		p = NULL;
		*len = 0;
	}
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = false;
	return p;
}

void
gw_buf_reset(gw_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

void
gw_json_put_string(gw_buf *b, const char *s)
{
	/* The short escapes JSON has; other control characters are \u00XX. */
	static const char shortesc[0x60] = {['"'] = '"',
	    ['\\'] = '\\',
	    ['\b'] = 'b',
	    ['\f'] = 'f',
	    ['\n'] = 'n',
	    ['\r'] = 'r',
	    ['\t'] = 't'};
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *) (s ? s : "");
	const unsigned char *run = p;

	gw_buf_put(b, "\"", 1);
	for (; *p; p++) {
		char esc[6] = {'\\', 0, '0', '0', hex[*p >> 4], hex[*p & 0xf]};

		if (*p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		gw_buf_put(b, (const char *) run, (size_t) (p - run));
		run = p + 1;
		esc[1] = shortesc[*p] ? shortesc[*p] : 'u';
		gw_buf_put(b, esc, shortesc[*p] ? 2 : 6);
	}
	gw_buf_put(b, (const char *) run, (size_t) (p - run));
	gw_buf_put(b, "\"", 1);
}

/* ---- requests ---------------------------------------------------------- */

/* The keys of the GW_NULL_ bits, in bit order. */
static const char *const null_keys[] = {"name", "group", "input_fields",
    "output_fields", "flows"};
#define N_NULL_KEYS (sizeof(null_keys) / sizeof(null_keys[0]))

unsigned
gw_json_nulls(const json_t *obj)
{
	unsigned m = 0;

	for (size_t i = 0; i < N_NULL_KEYS; i++)
		if (json_is_null(json_object_get(obj, null_keys[i])))
			m |= 1u << i;
	return m;
}

/* The GW_NULL_ bit of field, 0 when it has none. */
static unsigned
null_bit(const char *field)
{
	for (size_t i = 0; i < N_NULL_KEYS; i++)
		if (strcmp(field, null_keys[i]) == 0)
			return 1u << i;
	return 0;
}

json_t *
gw_json_load_object(const char *data, size_t len,
    char detail[GW_JSON_DETAIL_MAX])
{
	json_error_t err;
	json_t *v;
	char what[GW_JSON_DETAIL_MAX];

	detail[0] = '\0';
	if (len == 0) {
		if ((v = json_object()) == NULL)
			fs_rest_format(FS_REST_JSON_PARSE, "out of memory",
			    detail, GW_JSON_DETAIL_MAX);
		return v;
	}
	/* DECODE_ANY so that a scalar body gets the "expected a JSON object"
	 * message rather than jansson's "'[' or '{' expected". */
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	    &err);
	if (v == NULL) {
		snprintf(what, sizeof(what), "%s (line %d, column %d)",
		    err.text, err.line, err.column);
		fs_rest_format(FS_REST_JSON_PARSE, what, detail,
		    GW_JSON_DETAIL_MAX);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		fs_rest_format(FS_REST_JSON_PARSE, "expected a JSON object",
		    detail, GW_JSON_DETAIL_MAX);
		return NULL;
	}
	return v;
}

static char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

/* Appends a copy of s to a protobuf-c repeated string field. The array
 * doubles when n reaches a power of two (its capacity is implied by n), so
 * a body of 100k unknown keys costs O(n) copying, not O(n^2). */
static int
push_str(size_t *n, char ***arr, const char *s)
{
	char **a = *arr;

	if ((*n & (*n - 1)) == 0) {
		size_t cap = *n ? *n * 2 : 1;
		if (cap > SIZE_MAX / sizeof(*a) ||
		    (a = realloc(*arr, cap * sizeof(*a))) == NULL)
			return -1;
		*arr = a;
	}
	if ((a[*n] = xstrdup(s)) == NULL)
		return -1;
	(*n)++;
	return 0;
}

/* An array of strings -> StringList. Anything else sets *bad and leaves
 * *out NULL. Returns -1 only when out of memory (*out then freed). */
static int
map_list(const json_t *v, Flowsvc__StringList **out, int *bad)
{
	Flowsvc__StringList *l;
	size_t i, n;

	*out = NULL;
	*bad = 0;
	if (!json_is_array(v)) {
		*bad = 1;
		return 0;
	}
	n = json_array_size(v);
	for (i = 0; i < n; i++) {
		if (!json_is_string(json_array_get(v, i))) {
			*bad = 1;
			return 0;
		}
	}
	if ((l = msg_new(&flowsvc__string_list__descriptor)) == NULL)
		return -1;
	if (n > 0 && (l->items = calloc(n, sizeof(char *))) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		l->items[i] = xstrdup(json_string_value(json_array_get(v, i)));
		if (l->items[i] == NULL)
			goto oom;
		l->n_items = i + 1;
	}
	*out = l;
	return 0;
oom:
	flowsvc__string_list__free_unpacked(l, NULL);
	return -1;
}

/* An unknown key: named while the backend could still list it
 * (FS_VIOLATIONS_MAX), counted after. */
static int
push_unknown(size_t *n, char ***arr, protobuf_c_boolean *has,
    uint32_t *omitted, const char *key)
{
	if (*n < FS_VIOLATIONS_MAX)
		return push_str(n, arr, key);
	*has = 1;
	if (*omitted < UINT32_MAX)
		(*omitted)++;
	return 0;
}

static int
is_one_of(const char *key, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(key, *set) == 0)
			return 1;
	return 0;
}

/* Where the keys that create and update share go: the three lists, the
 * names of keys of the wrong type, and unknown keys. */
struct body_slots {
	Flowsvc__StringList *
	    *lists[3]; /* input_fields, output_fields, flows */
	size_t *n_mistyped;
	char ***mistyped;
	size_t *n_unknown;
	char ***unknown;
	protobuf_c_boolean *has_omitted;
	uint32_t *omitted;
};

/* The slots of r, a create or an update message: both have these
 * fields. */
#define BODY_SLOTS(r)                                                         \
	{                                                                     \
		{&(r)->input_fields, &(r)->output_fields, &(r)->flows},       \
		    &(r)->n_mistyped_fields, &(r)->mistyped_fields,           \
		    &(r)->n_unknown_fields, &(r)->unknown_fields,             \
		    &(r)->has_unknown_fields_omitted,                         \
		    &(r)->unknown_fields_omitted                              \
	}

/* A list key into its slot, or its name among the mistyped. Returns 1
 * when key is a list key, 0 when not, -1 when out of memory. */
static int
map_list_key(const struct body_slots *bs, const char *key, const json_t *v)
{
	static const char *const list_keys[] = {"input_fields",
	    "output_fields", "flows"};
	int bad;

	for (size_t i = 0; i < 3; i++) {
		if (strcmp(key, list_keys[i]) != 0)
			continue;
		if (map_list(v, bs->lists[i], &bad) ||
		    (bad && push_str(bs->n_mistyped, bs->mistyped, key)))
			return -1;
		return 1;
	}
	return 0;
}

/* An unknown key (see push_unknown). */
static int
map_unknown_key(const struct body_slots *bs, const char *key)
{
	return push_unknown(bs->n_unknown, bs->unknown, bs->has_omitted,
	    bs->omitted, key);
}

int
gw_json_to_create(const json_t *obj, Flowsvc__Kind kind,
    Flowsvc__CreateRequest **out)
{
	/* Read-only on create: DRF ignores them, and so do we. */
	static const char *const ignored[] = {"id", "canvas_id", "version",
	    "created_at", "updated_at", NULL};
	Flowsvc__CreateRequest *r =
	    msg_new(&flowsvc__create_request__descriptor);
	const char *key;
	json_t *v;

	*out = NULL;
	if (r == NULL)
		return -1;
	r->kind = kind;
	const struct body_slots bs = BODY_SLOTS(r);

	json_object_foreach((json_t *) obj, key, v)
	{
		int list = map_list_key(&bs, key, v);

		if (list < 0)
			goto oom;
		if (list > 0 || is_one_of(key, ignored))
			continue;
		if (strcmp(key, "name") != 0 && strcmp(key, "group") != 0) {
			if (map_unknown_key(&bs, key))
				goto oom;
			continue;
		}
		char **slot = key[0] == 'n' ? &r->name : &r->group;

		/* null too: not a string (see GW_NULL_NAME) */
		if (!json_is_string(v)) {
			if (push_str(bs.n_mistyped, bs.mistyped, key))
				goto oom;
		} else if ((*slot = xstrdup(json_string_value(v))) == NULL) {
			goto oom;
		}
	}
	*out = r;
	return 0;
oom:
	flowsvc__create_request__free_unpacked(r, NULL);
	return -1;
}

/* A read-only key sent with an update -> ReadOnlyField. */
static int
push_read_only(Flowsvc__UpdateRequest *r, const char *key, const json_t *v)
{
	Flowsvc__ReadOnlyField **a, *f;
	char num[32];
	const char *text = NULL;

	if (json_is_string(v)) {
		/* For version too: the backend compares the decimal text, so
		 * "3" matches 3 like DRF's IntegerField would accept it. */
		text = json_string_value(v);
	} else if (json_is_integer(v) && strcmp(key, "version") == 0) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		text = num;
	}
	a = realloc(r->read_only, (r->n_read_only + 1) * sizeof(*a));
	if (a == NULL)
		return -1;
	r->read_only = a;
	if ((f = msg_new(&flowsvc__read_only_field__descriptor)) == NULL)
		return -1;
	f->field = NULL;
	a[r->n_read_only++] = f; /* owned by r from here on */
	if ((f->field = xstrdup(key)) == NULL)
		return -1;
	if (text == NULL) {
		f->has_wrong_type = 1;
		f->wrong_type = 1;
	} else if ((f->value = xstrdup(text)) == NULL) {
		return -1;
	}
	return 0;
}

int
gw_json_to_update(const json_t *obj, const char *id, Flowsvc__Kind kind,
    Flowsvc__UpdateRequest **out)
{
	static const char *const read_only[] = {"id", "name", "group",
	    "canvas_id", "version", "created_at", "updated_at", NULL};
	Flowsvc__UpdateRequest *r =
	    msg_new(&flowsvc__update_request__descriptor);
	json_t *v;
	const char *key;

	*out = NULL;
	if (r == NULL)
		return -1;
	r->id = NULL; /* never the static empty string: see the file comment */
	r->has_kind = 1;
	r->kind = kind;
	if ((r->id = xstrdup(id)) == NULL)
		goto oom;
	const struct body_slots bs = BODY_SLOTS(r);

	json_object_foreach((json_t *) obj, key, v)
	{
		int list = map_list_key(&bs, key, v);
		int rv = list != 0              ? list
		    : is_one_of(key, read_only) ? push_read_only(r, key, v)
		                                : map_unknown_key(&bs, key);

		if (rv < 0)
			goto oom;
	}
	*out = r;
	return 0;
oom:
	flowsvc__update_request__free_unpacked(r, NULL);
	return -1;
}

/* ---- replies ----------------------------------------------------------- */

static void
put_key(gw_buf *b, const char *lit_with_quotes_and_colon)
{
	gw_buf_puts(b, lit_with_quotes_and_colon);
}

static void
put_str_array(gw_buf *b, size_t n, char *const *items)
{
	if (n == 0)
		gw_buf_put(b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		gw_buf_put(b, i == 0 ? "[" : ",", 1);
		gw_json_put_string(b, items[i]);
	}
	gw_buf_put(b, "]", 1);
}

static void
put_time(gw_buf *b, int64_t us)
{
	char t[FS_TIME_STRLEN + 1];

	fs_time_format(us, t);
	gw_buf_put(b, "\"", 1);
	gw_buf_puts(b, t);
	gw_buf_put(b, "\"", 1);
}

void
gw_json_put_component(gw_buf *b, const Flowsvc__Component *c)
{
	char num[32];
	int n;

	put_key(b, "{\"id\":");
	gw_json_put_string(b, c->id);
	put_key(b, ",\"name\":");
	gw_json_put_string(b, c->name);
	put_key(b, ",\"group\":");
	gw_json_put_string(b, c->group);
	put_key(b, ",\"input_fields\":");
	put_str_array(b, c->n_input_fields, c->input_fields);
	put_key(b, ",\"output_fields\":");
	put_str_array(b, c->n_output_fields, c->output_fields);
	put_key(b, ",\"canvas_id\":");
	gw_json_put_string(b, c->canvas_id);
	put_key(b, ",\"flows\":");
	put_str_array(b, c->n_flows, c->flows);
	put_key(b, ",\"version\":");
	n = snprintf(num, sizeof(num), "%" PRId64, c->version);
	gw_buf_put(b, num, (size_t) n);
	put_key(b, ",\"created_at\":");
	put_time(b, c->created_at_us);
	put_key(b, ",\"updated_at\":");
	put_time(b, c->updated_at_us);
	gw_buf_put(b, "}", 1);
}

void
gw_json_put_components(gw_buf *b, size_t n, Flowsvc__Component *const *comps)
{
	gw_buf_put(b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			gw_buf_put(b, ",", 1);
		gw_json_put_component(b, comps[i]);
	}
	gw_buf_put(b, "]", 1);
}

void
gw_json_put_status(gw_buf *b, Flowsvc__Status s)
{
	put_key(b, "{\"status\":");
	gw_json_put_string(b, fs_status_name((int) s));
	gw_buf_put(b, "}", 1);
}

void
gw_json_put_detail(gw_buf *b, const char *msg)
{
	put_key(b, "{\"detail\":");
	gw_json_put_string(b, msg);
	gw_buf_put(b, "}", 1);
}

/* One field of a violation list: where it first appears, and the run of
 * entries naming it in the sorted index. */
struct viol_group {
	size_t first, start, len;
};

struct viol_ix {
	size_t i; /* position in the reply */
	const char *field;
};

/* By field, then by position: the entries of one field together, in the
 * order the backend gave them. */
static int
cmp_viol_ix(const void *a, const void *b)
{
	const struct viol_ix *x = a, *y = b;
	int c = strcmp(x->field, y->field);

	return c != 0 ? c : (x->i > y->i) - (x->i < y->i);
}

static int
cmp_viol_group(const void *a, const void *b)
{
	const struct viol_group *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

void
gw_json_put_violations(gw_buf *b, size_t n, Flowsvc__FieldViolation *const *v,
    unsigned nulls)
{
	struct viol_ix *ix = NULL;
	struct viol_group *g = NULL;
	size_t ng = 0;
	int first_key = 1;

	/* Merging entries of the same field by sorting (field, position),
	 * then ordering the fields by first appearance: O(n log n) however
	 * many entries a reply holds. */
	if (n > 0 &&
	    ((ix = malloc(n * sizeof(*ix))) == NULL ||
	        (g = malloc(n * sizeof(*g))) == NULL)) {
		free(ix);
		b->oom = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		ix[i].field = v[i]->field != NULL ? v[i]->field : "";
		ix[i].i = i;
	}
	if (n > 0)
		qsort(ix, n, sizeof(*ix), cmp_viol_ix);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(ix[i].field, ix[i - 1].field) != 0) {
			g[ng].first = ix[i].i;
			g[ng].start = i;
			g[ng].len = 0;
			ng++;
		}
		g[ng - 1].len++;
	}
	if (ng > 0)
		qsort(g, ng, sizeof(*g), cmp_viol_group);

	gw_buf_put(b, "{", 1);
	for (size_t k = 0; k < ng; k++) {
		int first_msg = 1;

		if (!first_key)
			gw_buf_put(b, ",", 1);
		first_key = 0;
		gw_json_put_string(b, ix[g[k].start].field);
		gw_buf_put(b, ":[", 2);
		if ((nulls & null_bit(ix[g[k].start].field)) != 0) {
			/* Its only problem, whatever the backend made of
			 * it (see GW_NULL_NAME). */
			gw_json_put_string(b, "This field may not be null.");
			gw_buf_put(b, "]", 1);
			continue;
		}
		for (size_t j = g[k].start; j < g[k].start + g[k].len; j++) {
			const Flowsvc__FieldViolation *e = v[ix[j].i];
			for (size_t m = 0; m < e->n_messages; m++) {
				if (!first_msg)
					gw_buf_put(b, ",", 1);
				first_msg = 0;
				gw_json_put_string(b, e->messages[m]);
			}
		}
		gw_buf_put(b, "]", 1);
	}
	gw_buf_put(b, "}", 1);
	free(ix);
	free(g);
}
