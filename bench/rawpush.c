/*
 * rawpush.c: the physical limit of the Redis socket for bench/run.sh:
 * N LPUSHes of a payload of BYTES bytes over one hiredis connection,
 * one round trip at a time, then pipelined in batches of BATCH.
 *
 *   rawpush SOCK N [BYTES] [BATCH]
 *
 * Prints {"one_at_a_time": jobs/s, "pipelined": jobs/s, ...}; exit 1 on
 * any Redis error.  The list is deleted afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
check(redisContext *c, redisReply *r)
{
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "rawpush: %s\n", r ? r->str : c->errstr);
		exit(1);
	}
	freeReplyObject(r);
}

int
main(int argc, char **argv)
{
	long n, i, j;
	int bytes, batch;
	char *payload;
	redisContext *c;
	double t0, t1, t2;

	if (argc < 3) {
		fprintf(stderr, "usage: rawpush SOCK N [BYTES] [BATCH]\n");
		return 2;
	}
	n = atol(argv[2]);
	bytes = argc > 3 ? atoi(argv[3]) : 200;
	batch = argc > 4 ? atoi(argv[4]) : 100;
	if (n < 1 || bytes < 1 || batch < 1)
		return 2;
	payload = malloc(bytes);
	memset(payload, 'x', bytes);
	c = redisConnectUnix(argv[1]);
	if (c == NULL || c->err) {
		fprintf(stderr, "rawpush: connect %s: %s\n", argv[1],
		    c ? c->errstr : "out of memory");
		return 1;
	}
	check(c, redisCommand(c, "DEL bench:raw"));
	t0 = now();
	for (i = 0; i < n; i++)
		check(c, redisCommand(c, "LPUSH bench:raw %b", payload,
		    (size_t)bytes));
	t1 = now();
	check(c, redisCommand(c, "DEL bench:raw"));
	t1 = t1 - t0;
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
	t2 = now() - t0;
	check(c, redisCommand(c, "DEL bench:raw"));
	redisFree(c);
	printf("{\"n\": %ld, \"bytes\": %d, \"batch\": %d, "
	    "\"one_at_a_time\": %.1f, \"pipelined\": %.1f}\n", n, bytes, batch,
	    n / t1, n / t2);
	return 0;
}
