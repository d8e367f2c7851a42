/*
 * tl_run.c - see tl_run.h.
 */
#include "tl_run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

#include "tl_sbuf.h"
#include "tl_time.h"

extern char **environ;

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
fs_test_run(fs_test_run_result *r, char *const argv[], char *const env_extra[],
    const char *const unset_env[], int timeout_ms)
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
		struct pollfd pfd[2] = {{outp[0], POLLIN, 0},
		    {errp[0], POLLIN, 0}};
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
