/*
 * fs_within.h - a step of a program's exit that must not hold the exit
 * up: run fn(arg) on a thread of its own and wait ms at most. nng 1.5.2
 * can wait forever in nng_close (a TLS peer that dropped a connection
 * mid-handshake, a long poll no backend answers); a process about to exit
 * leaves such a close to the exit. Not part of the installed client
 * library.
 */
#ifndef PROTO_FS_WITHIN_H
#define PROTO_FS_WITHIN_H

/* 1 when fn(arg) returned within ms; 0 when it still runs (its thread is
 * left to the exit: what fn uses must stay valid until then). Runs fn
 * inline (and returns 1) when no thread can be started. Not reentrant:
 * one call at a time per process. */
int fs_run_within(void (*fn)(void *), void *arg, int ms);

#endif
