/*
 * gw_list.h - GET /api/flows/ and /api/apps/ of any size: the first page
 * answered like any reply, later pages streamed as they arrive. Part of
 * the HTTP layer (gw_http.c calls it at four points of a list request's
 * life); nothing else includes it.
 *
 * A list asks the backend for pages (ListRequest.page_size: a small first
 * page, for the first byte, then pages of at most 1 MiB). A list that
 * fits its first page answers as before: one buffer, Content-Length.
 * Otherwise the answer streams: the headers (200, Content-Type,
 * X-Request-Id, X-Total-Count, X-Revision, Link) and "[" with the first
 * page's components go out at once, then each later page as the backend
 * answers it, then "]", in HTTP/1.1 chunked transfer encoding (an HTTP/1.0
 * client gets the same bytes and the end of the connection as the end of
 * the body). The first page is fetched before anything is sent, so a bad
 * filter, a 401 or a 503 still answer with their status.
 *
 * Memory per list: at most two rendered pages (the one MHD is taking
 * bytes from, and the next) and the reply being rendered; the next page
 * is asked for only once MHD starts taking the current one, so a slow
 * reader holds the backend's view open, never more of the list in the
 * gateway. Pages are rendered on the body worker (never on nng's threads,
 * which also read the backend's connection, nor on MHD's, which serve
 * other connections).
 *
 * Threads: MHD's content reader (on the connection's MHD thread) takes
 * bytes and, when the next page is not there yet, suspends the
 * connection; the page's completion (nng thread, then the worker) renders
 * it and resumes the connection. Both under the stream's mutex; the
 * connection is always suspended before anyone can resume it. The stream
 * lives as long as the request, MHD's response or a page in flight,
 * whichever is last.
 *
 * A page that fails (backend gone, timeout, the view expired) ends the
 * stream broken: MHD closes the connection without the final "]" and
 * without the chunked terminator, so no client can take a truncated list
 * for a whole one. The gateway logs a warning. A client that goes away
 * mid-list makes the gateway end the backend's view at once (ListRequest
 * with page_size 0 and the token) rather than at its idle timeout.
 *
 * HEAD of a list asks for the first page as GET does and answers the
 * headers GET would: a list that fits the first page with its
 * Content-Length, a longer one without (as GET streams it); the view it
 * opened ends with the request.
 */
#ifndef GATEWAY_GW_LIST_H
#define GATEWAY_GW_LIST_H

#include "gw_http_int.h"

/* Components in the first page (small: it is rendered before the first
 * byte goes out) and in later ones (the backend also bounds them at
 * 1 MiB). */
#define GW_LIST_FIRST_PAGE 1000u
#define GW_LIST_PAGE 10000u

/* On the MHD thread, once the upload is complete: notes what the list
 * request needs later (the HEAD method, the parameters for Link) in
 * r->list and sets the page size in q. Returns 0, or -1 when out of
 * memory. */
int gw_list_begin(struct gw_req *r, struct gw_query *q);

/* Once gw_api_prepare built the request: the list as sent (its filters,
 * limit and offset), which every later page repeats. Returns 0, or -1
 * when out of memory. */
int gw_list_sent(struct gw_req *r, const Flowsvc__ListRequest *m);

/* The first page arrived OK (on an nng thread or the worker): r->resp
 * gets the answer, and r->list a stream when more pages follow. */
void gw_list_first(struct gw_req *r, const Flowsvc__Reply *reply);

/* In respond(): the MHD response of a streamed list (or of a list's HEAD),
 * or NULL when r answers from its buffer as any other request (r->resp
 * turns into a 500 when the stream's response cannot be made). Once
 * returned, the response owns the stream. */
struct MHD_Response *gw_list_response(struct gw_req *r);

/* Adds X-Total-Count and Link from r->resp to resp (X-Revision goes out
 * with every answer, gw_http_add_headers). Returns
 * MHD_YES or MHD_NO. */
enum MHD_Result
gw_list_headers(const struct gw_req *r, struct MHD_Response *resp);

/* In on_completed: the bytes a stream handed to MHD (for the access
 * log), and r->list freed. */
void gw_list_end(struct gw_req *r);

#endif
