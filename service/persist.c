/*
 * persist.c - the persistence handle: load, start, close; retention and
 * the removal of files no longer needed (persist_gc); numbers and the
 * shutdown report. See persist.h for the modules that do the work.
 */
#include "persist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datadir.h"
#include "fs_util.h"
#include "logfmt.h"
#include "logwriter.h"
#include "recovery.h"
#include "retention.h"
#include "snapshot.h"

struct persist {
	persist_opts o;
	char *dir;
	store *st;
	pthread_rwlock_t *lock;
	persist_apply_fn apply;

	/* The directory as opened and locked (datadir.h). Files are created,
	 * renamed and removed relative to dd.dirfd, so they can only ever
	 * land in the directory this backend locked. */
	datadir dd;
	recovery_result rec; /* what persist_load found */
	logwriter *w;        /* from persist_start on */
	snapshotter *snap;
	int started;

	retention *ret;
	uint32_t snap_hold; /* the snapshot's hold on the log */
	pthread_mutex_t gc_mtx;
	int has_snap; /* under gc_mtx: the newest durable snapshot */
	uint64_t snap_gen;
};

/* ---- removing what nobody needs ------------------------------------------ */

/* The one place where files of older generations are removed: snapshots
 * older than the newest durable one, and logs older than it that no
 * holder (retention.h) needs. Never in a lost directory. */
static void
persist_gc(persist *p)
{
	datadir_gens g;
	char name[DATADIR_NAME_MAX];
	uint64_t keep_from = UINT64_MAX;

	pthread_mutex_lock(&p->gc_mtx);
	if (!p->has_snap || (p->w != NULL && logwriter_lost(p->w))) {
		pthread_mutex_unlock(&p->gc_mtx);
		return; /* nothing is older than no snapshot */
	}
	if (datadir_scan(p->dd.dirfd, p->dir, &g) != FS_OK) {
		datadir_gens_free(&g); /* the next one tries again */
		pthread_mutex_unlock(&p->gc_mtx);
		return;
	}
	for (size_t i = 0; i < g.nsnaps && g.snaps[i] < p->snap_gen; i++) {
		datadir_name(name, sizeof(name), DATADIR_SNAPSHOT, g.snaps[i]);
		unlinkat(p->dd.dirfd, name, 0);
	}
	for (size_t i = 0; i < g.nlogs; i++) {
		uint64_t gen = g.logs[i];

		if (gen < p->snap_gen && retention_log_unneeded(p->ret, gen)) {
			datadir_name(name, sizeof(name), DATADIR_LOG, gen);
			if (unlinkat(p->dd.dirfd, name, 0) == 0 ||
			    errno == ENOENT)
				continue;
		}
		if (gen < keep_from)
			keep_from = gen;
	}
	if (keep_from != UINT64_MAX)
		retention_forget(p->ret, keep_from);
	datadir_gens_free(&g);
	pthread_mutex_unlock(&p->gc_mtx);
}

/* The snapshot's hooks (snapshot.h). */
static void
on_cut(void *arg, uint64_t gen, uint64_t revision)
{
	persist *p = arg;

	(void) retention_note(p->ret, gen, revision);
}

static void
on_durable(void *arg, uint64_t gen, uint64_t revision)
{
	persist *p = arg;

	pthread_mutex_lock(&p->gc_mtx);
	p->has_snap = 1;
	p->snap_gen = gen;
	pthread_mutex_unlock(&p->gc_mtx);
	/* Recovery now starts from here: it needs what follows. */
	(void) retention_move(p->ret, p->snap_hold, revision + 1);
	persist_gc(p);
}

/* Removes the snapshot temp files an interrupted snapshot left. The lock
 * keeps other backends out; a temp file whose writer is alive is still
 * never ours to remove (a backend without the lock, or a pid reused):
 * kept, and said. */
static void
remove_leftovers(persist *p)
{
	int fd = openat(p->dd.dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return; /* it just loaded: leftovers wait for the next start */
	}
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name);

		if (nl <= 4 || strcmp(e->d_name + nl - 4, ".tmp") != 0 ||
		    strncmp(e->d_name, "snapshot-", 9) != 0)
			continue;
		if (datadir_tmp_in_use(e->d_name))
			persist_say(persist_log_default, "warning",
			    "kept %s/%s: the "
			    "process named in it is running and may be "
			    "writing it",
			    p->dir, e->d_name);
		else if (unlinkat(p->dd.dirfd, e->d_name, 0) == 0)
			persist_say(persist_log_default, "warning",
			    "removed leftover "
			    "%s/%s from an interrupted snapshot",
			    p->dir, e->d_name);
	}
	closedir(d);
}

/* ---- load, start, close --------------------------------------------------- */

/* Notes the bases of the logs older than what recovery replayed that are
 * still on disk (kept for a holder before this start, e.g. the watch
 * history): each one's first record tells (base = its revision - 1), so
 * that persist_log_open finds them. A log that tells nothing (no record,
 * version 1, damaged) is left out, and goes with the next persist_gc. */
static int
note_older_logs(persist *p)
{
	uint64_t below = p->rec.has_snapshot ? p->rec.snapshot_gen : 0;
	uint64_t above = p->rec.has_snapshot ? p->rec.snapshot_revision : 0;
	char name[DATADIR_NAME_MAX];
	datadir_gens g;
	int rv = FS_OK;

	for (size_t i = 0; i < p->rec.nbases; i++)
		if (below == 0 || p->rec.bases[i].gen < below)
			below = p->rec.bases[i].gen;
	if (below == 0 || datadir_scan(p->dd.dirfd, p->dir, &g) != FS_OK) {
		if (below != 0)
			datadir_gens_free(&g);
		return FS_OK; /* nothing older, or found later */
	}
	/* Newest first: each base must lie below the one after it. */
	for (size_t i = g.nlogs; i-- > 0 && rv == FS_OK;) {
		logreader *rd;
		logreader_record rec;

		if (g.logs[i] >= below)
			continue;
		datadir_name(name, sizeof(name), DATADIR_LOG, g.logs[i]);
		if (logreader_open(&rd, p->dd.dirfd, name, 0) != FS_OK)
			continue;
		if (logreader_next(rd, LOGREADER_EOF, &rec) ==
		        LOGREADER_RECORD &&
		    logreader_version(rd) >= 2 && rec.revision >= 1 &&
		    rec.revision - 1 < above) {
			rv = retention_note(p->ret, g.logs[i],
			    rec.revision - 1);
			above = rec.revision - 1;
		}
		logreader_close(rd);
	}
	datadir_gens_free(&g);
	return rv;
}

int
persist_load(persist **out, const persist_opts *opts, store *st,
    pthread_rwlock_t *lock, persist_apply_fn apply, persist_error *err)
{
	persist *p = calloc(1, sizeof(*p));
	char why[1024];
	int rv;

	if (p == NULL || (p->dir = strdup(opts->dir)) == NULL) {
		free(p);
		persist_seterr(err, opts->dir, 0, "out of memory");
		return FS_RESOURCE_EXHAUSTED;
	}
	p->o = *opts;
	p->o.dir = p->dir;
	p->st = st;
	p->lock = lock;
	p->apply = apply;
	p->dd.dirfd = p->dd.lockfd = -1;
	pthread_mutex_init(&p->gc_mtx, NULL);
	if ((rv = retention_new(&p->ret)) != FS_OK) {
		persist_seterr(err, p->dir, 0, "out of memory");
		goto fail;
	}
	rv = FS_UNAVAILABLE;
	if (mkdir(p->dir, 0755) != 0 && errno != EEXIST) {
		persist_seterr(err, p->dir, 0,
		    "cannot create the data "
		    "directory: %s",
		    strerror(errno));
		goto fail;
	}
	if (access(p->dir, R_OK | W_OK | X_OK) != 0) {
		persist_seterr(err, p->dir, 0,
		    "the data directory is not "
		    "usable: %s",
		    strerror(errno));
		goto fail;
	}
	/* The lock before anything in the directory is read or removed. */
	if (datadir_open(&p->dd, p->dir, why, sizeof(why)) != 0) {
		persist_seterr(err, "", 0, "%s", why);
		goto fail;
	}
	recovery_opts ro = {p->dir, 0, opts->recover_partial,
	    persist_log_default};
	if ((rv = recovery_load(&ro, st, apply, &p->rec, err)) != FS_OK)
		goto fail;
	for (size_t i = 0; i < p->rec.nbases && rv == FS_OK; i++)
		rv = retention_note(p->ret, p->rec.bases[i].gen,
		    p->rec.bases[i].base);
	if (rv == FS_OK && p->rec.has_snapshot)
		rv = retention_note(p->ret, p->rec.snapshot_gen,
		    p->rec.snapshot_revision);
	if (rv == FS_OK)
		rv = note_older_logs(p);
	if (rv != FS_OK) {
		persist_seterr(err, p->dir, 0, "out of memory");
		goto fail;
	}
	p->has_snap = p->rec.has_snapshot;
	p->snap_gen = p->rec.snapshot_gen;
	*out = p;
	return FS_OK;
fail:
	persist_close(p);
	return rv;
}

/* The log to append to after a load: the newest one, unless its header
 * is cut short (made anew) or it is of an older format version (a new
 * generation: a log is never written in two versions). *created: a new
 * file, which begins after the last revision loaded. */
static int
open_log(persist *p, uint64_t *gen, uint64_t *off, int *created,
    persist_error *err)
{
	const recovery_result *r = &p->rec;
	char name[DATADIR_NAME_MAX];
	int fd;

	*gen = r->gen;
	*off = LOGFMT_LOG_HEADER;
	*created = 0;
	if (r->log_exists && r->log_end >= LOGFMT_LOG_HEADER &&
	    r->log_version == LOGFMT_VERSION) {
		datadir_name(name, sizeof(name), DATADIR_LOG, r->gen);
		fd =
		    openat(p->dd.dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0)
			persist_seterr(err, p->dir, 0,
			    "%s: cannot open for "
			    "appending: %s",
			    name, strerror(errno));
		*off = r->log_end;
		return fd;
	}
	int upgrade = r->log_exists && r->log_end >= LOGFMT_LOG_HEADER;
	if (upgrade)
		(*gen)++;
	if ((fd = logwriter_create_log(&p->dd, p->dir, *gen, upgrade, err)) <
	    0)
		return -1;
	if (datadir_sync(p->dd.dirfd) != 0) {
		persist_seterr(err, p->dir, 0, "cannot sync the directory: %s",
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (upgrade)
		persist_say(persist_log_default, "info",
		    "%s holds logs of format version "
		    "%u: appending to a new generation's log of version %u",
		    p->dir, r->log_version, LOGFMT_VERSION);
	*created = 1;
	return fd;
}

int
persist_start(persist *p, persist_error *err)
{
	const recovery_result *r = &p->rec;
	uint64_t gen = r->max_gen, off = 0;
	int fd = -1, created = 0, rv;

	if (p->started)
		return FS_OK;
	/* Leftovers first: a dead process's temp file may bear the name
	 * the next snapshot wants. */
	remove_leftovers(p);
	if (!r->partial && (fd = open_log(p, &gen, &off, &created, err)) < 0)
		return FS_UNAVAILABLE;
	logwriter_opts wo = {p->dir, &p->dd, p->o.fsync, persist_log_default};
	if ((rv = logwriter_new(&p->w, &wo, fd, gen, off, r->revision,
	         r->log_records)) != FS_OK ||
	    (created &&
	        (rv = retention_note(p->ret, gen, r->revision)) != FS_OK)) {
		persist_seterr(err, p->dir, 0, "out of memory");
		return rv;
	}
	snapshot_opts so = {p->dir, &p->dd, persist_log_default,
	    p->o.snapshot_changes, p->o.snapshot_interval, p->st, p->lock,
	    p->w, on_cut, on_durable, p};
	if ((rv = snapshot_new(&p->snap, &so)) != FS_OK ||
	    (rv = retention_hold(p->ret, "snapshot",
	         p->has_snap ? r->snapshot_revision + 1
	                     : retention_oldest(p->ret),
	         &p->snap_hold)) != FS_OK) {
		persist_seterr(err, p->dir, 0, "out of memory");
		return rv;
	}
	if (r->partial) {
		/* Make the directory whole again at once: a snapshot of
		 * what was accepted, in a generation above every file
		 * there (so nothing present is overwritten), after which
		 * the older files go as after any snapshot and the next
		 * start needs no flag. */
		if (snapshot_take(p->snap) != FS_OK) {
			persist_seterr(err, p->dir, 0,
			    "--recover-partial: "
			    "cannot write a snapshot of what was accepted "
			    "(logged above); the directory is as it was");
			return FS_UNAVAILABLE;
		}
	} else {
		persist_gc(p);
	}
	if (logwriter_start(p->w) != FS_OK) {
		persist_seterr(err, p->dir, 0, "cannot start the sync thread");
		return FS_UNAVAILABLE;
	}
	if (snapshot_start(p->snap) != FS_OK) {
		persist_seterr(err, p->dir, 0,
		    "cannot start the snapshot "
		    "thread");
		return FS_UNAVAILABLE;
	}
	p->started = 1;
	return FS_OK;
}

int
persist_open(persist **out, const persist_opts *opts, store *st,
    pthread_rwlock_t *lock, persist_apply_fn apply, persist_error *err)
{
	persist *p;
	int rv = persist_load(&p, opts, st, lock, apply, err);

	if (rv == FS_OK && (rv = persist_start(p, err)) != FS_OK) {
		persist_close(p);
		return rv;
	}
	if (rv == FS_OK)
		*out = p;
	return rv;
}

void
persist_close(persist *p)
{
	if (p == NULL)
		return;
	snapshot_free(p->snap); /* a snapshot being written ends first */
	logwriter_free(p->w);
	datadir_close(&p->dd); /* the lock goes last */
	retention_free(p->ret);
	recovery_result_fini(&p->rec);
	pthread_mutex_destroy(&p->gc_mtx);
	free(p->dir);
	free(p);
}

/* ---- changes --------------------------------------------------------------- */

int
persist_append(persist *p, const Flowsvc__LogRecord *rec, uint64_t *ticket)
{
	uint64_t changes;
	int rv;

	if (p->w == NULL)
		return FS_UNAVAILABLE; /* loaded, not started */
	rv = logwriter_append(p->w, rec, ticket, &changes);
	if (rv == FS_OK && p->o.snapshot_changes != 0 &&
	    changes == p->o.snapshot_changes)
		snapshot_kick(p->snap);
	return rv;
}

void
persist_loaded(persist *p, uint64_t *snapshot_revision, uint64_t *revision)
{
	*snapshot_revision =
	    p->rec.has_snapshot ? p->rec.snapshot_revision : 0;
	*revision = p->rec.revision;
}

uint64_t
persist_revision(persist *p)
{
	persist_position pos;

	if (p->w == NULL)
		return p->rec.revision;
	logwriter_position_get(p->w, &pos);
	return pos.revision;
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
	return logwriter_when_durable(p->w, ticket, done, arg);
}

int
persist_snapshot(persist *p)
{
	return p->snap != NULL ? snapshot_take(p->snap) : FS_UNAVAILABLE;
}

int
persist_snapshot_async(persist *p, void (*done)(void *arg, int ok), void *arg)
{
	return snapshot_request(p->snap, done, arg);
}

int
persist_writable(persist *p, char *why, size_t n)
{
	return logwriter_writable(p->w, why, n);
}

/* ---- reading the log and retention ---------------------------------------- */

void
persist_log_position(persist *p, persist_position *pos)
{
	logwriter_position_get(p->w, pos);
}

int
persist_log_open(persist *p, uint64_t revision, logreader **out, uint64_t *gen)
{
	char name[DATADIR_NAME_MAX];
	uint64_t base;
	int rv;

	if ((rv = retention_locate(p->ret, revision, gen, &base)) != FS_OK)
		return rv;
	datadir_name(name, sizeof(name), DATADIR_LOG, *gen);
	return logreader_open(out, p->dd.dirfd, name, base);
}

int
persist_snapshot_open(persist *p, int *fd, uint64_t *size, uint64_t *revision)
{
	char name[DATADIR_NAME_MAX];
	uint8_t hb[LOGFMT_SNAP_HEADER_V2];
	logfmt_snap_header h;
	struct stat sb;
	ssize_t n;

	pthread_mutex_lock(
	    &p->gc_mtx); /* no removal between choice and open */
	if (!p->has_snap) {
		pthread_mutex_unlock(&p->gc_mtx);
		return FS_NOT_FOUND;
	}
	datadir_name(name, sizeof(name), DATADIR_SNAPSHOT, p->snap_gen);
	*fd = openat(p->dd.dirfd, name, O_RDONLY | O_CLOEXEC);
	pthread_mutex_unlock(&p->gc_mtx);
	if (*fd < 0)
		return FS_UNAVAILABLE;
	if (fstat(*fd, &sb) != 0 || (n = pread(*fd, hb, sizeof(hb), 0)) < 0 ||
	    logfmt_snap_header_check(hb, (size_t) n, &h) != LOGFMT_HEADER_OK) {
		close(*fd);
		*fd = -1;
		errno = EINVAL;
		return FS_UNAVAILABLE;
	}
	*size = (uint64_t) sb.st_size;
	*revision = h.revision;
	return FS_OK;
}

int
persist_retain(persist *p, const char *name, uint64_t min_revision,
    uint32_t *holder)
{
	return retention_hold(p->ret, name, min_revision, holder);
}

int
persist_retain_move(persist *p, uint32_t holder, uint64_t min_revision)
{
	int rv = retention_move(p->ret, holder, min_revision);

	if (rv == FS_OK)
		persist_gc(p);
	return rv;
}

void
persist_release(persist *p, uint32_t holder)
{
	retention_release(p->ret, holder);
	persist_gc(p);
}

uint64_t
persist_oldest_revision(persist *p)
{
	return retention_oldest(p->ret);
}

/* ---- numbers and reports --------------------------------------------------- */

void
persist_get_stats(persist *p, persist_stats *s)
{
	logwriter_stats_get(p->w, s);
	snapshot_times(p->snap, &s->last_snapshot_us,
	    &s->last_snapshot_dur_us);
}

int
persist_stop_report(persist *p, int snapshot_ok, char *buf, size_t n)
{
	logwriter_loss l;
	char when[FS_TIME_STRLEN + 1];

	logwriter_loss_get(p->w, &l);
	if (!l.lost) {
		if (snapshot_ok)
			snprintf(buf, n, "stopped");
		else if (l.sync_failed)
			snprintf(buf, n,
			    "stopped without a final snapshot; "
			    "the change log has every acknowledged change, "
			    "but its last sync failed (%s): those since the "
			    "last good sync may not be on disk",
			    l.err);
		else
			snprintf(buf, n,
			    "stopped without a final snapshot; "
			    "the change log has every acknowledged change");
		return 0;
	}
	pthread_rwlock_rdlock(p->lock);
	size_t flows = store_count(p->st, FLOWSVC__KIND__FLOW);
	size_t apps = store_count(p->st, FLOWSVC__KIND__APP);
	pthread_rwlock_unlock(p->lock);
	fs_time_format(l.us, when);
	int k = snprintf(buf, n,
	    "stopped without a snapshot: %s (noticed at "
	    "%s), and changes have been refused since then. ",
	    l.why, when);
	if (k < 0 || (size_t) k >= n)
		return 1;
	buf += k;
	n -= (size_t) k;
	switch (l.kind) {
	case DATADIR_DIR_DELETED:
		snprintf(buf, n,
		    "Every change acknowledged before was in its "
		    "change log, deleted with it: the %zu flows and %zu apps "
		    "this backend held are not saved anywhere, and a restart "
		    "on %s starts from what is there then",
		    flows, apps, p->dir);
		break;
	case DATADIR_LOG_DELETED:
		snprintf(buf, n,
		    "The changes acknowledged since the last "
		    "snapshot were in that log: of the %zu flows and %zu apps "
		    "this backend held, what they changed is not on disk",
		    flows, apps);
		break;
	case DATADIR_DIR_MOVED:
		snprintf(buf, n,
		    "Nothing was written into %s; every "
		    "acknowledged change is in the directory this backend "
		    "used%s%s: start with --data-dir there to continue from "
		    "it",
		    p->dir, l.where[0] ? ", now " : ", wherever it is now",
		    l.where);
		break;
	case DATADIR_LOG_MOVED:
		snprintf(buf, n,
		    "Every acknowledged change is in the change "
		    "log this backend opened, wherever it was moved; nothing "
		    "was written in its place");
		break;
	default:
		snprintf(buf, n,
		    "Every acknowledged change is in %s; no "
		    "snapshot was written there, as another backend may have "
		    "opened it",
		    p->dir);
		break;
	}
	return 1;
}

int
persist_check_dir(const char *dir, persist_apply_fn apply, persist_check *out,
    persist_error *err)
{
	store *st = store_new();
	recovery_opts ro = {dir, 1, 0, NULL};
	recovery_result r;
	int rv;

	memset(out, 0, sizeof(*out));
	if (st == NULL) {
		persist_seterr(err, dir, 0, "out of memory");
		return FS_RESOURCE_EXHAUSTED;
	}
	rv = recovery_load(&ro, st, apply, &r, err);
	if (rv == FS_OK) {
		out->generation = r.gen;
		out->snapshot_records = r.snapshot_records;
		out->log_records = r.log_records;
		out->torn_bytes = r.torn_bytes;
		out->flows = store_count(st, FLOWSVC__KIND__FLOW);
		out->apps = store_count(st, FLOWSVC__KIND__APP);
		out->snapshot_revision = r.snapshot_revision;
		out->revision = r.revision;
	}
	recovery_result_fini(&r);
	store_free(st);
	return rv;
}
