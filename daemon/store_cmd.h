/*
 * store_cmd.h: building the Redis commands of the store, as RESP text,
 * without any I/O: the FCALLs of the function library (jobd.lua) and
 * their arguments.  Used by both faces (store.c, store_sync.c).
 */
#ifndef JOBD_STORE_CMD_H
#define JOBD_STORE_CMD_H

#include <stddef.h>
#include <msgpack.h>

#include "config.h"
#include "request.h"
#include "store.h"

#define CMD_ERROR_TEXT_MAX 4096 /* a failed job's error: its tail kept */

/*
 * A Redis command, formatted as RESP while its arguments are added, so
 * that it can be sent as is (redis*FormattedCommand) and kept for a retry.
 * The command is buf + start, len - start bytes, after cmd_finish.
 */
struct cmd {
	char *buf;
	size_t len, cap;
	int argc;
	int oom;                /* an allocation failed: cmd_finish fails */
	size_t start;           /* set by cmd_finish */
};

void cmd_init(struct cmd *c);
void cmd_addn(struct cmd *c, const char *s, size_t n);
void cmd_add(struct cmd *c, const char *s);     /* NULL: "" */
void cmd_addll(struct cmd *c, long long v);
/* cmd_add_key: the key K what name (K: the namespace's key prefix). */
void cmd_add_key(struct cmd *c, const char *K, const char *what,
                 const char *name);
/* cmd_finish: write the "*<argc>" header; -1 if out of memory. */
int cmd_finish(struct cmd *c);
void cmd_free(struct cmd *c);

/* The key prefix "<prefix>:{<ns>}:" and the derived key names. */
struct cmd_names {
	char *K, *meta, *events, *ends, *wake;
};
int cmd_names_init(struct cmd_names *n, const struct config *cfg);
void cmd_names_free(struct cmd_names *n);

/* cmd_fcall: cmd_init, then the head of every FCALL: the function (fn
 * unversioned, "jobd_get": the library's jobd_v<N>_get is called, see
 * store_library.h), the meta key, the common ARGV. */
void cmd_fcall(struct cmd *c, const struct cmd_names *n,
               const struct config *cfg, const char *fn);
/* cmd_queues: the count and names of cfg's queues. */
void cmd_queues(struct cmd *c, const struct config *cfg);
/* cmd_take_tail: what a take needs: owner, lease, the types served (see
 * cmd_served_types), queues. */
void cmd_take_tail(struct cmd *c, const char *owner, const char *served,
                   const struct config *cfg);
/* cmd_served_types: the job types cfg serves as jobd.lua's takes and
 * heartbeat read them, " a b c " ("* a b c " with accept_any_type: any
 * type); NULL if out of memory. */
char *cmd_served_types(const struct config *cfg);
/* cmd_submit_job: the 7 submit arguments of one job (sb: scratch). */
void cmd_submit_job(struct cmd *c, const struct submit_spec *s,
                    const char *id, msgpack_sbuffer *sb);
/* cmd_fail_args: job_id token error mode retry_delay_ms of jobd_fail. */
void cmd_fail_args(struct cmd *c, const char *job_id, const char *token,
                   const char *error, enum store_fail_mode mode,
                   long long retry_delay_ms);
/* cmd_lease_ms: the configured lease in ms. */
long long cmd_lease_ms(const struct config *cfg);
/* cmd_progress_json: {"percent", "message"} as text (free it); NULL if
 * out of memory. */
char *cmd_progress_json(double percent, const char *message);

#endif
