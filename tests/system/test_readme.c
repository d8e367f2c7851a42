/*
 * test_readme.c - every shell example of README.md, in order, in one bash
 * session, against a real backend and gateway on scratch ports: the
 * README's examples are runnable as written.
 *
 * Every ```sh block runs unless the line before its fence is
 * "<!-- not run by tests/system/test_readme.c: WHY -->" (blocks that build,
 * install, or need a gateway with tokens). The session gets what a reader
 * has after ./tools/run.sh: $FLOWSVC_URL and $FLOWCTL_BACKEND (the
 * examples default them to run.sh's addresses), flowctl on the PATH (this
 * build's, ahead of anything else), the top of the source tree as working
 * directory, and python3 with python3-protobuf for the Python client.
 *
 * Checks: the script exits 0 (bash -e -o pipefail, so every command of
 * every block succeeds); every curl answers below 400, or exactly the
 * status a trailing "# NNN" comment on its line names (so the statuses the
 * README states are checked too); and afterwards the registry is empty,
 * so the examples clean up after themselves and can be run again.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define SKIP_MARK "<!-- not run by tests/system/test_readme.c:"

static fs_test_env env;

static int
suite_init(void)
{
	return fs_env_start(&env, "readme");
}

static int
suite_fini(void)
{
	return fs_env_fini(&env);
}

/* bash's side: a curl that checks the HTTP status (the body still goes
 * to stdout, untouched), and a marker naming each block on stderr. */
static const char prelude[] =
    "set -e -o pipefail\n"
    "cd \"$README_SRC\"\n"
    "__expect=\n"
    "curl() {\n"
    "\tlocal st rc code\n"
    "\tcase \" $* \" in\n"
    "\t*\" -w \"* | *\" --write-out \"*) command curl \"$@\"; return ;;\n"
    "\tesac\n"
    "\t{ st=$(command curl -w '%{stderr}@@STATUS@@%{http_code}' \"$@\" "
    "2>&1 1>&9); rc=$?; } 9>&1\n"
    "\tcode=${st##*@@STATUS@@}\n"
    "\tst=${st%@@STATUS@@*}\n"
    "\t[ -z \"$st\" ] || printf '%s\\n' \"$st\" >&2\n"
    "\tif [ \"$rc\" -ne 0 ]; then\n"
    "\t\techo \"README: curl exited $rc: curl $*\" >&2\n"
    "\t\treturn \"$rc\"\n"
    "\tfi\n"
    "\tif [ -n \"$__expect\" ] && [ \"$code\" != \"$__expect\" ]; then\n"
    "\t\techo \"README: HTTP $code where the README says $__expect: "
    "curl $*\" >&2\n"
    "\t\treturn 22\n"
    "\tfi\n"
    "\tif [ -z \"$__expect\" ] && [ \"$code\" -ge 400 ]; then\n"
    "\t\techo \"README: HTTP $code: curl $*\" >&2\n"
    "\t\treturn 22\n"
    "\tfi\n"
    "}\n"
    "__block() { printf '=== README.md block at line %s\\n' \"$1\" >&2; }\n";

/* The status the trailing comment of a logical line (physical lines
 * joined by backslashes) names ("... # 409: in use"), when the line calls
 * curl; else 0. */
static int
expected_status(const char *line, size_t len)
{
	const char *end = line + len;

	int curl = 0;

	for (size_t i = 0; i + 5 <= len && !curl; i++)
		curl = strncmp(line + i, "curl ", 5) == 0;
	if (!curl)
		return 0;
	/* The comment is on the last physical line. */
	for (const char *p = end; p-- > line && *p != '\n';) {
		if (*p != '#' || p == line || (p[-1] != ' ' && p[-1] != '\t'))
			continue;
		if (end - p >= 5 && p[1] == ' ' && p[2] >= '1' &&
		    p[2] <= '5' && p[3] >= '0' && p[3] <= '9' && p[4] >= '0' &&
		    p[4] <= '9' &&
		    (end - p == 5 || p[5] == ':' || p[5] == ' '))
			return atoi(p + 2);
		return 0;
	}
	return 0;
}

/* Appends one block to the script, a status check around each curl
 * line that states one. Returns how many it checks. */
static int
emit_block(FILE *f, const char *text, int first_line)
{
	const char *p = text;
	int checks = 0;

	fprintf(f, "__block %d\n", first_line);
	while (*p != '\0') {
		/* One logical line: physical lines joined by a trailing
		 * backslash. */
		const char *start = p, *nl;
		size_t len;
		int st;

		for (;;) {
			nl = strchr(p, '\n');
			if (nl == NULL)
				nl = p + strlen(p);
			if (nl > p && nl[-1] == '\\' && *nl == '\n') {
				p = nl + 1;
				continue;
			}
			break;
		}
		len = (size_t) (nl - start);
		st = expected_status(start, len);
		if (st != 0) {
			fprintf(f, "__expect=%d\n", st);
			checks++;
		}
		fprintf(f, "%.*s\n", (int) len, start);
		if (st != 0)
			fprintf(f, "__expect=\n");
		p = *nl ? nl + 1 : nl;
	}
	return checks;
}

/* Writes the README's runnable blocks into a bash script at path.
 * Returns the number of blocks (and the status checks in *checks), or -1.
 */
static int
write_script(const char *readme, const char *path, int *checks, int *skipped)
{
	FILE *f = fopen(path, "w");
	const char *p = readme, *prev = "";
	int line = 1, blocks = 0;

	*checks = *skipped = 0;
	if (f == NULL)
		return -1;
	fputs(prelude, f);
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t) (nl - p) : strlen(p);

		if (len == 5 && strncmp(p, "```sh", 5) == 0) {
			int skip =
			    strncmp(prev, SKIP_MARK, strlen(SKIP_MARK)) == 0;
			const char *body = nl ? nl + 1 : p + len;
			const char *q = body;
			int body_line = line + 1;
			char *text;

			/* The block ends at the next line that is "```". */
			while (*q != '\0' && strncmp(q, "```\n", 4) != 0 &&
			    strcmp(q, "```") != 0) {
				const char *e = strchr(q, '\n');
				q = e ? e + 1 : q + strlen(q);
				line++;
			}
			line++;
			if (skip) {
				(*skipped)++;
			} else if ((text = strndup(body,
			                (size_t) (q - body))) != NULL) {
				*checks += emit_block(f, text, body_line);
				blocks++;
				free(text);
			}
			p = *q ? q + 3 : q;
			if (*p == '\n')
				p++;
			line++;
			prev = "";
			continue;
		}
		prev = p;
		p = nl ? nl + 1 : p + len;
		line++;
	}
	fputs("echo '=== README.md: every block ran' >&2\n", f);
	return fclose(f) == 0 ? blocks : -1;
}

static void
test_readme_examples(void)
{
	char script[PATH_MAX + 32], flowctl_dir[PATH_MAX], py_dir[PATH_MAX];
	char e_url[96], e_backend[96], e_path[3 * PATH_MAX + 64];
	char e_src[PATH_MAX + 16], e_tmp[PATH_MAX + 16];
	char *readme, *argv[] = {(char *) "/bin/bash", script, NULL};
	const char *path = getenv("PATH");
	fs_test_run_result r;
	fs_http_resp resp;
	int blocks, checks, skipped;

	readme = fs_file_read(FLOWSVC_SOURCE_DIR "/README.md", NULL);
	if (!FS_CHECK(readme != NULL, "read README.md"))
		return;
	snprintf(script, sizeof(script), "%s/readme.sh", env.dir);
	blocks = write_script(readme, script, &checks, &skipped);
	free(readme);
	/* The README has a session, the REST calls, flowctl, the Python
	 * client and the operations endpoints: if this finds few blocks or
	 * few checks, the convention changed, not the README. */
	if (!FS_CHECK(blocks >= 8 && checks >= 20,
	        "%d runnable blocks (%d skipped), %d status checks in "
	        "README.md",
	        blocks, skipped, checks))
		return;

	snprintf(flowctl_dir, sizeof(flowctl_dir), "%s", FLOWCTL_BIN);
	snprintf(py_dir, sizeof(py_dir), "%s", PYTHON3);
	snprintf(e_url, sizeof(e_url), "FLOWSVC_URL=http://127.0.0.1:%d",
	    env.gw_port);
	snprintf(e_backend, sizeof(e_backend), "FLOWCTL_BACKEND=%s",
	    env.backend_url);
	snprintf(e_path, sizeof(e_path), "PATH=%s:%s:%s", dirname(flowctl_dir),
	    dirname(py_dir), path ? path : "/usr/bin:/bin");
	snprintf(e_src, sizeof(e_src), "README_SRC=%s", FLOWSVC_SOURCE_DIR);
	snprintf(e_tmp, sizeof(e_tmp), "TMPDIR=%s", env.dir);
	{
		char *envx[] = {e_url, e_backend, e_path, e_src, e_tmp, NULL};
		const char *unset[] = {"FLOWCTL_TIMEOUT", "CDPATH", NULL};

		memset(&r, 0, sizeof(r));
		if (!FS_CHECK(fs_test_run(&r, argv, envx, unset, 240000) == 0,
		        "run %s", script))
			return;
	}
	FS_CHECK(r.exit_code == 0,
	    "the README's examples (%s) exit %d; the end of their stderr "
	    "names the block that failed:\n%s",
	    script, r.exit_code,
	    r.err ? (r.err_len > 3000 ? r.err + r.err_len - 3000 : r.err)
	          : "");
	FS_CHECK(r.err != NULL &&
	        strstr(r.err, "=== README.md: every block ran") != NULL,
	    "the script ran to its end");
	fs_test_run_result_free(&r);

	/* The examples leave the registry as they found it. */
	memset(&resp, 0, sizeof(resp));
	if (fs_http_once(env.gw_port, "GET", "/api/flows/", NULL, NULL, 0,
	        &resp) == 0)
		FS_CHECK(resp.status == 200 && resp.body != NULL &&
		        strcmp(resp.body, "[]") == 0,
		    "flows left behind: %d %s", resp.status,
		    resp.body ? resp.body : "");
	fs_http_resp_free(&resp);
	memset(&resp, 0, sizeof(resp));
	if (fs_http_once(env.gw_port, "GET", "/api/apps/", NULL, NULL, 0,
	        &resp) == 0)
		FS_CHECK(resp.status == 200 && resp.body != NULL &&
		        strcmp(resp.body, "[]") == 0,
		    "apps left behind: %d %s", resp.status,
		    resp.body ? resp.body : "");
	fs_http_resp_free(&resp);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"every README example, in order", test_readme_examples},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"readme", suite_init, suite_fini, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	return fs_test_main(suites);
}
