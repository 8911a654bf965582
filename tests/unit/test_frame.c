/* test_frame.c: the frame codec, byte by byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "frame.h"

/* encode: header + payload into a malloc'd buffer. */
static uint8_t *
encode(const char *s, size_t *outlen)
{
	uint8_t *f = frame_encode(s, strlen(s), outlen);

	assert_non_null(f);
	return f;
}

static void
expect_frame(struct frame_reader *r, const char *want)
{
	const char *p = NULL;
	size_t len = 0;

	assert_int_equal(frame_reader_next(r, &p, &len), FRAME_OK);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(p, want, len);
	assert_int_equal(p[len], '\0');
}

static void
expect_need_more(struct frame_reader *r)
{
	const char *p;
	size_t len;

	assert_int_equal(frame_reader_next(r, &p, &len), FRAME_NEED_MORE);
}

static void
test_header(void **state)
{
	uint8_t h[FRAME_HEADER_LEN];

	(void)state;
	frame_header(h, 0x01020304u);
	assert_int_equal(h[0], 1);
	assert_int_equal(h[1], 2);
	assert_int_equal(h[2], 3);
	assert_int_equal(h[3], 4);
	frame_header(h, 5);
	assert_int_equal(h[0], 0);
	assert_int_equal(h[3], 5);
}

static void
test_encode(void **state)
{
	size_t n = 0;
	uint8_t *f;

	(void)state;
	f = encode("{\"op\":\"ping\"}", &n);
	assert_int_equal(n, 4 + 13);
	assert_int_equal(f[0], 0);
	assert_int_equal(f[1], 0);
	assert_int_equal(f[2], 0);
	assert_int_equal(f[3], 13);
	assert_memory_equal(f + 4, "{\"op\":\"ping\"}", 13);
	free(f);
	/* zero-length payloads cannot be framed */
	assert_null(frame_encode("", 0, &n));
}

static void
test_round_trip(void **state)
{
	struct frame_reader *r = frame_reader_new(1024);
	size_t n;
	uint8_t *f;

	(void)state;
	assert_non_null(r);
	expect_need_more(r);
	f = encode("{\"ok\":true}", &n);
	assert_int_equal(frame_reader_feed(r, f, n), FRAME_OK);
	assert_int_equal(frame_reader_buffered(r), n);
	expect_frame(r, "{\"ok\":true}");
	assert_int_equal(frame_reader_buffered(r), 0);
	expect_need_more(r);
	free(f);
	frame_reader_free(r);
}

static void
test_one_byte_at_a_time(void **state)
{
	struct frame_reader *r = frame_reader_new(1024);
	const char *msg = "{\"op\":\"submit\",\"type\":\"x\"}";
	size_t n, i;
	uint8_t *f;

	(void)state;
	f = encode(msg, &n);
	for (i = 0; i < n - 1; i++) {
		assert_int_equal(frame_reader_feed(r, f + i, 1), FRAME_OK);
		assert_int_equal(frame_reader_buffered(r), i + 1);
		expect_need_more(r);
	}
	assert_int_equal(frame_reader_feed(r, f + n - 1, 1), FRAME_OK);
	expect_frame(r, msg);
	expect_need_more(r);
	free(f);
	frame_reader_free(r);
}

static void
test_coalesced(void **state)
{
	struct frame_reader *r = frame_reader_new(1024);
	size_t n1, n2;
	uint8_t *f1, *f2, both[64];

	(void)state;
	f1 = encode("{\"a\":1}", &n1);
	f2 = encode("{\"b\":22}", &n2);
	memcpy(both, f1, n1);
	memcpy(both + n1, f2, n2);
	assert_int_equal(frame_reader_feed(r, both, n1 + n2), FRAME_OK);
	assert_int_equal(frame_reader_buffered(r), n1 + n2);
	/* the first payload is NUL-terminated although the next frame follows */
	expect_frame(r, "{\"a\":1}");
	assert_int_equal(frame_reader_buffered(r), n2);
	expect_frame(r, "{\"b\":22}");
	expect_need_more(r);
	assert_int_equal(frame_reader_buffered(r), 0);
	free(f1);
	free(f2);
	frame_reader_free(r);
}

static void
test_split_every_offset(void **state)
{
	const char *m1 = "{\"id\":1,\"op\":\"ping\"}";
	const char *m2 = "{\"id\":2,\"op\":\"stats\",\"x\":[1,2,3]}";
	size_t n1, n2, total, cut;
	uint8_t *f1, *f2, *all;

	(void)state;
	f1 = encode(m1, &n1);
	f2 = encode(m2, &n2);
	total = n1 + n2;
	all = malloc(total);
	assert_non_null(all);
	memcpy(all, f1, n1);
	memcpy(all + n1, f2, n2);
	for (cut = 0; cut <= total; cut++) {
		struct frame_reader *r = frame_reader_new(256);
		const char *p;
		size_t len;
		int got = 0;

		assert_int_equal(frame_reader_feed(r, all, cut), FRAME_OK);
		while (frame_reader_next(r, &p, &len) == FRAME_OK) {
			assert_string_equal(p, got == 0 ? m1 : m2);
			got++;
		}
		assert_int_equal(got, (cut >= n1) + (cut >= total));
		assert_int_equal(frame_reader_feed(r, all + cut, total - cut),
		    FRAME_OK);
		while (frame_reader_next(r, &p, &len) == FRAME_OK) {
			assert_string_equal(p, got == 0 ? m1 : m2);
			got++;
		}
		assert_int_equal(got, 2);
		assert_int_equal(frame_reader_buffered(r), 0);
		frame_reader_free(r);
	}
	free(all);
	free(f1);
	free(f2);
}

static void
test_empty_frame(void **state)
{
	struct frame_reader *r = frame_reader_new(1024);
	const uint8_t zero[4] = { 0, 0, 0, 0 };
	const char *p;
	size_t len;

	(void)state;
	assert_int_equal(frame_reader_feed(r, zero, 3), FRAME_OK);
	expect_need_more(r);
	assert_int_equal(frame_reader_feed(r, zero + 3, 1), FRAME_OK);
	assert_int_equal(frame_reader_next(r, &p, &len), FRAME_ERR_EMPTY);
	/* sticky: later input is ignored and the error repeats */
	assert_int_equal(frame_reader_feed(r, "\0\0\0\1x", 5), FRAME_OK);
	assert_int_equal(frame_reader_next(r, &p, &len), FRAME_ERR_EMPTY);
	assert_int_equal(frame_reader_buffered(r), 4);
	frame_reader_free(r);
}

static void
test_too_large(void **state)
{
	struct frame_reader *r = frame_reader_new(100);
	uint8_t h[FRAME_HEADER_LEN];
	const char *p;
	size_t len = 0;

	(void)state;
	frame_header(h, 101);
	assert_int_equal(frame_reader_feed(r, h, sizeof(h)), FRAME_OK);
	/* refused as soon as the header is in, before any payload */
	assert_int_equal(frame_reader_next(r, &p, &len), FRAME_ERR_TOO_LARGE);
	assert_int_equal(len, 101);
	len = 0;
	assert_int_equal(frame_reader_feed(r, "xxxx", 4), FRAME_OK);
	assert_int_equal(frame_reader_next(r, &p, &len), FRAME_ERR_TOO_LARGE);
	assert_int_equal(len, 101);
	frame_reader_free(r);

	/* the largest length a header can announce */
	r = frame_reader_new(8u << 20);
	frame_header(h, UINT32_MAX);
	assert_int_equal(frame_reader_feed(r, h, sizeof(h)), FRAME_OK);
	assert_int_equal(frame_reader_next(r, &p, &len), FRAME_ERR_TOO_LARGE);
	assert_int_equal(len, UINT32_MAX);
	frame_reader_free(r);
}

static void
test_exactly_max(void **state)
{
	struct frame_reader *r = frame_reader_new(100);
	char msg[101];
	size_t n;
	uint8_t *f;

	(void)state;
	memset(msg, 'a', 100);
	msg[100] = '\0';
	f = encode(msg, &n);
	assert_int_equal(frame_reader_feed(r, f, n), FRAME_OK);
	expect_frame(r, msg);
	free(f);
	frame_reader_free(r);
}

static void
test_large_frames(void **state)
{
	const size_t big = 1u << 20;
	struct frame_reader *r = frame_reader_new(big);
	char *msg = malloc(big + 1);
	const char *p;
	size_t n, len, off, step;
	uint8_t *f;
	int i;

	(void)state;
	for (size_t k = 0; k < big; k++)
		msg[k] = (char)('a' + k % 26);
	msg[big] = '\0';
	f = frame_encode(msg, big, &n);
	assert_non_null(f);
	/* three 1 MiB frames, fed in odd-sized pieces spanning frames */
	for (i = 0; i < 3; i++) {
		for (off = 0; off < n; off += step) {
			step = n - off < 65521 ? n - off : 65521;
			assert_int_equal(frame_reader_feed(r, f + off, step),
			    FRAME_OK);
		}
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(frame_reader_next(r, &p, &len), FRAME_OK);
		assert_int_equal(len, big);
		assert_memory_equal(p, msg, big);
		assert_int_equal(p[len], '\0');
	}
	expect_need_more(r);
	/* one byte over refuses */
	frame_reader_free(r);
	r = frame_reader_new(big - 1);
	assert_int_equal(frame_reader_feed(r, f, n), FRAME_OK);
	assert_int_equal(frame_reader_next(r, &p, &len), FRAME_ERR_TOO_LARGE);
	assert_int_equal(len, big);
	frame_reader_free(r);
	free(f);
	free(msg);
}

/* Interleaving feeds and nexts: the byte replaced by a NUL comes back. */
static void
test_interleaved(void **state)
{
	struct frame_reader *r = frame_reader_new(1024);
	size_t n1, n2;
	uint8_t *f1, *f2;
	uint8_t buf[128];
	int round;

	(void)state;
	f1 = encode("{\"x\":\"first\"}", &n1);
	f2 = encode("{\"y\":\"second\"}", &n2);
	memcpy(buf, f1, n1);
	memcpy(buf + n1, f2, 3);
	for (round = 0; round < 500; round++) {
		assert_int_equal(frame_reader_feed(r, buf, n1 + 3), FRAME_OK);
		expect_frame(r, "{\"x\":\"first\"}");
		expect_need_more(r);
		/* the saved header byte must be intact when fed on */
		assert_int_equal(frame_reader_feed(r, f2 + 3, n2 - 3),
		    FRAME_OK);
		expect_frame(r, "{\"y\":\"second\"}");
		assert_int_equal(frame_reader_buffered(r), 0);
	}
	free(f1);
	free(f2);
	frame_reader_free(r);
}

/* A large frame gets a buffer of its own size, announced as soon as its
 * header is in; the buffer shrinks back once the frame is consumed. */
static void
test_announced_exact_shrink(void **state)
{
	struct frame_reader *r = frame_reader_new(1 << 24);
	size_t n = 3 * 1000 * 1000, flen;
	char *big = malloc(n + 1);
	uint8_t *f;
	const char *p;
	size_t len;

	(void)state;
	memset(big, 'a', n);
	big[0] = '"';
	big[n - 1] = '"';
	big[n] = '\0';
	f = frame_encode(big, n, &flen);
	assert_non_null(f);
	assert_int_equal(frame_reader_announced(r), 0);
	assert_int_equal(frame_reader_feed(r, f, 3), FRAME_OK);
	assert_int_equal(frame_reader_announced(r), 0);
	assert_int_equal(frame_reader_feed(r, f + 3, 65536), FRAME_OK);
	assert_int_equal(frame_reader_announced(r), n);
	/* the rest arrives in pieces: no doubling past the frame's size */
	for (size_t off = 3 + 65536; off < flen; off += 65536)
		assert_int_equal(frame_reader_feed(r, f + off,
		    flen - off < 65536 ? flen - off : 65536), FRAME_OK);
	assert_true(frame_reader_capacity(r) <= flen + 1);
	/* a partial frame is never shrunk away */
	assert_int_equal(frame_reader_shrink(r, 65536), 0);
	assert_int_equal(frame_reader_next(r, &p, &len), FRAME_OK);
	assert_int_equal(len, n);
	assert_int_equal(frame_reader_announced(r), 0);
	assert_int_equal(frame_reader_shrink(r, 65536), 1);
	assert_true(frame_reader_capacity(r) <= 65536);
	assert_int_equal(frame_reader_shrink(r, 65536), 0);
	/* and still decodes */
	free(f);
	f = encode("{\"op\":\"ping\"}", &flen);
	assert_int_equal(frame_reader_feed(r, f, flen), FRAME_OK);
	expect_frame(r, "{\"op\":\"ping\"}");
	free(f);
	free(big);
	frame_reader_free(r);
}

/* The header after a returned frame is announced even though the first
 * payload's NUL stands on its first byte. */
static void
test_announced_after_frame(void **state)
{
	struct frame_reader *r = frame_reader_new(1 << 24);
	uint8_t buf[64];
	size_t n1;
	uint8_t *f1 = encode("{}", &n1);

	(void)state;
	memcpy(buf, f1, n1);
	frame_header(buf + n1, 0x01000000u);
	assert_int_equal(frame_reader_feed(r, buf, n1 + 4), FRAME_OK);
	expect_frame(r, "{}");
	assert_int_equal(frame_reader_announced(r), 0x01000000u);
	/* shrinking keeps the header intact */
	expect_need_more(r);
	assert_int_equal(frame_reader_announced(r), 0x01000000u);
	free(f1);
	frame_reader_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_one_byte_at_a_time),
		cmocka_unit_test(test_coalesced),
		cmocka_unit_test(test_split_every_offset),
		cmocka_unit_test(test_empty_frame),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_exactly_max),
		cmocka_unit_test(test_large_frames),
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_announced_exact_shrink),
		cmocka_unit_test(test_announced_after_frame),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
