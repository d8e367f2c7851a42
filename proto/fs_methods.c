/*
 * fs_methods.c - the rows of FS_METHOD_TABLE, indexed by method value.
 */
#include "fs_methods.h"

#include <stddef.h>
#include <strings.h>

#define FS_METHOD_ROW(E, N, REQ, REP, FLAGS)                                  \
	[FLOWSVC__METHOD__##E] = {FLOWSVC__METHOD__##E, #N, #E,               \
	    &flowsvc__##REQ##__descriptor, &flowsvc__##REP##__descriptor,     \
	    (FLAGS)},

static const fs_method_info rows[FS_METHOD_LIMIT] = {
    FS_METHOD_TABLE(FS_METHOD_ROW)};

#undef FS_METHOD_ROW

const fs_method_info *
fs_method(int method)
{
	if (method <= 0 || method >= FS_METHOD_LIMIT ||
	    rows[method].name == NULL)
		return NULL;
	return &rows[method];
}

bool
fs_method_is(int method, unsigned flags)
{
	const fs_method_info *m = fs_method(method);

	return m != NULL && (m->flags & flags) == flags;
}

const fs_method_info *
fs_method_by_name(const char *s)
{
	if (s == NULL)
		return NULL;
	for (int i = 1; i < FS_METHOD_LIMIT; i++)
		if (rows[i].name != NULL &&
		    (strcasecmp(s, rows[i].name) == 0 ||
		        strcasecmp(s, rows[i].label) == 0))
			return &rows[i];
	return NULL;
}

const char *
fs_method_label(int method)
{
	const fs_method_info *m = fs_method(method);

	if (m != NULL)
		return m->label;
	return method == FLOWSVC__METHOD__METHOD_UNSPECIFIED
	    ? "METHOD_UNSPECIFIED"
	    : "UNKNOWN";
}

const char *
fs_status_name(int status)
{
	switch (status) {
	case FLOWSVC__STATUS__NOT_DEPLOYED:
		return "not-deployed";
	case FLOWSVC__STATUS__STARTED:
		return "started";
	case FLOWSVC__STATUS__STOPPED:
		return "stopped";
	default:
		return "unknown";
	}
}

const char *
fs_event_type_name(int type)
{
	switch (type) {
	case FLOWSVC__EVENT_TYPE__ADDED:
		return "added";
	case FLOWSVC__EVENT_TYPE__MODIFIED:
		return "modified";
	case FLOWSVC__EVENT_TYPE__DELETED:
		return "deleted";
	case FLOWSVC__EVENT_TYPE__STATUS:
		return "status";
	default:
		return "unknown";
	}
}

bool
fs_method_in_batch(int method)
{
	const fs_method_info *m = fs_method(method);

	return m != NULL && (m->flags & (FS_M_READ | FS_M_WRITE)) != 0 &&
	    (m->flags & FS_M_BLOCKS) == 0;
}
