/*
 * fuzz_persist_load.c - the snapshot and change-log loaders on hostile
 * files.
 *
 * Input: a 2-byte big-endian length, that many bytes of snapshot, and the
 * rest as the change log of the same generation, 1 (a length of 0xffff:
 * no snapshot at all, only the log of generation 0, as a data directory
 * that never had a snapshot). Both are written into a scratch data
 * directory and checked with persist_check_dir, which validates every file
 * as the loader at start-up does (format versions 1 and 2, the revisions
 * following on) and replays the records into a store. The seeds hold both
 * versions.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persist.h"
#include "svc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[PATH_MAX];
static char snap_path[PATH_MAX + 32], log_path[PATH_MAX + 32],
    log0_path[PATH_MAX + 32];

static void
put(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || (n > 0 && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	persist_check ck;
	persist_error err;
	size_t n;

	if (dir[0] == '\0') {
		const char *tmp = getenv("TMPDIR");

		if ((size_t) snprintf(dir, sizeof(dir), "%s/fsfuzz.XXXXXX",
		        tmp ? tmp : "/tmp") >= sizeof(dir) ||
		    mkdtemp(dir) == NULL)
			abort();
		snprintf(snap_path, sizeof(snap_path),
		    "%s/snapshot-000000000001.db", dir);
		snprintf(log_path, sizeof(log_path),
		    "%s/changes-000000000001.log", dir);
		snprintf(log0_path, sizeof(log0_path),
		    "%s/changes-000000000000.log", dir);
	}
	if (size < 2)
		return 0;
	n = ((size_t) data[0] << 8) | data[1];
	data += 2;
	size -= 2;
	if (n != 0xffff) {
		if (n > size)
			n = size;
		put(snap_path, data, n);
		data += n;
		size -= n;
		put(log_path, data, size);
	} else {
		put(log0_path, data, size);
	}
	memset(&ck, 0, sizeof(ck));
	memset(&err, 0, sizeof(err));
	(void) persist_check_dir(dir, svc_apply, &ck, &err);
	(void) unlink(snap_path);
	(void) unlink(log_path);
	(void) unlink(log0_path);
	return 0;
}
