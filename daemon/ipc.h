/*
 * ipc.h: messages between the master and one worker over a
 * SOCK_SEQPACKET socketpair (one message per packet, never split).
 *
 * worker -> master: IPC_HANDLER with the process group of a handler it
 *   spawned (0 when the handler is gone), so that the master can kill it
 *   if the worker dies.  Which job a worker runs is not a message: the
 *   worker writes it in its scoreboard record (scoreboard.h).
 * master -> worker: IPC_STOP: stop the current job now (reason given); the
 *   worker kills the handler's process group (TERM, grace, KILL) and ends
 *   the job as the reason says.
 */
#ifndef JOBD_IPC_H
#define JOBD_IPC_H

#include <sys/types.h>

enum ipc_type {
	IPC_HANDLER = 2,
	IPC_STOP = 4,
};

enum ipc_stop_reason {
	STOP_NONE = 0,
	STOP_TIMEOUT,   /* fail (or retry) with a timeout error */
	STOP_CANCEL,    /* becomes canceled */
	STOP_LOST,      /* the lease is gone: drop the job, store nothing */
	STOP_SHUTDOWN,  /* put back in its queue, attempt not counted */
};

struct ipc_msg {
	int type;               /* enum ipc_type */
	int reason;             /* IPC_STOP: enum ipc_stop_reason */
	pid_t pgid;             /* IPC_HANDLER */
	char job_id[136];
};

/* ipc_pair: a SOCK_SEQPACKET socketpair, close-on-exec, both ends
 * non-blocking.  0 or -1 with errno. */
int ipc_pair(int fds[2]);
/* ipc_send: 0, or -1 with errno (EAGAIN when the peer is not reading). */
int ipc_send(int fd, const struct ipc_msg *m);
/* ipc_recv: 1 with *m filled, 0 when nothing is waiting, -1 on EOF/error. */
int ipc_recv(int fd, struct ipc_msg *m);
const char *ipc_stop_reason_name(int reason);

#endif
