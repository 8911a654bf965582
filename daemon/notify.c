/*
 * notify.c: sd_notify and sd_listen_fds through libsystemd (see notify.h).
 *
 * A failing sd_notify (no such socket, a path too long) is not an error
 * for jobd: it is logged once at debug level and the daemon goes on.
 */
#include "notify.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

static struct {
	int ready;               /* READY=1 was sent */
	int failed;              /* a failure was logged */
	char status[256];        /* the last STATUS= sent */
} nt;

#ifdef HAVE_LIBSYSTEMD
static void
notify_send(const char *msg)
{
	int r = sd_notify(0, msg);

	if (r < 0 && !nt.failed) {
		nt.failed = 1;
		log_debug("sd_notify: %s (NOTIFY_SOCKET=%s)", strerror(-r),
		    getenv("NOTIFY_SOCKET"));
	}
}
#else
static void
notify_send(const char *msg)
{
	(void)msg;
}
#endif

int
notify_enabled(void)
{
#ifdef HAVE_LIBSYSTEMD
	return getenv("NOTIFY_SOCKET") != NULL;
#else
	return 0;
#endif
}

void
notify_ready(void)
{
	if (nt.ready)
		return;
	nt.ready = 1;
	notify_send("READY=1");
}

void
notify_reloading(void)
{
	notify_send("RELOADING=1");
}

void
notify_reload_done(void)
{
	if (nt.ready)
		notify_send("READY=1");
}

void
notify_stopping(void)
{
	notify_send("STOPPING=1");
}

void
notify_status(const char *text)
{
	char msg[sizeof(nt.status) + 8];

	if (!notify_enabled() || strcmp(text, nt.status) == 0)
		return;
	snprintf(nt.status, sizeof(nt.status), "%s", text);
	snprintf(msg, sizeof(msg), "STATUS=%s", nt.status);
	notify_send(msg);
}

uint64_t
notify_watchdog_usec(void)
{
#ifdef HAVE_LIBSYSTEMD
	uint64_t usec = 0;

	if (sd_watchdog_enabled(1, &usec) > 0)
		return usec;
#endif
	return 0;
}

void
notify_watchdog(void)
{
	notify_send("WATCHDOG=1");
}

/*
 * notify_listen_fds: the sockets systemd passed (sd_listen_fds(3)), read
 * once and their variables unset.  The one named "http" (FileDescriptorName=)
 * is the dashboard's; of the others, a listening Unix stream socket is the
 * clients' and an Internet one the dashboard's (an unnamed socket as older
 * units pass it).  Anything else is refused: jobd would otherwise start
 * without the socket its unit promised.
 */
int
notify_listen_fds(int *client_fd, int *http_fd, char *err, size_t errlen)
{
	*client_fd = *http_fd = -1;
#ifdef HAVE_LIBSYSTEMD
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names), rc = 0;

	if (n < 0) {
		snprintf(err, errlen, "socket activation: LISTEN_FDS: %s",
		    strerror(-n));
		return -1;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *name = names != NULL ? names[i] : "unknown";
		int *slot = NULL;

		if (strcmp(name, "http") == 0) {
			if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0)
				slot = http_fd;
		} else if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0) {
			slot = client_fd;
		} else if (sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1,
		    0) > 0) {
			slot = http_fd;
		}
		if (slot == NULL) {
			snprintf(err, errlen, "socket activation: descriptor %d "
			    "(%s) is not a listening Unix stream socket "
			    "(jobd.socket needs ListenStream=/PATH) nor a "
			    "listening one for the dashboard", fd, name);
			rc = -1;
		} else if (*slot != -1) {
			snprintf(err, errlen, "socket activation: descriptors %d "
			    "and %d are both for the %s; jobd takes one of each",
			    *slot, fd, slot == client_fd ? "clients" :
			    "dashboard");
			rc = -1;
		} else {
			*slot = fd;
		}
	}
	if (names != NULL) {
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	return rc;
#else
	(void)err; (void)errlen;
	return 0;
#endif
}
