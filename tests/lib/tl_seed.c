/*
 * tl_seed.c - seeding flows in batches (see tl_seed.h).
 */
#include "tl_seed.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "fs_rpc.h"
#include "tl_time.h"

/* Calls outstanding at once: the coalescer sends them 128 a batch. */
#define SEED_OUTSTANDING 1024

struct seed_call {
	struct seed_run *run;
	int index;
};

struct seed_run {
	atomic_int done, failed;
	atomic_int first_code;
	char (*ids)[40];
};

static void
on_created(void *arg, int code, Flowsvc__Reply *reply)
{
	struct seed_call *k = arg;
	struct seed_run *run = k->run;

	if (code == FS_OK && run->ids != NULL) {
		Flowsvc__ComponentReply *cr =
		    (Flowsvc__ComponentReply *) fs_reply_payload(reply,
		        &flowsvc__component_reply__descriptor);
		if (cr != NULL && cr->component != NULL)
			snprintf(run->ids[k->index], 40, "%s",
			    cr->component->id);
		else
			code = FS_INTERNAL;
		if (cr != NULL)
			flowsvc__component_reply__free_unpacked(cr, NULL);
	}
	if (code != FS_OK) {
		int zero = 0;
		atomic_compare_exchange_strong(&run->first_code, &zero, code);
		atomic_fetch_add(&run->failed, 1);
	}
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	atomic_fetch_add(&run->done, 1);
}

int
fs_seed_flows(const char *url, const char *prefix, int from, int to,
    const char *group, int nout, char (*ids)[40])
{
	struct seed_run run;
	struct seed_call *calls = NULL;
	char **outs = NULL;
	fs_client *c = NULL;
	int started = 0, rv = -1, n = to - from;

	atomic_init(&run.done, 0);
	atomic_init(&run.failed, 0);
	atomic_init(&run.first_code, 0);
	run.ids = ids;
	if (n <= 0)
		return 0;
	if (fs_client_open(&c, url) != FS_OK ||
	    fs_client_set_coalesce(c, 1) != FS_OK) {
		fprintf(stderr, "seed: cannot open a client to %s\n", url);
		goto out;
	}
	if ((calls = calloc((size_t) n, sizeof(*calls))) == NULL ||
	    (outs = calloc((size_t) (nout > 0 ? nout : 1), sizeof(*outs))) ==
	        NULL)
		goto out;
	for (int i = 0; i < nout; i++) {
		if ((outs[i] = malloc(32)) == NULL)
			goto out;
		snprintf(outs[i], 32, "output_field_%d", i);
	}
	for (int i = from; i < to; i++) {
		Flowsvc__CreateRequest cr = FLOWSVC__CREATE_REQUEST__INIT;
		Flowsvc__StringList out = FLOWSVC__STRING_LIST__INIT;
		fs_call_opts o = {NULL, 60000, NULL};
		char name[96];

		while (started - atomic_load(&run.done) >= SEED_OUTSTANDING)
			fs_test_poll_pause(1);
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		cr.kind = FLOWSVC__KIND__FLOW;
		cr.name = name;
		cr.group = (char *) group;
		out.items = outs;
		out.n_items = (size_t) nout;
		cr.output_fields = &out;
		calls[i - from].run = &run;
		calls[i - from].index = i;
		/* Not connected yet: nothing was sent, so try again. */
		int64_t until = fs_test_now_ms() + 15000;
		int code;
		while ((code = fs_client_call_async(c, FLOWSVC__METHOD__CREATE,
		            &cr.base, &o, on_created, &calls[i - from])) ==
		        FS_UNAVAILABLE &&
		    fs_test_now_ms() < until)
			fs_test_poll_pause(10);
		if (code != FS_OK) {
			fprintf(stderr, "seed: create %s: code %d\n", name,
			    code);
			break;
		}
		started++;
	}
	while (atomic_load(&run.done) < started)
		fs_test_poll_pause(2);
	if (started == n && atomic_load(&run.failed) == 0)
		rv = 0;
	else
		fprintf(stderr,
		    "seed: %d of %d created, %d failed (first: %d)\n",
		    started - atomic_load(&run.failed), n,
		    atomic_load(&run.failed), atomic_load(&run.first_code));
out:
	if (c != NULL)
		fs_client_close(c);
	for (int i = 0; outs != NULL && i < nout; i++)
		free(outs[i]);
	free(outs);
	free(calls);
	return rv;
}
