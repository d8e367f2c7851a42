/*
 * fuzz_gw_request.c - the gateway's pure request path: route matching,
 * query and body (JSON) to the RPC request message, and the reply back to
 * JSON.
 *
 * Input: one byte of method, then lines (path, limit, offset,
 * name__iexact, content type), then the body. The same bytes, read as an
 * encoded Reply, also go through gw_api_render for the matched route, so
 * both directions of the mapping see hostile input. The path also goes
 * through the raw-target check, and the body, read as "name: value"
 * lines, through the framing rules. The limit and offset lines double as
 * If-Match and If-None-Match values (gw_cond, gw_api_if_match and the
 * render of a component), the content type as a --cors-origin.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_api.h"
#include "gw_cond.h"
#include "gw_cors.h"
#include "gw_framing.h"
#include "gw_routes.h"

static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD",
    "PATCH", "OPTIONS", "get"};

/* Takes the next line of [*p, end) into a new string (NULL at the end). */
static char *
next_line(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nl;
	size_t n;
	char *s;

	if (*p >= end)
		return NULL;
	nl = memchr(*p, '\n', (size_t) (end - *p));
	n = nl ? (size_t) (nl - *p) : (size_t) (end - *p);
	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, *p, n);
	s[n] = '\0';
	*p += n + (nl ? 1 : 0);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1, *end = data + size;
	char *path, *limit, *offset, *name, *ctype, *id = NULL;
	struct gw_match m;
	struct gw_query q;
	struct gw_rpc_req rr;
	struct gw_resp err = {0}, out = {0};
	struct gw_api_ctx ctx = {0, NULL};
	Flowsvc__Reply *reply;
	const char *method;
	char cors_err[256];
	int64_t version;

	if (size < 1)
		return 0;
	method = methods[data[0] % 8];
	path = next_line(&p, end);
	limit = next_line(&p, end);
	offset = next_line(&p, end);
	name = next_line(&p, end);
	ctype = next_line(&p, end);

	(void) gw_route_target_ok(path);
	gw_route_match(method, path ? path : "/", &m);
	if (m.id != NULL) {
		if ((id = malloc(m.id_len + 1)) == NULL)
			abort();
		memcpy(id, m.id, m.id_len);
		id[m.id_len] = '\0';
	}
	(void) gw_cond_if_match(limit, &version);
	(void) gw_cond_none_match(offset, (int64_t) size);
	if (ctype != NULL)
		(void) gw_cors_check(ctype, cors_err, sizeof(cors_err));
	ctx.if_none_match = offset;
	q.limit = limit;
	q.offset = offset;
	q.name_iexact = name;
	q.group_iexact = (data[0] & 0x80) ? name : NULL;
	memset(&rr, 0, sizeof(rr));
	if (m.http_status == 0 && m.action != GW_ACT_HEALTHZ &&
	    gw_api_prepare(&rr, &m, id, &q,
	        (data[0] & 0x40) ? ctype : "application/json",
	        (const char *) p, (size_t) (end - p), &err) == 0 &&
	    gw_api_if_match(&rr, &m, limit, &err) == 0 && rr.msg != NULL) {
		size_t n = protobuf_c_message_get_packed_size(rr.msg);
		uint8_t *buf = malloc(n ? n : 1);

		if (buf == NULL)
			abort();
		if (protobuf_c_message_pack(rr.msg, buf) != n)
			abort();
		free(buf);
	}
	ctx.nulls = rr.nulls;
	gw_rpc_req_fini(&rr);
	gw_resp_fini(&err);

	/* The body as header lines, split at the first colon (gw_framing
	 * borrows the strings until its verdict). */
	{
		size_t n = (size_t) (end - p);
		char *lines = malloc(n + 1), *line, *next;
		struct gw_framing f;

		if (lines == NULL)
			abort();
		memcpy(lines, p, n);
		lines[n] = '\0';
		gw_framing_init(&f);
		for (line = lines; line != NULL; line = next) {
			char *colon;

			if ((next = strchr(line, '\n')) != NULL)
				*next++ = '\0';
			if ((colon = strchr(line, ':')) != NULL)
				*colon = '\0';
			gw_framing_header(&f, line, colon ? colon + 1 : NULL);
		}
		(void) gw_framing_verdict(&f);
		free(lines);
	}

	/* The other direction: whatever the backend might send back. */
	reply = flowsvc__reply__unpack(NULL, size, data);
	if (reply != NULL) {
		gw_api_render(&out, &m, &ctx, (int) reply->code, reply);
		gw_resp_fini(&out);
		flowsvc__reply__free_unpacked(reply, NULL);
	}
	/* And a transport failure, with no reply at all. */
	gw_api_render(&out, &m, NULL, 14, NULL);
	gw_resp_fini(&out);

	free(id);
	free(path);
	free(limit);
	free(offset);
	free(name);
	free(ctype);
	return 0;
}
