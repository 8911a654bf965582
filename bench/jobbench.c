/*
 * jobbench.c: the load generator for jobd's benchmarks (bench/run.sh).
 * It speaks to jobd only through the public libjobclient API.
 *
 *   jobbench submit  -s SOCK -n N [-c CLIENTS] [-t TYPE] [-p BYTES]
 *       W1/W1p: CLIENTS threads (one handle each), one jc_submit at a time;
 *       also p50/p99 of one submit's round trip.
 *   jobbench batch   -s SOCK -n N [-b BATCH] [-t TYPE] [-p BYTES]
 *       W1b: jc_submit_many with BATCH jobs per call.
 *   jobbench fill    -s SOCK -n N [-t TYPE] [-p BYTES]
 *       untimed helper: submit N jobs with submit_many (batches of 100).
 *   jobbench drain   -s SOCK -n N [-t TYPE] [-p BYTES] [-q QUEUE] [-T SECS]
 *       W2: pause QUEUE, fill N jobs, resume, time until the last job ends
 *       (wait on the last id, then stats until every job is terminal).
 *       -L LEN: the N jobs are chains of LEN, each job after the first of
 *       its chain submitted with depends_on its predecessor (W2c).
 *       -g DIR: several drains at once (one per namespace): after the fill
 *       create DIR/ready.PID, resume only once DIR/go exists, and print the
 *       start and end on CLOCK_MONOTONIC (t0, t1) so that the caller can
 *       time all of them together.
 *   jobbench latency -s SOCK -n N [-t TYPE] [-p BYTES]
 *       W3: submit one job and wait for it, N times; p50/p99/max.
 *
 * Every subcommand prints one JSON object on stdout and exits 0, or prints
 * the reason on stderr and exits 1 (a failed job is a failure).  Every loop
 * is bounded by N and by the handle's timeout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include <jansson.h>

#include "jobclient.h"
#include "bench_clock.h"

static const char *opt_sock;
static long opt_n = 1000;
static int opt_clients = 1;
static int opt_batch = 100;
static const char *opt_type = "jobd.noop";
static int opt_payload = 200;
static const char *opt_queue = "default";
static double opt_timeout = 600;
static int opt_chain = 1;     /* drain -L: jobs per dependency chain */
static const char *opt_go;    /* drain -g: the start line's directory */
static char *payload_json;  /* opt_payload bytes of JSON */

static void
die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("jobbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* make_payload: {"data":"xxx..."} of exactly n bytes (at least 12). */
static char *
make_payload(int n)
{
	const char *head = "{\"data\":\"", *tail = "\"}";
	int fill = n - (int)(strlen(head) + strlen(tail));
	char *p;

	if (fill < 0)
		fill = 0;
	p = malloc(strlen(head) + fill + strlen(tail) + 1);
	if (p == NULL)
		die("out of memory");
	strcpy(p, head);
	memset(p + strlen(head), 'x', fill);
	strcpy(p + strlen(head) + fill, tail);
	return p;
}

static jc_client *
connect_or_die(void)
{
	jc_client *c;
	int err = jc_open(opt_sock, &c);

	if (err != JC_OK)
		die("connect %s: %s", opt_sock, c ? jc_errmsg(c) : jc_strerror(err));
	jc_set_timeout(c, 60);
	return c;
}

/* ---- W1 / W1p ---------------------------------------------------------- */

struct submitter {
	pthread_t th;
	long n;
	double *lat;   /* n round trips, seconds */
	int err;
	char msg[256];
	pthread_barrier_t *bar;
};

static void *
submit_thread(void *arg)
{
	struct submitter *s = arg;
	jc_client *c;
	long i;
	int err;

	err = jc_open(opt_sock, &c);
	if (err == JC_OK)
		jc_set_timeout(c, 60);
	pthread_barrier_wait(s->bar);
	if (err != JC_OK) {
		s->err = err;
		snprintf(s->msg, sizeof s->msg, "connect: %s",
		    c ? jc_errmsg(c) : jc_strerror(err));
		jc_close(c);
		return NULL;
	}
	for (i = 0; i < s->n; i++) {
		char *id = NULL;
		double t0 = now();

		err = jc_submit(c, opt_type, payload_json, NULL, &id);
		s->lat[i] = now() - t0;
		if (err != JC_OK) {
			s->err = err;
			snprintf(s->msg, sizeof s->msg, "submit %ld: %s: %s", i,
			    jc_code_name(err), jc_errmsg(c));
			break;
		}
		jc_free(id);
	}
	jc_close(c);
	return NULL;
}

static int cmp_double(const void *a, const void *b);

static int
cmd_submit(void)
{
	struct submitter *s = calloc(opt_clients, sizeof *s);
	double *lat = malloc(sizeof(double) * opt_n);
	pthread_barrier_t bar;
	double t0, t1;
	long off = 0;
	int i, failed = 0;

	if (s == NULL || lat == NULL)
		die("out of memory");
	pthread_barrier_init(&bar, NULL, opt_clients + 1);
	for (i = 0; i < opt_clients; i++) {
		s[i].n = opt_n / opt_clients + (i < opt_n % opt_clients);
		s[i].lat = lat + off;   /* each thread its own slice */
		off += s[i].n;
		s[i].bar = &bar;
		if (pthread_create(&s[i].th, NULL, submit_thread, &s[i]) != 0)
			die("pthread_create");
	}
	pthread_barrier_wait(&bar);
	t0 = now();
	for (i = 0; i < opt_clients; i++)
		pthread_join(s[i].th, NULL);
	t1 = now();
	for (i = 0; i < opt_clients; i++)
		if (s[i].err != 0) {
			fprintf(stderr, "jobbench: client %d: %s\n", i, s[i].msg);
			failed = 1;
		}
	if (failed)
		return 1;
	qsort(lat, opt_n, sizeof(double), cmp_double);
	printf("{\"n\": %ld, \"clients\": %d, \"secs\": %.6f, "
	    "\"jobs_per_s\": %.1f, \"p50_ms\": %.4f, \"p99_ms\": %.4f}\n",
	    opt_n, opt_clients, t1 - t0, opt_n / (t1 - t0),
	    lat[(opt_n - 1) / 2] * 1e3, lat[(long)((opt_n - 1) * 0.99)] * 1e3);
	free(lat);
	free(s);
	return 0;
}

/* ---- W1b and fill ------------------------------------------------------ */

/* submit_batches: N jobs in submit_many calls of batch; the last id in
 * *last (may be NULL).  Returns seconds taken. */
static double
submit_batches(jc_client *c, long n, int batch, char **last)
{
	size_t one = strlen(opt_type) + strlen(payload_json) + 160;
	char *buf = malloc(one * batch + 16), run[40];
	double t0, t1;
	long done = 0;

	if (buf == NULL)
		die("out of memory");
	/* chain ids: unique to this run, so that runs on one Redis differ */
	snprintf(run, sizeof(run), "ch%ld.%ld", (long)getpid(),
	    (long)(now() * 1000));
	t0 = now();
	while (done < n) {
		int k = n - done < batch ? (int)(n - done) : batch, j;
		char *p = buf, *ids = NULL;
		int err;

		*p++ = '[';
		for (j = 0; j < k; j++) {
			long g = done + j;

			p += sprintf(p, "%s{\"type\":\"%s\",\"payload\":%s",
			    j ? "," : "", opt_type, payload_json);
			if (opt_chain > 1)
				p += sprintf(p, ",\"job_id\":\"%s-%ld\"", run, g);
			if (opt_chain > 1 && g % opt_chain != 0)
				p += sprintf(p, ",\"depends_on\":[\"%s-%ld\"]",
				    run, g - 1);
			*p++ = '}';
		}
		*p++ = ']';
		*p = '\0';
		err = jc_submit_many(c, buf, &ids);
		if (err != JC_OK)
			die("submit_many at %ld: %s: %s", done, jc_code_name(err),
			    jc_errmsg(c));
		done += k;
		if (last != NULL && done >= n) {
			json_t *arr = json_loads(ids, 0, NULL);
			json_t *v = arr ? json_array_get(arr, json_array_size(arr) - 1)
			    : NULL;

			if (v == NULL || !json_is_string(v))
				die("submit_many: unexpected reply %.200s", ids);
			*last = strdup(json_string_value(v));
			json_decref(arr);
		}
		jc_free(ids);
	}
	t1 = now();
	free(buf);
	return t1 - t0;
}

static int
cmd_batch(void)
{
	jc_client *c = connect_or_die();
	double secs = submit_batches(c, opt_n, opt_batch, NULL);

	jc_close(c);
	printf("{\"n\": %ld, \"batch\": %d, \"secs\": %.6f, "
	    "\"jobs_per_s\": %.1f}\n", opt_n, opt_batch, secs, opt_n / secs);
	return 0;
}

static int
cmd_fill(void)
{
	jc_client *c = connect_or_die();
	double secs = submit_batches(c, opt_n, 100, NULL);

	jc_close(c);
	printf("{\"n\": %ld, \"secs\": %.6f}\n", opt_n, secs);
	return 0;
}

/* ---- W2 ---------------------------------------------------------------- */

/* stats_counts: totals of terminal jobs, from the stats op. */
static void
stats_counts(jc_client *c, long *finished, long *failed, long *canceled)
{
	char *resp = NULL;
	json_t *root, *totals;
	int err = jc_stats(c, &resp);

	if (err != JC_OK)
		die("stats: %s: %s", jc_code_name(err), jc_errmsg(c));
	root = json_loads(resp, 0, NULL);
	totals = root ? json_object_get(root, "totals") : NULL;
	if (!json_is_object(totals))
		die("stats: no totals in %.300s", resp);
	*finished = json_integer_value(json_object_get(totals, "finished"));
	*failed = json_integer_value(json_object_get(totals, "failed"));
	*canceled = json_integer_value(json_object_get(totals, "canceled"));
	json_decref(root);
	jc_free(resp);
}

/* wait_go: drain -g: say the fill is done (DIR/ready.PID), then wait for
 * DIR/go, so that several drains resume together. */
static void
wait_go(void)
{
	char path[4096];
	struct stat sb;
	double deadline = now() + opt_timeout;
	FILE *f;

	snprintf(path, sizeof path, "%s/ready.%ld", opt_go, (long)getpid());
	if ((f = fopen(path, "w")) == NULL || fclose(f) != 0)
		die("-g: cannot create %s", path);
	snprintf(path, sizeof path, "%s/go", opt_go);
	while (stat(path, &sb) != 0) {
		if (now() > deadline)
			die("-g: no %s within %.0f s", path, opt_timeout);
		usleep(500);
	}
}

static int
cmd_drain(void)
{
	jc_client *c = connect_or_die();
	long fin0, fail0, can0, fin = 0, fail = 0, can = 0;
	char *last = NULL, *resp = NULL;
	double t0, t1, tfill, deadline;
	int err, polls = 0;

	stats_counts(c, &fin0, &fail0, &can0);
	if ((err = jc_pause(c, opt_queue)) != JC_OK)
		die("pause %s: %s", opt_queue, jc_errmsg(c));
	tfill = submit_batches(c, opt_n, 100, &last);
	if (opt_go != NULL)
		wait_go();
	if ((err = jc_resume(c, opt_queue)) != JC_OK)
		die("resume %s: %s", opt_queue, jc_errmsg(c));
	t0 = now();
	deadline = t0 + opt_timeout;
	jc_set_timeout(c, opt_timeout + 30);
	err = jc_wait(c, last, opt_timeout, &resp);
	if (err != JC_OK)
		die("wait %s: %s: %s", last, jc_code_name(err), jc_errmsg(c));
	if (strstr(resp, "\"timed_out\"") != NULL)
		die("drain: the last job did not end within %.0f s", opt_timeout);
	jc_free(resp);
	for (;;) {
		stats_counts(c, &fin, &fail, &can);
		polls++;
		if ((fin - fin0) + (fail - fail0) + (can - can0) >= opt_n)
			break;
		if (now() > deadline)
			die("drain: %ld of %ld jobs ended within %.0f s",
			    (fin - fin0) + (fail - fail0) + (can - can0), opt_n,
			    opt_timeout);
		usleep(1000);
	}
	t1 = now();
	jc_close(c);
	printf("{\"n\": %ld, \"type\": \"%s\", \"secs\": %.6f, "
	    "\"jobs_per_s\": %.1f, \"fill_secs\": %.6f, \"finished\": %ld, "
	    "\"failed\": %ld, \"stats_polls\": %d, \"t0\": %.6f, "
	    "\"t1\": %.6f}\n", opt_n, opt_type, t1 - t0, opt_n / (t1 - t0), tfill,
	    fin - fin0, fail - fail0, polls, t0, t1);
	free(last);
	if (fail - fail0 != 0 || can - can0 != 0) {
		fprintf(stderr, "jobbench: drain: %ld jobs failed, %ld canceled\n",
		    fail - fail0, can - can0);
		return 1;
	}
	return 0;
}

/* ---- W3 ---------------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
cmd_latency(void)
{
	jc_client *c = connect_or_die();
	double *lat = malloc(sizeof(double) * opt_n), sum = 0;
	long i;

	if (lat == NULL)
		die("out of memory");
	for (i = 0; i < opt_n; i++) {
		char *id = NULL, *resp = NULL;
		double t0 = now();
		int err = jc_submit(c, opt_type, payload_json, NULL, &id);

		if (err != JC_OK)
			die("submit %ld: %s: %s", i, jc_code_name(err), jc_errmsg(c));
		err = jc_wait(c, id, 30, &resp);
		if (err != JC_OK)
			die("wait %s: %s: %s", id, jc_code_name(err), jc_errmsg(c));
		lat[i] = now() - t0;
		if (strstr(resp, "\"timed_out\"") != NULL ||
		    strstr(resp, "\"finished\"") == NULL)
			die("job %s did not finish: %.300s", id, resp);
		sum += lat[i];
		jc_free(id);
		jc_free(resp);
	}
	jc_close(c);
	qsort(lat, opt_n, sizeof(double), cmp_double);
	printf("{\"n\": %ld, \"p50_ms\": %.4f, \"p99_ms\": %.4f, "
	    "\"max_ms\": %.4f, \"mean_ms\": %.4f}\n", opt_n,
	    lat[(opt_n - 1) / 2] * 1e3, lat[(long)((opt_n - 1) * 0.99)] * 1e3,
	    lat[opt_n - 1] * 1e3, sum / opt_n * 1e3);
	free(lat);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *cmd;
	int ch;

	if (argc < 2) {
		fprintf(stderr, "usage: jobbench submit|batch|fill|drain|latency "
		    "-s SOCK -n N [-c CLIENTS] [-b BATCH] [-t TYPE] [-p BYTES] "
		    "[-q QUEUE] [-T SECS] [-L LEN] [-g DIR]\n");
		return 2;
	}
	cmd = argv[1];
	optind = 2;
	while ((ch = getopt(argc, argv, "s:n:c:b:t:p:q:T:L:g:")) != -1) {
		switch (ch) {
		case 's': opt_sock = optarg; break;
		case 'n': opt_n = atol(optarg); break;
		case 'c': opt_clients = atoi(optarg); break;
		case 'b': opt_batch = atoi(optarg); break;
		case 't': opt_type = optarg; break;
		case 'p': opt_payload = atoi(optarg); break;
		case 'q': opt_queue = optarg; break;
		case 'T': opt_timeout = atof(optarg); break;
		case 'L': opt_chain = atoi(optarg); break;
		case 'g': opt_go = optarg; break;
		default: return 2;
		}
	}
	if (opt_n < 1 || opt_clients < 1 || opt_batch < 1 || opt_chain < 1)
		die("N, CLIENTS, BATCH and LEN must be positive");
	payload_json = make_payload(opt_payload);
	if (strcmp(cmd, "submit") == 0)
		return cmd_submit();
	if (strcmp(cmd, "batch") == 0)
		return cmd_batch();
	if (strcmp(cmd, "fill") == 0)
		return cmd_fill();
	if (strcmp(cmd, "drain") == 0)
		return cmd_drain();
	if (strcmp(cmd, "latency") == 0)
		return cmd_latency();
	die("unknown subcommand %s", cmd);
}
