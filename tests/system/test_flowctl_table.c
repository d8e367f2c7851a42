/* flowctl for people: --table (the default on a terminal) prints aligned
 * tables, a pipe still gets JSON, --json and --table exclude each other,
 * and every command has --help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "testlib.h"

static int
ctl(fs_test_env *env, fs_test_run_result *r, const char *a1, const char *a2,
    const char *a3, const char *a4)
{
	char *argv[] = {(char *) FLOWCTL_BIN, (char *) "--backend",
	    env->backend_url, (char *) a1, (char *) a2, (char *) a3,
	    (char *) a4, NULL};
	fs_test_run_result_free(r);
	return fs_test_run(r, argv, NULL, NULL, 60000);
}

/* 1 when some line of text starts with prefix. */
static int
has_line(const char *text, const char *prefix)
{
	const char *p = text;

	while (p != NULL && *p) {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			return 1;
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return 0;
}

static void
test_flowctl_tables(void)
{
	fs_test_env env;
	fs_test_run_result r;
	char id[64] = "", line[256];

	memset(&r, 0, sizeof(r));
	if (!FS_CHECK(fs_env_init(&env, "flowctl_table") == 0 &&
	            fs_env_start_backend(&env) == 0,
	        "backend"))
		goto out;

	/* A pipe gets JSON by default, as before. */
	ctl(&env, &r, "create", "greeting", "--input", "caller");
	if (!FS_CHECK(r.exit_code == 0 && r.json != NULL &&
	            fs_json_str(r.json, "id") != NULL,
	        "create on a pipe prints JSON: %s %s", r.out, r.err))
		goto out;
	snprintf(id, sizeof(id), "%s", fs_json_str(r.json, "id"));

	/* get --table: one "key  value" line per field, values aligned. */
	ctl(&env, &r, "get", id, "--table", NULL);
	FS_CHECK(r.exit_code == 0 && r.json == NULL, "get --table: %s", r.out);
	snprintf(line, sizeof(line), "id             %s", id);
	FS_CHECK(has_line(r.out, line), "id line in: %s", r.out);
	FS_CHECK(has_line(r.out, "name           greeting\n") &&
	        has_line(r.out, "input_fields   caller\n") &&
	        has_line(r.out, "output_fields  -\n") &&
	        has_line(r.out, "version        1\n"),
	    "fields in: %s", r.out);

	/* list --table: a header and one row per component. */
	ctl(&env, &r, "create", "second", "--flows", id);
	FS_CHECK(r.exit_code == 0, "create second: %s", r.err);
	ctl(&env, &r, "list", "--table", NULL, NULL);
	FS_CHECK(r.exit_code == 0 && has_line(r.out, "ID ") &&
	        strstr(r.out, "NAME") != NULL &&
	        strstr(r.out, "FLOWS") != NULL,
	    "list header: %s", r.out);
	snprintf(line, sizeof(line),
	    "%s  greeting  default  1        caller  -", id);
	FS_CHECK(has_line(r.out, line), "greeting row (%s) in: %s", line,
	    r.out);
	{
		int rows = 0;
		for (const char *p = r.out; (p = strchr(p, '\n')) != NULL; p++)
			rows++;
		FS_CHECK(rows == 3, "header + 2 rows, got %d lines: %s", rows,
		    r.out);
	}
	ctl(&env, &r, "list", "--name", "nobody", "--table");
	FS_CHECK(r.exit_code == 0 && strstr(r.out, "(none)") != NULL,
	    "empty list says so: %s", r.out);

	ctl(&env, &r, "status", id, "--table", NULL);
	FS_CHECK(r.exit_code == 0 &&
	        strcmp(r.out, "status  not-deployed\n") == 0,
	    "status table: %s", r.out);

	/* Errors keep their exit codes in table mode. */
	ctl(&env, &r, "get", "00000000-0000-4000-8000-000000000000", "--table",
	    NULL);
	FS_CHECK(r.exit_code == 1 && r.out_len == 0 &&
	        strstr(r.err, "NOT_FOUND") != NULL,
	    "not found: exit %d, %s", r.exit_code, r.err);
	ctl(&env, &r, "list", "--json", "--table", NULL);
	FS_CHECK(r.exit_code == 2, "--json with --table is a usage error (%d)",
	    r.exit_code);

	/* Every command has --help. */
	{
		static const char *const cmds[] = {"get", "list", "create",
		    "update", "delete", "status", "deploy", "start", "stop",
		    "snapshot", "health", "help"};
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
			ctl(&env, &r, cmds[i], "--help", NULL, NULL);
			FS_CHECK(r.exit_code == 0 &&
			        strncmp(r.out, "Usage: flowctl", 14) == 0 &&
			        strstr(r.out, cmds[i]) != NULL,
			    "%s --help: exit %d, %s", cmds[i], r.exit_code,
			    r.out);
		}
	}

out:
	fs_test_run_result_free(&r);
	FS_CHECK(fs_env_fini(&env) == 0, "backend exits 0 on SIGTERM");
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"tables, JSON on a pipe, --help", test_flowctl_tables},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"flowctl_table", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
