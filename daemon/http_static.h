/*
 * http_static.h: the dashboard's files (daemon/web/), compiled into jobd
 * and served by the HTTP child (docs/monitoring.md, "The dashboard").
 */
#ifndef JOBD_HTTP_STATIC_H
#define JOBD_HTTP_STATIC_H

struct evhttp_request;

/* http_static_send: answer req (GET or HEAD) with the file at path, with
 * its type, the dashboard's Content-Security-Policy and an ETag (304 when
 * the client has it).  0, or -1 when no file has that path (nothing is
 * sent then). */
int http_static_send(struct evhttp_request *req, const char *path);

#endif
