/*
 * gearman_bench.c: the gearmand side of bench/run.sh (libgearman, Debian's
 * libgearman-dev).
 *
 *   gearman_bench HOST:PORT put N C         W1/W1p: C threads submitting
 *                                           background jobs one at a time
 *   gearman_bench HOST:PORT drain N W KIND  W2: N queued background jobs, W
 *                                           worker processes; KIND noop |
 *                                           exec (fork+exec /bin/true)
 *   gearman_bench HOST:PORT latency N       W3: foreground jobs (the client
 *                                           waits for WORK_COMPLETE)
 *
 * One JSON line on stdout; exit 1 on failure.  Bounded by N and deadlines.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <libgearman/gearman.h>
#include "../bench_clock.h"

static char host[64];
static in_port_t port;
static char body[201];
static const char *kind = "noop";

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "gearman_bench: %s: %s\n", what, why);
	exit(1);
}

static gearman_client_st *
client(void)
{
	gearman_client_st *c = gearman_client_create(NULL);

	if (c == NULL)
		die("client", "create");
	if (gearman_client_add_server(c, host, port) != GEARMAN_SUCCESS)
		die("add_server", gearman_client_error(c));
	gearman_client_set_timeout(c, 60000);
	return c;
}

struct putter {
	pthread_t th;
	long n;
	pthread_barrier_t *bar;
	int err;
};

static void *
put_thread(void *arg)
{
	struct putter *p = arg;
	gearman_client_st *c = client();
	long i;

	pthread_barrier_wait(p->bar);
	for (i = 0; i < p->n; i++) {
		gearman_job_handle_t h;

		if (gearman_client_do_background(c, "bench", NULL, body,
		    strlen(body), h) != GEARMAN_SUCCESS) {
			fprintf(stderr, "gearman_bench: put: %s\n",
			    gearman_client_error(c));
			p->err = 1;
			break;
		}
	}
	gearman_client_free(c);
	return NULL;
}

static long
put_many(long n, int c, double *secs)
{
	struct putter *p = calloc(c, sizeof *p);
	pthread_barrier_t bar;
	double t0;
	int i;

	pthread_barrier_init(&bar, NULL, c + 1);
	for (i = 0; i < c; i++) {
		p[i].n = n / c + (i < n % c);
		p[i].bar = &bar;
		pthread_create(&p[i].th, NULL, put_thread, &p[i]);
	}
	pthread_barrier_wait(&bar);
	t0 = now();
	for (i = 0; i < c; i++)
		pthread_join(p[i].th, NULL);
	*secs = now() - t0;
	for (i = 0; i < c; i++)
		if (p[i].err)
			exit(1);
	free(p);
	return n;
}

static void *
work_fn(gearman_job_st *job, void *ctx, size_t *size, gearman_return_t *ret)
{
	(void)job;
	(void)ctx;
	if (strcmp(kind, "exec") == 0) {
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) < 0 || st != 0) {
			*ret = GEARMAN_WORK_FAIL;
			*size = 0;
			return NULL;
		}
	}
	*size = 2;
	*ret = GEARMAN_SUCCESS;
	return strdup("{}");
}

/* worker_proc: serve "bench" until killed. */
static void
worker_proc(int ready_fd, int go_fd)
{
	gearman_worker_st *w = gearman_worker_create(NULL);
	char b;

	if (w == NULL || gearman_worker_add_server(w, host, port) !=
	    GEARMAN_SUCCESS)
		_exit(1);
	gearman_worker_add_function(w, "bench", 0, work_fn, NULL);
	if (write(ready_fd, "r", 1) != 1 || read(go_fd, &b, 1) != 1)
		_exit(1);
	for (;;) {
		gearman_return_t r = gearman_worker_work(w);

		if (r != GEARMAN_SUCCESS && r != GEARMAN_WORK_FAIL) {
			fprintf(stderr, "gearman_bench: worker: %s\n",
			    gearman_worker_error(w));
			_exit(1);
		}
	}
}

/* admin_status: queued+running jobs of "bench" from the admin protocol. */
static long
admin_status(void)
{
	struct sockaddr_in sa = {0};
	char buf[4096], *line;
	long total = -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t got = 0, k;

	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		die("admin", "connect");
	if (write(fd, "status\n", 7) != 7)
		die("admin", "write");
	while (got < (ssize_t)sizeof buf - 1 &&
	    (k = read(fd, buf + got, sizeof buf - 1 - got)) > 0) {
		got += k;
		buf[got] = '\0';
		if (strstr(buf, "\n.\n") != NULL || strncmp(buf, ".\n", 2) == 0)
			break;
	}
	close(fd);
	buf[got] = '\0';
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char fn[64];
		long t, r, a;

		if (sscanf(line, "%63s %ld %ld %ld", fn, &t, &r, &a) == 4 &&
		    strcmp(fn, "bench") == 0)
			total = t;
	}
	return total < 0 ? 0 : total;
}

static pid_t
spawn_worker(int *go_w)
{
	int ready[2], go[2];
	pid_t pid;
	char b;

	if (pipe(ready) != 0 || pipe(go) != 0)
		die("pipe", "failed");
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		worker_proc(ready[1], go[0]);
	}
	close(ready[1]);
	close(go[0]);
	if (read(ready[0], &b, 1) != 1)
		die("worker", "did not start");
	close(ready[0]);
	*go_w = go[1];
	return pid;
}

int
main(int argc, char **argv)
{
	const char *cmd;
	char *colon;
	long n;

	if (argc < 4)
		die("usage", "gearman_bench HOST:PORT put|drain|latency N ...");
	snprintf(host, sizeof host, "%s", argv[1]);
	if ((colon = strrchr(host, ':')) == NULL)
		die("usage", "HOST:PORT");
	*colon = '\0';
	port = (in_port_t)atoi(colon + 1);
	cmd = argv[2];
	n = atol(argv[3]);
	snprintf(body, sizeof body, "{\"data\":\"%0189d\"}", 0);
	signal(SIGPIPE, SIG_IGN);

	if (strcmp(cmd, "put") == 0) {
		int c = argc > 4 ? atoi(argv[4]) : 1;
		double secs;

		put_many(n, c, &secs);
		printf("{\"n\": %ld, \"clients\": %d, \"secs\": %.6f, "
		    "\"jobs_per_s\": %.1f}\n", n, c, secs, n / secs);
		return 0;
	}
	if (strcmp(cmd, "drain") == 0) {
		int w = argc > 4 ? atoi(argv[4]) : 2, i;
		pid_t pids[64];
		int go[64];
		double t0, secs, dummy;
		long left;

		if (argc > 5)
			kind = argv[5];
		if (w < 1 || w > 64)
			die("drain", "1..64 workers");
		put_many(n, 1, &dummy);
		for (i = 0; i < w; i++)
			pids[i] = spawn_worker(&go[i]);
		t0 = now();
		for (i = 0; i < w; i++)
			if (write(go[i], "g", 1) != 1)
				die("drain", "go");
		while ((left = admin_status()) > 0) {
			if (now() - t0 > 900)
				die("drain", "deadline");
			usleep(2000);
		}
		secs = now() - t0;
		for (i = 0; i < w; i++) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
		printf("{\"n\": %ld, \"workers\": %d, \"kind\": \"%s\", "
		    "\"secs\": %.6f, \"jobs_per_s\": %.1f}\n", n, w, kind, secs,
		    n / secs);
		return 0;
	}
	if (strcmp(cmd, "latency") == 0) {
		gearman_client_st *c = client();
		double *lat = malloc(sizeof(double) * n), sum = 0;
		int go;
		pid_t pid = spawn_worker(&go);
		long i;

		if (write(go, "g", 1) != 1)
			die("latency", "go");
		usleep(300000);  /* the worker registers before the clock */
		for (i = 0; i < n; i++) {
			gearman_return_t ret;
			size_t sz;
			double t0 = now();
			void *res = gearman_client_do(c, "bench", NULL, body,
			    strlen(body), &sz, &ret);

			if (ret != GEARMAN_SUCCESS)
				die("do", gearman_client_error(c));
			free(res);
			lat[i] = now() - t0;
			sum += lat[i];
		}
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		for (i = 1; i < n; i++) {  /* insertion sort: n is small */
			double v = lat[i];
			long j = i - 1;

			while (j >= 0 && lat[j] > v) {
				lat[j + 1] = lat[j];
				j--;
			}
			lat[j + 1] = v;
		}
		printf("{\"n\": %ld, \"p50_ms\": %.4f, \"p99_ms\": %.4f, "
		    "\"max_ms\": %.4f, \"mean_ms\": %.4f}\n", n,
		    lat[(n - 1) / 2] * 1e3, lat[(long)((n - 1) * 0.99)] * 1e3,
		    lat[n - 1] * 1e3, sum / n * 1e3);
		return 0;
	}
	die("usage", "unknown subcommand");
	return 2;
}
