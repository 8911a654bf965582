/*
 * ops.c: the protocol operations; see ops.h.
 *
 * Each handler turns a validated request into one store call and the
 * store's reply into the response; wait (and cancel of a started job)
 * hand the reply to waiters.c.  Which handler runs for which op is the
 * handle column of optable.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "config_limit.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "proto.h"
#include "reply.h"
#include "text.h"
#include "waiters.h"

static struct {
	struct store *store;
	const struct config *cfg;
	void (*reload)(ops_reload_done *done, void *arg);
	const struct config *removing;  /* ops_set_removing */
	json_t *(*gauges)(void);        /* ops_set_gauges */
} ops;

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

static const char *
record_status(json_t *record)
{
	return json_string_value(json_object_get(record, "status"));
}

/* --- the store's answers ----------------------------------------------- */

static void
submit_done(void *arg, int err, const char *msg, json_t *reply)
{
	struct reply *r = arg;
	struct request *req = reply_request(r);
	json_t *ids = json_object_get(reply, "job_ids");

	if (err == PERR_IN_DOUBT && req->op == OP_SUBMIT) {
		/* The job's id, to look it up rather than submit again. */
		reply_error(r, err, msg, json_pack("{s:O?}", "job_id",
		    json_array_get(ids, 0)));
		return;
	}
	if (err != PERR_OK) {
		reply_store_error(r, err, msg, reply);
		return;
	}
	for (size_t i = 0; i < req->njobs; i++)
		metrics_submitted(ops.cfg, req->jobs[i].queue,
		    req->jobs[i].type);
	if (req->op == OP_SUBMIT)
		reply_ok(r, json_pack("{s:O?,s:O?}",
		    "job_id", json_array_get(ids, 0),
		    "status", json_array_get(json_object_get(reply, "statuses"),
		    0)));
	else
		reply_ok(r, json_pack("{s:O?}", "job_ids", ids));
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
		waiters_add(r, req->job_id, ops.cfg->grace + 10.0, 1);
		return;
	}
	/* Ended here, never having run (a started one is counted by whoever
	 * stops it). */
	if (status != NULL && strcmp(status, "canceled") == 0)
		metrics_outcome(ops.cfg, json_string_value(json_object_get(reply,
		    "queue")), json_string_value(json_object_get(reply, "type")),
		    MX_CANCELED);
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

/* --- the handlers, named in optable.h ----------------------------------- */

static void
op_hello(struct reply *r)
{
	reply_ok(r, json_pack("{s:s,s:s,s:i,s:I}", "server", "jobd",
	    "version", PACKAGE_VERSION, "protocol", PROTO_VERSION,
	    "max_frame", (json_int_t)ops.cfg->max_frame));
}

static void
op_ping(struct reply *r)
{
	reply_ok(r, NULL);
}

/* op_submit: submit and submit_many. */
static void
op_submit(struct reply *r)
{
	struct request *req = reply_request(r);
	char (*gen)[JOBID_LEN + 1];
	char **ids;
	char msg[200];

	for (size_t i = 0; ops.removing != NULL && i < req->njobs; i++)
		if (config_queue_index(ops.removing, req->jobs[i].queue) < 0) {
			snprintf(msg, sizeof(msg), "queue '%s' is being removed "
			    "by a reload", req->jobs[i].queue);
			reply_error(r, PERR_UNAVAILABLE, msg, NULL);
			return;
		}
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
op_get(struct reply *r)
{
	store_get(ops.store, reply_request(r)->job_id, get_done, r);
}

static void
op_result(struct reply *r)
{
	store_result(ops.store, reply_request(r)->job_id, result_done, r);
}

static void
op_wait(struct reply *r)
{
	struct request *req = reply_request(r);
	double timeout = req->timeout;
	char msg[96];

	/* each waiter holds its request and a timer: bounded; a cancel's
	 * waiter is not, its job is already being stopped */
	if (waiters_count() >= ops.cfg->max_waiters) {
		snprintf(msg, sizeof(msg), "%d waits pending (max_waiters): "
		    "retry later", waiters_count());
		reply_error(r, PERR_BUSY, msg, NULL);
		return;
	}
	if (timeout > ops.cfg->max_wait)
		timeout = ops.cfg->max_wait;
	waiters_add(r, req->job_id, timeout, 0);
}

static void
op_cancel(struct reply *r)
{
	store_cancel(ops.store, reply_request(r)->job_id, cancel_done, r);
}

static void
op_requeue(struct reply *r)
{
	struct request *req = reply_request(r);

	if (req->all_failed)
		store_requeue_failed(ops.store, req->queue, fields_done, r);
	else
		store_requeue(ops.store, req->job_id, fields_done, r);
}

static void
op_list(struct reply *r)
{
	struct request *req = reply_request(r);

	store_list(ops.store, req->status, req->queue, req->type,
	    req->offset, req->limit, fields_done, r);
}

/* --- the Redis server this daemon uses (health, metrics, stats) -------- */

/* node_json: store_node as a JSON string.  A socket path is the config's
 * bytes: what is not UTF-8, and the controls, become '?', so that the
 * JSON, a terminal and the Prometheus text stay well-formed. */
static json_t *
node_json(void)
{
	const unsigned char *s = (const unsigned char *)store_node(ops.store);
	size_t n = strlen((const char *)s), i = 0, k = 0, l;
	char *out = malloc(n + 1);
	json_t *j;
	unsigned cp;

	if (out == NULL)
		return NULL;
	while (i < n) {
		l = text_utf8_len(s + i, n - i, &cp);
		if (l == 0 || text_is_control(cp)) {
			out[k++] = '?';
			i += l ? l : 1;
		} else {
			memcpy(out + k, s + i, l);
			k += l;
			i += l;
		}
	}
	j = json_stringn(out, k);
	free(out);
	return j;
}

/* add_redis: o's "redis_mode" and "redis_node" (and "redis_failovers"
 * when failovers): how this daemon finds its Redis and which server its
 * links reach now (docs/protocol.md, health, metrics and stats). */
static void
add_redis(json_t *o, int failovers)
{
	json_object_set_new(o, "redis_mode",
	    json_string(store_mode(ops.store)));
	json_object_set_new(o, "redis_node", node_json());
	if (failovers)
		json_object_set_new(o, "redis_failovers",
		    json_integer((json_int_t)store_failovers(ops.store)));
}

/* stats_done: the shared figures, plus "this_daemon": the Redis server
 * of the daemon answering, under its "daemons" id (host:pid of this
 * master, as store.c heartbeats it: ops run in the master). */
static void
stats_done(void *arg, int err, const char *msg, json_t *reply)
{
	struct reply *r = arg;
	json_t *o, *me;
	char id[320];

	if (err != PERR_OK || !json_is_object(reply)) {
		fields_done(arg, err, msg, reply);
		return;
	}
	if ((o = json_copy(reply)) == NULL) {
		reply_error(r, PERR_INTERNAL, "out of memory", NULL);
		return;
	}
	snprintf(id, sizeof(id), "%s:%ld", store_host(ops.store),
	    (long)getpid());
	if ((me = json_pack("{s:s}", "daemon", id)) != NULL) {
		add_redis(me, 1);
		json_object_set_new(o, "this_daemon", me);
	}
	reply_ok(r, o);
}

static void
op_stats(struct reply *r)
{
	store_stats(ops.store, stats_done, r);
}

/* cron_list: the configured schedules with their next tick, and from
 * Redis their last claimed tick and its job. */
static void
cron_list_done(void *arg, int err, const char *msg, json_t *reply)
{
	struct reply *r = arg;
	json_t *out, *list = json_array();
	long long now = (long long)time(NULL);
	char when[32];

	if (err != PERR_OK) {
		json_decref(list);
		reply_store_error(r, err, msg, reply);
		return;
	}
	for (int i = 0; list != NULL && i < ops.cfg->ncrons; i++) {
		const struct cron_entry *e = &ops.cfg->crons[i];
		json_t *ran = json_object_get(reply, e->name);
		long long next = cron_next(&e->sched, e->timezone, now);
		json_t *o;

		o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o*}", "name", e->name,
		    "schedule", e->schedule, "timezone", e->timezone, "misfire",
		    e->misfire_once ? "once" : "skip", "type", e->type, "queue",
		    e->queue, "payload", json_loads(e->payload, JSON_DECODE_ANY,
		    NULL));
		if (o == NULL)
			continue;
		cron_tick_text(next, when, sizeof(when));
		json_object_set_new(o, "next", next >= 0 ? json_string(when) :
		    json_null());
		if (json_is_object(ran)) {
			/* cjson writes numbers as %.14g: ms fit, as a number */
			long long last = (long long)json_number_value(
			    json_object_get(ran, "last")) / 1000;

			cron_tick_text(last, when, sizeof(when));
			json_object_set_new(o, "last", json_string(when));
			json_object_set(o, "last_job", json_object_get(ran, "job"));
			json_object_set(o, "last_status", json_object_get(ran,
			    "status"));
		} else {
			json_object_set_new(o, "last", json_null());
			json_object_set_new(o, "last_job", json_null());
			json_object_set_new(o, "last_status", json_null());
		}
		json_array_append_new(list, o);
	}
	if (list == NULL || (out = json_pack("{s:o}", "schedules", list)) ==
	    NULL) {
		reply_error(r, PERR_INTERNAL, "out of memory", NULL);
		return;
	}
	reply_ok(r, out);
}

static void
op_cron_list(struct reply *r)
{
	const char *names[CONFIG_MAX_CRONS];
	int n = ops.cfg->ncrons;

	for (int i = 0; i < n; i++)
		names[i] = ops.cfg->crons[i].name;
	store_cron_list(ops.store, names, n, cron_list_done, r);
}

/* limits_done: the state in Redis beside each configured limit's
 * settings (docs/protocol.md, "limits"). */
static void
limits_done(void *arg, int err, const char *msg, json_t *reply)
{
	struct reply *r = arg;
	json_t *all, *row;
	const char *name;
	char at[40];

	if (err != PERR_OK) {
		reply_store_error(r, err, msg, reply);
		return;
	}
	if ((all = json_object()) == NULL) {
		reply_error(r, PERR_INTERNAL, "out of memory", NULL);
		return;
	}
	json_object_foreach(json_is_object(reply) ? reply : NULL, name, row) {
		const struct job_limit *l = config_find_limit(ops.cfg, name);
		long long next = json_integer_value(json_object_get(row,
		    "next_at"));
		json_t *o = json_pack("{s:b,s:I,s:I,s:I}", "configured", l != NULL,
		    "running", json_integer_value(json_object_get(row, "running")),
		    "parked", json_integer_value(json_object_get(row, "parked")),
		    "keys", json_integer_value(json_object_get(row, "keys")));

		if (o == NULL)
			continue;
		if (l != NULL) {
			json_object_set_new(o, "concurrency", l->concurrency ?
			    json_integer(l->concurrency) : json_null());
			json_object_set_new(o, "rate", l->rate[0] ?
			    json_string(l->rate) : json_null());
			json_object_set_new(o, "burst", l->rate[0] ?
			    json_integer(l->burst) : json_null());
		}
		if (next > 0) {
			time_t s = (time_t)(next / 1000);
			struct tm tm;

			gmtime_r(&s, &tm);
			strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%S", &tm);
			snprintf(at + strlen(at), sizeof(at) - strlen(at),
			    ".%03lldZ", next % 1000);
			json_object_set_new(o, "next_at", json_string(at));
		} else {
			json_object_set_new(o, "next_at", json_null());
		}
		json_object_set_new(all, name, o);
	}
	reply_ok(r, json_pack("{s:o}", "limits", all));
}

static void
op_limits(struct reply *r)
{
	store_limits(ops.store, limits_done, r);
}

static void
op_pause(struct reply *r)
{
	store_pause(ops.store, reply_request(r)->queue, 1, empty_done, r);
}

static void
op_resume(struct reply *r)
{
	store_pause(ops.store, reply_request(r)->queue, 0, empty_done, r);
}

static void
op_progress(struct reply *r)
{
	struct request *req = reply_request(r);

	store_progress(ops.store, req->job_id, req->percent, req->message,
	    empty_done, r);
}

static void
op_delete(struct reply *r)
{
	store_delete(ops.store, reply_request(r)->job_id, empty_done, r);
}

static void
reload_done(void *arg, const char *msg)
{
	struct reply *r = arg;

	if (msg != NULL)
		reply_error(r, PERR_INTERNAL, msg, NULL);
	else
		reply_ok(r, NULL);
}

/* op_reload: the master loads its config file again, as on SIGHUP. */
static void
op_reload(struct reply *r)
{
	log_info("reload asked by uid %ld", reply_peer_uid(r));
	if (ops.reload == NULL) {
		reply_error(r, PERR_INTERNAL, "reload is not available", NULL);
		return;
	}
	ops.reload(reload_done, r);
}

/* op_health: whether this daemon reaches Redis now, and which server
 * (jobctl health, GET /healthz); no Redis call, so that checks every
 * second cost nothing. */
static void
op_health(struct reply *r)
{
	char msg[300];
	json_t *o;

	if (store_available(ops.store)) {
		if ((o = json_pack("{s:s}", "redis", "ok")) != NULL)
			add_redis(o, 0);
		reply_ok(r, o);
		return;
	}
	snprintf(msg, sizeof(msg), "%s", store_status(ops.store));
	reply_error(r, PERR_UNAVAILABLE, msg, NULL);
}

/* op_metrics: the counters (metrics.h) and the master's gauges; no Redis
 * call (GET /metrics adds the queue gauges from stats). */
static void
op_metrics(struct reply *r)
{
	json_t *o = metrics_json(), *g = ops.gauges != NULL ? ops.gauges() :
	    NULL;

	if (o == NULL) {
		json_decref(g);
		reply_error(r, PERR_INTERNAL, "out of memory", NULL);
		return;
	}
	if (g != NULL)
		json_object_update(o, g);
	json_decref(g);
	json_object_set_new(o, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(o, "redis_up",
	    json_boolean(store_available(ops.store)));
	add_redis(o, 1);
	reply_ok(r, o);
}

/* --- batches (docs/protocol.md, "Batches") ------------------------------ */

static void
batch_done(void *arg, int err, const char *msg, json_t *reply)
{
	struct reply *r = arg;

	if (err != PERR_OK)
		reply_store_error(r, err, msg, reply);
	else
		reply_ok(r, json_incref(reply));
}

/* op_batch_open: the batch's id is "b_" + a ULID, its callback's a job
 * id like any other. */
static void
op_batch_open(struct reply *r)
{
	struct request *req = reply_request(r);
	char bid[JOBID_LEN + 1], cid[JOBID_LEN + 1] = "";
	struct submit_spec *cb = req->njobs == 1 ? &req->jobs[0] : NULL;
	json_t *deps = NULL;

	jobid_make(bid);
	bid[0] = 'b';
	if (cb != NULL) {
		jobid_make(cid);
		/* the callback waits for the batch and runs however it ends */
		deps = json_pack("[s]", bid);
		if (deps == NULL) {
			reply_error(r, PERR_INTERNAL, "out of memory", NULL);
			return;
		}
		cb->depends_on = deps;
		cb->on_dep = "run";
	}
	store_batch_open(ops.store, bid, req->description, cb, cid, batch_done,
	    r);
	if (cb != NULL)
		cb->depends_on = NULL;
	json_decref(deps);
}

static void
op_batch_seal(struct reply *r)
{
	store_batch_seal(ops.store, reply_request(r)->batch_id, batch_done, r);
}

static void
op_batch_get(struct reply *r)
{
	store_batch_get(ops.store, reply_request(r)->batch_id, batch_done, r);
}

/* &handle: a NULL in the handle column does not compile. */
static void (*const op_handlers[OP__COUNT])(struct reply *) = {
#define OPTABLE_HANDLER(id, name, access, parse, handle) [OP_##id] = &handle,
	OP_TABLE(OPTABLE_HANDLER)
#undef OPTABLE_HANDLER
};

void
ops_dispatch(struct reply *r)
{
	enum op op = reply_request(r)->op;

	if ((int)op < 0 || op >= OP__COUNT)
		reply_error(r, PERR_UNKNOWN_OP, "unknown op", NULL);
	else
		op_handlers[op](r);
}

void
ops_init(struct event_base *base, struct store *st, const struct config *cfg)
{
	ops.store = st;
	ops.cfg = cfg;
	waiters_init(base, st);
}

void
ops_set_config(const struct config *cfg)
{
	ops.cfg = cfg;
}

void
ops_set_reload_hook(void (*fn)(ops_reload_done *done, void *arg))
{
	ops.reload = fn;
}

void
ops_set_gauges(json_t *(*fn)(void))
{
	ops.gauges = fn;
}

void
ops_set_removing(const struct config *ncfg)
{
	ops.removing = ncfg;
}
