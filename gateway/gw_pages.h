/*
 * gw_pages.h - libmicrohttpd's own error pages answered as JSON with
 * X-Request-Id (see gw_pages.c; the answers are gw_http_page's). Linked
 * into flow-gateway only.
 */
#ifndef GATEWAY_GW_PAGES_H
#define GATEWAY_GW_PAGES_H

/* 1 when libmicrohttpd's calls to MHD_queue_response reach this program's
 * override, 0 when its pages go out unchanged. */
int gw_pages_active(void);

#endif
