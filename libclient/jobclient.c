/*
 * jobclient.c: libjobclient, a blocking client of jobd over its Unix socket.
 *
 * One request at a time per handle: encode, send, then read frames until
 * the reply arrives, every wait bounded by poll() and the handle's timeout.
 * Any transport or framing failure drops the connection, since the stream
 * can no longer be trusted to pair replies with requests; the next call
 * connects again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "frame.h"
#include "jobclient.h"
#include "proto.h"

#define JC_EXPORT __attribute__((visibility("default")))

/* Largest reply accepted: well above the daemon's default max_frame, so
 * that big list/stats answers pass, yet bounded. */
#define JC_MAX_RESPONSE (64u * 1024 * 1024)
#define JC_DEFAULT_TIMEOUT 30.0
#define JC_ERRMSG_LEN 512
#define JC_RECV_CHUNK 65536
/* Requests larger than this are checked against the daemon's max_frame
 * before they are sent (one hello per connection). */
#define JC_ASK_MAX_FRAME_ABOVE (64u * 1024)

struct jc_client {
	char *path;
	int fd;
	double timeout;          /* seconds; <= 0 is forever */
	struct frame_reader *rd;
	long long next_id;
	int errcode;
	int peer_gone;           /* the last send met a closed connection */
	size_t max_frame;        /* the daemon's (hello) on this connection;
	                          * 0: not asked yet */
	char errmsg[JC_ERRMSG_LEN];
};

/* ---- errors ------------------------------------------------------------ */

/* The daemon's codes (proto.h) pass through as jc_err values unchanged:
 * the two enums must agree, code for code. */
#define SAME_CODE(name) \
	_Static_assert((int)JC_ERR_##name == (int)PERR_##name, \
	    "jc_err and proto_err disagree on " #name)
_Static_assert((int)JC_OK == (int)PERR_OK, "jc_err and proto_err: OK");
SAME_CODE(BAD_JSON);
SAME_CODE(BAD_REQUEST);
SAME_CODE(UNKNOWN_OP);
SAME_CODE(UNKNOWN_TYPE);
SAME_CODE(NOT_FOUND);
SAME_CODE(CONFLICT);
SAME_CODE(FORBIDDEN);
SAME_CODE(FRAME_TOO_LARGE);
SAME_CODE(UNAVAILABLE);
SAME_CODE(BUSY);
SAME_CODE(INTERNAL);
SAME_CODE(IN_DOUBT);
_Static_assert((int)PERR__COUNT == (int)JC_ERR_IN_DOUBT + 1,
	"a protocol error code that jobclient.h's jc_err lacks");
_Static_assert((int)PERR__COUNT <= (int)JC_ERR_CONNECT,
	"protocol error codes reach the library's own (100...)");
#undef SAME_CODE

static const char *const lib_names[] = {
	"connect", "io", "timeout", "protocol", "nomem", "invalid",
};

static const char *const proto_desc[] = {
	[JC_OK] = "success",
	[JC_ERR_BAD_JSON] = "malformed JSON request",
	[JC_ERR_BAD_REQUEST] = "missing or invalid request field",
	[JC_ERR_UNKNOWN_OP] = "unknown operation",
	[JC_ERR_UNKNOWN_TYPE] = "unknown job type",
	[JC_ERR_NOT_FOUND] = "no such job",
	[JC_ERR_CONFLICT] = "job id or unique key already in use",
	[JC_ERR_FORBIDDEN] = "operation not permitted",
	[JC_ERR_FRAME_TOO_LARGE] = "request too large",
	[JC_ERR_UNAVAILABLE] = "daemon cannot reach its store",
	[JC_ERR_BUSY] = "daemon busy: a limit was hit",
	[JC_ERR_INTERNAL] = "internal daemon error",
	[JC_ERR_IN_DOUBT] = "outcome unknown: look the job up before retrying",
};

static const char *const lib_desc[] = {
	"cannot connect to the daemon",
	"connection to the daemon failed",
	"timed out waiting for the daemon",
	"unreadable reply from the daemon",
	"out of memory",
	"invalid argument",
};

JC_EXPORT const char *
jc_version(void)
{
	return JC_VERSION_STRING;
}

JC_EXPORT const char *
jc_strerror(int err)
{
	if (err >= JC_OK && err <= JC_ERR_IN_DOUBT)
		return proto_desc[err];
	if (err >= JC_ERR_CONNECT && err <= JC_ERR_INVALID)
		return lib_desc[err - JC_ERR_CONNECT];
	return "unknown error";
}

JC_EXPORT const char *
jc_code_name(int err)
{
	if (err >= JC_OK && err <= JC_ERR_IN_DOUBT)
		return proto_err_name(err);
	if (err >= JC_ERR_CONNECT && err <= JC_ERR_INVALID)
		return lib_names[err - JC_ERR_CONNECT];
	return "unknown";
}

static void
clear_err(jc_client *c)
{
	c->errcode = JC_OK;
	c->errmsg[0] = '\0';
}

/* set_err: record err with a printf-style message; returns err. */
static int __attribute__((format(printf, 3, 4)))
set_err(jc_client *c, int err, const char *fmt, ...)
{
	va_list ap;

	c->errcode = err;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

/* ---- connection -------------------------------------------------------- */

static void
disconnect(jc_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	frame_reader_free(c->rd);
	c->rd = NULL;
	c->max_frame = 0;   /* a new connection may meet a new config */
}

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* poll_ms: milliseconds left until deadline (< 0: none) for poll(). */
static int
poll_ms(double deadline)
{
	double left;

	if (deadline < 0)
		return -1;
	left = (deadline - now_mono()) * 1000.0;
	if (left <= 0)
		return 0;
	if (left > 86400000.0)
		return 86400000;
	return (int)left + 1;
}

/* wait_fd: poll fd for events until deadline; 0 when ready. */
static int
wait_fd(jc_client *c, short events, double deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };
	int n;

	for (;;) {
		n = poll(&pfd, 1, poll_ms(deadline));
		if (n > 0)
			return 0;
		if (n == 0) {
			disconnect(c);
			return set_err(c, JC_ERR_TIMEOUT,
			    "no answer from %s within the timeout", c->path);
		}
		if (errno != EINTR) {
			set_err(c, JC_ERR_IO, "poll: %s", strerror(errno));
			disconnect(c);
			return JC_ERR_IO;
		}
	}
}

static int
do_connect(jc_client *c, double deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(c->path) >= sizeof(sa.sun_path))
		return set_err(c, JC_ERR_CONNECT, "socket path too long: %s",
		    c->path);
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return set_err(c, JC_ERR_CONNECT, "socket: %s", strerror(errno));
	do
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (rc < 0 && errno == EINTR);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int err = 0;
		socklen_t elen = sizeof(err);

		do
			rc = poll(&pfd, 1, poll_ms(deadline));
		while (rc < 0 && errno == EINTR);
		if (rc == 0)
			errno = ETIMEDOUT;
		else if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
		    &elen) == 0)
			errno = err;
		rc = errno == 0 ? 0 : -1;
	}
	if (rc < 0) {
		int saved = errno;
		struct stat st;

		close(fd);
		/* Connecting to a file that is no socket says "Connection
		 * refused", as if a daemon were down: say what it is. */
		if (saved == ECONNREFUSED && stat(c->path, &st) == 0 &&
		    !S_ISSOCK(st.st_mode))
			return set_err(c, JC_ERR_CONNECT,
			    "cannot connect to %s: not a socket (a %s)", c->path,
			    S_ISDIR(st.st_mode) ? "directory" : S_ISREG(st.st_mode) ?
			    "regular file" : "file of another kind");
		/* EAGAIN: the daemon's listen backlog is full. */
		return set_err(c, JC_ERR_CONNECT, "cannot connect to %s: %s",
		    c->path, strerror(saved));
	}
	if ((c->rd = frame_reader_new(JC_MAX_RESPONSE)) == NULL) {
		close(fd);
		return set_err(c, JC_ERR_NOMEM, "out of memory");
	}
	c->fd = fd;
	return JC_OK;
}

static int
ensure_connected(jc_client *c, double deadline)
{
	if (c->fd >= 0)
		return JC_OK;
	return do_connect(c, deadline);
}

JC_EXPORT int
jc_open(const char *socket_path, jc_client **out)
{
	jc_client *c;
	const char *path = socket_path;

	if (out == NULL)
		return JC_ERR_INVALID;
	*out = NULL;
	if (path == NULL || *path == '\0')
		path = getenv("JOBD_SOCKET");
	if (path == NULL || *path == '\0')
		path = JC_DEFAULT_SOCKET;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return JC_ERR_NOMEM;
	if ((c->path = strdup(path)) == NULL) {
		free(c);
		return JC_ERR_NOMEM;
	}
	c->fd = -1;
	c->timeout = JC_DEFAULT_TIMEOUT;
	*out = c;
	return do_connect(c, now_mono() + c->timeout);
}

JC_EXPORT void
jc_close(jc_client *c)
{
	if (c == NULL)
		return;
	disconnect(c);
	free(c->path);
	free(c);
}

JC_EXPORT void
jc_set_timeout(jc_client *c, double seconds)
{
	if (c != NULL)
		c->timeout = seconds;
}

JC_EXPORT const char *
jc_errmsg(const jc_client *c)
{
	return c != NULL ? c->errmsg : "no handle";
}

JC_EXPORT int
jc_errcode(const jc_client *c)
{
	return c != NULL ? c->errcode : JC_ERR_INVALID;
}

JC_EXPORT const char *
jc_socket_path(const jc_client *c)
{
	return c != NULL ? c->path : NULL;
}

JC_EXPORT void
jc_free(void *p)
{
	free(p);
}

/* ---- one round trip ---------------------------------------------------- */

static int roundtrip(jc_client *c, json_t *req, double extra, json_t **resp);

/*
 * send_all: send len bytes; *sent says how many the daemon took.  A
 * connection the daemon closed (peer_gone) stays open for salvage_reply()
 * and the caller disconnects it.
 */
static int
send_all(jc_client *c, const uint8_t *buf, size_t len, double deadline,
    size_t *sent)
{
	ssize_t n;
	int rc;

	*sent = 0;
	while (len > 0) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			*sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = wait_fd(c, POLLOUT, deadline)) != 0)
				return rc;
			continue;
		}
		c->peer_gone = n < 0 && (errno == EPIPE || errno == ECONNRESET);
		set_err(c, JC_ERR_IO, "send to %s: %s", c->path,
		    n < 0 ? strerror(errno) : "no progress");
		if (!c->peer_gone)
			disconnect(c);
		return JC_ERR_IO;
	}
	return JC_OK;
}

/*
 * salvage_reply: the frame the daemon wrote before it closed the
 * connection in the middle of a request (over max_frame, busy), read
 * without waiting from what the socket still holds.  JC_OK with *resp,
 * or an error when there is none.
 */
static int
salvage_reply(jc_client *c, json_t **resp)
{
	char chunk[JC_RECV_CHUNK];
	const char *payload;
	size_t len;
	ssize_t n;

	for (;;) {
		if (frame_reader_next(c->rd, &payload, &len) == FRAME_OK)
			break;
		n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || frame_reader_feed(c->rd, chunk, (size_t)n) !=
		    FRAME_OK)
			return JC_ERR_IO;
	}
	*resp = json_loadb(payload, len, 0, NULL);
	if (!json_is_object(*resp)) {
		json_decref(*resp);
		*resp = NULL;
		return JC_ERR_IO;
	}
	return JC_OK;
}

/* read_frame: the next reply frame, parsed, into *out. */
static int
read_frame(jc_client *c, json_t **out, double deadline)
{
	char chunk[JC_RECV_CHUNK];
	const char *payload;
	size_t len;
	ssize_t n;
	json_error_t jerr;
	int rc;

	for (;;) {
		rc = frame_reader_next(c->rd, &payload, &len);
		if (rc == FRAME_OK)
			break;
		if (rc != FRAME_NEED_MORE) {
			if (rc == FRAME_ERR_TOO_LARGE)
				set_err(c, JC_ERR_PROTOCOL,
				    "reply of %zu bytes is over the limit", len);
			else if (rc == FRAME_ERR_EMPTY)
				set_err(c, JC_ERR_PROTOCOL, "empty reply frame");
			else
				set_err(c, JC_ERR_NOMEM, "out of memory");
			disconnect(c);
			return c->errcode;
		}
		if ((rc = wait_fd(c, POLLIN, deadline)) != 0)
			return rc;
		n = recv(c->fd, chunk, sizeof(chunk), 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN ||
		    errno == EWOULDBLOCK))
			continue;
		if (n <= 0) {
			set_err(c, JC_ERR_IO, "%s: %s", c->path, n == 0 ?
			    "connection closed by the daemon" : strerror(errno));
			disconnect(c);
			return JC_ERR_IO;
		}
		if (frame_reader_feed(c->rd, chunk, (size_t)n) != FRAME_OK) {
			disconnect(c);
			return set_err(c, JC_ERR_NOMEM, "out of memory");
		}
	}
	*out = json_loadb(payload, len, 0, &jerr);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		set_err(c, JC_ERR_PROTOCOL, "reply is not a JSON object: %s",
		    jerr.text);
		disconnect(c);
		return JC_ERR_PROTOCOL;
	}
	return JC_OK;
}

/* reply_error: the jc_err of a reply, recording its message. */
static int
reply_error(jc_client *c, json_t *resp)
{
	json_t *ok = json_object_get(resp, "ok");
	json_t *e;
	const char *code, *msg;
	int err;

	if (json_is_true(ok))
		return JC_OK;
	if (!json_is_false(ok))
		return set_err(c, JC_ERR_PROTOCOL, "reply without \"ok\"");
	e = json_object_get(resp, "error");
	code = json_string_value(json_object_get(e, "code"));
	msg = json_string_value(json_object_get(e, "message"));
	err = proto_err_from_name(code);
	if (err <= 0 || err >= PERR__COUNT)
		err = JC_ERR_INTERNAL;
	return set_err(c, err, "%s", msg != NULL ? msg :
	    code != NULL ? code : "unspecified error");
}

/*
 * send_request: send a request's frame.  A kept connection the daemon has
 * closed since (a restart) takes nothing of it, so it goes again on a new
 * connection: cheaper than checking before each request, which costs a
 * poll() per call.  A daemon that took part of it, answered and closed
 * (over max_frame, busy) gave the answer to report: *resp is set.
 */
static int
send_request(jc_client *c, const uint8_t *frame, size_t flen,
    double deadline, int reused, json_t **resp)
{
	size_t sent;
	int rc;

	for (int again = reused;; again = 0) {
		c->peer_gone = 0;
		rc = send_all(c, frame, flen, deadline, &sent);
		if (rc == JC_OK || !c->peer_gone)
			return rc;
		if (sent > 0 && salvage_reply(c, resp) == JC_OK) {
			disconnect(c);
			rc = reply_error(c, *resp);
			return rc != JC_OK ? rc : set_err(c, JC_ERR_PROTOCOL,
			    "the daemon closed the connection after an answer");
		}
		disconnect(c);
		if (!again || sent > 0)
			return rc;
		if ((rc = do_connect(c, deadline)) != JC_OK)
			return rc;
		clear_err(c);
	}
}

/*
 * check_max_frame: refuse, before sending it, a request the daemon would
 * refuse for its size (and then close the connection).  The daemon's
 * max_frame is asked once per connection, and only for large requests.
 */
static int
check_max_frame(jc_client *c, size_t tlen)
{
	json_t *req, *resp = NULL, *mf;
	int rc;

	if (c->max_frame == 0) {
		req = json_pack("{s:s}", "op", "hello");
		if (req == NULL)
			return set_err(c, JC_ERR_NOMEM, "out of memory");
		rc = roundtrip(c, req, 0, &resp);
		json_decref(req);
		mf = json_object_get(resp, "max_frame");
		if (rc == JC_OK && json_is_integer(mf) &&
		    json_integer_value(mf) > 0)
			c->max_frame = (size_t)json_integer_value(mf);
		else if (rc == JC_OK || resp != NULL)
			c->max_frame = SIZE_MAX;   /* an older daemon: let it judge */
		json_decref(resp);
		if (c->max_frame == 0)
			return rc;   /* the connection failed */
		clear_err(c);
	}
	if (tlen > c->max_frame)
		return set_err(c, JC_ERR_FRAME_TOO_LARGE,
		    "request of %zu bytes is over the daemon's max_frame of %zu "
		    "bytes (not sent)", tlen, c->max_frame);
	return JC_OK;
}

/*
 * roundtrip_text: send the request text (borrowed) whose "id" is id
 * (borrowed) and read its reply into *resp (new reference, also set when
 * the daemon answered an error).  extra: seconds added to the handle's
 * timeout.
 */
static int
roundtrip_text(jc_client *c, const char *text, size_t tlen, json_t *id,
    double extra, json_t **resp)
{
	json_t *rid;
	uint8_t *frame;
	size_t flen;
	double deadline = -1;
	int rc, reused;

	*resp = NULL;
	clear_err(c);
	if (c->timeout > 0)
		deadline = now_mono() + c->timeout + (extra > 0 ? extra : 0);
	reused = c->fd >= 0;
	if ((rc = ensure_connected(c, deadline)) != JC_OK)
		return rc;
	if (tlen > JC_ASK_MAX_FRAME_ABOVE &&
	    (rc = check_max_frame(c, tlen)) != JC_OK)
		return rc;
	frame = frame_encode(text, tlen, &flen);
	if (frame == NULL)
		return set_err(c, JC_ERR_NOMEM, "out of memory");
	rc = send_request(c, frame, flen, deadline, reused, resp);
	free(frame);
	if (rc != JC_OK || *resp != NULL)   /* failed, or answered early */
		return rc;

	if ((rc = read_frame(c, resp, deadline)) != JC_OK)
		return rc;
	/* The daemon answers a frame it could not take (too large) without
	 * an id, then closes: that error is still the answer to this
	 * request, and the connection is done. */
	rid = json_object_get(*resp, "id");
	if (rid == NULL && json_is_false(json_object_get(*resp, "ok"))) {
		disconnect(c);
		return reply_error(c, *resp);
	}
	if (rid == NULL || !json_equal(rid, id)) {
		json_decref(*resp);
		*resp = NULL;
		disconnect(c);
		return set_err(c, JC_ERR_PROTOCOL,
		    "reply id does not match the request");
	}
	return reply_error(c, *resp);
}

/* roundtrip: roundtrip_text of req (borrowed; an "id" is added unless it
 * has one). */
static int
roundtrip(jc_client *c, json_t *req, double extra, json_t **resp)
{
	json_t *id;
	char *text;
	int rc;

	*resp = NULL;   /* also on the failures before the round trip */
	if ((id = json_object_get(req, "id")) == NULL) {
		if (json_object_set_new(req, "id",
		    json_integer(++c->next_id)) != 0)
			return set_err(c, JC_ERR_NOMEM, "out of memory");
		id = json_object_get(req, "id");
	}
	if ((text = json_dumps(req, JSON_COMPACT)) == NULL)
		return set_err(c, JC_ERR_NOMEM, "cannot encode the request");
	rc = roundtrip_text(c, text, strlen(text), id, extra, resp);
	free(text);
	return rc;
}

/* call: roundtrip that consumes req and keeps the reply only on success. */
static int
call(jc_client *c, json_t *req, double extra, json_t **resp)
{
	int rc;

	*resp = NULL;
	if (req == NULL)
		return set_err(c, JC_ERR_NOMEM, "out of memory");
	rc = roundtrip(c, req, extra, resp);
	json_decref(req);
	if (rc != JC_OK) {
		json_decref(*resp);
		*resp = NULL;
	}
	return rc;
}

/* dump_out: store the JSON text of v in *out (may be NULL). */
static int
dump_out(jc_client *c, json_t *v, char **out)
{
	if (out == NULL)
		return JC_OK;
	if (v == NULL)
		return set_err(c, JC_ERR_PROTOCOL, "reply lacks a field");
	*out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (*out == NULL)
		return set_err(c, JC_ERR_NOMEM, "out of memory");
	return JC_OK;
}

/* dump_reply: the whole reply, without the id the library added. */
static int
dump_reply(jc_client *c, json_t *resp, char **out)
{
	json_object_del(resp, "id");
	return dump_out(c, resp, out);
}

static int
string_out(jc_client *c, json_t *v, char **out)
{
	if (out == NULL)
		return JC_OK;
	if (!json_is_string(v))
		return set_err(c, JC_ERR_PROTOCOL, "reply lacks a string field");
	if ((*out = strdup(json_string_value(v))) == NULL)
		return set_err(c, JC_ERR_NOMEM, "out of memory");
	return JC_OK;
}

/* parse_arg: JSON text given by the caller; NULL and an error if bad. */
static json_t *
parse_arg(jc_client *c, const char *text, const char *what, int any)
{
	json_error_t jerr;
	json_t *v;

	v = json_loads(text, any ? JSON_DECODE_ANY : 0, &jerr);
	if (v == NULL)
		set_err(c, JC_ERR_INVALID, "%s: %s (line %d, column %d)",
		    what, jerr.text, jerr.line, jerr.column);
	return v;
}

/*
 * req_set: req with key set to v; both are consumed.  On failure, or when
 * req or v is already NULL (out of memory), req is freed and NULL is
 * returned, so that a chain of calls needs only one check at its end.
 */
static json_t *
req_set(json_t *req, const char *key, json_t *v)
{
	/* json_object_set_new() drops v itself when it fails. */
	if (json_object_set_new(req, key, v) != 0) {
		json_decref(req);
		return NULL;
	}
	return req;
}

/* op_req: a new request {"op": op} with an optional "job_id". */
static json_t *
op_req(const char *op, const char *job_id)
{
	json_t *req = req_set(json_object(), "op", json_string(op));

	if (job_id != NULL)
		req = req_set(req, "job_id", json_string(job_id));
	return req;
}

#define CHECK_ARG(c, cond, what) do {					\
	if (!(cond))							\
		return set_err((c), JC_ERR_INVALID, "%s", (what));	\
} while (0)

/* begin: the start of every operation: check the handle, clear the
 * out-parameter (may be NULL) and the last error. */
static int
begin(jc_client *c, char **out)
{
	if (c == NULL)
		return JC_ERR_INVALID;
	if (out != NULL)
		*out = NULL;
	clear_err(c);
	return JC_OK;
}

/* extract_fn: store in *out what the caller wants of a successful reply. */
typedef int (*extract_fn)(jc_client *c, json_t *resp, char **out);

/* finish: send req (consumed, NULL when it could not be built) and hand
 * a successful reply to extract (may be NULL: nothing to return). */
static int
finish(jc_client *c, json_t *req, double extra, extract_fn extract,
    char **out)
{
	json_t *resp;
	int rc;

	if ((rc = call(c, req, extra, &resp)) == JC_OK && extract != NULL)
		rc = extract(c, resp, out);
	json_decref(resp);
	return rc;
}

/* simple_op: an operation {"op": op} without arguments. */
static int
simple_op(jc_client *c, const char *op, extract_fn extract, char **out)
{
	int rc;

	if ((rc = begin(c, out)) != JC_OK)
		return rc;
	return finish(c, op_req(op, NULL), 0, extract, out);
}

/* job_op: an operation {"op": op, "job_id": job_id} on one job. */
static int
job_op(jc_client *c, const char *op, const char *job_id, extract_fn extract,
    char **out)
{
	int rc;

	if ((rc = begin(c, out)) != JC_OK)
		return rc;
	CHECK_ARG(c, job_id != NULL, "job id is NULL");
	return finish(c, op_req(op, job_id), 0, extract, out);
}

/* The extract_fns of the replies that carry one field. */
static int
job_out(jc_client *c, json_t *resp, char **job)
{
	return dump_out(c, json_object_get(resp, "job"), job);
}

static int
ids_out(jc_client *c, json_t *resp, char **job_ids)
{
	return dump_out(c, json_object_get(resp, "job_ids"), job_ids);
}

static int
status_out(jc_client *c, json_t *resp, char **status)
{
	return string_out(c, json_object_get(resp, "status"), status);
}

/* requeue_out: the requeued ids of a reply, "[]" if it names none. */
static int
requeue_out(jc_client *c, json_t *resp, char **job_ids)
{
	json_t *ids = json_object_get(resp, "job_ids");
	json_t *none;
	int rc;

	if (ids != NULL)
		return dump_out(c, ids, job_ids);
	if ((none = json_array()) == NULL)
		return set_err(c, JC_ERR_NOMEM, "out of memory");
	rc = dump_out(c, none, job_ids);
	json_decref(none);
	return rc;
}

/* ---- the operations ---------------------------------------------------- */

JC_EXPORT int
jc_call(jc_client *c, const char *request_json, char **response)
{
	json_t *req, *resp = NULL, *t;
	const char *op;
	double extra = 0;
	int rc;

	if ((rc = begin(c, response)) != JC_OK)
		return rc;
	CHECK_ARG(c, request_json != NULL, "request is NULL");
	if ((req = parse_arg(c, request_json, "request", 0)) == NULL)
		return JC_ERR_INVALID;
	if (!json_is_object(req)) {
		json_decref(req);
		return set_err(c, JC_ERR_INVALID, "request is not an object");
	}
	/* A wait may legitimately take its own timeout to answer. */
	op = json_string_value(json_object_get(req, "op"));
	t = json_object_get(req, "timeout");
	if (op != NULL && strcmp(op, "wait") == 0 && json_is_number(t))
		extra = json_number_value(t);
	rc = roundtrip(c, req, extra, &resp);
	json_decref(req);
	if (resp != NULL && response != NULL &&
	    (*response = json_dumps(resp, JSON_COMPACT)) == NULL)
		rc = set_err(c, JC_ERR_NOMEM, "out of memory");
	json_decref(resp);
	return rc;
}

JC_EXPORT int
jc_ping(jc_client *c)
{
	return simple_op(c, "ping", NULL, NULL);
}

JC_EXPORT int
jc_submit(jc_client *c, const char *type, const char *payload_json,
    const char *options_json, char **job_id)
{
	json_t *req, *opts, *payload = NULL, *resp = NULL, *jid;
	int rc;

	if ((rc = begin(c, job_id)) != JC_OK)
		return rc;
	CHECK_ARG(c, type != NULL && *type != '\0', "job type is empty");
	if ((req = op_req("submit", NULL)) == NULL)
		return set_err(c, JC_ERR_NOMEM, "out of memory");
	if (options_json != NULL) {
		if ((opts = parse_arg(c, options_json, "options", 0)) == NULL)
			goto invalid;
		if (!json_is_object(opts)) {
			json_decref(opts);
			set_err(c, JC_ERR_INVALID, "options is not an object");
			goto invalid;
		}
		json_object_update(req, opts);
		json_decref(opts);
	}
	if (payload_json != NULL &&
	    (payload = parse_arg(c, payload_json, "payload", 1)) == NULL)
		goto invalid;
	/* "op" again: the options may have overwritten it. */
	req = req_set(req, "op", json_string("submit"));
	req = req_set(req, "type", json_string(type));
	if (payload != NULL)
		req = req_set(req, "payload", payload);
	if (req == NULL)
		return set_err(c, JC_ERR_NOMEM, "out of memory");
	/* Not finish(): a conflict's reply is needed too. */
	rc = roundtrip(c, req, 0, &resp);
	json_decref(req);
	if (rc == JC_OK) {
		rc = string_out(c, json_object_get(resp, "job_id"), job_id);
	} else if ((rc == JC_ERR_CONFLICT || rc == JC_ERR_IN_DOUBT) &&
	    job_id != NULL) {
		/* The holder's id (the job's own when in doubt) is at top
		 * level, or inside the error. */
		jid = json_object_get(resp, "job_id");
		if (!json_is_string(jid))
			jid = json_object_get(json_object_get(resp, "error"),
			    "job_id");
		if (json_is_string(jid) &&
		    (*job_id = strdup(json_string_value(jid))) == NULL)
			rc = set_err(c, JC_ERR_NOMEM, "out of memory");
	}
	json_decref(resp);
	return rc;
invalid:
	json_decref(req);
	return JC_ERR_INVALID;
}

/*
 * one_array_text: whether text is "[...]" whose closing bracket is its
 * last non-space character, strings and escapes skipped.  It checks the
 * brackets only: the daemon parses the request whole and rejects what is
 * not JSON.  That is enough to splice text into a request unparsed: the
 * value the daemon reads after "jobs": is all of text and nothing else.
 */
static int
one_array_text(const char *text)
{
	const char *p = text + strspn(text, " \t\r\n");
	size_t depth = 0;
	int in_str = 0;

	if (*p != '[')
		return 0;
	for (; *p != '\0'; p++) {
		if (in_str) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				in_str = 0;
		} else if (*p == '"') {
			in_str = 1;
		} else if (*p == '[' || *p == '{') {
			depth++;
		} else if (*p == ']' || *p == '}') {
			if (depth == 0)
				return 0;
			if (--depth == 0)
				return p[1 + strspn(p + 1, " \t\r\n")] == '\0';
		}
	}
	return 0;
}

/* doubt_ids: the ids of a submit_many reply, success (rc JC_OK) or
 * in_doubt (rc JC_ERR_IN_DOUBT, kept with its message). */
static int
doubt_ids(jc_client *c, int rc, json_t *resp, char **job_ids)
{
	int out;

	if (rc == JC_OK)
		return ids_out(c, resp, job_ids);
	if (job_ids == NULL || json_object_get(resp, "job_ids") == NULL)
		return rc;
	out = ids_out(c, resp, job_ids);
	return out == JC_OK ? rc : out;
}

/*
 * jc_submit_many sends the caller's text as it is (parsing and encoding
 * 100 jobs again would cost the client more than the daemon's work).
 * Text that is not one array, or that the daemon finds is not JSON, is
 * parsed here after all, for the same error as every other argument.
 */
JC_EXPORT int
jc_submit_many(jc_client *c, const char *jobs_json, char **job_ids)
{
	static const char head[] = "{\"op\":\"submit_many\",\"id\":";
	json_t *id = NULL, *resp = NULL, *jobs;
	char *text;
	size_t hl, jl;
	int rc;

	if ((rc = begin(c, job_ids)) != JC_OK)
		return rc;
	CHECK_ARG(c, jobs_json != NULL, "jobs is NULL");
	if (one_array_text(jobs_json)) {
		jl = strlen(jobs_json);
		if ((text = malloc(sizeof head + 32 + jl)) == NULL ||
		    (id = json_integer(++c->next_id)) == NULL) {
			free(text);
			return set_err(c, JC_ERR_NOMEM, "out of memory");
		}
		hl = (size_t)sprintf(text, "%s%" JSON_INTEGER_FORMAT ",\"jobs\":",
		    head, json_integer_value(id));
		memcpy(text + hl, jobs_json, jl);
		text[hl + jl] = '}';
		rc = roundtrip_text(c, text, hl + jl + 1, id, 0, &resp);
		free(text);
		json_decref(id);
		if (rc == JC_OK || rc == JC_ERR_IN_DOUBT)
			rc = doubt_ids(c, rc, resp, job_ids);
		json_decref(resp);
		if (rc != JC_ERR_BAD_JSON)
			return rc;
	}
	if ((jobs = parse_arg(c, jobs_json, "jobs", 0)) == NULL)
		return JC_ERR_INVALID;
	if (!json_is_array(jobs)) {
		json_decref(jobs);
		return set_err(c, JC_ERR_INVALID, "jobs is not an array");
	}
	return finish(c, req_set(op_req("submit_many", NULL), "jobs", jobs), 0,
	    ids_out, job_ids);
}

JC_EXPORT int
jc_get(jc_client *c, const char *job_id, char **job)
{
	return job_op(c, "get", job_id, job_out, job);
}

JC_EXPORT int
jc_result(jc_client *c, const char *job_id, char **result)
{
	return job_op(c, "result", job_id, dump_reply, result);
}

JC_EXPORT int
jc_wait(jc_client *c, const char *job_id, double timeout, char **job)
{
	int rc;

	if ((rc = begin(c, job)) != JC_OK)
		return rc;
	CHECK_ARG(c, job_id != NULL, "job id is NULL");
	return finish(c, req_set(op_req("wait", job_id), "timeout",
	    json_real(timeout)), timeout, dump_reply, job);
}

JC_EXPORT int
jc_cancel(jc_client *c, const char *job_id, char **status)
{
	return job_op(c, "cancel", job_id, status_out, status);
}

JC_EXPORT int
jc_requeue(jc_client *c, const char *job_id, char **job_ids)
{
	return job_op(c, "requeue", job_id, requeue_out, job_ids);
}

JC_EXPORT int
jc_requeue_failed(jc_client *c, const char *queue, char **job_ids)
{
	json_t *req;
	int rc;

	if ((rc = begin(c, job_ids)) != JC_OK)
		return rc;
	req = req_set(op_req("requeue", NULL), "all_failed", json_true());
	if (queue != NULL)
		req = req_set(req, "queue", json_string(queue));
	return finish(c, req, 0, requeue_out, job_ids);
}

JC_EXPORT int
jc_list(jc_client *c, const char *filter_json, char **response)
{
	json_t *req, *filter;
	int rc;

	if ((rc = begin(c, response)) != JC_OK)
		return rc;
	if ((req = op_req("list", NULL)) == NULL)
		return set_err(c, JC_ERR_NOMEM, "out of memory");
	if (filter_json != NULL) {
		if ((filter = parse_arg(c, filter_json, "filter", 0)) == NULL ||
		    !json_is_object(filter)) {
			json_decref(filter);
			json_decref(req);
			return set_err(c, JC_ERR_INVALID,
			    "filter is not a JSON object");
		}
		json_object_update(req, filter);
		json_decref(filter);
		json_object_set_new(req, "op", json_string("list"));
	}
	return finish(c, req, 0, dump_reply, response);
}

JC_EXPORT int
jc_stats(jc_client *c, char **stats)
{
	return simple_op(c, "stats", dump_reply, stats);
}

static int
queue_op(jc_client *c, const char *op, const char *queue)
{
	int rc;

	if ((rc = begin(c, NULL)) != JC_OK)
		return rc;
	CHECK_ARG(c, queue != NULL && *queue != '\0', "queue is empty");
	return finish(c, req_set(op_req(op, NULL), "queue",
	    json_string(queue)), 0, NULL, NULL);
}

JC_EXPORT int
jc_pause(jc_client *c, const char *queue)
{
	return queue_op(c, "pause", queue);
}

JC_EXPORT int
jc_resume(jc_client *c, const char *queue)
{
	return queue_op(c, "resume", queue);
}

JC_EXPORT int
jc_progress(jc_client *c, const char *job_id, double percent,
    const char *message)
{
	json_t *req;
	int rc;

	if ((rc = begin(c, NULL)) != JC_OK)
		return rc;
	CHECK_ARG(c, job_id != NULL, "job id is NULL");
	req = req_set(op_req("progress", job_id), "percent",
	    json_real(percent));
	if (message != NULL)
		req = req_set(req, "message", json_string(message));
	return finish(c, req, 0, NULL, NULL);
}

/* --- batches (docs/protocol.md, "Batches") ------------------------------ */

static int
batch_out(jc_client *c, json_t *resp, char **batch_id)
{
	return string_out(c, json_object_get(resp, "batch_id"), batch_id);
}

static json_t *
batch_req(const char *op, const char *batch_id)
{
	json_t *req = op_req(op, NULL);

	if (batch_id != NULL)
		req = req_set(req, "batch_id", json_string(batch_id));
	return req;
}

JC_EXPORT int
jc_batch_open(jc_client *c, const char *description,
    const char *callback_json, char **batch_id)
{
	json_t *req, *cb = NULL;
	int rc;

	if ((rc = begin(c, batch_id)) != JC_OK)
		return rc;
	if (callback_json != NULL &&
	    (cb = parse_arg(c, callback_json, "callback", 0)) == NULL)
		return jc_errcode(c);
	req = batch_req("batch_open", NULL);
	if (description != NULL)
		req = req_set(req, "description", json_string(description));
	if (cb != NULL)
		req = req_set(req, "callback", cb);
	return finish(c, req, 0, batch_out, batch_id);
}

JC_EXPORT int
jc_batch_seal(jc_client *c, const char *batch_id, char **status)
{
	int rc;

	if ((rc = begin(c, status)) != JC_OK)
		return rc;
	CHECK_ARG(c, batch_id != NULL, "batch id is NULL");
	return finish(c, batch_req("batch_seal", batch_id), 0, status_out,
	    status);
}

JC_EXPORT int
jc_batch_get(jc_client *c, const char *batch_id, char **batch)
{
	int rc;

	if ((rc = begin(c, batch)) != JC_OK)
		return rc;
	CHECK_ARG(c, batch_id != NULL, "batch id is NULL");
	return finish(c, batch_req("batch_get", batch_id), 0, dump_reply,
	    batch);
}

JC_EXPORT int
jc_delete(jc_client *c, const char *job_id)
{
	return job_op(c, "delete", job_id, NULL, NULL);
}

JC_EXPORT int
jc_reload(jc_client *c)
{
	return simple_op(c, "reload", NULL, NULL);
}
