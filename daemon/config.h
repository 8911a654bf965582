/*
 * config.h: jobd's configuration: a table of settings (config.c), the INI
 * file with its includes, and the -o SECTION.KEY=VALUE overrides.  A config
 * is immutable once loaded; SIGHUP loads a new one (the same -o on top) and
 * swaps it in only if it loaded cleanly.
 */
#ifndef JOBD_CONFIG_H
#define JOBD_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "cron.h"

#define CONFIG_MAX_QUEUES   16
#define CONFIG_MAX_TYPES    256
#define CONFIG_MAX_ARGV     64
#define CONFIG_MAX_ACL      32
#define CONFIG_NAME_MAX     64   /* queue and type names */
#define CONFIG_MAX_CRONS    256  /* [cron:NAME] sections */

enum handler_kind {
	HANDLER_BUILTIN = 0,
	HANDLER_EXEC,
	HANDLER_HTTP,
};

enum backoff_kind {
	BACKOFF_EXPONENTIAL = 0, /* base * 2^(attempt-1), capped, with jitter */
	BACKOFF_FIXED_LIST,      /* the listed intervals, last one repeated */
};

#define CONFIG_MAX_BACKOFF 16

/* A job type, one [type:NAME] section. */
struct job_type {
	char name[CONFIG_NAME_MAX + 1];
	enum handler_kind kind;
	char *argv[CONFIG_MAX_ARGV + 1]; /* exec: NULL-terminated, argv[0] path */
	int persistent;                  /* exec: one long-lived process */
	char *url;                       /* http */
	char builtin[CONFIG_NAME_MAX + 1]; /* builtin: noop|echo|sleep|fail */
	char queue[CONFIG_NAME_MAX + 1]; /* default queue */
	double timeout;                  /* seconds */
	int retries;
	enum backoff_kind backoff;
	double backoff_base;             /* seconds, exponential */
	double backoff_max;              /* seconds, exponential cap */
	double backoff_list[CONFIG_MAX_BACKOFF];
	int backoff_count;
	long long max_output;            /* bytes of stdout accepted */
	char *user;                      /* run as (needs root), or NULL */
	char *env[CONFIG_MAX_ARGV + 1];  /* extra "K=V" entries, NULL-terminated;
	                                    env_pass values already in */
	char *env_pass[CONFIG_MAX_ARGV + 1]; /* names passed from jobd's env */
	char *cwd;                       /* working directory, or NULL */
	/* exec: resource limits of the handler process, 0 = inherited */
	long long limit_cpu;             /* CPU seconds (RLIMIT_CPU) */
	long long limit_memory;          /* bytes of address space (RLIMIT_AS) */
	long long limit_files;           /* open files (RLIMIT_NOFILE) */
	char limit[CONFIG_NAME_MAX + 1]; /* a [limit:NAME], or "" */
};

#define CONFIG_MAX_LIMITS 256

/* A [limit:NAME] section (config_limit.h). */
struct job_limit {
	char name[CONFIG_NAME_MAX + 1];
	int concurrency;                 /* started at once; 0: no bound */
	long long every_ms;              /* between starts at the rate; 0: none */
	int burst;                       /* starts at once on top of the rate */
	char rate[32];                   /* the rate as given, "" if none */
	int has_burst;                   /* burst was set */
};

/* A periodic job, one [cron:NAME] section (docs/jobd.md, "Periodic
 * jobs"). */
struct cron_entry {
	char name[CONFIG_NAME_MAX + 1];  /* A-Z a-z 0-9 _ . - */
	char *schedule;                  /* as written */
	struct cron_sched sched;         /* parsed */
	char type[CONFIG_NAME_MAX + 1];
	char *payload;                   /* JSON text */
	char queue[CONFIG_NAME_MAX + 1]; /* "": the type's */
	char timezone[CRON_TZ_MAX + 1];
	int misfire_once;                /* misfire = once (else skip) */
};

enum { HTTP_AUTH_NONE, HTTP_AUTH_BASIC };
struct http_users;

/* An access list ([access] submit/admin): who may run a class of ops. */
struct acl {
	int any;                         /* "*": anyone who can connect */
	uid_t uids[CONFIG_MAX_ACL];
	int nuids;
	gid_t gids[CONFIG_MAX_ACL];      /* "@group": primary or supplementary */
	int ngids;
};

/* [webhooks] allow: shell patterns a callback_url must match */
#define CONFIG_MAX_HOOK_PATTERNS 32
#define CONFIG_HOOK_PATTERN_MAX  512
struct hook_allow {
	char pat[CONFIG_MAX_HOOK_PATTERNS][CONFIG_HOOK_PATTERN_MAX + 1];
	int n;
};

struct config {
	char *path;              /* the file it came from, or NULL */

	/* [jobd] */
	char *socket;
	mode_t socket_mode;
	char *socket_group;      /* NULL: leave as is */
	char *redis;             /* "managed", redis://host:port/db or
	                            unix:///path */
	int redis_managed;       /* redis = managed (redis_managed.h) */
	char *state_dir;         /* managed: its socket, AOF, lock, logs */
	char *redis_server;      /* managed: the program as set, or NULL */
	char *redis_server_exe;  /* managed: found (on PATH if not set) */
	char *redis_appendfsync; /* managed: always, everysec or no */
	char *redis_password_file;      /* NULL: none */
	char *redis_password;    /* its first line, read by config_finish */
	char *prefix;            /* key prefix, default "jobd" */
	char *ns;                /* namespace (hash tag), default "main" */
	int workers;             /* 0 in the file means "number of CPUs" */
	char queues[CONFIG_MAX_QUEUES][CONFIG_NAME_MAX + 1]; /* priority order */
	int nqueues;
	size_t max_frame;
	int max_connections;
	int max_pending;         /* pipelined requests per connection */
	size_t max_buffered;     /* bytes of client input and output held */
	double frame_timeout;    /* seconds a started frame has to complete */
	double idle_timeout;     /* seconds; 0: connections may idle forever */
	int max_waiters;         /* pending waits, all connections */
	int max_json_values;     /* in one request */
	int max_connections_per_user; /* per uid, admins not counted */
	int admin_connections;   /* of max_connections, kept for admins */
	int max_inflight;        /* requests to Redis per connection */
	int max_inflight_total;  /* requests to Redis of all connections */
	size_t max_inflight_bytes; /* expected reply bytes of large ones */
	int builtins;            /* the jobd.* types are on */
	int accept_any_type;
	double lease;            /* seconds a worker's hold lasts unrenewed */
	double grace;            /* seconds between SIGTERM and SIGKILL */
	double shutdown_grace;   /* seconds running jobs get on SIGTERM */
	long long result_ttl;    /* seconds */
	long long failure_ttl;   /* seconds */
	int log_level;           /* LOG_ERR..LOG_DEBUG (syslog levels) */
	int log_target;          /* enum log_target (log.h) */
	char *log_file;          /* file:PATH's PATH, or NULL */
	int log_format;          /* enum log_format */
	char *pidfile;
	int foreground;
	double max_wait;         /* seconds, cap of a wait request */
	double redis_timeout;    /* seconds without a reply: busy or dead */
	int durable;             /* submits wait for a replica (WAIT) */
	double durable_timeout;  /* seconds, WAIT's */
	long long max_result;    /* bytes of a result kept */

	/* [access]; root and jobd's own uid are always admins */
	struct acl acl_submit;   /* submit, submit_many, progress */
	struct acl acl_admin;    /* cancel, requeue, delete, pause, resume,
	                            reload (and submit) */
	/* [http]: the monitoring server (docs/monitoring.md) */
	char *http_listen;       /* HOST:PORT or unix:/PATH; NULL: off */
	int http_max_connections;
	size_t http_max_header_size;
	size_t http_max_body_size;
	double http_request_timeout; /* seconds */
	int http_read_only;      /* actions refused */
	int http_auth;           /* HTTP_AUTH_* */
	char *http_users_file;
	struct http_users *http_users; /* read from it (http_users.h) */
	int http_max_streams;    /* GET /events at a time */
	size_t http_stream_buffer; /* unsent bytes of one stream */

	/* [webhooks]: callback_url deliveries (docs/workflows.md) */
	struct hook_allow hook_allow; /* n == 0: callback_url refused */
	char *hook_secret;       /* as written in the file, or NULL */
	char *hook_secret_file;  /* or NULL */
	char *hook_key;          /* the HMAC key: one of the two, read */

	unsigned long serial;    /* differs between any two loaded configs */

	struct job_type *types;
	int ntypes;

	struct cron_entry *crons;
	int ncrons;
	struct job_limit *limits;        /* [limit:NAME] sections */
	int nlimits;

	struct config_note *notes; /* each setting applied and from where */
	int nnotes;
};

/* One row of the settings table, for tests and tools. */
struct config_setting_info {
	const char *section;     /* "jobd", "access" or "types" */
	const char *name;
	const char *def;         /* NULL: no default (required by a handler) */
	const char *doc;
	int bounded;             /* a number: min..max apply */
	double min, max;
	int min_open;            /* min itself is refused */
	int zero_ok;             /* 0 (none) is allowed below min */
};

/* config_setting_info: row i of the table into out; -1 past the end. */
int config_setting_info(int i, struct config_setting_info *out);

/*
 * config_load: the defaults, then the file at path (NULL: none) with its
 * includes, then each -o argument "SECTION.KEY=VALUE" in order, then
 * config_finish.  On error returns NULL and writes one line naming the
 * file and line, or the -o argument, and the setting into err.
 */
struct config *config_load(const char *path, const char *const *opts,
                           int nopts, char *err, size_t errlen);

/* config_override: apply one -o argument (see config_load). */
int config_override(struct config *cfg, const char *arg, char *err,
                    size_t errlen);

/* config_dump: every setting as "SECTION.KEY = VALUE  ; FROM" (for
 * jobd --check; values as given, defaults without FROM). */
void config_dump(const struct config *cfg, FILE *fp);

/* config_write_sample: jobd.conf.sample, from the table. */
void config_write_sample(FILE *fp);

/* config_write_reference: the settings reference of docs/jobd.md, a
 * Markdown table from the table. */
void config_write_reference(FILE *fp);

/* config_write_mdoc: the settings list of jobd.conf(5): one .Ss and .Bl
 * -tag list per section (jobd --dump-mdoc; the build inserts it into
 * man/jobd.conf.5.in). */
void config_write_mdoc(FILE *fp);

/* config_mdoc_text: text as mdoc text lines, one sentence a line, made
 * inert: a leading . or ' escaped, backslashes as \e, control bytes as
 * blanks.  config_mdoc_arg: text as one quoted macro argument. */
void config_mdoc_text(FILE *fp, const char *text);
void config_mdoc_arg(FILE *fp, const char *arg);

/* config_new_default: a config holding every default (no types but the
 * builtins).  NULL on allocation failure. */
struct config *config_new_default(void);

/*
 * config_load_file: read path over the defaults into a new config.  On error
 * returns NULL and writes one line naming the file, the line and the
 * setting into err (errlen bytes), e.g.
 * "jobd.conf:12: [jobd] workers: not a number: 'x'".
 */
struct config *config_load_file(const char *path, char *err, size_t errlen);

/* config_load_string: the same from text, for tests; name is used in
 * messages. */
struct config *config_load_string(const char *text, const char *name,
                                  char *err, size_t errlen);

/* config_set: apply one "[section] key = value" setting; section is
 * "jobd", "access", "types" or "type:NAME".
 * Returns 0, or -1 with a message in err. */
int config_set(struct config *cfg, const char *section, const char *key,
               const char *value, char *err, size_t errlen);

/* config_finish: validate and fill derived values (CPU count for workers,
 * builtin types).  Returns 0, or -1 with a message in err. */
int config_finish(struct config *cfg, char *err, size_t errlen);

void config_free(struct config *cfg);

/* config_find_type: the type called name, or NULL. */
const struct job_type *config_find_type(const struct config *cfg,
                                        const char *name);

/* config_retry_delay_ms: how long to wait before attempt number
 * failed_attempt + 1, from the type's backoff (jitter included: up to 20%
 * of the delay, random). */
long long config_retry_delay_ms(const struct job_type *t, int failed_attempt);

/* config_acl_allows: 1 if a has "*", uid, or one of the ngroups groups. */
int config_acl_allows(const struct acl *a, uid_t uid, const gid_t *groups,
                      int ngroups);

/* config_acl_has_groups: a names a group (membership must be known). */
int config_acl_has_groups(const struct acl *a);

/* config_queue_index: position of queue name in the priority order, or -1. */
int config_queue_index(const struct config *cfg, const char *name);
/* config_redis_url: the redis setting parsed (managed: the socket in
 * state_dir), with the password of redis_password_file if there is one:
 * the address every connection uses.
 * 0, or -1 with the reason in err.  redis_url_clear(u) after use. */
struct redis_url;
int config_redis_url(const struct config *cfg, struct redis_url *u,
                     char *err, size_t errlen);

#endif
