/*
 * gw_worker.h - one thread that runs jobs in the order they come, for work
 * too slow for the HTTP threads (each of which serves many connections).
 *
 * A job is embedded in its owner's struct (the caller recovers the owner
 * in run); the worker never allocates. Thread-safe: push from any thread.
 */
#ifndef GATEWAY_GW_WORKER_H
#define GATEWAY_GW_WORKER_H

typedef struct gw_job gw_job;
struct gw_job {
	void (*run)(gw_job *job); /* on the worker thread */
	gw_job *next;             /* the worker's; untouched by callers */
};

typedef struct gw_worker gw_worker;

/* Starts the thread. Returns 0 and *out (stop it with gw_worker_stop), or
 * -1 (errno) when the thread or its lock cannot be created. */
int gw_worker_start(gw_worker **out);

/* Queues job; its run is called once, after the jobs queued before it. */
void gw_worker_push(gw_worker *w, gw_job *job);

/* Runs the jobs still queued, then ends the thread and frees w. NULL is a
 * no-op. No job may be pushed once this has been called. */
void gw_worker_stop(gw_worker *w);

#endif
