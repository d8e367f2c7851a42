/*
 * gw_log.h - the gateway's log: one line per event on stderr.
 *
 *   2026-11-29T02:13:41.123456Z flow-gateway[1234] INFO rid=... message
 *
 * or, with gw_log_set_json(1), one JSON object per line:
 *
 *   {"time":"...","level":"info","pid":1234,"request_id":"...","msg":"..."}
 *
 * Each line is formatted into one buffer and written with a single
 * write(2), so lines from different threads never interleave. The level is
 * checked before formatting. Not async-signal-safe: never call it from a
 * signal handler.
 */
#ifndef GATEWAY_GW_LOG_H
#define GATEWAY_GW_LOG_H

#include <stddef.h>

enum gw_log_level { GW_LOG_DEBUG, GW_LOG_INFO, GW_LOG_WARN, GW_LOG_ERROR };

/* Lines below level are dropped (default INFO). Set once at start. */
void gw_log_set_level(enum gw_log_level level);

/* Parses "debug", "info", "warn", "error". Returns 0 or -1. */
int gw_log_level_parse(const char *s, enum gw_log_level *out);

/* Text (0, the default) or JSON lines (1). Set once at start. */
void gw_log_set_json(int on);

/* The access line of one request (at INFO): text
 * "GET /path 200 302B 0.812ms", or JSON with fields event "request",
 * method, path, status, bytes, duration_ms, request_id. */
void gw_log_access(const char *rid, const char *method, const char *path,
    int status, size_t bytes, double duration_ms, int aborted);

/* Logs one line; rid is the request id or NULL. Lines are cut at 1 KiB. */
void gw_log(enum gw_log_level level, const char *rid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
