/*
 * http_metrics.c: the Prometheus text exposition; see http_metrics.h.
 *
 * Counters and histograms come from the master's metrics op (kept in the
 * master's shared memory, so that they survive workers' deaths); queue
 * gauges from the stats op (counts Redis keeps: no scan per scrape).
 * Label values are queue and type names, which the config bounds and which
 * are 1..64 of A-Z a-z 0-9 _ . : -, so they need no escaping; states and
 * statuses are fixed words.  The Redis node is the config's text (a
 * socket path may hold anything): it is escaped.
 */

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "http_metrics.h"

static const char *const statuses[] = { "queued", "scheduled", "deferred",
    "started", "finished", "failed", "canceled" };
static const char *const outcomes[] = { "finished", "failed", "canceled",
    "retried", "lost" };

static void
head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* label: v as a label value: backslash, double quote and newline
 * escaped, as the text format wants. */
static void
label(struct evbuffer *b, const char *v)
{
	for (; v != NULL && *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(b, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, v, 1);
	}
}

static long long
ll(json_t *o, const char *key)
{
	return (long long)json_number_value(json_object_get(o, key));
}

static void
histogram(struct evbuffer *b, const char *name, json_t *series, json_t *les,
    const char *key)
{
	size_t i, k;
	json_t *s;

	json_array_foreach(series, i, s) {
		json_t *hist = json_object_get(s, key);
		json_t *counts = json_object_get(hist, "buckets");
		const char *q = json_string_value(json_object_get(s, "queue"));
		const char *t = json_string_value(json_object_get(s, "type"));
		long long cum = 0;
		json_t *le;

		json_array_foreach(les, k, le) {
			cum += (long long)json_integer_value(
			    json_array_get(counts, k));
			evbuffer_add_printf(b, "%s_bucket{queue=\"%s\",type=\"%s\","
			    "le=\"%g\"} %lld\n", name, q, t, json_number_value(le),
			    cum);
		}
		/* a scrape may land between a bucket's add and the count's */
		if (ll(hist, "count") > cum)
			cum = ll(hist, "count");
		evbuffer_add_printf(b, "%s_bucket{queue=\"%s\",type=\"%s\","
		    "le=\"+Inf\"} %lld\n", name, q, t, cum);
		evbuffer_add_printf(b, "%s_sum{queue=\"%s\",type=\"%s\"} %.6f\n",
		    name, q, t, json_number_value(json_object_get(hist, "sum")));
		evbuffer_add_printf(b, "%s_count{queue=\"%s\",type=\"%s\"} %lld\n",
		    name, q, t, cum);
	}
}

struct evbuffer *
http_metrics_render(json_t *m, json_t *stats)
{
	struct evbuffer *b = evbuffer_new();
	json_t *series = json_object_get(m, "series");
	json_t *les = json_object_get(m, "buckets");
	json_t *workers = json_object_get(m, "workers");
	json_t *queues = json_object_get(stats, "queues");
	json_t *s, *q;
	const char *name;
	size_t i;

	if (b == NULL)
		return NULL;
	head(b, "jobd_build_info", "gauge", "The running jobd's version.");
	evbuffer_add_printf(b, "jobd_build_info{version=\"%s\"} 1\n",
	    json_string_value(json_object_get(m, "version")));
	head(b, "jobd_redis_up", "gauge",
	    "1 when the daemon reaches Redis, else 0.");
	evbuffer_add_printf(b, "jobd_redis_up %d\n",
	    json_is_true(json_object_get(m, "redis_up")) ? 1 : 0);
	head(b, "jobd_redis_info", "gauge", "The Redis server this daemon "
	    "uses now (mode: direct, sentinel or cluster; node: HOST:PORT or "
	    "socket path, empty while none); always 1.");
	evbuffer_add_printf(b, "jobd_redis_info{mode=\"");
	label(b, json_string_value(json_object_get(m, "redis_mode")));
	evbuffer_add_printf(b, "\",node=\"");
	label(b, json_string_value(json_object_get(m, "redis_node")));
	evbuffer_add_printf(b, "\"} 1\n");
	head(b, "jobd_redis_failovers_total", "counter",
	    "Times this daemon's links moved to another Redis server (a "
	    "Sentinel failover, a Cluster slot moved) since it started.");
	evbuffer_add_printf(b, "jobd_redis_failovers_total %lld\n",
	    ll(m, "redis_failovers"));
	head(b, "jobd_client_connections", "gauge",
	    "Protocol clients connected to the daemon.");
	evbuffer_add_printf(b, "jobd_client_connections %lld\n",
	    ll(m, "client_connections"));
	head(b, "jobd_workers", "gauge", "This daemon's workers by state.");
	evbuffer_add_printf(b, "jobd_workers{state=\"busy\"} %lld\n"
	    "jobd_workers{state=\"idle\"} %lld\n", ll(workers, "busy"),
	    ll(workers, "idle"));

	head(b, "jobd_jobs_submitted_total", "counter",
	    "Jobs accepted by this daemon.");
	json_array_foreach(series, i, s)
		evbuffer_add_printf(b, "jobd_jobs_submitted_total{queue=\"%s\","
		    "type=\"%s\"} %lld\n",
		    json_string_value(json_object_get(s, "queue")),
		    json_string_value(json_object_get(s, "type")),
		    ll(s, "submitted"));
	head(b, "jobd_jobs_completed_total", "counter",
	    "Attempts ended, by outcome (retried: failed with a retry to come; "
	    "lost: its worker died or its lease ran out).");
	json_array_foreach(series, i, s)
		for (size_t k = 0; k < sizeof(outcomes) / sizeof(outcomes[0]); k++)
			evbuffer_add_printf(b, "jobd_jobs_completed_total{queue="
			    "\"%s\",type=\"%s\",outcome=\"%s\"} %lld\n",
			    json_string_value(json_object_get(s, "queue")),
			    json_string_value(json_object_get(s, "type")),
			    outcomes[k], ll(s, outcomes[k]));
	head(b, "jobd_job_duration_seconds", "histogram",
	    "Run time of the attempts that ended on this daemon's workers.");
	histogram(b, "jobd_job_duration_seconds", series, les, "duration");
	head(b, "jobd_job_wait_seconds", "histogram",
	    "Time from runnable (queued) to started, of the jobs this "
	    "daemon's workers took.");
	histogram(b, "jobd_job_wait_seconds", series, les, "wait");

	if (queues == NULL)
		return b;
	head(b, "jobd_queue_jobs", "gauge", "Jobs per queue and status.");
	json_object_foreach(queues, name, q)
		for (size_t k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++)
			evbuffer_add_printf(b, "jobd_queue_jobs{queue=\"%s\","
			    "status=\"%s\"} %lld\n", name, statuses[k],
			    ll(q, statuses[k]));
	head(b, "jobd_queue_oldest_job_age_seconds", "gauge",
	    "Age of the oldest queued job (0: none queued).");
	json_object_foreach(queues, name, q)
		evbuffer_add_printf(b, "jobd_queue_oldest_job_age_seconds{queue="
		    "\"%s\"} %.3f\n", name,
		    json_number_value(json_object_get(q, "oldest_queued_age")));
	head(b, "jobd_queue_paused", "gauge", "1 when the queue is paused.");
	json_object_foreach(queues, name, q)
		evbuffer_add_printf(b, "jobd_queue_paused{queue=\"%s\"} %d\n",
		    name, json_is_true(json_object_get(q, "paused")) ? 1 : 0);
	return b;
}
