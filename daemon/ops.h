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
/* ops_set_reload_hook: fn reloads the configuration for the reload op:
 * 0, or -1 with a message in err (the old configuration is kept). */
void ops_set_reload_hook(int (*fn)(char *err, size_t errlen));
/* ops_dispatch: answer r's request (already parsed, valid and allowed)
 * with its op's handler. */
void ops_dispatch(struct reply *r);

#endif
