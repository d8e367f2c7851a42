/*
 * flowctl_out.c - flowctl's output: replies as JSON in the shape the REST
 * API returns, or as tables for people; failed calls as one line on
 * stderr (and with --json the REST-shaped error body on stdout).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowctl.h"
#include "fs_errors.h"
#include "fs_methods.h"

/* ---- JSON ------------------------------------------------------------- */

int
set_str(json_t *o, const char *key, const char *v)
{
	return json_object_set_new(o, key, json_string(v ? v : ""));
}

json_t *
strv_json(char **v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++) {
		if (json_array_append_new(a, json_string(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int
set_time(json_t *o, const char *key, int64_t us)
{
	char ts[FS_TIME_STRLEN + 1];

	fs_time_format(us, ts);
	return set_str(o, key, ts);
}

/* The REST representation, keys in the documented order. */
json_t *
component_json(const Flowsvc__Component *c)
{
	json_t *o = json_object();
	int bad;

	if (o == NULL) {
		return NULL;
	}
	bad = set_str(o, "id", c->id) | set_str(o, "name", c->name) |
	    set_str(o, "group", c->group) |
	    json_object_set_new(o, "input_fields",
	        strv_json(c->input_fields, c->n_input_fields)) |
	    json_object_set_new(o, "output_fields",
	        strv_json(c->output_fields, c->n_output_fields)) |
	    set_str(o, "canvas_id", c->canvas_id) |
	    json_object_set_new(o, "flows", strv_json(c->flows, c->n_flows)) |
	    json_object_set_new(o, "version",
	        json_integer((json_int_t) c->version)) |
	    set_time(o, "created_at", c->created_at_us) |
	    set_time(o, "updated_at", c->updated_at_us);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- tables ----------------------------------------------------------- */

/* A JSON value as table text: strings bare, lists joined with ",", "-"
 * for an empty list. Caller frees. */
static char *
cell_text(const json_t *v)
{
	char *s = NULL;

	if (json_is_string(v)) {
		s = strdup(json_string_value(v));
	} else if (json_is_array(v)) {
		size_t i, len = 1;
		const json_t *it;
		json_array_foreach(v, i, it)
		{
			len +=
			    (json_is_string(it) ? json_string_length(it) : 0) +
			    1;
		}
		if ((s = malloc(len + 1)) != NULL) {
			s[0] = '\0';
			json_array_foreach(v, i, it)
			{
				if (i > 0)
					strcat(s, ",");
				if (json_is_string(it))
					strcat(s, json_string_value(it));
			}
			if (json_array_size(v) == 0)
				strcpy(s, "-");
		}
	} else if (v != NULL) {
		s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	} else {
		s = strdup("");
	}
	return s;
}

/* An object as "key  value" lines, keys padded to one width. */
static int
table_object(const json_t *o)
{
	const char *key;
	const json_t *v;
	int w = 0;

	json_object_foreach((json_t *) o, key, v)
	{
		if ((int) strlen(key) > w)
			w = (int) strlen(key);
	}
	json_object_foreach((json_t *) o, key, v)
	{
		char *t = cell_text(v);
		if (t == NULL)
			return -1;
		if (printf("%-*s  %s\n", w, key, t) < 0) {
			free(t);
			return -1;
		}
		free(t);
	}
	return 0;
}

/* A list of components as one row each, under a header. */
static int
table_list(const json_t *a)
{
	static const char *const cols[] = {"id", "name", "group", "version",
	    "input_fields", "output_fields", "flows", "updated_at"};
	static const char *const heads[] = {"ID", "NAME", "GROUP", "VERSION",
	    "INPUT", "OUTPUT", "FLOWS", "UPDATED"};
	enum { NC = sizeof(cols) / sizeof(cols[0]) };
	size_t n = json_array_size(a), i, c;
	char **cells = calloc(n * NC + 1, sizeof(char *));
	int w[NC], rv = 0;

	if (cells == NULL)
		return -1;
	for (c = 0; c < NC; c++)
		w[c] = (int) strlen(heads[c]);
	for (i = 0; i < n && rv == 0; i++) {
		const json_t *row = json_array_get(a, i);
		for (c = 0; c < NC && rv == 0; c++) {
			const json_t *v = json_object_get(row, cols[c]);
			char *t;
			/* A row shows how many flows are used; get shows them. */
			if (strcmp(cols[c], "flows") == 0 &&
			    json_is_array(v)) {
				char buf[32];
				snprintf(buf, sizeof(buf), "%zu",
				    json_array_size(v));
				t = strdup(buf);
			} else {
				t = cell_text(v);
			}
			if ((cells[i * NC + c] = t) == NULL)
				rv = -1;
			else if ((int) strlen(t) > w[c])
				w[c] = (int) strlen(t);
		}
	}
	for (i = 0; i <= n && rv == 0; i++) {
		for (c = 0; c < NC && rv == 0; c++) {
			const char *t =
			    i == 0 ? heads[c] : cells[(i - 1) * NC + c];
			if (printf(c + 1 < NC ? "%-*s  " : "%-*s\n",
			        c + 1 < NC ? w[c] : 0, t) < 0)
				rv = -1;
		}
	}
	if (rv == 0 && n == 0 && printf("(none)\n") < 0)
		rv = -1;
	for (i = 0; i < n * NC; i++)
		free(cells[i]);
	free(cells);
	return rv;
}

/* Prints v on stdout and drops the reference. NULL means building it
 * failed (memory, or a string from the backend that is not UTF-8). */
int
emit(const ctx *x, json_t *v)
{
	size_t flags =
	    JSON_ENCODE_ANY | (x->json_out ? JSON_COMPACT : JSON_INDENT(2));
	int rv;

	if (v == NULL) {
		fprintf(stderr,
		    "flowctl: INTERNAL: cannot represent the "
		    "reply as JSON\n");
		return EXIT_RPC;
	}
	if (x->table_out) {
		rv = json_is_array(v) ? table_list(v) : table_object(v);
	} else {
		rv = json_dumpf(v, stdout, flags);
	}
	json_decref(v);
	if (rv != 0 || (!x->table_out && fputc('\n', stdout) == EOF) ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "flowctl: cannot write output: %s\n",
		    strerror(errno));
		return EXIT_RPC;
	}
	return 0;
}

/* A list with --with-revision: {"revision": N, "results": [...]}; a table
 * is the list's table and a last line "revision N". Drops a. */
int
emit_list(const ctx *x, json_t *a, uint64_t revision)
{
	json_t *o;

	if (!x->o.with_revision || a == NULL)
		return emit(x, a);
	if (x->table_out) {
		int rv = emit(x, a);
		if (rv == 0 &&
		    (printf("revision %llu\n", (unsigned long long) revision) <
		            0 ||
		        fflush(stdout) != 0)) {
			fprintf(stderr, "flowctl: cannot write output: %s\n",
			    strerror(errno));
			rv = EXIT_RPC;
		}
		return rv;
	}
	o = json_object();
	if (o != NULL &&
	    (json_object_set_new(o, "revision",
	         json_integer((json_int_t) revision)) != 0 ||
	        json_object_set_new(o, "results", a) != 0)) {
		json_decref(o);
		o = NULL;
	} else if (o == NULL) {
		json_decref(a);
	}
	return emit(x, o);
}

/* ---- errors ----------------------------------------------------------- */

void
flowctl_clause(char *out, size_t len, const char *words)
{
	snprintf(out, len, "%s", words[0] != '\0' ? words : "unusable");
	if (out[0] >= 'A' && out[0] <= 'Z')
		out[0] = (char) (out[0] - 'A' + 'a');
}

int
flowctl_bad_backend(const char *url, const char *why)
{
	char clause[128];

	flowctl_clause(clause, sizeof(clause), why);
	fprintf(stderr,
	    "flowctl: cannot use backend '%s': %s; use tcp://HOST:PORT or "
	    "ipc:///path\n",
	    url, clause);
	return EXIT_USAGE;
}

int
report_error(const ctx *x, int code, const Flowsvc__Reply *reply)
{
	const char *msg = reply != NULL && reply->message != NULL &&
	        reply->message[0] != '\0'
	    ? reply->message
	    : fs_strerror(code);
	char line[512];
	size_t i, j;

	if (reply == NULL && code == FS_INVALID_ARGUMENT &&
	    x->unreachable[0] != '\0')
		return flowctl_bad_backend(x->backend, x->unreachable);
	if (reply == NULL && code == FS_UNAVAILABLE &&
	    x->unreachable[0] != '\0') {
		/* Nothing listens there: most likely no backend runs. */
		char clause[160];

		flowctl_clause(clause, sizeof(clause), x->unreachable);
		snprintf(line, sizeof(line),
		    "%s at %s: is flow-service running?", clause, x->backend);
		msg = line;
		fprintf(stderr, "flowctl: %s\n", line);
	} else if (reply == NULL &&
	    (code == FS_UNAVAILABLE || code == FS_DEADLINE_EXCEEDED)) {
		/* Nobody answered: say whom we asked, the usual mistake. */
		fprintf(stderr,
		    "flowctl: %s: %s (no answer from %s within %u "
		    "ms)\n",
		    fs_code_name(code), msg, x->backend, x->call.timeout_ms);
	} else {
		fprintf(stderr, "flowctl: %s: %s\n", fs_code_name(code), msg);
	}
	if (reply != NULL) {
		for (i = 0; i < reply->n_violations; i++) {
			const Flowsvc__FieldViolation *v =
			    reply->violations[i];
			for (j = 0; j < v->n_messages; j++) {
				fprintf(stderr, "  %s: %s\n", v->field,
				    v->messages[j]);
			}
		}
	}
	if (x->json_out) {
		json_t *body = json_object();
		if (reply != NULL && reply->n_violations > 0) {
			for (i = 0; body && i < reply->n_violations; i++) {
				const Flowsvc__FieldViolation *v =
				    reply->violations[i];
				json_object_set_new(body, v->field,
				    strv_json(v->messages, v->n_messages));
			}
		} else if (body != NULL) {
			set_str(body, "detail", msg);
		}
		if (body != NULL) {
			json_dumpf(body, stdout, JSON_COMPACT);
			fputc('\n', stdout);
			json_decref(body);
		}
	}
	return code == FS_UNAVAILABLE || code == FS_DEADLINE_EXCEEDED
	    ? EXIT_UNAVAILABLE
	    : EXIT_RPC;
}
