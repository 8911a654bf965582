/*
 * config.c: jobd's configuration.  Every setting is one row of a table,
 * config_main_rows[] ([jobd], [access]) or config_type_rows[] ([types],
 * [type:NAME]): name, section, type, bounds, default and doc line.
 * Defaults, parsing, validation, `jobd --check`, jobd.conf.sample and the
 * reference in docs/jobd.md all walk the rows.  The values are parsed by
 * config_value.c, files read by ini.c; config_output.c writes the dump,
 * the sample and the reference.
 *
 * Precedence: defaults < the file, in order (an include's lines take
 * effect where the include is) < -o SECTION.KEY=VALUE.  [types] settings
 * go to every [type:NAME] that does not set them itself.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config_limit.h"
#include "config_rows.h"
#include "config_value.h"
#include "hook.h"
#include "http_users.h"
#include "ini.h"
#include "log.h"
#include "redis_url.h"
#include "redis_managed.h"

#define MiB (1024LL * 1024)
#define GiB (1024LL * MiB)
#define TiB (1024LL * GiB)
#define DAY 86400LL
#define YEAR (365 * DAY)

#define CONFIG_MAX_PATH    4095
#define CONFIG_MAX_URL     2048
#define CONFIG_MAX_WORKERS 256
#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

#define QUEUE_CHARS "_.-"
#define TYPE_CHARS  "_.:-"

static const char *const builtin_names[] = { "noop", "echo", "sleep", "fail",
    "webhook" };
/* the jobd.* types every config has (webhook only with [webhooks] allow) */
#define NBUILTINS 4
#define WHERE_BUILTIN "(builtin)"

/* ---- [access] ----------------------------------------------------------- */

static int
acl_item(void *arg, const char *name, char *why, size_t whylen)
{
	struct acl *n = arg;
	int group = name[0] == '@';
	size_t len = strlen(name);
	unsigned long id;
	char *end;

	if (strcmp(name, "*") == 0) {
		n->any = 1;
		return 0;
	}
	if ((group ? n->ngids : n->nuids) == CONFIG_MAX_ACL)
		return cv_why(why, whylen, "more than %d %s", CONFIG_MAX_ACL,
		    group ? "groups" : "users");
	if (!cv_valid_name(name + group, "_.-"))
		return cv_why(why, whylen, "bad %s name '%s'",
		    group ? "group" : "user", name);
	if (strspn(name + group, "0123456789") == len - (size_t)group) {
		errno = 0;
		id = strtoul(name + group, &end, 10);
		if (errno == ERANGE || id >= (unsigned long)(uid_t)-1)
			return cv_why(why, whylen, "bad id '%s'", name);
		if (group)
			n->gids[n->ngids++] = (gid_t)id;
		else
			n->uids[n->nuids++] = (uid_t)id;
	} else if (group) {
		struct group *gr = getgrnam(name + 1);

		if (gr == NULL)
			return cv_why(why, whylen, "no such group '%s'", name + 1);
		n->gids[n->ngids++] = gr->gr_gid;
	} else {
		struct passwd *pw = getpwnam(name);

		if (pw == NULL)
			return cv_why(why, whylen, "no such user '%s'", name);
		n->uids[n->nuids++] = pw->pw_uid;
	}
	return 0;
}

/* set_acl: "*", or a list of user names, uids, @group names and @gids,
 * resolved now (an unknown name is an error); empty: nobody but admins. */
static int
set_acl(void *obj, const char *v, char *why, size_t whylen)
{
	struct acl n;

	memset(&n, 0, sizeof(n));
	if (cv_parse_list(v, 1, acl_item, &n, why, whylen) == -1)
		return -1;
	*(struct acl *)obj = n;
	return 0;
}

int
config_acl_allows(const struct acl *a, uid_t uid, const gid_t *groups,
                  int ngroups)
{
	if (a == NULL)
		return 0;
	if (a->any)
		return 1;
	for (int i = 0; i < a->nuids; i++)
		if (a->uids[i] == uid)
			return 1;
	for (int i = 0; i < a->ngids; i++)
		for (int j = 0; j < ngroups; j++)
			if (a->gids[i] == groups[j])
				return 1;
	return 0;
}

int
config_acl_has_groups(const struct acl *a)
{
	return a != NULL && !a->any && a->ngids > 0;
}

/* ---- [jobd] checks -------------------------------------------------------- */

/* check_redis: the grammar of redis_url.h, the store's own. */
static int
check_redis(const char *v, char *why, size_t whylen)
{
	struct redis_url u;
	int rc;

	if (*v == '\0') {
		snprintf(why, whylen, "empty");
		return -1;
	}
	if (strcmp(v, "managed") == 0)
		return 0;
	rc = redis_url_parse(v, &u, why, whylen);
	redis_url_clear(&u);
	return rc;
}

static int
check_socket(const char *v, char *why, size_t whylen)
{
	return cv_check_path(v, SUN_PATH_MAX, 0, why, whylen);
}

static int
check_any_path(const char *v, char *why, size_t whylen)
{
	return cv_check_path(v, CONFIG_MAX_PATH, 0, why, whylen);
}

static int
check_abs_path(const char *v, char *why, size_t whylen)
{
	return cv_check_path(v, CONFIG_MAX_PATH, 1, why, whylen);
}

/* check_state_dir: absolute, and short enough for its redis.sock to fit a
 * Unix socket address. */
static int
check_state_dir(const char *v, char *why, size_t whylen)
{
	size_t max = SUN_PATH_MAX - strlen("/" REDIS_MANAGED_SOCKET);

	if (cv_check_path(v, CONFIG_MAX_PATH, 1, why, whylen) == -1)
		return -1;
	if (strlen(v) > max)
		return cv_why(why, whylen, "longer than %zu bytes: "
		    "%s/" REDIS_MANAGED_SOCKET " would not fit a Unix socket "
		    "address (107 bytes)", max, v);
	return 0;
}

static int
check_appendfsync(const char *v, char *why, size_t whylen)
{
	if (strcmp(v, "always") != 0 && strcmp(v, "everysec") != 0 &&
	    strcmp(v, "no") != 0)
		return cv_why(why, whylen, "expected always, everysec or no");
	return 0;
}

/* set_http_auth: none or basic. */
static int
set_http_auth(void *obj, const char *v, char *why, size_t whylen)
{
	if (strcmp(v, "none") == 0)
		*(int *)obj = HTTP_AUTH_NONE;
	else if (strcmp(v, "basic") == 0)
		*(int *)obj = HTTP_AUTH_BASIC;
	else
		return cv_why(why, whylen, "expected none or basic");
	return 0;
}

static int
check_listen(const char *v, char *why, size_t whylen)
{
	struct cv_listen l;

	return cv_parse_listen(v, &l, why, whylen);
}

static int
check_user(const char *v, char *why, size_t whylen)
{
	return cv_valid_name(v, "_.-") ? 0 : cv_why(why, whylen, "bad user name");
}

static int
check_group(const char *v, char *why, size_t whylen)
{
	return cv_valid_name(v, "_.-") ? 0 : cv_why(why, whylen, "bad group name");
}

/* check_key_name: no braces, they would break the {ns} hash tag */
static int
check_key_name(const char *v, char *why, size_t whylen)
{
	if (cv_valid_name(v, TYPE_CHARS))
		return 0;
	return cv_why(why, whylen, "expected 1..%d of A-Z a-z 0-9 _ . : -",
	    CONFIG_NAME_MAX);
}

static int
set_mode(void *obj, const char *v, char *why, size_t whylen)
{
	size_t n = strlen(v);
	unsigned long m;

	if (n == 0 || n > 5 || strspn(v, "01234567") != n)
		return cv_why(why, whylen, "not an octal mode");
	m = strtoul(v, NULL, 8);
	if (m > 07777)
		return cv_why(why, whylen, "out of range (0..07777)");
	*(mode_t *)obj = (mode_t)m;
	return 0;
}

struct queue_list {
	char q[CONFIG_MAX_QUEUES][CONFIG_NAME_MAX + 1];
	int n;
};

static int
queue_item(void *arg, const char *name, char *why, size_t whylen)
{
	struct queue_list *l = arg;

	if (l->n == CONFIG_MAX_QUEUES)
		return cv_why(why, whylen, "more than %d queues",
		    CONFIG_MAX_QUEUES);
	if (!cv_valid_name(name, QUEUE_CHARS))
		return cv_why(why, whylen,
		    "bad queue name '%s' (use A-Z a-z 0-9 _ . -)", name);
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->q[i], name) == 0)
			return cv_why(why, whylen, "queue '%s' listed twice",
			    name);
	snprintf(l->q[l->n++], sizeof(l->q[0]), "%s", name);
	return 0;
}

/* set_queues: "high, default, low" into the config's queue table. */
static int
set_queues(void *obj, const char *v, char *why, size_t whylen)
{
	struct config *cfg = obj;
	struct queue_list l;

	l.n = 0;
	if (cv_parse_list(v, 0, queue_item, &l, why, whylen) == -1)
		return -1;
	memcpy(cfg->queues, l.q, sizeof(l.q));
	cfg->nqueues = l.n;
	return 0;
}

static int
set_log_level(void *obj, const char *v, char *why, size_t whylen)
{
	static const char *const lv[] = {
		"error", "warning", "notice", "info", "debug"
	};

	for (int i = 0; i < 5; i++) {
		if (strcasecmp(v, lv[i]) == 0) {
			*(int *)obj = LOG_ERR + i;
			return 0;
		}
	}
	return cv_why(why, whylen,
	    "expected error, warning, notice, info or debug");
}

/* set_log_target: stderr, syslog or file:PATH.  The file is opened at
 * start; here its directory must exist and the file (or, new, its
 * directory) be writable, so that --check and a reload catch a bad one. */
static int
set_log_target(void *obj, const char *v, char *why, size_t whylen)
{
	struct config *cfg = obj;
	const char *path = v + 5;
	char dir[PATH_MAX];
	struct stat st;
	char *copy, *slash;

	if (strcmp(v, "stderr") == 0 || strcmp(v, "syslog") == 0) {
		cfg->log_target = v[1] == 'y' ? LOG_TARGET_SYSLOG :
		    LOG_TARGET_STDERR;
		free(cfg->log_file);
		cfg->log_file = NULL;
		return 0;
	}
	if (strncmp(v, "file:", 5) != 0)
		return cv_why(why, whylen, "expected stderr, syslog or file:PATH");
	if (path[0] != '/')
		return cv_why(why, whylen, "file:PATH needs an absolute path");
	if (strlen(path) >= sizeof(dir))
		return cv_why(why, whylen, "file:PATH: path too long");
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return cv_why(why, whylen, "%s is not a regular file",
			    path);
		if (access(path, W_OK) == -1)
			return cv_why(why, whylen, "%s is not writable: %s", path,
			    strerror(errno));
	} else {
		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode))
			return cv_why(why, whylen, "directory %s does not exist",
			    dir);
		if (access(dir, W_OK) == -1)
			return cv_why(why, whylen, "cannot create a file in %s: %s",
			    dir, strerror(errno));
	}
	if ((copy = strdup(path)) == NULL)
		return cv_why(why, whylen, "out of memory");
	free(cfg->log_file);
	cfg->log_file = copy;
	cfg->log_target = LOG_TARGET_FILE;
	return 0;
}

static int
set_log_format(void *obj, const char *v, char *why, size_t whylen)
{
	if (strcmp(v, "text") != 0 && strcmp(v, "json") != 0)
		return cv_why(why, whylen, "expected text or json");
	*(int *)obj = v[0] == 'j' ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT;
	return 0;
}

/* ---- [cron:NAME] values ------------------------------------------------------ */

#define CRON_PAYLOAD_MAX (16 * 1024)  /* bytes of a payload */
#define CRON_JSON_DEPTH  32

static int
set_schedule(void *obj, const char *v, char *why, size_t whylen)
{
	struct cron_entry *e = obj;
	struct cron_sched s;
	char *copy;

	if (cron_parse(v, &s, why, whylen) == -1)
		return -1;
	if ((copy = strdup(v)) == NULL)
		return cv_why(why, whylen, "out of memory");
	free(e->schedule);
	e->schedule = copy;
	e->sched = s;
	return 0;
}

static int
set_cron_type(void *obj, const char *v, char *why, size_t whylen)
{
	if (!cv_valid_name(v, TYPE_CHARS))
		return cv_why(why, whylen, "bad type name (1..%d of A-Z a-z "
		    "0-9 _ . : -)", CONFIG_NAME_MAX);
	snprintf(obj, CONFIG_NAME_MAX + 1, "%s", v);
	return 0;
}

static int
json_depth(const json_t *v)
{
	const char *k;
	json_t *e;
	size_t i;
	int d = 0, x;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, e)
			if ((x = json_depth(e)) > d && (d = x) > CRON_JSON_DEPTH)
				break;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if ((x = json_depth(e)) > d && (d = x) > CRON_JSON_DEPTH)
				break;
	} else {
		return 0;
	}
	return d + 1;
}

/* set_payload: any JSON value, kept compact. */
static int
set_payload(void *obj, const char *v, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *j;
	char *text;

	if (strlen(v) > CRON_PAYLOAD_MAX)
		return cv_why(why, whylen, "longer than %d bytes",
		    CRON_PAYLOAD_MAX);
	/* jansson's own nesting limit is 2048; refuse deeper first */
	if ((j = json_loads(v, JSON_DECODE_ANY, &jerr)) == NULL)
		return cv_why(why, whylen, "bad JSON: %s", jerr.text);
	if (json_depth(j) > CRON_JSON_DEPTH) {
		json_decref(j);
		return cv_why(why, whylen, "nests deeper than %d levels",
		    CRON_JSON_DEPTH);
	}
	text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	if (text == NULL)
		return cv_why(why, whylen, "out of memory");
	free(*(char **)obj);
	*(char **)obj = text;
	return 0;
}

static int
set_timezone(void *obj, const char *v, char *why, size_t whylen)
{
	if (cron_tz_check(v, why, whylen) == -1)
		return -1;
	snprintf(obj, CRON_TZ_MAX + 1, "%s", v);
	return 0;
}

static int
set_misfire(void *obj, const char *v, char *why, size_t whylen)
{
	if (strcmp(v, "skip") != 0 && strcmp(v, "once") != 0)
		return cv_why(why, whylen, "expected skip or once");
	*(int *)obj = v[0] == 'o';
	return 0;
}

/* ---- [type:NAME] values ------------------------------------------------------ */

static void
free_argv(char **argv)
{
	for (int i = 0; argv[i] != NULL; i++) {
		free(argv[i]);
		argv[i] = NULL;
	}
}

static int
set_handler(void *obj, const char *v, char *why, size_t whylen)
{
	static const char *const kinds[] = { "builtin", "exec", "http" };

	for (int i = 0; i < 3; i++) {
		if (strcmp(v, kinds[i]) == 0) {
			*(enum handler_kind *)obj = (enum handler_kind)i;
			return 0;
		}
	}
	return cv_why(why, whylen, "expected exec, http or builtin");
}

/* split_words: whitespace-separated words, "double quotes" group (with \"
 * and \\ escapes inside them). */
static int
split_words(const char *v, char **argv, char *why, size_t whylen)
{
	char *buf = malloc(strlen(v) + 1);
	const char *p = v;
	int n = 0;

	if (buf == NULL)
		return cv_why(why, whylen, "out of memory");
	for (;;) {
		size_t o = 0;
		int inq = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		while (*p != '\0' && (inq || (*p != ' ' && *p != '\t'))) {
			if (*p == '"') {
				inq = !inq;
				p++;
			} else if (inq && *p == '\\' &&
			    (p[1] == '"' || p[1] == '\\')) {
				buf[o++] = p[1];
				p += 2;
			} else {
				buf[o++] = *p++;
			}
		}
		if (inq) {
			cv_why(why, whylen, "unterminated quote");
			goto fail;
		}
		if (n == CONFIG_MAX_ARGV) {
			cv_why(why, whylen, "more than %d arguments",
			    CONFIG_MAX_ARGV);
			goto fail;
		}
		if ((argv[n] = strndup(buf, o)) == NULL) {
			cv_why(why, whylen, "out of memory");
			goto fail;
		}
		argv[++n] = NULL;
	}
	free(buf);
	return n;
fail:
	free(buf);
	free_argv(argv);
	return -1;
}

/* json_words: a JSON array of 1..CONFIG_MAX_ARGV strings. */
static int
json_words(const char *v, char **argv, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *a, *e;
	size_t i;
	int n = 0;

	if ((a = json_loads(v, 0, &jerr)) == NULL)
		return cv_why(why, whylen, "bad JSON array: %s", jerr.text);
	if (!json_is_array(a) || json_array_size(a) > CONFIG_MAX_ARGV) {
		json_decref(a);
		return cv_why(why, whylen, "expected a JSON array of at most "
		    "%d strings", CONFIG_MAX_ARGV);
	}
	json_array_foreach(a, i, e) {
		if (!json_is_string(e) ||
		    strlen(json_string_value(e)) != json_string_length(e)) {
			cv_why(why, whylen, "element %zu is not a string", i);
			goto fail;
		}
		if ((argv[n] = strdup(json_string_value(e))) == NULL) {
			cv_why(why, whylen, "out of memory");
			goto fail;
		}
		argv[++n] = NULL;
	}
	json_decref(a);
	return n;
fail:
	json_decref(a);
	free_argv(argv);
	return -1;
}

static int
set_command(void *obj, const char *v, char *why, size_t whylen)
{
	char **dst = obj, *argv[CONFIG_MAX_ARGV + 1] = { NULL };
	int n = v[0] == '[' ? json_words(v, argv, why, whylen) :
	    split_words(v, argv, why, whylen);

	if (n < 0)
		return -1;
	if (n == 0 || argv[0] == NULL || argv[0][0] == '\0') {
		free_argv(argv);
		return cv_why(why, whylen, "empty command");
	}
	/* the worker calls execve: there is no PATH search */
	if (strchr(argv[0], '/') == NULL) {
		free_argv(argv);
		return cv_why(why, whylen, "the program must be a path such "
		    "as /usr/bin/NAME (no PATH search)");
	}
	free_argv(dst);
	memcpy(dst, argv, sizeof(argv));
	return 0;
}

static int
set_builtin(void *obj, const char *v, char *why, size_t whylen)
{
	for (size_t i = 0; i < NBUILTINS; i++) {
		if (strcmp(v, builtin_names[i]) == 0) {
			snprintf(obj, CONFIG_NAME_MAX + 1, "%s", v);
			return 0;
		}
	}
	return cv_why(why, whylen, "expected noop, echo, sleep or fail");
}

/* set_limit: a [limit:NAME] (checked to exist by config_limit_finish) */
static int
set_limit(void *obj, const char *v, char *why, size_t whylen)
{
	if (v[0] != '\0' && !config_limit_check_name(v))
		return cv_why(why, whylen, "bad limit name");
	snprintf(obj, CONFIG_NAME_MAX + 1, "%s", v);
	return 0;
}

static int
set_queue(void *obj, const char *v, char *why, size_t whylen)
{
	if (v[0] != '\0' && !cv_valid_name(v, QUEUE_CHARS))
		return cv_why(why, whylen, "bad queue name");
	snprintf(obj, CONFIG_NAME_MAX + 1, "%s", v);
	return 0;
}

static int
backoff_item(void *arg, const char *item, char *why, size_t whylen)
{
	struct job_type *t = arg;

	if (t->backoff_count == CONFIG_MAX_BACKOFF)
		return cv_why(why, whylen, "more than %d intervals",
		    CONFIG_MAX_BACKOFF);
	if (cv_parse_duration(item, 0, 0, 7 * DAY,
	    &t->backoff_list[t->backoff_count], why, whylen) == -1)
		return cv_why(why, whylen, "expected 'exponential' or a list "
		    "of durations (0..%lld seconds each)", 7 * DAY);
	t->backoff_count++;
	return 0;
}

static int
set_backoff(void *obj, const char *v, char *why, size_t whylen)
{
	struct job_type *t = obj, n;

	if (strcasecmp(v, "exponential") == 0) {
		t->backoff = BACKOFF_EXPONENTIAL;
		t->backoff_count = 0;
		return 0;
	}
	n.backoff_count = 0;
	if (cv_parse_list(v, 0, backoff_item, &n, why, whylen) == -1) {
		if (strcmp(why, "empty entry") == 0 ||
		    strcmp(why, "empty list") == 0)
			cv_why(why, whylen, "expected 'exponential' or a "
			    "list of durations");
		return -1;
	}
	t->backoff = BACKOFF_FIXED_LIST;
	memcpy(t->backoff_list, n.backoff_list,
	    sizeof(n.backoff_list[0]) * (size_t)n.backoff_count);
	t->backoff_count = n.backoff_count;
	return 0;
}

/* env_name_ok: a variable name jobd lets a config set or pass. */
static int
env_name_ok(const char *v, size_t len, char *why, size_t whylen)
{
	if (len == 0 || !(isalpha((unsigned char)v[0]) || v[0] == '_'))
		return cv_why(why, whylen, "bad variable name");
	for (size_t i = 0; i < len; i++)
		if (!isascii((unsigned char)v[i]) ||
		    !(isalnum((unsigned char)v[i]) || v[i] == '_'))
			return cv_why(why, whylen, "bad variable name");
	if (len >= 5 && strncmp(v, "JOBD_", 5) == 0)
		return cv_why(why, whylen, "JOBD_* variables are set by jobd");
	return 0;
}

/* env_put: add "NAME=VALUE" to a NULL-terminated list; a name given again
 * replaces its value unless keep (then the earlier one stays). */
static int
env_put(char **list, const char *v, int keep, char *why, size_t whylen)
{
	size_t klen = strcspn(v, "=");
	int n = 0;

	for (; list[n] != NULL; n++) {
		if (strncmp(list[n], v, klen) != 0 ||
		    (list[n][klen] != '=' && list[n][klen] != '\0'))
			continue;
		if (!keep) {
			char *s = strdup(v);

			if (s == NULL)
				return cv_why(why, whylen, "out of memory");
			free(list[n]);
			list[n] = s;
		}
		return 0;
	}
	if (n == CONFIG_MAX_ARGV)
		return cv_why(why, whylen, "more than %d variables",
		    CONFIG_MAX_ARGV);
	if ((list[n] = strdup(v)) == NULL)
		return cv_why(why, whylen, "out of memory");
	list[n + 1] = NULL;
	return 0;
}

static int
set_env(void *obj, const char *v, char *why, size_t whylen)
{
	const char *eq = strchr(v, '=');

	if (v[0] == '\0')
		return 0;               /* "env =": nothing more */
	if (eq == NULL || eq == v)
		return cv_why(why, whylen, "expected NAME=VALUE");
	if (env_name_ok(v, (size_t)(eq - v), why, whylen) == -1)
		return -1;
	return env_put(obj, v, 0, why, whylen);
}

static int
env_pass_item(void *arg, const char *name, char *why, size_t whylen)
{
	if (env_name_ok(name, strlen(name), why, whylen) == -1)
		return -1;
	return env_put(arg, name, 1, why, whylen);
}

static int
set_env_pass(void *obj, const char *v, char *why, size_t whylen)
{
	return cv_parse_list(v, 1, env_pass_item, obj, why, whylen);
}

static int
check_url(const char *v, char *why, size_t whylen)
{
	const char *host;

	if (strncmp(v, "http://", 7) == 0)
		host = v + 7;
	else if (strncmp(v, "https://", 8) == 0)
		host = v + 8;
	else
		return cv_why(why, whylen, "expected an http:// or https:// URL");
	if (*host == '\0' || *host == '/' || *host == ':')
		return cv_why(why, whylen, "missing host");
	if (strlen(v) > CONFIG_MAX_URL)
		return cv_why(why, whylen, "longer than %d bytes", CONFIG_MAX_URL);
	for (const char *p = v; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return cv_why(why, whylen, "blank or control character");
	return 0;
}

static int
hook_allow_item(void *arg, const char *item, char *why, size_t whylen)
{
	struct hook_allow *a = arg;

	if (a->n >= CONFIG_MAX_HOOK_PATTERNS)
		return cv_why(why, whylen, "more than %d patterns",
		    CONFIG_MAX_HOOK_PATTERNS);
	if (hook_check_pattern(item, why, whylen) == -1)
		return -1;
	snprintf(a->pat[a->n++], sizeof(a->pat[0]), "%s", item);
	return 0;
}

/* set_hook_allow: the URL patterns a callback_url must match. */
static int
set_hook_allow(void *obj, const char *v, char *why, size_t whylen)
{
	struct hook_allow *n = malloc(sizeof(*n));

	if (n == NULL)
		return cv_why(why, whylen, "out of memory");
	n->n = 0;
	if (cv_parse_list(v, 1, hook_allow_item, n, why, whylen) == -1) {
		free(n);
		return -1;
	}
	memcpy(obj, n, sizeof(*n));
	free(n);
	return 0;
}

/* ---- the rows ------------------------------------------------------------- */

/* config_shown: a value as messages and the dump show it. */
const char *
config_shown(const struct row *r, const char *value, char *buf, size_t len)
{
	if (r->flags & F_HIDDEN)
		return value[0] != '\0' ? "***" : value;
	return r->flags & F_SECRET ? redis_url_redact(value, buf, len) : value;
}

#define C(f) offsetof(struct config, f)
#define T(f) offsetof(struct job_type, f)

/* [jobd] and [access] */
const struct row config_main_rows[] = {
	{ "socket", SCOPE_JOBD, R_STRING, C(socket), 0, 0, 0, NULL,
	  check_socket, 0, "/run/jobd/jobd.sock", NULL,
	  "Path of the Unix socket the clients connect to (at most 107 "
	  "bytes); its directory is created (0755) if missing." },
	{ "socket_mode", SCOPE_JOBD, R_FUNC, C(socket_mode), 0, 07777, 0,
	  set_mode, NULL, 0, "0660", NULL,
	  "Mode of the socket, octal." },
	{ "socket_group", SCOPE_JOBD, R_STRING, C(socket_group), 0, 0, F_EMPTY,
	  NULL, check_group, 0, "", NULL,
	  "Group (name or number) of the socket; empty: leave it as created." },
	{ "redis", SCOPE_JOBD, R_STRING, C(redis), 0, 0, F_SECRET, NULL,
	  check_redis, 0, "managed", NULL,
	  "Redis: managed (jobd starts and supervises its own redis-server "
	  "on a Unix socket in state_dir, with AOF), or an external one: "
	  "redis://[USER:PASSWORD@]host[:port][/db] (a host name, IPv4 "
	  "or [IPv6]) or unix://[USER:PASSWORD@]/absolute/path[?db=N]; "
	  "behind Sentinels sentinel://[USER:PASSWORD@]host[:port][,...]"
	  "/MASTER[?db=N&sentinel_user=U&sentinel_password=P], or a Redis "
	  "Cluster cluster://[USER:PASSWORD@]host[:port][,...] "
	  "(docs/scaling.md).  USER "
	  "and PASSWORD percent-encoded (@ / ? # % and : in USER must be); "
	  "with a password every connection sends AUTH.  Messages show the "
	  "password as ***.  With redis_password_file, USER@ or no "
	  "credentials.  A change needs a restart." },
	{ "state_dir", SCOPE_JOBD, R_STRING, C(state_dir), 0, 0, 0, NULL,
	  check_state_dir, 0, "/var/lib/jobd", NULL,
	  "redis = managed: directory of the Redis socket (redis.sock), its "
	  "AOF (appendonlydir/), its log (redis.log) and pid (redis.pid), "
	  "and jobd.lock, which keeps a second jobd out; created 0700 if "
	  "missing.  Absolute, at most 96 bytes.  A change needs a restart." },
	{ "redis_server", SCOPE_JOBD, R_STRING, C(redis_server), 0, 0,
	  F_EMPTY, NULL, check_abs_path, 0, "", NULL,
	  "redis = managed: the redis-server program (absolute path); empty: "
	  "redis-server found on PATH.  A change needs a restart." },
	{ "redis_appendfsync", SCOPE_JOBD, R_STRING, C(redis_appendfsync), 0,
	  0, 0, NULL, check_appendfsync, 0, "everysec", NULL,
	  "redis = managed: when the AOF is flushed to disk: always (every "
	  "write: nothing acknowledged is lost), everysec (a crash of the "
	  "machine loses up to a second) or no (the kernel decides).  A "
	  "change needs a restart." },
	{ "redis_password_file", SCOPE_JOBD, R_STRING,
	  C(redis_password_file), 0, 0, F_EMPTY, NULL, check_any_path, 0, "",
	  NULL,
	  "File holding the Redis password (its first line; at most 512 "
	  "bytes), read at start and on reload, so that it is neither in the "
	  "configuration nor in ps; redis then names no password (a user "
	  "name, redis://USER@host, may stay).  A warning if others may read "
	  "it." },
	{ "prefix", SCOPE_JOBD, R_STRING, C(prefix), 0, 0, 0, NULL,
	  check_key_name, 0, "jobd", NULL,
	  "Key prefix: keys are PREFIX:{NAMESPACE}:...; 1..64 of A-Z a-z 0-9 "
	  "_ . : -." },
	{ "namespace", SCOPE_JOBD, R_STRING, C(ns), 0, 0, 0, NULL,
	  check_key_name, 0, "main", NULL,
	  "Redis hash tag of every key (same characters); hosts sharing a "
	  "namespace share queues." },
	{ "workers", SCOPE_JOBD, R_INT, C(workers), 0, CONFIG_MAX_WORKERS, 0,
	  NULL, NULL, 0, "0", NULL,
	  "Worker processes; 0: the number of online CPUs (at most 256)." },
	{ "queues", SCOPE_JOBD, R_FUNC, 0, 1, CONFIG_MAX_QUEUES, F_SELF,
	  set_queues, NULL, 0, "high, default, low", NULL,
	  "Queue names in priority order: a comma list of 1..16 names of "
	  "1..64 A-Z a-z 0-9 _ . -, no repeats." },
	{ "max_frame", SCOPE_JOBD, R_SIZE, C(max_frame), 64, GiB, F_SIZET,
	  NULL, NULL, 0, "8M", NULL,
	  "Largest request or reply frame." },
	{ "max_connections", SCOPE_JOBD, R_INT, C(max_connections), 1, 65536,
	  0, NULL, NULL, 0, "1024", NULL,
	  "Client connections at a time." },
	{ "max_pending", SCOPE_JOBD, R_INT, C(max_pending), 1, 65536, 0, NULL,
	  NULL, 0, "1024", NULL,
	  "Pipelined requests in flight per connection." },
	{ "max_buffered", SCOPE_JOBD, R_SIZE, C(max_buffered), MiB, TiB,
	  F_SIZET, NULL, NULL, 0, "256M", NULL,
	  "Memory budget of all client connections together: partial frames, "
	  "requests in flight and replies not yet sent.  Past it a request "
	  "gets busy, or its connection is closed.  Keep it at least twice "
	  "max_frame: a frame over three quarters of it always gets busy." },
	{ "frame_timeout", SCOPE_JOBD, R_DURATION, C(frame_timeout), 0, 3600,
	  F_OPEN, NULL, NULL, 0, "30", NULL,
	  "Time a request frame, once begun, has to arrive whole; past it "
	  "the connection is answered bad_request and closed." },
	{ "idle_timeout", SCOPE_JOBD, R_DURATION, C(idle_timeout), 0, DAY,
	  0, NULL, NULL, 0, "0", NULL,
	  "Close a connection that has sent nothing and waits for nothing "
	  "for this long; 0: never." },
	{ "max_waiters", SCOPE_JOBD, R_INT, C(max_waiters), 1, 1000000, 0,
	  NULL, NULL, 0, "10000", NULL,
	  "Pending wait requests, all connections together; past it a wait "
	  "gets busy." },
	{ "max_json_values", SCOPE_JOBD, R_INT, C(max_json_values), 1000,
	  100000000, 0, NULL, NULL, 0, "1000000", NULL,
	  "JSON values (numbers, strings, arrays, objects...) in one request; "
	  "past it the request gets bad_request before it is decoded." },
	{ "max_connections_per_user", SCOPE_JOBD, R_INT,
	  C(max_connections_per_user), 1, 65536, 0, NULL, NULL, 0, "128", NULL,
	  "Client connections one uid may hold at a time; admins (root, "
	  "jobd's own user, [access] admin) are not counted against it." },
	{ "admin_connections", SCOPE_JOBD, R_INT, C(admin_connections), 0,
	  65536, 0, NULL, NULL, 0, "16", NULL,
	  "Of max_connections, how many are kept for admins: others are "
	  "refused once only this many are left." },
	{ "max_inflight", SCOPE_JOBD, R_INT, C(max_inflight), 1, 65536, 0,
	  NULL, NULL, 0, "32", NULL,
	  "Requests to Redis one connection may have in flight; its further "
	  "requests wait, unread, until earlier ones are answered." },
	{ "max_inflight_total", SCOPE_JOBD, R_INT, C(max_inflight_total), 1,
	  1048576, 0, NULL, NULL, 0, "1024", NULL,
	  "Requests to Redis in flight for all connections together; beyond "
	  "it, connections take turns, one request each." },
	{ "max_inflight_bytes", SCOPE_JOBD, R_SIZE, C(max_inflight_bytes),
	  64 * 1024, GiB, F_SIZET, NULL, NULL, 0, "4M", NULL,
	  "Reply bytes expected of the large requests in flight to Redis "
	  "together (a request is large when its user's recent replies to "
	  "that op were over 64 KiB); one is always let through." },
	{ "builtins", SCOPE_JOBD, R_BOOL, C(builtins), 0, 1, 0, NULL, NULL, 0,
	  "yes", NULL,
	  "The builtin job types jobd.noop, jobd.echo, jobd.sleep, jobd.fail." },
	{ "accept_any_type", SCOPE_JOBD, R_BOOL, C(accept_any_type), 0, 1, 0,
	  NULL, NULL, 0, "no", NULL,
	  "Accept jobs of types that have no section (queue \"default\" or "
	  "the first, timeout 180 s, no retries); for tests." },
	{ "lease", SCOPE_JOBD, R_DURATION, C(lease), 1, 3600, 0, NULL, NULL, 0,
	  "30", NULL,
	  "How long a worker's hold on a running job lasts unrenewed; it is "
	  "renewed every lease/3." },
	{ "grace", SCOPE_JOBD, R_DURATION, C(grace), 0, 3600, 0, NULL, NULL, 0,
	  "5", NULL,
	  "Time between SIGTERM and SIGKILL of a handler." },
	{ "shutdown_grace", SCOPE_JOBD, R_DURATION, C(shutdown_grace), 0, DAY,
	  0, NULL, NULL, 0, "30", NULL,
	  "Time running jobs get to finish on SIGTERM." },
	{ "result_ttl", SCOPE_JOBD, R_DURATION, C(result_ttl), 0, YEAR,
	  F_WHOLE, NULL, NULL, 0, "1d", NULL,
	  "How long finished jobs are kept." },
	{ "failure_ttl", SCOPE_JOBD, R_DURATION, C(failure_ttl), 0, YEAR,
	  F_WHOLE, NULL, NULL, 0, "7d", NULL,
	  "How long failed and canceled jobs are kept." },
	{ "max_wait", SCOPE_JOBD, R_DURATION, C(max_wait), 0, DAY, F_OPEN,
	  NULL, NULL, 0, "1h", NULL,
	  "Longest wait request; longer waits are shortened to it." },
	{ "redis_timeout", SCOPE_JOBD, R_DURATION, C(redis_timeout), 1, 3600,
	  0, NULL, NULL, 0, "10", NULL,
	  "Time Redis may send nothing while the master waits for a reply; "
	  "then, unless it answers a PING on another connection (busy, not "
	  "dead), the link is dropped, requests in flight fail and jobd "
	  "reconnects." },
	{ "durable", SCOPE_JOBD, R_BOOL, C(durable), 0, 1, 0, NULL, NULL, 0,
	  "no", NULL,
	  "Answer a submit only once a replica of Redis has its jobs (WAIT 1 "
	  "durable_timeout), so that a failover cannot lose an acknowledged "
	  "job; not confirmed in time, the submit is answered in_doubt "
	  "(docs/scaling.md)." },
	{ "durable_timeout", SCOPE_JOBD, R_DURATION, C(durable_timeout), 0, 60,
	  F_OPEN, NULL, NULL, 0, "1", NULL,
	  "How long a durable submit waits for a replica to confirm; shorter "
	  "than redis_timeout.  Other requests of the daemon wait behind it." },
	{ "max_result", SCOPE_JOBD, R_SIZE, C(max_result), 1, 512 * MiB, 0,
	  NULL, NULL, 0, "1M", NULL,
	  "Bytes of a job's result kept." },
	{ "log_level", SCOPE_JOBD, R_FUNC, C(log_level), 0, 0, 0,
	  set_log_level, NULL, 0, "info", NULL,
	  "error, warning, notice, info or debug." },
	{ "log_target", SCOPE_JOBD, R_FUNC, 0, 0, 0, F_SELF,
	  set_log_target, NULL, 0, "stderr", NULL,
	  "stderr, syslog or file:PATH (an absolute path, appended to, "
	  "created 0640; SIGUSR1 reopens it).  A detached jobd (without -f) "
	  "uses syslog instead of stderr.  Under systemd, stderr lines carry "
	  "journal priorities.  A change needs a restart." },
	{ "log_format", SCOPE_JOBD, R_FUNC, C(log_format), 0, 0, 0,
	  set_log_format, NULL, 0, "text", NULL,
	  "text, or json: one object per line with ts, level, pid, role, msg "
	  "and job_id when the line is about a job." },
	{ "pidfile", SCOPE_JOBD, R_STRING, C(pidfile), 0, 0, F_EMPTY, NULL,
	  check_any_path, 0, "", NULL,
	  "Write the master's pid here; empty: no pidfile." },

	{ "submit", SCOPE_ACCESS, R_FUNC, C(acl_submit), 0, 0, 0, set_acl,
	  NULL, 0, "*", NULL,
	  "Who may submit, submit_many, progress (admins may too)." },
	{ "admin", SCOPE_ACCESS, R_FUNC, C(acl_admin), 0, 0, 0, set_acl, NULL,
	  0, "*", NULL,
	  "Who may cancel, requeue, delete, pause, resume, reload." },

	{ "listen", SCOPE_HTTP, R_STRING, C(http_listen), 0, 0, F_EMPTY, NULL,
	  check_listen, 0, "", NULL,
	  "Serve metrics, health and the JSON API (docs/monitoring.md) on "
	  "HOST:PORT ([IPv6]:PORT) or unix:/PATH, e.g. 127.0.0.1:9181; empty: off.  Say a loopback "
	  "address or a Unix socket unless others must reach it (any other "
	  "address is logged as a warning)." },
	{ "max_connections", SCOPE_HTTP, R_INT, C(http_max_connections), 1,
	  4096, 0, NULL, NULL, 0, "64", NULL,
	  "HTTP connections at a time; past it new ones are closed at once." },
	{ "max_header_size", SCOPE_HTTP, R_SIZE, C(http_max_header_size), 1024,
	  MiB, F_SIZET, NULL, NULL, 0, "8K", NULL,
	  "Largest request line and headers; more gets 400 and a close." },
	{ "max_body_size", SCOPE_HTTP, R_SIZE, C(http_max_body_size), 0, 16 * MiB,
	  F_SIZET, NULL, NULL, 0, "64K", NULL,
	  "Largest request body; more gets 413." },
	{ "request_timeout", SCOPE_HTTP, R_DURATION, C(http_request_timeout), 0,
	  3600, F_OPEN, NULL, NULL, 0, "10", NULL,
	  "Time a client has to send its request, and an idle connection "
	  "stays open; then it is closed." },
	{ "read_only", SCOPE_HTTP, R_BOOL, C(http_read_only), 0, 1, 0, NULL,
	  NULL, 0, "no", NULL,
	  "Refuse every action (POST /api/...) with 403: the dashboard and "
	  "the API only show." },
	{ "auth", SCOPE_HTTP, R_FUNC, C(http_auth), 0, 0, 0, set_http_auth,
	  NULL, 0, "none", NULL,
	  "none, or basic: every request needs a user of users_file (HTTP "
	  "basic authentication; 401 without)." },
	{ "users_file", SCOPE_HTTP, R_STRING, C(http_users_file), 0, 0,
	  F_EMPTY, NULL, check_abs_path, 0, "", NULL,
	  "Absolute path of the users of auth = basic: lines "
	  "user:crypt-hash:role (role admin or viewer; jobctl passwd makes "
	  "them); read at start and on reload." },
	{ "max_streams", SCOPE_HTTP, R_INT, C(http_max_streams), 1, 1024, 0,
	  NULL, NULL, 0, "64", NULL,
	  "Live update streams (GET /events) at a time; past it 503." },
	{ "stream_buffer", SCOPE_HTTP, R_SIZE, C(http_stream_buffer), 4096,
	  16 * MiB, F_SIZET, NULL, NULL, 0, "256K", NULL,
	  "Unsent bytes one live update stream may hold (a reader that does "
	  "not read); past it the stream is closed." },

	{ "allow", SCOPE_WEBHOOKS, R_FUNC, C(hook_allow), 0, 0, 0,
	  set_hook_allow, NULL, 0, "", NULL,
	  "Shell-style patterns (http:// or https://, comma-separated) a "
	  "submit's callback_url must match; empty: callback_url is refused.  "
	  "A '*' in the host part does not reach into the path." },
	{ "secret", SCOPE_WEBHOOKS, R_STRING, C(hook_secret), 0, 0,
	  F_EMPTY | F_HIDDEN, NULL, NULL, 0, "", NULL,
	  "The HMAC-SHA256 key of the X-Jobd-Signature header (at least 16 "
	  "bytes); or secret_file.  Shown as ***." },
	{ "secret_file", SCOPE_WEBHOOKS, R_STRING, C(hook_secret_file), 0, 0,
	  F_EMPTY, NULL, check_abs_path, 0, "", NULL,
	  "Absolute path of a file whose first line is the key (read at start "
	  "and on reload); instead of secret." },
};

/* [types] and [type:NAME]: the settings of a job type */
const struct row config_type_rows[] = {
	{ "handler", SCOPE_TYPE, R_FUNC, T(kind), 0, 0, 0, set_handler, NULL,
	  K_ALL, NULL, "exec",
	  "exec, http or builtin (required)." },
	{ "command", SCOPE_TYPE, R_FUNC, T(argv), 0, 0, 0, set_command, NULL,
	  K_EXEC, NULL, "/usr/bin/python3 -m storyapp.jobs generate",
	  "The program and its arguments: words split on blanks, \"double "
	  "quotes\" group (\\\" and \\\\ inside them), or a JSON array of "
	  "strings.  No shell, no PATH search: the program is a path.  The "
	  "job record arrives on stdin (required for exec)." },
	{ "persistent", SCOPE_TYPE, R_BOOL, T(persistent), 0, 1, 0, NULL, NULL,
	  K_EXEC, "no", NULL,
	  "Keep one process and send it one job per line (see docs/jobd.md)." },
	{ "url", SCOPE_TYPE, R_STRING, T(url), 0, 0, 0, NULL, check_url,
	  K_HTTP, NULL, "http://127.0.0.1:8080/hook",
	  "http or https URL the job record is POSTed to as JSON; a 2xx JSON "
	  "answer is the result (required for http)." },
	{ "builtin", SCOPE_TYPE, R_FUNC, T(builtin), 0, 0, 0, set_builtin,
	  NULL, K_BUILTIN, NULL, "sleep",
	  "noop, echo, sleep or fail (required for builtin)." },
	{ "queue", SCOPE_TYPE, R_FUNC, T(queue), 0, 0, 0, set_queue, NULL,
	  K_ALL, "", "default",
	  "Default queue of the type, one of queues; empty: \"default\" if "
	  "configured, else the first queue." },
	{ "limit", SCOPE_TYPE, R_FUNC, T(limit), 0, 0, 0, set_limit, NULL,
	  K_ALL, "", NULL,
	  "A [limit:NAME] its jobs start under (concurrency and rate shared "
	  "by every daemon on the Redis); empty: none." },
	{ "timeout", SCOPE_TYPE, R_DURATION, T(timeout), 0, 7 * DAY, F_OPEN,
	  NULL, NULL, K_ALL, "180", "10m",
	  "How long a job may run." },
	{ "retries", SCOPE_TYPE, R_INT, T(retries), 0, 100, 0, NULL, NULL,
	  K_ALL, "0", "2",
	  "Retries after a failure." },
	{ "backoff", SCOPE_TYPE, R_FUNC, 0, 0, 0, F_SELF, set_backoff, NULL,
	  K_ALL, "exponential", NULL,
	  "Delay before a retry: \"exponential\" (backoff_base * 2^(n-1), at "
	  "most backoff_max) or a comma list of durations, the last one "
	  "repeated.  Up to 20% random jitter is added." },
	{ "backoff_base", SCOPE_TYPE, R_DURATION, T(backoff_base), 0, DAY,
	  F_OPEN, NULL, NULL, K_ALL, "2", NULL,
	  "First delay of the exponential backoff." },
	{ "backoff_max", SCOPE_TYPE, R_DURATION, T(backoff_max), 0, 7 * DAY,
	  F_OPEN, NULL, NULL, K_ALL, "5m", NULL,
	  "Longest delay of the exponential backoff." },
	{ "max_output", SCOPE_TYPE, R_SIZE, T(max_output), 1, GiB, 0, NULL,
	  NULL, K_ALL, "1M", NULL,
	  "Bytes of handler output accepted." },
	{ "user", SCOPE_TYPE, R_STRING, T(user), 0, 0, F_EMPTY, NULL,
	  check_user, K_ALL, "", NULL,
	  "Run the handler as this user (jobd must run as root); empty: as "
	  "jobd." },
	{ "cwd", SCOPE_TYPE, R_STRING, T(cwd), 0, 0, F_EMPTY, NULL,
	  check_abs_path, K_ALL, "", NULL,
	  "Working directory of the handler (absolute); empty: /." },
	{ "env", SCOPE_TYPE, R_FUNC, T(env), 0, 0, F_ADD, set_env, NULL, K_ALL,
	  "", "STORY_DB=/var/lib/story/stories.db",
	  "Extra environment, NAME=VALUE; each line adds one, up to 64 (a "
	  "name given again replaces its value; JOBD_* names are reserved)." },
	{ "env_pass", SCOPE_TYPE, R_FUNC, T(env_pass), 0, 0, F_ADD,
	  set_env_pass, NULL, K_ALL, "", "LANG, TZ",
	  "Comma list of variables of jobd's own environment handed to the "
	  "handler when set there; they replace env values of the same "
	  "name." },
	{ "limit_cpu", SCOPE_TYPE, R_DURATION, T(limit_cpu), 0, 7 * DAY,
	  F_WHOLE, NULL, NULL, K_EXEC, "0", NULL,
	  "CPU time of the handler process (RLIMIT_CPU; past it SIGXCPU, then "
	  "SIGKILL); 0: inherited from jobd." },
	{ "limit_memory", SCOPE_TYPE, R_SIZE, T(limit_memory), 16 * MiB,
	  1024 * GiB, F_ZERO, NULL, NULL, K_EXEC, "0", NULL,
	  "Address space of the handler process (RLIMIT_AS); 0: inherited." },
	{ "limit_files", SCOPE_TYPE, R_INT, T(limit_files), 8, 1048576,
	  F_ZERO | F_LL, NULL, NULL, K_EXEC, "0", NULL,
	  "Open files of the handler process (RLIMIT_NOFILE); 0: inherited." },
};
/* [cron:NAME]: a periodic job (docs/jobd.md, "Periodic jobs") */
#define CR(f) offsetof(struct cron_entry, f)
const struct row config_cron_rows[] = {
	{ "schedule", SCOPE_CRON, R_FUNC, 0, 0, 0, F_SELF, set_schedule, NULL,
	  0, NULL, "0 3 * * *",
	  "When: 5 fields (minute hour day-of-month month day-of-week: *, "
	  "N, N-M, lists, /STEP, jan..dec, sun..sat) or @yearly, @annually, "
	  "@monthly, @weekly, @daily, @midnight, @hourly (required)." },
	{ "type", SCOPE_CRON, R_FUNC, CR(type), 0, 0, 0, set_cron_type, NULL,
	  0, NULL, "generate_story",
	  "The job type submitted at each tick, a configured [type:NAME] "
	  "(required)." },
	{ "payload", SCOPE_CRON, R_FUNC, CR(payload), 0, 0, 0, set_payload,
	  NULL, 0, "{}", "{\"cleanup\": true}",
	  "The job's payload, JSON (up to 16K, 32 levels)." },
	{ "queue", SCOPE_CRON, R_FUNC, CR(queue), 0, 0, 0, set_queue, NULL, 0,
	  "", NULL,
	  "Queue of the jobs, one of queues; empty: the type's." },
	{ "timezone", SCOPE_CRON, R_FUNC, CR(timezone), 0, 0, 0, set_timezone,
	  NULL, 0, "UTC", "Europe/Berlin",
	  "IANA time zone the schedule is read in (/usr/share/zoneinfo)." },
	{ "misfire", SCOPE_CRON, R_FUNC, CR(misfire_once), 0, 0, 0,
	  set_misfire, NULL, 0, "skip", NULL,
	  "Ticks that passed while no daemon ran: skip (none run), or once "
	  "(the latest of them runs once when a daemon starts)." },
};
#define NCRON ((int)(sizeof(config_cron_rows) / sizeof(config_cron_rows[0])))
#define NMAIN ((int)(sizeof(config_main_rows) / sizeof(config_main_rows[0])))
#define NTYPE ((int)(sizeof(config_type_rows) / sizeof(config_type_rows[0])))

const char *const config_scope_names[] = { "jobd", "access", "http",
    "webhooks", "type:NAME", "cron:NAME" };
const int config_nmain = NMAIN, config_ntype = NTYPE, config_ncron = NCRON;

int
config_setting_info(int i, struct config_setting_info *out)
{
	const struct row *r;

	if (i < 0 || i >= NMAIN + NTYPE + NCRON)
		return -1;
	r = i < NMAIN ? &config_main_rows[i] : i < NMAIN + NTYPE ?
	    &config_type_rows[i - NMAIN] : &config_cron_rows[i - NMAIN - NTYPE];
	memset(out, 0, sizeof(*out));
	out->section = r->scope == SCOPE_TYPE ? "types" : config_scope_names[r->scope];
	out->name = r->name;
	out->def = r->def;
	out->doc = r->doc;
	out->bounded = r->kind == R_INT || r->kind == R_SIZE ||
	    r->kind == R_DURATION;
	out->min = r->min;
	out->max = r->max;
	out->min_open = (r->flags & F_OPEN) != 0;
	out->zero_ok = (r->flags & F_ZERO) != 0;
	return 0;
}

/* config_find_row: the row called key in scope, or NULL. */
const struct row *
config_find_row(enum row_scope scope, const char *key)
{
	const struct row *t = scope == SCOPE_TYPE ? config_type_rows :
	    scope == SCOPE_CRON ? config_cron_rows : config_main_rows;
	int n = scope == SCOPE_TYPE ? NTYPE : scope == SCOPE_CRON ? NCRON :
	    NMAIN;

	for (int i = 0; i < n; i++)
		if (t[i].scope == scope && strcmp(t[i].name, key) == 0)
			return &t[i];
	return NULL;
}

/* row_apply: parse v by row r into base (a config or a job type).  On
 * error base is unchanged (but for F_ADD lists, which only grow). */
static int
row_apply(const struct row *r, void *base, const char *v, char *why,
          size_t whylen)
{
	char *p = (char *)base + r->off;
	long long ll = 0;
	double d = 0;     /* set by cv_parse_duration; the analyzer cannot tell */

	if ((r->flags & F_ZERO) && strcmp(v, "0") == 0) {
		if (r->kind == R_INT)
			*(int *)p = 0;
		else
			*(long long *)p = 0;
		return 0;
	}
	switch (r->kind) {
	case R_BOOL:
		return cv_parse_bool(v, (int *)p, why, whylen);
	case R_INT:
		if (cv_parse_ll(v, (long long)r->min, (long long)r->max, &ll, why,
		    whylen) == -1)
			return -1;
		if (r->flags & F_LL)
			*(long long *)p = ll;
		else
			*(int *)p = (int)ll;
		return 0;
	case R_SIZE:
		if (cv_parse_size(v, (long long)r->min, (long long)r->max, &ll, why,
		    whylen) == -1)
			return -1;
		if (r->flags & F_SIZET)
			*(size_t *)p = (size_t)ll;
		else
			*(long long *)p = ll;
		return 0;
	case R_DURATION:
		if (cv_parse_duration(v, r->min, (r->flags & F_OPEN) != 0, r->max,
		    &d, why, whylen) == -1)
			return -1;
		if (!(r->flags & F_WHOLE)) {
			*(double *)p = d;
			return 0;
		}
		if (d != floor(d))
			return cv_why(why, whylen,
			    "not a number of whole seconds");
		*(long long *)p = (long long)d;
		return 0;
	case R_STRING: {
		char *s = NULL;

		if (!((r->flags & F_EMPTY) && v[0] == '\0')) {
			if (r->check != NULL && r->check(v, why, whylen) == -1)
				return -1;
			if ((s = strdup(v)) == NULL)
				return cv_why(why, whylen, "out of memory");
		}
		free(*(char **)p);
		*(char **)p = s;
		return 0;
	}
	case R_FUNC:
		return r->set(r->flags & F_SELF ? base : p, v, why, whylen);
	}
	return cv_why(why, whylen, "bad row");
}

/* ---- types ---------------------------------------------------------------- */

static void
type_free(struct job_type *t)
{
	free_argv(t->argv);
	free_argv(t->env);
	free_argv(t->env_pass);
	free(t->url);
	free(t->user);
	free(t->cwd);
}

/* type_init: a type with the rows' defaults. */
static void
type_init(struct job_type *t, const char *name)
{
	char why[256];

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->kind = HANDLER_EXEC;
	for (int i = 0; i < NTYPE; i++)
		if (config_type_rows[i].def != NULL && !(config_type_rows[i].flags & F_ADD))
			(void)row_apply(&config_type_rows[i], t, config_type_rows[i].def, why,
			    sizeof(why));
}

/* add_type: a new type with defaults at the end of cfg->types, or NULL. */
static struct job_type *
add_type(struct config *cfg, const char *name)
{
	struct job_type *nt;

	if (cfg->ntypes >= CONFIG_MAX_TYPES)
		return NULL;
	nt = realloc(cfg->types, (size_t)(cfg->ntypes + 1) * sizeof(*nt));
	if (nt == NULL)
		return NULL;
	cfg->types = nt;
	type_init(&nt[cfg->ntypes], name);
	return &nt[cfg->ntypes++];
}

/* type_check: the handler has what it needs and nothing of another kind's.
 * On error *key is the setting to blame. */
static int
type_check(const struct config *cfg, const struct job_type *t,
           const char **key, char *why, size_t whylen)
{
	static const char *const needs[] = { "builtin", "command", "url" };
	int has[] = { t->builtin[0] != '\0', t->argv[0] != NULL,
	    t->url != NULL };
	static const char *const kind_names[] = { "builtin", "exec", "http" };

	if (!has[t->kind]) {
		*key = needs[t->kind];
		return cv_why(why, whylen, "required for handler %s%s",
		    kind_names[t->kind], t->kind == HANDLER_BUILTIN ?
		    " (noop, echo, sleep or fail)" : "");
	}
	for (int k = 0; k < 3; k++) {
		if (k != (int)t->kind && has[k]) {
			*key = needs[k];
			return cv_why(why, whylen, "only for handler %s",
			    kind_names[k]);
		}
	}
	if (t->kind != HANDLER_EXEC && (t->persistent || t->limit_cpu != 0 ||
	    t->limit_memory != 0 || t->limit_files != 0)) {
		*key = t->persistent ? "persistent" : t->limit_cpu != 0 ?
		    "limit_cpu" : t->limit_memory != 0 ? "limit_memory" :
		    "limit_files";
		return cv_why(why, whylen, "only for handler exec");
	}
	if (t->queue[0] != '\0' && config_queue_index(cfg, t->queue) < 0) {
		*key = "queue";
		return cv_why(why, whylen,
		    "not one of the configured queues: '%s'", t->queue);
	}
	return 0;
}

/* ---- cron entries ------------------------------------------------------------ */

static void
cron_free_entry(struct cron_entry *e)
{
	free(e->schedule);
	free(e->payload);
}

/* config_find_cron: the [cron:NAME] called name, or NULL. */
static struct cron_entry *
find_cron(const struct config *cfg, const char *name)
{
	for (int i = 0; i < cfg->ncrons; i++)
		if (strcmp(cfg->crons[i].name, name) == 0)
			return &cfg->crons[i];
	return NULL;
}

/* add_cron: a new entry with the rows' defaults, or NULL. */
static struct cron_entry *
add_cron(struct config *cfg, const char *name)
{
	struct cron_entry *n, *e;
	char why[256];

	if (cfg->ncrons >= CONFIG_MAX_CRONS)
		return NULL;
	n = realloc(cfg->crons, (size_t)(cfg->ncrons + 1) * sizeof(*n));
	if (n == NULL)
		return NULL;
	cfg->crons = n;
	e = &n[cfg->ncrons];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	for (int i = 0; i < NCRON; i++) {
		const struct row *r = &config_cron_rows[i];

		if (r->def != NULL && r->set(r->flags & F_SELF ? (void *)e :
		    (char *)e + r->off, r->def, why, sizeof(why)) == -1)
			return NULL;
	}
	cfg->ncrons++;
	return e;
}

/* cron_check: what a [cron:NAME] needs once every section is read. */
static int
cron_check(const struct config *cfg, const struct cron_entry *e,
           const char **key, char *why, size_t whylen)
{
	if (e->schedule == NULL) {
		*key = "schedule";
		return cv_why(why, whylen, "required (5 fields or an @ alias)");
	}
	if (e->type[0] == '\0') {
		*key = "type";
		return cv_why(why, whylen, "required (a configured job type)");
	}
	if (config_find_type(cfg, e->type) == NULL && !cfg->accept_any_type) {
		*key = "type";
		return cv_why(why, whylen, "no [type:%s] (nor accept_any_type)",
		    e->type);
	}
	if (e->queue[0] != '\0' && config_queue_index(cfg, e->queue) < 0) {
		*key = "queue";
		return cv_why(why, whylen,
		    "not one of the configured queues: '%s'", e->queue);
	}
	return 0;
}

/* ---- notes ------------------------------------------------------------------ */

static int
note_add(struct config *cfg, int type, const struct row *row,
         const char *value,
         const char *where)
{
	struct config_note *n;

	n = realloc(cfg->notes, (size_t)(cfg->nnotes + 1) * sizeof(*n));
	if (n == NULL)
		return -1;
	cfg->notes = n;
	n += cfg->nnotes;
	n->type = type;
	n->row = row;
	n->value = strdup(value);
	n->where = strdup(where != NULL ? where : "");
	if (n->value == NULL || n->where == NULL) {
		free(n->value);
		free(n->where);
		return -1;
	}
	cfg->nnotes++;
	return 0;
}

/* config_note_last: the last note of (type, row), or NULL. */
const struct config_note *
config_note_last(const struct config *cfg, int type, const struct row *row)
{
	for (int i = cfg->nnotes - 1; i >= 0; i--)
		if (cfg->notes[i].type == type && cfg->notes[i].row == row)
			return &cfg->notes[i];
	return NULL;
}

/* ---- setting one value ---------------------------------------------------------- */

/* set_one: apply SECTION.KEY = VALUE (the section without brackets) from
 * where ("FILE:LINE", "-o ARG" or NULL); header: the [type:NAME] line
 * itself (key NULL).  Errors read "WHERE: [SECTION] KEY: WHY: 'VALUE'". */
static int
set_one(struct config *cfg, const char *section, const char *key,
        const char *value, const char *where, int in_file, char *err,
        size_t errlen)
{
	const char *pfx = where != NULL && where[0] != '\0' ? where : "";
	const char *sep = pfx[0] != '\0' ? ": " : "";
	enum row_scope scope;
	const struct row *row;
	int type = NOTE_MAIN;
	void *base = cfg;
	struct job_type scratch;
	char why[256], shbuf[512];

	if (strcmp(section, "jobd") == 0) {
		scope = SCOPE_JOBD;
	} else if (strcmp(section, "access") == 0) {
		scope = SCOPE_ACCESS;
	} else if (strcmp(section, "http") == 0) {
		scope = SCOPE_HTTP;
	} else if (strcmp(section, "webhooks") == 0) {
		scope = SCOPE_WEBHOOKS;
	} else if (strcmp(section, "types") == 0) {
		scope = SCOPE_TYPE;
		type = NOTE_TYPES;
	} else if (strncmp(section, "type:", 5) == 0) {
		const struct job_type *t;

		if (!cv_valid_name(section + 5, TYPE_CHARS)) {
			snprintf(err, errlen, "%s%s[%.*s]: bad type name (1..%d "
			    "of A-Z a-z 0-9 _ . : -)", pfx, sep,
			    CONFIG_NAME_MAX + 5, section, CONFIG_NAME_MAX);
			return -1;
		}
		scope = SCOPE_TYPE;
		t = config_find_type(cfg, section + 5);
		if (t != NULL && key == NULL && in_file) {
			const struct config_note *h = config_note_last(cfg,
			    (int)(t - cfg->types), ROW_HEADER);
			const char *colon = strrchr(pfx, ':');
			size_t n = colon != NULL ? (size_t)(colon - pfx) : 0;

			/* a second header in the same file is a mistake;
			 * an include may add to a type */
			if (h != NULL && n > 0 && strncmp(h->where, pfx, n) == 0
			    && h->where[n] == ':') {
				snprintf(err, errlen, "%s%s[%s]: duplicate type",
				    pfx, sep, section);
				return -1;
			}
		}
		if (t == NULL) {
			if ((t = add_type(cfg, section + 5)) == NULL) {
				snprintf(err, errlen, "%s%s[%s]: too many types "
				    "(at most %d) or out of memory", pfx, sep,
				    section, CONFIG_MAX_TYPES);
				return -1;
			}
		}
		type = (int)(t - cfg->types);
		base = &cfg->types[type];
		if (key == NULL) {
			if (config_note_last(cfg, type, ROW_HEADER) == NULL ||
			    in_file) {
				if (note_add(cfg, type, ROW_HEADER, "", where)
				    == -1)
					goto oom;
			}
			return 0;
		}
	} else if (strncmp(section, "cron:", 5) == 0) {
		struct cron_entry *e;

		if (!cv_valid_name(section + 5, "_.-")) {
			snprintf(err, errlen, "%s%s[%.*s]: bad schedule name (1..%d "
			    "of A-Z a-z 0-9 _ . -)", pfx, sep,
			    CONFIG_NAME_MAX + 5, section, CONFIG_NAME_MAX);
			return -1;
		}
		scope = SCOPE_CRON;
		e = find_cron(cfg, section + 5);
		if (e != NULL && key == NULL && in_file &&
		    config_note_last(cfg, NOTE_CRON((int)(e - cfg->crons)),
		    ROW_HEADER) != NULL) {
			snprintf(err, errlen, "%s%s[%s]: duplicate schedule", pfx,
			    sep, section);
			return -1;
		}
		if (e == NULL && (e = add_cron(cfg, section + 5)) == NULL) {
			snprintf(err, errlen, "%s%s[%s]: too many schedules (at "
			    "most %d) or out of memory", pfx, sep, section,
			    CONFIG_MAX_CRONS);
			return -1;
		}
		type = NOTE_CRON((int)(e - cfg->crons));
		base = e;
		if (key == NULL) {
			if ((config_note_last(cfg, type, ROW_HEADER) == NULL ||
			    in_file) && note_add(cfg, type, ROW_HEADER, "", where)
			    == -1)
				goto oom;
			return 0;
		}
	} else if (strncmp(section, "limit:", 6) == 0) {
		if (config_limit_set(cfg, section + 6, key, value, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "%s%s[%.*s]%s%s: %s%s%.*s%s", pfx, sep,
			    CONFIG_NAME_MAX + 6, section, key ? " " : "",
			    key ? key : "", why, key ? ": '" : "", 64, key ? value : "",
			    key ? "'" : "");
			return -1;
		}
		return 0;
	} else {
		snprintf(err, errlen, "%s%s[%.*s]: unknown section (expected "
		    "[jobd], [access], [http], [webhooks], [types], [type:NAME], "
		    "[cron:NAME] or [limit:NAME])", pfx, sep, CONFIG_NAME_MAX + 5,
		    section);
		return -1;
	}
	if (key == NULL)
		return 0;
	if ((row = config_find_row(scope, key)) == NULL) {
		snprintf(err, errlen, "%s%s[%s] %s: unknown setting: '%s'", pfx,
		    sep, section, key, value);
		return -1;
	}
	if (type == NOTE_TYPES) {
		/* checked now on a scratch type, applied in config_finish */
		type_init(&scratch, "types");
		base = &scratch;
	}
	if (row_apply(row, base, value, why, sizeof(why)) == -1) {
		if (type == NOTE_TYPES)
			type_free(&scratch);
		snprintf(err, errlen, "%s%s[%s] %s: %s: '%s'", pfx, sep, section,
		    key, why, config_shown(row, value, shbuf, sizeof(shbuf)));
		return -1;
	}
	if (type == NOTE_TYPES)
		type_free(&scratch);
	if (note_add(cfg, type, row, value, where) == -1)
		goto oom;
	return 0;
oom:
	snprintf(err, errlen, "%s%sout of memory", pfx, sep);
	return -1;
}

int
config_set(struct config *cfg, const char *section, const char *key,
           const char *value, char *err, size_t errlen)
{
	if (cfg == NULL || section == NULL || key == NULL || value == NULL) {
		snprintf(err, errlen, "config_set: missing argument");
		return -1;
	}
	if ((strncmp(section, "type:", 5) == 0 ||
	    strncmp(section, "cron:", 5) == 0) &&
	    set_one(cfg, section, NULL, "", NULL, 0, err, errlen) == -1)
		return -1;
	return set_one(cfg, section, key, value, NULL, 0, err, errlen);
}

int
config_override(struct config *cfg, const char *arg, char *err, size_t errlen)
{
	char where[96], section[CONFIG_NAME_MAX + 8], key[CONFIG_NAME_MAX + 1];
	const char *eq = strchr(arg, '='), *dot;
	size_t slen, klen;

	snprintf(where, sizeof(where), "-o %.*s%s", 60, arg,
	    strlen(arg) > 60 ? "..." : "");
	if (eq == NULL) {
		snprintf(err, errlen, "%s: expected SECTION.KEY=VALUE",
		    where);
		return -1;
	}
	/* keys have no dot; type names may: the last dot ends the section */
	for (dot = eq; dot > arg && dot[-1] != '.'; dot--)
		;
	if (dot == arg) {
		snprintf(err, errlen, "%s: expected SECTION.KEY=VALUE "
		    "(e.g. jobd.workers=4)", where);
		return -1;
	}
	slen = (size_t)(dot - 1 - arg);
	klen = (size_t)(eq - dot);
	while (klen > 0 && isspace((unsigned char)dot[klen - 1]))
		klen--;
	if (slen == 0 || slen >= sizeof(section) || klen == 0 ||
	    klen >= sizeof(key)) {
		snprintf(err, errlen, "%s: expected SECTION.KEY=VALUE", where);
		return -1;
	}
	memcpy(section, arg, slen);
	section[slen] = '\0';
	memcpy(key, dot, klen);
	key[klen] = '\0';
	if (strcmp(key, "include") == 0) {
		snprintf(err, errlen, "%s: include is for files, not -o", where);
		return -1;
	}
	eq++;
	eq += strspn(eq, " \t");
	for (const char *p = eq; *p != '\0'; p++) {
		if ((unsigned char)*p < ' ' && *p != '\t') {
			snprintf(err, errlen, "%s: control character in the "
			    "value", where);
			return -1;
		}
	}
	if ((strncmp(section, "type:", 5) == 0 ||
	    strncmp(section, "cron:", 5) == 0) &&
	    set_one(cfg, section, NULL, "", where, 0, err, errlen) == -1)
		return -1;
	return set_one(cfg, section, key, eq, where, 0, err, errlen);
}

/* ---- from the INI reader --------------------------------------------------- */

_Static_assert(INI_KEY_MAX == CONFIG_NAME_MAX, "ini.h's key length");

static int
ini_section(void *arg, const char *section, const char *file, int line,
            char *err, size_t errlen)
{
	char where[CONFIG_MAX_PATH + 32];

	snprintf(where, sizeof(where), "%s:%d", file, line);
	if (strncmp(section, "type:", 5) == 0 ||
	    strncmp(section, "cron:", 5) == 0 ||
	    strncmp(section, "limit:", 6) == 0)
		return set_one(arg, section, NULL, "", where, 1, err, errlen);
	if (strcmp(section, "jobd") != 0 && strcmp(section, "access") != 0 &&
	    strcmp(section, "http") != 0 && strcmp(section, "webhooks") != 0 &&
	    strcmp(section, "types") != 0)
		return set_one(arg, section, "", "", where, 1, err, errlen);
	return 0;
}

static int
ini_setting(void *arg, const char *section, const char *key,
            const char *value, const char *file, int line, char *err,
            size_t errlen)
{
	char where[CONFIG_MAX_PATH + 32];

	snprintf(where, sizeof(where), "%s:%d", file, line);
	return set_one(arg, section, key, value, where, 1, err, errlen);
}

/* ---- building, finishing, freeing -------------------------------------------- */

static unsigned long config_serial;

/* config_new_bare: every row's default, no types, workers still 0. */
static struct config *
config_new_bare(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	char why[256];

	if (cfg == NULL)
		return NULL;
	cfg->serial = ++config_serial;
	for (int i = 0; i < NMAIN; i++) {
		if (row_apply(&config_main_rows[i], cfg, config_main_rows[i].def, why,
		    sizeof(why)) == -1) {
			config_free(cfg);
			return NULL;
		}
	}
	return cfg;
}

struct config *
config_new_default(void)
{
	struct config *cfg = config_new_bare();
	char err[256];

	if (cfg != NULL && config_finish(cfg, err, sizeof(err)) == -1) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (int i = 0; i < cfg->ntypes; i++)
		type_free(&cfg->types[i]);
	for (int i = 0; i < cfg->ncrons; i++)
		cron_free_entry(&cfg->crons[i]);
	free(cfg->crons);
	for (int i = 0; i < cfg->nnotes; i++) {
		free(cfg->notes[i].value);
		free(cfg->notes[i].where);
	}
	free(cfg->notes);
	free(cfg->types);
	free(cfg->limits);
	free(cfg->path);
	free(cfg->socket);
	free(cfg->socket_group);
	free(cfg->redis);
	free(cfg->state_dir);
	free(cfg->redis_server);
	free(cfg->redis_server_exe);
	free(cfg->redis_appendfsync);
	free(cfg->redis_password_file);
	if (cfg->redis_password != NULL) {
		explicit_bzero(cfg->redis_password, strlen(cfg->redis_password));
		free(cfg->redis_password);
	}
	free(cfg->prefix);
	free(cfg->ns);
	free(cfg->pidfile);
	free(cfg->log_file);
	free(cfg->http_listen);
	free(cfg->http_users_file);
	free(cfg->hook_secret_file);
	if (cfg->hook_secret != NULL)
		explicit_bzero(cfg->hook_secret, strlen(cfg->hook_secret));
	free(cfg->hook_secret);
	if (cfg->hook_key != NULL)
		explicit_bzero(cfg->hook_key, strlen(cfg->hook_key));
	free(cfg->hook_key);
	http_users_free(cfg->http_users);
	free(cfg);
}

const struct job_type *
config_find_type(const struct config *cfg, const char *name)
{
	if (cfg == NULL || name == NULL)
		return NULL;
	for (int i = 0; i < cfg->ntypes; i++)
		if (strcmp(cfg->types[i].name, name) == 0)
			return &cfg->types[i];
	return NULL;
}

int
config_queue_index(const struct config *cfg, const char *name)
{
	if (cfg == NULL || name == NULL)
		return -1;
	for (int i = 0; i < cfg->nqueues; i++)
		if (strcmp(cfg->queues[i], name) == 0)
			return i;
	return -1;
}

/* add_builtins: the jobd.* types a config does not define itself. */
static int
add_builtins(struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < NBUILTINS; i++) {
		char name[CONFIG_NAME_MAX + 8];
		const char *set[][2] = {
			{ "handler", "builtin" }, { "builtin", builtin_names[i] },
			{ "timeout", "60" },
		};

		snprintf(name, sizeof(name), "type:jobd.%s", builtin_names[i]);
		if (config_find_type(cfg, name + 5) != NULL)
			continue;
		if (set_one(cfg, name, NULL, "", WHERE_BUILTIN, 0, err,
		    errlen) == -1)
			return -1;
		for (size_t j = 0; j < 3; j++)
			if (set_one(cfg, name, set[j][0], set[j][1],
			    WHERE_BUILTIN, 0, err, errlen) == -1)
				return -1;
	}
	return 0;
}

/* inherit: the [types] settings a type does not set itself (and that are
 * for its handler), in row order so that handler comes first.  env and
 * env_pass merge by name, the type's own entries winning. */
static int
inherit(struct config *cfg, int ti, char *err, size_t errlen)
{
	struct job_type *t = &cfg->types[ti];
	char why[256];

	for (const struct row *r = config_type_rows; r < config_type_rows + NTYPE; r++) {
		if (!(r->flags & F_ADD) && config_note_last(cfg, ti, r) != NULL)
			continue;
		for (int i = 0; i < cfg->nnotes; i++) {
			const struct config_note *n = &cfg->notes[i];
			char **list = (char **)((char *)t + r->off);
			int rc;

			if (n->type != NOTE_TYPES || n->row != r ||
			    !(r->handlers & (1u << t->kind)))
				continue;
			if (r->flags & F_ADD) {
				rc = strcmp(r->name, "env") == 0 ?
				    env_put(list, n->value, 1, why, sizeof(why)) :
				    cv_parse_list(n->value, 1, env_pass_item, list,
				    why, sizeof(why));
			} else {
				rc = row_apply(r, t, n->value, why,
				    sizeof(why));
			}
			if (rc == -1) {
				snprintf(err, errlen, "%s: [type:%s] %s: %s "
				    "(from [types])", n->where, t->name,
				    r->name, why);
				return -1;
			}
		}
	}
	return 0;
}

/* pass_env: the env_pass variables set in jobd's environment, now (at
 * load and at each reload). */
static int
pass_env(struct job_type *t, char *why, size_t whylen)
{
	for (int i = 0; t->env_pass[i] != NULL; i++) {
		const char *v = getenv(t->env_pass[i]);
		char *kv;
		int rc;

		if (v == NULL)
			continue;
		if (asprintf(&kv, "%s=%s", t->env_pass[i], v) == -1)
			return cv_why(why, whylen, "out of memory");
		rc = env_put(t->env, kv, 0, why, whylen);
		free(kv);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* read_password: the first line of path (without its end of line), at
 * most REDIS_URL_CRED_MAX bytes, into a new string in *out; setting names
 * the file in the warning that others may read it. */
static int
read_password(const char *setting, const char *path, char **out, char *why,
              size_t whylen)
{
	char buf[REDIS_URL_CRED_MAX + 3];
	struct stat sb;
	size_t n = 0, len;
	ssize_t r;
	int fd, nul;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return cv_why(why, whylen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return cv_why(why, whylen, "%s: not a regular file", path);
	}
	while (n < sizeof(buf) &&
	    (r = read(fd, buf + n, sizeof(buf) - n)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			close(fd);
			return cv_why(why, whylen, "%s: %s", path,
			    strerror(errno));
		}
		n += (size_t)r;
	}
	close(fd);
	for (len = 0; len < n && buf[len] != '\n' && buf[len] != '\r' &&
	    buf[len] != '\0'; len++)
		;
	nul = len < n && buf[len] == '\0';
	explicit_bzero(buf + len, n - len);
	if (nul) {
		explicit_bzero(buf, sizeof(buf));
		return cv_why(why, whylen, "%s: holds a NUL byte", path);
	}
	if (len > REDIS_URL_CRED_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return cv_why(why, whylen, "%s: the password is longer than %d "
		    "bytes", path, REDIS_URL_CRED_MAX);
	}
	if (len == 0) {
		explicit_bzero(buf, sizeof(buf));
		return cv_why(why, whylen, "%s: empty first line (no password)",
		    path);
	}
	if ((sb.st_mode & S_IROTH) != 0)
		log_warnx("%s %s: others may read it (chmod o-r)", setting,
		    path);
	*out = strndup(buf, len);
	explicit_bzero(buf, sizeof(buf));
	return *out != NULL ? 0 : cv_why(why, whylen, "out of memory");
}

/* redis_credentials: the password file read, and checked against the
 * redis setting: one place holds the password, and a user name has one. */
static int
redis_credentials(struct config *cfg, char *err, size_t errlen)
{
	struct redis_url u;
	char why[300];
	int in_url, user;

	if (cfg->redis_managed) {
		if (cfg->redis_password_file != NULL) {
			snprintf(err, errlen, "redis_password_file: the managed "
			    "Redis takes no password (only jobd may use its "
			    "socket); it is for an external one");
			return -1;
		}
		return 0;
	}
	if (redis_url_parse(cfg->redis, &u, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "redis: %s", why);
		return -1;
	}
	in_url = u.password[0] != '\0';
	user = u.user[0] != '\0';
	redis_url_clear(&u);
	if (cfg->redis_password_file == NULL) {
		if (user && !in_url) {
			snprintf(err, errlen, "redis: a user name needs a "
			    "password (USER:PASSWORD@, or redis_password_file)");
			return -1;
		}
		return 0;
	}
	if (in_url) {
		snprintf(err, errlen, "redis_password_file: redis holds a "
		    "password too; give it in one place");
		return -1;
	}
	if (read_password("redis_password_file", cfg->redis_password_file,
	    &cfg->redis_password, why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "redis_password_file: %s", why);
		return -1;
	}
	return 0;
}

/* http_finish: auth = basic needs its users, read now so that a bad line
 * fails the start, --check and a reload. */
static int
http_finish(struct config *cfg, char *err, size_t errlen)
{
	const struct config_note *n = config_note_last(cfg, NOTE_MAIN,
	    config_find_row(SCOPE_HTTP, "users_file"));
	const char *where = n != NULL && n->where[0] != '\0' ? n->where :
	    cfg->path != NULL ? cfg->path : "";
	const char *sep = where[0] != '\0' ? ": " : "";
	char why[512];

	if (cfg->http_auth == HTTP_AUTH_BASIC && cfg->http_users_file == NULL) {
		snprintf(err, errlen, "%s%s[http] users_file: required with "
		    "auth = basic", where, sep);
		return -1;
	}
	if (cfg->http_users_file == NULL)
		return 0;
	if (http_users_load(cfg->http_users_file, &cfg->http_users, why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "%s%s[http] users_file: %s", where, sep,
		    why);
		return -1;
	}
	return 0;
}

/* hooks_finish: [webhooks] allow needs one key, read now; and the
 * jobd.webhook type that delivers, unless the config tunes its own. */
static int
hooks_finish(struct config *cfg, char *err, size_t errlen)
{
	static const char *const set[][2] = {
		{ "handler", "builtin" }, { "timeout", "30" },
		{ "retries", "8" },
	};
	const struct config_note *n = config_note_last(cfg, NOTE_MAIN,
	    config_find_row(SCOPE_WEBHOOKS, "allow"));
	const char *where = n != NULL && n->where[0] != '\0' ? n->where :
	    cfg->path != NULL ? cfg->path : "";
	const char *sep = where[0] != '\0' ? ": " : "";
	const struct job_type *t;
	char why[300];
	int ti;

	if (cfg->hook_allow.n == 0)
		return 0;
	if (cfg->hook_secret != NULL && cfg->hook_secret_file != NULL) {
		snprintf(err, errlen, "%s%s[webhooks] secret, secret_file: "
		    "give the key in one place", where, sep);
		return -1;
	}
	if (cfg->hook_secret == NULL && cfg->hook_secret_file == NULL) {
		snprintf(err, errlen, "%s%s[webhooks] allow: needs secret or "
		    "secret_file (the key that signs each delivery)", where,
		    sep);
		return -1;
	}
	if (cfg->hook_secret_file != NULL) {
		if (read_password("[webhooks] secret_file",
		    cfg->hook_secret_file, &cfg->hook_key, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "%s%s[webhooks] secret_file: %s",
			    where, sep, why);
			return -1;
		}
	} else if ((cfg->hook_key = strdup(cfg->hook_secret)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (strlen(cfg->hook_key) < 16) {
		snprintf(err, errlen, "%s%s[webhooks] secret%s: the key must be "
		    "at least 16 bytes", where, sep,
		    cfg->hook_secret_file != NULL ? "_file" : "");
		return -1;
	}
	/* [type:jobd.webhook] may set retries, backoff, timeout, queue; what
	 * it runs is not its to choose */
	t = config_find_type(cfg, "jobd.webhook");
	if (t != NULL && (n = config_note_last(cfg, (int)(t - cfg->types),
	    config_find_row(SCOPE_TYPE, "handler"))) != NULL) {
		snprintf(err, errlen, "%s%s[type:jobd.webhook] handler: jobd "
		    "chooses what delivers callbacks; set only retries, "
		    "backoff, timeout or queue", n->where, n->where[0] ? ": " :
		    "");
		return -1;
	}
	if (t == NULL && set_one(cfg, "type:jobd.webhook", NULL, "",
	    WHERE_BUILTIN, 0, err, errlen) == -1)
		return -1;
	ti = (int)(config_find_type(cfg, "jobd.webhook") - cfg->types);
	for (size_t j = 0; j < sizeof(set) / sizeof(set[0]); j++) {
		if (t != NULL && j >= 1 && config_note_last(cfg, ti,
		    config_find_row(SCOPE_TYPE, set[j][0])) != NULL)
			continue;
		if (set_one(cfg, "type:jobd.webhook", set[j][0], set[j][1],
		    WHERE_BUILTIN, 0, err, errlen) == -1)
			return -1;
	}
	/* not through set_builtin: no other type may run it (it signs) */
	snprintf(cfg->types[ti].builtin, sizeof(cfg->types[ti].builtin), "%s",
	    builtin_names[NBUILTINS]);
	return 0;
}

/* find_program: name on PATH (as execvp would), into out. */
static int
find_program(const char *name, char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	const char *p, *end;

	if (path == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; ; p = end + 1) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		if (end > p && (size_t)snprintf(out, outlen, "%.*s/%s",
		    (int)(end - p), p, name) < outlen && out[0] == '/' &&
		    access(out, X_OK) == 0)
			return 0;
		if (*end == '\0')
			return -1;
	}
}

/* managed_err: err as "WHERE: [jobd] KEY: why", WHERE the file and line
 * (or -o) that set it, if any. */
static int managed_err(const struct config *cfg, const char *key, char *err,
                       size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int
managed_err(const struct config *cfg, const char *key, char *err,
            size_t errlen, const char *fmt, ...)
{
	const struct config_note *n = config_note_last(cfg, NOTE_MAIN,
	    config_find_row(SCOPE_JOBD, key));
	const char *where = n != NULL && n->where[0] != '\0' ? n->where : "";
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s%s[jobd] %s: %s", where,
	    where[0] != '\0' ? ": " : "", key, why);
	return -1;
}

/* managed_finish: redis = managed needs a redis-server that can run and a
 * state_dir jobd can use.  A state_dir that does not exist yet is made at
 * start (a --check as another user must pass). */
static int
managed_finish(struct config *cfg, char *err, size_t errlen)
{
	char exe[CONFIG_MAX_PATH + 1];
	struct stat sb;

	cfg->redis_managed = strcmp(cfg->redis, "managed") == 0;
	if (!cfg->redis_managed)
		return 0;
	if (cfg->redis_server == NULL) {
		if (find_program("redis-server", exe, sizeof(exe)) == -1)
			return managed_err(cfg, "redis", err, errlen, "managed: "
			    "redis-server is not on PATH (apt install "
			    "redis-server), or set redis_server = PATH, or use "
			    "an external Redis (redis = redis://... or "
			    "unix://...)");
	} else {
		snprintf(exe, sizeof(exe), "%s", cfg->redis_server);
		if (stat(exe, &sb) == -1)
			return managed_err(cfg, "redis_server", err, errlen,
			    "%s: %s", exe, strerror(errno));
		if (!S_ISREG(sb.st_mode) || access(exe, X_OK) == -1)
			return managed_err(cfg, "redis_server", err, errlen,
			    "%s: not an executable file", exe);
	}
	if (stat(cfg->state_dir, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode))
			return managed_err(cfg, "state_dir", err, errlen,
			    "%s: not a directory", cfg->state_dir);
		if (access(cfg->state_dir, W_OK | X_OK) == -1)
			return managed_err(cfg, "state_dir", err, errlen,
			    "%s: not writable by jobd (uid %ld): %s",
			    cfg->state_dir, (long)geteuid(), strerror(errno));
	} else if (errno != ENOENT) {
		return managed_err(cfg, "state_dir", err, errlen, "%s: %s",
		    cfg->state_dir, strerror(errno));
	}
	free(cfg->redis_server_exe);
	cfg->redis_server_exe = strdup(exe);
	if (cfg->redis_server_exe == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
config_redis_url(const struct config *cfg, struct redis_url *u, char *err,
                 size_t errlen)
{
	char url[sizeof(u->path) + 16];

	if (cfg->redis_managed) {
		snprintf(url, sizeof(url), "unix://%s/" REDIS_MANAGED_SOCKET,
		    cfg->state_dir);
		return redis_url_parse(url, u, err, errlen);
	}
	if (redis_url_parse(cfg->redis, u, err, errlen) == -1)
		return -1;
	if (cfg->redis_password != NULL)
		snprintf(u->password, sizeof(u->password), "%s",
		    cfg->redis_password);
	return 0;
}

int
config_finish(struct config *cfg, char *err, size_t errlen)
{
	char why[256];
	const char *key;

	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = n < 1 ? 1 : n > CONFIG_MAX_WORKERS ?
		    CONFIG_MAX_WORKERS : (int)n;
	}
	if (managed_finish(cfg, err, errlen) == -1 ||
	    redis_credentials(cfg, err, errlen) == -1)
		return -1;
	if (cfg->durable && cfg->durable_timeout >= cfg->redis_timeout) {
		snprintf(err, errlen, "durable_timeout (%g s) must be shorter "
		    "than redis_timeout (%g s)", cfg->durable_timeout,
		    cfg->redis_timeout);
		return -1;
	}
	if (cfg->builtins && add_builtins(cfg, err, errlen) == -1)
		return -1;
	if (http_finish(cfg, err, errlen) == -1)
		return -1;
	if (hooks_finish(cfg, err, errlen) == -1)
		return -1;
	for (int i = 0; i < cfg->ntypes; i++) {
		struct job_type *t = &cfg->types[i];
		const struct config_note *h = config_note_last(cfg, i, ROW_HEADER);
		const struct config_note *q;
		const char *where = h != NULL && h->where[0] != '\0' ?
		    h->where : cfg->path != NULL ? cfg->path : "";
		const char *sep = where[0] != '\0' ? ": " : "";

		if (strcmp(where, WHERE_BUILTIN) != 0 &&
		    inherit(cfg, i, err, errlen) == -1)
			return -1;
		if (config_note_last(cfg, i, config_find_row(SCOPE_TYPE, "handler")) == NULL &&
		    (strcmp(where, WHERE_BUILTIN) == 0 ||
		    config_note_last(cfg, NOTE_TYPES, config_find_row(SCOPE_TYPE, "handler"))
		    == NULL)) {
			snprintf(err, errlen, "%s%s[type:%s] handler: required "
			    "(exec, http or builtin)", where, sep, t->name);
			return -1;
		}
		if (pass_env(t, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s%s[type:%s] env_pass: %s", where,
			    sep, t->name, why);
			return -1;
		}
		if (type_check(cfg, t, &key, why, sizeof(why)) == -1) {
			q = config_note_last(cfg, i, config_find_row(SCOPE_TYPE, key));
			if (strcmp(key, "queue") == 0 && q != NULL &&
			    q->where[0] != '\0')
				where = q->where;
			sep = where[0] != '\0' ? ": " : "";
			snprintf(err, errlen, "%s%s[type:%s] %s: %s", where, sep,
			    t->name, key, why);
			return -1;
		}
		if (t->queue[0] == '\0')
			snprintf(t->queue, sizeof(t->queue), "%s",
			    config_queue_index(cfg, "default") >= 0 ?
			    "default" : cfg->queues[0]);
	}
	for (int i = 0; i < cfg->ncrons; i++) {
		const struct config_note *h = config_note_last(cfg, NOTE_CRON(i),
		    ROW_HEADER);
		const char *where = h != NULL && h->where[0] != '\0' ?
		    h->where : cfg->path != NULL ? cfg->path : "";

		if (cron_check(cfg, &cfg->crons[i], &key, why, sizeof(why))
		    == -1) {
			snprintf(err, errlen, "%s%s[cron:%s] %s: %s", where,
			    where[0] != '\0' ? ": " : "", cfg->crons[i].name, key,
			    why);
			return -1;
		}
	}
	return config_limit_finish(cfg, err, errlen);
}

struct config *
config_load(const char *path, const char *const *opts, int nopts,
            char *err, size_t errlen)
{
	struct config *cfg = config_new_bare();
	struct ini_handler h = { ini_section, ini_setting, cfg };

	err[0] = '\0';
	if (cfg == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (path != NULL && (ini_read_file(&h, path, err, errlen) == -1 ||
	    (cfg->path = strdup(path)) == NULL))
		goto fail;
	for (int i = 0; i < nopts; i++)
		if (config_override(cfg, opts[i], err, errlen) == -1)
			goto fail;
	if (config_finish(cfg, err, errlen) == -1)
		goto fail;
	return cfg;
fail:
	if (path != NULL && cfg->path == NULL && err[0] == '\0')
		snprintf(err, errlen, "%s: out of memory", path);
	config_free(cfg);
	return NULL;
}

struct config *
config_load_file(const char *path, char *err, size_t errlen)
{
	return config_load(path, NULL, 0, err, errlen);
}

struct config *
config_load_string(const char *text, const char *name, char *err,
                   size_t errlen)
{
	struct ini_handler h = { ini_section, ini_setting, NULL };
	struct config *cfg;
	char *copy;

	if (name == NULL)
		name = "(string)";
	if (text == NULL) {
		snprintf(err, errlen, "%s: no text", name);
		return NULL;
	}
	if ((cfg = config_new_bare()) == NULL ||
	    (copy = strdup(text)) == NULL) {
		config_free(cfg);
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	h.arg = cfg;
	if (ini_read_string(&h, copy, name, err, errlen) == -1 ||
	    (cfg->path = strdup(name)) == NULL ||
	    config_finish(cfg, err, errlen) == -1) {
		free(copy);
		config_free(cfg);
		return NULL;
	}
	free(copy);
	return cfg;
}

/* ---- retries ------------------------------------------------------------------- */

/* jitter_unit: a random number in [0, 1).  getrandom, not a seeded PRNG:
 * workers are forked from one master and must not share a sequence. */
static double
jitter_unit(void)
{
	uint64_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^
		    (uint64_t)getpid();
	}
	return (double)(r >> 11) / 9007199254740992.0;  /* 2^53 */
}

long long
config_retry_delay_ms(const struct job_type *t, int failed_attempt)
{
	double s;

	if (t == NULL)
		return 0;
	if (failed_attempt < 1)
		failed_attempt = 1;
	if (t->backoff == BACKOFF_FIXED_LIST && t->backoff_count > 0) {
		int i = failed_attempt > t->backoff_count ?
		    t->backoff_count - 1 : failed_attempt - 1;

		s = t->backoff_list[i];
	} else {
		/* doubling stops at the cap, so no overflow (and no libm) */
		s = t->backoff_base;
		for (int i = 1; i < failed_attempt && s < t->backoff_max; i++)
			s *= 2;
		if (s > t->backoff_max)
			s = t->backoff_max;
	}
	if (!isfinite(s) || s < 0)
		s = 0;
	s *= 1.0 + 0.2 * jitter_unit();
	return (long long)(s * 1000.0 + 0.5);
}
