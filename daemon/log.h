/*
 * log.h: one line per event, to stderr or syslog, at syslog levels.
 * log_warn appends strerror(errno); log_warnx does not.
 */
#ifndef JOBD_LOG_H
#define JOBD_LOG_H

#include <syslog.h>

/* log_init: ident for syslog and the prefix of stderr lines. */
void log_init(const char *ident, int level, int use_syslog);
void log_set_level(int level);
/* log_set_role: "master", "worker 3": shown in each line. */
void log_set_role(const char *role);

void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
