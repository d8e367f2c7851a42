/*
 * test_durability_disk.c - a full disk (a small tmpfs over the data dir;
 * skipped where it cannot be mounted): every kind of write is refused with
 * 503 and the documented body while reads go on; more room makes writes
 * work again without a restart; after a restart every acknowledged write
 * is there and nothing refused is.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "testlib.h"

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
		ok &= fs_test_exited_zero(fs_test_proc_stop(&denv.gateway,
		    SIGTERM, FS_TEST_STOP_TIMEOUT_MS));
	if (denv.backend.pid != 0)
		ok &= fs_test_exited_zero(fs_test_proc_stop(&denv.backend,
		    SIGTERM, FS_TEST_STOP_TIMEOUT_MS));
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
			snprintf(ids[nacked], 64, "%s",
			    fs_json_str(r.json, "id"));
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
			snprintf(body, sizeof(body),
			    "{\"name\": \"slack_%d\"}", k);
			fs_rest(&denv, "POST", "/api/flows/", body, &r);
			if (r.status == 201) {
				json_object_set(acked,
				    fs_json_str(r.json, "id"), r.json);
				tiny_ok++;
			} else {
				FS_ASSERT_ERROR(&r, 503, UNAVAILABLE_BODY);
				fs_http_resp_free(&r);
				break;
			}
			fs_http_resp_free(&r);
		}
		for (k = nacked - 1; k >= 3; k--) {
			fs_restf(&denv, "DELETE", NULL, &r, "/api/flows/%s/",
			    ids[k]);
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
		fprintf(stderr,
		    "  slack used by %d tiny creates and %d deletes\n",
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
		FS_ASSERT_CODE(fs_trpc_create(denv.client, FLOWSVC__KIND__APP,
		                   "tiny_app", NULL, NULL, 5000, &comp),
		    FS_UNAVAILABLE, NULL);
		json_decref(comp);
	}
	/* A snapshot cannot be written either; it says so and harms
	 * nothing. */
	{
		Flowsvc__Empty e = FLOWSVC__EMPTY__INIT;
		fs_call_opts o = {NULL, 20000, NULL, 0};
		int code = fs_client_call(denv.client,
		    FLOWSVC__METHOD__SNAPSHOT, &e.base, &o, &reply);
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
			json_object_set(acked, fs_json_str(r.json, "id"),
			    r.json);
		fs_http_resp_free(&r);
	}

	/* Restart: every acknowledged write is there, nothing refused is. */
	st = fs_env_stop_backend(&denv, SIGTERM);
	FS_CHECK(fs_test_exited_zero(st), "SIGTERM: 0x%x", st);
	{
		fs_gens g;
		fs_gens_scan(denv.data_dir, &g);
		FS_CHECK(g.nsnap == 1 && g.ntmp == 0,
		    "after SIGTERM on the remounted disk: %s",
		    fs_gens_str(&g, gs, sizeof(gs)));
	}
	if (!FS_CHECK(fs_env_start_backend_with(&denv, NULL) == 0,
	        "restart") ||
	    !FS_CHECK(fs_env_wait_gateway_ready(&denv) == 0,
	        "gateway not ready"))
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
			if (FS_CHECK(want != NULL,
			        "unacknowledged flow %s is there",
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

static CU_SuiteInfo suites[] = {
    {"durability: disk full", disk_suite_init, disk_suite_fini, NULL, NULL,
        disk_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
