/*
 * http_auth.c: HTTP basic authentication (http_auth.h, RFC 7617): the
 * header decoded with bounds, the password checked with crypt_r, and
 * verified headers remembered.
 */
#include "http_auth.h"

#include <crypt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A header that verified: its exact value, its user's role. */
struct cached {
	char *value;
	size_t len;
	int user;                /* index in the users table */
	double at;               /* monotonic seconds */
};

static struct cached cache[HTTP_AUTH_CACHE];
static struct crypt_data *cdata;   /* 32 KB: once, not on the stack */

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* same: a comparison whose time does not depend on where a and b differ. */
static int
same(const char *a, const char *b, size_t n)
{
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static void
wipe(struct cached *c)
{
	if (c->value != NULL) {
		explicit_bzero(c->value, c->len);
		free(c->value);
	}
	memset(c, 0, sizeof(*c));
}

/* b64_decode: standard base64 with padding, strictly; the length of the
 * decoded bytes in out (cap bytes), or -1. */
static long
b64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	if (n == 0 || n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int pad = 0;

		for (size_t j = 0; j < 4; j++) {
			const char *p;

			if (in[i + j] == '=' && i + 4 == n && j >= 2) {
				pad++;
				v <<= 6;
				continue;
			}
			if (pad || in[i + j] == '\0' ||
			    (p = strchr(abc, in[i + j])) == NULL)
				return -1;
			v = v << 6 | (uint32_t)(p - abc);
		}
		if (o + 3 - (size_t)pad > cap)
			return -1;
		out[o++] = (unsigned char)(v >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(v >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)v;
	}
	return (long)o;
}

/* verify: the password against the user's hash. */
static int
verify(const struct http_user *u, const char *password)
{
	const char *h;
	size_t n = strlen(u->hash);

	if (cdata == NULL && (cdata = calloc(1, sizeof(*cdata))) == NULL)
		return 0;
	h = crypt_r(password, u->hash, cdata);
	/* crypt_r fails with "*0" or "*1", which no hash in the file is */
	return h != NULL && h[0] != '*' && strlen(h) == n && same(h, u->hash, n);
}

enum http_role
http_auth_check(const struct http_users *users, const char *value, char *user,
                size_t userlen)
{
	unsigned char dec[HTTP_AUTH_MAX_HEADER];
	const char *tok;
	char *colon;
	const struct http_user *u;
	size_t n;
	long dn;
	double t = now();
	int oldest = 0, ok;

	user[0] = '\0';
	if (users == NULL || value == NULL ||
	    (n = strlen(value)) > HTTP_AUTH_MAX_HEADER)
		return HTTP_ROLE_NONE;
	for (int i = 0; i < HTTP_AUTH_CACHE; i++) {
		struct cached *c = &cache[i];

		if (c->value != NULL && t - c->at > HTTP_AUTH_CACHE_TTL)
			wipe(c);
		if (c->value != NULL && c->len == n && same(c->value, value, n)) {
			snprintf(user, userlen, "%s", users->v[c->user].name);
			return users->v[c->user].admin ? HTTP_ROLE_ADMIN :
			    HTTP_ROLE_VIEWER;
		}
		if (c->value == NULL || (cache[oldest].value != NULL &&
		    c->at < cache[oldest].at))
			oldest = i;
	}
	/* "Basic" (any case), blanks, then the token (RFC 7617) */
	if (n < 6 || strncasecmp(value, "basic", 5) != 0 ||
	    (value[5] != ' ' && value[5] != '\t'))
		return HTTP_ROLE_NONE;
	tok = value + 5 + strspn(value + 5, " \t");
	n = strcspn(tok, " \t");
	if (tok[n + strspn(tok + n, " \t")] != '\0')
		return HTTP_ROLE_NONE;
	dn = b64_decode(tok, n, dec, sizeof(dec) - 1);
	if (dn < 0)
		return HTTP_ROLE_NONE;
	dec[dn] = '\0';
	if (memchr(dec, '\0', (size_t)dn) != NULL ||
	    (colon = strchr((char *)dec, ':')) == NULL) {
		explicit_bzero(dec, sizeof(dec));
		return HTTP_ROLE_NONE;
	}
	*colon = '\0';
	u = http_users_find(users, (char *)dec);
	if (u != NULL)
		snprintf(user, userlen, "%s", u->name);
	ok = u != NULL && verify(u, colon + 1);
	explicit_bzero(dec, sizeof(dec));
	if (!ok)
		return HTTP_ROLE_NONE;
	wipe(&cache[oldest]);
	if ((cache[oldest].value = strdup(value)) != NULL) {
		cache[oldest].len = strlen(value);
		cache[oldest].user = (int)(u - users->v);
		cache[oldest].at = t;
	}
	return u->admin ? HTTP_ROLE_ADMIN : HTTP_ROLE_VIEWER;
}

void
http_auth_free(void)
{
	for (int i = 0; i < HTTP_AUTH_CACHE; i++)
		wipe(&cache[i]);
	if (cdata != NULL) {
		explicit_bzero(cdata, sizeof(*cdata));
		free(cdata);
		cdata = NULL;
	}
}
