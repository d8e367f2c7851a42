/*
 * persist.c - change log, snapshots, recovery. See persist.h for the files
 * and the threads.
 */
#define _GNU_SOURCE /* sync_file_range */
#include "persist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compwire.h"
#include "crc32c.h"
#include "datadir.h"
#include "fs_util.h"

#define LOG_MAGIC "FLOWLOG\0"
#define SNAP_MAGIC "FLOWSNP\0"
#define FORMAT_VERSION 1u
#define LOG_HEADER 16u
#define SNAP_HEADER 24u
#define REC_HEADER 12u /* len, crc32c(len), crc32c(payload) */
#define REC_MAX (64u * 1024u * 1024u) /* no record is near this */
#define SNAP_RETRY_S 5
#define SNAP_SYNC_BYTES (8u << 20) /* write-back step while snapshotting */
#define LOAD_AHEAD 8 /* records decoded ahead of the insert: store_prefetch */
#define CHECK_US 1000000 /* the directory's identity and a failing disk */
#define PAGE 4096u /* a power cut loses whole pages: see replay_log */

struct waiter {
	uint64_t ticket;
	void (*done)(void *arg, int ok);
	void *arg;
	struct waiter *next;
};

struct persist {
	persist_opts o;
	char *dir;
	store *st;
	pthread_rwlock_t *lock;
	persist_apply_fn apply;

	/* Current log; changed only with the store's write lock held, and
	 * fd/old_fd also under mtx (the sync thread dups them). */
	int fd;
	int old_fd; /* previous generation, until synced */
	uint64_t gen;
	uint64_t file_off;
	int write_broken;

	pthread_mutex_t mtx;
	pthread_cond_t sync_cv, snap_cv;
	uint64_t written, synced; /* logical bytes over all generations */
	int sync_failed;
	uint64_t changes_since;
	struct waiter *waiters;
	struct waiter *snapreqs;
	int stop;
	int64_t last_snap_us, last_snap_dur_us;
	int64_t snap_failed_us; /* last failure: retries wait SNAP_RETRY_S */
	uint64_t fsyncs, fsync_total_us, fsync_max_us;

	pthread_mutex_t snap_mtx; /* one snapshot at a time */
	pthread_t sync_thr, snap_thr;
	int threads;

	/* The directory as opened and locked (datadir.h). Files are created,
	 * renamed and removed relative to dd.dirfd, so they can only ever
	 * land in the directory this backend locked. */
	datadir dd;
	/* Whether changes can be written, under mtx. lost is sticky: the
	 * directory (or its log, or its lock) was deleted or replaced, so
	 * nothing may be acknowledged or written there again. append_failing
	 * lasts until an append or the sync thread's probe writes again. */
	int lost;
	enum datadir_loss lost_kind;
	int64_t lost_us;
	char lost_why[700], lost_where[512];
	int append_failing;
	char write_err[160]; /* the last append or sync error */
	uint64_t append_failures, sync_failures;
};

/* ---- small helpers ------------------------------------------------------ */

static void
plog(const persist *p, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
plog(const persist *p, const char *level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (p == NULL || p->o.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	p->o.log(level, "%s", buf);
}

static void
seterr(persist_error *e, const char *path, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
seterr(persist_error *e, const char *path, uint64_t off, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	snprintf(e->path, sizeof(e->path), "%s", path ? path : "");
	e->offset = off;
	va_start(ap, fmt);
	vsnprintf(e->what, sizeof(e->what), fmt, ap);
	va_end(ap);
}

static void
put_u32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t) (v >> (8 * i));
}

static void
put_u64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t
get_u32(const uint8_t *b)
{
	return (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 |
	    (uint32_t) b[3] << 24;
}

static uint64_t
get_u64(const uint8_t *b)
{
	return (uint64_t) get_u32(b) | (uint64_t) get_u32(b + 4) << 32;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

static void
path_of(char *out, size_t n, const char *dir, const char *kind, uint64_t gen,
    const char *ext)
{
	snprintf(out, n, "%s/%s-%012" PRIu64 "%s", dir, kind, gen, ext);
}

/* The name of GEN's file of a kind, without the directory. */
static void
name_of(char *out, size_t n, const char *kind, uint64_t gen, const char *ext)
{
	snprintf(out, n, "%s-%012" PRIu64 "%s", kind, gen, ext);
}

/* Syncs the directory so a create or rename in it survives a power cut.
 * Some filesystems cannot sync a directory (EINVAL): that is not an error. */
static int
fsync_dir(int dirfd)
{
	if (fsync(dirfd) != 0 && errno != EINVAL && errno != EBADF)
		return -1;
	return 0;
}

/* Reads a whole file. Returns 0, or -1 with errno. *buf is malloc'd. */
static int
read_file(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat sb;
	uint8_t *b;
	size_t off = 0;

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return -1;
	}
	if ((b = malloc((size_t) sb.st_size + 1)) == NULL) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	while (off < (size_t) sb.st_size) {
		ssize_t n = read(fd, b + off, (size_t) sb.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t) n;
	}
	close(fd);
	*buf = b;
	*len = off;
	return 0;
}

/* Maps a whole file read-only: a snapshot is read once, front to back,
 * and copying it out of the page cache first would cost as much again.
 * Snapshots are never written after their rename, so the mapping cannot
 * change under the loader. Returns 0 (*buf NULL for an empty file), or -1
 * with errno. Undo with unmap_file. */
static int
map_file(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat sb;
	void *m;

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	*len = (size_t) sb.st_size;
	*buf = NULL;
	if (*len == 0) {
		close(fd);
		return 0;
	}
	m = mmap(NULL, *len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	(void) madvise(m, *len, MADV_SEQUENTIAL);
	*buf = m;
	return 0;
}

static void
unmap_file(uint8_t *buf, size_t len)
{
	if (buf != NULL)
		(void) munmap(buf, len);
}

/* ---- directory scan ----------------------------------------------------- */

typedef struct genlist {
	uint64_t *v;
	size_t n, cap;
} genlist;

static int
genlist_add(genlist *l, uint64_t g)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		uint64_t *nv = realloc(l->v, cap * sizeof(*nv));
		if (nv == NULL)
			return -1;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = g;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
	return x < y ? -1 : x > y;
}

/* Parses "PREFIX-<12 digits>EXT". Returns 1 and the generation on match. */
static int
parse_name(const char *name, const char *prefix, const char *ext,
    uint64_t *gen)
{
	size_t pl = strlen(prefix), el = strlen(ext), nl = strlen(name);

	if (nl != pl + 1 + 12 + el || strncmp(name, prefix, pl) != 0 ||
	    name[pl] != '-' || strcmp(name + pl + 13, ext) != 0)
		return 0;
	uint64_t g = 0;
	for (size_t i = pl + 1; i < pl + 13; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		g = g * 10 + (uint64_t) (name[i] - '0');
	}
	*gen = g;
	return 1;
}

/* Lists snapshot and log generations (sorted). */
static int
scan_dir(const char *dir, genlist *snaps, genlist *logs, persist_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL) {
		seterr(err, dir, 0, "cannot read the data directory: %s",
		    strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		uint64_t g;
		if (parse_name(e->d_name, "snapshot", ".db", &g)) {
			if (genlist_add(snaps, g) != 0)
				goto oom;
		} else if (parse_name(e->d_name, "changes", ".log", &g)) {
			if (genlist_add(logs, g) != 0)
				goto oom;
		}
	}
	closedir(d);
	if (snaps->n > 1)
		qsort(snaps->v, snaps->n, sizeof(uint64_t), cmp_u64);
	if (logs->n > 1)
		qsort(logs->v, logs->n, sizeof(uint64_t), cmp_u64);
	return 0;
oom:
	closedir(d);
	seterr(err, dir, 0, "out of memory");
	return -1;
}

/* Removes the snapshot temp files an interrupted snapshot left, once the
 * directory has loaded (a refused start changes nothing). The lock keeps
 * other backends out; a temp file whose writer is alive is still never
 * ours to remove (a backend without the lock, or a pid reused): kept, and
 * said. */
static void
remove_leftovers(persist *p, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[1024];

	if (d == NULL)
		return; /* it just loaded: leftovers wait for the next start */
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name);
		if (nl <= 4 || strcmp(e->d_name + nl - 4, ".tmp") != 0 ||
		    strncmp(e->d_name, "snapshot-", 9) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (datadir_tmp_in_use(e->d_name))
			plog(p, "warning", "kept %s: the process named in it "
			    "is running and may be writing it", path);
		else if (unlink(path) == 0)
			plog(p, "warning", "removed leftover %s from an "
			    "interrupted snapshot", path);
	}
	closedir(d);
}

/* ---- loading ------------------------------------------------------------ */

static int
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* One snapshot record: where it is, its seq, and where the component's
 * own bytes sit inside it. */
struct snap_rec {
	uint64_t seq;
	size_t off;
	size_t wire_off, wire_len;
	uint64_t status;
};

static int
cmp_rec_seq(const void *a, const void *b)
{
	uint64_t x = ((const struct snap_rec *) a)->seq;
	uint64_t y = ((const struct snap_rec *) b)->seq;
	return x < y ? -1 : x > y;
}

static int
get_varint(const uint8_t **q, const uint8_t *e, uint64_t *v)
{
	*v = 0;
	for (int sh = 0; *q < e && sh < 64; sh += 7) {
		uint8_t b = *(*q)++;
		*v |= (uint64_t) (b & 0x7f) << sh;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

/* Reads a StoredComponent: field 1 (the packed Component, decoded later
 * by compwire), 2 and 3 (varints). */
static int
snap_rec_scan(const uint8_t *rec, size_t len, struct snap_rec *r)
{
	const uint8_t *q = rec, *e = rec + len;
	uint64_t key, v;
	int have_comp = 0, have_seq = 0, have_status = 0;

	while (q < e) {
		if (get_varint(&q, e, &key) != 0)
			return -1;
		switch (key) {
		case 0x0a:
			if (get_varint(&q, e, &v) != 0 ||
			    v > (uint64_t) (e - q))
				return -1;
			r->wire_off = (size_t) (q - rec);
			r->wire_len = (size_t) v;
			q += v;
			have_comp = 1;
			break;
		case 0x10:
			if (get_varint(&q, e, &r->status) != 0)
				return -1;
			have_status = 1;
			break;
		case 0x18:
			if (get_varint(&q, e, &r->seq) != 0)
				return -1;
			have_seq = 1;
			break;
		default:
			return -1;
		}
	}
	return have_comp && have_seq && have_status ? 0 : -1;
}

/* Logs the load's progress, at most once a second. */
static void
progress(const persist *p, const char *path, uint64_t i, uint64_t count,
    int64_t t0, int64_t *tlast)
{
	int64_t now;

	if ((i & 0x3ffff) != 0x3ffff || (now = fs_now_us()) - *tlast <= 1000000)
		return;
	plog(p, "info", "loading %s: %" PRIu64 " of %" PRIu64
	    " components (%.0f/s)", path, i + 1, count,
	    (double) (i + 1) * 1e6 / (double) (now - t0));
	*tlast = now;
}

static int
load_snapshot(persist *p, const char *path, store *st, uint64_t *records,
    persist_error *err)
{
	uint8_t *buf;
	size_t len;
	struct snap_rec *recs = NULL;
	compwire ring[LOAD_AHEAD];
	int64_t t0 = fs_now_us(), tlast = t0;

	for (size_t i = 0; i < LOAD_AHEAD; i++)
		ring[i] = (compwire) COMPWIRE_INIT;

	if (map_file(path, &buf, &len) != 0) {
		seterr(err, path, 0, "cannot read: %s", strerror(errno));
		return -1;
	}
	int rv = -1;
	if (len < SNAP_HEADER + 4 || memcmp(buf, SNAP_MAGIC, 8) != 0) {
		seterr(err, path, 0, "not a flowsvc snapshot (bad magic or "
		    "too short)");
		goto out;
	}
	if (get_u32(buf + 8) != FORMAT_VERSION) {
		seterr(err, path, 8, "unsupported snapshot format version %u",
		    get_u32(buf + 8));
		goto out;
	}
	uint32_t want = get_u32(buf + len - 4);
	if (crc32c(0, buf, len - 4) != want) {
		seterr(err, path, len - 4,
		    "checksum mismatch: the snapshot is corrupt; refusing to "
		    "start rather than serve partial data (restore the file "
		    "from a backup; flow-check DIR tells what is readable)");
		goto out;
	}
	uint64_t count = get_u64(buf + 16), n = 0;
	/* The count is checked against the records below; a damaged one only
	 * sizes the tables wrong, bounded by what the file could hold. */
	store_reserve(st, (size_t) (count < len / 8 ? count : len / 8));
	/* Pass 1: frame every record and read its seq (snap_write puts field
	 * 1, the component, first, then status and seq), so that pass 2 can
	 * insert in creation order: a snapshot lists components in table
	 * order, not in the order they were created. */
	size_t off = SNAP_HEADER, end = len - 4;
	size_t cap = (size_t) (count < len / 8 ? count : len / 8) + 1;
	if ((recs = malloc(cap * sizeof(*recs))) == NULL) {
		seterr(err, path, 0, "out of memory");
		goto out;
	}
	int sorted = 1;
	while (off < end) {
		if (end - off < 4) {
			seterr(err, path, off, "truncated record header");
			goto out;
		}
		uint32_t rl = get_u32(buf + off);
		if (rl > end - off - 4) {
			seterr(err, path, off, "record length %u past the end",
			    rl);
			goto out;
		}
		struct snap_rec r = {0, off, 0, 0, 0};
		if (snap_rec_scan(buf + off + 4, rl, &r) != 0) {
			seterr(err, path, off, "undecodable record");
			goto out;
		}
		if (n == cap) {
			seterr(err, path, off, "more records than the header "
			    "says (%" PRIu64 ")", count);
			goto out;
		}
		if (n > 0 && r.seq < recs[n - 1].seq)
			sorted = 0;
		recs[n++] = r;
		off += 4 + rl;
	}
	if (n != count) {
		seterr(err, path, off, "holds %" PRIu64 " records, header says "
		    "%" PRIu64, n, count);
		goto out;
	}
	if (!sorted)
		qsort(recs, n, sizeof(*recs), cmp_rec_seq);

	/* Pass 2: insert, decoding LOAD_AHEAD records ahead so that the
	 * index slots each insert touches are on their way into the cache by
	 * the time it runs (store_prefetch). */
	for (uint64_t k = 0; k < n + LOAD_AHEAD; k++) {
		if (k >= LOAD_AHEAD) {
			uint64_t i = k - LOAD_AHEAD;
			const struct snap_rec *r = &recs[i];
			compwire *cw = &ring[i % LOAD_AHEAD];
			int prv = store_put_unlinked(st, &cw->msg,
			    buf + r->off + 4 + r->wire_off, r->wire_len,
			    (int) r->status, r->seq);

			if (prv != 0) {
				seterr(err, path, r->off,
				    prv == FS_RESOURCE_EXHAUSTED
				    ? "out of memory"
				    : "record does not fit the store "
				      "(duplicate id?)");
				goto out;
			}
			progress(p, path, i, count, t0, &tlast);
		}
		if (k < n) {
			const struct snap_rec *r = &recs[k];
			compwire *cw = &ring[k % LOAD_AHEAD];
			int drv = compwire_decode(cw,
			    buf + r->off + 4 + r->wire_off, r->wire_len);

			if (drv != 0) {
				seterr(err, path, r->off, drv == -1
				    ? "undecodable record" : "out of memory");
				goto out;
			}
			store_prefetch(st, &cw->msg);
		}
	}
	if (store_link_pending(st) != 0) {
		seterr(err, path, 0, "a component uses a flow the snapshot "
		    "does not contain");
		goto out;
	}
	*records = n;
	rv = 0;
out:
	for (size_t i = 0; i < LOAD_AHEAD; i++)
		compwire_fini(&ring[i]);
	free(recs);
	unmap_file(buf, len);
	return rv;
}

/* 1 when the file ends with zeros from the first page boundary at or after
 * from: pages a power cut never wrote although the file's size covers
 * them. A record that is all there and fails its checksum otherwise is
 * damage (a flipped bit), never a torn write. */
static int
unwritten_pages(const uint8_t *buf, size_t from, size_t len)
{
	size_t pg = (from + PAGE - 1) / PAGE * PAGE;

	return pg < len && all_zero(buf + pg, len - pg);
}

/* Replays one log. A torn tail (a record cut short, or zeros where it was
 * to go) is dropped; *torn gets its size. Any other damage stops the load.
 * last: the newest log (only wording). skip_unfit: records that do not fit
 * the state (after a missing file, with --recover-partial) are counted in
 * *skipped instead of stopping the load. */
static int
replay_log(persist *p, const char *path, store *st, persist_apply_fn apply,
    int last, int skip_unfit, uint64_t *records, uint64_t *skipped,
    uint64_t *good_end, uint64_t *torn, persist_error *err)
{
	uint8_t *buf;
	size_t len;
	int rv = -1;

	*torn = 0;
	if (read_file(path, &buf, &len) != 0) {
		seterr(err, path, 0, "cannot read: %s", strerror(errno));
		return -1;
	}
	if (len < LOG_HEADER) {
		if ((len == 0 || memcmp(buf, LOG_MAGIC, len < 8 ? len
		                                                         : 8) ==
		                             0)) {
			/* Crashed while creating it: nothing in it yet. */
			*good_end = 0;
			*torn = len;
			rv = 0;
		} else {
			seterr(err, path, 0, "not a flowsvc change log (too "
			    "short)");
		}
		goto out;
	}
	if (memcmp(buf, LOG_MAGIC, 8) != 0) {
		seterr(err, path, 0, "not a flowsvc change log (bad magic)");
		goto out;
	}
	if (get_u32(buf + 8) != FORMAT_VERSION) {
		seterr(err, path, 8, "unsupported log format version %u",
		    get_u32(buf + 8));
		goto out;
	}
	size_t off = LOG_HEADER;
	while (off < len) {
		/* A crash mid-write leaves a prefix of the last record (or,
		 * after a power cut on some filesystems, zeros where it was
		 * to go, in whole pages). Anything else that does not check
		 * out is damage, and damage is never skipped or cut off
		 * silently: the changes in and after it would be lost with
		 * it, and so would the evidence. */
		size_t left = len - off;
		const char *bad = NULL;
		int torn_ok = 0;
		uint32_t rl = 0;
		if (left < REC_HEADER) {
			torn_ok = 1;
			bad = "a record header cut short";
		} else if (crc32c(0, buf + off, 4) != get_u32(buf + off + 4)) {
			torn_ok = all_zero(buf + off, left);
			bad = "a record header that fails its checksum";
		} else if ((rl = get_u32(buf + off)) > REC_MAX) {
			bad = "a record length out of range";
		} else if (rl > left - REC_HEADER) {
			torn_ok = 1;
			bad = "a record cut short";
		} else if (crc32c(0, buf + off + REC_HEADER, rl) !=
		    get_u32(buf + off + 8)) {
			torn_ok = off + REC_HEADER + rl == len &&
			    unwritten_pages(buf, off + REC_HEADER, len);
			bad = "a complete record that fails its checksum";
		}
		if (bad != NULL) {
			/* A torn tail can end an older log too: a power cut
			 * after a snapshot began a new log but before the old
			 * one was synced (fsync everysec/no). Under "always"
			 * nothing acknowledged was in it. Later logs still
			 * have to apply cleanly on top. */
			if (torn_ok) {
				*torn = left;
				break;
			}
			seterr(err, path, off,
			    "%s%s: the log is damaged; refusing to start "
			    "rather than lose changes (the file is left as "
			    "it is)",
			    bad, last ? "" : " (in an older log)");
			goto out;
		}
		Flowsvc__LogRecord *rec = flowsvc__log_record__unpack(
		    NULL, rl, buf + off + REC_HEADER);
		if (rec == NULL) {
			seterr(err, path, off, "undecodable record");
			goto out;
		}
		int arv = apply(st, rec);
		flowsvc__log_record__free_unpacked(rec, NULL);
		if (arv == FS_FAILED_PRECONDITION && skip_unfit) {
			(*skipped)++;
		} else if (arv != 0) {
			seterr(err, path, off,
			    arv == FS_RESOURCE_EXHAUSTED ? "out of memory"
			    : "record does not fit the state before it");
			goto out;
		} else {
			(*records)++;
		}
		off += REC_HEADER + rl;
	}
	*good_end = off;
	rv = 0;
out:
	free(buf);
	return rv;
}

/* What load_dir found beyond the counts. */
struct load_out {
	uint64_t gen;      /* the generation to continue in */
	uint64_t last_end; /* the end of the valid part of its log */
	int last_exists;
	uint64_t max_gen; /* the highest generation of any file there */
	int partial;      /* an incomplete directory accepted */
};

/* Loads dir into st. With readonly, touches nothing on disk. An
 * incomplete directory (datadir_layout) is refused, unless p asks for
 * recover_partial: then what is there is loaded, records that do not fit
 * without the missing files are skipped, and all of it is logged. */
static int
load_dir(persist *p, const char *dir, store *st, persist_apply_fn apply,
    int readonly, persist_check *ck, struct load_out *lo, persist_error *err)
{
	genlist snaps = {0}, logs = {0};
	int rv = -1;
	char path[1024], problems[1024];
	uint64_t skipped = 0;

	memset(ck, 0, sizeof(*ck));
	memset(lo, 0, sizeof(*lo));
	if (scan_dir(dir, &snaps, &logs, err) != 0)
		goto out;
	if (datadir_layout(snaps.v, snaps.n, logs.v, logs.n, problems,
	        sizeof(problems)) > 0) {
		if (readonly || p == NULL || !p->o.recover_partial) {
			seterr(err, dir, 0,
			    "%s; the data directory is incomplete, and a start "
			    "would serve part of the data (--recover-partial "
			    "starts with what is there)",
			    problems);
			goto out;
		}
		plog(p, "warning", "--recover-partial: %s is incomplete: %s; "
		    "loading what is there", dir, problems);
		lo->partial = 1;
	}
	if (snaps.n > 0)
		lo->max_gen = snaps.v[snaps.n - 1];
	if (logs.n > 0 && logs.v[logs.n - 1] > lo->max_gen)
		lo->max_gen = logs.v[logs.n - 1];
	uint64_t base = snaps.n > 0 ? snaps.v[snaps.n - 1] : 0;
	if (snaps.n > 0) {
		int64_t t0 = fs_now_us();
		path_of(path, sizeof(path), dir, "snapshot", base, ".db");
		if (load_snapshot(p, path, st, &ck->snapshot_records, err) != 0)
			goto out;
		plog(p, "info", "loaded %s: %" PRIu64 " components in %.3f s",
		    path, ck->snapshot_records,
		    (double) (fs_now_us() - t0) / 1e6);
	}
	lo->gen = base;
	size_t first = 0;
	while (first < logs.n && logs.v[first] < base)
		first++;
	for (size_t i = first; i < logs.n; i++) {
		uint64_t good, torn, before = ck->log_records, sk = skipped;
		int last = i + 1 == logs.n;
		path_of(path, sizeof(path), dir, "changes", logs.v[i], ".log");
		if (replay_log(p, path, st, apply, last, lo->partial,
		        &ck->log_records, &skipped, &good, &torn, err) != 0)
			goto out;
		if (skipped > sk)
			plog(p, "warning", "replayed %s: %" PRIu64 " changes; "
			    "skipped %" PRIu64 " that change components the "
			    "missing files held",
			    path, ck->log_records - before, skipped - sk);
		else
			plog(p, "info", "replayed %s: %" PRIu64 " changes",
			    path, ck->log_records - before);
		if (torn > 0) {
			ck->torn_bytes = torn;
			plog(p, "warning",
			    "%s: dropped a torn last record (%" PRIu64
			    " bytes at offset %" PRIu64
			    "), left by a crash in the middle of a write",
			    path, torn, good);
			if (!readonly && truncate(path, (off_t) good) != 0) {
				seterr(err, path, good, "cannot truncate the "
				    "torn tail: %s", strerror(errno));
				goto out;
			}
		}
		lo->gen = logs.v[i];
		lo->last_exists = 1;
		lo->last_end = good;
	}
	if (lo->partial) {
		char snap[64] = "no snapshot";
		if (snaps.n > 0)
			name_of(snap, sizeof(snap), "snapshot", base, ".db");
		plog(p, "warning",
		    "--recover-partial: accepted what %s holds: %" PRIu64
		    " components from %s and %" PRIu64 " changes from %zu "
		    "logs (%" PRIu64 " skipped), %zu flows and %zu apps in "
		    "all; whatever the missing files held is lost",
		    dir, ck->snapshot_records, snap, ck->log_records,
		    logs.n - first, skipped,
		    store_count(st, FLOWSVC__KIND__FLOW),
		    store_count(st, FLOWSVC__KIND__APP));
	}
	if (!readonly) {
		remove_leftovers(p, dir);
		/* Files older than the snapshot are obsolete. */
		for (size_t i = 0; i < snaps.n; i++) {
			if (snaps.v[i] >= base)
				continue;
			path_of(path, sizeof(path), dir, "snapshot", snaps.v[i],
			    ".db");
			unlink(path);
		}
		for (size_t i = 0; i < first; i++) {
			path_of(path, sizeof(path), dir, "changes", logs.v[i],
			    ".log");
			unlink(path);
		}
	}
	ck->generation = lo->gen;
	ck->flows = store_count(st, FLOWSVC__KIND__FLOW);
	ck->apps = store_count(st, FLOWSVC__KIND__APP);
	rv = 0;
out:
	free(snaps.v);
	free(logs.v);
	return rv;
}

/* Creates changes-GEN.log with its header, in the locked directory.
 * excl: fail when it exists (a new generation never does). Returns the
 * fd or -1. */
static int
log_create(persist *p, uint64_t gen, int excl, persist_error *err)
{
	char name[64], path[1024];
	uint8_t hdr[LOG_HEADER] = {0};

	name_of(name, sizeof(name), "changes", gen, ".log");
	snprintf(path, sizeof(path), "%s/%s", p->dir, name);
	int fd = openat(p->dd.dirfd, name, O_WRONLY | O_CREAT | O_APPEND |
	        O_CLOEXEC | (excl ? O_EXCL : O_TRUNC), 0644);
	if (fd < 0) {
		seterr(err, path, 0, "cannot create: %s", strerror(errno));
		return -1;
	}
	memcpy(hdr, LOG_MAGIC, 8);
	put_u32(hdr + 8, FORMAT_VERSION);
	if (write_all(fd, hdr, sizeof(hdr)) != 0) {
		seterr(err, path, 0, "cannot write: %s", strerror(errno));
		close(fd);
		unlinkat(p->dd.dirfd, name, 0);
		return -1;
	}
	return fd;
}

/* ---- is the directory still ours, and does it take writes --------------- */

/* Marks the directory lost (sticky) and says so, once. mtx held. */
static void
set_lost(persist *p, enum datadir_loss kind, const char *why,
    const char *where)
{
	if (p->lost)
		return;
	p->lost = 1;
	p->lost_kind = kind;
	p->lost_us = fs_now_us();
	snprintf(p->lost_why, sizeof(p->lost_why), "%s", why);
	snprintf(p->lost_where, sizeof(p->lost_where), "%s", where);
	plog(p, "error", "%s while the backend ran: changes are refused "
	    "(UNAVAILABLE) until it is restarted on a usable data directory, "
	    "reads go on, and no snapshot will be written; %s",
	    why, kind == DATADIR_DIR_DELETED || kind == DATADIR_LOG_DELETED
	    ? "the state in memory is on no disk now: copy it out (GET "
	      "/api/flows/ and /api/apps/, flowctl list) before stopping "
	      "this backend"
	    : "every acknowledged change is in the files this backend "
	      "wrote");
}

/* Checks that the directory, its current log and its lock are still the
 * ones this backend opened (datadir_check) and marks it lost when not.
 * Returns 0, or -1 when it is lost. mtx not held. */
static int
check_dir(persist *p)
{
	char why[sizeof(p->lost_why)], where[sizeof(p->lost_where)];
	char logname[64];

	pthread_mutex_lock(&p->mtx);
	if (p->lost) {
		pthread_mutex_unlock(&p->mtx);
		return -1;
	}
	uint64_t gen = p->gen;
	int fd = p->fd >= 0 ? dup(p->fd) : -1; /* -1: the log unchecked */
	pthread_mutex_unlock(&p->mtx);

	name_of(logname, sizeof(logname), "changes", gen, ".log");
	enum datadir_loss k = datadir_check(&p->dd, p->dir, fd, logname, why,
	    sizeof(why), where, sizeof(where));
	if (fd >= 0)
		close(fd);
	if (k == DATADIR_OK)
		return 0;
	pthread_mutex_lock(&p->mtx);
	/* A snapshot that switched logs meanwhile removes the old one: only
	 * what is seen in the current generation counts. */
	int real = p->gen == gen;
	if (real)
		set_lost(p, k, why, where);
	pthread_mutex_unlock(&p->mtx);
	return real ? -1 : 0;
}

/* The periodic watch (sync thread, every CHECK_US): the directory's
 * identity, and while appends fail, whether writes work again. */
static void
watch_dir(persist *p)
{
	if (check_dir(p) != 0)
		return;
	pthread_mutex_lock(&p->mtx);
	int failing = p->append_failing;
	pthread_mutex_unlock(&p->mtx);
	/* Readiness comes back when the disk does, with no change needed
	 * to find out. */
	if (!failing || datadir_probe(&p->dd) != 0)
		return;
	pthread_mutex_lock(&p->mtx);
	if (p->append_failing && !p->lost) {
		p->append_failing = 0;
		plog(p, "info", "the data directory %s takes writes again; "
		    "accepting changes", p->dir);
	}
	pthread_mutex_unlock(&p->mtx);
}

/* An append that could not write (errno e): counted, and said once per
 * spell of failures. Returns -1. */
static int
append_failed(persist *p, int e)
{
	pthread_mutex_lock(&p->mtx);
	p->append_failures++;
	snprintf(p->write_err, sizeof(p->write_err),
	    "cannot append to the change log: %s", strerror(e));
	if (!p->append_failing)
		plog(p, "error", "cannot append to the change log in %s: %s; "
		    "changes are refused until a write succeeds", p->dir,
		    strerror(e));
	p->append_failing = 1;
	pthread_mutex_unlock(&p->mtx);
	return -1;
}

/* ---- appending and syncing ---------------------------------------------- */

int
persist_append(persist *p, const Flowsvc__LogRecord *rec, uint64_t *ticket)
{
	uint8_t stackbuf[2048], *buf = stackbuf;
	struct stat sb;
	int refused;

	pthread_mutex_lock(&p->mtx);
	refused = p->lost || p->sync_failed;
	if (refused)
		p->append_failures++;
	pthread_mutex_unlock(&p->mtx);
	if (refused)
		return -1;
	if (p->write_broken) {
		/* Undo a partial write before trying again. */
		if (ftruncate(p->fd, (off_t) p->file_off) != 0)
			return append_failed(p, errno);
		p->write_broken = 0;
	}
	size_t len = flowsvc__log_record__get_packed_size(rec);
	if (len > REC_MAX)
		return -1;
	if (len + REC_HEADER > sizeof(stackbuf) &&
	    (buf = malloc(len + REC_HEADER)) == NULL)
		return -1;
	flowsvc__log_record__pack(rec, buf + REC_HEADER);
	put_u32(buf, (uint32_t) len);
	put_u32(buf + 4, crc32c(0, buf, 4));
	put_u32(buf + 8, crc32c(0, buf + REC_HEADER, len));
	int rv = write_all(p->fd, buf, len + REC_HEADER);
	int e = errno;
	if (buf != stackbuf)
		free(buf);
	if (rv != 0) {
		p->write_broken = ftruncate(p->fd, (off_t) p->file_off) != 0;
		return append_failed(p, e);
	}
	/* A log no longer linked anywhere (its directory or itself deleted)
	 * took the record, but no disk will keep it: refuse the change
	 * rather than acknowledge it. Checked after the write, so that no
	 * change is acknowledged into a file that was already gone. */
	if (fstat(p->fd, &sb) == 0 && sb.st_nlink == 0) {
		char why[sizeof(p->lost_why)];

		(void) check_dir(p); /* marks it lost with the precise cause */
		snprintf(why, sizeof(why), "the change log in %s was deleted",
		    p->dir);
		pthread_mutex_lock(&p->mtx);
		set_lost(p, DATADIR_LOG_DELETED, why, ""); /* if not yet */
		p->append_failures++;
		pthread_mutex_unlock(&p->mtx);
		return -1;
	}
	p->file_off += len + REC_HEADER;
	pthread_mutex_lock(&p->mtx);
	if (p->append_failing) {
		p->append_failing = 0;
		plog(p, "info", "the change log in %s takes writes again; "
		    "accepting changes", p->dir);
	}
	p->written += len + REC_HEADER;
	*ticket = p->written;
	p->changes_since++;
	if (p->o.snapshot_changes != 0 &&
	    p->changes_since == p->o.snapshot_changes)
		pthread_cond_signal(&p->snap_cv);
	if (p->o.fsync == PERSIST_FSYNC_ALWAYS)
		pthread_cond_signal(&p->sync_cv);
	pthread_mutex_unlock(&p->mtx);
	return 0;
}

int
persist_sync_replies(const persist *p)
{
	return p->o.fsync == PERSIST_FSYNC_ALWAYS;
}

int
persist_when_durable(persist *p, uint64_t ticket,
    void (*done)(void *arg, int ok), void *arg)
{
	pthread_mutex_lock(&p->mtx);
	if (ticket <= p->synced) {
		pthread_mutex_unlock(&p->mtx);
		done(arg, 1);
		return 0;
	}
	struct waiter *w = malloc(sizeof(*w));
	if (w == NULL) {
		pthread_mutex_unlock(&p->mtx);
		return -1;
	}
	w->ticket = ticket;
	w->done = done;
	w->arg = arg;
	w->next = p->waiters;
	p->waiters = w;
	pthread_cond_signal(&p->sync_cv);
	pthread_mutex_unlock(&p->mtx);
	return 0;
}

static void
abs_after_ms(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Group commit: one fdatasync covers every append made before it began. */
static void *
sync_main(void *arg)
{
	persist *p = arg;
	int64_t next = fs_now_us() + 1000000, next_check = next;

	pthread_mutex_lock(&p->mtx);
	for (;;) {
		int due = 0;
		int64_t now = fs_now_us();
		if (now >= next_check && !p->stop) {
			pthread_mutex_unlock(&p->mtx);
			watch_dir(p);
			pthread_mutex_lock(&p->mtx);
			now = fs_now_us();
			next_check = now + CHECK_US;
		}
		if (p->o.fsync == PERSIST_FSYNC_ALWAYS)
			/* After a failed sync, retry once a second (changes
			 * are refused meanwhile), not in a busy loop. */
			due = (p->waiters != NULL || p->written > p->synced) &&
			    (!p->sync_failed || now >= next);
		else if (p->o.fsync == PERSIST_FSYNC_EVERYSEC)
			due = (p->written > p->synced || p->sync_failed ||
			          p->old_fd >= 0) &&
			    now >= next;
		if (p->stop)
			due = p->written > p->synced || p->waiters != NULL ||
			    p->old_fd >= 0;
		if (!due) {
			if (p->stop)
				break;
			/* Nothing to sync: sleep until the next tick, or a
			 * second when it has passed (no busy loop). */
			struct timespec ts;
			long ms = next > now ? (long) ((next - now) / 1000) + 1
			                     : 1000;
			if (p->o.fsync == PERSIST_FSYNC_ALWAYS || ms > 1000)
				ms = 1000;
			if (next_check > now &&
			    ms > (long) ((next_check - now) / 1000) + 1)
				ms = (long) ((next_check - now) / 1000) + 1;
			abs_after_ms(&ts, ms);
			pthread_cond_timedwait(&p->sync_cv, &p->mtx, &ts);
			continue;
		}
		uint64_t target = p->written;
		int cur = dup(p->fd), old = p->old_fd;
		p->old_fd = -1;
		pthread_mutex_unlock(&p->mtx);

		int rc = 0, e = 0;
		int64_t t0 = fs_now_us();
		if (old >= 0) {
			if (fdatasync(old) != 0) {
				rc = -1;
				e = errno;
			}
			close(old);
		}
		if (cur < 0 || fdatasync(cur) != 0) {
			rc = -1;
			e = errno;
		}
		if (cur >= 0)
			close(cur);

		uint64_t took = (uint64_t) (fs_now_us() - t0);
		pthread_mutex_lock(&p->mtx);
		p->fsyncs++;
		p->fsync_total_us += took;
		if (took > p->fsync_max_us)
			p->fsync_max_us = took;
		if (rc == 0) {
			if (target > p->synced)
				p->synced = target;
			if (p->sync_failed)
				plog(p, "info", "change log sync works again; "
				    "accepting changes");
			p->sync_failed = 0;
		} else {
			if (!p->sync_failed)
				plog(p, "error",
				    "cannot sync the change log in %s: %s; "
				    "changes are refused until it works",
				    p->dir, strerror(e));
			p->sync_failed = 1;
			p->sync_failures++;
			snprintf(p->write_err, sizeof(p->write_err),
			    "cannot sync the change log: %s", strerror(e));
		}
		struct waiter *ready = NULL, **pp = &p->waiters;
		while (*pp != NULL) {
			struct waiter *w = *pp;
			if (rc != 0 || w->ticket <= p->synced) {
				*pp = w->next;
				w->next = ready;
				ready = w;
			} else {
				pp = &w->next;
			}
		}
		next = fs_now_us() + 1000000;
		if (p->stop && rc != 0) {
			/* Give up at shutdown: fail whoever still waits. */
			p->synced = p->written;
		}
		pthread_mutex_unlock(&p->mtx);
		while (ready != NULL) {
			struct waiter *w = ready;
			ready = w->next;
			w->done(w->arg, rc == 0);
			free(w);
		}
		pthread_mutex_lock(&p->mtx);
	}
	pthread_mutex_unlock(&p->mtx);
	return NULL;
}

/* ---- snapshots ---------------------------------------------------------- */

static size_t
put_varint(uint8_t *b, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		b[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t) v;
	return n;
}

/* Writes items to snapshot-GEN.db via a temp file. Returns 0 or -1 with
 * *step naming what failed. */
static int
snap_write(persist *p, uint64_t gen, const store_item *items, size_t n,
    const char **step)
{
	char tmp[96], name[64];
	uint8_t hdr[SNAP_HEADER] = {0}, pre[32], tail[4];
	uint32_t crc = 0;
	FILE *f;
	int fd;

	snprintf(tmp, sizeof(tmp), "snapshot-%012" PRIu64 ".db.%d.tmp", gen,
	    (int) getpid());
	name_of(name, sizeof(name), "snapshot", gen, ".db");
	*step = "open";
	fd = openat(p->dd.dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0644);
	if (fd < 0)
		return -1;
	if ((f = fdopen(fd, "wb")) == NULL) {
		int e = errno;
		close(fd);
		unlinkat(p->dd.dirfd, tmp, 0);
		errno = e;
		return -1;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	size_t written = SNAP_HEADER, synced = 0;
	memcpy(hdr, SNAP_MAGIC, 8);
	put_u32(hdr + 8, FORMAT_VERSION);
	put_u64(hdr + 16, n);
	*step = "write";
	if (fwrite(hdr, 1, sizeof(hdr), f) != sizeof(hdr))
		goto fail;
	crc = crc32c(crc, hdr, sizeof(hdr));
	for (size_t i = 0; i < n; i++) {
		/* StoredComponent{component=1, status=2, seq=3}, packed by
		 * hand around the component's stored wire form. */
		uint8_t sfx[16];
		size_t pl = 4, sl = 0;
		pre[pl++] = 0x0a;
		pl += put_varint(pre + pl, items[i].packed_len);
		sfx[sl++] = 0x10;
		sl += put_varint(sfx + sl, items[i].status);
		sfx[sl++] = 0x18;
		sl += put_varint(sfx + sl, items[i].seq);
		put_u32(pre, (uint32_t) (pl - 4 + items[i].packed_len + sl));
		if (fwrite(pre, 1, pl, f) != pl ||
		    fwrite(items[i].packed, 1, items[i].packed_len, f) !=
		        items[i].packed_len ||
		    fwrite(sfx, 1, sl, f) != sl)
			goto fail;
		crc = crc32c(crc, pre, pl);
		crc = crc32c(crc, items[i].packed, items[i].packed_len);
		crc = crc32c(crc, sfx, sl);
		written += pl + items[i].packed_len + sl;
		if (written - synced >= SNAP_SYNC_BYTES) {
			/* Write back as we go (like redis's incremental
			 * fsync): a snapshot left to pile up hundreds of MiB
			 * of dirty pages makes the kernel throttle every
			 * writer, the change log's appends included. */
			*step = "write-back";
			if (fflush(f) != 0)
				goto fail;
			if (sync_file_range(fileno(f), (off_t) synced,
			        (off_t) (written - synced),
			        SYNC_FILE_RANGE_WAIT_BEFORE |
			            SYNC_FILE_RANGE_WRITE |
			            SYNC_FILE_RANGE_WAIT_AFTER) != 0 &&
			    errno != ENOSYS && errno != EINVAL)
				goto fail;
			synced = written;
			*step = "write";
		}
	}
	put_u32(tail, crc);
	if (fwrite(tail, 1, 4, f) != 4)
		goto fail;
	*step = "fflush";
	if (fflush(f) != 0)
		goto fail;
	*step = "fsync";
	if (fsync(fileno(f)) != 0)
		goto fail;
	*step = "fclose";
	if (fclose(f) != 0) {
		f = NULL;
		goto fail;
	}
	f = NULL;
	*step = "rename";
	if (renameat(p->dd.dirfd, tmp, p->dd.dirfd, name) != 0)
		goto fail;
	*step = "fsync of the directory";
	if (fsync_dir(p->dd.dirfd) != 0)
		return -1; /* renamed: the snapshot is in place, maybe not
		              durable; older files are kept */
	return 0;
fail:;
	int e = errno;
	if (f != NULL)
		fclose(f);
	unlinkat(p->dd.dirfd, tmp, 0);
	errno = e;
	return -1;
}

/* Cuts a new generation and writes the snapshot for it. Takes the write
 * lock only to collect and to switch logs. */
static int
do_snapshot(persist *p)
{
	store_item *items = NULL;
	size_t n = 0;
	persist_error err;
	int64_t t0 = fs_now_us();

	/* Never into a directory that is no longer ours (and every file
	 * below goes through dd.dirfd, so none can land in one that took
	 * its place after this check). */
	if (check_dir(p) != 0)
		return -1;
	/* Size and touch the copy's memory before the write lock, so the
	 * lock covers one memcpy, not allocation and page faults. */
	pthread_rwlock_rdlock(p->lock);
	size_t cap = store_count(p->st, FLOWSVC__KIND__FLOW) +
	    store_count(p->st, FLOWSVC__KIND__APP);
	pthread_rwlock_unlock(p->lock);
	cap += cap / 16 + 1024;
	/* Only this thread (under snap_mtx) changes the generation. */
	uint64_t gen = p->gen + 1;
	char name[64];
	name_of(name, sizeof(name), "changes", gen, ".log");
	int fd = log_create(p, gen, 1, &err);
	if (fd < 0) {
		plog(p, "error", "snapshot: %s: %s", err.path, err.what);
		return -1;
	}
	/* The new log on disk before any snapshot of its generation: a
	 * snapshot G always has its log G (datadir_layout). */
	if (fsync_dir(p->dd.dirfd) != 0) {
		plog(p, "error", "snapshot: cannot sync %s: %s", p->dir,
		    strerror(errno));
		close(fd);
		unlinkat(p->dd.dirfd, name, 0);
		return -1;
	}
	int64_t tl = 0;
	for (;;) {
		if ((items = malloc(cap * sizeof(*items))) == NULL) {
			close(fd);
			unlinkat(p->dd.dirfd, name, 0);
			plog(p, "error", "snapshot: out of memory");
			return -1;
		}
		memset(items, 0, cap * sizeof(*items));
		pthread_rwlock_wrlock(p->lock);
		tl = fs_now_us();
		if (store_collect_into(p->st, items, cap, &n) == 0)
			break;
		/* It grew past the margin meanwhile: try again. */
		pthread_rwlock_unlock(p->lock);
		free(items);
		cap = n + n / 8 + 1024;
	}
	store_hold(p->st);
	pthread_mutex_lock(&p->mtx);
	int old = p->fd; /* -1 for the snapshot of a partial recovery */
	if (p->o.fsync == PERSIST_FSYNC_NO || old < 0) {
		if (old >= 0)
			close(old);
	} else {
		if (p->old_fd >= 0) /* a previous cut not yet synced */
			close(p->old_fd);
		p->old_fd = old;
		pthread_cond_signal(&p->sync_cv);
	}
	p->fd = fd;
	p->gen = gen;
	p->file_off = LOG_HEADER;
	p->write_broken = 0;
	p->changes_since = 0;
	pthread_mutex_unlock(&p->mtx);
	pthread_rwlock_unlock(p->lock);
	int64_t t1 = fs_now_us();

	const char *step = "";
	int rv = snap_write(p, gen, items, n, &step);
	int e = errno;

	pthread_rwlock_wrlock(p->lock);
	store_release(p->st);
	pthread_rwlock_unlock(p->lock);
	free(items);

	if (rv != 0) {
		plog(p, "error",
		    "snapshot %012" PRIu64 " failed at %s: %s; the previous "
		    "snapshot and the logs stay in place",
		    gen, step, strerror(e));
		return -1;
	}
	/* Everything before this generation is now redundant. */
	for (uint64_t g = gen; g-- > 0;) {
		name_of(name, sizeof(name), "snapshot", g, ".db");
		int a = unlinkat(p->dd.dirfd, name, 0);
		name_of(name, sizeof(name), "changes", g, ".log");
		int b = unlinkat(p->dd.dirfd, name, 0);
		if (a != 0 && b != 0 && g + 8 < gen)
			break; /* older generations were removed before */
	}
	int64_t t2 = fs_now_us();
	pthread_mutex_lock(&p->mtx);
	p->last_snap_us = t2;
	p->last_snap_dur_us = t2 - t0;
	pthread_mutex_unlock(&p->mtx);
	plog(p, "info",
	    "snapshot %012" PRIu64 ": %zu components in %.3f s (lock held "
	    "%.1f ms)",
	    gen, n, (double) (t2 - t0) / 1e6, (double) (t1 - tl) / 1e3);
	return 0;
}

static int
snapshot_serial(persist *p)
{
	pthread_mutex_lock(&p->snap_mtx);
	int rv = do_snapshot(p);
	pthread_mutex_unlock(&p->snap_mtx);
	return rv;
}

int
persist_snapshot(persist *p)
{
	return snapshot_serial(p);
}

int
persist_snapshot_async(persist *p, void (*done)(void *arg, int ok),
    void *arg)
{
	struct waiter *w = malloc(sizeof(*w));

	if (w == NULL)
		return -1;
	w->done = done;
	w->arg = arg;
	w->ticket = 0;
	pthread_mutex_lock(&p->mtx);
	w->next = p->snapreqs;
	p->snapreqs = w;
	pthread_cond_signal(&p->snap_cv);
	pthread_mutex_unlock(&p->mtx);
	return 0;
}

static void *
snap_main(void *arg)
{
	persist *p = arg;

	pthread_mutex_lock(&p->mtx);
	while (!p->stop) {
		int64_t now = fs_now_us();
		int retry_ok =
		    now - p->snap_failed_us >= SNAP_RETRY_S * 1000000LL;
		/* A lost directory takes no snapshot: only requests, which
		 * fail at once. */
		retry_ok = retry_ok && !p->lost;
		int due = p->snapreqs != NULL ||
		    (retry_ok && p->o.snapshot_changes != 0 &&
		        p->changes_since >= p->o.snapshot_changes) ||
		    (retry_ok && p->o.snapshot_interval != 0 &&
		        p->changes_since > 0 &&
		        now - p->last_snap_us >=
		            (int64_t) p->o.snapshot_interval * 1000000);
		if (!due) {
			struct timespec ts;
			abs_after_ms(&ts, 1000);
			pthread_cond_timedwait(&p->snap_cv, &p->mtx, &ts);
			continue;
		}
		struct waiter *reqs = p->snapreqs;
		p->snapreqs = NULL;
		pthread_mutex_unlock(&p->mtx);
		int rv = snapshot_serial(p);
		if (rv != 0) {
			pthread_mutex_lock(&p->mtx);
			p->snap_failed_us = fs_now_us();
			pthread_mutex_unlock(&p->mtx);
		}
		while (reqs != NULL) {
			struct waiter *w = reqs;
			reqs = w->next;
			w->done(w->arg, rv == 0);
			free(w);
		}
		pthread_mutex_lock(&p->mtx);
	}
	struct waiter *reqs = p->snapreqs;
	p->snapreqs = NULL;
	pthread_mutex_unlock(&p->mtx);
	while (reqs != NULL) {
		struct waiter *w = reqs;
		reqs = w->next;
		w->done(w->arg, 0);
		free(w);
	}
	return NULL;
}

/* ---- open / close ------------------------------------------------------- */

int
persist_open(persist **out, const persist_opts *opts, store *st,
    pthread_rwlock_t *lock, persist_apply_fn apply, persist_error *err)
{
	persist *p = calloc(1, sizeof(*p));
	persist_check ck;
	struct load_out lo;
	char why[1024];

	if (p == NULL || (p->dir = strdup(opts->dir)) == NULL) {
		free(p);
		seterr(err, opts->dir, 0, "out of memory");
		return -1;
	}
	p->o = *opts;
	p->o.dir = p->dir;
	p->st = st;
	p->lock = lock;
	p->apply = apply;
	p->fd = p->old_fd = -1;
	p->dd.dirfd = p->dd.lockfd = -1;
	pthread_mutex_init(&p->mtx, NULL);
	pthread_mutex_init(&p->snap_mtx, NULL);
	pthread_cond_init(&p->sync_cv, NULL);
	pthread_cond_init(&p->snap_cv, NULL);

	if (mkdir(p->dir, 0755) != 0 && errno != EEXIST) {
		seterr(err, p->dir, 0, "cannot create the data directory: %s",
		    strerror(errno));
		goto fail;
	}
	if (access(p->dir, R_OK | W_OK | X_OK) != 0) {
		seterr(err, p->dir, 0, "the data directory is not usable: %s",
		    strerror(errno));
		goto fail;
	}
	/* The lock before anything in the directory is read or removed. */
	if (datadir_open(&p->dd, p->dir, why, sizeof(why)) != 0) {
		seterr(err, "", 0, "%s", why);
		goto fail;
	}
	if (load_dir(p, p->dir, st, apply, 0, &ck, &lo, err) != 0)
		goto fail;
	p->gen = lo.gen;
	if (lo.partial) {
		/* Make the directory whole again at once: a snapshot of
		 * what was accepted, in a generation above every file
		 * there (so nothing present is overwritten), after which
		 * the older files go as after any snapshot and the next
		 * start needs no flag. */
		p->gen = lo.max_gen;
		if (do_snapshot(p) != 0) {
			seterr(err, p->dir, 0, "--recover-partial: cannot "
			    "write a snapshot of what was accepted (logged "
			    "above); the directory is as it was");
			goto fail;
		}
	} else if (lo.last_exists && lo.last_end >= LOG_HEADER) {
		char name[64];
		name_of(name, sizeof(name), "changes", p->gen, ".log");
		p->fd = openat(p->dd.dirfd, name,
		    O_WRONLY | O_APPEND | O_CLOEXEC);
		if (p->fd < 0) {
			seterr(err, p->dir, 0, "%s: cannot open for "
			    "appending: %s", name, strerror(errno));
			goto fail;
		}
		p->file_off = lo.last_end;
		p->changes_since = ck.log_records;
	} else {
		if ((p->fd = log_create(p, p->gen, 0, err)) < 0)
			goto fail;
		p->file_off = LOG_HEADER;
		if (fsync_dir(p->dd.dirfd) != 0) {
			seterr(err, p->dir, 0, "cannot sync the directory: %s",
			    strerror(errno));
			goto fail;
		}
		p->changes_since = ck.log_records;
	}
	p->last_snap_us = fs_now_us();
	if (pthread_create(&p->sync_thr, NULL, sync_main, p) != 0) {
		seterr(err, p->dir, 0, "cannot start the sync thread");
		goto fail;
	}
	if (pthread_create(&p->snap_thr, NULL, snap_main, p) != 0) {
		pthread_mutex_lock(&p->mtx);
		p->stop = 1;
		pthread_cond_broadcast(&p->sync_cv);
		pthread_mutex_unlock(&p->mtx);
		pthread_join(p->sync_thr, NULL);
		seterr(err, p->dir, 0, "cannot start the snapshot thread");
		goto fail;
	}
	p->threads = 1;
	*out = p;
	return 0;
fail:
	if (p->fd >= 0)
		close(p->fd);
	datadir_close(&p->dd);
	pthread_mutex_destroy(&p->mtx);
	pthread_mutex_destroy(&p->snap_mtx);
	pthread_cond_destroy(&p->sync_cv);
	pthread_cond_destroy(&p->snap_cv);
	free(p->dir);
	free(p);
	return -1;
}

void
persist_close(persist *p)
{
	if (p == NULL)
		return;
	if (p->threads) {
		pthread_mutex_lock(&p->mtx);
		p->stop = 1;
		pthread_cond_broadcast(&p->sync_cv);
		pthread_cond_broadcast(&p->snap_cv);
		pthread_mutex_unlock(&p->mtx);
		pthread_join(p->snap_thr, NULL);
		pthread_join(p->sync_thr, NULL);
	}
	if (p->old_fd >= 0)
		close(p->old_fd);
	if (p->fd >= 0) {
		if (p->o.fsync != PERSIST_FSYNC_NO)
			fdatasync(p->fd);
		close(p->fd);
	}
	datadir_close(&p->dd); /* the lock goes last */
	pthread_mutex_destroy(&p->mtx);
	pthread_mutex_destroy(&p->snap_mtx);
	pthread_cond_destroy(&p->sync_cv);
	pthread_cond_destroy(&p->snap_cv);
	free(p->dir);
	free(p);
}

/* Whether changes are accepted now, and why not. mtx held. */
static int
writable_locked(const persist *p, char *why, size_t n)
{
	if (p->lost)
		snprintf(why, n, "%s", p->lost_why);
	else if (p->append_failing || p->sync_failed)
		snprintf(why, n, "%s", p->write_err);
	else if (p->write_broken)
		snprintf(why, n, "a partial write to the change log could "
		    "not be undone");
	else {
		if (n > 0)
			why[0] = '\0';
		return 1;
	}
	return 0;
}

int
persist_writable(persist *p, char *why, size_t n)
{
	pthread_mutex_lock(&p->mtx);
	int rv = writable_locked(p, why, n);
	pthread_mutex_unlock(&p->mtx);
	return rv;
}

void
persist_get_stats(persist *p, persist_stats *s)
{
	pthread_mutex_lock(&p->mtx);
	s->generation = p->gen;
	s->log_bytes = p->file_off;
	s->changes_since_snapshot = p->changes_since;
	s->last_snapshot_us = p->last_snap_us;
	s->last_snapshot_dur_us = p->last_snap_dur_us;
	s->writable = writable_locked(p, s->why, sizeof(s->why));
	s->disk_error = !s->writable;
	s->lost = p->lost;
	s->append_failures = p->append_failures;
	s->sync_failures = p->sync_failures;
	s->fsyncs = p->fsyncs;
	s->fsync_total_us = p->fsync_total_us;
	s->fsync_max_us = p->fsync_max_us;
	pthread_mutex_unlock(&p->mtx);
}

int
persist_stop_report(persist *p, int snapshot_ok, char *buf, size_t n)
{
	char why[sizeof(p->lost_why)], where[sizeof(p->lost_where)];
	char err[sizeof(p->write_err)], when[FS_TIME_STRLEN + 1];

	pthread_mutex_lock(&p->mtx);
	int lost = p->lost, sync_failed = p->sync_failed;
	enum datadir_loss kind = p->lost_kind;
	int64_t lost_us = p->lost_us;
	snprintf(why, sizeof(why), "%s", p->lost_why);
	snprintf(where, sizeof(where), "%s", p->lost_where);
	snprintf(err, sizeof(err), "%s", p->write_err);
	pthread_mutex_unlock(&p->mtx);

	if (!lost) {
		if (snapshot_ok)
			snprintf(buf, n, "stopped");
		else if (sync_failed)
			snprintf(buf, n, "stopped without a final snapshot; "
			    "the change log has every acknowledged change, "
			    "but its last sync failed (%s): those since the "
			    "last good sync may not be on disk", err);
		else
			snprintf(buf, n, "stopped without a final snapshot; "
			    "the change log has every acknowledged change");
		return 0;
	}
	pthread_rwlock_rdlock(p->lock);
	size_t flows = store_count(p->st, FLOWSVC__KIND__FLOW);
	size_t apps = store_count(p->st, FLOWSVC__KIND__APP);
	pthread_rwlock_unlock(p->lock);
	fs_time_format(lost_us, when);
	int k = snprintf(buf, n, "stopped without a snapshot: %s (noticed at "
	    "%s), and changes have been refused since then. ", why, when);
	if (k < 0 || (size_t) k >= n)
		return 1;
	buf += k;
	n -= (size_t) k;
	switch (kind) {
	case DATADIR_DIR_DELETED:
		snprintf(buf, n, "Every change acknowledged before was in its "
		    "change log, deleted with it: the %zu flows and %zu apps "
		    "this backend held are not saved anywhere, and a restart "
		    "on %s starts from what is there then", flows, apps,
		    p->dir);
		break;
	case DATADIR_LOG_DELETED:
		snprintf(buf, n, "The changes acknowledged since the last "
		    "snapshot were in that log: of the %zu flows and %zu apps "
		    "this backend held, what they changed is not on disk",
		    flows, apps);
		break;
	case DATADIR_DIR_MOVED:
		snprintf(buf, n, "Nothing was written into %s; every "
		    "acknowledged change is in the directory this backend "
		    "used%s%s: start with --data-dir there to continue from "
		    "it", p->dir, where[0] ? ", now " : ", wherever it is now",
		    where);
		break;
	case DATADIR_LOG_MOVED:
		snprintf(buf, n, "Every acknowledged change is in the change "
		    "log this backend opened, wherever it was moved; nothing "
		    "was written in its place");
		break;
	default:
		snprintf(buf, n, "Every acknowledged change is in %s; no "
		    "snapshot was written there, as another backend may have "
		    "opened it", p->dir);
		break;
	}
	return 1;
}

int
persist_check_dir(const char *dir, persist_apply_fn apply, persist_check *out,
    persist_error *err)
{
	store *st = store_new();
	struct load_out lo;

	if (st == NULL) {
		seterr(err, dir, 0, "out of memory");
		return -1;
	}
	int rv = load_dir(NULL, dir, st, apply, 1, out, &lo, err);
	store_free(st);
	return rv;
}
