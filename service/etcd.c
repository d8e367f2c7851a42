/*
 * etcd.c - etcd v3 over its JSON gateway (etcd.h).
 *
 * Each call is one POST of a JSON body to /v3/...; the answer is one
 * JSON object, except for /v3/watch, which streams one object per line
 * for as long as the watch lasts: its first says the watch was created,
 * the next ones carry events. A watch call reads lines as they come and
 * stops the transfer at the first event (or when its wait ends), so it
 * is a long poll on one key.
 *
 * etcd's JSON carries 64-bit integers as strings, and omits fields of
 * their zero value (a false "succeeded", a lease's TTL of 0).
 */
#include "etcd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#define ETCD_MEMBERS_MAX 16
#define ETCD_ANSWER_MAX (16u << 20) /* bytes of one answer */

struct etcd {
	CURL *c;
	char *members[ETCD_MEMBERS_MAX]; /* "HOST:PORT" */
	size_t nmembers, cur;            /* cur: the member that answered */
	int timeout_ms;
	char err[512];
	int64_t revision;
	/* The answer being read. */
	char *buf;
	size_t len, cap;
	int overflow;
	/* A watch's stream: lines looked at so far, what they said. */
	int watching;
	size_t scanned;
	int created, changed, refused;
};

static void
seterr(etcd *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
}

const char *
etcd_error(const etcd *e)
{
	return e->err;
}

int64_t
etcd_revision(const etcd *e)
{
	return e->revision;
}

int
etcd_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void
etcd_global_fini(void)
{
	curl_global_cleanup();
}

void
etcd_kv_fini(etcd_kv *kv)
{
	if (kv == NULL)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void
etcd_kvs_free(etcd_kv *kvs, size_t n)
{
	for (size_t i = 0; kvs != NULL && i < n; i++)
		etcd_kv_fini(&kvs[i]);
	free(kvs);
}

/* ---- base64 (RFC 4648, padded), as etcd's JSON carries bytes ---------- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* b (n bytes) in base64: allocated, NUL-terminated; NULL when out of
 * memory. */
static char *
b64_enc(const void *b, size_t n)
{
	const unsigned char *p = b;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned) p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned) p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int
b64_val(char c)
{
	const char *p = c != '\0' ? strchr(b64, c) : NULL;

	return p != NULL ? (int) (p - b64) : -1;
}

/* s decoded: allocated, NUL-terminated, its length in *n; NULL when it
 * is not base64 or out of memory. */
static char *
b64_dec(const char *s, size_t *n)
{
	size_t len = strlen(s);
	char *out = malloc(len / 4 * 3 + 3);
	unsigned v = 0;
	int bits = 0;

	if (out == NULL)
		return NULL;
	*n = 0;
	for (size_t i = 0; i < len && s[i] != '='; i++) {
		int d = b64_val(s[i]);
		if (d < 0) {
			free(out);
			return NULL;
		}
		v = (v << 6) | (unsigned) d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[(*n)++] = (char) ((v >> bits) & 0xff);
		}
	}
	out[*n] = '\0';
	return out;
}

/* ---- JSON helpers -------------------------------------------------------- */

/* o[key] as an integer: etcd sends int64 as strings; absent is 0. */
static int64_t
jint(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return (int64_t) json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

/* A string member holding an int64, as etcd wants them. */
static int
jset_int(json_t *o, const char *key, int64_t v)
{
	char b[32];

	snprintf(b, sizeof(b), "%lld", (long long) v);
	return json_object_set_new(o, key, json_string(b));
}

/* A string member holding s in base64. */
static int
jset_b64(json_t *o, const char *key, const char *s, size_t n)
{
	char *b = b64_enc(s, n);
	int rv = b != NULL ? json_object_set_new(o, key, json_string(b)) : -1;

	free(b);
	return rv;
}

/* One kv of an answer into kv. 0 or -1 (malformed, out of memory). */
static int
kv_from(const json_t *j, etcd_kv *kv)
{
	const char *k = json_string_value(json_object_get(j, "key"));
	const char *v = json_string_value(json_object_get(j, "value"));
	size_t kn;

	memset(kv, 0, sizeof(*kv));
	if (k == NULL || (kv->key = b64_dec(k, &kn)) == NULL ||
	    (kv->value = b64_dec(v != NULL ? v : "", &kv->vlen)) == NULL) {
		etcd_kv_fini(kv);
		return -1;
	}
	kv->create_rev = jint(j, "create_revision");
	kv->mod_rev = jint(j, "mod_revision");
	kv->lease = jint(j, "lease");
	return 0;
}

static void
note_header(etcd *e, const json_t *o)
{
	json_t *h = json_object_get(o, "header");

	if (h != NULL && jint(h, "revision") > 0)
		e->revision = jint(h, "revision");
}

/* ---- the transport ------------------------------------------------------- */

/* A watch's lines so far: notes creation, events and refusals. Returns
 * 1 when the transfer can stop (an event came, or a refusal). */
static int
watch_scan(etcd *e)
{
	char *nl;

	while ((nl = memchr(e->buf + e->scanned, '\n', e->len - e->scanned)) !=
	    NULL) {
		json_error_t je;
		json_t *o = json_loadb(e->buf + e->scanned,
		    (size_t) (nl - (e->buf + e->scanned)), 0, &je);
		json_t *r = json_object_get(o, "result");
		e->scanned = (size_t) (nl - e->buf) + 1;
		if (o == NULL || r == NULL) {
			/* An error object: say it, stop. */
			seterr(e, "watch: %s",
			    o != NULL &&
			            json_string_value(
			                json_object_get(o, "message")) != NULL
			        ? json_string_value(
			              json_object_get(o, "message"))
			        : "an answer that is not JSON");
			e->refused = 1;
			json_decref(o);
			return 1;
		}
		note_header(e, r);
		if (json_is_true(json_object_get(r, "created")))
			e->created = 1;
		/* Events, or the watch cancelled (a compacted revision):
		 * either way the caller reads the key again. */
		if (json_array_size(json_object_get(r, "events")) > 0 ||
		    json_is_true(json_object_get(r, "canceled")) ||
		    jint(r, "compact_revision") > 0)
			e->changed = 1;
		json_decref(o);
		if (e->changed)
			return 1;
	}
	return 0;
}

static size_t
on_data(char *p, size_t sz, size_t nm, void *arg)
{
	etcd *e = arg;
	size_t n = sz * nm;

	if (e->len + n + 1 > ETCD_ANSWER_MAX) {
		e->overflow = 1;
		return 0;
	}
	if (e->len + n + 1 > e->cap) {
		size_t cap = e->cap ? e->cap : 4096;
		while (cap < e->len + n + 1)
			cap *= 2;
		char *b = realloc(e->buf, cap);
		if (b == NULL)
			return 0;
		e->buf = b;
		e->cap = cap;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
	e->buf[e->len] = '\0';
	if (e->watching && watch_scan(e))
		return 0; /* stops the transfer: the caller has its answer */
	return n;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* POSTs body to path on one member after another (from the last that
 * answered) until one answers 200 with a JSON object that is no error;
 * *out gets it (caller decrefs). A watch (watching set) is answered by
 * watch_scan instead, and *out is NULL. timeout_ms per member; a watch's
 * timeout_ms is its whole wait, shared by the members it tries (so a
 * member that takes the connection and never answers cannot make the
 * caller wait twice). When no member answers, the next call starts with
 * the one after the last tried. */
static int
post(etcd *e, const char *path, json_t *body, int timeout_ms, json_t **out)
{
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	struct curl_slist *hdr = NULL;
	int64_t deadline = mono_ms() + timeout_ms;
	size_t last = e->cur;
	int ok = 0;

	*out = NULL;
	if (text == NULL ||
	    (hdr = curl_slist_append(NULL,
	         "Content-Type: application/json")) == NULL) {
		free(text);
		seterr(e, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < e->nmembers && !ok; i++) {
		size_t m = (e->cur + i) % e->nmembers;
		char url[320];
		long status = 0;
		long tmo = timeout_ms;
		CURLcode rc;

		if (e->watching) {
			int64_t left = deadline - mono_ms();
			if (i > 0 && left < 1)
				break;
			tmo = left < 1 ? 1 : (long) left;
		}
		last = m;

		snprintf(url, sizeof(url), "http://%s%s", e->members[m], path);
		e->len = 0;
		e->overflow = 0;
		e->scanned = 0;
		e->created = e->changed = e->refused = 0;
		curl_easy_reset(e->c);
		if (curl_easy_setopt(e->c, CURLOPT_URL, url) != CURLE_OK ||
		    curl_easy_setopt(e->c, CURLOPT_POSTFIELDS, text) !=
		        CURLE_OK ||
		    curl_easy_setopt(e->c, CURLOPT_HTTPHEADER, hdr) !=
		        CURLE_OK ||
		    curl_easy_setopt(e->c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
		    curl_easy_setopt(e->c, CURLOPT_TIMEOUT_MS, tmo) !=
		        CURLE_OK ||
		    curl_easy_setopt(e->c, CURLOPT_CONNECTTIMEOUT_MS,
		        tmo < 1000 ? tmo : 1000L) != CURLE_OK ||
		    curl_easy_setopt(e->c, CURLOPT_WRITEFUNCTION, on_data) !=
		        CURLE_OK ||
		    curl_easy_setopt(e->c, CURLOPT_WRITEDATA, e) != CURLE_OK) {
			seterr(e, "curl options refused");
			break;
		}
		rc = curl_easy_perform(e->c);
		if (curl_easy_getinfo(e->c, CURLINFO_RESPONSE_CODE, &status) !=
		    CURLE_OK)
			status = 0;
		if (e->watching) {
			/* Stopped by watch_scan, or the wait ended with the
			 * watch in place: an answer either way. */
			if (e->refused)
				continue;
			if ((e->changed && rc == CURLE_WRITE_ERROR) ||
			    (e->created && rc == CURLE_OPERATION_TIMEDOUT)) {
				ok = 1;
				e->cur = m;
				break;
			}
			seterr(e, "%s: %s", e->members[m],
			    rc != CURLE_OK ? curl_easy_strerror(rc)
			                   : "the watch ended");
			continue;
		}
		if (rc != CURLE_OK) {
			seterr(e, "%s: %s", e->members[m],
			    e->overflow ? "answer too large"
			                : curl_easy_strerror(rc));
			continue;
		}
		json_error_t je;
		json_t *o =
		    json_loadb(e->buf != NULL ? e->buf : "", e->len, 0, &je);
		const char *msg =
		    json_string_value(json_object_get(o, "message"));
		if (msg == NULL)
			msg = json_string_value(json_object_get(o, "error"));
		if (status != 200 || !json_is_object(o) || msg != NULL) {
			seterr(e, "%s%s: HTTP %ld: %s", e->members[m], path,
			    status,
			    msg != NULL     ? msg
			        : o == NULL ? "an answer that is not JSON"
			                    : "an error");
			json_decref(o);
			continue;
		}
		note_header(e, o);
		*out = o;
		e->cur = m;
		ok = 1;
	}
	if (!ok)
		e->cur = (last + 1) % e->nmembers;
	curl_slist_free_all(hdr);
	free(text);
	return ok ? 0 : -1;
}

/* post() with the handle's timeout, taking body. */
static int
call(etcd *e, const char *path, json_t *body, json_t **out)
{
	int rv;

	if (body == NULL) {
		seterr(e, "out of memory");
		return -1;
	}
	rv = post(e, path, body, e->timeout_ms, out);
	json_decref(body);
	return rv;
}

/* ---- the handle ---------------------------------------------------------- */

int
etcd_open(etcd **out, const char *spec, int timeout_ms, char *err, size_t n)
{
	const char *p =
	    spec != NULL && strncmp(spec, "etcd://", 7) == 0 ? spec + 7 : NULL;
	etcd *e;

	if (p == NULL || *p == '\0') {
		snprintf(err, n, "%s: not etcd://HOST:PORT[,HOST:PORT...]",
		    spec != NULL ? spec : "(none)");
		return -1;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		snprintf(err, n, "out of memory");
		return -1;
	}
	e->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		const char *colon = memchr(p, ':', len);
		if (len == 0 || len > 255 || colon == NULL || colon == p ||
		    colon + 1 == p + len ||
		    strspn(colon + 1, "0123456789") <
		        (size_t) (p + len - colon - 1) ||
		    e->nmembers == ETCD_MEMBERS_MAX) {
			snprintf(err, n,
			    "%s: not etcd://HOST:PORT[,HOST:PORT...] (at "
			    "most %d members)",
			    spec, ETCD_MEMBERS_MAX);
			etcd_close(e);
			return -1;
		}
		if ((e->members[e->nmembers] = strndup(p, len)) == NULL) {
			snprintf(err, n, "out of memory");
			etcd_close(e);
			return -1;
		}
		e->nmembers++;
		p += len;
		if (*p == ',')
			p++;
	}
	if ((e->c = curl_easy_init()) == NULL) {
		snprintf(err, n, "cannot start libcurl");
		etcd_close(e);
		return -1;
	}
	*out = e;
	return 0;
}

void
etcd_close(etcd *e)
{
	if (e == NULL)
		return;
	if (e->c != NULL)
		curl_easy_cleanup(e->c);
	for (size_t i = 0; i < e->nmembers; i++)
		free(e->members[i]);
	free(e->buf);
	free(e);
}

/* ---- the calls ----------------------------------------------------------- */

int
etcd_grant(etcd *e, int ttl, int64_t *lease)
{
	json_t *b = json_object(), *o;

	if (b != NULL && jset_int(b, "TTL", ttl) != 0) {
		json_decref(b);
		b = NULL;
	}
	if (call(e, "/v3/lease/grant", b, &o) != 0)
		return -1;
	*lease = jint(o, "ID");
	json_decref(o);
	if (*lease == 0) {
		seterr(e, "lease grant: no lease in the answer");
		return -1;
	}
	return 0;
}

int
etcd_keepalive(etcd *e, int64_t lease, int64_t *ttl)
{
	json_t *b = json_object(), *o;

	if (b != NULL && jset_int(b, "ID", lease) != 0) {
		json_decref(b);
		b = NULL;
	}
	if (call(e, "/v3/lease/keepalive", b, &o) != 0)
		return -1;
	/* {"result": {"ID", "TTL"}}: no TTL when the lease is gone. */
	*ttl = jint(json_object_get(o, "result"), "TTL");
	json_decref(o);
	return 0;
}

int
etcd_revoke(etcd *e, int64_t lease)
{
	json_t *b = json_object(), *o;

	if (b != NULL && jset_int(b, "ID", lease) != 0) {
		json_decref(b);
		b = NULL;
	}
	if (call(e, "/v3/lease/revoke", b, &o) != 0)
		return -1;
	json_decref(o);
	return 0;
}

/* {"key", "value", "lease"} of a put. NULL when out of memory. */
static json_t *
put_of(const char *key, const char *value, int64_t lease)
{
	json_t *p = json_object();

	if (p == NULL || jset_b64(p, "key", key, strlen(key)) != 0 ||
	    jset_b64(p, "value", value, strlen(value)) != 0 ||
	    (lease != 0 && jset_int(p, "lease", lease) != 0)) {
		json_decref(p);
		return NULL;
	}
	return p;
}

/* A compare of key's create revision with rev. */
static json_t *
cmp_created(const char *key, int64_t rev)
{
	json_t *c = json_object();

	if (c == NULL || jset_b64(c, "key", key, strlen(key)) != 0 ||
	    json_object_set_new(c, "target", json_string("CREATE")) != 0 ||
	    json_object_set_new(c, "result", json_string("EQUAL")) != 0 ||
	    jset_int(c, "create_revision", rev) != 0) {
		json_decref(c);
		return NULL;
	}
	return c;
}

/* A request_range (or request_delete_range) of one key. */
static json_t *
op_key(const char *op, const char *key)
{
	json_t *r = json_object(), *w = json_object();

	if (r == NULL || w == NULL ||
	    jset_b64(r, "key", key, strlen(key)) != 0 ||
	    json_object_set_new(w, op, r) != 0) {
		json_decref(w);
		return NULL;
	}
	return w;
}

/* A transaction: if key's create revision is rev, then do `then`, else
 * read the key. Takes then. */
static json_t *
txn_of(const char *key, int64_t rev, json_t *then)
{
	json_t *t = json_object(), *cmp = json_array(), *ok = json_array(),
	       *no = json_array();

	if (t == NULL || cmp == NULL || ok == NULL || no == NULL) {
		json_decref(t);
		json_decref(cmp);
		json_decref(ok);
		json_decref(no);
		json_decref(then);
		return NULL;
	}
	/* The _new setters take their value even when they fail: from here
	 * on everything is t's. */
	int bad = json_array_append_new(ok, then) != 0;
	bad |= json_object_set_new(t, "compare", cmp) != 0;
	bad |= json_object_set_new(t, "success", ok) != 0;
	bad |= json_object_set_new(t, "failure", no) != 0;
	if (bad || json_array_append_new(cmp, cmp_created(key, rev)) != 0 ||
	    json_array_append_new(no, op_key("request_range", key)) != 0) {
		json_decref(t);
		return NULL;
	}
	return t;
}

int
etcd_create(etcd *e, const char *key, const char *value, int64_t lease,
    int *created, etcd_kv *cur)
{
	json_t *put = put_of(key, value, lease), *w = json_object(), *o;

	if (put == NULL || w == NULL ||
	    json_object_set_new(w, "request_put", put) != 0) {
		json_decref(w);
		seterr(e, "out of memory");
		return -1;
	}
	if (call(e, "/v3/kv/txn", txn_of(key, 0, w), &o) != 0)
		return -1;
	*created = json_is_true(json_object_get(o, "succeeded"));
	json_decref(o);
	if (cur == NULL)
		return 0;
	/* The key as it is now: a put's answer does not carry it. */
	int found = 0;
	if (etcd_get(e, key, &found, cur) != 0)
		return -1;
	if (!found) {
		seterr(e, "%s: gone right after the transaction", key);
		return -1;
	}
	return 0;
}

int
etcd_put(etcd *e, const char *key, const char *value, int64_t lease)
{
	json_t *o;

	if (call(e, "/v3/kv/put", put_of(key, value, lease), &o) != 0)
		return -1;
	json_decref(o);
	return 0;
}

int
etcd_get(etcd *e, const char *key, int *found, etcd_kv *kv)
{
	json_t *b = json_object(), *o;

	if (b != NULL && jset_b64(b, "key", key, strlen(key)) != 0) {
		json_decref(b);
		b = NULL;
	}
	if (call(e, "/v3/kv/range", b, &o) != 0)
		return -1;
	json_t *kvs = json_object_get(o, "kvs");
	*found = json_array_size(kvs) > 0;
	int rv = *found ? kv_from(json_array_get(kvs, 0), kv) : 0;
	json_decref(o);
	if (rv != 0)
		seterr(e, "%s: a key etcd answered is malformed", key);
	return rv;
}

int
etcd_get_prefix(etcd *e, const char *prefix, etcd_kv **kvs, size_t *n)
{
	size_t plen = strlen(prefix);
	char *end = malloc(plen + 1);
	json_t *b = json_object(), *o;

	*kvs = NULL;
	*n = 0;
	if (end == NULL || b == NULL || plen == 0) {
		free(end);
		json_decref(b);
		seterr(e, plen == 0 ? "an empty prefix" : "out of memory");
		return -1;
	}
	/* range_end: the prefix with its last byte + 1 (the prefixes here
	 * end in '/', never 0xff). */
	memcpy(end, prefix, plen + 1);
	end[plen - 1]++;
	int bad = jset_b64(b, "key", prefix, plen) != 0 ||
	    jset_b64(b, "range_end", end, plen) != 0;
	free(end);
	if (bad) {
		json_decref(b);
		b = NULL;
	}
	if (call(e, "/v3/kv/range", b, &o) != 0)
		return -1;
	json_t *a = json_object_get(o, "kvs");
	size_t cnt = json_array_size(a);
	if (cnt > 0 && (*kvs = calloc(cnt, sizeof(**kvs))) == NULL) {
		json_decref(o);
		seterr(e, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cnt; i++) {
		if (kv_from(json_array_get(a, i), &(*kvs)[i]) != 0) {
			etcd_kvs_free(*kvs, i);
			*kvs = NULL;
			json_decref(o);
			seterr(e, "%s: a key etcd answered is malformed",
			    prefix);
			return -1;
		}
		*n = i + 1;
	}
	json_decref(o);
	return 0;
}

int
etcd_delete(etcd *e, const char *key, int64_t create_rev, int *deleted)
{
	json_t *o;
	int rv;

	if (create_rev > 0) {
		rv = call(e, "/v3/kv/txn",
		    txn_of(key, create_rev,
		        op_key("request_delete_range", key)),
		    &o);
		if (rv == 0 && deleted != NULL)
			*deleted =
			    json_is_true(json_object_get(o, "succeeded"));
	} else {
		json_t *b = json_object();
		if (b != NULL && jset_b64(b, "key", key, strlen(key)) != 0) {
			json_decref(b);
			b = NULL;
		}
		rv = call(e, "/v3/kv/deleterange", b, &o);
		if (rv == 0 && deleted != NULL)
			*deleted = jint(o, "deleted") > 0;
	}
	if (rv == 0)
		json_decref(o);
	return rv;
}

int
etcd_watch(etcd *e, const char *key, int64_t from_rev, int wait_ms,
    int *changed)
{
	json_t *b = json_object(), *cr = json_object(), *o = NULL;
	int rv;

	*changed = 0;
	if (b == NULL || cr == NULL ||
	    jset_b64(cr, "key", key, strlen(key)) != 0 ||
	    (from_rev > 0 && jset_int(cr, "start_revision", from_rev) != 0) ||
	    json_object_set_new(b, "create_request", cr) != 0) {
		if (json_object_get(b, "create_request") == NULL)
			json_decref(cr);
		json_decref(b);
		seterr(e, "out of memory");
		return -1;
	}
	e->watching = 1;
	rv = post(e, "/v3/watch", b, wait_ms > 0 ? wait_ms : 1, &o);
	e->watching = 0;
	json_decref(b);
	json_decref(o);
	if (rv == 0)
		*changed = e->changed;
	return rv;
}
