/*
 * terms.c - the term history and its file (terms.h).
 */
#include "terms.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datadir.h"

typedef struct term_ent {
	uint64_t term, first;
} term_ent;

struct terms {
	pthread_mutex_t mu;
	char *dir; /* NULL: memory only */
	term_ent *e;
	size_t n;
	uint64_t known;
};

/* The term of rev in e (n entries, ascending). */
static uint64_t
term_in(const term_ent *e, size_t n, uint64_t rev)
{
	uint64_t t = 1;

	for (size_t i = 0; i < n && e[i].first <= rev; i++)
		t = e[i].term;
	return t;
}

/* Writes e (n) and known as dir/terms: temp file, fsync, rename, fsync
 * of the directory. 0 or -1 with errno. */
static int
save(const char *dir, const term_ent *e, size_t n, uint64_t known)
{
	char tmp[4096], path[4096];
	FILE *f;
	int fd, rv = 0;

	if (dir == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/" TERMS_FILE, dir);
	snprintf(tmp, sizeof(tmp), "%s/" TERMS_FILE ".%ld.tmp", dir,
	    (long) getpid());
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(f, "known %" PRIu64 "\n", known);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%" PRIu64 " %" PRIu64 "\n", e[i].term, e[i].first);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rv = -1;
	if (fclose(f) != 0)
		rv = -1;
	if (rv == 0 && rename(tmp, path) != 0)
		rv = -1;
	if (rv != 0) {
		int e2 = errno;
		unlink(tmp);
		errno = e2;
		return -1;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		rv = datadir_sync(fd);
		close(fd);
	}
	return rv;
}

int
terms_open(terms **out, const char *dir, char *why, size_t n)
{
	terms *t = calloc(1, sizeof(*t));
	char path[4096], line[128];
	FILE *f;

	if (t == NULL || (dir != NULL && (t->dir = strdup(dir)) == NULL)) {
		free(t);
		snprintf(why, n, "out of memory");
		return -1;
	}
	pthread_mutex_init(&t->mu, NULL);
	t->known = 1;
	*out = t;
	if (dir == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/" TERMS_FILE, dir);
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(why, n, "%s: %s", path, strerror(errno));
		terms_free(t);
		return -1;
	}
	unsigned long lineno = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		uint64_t a, b;
		lineno++;
		if (sscanf(line, "known %" SCNu64, &a) == 1) {
			if (a > t->known)
				t->known = a;
			continue;
		}
		if (sscanf(line, "%" SCNu64 " %" SCNu64, &a, &b) != 2 ||
		    a == 0 || b == 0 || t->n >= TERMS_MAX ||
		    (t->n > 0 &&
		        (a <= t->e[t->n - 1].term ||
		            b < t->e[t->n - 1].first))) {
			snprintf(why, n,
			    "%s line %lu: not a term history entry "
			    "(TERM FIRST_REVISION, both ascending)",
			    path, lineno);
			fclose(f);
			terms_free(t);
			return -1;
		}
		term_ent *ne = realloc(t->e, (t->n + 1) * sizeof(*ne));
		if (ne == NULL) {
			snprintf(why, n, "out of memory");
			fclose(f);
			terms_free(t);
			return -1;
		}
		t->e = ne;
		t->e[t->n].term = a;
		t->e[t->n].first = b;
		t->n++;
		if (a > t->known)
			t->known = a;
	}
	fclose(f);
	return 0;
}

void
terms_free(terms *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->mu);
	free(t->e);
	free(t->dir);
	free(t);
}

uint64_t
terms_of(terms *t, uint64_t rev)
{
	pthread_mutex_lock(&t->mu);
	uint64_t v = term_in(t->e, t->n, rev);
	pthread_mutex_unlock(&t->mu);
	return v;
}

uint64_t
terms_last(terms *t)
{
	pthread_mutex_lock(&t->mu);
	uint64_t v = t->n > 0 ? t->e[t->n - 1].term : 1;
	pthread_mutex_unlock(&t->mu);
	return v;
}

uint64_t
terms_known(terms *t)
{
	pthread_mutex_lock(&t->mu);
	uint64_t v = t->known;
	pthread_mutex_unlock(&t->mu);
	return v;
}

int
terms_learn(terms *t, uint64_t term)
{
	int rv = 0;

	pthread_mutex_lock(&t->mu);
	if (term > t->known) {
		uint64_t old = t->known;
		t->known = term;
		rv = 1;
		if (save(t->dir, t->e, t->n, t->known) != 0) {
			t->known = old;
			rv = -1;
		}
	}
	pthread_mutex_unlock(&t->mu);
	return rv;
}

int
terms_begin(terms *t, uint64_t term, uint64_t first)
{
	int rv = -1;

	pthread_mutex_lock(&t->mu);
	uint64_t last = t->n > 0 ? t->e[t->n - 1].term : 1;
	if (term > last && t->n < TERMS_MAX) {
		term_ent *ne = realloc(t->e, (t->n + 1) * sizeof(*ne));
		if (ne != NULL) {
			t->e = ne;
			/* An entry that begins where the last one does
			 * replaces it: that term made no change. */
			size_t at = t->n;
			if (at > 0 && t->e[at - 1].first >= first)
				at--;
			term_ent old = t->e[at];
			size_t oldn = t->n;
			uint64_t oldk = t->known;
			t->e[at].term = term;
			t->e[at].first = first;
			t->n = at + 1;
			if (term > t->known)
				t->known = term;
			if (save(t->dir, t->e, t->n, t->known) == 0) {
				rv = 0;
			} else {
				t->e[at] = old;
				t->n = oldn;
				t->known = oldk;
			}
		}
	}
	pthread_mutex_unlock(&t->mu);
	return rv;
}

/* Copies list (n) into a new array, without the entries above upto.
 * NULL when out of memory (or when there are none: *m = 0). */
static term_ent *
entries_of(const Flowsvc__TermStart *const *list, size_t n, uint64_t upto,
    size_t *m)
{
	term_ent *e = n > 0 ? calloc(n, sizeof(*e)) : NULL;

	*m = 0;
	if (e == NULL)
		return NULL;
	for (size_t i = 0; i < n && *m < TERMS_MAX; i++) {
		if (list[i]->first_revision > upto || list[i]->term == 0 ||
		    (*m > 0 && list[i]->term <= e[*m - 1].term))
			continue;
		e[*m].term = list[i]->term;
		e[*m].first = list[i]->first_revision;
		(*m)++;
	}
	return e;
}

int
terms_replace(terms *t, const Flowsvc__TermStart *const *list, size_t n,
    uint64_t upto, uint64_t known)
{
	size_t m;
	term_ent *e = entries_of(list, n, upto, &m);

	if (e == NULL && n > 0)
		return -1;
	pthread_mutex_lock(&t->mu);
	uint64_t k = t->known > known ? t->known : known;
	for (size_t i = 0; i < m; i++)
		if (e[i].term > k)
			k = e[i].term;
	int rv = save(t->dir, e, m, k);
	if (rv == 0) {
		free(t->e);
		t->e = e;
		t->n = m;
		t->known = k;
		e = NULL;
	}
	pthread_mutex_unlock(&t->mu);
	free(e);
	return rv;
}

int
terms_write_dir(const char *dir, const Flowsvc__TermStart *const *list,
    size_t n, uint64_t upto, uint64_t known)
{
	size_t m;
	term_ent *e = entries_of(list, n, upto, &m);

	if (e == NULL && n > 0)
		return -1;
	for (size_t i = 0; i < m; i++)
		if (e[i].term > known)
			known = e[i].term;
	int rv = save(dir, e, m, known < 1 ? 1 : known);
	free(e);
	return rv;
}

int
terms_get(terms *t, terms_list *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_lock(&t->mu);
	size_t n = t->n;
	if (n > 0) {
		l->items = calloc(n, sizeof(*l->items));
		l->ptrs = calloc(n, sizeof(*l->ptrs));
		if (l->items == NULL || l->ptrs == NULL) {
			pthread_mutex_unlock(&t->mu);
			terms_list_free(l);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			flowsvc__term_start__init(&l->items[i]);
			l->items[i].term = t->e[i].term;
			l->items[i].first_revision = t->e[i].first;
			l->ptrs[i] = &l->items[i];
		}
	}
	l->n = n;
	pthread_mutex_unlock(&t->mu);
	return (int) n;
}

void
terms_list_free(terms_list *l)
{
	free(l->items);
	free(l->ptrs);
	memset(l, 0, sizeof(*l));
}

uint64_t
terms_fork(terms *t, uint64_t mine_rev, const Flowsvc__TermStart *const *list,
    size_t n, uint64_t theirs_rev)
{
	uint64_t upto = mine_rev < theirs_rev ? mine_rev : theirs_rev;
	size_t m;
	term_ent *theirs = entries_of(list, n, UINT64_MAX, &m);

	pthread_mutex_lock(&t->mu);
	/* The terms are constant between boundaries: compare them at 1 and
	 * at every revision where either history starts a term. */
	uint64_t f = upto;
	uint64_t at = 1;
	for (;;) {
		if (at > upto)
			break;
		if (term_in(t->e, t->n, at) != term_in(theirs, m, at)) {
			f = at - 1;
			break;
		}
		uint64_t next = UINT64_MAX;
		for (size_t i = 0; i < t->n; i++)
			if (t->e[i].first > at && t->e[i].first < next)
				next = t->e[i].first;
		for (size_t i = 0; i < m; i++)
			if (theirs[i].first > at && theirs[i].first < next)
				next = theirs[i].first;
		at = next;
	}
	pthread_mutex_unlock(&t->mu);
	free(theirs);
	return f;
}
