/*
 * datadir.c - the data directory's lock, identity and layout. See
 * datadir.h.
 */
#define _GNU_SOURCE /* O_DIRECTORY, O_NOFOLLOW */
#include "datadir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_errors.h"

#define PID_READ_TRIES 20 /* a holder between its truncate and its write */

static void say(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (n == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}

/* The pid a lock file holds, or -1 when it holds none (yet). */
static long
lock_holder(int fd)
{
	for (int i = 0; i < PID_READ_TRIES; i++) {
		char buf[32];
		ssize_t k = pread(fd, buf, sizeof(buf) - 1, 0);
		char *end;

		if (k > 0) {
			buf[k] = '\0';
			errno = 0;
			long pid = strtol(buf, &end, 10);
			if (errno == 0 && end != buf && pid > 0)
				return pid;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return -1;
}

int
datadir_open(datadir *d, const char *dir, char *why, size_t n)
{
	struct stat sb;
	char pid[32];

	d->dirfd = d->lockfd = -1;
	if ((d->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fstat(d->dirfd, &sb) != 0) {
		say(why, n, "%s: cannot open the data directory: %s", dir,
		    strerror(errno));
		goto fail;
	}
	d->dev = sb.st_dev;
	d->ino = sb.st_ino;
	d->lockfd = openat(d->dirfd, DATADIR_LOCK_NAME,
	    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (d->lockfd < 0) {
		say(why, n, "%s/%s: cannot open the lock file: %s", dir,
		    DATADIR_LOCK_NAME, strerror(errno));
		goto fail;
	}
	if (flock(d->lockfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			long holder = lock_holder(d->lockfd);
			if (holder > 0)
				say(why, n,
				    "%s is in use by another "
				    "flow-service (pid %ld holds %s/%s)",
				    dir, holder, dir, DATADIR_LOCK_NAME);
			else
				say(why, n,
				    "%s is in use by another "
				    "flow-service (it holds %s/%s; its pid is "
				    "not written there)",
				    dir, dir, DATADIR_LOCK_NAME);
		} else {
			say(why, n, "%s/%s: cannot lock: %s", dir,
			    DATADIR_LOCK_NAME, strerror(errno));
		}
		goto fail;
	}
	if (fstat(d->lockfd, &sb) != 0) {
		say(why, n, "%s/%s: %s", dir, DATADIR_LOCK_NAME,
		    strerror(errno));
		goto fail;
	}
	d->lock_dev = sb.st_dev;
	d->lock_ino = sb.st_ino;
	/* The pid is for messages only: a lock file it could not be written
	 * into (a full disk) still locks, and a second backend says that the
	 * pid is unknown. */
	int k = snprintf(pid, sizeof(pid), "%ld\n", (long) getpid());
	int wrote = ftruncate(d->lockfd, 0) == 0 &&
	    pwrite(d->lockfd, pid, (size_t) k, 0) == k;
	(void) wrote;
	return 0;
fail:
	datadir_close(d);
	return -1;
}

void
datadir_close(datadir *d)
{
	if (d->lockfd >= 0)
		close(d->lockfd); /* drops the flock */
	if (d->dirfd >= 0)
		close(d->dirfd);
	d->dirfd = d->lockfd = -1;
}

/* The path the open directory has now, when the kernel knows one ("" if
 * not). Returns 1 when the kernel says it was deleted (for filesystems
 * that do not report a link count of 0 for a removed directory). */
static int
where_now(int dirfd, char *where, size_t wn)
{
	char link[64], buf[PATH_MAX];
	ssize_t k;
	const char *del = " (deleted)";
	size_t dl = strlen(del);

	if (wn > 0)
		where[0] = '\0';
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	if ((k = readlink(link, buf, sizeof(buf) - 1)) <= 0)
		return 0;
	buf[k] = '\0';
	if ((size_t) k > dl && strcmp(buf + k - dl, del) == 0)
		return 1;
	if ((size_t) k < wn)
		memcpy(where, buf, (size_t) k + 1);
	return 0;
}

/* errno values of a stat that mean "no such file here". */
static int
gone(int e)
{
	return e == ENOENT || e == ENOTDIR;
}

enum datadir_loss
datadir_check(const datadir *d, const char *dir, int logfd,
    const char *logname, char *why, size_t n, char *where, size_t wn)
{
	struct stat sb, fb;

	if (wn > 0)
		where[0] = '\0';
	if (d->dirfd < 0)
		return DATADIR_OK;
	if (fstat(d->dirfd, &sb) == 0 && sb.st_nlink == 0) {
		say(why, n, "the data directory %s was deleted", dir);
		return DATADIR_DIR_DELETED;
	}
	if (stat(dir, &sb) != 0 ? gone(errno)
	                        : sb.st_dev != d->dev || sb.st_ino != d->ino) {
		if (where_now(d->dirfd, where, wn)) {
			say(why, n, "the data directory %s was deleted", dir);
			return DATADIR_DIR_DELETED;
		}
		if (where[0] != '\0' && strcmp(where, dir) != 0)
			say(why, n,
			    "the data directory %s was moved or "
			    "replaced (the one this backend opened is now %s)",
			    dir, where);
		else
			say(why, n,
			    "the data directory %s was moved or "
			    "replaced",
			    dir);
		return DATADIR_DIR_MOVED;
	}
	if (logfd >= 0 && fstat(logfd, &fb) == 0) {
		if (fb.st_nlink == 0) {
			say(why, n, "the change log %s/%s was deleted", dir,
			    logname);
			return DATADIR_LOG_DELETED;
		}
		if (fstatat(d->dirfd, logname, &sb, AT_SYMLINK_NOFOLLOW) != 0
		        ? gone(errno)
		        : sb.st_dev != fb.st_dev || sb.st_ino != fb.st_ino) {
			say(why, n,
			    "the change log %s/%s was moved or "
			    "replaced",
			    dir, logname);
			return DATADIR_LOG_MOVED;
		}
	}
	if (fstatat(d->dirfd, DATADIR_LOCK_NAME, &sb, AT_SYMLINK_NOFOLLOW) != 0
	        ? gone(errno)
	        : sb.st_dev != d->lock_dev || sb.st_ino != d->lock_ino) {
		say(why, n,
		    "the lock file %s/%s was deleted or replaced, so "
		    "another backend could open %s now",
		    dir, DATADIR_LOCK_NAME, dir);
		return DATADIR_LOCK_REPLACED;
	}
	return DATADIR_OK;
}

int
datadir_probe(const datadir *d)
{
	static const char name[] = ".flow-service-probe";
	static const char page[4096];
	const char *p = page;
	size_t left = sizeof(page);
	int fd = openat(d->dirfd, name,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	while (left > 0) {
		ssize_t k = write(fd, p, left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		p += k;
		left -= (size_t) k;
	}
	int e = errno;
	if (close(fd) != 0 && left == 0) {
		e = errno;
		left = 1;
	}
	(void) unlinkat(d->dirfd, name, 0); /* gone either way, or harmless */
	errno = e;
	return left == 0 ? 0 : -1;
}

int
datadir_tmp_in_use(const char *name)
{
	/* snapshot-<12 digits>.db.<pid>.tmp */
	size_t nl = strlen(name);
	const char *p = name + 9 + 12 + 4, *end = name + nl - 4;
	long pid = 0;

	if (nl <= 9 + 12 + 4 + 4 || strncmp(name, "snapshot-", 9) != 0 ||
	    strncmp(name + 21, ".db.", 4) != 0 || strcmp(end, ".tmp") != 0 ||
	    p >= end || end - p > 10)
		return 0;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		pid = pid * 10 + (*p - '0');
	}
	if (pid <= 0 || pid > INT_MAX || pid == (long) getpid())
		return 0;
	/* EPERM: alive, and another user's. */
	return kill((pid_t) pid, 0) == 0 || errno == EPERM;
}

void
datadir_name(char *out, size_t n, enum datadir_kind kind, uint64_t gen)
{
	snprintf(out, n,
	    kind == DATADIR_SNAPSHOT ? "snapshot-%012" PRIu64 ".db"
	                             : "changes-%012" PRIu64 ".log",
	    gen);
}

/* Parses "PREFIX-<12 digits>EXT". Returns 1 and the generation on match. */
static int
parse_name(const char *name, const char *prefix, const char *ext,
    uint64_t *gen)
{
	size_t pl = strlen(prefix), el = strlen(ext), nl = strlen(name);
	uint64_t g = 0;

	if (nl != pl + 1 + 12 + el || strncmp(name, prefix, pl) != 0 ||
	    name[pl] != '-' || strcmp(name + pl + 13, ext) != 0)
		return 0;
	for (size_t i = pl + 1; i < pl + 13; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		g = g * 10 + (uint64_t) (name[i] - '0');
	}
	*gen = g;
	return 1;
}

static int
add_gen(uint64_t **v, size_t *n, size_t *cap, uint64_t g)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		uint64_t *nv = realloc(*v, nc * sizeof(*nv));

		if (nv == NULL)
			return -1;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = g;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

int
datadir_scan(int dirfd, const char *dir, datadir_gens *g)
{
	size_t scap = 0, lcap = 0;
	struct dirent *e;
	DIR *d;
	int fd;

	memset(g, 0, sizeof(*g));
	/* A directory stream of its own: fdopendir takes the fd over. */
	fd = dirfd >= 0
	    ? openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
	    : open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return FS_UNAVAILABLE;
	if ((d = fdopendir(fd)) == NULL) {
		int err = errno;

		close(fd);
		errno = err;
		return FS_UNAVAILABLE;
	}
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		uint64_t gen;
		int rv = 0;

		if (parse_name(e->d_name, "snapshot", ".db", &gen))
			rv = add_gen(&g->snaps, &g->nsnaps, &scap, gen);
		else if (parse_name(e->d_name, "changes", ".log", &gen))
			rv = add_gen(&g->logs, &g->nlogs, &lcap, gen);
		if (rv != 0) {
			closedir(d);
			return FS_RESOURCE_EXHAUSTED;
		}
		errno = 0;
	}
	if (errno != 0) {
		int err = errno;

		closedir(d);
		errno = err;
		return FS_UNAVAILABLE;
	}
	closedir(d);
	if (g->nsnaps > 1)
		qsort(g->snaps, g->nsnaps, sizeof(uint64_t), cmp_u64);
	if (g->nlogs > 1)
		qsort(g->logs, g->nlogs, sizeof(uint64_t), cmp_u64);
	return FS_OK;
}

void
datadir_gens_free(datadir_gens *g)
{
	free(g->snaps);
	free(g->logs);
	memset(g, 0, sizeof(*g));
}

int
datadir_sync(int dirfd)
{
	if (fsync(dirfd) != 0 && errno != EINVAL && errno != EBADF)
		return -1;
	return 0;
}

/* Appends one problem to problems (joined by "; "). */
static void problem(char *problems, size_t n, size_t *np, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
problem(char *problems, size_t n, size_t *np, const char *fmt, ...)
{
	size_t used = strlen(problems);
	va_list ap;

	if (*np > 0 && used + 2 < n) {
		memcpy(problems + used, "; ", 3);
		used += 2;
	}
	if (used < n) {
		va_start(ap, fmt);
		vsnprintf(problems + used, n - used, fmt, ap);
		va_end(ap);
	}
	(*np)++;
}

#define GEN "%012" PRIu64

size_t
datadir_layout(const uint64_t *snaps, size_t nsnaps, const uint64_t *logs,
    size_t nlogs, char *problems, size_t n)
{
	size_t np = 0, i = 0;

	if (n > 0)
		problems[0] = '\0';
	if (nsnaps == 0 && nlogs == 0)
		return 0; /* a fresh start */
	uint64_t base = nsnaps > 0 ? snaps[nsnaps - 1] : 0, want = base;
	while (i < nlogs && logs[i] < base)
		i++; /* kept for readers of the log, or obsolete: not loaded */
	if (i == nlogs) {
		/* Only possible with a snapshot: without one, base is 0. */
		problem(problems, n, &np,
		    "changes-" GEN ".log is missing: "
		    "snapshot-" GEN ".db has no change log after it",
		    base, base);
		return np;
	}
	for (; i < nlogs; want = logs[i] + 1, i++) {
		if (logs[i] == want)
			continue;
		if (want == base && nsnaps == 0)
			problem(problems, n, &np,
			    "snapshot-" GEN ".db is "
			    "missing: changes-" GEN
			    ".log continues from it (a "
			    "directory that never had a snapshot starts with "
			    "changes-" GEN ".log)",
			    logs[i], logs[i], (uint64_t) 0);
		else if (want == base)
			problem(problems, n, &np,
			    "changes-" GEN ".log is "
			    "missing: snapshot-" GEN ".db is followed by "
			    "changes-" GEN ".log",
			    want, base, logs[i]);
		else
			problem(problems, n, &np,
			    "changes-" GEN ".log is "
			    "missing: changes-" GEN ".log is followed by "
			    "changes-" GEN ".log",
			    want, want - 1, logs[i]);
	}
	return np;
}
