/*
 * gw_pages.c - libmicrohttpd's own error pages, answered in the API's
 * shape instead.
 *
 * libmicrohttpd 0.9.75 answers some requests itself, without calling the
 * access handler: a request line it cannot parse or an HTTP version other
 * than 1.x (400, 505), a header line without a colon (400), a
 * Content-Length it cannot parse (400, 413), broken chunked encoding or a
 * chunk size over 64 bits (400, 413), and headers over its memory limit
 * (431, 414). Each answer is a small HTML page, without X-Request-Id, and
 * it has no option to replace them. It queues every one of them with its
 * own public MHD_queue_response(), which the library calls through its PLT
 * (Debian's libmicrohttpd.so.12: a JUMP_SLOT relocation, no -Bsymbolic),
 * so the definition below, in the program, comes first (ELF symbol
 * interposition) and may swap the page for gw_http_page's answer.
 *
 * Everything the gateway itself queues carries X-Request-Id; a response
 * without it is one of the library's pages. The real function is found
 * with dlsym(RTLD_NEXT). This file is linked into flow-gateway only, not
 * into the core library that the unit tests link. gw_pages_active() tells
 * whether the override is in effect (it is not when libmicrohttpd is
 * linked statically, or built to bind its calls internally); then the
 * pages go out as they are, which tests/system/test_http_hostile.c would
 * report.
 */
#define _GNU_SOURCE
#include "gw_pages.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include <microhttpd.h>

#include "gw_http.h"

typedef enum MHD_Result (
    *queue_fn)(struct MHD_Connection *, unsigned int, struct MHD_Response *);

static queue_fn real_queue;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void
resolve(void)
{
	void *p = dlsym(RTLD_NEXT, "MHD_queue_response");

	/* dlsym answers with an object pointer; POSIX guarantees it holds
	 * a function's address. */
	memcpy(&real_queue, &p, sizeof(p));
}

enum MHD_Result
MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
    struct MHD_Response *response)
{
	struct MHD_Response *mine;
	enum MHD_Result ret;

	(void) pthread_once(&resolve_once, resolve);
	if (real_queue == NULL)
		return MHD_NO; /* no libmicrohttpd: nothing to queue on */
	if (response == NULL ||
	    MHD_get_response_header(response, "X-Request-Id") != NULL ||
	    (mine = gw_http_page(connection, status_code)) == NULL)
		return real_queue(connection, status_code, response);
	ret = real_queue(connection, status_code, mine);
	MHD_destroy_response(mine); /* the connection holds its reference */
	return ret;
}

int
gw_pages_active(void)
{
	void *found = dlsym(RTLD_DEFAULT, "MHD_queue_response");
	queue_fn ours = MHD_queue_response, seen;

	memcpy(&seen, &found, sizeof(found));
	(void) pthread_once(&resolve_once, resolve);
	return real_queue != NULL && seen == ours;
}
