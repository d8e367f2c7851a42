/*
 * tl_proc.h - the programs under test as child processes: start one with
 * its output appended to a log file, ask whether it still runs, stop it
 * with a signal (SIGKILL after a bound), freeze and thaw it, and read its
 * wait status.
 *
 * One fs_test_proc per child, used from one thread at a time.
 */
#ifndef TESTS_TL_PROC_H
#define TESTS_TL_PROC_H

#include <limits.h>
#include <sys/types.h>

typedef struct fs_test_proc {
	pid_t pid;     /* 0 when not running */
	char name[32]; /* for messages: "flow-service", ... */
	char
	    log_path[PATH_MAX]; /* stdout and stderr of the child (appended) */
	int status;             /* wait status after it was reaped */
} fs_test_proc;

/* Starts bin with argv (argv[0] included, NULL-terminated), stdin from
 * /dev/null, stdout and stderr appended to log_path. The child dies with the
 * test process (PR_SET_PDEATHSIG). Returns 0 or -1. */
int fs_test_proc_start(fs_test_proc *p, const char *name, const char *bin,
    char *const argv[], const char *log_path);

/* 1 while the child runs, 0 once it has exited (and is reaped: p->status
 * holds its wait status). */
int fs_test_proc_alive(fs_test_proc *p);

/* Sends sig (SIGTERM, SIGINT, SIGKILL, ...) and waits up to timeout_ms for
 * the child to exit; then SIGKILL and wait. Returns the wait status, or -1
 * when nothing was running. */
int fs_test_proc_stop(fs_test_proc *p, int sig, int timeout_ms);

/* Sends SIGSTOP and waits (up to timeout_ms) until every thread of the
 * child is stopped: a group stop is not complete when kill() returns, and
 * on a busy machine other threads can serve a request meanwhile. Returns 0
 * or -1. fs_test_proc_cont sends SIGCONT. */
int fs_test_proc_freeze(fs_test_proc *p, int timeout_ms);
int fs_test_proc_cont(fs_test_proc *p);

/* For a wait status as fs_test_proc_stop returns it (-1: none): 1 when the
 * child exited with status 0 / was killed by sig, else 0. */
int fs_test_exited_zero(int st);
int fs_test_killed_by(int st, int sig);

#endif
