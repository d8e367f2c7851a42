/*
 * gw_metrics.h - the gateway's Prometheus metrics.
 *
 * Counters are relaxed atomics updated on the request path (a few
 * uncontended adds per request, no locks); rendering reads them without
 * stopping writers, so one scrape may see a request counted in one series
 * and not yet in another. Exposed series:
 *
 *   flowsvc_http_requests_total{route,method,status}   counter
 *   flowsvc_http_request_duration_seconds{route}       histogram
 *   flowsvc_http_requests_in_flight                    gauge
 *   flowsvc_rpc_calls_total{code}                      counter
 *   flowsvc_backend_up                                 gauge (0/1)
 *
 * route is gw_route_name(); method is GET, HEAD, POST, PUT, DELETE or
 * OTHER (bounded label values whatever clients send).
 */
#ifndef GATEWAY_GW_METRICS_H
#define GATEWAY_GW_METRICS_H

#include <stdint.h>

#include "flows.pb-c.h"
#include "gw_json.h"
#include "gw_routes.h"

typedef struct gw_metrics gw_metrics;

/* Returns a zeroed metrics set (backend_up 0), or NULL when out of memory.
 * Caller frees with gw_metrics_free. */
gw_metrics *gw_metrics_new(void);
void gw_metrics_free(gw_metrics *m);

/* A request started (in-flight + 1). */
void gw_metrics_begin(gw_metrics *m);

/* A request finished: in-flight - 1, counters and duration. method as MHD
 * passes it; status outside 100..599 counts as 599. */
void gw_metrics_end(gw_metrics *m, enum gw_route route, const char *method,
    int status, uint64_t duration_us);

/* An RPC finished with fs code (transport outcomes included); a reply
 * means the backend is up, UNAVAILABLE/DEADLINE_EXCEEDED without one
 * means it is not. */
void gw_metrics_rpc(gw_metrics *m, int code, int got_reply);

/* Requests in flight now. */
int64_t gw_metrics_in_flight(const gw_metrics *m);

/* Appends the text exposition format (version 0.0.4) to b. */
void gw_metrics_render(gw_metrics *m, gw_buf *b);

/* Appends the backend's Stats as backend_* series (st borrowed; NULL:
 * nothing, the backend did not answer). */
void gw_metrics_render_backend(gw_buf *b, const Flowsvc__StatsReply *st);

#endif
