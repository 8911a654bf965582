/*
 * ops.c: the protocol operations; see ops.h.
 *
 * Each op turns a validated request into one store call and the store's
 * reply into the response.  wait parks the reply in a table keyed by job
 * id until the job's end event arrives (pub/sub, fed by store.c) or its
 * timer fires: nothing polls Redis.  Only the ends of jobs somebody waits
 * for are published (store_watch marks them), and they are listened to
 * only while someone waits (and WATCH_LINGER_S after): the other jobs' ends
 * cost Redis and the master nothing.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "conn.h"
#include "log.h"
#include "ops.h"
#include "proto.h"

static struct {
	struct event_base *base;
	struct store *store;
	const struct config *cfg;
	int (*reload)(char *err, size_t errlen);
	struct event watch_off;    /* stop listening to end events */
} ops;

/* A client that waits for job after job keeps the subscription. */
#define WATCH_LINGER_S 10

/* --- job ids: "j_" + ULID (48-bit ms time, 80 random bits) ------------- */

#define JOBID_LEN (2 + 26)

static void
jobid_make(char out[JOBID_LEN + 1])
{
	static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	static unsigned long long last_ms;
	static unsigned char rnd[10];
	struct timespec ts;
	unsigned long long ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (unsigned long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (ms > last_ms) {
		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
			for (size_t i = 0; i < sizeof(rnd); i++)
				rnd[i] = (unsigned char)random();
		}
		rnd[0] &= 0x7f;   /* room to increment within one ms */
		last_ms = ms;
	} else {
		/* Same millisecond (or the clock stepped back): keep ids
		 * monotonic by incrementing the random part. */
		for (int i = sizeof(rnd) - 1; i >= 0 && ++rnd[i] == 0; i--)
			;
		ms = last_ms;
	}
	out[0] = 'j';
	out[1] = '_';
	for (int i = 9; i >= 0; i--) {      /* 10 chars of time, 50 bits */
		out[2 + i] = b32[ms & 31];
		ms >>= 5;
	}
	/* 16 chars of the 80 random bits */
	unsigned long long hi = 0, lo = 0;
	for (int i = 0; i < 5; i++)
		hi = hi << 8 | rnd[i];
	for (int i = 5; i < 10; i++)
		lo = lo << 8 | rnd[i];
	for (int i = 7; i >= 0; i--) {
		out[12 + i] = b32[hi & 31];
		hi >>= 5;
		out[20 + i] = b32[lo & 31];
		lo >>= 5;
	}
	out[JOBID_LEN] = '\0';
}

/* --- helpers ------------------------------------------------------------ */

static void
reply_store_error(struct reply *r, int err, const char *msg, json_t *reply)
{
	reply_error(r, err, msg, reply != NULL ? json_incref(reply) : NULL);
}

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

/* --- waiters ------------------------------------------------------------ */

struct waiter {
	struct waiter *next;
	struct reply *reply;
	char job_id[REQUEST_MAX_ID_LEN + 1];
	struct event *timer;
	int checking;              /* a store_watch is in flight */
	int recheck;               /* an event came while checking */
	int timed_out;
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

				evtimer_add(&ops.watch_off, &tv);
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
		reply_store_error(r, err, msg, NULL);
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
	store_watch(ops.store, w->job_id, waiter_got, w);
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

static void
waiter_start(struct reply *r, const char *job_id, double timeout, int is_cancel)
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
	w->timer = evtimer_new(ops.base, waiter_timeout_cb, w);
	if (w->timer == NULL) {
		free(w);
		reply_error(r, PERR_INTERNAL, "out of memory", NULL);
		return;
	}
	h = wait_hash(w->job_id);
	w->next = wait_table[h];
	wait_table[h] = w;
	if (wait_count++ == 0) {
		evtimer_del(&ops.watch_off);
		store_watch_ends(ops.store, 1);
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

void
ops_job_ended(const char *job_id)
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
ops_recheck_waiters(void)
{
	waiters_each(waiter_check);
}

static void
waiter_expire(struct waiter *w)
{
	w->timed_out = 1;
	waiter_check(w);
}

void
ops_shutdown(void)
{
	waiters_each(waiter_expire);
}

int
ops_waiters(void)
{
	return wait_count;
}

/* --- ops ---------------------------------------------------------------- */

static void
submit_done(void *arg, int err, const char *msg, json_t *reply)
{
	struct reply *r = arg;
	struct request *req = reply_request(r);
	json_t *ids = json_object_get(reply, "job_ids");

	if (err != PERR_OK) {
		reply_store_error(r, err, msg, reply);
		return;
	}
	if (req->op == OP_SUBMIT)
		reply_ok(r, json_pack("{s:O?,s:O?}",
		    "job_id", json_array_get(ids, 0),
		    "status", json_array_get(json_object_get(reply, "statuses"),
		    0)));
	else
		reply_ok(r, json_pack("{s:O?}", "job_ids", ids));
}

static void
op_submit(struct reply *r, struct request *req)
{
	char (*gen)[JOBID_LEN + 1];
	char **ids;

	gen = malloc(req->njobs * sizeof(*gen));
	ids = malloc(req->njobs * sizeof(*ids));
	if (gen == NULL || ids == NULL) {
		free(gen);
		free(ids);
		reply_error(r, PERR_INTERNAL, "out of memory", NULL);
		return;
	}
	for (size_t i = 0; i < req->njobs; i++) {
		if (req->jobs[i].job_id != NULL) {
			ids[i] = (char *)req->jobs[i].job_id;
		} else {
			jobid_make(gen[i]);
			ids[i] = gen[i];
		}
	}
	store_submit(ops.store, req->jobs, ids, req->njobs, submit_done, r);
	free(gen);
	free(ids);
}

static void
get_done(void *arg, int err, const char *msg, json_t *record)
{
	struct reply *r = arg;

	if (err != PERR_OK)
		reply_store_error(r, err, msg, record);
	else
		reply_ok(r, json_pack("{s:O}", "job", record));
}

static void
result_done(void *arg, int err, const char *msg, json_t *record)
{
	struct reply *r = arg;
	const char *status;
	json_t *out;

	if (err != PERR_OK) {
		reply_store_error(r, err, msg, record);
		return;
	}
	status = record_status(record);
	out = json_pack("{s:s?}", "status", status);
	if (status != NULL && strcmp(status, "finished") == 0)
		json_object_set(out, "result", json_object_get(record, "result"));
	else if (status != NULL && (strcmp(status, "failed") == 0 ||
	    strcmp(status, "canceled") == 0))
		json_object_set(out, "error", json_object_get(record, "error"));
	reply_ok(r, out);
}

static void
cancel_done(void *arg, int err, const char *msg, json_t *reply)
{
	struct reply *r = arg;
	struct request *req = reply_request(r);
	const char *status = json_string_value(json_object_get(reply, "status"));

	if (err != PERR_OK) {
		reply_store_error(r, err, msg, reply);
		return;
	}
	if (status != NULL && strcmp(status, "started") == 0) {
		/* Its owner's master is stopping it (cancel event); answer
		 * when it has ended, or after the kill grace at most. */
		waiter_start(r, req->job_id, ops.cfg->grace + 10.0, 1);
		return;
	}
	reply_ok(r, json_pack("{s:s?}", "status", status));
}

static void
fields_done(void *arg, int err, const char *msg, json_t *reply)
{
	struct reply *r = arg;

	if (err != PERR_OK)
		reply_store_error(r, err, msg, reply);
	else
		reply_ok(r, json_is_object(reply) ? json_incref(reply) : NULL);
}

static void
empty_done(void *arg, int err, const char *msg, json_t *reply)
{
	struct reply *r = arg;

	if (err != PERR_OK)
		reply_store_error(r, err, msg, reply);
	else
		reply_ok(r, NULL);
}

/* op_reload: the master loads its config file again, as on SIGHUP. */
static void
op_reload(struct reply *r)
{
	char err[512], msg[600];

	log_info("reload asked by uid %ld", reply_peer_uid(r));
	if (ops.reload == NULL) {
		reply_error(r, PERR_INTERNAL, "reload is not available", NULL);
		return;
	}
	if (ops.reload(err, sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "reload failed, keeping the current "
		    "configuration: %s", err);
		reply_error(r, PERR_INTERNAL, msg, NULL);
		return;
	}
	reply_ok(r, NULL);
}

void
ops_dispatch(struct reply *r)
{
	struct request *req = reply_request(r);
	double timeout;

	switch (req->op) {
	case OP_HELLO:
		reply_ok(r, json_pack("{s:s,s:s,s:i,s:I}", "server", "jobd",
		    "version", PACKAGE_VERSION, "protocol", PROTO_VERSION,
		    "max_frame", (json_int_t)ops.cfg->max_frame));
		break;
	case OP_PING:
		reply_ok(r, NULL);
		break;
	case OP_SUBMIT:
	case OP_SUBMIT_MANY:
		op_submit(r, req);
		break;
	case OP_GET:
		store_get(ops.store, req->job_id, get_done, r);
		break;
	case OP_RESULT:
		store_get(ops.store, req->job_id, result_done, r);
		break;
	case OP_WAIT:
		timeout = req->timeout;
		if (timeout > ops.cfg->max_wait)
			timeout = ops.cfg->max_wait;
		waiter_start(r, req->job_id, timeout, 0);
		break;
	case OP_CANCEL:
		store_cancel(ops.store, req->job_id, cancel_done, r);
		break;
	case OP_REQUEUE:
		if (req->all_failed)
			store_requeue_failed(ops.store, req->queue, fields_done, r);
		else
			store_requeue(ops.store, req->job_id, fields_done, r);
		break;
	case OP_LIST:
		store_list(ops.store, req->status, req->queue, req->type,
		    req->offset, req->limit, fields_done, r);
		break;
	case OP_STATS:
		store_stats(ops.store, fields_done, r);
		break;
	case OP_PAUSE:
	case OP_RESUME:
		store_pause(ops.store, req->queue, req->op == OP_PAUSE,
		    empty_done, r);
		break;
	case OP_PROGRESS:
		store_progress(ops.store, req->job_id, req->percent,
		    req->message, empty_done, r);
		break;
	case OP_DELETE:
		store_delete(ops.store, req->job_id, empty_done, r);
		break;
	case OP_RELOAD:
		op_reload(r);
		break;
	default:
		reply_error(r, PERR_UNKNOWN_OP, "unknown op", NULL);
		break;
	}
}

static void
watch_off_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	if (wait_count == 0)
		store_watch_ends(ops.store, 0);
}

void
ops_init(struct event_base *base, struct store *st, const struct config *cfg)
{
	ops.base = base;
	ops.store = st;
	ops.cfg = cfg;
	evtimer_assign(&ops.watch_off, base, watch_off_cb, NULL);
}

void
ops_set_config(const struct config *cfg)
{
	ops.cfg = cfg;
}

void
ops_set_reload_hook(int (*fn)(char *err, size_t errlen))
{
	ops.reload = fn;
}
