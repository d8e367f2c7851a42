/*
 * svc.c - request handlers and the single write path.
 *
 * Every mutation is expressed as a Flowsvc__LogRecord and goes through
 * svc_commit(), which (with the write lock held) appends the record to the
 * change log when one is open and then applies it with svc_apply(), the same
 * function that replays the log at start. Reads never touch the disk.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include "svc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batch.h"
#include "fs_errors.h"
#include "fs_log.h"
#include "fs_util.h"
#include "persist.h"
#include "store.h"

#define SVC_METHODS 16 /* > highest Method value */

struct svc {
	pthread_rwlock_t lock;
	store *st;
	persist *disk; /* NULL: memory only */
	int64_t started_us;
	int access_log;
	/* Requests served, by method and code (relaxed atomics). */
	_Atomic uint64_t counts[SVC_METHODS][FS_CODE_COUNT];
};

/* ---- replies ------------------------------------------------------------ */

void
svc_reply_fini(svc_reply *r)
{
	free(r->message);
	free(r->payload);
	viol_fini(&r->v);
	memset(r, 0, sizeof(*r));
}

static void
reply_err(svc_reply *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
reply_err(svc_reply *r, int code, const char *fmt, ...)
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

static void
reply_msg(svc_reply *r, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);

	if ((r->payload = malloc(len > 0 ? len : 1)) == NULL) {
		reply_err(r, FS_RESOURCE_EXHAUSTED, "Out of memory.");
		return;
	}
	protobuf_c_message_pack(m, r->payload);
	r->payload_len = len;
	r->has_payload = 1;
	r->code = FS_OK;
}

/* Field violations found: INVALID_ARGUMENT, or ALREADY_EXISTS when the only
 * problem is a taken name. */
static int
reply_viol(svc_reply *r, int taken)
{
	viol_close(&r->v);
	if (r->v.oom) {
		reply_err(r, FS_RESOURCE_EXHAUSTED, "Out of memory.");
		return 1;
	}
	if (r->v.n == 0)
		return 0;
	r->code = taken && r->v.n == 1 ? FS_ALREADY_EXISTS : FS_INVALID_ARGUMENT;
	return 1;
}

/* Length-delimited field 1 (tag 0x0a) around already-packed bytes: the
 * encoding of ComponentReply{component} and of one ListReply element. */
static size_t
put_field1(uint8_t *out, const uint8_t *bytes, uint32_t len)
{
	size_t n = 0;
	uint32_t v = len;

	out[n++] = 0x0a;
	while (v >= 0x80) {
		out[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t) v;
	memcpy(out + n, bytes, len);
	return n + len;
}

static const uint8_t *encode_for(const Flowsvc__Request *req, const comp *c,
    uint32_t *len, uint8_t **tmp);

static void
reply_component(svc_reply *r, const Flowsvc__Request *req, const comp *c)
{
	uint8_t *tmp;
	uint32_t len;
	const uint8_t *bytes = encode_for(req, c, &len, &tmp);

	if (bytes == NULL ||
	    (r->payload = malloc((size_t) len + 6)) == NULL) {
		free(tmp);
		reply_err(r, FS_RESOURCE_EXHAUSTED, "Out of memory.");
		return;
	}
	r->payload_len = put_field1(r->payload, bytes, len);
	r->has_payload = 1;
	r->code = FS_OK;
	free(tmp);
}

/* ---- access ------------------------------------------------------------- */

/* Internal callers act for every group; a restricted caller (a gateway
 * with tokens) sees only its groups. */
static int
visible(const Flowsvc__Request *req, const comp *c)
{
	const Flowsvc__Caller *who = req->caller;

	if (who == NULL || !who->has_restricted || !who->restricted)
		return 1;
	for (size_t i = 0; i < who->n_groups; i++)
		if (strcasecmp(who->groups[i], c->group) == 0)
			return 1;
	return 0;
}

static int
may_write_group(const Flowsvc__Request *req, const char *group)
{
	const Flowsvc__Caller *who = req->caller;

	if (who == NULL || !who->has_restricted || !who->restricted)
		return 1;
	for (size_t i = 0; i < who->n_groups; i++)
		if (strcasecmp(who->groups[i], group) == 0)
			return 1;
	return 0;
}

/* 1 when c uses a flow the caller cannot see. */
static int
uses_hidden(const Flowsvc__Request *req, const comp *c)
{
	for (uint32_t i = 0; i < c->nuses; i++)
		if (!visible(req, c->uses[i].flow))
			return 1;
	return 0;
}

/* c's wire form as the caller may see it: the stored bytes, or (when c
 * uses flows the caller cannot see) a copy without those ids in *tmp, which
 * the caller frees. NULL when out of memory. */
static const uint8_t *
encode_for(const Flowsvc__Request *req, const comp *c, uint32_t *len,
    uint8_t **tmp)
{
	*tmp = NULL;
	*len = c->packed_len;
	if (!uses_hidden(req, c))
		return c->packed;
	Flowsvc__Component *m = store_unpack(c);
	if (m == NULL)
		return NULL;
	/* The stored list and c->uses are in the same order. */
	size_t k = 0;
	for (size_t i = 0; i < m->n_flows; i++) {
		if (i < c->nuses && visible(req, c->uses[i].flow))
			m->flows[k++] = m->flows[i];
		else
			free(m->flows[i]);
	}
	m->n_flows = k;
	size_t n = flowsvc__component__get_packed_size(m);
	if ((*tmp = malloc(n ? n : 1)) != NULL) {
		flowsvc__component__pack(m, *tmp);
		*len = (uint32_t) n;
	}
	flowsvc__component__free_unpacked(m, NULL);
	return *tmp;
}

/* Finds the component named by id, of kind (KIND_ANY: either) and visible to
 * the caller. NULL means NOT_FOUND, whichever the reason. */
static comp *
lookup(svc *s, const Flowsvc__Request *req, const char *id, int kind)
{
	uint8_t bin[16];
	comp *c;

	if (id == NULL || fs_uuid_parse(id, bin) != 0 ||
	    (c = store_get(s->st, bin)) == NULL)
		return NULL;
	if (kind != FLOWSVC__KIND__KIND_ANY && c->kind != kind)
		return NULL;
	return visible(req, c) ? c : NULL;
}

/* ---- the write path ----------------------------------------------------- */

/* Applies one record to the store. Returns FS_OK, FS_RESOURCE_EXHAUSTED
 * or FS_DATA_LOSS (a record that does not fit the store: unknown id,
 * broken reference). */
int
svc_apply(store *st, const Flowsvc__LogRecord *rec)
{
	uint8_t id[16];
	comp *c;
	int rv;

	switch (rec->op_case) {
	case FLOWSVC__LOG_RECORD__OP_PUT:
		rv = store_put(st, rec->put->component,
		    (int) rec->put->status, rec->put->seq, NULL);
		return rv == 0 ? FS_OK
		    : rv == -1 ? FS_RESOURCE_EXHAUSTED : FS_DATA_LOSS;
	case FLOWSVC__LOG_RECORD__OP_DELETE_ID:
		if (fs_uuid_parse(rec->delete_id, id) != 0 ||
		    (c = store_get(st, id)) == NULL || c->nusers != 0)
			return FS_DATA_LOSS;
		store_delete(st, c);
		return FS_OK;
	case FLOWSVC__LOG_RECORD__OP_STATUS:
		if (fs_uuid_parse(rec->status->id, id) != 0 ||
		    (c = store_get(st, id)) == NULL)
			return FS_DATA_LOSS;
		store_set_status(st, c, (int) rec->status->status);
		return FS_OK;
	default:
		return FS_DATA_LOSS;
	}
}

/* Logs rec and applies it: the write path of every change. Write lock
 * held; the caller has validated rec against the store, so applying it
 * cannot fail but for memory. With fsync "always", r->ticket makes the reply
 * wait for the sync. Returns an fs_code; on failure r holds the error (a
 * change the log cannot take says why). */
static int
svc_commit(svc *s, const Flowsvc__LogRecord *rec, svc_reply *r)
{
	char why[768];

	if (s->disk != NULL && persist_append(s->disk, rec, &r->ticket) != 0) {
		if (persist_writable(s->disk, why, sizeof(why)))
			reply_err(r, FS_UNAVAILABLE,
			    "The change could not be written to the change "
			    "log.");
		else
			reply_err(r, FS_UNAVAILABLE, "Changes are refused: %s.",
			    why);
		return FS_UNAVAILABLE;
	}
	int rv = svc_apply(s->st, rec);
	if (rv != FS_OK) {
		reply_err(r, rv == FS_RESOURCE_EXHAUSTED ? rv : FS_INTERNAL,
		    NULL);
		return r->code;
	}
	return FS_OK;
}

/* ---- shared validation -------------------------------------------------- */

/* The store's half of the `flows` check, for the component self (NULL
 * when creating): every id an existing flow visible to the caller, none
 * twice, none leading back to self; the first bad item is named. ids was
 * prepared from l outside the lock (uuid syntax, repeats), so this is one
 * hash probe per item plus one walk of the graph: O(n + edges). Write lock
 * held (store_reaches marks nodes). */
static void
check_flows(svc *s, const Flowsvc__Request *req, const Flowsvc__StringList *l,
    const rules_ids *ids, comp *self, viol *v)
{
	if (l == NULL)
		return;
	if (ids->too_many) {
		viol_add(v, "flows",
		    "Ensure this field has no more than %d elements.",
		    RULES_FLOWS_MAX);
		return;
	}
	store_walk_begin(s->st);
	for (size_t i = 0; i < ids->n; i++) {
		const char *id = l->items[i];
		comp *f = NULL;
		if (ids->state[i] != RULES_ID_BAD &&
		    (f = store_get(s->st, ids->bin[i])) != NULL &&
		    (f->kind != FLOWSVC__KIND__FLOW || !visible(req, f)))
			f = NULL;
		if (f == NULL) {
			viol_add(v, "flows",
			    "Invalid pk \"%.64s\" - object does not exist.", id);
			return;
		}
		if (ids->state[i] == RULES_ID_DUP) {
			viol_add(v, "flows",
			    "Invalid pk \"%s\" - listed more than once.", id);
			return;
		}
		if (self != NULL && f == self) {
			viol_add(v, "flows",
			    "Invalid pk \"%s\" - a component cannot use itself.",
			    id);
			return;
		}
		if (self != NULL && store_reaches(s->st, f, self)) {
			viol_add(v, "flows",
			    "Invalid pk \"%s\" - this reference would create a "
			    "cycle.",
			    id);
			return;
		}
	}
}

/* ---- handlers ----------------------------------------------------------- */

/* The method's request message from the envelope (no payload: all
 * defaults), or NULL after answering INVALID_ARGUMENT "Undecodable X.".
 * The caller frees it with the type's free_unpacked. */
static void *
decode(const Flowsvc__Request *req, const ProtobufCMessageDescriptor *d,
    svc_reply *r)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL,
	    req->has_payload ? req->payload.len : 0,
	    req->has_payload ? req->payload.data : NULL);

	if (m == NULL)
		reply_err(r, FS_INVALID_ARGUMENT, "Undecodable %s.",
		    d->short_name);
	return m;
}

static void
h_get(svc *s, const Flowsvc__Request *req, svc_reply *r)
{
	Flowsvc__GetRequest *m =
	    decode(req, &flowsvc__get_request__descriptor, r);

	if (m == NULL)
		return;
	pthread_rwlock_rdlock(&s->lock);
	comp *c = lookup(s, req, m->id, m->has_kind ? (int) m->kind : 0);
	if (c == NULL)
		reply_err(r, FS_NOT_FOUND, NULL);
	else
		reply_component(r, req, c);
	pthread_rwlock_unlock(&s->lock);
	flowsvc__get_request__free_unpacked(m, NULL);
}

/* budget: the most payload bytes the reply may hold. The list stops as
 * soon as the next component would pass it (no buffer ever grows past it)
 * and answers RESOURCE_EXHAUSTED; returns 1 then, else 0. */
static int
h_list(svc *s, const Flowsvc__Request *req, svc_reply *r, size_t budget)
{
	Flowsvc__ListRequest *m =
	    decode(req, &flowsvc__list_request__descriptor, r);
	size_t cap = 4096, len = 0;
	uint8_t *buf;
	int over = 0;

	if (m == NULL)
		return 0;
	int kind = m->has_kind ? (int) m->kind : 0;
	if (kind != FLOWSVC__KIND__FLOW && kind != FLOWSVC__KIND__APP) {
		viol_add(&r->v, "kind", "Must be FLOW or APP.");
		reply_viol(r, 0);
		flowsvc__list_request__free_unpacked(m, NULL);
		return 0;
	}
	if ((buf = malloc(cap)) == NULL) {
		reply_err(r, FS_RESOURCE_EXHAUSTED, "Out of memory.");
		flowsvc__list_request__free_unpacked(m, NULL);
		return 0;
	}
	uint64_t skip = m->has_offset ? m->offset : 0;
	uint64_t left = m->has_limit ? m->limit : UINT64_MAX;
	const char *g = m->group_iexact, *n = m->name_iexact;

	r->code = FS_OK;
	pthread_rwlock_rdlock(&s->lock);
	for (comp *c = store_first(s->st, kind, g, n); c != NULL && left > 0;
	     c = store_next(c, g, n)) {
		if (!visible(req, c))
			continue;
		if (skip > 0) {
			skip--;
			continue;
		}
		uint8_t *tmp;
		uint32_t clen;
		const uint8_t *bytes = encode_for(req, c, &clen, &tmp);
		if (bytes == NULL) {
			reply_err(r, FS_RESOURCE_EXHAUSTED, "Out of memory.");
			break;
		}
		size_t need = len + clen + 6;
		if (need > budget) {
			free(tmp);
			reply_err(r, FS_RESOURCE_EXHAUSTED,
			    "Result too large: page it with limit and offset.");
			over = 1;
			break;
		}
		if (need > cap) {
			while (cap < need)
				cap *= 2;
			if (cap > budget)
				cap = budget;
			uint8_t *nb = realloc(buf, cap);
			if (nb == NULL) {
				free(tmp);
				reply_err(r, FS_RESOURCE_EXHAUSTED,
				    "Out of memory.");
				break;
			}
			buf = nb;
		}
		len += put_field1(buf + len, bytes, clen);
		free(tmp);
		left--;
	}
	pthread_rwlock_unlock(&s->lock);
	if (r->code == FS_OK) {
		r->payload = buf;
		r->payload_len = len;
		r->has_payload = 1;
	} else {
		free(buf);
	}
	flowsvc__list_request__free_unpacked(m, NULL);
	return over;
}

static void
h_create(svc *s, const Flowsvc__Request *req, svc_reply *r)
{
	Flowsvc__CreateRequest *m =
	    decode(req, &flowsvc__create_request__descriptor, r);
	viol *v = &r->v;

	if (m == NULL)
		return;
	int kind = (int) m->kind;
	if (kind != FLOWSVC__KIND__FLOW && kind != FLOWSVC__KIND__APP) {
		viol_add(v, "kind", "Must be FLOW or APP.");
		reply_viol(r, 0);
		flowsvc__create_request__free_unpacked(m, NULL);
		return;
	}

	/* The group a caller with exactly one group lands in by default. */
	const char *group = m->group;
	const Flowsvc__Caller *who = req->caller;
	if (group == NULL && who != NULL && who->has_restricted &&
	    who->restricted && who->n_groups == 1)
		group = who->groups[0];
	if (group == NULL)
		group = "default";

	/* Store-free rules first, in field order, and outside the lock. A
	 * field of the wrong type gets only that message. */
	rules_mistyped(v, m->mistyped_fields, m->n_mistyped_fields);
	int name_ok = !viol_has(v, "name") &&
	    rules_name(v, m->name, kind) == 0;
	int group_ok = !viol_has(v, "group") && rules_group(v, group) == 0;
	rules_fields(v, "input_fields", m->input_fields);
	rules_fields(v, "output_fields", m->output_fields);
	rules_unknown(v, m->unknown_fields, m->n_unknown_fields,
	    m->unknown_fields_omitted);

	if (group_ok && !may_write_group(req, group)) {
		viol_fini(v);
		reply_err(r, FS_PERMISSION_DENIED, NULL);
		flowsvc__create_request__free_unpacked(m, NULL);
		return;
	}
	/* The ids too: only existence and visibility need the store. */
	rules_ids fids;
	char **flows = NULL;
	if (rules_ids_prepare(&fids, m->flows) != 0 ||
	    (flows = malloc((fids.n ? fids.n : 1) * sizeof(*flows))) == NULL) {
		reply_err(r, FS_RESOURCE_EXHAUSTED, "Out of memory.");
		rules_ids_fini(&fids);
		flowsvc__create_request__free_unpacked(m, NULL);
		return;
	}
	for (size_t i = 0; i < fids.n; i++)
		flows[i] = fids.canon[i];

	int taken = 0;
	pthread_rwlock_wrlock(&s->lock);
	check_flows(s, req, m->flows, &fids, NULL, v);
	if (name_ok && group_ok &&
	    store_find(s->st, kind, group, m->name) != NULL) {
		viol_add(v, "name", "%s with this name already exists in this "
		    "group.", rules_kind_article(kind));
		taken = 1;
	}
	if (reply_viol(r, taken))
		goto out;

	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;
	Flowsvc__StoredComponent sc = FLOWSVC__STORED_COMPONENT__INIT;
	Flowsvc__LogRecord rec = FLOWSVC__LOG_RECORD__INIT;
	uint8_t id[16], canvas[16];
	char ids[FS_UUID_STRLEN + 1], canvass[FS_UUID_STRLEN + 1];

	do {
		fs_uuid_new(id);
	} while (store_get(s->st, id) != NULL);
	fs_uuid_new(canvas);
	fs_uuid_format(id, ids);
	fs_uuid_format(canvas, canvass);
	c.id = ids;
	c.kind = (Flowsvc__Kind) kind;
	c.name = m->name;
	c.group = (char *) group;
	if (m->input_fields != NULL) {
		c.n_input_fields = m->input_fields->n_items;
		c.input_fields = m->input_fields->items;
	}
	if (m->output_fields != NULL) {
		c.n_output_fields = m->output_fields->n_items;
		c.output_fields = m->output_fields->items;
	}
	c.canvas_id = canvass;
	c.n_flows = fids.n;
	c.flows = flows;
	c.version = 1;
	c.created_at_us = c.updated_at_us = fs_now_us();
	sc.component = &c;
	sc.status = FLOWSVC__STATUS__NOT_DEPLOYED;
	sc.seq = store_last_seq(s->st) + 1;
	rec.op_case = FLOWSVC__LOG_RECORD__OP_PUT;
	rec.put = &sc;
	if (svc_commit(s, &rec, r) != FS_OK)
		goto out;
	reply_component(r, req, store_get(s->st, id));
out:
	pthread_rwlock_unlock(&s->lock);
	free(flows);
	rules_ids_fini(&fids);
	flowsvc__create_request__free_unpacked(m, NULL);
}

/* A read-only field sent with an update is accepted only when it equals the
 * stored value. */
static int
readonly_same(const Flowsvc__ReadOnlyField *f, const Flowsvc__Component *c)
{
	const char *v = f->value;
	uint8_t a[16], b[16];
	int64_t us;

	if ((f->has_wrong_type && f->wrong_type) || v == NULL)
		return 0;
	if (strcmp(f->field, "id") == 0 || strcmp(f->field, "canvas_id") == 0) {
		const char *cur = f->field[0] == 'i' ? c->id : c->canvas_id;
		return fs_uuid_parse(v, a) == 0 && fs_uuid_parse(cur, b) == 0 &&
		    memcmp(a, b, 16) == 0;
	}
	if (strcmp(f->field, "name") == 0)
		return strcmp(v, c->name) == 0;
	if (strcmp(f->field, "group") == 0)
		return strcmp(v, c->group) == 0;
	if (strcmp(f->field, "version") == 0) {
		char cur[24];
		snprintf(cur, sizeof(cur), "%lld", (long long) c->version);
		return strcmp(v, cur) == 0;
	}
	if (strcmp(f->field, "created_at") == 0)
		return fs_time_parse(v, &us) == 0 && us == c->created_at_us;
	if (strcmp(f->field, "updated_at") == 0)
		return fs_time_parse(v, &us) == 0 && us == c->updated_at_us;
	return 0;
}

/* The read-only names an update may repeat back, by index. */
static const char *const readonly_names[] = {"id", "name", "group",
	"canvas_id", "version", "created_at", "updated_at"};
#define READONLY_NAMES (sizeof(readonly_names) / sizeof(readonly_names[0]))

static int
readonly_index(const char *field)
{
	for (size_t k = 0; k < READONLY_NAMES; k++)
		if (strcmp(field, readonly_names[k]) == 0)
			return (int) k;
	return -1;
}

static void
h_update(svc *s, const Flowsvc__Request *req, svc_reply *r)
{
	Flowsvc__UpdateRequest *m =
	    decode(req, &flowsvc__update_request__descriptor, r);
	Flowsvc__Component *old = NULL;
	char *hidbuf = NULL;
	char **flows = NULL;
	unsigned char *ro_bad = NULL;
	size_t ro_check[READONLY_NAMES], nro = 0, nbad = 0;
	viol *v = &r->v, late = {0};
	rules_ids fids = {0};
	int locked = 0;

	if (m == NULL)
		return;
	/* Everything that needs no store runs before the lock: the field
	 * lists, the keys that could not be mapped (reported last, after the
	 * store's findings, so they wait in `late`), the flow ids' syntax and
	 * repeats, and which read-only fields need a look at the stored
	 * value: each of the seven names once. Any other name, or one sent
	 * again, is refused without looking (only an RPC caller can send
	 * those; the gateway sends each JSON key once), so the work under the
	 * lock is bounded whatever the request holds. */
	rules_fields(v, "input_fields", m->input_fields);
	rules_fields(v, "output_fields", m->output_fields);
	rules_mistyped(&late, m->mistyped_fields, m->n_mistyped_fields);
	rules_unknown(&late, m->unknown_fields, m->n_unknown_fields,
	    m->unknown_fields_omitted);
	if (rules_ids_prepare(&fids, m->flows) != 0 ||
	    (m->n_read_only > 0 &&
	        (ro_bad = calloc(m->n_read_only, 1)) == NULL)) {
		reply_err(r, FS_RESOURCE_EXHAUSTED, "Out of memory.");
		goto out;
	}
	unsigned seen = 0;
	for (size_t i = 0; i < m->n_read_only; i++) {
		int k = readonly_index(m->read_only[i]->field);
		if (k < 0 || (seen & (1u << k)) != 0) {
			ro_bad[i] = 1;
			nbad++;
		} else {
			seen |= 1u << k;
			ro_check[nro++] = i;
		}
	}

	pthread_rwlock_wrlock(&s->lock);
	locked = 1;
	comp *self = lookup(s, req, m->id, m->has_kind ? (int) m->kind : 0);
	if (self == NULL) {
		viol_fini(v);
		reply_err(r, FS_NOT_FOUND, NULL);
		goto out;
	}
	if ((old = store_unpack(self)) == NULL) {
		reply_err(r, FS_RESOURCE_EXHAUSTED, "Out of memory.");
		goto out;
	}
	check_flows(s, req, m->flows, &fids, self, v);
	for (size_t j = 0; j < nro; j++) {
		size_t i = ro_check[j];
		if (!readonly_same(m->read_only[i], old)) {
			ro_bad[i] = 1;
			nbad++;
		}
	}
	if (nbad > 0 || viol_any(v) || viol_any(&late)) {
		/* Refused: the messages in request order, without the lock. */
		pthread_rwlock_unlock(&s->lock);
		locked = 0;
		for (size_t i = 0; i < m->n_read_only; i++)
			if (ro_bad[i])
				viol_add(v, m->read_only[i]->field,
				    "This field is read-only.");
		viol_move(v, &late);
		reply_viol(r, 0);
		goto out;
	}

	Flowsvc__Component c = *old;
	Flowsvc__StoredComponent sc = FLOWSVC__STORED_COMPONENT__INIT;
	Flowsvc__LogRecord rec = FLOWSVC__LOG_RECORD__INIT;
	if (m->input_fields != NULL) {
		c.n_input_fields = m->input_fields->n_items;
		c.input_fields = m->input_fields->items;
	}
	if (m->output_fields != NULL) {
		c.n_output_fields = m->output_fields->n_items;
		c.output_fields = m->output_fields->items;
	}
	if (m->flows != NULL) {
		/* References to flows the caller cannot see stay: a caller
		 * replaces only what it can see (it got the list without
		 * them). */
		size_t n = fids.n, hidden = 0;
		for (uint32_t i = 0; i < self->nuses; i++)
			hidden += !visible(req, self->uses[i].flow);
		size_t all = n + hidden;
		if ((hidbuf = malloc(hidden * (FS_UUID_STRLEN + 1) + 1)) ==
		        NULL ||
		    (flows = malloc((all ? all : 1) * sizeof(*flows))) ==
		        NULL) {
			reply_err(r, FS_RESOURCE_EXHAUSTED, "Out of memory.");
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			flows[i] = fids.canon[i];
		char *hid = hidbuf;
		for (uint32_t i = 0; i < self->nuses; i++) {
			if (visible(req, self->uses[i].flow))
				continue;
			fs_uuid_format(self->uses[i].flow->id, hid);
			flows[n++] = hid;
			hid += FS_UUID_STRLEN + 1;
		}
		c.n_flows = n;
		c.flows = flows;
	}
	c.version = old->version + 1;
	c.updated_at_us = fs_now_us();
	if (c.updated_at_us <= old->updated_at_us)
		c.updated_at_us = old->updated_at_us + 1;
	sc.component = &c;
	sc.status = (Flowsvc__Status) self->status;
	sc.seq = self->seq;
	rec.op_case = FLOWSVC__LOG_RECORD__OP_PUT;
	rec.put = &sc;
	if (svc_commit(s, &rec, r) == FS_OK)
		reply_component(r, req, self);
out:
	if (locked)
		pthread_rwlock_unlock(&s->lock);
	free(flows);
	free(hidbuf);
	free(ro_bad);
	viol_fini(&late);
	rules_ids_fini(&fids);
	if (old != NULL)
		flowsvc__component__free_unpacked(old, NULL);
	flowsvc__update_request__free_unpacked(m, NULL);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The 409 text: users the caller can see, sorted, then how many others. */
static void
reply_in_use(svc_reply *r, const Flowsvc__Request *req, const comp *c)
{
	const char **names = malloc(c->nusers * sizeof(*names));
	size_t n = 0, hidden = 0, len = 0;

	if (names == NULL) {
		reply_err(r, FS_RESOURCE_EXHAUSTED, "Out of memory.");
		return;
	}
	for (const comp_edge *e = c->users; e != NULL; e = e->next) {
		if (visible(req, e->user)) {
			names[n++] = e->user->name;
			len += strlen(e->user->name) + 1;
		} else {
			hidden++;
		}
	}
	qsort(names, n, sizeof(*names), cmp_str);
	char *list = malloc(len + 1), *p = list;
	if (list == NULL) {
		free(names);
		reply_err(r, FS_RESOURCE_EXHAUSTED, "Out of memory.");
		return;
	}
	*p = '\0';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", names[i]);
	if (hidden > 0)
		reply_err(r, FS_FAILED_PRECONDITION,
		    "Cannot delete the %s, because it is used by these "
		    "apps/flows: %s%s%zu other%s",
		    rules_kind_title(c->kind), list, n ? " and " : "", hidden,
		    hidden == 1 ? "" : "s");
	else
		reply_err(r, FS_FAILED_PRECONDITION,
		    "Cannot delete the %s, because it is used by these "
		    "apps/flows: %s",
		    rules_kind_title(c->kind), list);
	free(list);
	free(names);
}

static void
h_delete(svc *s, const Flowsvc__Request *req, svc_reply *r)
{
	Flowsvc__IdRequest *m =
	    decode(req, &flowsvc__id_request__descriptor, r);

	if (m == NULL)
		return;
	pthread_rwlock_wrlock(&s->lock);
	comp *c = lookup(s, req, m->id, m->has_kind ? (int) m->kind : 0);
	if (c == NULL) {
		reply_err(r, FS_NOT_FOUND, NULL);
	} else if (c->nusers > 0) {
		reply_in_use(r, req, c);
	} else {
		char id[FS_UUID_STRLEN + 1];
		Flowsvc__LogRecord rec = FLOWSVC__LOG_RECORD__INIT;
		fs_uuid_format(c->id, id);
		rec.op_case = FLOWSVC__LOG_RECORD__OP_DELETE_ID;
		rec.delete_id = id;
		Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
		if (svc_commit(s, &rec, r) == FS_OK)
			reply_msg(r, &e.base);
	}
	pthread_rwlock_unlock(&s->lock);
	flowsvc__id_request__free_unpacked(m, NULL);
}

/* GET_STATUS, DEPLOY, START, STOP. */
static void
h_status(svc *s, const Flowsvc__Request *req, svc_reply *r)
{
	Flowsvc__IdRequest *m =
	    decode(req, &flowsvc__id_request__descriptor, r);
	Flowsvc__StatusReply sr = FLOWSVC__STATUS_REPLY__INIT;
	int write = req->method != FLOWSVC__METHOD__GET_STATUS;

	if (m == NULL)
		return;
	if (write)
		pthread_rwlock_wrlock(&s->lock);
	else
		pthread_rwlock_rdlock(&s->lock);
	comp *c = lookup(s, req, m->id, m->has_kind ? (int) m->kind : 0);
	if (c == NULL) {
		reply_err(r, FS_NOT_FOUND, NULL);
		goto out;
	}
	int to = c->status;
	switch (req->method) {
	case FLOWSVC__METHOD__DEPLOY:
		to = FLOWSVC__STATUS__STARTED;
		break;
	case FLOWSVC__METHOD__START:
	case FLOWSVC__METHOD__STOP:
		if (c->status == FLOWSVC__STATUS__NOT_DEPLOYED) {
			reply_err(r, FS_FAILED_PRECONDITION,
			    "The component is not deployed.");
			goto out;
		}
		to = req->method == FLOWSVC__METHOD__START
		    ? FLOWSVC__STATUS__STARTED
		    : FLOWSVC__STATUS__STOPPED;
		break;
	default:
		break;
	}
	if (to != c->status) {
		char id[FS_UUID_STRLEN + 1];
		Flowsvc__StatusChange ch = FLOWSVC__STATUS_CHANGE__INIT;
		Flowsvc__LogRecord rec = FLOWSVC__LOG_RECORD__INIT;
		fs_uuid_format(c->id, id);
		ch.id = id;
		ch.status = (Flowsvc__Status) to;
		rec.op_case = FLOWSVC__LOG_RECORD__OP_STATUS;
		rec.status = &ch;
		if (svc_commit(s, &rec, r) != FS_OK)
			goto out;
	}
	sr.status = (Flowsvc__Status) c->status;
	reply_msg(r, &sr.base);
out:
	pthread_rwlock_unlock(&s->lock);
	flowsvc__id_request__free_unpacked(m, NULL);
}

static void
h_health(svc *s, const Flowsvc__Request *req, svc_reply *r)
{
	Flowsvc__HealthReply h = FLOWSVC__HEALTH_REPLY__INIT;
	char why[768];

	(void) req;
	h.status = "ok";
	if (s->disk != NULL) {
		h.has_writable = 1;
		h.writable = persist_writable(s->disk, why, sizeof(why)) != 0;
		if (!h.writable)
			h.write_error = why;
		h.has_revision = 1;
		h.revision = persist_revision(s->disk);
	}
	pthread_rwlock_rdlock(&s->lock);
	h.has_flows = h.has_apps = h.has_uptime_s = 1;
	h.flows = store_count(s->st, FLOWSVC__KIND__FLOW);
	h.apps = store_count(s->st, FLOWSVC__KIND__APP);
	pthread_rwlock_unlock(&s->lock);
	h.uptime_s = (uint64_t) ((fs_now_us() - s->started_us) / 1000000);
	reply_msg(r, &h.base);
}

static void
h_stats(svc *s, svc_reply *r)
{
	Flowsvc__StatsReply st = FLOWSVC__STATS_REPLY__INIT;
	Flowsvc__MethodCount rows[SVC_METHODS * FS_CODE_COUNT];
	Flowsvc__MethodCount *ptrs[SVC_METHODS * FS_CODE_COUNT];
	persist_stats ps;
	size_t n = 0;

	pthread_rwlock_rdlock(&s->lock);
	st.flows = store_count(s->st, FLOWSVC__KIND__FLOW);
	st.apps = store_count(s->st, FLOWSVC__KIND__APP);
	pthread_rwlock_unlock(&s->lock);
	st.has_uptime_s = 1;
	st.uptime_s = (uint64_t) ((fs_now_us() - s->started_us) / 1000000);
	if (s->disk != NULL) {
		persist_get_stats(s->disk, &ps);
		st.has_log_bytes = st.has_log_generation = 1;
		st.has_changes_since_snapshot = st.has_last_snapshot_unix_us = 1;
		st.has_last_snapshot_duration_us = st.has_fsyncs = 1;
		st.has_fsync_total_us = st.has_fsync_max_us = 1;
		st.has_disk_error = 1;
		st.has_log_append_failures = st.has_log_sync_failures = 1;
		st.has_writable = st.has_data_dir_lost = st.has_revision = 1;
		st.log_append_failures = ps.append_failures;
		st.log_sync_failures = ps.sync_failures;
		st.writable = ps.writable != 0;
		st.data_dir_lost = ps.lost != 0;
		if (!ps.writable)
			st.write_error = ps.why;
		st.log_bytes = ps.log_bytes;
		st.revision = ps.revision;
		st.log_generation = ps.generation;
		st.changes_since_snapshot = ps.changes_since_snapshot;
		st.last_snapshot_unix_us = ps.last_snapshot_us;
		st.last_snapshot_duration_us = ps.last_snapshot_dur_us;
		st.fsyncs = ps.fsyncs;
		st.fsync_total_us = ps.fsync_total_us;
		st.fsync_max_us = ps.fsync_max_us;
		st.disk_error = ps.disk_error != 0;
	}
	for (int m = 0; m < SVC_METHODS; m++) {
		for (int c = 0; c < FS_CODE_COUNT; c++) {
			uint64_t v = atomic_load_explicit(&s->counts[m][c],
			    memory_order_relaxed);
			if (v == 0)
				continue;
			flowsvc__method_count__init(&rows[n]);
			rows[n].method = (Flowsvc__Method) m;
			rows[n].code = (Flowsvc__Code) c;
			rows[n].count = v;
			ptrs[n] = &rows[n];
			n++;
		}
	}
	st.n_requests = n;
	st.requests = ptrs;
	reply_msg(r, &st.base);
}

void
svc_dispatch(svc *s, const Flowsvc__Request *req, svc_reply *r)
{
	(void) svc_dispatch_budget(s, req, r, SVC_REPLY_BUDGET);
}

int
svc_dispatch_budget(svc *s, const Flowsvc__Request *req, svc_reply *r,
    size_t budget)
{
	int over = 0;

	memset(r, 0, sizeof(*r));
	switch (req->method) {
	case FLOWSVC__METHOD__GET:
		h_get(s, req, r);
		break;
	case FLOWSVC__METHOD__LIST:
		over = h_list(s, req, r, budget);
		break;
	case FLOWSVC__METHOD__CREATE:
		h_create(s, req, r);
		break;
	case FLOWSVC__METHOD__UPDATE:
		h_update(s, req, r);
		break;
	case FLOWSVC__METHOD__DELETE:
		h_delete(s, req, r);
		break;
	case FLOWSVC__METHOD__GET_STATUS:
	case FLOWSVC__METHOD__DEPLOY:
	case FLOWSVC__METHOD__START:
	case FLOWSVC__METHOD__STOP:
		h_status(s, req, r);
		break;
	case FLOWSVC__METHOD__HEALTH:
		h_health(s, req, r);
		break;
	case FLOWSVC__METHOD__STATS:
		h_stats(s, r);
		break;
	case FLOWSVC__METHOD__BATCH:
		batch_run(s, req, r);
		break;
	case FLOWSVC__METHOD__SNAPSHOT:
		if (s->disk == NULL)
			reply_err(r, FS_FAILED_PRECONDITION,
			    "The service runs without a data directory.");
		else
			r->snapshot = 1; /* svc_handle defers the reply */
		break;
	default:
		reply_err(r, FS_UNIMPLEMENTED, "Unknown method %d.",
		    (int) req->method);
		break;
	}
	if ((unsigned) req->method < SVC_METHODS &&
	    (unsigned) r->code < FS_CODE_COUNT)
		atomic_fetch_add_explicit(&s->counts[req->method][r->code], 1,
		    memory_order_relaxed);
	return over;
}

/* Sends r for call (and releases r). */
static void
send_reply(fs_srv_call *call, svc_reply *r)
{
	Flowsvc__Reply rep = FLOWSVC__REPLY__INIT;

	rep.code = (Flowsvc__Code) r->code;
	rep.message =
	    r->message != NULL ? r->message : (char *) fs_strerror(r->code);
	rep.n_violations = r->v.n;
	rep.violations = r->v.v;
	if (r->has_payload) {
		rep.has_payload = 1;
		rep.payload.data = r->payload;
		rep.payload.len = r->payload_len;
	}
	fs_srv_reply(call, &rep);
	svc_reply_fini(r);
}

/* A reply in the making; it may wait for the disk (a sync, a snapshot). */
struct deferred {
	svc *s;
	fs_srv_call *call;
	svc_reply r;
	int method;
	int64_t start_us;
	char rid[64];
};

/* One line per request when --access-log is on: the request id ties it to
 * the gateway's line for the same request. */
static void
access_line(const struct deferred *d)
{
	const ProtobufCEnumValue *m = protobuf_c_enum_descriptor_get_value(
	    &flowsvc__method__descriptor, d->method);

	fs_log_field f[] = {FS_LOG_STR("method", m ? m->name : "?"),
	    FS_LOG_STR("code", fs_code_name(d->r.code)),
	    FS_LOG_MS("duration_ms",
	        (double) (fs_now_us() - d->start_us) / 1000.0)};

	fs_log_event(FS_LOG_INFO, d->rid[0] ? d->rid : "-", "rpc", f, 3);
}

static void
deferred_done(void *arg, int ok)
{
	struct deferred *d = arg;

	if (!ok) {
		int snapshot = d->r.snapshot;
		svc_reply_fini(&d->r);
		d->r.code = FS_UNAVAILABLE;
		d->r.message = strdup(snapshot
		        ? "The snapshot could not be written."
		        : "The change could not be synced to disk.");
	}
	if (d->s->access_log)
		access_line(d);
	send_reply(d->call, &d->r);
	free(d);
}

void
svc_handle(void *arg, fs_srv_call *call, const Flowsvc__Request *req)
{
	svc *s = arg;
	struct deferred *d;

	d = malloc(sizeof(*d));
	if (d == NULL) {
		fs_srv_reply_code(call, FS_RESOURCE_EXHAUSTED, NULL, NULL);
		return;
	}
	d->s = s;
	d->call = call;
	d->method = (int) req->method;
	if (s->access_log) {
		d->start_us = fs_now_us();
		snprintf(d->rid, sizeof(d->rid), "%s",
		    req->request_id ? req->request_id : "");
	}
	svc_dispatch(s, req, &d->r);
	if (d->r.snapshot) {
		Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
		reply_msg(&d->r, &e.base);
		d->r.snapshot = 1;
		if (persist_snapshot_async(s->disk, deferred_done, d) == 0)
			return;
		deferred_done(d, 0);
		return;
	}
	if (d->r.code == FS_OK && d->r.ticket != 0 && s->disk != NULL &&
	    persist_sync_replies(s->disk)) {
		if (persist_when_durable(s->disk, d->r.ticket, deferred_done,
		        d) == 0)
			return;
		deferred_done(d, 0);
		return;
	}
	if (s->access_log)
		access_line(d);
	send_reply(call, &d->r);
	free(d);
}

int
svc_snapshot(svc *s)
{
	return s->disk != NULL ? persist_snapshot(s->disk) : 0;
}

int
svc_stop_report(svc *s, int snapshot_ok, char *buf, size_t n)
{
	if (s->disk == NULL) {
		snprintf(buf, n, "stopped");
		return 0;
	}
	return persist_stop_report(s->disk, snapshot_ok, buf, n);
}

int
svc_open(svc **out, const svc_opts *opts, char *err, size_t errlen)
{
	svc *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((s->st = store_new()) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Writer preference: glibc's default lets a steady stream of reads
	 * starve changes (and the snapshot's cut) indefinitely. */
	pthread_rwlockattr_t la;
	int lrv;
	if (pthread_rwlockattr_init(&la) == 0) {
		pthread_rwlockattr_setkind_np(
		    &la, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		lrv = pthread_rwlock_init(&s->lock, &la);
		pthread_rwlockattr_destroy(&la);
	} else {
		lrv = pthread_rwlock_init(&s->lock, NULL);
	}
	if (lrv != 0) {
		store_free(s->st);
		free(s);
		snprintf(err, errlen, "cannot create the store lock");
		return -1;
	}
	if (opts != NULL && opts->data_dir != NULL) {
		persist_opts po = {0};
		persist_error pe;
		po.dir = opts->data_dir;
		po.fsync = (enum persist_fsync) opts->fsync;
		po.snapshot_changes = opts->snapshot_changes;
		po.snapshot_interval = opts->snapshot_interval;
		po.recover_partial = opts->recover_partial;
		if (persist_open(&s->disk, &po, s->st, &s->lock, svc_apply,
		        &pe) != 0) {
			if (pe.path[0] == '\0')
				snprintf(err, errlen, "%s", pe.what);
			else if (pe.offset != 0)
				snprintf(err, errlen, "%s (offset %llu): %s",
				    pe.path, (unsigned long long) pe.offset,
				    pe.what);
			else
				snprintf(err, errlen, "%s: %s", pe.path,
				    pe.what);
			pthread_rwlock_destroy(&s->lock);
			store_free(s->st);
			free(s);
			return -1;
		}
	}
	s->started_us = fs_now_us();
	if (opts != NULL)
		s->access_log = opts->access_log;
	*out = s;
	return 0;
}

void
svc_close(svc *s)
{
	if (s == NULL)
		return;
	persist_close(s->disk);
	pthread_rwlock_destroy(&s->lock);
	store_free(s->st);
	free(s);
}
