/*
 * svc_watch_log.c - the history's events: made from the store by the
 * write path, and from the change logs at start (svc_watch_rebuild).
 *
 * A record tells its change whole (flows.proto, LogRecord.component): a
 * put carries the component after the change, a delete or status record
 * the component with its status. A version 2 Component's version says
 * whether a put created it (1) or updated it. A record without what an
 * event needs (written before LogRecord.component existed) cannot become
 * one: the history then starts after it, so that a watch from before it
 * is refused (OUT_OF_RANGE), never served with a change missing.
 *
 * The groups of the flows an event's component uses are found in the
 * store (groups never change and ids are never reused), or, for a flow
 * deleted since, in the DELETED events of the history itself: a flow
 * that a change used existed then, so its deletion came later, and is in
 * the history too.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fs_errors.h"
#include "fs_pbwire.h"
#include "fs_util.h"
#include "htab.h"
#include "logreader.h"
#include "svc_watch_int.h"

/* ---- from the store ----------------------------------------------------- */

/* The flows of a component that lie in other groups than group, as
 * watch_use entries in *out (stackbuf when it has room, else allocated:
 * the caller frees *out when it is not stackbuf). Returns how many, or -1
 * when out of memory. */
static int64_t
foreign_of_put(const store *st, const Flowsvc__Component *c,
    watch_use *stackbuf, size_t room, watch_use **out)
{
	uint32_t n = 0;

	*out = stackbuf;
	if (c->n_flows > room &&
	    (*out = malloc(c->n_flows * sizeof(**out))) == NULL)
		return -1;
	for (size_t i = 0; i < c->n_flows; i++) {
		uint8_t id[16];
		store_comp *f = fs_uuid_parse(c->flows[i], id) == 0
		    ? store_get(st, id)
		    : NULL;
		const char *g = f != NULL ? store_comp_group(f) : "";
		if (strcasecmp(g, c->group) != 0) {
			(*out)[n].index = (uint32_t) i;
			(*out)[n].group = g;
			n++;
		}
	}
	return n;
}

watch_event *
svc_watch_event_put(const store *st, const Flowsvc__StoredComponent *put,
    const uint8_t *bytes, uint32_t len, int added, uint64_t revision)
{
	const Flowsvc__Component *c = put->component;
	watch_use stackbuf[16] = {{0, NULL}}, *uses;
	int64_t nf = foreign_of_put(st, c, stackbuf, 16, &uses);
	watch_event *ev = NULL;

	if (nf >= 0)
		ev = watch_event_new(added ? FLOWSVC__EVENT_TYPE__ADDED
		                           : FLOWSVC__EVENT_TYPE__MODIFIED,
		    revision, (int) c->kind, (int) put->status, c->group,
		    bytes, len, (uint32_t) c->n_flows, uses, (uint32_t) nf);
	if (uses != stackbuf)
		free(uses);
	return ev;
}

watch_event *
svc_watch_event_of(const store *st, const store_comp *c, int type, int status,
    uint64_t revision)
{
	uint32_t len, nuses = store_comp_nuses(c), n = 0;
	const uint8_t *bytes = store_comp_packed(c, &len);
	const char *group = store_comp_group(c);
	watch_use stackbuf[16], *uses = stackbuf;
	watch_event *ev;

	(void) st;
	if (nuses > 16 && (uses = malloc(nuses * sizeof(*uses))) == NULL)
		return NULL;
	for (uint32_t i = 0; i < nuses; i++) {
		const char *g = store_comp_group(store_comp_use(c, i));
		if (strcasecmp(g, group) != 0) {
			uses[n].index = i;
			uses[n].group = g;
			n++;
		}
	}
	ev = watch_event_new(type, revision, store_comp_kind(c), status, group,
	    bytes, len, nuses, n > 0 ? uses : NULL, n);
	if (uses != stackbuf)
		free(uses);
	return ev;
}

/* ---- from a log record -------------------------------------------------- */

/* StoredComponent's component bytes and status. Returns 0 or -1. */
static int
stored_scan(const uint8_t *b, size_t len, const uint8_t **comp, size_t *clen,
    int *status)
{
	const uint8_t *p = b, *e = b + len;
	fs_pb_field f;

	*comp = NULL;
	*status = 0;
	while (p < e) {
		if (fs_pb_next_field(&p, e, &f) != 0)
			return -1;
		if (f.num == 1 && f.wt == FS_PB_LEN) {
			*comp = f.data;
			*clen = (size_t) f.v;
		} else if (f.num == 2 && f.wt == FS_PB_VARINT) {
			*status = (int) f.v;
		}
	}
	return *comp != NULL ? 0 : -1;
}

/* The event of a packed LogRecord of revision rev. FS_OK with *out,
 * FS_NOT_FOUND when the record does not tell enough (see above), or
 * FS_RESOURCE_EXHAUSTED. */
static int
record_event(const uint8_t *b, size_t len, uint64_t rev, watch_event **out)
{
	const uint8_t *p = b, *e = b + len, *put = NULL, *stored = NULL;
	const uint8_t *comp;
	size_t put_len = 0, stored_len = 0, clen;
	int del = 0, change = 0, status, type;
	fs_pb_field f;
	watch_comp_info ci;
	char group[256];

	while (p < e) {
		if (fs_pb_next_field(&p, e, &f) != 0)
			return FS_NOT_FOUND;
		if (f.num == 1 && f.wt == FS_PB_LEN) {
			put = f.data;
			put_len = (size_t) f.v;
		} else if (f.num == 2 && f.wt == FS_PB_LEN) {
			del = 1;
		} else if (f.num == 3 && f.wt == FS_PB_LEN) {
			change = 1; /* its status is stored's too */
		} else if (f.num == 5 && f.wt == FS_PB_LEN) {
			stored = f.data;
			stored_len = (size_t) f.v;
		}
	}
	if (put != NULL) {
		if (stored_scan(put, put_len, &comp, &clen, &status) != 0)
			return FS_NOT_FOUND;
	} else if ((del || change) && stored != NULL) {
		if (stored_scan(stored, stored_len, &comp, &clen, &status) !=
		    0)
			return FS_NOT_FOUND;
	} else {
		return FS_NOT_FOUND;
	}
	if (watch_comp_scan(comp, clen, &ci, NULL, NULL) != 0 ||
	    ci.group_len >= sizeof(group) || clen > UINT32_MAX)
		return FS_NOT_FOUND;
	if (put != NULL)
		type = ci.version == 1 ? FLOWSVC__EVENT_TYPE__ADDED
		                       : FLOWSVC__EVENT_TYPE__MODIFIED;
	else if (del)
		type = FLOWSVC__EVENT_TYPE__DELETED;
	else
		type = FLOWSVC__EVENT_TYPE__STATUS;
	memcpy(group, ci.group, ci.group_len);
	group[ci.group_len] = '\0';
	*out = watch_event_new(type, rev, ci.kind, status, group, comp,
	    (uint32_t) clen, ci.nflows, NULL, 0);
	return *out != NULL ? FS_OK : FS_RESOURCE_EXHAUSTED;
}

/* ---- the groups of used flows, after a rebuild --------------------------- */

struct gone {
	htab_node node;
	uint8_t id[16];
	const char *group; /* the DELETED event's */
};

static uint64_t
id_hash(const uint8_t id[16])
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));
	return htab_mix64(h);
}

struct resolve {
	const store *st;
	htab *gone;
	const char *own;
	watch_use *uses;
	size_t n, cap;
	uint32_t index;
	int oom;
};

static void
resolve_flow(void *arg, const char *id, size_t n)
{
	struct resolve *r = arg;
	char text[FS_UUID_STRLEN + 1];
	uint8_t bin[16];
	const char *g = "";

	if (n == FS_UUID_STRLEN) {
		memcpy(text, id, n);
		text[n] = '\0';
		if (fs_uuid_parse(text, bin) == 0) {
			store_comp *c = store_get(r->st, bin);
			if (c != NULL) {
				g = store_comp_group(c);
			} else {
				for (htab_node *e =
				         htab_first(r->gone, id_hash(bin));
				     e != NULL; e = htab_next(e)) {
					struct gone *d =
					    htab_entry(e, struct gone, node);
					if (memcmp(d->id, bin, 16) == 0)
						g = d->group;
				}
			}
		}
	}
	uint32_t i = r->index++;
	if (strcasecmp(g, r->own) == 0)
		return;
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 16;
		watch_use *nu = realloc(r->uses, nc * sizeof(*nu));
		if (nu == NULL) {
			r->oom = 1;
			return;
		}
		r->uses = nu;
		r->cap = nc;
	}
	r->uses[r->n].index = i;
	r->uses[r->n].group = g; /* the store's or an event's: outlive us */
	r->n++;
}

/* Sets the foreign uses of every event rebuilt. FS_OK or
 * FS_RESOURCE_EXHAUSTED. */
static int
resolve_groups(watch_ring *ring, const store *st)
{
	uint64_t first = watch_ring_first(ring);
	struct gone *gone = NULL;
	size_t ngone = 0;
	struct resolve r = {st, NULL, NULL, NULL, 0, 0, 0, 0};
	htab t;
	int rv = FS_OK;

	if (htab_init(&t) != 0 ||
	    (ring->n > 0 && (gone = calloc(ring->n, sizeof(*gone))) == NULL)) {
		htab_fini(&t);
		return FS_RESOURCE_EXHAUSTED;
	}
	r.gone = &t;
	for (uint64_t rev = first; rev <= ring->last; rev++) {
		watch_event *ev = watch_ring_at(ring, rev);
		watch_comp_info ci;
		char text[FS_UUID_STRLEN + 1];
		if (ev->type != FLOWSVC__EVENT_TYPE__DELETED ||
		    watch_comp_scan(ev->data, ev->len, &ci, NULL, NULL) != 0 ||
		    ci.id_len != FS_UUID_STRLEN)
			continue;
		memcpy(text, ci.id, ci.id_len);
		text[ci.id_len] = '\0';
		if (fs_uuid_parse(text, gone[ngone].id) != 0)
			continue;
		gone[ngone].group = ev->group;
		gone[ngone].node.hash = id_hash(gone[ngone].id);
		htab_add(&t, &gone[ngone].node);
		ngone++;
	}
	for (uint64_t rev = first; rev <= ring->last && rv == FS_OK; rev++) {
		watch_event *ev = watch_ring_at(ring, rev);
		watch_comp_info ci;
		if (ev->nflows == 0)
			continue;
		r.own = ev->group;
		r.n = 0;
		r.index = 0;
		if (watch_comp_scan(ev->data, ev->len, &ci, resolve_flow,
		        &r) == 0 &&
		    (r.oom ||
		        watch_event_set_foreign(ev, r.uses, (uint32_t) r.n) !=
		            0))
			rv = FS_RESOURCE_EXHAUSTED;
	}
	free(r.uses);
	htab_fini(&t);
	free(gone);
	return rv;
}

/* ---- rebuilding from the logs ------------------------------------------- */

/* Reads the logs from revision next up to last into the ring. FS_OK or
 * FS_RESOURCE_EXHAUSTED; what cannot be read only shortens the history
 * (logged). snap: the loaded snapshot's revision (the logs after it
 * loaded, so were read once already; older ones were not). */
static int
read_logs(watch_ring *ring, persist *disk, uint64_t next, uint64_t last,
    uint64_t snap)
{
	while (next <= last) {
		logreader *rd;
		logreader_record rec;
		uint64_t gen, before = next;
		enum logreader_result lr = LOGREADER_ERROR;
		int rv = persist_log_open(disk, next, &rd, &gen);
		int opened = rv == FS_OK;

		if (rv == FS_RESOURCE_EXHAUSTED)
			return rv;
		if (opened) {
			lr = logreader_seek_revision(rd, next, LOGREADER_EOF,
			    &rec);
			while (lr == LOGREADER_RECORD &&
			    (lr = logreader_next(rd, LOGREADER_EOF, &rec)) ==
			        LOGREADER_RECORD &&
			    rec.revision <= last) {
				watch_event *ev;
				rv = record_event(rec.payload, rec.len,
				    rec.revision, &ev);
				if (rv == FS_RESOURCE_EXHAUSTED) {
					logreader_close(rd);
					return rv;
				}
				if (rv == FS_OK)
					watch_ring_push(ring, ev);
				else
					watch_ring_reset(ring, rec.revision);
				next = rec.revision + 1;
			}
			logreader_close(rd);
		}
		if (next > last || (lr == LOGREADER_END && next > before))
			continue;
		/* No way on from here in this log: a log older than the
		 * snapshot that is damaged or missing, or a gap. */
		uint64_t to = next <= snap ? snap : last;
		persist_say(persist_log_default, "warning",
		    "watch history: the change logs do not hold revision "
		    "%" PRIu64 " (%s); the history starts after revision "
		    "%" PRIu64,
		    next,
		    !opened                   ? "no log holds it"
		        : lr == LOGREADER_END ? "missing from its log"
		                              : "its log is damaged",
		    to);
		watch_ring_reset(ring, to);
		next = to + 1;
	}
	return FS_OK;
}

int
svc_watch_rebuild(svc_watch *w, persist *disk, const store *st)
{
	uint64_t snap, last;
	int64_t t0 = fs_now_us();
	int rv;

	persist_loaded(disk, &snap, &last);
	uint64_t want = last >= w->cap ? last - w->cap + 1 : 1;
	uint64_t oldest = persist_oldest_revision(disk);
	uint64_t from = want > oldest ? want : oldest;
	if (from > last + 1)
		from = last + 1;
	if ((rv = persist_retain(disk, "watch history", from, &w->holder)) !=
	    FS_OK)
		return rv == FS_OUT_OF_RANGE ? FS_OK : rv;
	w->disk = disk;
	w->holding = 1;
	w->held = from;
	pthread_mutex_lock(&w->mu);
	watch_ring_reset(&w->ring, from - 1);
	rv = read_logs(&w->ring, disk, from, last, snap);
	if (rv == FS_OK)
		rv = resolve_groups(&w->ring, st);
	if (rv == FS_OK && w->ring.last != last) /* nothing after a reset */
		watch_ring_reset(&w->ring, last);
	w->processed = w->ring.last;
	uint64_t first = watch_ring_first(&w->ring);
	size_t n = w->ring.n;
	pthread_mutex_unlock(&w->mu);
	if (rv == FS_OK && n > 0)
		persist_say(persist_log_default, "info",
		    "watch history: %zu changes (revisions %" PRIu64
		    "-%" PRIu64 ") read from the change logs in %.0f ms",
		    n, first, last, (double) (fs_now_us() - t0) / 1000.0);
	return rv;
}
