/* test_redis_route.c: hash slots, and what Sentinels and Cluster nodes
 * answer, including answers that are wrong or hostile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "redis_route.h"

/* Reply builders (freed with freeReplyObject). */
static redisReply *
str(const char *s)
{
	redisReply *r = calloc(1, sizeof(*r));

	r->type = REDIS_REPLY_STRING;
	r->len = strlen(s);
	r->str = strdup(s);
	return r;
}

static redisReply *
num(long long v)
{
	redisReply *r = calloc(1, sizeof(*r));

	r->type = REDIS_REPLY_INTEGER;
	r->integer = v;
	return r;
}

static redisReply *
arr(size_t n, ...)
{
	redisReply *r = calloc(1, sizeof(*r));
	va_list ap;

	r->type = REDIS_REPLY_ARRAY;
	r->elements = n;
	r->element = calloc(n ? n : 1, sizeof(*r->element));
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		r->element[i] = va_arg(ap, redisReply *);
	va_end(ap);
	return r;
}

static redisReply *
typed(int type, const char *s)
{
	redisReply *r = s ? str(s) : calloc(1, sizeof(*r));

	r->type = type;
	return r;
}

static void
test_slot(void **state)
{
	(void)state;
	/* values CLUSTER KEYSLOT gives */
	assert_int_equal(redis_route_slot("foo", 3), 12182);
	assert_int_equal(redis_route_slot("{main}", 6), 12501);
	assert_int_equal(redis_route_slot("jobd:{main}:meta", 16), 12501);
	assert_int_equal(redis_route_slot("{b}", 3), 3300);
	/* an empty tag, or none closed, hashes the whole key; only the
	 * first '{' counts (values from CLUSTER KEYSLOT as well) */
	assert_int_equal(redis_route_slot("{}x", 3), 10595);
	assert_int_equal(redis_route_slot("foo{}{bar}", 10), 8363);
	assert_int_equal(redis_route_slot("a{b}{c}", 7), 3300);
	assert_int_equal(redis_route_slot("{b", 2), 6215);
	assert_true(redis_route_slot("", 0) < REDIS_ROUTE_SLOTS);
}

static void
test_master_reply(void **state)
{
	char host[64], err[256];
	int port = 0;
	redisReply *r;
	char longhost[100];

	(void)state;
	r = arr(2, str("10.0.0.2"), str("6380"));
	assert_int_equal(redis_route_master_reply(r, host, sizeof(host), &port,
	    err, sizeof(err)), 0);
	assert_string_equal(host, "10.0.0.2");
	assert_int_equal(port, 6380);
	freeReplyObject(r);

	r = typed(REDIS_REPLY_NIL, NULL);
	assert_int_equal(redis_route_master_reply(r, host, sizeof(host), &port,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not know that master name"));
	freeReplyObject(r);

	r = typed(REDIS_REPLY_ERROR, "NOAUTH Authentication required.");
	assert_int_equal(redis_route_master_reply(r, host, sizeof(host), &port,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NOAUTH"));
	freeReplyObject(r);

	/* hostile: bad ports, wrong types, a host longer than the buffer */
	memset(longhost, 'h', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	redisReply *bad[] = {
		arr(2, str("h"), str("0")), arr(2, str("h"), str("65536")),
		arr(2, str("h"), str("12x")), arr(2, str("h"), str("")),
		arr(2, num(1), str("6379")), arr(1, str("h")),
		arr(3, str("h"), str("1"), str("2")), str("h:6379"),
		arr(2, str(longhost), str("6379")), arr(2, str(""), str("6379")),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (redis_route_master_reply(bad[i], host, sizeof(host), &port,
		    err, sizeof(err)) != -1)
			fail_msg("case %zu accepted", i);
		assert_non_null(strstr(err, "unexpected answer"));
		freeReplyObject(bad[i]);
	}
	assert_int_equal(redis_route_master_reply(NULL, host, sizeof(host),
	    &port, err, sizeof(err)), -1);
}

static void
test_slots_reply(void **state)
{
	char host[64], err[256];
	int port = 0;
	redisReply *r;

	(void)state;
	r = arr(2,
	    arr(3, num(0), num(8000), arr(3, str("10.0.0.1"), num(7000),
	        str("id1"))),
	    arr(4, num(8001), num(16383), arr(2, str(""), num(7001)),
	        arr(2, str("10.0.0.9"), num(7009))));
	assert_int_equal(redis_route_slots_reply(r, 8000, "seed", host,
	    sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "10.0.0.1");
	assert_int_equal(port, 7000);
	/* an empty address is the node that answered */
	assert_int_equal(redis_route_slots_reply(r, 12501, "seed", host,
	    sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "seed");
	assert_int_equal(port, 7001);
	freeReplyObject(r);

	r = arr(1, arr(3, num(0), num(100), arr(2, str("h"), num(1))));
	assert_int_equal(redis_route_slots_reply(r, 101, "s", host,
	    sizeof(host), &port, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no node serves hash slot 101"));
	freeReplyObject(r);

	r = typed(REDIS_REPLY_ERROR,
	          "ERR This instance has cluster support disabled");
	assert_int_equal(redis_route_slots_reply(r, 1, "s", host,
	    sizeof(host), &port, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a cluster node"));
	freeReplyObject(r);

	redisReply *bad[] = {
		str("nope"), arr(1, str("x")),
		arr(1, arr(3, str("0"), num(9), arr(2, str("h"), num(1)))),
		arr(1, arr(2, num(0), num(9))),
		arr(1, arr(3, num(0), num(9), arr(1, str("h")))),
		arr(1, arr(3, num(0), num(9), arr(2, str("h"), num(70000)))),
		arr(1, arr(3, num(0), num(9), str("h"))),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (redis_route_slots_reply(bad[i], 5, "s", host, sizeof(host),
		    &port, err, sizeof(err)) != -1)
			fail_msg("case %zu accepted", i);
		assert_non_null(strstr(err, "unexpected"));
		freeReplyObject(bad[i]);
	}
}

static void
test_role_and_switch(void **state)
{
	char host[64], err[256], big[700];
	int port = 0;
	redisReply *r;

	(void)state;
	r = arr(3, str("master"), num(10), arr(0));
	assert_int_equal(redis_route_role_reply(r, err, sizeof(err)), 0);
	freeReplyObject(r);
	r = arr(5, str("slave"), str("h"), num(1), str("connected"), num(1));
	assert_int_equal(redis_route_role_reply(r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is a slave"));
	freeReplyObject(r);
	r = num(1);
	assert_int_equal(redis_route_role_reply(r, err, sizeof(err)), -1);
	freeReplyObject(r);
	assert_int_equal(redis_route_role_reply(NULL, err, sizeof(err)), -1);

	assert_int_equal(redis_route_switch_msg("mm 127.0.0.1 1 10.0.0.2 6380",
	    28, "mm", host, sizeof(host), &port), 1);
	assert_string_equal(host, "10.0.0.2");
	assert_int_equal(port, 6380);
	/* another master, bad ports, too few fields, too long */
	assert_int_equal(redis_route_switch_msg("other a 1 b 2", 13, "mm", host,
	    sizeof(host), &port), 0);
	assert_int_equal(redis_route_switch_msg("mm a 1 b 0", 10, "mm", host,
	    sizeof(host), &port), 0);
	assert_int_equal(redis_route_switch_msg("mm a 1 b 2x", 11, "mm", host,
	    sizeof(host), &port), 0);
	assert_int_equal(redis_route_switch_msg("mm a 1 b", 8, "mm", host,
	    sizeof(host), &port), 0);
	memset(big, 'x', sizeof(big));
	assert_int_equal(redis_route_switch_msg(big, sizeof(big), "mm", host,
	    sizeof(host), &port), 0);
}

static void
test_moved(void **state)
{
	(void)state;
	assert_true(redis_route_moved("MOVED 3999 127.0.0.1:6381"));
	assert_true(redis_route_undone("ASK 3999 127.0.0.1:6381"));
	assert_true(redis_route_undone("READONLY You can't write against a "
	                               "read only replica."));
	assert_true(redis_route_undone("TRYAGAIN Multiple keys request"));
	assert_true(redis_route_undone("CLUSTERDOWN The cluster is down"));
	/* stopped halfway: moved, but maybe partly done */
	assert_true(redis_route_moved("ERR Script attempted to access a non "
	                              "local key in a cluster node"));
	assert_false(redis_route_undone("ERR Script attempted to access a non "
	                                "local key in a cluster node"));
	assert_false(redis_route_moved("ERR unknown command"));
	assert_false(redis_route_moved("NOT_FOUND - no such job"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slot),
		cmocka_unit_test(test_master_reply),
		cmocka_unit_test(test_slots_reply),
		cmocka_unit_test(test_role_and_switch),
		cmocka_unit_test(test_moved),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
