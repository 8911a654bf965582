/* test_config_value.c: the setting value parsers on their own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "config_value.h"

static char why[256];

#define BAD(call, needle) do { \
	why[0] = '\0'; \
	assert_int_equal((call), -1); \
	if (strstr(why, (needle)) == NULL) \
		fail_msg("'%s' lacks '%s'", why, (needle)); \
} while (0)

#define GiB (1024LL * 1024 * 1024)

static const char *const not_sizes[] = {
	"", "K", "1T", "1KB", " 1", "1 K", "1.5M", "0x10", "k1",
};

static void
test_size(void **state)
{
	long long x = -7;

	(void)state;
	assert_int_equal(cv_parse_size("0", 0, GiB, &x, why, sizeof(why)), 0);
	assert_int_equal(x, 0);
	assert_int_equal(cv_parse_size("123", 0, GiB, &x, why, sizeof(why)), 0);
	assert_int_equal(x, 123);
	assert_int_equal(cv_parse_size("2k", 0, GiB, &x, why, sizeof(why)), 0);
	assert_int_equal(x, 2048);
	assert_int_equal(cv_parse_size("3M", 0, GiB, &x, why, sizeof(why)), 0);
	assert_int_equal(x, 3 * 1024 * 1024);
	assert_int_equal(cv_parse_size("1G", 0, GiB, &x, why, sizeof(why)), 0);
	assert_int_equal(x, GiB);
	/* bounds are inclusive, and checked after the suffix */
	BAD(cv_parse_size("2G", 0, GiB, &x, why, sizeof(why)),
	    "out of range (0..1073741824 bytes");
	BAD(cv_parse_size("1K", 2048, GiB, &x, why, sizeof(why)),
	    "out of range");
	assert_int_equal(x, GiB);  /* unchanged by the failures */
	/* overflow: of the number, and of number times suffix */
	BAD(cv_parse_size("99999999999999999999G", 0, GiB, &x, why,
	    sizeof(why)), "out of range");
	BAD(cv_parse_size("9223372036854775807G", 0, 1LL << 62, &x, why,
	    sizeof(why)), "out of range");
	BAD(cv_parse_size("9999999999999999999999999999999999999", 0, GiB, &x,
	    why, sizeof(why)), "not a size");
	/* garbage */
	for (size_t i = 0; i < sizeof(not_sizes) / sizeof(*not_sizes); i++)
		BAD(cv_parse_size(not_sizes[i], 0, GiB, &x, why, sizeof(why)),
		    "not a size");
	BAD(cv_parse_size("-1", 0, GiB, &x, why, sizeof(why)), "out of range");
	assert_int_equal(x, GiB);
}

static const struct {
	const char *text;
	double seconds;
} durations[] = {
	{ "30", 30 }, { "1.5s", 1.5 }, { "2m", 120 }, { "0.5h", 1800 },
	{ "1d", 86400 },
};

static const char *const not_durations[] = {
	"", "s", "2w", "1ms", "inf", "nan", "0x10", " 1", "1 s", "1e400",
};

static void
test_duration(void **state)
{
	double d = -7;

	(void)state;
	for (size_t i = 0; i < sizeof(durations) / sizeof(*durations); i++) {
		assert_int_equal(cv_parse_duration(durations[i].text, 0, 0,
		    86400, &d, why, sizeof(why)), 0);
		assert_true(d == durations[i].seconds);
	}
	/* bounds: closed, or open at min */
	BAD(cv_parse_duration("2d", 0, 0, 86400, &d, why, sizeof(why)),
	    "out of range (0..86400 seconds");
	BAD(cv_parse_duration("0", 0, 1, 86400, &d, why, sizeof(why)),
	    "out of range (more than 0..86400");
	BAD(cv_parse_duration("-1s", 0, 0, 86400, &d, why, sizeof(why)),
	    "out of range");
	BAD(cv_parse_duration("99999999999999999999d", 0, 0, 86400, &d, why,
	    sizeof(why)), "out of range");
	/* garbage */
	for (size_t i = 0; i < sizeof(not_durations) / sizeof(*not_durations);
	    i++)
		BAD(cv_parse_duration(not_durations[i], 0, 0, 86400, &d, why,
		    sizeof(why)), "not a number");
	assert_true(d == 86400);
}

static void
test_numbers(void **state)
{
	long long n = -7;
	double d = -7;

	(void)state;
	assert_int_equal(cv_parse_ll("-5", -10, 10, &n, why, sizeof(why)), 0);
	assert_int_equal(n, -5);
	BAD(cv_parse_ll("11", -10, 10, &n, why, sizeof(why)),
	    "out of range (-10..10)");
	BAD(cv_parse_ll("99999999999999999999", 0, 10, &n, why, sizeof(why)),
	    "out of range");
	for (const char *const *v = (const char *const[]){ "", "1x", " 1",
	    "1.0", "+", NULL }; *v != NULL; v++)
		BAD(cv_parse_ll(*v, 0, 10, &n, why, sizeof(why)), "not a number");
	assert_int_equal(n, -5);
	assert_int_equal(cv_parse_num("0.25", 0, 1, 1, &d, why, sizeof(why)),
	    0);
	assert_true(d == 0.25);
	BAD(cv_parse_num("0", 0, 1, 1, &d, why, sizeof(why)),
	    "out of range (more than 0..1)");
	/* strtod's hex floats, inf and nan are refused */
	for (const char *const *v = (const char *const[]){ "0x1p3", "INF",
	    "nan", "1e999", NULL }; *v != NULL; v++)
		BAD(cv_parse_num(*v, 0, 0, 100, &d, why, sizeof(why)),
		    "not a number");
	assert_true(d == 0.25);
}

static void
test_bool(void **state)
{
	static const char *const yes[] = { "yes", "TRUE", "On", "1" };
	static const char *const no[] = { "no", "false", "OFF", "0" };
	int b = -1;

	(void)state;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(cv_parse_bool(yes[i], &b, why, sizeof(why)), 0);
		assert_int_equal(b, 1);
		assert_int_equal(cv_parse_bool(no[i], &b, why, sizeof(why)), 0);
		assert_int_equal(b, 0);
	}
	BAD(cv_parse_bool("", &b, why, sizeof(why)), "not a boolean");
	BAD(cv_parse_bool("y", &b, why, sizeof(why)), "not a boolean");
	BAD(cv_parse_bool("yes ", &b, why, sizeof(why)), "not a boolean");
	BAD(cv_parse_bool("2", &b, why, sizeof(why)), "not a boolean");
	assert_int_equal(b, 0);
}

struct items {
	int n;
	char got[8][CONFIG_NAME_MAX * 2];
};

static int
collect(void *arg, const char *item, char *w, size_t wlen)
{
	struct items *it = arg;

	if (strcmp(item, "refuse") == 0)
		return cv_why(w, wlen, "refused '%s'", item);
	if (it->n == 8 || strlen(item) >= sizeof(it->got[0]))
		return cv_why(w, wlen, "test: too many or too long");
	strcpy(it->got[it->n++], item);
	return 0;
}

static void
test_list(void **state)
{
	struct items it;
	char longer[CONFIG_NAME_MAX * 2 + 2];

	(void)state;
	memset(&it, 0, sizeof(it));
	assert_int_equal(cv_parse_list(" a ,b\t,  c d", 0, collect, &it, why,
	    sizeof(why)), 0);
	assert_int_equal(it.n, 3);
	assert_string_equal(it.got[0], "a");
	assert_string_equal(it.got[1], "b");
	assert_string_equal(it.got[2], "c d");
	/* empty lists: allowed or not */
	memset(&it, 0, sizeof(it));
	assert_int_equal(cv_parse_list("", 1, collect, &it, why, sizeof(why)),
	    0);
	assert_int_equal(cv_parse_list(" \t", 1, collect, &it, why,
	    sizeof(why)), 0);
	assert_int_equal(it.n, 0);
	BAD(cv_parse_list("", 0, collect, &it, why, sizeof(why)), "empty list");
	BAD(cv_parse_list("a,,b", 1, collect, &it, why, sizeof(why)),
	    "empty entry");
	BAD(cv_parse_list("a,", 1, collect, &it, why, sizeof(why)),
	    "empty entry");
	BAD(cv_parse_list(",a", 1, collect, &it, why, sizeof(why)),
	    "empty entry");
	BAD(cv_parse_list("a, refuse", 1, collect, &it, why, sizeof(why)),
	    "refused 'refuse'");
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	BAD(cv_parse_list(longer, 1, collect, &it, why, sizeof(why)),
	    "entry longer than 127 characters");
}

static void
test_names_paths(void **state)
{
	char name[CONFIG_NAME_MAX + 2];
	const char nul[] = "ab\0cd";

	(void)state;
	assert_true(cv_valid_name("a.b-c_9", "_.-"));
	assert_false(cv_valid_name("", "_.-"));
	assert_false(cv_valid_name("a b", "_.-"));
	assert_false(cv_valid_name("a:b", "_.-"));
	assert_true(cv_valid_name("a:b", "_.:-"));
	assert_false(cv_valid_name("caf\xc3\xa9", "_.-"));
	/* a NUL ends the string: what follows is not seen */
	assert_true(cv_valid_name(nul, "_.-"));
	memset(name, 'n', CONFIG_NAME_MAX);
	name[CONFIG_NAME_MAX] = '\0';
	assert_true(cv_valid_name(name, "_.-"));
	name[CONFIG_NAME_MAX] = 'n';
	name[CONFIG_NAME_MAX + 1] = '\0';
	assert_false(cv_valid_name(name, "_.-"));

	assert_int_equal(cv_check_path("/a/b", 10, 1, why, sizeof(why)), 0);
	assert_int_equal(cv_check_path("a/b", 10, 0, why, sizeof(why)), 0);
	BAD(cv_check_path("a/b", 10, 1, why, sizeof(why)),
	    "not an absolute path");
	BAD(cv_check_path("", 10, 0, why, sizeof(why)), "empty path");
	BAD(cv_check_path("/0123456789", 10, 1, why, sizeof(why)),
	    "path longer than 10 bytes");
}

/* cv_why truncates to its buffer and always returns -1 */
static void
test_why(void **state)
{
	char small[8];

	(void)state;
	assert_int_equal(cv_why(small, sizeof(small), "%s", "0123456789"), -1);
	assert_string_equal(small, "0123456");
}

static void
test_listen(void **state)
{
	static const struct { const char *v, *host; int port; } good[] = {
		{ "127.0.0.1:9181", "127.0.0.1", 9181 },
		{ "localhost:1", "localhost", 1 },
		{ "[::1]:65535", "::1", 65535 },
		{ "0.0.0.0:80", "0.0.0.0", 80 },
	};
	static const struct { const char *v, *why; } bad[] = {
		{ "9181", "HOST:PORT" }, { ":9181", "missing host" },
		{ "::1:80", "brackets" }, { "[::1]80", "[IPv6]:PORT" },
		{ "[::1:80", "[IPv6]:PORT" }, { "h:0", "port" },
		{ "h:65536", "port" }, { "h:80x", "port" }, { "h:", "port" },
		{ "h st:80", "bad character" }, { "h/x:80", "bad character" },
		{ "unix:", "absolute" }, { "unix:rel", "absolute" },
	};
	struct cv_listen l;
	char longpath[200];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&l, 0x55, sizeof(l));
		assert_int_equal(cv_parse_listen(good[i].v, &l, why,
		    sizeof(why)), 0);
		assert_int_equal(l.is_unix, 0);
		assert_string_equal(l.host, good[i].host);
		assert_int_equal(l.port, good[i].port);
	}
	assert_int_equal(cv_parse_listen("unix:/run/jobd/http.sock", &l, why,
	    sizeof(why)), 0);
	assert_int_equal(l.is_unix, 1);
	assert_string_equal(l.path, "/run/jobd/http.sock");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		BAD(cv_parse_listen(bad[i].v, &l, why, sizeof(why)), bad[i].why);
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "unix:/", 6);
	longpath[sizeof(longpath) - 1] = '\0';
	BAD(cv_parse_listen(longpath, &l, why, sizeof(why)), "longer");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_names_paths),
		cmocka_unit_test(test_why),
		cmocka_unit_test(test_listen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
