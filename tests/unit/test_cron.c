/* test_cron.c: schedule syntax (every form and every refusal), next and
 * previous ticks across month ends, leap years, the day-of-month/weekday
 * rule, and daylight saving time as Debian's cron handles it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"

/* at: an ISO-8601 UTC time (YYYY-MM-DDTHH:MM:SSZ) as Unix seconds. */
static long long
at(const char *iso)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
		fail_msg("bad test time %s", iso);
	return (long long)timegm(&tm);
}

static struct cron_sched
parsed(const char *spec)
{
	struct cron_sched s;
	char why[256];

	if (cron_parse(spec, &s, why, sizeof(why)) != 0)
		fail_msg("%s: %s", spec, why);
	return s;
}

static void
test_parse_forms(void **state)
{
	struct cron_sched s;

	(void)state;
	s = parsed("* * * * *");
	assert_true(s.min == (1ULL << 60) - 1);
	assert_true(s.hour == (1U << 24) - 1);
	assert_true(s.dom == (uint32_t)((1ULL << 32) - 2));
	assert_true(s.mon == 0x1ffe);
	assert_true(s.dow == 0x7f);
	assert_true(s.dom_star && s.dow_star && !s.fixed);

	s = parsed("0 9 * * 1-5");
	assert_true(s.min == 1 && s.hour == 1U << 9 && s.dow == 0x3e);
	assert_true(s.fixed);

	s = parsed("*/15 * * * *");
	assert_true(s.min == (1ULL | 1ULL << 15 | 1ULL << 30 | 1ULL << 45));
	assert_false(s.fixed);

	s = parsed("5-50/20 1,3,5-6 1,15 * *");
	assert_true(s.min == (1ULL << 5 | 1ULL << 25 | 1ULL << 45));
	assert_true(s.hour == (1U << 1 | 1U << 3 | 1U << 5 | 1U << 6));
	assert_true(s.dom == (1U << 1 | 1U << 15));
	assert_false(s.dom_star);

	s = parsed("  0 12 * JAN-mar,Dec Mon,fri  ");
	assert_true(s.mon == (1 << 1 | 1 << 2 | 1 << 3 | 1 << 12));
	assert_true(s.dow == (1 << 1 | 1 << 5));
	assert_false(s.dow_star);

	s = parsed("0 0 * * 7");          /* 7 is Sunday */
	assert_true(s.dow == 1);
	s = parsed("0 0 * * 0,7");
	assert_true(s.dow == 1);
	s = parsed("0\t0\t*/2\t*\t5");
	assert_true(s.dom_star);           /* "*\/2" counts as '*' (cron) */

	s = parsed("@hourly");
	assert_true(s.min == 1 && s.hour == (1U << 24) - 1 && !s.fixed);
	s = parsed("@daily");
	assert_true(s.min == 1 && s.hour == 1 && s.fixed);
	s = parsed("@midnight");
	assert_true(s.min == 1 && s.hour == 1);
	s = parsed("@weekly");
	assert_true(s.dow == 1 && !s.dow_star);
	s = parsed("@monthly");
	assert_true(s.dom == 2 && s.mon == 0x1ffe);
	s = parsed("@yearly");
	assert_true(s.dom == 2 && s.mon == 2);
	s = parsed("@annually");
	assert_true(s.dom == 2 && s.mon == 2);
	s = parsed("@DAILY");
	assert_true(s.fixed);
}

static void
test_parse_refusals(void **state)
{
	static const struct { const char *spec, *why; } cases[] = {
		{ "", "0 fields, expected 5" },
		{ "* * * *", "4 fields, expected 5" },
		{ "* * * * * *", "more than 5 fields" },
		{ "60 * * * *", "minute: 60 is not in 0..59" },
		{ "* 24 * * *", "hour: 24 is not in 0..23" },
		{ "* * 0 * *", "day of month: 0 is not in 1..31" },
		{ "* * 32 * *", "day of month: 32 is not in 1..31" },
		{ "* * * 0 *", "month: 0 is not in 1..12" },
		{ "* * * 13 *", "month: 13 is not in 1..12" },
		{ "* * * * 8", "day of week: 8 is not in 0..7" },
		{ "99999999999999999999 * * * *", "minute: 99999999999999999999 "
		  "is not in 0..59" },
		{ "5-1 * * * *", "minute: range 5-1 is reversed" },
		{ "*/0 * * * *", "minute: bad step (1..59)" },
		{ "*/60 * * * *", "minute: bad step (1..59)" },
		{ "*/ * * * *", "minute: bad step" },
		{ "5/10 * * * *", "minute: a step needs a range or *" },
		{ "* * * foo *", "month: expected a number or name at 'foo'" },
		{ "* * * * monday", "day of week: expected a number or name" },
		{ "jan * * * *", "minute: expected a number at 'jan'" },
		{ "1,,2 * * * *", "minute: expected a number at ',2'" },
		{ "1;2 * * * *", "minute: unexpected ';'" },
		{ "- * * * *", "minute: expected a number" },
		{ "1- * * * *", "minute: expected a number" },
		{ "@reboot", "@reboot is not supported" },
		{ "@every", "unknown alias @every" },
		{ "@daily 5", "nothing may follow an @ alias" },
		{ "@every 5m", "unknown alias @every" },
		{ "0 0 30 2 *", "never fires" },
		{ "0 0 31 4,6,9,11 *", "never fires" },
	};
	struct cron_sched s;
	char why[256], big[CRON_SPEC_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		if (cron_parse(cases[i].spec, &s, why, sizeof(why)) != -1)
			fail_msg("'%s' was accepted", cases[i].spec);
		if (strstr(why, cases[i].why) == NULL)
			fail_msg("'%s': '%s' does not say '%s'", cases[i].spec,
			    why, cases[i].why);
	}
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cron_parse(big, &s, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "longer than 256 bytes"));
	/* Feb 29 exists; 31 in a month list with one 31-day month too */
	parsed("0 0 29 2 *");
	parsed("0 0 31 4,5 *");
	/* with a weekday given, the day-of-month list is OR'ed: fires */
	parsed("0 0 30 2 mon");
}

struct next_case {
	const char *spec, *tz, *after, *next;
};

static void
check_next(const struct next_case *c, size_t n)
{
	char got[32];

	for (size_t i = 0; i < n; i++) {
		struct cron_sched s = parsed(c[i].spec);
		long long t = cron_next(&s, c[i].tz, at(c[i].after));

		cron_tick_text(t, got, sizeof(got));
		if (t < 0 || strcmp(got, c[i].next) != 0)
			fail_msg("'%s' in %s after %s: %s, expected %s",
			    c[i].spec, c[i].tz, c[i].after, t < 0 ? "none" : got,
			    c[i].next);
	}
}

static void
test_next_calendar(void **state)
{
	static const struct next_case cases[] = {
		{ "* * * * *", "UTC", "2026-12-05T09:00:30Z",
		  "2026-12-05T09:01:00Z" },
		{ "* * * * *", "UTC", "2026-12-05T09:00:00Z",
		  "2026-12-05T09:01:00Z" },
		{ "*/15 * * * *", "UTC", "2026-12-05T09:50:00Z",
		  "2026-12-05T10:00:00Z" },
		{ "0 9 * * 1-5", "UTC", "2026-12-04T10:00:00Z",
		  "2026-12-07T09:00:00Z" },           /* Friday -> Monday */
		{ "0 0 1 * *", "UTC", "2026-01-31T12:00:00Z",
		  "2026-02-01T00:00:00Z" },
		{ "0 0 31 * *", "UTC", "2026-04-01T00:00:00Z",
		  "2026-05-31T00:00:00Z" },           /* April has no 31st */
		{ "59 23 31 12 *", "UTC", "2026-12-31T23:59:00Z",
		  "2027-12-31T23:59:00Z" },
		{ "0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z",
		  "2028-02-29T00:00:00Z" },           /* next leap year */
		{ "0 12 29 2 *", "UTC", "2096-03-01T00:00:00Z",
		  "2104-02-29T12:00:00Z" },           /* 2100 is not one */
		{ "0 0 1 jan *", "UTC", "2026-12-05T00:00:00Z",
		  "2027-01-01T00:00:00Z" },
		{ "0 0 * * 7", "UTC", "2026-12-05T00:00:00Z",
		  "2026-12-06T00:00:00Z" },           /* Saturday -> Sunday */
		/* both day fields given: either (cron's OR rule) */
		{ "0 0 13 * fri", "UTC", "2026-12-05T00:00:00Z",
		  "2026-12-11T00:00:00Z" },           /* a Friday */
		{ "0 0 13 * fri", "UTC", "2026-12-11T00:00:00Z",
		  "2026-12-13T00:00:00Z" },           /* the 13th, a Sunday */
		/* one of them begins with '*': both (AND) */
		{ "0 0 */2 * fri", "UTC", "2026-12-05T00:00:00Z",
		  "2026-12-11T00:00:00Z" },           /* odd day and Friday */
		{ "0 0 */2 * fri", "UTC", "2026-12-11T00:00:00Z",
		  "2026-12-25T00:00:00Z" },
		{ "0 0 1 * mon", "UTC", "2026-12-01T12:00:00Z",
		  "2026-12-07T00:00:00Z" },
		{ "0 9 * * *", "Asia/Kolkata", "2026-12-05T00:00:00Z",
		  "2026-12-05T03:30:00Z" },           /* UTC+5:30 */
		{ "0 9 * * *", "America/New_York", "2026-12-05T00:00:00Z",
		  "2026-12-05T14:00:00Z" },
		{ "@yearly", "Europe/Berlin", "2026-12-05T00:00:00Z",
		  "2026-12-31T23:00:00Z" },
	};

	(void)state;
	check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Europe/Berlin 2026: 02:00 CET -> 03:00 CEST on March 29 (01:00Z); 03:00
 * CEST -> 02:00 CET on October 25 (01:00Z).  America/New_York 2026: 02:00
 * EST -> 03:00 EDT on March 8 (07:00Z); 02:00 EDT -> 01:00 EST on
 * November 1 (06:00Z). */
static void
test_next_dst(void **state)
{
	static const struct next_case cases[] = {
		/* fixed time in the skipped hour: at the change, once */
		{ "30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
		  "2026-03-29T01:00:00Z" },
		{ "30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z",
		  "2026-03-30T00:30:00Z" },
		{ "0,30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
		  "2026-03-29T01:00:00Z" },
		{ "0,30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z",
		  "2026-03-30T00:00:00Z" },           /* not twice */
		{ "30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
		  "2026-03-08T07:00:00Z" },
		/* fixed time in the repeated hour: the first time only */
		{ "30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
		  "2026-10-25T00:30:00Z" },           /* 02:30 CEST */
		{ "30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z",
		  "2026-10-26T01:30:00Z" },           /* not 02:30 CET */
		{ "30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
		  "2026-11-01T05:30:00Z" },           /* 01:30 EDT */
		{ "30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z",
		  "2026-11-02T06:30:00Z" },
		/* wildcards follow the clock: skipped hour skipped... */
		{ "*/30 * * * *", "Europe/Berlin", "2026-03-29T00:30:00Z",
		  "2026-03-29T01:00:00Z" },           /* 01:30 CET -> 03:00 */
		{ "30 * * * *", "Europe/Berlin", "2026-03-29T00:30:00Z",
		  "2026-03-29T01:30:00Z" },           /* no 02:30 */
		{ "15 * * * *", "America/New_York", "2026-03-08T06:15:00Z",
		  "2026-03-08T07:15:00Z" },           /* 01:15 EST -> 03:15 */
		/* ...and the repeated hour runs again */
		{ "0 * * * *", "Europe/Berlin", "2026-10-25T00:00:00Z",
		  "2026-10-25T01:00:00Z" },           /* 02:00 CET again */
		{ "15 * * * *", "America/New_York", "2026-11-01T05:15:00Z",
		  "2026-11-01T06:15:00Z" },           /* 01:15 EST again */
		{ "@hourly", "America/New_York", "2026-11-01T05:00:00Z",
		  "2026-11-01T06:00:00Z" },
		/* the southern hemisphere: Australia/Sydney 2026, 02:00 AEST
		 * -> 03:00 AEDT on October 4 (Oct 3 16:00Z), 03:00 AEDT ->
		 * 02:00 AEST on April 5 (Apr 4 16:00Z) */
		{ "30 2 * * *", "Australia/Sydney", "2026-10-03T12:00:00Z",
		  "2026-10-03T16:00:00Z" },
		{ "30 2 * * *", "Australia/Sydney", "2026-04-04T12:00:00Z",
		  "2026-04-04T15:30:00Z" },           /* 02:30 AEDT, once */
		{ "30 2 * * *", "Australia/Sydney", "2026-04-04T15:30:00Z",
		  "2026-04-05T16:30:00Z" },
		/* a half-hour change: Australia/Lord_Howe, 02:00 -> 02:30
		 * (+10:30 -> +11) on October 4, 2026 (Oct 3 15:30Z) */
		{ "15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z",
		  "2026-10-03T15:30:00Z" },
		{ "*/15 * * * *", "Australia/Lord_Howe", "2026-10-03T15:15:00Z",
		  "2026-10-03T15:30:00Z" },           /* 01:45 -> 02:30 */
		/* a fixed time outside the change's hour is not moved */
		{ "0 3 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
		  "2026-03-29T01:00:00Z" },           /* 03:00 CEST */
		{ "0 3 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
		  "2026-10-25T02:00:00Z" },           /* 03:00 CET */
	};

	(void)state;
	check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

static void
test_prev(void **state)
{
	static const struct { const char *spec, *tz, *t, *prev; } cases[] = {
		{ "0 9 * * *", "UTC", "2026-12-05T09:00:00Z",
		  "2026-12-05T09:00:00Z" },
		{ "0 9 * * *", "UTC", "2026-12-05T09:00:01Z",
		  "2026-12-05T09:00:00Z" },
		{ "0 9 * * *", "UTC", "2026-12-05T08:59:59Z",
		  "2026-12-04T09:00:00Z" },
		{ "* * * * *", "UTC", "2026-12-05T09:00:30Z",
		  "2026-12-05T09:00:00Z" },
		{ "0 0 29 2 *", "UTC", "2026-12-05T00:00:00Z",
		  "2024-02-29T00:00:00Z" },
		{ "30 2 * * *", "Europe/Berlin", "2026-03-29T01:30:00Z",
		  "2026-03-29T01:00:00Z" },
		{ "* * 1 * *", "UTC", "2026-12-31T12:00:00Z",
		  "2026-12-01T23:59:00Z" },
	};
	char got[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cron_sched s = parsed(cases[i].spec);
		long long t = cron_prev(&s, cases[i].tz, at(cases[i].t));

		cron_tick_text(t, got, sizeof(got));
		if (t < 0 || strcmp(got, cases[i].prev) != 0)
			fail_msg("'%s' before %s: %s, expected %s",
			    cases[i].spec, cases[i].t, t < 0 ? "none" : got,
			    cases[i].prev);
	}
}

static void
test_tz(void **state)
{
	static const char *const bad[] = { "", "Mars/Olympus", "../etc/passwd",
	    "/etc/passwd", "Europe/../../etc", "Europe", "a b",
	    "Europe/Berlin\n",
	    /* longer than a zone name may be */
	    ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAAAAAAAA") };
	char why[256];

	(void)state;
	assert_int_equal(cron_tz_check("Europe/Berlin", why, sizeof(why)), 0);
	assert_int_equal(cron_tz_check("UTC", why, sizeof(why)), 0);
	assert_int_equal(cron_tz_check("America/New_York", why, sizeof(why)),
	    0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (cron_tz_check(bad[i], why, sizeof(why)) != -1)
			fail_msg("'%s' was accepted", bad[i]);
		assert_true(strstr(why, "time zone") != NULL);
	}
	cron_tz_check("Mars/Olympus", why, sizeof(why));
	assert_non_null(strstr(why, "unknown time zone"));
	/* TZ is given back as it was */
	setenv("TZ", "Asia/Tokyo", 1);
	{
		struct cron_sched s = parsed("* * * * *");

		(void)cron_next(&s, "Europe/Berlin", 0);
	}
	assert_string_equal(getenv("TZ"), "Asia/Tokyo");
	unsetenv("TZ");
}

static void
test_tick_text(void **state)
{
	char buf[32];

	(void)state;
	cron_tick_text(at("2026-12-05T09:00:00Z"), buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-05T09:00:00Z");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_next_calendar),
		cmocka_unit_test(test_next_dst),
		cmocka_unit_test(test_prev),
		cmocka_unit_test(test_tz),
		cmocka_unit_test(test_tick_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
