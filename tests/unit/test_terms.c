/*
 * test_terms.c - the term history (service/terms.h): lookups, where two
 * histories part, and its file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "terms.h"
#include "testlib.h"

static void
test_terms_lookup(void)
{
	terms *t;
	char why[256];

	FS_ASSERT_INT_EQ(terms_open(&t, NULL, why, sizeof(why)), 0);
	FS_ASSERT_INT_EQ(terms_of(t, 1), 1);
	FS_ASSERT_INT_EQ(terms_last(t), 1);
	FS_ASSERT_INT_EQ(terms_begin(t, 2, 11), 0);
	FS_ASSERT_INT_EQ(terms_begin(t, 2, 20), -1); /* not above the last */
	FS_ASSERT_INT_EQ(terms_begin(t, 5, 31), 0);
	FS_ASSERT_INT_EQ(terms_of(t, 10), 1);
	FS_ASSERT_INT_EQ(terms_of(t, 11), 2);
	FS_ASSERT_INT_EQ(terms_of(t, 30), 2);
	FS_ASSERT_INT_EQ(terms_of(t, 31), 5);
	FS_ASSERT_INT_EQ(terms_known(t), 5);
	FS_ASSERT_INT_EQ(terms_learn(t, 4), 0);
	FS_ASSERT_INT_EQ(terms_learn(t, 9), 1);
	FS_ASSERT_INT_EQ(terms_known(t), 9);
	FS_ASSERT_INT_EQ(terms_last(t), 5);
	terms_free(t);
}

static Flowsvc__TermStart *
ts(uint64_t term, uint64_t first)
{
	Flowsvc__TermStart *x = malloc(sizeof(*x));

	flowsvc__term_start__init(x);
	x->term = term;
	x->first_revision = first;
	return x;
}

/* Mine: term 1 up to 20 (a primary deposed at 20); theirs: term 2 from
 * 16 (a replica promoted at 15): they part after 15. */
static void
test_terms_fork(void)
{
	terms *t;
	char why[256];
	Flowsvc__TermStart *theirs[2] = {ts(2, 16), ts(4, 40)};

	FS_ASSERT_INT_EQ(terms_open(&t, NULL, why, sizeof(why)), 0);
	FS_ASSERT_INT_EQ(terms_fork(t, 20,
	                     (const Flowsvc__TermStart *const *) theirs, 1,
	                     30),
	    15);
	/* Theirs has not reached the fork: no more than it has. */
	FS_ASSERT_INT_EQ(terms_fork(t, 20,
	                     (const Flowsvc__TermStart *const *) theirs, 1,
	                     12),
	    12);
	/* The same history: everything in common up to the lower. */
	FS_ASSERT_INT_EQ(terms_fork(t, 20, NULL, 0, 50), 20);
	/* Mine went on in term 2 too, then term 3 from 25: common to 24. */
	FS_ASSERT_INT_EQ(terms_begin(t, 2, 16), 0);
	FS_ASSERT_INT_EQ(terms_begin(t, 3, 25), 0);
	FS_ASSERT_INT_EQ(terms_fork(t, 30,
	                     (const Flowsvc__TermStart *const *) theirs, 2,
	                     50),
	    24);
	terms_free(t);
	free(theirs[0]);
	free(theirs[1]);
}

/* The file: saved on every change, read back, a bad one refused. */
static void
test_terms_file(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], why[512];
	terms *t;

	FS_ASSERT_INT_EQ(fs_test_mkdtemp(dir, "flowsvc-terms"), 0);
	FS_ASSERT_INT_EQ(terms_open(&t, dir, why, sizeof(why)), 0);
	FS_ASSERT_INT_EQ(terms_begin(t, 3, 7), 0);
	FS_ASSERT_INT_EQ(terms_learn(t, 6), 1);
	terms_free(t);
	FS_ASSERT_INT_EQ(terms_open(&t, dir, why, sizeof(why)), 0);
	FS_ASSERT_INT_EQ(terms_of(t, 6), 1);
	FS_ASSERT_INT_EQ(terms_of(t, 7), 3);
	FS_ASSERT_INT_EQ(terms_known(t), 6);
	terms_free(t);
	snprintf(path, sizeof(path), "%s/terms", dir);
	FS_ASSERT_INT_EQ(fs_file_write(path, "known 2\n3 7\n2 9\n"), 0);
	FS_ASSERT_INT_EQ(terms_open(&t, dir, why, sizeof(why)), -1);
	FS_CHECK(strstr(why, "line 3") != NULL, "why: %s", why);
	fs_test_rmtree(dir);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"terms of revisions", test_terms_lookup},
	{"where two histories part", test_terms_fork},
	{"the history file", test_terms_file},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"terms", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
