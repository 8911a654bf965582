/* text.c: see text.h. */
#include <stdlib.h>
#include <string.h>

#include "text.h"

size_t
text_utf8_len(const unsigned char *s, size_t n, unsigned *cp)
{
	size_t len, i;
	unsigned c, min;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, c &= 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, c &= 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, c &= 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int
text_is_control(unsigned cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

char *
text_clean(const char *s, size_t n, size_t *len)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out = malloc(n + 1);      /* '?' is never longer */
	size_t i = 0, k = 0, l;
	unsigned cp;

	if (out == NULL)
		return NULL;
	while (i < n) {
		l = text_utf8_len(u + i, n - i, &cp);
		if (l == 0 || text_is_control(cp)) {
			out[k++] = '?';
			i += l ? l : 1;
		} else {
			memcpy(out + k, u + i, l);
			k += l;
			i += l;
		}
	}
	out[k] = '\0';
	*len = k;
	return out;
}
