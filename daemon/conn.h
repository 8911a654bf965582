/*
 * conn.h: the listening socket and client connections.
 *
 * A connection reads frames (common/frame.h), parses each into a request
 * (request.h), checks the peer may run its op and hands it to
 * ops_dispatch() with a struct reply (reply.h).  Requests may be
 * pipelined: replies are written in request order whatever order the ops
 * complete in.
 */
#ifndef JOBD_CONN_H
#define JOBD_CONN_H

#include "config.h"

struct event_base;
struct server;

struct server *server_new(struct event_base *base, const struct config *cfg);
void server_set_config(struct server *srv, const struct config *cfg);
/* server_listen: listen on passed_fd (systemd's, see notify_listen_fds) if
 * it is not -1, else bind cfg->socket (replacing a stale socket file,
 * refusing a live one), set its mode and group, listen.  -1 with a message.
 * Connections wait in the backlog until server_accept(). */
int server_listen(struct server *srv, int passed_fd, char *err,
    size_t errlen);
/* server_accept: start accepting connections. */
void server_accept(struct server *srv);
/* server_close_listener: stop accepting; remove the socket file. */
void server_close_listener(struct server *srv);
/* server_connections: open client connections. */
int server_connections(const struct server *srv);
void server_free(struct server *srv);

#endif
