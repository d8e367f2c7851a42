#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- violations --------------------------------------------------------- */

static Flowsvc__FieldViolation *
viol_entry(viol *v, const char *field)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i]->field, field) == 0)
			return v->v[i];
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 4;
		Flowsvc__FieldViolation **nv = realloc(v->v, cap * sizeof(*nv));
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

void
viol_add(viol *v, const char *field, const char *fmt, ...)
{
	Flowsvc__FieldViolation *e = viol_entry(v, field);
	char *msg = NULL;
	va_list ap;

	if (e == NULL) {
		v->oom = 1;
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
	char **nm = realloc(e->messages, (e->n_messages + 1) * sizeof(*nm));
	if (nm == NULL) {
		free(msg);
		v->oom = 1;
		return;
	}
	e->messages = nm;
	e->messages[e->n_messages++] = msg;
}

int
viol_has(const viol *v, const char *field)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i]->field, field) == 0)
			return 1;
	return 0;
}

void
viol_fini(viol *v)
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
rules_name(viol *v, const char *name, int kind)
{
	if (name == NULL) {
		viol_add(v, "name", "This field is required.");
		return -1;
	}
	size_t len = strlen(name);
	if (len == 0) {
		viol_add(v, "name", "This field may not be blank.");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (!is_name_char((unsigned char) name[i])) {
			viol_add(v, "name",
			    "Invalid %s name. %s name must contain only "
			    "alphanumeric characters and the underscore "
			    "character.",
			    rules_kind_word(kind), rules_kind_title(kind));
			return -1;
		}
	}
	if (len > RULES_NAME_MAX) {
		viol_add(v, "name",
		    "Ensure this field has no more than %d characters.",
		    RULES_NAME_MAX);
		return -1;
	}
	return 0;
}

int
rules_group(viol *v, const char *group)
{
	size_t len = strlen(group);
	int ok = len >= 1 && len <= RULES_GROUP_MAX;

	for (size_t i = 0; ok && i < len; i++) {
		unsigned char c = (unsigned char) group[i];
		ok = is_name_char(c) || c == '.' || c == '-';
	}
	if (!ok) {
		viol_add(v, "group",
		    "Invalid group. Group must be 1 to %d characters from "
		    "letters, digits, '_', '.' and '-'.",
		    RULES_GROUP_MAX);
		return -1;
	}
	return 0;
}

int
rules_fields(viol *v, const char *field, const Flowsvc__StringList *l)
{
	if (l == NULL)
		return 0;
	if (l->n_items > RULES_FIELDS_MAX) {
		viol_add(v, field,
		    "Ensure this field has no more than %d elements.",
		    RULES_FIELDS_MAX);
		return -1;
	}
	for (size_t i = 0; i < l->n_items; i++) {
		size_t len = strlen(l->items[i]);
		if (len < 1 || len > RULES_FIELD_MAX) {
			viol_add(v, field,
			    "Ensure every item has 1 to %d characters.",
			    RULES_FIELD_MAX);
			return -1;
		}
	}
	/* Quadratic, but bounded by the 1000-item limit above; a hash set
	 * would cost more than it saves at these sizes. */
	for (size_t i = 1; i < l->n_items; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(l->items[i], l->items[j]) == 0) {
				viol_add(v, field, "Duplicate item \"%.255s\".",
				    l->items[i]);
				return -1;
			}
		}
	}
	return 0;
}

void
rules_unknown(viol *v, char **fields, size_t n)
{
	for (size_t i = 0; i < n; i++)
		viol_add(v, fields[i], "Unknown field.");
}

void
rules_mistyped(viol *v, char **fields, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *f = fields[i];
		if (strcmp(f, "name") == 0 || strcmp(f, "group") == 0)
			viol_add(v, f, "Not a valid string.");
		else
			viol_add(v, f, "Expected a list of strings.");
	}
}
