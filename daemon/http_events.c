/*
 * http_events.c: GET /events, the live updates of the dashboard
 * (docs/monitoring.md, "Live updates"): a text/event-stream per client.
 *
 * One tick a second runs while at least one stream is open.  It asks the
 * master for stats once, whatever the number of streams (and not again
 * while that call is unanswered), and sends "event: stats" with the same
 * JSON as GET /api/stats to each stream whose last event differs.  A
 * stream idle for EV_KEEPALIVE seconds gets a comment, so that proxies
 * keep it and a client gone is noticed when the write fails.
 *
 * Bounds: [http] max_streams streams (past it 503); [http] stream_buffer
 * unsent bytes per stream, in our buffer (a reader that does not read:
 * the stream is closed), the socket's send buffer set to the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "http_child.h"
#include "log.h"

#define EV_TICK      1.0    /* s between stats calls */
#define EV_KEEPALIVE 15.0   /* s of silence before a comment */
#define EV_READ_MAX  4096   /* bytes a client may send on a stream */
#define EV_PREFIX    "event: stats\ndata: "
#define EV_PREFIX_LEN (sizeof(EV_PREFIX) - 1)

struct stream {
	TAILQ_ENTRY(stream) link;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	unsigned long gen;       /* of the last event sent; 0: none */
	double last_write;
	int dropping;            /* we are closing it ourselves */
};

static struct {
	struct event_base *base;
	const struct config *cfg;
	struct event *tick;
	TAILQ_HEAD(, stream) streams;
	int n;
	int asking;              /* a stats call is unanswered */
	char *event;             /* "event: stats\ndata: ...\n\n" */
	size_t event_len;
	unsigned long gen;       /* changes with event */
} ev;

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
stream_free(struct stream *s)
{
	TAILQ_REMOVE(&ev.streams, s, link);
	ev.n--;
	free(s);
	if (ev.n == 0) {          /* no one to tell: stop, forget */
		evtimer_del(ev.tick);
		free(ev.event);
		ev.event = NULL;
		ev.event_len = 0;
	}
}

/* closed_cb: the connection is going away.  When libevent found it dead
 * the request was handed back to us (no connection): ending it frees it.
 * When we close it (drop), libevent frees the request itself. */
static void
closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct stream *s = arg;

	(void)evcon;
	if (!s->dropping && evhttp_request_get_connection(s->req) == NULL)
		evhttp_send_reply_end(s->req);
	stream_free(s);
}

static void
drop(struct stream *s, const char *why)
{
	log_info("events: closing a stream: %s", why);
	s->dropping = 1;
	evhttp_connection_free(s->evcon);     /* calls closed_cb */
}

/* put: text onto s; dropped when its unsent output is over the bound.
 * Returns 0, or -1 when s is gone. */
static int
put(struct stream *s, const char *text, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);

	if (b == NULL || evbuffer_add(b, text, len) == -1) {
		evbuffer_free(b);
		drop(s, "out of memory");
		return -1;
	}
	evhttp_send_reply_chunk(s->req, b);
	evbuffer_free(b);
	s->last_write = now();
	if (bev != NULL && evbuffer_get_length(bufferevent_get_output(bev)) >
	    ev.cfg->http_stream_buffer) {
		drop(s, "its reader fell behind ([http] stream_buffer)");
		return -1;
	}
	return 0;
}

/* fan_out: the latest event to every stream that has not had it; a
 * comment to those silent too long. */
static void
fan_out(void)
{
	struct stream *s, *next;
	double t = now();

	for (s = TAILQ_FIRST(&ev.streams); s != NULL; s = next) {
		next = TAILQ_NEXT(s, link);
		if (ev.event != NULL && s->gen != ev.gen) {
			if (put(s, ev.event, ev.event_len) == 0)
				s->gen = ev.gen;
		} else if (t - s->last_write >= EV_KEEPALIVE) {
			(void)put(s, ": keepalive\n\n", 13);
		}
	}
}

static void
stats_done(void *arg, json_t *resp, const char *why)
{
	char *text;
	size_t len;

	(void)arg;
	ev.asking = 0;
	if (resp == NULL || !json_is_true(json_object_get(resp, "ok"))) {
		/* no event: the page shows the last, and keepalives go on */
		log_debug("events: no stats: %s", resp == NULL ? why :
		    json_string_value(json_object_get(json_object_get(resp,
		    "error"), "message")));
		fan_out();
		return;
	}
	json_object_del(resp, "ok");
	json_object_del(resp, "id");
	/* the body of GET /api/stats, compact: one data line */
	if ((text = json_dumps(resp, JSON_COMPACT)) == NULL)
		return;
	len = strlen(text);
	if (ev.event == NULL || ev.event_len != EV_PREFIX_LEN + len + 2 ||
	    memcmp(ev.event + EV_PREFIX_LEN, text, len) != 0) {
		free(ev.event);
		ev.event_len = EV_PREFIX_LEN + len + 2;
		if ((ev.event = malloc(ev.event_len + 1)) == NULL) {
			ev.event_len = 0;
			free(text);
			return;
		}
		snprintf(ev.event, ev.event_len + 1, EV_PREFIX "%s\n\n", text);
		ev.gen++;
	}
	free(text);
	fan_out();
}

static void
ask(void)
{
	json_t *r;

	if (ev.asking)
		return;
	r = json_pack("{s:s}", "op", "stats");
	ev.asking = 1;
	http_up_call(r, stats_done, NULL);
	json_decref(r);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	ask();
}

void
events_open(struct evhttp_request *req)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon != NULL ?
	    evhttp_connection_get_bufferevent(evcon) : NULL;
	struct timeval tv = { (time_t)EV_TICK, 0 };
	struct stream *s;
	char msg[120];
	int sz;

	if (ev.n >= ev.cfg->http_max_streams) {
		snprintf(msg, sizeof(msg), "too many event streams open "
		    "([http] max_streams = %d)", ev.cfg->http_max_streams);
		http_send_error(req, 503, "busy", msg);
		return;
	}
	if (evcon == NULL || (s = calloc(1, sizeof(*s))) == NULL) {
		http_send_error(req, 500, "internal", "out of memory");
		return;
	}
	s->req = req;
	s->evcon = evcon;
	s->last_write = now();
	/* what the kernel holds for a reader that does not read, bounded
	 * like our own buffer */
	sz = ev.cfg->http_stream_buffer > (size_t)(1 << 30) ? 1 << 30 :
	    (int)ev.cfg->http_stream_buffer;
	if (bev != NULL)
		(void)setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_SNDBUF,
		    &sz, sizeof(sz));
	/* A stream only writes: no read timeout (libevent reads only to
	 * see a close, and stops past EV_READ_MAX bytes); a write that does
	 * not progress for request_timeout still fails it. */
	if (bev != NULL) {
		struct timeval wt;

		wt.tv_sec = (time_t)ev.cfg->http_request_timeout;
		wt.tv_usec = (suseconds_t)((ev.cfg->http_request_timeout -
		    (double)wt.tv_sec) * 1e6);
		bufferevent_set_timeouts(bev, NULL, &wt);
		bufferevent_setwatermark(bev, EV_READ, 0, EV_READ_MAX);
	}
	evhttp_connection_set_closecb(evcon, closed_cb, s);
	TAILQ_INSERT_TAIL(&ev.streams, s, link);
	ev.n++;
	evhttp_add_header(out, "Content-Type", "text/event-stream");
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(req, 200, "OK");
	if (put(s, "retry: 2000\n\n", 13) == -1)
		return;
	if (ev.event != NULL) {          /* what others have, at once */
		if (put(s, ev.event, ev.event_len) == 0)
			s->gen = ev.gen;
	}
	if (ev.n == 1) {
		evtimer_add(ev.tick, &tv);
		ask();
	}
}

int
events_abort(struct evhttp_request *req)
{
	struct stream *s;

	TAILQ_FOREACH(s, &ev.streams, link)
		if (s->req == req) {
			drop(s, "the connection failed");
			return 1;
		}
	return 0;
}

void
events_init(struct event_base *base, const struct config *cfg)
{
	memset(&ev, 0, sizeof(ev));
	ev.base = base;
	ev.cfg = cfg;
	TAILQ_INIT(&ev.streams);
	ev.tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
}

void
events_fini(void)
{
	struct stream *s;

	while ((s = TAILQ_FIRST(&ev.streams)) != NULL)
		drop(s, "shutting down");
	if (ev.tick != NULL)
		event_free(ev.tick);
	free(ev.event);
	memset(&ev, 0, sizeof(ev));
}
