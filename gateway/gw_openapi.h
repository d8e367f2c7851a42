/*
 * gw_openapi.h - gateway/openapi.json, built into the program.
 *
 * The document is the repository's file byte for byte (embed.cmake turns it
 * into a C array at build time), so what GET /api/openapi.json serves and
 * what test_openapi checks against the routes can never drift apart.
 */
#ifndef GATEWAY_GW_OPENAPI_H
#define GATEWAY_GW_OPENAPI_H

#include <stddef.h>

/* The JSON text, NUL-terminated; gw_openapi_json_len excludes the NUL. */
extern const char gw_openapi_json[];
extern const size_t gw_openapi_json_len;

#endif
