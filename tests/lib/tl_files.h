/*
 * tl_files.h - files and directories for tests: scratch directories (made
 * fresh, removed whole), reading a file or counting its lines, the tail of
 * a program's log for a failure message, and the small edits tests make on
 * purpose (write a file, flip one byte).
 */
#ifndef TESTS_TL_FILES_H
#define TESTS_TL_FILES_H

#include <limits.h>
#include <stddef.h>

/* Creates a fresh directory under $TMPDIR (or /tmp). Returns 0 and writes
 * its path into out (size PATH_MAX), or -1 with errno. */
int fs_test_mkdtemp(char out[PATH_MAX], const char *prefix);

/* Removes dir and everything below it. Returns 0 or -1. */
int fs_test_rmtree(const char *dir);

/* Reads a whole file, NUL-terminated (it may hold NULs before *len).
 * Returns it (caller frees) and its size in *len (len may be NULL), or
 * NULL when it cannot. */
char *fs_file_read(const char *path, size_t *len);

/* How many lines of a text file contain needle (0 when unreadable). */
int fs_file_count(const char *path, const char *needle);

/* Prints the last max_lines lines of a log file to stderr, framed. */
void fs_test_dump_log(const char *title, const char *path, int max_lines);

/* The size of path in bytes, or -1 when it cannot be stat'ed. */
long long fs_file_size(const char *path);

/* Replaces path's content with text (created when missing). Returns 0 or
 * -1. */
int fs_file_write(const char *path, const char *text);

/* Inverts every bit of the byte at offset off, in place. Returns 0, or -1
 * when the file cannot be opened or has no byte there. */
int fs_file_flip_byte(const char *path, long long off);

#endif
