/*
 * cron_run.h: the master's side of periodic jobs: one libevent timer that
 * claims each tick of each [cron:NAME] in Redis when it comes
 * (store_cron_tick; the first daemon's claim wins, see docs/reliability.md,
 * "Periodic jobs: each tick once").
 */
#ifndef JOBD_CRON_RUN_H
#define JOBD_CRON_RUN_H

struct event_base;
struct store;
struct config;

/* cron_run_start: schedules of cfg from now on, plus the catch-up tick of
 * each misfire = once schedule.  -1 if out of memory. */
int cron_run_start(struct event_base *base, struct store *st,
                   const struct config *cfg);
/* cron_run_reload: the schedules of cfg from now on; those unchanged keep
 * their next tick. */
void cron_run_reload(const struct config *cfg);
/* cron_run_stop: claim no more ticks (shutdown); frees what it can. */
void cron_run_stop(void);

#endif
