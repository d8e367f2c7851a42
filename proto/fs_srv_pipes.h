/*
 * fs_srv_pipes.h - the connections (nng pipes) of one RPC server and
 * their requests in progress, for fs_rpc_server.c's caps: ordinary
 * requests per connection, long polls per connection and in all.
 *
 * A connection is known from its NNG_PIPE_EV_ADD_PRE (fs_srv_pipes_add)
 * until its NNG_PIPE_EV_REM_POST (fs_srv_pipes_gone) and, after that,
 * until its last request in progress is released. A request of a
 * connection that is not known (gone already: nng can hand a request
 * over just as its connection closes) is refused, as one of a connection
 * the server closed, since nobody could read its answer.
 *
 * One mutex, a leaf: taken briefly by every function here, with no other
 * lock taken inside it. Internal to fs_rpc_server.c.
 */
#ifndef PROTO_FS_SRV_PIPES_H
#define PROTO_FS_SRV_PIPES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fs_srv_pipe;

typedef struct fs_srv_pipes {
	pthread_mutex_t mu;
	/* Open addressing with linear probing over a power-of-two table
	 * kept at most half full (a connection that would fill it more is
	 * refused when it cannot grow), so it never fills. */
	struct fs_srv_pipe *slots;
	size_t mask;
	size_t used;           /* live entries */
	uint32_t nblocking;    /* long polls in progress, all connections */
	uint32_t max_per_pipe; /* 0: no cap */
	uint32_t max_blocking_per_pipe, max_blocking;
} fs_srv_pipes;

/* What fs_srv_pipes_take says of a request. */
enum fs_srv_pipe_verdict {
	FS_PIPE_OK,            /* counted */
	FS_PIPE_SHED,          /* over max_per_pipe: dropped */
	FS_PIPE_SHED_FIRST,    /* the same, the first time: say so */
	FS_PIPE_CLOSED,        /* closed by the server, or gone: dropped */
	FS_PIPE_BLOCKING_CONN, /* a long poll over the connection's cap,
	                        * counted as ordinary: answer "too many" */
	FS_PIPE_BLOCKING_ALL,  /* the same, over the server's cap */
};

/* A table for about n connections, with these caps. 0 or -1 (out of
 * memory). */
int fs_srv_pipes_init(fs_srv_pipes *t, size_t n, uint32_t max_per_pipe,
    uint32_t max_blocking_per_pipe, uint32_t max_blocking);
void fs_srv_pipes_fini(fs_srv_pipes *t);

/* A new connection (NNG_PIPE_EV_ADD_PRE). 0, or -1 when it cannot be
 * tracked (out of memory): refuse it. */
int fs_srv_pipes_add(fs_srv_pipes *t, uint32_t id);

/* Connection id has closed (NNG_PIPE_EV_REM_POST): from now on its
 * requests are refused. Returns 1 when some of them are still in
 * progress (maybe waiting: see fs_srv_pipes_gone_now), else 0. */
int fs_srv_pipes_gone(fs_srv_pipes *t, uint32_t id);

/* 1 when connection id is gone (or was never known), else 0. */
int fs_srv_pipes_gone_now(fs_srv_pipes *t, uint32_t id);

/* Counts a request of connection id (FS_PIPE_OK), or refuses it: see the
 * verdicts. A long poll (blocking) is counted apart, against its own
 * caps; one over them is counted as an ordinary request (or shed as one)
 * and the verdict says which cap it passed, to be answered at once. */
int fs_srv_pipes_take(fs_srv_pipes *t, uint32_t id, bool blocking);

/* The end of a request that fs_srv_pipes_take counted (FS_PIPE_OK:
 * blocking as asked; the others it counted: not blocking). id 0:
 * nothing. */
void fs_srv_pipes_release(fs_srv_pipes *t, uint32_t id, bool blocking);

/* The server closes connection id: its further requests are refused.
 * Returns 1 when it was not marked yet (the caller says so, once). */
int fs_srv_pipes_mark_closed(fs_srv_pipes *t, uint32_t id);

#endif
