/*
 * cmd_admin.c: the verbs about the daemon: ping, stats, workers, pause,
 * resume, reload.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "jobctl.h"

/* The per-queue counters of a stats response, in table order. */
static const char *const counters[] = {
	"queued", "scheduled", "started", "finished", "failed", "canceled",
};
#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

/* simple: run a verb with nargs arguments whose request is built from
 * them; *resp gets the reply.  Returns 0 or an exit status. */
static int
simple(struct jobctl *ctl, int argc, char **argv, int nargs,
    const char *what, json_t *(*build)(char **), json_t **resp)
{
	int rc;

	*resp = NULL;
	if ((rc = verb_args(ctl, argc, argv, nargs, what)) != 0)
		return rc == EXIT_DONE ? EXIT_OK : rc;
	return ctl_request(ctl, build(argv + optind), resp);
}

static json_t *
build_ping(char **args)
{
	(void)args;
	return json_pack("{ss}", "op", "ping");
}

static json_t *
build_stats(char **args)
{
	(void)args;
	return json_pack("{ss}", "op", "stats");
}

static json_t *
build_reload(char **args)
{
	(void)args;
	return json_pack("{ss}", "op", "reload");
}

static json_t *
build_pause(char **args)
{
	return json_pack("{ssss}", "op", "pause", "queue", args[0]);
}

static json_t *
build_resume(char **args)
{
	return json_pack("{ssss}", "op", "resume", "queue", args[0]);
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

int
cmd_ping(struct jobctl *ctl, int argc, char **argv)
{
	json_t *resp;
	int rc;

	if ((rc = simple(ctl, argc, argv, 0, "no arguments", build_ping,
	    &resp)) != 0 || resp == NULL)
		return rc;
	return finish(ctl, resp, "pong");
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
print_workers(json_t *workers)
{
	static const char *const head[] = { "PID", "HOST", "STATE", "JOB",
	    "DONE" };
	char pid[32], done[32];
	const char *row[5];
	struct table *t = table_new(5, head);
	json_t *w;
	size_t i;

	json_array_foreach(workers, i, w) {
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

int
cmd_stats(struct jobctl *ctl, int argc, char **argv)
{
	static const char *const head[] = { "QUEUE", "QUEUED", "SCHEDULED",
	    "STARTED", "FINISHED", "FAILED", "CANCELED", "PAUSED" };
	json_t *resp, *q, *workers, *w;
	struct table *t;
	const char *name, *state;
	size_t i, busy = 0;
	int rc;

	if ((rc = simple(ctl, argc, argv, 0, "no arguments", build_stats,
	    &resp)) != 0 || resp == NULL)
		return rc;
	if (ctl->json)
		return finish(ctl, resp, NULL);
	t = table_new(8, head);
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
	json_decref(resp);
	return EXIT_OK;
}

int
cmd_workers(struct jobctl *ctl, int argc, char **argv)
{
	json_t *resp;
	int rc;

	if ((rc = simple(ctl, argc, argv, 0, "no arguments", build_stats,
	    &resp)) != 0 || resp == NULL)
		return rc;
	if (ctl->json)
		return finish(ctl, resp, NULL);
	print_workers(json_object_get(resp, "workers"));
	json_decref(resp);
	return EXIT_OK;
}

static int
queue_verb(struct jobctl *ctl, int argc, char **argv,
    json_t *(*build)(char **), const char *done)
{
	char line[512];
	json_t *resp;
	int rc;

	if ((rc = simple(ctl, argc, argv, 1, "a queue name", build,
	    &resp)) != 0 || resp == NULL)
		return rc;
	snprintf(line, sizeof(line), "queue %s %s", argv[optind], done);
	return finish(ctl, resp, line);
}

int
cmd_pause(struct jobctl *ctl, int argc, char **argv)
{
	return queue_verb(ctl, argc, argv, build_pause, "paused");
}

int
cmd_resume(struct jobctl *ctl, int argc, char **argv)
{
	return queue_verb(ctl, argc, argv, build_resume, "resumed");
}

int
cmd_reload(struct jobctl *ctl, int argc, char **argv)
{
	json_t *resp;
	int rc;

	if ((rc = simple(ctl, argc, argv, 0, "no arguments", build_reload,
	    &resp)) != 0 || resp == NULL)
		return rc;
	return finish(ctl, resp, "configuration reloaded");
}
