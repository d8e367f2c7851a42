/*
 * snapshot.c - cutting and writing snapshots, and their thread. See
 * snapshot.h.
 */
#define _GNU_SOURCE /* sync_file_range */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "fs_util.h"
#include "logfmt.h"

#define SNAP_RETRY_S 5 /* after a failure, the count and timer wait this */
#define SNAP_SYNC_BYTES (8u << 20) /* write-back step while writing */

struct req {
	void (*done)(void *arg, int ok);
	void *arg;
	struct req *next;
};

struct snapshotter {
	snapshot_opts o;
	pthread_mutex_t serial; /* one snapshot at a time */
	pthread_mutex_t mtx;    /* the rest, and the thread's sleep */
	pthread_cond_t cv;
	struct req *reqs;
	int stop, kicked;
	int64_t last_us, last_dur_us;
	int64_t failed_us; /* the last failure */
	persist_worker thr;
};

int
snapshot_new(snapshotter **out, const snapshot_opts *o)
{
	snapshotter *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return FS_RESOURCE_EXHAUSTED;
	s->o = *o;
	pthread_mutex_init(&s->serial, NULL);
	pthread_mutex_init(&s->mtx, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->thr =
	    (persist_worker){.mtx = &s->mtx, .cv = &s->cv, .stop = &s->stop};
	*out = s;
	return FS_OK;
}

/* ---- the file ------------------------------------------------------------ */

int
snapshot_write(int dirfd, uint64_t gen, uint64_t revision,
    const store_item *items, size_t n, const char **step)
{
	char tmp[96], name[DATADIR_NAME_MAX];
	uint8_t hdr[LOGFMT_SNAP_HEADER_V2], pre[LOGFMT_SNAP_PRE_MAX];
	uint8_t suf[LOGFMT_SNAP_SUF_MAX], tail[4];
	uint32_t crc = 0;
	FILE *f;
	int fd;

	snprintf(tmp, sizeof(tmp), "snapshot-%012" PRIu64 ".db.%d.tmp", gen,
	    (int) getpid());
	datadir_name(name, sizeof(name), DATADIR_SNAPSHOT, gen);
	*step = "open";
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if ((f = fdopen(fd, "wb")) == NULL) {
		int e = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		errno = e;
		return -1;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	size_t hl = logfmt_snap_header_put(hdr, n, revision);
	size_t written = hl, synced = 0;
	*step = "write";
	if (fwrite(hdr, 1, hl, f) != hl)
		goto fail;
	crc = crc32c(crc, hdr, hl);
	for (size_t i = 0; i < n; i++) {
		size_t pl, sl, cl = items[i].packed_len;

		logfmt_snap_record(cl, (uint64_t) items[i].status,
		    items[i].seq, pre, &pl, suf, &sl);
		if (fwrite(pre, 1, pl, f) != pl ||
		    fwrite(items[i].packed, 1, cl, f) != cl ||
		    fwrite(suf, 1, sl, f) != sl)
			goto fail;
		crc = crc32c(crc, pre, pl);
		crc = crc32c(crc, items[i].packed, cl);
		crc = crc32c(crc, suf, sl);
		written += pl + cl + sl;
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
	logfmt_put_u32(tail, crc);
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
	if (renameat(dirfd, tmp, dirfd, name) != 0)
		goto fail;
	*step = "fsync of the directory";
	if (datadir_sync(dirfd) != 0)
		return -1; /* renamed: in place, maybe not durable */
	return 0;
fail:;
	int e = errno;
	if (f != NULL)
		fclose(f);
	unlinkat(dirfd, tmp, 0);
	errno = e;
	return -1;
}

/* ---- the cut ------------------------------------------------------------- */

/* Creates the next generation's log and makes it durable in the
 * directory, before any snapshot of that generation: a snapshot G always
 * has its log G (datadir_layout). Returns the fd or -1 (logged). */
static int
next_log(snapshotter *s, uint64_t gen)
{
	char name[DATADIR_NAME_MAX];
	persist_error err;
	int fd = logwriter_create_log(s->o.dd, s->o.dir, gen, 1, &err);

	if (fd < 0) {
		persist_say(s->o.log, "error", "snapshot: %s: %s", err.path,
		    err.what);
		return -1;
	}
	if (datadir_sync(s->o.dd->dirfd) != 0) {
		persist_say(s->o.log, "error", "snapshot: cannot sync %s: %s",
		    s->o.dir, strerror(errno));
		close(fd);
		datadir_name(name, sizeof(name), DATADIR_LOG, gen);
		unlinkat(s->o.dd->dirfd, name, 0);
		return -1;
	}
	return fd;
}

/* Cuts a new generation and writes the snapshot for it. Takes the write
 * lock only to copy the component list and to switch logs. */
static int
take(snapshotter *s, uint64_t *gen_out, uint64_t *rev_out)
{
	store_item *items = NULL;
	size_t n = 0;
	int64_t t0 = fs_now_us(), tl;
	persist_position pos;

	/* Never into a directory that is no longer ours (and every file
	 * below goes through dd->dirfd, so none can land in one that took
	 * its place after this check). */
	if (logwriter_check_dir(s->o.w) != 0)
		return FS_UNAVAILABLE;
	/* Size and touch the copy's memory before the write lock, so the
	 * lock covers one memcpy, not allocation and page faults. */
	pthread_rwlock_rdlock(s->o.lock);
	size_t cap = store_count(s->o.st, FLOWSVC__KIND__FLOW) +
	    store_count(s->o.st, FLOWSVC__KIND__APP);
	pthread_rwlock_unlock(s->o.lock);
	cap += cap / 16 + 1024;
	/* Only the cut (under serial) changes the generation. */
	logwriter_position_get(s->o.w, &pos);
	uint64_t gen = pos.gen + 1;
	int fd = next_log(s, gen);
	if (fd < 0)
		return FS_UNAVAILABLE;
	for (;;) {
		if ((items = malloc(cap * sizeof(*items))) == NULL) {
			char name[DATADIR_NAME_MAX];

			close(fd);
			datadir_name(name, sizeof(name), DATADIR_LOG, gen);
			unlinkat(s->o.dd->dirfd, name, 0);
			persist_say(s->o.log, "error",
			    "snapshot: out of memory");
			return FS_RESOURCE_EXHAUSTED;
		}
		memset(items, 0, cap * sizeof(*items));
		pthread_rwlock_wrlock(s->o.lock);
		tl = fs_now_us();
		if (store_collect_into(s->o.st, items, cap, &n) == 0)
			break;
		/* It grew past the margin meanwhile: try again. */
		pthread_rwlock_unlock(s->o.lock);
		free(items);
		cap = n + n / 8 + 1024;
	}
	store_holder hold;
	store_hold(s->o.st, &hold);
	uint64_t rev = logwriter_cut(s->o.w, fd, gen);
	if (s->o.cut != NULL) /* under the lock: no record in gen before */
		s->o.cut(s->o.arg, gen, rev);
	pthread_rwlock_unlock(s->o.lock);
	int64_t t1 = fs_now_us();

	const char *step = "";
	int rv = snapshot_write(s->o.dd->dirfd, gen, rev, items, n, &step);
	int e = errno;

	store_release(s->o.st, &hold); /* needs no store lock */
	free(items);

	if (rv != 0) {
		persist_say(s->o.log, "error",
		    "snapshot %012" PRIu64 " failed at %s: %s; the previous "
		    "snapshot and the logs stay in place",
		    gen, step, strerror(e));
		return FS_UNAVAILABLE;
	}
	*gen_out = gen;
	*rev_out = rev;
	int64_t t2 = fs_now_us();
	pthread_mutex_lock(&s->mtx);
	s->last_us = t2;
	s->last_dur_us = t2 - t0;
	pthread_mutex_unlock(&s->mtx);
	persist_say(s->o.log, "info",
	    "snapshot %012" PRIu64 ": %zu components at revision %" PRIu64
	    " in %.3f s (lock held %.1f ms)",
	    gen, n, rev, (double) (t2 - t0) / 1e6, (double) (t1 - tl) / 1e3);
	return FS_OK;
}

int
snapshot_take(snapshotter *s)
{
	uint64_t gen, rev;
	int rv;

	pthread_mutex_lock(&s->serial);
	if ((rv = take(s, &gen, &rev)) == FS_OK && s->o.durable != NULL)
		s->o.durable(s->o.arg, gen, rev);
	pthread_mutex_unlock(&s->serial);
	return rv;
}

/* ---- the thread ---------------------------------------------------------- */

int
snapshot_request(snapshotter *s, void (*done)(void *arg, int ok), void *arg)
{
	struct req *r = malloc(sizeof(*r));

	if (r == NULL)
		return FS_RESOURCE_EXHAUSTED;
	r->done = done;
	r->arg = arg;
	pthread_mutex_lock(&s->mtx);
	r->next = s->reqs;
	s->reqs = r;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mtx);
	return FS_OK;
}

void
snapshot_kick(snapshotter *s)
{
	pthread_mutex_lock(&s->mtx);
	s->kicked = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mtx);
}

void
snapshot_times(snapshotter *s, int64_t *last_us, int64_t *dur_us)
{
	pthread_mutex_lock(&s->mtx);
	*last_us = s->last_us;
	*dur_us = s->last_dur_us;
	pthread_mutex_unlock(&s->mtx);
}

static void
answer(struct req *r, int ok)
{
	while (r != NULL) {
		struct req *next = r->next;

		r->done(r->arg, ok);
		free(r);
		r = next;
	}
}

/* Whether a snapshot is due now (mtx held). */
static int
due(snapshotter *s, int64_t now)
{
	persist_stats ws;

	if (s->reqs != NULL)
		return 1;
	/* A lost directory takes no snapshot: only requests, which fail at
	 * once. After a failure, the count and the timer wait a while. */
	logwriter_stats_get(s->o.w, &ws);
	if (ws.lost || now - s->failed_us < SNAP_RETRY_S * 1000000LL)
		return 0;
	if (s->o.changes != 0 && ws.changes_since_snapshot >= s->o.changes)
		return 1;
	return s->o.interval != 0 && ws.changes_since_snapshot > 0 &&
	    now - s->last_us >= (int64_t) s->o.interval * 1000000;
}

static void *
snap_main(void *arg)
{
	snapshotter *s = arg;

	pthread_mutex_lock(&s->mtx);
	while (!s->stop) {
		s->kicked = 0;
		if (!due(s, fs_now_us())) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			if (!s->kicked && s->reqs == NULL)
				pthread_cond_timedwait(&s->cv, &s->mtx, &ts);
			continue;
		}
		struct req *reqs = s->reqs;
		s->reqs = NULL;
		pthread_mutex_unlock(&s->mtx);
		int rv = snapshot_take(s);
		if (rv != FS_OK) {
			pthread_mutex_lock(&s->mtx);
			s->failed_us = fs_now_us();
			pthread_mutex_unlock(&s->mtx);
		}
		answer(reqs, rv == FS_OK);
		pthread_mutex_lock(&s->mtx);
	}
	struct req *reqs = s->reqs;
	s->reqs = NULL;
	pthread_mutex_unlock(&s->mtx);
	answer(reqs, 0);
	return NULL;
}

int
snapshot_start(snapshotter *s)
{
	/* The timer counts from here, as from a snapshot at start. */
	s->last_us = fs_now_us();
	return persist_worker_start(&s->thr, snap_main, s);
}

void
snapshot_free(snapshotter *s)
{
	if (s != NULL) {
		persist_worker_stop(&s->thr); /* a snapshot in progress ends */
		answer(s->reqs, 0);
		pthread_mutex_destroy(&s->serial);
		pthread_mutex_destroy(&s->mtx);
		pthread_cond_destroy(&s->cv);
		free(s);
	}
}
