/*
 * fuzz_frame.c: libFuzzer harness for the frame codec (common/frame.c).
 *
 * Input layout (so that the fuzzer chooses the limit and the split points):
 *
 *   byte 0      max_frame selector: < 0x80 -> 1 + b (1..128),
 *               else 1 + (b & 0x7f) * 128 (1..16257, to grow the buffer)
 *   byte 1      n, the number of chunk-size bytes that follow
 *   n bytes     chunk sizes: low 7 bits = bytes to feed, high bit = drain
 *               the decoder after this feed (else feed again first)
 *   the rest    the byte stream, fed in those chunks (what remains after the
 *               last chunk is fed at once), then drained
 *
 * Every result is checked against a reference decoder run over the same
 * stream: frames byte for byte (and NUL-terminated), lengths within
 * 1..max, frame_reader_buffered() equal to the bytes fed but not returned,
 * header errors sticky (the same code and announced length forever, further
 * input ignored), and frame_encode() reproducing each frame.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_frame: check failed at %s:%d: %s\n", \
		    __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

struct model {
	const uint8_t *stream;   /* the whole stream */
	size_t fed;              /* bytes of it fed so far */
	size_t pos;              /* bytes of it returned as frames */
	size_t max;
	int err;                 /* sticky error seen, 0 if none */
	size_t err_len;          /* announced length on FRAME_ERR_TOO_LARGE */
	size_t buffered_at_err;  /* frame_reader_buffered() when it happened */
};

/* expect: what the reference decoder says the next call must return. */
static int
expect(const struct model *m, size_t *len)
{
	const uint8_t *p;
	size_t n;

	if (m->fed - m->pos < FRAME_HEADER_LEN)
		return FRAME_NEED_MORE;
	p = m->stream + m->pos;
	n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	*len = n;
	if (n == 0)
		return FRAME_ERR_EMPTY;
	if (n > m->max)
		return FRAME_ERR_TOO_LARGE;
	if (m->fed - m->pos - FRAME_HEADER_LEN < n)
		return FRAME_NEED_MORE;
	return FRAME_OK;
}

static void
check_buffered(struct frame_reader *r, const struct model *m)
{
	if (m->err != 0)
		CHECK(frame_reader_buffered(r) == m->buffered_at_err);
	else
		CHECK(frame_reader_buffered(r) == m->fed - m->pos);
}

/* drain: take frames until the decoder needs more or fails. */
static void
drain(struct frame_reader *r, struct model *m)
{
	for (int guard = 0; ; guard++) {
		const char *payload = NULL;
		size_t len = (size_t)-1, want_len = 0;
		int want, rc;

		CHECK(guard <= (int)(m->fed / FRAME_HEADER_LEN) + 2);
		if (m->err != 0) {
			/* sticky: the same answer, however often asked */
			rc = frame_reader_next(r, &payload, &len);
			CHECK(rc == m->err);
			if (rc == FRAME_ERR_TOO_LARGE)
				CHECK(len == m->err_len);
			check_buffered(r, m);
			return;
		}
		want = expect(m, &want_len);
		rc = frame_reader_next(r, &payload, &len);
		CHECK(rc == want);
		switch (rc) {
		case FRAME_OK:
			CHECK(len >= 1 && len <= m->max);
			CHECK(len == want_len);
			CHECK(payload != NULL);
			CHECK(memcmp(payload, m->stream + m->pos + FRAME_HEADER_LEN,
			    len) == 0);
			CHECK(payload[len] == '\0');
			{
				size_t outlen = 0;
				uint8_t *enc = frame_encode(payload, len, &outlen);

				CHECK(enc != NULL);
				CHECK(outlen == len + FRAME_HEADER_LEN);
				CHECK(memcmp(enc, m->stream + m->pos, outlen) == 0);
				free(enc);
			}
			m->pos += FRAME_HEADER_LEN + len;
			check_buffered(r, m);
			break;
		case FRAME_NEED_MORE:
			check_buffered(r, m);
			return;
		case FRAME_ERR_TOO_LARGE:
			CHECK(len == want_len && len > m->max);
			/* FALLTHROUGH */
		case FRAME_ERR_EMPTY:
			m->err = rc;
			m->err_len = want_len;
			m->buffered_at_err = frame_reader_buffered(r);
			CHECK(m->buffered_at_err == m->fed - m->pos);
			break;          /* loop once more: it must stick */
		default:
			CHECK(!"unexpected status");
		}
	}
}

static void
feed(struct frame_reader *r, struct model *m, size_t n)
{
	CHECK(frame_reader_feed(r, m->stream + m->fed, n) == FRAME_OK);
	m->fed += n;
	if (m->err != 0)        /* ignored after a fatal error */
		CHECK(frame_reader_buffered(r) == m->buffered_at_err);
	else
		CHECK(frame_reader_buffered(r) == m->fed - m->pos);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader *r;
	struct model m;
	const uint8_t *splits;
	size_t nsplits, len;

	if (size < 2)
		return 0;
	memset(&m, 0, sizeof(m));
	m.max = data[0] < 0x80 ? 1u + data[0] : 1u + (size_t)(data[0] & 0x7f) * 128;
	nsplits = data[1];
	if (nsplits > size - 2)
		nsplits = size - 2;
	splits = data + 2;
	m.stream = data + 2 + nsplits;
	len = size - 2 - nsplits;

	if ((r = frame_reader_new(m.max)) == NULL)
		return 0;
	CHECK(frame_reader_buffered(r) == 0);
	for (size_t i = 0; i < nsplits && m.fed < len; i++) {
		size_t n = splits[i] & 0x7f;

		if (n > len - m.fed)
			n = len - m.fed;
		feed(r, &m, n);
		if (splits[i] & 0x80)
			drain(r, &m);
	}
	if (m.fed < len)
		feed(r, &m, len - m.fed);
	drain(r, &m);
	/* a feed after the end changes nothing for the frames already taken */
	feed(r, &m, 0);
	drain(r, &m);
	frame_reader_free(r);

	/* the encoder's own bounds */
	{
		size_t outlen = 12345;

		CHECK(frame_encode("x", 0, &outlen) == NULL);
	}
	return 0;
}
