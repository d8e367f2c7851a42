/*
 * listview.h - lists of any size, paged from one consistent cut.
 *
 * A List that asks for pages (ListRequest.page_size or page_token, see
 * flows.proto) answers its first page at once and, when more components
 * match, a view of the rest: under the store's read lock, the first page
 * is copied out as bytes and the wire-form pointers of every later match
 * are copied into the view, in creation order, with limit and offset
 * already applied and the caller's groups already filtered (access.h:
 * components of other groups left out, references to hidden flows
 * re-encoded into copies the view owns). The view holds the store
 * (store_hold), so those wire forms stay valid after the lock is
 * released, whatever changes or deletes them meanwhile. It records the
 * revision of the cut and the total count. Later pages copy from the view
 * with no store lock at all: a list of a million components is consistent
 * at the revision it reports, however long it takes to read, and changes
 * wait for its cut only (a walk of the matches under the read lock), never
 * for its pages.
 *
 * Tokens: a view is found again by its token, 32 hex digits: a random
 * 64-bit view id and the position of the next page. The view is bound to
 * the caller (its restricted flag and groups) and to the request (kind,
 * filters, limit, offset), hashed with a per-process secret: another
 * caller's token is as unknown as an expired one, and a token sent with
 * other filters is refused. A token may be used again (a page read twice
 * is the same page) until the view ends.
 *
 * Lifetime: a view ends when its last page is read, when a caller ends it
 * (page_size 0 with its token), when it was not read for idle_ms, or when
 * the wire forms it keeps alive grow past max_pinned (then the oldest
 * views end first: retired memory is bounded whatever a slow reader does).
 * At most max_views are open; a new one past that replaces the least
 * recently read view idle for a second or more, else the list answers
 * UNAVAILABLE ("Too many lists in progress"). A sweeper thread ends idle
 * and over-pinning views once a second.
 *
 * Memory per view: 16 bytes per component after the first page (a
 * pointer, a length, a flag), the re-encoded copies of components whose
 * hidden references a restricted caller may not see, and, indirectly,
 * the wire forms that changes retire while it holds the store (counted by
 * store_retired_bytes, bounded by max_pinned over all views). A million
 * flows: 16 MB for the view.
 *
 * Thread-safe: one mutex for the set; entries are immutable once the view
 * is open, so pages are read outside it (a view being read is counted and
 * freed by its last reader).
 */
#ifndef SERVICE_LISTVIEW_H
#define SERVICE_LISTVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flows.pb-c.h"
#include "store.h"

/* The most components of one page, and its bytes of components. */
#define LISTVIEW_PAGE_MAX 10000u
#define LISTVIEW_PAGE_BYTES (1024u * 1024u)

#define LISTVIEW_DEFAULT_VIEWS 64u
#define LISTVIEW_DEFAULT_IDLE_MS 30000u
#define LISTVIEW_DEFAULT_PINNED ((size_t) 256 * 1024 * 1024)

/* A token's length, without its NUL. */
#define LISTVIEW_TOKEN_LEN 32

typedef struct listview_limits {
	uint32_t max_views; /* views open at once */
	uint32_t idle_ms;   /* a view not read for this long ends */
	size_t max_pinned;  /* retired bytes the views may keep alive */
} listview_limits;

typedef struct listview_set listview_set;
typedef struct listview listview;

/* Who asks for what: a view answers only the caller and the request it
 * was made for (see listview_key_of). */
typedef struct listview_key {
	uint64_t caller;
	uint64_t query;
} listview_key;

/* A set of views over st (borrowed: it must outlive the set), and its
 * sweeper thread. lim NULL: the defaults. Returns FS_OK or
 * FS_RESOURCE_EXHAUSTED; *out is the caller's (listview_set_free). */
int
listview_set_new(listview_set **out, store *st, const listview_limits *lim);

/* Stops the sweeper and ends every view (no page may be in progress). */
void listview_set_free(listview_set *vs);

/* The key of a List request m made by who. */
void listview_key_of(const listview_set *vs, const Flowsvc__Caller *who,
    const Flowsvc__ListRequest *m, listview_key *key);

/* ---- making a view: the cut --------------------------------------------- */

/* A new, empty view with room for about hint entries, or NULL when out of
 * memory. */
listview *listview_new(size_t hint);

/* Appends a component's wire form: bytes are the store's (kept alive by
 * listview_hold) or, when owned is not NULL, a copy the view now owns
 * (owned == bytes). Returns FS_OK, or FS_RESOURCE_EXHAUSTED (owned is
 * freed then). */
int
listview_add(listview *v, const uint8_t *bytes, uint32_t len, uint8_t *owned);

/* Holds the store for v: with the store's lock still held, after the last
 * listview_add. */
void listview_hold(listview_set *vs, listview *v);

/* Frees a view that was never opened (held or not). */
void listview_free(listview_set *vs, listview *v);

/* Whether a new view may be opened now (making room, see above): FS_OK or
 * FS_UNAVAILABLE. A check before the work of a cut; listview_open checks
 * again. */
int listview_room(listview_set *vs);

/* Opens v (held) for key, with the list's total and revision (has_rev 0:
 * none), and writes the token of its first entry. Returns FS_OK, or
 * FS_UNAVAILABLE when too many views are open (v is freed then). */
int listview_open(listview_set *vs, listview *v, const listview_key *key,
    uint64_t total, bool has_rev, uint64_t rev,
    char token[LISTVIEW_TOKEN_LEN + 1]);

/* ---- reading pages ------------------------------------------------------ */

/* The view token names, for key. Returns FS_OK with *v (read it, then
 * listview_done) and *pos, the index of the page's first entry;
 * FS_NOT_FOUND for a token that is malformed, expired, ended or another
 * caller's; FS_INVALID_ARGUMENT for one made for another request. */
int listview_find(listview_set *vs, const char *token, const listview_key *key,
    listview **v, size_t *pos);

size_t listview_count(const listview *v);
const uint8_t *listview_entry(const listview *v, size_t i, uint32_t *len);
uint64_t listview_total(const listview *v);
bool listview_revision(const listview *v, uint64_t *rev);

/* Done reading v up to entry pos (exclusive). Returns 1 with the token of
 * the next page in token, or 0 when pos is the end (the view ends). */
int listview_done(listview_set *vs, listview *v, size_t pos,
    char token[LISTVIEW_TOKEN_LEN + 1]);

/* Ends v early (page_size 0 with its token), found by listview_find. */
void listview_close(listview_set *vs, listview *v);

/* Ends every idle and over-pinning view now (what the sweeper does each
 * tick): for tests. Returns how many ended. */
size_t listview_sweep(listview_set *vs);

/* Views open now (for tests and logs). */
size_t listview_open_count(listview_set *vs);

#endif
