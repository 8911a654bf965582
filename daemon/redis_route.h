/*
 * redis_route.h: which Redis server serves a namespace when the "redis"
 * setting names Sentinels or a Cluster (redis_url.h), and what Redis's
 * answers say about it.
 *
 * - Sentinel: the master the Sentinels name (SENTINEL
 *   get-master-addr-by-name), asked of each Sentinel in turn; the server
 *   found must then say ROLE master (the Sentinel clients guidelines).
 * - Cluster: every key of a namespace carries the hash tag {NAMESPACE}, so
 *   the namespace is one hash slot, served by one primary: the one CLUSTER
 *   SLOTS names for that slot, asked of each seed node in turn.
 *
 * The parsers serve the master's asynchronous discovery (redis_find.h) and
 * redis_route_find, the workers' blocking one.
 */
#ifndef JOBD_REDIS_ROUTE_H
#define JOBD_REDIS_ROUTE_H

#include <stddef.h>
#include <sys/time.h>

#include "redis_url.h"

struct redisReply;

#define REDIS_ROUTE_SLOTS 16384

/* redis_route_slot: the Cluster hash slot of key (CRC16 of its hash tag,
 * the text between the first '{' and the next '}' when not empty). */
unsigned redis_route_slot(const char *key, size_t len);

/* redis_route_master_reply: r, the reply to SENTINEL
 * get-master-addr-by-name, as host and port; -1 with the reason. */
int redis_route_master_reply(const struct redisReply *r, char *host,
                             size_t hostlen, int *port, char *err,
                             size_t errlen);
/* redis_route_slots_reply: the primary r (the reply to CLUSTER SLOTS) names
 * for slot; an empty address in r means seed, the node that answered. */
int redis_route_slots_reply(const struct redisReply *r, unsigned slot,
                            const char *seed, char *host, size_t hostlen,
                            int *port, char *err, size_t errlen);
/* redis_route_role_reply: 0 if r (the reply to ROLE) says master, else -1
 * with what it says. */
int redis_route_role_reply(const struct redisReply *r, char *err,
                           size_t errlen);
/* redis_route_switch_msg: the "+switch-master" message text of a Sentinel
 * ("NAME OLD-IP OLD-PORT NEW-IP NEW-PORT"): 1 with the new address if it
 * is about master name, else 0. */
int redis_route_switch_msg(const char *text, size_t len, const char *name,
                           char *host, size_t hostlen, int *port);
/* redis_route_moved: an error reply's text that says this server does not
 * (or no longer) serve the namespace: MOVED, ASK, TRYAGAIN, CLUSTERDOWN,
 * READONLY, MASTERDOWN, or a script stopped by a key of its namespace not
 * on this node (a slot migration under way).  Find the server again. */
int redis_route_moved(const char *text);
/* redis_route_undone: such a text says the command did not run at all
 * (all but the script stopped halfway, which may have written some). */
int redis_route_undone(const char *text);

/* redis_route_sought: "no sentinel names master NAME:" or "no seed node
 * names the primary of hash slot N:", the head of a failed search's
 * message; the length written (as snprintf). */
int redis_route_sought(const struct redis_url *u, unsigned slot, char *out,
                       size_t outlen);

/* redis_route_find: blocking; sets u->host and u->port to the server that
 * serves key (u a sentinel:// or cluster:// address; a direct one is left
 * as it is), waiting at most timeout for each node.  -1 with what every
 * node tried said, in err. */
int redis_route_find(struct redis_url *u, const char *key,
                     const struct timeval *timeout, char *err,
                     size_t errlen);

#endif
