/*
 * log.c: one line per event, to stderr or syslog(3), filtered by level.
 *
 * Usable before log_init (stderr, level info).  A stderr line is written
 * with a single write(2) so that lines of the master and its workers,
 * sharing one descriptor, do not interleave.  Every function keeps errno.
 */
#include "log.h"
#include "text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static struct {
	char ident[64];         /* openlog keeps the pointer: static storage */
	char role[64];
	int level;
	int use_syslog;
	int opened;             /* openlog was called */
} lg = { "jobd", "", LOG_INFO, 0, 0 };

static const char *const level_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"
};

static int
clamp_level(int level)
{
	return level < LOG_EMERG ? LOG_EMERG : level > LOG_DEBUG ? LOG_DEBUG :
	    level;
}

void
log_init(const char *ident, int level, int use_syslog)
{
	int saved = errno;

	if (ident != NULL && ident[0] != '\0')
		snprintf(lg.ident, sizeof(lg.ident), "%s", ident);
	lg.level = clamp_level(level);
	if (lg.opened) {
		closelog();
		lg.opened = 0;
	}
	lg.use_syslog = use_syslog != 0;
	if (lg.use_syslog) {
		openlog(lg.ident, LOG_PID, LOG_DAEMON);
		lg.opened = 1;
	}
	errno = saved;
}

void
log_set_level(int level)
{
	lg.level = clamp_level(level);
}

void
log_set_role(const char *role)
{
	snprintf(lg.role, sizeof(lg.role), "%s", role != NULL ? role : "");
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

static void
vlog(int level, const char *errstr, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
vlog(int level, const char *errstr, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 256];
	size_t mlen;
	int n;

	level = clamp_level(level);
	if (level > lg.level)
		return;
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

	if (lg.use_syslog) {
		if (lg.role[0] != '\0')
			syslog(level, "%s: %s", lg.role, msg);
		else
			syslog(level, "%s", msg);
		return;
	}

	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s[%ld]%s%s: %s: %s\n",
	    stamp, ts.tv_nsec / 1000000L, lg.ident, (long)getpid(),
	    lg.role[0] != '\0' ? " " : "", lg.role, level_names[level], msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* best effort: nowhere to report a failing stderr */
	for (size_t off = 0; off < (size_t)n;) {
		ssize_t w = write(STDERR_FILENO, line + off, (size_t)n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

void
log_msg(int level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_debug(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_DEBUG, NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}
