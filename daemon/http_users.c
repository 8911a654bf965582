/*
 * http_users.c: the users file of [http] auth = basic (http_users.h).
 *
 * One user a line, "name:hash:role"; blank lines and lines starting with
 * "#" are skipped.  Bounded: HTTP_USERS_MAX_LINE bytes a line,
 * HTTP_USERS_MAX users.  A hash must be one crypt(3) knows
 * (crypt_checksalt, "$id$...$hash"), so that a typo fails the start
 * instead of locking the user out at the first request; the weak legacy
 * methods (DES, MD5) are refused.
 */
#include "http_users.h"

#include <crypt.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
	"0123456789_.@-"

static int
fail(char *err, size_t errlen, const char *path, int line, const char *fmt,
    ...) __attribute__((format(printf, 5, 6)));

static int
fail(char *err, size_t errlen, const char *path, int line, const char *fmt,
    ...)
{
	va_list ap;
	int n = line > 0 ? snprintf(err, errlen, "%s:%d: ", path, line) :
	    snprintf(err, errlen, "%s: ", path);

	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* parse_line: one "name:hash:role" line (no newline) into u; NULL or why. */
static const char *
parse_line(char *s, struct http_user *u, char *why, size_t whylen)
{
	char *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	const char *last;
	size_t n;
	int rc;

	if (c2 == NULL || strchr(c2 + 1, ':') != NULL)
		return "expected user:hash:role (three fields)";
	*c1 = *c2 = '\0';
	n = strlen(s);
	if (n == 0 || n > HTTP_USER_NAME_MAX || strspn(s, NAME_CHARS) != n) {
		snprintf(why, whylen, "bad user name (1 to %d of A-Z a-z 0-9 "
		    "_ . @ -)", HTTP_USER_NAME_MAX);
		return why;
	}
	memcpy(u->name, s, n + 1);
	if (strcmp(c2 + 1, "admin") == 0)
		u->admin = 1;
	else if (strcmp(c2 + 1, "viewer") == 0)
		u->admin = 0;
	else
		return "role must be admin or viewer";
	rc = crypt_checksalt(c1 + 1);
	last = strrchr(c1 + 1, '$');
	if (rc == CRYPT_SALT_METHOD_LEGACY)
		return "the hash is of a weak crypt(3) method (DES, MD5, ...): "
		    "make one with jobctl passwd";
	if (rc != CRYPT_SALT_OK || c1[1] != '$' || last == NULL ||
	    last[1] == '\0' || strpbrk(c1 + 1, " \t") != NULL)
		return "the hash is not one crypt(3) knows (make one with "
		    "jobctl passwd)";
	if ((u->hash = strdup(c1 + 1)) == NULL)
		return "out of memory";
	return NULL;
}

int
http_users_load(const char *path, struct http_users **out, char *err,
                size_t errlen)
{
	struct http_users *u;
	struct stat sb;
	char line[HTTP_USERS_MAX_LINE + 1], why[160];
	FILE *f = fopen(path, "re");
	int lineno = 0;

	if (f == NULL)
		return fail(err, errlen, path, 0, "%s", strerror(errno));
	if (fstat(fileno(f), &sb) == -1 || !S_ISREG(sb.st_mode)) {
		fclose(f);
		return fail(err, errlen, path, 0, "not a regular file");
	}
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		fclose(f);
		return fail(err, errlen, path, 0, "out of memory");
	}
	u->mode = sb.st_mode & 07777;
	u->others_can_read = (sb.st_mode & S_IROTH) != 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);
		const char *bad;
		struct http_user *nv;

		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(f)) {
			fail(err, errlen, path, lineno, "line longer than %d "
			    "bytes", HTTP_USERS_MAX_LINE - 1);
			goto bad;
		}
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (memchr(line, '\0', n) != NULL) {
			fail(err, errlen, path, lineno, "a NUL byte");
			goto bad;
		}
		if (line[strspn(line, " \t")] == '\0' || line[0] == '#')
			continue;
		if (u->n == HTTP_USERS_MAX) {
			fail(err, errlen, path, lineno, "more than %d users",
			    HTTP_USERS_MAX);
			goto bad;
		}
		if ((nv = realloc(u->v, (size_t)(u->n + 1) * sizeof(*nv))) ==
		    NULL) {
			fail(err, errlen, path, lineno, "out of memory");
			goto bad;
		}
		u->v = nv;
		memset(&u->v[u->n], 0, sizeof(u->v[u->n]));
		if ((bad = parse_line(line, &u->v[u->n], why, sizeof(why))) !=
		    NULL) {
			fail(err, errlen, path, lineno, "%s", bad);
			goto bad;
		}
		if (http_users_find(u, u->v[u->n].name) != NULL) {
			fail(err, errlen, path, lineno, "user '%s' given twice",
			    u->v[u->n].name);
			free(u->v[u->n].hash);
			goto bad;
		}
		u->n++;
	}
	if (ferror(f)) {
		fail(err, errlen, path, 0, "read error");
		goto bad;
	}
	fclose(f);
	if (u->n == 0) {
		http_users_free(u);
		return fail(err, errlen, path, 0, "no users");
	}
	*out = u;
	return 0;
bad:
	fclose(f);
	http_users_free(u);
	return -1;
}

void
http_users_free(struct http_users *u)
{
	if (u == NULL)
		return;
	for (int i = 0; i < u->n; i++)
		free(u->v[i].hash);
	free(u->v);
	free(u);
}

const struct http_user *
http_users_find(const struct http_users *u, const char *name)
{
	for (int i = 0; u != NULL && i < u->n; i++)
		if (strcmp(u->v[i].name, name) == 0)
			return &u->v[i];
	return NULL;
}
