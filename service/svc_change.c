/*
 * svc_change.c - the handlers that change the store: Create, Update,
 * Delete, and Deploy/Start/Stop.
 *
 * Each runs the rules that need no store first, outside the lock (rules.h:
 * fields, names, the syntax and repeats of `flows` ids), then takes the
 * write lock for what needs the store (a name taken, references that
 * exist, are visible and close no cycle, a flow in use), expresses the
 * change as a Flowsvc__LogRecord, and hands it to svc_commit, the single
 * write path. What a caller may see and change is access.h's to say.
 *
 * Update, Delete and the lifecycle calls are a compare-and-set when the
 * request carries expected_version (REST: If-Match): checked under the
 * write lock right after the component is found, so a hidden or absent
 * component is still NOT_FOUND, and a stale version is ABORTED before any
 * other finding (in use, fields), with nothing changed.
 */
#include "svc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "access.h"
#include "fs_errors.h"
#include "fs_pbwire.h"
#include "fs_util.h"
#include "rules.h"

/* A Component's version (field 9), read from c's packed form rather than
 * unpacking the whole record. Returns 0, or -1 when the record holds no
 * version (the store only keeps records that do). */
static int
comp_version(const store_comp *c, int64_t *version)
{
	uint32_t len;
	const uint8_t *p = store_comp_packed(c, &len), *e = p + len;
	fs_pb_field f;
	int found = -1;

	while (p < e) {
		if (fs_pb_next_field(&p, e, &f) != 0)
			return -1;
		if (f.num == 9 && f.wt == FS_PB_VARINT) {
			*version = (int64_t) f.v; /* the last one wins */
			found = 0;
		}
	}
	return found;
}

/* The compare-and-set of a change: 1 when the request expects no version
 * or c's, else 0 after answering ABORTED. Store lock held. */
static int
version_ok(svc_reply *r, const store_comp *c, protobuf_c_boolean has,
    int64_t expected)
{
	int64_t v;

	if (!has || (comp_version(c, &v) == 0 && v == expected))
		return 1;
	svc_reply_err(r, FS_ABORTED, NULL);
	return 0;
}

/* The store's half of the `flows` check, for the component self (NULL
 * when creating): every id an existing flow visible to the caller, none
 * twice, none leading back to self; the first bad item is named. ids was
 * prepared from l outside the lock (uuid syntax, repeats), so this is one
 * hash probe per item plus one walk of the graph: O(n + edges). Write lock
 * held (store_reaches marks nodes). */
static void
check_flows(store *st, const Flowsvc__Caller *who,
    const Flowsvc__StringList *l, const rules_ids *ids, store_comp *self,
    rules_viol *v)
{
	if (l == NULL)
		return;
	if (ids->too_many) {
		rules_viol_add(v, "flows",
		    "Ensure this field has no more than %d elements.",
		    RULES_FLOWS_MAX);
		return;
	}
	store_walk_begin(st);
	for (size_t i = 0; i < ids->n; i++) {
		const char *id = l->items[i];
		store_comp *f = NULL;
		if (ids->state[i] != RULES_ID_BAD &&
		    (f = store_get(st, ids->bin[i])) != NULL &&
		    (store_comp_kind(f) != FLOWSVC__KIND__FLOW ||
		        !access_visible(who, f)))
			f = NULL;
		if (f == NULL) {
			rules_viol_add(v, "flows",
			    "Invalid pk \"%.64s\" - object does not exist.",
			    id);
			return;
		}
		if (ids->state[i] == RULES_ID_DUP) {
			rules_viol_add(v, "flows",
			    "Invalid pk \"%s\" - listed more than once.", id);
			return;
		}
		if (self != NULL && f == self) {
			rules_viol_add(v, "flows",
			    "Invalid pk \"%s\" - a component cannot use "
			    "itself.",
			    id);
			return;
		}
		if (self != NULL && store_reaches(st, f, self)) {
			rules_viol_add(v, "flows",
			    "Invalid pk \"%s\" - this reference would create "
			    "a "
			    "cycle.",
			    id);
			return;
		}
	}
}

/* Sets the field lists the request carries (absent: unchanged). */
static void
set_fields(Flowsvc__Component *c, const Flowsvc__StringList *in,
    const Flowsvc__StringList *out)
{
	if (in != NULL) {
		c->n_input_fields = in->n_items;
		c->input_fields = in->items;
	}
	if (out != NULL) {
		c->n_output_fields = out->n_items;
		c->output_fields = out->items;
	}
}

/* Commits c (whole, as it will be stored) with status and seq, answered
 * with c as who may see it. */
static int
commit_put(svc *s, const Flowsvc__Caller *who, Flowsvc__Component *c,
    int status, uint64_t seq, svc_reply *r)
{
	Flowsvc__StoredComponent sc = FLOWSVC__STORED_COMPONENT__INIT;
	Flowsvc__LogRecord rec = FLOWSVC__LOG_RECORD__INIT;
	svc_answer a;

	if (svc_answer_component(&a, svc_store(s), who, c) != FS_OK) {
		svc_reply_oom(r);
		return r->code;
	}
	sc.component = c;
	sc.status = (Flowsvc__Status) status;
	sc.seq = seq;
	rec.op_case = FLOWSVC__LOG_RECORD__OP_PUT;
	rec.put = &sc;
	return svc_commit(s, &rec, &a, r);
}

int
svc_change_create(svc *s, const svc_req *q, svc_reply *r)
{
	const Flowsvc__CreateRequest *m = q->msg;
	rules_viol *v = &r->v;
	int kind = (int) m->kind;

	if (!svc_reply_kind_ok(r, kind))
		return 0;
	const char *group =
	    m->group != NULL ? m->group : access_default_group(q->who);

	/* Store-free rules first, in field order, and outside the lock. A
	 * field of the wrong type gets only that message. */
	rules_mistyped(v, m->mistyped_fields, m->n_mistyped_fields);
	int name_ok =
	    !rules_viol_has(v, "name") && rules_name(v, m->name, kind) == 0;
	int group_ok =
	    !rules_viol_has(v, "group") && rules_group(v, group) == 0;
	rules_fields(v, "input_fields", m->input_fields);
	rules_fields(v, "output_fields", m->output_fields);
	rules_unknown(v, m->unknown_fields, m->n_unknown_fields,
	    m->unknown_fields_omitted);

	if (group_ok && !access_group(q->who, group)) {
		rules_viol_fini(v);
		svc_reply_err(r, FS_PERMISSION_DENIED, NULL);
		return 0;
	}
	/* The ids too: only existence and visibility need the store. */
	rules_ids fids;
	char **flows = NULL;
	if (rules_ids_prepare(&fids, m->flows) != 0 ||
	    (flows = malloc((fids.n ? fids.n : 1) * sizeof(*flows))) == NULL) {
		svc_reply_oom(r);
		rules_ids_fini(&fids);
		return 0;
	}
	for (size_t i = 0; i < fids.n; i++)
		flows[i] = fids.canon[i];

	int taken = 0;
	svc_write_lock(s);
	store *st = svc_store(s);
	check_flows(st, q->who, m->flows, &fids, NULL, v);
	if (name_ok && group_ok &&
	    store_find(st, kind, group, m->name) != NULL) {
		rules_viol_add(v, "name",
		    "%s with this name already exists in this group.",
		    rules_kind_article(kind));
		taken = 1;
	}
	if (svc_reply_viol(r, taken))
		goto out;

	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;
	uint8_t id[16], canvas[16];
	char ids[FS_UUID_STRLEN + 1], canvass[FS_UUID_STRLEN + 1];

	do {
		fs_uuid_new(id);
	} while (store_get(st, id) != NULL);
	fs_uuid_new(canvas);
	fs_uuid_format(id, ids);
	fs_uuid_format(canvas, canvass);
	c.id = ids;
	c.kind = (Flowsvc__Kind) kind;
	c.name = m->name;
	c.group = (char *) group;
	set_fields(&c, m->input_fields, m->output_fields);
	c.canvas_id = canvass;
	c.n_flows = fids.n;
	c.flows = flows;
	c.version = 1;
	c.created_at_us = c.updated_at_us = fs_now_us();
	commit_put(s, q->who, &c, FLOWSVC__STATUS__NOT_DEPLOYED,
	    store_last_seq(st) + 1, r);
out:
	svc_unlock(s);
	free(flows);
	rules_ids_fini(&fids);
	return 0;
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
	if (strcmp(f->field, "id") == 0 ||
	    strcmp(f->field, "canvas_id") == 0) {
		const char *cur = f->field[0] == 'i' ? c->id : c->canvas_id;
		return fs_uuid_parse(v, a) == 0 &&
		    fs_uuid_parse(cur, b) == 0 && memcmp(a, b, 16) == 0;
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

/* The new `flows` of self: the caller's list (canon, n ids) followed by
 * the references to flows the caller cannot see, which stay (a caller
 * replaces only what it can see: it got the list without them). *list and
 * *hidbuf are the caller's to free. Returns the count, or -1 when out of
 * memory. */
static ssize_t
merge_hidden(const Flowsvc__Caller *who, const store_comp *self,
    char (*canon)[FS_UUID_STRLEN + 1], size_t n, char ***list, char **hidbuf)
{
	uint32_t hidden = access_hidden_uses(who, self);
	size_t all = n + hidden;

	*hidbuf = malloc((size_t) hidden * (FS_UUID_STRLEN + 1) + 1);
	*list = malloc((all ? all : 1) * sizeof(**list));
	if (*hidbuf == NULL || *list == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		(*list)[i] = canon[i];
	char *hid = *hidbuf;
	for (uint32_t i = 0; hidden > 0 && i < store_comp_nuses(self); i++) {
		const store_comp *f = store_comp_use(self, i);
		if (access_visible(who, f))
			continue;
		fs_uuid_format(store_comp_id(f), hid);
		(*list)[n++] = hid;
		hid += FS_UUID_STRLEN + 1;
	}
	return (ssize_t) n;
}

int
svc_change_update(svc *s, const svc_req *q, svc_reply *r)
{
	const Flowsvc__UpdateRequest *m = q->msg;
	Flowsvc__Component *old = NULL;
	char *hidbuf = NULL;
	char **flows = NULL;
	unsigned char *ro_bad = NULL;
	size_t ro_check[READONLY_NAMES], nro = 0, nbad = 0;
	rules_viol *v = &r->v, late = {0};
	rules_ids fids = {0};
	int locked = 0;

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
		svc_reply_oom(r);
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

	svc_write_lock(s);
	locked = 1;
	store_comp *self = svc_find(s, q, r, m->id, m->has_kind, m->kind);
	if (self == NULL ||
	    !version_ok(r, self, m->has_expected_version,
	        m->expected_version)) {
		/* NOT_FOUND or ABORTED, whatever the fields say */
		rules_viol_fini(v);
		goto out;
	}
	if ((old = store_unpack(self)) == NULL) {
		svc_reply_oom(r);
		goto out;
	}
	check_flows(svc_store(s), q->who, m->flows, &fids, self, v);
	for (size_t j = 0; j < nro; j++) {
		size_t i = ro_check[j];
		if (!readonly_same(m->read_only[i], old)) {
			ro_bad[i] = 1;
			nbad++;
		}
	}
	if (nbad > 0 || rules_viol_any(v) || rules_viol_any(&late)) {
		/* Refused: the messages in request order, without the lock. */
		svc_unlock(s);
		locked = 0;
		for (size_t i = 0; i < m->n_read_only; i++)
			if (ro_bad[i])
				rules_viol_add(v, m->read_only[i]->field,
				    "This field is read-only.");
		rules_viol_move(v, &late);
		svc_reply_viol(r, 0);
		goto out;
	}

	Flowsvc__Component c = *old;
	set_fields(&c, m->input_fields, m->output_fields);
	if (m->flows != NULL) {
		ssize_t n = merge_hidden(q->who, self, fids.canon, fids.n,
		    &flows, &hidbuf);
		if (n < 0) {
			svc_reply_oom(r);
			goto out;
		}
		c.n_flows = (size_t) n;
		c.flows = flows;
	}
	c.version = old->version + 1;
	c.updated_at_us = fs_now_us();
	if (c.updated_at_us <= old->updated_at_us)
		c.updated_at_us = old->updated_at_us + 1;
	commit_put(s, q->who, &c, store_comp_status(self),
	    store_comp_seq(self), r);
out:
	if (locked)
		svc_unlock(s);
	free(flows);
	free(hidbuf);
	free(ro_bad);
	rules_viol_fini(&late);
	rules_ids_fini(&fids);
	if (old != NULL)
		flowsvc__component__free_unpacked(old, NULL);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The 409 text: users the caller can see, sorted, then how many others. */
static void
reply_in_use(svc_reply *r, const Flowsvc__Caller *who, const store_comp *c)
{
	const char **names = malloc(store_comp_nusers(c) * sizeof(*names));
	size_t n = 0, hidden = 0, len = 0;
	store_users it;
	store_comp *u;

	if (names == NULL) {
		svc_reply_oom(r);
		return;
	}
	for (store_users_begin(c, &it); (u = store_users_next(&it)) != NULL;) {
		if (access_visible(who, u)) {
			names[n++] = store_comp_name(u);
			len += strlen(names[n - 1]) + 1;
		} else {
			hidden++;
		}
	}
	qsort(names, n, sizeof(*names), cmp_str);
	char *list = malloc(len + 1), *p = list;
	if (list == NULL) {
		free(names);
		svc_reply_oom(r);
		return;
	}
	*p = '\0';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", names[i]);
	char more[64] = "";
	if (hidden > 0)
		snprintf(more, sizeof(more), "%s%zu other%s", n ? " and " : "",
		    hidden, hidden == 1 ? "" : "s");
	svc_reply_err(r, FS_FAILED_PRECONDITION,
	    "Cannot delete the %s, because it is used by these apps/flows: "
	    "%s%s",
	    rules_kind_title(store_comp_kind(c)), list, more);
	free(list);
	free(names);
}

int
svc_change_delete(svc *s, const svc_req *q, svc_reply *r)
{
	const Flowsvc__IdRequest *m = q->msg;

	svc_write_lock(s);
	store_comp *c = svc_find(s, q, r, m->id, m->has_kind, m->kind);
	if (c != NULL &&
	    !version_ok(r, c, m->has_expected_version, m->expected_version))
		c = NULL; /* answered */
	if (c != NULL && store_comp_nusers(c) > 0) {
		reply_in_use(r, q->who, c);
	} else if (c != NULL) {
		char id[FS_UUID_STRLEN + 1];
		Flowsvc__LogRecord rec = FLOWSVC__LOG_RECORD__INIT;
		fs_uuid_format(store_comp_id(c), id);
		Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
		svc_answer a;
		rec.op_case = FLOWSVC__LOG_RECORD__OP_DELETE_ID;
		rec.delete_id = id;
		if (svc_answer_msg(&a, &e.base) != FS_OK)
			svc_reply_oom(r);
		else
			svc_commit(s, &rec, &a, r);
	}
	svc_unlock(s);
	return 0;
}

/* DEPLOY, START, STOP: the status they lead to from `from`, or -1 when
 * the component must be deployed first. */
static int
status_after(int method, int from)
{
	if (method == FLOWSVC__METHOD__DEPLOY)
		return FLOWSVC__STATUS__STARTED;
	if (from == FLOWSVC__STATUS__NOT_DEPLOYED)
		return -1;
	return method == FLOWSVC__METHOD__START ? FLOWSVC__STATUS__STARTED
	                                        : FLOWSVC__STATUS__STOPPED;
}

int
svc_change_status(svc *s, const svc_req *q, svc_reply *r)
{
	const Flowsvc__IdRequest *m = q->msg;
	char id[FS_UUID_STRLEN + 1];
	Flowsvc__StatusChange ch = FLOWSVC__STATUS_CHANGE__INIT;
	Flowsvc__LogRecord rec = FLOWSVC__LOG_RECORD__INIT;

	svc_write_lock(s);
	store_comp *c = svc_find(s, q, r, m->id, m->has_kind, m->kind);
	if (c != NULL &&
	    !version_ok(r, c, m->has_expected_version, m->expected_version))
		c = NULL; /* answered */
	int to = c != NULL
	    ? status_after((int) q->env->method, store_comp_status(c))
	    : 0;
	if (c == NULL)
		goto out;
	if (to < 0) {
		svc_reply_err(r, FS_FAILED_PRECONDITION,
		    "The component is not deployed.");
		goto out;
	}
	if (to != store_comp_status(c)) {
		/* The one change a lifecycle call makes. */
		fs_uuid_format(store_comp_id(c), id);
		ch.id = id;
		ch.status = (Flowsvc__Status) to;
		Flowsvc__StatusReply sr = FLOWSVC__STATUS_REPLY__INIT;
		svc_answer a;
		rec.op_case = FLOWSVC__LOG_RECORD__OP_STATUS;
		rec.status = &ch;
		sr.status = (Flowsvc__Status) to;
		if (svc_answer_msg(&a, &sr.base) != FS_OK)
			svc_reply_oom(r);
		else
			svc_commit(s, &rec, &a, r);
		goto out;
	}
	svc_reply_status(r, c);
out:
	svc_unlock(s);
	return 0;
}
