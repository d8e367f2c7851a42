/*
 * tl_run.h - running a command to completion (flowctl, flow-check, a
 * program that is expected to refuse to start) with a timeout, its
 * environment adjusted, and stdout and stderr captured; stdout is also
 * parsed as JSON.
 */
#ifndef TESTS_TL_RUN_H
#define TESTS_TL_RUN_H

#include <stddef.h>

#include <jansson.h>

/* Runs argv to completion with a timeout, capturing stdout and stderr.
 * env_extra: NULL or "NAME=value" strings added to the environment
 * (NULL-terminated); unset_env: NULL or names removed from it. */
typedef struct fs_test_run_result {
	int exit_code; /* exit status, or 128+signal, or -1 on timeout */
	char *out;     /* NUL-terminated stdout; free with _result_free */
	size_t out_len;
	char *err; /* NUL-terminated stderr */
	size_t err_len;
	json_t *json; /* stdout parsed as JSON (any value), else NULL */
} fs_test_run_result;

int fs_test_run(fs_test_run_result *r, char *const argv[],
    char *const env_extra[], const char *const unset_env[], int timeout_ms);
void fs_test_run_result_free(fs_test_run_result *r);

#endif
