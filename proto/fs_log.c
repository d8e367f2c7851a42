/*
 * fs_log.c - one line per event on stderr, text or JSON.
 */
#include "fs_log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs_util.h"

/* Set once at start, before any thread logs (fs_log.h). */
static const char *log_program = "flowsvc";
static enum fs_log_level log_min = FS_LOG_INFO;
static enum fs_log_format log_format = FS_LOG_TEXT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
fs_log_setup(const char *program, enum fs_log_level level,
    enum fs_log_format format)
{
	if (program != NULL)
		log_program = program;
	log_min = level;
	log_format = format;
}

int
fs_log_level_parse(const char *s, enum fs_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (s != NULL && strcmp(s, level_names[i]) == 0) {
			*out = (enum fs_log_level) i;
			return 0;
		}
	}
	return -1;
}

const char *
fs_log_level_name(enum fs_log_level level)
{
	return level >= FS_LOG_DEBUG && level <= FS_LOG_ERROR
	    ? level_names[level]
	    : "info";
}

int
fs_log_format_parse(const char *s, enum fs_log_format *out)
{
	if (s != NULL && strcmp(s, "text") == 0)
		*out = FS_LOG_TEXT;
	else if (s != NULL && strcmp(s, "json") == 0)
		*out = FS_LOG_JSON;
	else
		return -1;
	return 0;
}

int
fs_log_setup_names(const char *program, const char *level, const char *format)
{
	enum fs_log_level lv;
	enum fs_log_format fm;

	if (fs_log_level_parse(level, &lv) != 0 ||
	    fs_log_format_parse(format, &fm) != 0)
		return -1;
	fs_log_setup(program, lv, fm);
	return 0;
}

bool
fs_log_enabled(enum fs_log_level level)
{
	return level >= log_min;
}

/* ---- one line ------------------------------------------------------------- */

/* The last RESERVE bytes of the buffer are kept for what closes a line (a
 * quote, a brace, the newline), so a cut line still ends well-formed. */
#define RESERVE 8

struct line {
	char b[FS_LOG_LINE_MAX];
	size_t n;
	size_t lim; /* content may not go past this */
	bool full;  /* something did not fit: the rest is dropped */
};

/* Appends len bytes whole, or nothing (and the line is full). */
static void
put(struct line *l, const char *s, size_t len)
{
	if (l->full || l->n + len > l->lim) {
		l->full = true;
		return;
	}
	memcpy(l->b + l->n, s, len);
	l->n += len;
}

static void
puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static void putf(struct line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends the formatted text whole, or nothing (the line is full). */
static void
putf(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (l->full || l->n > l->lim) {
		l->full = true;
		return;
	}
	va_start(ap, fmt);
	/* Writes at most up to b[lim], inside the reserve. */
	k = vsnprintf(l->b + l->n, l->lim - l->n + 1, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t) k > l->lim - l->n)
		l->full = true; /* what it wrote past n is not part of it */
	else
		l->n += (size_t) k;
}

/* Appends s escaped, as much as fits: for JSON as a string's content, for
 * text with control characters made visible so that the event stays one
 * line (a request path may hold a decoded newline). */
static void
put_esc(struct line *l, const char *s, bool json)
{
	char e[8];

	for (; s != NULL && *s != '\0' && !l->full; s++) {
		unsigned char c = (unsigned char) *s;
		size_t k;

		if (json && (c == '"' || c == '\\')) {
			e[0] = '\\';
			e[1] = (char) c;
			k = 2;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			e[0] = '\\';
			e[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			k = 2;
		} else if (c < 0x20 || c == 0x7f) {
			k = (size_t) snprintf(e, sizeof(e),
			    json ? "\\u%04x" : "\\x%02x", c);
		} else {
			e[0] = (char) c;
			k = 1;
		}
		put(l, e, k);
	}
}

/* Appends s to the reserved tail: always fits (RESERVE). */
static void
put_end(struct line *l, const char *s)
{
	size_t len = strlen(s);

	if (l->n + len <= sizeof(l->b)) {
		memcpy(l->b + l->n, s, len);
		l->n += len;
	}
}

/* The start of a line: the time, program, pid and level; for JSON also
 * the request id (text has it at the end). */
static void
head(struct line *l, enum fs_log_level level, const char *rid)
{
	char ts[FS_TIME_STRLEN + 1];

	l->n = 0;
	l->full = false;
	l->lim = sizeof(l->b) - RESERVE;
	fs_time_format(fs_now_us(), ts);
	if (log_format == FS_LOG_JSON) {
		puts_(l, "{\"time\":\"");
		puts_(l, ts);
		puts_(l, "\",\"program\":\"");
		put_esc(l, log_program, true);
		putf(l, "\",\"level\":\"%s\",\"pid\":%d", level_names[level],
		    (int) getpid());
		if (rid != NULL) {
			puts_(l, ",\"request_id\":\"");
			put_esc(l, rid, true);
			put_end(l, "\"");
		}
	} else {
		puts_(l, ts);
		put(l, " ", 1);
		put_esc(l, log_program, false);
		putf(l, "[%d] %s: ", (int) getpid(), level_names[level]);
	}
}

/* Text: room for " rid=ID" at the end of the line, kept out of what the
 * message may use. */
static size_t
rid_room(const char *rid)
{
	size_t n = rid != NULL ? strlen(rid) : 0;

	if (rid == NULL || log_format == FS_LOG_JSON)
		return 0;
	return 5 + (n > 256 ? 256 : n) * 2;
}

/* Ends the line and writes it with one write(2). */
static void
finish(struct line *l, const char *rid)
{
	if (log_format == FS_LOG_JSON) {
		put_end(l, "}");
	} else if (rid != NULL) {
		l->lim = sizeof(l->b) - RESERVE;
		l->full = false;
		put(l, " rid=", 5);
		put_esc(l, rid, false);
	}
	put_end(l, "\n");
	/* A short write to stderr is not worth a retry loop that could
	 * interleave with other threads' lines. */
	if (write(STDERR_FILENO, l->b, l->n) < 0)
		return; /* nowhere left to report it */
}

void
fs_logv(enum fs_log_level level, const char *rid, const char *fmt, va_list ap)
{
	struct line l;
	char msg[FS_LOG_LINE_MAX];

	if (level < log_min || level > FS_LOG_ERROR)
		return;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		snprintf(msg, sizeof(msg), "(unformattable message)");
	head(&l, level, rid);
	if (log_format == FS_LOG_JSON) {
		puts_(&l, ",\"msg\":\"");
		if (!l.full) {
			put_esc(&l, msg, true);
			put_end(&l, "\"");
		}
	} else {
		l.lim -= rid_room(rid);
		put_esc(&l, msg, false);
	}
	finish(&l, rid);
}

void
fs_log(enum fs_log_level level, const char *rid, const char *fmt, ...)
{
	va_list ap;

	if (level < log_min)
		return;
	va_start(ap, fmt);
	fs_logv(level, rid, fmt, ap);
	va_end(ap);
}

static void
event_field_text(struct line *l, const fs_log_field *f)
{
	switch (f->type) {
	case FS_LOG_F_STR:
		put(l, " ", 1);
		put_esc(l, f->s != NULL ? f->s : "-", false);
		break;
	case FS_LOG_F_INT:
		putf(l, " %lld", f->i);
		break;
	case FS_LOG_F_BYTES:
		putf(l, " %lldB", f->i);
		break;
	case FS_LOG_F_MS:
		putf(l, " %.3fms", f->d);
		break;
	case FS_LOG_F_FLAG:
		if (f->i) {
			puts_(l, " (");
			puts_(l, f->key);
			puts_(l, ")");
		}
		break;
	}
}

/* Returns true once a string value has begun: from then on it is closed
 * whatever fits of it. */
static bool
event_field_json(struct line *l, const fs_log_field *f)
{
	if (f->type == FS_LOG_F_FLAG && !f->i)
		return false;
	puts_(l, ",\"");
	puts_(l, f->key);
	puts_(l, "\":");
	switch (f->type) {
	case FS_LOG_F_STR:
		put(l, "\"", 1);
		if (l->full)
			return false;
		put_esc(l, f->s != NULL ? f->s : "", true);
		put_end(l, "\"");
		return true;
	case FS_LOG_F_INT:
	case FS_LOG_F_BYTES:
		putf(l, "%lld", f->i);
		break;
	case FS_LOG_F_MS:
		putf(l, "%.3f", f->d);
		break;
	case FS_LOG_F_FLAG:
		puts_(l, "true");
		break;
	}
	return false;
}

void
fs_log_event(enum fs_log_level level, const char *rid, const char *event,
    const fs_log_field *fields, size_t nfields)
{
	struct line l;

	if (level < log_min || level > FS_LOG_ERROR)
		return;
	head(&l, level, rid);
	if (log_format == FS_LOG_JSON) {
		puts_(&l, ",\"event\":\"");
		put_esc(&l, event, true);
		put(&l, "\"", 1);
		/* A field that does not fit is left out whole, with the
		 * ones after it: the object stays valid. */
		for (size_t i = 0; i < nfields && !l.full; i++) {
			size_t mark = l.n;
			if (!event_field_json(&l, &fields[i]) && l.full)
				l.n = mark;
		}
	} else {
		l.lim -= rid_room(rid);
		put_esc(&l, event, false);
		for (size_t i = 0; i < nfields; i++)
			event_field_text(&l, &fields[i]);
	}
	finish(&l, rid);
}

/* ---- rate limits ----------------------------------------------------------- */

void
fs_log_limit_init(fs_log_limit *l, int per_sec)
{
	l->per_sec = per_sec;
	atomic_init(&l->sec, 0);
	atomic_init(&l->lines, 0);
	atomic_init(&l->left_out, 0);
}

int
fs_log_limit_take(fs_log_limit *l)
{
	struct timespec ts;
	int64_t now, sec;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t) ts.tv_sec;
	sec = atomic_load(&l->sec);
	/* The first taker of a new second resets the budget. */
	if (sec != now && atomic_compare_exchange_strong(&l->sec, &sec, now))
		atomic_store(&l->lines, 0);
	if (atomic_fetch_add(&l->lines, 1) >= l->per_sec) {
		atomic_fetch_add(&l->left_out, 1);
		return -1;
	}
	return atomic_exchange(&l->left_out, 0);
}
