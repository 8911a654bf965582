/*
 * jobctl.h: shared declarations of jobctl, the command-line tool of jobd.
 * jobctl is built only on the public libjobclient API.
 */
#ifndef JOBCTL_H
#define JOBCTL_H

#include <stddef.h>

#include <jansson.h>

#include "jobclient.h"

/* Exit statuses (docs/jobctl.md, EXIT STATUS). */
#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_USAGE 2
#define EXIT_JOBFAIL 3
/* Internal: stop now with status 0 (after --help on a verb). */
#define EXIT_DONE 100

/* The largest payload read from stdin for "submit TYPE -". */
#define JOBCTL_MAX_STDIN (64u * 1024 * 1024)

/* Seconds one wait request asks the daemon for when the user set no
 * limit; the tool repeats it until the job ends. */
#define JOBCTL_WAIT_SLICE 300.0

struct jobctl {
	const char *socket;  /* -s, or NULL for $JOBD_SOCKET / the default */
	int json;            /* --json: print the daemon's responses */
	jc_client *jc;       /* opened on first use */
};

/* A verb: runs with argv[0] the verb's name; returns an exit status. */
struct verb {
	const char *name;
	int (*run)(struct jobctl *, int, char **);
	const char *usage;
};

/* Long options every verb takes; verbs number their own from OPT_JSON+1. */
#define OPT_JSON 256
#define COMMON_OPTS \
	{ "json", no_argument, NULL, OPT_JSON }, \
	{ "help", no_argument, NULL, 'h' }

/* main.c */
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int usage_verb(const char *verb);
int verb_common_opt(struct jobctl *, int opt, const char *verb);
int verb_args(struct jobctl *, int argc, char **argv, int nargs,
    const char *what);
int ctl_request(struct jobctl *, json_t *req, json_t **resp);
int ctl_fail(struct jobctl *, int err);
int ctl_client(struct jobctl *);
int parse_seconds(const char *s, double *out);
int parse_count(const char *s, long *out);

/* output.c */
struct table;
struct table *table_new(int ncols, const char *const *headers);
void table_add(struct table *, const char *const *cells);
void table_print(struct table *);
void table_free(struct table *);
const char *jstr(json_t *obj, const char *key);
void jfmt(json_t *v, char *buf, size_t len);
void print_json(json_t *v);
void print_job(json_t *job);
int print_outcome(struct jobctl *, json_t *job);
char *text_escape(const char *s);
int json_escape_text(json_t *v);

/* cmd_batch.c */
int cmd_batch(struct jobctl *, int, char **);

/* cmd_passwd.c */
int cmd_passwd(struct jobctl *, int, char **);

/* cmd_jobs.c */
int cmd_submit(struct jobctl *, int, char **);
int cmd_status(struct jobctl *, int, char **);
int cmd_result(struct jobctl *, int, char **);
int cmd_wait(struct jobctl *, int, char **);
int cmd_cancel(struct jobctl *, int, char **);
int cmd_requeue(struct jobctl *, int, char **);
int cmd_delete(struct jobctl *, int, char **);
int cmd_list(struct jobctl *, int, char **);
int wait_job(struct jobctl *, const char *id, double timeout, int limited);

/* cmd_admin.c */
int cmd_ping(struct jobctl *, int, char **);
int cmd_health(struct jobctl *, int, char **);
int cmd_stats(struct jobctl *, int, char **);
int cmd_workers(struct jobctl *, int, char **);
int cmd_pause(struct jobctl *, int, char **);
int cmd_resume(struct jobctl *, int, char **);
/* cmd_cron.c */
int cmd_cron(struct jobctl *, int, char **);
int cmd_reload(struct jobctl *, int, char **);

/* cmd_limits.c */
int cmd_limits(struct jobctl *, int, char **);

#endif
