/*
 * tl_rpc.h - RPC calls to a backend for tests that check state, with the
 * components they answer as JSON objects (every field, timestamps in
 * microseconds) so they compare with json_equal and print in messages:
 * create, update, get (with the status), list, the calls on one id, and
 * Snapshot.
 *
 * No CUnit here: safe from any thread (one fs_client may serve many).
 * Each returns the call's fs_code; JSON results belong to the caller.
 */
#ifndef TESTS_TL_RPC_H
#define TESTS_TL_RPC_H

#include <stdint.h>

#include <jansson.h>

#include "fs_rpc.h"

/* A component as a JSON object, every field included ("kind" as its enum
 * number; "created_at_us", "updated_at_us"). Its status is not a field of
 * the component: fs_trpc_get fetches it. */
json_t *fs_trpc_comp_json(const Flowsvc__Component *c);

/* One call; with desc, the OK payload is unpacked into *out (caller frees
 * with protobuf_c_message_free_unpacked; FS_INTERNAL when it does not
 * decode). */
int fs_trpc_call(fs_client *c, Flowsvc__Method m, const ProtobufCMessage *req,
    uint32_t timeout_ms, const ProtobufCMessageDescriptor *desc,
    ProtobufCMessage **out);

/* Create/Update answer a ComponentReply: *comp gets it as JSON (NULL
 * unless OK). */
int fs_trpc_component(fs_client *c, Flowsvc__Method m,
    const ProtobufCMessage *req, uint32_t timeout_ms, json_t **comp);

/* Creates name of kind with one output field and one flow reference
 * (either NULL: none). */
int fs_trpc_create(fs_client *c, Flowsvc__Kind kind, const char *name,
    const char *out_field, const char *flow_ref, uint32_t timeout_ms,
    json_t **comp);

/* Sets id's output_fields to the one item out_field. */
int fs_trpc_update_out(fs_client *c, const char *id, const char *out_field,
    uint32_t timeout_ms, json_t **comp);

/* Delete, Deploy, Start, Stop, GetStatus: *status (optional) gets the
 * StatusReply's status when there is one, else -1. */
int fs_trpc_id(fs_client *c, Flowsvc__Method m, const char *id,
    uint32_t timeout_ms, int *status);

/* Get by id (any kind) and, when status is not NULL, its status (-1 when
 * that second call fails). */
int fs_trpc_get(fs_client *c, const char *id, json_t **comp, int *status);

/* Every flow, then every app, in creation order, as a JSON array; NULL
 * when a call failed. name: NULL or a name__iexact filter. */
json_t *fs_trpc_list(fs_client *c, const char *name);

/* The Snapshot RPC (it answers once the file is in place). */
int fs_trpc_snapshot(fs_client *c);

/* Health of c's backend (2 s at most), NULL without an answer; the
 * caller frees it with flowsvc__health_reply__free_unpacked. */
Flowsvc__HealthReply *fs_trpc_health(fs_client *c);

/* The revision Health says (0 without an answer). */
uint64_t fs_trpc_revision(fs_client *c);

/* Polls Health until the revision is at least rev, for at most ms.
 * Returns 0, or -1 on timeout. */
int fs_trpc_wait_revision(fs_client *c, uint64_t rev, int ms);

#endif
