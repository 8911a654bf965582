/*
 * worker.h: a preforked worker process: takes jobs from Redis in priority
 * order, runs them, stores the outcome; publishes what it runs in its
 * scoreboard record for the master.
 */
#ifndef JOBD_WORKER_H
#define JOBD_WORKER_H

#include "config.h"
#include "scoreboard.h"

/* worker_main: the body of a worker after fork (the master's event base is
 * not used).  ctl_fd is the worker's end of the ipc socketpair; sb its
 * scoreboard record, idle; slot is its number for logs.  SIGTERM: finish
 * the current job, then exit 0.  Returns the process exit status. */
int worker_main(const struct config *cfg, int ctl_fd, struct sb_slot *sb,
    int slot);

#endif
