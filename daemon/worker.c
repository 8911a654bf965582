/*
 * worker.c: a preforked worker process.  It takes jobs from Redis in
 * priority order (blocking hiredis through store.c's sync face), runs each
 * with its type's handler and stores the outcome, folding the next dequeue
 * into the same round trip.  It publishes what it runs in its scoreboard
 * record (scoreboard.h), where the master reads it to renew the lease, time
 * the job out and cancel it: taking or ending a job wakes nobody up.
 *
 * Nothing here uses the master's libevent base.  Signals only set a flag.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "config.h"
#include "handler.h"
#include "ipc.h"
#include "log.h"
#include "metrics.h"
#include "scoreboard.h"
#include "store.h"
#include "worker.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define IDLE_WAIT_MAX_MS 250    /* longest block while idle: a SIGTERM is
                                   seen within this */

static volatile sig_atomic_t stop_flag;
static pid_t master_pid;

struct worker {
	const struct config *cfg;
	int ctl_fd;
	struct sb_slot *sb;     /* this worker's scoreboard record */
	struct sb_job rec;      /* what it says; this process is its writer */
	char owner[320];
	struct store_sync *ss;  /* NULL while Redis is unreachable */
	int redis_down;         /* an outage was logged */
};

static void
on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* on_master_death: the parent-death signal.  PDEATHSIG reaches only this
 * process, so the handlers' groups (their children too) are killed here
 * before dying; the jobs' leases then run out and the reaper takes them. */
static void
on_master_death(int sig)
{
	(void)sig;
	handler_kill_groups();
	_exit(70);
}

/* reset_signals: the master's dispositions (libevent's handlers writing to
 * descriptors this process does not have) and mask must not leak in. */
static int
reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	/* No SA_RESTART: a stop interrupts a wait (hiredis retries EINTR). */
	sa.sa_handler = on_stop;
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1)
		return -1;
	sa.sa_handler = on_master_death;
	if (sigaction(SIGUSR2, &sa, NULL) == -1)
		return -1;
	log_reopen_on_signal();  /* SIGUSR1, forwarded by the master */
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGHUP, &sa, NULL) == -1 ||
	    sigaction(SIGPIPE, &sa, NULL) == -1)
		return -1;
	sigemptyset(&none);
	return sigprocmask(SIG_SETMASK, &none, NULL);
}

/* master_alive: the master made the socketpair, so it is the peer; a
 * master that died before PDEATHSIG was set is noticed here. */
static int
master_alive(int ctl_fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (master_pid == 0 &&
	    getsockopt(ctl_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    cred.pid > 0)
		master_pid = cred.pid;
	if (master_pid > 0)
		return getppid() == master_pid;
	return getppid() != 1;
}

/* check_master: drop stale messages (a stop for a job already ended);
 * returns -1 when the master's end is closed. */
static int
check_master(int ctl_fd)
{
	struct ipc_msg m;
	int r;

	for (;;) {
		errno = 0;
		r = ipc_recv(ctl_fd, &m);
		if (r == 0)
			return 0;
		if (r == -1 && errno != EPROTO)
			return -1;
	}
}

static int
stopping(const struct worker *w)
{
	return stop_flag != 0;
}

/* nap: sleep ms; a signal (SIGTERM) cuts it short. */
static void
nap(long long ms)
{
	if (ms > 0)
		poll(NULL, 0, (int)(ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms));
}

/* iso_seconds: an ISO-8601 time of the record ("2025-01-01T12:00:00.123Z")
 * as Unix seconds, or -1. */
static double
iso_seconds(json_t *v)
{
	const char *s = json_string_value(v);
	struct tm tm;
	int ms = 0;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
	    &ms) < 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (double)timegm(&tm) + ms / 1000.0;
}

/* count_taken: the job's wait, runnable to started, for the metrics. */
static void
count_taken(struct worker *w, const struct store_job *job)
{
	double q = iso_seconds(json_object_get(job->record, "enqueued_at"));
	double st = iso_seconds(json_object_get(job->record, "started_at"));

	if (q >= 0 && st >= q)
		metrics_wait(w->cfg, job->queue, job->type, st - q);
}

/* count_outcome: the attempt that just ended, as its store call said. */
static void
count_outcome(struct worker *w, const struct store_job *job)
{
	int o = metrics_outcome_of(store_sync_outcome(w->ss));

	if (o < 0)
		return;
	metrics_outcome(w->cfg, job->queue, job->type, o);
	metrics_duration(w->cfg, job->queue, job->type,
	    clock_since(&w->rec.started));
}

/* publish_job: the job this worker runs from now on, for the master. */
static void
publish_job(struct worker *w, const struct store_job *job)
{
	struct sb_job *r = &w->rec;

	r->serial++;
	r->busy = 1;
	r->storing = 0;
	r->attempt = job->attempt;
	r->timeout = job->timeout;
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	snprintf(r->job_id, sizeof(r->job_id), "%s", job->id);
	snprintf(r->token, sizeof(r->token), "%s", job->token);
	snprintf(r->type, sizeof(r->type), "%s", job->type);
	snprintf(r->queue, sizeof(r->queue), "%s", job->queue);
	sb_write(w->sb, r);
	count_taken(w, job);
}

/* publish_storing: the outcome call may hand over a next job: should this
 * worker die before publishing it, its master looks for it by owner. */
static void
publish_storing(struct worker *w)
{
	if (!w->rec.busy || w->rec.storing)
		return;
	w->rec.storing = 1;
	sb_write(w->sb, &w->rec);
}

static void
publish_idle(struct worker *w)
{
	w->rec.busy = 0;
	w->rec.storing = 0;
	sb_write(w->sb, &w->rec);
}

/* connect_once: one connection attempt; logs an outage once. */
static int
connect_once(struct worker *w)
{
	char err[256];

	err[0] = '\0';
	w->ss = store_sync_connect(w->cfg, w->owner, err, sizeof(err));
	if (w->ss != NULL) {
		if (w->redis_down)
			log_info("connected to Redis again");
		w->redis_down = 0;
		return 0;
	}
	if (!w->redis_down)
		log_warnx("cannot connect to Redis: %s (retrying)",
		    err[0] != '\0' ? err : "unknown error");
	w->redis_down = 1;
	return -1;
}

/* reconnect: after an error the connection may be unusable: start over.
 * An error reply (Redis over maxmemory, say) came on a connection that
 * works: it is kept, and the call is simply tried again later. */
static void
reconnect(struct worker *w)
{
	if (w->ss != NULL && store_sync_connected(w->ss))
		return;
	if (w->ss != NULL) {
		if (!w->redis_down)
			log_warnx("Redis: %s (reconnecting)",
			    store_sync_errmsg(w->ss));
		w->redis_down = 1;
		store_sync_free(w->ss);
		w->ss = NULL;
	}
	connect_once(w);
}

/* connect_store: keep trying while Redis is down, until told to stop. */
static int
connect_store(struct worker *w)
{
	long long delay = BACKOFF_MIN_MS;

	while (w->ss == NULL) {
		if (connect_once(w) == 0)
			return 0;
		if (stopping(w) || check_master(w->ctl_fd) == -1)
			return -1;
		nap(delay);
		delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
	}
	return 0;
}

/*
 * store_outcome: store a job's outcome (result != NULL: finished, else
 * failed with error/mode/delay).  A Redis error is retried with backoff for
 * as long as the master lives: it keeps renewing the lease meanwhile (the
 * reaper also extends leases after an outage), so the job is not run twice
 * for want of patience.  Returns 1 with *next set, 0, or -1 when the master
 * is gone (the lease then runs out and the reaper requeues the job).
 */
static int
store_outcome(struct worker *w, const struct store_job *job,
              const char *result, const char *error,
              enum store_fail_mode mode, long long delay,
              struct store_job **next)
{
	long long backoff = BACKOFF_MIN_MS;
	int r, tries = 0;

	if (next != NULL)
		publish_storing(w);
	for (;;) {
		if (w->ss != NULL) {
			if (result != NULL)
				r = store_sync_finish(w->ss, job, result, next);
			else
				r = store_sync_fail(w->ss, job, error, mode,
				    delay, next);
			if (r >= 0) {
				count_outcome(w, job);
				if (tries > 0)
					log_info("job %s: outcome stored after %d "
					    "failed tries", job->id, tries);
				return r;
			}
			/* Once: a full Redis refuses for as long as it is. */
			if (tries++ == 0)
				log_warnx("job %s: cannot store its outcome: %s "
				    "(retrying)", job->id,
				    store_sync_errmsg(w->ss));
			else
				log_debug("job %s: cannot store its outcome: %s",
				    job->id, store_sync_errmsg(w->ss));
		}
		if (!master_alive(w->ctl_fd)) {
			log_warnx("job %s: outcome not stored and the master is "
			    "gone; its lease will expire and the job be "
			    "requeued", job->id);
			stop_flag = 1;
			return -1;
		}
		nap(backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS / 2 :
		    backoff * 2;
		reconnect(w);
	}
}

/* run_job: run one job and store its outcome.  Returns the next job when
 * the store handed one over with the outcome, else NULL. */
static struct store_job *
run_job(struct worker *w, const struct store_job *job)
{
	struct handler_ctx ctx;
	const struct job_type *t;
	struct store_job *next = NULL, **nextp;
	char *result = NULL, *error = NULL;
	double timeout;
	long long t0 = handler_now_ms(), delay;
	int outcome;

	publish_job(w, job);
	log_set_job(job->id);   /* the job_id of its lines (log_format json) */
	log_debug("job %s: started (type %s, queue %s, attempt %d)", job->id,
	    job->type, job->queue, job->attempt);

	t = config_find_type(w->cfg, job->type);
	nextp = stopping(w) ? NULL : &next;
	if (t == NULL) {
		error = handler_strdupf("no handler for type %s", job->type);
		log_info("job %s failed: %s", job->id,
		    error != NULL ? error : "no handler");
		store_outcome(w, job, NULL, error != NULL ? error :
		    "no handler for its type", STORE_FAIL_FINAL, 0, nextp);
		goto done;
	}

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = w->cfg;
	ctx.type = t;
	ctx.job = job;
	ctx.ss = w->ss;
	ctx.ctl_fd = w->ctl_fd;
	ctx.stop_reason = STOP_NONE;
	outcome = handler_run(&ctx, &result, &error);
	/* Stopping: take no new job with this outcome. */
	nextp = stopping(w) ? NULL : &next;

	switch (outcome) {
	case HANDLER_OK:
		log_debug("job %s: finished in %lld ms", job->id,
		    handler_now_ms() - t0);
		store_outcome(w, job, result != NULL ? result : "null", NULL,
		    STORE_FAIL, 0, nextp);
		break;
	case HANDLER_FAILED:
		delay = config_retry_delay_ms(t, job->attempt);
		log_info("job %s failed (attempt %d): %s", job->id,
		    job->attempt, error != NULL ? error : "unknown error");
		store_outcome(w, job, NULL, error != NULL ? error :
		    "handler failed", STORE_FAIL, delay, nextp);
		break;
	case HANDLER_REFUSED:
		log_info("job %s failed (attempt %d, not retried): %s", job->id,
		    job->attempt, error != NULL ? error : "refused");
		store_outcome(w, job, NULL, error != NULL ? error : "refused",
		    STORE_FAIL_FINAL, 0, nextp);
		break;
	case HANDLER_STOPPED:
	default:
		free(error);
		error = NULL;
		switch (ctx.stop_reason) {
		case STOP_TIMEOUT:
			timeout = job->timeout > 0 ? job->timeout : t->timeout;
			error = handler_strdupf("timeout: exceeded %g s",
			    timeout);
			log_info("job %s failed (attempt %d): %s", job->id,
			    job->attempt, error != NULL ? error : "timeout");
			store_outcome(w, job, NULL, error != NULL ? error :
			    "timeout", STORE_FAIL,
			    config_retry_delay_ms(t, job->attempt), nextp);
			break;
		case STOP_CANCEL:
			log_info("job %s: canceled while running", job->id);
			store_outcome(w, job, NULL, "canceled", STORE_FAIL, 0,
			    nextp);
			break;
		case STOP_LOST:
			/* Someone else holds it now, or will once the lease
			 * runs out (the master died): store nothing. */
			log_info("job %s: lease lost, dropped", job->id);
			if (!master_alive(w->ctl_fd) ||
			    check_master(w->ctl_fd) == -1)
				stop_flag = 1;
			break;
		case STOP_SHUTDOWN:
		default:
			log_info("job %s: interrupted by shutdown, requeued",
			    job->id);
			store_outcome(w, job, NULL, "interrupted by shutdown",
			    STORE_REQUEUE, 0, NULL);
			if (check_master(w->ctl_fd) == -1)
				stop_flag = 1;
			break;
		}
		break;
	}
done:
	/* A job handed over with the outcome replaces this one in the record
	 * (publish_job): one write, not two. */
	log_set_job(NULL);
	w->rec.jobs_done++;
	if (next == NULL)
		publish_idle(w);
	free(result);
	free(error);
	return next;
}

int
worker_main(const struct config *cfg, int ctl_fd, struct sb_slot *sb, int slot)
{
	struct worker w;
	struct store_job *job = NULL, *next;
	long long wait_ms, delay = BACKOFF_MIN_MS;
	char host[256], role[32];
	int r;

	/* SIGUSR2 kills the worker until its handler is set: never a job
	 * left running without a master. */
	prctl(PR_SET_PDEATHSIG, SIGUSR2);
	if (reset_signals() == -1)
		log_warn("worker signals");
	snprintf(role, sizeof(role), "worker %d", slot);
	log_set_role(role);
	if (!master_alive(ctl_fd)) {
		log_warnx("the master is gone, exiting");
		return 0;
	}

	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	w.ctl_fd = ctl_fd;
	w.sb = sb;
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(w.owner, sizeof(w.owner), "%s:%ld", host, (long)getpid());
	log_debug("worker %s started", w.owner);

	while (!stopping(&w)) {
		if (w.ss == NULL && connect_store(&w) == -1)
			break;
		if (check_master(ctl_fd) == -1 || !master_alive(ctl_fd)) {
			log_warnx("the master is gone, exiting");
			break;
		}
		r = store_sync_dequeue(w.ss, &job, &wait_ms);
		if (r == 1) {
			delay = BACKOFF_MIN_MS;
			/* Run it, and the ones handed over with each outcome.
			 * A job taken as the master died goes back at once
			 * (nobody would renew its lease); so does one handed
			 * over once the daemon is stopping.  The job taken by
			 * this dequeue runs even when stopping: it shows as
			 * started, and a graceful stop lets started jobs
			 * finish. */
			for (int first = 1; job != NULL; first = 0) {
				int orphan = !master_alive(ctl_fd);

				if (orphan)
					stop_flag = 1;
				if (orphan || (!first && stopping(&w))) {
					store_outcome(&w, job, NULL,
					    "interrupted by shutdown",
					    STORE_REQUEUE, 0, NULL);
					publish_idle(&w);
					store_job_free(job);
					break;
				}
				next = run_job(&w, job);
				store_job_free(job);
				job = next;
			}
			continue;
		}
		if (r == 0) {
			if (wait_ms <= 0 || wait_ms > IDLE_WAIT_MAX_MS)
				wait_ms = IDLE_WAIT_MAX_MS;
			if (store_sync_wait(w.ss, wait_ms) == 0) {
				delay = BACKOFF_MIN_MS;
				continue;
			}
		}
		/* A Redis error: back off, then a fresh connection. */
		log_debug("Redis: %s", store_sync_errmsg(w.ss));
		nap(delay);
		delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
		reconnect(&w);
	}

	log_debug("worker %s exiting", w.owner);
	handler_shutdown();
	if (w.ss != NULL)
		store_sync_free(w.ss);
	return 0;
}
