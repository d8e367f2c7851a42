/*
 * fs_util.h - ids and timestamps, shared by every program.
 */
#ifndef PROTO_FS_UTIL_H
#define PROTO_FS_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define FS_UUID_STRLEN 36 /* without the terminating NUL */

/* Parses the canonical 8-4-4-4-12 hex form, either case. Returns 0, or -1
 * for anything else (wrong length, braces, missing hyphens). */
int fs_uuid_parse(const char *s, uint8_t out[16]);

/* Writes the lower-case canonical form and a NUL into out. */
void fs_uuid_format(const uint8_t in[16], char out[FS_UUID_STRLEN + 1]);

/* A random (version 4) uuid. */
void fs_uuid_new(uint8_t out[16]);

/* Wall clock. */
/* Initialises cv to time its waits on CLOCK_MONOTONIC (deadlines from
 * clock_gettime(CLOCK_MONOTONIC)). Returns 0 or an errno value. */
int fs_cond_init_monotonic(pthread_cond_t *cv);

int64_t fs_now_us(void);
int64_t fs_now_ms(void);

/* RFC 3339 UTC with microseconds: "2026-11-29T02:13:41.123456Z". out needs
 * FS_TIME_STRLEN + 1 bytes. */
#define FS_TIME_STRLEN 27
void fs_time_format(int64_t us, char out[FS_TIME_STRLEN + 1]);

/* Parses fs_time_format's output back. Returns 0 or -1. */
int fs_time_parse(const char *s, int64_t *us);

#endif
