/*
 * reply.c: the answer to one request; see reply.h.
 */

#include <stdlib.h>

#include "proto.h"
#include "reply.h"

struct reply *
reply_new(void (*on_done)(struct reply *, void *), void *owner, long peer_uid)
{
	struct reply *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->on_done = on_done;
	r->owner = owner;
	r->peer_uid = peer_uid;
	return r;
}

void
reply_free(struct reply *r)
{
	request_clear(&r->req);
	json_decref(r->response);
	free(r);
}

void
reply_disown(struct reply *r)
{
	reply_hand_over(r, NULL, NULL);
}

void
reply_hand_over(struct reply *r, void (*on_done)(struct reply *, void *),
                void *owner)
{
	void (*fn)(struct reply *, void *) = r->abort_fn;

	r->owner = owner;
	r->on_done = on_done;
	r->peer_uid = -1;
	if (r->done) {
		reply_free(r);
	} else if (fn != NULL) {
		r->abort_fn = NULL;
		fn(r, r->abort_arg);
	}
}

static void
reply_complete(struct reply *r, json_t *response)
{
	if (r->done) {          /* completing twice is a bug; keep the first */
		json_decref(response);
		return;
	}
	r->done = 1;
	r->abort_fn = NULL;
	if (r->owner == NULL) { /* its connection is gone */
		json_decref(response);
		reply_free(r);
		return;
	}
	if (r->req.id != NULL)
		json_object_set(response, "id", r->req.id);
	r->response = response;
	r->on_done(r, r->owner);
}

struct request *
reply_request(struct reply *r)
{
	return &r->req;
}

void
reply_answered(struct reply *r)
{
	if (!r->done && r->owner != NULL && r->on_answered != NULL)
		r->on_answered(r, r->owner);
}

long
reply_peer_uid(const struct reply *r)
{
	return r->peer_uid;
}

void
reply_ok(struct reply *r, json_t *fields)
{
	json_t *resp = json_object();

	json_object_set_new(resp, "ok", json_true());
	if (fields != NULL) {
		json_object_update(resp, fields);
		json_decref(fields);
	}
	reply_complete(r, resp);
}

/* error_response: {"ok": false, "error": {"code", "message"}}. */
static json_t *
error_response(int code, const char *msg)
{
	json_t *resp = json_object();

	json_object_set_new(resp, "ok", json_false());
	json_object_set_new(resp, "error", json_pack("{s:s,s:s}",
	    "code", proto_err_name(code), "message", msg ? msg : ""));
	return resp;
}

void
reply_error(struct reply *r, int code, const char *msg, json_t *extra)
{
	json_t *resp = error_response(code, msg);

	if (extra != NULL) {
		json_object_update_missing(resp, extra);
		json_decref(extra);
	}
	reply_complete(r, resp);
}

void
reply_drop_request(struct reply *r)
{
	json_t *id = json_incref(r->req.id);

	request_clear(&r->req);
	/* the id alone stays, owned as the root so that it is freed */
	r->req.root = id;
	r->req.id = id;
}

void
reply_shed(struct reply *r, int code, const char *msg)
{
	json_t *resp = error_response(code, msg);
	json_t *id = json_object_get(r->response, "id");

	if (id != NULL)
		json_object_set(resp, "id", id);
	json_decref(r->response);
	r->response = resp;
	reply_drop_request(r);
}

void
reply_set_abort(struct reply *r, void (*fn)(struct reply *, void *), void *arg)
{
	r->abort_fn = fn;
	r->abort_arg = arg;
}
