/*
 * conn.h: the listening socket and client connections.
 *
 * A connection reads frames (common/frame.h), parses each into a request
 * and hands it to ops_dispatch() with a struct reply.  Requests may be
 * pipelined: replies are written in request order whatever order the ops
 * complete in.  A reply outlives its connection if the connection closes
 * while the op is in flight; ops then complete it into the void.
 */
#ifndef JOBD_CONN_H
#define JOBD_CONN_H

#include <jansson.h>
#include "config.h"
#include "request.h"

struct event_base;
struct server;
struct reply;

/* reply_request: the parsed request the reply answers (borrowed). */
struct request *reply_request(struct reply *r);

/* reply_ok: complete with {"ok": true, <fields>}; fields (may be NULL) is
 * stolen. */
void reply_ok(struct reply *r, json_t *fields);

/* reply_error: complete with an error; extra (may be NULL) is stolen and its
 * fields are added at the top level of the response (e.g. "job_id"). */
void reply_error(struct reply *r, int code, const char *msg, json_t *extra);

/* reply_set_abort: fn runs if the connection closes before r completes;
 * it must forget r and call reply_ok/reply_error (which then only frees). */
void reply_set_abort(struct reply *r, void (*fn)(struct reply *, void *),
                     void *arg);

/* reply_peer_uid: the client's uid from SO_PEERCRED (-1 if unknown). */
long reply_peer_uid(const struct reply *r);

struct server *server_new(struct event_base *base, const struct config *cfg);
void server_set_config(struct server *srv, const struct config *cfg);
/* server_listen: bind cfg->socket (replacing a stale socket file, refusing
 * a live one), set its mode and group, listen.  -1 with a message.
 * Connections wait in the backlog until server_accept(). */
int server_listen(struct server *srv, char *err, size_t errlen);
/* server_accept: start accepting connections. */
void server_accept(struct server *srv);
/* server_close_listener: stop accepting; remove the socket file. */
void server_close_listener(struct server *srv);
/* server_connections: open client connections. */
int server_connections(const struct server *srv);
void server_free(struct server *srv);

#endif
