/*
 * reply.h: the answer to one request.
 *
 * A reply carries a parsed request to its op (ops.c) and the response
 * back to whoever owns it (conn.c, which writes replies in request order).
 * The op completes it exactly once, with reply_ok() or reply_error(),
 * now or later.  A reply outlives its owner if the connection closes
 * while the op is in flight; the op then completes it into the void.
 */
#ifndef JOBD_REPLY_H
#define JOBD_REPLY_H

#include <sys/queue.h>
#include <jansson.h>

#include "request.h"

/* The fields are the owner's (conn.c); ops use the functions. */
struct reply {
	TAILQ_ENTRY(reply) link;   /* the owner's queue */
	struct request req;
	json_t *response;          /* set when complete */
	int done;
	/* the owner, told when the reply completes; NULL once it is gone */
	void (*on_done)(struct reply *r, void *owner);
	void *owner;
	long peer_uid;
	size_t charge;             /* the owner's memory account of it */
	void (*abort_fn)(struct reply *, void *);
	void *abort_arg;
	/* the owner's share of Redis the request holds (conn.c) */
	int charged;               /* in flight to Redis, counted */
	int learn;                 /* answered: its size teaches the cost */
	size_t cost;               /* the reply bytes it was expected to take */
	int share_op;              /* its op (the request may be dropped) */
	/* told by reply_answered(), if set */
	void (*on_answered)(struct reply *r, void *owner);
	void *peer;                /* whose share it is */
};

/* --- for ops ----------------------------------------------------------- */

/* reply_request: the parsed request the reply answers (borrowed). */
struct request *reply_request(struct reply *r);

/* reply_ok: complete with {"ok": true, <fields>}; fields (may be NULL) is
 * stolen. */
void reply_ok(struct reply *r, json_t *fields);

/* reply_error: complete with an error; extra (may be NULL) is stolen and its
 * fields are added at the top level of the response (e.g. "job_id"). */
void reply_error(struct reply *r, int code, const char *msg, json_t *extra);

/* reply_set_abort: fn runs if the owner goes away before r completes;
 * it must forget r and call reply_ok/reply_error (which then only frees). */
void reply_set_abort(struct reply *r, void (*fn)(struct reply *, void *),
                     void *arg);

/* reply_answered: the op's call to Redis has been answered though r is
 * not complete yet (a wait, a cancel waiting for the job's end): the
 * owner may give back what it counts for that call.  Any number of times. */
void reply_answered(struct reply *r);

/* reply_peer_uid: the client's uid from SO_PEERCRED (-1 if unknown or
 * gone). */
long reply_peer_uid(const struct reply *r);

/* --- for the owner ----------------------------------------------------- */

/* reply_new: an empty reply; on_done(r, owner) runs when an op completes
 * it, with r->response set ("id" echoed).  NULL if out of memory. */
struct reply *reply_new(void (*on_done)(struct reply *, void *), void *owner,
                        long peer_uid);

/* reply_disown: the owner goes away: a complete reply is freed, one in
 * flight is aborted (see reply_set_abort) and freed when it completes. */
void reply_disown(struct reply *r);

/* reply_drop_request: free the request's JSON now, all but the id the
 * response echoes (the owner cannot afford to hold it). */
void reply_drop_request(struct reply *r);

/* reply_shed: replace a complete reply's response by an error (the owner
 * cannot afford to send it), keeping its id; drops the request too. */
void reply_shed(struct reply *r, int code, const char *msg);
/* reply_hand_over: the owner goes away, but on_done(r, owner) still runs
 * when r completes (and must free r): for what the owner counts until
 * then.  A complete r is freed now; one in flight is aborted as by
 * reply_disown. */
void reply_hand_over(struct reply *r, void (*on_done)(struct reply *, void *),
                     void *owner);

/* reply_free: free a completed reply the owner is done with. */
void reply_free(struct reply *r);

#endif
