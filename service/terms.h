/*
 * terms.h - a backend's term history (CONTRACT §8): which term each
 * revision was made in, and the highest term the backend knows of.
 *
 * A term is the reign of one primary: 1 at first, +1 with every
 * promotion. Every change record carries the term of the primary that
 * made it (LogRecord.term), and within one term only one primary makes
 * changes, so two backends whose records of revision r have the same
 * term hold the same changes up to r. The history is a list of where
 * each term began (its first revision), ascending; before the first
 * entry every revision is of term 1 (a data directory from before terms
 * has no entry at all).
 *
 * Kept in the data directory as the text file "terms" ("known K" then
 * one "TERM FIRST_REVISION" line per entry), replaced whole (temp file,
 * fsync, rename, fsync of the directory) before any record of a new term
 * is written, so the file always covers the log. Entries may name a first
 * revision past the last record (written before a crash took the record):
 * harmless, as lookups are for revisions a backend has.
 *
 * Thread-safe: a mutex of its own.
 */
#ifndef SERVICE_TERMS_H
#define SERVICE_TERMS_H

#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"

#define TERMS_FILE "terms"
#define TERMS_MAX 4096 /* entries kept; a promotion a minute for 3 days */

typedef struct terms terms;

/* Loads dir's history (dir NULL: in memory only; no file: empty).
 * Returns 0, or -1 with a one-line reason in why. */
int terms_open(terms **out, const char *dir, char *why, size_t n);
void terms_free(terms *t);

/* The term of revision rev. */
uint64_t terms_of(terms *t, uint64_t rev);

/* The term of the newest entry (1 when none): what a primary writes. */
uint64_t terms_last(terms *t);

/* The highest term known: at least terms_last. */
uint64_t terms_known(terms *t);

/* Notes that term exists. Returns 1 when it is higher than any known
 * before (saved), 0 when not, -1 when it could not be saved. */
int terms_learn(terms *t, uint64_t term);

/* Term `term` (above terms_last) begins at revision first: saved before
 * it returns. Returns 0 or -1 (not saved: nothing changed). */
int terms_begin(terms *t, uint64_t term, uint64_t first);

/* Replaces the history with n entries of list (ascending), dropping those
 * whose first revision is above upto, and sets known to at least known.
 * Saved. Returns 0 or -1. */
int terms_replace(terms *t, const Flowsvc__TermStart *const *list, size_t n,
    uint64_t upto, uint64_t known);

/* The history as TermStart messages: *out (n of them, pointers into
 * items), both allocated; free with terms_list_free. Returns the count,
 * or -1 when out of memory. */
typedef struct terms_list {
	Flowsvc__TermStart *items;
	Flowsvc__TermStart **ptrs;
	size_t n;
} terms_list;
int terms_get(terms *t, terms_list *l);
void terms_list_free(terms_list *l);

/* Where two histories part: the highest revision f, at most
 * min(mine_rev, theirs_rev), such that every revision up to f has the
 * same term in both (mine: t; theirs: list of n). The changes of mine
 * above f are not in theirs. */
uint64_t terms_fork(terms *t, uint64_t mine_rev,
    const Flowsvc__TermStart *const *list, size_t n, uint64_t theirs_rev);

/* Writes a history file into dir (for a bootstrap, before the backend
 * opens dir): as terms_replace on an empty history. Returns 0 or -1
 * with errno. */
int terms_write_dir(const char *dir, const Flowsvc__TermStart *const *list,
    size_t n, uint64_t upto, uint64_t known);

#endif
