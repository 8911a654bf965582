/*
 * redis_url.c: the address of Redis, as given by the "redis" setting.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

int
redis_url_parse(const char *url, struct redis_url *a, char *err, size_t errlen)
{
	const char *p, *e;
	size_t n;

	memset(a, 0, sizeof(*a));
	a->port = 6379;
	if (url == NULL || *url == '\0')
		url = "redis://127.0.0.1:6379/0";
	if (strncmp(url, "unix://", 7) == 0 || url[0] == '/') {
		p = url[0] == '/' ? url : url + 7;
		if (*p == '\0' || strlen(p) >= sizeof(a->path)) {
			snprintf(err, errlen, "bad redis address '%s'", url);
			return -1;
		}
		strcpy(a->path, p);
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0) {
		snprintf(err, errlen, "bad redis address '%s' (redis://host:port/db "
		         "or unix:///path)", url);
		return -1;
	}
	p = url + 8;
	if ((e = strchr(p, '@')) != NULL)      /* credentials: not supported */
		p = e + 1;
	if (*p == '[') {
		if ((e = strchr(p, ']')) == NULL)
			goto bad;
		n = (size_t)(e - p - 1);
		if (n == 0 || n >= sizeof(a->host))
			goto bad;
		memcpy(a->host, p + 1, n);
		p = e + 1;
	} else {
		n = strcspn(p, ":/");
		if (n >= sizeof(a->host))
			goto bad;
		memcpy(a->host, p, n);
		p += n;
	}
	if (a->host[0] == '\0')
		strcpy(a->host, "127.0.0.1");
	if (*p == ':') {
		char *end;
		long v = strtol(p + 1, &end, 10);

		if (end == p + 1 || v < 1 || v > 65535)
			goto bad;
		a->port = (int)v;
		p = end;
	}
	if (*p == '/' && p[1] != '\0') {
		char *end;
		long v = strtol(p + 1, &end, 10);

		if (end == p + 1 || *end != '\0' || v < 0 || v > 1000000)
			goto bad;
		a->db = (int)v;
	} else if (*p != '\0' && strcmp(p, "/") != 0) {
		goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "bad redis address '%s'", url);
	return -1;
}
