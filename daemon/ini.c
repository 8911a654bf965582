/*
 * ini.c: the reader of jobd's INI files.  Ours, not libinih: the system's
 * is built with a 200-byte line buffer.  It knows the syntax only
 * ([section], key = value or key: value, ; and # comments, an inline
 * " ;" comment, continuation lines that start with a blank, CRLF, a
 * UTF-8 BOM, include = GLOB); what the keys mean is the caller's
 * (struct ini_handler).
 */
#include "ini.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INI_MAX_FILE  (4LL * 1024 * 1024)  /* a file larger is refused */
#define INI_MAX_LINE  65536
#define INI_MAX_DEPTH 8                    /* include nesting */
#define INI_MAX_PATH  4095

struct reader {
	const struct ini_handler *h;
	int depth;
	dev_t devs[INI_MAX_DEPTH + 1];  /* the files being read, for cycles */
	ino_t inos[INI_MAX_DEPTH + 1];
	char *err;
	size_t errlen;
};

/* A file's position while it is read. */
struct ini {
	const char *name;          /* for messages */
	const char *dir;           /* includes are relative to it */
	int line;
	char section[INI_KEY_MAX + 8]; /* "" before the first header */
	char prev_key[INI_KEY_MAX + 1]; /* for continuation lines */
};

static int read_file(struct reader *rd, const char *path, const char *section,
                     const char *where);

static int
ini_err(struct reader *rd, struct ini *in, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
ini_err(struct reader *rd, struct ini *in, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(rd->err, rd->errlen, "%s:%d: ", in->name, in->line);

	if (n >= 0 && (size_t)n < rd->errlen) {
		va_start(ap, fmt);
		vsnprintf(rd->err + n, rd->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* value_end: a value ends at an inline ';' comment that follows a blank. */
static char *
value_end(char *s)
{
	for (char *p = s; *p != '\0'; p++)
		if (*p == ';' && p > s && (p[-1] == ' ' || p[-1] == '\t'))
			return p;
	return s + strlen(s);
}

static char *
trim(char *s, char *e)
{
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	*e = '\0';
	return s;
}

/* do_include: every file GLOB matches, in order, relative to in->dir; a
 * pattern with no wildcard must match a file, one with wildcards may match
 * none (a conf.d that is empty). */
static int
do_include(struct reader *rd, struct ini *in, const char *pattern)
{
	char path[INI_MAX_PATH + 1], where[INI_MAX_PATH + 32];
	glob_t g;
	int rc;

	if (pattern[0] == '\0')
		return ini_err(rd, in, "include: empty pattern");
	if (snprintf(path, sizeof(path), "%s%s%s", pattern[0] == '/' ? "" :
	    in->dir, pattern[0] == '/' ? "" : "/", pattern) >=
	    (int)sizeof(path))
		return ini_err(rd, in, "include: path too long");
	/* rd->depth counts the main file: 8 includes deep is allowed. */
	if (rd->depth > INI_MAX_DEPTH)
		return ini_err(rd, in, "include: nested more than %d deep",
		    INI_MAX_DEPTH);
	rc = glob(path, 0, NULL, &g);
	if (rc == GLOB_NOMATCH) {
		globfree(&g);
		if (strpbrk(pattern, "*?[") != NULL)
			return 0;
		return ini_err(rd, in, "include %s: no such file", path);
	}
	if (rc != 0) {
		globfree(&g);
		return ini_err(rd, in, "include %s: glob failed", path);
	}
	snprintf(where, sizeof(where), "%s:%d", in->name, in->line);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		if (read_file(rd, g.gl_pathv[i], in->section, where) == -1) {
			globfree(&g);
			return -1;
		}
	}
	globfree(&g);
	return 0;
}

/* ini_line: one line of a file, as text without its end. */
static int
ini_line(struct reader *rd, struct ini *in, char *s, size_t len)
{
	char *e = s + len, *k, *v, *end;
	int cont = in->prev_key[0] != '\0' && len > 0 &&
	    isspace((unsigned char)s[0]);

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < ' ' && s[i] != '\t' &&
		    !(s[i] == '\r' && i == len - 1))
			return ini_err(rd, in, "NUL or control byte in line");
	s = trim(s, e);
	if (s[0] == '\0' || s[0] == ';' || s[0] == '#')
		return 0;
	if (cont) {                 /* continues the previous value */
		v = trim(s, value_end(s));
		return rd->h->setting(rd->h->arg, in->section, in->prev_key, v,
		    in->name, in->line, rd->err, rd->errlen);
	}
	in->prev_key[0] = '\0';
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL || (end[1] != '\0' && end[1 + strspn(end + 1,
		    " \t")] != ';' && end[1 + strspn(end + 1, " \t")] != '#'))
			return ini_err(rd, in, "syntax error (expected "
			    "[section]): '%.60s'", s);
		*end = '\0';
		if (strlen(s + 1) >= sizeof(in->section))
			return ini_err(rd, in, "[%.*s...]: section name too "
			    "long", INI_KEY_MAX, s + 1);
		snprintf(in->section, sizeof(in->section), "%s", s + 1);
		return rd->h->section(rd->h->arg, in->section, in->name,
		    in->line, rd->err, rd->errlen);
	}
	k = s;
	end = k + strcspn(k, "=:");
	if (*end == '\0' || end == k)
		return ini_err(rd, in, "syntax error (expected [section] or "
		    "key = value): '%.60s'", s);
	*end = '\0';
	k = trim(k, end);
	v = trim(end + 1, value_end(end + 1));
	if (k[0] == '\0')
		return ini_err(rd, in, "syntax error (expected [section] or "
		    "key = value): '%.60s'", s);
	if (strcmp(k, "include") == 0)
		return do_include(rd, in, v);
	if (in->section[0] == '\0')
		return ini_err(rd, in, "%s: setting outside of a section: "
		    "'%.60s'", k, v);
	if (strlen(k) > INI_KEY_MAX)
		return ini_err(rd, in, "setting name too long");
	snprintf(in->prev_key, sizeof(in->prev_key), "%s", k);
	return rd->h->setting(rd->h->arg, in->section, k, v, in->name,
	    in->line, rd->err, rd->errlen);
}

/* ini_read: the text of one file, line by line; section is where it
 * starts (the including line's section). */
static int
ini_read(struct reader *rd, struct ini *in, char *text, size_t len)
{
	char *p = text, *end = text + len;

	if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		in->line++;
		if (n > INI_MAX_LINE)
			return ini_err(rd, in, "line longer than %d characters",
			    INI_MAX_LINE);
		p[n] = '\0';
		if (ini_line(rd, in, p, n) == -1)
			return -1;
		p += n + 1;
	}
	return 0;
}

static int
read_text(struct reader *rd, char *text, size_t len, const char *name,
          const char *dir, const char *section)
{
	struct ini in;

	memset(&in, 0, sizeof(in));
	in.name = name;
	in.dir = dir;
	snprintf(in.section, sizeof(in.section), "%s", section);
	return ini_read(rd, &in, text, len);
}

/* read_file: a whole file (at most INI_MAX_FILE bytes). */
static int
read_file(struct reader *rd, const char *path, const char *section,
          const char *where)
{
	const char *pfx = where != NULL ? where : "", *sep = where ? ": " : "";
	char *buf = NULL, *dir = NULL, *slash;
	struct stat st;
	size_t n;
	FILE *f;
	int rc = -1;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(rd->err, rd->errlen, "%s%s%s: %s", pfx, sep, path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(rd->err, rd->errlen, "%s%s%s: not a regular file", pfx,
		    sep, path);
		goto out;
	}
	for (int i = 0; i < rd->depth; i++) {
		if (rd->devs[i] == st.st_dev && rd->inos[i] == st.st_ino) {
			snprintf(rd->err, rd->errlen, "%s%sinclude %s: a cycle "
			    "(the file includes itself)", pfx, sep, path);
			goto out;
		}
	}
	if (st.st_size > INI_MAX_FILE) {
		snprintf(rd->err, rd->errlen, "%s%s%s: larger than %lld bytes",
		    pfx, sep, path, INI_MAX_FILE);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL ||
	    (dir = strdup(path)) == NULL) {
		snprintf(rd->err, rd->errlen, "%s: out of memory", path);
		goto out;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		snprintf(rd->err, rd->errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, strlen(dir) + 1, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	rd->devs[rd->depth] = st.st_dev;
	rd->inos[rd->depth] = st.st_ino;
	rd->depth++;
	rc = read_text(rd, buf, n, path, dir, section);
	rd->depth--;
out:
	free(buf);
	free(dir);
	fclose(f);
	return rc;
}

int
ini_read_file(const struct ini_handler *h, const char *path, char *err,
              size_t errlen)
{
	struct reader rd = { .h = h, .err = err, .errlen = errlen };

	return read_file(&rd, path, "", NULL);
}

int
ini_read_string(const struct ini_handler *h, char *text, const char *name,
                char *err, size_t errlen)
{
	struct reader rd = { .h = h, .err = err, .errlen = errlen };

	return read_text(&rd, text, strlen(text), name, ".", "");
}
