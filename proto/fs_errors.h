/*
 * fs_errors.h - the one table of status codes.
 *
 * Every code the RPC can return (gRPC numbering, see Code in flows.proto)
 * with its name, default message and the HTTP status the gateway answers
 * with (CONTRACT §3). Everything else is generated from this table.
 */
#ifndef PROTO_FS_ERRORS_H
#define PROTO_FS_ERRORS_H

/* X(name, value, http, message) */
#define FS_CODE_TABLE(X)                                                    \
	X(OK, 0, 200, "OK")                                                 \
	X(CANCELLED, 1, 500, "Cancelled.")                                  \
	X(UNKNOWN, 2, 500, "Internal error.")                               \
	X(INVALID_ARGUMENT, 3, 400, "Invalid request.")                     \
	X(DEADLINE_EXCEEDED, 4, 503, "Service unavailable.")                \
	X(NOT_FOUND, 5, 404, "Not found.")                                  \
	X(ALREADY_EXISTS, 6, 400, "Already exists.")                        \
	X(PERMISSION_DENIED, 7, 403,                                        \
	    "You do not have permission to perform this action.")          \
	X(RESOURCE_EXHAUSTED, 8, 500, "Internal error.")                    \
	X(FAILED_PRECONDITION, 9, 409, "Failed precondition.")              \
	X(ABORTED, 10, 500, "Internal error.")                              \
	X(OUT_OF_RANGE, 11, 400, "Out of range.")                           \
	X(UNIMPLEMENTED, 12, 500, "Internal error.")                        \
	X(INTERNAL, 13, 500, "Internal error.")                             \
	X(UNAVAILABLE, 14, 503, "Service unavailable.")                     \
	X(DATA_LOSS, 15, 500, "Internal error.")                            \
	X(UNAUTHENTICATED, 16, 401,                                         \
	    "Authentication credentials were not provided.")

enum fs_code {
#define FS_CODE_ENUM(name, value, http, msg) FS_##name = value,
	FS_CODE_TABLE(FS_CODE_ENUM)
#undef FS_CODE_ENUM
	FS_CODE_COUNT
};

/* "NOT_FOUND" for FS_NOT_FOUND; "UNKNOWN_CODE" for values outside the
 * table. Never NULL; static storage. */
const char *fs_code_name(int code);

/* The default human message for a code. Never NULL; static storage. */
const char *fs_strerror(int code);

/* The HTTP status the gateway answers with (500 for unknown codes). */
int fs_code_http(int code);

#endif
