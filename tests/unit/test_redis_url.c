/* test_redis_url.c: the Redis address grammar, and attacks on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

struct ok_case {
	const char *url;
	const char *host, *path;
	int port, db;
	const char *user, *password;
};

static void
test_valid(void **state)
{
	static const struct ok_case cases[] = {
		{ NULL, "127.0.0.1", "", 6379, 0, "", "" },
		{ "", "127.0.0.1", "", 6379, 0, "", "" },
		{ "redis://localhost", "localhost", "", 6379, 0, "", "" },
		{ "redis://h:1/", "h", "", 1, 0, "", "" },
		{ "redis://h.example-1_x:65535/15", "h.example-1_x", "", 65535, 15,
		  "", "" },
		{ "redis://[::1]:7000/2", "::1", "", 7000, 2, "", "" },
		{ "redis://[fe80::1]", "fe80::1", "", 6379, 0, "", "" },
		{ "redis://:secret@h", "h", "", 6379, 0, "", "secret" },
		{ "redis://bob:s3cr%3At%40x%2F%25@10.0.0.1:6380/3", "10.0.0.1", "",
		  6380, 3, "bob", "s3cr:t@x/%" },
		{ "redis://b%3Ab:p:q@h", "h", "", 6379, 0, "b:b", "p:q" },
		{ "redis://h/2147483647", "h", "", 6379, 2147483647, "", "" },
		{ "unix:///run/redis.sock", "", "/run/redis.sock", 6379, 0, "", "" },
		{ "unix:///tmp/r.sock?db=4", "", "/tmp/r.sock", 6379, 4, "", "" },
		{ "unix://u:p%20w@/tmp/r.sock?db=0", "", "/tmp/r.sock", 6379, 0,
		  "u", "p w" },
		{ "unix://:pw@/tmp/@odd.sock", "", "/tmp/@odd.sock", 6379, 0, "",
		  "pw" },
		/* a user alone: its password from redis_password_file */
		{ "redis://jobd@h:7000", "h", "", 7000, 0, "jobd", "" },
		{ "unix://jobd@/tmp/r.sock", "", "/tmp/r.sock", 6379, 0, "jobd",
		  "" },
	};
	struct redis_url u;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ok_case *c = &cases[i];

		err[0] = '\0';
		if (redis_url_parse(c->url, &u, err, sizeof(err)) != 0)
			fail_msg("%s: %s", c->url ? c->url : "(null)", err);
		assert_string_equal(u.host, c->host);
		assert_string_equal(u.path, c->path);
		assert_int_equal(u.port, c->port);
		assert_int_equal(u.db, c->db);
		assert_string_equal(u.user, c->user);
		assert_string_equal(u.password, c->password);
		redis_url_clear(&u);
		assert_string_equal(u.password, "");
	}
}

struct bad_case {
	const char *url;
	const char *needle;     /* in the message */
};

/* Each bad address fails with a message naming what is wrong, which never
 * quotes the password ("hunter2") nor the other parts of the URL. */
static void
test_invalid(void **state)
{
	static const struct bad_case cases[] = {
		{ "garbage", "expected redis://" },
		{ "http://h", "expected redis://" },
		{ "REDIS://h", "expected redis://" },
		{ "redis://", "missing host" },
		{ "redis://:6379", "missing host" },
		{ "redis://h:70000", "bad port (1..65535)" },
		{ "redis://h:0", "bad port" },
		{ "redis://h:-1", "bad port" },
		{ "redis://h:99999999999999999999", "bad port" },
		{ "redis://h:", "missing port" },
		{ "redis://h:x1/0", "bad port" },
		{ "redis://h/-1", "bad database number" },
		{ "redis://h/2147483648", "bad database number" },
		{ "redis://h/1x", "bad database number" },
		{ "redis://h/ 1", "bad database number" },
		{ "redis://h?x", "unexpected characters after the host" },
		{ "redis://h o", "unexpected characters after the host" },
		{ "redis://\x01h", "bad character in the host" },
		{ "redis://[::1", "without its ']'" },
		{ "redis://[]", "bad IPv6" },
		{ "redis://[::g]", "bad IPv6" },
		{ "redis://[::1]x", "unexpected characters" },
		{ "redis://u:@h", "empty password" },
		{ "redis://u:hun%2ter2@h", "percent-encoding in the password" },
		{ "redis://u:hunter2%@h", "percent-encoding in the password" },
		{ "redis://u:hunter2%0@h", "percent-encoding in the password" },
		{ "redis://u:hunter2%00@h", "NUL byte in the password" },
		{ "redis://u%00:hunter2@h", "NUL byte in the user name" },
		{ "redis://u:hun\x01ter2@h", "control character" },
		{ "redis://u:hunter2@x@h", "not percent-encoded" },
		{ "redis://u:hun/ter2@h", "'/' must be percent-encoded" },
		{ "unix://", "absolute path" },
		{ "unix:///", "absolute path" },
		{ "unix://relative/path", "absolute path" },
		{ "unix://u:hunter2@relative", "absolute path" },
		{ "unix:///tmp/s?db=-1", "bad database number" },
		{ "unix:///tmp/s?db=", "bad database number" },
		{ "unix:///tmp/s?x=1", "unknown parameter" },
		{ "unix:///tmp/s\x7f", "control character" },
		{ "unix://u:hunter2%zz@/tmp/s", "percent-encoding" },
		{ "redis://u%zz@h", "percent-encoding in the user name" },
		{ "sentinel://h", "missing master name" },
		{ "sentinel://h/", "missing master name" },
		{ "sentinel://h?db=1", "missing master name" },
		{ "sentinel://:hunter2@h:26379,/m", "missing host" },
		{ "sentinel://h,,h2/m", "missing host" },
		{ "sentinel://h:0/m", "bad port" },
		{ "sentinel://h:1x,h2/m", "bad port" },
		{ "sentinel://h/m y", "bad character in the master name" },
		{ "sentinel://h/m/1", "bad character in the master name" },
		{ "sentinel://h/m?x=1", "unknown parameter" },
		{ "sentinel://h/m?db", "unknown parameter" },
		{ "sentinel://h/m?db=1&db=2", "given twice" },
		{ "sentinel://h/m?db=x", "bad database number" },
		{ "sentinel://h/m?sentinel_password=", "empty sentinel_password" },
		{ "sentinel://h/m?sentinel_user=", "empty sentinel_user" },
		{ "sentinel://h/m?sentinel_password=hun%2ter2",
		  "percent-encoding in the sentinel_password" },
		{ "sentinel://h/m?sentinel_password=hunter2#",
		  "not percent-encoded" },
		{ "sentinel://h x/m", "unexpected characters after a host" },
		{ "cluster://", "missing host" },
		{ "cluster://h/1", "database 0 only" },
		{ "cluster://h?x=1", "no parameters" },
		{ "cluster://h:7000;h2", "bad port" },
		{ "cluster://u:hunter2@h1,h2,h3,h4,h5,h6,h7,h8,h9,h10,h11,h12,"
		  "h13,h14,h15,h16,h17", "too many hosts (max 16)" },
	};
	struct redis_url u;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];

		err[0] = '\0';
		if (redis_url_parse(c->url, &u, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", c->url);
		if (strstr(err, c->needle) == NULL)
			fail_msg("%s: '%s' not in: %s", c->url, c->needle, err);
		if (strstr(err, "hunter") != NULL || strchr(err, '\n') != NULL)
			fail_msg("%s: message quotes the URL: %s", c->url, err);
		assert_string_equal(u.password, "");
	}
}

/* Overlong parts and the whole: refused with a bound, never overflowing
 * the fixed buffers (ASan builds check). */
static void
test_overlong(void **state)
{
	static const struct { const char *pre, *post; int n; const char *needle; }
	    cases[] = {
		{ "redis://", "", 256, "host name too long" },
		{ "redis://h/", "", 30, "bad database number" },
		{ "redis://h:", "", 30, "bad port" },
		{ "redis://u:", "@h", REDIS_URL_CRED_MAX + 1, "password too long" },
		{ "redis://", ":p@h", REDIS_URL_CRED_MAX + 1, "user name too long" },
		{ "unix:///", "", 107, "socket path too long" },
		{ "redis://", "", REDIS_URL_MAX, "too long (max 4096" },
	};
	struct redis_url u;
	char err[256], *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t a = strlen(cases[i].pre), b = strlen(cases[i].post);

		s = malloc(a + (size_t)cases[i].n + b + 1);
		assert_non_null(s);
		memcpy(s, cases[i].pre, a);
		memset(s + a, '1', (size_t)cases[i].n);
		memcpy(s + a + cases[i].n, cases[i].post, b + 1);
		assert_int_equal(redis_url_parse(s, &u, err, sizeof(err)), -1);
		if (strstr(err, cases[i].needle) == NULL)
			fail_msg("case %zu: '%s' not in: %s", i, cases[i].needle, err);
		/* One byte less fits (but for the whole URL's and the port's). */
		if (i < 5 && i != 1 && i != 2) {
			memmove(s + a + cases[i].n - 1, s + a + cases[i].n, b + 1);
			assert_int_equal(redis_url_parse(s, &u, err, sizeof(err)), 0);
		}
		free(s);
	}
	/* Percent-encoding counts decoded bytes. */
	s = malloc(8 + 3 * REDIS_URL_CRED_MAX + 16);
	strcpy(s, "redis://:");
	for (i = 0; i < REDIS_URL_CRED_MAX; i++)
		strcat(s, "%41");
	strcat(s, "@h");
	assert_int_equal(redis_url_parse(s, &u, err, sizeof(err)), 0);
	assert_int_equal(strlen(u.password), REDIS_URL_CRED_MAX);
	free(s);
}

/* sentinel:// and cluster://: the nodes, the master's name, both pairs of
 * credentials; host and port are found at run time. */
static void
test_topologies(void **state)
{
	struct redis_url u;
	char err[256];

	(void)state;
	assert_int_equal(redis_url_parse("sentinel://app:p%40ss@s1,[::1]:26380,"
	    "10.0.0.3:7/my-master.1?db=3&sentinel_password=s%26p"
	    "&sentinel_user=sen", &u, err, sizeof(err)), 0);
	assert_int_equal(u.kind, REDIS_URL_SENTINEL);
	assert_int_equal(u.nnodes, 3);
	assert_string_equal(u.nodes[0].host, "s1");
	assert_int_equal(u.nodes[0].port, 26379);
	assert_string_equal(u.nodes[1].host, "::1");
	assert_int_equal(u.nodes[1].port, 26380);
	assert_string_equal(u.nodes[2].host, "10.0.0.3");
	assert_int_equal(u.nodes[2].port, 7);
	assert_string_equal(u.master, "my-master.1");
	assert_int_equal(u.db, 3);
	assert_string_equal(u.user, "app");
	assert_string_equal(u.password, "p@ss");
	assert_string_equal(u.sentinel_user, "sen");
	assert_string_equal(u.sentinel_password, "s&p");
	assert_string_equal(u.host, "");
	assert_int_equal(u.port, 0);
	redis_url_clear(&u);
	assert_string_equal(u.sentinel_password, "");

	assert_int_equal(redis_url_parse("cluster://127.0.0.1:7000,h2", &u, err,
	    sizeof(err)), 0);
	assert_int_equal(u.kind, REDIS_URL_CLUSTER);
	assert_int_equal(u.nnodes, 2);
	assert_int_equal(u.nodes[0].port, 7000);
	assert_string_equal(u.nodes[1].host, "h2");
	assert_int_equal(u.nodes[1].port, 6379);
	assert_int_equal(redis_url_parse("cluster://h/0", &u, err, sizeof(err)),
	    0);
	assert_int_equal(redis_url_parse("redis://h", &u, err, sizeof(err)), 0);
	assert_int_equal(u.kind, REDIS_URL_DIRECT);
	assert_int_equal(u.nnodes, 0);
}

static void
test_redact(void **state)
{
	static const char *const cases[][2] = {
		{ "redis://h:1/2", "redis://h:1/2" },
		{ "redis://:hunter2@h", "redis://:***@h" },
		{ "redis://bob:hun%40ter2@[::1]:7/3", "redis://bob:***@[::1]:7/3" },
		{ "unix://bob:hunter2@/tmp/s?db=1", "unix://bob:***@/tmp/s?db=1" },
		{ "redis://bob:hunter2/x@h", "(not shown)" },
		{ "", "redis://127.0.0.1:6379/0" },
		{ "sentinel://:hunter2@h1,h2/m?sentinel_password=hunter3&db=1",
		  "sentinel://:***@h1,h2/m?sentinel_password=***&db=1" },
		{ "sentinel://h1/m?sentinel_user=u&sentinel_password=hunter3",
		  "sentinel://h1/m?sentinel_user=u&sentinel_password=***" },
		{ "cluster://u:hunter2@h1:7000,h2:7001",
		  "cluster://u:***@h1:7000,h2:7001" },
	};
	char out[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(redis_url_redact(cases[i][0], out,
		    sizeof(out)), cases[i][1]);
	assert_string_equal(redis_url_redact(NULL, out, sizeof(out)),
	    "redis://127.0.0.1:6379/0");
	/* A short buffer truncates, still without the password. */
	assert_string_equal(redis_url_redact("redis://u:hunter2@h", out, 12),
	    "redis://u:*");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_topologies),
		cmocka_unit_test(test_redact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
