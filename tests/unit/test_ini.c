/* test_ini.c: the INI reader alone: what it hands its handler, and where. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ini.h"

static char got[4096];
static char err[512];

/* every call as one line "FILE:LINE [SECTION] KEY=VALUE" */
static int
on_section(void *arg, const char *section, const char *file, int line,
           char *e, size_t elen)
{
	size_t n = strlen(got);

	(void)arg;
	if (strcmp(section, "refuse") == 0) {
		snprintf(e, elen, "handler refused [%s] at %d", section, line);
		return -1;
	}
	snprintf(got + n, sizeof(got) - n, "%s:%d [%s]\n", file, line,
	    section);
	return 0;
}

static int
on_setting(void *arg, const char *section, const char *key,
           const char *value, const char *file, int line, char *e,
           size_t elen)
{
	size_t n = strlen(got);

	(void)arg;
	(void)e;
	(void)elen;
	snprintf(got + n, sizeof(got) - n, "%s:%d %s.%s=%s\n", file, line,
	    section, key, value);
	return 0;
}

static const struct ini_handler handler = { on_section, on_setting, NULL };

static int
read_str(const char *text)
{
	char *copy = strdup(text);
	int rc;

	assert_non_null(copy);
	got[0] = '\0';
	err[0] = '\0';
	rc = ini_read_string(&handler, copy, "t.conf", err, sizeof(err));
	free(copy);
	return rc;
}

static void
bad(const char *text, const char *needle)
{
	assert_int_equal(read_str(text), -1);
	if (strstr(err, needle) == NULL)
		fail_msg("'%s' lacks '%s'", err, needle);
}

/* comments, inline comments, continuation, CRLF, BOM, key: value */
static void
test_syntax(void **state)
{
	(void)state;
	assert_int_equal(read_str("\xEF\xBB\xBF; c\n# c\n[a]\r\nk = v ; c\r\n"
	    "x: y;z\n  more\n\n  again\n[b] # c\nk=\n"), 0);
	assert_string_equal(got, "t.conf:3 [a]\n"
	    "t.conf:4 a.k=v\n"
	    "t.conf:5 a.x=y;z\n"
	    "t.conf:6 a.x=more\n"
	    "t.conf:8 a.x=again\n"
	    "t.conf:9 [b]\n"
	    "t.conf:10 b.k=\n");
	/* a blank-led line after a header is no continuation */
	assert_int_equal(read_str("[a]\n  k = 1\n"), 0);
	assert_string_equal(got, "t.conf:1 [a]\nt.conf:2 a.k=1\n");
	assert_int_equal(read_str(""), 0);
	assert_string_equal(got, "");
}

static void
test_errors(void **state)
{
	char name[INI_KEY_MAX + 16];

	(void)state;
	bad("k = v\n", "t.conf:1: k: setting outside of a section");
	bad("\n[a\n", "t.conf:2: syntax error (expected [section]): '[a'");
	bad("[a] x\n", "t.conf:1: syntax error");
	bad("[a]\n= 3\n", "t.conf:2: syntax error (expected [section] or key");
	bad("[a]\njunk\n", "t.conf:2: syntax error");
	bad("[a]\nk = 1\x01\n", "t.conf:2: NUL or control byte");
	bad("[a]\nk = 1\rx\n", "t.conf:2: NUL or control byte");
	bad("[a]\ninclude =\n", "t.conf:2: include: empty pattern");
	bad("[a]\n[refuse]\n", "handler refused [refuse] at 2");
	memset(name, 'k', sizeof(name) - 1);
	name[INI_KEY_MAX + 1] = '\0';
	{
		char text[256];

		snprintf(text, sizeof(text), "[a]\n%s = 1\n", name);
		bad(text, "t.conf:2: setting name too long");
		snprintf(text, sizeof(text), "[type:%s%s]\n", name, name);
		bad(text, "t.conf:1: [type:");
		assert_non_null(strstr(err, "section name too long"));
	}
	/* a NUL inside the text */
	{
		char text[] = "[a]\nk = 1\0x\n";
		char e2[128];

		assert_int_equal(ini_read_string(&handler, text, "n.conf", e2,
		    sizeof(e2)), 0);   /* a string ends at its NUL */
	}
	/* a line of 1 MB */
	{
		size_t len = 1024 * 1024;
		char *big = malloc(len + 32);

		assert_non_null(big);
		memcpy(big, "[a]\nk = ", 8);
		memset(big + 8, 'a', len);
		strcpy(big + 8 + len, "\n");
		bad(big, "t.conf:2: line longer than 65536");
		free(big);
	}
}

static char tmpdir[64];

/* in_tmp: NAME inside tmpdir */
static const char *
in_tmp(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static void
put(const char *name, const char *text)
{
	FILE *f = fopen(in_tmp(name), "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int
read_main(void)
{
	got[0] = '\0';
	err[0] = '\0';
	return ini_read_file(&handler, in_tmp("main.conf"), err, sizeof(err));
}

/* include = GLOB: sorted, relative, in place, in the section, depth, cycles */
static void
test_include(void **state)
{
	char cmd[128], want[1024];

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_ini_XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(cmd, sizeof(cmd), "mkdir %s/d", tmpdir);
	assert_int_equal(system(cmd), 0);
	put("main.conf", "[a]\nk = 1\ninclude = d/*.conf\nk = 4\n");
	put("d/2.conf", "k = 3\n");
	put("d/1.conf", "k = 2\n[b]\n");
	assert_int_equal(read_main(), 0);
	snprintf(want, sizeof(want), "%s/main.conf:1 [a]\n"
	    "%s/main.conf:2 a.k=1\n"
	    "%s/d/1.conf:1 a.k=2\n"
	    "%s/d/1.conf:2 [b]\n"
	    "%s/d/2.conf:1 a.k=3\n"
	    "%s/main.conf:4 a.k=4\n", tmpdir, tmpdir, tmpdir, tmpdir, tmpdir,
	    tmpdir);
	assert_string_equal(got, want);

	/* no match: fine for a wildcard, an error for a plain name */
	put("main.conf", "include = none/*.conf\n");
	assert_int_equal(read_main(), 0);
	put("main.conf", "[a]\ninclude = missing.conf\n");
	assert_int_equal(read_main(), -1);
	assert_non_null(strstr(err, "main.conf:2: include "));
	assert_non_null(strstr(err, "missing.conf: no such file"));
	/* an error inside names the included file and its line */
	put("main.conf", "[a]\ninclude = d/bad.inc\n");
	put("d/bad.inc", "\njunk\n");
	assert_int_equal(read_main(), -1);
	assert_non_null(strstr(err, "d/bad.inc:2: syntax error"));
	/* a cycle */
	put("main.conf", "[a]\ninclude = d/loop.inc\n");
	put("d/loop.inc", "include = ../main.conf\n");
	assert_int_equal(read_main(), -1);
	assert_non_null(strstr(err, "loop.inc:1: include "));
	assert_non_null(strstr(err, "a cycle"));
	/* depth: a chain of distinct files */
	for (int i = 0; i < 10; i++) {
		char name[32], text[64];

		snprintf(name, sizeof(name), "c%d.inc", i);
		snprintf(text, sizeof(text), "include = c%d.inc\n", i + 1);
		put(name, text);
	}
	put("c10.inc", "");
	put("main.conf", "include = c0.inc\n");
	assert_int_equal(read_main(), -1);
	assert_non_null(strstr(err, "nested more than 8 deep"));
	assert_non_null(strstr(err, "c7.inc:1: include"));
	/* exactly 8 deep (c0.inc .. c7.inc) is allowed */
	put("c7.inc", "");
	assert_int_equal(read_main(), 0);
	/* not a regular file; no file */
	put("main.conf", "include = d\n");
	assert_int_equal(read_main(), -1);
	assert_non_null(strstr(err, "main.conf:1: "));
	assert_non_null(strstr(err, "/d: not a regular file"));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(read_main(), -1);
	assert_non_null(strstr(err, "main.conf: No such file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_include),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
