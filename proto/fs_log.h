/*
 * fs_log.h - the one log of every flowsvc program: a line per event on
 * stderr.
 *
 * Text (the default), one line per event:
 *
 *   2026-11-29T02:13:41.123456Z flow-service[1234] info: rpc HEALTH OK 0.081ms rid=7f0c...
 *   TIME                        PROGRAM[PID]       LEVEL: MESSAGE           rid=REQUEST-ID
 *
 * The request id comes last, as " rid=ID", only on lines that have one.
 * Control characters in the message or the id are written as \n, \r, \t
 * or \xNN, so one event is always one line.
 *
 * JSON (fs_log_setup with FS_LOG_JSON), one object per line:
 *
 *   {"time":"...","program":"flow-service","level":"info","pid":1234,
 *    "request_id":"...","msg":"..."}
 *
 * "request_id" only when there is one. A structured event (fs_log_event)
 * has "event":NAME and one key per field instead of "msg"; its text line
 * is NAME followed by the field values, so both formats say the same.
 *
 * Levels are the same words in every program and both formats: debug,
 * info, warn, error. Lines below the level set at start are dropped
 * before anything is formatted.
 *
 * Each line is formatted into one buffer of FS_LOG_LINE_MAX bytes (longer
 * messages are cut, the request id and the line's end kept) and written
 * with a single write(2), so lines from different threads never
 * interleave. Not async-signal-safe: never call it from a signal handler.
 * fs_log_setup is called once at start, before any thread logs.
 */
#ifndef PROTO_FS_LOG_H
#define PROTO_FS_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_LOG_LINE_MAX 4096

enum fs_log_level { FS_LOG_DEBUG, FS_LOG_INFO, FS_LOG_WARN, FS_LOG_ERROR };
enum fs_log_format { FS_LOG_TEXT, FS_LOG_JSON };

/* Names the program in every line (static storage: argv[0]'s base name or
 * a literal), and sets the least severe level logged and the format.
 * Until it is called: "flowsvc", info, text. */
void fs_log_setup(const char *program, enum fs_log_level level,
    enum fs_log_format format);

/* fs_log_setup from the words of --log-level and --log-format. Returns 0,
 * or -1 (nothing set) when one is not a name fs_log knows. */
int
fs_log_setup_names(const char *program, const char *level, const char *format);

/* "debug", "info", "warn", "error" <-> level. Parse returns 0 or -1. */
int fs_log_level_parse(const char *s, enum fs_log_level *out);
const char *fs_log_level_name(enum fs_log_level level);
/* "text", "json" -> format. Returns 0 or -1. */
int fs_log_format_parse(const char *s, enum fs_log_format *out);

/* true when a line at level would be written. */
bool fs_log_enabled(enum fs_log_level level);

/* Logs one line; rid is the request id, or NULL for none. */
void fs_log(enum fs_log_level level, const char *rid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fs_logv(enum fs_log_level level, const char *rid, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

/* ---- structured events ---------------------------------------------------- */

enum fs_log_ftype {
	FS_LOG_F_STR,   /* s; text: the string ("-" when NULL) */
	FS_LOG_F_INT,   /* i; text: the number */
	FS_LOG_F_BYTES, /* i; text: "302B"; JSON: 302 */
	FS_LOG_F_MS,    /* d; text: "0.812ms"; JSON: 0.812 */
	FS_LOG_F_FLAG,  /* i; only when non-zero: text "(key)", JSON true */
};

typedef struct fs_log_field {
	const char *key; /* the JSON key: [a-z_]+ */
	enum fs_log_ftype type;
	const char *s;
	long long i;
	double d;
} fs_log_field;

#define FS_LOG_STR(k, v)                                                      \
	((fs_log_field){.key = (k), .type = FS_LOG_F_STR, .s = (v)})
#define FS_LOG_INT(k, v)                                                      \
	((fs_log_field){.key = (k),                                           \
	    .type = FS_LOG_F_INT,                                             \
	    .i = (long long) (v)})
#define FS_LOG_BYTES(k, v)                                                    \
	((fs_log_field){.key = (k),                                           \
	    .type = FS_LOG_F_BYTES,                                           \
	    .i = (long long) (v)})
#define FS_LOG_MS(k, v)                                                       \
	((fs_log_field){.key = (k), .type = FS_LOG_F_MS, .d = (double) (v)})
#define FS_LOG_FLAG(k, v)                                                     \
	((fs_log_field){.key = (k), .type = FS_LOG_F_FLAG, .i = (v) ? 1 : 0})

/* Logs event with its fields. Text: "EVENT v1 v2 ... rid=ID"; JSON:
 * {..., "request_id":ID, "event":EVENT, "k1":v1, ...}. The backend's
 * access line is event "rpc" (method, code, duration_ms), the gateway's
 * event "request" (method, path, status, bytes, duration_ms, aborted). */
void fs_log_event(enum fs_log_level level, const char *rid, const char *event,
    const fs_log_field *fields, size_t nfields);

/* ---- rate limits ----------------------------------------------------------- */

/* At most per_sec lines a second from one source (a down backend, a flood
 * of malformed requests must not flood the log); the next line that goes
 * out says how many were left out. Any thread; no lock. */
typedef struct fs_log_limit {
	int per_sec;
	_Atomic int64_t sec;
	atomic_int lines;
	atomic_int left_out;
} fs_log_limit;

/* Sets l up for per_sec lines a second (a zeroed fs_log_limit allows
 * none). */
void fs_log_limit_init(fs_log_limit *l, int per_sec);

/* Takes a line from l's budget for this second. Returns -1 when the line
 * must be left out (it is counted), else the number of lines left out
 * since the last one that went out (and starts counting again). */
int fs_log_limit_take(fs_log_limit *l);

#endif
