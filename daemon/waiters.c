/*
 * waiters.c: clients waiting for jobs to end; see waiters.h.
 *
 * A waiter is parked in a table keyed by job id until the job's end event
 * arrives (pub/sub, fed by store.c through the master) or its timer fires:
 * nothing polls Redis.  Only the ends of jobs somebody waits for are
 * published (store_watch marks them), and they are listened to only while
 * someone waits (and WATCH_LINGER_S after): the other jobs' ends cost
 * Redis and the master nothing.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "proto.h"
#include "reply.h"
#include "waiters.h"

static struct {
	struct event_base *base;
	struct store *store;
	struct event watch_off;    /* stop listening to end events */
} waiters;

/* A client that waits for job after job keeps the subscription. */
#define WATCH_LINGER_S 10

static int
status_is_terminal(const char *s)
{
	return s != NULL && (strcmp(s, "finished") == 0 ||
	    strcmp(s, "failed") == 0 || strcmp(s, "canceled") == 0);
}

static const char *
record_status(json_t *record)
{
	return json_string_value(json_object_get(record, "status"));
}

struct waiter {
	struct waiter *next;
	struct reply *reply;
	char job_id[REQUEST_MAX_ID_LEN + 1];
	struct event *timer;
	int checking;              /* a store_watch is in flight */
	int recheck;               /* an event came while checking */
	int timed_out;
	int shutting_down;  /* the daemon stops: a wait gets "unavailable" */
	int is_cancel;             /* answers a cancel: reply {"status"} */
};

#define WAIT_BUCKETS 4096
static struct waiter *wait_table[WAIT_BUCKETS];
static int wait_count;

static unsigned
wait_hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h & (WAIT_BUCKETS - 1);
}

static void
waiter_unlink(struct waiter *w)
{
	struct waiter **pp = &wait_table[wait_hash(w->job_id)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			if (--wait_count == 0) {
				struct timeval tv = { WATCH_LINGER_S, 0 };

				evtimer_add(&waiters.watch_off, &tv);
			}
			return;
		}
	}
}

/* waiter_finish: answer and forget w.  record may be NULL (not found). */
static void
waiter_finish(struct waiter *w, int err, const char *msg, json_t *record)
{
	struct reply *r = w->reply;

	waiter_unlink(w);
	event_free(w->timer);
	if (err != PERR_OK) {
		reply_error(r, err, msg, NULL);
	} else if (w->shutting_down && !w->is_cancel &&
	    !status_is_terminal(record_status(record))) {
		/* Not "timed out": the job did not take too long, this daemon
		 * stopped waiting.  The client may wait again elsewhere. */
		reply_error(r, PERR_UNAVAILABLE, "jobd is shutting down; the job "
		    "has not ended: wait again", json_pack("{s:s, s:s?}",
		    "job_id", w->job_id, "status", record_status(record)));
	} else if (w->is_cancel) {
		reply_ok(r, json_pack("{s:s?}", "status", record_status(record)));
	} else {
		json_t *out = json_pack("{s:O}", "job", record);
		if (w->timed_out && !status_is_terminal(record_status(record)))
			json_object_set_new(out, "timed_out", json_true());
		reply_ok(r, out);
	}
	free(w);
}

static void waiter_check(struct waiter *w);

static void
waiter_got(void *arg, int err, const char *msg, json_t *record)
{
	struct waiter *w = arg;

	w->checking = 0;
	reply_answered(w->reply);   /* a wait holds no share of Redis */
	if ((err == PERR_UNAVAILABLE || err == PERR_IN_DOUBT) &&
	    !w->timed_out && !w->shutting_down) {
		/* Redis out of reach (a failover, a restart): keep waiting;
		 * the store's next STORE_EV_UP or STORE_EV_WATCHING looks
		 * again (waiters_recheck), and the timer still bounds it. */
		w->recheck = 0;
		return;
	}
	if (err != PERR_OK) {
		waiter_finish(w, err, msg, NULL);
		return;
	}
	if (status_is_terminal(record_status(record)) || w->timed_out) {
		waiter_finish(w, PERR_OK, NULL, record);
		return;
	}
	if (w->recheck) {
		w->recheck = 0;
		waiter_check(w);
	}
}

static void
waiter_check(struct waiter *w)
{
	if (w->checking) {
		w->recheck = 1;
		return;
	}
	w->checking = 1;
	store_watch(waiters.store, w->job_id, waiter_got, w);
}

static void
waiter_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;

	(void)fd; (void)what;
	w->timed_out = 1;
	waiter_check(w);
}

/* waiter_abort: the client went away; the get in flight (if any) still
 * holds w, so only detach the reply then. */
static void
waiter_abort(struct reply *r, void *arg)
{
	struct waiter *w = arg;

	w->timed_out = 1;   /* answer whatever the next look says */
	(void)r;
	if (!w->checking)
		waiter_check(w);
}

void
waiters_add(struct reply *r, const char *job_id, double timeout, int is_cancel)
{
	struct waiter *w = calloc(1, sizeof(*w));
	struct timeval tv;
	unsigned h;

	if (w == NULL) {
		reply_error(r, PERR_INTERNAL, "out of memory", NULL);
		return;
	}
	w->reply = r;
	w->is_cancel = is_cancel;
	snprintf(w->job_id, sizeof(w->job_id), "%s", job_id);
	w->timer = evtimer_new(waiters.base, waiter_timeout_cb, w);
	if (w->timer == NULL) {
		free(w);
		reply_error(r, PERR_INTERNAL, "out of memory", NULL);
		return;
	}
	h = wait_hash(w->job_id);
	w->next = wait_table[h];
	wait_table[h] = w;
	if (wait_count++ == 0) {
		evtimer_del(&waiters.watch_off);
		store_watch_ends(waiters.store, 1);
	}
	reply_set_abort(r, waiter_abort, w);
	tv.tv_sec = (time_t)timeout;
	tv.tv_usec = (suseconds_t)((timeout - (double)tv.tv_sec) * 1e6);
	evtimer_add(w->timer, &tv);
	/* Registered before looking, so an end event between the look and
	 * its answer is not missed; if the subscription is only now being
	 * made, STORE_EV_WATCHING looks again once it is. */
	waiter_check(w);
}

int
waiters_count(void)
{
	return wait_count;
}

void
waiters_job_ended(const char *job_id)
{
	struct waiter *w, *next;

	for (w = wait_table[wait_hash(job_id)]; w != NULL; w = next) {
		next = w->next;
		if (strcmp(w->job_id, job_id) == 0)
			waiter_check(w);
	}
}

static void
waiters_each(void (*fn)(struct waiter *))
{
	struct waiter *w, *next;

	for (int i = 0; i < WAIT_BUCKETS; i++)
		for (w = wait_table[i]; w != NULL; w = next) {
			next = w->next;
			fn(w);
		}
}

void
waiters_recheck(void)
{
	waiters_each(waiter_check);
}

static void
waiter_expire(struct waiter *w)
{
	w->timed_out = 1;
	w->shutting_down = 1;
	waiter_check(w);
}

void
waiters_shutdown(void)
{
	waiters_each(waiter_expire);
}

static void
watch_off_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	if (wait_count == 0)
		store_watch_ends(waiters.store, 0);
}

void
waiters_init(struct event_base *base, struct store *st)
{
	waiters.base = base;
	waiters.store = st;
	evtimer_assign(&waiters.watch_off, base, watch_off_cb, NULL);
}
