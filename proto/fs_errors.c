#include "fs_errors.h"

#include <stddef.h>

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
