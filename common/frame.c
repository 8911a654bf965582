/*
 * frame.c: the length-prefixed frame codec (see frame.h).
 *
 * One growable buffer holds the bytes fed but not yet consumed, between
 * a read offset and an end offset.  Frames are returned in place; to
 * NUL-terminate a payload that is followed by more input, the byte after
 * it is saved and put back on the next call, so no frame is ever copied.
 */
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define FRAME_INITIAL_CAP 4096

struct frame_reader {
	uint8_t *buf;
	size_t cap;          /* allocated bytes; always > end (room for NUL) */
	size_t start;        /* first unconsumed byte */
	size_t end;          /* one past the last fed byte */
	size_t max;          /* largest payload accepted */
	int err;             /* sticky header error, 0 if none */
	size_t bad_len;      /* the announced length on FRAME_ERR_TOO_LARGE */
	size_t saved_pos;    /* where a NUL overwrote input, if saved_valid */
	uint8_t saved_byte;
	int saved_valid;
};

struct frame_reader *
frame_reader_new(size_t max_frame)
{
	struct frame_reader *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->buf = malloc(FRAME_INITIAL_CAP)) == NULL) {
		free(r);
		return NULL;
	}
	r->cap = FRAME_INITIAL_CAP;
	r->max = max_frame > UINT32_MAX ? UINT32_MAX : max_frame;
	return r;
}

void
frame_reader_free(struct frame_reader *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r);
}

/* restore: put back the input byte that the last frame's NUL replaced. */
static void
restore(struct frame_reader *r)
{
	if (r->saved_valid) {
		r->buf[r->saved_pos] = r->saved_byte;
		r->saved_valid = 0;
	}
}

/* head_frame: the bytes (header, payload and a NUL) that the first
 * unconsumed frame needs once whole, if its header is in and its length
 * is acceptable; else 0. */
static size_t
head_frame(const struct frame_reader *r)
{
	const uint8_t *p = r->buf + r->start;
	size_t n;

	if (r->err != 0 || r->end - r->start < FRAME_HEADER_LEN)
		return 0;
	n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	return n == 0 || n > r->max ? 0 : FRAME_HEADER_LEN + n + 1;
}

/* reserve: make room for len more bytes after end, plus a NUL.  Moves the
 * unconsumed bytes to the front first when that is enough or cheap. */
static int
reserve(struct frame_reader *r, size_t len)
{
	size_t used = r->end - r->start;
	size_t need, ncap, frame;
	uint8_t *nbuf;

	if (len > SIZE_MAX - 1 - used)
		return FRAME_ERR_NOMEM;
	need = used + len + 1;
	if (r->end + len + 1 <= r->cap && r->start < r->cap / 2)
		return FRAME_OK;
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, used);
		r->start = 0;
		r->end = used;
	}
	if (need <= r->cap)
		return FRAME_OK;
	ncap = r->cap;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	/* A large frame whose header is in gets exactly its size, not up to
	 * twice that: what a connection holds is then what it announced. */
	if ((frame = head_frame(r)) >= need && frame < ncap)
		ncap = frame;
	if ((nbuf = realloc(r->buf, ncap)) == NULL)
		return FRAME_ERR_NOMEM;
	r->buf = nbuf;
	r->cap = ncap;
	return FRAME_OK;
}

int
frame_reader_feed(struct frame_reader *r, const void *buf, size_t len)
{
	int rc;

	restore(r);
	if (r->err != 0 || len == 0)
		return FRAME_OK;
	if (r->start == r->end)
		r->start = r->end = 0;
	if ((rc = reserve(r, len)) != FRAME_OK)
		return rc;
	memcpy(r->buf + r->end, buf, len);
	r->end += len;
	return FRAME_OK;
}

int
frame_reader_next(struct frame_reader *r, const char **payload, size_t *len)
{
	const uint8_t *p;
	size_t n;

	restore(r);
	if (r->err != 0) {
		if (r->err == FRAME_ERR_TOO_LARGE)
			*len = r->bad_len;
		return r->err;
	}
	if (r->end - r->start < FRAME_HEADER_LEN)
		return FRAME_NEED_MORE;
	p = r->buf + r->start;
	n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	if (n == 0)
		return r->err = FRAME_ERR_EMPTY;
	if (n > r->max) {
		r->bad_len = n;
		*len = n;
		return r->err = FRAME_ERR_TOO_LARGE;
	}
	if (r->end - r->start - FRAME_HEADER_LEN < n)
		return FRAME_NEED_MORE;

	r->start += FRAME_HEADER_LEN;
	*payload = (const char *)r->buf + r->start;
	*len = n;
	r->start += n;
	/* cap > end always, so buf[start] exists even at the very end. */
	if (r->start < r->end) {
		r->saved_pos = r->start;
		r->saved_byte = r->buf[r->start];
		r->saved_valid = 1;
	}
	r->buf[r->start] = '\0';
	return FRAME_OK;
}

size_t
frame_reader_buffered(const struct frame_reader *r)
{
	return r->end - r->start;
}

size_t
frame_reader_capacity(const struct frame_reader *r)
{
	return r->cap;
}

size_t
frame_reader_announced(const struct frame_reader *r)
{
	const uint8_t *p = r->buf + r->start;
	/* the last payload's NUL may stand on this header's first byte */
	uint8_t b0 = r->saved_valid && r->saved_pos == r->start ?
	    r->saved_byte : p[0];

	if (r->err != 0 || r->end - r->start < FRAME_HEADER_LEN)
		return 0;
	return (size_t)b0 << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

int
frame_reader_shrink(struct frame_reader *r, size_t keep)
{
	size_t used = r->end - r->start, ncap;
	uint8_t *nbuf;

	if (keep < FRAME_INITIAL_CAP)
		keep = FRAME_INITIAL_CAP;
	if (r->cap <= keep || used + 1 > keep)
		return 0;
	restore(r);
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, used);
		r->start = 0;
		r->end = used;
	}
	ncap = used + 1 > FRAME_INITIAL_CAP ? used + 1 : FRAME_INITIAL_CAP;
	if ((nbuf = realloc(r->buf, ncap)) == NULL)
		return 0;       /* the old buffer is still good */
	r->buf = nbuf;
	r->cap = ncap;
	return 1;
}

void
frame_header(uint8_t out[FRAME_HEADER_LEN], uint32_t len)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
}

uint8_t *
frame_encode(const void *payload, size_t len, size_t *outlen)
{
	uint8_t *out;

	if (len == 0 || len > UINT32_MAX)
		return NULL;
	if ((out = malloc(FRAME_HEADER_LEN + len)) == NULL)
		return NULL;
	frame_header(out, (uint32_t)len);
	memcpy(out + FRAME_HEADER_LEN, payload, len);
	*outlen = FRAME_HEADER_LEN + len;
	return out;
}
