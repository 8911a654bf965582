/*
 * http_users.h: the users of the monitoring server's basic authentication
 * ([http] users_file; docs/monitoring.md): lines "user:crypt-hash:role",
 * read by the master with the configuration (so that a bad line fails the
 * start, --check and a reload, naming file and line) and inherited by the
 * HTTP child, which verifies passwords against them (http_auth.c).
 */
#ifndef JOBD_HTTP_USERS_H
#define JOBD_HTTP_USERS_H

#include <stddef.h>
#include <sys/types.h>

#define HTTP_USERS_MAX      1000  /* users in one file */
#define HTTP_USERS_MAX_LINE 1024  /* bytes of one line, newline included */
#define HTTP_USER_NAME_MAX  64

struct http_user {
	char name[HTTP_USER_NAME_MAX + 1];
	char *hash;              /* crypt(3) hash, as in the file */
	int admin;               /* role admin (else viewer) */
};

struct http_users {
	struct http_user *v;
	int n;
	mode_t mode;             /* the file's, for the warning below */
	int others_can_read;     /* readable by others: the child warns */
};

/* http_users_load: read path.  0 with a new table in *out, or -1 with one
 * line "PATH:LINE: why" (or "PATH: why") in err. */
int http_users_load(const char *path, struct http_users **out, char *err,
                    size_t errlen);
void http_users_free(struct http_users *u);
/* http_users_find: the user called name, or NULL. */
const struct http_user *http_users_find(const struct http_users *u,
                                        const char *name);

#endif
