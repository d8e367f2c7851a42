/* service/rules.c on its own: the bounded violation list (cap, count of
 * the rest, moves between lists), the duplicate checks that replaced the
 * pairwise scans (same item named as before), and the `flows` ids parsed
 * ahead of the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "rules.h"
#include "testlib.h"

static const char *
first_msg(const rules_viol *v, const char *field)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i]->field, field) == 0 &&
		    v->v[i]->n_messages > 0)
			return v->v[i]->messages[0];
	return "";
}

static size_t
messages(const rules_viol *v)
{
	size_t n = 0;

	for (size_t i = 0; i < v->n; i++)
		n += v->v[i]->n_messages;
	return n;
}

static void
test_viol_cap_and_count(void)
{
	rules_viol v = {0};
	char f[32];

	for (int i = 0; i < 150; i++) {
		snprintf(f, sizeof(f), "k%d", i);
		rules_viol_add(&v, f, "Unknown field.");
	}
	FS_ASSERT_INT_EQ(v.n, RULES_VIOL_MAX);
	FS_ASSERT_INT_EQ(messages(&v), RULES_VIOL_MAX);
	FS_ASSERT_INT_EQ(v.dropped, 50);
	FS_CHECK(rules_viol_any(&v), "any");
	FS_CHECK(rules_viol_has(&v, "k99") && !rules_viol_has(&v, "k100"),
	    "the first 100 are kept");
	rules_viol_close(&v);
	FS_ASSERT_INT_EQ(v.n, RULES_VIOL_MAX + 1);
	FS_ASSERT_STR_EQ(v.v[v.n - 1]->field, "non_field_errors");
	FS_ASSERT_STR_EQ(first_msg(&v, "non_field_errors"),
	    "50 more errors not listed.");
	rules_viol_close(&v); /* once only */
	FS_ASSERT_INT_EQ(v.n, RULES_VIOL_MAX + 1);
	rules_viol_fini(&v);
	FS_CHECK(v.n == 0 && v.v == NULL && !rules_viol_any(&v),
	    "fini empties");

	/* Messages of one field count too; one over says "error". */
	for (int i = 0; i < RULES_VIOL_MAX + 1; i++)
		rules_viol_add(&v, "x", "m%d", i);
	FS_ASSERT_INT_EQ(v.n, 1);
	rules_viol_close(&v);
	FS_ASSERT_STR_EQ(first_msg(&v, "non_field_errors"),
	    "1 more error not listed.");
	rules_viol_fini(&v);

	/* Under the limit nothing is added. */
	rules_viol_add(&v, "name", "This field is required.");
	rules_viol_close(&v);
	FS_ASSERT_INT_EQ(v.n, 1);
	rules_viol_fini(&v);
}

static void
test_viol_move(void)
{
	rules_viol a = {0}, b = {0};

	rules_viol_add(&a, "flows", "f1");
	rules_viol_add(&b, "zeta", "z1");
	rules_viol_add(&b, "flows", "f2");
	rules_viol_move(&a, &b);
	FS_CHECK(b.n == 0 && b.v == NULL, "src emptied");
	FS_ASSERT_INT_EQ(a.n, 2);
	FS_ASSERT_STR_EQ(a.v[0]->field, "flows");
	FS_ASSERT_INT_EQ(a.v[0]->n_messages, 2);
	FS_ASSERT_STR_EQ(a.v[0]->messages[1], "f2");
	FS_ASSERT_STR_EQ(a.v[1]->field, "zeta");
	rules_viol_fini(&a);

	/* The limit holds across a move, and counts carry over. */
	for (int i = 0; i < 90; i++)
		rules_viol_add(&a, "a", "m");
	for (int i = 0; i < 130; i++)
		rules_viol_add(&b, "b", "m");
	FS_ASSERT_INT_EQ(b.dropped, 30);
	rules_viol_move(&a, &b);
	FS_ASSERT_INT_EQ(messages(&a), RULES_VIOL_MAX);
	FS_ASSERT_INT_EQ(a.dropped, 120);
	rules_viol_close(&a);
	FS_ASSERT_STR_EQ(first_msg(&a, "non_field_errors"),
	    "120 more errors not listed.");
	rules_viol_fini(&a);
}

/* A StringList over items (borrowed). */
static Flowsvc__StringList
list_of(char **items, size_t n)
{
	Flowsvc__StringList l = FLOWSVC__STRING_LIST__INIT;

	l.items = items;
	l.n_items = n;
	return l;
}

static void
test_fields_duplicates(void)
{
	rules_viol v = {0};
	char *small[] = {"a", "b", "c", "b", "a"};
	Flowsvc__StringList l = list_of(small, 5);

	/* The pairwise scan named the first item equal to an earlier one:
	 * "b" (index 3), not "a" (which repeats at index 4). */
	FS_CHECK(rules_fields(&v, "input_fields", &l) == -1, "refused");
	FS_ASSERT_STR_EQ(first_msg(&v, "input_fields"), "Duplicate item \"b\".");
	rules_viol_fini(&v);

	/* 1000 distinct items pass; two repeats: the earlier repeat wins. */
	static char buf[1000][8];
	char *items[1000];
	for (int i = 0; i < 1000; i++) {
		snprintf(buf[i], sizeof(buf[i]), "f%03d", i);
		items[i] = buf[i];
	}
	l = list_of(items, 1000);
	FS_CHECK(rules_fields(&v, "output_fields", &l) == 0 && v.n == 0,
	    "1000 distinct items");
	items[900] = buf[100];
	items[700] = buf[300];
	FS_CHECK(rules_fields(&v, "output_fields", &l) == -1, "refused");
	FS_ASSERT_STR_EQ(first_msg(&v, "output_fields"),
	    "Duplicate item \"f300\".");
	rules_viol_fini(&v);

	/* Over the limit: that message only. */
	char *many[1001];
	for (int i = 0; i < 1001; i++)
		many[i] = "same";
	l = list_of(many, 1001);
	FS_CHECK(rules_fields(&v, "input_fields", &l) == -1, "refused");
	FS_ASSERT_STR_EQ(first_msg(&v, "input_fields"),
	    "Ensure this field has no more than 1000 elements.");
	FS_ASSERT_INT_EQ(v.n, 1);
	rules_viol_fini(&v);
}

static void
test_ids_prepare(void)
{
	rules_ids ids;
	char *items[] = {
	    "11111111-2222-4333-8444-555555555555",
	    "not-a-uuid",
	    "AAAAAAAA-2222-4333-8444-555555555555",
	    "11111111-2222-4333-8444-555555555555",
	    "aaaaaaaa-2222-4333-8444-555555555555",
	    "",
	};
	Flowsvc__StringList l = list_of(items, 6);

	FS_CHECK(rules_ids_prepare(&ids, &l) == 0, "prepare");
	FS_ASSERT_INT_EQ(ids.n, 6);
	FS_ASSERT_INT_EQ(ids.too_many, 0);
	FS_ASSERT_INT_EQ(ids.state[0], RULES_ID_OK);
	FS_ASSERT_INT_EQ(ids.state[1], RULES_ID_BAD);
	FS_ASSERT_INT_EQ(ids.state[2], RULES_ID_OK);
	FS_ASSERT_INT_EQ(ids.state[3], RULES_ID_DUP);
	/* Ids match case-insensitively: the lower-case one repeats [2]. */
	FS_ASSERT_INT_EQ(ids.state[4], RULES_ID_DUP);
	FS_ASSERT_INT_EQ(ids.state[5], RULES_ID_BAD);
	FS_ASSERT_STR_EQ(ids.canon[2], "aaaaaaaa-2222-4333-8444-555555555555");
	rules_ids_fini(&ids);

	/* Absent, empty, and over the limit. */
	FS_CHECK(rules_ids_prepare(&ids, NULL) == 0 && ids.n == 0 &&
	        !ids.too_many,
	    "absent");
	rules_ids_fini(&ids);
	char *many[RULES_FLOWS_MAX + 1];
	for (int i = 0; i <= RULES_FLOWS_MAX; i++)
		many[i] = items[0];
	l = list_of(many, RULES_FLOWS_MAX + 1);
	FS_CHECK(rules_ids_prepare(&ids, &l) == 0 && ids.too_many &&
	        ids.n == 0 && ids.state == NULL,
	    "too many");
	rules_ids_fini(&ids);

	/* 1000 copies of one id: every one after the first repeats it. */
	l = list_of(many, RULES_FLOWS_MAX);
	FS_CHECK(rules_ids_prepare(&ids, &l) == 0, "prepare");
	int dups = 0;
	for (size_t i = 0; i < ids.n; i++)
		dups += ids.state[i] == RULES_ID_DUP;
	FS_ASSERT_INT_EQ(ids.state[0], RULES_ID_OK);
	FS_ASSERT_INT_EQ(dups, RULES_FLOWS_MAX - 1);
	rules_ids_fini(&ids);
}

static void
test_unknown_many(void)
{
	/* A body's worth of unknown keys: listed up to the limit, counted
	 * after it. */
	enum { N = 200000 };
	char **f = malloc(N * sizeof(*f));
	char *buf = malloc((size_t) N * 8);
	rules_viol v = {0};

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	for (int i = 0; i < N; i++) {
		f[i] = buf + (size_t) i * 8;
		snprintf(f[i], 8, "k%d", i);
	}
	rules_unknown(&v, f, N, 0);
	FS_ASSERT_INT_EQ(v.n, RULES_VIOL_MAX);
	FS_ASSERT_INT_EQ(v.dropped, N - RULES_VIOL_MAX);
	FS_ASSERT_STR_EQ(first_msg(&v, "k0"), "Unknown field.");
	rules_viol_fini(&v);
	/* Keys the gateway only counted add to the count. */
	rules_unknown(&v, f, 150, 1000);
	FS_ASSERT_INT_EQ(v.dropped, 1050);
	rules_viol_fini(&v);
	rules_mistyped(&v, f, 2);
	FS_ASSERT_STR_EQ(first_msg(&v, "k1"), "Expected a list of strings.");
	rules_viol_fini(&v);
	free(buf);
	free(f);
}

static CU_TestInfo tests[] = {
    {"violations: the limit and the count of the rest",
        test_viol_cap_and_count},
    {"violations: moved in order, merged, limit kept", test_viol_move},
    {"fields: duplicates named as the pairwise scan did",
        test_fields_duplicates},
    {"flows ids: syntax, case, repeats, limit", test_ids_prepare},
    {"unknown keys: 200,000 listed to the limit", test_unknown_many},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"rules", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
