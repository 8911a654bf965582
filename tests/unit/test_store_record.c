/*
 * test_store_record.c: job records (MessagePack, built byte for byte here)
 * and Redis replies to the JSON the store hands out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "proto.h"
#include "store.h"
#include "store_record.h"

/* --- hand-made replies ---------------------------------------------------- */

static redisReply *
mk(int type)
{
	redisReply *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->type = type;
	return r;
}

static redisReply *
mk_strn(int type, const char *s, size_t n)
{
	redisReply *r = mk(type);

	r->str = malloc(n + 1);
	assert_non_null(r->str);
	memcpy(r->str, s, n);
	r->str[n] = '\0';
	r->len = n;
	return r;
}

static redisReply *
mk_str(const char *s)
{
	return mk_strn(REDIS_REPLY_STRING, s, strlen(s));
}

static redisReply *
mk_err(const char *s)
{
	return mk_strn(REDIS_REPLY_ERROR, s, strlen(s));
}

static redisReply *
mk_int(long long v)
{
	redisReply *r = mk(REDIS_REPLY_INTEGER);

	r->integer = v;
	return r;
}

/* mk_arr: n elements, given as redisReply pointers. */
static redisReply *
mk_arr(size_t n, ...)
{
	redisReply *r = mk(REDIS_REPLY_ARRAY);
	va_list ap;
	size_t i;

	r->elements = n;
	r->element = calloc(n ? n : 1, sizeof(*r->element));
	assert_non_null(r->element);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		r->element[i] = va_arg(ap, redisReply *);
	va_end(ap);
	return r;
}

static void
rfree(redisReply *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->elements; i++)
		rfree(r->element[i]);
	free(r->element);
	free(r->str);
	free(r);
}

/* --- MessagePack maps of strings, byte for byte ------------------------- */

struct mp {
	char b[8192];
	size_t n;
};

static void
mp_raw(struct mp *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

/* mp_str: fixstr (< 32 bytes) or str 8 (< 256). */
static void
mp_str(struct mp *m, const char *s)
{
	size_t n = strlen(s);
	unsigned char h[2];

	assert_true(n < 256);
	if (n < 32) {
		h[0] = (unsigned char)(0xa0 | n);
		mp_raw(m, h, 1);
	} else {
		h[0] = 0xd9;
		h[1] = (unsigned char)n;
		mp_raw(m, h, 2);
	}
	mp_raw(m, s, n);
}

/* mp_map: a fixmap of the NULL-terminated key, value pairs. */
static void
mp_map(struct mp *m, const char *const *kv)
{
	unsigned char h;
	size_t n = 0;

	while (kv[2 * n] != NULL)
		n++;
	assert_true(n < 16);
	h = (unsigned char)(0x80 | n);
	m->n = 0;
	mp_raw(m, &h, 1);
	for (n = 0; kv[2 * n] != NULL; n++) {
		mp_str(m, kv[2 * n]);
		mp_str(m, kv[2 * n + 1]);
	}
}

static redisReply *
mk_record(const char *id, const char *const *kv)
{
	struct mp m;

	mp_map(&m, kv);
	return mk_arr(2, mk_str(id),
	    mk_strn(REDIS_REPLY_STRING, m.b, m.n));
}

/* assert_json: v dumps (sorted keys) exactly as want; v is released. */
static void
assert_json(json_t *v, const char *want)
{
	char *s;

	assert_non_null(v);
	s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	assert_non_null(s);
	if (strcmp(s, want) != 0)
		fail_msg("got  %s\nwant %s", s, want);
	free(s);
	json_decref(v);
}

/* --- records ------------------------------------------------------------- */

static const char *const full_kv[] = {
	"type", "echo", "queue", "default", "status", "finished",
	"created_at", "1700000000123", "enqueued_at", "1700000000123",
	"started_at", "1700000001000", "ended_at", "1700000002999",
	"timeout_ms", "1500", "attempts", "2", "max_retries", "3",
	"progress", "{\"percent\":50}", "owner", "h:1",
	"payload", "{\"a\":[1,2]}", "result", "not json",
	NULL
};

static void
test_record_full(void **state)
{
	redisReply *r = mk_record("01ABC", full_kv);
	struct record rec;

	(void)state;
	assert_int_equal(record_decode(r, &rec), 0);
	assert_json(record_json(&rec, 1),
	    "{\"attempts\":2,\"created_at\":\"2023-11-14T22:13:20.123Z\","
	    "\"ended_at\":\"2023-11-14T22:13:22.999Z\","
	    "\"enqueued_at\":\"2023-11-14T22:13:20.123Z\",\"error\":null,"
	    "\"errors\":[],\"job_id\":\"01ABC\",\"lost\":0,\"max_retries\":3,"
	    "\"meta\":{},\"payload\":{\"a\":[1,2]},"
	    "\"progress\":{\"percent\":50},\"queue\":\"default\","
	    "\"result\":\"not json\","
	    "\"started_at\":\"2023-11-14T22:13:21.000Z\","
	    "\"status\":\"finished\",\"timeout\":1.5,\"type\":\"echo\","
	    "\"worker\":\"h:1\"}");
	/* A list's records leave the payload and result out. */
	assert_json(record_json(&rec, 0),
	    "{\"attempts\":2,\"created_at\":\"2023-11-14T22:13:20.123Z\","
	    "\"ended_at\":\"2023-11-14T22:13:22.999Z\","
	    "\"enqueued_at\":\"2023-11-14T22:13:20.123Z\",\"error\":null,"
	    "\"errors\":[],\"job_id\":\"01ABC\",\"lost\":0,\"max_retries\":3,"
	    "\"meta\":{},\"progress\":{\"percent\":50},\"queue\":\"default\","
	    "\"started_at\":\"2023-11-14T22:13:21.000Z\","
	    "\"status\":\"finished\",\"timeout\":1.5,\"type\":\"echo\","
	    "\"worker\":\"h:1\"}");
	record_done(&rec);
	rfree(r);
}

/* Scheduled, failed before, canceled: the optional fields appear. */
static void
test_record_optional(void **state)
{
	static const char *const kv[] = {
		"type", "t", "status", "scheduled", "run_at", "1000",
		"timeout_ms", "30000", "meta", "{\"k\":\"v\"}",
		"error", "boom", "unique_key", "u1", "lost", "1",
		"cancel", "1",
		"errors", "[{\"attempt\":1,\"error\":\"boom\",\"at\":1500}]",
		NULL
	};
	redisReply *r = mk_record("01X", kv);
	json_t *o = record_from(r, 1);

	(void)state;
	assert_non_null(o);
	assert_json(json_incref(json_object_get(o, "run_at")),
	    "\"1970-01-01T00:00:01.000Z\"");
	assert_json(json_incref(json_object_get(o, "timeout")), "30");
	assert_json(json_incref(json_object_get(o, "meta")), "{\"k\":\"v\"}");
	assert_json(json_incref(json_object_get(o, "errors")),
	    "[{\"at\":\"1970-01-01T00:00:01.500Z\",\"attempt\":1,"
	    "\"error\":\"boom\"}]");
	assert_json(json_incref(json_object_get(o, "unique_key")), "\"u1\"");
	assert_json(json_incref(json_object_get(o, "lost")), "1");
	assert_true(json_is_true(json_object_get(o, "cancel_requested")));
	assert_true(json_is_null(json_object_get(o, "created_at")));
	assert_true(json_is_null(json_object_get(o, "payload")));
	json_decref(o);
	rfree(r);
}

/* What is not a record is refused, never read past its end. */
static void
test_record_refused(void **state)
{
	static const char *const kv[] = { "type", "t", NULL };
	struct record rec;
	redisReply *r;
	struct mp m;
	size_t cut;

	(void)state;
	r = mk_str("x");
	assert_int_equal(record_decode(r, &rec), -1);
	record_done(&rec);
	rfree(r);
	r = mk_arr(3, mk_str("a"), mk_str("b"), mk_str("c"));
	assert_int_equal(record_decode(r, &rec), -1);
	record_done(&rec);
	rfree(r);
	r = mk_arr(2, mk_str("id"), mk_int(3));
	assert_int_equal(record_decode(r, &rec), -1);
	record_done(&rec);
	rfree(r);
	assert_int_equal(record_decode(NULL, &rec), -1);
	record_done(&rec);
	/* MessagePack that is not a map: an array of one string. */
	r = mk_arr(2, mk_str("id"), mk_strn(REDIS_REPLY_STRING, "\x91\xa1x", 3));
	assert_int_equal(record_decode(r, &rec), -1);
	record_done(&rec);
	rfree(r);
	/* Every truncation of a valid map. */
	mp_map(&m, full_kv);
	for (cut = 0; cut < m.n; cut++) {
		r = mk_arr(2, mk_str("id"), mk_strn(REDIS_REPLY_STRING, m.b, cut));
		assert_int_equal(record_decode(r, &rec), -1);
		record_done(&rec);
		rfree(r);
	}
	assert_null(record_from(NULL, 1));
	/* Non-string keys or values are skipped, the rest is read. */
	r = mk_arr(2, mk_str("id"), mk_strn(REDIS_REPLY_STRING,
	    "\x83\x01\xa1x" "\xa4" "type\x05" "\xa5queue\xa1q", 18));
	assert_int_equal(record_decode(r, &rec), 0);
	assert_null(rec.f[F_TYPE].v);
	assert_int_equal(rec.f[F_QUEUE].len, 1);
	assert_memory_equal(rec.f[F_QUEUE].v, "q", 1);
	record_done(&rec);
	rfree(r);
	r = mk_record("id", kv);
	assert_int_equal(record_decode(r, &rec), 0);
	record_done(&rec);
	rfree(r);
}

static void
test_record_job(void **state)
{
	static const char *const kv[] = {
		"type", "echo", "queue", "q", "token", "tk", "attempts", "1",
		"max_retries", "4", "timeout_ms", "2500", "payload", "[1]",
		NULL
	};
	static const char *const notoken[] = { "type", "echo", NULL };
	redisReply *r = mk_record("01J", kv);
	struct store_job *j = record_job(r);

	(void)state;
	assert_non_null(j);
	assert_string_equal(j->id, "01J");
	assert_string_equal(j->token, "tk");
	assert_string_equal(j->type, "echo");
	assert_string_equal(j->queue, "q");
	assert_int_equal(j->attempt, 1);
	assert_int_equal(j->max_retries, 4);
	assert_true(j->timeout > 2.49 && j->timeout < 2.51);
	assert_json(json_incref(json_object_get(j->record, "payload")), "[1]");
	store_job_free(j);
	rfree(r);
	/* A missing field reads as "" (the call that uses it fails). */
	r = mk_record("01K", notoken);
	j = record_job(r);
	assert_non_null(j);
	assert_string_equal(j->token, "");
	store_job_free(j);
	rfree(r);
	r = mk_int(5);
	assert_null(record_job(r));
	rfree(r);
}

/* --- errors -------------------------------------------------------------- */

struct err_case {
	const char *reply;
	int err;
	const char *msg;
	const char *holder;     /* the CONFLICT reply's job_id, or NULL */
};

static void
test_rep_error(void **state)
{
	static const struct err_case cases[] = {
		{ "NOT_FOUND 01A no such job", PERR_NOT_FOUND,
		  "job 01A: no such job", NULL },
		{ "CONFLICT 01H already queued", PERR_CONFLICT,
		  "job 01H: already queued", "01H" },
		{ "CONFLICT - not now", PERR_CONFLICT, "not now", NULL },
		{ "LOST 01L lease lost", PERR_CONFLICT, "job 01L: lease lost",
		  "01L" },
		{ "BAD_REQUEST - bad status", PERR_BAD_REQUEST, "bad status",
		  NULL },
		{ "NOT_FOUND", PERR_NOT_FOUND, "redis: NOT_FOUND", NULL },
		{ "LOADING Redis is loading", PERR_UNAVAILABLE,
		  "redis: LOADING Redis is loading", NULL },
		{ "READONLY You can't write", PERR_UNAVAILABLE,
		  "redis: READONLY You can't write", NULL },
		{ "OOM command not allowed", PERR_BUSY,
		  "redis is out of memory (maxmemory): nothing new can be "
		  "stored until memory is freed; reads, cancel and delete still "
		  "work", NULL },
		{ "ERR unknown", PERR_INTERNAL, "redis: ERR unknown", NULL },
		{ "NOT_FOUNDX 1 2", PERR_INTERNAL, "redis: NOT_FOUNDX 1 2", NULL },
	};
	char msg[512], big[1000];
	json_t *reply;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply *r = mk_err(cases[i].reply);

		assert_int_equal(rep_error(r, msg, sizeof(msg), &reply),
		    cases[i].err);
		assert_string_equal(msg, cases[i].msg);
		if (cases[i].holder) {
			assert_string_equal(json_string_value(json_object_get(reply,
			    "job_id")), cases[i].holder);
			json_decref(reply);
		} else {
			assert_null(reply);
		}
		rfree(r);
	}
	/* An unknown error is cut to 300 bytes in the message. */
	memset(big, 'e', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		redisReply *r = mk_err(big);

		assert_int_equal(rep_error(r, msg, sizeof(msg), &reply),
		    PERR_INTERNAL);
		assert_int_equal(strlen(msg), strlen("redis: ") + 300);
		rfree(r);
	}
}

static void
test_function_missing(void **state)
{
	redisReply *a = mk_err("ERR Function not found");
	redisReply *b = mk_err("NOSCRIPT No matching script");
	redisReply *c = mk_err("ERR other");
	redisReply *d = mk_str("Function not found");

	(void)state;
	assert_true(rep_function_missing(a));
	assert_true(rep_function_missing(b));
	assert_false(rep_function_missing(c));
	assert_false(rep_function_missing(d));
	assert_false(rep_function_missing(NULL));
	rfree(a);
	rfree(b);
	rfree(c);
	rfree(d);
}

/* --- replies of each call -------------------------------------------------- */

static void
test_convert(void **state)
{
	static const char *const kv[] = { "type", "t", "status", "queued",
	                                  NULL };
	redisReply *r;
	json_t *o;

	(void)state;
	r = mk_arr(2, mk_arr(4, mk_str("a"), mk_str("queued"), mk_str("b"),
	    mk_str("scheduled")), mk_err("CONFLICT 01H unique key taken"));
	assert_json(rep_convert(REP_SUBMIT, r),
	    "[{\"job_ids\":[\"a\",\"b\"],\"statuses\":[\"queued\",\"scheduled\"]},"
	    "{\"err\":6,\"msg\":\"job 01H: unique key taken\","
	    "\"reply\":{\"job_id\":\"01H\"}}]");
	rfree(r);

	r = mk_arr(2, mk_str("canceled"), mk_str("queued"));
	assert_json(rep_convert(REP_CANCEL, r),
	    "{\"previous\":\"queued\",\"status\":\"canceled\"}");
	rfree(r);
	/* with the job's labels (for the metrics) */
	r = mk_arr(5, mk_str("canceled"), mk_str("queued"), mk_str(""),
	    mk_str("low"), mk_str("mail"));
	assert_json(rep_convert(REP_CANCEL, r),
	    "{\"previous\":\"queued\",\"queue\":\"low\",\"status\":"
	    "\"canceled\",\"type\":\"mail\"}");
	rfree(r);
	r = mk_arr(3, mk_arr(1, mk_str("l")), mk_arr(0),
	    mk_arr(2, mk_str("low"), mk_str("mail")));
	assert_json(rep_convert(REP_REAP, r),
	    "{\"failed\":[],\"labels\":[\"low\",\"mail\"],"
	    "\"requeued\":[\"l\"]}");
	rfree(r);

	/* release: the dead worker's jobs and their labels */
	r = mk_arr(2, mk_arr(1, mk_str("d")),
	    mk_arr(2, mk_str("low"), mk_str("mail")));
	assert_json(rep_convert(REP_RELEASE, r),
	    "{\"job_ids\":[\"d\"],\"labels\":[\"low\",\"mail\"]}");
	rfree(r);

	r = mk_arr(2, mk_str("x"), mk_str("y"));
	assert_json(rep_convert(REP_REQUEUE, r), "{\"job_ids\":[\"x\",\"y\"]}");
	assert_json(rep_convert(REP_HEARTBEAT, r),
	    "{\"cancel\":[],\"lost\":[]}");
	rfree(r);
	r = mk_arr(2, mk_arr(1, mk_str("l")), mk_arr(1, mk_str("c")));
	assert_json(rep_convert(REP_HEARTBEAT, r),
	    "{\"cancel\":[\"c\"],\"lost\":[\"l\"]}");
	assert_json(rep_convert(REP_REAP, r),
	    "{\"failed\":[\"c\"],\"requeued\":[\"l\"]}");
	rfree(r);

	/* A list skips a record it cannot read. */
	r = mk_arr(3, mk_int(7), mk_record("01R", kv), mk_str("junk"));
	assert_json(rep_convert(REP_LIST, r),
	    "{\"jobs\":[{\"attempts\":0,\"created_at\":null,\"ended_at\":null,"
	    "\"enqueued_at\":null,\"error\":null,\"errors\":[],"
	    "\"job_id\":\"01R\",\"lost\":0,\"max_retries\":0,\"meta\":{},"
	    "\"progress\":null,\"queue\":null,\"started_at\":null,"
	    "\"status\":\"queued\",\"timeout\":0,\"type\":\"t\","
	    "\"worker\":null}],\"total\":7}");
	rfree(r);

	r = mk_arr(2,
	    mk_arr(2,
	        mk_arr(10, mk_str("default"), mk_int(1), mk_int(2), mk_int(3),
	            mk_int(4), mk_int(5), mk_int(6), mk_int(1), mk_int(2500),
	            mk_int(7)),
	        mk_arr(8, mk_str("low"), mk_str("10"), mk_int(0), mk_int(0),
	            mk_int(0), mk_int(0), mk_int(0), mk_int(0))),
	    mk_arr(2, mk_str("[{\"pid\":1}]"), mk_str("not json")));
	assert_json(rep_convert(REP_STATS, r),
	    "{\"queues\":{\"default\":{\"canceled\":6,\"deferred\":7,"
	    "\"failed\":5,"
	    "\"finished\":4,\"oldest_queued_age\":2.5,\"paused\":true,"
	    "\"queued\":1,\"scheduled\":2,"
	    "\"started\":3},\"low\":{\"canceled\":0,\"deferred\":0,"
	    "\"failed\":0,"
	    "\"finished\":0,\"oldest_queued_age\":0.0,\"paused\":false,"
	    "\"queued\":10,\"scheduled\":0,"
	    "\"started\":0}},\"totals\":{\"canceled\":6,\"deferred\":7,"
	    "\"failed\":5,"
	    "\"finished\":4,\"queued\":11,\"scheduled\":2,\"started\":3},"
	    "\"workers\":[{\"pid\":1}]}");
	rfree(r);

	/* Workflow fields: depends_on (with its default policy), the parents
	 * a deferred job still waits for, its batch; batch replies. */
	{
		static const char *const wf[] = { "deps", "a b", "deps_left",
		    "b", "batch", "b_1", "status", "deferred", NULL };

		r = mk_record("c", wf);
		o = rep_convert(REP_GET, r);
		assert_non_null(o);
		assert_json(json_pack("[O,O,O,O]", json_object_get(o,
		    "depends_on"), json_object_get(o, "waiting_for"),
		    json_object_get(o, "on_dep_failure"),
		    json_object_get(o, "batch_id")),
		    "[[\"a\",\"b\"],[\"b\"],\"cancel\",\"b_1\"]");
		json_decref(o);
		rfree(r);
		r = mk_arr(2, mk_str("b_1"), mk_str(""));
		assert_json(rep_convert(REP_BATCH, r),
		    "{\"batch_id\":\"b_1\",\"callback_job_id\":null}");
		rfree(r);
		r = mk_str("{\"status\":\"open\",\"created_at\":1000,"
		    "\"ended_at\":0,\"sealed_at\":0}");
		assert_json(rep_convert(REP_BATCH_GET, r),
		    "{\"callback_job_id\":null,"
		    "\"created_at\":\"1970-01-01T00:00:01.000Z\","
		    "\"ended_at\":null,\"sealed_at\":null,"
		    "\"status\":\"open\"}");
		rfree(r);
	}

	/* Mixed fleets: each live daemon's served types (" a b ", "*" first:
	 * any type) and how it reaches Redis, and the held jobs of types none
	 * serves; an entry that is not a string is skipped, an odd tail
	 * ignored. */
	r = mk_arr(4, mk_arr(0), mk_arr(0),
	    mk_arr(11, mk_str("h1:10"), mk_str(" a b "),
	        mk_str("{\"mode\":\"sentinel\",\"node\":\"10.0.0.5:6379\","
	            "\"failovers\":2}"),
	        mk_str("h2:20"), mk_str("* c "), mk_str(""),
	        mk_int(3), mk_str(" x "), mk_str(""),
	        mk_str("h3:30"), mk_str(" y ")),
	    mk_arr(5, mk_str("z"), mk_int(12), mk_int(5), mk_int(1),
	        mk_str("odd")));
	assert_json(rep_convert(REP_STATS, r),
	    "{\"daemons\":[{\"any_type\":false,\"daemon\":\"h1:10\","
	    "\"redis_failovers\":2,\"redis_mode\":\"sentinel\","
	    "\"redis_node\":\"10.0.0.5:6379\","
	    "\"types\":[\"a\",\"b\"]},{\"any_type\":true,\"daemon\":"
	    "\"h2:20\",\"types\":[\"c\"]}],\"limited\":{},\"queues\":{},"
	    "\"totals\":"
	    "{\"canceled\":0,\"deferred\":0,\"failed\":0,\"finished\":0,\"queued\":0,"
	    "\"scheduled\":0,\"started\":0},\"unserved\":{\"z\":12},"
	    "\"workers\":[]}");
	rfree(r);

	r = mk_arr(1, mk_str("failed"));
	assert_json(rep_convert(REP_FAIL, r), "{\"status\":\"failed\"}");
	assert_json(rep_convert(REP_EMPTY, r), "{}");
	rfree(r);

	r = mk_record("01G", kv);
	o = rep_convert(REP_GET, r);
	assert_true(json_is_null(json_object_get(o, "payload")));
	json_decref(o);
	rfree(r);
}

/* stats_daemons: stats' "daemons" of one daemon h:1 serving a whose
 * redis: key holds ri (a new reference; r released). */
static json_t *
stats_daemons(const char *ri)
{
	redisReply *r = mk_arr(4, mk_arr(0), mk_arr(0),
	    mk_arr(3, mk_str("h:1"), mk_str(" a "), mk_str(ri)), mk_arr(0));
	json_t *o = rep_convert(REP_STATS, r), *d;

	assert_non_null(o);
	d = json_incref(json_object_get(o, "daemons"));
	json_decref(o);
	rfree(r);
	return d;
}

/* What a daemon's redis: key holds is anyone's to write: garbage, a
 * wrong shape or type is left out, controls are cleaned, and the daemon
 * is listed all the same. */
static void
test_stats_redis_hostile(void **state)
{
	static const char *const bad[] = {
		"", "not json", "[1,2]", "\"direct\"", "{\"mode\":7}",
		"{\"node\":\"x\"}", "{\"mode\":", "\xff\xfe",
		"{\"mode\":\"direct\"}{", "{\"mode\":null,\"node\":\"n\"}",
		"{\"mode\":\"\xff\"}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_json(stats_daemons(bad[i]), "[{\"any_type\":false,"
		    "\"daemon\":\"h:1\",\"types\":[\"a\"]}]");
	/* Fields of the wrong type are dropped one by one; controls and a
	 * bidirectional override become '?'. */
	assert_json(stats_daemons("{\"mode\":\"di\\u001b[2Jrect\","
	    "\"node\":[1],\"failovers\":-1}"), "[{\"any_type\":false,"
	    "\"daemon\":\"h:1\",\"redis_mode\":\"di?[2Jrect\","
	    "\"types\":[\"a\"]}]");
	assert_json(stats_daemons("{\"mode\":\"direct\",\"node\":"
	    "\"/s\\u202e.sock\",\"failovers\":1.5}"), "[{\"any_type\":false,"
	    "\"daemon\":\"h:1\",\"redis_mode\":\"direct\",\"redis_node\":"
	    "\"/s?.sock\",\"types\":[\"a\"]}]");
}

/* A reply of the wrong shape is NULL (PERR_INTERNAL), never a crash. */
static void
test_convert_wrong_shape(void **state)
{
	redisReply *i = mk_int(1), *e = mk_arr(0);
	int k;

	(void)state;
	for (k = 0; k < REP__COUNT; k++) {
		if (k == REP_EMPTY || k == REP_REQUEUE)
			continue;       /* anything will do */
		assert_null(rep_convert((enum rep_kind)k, i));
		if (k != REP_SUBMIT)
			assert_null(rep_convert((enum rep_kind)k, e));
	}
	assert_null(rep_convert(REP__COUNT, i));
	assert_null(rep_convert(REP_GET, NULL));
	rfree(i);
	rfree(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_full),
		cmocka_unit_test(test_record_optional),
		cmocka_unit_test(test_record_refused),
		cmocka_unit_test(test_record_job),
		cmocka_unit_test(test_rep_error),
		cmocka_unit_test(test_function_missing),
		cmocka_unit_test(test_convert),
		cmocka_unit_test(test_stats_redis_hostile),
		cmocka_unit_test(test_convert_wrong_shape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
