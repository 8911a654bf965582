/*
 * redis_url.h: the address of Redis (the "redis" setting), parsed once for
 * both the configuration check and the connections:
 *
 *   redis://[[USER][:PASSWORD]@]HOST[:PORT][/DB]
 *   unix://[[USER][:PASSWORD]@]/PATH[?db=N]
 *
 * HOST is a name, an IPv4 address or an IPv6 one in brackets ([::1]).
 * USER and PASSWORD may be percent-encoded, and must be for "@", "/", "?",
 * "#", "%" and control characters; ":" too in USER.  With a password every
 * connection sends AUTH ([USER] PASSWORD) first.  A USER with no password
 * parses (the password comes from redis_password_file; see config.h).  Errors name the part that
 * is wrong and never quote the URL: it may hold a password.
 */
#ifndef JOBD_REDIS_URL_H
#define JOBD_REDIS_URL_H

#include <stddef.h>

#define REDIS_URL_MAX      4096   /* the whole text */
#define REDIS_URL_CRED_MAX 512    /* a user name or password, decoded */

struct redis_url {
	char path[108];         /* unix socket (sun_path), or "" */
	char host[256];         /* or "" for a unix socket */
	int port;
	int db;                 /* SELECTed when not 0 */
	char user[REDIS_URL_CRED_MAX + 1];      /* "": the default user */
	char password[REDIS_URL_CRED_MAX + 1];  /* "": no AUTH */
};

/* redis_url_parse: 0, or -1 with the reason in err (one line).  NULL or
 * "" is the default, redis://127.0.0.1:6379/0. */
int redis_url_parse(const char *url, struct redis_url *u, char *err,
                    size_t errlen);
/* redis_url_clear: forget the credentials held in u. */
void redis_url_clear(struct redis_url *u);
/* redis_url_redact: url for logs and messages, its password replaced by
 * "***" (or, if url does not parse, "(not shown)"). */
const char *redis_url_redact(const char *url, char *out, size_t outlen);

#endif
