/*
 * store_graph.c - the references between components: each component's
 * edges to the flows it uses, each flow's list of users, resolving them
 * (at once, or after a snapshot load), and reachability for the cycle
 * check. The other half of the store is store.c.
 */
#include "store_int.h"

#include <stdlib.h>

#include "fs_util.h"

uint32_t
store_comp_nuses(const store_comp *c)
{
	return c->nuses;
}

store_comp *
store_comp_use(const store_comp *c, uint32_t i)
{
	return i < c->nuses ? c->uses[i].flow : NULL;
}

uint32_t
store_comp_nusers(const store_comp *flow)
{
	return flow->nusers;
}

void
store_users_begin(const store_comp *flow, store_users *it)
{
	it->next = flow->users;
}

store_comp *
store_users_next(store_users *it)
{
	const store_edge *e = it->next;

	if (e == NULL)
		return NULL;
	it->next = e->next;
	return e->user;
}

void
store_graph_unlink(store_comp *c)
{
	for (uint32_t i = 0; i < c->nuses; i++) {
		store_edge *e = &c->uses[i];
		if (e->prev != NULL)
			e->prev->next = e->next;
		else
			e->flow->users = e->next;
		if (e->next != NULL)
			e->next->prev = e->prev;
		e->flow->nusers--;
	}
}

void
store_graph_link(store_comp *c)
{
	for (uint32_t i = 0; i < c->nuses; i++) {
		store_edge *e = &c->uses[i];
		e->user = c;
		e->prev = NULL;
		e->next = e->flow->users;
		if (e->next != NULL)
			e->next->prev = e;
		e->flow->users = e;
		e->flow->nusers++;
	}
}

int
store_graph_resolve(const store *s, const Flowsvc__Component *msg,
    store_edge **out)
{
	store_edge *edges = NULL;

	*out = NULL;
	if (msg->n_flows == 0)
		return FS_OK;
	if ((edges = calloc(msg->n_flows, sizeof(*edges))) == NULL)
		return FS_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < msg->n_flows; i++) {
		uint8_t id[16];
		store_comp *f;
		if (fs_uuid_parse(msg->flows[i], id) != 0 ||
		    (f = store_get(s, id)) == NULL ||
		    f->kind != FLOWSVC__KIND__FLOW) {
			free(edges);
			return FS_FAILED_PRECONDITION;
		}
		edges[i].flow = f;
	}
	*out = edges;
	return FS_OK;
}

int
store_link_pending(store *s)
{
	int rv = FS_OK;

	while (s->pending != NULL) {
		store_comp *c = s->pending;
		s->pending = c->pending_next;
		c->pending_next = NULL;
		for (uint32_t i = 0; i < c->nuses && rv == FS_OK; i++) {
			store_comp *f = store_get(s, c->pending_ids + 16 * i);
			if (f == NULL || f->kind != FLOWSVC__KIND__FLOW)
				rv = FS_FAILED_PRECONDITION;
			else
				c->uses[i].flow = f;
		}
		free(c->pending_ids);
		c->pending_ids = NULL;
		if (rv == FS_OK)
			store_graph_link(c);
		else
			c->nuses = 0; /* never linked: nothing to unlink */
	}
	return rv;
}

int
store_graph_parse(const Flowsvc__Component *msg, store_edge **edges,
    uint8_t **ids)
{
	if (msg->n_flows == 0)
		return FS_OK;
	*edges = calloc(msg->n_flows, sizeof(**edges));
	*ids = malloc(16 * msg->n_flows);
	if (*edges == NULL || *ids == NULL)
		return FS_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < msg->n_flows; i++)
		if (fs_uuid_parse(msg->flows[i], *ids + 16 * i) != 0)
			return FS_FAILED_PRECONDITION;
	return FS_OK;
}

void
store_walk_begin(store *s)
{
	if (++s->visit_epoch == 0) {
		/* Epoch wrapped: clear every mark once. */
		for (int k = 1; k <= 2; k++)
			for (store_comp *c = s->kinds[k].list.head; c != NULL;
			     c = c->by_kind.next)
				c->visit = 0;
		s->visit_epoch = 1;
	}
}

int
store_reaches(store *s, store_comp *from, const store_comp *to)
{
	store_comp **stack;
	size_t n = 0, cap = 64;
	int found = 0;

	if (from == to)
		return 1;
	if (from->visit == s->visit_epoch)
		return 0; /* explored earlier in this walk */
	if ((stack = malloc(cap * sizeof(*stack))) == NULL)
		return 1; /* refuse rather than risk a cycle */
	from->visit = s->visit_epoch;
	stack[n++] = from;
	while (n > 0 && !found) {
		store_comp *c = stack[--n];
		for (uint32_t i = 0; i < c->nuses; i++) {
			store_comp *f = c->uses[i].flow;
			if (f == to) {
				found = 1;
				break;
			}
			if (f->visit == s->visit_epoch)
				continue;
			f->visit = s->visit_epoch;
			if (n == cap) {
				store_comp **ns =
				    realloc(stack, 2 * cap * sizeof(*ns));
				if (ns == NULL) {
					found = 1;
					break;
				}
				stack = ns;
				cap *= 2;
			}
			stack[n++] = f;
		}
	}
	free(stack);
	return found;
}
