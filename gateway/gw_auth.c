/*
 * gw_auth.c - tokens file, keyed-hash lookup, refcounted live table.
 *
 * A table owns one copy of the file's text: tokens and groups are cut out
 * of it in place (NUL-terminated), so the table is four allocations
 * besides itself whatever the number of tokens: the text, the entries
 * (with the Caller messages the RPC envelope borrows), the group pointers
 * and the open-addressing slots.
 */
#include "gw_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GROUP_MAX 100         /* CONTRACT §1 */
#define GROUPS_PER_TOKEN 1024 /* keeps the envelope and checks bounded */

struct entry {
	const char *tok;
	size_t len;
	uint64_t hash;
	unsigned line;
	size_t g0, ng; /* the token's groups: groups[g0 .. g0+ng) */
	bool all;
	Flowsvc__Caller caller;
	struct gw_grant grant;
};

struct gw_tokens {
	atomic_long refs;
	uint64_t k0, k1; /* SipHash key */
	char *text;
	struct entry *e;
	size_t n, cap_e;
	char **groups;
	size_t ng, cap_g;
	uint32_t *slot; /* entry index + 1; 0 is empty */
	size_t mask;
	size_t n_short;
};

/* ---- SipHash-2-4 --------------------------------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                              \
	do {                                                                  \
		v0 += v1;                                                     \
		v1 = ROTL(v1, 13);                                            \
		v1 ^= v0;                                                     \
		v0 = ROTL(v0, 32);                                            \
		v2 += v3;                                                     \
		v3 = ROTL(v3, 16);                                            \
		v3 ^= v2;                                                     \
		v0 += v3;                                                     \
		v3 = ROTL(v3, 21);                                            \
		v3 ^= v0;                                                     \
		v2 += v1;                                                     \
		v1 = ROTL(v1, 17);                                            \
		v1 ^= v2;                                                     \
		v2 = ROTL(v2, 32);                                            \
	} while (0)

static uint64_t
siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t m, b = (uint64_t) len << 56;
	size_t i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = 0;
		for (int k = 0; k < 8; k++)
			m |= (uint64_t) p[i + (size_t) k] << (8 * k);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t k = 0; k < left; k++)
		b |= (uint64_t) p[i + k] << (8 * k);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Equal or not, in a time that depends only on alen (the stored token's
 * length) and blen (the presented one's, which its sender knows). */
static bool
ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	volatile unsigned char acc = (unsigned char) (alen != blen);

	for (size_t i = 0; i < alen; i++) {
		unsigned char bc = i < blen ? (unsigned char) b[i] : 0;

		acc |= (unsigned char) ((unsigned char) a[i] ^ bc);
	}
	return acc == 0;
}

/* ---- parsing ------------------------------------------------------------- */

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9');
}

/* RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
 * "/" ) *"=" */
static bool
valid_token(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (is_alnum(s[i]) || strchr("-._~+/", s[i]) != NULL) &&
	    s[i] != '\0')
		i++;
	if (i == 0)
		return false;
	while (i < n && s[i] == '=')
		i++;
	return i == n;
}

static bool
valid_group(const char *s, size_t n)
{
	if (n == 0 || n > GROUP_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' &&
		    s[i] != '-')
			return false;
	return true;
}

/* A printable excerpt of s for a message (non-printables become '?'). */
static void
excerpt(char *out, size_t outlen, const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 4 < outlen; i++)
		out[k++] =
		    s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' ? s[i] : '?';
	if (k + 4 >= outlen && n > k) {
		out[k++] = '.';
		out[k++] = '.';
		out[k++] = '.';
	}
	out[k] = '\0';
}

static void
tokens_free(gw_tokens *t)
{
	if (t == NULL)
		return;
	free(t->text);
	free(t->e);
	free(t->groups);
	free(t->slot);
	free(t);
}

static int
random_key(uint64_t *k0, uint64_t *k1)
{
	unsigned char buf[16];
	size_t got = 0;

	while (got < sizeof(buf)) {
		ssize_t n = getrandom(buf + got, sizeof(buf) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t) n;
	}
	memcpy(k0, buf, 8);
	memcpy(k1, buf + 8, 8);
	return 0;
}

static int
grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need) {
		if (c > SIZE_MAX / 2 / size)
			return -1;
		c *= 2;
	}
	if ((q = realloc(*p, c * size)) == NULL)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

/* Parses one non-blank, non-comment line (NUL-terminated, in t->text) into
 * a new entry. Returns 0 or -1 with err. */
static int
parse_line(gw_tokens *t, char *s, unsigned line, char *err, size_t errlen)
{
	static const char expect[] = "expected \"TOKEN GROUP[,GROUP...]\" or "
	                             "\"TOKEN *\"";
	char *tok = s, *grp, *p;
	size_t tlen, glen;
	struct entry *e;

	while (*s && !is_blank(*s))
		s++;
	tlen = (size_t) (s - tok);
	while (is_blank(*s))
		*s++ = '\0';
	grp = s;
	while (*s && !is_blank(*s))
		s++;
	glen = (size_t) (s - grp);
	while (is_blank(*s))
		*s++ = '\0';
	/* Tokens are secrets: messages never quote them. */
	if (tlen > GW_TOKEN_MAX) {
		snprintf(err, errlen,
		    "line %u: the token is longer than %d characters", line,
		    GW_TOKEN_MAX);
		return -1;
	}
	if (!valid_token(tok, tlen)) {
		snprintf(err, errlen,
		    "line %u: the token may only hold letters, digits and "
		    "-._~+/ (then = padding)",
		    line);
		return -1;
	}
	if (glen == 0) {
		snprintf(err, errlen, "line %u: a token without groups (%s)",
		    line, expect);
		return -1;
	}
	if (*s != '\0') {
		snprintf(err, errlen, "line %u: more than two fields (%s)",
		    line, expect);
		return -1;
	}

	if (grow((void **) &t->e, &t->cap_e, t->n + 1, sizeof(*t->e)) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e = &t->e[t->n];
	memset(e, 0, sizeof(*e));
	e->tok = tok;
	e->len = tlen;
	e->line = line;
	e->g0 = t->ng;
	if (glen == 1 && grp[0] == '*') {
		e->all = true;
		t->n++;
		return 0;
	}
	for (p = grp;; p++) {
		char *end = strchr(p, ',');
		size_t n = end ? (size_t) (end - p) : strlen(p);
		char ex[48];

		if (end)
			*end = '\0';
		if (n == 0) {
			snprintf(err, errlen,
			    "line %u: an empty group name in "
			    "the list of groups",
			    line);
			return -1;
		}
		if (n == 1 && p[0] == '*') {
			snprintf(err, errlen,
			    "line %u: \"*\" (every group) must stand alone",
			    line);
			return -1;
		}
		if (!valid_group(p, n)) {
			excerpt(ex, sizeof(ex), p, n);
			snprintf(err, errlen,
			    "line %u: group \"%s\" is not 1-%d characters of "
			    "A-Z a-z 0-9 _ . -",
			    line, ex, GROUP_MAX);
			return -1;
		}
		for (size_t k = e->g0; k < t->ng; k++)
			if (strcasecmp(t->groups[k], p) == 0) {
				snprintf(err, errlen,
				    "line %u: group \"%s\" is listed twice",
				    line, p);
				return -1;
			}
		if (t->ng - e->g0 == GROUPS_PER_TOKEN) {
			snprintf(err, errlen, "line %u: more than %d groups",
			    line, GROUPS_PER_TOKEN);
			return -1;
		}
		if (grow((void **) &t->groups, &t->cap_g, t->ng + 1,
		        sizeof(*t->groups)) != 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		t->groups[t->ng++] = p;
		if (end == NULL)
			break;
		p = end;
	}
	e->ng = t->ng - e->g0;
	t->n++;
	return 0;
}

/* Builds the slots and the Caller messages once every line is in. */
static int
index_entries(gw_tokens *t, char *err, size_t errlen)
{
	size_t cap = 8;

	if (t->n > UINT32_MAX / 4) {
		snprintf(err, errlen, "too many tokens");
		return -1;
	}
	while (cap < 2 * t->n)
		cap *= 2;
	if ((t->slot = calloc(cap, sizeof(*t->slot))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->mask = cap - 1;
	for (size_t i = 0; i < t->n; i++) {
		struct entry *e = &t->e[i];
		size_t k;

		e->hash = siphash24(t->k0, t->k1, e->tok, e->len);
		for (k = e->hash & t->mask; t->slot[k] != 0;
		     k = (k + 1) & t->mask) {
			const struct entry *o = &t->e[t->slot[k] - 1];

			if (o->hash == e->hash && o->len == e->len &&
			    memcmp(o->tok, e->tok, e->len) == 0) {
				snprintf(err, errlen,
				    "line %u: the same token as line %u",
				    e->line, o->line);
				return -1;
			}
		}
		t->slot[k] = (uint32_t) (i + 1);

		if (e->len < GW_TOKEN_SHORT)
			t->n_short++;
		if (e->all) {
			e->grant.caller = NULL;
		} else {
			flowsvc__caller__init(&e->caller);
			e->caller.has_restricted = 1;
			e->caller.restricted = 1;
			e->caller.n_groups = e->ng;
			e->caller.groups = &t->groups[e->g0];
			e->grant.caller = &e->caller;
		}
	}
	return 0;
}

int
gw_tokens_parse(const char *text, size_t len, gw_tokens **out, char *err,
    size_t errlen)
{
	gw_tokens *t;
	unsigned line = 0;
	char *s, *end;

	*out = NULL;
	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errlen,
		    "the file holds a NUL byte; not a text "
		    "file");
		return -1;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->text = malloc(len + 1)) == NULL) {
		tokens_free(t);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	atomic_init(&t->refs, 1);
	if (random_key(&t->k0, &t->k1) != 0) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		tokens_free(t);
		return -1;
	}
	memcpy(t->text, text, len);
	t->text[len] = '\0';

	for (s = t->text, end = t->text + len; s < end; s++) {
		char *nl = memchr(s, '\n', (size_t) (end - s));
		char *eol = nl ? nl : end;
		char *c;

		line++;
		*eol = '\0';
		if (eol > s && eol[-1] == '\r')
			eol[-1] = '\0';
		while (is_blank(*s))
			s++;
		for (c = s; *c; c++)
			if ((unsigned char) *c < 0x20 && *c != '\t') {
				snprintf(err, errlen,
				    "line %u: a control character (0x%02x)",
				    line, (unsigned) (unsigned char) *c);
				tokens_free(t);
				return -1;
			}
		if (*s != '\0' && *s != '#' &&
		    parse_line(t, s, line, err, errlen) != 0) {
			tokens_free(t);
			return -1;
		}
		s = eol;
	}
	if (index_entries(t, err, errlen) != 0) {
		tokens_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int
gw_tokens_load(const char *path, gw_tokens **out, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, rv;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "fstat: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t c = cap ? cap * 2 : 4096;
			char *p;

			if (cap > GW_TOKENS_FILE_MAX) {
				snprintf(err, errlen, "larger than %u bytes",
				    GW_TOKENS_FILE_MAX);
				free(buf);
				close(fd);
				return -1;
			}
			if ((p = realloc(buf, c)) == NULL) {
				snprintf(err, errlen, "out of memory");
				free(buf);
				close(fd);
				return -1;
			}
			buf = p;
			cap = c;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "read: %s", strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t) n;
	}
	close(fd);
	if (len > GW_TOKENS_FILE_MAX) {
		snprintf(err, errlen, "larger than %u bytes",
		    GW_TOKENS_FILE_MAX);
		free(buf);
		return -1;
	}
	rv = gw_tokens_parse(buf ? buf : "", len, out, err, errlen);
	free(buf);
	return rv;
}

size_t
gw_tokens_count(const gw_tokens *t)
{
	return t->n;
}

size_t
gw_tokens_short(const gw_tokens *t)
{
	return t->n_short;
}

const struct gw_grant *
gw_tokens_lookup(const gw_tokens *t, const char *token, size_t len)
{
	uint64_t h;

	if (len == 0 || len > GW_TOKEN_MAX)
		return NULL;
	h = siphash24(t->k0, t->k1, token, len);
	for (size_t k = h & t->mask; t->slot[k] != 0; k = (k + 1) & t->mask) {
		const struct entry *e = &t->e[t->slot[k] - 1];

		/* A keyed 64-bit hash match is, short of the right token, a
		 * 2^-64 event; comparing the hash first keeps the probe
		 * sequence from touching other tokens' bytes. */
		if (e->hash == h && ct_equal(e->tok, e->len, token, len))
			return &e->grant;
	}
	return NULL;
}

enum gw_auth_result
gw_tokens_check(const gw_tokens *t, const char *authz,
    const struct gw_grant **grant)
{
	const char *p = authz;
	size_t n;

	*grant = NULL;
	if (p == NULL)
		return GW_AUTH_MISSING;
	while (is_blank(*p))
		p++;
	if (strncasecmp(p, "Bearer", 6) != 0 ||
	    (p[6] != '\0' && !is_blank(p[6])))
		return GW_AUTH_MISSING;
	p += 6;
	while (is_blank(*p))
		p++;
	n = strlen(p);
	while (n > 0 && is_blank(p[n - 1]))
		n--;
	if ((*grant = gw_tokens_lookup(t, p, n)) == NULL)
		return GW_AUTH_INVALID;
	return GW_AUTH_OK;
}

void
gw_tokens_release(const gw_tokens *ct)
{
	gw_tokens *t = (gw_tokens *) ct;

	if (t != NULL && atomic_fetch_sub(&t->refs, 1) == 1)
		tokens_free(t);
}

/* ---- the live table ------------------------------------------------------ */

struct gw_auth {
	_Atomic(gw_tokens *) cur;
	/* Acquirers between loading cur and taking their reference. All
	 * operations on cur and readers are seq_cst: a swap that reads 0
	 * here after its exchange knows that every acquirer that loaded the
	 * old pointer holds its reference by now. */
	atomic_long readers;
};

gw_auth *
gw_auth_new(gw_tokens *t)
{
	gw_auth *a = malloc(sizeof(*a));

	if (a == NULL) {
		gw_tokens_release(t);
		return NULL;
	}
	atomic_init(&a->cur, t);
	atomic_init(&a->readers, 0);
	return a;
}

const gw_tokens *
gw_auth_acquire(gw_auth *a)
{
	gw_tokens *t;

	atomic_fetch_add(&a->readers, 1);
	t = atomic_load(&a->cur);
	atomic_fetch_add(&t->refs, 1);
	atomic_fetch_sub(&a->readers, 1);
	return t;
}

void
gw_auth_swap(gw_auth *a, gw_tokens *t)
{
	gw_tokens *old = atomic_exchange(&a->cur, t);
	unsigned spins = 0;

	/* Each acquirer stays counted for a few instructions, so this ends
	 * at once in practice; past a burst of spins, back off politely. */
	while (atomic_load(&a->readers) != 0) {
		if (++spins < 1000) {
			sched_yield();
		} else {
			struct timespec ts = {0, 100000};

			nanosleep(&ts, NULL);
		}
	}
	gw_tokens_release(old);
}

void
gw_auth_free(gw_auth *a)
{
	if (a == NULL)
		return;
	gw_tokens_release(atomic_load(&a->cur));
	free(a);
}
