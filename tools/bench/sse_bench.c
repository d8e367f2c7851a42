/*
 * sse_bench.c - flow-sse-bench: many Server-Sent Events clients on one
 * gateway (GET /api/watch/), and how long a change takes to reach all of
 * them. tools/bench.sh drives it.
 *
 *   flow-sse-bench --port P [--clients N] [--changes K] [--pause-ms MS]
 *                  [--hold-s S]     (--help: the flags, from fs_opts)
 *
 * Opens N streams (HTTP/1.0, so the body is the bare event stream), then
 * makes K changes one at a time (POST /api/flows/ on a connection of its
 * own) and, for each, notes when its acknowledgement came back (with its
 * X-Revision) and when each client read the event of that revision; a
 * change's latency for a client is receipt minus acknowledgement (0 when
 * the event came first). Prints one line:
 *
 *   fanout clients=N changes=K samples=.. p50_us=.. p99_us=.. max_us=..
 *   missed=..
 *
 * then, with --hold-s, keeps the streams open (and read) for S seconds:
 * the time bench.sh measures GETs beside them. One thread reads every
 * stream (epoll); the main thread writes.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fs_opts.h"

struct client {
	int fd;
	bool up;        /* its head was read: 200 */
	char line[512]; /* the line being read */
	size_t len;
	uint64_t id;                         /* the last id: line */
	_Atomic uint64_t added_id, added_us; /* the last "added" read */
};

static struct client *clients;
static int nclients;
static atomic_int stop;
static atomic_int up_count;

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static int
connect_to(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t) port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *) &a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t) k;
	}
	return 0;
}

/* One line of a stream (without its newline). */
static void
on_line(struct client *c, const char *l, uint64_t t)
{
	if (!c->up) {
		if (strncmp(l, "HTTP/1.", 7) == 0 &&
		    strncmp(l + 9, "200", 3) == 0)
			c->id = 0;
		else if (l[0] == '\r' || l[0] == '\0') {
			c->up = true;
			atomic_fetch_add(&up_count, 1);
		}
		return;
	}
	if (strncmp(l, "id: ", 4) == 0)
		c->id = strtoull(l + 4, NULL, 10);
	else if (strcmp(l, "event: added") == 0) {
		atomic_store(&c->added_us, t);
		atomic_store(&c->added_id, c->id);
	}
}

static void
on_readable(struct client *c)
{
	char buf[16384];
	ssize_t n;

	while ((n = recv(c->fd, buf, sizeof(buf), 0)) > 0) {
		uint64_t t = now_us();

		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				c->line[c->len] = '\0';
				on_line(c, c->line, t);
				c->len = 0;
			} else if (c->len < sizeof(c->line) - 1) {
				c->line[c->len++] = buf[i];
			}
		}
	}
}

static void *
reader_main(void *arg)
{
	int ep = *(int *) arg;
	struct epoll_event evs[256];

	while (!atomic_load(&stop)) {
		int n = epoll_wait(ep, evs, 256, 100);

		for (int i = 0; i < n; i++)
			on_readable(&clients[evs[i].data.u32]);
	}
	return NULL;
}

/* POST one flow on fd (keep-alive); returns its X-Revision, 0 on error. */
static uint64_t
create(int fd, int i)
{
	char req[512], body[128], resp[8192];
	size_t got = 0;
	int bl = snprintf(body, sizeof(body), "{\"name\":\"sse_bench_%d_%d\"}",
	    (int) getpid(), i);
	int n = snprintf(req, sizeof(req),
	    "POST /api/flows/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
	    "application/json\r\nContent-Length: %d\r\n\r\n%s",
	    bl, body);

	if (send_all(fd, req, (size_t) n) != 0)
		return 0;
	for (;;) {
		ssize_t k = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		char *end, *cl, *rev;

		if (k <= 0)
			return 0;
		got += (size_t) k;
		resp[got] = '\0';
		if ((end = strstr(resp, "\r\n\r\n")) == NULL)
			continue;
		cl = strcasestr(resp, "\r\nContent-Length: ");
		size_t want = (size_t) (end + 4 - resp) +
		    (cl != NULL ? strtoul(cl + 18, NULL, 10) : 0);
		if (got < want)
			continue;
		rev = strcasestr(resp, "\r\nX-Revision: ");
		if (strncmp(resp + 9, "201", 3) != 0 || rev == NULL)
			return 0;
		return strtoull(rev + 14, NULL, 10);
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

struct config {
	long long port, clients, changes, pause_ms, hold_s;
};

#define OFF(f) offsetof(struct config, f)

/* clang-format off */
static const fs_opt opts[] = {
	FS_OPT_I("port", OFF(port), NULL, 1, 65535, NULL,
	    "the gateway's port on 127.0.0.1 (required)"),
	FS_OPT_I("clients", OFF(clients), "1000", 1, 100000, "N",
	    "GET /api/watch/ streams to open"),
	FS_OPT_I("changes", OFF(changes), "20", 1, 100000, "K",
	    "creates to make, one at a time, each timed to every stream"),
	FS_OPT_I("pause-ms", OFF(pause_ms), "50", 0, 60000, "MS",
	    "pause between two changes"),
	FS_OPT_I("hold-s", OFF(hold_s), "0", 0, 86400, "S",
	    "then keep the streams open (and read) for S seconds"),
};
/* clang-format on */

static const fs_opts_prog prog = {
    .name = "flow-sse-bench",
    .summary = "many SSE clients of one flow-gateway and the fan-out "
               "latency of a change",
    .usage = "--port P [options]",
    .notes = "Prints one line on stdout: fanout clients= changes= "
             "samples= p50_us= p99_us=\nmax_us= missed= (a change's "
             "latency for a stream: its receipt minus the\n"
             "acknowledgement of the create, 0 when the event came "
             "first).\n",
    .opts = opts,
    .nopts = sizeof(opts) / sizeof(opts[0]),
};

int
main(int argc, char **argv)
{
	struct config cfg;
	fs_opts_result res;
	int port, changes, pause_ms, hold_s, ep, wfd, rv;
	uint64_t *lat, nlat = 0, missed = 0, t0;
	pthread_t th;

	if ((rv = fs_opts_parse(&prog, &cfg, argc, argv, &res)) != FS_OPTS_OK)
		return rv == FS_OPTS_EXIT ? 0 : 2;
	if (cfg.port == 0)
		return fs_opts_usage_error(&prog, "--port is required");
	port = (int) cfg.port;
	nclients = (int) cfg.clients;
	changes = (int) cfg.changes;
	pause_ms = (int) cfg.pause_ms;
	hold_s = (int) cfg.hold_s;
	clients = calloc((size_t) nclients, sizeof(*clients));
	lat = calloc((size_t) nclients * (size_t) changes, sizeof(*lat));
	if (clients == NULL || lat == NULL || (ep = epoll_create1(0)) < 0) {
		fprintf(stderr, "flow-sse-bench: out of memory\n");
		return 1;
	}
	static const char get[] =
	    "GET /api/watch/ HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n";
	t0 = now_us();
	for (int i = 0; i < nclients; i++) {
		struct epoll_event ev = {EPOLLIN, {.u32 = (uint32_t) i}};
		struct client *c = &clients[i];

		if ((c->fd = connect_to(port)) < 0 ||
		    send_all(c->fd, get, sizeof(get) - 1) != 0 ||
		    fcntl(c->fd, F_SETFL, O_NONBLOCK) != 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
			fprintf(stderr,
			    "flow-sse-bench: client %d: cannot connect: %s\n",
			    i, strerror(errno));
			return 1;
		}
	}
	if (pthread_create(&th, NULL, reader_main, &ep) != 0)
		return 1;
	while (atomic_load(&up_count) < nclients && now_us() - t0 < 30000000u)
		usleep(1000);
	fprintf(stderr, "flow-sse-bench: %d of %d streams open in %.0f ms\n",
	    atomic_load(&up_count), nclients, (now_us() - t0) / 1000.0);
	if (atomic_load(&up_count) < nclients)
		return 1;

	if ((wfd = connect_to(port)) < 0)
		return 1;
	for (int k = 0; k < changes; k++) {
		uint64_t rev = create(wfd, k), ack = now_us(), deadline;
		int done = 0;

		if (rev == 0) {
			fprintf(stderr, "flow-sse-bench: a create failed\n");
			return 1;
		}
		deadline = ack + 5000000u;
		while (done < nclients && now_us() < deadline) {
			done = 0;
			for (int i = 0; i < nclients; i++)
				done +=
				    atomic_load(&clients[i].added_id) >= rev;
			if (done < nclients)
				usleep(200);
		}
		for (int i = 0; i < nclients; i++) {
			uint64_t id = atomic_load(&clients[i].added_id);
			uint64_t t = atomic_load(&clients[i].added_us);

			if (id != rev) {
				missed++;
				continue;
			}
			lat[nlat++] = t > ack ? t - ack : 0;
		}
		usleep((useconds_t) pause_ms * 1000u);
	}
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	printf("fanout clients=%d changes=%d samples=%" PRIu64
	       " p50_us=%" PRIu64 " p99_us=%" PRIu64 " max_us=%" PRIu64
	       " missed=%" PRIu64 "\n",
	    nclients, changes, nlat, nlat ? lat[nlat / 2] : 0,
	    nlat ? lat[nlat * 99 / 100] : 0, nlat ? lat[nlat - 1] : 0, missed);
	fflush(stdout);
	if (hold_s > 0) {
		printf("holding %d streams for %d s\n", nclients, hold_s);
		fflush(stdout);
		sleep((unsigned) hold_s);
	}
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	for (int i = 0; i < nclients; i++)
		close(clients[i].fd);
	close(wfd);
	close(ep);
	free(clients);
	free(lat);
	return 0;
}
