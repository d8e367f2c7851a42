/* Every program answers the command line the same way (fs_opts): --version
 * prints "PROGRAM VERSION" with the CMake project's version; an unknown
 * option is one line "PROGRAM: unknown option '--x'" and a hint, exit 2;
 * --help starts with a one-line description and fits 79 columns; the
 * flags both servers take are written alike. And the
 * README's flag tables say what the programs' --help says: the same
 * flags with the same defaults. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "testlib.h"

static const struct {
	const char *name, *bin;
} progs[] = {
    {"flow-service", FLOW_SERVICE_BIN},
    {"flow-gateway", FLOW_GATEWAY_BIN},
    {"flowctl", FLOWCTL_BIN},
    {"flow-check", FLOW_CHECK_BIN},
    {"flow-bench", FLOW_BENCH_BIN},
};
#define NPROGS (sizeof(progs) / sizeof(progs[0]))

/* The source tree's root, from this file's path (tests/system/x.c). */
static int
src_path(const char *rel, char out[PATH_MAX])
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", __FILE__) >= (int) sizeof(buf))
		return -1;
	for (int i = 0; i < 3; i++) {
		char *d = dirname(buf);
		memmove(buf, d, strlen(d) + 1);
	}
	return snprintf(out, PATH_MAX, "%s/%s", buf, rel) < PATH_MAX ? 0 : -1;
}

static int
run(fs_test_run_result *r, const char *bin, const char *a1, const char *a2)
{
	char *argv[] = {(char *) bin, (char *) a1, (char *) a2, NULL};

	memset(r, 0, sizeof(*r));
	return fs_test_run(r, argv, NULL, NULL, 30000);
}

static void
test_version(void)
{
	char path[PATH_MAX], want[128], version[64] = "";
	char *cm;
	const char *p;
	fs_test_run_result r;

	/* project(flowsvc VERSION x.y.z ...) in the top CMakeLists.txt. */
	if (!FS_CHECK(src_path("CMakeLists.txt", path) == 0 &&
	            (cm = fs_file_read(path, NULL)) != NULL,
	        "read %s", path))
		return;
	if ((p = strstr(cm, "project(flowsvc VERSION ")) != NULL)
		sscanf(p + 24, "%63[0-9.]", version);
	free(cm);
	if (!FS_CHECK(version[0] != '\0', "no version in %s", path))
		return;
	for (size_t i = 0; i < NPROGS; i++) {
		int rc = run(&r, progs[i].bin, "--version", NULL);

		snprintf(want, sizeof(want), "%s %s\n", progs[i].name,
		    version);
		FS_CHECK(rc == 0 && r.exit_code == 0 && r.out != NULL &&
		        strcmp(r.out, want) == 0 && r.err_len == 0,
		    "%s --version: exit %d, \"%s\" (want \"%s\")",
		    progs[i].name, r.exit_code, r.out ? r.out : "", want);
		fs_test_run_result_free(&r);
	}
}

static void
test_unknown_option(void)
{
	static const char *const forms[] = {"--no-such-option",
	    "--no-such-option=1"};
	char want[256];
	fs_test_run_result r;

	for (size_t i = 0; i < NPROGS; i++) {
		snprintf(want, sizeof(want),
		    "%s: unknown option '--no-such-option'\nTry '%s "
		    "--help'.\n",
		    progs[i].name, progs[i].name);
		for (size_t f = 0; f < 2; f++) {
			int rc = run(&r, progs[i].bin, forms[f], NULL);

			FS_CHECK(rc == 0 && r.exit_code == 2 &&
			        r.out_len == 0 && r.err != NULL &&
			        strcmp(r.err, want) == 0,
			    "%s %s: exit %d, stderr \"%s\"", progs[i].name,
			    forms[f], r.exit_code, r.err ? r.err : "");
			fs_test_run_result_free(&r);
		}
	}
}

static void
test_help(void)
{
	fs_test_run_result r;
	char want[64];

	for (size_t i = 0; i < NPROGS; i++) {
		char *line, *save = NULL;
		int n = 0, rc = run(&r, progs[i].bin, "--help", NULL);

		snprintf(want, sizeof(want), "%s - ", progs[i].name);
		if (!FS_CHECK(rc == 0 && r.exit_code == 0 && r.out != NULL,
		        "%s --help: exit %d", progs[i].name, r.exit_code)) {
			fs_test_run_result_free(&r);
			continue;
		}
		FS_CHECK(strncmp(r.out, want, strlen(want)) == 0 &&
		        strstr(r.out, "\n\nUsage: ") != NULL &&
		        strstr(r.out, "--version") != NULL,
		    "%s --help starts with its description: %s", progs[i].name,
		    r.out);
		for (line = strtok_r(r.out, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save))
			if (strlen(line) > 79 && n++ < 3)
				FS_CHECK(0, "%s --help: over 79 columns: %s",
				    progs[i].name, line);
		fs_test_run_result_free(&r);
	}
}

/* ---- README's tables against --help -------------------------------------- */

#define MAXF 64
struct flag {
	char name[64];
	char def[128]; /* "" when none */
	char left[96]; /* "--name ARG" as --help shows it */
};

/* The options of a --help text: "  --name ARG  help ... (default: X)",
 * the help possibly continued on indented lines. */
static int
help_flags(char *text, struct flag *f, int max)
{
	int n = 0;
	char *line, *save = NULL, para[2048] = "";

	for (line = strtok_r(text, "\n", &save);;
	     line = strtok_r(NULL, "\n", &save)) {
		int starts = line != NULL && strncmp(line, "  --", 4) == 0;
		int cont =
		    line != NULL && !starts && strncmp(line, "    ", 4) == 0;
		if (cont) {
			strncat(para, " ", sizeof(para) - strlen(para) - 1);
			strncat(para, line + strspn(line, " "),
			    sizeof(para) - strlen(para) - 1);
			continue;
		}
		if (para[0] != '\0' && n < max) {
			char *d = strstr(para, "(default: ");
			char *e = d ? strrchr(d, ')') : NULL;
			char *gap = strstr(para + 2, "  ");
			sscanf(para, "  --%63[a-z-]", f[n].name);
			snprintf(f[n].left, sizeof(f[n].left), "%.*s",
			    gap ? (int) (gap - para - 2)
			        : (int) strlen(para + 2),
			    para + 2);
			f[n].def[0] = '\0';
			if (d != NULL && e != NULL)
				snprintf(f[n].def, sizeof(f[n].def), "%.*s",
				    (int) (e - d - 10), d + 10);
			if (strcmp(f[n].name, "help") != 0 &&
			    strcmp(f[n].name, "version") != 0)
				n++;
		}
		para[0] = '\0';
		if (line == NULL)
			break;
		if (starts)
			snprintf(para, sizeof(para), "%s", line);
	}
	return n;
}

/* The rows of the first table after "### title": "| `--name ARG` |
 * `default` | meaning |". A default that is not in backquotes ("none",
 * "off") is no default. */
static int
readme_flags(const char *readme, const char *title, struct flag *f, int max)
{
	const char *p = strstr(readme, title);
	int n = 0;

	if (p == NULL)
		return -1;
	p = strstr(p, "\n| `--");
	while (p != NULL && strncmp(p, "\n| `--", 6) == 0 && n < max) {
		/* The first cell may hold "\\|" (choices). */
		const char *cell = strstr(p + 3, "` | ");
		f[n].def[0] = '\0';
		sscanf(p + 6, "%63[a-z-]", f[n].name);
		if (cell != NULL && strncmp(cell, "` | `", 5) == 0)
			sscanf(cell + 5, "%127[^`]", f[n].def);
		n++;
		p = strchr(p + 1, '\n');
	}
	return n;
}

static void
check_table(const char *readme, const char *prog, const char *bin)
{
	struct flag h[MAXF], m[MAXF];
	char title[64];
	fs_test_run_result r;
	int nh, nm;

	snprintf(title, sizeof(title), "\n### %s\n", prog);
	if (!FS_CHECK(run(&r, bin, "--help", NULL) == 0 && r.exit_code == 0 &&
	            r.out != NULL,
	        "%s --help", prog)) {
		fs_test_run_result_free(&r);
		return;
	}
	nh = help_flags(r.out, h, MAXF);
	nm = readme_flags(readme, title, m, MAXF);
	fs_test_run_result_free(&r);
	FS_CHECK(nh > 5 && nm == nh, "%s: %d flags in --help, %d in README",
	    prog, nh, nm);
	for (int i = 0; i < nh; i++) {
		int found = 0;
		for (int j = 0; j < nm; j++) {
			if (strcmp(h[i].name, m[j].name) != 0)
				continue;
			found = 1;
			FS_CHECK(strcmp(h[i].def, m[j].def) == 0,
			    "%s --%s: default \"%s\" in --help, \"%s\" in "
			    "README",
			    prog, h[i].name, h[i].def, m[j].def);
		}
		FS_CHECK(found, "%s --%s is not in README's table", prog,
		    h[i].name);
	}
}

/* The flags both servers take are written the same way: a flag that is
 * a bare switch in one is one in the other (--access-log), and a value
 * has the same name and choices (--log-level LEVEL). */
static void
test_shared_flags(void)
{
	struct flag svc[MAXF], gw[MAXF];
	fs_test_run_result r1, r2;
	int n1 = 0, n2 = 0, shared = 0;

	if (run(&r1, FLOW_SERVICE_BIN, "--help", NULL) == 0 && r1.out != NULL)
		n1 = help_flags(r1.out, svc, MAXF);
	if (run(&r2, FLOW_GATEWAY_BIN, "--help", NULL) == 0 && r2.out != NULL)
		n2 = help_flags(r2.out, gw, MAXF);
	fs_test_run_result_free(&r1);
	fs_test_run_result_free(&r2);
	for (int i = 0; i < n1; i++)
		for (int j = 0; j < n2; j++) {
			if (strcmp(svc[i].name, gw[j].name) != 0)
				continue;
			shared++;
			FS_CHECK(strcmp(svc[i].left, gw[j].left) == 0 &&
			        strcmp(svc[i].def, gw[j].def) == 0,
			    "flow-service \"%s\" (default \"%s\"), "
			    "flow-gateway \"%s\" (default \"%s\")",
			    svc[i].left, svc[i].def, gw[j].left, gw[j].def);
		}
	FS_CHECK(shared >= 3,
	    "%d flags shared (access-log, log-format, log-level at least)",
	    shared);
}

static void
test_readme_tables(void)
{
	char path[PATH_MAX];
	char *readme;

	if (!FS_CHECK(src_path("README.md", path) == 0 &&
	            (readme = fs_file_read(path, NULL)) != NULL,
	        "read README.md"))
		return;
	check_table(readme, "flow-service", FLOW_SERVICE_BIN);
	check_table(readme, "flow-gateway", FLOW_GATEWAY_BIN);
	free(readme);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"--version on every program", test_version},
	    {"one answer to an unknown option", test_unknown_option},
	    {"--help: description first, 79 columns", test_help},
	    {"the servers' shared flags take one form", test_shared_flags},
	    {"README's flag tables match --help", test_readme_tables},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"cli", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
