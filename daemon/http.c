/*
 * http.c: the HTTP child: evhttp on the socket the master opened, a table
 * of routes, and one pipelined protocol connection to the master through
 * which every route asks (see http.h, docs/monitoring.md).
 *
 * Bounds: evhttp's header and body sizes and its timeout (a client that
 * sends its request slowly, or idles, is closed after request_timeout);
 * connections by RLIMIT_NOFILE (past the cap the kernel's backlog holds new
 * ones until a slot frees, and accept() never spins); calls in flight to
 * the master (past UP_MAX_PENDING: 503); a master that stops answering
 * (UP_TIMEOUT: 503 and a new connection).
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

#include "frame.h"
#include "http.h"
#include "http_metrics.h"
#include "http_static.h"
#include "log.h"
#include "proto.h"

#define UP_MAX_PENDING  256     /* calls in flight to the master */
#define UP_TIMEOUT      10.0    /* s a call may wait for its answer */
#define UP_RETRY        0.5     /* s between connection attempts */

/* --- the connection to the master ---------------------------------------- */

/* up_cb: the answer to one call: the response object (borrowed), or NULL
 * with why the master could not answer. */
typedef void up_cb(void *arg, json_t *resp, const char *why);

struct up_call {
	TAILQ_ENTRY(up_call) link;
	up_cb *cb;
	void *arg;
	struct timespec sent;
};

static struct {
	struct event_base *base;
	const struct config *cfg;
	struct evhttp *http;
	struct bufferevent *bev;       /* NULL: not connected */
	struct frame_reader *reader;
	TAILQ_HEAD(, up_call) calls;   /* in request order */
	int npending;
	struct event *ev_tick;
	char last_error[200];
} h;

static double
since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* up_drop: the connection is gone or stuck: every call fails with why. */
static void
up_drop(const char *why)
{
	struct up_call *c;

	if (h.bev != NULL) {
		bufferevent_free(h.bev);
		h.bev = NULL;
	}
	frame_reader_free(h.reader);
	h.reader = NULL;
	snprintf(h.last_error, sizeof(h.last_error), "%s", why);
	while ((c = TAILQ_FIRST(&h.calls)) != NULL) {
		TAILQ_REMOVE(&h.calls, c, link);
		h.npending--;
		c->cb(c->arg, NULL, why);
		free(c);
	}
}

static void
up_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	const char *payload;
	size_t len;
	int rc;

	(void)arg;
	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		if (frame_reader_feed(h.reader, v.iov_base, v.iov_len) != FRAME_OK) {
			up_drop("out of memory");
			return;
		}
		evbuffer_drain(in, v.iov_len);
	}
	while ((rc = frame_reader_next(h.reader, &payload, &len)) == FRAME_OK) {
		struct up_call *c = TAILQ_FIRST(&h.calls);
		json_t *resp = json_loadb(payload, len, 0, NULL);

		if (c == NULL || !json_is_object(resp)) {
			json_decref(resp);
			up_drop("the master sent an answer out of turn");
			return;
		}
		TAILQ_REMOVE(&h.calls, c, link);
		h.npending--;
		c->cb(c->arg, resp, NULL);
		json_decref(resp);
		free(c);
		if (h.reader == NULL)   /* a callback dropped the link */
			return;
	}
	if (rc != FRAME_NEED_MORE)
		up_drop("bad frame from the master");
}

static void
up_event_cb(struct bufferevent *bev, short what, void *arg)
{
	char why[160];

	(void)bev; (void)arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	snprintf(why, sizeof(why), "connection to the jobd master lost%s%s",
	    (what & BEV_EVENT_ERROR) && errno ? ": " : "",
	    (what & BEV_EVENT_ERROR) && errno ? strerror(errno) : "");
	log_info("%s", why);
	up_drop(why);
}

/* up_connect: a new connection to the master's socket; 0 or -1. */
static int
up_connect(void)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", h.cfg->socket);
	h.reader = frame_reader_new(h.cfg->max_frame);
	h.bev = bufferevent_socket_new(h.base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (h.reader == NULL || h.bev == NULL) {
		up_drop("out of memory");
		return -1;
	}
	bufferevent_setcb(h.bev, up_read_cb, NULL, up_event_cb, NULL);
	if (bufferevent_socket_connect(h.bev, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1) {
		char why[200];

		snprintf(why, sizeof(why), "cannot connect to the jobd master "
		    "at %s: %s", h.cfg->socket, strerror(errno));
		up_drop(why);
		return -1;
	}
	bufferevent_enable(h.bev, EV_READ | EV_WRITE);
	return 0;
}

/* up_call: send req (not stolen) to the master; cb runs once, maybe now. */
static void
up_call(json_t *req, up_cb *cb, void *arg)
{
	struct up_call *c;
	char *text;
	uint8_t hdr[FRAME_HEADER_LEN];

	if (h.npending >= UP_MAX_PENDING) {
		cb(arg, NULL, "too many requests in flight to the jobd master");
		return;
	}
	if (h.bev == NULL && up_connect() == -1) {
		cb(arg, NULL, h.last_error);
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
	bufferevent_write(h.bev, hdr, sizeof(hdr));
	bufferevent_write(h.bev, text, strlen(text));
	free(text);
	c->cb = cb;
	c->arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &c->sent);
	TAILQ_INSERT_TAIL(&h.calls, c, link);
	h.npending++;
}

/* tick_cb: a master that holds the oldest call too long is stuck for us:
 * fail what waits and start over on a new connection. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct up_call *c = TAILQ_FIRST(&h.calls);

	(void)fd; (void)what; (void)arg;
	if (c != NULL && since(&c->sent) > UP_TIMEOUT) {
		log_warnx("the jobd master did not answer in %.0f s",
		    UP_TIMEOUT);
		up_drop("the jobd master did not answer in time");
	}
}

/* --- answering ------------------------------------------------------------ */

/* A request being answered, with what its handler asked of the master. */
struct hreq {
	struct evhttp_request *req;
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
		{ 200, "OK" }, { 400, "Bad Request" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 409, "Conflict" }, { 500, "Internal Server Error" },
		{ 503, "Service Unavailable" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].code == code)
			return t[i].reason;
	return "Error";
}

/* send_json: obj (stolen) as the body. */
static void
send_json(struct evhttp_request *req, int code, json_t *obj)
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

static void
send_error(struct evhttp_request *req, int code, const char *ecode,
    const char *msg)
{
	send_json(req, code, json_pack("{s:{s:s,s:s}}", "error", "code", ecode,
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
		{ "unavailable", 503 }, { "busy", 503 }, { "in_doubt", 503 },
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
		send_error(hr->req, 503, "unavailable", hr->why);
	else
		send_error(hr->req, status_of(code), code ? code : "internal",
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
		up_call(reqs[i], part_done, hr);
		json_decref(reqs[i]);
	}
}

/* --- routes ----------------------------------------------------------------- */

static void
health_done(struct hreq *hr)
{
	json_t *resp = hr->parts[0];

	if (resp_ok(resp)) {
		send_json(hr->req, 200, json_pack("{s:s}", "status", "ok"));
		return;
	}
	send_json(hr->req, 503, json_pack("{s:s,s:s}", "status", "unavailable",
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
		send_json(hr->req, 200, json_incref(hr->parts[0]));
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
		send_error(hr->req, 400, "bad_request", "malformed query string");
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
	send_error(hr->req, 400, "bad_request", msg);
	hreq_free(hr);
}

static void
route_job(struct hreq *hr, const char *id)
{
	json_t *r = json_pack("{s:s,s:s}", "op", "get", "job_id", id);

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
		send_error(hr->req, 500, "internal", "out of memory");
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
		send_error(hr->req, 404, "not_found", "no such page");
	hreq_free(hr);
}

#define GET_HEAD (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)

/*
 * The routes: a path, exact or ending in a "*" segment (one segment of
 * job-id characters, handed to the handler), the methods it answers and
 * whether it needs an admin (the actions to come; none yet).  A path that matches
 * with another method gets 405; no match, 404.
 */
static const struct route {
	const char *path;
	unsigned methods;
	int admin;
	void (*handle)(struct hreq *hr, const char *arg);
} routes[] = {
	{ "/",             GET_HEAD, 0, route_page },
	{ "/dashboard.css", GET_HEAD, 0, route_page },
	{ "/dashboard.js", GET_HEAD, 0, route_page },
	{ "/favicon.svg",  GET_HEAD, 0, route_page },
	{ "/healthz",      GET_HEAD, 0, route_healthz },
	{ "/metrics",      GET_HEAD, 0, route_metrics },
	{ "/api/stats",    GET_HEAD, 0, route_stats },
	{ "/api/jobs",     GET_HEAD, 0, route_jobs },
	{ "/api/jobs/*",   GET_HEAD, 0, route_job },
};

/* segment_ok: a job id as the protocol allows it (docs/protocol.md). */
static int
segment_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 128 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_.:-") == n &&
	    strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* route_match: the route for path, with the "*" segment in *arg. */
static const struct route *
route_match(const char *path, const char **arg)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *p = routes[i].path;
		size_t n = strlen(p);

		*arg = NULL;
		if (n >= 2 && strcmp(p + n - 2, "/*") == 0) {
			if (strncmp(path, p, n - 1) == 0 &&
			    segment_ok(path + n - 1)) {
				*arg = path + n - 1;
				return &routes[i];
			}
		} else if (strcmp(path, p) == 0) {
			return &routes[i];
		}
	}
	return NULL;
}

static void
gen_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct route *rt;
	const char *seg;
	struct hreq *hr;

	(void)arg;
	/* Paths are matched as sent: no percent-decoding, no dot segments,
	 * so /api/jobs/%2e%2e or /api//stats simply match nothing. */
	if (path == NULL || path[0] != '/' ||
	    (rt = route_match(path, &seg)) == NULL) {
		send_error(req, 404, "not_found", "no such page");
		return;
	}
	if (!(rt->methods & (unsigned)cmd)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", (rt->methods & EVHTTP_REQ_POST) ? "POST" :
		    "GET, HEAD");
		send_error(req, 405, "method_not_allowed", "method not "
		    "allowed here");
		return;
	}
	if ((hr = calloc(1, sizeof(*hr))) == NULL) {
		send_error(req, 500, "internal", "out of memory");
		return;
	}
	hr->req = req;
	hr->head = cmd == EVHTTP_REQ_HEAD;
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
	TAILQ_INIT(&h.calls);
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
	(void)up_connect();
	/* The connection cap: every connection is a descriptor, and what is
	 * open now stays so (the link to the master, counted even when not
	 * up yet, is closed before it is opened again). */
	rl.rlim_cur = rl.rlim_max = (rlim_t)(open_fds() + (h.bev == NULL) +
	    cfg->http_max_connections);
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("cannot cap connections (RLIMIT_NOFILE)");
	log_info("serving on the listening socket (pid %d)", (int)getpid());
	if (event_base_dispatch(h.base) == -1)
		rc = 1;
	log_info("stopped");
out:
	up_drop("shutting down");
	if (h.ev_tick != NULL)
		event_free(h.ev_tick);
	event_free(ev_term);
	close(sfd);
	evhttp_free(h.http);
	event_base_free(h.base);
	return rc;
}
