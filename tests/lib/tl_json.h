/*
 * tl_json.h - reading JSON answers and checking the formats the contract
 * prescribes: a member as a string or integer, a compact dump for
 * messages, lower-case uuids, RFC 3339 timestamps with microseconds, and
 * two string helpers.
 */
#ifndef TESTS_TL_JSON_H
#define TESTS_TL_JSON_H

#include <jansson.h>

/* obj[key] as a string / integer; NULL / -1 when absent or another type. */
const char *fs_json_str(const json_t *obj, const char *key);
json_int_t fs_json_int(const json_t *obj, const char *key);

/* A compact dump for messages; caller frees. Never NULL. */
char *fs_json_dump(const json_t *v);

/* Turns ASCII a-z in s into A-Z, in place (ids and names in upper case
 * prove case-insensitive matching). */
void fs_str_upper(char *s);

/* How many times needle occurs in hay (overlapping ones included); 0 when
 * hay is NULL. */
int fs_str_count(const char *hay, const char *needle);

/* 1 when s is a lower-case canonical uuid. */
int fs_is_lower_uuid(const char *s);

/* 1 when s is RFC 3339 UTC with exactly six fraction digits and 'Z'. */
int fs_is_rfc3339_us(const char *s);

#endif
