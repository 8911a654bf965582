/*
 * notify.h: telling systemd how jobd is (sd_notify: READY, STATUS,
 * RELOADING, STOPPING, WATCHDOG) and taking the listening socket it passes
 * (socket activation).  Built without libsystemd, all are no-ops.
 * Master only: the messages of other processes would be ignored.
 */
#ifndef JOBD_NOTIFY_H
#define JOBD_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

/* notify_enabled: NOTIFY_SOCKET is set (STATUS lines are worth making). */
int notify_enabled(void);
/* notify_ready: READY=1 the first time; after a reload, READY=1 again. */
void notify_ready(void);
void notify_reloading(void);
/* notify_reload_done: READY=1 if ready was said before the reload. */
void notify_reload_done(void);
void notify_stopping(void);
/* notify_status: STATUS=text, when it differs from the last one sent. */
void notify_status(const char *text);
/* notify_watchdog_usec: the watchdog interval systemd asks of this
 * process (WATCHDOG_USEC, WATCHDOG_PID), or 0; the variables are unset,
 * so that children do not see them. */
uint64_t notify_watchdog_usec(void);
void notify_watchdog(void);
/* notify_listen_fds: the sockets systemd passed (LISTEN_FDS, LISTEN_PID,
 * LISTEN_FDNAMES): the clients' Unix socket and the dashboard's ("http"),
 * each -1 when not passed; -1 with why in err for one jobd cannot use.
 * The variables are unset.  Without libsystemd nothing is taken. */
int notify_listen_fds(int *client_fd, int *http_fd, char *err,
    size_t errlen);

#endif
