/*
 * gw_log.c - one line per event on stderr.
 */
#include "gw_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs_util.h"

static enum gw_log_level min_level = GW_LOG_INFO;
static int json_lines;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void
gw_log_set_json(int on)
{
	json_lines = on != 0;
}

/* Appends s to line at *n as a JSON string body (no quotes), escaped, cut
 * to what fits. */
static void
put_json_str(char *line, size_t cap, int *n, const char *s)
{
	for (; *s != '\0' && (size_t)*n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			line[(*n)++] = '\\';
			line[(*n)++] = (char)c;
		} else if (c < 0x20) {
			*n += snprintf(line + *n, cap - (size_t)*n, "\\u%04x", c);
		} else {
			line[(*n)++] = (char)c;
		}
	}
}

/* Writes one finished line (newline added). */
static void
emit(char *line, size_t cap, int n)
{
	if ((size_t)n >= cap)
		n = (int)cap - 1; /* cut: keep room for the newline */
	line[n++] = '\n';
	/* One write per line; a short write to stderr is not worth a retry
	 * loop that could interleave with other threads. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

static const char *const level_lower[] = {"debug", "info", "warn", "error"};

/* {"time":..,"level":..,"pid":..[,"request_id":..] — no closing brace. */
static int
json_head(char *line, size_t cap, enum gw_log_level level, const char *rid)
{
	char ts[FS_TIME_STRLEN + 1];
	int n;

	fs_time_format(fs_now_us(), ts);
	n = snprintf(line, cap, "{\"time\":\"%s\",\"level\":\"%s\",\"pid\":%d",
	    ts, level_lower[level], (int)getpid());
	if (n < 0)
		return -1;
	if (rid != NULL && (size_t)n + 16 < cap) {
		n += snprintf(line + n, cap - (size_t)n, ",\"request_id\":\"");
		put_json_str(line, cap, &n, rid);
		if ((size_t)n + 1 < cap)
			line[n++] = '"';
	}
	return n;
}

void
gw_log_access(const char *rid, const char *method, const char *path,
    int status, size_t bytes, double duration_ms, int aborted)
{
	char line[1024];
	int n;

	if (GW_LOG_INFO < min_level)
		return;
	if (!json_lines) {
		gw_log(GW_LOG_INFO, rid, "%s %s %d %zuB %.3fms%s", method, path,
		    status, bytes, duration_ms, aborted ? " (aborted)" : "");
		return;
	}
	if ((n = json_head(line, sizeof(line) - 96, GW_LOG_INFO, rid)) < 0)
		return;
	n += snprintf(line + n, sizeof(line) - (size_t)n,
	    ",\"event\":\"request\",\"method\":\"");
	put_json_str(line, sizeof(line) - 96, &n, method);
	n += snprintf(line + n, sizeof(line) - (size_t)n, "\",\"path\":\"");
	put_json_str(line, sizeof(line) - 96, &n, path);
	n += snprintf(line + n, sizeof(line) - (size_t)n,
	    "\",\"status\":%d,\"bytes\":%zu,\"duration_ms\":%.3f%s}", status,
	    bytes, duration_ms, aborted ? ",\"aborted\":true" : "");
	emit(line, sizeof(line), n);
}

void
gw_log_set_level(enum gw_log_level level)
{
	min_level = level;
}

int
gw_log_level_parse(const char *s, enum gw_log_level *out)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};

	for (int i = 0; i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum gw_log_level)i;
			return 0;
		}
	}
	return -1;
}

void
gw_log(enum gw_log_level level, const char *rid, const char *fmt, ...)
{
	char line[1024];
	char ts[FS_TIME_STRLEN + 1];
	va_list ap;
	int n, m;

	if (level < min_level)
		return;
	if (json_lines) {
		char msg[900];
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		/* Bounds leave room for the fixed text around each part. */
		if ((n = json_head(line, sizeof(line) - 32, level, rid)) < 0)
			return;
		n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"msg\":\"");
		put_json_str(line, sizeof(line) - 16, &n, msg);
		line[n++] = '"';
		line[n++] = '}';
		emit(line, sizeof(line), n);
		return;
	}
	fs_time_format(fs_now_us(), ts);
	n = snprintf(line, sizeof(line), "%s flow-gateway[%d] %s ", ts,
	    (int)getpid(), level_names[level]);
	if (n < 0)
		return;
	if (rid && (size_t)n < sizeof(line)) {
		m = snprintf(
		    line + n, sizeof(line) - (size_t)n, "rid=%s ", rid);
		if (m > 0)
			n += m;
	}
	if ((size_t)n < sizeof(line)) {
		va_start(ap, fmt);
		m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += m;
	}
	emit(line, sizeof(line), n);
}
