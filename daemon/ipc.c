/* ipc.c: master <-> worker messages, see ipc.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ipc.h"

int
ipc_pair(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0, fds) == -1)
		return -1;
	return 0;
}

int
ipc_send(int fd, const struct ipc_msg *m)
{
	ssize_t n;

	do
		n = send(fd, m, sizeof(*m), MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if ((size_t)n != sizeof(*m)) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int
ipc_recv(int fd, struct ipc_msg *m)
{
	ssize_t n;

	do
		n = recv(fd, m, sizeof(*m), MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
	if (n == 0)
		return -1;
	if ((size_t)n != sizeof(*m)) {
		errno = EPROTO;
		return -1;
	}
	/* Never trust a peer's strings to be terminated. */
	m->job_id[sizeof(m->job_id) - 1] = '\0';
	return 1;
}

const char *
ipc_stop_reason_name(int reason)
{
	switch (reason) {
	case STOP_TIMEOUT: return "timeout";
	case STOP_CANCEL: return "cancel";
	case STOP_LOST: return "lost";
	case STOP_SHUTDOWN: return "shutdown";
	default: return "none";
	}
}
