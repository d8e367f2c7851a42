/*
 * tl_rest.c - see tl_rest.h.
 */
#include "tl_rest.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tl_check.h"
#include "tl_json.h"

int
fs_rest(fs_test_env *env, const char *method, const char *path,
    const char *body, fs_http_resp *resp)
{
	return fs_http_request(env->http, method, path, NULL, body,
	    body ? (size_t) -1 : 0, resp);
}

int
fs_restf(fs_test_env *env, const char *method, const char *body,
    fs_http_resp *resp, const char *path_fmt, ...)
{
	char path[1024];
	va_list ap;

	va_start(ap, path_fmt);
	vsnprintf(path, sizeof(path), path_fmt, ap);
	va_end(ap);
	return fs_rest(env, method, path, body, resp);
}

int
fs_rest_create(fs_test_env *env, const char *coll, const char *body,
    char id[64], const char *file, int line)
{
	fs_http_resp r;
	char path[64];
	const char *got;
	int ok;

	id[0] = '\0';
	snprintf(path, sizeof(path), "/api/%s/", coll);
	fs_rest(env, "POST", path, body, &r);
	ok = fs_check_status(&r, 201, file, line);
	got = fs_json_str(r.json, "id");
	if (ok) {
		ok = fs_check(got != NULL && strlen(got) < 64, file, line,
		    "id in the created body", "201 without a string id: %s",
		    r.body);
	}
	if (ok) {
		strcpy(id, got);
	}
	fs_http_resp_free(&r);
	return ok ? 0 : -1;
}
