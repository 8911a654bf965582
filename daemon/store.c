/*
 * store.c: everything that touches Redis.  Each job state change is one
 * FCALL of the function library in jobd.lua (compiled in as
 * store_lua_library).  The asynchronous face serves the master on its
 * libevent loop; the blocking face serves the workers.  Key schema and
 * state machine: docs/architecture.md.
 */
#include <sys/time.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <jansson.h>
#include <msgpack.h>

#include "config.h"
#include "log.h"
#include "proto.h"
#include "redis_loop.h"
#include "store.h"

extern const char store_lua_library[];

#define CONNECT_TIMEOUT_MS  5000    /* hiredis 0.14 has no async one */
#define COMMAND_TIMEOUT_MS  10000   /* a reply later than this: drop */
#define BACKOFF_MIN_MS      100
#define BACKOFF_MAX_MS      5000
#define WAIT_CAP_MS         5000    /* store_sync_wait block cap */
#define SYNC_SOCK_TIMEOUT_S 15      /* > WAIT_CAP_MS */
#define REAP_BATCH          100
#define MAX_LOST            3       /* lease losses before "abandoned" */
#define REQUEUE_BATCH       10000
#define ERROR_TEXT_MAX      4096

/* ---------------------------------------------------------------------- */
/* Shared helpers                                                          */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A Redis command, formatted as RESP while its arguments are added, so
 * that it can be sent as is (redis*FormattedCommand) and kept for a retry.
 * HDR bytes are reserved in front for the "*<argc>\r\n" header.
 */
#define CMD_HDR 24

struct cmd {
	char *buf;
	size_t len, cap;
	int argc;
	int oom;
	size_t start;           /* set by cmd_finish */
};

static void
cmd_init(struct cmd *c)
{
	memset(c, 0, sizeof(*c));
	c->len = CMD_HDR;
}

static int
cmd_reserve(struct cmd *c, size_t more)
{
	size_t ncap;
	char *nb;

	if (c->oom)
		return -1;
	if (c->len + more <= c->cap)
		return 0;
	ncap = c->cap ? c->cap : 512;
	while (ncap < c->len + more) {
		if (ncap > SIZE_MAX / 2) {
			c->oom = 1;
			return -1;
		}
		ncap *= 2;
	}
	if ((nb = realloc(c->buf, ncap)) == NULL) {
		c->oom = 1;
		return -1;
	}
	c->buf = nb;
	c->cap = ncap;
	return 0;
}

static void
cmd_addn(struct cmd *c, const char *s, size_t n)
{
	int h;

	if (cmd_reserve(c, n + 32) < 0)
		return;
	h = snprintf(c->buf + c->len, 32, "$%zu\r\n", n);
	c->len += (size_t)h;
	if (n > 0)
		memcpy(c->buf + c->len, s, n);
	c->len += n;
	c->buf[c->len++] = '\r';
	c->buf[c->len++] = '\n';
	c->argc++;
}

static void
cmd_add(struct cmd *c, const char *s)
{
	cmd_addn(c, s ? s : "", s ? strlen(s) : 0);
}

static void
cmd_addll(struct cmd *c, long long v)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%lld", v);

	cmd_addn(c, b, (size_t)n);
}

/* cmd_finish: write the header; the command is buf+start, len-start. */
static int
cmd_finish(struct cmd *c)
{
	char h[CMD_HDR];
	int n;

	if (c->oom || c->buf == NULL)
		return -1;
	n = snprintf(h, sizeof(h), "*%d\r\n", c->argc);
	c->start = CMD_HDR - (size_t)n;
	memcpy(c->buf + c->start, h, (size_t)n);
	return 0;
}

static void
cmd_free(struct cmd *c)
{
	free(c->buf);
	c->buf = NULL;
}

/* The key prefix "<prefix>:{<ns>}:" and the derived names. */
struct names {
	char *K, *meta, *events, *ends, *wake;
};

static void
names_free(struct names *n)
{
	free(n->K);
	free(n->meta);
	free(n->events);
	free(n->ends);
	free(n->wake);
	memset(n, 0, sizeof(*n));
}

static char *
strcat2(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);

	if (s) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb + 1);
	}
	return s;
}

static int
names_init(struct names *n, const struct config *cfg)
{
	const char *p = cfg->prefix ? cfg->prefix : "jobd";
	const char *ns = cfg->ns ? cfg->ns : "main";
	size_t len = strlen(p) + strlen(ns) + 8;

	memset(n, 0, sizeof(*n));
	if ((n->K = malloc(len)) == NULL)
		return -1;
	snprintf(n->K, len, "%s:{%s}:", p, ns);
	n->meta = strcat2(n->K, "meta");
	n->events = strcat2(n->K, "events");
	n->ends = strcat2(n->K, "ends");
	n->wake = strcat2(n->K, "wake");
	if (!n->meta || !n->events || !n->ends || !n->wake) {
		names_free(n);
		return -1;
	}
	return 0;
}

/* The head of every FCALL: function, the meta key, the common ARGV. */
static void
cmd_fcall(struct cmd *c, const struct names *n, const struct config *cfg,
          const char *fn)
{
	cmd_init(c);
	cmd_add(c, "FCALL");
	cmd_add(c, fn);
	cmd_add(c, "1");
	cmd_add(c, n->meta);
	cmd_add(c, n->K);
	cmd_addll(c, cfg->result_ttl);
	cmd_addll(c, cfg->failure_ttl);
}

static void
cmd_queues(struct cmd *c, const struct config *cfg)
{
	int i, nq = cfg->nqueues;

	if (nq < 0)
		nq = 0;
	if (nq > CONFIG_MAX_QUEUES)
		nq = CONFIG_MAX_QUEUES;
	cmd_addll(c, nq);
	for (i = 0; i < nq; i++)
		cmd_add(c, cfg->queues[i]);
}

static long long
lease_ms(const struct config *cfg)
{
	double l = cfg->lease > 0 ? cfg->lease : 30;

	return (long long)(l * 1000);
}

/* A parsed Redis address. */
struct redis_addr {
	char path[PATH_MAX];    /* unix socket, or "" */
	char host[256];
	int port;
	int db;
};

static int
parse_addr(const char *url, struct redis_addr *a, char *err, size_t errlen)
{
	const char *p, *e;
	size_t n;

	memset(a, 0, sizeof(*a));
	a->port = 6379;
	if (url == NULL || *url == '\0')
		url = "redis://127.0.0.1:6379/0";
	if (strncmp(url, "unix://", 7) == 0 || url[0] == '/') {
		p = url[0] == '/' ? url : url + 7;
		if (*p == '\0' || strlen(p) >= sizeof(a->path)) {
			snprintf(err, errlen, "bad redis address '%s'", url);
			return -1;
		}
		strcpy(a->path, p);
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0) {
		snprintf(err, errlen, "bad redis address '%s' (redis://host:port/db "
		         "or unix:///path)", url);
		return -1;
	}
	p = url + 8;
	if ((e = strchr(p, '@')) != NULL)      /* credentials: not supported */
		p = e + 1;
	if (*p == '[') {
		if ((e = strchr(p, ']')) == NULL)
			goto bad;
		n = (size_t)(e - p - 1);
		if (n == 0 || n >= sizeof(a->host))
			goto bad;
		memcpy(a->host, p + 1, n);
		p = e + 1;
	} else {
		n = strcspn(p, ":/");
		if (n >= sizeof(a->host))
			goto bad;
		memcpy(a->host, p, n);
		p += n;
	}
	if (a->host[0] == '\0')
		strcpy(a->host, "127.0.0.1");
	if (*p == ':') {
		char *end;
		long v = strtol(p + 1, &end, 10);

		if (end == p + 1 || v < 1 || v > 65535)
			goto bad;
		a->port = (int)v;
		p = end;
	}
	if (*p == '/' && p[1] != '\0') {
		char *end;
		long v = strtol(p + 1, &end, 10);

		if (end == p + 1 || *end != '\0' || v < 0 || v > 1000000)
			goto bad;
		a->db = (int)v;
	} else if (*p != '\0' && strcmp(p, "/") != 0) {
		goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "bad redis address '%s'", url);
	return -1;
}

/* ---------------------------------------------------------------------- */
/* Reply conversion                                                        */

static int
rep_is(const redisReply *r, const char *s)
{
	return r && (r->type == REDIS_REPLY_STRING ||
	             r->type == REDIS_REPLY_STATUS) &&
	       r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

static long long
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

static json_t *
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

/*
 * A record as jobd.lua returns it: {id, MessagePack map of strings}, the
 * form it is stored in.  The fields point into the decoded map.
 */
struct field {
	const char *v;
	size_t len;
};

enum { F_TYPE, F_QUEUE, F_STATUS, F_CREATED, F_ENQUEUED, F_STARTED, F_ENDED,
       F_RUN_AT, F_TIMEOUT, F_ATTEMPTS, F_MAXR, F_PROGRESS, F_OWNER, F_META,
       F_PAYLOAD, F_RESULT, F_ERROR, F_ERRORS, F_UNIQUE, F_LOST, F_CANCEL,
       F_TOKEN, F__COUNT };

#define FIELD(s) { s, sizeof(s) - 1 }
static const struct { const char *name; size_t len; } field_names[F__COUNT] = {
	FIELD("type"), FIELD("queue"), FIELD("status"), FIELD("created_at"),
	FIELD("enqueued_at"), FIELD("started_at"), FIELD("ended_at"),
	FIELD("run_at"), FIELD("timeout_ms"), FIELD("attempts"),
	FIELD("max_retries"), FIELD("progress"), FIELD("owner"), FIELD("meta"),
	FIELD("payload"), FIELD("result"), FIELD("error"), FIELD("errors"),
	FIELD("unique_key"), FIELD("lost"), FIELD("cancel"), FIELD("token"),
};
#undef FIELD

struct record {
	struct field id;
	struct field f[F__COUNT];       /* .v NULL: absent */
	msgpack_unpacked u;
};

/* record_decode: -1 if r is not a record; record_done() either way. */
static int
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

static void
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

/*
 * record_json: the record of rec (docs/protocol.md).  full: payload and
 * result included (null if absent).  Extra fields: run_at (scheduled
 * jobs), errors (last 5 errors: {attempt, error, at}), unique_key, lost
 * (lease losses), cancel_requested.
 */
static json_t *
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
	json_object_set_new(o, "lost", json_integer(field_ll(&f[F_LOST])));
	if (field_ll(&f[F_CANCEL]) == 1)
		json_object_set_new(o, "cancel_requested", json_true());
	return o;
}

/* record_from: the record JSON of a {id, record} reply; NULL if it is not
 * one (logged: a record jobd cannot read is reported, not fatal). */
static json_t *
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
str_array(const redisReply *r)
{
	json_t *a = json_array();
	size_t i;

	if (a && r && r->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < r->elements; i++)
			json_array_append_new(a, rep_str(r->element[i]));
	return a;
}

/*
 * map_error: a Redis error reply to a PERR_* code, message in msg, and for
 * CONFLICT {"job_id": holder} in *reply.  The library's errors read
 * "CODE <job_id|-> <message>".
 */
static int
map_error(const redisReply *r, char *msg, size_t msglen, json_t **reply)
{
	static const struct { const char *code; int err; } codes[] = {
		{ "NOT_FOUND", PERR_NOT_FOUND },
		{ "CONFLICT", PERR_CONFLICT },
		{ "LOST", PERR_CONFLICT },
		{ "BAD_REQUEST", PERR_BAD_REQUEST },
		{ "LOADING", PERR_UNAVAILABLE },
		{ "MASTERDOWN", PERR_UNAVAILABLE },
		{ "READONLY", PERR_UNAVAILABLE },
		{ "BUSY", PERR_UNAVAILABLE },
		{ "OOM", PERR_BUSY },
	};
	const char *s = r->str, *sp, *id, *rest;
	size_t n, i, idlen;

	*reply = NULL;
	sp = memchr(s, ' ', r->len);
	n = sp ? (size_t)(sp - s) : r->len;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		if (strlen(codes[i].code) != n || memcmp(s, codes[i].code, n) != 0)
			continue;
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

static int
function_missing(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_ERROR &&
	       (strstr(r->str, "Function not found") != NULL ||
	        strncmp(r->str, "NOSCRIPT", 8) == 0);
}

/* pack_str: one MessagePack string; -1 when out of memory. */
static int
pack_str(msgpack_packer *pk, const char *v)
{
	size_t n = strlen(v);

	return msgpack_pack_str(pk, n) == 0 &&
	       msgpack_pack_str_body(pk, v, n) == 0 ? 0 : -1;
}

/*
 * cmd_submit_job: the submit arguments of one job, the 7 of jobd.lua's
 * submit: id queue unique_key delay_ms run_at_ms fresh record.  The record
 * is packed here, a MessagePack map of strings whose header already counts
 * the three fields Redis adds (status, created_at, and enqueued_at or
 * run_at), so that Lua only appends them and stores it.  sb: scratch.
 */
static void
cmd_submit_job(struct cmd *c, const struct submit_spec *s, const char *id,
               msgpack_sbuffer *sb)
{
	char *payload, *meta, tmo[24], retries[24], rttl[24], fttl[24];
	const char *f[9][2];
	long long delay = 0, run_at = 0;
	const char *q = s->queue && *s->queue ? s->queue : "default";
	msgpack_packer pk;
	size_t n = 0, i;
	int rc;

	payload = json_dumps(s->payload ? s->payload : json_null(),
	                     JSON_COMPACT | JSON_ENCODE_ANY);
	meta = s->meta ? json_dumps(s->meta, JSON_COMPACT | JSON_ENCODE_ANY) :
	       NULL;
	if (payload == NULL || (s->meta && meta == NULL))
		c->oom = 1;
	if (s->delay > 0)
		delay = (long long)(s->delay * 1000);
	if (s->run_at_ms > 0)
		run_at = s->run_at_ms;
	snprintf(tmo, sizeof(tmo), "%lld", (long long)(s->timeout * 1000));
	snprintf(retries, sizeof(retries), "%d", s->retries);
	snprintf(rttl, sizeof(rttl), "%lld", s->result_ttl);
	snprintf(fttl, sizeof(fttl), "%lld", s->failure_ttl);
	f[n][0] = "type", f[n++][1] = s->type;
	f[n][0] = "queue", f[n++][1] = q;
	f[n][0] = "payload", f[n++][1] = payload ? payload : "null";
	f[n][0] = "timeout_ms", f[n++][1] = tmo;
	f[n][0] = "max_retries", f[n++][1] = retries;
	f[n][0] = "result_ttl", f[n++][1] = rttl;
	f[n][0] = "failure_ttl", f[n++][1] = fttl;
	if (meta != NULL && strcmp(meta, "{}") != 0)
		f[n][0] = "meta", f[n++][1] = meta;
	if (s->unique_key != NULL && *s->unique_key != '\0')
		f[n][0] = "unique_key", f[n++][1] = s->unique_key;
	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	rc = msgpack_pack_map(&pk, n + 3);
	for (i = 0; i < n && rc == 0; i++)
		rc = pack_str(&pk, f[i][0]) == 0 ? pack_str(&pk, f[i][1]) : -1;
	if (rc != 0)
		c->oom = 1;
	cmd_add(c, id);
	cmd_add(c, q);
	cmd_add(c, s->unique_key ? s->unique_key : "");
	cmd_addll(c, delay);
	cmd_addll(c, run_at);
	cmd_add(c, s->job_id == NULL ? "1" : "0");   /* our ULID: fresh */
	cmd_addn(c, sb->data ? sb->data : "", sb->size);
	free(payload);
	free(meta);
}

/* ---------------------------------------------------------------------- */
/* Asynchronous face                                                       */

enum req_kind {
	RK_SUBMIT, RK_GET, RK_CANCEL, RK_REQUEUE, RK_LIST, RK_STATS,
	RK_EMPTY, RK_HEARTBEAT, RK_REAP, RK_FAIL,
};

struct req {
	struct store *st;
	enum req_kind kind;
	store_cb *cb;
	void *arg;
	struct cmd cmd;         /* kept for one retry after a reload */
	int retried;
	int err;                /* deferred failure */
	char errmsg[256];
	struct req *next;       /* deferred failures */
};

struct store {
	struct event_base *base;
	const struct config *cfg;
	store_event_cb *on_event;
	void *arg;
	struct names n;
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
	long long link_started; /* connect began, ms */
	long long last_progress;/* last reply, or first send when idle, ms */
	int pending;            /* commands in flight on ac */
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
};

static void link_start(struct store *st);

static void
req_free(struct req *rq)
{
	cmd_free(&rq->cmd);
	free(rq);
}

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

static void
teardown(struct store *st)
{
	redisAsyncContext *ac = st->ac, *sub = st->sub;

	st->ac = st->sub = NULL;
	st->ac_ready = st->sub_ready = 0;
	st->ends = ENDS_OFF;
	st->up = 0;
	st->pending = 0;
	/* Requests in flight get a NULL reply: PERR_UNAVAILABLE. */
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
		if (st->backoff_ms > BACKOFF_MAX_MS)
			st->backoff_ms = BACKOFF_MAX_MS;
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

/* on_tick: hiredis 0.14 has no timeouts of its own. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct store *st = arg;
	long long now = now_ms();

	if (st->down || st->failing)
		return;
	if ((!st->ac_ready || !st->sub_ready) &&
	    now - st->link_started > CONNECT_TIMEOUT_MS)
		link_fail(st, "connect timed out");
	else if (st->pending > 0 &&
	         now - st->last_progress > COMMAND_TIMEOUT_MS)
		link_fail(st, "no reply for %d s", COMMAND_TIMEOUT_MS / 1000);
}

static void
maybe_up(struct store *st)
{
	if (st->ac_ready && st->sub_ready && !st->up) {
		st->up = 1;
		st->backoff_ms = BACKOFF_MIN_MS;
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
		link_fail(st, "%s", ac->errstr[0] ? ac->errstr : "disconnected");
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

static void
on_reload(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	redisReply *r = r_;

	if (got_reply(st, ac, r) && r->type == REDIS_REPLY_ERROR)
		log_warnx("redis: FUNCTION LOAD failed: %s", r->str);
}

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
		err = map_error(g, msg, sizeof(msg), &holder);
	else
		snprintf(msg, sizeof(msg), "unexpected reply from redis (type %d)",
		         g->type);
	return json_pack("{s:i,s:s,s:o?}", "err", err, "msg", msg, "reply",
	                 holder);
}

static json_t *
convert(struct req *rq, redisReply *r, int *err, char *msg, size_t msglen)
{
	json_t *o = NULL, *a;
	size_t i;

	*err = PERR_OK;
	switch (rq->kind) {
	case RK_SUBMIT:
		if (r->type != REDIS_REPLY_ARRAY)
			break;
		a = json_array();
		for (i = 0; i < r->elements; i++)
			json_array_append_new(a, group_result(r->element[i]));
		return a;
	case RK_GET:
		if ((o = record_from(r, 1)) == NULL)
			break;
		return o;
	case RK_CANCEL:
		if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
			break;
		o = json_object();
		json_object_set_new(o, "status", rep_str(r->element[0]));
		json_object_set_new(o, "previous", rep_str(r->element[1]));
		return o;
	case RK_REQUEUE:
		o = json_object();
		json_object_set_new(o, "job_ids", str_array(r));
		return o;
	case RK_LIST:
		if (r->type != REDIS_REPLY_ARRAY || r->elements < 1)
			break;
		a = json_array();
		for (i = 1; i < r->elements; i++)
			if ((o = record_from(r->element[i], 0)) != NULL)
				json_array_append_new(a, o);
		o = json_object();
		json_object_set_new(o, "jobs", a);
		json_object_set_new(o, "total", json_integer(rep_ll(r->element[0])));
		return o;
	case RK_STATS: {
		static const char *sts[] = { "queued", "scheduled", "started",
		                             "finished", "failed", "canceled" };
		json_t *queues, *workers, *totals;
		long long tot[6] = { 0 };
		size_t k;

		if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
			break;
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
			json_object_set_new(queues, row->element[0]->str, q);
		}
		for (k = 0; k < 6; k++)
			json_object_set_new(totals, sts[k], json_integer(tot[k]));
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
		o = json_object();
		json_object_set_new(o, "queues", queues);
		json_object_set_new(o, "workers", workers);
		json_object_set_new(o, "totals", totals);
		return o;
	}
	case RK_EMPTY:
		return json_object();
	case RK_HEARTBEAT:
	case RK_REAP:
		if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
			break;
		o = json_object();
		json_object_set_new(o, rq->kind == RK_REAP ? "requeued" : "lost",
		                    str_array(r->element[0]));
		json_object_set_new(o, rq->kind == RK_REAP ? "failed" : "cancel",
		                    str_array(r->element[1]));
		return o;
	case RK_FAIL:
		if (r->type != REDIS_REPLY_ARRAY || r->elements < 1)
			break;
		o = json_object();
		json_object_set_new(o, "status", rep_str(r->element[0]));
		return o;
	}
	*err = PERR_INTERNAL;
	snprintf(msg, msglen, "unexpected reply from redis (type %d)", r->type);
	return NULL;
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
		unavailable(st, msg, sizeof(msg));
		rq->cb(rq->arg, PERR_UNAVAILABLE, msg, NULL);
		req_free(rq);
		return;
	}
	if (function_missing(r) && !rq->retried) {
		/* Redis restarted or was flushed: load and retry once, in
		 * order on the same connection. */
		log_warnx("redis: %s; loading the function library again", r->str);
		rq->retried = 1;
		send_library(st, on_reload);
		if (send_cmd(st, on_reply, rq, &rq->cmd) == 0)
			return;
		unavailable(st, msg, sizeof(msg));
		rq->cb(rq->arg, PERR_UNAVAILABLE, msg, NULL);
		req_free(rq);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		err = map_error(r, msg, sizeof(msg), &reply);
		if (err == PERR_INTERNAL)
			log_warnx("%s", msg);
	} else {
		msg[0] = '\0';
		reply = convert(rq, r, &err, msg, sizeof(msg));
		if (reply == NULL && err == PERR_OK) {
			err = PERR_INTERNAL;
			snprintf(msg, sizeof(msg), "out of memory");
		}
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
	}
}

/* new_req: a request whose command starts with FCALL fn; NULL if out of
 * memory, after the callback was told so. */
static struct req *
new_req(struct store *st, enum req_kind kind, const char *fn, store_cb *cb,
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
		                      st->n.ends) != REDIS_OK)
			link_fail(st, "cannot SUBSCRIBE");
		else
			st->ends = ENDS_SUBSCRIBING;
	} else if (!st->want_ends && st->ends == ENDS_ON) {
		if (redisAsyncCommand(st->sub, NULL, NULL, "UNSUBSCRIBE %s",
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
		link_fail(st, "%s", ac->errstr[0] ? ac->errstr : "disconnected");
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
	if (!rep_is(kind, "message") || data->type != REDIS_REPLY_STRING ||
	    data->len >= sizeof(buf))
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
on_select(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	redisReply *r = r_;

	if (got_reply(st, ac, r) && r->type == REDIS_REPLY_ERROR)
		link_fail(st, "SELECT: %s", r->str);
}

static void
on_loaded(redisAsyncContext *ac, void *r_, void *priv)
{
	struct store *st = priv;
	redisReply *r = r_;

	if (!got_reply(st, ac, r))
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		log_warnx("redis: cannot load the function library (Redis 7 "
		          "needed): %s", r->str);
		link_fail(st, "FUNCTION LOAD: %.100s", r->str);
		return;
	}
	st->ac_ready = 1;
	maybe_up(st);
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

	if (!got_reply(st, ac, r) || r->type != REDIS_REPLY_STRING)
		return;
	info_field(r->str, "redis_version:", ver, sizeof(ver));
	info_field(r->str, "maxmemory_policy:", policy, sizeof(policy));
	snprintf(st->status, sizeof(st->status), "redis %s, maxmemory-policy %s",
	         ver, policy);
	if (strcmp(policy, "noeviction") != 0)
		log_warnx("redis maxmemory-policy is %s, not noeviction: Redis may "
		          "evict job records", policy);
}

static void
on_connect_ac(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct store *st = ac->data;
	struct redis_addr a;
	struct cmd c;
	char err[256];

	if (ac != st->ac)
		return;
	if (status != REDIS_OK) {
		st->ac = NULL;          /* hiredis frees it */
		link_fail(st, "%s", ac->errstr);
		return;
	}
	if (parse_addr(st->cfg->redis, &a, err, sizeof(err)) == 0 && a.db != 0 &&
	    a.path[0] == '\0') {
		cmd_init(&c);
		cmd_add(&c, "SELECT");
		cmd_addll(&c, a.db);
		if (cmd_finish(&c) == 0)
			send_cmd(st, on_select, st, &c);
		cmd_free(&c);
	}
	cmd_init(&c);
	cmd_add(&c, "INFO");
	cmd_add(&c, "server");
	cmd_add(&c, "memory");
	if (cmd_finish(&c) == 0)
		send_cmd(st, on_info, st, &c);
	cmd_free(&c);
	send_library(st, on_loaded);
}

static void
on_connect_sub(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct store *st = ac->data;

	if (ac != st->sub)
		return;
	if (status != REDIS_OK) {
		st->sub = NULL;
		link_fail(st, "%s", ac->errstr);
		return;
	}
	/* Pub/sub channels are global: no SELECT needed. */
	if (redisAsyncCommand(ac, on_message, st, "SUBSCRIBE %s",
	                      st->n.events) != REDIS_OK)
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
	link_fail(st, "%s", ac->errstr[0] ? ac->errstr : "connection closed");
}

static redisAsyncContext *
open_one(struct store *st, const struct redis_addr *a,
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

static void
link_start(struct store *st)
{
	struct redis_addr a;
	char err[256];

	st->link_started = now_ms();
	st->ac_ready = st->sub_ready = st->up = 0;
	st->ends = ENDS_OFF;
	st->pending = 0;
	if (parse_addr(st->cfg->redis, &a, err, sizeof(err)) < 0) {
		link_fail(st, "%s", err);
		return;
	}
	if ((st->ac = open_one(st, &a, on_connect_ac)) == NULL)
		return;
	st->sub = open_one(st, &a, on_connect_sub);
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
	snprintf(st->status, sizeof(st->status),
	         "redis unreachable: connecting");
	if (names_init(&st->n, cfg) < 0)
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
	names_free(&st->n);
	msgpack_sbuffer_destroy(&st->sb);
	free(st);
	return NULL;
}

void
store_set_config(struct store *st, const struct config *cfg)
{
	const struct config *old = st->cfg;
	int relink;
	struct names n;

	relink = strcmp(old->redis ? old->redis : "", cfg->redis ? cfg->redis :
	                "") != 0;
	st->cfg = cfg;
	if (names_init(&n, cfg) == 0) {
		if (strcmp(n.K, st->n.K) != 0)
			relink = 1;
		names_free(&st->n);
		st->n = n;
	}
	if (relink)
		link_fail(st, "configuration changed");
}

void
store_free(struct store *st)
{
	if (st == NULL)
		return;
	st->down = 1;           /* no reconnect from here on */
	snprintf(st->lasterr, sizeof(st->lasterr), "shutting down");
	teardown(st);
	group_flush(st);        /* fails it: the link is down */
	flush_deferred(st);
	event_free(st->ev_defer);
	event_free(st->ev_tick);
	event_free(st->ev_retry);
	event_free(st->ev_group);
	names_free(&st->n);
	msgpack_sbuffer_destroy(&st->sb);
	free(st);
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
	struct { store_cb *cb; void *arg; } *m;
	size_t n, cap;
};

/* group_done: the req callback of a group: each member gets its entry. */
static void
group_done(void *arg, int err, const char *msg, json_t *reply)
{
	struct group *g = arg;
	size_t i;

	for (i = 0; i < g->n; i++) {
		json_t *e = json_array_get(reply, i);
		int gerr;

		if (err != PERR_OK) {
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
		if ((st->group = new_req(st, RK_SUBMIT, "jobd_submit",
		    group_done, g)) == NULL)
			return NULL;    /* group_done freed g */
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
	g->n++;
	st->group_jobs += njobs;
	return g;
}

void
store_submit(struct store *st, const struct submit_spec *jobs,
             char *const *ids, size_t n, store_cb *cb, void *arg)
{
	struct req *rq;
	size_t i;

	if (n == 0 || n > REQUEST_MAX_JOBS) {
		if ((rq = new_req(st, RK_EMPTY, "jobd_submit", cb, arg)) != NULL)
			defer_fail(st, rq, PERR_BAD_REQUEST, "bad number of jobs");
		return;
	}
	if (group_join(st, n, cb, arg) == NULL) {
		log_warnx("store: out of memory");
		cb(arg, PERR_INTERNAL, "out of memory", NULL);
		return;
	}
	cmd_addll(&st->group->cmd, (long long)n);
	for (i = 0; i < n; i++)
		cmd_submit_job(&st->group->cmd, &jobs[i], ids[i], &st->sb);
}

/* one_arg: the many calls that take one string argument. */
static void
one_arg(struct store *st, enum req_kind kind, const char *fn, const char *a1,
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
	one_arg(st, RK_GET, "jobd_get", job_id, NULL, cb, arg);
}

void
store_watch(struct store *st, const char *job_id, store_cb *cb, void *arg)
{
	one_arg(st, RK_GET, "jobd_watch", job_id, NULL, cb, arg);
}

void
store_cancel(struct store *st, const char *job_id, store_cb *cb, void *arg)
{
	one_arg(st, RK_CANCEL, "jobd_cancel", job_id, NULL, cb, arg);
}

void
store_requeue(struct store *st, const char *job_id, store_cb *cb, void *arg)
{
	one_arg(st, RK_REQUEUE, "jobd_requeue", "job", job_id, cb, arg);
}

void
store_delete(struct store *st, const char *job_id, store_cb *cb, void *arg)
{
	one_arg(st, RK_EMPTY, "jobd_delete", job_id, NULL, cb, arg);
}

void
store_requeue_failed(struct store *st, const char *queue, store_cb *cb,
                     void *arg)
{
	struct req *rq = new_req(st, RK_REQUEUE, "jobd_requeue", cb, arg);

	if (rq == NULL)
		return;
	cmd_add(&rq->cmd, "failed");
	cmd_add(&rq->cmd, queue ? queue : "");
	cmd_addll(&rq->cmd, REQUEUE_BATCH);
	submit_req(st, rq);
}

void
store_release_owner(struct store *st, const char *owner, const char *error,
                    store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, RK_REQUEUE, "jobd_release", cb, arg);

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
	struct req *rq = new_req(st, RK_LIST, "jobd_list", cb, arg);

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
	struct req *rq = new_req(st, RK_STATS, "jobd_stats", cb, arg);

	if (rq == NULL)
		return;
	cmd_queues(&rq->cmd, st->cfg);
	submit_req(st, rq);
}

void
store_pause(struct store *st, const char *queue, int paused, store_cb *cb,
            void *arg)
{
	one_arg(st, RK_EMPTY, "jobd_pause", queue, paused ? "1" : "0", cb, arg);
}

static char *
progress_json(double percent, const char *message)
{
	json_t *p = json_object();
	char *s;

	if (p == NULL)
		return NULL;
	json_object_set_new(p, "percent", json_real(percent));
	json_object_set_new(p, "message", message ? json_string(message) :
	                    json_null());
	s = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	return s;
}

void
store_progress(struct store *st, const char *job_id, double percent,
               const char *message, store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, RK_EMPTY, "jobd_progress", cb, arg);
	char *p;

	if (rq == NULL)
		return;
	if ((p = progress_json(percent, message)) == NULL)
		rq->cmd.oom = 1;
	cmd_add(&rq->cmd, job_id);
	cmd_add(&rq->cmd, "");
	cmd_add(&rq->cmd, p ? p : "null");
	free(p);
	submit_req(st, rq);
}

void
store_heartbeat(struct store *st, json_t *leases, json_t *workers,
                store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, RK_HEARTBEAT, "jobd_heartbeat", cb, arg);
	json_t *ws, *w, *l;
	char *text;
	size_t i, n;
	long long ttl = lease_ms(st->cfg);

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
	cmd_addll(&rq->cmd, lease_ms(st->cfg));
	free(text);
	n = json_is_array(leases) ? json_array_size(leases) : 0;
	cmd_addll(&rq->cmd, (long long)n);
	for (i = 0; i < n; i++) {
		l = json_array_get(leases, i);
		cmd_add(&rq->cmd, json_string_value(json_object_get(l, "job_id")));
		cmd_add(&rq->cmd, json_string_value(json_object_get(l, "token")));
	}
	submit_req(st, rq);
}

void
store_reap(struct store *st, store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, RK_REAP, "jobd_reap", cb, arg);

	if (rq == NULL)
		return;
	cmd_addll(&rq->cmd, REAP_BATCH);
	cmd_addll(&rq->cmd, MAX_LOST);
	cmd_addll(&rq->cmd, lease_ms(st->cfg));
	submit_req(st, rq);
}

static void
cmd_fail_args(struct cmd *c, const char *job_id, const char *token,
              const char *error, enum store_fail_mode mode,
              long long retry_delay_ms)
{
	size_t elen = error ? strlen(error) : 0;

	cmd_add(c, job_id);
	cmd_add(c, token);
	/* The tail of a long error is the informative part (stderr). */
	if (elen > ERROR_TEXT_MAX)
		cmd_addn(c, error + elen - ERROR_TEXT_MAX, ERROR_TEXT_MAX);
	else
		cmd_add(c, error ? error : "");
	cmd_add(c, mode == STORE_REQUEUE ? "requeue" :
	    mode == STORE_FAIL_FINAL ? "final" : "fail");
	cmd_addll(c, retry_delay_ms < 0 ? 0 : retry_delay_ms);
}

void
store_fail_job(struct store *st, const char *job_id, const char *token,
               const char *error, enum store_fail_mode mode,
               long long retry_delay_ms, store_cb *cb, void *arg)
{
	struct req *rq = new_req(st, RK_FAIL, "jobd_fail", cb, arg);

	if (rq == NULL)
		return;
	cmd_fail_args(&rq->cmd, job_id, token, error, mode, retry_delay_ms);
	cmd_add(&rq->cmd, "0");
	submit_req(st, rq);
}

/* ---------------------------------------------------------------------- */
/* Blocking face                                                           */

struct store_sync {
	const struct config *cfg;
	redisContext *c;
	struct names n;
	char owner[300];
	char err[256];
};

static void
sync_drop(struct store_sync *ss)
{
	if (ss->c) {
		redisFree(ss->c);
		ss->c = NULL;
	}
}

static int
sync_open(struct store_sync *ss)
{
	struct redis_addr a;
	struct timeval ct = { CONNECT_TIMEOUT_MS / 1000, 0 };
	struct timeval st = { SYNC_SOCK_TIMEOUT_S, 0 };
	redisReply *r;

	if (ss->c)
		return 0;
	if (parse_addr(ss->cfg->redis, &a, ss->err, sizeof(ss->err)) < 0)
		return -1;
	if (a.path[0])
		ss->c = redisConnectUnixWithTimeout(a.path, ct);
	else
		ss->c = redisConnectWithTimeout(a.host, a.port, ct);
	if (ss->c == NULL || ss->c->err) {
		snprintf(ss->err, sizeof(ss->err), "redis unreachable: %s",
		         ss->c ? ss->c->errstr : "out of memory");
		sync_drop(ss);
		return -1;
	}
	redisSetTimeout(ss->c, st);
	if (a.db != 0 && a.path[0] == '\0') {
		r = redisCommand(ss->c, "SELECT %d", a.db);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			snprintf(ss->err, sizeof(ss->err), "redis SELECT: %s",
			         r ? r->str : ss->c->errstr);
			freeReplyObject(r);
			sync_drop(ss);
			return -1;
		}
		freeReplyObject(r);
	}
	return 0;
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
		if (!function_missing(r) || tries > 0)
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
	if (names_init(&ss->n, cfg) < 0) {
		snprintf(err, errlen, "out of memory");
		free(ss);
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
	names_free(&ss->n);
	free(ss);
}

const char *
store_sync_errmsg(const struct store_sync *ss)
{
	return ss->err;
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

/* job_from: a store_job from a take's {id, record}; NULL if out of memory
 * or not a record. */
static struct store_job *
job_from(const redisReply *r)
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

/* take_result: a dequeue reply (job fields or wait ms) to the
 * store_sync_dequeue convention. */
static int
take_result(struct store_sync *ss, const redisReply *r,
            struct store_job **job, long long *wait_ms)
{
	long long w;

	if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
		if ((*job = job_from(r)) == NULL) {
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
	snprintf(ss->err, sizeof(ss->err), "redis: %.*s",
	         (int)(r->len > 200 ? 200 : r->len), r->str);
	freeReplyObject(r);
	return -1;
}

static void
cmd_take_tail(struct cmd *c, struct store_sync *ss)
{
	cmd_add(c, ss->owner);
	cmd_addll(c, lease_ms(ss->cfg));
	cmd_queues(c, ss->cfg);
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
	cmd_take_tail(&c, ss);
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
	redisReply *r;
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
	cmd_add(&c, t);
	r = sync_call(ss, &c);
	cmd_free(&c);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR)
		return error_reply(ss, r);
	freeReplyObject(r);
	return 0;
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
		cmd_take_tail(c, ss);
	} else {
		cmd_add(c, "0");
	}
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
	redisReply *r;
	char *p = progress_json(percent, message);

	if (p == NULL) {
		snprintf(ss->err, sizeof(ss->err), "out of memory");
		return -1;
	}
	cmd_fcall(&c, &ss->n, ss->cfg, "jobd_progress");
	cmd_add(&c, job->id);
	cmd_add(&c, job->token);
	cmd_add(&c, p);
	free(p);
	r = sync_call(ss, &c);
	cmd_free(&c);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ERROR)
		return error_reply(ss, r);
	freeReplyObject(r);
	return 0;
}
