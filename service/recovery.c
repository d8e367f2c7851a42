/*
 * recovery.c - a data directory loaded into a store. See recovery.h for
 * the rules, logfmt.h for the files.
 */
#define _GNU_SOURCE /* MAP_POPULATE */
#include "recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compwire.h"
#include "crc32c.h"
#include "datadir.h"
#include "fs_util.h"
#include "logfmt.h"
#include "logreader.h"

#define LOAD_AHEAD 8 /* records decoded ahead of the insert: store_prefetch */

#define INCOMPLETE                                                            \
	"the data directory is incomplete, and a start would serve part of "  \
	"the data (--recover-partial starts with what is there)"

/* The load in progress. */
struct rctx {
	const recovery_opts *o;
	store *st;
	persist_apply_fn apply;
	recovery_result *res;
	persist_error *err;
	uint64_t rev; /* of the last record replayed */
};

/* The store's codes (store.h): -1 is out of memory. */
static int
store_oom(int rv)
{
	return rv == -1 || rv == FS_RESOURCE_EXHAUSTED;
}

/* ---- the snapshot -------------------------------------------------------- */

/* Maps a whole file read-only: a snapshot is read once, front to back,
 * and copying it out of the page cache first would cost as much again.
 * Snapshots are never written after their rename, so the mapping cannot
 * change under the loader. Returns 0 (*buf NULL for an empty file), or -1
 * with errno. Undo with unmap_file. */
static int
map_file(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
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

/* One snapshot record: where it is and what it holds. */
struct snap_rec {
	size_t off;
	logfmt_snap_rec r;
};

static int
cmp_rec_seq(const void *a, const void *b)
{
	uint64_t x = ((const struct snap_rec *) a)->r.seq;
	uint64_t y = ((const struct snap_rec *) b)->r.seq;

	return x < y ? -1 : x > y;
}

/* Logs the load's progress, at most once a second. */
static void
progress(const struct rctx *c, const char *path, uint64_t i, uint64_t count,
    int64_t t0, int64_t *tlast)
{
	int64_t now;

	if ((i & 0x3ffff) != 0x3ffff ||
	    (now = fs_now_us()) - *tlast <= 1000000)
		return;
	persist_say(c->o->log, "info",
	    "loading %s: %" PRIu64 " of %" PRIu64 " components (%.0f/s)", path,
	    i + 1, count, (double) (i + 1) * 1e6 / (double) (now - t0));
	*tlast = now;
}

/* Frames every record of the snapshot in buf[h->size..end) into recs
 * (cap of them) and reads its seq. */
static int
snap_frame(struct rctx *c, const char *path, const uint8_t *buf, size_t end,
    const logfmt_snap_header *h, struct snap_rec *recs, size_t cap,
    uint64_t *n, int *sorted)
{
	size_t off = h->size;

	*n = 0;
	*sorted = 1;
	while (off < end) {
		struct snap_rec r = {off, {0, 0, 0, 0}};
		uint32_t rl;

		if (end - off < 4) {
			persist_seterr(c->err, path, off,
			    "truncated record header");
			return FS_DATA_LOSS;
		}
		rl = logfmt_get_u32(buf + off);
		if (rl > end - off - 4) {
			persist_seterr(c->err, path, off,
			    "record length %u past the end", rl);
			return FS_DATA_LOSS;
		}
		if (logfmt_snap_record_scan(buf + off + 4, rl, &r.r) !=
		    FS_OK) {
			persist_seterr(c->err, path, off,
			    "undecodable record");
			return FS_DATA_LOSS;
		}
		if (*n == cap) {
			persist_seterr(c->err, path, off,
			    "more records than the "
			    "header says (%" PRIu64 ")",
			    h->count);
			return FS_DATA_LOSS;
		}
		if (*n > 0 && r.r.seq < recs[*n - 1].r.seq)
			*sorted = 0;
		recs[(*n)++] = r;
		off += 4 + rl;
	}
	if (*n != h->count) {
		persist_seterr(c->err, path, off,
		    "holds %" PRIu64 " records, "
		    "header says %" PRIu64,
		    *n, h->count);
		return FS_DATA_LOSS;
	}
	return FS_OK;
}

/* Inserts the framed records in creation order, decoding LOAD_AHEAD
 * records ahead so that the index slots each insert touches are on their
 * way into the cache by the time it runs (store_prefetch). */
static int
snap_insert(struct rctx *c, const char *path, const uint8_t *buf,
    const struct snap_rec *recs, uint64_t n, uint64_t count)
{
	compwire ring[LOAD_AHEAD];
	int64_t t0 = fs_now_us(), tlast = t0;
	int rv = FS_OK;

	for (size_t i = 0; i < LOAD_AHEAD; i++)
		ring[i] = (compwire) COMPWIRE_INIT;
	for (uint64_t k = 0; k < n + LOAD_AHEAD && rv == FS_OK; k++) {
		if (k >= LOAD_AHEAD) {
			uint64_t i = k - LOAD_AHEAD;
			const struct snap_rec *r = &recs[i];
			compwire *cw = &ring[i % LOAD_AHEAD];
			const uint8_t *wire = buf + r->off + 4 + r->r.comp_off;
			int prv = store_put_unlinked(c->st, &cw->msg, wire,
			    r->r.comp_len, (int) r->r.status, r->r.seq);

			if (prv != 0) {
				persist_seterr(c->err, path, r->off, "%s",
				    store_oom(prv)
				        ? "out of memory"
				        : "record does not fit the store "
				          "(duplicate id?)");
				rv = store_oom(prv) ? FS_RESOURCE_EXHAUSTED
				                    : FS_DATA_LOSS;
				break;
			}
			progress(c, path, i, count, t0, &tlast);
		}
		if (k < n) {
			const struct snap_rec *r = &recs[k];
			compwire *cw = &ring[k % LOAD_AHEAD];
			int drv = compwire_decode(cw,
			    buf + r->off + 4 + r->r.comp_off, r->r.comp_len);

			if (drv != FS_OK) {
				persist_seterr(c->err, path, r->off, "%s",
				    drv == FS_RESOURCE_EXHAUSTED
				        ? "out of memory"
				        : "undecodable record");
				rv = drv;
				break;
			}
			store_prefetch(c->st, &cw->msg);
		}
	}
	for (size_t i = 0; i < LOAD_AHEAD; i++)
		compwire_fini(&ring[i]);
	return rv;
}

static int
load_snapshot(struct rctx *c, const char *path)
{
	uint8_t *buf;
	size_t len;
	struct snap_rec *recs = NULL;
	logfmt_snap_header h;
	uint64_t n = 0;
	int sorted, rv = FS_DATA_LOSS;

	if (map_file(path, &buf, &len) != 0) {
		persist_seterr(c->err, path, 0, "cannot read: %s",
		    strerror(errno));
		return FS_UNAVAILABLE;
	}
	switch (len < LOGFMT_SNAP_TRAILER
	        ? LOGFMT_HEADER_SHORT
	        : logfmt_snap_header_check(buf, len - LOGFMT_SNAP_TRAILER,
	              &h)) {
	case LOGFMT_HEADER_OK:
		break;
	case LOGFMT_HEADER_BAD_VERSION:
		persist_seterr(c->err, path, 8,
		    "unsupported snapshot format version %u", h.version);
		goto out;
	default:
		persist_seterr(c->err, path, 0,
		    "not a flowsvc snapshot (bad magic or too short)");
		goto out;
	}
	size_t end = len - LOGFMT_SNAP_TRAILER;
	if (crc32c(0, buf, end) != logfmt_get_u32(buf + end)) {
		persist_seterr(c->err, path, end,
		    "checksum mismatch: the snapshot is corrupt; refusing to "
		    "start rather than serve partial data (restore the file "
		    "from a backup; flow-check DIR tells what is readable)");
		goto out;
	}
	/* The count is checked against the records; a damaged one only
	 * sizes the tables wrong, bounded by what the file could hold. */
	size_t cap = (size_t) (h.count < len / 8 ? h.count : len / 8);
	store_reserve(c->st, cap);
	if ((recs = malloc((cap + 1) * sizeof(*recs))) == NULL) {
		persist_seterr(c->err, path, 0, "out of memory");
		rv = FS_RESOURCE_EXHAUSTED;
		goto out;
	}
	/* Framed first, and sorted by seq when needed: a snapshot lists
	 * components in table order, the store wants creation order. */
	if ((rv = snap_frame(c, path, buf, end, &h, recs, cap + 1, &n,
	         &sorted)) != FS_OK)
		goto out;
	if (!sorted)
		qsort(recs, n, sizeof(*recs), cmp_rec_seq);
	if ((rv = snap_insert(c, path, buf, recs, n, h.count)) != FS_OK)
		goto out;
	if (store_link_pending(c->st) != 0) {
		persist_seterr(c->err, path, 0,
		    "a component uses a flow the "
		    "snapshot does not contain");
		rv = FS_DATA_LOSS;
		goto out;
	}
	c->res->snapshot_records = n;
	c->res->snapshot_revision = h.revision;
	c->rev = h.revision;
	rv = FS_OK;
out:
	free(recs);
	unmap_file(buf, len);
	return rv;
}

/* ---- the logs ------------------------------------------------------------ */

/* A record whose revision does not follow the one before. after_log: the
 * first record of a log that follows another. Returns FS_OK to go on. */
static int
revision_check(struct rctx *c, const char *path, uint64_t off, uint64_t rev,
    int first, int after_log)
{
	uint64_t want = c->rev + 1;

	if (rev == want)
		return FS_OK;
	if (first && after_log && rev > want) {
		persist_say(c->o->log, "warning",
		    "%s begins at revision %" PRIu64 " where %" PRIu64 " was "
		    "due: changes %" PRIu64 " to %" PRIu64 " were at the end "
		    "of the log before it, which a power cut took before it "
		    "was synced",
		    path, rev, want, want, rev - 1);
		return FS_OK;
	}
	if (!c->o->recover_partial) {
		persist_seterr(c->err, path, off,
		    "record revision %" PRIu64 " where %" PRIu64 " was due "
		    "(%s); %s",
		    rev, want,
		    rev > want ? "the changes in between are missing"
		               : "revisions out of order",
		    INCOMPLETE);
		return FS_DATA_LOSS;
	}
	persist_say(c->o->log, "warning",
	    "--recover-partial: %s at offset %" PRIu64 ": revision %" PRIu64
	    " where %" PRIu64 " was due; loading on",
	    path, off, rev, want);
	c->res->partial = 1;
	return FS_OK;
}

/* Applies one record. skip_unfit: count a record that does not fit the
 * state (after a missing file, with --recover-partial) as skipped. */
static int
replay_record(struct rctx *c, const char *path, const logreader_record *lr,
    int skip_unfit)
{
	Flowsvc__LogRecord *rec =
	    flowsvc__log_record__unpack(NULL, lr->len, lr->payload);
	int arv;

	if (rec == NULL) {
		persist_seterr(c->err, path, lr->offset, "undecodable record");
		return FS_DATA_LOSS;
	}
	arv = c->apply(c->st, rec);
	flowsvc__log_record__free_unpacked(rec, NULL);
	if (arv == FS_OK) {
		c->res->log_records++;
	} else if (arv == FS_RESOURCE_EXHAUSTED) {
		persist_seterr(c->err, path, lr->offset, "out of memory");
		return arv;
	} else if (skip_unfit) {
		c->res->skipped++;
	} else {
		persist_seterr(c->err, path, lr->offset,
		    "record does not fit the state before it");
		return FS_DATA_LOSS;
	}
	return FS_OK;
}

/* Replays one log. A torn tail (logreader.h) is dropped: *good_end is
 * where the valid records end, *torn the bytes after. Any other damage
 * stops the load. last: the newest log (only wording). after_log: a log
 * follows this one's predecessor. */
static int
replay_log(struct rctx *c, const char *path, int last, int after_log,
    uint64_t *good_end, uint64_t *torn, uint32_t *version)
{
	logreader *r;
	logreader_record lr;
	logreader_problem pb;
	int rv, first = 1;

	*torn = 0;
	if ((rv = logreader_open(&r, AT_FDCWD, path, c->rev)) != FS_OK) {
		persist_seterr(c->err, path, 0, "cannot read: %s",
		    strerror(errno));
		return rv == FS_RESOURCE_EXHAUSTED ? rv : FS_UNAVAILABLE;
	}
	for (;;) {
		enum logreader_result res =
		    logreader_next(r, LOGREADER_EOF, &lr);

		if (res == LOGREADER_RECORD) {
			if ((rv = revision_check(c, path, lr.offset,
			         lr.revision, first, after_log)) != FS_OK ||
			    (rv = replay_record(c, path, &lr,
			         c->res->partial)) != FS_OK)
				break;
			if (lr.revision > c->rev)
				c->rev = lr.revision;
			first = 0;
			continue;
		}
		logreader_problem_get(r, &pb);
		if (res == LOGREADER_END) {
			*good_end = logreader_offset(r);
			rv = FS_OK;
		} else if (res == LOGREADER_TORN) {
			/* A torn tail can end an older log too: a power cut
			 * after a snapshot began a new log but before the old
			 * one was synced (fsync everysec/no). Under "always"
			 * nothing acknowledged was in it. Later logs still
			 * have to apply cleanly on top. */
			*good_end = pb.in_header ? 0 : pb.offset;
			*torn = pb.bytes;
			rv = FS_OK;
		} else if (res == LOGREADER_CORRUPT && pb.in_header) {
			persist_seterr(c->err, path, pb.offset, "%s", pb.what);
			rv = FS_DATA_LOSS;
		} else if (res == LOGREADER_CORRUPT) {
			/* Damage is never skipped or cut off silently: the
			 * changes in and after it would be lost with it, and
			 * so would the evidence. */
			persist_seterr(c->err, path, pb.offset,
			    "%s%s: the log is damaged; refusing to start "
			    "rather than lose changes (the file is left as it "
			    "is)",
			    pb.what, last ? "" : " (in an older log)");
			rv = FS_DATA_LOSS;
		} else {
			persist_seterr(c->err, path, pb.offset,
			    "cannot read: %s", pb.what);
			rv = FS_UNAVAILABLE;
		}
		break;
	}
	*version = logreader_version(r);
	logreader_close(r);
	return rv;
}

static int
add_base(recovery_result *res, uint64_t gen, uint64_t base)
{
	recovery_base *nb =
	    realloc(res->bases, (res->nbases + 1) * sizeof(*nb));

	if (nb == NULL)
		return -1;
	res->bases = nb;
	res->bases[res->nbases].gen = gen;
	res->bases[res->nbases].base = base;
	res->nbases++;
	return 0;
}

/* Replays log gen (the i-th of the logs loaded). */
static int
load_log(struct rctx *c, uint64_t gen, int last, int after_log)
{
	recovery_result *res = c->res;
	char name[DATADIR_NAME_MAX], path[1024];
	uint64_t good = 0, torn = 0, before = res->log_records;
	uint64_t skipped = res->skipped;
	uint32_t version = 0;
	int rv;

	datadir_name(name, sizeof(name), DATADIR_LOG, gen);
	snprintf(path, sizeof(path), "%s/%s", c->o->dir, name);
	if (add_base(res, gen, c->rev) != 0) {
		persist_seterr(c->err, path, 0, "out of memory");
		return FS_RESOURCE_EXHAUSTED;
	}
	if ((rv = replay_log(c, path, last, after_log, &good, &torn,
	         &version)) != FS_OK)
		return rv;
	if (res->skipped > skipped)
		persist_say(c->o->log, "warning",
		    "replayed %s: %" PRIu64 " changes; skipped %" PRIu64
		    " that "
		    "change components the missing files held",
		    path, res->log_records - before, res->skipped - skipped);
	else
		persist_say(c->o->log, "info",
		    "replayed %s: %" PRIu64 " changes", path,
		    res->log_records - before);
	if (torn > 0) {
		res->torn_bytes = torn;
		persist_say(c->o->log, "warning",
		    "%s: dropped a torn last record (%" PRIu64 " bytes at "
		    "offset %" PRIu64 "), left by a crash in the middle of a "
		    "write",
		    path, torn, good);
		if (!c->o->readonly && truncate(path, (off_t) good) != 0) {
			persist_seterr(c->err, path, good,
			    "cannot truncate the "
			    "torn tail: %s",
			    strerror(errno));
			return FS_UNAVAILABLE;
		}
	}
	res->gen = gen;
	res->log_exists = 1;
	res->log_end = good;
	res->log_version = version;
	res->logs++;
	return FS_OK;
}

int
recovery_load(const recovery_opts *o, store *st, persist_apply_fn apply,
    recovery_result *res, persist_error *err)
{
	struct rctx c = {o, st, apply, res, err, 0};
	datadir_gens g;
	char path[1024], problems[1024];
	int rv;

	memset(res, 0, sizeof(*res));
	if ((rv = datadir_scan(-1, o->dir, &g)) != FS_OK) {
		if (rv == FS_RESOURCE_EXHAUSTED)
			persist_seterr(err, o->dir, 0, "out of memory");
		else
			persist_seterr(err, o->dir, 0,
			    "cannot read the data "
			    "directory: %s",
			    strerror(errno));
		goto out;
	}
	if (datadir_layout(g.snaps, g.nsnaps, g.logs, g.nlogs, problems,
	        sizeof(problems)) > 0) {
		if (o->readonly || !o->recover_partial) {
			persist_seterr(err, o->dir, 0, "%s; " INCOMPLETE,
			    problems);
			rv = FS_DATA_LOSS;
			goto out;
		}
		persist_say(o->log, "warning",
		    "--recover-partial: %s is "
		    "incomplete: %s; loading what is there",
		    o->dir, problems);
		res->partial = 1;
	}
	if (g.nsnaps > 0)
		res->max_gen = g.snaps[g.nsnaps - 1];
	if (g.nlogs > 0 && g.logs[g.nlogs - 1] > res->max_gen)
		res->max_gen = g.logs[g.nlogs - 1];
	uint64_t base = g.nsnaps > 0 ? g.snaps[g.nsnaps - 1] : 0;
	if (g.nsnaps > 0) {
		int64_t t0 = fs_now_us();
		char name[DATADIR_NAME_MAX];

		datadir_name(name, sizeof(name), DATADIR_SNAPSHOT, base);
		snprintf(path, sizeof(path), "%s/%s", o->dir, name);
		if ((rv = load_snapshot(&c, path)) != FS_OK)
			goto out;
		res->has_snapshot = 1;
		res->snapshot_gen = base;
		persist_say(o->log, "info",
		    "loaded %s: %" PRIu64 " components "
		    "at revision %" PRIu64 " in %.3f s",
		    path, res->snapshot_records, res->snapshot_revision,
		    (double) (fs_now_us() - t0) / 1e6);
	}
	res->gen = base;
	size_t first = 0;
	while (first < g.nlogs && g.logs[first] < base)
		first++;
	for (size_t i = first; i < g.nlogs; i++)
		if ((rv = load_log(&c, g.logs[i], i + 1 == g.nlogs,
		         i > first)) != FS_OK)
			goto out;
	res->revision = c.rev;
	if (res->partial) {
		char snap[DATADIR_NAME_MAX] = "no snapshot";

		if (g.nsnaps > 0)
			datadir_name(snap, sizeof(snap), DATADIR_SNAPSHOT,
			    base);
		persist_say(o->log, "warning",
		    "--recover-partial: accepted what %s holds: %" PRIu64
		    " components from %s and %" PRIu64 " changes from %zu "
		    "logs (%" PRIu64 " skipped), %zu flows and %zu apps in "
		    "all; whatever the missing files held is lost",
		    o->dir, res->snapshot_records, snap, res->log_records,
		    g.nlogs - first, res->skipped,
		    store_count(st, FLOWSVC__KIND__FLOW),
		    store_count(st, FLOWSVC__KIND__APP));
	}
	rv = FS_OK;
out:
	datadir_gens_free(&g);
	return rv;
}

void
recovery_result_fini(recovery_result *r)
{
	free(r->bases);
	r->bases = NULL;
	r->nbases = 0;
}
