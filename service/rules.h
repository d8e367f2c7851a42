/*
 * rules.h - validation rules of CONTRACT §1, as pure functions that append
 * field violations. No store access: rules that need state (name taken,
 * references, cycles) live with the handlers in svc.c.
 */
#ifndef SERVICE_RULES_H
#define SERVICE_RULES_H

#include <stddef.h>

#include "flows.pb-c.h"

#define RULES_NAME_MAX 100
#define RULES_GROUP_MAX 100
#define RULES_FIELD_MAX 255
#define RULES_FIELDS_MAX 1000
#define RULES_FLOWS_MAX 1000

/* Field violations in the order they were found, one entry per field. */
typedef struct viol {
	Flowsvc__FieldViolation **v;
	size_t n, cap;
	int oom; /* an append failed: report INTERNAL rather than a partial list */
} viol;

/* Appends a printf-formatted message to field's entry. */
void viol_add(viol *v, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 when field already has a violation. */
int viol_has(const viol *v, const char *field);

/* Frees every entry; v is empty and reusable afterwards. */
void viol_fini(viol *v);

/* Name: 1-100 of [A-Za-z0-9_]; messages name the kind (flow/app). NULL is
 * "required". Returns 0 when valid. */
int rules_name(viol *v, const char *name, int kind);

/* Group: 1-100 of [A-Za-z0-9_.-]. Returns 0 when valid. */
int rules_group(viol *v, const char *group);

/* input_fields / output_fields: at most 1000 items, each 1-255 characters,
 * no duplicates. NULL (absent) is valid. Returns 0 when valid. */
int rules_fields(viol *v, const char *field, const Flowsvc__StringList *l);

/* The messages for keys a gateway could not map. */
void rules_unknown(viol *v, char **fields, size_t n);
void rules_mistyped(viol *v, char **fields, size_t n);

/* "flow" / "app", "Flow" / "App", "A flow" / "An app". */
const char *rules_kind_word(int kind);
const char *rules_kind_title(int kind);
const char *rules_kind_article(int kind);

#endif
