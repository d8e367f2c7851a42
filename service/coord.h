/*
 * coord.h - automatic failover on etcd (CONTRACT §9): flow-service
 * --coordinator etcd://... --cluster NAME --advertise URL --lease-ttl S.
 *
 * The backends of a cluster campaign for one leader key bound to a
 * lease, /flowsvc/NAME/leader, whose value is the holder's advertised
 * URL; the holder is the primary, in the term etcd gave the key (its
 * create revision: it grows with every creation, so terms never repeat);
 * the others follow the holder's URL as replicas (svc_follow_url), and
 * switch when the key changes hands.
 *
 * Fencing: the holder renews its lease every ttl/6 and takes changes
 * only until ttl/2 after the last renewal it sent that etcd answered
 * (svc_fence: checked on every change, so a stuck thread or a frozen
 * process stops taking changes by itself, well before the lease can
 * expire in etcd and another backend can take the key). A lease found
 * gone, or the key held by another, steps it down at once.
 *
 * The successor: every backend publishes, under /flowsvc/NAME/members/,
 * bound to its own lease, the revision it has and that revision's term.
 * When the key is free, a backend waits a moment for the others to
 * publish, and campaigns only when no live backend has a later history
 * (a higher term of its last record, or the same and a higher revision);
 * else it waits, at most a lease's time, for that one to take the key.
 *
 * One thread. etcd calls are bounded (etcd.h).
 */
#ifndef SERVICE_COORD_H
#define SERVICE_COORD_H

#include <stddef.h>

#include "svc.h"

typedef struct coord coord;

typedef struct coord_opts {
	const char *spec;      /* etcd://HOST:PORT[,HOST:PORT...] */
	const char *cluster;   /* [A-Za-z0-9_.-]{1,100} */
	const char *advertise; /* the URL the others reach this one at */
	int ttl;               /* seconds, 2..3600 */
} coord_opts;

/* Checks the options; 0, or -1 with a one-line reason. */
int coord_check(const coord_opts *o, char *err, size_t n);

/* Starts the coordinator of s (a service opened coordinated). Returns 0,
 * or -1 with the reason in err. */
int coord_start(coord **out, svc *s, const coord_opts *o, char *err, size_t n);

/* The URL of the primary this backend follows now, into buf ("" when
 * none). */
void coord_primary(coord *c, char *buf, size_t n);

/* Stops taking changes, stops the thread, and gives the lease back
 * (revoked: the leader key of a holder goes at once, so a successor
 * need not wait for it to expire). NULL: no-op. */
void coord_stop(coord *c);

#endif
