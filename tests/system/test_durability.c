/*
 * test_durability.c - CONTRACT §4 end to end: state survives SIGTERM,
 * kill -9 (log replay only) and snapshot + log generations; acknowledged
 * writes from concurrent RPC writers survive kill -9 at several points with
 * --fsync everysec and always; torn and corrupt files are handled as the
 * contract says; a full disk refuses writes with 503 while reads go on, and
 * recovers without a restart; the Snapshot RPC and `flowctl snapshot`.
 *
 * The data directory format is the one persist.h documents: snapshot-GEN.db,
 * changes-GEN.log ("FLOWLOG\0", u32 version, u32 0, then records of
 * [u32 len][u32 crc of len][u32 crc of payload][payload]).
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs_util.h"
#include "testlib.h"

#define READY_MS 15000
#define LOG_HEADER 16
#define REC_HEADER 12 /* len, crc32c(len), crc32c(payload) */
#define REFUSE_MS 10000 /* "refuses within a few seconds", ASan included */

/* ---- small helpers ------------------------------------------------------ */

static int
exited_zero(int st)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int
killed_by(int st, int sig)
{
	return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

/* Starts flow-service on env's URL and data dir with extra flags (NULL or
 * NULL-terminated, at most 8) and waits until it answers HEALTH. */
static int
start_backend(fs_test_env *env, const char *const *extra)
{
	env->svc_extra = extra;
	return fs_env_start_backend(env);
}

/* Polls the gateway's /readyz until 200. */
static int
gateway_ready(fs_test_env *env)
{
	return fs_http_wait_status(env->gw_port, "/readyz", 200, READY_MS);
}

static int
count_substr(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; p && (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static long long
file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (long long) sb.st_size : -1;
}

static int
flip_byte(const char *path, long long off)
{
	int fd = open(path, O_RDWR);
	unsigned char b;
	int rv = -1;

	if (fd < 0)
		return -1;
	if (pread(fd, &b, 1, off) == 1) {
		b ^= 0xff;
		rv = pwrite(fd, &b, 1, off) == 1 ? 0 : -1;
	}
	close(fd);
	return rv;
}

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* The generations present in a data dir. */
#define MAXG 64
typedef struct gens {
	int nsnap, nlog, ntmp;
	uint64_t snap[MAXG], log[MAXG];
} gens;

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
	return x < y ? -1 : x > y;
}

static int
parse_gen(const char *name, const char *prefix, const char *ext,
    uint64_t *g)
{
	size_t pl = strlen(prefix), el = strlen(ext), nl = strlen(name);
	uint64_t v = 0;

	if (nl != pl + 12 + el || strncmp(name, prefix, pl) != 0 ||
	    strcmp(name + pl + 12, ext) != 0)
		return 0;
	for (size_t i = pl; i < pl + 12; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		v = v * 10 + (uint64_t) (name[i] - '0');
	}
	*g = v;
	return 1;
}

static void
scan_gens(const char *dir, gens *g)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	memset(g, 0, sizeof(*g));
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		uint64_t v;
		size_t nl = strlen(e->d_name);
		if (nl > 4 && strcmp(e->d_name + nl - 4, ".tmp") == 0)
			g->ntmp++;
		else if (parse_gen(e->d_name, "snapshot-", ".db", &v) &&
		    g->nsnap < MAXG)
			g->snap[g->nsnap++] = v;
		else if (parse_gen(e->d_name, "changes-", ".log", &v) &&
		    g->nlog < MAXG)
			g->log[g->nlog++] = v;
	}
	closedir(d);
	qsort(g->snap, (size_t) g->nsnap, sizeof(uint64_t), cmp_u64);
	qsort(g->log, (size_t) g->nlog, sizeof(uint64_t), cmp_u64);
}

static void
gen_path(char *out, size_t n, const char *dir, const char *kind,
    uint64_t gen, const char *ext)
{
	snprintf(out, n, "%s/%s-%012" PRIu64 "%s", dir, kind, gen, ext);
}

static const char *
gens_str(const gens *g, char *buf, size_t n)
{
	size_t k = (size_t) snprintf(buf, n, "snapshots [");
	for (int i = 0; i < g->nsnap && k < n; i++)
		k += (size_t) snprintf(buf + k, n - k, " %" PRIu64, g->snap[i]);
	if (k < n)
		k += (size_t) snprintf(buf + k, n - k, " ] logs [");
	for (int i = 0; i < g->nlog && k < n; i++)
		k += (size_t) snprintf(buf + k, n - k, " %" PRIu64, g->log[i]);
	if (k < n)
		snprintf(buf + k, n - k, " ] tmp %d", g->ntmp);
	return buf;
}

/* Records of a change log: offsets and payload lengths. Returns the count
 * of complete records, -1 when the file cannot be read. */
static int
log_records(const char *path, long long off[], long long len[], int max)
{
	size_t n;
	char *b = fs_file_read(path, &n);
	size_t o = LOG_HEADER;
	int k = 0;

	if (b == NULL)
		return -1;
	while (o + REC_HEADER <= n && k < max) {
		const unsigned char *u = (const unsigned char *) b + o;
		uint32_t rl = (uint32_t) u[0] | (uint32_t) u[1] << 8 |
		    (uint32_t) u[2] << 16 | (uint32_t) u[3] << 24;
		if (o + REC_HEADER + rl > n)
			break;
		off[k] = (long long) o;
		len[k] = rl;
		k++;
		o += REC_HEADER + rl;
	}
	free(b);
	return k;
}

/* ---- RPC helpers (thread-safe: no CUnit here) --------------------------- */

static json_t *
strv_json(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* A component as a JSON object, every field included. */
static json_t *
comp_json(const Flowsvc__Component *c)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(c->id));
	json_object_set_new(o, "kind", json_integer(c->kind));
	json_object_set_new(o, "name", json_string(c->name));
	json_object_set_new(o, "group", json_string(c->group));
	json_object_set_new(
	    o, "input_fields", strv_json(c->input_fields, c->n_input_fields));
	json_object_set_new(o, "output_fields",
	    strv_json(c->output_fields, c->n_output_fields));
	json_object_set_new(o, "canvas_id", json_string(c->canvas_id));
	json_object_set_new(o, "flows", strv_json(c->flows, c->n_flows));
	json_object_set_new(o, "version", json_integer(c->version));
	json_object_set_new(o, "created_at_us", json_integer(c->created_at_us));
	json_object_set_new(o, "updated_at_us", json_integer(c->updated_at_us));
	return o;
}

/* One call; with desc, the OK payload is unpacked into *out. */
static int
rpc_call(fs_client *c, Flowsvc__Method m, const ProtobufCMessage *req,
    uint32_t timeout_ms, const ProtobufCMessageDescriptor *desc,
    ProtobufCMessage **out)
{
	fs_call_opts o = {NULL, timeout_ms, NULL};
	Flowsvc__Reply *reply = NULL;
	int code = fs_client_call(c, m, req, &o, &reply);

	if (out != NULL)
		*out = NULL;
	if (code == FS_OK && desc != NULL && out != NULL) {
		*out = fs_reply_payload(reply, desc);
		if (*out == NULL)
			code = FS_INTERNAL;
	}
	if (reply != NULL)
		flowsvc__reply__free_unpacked(reply, NULL);
	return code;
}

/* Create/Update answer a ComponentReply: *comp gets it as JSON. */
static int
rpc_component(fs_client *c, Flowsvc__Method m, const ProtobufCMessage *req,
    uint32_t timeout_ms, json_t **comp)
{
	ProtobufCMessage *out = NULL;
	int code = rpc_call(c, m, req, timeout_ms,
	    &flowsvc__component_reply__descriptor, &out);

	*comp = NULL;
	if (code == FS_OK) {
		Flowsvc__ComponentReply *cr = (Flowsvc__ComponentReply *) out;
		if (cr->component != NULL)
			*comp = comp_json(cr->component);
		else
			code = FS_INTERNAL;
		protobuf_c_message_free_unpacked(out, NULL);
	}
	return code;
}

static int
rpc_create(fs_client *c, Flowsvc__Kind kind, const char *name,
    const char *out_field, const char *flow_ref, uint32_t timeout_ms,
    json_t **comp)
{
	Flowsvc__CreateRequest req = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__StringList outl = FLOWSVC__STRING_LIST__INIT;
	Flowsvc__StringList fl = FLOWSVC__STRING_LIST__INIT;
	char *outv[1] = {(char *) out_field};
	char *fv[1] = {(char *) flow_ref};

	req.kind = kind;
	req.name = (char *) name;
	if (out_field != NULL) {
		outl.n_items = 1;
		outl.items = outv;
		req.output_fields = &outl;
	}
	if (flow_ref != NULL) {
		fl.n_items = 1;
		fl.items = fv;
		req.flows = &fl;
	}
	return rpc_component(c, FLOWSVC__METHOD__CREATE, &req.base, timeout_ms,
	    comp);
}

static int
rpc_update_out(fs_client *c, const char *id, const char *out_field,
    uint32_t timeout_ms, json_t **comp)
{
	Flowsvc__UpdateRequest req = FLOWSVC__UPDATE_REQUEST__INIT;
	Flowsvc__StringList outl = FLOWSVC__STRING_LIST__INIT;
	char *outv[1] = {(char *) out_field};

	req.id = (char *) id;
	outl.n_items = 1;
	outl.items = outv;
	req.output_fields = &outl;
	return rpc_component(c, FLOWSVC__METHOD__UPDATE, &req.base, timeout_ms,
	    comp);
}

/* Delete, Deploy, Start, Stop, GetStatus: *status gets the StatusReply's
 * status when there is one. */
static int
rpc_id(fs_client *c, Flowsvc__Method m, const char *id, uint32_t timeout_ms,
    int *status)
{
	Flowsvc__IdRequest req = FLOWSVC__ID_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	int code;

	req.id = (char *) id;
	if (m == FLOWSVC__METHOD__DELETE) {
		return rpc_call(c, m, &req.base, timeout_ms, NULL, NULL);
	}
	code = rpc_call(c, m, &req.base, timeout_ms,
	    &flowsvc__status_reply__descriptor, &out);
	if (status != NULL)
		*status = -1;
	if (code == FS_OK) {
		if (status != NULL)
			*status = ((Flowsvc__StatusReply *) out)->status;
		protobuf_c_message_free_unpacked(out, NULL);
	}
	return code;
}

/* Get by id (any kind) plus its status. */
static int
rpc_get(fs_client *c, const char *id, json_t **comp, int *status)
{
	Flowsvc__GetRequest req = FLOWSVC__GET_REQUEST__INIT;
	int code;

	req.id = (char *) id;
	code = rpc_component(c, FLOWSVC__METHOD__GET, &req.base, 5000, comp);
	if (code == FS_OK && status != NULL &&
	    rpc_id(c, FLOWSVC__METHOD__GET_STATUS, id, 5000, status) != FS_OK)
		*status = -1;
	return code;
}

/* Components of one kind (in creation order) appended to a, or -1 when
 * the call failed. name: NULL or a name__iexact filter. */
static int
rpc_list_kind(fs_client *c, Flowsvc__Kind kind, const char *name, json_t *a)
{
	Flowsvc__ListRequest req = FLOWSVC__LIST_REQUEST__INIT;
	ProtobufCMessage *out = NULL;

	req.has_kind = 1;
	req.kind = kind;
	req.name_iexact = (char *) name;
	if (rpc_call(c, FLOWSVC__METHOD__LIST, &req.base, 10000,
	        &flowsvc__list_reply__descriptor, &out) != FS_OK)
		return -1;
	Flowsvc__ListReply *l = (Flowsvc__ListReply *) out;
	for (size_t i = 0; i < l->n_components; i++)
		json_array_append_new(a, comp_json(l->components[i]));
	protobuf_c_message_free_unpacked(out, NULL);
	return 0;
}

/* Every flow, then every app, as a JSON array; NULL when a call failed. */
static json_t *
rpc_list(fs_client *c, const char *name)
{
	json_t *a = json_array();

	if (rpc_list_kind(c, FLOWSVC__KIND__FLOW, name, a) != 0 ||
	    rpc_list_kind(c, FLOWSVC__KIND__APP, name, a) != 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static int
rpc_snapshot(fs_client *c)
{
	Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
	return rpc_call(c, FLOWSVC__METHOD__SNAPSHOT, &e.base, 20000, NULL,
	    NULL);
}

/* ==== (a) REST through the gateway: SIGTERM, kill -9, snapshots ========== */

static fs_test_env renv;

static int
rest_suite_init(void)
{
	return fs_env_start(&renv, "dur-rest");
}

static int
rest_suite_fini(void)
{
	return fs_env_fini(&renv);
}

/* Everything the REST surface shows: both lists (creation order), every
 * component fetched by id (must equal its list entry), every status. */
static json_t *
rest_dump(fs_test_env *env)
{
	static const char *const colls[] = {"flows", "apps"};
	json_t *d = json_object(), *status = json_object();

	for (size_t k = 0; k < 2; k++) {
		fs_http_resp r;
		size_t i;
		json_t *item;

		fs_restf(env, "GET", NULL, &r, "/api/%s/", colls[k]);
		if (!FS_ASSERT_STATUS(&r, 200) ||
		    !FS_CHECK(json_is_array(r.json), "list is not an array")) {
			fs_http_resp_free(&r);
			continue;
		}
		json_object_set(d, colls[k], r.json);
		json_array_foreach(r.json, i, item)
		{
			const char *id = fs_json_str(item, "id");
			fs_http_resp g;
			FS_ASSERT_COMPONENT(item);
			if (id == NULL)
				continue;
			fs_restf(env, "GET", NULL, &g, "/api/%s/%s/", colls[k],
			    id);
			if (FS_ASSERT_STATUS(&g, 200))
				FS_ASSERT_JSON_SAME(g.json, item);
			fs_http_resp_free(&g);
			fs_restf(env, "GET", NULL, &g, "/api/apps/%s/status/",
			    id);
			if (FS_ASSERT_STATUS(&g, 200))
				json_object_set(status, id, g.json);
			fs_http_resp_free(&g);
		}
		fs_http_resp_free(&r);
	}
	json_object_set_new(d, "status", status);
	return d;
}

/* Compares two dumps component by component, for readable failures. */
static void
compare_dumps(const json_t *after, const json_t *before, const char *when)
{
	static const char *const keys[] = {"flows", "apps"};

	for (size_t k = 0; k < 2; k++) {
		json_t *a = json_object_get(after, keys[k]);
		json_t *b = json_object_get(before, keys[k]);
		size_t na = json_array_size(a), nb = json_array_size(b);
		FS_CHECK(na == nb, "%s: %zu %s after, %zu before", when, na,
		    keys[k], nb);
		for (size_t i = 0; i < na && i < nb; i++) {
			if (!json_equal(json_array_get(a, i),
			        json_array_get(b, i))) {
				char *x = fs_json_dump(json_array_get(a, i));
				char *y = fs_json_dump(json_array_get(b, i));
				FS_CHECK(0, "%s: %s[%zu] differs:\n  before %s\n"
				            "  after  %s",
				    when, keys[k], i, y, x);
				free(x);
				free(y);
			}
		}
	}
	FS_CHECK(json_equal(json_object_get(after, "status"),
	             json_object_get(before, "status")),
	    "%s: statuses differ", when);
	FS_CHECK(json_equal((json_t *) after, (json_t *) before),
	    "%s: the dumps differ", when);
}

static void
rest_ok(const char *method, const char *body, int want, const char *fmt,
    const char *id)
{
	fs_http_resp r;
	fs_restf(&renv, method, body, &r, fmt, id);
	FS_ASSERT_STATUS(&r, want);
	fs_http_resp_free(&r);
}

static void
rest_ok_body(const char *method, const char *body, int want,
    const char *expect_json, const char *fmt, const char *id)
{
	fs_http_resp r;
	fs_restf(&renv, method, body, &r, fmt, id);
	FS_ASSERT_ERROR(&r, want, expect_json);
	fs_http_resp_free(&r);
}

static char f_base[64], f_mid[64], f_leaf[64], f_gone[64], f_grp[64];
static char app_main[64], app_two[64], f_after[64], app_after[64];

/* Restarts the backend with extra flags after stopping it with sig; the
 * gateway is left running and must recover by itself. */
static int
rest_restart(int sig, const char *const *extra)
{
	int st = fs_env_stop_backend(&renv, sig);

	if (sig == SIGKILL)
		FS_CHECK(killed_by(st, SIGKILL), "not killed: 0x%x", st);
	else
		FS_CHECK(exited_zero(st),
		    "flow-service did not exit 0 on signal %d: 0x%x", sig, st);
	if (!FS_CHECK(start_backend(&renv, extra) == 0,
	        "flow-service did not restart on the same data dir"))
		return -1;
	if (!FS_CHECK(gateway_ready(&renv) == 0,
	        "gateway not ready after the backend restart"))
		return -1;
	return 0;
}

static void
test_rest_kill9_log_replay_only(void)
{
	char body[256];
	json_t *before, *after;
	gens g;
	char gs[512];

	if (FS_REST_CREATE(&renv, "flows",
	        "{\"name\": \"f_base\", \"input_fields\": [\"a\", \"b\"], "
	        "\"output_fields\": [\"x\"]}",
	        f_base) != 0)
		return;
	snprintf(body, sizeof(body), "{\"name\": \"f_mid\", \"flows\": [\"%s\"]}",
	    f_base);
	if (FS_REST_CREATE(&renv, "flows", body, f_mid) != 0 ||
	    FS_REST_CREATE(&renv, "flows", "{\"name\": \"f_leaf\"}", f_leaf) !=
	        0 ||
	    FS_REST_CREATE(&renv, "flows", "{\"name\": \"f_gone\"}", f_gone) !=
	        0 ||
	    FS_REST_CREATE(&renv, "flows",
	        "{\"name\": \"f_grp\", \"group\": \"team.a-1\", "
	        "\"input_fields\": [\"\\u00e9t\\u00e9 \\\"q\\\"\"]}",
	        f_grp) != 0)
		return;
	snprintf(body, sizeof(body),
	    "{\"name\": \"app_main\", \"input_fields\": [\"q\"], \"flows\": "
	    "[\"%s\", \"%s\"]}",
	    f_mid, f_leaf);
	if (FS_REST_CREATE(&renv, "apps", body, app_main) != 0 ||
	    FS_REST_CREATE(&renv, "apps", "{\"name\": \"app_two\"}", app_two) !=
	        0)
		return;
	rest_ok("PUT", "{\"output_fields\": [\"o1\", \"o2\"]}", 200,
	    "/api/flows/%s/", f_leaf);
	rest_ok("PUT", "{\"input_fields\": [\"i\"]}", 200, "/api/flows/%s/",
	    f_leaf);
	snprintf(body, sizeof(body), "{\"flows\": [\"%s\"]}", f_mid);
	rest_ok("PUT", body, 200, "/api/apps/%s/", app_main);
	snprintf(body, sizeof(body), "{\"flows\": [\"%s\", \"%s\"]}", f_base,
	    f_leaf);
	rest_ok("PUT", body, 200, "/api/flows/%s/", f_mid);
	rest_ok("DELETE", NULL, 204, "/api/flows/%s/", f_gone);
	rest_ok("POST", NULL, 200, "/api/apps/%s/deploy/", app_main);
	rest_ok("POST", NULL, 200, "/api/apps/%s/deploy/", app_two);
	rest_ok("POST", NULL, 200, "/api/apps/%s/stop/", app_two);
	rest_ok("POST", NULL, 200, "/api/apps/%s/deploy/", f_base);

	before = rest_dump(&renv);
	FS_ASSERT_INT_EQ(json_array_size(json_object_get(before, "flows")), 4);
	FS_ASSERT_INT_EQ(json_array_size(json_object_get(before, "apps")), 2);

	/* Nothing has snapshotted yet: the restart is log replay only. */
	scan_gens(renv.data_dir, &g);
	FS_CHECK(g.nsnap == 0 && g.nlog == 1,
	    "before kill -9 expected one log and no snapshot: %s",
	    gens_str(&g, gs, sizeof(gs)));
	if (rest_restart(SIGKILL, NULL) != 0) {
		json_decref(before);
		return;
	}
	after = rest_dump(&renv);
	compare_dumps(after, before, "after kill -9 (log replay)");
	json_decref(after);
	json_decref(before);

	/* The indexes and reverse references were rebuilt too. */
	rest_ok_body("DELETE", NULL, 409,
	    "{\"detail\": \"Cannot delete the Flow, because it is used by these "
	    "apps/flows: f_mid\"}",
	    "/api/flows/%s/", f_base);
	rest_ok_body("DELETE", NULL, 409,
	    "{\"detail\": \"Cannot delete the Flow, because it is used by these "
	    "apps/flows: app_main\"}",
	    "/api/flows/%s/", f_mid);
	rest_ok_body("POST", "{\"name\": \"F_LEAF\"}", 400,
	    "{\"name\": [\"A flow with this name already exists in this "
	    "group.\"]}",
	    "/api/flows/%s", "");
	rest_ok("GET", NULL, 404, "/api/flows/%s/", f_gone);
}

static void
test_rest_sigterm_restart(void)
{
	char body[256];
	json_t *before, *after, *last;
	gens g;
	char gs[512], path[PATH_MAX + 64];
	fs_http_resp r;

	if (f_base[0] == '\0')
		return;
	/* A create after a restart goes after the recovered ones. */
	if (FS_REST_CREATE(&renv, "flows", "{\"name\": \"f_after\"}", f_after) !=
	    0)
		return;
	fs_rest(&renv, "GET", "/api/flows/", NULL, &r);
	if (FS_ASSERT_STATUS(&r, 200)) {
		last = json_array_get(r.json, json_array_size(r.json) - 1);
		FS_ASSERT_STR_EQ(fs_json_str(last, "id"), f_after);
	}
	fs_http_resp_free(&r);
	snprintf(body, sizeof(body),
	    "{\"name\": \"app_after\", \"flows\": [\"%s\", \"%s\"]}", f_after,
	    f_base);
	if (FS_REST_CREATE(&renv, "apps", body, app_after) != 0)
		return;
	rest_ok("PUT", "{\"input_fields\": [\"a\", \"b\", \"c\"]}", 200,
	    "/api/flows/%s/", f_base);
	rest_ok("DELETE", NULL, 204, "/api/apps/%s/", app_two);
	rest_ok("POST", NULL, 200, "/api/apps/%s/stop/", app_main);
	rest_ok("POST", NULL, 200, "/api/apps/%s/deploy/", app_after);
	rest_ok("PUT", "{\"output_fields\": []}", 200, "/api/flows/%s/",
	    f_grp);

	before = rest_dump(&renv);
	if (rest_restart(SIGTERM, NULL) != 0) {
		json_decref(before);
		return;
	}
	/* SIGTERM wrote a snapshot and reset the log; older generations are
	 * gone. (The restarted backend may only have appended nothing.) */
	scan_gens(renv.data_dir, &g);
	gens_str(&g, gs, sizeof(gs));
	if (FS_CHECK(g.nsnap == 1 && g.snap[0] > 0,
	        "after SIGTERM expected exactly one snapshot: %s", gs)) {
		FS_CHECK(g.nlog == 1 && g.log[0] == g.snap[0],
		    "after SIGTERM expected only the log of the snapshot's "
		    "generation: %s",
		    gs);
		gen_path(path, sizeof(path), renv.data_dir, "changes", g.snap[0],
		    ".log");
		FS_CHECK(file_size(path) == LOG_HEADER,
		    "%s holds %lld bytes, expected a header-only log after the "
		    "shutdown snapshot",
		    path, file_size(path));
	}
	after = rest_dump(&renv);
	compare_dumps(after, before, "after SIGTERM (snapshot)");
	json_decref(after);
	json_decref(before);
}

/* Waits until the data dir holds exactly one snapshot, newer than gen, and
 * no log older than it. */
static int
wait_snapshot_after(const char *dir, uint64_t gen, int ms, gens *out)
{
	int64_t deadline = fs_test_now_ms() + ms;

	do {
		scan_gens(dir, out);
		if (out->nsnap == 1 && out->snap[0] > gen && out->nlog >= 1 &&
		    out->log[0] >= out->snap[0] && out->ntmp == 0)
			return 0;
		fs_test_poll_pause(25);
	} while (fs_test_now_ms() < deadline);
	return -1;
}

static void
test_rest_snapshot_changes(void)
{
	static const char *const extra[] = {"--snapshot-changes", "5",
	    "--snapshot-interval", "0", NULL};
	json_t *before, *after;
	char name[64], ids[12][64], gs[512], path[PATH_MAX + 64];
	uint64_t gen0;
	long long off[64], len[64];
	gens g;
	int i, n;

	if (f_base[0] == '\0')
		return;
	if (rest_restart(SIGTERM, extra) != 0)
		return;
	scan_gens(renv.data_dir, &g);
	gen0 = g.nsnap > 0 ? g.snap[g.nsnap - 1] : 0;

	/* Six changes: the count triggers a snapshot. */
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "{\"name\": \"snap_%d\"}", i);
		if (FS_REST_CREATE(&renv, "flows", name, ids[i]) != 0)
			return;
	}
	if (!FS_CHECK(wait_snapshot_after(renv.data_dir, gen0, 10000, &g) == 0,
	        "no snapshot after 6 changes with --snapshot-changes 5: %s",
	        gens_str(&g, gs, sizeof(gs))))
		return;
	gen0 = g.snap[0];
	/* Six more: another snapshot, the first one and its log removed. */
	for (i = 6; i < 12; i++) {
		snprintf(name, sizeof(name), "{\"input_fields\": [\"u%d\"]}", i);
		rest_ok("PUT", name, 200, "/api/flows/%s/", ids[i - 6]);
	}
	{
		int64_t t0 = fs_test_now_ms();
		if (!FS_CHECK(wait_snapshot_after(renv.data_dir, gen0, 15000, &g) ==
		            0,
		        "no second snapshot after 6 more changes: %s",
		        gens_str(&g, gs, sizeof(gs))))
			return;
		fprintf(stderr, "\n  second count-triggered snapshot %lld ms "
		                "after the 6th change ",
		    (long long) (fs_test_now_ms() - t0));
	}
	/* A few changes after the last snapshot, fewer than the count: the
	 * restart needs the snapshot and the log. Wait for any snapshot the
	 * count may still start to settle first. */
	{
		int64_t deadline = fs_test_now_ms() + 15000;
		gens prev = g;
		do {
			fs_test_poll_pause(200);
			scan_gens(renv.data_dir, &g);
			gen_path(path, sizeof(path), renv.data_dir, "changes",
			    g.nlog ? g.log[g.nlog - 1] : 0, ".log");
			n = log_records(path, off, len, 64);
			if (g.nsnap == 1 && prev.nsnap == 1 &&
			    g.snap[0] == prev.snap[0] && n >= 0 && n < 5)
				break;
			prev = g;
		} while (fs_test_now_ms() < deadline);
	}
	rest_ok("DELETE", NULL, 204, "/api/flows/%s/", ids[5]);
	rest_ok("POST", NULL, 200, "/api/apps/%s/deploy/", ids[4]);
	before = rest_dump(&renv);

	scan_gens(renv.data_dir, &g);
	gens_str(&g, gs, sizeof(gs));
	if (FS_CHECK(g.nsnap == 1 && g.nlog >= 1 && g.log[0] >= g.snap[0],
	        "older generations not removed: %s", gs)) {
		gen_path(path, sizeof(path), renv.data_dir, "changes",
		    g.log[g.nlog - 1], ".log");
		n = log_records(path, off, len, 64);
		FS_CHECK(n >= 2, "the newest log %s holds %d records; expected "
		                 "the changes since the snapshot (%s)",
		    path, n, gs);
	}
	if (rest_restart(SIGKILL, extra) != 0) {
		json_decref(before);
		return;
	}
	after = rest_dump(&renv);
	compare_dumps(after, before, "after kill -9 (snapshot + log)");
	json_decref(after);
	json_decref(before);
}

static CU_TestInfo rest_tests[] = {
    {"REST state identical after kill -9 (log replay only)",
        test_rest_kill9_log_replay_only},
    {"REST state identical after SIGTERM (shutdown snapshot)",
        test_rest_sigterm_restart},
    {"REST state identical with --snapshot-changes 5 (snapshot + logs)",
        test_rest_snapshot_changes},
    CU_TEST_INFO_NULL,
};

/* ==== (b) concurrent writers, kill -9 mid-load =========================== */

#define WRITERS 8
#define CALL_MS 4000

enum { ST_UNKNOWN = -1 };

typedef struct wrec {
	int app;
	char name[48];
	char id[40];
	int created, deleted; /* acknowledged */
	long version;         /* acknowledged */
	int status;           /* acknowledged */
	/* The one operation in flight when the writer stopped (at most one
	 * per writer): its outcome is unknown. */
	int create_unknown, update_unknown, delete_unknown, status_unknown;
	int target_status;
} wrec;

typedef struct writer {
	int idx, round;
	unsigned seed;
	fs_client *c;
	char anchor[40];
	wrec *recs;
	int nrec, cap;
	long acks, made;
	char err[512];
	pthread_t thr;
} writer;

static fs_test_env kenv;
static writer writers[WRITERS];
static atomic_long g_acks;
static atomic_int g_stop;

static int
kill_suite_init(void)
{
	return fs_env_init(&kenv, "dur-kill");
}

static int
kill_suite_fini(void)
{
	for (int i = 0; i < WRITERS; i++)
		free(writers[i].recs);
	return fs_env_fini(&kenv);
}

static unsigned
rnd(writer *w)
{
	w->seed = w->seed * 1103515245u + 12345u;
	return (w->seed >> 8) & 0xffffff;
}

static int
live(const wrec *r)
{
	return r->created && !r->deleted && !r->create_unknown &&
	    !r->update_unknown && !r->delete_unknown && !r->status_unknown;
}

static int
pick_live(writer *w, int want_app)
{
	int n = w->nrec, start, i;

	if (n == 0)
		return -1;
	start = (int) (rnd(w) % (unsigned) n);
	for (i = 0; i < n; i++) {
		int k = (start + i) % n;
		if (live(&w->recs[k]) && (want_app < 0 || w->recs[k].app == want_app))
			return k;
	}
	return -1;
}

/* No reply (connection lost, deadline): the outcome is unknown. Any other
 * code is an answer. */
static int
transport_code(int code)
{
	return code == FS_UNAVAILABLE || code == FS_DEADLINE_EXCEEDED;
}

static void
werr(writer *w, const char *what, const char *name, int code)
{
	if (w->err[0] == '\0')
		snprintf(w->err, sizeof(w->err), "writer %d: %s %s: %s", w->idx,
		    what, name, fs_code_name(code));
}

/* One operation; returns 0 to go on, -1 to stop. */
static int
writer_step(writer *w)
{
	unsigned r = rnd(w) % 100;
	int k, code, st;
	json_t *comp = NULL;
	char field[32];

	if (w->nrec == w->cap) {
		int nc = w->cap ? w->cap * 2 : 64;
		wrec *nr = realloc(w->recs, (size_t) nc * sizeof(*nr));
		if (nr == NULL) {
			snprintf(w->err, sizeof(w->err), "out of memory");
			return -1;
		}
		w->recs = nr;
		w->cap = nc;
	}
	k = r < 35 ? -1 : pick_live(w, r >= 80 && r < 92 ? 1 : -1);
	if (k < 0) {
		wrec *n = &w->recs[w->nrec++];
		memset(n, 0, sizeof(*n));
		n->app = rnd(w) % 3 == 0;
		snprintf(n->name, sizeof(n->name), "w%d_r%d_%ld", w->idx,
		    w->round, w->made++);
		n->create_unknown = 1;
		code = rpc_create(w->c,
		    n->app ? FLOWSVC__KIND__APP : FLOWSVC__KIND__FLOW, n->name,
		    "v1", n->app ? w->anchor : NULL, CALL_MS, &comp);
		if (code == FS_OK) {
			const char *id = fs_json_str(comp, "id");
			snprintf(n->id, sizeof(n->id), "%s", id ? id : "");
			n->created = 1;
			n->version = 1;
			n->status = FLOWSVC__STATUS__NOT_DEPLOYED;
			n->create_unknown = 0;
			if (fs_json_int(comp, "version") != 1)
				werr(w, "create answered a version != 1 for",
				    n->name, code);
		} else if (!transport_code(code)) {
			n->create_unknown = 0; /* refused: never made */
			werr(w, "create", n->name, code);
		}
	} else if (r < 80) {
		wrec *x = &w->recs[k];
		snprintf(field, sizeof(field), "v%ld", x->version + 1);
		x->update_unknown = 1;
		code = rpc_update_out(w->c, x->id, field, CALL_MS, &comp);
		if (code == FS_OK) {
			x->version++;
			x->update_unknown = 0;
			if (fs_json_int(comp, "version") != x->version)
				werr(w, "update answered an unexpected version "
				        "for",
				    x->name, code);
		} else if (!transport_code(code)) {
			x->update_unknown = 0;
			werr(w, "update", x->name, code);
		}
	} else if (r < 92) {
		wrec *x = &w->recs[k];
		int stop = x->status == FLOWSVC__STATUS__STARTED;
		x->target_status = stop ? FLOWSVC__STATUS__STOPPED
		                        : FLOWSVC__STATUS__STARTED;
		x->status_unknown = 1;
		code = rpc_id(w->c,
		    stop ? FLOWSVC__METHOD__STOP : FLOWSVC__METHOD__DEPLOY, x->id,
		    CALL_MS, &st);
		if (code == FS_OK) {
			x->status = x->target_status;
			x->status_unknown = 0;
			if (st != x->target_status)
				werr(w, "deploy/stop answered another status for",
				    x->name, code);
		} else if (!transport_code(code)) {
			x->status_unknown = 0;
			werr(w, "deploy/stop", x->name, code);
		}
	} else {
		wrec *x = &w->recs[k];
		x->delete_unknown = 1;
		code = rpc_id(w->c, FLOWSVC__METHOD__DELETE, x->id, CALL_MS, NULL);
		if (code == FS_OK) {
			x->deleted = 1;
			x->delete_unknown = 0;
		} else if (!transport_code(code)) {
			x->delete_unknown = 0;
			werr(w, "delete", x->name, code);
		}
	}
	json_decref(comp);
	if (code != FS_OK)
		return -1;
	w->acks++;
	atomic_fetch_add(&g_acks, 1);
	return 0;
}

static void *
writer_main(void *arg)
{
	writer *w = arg;

	/* Bounded: the main thread stops everyone within the round's time. */
	while (!atomic_load(&g_stop) && w->acks < 100000)
		if (writer_step(w) != 0)
			break;
	return NULL;
}

/* Checks one recovered component against what its writer was told. */
static void
check_rec(writer *w, wrec *x, const json_t *c, int status, const char *when)
{
	char want_out[48];
	long v = (long) fs_json_int(c, "version");
	long lo = x->create_unknown ? 1 : x->version;
	long hi = x->create_unknown ? 1 : x->version + (x->update_unknown ? 1 : 0);
	char *dump = fs_json_dump(c);

	FS_CHECK(v >= lo && v <= hi,
	    "%s: %s has version %ld; acknowledged %ld%s: %s", when, x->name, v,
	    x->version, x->update_unknown ? " (+1 unanswered)" : "", dump);
	snprintf(want_out, sizeof(want_out), "[\"v%ld\"]", v);
	{
		json_t *o = json_object_get(c, "output_fields");
		char *od = fs_json_dump(o);
		FS_CHECK(strcmp(od, want_out) == 0,
		    "%s: %s at version %ld holds output_fields %s (half-applied?)",
		    when, x->name, v, od);
		free(od);
	}
	FS_CHECK(strcmp(fs_json_str(c, "name") ? fs_json_str(c, "name") : "",
	             x->name) == 0 &&
	        fs_json_int(c, "kind") ==
	            (x->app ? FLOWSVC__KIND__APP : FLOWSVC__KIND__FLOW) &&
	        json_array_size(json_object_get(c, "input_fields")) == 0 &&
	        strcmp(fs_json_str(c, "group") ? fs_json_str(c, "group") : "",
	            "default") == 0 &&
	        fs_json_int(c, "updated_at_us") >=
	            fs_json_int(c, "created_at_us") &&
	        fs_is_lower_uuid(fs_json_str(c, "canvas_id")),
	    "%s: %s is not the component that was written: %s", when, x->name,
	    dump);
	{
		json_t *fl = json_object_get(c, "flows");
		int ok = x->app ? json_array_size(fl) == 1 &&
		        strcmp(json_string_value(json_array_get(fl, 0))
		                ? json_string_value(json_array_get(fl, 0))
		                : "",
		            w->anchor) == 0
		                : json_array_size(fl) == 0;
		FS_CHECK(ok, "%s: %s has flows that were never written: %s", when,
		    x->name, dump);
	}
	if (x->create_unknown)
		FS_CHECK(status == FLOWSVC__STATUS__NOT_DEPLOYED,
		    "%s: %s (unanswered create) has status %d", when, x->name,
		    status);
	else
		FS_CHECK(status == x->status ||
		        (x->status_unknown && status == x->target_status),
		    "%s: %s has status %d; acknowledged %d%s", when, x->name,
		    status, x->status,
		    x->status_unknown ? " (deploy/stop unanswered)" : "");
	free(dump);
}

/* Verifies every writer's records against the restarted backend, then
 * adopts what was found as the acknowledged state for the next round. */
static void
verify_writers(const char *when)
{
	fs_client *c = kenv.client;
	long expect_present = 0;
	json_t *all;

	for (int i = 0; i < WRITERS; i++) {
		writer *w = &writers[i];
		json_t *comp = NULL;
		int status;

		if (!FS_CHECK(rpc_get(c, w->anchor, &comp, &status) == FS_OK,
		        "%s: writer %d's anchor flow is gone", when, i))
			continue;
		json_decref(comp);
		expect_present++;
		for (int k = 0; k < w->nrec; k++) {
			wrec *x = &w->recs[k];
			int code;

			comp = NULL;
			status = -1;
			if (x->deleted && !x->delete_unknown)
				continue; /* checked below (absent), once */
			if (x->create_unknown) {
				json_t *l = rpc_list(c, x->name);
				size_t n = json_array_size(l);
				FS_CHECK(l != NULL && n <= 1,
				    "%s: LIST %s: %zu results", when, x->name, n);
				if (n == 1) {
					const char *id =
					    fs_json_str(json_array_get(l, 0), "id");
					snprintf(x->id, sizeof(x->id), "%s",
					    id ? id : "");
					code = rpc_get(c, x->id, &comp, &status);
					if (FS_CHECK(code == FS_OK,
					        "%s: %s listed but GET says %s",
					        when, x->name, fs_code_name(code))) {
						check_rec(w, x, comp, status, when);
						x->created = 1;
						x->version = (long) fs_json_int(
						    comp, "version");
						x->status = status;
						expect_present++;
					}
				} else {
					x->deleted = 1; /* never made */
				}
				x->create_unknown = 0;
				json_decref(l);
				json_decref(comp);
				continue;
			}
			if (!x->created)
				continue;
			code = rpc_get(c, x->id, &comp, &status);
			if (x->delete_unknown && code == FS_NOT_FOUND) {
				x->deleted = 1;
			} else if (!FS_CHECK(code == FS_OK,
			               "%s: acknowledged %s (%s) is lost: %s", when,
			               x->name, x->id, fs_code_name(code))) {
				x->deleted = 1; /* reported once, not every round */
				x->created = 0;
			} else {
				check_rec(w, x, comp, status, when);
				x->version = (long) fs_json_int(comp, "version");
				x->status = status;
				x->deleted = 0;
				expect_present++;
			}
			x->delete_unknown = x->update_unknown = 0;
			x->status_unknown = 0;
			json_decref(comp);
		}
	}
	/* Acknowledged deletes stay deleted. */
	for (int i = 0; i < WRITERS; i++) {
		writer *w = &writers[i];
		for (int k = 0; k < w->nrec; k++) {
			wrec *x = &w->recs[k];
			json_t *comp = NULL;
			int code;
			if (!x->deleted || !x->created || x->id[0] == '\0')
				continue;
			code = rpc_get(c, x->id, &comp, NULL);
			FS_CHECK(code == FS_NOT_FOUND,
			    "%s: %s was deleted (acknowledged) but GET says %s",
			    when, x->name, fs_code_name(code));
			json_decref(comp);
			x->created = 0; /* check it once */
		}
	}
	/* Nothing else exists, and every reference resolves. */
	all = rpc_list(c, NULL);
	if (FS_CHECK(all != NULL, "%s: LIST failed", when)) {
		size_t i;
		json_t *it;
		FS_CHECK((long) json_array_size(all) == expect_present,
		    "%s: LIST has %zu components, expected %ld", when,
		    json_array_size(all), expect_present);
		json_array_foreach(all, i, it)
		{
			json_t *fl = json_object_get(it, "flows");
			for (size_t j = 0; j < json_array_size(fl); j++) {
				json_t *ref = NULL;
				int code = rpc_get(c,
				    json_string_value(json_array_get(fl, j)), &ref,
				    NULL);
				FS_CHECK(code == FS_OK &&
				        fs_json_int(ref, "kind") ==
				            FLOWSVC__KIND__FLOW,
				    "%s: %s refers to a missing flow", when,
				    fs_json_str(it, "name"));
				json_decref(ref);
			}
		}
	}
	json_decref(all);
}

typedef struct round_def {
	const char *fsync;
	const char *snapshot_changes;
	long kill_after; /* acknowledged operations */
} round_def;

static void
run_kill_rounds(const round_def *rounds, int nrounds, int first_round)
{
	for (int rd = 0; rd < nrounds; rd++) {
		const round_def *R = &rounds[rd];
		const char *extra[] = {"--fsync", R->fsync, "--snapshot-changes",
		    R->snapshot_changes, NULL};
		char when[128];
		int64_t t0, deadline;
		long acks_at_kill;
		int st, started = 0;

		snprintf(when, sizeof(when), "round %d (--fsync %s, kill after "
		    "%ld acks)", first_round + rd, R->fsync, R->kill_after);
		if (!FS_CHECK(start_backend(&kenv, extra) == 0, "%s: start", when))
			return;
		if (first_round + rd == 1) {
			/* Each writer's anchor flow, used by its apps. */
			for (int i = 0; i < WRITERS; i++) {
				char name[32];
				json_t *comp = NULL;
				snprintf(name, sizeof(name), "anchor_%d", i);
				int code = rpc_create(kenv.client,
				    FLOWSVC__KIND__FLOW, name, NULL, NULL, 5000,
				    &comp);
				if (!FS_ASSERT_OK(code))
					return;
				snprintf(writers[i].anchor,
				    sizeof(writers[i].anchor), "%s",
				    fs_json_str(comp, "id"));
				writers[i].idx = i;
				json_decref(comp);
			}
		}
		atomic_store(&g_acks, 0);
		atomic_store(&g_stop, 0);
		for (int i = 0; i < WRITERS; i++) {
			writer *w = &writers[i];
			w->round = first_round + rd;
			w->seed = (unsigned) (w->round * 7919 + i * 104729 + 1);
			w->acks = 0;
			w->err[0] = '\0';
			if (fs_client_open(&w->c, kenv.backend_url) != 0) {
				FS_CHECK(0, "fs_client_open");
				w->c = NULL;
				continue;
			}
			if (pthread_create(&w->thr, NULL, writer_main, w) != 0) {
				FS_CHECK(0, "pthread_create");
				fs_client_close(w->c);
				w->c = NULL;
				continue;
			}
			started++;
		}
		t0 = fs_test_now_ms();
		deadline = t0 + 20000;
		while (atomic_load(&g_acks) < R->kill_after &&
		    fs_test_now_ms() < deadline)
			fs_test_poll_pause(1);
		acks_at_kill = atomic_load(&g_acks);
		st = fs_env_stop_backend(&kenv, SIGKILL);
		atomic_store(&g_stop, 1);
		for (int i = 0; i < WRITERS; i++) {
			if (writers[i].c == NULL)
				continue;
			pthread_join(writers[i].thr, NULL);
			/* Closed before the restart: a call can never reach
			 * the new backend late. */
			fs_client_close(writers[i].c);
			writers[i].c = NULL;
		}
		{
			int unknown = 0;
			gens g;
			char gs[512];
			for (int i = 0; i < WRITERS; i++)
				for (int k = 0; k < writers[i].nrec; k++) {
					wrec *x = &writers[i].recs[k];
					unknown += x->create_unknown +
					    x->update_unknown + x->delete_unknown +
					    x->status_unknown;
				}
			scan_gens(kenv.data_dir, &g);
			fprintf(stderr, "\n  %s: %ld acks at the kill after %lld "
			                "ms, %ld in all, %d unanswered; %s\n",
			    when, acks_at_kill, (long long) (fs_test_now_ms() - t0),
			    (long) atomic_load(&g_acks), unknown,
			    gens_str(&g, gs, sizeof(gs)));
		}
		FS_CHECK(started == WRITERS, "%s: %d writers started", when,
		    started);
		FS_CHECK(killed_by(st, SIGKILL), "%s: not killed: 0x%x", when, st);
		FS_CHECK(acks_at_kill >= R->kill_after,
		    "%s: only %ld writes acknowledged in 20 s", when,
		    acks_at_kill);
		for (int i = 0; i < WRITERS; i++)
			FS_CHECK(writers[i].err[0] == '\0', "%s: %s", when,
			    writers[i].err);
		if (!FS_CHECK(start_backend(&kenv, extra) == 0,
		        "%s: restart after kill -9", when))
			return;
		verify_writers(when);
		st = fs_env_stop_backend(&kenv, SIGKILL);
		FS_CHECK(killed_by(st, SIGKILL), "%s: not killed: 0x%x", when, st);
	}
}

static void
test_kill9_everysec(void)
{
	static const round_def rounds[] = {
	    {"everysec", "100000", 300},
	    {"everysec", "40", 1500},
	    {"everysec", "100000", 25},
	};
	run_kill_rounds(rounds, 3, 1);
}

static void
test_kill9_always(void)
{
	static const round_def rounds[] = {
	    {"always", "100000", 600},
	    {"always", "30", 8},
	};
	if (writers[0].anchor[0] == '\0')
		return; /* the first test set things up and failed */
	run_kill_rounds(rounds, 2, 4);
}

static CU_TestInfo kill_tests[] = {
    {"8 writers, kill -9 mid-load x3, --fsync everysec: nothing acknowledged "
     "lost, nothing half-applied",
        test_kill9_everysec},
    {"8 writers, kill -9 mid-load x2, --fsync always", test_kill9_always},
    CU_TEST_INFO_NULL,
};

/* ==== (c) corruption and odd data dirs ================================== */

/* A data dir whose only content is changes-000000000000.log with n flow
 * creates (kill -9, no snapshot). ids and bodies are filled. */
static int
make_log_only(fs_test_env *env, const char *name, int n, char ids[][64],
    json_t **bodies)
{
	int st;

	if (fs_env_init(env, name) != 0 || start_backend(env, NULL) != 0)
		return -1;
	for (int i = 0; i < n; i++) {
		char nm[32];
		json_t *comp = NULL;
		snprintf(nm, sizeof(nm), "c_%d", i);
		int code = rpc_create(env->client, FLOWSVC__KIND__FLOW, nm, nm,
		    NULL, 5000, &comp);
		if (!FS_ASSERT_OK(code))
			return -1;
		snprintf(ids[i], 64, "%s", fs_json_str(comp, "id"));
		bodies[i] = comp;
	}
	st = fs_env_stop_backend(env, SIGKILL);
	return FS_CHECK(killed_by(st, SIGKILL), "not killed: 0x%x", st) ? 0 : -1;
}

/* Runs flow-service on dir until it exits (it is expected to refuse). */
static void
run_refusing(const char *dir, fs_test_run_result *res, int64_t *ms)
{
	char url[64];
	char *argv[] = {(char *) FLOW_SERVICE_BIN, (char *) "--listen", url,
	    (char *) "--data-dir", (char *) dir, NULL};
	int64_t t0 = fs_test_now_ms();

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", fs_test_free_port());
	fs_test_run(res, argv, NULL, NULL, REFUSE_MS);
	*ms = fs_test_now_ms() - t0;
}

static void
free_bodies(json_t **b, int n)
{
	for (int i = 0; i < n; i++)
		json_decref(b[i]);
}

static void
test_torn_tail(void)
{
	fs_test_env env;
	char ids[6][64], path[PATH_MAX + 64];
	json_t *bodies[6] = {0}, *extra_body = NULL;
	long long size;
	char *log;
	int i, st;

	if (make_log_only(&env, "dur-cut", 6, ids, bodies) != 0)
		goto out;
	gen_path(path, sizeof(path), env.data_dir, "changes", 0, ".log");
	size = file_size(path);
	if (!FS_CHECK(size > LOG_HEADER && truncate(path, size - 3) == 0,
	        "cannot cut %s (%lld bytes)", path, size))
		goto out;
	if (!FS_CHECK(start_backend(&env, NULL) == 0,
	        "flow-service refused a log with a torn last record"))
		goto out;
	log = fs_file_read(env.backend.log_path, NULL);
	FS_CHECK(log != NULL && count_substr(log, "torn") == 1,
	    "no log line about the torn record: %s", log ? log : "(no log)");
	free(log);
	for (i = 0; i < 6; i++) {
		json_t *comp = NULL;
		int code = rpc_get(env.client, ids[i], &comp, NULL);
		if (i < 5) {
			if (FS_CHECK(code == FS_OK, "c_%d lost: %s", i,
			        fs_code_name(code)))
				FS_ASSERT_JSON_SAME(comp, bodies[i]);
		} else {
			FS_CHECK(code == FS_NOT_FOUND,
			    "the torn record c_5 was applied: %s",
			    fs_code_name(code));
		}
		json_decref(comp);
	}
	/* Appending after the dropped tail gives a clean log. */
	{
		int code = rpc_create(env.client, FLOWSVC__KIND__FLOW, "c_5", "c_5",
		    NULL, 5000, &extra_body);
		FS_ASSERT_OK(code);
	}
	st = fs_env_stop_backend(&env, SIGKILL);
	FS_CHECK(killed_by(st, SIGKILL), "not killed: 0x%x", st);
	if (!FS_CHECK(start_backend(&env, NULL) == 0,
	        "no restart after the append that followed a torn tail"))
		goto out;
	log = fs_file_read(env.backend.log_path, NULL);
	FS_CHECK(log != NULL && count_substr(log, "torn") == 1,
	    "the second start found another torn record");
	free(log);
	for (i = 0; i < 5; i++) {
		json_t *comp = NULL;
		if (FS_ASSERT_OK(rpc_get(env.client, ids[i], &comp, NULL)))
			FS_ASSERT_JSON_SAME(comp, bodies[i]);
		json_decref(comp);
	}
	if (extra_body != NULL) {
		json_t *comp = NULL;
		if (FS_ASSERT_OK(rpc_get(env.client,
		        fs_json_str(extra_body, "id"), &comp, NULL)))
			FS_ASSERT_JSON_SAME(comp, extra_body);
		json_decref(comp);
	}
out:
	json_decref(extra_body);
	free_bodies(bodies, 6);
	fs_env_fini(&env);
}

/* Flips one byte of record 2 of 6 (at rec_off + delta) and expects a
 * refusal that names the file and an offset, with the file untouched. */
static void
corrupt_middle_record(const char *envname, int delta_kind)
{
	fs_test_env env;
	char ids[6][64], path[PATH_MAX + 64];
	json_t *bodies[6] = {0};
	long long off[16], len[16], at;
	size_t n0 = 0, n1 = 0;
	char *before = NULL, *after = NULL;
	fs_test_run_result res;
	int64_t ms;
	int n;

	if (make_log_only(&env, envname, 6, ids, bodies) != 0)
		goto out;
	gen_path(path, sizeof(path), env.data_dir, "changes", 0, ".log");
	n = log_records(path, off, len, 16);
	if (!FS_CHECK(n == 6, "%s holds %d records, expected 6", path, n))
		goto out;
	/* 0: a payload byte; 1: the high byte of the length field (a length
	 * no writer ever produces, far past the end). */
	at = delta_kind == 0 ? off[2] + REC_HEADER + len[2] / 2 : off[2] + 3;
	if (!FS_CHECK(flip_byte(path, at) == 0, "flip %s at %lld", path, at))
		goto out;
	before = fs_file_read(path, &n0);
	run_refusing(env.data_dir, &res, &ms);
	FS_CHECK(res.exit_code > 0 && res.exit_code < 128,
	    "flow-service started on a log corrupt at offset %lld (record at "
	    "%lld): exit %d, stderr: %s",
	    at, off[2], res.exit_code, res.err);
	FS_CHECK(ms < REFUSE_MS, "the refusal took %lld ms", (long long) ms);
	FS_CHECK(res.err != NULL && strstr(res.err, path) != NULL &&
	        strstr(res.err, "offset") != NULL,
	    "stderr does not name %s and an offset: %s", path, res.err);
	{
		char o1[32], o2[32];
		snprintf(o1, sizeof(o1), "%lld", off[2]);
		snprintf(o2, sizeof(o2), "%lld", at);
		FS_CHECK(res.err != NULL &&
		        (strstr(res.err, o1) != NULL || strstr(res.err, o2) != NULL),
		    "stderr does not give the corrupt record's offset (%s) or "
		    "the byte's (%s): %s",
		    o1, o2, res.err);
	}
	errno = 0;
	after = fs_file_read(path, &n1);
	FS_CHECK(before != NULL && after != NULL && n0 == n1 &&
	        memcmp(before, after, n0) == 0,
	    "the refused start changed %s (%zu bytes before, %lld now%s%s)",
	    path, n0, file_size(path), after ? "" : "; unreadable: ",
	    after ? "" : strerror(errno));
	fs_test_run_result_free(&res);
out:
	free(before);
	free(after);
	free_bodies(bodies, 6);
	fs_env_fini(&env);
}

static void
test_corrupt_log_payload(void)
{
	corrupt_middle_record("dur-flip", 0);
}

/* A length no writer ever produces (far past REC_MAX and the end of the
 * file) in the middle of the last log is corruption, not a torn tail: a
 * torn write leaves a prefix of the last record only. */
static void
test_corrupt_log_length(void)
{
	corrupt_middle_record("dur-flipl", 1);
}

static void
test_corrupt_snapshot(void)
{
	fs_test_env env;
	char ids[4][64], path[PATH_MAX + 64];
	json_t *bodies[4] = {0};
	fs_test_run_result res;
	size_t n0 = 0, n1 = 0;
	char *before = NULL, *after = NULL, gs[512];
	int64_t ms;
	gens g;
	int st;

	if (make_log_only(&env, "dur-snap", 4, ids, bodies) != 0)
		goto out;
	if (!FS_CHECK(start_backend(&env, NULL) == 0, "restart"))
		goto out;
	st = fs_env_stop_backend(&env, SIGTERM);
	FS_CHECK(exited_zero(st), "SIGTERM: 0x%x", st);
	scan_gens(env.data_dir, &g);
	if (!FS_CHECK(g.nsnap == 1, "no snapshot after SIGTERM: %s",
	        gens_str(&g, gs, sizeof(gs))))
		goto out;
	gen_path(path, sizeof(path), env.data_dir, "snapshot", g.snap[0], ".db");
	if (!FS_CHECK(flip_byte(path, file_size(path) / 2) == 0, "flip %s",
	        path))
		goto out;
	before = fs_file_read(path, &n0);
	run_refusing(env.data_dir, &res, &ms);
	FS_CHECK(res.exit_code > 0 && res.exit_code < 128,
	    "flow-service started on a corrupt snapshot: exit %d, stderr: %s",
	    res.exit_code, res.err);
	FS_CHECK(ms < REFUSE_MS, "the refusal took %lld ms", (long long) ms);
	FS_CHECK(res.err != NULL && strstr(res.err, path) != NULL,
	    "stderr does not name %s: %s", path, res.err);
	fs_test_run_result_free(&res);
	after = fs_file_read(path, &n1);
	FS_CHECK(before != NULL && after != NULL && n0 == n1 &&
	        memcmp(before, after, n0) == 0,
	    "the refused start changed or removed %s", path);
	{
		gens g2;
		scan_gens(env.data_dir, &g2);
		FS_CHECK(g2.nsnap == g.nsnap && g2.nlog == g.nlog,
		    "the refused start changed the files: %s",
		    gens_str(&g2, gs, sizeof(gs)));
	}
out:
	free(before);
	free(after);
	free_bodies(bodies, 4);
	fs_env_fini(&env);
}

static void
test_leftover_tmp_removed(void)
{
	fs_test_env env;
	char ids[3][64], tmp1[PATH_MAX + 64], tmp2[PATH_MAX + 64],
	    other[PATH_MAX + 64];
	json_t *bodies[3] = {0};
	char *log;
	int st;

	if (make_log_only(&env, "dur-tmp", 3, ids, bodies) != 0)
		goto out;
	if (!FS_CHECK(start_backend(&env, NULL) == 0, "restart"))
		goto out;
	st = fs_env_stop_backend(&env, SIGTERM);
	FS_CHECK(exited_zero(st), "SIGTERM: 0x%x", st);
	/* What a crash mid-snapshot leaves (pids over PID_MAX_LIMIT: dead). */
	snprintf(tmp1, sizeof(tmp1), "%s/snapshot-000000000007.db.99999998.tmp",
	    env.data_dir);
	snprintf(tmp2, sizeof(tmp2), "%s/snapshot-000000000001.db.99999999.tmp",
	    env.data_dir);
	snprintf(other, sizeof(other), "%s/operator-notes.tmp", env.data_dir);
	if (!FS_CHECK(write_file(tmp1, "FLOWSNP half-written garbage") == 0 &&
	            write_file(tmp2, "") == 0 &&
	            write_file(other, "not ours") == 0,
	        "cannot write the leftovers"))
		goto out;
	if (!FS_CHECK(start_backend(&env, NULL) == 0,
	        "flow-service did not start with leftover temp files"))
		goto out;
	FS_CHECK(access(tmp1, F_OK) != 0 && access(tmp2, F_OK) != 0,
	    "a leftover snapshot temp file is still there");
	FS_CHECK(access(other, F_OK) == 0,
	    "a file that is not a snapshot temp file was removed: %s", other);
	log = fs_file_read(env.backend.log_path, NULL);
	FS_CHECK(log != NULL && strstr(log, "db.99999998.tmp"),
	    "the removal is not logged");
	free(log);
	for (int i = 0; i < 3; i++) {
		json_t *comp = NULL;
		if (FS_ASSERT_OK(rpc_get(env.client, ids[i], &comp, NULL)))
			FS_ASSERT_JSON_SAME(comp, bodies[i]);
		json_decref(comp);
	}
out:
	free_bodies(bodies, 3);
	fs_env_fini(&env);
}

static void
expect_empty_backend(fs_test_env *env, const char *what)
{
	json_t *all = rpc_list(env->client, NULL);
	FS_CHECK(all != NULL && json_array_size(all) == 0,
	    "%s: the backend does not start empty (%zu components)", what,
	    json_array_size(all));
	json_decref(all);
}

static void
test_empty_and_missing_dir(void)
{
	fs_test_env env;
	json_t *comp = NULL;
	struct stat sb;
	int st;

	if (fs_env_init(&env, "dur-empty") != 0)
		return;
	/* The data dir exists and is empty. */
	if (FS_CHECK(start_backend(&env, NULL) == 0, "start on an empty dir")) {
		expect_empty_backend(&env, "empty dir");
		FS_ASSERT_OK(rpc_create(env.client, FLOWSVC__KIND__FLOW,
		    "first", NULL, NULL, 5000, &comp));
		json_decref(comp);
		st = fs_env_stop_backend(&env, SIGTERM);
		FS_CHECK(exited_zero(st), "SIGTERM: 0x%x", st);
	}
	/* A data dir that does not exist yet. */
	if (!FS_CHECK((size_t) snprintf(env.data_dir, sizeof(env.data_dir),
	                  "%s/not-yet", env.dir) < sizeof(env.data_dir),
	        "path too long")) {
		fs_env_fini(&env);
		return;
	}
	if (FS_CHECK(start_backend(&env, NULL) == 0, "start on a missing dir")) {
		expect_empty_backend(&env, "missing dir");
		FS_CHECK(stat(env.data_dir, &sb) == 0 && S_ISDIR(sb.st_mode),
		    "%s was not created", env.data_dir);
		comp = NULL;
		FS_ASSERT_OK(rpc_create(env.client, FLOWSVC__KIND__FLOW,
		    "second", NULL, NULL, 5000, &comp));
		json_decref(comp);
		st = fs_env_stop_backend(&env, SIGKILL);
		FS_CHECK(killed_by(st, SIGKILL), "not killed: 0x%x", st);
		if (FS_CHECK(start_backend(&env, NULL) == 0, "restart")) {
			json_t *l = rpc_list(env.client, NULL);
			FS_CHECK(json_array_size(l) == 1 &&
			        strcmp(fs_json_str(json_array_get(l, 0), "name"),
			            "second") == 0,
			    "the created dir does not keep what was written");
			json_decref(l);
		}
	}
	fs_env_fini(&env);
}

static void
test_data_dir_is_a_file(void)
{
	fs_test_env env;
	char file[PATH_MAX + 32];
	fs_test_run_result res;
	int64_t ms;

	if (fs_env_init(&env, "dur-file") != 0)
		return;
	snprintf(file, sizeof(file), "%s/plain-file", env.dir);
	if (FS_CHECK(write_file(file, "x\n") == 0, "write %s", file)) {
		run_refusing(file, &res, &ms);
		FS_CHECK(res.exit_code > 0 && res.exit_code < 128,
		    "flow-service with a file as data dir: exit %d", res.exit_code);
		FS_CHECK(ms < REFUSE_MS, "the refusal took %lld ms", (long long) ms);
		FS_CHECK(res.err != NULL && res.err_len > 1 &&
		        count_substr(res.err, "\n") == 1 &&
		        res.err[res.err_len - 1] == '\n' &&
		        strstr(res.err, file) != NULL,
		    "expected one line naming %s on stderr, got: \"%s\"", file,
		    res.err);
		fs_test_run_result_free(&res);
		{
			size_t n;
			char *c = fs_file_read(file, &n);
			FS_CHECK(c != NULL && strcmp(c, "x\n") == 0,
			    "the file was changed");
			free(c);
		}
	}
	fs_env_fini(&env);
}

static CU_TestInfo corrupt_tests[] = {
    {"torn last record: dropped with a log line, the rest kept",
        test_torn_tail},
    {"byte flipped in a middle record's payload: refused, file and offset "
     "named",
        test_corrupt_log_payload},
    {"byte flipped in a middle record's length: refused, not dropped as "
     "torn",
        test_corrupt_log_length},
    {"byte flipped in the snapshot: refused, file named, kept",
        test_corrupt_snapshot},
    {"leftover snapshot temp files removed at start", test_leftover_tmp_removed},
    {"empty and missing data dirs start empty", test_empty_and_missing_dir},
    {"data dir is a regular file: one-line refusal", test_data_dir_is_a_file},
    CU_TEST_INFO_NULL,
};

/* ==== (d) disk full ====================================================== */

static fs_test_env denv;
static int mounted;

static const char *const UNAVAILABLE_BODY =
    "{\"detail\": \"Service unavailable.\"}";

static int
disk_suite_init(void)
{
	return fs_env_init(&denv, "dur-disk");
}

static int
disk_suite_fini(void)
{
	int ok = 1;

	/* Programs first (their files are on the mount), then the mount,
	 * then the scratch dir. */
	fs_http_close(denv.http);
	denv.http = NULL;
	if (denv.gateway.pid != 0)
		ok &= exited_zero(fs_test_proc_stop(&denv.gateway, SIGTERM,
		    FS_TEST_STOP_TIMEOUT_MS));
	if (denv.backend.pid != 0)
		ok &= exited_zero(fs_test_proc_stop(&denv.backend, SIGTERM,
		    FS_TEST_STOP_TIMEOUT_MS));
	if (mounted && umount2(denv.data_dir, MNT_DETACH) != 0) {
		fprintf(stderr, "umount %s: %s\n", denv.data_dir,
		    strerror(errno));
		ok = 0;
	}
	mounted = 0;
	return fs_env_fini(&denv) == 0 && ok ? 0 : -1;
}

/* Fills what is left of the file system with a file of our own, so that
 * every further write of the backend fails whatever its size. */
static long long
fill_rest(const char *dir)
{
	char path[PATH_MAX + 32], buf[4096];
	long long total = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/filler.bin", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644)) < 0)
		return -1;
	memset(buf, 'f', sizeof(buf));
	for (int bs = 4096; bs >= 1; bs /= 2) {
		for (int i = 0; i < 100000; i++) {
			ssize_t n = write(fd, buf, (size_t) bs);
			if (n <= 0)
				break;
			total += n;
		}
	}
	close(fd);
	return total;
}

#define DISK_MAX_WRITES 3000

static void
test_disk_full(void)
{
	static char ids[DISK_MAX_WRITES][64];
	json_t *acked = json_object(); /* id -> last acknowledged body */
	char body[4096], big[256], gs[512];
	int nacked = 0, i, got503 = 0, st;
	fs_http_resp r;
	Flowsvc__Reply *reply = NULL;

	if (mount("tmpfs", denv.data_dir, "tmpfs", 0, "size=512k") != 0) {
		fprintf(stderr, "\n  skipped: cannot mount tmpfs on %s: %s\n",
		    denv.data_dir, strerror(errno));
		CU_PASS("skipped: cannot mount tmpfs");
		json_decref(acked);
		return;
	}
	mounted = 1;
	if (!FS_CHECK(fs_env_start_programs(&denv) == 0,
	        "cannot start the programs on the tmpfs"))
		goto out;

	/* Big records (about 2.5 KB) until the disk refuses. */
	memset(big, 'z', 200);
	big[200] = '\0';
	for (i = 0; i < DISK_MAX_WRITES && !got503; i++) {
		int k = snprintf(body, sizeof(body),
		    "{\"name\": \"full_%d\", \"input_fields\": [", i);
		for (int j = 0; j < 12; j++)
			k += snprintf(body + k, sizeof(body) - (size_t) k,
			    "%s\"%02d%s\"", j ? ", " : "", j, big);
		snprintf(body + k, sizeof(body) - (size_t) k, "]}");
		fs_rest(&denv, "POST", "/api/flows/", body, &r);
		if (r.status == 201) {
			snprintf(ids[nacked], 64, "%s", fs_json_str(r.json, "id"));
			json_object_set(acked, ids[nacked], r.json);
			nacked++;
		} else if (r.status == 503) {
			got503 = 1;
			FS_ASSERT_ERROR(&r, 503, UNAVAILABLE_BODY);
		} else {
			FS_ASSERT_STATUS(&r, 201);
			fs_http_resp_free(&r);
			goto out;
		}
		fs_http_resp_free(&r);
	}
	fprintf(stderr, "\n  disk full after %d creates\n", nacked);
	if (!FS_CHECK(got503, "no 503 after %d creates on a 512k tmpfs", i) ||
	    !FS_CHECK(nacked > 10, "only %d creates fit", nacked))
		goto out;
	FS_CHECK(fill_rest(denv.data_dir) >= 0, "cannot fill the rest");
	/* The log's last page may still have room: use it up with ever
	 * smaller changes (tiny creates, then deletes, the smallest record
	 * there is) until those are refused too. Every acknowledged one is
	 * tracked. */
	{
		int tiny_ok = 0, del_ok = 0, k;
		for (k = 0; k < 200; k++) {
			snprintf(body, sizeof(body), "{\"name\": \"slack_%d\"}", k);
			fs_rest(&denv, "POST", "/api/flows/", body, &r);
			if (r.status == 201) {
				json_object_set(acked, fs_json_str(r.json, "id"),
				    r.json);
				tiny_ok++;
			} else {
				FS_ASSERT_ERROR(&r, 503, UNAVAILABLE_BODY);
				fs_http_resp_free(&r);
				break;
			}
			fs_http_resp_free(&r);
		}
		for (k = nacked - 1; k >= 3; k--) {
			fs_restf(&denv, "DELETE", NULL, &r, "/api/flows/%s/", ids[k]);
			if (r.status == 204) {
				json_object_del(acked, ids[k]);
				del_ok++;
			} else {
				FS_ASSERT_ERROR(&r, 503, UNAVAILABLE_BODY);
				fs_http_resp_free(&r);
				break;
			}
			fs_http_resp_free(&r);
		}
		fprintf(stderr, "  slack used by %d tiny creates and %d deletes\n",
		    tiny_ok, del_ok);
		FS_CHECK(k >= 3, "every delete kept working on a full disk");
	}

	/* Every kind of write is refused, with the documented body. */
	fs_rest(&denv, "POST", "/api/flows/", "{\"name\": \"tiny\"}", &r);
	FS_ASSERT_ERROR(&r, 503, UNAVAILABLE_BODY);
	fs_http_resp_free(&r);
	fs_restf(&denv, "PUT", "{\"output_fields\": [\"o\"]}", &r,
	    "/api/flows/%s/", ids[0]);
	FS_ASSERT_ERROR(&r, 503, UNAVAILABLE_BODY);
	fs_http_resp_free(&r);
	fs_restf(&denv, "DELETE", NULL, &r, "/api/flows/%s/", ids[1]);
	FS_ASSERT_ERROR(&r, 503, UNAVAILABLE_BODY);
	fs_http_resp_free(&r);
	fs_restf(&denv, "POST", NULL, &r, "/api/apps/%s/deploy/", ids[2]);
	FS_ASSERT_ERROR(&r, 503, UNAVAILABLE_BODY);
	fs_http_resp_free(&r);
	{
		json_t *comp = NULL;
		FS_ASSERT_CODE(rpc_create(denv.client, FLOWSVC__KIND__APP,
		                   "tiny_app", NULL, NULL, 5000, &comp),
		    FS_UNAVAILABLE, NULL);
		json_decref(comp);
	}
	/* A snapshot cannot be written either; it says so and harms
	 * nothing. */
	{
		Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
		fs_call_opts o = {NULL, 20000, NULL};
		int code = fs_client_call(denv.client, FLOWSVC__METHOD__SNAPSHOT,
		    &e.base, &o, &reply);
		FS_ASSERT_CODE(code, FS_UNAVAILABLE, reply);
		if (reply != NULL)
			flowsvc__reply__free_unpacked(reply, NULL);
		reply = NULL;
	}
	/* Reads go on, with the data written before. */
	fs_rest(&denv, "GET", "/api/flows/", NULL, &r);
	if (FS_ASSERT_STATUS(&r, 200))
		FS_CHECK(json_array_size(r.json) == json_object_size(acked),
		    "list has %zu flows, %zu are acknowledged",
		    json_array_size(r.json), json_object_size(acked));
	fs_http_resp_free(&r);
	{
		const char *id;
		json_t *want;
		json_object_foreach(acked, id, want)
		{
			fs_restf(&denv, "GET", NULL, &r, "/api/flows/%s/", id);
			if (FS_ASSERT_STATUS(&r, 200))
				FS_ASSERT_JSON_SAME(r.json, want);
			fs_http_resp_free(&r);
		}
	}
	fs_restf(&denv, "GET", NULL, &r, "/api/apps/%s/status/", ids[2]);
	FS_ASSERT_ERROR(&r, 200, "{\"status\": \"not-deployed\"}");
	fs_http_resp_free(&r);

	/* More room: writes work again, no restart. */
	if (!FS_CHECK(mount("tmpfs", denv.data_dir, "tmpfs", MS_REMOUNT,
	                  "size=8m") == 0,
	        "remount: %s", strerror(errno)))
		goto out;
	fs_rest(&denv, "POST", "/api/flows/", "{\"name\": \"tiny\"}", &r);
	if (FS_ASSERT_STATUS(&r, 201)) {
		json_object_set(acked, fs_json_str(r.json, "id"), r.json);
	}
	fs_http_resp_free(&r);
	fs_restf(&denv, "PUT", "{\"output_fields\": [\"o\"]}", &r,
	    "/api/flows/%s/", ids[0]);
	if (FS_ASSERT_STATUS(&r, 200))
		json_object_set(acked, ids[0], r.json);
	fs_http_resp_free(&r);
	fs_restf(&denv, "DELETE", NULL, &r, "/api/flows/%s/", ids[1]);
	if (FS_ASSERT_STATUS(&r, 204))
		json_object_del(acked, ids[1]);
	fs_http_resp_free(&r);
	fs_restf(&denv, "POST", NULL, &r, "/api/apps/%s/deploy/", ids[2]);
	FS_ASSERT_STATUS(&r, 200);
	fs_http_resp_free(&r);
	for (i = 0; i < 20; i++) {
		snprintf(body, sizeof(body), "{\"name\": \"after_%d\"}", i);
		fs_rest(&denv, "POST", "/api/flows/", body, &r);
		if (FS_ASSERT_STATUS(&r, 201))
			json_object_set(acked, fs_json_str(r.json, "id"), r.json);
		fs_http_resp_free(&r);
	}

	/* Restart: every acknowledged write is there, nothing refused is. */
	st = fs_env_stop_backend(&denv, SIGTERM);
	FS_CHECK(exited_zero(st), "SIGTERM: 0x%x", st);
	{
		gens g;
		scan_gens(denv.data_dir, &g);
		FS_CHECK(g.nsnap == 1 && g.ntmp == 0,
		    "after SIGTERM on the remounted disk: %s",
		    gens_str(&g, gs, sizeof(gs)));
	}
	if (!FS_CHECK(start_backend(&denv, NULL) == 0, "restart") ||
	    !FS_CHECK(gateway_ready(&denv) == 0, "gateway not ready"))
		goto out;
	fs_rest(&denv, "GET", "/api/flows/", NULL, &r);
	if (FS_ASSERT_STATUS(&r, 200)) {
		size_t k;
		json_t *it;
		FS_CHECK(json_array_size(r.json) == json_object_size(acked),
		    "after restart %zu flows, %zu acknowledged",
		    json_array_size(r.json), json_object_size(acked));
		json_array_foreach(r.json, k, it)
		{
			const char *id = fs_json_str(it, "id");
			json_t *want = id ? json_object_get(acked, id) : NULL;
			if (FS_CHECK(want != NULL, "unacknowledged flow %s is there",
			        fs_json_str(it, "name")))
				FS_ASSERT_JSON_SAME(it, want);
		}
	}
	fs_http_resp_free(&r);
	fs_restf(&denv, "GET", NULL, &r, "/api/apps/%s/status/", ids[2]);
	FS_ASSERT_ERROR(&r, 200, "{\"status\": \"started\"}");
	fs_http_resp_free(&r);
	fs_rest(&denv, "GET", "/api/apps/?name__iexact=tiny_app", NULL, &r);
	FS_ASSERT_ERROR(&r, 200, "[]");
	fs_http_resp_free(&r);
out:
	json_decref(acked);
}

static CU_TestInfo disk_tests[] = {
    {"disk full: writes 503, reads 200, recovery without restart, nothing "
     "acknowledged lost",
        test_disk_full},
    CU_TEST_INFO_NULL,
};

/* ==== (e) the Snapshot RPC and flowctl snapshot ========================== */

static fs_test_env senv;

static int
snap_suite_init(void)
{
	if (fs_env_init(&senv, "dur-snaprpc") != 0)
		return -1;
	return start_backend(&senv, NULL);
}

static int
snap_suite_fini(void)
{
	return fs_env_fini(&senv);
}

static void
test_snapshot_rpc(void)
{
	json_t *comp = NULL, *before = NULL, *after = NULL;
	char gs[512], path[PATH_MAX + 64];
	uint64_t g1;
	gens g;
	int st;

	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "s_%d", i);
		if (!FS_ASSERT_OK(rpc_create(senv.client, FLOWSVC__KIND__FLOW, name,
		        name, NULL, 5000, &comp)))
			return;
		if (i == 4)
			FS_ASSERT_OK(rpc_id(senv.client, FLOWSVC__METHOD__DEPLOY,
			    fs_json_str(comp, "id"), 5000, NULL));
		json_decref(comp);
		comp = NULL;
	}
	scan_gens(senv.data_dir, &g);
	FS_CHECK(g.nsnap == 0, "a snapshot before any was asked for: %s",
	    gens_str(&g, gs, sizeof(gs)));

	/* The reply comes once the file is in place: no waiting needed. */
	FS_ASSERT_OK(rpc_snapshot(senv.client));
	scan_gens(senv.data_dir, &g);
	gens_str(&g, gs, sizeof(gs));
	if (!FS_CHECK(g.nsnap == 1 && g.snap[0] > 0 && g.ntmp == 0,
	        "after SNAPSHOT: %s", gs))
		return;
	g1 = g.snap[0];
	FS_CHECK(g.nlog == 1 && g.log[0] == g1,
	    "the log was not reset by the snapshot: %s", gs);
	gen_path(path, sizeof(path), senv.data_dir, "changes", g1, ".log");
	FS_CHECK(file_size(path) == LOG_HEADER, "%s holds %lld bytes", path,
	    file_size(path));

	FS_ASSERT_OK(rpc_create(senv.client, FLOWSVC__KIND__APP, "s_app", NULL,
	    NULL, 5000, &comp));
	json_decref(comp);
	{
		fs_test_run_result res;
		char *argv[] = {(char *) FLOWCTL_BIN, (char *) "--backend",
		    senv.backend_url, (char *) "snapshot", NULL};
		fs_test_run(&res, argv, NULL, NULL, 30000);
		FS_CHECK(res.exit_code == 0, "flowctl snapshot: exit %d, %s",
		    res.exit_code, res.err);
		FS_CHECK(res.json != NULL &&
		        json_object_size(res.json) == 1 &&
		        strcmp(fs_json_str(res.json, "status") ? fs_json_str(res.json, "status") : "", "ok") == 0,
		    "flowctl snapshot printed: %s", res.out);
		fs_test_run_result_free(&res);
	}
	scan_gens(senv.data_dir, &g);
	gens_str(&g, gs, sizeof(gs));
	FS_CHECK(g.nsnap == 1 && g.snap[0] > g1 && g.nlog == 1 &&
	        g.log[0] == g.snap[0] && g.ntmp == 0,
	    "after flowctl snapshot (previous generation %" PRIu64 "): %s", g1,
	    gs);

	/* The snapshot alone restores everything (kill -9: no new one). */
	before = rpc_list(senv.client, NULL);
	st = fs_env_stop_backend(&senv, SIGKILL);
	FS_CHECK(killed_by(st, SIGKILL), "not killed: 0x%x", st);
	if (!FS_CHECK(start_backend(&senv, NULL) == 0, "restart"))
		goto out;
	after = rpc_list(senv.client, NULL);
	FS_CHECK(before != NULL && json_array_size(before) == 6,
	    "expected 6 components before the restart");
	FS_ASSERT_JSON_SAME(after, before);
	{
		json_t *l = rpc_list(senv.client, "s_4");
		int status = -1;
		if (json_array_size(l) == 1)
			rpc_get(senv.client,
			    fs_json_str(json_array_get(l, 0), "id"), &comp, &status);
		FS_ASSERT_INT_EQ(status, FLOWSVC__STATUS__STARTED);
		json_decref(comp);
		json_decref(l);
	}
out:
	json_decref(before);
	json_decref(after);
}

static CU_TestInfo snap_tests[] = {
    {"Snapshot RPC and flowctl snapshot write a new snapshot", test_snapshot_rpc},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"durability: REST state across restarts", rest_suite_init,
        rest_suite_fini, NULL, NULL, rest_tests},
    {"durability: concurrent writers and kill -9", kill_suite_init,
        kill_suite_fini, NULL, NULL, kill_tests},
    {"durability: corrupt and odd data dirs", NULL, NULL, NULL, NULL,
        corrupt_tests},
    {"durability: disk full", disk_suite_init, disk_suite_fini, NULL, NULL,
        disk_tests},
    {"durability: Snapshot RPC", snap_suite_init, snap_suite_fini, NULL,
        NULL, snap_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
