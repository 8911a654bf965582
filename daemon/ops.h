/*
 * ops.h: the protocol operations (docs/protocol.md) on top of store.c: one
 * handler per op, each named in its row of optable.h.
 */
#ifndef JOBD_OPS_H
#define JOBD_OPS_H

#include "store.h"

struct reply;
struct event_base;

/* ops_init: ops use st for Redis and base for wait timers. */
void ops_init(struct event_base *base, struct store *st,
              const struct config *cfg);
void ops_set_config(const struct config *cfg);
/* ops_reload_done: the end of a reload: msg NULL when it was applied, else
 * why not (the old configuration is kept). */
typedef void ops_reload_done(void *arg, const char *msg);
/* ops_set_reload_hook: fn reloads the configuration for the reload op and
 * calls done once, maybe later (it may ask Redis first). */
void ops_set_reload_hook(void (*fn)(ops_reload_done *done, void *arg));
/* ops_set_removing: while a reload that removes queues is checking them,
 * ncfg is the new configuration: submits to a queue it lacks are refused,
 * so that the count it checks stays true.  NULL when done. */
void ops_set_removing(const struct config *ncfg);
/* ops_set_gauges: fn gives the master's own figures for the metrics op
 * ({"workers": {"busy": n, "idle": n}, "client_connections": n}, new). */
void ops_set_gauges(json_t *(*fn)(void));
/* ops_dispatch: answer r's request (already parsed, valid and allowed)
 * with its op's handler. */
void ops_dispatch(struct reply *r);

#endif
