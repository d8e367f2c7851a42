/*
 * fs_errors.h - the one table of status codes, and the REST surface's own
 * error details beside it.
 *
 * Every code the RPC can return (gRPC numbering, see Code in flows.proto)
 * with its name, default message and the HTTP status the gateway answers
 * with (CONTRACT §3). Everything else is generated from this table. Every
 * error body the gateway writes with a fixed text comes from one of the
 * two tables.
 */
#ifndef PROTO_FS_ERRORS_H
#define PROTO_FS_ERRORS_H

#include <stddef.h>

/* X(name, value, http, message) */
/* clang-format off */
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
	X(ABORTED, 10, 412,                                                 \
	    "Precondition failed: the component has changed.")              \
	X(OUT_OF_RANGE, 11, 400, "Out of range.")                           \
	X(UNIMPLEMENTED, 12, 500, "Internal error.")                        \
	X(INTERNAL, 13, 500, "Internal error.")                             \
	X(UNAVAILABLE, 14, 503, "Service unavailable.")                     \
	X(DATA_LOSS, 15, 500, "Internal error.")                            \
	X(UNAUTHENTICATED, 16, 401,                                         \
	    "Authentication credentials were not provided.")
/* clang-format on */

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

/* The REST surface's own answers (CONTRACT §2, §5; README "Errors"): the
 * fixed details of the errors the gateway finds itself, where no RPC code
 * stands behind the answer. Where one does (404 "Not found.", 503 "Service
 * unavailable.", 500 "Internal error.", 403, 401 without credentials),
 * the gateway answers with the code's row above: fs_code_http and
 * fs_strerror. A detail with a %s is completed with what the request sent
 * (fs_rest_format). Of the rows of one status, the first is that status's
 * general answer (fs_rest_of_http). X(name, http, detail) */
/* clang-format off */
#define FS_REST_ERROR_TABLE(X)                                              \
	X(MALFORMED, 400, "Malformed request.")                             \
	X(TOO_MANY_PARAMS, 400, "Too many query parameters.")               \
	X(JSON_PARSE, 400, "JSON parse error - %s")                         \
	/* a query parameter's message ({"limit": [...]}) */                \
	X(NOT_UINT, 400, "A valid non-negative integer is required.")       \
	/* If-Match naming two versions: a compare-and-set takes one */     \
	X(IF_MATCH_SEVERAL, 400, "If-Match may name one version only.")     \
	X(BAD_TOKEN, 401, "Invalid token.")                                 \
	X(METHOD_NOT_ALLOWED, 405, "Method \"%.64s\" not allowed.")         \
	X(BODY_TOO_LARGE, 413, "Request body too large.")                   \
	X(URI_TOO_LONG, 414, "Request URI too long.")                       \
	X(MEDIA_TYPE, 415, "Unsupported media type \"%.180s\" in request.") \
	X(HEADERS_TOO_LARGE, 431, "Request header fields too large.")       \
	X(LIST_TOO_LARGE, 500,                                              \
	    "Result too large: page it with limit and offset.")             \
	X(NOT_WRITABLE, 503, "Service unavailable: the backend cannot "     \
	    "write its data directory.")                                    \
	X(HTTP_VERSION, 505, "HTTP version not supported.")                 \
	/* any other error libmicrohttpd answers by itself */               \
	X(REFUSED, 400, "Request refused.")
/* clang-format on */

enum fs_rest_error {
#define FS_REST_ENUM(name, http, detail) FS_REST_##name,
	FS_REST_ERROR_TABLE(FS_REST_ENUM)
#undef FS_REST_ENUM
	    FS_REST_ERROR_COUNT
};

/* The detail (as in the table, %s and all) and the HTTP status of a REST
 * error (enum fs_rest_error); "Internal error." and 500 outside the
 * table. Static storage. */
const char *fs_rest_detail(int e);
int fs_rest_http(int e);

/* The first REST error of status http (its general answer), or -1. */
int fs_rest_of_http(int http);

/* The detail of e completed with arg (NULL: "") into buf of n bytes,
 * truncated to fit. Returns buf. */
char *fs_rest_format(int e, const char *arg, char *buf, size_t n);

/* The message of FAILED_PRECONDITION from a backend that does not take
 * changes because it is not (or no longer) the primary (CONTRACT §8):
 * nothing was made, so the change may be sent again elsewhere. */
#define FS_NOT_PRIMARY "Not the primary."

#endif
