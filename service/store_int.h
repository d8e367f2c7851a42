/*
 * store_int.h - the store's records and its own state, shared by the two
 * halves of the store: store.c (records, indexes, lists, the snapshot
 * slot table) and store_graph.c (the references between records). Not
 * part of the store's interface: nothing else includes it.
 */
#ifndef SERVICE_STORE_INT_H
#define SERVICE_STORE_INT_H

#include <pthread.h>

#include "htab.h"
#include "store.h"

/* A component's place in one creation-ordered list, and the list. */
typedef struct store_link {
	store_comp *prev, *next;
} store_link;

typedef struct store_list {
	store_comp *head, *tail;
} store_list;

/* A reference from user to a flow it uses (an element of user->uses, and a
 * node in the used flow's list of users). */
typedef struct store_edge {
	store_comp *user;
	store_comp *flow;
	struct store_edge *prev, *next; /* in flow's users list */
} store_edge;

/* What a walk of a long list reads of each record (the link to the
 * next, the wire form and whether it uses flows) comes first, together,
 * so a list of a million records costs one cache line each, not three. */
struct store_comp {
	store_link by_kind; /* per kind, creation order */
	uint8_t *packed;    /* Flowsvc__Component, packed */
	uint32_t packed_len;
	uint32_t nuses;
	store_link by_group; /* same (kind, group) */
	char *name;          /* as created; stored after the struct */
	char *group;         /* as created; likewise */
	uint8_t id[16];
	uint8_t kind;     /* Flowsvc__Kind: FLOW or APP */
	uint8_t status;   /* Flowsvc__Status */
	uint32_t visit;   /* traversal mark, see store_reaches */
	uint32_t slot;    /* index in the store's slot table */
	uint64_t seq;     /* creation order, unique, increasing */
	store_edge *uses; /* array of nuses edges */
	uint32_t nusers;
	store_edge *users; /* edges whose flow is this component */
	htab_node id_h;
	htab_node key_h;
	store_comp *nprev, *nnext; /* same (kind, name); see name_head */
	htab_node name_h;
	struct bucket *gb;
	uint8_t *pending_ids; /* snapshot load: flows not yet linked */
	store_comp *pending_next;
};

/* A (kind, key) list head, for the group and name filters. */
struct bucket {
	htab_node h;
	uint8_t kind, which;
	char *key;
	store_list list; /* through by_group (BUCKET_GROUP only) */
	size_t count;    /* components in list */
};

struct kindlist {
	store_list list; /* through by_kind */
	size_t count;
};

/* A retired wire form, kept for the holds older than its retirement. */
struct grave {
	struct grave *next;
	void *ptr;
	size_t len;
	uint64_t epoch; /* the newest hold's epoch when it was retired */
};

/* The holds (store.h): holders in the order they held (their epochs
 * increase, so the head is the oldest), and the retired wire forms in the
 * order they were retired (theirs never decrease). */
struct store_holds {
	pthread_mutex_t mu;
	uint64_t epoch; /* of the newest hold ever taken */
	store_holder *head, *tail;
	struct grave *graves, *graves_tail;
	size_t retired; /* bytes in graves */
};

struct store {
	struct store_holds holds;
	store_comp *pending; /* unlinked components (snapshot load) */
	htab ids;
	htab keys;
	htab names; /* the oldest component of each (kind, name) */
	htab buckets;
	struct kindlist kinds[3]; /* indexed by Flowsvc__Kind; 0 unused */
	uint64_t last_seq;
	uint32_t visit_epoch;
	/* Dense table of every component's snapshot data, kept in step with
	 * the records, so a snapshot copies it in one go (store_collect).
	 * Deleting moves the last slot into the hole. */
	store_item *slots;
	store_comp **owners;
	size_t nslots, capslots;
};

/* ---- store_graph.c ------------------------------------------------------ */

/* Adds c's edges (c->uses, resolved) to the users lists of its flows, and
 * takes them out again. */
void store_graph_link(store_comp *c);
void store_graph_unlink(store_comp *c);

/* Resolves msg->flows into a new edge array (*out; NULL when none).
 * Returns FS_OK, FS_RESOURCE_EXHAUSTED or FS_FAILED_PRECONDITION (an id
 * that is not an existing flow). */
int store_graph_resolve(const store *s, const Flowsvc__Component *msg,
    store_edge **out);

/* Snapshot loading: parses msg->flows into 16-byte ids (*ids) and an
 * unresolved edge array (*edges), which store_link_pending resolves once
 * every record is in. Same returns; on failure the caller frees both. */
int store_graph_parse(const Flowsvc__Component *msg, store_edge **edges,
    uint8_t **ids);

#endif
