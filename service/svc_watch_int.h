/*
 * svc_watch_int.h - what svc_watch.c (requests, parked watches, the
 * thread) and svc_watch_log.c (the history's events from the store and
 * from the logs) share. Not part of svc_watch.h's interface.
 */
#ifndef SERVICE_SVC_WATCH_INT_H
#define SERVICE_SVC_WATCH_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "htab.h"
#include "persist.h"
#include "svc_int.h"
#include "svc_watch.h"
#include "watch.h"

/* A Watch request, checked. */
typedef struct watch_query {
	watch_filter f; /* f.group is group; f.who the envelope's caller */
	char *group;    /* owned; NULL: every group */
	int has_since;
	uint64_t since;
	uint32_t wait_ms;
	uint32_t max; /* events per answer */
} watch_query;

struct parked;

/* The parked watches of one group filter (key; NULL: none). */
struct plist {
	htab_node node; /* in svc_watch.groups, keyed by the group */
	char *key;
	struct parked *head;
};

struct svc_watch {
	size_t cap; /* events kept */
	svc_watch_done_fn done;
	void *done_arg;

	pthread_mutex_t mu;
	pthread_cond_t cv;   /* the thread waits on it (CLOCK_MONOTONIC) */
	pthread_cond_t idle; /* no watch parked or being answered */
	watch_ring ring;
	/* Parked watches (mu): lists by group filter, and the rest. */
	htab groups;
	struct plist any;
	struct parked **heap; /* by end of wait */
	size_t nheap, capheap;
	size_t nparked;
	uint64_t processed; /* events matched against parked watches */
	int answering;      /* the thread is answering (mu) */
	int closing;        /* park no more, answer every parked one */
	int stop;           /* the thread ends */
	pthread_t thr;
	int running;

	/* The hold on the logs that cover the history (the watch thread
	 * moves it; only it, once started). */
	persist *disk;
	uint32_t holder;
	int holding;
	uint64_t held;
};

/* Checks m into q (q->f.who borrows env's caller). Returns 0, or -1 with
 * the error in r. Free q with watch_query_fini. */
int watch_query_of(const Flowsvc__Request *env, const Flowsvc__WatchRequest *m,
    watch_query *q, svc_reply *r);
void watch_query_fini(watch_query *q);

/* Answers q from since into r: OK with a WatchReply (up to q->max events
 * matching q after since, and how far it is complete), or OUT_OF_RANGE.
 * Returns the number of events. */
uint32_t watch_collect(svc_watch *w, const watch_query *q, uint64_t since,
    svc_reply *r);

/* The newest revision the history knows. */
uint64_t svc_watch_current(svc_watch *w);

#endif
