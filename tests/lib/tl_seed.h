/*
 * tl_seed.h - many flows, fast: creates (and updates) over RPC on a client
 * of its own
 * that coalesces them into batches (128 a round trip), one batch in
 * flight at a time so that the creation order is the order of the names
 * (a list answers in creation order, and tests check it).
 *
 * No CUnit here: safe from any thread.
 */
#ifndef TESTS_TL_SEED_H
#define TESTS_TL_SEED_H

#include <stddef.h>

/* Creates flows <prefix><i> for i in [from, to) on the backend at url, in
 * group (NULL: the default group), each with nout output fields of about
 * 20 characters. ids (optional) gets each one's id at [i]. Returns 0 when
 * every create answered OK, else -1 (after printing the first failure). */
int fs_seed_flows(const char *url, const char *prefix, int from, int to,
    const char *group, int nout, char (*ids)[40]);

/* Sets the output fields of the flows ids[from..to) to nout fields of
 * len characters (distinct, tagged with tag), the same way: batched, one
 * batch in flight. Returns 0 when every update answered OK, else -1. */
int fs_seed_update(const char *url, char (*ids)[40], int from, int to,
    int nout, int len, char tag);

#endif
