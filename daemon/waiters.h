/*
 * waiters.h: clients waiting for jobs to end (the wait op, and cancel of a
 * started job), answered when the job's end event comes or at a deadline.
 */
#ifndef JOBD_WAITERS_H
#define JOBD_WAITERS_H

#include "store.h"

struct reply;
struct event_base;

/* waiters_init: look jobs up in st, time waits on base. */
void waiters_init(struct event_base *base, struct store *st);
/* waiters_add: answer r with {"job": record} once job_id has ended, or
 * after timeout seconds with the record as it is then ("timed_out": true);
 * is_cancel: with {"status"} instead (a cancel of a started job). */
void waiters_add(struct reply *r, const char *job_id, double timeout,
                 int is_cancel);
/* waiters_count: waiters parked now (waits and cancels). */
int waiters_count(void);
/* waiters_job_ended: a job reached a terminal status: wake its waiters. */
void waiters_job_ended(const char *job_id);
/* waiters_recheck: the event channel (re)connected: events may have been
 * missed, so look at every waited-for job again. */
void waiters_recheck(void);
/* waiters_shutdown: answer every waiter now (the daemon is stopping). */
void waiters_shutdown(void);

#endif
