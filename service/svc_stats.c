/*
 * svc_stats.c - the service's own reports: Health (is it up, does it take
 * changes, its role and revision) and Stats (counters for /metrics), read
 * from the store, the persistence, replication and failover state.
 */
#include "access.h"
#include "batch.h"
#include "fs_errors.h"
#include "fs_log.h"
#include "fs_methods.h"
#include "fs_srv_tlswatch.h"
#include "fs_util.h"
#include "listview.h"
#include "persist.h"
#include "repl.h"
#include "repl_sync.h"
#include "store.h"
#include "svc.h"
#include "svc_int.h"
#include "svc_struct.h"
#include "svc_wait.h"
#include "svc_watch.h"
#include "terms.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
svc_h_health(svc *s, const svc_req *q, svc_reply *r)
{
	Flowsvc__HealthReply h = FLOWSVC__HEALTH_REPLY__INIT;
	char why[768];

	h.status = "ok";
	if (s->disk != NULL) {
		h.has_writable = 1;
		h.writable = persist_writable(s->disk, why, sizeof(why)) != 0;
		if (!h.writable)
			h.write_error = why;
	}
	pthread_rwlock_rdlock(&s->lock);
	h.has_flows = h.has_apps = h.has_uptime_s = 1;
	h.flows = store_count(s->st, FLOWSVC__KIND__FLOW);
	h.apps = store_count(s->st, FLOWSVC__KIND__APP);
	svc_note_revision(s, r);
	pthread_rwlock_unlock(&s->lock);
	h.has_revision = 1;
	h.revision = r->revision;
	h.uptime_s = (uint64_t) ((fs_now_us() - s->started_us) / 1000000);
	repl_status rs;
	svc_repl_fields(s, &rs, &h.role, &h.has_term, &h.term, &h.primary,
	    &h.has_lag_revisions, &h.lag_revisions, &h.has_lag_ms, &h.lag_ms);
	h.has_accepts_changes = 1;
	h.accepts_changes = svc_accepts_changes(s) != 0;
	h.coordinator = (char *) atomic_load(&s->coord_state);
	svc_reply_msg(r, &h.base);
	return 0;
}

int
svc_h_stats(svc *s, const svc_req *q, svc_reply *r)
{
	Flowsvc__StatsReply st = FLOWSVC__STATS_REPLY__INIT;
	Flowsvc__MethodCount rows[FS_METHOD_LIMIT * FS_CODE_COUNT];
	Flowsvc__MethodCount *ptrs[FS_METHOD_LIMIT * FS_CODE_COUNT];
	persist_stats ps;
	size_t n = 0;

	pthread_rwlock_rdlock(&s->lock);
	st.flows = store_count(s->st, FLOWSVC__KIND__FLOW);
	st.apps = store_count(s->st, FLOWSVC__KIND__APP);
	svc_note_revision(s, r);
	pthread_rwlock_unlock(&s->lock);
	st.has_revision = 1;
	st.revision = r->revision;
	st.has_watches = 1;
	st.watches = svc_watch_parked(s->watch);
	st.has_waiting = 1;
	st.waiting = svc_wait_count(s->waiter);
	st.has_uptime_s = 1;
	st.uptime_s = (uint64_t) ((fs_now_us() - s->started_us) / 1000000);
	if (s->disk != NULL) {
		persist_get_stats(s->disk, &ps);
		st.has_log_bytes = st.has_log_generation = 1;
		st.has_changes_since_snapshot = st.has_last_snapshot_unix_us =
		    1;
		st.has_last_snapshot_duration_us = st.has_fsyncs = 1;
		st.has_fsync_total_us = st.has_fsync_max_us = 1;
		st.has_disk_error = 1;
		st.has_log_append_failures = st.has_log_sync_failures = 1;
		st.has_writable = st.has_data_dir_lost = 1;
		st.log_append_failures = ps.append_failures;
		st.log_sync_failures = ps.sync_failures;
		st.writable = ps.writable != 0;
		st.data_dir_lost = ps.lost != 0;
		if (!ps.writable)
			st.write_error = ps.why;
		st.log_bytes = ps.log_bytes;
		st.log_generation = ps.generation;
		st.changes_since_snapshot = ps.changes_since_snapshot;
		st.last_snapshot_unix_us = ps.last_snapshot_us;
		st.last_snapshot_duration_us = ps.last_snapshot_dur_us;
		st.fsyncs = ps.fsyncs;
		st.fsync_total_us = ps.fsync_total_us;
		st.fsync_max_us = ps.fsync_max_us;
		st.disk_error = ps.disk_error != 0;
	}
	for (int m = 0; m < FS_METHOD_LIMIT; m++) {
		for (int c = 0; c < FS_CODE_COUNT; c++) {
			uint64_t v = atomic_load_explicit(&s->counts[m][c],
			    memory_order_relaxed);
			if (v == 0)
				continue;
			flowsvc__method_count__init(&rows[n]);
			rows[n].method = (Flowsvc__Method) m;
			rows[n].code = (Flowsvc__Code) c;
			rows[n].count = v;
			ptrs[n] = &rows[n];
			n++;
		}
	}
	st.n_requests = n;
	st.requests = ptrs;
	st.has_tls_refused = 1;
	st.tls_refused = fs_srv_tls_refused();
	st.has_tls_listener_restarts = 1;
	st.tls_listener_restarts = fs_tls_watch_restarts();
	repl_status rs;
	svc_repl_fields(s, &rs, &st.role, &st.has_term, &st.term, &st.primary,
	    &st.has_lag_revisions, &st.lag_revisions, &st.has_lag_ms,
	    &st.lag_ms);
	if (rs.primary != NULL) {
		st.has_forwarded = st.has_replicated_records = 1;
		st.has_bootstraps = 1;
		st.forwarded = rs.forwarded;
		st.replicated_records = rs.records;
		st.bootstraps = rs.bootstraps;
	}
	if (s->rsrv != NULL) {
		st.has_followers = 1;
		st.followers = repl_srv_followers(s->rsrv);
	}
	if (s->sync != NULL) {
		st.has_sync_replicas = st.has_sync_followers = 1;
		st.has_sync_timeouts = 1;
		st.sync_replicas = repl_sync_n(s->sync);
		st.sync_followers = repl_sync_connected(s->sync);
		st.sync_timeouts = repl_sync_timeouts(s->sync);
	}
	if ((st.coordinator = (char *) atomic_load(&s->coord_state)) != NULL) {
		st.has_elections_won = st.has_step_downs = 1;
		st.elections_won = atomic_load(&s->won);
		st.step_downs = atomic_load(&s->step_downs);
	}
	svc_reply_msg(r, &st.base);
	return 0;
}
