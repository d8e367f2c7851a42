/*
 * tl_files.c - see tl_files.h.
 */
/* nftw is an XSI interface. */
#define _XOPEN_SOURCE 700

#include "tl_files.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

int
fs_test_mkdtemp(char out[PATH_MAX], const char *prefix)
{
	const char *tmp = getenv("TMPDIR");
	int n;

	if (tmp == NULL || *tmp == '\0') {
		tmp = "/tmp";
	}
	n = snprintf(out, PATH_MAX, "%s/%s.XXXXXX", tmp, prefix);
	if (n < 0 || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkdtemp(out) == NULL ? -1 : 0;
}

static int
rmtree_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int
fs_test_rmtree(const char *dir)
{
	return nftw(dir, rmtree_cb, 16, FTW_DEPTH | FTW_PHYS);
}

char *
fs_file_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t n = 0, cap = 0, got;

	if (f == NULL)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			char *nb = realloc(b, cap = cap * 2 + 8192);

			if (nb == NULL) {
				free(b);
				fclose(f);
				return NULL;
			}
			b = nb;
		}
		got = fread(b + n, 1, 4096, f);
		n += got;
	} while (got > 0);
	fclose(f);
	b[n] = '\0';
	if (len != NULL)
		*len = n;
	return b;
}

int
fs_file_count(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

void
fs_test_dump_log(const char *title, const char *path, int max_lines)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	size_t start;
	int lines = 0;
	int c;

	fprintf(stderr, "----- %s (%s) -----\n", title, path);
	if (f == NULL) {
		fprintf(stderr, "(cannot open: %s)\n", strerror(errno));
		return;
	}
	while ((c = fgetc(f)) != EOF) {
		if (len + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nb = realloc(buf, ncap);
			if (nb == NULL) {
				break;
			}
			buf = nb;
			cap = ncap;
		}
		buf[len++] = (char) c;
	}
	fclose(f);
	start = len;
	while (start > 0) {
		if (buf[start - 1] == '\n' && start != len &&
		    ++lines > max_lines) {
			break;
		}
		start--;
	}
	if (len > 0) {
		fwrite(buf + start, 1, len - start, stderr);
	}
	fprintf(stderr, "----- end of %s -----\n", title);
	free(buf);
}

long long
fs_file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long long) sb.st_size : -1;
}

int
fs_file_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	if (fputs(text, f) == EOF) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

int
fs_file_flip_byte(const char *path, long long off)
{
	int fd = open(path, O_RDWR);
	unsigned char b;
	int rv = -1;

	if (fd < 0)
		return -1;
	if (pread(fd, &b, 1, off) == 1) {
		b ^= 0xff;
		rv = pwrite(fd, &b, 1, off) == 1 ? 0 : -1;
	}
	close(fd);
	return rv;
}
