/*
 * log.c: one line per event, to stderr, syslog(3) or a file, filtered by
 * level, as text or JSON.
 *
 * Usable before log_open (stderr, level info).  A line is written with a
 * single write(2) so that lines of the master and its workers, sharing one
 * descriptor (2, where a file target is put too), do not interleave.  Every
 * function keeps errno.
 */
#include "log.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define LOG_LINE_MAX 2048

static struct {
	char ident[64];         /* openlog keeps the pointer: static storage */
	char role[64];
	char job[136];          /* log_set_job's, or "" */
	char path[PATH_MAX];    /* the file target's */
	int level;
	enum log_target target;
	enum log_format format;
	int journal;            /* stderr is the journal's stream */
	int opened;             /* openlog was called */
} lg = { "jobd", "", "", "", LOG_INFO, LOG_TARGET_STDERR, LOG_FORMAT_TEXT,
	 0, 0 };

static volatile sig_atomic_t reopen_pending;

static const char *const level_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"
};

static int
clamp_level(int level)
{
	return level < LOG_EMERG ? LOG_EMERG : level > LOG_DEBUG ? LOG_DEBUG :
	    level;
}

/* stderr_is_journal: JOURNAL_STREAM is "DEV:INODE" of the stream systemd
 * connected stderr to; a stderr redirected since is not it. */
static int
stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	if (v == NULL || sscanf(v, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
	    v[end] != '\0' || fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* open_file: path for appending, on descriptor 2. */
static int
open_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
	    0640);
	if (fd == -1) {
		snprintf(err, errlen, "log file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "log file %s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) == -1) {
			snprintf(err, errlen, "log file %s: dup2: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

int
log_open(const char *ident, int level, enum log_target target,
    const char *path, char *err, size_t errlen)
{
	int saved = errno;

	if (target == LOG_TARGET_FILE) {
		if (path == NULL || path[0] != '/' ||
		    strlen(path) >= sizeof(lg.path)) {
			snprintf(err, errlen, "log file: an absolute path is "
			    "needed");
			errno = saved;
			return -1;
		}
		if (open_file(path, err, errlen) == -1) {
			errno = saved;
			return -1;
		}
		snprintf(lg.path, sizeof(lg.path), "%s", path);
	}
	if (ident != NULL && ident[0] != '\0')
		snprintf(lg.ident, sizeof(lg.ident), "%s", ident);
	lg.level = clamp_level(level);
	if (lg.opened) {
		closelog();
		lg.opened = 0;
	}
	lg.target = target;
	if (target == LOG_TARGET_SYSLOG) {
		openlog(lg.ident, LOG_PID, LOG_DAEMON);
		lg.opened = 1;
	}
	lg.journal = target == LOG_TARGET_STDERR && stderr_is_journal();
	errno = saved;
	return 0;
}

int
log_reopen(void)
{
	char err[PATH_MAX + 128];
	int saved = errno;

	reopen_pending = 0;
	if (lg.target != LOG_TARGET_FILE)
		return 0;
	if (open_file(lg.path, err, sizeof(err)) == -1) {
		log_warnx("%s; still writing to the old file", err);
		errno = saved;
		return -1;
	}
	errno = saved;
	return 0;
}

static void
on_reopen_signal(int sig)
{
	(void)sig;
	reopen_pending = 1;
}

void
log_reopen_on_signal(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_reopen_signal;
	sa.sa_flags = SA_RESTART;       /* not a stop: waits go on */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

int
log_journal(void)
{
	return lg.journal;
}

void
log_set_level(int level)
{
	lg.level = clamp_level(level);
}

void
log_set_format(enum log_format format)
{
	lg.format = format;
}

void
log_set_role(const char *role)
{
	snprintf(lg.role, sizeof(lg.role), "%s", role != NULL ? role : "");
}

void
log_set_job(const char *job_id)
{
	snprintf(lg.job, sizeof(lg.job), "%s", job_id != NULL ? job_id : "");
}

/* sanitize: one event, one line, as text.h wants it: C0 controls become
 * spaces; C1 controls, bidirectional overrides and bytes that are not
 * UTF-8 become '?' (a log viewer would act on them or show garbage). */
static void
sanitize(char *s)
{
	unsigned char *r = (unsigned char *)s, *w = r;
	size_t left = strlen(s), n;
	unsigned cp;

	while (left > 0) {
		n = text_utf8_len(r, left, &cp);
		if (n == 1 && text_is_control(cp))
			*w++ = ' ';
		else if (n == 0 || text_is_control(cp))
			*w++ = '?';
		else {
			memmove(w, r, n);
			w += n;
		}
		n = n > 0 ? n : 1;
		r += n;
		left -= n;
	}
	*w = '\0';
}

/* write_line: all of it, best effort: nowhere to report a failing
 * descriptor. */
static void
write_line(const char *line, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = write(STDERR_FILENO, line + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

/* json_line: the event as one JSON object (jansson escapes quotes and
 * backslashes; sanitize has left no control and only UTF-8); NULL when
 * out of memory. */
static char *
json_line(int level, const char *stamp, const char *job_id, const char *msg)
{
	json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:s}", "ts", stamp, "level",
	    level_names[level], "pid", (json_int_t)getpid(), "role",
	    lg.role[0] != '\0' ? lg.role : "main", "msg", msg);
	char *s;

	if (o == NULL)
		return NULL;
	if (job_id != NULL && job_id[0] != '\0')
		json_object_set_new(o, "job_id", json_string(job_id));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

static void
vlog(int level, const char *job_id, const char *errstr, const char *fmt,
    va_list ap) __attribute__((format(printf, 4, 0)));

static void
vlog(int level, const char *job_id, const char *errstr, const char *fmt,
    va_list ap)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 256], stamp[40];
	char jid[136];
	struct timespec ts;
	struct tm tm;
	size_t mlen;
	char *js = NULL;
	int n;

	level = clamp_level(level);
	if (level > lg.level)
		return;
	if (reopen_pending)
		(void)log_reopen();
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(bad log format)");
	mlen = strlen(msg);
	if (errstr != NULL)
		snprintf(msg + mlen, sizeof(msg) - mlen, ": %s", errstr);
	mlen = strlen(msg);
	if (mlen == sizeof(msg) - 1)    /* truncated: say so */
		memcpy(msg + mlen - 3, "...", 3);
	sanitize(msg);
	if (job_id == NULL)
		job_id = lg.job;
	snprintf(jid, sizeof(jid), "%s", job_id);
	sanitize(jid);

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = (int)strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - (size_t)n, ".%03ldZ",
	    ts.tv_nsec / 1000000L);
	if (lg.format == LOG_FORMAT_JSON &&
	    (js = json_line(level, stamp, jid, msg)) == NULL)
		return;

	if (lg.target == LOG_TARGET_SYSLOG) {
		if (js != NULL)
			syslog(level, "%s", js);
		else if (lg.role[0] != '\0')
			syslog(level, "%s: %s", lg.role, msg);
		else
			syslog(level, "%s", msg);
		free(js);
		return;
	}

	if (js != NULL) {
		/* a JSON line is not cut: it would not parse */
		char prefix[8] = "", *out = NULL;

		if (lg.journal)
			snprintf(prefix, sizeof(prefix), "<%d>", level);
		n = asprintf(&out, "%s%s\n", prefix, js);
		if (n > 0)
			write_line(out, (size_t)n);
		free(out);
		free(js);
		return;
	}
	if (lg.journal)         /* the journal stamps and ranks lines itself */
		n = snprintf(line, sizeof(line), "<%d>%s[%ld]%s%s: %s\n", level,
		    lg.ident, (long)getpid(), lg.role[0] != '\0' ? " " : "",
		    lg.role, msg);
	else
		n = snprintf(line, sizeof(line), "%s %s[%ld]%s%s: %s: %s\n",
		    stamp, lg.ident, (long)getpid(),
		    lg.role[0] != '\0' ? " " : "", lg.role, level_names[level],
		    msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	write_line(line, (size_t)n);
}

void
log_msg(int level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(level, NULL, NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_job(int level, const char *job_id, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(level, job_id != NULL ? job_id : "", NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, NULL, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, NULL, NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, NULL, NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_debug(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_DEBUG, NULL, NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}
