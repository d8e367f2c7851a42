/*
 * gw_worker.c - a FIFO of jobs and the one thread that runs them.
 */
#include "gw_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct gw_worker {
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	gw_job *head, *tail;
	bool stop;
};

static void *
worker_main(void *arg)
{
	gw_worker *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		gw_job *j;

		while (w->head == NULL && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if ((j = w->head) == NULL)
			break; /* stopping, and nothing left */
		if ((w->head = j->next) == NULL)
			w->tail = NULL;
		pthread_mutex_unlock(&w->mu);
		j->run(j); /* may free j */
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int
gw_worker_start(gw_worker **out)
{
	gw_worker *w = calloc(1, sizeof(*w));
	int rv;

	*out = NULL;
	if (w == NULL)
		return -1;
	if ((rv = pthread_mutex_init(&w->mu, NULL)) != 0)
		goto fail;
	if ((rv = pthread_cond_init(&w->cv, NULL)) != 0) {
		pthread_mutex_destroy(&w->mu);
		goto fail;
	}
	if ((rv = pthread_create(&w->thr, NULL, worker_main, w)) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		goto fail;
	}
	*out = w;
	return 0;
fail:
	free(w);
	errno = rv;
	return -1;
}

void
gw_worker_push(gw_worker *w, gw_job *job)
{
	pthread_mutex_lock(&w->mu);
	job->next = NULL;
	if (w->tail != NULL)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void
gw_worker_stop(gw_worker *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thr, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
