/*
 * testlib.h - helpers for system tests: scratch directories and ports, the
 * real programs as child processes, readiness by polling, a small blocking
 * HTTP/1.1 client, running a command and capturing its output, and CUnit
 * assertions that say what went wrong (expected vs actual, with the body).
 *
 * Not thread-safe where it touches CUnit: the FS_ASSERT_* macros must run
 * on the thread that runs the test. The HTTP client and the process helpers
 * may be used from any thread, one object per thread.
 */
#ifndef TESTS_TESTLIB_H
#define TESTS_TESTLIB_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "fs_errors.h"
#include "fs_rpc.h"

/* Generous because the test build runs under ASan and the machine has two
 * cores shared with the programs under test. */
#define FS_TEST_START_TIMEOUT_MS 15000
#define FS_TEST_STOP_TIMEOUT_MS 10000
#define FS_TEST_HTTP_TIMEOUT_MS 10000

/* ---- time, directories, ports ------------------------------------------ */

/* Monotonic clock in milliseconds. */
int64_t fs_test_now_ms(void);

/* Sleeps ms milliseconds: only for the interval of a bounded poll loop,
 * never as a way to wait for something to become ready. */
void fs_test_poll_pause(int ms);

/* Creates a fresh directory under $TMPDIR (or /tmp). Returns 0 and writes
 * its path into out (size PATH_MAX), or -1 with errno. */
int fs_test_mkdtemp(char out[PATH_MAX], const char *prefix);

/* Removes dir and everything below it. Returns 0 or -1. */
int fs_test_rmtree(const char *dir);

/* A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read
 * it, close). Returns the port or -1. */
int fs_test_free_port(void);

/* ---- child processes ---------------------------------------------------- */

typedef struct fs_test_proc {
	pid_t pid;               /* 0 when not running */
	char name[32];           /* for messages: "flow-service", ... */
	char log_path[PATH_MAX]; /* stdout and stderr of the child (appended) */
	int status;              /* wait status after it was reaped */
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

/* Reads a whole file, NUL-terminated (it may hold NULs before *len).
 * Returns it (caller frees) and its size in *len (len may be NULL), or
 * NULL when it cannot. */
char *fs_file_read(const char *path, size_t *len);

/* How many lines of a text file contain needle (0 when unreadable). */
int fs_file_count(const char *path, const char *needle);

/* Prints the last max_lines lines of a log file to stderr, framed. */
void fs_test_dump_log(const char *title, const char *path, int max_lines);

/* Runs argv to completion with a timeout, capturing stdout and stderr.
 * env_extra: NULL or "NAME=value" strings added to the environment
 * (NULL-terminated); unset_env: NULL or names removed from it. */
typedef struct fs_test_run_result {
	int exit_code; /* exit status, or 128+signal, or -1 on timeout */
	char *out;     /* NUL-terminated stdout; free with _result_free */
	size_t out_len;
	char *err; /* NUL-terminated stderr */
	size_t err_len;
	json_t *json; /* stdout parsed as JSON (any value), else NULL */
} fs_test_run_result;

int fs_test_run(fs_test_run_result *r, char *const argv[],
    char *const env_extra[], const char *const unset_env[], int timeout_ms);
void fs_test_run_result_free(fs_test_run_result *r);

/* ---- HTTP client --------------------------------------------------------- */

typedef struct fs_http_header {
	char *name; /* as sent by the server */
	char *value;
} fs_http_header;

typedef struct fs_http_resp {
	int status;       /* 0 when no response was read */
	int sys_errno;    /* the socket error when status is 0 */
	char method[16];  /* of the request, for messages */
	char path[256];   /* of the request, truncated */
	fs_http_header *headers;
	size_t nheaders;
	char *body; /* NUL-terminated; may contain NULs before body_len */
	size_t body_len;
	json_t *json; /* body parsed (objects and arrays), else NULL */
	int64_t elapsed_ms;
} fs_http_resp;

typedef struct fs_http_conn fs_http_conn;

/* Opens a keep-alive connection to 127.0.0.1:port. Socket send and receive
 * timeouts are timeout_ms (0: FS_TEST_HTTP_TIMEOUT_MS). Returns 0 or -1
 * with errno; *out belongs to the caller (fs_http_close). */
int fs_http_connect(fs_http_conn **out, int port, int timeout_ms);
void fs_http_close(fs_http_conn *c);

/* Sends one request and reads the response into *resp (which the caller
 * frees with fs_http_resp_free, whatever the result). headers: NULL or a
 * NULL-terminated list of "Name: value". A body (body_len bytes; body_len
 * of (size_t)-1 means strlen) gets Content-Length, and Content-Type
 * application/json unless headers carry one. If the server closed an idle
 * keep-alive connection the request is retried once on a new one.
 * Returns 0 when a response was read, -1 otherwise (resp->sys_errno). */
int fs_http_request(fs_http_conn *c, const char *method, const char *path,
    const char *const *headers, const char *body, size_t body_len,
    fs_http_resp *resp);

/* One request on a fresh connection with Connection: close. */
int fs_http_once(int port, const char *method, const char *path,
    const char *const *headers, const char *body, size_t body_len,
    fs_http_resp *resp);

/* The status of GET path on a fresh connection (0 when none came back). */
int fs_http_status(int port, const char *path);

/* Polls GET path until it answers `status`, for at most timeout_ms.
 * Returns 0, or -1 on timeout. */
int fs_http_wait_status(int port, const char *path, int status,
    int timeout_ms);

/* The first header of that name (case-insensitive), or NULL. Borrowed. */
const char *fs_http_header_get(const fs_http_resp *r, const char *name);

void fs_http_resp_free(fs_http_resp *r);

/* ---- raw sockets --------------------------------------------------------- */

/* For bytes no well-behaved client sends (smuggling attempts, broken
 * framing, idle connections). */

/* A blocking TCP connection to 127.0.0.1:port from local address `from`
 * ("127.0.0.2": Linux's loopback answers all of 127/8; NULL: the default
 * source). Returns the socket or -1 with errno. */
int fs_raw_connect(const char *from, int port);

/* Sends all of buf (no SIGPIPE). Returns 0 or -1. */
int fs_raw_send(int fd, const void *buf, size_t len);

/* Reads until the peer closes or timeout_ms passes, keeping up to cap - 1
 * bytes in buf (NUL-terminated; the count in *len when len is not NULL).
 * Returns 1 when the peer closed (EOF or reset), 0 on timeout. */
int fs_raw_read_to_close(int fd, char *buf, size_t cap, size_t *len,
    int timeout_ms);

/* ---- JSON helpers -------------------------------------------------------- */

/* obj[key] as a string / integer; NULL / -1 when absent or another type. */
const char *fs_json_str(const json_t *obj, const char *key);
json_int_t fs_json_int(const json_t *obj, const char *key);

/* A compact dump for messages; caller frees. Never NULL. */
char *fs_json_dump(const json_t *v);

/* Turns ASCII a-z in s into A-Z, in place (ids and names in upper case
 * prove case-insensitive matching). */
void fs_str_upper(char *s);

/* 1 when s is a lower-case canonical uuid. */
int fs_is_lower_uuid(const char *s);

/* 1 when s is RFC 3339 UTC with exactly six fraction digits and 'Z'. */
int fs_is_rfc3339_us(const char *s);

/* ---- the system under test ----------------------------------------------- */

typedef struct fs_test_env {
	char dir[PATH_MAX];      /* scratch dir; removed unless a test failed */
	char data_dir[PATH_MAX]; /* the backend's --data-dir */
	char backend_url[64];    /* tcp://127.0.0.1:PORT */
	int gw_port;
	int rpc_timeout_ms;     /* the gateway's --rpc-timeout; 0: default */
	const char *fsync_mode; /* NULL: the backend's default */
	/* More flow-gateway flags (NULL-terminated, at most 8), or NULL. */
	const char *const *gw_extra;
	/* More flow-service flags (NULL-terminated, at most 8), or NULL. */
	const char *const *svc_extra;
	fs_test_proc backend;
	fs_test_proc gateway;
	fs_client *client;  /* RPC client to the backend (trusted caller) */
	fs_http_conn *http; /* keep-alive connection to the gateway */
} fs_test_env;

/* Fills env: scratch dir, data dir, free ports. Returns 0 or -1. */
int fs_env_init(fs_test_env *env, const char *name);

/* Starts flow-service on env->backend_url with env->data_dir and waits
 * until it answers HEALTH. Returns 0, or -1 after printing why and the
 * tail of its log. */
int fs_env_start_backend(fs_test_env *env);

/* Starts flow-gateway on env->gw_port against env->backend_url and waits
 * for /healthz and /readyz to answer 200 (only /healthz when wait_ready is
 * 0, for a gateway started without a backend). Returns 0 or -1. */
int fs_env_start_gateway(fs_test_env *env, int wait_ready);

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

/* ---- REST shorthands (assert as they go) -------------------------------- */

/* POSTs body to /api/<coll>/ (coll "flows" or "apps"), asserts 201 and
 * copies the new id into id. Returns 0 or -1. */
int fs_rest_create(fs_test_env *env, const char *coll, const char *body,
    char id[64], const char *file, int line);
#define FS_REST_CREATE(env, coll, body, id)                                  \
	fs_rest_create((env), (coll), (body), (id), __FILE__, __LINE__)

/* GET/PUT/... through env->http; returns what fs_http_request returns. */
int fs_rest(fs_test_env *env, const char *method, const char *path,
    const char *body, fs_http_resp *resp);

/* The same with a printf-style path. */
int fs_restf(fs_test_env *env, const char *method, const char *body,
    fs_http_resp *resp, const char *path_fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- runner -------------------------------------------------------------- */

/* Registers the suites, runs them verbosely, and returns the process exit
 * code: 0 only when every suite set up and cleaned up and every assertion
 * passed. */
int fs_test_main(CU_SuiteInfo *suites);

/* ---- assertions ---------------------------------------------------------- */

/* Records an assertion with CUnit; on failure the message is formatted from
 * fmt. Returns cond (so a test can stop early: if (!FS_ASSERT...) return). */
int fs_check(int cond, const char *file, int line, const char *expr,
    const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

int fs_check_status(const fs_http_resp *r, int expected, const char *file,
    int line);
int fs_check_json_eq(const json_t *actual, const char *expected_json,
    const char *what, const char *file, int line);
int fs_check_error(const fs_http_resp *r, int status,
    const char *expected_json, const char *file, int line);
int fs_check_code(int actual, int expected, const Flowsvc__Reply *reply,
    const char *expr, const char *file, int line);
int fs_check_str(const char *actual, const char *expected, const char *expr,
    const char *file, int line);
int fs_check_int(long long actual, long long expected, const char *expr,
    const char *file, int line);

#define FS_CHECK(cond, ...)                                                  \
	fs_check(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

/* HTTP status; on failure prints method, path, expected, actual, body. */
#define FS_ASSERT_STATUS(resp, expected)                                     \
	fs_check_status((resp), (expected), __FILE__, __LINE__)

/* JSON value equal (json_equal) to the JSON text expected. */
#define FS_ASSERT_JSON_EQ(actual, expected)                                  \
	fs_check_json_eq((actual), (expected), #actual, __FILE__, __LINE__)

/* Two JSON values equal (json_equal); prints both when not. */
int fs_check_json_same(const json_t *actual, const json_t *expected,
    const char *what, const char *file, int line);
#define FS_ASSERT_JSON_SAME(actual, expected)                                \
	fs_check_json_same((actual), (expected), #actual, __FILE__, __LINE__)

/* Status and whole body: FS_ASSERT_ERROR(&r, 404, "{\"detail\": ...}"). */
#define FS_ASSERT_ERROR(resp, status, expected_json)                         \
	fs_check_error((resp), (status), (expected_json), __FILE__, __LINE__)

/* An fs_code result: names and default messages of both codes, and the
 * reply's message and field violations when there is one. */
#define FS_ASSERT_OK(expr)                                                   \
	fs_check_code((expr), FS_OK, NULL, #expr, __FILE__, __LINE__)
#define FS_ASSERT_CODE(expr, expected, reply)                                \
	fs_check_code((expr), (expected), (reply), #expr, __FILE__, __LINE__)

/* A component as the REST API and flowctl show it: exactly the ten
 * documented keys, each of the documented type and format. */
int fs_check_component(const json_t *c, const char *file, int line);
#define FS_ASSERT_COMPONENT(c) fs_check_component((c), __FILE__, __LINE__)

#define FS_ASSERT_STR_EQ(actual, expected)                                   \
	fs_check_str((actual), (expected), #actual, __FILE__, __LINE__)
#define FS_ASSERT_INT_EQ(actual, expected)                                   \
	fs_check_int((long long) (actual), (long long) (expected), #actual,    \
	    __FILE__, __LINE__)

#endif
