/*
 * tl_http.c - see tl_http.h.
 */
#include "tl_http.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "tl_sbuf.h"
#include "tl_time.h"

struct fs_http_conn {
	int fd; /* -1: connect on the next request */
	int port;
	int timeout_ms;
	int reused; /* a response was read on this socket */
	sbuf in;    /* bytes received and not yet consumed */
};

static int
http_dial(fs_http_conn *c)
{
	struct sockaddr_in sa;
	struct timeval tv;
	int one = 1;
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		return -1;
	}
	tv.tv_sec = c->timeout_ms / 1000;
	tv.tv_usec = (c->timeout_ms % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
		close(fd);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t) c->port);
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	c->fd = fd;
	c->reused = 0;
	c->in.len = 0;
	return 0;
}

static void
http_hangup(fs_http_conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
	}
	c->fd = -1;
	c->in.len = 0;
}

int
fs_http_connect(fs_http_conn **out, int port, int timeout_ms)
{
	fs_http_conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		return -1;
	}
	c->port = port;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : FS_TEST_HTTP_TIMEOUT_MS;
	if (http_dial(c) != 0) {
		int e = errno;
		free(c);
		errno = e;
		return -1;
	}
	*out = c;
	return 0;
}

void
fs_http_close(fs_http_conn *c)
{
	if (c == NULL) {
		return;
	}
	http_hangup(c);
	free(c->in.p);
	free(c);
}

/* Sends all of buf unless the server answers first (e.g. 413 before the
 * whole body is in): then sending stops and the response is read. */
static int
http_send_all(fs_http_conn *c, const char *buf, size_t len)
{
	size_t sent = 0;

	while (sent < len) {
		struct pollfd pfd = {c->fd, POLLIN | POLLOUT, 0};
		ssize_t n;
		int rv = poll(&pfd, 1, c->timeout_ms);

		if (rv < 0 && errno == EINTR) {
			continue;
		}
		if (rv <= 0) {
			errno = rv == 0 ? ETIMEDOUT : errno;
			return -1;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			return sent > 0 ? 1 : -1;
		}
		n = send(c->fd, buf + sent, len - sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				continue;
			}
			return sent > 0 ? 1 : -1;
		}
		sent += (size_t) n;
	}
	return 0;
}

/* Reads more bytes into c->in. Returns bytes read, 0 on EOF, -1 on error. */
static ssize_t
http_fill(fs_http_conn *c)
{
	char chunk[16384];
	ssize_t n;

	do {
		n = recv(c->fd, chunk, sizeof(chunk), 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		errno = ETIMEDOUT;
	}
	if (n > 0 && sbuf_add(&c->in, chunk, (size_t) n) != 0) {
		errno = ENOMEM;
		return -1;
	}
	return n;
}

static void
http_consume(fs_http_conn *c, size_t n)
{
	memmove(c->in.p, c->in.p + n, c->in.len - n);
	c->in.len -= n;
}

static char *
find_crlfcrlf(const sbuf *b)
{
	size_t i;

	for (i = 0; i + 3 < b->len; i++) {
		if (memcmp(b->p + i, "\r\n\r\n", 4) == 0) {
			return b->p + i;
		}
	}
	return NULL;
}

static int
http_parse_head(fs_http_resp *r, char *head, size_t len)
{
	char *line, *save = NULL, *end = head + len;

	*end = '\0';
	line = strtok_r(head, "\r\n", &save);
	if (line == NULL || strncmp(line, "HTTP/1.", 7) != 0 ||
	    strlen(line) < 12) {
		return -1;
	}
	r->status = atoi(line + 9);
	while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		char *colon = strchr(line, ':');
		fs_http_header *nh;
		char *v;
		if (colon == NULL) {
			continue;
		}
		*colon = '\0';
		v = colon + 1;
		while (*v == ' ' || *v == '\t') {
			v++;
		}
		nh = realloc(r->headers, (r->nheaders + 1) * sizeof(*nh));
		if (nh == NULL) {
			return -1;
		}
		r->headers = nh;
		nh[r->nheaders].name = strdup(line);
		nh[r->nheaders].value = strdup(v);
		r->nheaders++;
		if (nh[r->nheaders - 1].name == NULL ||
		    nh[r->nheaders - 1].value == NULL) {
			return -1;
		}
	}
	return 0;
}

static void
http_resp_clear_head(fs_http_resp *r)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	r->headers = NULL;
	r->nheaders = 0;
	r->status = 0;
}

/* Makes sure c->in holds n bytes. */
static int
http_need(fs_http_conn *c, size_t n)
{
	while (c->in.len < n) {
		ssize_t got = http_fill(c);
		if (got <= 0) {
			if (got == 0) {
				errno = ECONNRESET;
			}
			return -1;
		}
	}
	return 0;
}

static int
http_read_chunked(fs_http_conn *c, sbuf *body)
{
	for (;;) {
		char *eol;
		unsigned long size;

		while ((eol = memchr(c->in.p, '\n', c->in.len)) == NULL) {
			if (http_fill(c) <= 0) {
				return -1;
			}
		}
		size = strtoul(c->in.p, NULL, 16);
		http_consume(c, (size_t) (eol - c->in.p) + 1);
		if (size == 0) {
			/* Trailers end with an empty line. */
			for (;;) {
				while ((eol = memchr(c->in.p, '\n',
				            c->in.len)) == NULL) {
					if (http_fill(c) <= 0) {
						return -1;
					}
				}
				size = (size_t) (eol - c->in.p) + 1;
				http_consume(c, size);
				if (size <= 2) {
					return 0;
				}
			}
		}
		if (http_need(c, size + 2) != 0 ||
		    sbuf_add(body, c->in.p, size) != 0) {
			return -1;
		}
		http_consume(c, size + 2);
	}
}

/* Reads one response. Returns 0, -1 on error, -2 when the connection was
 * closed before any byte of it arrived. */
static int
http_read_resp(fs_http_conn *c, const char *method, fs_http_resp *r,
    int *close_after)
{
	sbuf body = {0};
	const char *te, *cl, *conn;
	char *hend;
	size_t head_len;

	for (;;) {
		while ((hend = find_crlfcrlf(&c->in)) == NULL) {
			ssize_t n = http_fill(c);
			if (n <= 0) {
				if (n == 0) {
					errno = ECONNRESET;
				}
				return c->in.len == 0 ? -2 : -1;
			}
		}
		head_len = (size_t) (hend - c->in.p) + 4;
		{
			char *head = malloc(head_len);
			int rv;
			if (head == NULL) {
				return -1;
			}
			memcpy(head, c->in.p, head_len);
			rv = http_parse_head(r, head, head_len - 4);
			free(head);
			if (rv != 0) {
				errno = EPROTO;
				return -1;
			}
		}
		http_consume(c, head_len);
		if (r->status >= 200) {
			break;
		}
		http_resp_clear_head(r); /* 100 Continue and friends */
	}
	te = fs_http_header_get(r, "Transfer-Encoding");
	cl = fs_http_header_get(r, "Content-Length");
	conn = fs_http_header_get(r, "Connection");
	*close_after = conn != NULL && strcasecmp(conn, "close") == 0;
	if (strcmp(method, "HEAD") == 0 || r->status == 204 ||
	    r->status == 304) {
		/* no body */
	} else if (te != NULL && strcasecmp(te, "chunked") == 0) {
		if (http_read_chunked(c, &body) != 0) {
			free(body.p);
			return -1;
		}
	} else if (cl != NULL) {
		size_t n = (size_t) strtoull(cl, NULL, 10);
		if (http_need(c, n) != 0 || sbuf_add(&body, c->in.p, n) != 0) {
			free(body.p);
			return -1;
		}
		http_consume(c, n);
	} else {
		ssize_t n;
		while ((n = http_fill(c)) > 0) {
		}
		if (n < 0 || sbuf_add(&body, c->in.p, c->in.len) != 0) {
			free(body.p);
			return -1;
		}
		c->in.len = 0;
		*close_after = 1;
	}
	if (body.p == NULL && sbuf_add(&body, "", 0) != 0) {
		return -1;
	}
	r->body = body.p;
	r->body_len = body.len;
	return 0;
}

static int
http_has_header(const char *const *headers, const char *name)
{
	size_t n = strlen(name);

	for (; headers != NULL && *headers != NULL; headers++) {
		if (strncasecmp(*headers, name, n) == 0 &&
		    (*headers)[n] == ':') {
			return 1;
		}
	}
	return 0;
}

static int
http_request(fs_http_conn *c, const char *method, const char *path,
    const char *const *headers, const char *body, size_t body_len,
    fs_http_resp *r, int once)
{
	sbuf req = {0};
	char line[512];
	int64_t t0 = fs_test_now_ms();
	int attempt, rv = -1;

	memset(r, 0, sizeof(*r));
	snprintf(r->method, sizeof(r->method), "%s", method);
	snprintf(r->path, sizeof(r->path), "%s", path);
	if (body != NULL && body_len == (size_t) -1) {
		body_len = strlen(body);
	}
	snprintf(line, sizeof(line),
	    "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", method, path, c->port);
	if (sbuf_add(&req, line, strlen(line)) != 0) {
		goto out;
	}
	for (const char *const *h = headers; h != NULL && *h != NULL; h++) {
		if (sbuf_add(&req, *h, strlen(*h)) != 0 ||
		    sbuf_add(&req, "\r\n", 2) != 0) {
			goto out;
		}
	}
	if (body != NULL) {
		if (!http_has_header(headers, "Content-Type") &&
		    sbuf_add(&req, "Content-Type: application/json\r\n", 32) !=
		        0) {
			goto out;
		}
		snprintf(line, sizeof(line), "Content-Length: %zu\r\n",
		    body_len);
		if (sbuf_add(&req, line, strlen(line)) != 0) {
			goto out;
		}
	}
	if (once && sbuf_add(&req, "Connection: close\r\n", 19) != 0) {
		goto out;
	}
	if (sbuf_add(&req, "\r\n", 2) != 0 ||
	    (body != NULL && sbuf_add(&req, body, body_len) != 0)) {
		goto out;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		int was_reused, close_after = 0;

		if (c->fd < 0 && http_dial(c) != 0) {
			break;
		}
		was_reused = c->reused;
		if (http_send_all(c, req.p, req.len) < 0) {
			int e = errno;
			http_hangup(c);
			errno = e;
			if (was_reused) {
				continue;
			}
			break;
		}
		rv = http_read_resp(c, method, r, &close_after);
		if (rv == 0) {
			c->reused = 1;
			if (close_after) {
				http_hangup(c);
			}
			break;
		}
		{
			int e = errno;
			http_hangup(c);
			http_resp_clear_head(r);
			errno = e;
		}
		/* A keep-alive connection the server closed while idle:
		 * one retry on a fresh one. */
		if (!(rv == -2 && was_reused)) {
			break;
		}
	}
out:
	if (rv != 0) {
		r->sys_errno = errno;
		rv = -1;
	} else if (r->body_len > 0) {
		r->json = json_loadb(r->body, r->body_len, 0, NULL);
	}
	r->elapsed_ms = fs_test_now_ms() - t0;
	free(req.p);
	return rv;
}

int
fs_http_request(fs_http_conn *c, const char *method, const char *path,
    const char *const *headers, const char *body, size_t body_len,
    fs_http_resp *resp)
{
	return http_request(c, method, path, headers, body, body_len, resp, 0);
}

int
fs_http_once(int port, const char *method, const char *path,
    const char *const *headers, const char *body, size_t body_len,
    fs_http_resp *resp)
{
	fs_http_conn c = {-1, port, FS_TEST_HTTP_TIMEOUT_MS, 0, {0}};
	int rv;

	rv = http_request(&c, method, path, headers, body, body_len, resp, 1);
	http_hangup(&c);
	free(c.in.p);
	return rv;
}

double
fs_http_metric(int port, const char *name)
{
	fs_http_resp r;
	double v = -1;
	size_t nl = strlen(name);

	memset(&r, 0, sizeof(r));
	if (fs_http_once(port, "GET", "/metrics", NULL, NULL, 0, &r) == 0 &&
	    r.status == 200) {
		for (const char *p = r.body; p != NULL && *p != '\0';) {
			if (strncmp(p, name, nl) == 0 && p[nl] == ' ') {
				v = strtod(p + nl + 1, NULL);
				break;
			}
			p = strchr(p, '\n');
			p = p != NULL ? p + 1 : NULL;
		}
	}
	fs_http_resp_free(&r);
	return v;
}

int
fs_http_status(int port, const char *path)
{
	fs_http_resp r;
	int status;

	memset(&r, 0, sizeof(r));
	fs_http_once(port, "GET", path, NULL, NULL, 0, &r);
	status = r.status;
	fs_http_resp_free(&r);
	return status;
}

int
fs_http_wait_status(int port, const char *path, int status, int timeout_ms)
{
	int64_t until = fs_test_now_ms() + timeout_ms;

	while (fs_test_now_ms() < until) {
		if (fs_http_status(port, path) == status)
			return 0;
		fs_test_poll_pause(50);
	}
	return -1;
}

const char *
fs_http_header_get(const fs_http_resp *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, name) == 0) {
			return r->headers[i].value;
		}
	}
	return NULL;
}

void
fs_http_resp_free(fs_http_resp *r)
{
	http_resp_clear_head(r);
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}
