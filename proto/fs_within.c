/*
 * fs_within.c - see fs_within.h.
 */
#include "fs_within.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <time.h>

static sem_t done;
static void (*run_fn)(void *);
static void *run_arg;

static void *
run_main(void *unused)
{
	(void) unused;
	run_fn(run_arg);
	sem_post(&done);
	return NULL;
}

int
fs_run_within(void (*fn)(void *), void *arg, int ms)
{
	struct timespec until;
	pthread_t thr;

	run_fn = fn;
	run_arg = arg;
	if (sem_init(&done, 0, 0) != 0 ||
	    pthread_create(&thr, NULL, run_main, NULL) != 0) {
		fn(arg);
		return 1;
	}
	if (clock_gettime(CLOCK_REALTIME, &until) != 0) {
		(void) pthread_join(thr, NULL);
		return 1;
	}
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (sem_timedwait(&done, &until) != 0)
		if (errno != EINTR)
			return 0;
	(void) pthread_join(thr, NULL);
	return 1;
}
