/*
 * tl_ssefollow.c - an SSE client that follows a stream across ends and
 * reconnections (see tl_ssefollow.h).
 */
#include "tl_ssefollow.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tl_json.h"
#include "tl_sse.h"
#include "tl_time.h"

static void
take(fs_sse_follow *f, const fs_sse_event *ev)
{
	json_t *c = json_object_get(ev->data, "component");

	pthread_mutex_lock(&f->mu);
	if (strcmp(ev->event, "bookmark") != 0) {
		if (f->n == f->cap) {
			size_t cap = f->cap ? f->cap * 2 : 256;
			fs_sse_seen *p = realloc(f->ev, cap * sizeof(*p));
			if (p == NULL)
				abort();
			f->ev = p;
			f->cap = cap;
		}
		fs_sse_seen *s = &f->ev[f->n++];
		s->revision = ev->id;
		snprintf(s->type, sizeof(s->type), "%s", ev->event);
		snprintf(s->id, sizeof(s->id), "%s",
		    fs_json_str(c, "id") ? fs_json_str(c, "id") : "");
		s->version = json_integer_value(json_object_get(c, "version"));
	}
	if (ev->has_id)
		f->last = ev->id;
	pthread_mutex_unlock(&f->mu);
}

static void *
follow_main(void *arg)
{
	fs_sse_follow *f = arg;
	int first = 1;

	while (!atomic_load(&f->stop)) {
		char path[64], hdr[64];
		const char *headers[] = {hdr, NULL};
		fs_sse s;
		fs_sse_event ev;

		snprintf(path, sizeof(path), "/api/watch/?since=%" PRIu64,
		    f->since);
		pthread_mutex_lock(&f->mu);
		snprintf(hdr, sizeof(hdr), "Last-Event-ID: %" PRIu64, f->last);
		pthread_mutex_unlock(&f->mu);
		if (fs_sse_open(&s, f->port, path, first ? NULL : headers, 0,
		        5000) != 0) {
			fs_test_poll_pause(50);
			continue;
		}
		pthread_mutex_lock(&f->mu);
		if (!first)
			f->reconnects++;
		first = 0;
		if (s.status != 200) {
			f->refused++;
			f->status = s.status;
			pthread_mutex_unlock(&f->mu);
			fs_sse_close(&s);
			fs_test_poll_pause(50);
			continue;
		}
		pthread_mutex_unlock(&f->mu);
		while (!atomic_load(&f->stop)) {
			int rv = fs_sse_next(&s, &ev, 200);
			if (rv < 0) {
				pthread_mutex_lock(&f->mu);
				f->ends++;
				pthread_mutex_unlock(&f->mu);
				break;
			}
			if (rv == 1) {
				take(f, &ev);
				fs_sse_event_free(&ev);
			}
		}
		fs_sse_close(&s);
	}
	return NULL;
}

int
fs_sse_follow_start(fs_sse_follow *f, int port, uint64_t since)
{
	memset(f, 0, sizeof(*f));
	f->port = port;
	f->since = since;
	f->last = since;
	if (pthread_mutex_init(&f->mu, NULL) != 0)
		return -1;
	f->inited = 1;
	if (pthread_create(&f->th, NULL, follow_main, f) != 0) {
		fs_sse_follow_free(f);
		return -1;
	}
	f->running = 1;
	return 0;
}

uint64_t
fs_sse_follow_last(fs_sse_follow *f)
{
	pthread_mutex_lock(&f->mu);
	uint64_t v = f->last;
	pthread_mutex_unlock(&f->mu);
	return v;
}

size_t
fs_sse_follow_count(fs_sse_follow *f)
{
	pthread_mutex_lock(&f->mu);
	size_t v = f->n;
	pthread_mutex_unlock(&f->mu);
	return v;
}

int
fs_sse_follow_breaks(fs_sse_follow *f)
{
	pthread_mutex_lock(&f->mu);
	int v = f->ends + f->refused;
	pthread_mutex_unlock(&f->mu);
	return v;
}

int
fs_sse_follow_wait(fs_sse_follow *f, uint64_t rev, int ms)
{
	int64_t end = fs_test_now_ms() + ms;

	while (fs_sse_follow_last(f) < rev && fs_test_now_ms() < end)
		fs_test_poll_pause(10);
	return fs_sse_follow_last(f) >= rev ? 0 : -1;
}

void
fs_sse_follow_stop(fs_sse_follow *f)
{
	if (!f->running)
		return;
	atomic_store(&f->stop, 1);
	pthread_join(f->th, NULL);
	f->running = 0;
}

void
fs_sse_follow_free(fs_sse_follow *f)
{
	fs_sse_follow_stop(f);
	if (f->inited)
		pthread_mutex_destroy(&f->mu);
	free(f->ev);
	memset(f, 0, sizeof(*f));
}
