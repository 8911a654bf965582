/*
 * bench_clock.h: the monotonic clock the load generators (jobbench.c,
 * rawpush.c, peers/gearman_bench.c) time their runs with.
 */
#ifndef BENCH_CLOCK_H
#define BENCH_CLOCK_H

#include <time.h>

/* now: seconds on CLOCK_MONOTONIC. */
static inline double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
