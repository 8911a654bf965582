/*
 * store_record.h: reading what Redis answers the store, without any I/O:
 * job records (a MessagePack map of strings, as jobd.lua stores them) to
 * their JSON form (docs/protocol.md), the library's error replies to
 * PERR_* codes, and each call's reply to the JSON handed to store callers.
 */
#ifndef JOBD_STORE_RECORD_H
#define JOBD_STORE_RECORD_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <msgpack.h>

#include "store.h"

/* A field of a decoded record: points into the reply. */
struct field {
	const char *v;          /* NULL: absent */
	size_t len;
};

enum { F_TYPE, F_QUEUE, F_STATUS, F_CREATED, F_ENQUEUED, F_STARTED, F_ENDED,
       F_RUN_AT, F_TIMEOUT, F_ATTEMPTS, F_MAXR, F_PROGRESS, F_OWNER, F_META,
       F_PAYLOAD, F_RESULT, F_ERROR, F_ERRORS, F_UNIQUE, F_LOST, F_CANCEL,
       F_TOKEN, F_CALLBACK, F_DEPS, F_DEPS_LEFT, F_ON_DEP, F_BATCH,
       F_LIMIT, F_LIMIT_KEY, F__COUNT };

/* A record as jobd.lua returns it: {id, MessagePack map of strings}. */
struct record {
	struct field id;
	struct field f[F__COUNT];
	msgpack_unpacked u;
};

/* record_decode: -1 if r is not a record; record_done() either way. */
int record_decode(const redisReply *r, struct record *rec);
void record_done(struct record *rec);
/* record_json: the protocol's record; full: with payload and result. */
json_t *record_json(const struct record *rec, int full);
/* record_from: record_json of a reply; NULL (logged) if not a record. */
json_t *record_from(const redisReply *r, int full);
/* record_job: the job a take returned; NULL if not a record or out of
 * memory. */
struct store_job *record_job(const redisReply *r);

int rep_is(const redisReply *r, const char *s);
long long rep_ll(const redisReply *r);
json_t *rep_str(const redisReply *r);
/* rep_error: an error reply to a PERR_* code, message in msg, and for
 * PERR_CONFLICT {"job_id": holder} in *reply (a new reference). */
int rep_error(const redisReply *r, char *msg, size_t msglen, json_t **reply);
/* rep_function_missing: the library is not loaded (Redis restarted or
 * flushed). */
int rep_function_missing(const redisReply *r);

/* What a call's reply is converted to (rep_convert). */
enum rep_kind {
	REP_SUBMIT, REP_GET, REP_CANCEL, REP_REQUEUE, REP_LIST, REP_STATS,
	REP_EMPTY, REP_HEARTBEAT, REP_REAP, REP_RELEASE, REP_FAIL,
	REP_JSON,           /* a function's reply that is JSON text */
	REP_BATCH, REP_BATCH_GET, REP__COUNT
};
/* rep_convert: a non-error reply to the JSON of store.h's callbacks; NULL
 * if it is not of the expected shape (or out of memory). */
json_t *rep_convert(enum rep_kind kind, const redisReply *r);

#endif
