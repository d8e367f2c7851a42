/*
 * logreader.c - a change log read with a cursor. See logreader.h.
 *
 * The reader keeps a window of the file, [boff, boff + blen), read with
 * pread. With an end given by a writer, it never reads at or past that
 * end: bytes there may still change (a partial write the writer undoes),
 * and a window that held them would go stale.
 */
#define _GNU_SOURCE
#include "logreader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_errors.h"
#include "logfmt.h"

#define CHUNK (1u << 20) /* read ahead per pread */
#define PAGE 4096u       /* a power cut loses whole pages */

struct logreader {
	int fd;
	uint32_t version; /* 0: header not read yet */
	uint64_t off;     /* the cursor: the next record's offset */
	uint64_t rev;     /* the revision of the record before it */
	uint8_t *buf;
	size_t cap, blen;
	uint64_t boff;
	logreader_problem prob;
	char what[160];
};

int
logreader_open(logreader **out, int dirfd, const char *name,
    uint64_t base_revision)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	logreader *r;

	if (fd < 0)
		return errno == ENOENT ? FS_NOT_FOUND : FS_UNAVAILABLE;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		close(fd);
		return FS_RESOURCE_EXHAUSTED;
	}
	r->fd = fd;
	r->rev = base_revision;
	*out = r;
	return FS_OK;
}

void
logreader_close(logreader *r)
{
	if (r != NULL) {
		close(r->fd);
		free(r->buf);
		free(r);
	}
}

uint64_t
logreader_offset(const logreader *r)
{
	return r->off;
}

uint64_t
logreader_revision(const logreader *r)
{
	return r->rev;
}

uint32_t
logreader_version(const logreader *r)
{
	return r->version;
}

void
logreader_problem_get(const logreader *r, logreader_problem *p)
{
	*p = r->prob;
}

void
logreader_seek(logreader *r, uint64_t offset, uint64_t revision_before)
{
	r->off = offset;
	r->rev = revision_before;
}

static enum logreader_result
problem(logreader *r, enum logreader_result res, uint64_t off, uint64_t bytes,
    int in_header, const char *what)
{
	r->prob.offset = off;
	r->prob.bytes = bytes;
	r->prob.in_header = in_header;
	snprintf(r->what, sizeof(r->what), "%s", what);
	r->prob.what = r->what;
	return res;
}

/* Makes the window hold the file's bytes from off on: want of them when
 * the file has them before lim. Returns how many it holds from off (at
 * most lim - off; fewer than want at the end of the file), or -1 with
 * errno. */
static ssize_t
fill(logreader *r, uint64_t off, size_t want, uint64_t lim)
{
	if (off >= lim)
		return 0;
	if (want > lim - off)
		want = (size_t) (lim - off);
	if (off < r->boff || off > r->boff + r->blen) {
		r->boff = off;
		r->blen = 0;
	}
	size_t skip = (size_t) (off - r->boff);
	if (r->blen - skip >= want)
		return (ssize_t) (r->blen - skip);
	/* Move what is kept to the front, then read on behind it. */
	if (skip > 0) {
		memmove(r->buf, r->buf + skip, r->blen - skip);
		r->blen -= skip;
		r->boff = off;
	}
	if (want > r->cap || r->cap < CHUNK) {
		size_t cap = want > CHUNK ? want : CHUNK;
		uint8_t *nb = realloc(r->buf, cap);

		if (nb == NULL) {
			errno = ENOMEM;
			return -1;
		}
		r->buf = nb;
		r->cap = cap;
	}
	while (r->blen < want) {
		uint64_t at = r->boff + r->blen;
		size_t room = r->cap - r->blen;
		ssize_t k;

		if (room > lim - at)
			room = (size_t) (lim - at);
		k = pread(r->fd, r->buf + r->blen, room, (off_t) at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			break; /* the end of the file */
		r->blen += (size_t) k;
	}
	return (ssize_t) r->blen;
}

/* 1 when the file holds only zeros from off to its end, 0 when not, -1
 * on a read error. */
static int
zeros_to_eof(const logreader *r, uint64_t off)
{
	uint8_t b[1 << 14];

	for (;;) {
		ssize_t k = pread(r->fd, b, sizeof(b), (off_t) off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			return 1;
		for (ssize_t i = 0; i < k; i++)
			if (b[i] != 0)
				return 0;
		off += (uint64_t) k;
	}
}

static enum logreader_result
read_error(logreader *r, uint64_t off)
{
	return problem(r, LOGREADER_ERROR, off, 0, 0, strerror(errno));
}

/* Reads and checks the file's header. */
static enum logreader_result
read_header(logreader *r, uint64_t end)
{
	ssize_t n = fill(r, 0, LOGFMT_LOG_HEADER, end);
	uint32_t v = 0;
	char what[96];

	if (n < 0)
		return read_error(r, 0);
	if (n > LOGFMT_LOG_HEADER)
		n = LOGFMT_LOG_HEADER;
	switch (logfmt_log_header_check(r->buf, (size_t) n, &v)) {
	case LOGFMT_HEADER_OK:
		break;
	case LOGFMT_HEADER_SHORT:
		/* Crashed while creating it: nothing in it yet. */
		if (end != LOGREADER_EOF)
			return LOGREADER_END;
		return problem(r, LOGREADER_TORN, 0, (uint64_t) n, 1,
		    "a log header cut short");
	case LOGFMT_HEADER_BAD_MAGIC:
		return problem(r, LOGREADER_CORRUPT, 0, 0, 1,
		    n < LOGFMT_LOG_HEADER
		        ? "not a flowsvc change log (too short)"
		        : "not a flowsvc change log (bad magic)");
	case LOGFMT_HEADER_BAD_VERSION:
		snprintf(what, sizeof(what),
		    "unsupported log format version %u", v);
		return problem(r, LOGREADER_CORRUPT, 8, 0, 1, what);
	}
	r->version = v;
	if (r->off < LOGFMT_LOG_HEADER)
		r->off = LOGFMT_LOG_HEADER;
	return LOGREADER_RECORD;
}

/* A record that fails a check at off, the end being a writer's: the
 * writer wrote it all, so it is damage. With end = EOF, judged as a crash
 * leaves a file (logreader.h). */
static enum logreader_result
bad_record(logreader *r, uint64_t end, uint64_t off, enum logfmt_frame f,
    uint32_t len, size_t held)
{
	const char *what = logfmt_frame_what(f, held < LOGFMT_REC_HEADER);

	if (end != LOGREADER_EOF) {
		if (f == LOGFMT_FRAME_SHORT)
			return LOGREADER_END; /* still being written */
		return problem(r, LOGREADER_CORRUPT, off, 0, 0, what);
	}
	switch (f) {
	case LOGFMT_FRAME_SHORT:
		/* fill() read to the end of the file: held is all there is. */
		return problem(r, LOGREADER_TORN, off, held, 0, what);
	case LOGFMT_FRAME_BAD_HEADER: {
		/* Zeros where records were to go, to the end: torn. */
		int z = zeros_to_eof(r, off);

		if (z < 0)
			return read_error(r, off);
		if (z) {
			struct stat sb;

			if (fstat(r->fd, &sb) != 0)
				return read_error(r, off);
			return problem(r, LOGREADER_TORN, off,
			    (uint64_t) sb.st_size - off, 0, what);
		}
		return problem(r, LOGREADER_CORRUPT, off, 0, 0, what);
	}
	case LOGFMT_FRAME_BAD_PAYLOAD: {
		/* Torn only when the record ends the file and the file ends
		 * with zeros from the first page boundary in its payload on:
		 * pages a power cut never wrote. */
		uint64_t rend = off + LOGFMT_REC_HEADER + len;
		ssize_t n =
		    fill(r, off, LOGFMT_REC_HEADER + (size_t) len + 1, end);
		uint64_t from = off + LOGFMT_REC_HEADER;
		uint64_t pg = (from + PAGE - 1) / PAGE * PAGE;
		int torn = 0;

		if (n < 0)
			return read_error(r, off);
		if ((uint64_t) n == rend - off && pg < rend) {
			torn = 1;
			for (uint64_t i = pg; i < rend && torn; i++)
				torn = r->buf[i - r->boff] == 0;
		}
		if (torn)
			return problem(r, LOGREADER_TORN, off, rend - off, 0,
			    what);
		return problem(r, LOGREADER_CORRUPT, off, 0, 0, what);
	}
	default:
		return problem(r, LOGREADER_CORRUPT, off, 0, 0, what);
	}
}

enum logreader_result
logreader_next(logreader *r, uint64_t end, logreader_record *rec)
{
	enum logreader_result res;
	enum logfmt_frame f;
	uint32_t len = 0;
	uint64_t off, rev;
	ssize_t n;

	if (r->version == 0 && (res = read_header(r, end)) != LOGREADER_RECORD)
		return res;
	if (r->off < LOGFMT_LOG_HEADER)
		r->off = LOGFMT_LOG_HEADER;
	off = r->off;
	if ((n = fill(r, off, LOGFMT_REC_HEADER, end)) < 0)
		return read_error(r, off);
	if (n == 0)
		return LOGREADER_END;
	f = logfmt_frame_head(r->buf + (off - r->boff), (size_t) n, &len);
	if (f == LOGFMT_FRAME_OK) {
		if ((n = fill(r, off, LOGFMT_REC_HEADER + (size_t) len, end)) <
		    0)
			return read_error(r, off);
		f = logfmt_frame_check(r->buf + (off - r->boff), (size_t) n,
		    &len);
	}
	if (f != LOGFMT_FRAME_OK)
		return bad_record(r, end, off, f, len, (size_t) n);

	const uint8_t *payload = r->buf + (off - r->boff) + LOGFMT_REC_HEADER;
	switch (logfmt_record_revision(payload, len, &rev)) {
	case FS_OK:
		break;
	case FS_NOT_FOUND:
		if (r->version >= 2)
			return problem(r, LOGREADER_CORRUPT, off, 0, 0,
			    "a record without its revision");
		rev = r->rev + 1;
		break;
	default:
		return problem(r, LOGREADER_CORRUPT, off, 0, 0,
		    "undecodable record");
	}
	rec->revision = rev;
	rec->offset = off;
	rec->next = off + LOGFMT_REC_HEADER + len;
	rec->payload = payload;
	rec->len = len;
	r->off = rec->next;
	r->rev = rev;
	return LOGREADER_RECORD;
}

enum logreader_result
logreader_seek_revision(logreader *r, uint64_t revision, uint64_t end,
    logreader_record *rec)
{
	for (;;) {
		uint64_t before = r->rev;
		enum logreader_result res = logreader_next(r, end, rec);

		if (res != LOGREADER_RECORD)
			return res;
		if (rec->revision >= revision) {
			r->off = rec->offset;
			r->rev = before;
			return LOGREADER_RECORD;
		}
	}
}
