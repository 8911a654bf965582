/*
 * ops.h: the protocol operations (docs/protocol.md), one function per op,
 * on top of store.c; and the registry of clients waiting for jobs to end.
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
/* ops_dispatch: answer r's request (already parsed and valid). */
void ops_dispatch(struct reply *r);
/* ops_job_ended: a job reached a terminal status: wake its waiters. */
void ops_job_ended(const char *job_id);
/* ops_recheck_waiters: the event channel (re)connected: events may have
 * been missed, so look at every waited-for job again. */
void ops_recheck_waiters(void);
/* ops_waiters: clients waiting now. */
int ops_waiters(void);
/* ops_shutdown: answer every waiter now (the daemon is stopping). */
void ops_shutdown(void);

#endif
