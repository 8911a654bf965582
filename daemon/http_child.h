/*
 * http_child.h: what the parts of the HTTP child share (http.c serves and
 * routes, http_events.c streams live updates, http_auth.c checks
 * credentials).  Internal to the child; the master sees only http.h.
 */
#ifndef JOBD_HTTP_CHILD_H
#define JOBD_HTTP_CHILD_H

#include <jansson.h>

#include "config.h"

struct event_base;
struct evhttp_request;

/* up_cb: the answer to one call to the master: the response object
 * (borrowed), or NULL with why the master could not answer. */
typedef void up_cb(void *arg, json_t *resp, const char *why);

/* http_up_call: send req (not stolen) on the shared link to the master;
 * cb runs once, maybe now. */
void http_up_call(json_t *req, up_cb *cb, void *arg);

/* http_send_json: obj (stolen) as the JSON body of the answer. */
void http_send_json(struct evhttp_request *req, int code, json_t *obj);
/* http_send_error: {"error": {"code": ecode, "message": msg}}. */
void http_send_error(struct evhttp_request *req, int code, const char *ecode,
                     const char *msg);

/* http_events.c: GET /events (docs/monitoring.md, "Live updates"). */
void events_init(struct event_base *base, const struct config *cfg);
void events_open(struct evhttp_request *req);
/* events_abort: req is a stream's that libevent hands back failed: close
 * it; 1, or 0 when req is no stream's. */
int events_abort(struct evhttp_request *req);
void events_fini(void);

#endif
