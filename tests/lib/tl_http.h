/*
 * tl_http.h - a small blocking HTTP/1.1 client for talking to the gateway:
 * keep-alive connections (one retry when the server closed an idle one),
 * one-shot requests, Content-Length and chunked bodies, the response's
 * headers, body and JSON, and polling a path until it answers a status.
 *
 * One connection per thread; responses are plain structs the caller frees.
 */
#ifndef TESTS_TL_HTTP_H
#define TESTS_TL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct fs_http_header {
	char *name; /* as sent by the server */
	char *value;
} fs_http_header;

typedef struct fs_http_resp {
	int status;      /* 0 when no response was read */
	int sys_errno;   /* the socket error when status is 0 */
	char method[16]; /* of the request, for messages */
	char path[256];  /* of the request, truncated */
	fs_http_header *headers;
	size_t nheaders;
	char *body; /* NUL-terminated; may contain NULs before body_len */
	size_t body_len;
	json_t *json; /* body parsed (objects and arrays), else NULL */
	int64_t elapsed_ms;
} fs_http_resp;

typedef struct fs_http_conn fs_http_conn;

/* Opens a keep-alive connection to 127.0.0.1:port. Socket send and receive
 * timeouts are timeout_ms (0: FS_TEST_HTTP_TIMEOUT_MS). Returns 0 or -1
 * with errno; *out belongs to the caller (fs_http_close). */
int fs_http_connect(fs_http_conn **out, int port, int timeout_ms);
void fs_http_close(fs_http_conn *c);

/* Sends one request and reads the response into *resp (which the caller
 * frees with fs_http_resp_free, whatever the result). headers: NULL or a
 * NULL-terminated list of "Name: value". A body (body_len bytes; body_len
 * of (size_t)-1 means strlen) gets Content-Length, and Content-Type
 * application/json unless headers carry one. If the server closed an idle
 * keep-alive connection the request is retried once on a new one.
 * Returns 0 when a response was read, -1 otherwise (resp->sys_errno). */
int fs_http_request(fs_http_conn *c, const char *method, const char *path,
    const char *const *headers, const char *body, size_t body_len,
    fs_http_resp *resp);

/* One request on a fresh connection with Connection: close. */
int fs_http_once(int port, const char *method, const char *path,
    const char *const *headers, const char *body, size_t body_len,
    fs_http_resp *resp);

/* A value of GET /metrics on port (Prometheus text, "name value" lines);
 * -1 when the series is not there. */
double fs_http_metric(int port, const char *name);

/* The status of GET path on a fresh connection (0 when none came back). */
int fs_http_status(int port, const char *path);

/* Polls GET path until it answers `status`, for at most timeout_ms.
 * Returns 0, or -1 on timeout. */
int
fs_http_wait_status(int port, const char *path, int status, int timeout_ms);

/* The first header of that name (case-insensitive), or NULL. Borrowed. */
const char *fs_http_header_get(const fs_http_resp *r, const char *name);

void fs_http_resp_free(fs_http_resp *r);

#endif
