/*
 * config_value.c: the parsers of setting values, pure functions of their
 * text.  Each returns 0 and stores the value, or -1 with the reason in
 * why (the value then unchanged).  Every setting of daemon/config.c goes
 * through them, so one form (sizes with K/M/G, durations with s/m/h/d,
 * comma lists) holds for all.
 */
#include "config_value.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"  /* CONFIG_NAME_MAX */

static int
name_char(int c, const char *extra)
{
	return isascii(c) && (isalnum(c) || strchr(extra, c) != NULL);
}

/* cv_valid_name: 1..CONFIG_NAME_MAX characters, each alnum or in extra. */
int
cv_valid_name(const char *s, const char *extra)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n >= CONFIG_NAME_MAX || !name_char((unsigned char)s[n], extra))
			return 0;
	return n > 0;
}

/* cv_why: the reason a value was refused; returns -1 for "return cv_why".
 * The static analyzer does not follow variadic functions, so it cannot see
 * that -1: the values its callers guard with it start initialised. */
int
cv_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

int
cv_parse_ll(const char *v, long long min, long long max, long long *out,
            char *why, size_t whylen)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (v[0] == '\0' || isspace((unsigned char)v[0]) || *end != '\0')
		return cv_why(why, whylen, "not a number");
	if (errno == ERANGE || n < min || n > max)
		return cv_why(why, whylen, "out of range (%lld..%lld)", min, max);
	*out = n;
	return 0;
}

/* cv_parse_num: a finite decimal number in [min, max]; min_open excludes min. */
int
cv_parse_num(const char *v, double min, int min_open, double max,
             double *out, char *why, size_t whylen)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (v[0] == '\0' || isspace((unsigned char)v[0]) || *end != '\0' ||
	    !isfinite(d) || errno == ERANGE ||
	    /* strtod also takes hex floats, "inf" and "nan": decimal only */
	    strpbrk(v, "xXiInN") != NULL)
		return cv_why(why, whylen, "not a number");
	if (d < min || (min_open && d <= min) || d > max)
		return cv_why(why, whylen, "out of range (%s%g..%g)",
		    min_open ? "more than " : "", min, max);
	*out = d;
	return 0;
}

/* cv_parse_duration: seconds, a decimal number with an optional unit s, m, h
 * or d; every duration setting takes this form. */
int
cv_parse_duration(const char *v, double min, int min_open, double max,
                  double *out, char *why, size_t whylen)
{
	static const struct { char unit; double mult; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	char num[64];
	size_t n = strlen(v);
	double mult = 1, d = 0;

	for (size_t i = 0; n > 1 && i < 4; i++) {
		if (v[n - 1] == units[i].unit) {
			mult = units[i].mult;
			n--;
			break;
		}
	}
	if (n >= sizeof(num))
		return cv_why(why, whylen, "not a number");
	memcpy(num, v, n);
	num[n] = '\0';
	if (cv_parse_num(num, -1e300, 0, 1e300, &d, why, whylen) == -1)
		return -1;
	d *= mult;
	if (d < min || (min_open && d <= min) || d > max)
		return cv_why(why, whylen, "out of range (%s%g..%g seconds; "
		    "s, m, h, d allowed)", min_open ? "more than " : "", min, max);
	*out = d;
	return 0;
}

/* cv_parse_size: a byte count, optionally with a K, M or G suffix (powers of
 * 1024), in [min, max]; every size setting takes this form. */
int
cv_parse_size(const char *v, long long min, long long max,
              long long *out, char *why, size_t whylen)
{
	char num[32];
	size_t n = strlen(v);
	long long mult = 1, x = 0;

	if (n > 0 && strchr("kKmMgG", v[n - 1]) != NULL) {
		mult = strchr("kK", v[n - 1]) ? 1024 :
		    strchr("mM", v[n - 1]) ? 1024LL * 1024 :
		    1024LL * 1024 * 1024;
		n--;
	}
	if (n == 0 || n >= sizeof(num))
		return cv_why(why, whylen,
		    "not a size (bytes, or a number with K, M or G)");
	memcpy(num, v, n);
	num[n] = '\0';
	if (cv_parse_ll(num, 0, max, &x, why, whylen) == -1 ||
	    x > max / mult || x * mult < min)
		return cv_why(why, whylen, "%s (%lld..%lld bytes; K, M, G "
		    "allowed)", strcmp(why, "not a number") == 0 ?
		    "not a size" : "out of range", min, max);
	*out = x * mult;
	return 0;
}

int
cv_parse_bool(const char *v, int *out, char *why, size_t whylen)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return cv_why(why, whylen,
	    "not a boolean (yes/no, true/false, on/off, 1/0)");
}

/* cv_parse_list: the one parser of comma lists: items separated by commas,
 * blanks around them dropped, none empty; "" is no item when allow_empty. */
int
cv_parse_list(const char *v, int allow_empty, cv_item_fn *fn, void *arg,
              char *why, size_t whylen)
{
	const char *p = v;

	if (v[strspn(v, " \t")] == '\0') {
		if (allow_empty)
			return 0;
		return cv_why(why, whylen, "empty list");
	}
	for (;;) {
		char item[CONFIG_NAME_MAX * 2];
		const char *s = p + strspn(p, " \t"), *e = s + strcspn(s, ",");
		size_t len;

		p = e;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		len = (size_t)(e - s);
		if (len == 0)
			return cv_why(why, whylen, "empty entry");
		if (len >= sizeof(item))
			return cv_why(why, whylen, "entry longer than %zu "
			    "characters", sizeof(item) - 1);
		memcpy(item, s, len);
		item[len] = '\0';
		if (fn(arg, item, why, whylen) == -1)
			return -1;
		if (*p == '\0')
			return 0;
		p++;                        /* the comma */
	}
}

int
cv_check_path(const char *v, size_t max, int absolute, char *why,
              size_t whylen)
{
	if (v[0] == '\0')
		return cv_why(why, whylen, "empty path");
	if (absolute && v[0] != '/')
		return cv_why(why, whylen, "not an absolute path");
	if (strlen(v) > max)
		return cv_why(why, whylen, "path longer than %zu bytes", max);
	return 0;
}

int
cv_parse_listen(const char *v, struct cv_listen *out, char *why,
                size_t whylen)
{
	struct cv_listen l;
	const char *host, *colon, *end;
	size_t hlen;
	long long port;

	memset(&l, 0, sizeof(l));
	if (strncmp(v, "unix:", 5) == 0) {
		if (v[5] != '/')
			return cv_why(why, whylen, "unix: needs an absolute path");
		if (strlen(v + 5) >= sizeof(l.path))
			return cv_why(why, whylen, "socket path longer than %zu "
			    "bytes", sizeof(l.path) - 1);
		l.is_unix = 1;
		strcpy(l.path, v + 5);
		*out = l;
		return 0;
	}
	if (v[0] == '[') {                  /* [IPv6]:PORT */
		end = strchr(v, ']');
		if (end == NULL || end[1] != ':')
			return cv_why(why, whylen, "expected [IPv6]:PORT");
		host = v + 1;
		hlen = (size_t)(end - host);
		colon = end + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL)
			return cv_why(why, whylen, "expected HOST:PORT or "
			    "unix:/PATH");
		host = v;
		hlen = (size_t)(colon - v);
		if (memchr(host, ':', hlen) != NULL)
			return cv_why(why, whylen, "an IPv6 address goes in "
			    "brackets: [ADDR]:PORT");
	}
	if (hlen == 0)
		return cv_why(why, whylen, "missing host (say 127.0.0.1 for "
		    "this host only, 0.0.0.0 for every address)");
	if (hlen >= sizeof(l.host))
		return cv_why(why, whylen, "host longer than %zu bytes",
		    sizeof(l.host) - 1);
	for (size_t i = 0; i < hlen; i++)
		if (!isalnum((unsigned char)host[i]) &&
		    strchr(".-:%_", host[i]) == NULL)
			return cv_why(why, whylen, "bad character in host");
	if (cv_parse_ll(colon + 1, 1, 65535, &port, why, whylen) == -1)
		return cv_why(why, whylen, "port must be 1 to 65535");
	memcpy(l.host, host, hlen);
	l.host[hlen] = '\0';
	l.port = (int)port;
	*out = l;
	return 0;
}
