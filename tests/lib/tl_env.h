/*
 * tl_env.h - the system under test: a scratch directory with a data dir
 * and free ports, flow-service and flow-gateway started on them (each
 * waited for until it answers), an RPC client to the backend and a
 * keep-alive HTTP connection to the gateway; stopping and restarting the
 * backend; and tearing it all down, keeping the directory and printing the
 * logs when a test failed.
 *
 * The program paths come from the build (FLOW_SERVICE_BIN, ...).
 */
#ifndef TESTS_TL_ENV_H
#define TESTS_TL_ENV_H

#include <limits.h>

#include "fs_rpc.h"
#include "tl_http.h"
#include "tl_proc.h"

typedef struct fs_test_env {
	char dir[PATH_MAX]; /* scratch dir; removed unless a test failed */
	char data_dir[PATH_MAX]; /* the backend's --data-dir */
	char backend_url[64];    /* tcp://127.0.0.1:PORT */
	int gw_port;
	int rpc_timeout_ms;     /* the gateway's --rpc-timeout; 0: default */
	const char *fsync_mode; /* NULL: the backend's default */
	/* More flow-gateway flags (NULL-terminated, at most 8), or NULL. */
	const char *const *gw_extra;
	/* More flow-service flags (NULL-terminated, at most 12), or NULL. */
	const char *const *svc_extra;
	/* fs_env_start_node's flags (svc_extra points here): --replica-of
	 * and its URL, kept for restarts. */
	char replica_of[64];
	const char *node_flags[3];
	fs_test_proc backend;
	fs_test_proc gateway;
	/* With FS_TEST_GATEWAY_VIA_REPLICA set in the environment: a replica
	 * of the backend, which the gateway is given instead of it (so that
	 * a REST test runs through a replica: reads served there, changes
	 * forwarded). */
	fs_test_proc replica;
	char replica_url[64];
	fs_client *client;  /* RPC client to the backend (trusted caller) */
	fs_http_conn *http; /* keep-alive connection to the gateway */
} fs_test_env;

/* Fills env: scratch dir, data dir, free ports. Returns 0 or -1. */
int fs_env_init(fs_test_env *env, const char *name);

/* Starts flow-service on env->backend_url with env->data_dir and waits
 * until it answers HEALTH. Returns 0, or -1 after printing why and the
 * tail of its log. */
int fs_env_start_backend(fs_test_env *env);

/* The same with env->svc_extra set to extra (NULL or NULL-terminated, at
 * most 12 flags) first: a restart with other flags. */
int fs_env_start_backend_with(fs_test_env *env, const char *const *extra);

/* fs_env_init, then starts the backend: a primary (of NULL) or a
 * replica of the URL of (--replica-of, kept in env for restarts with
 * fs_env_start_backend). Returns 0 or -1. */
int fs_env_start_node(fs_test_env *env, const char *name, const char *of);

/* Starts flow-gateway on env->gw_port against env->backend_url (or, with
 * FS_TEST_GATEWAY_VIA_REPLICA set, against a replica of it, started
 * first) and waits for /healthz and /readyz to answer 200 (only /healthz
 * when wait_ready is 0, for a gateway started without a backend). Returns
 * 0 or -1. */
int fs_env_start_gateway(fs_test_env *env, int wait_ready);

/* Polls the running gateway's /readyz until 200 (it follows a backend
 * restart by itself), for at most FS_TEST_START_TIMEOUT_MS. Returns 0 or
 * -1. */
int fs_env_wait_gateway_ready(fs_test_env *env);

/* Both programs, the RPC client and the HTTP connection, on an env that
 * fs_env_init filled (and the test may have adjusted since: files in
 * env->dir, gw_extra, svc_extra). Returns 0 or -1. */
int fs_env_start_programs(fs_test_env *env);

/* fs_env_init + fs_env_start_programs. */
int fs_env_start(fs_test_env *env, const char *name);

/* Stops the backend with sig (see fs_test_proc_stop); returns the wait
 * status. */
int fs_env_stop_backend(fs_test_env *env, int sig);

/* Stops everything with SIGTERM, frees the clients and removes the scratch
 * dir, unless CUnit recorded a failure or FS_TEST_KEEP is set: then the
 * log tails are printed and the dir is kept. Returns 0 when both programs
 * exited with status 0, else -1. */
int fs_env_fini(fs_test_env *env);

#endif
