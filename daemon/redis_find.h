/*
 * redis_find.h: the master's asynchronous face of redis_route.h, on its
 * libevent loop: finding the server of a namespace (asking each Sentinel
 * or seed node in turn, never blocking the loop), and listening to the
 * Sentinels for a failover (+switch-master).
 */
#ifndef JOBD_REDIS_FIND_H
#define JOBD_REDIS_FIND_H

#include <event2/event.h>

#include "redis_url.h"

struct redis_find;
struct redis_watch;

/* The server found (host, port; err NULL), or why none was (host NULL). */
typedef void redis_find_cb(void *arg, const char *host, int port,
                           const char *err);

/* redis_find_start: ask u's nodes (sentinel:// or cluster://; copied) for
 * the server of hash slot slot.  cb is called once, from the event loop,
 * unless redis_find_free comes first.  NULL if out of memory. */
struct redis_find *redis_find_start(struct event_base *base,
                                    const struct redis_url *u, unsigned slot,
                                    redis_find_cb *cb, void *arg);
void redis_find_free(struct redis_find *f);

/* A Sentinel announced that u's master moved to host:port. */
typedef void redis_watch_cb(void *arg, const char *host, int port);

/* redis_watch_start: subscribe to +switch-master on one of u's Sentinels
 * (the next one when that link is lost) until redis_watch_free. */
struct redis_watch *redis_watch_start(struct event_base *base,
                                      const struct redis_url *u,
                                      redis_watch_cb *cb, void *arg);
void redis_watch_free(struct redis_watch *w);

#endif
