/*
 * access.c - the caller's groups against the store (see access.h).
 */
#include "access.h"

#include <stdlib.h>
#include <strings.h>

#include "fs_util.h"

bool
access_all_groups(const Flowsvc__Caller *who)
{
	return who == NULL || !who->has_restricted || !who->restricted;
}

bool
access_group(const Flowsvc__Caller *who, const char *group)
{
	if (access_all_groups(who))
		return true;
	for (size_t i = 0; i < who->n_groups; i++)
		if (strcasecmp(who->groups[i], group) == 0)
			return true;
	return false;
}

bool
access_visible(const Flowsvc__Caller *who, const store_comp *c)
{
	/* Not a read of c for an unrestricted caller: a list of a million
	 * components asks this of each. */
	return access_all_groups(who) ||
	    access_group(who, store_comp_group(c));
}

const char *
access_default_group(const Flowsvc__Caller *who)
{
	if (!access_all_groups(who) && who->n_groups == 1)
		return who->groups[0];
	return "default";
}

store_comp *
access_lookup(const store *st, const Flowsvc__Caller *who, const char *id,
    int kind)
{
	uint8_t bin[16];
	store_comp *c;

	if (id == NULL || fs_uuid_parse(id, bin) != 0 ||
	    (c = store_get(st, bin)) == NULL)
		return NULL;
	if (kind != FLOWSVC__KIND__KIND_ANY && store_comp_kind(c) != kind)
		return NULL;
	return access_visible(who, c) ? c : NULL;
}

uint64_t
access_count(const store *st, const Flowsvc__Caller *who, int kind,
    const char *group, const char *name)
{
	uint64_t n = 0;

	if (name != NULL) {
		/* Few: one per group at most. */
		for (store_comp *c = store_first(st, kind, group, name);
		     c != NULL; c = store_next(c, group, name))
			n += access_visible(who, c);
		return n;
	}
	if (group != NULL)
		return access_group(who, group)
		    ? store_count_group(st, kind, group)
		    : 0;
	if (access_all_groups(who))
		return store_count(st, kind);
	for (size_t i = 0; i < who->n_groups; i++) {
		size_t j = 0;
		while (
		    j < i && strcasecmp(who->groups[j], who->groups[i]) != 0)
			j++;
		if (j == i) /* a group granted twice counts once */
			n += store_count_group(st, kind, who->groups[i]);
	}
	return n;
}

uint32_t
access_hidden_uses(const Flowsvc__Caller *who, const store_comp *c)
{
	uint32_t n = 0, nuses = store_comp_nuses(c);

	if (access_all_groups(who))
		return 0;
	for (uint32_t i = 0; i < nuses; i++)
		n += !access_visible(who, store_comp_use(c, i));
	return n;
}

const uint8_t *
access_encode(const Flowsvc__Caller *who, const store_comp *c, uint32_t *len,
    uint8_t **tmp)
{
	const uint8_t *stored = store_comp_packed(c, len);
	uint32_t nuses = store_comp_nuses(c);

	*tmp = NULL;
	if (access_hidden_uses(who, c) == 0)
		return stored;
	Flowsvc__Component *m = store_unpack(c);
	if (m == NULL)
		return NULL;
	/* The stored `flows` list and the store's uses are in one order. */
	size_t k = 0;
	for (size_t i = 0; i < m->n_flows; i++) {
		const store_comp *f =
		    i < nuses ? store_comp_use(c, (uint32_t) i) : NULL;
		if (f != NULL && access_visible(who, f))
			m->flows[k++] = m->flows[i];
		else
			free(m->flows[i]);
	}
	m->n_flows = k;
	size_t n = flowsvc__component__get_packed_size(m);
	if ((*tmp = malloc(n ? n : 1)) != NULL) {
		flowsvc__component__pack(m, *tmp);
		*len = (uint32_t) n;
	}
	flowsvc__component__free_unpacked(m, NULL);
	return *tmp;
}
