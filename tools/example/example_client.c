/*
 * example_client.c - an internal service talking to flow-service through
 * the installed client library: create a flow, get it, print it, delete it.
 *
 * Build it against an installed flowsvc (nothing from the source tree):
 *
 *   cc -std=c11 -o example_client example_client.c \
 *      $(pkg-config --cflags --libs flowsvc)
 *   ./example_client tcp://127.0.0.1:5555 greeting
 *
 * Prints "created <id>", then the flow as "name=... group=... version=...
 * input=a,b output=c", then "deleted <id>". Exit status: 0 success, 1 the
 * backend answered with an error, 2 usage, 3 backend unavailable.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flowsvc/fs_errors.h>
#include <flowsvc/fs_rpc.h>
#include <flowsvc/fs_util.h>

/* Prints the outcome of a failed call and maps it to an exit status. */
static int
fail(const char *what, int code, const Flowsvc__Reply *reply)
{
	fprintf(stderr, "example_client: %s: %s: %s\n", what,
	    fs_code_name(code),
	    reply != NULL && reply->message != NULL && reply->message[0]
	        ? reply->message
	        : fs_strerror(code));
	return code == FS_UNAVAILABLE || code == FS_DEADLINE_EXCEEDED ? 3 : 1;
}

/* The client dials in the background and fails fast (UNAVAILABLE) while
 * no backend is connected: wait up to timeout_ms for a HEALTH answer, as a
 * service starting next to its backend would. */
static int
wait_connected(fs_client *c, int64_t timeout_ms)
{
	int64_t deadline = fs_now_ms() + timeout_ms;
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	Flowsvc__Reply *reply = NULL;
	int code;

	for (;;) {
		code = fs_client_call(c, FLOWSVC__METHOD__HEALTH, &e.base,
		    NULL, &reply);
		if (reply != NULL)
			flowsvc__reply__free_unpacked(reply, NULL);
		reply = NULL;
		if (code != FS_UNAVAILABLE || fs_now_ms() >= deadline)
			return code;
		struct timespec pause = {0, 20 * 1000000L};
		nanosleep(&pause, NULL);
	}
}

static void
print_list(const char *label, char **items, size_t n)
{
	printf(" %s=", label);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? "," : "", items[i]);
}

int
main(int argc, char **argv)
{
	fs_client *c = NULL;
	Flowsvc__Reply *reply = NULL;
	Flowsvc__ComponentReply *cr = NULL;
	fs_call_opts opts = {.timeout_ms = 10000, .request_id = "example-1"};
	char id[FS_UUID_STRLEN + 1];
	char created[FS_TIME_STRLEN + 1];
	int code, rv = 0, rc;

	if (argc != 3) {
		fprintf(stderr,
		    "usage: example_client BACKEND_URL FLOW_NAME\n");
		return 2;
	}
	rc = fs_client_open(&c, argv[1]);
	if (rc != 0) {
		fprintf(stderr, "example_client: cannot open %s: %s\n",
		    argv[1], fs_client_last_error());
		return 2;
	}

	code = wait_connected(c, 10000);
	if (code != FS_OK) {
		rv = fail("health", code, NULL);
		goto out;
	}

	/* Create. */
	{
		Flowsvc__CreateRequest req = FLOWSVC__CREATE_REQUEST__INIT;
		Flowsvc__StringList in = FLOWSVC__STRING_LIST__INIT;
		Flowsvc__StringList out = FLOWSVC__STRING_LIST__INIT;
		char *in_items[] = {"caller"};
		char *out_items[] = {"intent", "confidence"};

		in.n_items = 1;
		in.items = in_items;
		out.n_items = 2;
		out.items = out_items;
		req.kind = FLOWSVC__KIND__FLOW;
		req.name = argv[2];
		req.input_fields = &in;
		req.output_fields = &out;
		code = fs_client_call(c, FLOWSVC__METHOD__CREATE, &req.base,
		    &opts, &reply);
		if (code != FS_OK) {
			rv = fail("create", code, reply);
			goto out;
		}
		cr = (Flowsvc__ComponentReply *) fs_reply_payload(reply,
		    &flowsvc__component_reply__descriptor);
		if (cr == NULL || cr->component == NULL) {
			rv = fail("create", FS_INTERNAL, NULL);
			goto out;
		}
		snprintf(id, sizeof(id), "%s", cr->component->id);
		printf("created %s\n", id);
		flowsvc__component_reply__free_unpacked(cr, NULL);
		cr = NULL;
		flowsvc__reply__free_unpacked(reply, NULL);
		reply = NULL;
	}

	/* Get and print. */
	{
		Flowsvc__GetRequest req = FLOWSVC__GET_REQUEST__INIT;
		const Flowsvc__Component *f;

		req.id = id;
		req.has_kind = 1;
		req.kind = FLOWSVC__KIND__FLOW;
		code = fs_client_call(c, FLOWSVC__METHOD__GET, &req.base,
		    &opts, &reply);
		if (code != FS_OK) {
			rv = fail("get", code, reply);
			goto out;
		}
		cr = (Flowsvc__ComponentReply *) fs_reply_payload(reply,
		    &flowsvc__component_reply__descriptor);
		if (cr == NULL || cr->component == NULL) {
			rv = fail("get", FS_INTERNAL, NULL);
			goto out;
		}
		f = cr->component;
		fs_time_format(f->created_at_us, created);
		printf("name=%s group=%s version=%lld", f->name, f->group,
		    (long long) f->version);
		print_list("input", f->input_fields, f->n_input_fields);
		print_list("output", f->output_fields, f->n_output_fields);
		printf(" created_at=%s\n", created);
		flowsvc__component_reply__free_unpacked(cr, NULL);
		cr = NULL;
		flowsvc__reply__free_unpacked(reply, NULL);
		reply = NULL;
	}

	/* Delete. */
	{
		Flowsvc__IdRequest req = FLOWSVC__ID_REQUEST__INIT;

		req.id = id;
		req.has_kind = 1;
		req.kind = FLOWSVC__KIND__FLOW;
		code = fs_client_call(c, FLOWSVC__METHOD__DELETE, &req.base,
		    &opts, &reply);
		if (code != FS_OK) {
			rv = fail("delete", code, reply);
			goto out;
		}
		printf("deleted %s\n", id);
	}

out:
	if (cr != NULL)
		flowsvc__component_reply__free_unpacked(cr, NULL);
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	fs_client_close(c);
	return rv;
}
