/* service/rules.c on its own: the bounded violation list (cap, count of
 * the rest, moves between lists), names and groups (characters, bounds,
 * absent and blank), field lists (item bounds, duplicates named as the
 * pairwise scans named them), the `flows` ids parsed ahead of the store,
 * keys a gateway could not map (unknown, mistyped), and the kind words
 * the messages use. */
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
	FS_ASSERT_STR_EQ(first_msg(&v, "input_fields"),
	    "Duplicate item \"b\".");
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

/* Exactly one message, on field, and it is want. */
static int
only_msg(const rules_viol *v, const char *field, const char *want,
    const char *file, int line)
{
	return fs_check(v->n == 1 && messages(v) == 1 &&
	        strcmp(v->v[0]->field, field) == 0 &&
	        strcmp(v->v[0]->messages[0], want) == 0,
	    file, line, want,
	    "expected only %s: \"%s\"; got %zu entries, "
	    "first %s: \"%s\"",
	    field, want, v->n, v->n ? v->v[0]->field : "(none)",
	    v->n ? first_msg(v, v->v[0]->field) : "");
}
#define ONLY_MSG(v, field, want)                                              \
	only_msg((v), (field), (want), __FILE__, __LINE__)

/* A string of n copies of ch (n < 512). */
static const char *
rep(char ch, size_t n)
{
	static char buf[4][512];
	static int k;
	char *b = buf[k++ % 4];

	memset(b, ch, n);
	b[n] = '\0';
	return b;
}

static void
test_names(void)
{
	static const char *const good[] = {"a", "A", "0", "_", "Flow_1",
	    "snake_case_99", NULL};
	static const char *const bad[] = {"a-b", "a b", "a.b", "caf\xc3\xa9",
	    "tab\t", "new\nline", "semi;colon", "x/y", NULL};
	const char *flow_bad =
	    "Invalid flow name. Flow name must contain only "
	    "alphanumeric characters and the underscore "
	    "character.";
	const char *app_bad = "Invalid app name. App name must contain only "
	                      "alphanumeric characters and the underscore "
	                      "character.";
	rules_viol v = {0};

	for (int i = 0; good[i] != NULL; i++) {
		FS_CHECK(rules_name(&v, good[i], FLOWSVC__KIND__FLOW) == 0 &&
		        v.n == 0,
		    "\"%s\" refused", good[i]);
		rules_viol_fini(&v);
	}
	FS_CHECK(rules_name(&v, rep('n', RULES_NAME_MAX),
	             FLOWSVC__KIND__APP) == 0 &&
	        !rules_viol_any(&v),
	    "a name of exactly %d characters refused", RULES_NAME_MAX);
	rules_viol_fini(&v);

	for (int i = 0; bad[i] != NULL; i++) {
		FS_CHECK(rules_name(&v, bad[i], FLOWSVC__KIND__FLOW) != 0,
		    "\"%s\" accepted", bad[i]);
		ONLY_MSG(&v, "name", flow_bad);
		rules_viol_fini(&v);
	}
	/* The message names the kind. */
	FS_CHECK(rules_name(&v, "a-b", FLOWSVC__KIND__APP) != 0, "refused");
	ONLY_MSG(&v, "name", app_bad);
	rules_viol_fini(&v);

	FS_CHECK(rules_name(&v, NULL, FLOWSVC__KIND__FLOW) != 0, "absent");
	ONLY_MSG(&v, "name", "This field is required.");
	rules_viol_fini(&v);
	FS_CHECK(rules_name(&v, "", FLOWSVC__KIND__APP) != 0, "blank");
	ONLY_MSG(&v, "name", "This field may not be blank.");
	rules_viol_fini(&v);
	FS_CHECK(rules_name(&v, rep('n', RULES_NAME_MAX + 1),
	             FLOWSVC__KIND__FLOW) != 0,
	    "too long");
	ONLY_MSG(&v, "name",
	    "Ensure this field has no more than 100 "
	    "characters.");
	rules_viol_fini(&v);
	/* Too long and a bad character: the character is named. */
	char longbad[RULES_NAME_MAX + 8];
	snprintf(longbad, sizeof(longbad), "%s-",
	    rep('n', RULES_NAME_MAX + 1));
	FS_CHECK(rules_name(&v, longbad, FLOWSVC__KIND__FLOW) != 0, "refused");
	ONLY_MSG(&v, "name", flow_bad);
	rules_viol_fini(&v);
}

static void
test_groups(void)
{
	static const char *const good[] = {"default", "team.a-1", "A_b.C-d",
	    "0", ".", "-", "_", NULL};
	static const char *const bad[] = {"", "a b", "a/b", "a:b",
	    "gr\xc3\xbcn", "a,b", "tab\t", NULL};
	const char *msg = "Invalid group. Group must be 1 to 100 characters "
	                  "from letters, digits, '_', '.' and '-'.";
	rules_viol v = {0};

	for (int i = 0; good[i] != NULL; i++) {
		FS_CHECK(rules_group(&v, good[i]) == 0 && v.n == 0,
		    "\"%s\" refused", good[i]);
		rules_viol_fini(&v);
	}
	FS_CHECK(rules_group(&v, rep('g', RULES_GROUP_MAX)) == 0 && v.n == 0,
	    "a group of exactly %d characters refused", RULES_GROUP_MAX);
	rules_viol_fini(&v);
	for (int i = 0; bad[i] != NULL; i++) {
		FS_CHECK(rules_group(&v, bad[i]) != 0, "\"%s\" accepted",
		    bad[i]);
		ONLY_MSG(&v, "group", msg);
		rules_viol_fini(&v);
	}
	FS_CHECK(rules_group(&v, rep('g', RULES_GROUP_MAX + 1)) != 0,
	    "too long");
	ONLY_MSG(&v, "group", msg);
	rules_viol_fini(&v);
}

static void
test_fields_bounds(void)
{
	const char *bounds = "Ensure every item has 1 to 255 characters.";
	char *items[3];
	Flowsvc__StringList l;
	rules_viol v = {0};

	/* Absent and empty lists are valid. */
	FS_CHECK(rules_fields(&v, "input_fields", NULL) == 0 && v.n == 0,
	    "absent");
	l = list_of(items, 0);
	FS_CHECK(rules_fields(&v, "input_fields", &l) == 0 && v.n == 0,
	    "empty");

	/* 1 and 255 characters pass; 0 and 256 do not, wherever they are. */
	items[0] = (char *) "x";
	items[1] = (char *) rep('f', RULES_FIELD_MAX);
	items[2] = (char *) "\xc3\xa9t\xc3\xa9 \"q\"";
	l = list_of(items, 3);
	FS_CHECK(rules_fields(&v, "output_fields", &l) == 0 && v.n == 0,
	    "1, 255 and any characters refused");
	items[2] = (char *) "";
	FS_CHECK(rules_fields(&v, "output_fields", &l) != 0, "empty item");
	ONLY_MSG(&v, "output_fields", bounds);
	rules_viol_fini(&v);
	items[2] = (char *) "z";
	items[0] = (char *) rep('f', RULES_FIELD_MAX + 1);
	FS_CHECK(rules_fields(&v, "input_fields", &l) != 0, "256 characters");
	ONLY_MSG(&v, "input_fields", bounds);
	rules_viol_fini(&v);

	/* A bad item and a repeat: the bound is reported, not both. */
	items[0] = (char *) "";
	items[1] = (char *) "z";
	l = list_of(items, 3);
	FS_CHECK(rules_fields(&v, "input_fields", &l) != 0, "refused");
	ONLY_MSG(&v, "input_fields", bounds);
	rules_viol_fini(&v);

	/* Exactly the limit of items passes (distinct), one more does not. */
	static char buf[RULES_FIELDS_MAX + 1][8];
	static char *many[RULES_FIELDS_MAX + 1];
	for (int i = 0; i <= RULES_FIELDS_MAX; i++) {
		snprintf(buf[i], sizeof(buf[i]), "g%04d", i);
		many[i] = buf[i];
	}
	l = list_of(many, RULES_FIELDS_MAX);
	FS_CHECK(rules_fields(&v, "input_fields", &l) == 0 && v.n == 0,
	    "%d items refused", RULES_FIELDS_MAX);
	l = list_of(many, RULES_FIELDS_MAX + 1);
	FS_CHECK(rules_fields(&v, "input_fields", &l) != 0,
	    "%d items accepted", RULES_FIELDS_MAX + 1);
	ONLY_MSG(&v, "input_fields",
	    "Ensure this field has no more than 1000 elements.");
	rules_viol_fini(&v);
}

static void
test_unmapped_keys(void)
{
	char *keys[] = {"name", "group", "flows", "input_fields", "whatever"};
	rules_viol v = {0};

	/* A field of the wrong type: strings say so, lists say so. */
	rules_mistyped(&v, keys, 5);
	FS_ASSERT_INT_EQ(v.n, 5);
	FS_ASSERT_STR_EQ(first_msg(&v, "name"), "Not a valid string.");
	FS_ASSERT_STR_EQ(first_msg(&v, "group"), "Not a valid string.");
	FS_ASSERT_STR_EQ(first_msg(&v, "flows"),
	    "Expected a list of strings.");
	FS_ASSERT_STR_EQ(first_msg(&v, "input_fields"),
	    "Expected a list of strings.");
	FS_ASSERT_STR_EQ(first_msg(&v, "whatever"),
	    "Expected a list of strings.");
	/* In the order given, each its own entry. */
	for (int i = 0; i < 5; i++)
		FS_ASSERT_STR_EQ(v.v[i]->field, keys[i]);
	rules_viol_fini(&v);

	/* Unknown keys in the order given; the same key twice is one entry
	 * with two messages. */
	char *unk[] = {"zeta", "alpha", "zeta"};
	rules_unknown(&v, unk, 3, 0);
	FS_ASSERT_INT_EQ(v.n, 2);
	FS_ASSERT_STR_EQ(v.v[0]->field, "zeta");
	FS_ASSERT_INT_EQ(v.v[0]->n_messages, 2);
	FS_ASSERT_STR_EQ(v.v[1]->field, "alpha");
	FS_ASSERT_INT_EQ(v.dropped, 0);
	rules_viol_fini(&v);

	/* Only a count: nothing listed, but a violation all the same. */
	rules_unknown(&v, NULL, 0, 3);
	FS_CHECK(v.n == 0 && rules_viol_any(&v),
	    "a count alone is a violation");
	rules_viol_close(&v);
	FS_ASSERT_STR_EQ(first_msg(&v, "non_field_errors"),
	    "3 more errors not listed.");
	rules_viol_fini(&v);
	FS_CHECK(!rules_viol_any(&v), "empty after fini");
	v.oom = 1;
	FS_CHECK(rules_viol_any(&v), "a failed append counts as a violation");
	rules_viol_fini(&v);
}

static void
test_kind_words(void)
{
	FS_ASSERT_STR_EQ(rules_kind_word(FLOWSVC__KIND__FLOW), "flow");
	FS_ASSERT_STR_EQ(rules_kind_word(FLOWSVC__KIND__APP), "app");
	FS_ASSERT_STR_EQ(rules_kind_title(FLOWSVC__KIND__FLOW), "Flow");
	FS_ASSERT_STR_EQ(rules_kind_title(FLOWSVC__KIND__APP), "App");
	FS_ASSERT_STR_EQ(rules_kind_article(FLOWSVC__KIND__FLOW), "A flow");
	FS_ASSERT_STR_EQ(rules_kind_article(FLOWSVC__KIND__APP), "An app");
}

static CU_TestInfo tests[] = {
    {"violations: the limit and the count of the rest",
        test_viol_cap_and_count},
    {"violations: moved in order, merged, limit kept", test_viol_move},
    {"fields: duplicates named as the pairwise scan did",
        test_fields_duplicates},
    {"flows ids: syntax, case, repeats, limit", test_ids_prepare},
    {"unknown keys: 200,000 listed to the limit", test_unknown_many},
    {"names: characters, 1 to 100, absent, blank, kind in the message",
        test_names},
    {"groups: characters, 1 to 100", test_groups},
    {"fields: items of 1 to 255 characters, at most 1000 items",
        test_fields_bounds},
    {"unmapped keys: mistyped and unknown, in order", test_unmapped_keys},
    {"kind words", test_kind_words},
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
