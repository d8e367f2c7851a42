/*
 * testlib.h - the one include of every test program: helpers for unit and
 * system tests, each concern in its own module under tests/lib/:
 *
 *   tl_time.h     the clock, bounded poll pauses, the tests' timeouts
 *   tl_files.h    scratch dirs, reading files and log tails, byte flips
 *   tl_proc.h     the programs as child processes (start, stop, freeze)
 *   tl_run.h      running a command to completion, output captured
 *   tl_sock.h     free ports and raw TCP connections
 *   tl_http.h     a small blocking HTTP/1.1 client
 *   tl_json.h     JSON members, dumps, uuid and timestamp formats
 *   tl_env.h      the system under test: backend + gateway on scratch
 *                 ports and a data dir, with an RPC client and HTTP
 *   tl_rest.h     REST shorthands on an env
 *   tl_rpc.h      RPC calls answering components as JSON
 *   tl_datadir.h  a data dir's generations and change-log records
 *   tl_seed.h     many flows, fast, in batches
 *   tl_liststream.h  a streamed list read element by element; a
 *                 process's resident memory
 *   tl_watch.h    changes that say their revision, Watch calls and loops
 *   tl_sse.h      a Server-Sent Events client (GET /api/watch/)
 *   tl_ssefollow.h  an SSE client on a thread that follows the stream
 *                 across ends with Last-Event-ID, as EventSource does
 *   tl_etcd.h     etcd members on loopback (the failover tests)
 *   tl_fakerep.h  a fake backend (nng REP, inproc) whose answers the
 *                 test makes, for the RPC client's unit tests
 *   tl_check.h    fs_test_main and assertions that say what went wrong
 *
 * Not thread-safe where it touches CUnit: the FS_ASSERT_* macros must run
 * on the thread that runs the test. The HTTP client, the RPC helpers and
 * the process helpers may be used from any thread, one object per thread.
 */
#ifndef TESTS_TESTLIB_H
#define TESTS_TESTLIB_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "fs_errors.h"
#include "fs_rpc.h"

#include "tl_check.h"
#include "tl_datadir.h"
#include "tl_env.h"
#include "tl_etcd.h"
#include "tl_fakerep.h"
#include "tl_files.h"
#include "tl_http.h"
#include "tl_json.h"
#include "tl_liststream.h"
#include "tl_proc.h"
#include "tl_rest.h"
#include "tl_rpc.h"
#include "tl_run.h"
#include "tl_seed.h"
#include "tl_sock.h"
#include "tl_sse.h"
#include "tl_ssefollow.h"
#include "tl_time.h"
#include "tl_watch.h"

#endif
