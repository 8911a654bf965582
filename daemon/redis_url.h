/*
 * redis_url.h: the address of Redis ("redis" setting) parsed.
 */
#ifndef JOBD_REDIS_URL_H
#define JOBD_REDIS_URL_H

#include <limits.h>
#include <stddef.h>

struct redis_url {
	char path[PATH_MAX];    /* unix socket, or "" */
	char host[256];
	int port;
	int db;
};

/* redis_url_parse: 0, or -1 with the reason in err. */
int redis_url_parse(const char *url, struct redis_url *a, char *err,
                    size_t errlen);

#endif
