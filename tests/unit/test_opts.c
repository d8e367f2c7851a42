/*
 * test_opts.c - fs_opts: defaults from the table, both value forms,
 * repeatable options, arguments between options, the one answer to a
 * mistake (and its exit status), --help generated from the table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_opts.h"
#include "testlib.h"

struct cfg {
	const char *name;
	const char *mode;
	long long n;
	double ratio;
	int flag;
	fs_opt_list urls;
	const char *unset;
};

#define OFF(f) offsetof(struct cfg, f)

static const fs_opt opts[] = {
    {.name = "name",
        .type = FS_OPT_STR,
        .off = OFF(name),
        .def = "anon",
        .help = "a name"},
    {.name = "mode",
        .type = FS_OPT_CHOICE,
        .off = OFF(mode),
        .def = "b",
        .choices = "a|b|c",
        .help = "a mode"},
    {.name = "n",
        .type = FS_OPT_INT,
        .off = OFF(n),
        .def = "7",
        .min = 1,
        .max = 100,
        .help = "a count"},
    {.name = "ratio",
        .type = FS_OPT_NUM,
        .off = OFF(ratio),
        .def = "0.5",
        .min = 0.1,
        .max = 2,
        .help = "a ratio"},
    {.name = "flag", .type = FS_OPT_FLAG, .off = OFF(flag), .help = "a flag"},
    {.name = "url",
        .type = FS_OPT_LIST,
        .off = OFF(urls),
        .def = "tcp://default",
        .arg = "URL",
        .help = "an address, repeatable; the words of this help are many "
                "so that it has to wrap over more than one line of the "
                "help, which must stay under eighty columns"},
    {.name = "unset",
        .type = FS_OPT_STR,
        .off = OFF(unset),
        .help = "no default"},
};

static const fs_opts_prog prog = {
    .name = "prog",
    .summary = "a program to test fs_opts",
    .usage = "[options] [ARG]",
    .notes = "Notes.\n",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
    .max_args = 1,
};

/* Runs fs_opts_parse on a NULL-terminated argument list (argv[0] added),
 * capturing stdout and stderr into out/err (caller frees). */
static int
parse(struct cfg *c, fs_opts_result *res, char **out, char **err, ...)
{
	char *argv[32] = {(char *) "prog"};
	int argc = 1, rv, save_out, save_err;
	FILE *fo = tmpfile(), *fe = tmpfile();
	va_list ap;
	const char *a;

	va_start(ap, err);
	while ((a = va_arg(ap, const char *)) != NULL && argc < 31)
		argv[argc++] = (char *) a;
	va_end(ap);
	/* Garbage that fs_opts_parse must overwrite with the defaults. */
	memset(c, 0x5a, sizeof(*c));
	fflush(stdout);
	fflush(stderr);
	save_out = dup(STDOUT_FILENO);
	save_err = dup(STDERR_FILENO);
	if (fo != NULL && fe != NULL) {
		dup2(fileno(fo), STDOUT_FILENO);
		dup2(fileno(fe), STDERR_FILENO);
	}
	rv = fs_opts_parse(&prog, c, argc, argv, res);
	fflush(stdout);
	fflush(stderr);
	dup2(save_out, STDOUT_FILENO);
	dup2(save_err, STDERR_FILENO);
	close(save_out);
	close(save_err);
	for (int k = 0; k < 2; k++) {
		FILE *f = k ? fe : fo;
		char **dst = k ? err : out;
		long n = f != NULL ? ftell(f) : -1;
		*dst = calloc(1, n > 0 ? (size_t) n + 1 : 1);
		if (f != NULL && n > 0 && *dst != NULL) {
			rewind(f);
			if (fread(*dst, 1, (size_t) n, f) != (size_t) n)
				(*dst)[0] = '\0';
		}
		if (f != NULL)
			fclose(f);
	}
	return rv;
}

static void
test_defaults(void)
{
	struct cfg c;
	fs_opts_result res;
	char *out, *err;

	CU_ASSERT_EQUAL(parse(&c, &res, &out, &err, NULL), FS_OPTS_OK);
	FS_ASSERT_STR_EQ(c.name, "anon");
	FS_ASSERT_STR_EQ(c.mode, "b");
	CU_ASSERT_EQUAL(c.n, 7);
	CU_ASSERT_DOUBLE_EQUAL(c.ratio, 0.5, 1e-9);
	CU_ASSERT_EQUAL(c.flag, 0);
	CU_ASSERT_PTR_NULL(c.unset);
	CU_ASSERT_EQUAL(c.urls.n, 1);
	if (c.urls.n == 1)
		FS_ASSERT_STR_EQ(c.urls.v[0], "tcp://default");
	CU_ASSERT_EQUAL(res.given, 0);
	CU_ASSERT_EQUAL(res.nargs, 0);
	FS_CHECK(out[0] == '\0' && err[0] == '\0', "quiet: %s%s", out, err);
	free(out);
	free(err);
}

static void
test_values(void)
{
	struct cfg c;
	fs_opts_result res;
	char *out, *err;

	CU_ASSERT_EQUAL(parse(&c, &res, &out, &err, "--name", "x", "--mode=c",
	                    "arg", "--n=100", "--ratio", "2", "--flag",
	                    "--url", "u1", "--url=u2", "--", "--not-an-option",
	                    NULL),
	    FS_OPTS_USAGE); /* two arguments where one is allowed */
	free(out);
	free(err);
	CU_ASSERT_EQUAL(parse(&c, &res, &out, &err, "--name", "x", "--mode=c",
	                    "arg", "--n=100", "--ratio", "2", "--flag",
	                    "--url", "u1", "--url=u2", "--unset=", NULL),
	    FS_OPTS_OK);
	FS_ASSERT_STR_EQ(c.name, "x");
	FS_ASSERT_STR_EQ(c.mode, "c");
	CU_ASSERT_EQUAL(c.n, 100);
	CU_ASSERT_DOUBLE_EQUAL(c.ratio, 2.0, 1e-9);
	CU_ASSERT_EQUAL(c.flag, 1);
	FS_ASSERT_STR_EQ(c.unset, "");
	if (FS_CHECK(c.urls.n == 2, "%d urls", c.urls.n)) {
		FS_ASSERT_STR_EQ(c.urls.v[0], "u1");
		FS_ASSERT_STR_EQ(c.urls.v[1], "u2");
	}
	if (FS_CHECK(res.nargs == 1, "%d args", res.nargs))
		FS_ASSERT_STR_EQ(res.args[0], "arg");
	CU_ASSERT(fs_opts_given(&prog, &res, "flag"));
	CU_ASSERT(fs_opts_given(&prog, &res, "url"));
	CU_ASSERT(!fs_opts_given(&prog, &res, "nope"));
	free(out);
	free(err);

	/* "--" makes the rest arguments. */
	CU_ASSERT_EQUAL(parse(&c, &res, &out, &err, "--", "--flag", NULL),
	    FS_OPTS_OK);
	CU_ASSERT_EQUAL(c.flag, 0);
	if (FS_CHECK(res.nargs == 1, "%d args", res.nargs))
		FS_ASSERT_STR_EQ(res.args[0], "--flag");
	free(out);
	free(err);
}

/* Every mistake: exit status 2, nothing on stdout, one line naming it and
 * one line of hint on stderr. */
static void
test_mistakes(void)
{
	static const struct {
		const char *a, *b, *want;
	} cases[] = {
	    {"--bogus", NULL, "prog: unknown option '--bogus'\n"},
	    {"--bogus=1", NULL, "prog: unknown option '--bogus'\n"},
	    {"-x", NULL, "prog: unknown option '-x'\n"},
	    {"--n", "0", "prog: --n: '0' is not an integer in 1..100\n"},
	    {"--n", "12x", "prog: --n: '12x' is not an integer in 1..100\n"},
	    {"--n", NULL, "prog: --n needs a value (N)\n"},
	    {"--ratio=3", NULL,
	        "prog: --ratio: '3' is not a number in "
	        "0.1..2\n"},
	    {"--mode", "d", "prog: --mode: 'd' is not one of a, b, c\n"},
	    {"--flag=1", NULL, "prog: --flag takes no value\n"},
	};
	struct cfg c;
	fs_opts_result res;
	char *out, *err, want[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rv =
		    parse(&c, &res, &out, &err, cases[i].a, cases[i].b, NULL);
		snprintf(want, sizeof(want), "%sTry 'prog --help'.\n",
		    cases[i].want);
		FS_CHECK(rv == FS_OPTS_USAGE && out[0] == '\0' &&
		        strcmp(err, want) == 0,
		    "%s %s: %d, stderr \"%s\"", cases[i].a,
		    cases[i].b ? cases[i].b : "", rv, err);
		free(out);
		free(err);
	}
}

static void
test_help_and_version(void)
{
	struct cfg c;
	fs_opts_result res;
	char *out, *err, *line, *save = NULL, want[64];
	int n = 0, wrapped = 0;

	CU_ASSERT_EQUAL(parse(&c, &res, &out, &err, "--version", NULL),
	    FS_OPTS_EXIT);
	snprintf(want, sizeof(want), "prog %s\n", fs_opts_version());
	FS_CHECK(strcmp(out, want) == 0 && fs_opts_version()[0] != '\0',
	    "--version: %s", out);
	free(out);
	free(err);

	CU_ASSERT_EQUAL(parse(&c, &res, &out, &err, "-h", NULL), FS_OPTS_EXIT);
	{
		static const char head[] =
		    "prog - a program to test fs_opts\n\n"
		    "Usage: prog [options] [ARG]\n";
		FS_CHECK(strncmp(out, head, sizeof(head) - 1) == 0,
		    "first lines: %s", out);
	}
	FS_CHECK(strstr(out, "(default: tcp://default)") != NULL &&
	        strstr(out, "(default: 7)") != NULL &&
	        strstr(out, "  --mode a|b|c") != NULL &&
	        strstr(out, "  --version") != NULL &&
	        strstr(out, "\nNotes.\n") != NULL,
	    "--help: %s", out);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		n++;
		FS_CHECK(strlen(line) <= 79, "line over 79 columns: %s", line);
		wrapped += strncmp(line, "      ", 6) == 0;
	}
	FS_CHECK(n > 10 && wrapped >= 1, "%d lines, %d continued", n, wrapped);
	free(out);
	free(err);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"defaults from the table", test_defaults},
	    {"--name value, --name=value, lists, arguments", test_values},
	    {"mistakes: one line, a hint, exit 2", test_mistakes},
	    {"--help and --version", test_help_and_version},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"fs_opts", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
