/*
 * svc.h - the flow service: store + rules + write path, one handler per
 * RPC method.
 *
 * Concurrency discipline: one rwlock (svc->lock) guards the store. Reads
 * (Get, List, GetStatus, Health) hold it shared while they copy out the
 * bytes of their reply; every mutation holds it exclusively from its
 * validation against the store through the change-log append and the store
 * update, so the log order is the order in which changes took effect and a
 * check (name free, reference exists, not in use) cannot go stale before
 * its change is applied. Validation that needs no store runs before the
 * lock.
 */
#ifndef SERVICE_SVC_H
#define SERVICE_SVC_H

#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "fs_rpc.h"
#include "rules.h"

typedef struct svc svc;

typedef struct svc_opts {
	const char *data_dir; /* NULL: memory only (tests) */
} svc_opts;

/* Opens the service. Returns 0, or -1 with a one-line reason in err. On
 * success *out belongs to the caller (svc_close). */
int svc_open(svc **out, const svc_opts *opts, char *err, size_t errlen);
void svc_close(svc *s);

/* The outcome of one request, ready to become a Flowsvc__Reply. */
typedef struct svc_reply {
	int code;
	char *message;     /* NULL: the code's default; owned */
	viol v;            /* field violations */
	uint8_t *payload;  /* encoded reply message; owned */
	size_t payload_len;
	int has_payload;
} svc_reply;

/* Executes req (already decoded) and fills out, which the caller releases
 * with svc_reply_fini. Never fails: errors are codes in out. */
void svc_dispatch(svc *s, const Flowsvc__Request *req, svc_reply *out);
void svc_reply_fini(svc_reply *r);

/* fs_srv_handler for fs_server_open; arg is the svc. */
void svc_handle(void *arg, fs_srv_call *call, const Flowsvc__Request *req);

#endif
