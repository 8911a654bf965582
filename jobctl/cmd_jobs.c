/*
 * cmd_jobs.c: the verbs about jobs: submit, status, result, wait, cancel,
 * requeue, list.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobctl.h"

enum {
	OPT_QUEUE = OPT_JSON + 1, OPT_TIMEOUT, OPT_RETRIES, OPT_DELAY,
	OPT_JOB_ID, OPT_UNIQUE, OPT_LIMIT_KEY, OPT_CALLBACK, OPT_WAIT,
	OPT_WAIT_TIMEOUT, OPT_ALL_FAILED, OPT_STATUS, OPT_TYPE, OPT_LIMIT,
	OPT_OFFSET, OPT_DEPENDS_ON, OPT_ON_DEP_FAILURE, OPT_BATCH,
};

/* seconds_json: whole seconds as an integer, others as a real. */
static json_t *
seconds_json(double s)
{
	if (s == floor(s) && s < 9e15)
		return json_integer((json_int_t)s);
	return json_real(s);
}

static int
bad_value(const char *verb, const char *opt, const char *val)
{
	usage_error("%s: invalid value '%s' for %s", verb, val, opt);
	return EXIT_USAGE;
}

/* id_request: {"op": op, "job_id": id}. */
static json_t *
id_request(const char *op, const char *id)
{
	return json_pack("{ssss}", "op", op, "job_id", id);
}

/*
 * verb_opt: getopt_long() for a verb: the next option of the verb's own,
 * or -1 at the end.  *stop is -1, or the exit status when a common option
 * ends the verb (after --help, on bad usage).  Set optind = 0 first.
 */
static int
verb_opt(struct jobctl *ctl, int argc, char **argv,
    const struct option *opts, int *stop)
{
	int c, rc;

	*stop = -1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if ((rc = verb_common_opt(ctl, c, argv[0])) < 0)
			return c;
		if (rc != 0) {
			*stop = rc == EXIT_DONE ? EXIT_OK : rc;
			return -1;
		}
	}
	return -1;
}

/* show_fn: print a reply for people (not --json); id: the job the verb
 * names, if any. */
typedef void (*show_fn)(const char *id, json_t *resp);

/* reply_out: print a reply (as JSON with --json, else with show), free
 * it; the verb succeeded. */
static int
reply_out(struct jobctl *ctl, json_t *resp, const char *id, show_fn show)
{
	if (ctl->json)
		print_json(resp);
	else
		show(id, resp);
	json_decref(resp);
	return EXIT_OK;
}

/* id_verb: a verb taking one job id, whose request is id_request(op). */
static int
id_verb(struct jobctl *ctl, int argc, char **argv, const char *op,
    show_fn show)
{
	const char *id;
	json_t *resp;
	int rc;

	if ((rc = verb_args(ctl, argc, argv, 1, "one job id")) != 0)
		return rc == EXIT_DONE ? EXIT_OK : rc;
	id = argv[optind];
	if ((rc = ctl_request(ctl, id_request(op, id), &resp)) != 0)
		return rc;
	return reply_out(ctl, resp, id, show);
}

/* read_stdin: all of standard input, bounded, NUL-terminated. */
static char *
read_stdin(void)
{
	size_t len = 0, cap = 65536, n;
	char *buf = malloc(cap), *nbuf;

	while (buf != NULL) {
		if (len + 1 == cap) {
			if (cap >= JOBCTL_MAX_STDIN) {
				fputs("jobctl: payload on stdin too large\n",
				    stderr);
				free(buf);
				return NULL;
			}
			if ((nbuf = realloc(buf, cap * 2)) == NULL)
				break;
			buf = nbuf;
			cap *= 2;
		}
		n = fread(buf + len, 1, cap - 1 - len, stdin);
		len += n;
		if (n == 0) {
			if (ferror(stdin)) {
				perror("jobctl: stdin");
				free(buf);
				return NULL;
			}
			buf[len] = '\0';
			return buf;
		}
	}
	free(buf);
	fputs("jobctl: out of memory\n", stderr);
	return NULL;
}

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * wait_job: wait for a job to end (limited: for at most timeout seconds)
 * and show its outcome.  The daemon may cap one wait (max_wait), so the
 * request is repeated until the job ends or the time is up.
 */
int
wait_job(struct jobctl *ctl, const char *id, double timeout, int limited)
{
	double deadline = now_mono() + timeout, left;
	json_t *resp, *job;
	int rc;

	for (;;) {
		left = limited ? deadline - now_mono() : JOBCTL_WAIT_SLICE;
		if (left < 0)
			left = 0;
		if ((rc = ctl_request(ctl, json_pack("{sssssf}", "op", "wait",
		    "job_id", id, "timeout", left), &resp)) != 0)
			return rc;
		job = json_object_get(resp, "job");
		if (!json_is_true(json_object_get(resp, "timed_out")))
			break;
		if (limited && deadline - now_mono() < 0.01) {
			if (ctl->json)
				print_json(resp);
			fprintf(stderr, "jobctl: timeout: job %s is still %s "
			    "after %g s\n", id, jstr(job, "status") ?
			    jstr(job, "status") : "running", timeout);
			json_decref(resp);
			return EXIT_ERR;
		}
		json_decref(resp);
	}
	if (ctl->json)
		print_json(resp);
	rc = print_outcome(ctl, job);
	json_decref(resp);
	return rc;
}

int
cmd_submit(struct jobctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "queue", required_argument, NULL, OPT_QUEUE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "delay", required_argument, NULL, OPT_DELAY },
		{ "job-id", required_argument, NULL, OPT_JOB_ID },
		{ "unique-key", required_argument, NULL, OPT_UNIQUE },
		{ "limit-key", required_argument, NULL, OPT_LIMIT_KEY },
		{ "callback-url", required_argument, NULL, OPT_CALLBACK },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "wait-timeout", required_argument, NULL, OPT_WAIT_TIMEOUT },
		{ "depends-on", required_argument, NULL, OPT_DEPENDS_ON },
		{ "on-dep-failure", required_argument, NULL,
		    OPT_ON_DEP_FAILURE },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ 0 }
	};
	json_t *req, *resp, *payload = NULL, *deps;
	json_error_t jerr;
	const char *ptext = NULL;
	char *id, *input = NULL;
	double secs, wait_timeout = 0;
	long n;
	int c, rc, wait = 0, limited = 0;

	if ((req = json_object()) == NULL)
		return EXIT_ERR;
	optind = 0;
	while ((c = verb_opt(ctl, argc, argv, opts, &rc)) != -1) {
		switch (c) {
		case OPT_QUEUE:
			json_object_set_new(req, "queue", json_string(optarg));
			break;
		case OPT_JOB_ID:
			json_object_set_new(req, "job_id", json_string(optarg));
			break;
		case OPT_UNIQUE:
			json_object_set_new(req, "unique_key",
			    json_string(optarg));
			break;
		case OPT_LIMIT_KEY:
			json_object_set_new(req, "limit_key",
			    json_string(optarg));
			break;
		case OPT_CALLBACK:
			json_object_set_new(req, "callback_url",
			    json_string(optarg));
			break;
		case OPT_TIMEOUT:
		case OPT_DELAY:
			if (parse_seconds(optarg, &secs) != 0) {
				rc = bad_value(argv[0], c == OPT_TIMEOUT ?
				    "--timeout" : "--delay", optarg);
				goto out;
			}
			json_object_set_new(req, c == OPT_TIMEOUT ? "timeout" :
			    "delay", seconds_json(secs));
			break;
		case OPT_RETRIES:
			if (parse_count(optarg, &n) != 0) {
				rc = bad_value(argv[0], "--retries", optarg);
				goto out;
			}
			json_object_set_new(req, "retries", json_integer(n));
			break;
		case OPT_WAIT:
			wait = 1;
			break;
		case OPT_DEPENDS_ON:
			/* repeatable: the daemon checks the ids */
			if ((deps = json_object_get(req, "depends_on")) == NULL) {
				deps = json_array();
				json_object_set_new(req, "depends_on", deps);
			}
			json_array_append_new(deps, json_string(optarg));
			break;
		case OPT_ON_DEP_FAILURE:
			json_object_set_new(req, "on_dep_failure",
			    json_string(optarg));
			break;
		case OPT_BATCH:
			json_object_set_new(req, "batch_id", json_string(optarg));
			break;
		case OPT_WAIT_TIMEOUT:
			if (parse_seconds(optarg, &wait_timeout) != 0) {
				rc = bad_value(argv[0], "--wait-timeout",
				    optarg);
				goto out;
			}
			wait = limited = 1;
			break;
		}
	}
	if (rc >= 0)
		goto out;
	if (argc - optind < 1 || argc - optind > 2) {
		usage_error("submit: expected TYPE [PAYLOAD|-]");
		rc = EXIT_USAGE;
		goto out;
	}
	if (argc - optind == 2) {
		ptext = argv[optind + 1];
		if (strcmp(ptext, "-") == 0) {
			if ((ptext = input = read_stdin()) == NULL) {
				rc = EXIT_ERR;
				goto out;
			}
		}
		if ((payload = json_loads(ptext, JSON_DECODE_ANY, &jerr)) ==
		    NULL) {
			usage_error("submit: the payload is not JSON: %s",
			    jerr.text);
			rc = EXIT_USAGE;
			goto out;
		}
		json_object_set_new(req, "payload", payload);
	}
	json_object_set_new(req, "op", json_string("submit"));
	json_object_set_new(req, "type", json_string(argv[optind]));
	rc = ctl_request(ctl, req, &resp);
	req = NULL;
	if (rc != 0)
		goto out;
	if (jstr(resp, "job_id") == NULL) {
		fputs("jobctl: protocol: no job_id in the response\n", stderr);
		json_decref(resp);
		rc = EXIT_ERR;
		goto out;
	}
	if (!wait) {
		if (ctl->json)
			print_json(resp);
		else
			puts(jstr(resp, "job_id"));
		json_decref(resp);
		rc = EXIT_OK;
		goto out;
	}
	if ((id = strdup(jstr(resp, "job_id"))) == NULL) {
		json_decref(resp);
		rc = EXIT_ERR;
		goto out;
	}
	json_decref(resp);
	rc = wait_job(ctl, id, wait_timeout, limited);
	free(id);
out:
	json_decref(req);
	free(input);
	return rc;
}

static void
show_status(const char *id, json_t *resp)
{
	(void)id;
	print_job(json_object_get(resp, "job"));
}

/* unserved_note: a queued job whose type no live daemon serves says so
 * (from a stats reply; nothing when stats cannot be had). */
static void
unserved_note(struct jobctl *ctl, json_t *job)
{
	const char *type = jstr(job, "type"), *status = jstr(job, "status");
	json_t *resp = NULL;

	if (type == NULL || status == NULL || strcmp(status, "queued") != 0 ||
	    ctl_request(ctl, json_pack("{ss}", "op", "stats"), &resp) != 0)
		return;
	if (json_object_get(json_object_get(resp, "unserved"), type) != NULL)
		printf("%-13s %s\n", "waiting:",
		    "no live daemon serves its type");
	json_decref(resp);
}

int
cmd_status(struct jobctl *ctl, int argc, char **argv)
{
	json_t *resp;
	int rc;

	if (ctl->json)
		return id_verb(ctl, argc, argv, "get", show_status);
	if ((rc = verb_args(ctl, argc, argv, 1, "one job id")) != 0)
		return rc == EXIT_DONE ? EXIT_OK : rc;
	if ((rc = ctl_request(ctl, id_request("get", argv[optind]), &resp))
	    != 0)
		return rc;
	show_status(argv[optind], resp);
	unserved_note(ctl, json_object_get(resp, "job"));
	json_decref(resp);
	return EXIT_OK;
}

/* show_result: a finished job's result as such, else its status and
 * error. */
static void
show_result(const char *id, json_t *resp)
{
	const char *status = jstr(resp, "status");
	char buf[4096];
	json_t *v;

	(void)id;
	if (status != NULL && strcmp(status, "finished") == 0) {
		v = json_object_get(resp, "result");
		if (json_is_string(v)) {
			puts(json_string_value(v));
		} else {
			char *s = json_dumps(v, JSON_INDENT(2) |
			    JSON_ENCODE_ANY);

			puts(s != NULL ? s : "null");
			free(s);
		}
	} else {
		printf("status: %s\n", status != NULL ? status : "-");
		v = json_object_get(resp, "error");
		if (v != NULL && !json_is_null(v)) {
			jfmt(v, buf, sizeof(buf));
			printf("error:  %s\n", buf);
		}
	}
}

int
cmd_result(struct jobctl *ctl, int argc, char **argv)
{
	return id_verb(ctl, argc, argv, "result", show_result);
}

int
cmd_wait(struct jobctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ 0 }
	};
	double timeout = 0;
	int rc, limited = 0;

	optind = 0;
	/* --timeout is the only option of its own. */
	while (verb_opt(ctl, argc, argv, opts, &rc) != -1) {
		if (parse_seconds(optarg, &timeout) != 0)
			return bad_value(argv[0], "--timeout", optarg);
		limited = 1;
	}
	if (rc >= 0)
		return rc;
	if (argc - optind != 1) {
		usage_error("wait: expected one job id");
		return EXIT_USAGE;
	}
	return wait_job(ctl, argv[optind], timeout, limited);
}

static void
show_canceled(const char *id, json_t *resp)
{
	printf("%s %s\n", id, jstr(resp, "status") ?
	    jstr(resp, "status") : "canceled");
}

int
cmd_cancel(struct jobctl *ctl, int argc, char **argv)
{
	return id_verb(ctl, argc, argv, "cancel", show_canceled);
}

static void
show_deleted(const char *id, json_t *resp)
{
	(void)resp;
	printf("%s deleted\n", id);
}

int
cmd_delete(struct jobctl *ctl, int argc, char **argv)
{
	return id_verb(ctl, argc, argv, "delete", show_deleted);
}

/* show_ids: the requeued jobs' ids, one a line. */
static void
show_ids(const char *id, json_t *resp)
{
	json_t *v;
	size_t i;

	(void)id;
	json_array_foreach(json_object_get(resp, "job_ids"), i, v)
		puts(json_string_value(v) ? json_string_value(v) : "?");
}

int
cmd_requeue(struct jobctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "all-failed", no_argument, NULL, OPT_ALL_FAILED },
		{ "queue", required_argument, NULL, OPT_QUEUE },
		{ 0 }
	};
	const char *queue = NULL;
	json_t *req, *resp;
	int c, rc, all = 0;

	optind = 0;
	while ((c = verb_opt(ctl, argc, argv, opts, &rc)) != -1) {
		if (c == OPT_ALL_FAILED)
			all = 1;
		else
			queue = optarg;
	}
	if (rc >= 0)
		return rc;
	if (all && argc - optind == 0)
		req = json_pack("{sssb}", "op", "requeue", "all_failed", 1);
	else if (!all && queue == NULL && argc - optind == 1)
		req = id_request("requeue", argv[optind]);
	else {
		usage_error("requeue: expected ID or --all-failed [--queue Q]");
		return EXIT_USAGE;
	}
	if (req != NULL && queue != NULL)
		json_object_set_new(req, "queue", json_string(queue));
	if ((rc = ctl_request(ctl, req, &resp)) != 0)
		return rc;
	return reply_out(ctl, resp, NULL, show_ids);
}

/* show_jobs: a list reply as a table, and how many jobs it left out. */
static void
show_jobs(const char *id, json_t *resp)
{
	static const char *const head[] = { "ID", "TYPE", "QUEUE", "STATUS",
	    "ATTEMPTS", "CREATED", "PROGRESS" };
	json_t *jobs = json_object_get(resp, "jobs"), *job, *pc;
	struct table *t;
	char attempts[32], progress[32];
	const char *row[7];
	size_t i;

	(void)id;
	t = table_new(7, head);
	json_array_foreach(jobs, i, job) {
		jfmt(json_object_get(job, "attempts"), attempts,
		    sizeof(attempts));
		pc = json_object_get(json_object_get(job, "progress"),
		    "percent");
		if (json_is_number(pc))
			snprintf(progress, sizeof(progress), "%g%%",
			    json_number_value(pc));
		else
			snprintf(progress, sizeof(progress), "-");
		row[0] = jstr(job, "job_id");
		row[1] = jstr(job, "type");
		row[2] = jstr(job, "queue");
		row[3] = jstr(job, "status");
		row[4] = attempts;
		row[5] = jstr(job, "created_at");
		row[6] = progress;
		table_add(t, row);
	}
	table_print(t);
	table_free(t);
	if (json_is_integer(json_object_get(resp, "total")) &&
	    (size_t)json_integer_value(json_object_get(resp, "total")) >
	    json_array_size(jobs))
		printf("(%zu of %" JSON_INTEGER_FORMAT " jobs shown)\n",
		    json_array_size(jobs),
		    json_integer_value(json_object_get(resp, "total")));
}

int
cmd_list(struct jobctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "queue", required_argument, NULL, OPT_QUEUE },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "offset", required_argument, NULL, OPT_OFFSET },
		{ 0 }
	};
	json_t *req, *resp;
	long n;
	int c, rc;

	if ((req = json_pack("{ss}", "op", "list")) == NULL)
		return EXIT_ERR;
	optind = 0;
	while ((c = verb_opt(ctl, argc, argv, opts, &rc)) != -1) {
		switch (c) {
		case OPT_STATUS:
			json_object_set_new(req, "status", json_string(optarg));
			break;
		case OPT_QUEUE:
			json_object_set_new(req, "queue", json_string(optarg));
			break;
		case OPT_TYPE:
			json_object_set_new(req, "type", json_string(optarg));
			break;
		case OPT_LIMIT:
		case OPT_OFFSET:
			if (parse_count(optarg, &n) != 0) {
				json_decref(req);
				return bad_value(argv[0], c == OPT_LIMIT ?
				    "--limit" : "--offset", optarg);
			}
			json_object_set_new(req, c == OPT_LIMIT ? "limit" :
			    "offset", json_integer(n));
			break;
		}
	}
	if (rc >= 0) {
		json_decref(req);
		return rc;
	}
	if (argc - optind != 0) {
		json_decref(req);
		usage_error("list: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if ((rc = ctl_request(ctl, req, &resp)) != 0)
		return rc;
	return reply_out(ctl, resp, NULL, show_jobs);
}
