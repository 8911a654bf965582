/*
 * rawpush.c: the physical limits of this machine for bench/run.sh, measured
 * with the cheapest possible code, so that jobd's W1 figures can be read
 * against them:
 *
 *   one_at_a_time  N LPUSHes of a BYTES-byte value over one hiredis
 *                  connection, one round trip at a time (one hop: W1's
 *                  floor if clients talked to Redis directly);
 *   concurrent     the same from CLIENTS threads, a connection each (what
 *                  concurrency alone gains on this machine: W1p's ceiling
 *                  against W1);
 *   relay          one round trip at a time through a relay process that
 *                  reads a length-prefixed frame from a Unix socket, does
 *                  one blocking LPUSH and answers with 4 bytes (two hops,
 *                  the shape jobd's design fixes: client, daemon, Redis;
 *                  no parsing, no event loop, nothing else);
 *   pipelined      N LPUSHes in pipelines of BATCH.
 *
 *   rawpush SOCK N [BYTES] [BATCH] [CLIENTS]
 *
 * Prints {"one_at_a_time": jobs/s, "concurrent": ..., "relay": ...,
 * "pipelined": ...}; exit 1 on any Redis or socket error.  The list is
 * deleted afterwards.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include "bench_clock.h"

static const char *sock_path;
static char *payload;
static int bytes;

static void
check(redisContext *c, redisReply *r)
{
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "rawpush: %s\n", r ? r->str : c->errstr);
		exit(1);
	}
	freeReplyObject(r);
}

static redisContext *
connect_redis(void)
{
	redisContext *c = redisConnectUnix(sock_path);

	if (c == NULL || c->err) {
		fprintf(stderr, "rawpush: connect %s: %s\n", sock_path,
		    c ? c->errstr : "out of memory");
		exit(1);
	}
	return c;
}

static void
push_n(redisContext *c, long n)
{
	for (long i = 0; i < n; i++)
		check(c, redisCommand(c, "LPUSH bench:raw %b", payload,
		    (size_t)bytes));
}

static void *
push_thread(void *arg)
{
	redisContext *c = connect_redis();

	push_n(c, *(long *)arg);
	redisFree(c);
	return NULL;
}

/* Exactly len bytes, or exit: the relay's peers are our own code. */
static int
io_full(int fd, void *buf, size_t len, int writing)
{
	char *p = buf;

	while (len > 0) {
		ssize_t k = writing ? write(fd, p, len) : read(fd, p, len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

/* The relay: frame in, one LPUSH, 4 bytes out, until the socket closes. */
static void
relay_serve(int fd)
{
	redisContext *c = connect_redis();
	char *frame = malloc((size_t)bytes);
	uint32_t len, ok = 0;

	while (io_full(fd, &len, sizeof len, 0) == 0) {
		if (len != (uint32_t)bytes || io_full(fd, frame, len, 0) != 0)
			_exit(1);
		check(c, redisCommand(c, "LPUSH bench:raw %b", frame,
		    (size_t)len));
		if (io_full(fd, &ok, sizeof ok, 1) != 0)
			_exit(1);
	}
	_exit(0);
}

static double
relay_rate(long n)
{
	int sv[2], status;
	uint32_t len = (uint32_t)bytes, ok;
	pid_t pid;
	double t0, t;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		perror("rawpush: socketpair");
		exit(1);
	}
	if ((pid = fork()) < 0) {
		perror("rawpush: fork");
		exit(1);
	}
	if (pid == 0) {
		close(sv[0]);
		relay_serve(sv[1]);
	}
	close(sv[1]);
	t0 = now();
	for (long i = 0; i < n; i++) {
		struct iovec iov[2] = { { &len, sizeof len },
		    { payload, (size_t)bytes } };

		if (writev(sv[0], iov, 2) != (ssize_t)(sizeof len + bytes) ||
		    io_full(sv[0], &ok, sizeof ok, 0) != 0) {
			fprintf(stderr, "rawpush: relay failed\n");
			exit(1);
		}
	}
	t = now() - t0;
	close(sv[0]);
	if (waitpid(pid, &status, 0) != pid || status != 0) {
		fprintf(stderr, "rawpush: relay exited %d\n", status);
		exit(1);
	}
	return n / t;
}

int
main(int argc, char **argv)
{
	long n, i, j, each;
	int batch, clients;
	redisContext *c;
	pthread_t th[64];
	double t0, one, conc, relay, piped;

	if (argc < 3) {
		fprintf(stderr,
		    "usage: rawpush SOCK N [BYTES] [BATCH] [CLIENTS]\n");
		return 2;
	}
	sock_path = argv[1];
	n = atol(argv[2]);
	bytes = argc > 3 ? atoi(argv[3]) : 200;
	batch = argc > 4 ? atoi(argv[4]) : 100;
	clients = argc > 5 ? atoi(argv[5]) : 8;
	if (n < 1 || bytes < 1 || batch < 1 || clients < 1 || clients > 64)
		return 2;
	payload = malloc(bytes);
	memset(payload, 'x', bytes);
	c = connect_redis();

	check(c, redisCommand(c, "DEL bench:raw"));
	t0 = now();
	push_n(c, n);
	one = n / (now() - t0);

	check(c, redisCommand(c, "DEL bench:raw"));
	each = n / clients;
	t0 = now();
	for (i = 0; i < clients; i++)
		if (pthread_create(&th[i], NULL, push_thread, &each) != 0) {
			fprintf(stderr, "rawpush: pthread_create failed\n");
			return 1;
		}
	for (i = 0; i < clients; i++)
		pthread_join(th[i], NULL);
	conc = each * clients / (now() - t0);

	check(c, redisCommand(c, "DEL bench:raw"));
	relay = relay_rate(n);

	check(c, redisCommand(c, "DEL bench:raw"));
	t0 = now();
	for (i = 0; i < n; i += batch) {
		long k = n - i < batch ? n - i : batch;
		redisReply *r;

		for (j = 0; j < k; j++)
			redisAppendCommand(c, "LPUSH bench:raw %b", payload,
			    (size_t)bytes);
		for (j = 0; j < k; j++) {
			if (redisGetReply(c, (void **)&r) != REDIS_OK)
				check(c, NULL);
			check(c, r);
		}
	}
	piped = n / (now() - t0);
	check(c, redisCommand(c, "DEL bench:raw"));
	redisFree(c);
	printf("{\"n\": %ld, \"bytes\": %d, \"batch\": %d, \"clients\": %d, "
	    "\"one_at_a_time\": %.1f, \"concurrent\": %.1f, \"relay\": %.1f, "
	    "\"pipelined\": %.1f}\n", n, bytes, batch, clients, one, conc,
	    relay, piped);
	return 0;
}
