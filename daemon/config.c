/*
 * config.c: jobd's configuration: defaults, the INI file (libinih), the
 * command-line overrides and the job types.
 *
 * inih reads the file line by line through our own reader, which counts
 * lines, refuses over-long ones and sees section headers itself (inih
 * truncates section names to 49 bytes and reports nothing for an empty
 * section).  The first error wins; its message names file, line, section
 * and setting.
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
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>
#include <jansson.h>

#define MiB (1024LL * 1024)
#define GiB (1024LL * MiB)
#define DAY 86400LL
#define YEAR (365 * DAY)

#define CONFIG_MAX_FILE   (4 * MiB)  /* a config file larger is refused */
#define CONFIG_MAX_PATH   4095
#define CONFIG_MAX_URL    2048
#define CONFIG_MAX_WORKERS 256

#define TYPE_DEFAULT_TIMEOUT    180.0
#define TYPE_DEFAULT_RETRIES    0
#define TYPE_DEFAULT_BASE       2.0
#define TYPE_DEFAULT_MAX        300.0
#define TYPE_DEFAULT_MAX_OUTPUT (1 * MiB)

static const char *const builtin_names[] = { "noop", "echo", "sleep", "fail" };
#define NBUILTINS (sizeof(builtin_names) / sizeof(builtin_names[0]))

/* ---- small helpers ---------------------------------------------------- */

static int
set_str(char **dst, const char *value, int empty_is_null)
{
	char *s = NULL;

	if (!(empty_is_null && value[0] == '\0')) {
		if ((s = strdup(value)) == NULL)
			return -1;
	}
	free(*dst);
	*dst = s;
	return 0;
}

static int
name_char(int c, const char *extra)
{
	return isascii(c) && (isalnum(c) || strchr(extra, c) != NULL);
}

/* valid_name: 1..CONFIG_NAME_MAX characters, each alnum or in extra. */
static int
valid_name(const char *s, const char *extra)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (n >= CONFIG_NAME_MAX || !name_char((unsigned char)s[n], extra))
			return 0;
	return n > 0;
}

#define QUEUE_CHARS "_.-"
#define TYPE_CHARS  "_.:-"

static int
parse_ll(const char *v, long long min, long long max, long long *out,
         char *why, size_t whylen)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (v[0] == '\0' || isspace((unsigned char)v[0]) || *end != '\0') {
		snprintf(why, whylen, "not a number");
		return -1;
	}
	if (errno == ERANGE || n < min || n > max) {
		snprintf(why, whylen, "out of range (%lld..%lld)", min, max);
		return -1;
	}
	*out = n;
	return 0;
}

static int
parse_int(const char *v, int min, int max, int *out, char *why, size_t whylen)
{
	long long n;

	if (parse_ll(v, min, max, &n, why, whylen) == -1)
		return -1;
	*out = (int)n;
	return 0;
}

/* parse_num: a finite decimal number in [min, max]; min_open excludes min. */
static int
parse_num(const char *v, double min, int min_open, double max, double *out,
          char *why, size_t whylen)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (v[0] == '\0' || isspace((unsigned char)v[0]) || *end != '\0' ||
	    !isfinite(d) || errno == ERANGE ||
	    /* strtod also takes hex floats, "inf" and "nan": decimal only */
	    strpbrk(v, "xXiInN") != NULL) {
		snprintf(why, whylen, "not a number");
		return -1;
	}
	if (d < min || (min_open && d <= min) || d > max) {
		snprintf(why, whylen, "out of range (%s%g..%g)",
		    min_open ? "more than " : "", min, max);
		return -1;
	}
	*out = d;
	return 0;
}

static int
parse_bool(const char *v, int *out, char *why, size_t whylen)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	snprintf(why, whylen, "not a boolean (yes/no, true/false, on/off, 1/0)");
	return -1;
}

static int
parse_mode(const char *v, mode_t *out, char *why, size_t whylen)
{
	unsigned long m = 0;
	size_t n = strlen(v);

	if (n == 0 || n > 5 || strspn(v, "01234567") != n) {
		snprintf(why, whylen, "not an octal mode");
		return -1;
	}
	m = strtoul(v, NULL, 8);
	if (m > 07777) {
		snprintf(why, whylen, "out of range (0..07777)");
		return -1;
	}
	*out = (mode_t)m;
	return 0;
}

/* parse_size: a byte count, optionally with a K, M or G suffix (powers of
 * 1024), in [min, max]. */
static int
parse_size(const char *v, long long min, long long max, long long *out,
           char *why, size_t whylen)
{
	char num[32];
	size_t n = strlen(v);
	long long mult = 1, x;

	if (n > 0 && strchr("kKmMgG", v[n - 1]) != NULL) {
		mult = strchr("kK", v[n - 1]) ? 1024 :
		    strchr("mM", v[n - 1]) ? MiB : GiB;
		n--;
	}
	if (n == 0 || n >= sizeof(num)) {
		snprintf(why, whylen, "not a size (bytes, or a number with K, "
		    "M or G)");
		return -1;
	}
	memcpy(num, v, n);
	num[n] = '\0';
	if (parse_ll(num, 0, max, &x, why, whylen) == -1 ||
	    x > max / mult || x * mult < min) {
		snprintf(why, whylen, "%s (%lld..%lld bytes; K, M, G allowed)",
		    strcmp(why, "not a number") == 0 ? "not a size" :
		    "out of range", min, max);
		return -1;
	}
	*out = x * mult;
	return 0;
}

/* parse_acl: "*", or a comma-separated list of user names, uids, @group
 * names and @gids, resolved now (an unknown name is an error). */
static int
parse_acl(struct acl *a, const char *v, char *why, size_t whylen)
{
	struct acl n;
	const char *p = v;

	memset(&n, 0, sizeof(n));
	if (v[strspn(v, " \t")] == '\0')
		goto done;              /* empty: nobody but the admins */
	for (;;) {
		char name[CONFIG_NAME_MAX + 2], *end;
		const char *s = p + strspn(p, " \t"), *e;
		size_t len;
		int group;
		unsigned long id;

		e = s + strcspn(s, ",");
		p = e;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		len = (size_t)(e - s);
		if (len == 0 || len >= sizeof(name)) {
			snprintf(why, whylen, len == 0 ? "empty entry" :
			    "entry longer than %d characters", CONFIG_NAME_MAX);
			return -1;
		}
		memcpy(name, s, len);
		name[len] = '\0';
		group = name[0] == '@';
		if (strcmp(name, "*") == 0) {
			n.any = 1;
		} else if ((group ? n.ngids : n.nuids) == CONFIG_MAX_ACL) {
			snprintf(why, whylen, "more than %d %s", CONFIG_MAX_ACL,
			    group ? "groups" : "users");
			return -1;
		} else if (!valid_name(name + group, "_.-")) {
			snprintf(why, whylen, "bad %s name '%s'",
			    group ? "group" : "user", name);
			return -1;
		} else if (strspn(name + group, "0123456789") ==
		    len - (size_t)group) {
			errno = 0;
			id = strtoul(name + group, &end, 10);
			if (errno == ERANGE || id >= (unsigned long)(uid_t)-1) {
				snprintf(why, whylen, "bad id '%s'", name);
				return -1;
			}
			if (group)
				n.gids[n.ngids++] = (gid_t)id;
			else
				n.uids[n.nuids++] = (uid_t)id;
		} else if (group) {
			struct group *gr = getgrnam(name + 1);

			if (gr == NULL) {
				snprintf(why, whylen, "no such group '%s'",
				    name + 1);
				return -1;
			}
			n.gids[n.ngids++] = gr->gr_gid;
		} else {
			struct passwd *pw = getpwnam(name);

			if (pw == NULL) {
				snprintf(why, whylen, "no such user '%s'", name);
				return -1;
			}
			n.uids[n.nuids++] = pw->pw_uid;
		}
		if (*p == '\0')
			break;
		p++;                        /* the comma */
	}
done:
	*a = n;
	return 0;
}

static int
apply_access(struct config *cfg, const char *key, const char *v, char *why,
             size_t whylen)
{
	if (strcmp(key, "submit") == 0)
		return parse_acl(&cfg->acl_submit, v, why, whylen);
	if (strcmp(key, "admin") == 0)
		return parse_acl(&cfg->acl_admin, v, why, whylen);
	snprintf(why, whylen, "unknown setting");
	return -1;
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

/* check_redis: unix:///abs/path or redis://host[:port][/db]. */
static int
check_redis(const char *v, char *why, size_t whylen)
{
	const char *p, *host, *hend;
	long long n;
	char num[32];
	size_t len;

	if (strncmp(v, "unix://", 7) == 0) {
		p = v + 7;
		if (p[0] != '/' || p[1] == '\0') {
			snprintf(why, whylen, "unix:// needs an absolute path");
			return -1;
		}
		if (strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			snprintf(why, whylen, "socket path too long");
			return -1;
		}
		return 0;
	}
	if (strncmp(v, "redis://", 8) != 0) {
		snprintf(why, whylen,
		    "expected redis://host[:port][/db] or unix:///path");
		return -1;
	}
	host = v + 8;
	if (host[0] == '[') {               /* [IPv6] */
		hend = strchr(host, ']');
		if (hend == NULL || hend == host + 1 ||
		    strspn(host + 1, "0123456789abcdefABCDEF:.") !=
		    (size_t)(hend - host - 1)) {
			snprintf(why, whylen, "bad IPv6 address");
			return -1;
		}
		hend++;
	} else {
		hend = host + strspn(host,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-_");
		if (hend == host) {
			snprintf(why, whylen, "missing host");
			return -1;
		}
	}
	if ((size_t)(hend - host) > 255) {
		snprintf(why, whylen, "host name too long");
		return -1;
	}
	p = hend;
	if (*p == ':') {
		len = strcspn(p + 1, "/");
		if (len == 0 || len >= sizeof(num)) {
			snprintf(why, whylen, "bad port");
			return -1;
		}
		memcpy(num, p + 1, len);
		num[len] = '\0';
		if (parse_ll(num, 1, 65535, &n, why, whylen) == -1) {
			snprintf(why, whylen, "bad port (1..65535)");
			return -1;
		}
		p += 1 + len;
	}
	if (*p == '/') {
		if (p[1] == '\0')
			return 0;
		if (parse_ll(p + 1, 0, INT_MAX, &n, why, whylen) == -1) {
			snprintf(why, whylen, "bad database number");
			return -1;
		}
		return 0;
	}
	if (*p != '\0') {
		snprintf(why, whylen, "unexpected characters after the host");
		return -1;
	}
	return 0;
}

/* parse_queues: "high, default, low" into cfg's queue table. */
static int
parse_queues(struct config *cfg, const char *v, char *why, size_t whylen)
{
	char q[CONFIG_MAX_QUEUES][CONFIG_NAME_MAX + 1];
	int n = 0;
	const char *p = v;

	for (;;) {
		const char *s, *e;
		size_t len;

		s = p + strspn(p, " \t");
		e = s + strcspn(s, ",");
		p = e;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		len = (size_t)(e - s);
		if (len == 0) {
			snprintf(why, whylen, "empty queue name");
			return -1;
		}
		if (n == CONFIG_MAX_QUEUES) {
			snprintf(why, whylen, "more than %d queues",
			    CONFIG_MAX_QUEUES);
			return -1;
		}
		if (len > CONFIG_NAME_MAX) {
			snprintf(why, whylen,
			    "queue name longer than %d characters",
			    CONFIG_NAME_MAX);
			return -1;
		}
		memcpy(q[n], s, len);
		q[n][len] = '\0';
		if (!valid_name(q[n], QUEUE_CHARS)) {
			snprintf(why, whylen,
			    "bad queue name '%s' (use A-Z a-z 0-9 _ . -)", q[n]);
			return -1;
		}
		for (int i = 0; i < n; i++) {
			if (strcmp(q[i], q[n]) == 0) {
				snprintf(why, whylen, "queue '%s' listed twice",
				    q[n]);
				return -1;
			}
		}
		n++;
		if (*p == '\0')
			break;
		p++;                        /* the comma */
	}
	memcpy(cfg->queues, q, sizeof(q));
	cfg->nqueues = n;
	return 0;
}

static int
check_path(const char *v, size_t max, int absolute, char *why, size_t whylen)
{
	if (v[0] == '\0') {
		snprintf(why, whylen, "empty path");
		return -1;
	}
	if (absolute && v[0] != '/') {
		snprintf(why, whylen, "not an absolute path");
		return -1;
	}
	if (strlen(v) > max) {
		snprintf(why, whylen, "path longer than %zu bytes", max);
		return -1;
	}
	return 0;
}

/* ---- job types ---------------------------------------------------------- */

static void
free_argv(char **argv)
{
	for (int i = 0; argv[i] != NULL; i++) {
		free(argv[i]);
		argv[i] = NULL;
	}
}

static void
type_free(struct job_type *t)
{
	free_argv(t->argv);
	free_argv(t->env);
	free(t->url);
	free(t->user);
	free(t->cwd);
}

static void
type_defaults(struct job_type *t, const char *name)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->kind = HANDLER_EXEC;
	t->timeout = TYPE_DEFAULT_TIMEOUT;
	t->retries = TYPE_DEFAULT_RETRIES;
	t->backoff = BACKOFF_EXPONENTIAL;
	t->backoff_base = TYPE_DEFAULT_BASE;
	t->backoff_max = TYPE_DEFAULT_MAX;
	t->max_output = TYPE_DEFAULT_MAX_OUTPUT;
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
	type_defaults(&nt[cfg->ntypes], name);
	return &nt[cfg->ntypes++];
}

/* split_words: whitespace-separated words, "double quotes" group (with \"
 * and \\ escapes inside them). */
static int
split_words(const char *v, char **argv, char *why, size_t whylen)
{
	size_t len = strlen(v);
	char *buf;
	int n = 0;
	const char *p = v;

	if ((buf = malloc(len + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
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
			snprintf(why, whylen, "unterminated quote");
			goto fail;
		}
		if (n == CONFIG_MAX_ARGV) {
			snprintf(why, whylen, "more than %d arguments",
			    CONFIG_MAX_ARGV);
			goto fail;
		}
		if ((argv[n] = strndup(buf, o)) == NULL) {
			snprintf(why, whylen, "out of memory");
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

	a = json_loads(v, 0, &jerr);
	if (a == NULL) {
		snprintf(why, whylen, "bad JSON array: %s", jerr.text);
		return -1;
	}
	if (!json_is_array(a) || json_array_size(a) > CONFIG_MAX_ARGV) {
		snprintf(why, whylen, "expected a JSON array of at most %d "
		    "strings", CONFIG_MAX_ARGV);
		json_decref(a);
		return -1;
	}
	json_array_foreach(a, i, e) {
		if (!json_is_string(e) ||
		    strlen(json_string_value(e)) != json_string_length(e)) {
			snprintf(why, whylen, "element %zu is not a string", i);
			goto fail;
		}
		if ((argv[n] = strdup(json_string_value(e))) == NULL) {
			snprintf(why, whylen, "out of memory");
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
parse_command(struct job_type *t, const char *v, char *why, size_t whylen)
{
	char *argv[CONFIG_MAX_ARGV + 1] = { NULL };
	int n;

	if (v[0] == '[')
		n = json_words(v, argv, why, whylen);
	else
		n = split_words(v, argv, why, whylen);
	if (n < 0)
		return -1;
	if (n == 0 || argv[0][0] == '\0') {
		free_argv(argv);
		snprintf(why, whylen, "empty command");
		return -1;
	}
	/* the worker calls execve: there is no PATH search */
	if (strchr(argv[0], '/') == NULL) {
		free_argv(argv);
		snprintf(why, whylen, "the program must be a path such as "
		    "/usr/bin/NAME (no PATH search)");
		return -1;
	}
	free_argv(t->argv);
	memcpy(t->argv, argv, sizeof(argv));
	return 0;
}

static int
parse_backoff(struct job_type *t, const char *v, char *why, size_t whylen)
{
	double list[CONFIG_MAX_BACKOFF];
	int n = 0;
	const char *p = v;

	if (strcasecmp(v, "exponential") == 0) {
		t->backoff = BACKOFF_EXPONENTIAL;
		t->backoff_count = 0;
		return 0;
	}
	for (;;) {
		char num[64];
		const char *s = p + strspn(p, " \t");
		const char *e = s + strcspn(s, ",");
		size_t len;

		p = e;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		len = (size_t)(e - s);
		if (n == CONFIG_MAX_BACKOFF) {
			snprintf(why, whylen, "more than %d intervals",
			    CONFIG_MAX_BACKOFF);
			return -1;
		}
		if (len == 0 || len >= sizeof(num)) {
			snprintf(why, whylen,
			    "expected 'exponential' or a list of seconds");
			return -1;
		}
		memcpy(num, s, len);
		num[len] = '\0';
		if (parse_num(num, 0, 0, 7 * DAY, &list[n], why, whylen) == -1) {
			snprintf(why, whylen, "expected 'exponential' or a "
			    "list of seconds (0..%lld each)", 7 * DAY);
			return -1;
		}
		n++;
		if (*p == '\0')
			break;
		p++;
	}
	t->backoff = BACKOFF_FIXED_LIST;
	memcpy(t->backoff_list, list, sizeof(list[0]) * (size_t)n);
	t->backoff_count = n;
	return 0;
}

static int
add_env(struct job_type *t, const char *v, char *why, size_t whylen)
{
	const char *eq = strchr(v, '=');
	size_t klen;
	int n = 0;

	if (eq == NULL || eq == v) {
		snprintf(why, whylen, "expected NAME=VALUE");
		return -1;
	}
	klen = (size_t)(eq - v);
	if (!(isalpha((unsigned char)v[0]) || v[0] == '_')) {
		snprintf(why, whylen, "bad variable name");
		return -1;
	}
	for (size_t i = 0; i < klen; i++) {
		if (!isascii((unsigned char)v[i]) ||
		    !(isalnum((unsigned char)v[i]) || v[i] == '_')) {
			snprintf(why, whylen, "bad variable name");
			return -1;
		}
	}
	if (klen >= 5 && strncmp(v, "JOBD_", 5) == 0) {
		snprintf(why, whylen, "JOBD_* variables are set by jobd");
		return -1;
	}
	while (t->env[n] != NULL) {
		/* a name given again replaces its earlier value */
		if (strncmp(t->env[n], v, klen + 1) == 0) {
			char *s = strdup(v);

			if (s == NULL) {
				snprintf(why, whylen, "out of memory");
				return -1;
			}
			free(t->env[n]);
			t->env[n] = s;
			return 0;
		}
		n++;
	}
	if (n == CONFIG_MAX_ARGV) {
		snprintf(why, whylen, "more than %d variables", CONFIG_MAX_ARGV);
		return -1;
	}
	if ((t->env[n] = strdup(v)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	t->env[n + 1] = NULL;
	return 0;
}

static int
check_url(const char *v, char *why, size_t whylen)
{
	const char *host;

	if (strncmp(v, "http://", 7) == 0)
		host = v + 7;
	else if (strncmp(v, "https://", 8) == 0)
		host = v + 8;
	else {
		snprintf(why, whylen, "expected an http:// or https:// URL");
		return -1;
	}
	if (*host == '\0' || *host == '/' || *host == ':') {
		snprintf(why, whylen, "missing host");
		return -1;
	}
	if (strlen(v) > CONFIG_MAX_URL) {
		snprintf(why, whylen, "longer than %d bytes", CONFIG_MAX_URL);
		return -1;
	}
	for (const char *p = v; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(why, whylen, "blank or control character");
			return -1;
		}
	}
	return 0;
}

static int
apply_type(struct job_type *t, const char *key, const char *v,
           char *why, size_t whylen)
{
	size_t i;

	if (strcmp(key, "handler") == 0) {
		if (strcmp(v, "exec") == 0)
			t->kind = HANDLER_EXEC;
		else if (strcmp(v, "http") == 0)
			t->kind = HANDLER_HTTP;
		else if (strcmp(v, "builtin") == 0)
			t->kind = HANDLER_BUILTIN;
		else {
			snprintf(why, whylen, "expected exec, http or builtin");
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "command") == 0)
		return parse_command(t, v, why, whylen);
	if (strcmp(key, "persistent") == 0)
		return parse_bool(v, &t->persistent, why, whylen);
	if (strcmp(key, "url") == 0) {
		if (check_url(v, why, whylen) == -1)
			return -1;
		goto str;
	}
	if (strcmp(key, "builtin") == 0) {
		for (i = 0; i < NBUILTINS; i++) {
			if (strcmp(v, builtin_names[i]) == 0) {
				snprintf(t->builtin, sizeof(t->builtin), "%s", v);
				return 0;
			}
		}
		snprintf(why, whylen, "expected noop, echo, sleep or fail");
		return -1;
	}
	if (strcmp(key, "queue") == 0) {
		if (!valid_name(v, QUEUE_CHARS)) {
			snprintf(why, whylen, "bad queue name");
			return -1;
		}
		snprintf(t->queue, sizeof(t->queue), "%s", v);
		return 0;
	}
	if (strcmp(key, "timeout") == 0)
		return parse_num(v, 0, 1, 7 * DAY, &t->timeout, why, whylen);
	if (strcmp(key, "retries") == 0)
		return parse_int(v, 0, 100, &t->retries, why, whylen);
	if (strcmp(key, "backoff") == 0)
		return parse_backoff(t, v, why, whylen);
	if (strcmp(key, "backoff_base") == 0)
		return parse_num(v, 0, 1, DAY, &t->backoff_base, why, whylen);
	if (strcmp(key, "backoff_max") == 0)
		return parse_num(v, 0, 1, 7 * DAY, &t->backoff_max, why, whylen);
	if (strcmp(key, "max_output") == 0)
		return parse_ll(v, 1, GiB, &t->max_output, why, whylen);
	if (strcmp(key, "user") == 0) {
		if (v[0] != '\0' && !valid_name(v, "_.-")) {
			snprintf(why, whylen, "bad user name");
			return -1;
		}
		if (set_str(&t->user, v, 1) == -1)
			goto oom;
		return 0;
	}
	if (strcmp(key, "cwd") == 0) {
		if (v[0] != '\0' &&
		    check_path(v, CONFIG_MAX_PATH, 1, why, whylen) == -1)
			return -1;
		if (set_str(&t->cwd, v, 1) == -1)
			goto oom;
		return 0;
	}
	if (strcmp(key, "env") == 0)
		return add_env(t, v, why, whylen);
	if (strcmp(key, "limit_cpu") == 0)
		return parse_ll(v, 0, 7 * DAY, &t->limit_cpu, why, whylen);
	if (strcmp(key, "limit_memory") == 0 || strcmp(key, "limit_files") == 0) {
		/* 0: no limit; a small one would only break the exec */
		if (strcmp(v, "0") == 0) {
			*(key[6] == 'm' ? &t->limit_memory : &t->limit_files) = 0;
			return 0;
		}
		if (key[6] == 'm')
			return parse_size(v, 16 * MiB, 1024 * GiB,
			    &t->limit_memory, why, whylen);
		return parse_ll(v, 8, 1048576, &t->limit_files, why, whylen);
	}
	snprintf(why, whylen, "unknown setting");
	return -1;
str:
	if (set_str(&t->url, v, 0) == -1)
		goto oom;
	return 0;
oom:
	snprintf(why, whylen, "out of memory");
	return -1;
}

/* type_check: the handler has what it needs and nothing of another kind's.
 * On error *key is the setting to blame. */
static int
type_check(const struct config *cfg, const struct job_type *t,
           int check_queue, const char **key, char *why, size_t whylen)
{
	switch (t->kind) {
	case HANDLER_EXEC:
		if (t->argv[0] == NULL) {
			*key = "command";
			snprintf(why, whylen, "required for handler exec");
			return -1;
		}
		break;
	case HANDLER_HTTP:
		if (t->url == NULL) {
			*key = "url";
			snprintf(why, whylen, "required for handler http");
			return -1;
		}
		break;
	case HANDLER_BUILTIN:
		if (t->builtin[0] == '\0') {
			*key = "builtin";
			snprintf(why, whylen, "required for handler builtin "
			    "(noop, echo, sleep or fail)");
			return -1;
		}
		break;
	}
	if (t->kind != HANDLER_EXEC && t->argv[0] != NULL) {
		*key = "command";
		snprintf(why, whylen, "only for handler exec");
		return -1;
	}
	if (t->kind != HANDLER_EXEC && t->persistent) {
		*key = "persistent";
		snprintf(why, whylen, "only for handler exec");
		return -1;
	}
	if (t->kind != HANDLER_HTTP && t->url != NULL) {
		*key = "url";
		snprintf(why, whylen, "only for handler http");
		return -1;
	}
	if (t->kind != HANDLER_EXEC && (t->limit_cpu != 0 ||
	    t->limit_memory != 0 || t->limit_files != 0)) {
		*key = t->limit_cpu != 0 ? "limit_cpu" : t->limit_memory != 0 ?
		    "limit_memory" : "limit_files";
		snprintf(why, whylen, "only for handler exec");
		return -1;
	}
	if (t->kind != HANDLER_BUILTIN && t->builtin[0] != '\0') {
		*key = "builtin";
		snprintf(why, whylen, "only for handler builtin");
		return -1;
	}
	if (check_queue && t->queue[0] != '\0' &&
	    config_queue_index(cfg, t->queue) < 0) {
		*key = "queue";
		snprintf(why, whylen, "not one of the configured queues: '%s'",
		    t->queue);
		return -1;
	}
	return 0;
}

/* ---- [jobd] ------------------------------------------------------------- */

static int
apply_main(struct config *cfg, const char *key, const char *v,
           char *why, size_t whylen)
{
	long long n;
	int r;

	if (strcmp(key, "socket") == 0) {
		if (check_path(v, sizeof(((struct sockaddr_un *)0)->sun_path) - 1,
		    0, why, whylen) == -1)
			return -1;
		r = set_str(&cfg->socket, v, 0);
	} else if (strcmp(key, "socket_mode") == 0) {
		return parse_mode(v, &cfg->socket_mode, why, whylen);
	} else if (strcmp(key, "socket_group") == 0) {
		if (v[0] != '\0' && !valid_name(v, "_.-")) {
			snprintf(why, whylen, "bad group name");
			return -1;
		}
		r = set_str(&cfg->socket_group, v, 1);
	} else if (strcmp(key, "redis") == 0) {
		if (check_redis(v, why, whylen) == -1)
			return -1;
		r = set_str(&cfg->redis, v, 0);
	} else if (strcmp(key, "prefix") == 0 || strcmp(key, "namespace") == 0) {
		/* no braces: they would break the {ns} hash tag */
		if (!valid_name(v, TYPE_CHARS)) {
			snprintf(why, whylen,
			    "expected 1..%d of A-Z a-z 0-9 _ . : -",
			    CONFIG_NAME_MAX);
			return -1;
		}
		r = set_str(key[0] == 'p' ? &cfg->prefix : &cfg->ns, v, 0);
	} else if (strcmp(key, "workers") == 0) {
		return parse_int(v, 0, CONFIG_MAX_WORKERS, &cfg->workers,
		    why, whylen);
	} else if (strcmp(key, "queues") == 0) {
		return parse_queues(cfg, v, why, whylen);
	} else if (strcmp(key, "max_frame") == 0) {
		if (parse_ll(v, 64, GiB, &n, why, whylen) == -1)
			return -1;
		cfg->max_frame = (size_t)n;
		return 0;
	} else if (strcmp(key, "max_connections") == 0) {
		return parse_int(v, 1, 65536, &cfg->max_connections, why, whylen);
	} else if (strcmp(key, "max_pending") == 0) {
		return parse_int(v, 1, 65536, &cfg->max_pending, why, whylen);
	} else if (strcmp(key, "builtins") == 0) {
		return parse_bool(v, &cfg->builtins, why, whylen);
	} else if (strcmp(key, "accept_any_type") == 0) {
		return parse_bool(v, &cfg->accept_any_type, why, whylen);
	} else if (strcmp(key, "lease") == 0) {
		return parse_num(v, 1, 0, 3600, &cfg->lease, why, whylen);
	} else if (strcmp(key, "grace") == 0) {
		return parse_num(v, 0, 0, 3600, &cfg->grace, why, whylen);
	} else if (strcmp(key, "shutdown_grace") == 0) {
		return parse_num(v, 0, 0, DAY, &cfg->shutdown_grace, why, whylen);
	} else if (strcmp(key, "result_ttl") == 0) {
		return parse_ll(v, 0, YEAR, &cfg->result_ttl, why, whylen);
	} else if (strcmp(key, "failure_ttl") == 0) {
		return parse_ll(v, 0, YEAR, &cfg->failure_ttl, why, whylen);
	} else if (strcmp(key, "max_wait") == 0) {
		return parse_num(v, 0, 1, DAY, &cfg->max_wait, why, whylen);
	} else if (strcmp(key, "max_result") == 0) {
		return parse_ll(v, 1, 512 * MiB, &cfg->max_result, why, whylen);
	} else if (strcmp(key, "log_level") == 0) {
		static const char *const lv[] = {
			"error", "warning", "notice", "info", "debug"
		};
		for (int i = 0; i < 5; i++) {
			if (strcasecmp(v, lv[i]) == 0) {
				cfg->log_level = LOG_ERR + i;
				return 0;
			}
		}
		snprintf(why, whylen,
		    "expected error, warning, notice, info or debug");
		return -1;
	} else if (strcmp(key, "log_target") == 0) {
		if (strcmp(v, "stderr") == 0)
			cfg->log_syslog = 0;
		else if (strcmp(v, "syslog") == 0)
			cfg->log_syslog = 1;
		else {
			snprintf(why, whylen, "expected stderr or syslog");
			return -1;
		}
		return 0;
	} else if (strcmp(key, "pidfile") == 0) {
		if (v[0] != '\0' &&
		    check_path(v, CONFIG_MAX_PATH, 0, why, whylen) == -1)
			return -1;
		r = set_str(&cfg->pidfile, v, 1);
	} else {
		snprintf(why, whylen, "unknown setting");
		return -1;
	}
	if (r == -1) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- public: building, finishing, freeing -------------------------------- */

static unsigned long config_serial;

/* config_new_bare: every default, no types, workers still 0. */
static struct config *
config_new_bare(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	cfg->socket_mode = 0660;
	cfg->workers = 0;
	cfg->max_frame = 8 * MiB;
	cfg->max_connections = 1024;
	cfg->max_pending = 1024;
	cfg->builtins = 1;
	cfg->accept_any_type = 0;
	cfg->lease = 30;
	cfg->grace = 5;
	cfg->shutdown_grace = 30;
	cfg->result_ttl = DAY;
	cfg->failure_ttl = 7 * DAY;
	cfg->max_wait = 3600;
	cfg->max_result = 1 * MiB;
	cfg->log_level = LOG_INFO;
	cfg->log_syslog = 0;
	cfg->acl_submit.any = 1;
	cfg->acl_admin.any = 1;
	cfg->serial = ++config_serial;
	snprintf(cfg->queues[0], sizeof(cfg->queues[0]), "high");
	snprintf(cfg->queues[1], sizeof(cfg->queues[1]), "default");
	snprintf(cfg->queues[2], sizeof(cfg->queues[2]), "low");
	cfg->nqueues = 3;
	if ((cfg->socket = strdup("/run/jobd/jobd.sock")) == NULL ||
	    (cfg->redis = strdup("redis://127.0.0.1:6379/0")) == NULL ||
	    (cfg->prefix = strdup("jobd")) == NULL ||
	    (cfg->ns = strdup("main")) == NULL) {
		config_free(cfg);
		return NULL;
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
	free(cfg->types);
	free(cfg->path);
	free(cfg->socket);
	free(cfg->socket_group);
	free(cfg->redis);
	free(cfg->prefix);
	free(cfg->ns);
	free(cfg->pidfile);
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

/* default_queue: "default" when configured, else the first queue. */
static const char *
default_queue(const struct config *cfg)
{
	return config_queue_index(cfg, "default") >= 0 ? "default" :
	    cfg->queues[0];
}

int
config_finish(struct config *cfg, char *err, size_t errlen)
{
	const char *pfx = cfg->path != NULL ? cfg->path : "";
	const char *sep = cfg->path != NULL ? ": " : "";
	char why[256];
	const char *key;

	if (cfg->nqueues < 1) {
		snprintf(err, errlen, "%s%s[jobd] queues: no queue", pfx, sep);
		return -1;
	}
	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = n < 1 ? 1 : n > CONFIG_MAX_WORKERS ?
		    CONFIG_MAX_WORKERS : (int)n;
	}
	if (cfg->workers < 1 || cfg->workers > CONFIG_MAX_WORKERS) {
		snprintf(err, errlen, "%s%s[jobd] workers: out of range "
		    "(0..%d): '%d'", pfx, sep, CONFIG_MAX_WORKERS, cfg->workers);
		return -1;
	}
	if (cfg->builtins) {
		for (size_t i = 0; i < NBUILTINS; i++) {
			char name[CONFIG_NAME_MAX + 1];
			struct job_type *t;

			snprintf(name, sizeof(name), "jobd.%s", builtin_names[i]);
			if (config_find_type(cfg, name) != NULL)
				continue;
			if ((t = add_type(cfg, name)) == NULL) {
				snprintf(err, errlen, "%s%s[type:%s]: too many "
				    "types (at most %d) or out of memory",
				    pfx, sep, name, CONFIG_MAX_TYPES);
				return -1;
			}
			t->kind = HANDLER_BUILTIN;
			snprintf(t->builtin, sizeof(t->builtin), "%s",
			    builtin_names[i]);
			t->timeout = 60;
			t->retries = 0;
		}
	}
	for (int i = 0; i < cfg->ntypes; i++) {
		struct job_type *t = &cfg->types[i];

		if (type_check(cfg, t, 1, &key, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s%s[type:%s] %s: %s", pfx, sep,
			    t->name, key, why);
			return -1;
		}
		if (t->queue[0] == '\0')
			snprintf(t->queue, sizeof(t->queue), "%s",
			    default_queue(cfg));
	}
	return 0;
}

int
config_set(struct config *cfg, const char *section, const char *key,
           const char *value, char *err, size_t errlen)
{
	char why[256];
	int r;

	if (cfg == NULL || section == NULL || key == NULL || value == NULL) {
		snprintf(err, errlen, "config_set: missing argument");
		return -1;
	}
	if (strcmp(section, "jobd") == 0) {
		r = apply_main(cfg, key, value, why, sizeof(why));
	} else if (strncmp(section, "type:", 5) == 0 &&
	    valid_name(section + 5, TYPE_CHARS)) {
		struct job_type *t = (struct job_type *)config_find_type(cfg,
		    section + 5);

		if (t == NULL && (t = add_type(cfg, section + 5)) == NULL) {
			snprintf(err, errlen, "[%s]: too many types (at most "
			    "%d) or out of memory", section, CONFIG_MAX_TYPES);
			return -1;
		}
		r = apply_type(t, key, value, why, sizeof(why));
	} else if (strcmp(section, "access") == 0) {
		r = apply_access(cfg, key, value, why, sizeof(why));
	} else {
		snprintf(err, errlen, "[%s]: unknown section", section);
		return -1;
	}
	if (r == -1) {
		snprintf(err, errlen, "[%s] %s: %s: '%s'", section, key, why,
		    value);
		return -1;
	}
	return 0;
}

/* ---- the file ----------------------------------------------------------- */

enum sect { SECT_NONE, SECT_JOBD, SECT_ACCESS, SECT_TYPE, SECT_BAD };

struct type_lines {
	int header;             /* line of [type:NAME] */
	int queue;              /* line of its queue setting, or 0 */
	int handler;            /* line of its handler setting, or 0 */
};

struct parse {
	struct config *cfg;
	const char *name;       /* for messages */
	const char *text;
	size_t len, pos;

	int line;               /* of the line inih works on */
	int prev_name;          /* inih's prev_name is set */
	enum sect sect;
	char section[CONFIG_NAME_MAX + 8]; /* as written, for messages */
	int type;               /* index into cfg->types, or -1 */
	struct type_lines lines[CONFIG_MAX_TYPES];
	int queues_line;

	char *long_value;       /* the value behind LONG_MARK, or NULL */

	int err_line;           /* of our first error, or 0 */
	char err[512];
};

static void
perr(struct parse *ps, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* perr: record the first error, prefixed with "FILE:LINE: ". */
static void
perr(struct parse *ps, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ps->err_line != 0)
		return;
	ps->err_line = line;
	n = snprintf(ps->err, sizeof(ps->err), "%s:%d: ", ps->name, line);
	if (n < 0 || (size_t)n >= sizeof(ps->err))
		return;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, sizeof(ps->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* inline_end: where inih ends a value: at an inline ';' comment that
 * follows whitespace, or at one of chars. */
static const char *
inline_end(const char *s, const char *e, const char *chars)
{
	int was_space = 0;

	for (; s < e; s++) {
		if (chars != NULL && strchr(chars, *s) != NULL)
			break;
		if (was_space && *s == ';')
			break;
		was_space = isspace((unsigned char)*s);
	}
	return s;
}

/* section_start: a "[name]" header at line ps->line. */
static void
section_start(struct parse *ps, const char *name, size_t len)
{
	struct config *cfg = ps->cfg;
	struct job_type *t;

	ps->type = -1;
	ps->sect = SECT_BAD;
	if (len > CONFIG_NAME_MAX + 5) {
		perr(ps, ps->line, "[%.*s...]: section name too long",
		    CONFIG_NAME_MAX, name);
		return;
	}
	snprintf(ps->section, sizeof(ps->section), "%.*s", (int)len, name);
	if (strcmp(ps->section, "jobd") == 0) {
		ps->sect = SECT_JOBD;
		return;
	}
	if (strcmp(ps->section, "access") == 0) {
		ps->sect = SECT_ACCESS;
		return;
	}
	if (strncmp(ps->section, "type:", 5) != 0) {
		perr(ps, ps->line, "[%s]: unknown section (expected [jobd], "
		    "[access] or [type:NAME])", ps->section);
		return;
	}
	if (!valid_name(ps->section + 5, TYPE_CHARS)) {
		perr(ps, ps->line, "[%s]: bad type name (1..%d of A-Z a-z 0-9 "
		    "_ . : -)", ps->section, CONFIG_NAME_MAX);
		return;
	}
	if (config_find_type(cfg, ps->section + 5) != NULL) {
		perr(ps, ps->line, "[%s]: duplicate type", ps->section);
		return;
	}
	if ((t = add_type(cfg, ps->section + 5)) == NULL) {
		perr(ps, ps->line, "[%s]: too many types (at most %d) or out "
		    "of memory", ps->section, CONFIG_MAX_TYPES);
		return;
	}
	ps->type = (int)(t - cfg->types);
	memset(&ps->lines[ps->type], 0, sizeof(ps->lines[0]));
	ps->lines[ps->type].header = ps->line;
	ps->sect = SECT_TYPE;
}

enum line_kind { LINE_BLANK, LINE_CONT, LINE_SECTION, LINE_PAIR, LINE_BAD };

/* A line as inih will read it: what kind, and where its parts are. */
struct line_parts {
	enum line_kind kind;
	const char *name, *value;   /* section name; or key and value */
	size_t name_len, value_len;
};

/* split_value: the value after '=' as inih cuts it: up to an inline
 * comment, blanks trimmed. */
static void
split_value(const char *v, const char *e, struct line_parts *lp)
{
	e = inline_end(v, e, NULL);
	while (v < e && isspace((unsigned char)*v))
		v++;
	while (e > v && isspace((unsigned char)e[-1]))
		e--;
	lp->value = v;
	lp->value_len = (size_t)(e - v);
}

/* classify: follow inih's reading of one line (ini.c, ini_parse_stream)
 * so that we know its number, whether it continues a value, and where
 * sections start. */
static void
classify(struct parse *ps, const char *line, size_t len,
         struct line_parts *lp)
{
	const char *s = line, *e = line + len, *end;

	memset(lp, 0, sizeof(*lp));
	if (ps->line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	lp->kind = LINE_BLANK;
	if (s == e || *s == ';' || *s == '#')
		return;
	if (ps->prev_name && s > line) {
		lp->kind = LINE_CONT;       /* continues the previous value */
		split_value(s, e, lp);
		return;
	}
	lp->kind = LINE_BAD;
	if (*s == '[') {
		end = inline_end(s + 1, e, "]");
		if (end < e && *end == ']') {
			lp->kind = LINE_SECTION;
			lp->name = s + 1;
			lp->name_len = (size_t)(end - s - 1);
			ps->prev_name = 0;
			section_start(ps, lp->name, lp->name_len);
		}
		return;
	}
	end = inline_end(s, e, "=:");
	if (end < e && (*end == '=' || *end == ':')) {
		lp->kind = LINE_PAIR;
		split_value(end + 1, e, lp);
		while (end > s && isspace((unsigned char)end[-1]))
			end--;
		lp->name = s;
		lp->name_len = (size_t)(end - s);
		ps->prev_name = end > s;
	}
}

/* LONG_MARK stands, in the line inih sees, for a value too long for
 * inih's line buffer (200 bytes, fixed when libinih was built); the
 * handler takes the real value from ps->long_value. */
#define LONG_MARK "\x01"
#define LINE_MAX_LEN 65536

/* shorten: write into str (num bytes) a line inih reads as it would
 * read the long one, keeping the value aside. */
static void
shorten(struct parse *ps, const struct line_parts *lp, const char *p,
        char *str, int num)
{
	switch (lp->kind) {
	case LINE_BLANK:
		snprintf(str, (size_t)num, "\n");
		return;
	case LINE_SECTION:
		if (lp->name_len + 3 < (size_t)num)
			snprintf(str, (size_t)num, "[%.*s]\n", (int)lp->name_len,
			    lp->name);
		else
			snprintf(str, (size_t)num, "\n"); /* reported */
		return;
	case LINE_BAD:
		/* a prefix of a broken line is just as broken */
		snprintf(str, (size_t)num, "%.*s\n", num - 2, p);
		return;
	case LINE_CONT:
	case LINE_PAIR:
		if (lp->kind == LINE_PAIR &&
		    lp->name_len + sizeof(LONG_MARK) + 2 > (size_t)num) {
			perr(ps, ps->line, "setting name too long");
			snprintf(str, (size_t)num, "\n");
			return;
		}
		free(ps->long_value);
		ps->long_value = strndup(lp->value, lp->value_len);
		if (ps->long_value == NULL) {
			perr(ps, ps->line, "out of memory");
			snprintf(str, (size_t)num, "\n");
			return;
		}
		if (lp->kind == LINE_CONT)
			snprintf(str, (size_t)num, " %s\n", LONG_MARK);
		else
			snprintf(str, (size_t)num, "%.*s=%s\n",
			    (int)lp->name_len, lp->name, LONG_MARK);
		return;
	}
}

/* reader: fgets over the text for inih, one line per call. */
static char *
reader(char *str, int num, void *stream)
{
	struct parse *ps = stream;
	struct line_parts lp;
	const char *p, *nl;
	size_t len;

	if (ps->pos >= ps->len || num < 16)
		return NULL;
	p = ps->text + ps->pos;
	nl = memchr(p, '\n', ps->len - ps->pos);
	len = nl != NULL ? (size_t)(nl - p) + 1 : ps->len - ps->pos;
	ps->pos += len;
	ps->line++;
	free(ps->long_value);
	ps->long_value = NULL;
	if (memchr(p, '\0', len) != NULL || memchr(p, '\x01', len) != NULL) {
		perr(ps, ps->line, "NUL or control byte in line");
		len = 0;
	} else if (len > LINE_MAX_LEN) {
		perr(ps, ps->line, "line longer than %d characters",
		    LINE_MAX_LEN);
		len = 0;
	}
	classify(ps, p, len, &lp);
	if (len <= (size_t)num - 1) {
		/* a refused line reaches inih as a blank one */
		memcpy(str, p, len);
		str[len] = '\0';
	} else {
		shorten(ps, &lp, p, str, num);
	}
	return str;
}

static int
handler(void *user, const char *section, const char *key, const char *value)
{
	struct parse *ps = user;
	struct config *cfg = ps->cfg;
	char why[256];
	int r;

	(void)section;              /* inih truncates it: ours is exact */
	if (ps->long_value != NULL && strcmp(value, LONG_MARK) == 0)
		value = ps->long_value;
	switch (ps->sect) {
	case SECT_NONE:
		perr(ps, ps->line, "%s: setting outside of a section: '%s'",
		    key, value);
		return 0;
	case SECT_BAD:
		return 0;               /* the header was reported */
	case SECT_JOBD:
		r = apply_main(cfg, key, value, why, sizeof(why));
		if (r == 0 && strcmp(key, "queues") == 0)
			ps->queues_line = ps->line;
		break;
	case SECT_ACCESS:
		r = apply_access(cfg, key, value, why, sizeof(why));
		break;
	case SECT_TYPE:
	default:
		/* a continuation line of env is one more variable; of any
		 * other setting, a new value for it */
		r = apply_type(&cfg->types[ps->type], key, value, why,
		    sizeof(why));
		if (r == 0 && strcmp(key, "queue") == 0)
			ps->lines[ps->type].queue = ps->line;
		if (r == 0 && strcmp(key, "handler") == 0)
			ps->lines[ps->type].handler = ps->line;
		break;
	}
	if (r == -1) {
		perr(ps, ps->line, "[%s] %s: %s: '%s'", ps->section, key, why,
		    value);
		return 0;
	}
	return 1;
}

/* line_text: line n of text, trimmed, into buf (for syntax errors). */
static void
line_text(const char *text, size_t len, int n, char *buf, size_t buflen)
{
	const char *p = text, *e = text + len, *nl;
	size_t l;

	for (int i = 1; i < n && p < e; i++) {
		nl = memchr(p, '\n', (size_t)(e - p));
		p = nl != NULL ? nl + 1 : e;
	}
	nl = memchr(p, '\n', (size_t)(e - p));
	l = nl != NULL ? (size_t)(nl - p) : (size_t)(e - p);
	while (l > 0 && isspace((unsigned char)*p)) {
		p++;
		l--;
	}
	while (l > 0 && isspace((unsigned char)p[l - 1]))
		l--;
	if (l > 60)
		l = 60;
	snprintf(buf, buflen, "%.*s", (int)l, p);
	for (char *q = buf; *q != '\0'; q++)
		if (!isprint((unsigned char)*q))
			*q = '?';
}

static struct config *
load_text(const char *text, size_t len, const char *name, char *err,
          size_t errlen)
{
	struct parse *ps;
	struct config *cfg;
	char why[256];
	const char *key;
	int rc;

	if ((ps = calloc(1, sizeof(*ps))) == NULL ||
	    (cfg = config_new_bare()) == NULL) {
		free(ps);
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	ps->cfg = cfg;
	ps->name = name;
	ps->text = text;
	ps->len = len;
	ps->type = -1;
	rc = ini_parse_stream(reader, ps, handler, ps);
	free(ps->long_value);
	ps->long_value = NULL;

	if (ps->err_line != 0 && (rc <= 0 || ps->err_line <= rc)) {
		snprintf(err, errlen, "%s", ps->err);
		goto fail;
	}
	if (rc > 0) {
		char text_line[64];

		line_text(text, len, rc, text_line, sizeof(text_line));
		snprintf(err, errlen, "%s:%d: syntax error (expected [section] "
		    "or key = value): '%s'", name, rc, text_line);
		goto fail;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto fail;
	}
	/* checks that need the whole file (queues may come after a type),
	 * here where the line numbers are still known */
	for (int i = 0; i < cfg->ntypes; i++) {
		struct job_type *t = &cfg->types[i];
		struct type_lines *tl = &ps->lines[i];
		int line;

		if (tl->handler == 0) {
			snprintf(err, errlen, "%s:%d: [type:%s] handler: "
			    "required (exec, http or builtin)", name,
			    tl->header, t->name);
			goto fail;
		}
		if (type_check(cfg, t, 1, &key, why, sizeof(why)) == 0)
			continue;
		line = strcmp(key, "queue") == 0 && tl->queue != 0 ?
		    tl->queue : tl->header;
		snprintf(err, errlen, "%s:%d: [type:%s] %s: %s", name, line,
		    t->name, key, why);
		goto fail;
	}
	if ((cfg->path = strdup(name)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto fail;
	}
	if (config_finish(cfg, err, errlen) == -1)
		goto fail;
	free(ps);
	return cfg;
fail:
	free(ps);
	config_free(cfg);
	return NULL;
}

struct config *
config_load_string(const char *text, const char *name, char *err,
                   size_t errlen)
{
	if (name == NULL)
		name = "(string)";
	if (text == NULL) {
		snprintf(err, errlen, "%s: no text", name);
		return NULL;
	}
	return load_text(text, strlen(text), name, err, errlen);
}

struct config *
config_load_file(const char *path, char *err, size_t errlen)
{
	struct config *cfg;
	struct stat st;
	FILE *f;
	char *buf;
	size_t n;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		fclose(f);
		return NULL;
	}
	if (st.st_size > CONFIG_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %lld bytes", path,
		    CONFIG_MAX_FILE);
		fclose(f);
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	cfg = load_text(buf, n, path, err, errlen);
	free(buf);
	return cfg;
}

/* ---- retries ------------------------------------------------------------ */

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
