/*
 * http_listen.c: the HTTP server's listening socket, opened by the master
 * before it forks the HTTP child (http.h), so that a bad address fails the
 * start with one clear line and a respawned child serves the same socket.
 */

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config_value.h"
#include "http.h"
#include "log.h"


/* The Unix socket file bound here, to remove at exit (never one systemd
 * made). */
static char bound_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* set_flags: non-blocking and close-on-exec (a socket from systemd comes
 * blocking: one accept() would stall the child). */
static int
set_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	fl = fcntl(fd, F_GETFD);
	if (fl == -1 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
		return -1;
	return 0;
}

static int
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		const uint8_t *b = in6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127;
	}
	return 0;
}

static int
open_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	int fd;
	mode_t old;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "http: socket: %s", strerror(errno));
		return -1;
	}
	/* As the protocol socket: a live one is another daemon's. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(fd);
		snprintf(err, errlen, "http: %s: another server is listening "
		    "there", path);
		return -1;
	}
	if (errno == ECONNREFUSED)
		unlink(path);
	/* Owner and group only: the socket's directory says who else. */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(err, errlen, "http: bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	snprintf(bound_path, sizeof(bound_path), "%s", path);
	return fd;
}

static int
open_inet(const struct cv_listen *l, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char port[16];
	int fd, rc, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%d", l->port);
	rc = getaddrinfo(l->host, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		snprintf(err, errlen, "http: listen %s: %s", l->host,
		    gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "http: socket: %s", strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1) {
		snprintf(err, errlen, "http: bind %s:%d: %s", l->host, l->port,
		    strerror(errno));
		close(fd);
		freeaddrinfo(res);
		return -1;
	}
	if (!is_loopback(res->ai_addr))
		log_warnx("http: listening on %s:%d, which is not a loopback "
		    "address: anyone who can reach it sees the queues and "
		    "jobs", l->host, l->port);
	freeaddrinfo(res);
	return fd;
}

int
http_listen_open(const struct config *cfg, int passed_fd, char *err,
    size_t errlen)
{
	struct cv_listen l;
	int fd;

	if ((fd = passed_fd) >= 0) {
		if (set_flags(fd) == -1) {
			snprintf(err, errlen, "http: socket from systemd (fd %d): "
			    "%s", fd, strerror(errno));
			return -1;
		}
		log_info("http: serving the socket passed by systemd (fd %d)",
		    fd);
		return fd;
	}
	if (cv_parse_listen(cfg->http_listen, &l, err, errlen) == -1)
		return -1;
	fd = l.is_unix ? open_unix(l.path, err, errlen) :
	    open_inet(&l, err, errlen);
	if (fd == -1)
		return -1;
	if (listen(fd, 128) == -1 || set_flags(fd) == -1) {
		snprintf(err, errlen, "http: listen %s: %s", cfg->http_listen,
		    strerror(errno));
		http_listen_close(cfg, fd);
		return -1;
	}
	log_info("http: listening on %s", cfg->http_listen);
	return fd;
}

void
http_listen_close(const struct config *cfg, int fd)
{
	(void)cfg;
	if (fd < 0)
		return;
	if (bound_path[0] != '\0')
		unlink(bound_path);
	bound_path[0] = '\0';
	close(fd);
}
