/*
 * tl_sock.h - TCP below HTTP: a free port to give a program, and raw
 * connections for bytes no well-behaved client sends (smuggling attempts,
 * broken framing, idle connections).
 */
#ifndef TESTS_TL_SOCK_H
#define TESTS_TL_SOCK_H

#include <stddef.h>

/* A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read
 * it, close). Returns the port or -1. */
int fs_test_free_port(void);

/* A TCP socket listening on 127.0.0.1 at a port the kernel picks (in
 * *port), with the given backlog, that nobody accepts on: the kernel
 * completes connections into the backlog and nothing ever answers (a
 * program hung, or still starting; an address taken). Not close-on-exec.
 * Returns the socket or -1. */
int fs_raw_listen(int backlog, int *port);

/* A blocking TCP connection to 127.0.0.1:port from local address `from`
 * ("127.0.0.2": Linux's loopback answers all of 127/8; NULL: the default
 * source). Returns the socket or -1 with errno. */
int fs_raw_connect(const char *from, int port);

/* Sends all of buf (no SIGPIPE). Returns 0 or -1. */
int fs_raw_send(int fd, const void *buf, size_t len);

/* Reads until the peer closes or timeout_ms passes, keeping up to cap - 1
 * bytes in buf (NUL-terminated; the count in *len when len is not NULL).
 * Returns 1 when the peer closed (EOF or reset), 0 on timeout. */
int fs_raw_read_to_close(int fd, char *buf, size_t cap, size_t *len,
    int timeout_ms);

#endif
