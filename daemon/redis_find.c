/*
 * redis_find.c: asynchronous discovery and the Sentinel watch
 * (redis_find.h).  Each step's connection is freed from the loop, never
 * from inside one of its own hiredis callbacks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "redis_find.h"
#include "redis_loop.h"
#include "redis_route.h"

#define NODE_TIMEOUT_MS 1000    /* for one node to answer */
#define WATCH_RETRY_MS  1000    /* before the watch tries the next node */

/* A copy of what the nodes need of the URL: no credentials kept in two
 * places longer than needed. */
struct nodes {
	struct redis_url u;
	int next;               /* the node to ask next */
};

/* open_node: connect to node i of u, AUTH with the credentials for it. */
static redisAsyncContext *
open_node(struct event_base *base, const struct redis_url *u, int i,
          void *data, redisCallbackFn *on_auth, redisConnectCallback *on_conn,
          redisDisconnectCallback *on_disc)
{
	const struct redis_node *nd = &u->nodes[i];
	const char *user = u->kind == REDIS_URL_SENTINEL ? u->sentinel_user :
	    u->user;
	const char *pw = u->kind == REDIS_URL_SENTINEL ? u->sentinel_password :
	    u->password;
	redisAsyncContext *ac = redisAsyncConnect(nd->host, nd->port);

	if (ac == NULL)
		return NULL;
	if (ac->err || redis_loop_attach(ac, base) != 0) {
		redisAsyncFree(ac);
		return NULL;
	}
	ac->data = data;
	redisAsyncSetConnectCallback(ac, on_conn);
	redisAsyncSetDisconnectCallback(ac, on_disc);
	if (pw[0] != '\0' && (user[0] != '\0' ?
	    redisAsyncCommand(ac, on_auth, data, "AUTH %s %s", user, pw) :
	    redisAsyncCommand(ac, on_auth, data, "AUTH %s", pw)) != REDIS_OK) {
		redisAsyncFree(ac);
		return NULL;
	}
	return ac;
}

/* drop: free *acp's link, set to NULL first: its callbacks, called with
 * NULL replies while it is freed, see that it is no longer theirs. */
static void
drop(redisAsyncContext **acp)
{
	redisAsyncContext *ac = *acp;

	*acp = NULL;
	if (ac != NULL)
		redisAsyncFree(ac);
}

/* --- discovery ----------------------------------------------------------- */

struct redis_find {
	struct event_base *base;
	struct nodes n;
	unsigned slot;
	redis_find_cb *cb;
	void *arg;
	redisAsyncContext *ac;  /* asking node n.next - 1 */
	int state;              /* 0 asking, 1 found, -1 this node failed */
	struct event *ev_step;  /* the answer is in, or the node failed */
	struct event *ev_timeout;
	char host[256];
	int port;
	char why[1024];         /* which server was sought, what each node said */
	size_t whylen;
	int nwhy;               /* nodes in why */
};

/* find_done: node n.next - 1 answered (state 1) or failed (-1, what
 * says why): go on from the loop. */
static void
find_done(struct redis_find *f, int state, const char *what)
{
	const struct redis_node *nd = &f->n.u.nodes[f->n.next - 1];

	if (f->state != 0)
		return;
	f->state = state;
	if (state < 0 && f->whylen < sizeof(f->why))
		f->whylen += (size_t)snprintf(f->why + f->whylen,
		    sizeof(f->why) - f->whylen, "%s %s:%d: %s",
		    f->nwhy++ ? ";" : "", nd->host, nd->port, what);
	event_active(f->ev_step, EV_TIMEOUT, 0);
}

static void
find_reply(redisAsyncContext *ac, void *r_, void *priv)
{
	struct redis_find *f = priv;
	const struct redis_node *nd = &f->n.u.nodes[f->n.next - 1];
	char why[200];
	int rc;

	if (ac != f->ac)
		return;
	if (r_ == NULL) {
		find_done(f, -1, ac->errstr[0] ? ac->errstr : "connection lost");
		return;
	}
	if (f->n.u.kind == REDIS_URL_SENTINEL)
		rc = redis_route_master_reply(r_, f->host, sizeof(f->host),
		                              &f->port, why, sizeof(why));
	else
		rc = redis_route_slots_reply(r_, f->slot, nd->host, f->host,
		                             sizeof(f->host), &f->port, why,
		                             sizeof(why));
	find_done(f, rc == 0 ? 1 : -1, why);
}

static void
find_auth(redisAsyncContext *ac, void *r_, void *priv)
{
	struct redis_find *f = priv;
	const redisReply *r = r_;
	char why[200];

	if (ac != f->ac || r == NULL || r->type != REDIS_REPLY_ERROR)
		return;
	snprintf(why, sizeof(why), "authentication failed: %.150s", r->str);
	find_done(f, -1, why);
}

static void
find_connected(const redisAsyncContext *ac, int status)
{
	struct redis_find *f = ac->data;

	if (ac != f->ac || status == REDIS_OK)
		return;
	f->ac = NULL;           /* hiredis frees it */
	find_done(f, -1, ac->errstr);
}

static void
find_disconnected(const redisAsyncContext *ac, int status)
{
	struct redis_find *f = ac->data;

	(void)status;
	if (ac != f->ac)
		return;
	f->ac = NULL;           /* hiredis frees it */
	find_done(f, -1, "connection closed");
}

/* find_ask: ask the next node, or give up. */
static void
find_ask(struct redis_find *f)
{
	struct timeval tv = { 0, NODE_TIMEOUT_MS * 1000 };
	int i;

	while ((i = f->n.next++) < f->n.u.nnodes) {
		f->state = 0;
		f->ac = open_node(f->base, &f->n.u, i, f, find_auth,
		                  find_connected, find_disconnected);
		if (f->ac == NULL) {
			find_done(f, -1, "cannot connect (out of memory?)");
			return;
		}
		if ((f->n.u.kind == REDIS_URL_SENTINEL ?
		    redisAsyncCommand(f->ac, find_reply, f, "SENTINEL "
		                      "get-master-addr-by-name %s",
		                      f->n.u.master) :
		    redisAsyncCommand(f->ac, find_reply, f, "CLUSTER SLOTS")) !=
		    REDIS_OK) {
			find_done(f, -1, "cannot send the question");
			return;
		}
		evtimer_add(f->ev_timeout, &tv);
		return;
	}
	redis_url_clear(&f->n.u);
	f->cb(f->arg, NULL, 0, f->why);
}

/* find_step: from the loop: free the last node's link, then answer or ask
 * the next node. */
static void
find_step(evutil_socket_t fd, short what, void *arg)
{
	struct redis_find *f = arg;

	(void)fd;
	(void)what;
	evtimer_del(f->ev_timeout);
	drop(&f->ac);
	if (f->state == 1) {
		redis_url_clear(&f->n.u);
		f->cb(f->arg, f->host, f->port, NULL);
		return;
	}
	find_ask(f);
}

static void
find_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	find_done(arg, -1, "no answer in time");
}

struct redis_find *
redis_find_start(struct event_base *base, const struct redis_url *u,
                 unsigned slot, redis_find_cb *cb, void *arg)
{
	struct redis_find *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->base = base;
	f->n.u = *u;
	f->slot = slot;
	f->cb = cb;
	f->arg = arg;
	/* as redis_route_find words it: what was sought, then each node */
	f->whylen = (size_t)redis_route_sought(u, slot, f->why,
	                                       sizeof(f->why));
	f->ev_step = event_new(base, -1, 0, find_step, f);
	f->ev_timeout = evtimer_new(base, find_timeout, f);
	if (f->ev_step == NULL || f->ev_timeout == NULL) {
		redis_find_free(f);
		return NULL;
	}
	/* From the loop: cb never runs inside the caller's call. */
	f->state = -1;
	event_active(f->ev_step, EV_TIMEOUT, 0);
	return f;
}

void
redis_find_free(struct redis_find *f)
{
	if (f == NULL)
		return;
	drop(&f->ac);
	if (f->ev_step)
		event_free(f->ev_step);
	if (f->ev_timeout)
		event_free(f->ev_timeout);
	redis_url_clear(&f->n.u);
	free(f);
}

/* --- the Sentinel watch -------------------------------------------------- */

struct redis_watch {
	struct event_base *base;
	struct nodes n;
	redis_watch_cb *cb;
	void *arg;
	redisAsyncContext *ac;  /* subscribed on node n.next - 1 */
	struct event *ev_retry; /* frees a lost link, subscribes again */
};

static void
watch_lost(struct redis_watch *w, int freed)
{
	struct timeval tv = { 0, WATCH_RETRY_MS * 1000 };

	if (freed)
		w->ac = NULL;
	evtimer_add(w->ev_retry, &tv);
}

static void
watch_msg(redisAsyncContext *ac, void *r_, void *priv)
{
	struct redis_watch *w = priv;
	const redisReply *r = r_, *text;
	char host[256];
	int port;

	if (ac != w->ac)
		return;
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		watch_lost(w, 0);       /* refused (auth?): the next node */
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(r->element[0]->str, "message") != 0)
		return;
	text = r->element[2];
	if (text->type == REDIS_REPLY_STRING &&
	    redis_route_switch_msg(text->str, text->len, w->n.u.master, host,
	                           sizeof(host), &port))
		w->cb(w->arg, host, port);
}

static void
watch_auth(redisAsyncContext *ac, void *r_, void *priv)
{
	struct redis_watch *w = priv;
	const redisReply *r = r_;

	if (ac == w->ac && r != NULL && r->type == REDIS_REPLY_ERROR)
		watch_lost(w, 0);
}

static void
watch_connected(const redisAsyncContext *ac, int status)
{
	struct redis_watch *w = ac->data;

	if (ac == w->ac && status != REDIS_OK)
		watch_lost(w, 1);       /* hiredis frees it */
}

static void
watch_disconnected(const redisAsyncContext *ac, int status)
{
	struct redis_watch *w = ac->data;

	(void)status;
	if (ac == w->ac)
		watch_lost(w, 1);
}

/* watch_retry: from the loop: drop the old link, subscribe on the next
 * Sentinel (round and round). */
static void
watch_retry(evutil_socket_t fd, short what, void *arg)
{
	struct redis_watch *w = arg;
	int i;

	(void)fd;
	(void)what;
	drop(&w->ac);
	i = w->n.next++ % w->n.u.nnodes;
	w->ac = open_node(w->base, &w->n.u, i, w, watch_auth, watch_connected,
	                  watch_disconnected);
	if (w->ac == NULL || redisAsyncCommand(w->ac, watch_msg, w,
	    "SUBSCRIBE +switch-master") != REDIS_OK)
		watch_lost(w, 0);
}

struct redis_watch *
redis_watch_start(struct event_base *base, const struct redis_url *u,
                  redis_watch_cb *cb, void *arg)
{
	struct redis_watch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->base = base;
	w->n.u = *u;
	w->cb = cb;
	w->arg = arg;
	if ((w->ev_retry = evtimer_new(base, watch_retry, w)) == NULL) {
		redis_watch_free(w);
		return NULL;
	}
	event_active(w->ev_retry, EV_TIMEOUT, 0);
	return w;
}

void
redis_watch_free(struct redis_watch *w)
{
	if (w == NULL)
		return;
	drop(&w->ac);
	if (w->ev_retry)
		event_free(w->ev_retry);
	redis_url_clear(&w->n.u);
	free(w);
}
