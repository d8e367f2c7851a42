/*
 * testlib.c - see testlib.h.
 */
/* nftw is an XSI interface. */
#define _XOPEN_SOURCE 700

#include "testlib.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <CUnit/Basic.h>

#include "fs_util.h"

extern char **environ;

#define MSG_MAX 8192
#define BODY_IN_MSG 1500 /* bytes of a body quoted in a failure message */

/* ---- time, directories, ports ------------------------------------------ */

int64_t
fs_test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
fs_test_poll_pause(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

int
fs_test_mkdtemp(char out[PATH_MAX], const char *prefix)
{
	const char *tmp = getenv("TMPDIR");
	int n;

	if (tmp == NULL || *tmp == '\0') {
		tmp = "/tmp";
	}
	n = snprintf(out, PATH_MAX, "%s/%s.XXXXXX", tmp, prefix);
	if (n < 0 || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkdtemp(out) == NULL ? -1 : 0;
}

static int
rmtree_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int
fs_test_rmtree(const char *dir)
{
	return nftw(dir, rmtree_cb, 16, FTW_DEPTH | FTW_PHYS);
}

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

/* ---- child processes ---------------------------------------------------- */

int
fs_test_proc_start(fs_test_proc *p, const char *name, const char *bin,
    char *const argv[], const char *log_path)
{
	pid_t parent = getpid();
	pid_t pid;
	int logfd, nullfd;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->log_path, sizeof(p->log_path), "%s", log_path);
	logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		return -1;
	}
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nullfd < 0) {
		close(logfd);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(logfd);
		close(nullfd);
		return -1;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec: the
		 * parent has nng threads. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(126);
		}
		if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 ||
		    dup2(logfd, 2) < 0) {
			_exit(126);
		}
		execv(bin, argv);
		{
			static const char m[] = "testlib: execv failed\n";
			ssize_t w = write(2, m, sizeof(m) - 1);
			(void) w;
		}
		_exit(127);
	}
	close(logfd);
	close(nullfd);
	p->pid = pid;
	return 0;
}

int
fs_test_proc_alive(fs_test_proc *p)
{
	int st;
	pid_t r;

	if (p->pid == 0) {
		return 0;
	}
	do {
		r = waitpid(p->pid, &st, WNOHANG);
	} while (r < 0 && errno == EINTR);
	if (r == 0) {
		return 1;
	}
	p->status = r == p->pid ? st : -1;
	p->pid = 0;
	return 0;
}

int
fs_test_proc_stop(fs_test_proc *p, int sig, int timeout_ms)
{
	int64_t deadline = fs_test_now_ms() + timeout_ms;
	int st;

	if (!fs_test_proc_alive(p)) {
		return p->status;
	}
	kill(p->pid, sig);
	while (fs_test_now_ms() < deadline) {
		if (!fs_test_proc_alive(p)) {
			return p->status;
		}
		fs_test_poll_pause(5);
	}
	fprintf(stderr, "testlib: %s (pid %d) ignored signal %d for %d ms; "
	                "killing it\n",
	    p->name, (int) p->pid, sig, timeout_ms);
	kill(p->pid, SIGKILL);
	while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR) {
	}
	p->pid = 0;
	/* Report the stop as failed even though the SIGKILL worked. */
	p->status = 0x7f00;
	return p->status;
}

/* 1 when every thread of pid is in state T (stopped), 0 when one is not,
 * -1 when /proc cannot tell. */
static int
all_threads_stopped(pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	int all = 1, seen = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
	if ((d = opendir(path)) == NULL) {
		return -1;
	}
	while (all && (e = readdir(d)) != NULL) {
		char stat_path[sizeof(path) + 256 + 8], buf[512], *rp;
		FILE *f;
		if (e->d_name[0] == '.') {
			continue;
		}
		snprintf(stat_path, sizeof(stat_path), "%s/%s/stat", path,
		    e->d_name);
		if ((f = fopen(stat_path, "r")) == NULL) {
			continue; /* the thread just exited */
		}
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (rp = strrchr(buf, ')')) != NULL && rp[1] == ' ') {
			seen++;
			all = rp[2] == 'T' || rp[2] == 't';
		}
		fclose(f);
	}
	closedir(d);
	return seen > 0 ? all : -1;
}

int
fs_test_proc_freeze(fs_test_proc *p, int timeout_ms)
{
	int64_t deadline = fs_test_now_ms() + timeout_ms;

	if (p->pid <= 0 || kill(p->pid, SIGSTOP) != 0) {
		return -1;
	}
	while (fs_test_now_ms() < deadline) {
		int rv = all_threads_stopped(p->pid);
		if (rv != 0) {
			return rv == 1 ? 0 : -1;
		}
		fs_test_poll_pause(2);
	}
	return -1;
}

int
fs_test_proc_cont(fs_test_proc *p)
{
	return p->pid > 0 ? kill(p->pid, SIGCONT) : -1;
}

char *
fs_file_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t n = 0, cap = 0, got;

	if (f == NULL)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			char *nb = realloc(b, cap = cap * 2 + 8192);

			if (nb == NULL) {
				free(b);
				fclose(f);
				return NULL;
			}
			b = nb;
		}
		got = fread(b + n, 1, 4096, f);
		n += got;
	} while (got > 0);
	fclose(f);
	b[n] = '\0';
	if (len != NULL)
		*len = n;
	return b;
}

int
fs_file_count(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

void
fs_test_dump_log(const char *title, const char *path, int max_lines)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	size_t start;
	int lines = 0;
	int c;

	fprintf(stderr, "----- %s (%s) -----\n", title, path);
	if (f == NULL) {
		fprintf(stderr, "(cannot open: %s)\n", strerror(errno));
		return;
	}
	while ((c = fgetc(f)) != EOF) {
		if (len + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nb = realloc(buf, ncap);
			if (nb == NULL) {
				break;
			}
			buf = nb;
			cap = ncap;
		}
		buf[len++] = (char) c;
	}
	fclose(f);
	start = len;
	while (start > 0) {
		if (buf[start - 1] == '\n' && start != len &&
		    ++lines > max_lines) {
			break;
		}
		start--;
	}
	if (len > 0) {
		fwrite(buf + start, 1, len - start, stderr);
	}
	fprintf(stderr, "----- end of %s -----\n", title);
	free(buf);
}

typedef struct sbuf {
	char *p;
	size_t len, cap;
} sbuf;

static int
sbuf_add(sbuf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 1024;
		char *np;
		while (b->len + n + 1 > ncap) {
			ncap *= 2;
		}
		if ((np = realloc(b->p, ncap)) == NULL) {
			return -1;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int
env_name_matches(const char *entry, const char *name)
{
	size_t n = strlen(name);

	return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

static int
env_entry_overridden(const char *entry, char *const extra[],
    const char *const unset[])
{
	size_t i;

	for (i = 0; unset != NULL && unset[i] != NULL; i++) {
		if (env_name_matches(entry, unset[i])) {
			return 1;
		}
	}
	for (i = 0; extra != NULL && extra[i] != NULL; i++) {
		const char *eq = strchr(extra[i], '=');
		size_t n = eq ? (size_t) (eq - extra[i]) : strlen(extra[i]);
		if (strncmp(entry, extra[i], n) == 0 && entry[n] == '=') {
			return 1;
		}
	}
	return 0;
}

/* The child's environment, built before fork because setenv is not safe
 * between fork and exec in a threaded process. */
static char **
build_env(char *const extra[], const char *const unset[])
{
	size_t n = 0, m = 0, i, k = 0;
	char **env;

	while (environ[n] != NULL) {
		n++;
	}
	while (extra != NULL && extra[m] != NULL) {
		m++;
	}
	if ((env = calloc(n + m + 1, sizeof(*env))) == NULL) {
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (!env_entry_overridden(environ[i], extra, unset)) {
			env[k++] = environ[i];
		}
	}
	for (i = 0; i < m; i++) {
		env[k++] = extra[i];
	}
	return env;
}

static int
pipe_cloexec(int fds[2])
{
	if (pipe(fds) != 0) {
		return -1;
	}
	if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
		close(fds[0]);
		close(fds[1]);
		fds[0] = fds[1] = -1;
		return -1;
	}
	return 0;
}

int
fs_test_run(fs_test_run_result *r, char *const argv[],
    char *const env_extra[], const char *const unset_env[], int timeout_ms)
{
	int outp[2] = {-1, -1}, errp[2] = {-1, -1};
	int64_t deadline = fs_test_now_ms() + timeout_ms;
	sbuf out = {0}, err = {0};
	char **envp;
	pid_t pid;
	int st, open_fds = 2, timed_out = 0;

	memset(r, 0, sizeof(*r));
	r->exit_code = -1;
	if ((envp = build_env(env_extra, unset_env)) == NULL) {
		return -1;
	}
	if (pipe_cloexec(outp) != 0 || pipe_cloexec(errp) != 0) {
		goto fail;
	}
	if ((pid = fork()) < 0) {
		goto fail;
	}
	if (pid == 0) {
		int nullfd = open("/dev/null", O_RDONLY);
		if (nullfd < 0 || dup2(nullfd, 0) < 0 ||
		    dup2(outp[1], 1) < 0 || dup2(errp[1], 2) < 0) {
			_exit(126);
		}
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	while (open_fds > 0) {
		struct pollfd pfd[2] = {
		    {outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
		int64_t left = deadline - fs_test_now_ms();
		int i, rv;

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		rv = poll(pfd, 2, (int) left);
		if (rv < 0 && errno != EINTR) {
			break;
		}
		for (i = 0; i < 2 && rv > 0; i++) {
			char chunk[4096];
			ssize_t n;
			if (pfd[i].fd < 0 || pfd[i].revents == 0) {
				continue;
			}
			n = read(pfd[i].fd, chunk, sizeof(chunk));
			if (n > 0) {
				sbuf_add(i == 0 ? &out : &err, chunk,
				    (size_t) n);
			} else if (n == 0 || errno != EINTR) {
				close(pfd[i].fd);
				if (i == 0) {
					outp[0] = -1;
				} else {
					errp[0] = -1;
				}
				open_fds--;
			}
		}
	}
	if (timed_out) {
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	if (timed_out) {
		r->exit_code = -1;
	} else if (WIFEXITED(st)) {
		r->exit_code = WEXITSTATUS(st);
	} else if (WIFSIGNALED(st)) {
		r->exit_code = 128 + WTERMSIG(st);
	}
	if (outp[0] >= 0) {
		close(outp[0]);
	}
	if (errp[0] >= 0) {
		close(errp[0]);
	}
	free(envp);
	if (sbuf_add(&out, "", 0) != 0 || sbuf_add(&err, "", 0) != 0) {
		free(out.p);
		free(err.p);
		return -1;
	}
	r->out = out.p;
	r->out_len = out.len;
	r->err = err.p;
	r->err_len = err.len;
	r->json = json_loadb(out.p, out.len, JSON_DECODE_ANY, NULL);
	return 0;

fail:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0) {
			close(outp[i]);
		}
		if (errp[i] >= 0) {
			close(errp[i]);
		}
	}
	free(envp);
	return -1;
}

void
fs_test_run_result_free(fs_test_run_result *r)
{
	free(r->out);
	free(r->err);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/* ---- HTTP client --------------------------------------------------------- */

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
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) !=
	        0) {
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
	snprintf(line, sizeof(line), "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n",
	    method, path, c->port);
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

/* ---- raw sockets --------------------------------------------------------- */

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
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			goto fail;
	}
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
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
		len -= (size_t)n;
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
		if (poll(&pfd, 1, (int)left) <= 0)
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
			got += (size_t)n;
			buf[got] = '\0';
		}
	}
	if (len != NULL)
		*len = got;
	return closed;
}

/* ---- JSON helpers -------------------------------------------------------- */

const char *
fs_json_str(const json_t *obj, const char *key)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

json_int_t
fs_json_int(const json_t *obj, const char *key)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

char *
fs_json_dump(const json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	return s ? s : strdup("(null)");
}

void
fs_str_upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char) (*s - 'a' + 'A');
}

int
fs_is_lower_uuid(const char *s)
{
	static const char pat[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	size_t i;

	if (s == NULL || strlen(s) != sizeof(pat) - 1) {
		return 0;
	}
	for (i = 0; pat[i] != '\0'; i++) {
		if (pat[i] == '-' ? s[i] != '-'
		                  : !(isdigit((unsigned char) s[i]) ||
		                        (s[i] >= 'a' && s[i] <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

int
fs_is_rfc3339_us(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	int64_t us;
	size_t i;

	if (s == NULL || strlen(s) != sizeof(pat) - 1) {
		return 0;
	}
	for (i = 0; pat[i] != '\0'; i++) {
		if (pat[i] == 'd' ? !isdigit((unsigned char) s[i])
		                  : s[i] != pat[i]) {
			return 0;
		}
	}
	return fs_time_parse(s, &us) == 0;
}

/* ---- the system under test ----------------------------------------------- */

int
fs_env_init(fs_test_env *env, const char *name)
{
	char prefix[64];

	memset(env, 0, sizeof(*env));
	snprintf(prefix, sizeof(prefix), "flowsvc-%s", name);
	if (fs_test_mkdtemp(env->dir, prefix) != 0) {
		fprintf(stderr, "testlib: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	if ((size_t) snprintf(env->data_dir, sizeof(env->data_dir), "%s/data",
	        env->dir) >= sizeof(env->data_dir) ||
	    mkdir(env->data_dir, 0755) != 0) {
		fprintf(stderr, "testlib: mkdir data dir: %s\n",
		    strerror(errno));
		return -1;
	}
	{
		int bport = fs_test_free_port();
		int gport;
		do {
			gport = fs_test_free_port();
		} while (gport == bport && gport > 0);
		if (bport <= 0 || gport <= 0) {
			fprintf(stderr, "testlib: no free port\n");
			return -1;
		}
		snprintf(env->backend_url, sizeof(env->backend_url),
		    "tcp://127.0.0.1:%d", bport);
		env->gw_port = gport;
	}
	return 0;
}

int
fs_env_start_backend(fs_test_env *env)
{
	char log_path[PATH_MAX + 32];
	char *argv[20];
	int argc = 0;
	int64_t deadline;
	Flowsvc__Empty empty = FLOWSVC__EMPTY__INIT;

	snprintf(log_path, sizeof(log_path), "%s/flow-service.log", env->dir);
	argv[argc++] = (char *) FLOW_SERVICE_BIN;
	argv[argc++] = (char *) "--listen";
	argv[argc++] = env->backend_url;
	argv[argc++] = (char *) "--data-dir";
	argv[argc++] = env->data_dir;
	if (env->fsync_mode != NULL) {
		argv[argc++] = (char *) "--fsync";
		argv[argc++] = (char *) env->fsync_mode;
	}
	for (int i = 0; env->svc_extra != NULL && env->svc_extra[i] != NULL &&
	     i < 8; i++)
		argv[argc++] = (char *) env->svc_extra[i];
	argv[argc] = NULL;
	if (fs_test_proc_start(&env->backend, "flow-service", FLOW_SERVICE_BIN,
	        argv, log_path) != 0) {
		fprintf(stderr, "testlib: cannot start %s: %s\n",
		    FLOW_SERVICE_BIN, strerror(errno));
		return -1;
	}
	if (env->client == NULL) {
		int rv = fs_client_open(&env->client, env->backend_url);
		if (rv != 0) {
			fprintf(stderr, "testlib: fs_client_open(%s): %d\n",
			    env->backend_url, rv);
			return -1;
		}
	}
	deadline = fs_test_now_ms() + FS_TEST_START_TIMEOUT_MS;
	while (fs_test_now_ms() < deadline) {
		fs_call_opts opts = {NULL, 250, NULL};
		Flowsvc__Reply *reply = NULL;
		int code;

		if (!fs_test_proc_alive(&env->backend)) {
			fprintf(stderr, "testlib: flow-service exited during "
			                "start (wait status 0x%x)\n",
			    env->backend.status);
			fs_test_dump_log("flow-service log", log_path, 40);
			return -1;
		}
		code = fs_client_call(env->client, FLOWSVC__METHOD__HEALTH,
		    &empty.base, &opts, &reply);
		if (reply != NULL) {
			flowsvc__reply__free_unpacked(reply, NULL);
		}
		if (code == FS_OK) {
			return 0;
		}
		fs_test_poll_pause(20);
	}
	fprintf(stderr, "testlib: flow-service did not answer HEALTH within "
	                "%d ms\n",
	    FS_TEST_START_TIMEOUT_MS);
	fs_test_dump_log("flow-service log", log_path, 40);
	return -1;
}

int
fs_env_start_gateway(fs_test_env *env, int wait_ready)
{
	char log_path[PATH_MAX + 32];
	char port[16], timeout[16];
	char *argv[24];
	int argc = 0;
	int64_t deadline;

	snprintf(log_path, sizeof(log_path), "%s/flow-gateway.log", env->dir);
	snprintf(port, sizeof(port), "%d", env->gw_port);
	argv[argc++] = (char *) FLOW_GATEWAY_BIN;
	argv[argc++] = (char *) "--bind";
	argv[argc++] = (char *) "127.0.0.1";
	argv[argc++] = (char *) "--port";
	argv[argc++] = port;
	argv[argc++] = (char *) "--backend";
	argv[argc++] = env->backend_url;
	if (env->rpc_timeout_ms > 0) {
		snprintf(timeout, sizeof(timeout), "%d", env->rpc_timeout_ms);
		argv[argc++] = (char *) "--rpc-timeout";
		argv[argc++] = timeout;
	}
	for (int i = 0; env->gw_extra != NULL && env->gw_extra[i] != NULL &&
	     i < 8; i++)
		argv[argc++] = (char *) env->gw_extra[i];
	argv[argc] = NULL;
	if (fs_test_proc_start(&env->gateway, "flow-gateway", FLOW_GATEWAY_BIN,
	        argv, log_path) != 0) {
		fprintf(stderr, "testlib: cannot start %s: %s\n",
		    FLOW_GATEWAY_BIN, strerror(errno));
		return -1;
	}
	deadline = fs_test_now_ms() + FS_TEST_START_TIMEOUT_MS;
	while (fs_test_now_ms() < deadline) {
		if (!fs_test_proc_alive(&env->gateway)) {
			fprintf(stderr, "testlib: flow-gateway exited during "
			                "start (wait status 0x%x)\n",
			    env->gateway.status);
			fs_test_dump_log("flow-gateway log", log_path, 40);
			return -1;
		}
		if (fs_http_status(env->gw_port, "/healthz") == 200 &&
		    (!wait_ready ||
		        fs_http_status(env->gw_port, "/readyz") == 200)) {
			return 0;
		}
		fs_test_poll_pause(20);
	}
	fprintf(stderr, "testlib: flow-gateway not %s within %d ms\n",
	    wait_ready ? "ready" : "up", FS_TEST_START_TIMEOUT_MS);
	fs_test_dump_log("flow-gateway log", log_path, 40);
	return -1;
}

int
fs_env_start_programs(fs_test_env *env)
{
	if (fs_env_start_backend(env) != 0 || fs_env_start_gateway(env, 1) != 0)
		return -1;
	if (fs_http_connect(&env->http, env->gw_port, 0) != 0) {
		fprintf(stderr, "testlib: connect to gateway: %s\n",
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
fs_env_start(fs_test_env *env, const char *name)
{
	return fs_env_init(env, name) != 0 ? -1 : fs_env_start_programs(env);
}

int
fs_env_stop_backend(fs_test_env *env, int sig)
{
	return fs_test_proc_stop(
	    &env->backend, sig, FS_TEST_STOP_TIMEOUT_MS);
}

static int
clean_exit(const fs_test_proc *p, int st)
{
	if (st == -1 || (WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		return 1;
	}
	fprintf(stderr, "testlib: %s did not exit cleanly on SIGTERM (wait "
	                "status 0x%x)\n",
	    p->name, st);
	return 0;
}

int
fs_env_fini(fs_test_env *env)
{
	const char *keep = getenv("FS_TEST_KEEP");
	int ok = 1;
	int st;

	if (env->dir[0] == '\0') {
		return 0;
	}
	fs_http_close(env->http);
	env->http = NULL;
	if (env->gateway.pid != 0) {
		st = fs_test_proc_stop(
		    &env->gateway, SIGTERM, FS_TEST_STOP_TIMEOUT_MS);
		ok &= clean_exit(&env->gateway, st);
	}
	if (env->backend.pid != 0) {
		st = fs_test_proc_stop(
		    &env->backend, SIGTERM, FS_TEST_STOP_TIMEOUT_MS);
		ok &= clean_exit(&env->backend, st);
	}
	if (env->client != NULL) {
		fs_client_close(env->client);
		env->client = NULL;
	}
	if (!ok || CU_get_number_of_failure_records() > 0 ||
	    (keep != NULL && *keep != '\0')) {
		if (env->backend.log_path[0] != '\0') {
			fs_test_dump_log("flow-service log",
			    env->backend.log_path, 30);
		}
		if (env->gateway.log_path[0] != '\0') {
			fs_test_dump_log("flow-gateway log",
			    env->gateway.log_path, 30);
		}
		fprintf(stderr, "testlib: kept %s\n", env->dir);
	} else if (fs_test_rmtree(env->dir) != 0) {
		fprintf(stderr, "testlib: cannot remove %s: %s\n", env->dir,
		    strerror(errno));
	}
	env->dir[0] = '\0';
	return ok ? 0 : -1;
}

/* ---- REST shorthands ----------------------------------------------------- */

int
fs_rest(fs_test_env *env, const char *method, const char *path,
    const char *body, fs_http_resp *resp)
{
	return fs_http_request(env->http, method, path, NULL, body,
	    body ? (size_t) -1 : 0, resp);
}

int
fs_restf(fs_test_env *env, const char *method, const char *body,
    fs_http_resp *resp, const char *path_fmt, ...)
{
	char path[1024];
	va_list ap;

	va_start(ap, path_fmt);
	vsnprintf(path, sizeof(path), path_fmt, ap);
	va_end(ap);
	return fs_rest(env, method, path, body, resp);
}

int
fs_rest_create(fs_test_env *env, const char *coll, const char *body,
    char id[64], const char *file, int line)
{
	fs_http_resp r;
	char path[64];
	const char *got;
	int ok;

	id[0] = '\0';
	snprintf(path, sizeof(path), "/api/%s/", coll);
	fs_rest(env, "POST", path, body, &r);
	ok = fs_check_status(&r, 201, file, line);
	got = fs_json_str(r.json, "id");
	if (ok) {
		ok = fs_check(got != NULL && strlen(got) < 64, file, line,
		    "id in the created body", "201 without a string id: %s",
		    r.body);
	}
	if (ok) {
		strcpy(id, got);
	}
	fs_http_resp_free(&r);
	return ok ? 0 : -1;
}

/* ---- runner -------------------------------------------------------------- */

int
fs_test_main(CU_SuiteInfo *suites)
{
	unsigned int records, ran;

	signal(SIGPIPE, SIG_IGN);
	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		return 2;
	}
	if (CU_register_suites(suites) != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	records = CU_get_number_of_failure_records();
	ran = CU_get_number_of_tests_run();
	CU_cleanup_registry();
	if (ran == 0) {
		fprintf(stderr, "no test ran\n");
		return 1;
	}
	return records == 0 ? 0 : 1;
}

/* ---- assertions ---------------------------------------------------------- */

int
fs_check(int cond, const char *file, int line, const char *expr,
    const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	if (cond) {
		CU_assertImplementation(
		    CU_TRUE, (unsigned) line, expr, file, "", CU_FALSE);
		return 1;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Also printed as it happens, next to the programs' own output. */
	fprintf(stderr, "\n%s:%d: FAILED: %s\n", file, line, msg);
	CU_assertImplementation(
	    CU_FALSE, (unsigned) line, msg, file, "", CU_FALSE);
	return 0;
}

int
fs_check_status(const fs_http_resp *r, int expected, const char *file,
    int line)
{
	if (r->status == 0) {
		return fs_check(0, file, line, "status",
		    "%s %s: expected HTTP %d, got no response (%s) after "
		    "%lld ms",
		    r->method, r->path, expected, strerror(r->sys_errno),
		    (long long) r->elapsed_ms);
	}
	return fs_check(r->status == expected, file, line, "status",
	    "%s %s: expected HTTP %d, got %d; body: %.*s", r->method, r->path,
	    expected, r->status,
	    (int) (r->body_len > BODY_IN_MSG ? BODY_IN_MSG : r->body_len),
	    r->body ? r->body : "");
}

int
fs_check_json_eq(const json_t *actual, const char *expected_json,
    const char *what, const char *file, int line)
{
	json_error_t err;
	json_t *exp = json_loads(expected_json, JSON_DECODE_ANY, &err);
	int ok;

	if (exp == NULL) {
		return fs_check(0, file, line, what,
		    "bad expected JSON in the test: %s: %s", expected_json,
		    err.text);
	}
	ok = actual != NULL && json_equal(exp, (json_t *) actual);
	if (ok) {
		ok = fs_check(1, file, line, what, "%s", "");
	} else {
		char *a = fs_json_dump(actual);
		ok = fs_check(0, file, line, what,
		    "%s: expected %s, got %.*s", what, expected_json,
		    BODY_IN_MSG, a);
		free(a);
	}
	json_decref(exp);
	return ok;
}

int
fs_check_json_same(const json_t *actual, const json_t *expected,
    const char *what, const char *file, int line)
{
	char *a, *e;
	int ok;

	if (actual != NULL && expected != NULL &&
	    json_equal((json_t *) actual, (json_t *) expected)) {
		return fs_check(1, file, line, what, "%s", "");
	}
	a = fs_json_dump(actual);
	e = fs_json_dump(expected);
	ok = fs_check(0, file, line, what, "%s: expected %.*s, got %.*s", what,
	    BODY_IN_MSG, e, BODY_IN_MSG, a);
	free(a);
	free(e);
	return ok;
}

int
fs_check_error(const fs_http_resp *r, int status, const char *expected_json,
    const char *file, int line)
{
	char what[300];

	if (!fs_check_status(r, status, file, line)) {
		return 0;
	}
	snprintf(what, sizeof(what), "body of %s %s", r->method, r->path);
	if (r->json == NULL) {
		return fs_check(0, file, line, what,
		    "%s: expected %s, got a non-JSON body: %.*s", what,
		    expected_json,
		    (int) (r->body_len > BODY_IN_MSG ? BODY_IN_MSG
		                                     : r->body_len),
		    r->body ? r->body : "");
	}
	return fs_check_json_eq(r->json, expected_json, what, file, line);
}

int
fs_check_code(int actual, int expected, const Flowsvc__Reply *reply,
    const char *expr, const char *file, int line)
{
	char detail[4096] = "";
	size_t n = 0;

	if (actual == expected) {
		return fs_check(1, file, line, expr, "%s", "");
	}
	if (reply != NULL) {
		n += (size_t) snprintf(detail, sizeof(detail),
		    "; reply message: \"%s\"",
		    reply->message ? reply->message : "(none)");
		for (size_t i = 0; i < reply->n_violations && n < sizeof(detail);
		     i++) {
			const Flowsvc__FieldViolation *v = reply->violations[i];
			for (size_t j = 0;
			     j < v->n_messages && n < sizeof(detail); j++) {
				n += (size_t) snprintf(detail + n,
				    sizeof(detail) - n, "; %s: %s", v->field,
				    v->messages[j]);
			}
		}
	}
	return fs_check(0, file, line, expr, "%s: expected %s (%s), got %s (%s)%s",
	    expr, fs_code_name(expected), fs_strerror(expected),
	    fs_code_name(actual), fs_strerror(actual), detail);
}

int
fs_check_str(const char *actual, const char *expected, const char *expr,
    const char *file, int line)
{
	int ok = actual != NULL && expected != NULL
	    ? strcmp(actual, expected) == 0
	    : actual == expected;

	return fs_check(ok, file, line, expr,
	    "%s: expected \"%s\", got %s%s%s", expr,
	    expected ? expected : "(null)", actual ? "\"" : "",
	    actual ? actual : "(null)", actual ? "\"" : "");
}

int
fs_check_int(long long actual, long long expected, const char *expr,
    const char *file, int line)
{
	return fs_check(actual == expected, file, line, expr,
	    "%s: expected %lld, got %lld", expr, expected, actual);
}

static int
is_str_array(const json_t *a, int uuids)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a)) {
		return 0;
	}
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v) ||
		    (uuids && !fs_is_lower_uuid(json_string_value(v)))) {
			return 0;
		}
	}
	return 1;
}

int
fs_check_component(const json_t *c, const char *file, int line)
{
	static const char *const keys[] = {"id", "name", "group",
	    "input_fields", "output_fields", "canvas_id", "flows", "version",
	    "created_at", "updated_at"};
	const char *bad = NULL;
	int64_t created = 0, updated = 0;
	size_t i;
	char *dump;
	int ok;

	if (!json_is_object(c)) {
		bad = "not an object";
	} else if (json_object_size(c) != sizeof(keys) / sizeof(keys[0])) {
		bad = "not exactly the ten documented keys";
	}
	for (i = 0; bad == NULL && i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (json_object_get(c, keys[i]) == NULL) {
			bad = keys[i];
		}
	}
	if (bad != NULL) {
		/* reported below */
	} else if (!fs_is_lower_uuid(fs_json_str(c, "id"))) {
		bad = "id is not a lower-case uuid";
	} else if (!fs_is_lower_uuid(fs_json_str(c, "canvas_id"))) {
		bad = "canvas_id is not a lower-case uuid";
	} else if (fs_json_str(c, "name") == NULL ||
	    fs_json_str(c, "group") == NULL) {
		bad = "name or group is not a string";
	} else if (!is_str_array(json_object_get(c, "input_fields"), 0) ||
	    !is_str_array(json_object_get(c, "output_fields"), 0)) {
		bad = "input_fields or output_fields is not a list of strings";
	} else if (!is_str_array(json_object_get(c, "flows"), 1)) {
		bad = "flows is not a list of lower-case uuids";
	} else if (fs_json_int(c, "version") < 1) {
		bad = "version is not an integer >= 1";
	} else if (!fs_is_rfc3339_us(fs_json_str(c, "created_at")) ||
	    !fs_is_rfc3339_us(fs_json_str(c, "updated_at"))) {
		bad = "a timestamp is not RFC 3339 UTC with microseconds";
	} else if (fs_time_parse(fs_json_str(c, "created_at"), &created) !=
	        0 ||
	    fs_time_parse(fs_json_str(c, "updated_at"), &updated) != 0 ||
	    updated < created) {
		bad = "updated_at is before created_at";
	}
	if (bad == NULL) {
		return fs_check(1, file, line, "component shape", "%s", "");
	}
	dump = fs_json_dump(c);
	ok = fs_check(0, file, line, "component shape",
	    "not a component (%s%s): %.*s",
	    json_is_object(c) && json_object_get(c, bad) == NULL &&
	            strchr(bad, ' ') == NULL
	        ? "missing key "
	        : "",
	    bad, BODY_IN_MSG, dump);
	free(dump);
	return ok;
}
