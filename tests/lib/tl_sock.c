/*
 * tl_sock.c - see tl_sock.h.
 */
#include "tl_sock.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tl_time.h"

int
fs_test_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *) &sa, &len) == 0) {
		port = ntohs(sa.sin_port);
	}
	close(fd);
	return port;
}

int
fs_raw_listen(int backlog, int *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *) &a, sizeof(a)) != 0 ||
	    listen(fd, backlog) != 0 ||
	    getsockname(fd, (struct sockaddr *) &a, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

int
fs_raw_connect(const char *from, int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	if (from != NULL) {
		if (inet_pton(AF_INET, from, &sa.sin_addr) != 1) {
			close(fd);
			errno = EINVAL;
			return -1;
		}
		if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0)
			goto fail;
	}
	sa.sin_port = htons((uint16_t) port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int
fs_raw_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

int
fs_raw_read_to_close(int fd, char *buf, size_t cap, size_t *len,
    int timeout_ms)
{
	int64_t until = fs_test_now_ms() + timeout_ms;
	size_t got = 0;
	int closed = 0;

	buf[0] = '\0';
	for (;;) {
		int64_t left = until - fs_test_now_ms();
		struct pollfd pfd = {fd, POLLIN, 0};
		char sink[4096];
		ssize_t n;

		if (left <= 0)
			break;
		if (poll(&pfd, 1, (int) left) <= 0)
			continue;
		if (got + 1 < cap)
			n = recv(fd, buf + got, cap - got - 1, 0);
		else
			n = recv(fd, sink, sizeof(sink), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			closed = 1;
			break;
		}
		if (got + 1 < cap) {
			got += (size_t) n;
			buf[got] = '\0';
		}
	}
	if (len != NULL)
		*len = got;
	return closed;
}
