/*
 * test_methods.c - the method table against flows.proto.
 */
#include <string.h>

#include "fs_methods.h"
#include "testlib.h"

/* Every value of the Method enum but METHOD_UNSPECIFIED has a row, whose
 * label is the enum's name and whose messages are real descriptors. */
static void
test_every_method_has_a_row(void)
{
	const ProtobufCEnumDescriptor *d = &flowsvc__method__descriptor;

	for (unsigned i = 0; i < d->n_values; i++) {
		int v = d->values[i].value;
		const fs_method_info *m = fs_method(v);
		if (v == FLOWSVC__METHOD__METHOD_UNSPECIFIED) {
			CU_ASSERT_PTR_NULL(m);
			continue;
		}
		if (!FS_CHECK(m != NULL, "no row for %s", d->values[i].name))
			continue;
		CU_ASSERT_EQUAL(m->method, v);
		FS_ASSERT_STR_EQ(m->label, d->values[i].name);
		CU_ASSERT_PTR_NOT_NULL(m->request);
		CU_ASSERT_PTR_NOT_NULL(m->reply);
		CU_ASSERT(v < FS_METHOD_LIMIT);
		CU_ASSERT_PTR_EQUAL(fs_method_by_name(m->name), m);
		CU_ASSERT_PTR_EQUAL(fs_method_by_name(m->label), m);
	}
	CU_ASSERT_PTR_NULL(fs_method(FS_METHOD_LIMIT));
	CU_ASSERT_PTR_NULL(fs_method(-1));
	CU_ASSERT_PTR_NULL(fs_method_by_name("Nope"));
}

/* The names match the service in flows.proto, so tools that read the
 * service see the same methods. */
static void
test_names_match_the_service(void)
{
	const ProtobufCServiceDescriptor *sd =
	    &flowsvc__flow_service__descriptor;

	for (unsigned i = 0; i < sd->n_methods; i++) {
		const ProtobufCMethodDescriptor *md = &sd->methods[i];
		const fs_method_info *m = fs_method_by_name(md->name);
		if (!FS_CHECK(m != NULL, "service method %s has no row",
		        md->name))
			continue;
		FS_ASSERT_STR_EQ(m->name, md->name);
		CU_ASSERT_PTR_EQUAL(m->request, md->input);
		CU_ASSERT_PTR_EQUAL(m->reply, md->output);
	}
}

/* A method is a read or a change, never both; blocking ones are never
 * batched. */
static void
test_flags_are_consistent(void)
{
	for (int v = 1; v < FS_METHOD_LIMIT; v++) {
		const fs_method_info *m = fs_method(v);
		if (m == NULL)
			continue;
		CU_ASSERT(
		    !((m->flags & FS_M_READ) && (m->flags & FS_M_WRITE)));
		CU_ASSERT(
		    !((m->flags & FS_M_BLOCKS) && (m->flags & FS_M_BATCH)));
		if (m->flags & FS_M_WRITE)
			CU_ASSERT(!(m->flags & FS_M_REPLICA));
	}
	CU_ASSERT(fs_method_is(FLOWSVC__METHOD__GET, FS_M_READ | FS_M_BATCH));
	CU_ASSERT(!fs_method_is(FLOWSVC__METHOD__LIST, FS_M_BATCH));
	CU_ASSERT(fs_method_is(FLOWSVC__METHOD__CREATE, FS_M_WRITE));
}

/* Labels for every value a peer may send, table or not. */
static void
test_labels(void)
{
	FS_ASSERT_STR_EQ(fs_method_label(FLOWSVC__METHOD__GET_STATUS),
	    "GET_STATUS");
	FS_ASSERT_STR_EQ(fs_method_label(FLOWSVC__METHOD__METHOD_UNSPECIFIED),
	    "METHOD_UNSPECIFIED");
	FS_ASSERT_STR_EQ(fs_method_label(FS_METHOD_LIMIT), "UNKNOWN");
	FS_ASSERT_STR_EQ(fs_method_label(-3), "UNKNOWN");
}

/* What a Batch may carry follows from the flags: every read or change
 * that does not block; never Batch itself nor Snapshot. */
static void
test_batch_members(void)
{
	for (int v = -1; v <= FS_METHOD_LIMIT; v++) {
		const fs_method_info *m = fs_method(v);
		bool want = m != NULL &&
		    (m->flags & (FS_M_READ | FS_M_WRITE)) &&
		    !(m->flags & FS_M_BLOCKS);
		FS_CHECK(fs_method_in_batch(v) == want, "method %d", v);
	}
	CU_ASSERT(!fs_method_in_batch(FLOWSVC__METHOD__BATCH));
	CU_ASSERT(!fs_method_in_batch(FLOWSVC__METHOD__SNAPSHOT));
	CU_ASSERT(fs_method_in_batch(FLOWSVC__METHOD__LIST));
	CU_ASSERT(fs_method_in_batch(FLOWSVC__METHOD__STATS));
	CU_ASSERT(fs_method_in_batch(FLOWSVC__METHOD__CREATE));
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"every Method value has a row", test_every_method_has_a_row},
	    {"names and messages match the service",
	        test_names_match_the_service},
	    {"flags are consistent", test_flags_are_consistent},
	    {"labels", test_labels},
	    {"what a Batch may carry", test_batch_members},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"methods", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
