/*
 * repl_boot.c - a replica's bootstrap (repl.h): the primary's snapshot,
 * read with SnapshotFetch into a temp file of the data directory, made
 * the directory's state.
 *
 * Order, so that a crash at any step leaves a directory that loads: the
 * snapshot is written whole to snapshot-G.db.PID.tmp (G above every
 * generation there) and synced; then an empty changes-G.log is created
 * (the logs before it still continue the old state, so the directory is
 * still the old one plus an empty log); then the temp file is renamed to
 * snapshot-G.db, which makes G the state; then the term history is
 * written and the older files are removed. The loader then checks the
 * snapshot like any other (checksums, references).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datadir.h"
#include "fs_errors.h"
#include "fs_log.h"
#include "fs_util.h"
#include "logwriter.h"
#include "repl.h"
#include "terms.h"

#define BOOT_CHUNK (1u << 20)
#define BOOT_TRIES 5

/* Removes every snapshot and log of a generation below gen (all: gen
 * UINT64_MAX), and the term history when terms is set. */
static void
remove_older(datadir *dd, const char *dir, uint64_t gen)
{
	datadir_gens g;
	char name[DATADIR_NAME_MAX];

	if (datadir_scan(dd->dirfd, dir, &g) == FS_OK) {
		for (size_t i = 0; i < g.nsnaps; i++)
			if (g.snaps[i] < gen) {
				datadir_name(name, sizeof(name),
				    DATADIR_SNAPSHOT, g.snaps[i]);
				unlinkat(dd->dirfd, name, 0);
			}
		for (size_t i = 0; i < g.nlogs; i++)
			if (g.logs[i] < gen) {
				datadir_name(name, sizeof(name), DATADIR_LOG,
				    g.logs[i]);
				unlinkat(dd->dirfd, name, 0);
			}
	}
	datadir_gens_free(&g);
	(void) datadir_sync(dd->dirfd);
}

/* One SnapshotFetch call, retried a few times on a transport failure.
 * Returns the code; *out the reply message (caller frees) on FS_OK. */
static int
fetch(fs_client *c, uint64_t session, uint64_t off,
    Flowsvc__SnapshotFetchReply **out, char *why, size_t n)
{
	Flowsvc__SnapshotFetchRequest m =
	    FLOWSVC__SNAPSHOT_FETCH_REQUEST__INIT;
	fs_call_opts co = {0};
	int code = FS_UNAVAILABLE;

	m.has_session = m.has_offset = m.has_max_bytes = 1;
	m.session = session;
	m.offset = off;
	m.max_bytes = BOOT_CHUNK;
	co.timeout_ms = 10000;
	co.request_id = "bootstrap";
	*out = NULL;
	for (int i = 0; i < BOOT_TRIES; i++) {
		Flowsvc__Reply *rep = NULL;
		code = fs_client_call(c, FLOWSVC__METHOD__SNAPSHOT_FETCH,
		    &m.base, &co, &rep);
		if (code == FS_OK)
			*out = (Flowsvc__SnapshotFetchReply *)
			    fs_reply_payload(rep,
			        &flowsvc__snapshot_fetch_reply__descriptor);
		if (code != FS_OK || *out == NULL)
			snprintf(why, n, "SnapshotFetch: %s%s%s",
			    fs_code_name(code == FS_OK ? FS_INTERNAL : code),
			    rep != NULL && rep->message ? ": " : "",
			    rep != NULL && rep->message ? rep->message : "");
		if (rep != NULL)
			flowsvc__reply__free_unpacked(rep, NULL);
		if (code == FS_OK && *out != NULL)
			return FS_OK;
		if (code == FS_OK)
			return FS_INTERNAL;
		if (code != FS_UNAVAILABLE && code != FS_DEADLINE_EXCEEDED)
			return code;
		usleep(200000u << i);
	}
	return code;
}

static int
write_all(int fd, const uint8_t *b, size_t len)
{
	while (len > 0) {
		ssize_t k = write(fd, b, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += k;
		len -= (size_t) k;
	}
	return 0;
}

/* Copies the snapshot into dd as the temp file tmp; *first gets the
 * first reply (revision, terms: caller frees). 0 or -1 with why. */
static int
copy_snapshot(fs_client *c, datadir *dd, const char *tmp,
    Flowsvc__SnapshotFetchReply **first, char *why, size_t n)
{
	Flowsvc__SnapshotFetchReply *r;
	uint64_t session, off = 0;
	int fd;

	if (fetch(c, 0, 0, first, why, n) != FS_OK)
		return -1;
	r = *first;
	if (r->none)
		return 0;
	session = r->session;
	fd = openat(dd->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	if (fd < 0) {
		snprintf(why, n, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	for (;;) {
		if (r->offset != off || !r->has_data ||
		    r->revision != (*first)->revision) {
			snprintf(why, n,
			    "SnapshotFetch answered out of order");
			goto fail;
		}
		if (write_all(fd, r->data.data, r->data.len) != 0) {
			snprintf(why, n, "%s: %s", tmp, strerror(errno));
			goto fail;
		}
		off += r->data.len;
		int done = r->done || r->data.len == 0;
		if (r != *first)
			flowsvc__snapshot_fetch_reply__free_unpacked(r, NULL);
		r = NULL;
		if (done)
			break;
		if (fetch(c, session, off, &r, why, n) != FS_OK)
			goto fail;
	}
	if (off != (*first)->size) {
		snprintf(why, n,
		    "the snapshot ended at %" PRIu64 " bytes of %" PRIu64, off,
		    (*first)->size);
		goto fail;
	}
	if (fsync(fd) != 0) {
		snprintf(why, n, "%s: fsync: %s", tmp, strerror(errno));
		goto fail;
	}
	close(fd);
	return 0;
fail:
	if (r != NULL && r != *first)
		flowsvc__snapshot_fetch_reply__free_unpacked(r, NULL);
	close(fd);
	unlinkat(dd->dirfd, tmp, 0);
	return -1;
}

int
repl_bootstrap(const char *dir, const char *url, const fs_client_tls *tls,
    char *why, size_t n)
{
	Flowsvc__SnapshotFetchReply *first = NULL;
	fs_client *c = NULL;
	datadir dd;
	datadir_gens g;
	char tmp[DATADIR_NAME_MAX + 32], name[DATADIR_NAME_MAX];
	char lwhy[512];
	uint64_t gen = 0;
	int64_t t0 = fs_now_ms();
	int rv = -1;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		snprintf(why, n, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (datadir_open(&dd, dir, lwhy, sizeof(lwhy)) != 0) {
		snprintf(why, n, "%s", lwhy);
		return -1;
	}
	if (fs_client_open_tls(&c, url, tls) != FS_OK) {
		snprintf(why, n, "%s: %s", url, fs_client_last_error());
		datadir_close(&dd);
		return -1;
	}
	if (datadir_scan(dd.dirfd, dir, &g) == FS_OK) {
		if (g.nsnaps > 0 && g.snaps[g.nsnaps - 1] + 1 > gen)
			gen = g.snaps[g.nsnaps - 1] + 1;
		if (g.nlogs > 0 && g.logs[g.nlogs - 1] + 1 > gen)
			gen = g.logs[g.nlogs - 1] + 1;
	}
	datadir_gens_free(&g);
	if (gen == 0)
		gen = 1;
	datadir_name(name, sizeof(name), DATADIR_SNAPSHOT, gen);
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", name, (long) getpid());
	if (copy_snapshot(c, &dd, tmp, &first, why, n) != 0)
		goto out;
	uint64_t rev = first->none ? 0 : first->revision;
	if (first->none) {
		/* Nothing to copy: the primary's logs start at revision 1,
		 * and the replica follows them from there. */
		remove_older(&dd, dir, UINT64_MAX);
	} else {
		persist_error pe;
		int fd = logwriter_create_log(&dd, dir, gen, 1, &pe);
		if (fd < 0) {
			snprintf(why, n, "%s", pe.what);
			unlinkat(dd.dirfd, tmp, 0);
			goto out;
		}
		close(fd);
		if (renameat(dd.dirfd, tmp, dd.dirfd, name) != 0 ||
		    datadir_sync(dd.dirfd) != 0) {
			snprintf(why, n, "%s: %s", name, strerror(errno));
			goto out;
		}
		remove_older(&dd, dir, gen);
	}
	if (terms_write_dir(dir,
	        (const Flowsvc__TermStart *const *) first->terms,
	        first->n_terms, rev, first->term) != 0) {
		snprintf(why, n, "%s/" TERMS_FILE ": %s", dir,
		    strerror(errno));
		goto out;
	}
	fs_log(FS_LOG_INFO, NULL,
	    "replica: bootstrapped from %s: %s at revision %" PRIu64
	    " (%" PRIu64 " bytes) in %.0f ms",
	    url,
	    first->none ? "no snapshot there, following from the start"
	                : "its snapshot",
	    rev, first->size, (double) (fs_now_ms() - t0));
	rv = 0;
out:
	if (first != NULL)
		flowsvc__snapshot_fetch_reply__free_unpacked(first, NULL);
	fs_client_close(c);
	datadir_close(&dd);
	return rv;
}
