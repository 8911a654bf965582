/*
 * cmd_admin.c: the verbs about the daemon: ping, health, stats, workers,
 * pause, resume, reload.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobctl.h"

/* The per-queue counters of a stats response, in table order. */
static const char *const counters[] = {
	"queued", "scheduled", "deferred", "started", "finished", "failed",
	"canceled",
};
#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

/*
 * simple: run a verb whose request is {"op": op}, plus "queue" set to its
 * one argument when it takes a queue; *resp gets the reply, or NULL when
 * the verb ends here.  Returns 0 or an exit status.
 */
static int
simple(struct jobctl *ctl, int argc, char **argv, const char *op,
    int takes_queue, json_t **resp)
{
	json_t *req;
	int rc;

	*resp = NULL;
	if ((rc = verb_args(ctl, argc, argv, takes_queue ? 1 : 0,
	    takes_queue ? "a queue name" : "no arguments")) != 0)
		return rc == EXIT_DONE ? EXIT_OK : rc;
	if (takes_queue)
		req = json_pack("{ssss}", "op", op, "queue", argv[optind]);
	else
		req = json_pack("{ss}", "op", op);
	return ctl_request(ctl, req, resp);
}

/* finish: print a reply in --json mode, free it, map the status. */
static int
finish(struct jobctl *ctl, json_t *resp, const char *human)
{
	if (ctl->json)
		print_json(resp);
	else if (human != NULL)
		puts(human);
	json_decref(resp);
	return EXIT_OK;
}

/* plain_verb: a verb without arguments whose answer is one line. */
static int
plain_verb(struct jobctl *ctl, int argc, char **argv, const char *op,
    const char *human)
{
	json_t *resp;
	int rc;

	if ((rc = simple(ctl, argc, argv, op, 0, &resp)) != 0 ||
	    resp == NULL)
		return rc;
	return finish(ctl, resp, human);
}

int
cmd_ping(struct jobctl *ctl, int argc, char **argv)
{
	return plain_verb(ctl, argc, argv, "ping", "pong");
}

/* cmd_health: exit 0 when the daemon answers and reaches Redis, else 1
 * with the reason (for scripts and container health checks); says which
 * Redis server it reaches. */
int
cmd_health(struct jobctl *ctl, int argc, char **argv)
{
	json_t *resp;
	char *mode, *node, line[1024];
	int rc;

	if ((rc = simple(ctl, argc, argv, "health", 0, &resp)) != 0 ||
	    resp == NULL)
		return rc;
	if (jstr(resp, "redis_mode") == NULL)
		return finish(ctl, resp, "ok: jobd is up and reaches Redis");
	mode = text_escape(jstr(resp, "redis_mode"));
	node = text_escape(jstr(resp, "redis_node") != NULL &&
	    jstr(resp, "redis_node")[0] != '\0' ? jstr(resp, "redis_node") :
	    "(none)");
	snprintf(line, sizeof(line), "ok: jobd is up and reaches Redis at %s "
	    "(%s)", node ? node : "?", mode ? mode : "?");
	free(mode);
	free(node);
	return finish(ctl, resp, line);
}

static void
queue_row(struct table *t, const char *name, json_t *q)
{
	char cells[NCOUNTERS + 2][32];
	const char *row[NCOUNTERS + 2];
	json_t *paused = json_object_get(q, "paused");

	snprintf(cells[0], sizeof(cells[0]), "%s", name);
	for (size_t i = 0; i < NCOUNTERS; i++)
		jfmt(json_object_get(q, counters[i]), cells[i + 1],
		    sizeof(cells[i + 1]));
	if (paused != NULL)
		jfmt(paused, cells[NCOUNTERS + 1], sizeof(cells[0]));
	else
		snprintf(cells[NCOUNTERS + 1], sizeof(cells[0]), " ");
	for (size_t i = 0; i < NCOUNTERS + 2; i++)
		row[i] = cells[i];
	table_add(t, row);
}

static void
print_workers(json_t *resp)
{
	static const char *const head[] = { "PID", "HOST", "STATE", "JOB",
	    "DONE" };
	char pid[32], done[32];
	const char *row[5];
	struct table *t = table_new(5, head);
	json_t *w;
	size_t i;

	json_array_foreach(json_object_get(resp, "workers"), i, w) {
		jfmt(json_object_get(w, "pid"), pid, sizeof(pid));
		jfmt(json_object_get(w, "jobs_done"), done, sizeof(done));
		row[0] = pid;
		row[1] = jstr(w, "host");
		row[2] = jstr(w, "state");
		row[3] = jstr(w, "job_id");
		row[4] = done;
		table_add(t, row);
	}
	table_print(t);
	table_free(t);
}

/* print_redis: "  redis: MODE NODE, N failover(s)" of a daemon whose
 * record says (its heartbeat, or stats' this_daemon). */
static void
print_redis(json_t *d)
{
	const char *node = jstr(d, "redis_node");
	char *m, *e;

	if (jstr(d, "redis_mode") == NULL)
		return;
	m = text_escape(jstr(d, "redis_mode"));
	e = text_escape(node != NULL && node[0] != '\0' ? node : "(none)");
	printf("  redis: %s %s, %lld failover(s)\n", m ? m : "?", e ? e : "?",
	    (long long)json_integer_value(json_object_get(d,
	    "redis_failovers")));
	free(m);
	free(e);
}

/* print_fleet: the types each live daemon serves and the Redis server it
 * uses (when known); the queued jobs whose type none serves. */
static void
print_fleet(json_t *resp)
{
	json_t *d, *t, *n, *me = json_object_get(resp, "this_daemon");
	const char *type, *id = jstr(me, "daemon");
	int me_seen = 0;
	char *e;
	size_t i, k;

	json_array_foreach(json_object_get(resp, "daemons"), i, d) {
		int mine = id != NULL && jstr(d, "daemon") != NULL &&
		    strcmp(id, jstr(d, "daemon")) == 0;

		e = text_escape(jstr(d, "daemon") ? jstr(d, "daemon") : "-");
		printf("%sdaemon %s serves:%s", i == 0 ? "\n" : "",
		    e ? e : "?", json_is_true(json_object_get(d, "any_type")) ?
		    " any type," : "");
		free(e);
		json_array_foreach(json_object_get(d, "types"), k, t) {
			e = text_escape(json_is_string(t) ?
			    json_string_value(t) : "?");
			printf(" %s", e ? e : "?");
			free(e);
		}
		putchar('\n');
		me_seen |= mine;
		print_redis(mine ? me : d);
	}
	/* before its first heartbeat the daemon answering is not listed */
	if (id != NULL && !me_seen) {
		e = text_escape(id);
		printf("%sdaemon %s (no heartbeat yet)\n",
		    json_array_size(json_object_get(resp, "daemons")) == 0 ?
		    "\n" : "", e ? e : "?");
		free(e);
		print_redis(me);
	}
	json_object_foreach(json_object_get(resp, "unserved"), type, n) {
		e = text_escape(type);
		printf("unserved: %s: %lld queued, no live daemon serves the "
		    "type\n", e ? e : "?", (long long)json_integer_value(n));
		free(e);
	}
}

/* print_stats: the per-queue counters, then how many workers are busy. */
static void
print_stats(json_t *resp)
{
	static const char *const head[] = { "QUEUE", "QUEUED", "SCHEDULED",
	    "DEFERRED", "STARTED", "FINISHED", "FAILED", "CANCELED", "PAUSED" };
	json_t *q, *workers, *w;
	struct table *t;
	const char *name, *state;
	size_t i, busy = 0;

	t = table_new((int)(sizeof(head) / sizeof(head[0])), head);
	json_object_foreach(json_object_get(resp, "queues"), name, q)
		queue_row(t, name, q);
	if (json_is_object(json_object_get(resp, "totals")))
		queue_row(t, "(total)", json_object_get(resp, "totals"));
	table_print(t);
	table_free(t);
	workers = json_object_get(resp, "workers");
	json_array_foreach(workers, i, w) {
		state = jstr(w, "state");
		if (state != NULL && strcmp(state, "idle") != 0)
			busy++;
	}
	printf("\nworkers: %zu (%zu busy)\n", json_array_size(workers), busy);
	print_fleet(resp);
}

/* stats_verb: stats and workers are two views of one stats reply. */
static int
stats_verb(struct jobctl *ctl, int argc, char **argv,
    void (*print)(json_t *))
{
	json_t *resp;
	int rc;

	if ((rc = simple(ctl, argc, argv, "stats", 0, &resp)) != 0 ||
	    resp == NULL)
		return rc;
	if (!ctl->json)
		print(resp);
	return finish(ctl, resp, NULL);
}

int
cmd_stats(struct jobctl *ctl, int argc, char **argv)
{
	return stats_verb(ctl, argc, argv, print_stats);
}

int
cmd_workers(struct jobctl *ctl, int argc, char **argv)
{
	return stats_verb(ctl, argc, argv, print_workers);
}

static int
queue_verb(struct jobctl *ctl, int argc, char **argv, const char *op,
    const char *done)
{
	char line[512];
	json_t *resp;
	int rc;

	if ((rc = simple(ctl, argc, argv, op, 1, &resp)) != 0 ||
	    resp == NULL)
		return rc;
	snprintf(line, sizeof(line), "queue %s %s", argv[optind], done);
	return finish(ctl, resp, line);
}

int
cmd_pause(struct jobctl *ctl, int argc, char **argv)
{
	return queue_verb(ctl, argc, argv, "pause", "paused");
}

int
cmd_resume(struct jobctl *ctl, int argc, char **argv)
{
	return queue_verb(ctl, argc, argv, "resume", "resumed");
}

int
cmd_reload(struct jobctl *ctl, int argc, char **argv)
{
	return plain_verb(ctl, argc, argv, "reload", "configuration reloaded");
}
