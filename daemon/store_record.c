/*
 * store_record.c: job records and replies from Redis to JSON.  No I/O:
 * the faces (store.c, store_sync.c) hand the replies they read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <msgpack.h>

#include "log.h"
#include "proto.h"
#include "store.h"
#include "store_record.h"
#include "text.h"


int
rep_is(const redisReply *r, const char *s)
{
	return r && (r->type == REDIS_REPLY_STRING ||
	             r->type == REDIS_REPLY_STATUS) &&
	       r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

long long
rep_ll(const redisReply *r)
{
	if (r == NULL)
		return 0;
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING)
		return strtoll(r->str, NULL, 10);
	return 0;
}

json_t *
rep_str(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_STRING)
		return json_null();
	return json_stringn(r->str, r->len);
}

/* iso_time: Unix ms as "2025-01-01T12:00:00.123Z". */
static json_t *
iso_time(long long ms)
{
	char b[40];
	struct tm tm;
	time_t t;

	if (ms <= 0)
		return json_null();
	t = (time_t)(ms / 1000);
	if (gmtime_r(&t, &tm) == NULL)
		return json_null();
	snprintf(b, sizeof(b), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_string(b);
}

/* json_text: JSON text stored by jobd; raw text as a string if it is not
 * JSON (never fails a read). */
static json_t *
json_text(const char *s, size_t n)
{
	json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	return v ? v : json_stringn(s, n);
}

static json_t *
seconds_value(long long ms)
{
	if (ms % 1000 == 0)
		return json_integer(ms / 1000);
	return json_real((double)ms / 1000.0);
}

/* errors_history: the "errors" field with its "at" times as ISO-8601. */
static json_t *
errors_history(const char *s, size_t n)
{
	json_t *a = json_loadb(s, n, 0, NULL);
	json_t *e;
	size_t i;

	if (!json_is_array(a)) {
		json_decref(a);
		return json_array();
	}
	json_array_foreach(a, i, e) {
		json_t *at = json_object_get(e, "at");

		if (json_is_integer(at))
			json_object_set_new(e, "at", iso_time(json_integer_value(at)));
	}
	return a;
}

/* The record's field names, in the order of the F_ indexes. */
#define FIELD(s) { s, sizeof(s) - 1 }
static const struct { const char *name; size_t len; } field_names[F__COUNT] = {
	FIELD("type"), FIELD("queue"), FIELD("status"), FIELD("created_at"),
	FIELD("enqueued_at"), FIELD("started_at"), FIELD("ended_at"),
	FIELD("run_at"), FIELD("timeout_ms"), FIELD("attempts"),
	FIELD("max_retries"), FIELD("progress"), FIELD("owner"), FIELD("meta"),
	FIELD("payload"), FIELD("result"), FIELD("error"), FIELD("errors"),
	FIELD("unique_key"), FIELD("lost"), FIELD("cancel"), FIELD("token"),
	FIELD("callback_url"),
	FIELD("deps"), FIELD("deps_left"), FIELD("on_dep"), FIELD("batch"),
	FIELD("limit"), FIELD("limit_key"),
};
#undef FIELD

int
record_decode(const redisReply *r, struct record *rec)
{
	const msgpack_object_kv *kv;
	size_t off = 0, i;
	int k;

	memset(rec, 0, sizeof(*rec));
	msgpack_unpacked_init(&rec->u);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING)
		return -1;
	rec->id.v = r->element[0]->str;
	rec->id.len = r->element[0]->len;
	if (msgpack_unpack_next(&rec->u, r->element[1]->str, r->element[1]->len,
	    &off) != MSGPACK_UNPACK_SUCCESS ||
	    rec->u.data.type != MSGPACK_OBJECT_MAP)
		return -1;
	kv = rec->u.data.via.map.ptr;
	for (i = 0; i < rec->u.data.via.map.size; i++) {
		const msgpack_object_str *key = &kv[i].key.via.str;

		if (kv[i].key.type != MSGPACK_OBJECT_STR ||
		    kv[i].val.type != MSGPACK_OBJECT_STR)
			continue;       /* jobd writes strings only */
		for (k = 0; k < F__COUNT; k++)
			if (field_names[k].len == key->size &&
			    memcmp(field_names[k].name, key->ptr, key->size) == 0) {
				rec->f[k].v = kv[i].val.via.str.ptr;
				rec->f[k].len = kv[i].val.via.str.size;
				break;
			}
	}
	return 0;
}

void
record_done(struct record *rec)
{
	msgpack_unpacked_destroy(&rec->u);
}

static json_t *
field_str(const struct field *f)
{
	return f->v ? json_stringn(f->v, f->len) : json_null();
}

static long long
field_ll(const struct field *f)
{
	char b[32];

	if (f->v == NULL || f->len >= sizeof(b))
		return 0;
	memcpy(b, f->v, f->len);
	b[f->len] = '\0';
	return strtoll(b, NULL, 10);
}

/* field_json: a field holding JSON text; dflt (a new reference) when
 * absent. */
static json_t *
field_json(const struct field *f, json_t *dflt)
{
	if (f->v == NULL)
		return dflt;
	json_decref(dflt);
	return json_text(f->v, f->len);
}

/* words_array: a space-separated field as an array of strings. */
static json_t *
words_array(const struct field *f)
{
	json_t *a = json_array();
	size_t i = 0, k;

	while (a != NULL && f->v != NULL && i < f->len) {
		for (k = i; k < f->len && f->v[k] != ' '; k++)
			;
		if (k > i)
			json_array_append_new(a, json_stringn(f->v + i, k - i));
		i = k + 1;
	}
	return a;
}

/* record_workflow: depends_on, on_dep_failure, waiting_for (deferred
 * jobs) and batch_id, for the jobs that have them. */
static void
record_workflow(const struct record *rec, json_t *o)
{
	const struct field *f = rec->f;

	if (f[F_DEPS].v != NULL) {
		json_object_set_new(o, "depends_on", words_array(&f[F_DEPS]));
		json_object_set_new(o, "on_dep_failure", f[F_ON_DEP].v ?
		    field_str(&f[F_ON_DEP]) : json_string("cancel"));
	}
	if (f[F_DEPS_LEFT].v != NULL)
		json_object_set_new(o, "waiting_for",
		    words_array(&f[F_DEPS_LEFT]));
	if (f[F_BATCH].v != NULL)
		json_object_set_new(o, "batch_id", field_str(&f[F_BATCH]));
}

/*
 * record_json: the record of rec (docs/protocol.md).  full: payload and
 * result included (null if absent).  Extra fields: run_at (scheduled
 * jobs), errors (last 5 errors: {attempt, error, at}), unique_key, lost
 * (lease losses), cancel_requested.
 */
json_t *
record_json(const struct record *rec, int full)
{
	const struct field *f = rec->f;
	json_t *o;

	if ((o = json_object()) == NULL)
		return NULL;
	json_object_set_new(o, "job_id", field_str(&rec->id));
	json_object_set_new(o, "type", field_str(&f[F_TYPE]));
	json_object_set_new(o, "queue", field_str(&f[F_QUEUE]));
	json_object_set_new(o, "status", field_str(&f[F_STATUS]));
	json_object_set_new(o, "created_at", iso_time(field_ll(&f[F_CREATED])));
	json_object_set_new(o, "enqueued_at",
	                    iso_time(field_ll(&f[F_ENQUEUED])));
	json_object_set_new(o, "started_at", iso_time(field_ll(&f[F_STARTED])));
	json_object_set_new(o, "ended_at", iso_time(field_ll(&f[F_ENDED])));
	if (f[F_RUN_AT].v)
		json_object_set_new(o, "run_at",
		                    iso_time(field_ll(&f[F_RUN_AT])));
	json_object_set_new(o, "timeout",
	                    seconds_value(field_ll(&f[F_TIMEOUT])));
	json_object_set_new(o, "attempts",
	                    json_integer(field_ll(&f[F_ATTEMPTS])));
	json_object_set_new(o, "max_retries",
	                    json_integer(field_ll(&f[F_MAXR])));
	json_object_set_new(o, "progress",
	                    field_json(&f[F_PROGRESS], json_null()));
	json_object_set_new(o, "worker", field_str(&f[F_OWNER]));
	json_object_set_new(o, "meta", field_json(&f[F_META], json_object()));
	if (full) {
		json_object_set_new(o, "payload",
		                    field_json(&f[F_PAYLOAD], json_null()));
		json_object_set_new(o, "result",
		                    field_json(&f[F_RESULT], json_null()));
	}
	json_object_set_new(o, "error", field_str(&f[F_ERROR]));
	json_object_set_new(o, "errors", f[F_ERRORS].v ?
	    errors_history(f[F_ERRORS].v, f[F_ERRORS].len) : json_array());
	if (f[F_UNIQUE].v)
		json_object_set_new(o, "unique_key", field_str(&f[F_UNIQUE]));
	if (f[F_LIMIT].v)
		json_object_set_new(o, "limit", field_str(&f[F_LIMIT]));
	if (f[F_LIMIT_KEY].v)
		json_object_set_new(o, "limit_key", field_str(&f[F_LIMIT_KEY]));
	json_object_set_new(o, "lost", json_integer(field_ll(&f[F_LOST])));
	if (f[F_CALLBACK].v)
		json_object_set_new(o, "callback_url", field_str(&f[F_CALLBACK]));
	if (field_ll(&f[F_CANCEL]) == 1)
		json_object_set_new(o, "cancel_requested", json_true());
	record_workflow(rec, o);
	return o;
}

/* record_from: the record JSON of a {id, record} reply; NULL if it is not
 * one (logged: a record jobd cannot read is reported, not fatal). */
json_t *
record_from(const redisReply *r, int full)
{
	struct record rec;
	json_t *o = NULL;

	if (record_decode(r, &rec) == 0)
		o = record_json(&rec, full);
	else
		log_warnx("redis: a job record jobd cannot read (%.*s)",
		    rec.id.v ? (int)(rec.id.len > 100 ? 100 : rec.id.len) : 1,
		    rec.id.v ? rec.id.v : "?");
	record_done(&rec);
	return o;
}

static json_t *
rep_str_array(const redisReply *r)
{
	json_t *a = json_array();
	size_t i;

	if (a && r && r->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < r->elements; i++)
			json_array_append_new(a, rep_str(r->element[i]));
	return a;
}

/*
 * rep_error: a Redis error reply to a PERR_* code, message in msg, and for
 * CONFLICT {"job_id": holder} in *reply.  The library's errors read
 * "CODE <job_id|-> <message>".
 */
int
rep_error(const redisReply *r, char *msg, size_t msglen, json_t **reply)
{
	/* The library's codes (first 4), then Redis's own; what: the
	 * message to give instead of Redis's text, if any. */
	static const struct {
		const char *code;
		int err;
		const char *what;
	} codes[] = {
		{ "NOT_FOUND", PERR_NOT_FOUND, NULL },
		{ "CONFLICT", PERR_CONFLICT, NULL },
		{ "LOST", PERR_CONFLICT, NULL },
		{ "BAD_REQUEST", PERR_BAD_REQUEST, NULL },
		{ "LOADING", PERR_UNAVAILABLE, NULL },
		{ "MASTERDOWN", PERR_UNAVAILABLE, NULL },
		{ "READONLY", PERR_UNAVAILABLE, NULL },
		{ "BUSY", PERR_UNAVAILABLE, NULL },
		{ "OOM", PERR_BUSY, "redis is out of memory (maxmemory): nothing "
		  "new can be stored until memory is freed; reads, cancel and "
		  "delete still work" },
	};
	const char *s = r->str, *sp, *id, *rest;
	size_t n, i, idlen;

	*reply = NULL;
	sp = memchr(s, ' ', r->len);
	n = sp ? (size_t)(sp - s) : r->len;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		if (strlen(codes[i].code) != n || memcmp(s, codes[i].code, n) != 0)
			continue;
		if (codes[i].what != NULL) {
			snprintf(msg, msglen, "%s", codes[i].what);
			return codes[i].err;
		}
		if (i >= 4 || sp == NULL) {
			snprintf(msg, msglen, "redis: %.*s", (int)r->len, s);
			return codes[i].err;
		}
		id = sp + 1;
		rest = memchr(id, ' ', r->len - (size_t)(id - s));
		idlen = rest ? (size_t)(rest - id) : r->len - (size_t)(id - s);
		rest = rest ? rest + 1 : "";
		if (codes[i].err == PERR_CONFLICT &&
		    !(idlen == 1 && id[0] == '-')) {
			*reply = json_object();
			json_object_set_new(*reply, "job_id", json_stringn(id, idlen));
		}
		if (idlen == 1 && id[0] == '-')
			snprintf(msg, msglen, "%s", rest);
		else
			snprintf(msg, msglen, "job %.*s: %s", (int)idlen, id, rest);
		return codes[i].err;
	}
	snprintf(msg, msglen, "redis: %.*s", (int)(r->len > 300 ? 300 : r->len),
	         s);
	return PERR_INTERNAL;
}

int
rep_function_missing(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_ERROR &&
	       (strstr(r->str, "Function not found") != NULL ||
	        strncmp(r->str, "NOSCRIPT", 8) == 0);
}

void
store_job_free(struct store_job *job)
{
	if (job == NULL)
		return;
	free(job->id);
	free(job->token);
	free(job->type);
	free(job->queue);
	json_decref(job->record);
	free(job);
}

static char *
field_dup(const struct field *f)
{
	return f->v ? strndup(f->v, f->len) : strdup("");
}

/* record_job: a store_job from a take's {id, record}; NULL if out of memory
 * or not a record. */
struct store_job *
record_job(const redisReply *r)
{
	struct store_job *j = calloc(1, sizeof(*j));
	struct record rd;
	json_t *rec = NULL;

	if (j == NULL)
		return NULL;
	if (record_decode(r, &rd) == 0) {
		j->record = rec = record_json(&rd, 1);
		j->id = field_dup(&rd.id);
		j->token = field_dup(&rd.f[F_TOKEN]);
		j->type = field_dup(&rd.f[F_TYPE]);
		j->queue = field_dup(&rd.f[F_QUEUE]);
	}
	record_done(&rd);
	if (!rec || !j->id || !j->token || !j->type || !j->queue) {
		store_job_free(j);
		return NULL;
	}
	j->attempt = (int)json_integer_value(json_object_get(rec, "attempts"));
	j->max_retries = (int)json_integer_value(json_object_get(rec,
	                                                     "max_retries"));
	j->timeout = json_number_value(json_object_get(rec, "timeout"));
	return j;
}


/* group_result: one group's entry of a submit reply: {"job_ids": [...],
 * "statuses": [...]}, or {"err": PERR_*, "msg": text, "reply": holder}. */
static json_t *
group_result(const redisReply *g)
{
	char msg[512];
	json_t *ids, *sts, *holder = NULL;
	int err = PERR_INTERNAL;
	size_t i;

	if (g->type == REDIS_REPLY_ARRAY) {
		ids = json_array();
		sts = json_array();
		for (i = 0; i + 1 < g->elements; i += 2) {
			json_array_append_new(ids, rep_str(g->element[i]));
			json_array_append_new(sts, rep_str(g->element[i + 1]));
		}
		return json_pack("{s:o,s:o}", "job_ids", ids, "statuses", sts);
	}
	if (g->type == REDIS_REPLY_ERROR)
		err = rep_error(g, msg, sizeof(msg), &holder);
	else
		snprintf(msg, sizeof(msg), "unexpected reply from redis (type %d)",
		         g->type);
	return json_pack("{s:i,s:s,s:o?}", "err", err, "msg", msg, "reply",
	                 holder);
}

static json_t *
conv_submit(const redisReply *r)
{
	json_t *a;
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY || (a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < r->elements; i++)
		json_array_append_new(a, group_result(r->element[i]));
	return a;
}

static json_t *
conv_get(const redisReply *r)
{
	return record_from(r, 1);
}

static json_t *
conv_cancel(const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
		return NULL;
	json_t *o = json_pack("{s:o,s:o}", "status", rep_str(r->element[0]),
	                      "previous", rep_str(r->element[1]));

	/* the job's labels for the metrics */
	if (o != NULL && r->elements >= 5) {
		json_object_set_new(o, "queue", rep_str(r->element[3]));
		json_object_set_new(o, "type", rep_str(r->element[4]));
	}
	return o;
}

static json_t *
conv_requeue(const redisReply *r)
{
	return json_pack("{s:o}", "job_ids", rep_str_array(r));
}

static json_t *
conv_list(const redisReply *r)
{
	json_t *a, *o;
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    (a = json_array()) == NULL)
		return NULL;
	for (i = 1; i < r->elements; i++)
		if ((o = record_from(r->element[i], 0)) != NULL)
			json_array_append_new(a, o);
	return json_pack("{s:o,s:I}", "jobs", a, "total",
	                 (json_int_t)rep_ll(r->element[0]));
}

/* clean_str: a string of JSON made safe for a terminal (text_clean);
 * NULL when out of memory. */
static json_t *
clean_str(const json_t *v)
{
	size_t len;
	char *s = text_clean(json_string_value(v), json_string_length(v), &len);
	json_t *j = s ? json_stringn(s, len) : NULL;

	free(s);
	return j;
}

/* redis_of: d's "redis_mode", "redis_node" and "redis_failovers" from the
 * JSON its heartbeat stored ({"mode", "node", "failovers"}).  Anyone can
 * write that key: what is not such an object, or not of those types, is
 * left out. */
static void
redis_of(json_t *d, const redisReply *ri)
{
	json_t *o, *v;

	if (ri->type != REDIS_REPLY_STRING || ri->len == 0 ||
	    (o = json_loadb(ri->str, ri->len, 0, NULL)) == NULL)
		return;
	if (json_is_object(o) && json_is_string(v = json_object_get(o, "mode"))) {
		json_object_set_new(d, "redis_mode", clean_str(v));
		if (json_is_string(v = json_object_get(o, "node")))
			json_object_set_new(d, "redis_node", clean_str(v));
		if (json_is_integer(v = json_object_get(o, "failovers")) &&
		    json_integer_value(v) >= 0)
			json_object_set(d, "redis_failovers", v);
	}
	json_decref(o);
}

/* daemons_of: jobd_stats's {host, served types, redis info, ...} as
 * [{"daemon", "types", "any_type", and redis_of's}]; served types are
 * " a b " or "* a b ". */
static json_t *
daemons_of(const redisReply *r)
{
	json_t *out = json_array(), *d;
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY)
		return out;
	for (i = 0; i + 2 < r->elements; i += 3) {
		const redisReply *h = r->element[i], *sv = r->element[i + 1];
		json_t *types;
		int any = 0;
		size_t a = 0, b;

		if (h->type != REDIS_REPLY_STRING || sv->type != REDIS_REPLY_STRING)
			continue;
		types = json_array();
		if (sv->len > 0 && sv->str[0] == '*')
			any = a = 1;
		while (a < sv->len) {
			for (b = a; b < sv->len && sv->str[b] != ' '; b++)
				;
			if (b > a)
				json_array_append_new(types,
				    json_stringn(sv->str + a, b - a));
			a = b + 1;
		}
		d = json_pack("{s:s%,s:o,s:b}", "daemon", h->str, h->len,
		    "types", types, "any_type", any);
		if (d != NULL)
			redis_of(d, r->element[i + 2]);
		json_array_append_new(out, d);
	}
	return out;
}

/* unserved_of: jobd_stats's {type, count, ...} as {type: count} (and
 * its {limit, parked, ...} as {limit: parked}). */
static json_t *
unserved_of(const redisReply *r)
{
	json_t *out = json_object();
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY)
		return out;
	for (i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING)
			json_object_set_new(out, r->element[i]->str,
			    json_integer(rep_ll(r->element[i + 1])));
	return out;
}

static json_t *
conv_stats(const redisReply *r)
{
	static const char *sts[] = { "queued", "scheduled", "started",
	                             "finished", "failed", "canceled" };
	json_t *queues, *workers, *totals;
	long long tot[6] = { 0 }, deferred = 0, nd;
	size_t i, k;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
		return NULL;
	queues = json_object();
	workers = json_array();
	totals = json_object();
	for (i = 0; i < r->element[0]->elements; i++) {
		redisReply *row = r->element[0]->element[i];
		json_t *q;

		if (row->type != REDIS_REPLY_ARRAY || row->elements < 8 ||
		    row->element[0]->type != REDIS_REPLY_STRING)
			continue;
		q = json_object();
		for (k = 0; k < 6; k++) {
			long long v = rep_ll(row->element[k + 1]);

			json_object_set_new(q, sts[k], json_integer(v));
			tot[k] += v;
		}
		json_object_set_new(q, "paused",
		                    json_boolean(rep_ll(row->element[7])));
		json_object_set_new(q, "oldest_queued_age", json_real(
		    row->elements >= 9 ? (double)rep_ll(row->element[8]) / 1000.0 :
		    0.0));
		nd = row->elements >= 10 ? rep_ll(row->element[9]) : 0;
		json_object_set_new(q, "deferred", json_integer(nd));
		deferred += nd;
		json_object_set_new(queues, row->element[0]->str, q);
	}
	for (k = 0; k < 6; k++)
		json_object_set_new(totals, sts[k], json_integer(tot[k]));
	json_object_set_new(totals, "deferred", json_integer(deferred));
	for (i = 0; i < r->element[1]->elements; i++) {
		redisReply *w = r->element[1]->element[i];
		json_t *ws, *e;
		size_t j;

		if (w->type != REDIS_REPLY_STRING)
			continue;
		ws = json_loadb(w->str, w->len, 0, NULL);
		if (json_is_array(ws))
			json_array_foreach(ws, j, e)
				json_array_append(workers, e);
		json_decref(ws);
	}
	if (r->elements < 4)
		return json_pack("{s:o,s:o,s:o}", "queues", queues, "workers",
		                 workers, "totals", totals);
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "queues", queues,
	                 "workers", workers, "totals", totals, "daemons",
	                 daemons_of(r->element[2]), "unserved",
	                 unserved_of(r->element[3]), "limited",
	                 r->elements >= 5 ? unserved_of(r->element[4]) :
	                 json_object());
}

static json_t *
conv_empty(const redisReply *r)
{
	(void)r;
	return json_object();
}

/* conv_pair: two arrays of ids, named k1 and k2. */
static json_t *
conv_pair(const redisReply *r, const char *k1, const char *k2)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
		return NULL;
	return json_pack("{s:o,s:o}", k1, rep_str_array(r->element[0]),
	                 k2, rep_str_array(r->element[1]));
}

static json_t *
conv_heartbeat(const redisReply *r)
{
	return conv_pair(r, "lost", "cancel");
}

static json_t *
conv_reap(const redisReply *r)
{
	json_t *o = conv_pair(r, "requeued", "failed");

	/* queue and type of each, requeued then failed, for the metrics */
	if (o != NULL && r->elements >= 3)
		json_object_set_new(o, "labels", rep_str_array(r->element[2]));
	return o;
}

/* release: {job_ids, labels}, labels as in conv_reap */
static json_t *
conv_release(const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
		return NULL;
	return json_pack("{s:o,s:o}", "job_ids", rep_str_array(r->element[0]),
	                 "labels", rep_str_array(r->element[1]));
}

static json_t *
conv_fail(const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1)
		return NULL;
	return json_pack("{s:o}", "status", rep_str(r->element[0]));
}

/* conv_json: JSON text (the cron and limits functions' answers) */
static json_t *
conv_json(const redisReply *r)
{
	if (r->type != REDIS_REPLY_STRING)
		return NULL;
	return json_loadb(r->str, r->len, JSON_DECODE_ANY, NULL);
}

/* batch_open: {batch id, callback id or ''}; batch_seal: the status. */
static json_t *
conv_batch(const redisReply *r)
{
	if (r->type == REDIS_REPLY_STRING)
		return json_pack("{s:o}", "status", rep_str(r));
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
		return NULL;
	return json_pack("{s:o,s:o}", "batch_id", rep_str(r->element[0]),
	    "callback_job_id", r->element[1]->len > 0 ?
	    rep_str(r->element[1]) : json_null());
}

/* batch_get: jobd.lua's JSON, its times (ms) as ISO-8601. */
static json_t *
conv_batch_get(const redisReply *r)
{
	static const char *const times[] = { "created_at", "sealed_at",
	                                     "ended_at" };
	json_t *o;

	if (r->type != REDIS_REPLY_STRING ||
	    (o = json_loadb(r->str, r->len, 0, NULL)) == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		json_object_set_new(o, times[i], iso_time((long long)
		    json_number_value(json_object_get(o, times[i]))));
	if (!json_is_string(json_object_get(o, "callback_job_id")))
		json_object_set_new(o, "callback_job_id", json_null());
	return o;
}

static json_t *(*const converters[REP__COUNT])(const redisReply *) = {
	[REP_SUBMIT] = conv_submit,
	[REP_GET] = conv_get,
	[REP_CANCEL] = conv_cancel,
	[REP_REQUEUE] = conv_requeue,
	[REP_LIST] = conv_list,
	[REP_STATS] = conv_stats,
	[REP_EMPTY] = conv_empty,
	[REP_HEARTBEAT] = conv_heartbeat,
	[REP_REAP] = conv_reap,
	[REP_RELEASE] = conv_release,
	[REP_FAIL] = conv_fail,
	[REP_JSON] = conv_json,
	[REP_BATCH] = conv_batch,
	[REP_BATCH_GET] = conv_batch_get,
};

json_t *
rep_convert(enum rep_kind kind, const redisReply *r)
{
	if ((unsigned)kind >= REP__COUNT || r == NULL)
		return NULL;
	return converters[kind](r);
}
