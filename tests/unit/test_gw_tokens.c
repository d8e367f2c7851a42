/*
 * test_gw_tokens.c - gateway/gw_auth: the tokens file (syntax, every
 * refusal naming its line, secrets kept out of messages), lookups and the
 * Authorization header, the live table's reference counting across swaps
 * (also under concurrent acquirers), and the fixed 401/403 bodies that
 * gw_api renders for backend refusals (CONTRACT §5).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_errors.h"
#include "gw_api.h"
#include "gw_auth.h"
#include "testlib.h"

static gw_tokens *
parse_ok(const char *text, int line)
{
	gw_tokens *t = NULL;
	char err[256] = "";
	int rv = gw_tokens_parse(text, strlen(text), &t, err, sizeof(err));

	fs_check(rv == 0 && t != NULL, __FILE__, line, "gw_tokens_parse",
	    "refused %s: %s", text, err);
	return rv == 0 ? t : NULL;
}

/* Asserts that text is refused with exactly want as the reason. */
static void
parse_err(const char *text, size_t len, const char *want, int line)
{
	gw_tokens *t = (gw_tokens *) &t; /* must come back NULL */
	char err[256] = "";
	int rv = gw_tokens_parse(text, len, &t, err, sizeof(err));

	fs_check(rv == -1 && t == NULL, __FILE__, line, "gw_tokens_parse",
	    "accepted %s", text);
	fs_check_str(err, want, "reason", __FILE__, line);
	if (rv == 0)
		gw_tokens_release(t);
}
#define PARSE_ERR(text, want) parse_err((text), strlen(text), (want), __LINE__)

static const struct gw_grant *
lookup(const gw_tokens *t, const char *tok)
{
	return gw_tokens_lookup(t, tok, strlen(tok));
}

/* The token's groups as "a,b,c"; "*" for every group; "-" when unknown. */
static const char *
groups_of(const gw_tokens *t, const char *tok)
{
	static char buf[512];
	const struct gw_grant *g = lookup(t, tok);
	size_t n = 0;

	if (g == NULL)
		return "-";
	if (g->caller == NULL)
		return "*";
	if (!g->caller->has_restricted || !g->caller->restricted)
		return "(not restricted)";
	buf[0] = '\0';
	for (size_t i = 0; i < g->caller->n_groups; i++)
		n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s%s",
		    i ? "," : "", g->caller->groups[i]);
	return buf;
}

/* ---- the file ------------------------------------------------------------ */

static void
test_parse_ok(void)
{
	gw_tokens *t =
	    parse_ok("# tokens for the test\n"
	             "\n"
	             "alpha_0123456789abcdef teamA\n"
	             "   \t\n"
	             "  # indented comment\n"
	             "beta-0123456789ABCDEF\tteamB,team.C,team-D\r\n"
	             "  root+/~0123456789abc=    *   \n"
	             "short x_y\n"
	             "last_line_without_newline z",
	        __LINE__);

	if (t == NULL)
		return;
	FS_ASSERT_INT_EQ(gw_tokens_count(t), 5);
	FS_ASSERT_INT_EQ(gw_tokens_short(t), 1);
	FS_ASSERT_STR_EQ(groups_of(t, "alpha_0123456789abcdef"), "teamA");
	FS_ASSERT_STR_EQ(groups_of(t, "beta-0123456789ABCDEF"),
	    "teamB,team.C,team-D");
	FS_ASSERT_STR_EQ(groups_of(t, "root+/~0123456789abc="), "*");
	FS_ASSERT_STR_EQ(groups_of(t, "short"), "x_y");
	FS_ASSERT_STR_EQ(groups_of(t, "last_line_without_newline"), "z");
	gw_tokens_release(t);

	/* Nothing but comments: a valid table with no token. */
	if ((t = parse_ok("# nobody yet\n\n", __LINE__)) != NULL) {
		FS_ASSERT_INT_EQ(gw_tokens_count(t), 0);
		FS_ASSERT_STR_EQ(groups_of(t, "anything"), "-");
		gw_tokens_release(t);
	}
	if ((t = parse_ok("", __LINE__)) != NULL) {
		FS_ASSERT_INT_EQ(gw_tokens_count(t), 0);
		gw_tokens_release(t);
	}
}

static void
test_parse_errors(void)
{
	static const char expect[] =
	    "(expected \"TOKEN GROUP[,GROUP...]\" or \"TOKEN *\")";
	char want[256], long_tok[GW_TOKEN_MAX + 16], text[1024];

	snprintf(want, sizeof(want), "line 2: a token without groups %s",
	    expect);
	PARSE_ERR("# c\nsecret_token_1\n", want);
	snprintf(want, sizeof(want), "line 1: more than two fields %s",
	    expect);
	PARSE_ERR("secret_token_1 a b\n", want);
	PARSE_ERR("secret_token_1 a # trailing comment\n", want);
	PARSE_ERR("secret_token_1 a, b\n", want);

	PARSE_ERR("ok_token a\nsecret\"token b\n",
	    "line 2: the token may only hold letters, digits and -._~+/ "
	    "(then = padding)");
	PARSE_ERR("se=cret b\n",
	    "line 1: the token may only hold letters, digits and -._~+/ "
	    "(then = padding)");
	PARSE_ERR("=== b\n",
	    "line 1: the token may only hold letters, digits and -._~+/ "
	    "(then = padding)");
	memset(long_tok, 'k', GW_TOKEN_MAX + 1);
	long_tok[GW_TOKEN_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "%s g\n", long_tok);
	snprintf(want, sizeof(want),
	    "line 1: the token is longer than %d characters", GW_TOKEN_MAX);
	PARSE_ERR(text, want);
	long_tok[GW_TOKEN_MAX] = '\0'; /* exactly the maximum is fine */
	snprintf(text, sizeof(text), "%s g\n", long_tok);
	{
		gw_tokens *t = parse_ok(text, __LINE__);

		if (t != NULL) {
			FS_ASSERT_STR_EQ(groups_of(t, long_tok), "g");
			gw_tokens_release(t);
		}
	}

	PARSE_ERR("tok1 a,,b\n",
	    "line 1: an empty group name in the list of groups");
	PARSE_ERR("tok1 a,\n",
	    "line 1: an empty group name in the list of groups");
	PARSE_ERR("tok1 ,a\n",
	    "line 1: an empty group name in the list of groups");
	PARSE_ERR("tok1 a,*\n",
	    "line 1: \"*\" (every group) must stand alone");
	PARSE_ERR("tok1 **\n",
	    "line 1: group \"**\" is not 1-100 characters of "
	    "A-Z a-z 0-9 _ . -");
	PARSE_ERR("tok1 te/am\n",
	    "line 1: group \"te/am\" is not 1-100 "
	    "characters of A-Z a-z 0-9 _ . -");
	PARSE_ERR("tok1 a,Team,b,team\n",
	    "line 1: group \"team\" is listed twice");
	{
		char g[120];

		memset(g, 'g', 101);
		g[101] = '\0';
		snprintf(text, sizeof(text), "tok1 %s\n", g);
		/* Quoted groups are cut short. */
		snprintf(want, sizeof(want),
		    "line 1: group \"%.44s...\" is not 1-100 characters of "
		    "A-Z a-z 0-9 _ . -",
		    g);
		PARSE_ERR(text, want);
		g[100] = '\0';
		snprintf(text, sizeof(text), "tok1 %s\n", g);
		gw_tokens_release(parse_ok(text, __LINE__));
	}

	PARSE_ERR("tok_same a\n# x\ntok_other b\ntok_same c\n",
	    "line 4: the same token as line 1");
	PARSE_ERR("tok1 a\ntok2\rb\n", "line 2: a control character (0x0d)");
	parse_err("tok1 a\0\n", 8,
	    "the file holds a NUL byte; not a text file", __LINE__);
}

/* Refusals talk about lines, never about the secret on them. */
static void
test_errors_keep_tokens_secret(void)
{
	static const char *const texts[] = {
	    "s3cr3t_value_xyz\n",
	    "s3cr3t_value_xyz a b\n",
	    "s3cr3t_value_xyz! a\n",
	    "s3cr3t_value_xyz a,,b\n",
	    "s3cr3t_value_xyz a\ns3cr3t_value_xyz b\n",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		gw_tokens *t = NULL;
		char err[256] = "";

		FS_CHECK(gw_tokens_parse(texts[i], strlen(texts[i]), &t, err,
		             sizeof(err)) == -1,
		    "accepted %s", texts[i]);
		FS_CHECK(strstr(err, "s3cr3t") == NULL,
		    "the reason quotes the token: %s", err);
		FS_CHECK(strncmp(err, "line ", 5) == 0, "no line: %s", err);
	}
}

static void
test_load(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	gw_tokens *t = NULL;
	char err[256];
	FILE *f;

	if (!FS_CHECK(fs_test_mkdtemp(dir, "gw-tokens") == 0, "mkdtemp"))
		return;
	snprintf(path, sizeof(path), "%s/tokens", dir);
	if ((f = fopen(path, "w")) != NULL) {
		fputs("file_token_0123456789 g1,g2\nroot_0123456789abcdef *\n",
		    f);
		fclose(f);
	}
	if (FS_CHECK(gw_tokens_load(path, &t, err, sizeof(err)) == 0,
	        "load: %s", err)) {
		FS_ASSERT_INT_EQ(gw_tokens_count(t), 2);
		FS_ASSERT_STR_EQ(groups_of(t, "file_token_0123456789"),
		    "g1,g2");
		gw_tokens_release(t);
	}
	FS_CHECK(gw_tokens_load(dir, &t, err, sizeof(err)) == -1 && t == NULL,
	    "a directory loads");
	FS_ASSERT_STR_EQ(err, "not a regular file");
	snprintf(path, sizeof(path), "%s/absent", dir);
	FS_CHECK(gw_tokens_load(path, &t, err, sizeof(err)) == -1 && t == NULL,
	    "a missing file loads");
	FS_ASSERT_STR_EQ(err, "cannot open: No such file or directory");
	fs_test_rmtree(dir);
}

/* ---- lookups ------------------------------------------------------------- */

static void
test_lookup(void)
{
	gw_tokens *t = parse_ok("tokenA_0123456789 a\n"
	                        "tokenB_0123456789 b\n"
	                        "tokenC_0123456789 *\n",
	    __LINE__);

	if (t == NULL)
		return;
	FS_ASSERT_STR_EQ(groups_of(t, "tokenA_0123456789"), "a");
	FS_ASSERT_STR_EQ(groups_of(t, "tokenB_0123456789"), "b");
	/* Case matters; prefixes, extensions and near misses are strangers. */
	FS_ASSERT_STR_EQ(groups_of(t, "TOKENA_0123456789"), "-");
	FS_ASSERT_STR_EQ(groups_of(t, "tokenA_012345678"), "-");
	FS_ASSERT_STR_EQ(groups_of(t, "tokenA_01234567890"), "-");
	FS_ASSERT_STR_EQ(groups_of(t, "tokenA_0123456788"), "-");
	FS_ASSERT_STR_EQ(groups_of(t, ""), "-");
	/* Not NUL-terminated: only len bytes count. */
	FS_CHECK(gw_tokens_lookup(t, "tokenA_0123456789XYZ", 17) ==
	        lookup(t, "tokenA_0123456789"),
	    "length-bounded lookup");
	{
		char big[GW_TOKEN_MAX * 2];

		memset(big, 'a', sizeof(big));
		FS_CHECK(gw_tokens_lookup(t, big, sizeof(big)) == NULL,
		    "oversized token");
	}
	gw_tokens_release(t);
}

static void
test_lookup_many(void)
{
	enum { N = 20000 };
	size_t cap = (size_t) N * 40, len = 0;
	char *text = malloc(cap), tok[40];
	gw_tokens *t;
	size_t found = 0, wrong = 0;

	if (!FS_CHECK(text != NULL, "malloc"))
		return;
	for (int i = 0; i < N; i++)
		len += (size_t) snprintf(text + len, cap - len,
		    "tok%08d_x g%d\n", i, i % 7);
	t = parse_ok(text, __LINE__);
	free(text);
	if (t == NULL)
		return;
	FS_ASSERT_INT_EQ(gw_tokens_count(t), N);
	for (int i = 0; i < N; i++) {
		const struct gw_grant *g;
		char want[16];

		snprintf(tok, sizeof(tok), "tok%08d_x", i);
		snprintf(want, sizeof(want), "g%d", i % 7);
		g = lookup(t, tok);
		if (g != NULL && g->caller != NULL &&
		    g->caller->n_groups == 1 &&
		    strcmp(g->caller->groups[0], want) == 0)
			found++;
		snprintf(tok, sizeof(tok), "tok%08d_y", i);
		if (lookup(t, tok) != NULL)
			wrong++;
	}
	FS_ASSERT_INT_EQ(found, N);
	FS_ASSERT_INT_EQ(wrong, 0);
	gw_tokens_release(t);
}

static enum gw_auth_result
check(const gw_tokens *t, const char *header, const char **groups)
{
	const struct gw_grant *g = (const struct gw_grant *) &g;
	enum gw_auth_result r = gw_tokens_check(t, header, &g);

	if (r != GW_AUTH_OK && g != NULL)
		return (enum gw_auth_result) 99; /* grant must be NULL */
	if (groups != NULL)
		*groups = r == GW_AUTH_OK
		    ? (g->caller ? g->caller->groups[0] : "*")
		    : "-";
	return r;
}

static void
test_check_header(void)
{
	gw_tokens *t =
	    parse_ok("tok_a_0123456789 a\ntok_r_0123456789 *\n", __LINE__);
	const char *g = NULL;

	if (t == NULL)
		return;
	FS_ASSERT_INT_EQ(check(t, NULL, NULL), GW_AUTH_MISSING);
	FS_ASSERT_INT_EQ(check(t, "", NULL), GW_AUTH_MISSING);
	FS_ASSERT_INT_EQ(check(t, "Basic dXNlcjpwdw==", NULL),
	    GW_AUTH_MISSING);
	FS_ASSERT_INT_EQ(check(t, "Token tok_a_0123456789", NULL),
	    GW_AUTH_MISSING);
	FS_ASSERT_INT_EQ(check(t, "Bearertok_a_0123456789", NULL),
	    GW_AUTH_MISSING);
	FS_ASSERT_INT_EQ(check(t, "Bearer", NULL), GW_AUTH_INVALID);
	FS_ASSERT_INT_EQ(check(t, "Bearer    ", NULL), GW_AUTH_INVALID);
	FS_ASSERT_INT_EQ(check(t, "Bearer nope", NULL), GW_AUTH_INVALID);
	FS_ASSERT_INT_EQ(check(t, "Bearer tok_a_0123456789 x", NULL),
	    GW_AUTH_INVALID);
	FS_ASSERT_INT_EQ(check(t, "Bearer tok_a_012345678", NULL),
	    GW_AUTH_INVALID);

	FS_ASSERT_INT_EQ(check(t, "Bearer tok_a_0123456789", &g), GW_AUTH_OK);
	FS_ASSERT_STR_EQ(g, "a");
	FS_ASSERT_INT_EQ(check(t, "bEARER \t tok_a_0123456789 \t", &g),
	    GW_AUTH_OK);
	FS_ASSERT_STR_EQ(g, "a");
	FS_ASSERT_INT_EQ(check(t, "Bearer tok_r_0123456789", &g), GW_AUTH_OK);
	FS_ASSERT_STR_EQ(g, "*");
	gw_tokens_release(t);
}

/* ---- the live table ------------------------------------------------------ */

static void
test_swap_keeps_held_tables(void)
{
	gw_tokens *t1 = parse_ok("old_token_0123456 a\n", __LINE__);
	gw_tokens *t2 = parse_ok("new_token_0123456 b\n", __LINE__);
	const gw_tokens *held, *now;
	gw_auth *a;

	if (t1 == NULL || t2 == NULL) {
		gw_tokens_release(t1);
		gw_tokens_release(t2);
		return;
	}
	if (!FS_CHECK((a = gw_auth_new(t1)) != NULL, "gw_auth_new")) {
		gw_tokens_release(t2);
		return;
	}
	held = gw_auth_acquire(a);
	FS_ASSERT_STR_EQ(groups_of(held, "old_token_0123456"), "a");
	gw_auth_swap(a, t2);
	/* The request that started before the swap keeps its table (ASan
	 * would flag it if the swap had freed it). */
	FS_ASSERT_STR_EQ(groups_of(held, "old_token_0123456"), "a");
	FS_ASSERT_STR_EQ(groups_of(held, "new_token_0123456"), "-");
	now = gw_auth_acquire(a);
	FS_ASSERT_STR_EQ(groups_of(now, "new_token_0123456"), "b");
	FS_ASSERT_STR_EQ(groups_of(now, "old_token_0123456"), "-");
	gw_tokens_release(held); /* the last reference: t1 goes */
	/* Freeing the live table leaves a held reference valid. */
	gw_auth_free(a);
	FS_ASSERT_STR_EQ(groups_of(now, "new_token_0123456"), "b");
	gw_tokens_release(now);
}

struct stress {
	gw_auth *a;
	atomic_bool stop;
	atomic_long lookups;
	atomic_long misses;
};

static void *
stress_reader(void *arg)
{
	struct stress *s = arg;

	while (!atomic_load(&s->stop)) {
		const gw_tokens *t = gw_auth_acquire(s->a);
		const struct gw_grant *g;

		/* In every table generation. */
		if (gw_tokens_check(t, "Bearer always_0123456789", &g) !=
		    GW_AUTH_OK)
			atomic_fetch_add(&s->misses, 1);
		atomic_fetch_add(&s->lookups, 1);
		gw_tokens_release(t);
	}
	return NULL;
}

/* Readers acquire, look up and release while the table is swapped again
 * and again: no reader ever sees a freed table (ASan), none misses. */
static void
test_swap_under_readers(void)
{
	enum { READERS = 4, SWAPS = 300 };
	struct stress s;
	pthread_t th[READERS];
	int started = 0;
	gw_tokens *t = parse_ok("always_0123456789 a\n", __LINE__);

	if (t == NULL)
		return;
	memset(&s, 0, sizeof(s));
	atomic_init(&s.stop, false);
	atomic_init(&s.lookups, 0);
	atomic_init(&s.misses, 0);
	if (!FS_CHECK((s.a = gw_auth_new(t)) != NULL, "gw_auth_new"))
		return;
	for (int i = 0; i < READERS; i++)
		if (pthread_create(&th[i], NULL, stress_reader, &s) == 0)
			started++;
	FS_ASSERT_INT_EQ(started, READERS);
	/* Swap only once readers are at it (bounded wait). */
	for (int64_t until = fs_test_now_ms() + 5000;
	     atomic_load(&s.lookups) < 100 && fs_test_now_ms() < until;)
		fs_test_poll_pause(1);
	for (int i = 0; i < SWAPS; i++) {
		char text[128];

		snprintf(text, sizeof(text),
		    "always_0123456789 a\ngen_%d_0123456789 g%d\n", i, i);
		if ((t = parse_ok(text, __LINE__)) == NULL)
			break;
		gw_auth_swap(s.a, t);
	}
	atomic_store(&s.stop, true);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	FS_CHECK(atomic_load(&s.lookups) > 0, "the readers never ran");
	FS_ASSERT_INT_EQ(atomic_load(&s.misses), 0);
	{
		const gw_tokens *last = gw_auth_acquire(s.a);
		char tok[64];

		snprintf(tok, sizeof(tok), "gen_%d_0123456789", SWAPS - 1);
		FS_CHECK(lookup(last, tok) != NULL,
		    "the last swap is current");
		gw_tokens_release(last);
	}
	gw_auth_free(s.a);
}

/* ---- gw_api: refusals from the backend ----------------------------------- */

static void
test_refusal_bodies(void)
{
	Flowsvc__Reply reply = FLOWSVC__REPLY__INIT;
	struct gw_match m;
	struct gw_resp r;

	gw_route_match("POST", "/api/flows/", &m);
	/* Whatever the backend says, a 403 is CONTRACT §5's fixed text. */
	reply.code = FLOWSVC__CODE__PERMISSION_DENIED;
	reply.message = "group secret_group is not yours";
	gw_api_render(&r, &m, NULL, FS_PERMISSION_DENIED, &reply);
	FS_ASSERT_INT_EQ(r.status, 403);
	FS_ASSERT_STR_EQ(r.body ? r.body : "(none)",
	    "{\"detail\":\"You do not have permission to perform this "
	    "action.\"}");
	gw_resp_fini(&r);
	gw_api_render(&r, &m, NULL, FS_PERMISSION_DENIED, NULL);
	FS_ASSERT_INT_EQ(r.status, 403);
	FS_ASSERT_STR_EQ(r.body ? r.body : "(none)",
	    "{\"detail\":\"You do not have permission to perform this "
	    "action.\"}");
	gw_resp_fini(&r);
	reply.code = FLOWSVC__CODE__UNAUTHENTICATED;
	reply.message = "who are you";
	gw_api_render(&r, &m, NULL, FS_UNAUTHENTICATED, &reply);
	FS_ASSERT_INT_EQ(r.status, 401);
	FS_ASSERT_STR_EQ(r.body ? r.body : "(none)",
	    "{\"detail\":\"Authentication credentials were not provided.\"}");
	gw_resp_fini(&r);
}

static CU_TestInfo file_tests[] = {
    {"valid files: comments, blanks, CRLF, *, groups", test_parse_ok},
    {"malformed lines are refused, naming the line", test_parse_errors},
    {"reasons never quote a token", test_errors_keep_tokens_secret},
    {"loading a file", test_load},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo lookup_tests[] = {
    {"exact match only", test_lookup},
    {"20000 tokens", test_lookup_many},
    {"Authorization header", test_check_header},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo live_tests[] = {
    {"a swap leaves held tables alone", test_swap_keeps_held_tables},
    {"swaps under concurrent readers", test_swap_under_readers},
    {"401/403 bodies from backend codes", test_refusal_bodies},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gw_tokens file", NULL, NULL, NULL, NULL, file_tests},
    {"gw_tokens lookup", NULL, NULL, NULL, NULL, lookup_tests},
    {"gw_auth live table", NULL, NULL, NULL, NULL, live_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
