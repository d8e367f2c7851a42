#include "rules.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- violations --------------------------------------------------------- */

/* field's entry, created when missing. A linear scan: v holds at most
 * RULES_VIOL_MAX entries (plus the closing count). */
static Flowsvc__FieldViolation *
viol_entry(rules_viol *v, const char *field)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i]->field, field) == 0)
			return v->v[i];
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 4;
		Flowsvc__FieldViolation **nv =
		    realloc(v->v, cap * sizeof(*nv));
		if (nv == NULL)
			return NULL;
		v->v = nv;
		v->cap = cap;
	}
	Flowsvc__FieldViolation *e = malloc(sizeof(*e));
	if (e == NULL)
		return NULL;
	flowsvc__field_violation__init(e);
	if ((e->field = strdup(field)) == NULL) {
		free(e);
		return NULL;
	}
	v->v[v->n++] = e;
	return e;
}

/* Appends msg (owned; freed on failure) to field's entry. */
static void
viol_put(rules_viol *v, const char *field, char *msg)
{
	Flowsvc__FieldViolation *e = viol_entry(v, field);
	char **nm;

	if (e == NULL ||
	    (nm = realloc(e->messages, (e->n_messages + 1) * sizeof(*nm))) ==
	        NULL) {
		free(msg);
		v->oom = 1;
		return;
	}
	e->messages = nm;
	e->messages[e->n_messages++] = msg;
	v->nmsg++;
}

void
rules_viol_add(rules_viol *v, const char *field, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;

	if (v->nmsg >= RULES_VIOL_MAX) {
		v->dropped++;
		return;
	}
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (msg = malloc((size_t) n + 1)) == NULL) {
		v->oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, (size_t) n + 1, fmt, ap);
	va_end(ap);
	viol_put(v, field, msg);
}

int
rules_viol_has(const rules_viol *v, const char *field)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i]->field, field) == 0)
			return 1;
	return 0;
}

int
rules_viol_any(const rules_viol *v)
{
	return v->n > 0 || v->dropped > 0 || v->oom;
}

void
rules_viol_move(rules_viol *dst, rules_viol *src)
{
	for (size_t i = 0; i < src->n; i++) {
		Flowsvc__FieldViolation *e = src->v[i];
		for (size_t j = 0; j < e->n_messages; j++) {
			if (dst->nmsg >= RULES_VIOL_MAX) {
				dst->dropped++;
				free(e->messages[j]);
			} else {
				viol_put(dst, e->field, e->messages[j]);
			}
		}
		e->n_messages = 0; /* each one freed or owned by dst */
	}
	dst->dropped += src->dropped;
	dst->oom |= src->oom;
	rules_viol_fini(src);
}

void
rules_viol_close(rules_viol *v)
{
	char buf[64], *msg;
	size_t n = v->dropped;

	if (n == 0)
		return;
	v->dropped = 0;
	snprintf(buf, sizeof(buf), "%zu more error%s not listed.", n,
	    n == 1 ? "" : "s");
	if ((msg = strdup(buf)) == NULL) {
		v->oom = 1;
		return;
	}
	viol_put(v, RULES_VIOL_MORE_FIELD,
	    msg); /* past the limit on purpose */
}

void
rules_viol_fini(rules_viol *v)
{
	for (size_t i = 0; i < v->n; i++) {
		for (size_t j = 0; j < v->v[i]->n_messages; j++)
			free(v->v[i]->messages[j]);
		free(v->v[i]->messages);
		free(v->v[i]->field);
		free(v->v[i]);
	}
	free(v->v);
	memset(v, 0, sizeof(*v));
}

/* ---- rules -------------------------------------------------------------- */

const char *
rules_kind_word(int kind)
{
	return kind == FLOWSVC__KIND__APP ? "app" : "flow";
}

const char *
rules_kind_title(int kind)
{
	return kind == FLOWSVC__KIND__APP ? "App" : "Flow";
}

const char *
rules_kind_article(int kind)
{
	return kind == FLOWSVC__KIND__APP ? "An app" : "A flow";
}

static int
is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

int
rules_name(rules_viol *v, const char *name, int kind)
{
	if (name == NULL) {
		rules_viol_add(v, "name", "This field is required.");
		return -1;
	}
	size_t len = strlen(name);
	if (len == 0) {
		rules_viol_add(v, "name", "This field may not be blank.");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (!is_name_char((unsigned char) name[i])) {
			rules_viol_add(v, "name",
			    "Invalid %s name. %s name must contain only "
			    "alphanumeric characters and the underscore "
			    "character.",
			    rules_kind_word(kind), rules_kind_title(kind));
			return -1;
		}
	}
	if (len > RULES_NAME_MAX) {
		rules_viol_add(v, "name",
		    "Ensure this field has no more than %d characters.",
		    RULES_NAME_MAX);
		return -1;
	}
	return 0;
}

int
rules_group(rules_viol *v, const char *group)
{
	size_t len = strlen(group);
	int ok = len >= 1 && len <= RULES_GROUP_MAX;

	for (size_t i = 0; ok && i < len; i++) {
		unsigned char c = (unsigned char) group[i];
		ok = is_name_char(c) || c == '.' || c == '-';
	}
	if (!ok) {
		rules_viol_add(v, "group",
		    "Invalid group. Group must be 1 to %d characters from "
		    "letters, digits, '_', '.' and '-'.",
		    RULES_GROUP_MAX);
		return -1;
	}
	return 0;
}

struct str_ix {
	const char *s;
	size_t i;
};

static int
cmp_str_ix(const void *a, const void *b)
{
	const struct str_ix *x = a, *y = b;
	int c = strcmp(x->s, y->s);

	if (c != 0)
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* The index of the first item of l equal to an earlier one; SIZE_MAX when
 * none, SIZE_MAX - 1 when out of memory. */
static size_t
fields_first_repeat(const Flowsvc__StringList *l)
{
	size_t n = l->n_items, best = SIZE_MAX;
	struct str_ix *a;

	if (n < 2)
		return SIZE_MAX;
	if ((a = malloc(n * sizeof(*a))) == NULL)
		return SIZE_MAX - 1;
	for (size_t i = 0; i < n; i++) {
		a[i].s = l->items[i];
		a[i].i = i;
	}
	qsort(a, n, sizeof(*a), cmp_str_ix);
	for (size_t i = 1; i < n; i++)
		if (strcmp(a[i].s, a[i - 1].s) == 0 && a[i].i < best)
			best = a[i].i;
	free(a);
	return best;
}

int
rules_fields(rules_viol *v, const char *field, const Flowsvc__StringList *l)
{
	if (l == NULL)
		return 0;
	if (l->n_items > RULES_FIELDS_MAX) {
		rules_viol_add(v, field,
		    "Ensure this field has no more than %d elements.",
		    RULES_FIELDS_MAX);
		return -1;
	}
	for (size_t i = 0; i < l->n_items; i++) {
		size_t len = strlen(l->items[i]);
		if (len < 1 || len > RULES_FIELD_MAX) {
			rules_viol_add(v, field,
			    "Ensure every item has 1 to %d characters.",
			    RULES_FIELD_MAX);
			return -1;
		}
	}
	/* The first item equal to an earlier one: sort the indexes by
	 * (text, index); in each run of equal texts every index after the
	 * run's first repeats it, and the smallest such index is the item the
	 * old pairwise scan named. */
	size_t dup = fields_first_repeat(l);
	if (dup == SIZE_MAX - 1) {
		v->oom = 1;
		return -1;
	}
	if (dup != SIZE_MAX) {
		rules_viol_add(v, field, "Duplicate item \"%.255s\".",
		    l->items[dup]);
		return -1;
	}
	return 0;
}

struct bin_ix {
	uint8_t bin[16];
	size_t i;
};

static int
cmp_bin_ix(const void *a, const void *b)
{
	const struct bin_ix *x = a, *y = b;
	int c = memcmp(x->bin, y->bin, 16);

	if (c != 0)
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

int
rules_ids_prepare(rules_ids *out, const Flowsvc__StringList *l)
{
	size_t n = l != NULL ? l->n_items : 0, k = 0;
	struct bin_ix *a = NULL;

	memset(out, 0, sizeof(*out));
	if (n > RULES_FLOWS_MAX) {
		out->too_many = 1;
		return 0;
	}
	if (n == 0)
		return 0;
	out->bin = calloc(n, sizeof(*out->bin));
	out->canon = calloc(n, sizeof(*out->canon));
	out->state = calloc(n, sizeof(*out->state));
	a = malloc(n * sizeof(*a));
	if (out->bin == NULL || out->canon == NULL || out->state == NULL ||
	    a == NULL) {
		free(a);
		rules_ids_fini(out);
		return -1;
	}
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		if (fs_uuid_parse(l->items[i], out->bin[i]) != 0) {
			out->state[i] = RULES_ID_BAD;
			continue;
		}
		fs_uuid_format(out->bin[i], out->canon[i]);
		memcpy(a[k].bin, out->bin[i], 16);
		a[k++].i = i;
	}
	/* Equal ids sort together, earliest first: the rest of each run are
	 * repeats. */
	qsort(a, k, sizeof(*a), cmp_bin_ix);
	for (size_t j = 1; j < k; j++)
		if (memcmp(a[j].bin, a[j - 1].bin, 16) == 0)
			out->state[a[j].i] = RULES_ID_DUP;
	free(a);
	return 0;
}

void
rules_ids_fini(rules_ids *ids)
{
	free(ids->bin);
	free(ids->canon);
	free(ids->state);
	memset(ids, 0, sizeof(*ids));
}

void
rules_unknown(rules_viol *v, char **fields, size_t n, size_t more)
{
	for (size_t i = 0; i < n; i++)
		rules_viol_add(v, fields[i], "Unknown field.");
	v->dropped += more;
}

void
rules_mistyped(rules_viol *v, char **fields, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *f = fields[i];
		if (strcmp(f, "name") == 0 || strcmp(f, "group") == 0)
			rules_viol_add(v, f, "Not a valid string.");
		else
			rules_viol_add(v, f, "Expected a list of strings.");
	}
}
