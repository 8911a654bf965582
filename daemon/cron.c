/*
 * cron.c: schedule syntax and tick times (see cron.h).
 *
 * A tick is found in two steps: the next wall-clock minute the fields
 * match (plain calendar arithmetic, no zone), then the instants that wall
 * time has in the zone.  Daylight saving time, as Debian's cron (man 8
 * cron) does it: a fixed-time schedule (neither minute nor hour begins
 * with '*') whose wall time falls in a skipped hour runs at the moment of
 * the change, and in a repeated hour runs once (the first time); any
 * other schedule follows the clock: nothing in a skipped hour, and the
 * repeated hour runs again.
 */
#include "cron.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define ZONEINFO "/usr/share/zoneinfo/"
#define HOUR 3600LL
#define DAY 86400LL
#define HORIZON (30 * 366 * DAY) /* no tick this far ahead: none */
#define SHIFT_MAX (3 * HOUR)     /* the largest clock change handled */

static int why_f(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
why_f(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- parsing -------------------------------------------------------------- */

struct field {
	const char *name;
	int lo, hi;
	const char *const *names; /* index 0 is value lo */
};

static const char *const mon_names[] = { "jan", "feb", "mar", "apr", "may",
    "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const dow_names[] = { "sun", "mon", "tue", "wed", "thu",
    "fri", "sat", NULL };

static const struct field fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, mon_names },
	{ "day of week", 0, 7, dow_names },   /* 7 is Sunday too */
};

/* value: a number or (where the field has them) a 3-letter name at *p. */
static int
value(const struct field *f, const char **p, int *out, char *why,
      size_t len)
{
	const char *s = *p;

	if (isdigit((unsigned char)*s)) {
		long v = 0;

		while (isdigit((unsigned char)*s) && v <= 1000)
			v = v * 10 + (*s++ - '0');
		if (isdigit((unsigned char)*s) || v < f->lo || v > f->hi)
			return why_f(why, len, "%s: %.*s is not in %d..%d",
			    f->name, (int)(strspn(*p, "0123456789")), *p,
			    f->lo, f->hi);
		*out = (int)v;
		*p = s;
		return 0;
	}
	if (f->names != NULL && isalpha((unsigned char)*s)) {
		for (int i = 0; f->names[i] != NULL; i++) {
			if (strncasecmp(s, f->names[i], 3) == 0 &&
			    !isalpha((unsigned char)s[3])) {
				*out = f->lo + i;
				*p = s + 3;
				return 0;
			}
		}
	}
	return why_f(why, len, "%s: expected a %s at '%.16s'", f->name,
	    f->names != NULL ? "number or name" : "number", s);
}

/* parse_field: a comma list of *, N, N-M, with /STEP after * or a range. */
static int
parse_field(const struct field *f, const char *s, uint64_t *bits, int *star,
            char *why, size_t len)
{
	*bits = 0;
	*star = s[0] == '*';
	for (;;) {
		int a, b, step = 1, range = 0;

		if (*s == '*') {
			a = f->lo;
			b = f->hi;
			range = 1;
			s++;
		} else {
			if (value(f, &s, &a, why, len) == -1)
				return -1;
			b = a;
			if (*s == '-') {
				s++;
				if (value(f, &s, &b, why, len) == -1)
					return -1;
				if (b < a)
					return why_f(why, len, "%s: range %d-%d "
					    "is reversed", f->name, a, b);
				range = 1;
			}
		}
		if (*s == '/') {
			long v = 0;
			const char *d = ++s;

			if (!range)
				return why_f(why, len, "%s: a step needs a "
				    "range or *", f->name);
			while (isdigit((unsigned char)*s) && v <= 1000)
				v = v * 10 + (*s++ - '0');
			if (s == d || isdigit((unsigned char)*s) || v < 1 ||
			    v > f->hi)
				return why_f(why, len, "%s: bad step (1..%d)",
				    f->name, f->hi);
			step = (int)v;
		}
		for (int v = a; v <= b; v += step)
			*bits |= 1ULL << v;
		if (*s == '\0')
			return 0;
		if (*s != ',')
			return why_f(why, len, "%s: unexpected '%c'", f->name,
			    *s);
		s++;
	}
}

static const struct { const char *name, *spec; } aliases[] = {
	{ "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" }, { "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" }, { "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

static const int mdays[13] = { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
    30, 31 };

int
cron_parse(const char *spec, struct cron_sched *out, char *why,
           size_t whylen)
{
	char buf[CRON_SPEC_MAX + 1], *word[6], *save = NULL;
	uint64_t bits[5];
	int star[5], n = 0;

	if (spec == NULL || strlen(spec) > CRON_SPEC_MAX)
		return why_f(why, whylen, "longer than %d bytes", CRON_SPEC_MAX);
	while (isspace((unsigned char)*spec))
		spec++;
	if (spec[0] == '@') {
		size_t k = strcspn(spec, " \t");

		const char *rest = spec + k + strspn(spec + k, " \t");

		if (k == 7 && strncasecmp(spec, "@reboot", 7) == 0)
			return why_f(why, whylen, "@reboot is not supported: "
			    "jobd's schedules follow the clock, and a daemon "
			    "(re)start is not an event of the cluster");
		for (size_t i = 0; i < sizeof(aliases) / sizeof(*aliases); i++)
			if (strlen(aliases[i].name) == k &&
			    strncasecmp(spec, aliases[i].name, k) == 0)
				spec = aliases[i].spec;
		if (spec[0] == '@')
			return why_f(why, whylen, "unknown alias %.*s (expected "
			    "@yearly, @annually, @monthly, @weekly, @daily, "
			    "@midnight or @hourly)", (int)(k > 20 ? 20 : k),
			    spec);
		if (*rest != '\0')
			return why_f(why, whylen, "nothing may follow an @ "
			    "alias");
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *w = strtok_r(buf, " \t", &save); w != NULL;
	    w = strtok_r(NULL, " \t", &save)) {
		if (n == 5)
			return why_f(why, whylen, "more than 5 fields (minute "
			    "hour day-of-month month day-of-week)");
		word[n++] = w;
	}
	if (n < 5)
		return why_f(why, whylen, "%d field%s, expected 5 (minute hour "
		    "day-of-month month day-of-week) or an @ alias", n,
		    n == 1 ? "" : "s");
	for (int i = 0; i < 5; i++)
		if (parse_field(&fields[i], word[i], &bits[i], &star[i], why,
		    whylen) == -1)
			return -1;
	memset(out, 0, sizeof(*out));
	out->min = bits[0];
	out->hour = (uint32_t)bits[1];
	out->dom = (uint32_t)bits[2];
	out->mon = (uint16_t)bits[3];
	out->dow = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f);
	out->dom_star = (unsigned)star[2];
	out->dow_star = (unsigned)star[4];
	out->fixed = !star[0] && !star[1];
	/* the day of month alone decides (the weekday is *): some month of
	 * the list must have such a day */
	if (out->dow_star) {
		int ok = 0;

		for (int m = 1; m <= 12 && !ok; m++)
			for (int d = 1; d <= mdays[m] && !ok; d++)
				ok = (out->mon >> m & 1) && (out->dom >> d & 1);
		if (!ok)
			return why_f(why, whylen, "never fires (no such day in "
			    "the months given)");
	}
	return 0;
}

/* ---- zones -------------------------------------------------------------------- */

int
cron_tz_check(const char *tz, char *why, size_t whylen)
{
	char path[sizeof(ZONEINFO) + CRON_TZ_MAX], magic[4];
	size_t n = tz != NULL ? strlen(tz) : 0;
	int fd, ok;

	if (n == 0 || n > CRON_TZ_MAX || tz[0] == '/' || strstr(tz, "..") ||
	    strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789/_+-") != n)
		return why_f(why, whylen, "not a time zone name (like "
		    "Europe/Berlin, 1..%d of A-Z a-z 0-9 / _ + -)", CRON_TZ_MAX);
	snprintf(path, sizeof(path), ZONEINFO "%s", tz);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return why_f(why, whylen, "unknown time zone (no %s)", path);
	ok = read(fd, magic, 4) == 4 && memcmp(magic, "TZif", 4) == 0;
	close(fd);
	if (!ok)
		return why_f(why, whylen, "unknown time zone (%s is not a "
		    "tzfile)", path);
	return 0;
}

/* The zone is switched through TZ for the length of one call. */
struct tz_saved {
	char *old;
	int had;
};

static void
tz_enter(const char *tz, struct tz_saved *sv)
{
	const char *o = getenv("TZ");
	char val[CRON_TZ_MAX + 2];

	sv->had = o != NULL;
	sv->old = o != NULL ? strdup(o) : NULL;
	snprintf(val, sizeof(val), ":%s", tz != NULL && tz[0] ? tz : "UTC");
	setenv("TZ", val, 1);
	tzset();
}

static void
tz_leave(struct tz_saved *sv)
{
	if (sv->had && sv->old != NULL)
		setenv("TZ", sv->old, 1);
	else
		unsetenv("TZ");
	free(sv->old);
	tzset();
}

/* wall: the local wall time of instant u, as seconds of a zone-less
 * calendar (timegm of the local fields); *off its UTC offset. */
static long long
wall(long long u, long *off)
{
	time_t t = (time_t)u;
	struct tm tm;

	localtime_r(&t, &tm);
	if (off != NULL)
		*off = tm.tm_gmtoff;
	return (long long)timegm(&tm);
}

/* ---- ticks ------------------------------------------------------------------------ */

static int
day_matches(const struct cron_sched *s, const struct tm *tm)
{
	int dom = s->dom >> tm->tm_mday & 1, dow = s->dow >> tm->tm_wday & 1;

	/* as cron: if either field begins with '*', both must match;
	 * otherwise either may */
	return s->dom_star || s->dow_star ? dom && dow : dom || dow;
}

/* next_wall: the first wall time >= w (zone-less seconds) the fields
 * match, or -1 beyond limit. */
static long long
next_wall(const struct cron_sched *s, long long w, long long limit)
{
	struct tm tm;
	time_t t;

	w = (w + 59) / 60 * 60;
	while (w <= limit) {
		t = (time_t)w;
		gmtime_r(&t, &tm);
		if (!(s->mon >> (tm.tm_mon + 1) & 1)) {
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		} else if (!day_matches(s, &tm)) {
			tm.tm_mday++;
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		} else if (!(s->hour >> tm.tm_hour & 1)) {
			tm.tm_hour++;
			tm.tm_min = tm.tm_sec = 0;
		} else if (!(s->min >> tm.tm_min & 1)) {
			tm.tm_min++;
			tm.tm_sec = 0;
		} else {
			return w;
		}
		w = (long long)timegm(&tm);
	}
	return -1;
}

/* instants: the ticks of wall time w (0, 1 or 2 of them, see the top). */
static int
instants(const struct cron_sched *s, long long w, long long out[2])
{
	long o1, o2;
	int n = 0;

	(void)wall(w - DAY, &o1);
	(void)wall(w + DAY, &o2);
	if (wall(w - o1, NULL) == w)
		out[n++] = w - o1;
	if (o2 != o1 && wall(w - o2, NULL) == w)
		out[n++] = w - o2;
	if (n == 2) {
		if (out[1] < out[0]) {
			long long x = out[0];

			out[0] = out[1];
			out[1] = x;
		}
		return s->fixed ? 1 : 2;   /* repeated */
	}
	if (n == 0 && s->fixed) {
		/* skipped: the moment the clock jumps past w */
		long long lo = w - DAY - 14 * HOUR, hi = w + DAY;

		while (hi - lo > 1) {
			long long mid = lo + (hi - lo) / 2;

			if (wall(mid, NULL) > w)
				hi = mid;
			else
				lo = mid;
		}
		out[n++] = hi;
	}
	return n;
}

static long long
next_in_zone(const struct cron_sched *s, long long t)
{
	long off;
	long long start = wall(t, &off) - SHIFT_MAX, best = -1;
	long long limit = start + HORIZON, omax = off;

	for (long long w = next_wall(s, start, limit); w >= 0;
	    w = next_wall(s, w + 60, limit)) {
		long long u[2];
		long o;
		int n;

		/* no later wall time can give an earlier instant */
		(void)wall(w, &o);
		if (o > omax)
			omax = o;
		if (best >= 0 && w - omax - SHIFT_MAX > best)
			break;
		n = instants(s, w, u);
		for (int i = 0; i < n; i++)
			if (u[i] > t && (best < 0 || u[i] < best))
				best = u[i];
	}
	return best;
}

long long
cron_next(const struct cron_sched *s, const char *tz, long long t)
{
	struct tz_saved sv;
	long long r;

	tz_enter(tz, &sv);
	r = next_in_zone(s, t);
	tz_leave(&sv);
	return r;
}

long long
cron_prev(const struct cron_sched *s, const char *tz, long long t)
{
	static const long long back[] = { HOUR, DAY, 32 * DAY, 367 * DAY,
	    9 * 367 * DAY, 30 * 367 * DAY };
	struct tz_saved sv;
	long long r = -1;

	tz_enter(tz, &sv);
	/* growing windows: a dense schedule is found in a small one */
	for (size_t i = 0; i < sizeof(back) / sizeof(*back) && r < 0; i++) {
		long long u = next_in_zone(s, t - back[i]);

		while (u >= 0 && u <= t) {
			r = u;
			u = next_in_zone(s, u);
		}
	}
	tz_leave(&sv);
	return r;
}

void
cron_tick_text(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
