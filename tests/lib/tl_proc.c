/*
 * tl_proc.c - see tl_proc.h.
 */
#include "tl_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/wait.h>

#include "tl_time.h"

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
	logfd =
	    open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
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
	fprintf(stderr,
	    "testlib: %s (pid %d) ignored signal %d for %d ms; "
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

int
fs_test_exited_zero(int st)
{
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int
fs_test_killed_by(int st, int sig)
{
	return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig;
}
