/*
 * tl_fakerep.h - a fake backend for the unit tests of the RPC client: an
 * nng REP socket in this process (inproc://) served by threads that
 * each take one request at a time, decode its envelope and send the
 * reply that the test's answer function makes of it. What the answer
 * counts, holds or refuses is the test's.
 *
 * fs_fake_rep_start records its checks with CUnit (the test's thread);
 * the answer function runs on the fake's threads.
 */
#ifndef TESTS_TL_FAKEREP_H
#define TESTS_TL_FAKEREP_H

#include <stdint.h>

#include "flows.pb-c.h"

/* Fills *out (initialised here) as the answer to req; a buffer it
 * allocates for the reply (its payload) goes in *heap, freed once the
 * reply is sent. May wait (a held call). */
typedef void (*fs_fake_rep_answer)(void *arg, const Flowsvc__Request *req,
    Flowsvc__Reply *out, uint8_t **heap);

typedef struct fs_fake_rep fs_fake_rep;

/* Listens on url with nthr threads, each answering with answer(arg, ...).
 * Checks (FS_CHECK) that the socket listens and that each thread starts.
 * Returns the fake, or NULL (nothing left running). */
fs_fake_rep *fs_fake_rep_start(const char *url, int nthr,
    fs_fake_rep_answer answer, void *arg);

/* Stops its threads (each within one receive timeout, 50 ms, once its
 * answer returns), closes the socket and frees it. NULL: nothing. */
void fs_fake_rep_stop(fs_fake_rep *f);

#endif
