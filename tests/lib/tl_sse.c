/*
 * tl_sse.c - the Server-Sent Events client of the tests (see tl_sse.h).
 */
#include "tl_sse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tl_sock.h"
#include "tl_time.h"

static int
grow(char **p, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 4096;
	char *n;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if ((n = realloc(*p, c)) == NULL)
		return -1;
	*p = n;
	*cap = c;
	return 0;
}

/* Reads what is there within timeout_ms into raw. 1: read some, 0:
 * timeout, -1: closed or failed. */
static int
fill(fs_sse *s, int timeout_ms)
{
	struct pollfd p = {s->fd, POLLIN, 0};
	ssize_t n;

	if (s->eof)
		return -1;
	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	if (grow(&s->raw, &s->raw_cap, s->raw_len + 65536 + 1) != 0)
		return -1;
	n = recv(s->fd, s->raw + s->raw_len, 65536, 0);
	if (n <= 0) {
		s->eof = 1;
		return -1;
	}
	s->raw_len += (size_t) n;
	s->raw[s->raw_len] = '\0';
	return 1;
}

static void
raw_consume(fs_sse *s, size_t n)
{
	memmove(s->raw, s->raw + n, s->raw_len - n);
	s->raw_len -= n;
}

static int
text_put(fs_sse *s, const char *p, size_t n)
{
	if (grow(&s->text, &s->text_cap, s->text_len + n + 1) != 0)
		return -1;
	memcpy(s->text + s->text_len, p, n);
	s->text_len += n;
	s->text[s->text_len] = '\0';
	return 0;
}

/* Moves what raw holds of the body into text. */
static void
dechunk(fs_sse *s)
{
	for (;;) {
		if (!s->chunked) {
			if (s->raw_len > 0)
				text_put(s, s->raw, s->raw_len);
			s->raw_len = 0;
			return;
		}
		if (s->chunk_left > 0 && s->chunk_left != (size_t) -1) {
			size_t k = s->raw_len < s->chunk_left ? s->raw_len
			                                      : s->chunk_left;
			if (k == 0)
				return;
			text_put(s, s->raw, k);
			raw_consume(s, k);
			s->chunk_left -= k;
			if (s->chunk_left == 0)
				s->chunk_left = (size_t) -1; /* its CRLF */
			continue;
		}
		/* A chunk's trailing CRLF, then a size line. */
		char *nl = memchr(s->raw, '\n', s->raw_len);
		if (nl == NULL)
			return;
		size_t line = (size_t) (nl - s->raw) + 1;
		if (s->chunk_left == (size_t) -1) {
			s->chunk_left = 0;
			raw_consume(s, line);
			continue;
		}
		unsigned long sz = strtoul(s->raw, NULL, 16);
		raw_consume(s, line);
		if (sz == 0) {
			s->end_ok = 1;
			s->eof = 1;
			return;
		}
		s->chunk_left = sz;
	}
}

int
fs_sse_open(fs_sse *s, int port, const char *path, const char *const *headers,
    int rcvbuf, int timeout_ms)
{
	char req[2048];
	int n, fd;
	int64_t until = fs_test_now_ms() + timeout_ms;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if (rcvbuf > 0) {
		struct sockaddr_in a;

		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			return -1;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t) port);
		a.sin_addr.s_addr = htonl(0x7f000001);
		if (connect(fd, (struct sockaddr *) &a, sizeof(a)) != 0) {
			close(fd);
			return -1;
		}
	} else if ((fd = fs_raw_connect(NULL, port)) < 0) {
		return -1;
	}
	s->fd = fd;
	n = snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
	    "text/event-stream\r\n",
	    path);
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
		n += snprintf(req + n, sizeof(req) - (size_t) n, "%s\r\n",
		    headers[i]);
	n += snprintf(req + n, sizeof(req) - (size_t) n, "\r\n");
	if (fs_raw_send(fd, req, (size_t) n) != 0) {
		fs_sse_close(s);
		return -1;
	}
	for (;;) {
		char *end = s->raw ? strstr(s->raw, "\r\n\r\n") : NULL;
		if (end != NULL) {
			size_t hl = (size_t) (end - s->raw) + 4;
			s->head = strndup(s->raw, hl);
			raw_consume(s, hl);
			break;
		}
		int left = (int) (until - fs_test_now_ms());
		if (left <= 0 || fill(s, left) <= 0) {
			fs_sse_close(s);
			return -1;
		}
	}
	s->status = atoi(s->head + 9);
	char v[64];
	s->chunked = fs_sse_header(s, "Transfer-Encoding", v, sizeof(v)) &&
	    strcasecmp(v, "chunked") == 0;
	if (s->status != 200) {
		size_t want = fs_sse_header(s, "Content-Length", v, sizeof(v))
		    ? (size_t) atol(v)
		    : 0;
		while (s->raw_len < want) {
			int left = (int) (until - fs_test_now_ms());
			if (left <= 0 || fill(s, left) <= 0)
				break;
		}
		s->body = strndup(s->raw ? s->raw : "", s->raw_len);
	}
	return 0;
}

const char *
fs_sse_header(const fs_sse *s, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);

	for (const char *p = s->head; p != NULL && *p;) {
		const char *eol = strstr(p, "\r\n");
		if (eol == NULL)
			break;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			snprintf(out, cap, "%.*s", (int) (eol - v), v);
			return out;
		}
		p = eol + 2;
	}
	return NULL;
}

/* One event out of text, when a whole one is there. */
static int
parse_one(fs_sse *s, fs_sse_event *ev)
{
	for (;;) {
		char *end = strstr(s->text ? s->text : "", "\n\n");
		if (s->text == NULL || end == NULL)
			return 0;
		size_t blen = (size_t) (end - s->text) + 2;
		char *block = strndup(s->text, blen - 2);
		char *data = NULL;
		int any = 0;

		memmove(s->text, s->text + blen, s->text_len - blen + 1);
		s->text_len -= blen;
		memset(ev, 0, sizeof(*ev));
		snprintf(ev->event, sizeof(ev->event), "message");
		for (char *save = NULL, *l = strtok_r(block, "\n", &save);
		     l != NULL; l = strtok_r(NULL, "\n", &save)) {
			if (strncmp(l, "id: ", 4) == 0) {
				ev->has_id = 1;
				ev->id = strtoull(l + 4, NULL, 10);
			} else if (strncmp(l, "event: ", 7) == 0) {
				snprintf(ev->event, sizeof(ev->event), "%s",
				    l + 7);
			} else if (strncmp(l, "data: ", 6) == 0) {
				free(data);
				data = strdup(l + 6);
				any = 1;
			}
		}
		free(block);
		if (!any) {
			free(data);
			continue; /* a comment or retry: no event */
		}
		ev->data = json_loads(data, 0, NULL);
		free(data);
		return 1;
	}
}

int
fs_sse_next(fs_sse *s, fs_sse_event *ev, int timeout_ms)
{
	int64_t until = fs_test_now_ms() + timeout_ms;

	for (;;) {
		dechunk(s);
		if (parse_one(s, ev))
			return 1;
		if (s->eof)
			return -1;
		int left = (int) (until - fs_test_now_ms());
		if (left <= 0)
			return 0;
		if (fill(s, left) < 0) {
			dechunk(s);
			if (parse_one(s, ev))
				return 1;
			return -1;
		}
	}
}

int
fs_sse_next_change(fs_sse *s, fs_sse_event *ev, int timeout_ms)
{
	int64_t until = fs_test_now_ms() + timeout_ms;

	for (;;) {
		int left = (int) (until - fs_test_now_ms());
		int rv = fs_sse_next(s, ev, left > 0 ? left : 0);
		if (rv != 1 || strcmp(ev->event, "bookmark") != 0)
			return rv;
		fs_sse_event_free(ev);
	}
}

void
fs_sse_event_free(fs_sse_event *ev)
{
	json_decref(ev->data);
	memset(ev, 0, sizeof(*ev));
}

void
fs_sse_close(fs_sse *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->head);
	free(s->body);
	free(s->raw);
	free(s->text);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}
