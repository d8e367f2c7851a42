/*
 * gw_json.h - JSON <-> protobuf mapping of the REST surface.
 *
 * Pure functions: no I/O, no logging, no global state; safe from any
 * thread. Requests go JSON -> protobuf with jansson (parsing must be
 * strict and diagnose well); replies go protobuf -> JSON through a small
 * writer into one growable buffer, which is the hot path of every GET and
 * costs one allocation instead of a jansson tree plus json_dumps.
 *
 * The mapping carries no business rules: keys the gateway cannot map, or
 * values of the wrong JSON type, are forwarded by name (unknown_fields,
 * mistyped_fields, ReadOnlyField.wrong_type) so that the backend reports
 * every field error of a request in one reply (CONTRACT §3).
 */
#ifndef GATEWAY_GW_JSON_H
#define GATEWAY_GW_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "flows.pb-c.h"

/* ---- output buffer ----------------------------------------------------- */

/* A growable byte buffer with a sticky out-of-memory flag: writers never
 * fail individually, the caller checks `oom` once at the end. Zero-init
 * (GW_BUF_INIT) is an empty buffer. data is NUL-terminated whenever len > 0
 * and oom is false. */
typedef struct gw_buf {
	char *data;
	size_t len;
	size_t cap;
	bool oom;
} gw_buf;

#define GW_BUF_INIT                                                           \
	{                                                                     \
		NULL, 0, 0, false                                             \
	}

void gw_buf_put(gw_buf *b, const char *s, size_t n);
void gw_buf_puts(gw_buf *b, const char *s);

/* Hands the bytes to the caller (who frees them with free()) and leaves b
 * empty. Returns NULL when b is empty or out of memory (b's memory is
 * released either way). */
char *gw_buf_take(gw_buf *b, size_t *len);

/* Frees the buffer's memory and resets it to empty. */
void gw_buf_reset(gw_buf *b);

/* Appends s as a JSON string literal (quotes included, escaped per RFC
 * 8259; bytes >= 0x80 are copied as they are). s NULL writes "". */
void gw_json_put_string(gw_buf *b, const char *s);

/* ---- requests: JSON -> protobuf ---------------------------------------- */

/* Room for gw_json_load_object's detail text. */
#define GW_JSON_DETAIL_MAX 256

/* Parses a request body that must be one JSON object. An empty body (len 0)
 * is an empty object. Duplicate keys are an error. Returns a new reference
 * (caller json_decref()s it), or NULL with detail set to the whole
 * CONTRACT error text: "JSON parse error - <jansson's text> (line L, column
 * C)" or "JSON parse error - expected a JSON object". */
json_t *gw_json_load_object(const char *data, size_t len,
    char detail[GW_JSON_DETAIL_MAX]);

/* The keys that may not be null (CONTRACT §2), as bits of a mask: a key
 * sent as null is forwarded as mistyped (create, and the lists of an
 * update) or as a read-only key of the wrong type (name and group of an
 * update), so that the backend refuses the change and reports every
 * other problem of the body; its message is then "This field may not be
 * null." (gw_json_put_violations). */
enum {
	GW_NULL_NAME = 1u << 0,
	GW_NULL_GROUP = 1u << 1,
	GW_NULL_INPUT_FIELDS = 1u << 2,
	GW_NULL_OUTPUT_FIELDS = 1u << 3,
	GW_NULL_FLOWS = 1u << 4,
};

/* The mask of those keys that obj holds as null. */
unsigned gw_json_nulls(const json_t *obj);

/* Maps a create body. kind is FLOW or APP. Returns 0 and *out, or -1 when
 * out of memory. *out is built only from malloc'd memory and owns copies
 * of everything it points to, so it is freed with
 * flowsvc__create_request__free_unpacked(*out, NULL) and does not depend
 * on obj afterwards. */
int gw_json_to_create(const json_t *obj, Flowsvc__Kind kind,
    Flowsvc__CreateRequest **out);

/* Maps an update body for component id (copied). Ownership and result as
 * for gw_json_to_create; free with flowsvc__update_request__free_unpacked
 * (*out, NULL). */
int gw_json_to_update(const json_t *obj, const char *id, Flowsvc__Kind kind,
    Flowsvc__UpdateRequest **out);

/* ---- replies: protobuf -> JSON ----------------------------------------- */

/* {"id":..,"name":..,"group":..,"input_fields":[..],"output_fields":[..],
 *  "canvas_id":..,"flows":[..],"version":N,"created_at":..,"updated_at":..}
 * in that order, timestamps as RFC 3339 with microseconds. No kind. */
void gw_json_put_component(gw_buf *b, const Flowsvc__Component *c);

/* A JSON array of components, in the given order. */
void
gw_json_put_components(gw_buf *b, size_t n, Flowsvc__Component *const *comps);

/* {"status":"not-deployed"|"started"|"stopped"}; an out-of-range value
 * (a newer backend) is written as "unknown". */
void gw_json_put_status(gw_buf *b, Flowsvc__Status s);

/* {"detail":msg} */
void gw_json_put_detail(gw_buf *b, const char *msg);

/* {"<field>":["msg",...],...}: one key per field, in the order fields
 * first appear; violations of the same field are merged. The fields of
 * nulls (GW_NULL_ bits: the body sent them as null) say only "This field
 * may not be null.". */
void gw_json_put_violations(gw_buf *b, size_t n,
    Flowsvc__FieldViolation *const *v, unsigned nulls);

#endif
