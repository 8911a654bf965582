/*
 * scoreboard.h: what each worker runs, in memory shared with the master
 * (as in Apache httpd's prefork MPM), so that taking and ending a job
 * costs no message and no wake-up of the master.
 *
 * The master maps one record per worker slot before forking.  A slot's
 * worker is the only writer of its record; the master reads it when it
 * needs to (heartbeat, stats, a worker's death, a periodic check for
 * timeouts).  Each record is a seqlock: its sequence counter is odd while
 * the worker writes, and a reader retries, or gives up, rather than act
 * on a torn record.
 */
#ifndef JOBD_SCOREBOARD_H
#define JOBD_SCOREBOARD_H

#include <stdint.h>
#include <time.h>

/* What a record says. */
struct sb_job {
	uint64_t serial;         /* jobs taken: a new value is a new job */
	uint64_t jobs_done;      /* jobs ended (outcome stored or dropped) */
	int busy;                /* runs the job below */
	int storing;             /* its outcome is being stored, and a next
	                            job may come with it */
	int attempt;
	double timeout;          /* seconds */
	struct timespec started; /* CLOCK_MONOTONIC */
	char job_id[136];
	char token[64];
	char type[72];
	char queue[72];
};

struct sb_slot;

/* scoreboard_map: n zeroed records, MAP_SHARED|MAP_ANONYMOUS, so that
 * workers forked later share them.  NULL with errno on failure. */
struct sb_slot *scoreboard_map(int n);
void scoreboard_unmap(struct sb_slot *sb, int n);
struct sb_slot *scoreboard_slot(struct sb_slot *sb, int i);

/* sb_write: publish *j.  Only the slot's worker writes (the master only
 * while no worker holds the slot: sb_reset). */
void sb_write(struct sb_slot *r, const struct sb_job *j);
/* sb_reset: an idle, zeroed record, for a new worker in the slot. */
void sb_reset(struct sb_slot *r);
/* sb_read: 0 with a consistent copy in *j (strings terminated), or -1
 * when no consistent copy could be had: the writer is in the middle of a
 * write, or died there. */
int sb_read(struct sb_slot *r, struct sb_job *j);

#endif
