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

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

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
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1; /* cut: keep room for the newline */
	line[n++] = '\n';
	/* One write per line; a short write to stderr is not worth a retry
	 * loop that could interleave with other threads. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
