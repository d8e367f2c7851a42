#include "fs_errors.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct fs_code_row {
	const char *name;
	const char *message;
	int http;
};

static const struct fs_code_row fs_codes[FS_CODE_COUNT] = {
#define FS_CODE_ROW(name, value, http, msg) [value] = {#name, msg, http},
    FS_CODE_TABLE(FS_CODE_ROW)
#undef FS_CODE_ROW
};

static const struct fs_code_row *
fs_code_row(int code)
{
	if (code < 0 || code >= FS_CODE_COUNT || fs_codes[code].name == NULL)
		return NULL;
	return &fs_codes[code];
}

const char *
fs_code_name(int code)
{
	const struct fs_code_row *r = fs_code_row(code);
	return r ? r->name : "UNKNOWN_CODE";
}

const char *
fs_strerror(int code)
{
	const struct fs_code_row *r = fs_code_row(code);
	return r ? r->message : "Internal error.";
}

int
fs_code_http(int code)
{
	const struct fs_code_row *r = fs_code_row(code);
	return r ? r->http : 500;
}

struct fs_rest_row {
	int http;
	const char *detail;
};

static const struct fs_rest_row fs_rest[FS_REST_ERROR_COUNT] = {
#define FS_REST_ROW(name, http, detail) [FS_REST_##name] = {http, detail},
    FS_REST_ERROR_TABLE(FS_REST_ROW)
#undef FS_REST_ROW
};

const char *
fs_rest_detail(int e)
{
	return e >= 0 && e < FS_REST_ERROR_COUNT ? fs_rest[e].detail
	                                         : fs_strerror(FS_INTERNAL);
}

int
fs_rest_http(int e)
{
	return e >= 0 && e < FS_REST_ERROR_COUNT ? fs_rest[e].http : 500;
}

int
fs_rest_of_http(int http)
{
	for (int e = 0; e < FS_REST_ERROR_COUNT; e++)
		if (fs_rest[e].http == http)
			return e;
	return -1;
}

char *
fs_rest_format(int e, const char *arg, char *buf, size_t n)
{
	const char *d = fs_rest_detail(e);
	const char *pct = strchr(d, '%');

	if (n == 0)
		return buf;
	if (pct == NULL)
		snprintf(buf, n, "%s", d);
	else
		/* The table's own format, one string conversion: the
		 * unit test holds every row to that. */
		snprintf(buf, n, d, arg != NULL ? arg : "");
	return buf;
}
