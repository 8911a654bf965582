/*
 * http_metrics.h: the Prometheus text exposition of GET /metrics
 * (docs/monitoring.md), rendered by the HTTP child from the master's
 * metrics and stats answers.
 */
#ifndef JOBD_HTTP_METRICS_H
#define JOBD_HTTP_METRICS_H

#include <jansson.h>

struct evbuffer;

/* http_metrics_render: the exposition of metrics (the metrics op's
 * answer) and stats (the stats op's, or NULL when Redis could not be
 * asked: the queue gauges are then left out).  A new buffer, or NULL. */
struct evbuffer *http_metrics_render(json_t *metrics, json_t *stats);

#endif
