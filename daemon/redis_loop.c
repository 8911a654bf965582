/*
 * redis_loop.c: the hiredis async hooks (ac->ev) on libevent, with writes
 * coalesced per loop turn.
 *
 * The stock adapter arms an EV_WRITE event for every command issued from
 * idle (epoll_ctl), waits a loop turn for it, writes, and disarms it
 * (epoll_ctl); its read event is not persistent, so every reply costs a
 * delete and an add as well.  Here:
 *
 * - Reading: one EV_READ|EV_PERSIST event, added at attach and left alone
 *   (addRead is idempotent; hiredis calls it after every read and write).
 * - Writing: addWrite arms nothing; it activates the "flush" event, once
 *   per loop turn.  An activated event goes to the tail of the active queue
 *   of its priority, so the flush runs in the same turn, after every event
 *   already active (the client connections' reads, the replies of Redis):
 *   what all of them asked of Redis goes out in one write.  The flush has
 *   the default priority, which is that of everything else on the master's
 *   base (master.c does not call event_base_priority_init); a lower
 *   priority would wait for a later turn, behind newer work.
 * - Only when that write could not take the whole output buffer (EAGAIN, a
 *   partial write) is a real EV_WRITE event armed, until hiredis says the
 *   buffer is drained (delWrite).  It is also armed while the connection
 *   is being established: hiredis detects the connect on the first
 *   writable (or readable) event.
 *
 * hiredis may free the context, and with it this adapter (cleanup), from
 * inside redisAsyncHandleRead/HandleWrite: a reply callback that frees or
 * disconnects, a write or read error, a failed connect.  The event
 * callbacks therefore touch nothing of theirs after calling into hiredis;
 * the only state kept across that call is the file-scope "writing" pointer,
 * which cleanup clears.  Freeing a libevent event from its own callback is
 * allowed.  An event freed while active (a pending flush) is dropped.
 *
 * hiredis 0.14 has no timeouts (no ev.scheduleTimer): store.c times its
 * links itself.  With hiredis >= 1.0 and redisAsyncSetTimeout a
 * scheduleTimer hook would be needed here; jobd sets no such timeout.
 */
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "redis_loop.h"

struct redis_loop {
	redisAsyncContext *ac;
	struct event *rev;      /* EV_READ | EV_PERSIST */
	struct event *wev;      /* EV_WRITE, one-shot: socket full, or connecting */
	struct event *flush;    /* never added, only activated */
	int reading;            /* rev added */
	int wev_armed;          /* wev added */
	int flush_queued;       /* flush activated, not run yet */
	long long last_read;    /* ms (CLOCK_MONOTONIC) of the last read event */
};

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The adapter whose context is inside redisAsyncHandleWrite, if any: its
 * addWrite means "the socket is full", not "a command was queued". */
static struct redis_loop *writing;

static void
handle_write(struct redis_loop *e)
{
	struct redis_loop *outer = writing;

	writing = e;
	redisAsyncHandleWrite(e->ac);   /* may free e (cleanup) */
	writing = outer;
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct redis_loop *e = arg;

	(void)fd;
	(void)what;
	e->last_read = mono_ms();       /* bytes came: Redis is working */
	redisAsyncHandleRead(e->ac);    /* may free e */
}

static void
on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct redis_loop *e = arg;

	(void)fd;
	(void)what;
	e->wev_armed = 0;               /* one-shot: no longer added */
	handle_write(e);
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct redis_loop *e = arg;

	(void)fd;
	(void)what;
	e->flush_queued = 0;
	if (e->wev_armed)               /* the socket is full: wev will write */
		return;
	handle_write(e);
}

static void
arm_write(struct redis_loop *e)
{
	if (!e->wev_armed && event_add(e->wev, NULL) == 0)
		e->wev_armed = 1;
}

static void
hook_add_read(void *privdata)
{
	struct redis_loop *e = privdata;

	if (!e->reading && event_add(e->rev, NULL) == 0)
		e->reading = 1;
}

static void
hook_del_read(void *privdata)
{
	struct redis_loop *e = privdata;

	if (e->reading) {
		event_del(e->rev);
		e->reading = 0;
	}
}

static void
hook_add_write(void *privdata)
{
	struct redis_loop *e = privdata;

	if (writing == e || !(e->ac->c.flags & REDIS_CONNECTED)) {
		/* Output left after a write, or a connect in progress. */
		arm_write(e);
		return;
	}
	if (e->wev_armed || e->flush_queued)
		return;
	e->flush_queued = 1;
	event_active(e->flush, EV_WRITE, 0);
}

static void
hook_del_write(void *privdata)
{
	struct redis_loop *e = privdata;

	if (e->wev_armed) {
		event_del(e->wev);
		e->wev_armed = 0;
	}
}

static void
hook_cleanup(void *privdata)
{
	struct redis_loop *e = privdata;

	if (e == NULL)
		return;
	if (writing == e)
		writing = NULL;
	event_free(e->rev);
	event_free(e->wev);
	event_free(e->flush);
	/* hiredis calls no hook after this; make sure none reaches e. */
	e->ac->ev.addRead = e->ac->ev.delRead = NULL;
	e->ac->ev.addWrite = e->ac->ev.delWrite = NULL;
	e->ac->ev.cleanup = NULL;
	e->ac->ev.data = NULL;
	free(e);
}

long long
redis_loop_last_read(const redisAsyncContext *ac)
{
	const struct redis_loop *e = ac->ev.data;

	return e != NULL && ac->ev.addRead == hook_add_read ? e->last_read : 0;
}

int
redis_loop_attach(redisAsyncContext *ac, struct event_base *base)
{
	struct redis_loop *e;

	if (ac->ev.data != NULL)
		return -1;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	e->ac = ac;
	e->rev = event_new(base, ac->c.fd, EV_READ | EV_PERSIST, on_read, e);
	e->wev = event_new(base, ac->c.fd, EV_WRITE, on_writable, e);
	e->flush = event_new(base, -1, 0, on_flush, e);
	if (e->rev == NULL || e->wev == NULL || e->flush == NULL)
		goto fail;
	if (event_add(e->rev, NULL) != 0)
		goto fail;
	e->reading = 1;
	ac->ev.addRead = hook_add_read;
	ac->ev.delRead = hook_del_read;
	ac->ev.addWrite = hook_add_write;
	ac->ev.delWrite = hook_del_write;
	ac->ev.cleanup = hook_cleanup;
	ac->ev.data = e;
	/* Connecting: the first writable event completes it. */
	if (!(ac->c.flags & REDIS_CONNECTED))
		arm_write(e);
	return 0;
fail:
	if (e->rev)
		event_free(e->rev);
	if (e->wev)
		event_free(e->wev);
	if (e->flush)
		event_free(e->flush);
	free(e);
	return -1;
}
