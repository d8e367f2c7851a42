/*
 * access.h - who may see and change which components (CONTRACT §5).
 *
 * A request carries its caller in the envelope (Flowsvc__Caller): absent,
 * or not restricted, it acts for every group (an internal caller that
 * reached the backend directly); restricted, it acts for its groups only
 * (a gateway passing on a token's grant). This module is the one place
 * that decides what such a caller sees: every handler, and every method
 * added later (a watch, a replica's reads), looks components up and
 * encodes them through it, so a component of another group answers as if
 * absent everywhere, and references to flows the caller cannot see never
 * leave the backend.
 *
 * Pure functions over the store and the caller: no locking (the caller
 * holds the store's lock, read or write, as for any store access), no
 * I/O. Group names compare case-insensitively, as the store's do.
 */
#ifndef SERVICE_ACCESS_H
#define SERVICE_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "store.h"

/* true when who acts for every group (NULL, or not restricted). */
bool access_all_groups(const Flowsvc__Caller *who);

/* true when who may see, and so read or change, components of group. */
bool access_group(const Flowsvc__Caller *who, const char *group);

/* true when who may see c. */
bool access_visible(const Flowsvc__Caller *who, const store_comp *c);

/* The group a create lands in when the request names none: the caller's
 * only group when it has exactly one, else "default". Static or borrowed
 * from who. */
const char *access_default_group(const Flowsvc__Caller *who);

/* The component with the textual id (any case), of kind (KIND_ANY:
 * either), visible to who; NULL means NOT_FOUND, whatever the reason (no
 * such id, not a uuid, another kind, another group), so that an answer
 * never tells a hidden component from an absent one. */
store_comp *access_lookup(const store *st, const Flowsvc__Caller *who,
    const char *id, int kind);

/* How many components of kind match the list filters group and name
 * (NULL: any; case-insensitive) and are visible to who: a list's total
 * before limit and offset. O(1) with a group filter or none (per group
 * granted, for a restricted caller), O(components of that name) with a
 * name filter. */
uint64_t access_count(const store *st, const Flowsvc__Caller *who, int kind,
    const char *group, const char *name);

/* How many of the flows c uses who cannot see (0 for an unrestricted
 * caller). */
uint32_t access_hidden_uses(const Flowsvc__Caller *who, const store_comp *c);

/* c's wire form as who may see it: the stored bytes (borrowed, *tmp NULL),
 * or, when c uses flows who cannot see, a copy without those ids in *tmp,
 * which the caller frees. *len receives the length. NULL when out of
 * memory. */
const uint8_t *access_encode(const Flowsvc__Caller *who, const store_comp *c,
    uint32_t *len, uint8_t **tmp);

#endif
