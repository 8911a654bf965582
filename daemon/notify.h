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
/* notify_listen_fd: the socket systemd passed (LISTEN_FDS, LISTEN_PID):
 * its descriptor, -1 when none was passed, or -2 with why in err (not
 * exactly one, or not a listening Unix stream socket).  The variables
 * are unset. */
int notify_listen_fd(char *err, size_t errlen);

#endif
