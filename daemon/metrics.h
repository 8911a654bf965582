/*
 * metrics.h: the counters and histograms of GET /metrics, in memory the
 * master maps before it forks (as the scoreboard), so that a worker's
 * counts outlive the worker: counters never go backwards while the daemon
 * runs, whatever dies and is respawned.
 *
 * A series is one (queue, type) pair.  Labels stay bounded: a type with no
 * section of its own (accept_any_type) counts as "other", a queue not in
 * the config as "other", and past METRICS_MAX_SERIES pairs everything
 * counts in one ("other", "other") series.  Adding a series takes a
 * robust process-shared mutex (a process killed holding it does not wedge
 * the others); counting is an atomic add.
 */
#ifndef JOBD_METRICS_H
#define JOBD_METRICS_H

#include <jansson.h>

#include "config.h"

#define METRICS_MAX_SERIES 1024

enum metrics_outcome {
	MX_FINISHED = 0,
	MX_FAILED,
	MX_CANCELED,
	MX_RETRIED,    /* failed, with a retry to come */
	MX_LOST,       /* its worker died, or its lease ran out */
	MX__OUTCOMES
};

/* metrics_map: map the shared counters (once, before any fork).  0, or -1
 * with errno; without them every call below does nothing. */
int metrics_map(void);
void metrics_unmap(void);

void metrics_submitted(const struct config *cfg, const char *queue,
                       const char *type);
void metrics_outcome(const struct config *cfg, const char *queue,
                     const char *type, enum metrics_outcome o);
/* metrics_outcome_name: the outcome for what the function library said
 * of an ended attempt ("finished", "failed", "scheduled" = retried,
 * "canceled"), or -1 for the others ("queued" back after a shutdown,
 * "lost": whoever took it over counted it). */
int metrics_outcome_of(const char *status);
/* metrics_duration, metrics_wait: observe seconds (negative: ignored). */
void metrics_duration(const struct config *cfg, const char *queue,
                      const char *type, double seconds);
void metrics_wait(const struct config *cfg, const char *queue,
                  const char *type, double seconds);

/* metrics_json: {"buckets": [upper bounds], "series": [{"queue", "type",
 * "submitted", "finished", "failed", "canceled", "retried", "lost",
 * "duration": {"buckets": [counts per bound, not cumulative], "count",
 * "sum"}, "wait": {...}}]}; NULL when out of memory. */
json_t *metrics_json(void);

#endif
