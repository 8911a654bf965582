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

/* parse_node: HOST[:PORT] at *pp, which is left on the first character
 * after it: one of stop, or another, which the caller refuses. */
static int
parse_node(const char **pp, const char *stop, char *host, int *port,
           char *err, size_t errlen)
{
	const char *p = *pp, *e;
	size_t n;

	if (*p == '[') {
		if ((e = strchr(p, ']')) == NULL)
			return fail(err, errlen, "IPv6 address without its ']'");
		n = (size_t)(e - p - 1);
		if (n < 2 || n >= 46 || strspn(p + 1, IPV6_CHARS) != n)
			return fail(err, errlen, "bad IPv6 address");
		memcpy(host, p + 1, n);
		p = e + 1;
	} else {
		n = strspn(p, HOST_CHARS);
		if (n == 0)
			return fail(err, errlen, p[0] == '\0' || strchr(":/,", p[0]) ?
			            "missing host" : "bad character in the host name");
		if (n >= sizeof(((struct redis_node *)0)->host))
			return fail(err, errlen, "host name too long (max 255)");
		memcpy(host, p, n);
		p += n;
	}
	host[n] = '\0';
	if (*p == ':') {
		e = p + 1 + strcspn(p + 1, stop);
		if (parse_uint(p + 1, e, 1, 65535, port) < 0)
			return fail(err, errlen, e == p + 1 ? "missing port after ':'" :
			            "bad port (1..65535)");
		p = e;
	}
	*pp = p;
	return 0;
}

/* parse_host: HOST[:PORT][/DB], from p to end (no credentials). */
static int
parse_host(const char *p, struct redis_url *u, char *err, size_t errlen)
{
	const char *e;

	if (parse_node(&p, "/", u->host, &u->port, err, errlen) < 0)
		return -1;
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

/* split_cred: the credentials before the last '@' of the authority (up to
 * the first '/'), if any; *rest is what follows them. */
static int
split_cred(const char *s, struct redis_url *u, const char **rest, char *err,
           size_t errlen)
{
	size_t alen = strcspn(s, "/");
	const char *at = NULL, *p;

	for (p = s; p < s + alen; p++)
		if (*p == '@')
			at = p;
	if (at == NULL && strchr(s + alen, '@') != NULL)
		return fail(err, errlen, "'/' must be percent-encoded in a user "
		            "name or password");
	*rest = s;
	if (at != NULL) {
		if (parse_cred(s, (size_t)(at - s), u, err, errlen) < 0)
			return -1;
		*rest = at + 1;
	}
	return 0;
}

static int
parse_redis(const char *s, struct redis_url *u, char *err, size_t errlen)
{
	if (split_cred(s, u, &s, err, errlen) < 0)
		return -1;
	return parse_host(s, u, err, errlen);
}

/* parse_nodes: NODES up to the first '/' or '?' (see redis_url.h). */
static int
parse_nodes(const char **pp, int port, struct redis_url *u, char *err,
            size_t errlen)
{
	struct redis_node *nd;

	for (;;) {
		if (u->nnodes == REDIS_URL_NODES_MAX)
			return fail(err, errlen, "too many hosts (max 16)");
		nd = &u->nodes[u->nnodes++];
		nd->port = port;
		if (parse_node(pp, "/,?", nd->host, &nd->port, err, errlen) < 0)
			return -1;
		if (**pp != ',')
			break;
		(*pp)++;
	}
	if (**pp != '\0' && **pp != '/' && **pp != '?')
		return fail(err, errlen, "unexpected characters after a host");
	return 0;
}

/* parse_param: one NAME=VALUE of a sentinel:// query, n bytes. */
static int
parse_param(const char *s, size_t n, struct redis_url *u, int *seen,
            char *err, size_t errlen)
{
	static const char *const names[] = { "db", "sentinel_user",
	                                     "sentinel_password" };
	const char *eq = memchr(s, '=', n);
	size_t k, nl = eq ? (size_t)(eq - s) : n;
	char *out;

	for (k = 0; k < 3; k++)
		if (strlen(names[k]) == nl && strncmp(s, names[k], nl) == 0)
			break;
	if (k == 3 || eq == NULL)
		return fail(err, errlen, "unknown parameter (db=N, "
		            "sentinel_user=U, sentinel_password=P)");
	if (*seen & (1 << k)) {
		snprintf(err, errlen, "parameter %s given twice", names[k]);
		return -1;
	}
	*seen |= 1 << k;
	if (k == 0) {
		if (parse_uint(eq + 1, s + n, 0, INT_MAX, &u->db) < 0)
			return fail(err, errlen, "bad database number "
			            "(0..2147483647)");
		return 0;
	}
	out = k == 1 ? u->sentinel_user : u->sentinel_password;
	if (eq + 1 == s + n)
		return fail(err, errlen, k == 1 ? "empty sentinel_user" :
		            "empty sentinel_password");
	return decode(eq + 1, (size_t)(s + n - eq - 1), out, names[k], err,
	              errlen);
}

static int
parse_sentinel(const char *s, struct redis_url *u, char *err, size_t errlen)
{
	const char *p, *q;
	size_t n;
	int seen = 0;

	if (split_cred(s, u, &p, err, errlen) < 0 ||
	    parse_nodes(&p, 26379, u, err, errlen) < 0)
		return -1;
	if (*p != '/' || (n = strcspn(p + 1, "?")) == 0)
		return fail(err, errlen, "missing master name "
		            "(sentinel://HOST[:PORT][,...]/MASTER-NAME)");
	if (n > REDIS_URL_NAME_MAX)
		return fail(err, errlen, "master name too long (max 127)");
	if (strspn(p + 1, HOST_CHARS) < n)
		return fail(err, errlen, "bad character in the master name "
		            "(A-Z a-z 0-9 . - _)");
	memcpy(u->master, p + 1, n);
	u->master[n] = '\0';
	for (p += 1 + n; *p != '\0'; p = q) {
		p++;    /* '?' or '&' */
		q = p + strcspn(p, "&");
		if (parse_param(p, (size_t)(q - p), u, &seen, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int
parse_cluster(const char *s, struct redis_url *u, char *err, size_t errlen)
{
	const char *p;

	if (split_cred(s, u, &p, err, errlen) < 0 ||
	    parse_nodes(&p, 6379, u, err, errlen) < 0)
		return -1;
	if (*p == '?')
		return fail(err, errlen, "cluster:// takes no parameters");
	if (*p == '/' && p[1] != '\0' && strcmp(p, "/0") != 0)
		return fail(err, errlen, "a Redis Cluster has database 0 only");
	return 0;
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
	else if (strncmp(url, "sentinel://", 11) == 0) {
		u->kind = REDIS_URL_SENTINEL;
		rc = parse_sentinel(url + 11, u, err, errlen);
	} else if (strncmp(url, "cluster://", 10) == 0) {
		u->kind = REDIS_URL_CLUSTER;
		rc = parse_cluster(url + 10, u, err, errlen);
	} else
		rc = fail(err, errlen, "expected redis://[USER:PASSWORD@]HOST"
		          "[:PORT][/DB], unix://[USER:PASSWORD@]/PATH[?db=N], "
		          "sentinel://[USER:PASSWORD@]HOST[:PORT][,...]/MASTER or "
		          "cluster://[USER:PASSWORD@]HOST[:PORT][,...]");
	if (rc == 0 && u->kind != REDIS_URL_DIRECT) {
		u->host[0] = '\0';     /* found at run time */
		u->port = 0;
	}
	if (rc < 0)
		redis_url_clear(u);
	return rc;
}

void
redis_url_clear(struct redis_url *u)
{
	wipe(u->user, 0, sizeof(u->user));
	wipe(u->password, 0, sizeof(u->password));
	wipe(u->sentinel_user, 0, sizeof(u->sentinel_user));
	wipe(u->sentinel_password, 0, sizeof(u->sentinel_password));
}

const char *
redis_url_redact(const char *url, char *out, size_t outlen)
{
	struct redis_url u;
	char err[160];
	const char *s, *at, *colon;
	char *q, *v;
	int has_password, has_spw;
	size_t o, rest;

	if (redis_url_parse(url, &u, err, sizeof(err)) < 0) {
		snprintf(out, outlen, "(not shown)");
		return out;
	}
	has_password = u.password[0] != '\0';
	has_spw = u.sentinel_password[0] != '\0';
	redis_url_clear(&u);
	if (url == NULL || *url == '\0')
		url = DEFAULT_URL;
	if (has_password) {
		/* Parsed: the credentials are "USER:PASSWORD@" right after
		 * the scheme, with no raw ':' in USER nor '@' in either; the
		 * '@' is the last one before the first '/'. */
		s = strstr(url, "://") + 3;
		colon = strchr(s, ':');
		for (at = s + strcspn(s, "/"); *at != '@'; at--)
			;
		snprintf(out, outlen, "%.*s:***%s", (int)(colon - url), url, at);
	} else
		snprintf(out, outlen, "%s", url);
	/* sentinel_password=P in the query: P hidden as well */
	for (q = has_spw ? strchr(out, '?') : NULL; q != NULL &&
	     (v = strstr(q, "sentinel_password=")) != NULL; q = v + 3) {
		v += 18;
		rest = strcspn(v, "&");
		o = strlen(v + rest) + 1;
		if ((size_t)(v - out) + 3 + o > outlen)
			break;
		memmove(v + 3, v + rest, o);
		memcpy(v, "***", 3);
	}
	return out;
}
