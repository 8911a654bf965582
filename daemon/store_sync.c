/*
 * store_sync.c: the store's blocking face, one connection per worker
 * process (store.h).  Commands come from store_cmd.c, replies are read by
 * store_record.c.
 */
#include <sys/time.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "config.h"
#include "log.h"
#include "redis_route.h"
#include "redis_url.h"
#include "store.h"
#include "store_cmd.h"
#include "store_library.h"
#include "store_record.h"

#define CONNECT_TIMEOUT_MS  5000
#define WAIT_CAP_MS         5000    /* store_sync_wait block cap */
#define SYNC_SOCK_TIMEOUT_S 15      /* > WAIT_CAP_MS */

struct store_sync {
	const struct config *cfg;
	redisContext *c;
	struct cmd_names n;
	char owner[300];
	char *served;           /* cmd_served_types(cfg), passed to takes */
	char err[256];
	char outcome[16];    /* what the last finish/fail made of the job */
};

static void
sync_drop(struct store_sync *ss)
{
	if (ss->c) {
		redisFree(ss->c);
		ss->c = NULL;
	}
}

static int sync_check(struct store_sync *ss);
static int sync_reply(struct store_sync *ss, void **rv);

/* sync_cmd: a setup command on a fresh connection; -1 with ss->err
 * ("what: why"). */
static int
sync_cmd(struct store_sync *ss, const char *what, int argc,
         const char **argv)
{
	redisReply *r = redisCommandArgv(ss->c, argc, argv, NULL);
	int rc = 0;

	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		snprintf(ss->err, sizeof(ss->err), "%s: %s", what,
		         r ? r->str : ss->c->errstr);
		rc = -1;
	}
	freeReplyObject(r);
	return rc;
}

/* sync_setup: a fresh connection's AUTH and SELECT. */
static int
sync_setup(struct store_sync *ss, const struct redis_url *a)
{
	const char *argv[3] = { "AUTH" };
	char db[16];
	int argc = 1;

	if (a->password[0] != '\0') {
		if (a->user[0] != '\0')
			argv[argc++] = a->user;
		argv[argc++] = a->password;
		if (sync_cmd(ss, "redis authentication failed", argc, argv) < 0)
			return -1;
	}
	if (a->db != 0) {
		snprintf(db, sizeof(db), "%d", a->db);
		argv[0] = "SELECT";
		argv[1] = db;
		if (sync_cmd(ss, "redis SELECT", 2, argv) < 0)
			return -1;
	}
	return 0;
}

/* sync_role: the server Sentinel named is still the master (the Sentinel
 * clients guidelines: it may have been demoted since). */
static int
sync_role(struct store_sync *ss)
{
	const char *argv[1] = { "ROLE" };
	redisReply *r = redisCommandArgv(ss->c, 1, argv, NULL);
	char why[200];
	int rc = redis_route_role_reply(r, why, sizeof(why));

	if (rc < 0)
		snprintf(ss->err, sizeof(ss->err), "redis: %s", r ? why :
		         ss->c->errstr);
	freeReplyObject(r);
	return rc;
}

static int
sync_open(struct store_sync *ss)
{
	struct redis_url a;
	struct timeval ct = { CONNECT_TIMEOUT_MS / 1000, 0 };
	struct timeval st = { SYNC_SOCK_TIMEOUT_S, 0 };
	int rc = 0;

	if (ss->c)
		return 0;
	if (config_redis_url(ss->cfg, &a, ss->err, sizeof(ss->err)) < 0)
		return -1;
	if (redis_route_find(&a, ss->n.meta, &ct, ss->err,
	                     sizeof(ss->err)) < 0) {
		redis_url_clear(&a);
		return -1;
	}
	if (a.path[0])
		ss->c = redisConnectUnixWithTimeout(a.path, ct);
	else
		ss->c = redisConnectWithTimeout(a.host, a.port, ct);
	if (ss->c == NULL || ss->c->err) {
		snprintf(ss->err, sizeof(ss->err), "redis unreachable: %s",
		         ss->c ? ss->c->errstr : "out of memory");
		rc = -1;
	} else {
		redisSetTimeout(ss->c, st);
		rc = sync_setup(ss, &a);
		if (rc == 0 && a.kind == REDIS_URL_SENTINEL)
			rc = sync_role(ss);
	}
	if (rc < 0)
		sync_drop(ss);
	redis_url_clear(&a);
	return rc < 0 ? -1 : sync_check(ss);
}

/* sync_load: FUNCTION LOAD REPLACE the library. */
static int
sync_load(struct store_sync *ss)
{
	const char *argv[4] = { "FUNCTION", "LOAD", "REPLACE",
	                        store_lua_library };
	redisReply *r = redisCommandArgv(ss->c, 4, argv, NULL);
	int rc = 0;

	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		snprintf(ss->err, sizeof(ss->err), "redis FUNCTION LOAD: %s",
		         r ? r->str : ss->c->errstr);
		rc = -1;
	}
	if (r == NULL)
		sync_drop(ss);
	freeReplyObject(r);
	return rc;
}

/*
 * sync_check: the schema check of a new connection, as the master's
 * (a worker may take a job before its master hears the answer); loads the
 * library when it is missing.  -1 with ss->err set and the connection
 * dropped when it fails.
 */
static int
sync_check(struct store_sync *ss)
{
	struct cmd c;
	redisReply *r = NULL;
	const char *why;
	void *rv;
	int tries, rc = -1;

	cmd_fcall(&c, &ss->n, ss->cfg, "jobd_schema");
	if (cmd_finish(&c) < 0) {
		snprintf(ss->err, sizeof(ss->err), "out of memory");
		goto out;
	}
	for (tries = 0; tries < 2; tries++) {
		if (redisAppendFormattedCommand(ss->c, c.buf + c.start,
		                                c.len - c.start) != REDIS_OK ||
		    sync_reply(ss, &rv) != 0) {
			snprintf(ss->err, sizeof(ss->err), "redis unreachable: %s",
			         ss->c->errstr);
			goto out;
		}
		r = rv;
		if (!rep_function_missing(r) || tries > 0)
			break;
		freeReplyObject(r);
		r = NULL;
		if (sync_load(ss) < 0)
			goto out;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		why = store_lib_refused(r->str);
		snprintf(ss->err, sizeof(ss->err), "%s", why ? why : r->str);
	} else
		rc = 0;
out:
	freeReplyObject(r);
	cmd_free(&c);
	if (rc < 0)
		sync_drop(ss);
	return rc;
}

/*
 * sync_reply: send what was appended and read its reply.  The wait is a
 * poll() for input, not a blocking read(): when Redis reads the request,
 * the kernel signals write space to every task asleep on this socket,
 * which wakes one blocked in read() for nothing (it sleeps again until the
 * reply), while a poll() for POLLIN is not woken.  One context switch per
 * call instead of two, and no wake-up for Redis to pay.
 */
static int
sync_reply(struct store_sync *ss, void **rv)
{
	struct pollfd pfd = { .fd = ss->c->fd, .events = POLLIN };
	int done = 0, n;

	*rv = NULL;
	do {
		if (redisBufferWrite(ss->c, &done) != REDIS_OK)
			return -1;
	} while (!done);
	for (;;) {
		if (redisReaderGetReply(ss->c->reader, rv) != REDIS_OK) {
			snprintf(ss->c->errstr, sizeof(ss->c->errstr), "%s",
			         ss->c->reader->errstr);
			return -1;
		}
		if (*rv != NULL)
			return 0;
		n = poll(&pfd, 1, SYNC_SOCK_TIMEOUT_S * 1000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(ss->c->errstr, sizeof(ss->c->errstr), "%s",
			         n == 0 ? "no reply within the socket timeout" :
			         strerror(errno));
			return -1;
		}
		if (redisBufferRead(ss->c) != REDIS_OK)
			return -1;
	}
}

/* sync_call: send c, return the reply (caller frees) or NULL with ss->err
 * set.  Error replies are returned as replies; a missing library is
 * loaded and the call retried once. */
static redisReply *
sync_call(struct store_sync *ss, struct cmd *c)
{
	redisReply *r = NULL;
	void *rv;
	int tries;

	if (cmd_finish(c) < 0) {
		snprintf(ss->err, sizeof(ss->err), "out of memory");
		return NULL;
	}
	for (tries = 0; tries < 2; tries++) {
		if (sync_open(ss) < 0)
			return NULL;
		if (redisAppendFormattedCommand(ss->c, c->buf + c->start,
		                                c->len - c->start) != REDIS_OK ||
		    sync_reply(ss, &rv) != 0) {
			snprintf(ss->err, sizeof(ss->err), "redis unreachable: %s",
			         ss->c->errstr);
			sync_drop(ss);
			return NULL;
		}
		r = rv;
		if (r->type == REDIS_REPLY_ERROR && redis_route_moved(r->str)) {
			/* Not (or no longer) the namespace's server: find it
			 * again.  A command refused that way did not run, but
			 * for a script stopped halfway (redis_route.h). */
			sync_drop(ss);
			if (tries > 0 || !redis_route_undone(r->str))
				return r;
			freeReplyObject(r);
			r = NULL;
			continue;
		}
		if (!rep_function_missing(r) || tries > 0)
			return r;
		freeReplyObject(r);
		r = NULL;
		if (sync_load(ss) < 0)
			return NULL;
	}
	return r;
}

struct store_sync *
store_sync_connect(const struct config *cfg, const char *owner, char *err,
                   size_t errlen)
{
	struct store_sync *ss = calloc(1, sizeof(*ss));

	if (ss == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ss->cfg = cfg;
	snprintf(ss->owner, sizeof(ss->owner), "%s", owner ? owner : "");
	if (cmd_names_init(&ss->n, cfg) < 0) {
		snprintf(err, errlen, "out of memory");
		free(ss);
		return NULL;
	}
	/* What this worker serves, not its master's latest config: after a
	 * reload an old worker leaves the new types to new workers. */
	if ((ss->served = cmd_served_types(cfg)) == NULL) {
		snprintf(err, errlen, "out of memory");
		store_sync_free(ss);
		return NULL;
	}
	if (sync_open(ss) < 0) {
		snprintf(err, errlen, "%s", ss->err);
		store_sync_free(ss);
		return NULL;
	}
	return ss;
}

void
store_sync_free(struct store_sync *ss)
{
	if (ss == NULL)
		return;
	sync_drop(ss);
	cmd_names_free(&ss->n);
	free(ss->served);
	free(ss);
}

const char *
store_sync_errmsg(const struct store_sync *ss)
{
	return ss->err;
}

const char *
store_sync_outcome(const struct store_sync *ss)
{
	return ss->outcome;
}

int
store_sync_connected(const struct store_sync *ss)
{
	return ss->c != NULL;
}


/* take_result: a dequeue reply (job fields or wait ms) to the
 * store_sync_dequeue convention. */
static int
take_result(struct store_sync *ss, const redisReply *r,
            struct store_job **job, long long *wait_ms)
{
	long long w;

	if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
		if ((*job = record_job(r)) == NULL) {
			snprintf(ss->err, sizeof(ss->err), "cannot read the job "
			         "record taken (or out of memory)");
			return -1;
		}
		return 1;
	}
	w = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
	if (w < 0 || w > WAIT_CAP_MS)
		w = WAIT_CAP_MS;
	if (wait_ms)
		*wait_ms = w;
	return 0;
}

static int
error_reply(struct store_sync *ss, redisReply *r)
{
	/* Without AUTH Redis 7 refuses a long command with a protocol error. */
	snprintf(ss->err, sizeof(ss->err), "redis%s: %.*s",
	         strstr(r->str, "unauthenticated") || strncmp(r->str, "NOAUTH",
	         6) == 0 ? " authentication failed" : "",
	         (int)(r->len > 200 ? 200 : r->len), r->str);
	freeReplyObject(r);
	return -1;
}

/* sync_run: sync_call() for a reply of no interest but its error; frees c. */
static int
sync_run(struct store_sync *ss, struct cmd *c)
{
	redisReply *r = sync_call(ss, c);

	cmd_free(c);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR)
		return error_reply(ss, r);
	freeReplyObject(r);
	return 0;
}

int
store_sync_dequeue(struct store_sync *ss, struct store_job **job,
                   long long *wait_ms)
{
	struct cmd c;
	redisReply *r;
	int rc;

	*job = NULL;
	cmd_fcall(&c, &ss->n, ss->cfg, "jobd_dequeue");
	cmd_take_tail(&c, ss->owner, ss->served, ss->cfg);
	r = sync_call(ss, &c);
	cmd_free(&c);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR)
		return error_reply(ss, r);
	rc = take_result(ss, r, job, wait_ms);
	freeReplyObject(r);
	return rc;
}

int
store_sync_wait(struct store_sync *ss, long long timeout_ms)
{
	struct cmd c;
	char t[32];

	if (timeout_ms <= 0)
		return 0;
	if (timeout_ms > WAIT_CAP_MS)
		timeout_ms = WAIT_CAP_MS;
	snprintf(t, sizeof(t), "%lld.%03lld", timeout_ms / 1000,
	         timeout_ms % 1000);
	cmd_init(&c);
	cmd_add(&c, "BZPOPMIN");
	cmd_add(&c, ss->n.wake);
	/* wake:<type>: a job of a type this worker serves was handed off
	 * by a daemon that does not (jobd.lua, "Mixed fleets"). */
	for (int i = 0; i < ss->cfg->ntypes; i++)
		cmd_add_key(&c, ss->n.K, "wake:", ss->cfg->types[i].name);
	cmd_add(&c, t);
	return sync_run(ss, &c);
}

/* end_call: finish or fail (cmd built up to the take flag). */
static int
end_call(struct store_sync *ss, struct cmd *c, const struct store_job *job,
         struct store_job **next)
{
	redisReply *r;
	int rc = 0;

	if (next) {
		*next = NULL;
		cmd_add(c, "1");
		cmd_take_tail(c, ss->owner, ss->served, ss->cfg);
	} else {
		cmd_add(c, "0");
	}
	ss->outcome[0] = '\0';
	r = sync_call(ss, c);
	cmd_free(c);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR)
		return error_reply(ss, r);
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
		snprintf(ss->err, sizeof(ss->err), "unexpected reply from redis");
		freeReplyObject(r);
		return -1;
	}
	snprintf(ss->outcome, sizeof(ss->outcome), "%s",
	    r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : "");
	if (rep_is(r->element[0], "lost"))
		log_warnx("job %s: lease lost (reaped or canceled), outcome "
		          "dropped", job->id);
	if (next)
		rc = take_result(ss, r->element[1], next, NULL);
	freeReplyObject(r);
	return rc;
}

int
store_sync_finish(struct store_sync *ss, const struct store_job *job,
                  const char *result_json, struct store_job **next)
{
	struct cmd c;
	size_t len = result_json ? strlen(result_json) : 0;

	if (ss->cfg->max_result > 0 && (long long)len > ss->cfg->max_result) {
		char e[160];

		snprintf(e, sizeof(e), "result too large: %zu bytes (max_result "
		         "%lld)", len, ss->cfg->max_result);
		return store_sync_fail(ss, job, e, STORE_FAIL, 0, next);
	}
	cmd_fcall(&c, &ss->n, ss->cfg, "jobd_finish");
	cmd_add(&c, job->id);
	cmd_add(&c, job->token);
	cmd_add(&c, len ? result_json : "null");
	return end_call(ss, &c, job, next);
}

int
store_sync_fail(struct store_sync *ss, const struct store_job *job,
                const char *error, enum store_fail_mode mode,
                long long retry_delay_ms, struct store_job **next)
{
	struct cmd c;

	cmd_fcall(&c, &ss->n, ss->cfg, "jobd_fail");
	cmd_fail_args(&c, job->id, job->token, error, mode, retry_delay_ms);
	return end_call(ss, &c, job, next);
}

int
store_sync_progress(struct store_sync *ss, const struct store_job *job,
                    double percent, const char *message)
{
	struct cmd c;
	char *p = cmd_progress_json(percent, message);

	if (p == NULL) {
		snprintf(ss->err, sizeof(ss->err), "out of memory");
		return -1;
	}
	cmd_fcall(&c, &ss->n, ss->cfg, "jobd_progress");
	cmd_add(&c, job->id);
	cmd_add(&c, job->token);
	cmd_add(&c, p);
	free(p);
	return sync_run(ss, &c);
}
