/*
 * config_limit.c: the [limit:NAME] sections (config_limit.h).  Settings
 * are rows: name, parser, doc line; docs/jobd.md's "Limits" lists the
 * same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_limit.h"
#include "config_value.h"

#define LIMIT_CHARS "_.-"

typedef int limit_set_fn(struct job_limit *l, const char *v, char *why,
                         size_t whylen);

static int
set_concurrency(struct job_limit *l, const char *v, char *why, size_t whylen)
{
	long long n;

	if (cv_parse_ll(v, 1, LIMIT_MAX_CONCURRENCY, &n, why, whylen) == -1)
		return -1;
	l->concurrency = (int)n;
	return 0;
}

/* set_rate: "N/s", "N/m" or "N/h": N starts per second, minute or hour,
 * one every period/N, at least 1 ms apart (kept to the ms). */
static int
set_rate(struct job_limit *l, const char *v, char *why, size_t whylen)
{
	const char *slash = strchr(v, '/');
	char num[24];
	long long n, period;
	size_t len;

	if (slash == NULL || slash == v || strlen(slash) != 2 ||
	    (size_t)(slash - v) >= sizeof(num))
		return cv_why(why, whylen, "expected N/s, N/m or N/h");
	switch (slash[1]) {
	case 's': period = 1000; break;
	case 'm': period = 60 * 1000; break;
	case 'h': period = 3600 * 1000; break;
	default:
		return cv_why(why, whylen, "expected N/s, N/m or N/h");
	}
	len = (size_t)(slash - v);
	memcpy(num, v, len);
	num[len] = '\0';
	if (cv_parse_ll(num, 1, period, &n, why, whylen) == -1)
		return -1;
	l->every_ms = (period + n / 2) / n;
	snprintf(l->rate, sizeof(l->rate), "%s", v);
	return 0;
}

static int
set_burst(struct job_limit *l, const char *v, char *why, size_t whylen)
{
	long long n;

	if (cv_parse_ll(v, 1, LIMIT_MAX_BURST, &n, why, whylen) == -1)
		return -1;
	l->burst = (int)n;
	l->has_burst = 1;
	return 0;
}

static const struct {
	const char *name;
	limit_set_fn *set;
	const char *doc;
} limit_rows[] = {
	{ "concurrency", set_concurrency,
	  "Jobs of the limit's types running at once, across every daemon "
	  "sharing the Redis namespace (1..100000)." },
	{ "rate", set_rate,
	  "Starts per second, minute or hour: N/s, N/m or N/h (at most one "
	  "start a millisecond)." },
	{ "burst", set_burst,
	  "Starts allowed at once on top of rate after a quiet spell "
	  "(1..100000, default 1: evenly spaced)." },
};
#define NROWS (sizeof(limit_rows) / sizeof(limit_rows[0]))

int
config_limit_row(int i, const char **name, const char **doc)
{
	if (i < 0 || (size_t)i >= NROWS)
		return -1;
	*name = limit_rows[i].name;
	*doc = limit_rows[i].doc;
	return 0;
}

int
config_limit_check_name(const char *name)
{
	return cv_valid_name(name, LIMIT_CHARS);
}

const struct job_limit *
config_find_limit(const struct config *cfg, const char *name)
{
	if (cfg == NULL || name == NULL)
		return NULL;
	for (int i = 0; i < cfg->nlimits; i++)
		if (strcmp(cfg->limits[i].name, name) == 0)
			return &cfg->limits[i];
	return NULL;
}

int
config_limit_set(struct config *cfg, const char *name, const char *key,
                 const char *value, char *why, size_t whylen)
{
	struct job_limit *l = (struct job_limit *)config_find_limit(cfg, name);

	if (!config_limit_check_name(name))
		return cv_why(why, whylen, "bad limit name (1..%d of A-Z a-z "
		    "0-9 _ . -)", CONFIG_NAME_MAX);
	if (l == NULL) {
		struct job_limit *nl;

		if (cfg->nlimits >= CONFIG_MAX_LIMITS)
			return cv_why(why, whylen, "too many limits (at most %d)",
			    CONFIG_MAX_LIMITS);
		nl = realloc(cfg->limits,
		    (size_t)(cfg->nlimits + 1) * sizeof(*nl));
		if (nl == NULL)
			return cv_why(why, whylen, "out of memory");
		cfg->limits = nl;
		l = &nl[cfg->nlimits++];
		memset(l, 0, sizeof(*l));
		snprintf(l->name, sizeof(l->name), "%s", name);
		l->burst = 1;
	}
	if (key == NULL)
		return 0;
	for (size_t i = 0; i < NROWS; i++)
		if (strcmp(limit_rows[i].name, key) == 0)
			return limit_rows[i].set(l, value, why, whylen);
	return cv_why(why, whylen, "unknown setting (expected concurrency, "
	    "rate or burst)");
}

int
config_limit_finish(struct config *cfg, char *err, size_t errlen)
{
	const char *where = cfg->path != NULL ? cfg->path : "";
	const char *sep = where[0] != '\0' ? ": " : "";

	for (int i = 0; i < cfg->nlimits; i++) {
		const struct job_limit *l = &cfg->limits[i];

		if (l->concurrency == 0 && l->every_ms == 0) {
			snprintf(err, errlen, "%s%s[limit:%s]: needs concurrency "
			    "or rate", where, sep, l->name);
			return -1;
		}
		if (l->has_burst && l->every_ms == 0) {
			snprintf(err, errlen, "%s%s[limit:%s] burst: only with "
			    "rate", where, sep, l->name);
			return -1;
		}
	}
	for (int i = 0; i < cfg->ntypes; i++) {
		const struct job_type *t = &cfg->types[i];

		if (t->limit[0] != '\0' && config_find_limit(cfg, t->limit) ==
		    NULL) {
			snprintf(err, errlen, "%s%s[type:%s] limit: no "
			    "[limit:%s] section", where, sep, t->name, t->limit);
			return -1;
		}
	}
	return 0;
}

void
config_limits_dump(const struct config *cfg, FILE *fp)
{
	for (int i = 0; i < cfg->nlimits; i++) {
		const struct job_limit *l = &cfg->limits[i];

		if (l->concurrency > 0)
			fprintf(fp, "limit:%s.concurrency = %d\n", l->name,
			    l->concurrency);
		if (l->every_ms > 0)
			fprintf(fp, "limit:%s.rate = %s\nlimit:%s.burst = %d\n",
			    l->name, l->rate, l->name, l->burst);
	}
}
