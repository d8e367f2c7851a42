/*
 * tl_liststream.c - see tl_liststream.h.
 */
#include "tl_liststream.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tl_time.h"

/* ---- the JSON array, element by element ---------------------------------- */

enum arr_state { A_OPEN, A_ELEM, A_IN, A_AFTER, A_DONE };

struct arr {
	enum arr_state st;
	int depth;
	int in_str, esc;
	char *buf; /* the element being read */
	size_t len, cap;
	const fs_liststream_opts *o;
	fs_liststream *out;
	int stop; /* the caller said stop, or the JSON was wrong */
};

static void
fail(fs_liststream *out, const char *fmt, ...)
{
	va_list ap;

	if (out->error[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(out->error, sizeof(out->error), fmt, ap);
	va_end(ap);
}

static int
elem_put(struct arr *a, char c)
{
	if (a->len + 1 >= a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 4096;
		char *nb = realloc(a->buf, cap);
		if (nb == NULL)
			return -1;
		a->buf = nb;
		a->cap = cap;
	}
	a->buf[a->len++] = c;
	return 0;
}

static void
elem_done(struct arr *a)
{
	json_error_t err;
	json_t *v = json_loadb(a->buf, a->len, 0, &err);

	if (v == NULL) {
		fail(a->out, "element %zu is not JSON: %s", a->out->items,
		    err.text);
		a->stop = 1;
		return;
	}
	if (a->o->item != NULL && a->o->item(a->o->arg, a->out->items, v) != 0)
		a->stop = 1;
	json_decref(v);
	a->out->items++;
	a->len = 0;
}

/* Feeds body bytes to the array reader. */
static void
arr_feed(struct arr *a, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !a->stop; i++) {
		char c = p[i];
		int ws = c == ' ' || c == '\n' || c == '\r' || c == '\t';

		switch (a->st) {
		case A_OPEN:
			if (ws)
				break;
			if (c != '[') {
				fail(a->out,
				    "the body does not start with '['");
				a->stop = 1;
				break;
			}
			a->st = A_ELEM;
			break;
		case A_ELEM: /* an element, or ']' right after '[' */
			if (ws)
				break;
			if (c == ']' && a->out->items == 0) {
				a->st = A_DONE;
				break;
			}
			if (c != '{') {
				fail(a->out,
				    "element %zu does not start with '{'",
				    a->out->items);
				a->stop = 1;
				break;
			}
			a->st = A_IN;
			a->depth = 0;
			a->in_str = a->esc = 0;
			/* fall through */
		case A_IN:
			if (elem_put(a, c) != 0) {
				fail(a->out, "out of memory");
				a->stop = 1;
				break;
			}
			if (a->in_str) {
				if (a->esc)
					a->esc = 0;
				else if (c == '\\')
					a->esc = 1;
				else if (c == '"')
					a->in_str = 0;
			} else if (c == '"') {
				a->in_str = 1;
			} else if (c == '{' || c == '[') {
				a->depth++;
			} else if ((c == '}' || c == ']') && --a->depth == 0) {
				elem_done(a);
				a->st = A_AFTER;
			}
			break;
		case A_AFTER:
			if (ws)
				break;
			if (c == ',')
				a->st = A_ELEM;
			else if (c == ']')
				a->st = A_DONE;
			else {
				fail(a->out, "'%c' after element %zu", c,
				    a->out->items);
				a->stop = 1;
			}
			break;
		case A_DONE:
			if (!ws) {
				fail(a->out, "bytes after the array");
				a->stop = 1;
			}
			break;
		}
	}
}

/* ---- the connection ------------------------------------------------------- */

struct conn {
	int fd;
	char buf[65536];
	size_t off, len;
	int eof;
	const fs_liststream_opts *o;
	fs_liststream *out;
};

/* Refills c->buf. Returns 1 with bytes, 0 at EOF, -1 on error/timeout. */
static int
fill(struct conn *c)
{
	int timeout = c->o->timeout_ms > 0 ? c->o->timeout_ms : 30000;
	struct pollfd pfd = {c->fd, POLLIN, 0};

	if (c->o->tick != NULL)
		c->o->tick(c->o->arg);
	if (c->o->pause_ms > 0)
		fs_test_poll_pause(c->o->pause_ms);
	int pr = poll(&pfd, 1, timeout);
	if (pr == 0) {
		fail(c->out, "no bytes for %d ms", timeout);
		return -1;
	}
	ssize_t n = pr > 0 ? recv(c->fd, c->buf, sizeof(c->buf), 0) : -1;
	if (n < 0) {
		if (errno == ECONNRESET) {
			c->eof = 1;
			return 0;
		}
		fail(c->out, "recv: %s", strerror(errno));
		return -1;
	}
	if (n == 0) {
		c->eof = 1;
		return 0;
	}
	c->off = 0;
	c->len = (size_t) n;
	return 1;
}

/* One line (without CRLF) into line. Returns 0, or -1 at EOF/error. */
static int
read_line(struct conn *c, char *line, size_t cap)
{
	size_t n = 0;

	for (;;) {
		if (c->off == c->len && fill(c) <= 0)
			return -1;
		char ch = c->buf[c->off++];
		if (ch == '\n') {
			if (n > 0 && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			return 0;
		}
		if (n + 1 < cap)
			line[n++] = ch;
	}
}

/* Up to want bytes of body to the array reader. Returns how many, 0 at
 * EOF, -1 on error. */
static ssize_t
body_bytes(struct conn *c, struct arr *a, size_t want)
{
	if (c->off == c->len) {
		int r = fill(c);
		if (r <= 0)
			return r;
	}
	size_t k = c->len - c->off;
	if (k > want)
		k = want;
	if (c->out->bytes == 0)
		c->out->first_byte_ms = fs_test_now_ms();
	arr_feed(a, c->buf + c->off, k);
	c->off += k;
	c->out->bytes += k;
	return (ssize_t) k;
}

static void
header(fs_liststream *out, const char *line)
{
	static const struct {
		const char *name;
		size_t off, cap;
	} keep[] = {
	    {"X-Total-Count", offsetof(fs_liststream, total), 32},
	    {"X-Revision", offsetof(fs_liststream, revision), 32},
	    {"Link", offsetof(fs_liststream, link), 1024},
	    {"Transfer-Encoding", offsetof(fs_liststream, te), 32},
	    {"Content-Length", offsetof(fs_liststream, clen), 32},
	};
	const char *colon = strchr(line, ':');

	if (colon == NULL)
		return;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		size_t n = strlen(keep[i].name);
		if ((size_t) (colon - line) == n &&
		    strncasecmp(line, keep[i].name, n) == 0) {
			const char *v = colon + 1;
			while (*v == ' ')
				v++;
			snprintf((char *) out + keep[i].off, keep[i].cap, "%s",
			    v);
		}
	}
}

/* The chunked body. Returns 0 when read to its terminator (*framed 1) or
 * to a premature end (*framed 0), -1 on error. */
static int
read_chunked(struct conn *c, struct arr *a, int *framed)
{
	char line[256];

	*framed = 0;
	for (;;) {
		if (read_line(c, line, sizeof(line)) != 0)
			return c->eof ? 0 : -1;
		char *end;
		unsigned long long size = strtoull(line, &end, 16);
		if (end == line) {
			fail(c->out, "bad chunk size line \"%.40s\"", line);
			return -1;
		}
		if (size == 0)
			break;
		while (size > 0) {
			ssize_t k = body_bytes(c, a, (size_t) size);
			if (k <= 0)
				return k == 0 ? 0 : -1;
			size -= (size_t) k;
			if (a->stop)
				return 0;
		}
		if (read_line(c, line, sizeof(line)) != 0 || line[0] != '\0')
			return c->eof ? 0 : -1;
	}
	/* Trailers, then the empty line. */
	do {
		if (read_line(c, line, sizeof(line)) != 0)
			return c->eof ? 0 : -1;
	} while (line[0] != '\0');
	*framed = 1;
	return 0;
}

int
fs_liststream_get(int port, const char *path, const fs_liststream_opts *o,
    fs_liststream *out)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct arr a;
	struct sockaddr_in sa;
	char line[4096];
	int rv = -1, framed = 0;
	int64_t t0 = fs_test_now_ms();

	memset(out, 0, sizeof(*out));
	memset(&a, 0, sizeof(a));
	a.o = o;
	a.out = out;
	if (c == NULL)
		return -1;
	c->o = o;
	c->out = out;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fail(out, "socket: %s", strerror(errno));
		free(c);
		return -1;
	}
	if (o->rcvbuf > 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf,
		    sizeof(o->rcvbuf));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
		fail(out, "connect: %s", strerror(errno));
		goto out;
	}
	int n =
	    snprintf(line, sizeof(line), "%s %s HTTP/1.1\r\nHost: test\r\n",
	        o->method != NULL ? o->method : "GET", path);
	for (size_t i = 0; o->headers != NULL && o->headers[i] != NULL; i++)
		n += snprintf(line + n, sizeof(line) - (size_t) n, "%s\r\n",
		    o->headers[i]);
	n += snprintf(line + n, sizeof(line) - (size_t) n, "\r\n");
	if (send(c->fd, line, (size_t) n, MSG_NOSIGNAL) != n) {
		fail(out, "send: %s", strerror(errno));
		goto out;
	}
	if (read_line(c, line, sizeof(line)) != 0 ||
	    sscanf(line, "HTTP/1.%*d %d", &out->status) != 1) {
		fail(out, "no status line");
		goto out;
	}
	for (;;) {
		if (read_line(c, line, sizeof(line)) != 0) {
			fail(out, "the head did not end");
			goto out;
		}
		if (line[0] == '\0')
			break;
		header(out, line);
	}
	if (o->method != NULL && strcmp(o->method, "HEAD") == 0) {
		out->complete = 1;
		rv = 0;
		goto out;
	}
	if (strcasecmp(out->te, "chunked") == 0) {
		rv = read_chunked(c, &a, &framed);
	} else if (out->clen[0] != '\0') {
		size_t left = (size_t) strtoull(out->clen, NULL, 10);
		rv = 0;
		while (left > 0 && !a.stop) {
			ssize_t k = body_bytes(c, &a, left);
			if (k <= 0) {
				rv = k == 0 ? 0 : -1;
				break;
			}
			left -= (size_t) k;
		}
		framed = left == 0;
	} else {
		rv = 0;
		while (!a.stop && body_bytes(c, &a, sizeof(c->buf)) > 0)
			;
		framed = c->eof;
	}
	if (!framed)
		fail(out,
		    "the body ended without its framing's end (%s) "
		    "after %zu bytes",
		    out->te[0] ? "chunked terminator" : "Content-Length",
		    out->bytes);
	else if (a.st != A_DONE)
		fail(out, "the array did not end (%zu elements)", out->items);
	out->complete = framed && a.st == A_DONE && out->error[0] == '\0';
out:
	if (out->first_byte_ms != 0)
		out->first_byte_ms -= t0;
	out->total_ms = fs_test_now_ms() - t0;
	close(c->fd);
	free(c);
	free(a.buf);
	return rv;
}

long
fs_proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}
