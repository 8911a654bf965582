/*
 * http.c: the HTTP child: evhttp on the socket the master opened, a table
 * of routes, its access control, and the protocol connections to the
 * master through which every route asks (see http.h, docs/monitoring.md):
 * one pipelined link for reads, one link per action in progress.
 *
 * Access: with [http] auth = basic every request first needs a user of
 * users_file (http_auth.c), else 401.  Actions (POST) are refused with 403
 * when read_only, from another site's page (Sec-Fetch-Site, Origin), or
 * to a viewer: the child is an admin of the protocol, so these checks are
 * the only ones between an HTTP client and the ops.
 *
 * Bounds: evhttp's header and body sizes and its timeout (a client that
 * sends its request slowly, or idles, is closed after request_timeout);
 * connections by RLIMIT_NOFILE (past the cap the kernel's backlog holds new
 * ones until a slot frees, and accept() never spins); calls in flight to
 * the master (past UP_MAX_PENDING: 503); a master that stops answering
 * (UP_TIMEOUT: 503 and a new connection); actions in progress
 * (HTTP_MAX_ACTIONS); streams (http_events.c).
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>

#include "clock.h"
#include "frame.h"
#include "http.h"
#include "http_auth.h"
#include "http_child.h"
#include "http_metrics.h"
#include "http_static.h"
#include "http_users.h"
#include "log.h"
#include "proto.h"

#define UP_MAX_PENDING  256     /* calls in flight to the master */
#define UP_TIMEOUT      10.0    /* s a call may wait for its answer */
#define HTTP_MAX_ACTIONS 16     /* actions in progress at a time */

/* --- links to the master --------------------------------------------------- */

struct up_call {
	TAILQ_ENTRY(up_call) link;
	up_cb *cb;
	void *arg;
	struct timespec sent;
};

/*
 * A connection to the master.  The shared one carries every read, its
 * calls pipelined and answered in order.  An action gets a link of its
 * own (oneshot) for its one call: a cancel may wait for its job's end
 * (grace and more), which would hold up every call behind it.
 */
struct uplink {
	TAILQ_ENTRY(uplink) link;      /* in h.actions (oneshot) */
	struct bufferevent *bev;       /* NULL: not connected */
	struct frame_reader *reader;
	TAILQ_HEAD(, up_call) calls;   /* in request order */
	int npending;
	double timeout;                /* s the oldest call may wait */
	int oneshot;
	int connected;                 /* the master accepted it */
};

static struct {
	struct event_base *base;
	const struct config *cfg;
	struct evhttp *http;
	struct uplink up;              /* the shared link */
	TAILQ_HEAD(, uplink) actions;  /* the oneshot links */
	int nactions;
	struct event *ev_tick;
	char why[200];                 /* the last link's failure */
	int maybe_done;                /* in up_drop's callbacks: the calls
	                                  may have reached the master */
} h;

/* up_drop: the connection is gone or stuck: every call fails with why;
 * a oneshot link is freed. */
static void
up_drop(struct uplink *l, const char *why)
{
	struct up_call *c;

	if (l->bev != NULL) {
		bufferevent_free(l->bev);
		l->bev = NULL;
	}
	frame_reader_free(l->reader);
	l->reader = NULL;
	snprintf(h.why, sizeof(h.why), "%s", why);
	h.maybe_done = l->connected;
	while ((c = TAILQ_FIRST(&l->calls)) != NULL) {
		TAILQ_REMOVE(&l->calls, c, link);
		l->npending--;
		c->cb(c->arg, NULL, why);
		free(c);
	}
	h.maybe_done = 0;
	if (l->oneshot) {
		TAILQ_REMOVE(&h.actions, l, link);
		h.nactions--;
		free(l);
	}
}

static void
up_read_cb(struct bufferevent *bev, void *arg)
{
	struct uplink *l = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	const char *payload;
	size_t len;
	int rc;

	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		if (frame_reader_feed(l->reader, v.iov_base, v.iov_len) !=
		    FRAME_OK) {
			up_drop(l, "out of memory");
			return;
		}
		evbuffer_drain(in, v.iov_len);
	}
	while ((rc = frame_reader_next(l->reader, &payload, &len)) == FRAME_OK) {
		struct up_call *c = TAILQ_FIRST(&l->calls);
		json_t *resp = json_loadb(payload, len, 0, NULL);

		if (c == NULL || !json_is_object(resp)) {
			json_decref(resp);
			up_drop(l, "the master sent an answer out of turn");
			return;
		}
		TAILQ_REMOVE(&l->calls, c, link);
		l->npending--;
		c->cb(c->arg, resp, NULL);
		json_decref(resp);
		free(c);
		if (l->oneshot) {          /* its one call is answered */
			up_drop(l, "done");
			return;
		}
		if (l->reader == NULL)     /* a callback dropped the link */
			return;
	}
	if (rc != FRAME_NEED_MORE)
		up_drop(l, "bad frame from the master");
}

static void
up_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct uplink *l = arg;
	char why[160];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		l->connected = 1;
		return;
	}
	snprintf(why, sizeof(why), "connection to the jobd master lost%s%s",
	    (what & BEV_EVENT_ERROR) && errno ? ": " : "",
	    (what & BEV_EVENT_ERROR) && errno ? strerror(errno) : "");
	if (!l->oneshot)
		log_info("%s", why);
	up_drop(l, why);
}

/* up_connect: a new connection to the master's socket; 0, or -1 (a
 * oneshot link is then freed). */
static int
up_connect(struct uplink *l)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", h.cfg->socket);
	l->connected = 0;
	l->reader = frame_reader_new(h.cfg->max_frame);
	l->bev = bufferevent_socket_new(h.base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (l->reader == NULL || l->bev == NULL) {
		up_drop(l, "out of memory");
		return -1;
	}
	bufferevent_setcb(l->bev, up_read_cb, NULL, up_event_cb, l);
	if (bufferevent_socket_connect(l->bev, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1) {
		char why[200];

		snprintf(why, sizeof(why), "cannot connect to the jobd master "
		    "at %s: %s", h.cfg->socket, strerror(errno));
		up_drop(l, why);
		return -1;
	}
	bufferevent_enable(l->bev, EV_READ | EV_WRITE);
	return 0;
}

/* up_call: send req (not stolen) on l; cb runs once, maybe now. */
static void
up_call(struct uplink *l, json_t *req, up_cb *cb, void *arg)
{
	struct up_call *c;
	char *text;
	uint8_t hdr[FRAME_HEADER_LEN];

	if (l->npending >= UP_MAX_PENDING) {
		cb(arg, NULL, "too many requests in flight to the jobd master");
		return;
	}
	if (l->bev == NULL && up_connect(l) == -1) {
		cb(arg, NULL, h.why);
		return;
	}
	text = json_dumps(req, JSON_COMPACT);
	c = calloc(1, sizeof(*c));
	if (text == NULL || c == NULL) {
		free(text);
		free(c);
		cb(arg, NULL, "out of memory");
		return;
	}
	frame_header(hdr, (uint32_t)strlen(text));
	bufferevent_write(l->bev, hdr, sizeof(hdr));
	bufferevent_write(l->bev, text, strlen(text));
	free(text);
	c->cb = cb;
	c->arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &c->sent);
	TAILQ_INSERT_TAIL(&l->calls, c, link);
	l->npending++;
}

void
http_up_call(json_t *req, up_cb *cb, void *arg)
{
	up_call(&h.up, req, cb, arg);
}

/* action_call: req (not stolen) on a link of its own; cb as up_call's
 * (with resp NULL, h.maybe_done says whether the master may have got
 * it). */
static void
action_call(json_t *req, up_cb *cb, void *arg)
{
	struct uplink *l;
	char why[200];

	if (h.nactions >= HTTP_MAX_ACTIONS) {
		cb(arg, NULL, "too many actions in progress");
		return;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		cb(arg, NULL, "out of memory");
		return;
	}
	TAILQ_INIT(&l->calls);
	l->oneshot = 1;
	/* a cancel answers when its job has ended: the grace, and Redis's
	 * own time to answer or be given up */
	l->timeout = h.cfg->grace + h.cfg->redis_timeout + UP_TIMEOUT;
	TAILQ_INSERT_TAIL(&h.actions, l, link);
	h.nactions++;
	if (up_connect(l) == -1) {      /* l is gone */
		snprintf(why, sizeof(why), "%s", h.why);
		cb(arg, NULL, why);
		return;
	}
	up_call(l, req, cb, arg);
}

/* up_stuck: a link whose oldest call waits too long is stuck for us:
 * fail what waits (the shared link starts over on a new connection). */
static void
up_stuck(struct uplink *l)
{
	struct up_call *c = TAILQ_FIRST(&l->calls);

	if (c == NULL || clock_since(&c->sent) <= l->timeout)
		return;
	if (!l->oneshot)
		log_warnx("the jobd master did not answer in %.0f s",
		    l->timeout);
	up_drop(l, "the jobd master did not answer in time");
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct uplink *l, *next;

	(void)fd; (void)what; (void)arg;
	up_stuck(&h.up);
	for (l = TAILQ_FIRST(&h.actions); l != NULL; l = next) {
		next = TAILQ_NEXT(l, link);
		up_stuck(l);
	}
}

#define SEGMENT_MAX 128   /* a job id's or queue name's bytes in a path */

struct hreq;

/*
 * A route: a path, exact or with one "*" segment (job-id characters,
 * handed to the handler), the methods it answers, and for an action
 * (POST: admins only) the op it sends with the segment as which field.
 * A path that matches with another method gets 405; no match, 404.
 */
struct route {
	const char *path;
	unsigned methods;
	void (*handle)(struct hreq *hr, const char *arg);
	const char *op, *field;
	int all_failed;
};

/* --- answering ------------------------------------------------------------ */

/* A request being answered, with what its handler asked of the master. */
struct hreq {
	struct evhttp_request *req;
	const struct route *rt;
	char user[HTTP_USER_NAME_MAX + 1]; /* who asked, with auth = basic */
	int head;                /* HEAD: headers only */
	json_t *parts[2];        /* answers of the calls made */
	int nparts, waiting;
	char why[200];           /* the first call that failed */
	void (*finish)(struct hreq *);
};

static void
send_body(struct evhttp_request *req, int code, const char *reason,
    const char *ctype, const char *body, size_t len)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();

	evhttp_add_header(out, "Content-Type", ctype);
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	if (buf != NULL && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add(buf, body, len);
	evhttp_send_reply(req, code, reason, buf);
	if (buf != NULL)
		evbuffer_free(buf);
}

static const char *
reason_of(int code)
{
	static const struct { int code; const char *reason; } t[] = {
		{ 200, "OK" }, { 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 409, "Conflict" },
		{ 500, "Internal Server Error" }, { 502, "Bad Gateway" },
		{ 503, "Service Unavailable" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].code == code)
			return t[i].reason;
	return "Error";
}

void
http_send_json(struct evhttp_request *req, int code, json_t *obj)
{
	char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	if (text == NULL) {
		send_body(req, 500, reason_of(500), "application/json",
		    "{\"error\":{\"code\":\"internal\",\"message\":\"out of "
		    "memory\"}}\n", 56);
		return;
	}
	send_body(req, code, reason_of(code), "application/json", text,
	    strlen(text));
	free(text);
}

void
http_send_error(struct evhttp_request *req, int code, const char *ecode,
    const char *msg)
{
	http_send_json(req, code, json_pack("{s:{s:s,s:s}}", "error", "code", ecode,
	    "message", msg));
}

/* status_of: the HTTP status for a protocol error code. */
static int
status_of(const char *ecode)
{
	static const struct { const char *code; int status; } t[] = {
		{ "bad_json", 400 }, { "bad_request", 400 },
		{ "unknown_type", 400 }, { "not_found", 404 },
		{ "forbidden", 403 }, { "conflict", 409 },
		{ "unavailable", 503 }, { "busy", 503 }, { "in_doubt", 502 },
	};

	for (size_t i = 0; ecode != NULL && i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(t[i].code, ecode) == 0)
			return t[i].status;
	return 500;
}

/* send_failure: a call's failure as the answer: the master's error, or
 * 503 when the master could not be asked. */
static void
send_failure(struct hreq *hr, json_t *resp)
{
	json_t *e = json_object_get(resp, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (resp == NULL)
		http_send_error(hr->req, 503, "unavailable", hr->why);
	else
		http_send_error(hr->req, status_of(code), code ? code : "internal",
		    msg ? msg : "error");
}

/* resp_ok: resp is a success; its "ok" and "id" are removed. */
static int
resp_ok(json_t *resp)
{
	if (resp == NULL || !json_is_true(json_object_get(resp, "ok")))
		return 0;
	json_object_del(resp, "ok");
	json_object_del(resp, "id");
	return 1;
}

static void
hreq_free(struct hreq *hr)
{
	for (int i = 0; i < hr->nparts; i++)
		json_decref(hr->parts[i]);
	free(hr);
}

static void
part_done(void *arg, json_t *resp, const char *why)
{
	struct hreq *hr = arg;
	int i;

	for (i = 0; i < hr->nparts; i++)
		if (hr->parts[i] == NULL)
			break;
	/* Answers come in call order: the i-th empty part is this one. */
	if (i < hr->nparts)
		hr->parts[i] = resp != NULL ? json_incref(resp) :
		    json_null();
	if (resp == NULL && hr->why[0] == '\0')
		snprintf(hr->why, sizeof(hr->why), "%s", why);
	if (--hr->waiting == 0) {
		for (i = 0; i < hr->nparts; i++)
			if (json_is_null(hr->parts[i])) {
				json_decref(hr->parts[i]);
				hr->parts[i] = NULL;
			}
		hr->finish(hr);
		hreq_free(hr);
	}
}

/* ask: the calls (ops, n <= 2) for hr, then finish(hr) with their answers
 * in parts[] (NULL where the master could not be asked). */
static void
ask(struct hreq *hr, json_t **reqs, int n, void (*finish)(struct hreq *))
{
	hr->nparts = n;
	hr->waiting = n;
	hr->finish = finish;
	for (int i = 0; i < n; i++) {
		http_up_call(reqs[i], part_done, hr);
		json_decref(reqs[i]);
	}
}

/* --- routes ----------------------------------------------------------------- */

static void
health_done(struct hreq *hr)
{
	json_t *resp = hr->parts[0];

	if (resp_ok(resp)) {
		http_send_json(hr->req, 200, json_pack("{s:s,s:O*,s:O*}",
		    "status", "ok", "redis_mode", json_object_get(resp,
		    "redis_mode"), "redis_node", json_object_get(resp,
		    "redis_node")));
		return;
	}
	http_send_json(hr->req, 503, json_pack("{s:s,s:s}", "status", "unavailable",
	    "reason", resp != NULL ? json_string_value(json_object_get(
	    json_object_get(resp, "error"), "message")) : hr->why));
}

static void
route_healthz(struct hreq *hr, const char *arg)
{
	json_t *r = json_pack("{s:s}", "op", "health");

	(void)arg;
	ask(hr, &r, 1, health_done);
}

static void
relay_done(struct hreq *hr)
{
	if (resp_ok(hr->parts[0]))
		http_send_json(hr->req, 200, json_incref(hr->parts[0]));
	else
		send_failure(hr, hr->parts[0]);
}

static void
route_stats(struct hreq *hr, const char *arg)
{
	json_t *r = json_pack("{s:s}", "op", "stats");

	(void)arg;
	ask(hr, &r, 1, relay_done);
}

/* query_number: a page bound: 1..9 digits, nothing else. */
static int
query_number(const char *v, long *out)
{
	size_t n = strlen(v);

	if (n == 0 || n > 9 || strspn(v, "0123456789") != n)
		return -1;
	*out = strtol(v, NULL, 10);
	return 0;
}

static void
route_jobs(struct hreq *hr, const char *arg)
{
	static const char *const strings[] = { "status", "queue", "type" };
	const char *query = evhttp_uri_get_query(
	    evhttp_request_get_evhttp_uri(hr->req));
	struct evkeyvalq params;
	struct evkeyval *kv;
	json_t *r = json_pack("{s:s}", "op", "list");
	char msg[160];

	(void)arg;
	TAILQ_INIT(&params);
	if (query != NULL && evhttp_parse_query_str(query, &params) == -1) {
		json_decref(r);
		http_send_error(hr->req, 400, "bad_request", "malformed query string");
		hreq_free(hr);
		return;
	}
	TAILQ_FOREACH(kv, &params, next) {
		long v;
		size_t i;

		if (json_object_get(r, kv->key) != NULL) {
			snprintf(msg, sizeof(msg), "'%.32s' given twice", kv->key);
			goto bad;
		}
		for (i = 0; i < 3; i++)
			if (strcmp(kv->key, strings[i]) == 0)
				break;
		if (i < 3) {
			if (kv->value[0] != '\0')
				json_object_set_new(r, kv->key,
				    json_string(kv->value));
			if (kv->value[0] != '\0' &&
			    json_object_get(r, kv->key) == NULL) {
				snprintf(msg, sizeof(msg), "'%s' is not UTF-8",
				    kv->key);
				goto bad;
			}
			continue;
		}
		if (strcmp(kv->key, "offset") != 0 &&
		    strcmp(kv->key, "limit") != 0) {
			snprintf(msg, sizeof(msg), "unknown parameter '%.32s' "
			    "(expected status, queue, type, offset, limit)",
			    kv->key);
			goto bad;
		}
		if (query_number(kv->value, &v) == -1) {
			snprintf(msg, sizeof(msg), "'%s' must be a whole number "
			    "of at most 9 digits", kv->key);
			goto bad;
		}
		json_object_set_new(r, kv->key, json_integer(v));
	}
	evhttp_clear_headers(&params);
	ask(hr, &r, 1, relay_done);
	return;
bad:
	evhttp_clear_headers(&params);
	json_decref(r);
	http_send_error(hr->req, 400, "bad_request", msg);
	hreq_free(hr);
}

static void
route_job(struct hreq *hr, const char *id)
{
	json_t *r = json_pack("{s:s,s:s}", "op", "get", "job_id", id);

	ask(hr, &r, 1, relay_done);
}

/* The workflows' state (docs/workflows.md): a batch, the periodic jobs,
 * the limits; each its protocol op's answer as it is. */
static void
route_batch(struct hreq *hr, const char *id)
{
	json_t *r = json_pack("{s:s,s:s}", "op", "batch_get", "batch_id", id);

	ask(hr, &r, 1, relay_done);
}

static void
route_cron(struct hreq *hr, const char *arg)
{
	json_t *r = json_pack("{s:s}", "op", "cron_list");

	(void)arg;
	ask(hr, &r, 1, relay_done);
}

static void
route_limits(struct hreq *hr, const char *arg)
{
	json_t *r = json_pack("{s:s}", "op", "limits");

	(void)arg;
	ask(hr, &r, 1, relay_done);
}

static void
metrics_done(struct hreq *hr)
{
	struct evbuffer *text;

	if (!resp_ok(hr->parts[0])) {
		send_failure(hr, hr->parts[0]);
		return;
	}
	/* Queue gauges need Redis; without it the rest still renders (and
	 * says jobd_redis_up 0). */
	text = http_metrics_render(hr->parts[0],
	    resp_ok(hr->parts[1]) ? hr->parts[1] : NULL);
	if (text == NULL) {
		http_send_error(hr->req, 500, "internal", "out of memory");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(hr->req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(hr->req),
	    "Cache-Control", "no-store");
	if (hr->head)
		evbuffer_drain(text, evbuffer_get_length(text));
	evhttp_send_reply(hr->req, 200, "OK", text);
	evbuffer_free(text);
}

static void
route_metrics(struct hreq *hr, const char *arg)
{
	json_t *r[2] = { json_pack("{s:s}", "op", "metrics"),
	                 json_pack("{s:s}", "op", "stats") };

	(void)arg;
	ask(hr, r, 2, metrics_done);
}

/* route_page: the dashboard and its files, compiled in (http_static.c). */
static void
route_page(struct hreq *hr, const char *arg)
{
	const char *path = evhttp_uri_get_path(
	    evhttp_request_get_evhttp_uri(hr->req));

	(void)arg;
	if (http_static_send(hr->req, path) == -1)
		http_send_error(hr->req, 404, "not_found", "no such page");
	hreq_free(hr);
}

/* --- actions ------------------------------------------------------------- */

static void
action_done(void *arg, json_t *resp, const char *why)
{
	struct hreq *hr = arg;
	char msg[300];

	if (resp == NULL && h.maybe_done) {
		snprintf(msg, sizeof(msg), "%s: the action may or may not have "
		    "been done; look before trying again", why);
		http_send_error(hr->req, 502, "in_doubt", msg);
	} else if (resp == NULL) {
		http_send_error(hr->req, 503, "unavailable", why);
	} else if (resp_ok(resp)) {
		http_send_json(hr->req, 200, json_incref(resp));
	} else {
		send_failure(hr, resp);
	}
	hreq_free(hr);
}

/* route_action: the route's op on the job or queue of the path. */
static void
route_action(struct hreq *hr, const char *arg)
{
	const struct route *rt = hr->rt;
	json_t *r = json_pack("{s:s,s:s}", "op", rt->op, rt->field, arg);

	if (r != NULL && rt->all_failed)
		json_object_set_new(r, "all_failed", json_true());
	if (r == NULL) {
		http_send_error(hr->req, 500, "internal", "out of memory");
		hreq_free(hr);
		return;
	}
	log_info("action: %s %s %s%s%s", rt->op, rt->field, arg,
	    hr->user[0] ? " by " : "", hr->user);
	action_call(r, action_done, hr);
	json_decref(r);
}

static void
route_events(struct hreq *hr, const char *arg)
{
	(void)arg;
	events_open(hr->req);
	hreq_free(hr);
}

#define GET_HEAD (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)
#define POST     EVHTTP_REQ_POST

static const struct route routes[] = {
	{ "/",             GET_HEAD, route_page, NULL, NULL, 0 },
	{ "/dashboard.css", GET_HEAD, route_page, NULL, NULL, 0 },
	{ "/dashboard.js", GET_HEAD, route_page, NULL, NULL, 0 },
	{ "/favicon.svg",  GET_HEAD, route_page, NULL, NULL, 0 },
	{ "/healthz",      GET_HEAD, route_healthz, NULL, NULL, 0 },
	{ "/metrics",      GET_HEAD, route_metrics, NULL, NULL, 0 },
	{ "/events",       EVHTTP_REQ_GET, route_events, NULL, NULL, 0 },
	{ "/api/stats",    GET_HEAD, route_stats, NULL, NULL, 0 },
	{ "/api/jobs",     GET_HEAD, route_jobs, NULL, NULL, 0 },
	{ "/api/jobs/*",   GET_HEAD, route_job, NULL, NULL, 0 },
	{ "/api/batches/*", GET_HEAD, route_batch, NULL, NULL, 0 },
	{ "/api/cron",     GET_HEAD, route_cron, NULL, NULL, 0 },
	{ "/api/limits",   GET_HEAD, route_limits, NULL, NULL, 0 },
	{ "/api/jobs/*/requeue", POST, route_action, "requeue", "job_id", 0 },
	{ "/api/jobs/*/cancel",  POST, route_action, "cancel", "job_id", 0 },
	{ "/api/jobs/*/delete",  POST, route_action, "delete", "job_id", 0 },
	{ "/api/queues/*/pause",  POST, route_action, "pause", "queue", 0 },
	{ "/api/queues/*/resume", POST, route_action, "resume", "queue", 0 },
	{ "/api/queues/*/requeue-failed", POST, route_action, "requeue",
	  "queue", 1 },
};

/* segment_ok: n bytes of a job id or queue name as the protocol allows
 * them (docs/protocol.md). */
static int
segment_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789_.:-", s[i]) == NULL ||
		    s[i] == '\0')
			return 0;
	return n >= 1 && n <= SEGMENT_MAX && !(n == 1 && s[0] == '.') &&
	    !(n == 2 && s[0] == '.' && s[1] == '.');
}

/* route_match: the route for path, with the "*" segment copied to arg
 * (SEGMENT_MAX + 1 bytes; "" when none). */
static const struct route *
route_match(const char *path, char *arg)
{
	size_t plen = strlen(path);

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *p = routes[i].path, *star = strchr(p, '*');
		size_t pre, post;

		arg[0] = '\0';
		if (star == NULL) {
			if (strcmp(path, p) == 0)
				return &routes[i];
			continue;
		}
		pre = (size_t)(star - p);
		post = strlen(star + 1);
		if (plen > pre + post && strncmp(path, p, pre) == 0 &&
		    strcmp(path + plen - post, star + 1) == 0 &&
		    segment_ok(path + pre, plen - pre - post)) {
			memcpy(arg, path + pre, plen - pre - post);
			arg[plen - pre - post] = '\0';
			return &routes[i];
		}
	}
	return NULL;
}

/* cross_site: why an action may come from another site's page (CSRF), or
 * NULL.  A browser says where a request comes from; scripts (curl) send
 * neither header and pass. */
static const char *
cross_site(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
	const char *origin = evhttp_find_header(in, "Origin");
	const char *host = evhttp_find_header(in, "Host");
	const char *rest = NULL;

	/* "none" too: a typed URL or bookmark is a GET, never an action */
	if (site != NULL && strcmp(site, "same-origin") != 0)
		return "cross-site request refused (Sec-Fetch-Site is not "
		    "same-origin)";
	if (origin == NULL)
		return NULL;
	if (strncasecmp(origin, "http://", 7) == 0)
		rest = origin + 7;
	else if (strncasecmp(origin, "https://", 8) == 0)   /* a TLS proxy */
		rest = origin + 8;
	if (host == NULL)
		host = h.cfg->http_listen;
	if (rest == NULL || host == NULL || strcasecmp(rest, host) != 0)
		return "cross-site request refused (Origin is not this "
		    "dashboard's)";
	return NULL;
}

static void
gen_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct route *rt;
	char seg[SEGMENT_MAX + 1], user[HTTP_USER_NAME_MAX + 1] = "";
	const char *why;
	enum http_role role = HTTP_ROLE_ADMIN;
	struct hreq *hr;

	(void)arg;
	/* libevent calls again, without a URI, for a request whose
	 * connection failed (some errors): a stream is then closed */
	if (uri == NULL && events_abort(req))
		return;
	if (h.cfg->http_auth == HTTP_AUTH_BASIC) {
		role = http_auth_check(h.cfg->http_users, evhttp_find_header(
		    evhttp_request_get_input_headers(req), "Authorization"),
		    user, sizeof(user));
		if (role == HTTP_ROLE_NONE) {
			log_debug("unauthorized request%s%s", user[0] ?
			    " for user " : "", user);
			evhttp_add_header(evhttp_request_get_output_headers(req),
			    "WWW-Authenticate", "Basic realm=\"jobd\"");
			http_send_error(req, 401, "unauthorized", "a user and "
			    "password of [http] users_file are needed");
			return;
		}
	}
	/* Paths are matched as sent: no percent-decoding, no dot segments,
	 * so /api/jobs/%2e%2e or /api//stats simply match nothing. */
	if (path == NULL || path[0] != '/' ||
	    (rt = route_match(path, seg)) == NULL) {
		http_send_error(req, 404, "not_found", "no such page");
		return;
	}
	if (!(rt->methods & (unsigned)cmd)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", (rt->methods & EVHTTP_REQ_POST) ? "POST" :
		    (rt->methods & EVHTTP_REQ_HEAD) ? "GET, HEAD" : "GET");
		http_send_error(req, 405, "method_not_allowed", "method not "
		    "allowed here");
		return;
	}
	if (rt->op != NULL) {
		if (h.cfg->http_read_only)
			why = "the dashboard is read-only ([http] read_only)";
		else if ((why = cross_site(req)) != NULL)
			;
		else if (role != HTTP_ROLE_ADMIN)
			why = "actions need a user of role admin";
		if (why != NULL) {
			http_send_error(req, 403, "forbidden", why);
			return;
		}
	}
	if ((hr = calloc(1, sizeof(*hr))) == NULL) {
		http_send_error(req, 500, "internal", "out of memory");
		return;
	}
	hr->req = req;
	hr->rt = rt;
	hr->head = cmd == EVHTTP_REQ_HEAD;
	snprintf(hr->user, sizeof(hr->user), "%s", user);
	rt->handle(hr, seg);
}

/* --- the process ------------------------------------------------------------ */

/* term_cb: SIGTERM or SIGINT, read from a signalfd: libevent's own
 * signal handling still belongs to the master's base we inherited. */
static void
term_cb(evutil_socket_t fd, short what, void *arg)
{
	struct signalfd_siginfo si;

	(void)what; (void)arg;
	if (read(fd, &si, sizeof(si)) > 0)
		event_base_loopexit(h.base, NULL);
}

/* accept_error_cb: out of descriptors (the connection cap): stop accepting
 * for a moment rather than spin on a pending connection. */
static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	evconnlistener_enable(arg);
}

static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct timeval tv = { 0, 100000 };
	int err = EVUTIL_SOCKET_ERROR();

	(void)arg;
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		evconnlistener_disable(l);
		event_base_once(h.base, -1, EV_TIMEOUT, resume_cb, l, &tv);
		return;
	}
	log_warnx("accept: %s", strerror(err));
}

/* open_fds: descriptors open now (not counting the one that reads them). */
static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 16;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

int
http_main(const struct config *cfg, int fd)
{
	struct evhttp_bound_socket *bound;
	struct event *ev_term;
	struct rlimit rl;
	struct timeval tv;
	sigset_t stop, rest;
	int rc = 0, sfd;

	log_set_role("http");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	memset(&h, 0, sizeof(h));
	h.cfg = cfg;
	TAILQ_INIT(&h.up.calls);
	TAILQ_INIT(&h.actions);
	h.up.timeout = UP_TIMEOUT;
	h.base = event_base_new();
	h.http = h.base != NULL ? evhttp_new(h.base) : NULL;
	if (h.http == NULL) {
		log_warnx("cannot set up the server");
		return 1;
	}
	/* Signals came blocked across fork: TERM and INT stay so, for the
	 * signalfd; the rest get their default action back. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigfillset(&rest);
	sigdelset(&rest, SIGTERM);
	sigdelset(&rest, SIGINT);
	signal(SIGCHLD, SIG_DFL);
	log_reopen_on_signal();  /* not the master's libevent handler */
	sigprocmask(SIG_UNBLOCK, &rest, NULL);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
	ev_term = sfd >= 0 ? event_new(h.base, sfd, EV_READ | EV_PERSIST,
	    term_cb, NULL) : NULL;
	if (ev_term == NULL) {
		log_warn("signalfd");
		return 1;
	}
	event_add(ev_term, NULL);
	evhttp_set_max_headers_size(h.http, (ev_ssize_t)cfg->http_max_header_size);
	evhttp_set_max_body_size(h.http, (ev_ssize_t)cfg->http_max_body_size);
	tv.tv_sec = (time_t)cfg->http_request_timeout;
	tv.tv_usec = (suseconds_t)((cfg->http_request_timeout -
	    (double)tv.tv_sec) * 1e6);
	evhttp_set_timeout_tv(h.http, &tv);
	/* Every method reaches gen_cb, which answers 405 itself. */
	evhttp_set_allowed_methods(h.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(h.http, gen_cb, NULL);
	bound = evhttp_accept_socket_with_handle(h.http, fd);
	if (bound == NULL) {
		log_warnx("cannot serve the listening socket");
		rc = 1;
		goto out;
	}
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(bound),
	    accept_error_cb);
	h.ev_tick = event_new(h.base, -1, EV_PERSIST, tick_cb, NULL);
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	event_add(h.ev_tick, &tv);
	(void)up_connect(&h.up);
	events_init(h.base, cfg);
	if (cfg->http_auth == HTTP_AUTH_BASIC)
		log_info("basic authentication: %d users from %s",
		    cfg->http_users->n, cfg->http_users_file);
	else
		log_info("no authentication ([http] auth = none): whoever "
		    "reaches the address sees the jobs%s",
		    cfg->http_read_only ? "" : " and may act on them");
	if (cfg->http_users != NULL && cfg->http_users->others_can_read)
		log_warnx("%s is readable by others (mode %04o): chmod o-r "
		    "it", cfg->http_users_file, (unsigned)cfg->http_users->mode);
	/* The connection cap: every connection is a descriptor, and what is
	 * open now stays so (the link to the master, counted even when not
	 * up yet, is closed before it is opened again). */
	rl.rlim_cur = rl.rlim_max = (rlim_t)(open_fds() + (h.up.bev == NULL) +
	    cfg->http_max_connections);
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("cannot cap connections (RLIMIT_NOFILE)");
	log_info("serving on the listening socket (pid %d)", (int)getpid());
	if (event_base_dispatch(h.base) == -1)
		rc = 1;
	log_info("stopped");
out:
	events_fini();
	while (!TAILQ_EMPTY(&h.actions))
		up_drop(TAILQ_FIRST(&h.actions), "shutting down");
	up_drop(&h.up, "shutting down");
	http_auth_free();
	if (h.ev_tick != NULL)
		event_free(h.ev_tick);
	event_free(ev_term);
	close(sfd);
	evhttp_free(h.http);
	event_base_free(h.base);
	return rc;
}
