/*
 * text.h: what of a piece of text may reach a terminal or a log line.
 *
 * One policy for jobd, jobctl and the logs: well-formed UTF-8 is kept,
 * other scripts included; C0 and C1 controls, DEL and the bidirectional
 * overrides are not, since a terminal acts on them (clear the screen,
 * move the cursor, forge a line) or shows text in another order.
 */
#ifndef JOBD_TEXT_H
#define JOBD_TEXT_H

#include <stddef.h>

/* text_utf8_len: the length (1-4) of the well-formed UTF-8 sequence at s,
 * n bytes available, with its code point in *cp; 0 for a stray byte, an
 * overlong form, a surrogate or a truncated sequence. */
size_t text_utf8_len(const unsigned char *s, size_t n, unsigned *cp);

/* text_is_control: whether code point cp is one the policy above keeps
 * away from terminals and logs. */
int text_is_control(unsigned cp);

/* text_clean: a copy of the n bytes at s (malloc'd, NUL-terminated, its
 * length in *len) with each stray byte and each control above made '?':
 * well-formed UTF-8 a JSON string, a terminal and a log line can take.
 * NULL when out of memory. */
char *text_clean(const char *s, size_t n, size_t *len);

#endif
