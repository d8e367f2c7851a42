/* service/svc_read.c and listview.c through svc_dispatch: a paged List
 * answers every match in creation order, each page from the cut its first
 * page made (changes made meanwhile show in none of them); tokens answer
 * their own caller and request only, expire, end early; views are capped
 * in number and in the retired memory they keep alive; a List without
 * page_size answers as before, now with total_count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>

#include "fs_util.h"
#include "listview.h"
#include "svc.h"
#include "testlib.h"

static svc *S;

static int
open_with(uint32_t views, uint32_t idle_ms, size_t pinned)
{
	svc_opts o = {0};
	char err[256];

	o.list_views = views;
	o.list_idle_ms = idle_ms;
	o.list_pinned_max = pinned;
	return svc_open(&S, &o, err, sizeof(err));
}

static void
call(int method, const ProtobufCMessage *msg, const Flowsvc__Caller *who,
    svc_reply *r)
{
	Flowsvc__Request req = FLOWSVC__REQUEST__INIT;
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len + 1);

	protobuf_c_message_pack(msg, buf);
	req.method = (Flowsvc__Method) method;
	req.caller = (Flowsvc__Caller *) who;
	req.has_payload = 1;
	req.payload.data = buf;
	req.payload.len = len;
	svc_dispatch(S, &req, r);
	free(buf);
}

/* About pad bytes of distinct fields of at most 250 characters (the
 * rules allow 255), tagged with c so two sets differ. *n gets how many;
 * free with free_fields. */
static char **
fields(size_t pad, char c, size_t *n)
{
	*n = (pad + 249) / 250;
	char **f = calloc(*n + 1, sizeof(*f));
	for (size_t i = 0; i < *n; i++) {
		f[i] = malloc(251);
		memset(f[i], c, 250);
		f[i][250] = '\0';
		char tag[16];
		int k = snprintf(tag, sizeof(tag), "%zu_", i);
		memcpy(f[i], tag, (size_t) k);
	}
	return f;
}

static void
free_fields(char **f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(f[i]);
	free(f);
}

/* Creates flows name_<i>, i in [from, to), in group; each with about pad
 * bytes of output fields. ids (optional) gets their ids. */
static void
seed(int from, int to, const char *group, size_t pad, char (*ids)[40])
{
	size_t nf;
	char **f = fields(pad, 'x', &nf);

	for (int i = from; i < to; i++) {
		Flowsvc__CreateRequest m = FLOWSVC__CREATE_REQUEST__INIT;
		Flowsvc__StringList out = FLOWSVC__STRING_LIST__INIT;
		char name[32];
		svc_reply r;

		snprintf(name, sizeof(name), "name_%d", i);
		m.kind = FLOWSVC__KIND__FLOW;
		m.name = name;
		m.group = (char *) group;
		out.items = f;
		out.n_items = nf;
		m.output_fields = &out;
		call(FLOWSVC__METHOD__CREATE, &m.base, NULL, &r);
		CU_ASSERT_EQUAL_FATAL(r.code, FS_OK);
		if (ids != NULL) {
			Flowsvc__ComponentReply *cr =
			    flowsvc__component_reply__unpack(NULL,
			        r.payload_len, r.payload);
			snprintf(ids[i], 40, "%s", cr->component->id);
			flowsvc__component_reply__free_unpacked(cr, NULL);
		}
		svc_reply_fini(&r);
	}
	free_fields(f, nf);
}

/* One List call; *out gets the reply (NULL unless OK). Returns the code. */
static int
list(const Flowsvc__ListRequest *m, const Flowsvc__Caller *who,
    Flowsvc__ListReply **out, svc_reply *keep)
{
	svc_reply r;

	call(FLOWSVC__METHOD__LIST, &m->base, who, &r);
	int code = r.code;
	*out = code == FS_OK
	    ? flowsvc__list_reply__unpack(NULL, r.payload_len, r.payload)
	    : NULL;
	if (keep != NULL)
		*keep = r;
	else
		svc_reply_fini(&r);
	return code;
}

static Flowsvc__ListRequest
flows_req(uint32_t page_size)
{
	Flowsvc__ListRequest m = FLOWSVC__LIST_REQUEST__INIT;

	m.has_kind = 1;
	m.kind = FLOWSVC__KIND__FLOW;
	if (page_size != (uint32_t) -1) {
		m.has_page_size = 1;
		m.page_size = page_size;
	}
	return m;
}

/* Pages through m (page_size set) to the end: the names in order, how
 * many pages. Returns 0, or the code of a failed page. */
static int
page_all(Flowsvc__ListRequest m, const Flowsvc__Caller *who, char ***names,
    size_t *n, int *pages, uint64_t *total)
{
	char *token = NULL;
	int code = FS_OK;

	*names = NULL;
	*n = 0;
	*pages = 0;
	do {
		Flowsvc__ListReply *l;
		m.page_token = token;
		code = list(&m, who, &l, NULL);
		free(token);
		token = NULL;
		if (code != FS_OK)
			break;
		(*pages)++;
		*total = l->total_count;
		*names =
		    realloc(*names, (*n + l->n_components) * sizeof(char *));
		for (size_t i = 0; i < l->n_components; i++)
			(*names)[(*n)++] = strdup(l->components[i]->name);
		if (l->next_page_token != NULL)
			token = strdup(l->next_page_token);
		flowsvc__list_reply__free_unpacked(l, NULL);
	} while (token != NULL);
	return code;
}

static void
free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static const char *
viol(const svc_reply *r, const char *field)
{
	for (size_t i = 0; i < r->v.n; i++)
		if (strcmp(r->v.v[i]->field, field) == 0 &&
		    r->v.v[i]->n_messages > 0)
			return r->v.v[i]->messages[0];
	return "";
}

/* ---- tests --------------------------------------------------------------- */

static void
test_pages_hold_every_match_in_order(void)
{
	char **names;
	size_t n;
	int pages;
	uint64_t total = 0;

	CU_ASSERT_EQUAL_FATAL(open_with(0, 0, 0), 0);
	seed(0, 2500, "default", 0, NULL);
	FS_ASSERT_OK(
	    page_all(flows_req(1000), NULL, &names, &n, &pages, &total));
	FS_ASSERT_INT_EQ(n, 2500);
	FS_ASSERT_INT_EQ(pages, 3);
	FS_ASSERT_INT_EQ(total, 2500);
	for (size_t i = 0; i < n; i++) {
		char want[32];
		snprintf(want, sizeof(want), "name_%zu", i);
		if (!FS_CHECK(strcmp(names[i], want) == 0, "item %zu is %s", i,
		        names[i]))
			break;
	}
	free_names(names, n);
	/* No view is left once the last page is read. */
	Flowsvc__ListRequest m = flows_req(3000);
	Flowsvc__ListReply *l;
	FS_ASSERT_OK(list(&m, NULL, &l, NULL));
	FS_ASSERT_INT_EQ(l->n_components, 2500);
	CU_ASSERT_PTR_NULL(l->next_page_token);
	flowsvc__list_reply__free_unpacked(l, NULL);

	/* limit and offset cut the list first; total_count is before them. */
	m = flows_req(100);
	m.has_limit = m.has_offset = 1;
	m.limit = 250;
	m.offset = 2300;
	FS_ASSERT_OK(page_all(m, NULL, &names, &n, &pages, &total));
	FS_ASSERT_INT_EQ(n, 200);
	FS_ASSERT_INT_EQ(pages, 2);
	FS_ASSERT_INT_EQ(total, 2500);
	CU_ASSERT_STRING_EQUAL(names[0], "name_2300");
	CU_ASSERT_STRING_EQUAL(names[199], "name_2499");
	free_names(names, n);
	svc_close(S);
}

/* A page holds at most 1 MiB of components, whatever page_size says. */
static void
test_pages_bounded_in_bytes(void)
{
	char *token = NULL;
	size_t seen = 0;

	CU_ASSERT_EQUAL_FATAL(open_with(0, 0, 0), 0);
	seed(0, 600, "default", 4000, NULL); /* about 2.4 MB */
	do {
		Flowsvc__ListRequest m = flows_req(LISTVIEW_PAGE_MAX);
		Flowsvc__ListReply *l;
		svc_reply r;
		m.page_token = token;
		FS_ASSERT_OK(list(&m, NULL, &l, &r));
		free(token);
		token = NULL;
		if (l == NULL)
			break;
		FS_CHECK(r.payload_len <= LISTVIEW_PAGE_BYTES,
		    "a page of %zu bytes", r.payload_len);
		FS_CHECK(l->n_components > 0, "an empty page");
		seen += l->n_components;
		if (l->next_page_token != NULL)
			token = strdup(l->next_page_token);
		flowsvc__list_reply__free_unpacked(l, NULL);
		svc_reply_fini(&r);
	} while (token != NULL);
	FS_ASSERT_INT_EQ(seen, 600);
	svc_close(S);
}

/* Changes after the first page show in no later page: the list is the
 * store as the first page found it. */
static void
test_later_pages_read_the_cut(void)
{
	static char ids[3000][40];
	Flowsvc__ListRequest m = flows_req(500);
	Flowsvc__ListReply *l;

	CU_ASSERT_EQUAL_FATAL(open_with(0, 0, 0), 0);
	seed(0, 2000, "default", 0, ids);
	FS_ASSERT_OK(list(&m, NULL, &l, NULL));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l->next_page_token);
	char *token = strdup(l->next_page_token);
	flowsvc__list_reply__free_unpacked(l, NULL);

	/* Delete every other one of the rest, update the others, add
	 * more. */
	for (int i = 500; i < 2000; i++) {
		svc_reply r;
		if (i % 2 == 0) {
			Flowsvc__IdRequest d = FLOWSVC__ID_REQUEST__INIT;
			d.id = ids[i];
			call(FLOWSVC__METHOD__DELETE, &d.base, NULL, &r);
		} else {
			Flowsvc__UpdateRequest u =
			    FLOWSVC__UPDATE_REQUEST__INIT;
			Flowsvc__StringList in = FLOWSVC__STRING_LIST__INIT;
			char *items[] = {"changed"};
			in.items = items;
			in.n_items = 1;
			u.id = ids[i];
			u.input_fields = &in;
			call(FLOWSVC__METHOD__UPDATE, &u.base, NULL, &r);
		}
		CU_ASSERT_EQUAL(r.code, FS_OK);
		svc_reply_fini(&r);
	}
	seed(2000, 2100, "default", 0, ids);

	int next = 500;
	while (token != NULL) {
		m.page_token = token;
		FS_ASSERT_OK(list(&m, NULL, &l, NULL));
		free(token);
		token = NULL;
		if (l == NULL)
			break;
		FS_ASSERT_INT_EQ(l->total_count, 2000);
		for (size_t i = 0; i < l->n_components; i++, next++) {
			const Flowsvc__Component *c = l->components[i];
			if (!FS_CHECK(next < 2000 &&
			            strcmp(c->id, ids[next]) == 0 &&
			            c->version == 1 && c->n_input_fields == 0,
			        "item %d: %s version %lld", next, c->name,
			        (long long) c->version))
				break;
		}
		if (l->next_page_token != NULL)
			token = strdup(l->next_page_token);
		flowsvc__list_reply__free_unpacked(l, NULL);
	}
	FS_ASSERT_INT_EQ(next, 2000);
	/* A new list sees the changes. */
	char **names;
	size_t n;
	int pages;
	uint64_t total;
	FS_ASSERT_OK(
	    page_all(flows_req(700), NULL, &names, &n, &pages, &total));
	FS_ASSERT_INT_EQ(n, 500 + 750 + 100);
	FS_ASSERT_INT_EQ(total, 1350);
	free_names(names, n);
	svc_close(S);
}

static Flowsvc__Caller
caller_of(char **groups, size_t n)
{
	Flowsvc__Caller w = FLOWSVC__CALLER__INIT;

	w.has_restricted = 1;
	w.restricted = 1;
	w.groups = groups;
	w.n_groups = n;
	return w;
}

/* A token answers the caller it was made for, with the request it was
 * made for; a restricted caller's view holds its groups only. */
static void
test_tokens_bound_to_caller_and_request(void)
{
	char *ga[] = {"team_a"}, *gb[] = {"team_b"};
	Flowsvc__Caller a = caller_of(ga, 1), b = caller_of(gb, 1);
	Flowsvc__ListRequest m = flows_req(100);
	Flowsvc__ListReply *l;
	svc_reply r;

	CU_ASSERT_EQUAL_FATAL(open_with(0, 0, 0), 0);
	seed(0, 300, "team_a", 0, NULL);
	seed(300, 700, "team_b", 0, NULL);
	FS_ASSERT_OK(list(&m, &a, &l, NULL));
	FS_ASSERT_INT_EQ(l->total_count, 300);
	char *token = strdup(l->next_page_token);
	flowsvc__list_reply__free_unpacked(l, NULL);

	m.page_token = token;
	/* Another caller, and one with every group: unknown. */
	FS_ASSERT_INT_EQ(list(&m, &b, &l, &r), FS_INVALID_ARGUMENT);
	CU_ASSERT_STRING_EQUAL(viol(&r, "page_token"),
	    "Unknown or expired page token: list again without it.");
	svc_reply_fini(&r);
	FS_ASSERT_INT_EQ(list(&m, NULL, &l, NULL), FS_INVALID_ARGUMENT);
	/* Its caller, other filters: refused. */
	m.group_iexact = "team_a";
	FS_ASSERT_INT_EQ(list(&m, &a, &l, &r), FS_INVALID_ARGUMENT);
	CU_ASSERT_STRING_EQUAL(viol(&r, "page_token"),
	    "The page token belongs to another list: send it with the "
	    "request its list began with.");
	svc_reply_fini(&r);
	m.group_iexact = NULL;
	/* Not a token at all. */
	m.page_token = "zz";
	FS_ASSERT_INT_EQ(list(&m, &a, &l, NULL), FS_INVALID_ARGUMENT);
	m.page_token = token;

	/* Its caller: the rest, of team_a only. */
	char **names;
	size_t n;
	int pages;
	uint64_t total;
	m.page_token = NULL;
	FS_ASSERT_OK(page_all(m, &a, &names, &n, &pages, &total));
	FS_ASSERT_INT_EQ(n, 300);
	CU_ASSERT_STRING_EQUAL(names[299], "name_299");
	free_names(names, n);
	/* And the first token still works, the same page again. */
	m.page_token = token;
	FS_ASSERT_OK(list(&m, &a, &l, NULL));
	FS_ASSERT_INT_EQ(l->n_components, 100);
	CU_ASSERT_STRING_EQUAL(l->components[0]->name, "name_100");
	flowsvc__list_reply__free_unpacked(l, NULL);
	free(token);
	svc_close(S);
}

/* page_size 0: the count only, no view; with a token: the view ends. */
static void
test_page_size_zero(void)
{
	Flowsvc__ListRequest m = flows_req(0);
	Flowsvc__ListReply *l;

	CU_ASSERT_EQUAL_FATAL(open_with(0, 0, 0), 0);
	seed(0, 300, "default", 0, NULL);
	FS_ASSERT_OK(list(&m, NULL, &l, NULL));
	FS_ASSERT_INT_EQ(l->n_components, 0);
	FS_ASSERT_INT_EQ(l->total_count, 300);
	CU_ASSERT_PTR_NULL(l->next_page_token);
	CU_ASSERT_TRUE(l->has_revision); /* counted without a data dir too */
	flowsvc__list_reply__free_unpacked(l, NULL);

	m = flows_req(10);
	FS_ASSERT_OK(list(&m, NULL, &l, NULL));
	char *token = strdup(l->next_page_token);
	flowsvc__list_reply__free_unpacked(l, NULL);
	m.page_size = 0;
	m.page_token = token;
	FS_ASSERT_OK(list(&m, NULL, &l, NULL));
	FS_ASSERT_INT_EQ(l->total_count, 300);
	flowsvc__list_reply__free_unpacked(l, NULL);
	m.page_size = 10;
	FS_ASSERT_INT_EQ(list(&m, NULL, &l, NULL), FS_INVALID_ARGUMENT);
	free(token);
	svc_close(S);
}

/* Polls m (with its token) until the token is refused, for at most 5 s.
 * Returns the milliseconds it took, or -1. */
static long long
wait_expired(Flowsvc__ListRequest *m)
{
	struct timespec t0, t;
	Flowsvc__ListReply *l;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		/* page_size 0 would end it: read one entry, not advancing. */
		int code = list(m, NULL, &l, NULL);
		if (l != NULL)
			flowsvc__list_reply__free_unpacked(l, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t);
		long long ms = (t.tv_sec - t0.tv_sec) * 1000LL +
		    (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (code == FS_INVALID_ARGUMENT)
			return ms;
		if (ms > 5000)
			return -1;
		fs_test_poll_pause(20);
	}
}

/* An idle view ends: its token answers as unknown. */
static void
test_idle_views_expire(void)
{
	Flowsvc__ListRequest m = flows_req(10);
	Flowsvc__ListReply *l;

	CU_ASSERT_EQUAL_FATAL(open_with(0, 300, 0), 0);
	seed(0, 100, "default", 0, NULL);
	FS_ASSERT_OK(list(&m, NULL, &l, NULL));
	char *token = strdup(l->next_page_token);
	flowsvc__list_reply__free_unpacked(l, NULL);
	/* Reading it keeps it alive: read the same page for a while. */
	m.page_token = token;
	for (int i = 0; i < 8; i++) {
		FS_ASSERT_OK(list(&m, NULL, &l, NULL));
		if (l != NULL)
			flowsvc__list_reply__free_unpacked(l, NULL);
		fs_test_poll_pause(100);
	}
	/* Left alone (a read would keep it alive, so no polling) for five
	 * idle periods, it has ended: the sweeper looks twice a period. */
	struct timespec ts = {1, 500 * 1000000L};
	nanosleep(&ts, NULL);
	FS_ASSERT_INT_EQ(list(&m, NULL, &l, NULL), FS_INVALID_ARGUMENT);
	free(token);
	svc_close(S);
}

/* At most list_views views: past it a new list waits for room
 * (UNAVAILABLE) while the others are read, and replaces the least
 * recently read one once it has been idle a second. Lists that fit one
 * page need no view. */
static void
test_views_capped(void)
{
	Flowsvc__ListRequest m = flows_req(10);
	Flowsvc__ListReply *l;
	svc_reply r;
	char *tok[2];

	CU_ASSERT_EQUAL_FATAL(open_with(2, 30000, 0), 0);
	seed(0, 100, "default", 0, NULL);
	for (int i = 0; i < 2; i++) {
		FS_ASSERT_OK(list(&m, NULL, &l, NULL));
		tok[i] = strdup(l->next_page_token);
		flowsvc__list_reply__free_unpacked(l, NULL);
	}
	FS_ASSERT_INT_EQ(list(&m, NULL, &l, &r), FS_UNAVAILABLE);
	CU_ASSERT_STRING_EQUAL(r.message,
	    "Too many lists in progress; try again shortly.");
	svc_reply_fini(&r);
	/* One page: no view needed. */
	Flowsvc__ListRequest one = flows_req(200);
	FS_ASSERT_OK(list(&one, NULL, &l, NULL));
	FS_ASSERT_INT_EQ(l->n_components, 100);
	flowsvc__list_reply__free_unpacked(l, NULL);
	/* Idle a second: the least recently read one goes. */
	m.page_token = tok[1];
	FS_ASSERT_OK(list(&m, NULL, &l, NULL));
	flowsvc__list_reply__free_unpacked(l, NULL);
	struct timespec ts = {1, 100 * 1000000L};
	nanosleep(&ts, NULL);
	m.page_token = NULL;
	FS_ASSERT_OK(list(&m, NULL, &l, NULL));
	flowsvc__list_reply__free_unpacked(l, NULL);
	m.page_token = tok[0];
	FS_ASSERT_INT_EQ(list(&m, NULL, &l, NULL), FS_INVALID_ARGUMENT);
	m.page_token = tok[1];
	FS_ASSERT_OK(list(&m, NULL, &l, NULL));
	flowsvc__list_reply__free_unpacked(l, NULL);
	free(tok[0]);
	free(tok[1]);
	svc_close(S);
}

/* Changes made while a view is read keep what they replace alive for it;
 * past list_pinned_max bytes of that, the oldest view ends, and the
 * memory is freed. */
static void
test_pinned_memory_bounded(void)
{
	static char ids[200][40];
	Flowsvc__ListRequest m = flows_req(10);
	Flowsvc__ListReply *l;

	CU_ASSERT_EQUAL_FATAL(open_with(0, 30000, 256 * 1024), 0);
	seed(0, 200, "default", 0, ids);
	FS_ASSERT_OK(list(&m, NULL, &l, NULL));
	char *token = strdup(l->next_page_token);
	flowsvc__list_reply__free_unpacked(l, NULL);
	/* Two rounds of 200 updates with 4 KB of fields each: the first
	 * round's forms (about 800 KB) are retired by the second. */
	for (int round = 0; round < 2; round++) {
		size_t nf;
		char **f = fields(4000, (char) ('a' + round), &nf);
		for (int i = 0; i < 200; i++) {
			Flowsvc__UpdateRequest u =
			    FLOWSVC__UPDATE_REQUEST__INIT;
			Flowsvc__StringList in = FLOWSVC__STRING_LIST__INIT;
			in.items = f;
			in.n_items = nf;
			u.id = ids[i];
			u.input_fields = &in;
			svc_reply r;
			call(FLOWSVC__METHOD__UPDATE, &u.base, NULL, &r);
			CU_ASSERT_EQUAL(r.code, FS_OK);
			svc_reply_fini(&r);
		}
		free_fields(f, nf);
	}
	m.page_token = token;
	long long ms = wait_expired(&m);
	FS_CHECK(ms >= 0,
	    "the view pinning about 800 KB (limit 256 KiB) "
	    "did not end within 5 s");
	free(token);
	svc_close(S);
}

/* Without page_size: everything in one reply, with total_count. */
static void
test_whole_list_as_before(void)
{
	Flowsvc__ListRequest m = flows_req((uint32_t) -1);
	Flowsvc__ListReply *l;

	CU_ASSERT_EQUAL_FATAL(open_with(0, 0, 0), 0);
	seed(0, 12000, "default", 0, NULL);
	FS_ASSERT_OK(list(&m, NULL, &l, NULL));
	FS_ASSERT_INT_EQ(l->n_components, 12000);
	FS_ASSERT_INT_EQ(l->total_count, 12000);
	CU_ASSERT_PTR_NULL(l->next_page_token);
	flowsvc__list_reply__free_unpacked(l, NULL);
	m.has_limit = 1;
	m.limit = 5;
	FS_ASSERT_OK(list(&m, NULL, &l, NULL));
	FS_ASSERT_INT_EQ(l->n_components, 5);
	FS_ASSERT_INT_EQ(l->total_count, 12000);
	flowsvc__list_reply__free_unpacked(l, NULL);
	svc_close(S);
}

int
main(void)
{
	static CU_TestInfo tests[] =
	    {{"pages hold every match in order",
	         test_pages_hold_every_match_in_order},
	        {"pages bounded in bytes", test_pages_bounded_in_bytes},
	        {"later pages read the cut", test_later_pages_read_the_cut},
	        {"tokens bound to caller and request",
	            test_tokens_bound_to_caller_and_request},
	        {"page_size 0", test_page_size_zero},
	        {"idle views expire", test_idle_views_expire},
	        {"views capped in number", test_views_capped},
	        {"pinned memory bounded", test_pinned_memory_bounded},
	        {"a whole list as before", test_whole_list_as_before},
	        CU_TEST_INFO_NULL};
	static CU_SuiteInfo suites[] = {{"list paging", NULL, NULL, NULL, NULL,
	                                    tests},
	    CU_SUITE_INFO_NULL};
	return fs_test_main(suites);
}
