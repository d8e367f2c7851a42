/*
 * coord.c - automatic failover on etcd (coord.h).
 *
 * One thread runs a loop: renew (or take) its lease when due, publish
 * the history it has, read the leader key, act on it (hold it, take it,
 * follow its holder, or step down), then wait for the key to change
 * until the next renewal is due (an etcd watch). The fence (svc_fence)
 * is what keeps a primary from taking changes once its renewals stop:
 * it expires by itself, whatever this thread is doing.
 */
#include "coord.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd.h"
#include "fs_errors.h"
#include "fs_log.h"
#include "svc_int.h"
#include "terms.h"

#define COORD_URL_MAX 512
#define COORD_SETTLE_MS 300 /* for the others to publish, key free */
#define COORD_CANDIDATE_POLL_MS 100

/* Health's coordinator states. */
static const char ST_LEADER[] = "leader";
static const char ST_FOLLOWER[] = "follower";
static const char ST_CANDIDATE[] = "candidate";
static const char ST_UNREACHABLE[] = "unreachable";

struct coord {
	svc *s;
	etcd *e;
	int ttl_ms;
	char *advertise;
	char *k_leader, *k_members, *k_me;

	pthread_t thr;
	int running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;                      /* mu */
	char following[COORD_URL_MAX]; /* mu: the holder followed */

	/* The thread's own. */
	int64_t lease;
	int64_t renewed_ms; /* when the last renewal etcd answered was sent */
	int leader;
	int64_t free_since; /* when the key was first seen free; 0 */
	uint64_t pub_rev, pub_term;
	int64_t pub_ms;
	const char *state;
	int said_unreachable;
};

int
coord_check(const coord_opts *o, char *err, size_t n)
{
	size_t cl = o->cluster != NULL ? strlen(o->cluster) : 0;

	if (o->cluster == NULL || cl == 0 || cl > 100 ||
	    strspn(o->cluster,
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	        "0123456789_.-") != cl) {
		snprintf(err, n,
		    "--coordinator needs --cluster NAME (1-100 of "
		    "[A-Za-z0-9_.-])");
		return -1;
	}
	if (o->advertise == NULL || o->advertise[0] == '\0' ||
	    strlen(o->advertise) >= COORD_URL_MAX ||
	    strstr(o->advertise, "://") == NULL) {
		snprintf(err, n,
		    "--coordinator needs --advertise URL (the URL the other "
		    "backends reach this one at)");
		return -1;
	}
	if (o->ttl < 2 || o->ttl > 3600) {
		snprintf(err, n, "--lease-ttl: 2 to 3600 seconds");
		return -1;
	}
	return 0;
}

/* Sleeps ms unless stopped. Returns 1 when stopped. */
static int
nap(coord *c, int ms)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	while (!c->stop)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0)
			break;
	stop = c->stop;
	pthread_mutex_unlock(&c->mu);
	return stop;
}

static int
stopping(coord *c)
{
	pthread_mutex_lock(&c->mu);
	int stop = c->stop;
	pthread_mutex_unlock(&c->mu);
	return stop;
}

static void
set_state(coord *c, const char *st)
{
	c->state = st;
	svc_coord_note(c->s, st, 0, 0);
}

/* Stops taking changes at once (FAILED_PRECONDITION "Not the
 * primary."). */
static void
step_down(coord *c, const char *why)
{
	svc_fence(c->s, 0);
	if (!c->leader)
		return;
	c->leader = 0;
	svc_coord_note(c->s, ST_CANDIDATE, 0, 1);
	c->state = ST_CANDIDATE;
	fs_log(FS_LOG_WARN, NULL,
	    "coordinator: stepping down: %s; no longer accepting changes",
	    why);
}

/* How often the lease is renewed: a sixth of it. The fence runs out half
 * the TTL after the last renewal answered, so a renewal that is refused,
 * or that finds a member taking the connection and never answering (an
 * etcd call gives up on a member after a sixth, coord_start), still
 * leaves time for another through another member before it does. */
static int64_t
renew_every(const coord *c)
{
	return c->ttl_ms / 6;
}

/* Takes a lease, or renews it when renew_every has passed. A renewal
 * that finds it gone steps a holder down (its key went with it). */
static void
renew(coord *c)
{
	int64_t now = svc_mono_ms(), sent = now, ttl = 0;

	if (c->lease == 0) {
		int64_t id = 0;
		if (etcd_grant(c->e, c->ttl_ms / 1000, &id) != 0)
			return;
		c->lease = id;
		c->renewed_ms = sent;
		c->pub_ms = 0;
		return;
	}
	if (now - c->renewed_ms < renew_every(c))
		return;
	if (etcd_keepalive(c->e, c->lease, &ttl) != 0)
		return; /* the fence runs out by itself */
	if (ttl <= 0) {
		int64_t id = 0;
		c->lease = 0;
		step_down(c, "its lease expired in etcd");
		sent = svc_mono_ms();
		if (etcd_grant(c->e, c->ttl_ms / 1000, &id) == 0) {
			c->lease = id;
			c->renewed_ms = sent;
			c->pub_ms = 0; /* publish again, on the new lease */
		}
		return;
	}
	c->renewed_ms = sent;
	if (c->leader)
		svc_fence(c->s, sent + c->ttl_ms / 2);
}

/* A holder whose renewals have not come for half its lease steps down
 * (the fence already stopped its changes). */
static void
check_fence(coord *c)
{
	if (c->leader && svc_mono_ms() >= c->renewed_ms + c->ttl_ms / 2)
		step_down(c,
		    "its lease was not renewed for half its TTL "
		    "(etcd does not answer)");
}

/* The revision this backend has and that revision's term: its history,
 * for the others to compare with theirs. */
static void
my_history(coord *c, uint64_t *rev, uint64_t *term)
{
	*rev = svc_revision(c->s);
	*term = terms_of(svc_terms(c->s), *rev);
}

static void
publish(coord *c)
{
	uint64_t rev, term;
	int64_t now = svc_mono_ms();
	char v[64];

	my_history(c, &rev, &term);
	if (c->lease == 0 ||
	    (rev == c->pub_rev && term == c->pub_term &&
	        now - c->pub_ms < c->ttl_ms / 3))
		return;
	snprintf(v, sizeof(v), "%" PRIu64 " %" PRIu64, rev, term);
	if (etcd_put(c->e, c->k_me, v, c->lease) == 0) {
		c->pub_rev = rev;
		c->pub_term = term;
		c->pub_ms = now;
	}
}

/* 1 when no other live backend has a later history than this one (a
 * higher term of its last record, or the same and more revisions). */
static int
most_up_to_date(coord *c)
{
	etcd_kv *kvs = NULL;
	size_t n = 0;
	uint64_t rev, term;
	int best = 1;

	if (etcd_get_prefix(c->e, c->k_members, &kvs, &n) != 0)
		return 0;
	my_history(c, &rev, &term);
	for (size_t i = 0; i < n && best; i++) {
		unsigned long long r = 0, t = 0;
		if (strcmp(kvs[i].key, c->k_me) == 0 ||
		    sscanf(kvs[i].value, "%llu %llu", &r, &t) != 2)
			continue;
		if (t > term || (t == term && r > rev)) {
			best = 0;
			fs_log(FS_LOG_INFO, NULL,
			    "coordinator: %s has a later history (revision "
			    "%llu of term %llu; this one %" PRIu64
			    " of term %" PRIu64 "): waiting for it to take "
			    "over",
			    kvs[i].key + strlen(c->k_members), r, t, rev,
			    term);
		}
	}
	etcd_kvs_free(kvs, n);
	return best;
}

/* This backend holds the key created at create_rev: the primary in that
 * term. */
static void
lead(coord *c, int64_t create_rev)
{
	uint64_t term = 0, rev = 0;
	int rv;

	svc_fence(c->s, c->renewed_ms + c->ttl_ms / 2);
	/* Its own key still (it stepped down while etcd did not answer, and
	 * the lease outlived that): the same term goes on, as nobody else
	 * can have held the key meanwhile. */
	if (svc_role(c->s) == SVC_PRIMARY &&
	    terms_last(svc_terms(c->s)) == (uint64_t) create_rev &&
	    terms_known(svc_terms(c->s)) == (uint64_t) create_rev) {
		term = (uint64_t) create_rev;
		rev = svc_revision(c->s);
	} else if ((rv = svc_promote(c->s, (uint64_t) create_rev, &term,
	                &rev)) != FS_OK) {
		svc_fence(c->s, 0);
		fs_log(FS_LOG_ERROR, NULL,
		    "coordinator: cannot become the primary in term %" PRId64
		    " (%s): giving the leader key back",
		    create_rev,
		    rv == FS_FAILED_PRECONDITION
		        ? "this backend knows of a higher term: etcd's "
		          "revisions are below the cluster's terms"
		        : "the term history could not be saved");
		(void) etcd_delete(c->e, c->k_leader, create_rev, NULL);
		(void) nap(c, 1000);
		return;
	}
	c->leader = 1;
	c->free_since = 0;
	pthread_mutex_lock(&c->mu);
	c->following[0] = '\0';
	pthread_mutex_unlock(&c->mu);
	svc_coord_note(c->s, ST_LEADER, 1, 0);
	c->state = ST_LEADER;
	fs_log(FS_LOG_WARN, NULL,
	    "coordinator: this backend (%s) is the primary, term %" PRIu64
	    ", changes from revision %" PRIu64 " on",
	    c->advertise, term, rev + 1);
}

/* The key is free: campaign, once the others had a moment to publish
 * their histories, if none has a later one (or that one has not taken
 * the key within a lease's time). */
static void
key_free(coord *c)
{
	int64_t now = svc_mono_ms();
	int created = 0;
	etcd_kv kv;

	if (c->leader)
		step_down(c, "the leader key is gone");
	if (c->free_since == 0) {
		c->free_since = now;
		fs_log(FS_LOG_WARN, NULL,
		    "coordinator: no primary (the leader key is free): "
		    "campaigning");
	}
	set_state(c, ST_CANDIDATE);
	if (now - c->free_since < COORD_SETTLE_MS)
		return;
	if (now - c->free_since < c->ttl_ms && !most_up_to_date(c))
		return;
	memset(&kv, 0, sizeof(kv));
	if (etcd_create(c->e, c->k_leader, c->advertise, c->lease, &created,
	        &kv) != 0)
		return;
	if (created)
		lead(c, kv.create_rev);
	etcd_kv_fini(&kv);
}

/* The key holds this backend's URL. */
static void
key_mine(coord *c, const etcd_kv *kv)
{
	if (kv->lease == c->lease && c->leader) {
		set_state(c, ST_LEADER);
		return;
	}
	if (kv->lease == c->lease) {
		lead(c, kv->create_rev);
		return;
	}
	/* A key of this backend's previous life (another lease, not yet
	 * expired): nobody else can hold it; give it back now. */
	step_down(c, "the leader key is of another lease");
	fs_log(FS_LOG_INFO, NULL,
	    "coordinator: removing a leader key this backend held before "
	    "(revision %" PRId64 ")",
	    kv->create_rev);
	(void) etcd_delete(c->e, c->k_leader, kv->create_rev, NULL);
}

/* Another backend holds the key: follow it. */
static void
key_other(coord *c, const etcd_kv *kv)
{
	char err[512];
	int same;

	if (c->leader)
		step_down(c, "another backend holds the leader key");
	c->free_since = 0;
	svc_learn_term(c->s, (uint64_t) kv->create_rev, "etcd");
	pthread_mutex_lock(&c->mu);
	same = strcmp(c->following, kv->value) == 0;
	pthread_mutex_unlock(&c->mu);
	if (!same) {
		if (strlen(kv->value) >= COORD_URL_MAX ||
		    svc_follow_url(c->s, kv->value, err, sizeof(err)) != 0) {
			fs_log(FS_LOG_ERROR, NULL,
			    "coordinator: cannot follow %s: %s", kv->value,
			    strlen(kv->value) >= COORD_URL_MAX ? "URL too long"
			                                       : err);
			return;
		}
		pthread_mutex_lock(&c->mu);
		snprintf(c->following, sizeof(c->following), "%s", kv->value);
		pthread_mutex_unlock(&c->mu);
		fs_log(FS_LOG_WARN, NULL,
		    "coordinator: the primary is %s (term %" PRId64
		    "): following it",
		    kv->value, kv->create_rev);
	}
	set_state(c, ST_FOLLOWER);
}

/* Waits for the leader key to change after revision seen, until the
 * next renewal is due (a short while when campaigning). */
static void
wait_change(coord *c, int64_t seen)
{
	int64_t now = svc_mono_ms(), due_at = c->renewed_ms + renew_every(c);
	int changed = 0;

	if (c->state == ST_CANDIDATE || c->lease == 0)
		due_at = now + COORD_CANDIDATE_POLL_MS;
	if (due_at - now < 10)
		return;
	if (etcd_watch(c->e, c->k_leader, seen + 1, (int) (due_at - now),
	        &changed) != 0) {
		/* Not past the renewal: a failed watch pauses, within it. */
		int64_t left = due_at - svc_mono_ms();
		if (left > 0)
			(void) nap(c, left < 200 ? (int) left : 200);
	}
}

static void *
coord_main(void *arg)
{
	coord *c = arg;

	while (!stopping(c)) {
		etcd_kv kv;
		int found = 0;

		renew(c);
		check_fence(c);
		publish(c);
		memset(&kv, 0, sizeof(kv));
		if (c->lease == 0 ||
		    etcd_get(c->e, c->k_leader, &found, &kv) != 0) {
			if (!c->said_unreachable)
				fs_log(FS_LOG_WARN, NULL,
				    "coordinator: etcd does not answer (%s)",
				    etcd_error(c->e));
			c->said_unreachable = 1;
			if (!c->leader)
				set_state(c, ST_UNREACHABLE);
			(void) nap(c, 200);
			continue;
		}
		if (c->said_unreachable)
			fs_log(FS_LOG_INFO, NULL,
			    "coordinator: etcd answers again");
		c->said_unreachable = 0;
		int64_t seen = etcd_revision(c->e);
		if (!found)
			key_free(c);
		else if (strcmp(kv.value, c->advertise) == 0)
			key_mine(c, &kv);
		else
			key_other(c, &kv);
		etcd_kv_fini(&kv);
		wait_change(c, seen);
	}
	return NULL;
}

static char *
key_of(const char *cluster, const char *what, const char *name)
{
	size_t n = strlen(cluster) + strlen(what) + strlen(name) + 16;
	char *k = malloc(n);

	if (k != NULL)
		snprintf(k, n, "/flowsvc/%s/%s%s", cluster, what, name);
	return k;
}

static void
coord_free(coord *c)
{
	etcd_close(c->e);
	free(c->advertise);
	free(c->k_leader);
	free(c->k_members);
	free(c->k_me);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int
coord_start(coord **out, svc *s, const coord_opts *o, char *err, size_t n)
{
	coord *c;
	int tmo;

	if (coord_check(o, err, n) != 0)
		return -1;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, n, "out of memory");
		return -1;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->s = s;
	c->ttl_ms = o->ttl * 1000;
	c->state = ST_CANDIDATE;
	/* Each etcd call within a sixth of the lease, so that a member that
	 * does not answer leaves time to ask another before the fence. */
	tmo = c->ttl_ms / 6;
	tmo = tmo < 200 ? 200 : tmo > 2000 ? 2000 : tmo;
	if ((c->advertise = strdup(o->advertise)) == NULL ||
	    (c->k_leader = key_of(o->cluster, "leader", "")) == NULL ||
	    (c->k_members = key_of(o->cluster, "members/", "")) == NULL ||
	    (c->k_me = key_of(o->cluster, "members/", o->advertise)) == NULL) {
		snprintf(err, n, "out of memory");
		coord_free(c);
		return -1;
	}
	if (etcd_open(&c->e, o->spec, tmo, err, n) != 0) {
		coord_free(c);
		return -1;
	}
	svc_coord_note(s, ST_CANDIDATE, 0, 0);
	if (pthread_create(&c->thr, NULL, coord_main, c) != 0) {
		snprintf(err, n, "cannot start the coordinator thread");
		coord_free(c);
		return -1;
	}
	c->running = 1;
	fs_log(FS_LOG_INFO, NULL,
	    "coordinator: cluster %s on %s as %s, lease %d s", o->cluster,
	    o->spec, o->advertise, o->ttl);
	*out = c;
	return 0;
}

void
coord_primary(coord *c, char *buf, size_t n)
{
	pthread_mutex_lock(&c->mu);
	snprintf(buf, n, "%s", c->following);
	pthread_mutex_unlock(&c->mu);
}

void
coord_stop(coord *c)
{
	if (c == NULL)
		return;
	svc_fence(c->s, 0);
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->running)
		pthread_join(c->thr, NULL);
	if (c->lease != 0 && etcd_revoke(c->e, c->lease) == 0)
		fs_log(FS_LOG_INFO, NULL, "coordinator: lease given back%s",
		    c->leader ? " (the leader key with it)" : "");
	coord_free(c);
}
