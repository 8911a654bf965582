/*
 * conn.c: the listening socket and client connections; see conn.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "conn.h"
#include "frame.h"
#include "log.h"
#include "ops.h"
#include "optable.h"
#include "proto.h"
#include "reply.h"

/* Output a client does not read is bounded: past this, stop reading its
 * requests until it catches up. */
#define CONN_MAX_OUTPUT (16u * 1024 * 1024)

/*
 * The memory budget (max_buffered): every connection's partial frame (the
 * reader's buffer, or the length its header announced), its requests
 * parsed and not yet answered (their bytes and a cost per JSON value) and
 * its replies not yet sent are counted in srv->held.  A connection holding
 * at most CONN_SMALL may use the whole budget; one holding more only
 * three quarters of it, so that big frames and unread replies cannot
 * crowd out the small requests of everyone else.  What would go over gets
 * busy: a request, a reply (replaced by the error), or a frame (answered
 * and closed, as its body cannot be skipped).
 */
#define CONN_SMALL      (64u * 1024)
#define COST_REQUEST    512     /* the reply, the request, the tree's root */
#define COST_VALUE      64      /* a decoded JSON value in jansson */
/* A peer with no submit right runs only reading ops, none of which takes
 * a large body: its frames are refused at the header past this. */
#define CONN_OPEN_FRAME (64u * 1024)
/* Above this the staging buffer of replies is given back after use. */
#define STAGED_KEEP     (1024u * 1024)
/* A request whose user's recent replies to its op were larger than this
 * is large: it counts against max_inflight_bytes. */
#define CONN_LARGE_REPLY (64u * 1024)

/*
 * Fair share of Redis.  The master has one pipelined connection to Redis
 * for every client, and Redis answers in order: what one client has in
 * flight is what every other client's request waits behind.  So:
 * - a connection has at most max_inflight requests to Redis in flight;
 *   the next one is parked, and the connection not read, until one of its
 *   own is answered (backpressure: no error);
 * - all connections together have at most max_inflight_total; beyond it,
 *   and whenever some connection already waits, a connection waits in
 *   srv->waiting and gets its turn in order, one request per turn;
 * - the cost of a request is the size its user's replies to that op have
 *   had (learnt from the replies written, per uid, so that new
 *   connections do not start afresh); large requests together are held
 *   to max_inflight_bytes, and while a user's cost for an op is unknown,
 *   one request of theirs of that op is in flight at a time.  A large request
 *   that does not fit lets the ones behind it pass.
 * hello, ping and reload hold no share (op_free).  A wait, or a cancel
 * waiting for its job's end, holds its share only until its look at the
 * job is answered (reply_answered): waits last up to max_wait.
 */
static const unsigned char op_free[OP__COUNT] = {
	[OP_HELLO] = 1, [OP_PING] = 1, [OP_RELOAD] = 1,
};

/* The connections of one uid: max_connections_per_user, and the reply
 * sizes its requests are expected to have. */
struct peer {
	LIST_ENTRY(peer) link;
	long uid;
	int nconns;
	int inflight;              /* its requests in flight, counted */
	int unknown[OP__COUNT];    /* of which with no cost known yet, by op */
	size_t cost[OP__COUNT];    /* reply bytes expected; 0: not known */
};
LIST_HEAD(peer_list, peer);

struct conn {
	struct server *srv;
	LIST_ENTRY(conn) link;
	struct bufferevent *bev;   /* output (and errors while writing) */
	struct event *ev_read;     /* input: read() straight into reader */
	struct frame_reader *reader;
	TAILQ_HEAD(, reply) replies; /* in request order */
	int pending;               /* replies not yet written */
	struct peer *peer;
	struct reply *parked;      /* parsed, waiting for its share of Redis */
	int inflight;              /* its requests to Redis in flight */
	int waiting;               /* in srv->waiting */
	int turn;                  /* may pass the others waiting, once */
	TAILQ_ENTRY(conn) wlink;
	int closing;               /* close once the replies are written */
	int processing;            /* inside conn_process: no re-entry */
	long uid, gid;
	unsigned long serial;      /* for logs */
	/* access: the peer's groups, looked up once when an ACL names a
	 * group; its rights, computed again when the config changes */
	gid_t *groups;
	int ngroups;               /* -1: not looked up yet */
	unsigned long acl_serial;  /* config the rights were computed for */
	int may_submit, may_admin;
	/* memory held, as counted in srv->held (see CONN_SMALL) */
	size_t held_in;            /* reader: allocated, or announced */
	size_t held_out;           /* output not yet sent */
	size_t held_req;           /* replies' charges (parsed, unsent) */
	struct evbuffer_cb_entry *out_cb;
	int reading;               /* ev_read is added */
	double partial_since;      /* a partial frame began, or 0 */
	double active_at;          /* last read or reply */
};
LIST_HEAD(conn_list, conn);

struct server {
	struct event_base *base;
	const struct config *cfg;
	struct evconnlistener *listener;
	char *socket_path;         /* the file we bound, to unlink */
	struct conn_list conns;
	int nconns;
	unsigned long serial;
	size_t held;               /* bytes all connections hold */
	size_t held_peak;          /* since the last malloc_trim */
	struct event *sweep;       /* frame and idle deadlines */
	struct peer_list peers;
	int inflight;              /* requests to Redis in flight, counted */
	size_t inflight_bytes;     /* expected replies of the large ones */
	TAILQ_HEAD(, conn) waiting;/* for their turn, in order */
	int nwaiting;
	int pumping;               /* inside server_pump */
	int closed;                /* server_free ran; orphans keep it */
	struct event *ev_pump;     /* gives turns; activated, never added */
};

static void conn_process(struct conn *c);
static void peer_learn(struct peer *p, enum op op, size_t n);
static void conn_free(struct conn *c);

/* --- the memory budget ------------------------------------------------ */

static double
conn_now(const struct server *srv)
{
	struct timeval tv;

	event_base_gettimeofday_cached(srv->base, &tv);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static size_t
conn_held(const struct conn *c)
{
	return c->held_in + c->held_out + c->held_req;
}

/* conn_charge: one of c's counts (a field of c) becomes now. */
static void
conn_charge(struct conn *c, size_t *count, size_t now)
{
	struct server *srv = c->srv;

	srv->held = srv->held - *count + now;
	*count = now;
	if (srv->held > srv->held_peak)
		srv->held_peak = srv->held;
}

/* conn_budget_allows: c may hold add bytes more (see CONN_SMALL). */
static int
conn_budget_allows(const struct conn *c, size_t add)
{
	size_t max = c->srv->cfg->max_buffered;

	if (conn_held(c) + add > CONN_SMALL)
		max -= max / 4;
	return c->srv->held + add <= max;
}

/* conn_over_budget: the message of a busy error; msg holds it. */
static const char *
conn_over_budget(const struct conn *c, const char *what, size_t n, char *msg,
    size_t len)
{
	snprintf(msg, len, "%s of %zu bytes does not fit in the memory budget "
	    "now (max_buffered %zu, %zu held): retry later", what, n,
	    c->srv->cfg->max_buffered, c->srv->held);
	return msg;
}

/* conn_out_cb: the output buffer grew or drained. */
static void
conn_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn *c = arg;

	(void)buf;
	conn_charge(c, &c->held_out, c->held_out + info->n_added -
	    info->n_deleted);
}

/* --- encoding replies ------------------------------------------------- */

/* Replies ready to go out are encoded here first (one buffer, reused). */
static struct {
	char *data;
	size_t len, cap;
} staged;

static int
staged_reserve(size_t more)
{
	char *nd;
	size_t cap;

	if (staged.len + more <= staged.cap)
		return 0;
	cap = staged.len + more + 4096;
	if ((nd = realloc(staged.data, cap)) == NULL)
		return -1;
	staged.data = nd;
	staged.cap = cap;
	return 0;
}

/* stage_reply: append obj as one frame to the staging buffer. */
static int
stage_reply(json_t *obj)
{
	size_t n, room;

	if (staged_reserve(FRAME_HEADER_LEN + 256) == -1)
		return -1;
	for (;;) {
		room = staged.cap - staged.len - FRAME_HEADER_LEN;
		n = json_dumpb(obj, staged.data + staged.len + FRAME_HEADER_LEN,
		    room, JSON_COMPACT);
		if (n == 0)
			return -1;
		if (n <= room)
			break;
		if (staged_reserve(FRAME_HEADER_LEN + n) == -1)
			return -1;
	}
	frame_header((uint8_t *)staged.data + staged.len, (uint32_t)n);
	staged.len += FRAME_HEADER_LEN + n;
	return 0;
}

/*
 * conn_flush: write every completed reply at the head of the queue.  When
 * nothing is waiting in the output buffer they go straight to the socket in
 * one send: going through the bufferevent would cost two epoll_ctl calls and
 * a loop turn per reply.  What the socket does not take is buffered.
 */
static void
conn_flush(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct reply *r, *next;
	ssize_t sent = 0;

	staged.len = 0;
	/* The next reply is read before this one is freed, not from the head
	 * again: the static analyzer cannot see TAILQ_REMOVE move the head. */
	for (r = TAILQ_FIRST(&c->replies); r != NULL && r->done; r = next) {
		size_t before = staged.len;
		char msg[192];

		next = TAILQ_NEXT(r, link);
		TAILQ_REMOVE(&c->replies, r, link);
		c->pending--;
		if (stage_reply(r->response) == -1)
			log_warnx("client %lu: cannot encode a reply", c->serial);
		/* its charge (a measure of this same reply if it waited) gives
		 * way to the staged bytes */
		conn_charge(c, &c->held_req, c->held_req - r->charge);
		r->charge = 0;
		/* the op's cost is learnt from the reply it made, even shed */
		if (r->learn)
			peer_learn(c->peer, r->share_op, staged.len - before);
		if (staged.len - before > CONN_SMALL &&
		    !conn_budget_allows(c, staged.len)) {
			log_info("client %lu: %s", c->serial, conn_over_budget(c,
			    "a reply", staged.len - before, msg, sizeof(msg)));
			staged.len = before;
			reply_shed(r, PERR_BUSY, msg);
			if (stage_reply(r->response) == -1)
				log_warnx("client %lu: cannot encode a reply",
				    c->serial);
		}
		reply_free(r);
	}
	if (staged.len == 0)
		return;
	if (evbuffer_get_length(out) == 0) {
		sent = send(bufferevent_getfd(c->bev), staged.data, staged.len,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (sent < 0)
			sent = 0;  /* EAGAIN, or an error the bufferevent will see */
	}
	if ((size_t)sent < staged.len &&
	    evbuffer_add(out, staged.data + sent, staged.len - (size_t)sent) == -1)
		log_warnx("client %lu: cannot buffer a reply", c->serial);
	if (staged.cap > STAGED_KEEP) {
		free(staged.data);
		staged.data = NULL;
		staged.len = staged.cap = 0;
	}
}

/* --- the share of Redis ------------------------------------------------ */

static void
peer_maybe_free(struct peer *p)
{
	if (p->nconns == 0 && p->inflight == 0) {
		LIST_REMOVE(p, link);
		free(p);
	}
}

/* peer_get: uid's peer, made if need be; NULL if out of memory. */
static struct peer *
peer_get(struct server *srv, long uid)
{
	struct peer *p;

	LIST_FOREACH(p, &srv->peers, link)
		if (p->uid == uid)
			return p;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->uid = uid;
	LIST_INSERT_HEAD(&srv->peers, p, link);
	return p;
}

/* peer_learn: a reply of n bytes to op: its cost rises at once, and
 * falls by a quarter of the difference per reply. */
static void
peer_learn(struct peer *p, enum op op, size_t n)
{
	size_t *cost = &p->cost[op];

	*cost = n >= *cost ? n : *cost - (*cost - n) / 4;
	if (*cost == 0)
		*cost = 1;
}

static void
server_wake(struct server *srv)
{
	if (srv->nwaiting > 0 && !srv->pumping && srv->ev_pump != NULL)
		event_active(srv->ev_pump, EV_TIMEOUT, 0);
}

/* server_uncharge: r's request to Redis is answered (or its connection is
 * gone and it completed): give its share back. */
static void
server_uncharge(struct server *srv, struct reply *r)
{
	struct peer *p = r->peer;

	r->charged = 0;
	srv->inflight--;
	srv->inflight_bytes -= r->cost > CONN_LARGE_REPLY ? r->cost : 0;
	p->inflight--;
	if (r->cost == 0)
		p->unknown[r->share_op]--;
	peer_maybe_free(p);
	r->peer = NULL;
	server_wake(srv);
}

/* An orphan's call to Redis was answered; it waits on (a wait). */
static void
server_orphan_answered(struct reply *r, void *owner)
{
	if (r->charged)
		server_uncharge(owner, r);
}

/* An orphan (its connection closed) still in flight completed.  After
 * server_free, the last one frees the server. */
static void
server_orphan_done(struct reply *r, void *owner)
{
	struct server *srv = owner;

	if (r->charged)
		server_uncharge(srv, r);
	reply_free(r);
	if (srv->closed && srv->inflight == 0)
		free(srv);
}

enum gate { GATE_OPEN, GATE_OWN, GATE_WAIT };

/* conn_gate: may c send r's request to Redis now?  GATE_OWN: not until
 * one of its own is answered; GATE_WAIT: not until its turn. */
static enum gate
conn_gate(struct conn *c, const struct reply *r)
{
	struct server *srv = c->srv;
	const struct config *cfg = srv->cfg;
	size_t cost = c->peer->cost[r->req.op];

	if (c->inflight >= cfg->max_inflight)
		return GATE_OWN;
	if (srv->nwaiting > 0 && !c->turn)
		return GATE_WAIT;
	if (srv->inflight >= cfg->max_inflight_total)
		return GATE_WAIT;
	if (cost == 0 && c->peer->unknown[r->req.op] > 0)
		return GATE_WAIT;
	if (cost > CONN_LARGE_REPLY && srv->inflight_bytes > 0 &&
	    srv->inflight_bytes + cost > cfg->max_inflight_bytes)
		return GATE_WAIT;
	return GATE_OPEN;
}

/* conn_send: dispatch c's parked request if its share allows, else leave
 * it parked (c then waits for its turn, or for its own replies).  1 if sent. */
static int
conn_send(struct conn *c)
{
	struct server *srv = c->srv;
	struct reply *r = c->parked;

	switch (conn_gate(c, r)) {
	case GATE_OWN:
		return 0;
	case GATE_WAIT:
		c->turn = 0;
		if (!c->waiting) {
			c->waiting = 1;
			TAILQ_INSERT_TAIL(&srv->waiting, c, wlink);
			srv->nwaiting++;
			server_wake(srv);
		}
		return 0;
	case GATE_OPEN:
		break;
	}
	c->turn = 0;
	c->parked = NULL;
	r->charged = 1;
	r->peer = c->peer;
	r->cost = c->peer->cost[r->req.op];
	c->inflight++;
	c->peer->inflight++;
	r->share_op = r->req.op;
	if (r->cost == 0)
		c->peer->unknown[r->req.op]++;
	srv->inflight++;
	srv->inflight_bytes += r->cost > CONN_LARGE_REPLY ? r->cost : 0;
	ops_dispatch(r);
	return 1;
}

/* server_pump: give each waiting connection a turn, in order, while
 * Redis has room; those that still cannot go wait again at the end. */
static void
server_pump(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct conn *c;
	int n;

	(void)fd; (void)what;
	srv->pumping = 1;
	for (n = srv->nwaiting; n > 0 && srv->inflight <
	    srv->cfg->max_inflight_total; n--) {
		c = TAILQ_FIRST(&srv->waiting);
		TAILQ_REMOVE(&srv->waiting, c, wlink);
		srv->nwaiting--;
		c->waiting = 0;
		c->turn = 1;
		conn_process(c);        /* may free c */
	}
	srv->pumping = 0;
}

/* conn_reply_answered: r's call to Redis is answered, r waits on. */
static void
conn_reply_answered(struct reply *r, void *owner)
{
	struct conn *c = owner;

	if (!r->charged)
		return;
	c->inflight--;
	r->learn = 1;
	server_uncharge(c->srv, r);
	if (!c->processing)
		conn_process(c);
}

/* conn_reply_done: one of c's replies is complete: write what can go. */
static void
conn_reply_done(struct reply *r, void *owner)
{
	struct conn *c = owner;
	char msg[192];
	size_t n;

	if (r->charged) {
		c->inflight--;
		r->learn = 1;
		server_uncharge(c->srv, r);
	}
	c->active_at = conn_now(c->srv);
	/* A reply behind one still in flight (a wait) is held until that
	 * one is answered: counted now, shed if it does not fit. */
	if (r != TAILQ_FIRST(&c->replies)) {
		n = json_dumpb(r->response, NULL, 0, JSON_COMPACT);
		if (n > CONN_SMALL && !conn_budget_allows(c, n)) {
			log_info("client %lu: %s", c->serial, conn_over_budget(c,
			    "a reply", n, msg, sizeof(msg)));
			reply_shed(r, PERR_BUSY, msg);
			conn_charge(c, &c->held_req, c->held_req - r->charge);
			r->charge = COST_REQUEST;
			n = strlen(msg) + 64;
		}
		r->charge += n;
		conn_charge(c, &c->held_req, c->held_req + n);
	}
	conn_flush(c);
	if (!c->processing)
		conn_process(c);
}

/* --- reading requests ------------------------------------------------- */

/* conn_reply_new: a reply queued after c's earlier ones. */
static struct reply *
conn_reply_new(struct conn *c)
{
	struct reply *r = reply_new(conn_reply_done, c, c->uid);

	if (r == NULL)
		return NULL;
	r->on_answered = conn_reply_answered;
	TAILQ_INSERT_TAIL(&c->replies, r, link);
	c->pending++;
	return r;
}

/* conn_fatal: answer a framing error, then close the connection.  Unless
 * called from conn_process, c may be freed on return. */
static void
conn_fatal(struct conn *c, int code, const char *msg)
{
	struct reply *r = conn_reply_new(c);

	c->closing = 1;
	event_del(c->ev_read);
	c->reading = 0;
	if (r != NULL)
		reply_error(r, code, msg, NULL);
	else if (!c->processing)
		conn_process(c);
}

/* conn_groups: the peer's primary gid, and its user's groups (the
 * passwd group and the supplementary ones, getgrouplist), looked up once
 * per connection. */
static void
conn_groups(struct conn *c)
{
	struct passwd *pw;
	gid_t *g;
	int n = 64;

	if (c->ngroups >= 0)
		return;
	c->ngroups = 0;
	if ((c->groups = malloc(sizeof(gid_t))) == NULL)
		return;
	if (c->gid >= 0)
		c->groups[c->ngroups++] = (gid_t)c->gid;
	if (c->uid < 0 || (pw = getpwuid((uid_t)c->uid)) == NULL)
		return;
	for (int tries = 0; tries < 4; tries++) {
		int want;

		if ((g = malloc((size_t)n * sizeof(gid_t))) == NULL)
			return;
		/* g[0] is the peer's gid; the user's groups follow */
		g[0] = c->gid >= 0 ? (gid_t)c->gid : pw->pw_gid;
		want = n - 1;
		if (getgrouplist(pw->pw_name, pw->pw_gid, g + 1, &want) >= 0) {
			free(c->groups);
			c->groups = g;
			c->ngroups = want + 1;
			return;
		}
		want++;
		free(g);
		n = want > n ? want : n * 4;
	}
}

/* conn_rights: compute what the peer may do under the current config. */
static void
conn_rights(struct conn *c)
{
	const struct config *cfg = c->srv->cfg;
	uid_t uid = (uid_t)c->uid;

	if (c->acl_serial == cfg->serial)
		return;
	c->acl_serial = cfg->serial;
	if (c->uid < 0) {           /* unknown peer: open ops only */
		c->may_admin = c->may_submit = 0;
		return;
	}
	if (config_acl_has_groups(&cfg->acl_admin) ||
	    config_acl_has_groups(&cfg->acl_submit))
		conn_groups(c);
	c->may_admin = uid == 0 || uid == geteuid() ||
	    config_acl_allows(&cfg->acl_admin, uid, c->groups,
	    c->ngroups > 0 ? c->ngroups : 0);
	c->may_submit = c->may_admin ||
	    config_acl_allows(&cfg->acl_submit, uid, c->groups,
	    c->ngroups > 0 ? c->ngroups : 0);
}

/* conn_allowed: the peer may run req's op; else answers forbidden. */
static int
conn_allowed(struct conn *c, struct reply *r)
{
	enum op_access a = op_access(r->req.op);
	char msg[128];

	if (a == ACCESS_OPEN)
		return 1;
	conn_rights(c);
	if (a == ACCESS_SUBMIT ? c->may_submit : c->may_admin)
		return 1;
	snprintf(msg, sizeof(msg), "uid %ld may not %s", c->uid,
	    op_name(r->req.op));
	log_info("client %lu: forbidden: %s", c->serial, msg);
	reply_error(r, PERR_FORBIDDEN, msg, NULL);
	return 0;
}

static void
conn_handle_frame(struct conn *c, const char *buf, size_t len)
{
	char err[256];
	struct reply *r = conn_reply_new(c);
	size_t cost;
	int rc;

	if (r == NULL) {
		conn_fatal(c, PERR_INTERNAL, "out of memory");
		return;
	}
	rc = request_parse(buf, len, c->srv->cfg, &r->req, err, sizeof(err));
	/* the request is held until its reply is sent */
	cost = COST_REQUEST + len + r->req.nvalues * COST_VALUE;
	if (rc == PERR_OK && !conn_budget_allows(c, cost)) {
		conn_over_budget(c, "a request", len, err, sizeof(err));
		log_info("client %lu: %s", c->serial, err);
		reply_drop_request(r);
		r->charge = COST_REQUEST;
		conn_charge(c, &c->held_req, c->held_req + r->charge);
		reply_error(r, PERR_BUSY, err, NULL);
		return;
	}
	r->charge = cost;
	conn_charge(c, &c->held_req, c->held_req + cost);
	if (rc != PERR_OK) {
		log_debug("client %lu: %s: %s", c->serial, proto_err_name(rc), err);
		reply_error(r, rc, err, NULL);
		return;
	}
	if (!conn_allowed(c, r))
		return;
	if (op_free[r->req.op])
		ops_dispatch(r);
	else
		c->parked = r;    /* conn_process sends it when its share allows */
}

/*
 * conn_input: after the frames buffered were taken: give back a large
 * buffer, count what the reader holds, refuse before its body is read a
 * frame that the peer's rights or the budget do not allow, and note when
 * a partial frame began (frame_timeout).  took: frames were taken.
 */
static void
conn_input(struct conn *c, int took)
{
	const struct config *cfg = c->srv->cfg;
	size_t n = frame_reader_announced(c->reader), want;
	char msg[256];

	if (frame_reader_capacity(c->reader) > CONN_SMALL)
		frame_reader_shrink(c->reader, CONN_SMALL);
	if (n > CONN_OPEN_FRAME && n <= cfg->max_frame) {
		conn_rights(c);
		if (!c->may_submit) {
			snprintf(msg, sizeof(msg), "frame of %zu bytes: uid %ld "
			    "may only run reading ops, whose frames are at most "
			    "%u bytes", n, c->uid, CONN_OPEN_FRAME);
			log_info("client %lu: %s", c->serial, msg);
			conn_fatal(c, PERR_FRAME_TOO_LARGE, msg);
			return;
		}
	}
	want = frame_reader_capacity(c->reader);
	if (n != 0 && n <= cfg->max_frame && FRAME_HEADER_LEN + n + 1 > want)
		want = FRAME_HEADER_LEN + n + 1;
	if (want > c->held_in && !conn_budget_allows(c, want - c->held_in)) {
		conn_over_budget(c, "a frame", n, msg, sizeof(msg));
		log_info("client %lu: %s", c->serial, msg);
		conn_fatal(c, PERR_BUSY, msg);
		return;
	}
	conn_charge(c, &c->held_in, want);
	if (frame_reader_buffered(c->reader) == 0)
		c->partial_since = 0;
	else if (took || c->partial_since == 0)
		c->partial_since = conn_now(c->srv);
}

/* conn_process: turn buffered frames into requests while the connection
 * has room for more replies in flight. */
static void
conn_process(struct conn *c)
{
	const struct config *cfg;
	const char *payload;
	size_t len;
	char msg[128];
	int rc, took = 0;

	if (c->processing)
		return;
	c->processing = 1;
	/* c->srv->cfg is read afresh each time: a reload op run inside
	 * this loop frees the config it replaces */
	for (;;) {
		cfg = c->srv->cfg;
		/* a parked request goes first, even when closing: the replies
		 * after it wait for it */
		if (c->parked != NULL) {
			if (!conn_send(c))
				break;
			continue;
		}
		if (c->closing || c->pending >= cfg->max_pending)
			break;
		rc = frame_reader_next(c->reader, &payload, &len);
		if (rc == FRAME_NEED_MORE) {
			conn_input(c, took);
			break;
		}
		if (rc == FRAME_OK) {
			conn_handle_frame(c, payload, len);
			took = 1;
			continue;
		}
		if (rc == FRAME_ERR_TOO_LARGE) {
			snprintf(msg, sizeof(msg),
			    "frame of %zu bytes exceeds max_frame %zu", len,
			    cfg->max_frame);
			conn_fatal(c, PERR_FRAME_TOO_LARGE, msg);
		} else if (rc == FRAME_ERR_EMPTY) {
			conn_fatal(c, PERR_BAD_REQUEST, "frame of length 0");
		} else {
			conn_fatal(c, PERR_INTERNAL, "out of memory");
		}
	}
	c->processing = 0;
	cfg = c->srv->cfg;

	/* Read more only while neither the replies in flight nor the unread
	 * output are over their bounds. */
	if (c->closing) {
		if (c->pending == 0 &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			conn_free(c);
		return;
	}
	if (c->pending >= cfg->max_pending || c->parked != NULL ||
	    c->held_out > CONN_MAX_OUTPUT ||
	    (c->held_out > CONN_SMALL && !conn_budget_allows(c, 0))) {
		if (c->reading)
			event_del(c->ev_read);
		c->reading = 0;
	} else if (!c->reading) {
		event_add(c->ev_read, NULL);
		c->reading = 1;
		/* a frame's deadline runs while it is being read */
		if (c->partial_since != 0)
			c->partial_since = conn_now(c->srv);
	}
}

/*
 * conn_read_cb: input is read here rather than by the bufferevent, whose
 * reads cost an ioctl(FIONREAD) each and copy through an evbuffer; one
 * read() per readiness, fed to the frame decoder.
 */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	static char buf[64 * 1024];
	struct conn *c = arg;
	ssize_t n;

	(void)what;
	c->active_at = conn_now(c->srv);
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			log_debug("client %lu: %s", c->serial, strerror(errno));
		conn_free(c);
		return;
	}
	if (frame_reader_feed(c->reader, buf, (size_t)n) != FRAME_OK) {
		conn_fatal(c, PERR_INTERNAL, "out of memory");
		return;
	}
	conn_process(c);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	conn_process(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (what & BEV_EVENT_ERROR)
			log_debug("client %lu: %s", c->serial, strerror(errno));
		conn_free(c);
	}
}

static void
conn_free(struct conn *c)
{
	struct reply *r, *next;

	LIST_REMOVE(c, link);
	c->srv->nconns--;
	evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
	conn_charge(c, &c->held_in, 0);
	conn_charge(c, &c->held_out, 0);
	conn_charge(c, &c->held_req, 0);
	if (c->waiting) {
		TAILQ_REMOVE(&c->srv->waiting, c, wlink);
		c->srv->nwaiting--;
	}
	if (c->parked != NULL) {      /* never sent */
		TAILQ_REMOVE(&c->replies, c->parked, link);
		reply_free(c->parked);
	}
	/* Replies in flight live on until their op completes (those to
	 * Redis still count against the shares until then); waiters are
	 * told to let go now. */
	for (r = TAILQ_FIRST(&c->replies); r != NULL; r = next) {
		next = TAILQ_NEXT(r, link);
		TAILQ_REMOVE(&c->replies, r, link);
		if (r->charged) {
			r->on_answered = server_orphan_answered;
			reply_hand_over(r, server_orphan_done, c->srv);
		}
		else
			reply_disown(r);
	}
	if (c->peer != NULL) {
		c->peer->nconns--;
		peer_maybe_free(c->peer);
	}
	event_free(c->ev_read);
	bufferevent_free(c->bev);
	frame_reader_free(c->reader);
	log_debug("client %lu: closed", c->serial);
	free(c->groups);
	free(c);
}

/* --- accepting -------------------------------------------------------- */

/*
 * conn_refusal: why c (counted already) may not stay, with the message
 * its client gets in msg, or NULL.  The uid cap and the admin reserve are
 * asked only when they bite: they need c's rights, which may look its
 * groups up.
 */
static const char *
conn_refusal(struct conn *c, char *msg, size_t len)
{
	struct server *srv = c->srv;
	const struct config *cfg = srv->cfg;

	if (c->peer == NULL) {
		snprintf(msg, len, "out of memory");
		return "out of memory";
	}
	if (srv->nconns > cfg->max_connections) {
		snprintf(msg, len, "too many connections");
		return "max_connections";
	}
	if (c->peer->nconns <= cfg->max_connections_per_user &&
	    srv->nconns <= cfg->max_connections - cfg->admin_connections)
		return NULL;
	conn_rights(c);
	if (c->may_admin)
		return NULL;
	if (c->peer->nconns > cfg->max_connections_per_user) {
		snprintf(msg, len, "too many connections of uid %ld (%d: "
		    "max_connections_per_user)", c->uid, c->peer->nconns - 1);
		return "max_connections_per_user";
	}
	snprintf(msg, len, "too many connections (the last %d are kept for "
	    "admins: admin_connections)", cfg->admin_connections);
	return "admin_connections";
}

static void
server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct server *srv = arg;
	struct conn *c;
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	const char *why;
	char msg[160];

	(void)l; (void)sa; (void)socklen;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->serial = ++srv->serial;
	c->uid = c->gid = -1;
	c->ngroups = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == 0) {
		c->uid = cred.uid;
		c->gid = cred.gid;
	}
	TAILQ_INIT(&c->replies);
	c->reader = frame_reader_new(srv->cfg->max_frame);
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->ev_read = event_new(srv->base, fd, EV_READ | EV_PERSIST,
	    conn_read_cb, c);
	if (c->bev != NULL)
		c->out_cb = evbuffer_add_cb(bufferevent_get_output(c->bev),
		    conn_out_cb, c);
	if (c->reader == NULL || c->bev == NULL || c->ev_read == NULL ||
	    c->out_cb == NULL) {
		if (c->ev_read != NULL)
			event_free(c->ev_read);
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			close(fd);
		frame_reader_free(c->reader);
		free(c);
		return;
	}
	LIST_INSERT_HEAD(&srv->conns, c, link);
	srv->nconns++;
	c->active_at = conn_now(srv);
	conn_charge(c, &c->held_in, frame_reader_capacity(c->reader));
	bufferevent_setcb(c->bev, NULL, conn_write_cb, conn_event_cb, c);
	if ((c->peer = peer_get(srv, c->uid)) != NULL)
		c->peer->nconns++;
	if ((why = conn_refusal(c, msg, sizeof(msg))) != NULL) {
		log_warnx("client %lu (uid %ld) refused: %s", c->serial, c->uid,
		    why);
		bufferevent_enable(c->bev, EV_WRITE);
		conn_fatal(c, PERR_BUSY, msg);
		return;     /* c may be gone: the answer went out at once */
	}
	log_debug("client %lu: connected (uid %ld)", c->serial, c->uid);
	bufferevent_enable(c->bev, EV_WRITE);
	event_add(c->ev_read, NULL);
	c->reading = 1;
}

/* --- deadlines -------------------------------------------------------- */

/* server_sweep_cb: close connections past frame_timeout or idle_timeout;
 * give memory back to the system after a peak of the budget. */
static void
server_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	const struct config *cfg = srv->cfg;
	double now = conn_now(srv);
	struct conn *c, *next;
	char msg[192];

	(void)fd; (void)what;
	for (c = LIST_FIRST(&srv->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		if (c->closing)
			continue;
		if (c->reading && c->partial_since != 0 &&
		    now - c->partial_since > cfg->frame_timeout) {
			snprintf(msg, sizeof(msg), "frame not complete within "
			    "frame_timeout (%g s): %zu bytes of it came",
			    cfg->frame_timeout, frame_reader_buffered(c->reader));
			log_info("client %lu: %s", c->serial, msg);
			conn_fatal(c, PERR_BAD_REQUEST, msg);
		} else if (cfg->idle_timeout > 0 && c->pending == 0 &&
		    c->held_out == 0 && c->partial_since == 0 &&
		    now - c->active_at > cfg->idle_timeout) {
			log_info("client %lu: closed: idle for %g s "
			    "(idle_timeout)", c->serial, cfg->idle_timeout);
			conn_free(c);
		}
	}
	/* large blocks go back at free (mmap); the small ones of decoded
	 * requests stay in the heap unless trimmed */
	if (srv->held_peak > cfg->max_buffered / 8 &&
	    srv->held < srv->held_peak / 2) {
		malloc_trim(0);
		srv->held_peak = srv->held;
	}
}

/* server_sweep_arm: run the sweep often enough for the deadlines. */
static void
server_sweep_arm(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	double t = cfg->frame_timeout;
	struct timeval tv;

	if (srv->sweep == NULL)
		return;
	if (cfg->idle_timeout > 0 && cfg->idle_timeout < t)
		t = cfg->idle_timeout;
	t /= 8;
	t = t < 0.05 ? 0.05 : t > 1.0 ? 1.0 : t;
	tv.tv_sec = (time_t)t;
	tv.tv_usec = (suseconds_t)((t - (double)tv.tv_sec) * 1e6);
	event_add(srv->sweep, &tv);
}

static void
server_accept_error_cb(struct evconnlistener *l, void *arg)
{
	(void)l; (void)arg;
	/* EMFILE and friends: the listener retries on the next event. */
	log_warn("accept");
}

/* server_check_budget: say so if some frames can never be taken. */
static void
server_check_budget(const struct config *cfg)
{
	if (cfg->max_buffered - cfg->max_buffered / 4 < cfg->max_frame + 5)
		log_warnx("max_buffered %zu leaves a large frame %zu bytes, "
		    "less than max_frame %zu: larger frames will always get "
		    "busy", cfg->max_buffered, cfg->max_buffered -
		    cfg->max_buffered / 4 - 5, cfg->max_frame);
}

struct server *
server_new(struct event_base *base, const struct config *cfg)
{
	struct server *srv = calloc(1, sizeof(*srv));

	if (srv == NULL)
		return NULL;
	srv->base = base;
	srv->cfg = cfg;
	LIST_INIT(&srv->conns);
	LIST_INIT(&srv->peers);
	TAILQ_INIT(&srv->waiting);
	/* Blocks of 128 KiB and more (frames, replies, their staging) are
	 * mmapped and so leave the resident set when freed: glibc would
	 * otherwise raise this threshold after the first big free and keep
	 * such blocks in the heap. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	/* fixing the threshold also fixes when the heap's top is given
	 * back: not at every free of 128 KiB, which costs brk calls */
	mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
	server_check_budget(cfg);
	srv->sweep = event_new(base, -1, EV_PERSIST, server_sweep_cb, srv);
	srv->ev_pump = event_new(base, -1, 0, server_pump, srv);
	if (srv->sweep == NULL || srv->ev_pump == NULL) {
		if (srv->sweep != NULL)
			event_free(srv->sweep);
		if (srv->ev_pump != NULL)
			event_free(srv->ev_pump);
		free(srv);
		return NULL;
	}
	return srv;
}

void
server_set_config(struct server *srv, const struct config *cfg)
{
	srv->cfg = cfg;
	server_check_budget(cfg);
	if (srv->sweep != NULL && event_pending(srv->sweep, EV_TIMEOUT, NULL))
		server_sweep_arm(srv);
}

/* make_socket_dir: the socket's directory, made (0755) if it is missing,
 * as /run/jobd is after a reboot when no service manager made it. */
static int
make_socket_dir(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "socket %s: cannot create %s: %s", path,
		    dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* server_adopt: listen on fd, a socket systemd passed.  One bound
 * elsewhere than the socket setting is used, with a warning: clients that
 * read the setting look there. */
static int
server_adopt(struct server *srv, int fd, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == 0 &&
	    len > offsetof(struct sockaddr_un, sun_path) &&
	    sun.sun_path[0] != '\0' &&
	    strncmp(sun.sun_path, srv->cfg->socket, sizeof(sun.sun_path)) != 0)
		log_warnx("the socket systemd passed is %.*s, not socket = %s",
		    (int)sizeof(sun.sun_path), sun.sun_path, srv->cfg->socket);
	evutil_make_socket_nonblocking(fd);
	srv->listener = evconnlistener_new(srv->base, server_accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
	    0, fd);             /* 0: listening already (systemd's Backlog=) */
	if (srv->listener == NULL) {
		snprintf(err, errlen, "socket activation: %s", strerror(errno));
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(srv->listener, server_accept_error_cb);
	free(srv->socket_path);
	srv->socket_path = NULL;        /* systemd's file: not unlinked */
	log_info("listening on the socket systemd passed");
	return 0;
}

int
server_listen(struct server *srv, int passed_fd, char *err, size_t errlen)
{
	const struct config *cfg = srv->cfg;
	struct sockaddr_un sun;
	int fd;
	mode_t old_umask;

	/* Socket activation: systemd made it (mode, group) and owns its
	 * file; jobd listens on it and leaves the file at exit. */
	if (passed_fd >= 0)
		return server_adopt(srv, passed_fd, err, errlen);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(cfg->socket) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", cfg->socket);
		return -1;
	}
	strcpy(sun.sun_path, cfg->socket);
	if (make_socket_dir(cfg->socket, err, errlen) == -1)
		return -1;

	/* A socket file that answers belongs to a running daemon: refuse.
	 * One that does not is left from a crash: replace it. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(fd);
		snprintf(err, errlen, "%s: another jobd is listening there",
		    cfg->socket);
		return -1;
	}
	if (errno == ECONNREFUSED)
		unlink(cfg->socket);

	/* Bind under a umask that never leaves the socket wider than asked. */
	old_umask = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old_umask);
		snprintf(err, errlen, "bind %s: %s", cfg->socket, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old_umask);
	if (cfg->socket_group != NULL && cfg->socket_group[0] != '\0') {
		struct group *gr = getgrnam(cfg->socket_group);
		if (gr == NULL || chown(cfg->socket, (uid_t)-1, gr->gr_gid) == -1) {
			snprintf(err, errlen, "socket_group %s: %s",
			    cfg->socket_group,
			    gr == NULL ? "no such group" : strerror(errno));
			close(fd);
			unlink(cfg->socket);
			return -1;
		}
	}
	if (chmod(cfg->socket, cfg->socket_mode) == -1) {
		snprintf(err, errlen, "chmod %s: %s", cfg->socket, strerror(errno));
		close(fd);
		unlink(cfg->socket);
		return -1;
	}
	evutil_make_socket_nonblocking(fd);
	srv->listener = evconnlistener_new(srv->base, server_accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
	    1024, fd);
	if (srv->listener == NULL) {
		snprintf(err, errlen, "listen %s: %s", cfg->socket,
		    strerror(errno));
		close(fd);
		unlink(cfg->socket);
		return -1;
	}
	evconnlistener_set_error_cb(srv->listener, server_accept_error_cb);
	free(srv->socket_path);
	srv->socket_path = strdup(cfg->socket);
	return 0;
}

void
server_accept(struct server *srv)
{
	if (srv->listener != NULL)
		evconnlistener_enable(srv->listener);
	server_sweep_arm(srv);
}

void
server_close_listener(struct server *srv)
{
	if (srv->listener == NULL)
		return;
	evconnlistener_free(srv->listener);
	srv->listener = NULL;
	if (srv->socket_path != NULL)
		unlink(srv->socket_path);
}

int
server_connections(const struct server *srv)
{
	return srv->nconns;
}

void
server_free(struct server *srv)
{
	struct conn *c, *next;

	if (srv == NULL)
		return;
	server_close_listener(srv);
	/* walked with next rather than by re-reading the head, which the
	 * analyzer cannot see LIST_REMOVE update */
	for (c = LIST_FIRST(&srv->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		conn_free(c);
	}
	if (srv->sweep != NULL)
		event_free(srv->sweep);
	free(srv->socket_path);
	event_free(srv->ev_pump);
	srv->ev_pump = NULL;
	/* requests in flight of closed connections still point here */
	if (srv->inflight > 0)
		srv->closed = 1;
	else
		free(srv);
}
