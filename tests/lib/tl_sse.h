/*
 * tl_sse.h - a Server-Sent Events client for GET /api/watch/: opens the
 * stream on a raw connection (so that a test can also leave it unread),
 * reads the answer's head, then de-chunks the body and parses it into
 * events (id, event, data as JSON). Comments and retry: lines are read
 * and dropped, as a browser's EventSource does.
 *
 * One stream per thread; no CUnit here.
 */
#ifndef TESTS_TL_SSE_H
#define TESTS_TL_SSE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct fs_sse_event {
	int has_id;
	uint64_t id;
	char event[32]; /* "message" when the stream named none */
	json_t *data;   /* data: parsed; NULL when not JSON */
} fs_sse_event;

typedef struct fs_sse {
	int fd;
	int status;  /* of the answer */
	char *head;  /* the answer's head (status line and headers) */
	char *body;  /* a non-200 answer's body (Content-Length) */
	int chunked; /* Transfer-Encoding: chunked */
	char *raw;   /* bytes read, not yet de-chunked */
	size_t raw_len, raw_cap;
	char *text; /* de-chunked, not yet parsed into events */
	size_t text_len, text_cap;
	size_t chunk_left; /* bytes of the current chunk still to come */
	int eof;           /* the server closed; end_ok: after the last
	                    * chunk (a clean end) */
	int end_ok;
} fs_sse;

/* Opens GET path (with the NULL-terminated "Name: value" headers, or
 * NULL) on 127.0.0.1:port and reads the answer's head within timeout_ms
 * (and, for a status other than 200, its body). rcvbuf > 0 sets the
 * socket's receive buffer first (a client that will not read). Returns
 * 0 (s->status says which answer) or -1 (s is then closed). */
int fs_sse_open(fs_sse *s, int port, const char *path,
    const char *const *headers, int rcvbuf, int timeout_ms);

/* The value of header name in the head (case-insensitive), copied into
 * out; NULL when absent. */
const char *
fs_sse_header(const fs_sse *s, const char *name, char *out, size_t cap);

/* The next event within timeout_ms: 1 (ev filled; fs_sse_event_free it),
 * 0 on timeout, -1 when the stream ended (s->end_ok says how). */
int fs_sse_next(fs_sse *s, fs_sse_event *ev, int timeout_ms);

/* The next event that is not a bookmark, as fs_sse_next. */
int fs_sse_next_change(fs_sse *s, fs_sse_event *ev, int timeout_ms);

void fs_sse_event_free(fs_sse_event *ev);
void fs_sse_close(fs_sse *s);

#endif
