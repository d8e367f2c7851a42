/*
 * test_watch_ring.c - service/watch.c (the ring of events, who sees
 * which, the WatchReply encoding) and Watch through svc_dispatch without
 * a data directory: revisions counted by the service itself, the
 * history, filters and the caller's groups, OUT_OF_RANGE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_pbwire.h"
#include "fs_util.h"
#include "svc.h"
#include "testlib.h"
#include "watch.h"

/* A packed Component: id from i, kind, group, flows. */
static uint8_t *
packed(int i, int kind, const char *group, char **flows, size_t n,
    uint32_t *len)
{
	Flowsvc__Component c = FLOWSVC__COMPONENT__INIT;
	char id[40];

	snprintf(id, sizeof(id), "%08x-1111-4222-8333-444455556666", i);
	c.id = id;
	c.kind = (Flowsvc__Kind) kind;
	c.name = (char *) "n";
	c.group = (char *) group;
	c.canvas_id = id;
	c.flows = flows;
	c.n_flows = n;
	c.version = 1;
	*len = (uint32_t) flowsvc__component__get_packed_size(&c);
	uint8_t *b = malloc(*len);
	flowsvc__component__pack(&c, b);
	return b;
}

static watch_event *
event(uint64_t rev, int kind, const char *group)
{
	uint32_t len;
	uint8_t *b = packed((int) rev, kind, group, NULL, 0, &len);
	watch_event *ev = watch_event_new(FLOWSVC__EVENT_TYPE__ADDED, rev,
	    kind, 0, group, b, len, 0, NULL, 0);
	free(b);
	return ev;
}

static void
test_ring(void)
{
	watch_ring r;

	if (!FS_CHECK(watch_ring_init(&r, 3, 10) == 0, "init"))
		return;
	FS_ASSERT_INT_EQ(watch_ring_first(&r), 11);
	FS_ASSERT_INT_EQ(r.last, 10);
	for (uint64_t rev = 11; rev <= 13; rev++)
		watch_ring_push(&r, event(rev, 1, "g"));
	FS_ASSERT_INT_EQ(watch_ring_first(&r), 11);
	FS_ASSERT_INT_EQ(watch_ring_at(&r, 12)->revision, 12);
	/* Full: the oldest goes; an event still held elsewhere lives on. */
	watch_event *held = watch_ring_at(&r, 11);
	watch_event_ref(held);
	watch_ring_push(&r, event(14, 1, "g"));
	FS_ASSERT_INT_EQ(watch_ring_first(&r), 12);
	CU_ASSERT_PTR_NULL(watch_ring_at(&r, 11));
	CU_ASSERT_PTR_NULL(watch_ring_at(&r, 15));
	FS_ASSERT_INT_EQ(held->revision, 11);
	watch_event_unref(held);
	/* A gap starts the history anew. */
	watch_ring_push(&r, event(20, 1, "g"));
	FS_ASSERT_INT_EQ(watch_ring_first(&r), 20);
	FS_ASSERT_INT_EQ(r.last, 20);
	CU_ASSERT_PTR_NULL(watch_ring_at(&r, 14));
	watch_ring_reset(&r, 30);
	FS_ASSERT_INT_EQ(watch_ring_first(&r), 31);
	FS_ASSERT_INT_EQ(r.n, 0);
	watch_ring_fini(&r);
}

static void
test_match(void)
{
	char *groups[] = {(char *) "A"};
	Flowsvc__Caller who = FLOWSVC__CALLER__INIT;
	watch_event *ev = event(1, FLOWSVC__KIND__APP, "a");
	watch_filter f = {0, NULL, NULL};

	CU_ASSERT(watch_match(&f, ev));
	f.kind = FLOWSVC__KIND__FLOW;
	CU_ASSERT(!watch_match(&f, ev));
	f.kind = FLOWSVC__KIND__APP;
	f.group = "A";
	CU_ASSERT(watch_match(&f, ev));
	f.group = "b";
	CU_ASSERT(!watch_match(&f, ev));
	f.group = NULL;
	who.has_restricted = who.restricted = 1;
	f.who = &who;
	CU_ASSERT(!watch_match(&f, ev));
	who.n_groups = 1;
	who.groups = groups;
	CU_ASSERT(watch_match(&f, ev));
	watch_event_unref(ev);
}

/* An event that uses flows of another group: a trusted caller gets them
 * all with their groups; a restricted one only the ones it may see. */
static void
test_encoding(void)
{
	char *flows[] = {(char *) "00000001-1111-4222-8333-444455556666",
	    (char *) "00000002-1111-4222-8333-444455556666"};
	char *groups[] = {(char *) "a"};
	Flowsvc__Caller who = FLOWSVC__CALLER__INIT;
	watch_use foreign[] = {{0, "b"}};
	uint32_t len;
	uint8_t *b = packed(3, FLOWSVC__KIND__APP, "a", flows, 2, &len);
	watch_event *ev = watch_event_new(FLOWSVC__EVENT_TYPE__MODIFIED, 7,
	    FLOWSVC__KIND__APP, FLOWSVC__STATUS__STARTED, "a", b, len, 2,
	    foreign, 1);
	watch_reply_buf rb = {NULL, 0, 0, 1 << 20, 0};
	Flowsvc__WatchReply *w;

	free(b);
	who.has_restricted = who.restricted = 1;
	who.n_groups = 1;
	who.groups = groups;
	FS_ASSERT_INT_EQ(watch_reply_add(&rb, ev, NULL), 0);
	FS_ASSERT_INT_EQ(watch_reply_add(&rb, ev, &who), 0);
	FS_ASSERT_INT_EQ(watch_reply_finish(&rb, 9), 0);
	w = flowsvc__watch_reply__unpack(NULL, rb.len, rb.buf);
	if (FS_CHECK(w != NULL, "decodes") &&
	    FS_ASSERT_INT_EQ(w->n_events, 2)) {
		FS_ASSERT_INT_EQ(w->revision, 9);
		Flowsvc__WatchEvent *e = w->events[0];
		FS_ASSERT_INT_EQ(e->type, FLOWSVC__EVENT_TYPE__MODIFIED);
		FS_ASSERT_INT_EQ(e->revision, 7);
		FS_ASSERT_INT_EQ(e->status, FLOWSVC__STATUS__STARTED);
		FS_ASSERT_INT_EQ(e->component->n_flows, 2);
		if (FS_ASSERT_INT_EQ(e->n_flow_groups, 2)) {
			FS_ASSERT_STR_EQ(e->flow_groups[0], "b");
			FS_ASSERT_STR_EQ(e->flow_groups[1], "a");
		}
		e = w->events[1];
		if (FS_ASSERT_INT_EQ(e->component->n_flows, 1))
			FS_ASSERT_STR_EQ(e->component->flows[0], flows[1]);
		if (FS_ASSERT_INT_EQ(e->n_flow_groups, 1))
			FS_ASSERT_STR_EQ(e->flow_groups[0], "a");
	}
	if (w != NULL)
		flowsvc__watch_reply__free_unpacked(w, NULL);
	free(rb.buf);
	/* A budget the event does not fit: nothing appended. */
	watch_reply_buf small = {NULL, 0, 0, 64, 0};
	FS_ASSERT_INT_EQ(watch_reply_add(&small, ev, NULL), 1);
	FS_ASSERT_INT_EQ(small.len, 0);
	free(small.buf);
	watch_event_unref(ev);
}

static void
test_comp_scan(void)
{
	uint8_t junk[] = {0x0a, 0xff};
	watch_comp_info ci;
	uint32_t len;
	uint8_t *b = packed(5, FLOWSVC__KIND__FLOW, "grp", NULL, 0, &len);

	FS_ASSERT_INT_EQ(watch_comp_scan(b, len, &ci, NULL, NULL), 0);
	FS_ASSERT_INT_EQ(ci.kind, FLOWSVC__KIND__FLOW);
	FS_ASSERT_INT_EQ(ci.group_len, 3);
	FS_ASSERT_INT_EQ(ci.version, 1);
	FS_ASSERT_INT_EQ(ci.id_len, FS_UUID_STRLEN);
	FS_ASSERT_INT_EQ(watch_comp_scan(junk, sizeof(junk), &ci, NULL, NULL),
	    -1);
	free(b);
}

/* ---- through svc_dispatch, memory only ---------------------------------- */

static svc *
open_svc(size_t history)
{
	svc_opts o = {0};
	char err[256];
	svc *s;

	o.watch_history = history;
	return svc_open(&s, &o, err, sizeof(err)) == 0 ? s : NULL;
}

static void
call(svc *s, int method, const ProtobufCMessage *msg,
    const Flowsvc__Caller *who, svc_reply *r)
{
	Flowsvc__Request req = FLOWSVC__REQUEST__INIT;
	uint8_t *buf = NULL;

	req.method = (Flowsvc__Method) method;
	req.caller = (Flowsvc__Caller *) who;
	if (msg != NULL) {
		size_t len = protobuf_c_message_get_packed_size(msg);
		buf = malloc(len + 1);
		protobuf_c_message_pack(msg, buf);
		req.has_payload = 1;
		req.payload.data = buf;
		req.payload.len = len;
	}
	svc_dispatch(s, &req, r);
	free(buf);
}

static uint64_t
create(svc *s, const char *name, const char *group)
{
	Flowsvc__CreateRequest m = FLOWSVC__CREATE_REQUEST__INIT;
	svc_reply r;

	m.kind = FLOWSVC__KIND__FLOW;
	m.name = (char *) name;
	m.group = (char *) group;
	call(s, FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
	uint64_t rev = r.code == FS_OK && r.has_revision ? r.revision : 0;
	svc_reply_fini(&r);
	return rev;
}

static Flowsvc__WatchReply *
watch(svc *s, uint64_t since, const Flowsvc__Caller *who, svc_reply *r)
{
	Flowsvc__WatchRequest m = FLOWSVC__WATCH_REQUEST__INIT;

	m.has_since_revision = 1;
	m.since_revision = since;
	m.has_wait_ms = 1;
	m.wait_ms = 10000; /* no waiting outside the server */
	call(s, FLOWSVC__METHOD__WATCH, &m.base, who, r);
	if (r->code != FS_OK)
		return NULL;
	return flowsvc__watch_reply__unpack(NULL, r->payload_len, r->payload);
}

static void
test_svc_memory_only(void)
{
	char *groups[] = {(char *) "g1"};
	Flowsvc__Caller who = FLOWSVC__CALLER__INIT;
	svc *s = open_svc(3);
	svc_reply r;
	Flowsvc__WatchReply *w;

	if (!FS_CHECK(s != NULL, "svc_open"))
		return;
	/* Revisions count from 1 without a data directory too. */
	FS_ASSERT_INT_EQ(create(s, "m1", "g1"), 1);
	FS_ASSERT_INT_EQ(create(s, "m2", "g2"), 2);
	FS_ASSERT_INT_EQ(create(s, "m3", "g1"), 3);
	if ((w = watch(s, 0, NULL, &r)) != NULL) {
		FS_ASSERT_INT_EQ(w->n_events, 3);
		FS_ASSERT_INT_EQ(w->revision, 3);
		FS_ASSERT_INT_EQ(r.revision, 3);
		flowsvc__watch_reply__free_unpacked(w, NULL);
	} else {
		FS_ASSERT_CODE(r.code, FS_OK, NULL);
	}
	svc_reply_fini(&r);
	who.has_restricted = who.restricted = 1;
	who.n_groups = 1;
	who.groups = groups;
	if ((w = watch(s, 0, &who, &r)) != NULL &&
	    FS_ASSERT_INT_EQ(w->n_events, 2)) {
		FS_ASSERT_STR_EQ(w->events[0]->component->name, "m1");
		FS_ASSERT_STR_EQ(w->events[1]->component->name, "m3");
	}
	if (w != NULL)
		flowsvc__watch_reply__free_unpacked(w, NULL);
	svc_reply_fini(&r);
	/* A history of 3: the fourth change pushes the first out. */
	FS_ASSERT_INT_EQ(create(s, "m4", "g1"), 4);
	w = watch(s, 0, NULL, &r);
	CU_ASSERT_PTR_NULL(w);
	FS_ASSERT_INT_EQ(r.code, FS_OUT_OF_RANGE);
	FS_ASSERT_INT_EQ(r.oldest_revision, 2);
	FS_ASSERT_INT_EQ(r.revision, 4);
	svc_reply_fini(&r);
	if ((w = watch(s, 1, NULL, &r)) != NULL) {
		FS_ASSERT_INT_EQ(w->n_events, 3);
		flowsvc__watch_reply__free_unpacked(w, NULL);
	}
	svc_reply_fini(&r);
	svc_close(s);
}

/* clang-format off */
static CU_TestInfo tests[] = {
	{"the ring", test_ring},
	{"filters and the caller's groups", test_match},
	{"WatchReply encoding", test_encoding},
	{"component scan", test_comp_scan},
	{"Watch without a data directory", test_svc_memory_only},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"watch", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};
/* clang-format on */

int
main(void)
{
	return fs_test_main(suites);
}
