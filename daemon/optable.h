/*
 * optable.h: the protocol operations (docs/protocol.md), one row each.
 *
 * A row gives the op's constant, its name on the wire, the access it needs
 * and its two functions: the parser (request.c, static, checks the op's
 * fields into struct request) and the handler (ops.c, static, answers the
 * parsed request).  request.c builds its name/access/parser table from
 * these rows and ops.c its handler table, so that request.c stays free of
 * Redis and libevent (it is fuzzed on its own) while an op is still
 * defined in one place: adding one is adding a row here and writing its
 * two functions.  Neither column may be NULL: both tables take the
 * functions' addresses, which does not compile for NULL.
 */
#ifndef JOBD_OPTABLE_H
#define JOBD_OPTABLE_H

/* Who may run an op ([access] in the config). */
enum op_access {
	ACCESS_OPEN = 0,        /* anyone who can connect: reading ops */
	ACCESS_SUBMIT,          /* [access] submit, or an admin */
	ACCESS_ADMIN,           /* [access] admin */
};

/*       constant     name           access         parse              handle */
#define OP_TABLE(X) \
	X(HELLO,       "hello",       ACCESS_OPEN,   parse_nothing,     op_hello) \
	X(PING,        "ping",        ACCESS_OPEN,   parse_nothing,     op_ping) \
	X(SUBMIT,      "submit",      ACCESS_SUBMIT, parse_submit,      op_submit) \
	X(SUBMIT_MANY, "submit_many", ACCESS_SUBMIT, parse_submit_many, op_submit) \
	X(GET,         "get",         ACCESS_OPEN,   parse_job_id,      op_get) \
	X(RESULT,      "result",      ACCESS_OPEN,   parse_job_id,      op_result) \
	X(WAIT,        "wait",        ACCESS_OPEN,   parse_wait,        op_wait) \
	X(CANCEL,      "cancel",      ACCESS_ADMIN,  parse_job_id,      op_cancel) \
	X(REQUEUE,     "requeue",     ACCESS_ADMIN,  parse_requeue,     op_requeue) \
	X(LIST,        "list",        ACCESS_OPEN,   parse_list,        op_list) \
	X(STATS,       "stats",       ACCESS_OPEN,   parse_nothing,     op_stats) \
	X(LIMITS,      "limits",      ACCESS_OPEN,   parse_nothing,     op_limits) \
	X(PAUSE,       "pause",       ACCESS_ADMIN,  parse_queue,       op_pause) \
	X(RESUME,      "resume",      ACCESS_ADMIN,  parse_queue,       op_resume) \
	X(PROGRESS,    "progress",    ACCESS_SUBMIT, parse_progress,    op_progress) \
	X(DELETE,      "delete",      ACCESS_ADMIN,  parse_job_id,      op_delete) \
	X(RELOAD,      "reload",      ACCESS_ADMIN,  parse_nothing,     op_reload) \
	X(HEALTH,      "health",      ACCESS_OPEN,   parse_nothing,     op_health) \
	X(METRICS,     "metrics",     ACCESS_OPEN,   parse_nothing,     op_metrics) \
	X(CRON_LIST,   "cron_list",   ACCESS_OPEN,   parse_nothing,     op_cron_list) \
	X(BATCH_OPEN,  "batch_open",  ACCESS_SUBMIT, parse_batch_open,  op_batch_open) \
	X(BATCH_SEAL,  "batch_seal",  ACCESS_SUBMIT, parse_batch_id,    op_batch_seal) \
	X(BATCH_GET,   "batch_get",   ACCESS_OPEN,   parse_batch_id,    op_batch_get)

/* OP_HELLO, OP_PING, ...: a row's index in either table. */
enum op {
#define OPTABLE_ENUM(id, name, access, parse, handle) OP_##id,
	OP_TABLE(OPTABLE_ENUM)
#undef OPTABLE_ENUM
	OP__COUNT
};

#endif
