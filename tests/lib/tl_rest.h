/*
 * tl_rest.h - REST shorthands on a running fs_test_env: a request through
 * its keep-alive connection (with a printf-style path), and a create that
 * asserts 201 and hands back the new id.
 */
#ifndef TESTS_TL_REST_H
#define TESTS_TL_REST_H

#include "tl_env.h"
#include "tl_http.h"

/* POSTs body to /api/<coll>/ (coll "flows" or "apps"), asserts 201 and
 * copies the new id into id. Returns 0 or -1. */
int fs_rest_create(fs_test_env *env, const char *coll, const char *body,
    char id[64], const char *file, int line);
#define FS_REST_CREATE(env, coll, body, id)                                   \
	fs_rest_create((env), (coll), (body), (id), __FILE__, __LINE__)

/* GET/PUT/... through env->http; returns what fs_http_request returns. */
int fs_rest(fs_test_env *env, const char *method, const char *path,
    const char *body, fs_http_resp *resp);

/* The same with a printf-style path. */
int fs_restf(fs_test_env *env, const char *method, const char *body,
    fs_http_resp *resp, const char *path_fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
