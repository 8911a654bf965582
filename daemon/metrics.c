/*
 * metrics.c: shared counters for GET /metrics; see metrics.h.
 */

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "metrics.h"

/* Upper bounds of the histogram buckets, seconds: jobs of milliseconds
 * (builtins, webhooks) to an hour (story generation takes ten minutes). */
static const double le[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
    2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600 };
#define NLE (sizeof(le) / sizeof(le[0]))

struct hist {
	uint64_t bucket[NLE];    /* not cumulative; past the last: count only */
	uint64_t count;
	uint64_t sum_us;
};

struct series {
	char queue[CONFIG_NAME_MAX + 1];
	char type[CONFIG_NAME_MAX + 1];
	uint64_t submitted;
	uint64_t outcome[MX__OUTCOMES];
	struct hist duration, wait;
};

struct shared {
	pthread_mutex_t lock;    /* adding a series */
	uint32_t n;              /* series published (release/acquire) */
	struct series s[METRICS_MAX_SERIES];
};

static struct shared *mx;

int
metrics_map(void)
{
	pthread_mutexattr_t a;
	void *p;

	if (mx != NULL)
		return 0;
	p = mmap(NULL, sizeof(*mx), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	mx = p;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&mx->lock, &a);
	pthread_mutexattr_destroy(&a);
	return 0;
}

void
metrics_unmap(void)
{
	if (mx == NULL)
		return;
	pthread_mutex_destroy(&mx->lock);
	munmap(mx, sizeof(*mx));
	mx = NULL;
}

static struct series *
find(uint32_t n, const char *q, const char *t)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(mx->s[i].queue, q) == 0 &&
		    strcmp(mx->s[i].type, t) == 0)
			return &mx->s[i];
	return NULL;
}

/* series_of: the series that counts (queue, type), added if new. */
static struct series *
series_of(const struct config *cfg, const char *queue, const char *type)
{
	const char *q = queue != NULL && config_queue_index(cfg, queue) >= 0 ?
	    queue : "other";
	const char *t = type != NULL && config_find_type(cfg, type) != NULL ?
	    type : "other";
	struct series *s;
	uint32_t n;

	if (mx == NULL)
		return NULL;
	n = __atomic_load_n(&mx->n, __ATOMIC_ACQUIRE);
	if ((s = find(n, q, t)) != NULL)
		return s;
	if (pthread_mutex_lock(&mx->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&mx->lock);
	n = mx->n;
	if ((s = find(n, q, t)) == NULL) {
		if (n == METRICS_MAX_SERIES - 1) {
			q = t = "other";
			s = find(n, q, t);
		}
		if (s == NULL) {
			s = &mx->s[n];
			memset(s, 0, sizeof(*s));
			strncpy(s->queue, q, CONFIG_NAME_MAX);
			strncpy(s->type, t, CONFIG_NAME_MAX);
			__atomic_store_n(&mx->n, n + 1, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&mx->lock);
	return s;
}

static void
add(uint64_t *v, uint64_t by)
{
	__atomic_fetch_add(v, by, __ATOMIC_RELAXED);
}

static uint64_t
get(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

void
metrics_submitted(const struct config *cfg, const char *queue,
    const char *type)
{
	struct series *s = series_of(cfg, queue, type);

	if (s != NULL)
		add(&s->submitted, 1);
}

void
metrics_outcome(const struct config *cfg, const char *queue,
    const char *type, enum metrics_outcome o)
{
	struct series *s;

	if ((unsigned)o >= MX__OUTCOMES ||
	    (s = series_of(cfg, queue, type)) == NULL)
		return;
	add(&s->outcome[o], 1);
}

int
metrics_outcome_of(const char *status)
{
	static const struct { const char *status; int o; } t[] = {
		{ "finished", MX_FINISHED }, { "failed", MX_FAILED },
		{ "scheduled", MX_RETRIED }, { "canceled", MX_CANCELED },
	};

	for (size_t i = 0; status != NULL && i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(status, t[i].status) == 0)
			return t[i].o;
	return -1;
}

static void
observe(struct hist *h, double seconds)
{
	size_t i;

	if (!(seconds >= 0))
		return;
	for (i = 0; i < NLE && seconds > le[i]; i++)
		;
	if (i < NLE)
		add(&h->bucket[i], 1);
	add(&h->sum_us, (uint64_t)(seconds * 1e6));
	add(&h->count, 1);
}

void
metrics_duration(const struct config *cfg, const char *queue,
    const char *type, double seconds)
{
	struct series *s = series_of(cfg, queue, type);

	if (s != NULL)
		observe(&s->duration, seconds);
}

void
metrics_wait(const struct config *cfg, const char *queue, const char *type,
    double seconds)
{
	struct series *s = series_of(cfg, queue, type);

	if (s != NULL)
		observe(&s->wait, seconds);
}

static json_t *
hist_json(const struct hist *h)
{
	json_t *b = json_array();

	for (size_t i = 0; i < NLE; i++)
		json_array_append_new(b, json_integer((json_int_t)get(&h->bucket[i])));
	/* count read last: a scrape never shows buckets above the count */
	return json_pack("{s:o,s:f,s:I}", "buckets", b, "sum",
	    (double)get(&h->sum_us) / 1e6, "count", (json_int_t)get(&h->count));
}

json_t *
metrics_json(void)
{
	static const char *const names[MX__OUTCOMES] = { "finished", "failed",
	    "canceled", "retried", "lost" };
	json_t *bounds = json_array(), *series = json_array();
	uint32_t n = mx != NULL ? __atomic_load_n(&mx->n, __ATOMIC_ACQUIRE) : 0;

	for (size_t i = 0; i < NLE; i++)
		json_array_append_new(bounds, json_real(le[i]));
	for (uint32_t i = 0; i < n; i++) {
		const struct series *s = &mx->s[i];
		json_t *o = json_pack("{s:s,s:s,s:I,s:o,s:o}", "queue", s->queue,
		    "type", s->type, "submitted", (json_int_t)get(&s->submitted),
		    "duration", hist_json(&s->duration),
		    "wait", hist_json(&s->wait));

		for (int k = 0; k < MX__OUTCOMES; k++)
			json_object_set_new(o, names[k],
			    json_integer((json_int_t)get(&s->outcome[k])));
		json_array_append_new(series, o);
	}
	return json_pack("{s:o,s:o}", "buckets", bounds, "series", series);
}
