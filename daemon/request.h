/*
 * request.h: parsing and validation of one client request (docs/protocol.md).
 * Turns a frame's JSON into a struct request whose fields are checked for
 * presence, type and bounds, with the job type's defaults applied; or into
 * a protocol error with a message naming the offending field.  Which
 * fields an op has is up to its parser, named in its row of optable.h.
 */
#ifndef JOBD_REQUEST_H
#define JOBD_REQUEST_H

#include <stddef.h>
#include <jansson.h>
#include "config.h"
#include "optable.h"

#define REQUEST_MAX_JOBS      10000  /* per submit_many */
#define REQUEST_MAX_ID_LEN    128    /* job ids */
#define REQUEST_MAX_KEY_LEN   256    /* unique keys */
#define REQUEST_MAX_MESSAGE   1024   /* progress messages */
#define REQUEST_MAX_LIMIT     1000   /* list page size */
#define REQUEST_MAX_DEPTH     64     /* nesting of payloads */
#define REQUEST_MAX_DEPS      100    /* depends_on of one job */
#define REQUEST_MAX_DEPS_ALL  10000  /* depends_on of one submit_many */
#define REQUEST_MAX_DESCRIPTION 1024 /* batch_open description, bytes */

/* A normalised submit: every field present, defaults of the type applied.
 * Pointers borrow from the request's JSON. */
struct submit_spec {
	const char *type;
	const char *queue;
	json_t *payload;        /* any JSON */
	json_t *meta;           /* object */
	double timeout;         /* seconds, > 0 */
	int retries;            /* >= 0 */
	const char *job_id;     /* caller-chosen, or NULL */
	const char *unique_key; /* or NULL */
	double delay;           /* seconds, >= 0; 0 = none */
	long long run_at_ms;    /* absolute Unix ms, or -1 */
	long long result_ttl;   /* seconds */
	long long failure_ttl;  /* seconds */
	const char *limit_key;  /* its own budget of the type's limit, or NULL */
	const struct job_limit *limit; /* the type's, borrowed from the config,
	                           or NULL */
	const char *callback_url; /* or NULL; checked against [webhooks] */
	/* with callback_url: its delivery's settings (the jobd.webhook type);
	 * copied, as a reload may free the config while the submit runs */
	char hook_queue[CONFIG_NAME_MAX + 1]; /* "": the job's queue */
	double hook_timeout;    /* seconds */
	int hook_retries;
	json_t *depends_on;     /* array of job or batch ids, or NULL */
	const char *on_dep;     /* "cancel" (NULL), "run" or "hold" */
	const char *batch_id;   /* or NULL */
};

struct request {
	enum op op;
	json_t *root;           /* owned */
	json_t *id;             /* the "id" to echo, borrowed, or NULL */
	size_t nvalues;         /* JSON values in the frame, about (a bound) */

	struct submit_spec *jobs; /* submit: 1, submit_many: njobs; owned */
	size_t njobs;

	const char *job_id;     /* get result wait cancel requeue progress
	                           delete */
	double timeout;         /* wait: seconds */
	const char *queue;      /* requeue(all_failed) list pause resume */
	int all_failed;         /* requeue */
	const char *status;     /* list filter or NULL */
	const char *type;       /* list filter or NULL */
	long offset, limit;     /* list */
	double percent;         /* progress */
	const char *message;    /* progress, or NULL */
	const char *batch_id;   /* batch_seal batch_get */
	const char *description;/* batch_open */
	/* batch_open's callback is jobs[0] when njobs is 1 */
};

/* What request.c keeps of an op's row (optable.h); the handler is
 * ops.c's. */
struct request_ctx;
struct op_def {
	const char *name;
	enum op_access access;
	int (*parse)(struct request_ctx *c, struct request *req);
};

/* op_def: op's row, or NULL if op is not one. */
const struct op_def *op_def(enum op op);

/* op_lookup: the op called name (len bytes, no NUL inside), or -1. */
int op_lookup(const char *name, size_t len);

/* op_name: "submit", ...; "unknown" if op is not one. */
const char *op_name(enum op op);

/* op_access: the access class of op; ACCESS_ADMIN, the strictest, if op
 * is not one. */
enum op_access op_access(enum op op);

/*
 * request_parse: parse len bytes of JSON into req (zeroed first).  Returns
 * PERR_OK or a PERR_* code with a one-line message in err.  Even on error
 * req->id is set when the object had one, so the reply can echo it; call
 * request_clear() in every case.
 */
int request_parse(const char *buf, size_t len, const struct config *cfg,
                  struct request *req, char *err, size_t errlen);

void request_clear(struct request *req);

/* request_count_values: how many JSON values len bytes of JSON hold, at
 * most (one per comma, bracket or brace outside strings, plus one);
 * request_parse refuses a request over max_json_values with it before
 * decoding anything. */
size_t request_count_values(const char *buf, size_t len);

/* request_valid_id: a job id is 1..128 chars of [A-Za-z0-9_.:-]. */
int request_valid_id(const char *s);

/* request_parse_time: ISO-8601 UTC ("2025-01-01T12:00:00Z", fractional
 * seconds and +hh:mm offsets allowed) to Unix ms; -1 if malformed. */
long long request_parse_time(const char *s);

#endif
