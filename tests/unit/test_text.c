/* test_text.c: the text policy shared by jobd, jobctl and the logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static size_t
len_of(const char *s, unsigned *cp)
{
	return text_utf8_len((const unsigned char *)s, strlen(s), cp);
}

static void
test_utf8_len(void **state)
{
	unsigned cp = 0;

	(void)state;
	assert_int_equal(len_of("a", &cp), 1);
	assert_int_equal(cp, 'a');
	assert_int_equal(len_of("\xc3\xa9", &cp), 2);          /* é */
	assert_int_equal(cp, 0xe9);
	assert_int_equal(len_of("\xe2\x80\xae", &cp), 3);      /* U+202E */
	assert_int_equal(cp, 0x202e);
	assert_int_equal(len_of("\xf0\x9f\x98\x80", &cp), 4);  /* U+1F600 */
	assert_int_equal(cp, 0x1f600);
	/* Stray continuation, overlong, surrogate, past U+10FFFF, cut. */
	assert_int_equal(len_of("\x80", &cp), 0);
	assert_int_equal(len_of("\xc0\xaf", &cp), 0);
	assert_int_equal(len_of("\xe0\x80\xaf", &cp), 0);
	assert_int_equal(len_of("\xed\xa0\x80", &cp), 0);
	assert_int_equal(len_of("\xf4\x90\x80\x80", &cp), 0);
	assert_int_equal(text_utf8_len((const unsigned char *)"\xe2\x80",
	    2, &cp), 0);
	assert_int_equal(text_utf8_len((const unsigned char *)"\xc3\xa9",
	    1, &cp), 0);
	assert_int_equal(text_utf8_len((const unsigned char *)"a", 0, &cp), 0);
}

static void
test_controls(void **state)
{
	static const unsigned yes[] = { 0, '\n', 0x1b, 0x1f, 0x7f, 0x80,
	    0x9b, 0x9f, 0x202a, 0x202e, 0x2066, 0x2069 };
	static const unsigned no[] = { ' ', 'z', 0xa0, 0xe9, 0x2029, 0x202f,
	    0x2065, 0x206a, 0x1f600 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(text_is_control(yes[i]));
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(text_is_control(no[i]));
}

/* text_clean: stray bytes and controls become '?', one per sequence. */
static void
test_clean(void **state)
{
	static const char in[] = "/tmp/\xc3\xa9\x1b[2J\xff\xe2\x80\xaex\0y";
	char *out;
	size_t len = 99;

	(void)state;
	out = text_clean(in, sizeof(in) - 1, &len);
	assert_non_null(out);
	assert_int_equal(len, strlen("/tmp/\xc3\xa9?[2J??x?y"));
	assert_memory_equal(out, "/tmp/\xc3\xa9?[2J??x?y", len + 1);
	free(out);
	out = text_clean("", 0, &len);
	assert_non_null(out);
	assert_int_equal(len, 0);
	assert_string_equal(out, "");
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_len),
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
