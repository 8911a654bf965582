/*
 * http_auth.h: HTTP basic authentication of the monitoring server against
 * the users of [http] users_file (http_users.h), in the HTTP child.
 *
 * crypt(3) costs milliseconds a call (yescrypt), so a verified
 * Authorization header is remembered (HTTP_AUTH_CACHE entries, for
 * HTTP_AUTH_CACHE_TTL): a dashboard's requests cost one hash, not one
 * each.  Wrong passwords are never remembered: each costs a hash, of the
 * child's CPU only (docs/reliability.md).
 */
#ifndef JOBD_HTTP_AUTH_H
#define JOBD_HTTP_AUTH_H

#include "http_users.h"

#define HTTP_AUTH_CACHE      64
#define HTTP_AUTH_CACHE_TTL  600.0   /* s */
#define HTTP_AUTH_MAX_HEADER 1024    /* bytes of an Authorization value */

enum http_role { HTTP_ROLE_NONE = -1, HTTP_ROLE_VIEWER = 0,
                 HTTP_ROLE_ADMIN = 1 };

/* http_auth_check: the role the Authorization header's value (NULL: none)
 * grants among users: HTTP_ROLE_NONE when it is missing, malformed, names
 * no user or has the wrong password.  *user gets the name (or "") for the
 * log. */
enum http_role http_auth_check(const struct http_users *users,
                               const char *authorization, char *user,
                               size_t userlen);
/* http_auth_free: forget the remembered headers (wiped). */
void http_auth_free(void);

#endif
