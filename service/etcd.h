/*
 * etcd.h - a small client of etcd's v3 JSON API (the grpc-gateway in
 * front of its gRPC API: POST /v3/... with JSON bodies; keys and values
 * base64), for the coordinator (coord.h, CONTRACT §9): leases, a put
 * that creates a key only when it is absent, reads, deletes, and a watch
 * of one key.
 *
 * Over HTTP with libcurl and jansson: etcd 3.4 speaks gRPC, whose C
 * library would be a large new dependency for six calls, while its JSON
 * gateway is served on the client port of every member and documented
 * as the API for languages without gRPC. libcurl gives bounded timeouts
 * (connect and whole call) and keep-alive connections; jansson is what
 * the gateway already uses for JSON.
 *
 * An etcd handle talks to one member at a time and moves to the next of
 * the list given when one does not answer (or answers with an error, as
 * a member cut off from its quorum does). Every call is bounded: the
 * handle's timeout per member tried, a watch by its own wait. One handle
 * per thread; etcd_global_init once per process before any thread.
 *
 * Every function returns 0, or -1 with a one-line reason (etcd_error).
 */
#ifndef SERVICE_ETCD_H
#define SERVICE_ETCD_H

#include <stddef.h>
#include <stdint.h>

typedef struct etcd etcd;

/* A key as etcd holds it. value is NUL-terminated (vlen bytes before
 * the NUL). Owned: etcd_kv_fini. */
typedef struct etcd_kv {
	char *key;
	char *value;
	size_t vlen;
	int64_t create_rev, mod_rev, lease;
} etcd_kv;

void etcd_kv_fini(etcd_kv *kv);

/* libcurl's global set-up: once, before threads start. 0 or -1. */
int etcd_global_init(void);
void etcd_global_fini(void);

/* Parses spec ("etcd://HOST:PORT[,HOST:PORT...]", at most 16 members)
 * and opens a handle whose calls take at most timeout_ms per member
 * tried. Returns 0, or -1 with the reason in err. */
int
etcd_open(etcd **out, const char *spec, int timeout_ms, char *err, size_t n);
void etcd_close(etcd *e);

/* The reason the last call failed. */
const char *etcd_error(const etcd *e);

/* The revision of the store as the last answer said (its header). */
int64_t etcd_revision(const etcd *e);

/* A lease of ttl seconds: its id in *lease. */
int etcd_grant(etcd *e, int ttl, int64_t *lease);

/* Renews lease once: *ttl the seconds it has now, 0 when it is gone
 * (expired or revoked). */
int etcd_keepalive(etcd *e, int64_t lease, int64_t *ttl);

/* Revokes lease (its keys go with it). */
int etcd_revoke(etcd *e, int64_t lease);

/* Creates key = value (bound to lease; 0: none) only when the key is
 * absent, in one transaction. *created says whether it did; cur (may be
 * NULL) gets the key as it is after the transaction (this one, or the
 * one that was there). */
int etcd_create(etcd *e, const char *key, const char *value, int64_t lease,
    int *created, etcd_kv *cur);

/* Puts key = value (bound to lease; 0: none). */
int etcd_put(etcd *e, const char *key, const char *value, int64_t lease);

/* Reads key: *found 0 when absent (kv untouched), else kv filled. */
int etcd_get(etcd *e, const char *key, int *found, etcd_kv *kv);

/* Every key beginning with prefix, in key order: *kvs (n of them)
 * allocated; free with etcd_kvs_free. */
int etcd_get_prefix(etcd *e, const char *prefix, etcd_kv **kvs, size_t *n);
void etcd_kvs_free(etcd_kv *kvs, size_t n);

/* Deletes key; with create_rev > 0 only when the key is still that one
 * (its create revision). *deleted (may be NULL) says whether it did. */
int etcd_delete(etcd *e, const char *key, int64_t create_rev, int *deleted);

/* Waits up to wait_ms for a change of key at a revision from from_rev
 * on (0: from now). *changed 1 when one came, 0 when the wait ended
 * without. A member that does not answer is an error (-1), not a
 * wait. */
int etcd_watch(etcd *e, const char *key, int64_t from_rev, int wait_ms,
    int *changed);

#endif
