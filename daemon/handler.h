/*
 * handler.h: running one job in a worker process.  One file per handler
 * kind: handler_builtin.c, handler_exec.c (one-shot and persistent),
 * handler_http.c; handler.c holds what they share (dispatch, stop checks).
 */
#ifndef JOBD_HANDLER_H
#define JOBD_HANDLER_H

#include "config.h"
#include "store.h"

enum handler_outcome {
	HANDLER_OK = 0,     /* *result holds the result JSON text */
	HANDLER_FAILED,     /* *error holds the reason */
	HANDLER_REFUSED,    /* as FAILED, and a retry cannot help: none */
	HANDLER_STOPPED,    /* stopped by the master: ctx->stop_reason says why */
};

struct handler_ctx {
	const struct config *cfg;
	const struct job_type *type;
	const struct store_job *job;
	struct store_sync *ss;   /* for progress */
	int ctl_fd;              /* the master's socket (IPC_STOP arrives here) */
	int stop_reason;         /* enum ipc_stop_reason, set by handler_poll */
};

/* handler_run: run ctx->job with ctx->type's handler.  Returns an enum
 * handler_outcome; *result or *error is malloc'd text owned by the caller. */
int handler_run(struct handler_ctx *ctx, char **result, char **error);

/* handler_poll: wait up to timeout_ms (0: just look) for a stop request
 * from the master; returns the stop reason (STOP_NONE if none). */
int handler_poll(struct handler_ctx *ctx, int timeout_ms);

/* handler_report_pgid: tell the master the process group of a running
 * handler (0: it is gone), so that it can kill it if this worker dies. */
void handler_report_pgid(struct handler_ctx *ctx, pid_t pgid);

/* handler_track_group: note a handler process group as live (alive=1) or
 * gone, for handler_kill_groups. */
void handler_track_group(pid_t pgid, int alive);
/* handler_kill_groups: SIGKILL every live handler process group, children
 * of handlers included.  Async-signal-safe: the worker calls it when its
 * master dies. */
void handler_kill_groups(void);

/* handler_shutdown: stop persistent handler processes (worker exit). */
void handler_shutdown(void);

/* Per kind, called by handler_run. */
int handler_builtin_run(struct handler_ctx *ctx, char **result, char **error);
int handler_exec_run(struct handler_ctx *ctx, char **result, char **error);
int handler_http_run(struct handler_ctx *ctx, char **result, char **error);
/* the jobd.webhook builtin: a signed callback_url delivery */
int handler_webhook_run(struct handler_ctx *ctx, char **result, char **error);
void handler_exec_shutdown(void);
void handler_http_shutdown(void);

/* Shared by the handler kinds (handler.c). */
struct ipc_msg;
/* handler_send: ipc_send, waiting (bounded) while the master's socket is
 * full.  0, or -1 with errno. */
int handler_send(int ctl_fd, const struct ipc_msg *m);
/* handler_now_ms: a monotonic clock in milliseconds. */
long long handler_now_ms(void);
/* handler_text: a malloc'd, NUL-terminated copy of len bytes of buf made
 * safe for a JSON string and a terminal (invalid UTF-8 and the controls
 * of text.h bar newline and tab become '?', trailing white space
 * dropped).  NULL on allocation failure. */
char *handler_text(const char *buf, size_t len);
/* A growing byte buffer with a hard bound: what a handler wrote. */
struct handler_buf {
	char *d;            /* NUL-terminated; NULL while empty */
	size_t len, cap;
};
/* handler_buf_add: append n bytes; -1 when the result would pass max (or
 * no memory), and then b is as it was. */
int handler_buf_add(struct handler_buf *b, const char *s, size_t n,
    size_t max);
void handler_buf_free(struct handler_buf *b);
/* handler_strdupf: malloc'd formatted text (NULL on allocation failure). */
char *handler_strdupf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif
