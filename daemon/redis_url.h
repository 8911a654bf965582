/*
 * redis_url.h: the address of Redis (the "redis" setting), parsed once for
 * both the configuration check and the connections:
 *
 *   redis://[[USER][:PASSWORD]@]HOST[:PORT][/DB]
 *   unix://[[USER][:PASSWORD]@]/PATH[?db=N]
 *   sentinel://[[USER][:PASSWORD]@]NODES/MASTER[?PARAMS]
 *       PARAMS: db=N, sentinel_user=U, sentinel_password=P (&-separated)
 *   cluster://[[USER][:PASSWORD]@]NODES
 *
 * NODES is HOST[:PORT][,HOST[:PORT]...] (at most REDIS_URL_NODES_MAX): the
 * Sentinels (port 26379 by default) or the Cluster's seed nodes (6379).
 * USER and PASSWORD are the data nodes' credentials; sentinel_user and
 * sentinel_password the Sentinels' own.  MASTER is the name the Sentinels
 * monitor.  The data node's address is then found at run time
 * (redis_route.h): host and port stay empty until then.
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
#define REDIS_URL_NODES_MAX 16    /* sentinels or seed nodes */
#define REDIS_URL_NAME_MAX 127    /* a Sentinel master name */

enum redis_url_kind {
	REDIS_URL_DIRECT = 0,   /* redis:// or unix:// */
	REDIS_URL_SENTINEL,
	REDIS_URL_CLUSTER,
};

struct redis_node {
	char host[256];
	int port;
};

struct redis_url {
	enum redis_url_kind kind;
	char path[108];         /* unix socket (sun_path), or "" */
	char host[256];         /* or "" for a unix socket */
	int port;
	int db;                 /* SELECTed when not 0 */
	char user[REDIS_URL_CRED_MAX + 1];      /* "": the default user */
	char password[REDIS_URL_CRED_MAX + 1];  /* "": no AUTH */
	/* sentinel:// and cluster:// */
	int nnodes;
	struct redis_node nodes[REDIS_URL_NODES_MAX];
	char master[REDIS_URL_NAME_MAX + 1];
	char sentinel_user[REDIS_URL_CRED_MAX + 1];
	char sentinel_password[REDIS_URL_CRED_MAX + 1];
};

/* redis_url_parse: 0, or -1 with the reason in err (one line).  NULL or
 * "" is the default, redis://127.0.0.1:6379/0. */
int redis_url_parse(const char *url, struct redis_url *u, char *err,
                    size_t errlen);
/* redis_url_clear: forget the credentials held in u. */
void redis_url_clear(struct redis_url *u);
/* redis_url_redact: url for logs and messages, its passwords replaced by
 * "***" (or, if url does not parse, "(not shown)"). */
const char *redis_url_redact(const char *url, char *out, size_t outlen);

#endif
