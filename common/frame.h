/*
 * frame.h: the length-prefixed frame codec of the jobd protocol.
 *
 * A frame is a 4-byte big-endian length N (1 <= N <= max) and N bytes of
 * payload.  The decoder does no I/O, in the manner of hiredis' reader: feed
 * it whatever bytes arrived (split or coalesced), then take complete frames
 * out one at a time.  Shared by the daemon and libjobclient.
 */
#ifndef JOBD_FRAME_H
#define JOBD_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_LEN 4

enum frame_status {
	FRAME_OK = 0,        /* a frame was returned */
	FRAME_NEED_MORE = 1, /* no complete frame buffered yet */
	FRAME_ERR_EMPTY = -1,   /* a header announced length 0 */
	FRAME_ERR_TOO_LARGE = -2, /* a header announced more than max */
	FRAME_ERR_NOMEM = -3,
};

struct frame_reader;

/* frame_reader_new: a decoder accepting frames of at most max_frame bytes. */
struct frame_reader *frame_reader_new(size_t max_frame);
void frame_reader_free(struct frame_reader *r);

/* frame_reader_feed: append len bytes of input.  Returns FRAME_OK or
 * FRAME_ERR_NOMEM.  Input past a fatal error is ignored. */
int frame_reader_feed(struct frame_reader *r, const void *buf, size_t len);

/*
 * frame_reader_next: take the next complete frame.  On FRAME_OK *payload
 * points into the reader's buffer (valid until the next feed/next call) and
 * *len is its length; the payload is NUL-terminated for convenience.  A
 * header error is sticky: the stream cannot be resynchronised.  On
 * FRAME_ERR_TOO_LARGE, *len holds the announced length.
 */
int frame_reader_next(struct frame_reader *r, const char **payload, size_t *len);

/* frame_reader_buffered: bytes fed but not yet returned as frames. */
size_t frame_reader_buffered(const struct frame_reader *r);

/* frame_reader_capacity: bytes the reader has allocated. */
size_t frame_reader_capacity(const struct frame_reader *r);

/* frame_reader_announced: the length the first unconsumed frame's header
 * announces, or 0 while its 4 header bytes are not all in (or after a
 * header error). */
size_t frame_reader_announced(const struct frame_reader *r);

/* frame_reader_shrink: if more than keep bytes are allocated while what is
 * buffered fits in keep, give the rest back (down to a small initial
 * size).  Invalidates the last payload returned.  1 if it shrank. */
int frame_reader_shrink(struct frame_reader *r, size_t keep);

/* frame_header: write the 4-byte header for a payload of len bytes. */
void frame_header(uint8_t out[FRAME_HEADER_LEN], uint32_t len);

/* frame_encode: a malloc'd buffer holding header and payload (*outlen bytes),
 * or NULL on allocation failure or len 0 / over UINT32_MAX. */
uint8_t *frame_encode(const void *payload, size_t len, size_t *outlen);

#endif
