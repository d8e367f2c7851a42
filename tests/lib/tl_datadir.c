/*
 * tl_datadir.c - see tl_datadir.h.
 */
#include "tl_datadir.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_files.h"

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
	return x < y ? -1 : x > y;
}

static int
parse_gen(const char *name, const char *prefix, const char *ext, uint64_t *g)
{
	size_t pl = strlen(prefix), el = strlen(ext), nl = strlen(name);
	uint64_t v = 0;

	if (nl != pl + 12 + el || strncmp(name, prefix, pl) != 0 ||
	    strcmp(name + pl + 12, ext) != 0)
		return 0;
	for (size_t i = pl; i < pl + 12; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		v = v * 10 + (uint64_t) (name[i] - '0');
	}
	*g = v;
	return 1;
}

void
fs_gens_scan(const char *dir, fs_gens *g)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	memset(g, 0, sizeof(*g));
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		uint64_t v;
		size_t nl = strlen(e->d_name);
		if (nl > 4 && strcmp(e->d_name + nl - 4, ".tmp") == 0)
			g->ntmp++;
		else if (parse_gen(e->d_name, "snapshot-", ".db", &v) &&
		    g->nsnap < FS_GENS_MAX)
			g->snap[g->nsnap++] = v;
		else if (parse_gen(e->d_name, "changes-", ".log", &v) &&
		    g->nlog < FS_GENS_MAX)
			g->log[g->nlog++] = v;
	}
	closedir(d);
	qsort(g->snap, (size_t) g->nsnap, sizeof(uint64_t), cmp_u64);
	qsort(g->log, (size_t) g->nlog, sizeof(uint64_t), cmp_u64);
}

void
fs_gen_path(char *out, size_t n, const char *dir, const char *kind,
    uint64_t gen, const char *ext)
{
	snprintf(out, n, "%s/%s-%012" PRIu64 "%s", dir, kind, gen, ext);
}

const char *
fs_gens_str(const fs_gens *g, char *buf, size_t n)
{
	size_t k = (size_t) snprintf(buf, n, "snapshots [");
	for (int i = 0; i < g->nsnap && k < n; i++)
		k +=
		    (size_t) snprintf(buf + k, n - k, " %" PRIu64, g->snap[i]);
	if (k < n)
		k += (size_t) snprintf(buf + k, n - k, " ] logs [");
	for (int i = 0; i < g->nlog && k < n; i++)
		k += (size_t) snprintf(buf + k, n - k, " %" PRIu64, g->log[i]);
	if (k < n)
		snprintf(buf + k, n - k, " ] tmp %d", g->ntmp);
	return buf;
}

int
fs_log_records(const char *path, long long off[], long long len[], int max)
{
	size_t n;
	char *b = fs_file_read(path, &n);
	size_t o = FS_LOG_HEADER;
	int k = 0;

	if (b == NULL)
		return -1;
	while (o + FS_LOG_REC_HEADER <= n && k < max) {
		const unsigned char *u = (const unsigned char *) b + o;
		uint32_t rl = (uint32_t) u[0] | (uint32_t) u[1] << 8 |
		    (uint32_t) u[2] << 16 | (uint32_t) u[3] << 24;
		if (o + FS_LOG_REC_HEADER + rl > n)
			break;
		off[k] = (long long) o;
		len[k] = rl;
		k++;
		o += FS_LOG_REC_HEADER + rl;
	}
	free(b);
	return k;
}
