/*
 * store.c: the store's asynchronous face (store.h), serving the master on
 * its libevent loop: the connection for commands (pipelined, with its
 * timeouts and reconnection), the subscribed one, and the grouping of
 * submits.  Each job state change is one FCALL of the function library in
 * jobd.lua (compiled in as store_lua_library).  Commands are built by
 * store_cmd.c, replies read by store_record.c; the workers' blocking face
 * is store_sync.c.  Key schema and state machine: docs/architecture.md.
 */
#include <sys/time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/sds.h>
#include <jansson.h>
#include <msgpack.h>

#include "config.h"
#include "log.h"
#include "proto.h"
#include "redis_find.h"
#include "redis_loop.h"
#include "redis_route.h"
#include "redis_url.h"
#include "store.h"
#include "store_cmd.h"
#include "store_library.h"
#include "store_record.h"
#include "text.h"

#define CONNECT_TIMEOUT_MS  5000    /* hiredis 0.14 has no async one */
#define BACKOFF_MIN_MS      100
#define BACKOFF_MAX_MS      5000
#define BACKOFF_FIND_MAX_MS 1000    /* sentinel:// and cluster:// */
#define REAP_BATCH          100
#define MAX_LOST            3       /* lease losses before "abandoned" */
#define REQUEUE_BATCH       10000

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct req {
	struct store *st;
	enum rep_kind kind;
	store_cb *cb;
	void *arg;
	struct cmd cmd;         /* kept for one retry after a reload */
	int retried;
	/* durable = yes (submits): the FCALL's answer, held until the WAIT
	 * that follows it says a replica has the jobs (see on_durable). */
	int durable;
	int held_err;
	json_t *held;
	/* Where its command ends in the link's output (st->out_bytes once it
	 * was queued): a link lost after that many bytes were written leaves
	 * the request in doubt (see lost_reply). */
	unsigned long long sent_end;
	int err;                /* deferred failure */
	char errmsg[256];
	struct req *next;       /* deferred failures */
};

struct store {
	struct event_base *base;
	const struct config *cfg;
	store_event_cb *on_event;
	void *arg;
	struct cmd_names n;
	char host[256];         /* gethostname */
	char hb_id[300];        /* host:pid: this master in stats */

	redisAsyncContext *ac;  /* commands */
	redisAsyncContext *sub; /* SUBSCRIBE */
	int ac_ready;           /* connected, library loaded */
	int sub_ready;          /* subscribed */
	int want_ends;          /* store_watch_ends(on) */
	enum { ENDS_OFF, ENDS_SUBSCRIBING, ENDS_ON, ENDS_UNSUBSCRIBING }
	    ends;               /* the "ends" channel on sub */
	int up;                 /* STORE_EV_UP sent for this link */
	int ever_up;            /* some link came up since store_new */
	int refused_sent;       /* STORE_EV_REFUSED for credentials: once */
	long long link_started; /* connect began, ms */
	long long last_progress;/* last reply, or first send when idle, ms */
	int pending;            /* commands in flight on ac */
	unsigned long long out_bytes; /* bytes queued on ac since it opened */
	/* Fencing (see send_fence): Redis's id of the link and the run_id
	 * of the server it reached, and the same of the last link that
	 * carried requests and was lost, to kill on the next one before it
	 * serves anything. */
	long long link_id;
	char link_run[48];
	int link_used;          /* the link got ready: requests went out */
	long long fence_id;
	char fence_run[48];
	int fence_warned;
	redisAsyncContext *probe; /* a PING on a connection of its own */
	long long probe_sent;   /* ms */
	long long probe_answered; /* ms of the last answer, or 0 */
	int busy_said;          /* "redis busy" logged for this stall */
	int oom;                /* Redis said it is over maxmemory (logged) */
	int load_oom;           /* FUNCTION LOAD refused for that, this link */
	int load_oom_said;      /* ... and the library missing: logged */
	int failing;            /* teardown requested */
	int down;               /* torn down, reconnect timer armed */
	long backoff_ms;

	struct event *ev_defer;
	struct event *ev_tick;
	struct event *ev_retry;
	struct event *ev_group; /* sends the open submit group */
	struct req *dq_head, *dq_tail;  /* deferred failures */
	struct req *group;      /* submits of this loop turn (see below) */
	size_t group_jobs;
	msgpack_sbuffer sb;     /* cmd_submit_job's scratch */

	char status[256];
	char lasterr[200];
	char node[300];         /* the server the links reach, or "" */
	unsigned long failovers;/* moves to another server */
	/* sentinel:// and cluster:// (redis_route.h): the server is found
	 * before each link, and Sentinel announces failovers. */
	enum redis_url_kind kind;
	struct redis_find *find;
	struct redis_watch *watch;
	int sharded;            /* SSUBSCRIBE as well (cluster) */

	/* The namespace's epoch (see check_epoch): ours, to store when the
	 * key is missing, and the one last read (empty: none yet). */
	char epoch_mine[400];
	char epoch_seen[400];
	int epoch_busy;         /* a check in flight */
	time_t data_lost_at;    /* when Redis was last found emptied, or 0 */
	long long last_jobs;    /* jobs in the last stats reply, or -1 */
};

static void link_start(struct store *st);

static void
req_free(struct req *rq)
{
	json_decref(rq->held);
	cmd_free(&rq->cmd);
	free(rq);
}

static void link_fail(struct store *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* link_fail: tear the link down and reconnect later.  Deferred to the
 * event loop: it may be called from inside hiredis callbacks. */
static void
link_fail(struct store *st, const char *fmt, ...)
{
	va_list ap;

	if (st->failing || st->down)
		return;
	va_start(ap, fmt);
	vsnprintf(st->lasterr, sizeof(st->lasterr), fmt, ap);
	va_end(ap);
	st->ac_ready = st->sub_ready = 0;
	st->ends = ENDS_OFF;
	st->failing = 1;
	event_active(st->ev_defer, EV_TIMEOUT, 0);
}

/* oom_error: text is Redis refusing a write over maxmemory. */
static int
oom_error(const char *text)
{
	return strncmp(text, "OOM ", 4) == 0;
}

#define OOM_HINT "free memory (delete or cancel jobs: those still work) " \
	"or raise maxmemory"

/* note_oom: Redis refused a write over maxmemory (oom) or accepted one
 * that it refuses then (!oom): log the change, once each way. */
static void
note_oom(struct store *st, int oom)
{
	if (oom == st->oom)
		return;
	st->oom = oom;
	if (oom)
		log_warnx("redis is out of memory (maxmemory, noeviction): it "
		          "refuses new jobs and the results of running ones "
		          "until memory is freed; " OOM_HINT);
	else
		log_info("redis accepts writes again (out of memory no more)");
}

/* auth_error: text is Redis asking for credentials or refusing them. */
static int
auth_error(const char *text)
{
	return strncmp(text, "NOAUTH", 6) == 0 ||
	       strncmp(text, "WRONGPASS", 9) == 0 ||
	       strstr(text, "unauthenticated") != NULL;
}

/*
 * auth_fail: Redis refused jobd's credentials, or wants some: the link
 * fails, saying so.  Before any link came up this is a configuration
 * error, not an outage: STORE_EV_REFUSED.
 */
static void
auth_fail(struct store *st, const char *text)
{
	char msg[300];

	snprintf(msg, sizeof(msg), "redis authentication failed: %.200s%s",
	         text, strncmp(text, "NOAUTH", 6) == 0 ?
	         " (the redis URL has no password)" : "");
	if (!st->ever_up && !st->refused_sent && !st->down && st->on_event) {
		st->refused_sent = 1;
		st->on_event(st->arg, STORE_EV_REFUSED, NULL, msg);
	}
	link_fail(st, "%s", msg);
}

/* auth_refused: r is an error reply about credentials (any error: the
 * reply to AUTH); auth_fail then. */
static int
auth_refused(struct store *st, const redisReply *r, int any_error)
{
	if (r->type != REDIS_REPLY_ERROR || (!any_error && !auth_error(r->str)))
		return 0;
	auth_fail(st, r->str);
	return 1;
}

/* link_lost: the connection ac went away; its errstr says why (hiredis
 * drops a connection on an error reply it has no callback for, as the
 * subscriber's SUBSCRIBE refused for want of AUTH). */
static void
link_lost(struct store *st, const redisAsyncContext *ac, const char *dflt)
{
	if (auth_error(ac->errstr))
		auth_fail(st, ac->errstr);
	else
		link_fail(st, "%s", ac->errstr[0] ? ac->errstr : dflt);
}

static void
probe_stop(struct store *st)
{
	redisAsyncContext *p = st->probe;

	st->probe = NULL;
	if (p != NULL)
		redisAsyncFree(p);      /* on_probe gets a NULL reply */
}

static void
teardown(struct store *st)
{
	redisAsyncContext *ac = st->ac, *sub = st->sub;

	probe_stop(st);
	redis_find_free(st->find);
	st->find = NULL;
	st->ac = st->sub = NULL;
	st->ac_ready = st->sub_ready = 0;
	st->ends = ENDS_OFF;
	st->up = 0;
	st->pending = 0;
	if (st->link_used && st->link_id > 0 && st->link_run[0] != '\0') {
		st->fence_id = st->link_id;
		memcpy(st->fence_run, st->link_run, sizeof(st->fence_run));
	}
	st->link_used = 0;
	st->link_id = 0;
	st->link_run[0] = '\0';
	/* Requests in flight get a NULL reply: PERR_UNAVAILABLE, or
	 * PERR_IN_DOUBT (lost_err). */
	if (ac)
		redisAsyncFree(ac);
	if (sub)
		redisAsyncFree(sub);
}

/* defer_fail: fail a request from the event loop, never from inside the
 * caller's own call. */
static void
defer_fail(struct store *st, struct req *rq, int err, const char *msg)
{
	rq->err = err;
	snprintf(rq->errmsg, sizeof(rq->errmsg), "%s", msg);
	rq->next = NULL;
	if (st->dq_tail)
		st->dq_tail->next = rq;
	else
		st->dq_head = rq;
	st->dq_tail = rq;
	event_active(st->ev_defer, EV_TIMEOUT, 0);
}

static void
flush_deferred(struct store *st)
{
	int rounds;

	for (rounds = 0; st->dq_head && rounds < 1000000; rounds++) {
		struct req *rq = st->dq_head;

		st->dq_head = rq->next;
		if (st->dq_head == NULL)
			st->dq_tail = NULL;
		rq->cb(rq->arg, rq->err, rq->errmsg, NULL);
		req_free(rq);
	}
}

static void
on_defer(evutil_socket_t fd, short what, void *arg)
{
	struct store *st = arg;
	struct timeval tv;

	if (st->failing) {
		st->failing = 0;
		log_warnx("redis unreachable: %s; retrying in %ld ms", st->lasterr,
		          st->backoff_ms);
		snprintf(st->status, sizeof(st->status), "redis unreachable: %s",
		         st->lasterr);
		st->down = 1;
		teardown(st);
		tv.tv_sec = st->backoff_ms / 1000;
		tv.tv_usec = (st->backoff_ms % 1000) * 1000;
		evtimer_add(st->ev_retry, &tv);
		st->backoff_ms *= 2;
		/* finding the server again is cheap, and Sentinels or the
		 * cluster may name a new one any moment */
		if (st->backoff_ms > (st->kind == REDIS_URL_DIRECT ?
		    BACKOFF_MAX_MS : BACKOFF_FIND_MAX_MS))
			st->backoff_ms = st->kind == REDIS_URL_DIRECT ?
			    BACKOFF_MAX_MS : BACKOFF_FIND_MAX_MS;
	}
	flush_deferred(st);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct store *st = arg;

	st->down = 0;
	link_start(st);
}

/*
 * The no-reply watchdog: busy or dead.  The command link carries every
 * request of the master in one pipeline; Redis answering nothing on it for
 * redis_timeout while requests are in flight is either dead (stopped,
 * hung, unreachable: drop the link, fail what is in flight, reconnect) or
 * busy (a long script, a large reply on its way: wait).  Progress is any
 * bytes read on the link, not only whole replies.  Past half the timeout
 * without progress a PING goes to Redis on a connection of its own, once
 * a second; any answer to it (PONG, or -BUSY from a Redis running a long
 * script, or -NOAUTH) means Redis still serves, and the link is kept.
 * Only when the timeout passes with no progress and no probe answered in
 * its second half (and lately) is the link dropped.
 */
static void
on_probe(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;

	if (r_ != NULL && ac == st->probe) {
		st->probe_answered = now_ms();
		st->probe = NULL;
		redisAsyncDisconnect(ac);       /* freed after this callback */
	}
}

static void
on_probe_disconnect(const redisAsyncContext *ac, int status)
{
	struct store *st = ac->data;

	(void)status;
	if (ac == st->probe)
		st->probe = NULL;
}

static void
on_probe_connect(const redisAsyncContext *ac, int status)
{
	struct store *st = ac->data;

	if (status != REDIS_OK && ac == st->probe)
		st->probe = NULL;       /* hiredis frees it */
}

static void
probe_start(struct store *st)
{
	struct redis_url a;
	redisAsyncContext *p;
	char err[256];

	if (config_redis_url(st->cfg, &a, err, sizeof(err)) < 0)
		return;
	p = a.path[0] ? redisAsyncConnectUnix(a.path) :
	    redisAsyncConnect(a.host, a.port);
	redis_url_clear(&a);
	if (p == NULL)
		return;
	if (p->err || redis_loop_attach(p, st->base) != 0) {
		redisAsyncFree(p);
		return;
	}
	p->data = st;
	redisAsyncSetConnectCallback(p, on_probe_connect);
	redisAsyncSetDisconnectCallback(p, on_probe_disconnect);
	if (redisAsyncCommand(p, on_probe, st, "PING") != REDIS_OK) {
		redisAsyncFree(p);
		return;
	}
	st->probe = p;
	st->probe_sent = now_ms();
}

/* watchdog: see above; on_tick's part for the command link. */
static void
watchdog(struct store *st, long long now)
{
	long long timeout = (long long)(st->cfg->redis_timeout * 1000);
	long long seen = st->last_progress, rd;

	if (st->ac != NULL && (rd = redis_loop_last_read(st->ac)) > seen)
		seen = rd;
	if (st->pending == 0 || now - seen < timeout / 2) {
		if (st->busy_said)
			log_info("redis answers again");
		st->busy_said = 0;
		probe_stop(st);
		return;
	}
	if (st->probe != NULL && now - st->probe_sent >= timeout / 2)
		probe_stop(st);         /* unanswered: try a new one */
	if (st->probe == NULL && now - st->probe_answered >= 1000)
		probe_start(st);
	if (now - seen < timeout)
		return;
	/* answered in this stall's second half, and lately (the tick and
	 * the probes come once a second) */
	if (st->probe_answered >= seen + timeout / 2 &&
	    now - st->probe_answered < timeout / 2 + 1500) {
		if (!st->busy_said)
			log_warnx("redis busy: no reply for %lld s on the command "
			          "link, but it answers a probe; waiting",
			          (now - seen) / 1000);
		st->busy_said = 1;
		return;
	}
	link_fail(st, "no reply for %lld s, and none to a probe",
	          (now - seen) / 1000);
}

/* on_tick: hiredis 0.14 has no timeouts of its own. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct store *st = arg;
	long long now = now_ms();

	if (st->down || st->failing)
		return;
	if (st->find == NULL && (!st->ac_ready || !st->sub_ready) &&
	    now - st->link_started > CONNECT_TIMEOUT_MS)
		link_fail(st, "connect timed out");
	else
		watchdog(st, now);
}

static void
maybe_up(struct store *st)
{
	if (st->ac_ready && st->sub_ready && !st->up) {
		st->up = st->ever_up = 1;
		st->backoff_ms = BACKOFF_MIN_MS;
		st->load_oom_said = 0;
		log_info("redis connected: %s", st->status);
		if (st->on_event)
			st->on_event(st->arg, STORE_EV_UP, NULL, NULL);
	}
}

static int
send_cmd(struct store *st, redisCallbackFn *fn, void *priv,
         const struct cmd *c)
{
	if (st->ac == NULL)
		return -1;
	if (redisAsyncFormattedCommand(st->ac, fn, priv, c->buf + c->start,
	                               c->len - c->start) != REDIS_OK)
		return -1;
	/* hiredis appends the command to its output buffer as it is. */
	st->out_bytes += c->len - c->start;
	if (st->pending++ == 0)
		st->last_progress = now_ms();
	return 0;
}

/* A reply came on the command connection: account for it. */
static int
got_reply(struct store *st, redisAsyncContext *ac, redisReply *r)
{
	if (ac != st->ac)
		return 0;
	if (st->pending > 0)
		st->pending--;
	st->last_progress = now_ms();
	if (r == NULL) {
		link_lost(st, ac, "disconnected");
		return 0;
	}
	return 1;
}

/* unavailable: the PERR_UNAVAILABLE message. */
static void
unavailable(const struct store *st, char *msg, size_t len)
{
	snprintf(msg, len, "redis unreachable: %s",
	         st->lasterr[0] ? st->lasterr : "connecting");
}

/* The kinds of request that only read: whatever became of them, they
 * changed nothing a client could see, so a lost link leaves them
 * certainly undone (jobd_watch's mark is an internal one). */
static const unsigned char kind_reads[REP__COUNT] = {
	[REP_GET] = 1, [REP_LIST] = 1, [REP_STATS] = 1, [REP_BATCH_GET] = 1,
};

/* The kinds whose success shows Redis takes writes over maxmemory again
 * (the others are reads, or allowed then: see jobd.lua's flags). */
static const unsigned char kind_writes_much[REP__COUNT] = {
	[REP_SUBMIT] = 1, [REP_REAP] = 1, [REP_REQUEUE] = 1,
};

/*
 * lost_err: the error of rq, whose link ac was lost before its reply.
 * Redis runs a command only once it has read all of it: a command never
 * written whole to the socket certainly did not run (PERR_UNAVAILABLE).
 * One that was may have run, Redis having stopped answering or the link
 * dropped after it read the command: PERR_IN_DOUBT, unless it only reads.
 * ac's output buffer is still there when hiredis fails its callbacks.
 */
static int
lost_err(const struct store *st, const redisAsyncContext *ac,
         const struct req *rq, char *msg, size_t len)
{
	unsigned long long written = st->out_bytes - sdslen(ac->c.obuf);

	if (kind_reads[rq->kind] || rq->sent_end == 0 ||
	    rq->sent_end > written) {
		unavailable(st, msg, len);
		return PERR_UNAVAILABLE;
	}
	snprintf(msg, len, "redis stopped answering after the request was "
	         "sent (%s): it may or may not have been done",
	         st->lasterr[0] ? st->lasterr : "connection lost");
	return PERR_IN_DOUBT;
}

static void
on_reload(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	redisReply *r = r_;

	if (got_reply(st, ac, r) && r->type == REDIS_REPLY_ERROR)
		log_warnx("redis: FUNCTION LOAD failed: %s", r->str);
}

/*
 * on_schema: the library's check of the namespace's key schema passed:
 * the link is ready.  A schema this jobd cannot use refuses the Redis
 * (STORE_EV_REFUSED), see jobd.lua's VERSIONS.
 */
static void
on_schema(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	redisReply *r = r_;
	const char *why;

	if (!got_reply(st, ac, r))
		return;
	if (r->type == REDIS_REPLY_ERROR && st->load_oom &&
	    rep_function_missing(r)) {
		/* Not loaded, and Redis is full: say so (once), and retry. */
		if (!st->load_oom_said)
			log_msg(LOG_ERR, "redis is out of memory (maxmemory "
			        "reached): it refuses to load jobd's function "
			        "library; " OOM_HINT);
		st->load_oom_said = 1;
		link_fail(st, "redis is out of memory: FUNCTION LOAD refused "
		          "(maxmemory)");
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		why = store_lib_refused(r->str);
		link_fail(st, "%.150s", why ? why : r->str);
		if (why && st->on_event)
			st->on_event(st->arg, STORE_EV_REFUSED, NULL, why);
		return;
	}
	if (!st->ac_ready && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_INTEGER)
		log_info("redis: function library %s, key schema %lld",
		         store_lib_name(), r->element[1]->integer);
	st->ac_ready = 1;
	st->link_used = 1;
	maybe_up(st);
}

/* send_library: FUNCTION LOAD REPLACE (fn gets the reply), then the
 * schema check.  A library of the same version is replaced by the same
 * code: two daemons loading it together do no harm; other versions'
 * libraries are never touched. */
static void
send_library(struct store *st, redisCallbackFn *fn)
{
	struct cmd c;

	cmd_init(&c);
	cmd_add(&c, "FUNCTION");
	cmd_add(&c, "LOAD");
	cmd_add(&c, "REPLACE");
	cmd_add(&c, store_lua_library);
	if (cmd_finish(&c) == 0 && send_cmd(st, fn, st, &c) < 0)
		link_fail(st, "cannot send FUNCTION LOAD");
	cmd_free(&c);
	cmd_fcall(&c, &st->n, st->cfg, "jobd_schema");
	if (cmd_finish(&c) == 0 && send_cmd(st, on_schema, st, &c) < 0)
		link_fail(st, "cannot send the schema check");
	cmd_free(&c);
}

/*
 * The epoch: <K>epoch holds a token written (SET NX GET) by the first
 * master that finds it missing.  Every master reads it on each reaper pass
 * and remembers it; finding it gone, or another token (another master
 * wrote it first), means this Redis lost the namespace since: restarted
 * without persistence, or flushed.  Its jobs are gone and nothing else
 * tells: say so, once.  Workers do not touch it (the schema key cannot
 * serve: every new connection writes that one back).
 */
static void
new_epoch(struct store *st)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(st->epoch_mine, sizeof(st->epoch_mine), "%s:%lld.%09ld",
	         st->hb_id, (long long)ts.tv_sec, ts.tv_nsec);
}

static void
on_epoch(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	redisReply *r = r_;
	const char *now;
	char jobs[64] = "";

	st->epoch_busy = 0;
	if (!got_reply(st, ac, r))
		return;
	if (r->type == REDIS_REPLY_STRING && r->len < sizeof(st->epoch_seen))
		now = r->str;
	else if (r->type == REDIS_REPLY_NIL)
		now = st->epoch_mine;   /* we just wrote it */
	else if (r->type == REDIS_REPLY_ERROR && oom_error(r->str))
		return;                 /* full (noted elsewhere): next pass */
	else if (r->type == REDIS_REPLY_ERROR && redis_route_moved(r->str)) {
		link_fail(st, "%.150s", r->str);
		return;
	}
	else {
		log_warnx("redis: epoch check: unexpected reply (type %d)%s%s",
		          r->type, r->type == REDIS_REPLY_ERROR ? ": " : "",
		          r->type == REDIS_REPLY_ERROR ? r->str : "");
		return;
	}
	if (st->epoch_seen[0] != '\0' && (r->type == REDIS_REPLY_NIL ||
	    strcmp(now, st->epoch_seen) != 0)) {
		st->data_lost_at = time(NULL);
		if (st->last_jobs >= 0)
			snprintf(jobs, sizeof(jobs), " (%lld at the last stats)",
			         st->last_jobs);
		log_msg(LOG_ERR, "redis came back empty (namespace %s): every "
		          "job it held is lost%s, queued, scheduled, running "
		          "and ended alike; restarted without persistence, or "
		          "flushed?  Carrying on with an empty namespace",
		          st->cfg->ns ? st->cfg->ns : "", jobs);
		st->last_jobs = -1;
	}
	snprintf(st->epoch_seen, sizeof(st->epoch_seen), "%s", now);
	if (r->type == REDIS_REPLY_NIL)
		new_epoch(st);  /* the next one written must differ */
}

static void
check_epoch(struct store *st)
{
	struct cmd c;
	char key[512];

	if (st->epoch_busy)
		return;
	snprintf(key, sizeof(key), "%sepoch", st->n.K);
	cmd_init(&c);
	cmd_add(&c, "SET");
	cmd_add(&c, key);
	cmd_add(&c, st->epoch_mine);
	cmd_add(&c, "NX");
	cmd_add(&c, "GET");
	if (cmd_finish(&c) == 0 && send_cmd(st, on_epoch, st, &c) == 0)
		st->epoch_busy = 1;
	cmd_free(&c);
}

/* stats_seen: remember the job count, add when data was lost. */
static void
stats_seen(struct store *st, json_t *reply)
{
	const char *k;
	json_t *v;
	long long n = 0;

	json_object_foreach(json_object_get(reply, "totals"), k, v)
		n += json_integer_value(v);
	st->last_jobs = n;
	if (st->data_lost_at != 0)
		json_object_set_new(reply, "redis_data_lost_at",
		                    json_integer(st->data_lost_at));
}

/*
 * on_durable: the WAIT sent after a durable request's FCALL answered: the
 * held answer goes out once a replica confirms.  Unconfirmed (timeout, no
 * replica, the link lost) the jobs are on the primary only, and a
 * failover now would lose them: in_doubt, not done.
 */
static void
on_durable(redisAsyncContext *ac, void *r_, void *priv)
{
	struct req *rq = priv;
	struct store *st = rq->st;
	redisReply *r = r_;
	char msg[300];

	if (!got_reply(st, ac, r))
		snprintf(msg, sizeof(msg), "stored on the redis primary, but the "
		         "link was lost before a replica confirmed it (durable = "
		         "yes): a failover may lose it");
	else if (r->type == REDIS_REPLY_INTEGER && r->integer >= 1) {
		rq->cb(rq->arg, PERR_OK, NULL, rq->held);
		req_free(rq);
		return;
	} else if (r->type == REDIS_REPLY_INTEGER)
		snprintf(msg, sizeof(msg), "stored on the redis primary, but no "
		         "replica confirmed it within %g s (durable = yes): a "
		         "failover now would lose it", st->cfg->durable_timeout);
	else
		snprintf(msg, sizeof(msg), "stored on the redis primary, but WAIT "
		         "failed (%.150s): a failover may lose it",
		         r->type == REDIS_REPLY_ERROR ? r->str : "no number");
	rq->cb(rq->arg, PERR_IN_DOUBT, msg, NULL);
	req_free(rq);
}

/* send_durable: hold rq's answer (reply, owned) until a replica confirms
 * its writes; 0, or -1 if WAIT cannot be sent. */
static int
send_durable(struct store *st, struct req *rq, json_t *reply)
{
	struct cmd c;
	int rc = -1;

	cmd_init(&c);
	cmd_add(&c, "WAIT");
	cmd_add(&c, "1");
	cmd_addll(&c, (long long)(st->cfg->durable_timeout * 1000 + 0.5));
	if (cmd_finish(&c) == 0 && send_cmd(st, on_durable, rq, &c) == 0) {
		rq->held = reply;
		rc = 0;
	}
	cmd_free(&c);
	return rc;
}

/*
 * moved_err: r says this server does not (or no longer) serve the
 * namespace (redis_route_moved): find it again.  The request did not run,
 * but for a script stopped halfway by a slot migration, which may have
 * written part of its work.
 */
static int
moved_err(struct store *st, const struct req *rq, const redisReply *r,
          char *msg, size_t len)
{
	link_fail(st, "%.150s", r->str);
	if (redis_route_undone(r->str) || kind_reads[rq->kind]) {
		snprintf(msg, len, "redis: this server no longer serves the "
		         "namespace (%.150s); finding it again", r->str);
		return PERR_UNAVAILABLE;
	}
	snprintf(msg, len, "redis stopped the request halfway (%.150s): part "
	         "of it may have been done", r->str);
	return PERR_IN_DOUBT;
}

static void
on_reply(redisAsyncContext *ac, void *r_, void *priv)
{
	struct req *rq = priv;
	struct store *st = rq->st;
	redisReply *r = r_;
	char msg[512];
	json_t *reply = NULL;
	int err;

	if (!got_reply(st, ac, r)) {
		err = lost_err(st, ac, rq, msg, sizeof(msg));
		rq->cb(rq->arg, err, msg, NULL);
		req_free(rq);
		return;
	}
	if (rep_function_missing(r) && !rq->retried) {
		/* Redis restarted or was flushed: load and retry once, in
		 * order on the same connection. */
		log_warnx("redis: %s; loading the function library again", r->str);
		rq->retried = 1;
		send_library(st, on_reload);
		if (send_cmd(st, on_reply, rq, &rq->cmd) == 0) {
			rq->sent_end = st->out_bytes;
			return;
		}
		unavailable(st, msg, sizeof(msg));
		rq->cb(rq->arg, PERR_UNAVAILABLE, msg, NULL);
		req_free(rq);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR && redis_route_moved(r->str)) {
		err = moved_err(st, rq, r, msg, sizeof(msg));
	} else if (r->type == REDIS_REPLY_ERROR) {
		/* An error reply, the link fine: the request's answer. */
		err = rep_error(r, msg, sizeof(msg), &reply);
		if (err == PERR_INTERNAL)
			log_warnx("%s", msg);
		if (oom_error(r->str))
			note_oom(st, 1);
	} else {
		if (kind_writes_much[rq->kind])
			note_oom(st, 0);
		msg[0] = '\0';
		err = PERR_OK;
		if ((reply = rep_convert(rq->kind, r)) == NULL) {
			err = PERR_INTERNAL;
			snprintf(msg, sizeof(msg), "unexpected reply from redis "
			         "(type %d)", r->type);
		} else if (rq->kind == REP_STATS)
			stats_seen(st, reply);
	}
	if (err == PERR_OK && rq->durable) {
		if (send_durable(st, rq, reply) == 0)
			return;
		json_decref(reply);
		reply = NULL;
		err = PERR_IN_DOUBT;
		snprintf(msg, sizeof(msg), "stored on the redis primary, but "
		         "WAIT could not be sent (durable = yes)");
	}
	rq->cb(rq->arg, err, err ? msg : NULL, reply);
	json_decref(reply);
	req_free(rq);
}

static void group_flush(struct store *st);
static void on_group(evutil_socket_t fd, short what, void *arg);

/* submit_req: send rq (its cmd built by the caller) or fail it. */
static void
submit_req(struct store *st, struct req *rq)
{
	char msg[256];

	/* Redis runs the master's commands in the order they were made. */
	if (st->group != NULL && rq != st->group)
		group_flush(st);
	if (cmd_finish(&rq->cmd) < 0) {
		defer_fail(st, rq, PERR_INTERNAL, "out of memory");
		return;
	}
	if (!st->ac_ready || send_cmd(st, on_reply, rq, &rq->cmd) < 0) {
		unavailable(st, msg, sizeof(msg));
		defer_fail(st, rq, PERR_UNAVAILABLE, msg);
		return;
	}
	rq->sent_end = st->out_bytes;
}

/* new_req: a request whose command starts with FCALL fn; NULL if out of
 * memory, after the callback was told so. */
static struct req *
new_req(struct store *st, enum rep_kind kind, const char *fn, store_cb *cb,
        void *arg)
{
	struct req *rq = calloc(1, sizeof(*rq));

	if (rq == NULL) {
		log_warnx("store: out of memory");
		cb(arg, PERR_INTERNAL, "out of memory", NULL);
		return NULL;
	}
	rq->st = st;
	rq->kind = kind;
	rq->cb = cb;
	rq->arg = arg;
	cmd_fcall(&rq->cmd, &st->n, st->cfg, fn);
	return rq;
}

/* Subscriber connection. */
static void on_message(redisAsyncContext *ac, void *r_, void *priv);

/*
 * ends_sync: move the "ends" subscription towards want_ends.  One
 * (UN)SUBSCRIBE in flight at a time: hiredis keeps one callback per channel
 * and drops it when an unsubscribe is confirmed, so overlapping the two
 * could lose the callback of a later subscribe.
 */
static void
ends_sync(struct store *st)
{
	if (st->sub == NULL || st->failing || st->down)
		return;
	if (st->want_ends && st->ends == ENDS_OFF) {
		if (redisAsyncCommand(st->sub, on_message, st, "SUBSCRIBE %s",
		                      st->n.ends) != REDIS_OK ||
		    (st->sharded && redisAsyncCommand(st->sub, on_message, st,
		    "SSUBSCRIBE %s", st->n.ends) != REDIS_OK))
			link_fail(st, "cannot SUBSCRIBE");
		else
			st->ends = ENDS_SUBSCRIBING;
	} else if (!st->want_ends && st->ends == ENDS_ON) {
		if ((st->sharded && redisAsyncCommand(st->sub, on_message, st,
		    "SUNSUBSCRIBE %s", st->n.ends) != REDIS_OK) ||
		    redisAsyncCommand(st->sub, NULL, NULL, "UNSUBSCRIBE %s",
		                      st->n.ends) != REDIS_OK)
			link_fail(st, "cannot UNSUBSCRIBE");
		else
			st->ends = ENDS_UNSUBSCRIBING;
	}
}

void
store_watch_ends(struct store *st, int on)
{
	st->want_ends = on != 0;
	ends_sync(st);
}

static void
on_message(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	redisReply *r = r_, *kind, *data;
	char buf[512], *id, *detail, *sp;
	enum store_event ev;

	if (ac != st->sub)
		return;
	if (r == NULL) {
		link_lost(st, ac, "disconnected");
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		link_fail(st, "SUBSCRIBE: %s", r->str);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3)
		return;
	kind = r->element[0];
	data = r->element[2];
	if (rep_is(kind, "ssubscribe"))
		return;         /* the SUBSCRIBE of the same channel counts */
	if (rep_is(kind, "sunsubscribe")) {
		/* Redis drops a shard channel whose slot left the node. */
		if (!rep_is(r->element[1], st->n.ends) ||
		    st->ends != ENDS_UNSUBSCRIBING)
			link_fail(st, "the namespace's hash slot moved");
		return;
	}
	if (rep_is(kind, "subscribe") || rep_is(kind, "unsubscribe")) {
		if (!rep_is(r->element[1], st->n.ends)) {
			if (rep_is(kind, "subscribe")) {
				st->sub_ready = 1;
				maybe_up(st);
			}
			return;
		}
		st->ends = rep_is(kind, "subscribe") ? ENDS_ON : ENDS_OFF;
		if (st->ends == ENDS_ON && st->want_ends && st->on_event)
			st->on_event(st->arg, STORE_EV_WATCHING, NULL, NULL);
		ends_sync(st);
		return;
	}
	if ((!rep_is(kind, "message") && !rep_is(kind, "smessage")) ||
	    data->type != REDIS_REPLY_STRING || data->len >= sizeof(buf))
		return;
	memcpy(buf, data->str, data->len);
	buf[data->len] = '\0';
	/* "end <id> <status>" or "cancel <id> <owner>" */
	if (strncmp(buf, "end ", 4) == 0) {
		ev = STORE_EV_END;
		id = buf + 4;
	} else if (strncmp(buf, "cancel ", 7) == 0) {
		ev = STORE_EV_CANCEL;
		id = buf + 7;
	} else {
		return;
	}
	if ((sp = strchr(id, ' ')) == NULL)
		return;
	*sp = '\0';
	detail = sp + 1;
	if (st->on_event)
		st->on_event(st->arg, ev, id, detail);
}

static void
on_auth(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	redisReply *r = r_;

	if (ac == st->sub) {
		if (r != NULL)
			auth_refused(st, r, 1);
		return;
	}
	if (got_reply(st, ac, r))
		auth_refused(st, r, 1);
}

/* on_fence: the previous link is fenced (killed, or gone already); a
 * Redis that refuses CLIENT KILL (ACL) leaves it unfenced: say so once. */
static void
on_fence(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	redisReply *r = r_;

	if (!got_reply(st, ac, r) || auth_refused(st, r, 0))
		return;
	if (r->type == REDIS_REPLY_ERROR && !st->fence_warned) {
		st->fence_warned = 1;
		log_warnx("redis: cannot close the previous connection (CLIENT "
		          "KILL: %s): a request answered in_doubt may still run "
		          "later", r->str);
	}
}

static void
on_client_id(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	redisReply *r = r_;

	if (got_reply(st, ac, r) && r->type == REDIS_REPLY_INTEGER)
		st->link_id = r->integer;
}

/*
 * send_fence: on a new link, before anything else it serves, kill the
 * previous link if Redis still holds it.  A link given up for want of a
 * reply (a stalled Redis) may still hold written commands that Redis has
 * not read yet; the requests they carry were answered in_doubt.  Once
 * the kill has run, they never will: a job looked up after that and not
 * found was not stored and will not be.
 *
 * Client ids are only unique within one run of one server: after a
 * restart or a failover the old id names somebody else's connection.
 * So the kill is sent only to the server the old link reached (same
 * run_id); any other server never saw the old link's unread commands.
 * It is sent from on_info's reply, which still comes before the
 * library's, and so before any request goes out on this link.
 */
static void
send_fence(struct store *st, const char *run_id)
{
	struct cmd c;

	if (st->fence_id <= 0)
		return;
	if (strcmp(run_id, st->fence_run) == 0) {
		cmd_init(&c);
		cmd_add(&c, "CLIENT");
		cmd_add(&c, "KILL");
		cmd_add(&c, "ID");
		cmd_addll(&c, st->fence_id);
		if (cmd_finish(&c) == 0)
			send_cmd(st, on_fence, st, &c);
		cmd_free(&c);
	}
	st->fence_id = 0;
	st->fence_run[0] = '\0';
}

/* send_link_id: learn this link's client id, to fence it later. */
static void
send_link_id(struct store *st)
{
	struct cmd c;

	cmd_init(&c);
	cmd_add(&c, "CLIENT");
	cmd_add(&c, "ID");
	if (cmd_finish(&c) == 0)
		send_cmd(st, on_client_id, st, &c);
	cmd_free(&c);
}

/* on_select: the reply to a set-up command (SELECT, HSET pubsub) whose
 * error fails the link. */
static void
on_select(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	redisReply *r = r_;

	if (got_reply(st, ac, r) && r->type == REDIS_REPLY_ERROR)
		link_fail(st, "setting up the link: %s", r->str);
}

static void
on_loaded(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	redisReply *r = r_;

	if (!got_reply(st, ac, r))
		return;
	if (st->failing || auth_refused(st, r, 0))
		return;
	st->load_oom = r->type == REDIS_REPLY_ERROR && oom_error(r->str);
	if (st->load_oom) {
		/* The library may be loaded already (by this daemon before, or
		 * another): the schema check that follows tells (on_schema). */
		note_oom(st, 1);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR && redis_route_moved(r->str)) {
		link_fail(st, "%.150s", r->str);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		log_warnx("redis: cannot load the function library (Redis 7 "
		          "needed): %s", r->str);
		link_fail(st, "FUNCTION LOAD: %.100s", r->str);
	}
	/* Ready once the schema check that follows passes (on_schema). */
}

static void
info_field(const char *info, const char *name, char *out, size_t outlen)
{
	const char *p = strstr(info, name);
	size_t n;

	out[0] = '\0';
	if (p == NULL)
		return;
	p += strlen(name);
	n = strcspn(p, "\r\n");
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

static void
on_info(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	redisReply *r = r_;
	char ver[64], policy[64];

	if (!got_reply(st, ac, r) || auth_refused(st, r, 0))
		return;
	if (r->type != REDIS_REPLY_STRING) {
		if (st->fence_id > 0 && !st->fence_warned) {
			st->fence_warned = 1;
			log_warnx("redis: cannot tell which server this is (INFO: "
			          "%s): the previous connection is not closed, a "
			          "request answered in_doubt may still run later",
			          r->type == REDIS_REPLY_ERROR ? r->str : "no text");
		}
		st->fence_id = 0;
		return;
	}
	info_field(r->str, "run_id:", st->link_run, sizeof(st->link_run));
	send_fence(st, st->link_run);
	info_field(r->str, "redis_version:", ver, sizeof(ver));
	info_field(r->str, "maxmemory_policy:", policy, sizeof(policy));
	snprintf(st->status, sizeof(st->status), "redis %s at %.150s%s%s, "
	         "maxmemory-policy %s", ver, st->node, st->kind ==
	         REDIS_URL_DIRECT ? "" : " ", st->kind == REDIS_URL_SENTINEL ?
	         "(the Sentinels' master)" : st->kind == REDIS_URL_CLUSTER ?
	         "(the cluster primary of the namespace)" : "", policy);
	if (strcmp(policy, "noeviction") != 0)
		log_warnx("redis maxmemory-policy is %s, not noeviction: Redis may "
		          "evict job records", policy);
}

/* on_role: the server Sentinel named must still be the master (it may
 * have been demoted since: the Sentinel clients guidelines). */
static void
on_role(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	char why[200];

	if (!got_reply(st, ac, r_) || auth_refused(st, r_, 0))
		return;
	if (redis_route_role_reply(r_, why, sizeof(why)) < 0)
		link_fail(st, "%s", why);
}

/* send_sharded: in a Cluster the namespace's notifications go by sharded
 * pub/sub, which follows its slot (jobd.lua's publish reads this). */
static void
send_sharded(struct store *st)
{
	struct cmd c;

	cmd_init(&c);
	cmd_add(&c, "HSET");
	cmd_add(&c, st->n.meta);
	cmd_add(&c, "pubsub");
	cmd_add(&c, "shard");
	if (cmd_finish(&c) == 0)
		send_cmd(st, on_select, st, &c);
	cmd_free(&c);
}

static void
on_connect_ac(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct store *st = ac->data;
	struct redis_url a;
	struct cmd c;
	char err[256];

	if (ac != st->ac)
		return;
	if (status != REDIS_OK) {
		st->ac = NULL;          /* hiredis frees it */
		link_fail(st, "%s: %s", st->node, ac->errstr);
		return;
	}
	/* Pipelined: a refused AUTH fails the link before the rest is read. */
	if (config_redis_url(st->cfg, &a, err, sizeof(err)) == 0) {
		if (a.password[0] != '\0') {
			cmd_init(&c);
			cmd_add(&c, "AUTH");
			if (a.user[0] != '\0')
				cmd_add(&c, a.user);
			cmd_add(&c, a.password);
			if (cmd_finish(&c) == 0)
				send_cmd(st, on_auth, st, &c);
			cmd_free(&c);
		}
		if (a.db != 0) {
			cmd_init(&c);
			cmd_add(&c, "SELECT");
			cmd_addll(&c, a.db);
			if (cmd_finish(&c) == 0)
				send_cmd(st, on_select, st, &c);
			cmd_free(&c);
		}
		redis_url_clear(&a);
	}
	if (st->kind == REDIS_URL_SENTINEL) {
		cmd_init(&c);
		cmd_add(&c, "ROLE");
		if (cmd_finish(&c) == 0)
			send_cmd(st, on_role, st, &c);
		cmd_free(&c);
	}
	send_link_id(st);
	cmd_init(&c);
	cmd_add(&c, "INFO");
	cmd_add(&c, "server");
	cmd_add(&c, "memory");
	if (cmd_finish(&c) == 0)
		send_cmd(st, on_info, st, &c);
	cmd_free(&c);
	send_library(st, on_loaded);
	if (st->sharded)
		send_sharded(st);
}

static void
on_connect_sub(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct store *st = ac->data;
	struct redis_url a;
	char err[256];

	if (ac != st->sub)
		return;
	if (status != REDIS_OK) {
		st->sub = NULL;
		link_fail(st, "%s", ac->errstr);
		return;
	}
	/* Pub/sub channels are global: no SELECT needed. */
	if (config_redis_url(st->cfg, &a, err, sizeof(err)) == 0 &&
	    a.password[0] != '\0') {
		if ((a.user[0] != '\0' ? redisAsyncCommand(ac, on_auth, st,
		    "AUTH %s %s", a.user, a.password) : redisAsyncCommand(ac,
		    on_auth, st, "AUTH %s", a.password)) != REDIS_OK)
			link_fail(st, "cannot send AUTH");
	}
	redis_url_clear(&a);
	/* Sharded: SSUBSCRIBE after SUBSCRIBE of the same channel, whose
	 * callback hiredis 0.14 (which knows no sharded pub/sub) then finds
	 * for the smessage replies. */
	if (redisAsyncCommand(ac, on_message, st, "SUBSCRIBE %s",
	                      st->n.events) != REDIS_OK ||
	    (st->sharded && redisAsyncCommand(ac, on_message, st,
	    "SSUBSCRIBE %s", st->n.events) != REDIS_OK))
		link_fail(st, "cannot SUBSCRIBE");
	else
		ends_sync(st);
}

static void
on_disconnect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct store *st = ac->data;

	if (ac == st->ac)
		st->ac = NULL;
	else if (ac == st->sub)
		st->sub = NULL;
	else
		return;
	link_lost(st, ac, "connection closed");
}

static redisAsyncContext *
open_one(struct store *st, const struct redis_url *a,
         redisConnectCallback *on_conn)
{
	redisAsyncContext *ac;

	if (a->path[0])
		ac = redisAsyncConnectUnix(a->path);
	else
		ac = redisAsyncConnect(a->host, a->port);
	if (ac == NULL) {
		link_fail(st, "out of memory");
		return NULL;
	}
	if (ac->err) {
		link_fail(st, "%s", ac->errstr);
		redisAsyncFree(ac);
		return NULL;
	}
	ac->data = st;
	if (redis_loop_attach(ac, st->base) != 0) {
		link_fail(st, "cannot attach to the event loop");
		redisAsyncFree(ac);
		return NULL;
	}
	redisAsyncSetConnectCallback(ac, on_conn);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	return ac;
}

/* node_name: "HOST:PORT", "[IPV6]:PORT", or a socket path (port 0), as
 * store_node shows it. */
static void
node_name(char *out, size_t len, const char *host, int port)
{
	if (port == 0)
		snprintf(out, len, "%s", host);
	else
		snprintf(out, len, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
		         port);
}

/* open_links: the command and subscriber links to the server a. */
static void
open_links(struct store *st, const struct redis_url *a)
{
	char node[sizeof(st->node)];

	node_name(node, sizeof(node), a->path[0] ? a->path : a->host,
	          a->path[0] ? 0 : a->port);
	if (st->node[0] != '\0' && strcmp(node, st->node) != 0) {
		st->failovers++;
		log_warnx("redis: the namespace is now served by %s (was %s)",
		          node, st->node);
	}
	memcpy(st->node, node, sizeof(node));
	st->link_started = now_ms();
	if ((st->ac = open_one(st, a, on_connect_ac)) == NULL)
		return;
	st->sub = open_one(st, a, on_connect_sub);
}

/* on_found: the Sentinels or the Cluster named the namespace's server. */
static void
on_found(void *arg, const char *host, int port, const char *err)
{
	struct store *st = arg;
	struct redis_url a;
	char why[256];

	if (host == NULL) {
		link_fail(st, "%s", err);
	} else if (config_redis_url(st->cfg, &a, why, sizeof(why)) < 0) {
		link_fail(st, "%s", why);
	} else {
		snprintf(a.host, sizeof(a.host), "%s", host);
		a.port = port;
		open_links(st, &a);
		redis_url_clear(&a);
	}
	/* host and err are the search's own: freed last */
	redis_find_free(st->find);
	st->find = NULL;
}

/* on_switch: a Sentinel announced a failover of our master. */
static void
on_switch(void *arg, const char *host, int port)
{
	struct store *st = arg;
	char node[sizeof(st->node)];

	node_name(node, sizeof(node), host, port);
	if (strcmp(node, st->node) == 0 && !st->down)
		return;
	log_warnx("redis: Sentinel reports a failover: master now %s", node);
	st->backoff_ms = BACKOFF_MIN_MS;
	if (st->down) {
		/* waiting to retry the old master: go to the new one now */
		evtimer_del(st->ev_retry);
		event_active(st->ev_retry, EV_TIMEOUT, 0);
		return;
	}
	link_fail(st, "failover: the master moved to %s", node);
}

static void
link_start(struct store *st)
{
	struct redis_url a;
	char err[256];

	st->link_started = now_ms();
	st->ac_ready = st->sub_ready = st->up = 0;
	st->ends = ENDS_OFF;
	st->pending = 0;
	st->out_bytes = 0;
	if (config_redis_url(st->cfg, &a, err, sizeof(err)) < 0) {
		link_fail(st, "%s", err);
		return;
	}
	st->kind = a.kind;
	st->sharded = a.kind == REDIS_URL_CLUSTER;
	if (a.kind == REDIS_URL_SENTINEL && st->watch == NULL)
		st->watch = redis_watch_start(st->base, &a, on_switch, st);
	if (a.kind == REDIS_URL_DIRECT)
		open_links(st, &a);
	else if ((st->find = redis_find_start(st->base, &a,
	    redis_route_slot(st->n.meta, strlen(st->n.meta)), on_found,
	    st)) == NULL)
		link_fail(st, "out of memory");
	redis_url_clear(&a);
}

struct store *
store_new(struct event_base *base, const struct config *cfg,
          store_event_cb *on_event, void *arg)
{
	struct store *st = calloc(1, sizeof(*st));
	struct timeval tick = { 1, 0 };

	if (st == NULL)
		return NULL;
	st->base = base;
	st->cfg = cfg;
	st->on_event = on_event;
	st->arg = arg;
	st->backoff_ms = BACKOFF_MIN_MS;
	msgpack_sbuffer_init(&st->sb);
	if (gethostname(st->host, sizeof(st->host) - 1) < 0)
		strcpy(st->host, "localhost");
	snprintf(st->hb_id, sizeof(st->hb_id), "%s:%ld", st->host,
	         (long)getpid());
	new_epoch(st);
	st->last_jobs = -1;
	snprintf(st->status, sizeof(st->status),
	         "redis unreachable: connecting");
	if (cmd_names_init(&st->n, cfg) < 0)
		goto fail;
	st->ev_defer = event_new(base, -1, 0, on_defer, st);
	st->ev_tick = event_new(base, -1, EV_PERSIST, on_tick, st);
	st->ev_retry = evtimer_new(base, on_retry, st);
	st->ev_group = event_new(base, -1, 0, on_group, st);
	if (!st->ev_defer || !st->ev_tick || !st->ev_retry || !st->ev_group)
		goto fail;
	event_add(st->ev_tick, &tick);
	link_start(st);
	return st;
fail:
	if (st->ev_defer)
		event_free(st->ev_defer);
	if (st->ev_tick)
		event_free(st->ev_tick);
	if (st->ev_retry)
		event_free(st->ev_retry);
	if (st->ev_group)
		event_free(st->ev_group);
	cmd_names_free(&st->n);
	msgpack_sbuffer_destroy(&st->sb);
	free(st);
	return NULL;
}

void
store_set_config(struct store *st, const struct config *cfg)
{
	const struct config *old = st->cfg;
	int relink;
	struct cmd_names n;

	relink = strcmp(old->redis ? old->redis : "", cfg->redis ? cfg->redis :
	                "") != 0;
	st->cfg = cfg;
	if (cmd_names_init(&n, cfg) == 0) {
		if (strcmp(n.K, st->n.K) != 0) {
			relink = 1;
			st->epoch_seen[0] = '\0';  /* another namespace */
			st->last_jobs = -1;
		}
		cmd_names_free(&st->n);
		st->n = n;
	}
	if (relink) {
		st->node[0] = '\0';    /* not a failover */
		redis_watch_free(st->watch);    /* the new URL's, at relink */
		st->watch = NULL;
		link_fail(st, "configuration changed");
	}
}

void
store_free(struct store *st)
{
	if (st == NULL)
		return;
	st->down = 1;           /* no reconnect from here on */
	snprintf(st->lasterr, sizeof(st->lasterr), "shutting down");
	teardown(st);
	redis_watch_free(st->watch);
	group_flush(st);        /* fails it: the link is down */
	flush_deferred(st);
	event_free(st->ev_defer);
	event_free(st->ev_tick);
	event_free(st->ev_retry);
	event_free(st->ev_group);
	cmd_names_free(&st->n);
	msgpack_sbuffer_destroy(&st->sb);
	free(st);
}

const char *
store_node(const struct store *st)
{
	return st->node;
}

const char *
store_mode(const struct store *st)
{
	return st->kind == REDIS_URL_SENTINEL ? "sentinel" :
	       st->kind == REDIS_URL_CLUSTER ? "cluster" : "direct";
}

unsigned long
store_failovers(const struct store *st)
{
	return st->failovers;
}

int
store_available(const struct store *st)
{
	return st && st->ac_ready;
}

const char *
store_host(const struct store *st)
{
	return st->host;
}

const char *
store_id(const struct store *st)
{
	return st->hb_id;
}

const char *
store_status(const struct store *st)
{
	return st->status;
}

/*
 * Submit groups.  The submits made in one turn of the event loop (several
 * clients' at once) go to Redis as one FCALL, each submit a group of its
 * own, all or nothing as before: one call into Lua, one TIME, one RPUSH
 * per queue instead of one of each per submit.  The group is sent by
 * ev_group at the end of the turn, when it holds GROUP_MAX_JOBS jobs, or
 * before any other command (submit_req), so that Redis still sees the
 * master's commands in the order they were made.
 */
#define GROUP_MAX_JOBS 1000

struct group {
	struct { store_cb *cb; void *arg; size_t ids_at, nids; } *m;
	size_t n, cap;
	/* The members' job ids, NUL-terminated one after the other: only an
	 * in_doubt answer needs them. */
	char *ids;
	size_t ids_len, ids_cap;
};

/* group_ids: member i's job ids as {"job_ids": [...]}. */
static json_t *
group_ids(const struct group *g, size_t i)
{
	json_t *a = json_array();
	const char *p;

	if (g->ids == NULL)
		return json_pack("{s:o}", "job_ids", a);
	p = g->ids + g->m[i].ids_at;
	for (size_t k = 0; k < g->m[i].nids; k++, p += strlen(p) + 1)
		json_array_append_new(a, json_string(p));
	return json_pack("{s:o}", "job_ids", a);
}

/* group_add_id: -1 if out of memory. */
static int
group_add_id(struct group *g, const char *id)
{
	size_t len = strlen(id) + 1;

	if (g->ids_len + len > g->ids_cap) {
		size_t ncap = g->ids_cap ? g->ids_cap * 2 : 256;
		char *n;

		while (ncap < g->ids_len + len)
			ncap *= 2;
		if ((n = realloc(g->ids, ncap)) == NULL)
			return -1;
		g->ids = n;
		g->ids_cap = ncap;
	}
	memcpy(g->ids + g->ids_len, id, len);
	g->ids_len += len;
	g->m[g->n - 1].nids++;
	return 0;
}

/* group_done: the req callback of a group: each member gets its entry. */
static void
group_done(void *arg, int err, const char *msg, json_t *reply)
{
	struct group *g = arg;
	size_t i;

	for (i = 0; i < g->n; i++) {
		json_t *e = json_array_get(reply, i);
		int gerr;

		if (err == PERR_IN_DOUBT) {
			/* Each member learns the ids its jobs have if stored. */
			json_t *ids = group_ids(g, i);

			g->m[i].cb(g->m[i].arg, err, msg, ids);
			json_decref(ids);
		} else if (err != PERR_OK) {
			g->m[i].cb(g->m[i].arg, err, msg, reply);
		} else if (json_object_get(e, "job_ids") != NULL) {
			g->m[i].cb(g->m[i].arg, PERR_OK, NULL, e);
		} else if (json_is_object(e)) {
			gerr = (int)json_integer_value(json_object_get(e, "err"));
			msg = json_string_value(json_object_get(e, "msg"));
			if (gerr == PERR_INTERNAL)
				log_warnx("%s", msg);
			g->m[i].cb(g->m[i].arg, gerr, msg,
			           json_object_get(e, "reply"));
		} else {
			g->m[i].cb(g->m[i].arg, PERR_INTERNAL,
			           "unexpected reply from redis", NULL);
		}
	}
	free(g->ids);
	free(g->m);
	free(g);
}

static void
group_flush(struct store *st)
{
	struct req *rq = st->group;

	if (rq == NULL)
		return;
	st->group = NULL;
	st->group_jobs = 0;
	submit_req(st, rq);
}

static void
on_group(evutil_socket_t fd, short what, void *arg)
{
	group_flush(arg);
}

/* group_join: a place for one more member in the open group (opened if
 * need be); NULL if out of memory. */
static struct group *
group_join(struct store *st, size_t njobs, store_cb *cb, void *arg)
{
	struct group *g;

	if (st->group != NULL && st->group_jobs + njobs > GROUP_MAX_JOBS)
		group_flush(st);
	if (st->group == NULL) {
		if ((g = calloc(1, sizeof(*g))) == NULL)
			return NULL;
		if ((st->group = new_req(st, REP_SUBMIT, "jobd_submit",
		    group_done, g)) == NULL)
			return NULL;    /* group_done freed g */
		st->group->durable = st->cfg->durable;
		event_active(st->ev_group, EV_TIMEOUT, 0);
	}
	g = st->group->arg;
	if (g->n == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 8;
		void *nm = realloc(g->m, ncap * sizeof(*g->m));

		if (nm == NULL)
			return NULL;
		g->m = nm;
		g->cap = ncap;
	}
	g->m[g->n].cb = cb;
	g->m[g->n].arg = arg;
	g->m[g->n].ids_at = g->ids_len;
	g->m[g->n].nids = 0;
	g->n++;
	st->group_jobs += njobs;
	return g;
}

void
store_submit(struct store *st, const struct submit_spec *jobs,
             char *const *ids, size_t n, store_cb *cb, void *arg)
{
	struct req *rq;
	struct group *g;
	size_t i;

	if (n == 0 || n > REQUEST_MAX_JOBS) {
		if ((rq = new_req(st, REP_EMPTY, "jobd_submit", cb, arg)) != NULL)
			defer_fail(st, rq, PERR_BAD_REQUEST, "bad number of jobs");
		return;
	}
	if (group_join(st, n, cb, arg) == NULL) {
		log_warnx("store: out of memory");
		cb(arg, PERR_INTERNAL, "out of memory", NULL);
		return;
	}
	g = st->group->arg;
	cmd_addll(&st->group->cmd, (long long)n);
	for (i = 0; i < n; i++) {
		cmd_submit_job(&st->group->cmd, &jobs[i], ids[i], &st->sb);
		if (group_add_id(g, ids[i]) < 0)
			st->group->cmd.oom = 1;     /* fails the group */
	}
}

/* one_arg: the many calls that take one string argument. */
static void
one_arg(struct store *st, enum rep_kind kind, const char *fn, const char *a1,
        const char *a2, store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, kind, fn, cb, arg);

	if (rq == NULL)
		return;
	if (a1)
		cmd_add(&rq->cmd, a1);
	if (a2)
		cmd_add(&rq->cmd, a2);
	submit_req(st, rq);
}

void
store_get(struct store *st, const char *job_id, store_cb *cb, void *arg)
{
	one_arg(st, REP_GET, "jobd_get", job_id, NULL, cb, arg);
}

void
store_result(struct store *st, const char *job_id, store_cb *cb, void *arg)
{
	one_arg(st, REP_GET, "jobd_get", job_id, "result", cb, arg);
}

void
store_watch(struct store *st, const char *job_id, store_cb *cb, void *arg)
{
	one_arg(st, REP_GET, "jobd_watch", job_id, NULL, cb, arg);
}

void
store_cancel(struct store *st, const char *job_id, store_cb *cb, void *arg)
{
	one_arg(st, REP_CANCEL, "jobd_cancel", job_id, NULL, cb, arg);
}

void
store_requeue(struct store *st, const char *job_id, store_cb *cb, void *arg)
{
	one_arg(st, REP_REQUEUE, "jobd_requeue", "job", job_id, cb, arg);
}

void
store_delete(struct store *st, const char *job_id, store_cb *cb, void *arg)
{
	one_arg(st, REP_EMPTY, "jobd_delete", job_id, NULL, cb, arg);
}

void
store_requeue_failed(struct store *st, const char *queue, store_cb *cb,
                     void *arg)
{
	struct req *rq = new_req(st, REP_REQUEUE, "jobd_requeue", cb, arg);

	if (rq == NULL)
		return;
	cmd_add(&rq->cmd, "failed");
	cmd_add(&rq->cmd, queue ? queue : "");
	cmd_addll(&rq->cmd, REQUEUE_BATCH);
	submit_req(st, rq);
}

void
store_batch_open(struct store *st, const char *batch_id,
                 const char *description, const struct submit_spec *callback,
                 const char *callback_id, store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, REP_BATCH, "jobd_batch_open", cb, arg);

	if (rq == NULL)
		return;
	cmd_add(&rq->cmd, batch_id);
	cmd_add(&rq->cmd, description ? description : "");
	if (callback != NULL)
		cmd_submit_job(&rq->cmd, callback, callback_id, &st->sb);
	submit_req(st, rq);
}

void
store_batch_seal(struct store *st, const char *batch_id, store_cb *cb,
                 void *arg)
{
	one_arg(st, REP_BATCH, "jobd_batch_seal", batch_id, NULL, cb, arg);
}

void
store_batch_get(struct store *st, const char *batch_id, store_cb *cb,
                void *arg)
{
	one_arg(st, REP_BATCH_GET, "jobd_batch_get", batch_id, "0", cb, arg);
}

void
store_release_owner(struct store *st, const char *owner, const char *error,
                    store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, REP_RELEASE, "jobd_release", cb, arg);

	if (rq == NULL)
		return;
	cmd_add(&rq->cmd, owner);
	cmd_add(&rq->cmd, error);
	submit_req(st, rq);
}

void
store_list(struct store *st, const char *status, const char *queue,
           const char *type, long offset, long limit, store_cb *cb,
           void *arg)
{
	struct req *rq = new_req(st, REP_LIST, "jobd_list", cb, arg);

	if (rq == NULL)
		return;
	cmd_add(&rq->cmd, status ? status : "");
	cmd_add(&rq->cmd, queue ? queue : "");
	cmd_add(&rq->cmd, type ? type : "");
	cmd_addll(&rq->cmd, offset < 0 ? 0 : offset);
	cmd_addll(&rq->cmd, limit < 0 ? 0 : limit > REQUEST_MAX_LIMIT ?
	          REQUEST_MAX_LIMIT : limit);
	cmd_queues(&rq->cmd, st->cfg);
	submit_req(st, rq);
}

void
store_stats(struct store *st, store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, REP_STATS, "jobd_stats", cb, arg);

	if (rq == NULL)
		return;
	cmd_queues(&rq->cmd, st->cfg);
	submit_req(st, rq);
}

void
store_cron_tick(struct store *st, const char *name, long long tick_ms,
                int catchup, const struct submit_spec *job, store_cb *cb,
                void *arg)
{
	struct req *rq = new_req(st, REP_JSON, "jobd_cron_tick", cb, arg);

	if (rq == NULL)
		return;
	cmd_add(&rq->cmd, name);
	cmd_addll(&rq->cmd, tick_ms);
	cmd_add(&rq->cmd, catchup ? "catchup" : "tick");
	cmd_addll(&rq->cmd, 1);
	cmd_submit_job(&rq->cmd, job, job->job_id, &st->sb);
	submit_req(st, rq);
}

void
store_cron_list(struct store *st, const char *const *names, int n,
                store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, REP_JSON, "jobd_cron_list", cb, arg);

	if (rq == NULL)
		return;
	for (int i = 0; i < n; i++)
		cmd_add(&rq->cmd, names[i]);
	submit_req(st, rq);
}

void
store_queue_counts(struct store *st, const char *const *queues, int n,
                   store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, REP_STATS, "jobd_stats", cb, arg);

	if (rq == NULL)
		return;
	cmd_addll(&rq->cmd, n);
	for (int i = 0; i < n; i++)
		cmd_add(&rq->cmd, queues[i]);
	submit_req(st, rq);
}

void
store_limits(struct store *st, store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, REP_JSON, "jobd_limits", cb, arg);

	if (rq == NULL)
		return;
	cmd_addll(&rq->cmd, st->cfg->nlimits);
	for (int i = 0; i < st->cfg->nlimits; i++) {
		const struct job_limit *l = &st->cfg->limits[i];

		cmd_add(&rq->cmd, l->name);
		cmd_addll(&rq->cmd, l->concurrency);
		cmd_addll(&rq->cmd, l->every_ms);
		cmd_addll(&rq->cmd, l->burst);
	}
	submit_req(st, rq);
}

void
store_pause(struct store *st, const char *queue, int paused, store_cb *cb,
            void *arg)
{
	one_arg(st, REP_EMPTY, "jobd_pause", queue, paused ? "1" : "0", cb, arg);
}

void
store_progress(struct store *st, const char *job_id, double percent,
               const char *message, store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, REP_EMPTY, "jobd_progress", cb, arg);
	char *p;

	if (rq == NULL)
		return;
	if ((p = cmd_progress_json(percent, message)) == NULL)
		rq->cmd.oom = 1;
	cmd_add(&rq->cmd, job_id);
	cmd_add(&rq->cmd, "");
	cmd_add(&rq->cmd, p ? p : "null");
	free(p);
	submit_req(st, rq);
}

/* redis_info: how this daemon reaches Redis, as every daemon's stats
 * shows it (store_record.c daemons_of reads it back); NULL when out of
 * memory.  A socket path is the config's bytes: cleaned to UTF-8. */
static char *
redis_info(const struct store *st)
{
	size_t len;
	char *node = text_clean(st->node, strlen(st->node), &len), *out;
	json_t *o;

	if (node == NULL)
		return NULL;
	o = json_pack("{s:s,s:s%,s:I}", "mode", store_mode(st), "node", node,
	    len, "failovers", (json_int_t)st->failovers);
	free(node);
	out = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return out;
}

void
store_heartbeat(struct store *st, json_t *leases, json_t *workers,
                store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, REP_HEARTBEAT, "jobd_heartbeat", cb, arg);
	json_t *ws, *w, *l;
	char *text, *served, *info;
	size_t i, n;
	long long ttl = cmd_lease_ms(st->cfg);

	if (rq == NULL)
		return;
	/* The workers as stats shows them, host added. */
	ws = json_array();
	if (json_is_array(workers))
		json_array_foreach(workers, i, w) {
			json_t *c = json_deep_copy(w);

			if (json_is_object(c))
				json_object_set_new(c, "host", json_string(st->host));
			json_array_append_new(ws, c);
		}
	text = json_dumps(ws, JSON_COMPACT);
	json_decref(ws);
	if (text == NULL)
		rq->cmd.oom = 1;
	cmd_add(&rq->cmd, st->hb_id);
	cmd_add(&rq->cmd, text ? text : "[]");
	cmd_addll(&rq->cmd, ttl < 1000 ? 1000 : ttl);   /* 3x lease/3 */
	cmd_addll(&rq->cmd, cmd_lease_ms(st->cfg));
	free(text);
	/* The types stats shows this daemon serves: its latest config's. */
	if ((served = cmd_served_types(st->cfg)) == NULL)
		rq->cmd.oom = 1;
	cmd_add(&rq->cmd, served ? served : " ");
	free(served);
	n = json_is_array(leases) ? json_array_size(leases) : 0;
	cmd_addll(&rq->cmd, (long long)n);
	for (i = 0; i < n; i++) {
		l = json_array_get(leases, i);
		cmd_add(&rq->cmd, json_string_value(json_object_get(l, "job_id")));
		cmd_add(&rq->cmd, json_string_value(json_object_get(l, "token")));
	}
	if ((info = redis_info(st)) == NULL)
		rq->cmd.oom = 1;
	cmd_add(&rq->cmd, info ? info : "");
	free(info);
	submit_req(st, rq);
}

void
store_reap(struct store *st, store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, REP_REAP, "jobd_reap", cb, arg);

	if (rq == NULL)
		return;
	cmd_addll(&rq->cmd, REAP_BATCH);
	cmd_addll(&rq->cmd, MAX_LOST);
	cmd_addll(&rq->cmd, cmd_lease_ms(st->cfg));
	submit_req(st, rq);
	check_epoch(st);
}

void
store_fail_job(struct store *st, const char *job_id, const char *token,
               const char *error, enum store_fail_mode mode,
               long long retry_delay_ms, store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, REP_FAIL, "jobd_fail", cb, arg);

	if (rq == NULL)
		return;
	cmd_fail_args(&rq->cmd, job_id, token, error, mode, retry_delay_ms);
	cmd_add(&rq->cmd, "0");
	submit_req(st, rq);
}
