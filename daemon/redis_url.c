/*
 * redis_url.c: the address of Redis (grammar in redis_url.h).  No I/O: the
 * configuration check and the store's connections share this parser, so
 * that an address the check accepts is the one the store connects to.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "redis_url.h"

#define DEFAULT_URL "redis://127.0.0.1:6379/0"
#define HOST_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
                   "0123456789.-_"
#define IPV6_CHARS "0123456789abcdefABCDEF:."

/* Cleared through a volatile pointer: not optimised away as a dead store. */
static void *(*const volatile wipe)(void *, int, size_t) = memset;

static int
fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* decode: n bytes of a percent-encoded user name or password into out
 * (REDIS_URL_CRED_MAX + 1 bytes). */
static int
decode(const char *s, size_t n, char *out, const char *what, char *err,
       size_t errlen)
{
	size_t i, o = 0;
	int hi, lo, c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				goto bad_pct;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad_pct;
			c = hi * 16 + lo;
			i += 2;
			if (c == 0) {
				snprintf(err, errlen, "NUL byte in the %s", what);
				return -1;
			}
		} else if (c < 0x20 || c == 0x7f || strchr("@/?#", c) != NULL) {
			snprintf(err, errlen, "the %s holds a control character or "
			         "one of @ / ? # not percent-encoded", what);
			return -1;
		}
		if (o == REDIS_URL_CRED_MAX) {
			snprintf(err, errlen, "%s too long (max %d bytes)", what,
			         REDIS_URL_CRED_MAX);
			return -1;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
bad_pct:
	snprintf(err, errlen, "bad percent-encoding in the %s (%%XX)", what);
	return -1;
}

/* parse_cred: "USER:PASSWORD", ":PASSWORD" or "USER" (its password from
 * redis_password_file: the configuration checks that there is one), n
 * bytes. */
static int
parse_cred(const char *s, size_t n, struct redis_url *u, char *err,
           size_t errlen)
{
	const char *colon = memchr(s, ':', n);
	size_t ul;

	if (colon == NULL)
		return decode(s, n, u->user, "user name", err, errlen);
	ul = (size_t)(colon - s);
	if (ul + 1 == n)
		return fail(err, errlen, "empty password");
	if (decode(s, ul, u->user, "user name", err, errlen) < 0 ||
	    decode(colon + 1, n - ul - 1, u->password, "password", err,
	           errlen) < 0)
		return -1;
	return 0;
}

/* parse_uint: the digits of s..end as a number in [lo, hi]. */
static int
parse_uint(const char *s, const char *end, long lo, long hi, int *out)
{
	long v = 0;

	if (s == end)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > hi)
			return -1;
	}
	if (v < lo)
		return -1;
	*out = (int)v;
	return 0;
}

/* parse_host: HOST[:PORT][/DB], from p to end (no credentials). */
static int
parse_host(const char *p, struct redis_url *u, char *err, size_t errlen)
{
	const char *e;
	size_t n;

	if (*p == '[') {
		if ((e = strchr(p, ']')) == NULL)
			return fail(err, errlen, "IPv6 address without its ']'");
		n = (size_t)(e - p - 1);
		if (n < 2 || n >= 46 || strspn(p + 1, IPV6_CHARS) != n)
			return fail(err, errlen, "bad IPv6 address");
		memcpy(u->host, p + 1, n);
		p = e + 1;
	} else {
		n = strspn(p, HOST_CHARS);
		if (n == 0)
			return fail(err, errlen, p[0] == '\0' || strchr(":/", p[0]) ?
			            "missing host" : "bad character in the host name");
		if (n >= sizeof(u->host))
			return fail(err, errlen, "host name too long (max 255)");
		memcpy(u->host, p, n);
		p += n;
	}
	u->host[n] = '\0';
	if (*p == ':') {
		e = p + 1 + strcspn(p + 1, "/");
		if (parse_uint(p + 1, e, 1, 65535, &u->port) < 0)
			return fail(err, errlen, e == p + 1 ? "missing port after ':'" :
			            "bad port (1..65535)");
		p = e;
	}
	if (*p == '/') {
		e = p + 1 + strlen(p + 1);
		if (e > p + 1 && parse_uint(p + 1, e, 0, INT_MAX, &u->db) < 0)
			return fail(err, errlen, "bad database number (0..2147483647)");
		return 0;
	}
	if (*p != '\0')
		return fail(err, errlen, "unexpected characters after the host");
	return 0;
}

static int
parse_redis(const char *s, struct redis_url *u, char *err, size_t errlen)
{
	size_t alen = strcspn(s, "/");
	const char *at = NULL, *p;

	for (p = s; p < s + alen; p++)
		if (*p == '@')
			at = p;
	if (at == NULL && strchr(s + alen, '@') != NULL)
		return fail(err, errlen, "'/' must be percent-encoded in a user "
		            "name or password");
	if (at != NULL) {
		if (parse_cred(s, (size_t)(at - s), u, err, errlen) < 0)
			return -1;
		s = at + 1;
	}
	return parse_host(s, u, err, errlen);
}

static int
parse_unix(const char *s, struct redis_url *u, char *err, size_t errlen)
{
	const char *q, *at;
	size_t n;

	if (*s != '/') {
		if ((at = strchr(s, '@')) == NULL || at[1] != '/')
			return fail(err, errlen, "unix:// needs an absolute path "
			            "(unix:///path)");
		if (parse_cred(s, (size_t)(at - s), u, err, errlen) < 0)
			return -1;
		s = at + 1;
	}
	n = strcspn(s, "?");
	if (n < 2)
		return fail(err, errlen, "unix:// needs an absolute path "
		            "(unix:///path)");
	if (n >= sizeof(u->path))
		return fail(err, errlen, "socket path too long (max 107 bytes)");
	for (q = s; q < s + n; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return fail(err, errlen, "control character in the socket "
			            "path");
	memcpy(u->path, s, n);
	u->path[n] = '\0';
	q = s + n;
	if (*q == '\0')
		return 0;
	if (strncmp(q, "?db=", 4) != 0)
		return fail(err, errlen, "unknown parameter after the socket path "
		            "(only ?db=N)");
	if (parse_uint(q + 4, q + strlen(q), 0, INT_MAX, &u->db) < 0)
		return fail(err, errlen, "bad database number (0..2147483647)");
	return 0;
}

int
redis_url_parse(const char *url, struct redis_url *u, char *err,
                size_t errlen)
{
	int rc;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (url == NULL || *url == '\0')
		url = DEFAULT_URL;
	if (strnlen(url, REDIS_URL_MAX + 1) > REDIS_URL_MAX)
		return fail(err, errlen, "too long (max 4096 bytes)");
	if (strncmp(url, "redis://", 8) == 0)
		rc = parse_redis(url + 8, u, err, errlen);
	else if (strncmp(url, "unix://", 7) == 0)
		rc = parse_unix(url + 7, u, err, errlen);
	else
		rc = fail(err, errlen, "expected redis://[USER:PASSWORD@]HOST"
		          "[:PORT][/DB] or unix://[USER:PASSWORD@]/PATH[?db=N]");
	if (rc < 0)
		redis_url_clear(u);
	return rc;
}

void
redis_url_clear(struct redis_url *u)
{
	wipe(u->user, 0, sizeof(u->user));
	wipe(u->password, 0, sizeof(u->password));
}

const char *
redis_url_redact(const char *url, char *out, size_t outlen)
{
	struct redis_url u;
	char err[160];
	const char *s, *at, *colon;
	int has_password;

	if (redis_url_parse(url, &u, err, sizeof(err)) < 0) {
		snprintf(out, outlen, "(not shown)");
		return out;
	}
	has_password = u.password[0] != '\0';
	redis_url_clear(&u);
	if (url == NULL || *url == '\0')
		url = DEFAULT_URL;
	if (!has_password) {
		snprintf(out, outlen, "%s", url);
		return out;
	}
	/* Parsed: the credentials are "USER:PASSWORD@" right after the
	 * scheme, with no raw ':' in USER nor '@' in either. */
	s = strstr(url, "://") + 3;
	colon = strchr(s, ':');
	at = strchr(s, '@');
	snprintf(out, outlen, "%.*s:***%s", (int)(colon - url), url, at);
	return out;
}
