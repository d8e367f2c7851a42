/*
 * fs_methods.h - the one table of RPC methods.
 *
 * Every method of flows.proto's Method enum with what the rest of the code
 * needs to know about it: its names, its request and reply messages, and
 * how it may be carried and served. Dispatch in the backend, the client's
 * coalescing, the gateway's routes and rendering, flowctl and the metrics
 * labels read this table instead of switching on the method themselves. A
 * new method is one row here, one handler in the backend, and whatever
 * surface (route, command) exposes it.
 */
#ifndef PROTO_FS_METHODS_H
#define PROTO_FS_METHODS_H

#include <stdbool.h>

#include "flows.pb-c.h"

/* What a method does, as flags. */
enum fs_method_flag {
	/* Reads the store only. */
	FS_M_READ = 1u << 0,
	/* Changes the store: takes the next revision, and only the primary
	 * runs it (a replica forwards it). */
	FS_M_WRITE = 1u << 1,
	/* Small and quick in the backend: a client may coalesce concurrent
	 * calls of it into one Batch. */
	FS_M_BATCH = 1u << 2,
	/* A replica answers it itself. */
	FS_M_REPLICA = 1u << 3,
	/* May wait in the backend (a long poll): never batched, and served
	 * without holding a context that other requests need. */
	FS_M_BLOCKS = 1u << 4,
};

/* X(ENUM, Name, request message, reply message, flags): ENUM is the
 * FLOWSVC__METHOD__ suffix, Name the method as flows.proto's service
 * spells it, the messages are the protobuf-c type prefixes without
 * "flowsvc__" (the descriptors are flowsvc__<msg>__descriptor). */
/* clang-format off */
#define FS_METHOD_TABLE(X)                                                 \
	X(GET, Get, get_request, component_reply,                          \
	    FS_M_READ | FS_M_BATCH | FS_M_REPLICA)                         \
	X(LIST, List, list_request, list_reply, FS_M_READ | FS_M_REPLICA)  \
	X(CREATE, Create, create_request, component_reply,                 \
	    FS_M_WRITE | FS_M_BATCH)                                       \
	X(UPDATE, Update, update_request, component_reply,                 \
	    FS_M_WRITE | FS_M_BATCH)                                       \
	X(DELETE, Delete, id_request, empty, FS_M_WRITE | FS_M_BATCH)      \
	X(GET_STATUS, GetStatus, id_request, status_reply,                 \
	    FS_M_READ | FS_M_BATCH | FS_M_REPLICA)                         \
	X(DEPLOY, Deploy, id_request, status_reply, FS_M_WRITE | FS_M_BATCH) \
	X(START, Start, id_request, status_reply, FS_M_WRITE | FS_M_BATCH) \
	X(STOP, Stop, id_request, status_reply, FS_M_WRITE | FS_M_BATCH)   \
	X(SNAPSHOT, Snapshot, empty, empty, FS_M_REPLICA)                  \
	X(HEALTH, Health, empty, health_reply,                             \
	    FS_M_READ | FS_M_BATCH | FS_M_REPLICA)                         \
	X(STATS, Stats, empty, stats_reply, FS_M_READ | FS_M_REPLICA)      \
	X(BATCH, Batch, batch_request, batch_reply, FS_M_REPLICA)          \
	X(WATCH, Watch, watch_request, watch_reply,                        \
	    FS_M_READ | FS_M_REPLICA | FS_M_BLOCKS)                        \
	X(REPLICATE, Replicate, replicate_request, replicate_reply,        \
	    FS_M_REPLICA | FS_M_BLOCKS)                                    \
	X(SNAPSHOT_FETCH, SnapshotFetch, snapshot_fetch_request,           \
	    snapshot_fetch_reply, FS_M_REPLICA)                            \
	X(PROMOTE, Promote, promote_request, promote_reply, FS_M_REPLICA)
/* clang-format on */

typedef struct fs_method_info {
	Flowsvc__Method method;
	const char *name;  /* "GetStatus": as the service in flows.proto */
	const char *label; /* "GET_STATUS": the enum name; log and metrics
	                    * label */
	const ProtobufCMessageDescriptor *request;
	const ProtobufCMessageDescriptor *reply;
	unsigned flags; /* enum fs_method_flag */
} fs_method_info;

/* The row of method, or NULL for a value the table does not hold
 * (METHOD_UNSPECIFIED, or one from a newer peer). Static storage. */
const fs_method_info *fs_method(int method);

/* 1 when method is in the table and has every flag in flags. */
bool fs_method_is(int method, unsigned flags);

/* The row whose name or label is s (case-insensitive: "getstatus",
 * "GET_STATUS"), or NULL. */
const fs_method_info *fs_method_by_name(const char *s);

/* The label of method for logs and metrics: the row's ("GET_STATUS"),
 * "METHOD_UNSPECIFIED" for 0, "UNKNOWN" for a value the table does not
 * hold. Never NULL; static storage. */
const char *fs_method_label(int method);

/* The names the REST API, flowctl and the watch stream give a status
 * ("not-deployed", "started", "stopped") and an event type ("added",
 * "modified", "deleted", "status"); "unknown" for any other value. Never
 * NULL; static storage. */
const char *fs_status_name(int status);
const char *fs_event_type_name(int type);

/* 1 when a Batch may carry method as a member: a read or a change that
 * does not block. Not Batch itself (no nesting) nor Snapshot (disk work
 * with a reply of its own). Wider than FS_M_BATCH, which says what a
 * client coalesces on its own: a Batch a caller builds may also hold a
 * List or Stats. */
bool fs_method_in_batch(int method);

/* One past the highest method value in the table: arrays indexed by
 * method have this many entries. */
#define FS_METHOD_LIMIT (FLOWSVC__METHOD__PROMOTE + 1)

#endif
