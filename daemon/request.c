/*
 * request.c: parsing and validation of one client request (docs/protocol.md).
 *
 * Every field is checked for type and bounds and every message names the
 * field.  JSON null counts as "absent" for optional fields (clients often
 * send null for an unset argument); only "payload" keeps null as a value.
 * Fields we do not know are ignored.  Whatever the input, the result is a
 * valid request or an error, never a crash or a leak: this file is fuzzed.
 */
#include "request.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config_limit.h"
#include "hook.h"
#include "proto.h"

#define DAY  86400.0
#define YEAR (365 * DAY)

#define MAX_TIMEOUT      (7 * DAY)   /* of a job */
#define MAX_DELAY        YEAR
#define MAX_TTL          ((long long)YEAR)
#define MAX_OFFSET       1000000000L
#define DEFAULT_WAIT     30.0
#define DEFAULT_LIMIT    100
#define ANY_TYPE_TIMEOUT 180.0

static const char *const statuses[] = {
	"queued", "scheduled", "started", "finished", "failed", "canceled",
	"deferred"
};

/* A parse in progress: where messages go and what prefixes them. */
struct request_ctx {
	const struct config *cfg;
	char *err;
	size_t errlen;
	const char *prefix;     /* "submit", "jobs[3]", ... */
};

static int
fail(struct request_ctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* fail: write "prefix: message" and return code. */
static int
fail(struct request_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (c->err == NULL || c->errlen == 0)
		return code;
	if (c->prefix != NULL)
		n = snprintf(c->err, c->errlen, "%s: ", c->prefix);
	if (n < 0 || (size_t)n >= c->errlen)
		return code;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

/* shown: a client's string made safe and short for a message (printable
 * ASCII only, so that the reply stays valid UTF-8). */
static const char *
shown(const char *s, char *buf, size_t buflen)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < buflen; i++)
		buf[i] = isprint((unsigned char)s[i]) && isascii((unsigned char)s[i])
		    ? s[i] : '?';
	buf[i] = '\0';
	if (s[i] != '\0' && buflen > 4)
		memcpy(buf + buflen - 4, "...", 4);
	return buf;
}

/* field: the member, or NULL when absent or null. */
static json_t *
field(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	return json_is_null(v) ? NULL : v;
}

/* get_string: an optional string field; *out NULL when absent.  Strings
 * holding NUL are refused (jansson does so already without
 * JSON_ALLOW_NUL; checked again for safety). */
static int
get_string(struct request_ctx *c, json_t *obj, const char *name, const char **out)
{
	json_t *v = field(obj, name);

	*out = NULL;
	if (v == NULL)
		return PERR_OK;
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return fail(c, PERR_BAD_REQUEST, "'%s' must be a string", name);
	*out = json_string_value(v);
	return PERR_OK;
}

/* get_number: an optional number field within [min, max]; what describes
 * the accepted range in messages. */
static int
get_number(struct request_ctx *c, json_t *obj, const char *name, double min,
           int min_open, double max, const char *what, double *out, int *set)
{
	json_t *v = field(obj, name);
	double d;

	*set = 0;
	if (v == NULL)
		return PERR_OK;
	if (!json_is_number(v))
		return fail(c, PERR_BAD_REQUEST, "'%s' must be %s", name, what);
	d = json_number_value(v);
	if (!isfinite(d) || d < min || (min_open && d <= min))
		return fail(c, PERR_BAD_REQUEST, "'%s' must be %s", name, what);
	if (d > max)
		return fail(c, PERR_BAD_REQUEST, "'%s' must be at most %g",
		    name, max);
	*out = d;
	*set = 1;
	return PERR_OK;
}

/* get_integer: as get_number, but integral (2.0 is accepted as 2). */
static int
get_integer(struct request_ctx *c, json_t *obj, const char *name, long long min,
            long long max, long long *out, int *set)
{
	json_t *v = field(obj, name);
	double d;

	*set = 0;
	if (v == NULL)
		return PERR_OK;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < min || i > max)
			goto range;
		*out = i;
		*set = 1;
		return PERR_OK;
	}
	if (!json_is_real(v))
		goto range;
	d = json_real_value(v);
	if (!isfinite(d) || d < (double)min || d > (double)max ||
	    d != (double)(long long)d)
		goto range;
	*out = (long long)d;
	*set = 1;
	return PERR_OK;
range:
	return fail(c, PERR_BAD_REQUEST, "'%s' must be an integer from %lld "
	    "to %lld", name, min, max);
}

static int
get_job_id(struct request_ctx *c, json_t *obj, const char *name, int required,
           const char **out)
{
	int rc;

	if ((rc = get_string(c, obj, name, out)) != PERR_OK)
		return rc;
	if (*out == NULL) {
		if (required)
			return fail(c, PERR_BAD_REQUEST, "missing '%s'", name);
		return PERR_OK;
	}
	if (!request_valid_id(*out))
		return fail(c, PERR_BAD_REQUEST, "'%s' must be 1 to %d "
		    "characters of A-Z a-z 0-9 _ . : -", name,
		    REQUEST_MAX_ID_LEN);
	return PERR_OK;
}

/* get_queue: an optional queue name that must be configured. */
static int
get_queue(struct request_ctx *c, json_t *obj, int required, const char **out)
{
	char buf[72];
	int rc;

	if ((rc = get_string(c, obj, "queue", out)) != PERR_OK)
		return rc;
	if (*out == NULL)
		return required ? fail(c, PERR_BAD_REQUEST,
		    "missing 'queue'") : PERR_OK;
	if (config_queue_index(c->cfg, *out) < 0)
		return fail(c, PERR_BAD_REQUEST, "'queue': no queue '%s'",
		    shown(*out, buf, sizeof(buf)));
	return PERR_OK;
}

/* depth_ok: v nests no deeper than left more levels; the recursion is
 * bounded by REQUEST_MAX_DEPTH. */
static int
depth_ok(json_t *v, int left)
{
	const char *k;
	json_t *e;
	size_t i;

	if (!json_is_object(v) && !json_is_array(v))
		return 1;
	if (left <= 0)
		return 0;
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if (!depth_ok(e, left - 1))
				return 0;
	} else {
		json_object_foreach(v, k, e)
			if (!depth_ok(e, left - 1))
				return 0;
	}
	return 1;
}

static int
valid_type_name(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)s[n];

		if (n >= CONFIG_NAME_MAX || !isascii(ch) ||
		    !(isalnum(ch) || strchr("_.:-", ch) != NULL))
			return 0;
	}
	return n > 0;
}

/* parse_workflow: a job's depends_on, on_dep_failure and batch_id
 * (docs/protocol.md, "Dependencies" and "Batches").  Unknown parents,
 * cycles and sealed batches are Redis's to refuse. */
static int
parse_workflow(struct request_ctx *c, json_t *obj, struct submit_spec *s)
{
	json_t *deps = field(obj, "depends_on"), *e, *e2;
	size_t i, k;
	int rc;

	if ((rc = get_string(c, obj, "on_dep_failure", &s->on_dep)) != PERR_OK)
		return rc;
	if (s->on_dep != NULL && strcmp(s->on_dep, "cancel") != 0 &&
	    strcmp(s->on_dep, "run") != 0 && strcmp(s->on_dep, "hold") != 0)
		return fail(c, PERR_BAD_REQUEST, "'on_dep_failure' must be "
		    "cancel, run or hold");
	if (s->on_dep != NULL && deps == NULL)
		return fail(c, PERR_BAD_REQUEST, "'on_dep_failure' needs "
		    "'depends_on'");
	if (s->on_dep != NULL && strcmp(s->on_dep, "cancel") == 0)
		s->on_dep = NULL;       /* the default: not stored */
	if ((rc = get_job_id(c, obj, "batch_id", 0, &s->batch_id)) != PERR_OK)
		return rc;
	if (deps == NULL)
		return PERR_OK;
	if (!json_is_array(deps) || json_array_size(deps) == 0 ||
	    json_array_size(deps) > REQUEST_MAX_DEPS)
		return fail(c, PERR_BAD_REQUEST, "'depends_on' must be an array "
		    "of 1 to %d job or batch ids", REQUEST_MAX_DEPS);
	json_array_foreach(deps, i, e) {
		if (!json_is_string(e) || !request_valid_id(json_string_value(e)))
			return fail(c, PERR_BAD_REQUEST, "'depends_on'[%zu] must "
			    "be 1 to %d characters of A-Z a-z 0-9 _ . : -", i,
			    REQUEST_MAX_ID_LEN);
		if (s->job_id != NULL &&
		    strcmp(s->job_id, json_string_value(e)) == 0)
			return fail(c, PERR_BAD_REQUEST, "'depends_on'[%zu]: a "
			    "job cannot depend on itself", i);
		for (k = 0; k < i; k++) {
			e2 = json_array_get(deps, k);
			if (strcmp(json_string_value(e2), json_string_value(e)) == 0)
				return fail(c, PERR_BAD_REQUEST, "'depends_on'[%zu] "
				    "repeats [%zu]", i, k);
		}
	}
	s->depends_on = deps;
	return PERR_OK;
}

/* parse_job: one job's object (of submit or submit_many) into s, the
 * type's defaults applied.  Missing payload and meta are added to obj so
 * that s borrows them. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* parse_callback: callback_url, accepted only where [webhooks] allow
 * says. */
static int
parse_callback(struct request_ctx *c, json_t *obj, struct submit_spec *s)
{
	const struct config *cfg = c->cfg;
	const struct job_type *t;
	char why[200];
	int rc;

	if ((rc = get_string(c, obj, "callback_url", &s->callback_url)) !=
	    PERR_OK || s->callback_url == NULL)
		return rc;
	if (cfg->hook_allow.n == 0 ||
	    (t = config_find_type(cfg, "jobd.webhook")) == NULL)
		return fail(c, PERR_BAD_REQUEST, "'callback_url': this jobd "
		    "has no [webhooks] allow patterns, so it calls no URL");
	if (hook_check_url(s->callback_url, why, sizeof(why)) == -1)
		return fail(c, PERR_BAD_REQUEST, "'callback_url' %s", why);
	if (!hook_allowed(&cfg->hook_allow, s->callback_url))
		return fail(c, PERR_BAD_REQUEST, "'callback_url' matches no "
		    "[webhooks] allow pattern");
	snprintf(s->hook_queue, sizeof(s->hook_queue), "%s", t->queue);
	s->hook_timeout = t->timeout;
	s->hook_retries = t->retries;
	return PERR_OK;
}

static int
parse_job(struct request_ctx *c, json_t *obj, struct submit_spec *s)
{
	const struct config *cfg = c->cfg;
	const struct job_type *t;
	json_t *v;
	char buf[72];
	long long ll;
	double d;
	int rc, set;

	memset(s, 0, sizeof(*s));
	s->run_at_ms = -1;

	/* type first: it brings the defaults */
	if ((rc = get_string(c, obj, "type", &s->type)) != PERR_OK)
		return rc;
	if (s->type == NULL)
		return fail(c, PERR_BAD_REQUEST, "missing 'type'");
	if (strcmp(s->type, "jobd.webhook") == 0)
		return fail(c, PERR_BAD_REQUEST, "type jobd.webhook is jobd's "
		    "own (it delivers callback_url): it cannot be submitted");
	t = config_find_type(cfg, s->type);
	if (t == NULL && !cfg->accept_any_type)
		return fail(c, PERR_UNKNOWN_TYPE, "no handler for type '%s'",
		    shown(s->type, buf, sizeof(buf)));
	if (t == NULL && !valid_type_name(s->type))
		return fail(c, PERR_BAD_REQUEST, "'type' must be 1 to %d "
		    "characters of A-Z a-z 0-9 _ . : -", CONFIG_NAME_MAX);
	if (t != NULL) {
		s->limit = t->limit[0] ? config_find_limit(cfg, t->limit) : NULL;
		s->queue = t->queue;
		s->timeout = t->timeout;
		s->retries = t->retries;
	} else {
		s->queue = NULL;
		s->timeout = ANY_TYPE_TIMEOUT;
		s->retries = 0;
	}
	/* a type's queue outside the list (cannot happen after
	 * config_finish) falls back like an unconfigured type */
	if (s->queue == NULL || config_queue_index(cfg, s->queue) < 0)
		s->queue = config_queue_index(cfg, "default") >= 0 ?
		    "default" : cfg->queues[0];
	s->result_ttl = cfg->result_ttl;
	s->failure_ttl = cfg->failure_ttl;

	v = json_object_get(obj, "payload");
	if (v == NULL) {
		if (json_object_set_new(obj, "payload", json_object()) == -1)
			return fail(c, PERR_INTERNAL, "out of memory");
		v = json_object_get(obj, "payload");
	}
	if (!depth_ok(v, REQUEST_MAX_DEPTH))
		return fail(c, PERR_BAD_REQUEST, "'payload' nests deeper than "
		    "%d levels", REQUEST_MAX_DEPTH);
	s->payload = v;

	v = field(obj, "meta");
	if (v == NULL) {
		if (json_object_set_new(obj, "meta", json_object()) == -1)
			return fail(c, PERR_INTERNAL, "out of memory");
		v = json_object_get(obj, "meta");
	}
	if (!json_is_object(v))
		return fail(c, PERR_BAD_REQUEST, "'meta' must be an object");
	if (!depth_ok(v, REQUEST_MAX_DEPTH))
		return fail(c, PERR_BAD_REQUEST, "'meta' nests deeper than "
		    "%d levels", REQUEST_MAX_DEPTH);
	s->meta = v;

	if (field(obj, "queue") != NULL &&
	    (rc = get_queue(c, obj, 0, &s->queue)) != PERR_OK)
		return rc;

	if ((rc = get_number(c, obj, "timeout", 0, 1, MAX_TIMEOUT,
	    "a positive number", &d, &set)) != PERR_OK)
		return rc;
	if (set)
		s->timeout = d;

	if ((rc = get_integer(c, obj, "retries", 0, 100, &ll, &set)) != PERR_OK)
		return rc;
	if (set)
		s->retries = (int)ll;

	if ((rc = get_job_id(c, obj, "job_id", 0, &s->job_id)) != PERR_OK)
		return rc;
	/* the ids of periodic jobs' ticks are jobd's: a client's could
	 * take a tick before it comes (docs/jobd.md, "Periodic jobs") */
	if (s->job_id != NULL && strncmp(s->job_id, "cron:", 5) == 0)
		return fail(c, PERR_BAD_REQUEST, "'job_id': ids beginning "
		    "with cron: are the periodic jobs' (jobd makes them)");

	if ((rc = get_string(c, obj, "unique_key", &s->unique_key)) != PERR_OK)
		return rc;
	if (s->unique_key != NULL && (s->unique_key[0] == '\0' ||
	    strlen(s->unique_key) > REQUEST_MAX_KEY_LEN))
		return fail(c, PERR_BAD_REQUEST, "'unique_key' must be 1 to %d "
		    "bytes", REQUEST_MAX_KEY_LEN);

	if ((rc = get_string(c, obj, "limit_key", &s->limit_key)) != PERR_OK)
		return rc;
	if (s->limit_key != NULL && (strlen(s->limit_key) >
	    LIMIT_MAX_KEY_LEN || !request_valid_id(s->limit_key)))
		return fail(c, PERR_BAD_REQUEST, "'limit_key' must be 1 to %d "
		    "characters of A-Z a-z 0-9 _ . : -", LIMIT_MAX_KEY_LEN);

	if (field(obj, "delay") != NULL && field(obj, "run_at") != NULL)
		return fail(c, PERR_BAD_REQUEST,
		    "give 'delay' or 'run_at', not both");
	if ((rc = get_number(c, obj, "delay", 0, 0, MAX_DELAY,
	    "a number of seconds >= 0", &d, &set)) != PERR_OK)
		return rc;
	if (set)
		s->delay = d;
	v = field(obj, "run_at");
	if (v != NULL) {
		if (!json_is_string(v) ||
		    (s->run_at_ms = request_parse_time(json_string_value(v))) < 0)
			return fail(c, PERR_BAD_REQUEST, "'run_at' must be an "
			    "ISO-8601 time such as \"2025-01-01T12:00:00Z\"");
		/* The same bound as 'delay': a job scheduled for the year
		 * 9999 would sit in Redis forever.  A past time runs now. */
		if (s->run_at_ms > now_ms() + (long long)(MAX_DELAY * 1000))
			return fail(c, PERR_BAD_REQUEST, "'run_at' must be at "
			    "most %lld seconds (1 year) from now",
			    (long long)MAX_DELAY);
	}

	if ((rc = get_integer(c, obj, "result_ttl", 0, MAX_TTL, &ll,
	    &set)) != PERR_OK)
		return rc;
	if (set)
		s->result_ttl = ll;
	if ((rc = get_integer(c, obj, "failure_ttl", 0, MAX_TTL, &ll,
	    &set)) != PERR_OK)
		return rc;
	if (set)
		s->failure_ttl = ll;

	/* A default queue is the config's, which a reload may free while
	 * the submit is in flight: the request keeps its own copy. */
	v = json_object_get(obj, "queue");
	if (v == NULL || json_string_value(v) != s->queue) {
		if (json_object_set_new(obj, "queue", json_string(s->queue)) == -1)
			return fail(c, PERR_INTERNAL, "out of memory");
		s->queue = json_string_value(json_object_get(obj, "queue"));
	}
	if ((rc = parse_callback(c, obj, s)) != PERR_OK)
		return rc;
	return parse_workflow(c, obj, s);
}

/* The parsers of the ops, named in optable.h.  Each fills the fields of
 * struct request its op uses; c->prefix is the op's name. */

static int
parse_nothing(struct request_ctx *c, struct request *req)
{
	(void)c; (void)req;
	return PERR_OK;
}

static int
parse_submit(struct request_ctx *c, struct request *req)
{
	if ((req->jobs = calloc(1, sizeof(*req->jobs))) == NULL)
		return fail(c, PERR_INTERNAL, "out of memory");
	req->njobs = 1;
	return parse_job(c, req->root, &req->jobs[0]);
}

static int
parse_submit_many(struct request_ctx *c, struct request *req)
{
	json_t *jobs = field(req->root, "jobs"), *seen, *e;
	const char *op_prefix = c->prefix;
	char prefix[32];
	size_t i, n, ndeps = 0;
	int rc = PERR_OK;

	if (jobs == NULL)
		return fail(c, PERR_BAD_REQUEST, "missing 'jobs'");
	if (!json_is_array(jobs))
		return fail(c, PERR_BAD_REQUEST, "'jobs' must be an array");
	n = json_array_size(jobs);
	if (n == 0 || n > REQUEST_MAX_JOBS)
		return fail(c, PERR_BAD_REQUEST, "'jobs' must hold 1 to %d "
		    "jobs", REQUEST_MAX_JOBS);
	if ((req->jobs = calloc(n, sizeof(*req->jobs))) == NULL)
		return fail(c, PERR_INTERNAL, "out of memory");
	req->njobs = n;
	/* caller-chosen ids must differ within the batch (all or nothing) */
	if ((seen = json_object()) == NULL)
		return fail(c, PERR_INTERNAL, "out of memory");
	/* messages name the job; prefix is this frame's, so c must not
	 * keep it past the loop */
	c->prefix = prefix;
	json_array_foreach(jobs, i, e) {
		snprintf(prefix, sizeof(prefix), "jobs[%zu]", i);
		if (!json_is_object(e)) {
			rc = fail(c, PERR_BAD_REQUEST, "must be an object");
			break;
		}
		if ((rc = parse_job(c, e, &req->jobs[i])) != PERR_OK)
			break;
		ndeps += json_array_size(req->jobs[i].depends_on);
		if (ndeps > REQUEST_MAX_DEPS_ALL) {
			rc = fail(c, PERR_BAD_REQUEST, "the jobs' 'depends_on' "
			    "hold more than %d ids in all", REQUEST_MAX_DEPS_ALL);
			break;
		}
		if (req->jobs[i].job_id == NULL)
			continue;
		if (json_object_get(seen, req->jobs[i].job_id) != NULL) {
			rc = fail(c, PERR_BAD_REQUEST, "'job_id' repeats an "
			    "earlier job's");
			break;
		}
		if (json_object_set_new(seen, req->jobs[i].job_id,
		    json_true()) == -1) {
			rc = fail(c, PERR_INTERNAL, "out of memory");
			break;
		}
	}
	c->prefix = op_prefix;
	json_decref(seen);
	return rc;
}

/* parse_batch_open: description, and callback (a submit object: run
 * once when the batch ends; it depends on the batch, so it takes no
 * job_id, unique_key, depends_on or batch_id of its own). */
static int
parse_batch_open(struct request_ctx *c, struct request *req)
{
	static const char *const refused[] = {
		"job_id", "unique_key", "depends_on", "on_dep_failure", "batch_id"
	};
	const char *op_prefix = c->prefix;
	json_t *cb = field(req->root, "callback");
	int rc;

	if ((rc = get_string(c, req->root, "description",
	    &req->description)) != PERR_OK)
		return rc;
	if (req->description != NULL &&
	    strlen(req->description) > REQUEST_MAX_DESCRIPTION)
		return fail(c, PERR_BAD_REQUEST, "'description' must be at most "
		    "%d bytes", REQUEST_MAX_DESCRIPTION);
	if (cb == NULL)
		return PERR_OK;
	if (!json_is_object(cb))
		return fail(c, PERR_BAD_REQUEST, "'callback' must be a submit "
		    "object");
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (field(cb, refused[i]) != NULL)
			return fail(c, PERR_BAD_REQUEST, "'callback': '%s' is not "
			    "allowed (the callback depends on the batch)",
			    refused[i]);
	if ((req->jobs = calloc(1, sizeof(*req->jobs))) == NULL)
		return fail(c, PERR_INTERNAL, "out of memory");
	req->njobs = 1;
	c->prefix = "batch_open: callback";
	rc = parse_job(c, cb, &req->jobs[0]);
	c->prefix = op_prefix;
	return rc;
}

/* parse_batch_id: batch_seal batch_get. */
static int
parse_batch_id(struct request_ctx *c, struct request *req)
{
	return get_job_id(c, req->root, "batch_id", 1, &req->batch_id);
}

/* parse_job_id: get result cancel delete. */
static int
parse_job_id(struct request_ctx *c, struct request *req)
{
	return get_job_id(c, req->root, "job_id", 1, &req->job_id);
}

static int
parse_wait(struct request_ctx *c, struct request *req)
{
	double d;
	int rc, set;

	if ((rc = get_job_id(c, req->root, "job_id", 1, &req->job_id)) !=
	    PERR_OK)
		return rc;
	req->timeout = DEFAULT_WAIT;
	/* any bound above max_wait is clamped, not refused */
	if ((rc = get_number(c, req->root, "timeout", 0, 0, HUGE_VAL,
	    "a number of seconds >= 0", &d, &set)) != PERR_OK)
		return rc;
	if (set)
		req->timeout = d;
	if (req->timeout > c->cfg->max_wait)
		req->timeout = c->cfg->max_wait;
	return PERR_OK;
}

/* parse_queue: pause resume. */
static int
parse_queue(struct request_ctx *c, struct request *req)
{
	return get_queue(c, req->root, 1, &req->queue);
}

static int
parse_requeue(struct request_ctx *c, struct request *req)
{
	json_t *af = field(req->root, "all_failed");
	int rc;

	if ((rc = get_job_id(c, req->root, "job_id", 0, &req->job_id)) !=
	    PERR_OK)
		return rc;
	if (af != NULL && !json_is_boolean(af))
		return fail(c, PERR_BAD_REQUEST, "'all_failed' must be a "
		    "boolean");
	req->all_failed = json_is_true(af);
	if (req->job_id != NULL && req->all_failed)
		return fail(c, PERR_BAD_REQUEST,
		    "give 'job_id' or 'all_failed', not both");
	if (req->job_id == NULL && !req->all_failed)
		return fail(c, PERR_BAD_REQUEST,
		    "missing 'job_id' (or 'all_failed': true)");
	if (req->all_failed)
		return get_queue(c, req->root, 0, &req->queue);
	return PERR_OK;
}

static int
parse_list(struct request_ctx *c, struct request *req)
{
	char buf[72];
	long long ll;
	size_t i;
	int rc, set;

	if ((rc = get_string(c, req->root, "status", &req->status)) != PERR_OK)
		return rc;
	if (req->status != NULL) {
		for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
			if (strcmp(req->status, statuses[i]) == 0)
				break;
		if (i == sizeof(statuses) / sizeof(statuses[0]))
			return fail(c, PERR_BAD_REQUEST, "'status' must be "
			    "queued, scheduled, deferred, started, finished, "
			    "failed or canceled, not '%s'",
			    shown(req->status, buf, sizeof(buf)));
	}
	if ((rc = get_queue(c, req->root, 0, &req->queue)) != PERR_OK)
		return rc;
	if ((rc = get_string(c, req->root, "type", &req->type)) != PERR_OK)
		return rc;
	if (req->type != NULL && !valid_type_name(req->type))
		return fail(c, PERR_BAD_REQUEST, "'type' must be 1 to %d "
		    "characters of A-Z a-z 0-9 _ . : -", CONFIG_NAME_MAX);
	req->offset = 0;
	req->limit = DEFAULT_LIMIT;
	if ((rc = get_integer(c, req->root, "offset", 0, MAX_OFFSET, &ll,
	    &set)) != PERR_OK)
		return rc;
	if (set)
		req->offset = (long)ll;
	if ((rc = get_integer(c, req->root, "limit", 1, REQUEST_MAX_LIMIT, &ll,
	    &set)) != PERR_OK)
		return rc;
	if (set)
		req->limit = (long)ll;
	return PERR_OK;
}

static int
parse_progress(struct request_ctx *c, struct request *req)
{
	int rc, set;

	if ((rc = get_job_id(c, req->root, "job_id", 1, &req->job_id)) !=
	    PERR_OK)
		return rc;
	if ((rc = get_number(c, req->root, "percent", 0, 0, 100,
	    "a number from 0 to 100", &req->percent, &set)) != PERR_OK)
		return rc;
	if (!set)
		return fail(c, PERR_BAD_REQUEST, "missing 'percent'");
	if ((rc = get_string(c, req->root, "message", &req->message)) !=
	    PERR_OK)
		return rc;
	if (req->message != NULL && strlen(req->message) > REQUEST_MAX_MESSAGE)
		return fail(c, PERR_BAD_REQUEST, "'message' is longer than %d "
		    "bytes", REQUEST_MAX_MESSAGE);
	return PERR_OK;
}

/* --- the table ---------------------------------------------------------- */

/* &parse: a NULL in the parse column does not compile. */
static const struct op_def op_defs[OP__COUNT] = {
#define OPTABLE_DEF(id, name, access, parse, handle) \
	[OP_##id] = { name, access, &parse },
	OP_TABLE(OPTABLE_DEF)
#undef OPTABLE_DEF
};

const struct op_def *
op_def(enum op op)
{
	if ((int)op < 0 || op >= OP__COUNT)
		return NULL;
	return &op_defs[op];
}

int
op_lookup(const char *name, size_t len)
{
	if (name == NULL || strlen(name) != len)
		return -1;
	for (int i = 0; i < OP__COUNT; i++)
		if (strcmp(name, op_defs[i].name) == 0)
			return i;
	return -1;
}

const char *
op_name(enum op op)
{
	const struct op_def *d = op_def(op);

	return d != NULL ? d->name : "unknown";
}

enum op_access
op_access(enum op op)
{
	const struct op_def *d = op_def(op);

	return d != NULL ? d->access : ACCESS_ADMIN;
}

int
request_parse(const char *buf, size_t len, const struct config *cfg,
              struct request *req, char *err, size_t errlen)
{
	struct request_ctx c = { cfg, err, errlen, NULL };
	json_error_t jerr;
	json_t *root, *id, *op;
	char name[72];
	const char *s;
	int i;

	if (req == NULL)
		return PERR_INTERNAL;
	memset(req, 0, sizeof(*req));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (cfg == NULL)
		return fail(&c, PERR_INTERNAL, "no configuration");
	if (buf == NULL || len == 0)
		return fail(&c, PERR_BAD_JSON, "empty request");

	/* The decoded tree costs tens of bytes per value: a frame of
	 * millions of tiny values is refused before it is built. */
	req->nvalues = request_count_values(buf, len);
	if (req->nvalues > (size_t)cfg->max_json_values)
		return fail(&c, PERR_BAD_REQUEST, "the request holds about %zu "
		    "JSON values, more than max_json_values (%d)",
		    req->nvalues, cfg->max_json_values);
	root = json_loadb(buf, len, JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		/* jansson quotes the offending input ("near '...'"): control
		 * bytes and partial UTF-8 must not reach the reply or logs */
		char text[JSON_ERROR_TEXT_LENGTH];

		return fail(&c, PERR_BAD_JSON, "%s (line %d, column %d, "
		    "byte %d)", shown(jerr.text, text, sizeof(text)),
		    jerr.line, jerr.column, jerr.position);
	}
	req->root = root;
	if (!json_is_object(root))
		return fail(&c, PERR_BAD_REQUEST,
		    "a request must be a JSON object");

	id = json_object_get(root, "id");
	if (id != NULL) {
		if (json_is_object(id) || json_is_array(id))
			return fail(&c, PERR_BAD_REQUEST,
			    "'id' must be a string, number, boolean or null");
		req->id = id;
	}

	op = json_object_get(root, "op");
	if (op == NULL)
		return fail(&c, PERR_BAD_REQUEST, "missing 'op'");
	if (!json_is_string(op))
		return fail(&c, PERR_BAD_REQUEST, "'op' must be a string");
	s = json_string_value(op);
	if ((i = op_lookup(s, json_string_length(op))) < 0)
		return fail(&c, PERR_UNKNOWN_OP, "unknown op '%s'",
		    shown(s, name, sizeof(name)));
	req->op = (enum op)i;
	c.prefix = op_defs[i].name;
	return op_defs[i].parse(&c, req);
}

size_t
request_count_values(const char *buf, size_t len)
{
	size_t n = 1, i = 0;

	while (i < len) {
		switch (buf[i++]) {
		case '"':
			/* skip the string; a backslash escapes the next byte */
			while (i < len && buf[i] != '"')
				i += buf[i] == '\\' ? 2 : 1;
			i++;
			break;
		case ',': case '[': case '{':
			n++;
			break;
		default:
			break;
		}
	}
	return n;
}

void
request_clear(struct request *req)
{
	if (req == NULL)
		return;
	json_decref(req->root);
	free(req->jobs);
	memset(req, 0, sizeof(*req));
}

int
request_valid_id(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)s[n];

		if (n >= REQUEST_MAX_ID_LEN || !isascii(ch) ||
		    !(isalnum(ch) || strchr("_.:-", ch) != NULL))
			return 0;
	}
	return n > 0;
}

/* digits: exactly n decimal digits at *p, advancing it; -1 if not. */
static int
digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

/* days_from_civil: days since 1970-01-01 of a proleptic Gregorian date
 * (H. Hinnant's algorithm); no time zone or locale involved. */
static long long
days_from_civil(int y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

long long
request_parse_time(const char *s)
{
	static const int mdays[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	int y, mo, d, h, mi, sec, ms = 0, off = 0, dim;
	const char *p = s;
	long long t;

	if (s == NULL || strlen(s) > 64)
		return -1;
	if ((y = digits(&p, 4)) < 0 || *p++ != '-' ||
	    (mo = digits(&p, 2)) < 0 || *p++ != '-' ||
	    (d = digits(&p, 2)) < 0)
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if ((h = digits(&p, 2)) < 0 || *p++ != ':' ||
	    (mi = digits(&p, 2)) < 0 || *p++ != ':' ||
	    (sec = digits(&p, 2)) < 0)
		return -1;
	if (*p == '.' || *p == ',') {
		int n = 0, scale = 100;

		p++;
		while (isdigit((unsigned char)*p)) {
			if (++n > 9)
				return -1;
			ms += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
		if (n == 0)
			return -1;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;

		if ((oh = digits(&p, 2)) < 0)
			return -1;
		if (*p == ':')
			p++;
		if ((om = digits(&p, 2)) < 0 || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 60 + om);
	}
	/* no zone: UTC, as the header promises UTC times */
	if (*p != '\0')
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 60)
		return -1;
	dim = mdays[mo - 1];
	if (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		dim = 29;
	if (d < 1 || d > dim)
		return -1;
	t = days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + sec -
	    off * 60LL;
	if (t < 0)
		return -1;
	return t * 1000 + ms;
}
