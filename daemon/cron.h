/*
 * cron.h: the schedules of [cron:NAME] sections (docs/jobd.md, "Periodic
 * jobs"): the 5-field syntax and its @ aliases, and the next and previous
 * tick of a schedule in an IANA time zone, with daylight saving time
 * handled as Debian's cron does.  Pure functions of their arguments (the
 * zone is read through TZ, set and restored around each call: callers are
 * single-threaded, as the master is).
 */
#ifndef JOBD_CRON_H
#define JOBD_CRON_H

#include <stddef.h>
#include <stdint.h>

#define CRON_SPEC_MAX 256   /* bytes of a schedule */
#define CRON_TZ_MAX   64    /* bytes of a zone name */
#define CRON_ID_MAX   (5 + 64 + 1 + 20 + 1) /* "cron:NAME:<tick>" */

struct cron_sched {
	uint64_t min;       /* bit m: minute m (0..59) */
	uint32_t hour;      /* bit h: hour h (0..23) */
	uint32_t dom;       /* bit d: day of month d (1..31) */
	uint16_t mon;       /* bit m: month m (1..12) */
	uint8_t dow;        /* bit d: weekday d (0 Sunday .. 6) */
	unsigned dom_star:1, dow_star:1; /* field began with '*' */
	unsigned fixed:1;   /* neither minute nor hour began with '*' */
};

/* cron_parse: spec into *out; -1 and why (naming the bad part) if it is
 * not a schedule or never fires. */
int cron_parse(const char *spec, struct cron_sched *out, char *why,
               size_t whylen);

/* cron_tz_check: 0 if tz names a zone of /usr/share/zoneinfo; -1 and why. */
int cron_tz_check(const char *tz, char *why, size_t whylen);

/* cron_next: the first tick after t (Unix seconds) in zone tz, or -1 if
 * none within 30 years.  cron_prev: the last tick at or before t, or -1. */
long long cron_next(const struct cron_sched *s, const char *tz, long long t);
long long cron_prev(const struct cron_sched *s, const char *tz, long long t);

/* cron_tick_text: t as 2026-12-05T09:00:00Z (buf of at least 21 bytes). */
void cron_tick_text(long long t, char *buf, size_t len);

#endif
