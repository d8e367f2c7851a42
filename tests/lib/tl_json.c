/*
 * tl_json.c - see tl_json.h.
 */
#include "tl_json.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "fs_util.h"

const char *
fs_json_str(const json_t *obj, const char *key)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

json_int_t
fs_json_int(const json_t *obj, const char *key)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

char *
fs_json_dump(const json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	return s ? s : strdup("(null)");
}

void
fs_str_upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char) (*s - 'a' + 'A');
}

int
fs_str_count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; p && (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

int
fs_is_lower_uuid(const char *s)
{
	static const char pat[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	size_t i;

	if (s == NULL || strlen(s) != sizeof(pat) - 1) {
		return 0;
	}
	for (i = 0; pat[i] != '\0'; i++) {
		if (pat[i] == '-' ? s[i] != '-'
		                  : !(isdigit((unsigned char) s[i]) ||
		                        (s[i] >= 'a' && s[i] <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

int
fs_is_rfc3339_us(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	int64_t us;
	size_t i;

	if (s == NULL || strlen(s) != sizeof(pat) - 1) {
		return 0;
	}
	for (i = 0; pat[i] != '\0'; i++) {
		if (pat[i] == 'd' ? !isdigit((unsigned char) s[i])
		                  : s[i] != pat[i]) {
			return 0;
		}
	}
	return fs_time_parse(s, &us) == 0;
}
