/*
 * test_svc_access.c - service/access.c: what a caller with groups sees of
 * a store, and what an unrestricted one does: lookups that answer a hidden
 * component as absent, the group a create lands in, and a component's
 * wire form without the flows the caller cannot see.
 */
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "fs_util.h"
#include "store.h"
#include "testlib.h"

/* Stores a component of kind in group using flows; its id in id_out. */
static store_comp *
put(store *s, int kind, const char *group, const char *name, char **flows,
    size_t nflows, char id_out[FS_UUID_STRLEN + 1])
{
	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;
	uint8_t id[16];
	store_comp *out = NULL;

	fs_uuid_new(id);
	fs_uuid_format(id, id_out);
	c.id = id_out;
	c.kind = (Flowsvc__Kind) kind;
	c.name = (char *) name;
	c.group = (char *) group;
	c.canvas_id = id_out;
	c.flows = flows;
	c.n_flows = nflows;
	c.version = 1;
	CU_ASSERT_EQUAL(store_put(s, &c, 0, 0, &out), FS_OK);
	return out;
}

static void
upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char) (*s - 32);
}

/* A caller restricted to groups (n of them). */
static Flowsvc__Caller
caller(char **groups, size_t n)
{
	Flowsvc__Caller w = FLOWSVC__CALLER__INIT;

	w.has_restricted = 1;
	w.restricted = 1;
	w.groups = groups;
	w.n_groups = n;
	return w;
}

static void
test_groups(void)
{
	char *one[] = {"Sales"}, *two[] = {"sales", "support"};
	Flowsvc__Caller a = caller(one, 1), b = caller(two, 2);
	Flowsvc__Caller open = FLOWSVC__CALLER__INIT;

	/* No caller, or one not restricted: every group. */
	CU_ASSERT(access_all_groups(NULL));
	CU_ASSERT(access_all_groups(&open));
	CU_ASSERT(access_group(&open, "anything"));
	CU_ASSERT(!access_all_groups(&a));
	/* Groups compare case-insensitively, as the store's do. */
	CU_ASSERT(access_group(&a, "SALES"));
	CU_ASSERT(!access_group(&a, "support"));
	CU_ASSERT(access_group(&b, "Support"));
	/* A create without a group: the caller's only one, else default. */
	FS_ASSERT_STR_EQ(access_default_group(NULL), "default");
	FS_ASSERT_STR_EQ(access_default_group(&a), "Sales");
	FS_ASSERT_STR_EQ(access_default_group(&b), "default");
	/* No groups at all: nothing. */
	Flowsvc__Caller none = caller(NULL, 0);
	CU_ASSERT(!access_group(&none, "default"));
	FS_ASSERT_STR_EQ(access_default_group(&none), "default");
}

static void
test_lookup(void)
{
	store *s = store_new();
	char fid[FS_UUID_STRLEN + 1], hid[FS_UUID_STRLEN + 1];
	char *mine[] = {"a"};
	Flowsvc__Caller a = caller(mine, 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	store_comp *f = put(s, FLOWSVC__KIND__FLOW, "A", "f", NULL, 0, fid);
	store_comp *h = put(s, FLOWSVC__KIND__FLOW, "b", "h", NULL, 0, hid);

	CU_ASSERT_PTR_EQUAL(access_lookup(s, NULL, fid, 0), f);
	CU_ASSERT_PTR_EQUAL(access_lookup(s, &a, fid, FLOWSVC__KIND__FLOW), f);
	upper(fid);
	CU_ASSERT_PTR_EQUAL(access_lookup(s, &a, fid, 0), f);
	/* Absent, whatever the reason. */
	CU_ASSERT_PTR_NULL(access_lookup(s, &a, fid, FLOWSVC__KIND__APP));
	CU_ASSERT_PTR_NULL(access_lookup(s, &a, hid, 0));
	CU_ASSERT_PTR_EQUAL(access_lookup(s, NULL, hid, 0), h);
	CU_ASSERT_PTR_NULL(access_lookup(s, NULL, "not-a-uuid", 0));
	CU_ASSERT_PTR_NULL(access_lookup(s, NULL, NULL, 0));
	CU_ASSERT_PTR_NULL(
	    access_lookup(s, NULL, "00000000-0000-4000-8000-000000000000", 0));
	CU_ASSERT(access_visible(&a, f));
	CU_ASSERT(!access_visible(&a, h));
	store_free(s);
}

/* An app of group a using a flow of a and one of b: a caller of a gets
 * its wire form without the flow of b, in a copy; an unrestricted caller
 * gets the stored bytes themselves. */
static void
test_encode_hides_references(void)
{
	store *s = store_new();
	char fid[FS_UUID_STRLEN + 1], hid[FS_UUID_STRLEN + 1];
	char aid[FS_UUID_STRLEN + 1];
	char *mine[] = {"a"};
	Flowsvc__Caller a = caller(mine, 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	put(s, FLOWSVC__KIND__FLOW, "a", "f", NULL, 0, fid);
	put(s, FLOWSVC__KIND__FLOW, "b", "h", NULL, 0, hid);
	char *both[] = {hid, fid};
	store_comp *app = put(s, FLOWSVC__KIND__APP, "a", "app", both, 2, aid);
	CU_ASSERT_PTR_NOT_NULL_FATAL(app);

	uint32_t len, stored_len;
	uint8_t *tmp;
	const uint8_t *stored = store_comp_packed(app, &stored_len);
	CU_ASSERT_EQUAL(access_hidden_uses(NULL, app), 0);
	CU_ASSERT_PTR_EQUAL(access_encode(NULL, app, &len, &tmp), stored);
	CU_ASSERT_PTR_NULL(tmp);
	CU_ASSERT_EQUAL(len, stored_len);

	CU_ASSERT_EQUAL(access_hidden_uses(&a, app), 1);
	const uint8_t *seen = access_encode(&a, app, &len, &tmp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(seen);
	CU_ASSERT_PTR_EQUAL(seen, tmp);
	Flowsvc__Component *m = flowsvc__component__unpack(NULL, len, seen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL(m->n_flows, 1);
	if (m->n_flows == 1)
		FS_ASSERT_STR_EQ(m->flows[0], fid);
	FS_ASSERT_STR_EQ(m->name, "app");
	FS_ASSERT_STR_EQ(m->id, aid);
	flowsvc__component__free_unpacked(m, NULL);
	free(tmp);
	store_free(s);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"groups, case-insensitive; the default group", test_groups},
	    {"lookup: hidden, other kind, not a uuid: absent", test_lookup},
	    {"encode leaves out the flows a caller cannot see",
	        test_encode_hides_references},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"access", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
