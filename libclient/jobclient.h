/*
 * jobclient.h: the public C API of libjobclient, the client of jobd.
 *
 * Conventions
 * - Every exported symbol starts with jc_ (macros with JC_).
 * - A jc_client is an opaque handle on one connection to one daemon.
 * - Functions return a jc_err: JC_OK (0) on success, a positive error
 *   otherwise.  Codes 1..12 are the server's protocol errors
 *   (docs/protocol.md); codes from 100 are raised by the library
 *   itself.  jc_errmsg() gives the message of the last error on that
 *   handle.
 * - Strings returned through char ** out-parameters are new, NUL-terminated,
 *   owned by the caller and released with jc_free().  Input strings are
 *   borrowed for the duration of the call only.
 * - JSON arguments and results are UTF-8 JSON text.
 * - No varargs, no structs by value: every function can be called through
 *   ctypes/libffi.
 *
 * Thread safety: a jc_client may be used by one thread at a time; use one
 * handle per thread (the Python binding does).  Distinct handles are
 * independent.  jc_strerror() and jc_version() are thread-safe.
 *
 * Connection: a handle connects on jc_open() and, when a connection drops,
 * the failing call returns JC_ERR_IO and the next call reconnects.  When
 * the daemon refuses a request and closes the connection (over max_frame,
 * busy), the call returns the daemon's error (JC_ERR_FRAME_TOO_LARGE,
 * JC_ERR_BUSY) with its message, not JC_ERR_IO.  A request over 64 KiB
 * is first checked against the daemon's max_frame (asked with "hello"
 * once per connection) and refused unsent with JC_ERR_FRAME_TOO_LARGE.
 */
#ifndef JOBCLIENT_H
#define JOBCLIENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* JC_VERSION_MAJOR, _MINOR, _PATCH and _STRING ("0.1.0"): the version of
 * configure.ac, which configure writes there. */
#include "jobclient_version.h"

/* The default socket path, used when neither an argument nor JOBD_SOCKET
 * names one. */
#define JC_DEFAULT_SOCKET "/run/jobd/jobd.sock"

typedef enum jc_err {
	JC_OK = 0,
	/* errors reported by the daemon (docs/protocol.md) */
	JC_ERR_BAD_JSON = 1,
	JC_ERR_BAD_REQUEST = 2,
	JC_ERR_UNKNOWN_OP = 3,
	JC_ERR_UNKNOWN_TYPE = 4,
	JC_ERR_NOT_FOUND = 5,
	JC_ERR_CONFLICT = 6,
	JC_ERR_FORBIDDEN = 7,
	JC_ERR_FRAME_TOO_LARGE = 8,
	JC_ERR_UNAVAILABLE = 9,   /* the daemon cannot reach Redis */
	JC_ERR_BUSY = 10,
	JC_ERR_INTERNAL = 11,
	JC_ERR_IN_DOUBT = 12,     /* the request reached Redis but its outcome
	                           * is unknown: look the job up (jc_submit
	                           * gives its id) before submitting again */
	/* errors raised by the library */
	JC_ERR_CONNECT = 100,     /* the daemon's socket cannot be reached */
	JC_ERR_IO = 101,          /* the connection failed or was closed */
	JC_ERR_TIMEOUT = 102,     /* no answer within the handle's timeout */
	JC_ERR_PROTOCOL = 103,    /* the daemon sent something unreadable */
	JC_ERR_NOMEM = 104,
	JC_ERR_INVALID = 105      /* a bad argument (NULL, malformed JSON) */
} jc_err;

typedef struct jc_client jc_client;

/* jc_version: the library's version string (static). */
const char *jc_version(void);

/* jc_strerror: a static description of an error code. */
const char *jc_strerror(int err);

/* jc_code_name: the protocol name of an error ("not_found", ...) or, for
 * library errors, "connect", "io", "timeout", "protocol", "nomem",
 * "invalid". Static. */
const char *jc_code_name(int err);

/*
 * jc_open: connect to the daemon at socket_path (NULL: $JOBD_SOCKET, else
 * JC_DEFAULT_SOCKET).  Always stores a handle in *out unless memory runs
 * out, even when the connection failed (JC_ERR_CONNECT), so the caller can
 * read jc_errmsg() and retry later; release it with jc_close().
 */
int jc_open(const char *socket_path, jc_client **out);

/* jc_close: close the connection and free the handle (NULL is allowed). */
void jc_close(jc_client *c);

/* jc_set_timeout: seconds a call may wait for the daemon (default 30;
 * jc_wait adds its own wait time on top).  0 or less: wait forever. */
void jc_set_timeout(jc_client *c, double seconds);

/* jc_errmsg: the message of the last error on c (borrowed, valid until the
 * next call on c); "" after success. */
const char *jc_errmsg(const jc_client *c);

/* jc_errcode: the code of the last error on c. */
int jc_errcode(const jc_client *c);

/* jc_socket_path: the path the handle connects to (borrowed). */
const char *jc_socket_path(const jc_client *c);

/* jc_free: release a string returned by this library. */
void jc_free(void *p);

/*
 * jc_call: send any request object (JSON text) and return the daemon's
 * response object as JSON text in *response.  Returns JC_OK when the
 * daemon answered "ok": true; when it answered an error, returns that error
 * code and still stores the whole response in *response.
 */
int jc_call(jc_client *c, const char *request_json, char **response);

/* jc_ping: round trip to the daemon. */
int jc_ping(jc_client *c);

/*
 * jc_submit: submit one job of the given type.  payload_json may be NULL
 * ({}).  options_json may be NULL or an object with any of the submit
 * fields of docs/protocol.md: queue, timeout, retries, job_id,
 * unique_key, limit_key, delay, run_at, result_ttl, meta, callback_url,
 * depends_on, on_dep_failure, batch_id.  On success *job_id
 * receives the new job's id.  On JC_ERR_CONFLICT *job_id (when not NULL)
 * receives the id of the job that holds the id or unique key; on
 * JC_ERR_IN_DOUBT, the id the job has if it was stored (jc_get tells).
 * JC_ERR_UNAVAILABLE means the job was certainly not stored.
 */
int jc_submit(jc_client *c, const char *type, const char *payload_json,
              const char *options_json, char **job_id);

/* jc_submit_many: jobs_json is an array of submit objects ({"type": ...,
 * "payload": ..., options...}); all or nothing.  *job_ids receives a JSON
 * array of the new ids; on JC_ERR_IN_DOUBT, the ids the jobs have if the
 * batch was stored (all or none of them).  The text goes to the daemon as
 * given (not parsed and encoded again); text that is not one JSON array
 * fails with JC_ERR_INVALID, as before. */
int jc_submit_many(jc_client *c, const char *jobs_json, char **job_ids);

/*
 * jc_batch_open: open a batch (docs/protocol.md, "Batches"); *batch_id
 * receives its id (new, jc_free it).  description may be NULL;
 * callback_json may be NULL or a submit object (type, payload, ...) run
 * once when the batch ends.  Jobs join it with "batch_id" in jc_submit's
 * options; jobs may also wait for it with "depends_on": [batch id].
 */
int jc_batch_open(jc_client *c, const char *description,
                  const char *callback_json, char **batch_id);
/* jc_batch_seal: no more jobs join; *status (new) receives the batch's
 * status after ("running", or "finished"/"failed" when every job had
 * ended).  Sealed already: JC_ERR_CONFLICT. */
int jc_batch_seal(jc_client *c, const char *batch_id, char **status);
/* jc_batch_get: the batch as JSON in *batch (new): status, total,
 * counts per job status, callback_job_id, times.  jc_wait on a batch id
 * returns when it ends. */
int jc_batch_get(jc_client *c, const char *batch_id, char **batch);

/* jc_get: the job record (docs/protocol.md) as JSON in *job. */
int jc_get(jc_client *c, const char *job_id, char **job);

/* jc_result: {"status", "result" | "error"} as JSON in *result. */
int jc_result(jc_client *c, const char *job_id, char **result);

/*
 * jc_wait: wait up to timeout seconds (fractional) for the job to end.
 * *job receives the response object: {"job": record} or, when the job was
 * not terminal in time, {"job": record, "timed_out": true}.
 */
int jc_wait(jc_client *c, const char *job_id, double timeout, char **job);

/* jc_cancel: cancel a job; *status (may be NULL) receives its new status. */
int jc_cancel(jc_client *c, const char *job_id, char **status);

/* jc_requeue: requeue one failed/canceled job; *job_ids (may be NULL)
 * receives a JSON array of requeued ids. */
int jc_requeue(jc_client *c, const char *job_id, char **job_ids);

/* jc_requeue_failed: requeue every failed job of queue (NULL: all queues). */
int jc_requeue_failed(jc_client *c, const char *queue, char **job_ids);

/* jc_list: filter_json may be NULL or an object with status, queue, type,
 * offset, limit.  *response receives {"jobs": [...], "total": n}. */
int jc_list(jc_client *c, const char *filter_json, char **response);

/* jc_stats: {"queues", "workers", "totals"} as JSON in *stats. */
int jc_stats(jc_client *c, char **stats);

/* jc_pause / jc_resume: stop or restart dispatch from a queue. */
int jc_pause(jc_client *c, const char *queue);
int jc_resume(jc_client *c, const char *queue);

/* jc_progress: report a running job's progress (for handlers). message may
 * be NULL. */
int jc_progress(jc_client *c, const char *job_id, double percent,
                const char *message);

/* jc_delete: remove a finished, failed or canceled job's record
 * (JC_ERR_CONFLICT for a job that has not ended, JC_ERR_NOT_FOUND for an
 * unknown one).  Needs the admin right ([access] admin). */
int jc_delete(jc_client *c, const char *job_id);

/* jc_reload: have the daemon load its configuration file again, as on
 * SIGHUP.  When the new file does not load, the daemon keeps the old one
 * and the error (JC_ERR_INTERNAL) carries the reason in jc_errmsg().
 * Needs the admin right. */
int jc_reload(jc_client *c);

#ifdef __cplusplus
}
#endif
#endif
