/* service/store.c's holds: wire forms that changes retire stay readable
 * for every hold older than the change, several holders at once, and are
 * freed as soon as no such hold is left, so overlapping holds never let
 * retired memory grow without bound. Under ASan a read of a freed form
 * fails the test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "fs_util.h"
#include "store.h"
#include "testlib.h"

/* A flow with one output field (out), version v; *id keeps its id. */
static store_comp *
put(store *s, char id[FS_UUID_STRLEN + 1], const char *name, const char *out,
    int version)
{
	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;
	char cs[FS_UUID_STRLEN + 1];
	char *outs[1] = {(char *) out};
	uint8_t b[16];
	store_comp *rec = NULL;

	if (id[0] == '\0') {
		fs_uuid_new(b);
		fs_uuid_format(b, id);
	}
	fs_uuid_new(b);
	fs_uuid_format(b, cs);
	c.id = id;
	c.kind = FLOWSVC__KIND__FLOW;
	c.name = (char *) name;
	c.group = "default";
	c.canvas_id = cs;
	c.output_fields = outs;
	c.n_output_fields = 1;
	c.version = version;
	CU_ASSERT_EQUAL(store_put(s, &c, 0, 0, &rec), FS_OK);
	return rec;
}

/* A copy of c's wire form as it is now, and the pointer the store has. */
struct seen {
	const uint8_t *ptr;
	uint8_t *copy;
	uint32_t len;
};

static void
see(const store_comp *c, struct seen *w)
{
	w->ptr = store_comp_packed(c, &w->len);
	w->copy = malloc(w->len);
	memcpy(w->copy, w->ptr, w->len);
}

/* The form is still there, unchanged (ASan: not freed). */
static int
intact(const struct seen *w)
{
	return memcmp(w->ptr, w->copy, w->len) == 0;
}

static void
test_holds_keep_retired_forms(void)
{
	store *s = store_new();
	char id[FS_UUID_STRLEN + 1] = "";
	store_holder h;
	struct seen w;

	store_comp *c = put(s, id, "a", "v1", 1);
	see(c, &w);
	/* Not held: a replaced form is freed at once. */
	CU_ASSERT_EQUAL(store_retired_bytes(s), 0);
	store_hold(s, &h);
	put(s, id, "a", "v2-longer", 2);
	CU_ASSERT_TRUE(intact(&w));
	FS_ASSERT_INT_EQ(store_retired_bytes(s), w.len);
	/* Deleted while held: kept as well. */
	struct seen w2;
	see(store_get(s, store_comp_id(c)), &w2);
	store_delete(s, store_get(s, store_comp_id(c)));
	CU_ASSERT_TRUE(intact(&w));
	CU_ASSERT_TRUE(intact(&w2));
	FS_ASSERT_INT_EQ(store_retired_bytes(s), w.len + w2.len);
	store_release(s, &h);
	FS_ASSERT_INT_EQ(store_retired_bytes(s), 0);
	free(w.copy);
	free(w2.copy);
	store_free(s);
}

/* h1 holds, the form of version 1 is retired (needed by h1), h2 holds, the
 * form of version 2 is retired (needed by h1 and h2). */
static void
test_each_release_frees_what_only_older_holds_needed(void)
{
	store *s = store_new();
	char id[FS_UUID_STRLEN + 1] = "";
	store_holder h1, h2;
	struct seen v1, v2;

	see(put(s, id, "a", "one", 1), &v1);
	store_hold(s, &h1);
	see(put(s, id, "a", "two", 2), &v2);
	store_hold(s, &h2);
	put(s, id, "a", "three", 3);
	FS_ASSERT_INT_EQ(store_retired_bytes(s), v1.len + v2.len);

	/* The older hold goes first: version 1 was retired before h2 held,
	 * so nobody needs it; version 2 is still h2's. */
	store_release(s, &h1);
	FS_ASSERT_INT_EQ(store_retired_bytes(s), v2.len);
	CU_ASSERT_TRUE(intact(&v2));
	store_release(s, &h2);
	FS_ASSERT_INT_EQ(store_retired_bytes(s), 0);

	/* The newer hold goes first: the older one still needs both. */
	free(v1.copy);
	free(v2.copy);
	see(store_find(s, FLOWSVC__KIND__FLOW, "default", "a"), &v1);
	store_hold(s, &h1);
	see(put(s, id, "a", "four", 4), &v2);
	store_hold(s, &h2);
	put(s, id, "a", "five", 5);
	store_release(s, &h2);
	FS_ASSERT_INT_EQ(store_retired_bytes(s), v1.len + v2.len);
	CU_ASSERT_TRUE(intact(&v1));
	CU_ASSERT_TRUE(intact(&v2));
	store_release(s, &h1);
	FS_ASSERT_INT_EQ(store_retired_bytes(s), 0);
	free(v1.copy);
	free(v2.copy);
	store_free(s);
}

/* Holders that always overlap (there is never a moment without one, as
 * with lists read back to back): what is retired is freed once the holds
 * older than it are gone, so it stays at about one change's worth
 * instead of growing with every change. */
#define ROUNDS 5000

static void
test_overlapping_holds_stay_bounded(void)
{
	store *s = store_new();
	char id[FS_UUID_STRLEN + 1] = "";
	store_holder h[2];
	size_t most = 0;
	uint32_t len;

	put(s, id, "a", "value-0000", 1);
	store_hold(s, &h[0]);
	for (int i = 1; i <= ROUNDS; i++) {
		char out[32];
		snprintf(out, sizeof(out), "value-%04d", i % 10000);
		store_hold(s, &h[i % 2]);
		put(s, id, "a", out, i + 1);
		store_release(s, &h[(i + 1) % 2]);
		size_t r = store_retired_bytes(s);
		if (r > most)
			most = r;
	}
	store_comp_packed(store_find(s, FLOWSVC__KIND__FLOW, "default", "a"),
	    &len);
	FS_CHECK(most <= 2 * (size_t) len,
	    "retired bytes reached %zu over %d overlapping holds (a form is "
	    "%u bytes)",
	    most, ROUNDS, len);
	store_release(s, &h[ROUNDS % 2]);
	FS_ASSERT_INT_EQ(store_retired_bytes(s), 0);
	store_free(s);
}

/* A store freed while forms are retired (a holder that never released,
 * at shutdown) frees them: LSan finds no leak. */
static void
test_free_with_retired_forms(void)
{
	store *s = store_new();
	char id[FS_UUID_STRLEN + 1] = "";
	store_holder h;

	put(s, id, "a", "one", 1);
	store_hold(s, &h);
	put(s, id, "a", "two", 2);
	CU_ASSERT_TRUE(store_retired_bytes(s) > 0);
	store_free(s);
}

int
main(void)
{
	static CU_TestInfo tests[] = {{"holds keep retired forms",
	                                  test_holds_keep_retired_forms},
	    {"each release frees what only older holds needed",
	        test_each_release_frees_what_only_older_holds_needed},
	    {"overlapping holds stay bounded",
	        test_overlapping_holds_stay_bounded},
	    {"a store freed with retired forms", test_free_with_retired_forms},
	    CU_TEST_INFO_NULL};
	static CU_SuiteInfo suites[] = {{"store holds", NULL, NULL, NULL, NULL,
	                                    tests},
	    CU_SUITE_INFO_NULL};
	return fs_test_main(suites);
}
