/* handler.c: what the handler kinds share: dispatch, stop checks, the
 * handler's process group report.  See handler.h. */
#include <errno.h>
#include <signal.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "handler.h"
#include "ipc.h"
#include "log.h"
#include "text.h"

/* How long a message to the master may wait for room in its socket. */
#define SEND_WAIT_MS 2000

int
handler_run(struct handler_ctx *ctx, char **result, char **error)
{
	*result = NULL;
	*error = NULL;
	ctx->stop_reason = STOP_NONE;
	switch (ctx->type->kind) {
	case HANDLER_BUILTIN:
		return handler_builtin_run(ctx, result, error);
	case HANDLER_EXEC:
		return handler_exec_run(ctx, result, error);
	case HANDLER_HTTP:
		return handler_http_run(ctx, result, error);
	}
	*error = handler_strdupf("type %s: unknown handler kind %d",
	    ctx->type->name, (int)ctx->type->kind);
	return HANDLER_FAILED;
}

/* stop_is_ours: a stop names the running job, or no job at all. */
static int
stop_is_ours(const struct handler_ctx *ctx, const struct ipc_msg *m)
{
	if (m->job_id[0] == '\0')
		return 1;
	return ctx->job != NULL && ctx->job->id != NULL &&
	    strcmp(m->job_id, ctx->job->id) == 0;
}

/* read_ctl: take every waiting message off the master's socket. */
static void
read_ctl(struct handler_ctx *ctx)
{
	struct ipc_msg m;
	int r;

	while (ctx->stop_reason == STOP_NONE) {
		errno = 0;
		r = ipc_recv(ctx->ctl_fd, &m);
		if (r == 0)
			return;
		if (r == -1) {
			if (errno == EPROTO) {
				log_warnx("ignoring a malformed message from "
				    "the master");
				continue;
			}
			/* The master is gone (killed, or it would have said
			 * STOP_SHUTDOWN): nobody renews the lease, so store
			 * nothing and let the reaper count the loss. */
			log_warnx("lost the master's socket, dropping job %s",
			    ctx->job != NULL ? ctx->job->id : "-");
			ctx->stop_reason = STOP_LOST;
			return;
		}
		if (m.type != IPC_STOP || !stop_is_ours(ctx, &m))
			continue;
		if (m.reason <= STOP_NONE || m.reason > STOP_SHUTDOWN)
			m.reason = STOP_SHUTDOWN;
		ctx->stop_reason = m.reason;
		log_debug("job %s: stop requested (%s)",
		    ctx->job != NULL ? ctx->job->id : "-",
		    ipc_stop_reason_name(m.reason));
	}
}

int
handler_poll(struct handler_ctx *ctx, int timeout_ms)
{
	struct pollfd pfd;
	long long deadline, left;

	if (timeout_ms < 0)
		timeout_ms = 0;
	deadline = handler_now_ms() + timeout_ms;
	for (;;) {
		if (ctx->ctl_fd >= 0)
			read_ctl(ctx);
		if (ctx->stop_reason != STOP_NONE)
			return ctx->stop_reason;
		left = deadline - handler_now_ms();
		if (left <= 0)
			return STOP_NONE;
		pfd.fd = ctx->ctl_fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		/* A negative fd is ignored by poll: then this just sleeps. */
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR) {
			log_warn("poll");
			return STOP_NONE;
		}
	}
}

int
handler_send(int ctl_fd, const struct ipc_msg *m)
{
	struct pollfd pfd;
	long long deadline, left;

	if (ctl_fd < 0)
		return 0;
	deadline = handler_now_ms() + SEND_WAIT_MS;
	for (;;) {
		if (ipc_send(ctl_fd, m) == 0)
			return 0;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
			return -1;
		left = deadline - handler_now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = ctl_fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)(left < 50 ? left : 50)) == -1 &&
		    errno != EINTR)
			return -1;
	}
}

void
handler_report_pgid(struct handler_ctx *ctx, pid_t pgid)
{
	struct ipc_msg m;

	memset(&m, 0, sizeof(m));
	m.type = IPC_HANDLER;
	m.pgid = pgid;
	if (ctx->job != NULL && ctx->job->id != NULL)
		snprintf(m.job_id, sizeof(m.job_id), "%s", ctx->job->id);
	if (handler_send(ctx->ctl_fd, &m) == -1)
		log_warn("job %s: cannot report handler group %ld",
		    m.job_id, (long)pgid);
}

/* Live handler process groups (one-shot and persistent); a fixed table
 * of sig_atomic_t-sized slots, so that a signal handler can read it. */
#define MAX_GROUPS 64
static volatile sig_atomic_t live_groups[MAX_GROUPS];

void
handler_track_group(pid_t pgid, int alive)
{
	for (int i = 0; i < MAX_GROUPS; i++) {
		if (alive && live_groups[i] == 0) {
			live_groups[i] = pgid;
			return;
		}
		if (!alive && live_groups[i] == pgid) {
			live_groups[i] = 0;
			return;
		}
	}
}

void
handler_kill_groups(void)
{
	for (int i = 0; i < MAX_GROUPS; i++)
		if (live_groups[i] > 0)
			kill(-(pid_t)live_groups[i], SIGKILL);
}

void
handler_shutdown(void)
{
	handler_exec_shutdown();
	handler_http_shutdown();
}

long long
handler_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
handler_buf_add(struct handler_buf *b, const char *s, size_t n, size_t max)
{
	size_t cap;
	char *d;

	if (n > max || b->len > max - n)
		return -1;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		d = realloc(b->d, cap);
		if (d == NULL)
			return -1;
		b->d = d;
		b->cap = cap;
	}
	memcpy(b->d + b->len, s, n);
	b->len += n;
	b->d[b->len] = '\0';
	return 0;
}

void
handler_buf_free(struct handler_buf *b)
{
	free(b->d);
	b->d = NULL;
	b->len = b->cap = 0;
}

char *
handler_text(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	char *out;
	size_t i, o, l;
	unsigned cp;

	out = malloc(len + 1);
	if (out == NULL)
		return NULL;
	for (i = 0, o = 0; i < len; ) {
		/* Controls (bar newline and tab) would reach logs and
		 * terminals through the job's error: replace them too. */
		l = text_utf8_len(s + i, len - i, &cp);
		if (l == 0 || (text_is_control(cp) && cp != '\n' &&
		    cp != '\t')) {
			out[o++] = '?';
			i += l > 0 ? l : 1;
			continue;
		}
		memcpy(out + o, s + i, l);
		o += l;
		i += l;
	}
	while (o > 0 && (out[o - 1] == '\n' || out[o - 1] == '\r' ||
	    out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	out[o] = '\0';
	return out;
}

char *
handler_strdupf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}
