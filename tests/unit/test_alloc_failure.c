/*
 * test_alloc_failure.c - a Create through svc_dispatch when memory runs
 * out: the 1st allocation it makes fails, then (in a fresh run) the 2nd,
 * and so on until a run makes no allocation that fails. Each run must
 * answer a clean error (RESOURCE_EXHAUSTED, or UNAVAILABLE or INTERNAL;
 * never a crash, a hang or a validation error), leave the store as it was
 * (the same components, the name still free: the same create then
 * succeeds), leave the change log as it was (a restart shows the same
 * components), and leak nothing (LeakSanitizer, per run).
 *
 * The allocator is intercepted with the linker's --wrap (malloc, calloc,
 * realloc, strdup, free: see tests/CMakeLists.txt), for this program only,
 * and only on the thread that arms it, between arm() and disarm(): the
 * service's own threads (the log's sync thread) are never failed. What
 * --wrap cannot reach is not failed either: allocations inside shared
 * libraries, and so protobuf-c's own, which svc.c asks for with its
 * default allocator (the request's unpacking; svc_dispatch gives no way
 * to pass a failing ProtobufCAllocator).
 *
 * Each run is a child process (fork) that opens its own service, so one
 * run's crash, hang or leak is reported against its allocation index and
 * the runs stay independent. The failed allocation's call stack is
 * printed with each problem.
 *
 * What it holds the service to: a change that cannot get its memory is
 * refused whole (neither in the store nor in the change log, so a restart
 * does not bring it back), and a change that is made is answered OK (its
 * answer is built before it is committed).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <execinfo.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

#include <CUnit/Basic.h>

#include "fs_log.h"
#include "fs_util.h"
#include "svc.h"
#include "testlib.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_SANITIZER 1
#endif
#endif
#ifdef HAVE_SANITIZER
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#else
/* addresses only in the stacks, and no leak check */
#endif

#define MAX_RUNS 2000 /* a create makes far fewer allocations */
#define RUN_MS 30000  /* one run, ASan included */
#define STACK_MAX 24

/* ---- the allocator ------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void __real_free(void *p);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

static __thread int armed;          /* count (and maybe fail) on this thread */
static __thread long counted;       /* allocations since arm() */
static __thread long fail_at;       /* the one to fail (1-based); 0: none */
static __thread int injected;       /* it was failed */
static void *fail_stack[STACK_MAX]; /* where (return addresses) */
static int fail_depth;

static void
arm(long n)
{
	counted = 0;
	fail_at = n;
	injected = 0;
	armed = 1;
}

static void
disarm(void)
{
	armed = 0;
}

static int
should_fail(void)
{
	if (!armed || ++counted != fail_at)
		return 0;
	injected = 1;
	armed = 0; /* backtrace() may allocate */
	fail_depth = backtrace(fail_stack, STACK_MAX);
	armed = 1;
	return 1;
}

void *
__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	return should_fail() ? NULL : __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : __real_realloc(p, n);
}

char *
__wrap_strdup(const char *s)
{
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_strdup(s);
}

/* Never failed: wrapped so that every allocator entry point of the code
 * under test goes through this file. */
void
__wrap_free(void *p)
{
	__real_free(p);
}

/* "function file:line" for each frame of a failed allocation's stack
 * (stack[0..depth)) from the allocator's caller out to the test, " < "
 * between them. Symbolizing starts a helper process the first time: the
 * parent does it, once for all runs (a child shares its addresses). */
static void
describe_site(void *const *stack, int depth, char *out, size_t n)
{
	size_t k = 0;

	out[0] = '\0';
	for (int i = 0, shown = 0; i < depth && shown < 8 && k + 1 < n; i++) {
		char buf[256] = "";
#ifdef HAVE_SANITIZER
		__sanitizer_symbolize_pc((char *) stack[i] - 1, "%f %s:%l",
		    buf, sizeof(buf));
		char *slash = strrchr(buf, '/');
		if (slash != NULL) {
			/* Keep the function and the file's base name. */
			char *sp = strchr(buf, ' ');
			if (sp != NULL && sp < slash)
				memmove(sp + 1, slash + 1,
				    strlen(slash + 1) + 1);
		}
#else
		snprintf(buf, sizeof(buf), "%p", stack[i]);
#endif
		/* From the caller of the allocator to the test's own code. */
		if (strncmp(buf, "should_fail ", 12) == 0 ||
		    strncmp(buf, "__wrap_", 7) == 0 ||
		    strncmp(buf, "__interceptor_", 14) == 0 ||
		    strncmp(buf, "backtrace", 9) == 0)
			continue;
		if (strncmp(buf, "dispatch_armed ", 15) == 0)
			break;
		k += (size_t) snprintf(out + k, n - k, "%s%s", k ? " < " : "",
		    buf);
		shown++;
	}
}

/* The first three frames of a site, for one line per allocation. */
static const char *
short_site(const char *site, char *buf, size_t n)
{
	const char *p = site;

	for (int i = 0; i < 3 && p != NULL; i++)
		if ((p = strstr(p, " < ")) != NULL && i < 2)
			p += 3;
	snprintf(buf, n, "%.*s", p != NULL ? (int) (p - site) : (int) n,
	    site[0] ? site : "(unknown)");
	return buf;
}

/* ---- one run (in a child) ------------------------------------------------- */

struct outcome {
	int finished; /* the run got to the end */
	int injected; /* the allocation it was to fail was made (and failed) */
	long allocs;  /* allocations the create made */
	int code;     /* the create's answer */
	int leaked;   /* LeakSanitizer found something */
	void *stack[STACK_MAX]; /* where the failed allocation was made */
	int depth;
	char site[512];     /* the same in words (the parent fills it) */
	char dir[PATH_MAX]; /* a data dir kept for a problem, or "" */
	char problem[768];
};

struct variant {
	const char *what;
	int data_dir; /* with a change log (and a restart to check it) */
	int big;      /* a record over persist's 2 KiB stack buffer */
};

/* Dispatches method(msg); with fail_at > 0, the allocator is armed (see
 * arm()) around svc_dispatch alone. */
static void
dispatch_armed(svc *s, int method, const ProtobufCMessage *msg, svc_reply *r,
    long fail_at_n)
{
	Flowsvc__Request req = FLOWSVC__REQUEST__INIT;
	uint8_t *buf = NULL;

	memset(r, 0, sizeof(*r));
	req.method = (Flowsvc__Method) method;
	if (msg != NULL) {
		size_t len = protobuf_c_message_get_packed_size(msg);
		buf = malloc(len + 1);
		if (buf == NULL) {
			r->code = -1;
			return;
		}
		protobuf_c_message_pack(msg, buf);
		req.has_payload = 1;
		req.payload.data = buf;
		req.payload.len = len;
	}
	if (fail_at_n > 0)
		arm(fail_at_n);
	svc_dispatch(s, &req, r);
	disarm();
	free(buf);
}

static void
dispatch(svc *s, int method, const ProtobufCMessage *msg, svc_reply *r)
{
	dispatch_armed(s, method, msg, r, 0);
}

/* Every component, flows then apps, as "kind:name:id;..." (creation
 * order), or NULL. Caller frees. */
static char *
everything(svc *s)
{
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);

	if (out == NULL)
		return NULL;
	out[0] = '\0';
	for (int kind = FLOWSVC__KIND__FLOW; kind <= FLOWSVC__KIND__APP;
	     kind++) {
		Flowsvc__ListRequest l = FLOWSVC__LIST_REQUEST__INIT;
		Flowsvc__ListReply *lr;
		svc_reply r;

		l.has_kind = 1;
		l.kind = (Flowsvc__Kind) kind;
		dispatch(s, FLOWSVC__METHOD__LIST, &l.base, &r);
		lr = r.code == FS_OK ? flowsvc__list_reply__unpack(NULL,
		                           r.payload_len, r.payload)
		                     : NULL;
		svc_reply_fini(&r);
		if (lr == NULL) {
			free(out);
			return NULL;
		}
		for (size_t i = 0; i < lr->n_components; i++) {
			const Flowsvc__Component *c = lr->components[i];
			size_t need = len + strlen(c->name) + 64;
			if (need > cap) {
				char *no = realloc(out, cap = need * 2);
				if (no == NULL) {
					free(out);
					flowsvc__list_reply__free_unpacked(lr,
					    NULL);
					return NULL;
				}
				out = no;
			}
			len += (size_t) snprintf(out + len, cap - len,
			    "%d:%s:%s;", kind, c->name, c->id);
		}
		flowsvc__list_reply__free_unpacked(lr, NULL);
	}
	return out;
}

#define BIG_FIELDS 10

/* The create under test: an app in a group no component has yet, with
 * fields and a reference to `base`, so that every structure a create
 * touches grows (the group index, the edges, the field lists). big: ten
 * fields of 250 characters (a log record over 2 KiB). */
static void
dispatch_create(svc *s, const char *base, int big, svc_reply *r,
    long fail_at_n)
{
	static char long_fields[BIG_FIELDS][251];
	char *in_small[] = {"a", "b"}, *in_big[BIG_FIELDS];
	char *out[] = {"x"};
	char *flows[] = {(char *) base};
	Flowsvc__CreateRequest m = FLOWSVC__CREATE_REQUEST__INIT;
	Flowsvc__StringList il = FLOWSVC__STRING_LIST__INIT;
	Flowsvc__StringList ol = FLOWSVC__STRING_LIST__INIT;
	Flowsvc__StringList fl = FLOWSVC__STRING_LIST__INIT;

	for (int i = 0; i < BIG_FIELDS; i++) {
		memset(long_fields[i], 'a' + i, 250);
		long_fields[i][250] = '\0';
		in_big[i] = long_fields[i];
	}
	m.kind = FLOWSVC__KIND__APP;
	m.name = "fresh";
	m.group = "fresh.group";
	il.items = big ? in_big : in_small;
	il.n_items = big ? BIG_FIELDS : 2;
	ol.items = out;
	ol.n_items = 1;
	fl.items = flows;
	fl.n_items = 1;
	m.input_fields = &il;
	m.output_fields = &ol;
	m.flows = &fl;
	dispatch_armed(s, FLOWSVC__METHOD__CREATE, &m.base, r, fail_at_n);
}

static int
open_svc(svc **s, const struct variant *v, const char *dir, char *why,
    size_t n)
{
	svc_opts o = {0};

	o.data_dir = v->data_dir ? dir : NULL;
	o.fsync = 0; /* PERSIST_FSYNC_NO: nothing here waits for the disk */
	fs_log_setup("test_alloc_failure", FS_LOG_ERROR, FS_LOG_TEXT);
	return svc_open(s, &o, why, n);
}

#define PROBLEM(o, ...)                                                       \
	do {                                                                  \
		if ((o)->problem[0] == '\0')                                  \
			snprintf((o)->problem, sizeof((o)->problem),          \
			    __VA_ARGS__);                                     \
	} while (0)

/* Opens a service, fills it with a flow, makes the create with its
 * fail_at-th allocation failing, and checks what is left. */
static void
run_case(const struct variant *v, long fail_at_n, const char *dir,
    struct outcome *o)
{
	svc *s = NULL;
	svc_reply r;
	char why[512], base[FS_UUID_STRLEN + 1] = "";
	char *before = NULL, *after = NULL;

	if (open_svc(&s, v, dir, why, sizeof(why)) != 0) {
		PROBLEM(o, "setup: svc_open: %s", why);
		return;
	}
	{
		Flowsvc__CreateRequest m = FLOWSVC__CREATE_REQUEST__INIT;
		Flowsvc__ComponentReply *cr = NULL;
		m.kind = FLOWSVC__KIND__FLOW;
		m.name = "base";
		dispatch(s, FLOWSVC__METHOD__CREATE, &m.base, &r);
		if (r.code == FS_OK)
			cr = flowsvc__component_reply__unpack(NULL,
			    r.payload_len, r.payload);
		if (cr != NULL && cr->component != NULL)
			snprintf(base, sizeof(base), "%s", cr->component->id);
		if (cr != NULL)
			flowsvc__component_reply__free_unpacked(cr, NULL);
		svc_reply_fini(&r);
	}
	before = everything(s);
	if (base[0] == '\0' || before == NULL) {
		PROBLEM(o, "setup: the base flow was not created");
		goto out;
	}

	dispatch_create(s, base, v->big, &r, fail_at_n);
	o->injected = injected;
	o->allocs = counted;
	o->code = r.code;
	if (injected) {
		memcpy(o->stack, fail_stack, sizeof(o->stack));
		o->depth = fail_depth;
	}
	svc_reply_fini(&r);

	after = everything(s);
	if (o->code == FS_OK) {
		if (after == NULL || strstr(after, ":fresh:") == NULL ||
		    strlen(after) <= strlen(before))
			PROBLEM(o,
			    "answered OK but the component is not "
			    "listed: %s",
			    after ? after : "(list failed)");
		goto restart;
	}
	if (o->code != FS_RESOURCE_EXHAUSTED && o->code != FS_UNAVAILABLE &&
	    o->code != FS_INTERNAL)
		PROBLEM(o, "answered %s, not an out-of-memory error",
		    fs_code_name(o->code));
	if (after == NULL || strcmp(after, before) != 0)
		PROBLEM(o,
		    "answered %s but the store changed: before %s, "
		    "after %s",
		    fs_code_name(o->code), before,
		    after ? after : "(list failed)");

restart:
	if (v->data_dir) {
		/* What the change log holds: the same as before a failed
		 * create, the created component after a successful one. */
		svc_close(s);
		s = NULL;
		free(after);
		after = NULL;
		if (open_svc(&s, v, dir, why, sizeof(why)) != 0) {
			PROBLEM(o, "the restart after the create failed: %s",
			    why);
			goto out;
		}
		after = everything(s);
		if (o->code != FS_OK &&
		    (after == NULL || strcmp(after, before) != 0))
			PROBLEM(o,
			    "answered %s, but after a restart the "
			    "change log gives %s (before: %s)",
			    fs_code_name(o->code),
			    after ? after : "(list failed)", before);
		if (o->code == FS_OK &&
		    (after == NULL || strstr(after, ":fresh:") == NULL))
			PROBLEM(o,
			    "answered OK but after a restart the "
			    "component is gone: %s",
			    after ? after : "(list failed)");
	}
	if (o->code != FS_OK) {
		/* The name is still free and nothing is left locked or half
		 * indexed: the same create now succeeds. */
		dispatch_create(s, base, v->big, &r, 0);
		if (r.code != FS_OK)
			PROBLEM(o,
			    "after the failure, the same create "
			    "answered %s (%s)",
			    fs_code_name(r.code),
			    r.message ? r.message : "no message");
		svc_reply_fini(&r);
	}
out:
	free(before);
	free(after);
	if (s != NULL)
		svc_close(s);
}

/* The child: one run, its outcome written to fd. */
static void
child(const struct variant *v, long n, int fd)
{
	struct outcome o;
	char dir[PATH_MAX] = "";

	memset(&o, 0, sizeof(o));
	if (v->data_dir && fs_test_mkdtemp(dir, "flowsvc-oom") != 0) {
		PROBLEM(&o, "setup: mkdtemp: %s", strerror(errno));
	} else {
		char data[PATH_MAX + 8];
		snprintf(data, sizeof(data), "%s/data", dir);
		run_case(v, n, data, &o);
	}
	/* Kept for a problem, to look at. */
	if (dir[0] != '\0' && o.problem[0] == '\0')
		fs_test_rmtree(dir);
	else if (dir[0] != '\0')
		snprintf(o.dir, sizeof(o.dir), "%s", dir);
#ifdef HAVE_SANITIZER
	o.leaked = __lsan_do_recoverable_leak_check() != 0;
#endif
	o.finished = 1;
	if (write(fd, &o, sizeof(o)) != (ssize_t) sizeof(o))
		_exit(3);
	_exit(0);
}

/* Runs the variant with its n-th allocation failing, in a child. Returns
 * 0 with *o filled (o->problem says what went wrong, if anything). */
static int
run_forked(const struct variant *v, long n, struct outcome *o)
{
	int p[2], st = 0;
	pid_t pid;
	size_t got = 0;
	int64_t until = fs_test_now_ms() + RUN_MS;

	memset(o, 0, sizeof(*o));
	fflush(NULL);
	if (pipe(p) != 0 || (pid = fork()) < 0) {
		snprintf(o->problem, sizeof(o->problem), "fork: %s",
		    strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		child(v, n, p[1]);
	}
	close(p[1]);
	while (got < sizeof(*o)) {
		struct pollfd pfd = {p[0], POLLIN, 0};
		int64_t left = until - fs_test_now_ms();
		ssize_t r;
		if (left <= 0 || poll(&pfd, 1, (int) left) <= 0)
			break;
		r = read(p[0], (char *) o + got, sizeof(*o) - got);
		if (r <= 0)
			break;
		got += (size_t) r;
	}
	close(p[0]);
	if (got < sizeof(*o) && fs_test_now_ms() >= until)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	if (got < sizeof(*o)) {
		memset(o, 0, sizeof(*o));
		o->injected = 1;
		if (WIFSIGNALED(st))
			snprintf(o->problem, sizeof(o->problem),
			    "the run died of signal %d (a crash; its report "
			    "is "
			    "above)",
			    WTERMSIG(st));
		else
			snprintf(o->problem, sizeof(o->problem),
			    "the run %s (exit status %d)",
			    fs_test_now_ms() >= until ? "hung" : "ended early",
			    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	} else if (o->leaked) {
		size_t k = strlen(o->problem);
		snprintf(o->problem + k, sizeof(o->problem) - k, "%s",
		    k ? "; and memory leaked (LeakSanitizer's report is above)"
		      : "memory leaked (LeakSanitizer's report is above)");
	}
	if (o->injected && o->depth > 0)
		describe_site(o->stack, o->depth, o->site, sizeof(o->site));
	return 0;
}

/* ---- the test ----------------------------------------------------------------- */

static void
fail_each_allocation(const struct variant *v)
{
	int codes[FS_CODE_COUNT + 1] = {0};
	long n, ok_after_failure = 0, runs = 0;
	struct outcome o;
	char where[512];

	fprintf(stderr, "\n  %s:\n", v->what);
	for (n = 1; n <= MAX_RUNS; n++) {
		if (run_forked(v, n, &o) != 0) {
			FS_CHECK(0, "run %ld: %s", n, o.problem);
			return;
		}
		runs++;
		if (!o.injected && o.problem[0] == '\0')
			break; /* fewer than n allocations: nothing failed */
		if (o.code >= 0 && o.code < FS_CODE_COUNT)
			codes[o.code]++;
		if (o.code == FS_OK)
			ok_after_failure++;
		if (o.problem[0] == '\0') {
			fprintf(stderr, "    %3ld %s: %s\n", n,
			    short_site(o.site, where, sizeof(where)),
			    fs_code_name(o.code));
			continue;
		}
		FS_CHECK(0,
		    "%s: allocation %ld of the create failed, "
		    "made at %s: %s%s%s",
		    v->what, n, o.site[0] ? o.site : "(unknown)", o.problem,
		    o.dir[0] ? "; data dir kept: " : "", o.dir);
	}
	FS_CHECK(n <= MAX_RUNS, "%s: still failing allocations after %d runs",
	    v->what, MAX_RUNS);
	fprintf(stderr,
	    "    %ld allocations failed one by one (the last run "
	    "made %ld and succeeded; %ld runs answered OK all the "
	    "same); answers:",
	    runs - 1, o.allocs, ok_after_failure);
	for (int c = 0; c < FS_CODE_COUNT; c++)
		if (codes[c] > 0)
			fprintf(stderr, " %s %d", fs_code_name(c), codes[c]);
	fprintf(stderr, "\n");
	FS_CHECK(o.code == FS_OK && o.allocs > 0,
	    "%s: the run without a failure answered %s after %ld allocations",
	    v->what, fs_code_name(o.code), o.allocs);
}

static const struct variant in_memory = {"in memory", 0, 0};
static const struct variant with_log = {"with a change log", 1, 0};
static const struct variant big_record =
    {"with a change log, a record over 2 KiB", 1, 1};

static void
test_in_memory(void)
{
	fail_each_allocation(&in_memory);
}

static void
test_with_log(void)
{
	fail_each_allocation(&with_log);
}

static void
test_big_record(void)
{
	fail_each_allocation(&big_record);
}

int
main(void)
{
	static CU_TestInfo tests[] = {
	    {"each allocation of a create fails in turn, in memory",
	        test_in_memory},
	    {"each allocation of a create fails in turn, with a change log",
	        test_with_log},
	    {"the same with a log record over 2 KiB", test_big_record},
	    CU_TEST_INFO_NULL,
	};
	static CU_SuiteInfo suites[] = {
	    {"allocation failure", NULL, NULL, NULL, NULL, tests},
	    CU_SUITE_INFO_NULL,
	};
	void *warm[1];

	/* backtrace() loads its unwinder on first use: not inside a run. */
	backtrace(warm, 1);
	return fs_test_main(suites);
}
