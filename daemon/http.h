/*
 * http.h: the monitoring server ([http] listen; docs/monitoring.md).
 *
 * The master opens the listening socket once (http_listen_open) and forks
 * a child that serves it with libevent's evhttp (http_main), supervised
 * like a worker.  The child holds no Redis connection: it is an ordinary
 * protocol client of the master on its Unix socket, so that every page it
 * serves goes through the ops, their access checks and their bounds, and a
 * slow or hostile HTTP client can stall or crash only the child.
 */
#ifndef JOBD_HTTP_H
#define JOBD_HTTP_H

#include "config.h"

/* http_listen_open: the listening socket for cfg->http_listen, non-blocking
 * and close-on-exec: passed_fd (systemd's, see notify_listen_fds) if it is
 * not -1, else bound here (a stale Unix socket file is replaced, a live one
 * refused).  A non-loopback address is logged as a warning.  -1 with a
 * message in err. */
int http_listen_open(const struct config *cfg, int passed_fd, char *err,
    size_t errlen);
/* http_listen_close: close fd; unlink the Unix socket file we bound. */
void http_listen_close(const struct config *cfg, int fd);

/* http_main: the body of the HTTP child after fork: serve fd until
 * SIGTERM.  Returns the process exit status. */
int http_main(const struct config *cfg, int fd);

#endif
