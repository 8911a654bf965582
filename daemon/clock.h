/*
 * clock.h: seconds on the monotonic clock, which wall-clock steps (NTP,
 * an admin's date) do not move: for timeouts, ages and durations.
 */
#ifndef JOBD_CLOCK_H
#define JOBD_CLOCK_H

#include <time.h>

/* clock_since: seconds from *t (a CLOCK_MONOTONIC reading) to now. */
static inline double
clock_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

#endif
