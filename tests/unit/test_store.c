/* service/store.c: indexes, filters, creation order, edges, reachability. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "fs_util.h"
#include "store.h"
#include "testlib.h"

/* Builds and stores a component; returns its record. */
static store_comp *
put(store *s, int kind, const char *group, const char *name, char **flows,
    size_t nflows, char id_out[FS_UUID_STRLEN + 1])
{
	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;
	uint8_t id[16], canvas[16];
	char ids[FS_UUID_STRLEN + 1], cs[FS_UUID_STRLEN + 1];
	store_comp *out = NULL;

	fs_uuid_new(id);
	fs_uuid_new(canvas);
	fs_uuid_format(id, ids);
	fs_uuid_format(canvas, cs);
	c.id = ids;
	c.kind = (Flowsvc__Kind) kind;
	c.name = (char *) name;
	c.group = (char *) group;
	c.canvas_id = cs;
	c.flows = flows;
	c.n_flows = nflows;
	c.version = 1;
	CU_ASSERT_EQUAL(store_put(s, &c, 0, 0, &out), 0);
	if (id_out != NULL)
		strcpy(id_out, ids);
	return out;
}

/* The first of flow's users, NULL when none. */
static store_comp *
first_user(const store_comp *flow)
{
	store_users it;

	store_users_begin(flow, &it);
	return store_users_next(&it);
}

static void
test_store_get_and_find(void)
{
	store *s = store_new();
	char id[FS_UUID_STRLEN + 1];
	uint8_t bin[16];

	store_comp *a =
	    put(s, FLOWSVC__KIND__FLOW, "Sales", "Greet", NULL, 0, id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(fs_uuid_parse(id, bin), 0);
	CU_ASSERT_PTR_EQUAL(store_get(s, bin), a);
	CU_ASSERT_PTR_EQUAL(store_find(s, FLOWSVC__KIND__FLOW, "sales",
	                        "GREET"),
	    a);
	CU_ASSERT_PTR_NULL(
	    store_find(s, FLOWSVC__KIND__APP, "sales", "greet"));
	CU_ASSERT_PTR_NULL(
	    store_find(s, FLOWSVC__KIND__FLOW, "other", "greet"));
	CU_ASSERT_EQUAL(store_count(s, FLOWSVC__KIND__FLOW), 1);
	CU_ASSERT_EQUAL(store_count(s, FLOWSVC__KIND__APP), 0);

	Flowsvc__Component *m = store_unpack(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_STRING_EQUAL(m->name, "Greet");
	CU_ASSERT_STRING_EQUAL(m->group, "Sales");
	flowsvc__component__free_unpacked(m, NULL);

	store_delete(s, a);
	CU_ASSERT_PTR_NULL(store_get(s, bin));
	CU_ASSERT_PTR_NULL(
	    store_find(s, FLOWSVC__KIND__FLOW, "sales", "greet"));
	CU_ASSERT_PTR_NULL(store_first(s, FLOWSVC__KIND__FLOW, "sales", NULL));
	CU_ASSERT_EQUAL(store_count(s, FLOWSVC__KIND__FLOW), 0);
	store_free(s);
}

static void
test_store_filters_keep_creation_order(void)
{
	store *s = store_new();
	const char *names[] = {"a", "b", "c", "d", "e", "f"};
	const char *groups[] = {"g1", "G2", "G1", "g2", "g1", "x"};
	store_comp *c[6];

	for (int i = 0; i < 6; i++)
		c[i] = put(s, FLOWSVC__KIND__FLOW, groups[i], names[i], NULL,
		    0, NULL);
	/* An app with a clashing name stays out of flow lists. */
	put(s, FLOWSVC__KIND__APP, "g1", "a", NULL, 0, NULL);

	store_comp *want[] = {c[0], c[2], c[4]};
	int n = 0;
	for (store_comp *x = store_first(s, FLOWSVC__KIND__FLOW, "G1", NULL);
	     x; x = store_next(x, "G1", NULL)) {
		if (n < 3)
			CU_ASSERT_PTR_EQUAL(x, want[n]);
		n++;
	}
	CU_ASSERT_EQUAL(n, 3);

	n = 0;
	for (store_comp *x = store_first(s, FLOWSVC__KIND__FLOW, NULL, NULL);
	     x; x = store_next(x, NULL, NULL)) {
		CU_ASSERT_PTR_EQUAL(x, c[n]);
		n++;
	}
	CU_ASSERT_EQUAL(n, 6);

	/* Delete from the middle; order of the rest holds. */
	store_delete(s, c[2]);
	n = 0;
	for (store_comp *x = store_first(s, FLOWSVC__KIND__FLOW, "g1", NULL);
	     x; x = store_next(x, "g1", NULL))
		n++;
	CU_ASSERT_EQUAL(n, 2);

	store_comp *byname = store_first(s, FLOWSVC__KIND__FLOW, NULL, "E");
	CU_ASSERT_PTR_EQUAL(byname, c[4]);
	CU_ASSERT_PTR_NULL(store_next(byname, NULL, "E"));
	CU_ASSERT_PTR_EQUAL(store_first(s, FLOWSVC__KIND__FLOW, "G1", "E"),
	    c[4]);
	CU_ASSERT_PTR_NULL(store_first(s, FLOWSVC__KIND__FLOW, "g2", "e"));
	store_free(s);
}

static void
test_store_edges_track_users(void)
{
	store *s = store_new();
	char fid[FS_UUID_STRLEN + 1], gid[FS_UUID_STRLEN + 1];
	store_comp *f = put(s, FLOWSVC__KIND__FLOW, "g", "f", NULL, 0, fid);
	store_comp *g = put(s, FLOWSVC__KIND__FLOW, "g", "g", NULL, 0, gid);
	char *both[] = {fid, gid};
	char *onlyg[] = {gid};

	store_comp *app =
	    put(s, FLOWSVC__KIND__APP, "g", "app", both, 2, NULL);
	store_comp *u = put(s, FLOWSVC__KIND__FLOW, "g", "u", both, 2, NULL);
	CU_ASSERT_EQUAL(store_comp_nusers(f), 2);
	CU_ASSERT_EQUAL(store_comp_nusers(g), 2);

	/* Replacing u's content moves its edges. */
	Flowsvc__Component *m = store_unpack(u);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	Flowsvc__Component copy = *m;
	copy.flows = onlyg;
	copy.n_flows = 1;
	CU_ASSERT_EQUAL(store_put(s, &copy, 0, 0, NULL), 0);
	flowsvc__component__free_unpacked(m, NULL);
	CU_ASSERT_EQUAL(store_comp_nusers(f), 1);
	CU_ASSERT_EQUAL(store_comp_nusers(g), 2);
	CU_ASSERT_PTR_EQUAL(first_user(f), app);

	store_delete(s, app);
	CU_ASSERT_EQUAL(store_comp_nusers(f), 0);
	CU_ASSERT_PTR_NULL(first_user(f));
	CU_ASSERT_EQUAL(store_comp_nusers(g), 1);

	/* A reference to an app or to nothing is refused, store unchanged. */
	char *bad[] = {"00000000-0000-4000-8000-000000000000"};
	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;
	c.id = "11111111-1111-4111-8111-111111111111";
	c.kind = FLOWSVC__KIND__FLOW;
	c.name = "x";
	c.group = "g";
	c.canvas_id = c.id;
	c.flows = bad;
	c.n_flows = 1;
	CU_ASSERT_EQUAL(store_put(s, &c, 0, 0, NULL), FS_FAILED_PRECONDITION);
	CU_ASSERT_EQUAL(store_count(s, FLOWSVC__KIND__FLOW), 3);
	store_free(s);
}

static void
test_store_reaches_deep_chain(void)
{
	enum { N = 10000 };
	store *s = store_new();
	char prev[FS_UUID_STRLEN + 1], id[FS_UUID_STRLEN + 1];
	store_comp *first = NULL, *last = NULL;

	for (int i = 0; i < N; i++) {
		char name[32];
		char *ref[] = {prev};
		snprintf(name, sizeof(name), "f%d", i);
		last =
		    put(s, FLOWSVC__KIND__FLOW, "g", name, ref, i ? 1 : 0, id);
		if (i == 0)
			first = last;
		strcpy(prev, id);
	}
	/* last -> ... -> first, never the other way. */
	store_walk_begin(s);
	CU_ASSERT_TRUE(store_reaches(s, last, first));
	store_walk_begin(s);
	CU_ASSERT_FALSE(store_reaches(s, first, last));
	CU_ASSERT_TRUE(store_reaches(s, first, first));
	store_free(s);
}

static void
test_store_wide_fan_in(void)
{
	enum { N = 100000 };
	store *s = store_new();
	char fid[FS_UUID_STRLEN + 1];
	store_comp *f =
	    put(s, FLOWSVC__KIND__FLOW, "g", "shared", NULL, 0, fid);
	char *ref[] = {fid};
	store_comp **users = malloc(N * sizeof(*users));

	CU_ASSERT_PTR_NOT_NULL_FATAL(users);
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof(name), "u%d", i);
		users[i] =
		    put(s, i % 2 ? FLOWSVC__KIND__APP : FLOWSVC__KIND__FLOW,
		        "g", name, ref, 1, NULL);
	}
	CU_ASSERT_EQUAL(store_comp_nusers(f), N);
	/* Removing users one by one is O(1) each: the whole loop is fast
	 * enough to run here at all. */
	for (int i = 0; i < N; i += 2)
		store_delete(s, users[i]);
	CU_ASSERT_EQUAL(store_comp_nusers(f), N / 2);
	size_t n = 0;
	store_users it;
	store_comp *u;
	for (store_users_begin(f, &it); (u = store_users_next(&it)) != NULL;) {
		CU_ASSERT_EQUAL(store_comp_kind(u), FLOWSVC__KIND__APP);
		n++;
	}
	CU_ASSERT_EQUAL(n, N / 2);
	store_walk_begin(s);
	CU_ASSERT_FALSE(store_reaches(s, f, users[1]));
	free(users);
	store_free(s);
}

static void
test_store_grows_past_initial_tables(void)
{
	enum { N = 5000 };
	store *s = store_new();
	char(*ids)[FS_UUID_STRLEN + 1] = malloc(N * sizeof(*ids));

	CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof(name), "n%d", i);
		put(s, FLOWSVC__KIND__FLOW, i % 2 ? "odd" : "even", name, NULL,
		    0, ids[i]);
	}
	for (int i = 0; i < N; i++) {
		uint8_t bin[16];
		char name[32];
		snprintf(name, sizeof(name), "N%d", i);
		fs_uuid_parse(ids[i], bin);
		store_comp *c = store_get(s, bin);
		CU_ASSERT_PTR_NOT_NULL(c);
		CU_ASSERT_PTR_EQUAL(store_find(s, FLOWSVC__KIND__FLOW,
		                        i % 2 ? "ODD" : "EVEN", name),
		    c);
	}
	free(ids);
	store_free(s);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"get and find, case-insensitive", test_store_get_and_find},
	    {"filters keep creation order",
	        test_store_filters_keep_creation_order},
	    {"edges track users", test_store_edges_track_users},
	    {"reachability over a 10,000-flow chain",
	        test_store_reaches_deep_chain},
	    {"tables grow", test_store_grows_past_initial_tables},
	    {"100,000 users of one flow", test_store_wide_fan_in},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"store", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
