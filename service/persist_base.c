/*
 * persist_base.c - the persistence modules' error and log helpers. See
 * persist_base.h.
 */
#include "persist_base.h"

#include "fs_log.h"

#include <stdarg.h>
#include <stdio.h>

void
persist_seterr(persist_error *e, const char *path, uint64_t off,
    const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	snprintf(e->path, sizeof(e->path), "%s", path ? path : "");
	e->offset = off;
	va_start(ap, fmt);
	vsnprintf(e->what, sizeof(e->what), fmt, ap);
	va_end(ap);
}

int
persist_worker_start(persist_worker *w, void *(*fn)(void *), void *arg)
{
	if (pthread_create(&w->thr, NULL, fn, arg) != 0)
		return FS_UNAVAILABLE;
	w->running = 1;
	return FS_OK;
}

void
persist_worker_stop(persist_worker *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(w->mtx);
	*w->stop = 1;
	pthread_cond_broadcast(w->cv);
	pthread_mutex_unlock(w->mtx);
	pthread_join(w->thr, NULL);
	w->running = 0;
}

void
persist_log_default(const char *level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fs_logv(level[0] == 'e'   ? FS_LOG_ERROR
	        : level[0] == 'w' ? FS_LOG_WARN
	        : level[0] == 'd' ? FS_LOG_DEBUG
	                          : FS_LOG_INFO,
	    NULL, fmt, ap);
	va_end(ap);
}

void
persist_say(persist_log_fn log, const char *level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log(level, "%s", buf);
}
