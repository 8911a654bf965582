/*
 * master.c: supervision of the preforked workers; see master.h and
 * docs/architecture.md ("Processes and signals").
 *
 * Signal handlers are libevent signal events: no work in a raw handler.
 * Each worker has a slot holding its pid, its end of the ipc socketpair and
 * its scoreboard record (scoreboard.h), where the worker publishes the job
 * it runs.  The master reads the records when it needs them (heartbeat,
 * cancel, a worker's death, and a check every CHECK_INTERVAL that arms
 * timeouts), so that it can renew the job's lease, enforce its timeout,
 * stop it on cancel, and end it if the worker dies, without a message or a
 * wake-up per job.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "child_status.h"
#include "clock.h"
#include "conn.h"
#include "cron_run.h"
#include "http.h"
#include "proto.h"
#include "ipc.h"
#include "log.h"
#include "master.h"
#include "metrics.h"
#include "notify.h"
#include "ops.h"
#include "redis_managed.h"
#include "redis_url.h"
#include "waiters.h"
#include "scoreboard.h"
#include "store.h"
#include "worker.h"

#define MAX_SLOTS       (2 * 256 + 16)  /* workers, plus retiring ones */
#define BACKSTOP_EXTRA  5.0             /* s after grace before SIGKILL */
#define REAP_INTERVAL   1.0             /* s between reaper passes */
#define EXIT_DRAIN      5.0             /* s to finish store calls at exit */
#define READY_WAIT      3.0             /* s to wait for Redis at start */
/* s between looks at the scoreboard for jobs started since: a timeout
 * fires at most this late (timeouts are seconds); 10 wake-ups a second
 * where a drain cost one per job. */
#define CHECK_INTERVAL  0.1
#define DEFAULT_TIMEOUT 180.0           /* s, for a job that names none */
#define STATUS_INTERVAL 5.0             /* s between systemd STATUS= lines */

struct slot {
	int used;
	int index;
	pid_t pid;
	int fd;                  /* master's end of the ipc socketpair */
	struct sb_slot *sb;      /* its worker's scoreboard record */
	struct event *ev_ctl;
	struct event *ev_deadline;
	struct event *ev_respawn;
	int retiring;            /* from an old config: not respawned */
	struct timespec spawned_at;
	double respawn_delay;    /* grows while workers die young */
	/* the job it runs, as last read whole from the scoreboard */
	struct sb_job job;
	pid_t pgid;              /* the handler group it reported last */
	int stop_sent;           /* enum ipc_stop_reason, for job.serial */
};

static struct {
	struct event_base *base;
	struct config *cfg;
	master_reload_fn *reload;
	struct store *store;
	struct redis_managed *redis;  /* redis = managed, or NULL */
	struct server *server;
	struct slot slots[MAX_SLOTS];
	struct sb_slot *sb;      /* the scoreboard, one record per slot */
	int stopping;            /* 1: graceful, 2: immediate */
	int in_flight;           /* master-side store calls not answered */
	struct event *ev_heartbeat;
	struct event *ev_reap;
	struct event *ev_check;
	struct event *ev_shutdown;
	struct event *ev_exit;
	struct event *ev_ready;
	struct event *ev_status;         /* systemd STATUS= (notify.h) */
	struct event *ev_watchdog;       /* systemd WATCHDOG=1 */
	int status_busy;
	long long queued;                /* from the last status count, or -1 */
	int heartbeat_busy;
	int reap_busy;
	int store_ups;          /* STORE_EV_UP events seen */
	struct timespec reap_held; /* no reaping for a lease after a re-up */
	int refused;             /* STORE_EV_REFUSED: exit status 1 */
	/* the HTTP child ([http] listen), supervised as a worker */
	struct {
		int fd;                  /* the listening socket, or -1 */
		pid_t pid;
		struct event *ev_respawn;
		struct timespec spawned_at;
		double respawn_delay;
	} http;
} m;

static void slot_spawn(struct slot *s);
static void master_maybe_exit(void);
static void master_shutdown(int sig);

static struct timeval
tv_of(double seconds)
{
	struct timeval tv;

	if (seconds < 0)
		seconds = 0;
	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	return tv;
}

static int
live_workers(void)
{
	int n = 0;

	for (int i = 0; i < MAX_SLOTS; i++)
		if (m.slots[i].used && m.slots[i].pid > 0)
			n++;
	return n;
}

/* --- ending a job whose worker cannot ------------------------------------ */

/* A job the master ends for its worker, and how to count it. */
struct ending {
	char job_id[136];
	char queue[72], type[72];
	int lost;                /* its worker died: the attempt was lost */
};

static void
fail_job_done(void *arg, int err, const char *msg, json_t *reply)
{
	struct ending *e = arg;

	m.in_flight--;
	if (err != PERR_OK) {
		log_job(LOG_WARNING, e->job_id, "job %s: could not be ended "
		    "(%s); its lease will expire and the reaper will requeue "
		    "it", e->job_id, msg);
	} else {
		const char *st = json_string_value(json_object_get(reply,
		    "status"));
		/* "lost": the reaper was first, and counted it */
		int o = st != NULL && strcmp(st, "lost") == 0 ? -1 :
		    e->lost ? MX_LOST : metrics_outcome_of(st);

		if (o >= 0)
			metrics_outcome(m.cfg, e->queue, e->type, o);
	}
	free(e);
	master_maybe_exit();
}

/* count_lost: each [queue, type] pair of labels was an attempt lost. */
static void
count_lost(const json_t *labels)
{
	size_t i;

	for (i = 0; i + 1 < json_array_size(labels); i += 2)
		metrics_outcome(m.cfg, json_string_value(json_array_get(labels,
		    i)), json_string_value(json_array_get(labels, i + 1)),
		    MX_LOST);
}

static void
release_done(void *arg, int err, const char *msg, json_t *reply)
{
	size_t i;
	json_t *v;

	(void)arg;
	m.in_flight--;
	if (err != PERR_OK) {
		log_warnx("could not release a dead worker's jobs (%s); their "
		    "leases will expire", msg);
	} else {
		json_array_foreach(json_object_get(reply, "job_ids"), i, v)
			log_job(LOG_WARNING, json_string_value(v), "job %s: its "
			    "worker died as it took it", json_string_value(v));
		count_lost(json_object_get(reply, "labels"));
	}
	master_maybe_exit();
}

/* master_release_owner: a worker died between taking a job and telling
 * us: find its jobs by owner in Redis rather than wait for their leases. */
static void
master_release_owner(struct slot *s, const char *error)
{
	char owner[300];

	snprintf(owner, sizeof(owner), "%s:%ld", store_host(m.store),
	    (long)s->pid);
	m.in_flight++;
	store_release_owner(m.store, owner, error, release_done, NULL);
}

static void
master_fail_job(struct slot *s, const char *error, enum store_fail_mode mode,
    int lost)
{
	const struct job_type *t = config_find_type(m.cfg, s->job.type);
	long long delay = t != NULL ? config_retry_delay_ms(t,
	    s->job.attempt > 0 ? s->job.attempt : 1) : 0;
	struct ending *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return;
	snprintf(e->job_id, sizeof(e->job_id), "%s", s->job.job_id);
	snprintf(e->queue, sizeof(e->queue), "%s", s->job.queue);
	snprintf(e->type, sizeof(e->type), "%s", s->job.type);
	e->lost = lost;
	m.in_flight++;
	store_fail_job(m.store, s->job.job_id, s->job.token, error, mode, delay,
	    fail_job_done, e);
}

/* --- the job of a worker: scoreboard, timeout, stop ---------------------- */

static void slot_stop(struct slot *s, int reason);

/* slot_arm: the job's timer, at its start + timeout. */
static void
slot_arm(struct slot *s)
{
	struct timeval tv = tv_of(s->job.timeout -
	    clock_since(&s->job.started));

	evtimer_add(s->ev_deadline, &tv);
}

/*
 * slot_sync: take in what the slot's worker published.  A new job gets a
 * fresh stop state and its timer (act), and is stopped at once past the
 * shutdown grace; an ended one loses its timer.  0, or -1 when the record
 * could not be read whole: the last view stands.
 */
static int
slot_sync(struct slot *s, int act)
{
	struct sb_job j;
	int was_busy = s->job.busy;

	if (s->pid <= 0)
		return 0;
	if (sb_read(s->sb, &j) == -1)
		return -1;
	if (!j.busy) {
		s->job = j;
		s->stop_sent = STOP_NONE;
		if (was_busy)
			evtimer_del(s->ev_deadline);
		return 0;
	}
	if (was_busy && j.serial == s->job.serial) {
		s->job = j;
		return 0;
	}
	s->job = j;
	s->stop_sent = STOP_NONE;
	if (s->job.timeout <= 0)
		s->job.timeout = DEFAULT_TIMEOUT;
	if (act) {
		slot_arm(s);
		if (m.stopping == 2)
			slot_stop(s, STOP_SHUTDOWN);
	}
	return 0;
}

static void
sync_all(void)
{
	for (int i = 0; i < MAX_SLOTS; i++)
		if (m.slots[i].used && m.slots[i].pid > 0)
			(void)slot_sync(&m.slots[i], 1);
}

static struct slot *
slot_by_job(const char *job_id)
{
	sync_all();
	for (int i = 0; i < MAX_SLOTS; i++) {
		struct slot *s = &m.slots[i];
		if (s->used && s->pid > 0 && s->job.busy &&
		    strcmp(s->job.job_id, job_id) == 0)
			return s;
	}
	return NULL;
}

/* slot_stop: ask the worker to stop its job; if it has not ended the job
 * after the kill grace, kill the worker (its death then ends the job). */
static void
slot_stop(struct slot *s, int reason)
{
	struct ipc_msg msg;
	struct timeval tv;

	if (!s->job.busy || s->stop_sent)
		return;
	memset(&msg, 0, sizeof(msg));
	msg.type = IPC_STOP;
	msg.reason = reason;
	snprintf(msg.job_id, sizeof(msg.job_id), "%s", s->job.job_id);
	s->stop_sent = reason;
	log_job(LOG_INFO, s->job.job_id, "job %s: stopping (%s) on worker %d",
	    s->job.job_id, ipc_stop_reason_name(reason), (int)s->pid);
	if (ipc_send(s->fd, &msg) == -1)
		log_job(LOG_WARNING, s->job.job_id, "job %s: cannot reach "
		    "worker %d: %s", s->job.job_id, (int)s->pid,
		    strerror(errno));
	tv = tv_of(m.cfg->grace + BACKSTOP_EXTRA);
	evtimer_add(s->ev_deadline, &tv);
}

/* deadline_cb: the timeout, or the kill backstop after a stop, of the job
 * the slot ran when the timer was armed.  If the worker has moved on to
 * another job since, slot_sync has armed the timer for that one instead. */
static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct slot *s = arg;
	uint64_t serial = s->job.serial;
	int was_busy = s->job.busy;
	struct timeval tv;

	(void)fd; (void)what;
	if (slot_sync(s, 1) == -1) {
		/* The worker is writing its record: look again soon. */
		tv = tv_of(0.01);
		evtimer_add(s->ev_deadline, &tv);
		return;
	}
	if (!s->job.busy || !was_busy || s->job.serial != serial)
		return;
	if (!s->stop_sent) {
		if (clock_since(&s->job.started) + 0.001 < s->job.timeout) {
			slot_arm(s);
			return;
		}
		log_job(LOG_INFO, s->job.job_id, "job %s: timeout after %.3g s",
		    s->job.job_id, s->job.timeout);
		slot_stop(s, STOP_TIMEOUT);
		return;
	}
	log_job(LOG_WARNING, s->job.job_id, "job %s: worker %d did not stop "
	    "it within %.3g s: killing the worker", s->job.job_id, (int)s->pid,
	    m.cfg->grace + BACKSTOP_EXTRA);
	if (s->pgid > 0)
		kill(-s->pgid, SIGKILL);
	kill(s->pid, SIGKILL);
}

static void
master_stop_job(const char *job_id, int reason)
{
	struct slot *s = slot_by_job(job_id);

	if (s != NULL)
		slot_stop(s, reason);
}

/* check_cb: notice jobs started since the last look, for their timers. */
static void
check_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	sync_all();
}

/* --- worker messages ------------------------------------------------------ */

static void
slot_handle(struct slot *s, const struct ipc_msg *msg)
{
	switch (msg->type) {
	case IPC_HANDLER:
		/* Whatever job it is for: the group to kill if the worker
		 * dies or will not stop is the one reported last. */
		s->pgid = msg->pgid;
		break;
	default:
		log_warnx("worker %d: unknown message %d", (int)s->pid,
		    msg->type);
	}
}

static void
ctl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct slot *s = arg;
	struct ipc_msg msg;
	int rc;

	(void)fd; (void)what;
	while ((rc = ipc_recv(s->fd, &msg)) == 1)
		slot_handle(s, &msg);
	if (rc == -1) {
		/* The worker is exiting; SIGCHLD does the rest. */
		event_del(s->ev_ctl);
	}
}

/* --- spawning and reaping workers ----------------------------------------- */

static void
slot_close(struct slot *s)
{
	if (s->ev_ctl != NULL) {
		event_free(s->ev_ctl);
		s->ev_ctl = NULL;
	}
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	if (s->ev_deadline != NULL)
		evtimer_del(s->ev_deadline);
	memset(&s->job, 0, sizeof(s->job));
	s->stop_sent = STOP_NONE;
	s->pgid = 0;
	s->pid = 0;
}

/* fork_keeping: fork a child that keeps only stdio and fd: the listener,
 * clients and Redis connections are the master's.  Signals stay blocked
 * across fork: until the child has set its own handlers, a SIGTERM for it
 * must wait, not run libevent's handler (which would tell the master's
 * loop instead).  fork()'s return. */
static pid_t
fork_keeping(int fd)
{
	sigset_t all, old;
	pid_t pid;

	fflush(NULL);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid != 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return pid;
	}
	if (fd > 3)
		close_range(3, (unsigned)fd - 1, 0);
	close_range((unsigned)fd + 1, ~0U, 0);
	return 0;
}

static void
respawn_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	slot_spawn(arg);
}

static void
slot_spawn(struct slot *s)
{
	int fds[2];
	pid_t pid;

	if (m.stopping)
		return;
	if (ipc_pair(fds) == -1) {
		log_warn("worker slot %d: socketpair", s->index);
		goto retry;
	}
	/* No worker holds the slot: its record is the master's to clear. */
	sb_reset(s->sb);
	memset(&s->job, 0, sizeof(s->job));
	s->stop_sent = STOP_NONE;
	s->pgid = 0;
	pid = fork_keeping(fds[1]);
	if (pid == -1) {
		log_warn("worker slot %d: fork", s->index);
		close(fds[0]);
		close(fds[1]);
		goto retry;
	}
	if (pid == 0)   /* its end of the socketpair and the scoreboard */
		_exit(worker_main(m.cfg, fds[1], s->sb, s->index));
	close(fds[1]);
	s->pid = pid;
	s->fd = fds[0];
	clock_gettime(CLOCK_MONOTONIC, &s->spawned_at);
	s->ev_ctl = event_new(m.base, s->fd, EV_READ | EV_PERSIST, ctl_cb, s);
	event_add(s->ev_ctl, NULL);
	log_info("worker %d started (slot %d)", (int)pid, s->index);
	return;
retry:
	{
		struct timeval tv = tv_of(1.0);
		evtimer_add(s->ev_respawn, &tv);
	}
}

static struct slot *
slot_new(int retiring)
{
	for (int i = 0; i < MAX_SLOTS; i++) {
		struct slot *s = &m.slots[i];
		if (s->used)
			continue;
		memset(s, 0, sizeof(*s));
		s->used = 1;
		s->index = i;
		s->fd = -1;
		s->sb = scoreboard_slot(m.sb, i);
		s->retiring = retiring;
		s->respawn_delay = 0.1;
		s->ev_deadline = evtimer_new(m.base, deadline_cb, s);
		s->ev_respawn = evtimer_new(m.base, respawn_cb, s);
		return s;
	}
	return NULL;
}

static void
slot_release(struct slot *s)
{
	slot_close(s);
	event_free(s->ev_deadline);
	event_free(s->ev_respawn);
	s->ev_deadline = s->ev_respawn = NULL;
	s->used = 0;
}

static void
worker_died(struct slot *s, int status)
{
	char how[96], why[160];
	int young = clock_since(&s->spawned_at) < 1.0;
	/* What it published last; a record it died writing tells nothing. */
	int known = slot_sync(s, 0) == 0;

	child_status_text(status, how, sizeof(how));
	snprintf(why, sizeof(why), "worker died: %s", how);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		log_info("worker %d exited (slot %d)", (int)s->pid, s->index);
	else
		log_warnx("worker %d %s (slot %d)%s%s", (int)s->pid, how,
		    s->index, s->job.busy ? " running job " : "",
		    s->job.busy ? s->job.job_id : "");
	if ((s->job.busy || !known) && s->pgid > 0)
		kill(-s->pgid, SIGKILL);  /* no orphaned handler */
	if (!known) {
		master_release_owner(s, why);
	} else if (s->job.busy) {
		switch (s->stop_sent) {
		case STOP_SHUTDOWN:
			master_fail_job(s, "interrupted by shutdown",
			    STORE_REQUEUE, 0);
			break;
		case STOP_TIMEOUT: {
			char to[64];

			snprintf(to, sizeof(to), "timeout: exceeded %.3g s",
			    s->job.timeout);
			master_fail_job(s, to, STORE_FAIL, 0);
			break;
		}
		case STOP_CANCEL:
			master_fail_job(s, "canceled", STORE_FAIL, 0);
			break;
		case STOP_LOST:
			break;   /* someone else holds it now */
		default:
			master_fail_job(s, why, STORE_FAIL, 1);
		}
		/* It died storing the outcome: a next job may have come with
		 * it, unpublished. */
		if (s->job.storing)
			master_release_owner(s, why);
	} else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		master_release_owner(s, why);
	}
	slot_close(s);
	if (m.stopping || s->retiring) {
		slot_release(s);
		master_maybe_exit();
		return;
	}
	/* Respawn at once, unless workers keep dying young (say Redis or
	 * the config is broken): then back off up to 10 s. */
	if (young) {
		struct timeval tv = tv_of(s->respawn_delay);
		s->respawn_delay = s->respawn_delay * 2 > 10 ? 10 :
		    s->respawn_delay * 2;
		evtimer_add(s->ev_respawn, &tv);
	} else {
		s->respawn_delay = 0.1;
		slot_spawn(s);
	}
}

/* --- the HTTP child ------------------------------------------------------- */

static void http_spawn(void);

static void
http_respawn_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	http_spawn();
}

/* http_spawn: fork the HTTP child on the listening socket (http.h). */
static void
http_spawn(void)
{
	pid_t pid;

	if (m.stopping || m.http.fd < 0 || m.http.pid > 0)
		return;
	pid = fork_keeping(m.http.fd);
	if (pid == -1) {
		struct timeval tv = tv_of(1.0);

		log_warn("http: fork");
		evtimer_add(m.http.ev_respawn, &tv);
		return;
	}
	if (pid == 0)   /* it reaches the master like any client */
		_exit(http_main(m.cfg, m.http.fd));
	m.http.pid = pid;
	clock_gettime(CLOCK_MONOTONIC, &m.http.spawned_at);
	log_info("http: child %d started", (int)pid);
}

/* http_died: respawn it, at once unless it keeps dying young. */
static void
http_died(int status)
{
	char how[96];
	struct timeval tv;

	child_status_text(status, how, sizeof(how));
	m.http.pid = 0;
	if (m.stopping) {
		log_info("http: child %s", how);
		master_maybe_exit();
		return;
	}
	log_warnx("http: child %s; starting another", how);
	if (clock_since(&m.http.spawned_at) < 1.0) {
		m.http.respawn_delay = m.http.respawn_delay * 2 > 10 ? 10 :
		    m.http.respawn_delay * 2;
	} else {
		m.http.respawn_delay = 0.1;
	}
	tv = tv_of(m.http.respawn_delay);
	evtimer_add(m.http.ev_respawn, &tv);
}

/* master_gauges: this master's figures for the metrics op. */
static json_t *
master_gauges(void)
{
	int busy = 0, idle = 0;

	sync_all();
	for (int i = 0; i < MAX_SLOTS; i++) {
		struct slot *s = &m.slots[i];

		if (!s->used || s->pid <= 0)
			continue;
		if (s->job.busy)
			busy++;
		else
			idle++;
	}
	return json_pack("{s:{s:i,s:i},s:i,s:o?}", "workers", "busy", busy,
	    "idle", idle, "client_connections", server_connections(m.server),
	    "managed_redis", m.redis == NULL ? NULL : json_pack("{s:i,s:i}",
	    "pid", (int)redis_managed_pid(m.redis), "restarts",
	    redis_managed_restarts(m.redis)));
}

static void
sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	pid_t pid;
	int status;

	(void)sig; (void)what; (void)arg;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (redis_managed_reaped(m.redis, pid, status))
			continue;
		if (pid == m.http.pid) {
			http_died(status);
			continue;
		}
		for (int i = 0; i < MAX_SLOTS; i++) {
			struct slot *s = &m.slots[i];
			if (s->used && s->pid == pid) {
				/* Read what it said before dying (its
				 * handler's group). */
				if (s->ev_ctl != NULL)
					ctl_cb(s->fd, EV_READ, s);
				worker_died(s, status);
				break;
			}
		}
	}
}

/* --- heartbeats and the reaper ------------------------------------------- */

static void
heartbeat_done(void *arg, int err, const char *msg, json_t *reply)
{
	size_t i;
	json_t *v;

	(void)arg;
	m.heartbeat_busy = 0;
	if (err != PERR_OK) {
		log_debug("heartbeat: %s", msg);
		return;
	}
	json_array_foreach(json_object_get(reply, "lost"), i, v) {
		log_job(LOG_WARNING, json_string_value(v), "job %s: lease lost; "
		    "stopping it here", json_string_value(v));
		master_stop_job(json_string_value(v), STOP_LOST);
	}
	json_array_foreach(json_object_get(reply, "cancel"), i, v)
		master_stop_job(json_string_value(v), STOP_CANCEL);
}

static void
heartbeat(void)
{
	json_t *leases, *workers;

	if (m.heartbeat_busy || !store_available(m.store))
		return;
	leases = json_array();
	workers = json_array();
	for (int i = 0; i < MAX_SLOTS; i++) {
		struct slot *s = &m.slots[i];
		if (!s->used || s->pid <= 0)
			continue;
		(void)slot_sync(s, 1);
		json_array_append_new(workers, json_pack("{s:i,s:s,s:s?,s:I}",
		    "pid", (int)s->pid, "state", s->job.busy ? "busy" : "idle",
		    "job_id", s->job.busy ? s->job.job_id : NULL,
		    "jobs_done", (json_int_t)s->job.jobs_done));
		if (s->job.busy && s->stop_sent != STOP_LOST)
			json_array_append_new(leases, json_pack("{s:s,s:s}",
			    "job_id", s->job.job_id, "token", s->job.token));
	}
	m.heartbeat_busy = 1;
	store_heartbeat(m.store, leases, workers, heartbeat_done, NULL);
	json_decref(leases);
	json_decref(workers);
}

static void
heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	heartbeat();
}

static void
reap_done(void *arg, int err, const char *msg, json_t *reply)
{
	size_t i;
	json_t *v;

	(void)arg;
	m.reap_busy = 0;
	if (err != PERR_OK) {
		log_debug("reaper: %s", msg);
		return;
	}
	json_array_foreach(json_object_get(reply, "requeued"), i, v)
		log_job(LOG_WARNING, json_string_value(v), "job %s: its holder "
		    "stopped renewing its lease; requeued", json_string_value(v));
	json_array_foreach(json_object_get(reply, "failed"), i, v)
		log_job(LOG_WARNING, json_string_value(v), "job %s: its holder "
		    "stopped renewing its lease and it has no attempts left; "
		    "failed as abandoned", json_string_value(v));
	count_lost(json_object_get(reply, "labels"));
}

static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	if (m.reap_busy || !store_available(m.store))
		return;
	/* Back from an outage (a failover, a restart), leases went unrenewed
	 * meanwhile: reaping now would take jobs from live workers of the
	 * daemons that reconnect a little later than this one.  Each renews
	 * on reconnecting; give them a lease to do so. */
	if (m.store_ups > 1 && clock_since(&m.reap_held) < m.cfg->lease)
		return;
	m.reap_busy = 1;
	store_reap(m.store, reap_done, NULL);
}

/* --- systemd: status and watchdog ---------------------------------------- */

/* status_send: "redis up, 4/4 workers, 12 queued, 2 running" (running:
 * here; queued: the configured queues, as last counted). */
static void
status_send(void)
{
	char text[200], queued[32] = "";
	int busy = 0;

	sync_all();
	for (int i = 0; i < MAX_SLOTS; i++)
		if (m.slots[i].used && m.slots[i].pid > 0 && m.slots[i].job.busy)
			busy++;
	if (m.queued >= 0)
		snprintf(queued, sizeof(queued), "%lld queued, ", m.queued);
	snprintf(text, sizeof(text), "%sredis %s, %d/%d workers, %s%d running",
	    m.stopping ? "stopping: " : "",
	    store_available(m.store) ? "up" : "down", live_workers(),
	    m.cfg->workers, queued, busy);
	notify_status(text);
}

static void
status_done(void *arg, int err, const char *msg, json_t *reply)
{
	json_t *q = json_object_get(json_object_get(reply, "totals"), "queued");

	(void)arg; (void)msg;
	m.status_busy = 0;
	if (m.stopping)         /* STOPPING=1 said it; teardown may be near */
		return;
	m.queued = err == PERR_OK && json_is_integer(q) ?
	    (long long)json_integer_value(q) : -1;
	status_send();
}

/* status_cb: one count of the queues per STATUS_INTERVAL, only when
 * systemd listens (the timer is not armed otherwise). */
static void
status_cb(evutil_socket_t fd, short what, void *arg)
{
	const char *names[CONFIG_MAX_QUEUES];

	(void)fd; (void)what; (void)arg;
	if (m.status_busy || m.stopping || !store_available(m.store)) {
		if (!store_available(m.store))
			m.queued = -1;
		status_send();
		return;
	}
	for (int i = 0; i < m.cfg->nqueues; i++)
		names[i] = m.cfg->queues[i];
	m.status_busy = 1;
	store_queue_counts(m.store, names, m.cfg->nqueues, status_done, NULL);
}

/* watchdog_cb: from the loop itself, so that a stuck loop stops the
 * pings and systemd restarts jobd. */
static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	notify_watchdog();
}

static void
store_event(void *arg, enum store_event ev, const char *job_id,
    const char *detail)
{
	(void)arg; (void)detail;
	switch (ev) {
	case STORE_EV_END:
		waiters_job_ended(job_id);
		break;
	case STORE_EV_CANCEL:
		master_stop_job(job_id, STOP_CANCEL);
		break;
	case STORE_EV_UP:
		if (m.store_ups++ > 0)
			clock_gettime(CLOCK_MONOTONIC, &m.reap_held);
		server_accept(m.server);
		waiters_recheck();
		heartbeat();
		/* the workers were forked before the loop ran */
		if (!m.stopping) {
			notify_ready();
			if (notify_enabled())
				status_cb(-1, 0, NULL);
		}
		break;
	case STORE_EV_WATCHING:
		waiters_recheck();
		break;
	case STORE_EV_REFUSED:
		if (m.refused)
			break;
		log_warnx("cannot use this Redis: %s", detail);
		m.refused = 1;
		master_shutdown(SIGTERM);
		break;
	}
}

/* --- shutdown and reload ------------------------------------------------- */

static void
exit_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	if (m.in_flight > 0)
		log_warnx("exiting with %d store calls unanswered; leases "
		    "cover their jobs", m.in_flight);
	event_base_loopexit(m.base, NULL);
}

/* ready_cb: Redis did not come up soon after start: serve anyway, so that
 * clients learn "unavailable" instead of hanging. */
static void
ready_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	if (!m.stopping)
		server_accept(m.server);
}

static void
master_maybe_exit(void)
{
	struct timeval tv;

	if (!m.stopping || live_workers() > 0 || m.http.pid > 0)
		return;
	if (m.in_flight == 0) {
		log_info("all workers stopped; exiting");
		event_base_loopexit(m.base, NULL);
		return;
	}
	if (!evtimer_pending(m.ev_exit, NULL)) {
		tv = tv_of(EXIT_DRAIN);
		evtimer_add(m.ev_exit, &tv);
	}
}

/* stop_running_jobs: the grace is over: jobs go back to their queues. */
static void
stop_running_jobs(void)
{
	sync_all();
	for (int i = 0; i < MAX_SLOTS; i++) {
		struct slot *s = &m.slots[i];
		if (s->used && s->pid > 0 && s->job.busy)
			slot_stop(s, STOP_SHUTDOWN);
	}
}

static void
shutdown_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	log_info("shutdown grace over: returning running jobs to their queues");
	m.stopping = 2;
	stop_running_jobs();
	if (m.http.pid > 0)       /* it had the grace too */
		kill(m.http.pid, SIGKILL);
}

static void
master_shutdown(int sig)
{
	struct timeval tv;

	if (m.stopping) {
		log_info("%s again: stopping running jobs now", strsignal(sig));
		evtimer_del(m.ev_shutdown);
		m.stopping = 2;
		stop_running_jobs();
		if (m.http.pid > 0)
			kill(m.http.pid, SIGKILL);
		return;
	}
	log_info("%s: shutting down; running jobs get %.3g s",
	    strsignal(sig), m.cfg->shutdown_grace);
	m.stopping = 1;
	notify_stopping();
	status_send();
	cron_run_stop();
	evtimer_del(m.http.ev_respawn);
	if (m.http.pid > 0)
		kill(m.http.pid, SIGTERM);
	server_close_listener(m.server);
	waiters_shutdown();
	for (int i = 0; i < MAX_SLOTS; i++) {
		struct slot *s = &m.slots[i];
		if (!s->used)
			continue;
		evtimer_del(s->ev_respawn);
		if (s->pid > 0)
			kill(s->pid, SIGTERM);
		else
			slot_release(s);
	}
	tv = tv_of(m.cfg->shutdown_grace);
	evtimer_add(m.ev_shutdown, &tv);
	master_maybe_exit();
}

/* reload_apply: take ncfg; old workers finish their job and exit, new
 * ones take over. */
static void
reload_apply(struct config *ncfg)
{
	struct config *old = m.cfg;
	char *old_listen = old->http_listen != NULL ?
	    strdup(old->http_listen) : NULL;
	int n;

	m.cfg = ncfg;
	cron_run_reload(ncfg);
	server_set_config(m.server, ncfg);
	ops_set_config(ncfg);
	store_set_config(m.store, ncfg);
	log_set_level(ncfg->log_level);
	log_set_format(ncfg->log_format);
	if (ncfg->log_target != old->log_target ||
	    (ncfg->log_file != NULL && old->log_file != NULL &&
	    strcmp(ncfg->log_file, old->log_file) != 0))
		log_warnx("reload: a change of log_target needs a restart; "
		    "logging where it did");
	config_free(old);

	for (int i = 0; i < MAX_SLOTS; i++) {
		struct slot *s = &m.slots[i];
		if (!s->used || s->retiring)
			continue;
		s->retiring = 1;
		if (s->pid > 0)
			kill(s->pid, SIGTERM);
		else
			slot_release(s);
	}
	for (n = 0; n < ncfg->workers; n++) {
		struct slot *s = slot_new(0);
		if (s == NULL)
			break;
		slot_spawn(s);
	}
	/* The HTTP child takes its new limits by starting again; the
	 * listening socket stays (its address changes with a restart). */
	if ((old_listen == NULL) != (ncfg->http_listen == NULL) ||
	    (old_listen != NULL && strcmp(old_listen, ncfg->http_listen) != 0))
		log_warnx("reload: a change of http.listen needs a restart; "
		    "serving the old address");
	if (m.http.pid > 0)
		kill(m.http.pid, SIGTERM);
	free(old_listen);
	log_info("configuration reloaded: %d workers, %d job types", n,
	    ncfg->ntypes);
}

/* A reload waiting for the job counts of the queues it removes. */
static struct {
	struct config *ncfg;
	ops_reload_done *done;
	void *arg;
} rl;

static void
reload_end(const char *msg)
{
	ops_reload_done *done = rl.done;
	void *arg = rl.arg;

	ops_set_removing(NULL);
	if (msg != NULL) {
		log_warnx("%s", msg);
		config_free(rl.ncfg);
	} else
		reload_apply(rl.ncfg);
	memset(&rl, 0, sizeof(rl));
	notify_reload_done();
	if (done != NULL)
		done(arg, msg);
}

/* counts_done: a queue the reload removes that still holds jobs (queued or
 * scheduled: nobody would run them) refuses it.  Started ones end as usual. */
static void
counts_done(void *arg, int err, const char *errmsg, json_t *reply)
{
	char msg[600];
	const char *q;
	json_t *v;

	(void)arg;
	if (m.stopping) {       /* no new workers now */
		reload_end("reload failed, keeping the current configuration: "
		    "jobd is shutting down");
		return;
	}
	if (err != PERR_OK) {
		snprintf(msg, sizeof(msg), "reload refused: cannot count the jobs "
		    "of the queues it removes: %s", errmsg);
		reload_end(msg);
		return;
	}
	json_object_foreach(json_object_get(reply, "queues"), q, v) {
		json_int_t n = json_integer_value(json_object_get(v, "queued")) +
		    json_integer_value(json_object_get(v, "scheduled"));

		if (n > 0) {
			snprintf(msg, sizeof(msg), "reload refused: queue '%s' "
			    "still holds %lld jobs (queued or scheduled); drain or "
			    "move them first", q, (long long)n);
			reload_end(msg);
			return;
		}
	}
	reload_end(NULL);
}

/* master_reload: load the config again (SIGHUP, the reload op); done gets
 * NULL once applied, or why not (the current configuration kept).  A
 * reload that removes queues asks Redis first whether they are empty. */
static void
master_reload(ops_reload_done *done, void *arg)
{
	struct config *ncfg, *old = m.cfg;
	char err[512], msg[600];
	const char *gone[CONFIG_MAX_QUEUES];
	int ngone = 0;

	if (m.stopping || rl.ncfg != NULL) {
		snprintf(msg, sizeof(msg), "reload failed, keeping the current "
		    "configuration: %s", m.stopping ? "jobd is shutting down" :
		    "another reload is in progress");
		if (done != NULL)
			done(arg, msg);
		return;
	}
	notify_reloading();
	ncfg = m.reload(err, sizeof(err));
	if (ncfg == NULL) {
		snprintf(msg, sizeof(msg), "reload failed, keeping the current "
		    "configuration: %s", err);
		log_warnx("%s", msg);
		notify_reload_done();
		if (done != NULL)
			done(arg, msg);
		return;
	}
	if (strcmp(ncfg->socket, old->socket) != 0 ||
	    strcmp(ncfg->redis, old->redis) != 0 ||
	    strcmp(ncfg->prefix, old->prefix) != 0 ||
	    strcmp(ncfg->ns, old->ns) != 0 ||
	    (old->redis_managed && (strcmp(ncfg->state_dir, old->state_dir) != 0 ||
	    strcmp(ncfg->redis_server_exe, old->redis_server_exe) != 0 ||
	    strcmp(ncfg->redis_appendfsync, old->redis_appendfsync) != 0))) {
		const char *why = "socket, redis, state_dir, redis_server, "
		    "redis_appendfsync, prefix and namespace changes need a "
		    "restart";

		log_warnx("reload refused: %s; keeping the current "
		    "configuration", why);
		config_free(ncfg);
		notify_reload_done();
		if (done != NULL) {
			snprintf(msg, sizeof(msg), "reload failed, keeping the "
			    "current configuration: %s", why);
			done(arg, msg);
		}
		return;
	}
	for (int i = 0; i < old->nqueues; i++)
		if (config_queue_index(ncfg, old->queues[i]) < 0)
			gone[ngone++] = old->queues[i];
	rl.ncfg = ncfg;
	rl.done = done;
	rl.arg = arg;
	if (ngone == 0) {
		reload_end(NULL);
		return;
	}
	ops_set_removing(ncfg);
	store_queue_counts(m.store, gone, ngone, counts_done, NULL);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what; (void)arg;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		master_shutdown((int)sig);
		break;
	case SIGHUP: {
		if (!m.stopping)
			master_reload(NULL, NULL);
		break;
	}
	case SIGUSR1:           /* logrotate: the file again, here and below */
		(void)log_reopen();
		for (int i = 0; i < MAX_SLOTS; i++)
			if (m.slots[i].used && m.slots[i].pid > 0)
				kill(m.slots[i].pid, SIGUSR1);
		if (m.http.pid > 0)
			kill(m.http.pid, SIGUSR1);
		break;
	}
}

int
master_run(struct config *cfg, master_reload_fn *reload)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct event *ev_sig[4];
	struct event *ev_chld;
	struct timeval tv;
	sigset_t stopping;
	char err[512];
	char redis[512];
	int rc = 0, ok, client_fd, http_fd;

	memset(&m, 0, sizeof(m));
	m.queued = -1;
	m.http.fd = -1;
	m.http.respawn_delay = 0.1;
	m.cfg = cfg;
	m.reload = reload;
	signal(SIGPIPE, SIG_IGN);
	m.base = event_base_new();
	if (m.base == NULL) {
		log_warnx("cannot create the event loop");
		config_free(cfg);
		return 1;
	}
	/* Before any fork: every worker shares them. */
	if (metrics_map() == -1)
		log_warn("cannot map the metrics counters; /metrics will show "
		    "none");
	m.sb = scoreboard_map(MAX_SLOTS);
	if (m.sb == NULL) {
		log_warn("cannot map the scoreboard");
		event_base_free(m.base);
		config_free(cfg);
		return 1;
	}
	/* Signals first: a SIGTERM sent once the socket exists is handled. */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		ev_sig[i] = evsignal_new(m.base, sigs[i], signal_cb, NULL);
		evsignal_add(ev_sig[i], NULL);
	}
	ev_chld = evsignal_new(m.base, SIGCHLD, sigchld_cb, NULL);
	evsignal_add(ev_chld, NULL);
	/* Redis first and, at the end, last: the workers need it to store
	 * the outcome of the jobs they finish. */
	ok = notify_listen_fds(&client_fd, &http_fd, err, sizeof(err)) == 0;
	if (ok && cfg->redis_managed &&
	    (m.redis = redis_managed_start(m.base, cfg, err, sizeof(err))) == NULL)
		ok = 0;
	if (ok && (m.server = server_new(m.base, cfg)) == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		ok = 0;
	}
	if (ok)
		ok = server_listen(m.server, client_fd, err, sizeof(err)) == 0;
	if (ok && cfg->http_listen != NULL)
		ok = (m.http.fd = http_listen_open(cfg, http_fd, err,
		    sizeof(err))) != -1;
	else if (http_fd != -1) {
		log_warnx("the dashboard's socket systemd passed (fd %d) is not "
		    "used: [http] listen is not set", http_fd);
		close(http_fd);
	}
	if (!ok) {
		log_warnx("%s", err);
		server_free(m.server);
		redis_managed_stop(m.redis);
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			event_free(ev_sig[i]);
		event_free(ev_chld);
		event_base_free(m.base);
		scoreboard_unmap(m.sb, MAX_SLOTS);
		metrics_unmap();
		config_free(cfg);
		return 1;
	}
	m.store = store_new(m.base, cfg, store_event, NULL);
	ops_init(m.base, m.store, cfg);
	ops_set_reload_hook(master_reload);
	ops_set_gauges(master_gauges);
	if (cron_run_start(m.base, m.store, cfg) == -1)
		log_warnx("cron: out of memory: no periodic jobs");
	m.http.ev_respawn = evtimer_new(m.base, http_respawn_cb, NULL);


	m.ev_heartbeat = event_new(m.base, -1, EV_PERSIST, heartbeat_cb, NULL);
	tv = tv_of(cfg->lease / 3 < 2.0 ? cfg->lease / 3 : 2.0);
	event_add(m.ev_heartbeat, &tv);
	m.ev_reap = event_new(m.base, -1, EV_PERSIST, reap_cb, NULL);
	tv = tv_of(REAP_INTERVAL);
	event_add(m.ev_reap, &tv);
	m.ev_check = event_new(m.base, -1, EV_PERSIST, check_cb, NULL);
	tv = tv_of(CHECK_INTERVAL);
	event_add(m.ev_check, &tv);
	m.ev_shutdown = evtimer_new(m.base, shutdown_cb, NULL);
	m.ev_exit = evtimer_new(m.base, exit_cb, NULL);
	/* Accept clients once Redis is up (STORE_EV_UP), or after a bound. */
	m.ev_ready = evtimer_new(m.base, ready_cb, NULL);
	tv = tv_of(READY_WAIT);
	evtimer_add(m.ev_ready, &tv);
	m.ev_status = event_new(m.base, -1, EV_PERSIST, status_cb, NULL);
	if (notify_enabled()) {
		tv = tv_of(STATUS_INTERVAL);
		event_add(m.ev_status, &tv);
	}
	m.ev_watchdog = event_new(m.base, -1, EV_PERSIST, watchdog_cb, NULL);
	{
		uint64_t usec = notify_watchdog_usec();

		if (usec > 0) {
			tv = tv_of((double)usec / 2e6);
			event_add(m.ev_watchdog, &tv);
		}
	}

	for (int i = 0; i < cfg->workers; i++) {
		struct slot *s = slot_new(0);
		if (s != NULL)
			slot_spawn(s);
	}
	http_spawn();
	log_info("jobd %s listening on %s, %d workers, redis %s",
	    PACKAGE_VERSION, cfg->socket, cfg->workers, cfg->redis_managed ?
	    "managed" : redis_url_redact(cfg->redis, redis, sizeof(redis)));

	if (event_base_dispatch(m.base) == -1) {
		log_warnx("event loop failed");
		rc = 1;
	}
	if (m.refused)
		rc = 1;

	/* Stopping already: a further SIGTERM, SIGINT or SIGHUP must not kill
	 * the teardown once freeing their events restores the default
	 * action (exit handlers such as ASan's leak check take a while). */
	sigemptyset(&stopping);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&stopping, sigs[i]);
	sigprocmask(SIG_BLOCK, &stopping, NULL);

	/* Tear down in the reverse order, so that valgrind sees no leak. */
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (m.slots[i].used) {
			if (m.slots[i].pid > 0)
				kill(m.slots[i].pid, SIGKILL);
			slot_release(&m.slots[i]);
		}
	}
	if (m.http.pid > 0) {
		kill(m.http.pid, SIGKILL);
		waitpid(m.http.pid, NULL, 0);
	}
	http_listen_close(m.cfg, m.http.fd);
	event_free(m.http.ev_respawn);
	server_free(m.server);
	cron_run_stop();
	store_free(m.store);
	redis_managed_stop(m.redis);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		event_free(ev_sig[i]);
	event_free(ev_chld);
	event_free(m.ev_heartbeat);
	event_free(m.ev_reap);
	event_free(m.ev_check);
	event_free(m.ev_shutdown);
	event_free(m.ev_exit);
	event_free(m.ev_ready);
	event_free(m.ev_status);
	event_free(m.ev_watchdog);
	event_base_free(m.base);
	scoreboard_unmap(m.sb, MAX_SLOTS);
	metrics_unmap();
	config_free(m.cfg);
	log_info("stopped");
	return rc;
}
