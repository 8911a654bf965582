/*
 * cron_run.c: the timer of periodic jobs (see cron_run.h).
 *
 * Each schedule keeps the next tick it has to claim.  A tick is claimed
 * once it is due and is only passed over once Redis has answered (the
 * claim of another daemon counts): a daemon that is up claims every tick
 * in order, so that while one daemon runs no tick is missed, and Redis's
 * compare-and-record (jobd_cron_tick) makes sure none runs twice.  A
 * failed claim (Redis away) is tried again a second later.
 */
#include "cron_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "config.h"
#include "cron.h"
#include "log.h"
#include "proto.h"
#include "request.h"
#include "store.h"

#define RETRY_MS 1000      /* after a failed claim */
#define WAKE_MAX_MS 60000  /* longest sleep: a clock set forward is seen */

struct slot {
	char name[CONFIG_NAME_MAX + 1];
	char sig[CRON_SPEC_MAX + CRON_TZ_MAX + 8]; /* what next came from */
	long long next;         /* next tick to claim (Unix s), -1: none */
	long long catchup;      /* misfire = once: tick to claim first, -1 */
	long long retry_ms;     /* no claim before (after a failure) */
	long long failed_tick;  /* the tick whose claim failed last */
	int busy;               /* a claim in flight */
	int gone;               /* removed by a reload: freed when answered */
	struct slot *nx;
};

static struct {
	struct event_base *base;
	struct store *st;
	const struct config *cfg;
	struct event *ev;
	struct slot *slots;
	int stopped;
} cr;

/* The clock of the schedules.  JOBD_TEST_CRON_OFFSET_MS (tests only,
 * docs/architecture.md) shifts it, so that a test can stand a daemon just
 * before a tick instead of waiting up to a minute for one. */
static long long
now_ms(void)
{
	static long long offset = -1;
	struct timespec ts;

	if (offset == -1) {
		const char *v = getenv("JOBD_TEST_CRON_OFFSET_MS");

		offset = v != NULL ? strtoll(v, NULL, 10) : 0;
		if (offset == -1)
			offset = 0;
		if (offset != 0)
			log_warnx("cron: clock shifted by %lld ms "
			    "(JOBD_TEST_CRON_OFFSET_MS, for tests only)", offset);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + offset;
}

static const struct cron_entry *
entry_of(const char *name)
{
	for (int i = 0; cr.cfg != NULL && i < cr.cfg->ncrons; i++)
		if (strcmp(cr.cfg->crons[i].name, name) == 0)
			return &cr.cfg->crons[i];
	return NULL;
}

static void
sig_of(const struct cron_entry *e, char *buf, size_t len)
{
	snprintf(buf, len, "%s|%s|%d", e->schedule, e->timezone,
	    e->misfire_once);
}

static void arm(void);

static void
slot_unlink(struct slot *s)
{
	for (struct slot **p = &cr.slots; *p != NULL; p = &(*p)->nx) {
		if (*p == s) {
			*p = s->nx;
			free(s);
			return;
		}
	}
}

struct claim {
	struct slot *s;
	long long tick;
	int catchup;
};

static void
claim_done(void *arg, int err, const char *msg, json_t *reply)
{
	struct claim *c = arg;
	struct slot *s = c->s;
	const struct cron_entry *e;
	char when[32];

	s->busy = 0;
	if (s->gone || cr.stopped) {
		if (s->gone)
			slot_unlink(s);
		free(c);
		return;
	}
	cron_tick_text(c->tick, when, sizeof(when));
	if (err != PERR_OK) {
		/* once per tick at warning level: Redis may be away a while */
		if (s->failed_tick != c->tick)
			log_warnx("cron %s: tick %s: %s; trying again each "
			    "second", s->name, when, msg != NULL ? msg : "error");
		else
			log_debug("cron %s: tick %s: %s", s->name, when,
			    msg != NULL ? msg : "error");
		s->failed_tick = c->tick;
		s->retry_ms = now_ms() + RETRY_MS;
	} else {
		if (json_is_true(json_object_get(reply, "claimed")))
			log_info("cron %s: tick %s%s: job %s %s", s->name, when,
			    c->catchup ? " (catch-up)" : "",
			    json_string_value(json_object_get(reply, "job")),
			    json_string_value(json_object_get(reply,
			    "status")));
		if (c->catchup)
			s->catchup = -1;
		else if ((e = entry_of(s->name)) != NULL)
			s->next = cron_next(&e->sched, e->timezone,
			    c->tick > s->next ? c->tick : s->next);
	}
	free(c);
	arm();
}

/* claim: send the claim of tick for s. */
static void
claim(struct slot *s, const struct cron_entry *e, long long tick,
      int catchup)
{
	const struct job_type *t = config_find_type(cr.cfg, e->type);
	struct submit_spec spec;
	struct claim *c = malloc(sizeof(*c));
	char id[CRON_ID_MAX], when[32];
	json_t *payload = json_loads(e->payload, JSON_DECODE_ANY, NULL);
	json_t *meta;

	cron_tick_text(tick, when, sizeof(when));
	snprintf(id, sizeof(id), "cron:%s:%s", e->name, when);
	meta = json_pack("{s:s,s:s}", "cron", e->name, "tick", when);
	if (c == NULL || payload == NULL || meta == NULL) {
		log_warnx("cron %s: out of memory", e->name);
		s->retry_ms = now_ms() + RETRY_MS;
		free(c);
		json_decref(payload);
		json_decref(meta);
		return;
	}
	memset(&spec, 0, sizeof(spec));
	spec.type = e->type;
	spec.queue = e->queue[0] != '\0' ? e->queue : t != NULL ? t->queue :
	    NULL;
	if (spec.queue == NULL || config_queue_index(cr.cfg, spec.queue) < 0)
		spec.queue = config_queue_index(cr.cfg, "default") >= 0 ?
		    "default" : cr.cfg->queues[0];
	spec.payload = payload;
	spec.meta = meta;
	spec.timeout = t != NULL ? t->timeout : 180;
	spec.retries = t != NULL ? t->retries : 0;
	spec.job_id = id;
	spec.run_at_ms = -1;
	spec.result_ttl = cr.cfg->result_ttl;
	spec.failure_ttl = cr.cfg->failure_ttl;
	c->s = s;
	c->tick = tick;
	c->catchup = catchup;
	s->busy = 1;
	store_cron_tick(cr.st, e->name, tick * 1000, catchup, &spec,
	    claim_done, c);
	json_decref(payload);
	json_decref(meta);
}

static void
fire(evutil_socket_t fd, short what, void *arg)
{
	long long now = now_ms();

	(void)fd; (void)what; (void)arg;
	if (cr.stopped)
		return;
	for (struct slot *s = cr.slots; s != NULL; s = s->nx) {
		const struct cron_entry *e;

		if (s->busy || s->gone || s->retry_ms > now ||
		    (e = entry_of(s->name)) == NULL)
			continue;
		if (!store_available(cr.st)) {
			s->retry_ms = now + RETRY_MS;
			continue;
		}
		if (s->catchup >= 0)
			claim(s, e, s->catchup, 1);
		else if (s->next >= 0 && s->next * 1000 <= now)
			claim(s, e, s->next, 0);
	}
	arm();
}

/* arm: wake at the first due claim (at most WAKE_MAX_MS from now). */
static void
arm(void)
{
	long long now = now_ms(), wake = now + WAKE_MAX_MS;
	struct timeval tv;

	if (cr.stopped || cr.ev == NULL)
		return;
	for (struct slot *s = cr.slots; s != NULL; s = s->nx) {
		long long at;

		if (s->busy || s->gone)
			continue;
		at = s->catchup >= 0 ? now : s->next >= 0 ? s->next * 1000 :
		    wake;
		if (s->retry_ms > at)
			at = s->retry_ms;
		if (at < wake)
			wake = at;
	}
	wake -= now;
	if (wake < 0)
		wake = 0;
	tv.tv_sec = (time_t)(wake / 1000);
	tv.tv_usec = (suseconds_t)(wake % 1000 * 1000);
	evtimer_add(cr.ev, &tv);
}

/* sync: slots for cfg's schedules; start: also their catch-ups. */
static int
sync_slots(const struct config *cfg, int start)
{
	long long now = now_ms() / 1000;

	cr.cfg = cfg;
	for (struct slot *s = cr.slots; s != NULL; s = s->nx)
		if (entry_of(s->name) == NULL)
			s->gone = 1;
	for (int i = 0; i < cfg->ncrons; i++) {
		const struct cron_entry *e = &cfg->crons[i];
		struct slot *s;
		char sig[sizeof(s->sig)];

		sig_of(e, sig, sizeof(sig));
		for (s = cr.slots; s != NULL; s = s->nx)
			if (!s->gone && strcmp(s->name, e->name) == 0)
				break;
		if (s != NULL && strcmp(s->sig, sig) == 0)
			continue;       /* unchanged: keeps its next tick */
		if (s == NULL) {
			if ((s = calloc(1, sizeof(*s))) == NULL)
				return -1;
			snprintf(s->name, sizeof(s->name), "%s", e->name);
			s->catchup = -1;
			s->nx = cr.slots;
			cr.slots = s;
		}
		snprintf(s->sig, sizeof(s->sig), "%s", sig);
		s->next = cron_next(&e->sched, e->timezone, now);
		if (start && e->misfire_once)
			s->catchup = cron_prev(&e->sched, e->timezone, now);
	}
	/* removed ones not waiting for an answer go now */
	for (struct slot *s = cr.slots, *nx; s != NULL; s = nx) {
		nx = s->nx;
		if (s->gone && !s->busy)
			slot_unlink(s);
	}
	return 0;
}

int
cron_run_start(struct event_base *base, struct store *st,
               const struct config *cfg)
{
	cr.base = base;
	cr.st = st;
	if ((cr.ev = evtimer_new(base, fire, NULL)) == NULL ||
	    sync_slots(cfg, 1) == -1)
		return -1;
	arm();
	return 0;
}

void
cron_run_reload(const struct config *cfg)
{
	if (cr.stopped || cr.ev == NULL)
		return;
	if (sync_slots(cfg, 0) == -1)
		log_warnx("cron: out of memory on reload");
	arm();
}

void
cron_run_stop(void)
{
	cr.stopped = 1;
	if (cr.ev != NULL) {
		event_free(cr.ev);
		cr.ev = NULL;
	}
	for (struct slot *s = cr.slots, *nx; s != NULL; s = nx) {
		nx = s->nx;
		if (!s->busy)
			slot_unlink(s);
		else
			s->gone = 1;
	}
	cr.cfg = NULL;
}
