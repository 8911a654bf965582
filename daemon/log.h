/*
 * log.h: one line per event, to stderr, syslog or a file, at syslog levels,
 * as text or as one JSON object per line.
 * log_warn appends strerror(errno); log_warnx does not.
 */
#ifndef JOBD_LOG_H
#define JOBD_LOG_H

#include <stddef.h>
#include <syslog.h>

enum log_target { LOG_TARGET_STDERR, LOG_TARGET_SYSLOG, LOG_TARGET_FILE };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* log_open: where lines go from now on.  ident: the syslog ident and the
 * prefix of text lines.  A file (path, absolute) is opened for appending
 * and put on descriptor 2, so that the workers, which keep 0..2, write to
 * it too.  0, or -1 with why in err (the previous target kept). */
int log_open(const char *ident, int level, enum log_target target,
    const char *path, char *err, size_t errlen);
/* log_reopen: the file target opened again by its path (after logrotate
 * renamed it); a no-op for the others.  0 or -1 (logged, the old file
 * kept). */
int log_reopen(void);
/* log_reopen_on_signal: SIGUSR1 makes this process reopen the file before
 * its next line (for the workers and the HTTP child: the master handles
 * SIGUSR1 in its event loop and calls log_reopen). */
void log_reopen_on_signal(void);
/* log_journal: stderr is the journal's stream (JOURNAL_STREAM names it):
 * lines carry <N> priority prefixes and no timestamp. */
int log_journal(void);
void log_set_level(int level);
void log_set_format(enum log_format format);
/* log_set_role: "master", "worker 3": shown in each line. */
void log_set_role(const char *role);
/* log_set_job: the job this process runs now (NULL: none); a JSON line
 * carries it as job_id. */
void log_set_job(const char *job_id);

void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* log_job: a line about job_id (a JSON line's job_id; the text is fmt's,
 * which names the job itself). */
void log_job(int level, const char *job_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
