/*
 * fs_rpc_ryw.c - the C client's read your writes (CONTRACT §8; see
 * fs_rpc.h): the highest revision a client has seen, and the
 * min_revision its reads carry.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "fs_methods.h"
#include "fs_rpc.h"
#include "fs_rpc_client_int.h"

void
fs_client_note_revision(fs_client *c, const Flowsvc__Reply *reply)
{
	uint64_t v = reply->has_revision ? reply->revision : 0;
	uint64_t cur = atomic_load(&c->seen_rev);

	/* A Batch's members say theirs; the batch itself says none. The
	 * members' replies are scanned where the batch is split. */
	while (v > cur && !atomic_compare_exchange_weak(&c->seen_rev, &cur, v))
		;
}

uint64_t
fs_client_min_revision(fs_client *c, Flowsvc__Method method,
    const fs_call_opts *opts)
{
	uint64_t v = 0;

	if (!fs_method_is((int) method, FS_M_READ))
		return 0;
	if (opts != NULL)
		v = opts->min_revision;
	/* A long poll (Watch) carries only what its caller asks for. */
	if (fs_method_is((int) method, FS_M_BLOCKS))
		return v;
	if (atomic_load(&c->ryw)) {
		uint64_t seen = atomic_load(&c->seen_rev);
		if (seen > v)
			v = seen;
	}
	return v;
}

int
fs_client_set_read_your_writes(fs_client *c, int on)
{
	atomic_store(&c->ryw, on != 0);
	return 0;
}

uint64_t
fs_client_revision(fs_client *c)
{
	return atomic_load(&c->seen_rev);
}

void
fs_client_see_revision(fs_client *c, uint64_t rev)
{
	Flowsvc__Reply r = FLOWSVC__REPLY__INIT;

	r.has_revision = 1;
	r.revision = rev;
	fs_client_note_revision(c, &r);
}

void
fs_client_reset_revision(fs_client *c)
{
	atomic_store(&c->seen_rev, 0);
}
