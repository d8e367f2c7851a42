/*
 * tl_liststream.h - a list read from the gateway as it streams: the
 * response head, then the body decoded as it arrives (chunked,
 * Content-Length or to the end of the connection), the JSON array split
 * into its elements, each parsed on its own and handed to the caller, so
 * that a list of hundreds of megabytes is checked without being held; and
 * a process's resident memory, to watch the gateway's while it streams.
 *
 * No CUnit here: safe from any thread, one read per thread.
 */
#ifndef TESTS_TL_LISTSTREAM_H
#define TESTS_TL_LISTSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

typedef struct fs_liststream {
	int status; /* 0: no response head */
	/* Headers (empty when absent). */
	char total[32];    /* X-Total-Count */
	char revision[32]; /* X-Revision */
	char link[1024];
	char te[32];   /* Transfer-Encoding */
	char clen[32]; /* Content-Length */
	size_t items;  /* elements of the array handed over */
	size_t bytes;  /* body bytes */
	/* The body ended as it should: its framing closed (the chunked
	 * terminator, all of Content-Length) right after a whole array. */
	int complete;
	/* Why not, or what was wrong with what came ("" when nothing). */
	char error[256];
	int64_t first_byte_ms; /* from the request to the first body byte */
	int64_t total_ms;
} fs_liststream;

/* Called with each element (borrowed: valid for the call) and its index.
 * Returns 0 to go on, else the read stops there. */
typedef int (*fs_liststream_item)(void *arg, size_t index, json_t *item);

/* Called between reads (e.g. to sample memory); may be NULL. */
typedef void (*fs_liststream_tick)(void *arg);

typedef struct fs_liststream_opts {
	const char *method; /* NULL: GET */
	const char *const
	    *headers;   /* NULL-terminated "Name: value", or NULL */
	int rcvbuf;     /* socket receive buffer; 0: the default */
	int pause_ms;   /* between reads: a slow reader; 0: none */
	int timeout_ms; /* a read waiting longer fails; 0: 30 s */
	fs_liststream_item item;
	fs_liststream_tick tick;
	void *arg;
} fs_liststream_opts;

/* Sends the request for path to 127.0.0.1:port and reads the answer as
 * described. Returns 0 when a response came and its body was read to its
 * end (out->complete says whether that end was a proper one), -1 when
 * none came or the read failed (out->error). */
int fs_liststream_get(int port, const char *path, const fs_liststream_opts *o,
    fs_liststream *out);

/* VmRSS of pid in KiB, or -1. */
long fs_proc_rss_kb(pid_t pid);

#endif
