/*
 * tl_etcd.c - etcd members for the tests (tl_etcd.h).
 */
#include "tl_etcd.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tl_files.h"
#include "tl_http.h"
#include "tl_sock.h"
#include "tl_time.h"

#define ETCD_BIN "/usr/bin/etcd"

int
fs_etcd_available(void)
{
	return access(ETCD_BIN, X_OK) == 0;
}

/* The --initial-cluster value: every member's peer URL. */
static void
cluster_of(const fs_test_etcd *e, char *buf, size_t n)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < e->n && off < n; i++)
		off += (size_t) snprintf(buf + off, n - off,
		    "%sm%d=http://127.0.0.1:%d", i ? "," : "", i,
		    e->peer_port[i]);
}

static int
launch(fs_test_etcd *e, int i)
{
	char name[16], data[PATH_MAX + 32], log[PATH_MAX + 32], curl[64],
	    purl[64], cluster[512], hb[16], el[16];

	snprintf(name, sizeof(name), "m%d", i);
	snprintf(data, sizeof(data), "%s/etcd-m%d", e->dir, i);
	snprintf(log, sizeof(log), "%s/etcd-m%d.log", e->dir, i);
	snprintf(curl, sizeof(curl), "http://127.0.0.1:%d", e->client_port[i]);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", e->peer_port[i]);
	cluster_of(e, cluster, sizeof(cluster));
	/* Loopback: a short heartbeat and election, so that a member lost
	 * is replaced in well under the backends' lease. */
	snprintf(hb, sizeof(hb), "%d", 50);
	snprintf(el, sizeof(el), "%d", 500);
	char *const argv[] = {"etcd", "--name", name, "--data-dir", data,
	    "--listen-client-urls", curl, "--advertise-client-urls", curl,
	    "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
	    "--initial-cluster", cluster, "--initial-cluster-state", "new",
	    "--initial-cluster-token", "flowsvc-test", "--heartbeat-interval",
	    hb, "--election-timeout", el, "--logger", "zap", "--log-level",
	    "warn", NULL};
	return fs_test_proc_start(&e->proc[i], "etcd", ETCD_BIN, argv, log);
}

static int
wait_healthy(fs_test_etcd *e, int i)
{
	if (fs_http_wait_status(e->client_port[i], "/health", 200,
	        FS_TEST_START_TIMEOUT_MS) == 0)
		return 0;
	fprintf(stderr, "etcd member %d did not become healthy\n", i);
	return -1;
}

int
fs_etcd_start(fs_test_etcd *e, const char *dir, int n)
{
	size_t off;

	memset(e, 0, sizeof(*e));
	if (n < 1 || n > FS_ETCD_MAX)
		return -1;
	e->n = n;
	snprintf(e->dir, sizeof(e->dir), "%s", dir);
	off = (size_t) snprintf(e->spec, sizeof(e->spec), "etcd://");
	for (int i = 0; i < n; i++) {
		if ((e->client_port[i] = fs_test_free_port()) < 0 ||
		    (e->peer_port[i] = fs_test_free_port()) < 0)
			return -1;
		off += (size_t) snprintf(e->spec + off, sizeof(e->spec) - off,
		    "%s127.0.0.1:%d", i ? "," : "", e->client_port[i]);
	}
	for (int i = 0; i < n; i++)
		if (launch(e, i) != 0) {
			fs_etcd_stop(e, 1);
			return -1;
		}
	for (int i = 0; i < n; i++)
		if (wait_healthy(e, i) != 0) {
			fs_etcd_stop(e, 1);
			return -1;
		}
	return 0;
}

int
fs_etcd_stop_member(fs_test_etcd *e, int i, int sig)
{
	if (i < 0 || i >= e->n || e->proc[i].pid == 0)
		return -1;
	return fs_test_proc_stop(&e->proc[i], sig, FS_TEST_STOP_TIMEOUT_MS) ==
	        -1
	    ? -1
	    : 0;
}

int
fs_etcd_start_member(fs_test_etcd *e, int i, int wait)
{
	if (i < 0 || i >= e->n || launch(e, i) != 0)
		return -1;
	return wait ? wait_healthy(e, i) : 0;
}

void
fs_etcd_stop(fs_test_etcd *e, int failed)
{
	for (int i = 0; i < e->n; i++) {
		if (e->proc[i].pid != 0)
			(void) fs_test_proc_stop(&e->proc[i], SIGTERM,
			    FS_TEST_STOP_TIMEOUT_MS);
		if (failed && e->proc[i].log_path[0] != '\0')
			fs_test_dump_log("etcd member", e->proc[i].log_path,
			    30);
	}
}
