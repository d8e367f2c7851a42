/*
 * logwriter.c - the change log's appends, group commit and directory
 * watch. See logwriter.h.
 */
#define _GNU_SOURCE
#include "logwriter.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_util.h"
#include "logfmt.h"

#define CHECK_US 1000000 /* the directory's identity and a failing disk */

struct waiter {
	uint64_t ticket;
	void (*done)(void *arg, int ok);
	void *arg;
	struct waiter *next;
};

struct logwriter {
	logwriter_opts o;

	/* The current log. fd, gen, file_off and revision change only with
	 * the store's write lock held (append, cut), and under mtx too, as
	 * other threads read them. */
	int fd;
	int old_fd; /* the previous generation's, until synced */
	uint64_t gen;
	uint64_t file_off;
	uint64_t revision;
	int write_broken; /* a partial write not undone yet */

	pthread_mutex_t mtx;
	pthread_cond_t cv;
	uint64_t written, synced; /* logical bytes over all generations */
	uint64_t durable_off, durable_rev;
	int sync_failed;
	uint64_t changes_since;
	struct waiter *waiters;
	int stop;
	persist_worker thr; /* the sync thread */
	uint64_t fsyncs, fsync_total_us, fsync_max_us;

	/* Whether changes can be written, under mtx. lost is sticky: the
	 * directory (or its log, or its lock) was deleted or replaced, so
	 * nothing may be acknowledged or written there again.
	 * append_failing lasts until an append or the probe writes again. */
	int lost;
	enum datadir_loss lost_kind;
	int64_t lost_us;
	char lost_why[700], lost_where[512];
	int append_failing;
	char write_err[160];
	uint64_t append_failures, sync_failures;
};

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

int
logwriter_create_log(const datadir *dd, const char *dir, uint64_t gen,
    int excl, persist_error *err)
{
	char name[DATADIR_NAME_MAX], path[1024];
	uint8_t hdr[LOGFMT_LOG_HEADER];
	int fd;

	datadir_name(name, sizeof(name), DATADIR_LOG, gen);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = openat(dd->dirfd, name,
	    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
	        (excl ? O_EXCL : O_TRUNC),
	    0644);
	if (fd < 0) {
		persist_seterr(err, path, 0, "cannot create: %s",
		    strerror(errno));
		return -1;
	}
	logfmt_log_header(hdr);
	if (write_all(fd, hdr, sizeof(hdr)) != 0) {
		persist_seterr(err, path, 0, "cannot write: %s",
		    strerror(errno));
		close(fd);
		unlinkat(dd->dirfd, name, 0);
		return -1;
	}
	return fd;
}

int
logwriter_new(logwriter **out, const logwriter_opts *o, int fd, uint64_t gen,
    uint64_t file_off, uint64_t revision, uint64_t changes_since)
{
	logwriter *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		if (fd >= 0)
			close(fd);
		return FS_RESOURCE_EXHAUSTED;
	}
	w->o = *o;
	w->fd = fd;
	w->old_fd = -1;
	w->gen = gen;
	w->file_off = file_off;
	w->revision = w->durable_rev = revision;
	w->durable_off = file_off;
	w->changes_since = changes_since;
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->thr =
	    (persist_worker){.mtx = &w->mtx, .cv = &w->cv, .stop = &w->stop};
	*out = w;
	return FS_OK;
}

/* ---- is the directory still ours, and does it take writes --------------- */

/* Marks the directory lost (sticky) and says so, once. mtx held. */
static void
set_lost(logwriter *w, enum datadir_loss kind, const char *why,
    const char *where)
{
	if (w->lost)
		return;
	w->lost = 1;
	w->lost_kind = kind;
	w->lost_us = fs_now_us();
	snprintf(w->lost_why, sizeof(w->lost_why), "%s", why);
	snprintf(w->lost_where, sizeof(w->lost_where), "%s", where);
	persist_say(w->o.log, "error",
	    "%s while the backend ran: changes are "
	    "refused (UNAVAILABLE) until it is restarted on a usable data "
	    "directory, reads go on, and no snapshot will be written; %s",
	    why,
	    kind == DATADIR_DIR_DELETED || kind == DATADIR_LOG_DELETED
	        ? "the state in memory is on no disk now: copy it out (GET "
	          "/api/flows/ and /api/apps/, flowctl list) before stopping "
	          "this backend"
	        : "every acknowledged change is in the files this backend "
	          "wrote");
}

int
logwriter_check_dir(logwriter *w)
{
	char why[sizeof(w->lost_why)], where[sizeof(w->lost_where)];
	char logname[DATADIR_NAME_MAX];

	pthread_mutex_lock(&w->mtx);
	if (w->lost) {
		pthread_mutex_unlock(&w->mtx);
		return -1;
	}
	uint64_t gen = w->gen;
	int fd = w->fd >= 0 ? dup(w->fd) : -1; /* -1: the log unchecked */
	pthread_mutex_unlock(&w->mtx);

	datadir_name(logname, sizeof(logname), DATADIR_LOG, gen);
	enum datadir_loss k = datadir_check(w->o.dd, w->o.dir, fd, logname,
	    why, sizeof(why), where, sizeof(where));
	if (fd >= 0)
		close(fd);
	if (k == DATADIR_OK)
		return 0;
	pthread_mutex_lock(&w->mtx);
	/* A snapshot that switched logs meanwhile may have let the old one
	 * go: only what is seen in the current generation counts. */
	int real = w->gen == gen;
	if (real)
		set_lost(w, k, why, where);
	pthread_mutex_unlock(&w->mtx);
	return real ? -1 : 0;
}

int
logwriter_lost(logwriter *w)
{
	pthread_mutex_lock(&w->mtx);
	int lost = w->lost;
	pthread_mutex_unlock(&w->mtx);
	return lost;
}

/* The periodic watch (sync thread, every CHECK_US): the directory's
 * identity, and while appends fail, whether writes work again. */
static void
watch_dir(logwriter *w)
{
	if (logwriter_check_dir(w) != 0)
		return;
	pthread_mutex_lock(&w->mtx);
	int failing = w->append_failing;
	pthread_mutex_unlock(&w->mtx);
	/* Readiness comes back when the disk does, with no change needed
	 * to find out. */
	if (!failing || datadir_probe(w->o.dd) != 0)
		return;
	pthread_mutex_lock(&w->mtx);
	if (w->append_failing && !w->lost) {
		w->append_failing = 0;
		persist_say(w->o.log, "info",
		    "the data directory %s takes "
		    "writes again; accepting changes",
		    w->o.dir);
	}
	pthread_mutex_unlock(&w->mtx);
}

/* A write or a sync of the log that failed (errno e), with w->mtx held:
 * counted, kept for Health, and said once per spell of failures (while
 * *failing stays set). what: "append to" or "sync". */
static void
failure_note(logwriter *w, const char *what, int e, int *failing,
    uint64_t *count)
{
	(*count)++;
	snprintf(w->write_err, sizeof(w->write_err),
	    "cannot %s the change log: %s", what, strerror(e));
	if (!*failing)
		persist_say(w->o.log, "error",
		    "cannot %s the change log in %s: %s; changes are refused "
		    "until it works again",
		    what, w->o.dir, strerror(e));
	*failing = 1;
}

/* An append that could not write (errno e). */
static int
append_failed(logwriter *w, int e)
{
	pthread_mutex_lock(&w->mtx);
	failure_note(w, "append to", e, &w->append_failing,
	    &w->append_failures);
	pthread_mutex_unlock(&w->mtx);
	return FS_UNAVAILABLE;
}

/* ---- appending and syncing ---------------------------------------------- */

int
logwriter_append(logwriter *w, const Flowsvc__LogRecord *rec, uint64_t *ticket,
    uint64_t *changes_since)
{
	uint8_t stackbuf[2048], *buf = stackbuf;
	uint64_t rev = w->revision + 1; /* only appenders change it */
	struct stat sb;
	int refused;

	pthread_mutex_lock(&w->mtx);
	refused = w->lost || w->sync_failed || w->fd < 0;
	if (refused)
		w->append_failures++;
	pthread_mutex_unlock(&w->mtx);
	if (refused)
		return FS_UNAVAILABLE;
	if (w->write_broken) {
		/* Undo a partial write before trying again. */
		if (ftruncate(w->fd, (off_t) w->file_off) != 0)
			return append_failed(w, errno);
		w->write_broken = 0;
	}
	size_t len = logfmt_record_size(rec, rev);
	if (len - LOGFMT_REC_HEADER > LOGFMT_REC_MAX)
		return FS_INVALID_ARGUMENT;
	if (len > sizeof(stackbuf) && (buf = malloc(len)) == NULL)
		return FS_RESOURCE_EXHAUSTED;
	logfmt_record_encode(rec, rev, buf);
	int rv = write_all(w->fd, buf, len);
	int e = errno;
	if (buf != stackbuf)
		free(buf);
	if (rv != 0) {
		w->write_broken = ftruncate(w->fd, (off_t) w->file_off) != 0;
		return append_failed(w, e);
	}
	/* A log no longer linked anywhere (its directory or itself deleted)
	 * took the record, but no disk will keep it: refuse the change
	 * rather than acknowledge it. Checked after the write, so that no
	 * change is acknowledged into a file that was already gone. */
	if (fstat(w->fd, &sb) == 0 && sb.st_nlink == 0) {
		char why[sizeof(w->lost_why)];

		(void) logwriter_check_dir(w); /* the precise cause */
		snprintf(why, sizeof(why), "the change log in %s was deleted",
		    w->o.dir);
		pthread_mutex_lock(&w->mtx);
		set_lost(w, DATADIR_LOG_DELETED, why, ""); /* if not yet */
		w->append_failures++;
		pthread_mutex_unlock(&w->mtx);
		return FS_UNAVAILABLE;
	}
	pthread_mutex_lock(&w->mtx);
	w->file_off += len;
	w->revision = rev;
	if (w->append_failing) {
		w->append_failing = 0;
		persist_say(w->o.log, "info",
		    "the change log in %s takes "
		    "writes again; accepting changes",
		    w->o.dir);
	}
	w->written += len;
	*ticket = w->written;
	*changes_since = ++w->changes_since;
	if (w->o.fsync == PERSIST_FSYNC_ALWAYS)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mtx);
	return FS_OK;
}

int
logwriter_when_durable(logwriter *w, uint64_t ticket,
    void (*done)(void *arg, int ok), void *arg)
{
	pthread_mutex_lock(&w->mtx);
	if (ticket <= w->synced) {
		pthread_mutex_unlock(&w->mtx);
		done(arg, 1);
		return FS_OK;
	}
	struct waiter *wt = malloc(sizeof(*wt));
	if (wt == NULL) {
		pthread_mutex_unlock(&w->mtx);
		return FS_RESOURCE_EXHAUSTED;
	}
	wt->ticket = ticket;
	wt->done = done;
	wt->arg = arg;
	wt->next = w->waiters;
	w->waiters = wt;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mtx);
	return FS_OK;
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

/* Whether a sync is due now (mtx held). */
static int
sync_due(const logwriter *w, int64_t now, int64_t next)
{
	if (w->stop)
		return w->written > w->synced || w->waiters != NULL ||
		    w->old_fd >= 0;
	if (w->o.fsync == PERSIST_FSYNC_ALWAYS)
		/* After a failed sync, retry once a second (changes are
		 * refused meanwhile), not in a busy loop. */
		return (w->waiters != NULL || w->written > w->synced) &&
		    (!w->sync_failed || now >= next);
	if (w->o.fsync == PERSIST_FSYNC_EVERYSEC)
		return (w->written > w->synced || w->sync_failed ||
		           w->old_fd >= 0) &&
		    now >= next;
	return 0;
}

/* One group commit: one fdatasync covers every append made before it
 * began. mtx held on entry and on return; released while syncing.
 * Returns 0 or -1. */
static int
sync_once(logwriter *w)
{
	uint64_t target = w->written, target_off = w->file_off;
	uint64_t target_rev = w->revision, target_gen = w->gen;
	int cur = w->fd >= 0 ? dup(w->fd) : -1, old = w->old_fd;
	int rc = 0, e = 0;

	w->old_fd = -1;
	pthread_mutex_unlock(&w->mtx);
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
		e = cur < 0 ? EBADF : errno;
	}
	if (cur >= 0)
		close(cur);
	uint64_t took = (uint64_t) (fs_now_us() - t0);

	pthread_mutex_lock(&w->mtx);
	w->fsyncs++;
	w->fsync_total_us += took;
	if (took > w->fsync_max_us)
		w->fsync_max_us = took;
	if (rc == 0) {
		if (target > w->synced)
			w->synced = target;
		if (w->gen == target_gen && target_off > w->durable_off)
			w->durable_off = target_off;
		if (target_rev > w->durable_rev)
			w->durable_rev = target_rev;
		if (w->sync_failed)
			persist_say(w->o.log, "info",
			    "change log sync works "
			    "again; accepting changes");
		w->sync_failed = 0;
	} else {
		failure_note(w, "sync", e, &w->sync_failed, &w->sync_failures);
	}
	return rc;
}

static void *
sync_main(void *arg)
{
	logwriter *w = arg;
	int64_t next = fs_now_us() + 1000000, next_check = next;

	pthread_mutex_lock(&w->mtx);
	for (;;) {
		int64_t now = fs_now_us();

		if (now >= next_check && !w->stop) {
			pthread_mutex_unlock(&w->mtx);
			watch_dir(w);
			pthread_mutex_lock(&w->mtx);
			now = fs_now_us();
			next_check = now + CHECK_US;
		}
		if (!sync_due(w, now, next)) {
			if (w->stop)
				break;
			/* Nothing to sync: sleep until the next tick, or a
			 * second when it has passed (no busy loop). */
			struct timespec ts;
			long ms = next > now ? (long) ((next - now) / 1000) + 1
			                     : 1000;
			if (w->o.fsync == PERSIST_FSYNC_ALWAYS || ms > 1000)
				ms = 1000;
			if (next_check > now &&
			    ms > (long) ((next_check - now) / 1000) + 1)
				ms = (long) ((next_check - now) / 1000) + 1;
			abs_after_ms(&ts, ms);
			pthread_cond_timedwait(&w->cv, &w->mtx, &ts);
			continue;
		}
		int rc = sync_once(w);
		struct waiter *ready = NULL, **pp = &w->waiters;
		while (*pp != NULL) {
			struct waiter *wt = *pp;
			if (rc != 0 || wt->ticket <= w->synced) {
				*pp = wt->next;
				wt->next = ready;
				ready = wt;
			} else {
				pp = &wt->next;
			}
		}
		next = fs_now_us() + 1000000;
		if (w->stop && rc != 0)
			w->synced = w->written; /* give up: fail who waits */
		pthread_mutex_unlock(&w->mtx);
		while (ready != NULL) {
			struct waiter *wt = ready;
			ready = wt->next;
			wt->done(wt->arg, rc == 0);
			free(wt);
		}
		pthread_mutex_lock(&w->mtx);
	}
	pthread_mutex_unlock(&w->mtx);
	return NULL;
}

int
logwriter_start(logwriter *w)
{
	return persist_worker_start(&w->thr, sync_main, w);
}

void
logwriter_free(logwriter *w)
{
	if (w == NULL)
		return;
	persist_worker_stop(&w->thr);
	while (w->waiters != NULL) { /* none without a thread to wait on */
		struct waiter *wt = w->waiters;
		w->waiters = wt->next;
		wt->done(wt->arg, 0);
		free(wt);
	}
	if (w->old_fd >= 0)
		close(w->old_fd);
	if (w->fd >= 0) {
		if (w->o.fsync != PERSIST_FSYNC_NO)
			fdatasync(w->fd);
		close(w->fd);
	}
	pthread_mutex_destroy(&w->mtx);
	pthread_cond_destroy(&w->cv);
	free(w);
}

/* ---- generations and state ---------------------------------------------- */

uint64_t
logwriter_cut(logwriter *w, int fd, uint64_t gen)
{
	pthread_mutex_lock(&w->mtx);
	int old = w->fd; /* -1 for the snapshot of a partial recovery */
	if (w->o.fsync == PERSIST_FSYNC_NO || old < 0) {
		if (old >= 0)
			close(old);
	} else {
		if (w->old_fd >= 0) /* a previous cut not yet synced */
			close(w->old_fd);
		w->old_fd = old;
		pthread_cond_signal(&w->cv);
	}
	w->fd = fd;
	w->gen = gen;
	w->file_off = w->durable_off = LOGFMT_LOG_HEADER;
	w->write_broken = 0;
	w->changes_since = 0;
	uint64_t rev = w->revision;
	pthread_mutex_unlock(&w->mtx);
	return rev;
}

/* mtx held. */
static void
position_locked(const logwriter *w, persist_position *pos)
{
	int nosync = w->o.fsync == PERSIST_FSYNC_NO;

	pos->gen = w->gen;
	pos->written_end = w->file_off;
	pos->durable_end = nosync ? w->file_off : w->durable_off;
	pos->revision = w->revision;
	pos->durable_revision = nosync ? w->revision : w->durable_rev;
}

void
logwriter_position_get(logwriter *w, persist_position *pos)
{
	pthread_mutex_lock(&w->mtx);
	position_locked(w, pos);
	pthread_mutex_unlock(&w->mtx);
}

/* Whether changes are accepted now, and why not. mtx held. */
static int
writable_locked(const logwriter *w, char *why, size_t n)
{
	if (w->lost)
		snprintf(why, n, "%s", w->lost_why);
	else if (w->append_failing || w->sync_failed)
		snprintf(why, n, "%s", w->write_err);
	else if (w->write_broken)
		snprintf(why, n,
		    "a partial write to the change log could "
		    "not be undone");
	else {
		if (n > 0)
			why[0] = '\0';
		return 1;
	}
	return 0;
}

int
logwriter_writable(logwriter *w, char *why, size_t n)
{
	pthread_mutex_lock(&w->mtx);
	int rv = writable_locked(w, why, n);
	pthread_mutex_unlock(&w->mtx);
	return rv;
}

void
logwriter_stats_get(logwriter *w, persist_stats *s)
{
	persist_position pos;

	pthread_mutex_lock(&w->mtx);
	position_locked(w, &pos);
	s->generation = pos.gen;
	s->log_bytes = pos.written_end;
	s->revision = pos.revision;
	s->changes_since_snapshot = w->changes_since;
	s->writable = writable_locked(w, s->why, sizeof(s->why));
	s->disk_error = !s->writable;
	s->lost = w->lost;
	s->append_failures = w->append_failures;
	s->sync_failures = w->sync_failures;
	s->fsyncs = w->fsyncs;
	s->fsync_total_us = w->fsync_total_us;
	s->fsync_max_us = w->fsync_max_us;
	pthread_mutex_unlock(&w->mtx);
}

void
logwriter_loss_get(logwriter *w, logwriter_loss *l)
{
	pthread_mutex_lock(&w->mtx);
	l->lost = w->lost;
	l->kind = w->lost_kind;
	l->us = w->lost_us;
	snprintf(l->why, sizeof(l->why), "%s", w->lost_why);
	snprintf(l->where, sizeof(l->where), "%s", w->lost_where);
	l->sync_failed = w->sync_failed;
	snprintf(l->err, sizeof(l->err), "%s", w->write_err);
	pthread_mutex_unlock(&w->mtx);
}
