/*
 * redis_route.c: the server of a namespace behind Sentinels or in a
 * Cluster (redis_route.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "redis_route.h"

/* CRC16-CCITT (XMODEM), Redis Cluster's key hash. */
static unsigned
crc16(const unsigned char *p, size_t n)
{
	unsigned crc = 0;
	int b;

	while (n-- > 0) {
		crc ^= (unsigned)*p++ << 8;
		for (b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
	}
	return crc & 0xffff;
}

unsigned
redis_route_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len), *close;

	if (open != NULL) {
		close = memchr(open + 1, '}', len - (size_t)(open + 1 - key));
		if (close != NULL && close > open + 1)
			return crc16((const unsigned char *)open + 1,
			             (size_t)(close - open - 1)) % REDIS_ROUTE_SLOTS;
	}
	return crc16((const unsigned char *)key, len) % REDIS_ROUTE_SLOTS;
}

static int
failf(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

/* addr_of: a host string and a port element of a reply. */
static int
addr_of(const redisReply *h, const redisReply *p, const char *dflt,
        char *host, size_t hostlen, int *port)
{
	long v;
	char buf[16], *end;

	if (h->type != REDIS_REPLY_STRING || h->len >= hostlen)
		return -1;
	if (p->type == REDIS_REPLY_INTEGER)
		v = (long)p->integer;
	else if (p->type == REDIS_REPLY_STRING && p->len > 0 &&
	         p->len < sizeof(buf)) {
		memcpy(buf, p->str, p->len);
		buf[p->len] = '\0';
		v = strtol(buf, &end, 10);
		if (*end != '\0')
			return -1;
	} else
		return -1;
	if (v < 1 || v > 65535)
		return -1;
	if (h->len == 0 || (h->len == 1 && h->str[0] == '?')) {
		if (dflt == NULL || strlen(dflt) >= hostlen)
			return -1;
		snprintf(host, hostlen, "%s", dflt);
	} else {
		memcpy(host, h->str, h->len);
		host[h->len] = '\0';
	}
	*port = (int)v;
	return 0;
}

int
redis_route_master_reply(const redisReply *r, char *host, size_t hostlen,
                         int *port, char *err, size_t errlen)
{
	if (r == NULL)
		return failf(err, errlen, "no reply");
	if (r->type == REDIS_REPLY_NIL)
		return failf(err, errlen, "does not know that master name");
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "%.150s", r->str);
		return -1;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    addr_of(r->element[0], r->element[1], NULL, host, hostlen,
	            port) < 0)
		return failf(err, errlen, "unexpected answer to SENTINEL "
		             "get-master-addr-by-name");
	return 0;
}

int
redis_route_slots_reply(const redisReply *r, unsigned slot,
                        const char *seed, char *host, size_t hostlen,
                        int *port, char *err, size_t errlen)
{
	const redisReply *range, *node;
	size_t i;

	if (r == NULL)
		return failf(err, errlen, "no reply");
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "not a cluster node? %.150s", r->str);
		return -1;
	}
	if (r->type != REDIS_REPLY_ARRAY)
		return failf(err, errlen, "unexpected answer to CLUSTER SLOTS");
	for (i = 0; i < r->elements; i++) {
		range = r->element[i];
		if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
		    range->element[0]->type != REDIS_REPLY_INTEGER ||
		    range->element[1]->type != REDIS_REPLY_INTEGER)
			return failf(err, errlen, "unexpected answer to CLUSTER "
			             "SLOTS");
		if ((long long)slot < range->element[0]->integer ||
		    (long long)slot > range->element[1]->integer)
			continue;
		node = range->element[2];
		if (node->type != REDIS_REPLY_ARRAY || node->elements < 2 ||
		    addr_of(node->element[0], node->element[1], seed, host,
		            hostlen, port) < 0)
			return failf(err, errlen, "unexpected node in CLUSTER "
			             "SLOTS");
		return 0;
	}
	snprintf(err, errlen, "no node serves hash slot %u (cluster down or "
	         "not fully set up)", slot);
	return -1;
}

int
redis_route_role_reply(const redisReply *r, char *err, size_t errlen)
{
	const redisReply *e;

	if (r == NULL)
		return failf(err, errlen, "no reply to ROLE");
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "ROLE: %.150s", r->str);
		return -1;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    (e = r->element[0])->type != REDIS_REPLY_STRING)
		return failf(err, errlen, "unexpected answer to ROLE");
	if (e->len == 6 && memcmp(e->str, "master", 6) == 0)
		return 0;
	snprintf(err, errlen, "the server named master is a %.*s (failover "
	         "under way?)", (int)(e->len < 20 ? e->len : 20), e->str);
	return -1;
}

int
redis_route_switch_msg(const char *text, size_t len, const char *name,
                       char *host, size_t hostlen, int *port)
{
	char buf[600], *f[5], *save = NULL, *end;
	long v;
	int n = 0;

	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, text, len);
	buf[len] = '\0';
	for (f[n] = strtok_r(buf, " ", &save); f[n] != NULL && n < 4;
	     f[n] = strtok_r(NULL, " ", &save))
		n++;
	if (n < 4 || f[4] == NULL || strcmp(f[0], name) != 0 ||
	    strlen(f[3]) >= hostlen)
		return 0;
	v = strtol(f[4], &end, 10);
	if (*end != '\0' || v < 1 || v > 65535)
		return 0;
	snprintf(host, hostlen, "%s", f[3]);
	*port = (int)v;
	return 1;
}

int
redis_route_undone(const char *text)
{
	static const char *const starts[] = { "MOVED ", "ASK ", "TRYAGAIN",
	    "CLUSTERDOWN", "READONLY", "MASTERDOWN", NULL };
	int i;

	for (i = 0; starts[i] != NULL; i++)
		if (strncmp(text, starts[i], strlen(starts[i])) == 0)
			return 1;
	return 0;
}

int
redis_route_moved(const char *text)
{
	return redis_route_undone(text) ||
	       strstr(text, "non local key") != NULL ||
	       strstr(text, "do not hash to the same slot") != NULL;
}

int
redis_route_sought(const struct redis_url *u, unsigned slot, char *out,
                   size_t outlen)
{
	if (u->kind == REDIS_URL_SENTINEL)
		return snprintf(out, outlen, "no sentinel names master %s:",
		                u->master);
	return snprintf(out, outlen, "no seed node names the primary of hash "
	                "slot %u:", slot);
}

/* --- blocking discovery (workers) ---------------------------------------- */

/* ask: one command of argc args on a fresh connection to node, after AUTH
 * with user/password if any; the reply, or NULL with err. */
static redisReply *
ask(const struct redis_node *nd, const char *user, const char *password,
    const struct timeval *timeout, int argc, const char **argv, char *err,
    size_t errlen)
{
	redisContext *c = redisConnectWithTimeout(nd->host, nd->port, *timeout);
	redisReply *r = NULL;
	const char *av[3] = { "AUTH" };
	int ac = 1;

	if (c == NULL || c->err) {
		snprintf(err, errlen, "%.150s", c ? c->errstr : "out of memory");
		goto out;
	}
	redisSetTimeout(c, *timeout);
	if (password[0] != '\0') {
		if (user[0] != '\0')
			av[ac++] = user;
		av[ac++] = password;
		r = redisCommandArgv(c, ac, av, NULL);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "authentication failed: %.150s",
			         r ? r->str : c->errstr);
			freeReplyObject(r);
			r = NULL;
			goto out;
		}
		freeReplyObject(r);
	}
	if ((r = redisCommandArgv(c, argc, argv, NULL)) == NULL)
		snprintf(err, errlen, "%.150s", c->errstr);
out:
	redisFree(c);
	return r;
}

int
redis_route_find(struct redis_url *u, const char *key,
                 const struct timeval *timeout, char *err, size_t errlen)
{
	const char *sen[3] = { "SENTINEL", "get-master-addr-by-name", u->master };
	const char *slots[2] = { "CLUSTER", "SLOTS" };
	unsigned slot = redis_route_slot(key, strlen(key));
	redisReply *r;
	char why[200];
	size_t o = 0;
	int i, rc;

	if (u->kind == REDIS_URL_DIRECT)
		return 0;
	o = (size_t)redis_route_sought(u, slot, err, errlen);
	for (i = 0; i < u->nnodes; i++) {
		const struct redis_node *nd = &u->nodes[i];

		if (u->kind == REDIS_URL_SENTINEL) {
			r = ask(nd, u->sentinel_user, u->sentinel_password, timeout,
			        3, sen, why, sizeof(why));
			rc = r == NULL ? -1 : redis_route_master_reply(r, u->host,
			    sizeof(u->host), &u->port, why, sizeof(why));
		} else {
			r = ask(nd, u->user, u->password, timeout, 2, slots, why,
			        sizeof(why));
			rc = r == NULL ? -1 : redis_route_slots_reply(r, slot,
			    nd->host, u->host, sizeof(u->host), &u->port, why,
			    sizeof(why));
		}
		freeReplyObject(r);
		if (rc == 0)
			return 0;
		if (o < errlen)
			o += (size_t)snprintf(err + o, errlen - o, "%s %s:%d: %s",
			                      i ? ";" : "", nd->host, nd->port, why);
	}
	u->host[0] = '\0';
	u->port = 0;
	return -1;
}
