/*
 * tl_time.h - the clock and the bounds of every wait in the tests: a
 * monotonic clock, the pause of a bounded poll loop, and the generous
 * timeouts for starting, stopping and talking to the programs.
 */
#ifndef TESTS_TL_TIME_H
#define TESTS_TL_TIME_H

#include <stdint.h>

/* Generous because the test build runs under ASan and the machine has two
 * cores shared with the programs under test. */
#define FS_TEST_START_TIMEOUT_MS 15000
#define FS_TEST_STOP_TIMEOUT_MS 10000
#define FS_TEST_HTTP_TIMEOUT_MS 10000

/* Monotonic clock in milliseconds. */
int64_t fs_test_now_ms(void);

/* Sleeps ms milliseconds: only for the interval of a bounded poll loop,
 * never as a way to wait for something to become ready. */
void fs_test_poll_pause(int ms);

#endif
