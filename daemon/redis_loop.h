/*
 * redis_loop.h: attaches a hiredis async context to the master's libevent
 * loop, in place of hiredis's stock adapters/libevent.h.  Commands issued
 * during one loop turn leave in one write at the end of that turn; the
 * read event is added once.  See redis_loop.c.
 */
#ifndef JOBD_REDIS_LOOP_H
#define JOBD_REDIS_LOOP_H

#include <event2/event.h>
#include <hiredis/async.h>

/* 0, or -1 (already attached, or out of memory: nothing attached). */
int redis_loop_attach(redisAsyncContext *ac, struct event_base *base);
/* redis_loop_last_read: when (ms of CLOCK_MONOTONIC) bytes last came in on
 * ac, part of a reply or not; 0 if never, or ac is not attached here. */
long long redis_loop_last_read(const redisAsyncContext *ac);

#endif
