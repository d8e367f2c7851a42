/*
 * tl_seed.c - seeding flows in batches (see tl_seed.h).
 */
#include "tl_seed.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_errors.h"
#include "fs_rpc.h"
#include "tl_time.h"

/* Calls outstanding at once: the coalescer sends them 128 a batch. */
#define SEED_OUTSTANDING 1024

struct seed_run {
	atomic_int done, failed;
	atomic_int first_code;
	char (*ids)[40]; /* creates: where their ids go */
};

struct seed_call {
	struct seed_run *run;
	int index;
};

static void
on_done(void *arg, int code, Flowsvc__Reply *reply)
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

/* Fields of len characters, distinct, filled with tag. NULL when out of
 * memory; free with free_fields. */
static char **
make_fields(int n, int len, char tag)
{
	char **f = calloc((size_t) (n > 0 ? n : 1), sizeof(*f));

	for (int i = 0; f != NULL && i < n; i++) {
		char t[16];
		int k = snprintf(t, sizeof(t), "%d_", i);
		if ((f[i] = malloc((size_t) (len > k ? len : k) + 1)) == NULL)
			return f; /* the caller frees what there is */
		memset(f[i], tag, (size_t) len);
		memcpy(f[i], t, (size_t) k);
		f[i][len > k ? len : k] = '\0';
	}
	return f;
}

static void
free_fields(char **f, int n)
{
	for (int i = 0; f != NULL && i < n; i++)
		free(f[i]);
	free(f);
}

/* What one call sends: creates or updates. */
struct seed_job {
	Flowsvc__Method method;
	const char *prefix, *group;
	char (*ids)[40];
	char **fields;
	int nfields;
};

/* Makes call i of job and sends it (retrying while no backend is
 * connected: nothing was sent). Returns the code of the send. */
static int
send_one(fs_client *c, const struct seed_job *j, int i, struct seed_call *k)
{
	Flowsvc__CreateRequest cr = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__UpdateRequest ur = FLOWSVC__UPDATE_REQUEST__INIT;
	Flowsvc__StringList out = FLOWSVC__STRING_LIST__INIT;
	fs_call_opts o = {NULL, 60000, NULL, 0};
	const ProtobufCMessage *m;
	char name[96];
	int code;

	out.items = j->fields;
	out.n_items = (size_t) j->nfields;
	if (j->method == FLOWSVC__METHOD__CREATE) {
		snprintf(name, sizeof(name), "%s%d", j->prefix, i);
		cr.kind = FLOWSVC__KIND__FLOW;
		cr.name = name;
		cr.group = (char *) j->group;
		cr.output_fields = &out;
		m = &cr.base;
	} else {
		ur.id = j->ids[i];
		ur.output_fields = &out;
		m = &ur.base;
	}
	int64_t until = fs_test_now_ms() + 15000;
	while ((code = fs_client_call_async(c, j->method, m, &o, on_done,
	            k)) == FS_UNAVAILABLE &&
	    fs_test_now_ms() < until)
		fs_test_poll_pause(10);
	return code;
}

static int
run_job(const char *url, const struct seed_job *j, int from, int to)
{
	struct seed_run run;
	struct seed_call *calls = NULL;
	fs_client *c = NULL;
	int started = 0, rv = -1, n = to - from;

	atomic_init(&run.done, 0);
	atomic_init(&run.failed, 0);
	atomic_init(&run.first_code, 0);
	run.ids = j->method == FLOWSVC__METHOD__CREATE ? j->ids : NULL;
	if (n <= 0)
		return 0;
	/* One batch in flight: the backend applies them in call order. */
	if (fs_client_open(&c, url) != FS_OK ||
	    fs_client_set_coalesce(c, 1) != FS_OK) {
		fprintf(stderr, "seed: cannot open a client to %s\n", url);
		goto out;
	}
	if ((calls = calloc((size_t) n, sizeof(*calls))) == NULL)
		goto out;
	for (int i = from; i < to; i++) {
		while (started - atomic_load(&run.done) >= SEED_OUTSTANDING)
			fs_test_poll_pause(1);
		calls[i - from].run = &run;
		calls[i - from].index = i;
		int code = send_one(c, j, i, &calls[i - from]);
		if (code != FS_OK) {
			fprintf(stderr, "seed: call %d: code %d\n", i, code);
			break;
		}
		started++;
	}
	while (atomic_load(&run.done) < started)
		fs_test_poll_pause(2);
	if (started == n && atomic_load(&run.failed) == 0)
		rv = 0;
	else
		fprintf(stderr, "seed: %d of %d done, %d failed (first: %d)\n",
		    started - atomic_load(&run.failed), n,
		    atomic_load(&run.failed), atomic_load(&run.first_code));
out:
	if (c != NULL)
		fs_client_close(c);
	free(calls);
	return rv;
}

int
fs_seed_flows(const char *url, const char *prefix, int from, int to,
    const char *group, int nout, char (*ids)[40])
{
	struct seed_job j = {FLOWSVC__METHOD__CREATE, prefix, group, ids,
	    make_fields(nout, 20, 'o'), nout};
	int rv = -1;

	for (int i = 0; j.fields != NULL && i < nout; i++)
		if (j.fields[i] == NULL)
			goto out;
	if (j.fields != NULL)
		rv = run_job(url, &j, from, to);
out:
	free_fields(j.fields, nout);
	return rv;
}

int
fs_seed_update(const char *url, char (*ids)[40], int from, int to, int nout,
    int len, char tag)
{
	struct seed_job j = {FLOWSVC__METHOD__UPDATE, NULL, NULL, ids,
	    make_fields(nout, len, tag), nout};
	int rv = -1;

	for (int i = 0; j.fields != NULL && i < nout; i++)
		if (j.fields[i] == NULL)
			goto out;
	if (j.fields != NULL)
		rv = run_job(url, &j, from, to);
out:
	free_fields(j.fields, nout);
	return rv;
}
