/* test_http_auth.c: the users file reader (http_users.c) and basic
 * authentication (http_auth.c) alone: lines refused by file and line,
 * headers decoded strictly, the right role for the right password, and
 * the remembered headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_auth.h"
#include "http_users.h"

static char path[64];
static char err[512];

static void
write_file(const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static int
setup(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/test_http_auth.XXXXXX");
	fd = mkstemp(path);
	if (fd == -1)
		return -1;
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	http_auth_free();
	return 0;
}

/* hash: a yescrypt hash of pw, as jobctl passwd makes. */
static char *
hash(const char *pw)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;

	memset(&cd, 0, sizeof(cd));
	assert_non_null(crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)));
	return strdup(crypt_r(pw, salt, &cd));
}

static const char *
load_err(const char *text)
{
	struct http_users *u = NULL;

	write_file(text, 0600);
	err[0] = '\0';
	assert_int_equal(http_users_load(path, &u, err, sizeof(err)), -1);
	assert_null(u);
	return err;
}

static void
bad_lines_name_file_and_line(void **state)
{
	char want[128];

	(void)state;
	snprintf(want, sizeof(want), "%s:3: ", path);
	assert_non_null(strstr(load_err("# c\n\nx:$y$j9T$a$b:boss\n"), want));
	assert_non_null(strstr(err, "admin or viewer"));
	assert_non_null(strstr(load_err("# c\n\nx:$y$j9T$a$b\n"), want));
	assert_non_null(strstr(err, "three fields"));
	assert_non_null(strstr(load_err("# c\n\nx y:$y$j9T$a$b:admin\n"),
	    "bad user name"));
	assert_non_null(strstr(load_err("a:$y$j9T$a$b:admin\n"
	    "a:$y$j9T$a$c:viewer\n"), "twice"));
	assert_non_null(strstr(load_err("a:plain:admin\n"), "weak"));
	assert_non_null(strstr(load_err("a:$nope$x$y:admin\n"), "crypt(3)"));
	assert_non_null(strstr(load_err("a:$y$j9T$a$:admin\n"), "crypt(3)"));
	assert_non_null(strstr(load_err("# nobody\n"), "no users"));
}

static void
long_lines_and_many_users_are_refused(void **state)
{
	char *text = malloc(HTTP_USERS_MAX_LINE * 2 + 64);
	char *many = malloc((HTTP_USERS_MAX + 1) * 32);
	size_t n = 0;

	(void)state;
	assert_non_null(text);
	assert_non_null(many);
	memset(text, 'a', HTTP_USERS_MAX_LINE * 2);
	strcpy(text + HTTP_USERS_MAX_LINE * 2, ":$y$j9T$a$b:admin\n");
	assert_non_null(strstr(load_err(text), "longer than"));
	for (int i = 0; i <= HTTP_USERS_MAX; i++)
		n += (size_t)sprintf(many + n, "u%d:$y$j9T$a$b:viewer\n", i);
	assert_non_null(strstr(load_err(many), "more than 1000 users"));
	free(text);
	free(many);
}

static void
mode_and_crlf(void **state)
{
	struct http_users *u = NULL;

	(void)state;
	write_file("a:$y$j9T$a$b:admin\r\nb:$y$j9T$a$c:viewer", 0644);
	assert_int_equal(http_users_load(path, &u, err, sizeof(err)), 0);
	assert_int_equal(u->n, 2);
	assert_true(u->others_can_read);
	assert_true(http_users_find(u, "a")->admin);
	assert_false(http_users_find(u, "b")->admin);
	assert_null(http_users_find(u, "c"));
	http_users_free(u);
}

static char *
basic(const char *userpass)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(userpass), o = 6;
	char *out = malloc(6 + (n + 2) / 3 * 4 + 1);
	const unsigned char *s = (const unsigned char *)userpass;

	memcpy(out, "Basic ", 6);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 |
		    (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
		    (i + 2 < n ? s[i + 2] : 0);

		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? abc[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static void
roles_passwords_and_headers(void **state)
{
	struct http_users *u = NULL;
	char *ha = hash("pw:a"), *hb = hash("b"), text[512], user[80];
	char *good = basic("alice:pw:a");
	static const char *const bad[] = {
		"Basic", "Basic ", "Basic !!!!", "Basic YWxpY2U=x",
		"Basic YWxp", "Basic ====", "Bearer YWxpY2U6cHc6YQ==",
		"Basic YWxpY2U6cHc6YQ== x", "BasicYWxpY2U6cHc6YQ==",
		"Basic YWxpY2U6cHc6YQ", "Basic YWxpY2UAOnB3OmE=",
	};

	(void)state;
	snprintf(text, sizeof(text), "alice:%s:admin\nbob:%s:viewer\n", ha, hb);
	write_file(text, 0600);
	assert_int_equal(http_users_load(path, &u, err, sizeof(err)), 0);
	assert_string_equal(good, "Basic YWxpY2U6cHc6YQ==");
	assert_int_equal(http_auth_check(u, good, user, sizeof(user)),
	    HTTP_ROLE_ADMIN);
	assert_string_equal(user, "alice");
	/* remembered: the same header again, and a case-different scheme
	 * verified on its own */
	assert_int_equal(http_auth_check(u, good, user, sizeof(user)),
	    HTTP_ROLE_ADMIN);
	assert_int_equal(http_auth_check(u, "bAsIc  YWxpY2U6cHc6YQ==", user,
	    sizeof(user)), HTTP_ROLE_ADMIN);
	free(good);
	good = basic("bob:b");
	assert_int_equal(http_auth_check(u, good, user, sizeof(user)),
	    HTTP_ROLE_VIEWER);
	free(good);
	good = basic("bob:a");
	assert_int_equal(http_auth_check(u, good, user, sizeof(user)),
	    HTTP_ROLE_NONE);
	free(good);
	good = basic("carol:b");
	assert_int_equal(http_auth_check(u, good, user, sizeof(user)),
	    HTTP_ROLE_NONE);
	assert_string_equal(user, "");
	free(good);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(http_auth_check(u, bad[i], user, sizeof(user)),
		    HTTP_ROLE_NONE);
	assert_int_equal(http_auth_check(u, NULL, user, sizeof(user)),
	    HTTP_ROLE_NONE);
	/* over the bound: refused before decoding */
	{
		char *big = malloc(HTTP_AUTH_MAX_HEADER + 16);

		memcpy(big, "Basic ", 6);
		memset(big + 6, 'A', HTTP_AUTH_MAX_HEADER);
		big[HTTP_AUTH_MAX_HEADER + 6] = '\0';
		assert_int_equal(http_auth_check(u, big, user, sizeof(user)),
		    HTTP_ROLE_NONE);
		free(big);
	}
	/* more verified headers than the cache holds: all still verify */
	for (int i = 0; i < HTTP_AUTH_CACHE + 2; i++) {
		char hdr[64];

		snprintf(hdr, sizeof(hdr), "Basic%.*sYm9iOmI=%.*s", i % 9 + 1,
		    "          ", i / 9, "          ");
		assert_int_equal(http_auth_check(u, hdr, user, sizeof(user)),
		    HTTP_ROLE_VIEWER);
	}
	http_users_free(u);
	free(ha);
	free(hb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(bad_lines_name_file_and_line,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    long_lines_and_many_users_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(mode_and_crlf, setup, teardown),
		cmocka_unit_test_setup_teardown(roles_passwords_and_headers,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
