/*
 * rules.h - validation rules of CONTRACT §1, as pure functions that append
 * field violations. No store access: rules that need state (name taken,
 * references, cycles) live with the handlers in svc.c.
 */
#ifndef SERVICE_RULES_H
#define SERVICE_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "fs_rpc.h"
#include "fs_util.h"

#define RULES_NAME_MAX 100
#define RULES_GROUP_MAX 100
#define RULES_FIELD_MAX 255
#define RULES_FIELDS_MAX 1000
#define RULES_FLOWS_MAX 1000

/* The most messages one reply lists. A request can name as many bad
 * fields as its size allows (a 1 MiB body holds ~96k unknown keys): past
 * this many, messages are only counted, and rules_viol_close says how many more
 * there were. No valid-looking request comes near it. */
#define RULES_VIOL_MAX FS_VIOLATIONS_MAX
/* The key of that count: Django REST Framework's name for errors that
 * belong to no one field. */
#define RULES_VIOL_MORE_FIELD "non_field_errors"

/* Field violations in the order they were found, one entry per field.
 * Zero-init is empty. Bounded: at most RULES_VIOL_MAX messages, so a
 * lookup by field name (a scan of at most that many entries) costs O(1)
 * and an add past the limit only counts. */
typedef struct rules_viol {
	Flowsvc__FieldViolation **v;
	size_t n, cap;
	size_t nmsg;    /* messages held */
	size_t dropped; /* messages past RULES_VIOL_MAX, counted only */
	int oom; /* an append failed: report INTERNAL rather than a partial list */
} rules_viol;

/* Appends a printf-formatted message to field's entry (only counts it
 * once RULES_VIOL_MAX are held). */
void rules_viol_add(rules_viol *v, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 when field already has a violation. */
int rules_viol_has(const rules_viol *v, const char *field);

/* 1 when v holds (or counted) any violation, or an append failed. */
int rules_viol_any(const rules_viol *v);

/* Moves every message of src to the end of dst (merging into dst's entry
 * of the same field), then empties src. */
void rules_viol_move(rules_viol *dst, rules_viol *src);

/* When messages were dropped, appends RULES_VIOL_MORE_FIELD: "N more errors not
 * listed." Call once, when the list is complete. */
void rules_viol_close(rules_viol *v);

/* Frees every entry; v is empty and reusable afterwards. */
void rules_viol_fini(rules_viol *v);

/* Name: 1-100 of [A-Za-z0-9_]; messages name the kind (flow/app). NULL is
 * "required". Returns 0 when valid. */
int rules_name(rules_viol *v, const char *name, int kind);

/* Group: 1-100 of [A-Za-z0-9_.-]. Returns 0 when valid. */
int rules_group(rules_viol *v, const char *group);

/* input_fields / output_fields: at most 1000 items, each 1-255 characters,
 * no duplicates (the first item that repeats an earlier one is named).
 * NULL (absent) is valid. O(n log n). Returns 0 when valid. */
int
rules_fields(rules_viol *v, const char *field, const Flowsvc__StringList *l);

/* A `flows` list parsed ahead of the store checks, so that what needs no
 * store (uuid syntax, canonical form, repeats) is done outside the write
 * lock. Zero-init is empty. */
enum rules_id_state {
	RULES_ID_OK,  /* a uuid, first of its value in the list */
	RULES_ID_BAD, /* not a uuid: "does not exist" */
	RULES_ID_DUP  /* the same uuid as an earlier item */
};
typedef struct rules_ids {
	size_t n;
	int too_many;       /* over RULES_FLOWS_MAX: nothing else is set */
	uint8_t (*bin)[16]; /* [n] parsed ids (RULES_ID_BAD: zero) */
	char (*canon)[FS_UUID_STRLEN + 1]; /* [n] lower-case canonical form */
	unsigned char *state;              /* [n] enum rules_id_state */
} rules_ids;

/* Parses l into out (l NULL: empty). O(n log n). Returns 0, or -1 when out
 * of memory (out is then empty). Release with rules_ids_fini. */
int rules_ids_prepare(rules_ids *out, const Flowsvc__StringList *l);
void rules_ids_fini(rules_ids *ids);

/* The messages for keys a gateway could not map: n named, and `more` it
 * only counted. O(n): past RULES_VIOL_MAX they are only counted. */
void rules_unknown(rules_viol *v, char **fields, size_t n, size_t more);
void rules_mistyped(rules_viol *v, char **fields, size_t n);

/* "flow" / "app", "Flow" / "App", "A flow" / "An app". */
const char *rules_kind_word(int kind);
const char *rules_kind_title(int kind);
const char *rules_kind_article(int kind);

#endif
